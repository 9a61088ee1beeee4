/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for ipi_test.c (64-bit mode, xAPIC MMIO): two vCPUs, APIC
 * IDs 0 and 1, each with its own entry per test.  They meet at barriers
 * (g_barrier 2, 4, ...), send IPIs through the ICR and wait for the
 * handlers' counts; the test checks every vCPU's counts afterwards.  Both
 * finish with a delay so that a wrongly delivered IPI would be counted.
 */
#include "apic_layout.h"
#define BLOB_START ipi_blob_start

#define ROUNDS		8
#define WAIT_US		1000000		/* 1 s: the other vCPU may be descheduled */
#define SETTLE_US	3000

	.section .rodata.guest, "a"
	.globl ipi_blob_start, ipi_blob_end, apic_irq_stubs
ipi_blob_start:

#include "apic_guest.inc"

.macro IPI dest, low
	mov $(\dest), %edi
	mov $(\low), %esi
	call g_ipi
.endm

/* A cpp macro, so that a failure reports the line it is used on. */
#define BARRIER(n)	mov $(n), %edi; call g_barrier; FAIL_IF_NZ

.macro SETTLE_DONE
	mov $SETTLE_US, %edi
	call g_delay
	jmp g_done
.endm

/* Fixed IPIs by physical APIC ID: 0 -> 1 vector 0x50, 1 -> 0 vector 0x51. */
ENTRY ipig_pingpong0
	call g_xapic_enable
	BARRIER(2)
	xor %r12d, %r12d
1:	IPI 1 << 24, 0x50
	mov %rax, RES(0)		/* ICR as read back */
	inc %r12d
	mov %gs:PC_SELF, %rdi
	add $(PC_COUNT + 4 * 0x51), %rdi
	mov %r12d, %esi
	mov $WAIT_US, %edx
	call g_wait_ge
	FAIL_IF_NZ
	cmp $ROUNDS, %r12d
	jb 1b
	BARRIER(4)
	SETTLE_DONE

ENTRY ipig_pingpong1
	call g_xapic_enable
	BARRIER(2)
	xor %r12d, %r12d
1:	inc %r12d
	mov %gs:PC_SELF, %rdi
	add $(PC_COUNT + 4 * 0x50), %rdi
	mov %r12d, %esi
	mov $WAIT_US, %edx
	call g_wait_ge
	FAIL_IF_NZ
	IPI 0 << 24, 0x51
	cmp $ROUNDS, %r12d
	jb 1b
	BARRIER(4)
	SETTLE_DONE

/* NMI IPI (vector field 0x77, ignored) to vCPU 1, which waits with IF = 0. */
ENTRY ipig_nmi0
	call g_xapic_enable
	BARRIER(2)
	BARRIER(4)			/* vCPU 1 has cleared IF */
	IPI 1 << 24, ICR_NMI | 0x77
	WAIT_COUNT_OF(1, 2, 1, WAIT_US)
	BARRIER(6)
	SETTLE_DONE

ENTRY ipig_nmi1
	call g_xapic_enable
	BARRIER(2)
	cli
	lock incl BARRIER_GPA		/* barrier 4, then wait with IF = 0 */
	WAIT_COUNT_NOINT(2, 1, WAIT_US)
	pushf
	pop %rax
	mov %rax, RES(0)		/* RFLAGS in the wait: IF clear */
	BARRIER(6)
	SETTLE_DONE

/* Destination shorthands and physical broadcast. */
ENTRY ipig_short0
	call g_xapic_enable
	BARRIER(2)
	IPI 1 << 24, ICR_SELF | 0x60	/* destination field ignored */
	WAIT_COUNT(0x60, 1, WAIT_US)
	IPI 0, ICR_ALL | 0x61
	WAIT_COUNT(0x61, 1, WAIT_US)
	WAIT_COUNT_OF(1, 0x61, 1, WAIT_US)
	IPI 0, ICR_OTHERS | 0x62
	WAIT_COUNT_OF(1, 0x62, 1, WAIT_US)
	BARRIER(4)
	WAIT_COUNT(0x63, 1, WAIT_US)	/* vCPU 1's all-but-self */
	BARRIER(6)
	IPI 0xff << 24, 0x64		/* physical broadcast */
	WAIT_COUNT(0x64, 1, WAIT_US)
	WAIT_COUNT_OF(1, 0x64, 1, WAIT_US)
	IPI 5 << 24, 0x65		/* no such APIC ID */
	BARRIER(8)
	SETTLE_DONE

ENTRY ipig_short1
	call g_xapic_enable
	BARRIER(2)
	BARRIER(4)
	IPI 0, ICR_OTHERS | 0x63
	BARRIER(6)
	BARRIER(8)
	SETTLE_DONE

/* Flat logical mode: LDR = 1 << (24 + APIC ID). */
.macro FLAT_SETUP ldr
	call g_xapic_enable
	APIC_WR(APIC_DFR, 0xffffffff)
	APIC_WR(APIC_LDR, \ldr)
	APIC_RD(APIC_LDR)
	mov %rax, RES(0)
	APIC_RD(APIC_DFR)
	mov %rax, RES(1)
	BARRIER(2)
.endm

ENTRY ipig_flat0
	FLAT_SETUP 0x01000000
	IPI 0x02 << 24, ICR_LOGICAL | 0x80
	IPI 0x01 << 24, ICR_LOGICAL | 0x81
	IPI 0x03 << 24, ICR_LOGICAL | 0x82
	IPI 0x04 << 24, ICR_LOGICAL | 0x83
	IPI 0xff << 24, ICR_LOGICAL | 0x84
	IPI 0x06 << 24, ICR_LOGICAL | 0x85
	BARRIER(4)
	SETTLE_DONE

ENTRY ipig_flat1
	FLAT_SETUP 0x02000000
	BARRIER(4)
	SETTLE_DONE

/* Cluster logical mode: vCPU 0 is cluster 1 bit 0, vCPU 1 cluster 2 bit 1. */
.macro CLUSTER_SETUP ldr
	call g_xapic_enable
	APIC_WR(APIC_DFR, 0x0fffffff)
	APIC_WR(APIC_LDR, \ldr)
	APIC_RD(APIC_LDR)
	mov %rax, RES(0)
	APIC_RD(APIC_DFR)
	mov %rax, RES(1)
	BARRIER(2)
.endm

ENTRY ipig_cluster0
	CLUSTER_SETUP 0x11000000
	IPI 0x11 << 24, ICR_LOGICAL | 0x90
	IPI 0x22 << 24, ICR_LOGICAL | 0x91
	IPI 0x12 << 24, ICR_LOGICAL | 0x92
	IPI 0x13 << 24, ICR_LOGICAL | 0x93
	IPI 0x21 << 24, ICR_LOGICAL | 0x94
	IPI 0xff << 24, ICR_LOGICAL | 0x95
	IPI 0x2f << 24, ICR_LOGICAL | 0x96
	BARRIER(4)
	SETTLE_DONE

ENTRY ipig_cluster1
	CLUSTER_SETUP 0x22000000
	BARRIER(4)
	SETTLE_DONE

/*
 * Lowest priority (flat logical): to both (vectors 0x70-0x77, one
 * receiver each), to vCPU 1 alone (0x78), physical to APIC ID 1 (0x79).
 */
ENTRY ipig_lowest0
	FLAT_SETUP 0x01000000
	.irp v, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77
	IPI 0x03 << 24, ICR_LOGICAL | ICR_LOWEST | \v
	.endr
	IPI 0x02 << 24, ICR_LOGICAL | ICR_LOWEST | 0x78
	IPI 1 << 24, ICR_LOWEST | 0x79
	BARRIER(4)
	SETTLE_DONE

ENTRY ipig_lowest1
	FLAT_SETUP 0x02000000
	BARRIER(4)
	SETTLE_DONE
ipi_blob_end:
