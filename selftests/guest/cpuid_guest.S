/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for cpuid_test.c.
 *
 * cpuid_table32 (32-bit protected mode): the dword at DATA_GPA is a count
 * n > 0, then from DATA_GPA + 16 come n records of six dwords
 * {leaf, subleaf, eax, ebx, ecx, edx}; for each, it executes CPUID with
 * EAX = leaf, ECX = subleaf and stores the four results in the record.
 *
 * cpuid_upper64 (64-bit mode): CPUID leaf 0 with all-ones in the upper
 * halves of RAX..RDX beforehand; CPUID writes EAX..EDX, which in 64-bit
 * mode clears bits 63:32 (SDM Vol. 1 3.4.1.1).
 */
#include "guest_layout.h"
#define BLOB_START cpuid_blob_start

	.section .rodata.guest, "a"
	.globl cpuid_blob_start, cpuid_blob_end
cpuid_blob_start:

	.code32
ENTRY cpuid_table32
	mov $DATA_GPA, %esi
	mov (%esi), %ebp
	add $16, %esi
1:	mov (%esi), %eax
	mov 4(%esi), %ecx
	cpuid
	mov %eax, 8(%esi)
	mov %ebx, 12(%esi)
	mov %ecx, 16(%esi)
	mov %edx, 20(%esi)
	add $24, %esi
	dec %ebp
	jnz 1b
	HLT_END cpuid_table32

	.code64
ENTRY cpuid_upper64
	mov $-1, %rbx
	mov $-1, %rdx
	movabs $0xffffffff00000000, %rax
	movabs $0xffffffff00000000, %rcx
	cpuid
	HLT_END cpuid_upper64
cpuid_blob_end:
