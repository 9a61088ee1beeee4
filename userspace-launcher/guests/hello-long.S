/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hello-long: 64-bit long mode hello on the debug console, then exit
 * status 0.
 *
 *   minikvm-launch --mode long --load hello-long.bin
 *
 * Linked and loaded at 0x10000, runs on the launcher's identity-mapped
 * page tables; RDI = vCPU index, RSP = this vCPU's stack. Checks
 * IA32_EFER.LMA (MSR 0xC0000080 bit 10, SDM Vol. 3A "IA32_EFER") and
 * exits with 1 if it is clear.
 */
	.code64
	.text
	.globl start
start:
	lea	msg(%rip), %rsi
	call	puts
	mov	%rdi, %rax		/* vCPU index */
	call	putdec
	mov	$0xc0000080, %ecx	/* IA32_EFER */
	rdmsr
	test	$0x400, %eax		/* LMA */
	jz	wrong
	lea	ok(%rip), %rsi
	call	puts
	xor	%eax, %eax
	out	%al, $0xf4		/* exit port: status 0 */
	hlt
wrong:
	lea	bad(%rip), %rsi
	call	puts
	mov	$1, %al
	out	%al, $0xf4
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

msg:	.asciz	"hello from 64-bit long mode, vCPU "
ok:	.asciz	": EFER.LMA=1 as expected\n"
bad:	.asciz	": EFER.LMA=0, not long mode!\n"
