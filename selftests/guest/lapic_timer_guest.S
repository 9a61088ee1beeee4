/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for lapic_timer_test.c (64-bit mode, xAPIC MMIO).  Each entry
 * stores what it saw in RES(i) (the test documents the indices) and ends
 * at g_done; a guest-side wait that runs out reports its line (g_fail).
 */
#include "apic_layout.h"
#define BLOB_START lt_blob_start

#define ONESHOT_NS	2000000		/* one-shot: 2 ms at divide by 1 */
#define HLT_NS		1000000
#define MASKED_NS	1000000
#define PERIOD_NS	1000000		/* periodic: 1 ms (KVM's floor: 200 us) */
#define DL_US		1000		/* TSC deadline: 1 ms ahead */

	.section .rodata.guest, "a"
	.globl lt_blob_start, lt_blob_end, apic_irq_stubs
lt_blob_start:

#include "apic_guest.inc"

/* Reset state, and the LVT masks of a software-disabled APIC. */
ENTRY ltg_reset_state
	APIC_RD(APIC_SVR)
	mov %rax, RES(0)
	APIC_RD(APIC_LVTT)
	mov %rax, RES(1)
	APIC_RD(APIC_LVR)
	mov %rax, RES(2)
	APIC_RD(APIC_LVT0)
	mov %rax, RES(3)
	APIC_RD(APIC_DFR)
	mov %rax, RES(4)
	APIC_RD(APIC_TPR)
	mov %rax, RES(5)
	APIC_RD(APIC_ID)
	mov %rax, RES(6)
	APIC_WR(APIC_LVTT, 0x45)
	APIC_RD(APIC_LVTT)
	mov %rax, RES(7)
	call g_xapic_enable
	APIC_WR(APIC_LVTT, 0x45)
	APIC_RD(APIC_LVTT)
	mov %rax, RES(8)
	APIC_WR(APIC_SVR, 0xff)		/* software-disable again */
	APIC_RD(APIC_LVTT)
	mov %rax, RES(9)
	APIC_RD(APIC_LVT0)
	mov %rax, RES(10)
	APIC_RD(APIC_SVR)
	mov %rax, RES(11)
	jmp g_done

/* One-shot at divide by 1: counts down, interrupts once. */
ENTRY ltg_oneshot
	call g_xapic_enable
	APIC_WR(APIC_TDCR, 0xb)
	APIC_RD(APIC_TDCR)
	mov %rax, RES(0)
	APIC_WR(APIC_LVTT, 0x40)
	APIC_RD(APIC_LVTT)
	mov %rax, RES(1)
	sti
	RDTSC64
	mov %rax, RES(2)
	APIC_WR(APIC_TMICT, ONESHOT_NS)
	APIC_RD(APIC_TMICT)
	mov %rax, RES(3)
	APIC_RD(APIC_TMCCT)
	mov %rax, RES(4)
	RDTSC64				/* after each read: 0 is right past expiry */
	mov %rax, RES(11)
	mov $100, %edi
	call g_delay
	APIC_RD(APIC_TMCCT)
	mov %rax, RES(5)
	RDTSC64
	mov %rax, RES(10)
	WAIT_COUNT(0x40, 1, 100000)
	mov $(3 * ONESHOT_NS / 1000), %edi
	call g_delay
	mov COUNT(0x40), %eax
	mov %rax, RES(6)
	APIC_RD(APIC_TMCCT)
	mov %rax, RES(7)
	APIC_RD(APIC_ISR + 0x20)	/* vectors 0x40-0x5f */
	mov %rax, RES(8)
	APIC_RD(APIC_IRR + 0x20)
	mov %rax, RES(9)
	jmp g_done

/* One-shot while the vCPU halts with IF = 1: the interrupt wakes it. */
ENTRY ltg_hlt
	call g_xapic_enable
	APIC_WR(APIC_TDCR, 0xb)
	APIC_WR(APIC_LVTT, 0x46)
	RDTSC64
	mov %rax, RES(0)
	APIC_WR(APIC_TMICT, HLT_NS)
	sti
	hlt
	.globl ltg_hlt_resume
ltg_hlt_resume:
	mov COUNT(0x46), %eax
	mov %rax, RES(1)
	jmp g_done

/* Masked one-shot: counts down without an interrupt; then unmasked. */
ENTRY ltg_masked
	call g_xapic_enable
	sti
	APIC_WR(APIC_TDCR, 0xb)
	APIC_WR(APIC_LVTT, 0x41 | LVT_MASKED)
	RDTSC64
	mov %rax, RES(5)
	APIC_WR(APIC_TMICT, MASKED_NS)
	APIC_RD(APIC_TMCCT)
	mov %rax, RES(0)
	RDTSC64				/* after each read: 0 is right past expiry */
	mov %rax, RES(6)
	mov $100, %edi
	call g_delay
	APIC_RD(APIC_TMCCT)
	mov %rax, RES(1)
	RDTSC64
	mov %rax, RES(7)
	mov $(3 * MASKED_NS / 1000), %edi
	call g_delay
	mov COUNT(0x41), %eax
	mov %rax, RES(2)
	APIC_RD(APIC_TMCCT)
	mov %rax, RES(3)
	APIC_WR(APIC_LVTT, 0x41)
	mov $(MASKED_NS / 1000), %edi
	call g_delay
	mov COUNT(0x41), %eax
	mov %rax, RES(4)
	jmp g_done

/* Periodic: several interrupts; masked it keeps counting; TMICT = 0 stops. */
ENTRY ltg_periodic
	call g_xapic_enable
	sti
	APIC_WR(APIC_TDCR, 0xb)
	APIC_WR(APIC_LVTT, 0x42 | LVT_PERIODIC)
	APIC_RD(APIC_LVTT)
	mov %rax, RES(0)
	RDTSC64
	mov %rax, RES(1)
	APIC_WR(APIC_TMICT, PERIOD_NS)
	WAIT_COUNT(0x42, 4, 200000)
	APIC_RD(APIC_TMCCT)
	mov %rax, RES(2)
	APIC_WR(APIC_LVTT, 0x42 | LVT_PERIODIC | LVT_MASKED)
	mov COUNT(0x42), %eax
	mov %rax, RES(3)
	mov $(4 * PERIOD_NS / 1000), %edi
	call g_delay
	mov COUNT(0x42), %eax
	mov %rax, RES(4)
	APIC_RD(APIC_TMCCT)
	mov %rax, RES(5)
	APIC_WR(APIC_TMICT, 0)
	APIC_RD(APIC_TMCCT)
	mov %rax, RES(6)
	APIC_WR(APIC_LVTT, 0x42 | LVT_PERIODIC)
	mov $(3 * PERIOD_NS / 1000), %edi
	call g_delay
	mov COUNT(0x42), %eax
	mov %rax, RES(7)
	jmp g_done

/*
 * Divide configuration: for TDCR = 0xb (1), 0x3 (16), 0xa (128), the count
 * dropped over a 1 ms delay (RES(3k+1)) and the TSC ticks around the two
 * reads (RES(3k+2)); TDCR read back in RES(3k).  Masked, no interrupts.
 */
.macro DIVIDE_ROUND k, tdcr
	APIC_WR(APIC_TDCR, \tdcr)
	APIC_RD(APIC_TDCR)
	mov %rax, RES(3 * \k)
	APIC_WR(APIC_TMICT, 0xffffffff)
	RDTSC64
	mov %rax, %r12
	APIC_RD(APIC_TMCCT)
	mov %eax, %r13d
	mov $1000, %edi
	call g_delay
	APIC_RD(APIC_TMCCT)
	sub %eax, %r13d
	RDTSC64
	sub %r12, %rax
	mov %r13, RES(3 * \k + 1)
	mov %rax, RES(3 * \k + 2)
	APIC_WR(APIC_TMICT, 0)
.endm

ENTRY ltg_divide
	call g_xapic_enable
	sti
	APIC_WR(APIC_LVTT, 0x43 | LVT_MASKED)
	DIVIDE_ROUND 0, 0xb
	DIVIDE_ROUND 1, 0x3
	DIVIDE_ROUND 2, 0xa
	APIC_WR(APIC_TDCR, 0xf)		/* bit 2 is reserved */
	APIC_RD(APIC_TDCR)
	mov %rax, RES(9)
	mov COUNT(0x43), %eax
	mov %rax, RES(10)
	jmp g_done

/* rax = TSC + DL_US microseconds */
ltg_deadline_ahead:
	mov $DL_US, %edi
	jmp g_deadline

/* wrmsr IA32_TSC_DEADLINE, rax */
ltg_wr_deadline:
	mov %rax, %rdx
	shr $32, %rdx
	mov $MSR_TSC_DEADLINE, %ecx
	wrmsr
	ret

/* TSC-deadline mode (CPUID.1:ECX.24 set by the test). */
ENTRY ltg_tscdeadline
	call g_xapic_enable
	sti
	mov $1, %eax
	cpuid
	mov %rcx, RES(13)
	APIC_WR(APIC_LVTT, 0x44 | LVT_TSCDEADLINE)
	APIC_RD(APIC_LVTT)
	mov %rax, RES(0)
	APIC_WR(APIC_TMICT, 12345)	/* ignored in TSC-deadline mode */
	APIC_RD(APIC_TMICT)
	mov %rax, RES(1)
	APIC_RD(APIC_TMCCT)
	mov %rax, RES(2)
	/* arm, read back, fires once, the MSR reads 0 afterwards */
	call ltg_deadline_ahead
	mov %rax, RES(3)
	call ltg_wr_deadline
	MSR_RD(MSR_TSC_DEADLINE)
	mov %rax, RES(4)
	WAIT_COUNT(0x44, 1, 100000)
	MSR_RD(MSR_TSC_DEADLINE)
	mov %rax, RES(6)
	mov $(3 * DL_US), %edi
	call g_delay
	mov COUNT(0x44), %eax
	mov %rax, RES(7)
	/* writing 0 disarms */
	call ltg_deadline_ahead
	call ltg_wr_deadline
	xor %eax, %eax
	call ltg_wr_deadline
	MSR_RD(MSR_TSC_DEADLINE)
	mov %rax, RES(8)
	mov $(3 * DL_US), %edi
	call g_delay
	mov COUNT(0x44), %eax
	mov %rax, RES(9)
	/* a deadline in the past fires at once */
	RDTSC64
	sub $1, %rax
	call ltg_wr_deadline
	WAIT_COUNT(0x44, 2, 100000)
	mov COUNT(0x44), %eax
	mov %rax, RES(10)
	/* leaving TSC-deadline mode disarms the timer */
	call ltg_deadline_ahead
	call ltg_wr_deadline
	APIC_WR(APIC_LVTT, 0x44)
	mov $(3 * DL_US), %edi
	call g_delay
	mov COUNT(0x44), %eax
	mov %rax, RES(11)
	MSR_RD(MSR_TSC_DEADLINE)
	mov %rax, RES(12)
	jmp g_done
lt_blob_end:
