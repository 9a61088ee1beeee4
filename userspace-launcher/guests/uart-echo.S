/* SPDX-License-Identifier: GPL-2.0 */
/*
 * uart-echo: an interrupt-driven console on the launcher's 16550A UART
 * (minikvm-launch --uart; README.md, "--uart"). 64-bit, linked and loaded
 * at 0x10000, one vCPU:
 *
 *   printf 'hello\nquit\n' | minikvm-launch --uart --load uart-echo.bin
 *
 * prints the banner, "HELLO", "QUIT" and a closing line with the number of
 * UART interrupts taken, then exits with status 0 through port 0xF4.
 *
 * Everything after the set-up is done by interrupts: the IOAPIC routes
 * pin 4 (COM1's IRQ, level-triggered, active high) to vector 0x24 on APIC
 * ID 0; the UART interrupts for received data (IER.ERBFI) and for an
 * empty transmitter (IER.ETBEI, enabled only while the transmit ring
 * holds bytes); the main loop only halts. The handler reads IIR until it
 * says "no interrupt pending", serving each source (line status: read LSR;
 * received data or FIFO timeout: read RBR while LSR.DR; THRE: up to 16
 * bytes into THR, or ETBEI off when the ring is empty; modem status: read
 * MSR), then EOIs at the local APIC, which lowers the launcher's
 * resampling irqfd line (the launcher raises it again if the UART still
 * wants service).
 *
 * Received lines (up to 127 characters, "\r" ignored) are echoed in upper
 * case; the line "quit" ends the run. Exit status: 0 done, 2 no UART at
 * 0x3F8 (the scratch register does not keep a value), 3 an unexpected
 * vector (its number on the debug console, port 0xE9).
 */
#define LAPIC		0xfee00000
#define IOAPIC		0xfec00000
#define IDT		0x8000
#define APIC_EOI	0xb0
#define APIC_SVR	0xf0

#define COM1		0x3f8
#define RBR		(COM1 + 0)	/* THR on write; DLL with DLAB */
#define IER		(COM1 + 1)	/* DLM with DLAB */
#define IIR		(COM1 + 2)	/* FCR on write */
#define LCR		(COM1 + 3)
#define MCR		(COM1 + 4)
#define LSR		(COM1 + 5)
#define MSR		(COM1 + 6)
#define SCR		(COM1 + 7)
#define IER_RX		0x01
#define IER_THRE	0x02
#define LSR_DR		0x01
#define LSR_TEMT	0x40

#define UART_PIN	4
#define V_UART		0x24
#define V_SPURIOUS	0xff
#define P_CON		0xe9
#define P_EXIT		0xf4
#define RING		4096		/* transmit ring size (a power of two) */

	.code64
	.text
	.globl	start
start:
	call	setup_idt
	lidt	idtr(%rip)
	mov	$LAPIC, %r15d
	movl	$(0x100 | V_SPURIOUS), APIC_SVR(%r15)	/* software-enable the xAPIC */
	mov	$0xff, %al			/* PIC: everything masked (the IOAPIC delivers) */
	out	%al, $0x21
	out	%al, $0xa1

	/* IOREDTBL[4]: destination APIC ID 0; fixed, physical, level, active high, vector 0x24. */
	mov	$IOAPIC, %r14d
	movl	$(0x10 + 2 * UART_PIN + 1), (%r14)
	movl	$0, 0x10(%r14)
	movl	$(0x10 + 2 * UART_PIN), (%r14)
	movl	$((1 << 15) | V_UART), 0x10(%r14)

	/* The UART: is it there (scratch register), 115200 8N1, FIFOs, OUT2. */
	mov	$SCR, %dx
	mov	$0x5a, %al
	out	%al, %dx
	in	%dx, %al
	cmp	$0x5a, %al
	jne	no_uart
	mov	$LCR, %dx
	mov	$0x80, %al			/* DLAB */
	out	%al, %dx
	mov	$RBR, %dx			/* DLL = 1: 115200 baud */
	mov	$1, %al
	out	%al, %dx
	mov	$IER, %dx			/* DLM = 0 */
	xor	%eax, %eax
	out	%al, %dx
	mov	$LCR, %dx
	mov	$0x03, %al			/* 8 data bits, no parity, 1 stop bit; DLAB off */
	out	%al, %dx
	mov	$IIR, %dx			/* FCR: FIFOs on, both cleared, RX trigger 1 byte */
	mov	$0x07, %al
	out	%al, %dx
	mov	$MCR, %dx			/* DTR, RTS, OUT2 (gates the IRQ on PCs) */
	mov	$0x0b, %al
	out	%al, %dx
	mov	$LSR, %dx			/* clear stale status */
	in	%dx, %al
	mov	$MSR, %dx
	in	%dx, %al
	mov	$IIR, %dx
	in	%dx, %al

	lea	banner(%rip), %rsi
	call	tx_puts
	mov	$IER, %dx			/* received data interrupts */
	mov	$IER_RX, %al
	out	%al, %dx
	call	tx_kick				/* THRE interrupts send the banner */

main_loop:
	cli
	cmpq	$0, quit(%rip)
	je	1f
	cmpq	$0, bye_queued(%rip)
	jne	2f
	movq	$1, bye_queued(%rip)
	lea	msg_bye(%rip), %rsi
	call	tx_puts
	mov	irqs(%rip), %rax
	call	tx_putdec
	lea	msg_bye2(%rip), %rsi
	call	tx_puts
	call	tx_kick
	jmp	1f
2:	mov	tx_head(%rip), %rax		/* everything sent? */
	cmp	tx_tail(%rip), %rax
	jne	1f
	mov	$LSR, %dx
	in	%dx, %al
	test	$LSR_TEMT, %al
	jz	1f
	xor	%eax, %eax
	out	%al, $P_EXIT
1:	sti
	hlt					/* sti's shadow: no interrupt lost before the HLT */
	jmp	main_loop

no_uart:
	lea	msg_no_uart(%rip), %rsi
	call	con_puts
	mov	$2, %al
	out	%al, $P_EXIT
1:	hlt
	jmp	1b

/* ---- the UART's interrupt handler ---- */
uart_isr:
	push	%rax
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	incq	irqs(%rip)
1:	mov	$IIR, %dx
	in	%dx, %al
	test	$1, %al				/* no interrupt pending */
	jnz	9f
	and	$0x0f, %al
	cmp	$0x06, %al
	je	5f
	cmp	$0x04, %al
	je	2f
	cmp	$0x0c, %al
	je	2f
	cmp	$0x02, %al
	je	4f
	mov	$MSR, %dx			/* 0x00: modem status */
	in	%dx, %al
	jmp	1b
5:	mov	$LSR, %dx			/* line status: reading LSR clears it */
	in	%dx, %al
	jmp	1b
2:	mov	$LSR, %dx			/* received data: drain the FIFO */
	in	%dx, %al
	test	$LSR_DR, %al
	jz	1b
	mov	$RBR, %dx
	in	%dx, %al
	call	rx_char
	jmp	2b
4:	call	tx_fill
	jmp	1b
9:	mov	$LAPIC, %eax
	movl	$0, APIC_EOI(%rax)
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rax
	iretq

h_spurious:
	iretq

/* rx_char: AL = a received byte. */
rx_char:
	cmp	$'\r', %al
	je	9f
	cmp	$'\n', %al
	je	1f
	mov	line_len(%rip), %rcx
	cmp	$127, %rcx
	jae	9f
	lea	line(%rip), %rdi
	mov	%al, (%rdi, %rcx)
	incq	line_len(%rip)
9:	ret
1:	/* a whole line: "quit"? then echo it in upper case */
	cmpq	$4, line_len(%rip)
	jne	2f
	cmpl	$0x74697571, line(%rip)		/* "quit" */
	jne	2f
	movq	$1, quit(%rip)
2:	xor	%ecx, %ecx
3:	cmp	line_len(%rip), %rcx
	jae	4f
	lea	line(%rip), %rdi
	mov	(%rdi, %rcx), %al
	cmp	$'a', %al
	jb	5f
	cmp	$'z', %al
	ja	5f
	sub	$0x20, %al
5:	push	%rcx
	call	tx_put
	pop	%rcx
	inc	%rcx
	jmp	3b
