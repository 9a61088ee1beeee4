/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for pit_test.c: the interrupt-test agent (irq_agent.inc)
 * programs the PIT, IOAPIC, PIC and LAPIC and counts the ticks.
 */
#include "guest_layout.h"
#define BLOB_START irq_blob_start

	.section .rodata.guest, "a"
	.globl irq_blob_start, irq_blob_end
irq_blob_start:
#include "irq_agent.inc"
irq_blob_end:
