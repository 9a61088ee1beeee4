// SPDX-License-Identifier: GPL-2.0
/*
 * x2APIC mode with the full in-kernel irqchip: enabling it through
 * IA32_APIC_BASE, the ID / version / LDR / SVR / TPR MSRs, the legal and
 * illegal mode transitions (#GP), MSR accesses that do not exist in
 * x2APIC mode (#GP), the SELF IPI MSR, the ICR as one 64-bit MSR write,
 * the xAPIC page no longer decoding, and KVM_GET_LAPIC / KVM_SET_LAPIC in
 * both modes.  Every test runs twice: on vCPU 0 (the BSP) and on a lone
 * vCPU with ID 0x21 (made runnable with KVM_SET_MP_STATE), whose x2APIC
 * LDR is cluster 2, bit 1.  Guest code: x2apic_guest.S.
 *
 * KVM behaviour pinned down (Linux 6.1, kvm_set_apic_base(), lapic.c):
 *  - IA32_APIC_BASE resets to 0xfee00000 | EN (| BSP on vCPU 0); bits 7:0
 *    and 9 are reserved; EXTD without EN is invalid; x2APIC -> xAPIC and
 *    disabled -> x2APIC directly are refused (#GP), disabled -> xAPIC ->
 *    x2APIC works; CPUID.1:EDX.APIC (bit 9) follows EN;
 *  - x2APIC ID = vCPU id, LDR = (id >> 4) << 16 | 1 << (id & 15), version
 *    0x50014 as in xAPIC mode (no directed EOI with an in-kernel IOAPIC);
 *  - #GP for: any x2APIC MSR in xAPIC mode, DFR (0x80e), a write to the
 *    ID, a read of SELF IPI, bits 63:32 of TPR, 0x831, SELF IPI bits
 *    31:8, ICR bits 13, 17:16, 31:20;
 *  - SELF IPI and a self-addressed ICR write are delivered before the
 *    next instruction (with IF = 1); the ICR reads back as 64 bits,
 *    destination in 63:32;
 *  - in x2APIC mode writes to the xAPIC page change nothing and reads of
 *    a location just written with all ones give all ones (an MMIO hole
 *    on AMD, the unused APIC-access page on Intel, which keeps the data);
 *  - KVM_GET_LAPIC in x2APIC mode (without KVM_X2APIC_API_USE_32BIT_IDS)
 *    reports the ID shifted to bits 31:24 as in xAPIC mode, and the
 *    computed LDR; KVM_SET_LAPIC of what KVM_GET_LAPIC gave round trips
 *    byte for byte in both modes; TPR and IRR set through it take effect.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include "kselftest_harness.h"
#include "apic_util.h"

GUEST_SYM(x2g_blob_start);
GUEST_SYM(x2g_blob_end);
GUEST_SYM(apic_irq_stubs);
GUEST_SYM(x2g_ids);
GUEST_SYM(x2g_gp);
GUEST_SYM(x2g_self_ipi);
GUEST_SYM(x2g_self_ipi_after);
GUEST_SYM(x2g_icr);
GUEST_SYM(x2g_icr_after);
GUEST_SYM(x2g_mmio);
GUEST_SYM(x2g_state);
GUEST_SYM(x2g_gp_xapic_msr);
GUEST_SYM(x2g_gp_extd_only);
GUEST_SYM(x2g_gp_reserved);
GUEST_SYM(x2g_gp_to_xapic);
GUEST_SYM(x2g_gp_dfr);
GUEST_SYM(x2g_gp_id_write);
GUEST_SYM(x2g_gp_self_ipi_read);
GUEST_SYM(x2g_gp_tpr_high);
GUEST_SYM(x2g_gp_icr2);
GUEST_SYM(x2g_gp_disabled_to_x2apic);
GUEST_SYM(x2g_gp_self_ipi_reserved);
GUEST_SYM(x2g_gp_icr_reserved);

#define G(sym) GUEST_ADDR(x2g_blob_start, sym)

#define RUN_MS		20000
#define X2APIC_BIT	(1u << 21)	/* CPUID.1:ECX */
#define APIC_BIT	(1u << 9)	/* CPUID.1:EDX */

FIXTURE(x2) {
	struct apic_vm a;
	struct grun g;
	uint32_t id;
};

FIXTURE_VARIANT(x2) {
	int id;
};

FIXTURE_VARIANT_ADD(x2, bsp) {
	.id = 0,
};

FIXTURE_VARIANT_ADD(x2, id_0x21) {
	.id = 0x21,
};

FIXTURE_SETUP(x2)
{
	self->id = variant->id;
	apic_vm_setup(&self->a, x2g_blob_start, x2g_blob_end, apic_irq_stubs, 1,
		      &variant->id, 0);
	memset(&self->g, 0, sizeof(self->g));
}

FIXTURE_TEARDOWN(x2)
{
	apic_vm_teardown(&self->a);
}

static uint64_t res(struct apic_vm *a, int i)
{
	return pc_res(a, 0, i);
}

static uint64_t base_reset(uint32_t id)
{
	return APIC_GPA | APIC_BASE_EN | (id ? 0 : APIC_BASE_BSP);
}

static uint32_t x2ldr(uint32_t id)
{
	return ((id >> 4) << 16) | (1u << (id & 15));
}

static void expect_gp(struct __test_metadata *_metadata, struct grun *g, int i,
		      uint64_t rip, const char *what)
{
	if (i >= g->nexc || i >= GRUN_MAX_EXC) {
		EXPECT_LT(i, g->nexc) TH_LOG("no #GP for %s", what);
		return;
	}
	EXPECT_EQ(13, g->exc[i].vector) TH_LOG("%s", what);
	EXPECT_EQ(0, g->exc[i].error) TH_LOG("%s", what);
	EXPECT_EQ((uint32_t)rip, g->exc[i].rip) TH_LOG("%s: exception at 0x%llx",
						       what, (unsigned long long)g->exc[i].rip);
}

TEST_F_TIMEOUT(x2, enable_and_read_ids, 60)
{
	struct apic_vm *a = &self->a;

	apic_vcpu_start(a, 0, G(x2g_ids));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(0, self->g.nexc);
	EXPECT_EQ(base_reset(self->id), res(a, 0));
	EXPECT_NE(0, res(a, 1) & X2APIC_BIT);
	EXPECT_EQ(self->id << 24, res(a, 2));		/* xAPIC ID by MMIO */
	EXPECT_EQ(base_reset(self->id) | APIC_BASE_EXTD, res(a, 4));
	EXPECT_EQ(self->id, res(a, 5));			/* MSR 0x802 */
	EXPECT_EQ(0x50014, res(a, 6));			/* 0x803 */
	EXPECT_EQ(x2ldr(self->id), res(a, 7));		/* 0x80d */
	EXPECT_EQ(0xff, res(a, 8));			/* 0x80f */
	EXPECT_EQ(0, res(a, 9));			/* 0x808 */
}

