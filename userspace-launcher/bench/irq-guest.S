/* SPDX-License-Identifier: GPL-2.0 */
/*
 * irq-guest: the built-in guest of `minikvm-launch --bench-irq KIND N`
 * (README.md, "--bench-irq"). 64-bit, linked and loaded at 0x10000; the
 * launcher embeds the flat binary, writes the parameters below and creates
 * the VM with KVM_CREATE_IRQCHIP (in-kernel PIC, IOAPIC and local APICs).
 *
 * Measured regions ("windows") are bracketed by OUT AL, 0x81 (begin window
 * AL) and OUT AL, 0x82 (end window AL): the launcher reads the vCPU's
 * kernel "exits" counter and CLOCK_MONOTONIC at each (the counter before
 * the clock at a begin, after it at an end, so that neither is timed).
 * The guest reads its TSC just inside each window as well, for the
 * numbers only it can see (the cost of the EOI write itself, the time the
 * LAPIC timer's interrupts steal from a loop).
 *
 * Entry state (the launcher's long mode): RDI = vCPU index, RSI = number
 * of vCPUs, RSP = own stack, RFLAGS.IF = 1, no IDT. vCPU 0 builds the IDT
 * at 0x8000 (256 gates; vectors without a handler print their number and
 * end the run with status 3), software-enables its xAPIC (spurious vector
 * 0xFF) and runs the benchmark. Interrupts stay enabled except in the
 * "cli; check; sti; hlt" idiom: under Bochs a long exit-free stretch with
 * IF=0 stopped the testbed's own kernel (README.md, "Testbed notes").
 *
 * Status on port 0xF4: 0 done (and results.done = 1), 2 the guest saw a
 * wrong value (message on port 0xE9), 3 an unexpected vector.
 */
#define LAPIC		0xfee00000
#define IOAPIC		0xfec00000
#define IDT		0x8000

#define APIC_TPR	0x80
#define APIC_EOI	0xb0
#define APIC_SVR	0xf0
#define APIC_ICRLO	0x300
#define APIC_ICRHI	0x310
#define APIC_LVTT	0x320
#define APIC_TMICT	0x380
#define APIC_TDCR	0x3e0

#define ICR_ASSERT	0x4000
#define ICR_SELF	0x40000		/* destination shorthand 01: self */
#define LVT_MASKED	0x10000
#define LVT_PERIODIC	0x20000

#define V_PING		0x40		/* vCPU 0 -> vCPU 1 */
#define V_PONG		0x41		/* vCPU 1 -> vCPU 0 */
#define V_SELF		0x42		/* self-IPI (eoi) */
#define V_TIMER		0x43		/* LAPIC timer (timer) */
#define V_IOAPIC	0x44		/* IOAPIC pin (irqline) */
#define V_IRQFD		0x45		/* MSI route of the launcher's irqfd (irqfd) */
#define V_SPURIOUS	0xff

#define P_BEGIN		0x81
#define P_END		0x82
#define P_IRQ		0x83		/* userspace raises and lowers the GSI */
#define P_ACK		0x84		/* irqfd: an ioeventfd the launcher's thread waits on */
#define P_CON		0xe9
#define P_EXIT		0xf4

#define K_IPI		1
#define K_EOI		2
#define K_TIMER		3
#define K_IRQLINE	4
#define K_PIC		5
#define K_IOAPIC	6
#define K_IRQFD		7
#define K_TPR		8
#define K_CR8		9

/* BEGIN w / END w, slot: window w; END stores the TSC ticks since BEGIN. */
.macro BEGIN w
	mov	$\w, %al
	out	%al, $P_BEGIN
	call	rdtsc64
	mov	%rax, tsc0(%rip)
.endm
.macro END w, slot
	call	rdtsc64
	sub	tsc0(%rip), %rax
	mov	%rax, \slot(%rip)
	mov	$\w, %al
	out	%al, $P_END
.endm

	.code64
	.text
	.globl	start
start:
	jmp	main

/* Parameters, written by the launcher (offsets are the launcher's too). */
	.org	0x08
magic:	.ascii	"MKIRQB01"
	.org	0x10
p_kind:	.quad	0		/* K_* */
p_n:	.quad	0		/* operations in the measured window */
p_arg:	.quad	0		/* timer: initial count; irqline: IOAPIC pin */
p_arg2:	.quad	0		/* timer: TSC ticks of each calibration run */

/* Results, read by the launcher after the run. */
	.org	0x40
r_done:	.quad	0		/* 1: the benchmark completed */
r_ticks: .quad	0		/* TSC ticks of window 1 */
r_count: .quad	0		/* interrupts handled (the counting handler's total) */
r_a:	.quad	0		/* eoi: TSC ticks of all EOI writes; timer: loop iterations in window 1 */
r_b:	.quad	0		/* timer: calibration run ticks */
r_c:	.quad	0		/* timer: calibration run iterations */
r_d:	.quad	0		/* timer: ticks of window 2 (control, timer off) */
r_e:	.quad	0		/* timer: loop iterations in window 2 */

/* Shared variables. */
	.org	0x80
idt_ready: .quad 0
ready1:	.quad	0
done1:	.quad	0
count0:	.quad	0		/* vCPU 0's counting handler (self, timer, ioapic) */
count1:	.quad	0		/* vCPU 1's ping handler */
pong:	.quad	0
eoi_ticks: .quad 0
tsc0:	.quad	0
idtr:	.word	256 * 16 - 1
	.quad	IDT

main:
	mov	%rdi, %rbp		/* vCPU index */
	mov	$LAPIC, %r15d
	mov	$IOAPIC, %r14d
	test	%rbp, %rbp
	jnz	ap_main
	call	setup_idt
	lidt	idtr(%rip)
	movl	$(0x100 | V_SPURIOUS), APIC_SVR(%r15)
	movq	$1, idt_ready(%rip)
	mov	p_kind(%rip), %rax
	cmp	$K_IPI, %rax
	je	bench_ipi
	cmp	$K_EOI, %rax
	je	bench_eoi
	cmp	$K_TIMER, %rax
	je	bench_timer
	cmp	$K_IRQLINE, %rax
	je	bench_irqline
	cmp	$K_PIC, %rax
	je	bench_pic
	cmp	$K_IOAPIC, %rax
	je	bench_ioapic
	cmp	$K_IRQFD, %rax
	je	bench_irqfd
	cmp	$K_TPR, %rax
	je	bench_tpr
	cmp	$K_CR8, %rax
	je	bench_cr8
	lea	msg_kind(%rip), %rsi
	jmp	fail_val

finish:
	movq	$1, r_done(%rip)
	xor	%eax, %eax
	out	%al, $P_EXIT
1:	hlt
	jmp	1b

/* ---- ipi: ping-pong. vCPU 0 sends V_PING to vCPU 1 and halts; vCPU 1's
 * handler EOIs and sends V_PONG back; vCPU 0's handler EOIs. One operation
 * = one round trip (two IPIs, two EOIs). Both vCPUs bracket window 1. */
bench_ipi:
	movl	$(1 << 24), APIC_ICRHI(%r15)	/* destination: APIC ID 1, kept */
1:	cmpq	$0, ready1(%rip)
	jne	2f
	pause
	jmp	1b
2:	mov	p_n(%rip), %r12
	BEGIN	1
	xor	%ebx, %ebx
3:	cli
	movq	$0, pong(%rip)
	movl	$(ICR_ASSERT | V_PING), APIC_ICRLO(%r15)
4:	cmpq	$0, pong(%rip)
	jne	5f
	sti
	hlt
	cli
	jmp	4b
5:	sti
	inc	%rbx
	cmp	%r12, %rbx
	jb	3b
	END	1, r_ticks
6:	cmpq	$0, done1(%rip)		/* vCPU 1 has closed its window */
	jne	7f
	pause
	jmp	6b
7:	mov	count1(%rip), %rax
	mov	%rax, r_count(%rip)
	cmp	%r12, %rax
	je	finish
	lea	msg_count(%rip), %rsi
	jmp	fail_val

ap_main:
	cmpq	$K_IPI, p_kind(%rip)
	jne	9f
1:	cmpq	$0, idt_ready(%rip)
	jne	2f
	pause
	jmp	1b
2:	lidt	idtr(%rip)
	movl	$(0x100 | V_SPURIOUS), APIC_SVR(%r15)
	movl	$0, APIC_ICRHI(%r15)		/* replies go to APIC ID 0 */
	mov	p_n(%rip), %r12
	mov	$1, %al
	out	%al, $P_BEGIN
	movq	$1, ready1(%rip)
3:	cli
	cmp	%r12, count1(%rip)
	jae	4f
	sti
	hlt
	jmp	3b
4:	sti
	mov	$1, %al
	out	%al, $P_END
	movq	$1, done1(%rip)
5:	hlt
	jmp	5b
9:	lea	msg_ap(%rip), %rsi
	mov	%rbp, %rax
	jmp	fail_val

/* ---- eoi: N self-IPIs; the handler times its EOI write with RDTSC. */
bench_eoi:
	mov	p_n(%rip), %r12
	BEGIN	1
	xor	%ebx, %ebx
1:	inc	%rbx
	movl	$(ICR_SELF | ICR_ASSERT | V_SELF), APIC_ICRLO(%r15)
2:	cmp	%rbx, count0(%rip)	/* delivered at the VM entry after the ICR write */
	jae	3f
	pause
	jmp	2b
3:	cmp	%r12, %rbx
	jb	1b
	END	1, r_ticks
	mov	eoi_ticks(%rip), %rax
	mov	%rax, r_a(%rip)
	mov	count0(%rip), %rax
	mov	%rax, r_count(%rip)
	jmp	finish

/* ---- timer: the time N periodic LAPIC timer interrupts steal from a loop.
 * spin's iteration cost comes from calibration runs without interrupts
 * (the best of three); window 1 runs the loop until N interrupts were
 * handled, window 2 (the control) runs it as long again with the timer
 * off, so that what else interrupts the loop (the host's own ticks) cancels. */
bench_timer:
	movl	$0xb, APIC_TDCR(%r15)			/* divide by 1 */
	movl	$(LVT_PERIODIC | V_TIMER), APIC_LVTT(%r15)	/* TMICT is still 0: stopped */
	xor	%r10d, %r10d
	mov	$3, %r9d
1:	call	rdtsc64
	mov	%rax, %r8
	mov	%rax, %r12
	add	p_arg2(%rip), %r12
	mov	$-1, %r13
	call	spin
	sub	%r8, %rax
	cmp	%r10, %rbx
	jbe	2f
	mov	%rbx, %r10
	mov	%rax, %r11
2:	dec	%r9d
	jnz	1b
	mov	%r11, r_b(%rip)
	mov	%r10, r_c(%rip)

	movq	$0, count0(%rip)
	mov	$-1, %r12
	mov	p_n(%rip), %r13
	BEGIN	1
	mov	p_arg(%rip), %rax
	mov	%eax, APIC_TMICT(%r15)		/* starts the periodic timer */
	call	spin
	END	1, r_ticks
	mov	%rbx, r_a(%rip)
	movl	$(LVT_MASKED | LVT_PERIODIC | V_TIMER), APIC_LVTT(%r15)
	movl	$0, APIC_TMICT(%r15)
	mov	count0(%rip), %rax
	mov	%rax, r_count(%rip)

	BEGIN	2
	mov	tsc0(%rip), %r12
	add	r_ticks(%rip), %r12
	mov	$-1, %r13
	call	spin
	END	2, r_d
	mov	%rbx, r_e(%rip)
	mov	r_count(%rip), %rax
	cmp	p_n(%rip), %rax
	jae	finish
	lea	msg_count(%rip), %rsi
	jmp	fail_val

/* spin: RBX = iterations until TSC >= R12 or count0 >= R13. Clobbers RAX, RDX. */
spin:
	xor	%ebx, %ebx
1:	inc	%rbx
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	cmp	%r12, %rax
	jae	2f
	cmp	%r13, count0(%rip)
	jb	1b
2:	ret

/* ---- irqline: userspace raises and lowers an IOAPIC pin on each OUT to
 * P_IRQ; the edge interrupt is delivered at the next VM entry, the handler
 * counts and EOIs, the loop asks for the next. */
bench_irqline:
	mov	p_arg(%rip), %rcx
	lea	0x10(,%rcx,2), %eax		/* IOREDTBL[pin], low dword */
	lea	1(%rax), %edx
	movl	%edx, (%r14)
	movl	$0, 0x10(%r14)			/* destination APIC ID 0 */
	movl	%eax, (%r14)
	movl	$V_IOAPIC, 0x10(%r14)		/* fixed, physical, edge, active high, unmasked */
	mov	0x10(%r14), %eax
	cmp	$V_IOAPIC, %eax
	je	1f
	lea	msg_redir(%rip), %rsi
	jmp	fail_val
1:	mov	p_n(%rip), %r12
	BEGIN	1
	xor	%ebx, %ebx
2:	inc	%rbx
	out	%al, $P_IRQ
3:	cli
	cmp	%rbx, count0(%rip)
	jae	4f
	sti
	hlt
	jmp	3b
4:	sti
	cmp	%r12, %rbx
	jb	2b
	END	1, r_ticks
	mov	count0(%rip), %rax
	mov	%rax, r_count(%rip)
	jmp	finish

/* ---- pic: IN from the master PIC's IMR (port 0x21), N times. */
bench_pic:
	mov	$0xff, %al			/* OCW1: mask everything, both PICs */
	out	%al, $0x21
	out	%al, $0xa1
	mov	p_n(%rip), %r12
	BEGIN	1
	xor	%ebx, %ebx
1:	in	$0x21, %al
	cmp	$0xff, %al
	jne	2f
	inc	%rbx
	cmp	%r12, %rbx
	jb	1b
	END	1, r_ticks
	jmp	finish
2:	movzbl	%al, %eax
	lea	msg_pic(%rip), %rsi
	jmp	fail_val

/* ---- ioapic: select the version register (IOREGSEL) and read it
 * (IOWIN), N times: two MMIO accesses each. */
bench_ioapic:
	mov	p_n(%rip), %r12
	BEGIN	1
	xor	%ebx, %ebx
1:	movl	$1, (%r14)
	mov	0x10(%r14), %eax
	cmp	$0x170011, %eax			/* version 0x11, 24 pins (KVM's) */
	jne	2f
	inc	%rbx
	cmp	%r12, %rbx
	jb	1b
	END	1, r_ticks
	jmp	finish
2:	lea	msg_ioapic(%rip), %rsi
	jmp	fail_val

/* ---- irqfd: a launcher thread signals an irqfd whose GSI is an MSI route
 * (fixed, edge, vector V_IRQFD, APIC ID 0); the handler counts, EOIs and
 * acknowledges with an OUT to P_ACK, an ioeventfd (no userspace exit), on
 * which the thread waits before it signals again. The guest halts between
 * interrupts. "Ready" goes to P_ACK before the window opens, with IF=0 so
 * that the first interrupt is taken inside the window. */
bench_irqfd:
	mov	p_n(%rip), %r12
	cli
	out	%al, $P_ACK
	BEGIN	1
1:	cli
	cmp	%r12, count0(%rip)
	jae	2f
	sti
	hlt
	jmp	1b
2:	sti
	END	1, r_ticks
	mov	count0(%rip), %rax
	mov	%rax, r_count(%rip)
	cmp	%r12, %rax
	je	finish
	lea	msg_count(%rip), %rsi
	jmp	fail_val

/* ---- tpr: N xAPIC TPR writes (MMIO at 0x80), alternately 0x10 and 0. */
bench_tpr:
	mov	p_n(%rip), %r12
	BEGIN	1
	xor	%ebx, %ebx
1:	inc	%rbx
	mov	%ebx, %eax
	and	$1, %eax
	shl	$4, %eax
	movl	%eax, APIC_TPR(%r15)
	cmp	%r12, %rbx
	jb	1b
	END	1, r_ticks
	movl	$0, APIC_TPR(%r15)
	mov	APIC_TPR(%r15), %eax
	test	%eax, %eax
	je	finish
	lea	msg_tpr(%rip), %rsi
	jmp	fail_val

/* ---- cr8: N MOV to CR8 (TPR[7:4]), alternately 1 and 0. */
bench_cr8:
	mov	p_n(%rip), %r12
	BEGIN	1
	xor	%ebx, %ebx
1:	inc	%rbx
	mov	%rbx, %rax
	and	$1, %eax
	mov	%rax, %cr8
	cmp	%r12, %rbx
	jb	1b
	END	1, r_ticks
	xor	%eax, %eax
	mov	%rax, %cr8
	mov	APIC_TPR(%r15), %eax		/* CR8 is TPR[7:4] (SDM Vol. 3A, 10.8.6.1) */
	test	%eax, %eax
	je	finish
	lea	msg_tpr(%rip), %rsi
	jmp	fail_val

/* ---- interrupt handlers ---- */
h_irqfd:				/* count, EOI, acknowledge through the ioeventfd */
	push	%rax
	incq	count0(%rip)
	mov	$LAPIC, %eax
	movl	$0, APIC_EOI(%rax)
	out	%al, $P_ACK
	pop	%rax
	iretq

h_ping:					/* vCPU 1 */
	push	%rax
	incq	count1(%rip)
	mov	$LAPIC, %eax
	movl	$0, APIC_EOI(%rax)
	movl	$(ICR_ASSERT | V_PONG), APIC_ICRLO(%rax)
	pop	%rax
	iretq

h_pong:					/* vCPU 0 */
	push	%rax
	movq	$1, pong(%rip)
	mov	$LAPIC, %eax
	movl	$0, APIC_EOI(%rax)
	pop	%rax
	iretq

h_self:					/* the EOI write, timed */
	push	%rax
	push	%rcx
	push	%rdx
	call	rdtsc64
	mov	%rax, %rcx
	mov	$LAPIC, %edx
	movl	$0, APIC_EOI(%rdx)
	call	rdtsc64
	sub	%rcx, %rax
	add	%rax, eoi_ticks(%rip)
	incq	count0(%rip)
	pop	%rdx
	pop	%rcx
	pop	%rax
	iretq

h_count:				/* timer, ioapic */
	push	%rax
	incq	count0(%rip)
	mov	$LAPIC, %eax
	movl	$0, APIC_EOI(%rax)
	pop	%rax
	iretq

h_spurious:				/* no EOI for the spurious vector */
	iretq

/* [rsp] = vector (pushed by its stub) */
unexpected:
	lea	msg_vec(%rip), %rsi
	call	puts
	mov	(%rsp), %rax
	call	puthex
	lea	msg_rip(%rip), %rsi
	call	puts
	mov	8(%rsp), %rax			/* RIP, or the error code */
	call	puthex
	mov	$' ', %al
	out	%al, $P_CON
	mov	16(%rsp), %rax			/* CS, or RIP */
	call	puthex
	mov	$'\n', %al
	out	%al, $P_CON
	mov	$3, %al
	out	%al, $P_EXIT
1:	hlt
	jmp	1b

/* fail_val: print "irq-guest: <RSI> <RAX>" and end with status 2. */
fail_val:
	mov	%rax, %rbx
	push	%rsi
	lea	msg_pre(%rip), %rsi
	call	puts
	pop	%rsi
	call	puts
	mov	%rbx, %rax
	call	puthex
	mov	$'\n', %al
	out	%al, $P_CON
	mov	$2, %al
	out	%al, $P_EXIT
1:	hlt
	jmp	1b

/* ---- helpers ---- */
rdtsc64:				/* RAX = TSC; clobbers RDX */
	rdtsc
	shl	$32, %rdx
	or	%rdx, %rax
	ret

puts:					/* the NUL-terminated string at RSI */
	lodsb
	test	%al, %al
	jz	1f
	out	%al, $P_CON
	jmp	puts
1:	ret

puthex:					/* RAX in hex; clobbers RCX, RDX */
	mov	%rax, %rdx
	mov	$16, %ecx
1:	rol	$4, %rdx
	mov	%edx, %eax
	and	$0xf, %eax
	cmp	$10, %eax
	jb	2f
	add	$('a' - '0' - 10), %eax
2:	add	$'0', %eax
	out	%al, $P_CON
	dec	%ecx
	jnz	1b
	ret

setup_idt:				/* every vector -> its stub, then the handlers */
	call	idt_fill_stubs
	mov	$V_PING, %eax
	lea	h_ping(%rip), %rdx
	call	set_gate
	mov	$V_PONG, %eax
	lea	h_pong(%rip), %rdx
	call	set_gate
	mov	$V_SELF, %eax
	lea	h_self(%rip), %rdx
	call	set_gate
	mov	$V_TIMER, %eax
	lea	h_count(%rip), %rdx
	call	set_gate
	mov	$V_IOAPIC, %eax
	lea	h_count(%rip), %rdx
	call	set_gate
	mov	$V_IRQFD, %eax
	lea	h_irqfd(%rip), %rdx
	call	set_gate
	mov	$V_SPURIOUS, %eax
	lea	h_spurious(%rip), %rdx
	call	set_gate
	ret

#include "../guests/idt.inc"

msg_pre:	.asciz	"irq-guest: "
msg_kind:	.asciz	"unknown benchmark kind "
msg_ap:		.asciz	"this benchmark runs on one vCPU; started vCPU "
msg_count:	.asciz	"wrong interrupt count "
msg_redir:	.asciz	"IOAPIC redirection entry reads back "
msg_pic:	.asciz	"in $0x21 (the IMR, set to 0xff) read "
msg_ioapic:	.asciz	"IOAPIC version register (expected 0x170011) read "
msg_tpr:	.asciz	"TPR after writing 0 reads "
msg_vec:	.asciz	"irq-guest: unexpected vector 0x"
msg_rip:	.asciz	", next stack words 0x"

	IDT_STUBS
