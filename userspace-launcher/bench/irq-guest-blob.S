/* SPDX-License-Identifier: GPL-2.0 */
/* The --bench-irq guest (irq-guest.S, built to a flat binary), embedded
 * in the launcher as mkl_irq_guest[] .. mkl_irq_guest_end. */
	.section .rodata
	.balign	16
	.globl	mkl_irq_guest
	.globl	mkl_irq_guest_end
mkl_irq_guest:
	.incbin	IRQ_GUEST_BIN
mkl_irq_guest_end:
	.section .note.GNU-stack, "", @progbits
