// SPDX-License-Identifier: GPL-2.0
/*
 * Exceptions inside the guest (64-bit mode): #UD, #DE and #BP reach their
 * IDT handlers with the right vector, error code and saved RIP; a handled
 * fault resumes; a fault whose gate is not present turns into #DF by the
 * double-fault rules (SDM Vol. 3 6.15, table 6-5); with no #DF gate either
 * the CPU shuts down (triple fault), which KVM reports as
 * KVM_EXIT_SHUTDOWN.
 *
 * The stubs (guest_isr.S) report each delivered exception with three
 * OUTs (vector, error code, RIP), checked by run_exception().  For #DF the
 * saved RIP is undefined (SDM: "the saved contents of CS and EIP are
 * undefined"), so it is not checked.  After KVM_EXIT_SHUTDOWN the vCPU
 * state differs by vendor (kvm_amd reinitialises the VMCB), so only the
 * exit itself is checked.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include "kselftest_harness.h"
#include "guest_util.h"

GUEST_SYM(exc_blob_start);
GUEST_SYM(exc_blob_end);
GUEST_ENTRY(exc_ud);
GUEST_ENTRY(exc_de);
GUEST_SYM(exc_de_div);
GUEST_ENTRY(exc_bp);
GUEST_SYM(exc_bp_next);
GUEST_ENTRY(exc_resume);
GUEST_SYM(exc_resume_ud);
GUEST_ENTRY(exc_empty_idt);

#define G(sym) GUEST_ADDR(exc_blob_start, sym)

#define ALL_GATES 0xffffffffu
#define DF_GATE_ONLY (1u << 8)

FIXTURE(exc) {
	struct vm vm;
	struct vcpu v;
};

FIXTURE_SETUP(exc)
{
	vm_init(&self->vm);
	vcpu_init_cpuid(&self->vm, &self->v, 0);
	vm_load(&self->vm, CODE_GPA, exc_blob_start, exc_blob_end);
}

FIXTURE_TEARDOWN(exc)
{
	vcpu_close(&self->v);
	vm_close(&self->vm);
}

TEST_F(exc, ud2_delivers_ud)
{
	vm_install_idt64(&self->vm, ALL_GATES);
	vcpu_mode_long64(&self->v, G(exc_ud), STACK_TOP);
	ASSERT_TRUE(run_exception(&self->v, 6, 0, G(exc_ud)));
	ASSERT_TRUE(run_hlt(&self->v, isr_halt_rip()));
}

TEST_F(exc, divide_by_zero_delivers_de)
{
	vm_install_idt64(&self->vm, ALL_GATES);
	vcpu_mode_long64(&self->v, G(exc_de), STACK_TOP);
	ASSERT_TRUE(run_exception(&self->v, 0, 0, G(exc_de_div)));
	ASSERT_TRUE(run_hlt(&self->v, isr_halt_rip()));
}

TEST_F(exc, int3_delivers_bp_after_the_instruction)
{
	vm_install_idt64(&self->vm, ALL_GATES);
	vcpu_mode_long64(&self->v, G(exc_bp), STACK_TOP);
	ASSERT_TRUE(run_exception(&self->v, 3, 0, G(exc_bp_next)));
	ASSERT_TRUE(run_hlt(&self->v, isr_halt_rip()));
}

TEST_F(exc, handled_fault_resumes)
{
	struct kvm_regs regs;

	vm_install_idt64(&self->vm, ALL_GATES);
	vcpu_mode_long64(&self->v, G(exc_resume), STACK_TOP);
	ASSERT_TRUE(run_exception(&self->v, 6, 0, G(exc_resume_ud)));
	ASSERT_TRUE(run_out_val(&self->v, 1, 0x10, 0x42));
	ASSERT_TRUE(run_hlt(&self->v, G(exc_resume_end)));
	vcpu_get_regs(&self->v, &regs);
	EXPECT_EQ(STACK_TOP, regs.rsp);		/* IRETQ restored the stack */
}

/*
 * #DE (contributory) whose gate is not present raises #NP (contributory)
 * while delivering it: a double fault, delivered through gate 8 with
 * error code 0.
 */
TEST_F(exc, contributory_fault_without_gate_gives_df)
{
	vm_install_idt64(&self->vm, DF_GATE_ONLY);
	vcpu_mode_long64(&self->v, G(exc_de), STACK_TOP);
	ASSERT_TRUE(run_exception(&self->v, 8, 0, ~0ull));
	ASSERT_TRUE(run_hlt(&self->v, isr_halt_rip()));
}

/*
 * #UD (benign) whose gate is not present: #NP for gate 6 is handled
 * serially (benign, then contributory), its own gate 11 is not present
 * either, so the second #NP during the first is a double fault.
 */
TEST_F(exc, benign_fault_without_gate_gives_df)
{
	vm_install_idt64(&self->vm, DF_GATE_ONLY);
	vcpu_mode_long64(&self->v, G(exc_ud), STACK_TOP);
	ASSERT_TRUE(run_exception(&self->v, 8, 0, ~0ull));
	ASSERT_TRUE(run_hlt(&self->v, isr_halt_rip()));
}

/* No gate present at all, not even #DF: triple fault. */
TEST_F(exc, fault_without_df_gate_is_triple_fault)
{
	vm_install_idt64(&self->vm, 0);
	vcpu_mode_long64(&self->v, G(exc_ud), STACK_TOP);
	ASSERT_TRUE(run_exit(&self->v, KVM_EXIT_SHUTDOWN));
}

TEST_F(exc, int3_with_empty_idt_is_triple_fault)
{
	vm_install_idt64(&self->vm, ALL_GATES);	/* replaced by the guest's lidt */
	vcpu_mode_long64(&self->v, G(exc_empty_idt), STACK_TOP);
	ASSERT_TRUE(run_exit(&self->v, KVM_EXIT_SHUTDOWN));
}

TEST_HARNESS_MAIN
