/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for initsipi_test.c.  vCPU 0 (the BSP, 64-bit mode, xAPIC)
 * sends INIT and STARTUP IPIs to vCPU 1 and stops at PORT_SYNC whenever
 * the test must look at the AP before it goes on.  The AP's code,
 * isg_tramp, is real-mode code that the test copies to the pages of the
 * SIPI vectors 0x50 and 0x60 (0x50000, 0x60000); it reports with 2-byte
 * OUTs, reaching the mailbox with DS = 0 (as INIT leaves it).
 */
#include "apic_layout.h"
#define BLOB_START isg_blob_start

#define AP_STARTS	(SHARED_GPA + 0)	/* u16: times the AP started */
#define AP_STOP		(SHARED_GPA + 4)	/* u16: set by the BSP */
#define AP_PORT_START	0x30
#define AP_PORT_CS	0x31
#define AP_PORT_DONE	0x3f

	.section .rodata.guest, "a"
	.globl isg_blob_start, isg_blob_end, apic_irq_stubs
isg_blob_start:

#include "apic_guest.inc"

.macro IPI dest, low
	mov $(\dest), %edi
	mov $(\low), %esi
	call g_ipi
.endm

.macro SYNC n
	mov $(\n), %edi
	call g_sync
.endm

.macro STOP_AP_DONE
	mov $5000, %edi
	call g_delay
	movw $1, AP_STOP
	jmp g_done
.endm

/* INIT (level assert, then de-assert), SIPI 0x50; a second SIPI is ignored. */
ENTRY isg_start
	call g_xapic_enable
	IPI 1 << 24, ICR_INIT | ICR_LEVEL | ICR_ASSERT
	IPI 1 << 24, ICR_INIT | ICR_LEVEL
	SYNC 1
	IPI 1 << 24, ICR_STARTUP | 0x50
	SYNC 2
	IPI 1 << 24, ICR_STARTUP | 0x60
	STOP_AP_DONE

/* A SIPI without INIT first is dropped; then INIT, SIPI 0x50. */
ENTRY isg_stray_sipi
	call g_xapic_enable
	IPI 1 << 24, ICR_STARTUP | 0x60
	SYNC 1
	IPI 1 << 24, ICR_INIT | ICR_ASSERT
	SYNC 2
	IPI 1 << 24, ICR_STARTUP | 0x50
	SYNC 3
	STOP_AP_DONE

/* Start the AP at 0x50000, then INIT + SIPI restart it at 0x60000. */
ENTRY isg_restart
	call g_xapic_enable
	IPI 1 << 24, ICR_INIT | ICR_ASSERT
	SYNC 1
	IPI 1 << 24, ICR_STARTUP | 0x50
	SYNC 2
	IPI 1 << 24, ICR_INIT | ICR_ASSERT
	IPI 1 << 24, ICR_STARTUP | 0x60
	SYNC 3
	STOP_AP_DONE

/* The AP: real mode, CS = vector << 8, IP = 0. */
	.code16
ENTRY isg_tramp
	lock incw AP_STARTS
	mov AP_STARTS, %ax
	out %ax, $AP_PORT_START
	mov %cs, %ax
	out %ax, $AP_PORT_CS
1:	sti
	pause
	cmpw $0, AP_STOP
	je 1b
	mov AP_STARTS, %ax
2:	out %ax, $AP_PORT_DONE
	jmp 2b
ENTRY isg_tramp_end
	.code64
isg_blob_end:
