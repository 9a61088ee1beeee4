/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for smp_test.c (64-bit mode): two vCPUs, different code, the
 * same memory.
 */
#include "guest_layout.h"
#define BLOB_START smp_blob_start

#define FLAG0 (DATA_GPA + 0)	/* written by vCPU 0 */
#define FLAG1 (DATA_GPA + 4)	/* written by vCPU 1 */

	.section .rodata.guest, "a"
	.globl smp_blob_start, smp_blob_end
smp_blob_start:
	.code64

/*
 * vCPU 0: publish FLAG0, report, wait for vCPU 1's answer, report it.
 * The waits spin without exits; STI and PAUSE let the host schedule the
 * other vCPU's thread on a single CPU (see run_guest.S: Bochs 2.7 does not
 * take the host's timer interrupt from a guest spinning with IF = 0).
 */
ENTRY smp_cpu0
	sti
	movl $0x11111111, FLAG0
	mov $0xc0c0c0c0, %eax
	out %eax, $0x10
1:	pause
	cmpl $0x22222222, FLAG1
	jne 1b
	mov FLAG1, %eax
	out %eax, $0x11
	HLT_END smp_cpu0

/* vCPU 1: wait for FLAG0, report what it saw, answer in FLAG1. */
ENTRY smp_cpu1
	sti
1:	pause
	cmpl $0x11111111, FLAG0
	jne 1b
	mov FLAG0, %eax
	out %eax, $0x20
	movl $0x22222222, FLAG1
	HLT_END smp_cpu1

/* Both: RCX OUTs of 0, 1, 2... to port RDX, each vCPU its own port. */
ENTRY smp_count
	xor %eax, %eax
1:	out %eax, %dx
	inc %eax
	cmp %ecx, %eax
	jne 1b
	HLT_END smp_count
smp_blob_end:
