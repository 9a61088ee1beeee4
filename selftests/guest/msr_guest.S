/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for msr_test.c (64-bit mode).
 *
 * msr_read_table / msr_write_table: the dword at DATA_GPA is a count n > 0;
 * from DATA_GPA + 16 come n records {u32 index, u32 pad, u64 value}.
 * msr_read_table stores RDMSR(index) in each value, msr_write_table does
 * WRMSR(index, value).
 *
 * msr_faults: three accesses that must raise #GP(0), each with a fixup so
 * the guest goes on: RDMSR and WRMSR of the MSR in RBX (one KVM does not
 * know), and WRMSR of IA32_PAT with a reserved memory type (2) in every
 * byte.
 */
#include "guest_layout.h"
#define BLOB_START msr_blob_start

#define MSR_IA32_PAT 0x277

	.section .rodata.guest, "a"
	.globl msr_blob_start, msr_blob_end
msr_blob_start:
	.code64

ENTRY msr_read_table
	mov $DATA_GPA, %rsi
	mov (%rsi), %ebp
	add $16, %rsi
1:	mov (%rsi), %ecx
	rdmsr
	mov %eax, 8(%rsi)
	mov %edx, 12(%rsi)
	add $16, %rsi
	dec %ebp
	jnz 1b
	HLT_END msr_read_table

ENTRY msr_write_table
	mov $DATA_GPA, %rsi
	mov (%rsi), %ebp
	add $16, %rsi
1:	mov (%rsi), %ecx
	mov 8(%rsi), %eax
	mov 12(%rsi), %edx
	wrmsr
	add $16, %rsi
	dec %ebp
	jnz 1b
	HLT_END msr_write_table

ENTRY msr_faults
	mov %ebx, %ecx
	mov $0x11111111, %eax
	mov $0x22222222, %edx
	movq $GA(1f), FIXUP_GPA
	.globl msr_faults_rdmsr
msr_faults_rdmsr:
	rdmsr
1:	mov %eax, %r8d		/* RDMSR faulted: EDX:EAX unchanged */
	mov %edx, %r9d
	movq $GA(2f), FIXUP_GPA
	.globl msr_faults_wrmsr
msr_faults_wrmsr:
	wrmsr
2:	mov $MSR_IA32_PAT, %ecx
	mov $0x02020202, %eax
	mov %eax, %edx
	movq $GA(3f), FIXUP_GPA
	.globl msr_faults_pat
msr_faults_pat:
	wrmsr
3:	HLT_END msr_faults
msr_blob_end:
