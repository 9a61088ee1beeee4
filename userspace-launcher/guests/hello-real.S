/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hello-real: real mode hello on the debug console, then exit status 0.
 *
 *   minikvm-launch --mode real --load hello-real.bin
 *
 * Linked at 0 and loaded at 0x10000: the launcher sets CS=DS=ES=0x1000
 * (the entry's 64 KiB-aligned part), IP=0, DI = vCPU index, SS:SP = this
 * vCPU's stack. Checks that CR0.PE is clear (SMSW is allowed in real
 * mode, SDM Vol. 2B "SMSW") and exits with 1 if not.
 */
	.code16
	.text
	.globl start
start:
	mov	$msg, %si
	call	puts
	mov	%di, %ax		/* vCPU index */
	call	putdec
	smsw	%ax
	test	$1, %al			/* CR0.PE */
	jnz	wrong
	mov	$ok, %si
	call	puts
	xor	%al, %al
	out	%al, $0xf4		/* exit port: status 0 */
	hlt
wrong:
	mov	$bad, %si
	call	puts
	mov	$1, %al
	out	%al, $0xf4
	hlt

/* puts: print the NUL-terminated string at DS:SI on port 0xE9. */
puts:
	lodsb
	test	%al, %al
	jz	1f
	out	%al, $0xe9
	jmp	puts
1:	ret

/* putdec: print AX (< 100) in decimal. */
putdec:
	cmp	$10, %ax
	jb	1f
	mov	$10, %cl
	div	%cl			/* AL = tens, AH = ones */
	push	%ax
	add	$'0', %al
	out	%al, $0xe9
	pop	%ax
	mov	%ah, %al
1:	add	$'0', %al
	out	%al, $0xe9
	ret

msg:	.asciz	"hello from real mode, vCPU "
ok:	.asciz	": CR0.PE=0 as expected\n"
bad:	.asciz	": CR0.PE=1, not real mode!\n"
