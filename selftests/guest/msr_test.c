// SPDX-License-Identifier: GPL-2.0
/*
 * MSRs through the KVM ABI: values set with KVM_SET_MSRS are what the
 * guest's RDMSR returns, the guest's WRMSR is what KVM_GET_MSRS returns,
 * and an MSR KVM does not know (nor lists in KVM_GET_MSR_INDEX_LIST)
 * raises #GP in the guest, as does a reserved IA32_PAT value (SDM Vol. 3
 * 12.12.2: memory types 2 and 3 are reserved).
 *
 * The values are portable: IA32_SYSENTER_ESP/EIP keep 32 bits only
 * (kvm_amd drops bits 63:32 for a guest whose CPUID vendor is AMD, as AMD
 * CPUs do), LSTAR and KERNEL_GS_BASE are canonical.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <stdio.h>
#include <string.h>

#include "kselftest_harness.h"
#include "guest_util.h"

GUEST_SYM(msr_blob_start);
GUEST_SYM(msr_blob_end);
GUEST_ENTRY(msr_read_table);
GUEST_ENTRY(msr_write_table);
GUEST_ENTRY(msr_faults);
GUEST_SYM(msr_faults_rdmsr);
GUEST_SYM(msr_faults_wrmsr);
GUEST_SYM(msr_faults_pat);

#define G(sym) GUEST_ADDR(msr_blob_start, sym)

#define MSR_IA32_SYSENTER_CS	0x174
#define MSR_IA32_SYSENTER_ESP	0x175
#define MSR_IA32_SYSENTER_EIP	0x176
#define MSR_IA32_PAT		0x277
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102

/* No MSR at this index on any CPU, and no range KVM emulates (Hyper-V
 * 0x40000000+, KVM 0x4b564dxx, Xen only when configured). */
#define MSR_UNKNOWN		0x8badf00d

struct msr_val {
	uint32_t index;
	uint64_t a, b;		/* set by userspace, then written by the guest */
};

static const struct msr_val msrs[] = {
	{ MSR_IA32_SYSENTER_CS, 0x4321, 0x0010 },
	{ MSR_IA32_SYSENTER_ESP, 0x89abc000, 0x00f00ff0 },
	{ MSR_IA32_SYSENTER_EIP, 0x12345678, 0xfedcba98 },
	{ MSR_STAR, 0x001b000812345678ull, 0x0023001087654321ull },
	{ MSR_LSTAR, 0xffffffff81000000ull, 0x00007fffdeadb000ull },
	{ MSR_SYSCALL_MASK, 0x47700, 0x257fd5 },
	{ MSR_KERNEL_GS_BASE, 0xffff888012345000ull, 0x0000123456789000ull },
	{ MSR_IA32_PAT, 0x0006050400070106ull, 0x0007040600070406ull },
};
#define NMSRS (sizeof(msrs) / sizeof(msrs[0]))

FIXTURE(msr) {
	struct vm vm;
	struct vcpu v;
};

FIXTURE_SETUP(msr)
{
	vm_init(&self->vm);
	vcpu_init_cpuid(&self->vm, &self->v, 0);
	vm_load(&self->vm, CODE_GPA, msr_blob_start, msr_blob_end);
}

FIXTURE_TEARDOWN(msr)
{
	vcpu_close(&self->v);
	vm_close(&self->vm);
}

/* The guest's table at DATA_GPA: {u32 index, u32 pad, u64 value}. */
static uint64_t *table(struct vm *vm, bool b)
{
	uint32_t *d = gpa_ptr(vm, DATA_GPA);
	unsigned int i;

	memset(d, 0, 16 + 16 * NMSRS);
	d[0] = NMSRS;
	for (i = 0; i < NMSRS; i++) {
		d[4 + 4 * i] = msrs[i].index;
		*(uint64_t *)&d[6 + 4 * i] = b ? msrs[i].b : 0xdeadbeefdeadbeefull;
	}
	return (uint64_t *)&d[4];
}

TEST_F(msr, set_msrs_seen_by_rdmsr)
{
	uint64_t *t = table(&self->vm, false);
	unsigned int i;

	for (i = 0; i < NMSRS; i++)
		ASSERT_EQ(1, vcpu_set_msr(&self->v, msrs[i].index, msrs[i].a))
			TH_LOG("KVM_SET_MSRS 0x%x", msrs[i].index);
	vcpu_mode_long64(&self->v, G(msr_read_table), STACK_TOP);
	ASSERT_TRUE(run_hlt(&self->v, G(msr_read_table_end)));
	for (i = 0; i < NMSRS; i++)
		EXPECT_EQ(msrs[i].a, t[2 * i + 1]) TH_LOG("RDMSR 0x%x", msrs[i].index);
}

TEST_F(msr, wrmsr_seen_by_get_msrs_and_rdmsr)
{
	uint64_t *t = table(&self->vm, true);
	uint64_t val;
	unsigned int i;

	for (i = 0; i < NMSRS; i++)
		ASSERT_EQ(1, vcpu_set_msr(&self->v, msrs[i].index, msrs[i].a));
	vcpu_mode_long64(&self->v, G(msr_write_table), STACK_TOP);
	ASSERT_TRUE(run_hlt(&self->v, G(msr_write_table_end)));
	for (i = 0; i < NMSRS; i++) {
		ASSERT_EQ(1, vcpu_get_msr(&self->v, msrs[i].index, &val));
		EXPECT_EQ(msrs[i].b, val) TH_LOG("KVM_GET_MSRS 0x%x", msrs[i].index);
	}

	/* and the guest reads back what it wrote */
	t = table(&self->vm, false);
	vcpu_mode_long64(&self->v, G(msr_read_table), STACK_TOP);
	ASSERT_TRUE(run_hlt(&self->v, G(msr_read_table_end)));
	for (i = 0; i < NMSRS; i++)
		EXPECT_EQ(msrs[i].b, t[2 * i + 1]) TH_LOG("RDMSR 0x%x", msrs[i].index);
}

/* The MSRs above are listed by KVM_GET_MSR_INDEX_LIST; MSR_UNKNOWN is not,
 * and KVM_GET_MSRS/KVM_SET_MSRS stop at it (0 MSRs processed). */
TEST_F(msr, index_list)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *list;
	uint64_t val;
	unsigned int i, j;
	long r;

	r = kvm_ioctl(self->vm.sys_fd, KVM_GET_MSR_INDEX_LIST, &probe);
	ASSERT_EQ(-E2BIG, r);
	ASSERT_GT(probe.nmsrs, NMSRS);
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
	ASSERT_NE(NULL, list);
	list->nmsrs = probe.nmsrs;
	ASSERT_EQ(0, kvm_ioctl(self->vm.sys_fd, KVM_GET_MSR_INDEX_LIST, list));
	for (i = 0; i < NMSRS; i++) {
		for (j = 0; j < list->nmsrs; j++)
			if (list->indices[j] == msrs[i].index)
				break;
		EXPECT_LT(j, list->nmsrs) TH_LOG("MSR 0x%x not listed", msrs[i].index);
	}
	for (j = 0; j < list->nmsrs; j++)
		EXPECT_NE(MSR_UNKNOWN, list->indices[j]);
	free(list);

	EXPECT_EQ(0, vcpu_get_msr(&self->v, MSR_UNKNOWN, &val));
	EXPECT_EQ(0, vcpu_set_msr(&self->v, MSR_UNKNOWN, 0));
}

TEST_F(msr, unknown_msr_and_bad_pat_raise_gp)
{
	struct kvm_regs regs;
	uint64_t pat, pat_after;

	vm_install_idt64(&self->vm, ~0u);
	ASSERT_EQ(1, vcpu_get_msr(&self->v, MSR_IA32_PAT, &pat));
	vcpu_mode_long64(&self->v, G(msr_faults), STACK_TOP);
	vcpu_get_regs(&self->v, &regs);
	regs.rbx = MSR_UNKNOWN;
	vcpu_set_regs(&self->v, &regs);

	ASSERT_TRUE(run_exception(&self->v, 13, 0, G(msr_faults_rdmsr)));
	ASSERT_TRUE(run_exception(&self->v, 13, 0, G(msr_faults_wrmsr)));
	ASSERT_TRUE(run_exception(&self->v, 13, 0, G(msr_faults_pat)));
	ASSERT_TRUE(run_hlt(&self->v, G(msr_faults_end)));

	vcpu_get_regs(&self->v, &regs);
	EXPECT_EQ(0x11111111, regs.r8);
	EXPECT_EQ(0x22222222, regs.r9);
	/* the refused PAT write left PAT as it was */
	ASSERT_EQ(1, vcpu_get_msr(&self->v, MSR_IA32_PAT, &pat_after));
	EXPECT_EQ(pat, pat_after);
}

TEST_HARNESS_MAIN
