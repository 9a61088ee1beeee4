/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for tpr_test.c (64-bit mode, xAPIC MMIO, one vCPU with APIC
 * ID 0).  Self IPIs use the ICR shorthand "self" (fixed) or physical
 * destination 0 (NMI).  Hooks run inside apic_guest.inc's handlers
 * (PC_HOOK, vector in EDI) before the EOI.
 */
#include "apic_layout.h"
#define BLOB_START tpg_blob_start

	.section .rodata.guest, "a"
	.globl tpg_blob_start, tpg_blob_end, apic_irq_stubs
tpg_blob_start:

#include "apic_guest.inc"

#define SELF_IPI(v)	APIC_WR(APIC_ICR, ICR_SELF | (v))
#define SELF_NMI	APIC_WR(APIC_ICR2, 0); APIC_WR(APIC_ICR, ICR_NMI)
#define SET_HOOK(sym)	movq $GA(sym), %gs:PC_HOOK

/* TPR blocks vectors of its class and below; lowering it delivers them. */
ENTRY tpg_tpr
	call g_xapic_enable
	sti
	APIC_WR(APIC_TPR, 0x50)
	SELF_IPI(0x5f)
	mov $1000, %edi
	call g_delay
	mov COUNT(0x5f), %eax
	mov %rax, RES(0)
	APIC_RD(APIC_IRR + 0x20)	/* vectors 0x40-0x5f */
	mov %rax, RES(1)
	APIC_RD(APIC_PPR)
	mov %rax, RES(2)
	mov %cr8, %rax
	mov %rax, RES(3)
	SELF_IPI(0x61)			/* above the TPR class: delivered */
	WAIT_COUNT(0x61, 1, 10000)
	mov COUNT(0x5f), %eax
	mov %rax, RES(4)
	mov $4, %eax
	mov %rax, %cr8
	.globl tpg_tpr_lowered
tpg_tpr_lowered:
	mov COUNT(0x5f), %eax
	mov %rax, RES(5)
	APIC_RD(APIC_TPR)
	mov %rax, RES(6)
	APIC_RD(APIC_PPR)
	mov %rax, RES(7)
	APIC_WR(APIC_TPR, 0x35)
	mov %cr8, %rax
	mov %rax, RES(8)
	APIC_RD(APIC_TPR)
	mov %rax, RES(9)
	APIC_RD(APIC_IRR + 0x20)
	mov %rax, RES(10)
	jmp g_done

/*
 * In the handler of 0x61 (ISR set, before EOI): PPR is 0x60, a self IPI
 * of 0x55 waits, one of 0x71 nests; 0x55 comes after the EOI of 0x61.
 */
ENTRY tpg_nest
	call g_xapic_enable
	SET_HOOK(tpg_nest_hook)
	sti
	SELF_IPI(0x61)
	WAIT_COUNT(0x55, 1, 10000)
	APIC_RD(APIC_PPR)
	mov %rax, RES(5)
	APIC_RD(APIC_ISR + 0x30)	/* vectors 0x60-0x7f */
	mov %rax, RES(6)
	APIC_RD(APIC_ISR + 0x20)
	mov %rax, RES(7)
	jmp g_done

tpg_nest_hook:
	cmp $0x61, %edi
	jne 1f
	APIC_RD(APIC_PPR)
	mov %rax, RES(0)
	APIC_RD(APIC_ISR + 0x30)
	mov %rax, RES(1)
	sti
	SELF_IPI(0x55)
	mov $1000, %edi
	call g_delay
	mov COUNT(0x55), %eax
	mov %rax, RES(2)
	SELF_IPI(0x71)
	WAIT_COUNT(0x71, 1, 10000)
	APIC_RD(APIC_IRR + 0x20)
	mov %rax, RES(4)
	cli
1:	ret

/* Pending while IF = 0; STI delivers it after the next instruction. */
ENTRY tpg_sti
	call g_xapic_enable
	cli
	SELF_IPI(0x62)
	mov $1000, %edi
	call g_delay_noint
	mov COUNT(0x62), %eax
	mov %rax, RES(0)
	APIC_RD(APIC_IRR + 0x30)
	mov %rax, RES(1)
	xor %ebx, %ebx
	sti
	mov $1, %ebx			/* in the STI shadow */
	.globl tpg_sti_after
tpg_sti_after:
	mov $2, %ebx
	mov COUNT(0x62), %eax
	mov %rax, RES(2)
	jmp g_done

/* sti; hlt with an interrupt pending: HLT does not wait. */
ENTRY tpg_sti_hlt
	call g_xapic_enable
	cli
	SELF_IPI(0x63)
	sti
	hlt
	.globl tpg_sti_hlt_after
tpg_sti_hlt_after:
	mov COUNT(0x63), %eax
	mov %rax, RES(0)
	jmp g_done

/* An NMI sent inside the NMI handler waits for its IRET. */
ENTRY tpg_nmi
	call g_xapic_enable
	SET_HOOK(tpg_nmi_hook)
	sti
	SELF_NMI
	WAIT_COUNT(2, 2, 100000)
	jmp g_done

tpg_nmi_hook:
	cmp $2, %edi
	jne 1f
	cmpl $1, COUNT(2)
	jne 1f
	SELF_NMI
	mov $1000, %edi
	call g_delay_noint
	mov COUNT(2), %eax
	mov %rax, RES(0)
1:	ret

/* KVM_NMI from the test while the guest is in its NMI handler. */
ENTRY tpg_host_nmi
	call g_xapic_enable
	SET_HOOK(tpg_host_nmi_hook)
	sti
	SELF_NMI
	WAIT_COUNT(2, 2, 100000)
	mov $2, %edi
	call g_sync
	jmp g_done

tpg_host_nmi_hook:
	cmp $2, %edi
	jne 1f
	cmpl $1, COUNT(2)
	jne 1f
	mov $1, %edi
	call g_sync
	mov $1000, %edi
	call g_delay_noint
	mov COUNT(2), %eax
	mov %rax, RES(0)
1:	ret
tpg_blob_end:
