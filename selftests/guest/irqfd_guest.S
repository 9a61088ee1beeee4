/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for irqfd_test.c: the interrupt-test agent (irq_agent.inc)
 * takes the interrupts irqfds inject and does the port and MMIO writes
 * ioeventfds catch.
 */
#include "guest_layout.h"
#define BLOB_START irq_blob_start

	.section .rodata.guest, "a"
	.globl irq_blob_start, irq_blob_end
irq_blob_start:
#include "irq_agent.inc"
irq_blob_end:
