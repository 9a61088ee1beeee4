// SPDX-License-Identifier: GPL-2.0
/*
 * CPUID as the guest sees it is the table set with KVM_SET_CPUID2: exact
 * entries, subleaf-indexed entries (KVM_CPUID_FLAG_SIGNIFCANT_INDEX), and
 * KVM's answer for a leaf the table lacks.  KVM emulates CPUID entirely
 * (it always exits: unconditional on VMX, intercepted on SVM), so all of
 * this is the same on every host; what differs is the vendor string in
 * the guest's own leaf 0 (KVM's get_out_of_range_cpuid_entry()):
 *
 *  - a leaf above the maximum of its class (basic: leaf 0's EAX; 0x4000xxxx:
 *    the EAX of leaf 0x4000xx00; extended: 0x80000000's EAX; a class with
 *    no entry at all) gives, as Intel CPUs do, the highest basic leaf,
 *    with the requested ECX as its subleaf; with "AuthenticAMD" (or Hygon)
 *    in leaf 0, it gives zeros, as AMD CPUs do;
 *  - a leaf within range but absent from the table gives zeros;
 *  - a subleaf with no entry in a subleaf-indexed leaf gives zeros.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <stdio.h>
#include <string.h>

#include "kselftest_harness.h"
#include "guest_util.h"

GUEST_SYM(cpuid_blob_start);
GUEST_SYM(cpuid_blob_end);
GUEST_ENTRY(cpuid_table32);
GUEST_ENTRY(cpuid_upper64);

#define G(sym) GUEST_ADDR(cpuid_blob_start, sym)

struct regs4 {
	uint32_t eax, ebx, ecx, edx;
};

struct query {
	uint32_t leaf, subleaf;
	struct regs4 out;
};

/* "GenuineIntel" / "AuthenticAMD" as EBX, EDX, ECX. */
static const struct regs4 leaf0_intel = { 4, 0x756e6547, 0x6c65746e, 0x49656e69 };
static const struct regs4 leaf0_amd = { 4, 0x68747541, 0x444d4163, 0x69746e65 };

static const struct regs4 leaf2 = { 0x22220001, 0x22220002, 0x22220003, 0x22220004 };
static const struct regs4 leaf4_0 = { 0x44440001, 0x44440002, 0x44440003, 0x44440004 };
static const struct regs4 leaf4_1 = { 0x44441001, 0x44441002, 0x44441003, 0x44441004 };
/* "minikvmtests" as a hypervisor signature in EBX, ECX, EDX; the class's
 * maximum leaf is 0x40000001 */
static const struct regs4 leaf40000000 = { 0x40000001, 0x696e696d, 0x746d766b, 0x73747365 };
static const struct regs4 leaf40000001 = { 0x4444a001, 0x4444a002, 0x4444a003, 0x4444a004 };
static const struct regs4 leaf80000000 = { 0x80000001, 0x8888b002, 0x8888b003, 0x8888b004 };
static const struct regs4 leaf80000001 = { 0x8888c001, 0x8888c002, 0x8888c003, 0x8888c004 };
static const struct regs4 zeros;

static void add_entry(struct kvm_cpuid2 *c, uint32_t fn, uint32_t index,
		      bool indexed, const struct regs4 *r)
{
	struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];

	memset(e, 0, sizeof(*e));
	e->function = fn;
	e->index = index;
	e->flags = indexed ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
	e->eax = r->eax;
	e->ebx = r->ebx;
	e->ecx = r->ecx;
	e->edx = r->edx;
}

/* The test's table: leaves 0, 2, 4.0, 4.1, 0x40000000-1, 0x80000000-1. */
static struct kvm_cpuid2 *test_table(const struct regs4 *leaf0)
{
	struct kvm_cpuid2 *c = cpuid_alloc(16);

	c->nent = 0;
	add_entry(c, 0, 0, false, leaf0);
	add_entry(c, 2, 0, false, &leaf2);
	add_entry(c, 4, 0, true, &leaf4_0);
	add_entry(c, 4, 1, true, &leaf4_1);
	add_entry(c, 0x40000000, 0, false, &leaf40000000);
	add_entry(c, 0x40000001, 0, false, &leaf40000001);
	add_entry(c, 0x80000000, 0, false, &leaf80000000);
	add_entry(c, 0x80000001, 0, false, &leaf80000001);
	return c;
}

FIXTURE(cpuid) {
	struct vm vm;
	struct vcpu v;
};

FIXTURE_SETUP(cpuid)
{
	vm_init(&self->vm);
	vcpu_init(&self->vm, &self->v, 0);
	vm_load(&self->vm, CODE_GPA, cpuid_blob_start, cpuid_blob_end);
}

FIXTURE_TEARDOWN(cpuid)
{
	vcpu_close(&self->v);
	vm_close(&self->vm);
}

/* Run the queries in the guest; true if every answer is as expected. */
static bool run_queries(struct vm *vm, struct vcpu *v, const struct query *q, int n)
{
	uint32_t *d = gpa_ptr(vm, DATA_GPA);
	bool ok = true;
	int i;

	d[0] = n;
	for (i = 0; i < n; i++) {
		uint32_t *r = &d[4 + 6 * i];

		r[0] = q[i].leaf;
		r[1] = q[i].subleaf;
		r[2] = r[3] = r[4] = r[5] = 0xdeadbeef;
	}
	vcpu_mode_prot32(v, G(cpuid_table32), STACK_TOP);
	if (!run_hlt(v, G(cpuid_table32_end)))
		return false;
	for (i = 0; i < n; i++) {
		uint32_t *r = &d[4 + 6 * i];
		const struct regs4 *e = &q[i].out;

		if (r[2] != e->eax || r[3] != e->ebx || r[4] != e->ecx || r[5] != e->edx) {
			fprintf(stderr,
				"# CPUID 0x%x.%u = %08x %08x %08x %08x, expected %08x %08x %08x %08x\n",
				q[i].leaf, q[i].subleaf, r[2], r[3], r[4], r[5],
				e->eax, e->ebx, e->ecx, e->edx);
			ok = false;
		}
	}
	return ok;
}

/* Entries every vendor sees the same way. */
#define COMMON_QUERIES(leaf0) \
	{ 0, 0, leaf0 }, \
	{ 0, 7, leaf0 },		/* index not significant: ECX ignored */ \
	{ 2, 0, leaf2 }, \
	{ 2, 0x55, leaf2 }, \
	{ 4, 0, leaf4_0 }, \
	{ 4, 1, leaf4_1 }, \
	{ 4, 2, zeros },		/* indexed leaf, no such subleaf */ \
	{ 3, 0, zeros },		/* in range, not in the table */ \
	{ 1, 0, zeros }, \
	{ 0x40000000, 0, leaf40000000 }, \
	{ 0x40000001, 9, leaf40000001 }, \
	{ 0x80000000, 0, leaf80000000 }, \
	{ 0x80000001, 0, leaf80000001 }

TEST_F(cpuid, intel_vendor_table)
{
	const struct query q[] = {
		COMMON_QUERIES(leaf0_intel),
		/* above its class's maximum: the highest basic leaf (4), with
		 * the requested subleaf */
		{ 5, 0, leaf4_0 },
		{ 5, 1, leaf4_1 },
		{ 5, 2, zeros },
		{ 0x7fffffff, 1, leaf4_1 },
		{ 0x40000002, 0, leaf4_0 },
		{ 0x40000100, 1, leaf4_1 },	/* class 0x40000100: no entry */
		{ 0x80000002, 0, leaf4_0 },
		{ 0x8fffffff, 1, leaf4_1 },
		{ 0xc0000000, 0, leaf4_0 },	/* class 0xc0000000: no entry */
	};
	struct kvm_cpuid2 *c = test_table(&leaf0_intel);

	vcpu_set_cpuid(&self->v, c);
	free(c);
	ASSERT_TRUE(run_queries(&self->vm, &self->v, q, sizeof(q) / sizeof(q[0])));
}

TEST_F(cpuid, amd_vendor_table)
{
	const struct query q[] = {
		COMMON_QUERIES(leaf0_amd),
		/* above its class's maximum: zeros */
		{ 5, 0, zeros },
		{ 5, 1, zeros },
		{ 0x40000002, 0, zeros },
		{ 0x40000100, 1, zeros },
		{ 0x80000002, 0, zeros },
		{ 0xc0000000, 0, zeros },
	};
	struct kvm_cpuid2 *c = test_table(&leaf0_amd);

	vcpu_set_cpuid(&self->v, c);
	free(c);
	ASSERT_TRUE(run_queries(&self->vm, &self->v, q, sizeof(q) / sizeof(q[0])));
}

/* With an empty table every leaf reads as zeros. */
TEST_F(cpuid, empty_table)
{
	const struct query q[] = {
		{ 0, 0, zeros }, { 1, 0, zeros }, { 0x40000000, 0, zeros },
		{ 0x80000000, 0, zeros },
	};
	struct kvm_cpuid2 *c = cpuid_alloc(1);

	c->nent = 0;
	vcpu_set_cpuid(&self->v, c);
	free(c);
	ASSERT_TRUE(run_queries(&self->vm, &self->v, q, sizeof(q) / sizeof(q[0])));
}

/* In 64-bit mode CPUID zero-extends its results into RAX..RDX.  This uses
 * the KVM_GET_SUPPORTED_CPUID table (long mode needs CPUID.LM and PAE). */
TEST_F(cpuid, upper_halves_cleared_64)
{
	struct kvm_cpuid2 *c = supported_cpuid(&self->vm);
	struct kvm_cpuid_entry2 *e0 = NULL;
	struct kvm_regs regs;
	unsigned int i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == 0 && !e0)
			e0 = &c->entries[i];
	ASSERT_NE(NULL, e0);
	vcpu_set_cpuid(&self->v, c);
	vcpu_mode_long64(&self->v, G(cpuid_upper64), STACK_TOP);
	ASSERT_TRUE(run_hlt(&self->v, G(cpuid_upper64_end)));
	vcpu_get_regs(&self->v, &regs);
	EXPECT_EQ(e0->eax, regs.rax);
	EXPECT_EQ(e0->ebx, regs.rbx);
	EXPECT_EQ(e0->ecx, regs.rcx);
	EXPECT_EQ(e0->edx, regs.rdx);
	free(c);
}

TEST_HARNESS_MAIN
