/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for mmio_test.c: one memory access per snippet, followed by
 * hlt.  The test points RDI (writes) and RSI (reads) at MMIO_GPA + 0x40,
 * a GPA without a memory slot, and presets the other registers, so every
 * snippet gives exactly one KVM_EXIT_MMIO and then KVM_EXIT_HLT.
 */
#include "guest_layout.h"
#define BLOB_START mmio_blob_start

	.section .rodata.guest, "a"
	.globl mmio_blob_start, mmio_blob_end
mmio_blob_start:

.macro SNIPPET name, insn:vararg
ENTRY \name
	\insn
	HLT_END \name
.endm

	.code64
	/* stores: register, high-byte register, REX register + disp8,
	 * immediates (imm32 sign-extended for 8 bytes), moffs64 */
	SNIPPET w64_al, mov %al, (%rdi)
	SNIPPET w64_ax, mov %ax, (%rdi)
	SNIPPET w64_eax, mov %eax, (%rdi)
	SNIPPET w64_rax, mov %rax, (%rdi)
	SNIPPET w64_bh, mov %bh, (%rdi)
	SNIPPET w64_r10w, mov %r10w, 8(%rdi)
	SNIPPET w64_imm8, movb $0x5a, (%rdi)
	SNIPPET w64_imm16, movw $0xa55a, (%rdi)
	SNIPPET w64_imm32, movl $0xdeadbeef, (%rdi)
	SNIPPET w64_imm64_neg, movq $-0x21524111, (%rdi)
	SNIPPET w64_imm64_pos, movq $0x12345678, (%rdi)
	SNIPPET w64_moffs, movabs %rax, MMIO_GPA + 0x20
	/* loads: partial registers, zero and sign extension to 16/32/64 bits */
	SNIPPET r64_al, mov (%rsi), %al
	SNIPPET r64_ax, mov (%rsi), %ax
	SNIPPET r64_eax, mov (%rsi), %eax
	SNIPPET r64_rax, mov (%rsi), %rax
	SNIPPET r64_bh, mov (%rsi), %bh
	SNIPPET r64_r11d, mov 8(%rsi), %r11d
	SNIPPET r64_movzbw, movzbw (%rsi), %ax
	SNIPPET r64_movzbl, movzbl (%rsi), %eax
	SNIPPET r64_movzwl, movzwl (%rsi), %eax
	SNIPPET r64_movzbq, movzbq (%rsi), %rax
	SNIPPET r64_movsbw, movsbw (%rsi), %ax
	SNIPPET r64_movsbl, movsbl (%rsi), %eax
	SNIPPET r64_movswl, movswl (%rsi), %eax
	SNIPPET r64_movsbq, movsbq (%rsi), %rax
	SNIPPET r64_movswq, movswq (%rsi), %rax
	SNIPPET r64_movslq, movslq (%rsi), %rax
	SNIPPET r64_moffs, movabs MMIO_GPA + 0x20, %eax

	.code32
	SNIPPET w32_al, mov %al, (%edi)
	SNIPPET w32_ax, mov %ax, (%edi)
	SNIPPET w32_eax, mov %eax, (%edi)
	SNIPPET w32_imm32, movl $0xdeadbeef, (%edi)
	SNIPPET w32_moffs, mov %eax, MMIO_GPA + 0x20
	SNIPPET r32_al, mov (%esi), %al
	SNIPPET r32_ax, mov (%esi), %ax
	SNIPPET r32_eax, mov (%esi), %eax
	SNIPPET r32_movzbl, movzbl (%esi), %eax
	SNIPPET r32_movzwl, movzwl (%esi), %eax
	SNIPPET r32_movsbl, movsbl (%esi), %eax
	SNIPPET r32_movswl, movswl (%esi), %eax
	SNIPPET r32_movsbw, movsbw (%esi), %ax

	/* A KVM_MEM_READONLY slot at RSI: loads read it, stores exit. */
	.code64
ENTRY ro_access
	mov (%rsi), %rax
	mov %rbx, (%rsi)
	mov (%rsi), %rcx
	movb $0x77, 9(%rsi)
	HLT_END ro_access
mmio_blob_end:
