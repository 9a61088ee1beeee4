/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for modes_test.c: one short program per CPU mode, each
 * reporting what only that mode would produce (segment selectors, the IP
 * or EIP or RIP of a label, operand sizes) through port I/O.
 */
#include "guest_layout.h"
#define BLOB_START modes_blob_start

	.section .rodata.guest, "a"
	.globl modes_blob_start, modes_blob_end
modes_blob_start:

/*
 * Real mode, CS = CODE_GPA >> 4 and DS = DATA_GPA >> 4 (set by the test).
 * call/pop yields the IP of rm_probe: an offset in the segment, not a
 * linear address.  The word at DS:0x10 comes from DATA_GPA + 0x10, and the
 * operand-size prefix gives a 4-byte OUT in 16-bit code.
 */
	.code16
ENTRY rm_basic
	mov %cs, %ax
	out %ax, $0x10
	call rm_probe
	.globl rm_probe
rm_probe:
	pop %ax
	out %ax, $0x11
	mov 0x10, %ax
	out %ax, $0x12
	mov $0x89abcdef, %eax
	out %eax, $0x13
	HLT_END rm_basic

/* 32-bit protected mode, flat segments, paging off (set by the test). */
	.code32
ENTRY pm32_basic
	mov $0x12345678, %eax
	out %eax, $0x10
	call pm32_probe
	.globl pm32_probe
pm32_probe:
	pop %eax
	out %eax, $0x11
	mov %cs, %eax
	out %ax, $0x12
	mov %ss, %eax
	out %ax, $0x13
	mov %esp, %eax
	out %eax, $0x14
	movl $0xcafef00d, DATA_GPA
	mov DATA_GPA + 4, %eax
	out %eax, $0x15
	HLT_END pm32_basic

/*
 * 64-bit mode.  A 64-bit immediate survives in RAX, RIP-relative LEA gives
 * the linear address, and a store through the HIGH_ALIAS mapping lands at
 * DATA_GPA: paging is really on.
 */
	.code64
ENTRY lm64_basic
	movabs $0x1122334455667788, %rax
	out %eax, $0x10
	shr $32, %rax
	out %eax, $0x11
	lea lm64_probe(%rip), %rax
	.globl lm64_probe
lm64_probe:
	out %eax, $0x12
	mov %cs, %eax
	out %ax, $0x13
	movabs $0xfeedfacecafebeef, %rax
	movabs $(HIGH_ALIAS + DATA_GPA), %rbx
	mov %rax, (%rbx)
	mov 8(%rbx), %rcx
	HLT_END lm64_basic

/* HLT exits to userspace (no in-kernel irqchip); the next KVM_RUN goes on
 * with the instruction after it. */
ENTRY lm64_hlt
	hlt
	.globl lm64_hlt_next
lm64_hlt_next:
	mov $0x5a, %al
	out %al, $0x10
	HLT_END lm64_hlt

/*
 * A guest that switches itself real -> protected -> long mode with its own
 * GDT and page tables (SDM Vol. 3 9.9.1 and 10.8.5), reporting each stage
 * on port 0x10.  Starts with CS = DS = CODE_GPA >> 4.
 */
	.code16
ENTRY switch_rm
	cli
	mov $1, %al
	out %al, $0x10
	lgdtl %cs:OFF(switch_gdt_desc)
	mov %cr0, %eax
	or $X86_CR0_PE, %eax
	mov %eax, %cr0
	ljmpl $SEL_CODE32, $GA(switch_pm)

	.code32
switch_pm:
	mov $SEL_DATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov $STACK_TOP, %esp
	mov $2, %al
	out %al, $0x10
	/* PML4[0] -> PDPT -> PD, PD[0] = 2 MiB page at 0: the low 2 MiB. */
	cld
	mov $SELF_PT_GPA, %edi
	xor %eax, %eax
	mov $(3 * 4096 / 4), %ecx
	rep stosl
	movl $(SELF_PT_GPA + 0x1000 + 3), SELF_PT_GPA
	movl $(SELF_PT_GPA + 0x2000 + 3), SELF_PT_GPA + 0x1000
	movl $0x83, SELF_PT_GPA + 0x2000
	mov %cr4, %eax
	or $X86_CR4_PAE, %eax
	mov %eax, %cr4
	mov $SELF_PT_GPA, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $X86_EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $X86_CR0_PG, %eax
	mov %eax, %cr0
	/* now IA-32e compatibility mode; a far jump enters 64-bit code */
	ljmp $SEL_CODE64, $GA(switch_lm)

	.code64
switch_lm:
	mov $3, %al
	out %al, $0x10
	movabs $0x0123456789abcdef, %rax
	HLT_END switch_rm

	.balign 8
	.globl switch_gdt
switch_gdt:
	.quad 0
	.quad 0x00cf9b000000ffff	/* SEL_CODE32: 32-bit code, base 0, 4 GiB */
	.quad 0x00cf93000000ffff	/* SEL_DATA: data, base 0, 4 GiB */
	.quad 0x00af9b000000ffff	/* SEL_CODE64: 64-bit code (L=1, D=0) */
switch_gdt_end:
switch_gdt_desc:
	.word switch_gdt_end - switch_gdt - 1
	.long GA(switch_gdt)
modes_blob_end:

/*
 * The reset vector.  This blob is loaded at 0xfffff000, the last page of
 * a slot at 0xffff0000: at reset CS base is 0xffff0000 and IP 0xfff0 (SDM
 * Vol. 3 9.1.4), so the first instruction is at offset 0xff0 of the blob.
 * Its own section, so that .org counts from the blob's start.
 */
	.section .rodata.guest_reset, "a"
	.code16
	.globl reset_blob_start, reset_blob_end
reset_blob_start:
ENTRY reset_body
	mov %cs, %ax
	out %ax, $0x10
	call reset_probe
	.globl reset_probe
reset_probe:
	pop %ax
	out %ax, $0x11
	HLT_END reset_body
	.org 0xff0, 0xf4
reset_vector:
	jmp reset_body
	.org 0x1000, 0xf4
reset_blob_end:
