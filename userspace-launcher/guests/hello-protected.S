/* SPDX-License-Identifier: GPL-2.0 */
/*
 * hello-protected: 32-bit protected mode (flat segments, no paging) hello
 * on the debug console, then exit status 0.
 *
 *   minikvm-launch --mode protected --load hello-protected.bin
 *
 * Linked and loaded at 0x10000 (the launcher's default load address);
 * EDI = vCPU index, ESP = this vCPU's stack. Checks CR0.PE=1 and CR0.PG=0
 * and exits with 1 if not.
 */
	.code32
	.text
	.globl start
start:
	mov	$msg, %esi
	call	puts
	mov	%edi, %eax		/* vCPU index */
	call	putdec
	mov	%cr0, %eax
	and	$0x80000001, %eax	/* PG, PE */
	cmp	$1, %eax
	jne	wrong
	mov	$ok, %esi
	call	puts
	xor	%eax, %eax
	out	%al, $0xf4		/* exit port: status 0 */
	hlt
wrong:
	mov	$bad, %esi
	call	puts
	mov	$1, %al
	out	%al, $0xf4
	hlt

/* puts: print the NUL-terminated string at ESI on port 0xE9. */
puts:
	lodsb
	test	%al, %al
	jz	1f
	out	%al, $0xe9
	jmp	puts
1:	ret

/* putdec: print EAX (< 100) in decimal. */
putdec:
	cmp	$10, %eax
	jb	1f
	xor	%edx, %edx
	mov	$10, %ecx
	div	%ecx			/* EAX = tens, EDX = ones */
	add	$'0', %al
	out	%al, $0xe9
	mov	%edx, %eax
1:	add	$'0', %al
	out	%al, $0xe9
	ret

msg:	.asciz	"hello from 32-bit protected mode, vCPU "
ok:	.asciz	": CR0.PE=1 CR0.PG=0 as expected\n"
bad:	.asciz	": CR0 is not PE=1 PG=0!\n"