4:	mov	$'\n', %al
	call	tx_put
	movq	$0, line_len(%rip)
	call	tx_kick
	ret

/* tx_put: AL into the transmit ring (dropped when full). Clobbers RCX, RDI. */
tx_put:
	mov	tx_head(%rip), %rcx
	lea	1(%rcx), %rdi
	and	$(RING - 1), %rdi
	cmp	tx_tail(%rip), %rdi
	je	1f
	push	%rdx
	lea	ring(%rip), %rdx
	mov	%al, (%rdx, %rcx)
	pop	%rdx
	mov	%rdi, tx_head(%rip)
1:	ret

/* tx_puts: the NUL-terminated string at RSI into the ring. */
tx_puts:
	lodsb
	test	%al, %al
	jz	1f
	call	tx_put
	jmp	tx_puts
1:	ret

/* tx_putdec: RAX in decimal into the ring. */
tx_putdec:
	push	%rbx
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
	push	%rcx
	call	tx_put
	pop	%rcx
	dec	%ecx
	jnz	2b
	pop	%rbx
	ret

/* tx_kick: THRE interrupts on (the UART interrupts at once: THR is empty). */
tx_kick:
	mov	$IER, %dx
	mov	$(IER_RX | IER_THRE), %al
	out	%al, %dx
	ret

/* tx_fill (THRE interrupt): up to 16 bytes (the TX FIFO) from the ring;
 * with the ring empty, THRE interrupts off. */
tx_fill:
	mov	$16, %ecx
	lea	ring(%rip), %rsi
1:	mov	tx_tail(%rip), %rdi
	cmp	tx_head(%rip), %rdi
	je	2f
	mov	(%rsi, %rdi), %al
	mov	$RBR, %dx
	out	%al, %dx
	inc	%rdi
	and	$(RING - 1), %rdi
	mov	%rdi, tx_tail(%rip)
	dec	%ecx
	jnz	1b
	ret
2:	cmp	$16, %ecx			/* nothing sent this time: stop THRE interrupts */
	jne	3f
	mov	$IER, %dx
	mov	$IER_RX, %al
	out	%al, %dx
3:	ret

/* con_puts: the string at RSI on the debug console (errors only). */
con_puts:
	lodsb
	test	%al, %al
	jz	1f
	out	%al, $P_CON
	jmp	con_puts
1:	ret

unexpected:				/* [rsp] = vector */
	lea	msg_vec(%rip), %rsi
	call	con_puts
	mov	(%rsp), %rax
	mov	%al, %ah
	shr	$4, %al
	call	hexdigit
	mov	%ah, %al
	and	$0xf, %al
	call	hexdigit
	mov	$'\n', %al
	out	%al, $P_CON
	mov	$3, %al
	out	%al, $P_EXIT
1:	hlt
	jmp	1b
hexdigit:
	and	$0xf, %al
	add	$'0', %al
	cmp	$'9', %al
	jbe	1f
	add	$('a' - '9' - 1), %al
1:	out	%al, $P_CON
	ret

setup_idt:				/* every vector -> its stub; then the handlers */
	call	idt_fill_stubs
	mov	$V_UART, %eax
	lea	uart_isr(%rip), %rdx
	call	set_gate
	mov	$V_SPURIOUS, %eax
	lea	h_spurious(%rip), %rdx
	call	set_gate
	ret

#include "idt.inc"

banner:		.asciz	"uart-echo: interrupt-driven 16550A console (COM1, IRQ 4 -> IOAPIC pin 4, level, vector 0x24); lines are echoed in upper case, \"quit\" ends\n"
msg_bye:	.asciz	"uart-echo: bye after "
msg_bye2:	.asciz	" UART interrupts\n"
msg_no_uart:	.asciz	"uart-echo: no 16550 at 0x3f8 (scratch register); run with --uart\n"
msg_vec:	.asciz	"uart-echo: unexpected vector 0x"

	.balign	8
idtr:	.word	256 * 16 - 1
	.quad	IDT
irqs:	.quad	0
quit:	.quad	0
bye_queued: .quad 0
tx_head: .quad	0
tx_tail: .quad	0
line_len: .quad	0
line:	.fill	128, 1, 0
ring:	.fill	RING, 1, 0

	IDT_STUBS
