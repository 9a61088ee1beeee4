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
 * report the count.  No exits to userspace while spinning: only a signal
 * to the vCPU thread gets KVM_RUN back.
 *
 * STI and PAUSE change nothing for the test (no irqchip, userspace injects
 * no interrupt; PAUSE exits, if any, stay in the kernel) but let the host
 * run other threads on this CPU: with RFLAGS.IF = 0 and a plain loop, Bochs
 * 2.7 + kvm_intel never left this loop for the host's timer interrupt
 * (seen twice: the whole machine hung), although external-interrupt
 * exiting, which KVM always sets, makes the VM exit independent of IF.
 */
ENTRY run_spin
	sti
	xor %eax, %eax
	.globl run_spin_loop
run_spin_loop:
	pause
	inc %rax
	cmpl $0, SPIN_FLAG
	je run_spin_loop
	.globl run_spin_loop_end
run_spin_loop_end:
	out %eax, $0x10
	HLT_END run_spin
run_blob_end:
