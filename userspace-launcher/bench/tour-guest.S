/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tour-guest: the built-in guest of `minikvm-launch --irq-tour` (README.md,
 * "--irq-tour"): every part of the interrupt machinery once, with counts
 * known in advance. 64-bit, linked and loaded at 0x10000, 2 vCPUs, in a VM
 * with KVM_CREATE_IRQCHIP; the launcher writes the counts below.
 *
 *   1 io     vCPU 0: N_io OUT to port 0x80 (each a userspace exit), then
 *            reads the launcher's count of them (IN port 0x87)
 *   2 ipi    vCPU 0: N_ipi fixed IPIs, vector 0x50, physical destination
 *            APIC ID 1, each after vCPU 1 (halted, IF=1) counted the last
 *   3 timer  vCPU 0: N_timer LAPIC one-shot interrupts, vector 0x40,
 *            re-armed after each, waiting in HLT
 *   4 device vCPU 0: N_dev doorbells (OUT port 0x85), each after the last
 *            was handled: the launcher raises GSI 10 through a resampling
 *            irqfd, IOAPIC pin 10 (level, active high, vector 0x60,
 *            APIC ID 1) interrupts vCPU 1, whose handler reads the status
 *            port 0x86 (acknowledge; must read the number of doorbells so
 *            far) and EOIs
 *   5 check  vCPU 0 compares every count with N_*, prints
 *            "irq-tour: io= ipi= timer= device= vcpus= result=ok|FAIL"
 *            and ends the run through port 0xF4 with 0 (ok) or 1
 *
 * Console: the launcher's 16550A at COM1, polled (LSR.THRE, then THR); its
 * interrupt is never enabled (IER 0, OUT2 0), and the launcher gives it no
 * irqfd either, so no UART interrupt mixes into the counts. The PICs are
 * masked (the IOAPIC delivers); nothing else is programmed to interrupt.
 * Handlers EOI before they count, so that an interrupt is complete
 * (the level one's GSI lowered) once the waiting vCPU 0 sees it counted.
 *
 * Entry state (the launcher's long mode): RDI = vCPU index, RSI = number
 * of vCPUs, RSP = own stack, RFLAGS.IF = 1, no IDT. vCPU 0 builds the IDT
 * at 0x8000 (256 gates; a vector without a handler prints its number and
 * ends the run with status 1).
 */
#define LAPIC		0xfee00000
#define IOAPIC		0xfec00000
#define IDT		0x8000

#define APIC_ID		0x20
#define APIC_EOI	0xb0
#define APIC_SVR	0xf0
#define APIC_ICRLO	0x300
#define APIC_ICRHI	0x310
#define APIC_LVTT	0x320
#define APIC_TMICT	0x380
#define APIC_TDCR	0x3e0

#define ICR_ASSERT	0x4000		/* level assert; fixed, physical, no shorthand */
#define LVT_MASKED	0x10000
#define REDIR_LEVEL	0x8000		/* IOREDTBL bit 15: level-triggered */

#define V_TIMER		0x40
#define V_IPI		0x50
#define V_DEV		0x60
#define V_SPURIOUS	0xff
#define DEV_PIN		10		/* the doorbell device's GSI = IOAPIC pin */

#define P_IO		0x80
#define P_DOORBELL	0x85
#define P_STATUS	0x86
#define P_IOCOUNT	0x87
#define P_DEBUGCON	0xe9
#define P_EXIT		0xf4

#define COM1		0x3f8
#define UART_THR	(COM1 + 0)	/* DLL with DLAB */
#define UART_IER	(COM1 + 1)	/* DLM with DLAB */
#define UART_FCR	(COM1 + 2)
#define UART_LCR	(COM1 + 3)
#define UART_MCR	(COM1 + 4)
#define UART_LSR	(COM1 + 5)
#define UART_SCR	(COM1 + 7)
#define LSR_THRE	0x20

/* PUTS label: the string; PUTN mem: the 64-bit number at mem, in decimal. */
.macro PUTS s
	lea	\s(%rip), %rsi
	call	puts
.endm
.macro PUTN m
	mov	\m(%rip), %rax
	call	putdec
.endm

	.code64
	.text
	.globl	start
start:
	jmp	main

/* Parameters, written by the launcher (offsets are the launcher's too). */
	.org	0x08
magic:	.ascii	"MKTOUR01"
	.org	0x10
p_io:	.quad	0
p_ipi:	.quad	0
p_timer: .quad	0
p_dev:	.quad	0
p_tmict: .quad	0		/* LAPIC timer initial count (divide by 1) */

/* Results, read by the launcher after the run. */
	.org	0x40
r_io:	.quad	0		/* the launcher's count of OUTs to port 0x80 */
r_ipi:	.quad	0		/* vCPU 1's count of vector 0x50 */
r_timer: .quad	0		/* vCPU 0's count of vector 0x40 */
r_dev:	.quad	0		/* vCPU 1's count of vector 0x60 */
r_dev_bad: .quad 0		/* status reads that did not return the doorbells so far */
r_vcpus: .quad	0		/* vCPUs that set up their APIC */
r_result: .quad	0		/* 1 ok, 2 FAIL */

/* Shared variables. */
	.org	0x80
idt_ready: .quad 0
dev_last: .quad	0		/* the last wrong status read */
n_tmp:	.quad	0
idtr:	.word	256 * 16 - 1
	.quad	IDT

main:
	mov	$LAPIC, %r15d
	test	%rdi, %rdi
	jnz	ap_main
	mov	%rsi, %rbp		/* number of vCPUs */
	call	setup_idt
	lidt	idtr(%rip)
	movl	$(0x100 | V_SPURIOUS), APIC_SVR(%r15)	/* software-enable the xAPIC */
	lock incq r_vcpus(%rip)
	mov	$0xff, %al		/* both PICs: everything masked */
	out	%al, $0x21
	out	%al, $0xa1
	call	uart_init
	movq	$1, idt_ready(%rip)

	PUTS	msg_banner1
	PUTN	p_io
	PUTS	msg_ipi
	PUTN	p_ipi
	PUTS	msg_timer
	PUTN	p_timer
	PUTS	msg_device
	PUTN	p_dev
	PUTS	msg_banner2

/* ---- 1 io ---- */
	mov	p_io(%rip), %rcx
	test	%rcx, %rcx
	jz	2f
1:	out	%al, $P_IO
	dec	%rcx
	jnz	1b
2:	in	$P_IOCOUNT, %eax		/* zero-extends into RAX */
	mov	%rax, r_io(%rip)
	PUTS	msg_s1a
	PUTN	p_io
	PUTS	msg_s1b
	PUTN	r_io
	PUTS	msg_s1c

/* ---- 2 ipi: wait until every vCPU has its APIC enabled (an IPI to a
 * software-disabled local APIC is dropped, SDM Vol. 3A 10.4.7.2). ---- */
1:	cmp	%rbp, r_vcpus(%rip)
	jae	2f
	pause
	jmp	1b
2:	movl	$(1 << 24), APIC_ICRHI(%r15)	/* destination APIC ID 1 (kept across ICR low writes) */
	xor	%ebx, %ebx
3:	cmp	p_ipi(%rip), %rbx
	jae	5f
	inc	%rbx
	movl	$(ICR_ASSERT | V_IPI), APIC_ICRLO(%r15)
4:	cmp	%rbx, r_ipi(%rip)		/* counted by vCPU 1: send the next */
	jae	3b
	pause
	jmp	4b
5:	PUTS	msg_s2a
	PUTN	p_ipi
	PUTS	msg_s2b
	PUTN	r_ipi
	PUTS	msg_nl

/* ---- 3 timer ---- */
	movl	$0xb, APIC_TDCR(%r15)		/* divide by 1 */
	movl	$V_TIMER, APIC_LVTT(%r15)	/* one-shot, unmasked; TMICT 0: not running */
	xor	%ebx, %ebx
1:	cmp	p_timer(%rip), %rbx
	jae	4f
	inc	%rbx
	mov	p_tmict(%rip), %rax
	mov	%eax, APIC_TMICT(%r15)		/* arms the one-shot */
2:	cli					/* check, then sti; hlt: no lost wake-up */
	cmp	%rbx, r_timer(%rip)
	jae	3f
	sti
	hlt
	jmp	2b
3:	sti
	jmp	1b
4:	movl	$(LVT_MASKED | V_TIMER), APIC_LVTT(%r15)
	PUTS	msg_s3a
	PUTN	p_timer
	PUTS	msg_s3b
	PUTN	r_timer
	PUTS	msg_nl

/* ---- 4 device: IOREDTBL[10] = vector 0x60, fixed, physical, level,
 * active high, unmasked, destination APIC ID 1 (the high dword first, so
 * that the entry is never unmasked with a stale destination). ---- */
	mov	$IOAPIC, %r14d
	movl	$(0x10 + 2 * DEV_PIN + 1), (%r14)
	movl	$(1 << 24), 0x10(%r14)
	movl	$(0x10 + 2 * DEV_PIN), (%r14)
	movl	$(REDIR_LEVEL | V_DEV), 0x10(%r14)
	xor	%ebx, %ebx
1:	cmp	p_dev(%rip), %rbx
	jae	3f
	inc	%rbx
	out	%al, $P_DOORBELL
2:	cmp	%rbx, r_dev(%rip)		/* handled (acknowledged, EOIed) by vCPU 1 */
	jae	1b
	pause
	jmp	2b
3:	movl	$(0x10 + 2 * DEV_PIN), (%r14)
	movl	$(0x10000 | REDIR_LEVEL | V_DEV), 0x10(%r14)	/* masked again */
	PUTS	msg_s4a
	PUTN	p_dev
	PUTS	msg_s4b
	PUTN	r_dev
	PUTS	msg_s4c
	PUTN	r_dev_bad
	PUTS	msg_nl
	cmpq	$0, r_dev_bad(%rip)
	je	1f
	PUTS	msg_badstat
	PUTN	dev_last
	PUTS	msg_nl

/* ---- 5 check ---- */
1:	xor	%r12d, %r12d			/* 0: every count as expected */
	mov	r_io(%rip), %rax
	cmp	p_io(%rip), %rax
	setne	%r12b
	mov	r_ipi(%rip), %rax
	cmp	p_ipi(%rip), %rax
	setne	%al
	or	%al, %r12b
	mov	r_timer(%rip), %rax
	cmp	p_timer(%rip), %rax
	setne	%al
	or	%al, %r12b
	mov	r_dev(%rip), %rax
	cmp	p_dev(%rip), %rax
	setne	%al
	or	%al, %r12b
	cmpq	$0, r_dev_bad(%rip)
	setne	%al
	or	%al, %r12b
	cmp	%rbp, r_vcpus(%rip)
	setne	%al
	or	%al, %r12b

	PUTS	msg_f_io
	PUTN	r_io
	PUTS	msg_ipi
	PUTN	r_ipi
	PUTS	msg_timer
	PUTN	r_timer
	PUTS	msg_device
	PUTN	r_dev
	PUTS	msg_f_vcpus
	PUTN	r_vcpus
	lea	msg_ok(%rip), %rsi
	test	%r12d, %r12d
	jz	2f
	lea	msg_fail(%rip), %rsi
2:	call	puts
	lea	1(%r12), %rax
	mov	%rax, r_result(%rip)
	mov	%r12d, %eax
	out	%al, $P_EXIT
3:	hlt
	jmp	3b

/* ---- vCPU 1 (and any other AP): enable the local APIC, then sleep in
 * HLT with IF=1; everything else happens in its handlers. */
ap_main:
1:	cmpq	$0, idt_ready(%rip)
	jne	2f
	pause
	jmp	1b
2:	lidt	idtr(%rip)
	movl	$(0x100 | V_SPURIOUS), APIC_SVR(%r15)
	lock incq r_vcpus(%rip)
3:	sti
	hlt
	jmp	3b

/* ---- interrupt handlers ---- */
h_ipi:					/* vCPU 1 */
	push	%rax
	mov	$LAPIC, %eax
	movl	$0, APIC_EOI(%rax)
	incq	r_ipi(%rip)
	pop	%rax
	iretq

h_timer:				/* vCPU 0 */
	push	%rax
	mov	$LAPIC, %eax
	movl	$0, APIC_EOI(%rax)
	incq	r_timer(%rip)
	pop	%rax
	iretq

/* vCPU 1: acknowledge at the device (the status read deasserts its line
 * and returns the interrupts raised so far: this one included, so the
 * count + 1), then EOI: the vector is level-triggered, so the EOI goes on
 * to the IOAPIC, which lowers GSI 10 and signals the launcher's resamplefd. */
h_dev:
	push	%rax
	push	%rdx
	in	$P_STATUS, %eax
	mov	r_dev(%rip), %rdx
	inc	%rdx
	cmp	%rdx, %rax
	je	1f
	incq	r_dev_bad(%rip)
	mov	%rax, dev_last(%rip)
1:	mov	$LAPIC, %eax
	movl	$0, APIC_EOI(%rax)
	incq	r_dev(%rip)
	pop	%rdx
	pop	%rax
	iretq

h_spurious:				/* no EOI for the spurious vector (SDM Vol. 3A 10.9) */
	iretq

/* [rsp] = vector (pushed by its stub); then RIP or an error code. Prints
 * the vector and the APIC ID, ends the run with status 1. */
unexpected:
	PUTS	msg_vec
	mov	(%rsp), %rax
	call	puthex
	PUTS	msg_vec_cpu
	mov	$LAPIC, %eax
	mov	APIC_ID(%rax), %eax
	shr	$24, %eax
	call	putdec
	PUTS	msg_vec_rip
	mov	8(%rsp), %rax
	call	puthex
	mov	$' ', %al
	call	putc
	mov	16(%rsp), %rax
	call	puthex
	PUTS	msg_nl
	movq	$2, r_result(%rip)
	mov	$1, %al
	out	%al, $P_EXIT
1:	hlt
	jmp	1b

/* ---- console: COM1, polled ---- */
/* 115200 8N1, FIFOs on, DTR and RTS, OUT2 off (PC boards gate IRQ 4 with
 * it), no interrupt enabled. No UART (the scratch register does not keep a
 * value): a message on the debug console (port 0xE9) and status 1. */
uart_init:
	mov	$UART_SCR, %dx
	mov	$0x5a, %al
	out	%al, %dx
	in	%dx, %al
	cmp	$0x5a, %al
	jne	1f
	mov	$UART_IER, %dx
	xor	%al, %al
	out	%al, %dx
	mov	$UART_LCR, %dx
	mov	$0x80, %al			/* DLAB */
	out	%al, %dx
	mov	$UART_THR, %dx			/* DLL: divisor 1 */
	mov	$1, %al
	out	%al, %dx
	mov	$UART_IER, %dx			/* DLM */
	xor	%al, %al
	out	%al, %dx
	mov	$UART_LCR, %dx
	mov	$0x03, %al			/* 8N1, DLAB off */
	out	%al, %dx
	mov	$UART_FCR, %dx
	mov	$0x07, %al			/* FIFOs on, both cleared */
	out	%al, %dx
	mov	$UART_MCR, %dx
	mov	$0x03, %al			/* DTR RTS */
	out	%al, %dx
	ret
1:	lea	msg_nouart(%rip), %rsi
2:	lodsb
	test	%al, %al
	jz	3f
	out	%al, $P_DEBUGCON
	jmp	2b
3:	movq	$2, r_result(%rip)
	mov	$1, %al
	out	%al, $P_EXIT
4:	hlt
	jmp	4b

putc:					/* AL; preserves every register */
	push	%rax
	push	%rdx
	mov	%al, %ah
	mov	$UART_LSR, %dx
1:	in	%dx, %al
	test	$LSR_THRE, %al
	jz	1b
	mov	$UART_THR, %dx
	mov	%ah, %al
	out	%al, %dx
	pop	%rdx
	pop	%rax
	ret

puts:					/* the NUL-terminated string at RSI; clobbers RSI, RAX */
	lodsb
	test	%al, %al
	jz	1f
	call	putc
	jmp	puts
1:	ret

putdec:					/* RAX in decimal; clobbers RAX */
	push	%rbx
	push	%rcx
	push	%rdx
	mov	$10, %ebx
	xor	%ecx, %ecx
1:	xor	%edx, %edx
	div	%rbx
	push	%rdx
	inc	%ecx
	test	%rax, %rax
	jnz	1b
2:	pop	%rax
	add	$'0', %al
	call	putc
	dec	%ecx
	jnz	2b
	pop	%rdx
	pop	%rcx
	pop	%rbx
	ret

puthex:					/* RAX in hex, "0x" and 16 digits; clobbers RAX */
	push	%rcx
	push	%rdx
	mov	%rax, %rdx
	mov	$'0', %al
	call	putc
	mov	$'x', %al
	call	putc
	mov	$16, %ecx
1:	rol	$4, %rdx
	mov	%edx, %eax
	and	$0xf, %eax
	cmp	$10, %eax
	jb	2f
	add	$('a' - '0' - 10), %eax
2:	add	$'0', %eax
	call	putc
	dec	%ecx
	jnz	1b
	pop	%rdx
	pop	%rcx
	ret

/* ---- IDT ---- */
setup_idt:				/* every vector -> its stub, then the handlers */
	call	idt_fill_stubs
	mov	$V_TIMER, %eax
	lea	h_timer(%rip), %rdx
	call	set_gate
	mov	$V_IPI, %eax
	lea	h_ipi(%rip), %rdx
	call	set_gate
	mov	$V_DEV, %eax
	lea	h_dev(%rip), %rdx
	call	set_gate
	mov	$V_SPURIOUS, %eax
	lea	h_spurious(%rip), %rdx
	call	set_gate
	ret

#include "../guests/idt.inc"

msg_banner1:	.asciz	"irq-tour: 2 vCPUs, COM1 console (polled); stages: io="
msg_ipi:	.asciz	" ipi="
msg_timer:	.asciz	" timer="
msg_device:	.asciz	" device="
msg_banner2:	.asciz	"\n"
msg_s1a:	.asciz	"irq-tour: stage 1 io: "
msg_s1b:	.asciz	" OUT to port 0x80 by vCPU0; the launcher counted "
msg_s1c:	.asciz	" userspace exits on it\n"
msg_s2a:	.asciz	"irq-tour: stage 2 ipi: "
msg_s2b:	.asciz	" fixed IPIs vector 0x50 from vCPU0 to APIC ID 1; vCPU1 counted "
msg_s3a:	.asciz	"irq-tour: stage 3 timer: "
msg_s3b:	.asciz	" LAPIC one-shot interrupts vector 0x40 on vCPU0; counted "
msg_s4a:	.asciz	"irq-tour: stage 4 device: "
msg_s4b:	.asciz	" doorbells (port 0x85) -> resampling irqfd GSI 10 -> IOAPIC pin 10 (level, vector 0x60) -> vCPU1; counted "
msg_s4c:	.asciz	", wrong status reads "
msg_badstat:	.asciz	"irq-tour: last wrong status read (port 0x86): "
msg_f_io:	.asciz	"irq-tour: io="
msg_f_vcpus:	.asciz	" vcpus="
msg_ok:		.asciz	" result=ok\n"
msg_fail:	.asciz	" result=FAIL\n"
msg_nl:		.asciz	"\n"
msg_vec:	.asciz	"\nirq-tour: unexpected vector "
msg_vec_cpu:	.asciz	" on APIC ID "
msg_vec_rip:	.asciz	", next stack words "
msg_nouart:	.asciz	"irq-tour: no 16550 at COM1 (scratch register); result=FAIL\n"

	IDT_STUBS
