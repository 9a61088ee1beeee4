/* SPDX-License-Identifier: GPL-2.0 */
/* The --irq-tour guest (tour-guest.S, built to a flat binary), embedded
 * in the launcher as mkl_tour_guest[] .. mkl_tour_guest_end. */
	.section .rodata
	.balign	16
	.globl	mkl_tour_guest
	.globl	mkl_tour_guest_end
mkl_tour_guest:
	.incbin	TOUR_GUEST_BIN
mkl_tour_guest_end:
	.section .note.GNU-stack, "", @progbits
