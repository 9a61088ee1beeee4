/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for irqchip_ioctl_test.c (64-bit mode): the only guest there,
 * for KVM_INTERRUPT without an in-kernel irqchip.
 */
#include "guest_layout.h"
#define BLOB_START ioctl_blob_start

	.section .rodata.guest, "a"
	.globl ioctl_blob_start, ioctl_blob_end
ioctl_blob_start:
	.code64

/* IF = 1, tell the test, then wait for the interrupt (STI; PAUSE). */
ENTRY ioctl_wait_irq
	sti
	mov $1, %eax
	out %eax, $0x10
1:	pause
	jmp 1b

/* The gate of the injected vector: report it, halt. */
ENTRY ioctl_irq_handler
	mov $0x40, %eax
	out %eax, $0x11
	HLT_END ioctl_irq_handler
ioctl_blob_end:
