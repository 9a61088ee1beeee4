/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for apicv_test.c (64-bit mode, one vCPU with APIC ID 0).
 * Each routine stops at PORT_SYNC before and after the loop it measures,
 * so the test reads the vCPU's "exits" statistic around it.  Handlers are
 * apic_guest.inc's (count, log, EOI by MMIO or, with PC_X2APIC, by MSR).
 */
#include "apic_layout.h"
#define BLOB_START apg_blob_start

#define IOAPIC		0xfec00000
#define LOOPS		1000

	.section .rodata.guest, "a"
	.globl apg_blob_start, apg_blob_end, apic_irq_stubs
apg_blob_start:

#include "apic_guest.inc"

#define SYNC(n)		mov $(n), %edi; call g_sync
#define SELF_IPI(v)	APIC_WR(APIC_ICR, ICR_SELF | (v))

/* Software-enable the APIC, mask LINT0 (no ExtINT from the idle PIC). */
apg_setup:
	call g_xapic_enable
	APIC_WR(APIC_LVT0, LVT_MASKED)
	ret

/* (a) 1000 CR8 writes, then 1000 xAPIC TPR writes (MMIO), no interrupts. */
ENTRY apg_tpr
	call apg_setup
	SYNC(1)
	xor %ecx, %ecx
1:	mov %ecx, %eax
	and $0xf, %eax
	mov %rax, %cr8
	inc %ecx
	cmp $LOOPS, %ecx
	jb 1b
	mov $7, %eax
	mov %rax, %cr8
	SYNC(2)
	mov %cr8, %rax
	mov %rax, RES(0)
	SYNC(3)
	xor %ecx, %ecx
2:	mov %ecx, %eax
	and $0xf, %eax
	shl $4, %eax
	movabs %eax, XAPIC(APIC_TPR)
	inc %ecx
	cmp $LOOPS, %ecx
	jb 2b
	APIC_WR(APIC_TPR, 0x90)
	SYNC(4)
	APIC_RD(APIC_TPR)
	mov %rax, RES(1)
	mov %cr8, %rax
	mov %rax, RES(2)
	APIC_WR(APIC_TPR, 0)
	jmp g_done

/*
 * (b) 1000 x (self IPI by the ICR, taken at once, EOI by MMIO in the
 * handler).  RES(0) = deliveries of 0x40, RES(1) = ISR word of 0x40.
 */
ENTRY apg_eoi
	call apg_setup
	sti
	SYNC(1)
	xor %ebx, %ebx
1:	SELF_IPI(0x40)
	inc %ebx
	cmp $LOOPS, %ebx
	jb 1b
	SYNC(2)
	WAIT_COUNT(0x40, LOOPS, 100000)
	mov COUNT(0x40), %eax
	mov %rax, RES(0)
	APIC_RD(APIC_ISR + 0x20)
	mov %rax, RES(1)
	jmp g_done

/*
 * (c) IOAPIC pin 10: level-triggered, vector 0x50, physical destination 0.
 * The hook stops at PORT_SYNC (value 0x50) inside the handler, before the
 * EOI, so the test lowers the line then.  Two assertions by the test.
 */
ENTRY apg_level
	call apg_setup
	mov $(0x10 + 2 * 10), %eax
	movabs %eax, IOAPIC
	mov $(0x50 | 0x8000), %eax
	movabs %eax, IOAPIC + 0x10
	mov $(0x11 + 2 * 10), %eax
	movabs %eax, IOAPIC
	xor %eax, %eax
	movabs %eax, IOAPIC + 0x10
	movq $GA(apg_hook_sync), %gs:PC_HOOK
	sti
	SYNC(1)
	WAIT_COUNT(0x50, 1, 1000000)
	SYNC(2)
	WAIT_COUNT(0x50, 2, 1000000)
	SYNC(3)
	jmp g_done

apg_hook_sync:
	mov %edi, %eax
	out %eax, $PORT_SYNC
	ret

/*
 * (d) 0x60 and 0x70 requested with IF = 0, then STI: 0x70 is taken and
 * its handler stops (hook) with 0x70 in service and 0x60 in IRR, for
 * KVM_GET/SET_LAPIC.  The handler's log shows the order afterwards.
 */
ENTRY apg_state
	call apg_setup
	movq $GA(apg_hook_once), %gs:PC_HOOK
	cli
	SELF_IPI(0x60)
	SELF_IPI(0x70)
	sti
	nop
	WAIT_COUNT(0x60, 1, 1000000)
	SYNC(2)
	jmp g_done

apg_hook_once:
	cmp $0x70, %edi
	jne 1f
	movq $0, %gs:PC_HOOK
	mov %edi, %eax
	out %eax, $PORT_SYNC
1:	ret

/*
 * (e) x2APIC: 1000 x (self IPI by the SELF IPI MSR, EOI by MSR), then
 * 1000 TPR MSR writes; RES(0) = TPR read back by RDMSR, RES(1) = CR8,
 * RES(2) = deliveries of 0x41, RES(3) = PPR by RDMSR.
 */
ENTRY apg_x2apic
	call apg_setup
	MSR_RD(MSR_APIC_BASE)
	or $APIC_BASE_EXTD, %eax
	mov %rax, %rdx
	shr $32, %rdx
	mov $MSR_APIC_BASE, %ecx
	wrmsr
	movl $1, %gs:PC_X2APIC
	sti
	SYNC(1)
	xor %ebx, %ebx
1:	MSR_WR(MSR_X2APIC(APIC_SELF_IPI), 0x41)
	inc %ebx
	cmp $LOOPS, %ebx
	jb 1b
	SYNC(2)
	xor %ebx, %ebx
2:	mov $MSR_X2APIC(APIC_TPR), %ecx
	mov %ebx, %eax
	and $0xf, %eax
	shl $4, %eax
	xor %edx, %edx
	wrmsr
	inc %ebx
	cmp $LOOPS, %ebx
	jb 2b
	MSR_WR(MSR_X2APIC(APIC_TPR), 0x80)
	SYNC(3)
	MSR_RD(MSR_X2APIC(APIC_TPR))
	mov %rax, RES(0)
	mov %cr8, %rax
	mov %rax, RES(1)
	mov COUNT(0x41), %eax
	mov %rax, RES(2)
	MSR_RD(MSR_X2APIC(APIC_PPR))
	mov %rax, RES(3)
	MSR_WR(MSR_X2APIC(APIC_TPR), 0)
	jmp g_done

apg_blob_end:
