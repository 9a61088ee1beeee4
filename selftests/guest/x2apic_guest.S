/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for x2apic_test.c (64-bit mode).  Probes that must raise #GP
 * are bracketed by PROBE / PROBE_END: FIXUP_GPA points past the faulting
 * instruction (guest_isr.S resumes there after reporting the fault), and
 * the label the test compares the reported RIP with sits on it.
 */
#include "apic_layout.h"
#define BLOB_START x2g_blob_start

#define X2(off)		MSR_X2APIC(off)

	.section .rodata.guest, "a"
	.globl x2g_blob_start, x2g_blob_end, apic_irq_stubs
x2g_blob_start:

#include "apic_guest.inc"

.macro PROBE name
	movq $GA(\name\()_resume), FIXUP_GPA
	.globl \name
\name\():
.endm

.macro PROBE_END name
\name\()_resume:
	movq $0, FIXUP_GPA
.endm

/* wrmsr IA32_APIC_BASE, rax */
x2g_wr_base:
	mov %rax, %rdx
	shr $32, %rdx
	mov $MSR_APIC_BASE, %ecx
	wrmsr
	ret

/* r15 = IA32_APIC_BASE as KVM reset it (xAPIC, enabled) */
x2g_read_base:
	MSR_RD(MSR_APIC_BASE)
	mov %rax, %r15
	ret

/* xAPIC -> x2APIC: EN | EXTD */
x2g_enable_x2apic:
	mov %r15, %rax
	or $(APIC_BASE_EN | APIC_BASE_EXTD), %rax
	jmp x2g_wr_base

/* x2APIC, software-enabled, handlers EOI by MSR, IF = 1. */
x2g_setup:
	call x2g_read_base
	call x2g_enable_x2apic
	movl $1, %gs:PC_X2APIC
	MSR_WR(X2(APIC_SVR), 0x1ff)
	sti
	ret

ENTRY x2g_ids
	call x2g_read_base
	mov %r15, RES(0)
	mov $1, %eax
	cpuid
	mov %rcx, RES(1)
	APIC_RD(APIC_ID)
	mov %rax, RES(2)
	call x2g_enable_x2apic
	MSR_RD(MSR_APIC_BASE)
	mov %rax, RES(4)
	MSR_RD(X2(APIC_ID))
	mov %rax, RES(5)
	MSR_RD(X2(APIC_LVR))
	mov %rax, RES(6)
	MSR_RD(X2(APIC_LDR))
	mov %rax, RES(7)
	MSR_RD(X2(APIC_SVR))
	mov %rax, RES(8)
	MSR_RD(X2(APIC_TPR))
	mov %rax, RES(9)
	jmp g_done

/* Illegal IA32_APIC_BASE transitions and x2APIC MSR accesses: #GP. */
ENTRY x2g_gp
	call x2g_read_base
	mov $X2(APIC_ID), %ecx
	PROBE x2g_gp_xapic_msr		/* x2APIC MSR while in xAPIC mode */
	rdmsr
	PROBE_END x2g_gp_xapic_msr
	mov %r15, %rax
	and $~APIC_BASE_EN, %rax
	or $APIC_BASE_EXTD, %rax
	mov %rax, %rdx
	shr $32, %rdx
	mov $MSR_APIC_BASE, %ecx
	PROBE x2g_gp_extd_only		/* EXTD without EN: invalid */
	wrmsr
	PROBE_END x2g_gp_extd_only
	mov %r15, %rax
	or $0x200, %rax
	mov %rax, %rdx
	shr $32, %rdx
	mov $MSR_APIC_BASE, %ecx
	PROBE x2g_gp_reserved		/* reserved bit 9 */
	wrmsr
	PROBE_END x2g_gp_reserved
	call x2g_enable_x2apic		/* legal */
	mov %r15, %rax
	mov %rax, %rdx
	shr $32, %rdx
	mov $MSR_APIC_BASE, %ecx
	PROBE x2g_gp_to_xapic		/* x2APIC -> xAPIC directly */
	wrmsr
	PROBE_END x2g_gp_to_xapic
	mov $X2(APIC_DFR), %ecx
	PROBE x2g_gp_dfr		/* no DFR in x2APIC mode */
	rdmsr
	PROBE_END x2g_gp_dfr
	mov $X2(APIC_ID), %ecx
	xor %eax, %eax
	xor %edx, %edx
	PROBE x2g_gp_id_write		/* the x2APIC ID is read-only */
	wrmsr
	PROBE_END x2g_gp_id_write
	mov $X2(APIC_SELF_IPI), %ecx
	PROBE x2g_gp_self_ipi_read	/* SELF IPI is write-only */
	rdmsr
	PROBE_END x2g_gp_self_ipi_read
	mov $X2(APIC_TPR), %ecx
	xor %eax, %eax
	mov $1, %edx
	PROBE x2g_gp_tpr_high		/* bits 63:32 reserved */
	wrmsr
	PROBE_END x2g_gp_tpr_high
	mov $X2(APIC_ICR2), %ecx
	PROBE x2g_gp_icr2		/* 0x831 does not exist */
	rdmsr
	PROBE_END x2g_gp_icr2
	mov %r15, %rax			/* legal: x2APIC -> disabled */
	and $~(APIC_BASE_EN | APIC_BASE_EXTD), %rax
	call x2g_wr_base
	MSR_RD(MSR_APIC_BASE)
	mov %rax, RES(0)
	mov $1, %eax
	cpuid
	mov %rdx, RES(1)		/* CPUID.1:EDX.APIC follows EN */
	mov %r15, %rax
	or $(APIC_BASE_EN | APIC_BASE_EXTD), %rax
	mov %rax, %rdx
	shr $32, %rdx
	mov $MSR_APIC_BASE, %ecx
	PROBE x2g_gp_disabled_to_x2apic	/* disabled -> x2APIC directly */
	wrmsr
	PROBE_END x2g_gp_disabled_to_x2apic
	mov %r15, %rax			/* legal: disabled -> xAPIC */
	call x2g_wr_base
	MSR_RD(MSR_APIC_BASE)
	mov %rax, RES(2)
	mov $1, %eax
	cpuid
	mov %rdx, RES(3)
	APIC_RD(APIC_LVR)
	mov %rax, RES(4)
	APIC_RD(APIC_ID)
	mov %rax, RES(5)
	call x2g_enable_x2apic		/* legal again */
	MSR_RD(X2(APIC_ID))
	mov %rax, RES(6)
	jmp g_done

/* SELF IPI MSR: delivered before the next instruction; reserved bits #GP. */
ENTRY x2g_self_ipi
	call x2g_setup
	MSR_WR(X2(APIC_SELF_IPI), 0x55)
	.globl x2g_self_ipi_after
x2g_self_ipi_after:
	mov COUNT(0x55), %eax
	mov %rax, RES(0)
	mov $X2(APIC_SELF_IPI), %ecx
	mov $0x156, %eax
	xor %edx, %edx
	PROBE x2g_gp_self_ipi_reserved
	wrmsr
	PROBE_END x2g_gp_self_ipi_reserved
	mov $1000, %edi
	call g_delay
	mov COUNT(0x56), %eax
	mov %rax, RES(1)
	jmp g_done

/* ICR as one 64-bit MSR write: destination in EDX. */
.macro ICR64 dest_reg_or_imm, low
	mov $X2(APIC_ICR), %ecx
	mov $(\low), %eax
	mov \dest_reg_or_imm, %edx
	wrmsr
.endm

ENTRY x2g_icr
	call x2g_setup
	MSR_RD(X2(APIC_ID))
	mov %eax, %r14d
	MSR_RD(X2(APIC_LDR))
	mov %eax, %r13d
	ICR64 %r14d, 0x56		/* fixed, physical, own ID */
	.globl x2g_icr_after
x2g_icr_after:
	mov COUNT(0x56), %eax
	mov %rax, RES(0)
	MSR_RD(X2(APIC_ICR))
	mov %rax, RES(1)
	ICR64 $0xffffffff, 0x57		/* physical broadcast */
	WAIT_COUNT(0x57, 1, 10000)
	ICR64 %r13d, ICR_LOGICAL | 0x58	/* logical: own LDR */
	WAIT_COUNT(0x58, 1, 10000)
	ICR64 $0, ICR_SELF | 0x59
	WAIT_COUNT(0x59, 1, 10000)
	ICR64 $0x1234, 0x5a		/* nobody has this ID */
	mov $X2(APIC_ICR), %ecx
	mov $0x2000 | 0x5b, %eax	/* reserved bit 13 */
	mov %r14d, %edx
	PROBE x2g_gp_icr_reserved
	wrmsr
	PROBE_END x2g_gp_icr_reserved
	mov $1000, %edi
	call g_delay
	jmp g_done

/* The xAPIC page no longer decodes: writes do nothing, reads all ones. */
ENTRY x2g_mmio
	call x2g_setup
	mov $0xffffffff, %eax
	movabs %eax, XAPIC(APIC_LVR)
	movabs %eax, XAPIC(APIC_TPR)
	APIC_RD(APIC_LVR)
	mov %rax, RES(0)
	APIC_RD(APIC_TPR)
	mov %rax, RES(1)
	MSR_RD(X2(APIC_TPR))
	mov %rax, RES(2)
	MSR_RD(X2(APIC_LVR))
	mov %rax, RES(3)
	APIC_WR(APIC_SVR, 0)
	MSR_RD(X2(APIC_SVR))
	mov %rax, RES(4)
	APIC_WR(APIC_ICR2, 0)
	APIC_WR(APIC_ICR, ICR_SELF | 0x5c)
	mov $1000, %edi
	call g_delay
	mov %cr8, %rax
	mov %rax, RES(6)
	jmp g_done

/* KVM_GET/SET_LAPIC by the test, before the run and at the sync. */
ENTRY x2g_state
	APIC_RD(APIC_TPR)
	mov %rax, RES(0)
	mov %cr8, %rax
	mov %rax, RES(1)
	call g_xapic_enable
	call x2g_read_base
	call x2g_enable_x2apic
	mov $1, %edi
	call g_sync
	MSR_RD(X2(APIC_TPR))
	mov %rax, RES(2)
	MSR_RD(X2(APIC_ID))
	mov %rax, RES(3)
	MSR_RD(X2(APIC_LDR))
	mov %rax, RES(4)
	movl $1, %gs:PC_X2APIC
	sti				/* the test put 0x57 in IRR */
	nop
	WAIT_COUNT(0x57, 1, 10000)
	jmp g_done
x2g_blob_end:
