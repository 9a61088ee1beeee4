/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for pio_test.c: IN/OUT of 1, 2 and 4 bytes with an immediate
 * port and with DX, and every string form (OUTS/INS, with and without REP,
 * byte/word/dword) as a one-instruction snippet followed by hlt, in 16-,
 * 32- and 64-bit code.  The test sets RCX, RSI, RDI, RDX and RFLAGS.DF
 * itself, so one snippet serves every count and direction.
 */
#include "guest_layout.h"
#define BLOB_START pio_blob_start

#define PIO_PORT 0x5000		/* the DX port of the *_sizes programs */

	.section .rodata.guest, "a"
	.globl pio_blob_start, pio_blob_end
pio_blob_start:

/*
 * OUT of AL, AX, EAX to an immediate port (0x10, 0x11, 0x12) and to DX;
 * EAX holds 0x55667788.  The same bytes work in every mode but 16-bit
 * code needs the operand-size prefix for EAX, so assemble three copies.
 */
.macro OUT_SIZES name
ENTRY \name
	mov $0x55667788, %eax
	out %al, $0x10
	out %ax, $0x11
	out %eax, $0x12
	mov $PIO_PORT, %dx
	out %al, %dx
	out %ax, %dx
	out %eax, %dx
	HLT_END \name
.endm

/*
 * IN to AL, AX, EAX from ports 0x20, 0x21, 0x22 and then from DX, each
 * time with 0x55667788 in EAX beforehand; each result is stored in the
 * six dwords at \base (DS-relative), so partial-register semantics are
 * visible: IN AL and IN AX keep the rest of EAX.
 */
.macro IN_SIZES name, base
ENTRY \name
	mov $0x55667788, %eax
	in $0x20, %al
	mov %eax, \base
	mov $0x55667788, %eax
	in $0x21, %ax
	mov %eax, \base + 4
	mov $0x55667788, %eax
	in $0x22, %eax
	mov %eax, \base + 8
	mov $PIO_PORT, %dx
	mov $0x55667788, %eax
	in %dx, %al
	mov %eax, \base + 12
	mov $0x55667788, %eax
	in %dx, %ax
	mov %eax, \base + 16
	mov $0x55667788, %eax
	in %dx, %eax
	mov %eax, \base + 20
	HLT_END \name
.endm

.macro SNIPPET name, insn:vararg
ENTRY \name
	\insn
	HLT_END \name
.endm

/* The string snippets of one mode: s<bits>_[rep_]{outs,ins}{b,w,l}. */
.macro STRING_SNIPPETS bits
	SNIPPET s\bits\()_outsb, outsb
	SNIPPET s\bits\()_outsw, outsw
	SNIPPET s\bits\()_outsl, outsl
	SNIPPET s\bits\()_insb, insb
	SNIPPET s\bits\()_insw, insw
	SNIPPET s\bits\()_insl, insl
	SNIPPET s\bits\()_rep_outsb, rep outsb
	SNIPPET s\bits\()_rep_outsw, rep outsw
	SNIPPET s\bits\()_rep_outsl, rep outsl
	SNIPPET s\bits\()_rep_insb, rep insb
	SNIPPET s\bits\()_rep_insw, rep insw
	SNIPPET s\bits\()_rep_insl, rep insl
.endm

	.code16
	OUT_SIZES out_sizes16
	IN_SIZES in_sizes16, 0		/* DS base is DATA_GPA */
	STRING_SNIPPETS 16

	.code32
	OUT_SIZES out_sizes32
	IN_SIZES in_sizes32, DATA_GPA
	STRING_SNIPPETS 32

	.code64
	OUT_SIZES out_sizes64
	/* In 64-bit mode a 32-bit IN also clears bits 63:32 of RAX (SDM Vol.
	 * 1 3.4.1.1), so this one keeps RAX, not just EAX. */
ENTRY in_sizes64
	movabs $0x1122334455667788, %rax
	in $0x20, %al
	mov %rax, %r8
	movabs $0x1122334455667788, %rax
	in $0x21, %ax
	mov %rax, %r9
	movabs $0x1122334455667788, %rax
	in $0x22, %eax
	mov %rax, %r10
	mov $PIO_PORT, %dx
	movabs $0x1122334455667788, %rax
	in %dx, %al
	mov %rax, %r11
	movabs $0x1122334455667788, %rax
	in %dx, %ax
	mov %rax, %r12
	movabs $0x1122334455667788, %rax
	in %dx, %eax
	mov %rax, %r13
	HLT_END in_sizes64
	STRING_SNIPPETS 64
pio_blob_end:
