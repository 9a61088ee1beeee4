/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Layout and guest-side macros shared by the local APIC suites
 * (lapic_timer_test, ipi_test, initsipi_test, x2apic_test, tpr_test) and
 * their guest code.  Included by C and by .S files: nothing but #defines
 * outside the __ASSEMBLER__ section.
 *
 * Each vCPU has a 4 KiB per-CPU area at PERCPU(id); the test sets the
 * vCPU's GS base to it, so guest code and the interrupt handlers of
 * apic_guest.inc reach their own area as %gs:offset in both xAPIC and
 * x2APIC mode without reading the APIC ID.  The handlers count every
 * delivery per vector and log vector, saved RIP and TSC of the first ones;
 * the guest stores its findings in PC_RES for the test to check.
 */
#ifndef APIC_LAYOUT_H
#define APIC_LAYOUT_H

#include "guest_layout.h"

#define APIC_GPA	0xfee00000	/* xAPIC MMIO page */

/* xAPIC register offsets (x2APIC MSR = 0x800 + offset / 16) */
#define APIC_ID		0x20
#define APIC_LVR	0x30
#define APIC_TPR	0x80
#define APIC_PPR	0xa0
#define APIC_EOI	0xb0
#define APIC_LDR	0xd0
#define APIC_DFR	0xe0
#define APIC_SVR	0xf0
#define APIC_ISR	0x100
#define APIC_TMR	0x180
#define APIC_IRR	0x200
#define APIC_ESR	0x280
#define APIC_ICR	0x300
#define APIC_ICR2	0x310
#define APIC_LVTT	0x320
#define APIC_LVT0	0x350
#define APIC_TMICT	0x380
#define APIC_TMCCT	0x390
#define APIC_TDCR	0x3e0
#define APIC_SELF_IPI	0x3f0

/* ICR fields */
#define ICR_FIXED	0x000
#define ICR_LOWEST	0x100
#define ICR_NMI		0x400
#define ICR_INIT	0x500
#define ICR_STARTUP	0x600
#define ICR_LOGICAL	0x800
#define ICR_BUSY	0x1000
#define ICR_ASSERT	0x4000
#define ICR_LEVEL	0x8000
#define ICR_SELF	0x40000
#define ICR_ALL		0x80000
#define ICR_OTHERS	0xc0000

#define LVT_MASKED	0x10000
#define LVT_PERIODIC	0x20000
#define LVT_TSCDEADLINE	0x40000

#define MSR_APIC_BASE	0x1b
#define MSR_TSC_DEADLINE 0x6e0
#define MSR_X2APIC(off)	(0x800 + ((off) >> 4))
#define APIC_BASE_BSP	0x100
#define APIC_BASE_EXTD	0x400
#define APIC_BASE_EN	0x800

/* Per-CPU areas (GS base), 4 KiB each, in DATA2_GPA. */
#define PERCPU_GPA	DATA2_GPA
#define PERCPU(id)	(PERCPU_GPA + 0x1000 * (id))
#define PC_COUNT	0x000	/* u32[256]: deliveries per vector */
#define PC_RIP		0x400	/* u64: saved RIP of the last delivery */
#define PC_TSC		0x408	/* u64: TSC at the last delivery */
#define PC_RBX		0x410	/* u64: RBX at the last delivery */
#define PC_LOGN		0x418	/* u32: deliveries so far (all vectors) */
#define PC_X2APIC	0x41c	/* u32: handlers EOI through MSR 0x80b if 1 */
#define PC_HOOK		0x420	/* u64: guest function called by handlers */
#define PC_SELF		0x428	/* u64: this area's address */
#define PC_NOEOI	0x430	/* u32: handlers do not EOI if 1 */
#define PC_LOG		0x500	/* u32[32]: vectors, in delivery order */
#define PC_RIPLOG	0x580	/* u64[16]: saved RIPs of the first 16 */
#define PC_TSCLOG	0x600	/* u64[16]: TSCs of the first 16 */
#define PC_RES		0x800	/* u64[256]: the guest's results */
#define LOG_MAX		32
#define RIPLOG_MAX	16

/* Shared words in the mailbox (FIXUP_GPA is MAILBOX_GPA + 0). */
#define TSC_PER_US_GPA	(MAILBOX_GPA + 0x08)	/* u64, set by the test */
#define BARRIER_GPA	(MAILBOX_GPA + 0x10)	/* u32 */
#define SHARED_GPA	(MAILBOX_GPA + 0x100)	/* free words for a test */

/* Ports (4-byte OUTs) the guest reports through. */
#define PORT_DONE	0xf0	/* finished: value 0 */
#define PORT_FAIL	0xf1	/* a guest-side check failed: value = .S line */
#define PORT_SYNC	0xf2	/* stop for the test, which resumes it */
#define PORT_LOG	0xf3	/* a value for the test's log; continue */

#ifdef __ASSEMBLER__
/* rax = TSC (64 bits); clobbers rdx. */
#define RDTSC64		rdtsc; shl $32, %rdx; or %rdx, %rax
/* A per-CPU counter / result (as a memory operand). */
#define COUNT(v)	%gs:(PC_COUNT + 4 * (v))
#define RES(i)		%gs:(PC_RES + 8 * (i))
/* xAPIC register as an absolute (moffs64) operand: movabs only. */
#define XAPIC(reg)	(APIC_GPA + (reg))
/* Report the failing line if eax != 0 (helpers return 0 on success). */
#define FAIL_IF_NZ	test %eax, %eax; jz 78f; mov $__LINE__, %eax; jmp g_fail; 78:
/* Report the failing line unless condition cc holds (after a cmp). */
#define FAIL_UNLESS(cc)	j##cc 78f; mov $__LINE__, %eax; jmp g_fail; 78:
/* Wait (IF = 1) until this vCPU's count of vector v reaches n, else fail. */
#define WAIT_COUNT(v, n, us) \
	mov %gs:PC_SELF, %rdi; add $(PC_COUNT + 4 * (v)), %rdi; \
	mov $(n), %esi; mov $(us), %edx; call g_wait_ge; FAIL_IF_NZ
/* The same without touching IF. */
#define WAIT_COUNT_NOINT(v, n, us) \
	mov %gs:PC_SELF, %rdi; add $(PC_COUNT + 4 * (v)), %rdi; \
	mov $(n), %esi; mov $(us), %edx; call g_wait_ge_noint; FAIL_IF_NZ
/* Wait (IF = 1) until vCPU id's count of vector v reaches n, else fail. */
#define WAIT_COUNT_OF(id, v, n, us) \
	mov $(PERCPU(id) + PC_COUNT + 4 * (v)), %edi; \
	mov $(n), %esi; mov $(us), %edx; call g_wait_ge; FAIL_IF_NZ
/* xAPIC register read into eax / write of an immediate. */
#define APIC_RD(reg)	movabs XAPIC(reg), %eax
#define APIC_WR(reg, v)	mov $(v), %eax; movabs %eax, XAPIC(reg)
/* MSR read into rax (64 bits) / write of a 64-bit immediate. */
#define MSR_RD(msr)	mov $(msr), %ecx; rdmsr; shl $32, %rdx; or %rdx, %rax
#define MSR_WR(msr, v)	mov $(msr), %ecx; mov $((v) & 0xffffffff), %eax; \
			mov $((v) >> 32), %edx; wrmsr
#endif

#endif /* APIC_LAYOUT_H */
