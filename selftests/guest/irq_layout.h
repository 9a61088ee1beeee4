/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Layout shared by the interrupt-test agent (irq_agent.inc) and its host
 * side (irq_util.c): the mailbox each vCPU's agent reads its commands from,
 * the command numbers, the EOI modes of its interrupt stubs, and where the
 * vCPUs' stacks and mailboxes live (free parts of guest_layout.h's map).
 * Nothing but #defines: the .S files include it.
 */
#ifndef IRQ_LAYOUT_H
#define IRQ_LAYOUT_H

#define IRQ_MAX_VCPUS	4
#define MBOX_GPA(id)	(0x58000 + (id) * 0x400)	/* one per vCPU */
#define IRQ_STACK_TOP(id) (0x80000 - (id) * 0x4000)	/* 16 KiB each */

#define LAPIC_GPA	0xfee00000
#define IOAPIC_GPA	0xfec00000

/* The agent's ports: 4-byte OUTs, never handled by an in-kernel device. */
#define AGENT_PORT	0xf0	/* "next command, please" (value: sequence) */
#define AGENT_BAD_PORT	0xf1	/* unknown command */
#define GUEST_DONE_PORT	0xf2	/* suite-specific guests: finished */

/* Mailbox: 64-bit words at these offsets, then a log of vectors. */
#define MB_CMD		0x00
#define MB_A0		0x08
#define MB_A1		0x10
#define MB_A2		0x18
#define MB_RES		0x20	/* result of R32, IN8, RDMSR, CALL */
#define MB_COUNT	0x28	/* interrupts taken */
#define MB_EOI		0x30	/* EOI_* bits: what the stub acknowledges */
#define MB_LAST		0x38	/* vector of the last interrupt */
#define MB_IF		0x40	/* bit 0: RFLAGS.IF while waiting for commands */
#define MB_SEQ		0x48	/* commands asked for so far */
#define MB_LOG		0x100	/* byte per interrupt: log[count % MB_LOG_LEN] */
#define MB_LOG_LEN	512

/* Commands: a0, a1, a2 are MB_A0..MB_A2. */
#define CMD_NOP		0
#define CMD_W32		1	/* *(u32 *)a0 = a1 */
#define CMD_R32		2	/* res = *(u32 *)a0 */
#define CMD_OUT8	3	/* outb a1, port a0 */
#define CMD_IN8		4	/* res = inb port a0 */
#define CMD_WAIT	5	/* STI; HLT until MB_COUNT >= a0 */
#define CMD_IDLE	6	/* STI; a0 x PAUSE */
#define CMD_WRMSR	7	/* MSR a0 = a1 */
#define CMD_RDMSR	8	/* res = MSR a0 */
#define CMD_CALL	9	/* res = a0(a1, a2), a guest function */
#define AGENT_NR_CMDS	10

#define EOI_LAPIC	1	/* write 0 to the LAPIC's EOI register */
#define EOI_PIC_SLAVE	2	/* non-specific EOI (0x20) to port 0xa0 */
#define EOI_PIC_MASTER	4	/* non-specific EOI (0x20) to port 0x20 */

#define AGENT_STUB_SIZE	16

#endif /* IRQ_LAYOUT_H */
