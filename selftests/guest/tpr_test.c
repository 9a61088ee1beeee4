// SPDX-License-Identifier: GPL-2.0
/*
 * Interrupt priority and blocking with the full in-kernel irqchip, one
 * vCPU in 64-bit mode, xAPIC MMIO (tpr_guest.S): the TPR (by MMIO and
 * CR8) holds back vectors of its priority class and below until lowered;
 * PPR follows TPR and the in-service vector; a higher class nests inside
 * a handler, a lower one waits for the EOI; an interrupt raised while
 * IF = 0 is taken right after the instruction that follows STI (the STI
 * shadow), and `sti; hlt` with one pending does not halt; an NMI raised
 * in the NMI handler, by self IPI or by KVM_NMI from the test, waits
 * for the handler's IRET, and then comes at once.  The handlers of
 * apic_guest.inc log every delivery's vector and saved RIP.
 *
 * KVM behaviour pinned down (Linux 6.1):
 *  - TPR and CR8 are one register (CR8 = TPR[7:4]); an MMIO write keeps
 *    TPR[3:0] on kvm_intel, kvm_amd drops it at the next exit (the only
 *    vendor branch here); PPR = TPR when TPR[7:4] >= the class of the
 *    highest in-service vector, else that class (ISRV & 0xf0);
 *  - lowering CR8 below a pending vector's class delivers it before the
 *    next instruction; so does a self IPI with IF = 1;
 *  - KVM_GET_VCPU_EVENTS in an NMI handler reports nmi.masked = 1; after
 *    KVM_NMI, nmi.pending = 1 until the IRET.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include "kselftest_harness.h"
#include "apic_util.h"

GUEST_SYM(tpg_blob_start);
GUEST_SYM(tpg_blob_end);
GUEST_SYM(apic_irq_stubs);
GUEST_SYM(tpg_tpr);
GUEST_SYM(tpg_tpr_lowered);
GUEST_SYM(tpg_nest);
GUEST_SYM(tpg_sti);
GUEST_SYM(tpg_sti_after);
GUEST_SYM(tpg_sti_hlt);
GUEST_SYM(tpg_sti_hlt_after);
GUEST_SYM(tpg_nmi);
GUEST_SYM(tpg_host_nmi);

#define G(sym) GUEST_ADDR(tpg_blob_start, sym)

#define RUN_MS 20000

FIXTURE(tpr) {
	struct apic_vm a;
	struct grun g;
};

FIXTURE_SETUP(tpr)
{
	apic_vm_setup(&self->a, tpg_blob_start, tpg_blob_end, apic_irq_stubs, 1,
		      NULL, 0);
	memset(&self->g, 0, sizeof(self->g));
}

FIXTURE_TEARDOWN(tpr)
{
	apic_vm_teardown(&self->a);
}

static uint64_t res(struct apic_vm *a, int i)
{
	return pc_res(a, 0, i);
}

static void expect_log(struct __test_metadata *_metadata, struct apic_vm *a,
		       const uint32_t *want, uint32_t n)
{
	uint32_t i;

	EXPECT_EQ(n, pc_u32(a, 0, PC_LOGN));
	for (i = 0; i < n && i < pc_u32(a, 0, PC_LOGN); i++)
		EXPECT_EQ(want[i], pc_log(a, 0, i))
			TH_LOG("delivery %u: vector 0x%x, expected 0x%x", i,
			       pc_log(a, 0, i), want[i]);
}

TEST_F_TIMEOUT(tpr, tpr_blocks_lower_classes, 60)
{
	static const uint32_t want[] = { 0x61, 0x5f };
	struct apic_vm *a = &self->a;

	apic_vcpu_start(a, 0, G(tpg_tpr));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(0, res(a, 0));		/* 0x5f held by TPR 0x50 */
	EXPECT_EQ(1u << 31, res(a, 1));		/* ... in IRR */
	EXPECT_EQ(0x50, res(a, 2));		/* PPR */
	EXPECT_EQ(5, res(a, 3));		/* CR8 */
	EXPECT_EQ(0, res(a, 4));		/* still held after 0x61 */
	EXPECT_EQ(1, res(a, 5));		/* CR8 = 4 delivered it */
	EXPECT_EQ(0x40, res(a, 6));		/* TPR after CR8 = 4 */
	EXPECT_EQ(0x40, res(a, 7));		/* PPR */
	EXPECT_EQ(3, res(a, 8));		/* CR8 after TPR = 0x35 */
	/*
	 * TPR[3:0] is read/write.  kvm_intel keeps the whole byte (TPR
	 * shadow); kvm_amd loses the low nibble at the next exit, when it
	 * copies the 4-bit V_TPR back (sync_cr8_to_lapic()).
	 */
	EXPECT_EQ(host_is_intel() ? 0x35 : 0x30, res(a, 9));
	EXPECT_EQ(0, res(a, 10));		/* IRR empty */
	expect_log(_metadata, a, want, 2);
	/* taken right after the MOV to CR8 */
	EXPECT_EQ(G(tpg_tpr_lowered), pc_riplog(a, 0, 1));
}

TEST_F_TIMEOUT(tpr, ppr_and_nesting_by_class, 60)
{
	static const uint32_t want[] = { 0x61, 0x71, 0x55 };
	struct apic_vm *a = &self->a;

	apic_vcpu_start(a, 0, G(tpg_nest));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(0x60, res(a, 0));		/* PPR in the handler of 0x61 */
	EXPECT_EQ(1u << 1, res(a, 1));		/* ISR bit of 0x61 */
	EXPECT_EQ(0, res(a, 2));		/* 0x55 waited */
	EXPECT_EQ(1u << 21, res(a, 4));		/* ... in IRR */
	EXPECT_EQ(0, res(a, 5));		/* PPR at the end */
	EXPECT_EQ(0, res(a, 6));		/* ISR empty */
	EXPECT_EQ(0, res(a, 7));
	expect_log(_metadata, a, want, 3);
}

TEST_F_TIMEOUT(tpr, sti_shadow, 60)
{
	struct apic_vm *a = &self->a;

	apic_vcpu_start(a, 0, G(tpg_sti));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(0, res(a, 0));		/* held while IF = 0 */
	EXPECT_EQ(1u << 2, res(a, 1));		/* IRR bit of 0x62 */
	EXPECT_EQ(1, res(a, 2));
	EXPECT_EQ(1, pc_u32(a, 0, PC_LOGN));
	/* after the instruction in the shadow, before the next one */
	EXPECT_EQ(G(tpg_sti_after), pc_riplog(a, 0, 0));
	EXPECT_EQ(1, pc_u64(a, 0, PC_RBX));
}

TEST_F_TIMEOUT(tpr, sti_hlt_with_pending_interrupt, 60)
{
	struct apic_vm *a = &self->a;

	apic_vcpu_start(a, 0, G(tpg_sti_hlt));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(1, res(a, 0));
	EXPECT_EQ(1, pc_u32(a, 0, PC_LOGN));
	EXPECT_EQ(G(tpg_sti_hlt_after), pc_riplog(a, 0, 0));
}

TEST_F_TIMEOUT(tpr, nmi_held_until_iret, 60)
{
	static const uint32_t want[] = { 2, 2 };
	struct apic_vm *a = &self->a;

	apic_vcpu_start(a, 0, G(tpg_nmi));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(1, res(a, 0));		/* second NMI held in the handler */
	expect_log(_metadata, a, want, 2);
	/* ... and taken right at the IRET's return address */
	EXPECT_EQ(pc_riplog(a, 0, 0), pc_riplog(a, 0, 1));
}

static void get_events(struct __test_metadata *_metadata, struct vcpu *v,
		       struct kvm_vcpu_events *e)
{
	memset(e, 0, sizeof(*e));
	ASSERT_EQ(0, kvm_ioctl(v->fd, KVM_GET_VCPU_EVENTS, e));
}

TEST_F_TIMEOUT(tpr, host_nmi_in_nmi_handler, 60)
{
	static const uint32_t want[] = { 2, 2 };
	struct apic_vm *a = &self->a;
	struct vcpu *v = &a->v[0];
	struct kvm_vcpu_events e;

	apic_vcpu_start(a, 0, G(tpg_host_nmi));
	grun(v, &self->g, RUN_MS);
	ASSERT_STOP(&self->g, PORT_SYNC);
	ASSERT_EQ(1, self->g.value);		/* in the first NMI's handler */
	get_events(_metadata, v, &e);
	EXPECT_EQ(1, e.nmi.masked);
	EXPECT_EQ(0, e.nmi.pending);
	EXPECT_EQ(0, e.nmi.injected);
	ASSERT_EQ(0, kvm_ioctl(v->fd, KVM_NMI, NULL));
	get_events(_metadata, v, &e);
	EXPECT_EQ(1, e.nmi.masked);
	EXPECT_EQ(1, e.nmi.pending);

	grun(v, &self->g, RUN_MS);
	ASSERT_STOP(&self->g, PORT_SYNC);
	ASSERT_EQ(2, self->g.value);		/* both NMIs taken */
	get_events(_metadata, v, &e);
	EXPECT_EQ(0, e.nmi.masked);
	EXPECT_EQ(0, e.nmi.pending);
	EXPECT_EQ(1, res(a, 0));
	expect_log(_metadata, a, want, 2);
	EXPECT_EQ(pc_riplog(a, 0, 0), pc_riplog(a, 0, 1));
	grun(v, &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
}

TEST_HARNESS_MAIN