TEST_F_TIMEOUT(x2, illegal_accesses_and_transitions_gp, 60)
{
	static const struct { const uint8_t *sym; const char *what; } gp[] = {
		{ x2g_gp_xapic_msr, "x2APIC MSR in xAPIC mode" },
		{ x2g_gp_extd_only, "EXTD without EN" },
		{ x2g_gp_reserved, "IA32_APIC_BASE bit 9" },
		{ x2g_gp_to_xapic, "x2APIC -> xAPIC" },
		{ x2g_gp_dfr, "DFR read" },
		{ x2g_gp_id_write, "ID write" },
		{ x2g_gp_self_ipi_read, "SELF IPI read" },
		{ x2g_gp_tpr_high, "TPR bits 63:32" },
		{ x2g_gp_icr2, "MSR 0x831" },
		{ x2g_gp_disabled_to_x2apic, "disabled -> x2APIC" },
	};
	struct apic_vm *a = &self->a;
	uint64_t base = base_reset(self->id);
	unsigned int i;

	apic_vcpu_start(a, 0, G(x2g_gp));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(ARRAY_SIZE(gp), self->g.nexc);
	for (i = 0; i < ARRAY_SIZE(gp); i++)
		expect_gp(_metadata, &self->g, i, G(gp[i].sym), gp[i].what);
	EXPECT_EQ(base & ~(uint64_t)APIC_BASE_EN, res(a, 0));	/* disabled */
	EXPECT_EQ(0, res(a, 1) & APIC_BIT);
	EXPECT_EQ(base, res(a, 2));				/* xAPIC again */
	EXPECT_NE(0, res(a, 3) & APIC_BIT);
	EXPECT_EQ(0x50014, res(a, 4));
	EXPECT_EQ(self->id << 24, res(a, 5));
	EXPECT_EQ(self->id, res(a, 6));				/* x2APIC again */
}

TEST_F_TIMEOUT(x2, self_ipi_msr, 60)
{
	struct apic_vm *a = &self->a;

	apic_vcpu_start(a, 0, G(x2g_self_ipi));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(1, res(a, 0));
	EXPECT_EQ(G(x2g_self_ipi_after), pc_riplog(a, 0, 0));
	EXPECT_EQ(1, self->g.nexc);
	expect_gp(_metadata, &self->g, 0, G(x2g_gp_self_ipi_reserved),
		  "SELF IPI bit 8");
	EXPECT_EQ(0, res(a, 1));
	EXPECT_EQ(1, pc_u32(a, 0, PC_LOGN));
}

TEST_F_TIMEOUT(x2, icr_single_msr_write, 60)
{
	struct apic_vm *a = &self->a;

	apic_vcpu_start(a, 0, G(x2g_icr));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(1, res(a, 0));
	EXPECT_EQ(G(x2g_icr_after), pc_riplog(a, 0, 0));
	EXPECT_EQ(((uint64_t)self->id << 32) | 0x56, res(a, 1));
	EXPECT_EQ(1, pc_count(a, 0, 0x57));	/* broadcast */
	EXPECT_EQ(1, pc_count(a, 0, 0x58));	/* logical */
	EXPECT_EQ(1, pc_count(a, 0, 0x59));	/* self */
	EXPECT_EQ(0, pc_count(a, 0, 0x5a));	/* nobody */
	EXPECT_EQ(0, pc_count(a, 0, 0x5b));	/* refused */
	EXPECT_EQ(1, self->g.nexc);
	expect_gp(_metadata, &self->g, 0, G(x2g_gp_icr_reserved), "ICR bit 13");
	EXPECT_EQ(4, pc_u32(a, 0, PC_LOGN));
}

TEST_F_TIMEOUT(x2, xapic_mmio_not_decoded, 60)
{
	struct apic_vm *a = &self->a;

	apic_vcpu_start(a, 0, G(x2g_mmio));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(0, self->g.nexc);
	EXPECT_EQ(0xffffffff, res(a, 0));
	EXPECT_EQ(0xffffffff, res(a, 1));
	EXPECT_EQ(0, res(a, 2));		/* TPR untouched */
	EXPECT_EQ(0x50014, res(a, 3));
	EXPECT_EQ(0x1ff, res(a, 4));		/* still software-enabled */
	EXPECT_EQ(0, pc_count(a, 0, 0x5c));	/* no IPI */
	EXPECT_EQ(0, res(a, 6));		/* CR8 */
	EXPECT_EQ(0, pc_u32(a, 0, PC_LOGN));
}

static void get_lapic(struct __test_metadata *_metadata, struct vcpu *v,
		      struct kvm_lapic_state *s)
{
	memset(s, 0xa5, sizeof(*s));
	ASSERT_EQ(0, kvm_ioctl(v->fd, KVM_GET_LAPIC, s));
}

static void set_lapic(struct __test_metadata *_metadata, struct vcpu *v,
		      struct kvm_lapic_state *s)
{
	ASSERT_EQ(0, kvm_ioctl(v->fd, KVM_SET_LAPIC, s));
}

static uint32_t reg(struct kvm_lapic_state *s, int off)
{
	return *(uint32_t *)(s->regs + off);
}

static void set_reg(struct kvm_lapic_state *s, int off, uint32_t val)
{
	*(uint32_t *)(s->regs + off) = val;
}

/* KVM_SET_LAPIC of what KVM_GET_LAPIC gave, then the same again. */
static void round_trip(struct __test_metadata *_metadata, struct vcpu *v,
		       struct kvm_lapic_state *s)
{
	struct kvm_lapic_state s2;
	int off;

	set_lapic(_metadata, v, s);
	get_lapic(_metadata, v, &s2);
	for (off = 0; off < KVM_APIC_REG_SIZE; off += 16)
		EXPECT_EQ(reg(s, off), reg(&s2, off))
			TH_LOG("register 0x%x changed in a round trip", off);
}

TEST_F_TIMEOUT(x2, get_set_lapic_both_modes, 60)
{
	struct apic_vm *a = &self->a;
	struct vcpu *v = &a->v[0];
	struct kvm_lapic_state s;

	/* xAPIC, as reset */
	get_lapic(_metadata, v, &s);
	EXPECT_EQ(self->id << 24, reg(&s, APIC_ID));
	EXPECT_EQ(0x50014, reg(&s, APIC_LVR));
	EXPECT_EQ(0xff, reg(&s, APIC_SVR));
	EXPECT_EQ(LVT_MASKED, reg(&s, APIC_LVTT));
	EXPECT_EQ(self->id ? LVT_MASKED : 0x700, reg(&s, APIC_LVT0));
	EXPECT_EQ(0xffffffff, reg(&s, APIC_DFR));
	EXPECT_EQ(0, reg(&s, APIC_LDR));
	round_trip(_metadata, v, &s);
	set_reg(&s, APIC_TPR, 0x30);
	set_lapic(_metadata, v, &s);

	apic_vcpu_start(a, 0, G(x2g_state));
	grun(v, &self->g, RUN_MS);
	ASSERT_STOP(&self->g, PORT_SYNC);
	EXPECT_EQ(0x30, res(a, 0));		/* TPR by MMIO */
	EXPECT_EQ(3, res(a, 1));		/* CR8 */

	/* x2APIC, software-enabled by the guest */
	get_lapic(_metadata, v, &s);
	EXPECT_EQ(self->id << 24, reg(&s, APIC_ID));
	EXPECT_EQ(x2ldr(self->id), reg(&s, APIC_LDR));
	EXPECT_EQ(0x1ff, reg(&s, APIC_SVR));
	EXPECT_EQ(0x30, reg(&s, APIC_TPR));
	round_trip(_metadata, v, &s);
	get_lapic(_metadata, v, &s);
	set_reg(&s, APIC_TPR, 0x20);
	set_reg(&s, APIC_IRR + 0x10 * (0x57 / 32), 1u << (0x57 % 32));
	set_lapic(_metadata, v, &s);

	grun(v, &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(0, self->g.nexc);
	EXPECT_EQ(0x20, res(a, 2));		/* TPR MSR */
	EXPECT_EQ(self->id, res(a, 3));		/* ID MSR: not shifted */
	EXPECT_EQ(x2ldr(self->id), res(a, 4));
	EXPECT_EQ(1, pc_count(a, 0, 0x57));	/* IRR set by KVM_SET_LAPIC */
	EXPECT_EQ(1, pc_u32(a, 0, PC_LOGN));
	get_lapic(_metadata, v, &s);
	EXPECT_EQ(0, reg(&s, APIC_IRR + 0x10 * (0x57 / 32)));
	EXPECT_EQ(0, reg(&s, APIC_ISR + 0x10 * (0x57 / 32)));
}

TEST_HARNESS_MAIN
