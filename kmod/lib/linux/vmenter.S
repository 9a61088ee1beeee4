/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mk_vmx_vcpu_run(u64 regs[17], int launched): the only code that runs
 * between the host and the guest (SDM vol. 3C 26 "VM entries", 27 "VM
 * exits").
 *
 * VM exit restores RSP/RIP from the VMCS host-state area and nothing else of
 * the general-purpose registers, so: the host's callee-saved registers and
 * the regs pointer are pushed, HOST_RSP is set to that stack position and
 * HOST_RIP to mk_vmx_vmexit; the guest GPRs are loaded from regs[] last.
 *
 * Spectre-era hygiene, as the host kernel expects of a hypervisor:
 * - VERW (CLEAR_CPU_BUFFERS, patched in only on CPUs affected by MDS/MMIO
 *   stale data) right before VM entry;
 * - every register the guest controlled is zeroed right after VM exit, so
 *   none of its values reaches speculative host execution;
 * - the return stack buffer is refilled after VM exit (FILL_RETURN_BUFFER
 *   on X86_FEATURE_RSB_VMEXIT(_LITE)), so host RETs do not consume
 *   guest-planted RSB entries; plus the BHI sequence where the kernel
 *   enables it (CLEAR_BRANCH_HISTORY_VMEXIT).
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/nospec-branch.h>
#include <asm/unwind_hints.h>
#include <asm/segment.h>

#define MK_RAX	0*8
#define MK_RCX	1*8
#define MK_RDX	2*8
#define MK_RBX	3*8
#define MK_RBP	5*8
#define MK_RSI	6*8
#define MK_RDI	7*8
#define MK_R8	8*8
#define MK_R9	9*8
#define MK_R10	10*8
#define MK_R11	11*8
#define MK_R12	12*8
#define MK_R13	13*8
#define MK_R14	14*8
#define MK_R15	15*8
#define MK_CR2	16*8

#define VMCS_HOST_RSP	0x6c14
#define VMCS_HOST_RIP	0x6c16

#ifdef VM_CLEAR_CPU_BUFFERS
#define MK_CLEAR_CPU_BUFFERS VM_CLEAR_CPU_BUFFERS
#else
#define MK_CLEAR_CPU_BUFFERS CLEAR_CPU_BUFFERS
#endif

.section .text, "ax"

SYM_FUNC_START(mk_vmx_vcpu_run)
	push %rbp
	mov  %rsp, %rbp
	push %r15
	push %r14
	push %r13
	push %r12
	push %rbx
	/* @regs, found again at VM exit at (%rsp). */
	push %rdi
	mov  %esi, %ebx

	/* HOST_RSP: this stack position; HOST_RIP: mk_vmx_vmexit. */
	mov  $VMCS_HOST_RSP, %eax
	vmwrite %rsp, %rax
	lea  mk_vmx_vmexit(%rip), %rdx
	mov  $VMCS_HOST_RIP, %eax
	vmwrite %rdx, %rax

	/* CR2 is not part of the VMCS; writing it is slow, so only if it differs. */
	mov  MK_CR2(%rdi), %rax
	mov  %cr2, %rdx
	cmp  %rax, %rdx
	je   1f
	mov  %rax, %cr2
1:
	/* CF = launched; the MOVs below keep the flags (VERW clobbers only ZF). */
	bt   $0, %ebx

	mov  %rdi, %rax
	mov  MK_RCX(%rax), %rcx
	mov  MK_RDX(%rax), %rdx
	mov  MK_RBX(%rax), %rbx
	mov  MK_RBP(%rax), %rbp
	mov  MK_RSI(%rax), %rsi
	mov  MK_RDI(%rax), %rdi
	mov  MK_R8(%rax), %r8
	mov  MK_R9(%rax), %r9
	mov  MK_R10(%rax), %r10
	mov  MK_R11(%rax), %r11
	mov  MK_R12(%rax), %r12
	mov  MK_R13(%rax), %r13
	mov  MK_R14(%rax), %r14
	mov  MK_R15(%rax), %r15
	mov  MK_RAX(%rax), %rax

	MK_CLEAR_CPU_BUFFERS

	jnc  .Lvmlaunch

	/* The unwinder sees the frame as it was before VM entry, also at exit. */
	UNWIND_HINT_SAVE
	vmresume
	jmp  .Lvmfail
.Lvmlaunch:
	vmlaunch
	jmp  .Lvmfail

SYM_INNER_LABEL(mk_vmx_vmexit, SYM_L_GLOBAL)
	UNWIND_HINT_RESTORE
	ENDBR
	push %rax
	mov  8(%rsp), %rax
	pop  MK_RAX(%rax)
	mov  %rcx, MK_RCX(%rax)
	mov  %rdx, MK_RDX(%rax)
	mov  %rbx, MK_RBX(%rax)
	mov  %rbp, MK_RBP(%rax)
	mov  %rsi, MK_RSI(%rax)
	mov  %rdi, MK_RDI(%rax)
	mov  %r8,  MK_R8(%rax)
	mov  %r9,  MK_R9(%rax)
	mov  %r10, MK_R10(%rax)
	mov  %r11, MK_R11(%rax)
	mov  %r12, MK_R12(%rax)
	mov  %r13, MK_R13(%rax)
	mov  %r14, MK_R14(%rax)
	mov  %r15, MK_R15(%rax)
	mov  %cr2, %rcx
	mov  %rcx, MK_CR2(%rax)
	xor  %ebx, %ebx

.Lclear_regs:
	pop  %rax
	xor  %eax, %eax
	xor  %ecx, %ecx
	xor  %edx, %edx
	xor  %ebp, %ebp
	xor  %esi, %esi
	xor  %edi, %edi
	xor  %r8d, %r8d
	xor  %r9d, %r9d
	xor  %r10d, %r10d
	xor  %r11d, %r11d
	xor  %r12d, %r12d
	xor  %r13d, %r13d
	xor  %r14d, %r14d
	xor  %r15d, %r15d

	FILL_RETURN_BUFFER %rcx, RSB_CLEAR_LOOPS, X86_FEATURE_RSB_VMEXIT, X86_FEATURE_RSB_VMEXIT_LITE
	CLEAR_BRANCH_HISTORY_VMEXIT

	mov  %rbx, %rax
	pop  %rbx
	pop  %r12
	pop  %r13
	pop  %r14
	pop  %r15
	pop  %rbp
	RET

.Lvmfail:
	mov  $1, %ebx
	jmp  .Lclear_regs
SYM_FUNC_END(mk_vmx_vcpu_run)

/*
 * mk_vmx_do_interrupt_irqoff(handler): runs the host's IDT handler for an
 * external interrupt that a VM exit acknowledged ("acknowledge interrupt on
 * exit", SDM 24.7.1, 27.2.2): the handler expects an interrupt frame
 * (SS, RSP, RFLAGS, CS, return RIP on a 16-byte aligned stack) and leaves
 * with IRET, which keeps interrupts off (the pushed RFLAGS has IF = 0).
 */
SYM_FUNC_START(mk_vmx_do_interrupt_irqoff)
	push %rbp
	mov  %rsp, %rbp
	and  $-16, %rsp
	push $__KERNEL_DS
	push %rbp
	pushf
	push $__KERNEL_CS
	CALL_NOSPEC rdi
	leave
	RET
SYM_FUNC_END(mk_vmx_do_interrupt_irqoff)
