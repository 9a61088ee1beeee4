/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for pic_test.c: the interrupt-test agent (irq_agent.inc)
 * does the 8259, ELCR and LAPIC programming the test asks for.
 */
#include "guest_layout.h"
#define BLOB_START irq_blob_start

	.section .rodata.guest, "a"
	.globl irq_blob_start, irq_blob_end
irq_blob_start:
#include "irq_agent.inc"
irq_blob_end:
