/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for exception_test.c (64-bit mode; the IDT and the stubs that
 * report each exception come from vm_install_idt64() and guest_isr.S).
 */
#include "guest_layout.h"
#define BLOB_START exc_blob_start

	.section .rodata.guest, "a"
	.globl exc_blob_start, exc_blob_end
exc_blob_start:
	.code64

/* #UD: a fault, reported at the ud2 itself. */
ENTRY exc_ud
	ud2
	HLT_END exc_ud

/* #DE: DIV by zero, a fault at the div. */
ENTRY exc_de
	xor %ecx, %ecx
	mov $1, %eax
	xor %edx, %edx
	.globl exc_de_div
exc_de_div:
	div %ecx
	HLT_END exc_de

/* #BP: INT3 is a trap, so the saved RIP is the next instruction. */
ENTRY exc_bp
	int3
	.globl exc_bp_next
exc_bp_next:
	HLT_END exc_bp

/* A handled fault returns (via the fixup) and the guest goes on. */
ENTRY exc_resume
	movq $GA(1f), FIXUP_GPA
	.globl exc_resume_ud
exc_resume_ud:
	ud2
1:	mov $0x42, %al
	out %al, $0x10
	HLT_END exc_resume

/* An IDT of limit 0: INT3 cannot be delivered, nor the #GP that follows,
 * nor the #DF: triple fault (SDM Vol. 3 6.15, interrupt 8). */
ENTRY exc_empty_idt
	lidt empty_idt_desc(%rip)
	int3
	HLT_END exc_empty_idt

	.balign 8
empty_idt_desc:
	.word 0
	.quad 0
exc_blob_end:
