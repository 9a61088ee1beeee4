/* SPDX-License-Identifier: GPL-2.0 */
/*
 * smp-hello: every vCPU prints its index on the debug console, then HLTs;
 * the run ends (status 0) when all vCPUs have halted.
 *
 *   minikvm-launch --mode long --vcpus 4 --load smp-hello.bin
 *
 * 64-bit, linked and loaded at 0x10000. All vCPUs start here at once:
 * without an in-kernel irqchip KVM makes every vCPU runnable at creation
 * (no INIT/SIPI), so there is no AP start-up to do. RDI = index, RSI =
 * number of vCPUs, RSP = this vCPU's own stack (the calls below need it).
 * The launcher buffers the console per vCPU up to each newline, so the
 * lines come out whole, in whatever order the vCPUs ran.
 */
	.code64
	.text
	.globl start
start:
	mov	%rsi, %rbx		/* number of vCPUs */
	lea	msg(%rip), %rsi
	call	puts
	mov	%rdi, %rax
	call	putdec
	lea	of(%rip), %rsi
	call	puts
	mov	%rbx, %rax
	call	putdec
	mov	$'\n', %al
	out	%al, $0xe9
	hlt

/* puts: print the NUL-terminated string at RSI on port 0xE9. */
puts:
	lodsb
	test	%al, %al
	jz	1f
	out	%al, $0xe9
	jmp	puts
1:	ret

/* putdec: print RAX (< 100) in decimal. */
putdec:
	cmp	$10, %rax
	jb	1f
	xor	%edx, %edx
	mov	$10, %ecx
	div	%rcx			/* RAX = tens, RDX = ones */
	add	$'0', %al
	out	%al, $0xe9
	mov	%rdx, %rax
1:	add	$'0', %al
	out	%al, $0xe9
	ret

msg:	.asciz	"hello from vCPU "
of:	.asciz	" of "
