/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for irq_hostile_test.c: the agent's interrupt stubs, and a
 * loop that performs a list of accesses the test generated (random values
 * for the LAPIC page, the IOAPIC, the PIC/ELCR and PIT ports, IPI bursts).
 *
 * Registers set by the test: %r15 mailbox (for the stubs), %r14 the list
 * (24-byte entries: type, address or port, value), %r13 its length, %r12
 * rounds.  After each round an OUT to GUEST_DONE_PORT (value: rounds
 * left); after the last one, %eax = 0.  IF stays 1 (STI; PAUSE windows),
 * so a stuck round never spins with interrupts off.
 */
#include "guest_layout.h"
#define BLOB_START irq_blob_start

#define OP_W32		0
#define OP_R32		1
#define OP_OUT8		2
#define OP_IN8		3
#define OP_PAUSE	4

	.section .rodata.guest, "a"
	.globl irq_blob_start, irq_blob_end
irq_blob_start:
#include "irq_agent.inc"

ENTRY hostile_main
	/* PIC vector bases 0x20/0x28 first: KVM's PIC starts at base 0, and
	 * the BSP's LVT0 is ExtINT, so the first PIC interrupt would hit an
	 * exception stub.  (The random bytes for 0x21/0xa1 keep bit 5.) */
	mov $0x11, %al
	out %al, $0x20
	mov $0x20, %al
	out %al, $0x21
	mov $0x04, %al
	out %al, $0x21
	mov $0x01, %al
	out %al, $0x21
	mov $0x11, %al
	out %al, $0xa0
	mov $0x28, %al
	out %al, $0xa1
	mov $0x02, %al
	out %al, $0xa1
	mov $0x01, %al
	out %al, $0xa1
	sti
1:	mov %r14, %rbx
	mov %r13, %rcx
	test %rcx, %rcx
	jz 9f
2:	mov (%rbx), %eax
	mov 8(%rbx), %rdx
	mov 16(%rbx), %rsi
	cmp $OP_W32, %eax
	jne 3f
	mov %esi, (%rdx)
	jmp 8f
3:	cmp $OP_R32, %eax
	jne 4f
	mov (%rdx), %eax
	jmp 8f
4:	cmp $OP_OUT8, %eax
	jne 5f
	mov %esi, %eax
	out %al, %dx
	jmp 8f
5:	cmp $OP_IN8, %eax
	jne 6f
	in %dx, %al
	jmp 8f
6:	sti
	mov $16, %eax
7:	pause
	dec %eax
	jnz 7b
8:	add $24, %rbx
	dec %rcx
	jnz 2b
9:	dec %r12
	mov %r12d, %eax
	out %eax, $GUEST_DONE_PORT
	test %r12, %r12
	jnz 1b
10:	sti
	pause
	mov $0, %eax
	out %eax, $GUEST_DONE_PORT
	jmp 10b
irq_blob_end:
