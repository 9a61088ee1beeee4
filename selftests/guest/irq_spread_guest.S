/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for irq_spread_test.c: the interrupt-test agent
 * (irq_agent.inc) plus two things it does not have:
 *
 * - spread_stubs: one stub per vector 32-255 that sends the EOI *first*
 *   and then runs the agent's stub for the same vector (which logs and
 *   counts it; the mailbox's MB_EOI is 0 so it sends no second EOI).  The
 *   EOI is a WRMSR to 0x80b in x2APIC mode (the agent's EOI_LAPIC is an
 *   xAPIC MMIO write, which does nothing there: SDM 10.12.1.2) and the
 *   MMIO write otherwise, chosen per vCPU by SPREAD_MB_X2APIC.  EOI before
 *   counting means that when the host sees the count move, the vCPU's ISR
 *   is already clear: the next lowest-priority arbitration sees its TPR
 *   alone (APR, SDM 10.6.2.4), not a handler still in service.  IF is 0
 *   in the handler (interrupt gate), so the early EOI cannot nest.
 * - spread_halt: STI; HLT until the host sets SPREAD_MB_STOP, then return
 *   (called by the agent's CMD_CALL).  The host ends it with an NMI, which
 *   even a software-disabled LAPIC accepts (SDM 10.4.7.2).
 */
#include "guest_layout.h"
#define BLOB_START irq_blob_start

/* Words in the unused part of the agent's mailbox (0x50-0xff). */
#define SPREAD_MB_X2APIC	0x80	/* 1: EOI by MSR 0x80b */
#define SPREAD_MB_STOP		0x88	/* 1: spread_halt returns */
#define SPREAD_STUB_SIZE	16

	.section .rodata.guest, "a"
	.globl irq_blob_start, irq_blob_end
irq_blob_start:
#include "irq_agent.inc"

	.code64
ENTRY spread_halt
1:	cli
	cmpq $0, SPREAD_MB_STOP(%r15)
	jne 2f
	sti
	hlt
	jmp 1b
2:	ret

	.balign 16
ENTRY spread_stubs
	.set spread_vec, 0
	.rept 256
1:	pushq $spread_vec
	jmp spread_common
	.org 1b + SPREAD_STUB_SIZE, 0xcc
	.set spread_vec, spread_vec + 1
	.endr

spread_common:
	/* stack: vector, RIP, CS, RFLAGS, RSP, SS */
	push %rax
	push %rcx
	push %rdx
	testb $1, SPREAD_MB_X2APIC(%r15)
	jz 1f
	mov $0x80b, %ecx		/* x2APIC EOI (SDM table 10-6) */
	xor %eax, %eax
	xor %edx, %edx
	wrmsr
	jmp 2f
1:	mov $(LAPIC_GPA + 0xb0), %edx
	movl $0, (%rdx)
2:	/* Replace the vector on the stack by the agent's stub for it and
	 * "return" there: the stack is then exactly as at interrupt entry. */
	mov 24(%rsp), %rax
	.if AGENT_STUB_SIZE != 16
	.error "spread_common shifts by 4: AGENT_STUB_SIZE changed"
	.endif
	shl $4, %rax			/* AGENT_STUB_SIZE */
	add $GA(agent_stubs), %rax
	mov %rax, 24(%rsp)
	pop %rdx
	pop %rcx
	pop %rax
	ret
irq_blob_end:
