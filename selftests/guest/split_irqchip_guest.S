/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for split_irqchip_test.c: the interrupt-test agent (irq_agent.inc)
 * takes MSIs with only the LAPICs in the kernel and EOIs level-triggered
 * vectors (KVM_EXIT_IOAPIC_EOI).
 */
#include "guest_layout.h"
#define BLOB_START irq_blob_start

	.section .rodata.guest, "a"
	.globl irq_blob_start, irq_blob_end
irq_blob_start:
#include "irq_agent.inc"
irq_blob_end:
