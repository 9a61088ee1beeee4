/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest-physical memory layout shared by the C tests and the guest code
 * (.S files include it too, so: nothing but #defines outside the
 * __ASSEMBLER__ section).
 *
 * Slot 0 is MEM_SIZE bytes of RAM at GPA 0.  Everything below is identity
 * mapped when the helper sets up long mode (2 MiB pages over the low 4 GiB,
 * plus an alias of the same 4 GiB at HIGH_ALIAS to show that paging is on).
 */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

#define MEM_SIZE	0x200000	/* slot 0: 2 MiB of RAM at GPA 0 */

#define GDT_GPA		0x1000		/* flat GDT built by the helper */
#define IDT_GPA		0x2000		/* 256 64-bit gates (4 KiB) */
#define TSS_GPA		0x3000		/* 64-bit TSS, only referenced by TR */
#define PML4_GPA	0x4000		/* identity page tables: PML4, */
#define PDPT_GPA	0x5000		/* one PDPT, */
#define PD_GPA		0x6000		/* four PDs of 2 MiB pages (to 0x9fff) */
#define ISR_GPA		0xa000		/* exception stubs (guest_isr.S) */
#define MAILBOX_GPA	0xc000		/* words shared by guest and test */
#define FIXUP_GPA	(MAILBOX_GPA + 0) /* exception resume address, or 0 */
#define RM_STACK_TOP	0xf000		/* real-mode stack (SS=0) */
#define CODE_GPA	0x10000		/* a test's own guest code (its blob) */
#define DATA_GPA	0x20000		/* test data */
#define DATA2_GPA	0x30000		/* more test data */
#define SELF_PT_GPA	0x40000		/* tables the self-switching guest builds */
#define STACK1_TOP	0x70000		/* stack of the second vCPU */
#define STACK_TOP	0x80000		/* stack of vCPU 0 */

#define MMIO_GPA	0xd0000000	/* no memory slot there: MMIO exits */
#define HIGH_ALIAS	0x8000000000	/* PML4[1]: alias of the low 4 GiB */

/* GDT selectors (the helper's GDT, and the self-switching guest's own). */
#define SEL_CODE32	0x08
#define SEL_DATA	0x10
#define SEL_CODE64	0x18
#define SEL_CODE16	0x20
#define SEL_DATA16	0x28
#define SEL_TSS		0x30

/* Ports the exception stubs report through (4-byte OUTs). */
#define PORT_EXC_VECTOR	0xe0
#define PORT_EXC_ERROR	0xe1
#define PORT_EXC_RIP	0xe2

#define X86_CR0_PE	0x1
#define X86_CR0_ET	0x10
#define X86_CR0_PG	0x80000000
#define X86_CR4_PAE	0x20
#define X86_EFER_LME	0x100
#define X86_EFER_LMA	0x400
#define X86_RFLAGS_FIXED 0x2
#define X86_RFLAGS_DF	0x400
#define MSR_EFER	0xc0000080

#ifdef __ASSEMBLER__
/*
 * Guest code is assembled into the test binary and copied to CODE_GPA by
 * the test.  Each .S file defines BLOB_START (its first symbol) before
 * using these: a symbol's guest address is CODE_GPA plus its offset in the
 * blob, a same-section difference that the assembler resolves itself, so
 * the blob carries no relocations and links into a PIE unchanged.
 */
/* Guest code needs no executable stack in the host binary. */
	.section .note.GNU-stack, "", @progbits

#define OFF(sym)	((sym) - BLOB_START)
#define GA(sym)		(CODE_GPA + OFF(sym))

/* ENTRY name: a global label the test points RIP/IP at. */
.macro ENTRY name:req
	.globl \name
\name\():
.endm

/* HLT_END name: hlt, then the global label name_end (the RIP KVM reports
 * with KVM_EXIT_HLT, since the exit happens after the instruction). */
.macro HLT_END name:req
	hlt
	.globl \name\()_end
\name\()_end:
.endm
#endif

#endif /* GUEST_LAYOUT_H */
