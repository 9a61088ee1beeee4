// SPDX-License-Identifier: GPL-2.0
/*
 * CPU modes through the KVM ABI: the reset state, real mode from the reset
 * vector and from an address userspace chose, 32-bit protected and 64-bit
 * long mode entered with KVM_SET_SREGS, a guest that switches itself from
 * real to long mode, and KVM_EXIT_HLT.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <string.h>

#include "kselftest_harness.h"
#include "guest_util.h"

GUEST_SYM(modes_blob_start);
GUEST_SYM(modes_blob_end);
GUEST_ENTRY(rm_basic);
GUEST_SYM(rm_probe);
GUEST_ENTRY(pm32_basic);
GUEST_SYM(pm32_probe);
GUEST_ENTRY(lm64_basic);
GUEST_SYM(lm64_probe);
GUEST_ENTRY(lm64_hlt);
GUEST_SYM(lm64_hlt_next);
GUEST_ENTRY(switch_rm);
GUEST_SYM(switch_gdt);
GUEST_SYM(reset_blob_start);
GUEST_SYM(reset_blob_end);
GUEST_ENTRY(reset_body);
GUEST_SYM(reset_probe);

#define G(sym) GUEST_ADDR(modes_blob_start, sym)
#define OFF(sym) GUEST_OFF(modes_blob_start, sym)

FIXTURE(modes) {
	struct vm vm;
	struct vcpu v;
};

FIXTURE_SETUP(modes)
{
	vm_init(&self->vm);
	vcpu_init_cpuid(&self->vm, &self->v, 0);
	vm_load(&self->vm, CODE_GPA, modes_blob_start, modes_blob_end);
}

FIXTURE_TEARDOWN(modes)
{
	vcpu_close(&self->v);
	vm_close(&self->vm);
}

/*
 * The state after KVM_CREATE_VCPU is the architectural RESET state (SDM
 * Vol. 3 table 9-1): CS 0xf000 with base 0xffff0000, IP 0xfff0, CR0
 * 0x60000010, RFLAGS 2, 64 KiB real-mode segments and descriptor tables.
 * EDX holds the processor signature; KVM puts 0x600 there when the vCPU
 * has no CPUID leaf 1 yet (it has none at creation).
 * Segment types are compared without the accessed bit: the SDM's reset
 * state has it set (Intel), kvm_amd leaves it clear.
 */
TEST_F(modes, reset_state)
{
	struct vcpu v;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_segment *data[] = { &sregs.ds, &sregs.es, &sregs.fs,
				       &sregs.gs, &sregs.ss };
	unsigned int i;

	vcpu_init(&self->vm, &v, 1);
	vcpu_get_regs(&v, &regs);
	vcpu_get_sregs(&v, &sregs);

	EXPECT_EQ(0xfff0, regs.rip);
	EXPECT_EQ(0x2, regs.rflags);
	EXPECT_EQ(0x600, regs.rdx);
	EXPECT_EQ(0, regs.rax);
	EXPECT_EQ(0, regs.rsp);

	EXPECT_EQ(0xf000, sregs.cs.selector);
	EXPECT_EQ(0xffff0000, sregs.cs.base);
	EXPECT_EQ(0xffff, sregs.cs.limit);
	EXPECT_EQ(0xb, sregs.cs.type | 1);
	EXPECT_EQ(1, sregs.cs.present);
	EXPECT_EQ(1, sregs.cs.s);
	EXPECT_EQ(0, sregs.cs.db);
	EXPECT_EQ(0, sregs.cs.l);
	EXPECT_EQ(0, sregs.cs.g);
	for (i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
		EXPECT_EQ(0, data[i]->selector);
		EXPECT_EQ(0, data[i]->base);
		EXPECT_EQ(0xffff, data[i]->limit);
		EXPECT_EQ(0x3, data[i]->type | 1);
		EXPECT_EQ(1, data[i]->present);
		EXPECT_EQ(1, data[i]->s);
	}
	EXPECT_EQ(0x60000010, sregs.cr0);
	EXPECT_EQ(0, sregs.cr2);
	EXPECT_EQ(0, sregs.cr3);
	EXPECT_EQ(0, sregs.cr4);
	EXPECT_EQ(0, sregs.efer);
	EXPECT_EQ(0, sregs.gdt.base);
	EXPECT_EQ(0xffff, sregs.gdt.limit);
	EXPECT_EQ(0, sregs.idt.base);
	EXPECT_EQ(0xffff, sregs.idt.limit);
	vcpu_close(&v);
}

/* A vCPU runs from the reset vector with nothing but memory at the top of
 * the 4 GiB space: CS 0xf000 (base 0xffff0000), IP 0xfff0. */
TEST_F(modes, real_mode_reset_vector)
{
	struct vcpu v;
	uint8_t *top;
	uint16_t body_ip = 0xf000;	/* blob at offset 0xf000 of the slot */
	struct kvm_sregs sregs;

	top = vm_add_memory(&self->vm, 1, 0xffff0000, 0x10000, 0);
	memcpy(top + body_ip, reset_blob_start, reset_blob_end - reset_blob_start);
	vcpu_init_cpuid(&self->vm, &v, 1);

	ASSERT_TRUE(run_out_val(&v, 2, 0x10, 0xf000));
	ASSERT_TRUE(run_out_val(&v, 2, 0x11,
				body_ip + (reset_probe - reset_blob_start)));
	ASSERT_TRUE(run_hlt(&v, body_ip + (reset_body_end - reset_blob_start)));
	vcpu_get_sregs(&v, &sregs);
	EXPECT_EQ(0xf000, sregs.cs.selector);
	EXPECT_EQ(0xffff0000, sregs.cs.base);
	vcpu_close(&v);
}

/* Real mode at CS:IP chosen with KVM_SET_SREGS/KVM_SET_REGS. */
TEST_F(modes, real_mode_at_address)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	*(uint16_t *)gpa_ptr(&self->vm, DATA_GPA + 0x10) = 0xbeef;
	vcpu_mode_real(&self->v, CODE_GPA >> 4, OFF(rm_basic), DATA_GPA >> 4);

	ASSERT_TRUE(run_out_val(&self->v, 2, 0x10, CODE_GPA >> 4));
	ASSERT_TRUE(run_out_val(&self->v, 2, 0x11, OFF(rm_probe)));
	ASSERT_TRUE(run_out_val(&self->v, 2, 0x12, 0xbeef));
	ASSERT_TRUE(run_out_val(&self->v, 4, 0x13, 0x89abcdef));
	ASSERT_TRUE(run_hlt(&self->v, OFF(rm_basic_end)));

	vcpu_get_sregs(&self->v, &sregs);
	vcpu_get_regs(&self->v, &regs);
	EXPECT_EQ(CODE_GPA >> 4, sregs.cs.selector);
	EXPECT_EQ(CODE_GPA, sregs.cs.base);
	EXPECT_EQ(0, sregs.cr0 & X86_CR0_PE);
	EXPECT_EQ(RM_STACK_TOP, regs.rsp);	/* call/pop balanced */
	EXPECT_EQ(0x89abcdef, (uint32_t)regs.rax);
}

TEST_F(modes, protected_mode_32)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	*(uint32_t *)gpa_ptr(&self->vm, DATA_GPA + 4) = 0x600dda7a;
	vcpu_mode_prot32(&self->v, G(pm32_basic), STACK_TOP);

	ASSERT_TRUE(run_out_val(&self->v, 4, 0x10, 0x12345678));
	ASSERT_TRUE(run_out_val(&self->v, 4, 0x11, G(pm32_probe)));
	ASSERT_TRUE(run_out_val(&self->v, 2, 0x12, SEL_CODE32));
	ASSERT_TRUE(run_out_val(&self->v, 2, 0x13, SEL_DATA));
	ASSERT_TRUE(run_out_val(&self->v, 4, 0x14, STACK_TOP));
	ASSERT_TRUE(run_out_val(&self->v, 4, 0x15, 0x600dda7a));
	ASSERT_TRUE(run_hlt(&self->v, G(pm32_basic_end)));

	EXPECT_EQ(0xcafef00d, *(uint32_t *)gpa_ptr(&self->vm, DATA_GPA));
	vcpu_get_sregs(&self->v, &sregs);
	vcpu_get_regs(&self->v, &regs);
	EXPECT_EQ(X86_CR0_PE | X86_CR0_ET, sregs.cr0);
	EXPECT_EQ(1, sregs.cs.db);
	EXPECT_EQ(0, sregs.efer);
	EXPECT_EQ(STACK_TOP, (uint32_t)regs.rsp);
}

TEST_F(modes, long_mode_64)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	*(uint64_t *)gpa_ptr(&self->vm, DATA_GPA + 8) = 0x0102030405060708;
	vcpu_mode_long64(&self->v, G(lm64_basic), STACK_TOP);

	ASSERT_TRUE(run_out_val(&self->v, 4, 0x10, 0x55667788));
	ASSERT_TRUE(run_out_val(&self->v, 4, 0x11, 0x11223344));
	ASSERT_TRUE(run_out_val(&self->v, 4, 0x12, G(lm64_probe)));
	ASSERT_TRUE(run_out_val(&self->v, 2, 0x13, SEL_CODE64));
	ASSERT_TRUE(run_hlt(&self->v, G(lm64_basic_end)));

	EXPECT_EQ(0xfeedfacecafebeef, *(uint64_t *)gpa_ptr(&self->vm, DATA_GPA));
	vcpu_get_regs(&self->v, &regs);
	EXPECT_EQ(0xfeedfacecafebeef, regs.rax);
	EXPECT_EQ(HIGH_ALIAS + DATA_GPA, regs.rbx);
	EXPECT_EQ(0x0102030405060708, regs.rcx);
	EXPECT_EQ(STACK_TOP, regs.rsp);
	vcpu_get_sregs(&self->v, &sregs);
	EXPECT_EQ(X86_EFER_LME | X86_EFER_LMA, sregs.efer);
	EXPECT_EQ(1, sregs.cs.l);
	EXPECT_EQ(PML4_GPA, sregs.cr3);
}

TEST_F(modes, hlt_exit_and_resume)
{
	vcpu_mode_long64(&self->v, G(lm64_hlt), STACK_TOP);
	ASSERT_TRUE(run_hlt(&self->v, G(lm64_hlt_next)));
	ASSERT_TRUE(run_out_val(&self->v, 1, 0x10, 0x5a));
	ASSERT_TRUE(run_hlt(&self->v, G(lm64_hlt_end)));
}

TEST_F(modes, switch_real_to_long)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	vcpu_mode_real(&self->v, CODE_GPA >> 4, OFF(switch_rm), CODE_GPA >> 4);

	ASSERT_TRUE(run_out_val(&self->v, 1, 0x10, 1));
	vcpu_get_sregs(&self->v, &sregs);
	EXPECT_EQ(0, sregs.cr0 & X86_CR0_PE);

	ASSERT_TRUE(run_out_val(&self->v, 1, 0x10, 2));
	vcpu_get_sregs(&self->v, &sregs);
	EXPECT_EQ(X86_CR0_PE, sregs.cr0 & (X86_CR0_PE | X86_CR0_PG));
	EXPECT_EQ(SEL_CODE32, sregs.cs.selector);
	EXPECT_EQ(1, sregs.cs.db);
	EXPECT_EQ(0, sregs.cs.l);
	EXPECT_EQ(SEL_DATA, sregs.ss.selector);
	EXPECT_EQ(0, sregs.efer);
	EXPECT_EQ(G(switch_gdt), sregs.gdt.base);
	EXPECT_EQ(31, sregs.gdt.limit);

	ASSERT_TRUE(run_out_val(&self->v, 1, 0x10, 3));
	ASSERT_TRUE(run_hlt(&self->v, G(switch_rm_end)));
	vcpu_get_sregs(&self->v, &sregs);
	vcpu_get_regs(&self->v, &regs);
	/* CR0 kept the reset value's CD, NW and ET; the guest set PE and PG. */
	EXPECT_EQ(0xe0000011, sregs.cr0);
	EXPECT_EQ(X86_CR4_PAE, sregs.cr4);
	EXPECT_EQ(SELF_PT_GPA, sregs.cr3);
	EXPECT_EQ(X86_EFER_LME | X86_EFER_LMA, sregs.efer);
	EXPECT_EQ(SEL_CODE64, sregs.cs.selector);
	EXPECT_EQ(1, sregs.cs.l);
	EXPECT_EQ(0, sregs.cs.db);
	EXPECT_EQ(0x0123456789abcdef, regs.rax);
	EXPECT_EQ(STACK_TOP, regs.rsp);
}

TEST_HARNESS_MAIN
