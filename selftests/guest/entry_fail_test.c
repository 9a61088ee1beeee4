// SPDX-License-Identifier: GPL-2.0
/*
 * Invalid guest state that VM entry itself refuses: KVM_RUN returns 0 with
 * KVM_EXIT_FAIL_ENTRY.  On Intel, fail_entry.hardware_entry_failure_reason
 * is the VM-exit reason of the failed entry: bit 31 (VM-entry failure) |
 * 33 (invalid guest state), i.e. 0x80000021 (SDM Vol. 3 26.8 and appendix
 * C).
 *
 * The states are ones kvm_intel hands to the CPU unchanged: with
 * unrestricted guest it never emulates (vmx_guest_state_valid() is true),
 * KVM_SET_SREGS only checks CR0/CR4/EFER/CR3 (kvm_is_valid_sregs()), and
 * __vmx_set_segment() only sets the accessed bit of the segment type, which
 * the states below already have.  (Without unrestricted guest KVM would
 * synthesise the same 0x80000021 exit, vmx_vcpu_run().)
 *
 * Vendor branch: SVM's VMRUN checks much less than VMX (AMD APM Vol. 2
 * 15.5.1): it refuses CS.L = CS.D = 1 in long mode (exit code
 * SVM_EXIT_ERR, -1) but no segment types, so the TR and SS cases are
 * skipped on AMD hosts, and only the exit reason is checked there.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include "kselftest_harness.h"
#include "guest_util.h"

GUEST_SYM(ef_blob_start);
GUEST_SYM(ef_blob_end);
GUEST_ENTRY(ef_code32);
GUEST_ENTRY(ef_code64);

#define G(sym) GUEST_ADDR(ef_blob_start, sym)

#define VMX_ENTRY_FAIL_INVALID_GUEST_STATE 0x80000021ull

FIXTURE(ef) {
	struct vm vm;
	struct vcpu v;
};

FIXTURE_SETUP(ef)
{
	vm_init(&self->vm);
	vcpu_init_cpuid(&self->vm, &self->v, 0);
	vm_load(&self->vm, CODE_GPA, ef_blob_start, ef_blob_end);
}

FIXTURE_TEARDOWN(ef)
{
	vcpu_close(&self->v);
	vm_close(&self->vm);
}

static void expect_fail_entry(struct __test_metadata *_metadata, struct vcpu *v)
{
	ASSERT_TRUE(run_exit(v, KVM_EXIT_FAIL_ENTRY));
	if (host_is_intel())
		EXPECT_EQ(VMX_ENTRY_FAIL_INVALID_GUEST_STATE,
			  v->run->fail_entry.hardware_entry_failure_reason);
}

/*
 * Long mode with a code segment that has both L and D set: reserved
 * (SDM Vol. 3 5.2.1), a VM-entry check on CS access rights (26.3.1.2) and
 * a VMRUN consistency check on AMD.
 */
TEST_F(ef, cs_long_and_default32)
{
	struct kvm_sregs sregs;

	vcpu_mode_long64(&self->v, G(ef_code64), STACK_TOP);
	vcpu_get_sregs(&self->v, &sregs);
	sregs.cs.db = 1;
	vcpu_set_sregs(&self->v, &sregs);
	expect_fail_entry(_metadata, &self->v);
}

/* TR must be a busy TSS (type 3 or 11, 11 in IA-32e mode); type 9 is an
 * available 32-bit TSS (SDM Vol. 3 26.3.1.2). */
TEST_F(ef, tr_not_busy)
{
	struct kvm_sregs sregs;

	if (!host_is_intel())
		SKIP(return, "SVM does not check the TR type at VMRUN");
	vcpu_mode_prot32(&self->v, G(ef_code32), STACK_TOP);
	vcpu_get_sregs(&self->v, &sregs);
	sregs.tr = (struct kvm_segment){
		.base = TSS_GPA, .limit = 0x67, .selector = SEL_TSS,
		.type = 9, .present = 1, .s = 0,
	};
	vcpu_set_sregs(&self->v, &sregs);
	expect_fail_entry(_metadata, &self->v);
}

/* A usable SS must be a read/write data segment, type 3 or 7 (SDM Vol. 3
 * 26.3.1.2, also with unrestricted guest); type 11 is code. */
TEST_F(ef, ss_code_segment)
{
	struct kvm_sregs sregs;

	if (!host_is_intel())
		SKIP(return, "SVM does not check the SS type at VMRUN");
	vcpu_mode_prot32(&self->v, G(ef_code32), STACK_TOP);
	vcpu_get_sregs(&self->v, &sregs);
	sregs.ss.type = 11;
	vcpu_set_sregs(&self->v, &sregs);
	expect_fail_entry(_metadata, &self->v);
}

/* The same states, corrected, do enter: the failures above come from the
 * one field changed, not from the rest of the setup. */
TEST_F(ef, valid_states_enter)
{
	vcpu_mode_long64(&self->v, G(ef_code64), STACK_TOP);
	ASSERT_TRUE(run_out_val(&self->v, 1, 0x10, 0x64));
	ASSERT_TRUE(run_hlt(&self->v, G(ef_code64_end)));

	vcpu_mode_prot32(&self->v, G(ef_code32), STACK_TOP);
	ASSERT_TRUE(run_out_val(&self->v, 1, 0x10, 0x32));
	ASSERT_TRUE(run_hlt(&self->v, G(ef_code32_end)));
}

TEST_HARNESS_MAIN
