/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for run_test.c (64-bit mode).
 */
#include "guest_layout.h"
#define BLOB_START run_blob_start

#define SPIN_FLAG (MAILBOX_GPA + 8)

	.section .rodata.guest, "a"
	.globl run_blob_start, run_blob_end
run_blob_start:
	.code64

/* IN, then OUT of what came in. */
ENTRY run_in_out
	mov $0x55667788, %eax
	in $0x20, %al
	.globl run_in_out_after_in
run_in_out_after_in:
	out %eax, $0x21
	HLT_END run_in_out

/*
 * Spin, counting in RAX, until the test sets the flag at SPIN_FLAG; then
 * report the count.  No exits while spinning: only a signal to the vCPU
 * thread gets KVM_RUN back to userspace.
 */
ENTRY run_spin
	xor %eax, %eax
	.globl run_spin_loop
run_spin_loop:
	inc %rax
	cmpl $0, SPIN_FLAG
	je run_spin_loop
	.globl run_spin_loop_end
run_spin_loop_end:
	out %eax, $0x10
	HLT_END run_spin
run_blob_end:
