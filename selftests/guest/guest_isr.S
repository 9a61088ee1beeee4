/* SPDX-License-Identifier: GPL-2.0 */
/*
 * 64-bit exception stubs, loaded at ISR_GPA by vm_install_idt64().
 *
 * Stub v (at isr64_stubs + 16 * v, ISR_STUB_SIZE in guest_util.c) makes the stack look the same for every
 * vector: the CPU pushes an error code only for #DF, #TS, #NP, #SS, #GP,
 * #PF, #AC, #CP, #VC and #SX (SDM Vol. 3 6.13, table 6-1), so the other
 * stubs push a 0 in its place; then the vector.  The common part reports
 * vector, error code and the saved RIP through port I/O, so a test sees
 * exactly which exception was delivered and for which instruction, then
 * either resumes at the fixup address the guest stored at FIXUP_GPA (to
 * go on after an expected fault) or halts.
 */
#include "guest_layout.h"
#define BLOB_START isr64_blob_start

	.section .rodata.guest, "a"
	.code64
	.globl isr64_blob_start, isr64_blob_end, isr64_stubs, isr64_halt

isr64_blob_start:
isr64_stubs:
	.irp vec, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
1:
	.if (\vec == 8) || ((\vec >= 10) && (\vec <= 14)) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	.else
	pushq $0
	.endif
	pushq $\vec
	jmp isr64_common
	.org 1b + 16, 0xcc	/* 16 bytes per stub; fails to assemble if longer */
	.endr

isr64_common:
	/* stack: rax, vector, error code, RIP, CS, RFLAGS, RSP, SS */
	push %rax
	mov 8(%rsp), %eax
	out %eax, $PORT_EXC_VECTOR
	mov 16(%rsp), %eax
	out %eax, $PORT_EXC_ERROR
	mov 24(%rsp), %rax
	out %eax, $PORT_EXC_RIP
	mov FIXUP_GPA, %rax
	test %rax, %rax
	jz isr64_halt
	movq $0, FIXUP_GPA
	mov %rax, 24(%rsp)
	pop %rax
	add $16, %rsp
	iretq
isr64_halt:
	hlt
	jmp isr64_halt
isr64_blob_end:
