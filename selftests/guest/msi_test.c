// SPDX-License-Identifier: GPL-2.0
/*
 * MSIs and GSI routing with the in-kernel irqchip: KVM_SIGNAL_MSI to
 * physical and logical destinations with fixed, lowest-priority and NMI
 * delivery and level trigger; KVM_SET_GSI_ROUTING with MSI and irqchip
 * entries, then KVM_IRQ_LINE on the routed GSIs; invalid routing tables;
 * routing replaced while a vCPU runs.  Two vCPUs: APIC IDs 0 and 1, flat
 * logical IDs 0x01 and 0x02, LVT0 masked; the guests' interrupt stubs
 * (irq_agent.inc) log what arrives.
 *
 * KVM behaviour pinned down here (Linux 6.1, virt/kvm/irqchip.c,
 * virt/kvm/kvm_main.c, arch/x86/kvm/irq_comm.c), which minikvm must match:
 *
 * - KVM_SIGNAL_MSI returns the number of LAPICs that accepted the
 *   interrupt (2 for a broadcast or a logical destination naming both),
 *   0 if the destination names no vCPU or the LAPIC is software-disabled
 *   (dropped, not kept pending); lowest priority goes to exactly one.  A
 *   LAPIC that accepts a vector already pending in its IRR still counts
 *   (1), though the guest sees one interrupt.  With no LAPIC
 *   hardware-enabled, a physical broadcast returns KVM's internal -1,
 *   i.e. the ioctl fails with EPERM.
 *   address_hi is ignored (no KVM_CAP_X2APIC_API).  flags other than
 *   KVM_MSI_VALID_DEVID, or no irqchip: -EINVAL.
 * - An MSI route raised with level 1 delivers every time (no edge
 *   detection, KVM_IRQ_LINE_STATUS answers the delivered count); level 0
 *   answers -1 and does nothing.
 * - KVM_SET_GSI_ROUTING replaces the whole table (default routes not
 *   listed are gone; nr = 0 empties it) and the next KVM_IRQ_LINE uses
 *   the new one, while the vCPU runs.  -EINVAL for: no irqchip,
 *   routing.flags != 0, nr > 4096 (KVM_CAP_IRQ_ROUTING), gsi >= 4096,
 *   irqchip id > 2, IOAPIC pin > 23, PIC pin > 7, type not IRQCHIP / MSI
 *   (type 0, 5 without CONFIG_KVM_XEN, 99), entry flags on an irqchip
 *   entry, MSI entry flags other than KVM_MSI_VALID_DEVID, a GSI twice on
 *   one irqchip, a GSI with an MSI entry and any other entry.  A GSI on
 *   the IOAPIC, the master and the slave PIC at once is fine.  A rejected table leaves the old
 *   one in place.  (KVM also takes type KVM_IRQ_ROUTING_HV_SINT without
 *   checking it; not tested.)
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "irq_util.h"

#define V(i) (&self->x.v[i])
#define COUNT(i) (agent_mbox(V(i))->count)
#define LAST(i) (agent_mbox(V(i))->last)

#define MSI_LOGICAL	(1u << 2)
#define MSI_DM_LOWEST	(1u << 8)
#define MSI_DM_NMI	(4u << 8)
#define MSI_LEVEL	(1u << 15)
#define MSI_ASSERT	(1u << 14)

static long signal_msi(struct irq_vm *x, uint32_t lo, uint32_t hi, uint32_t data,
		       uint32_t flags)
{
	struct kvm_msi msi = {
		.address_lo = lo, .address_hi = hi, .data = data, .flags = flags,
	};

	return kvm_ioctl(x->vm.fd, KVM_SIGNAL_MSI, &msi);
}

struct routing {
	struct kvm_irq_routing hdr;
	struct kvm_irq_routing_entry e[4096];
};

static struct routing *routing_new(void)
{
	struct routing *r = calloc(1, sizeof(*r));

	if (!r)
		die("out of memory");
	return r;
}

static long set_routing(int vm_fd, struct routing *r)
{
	return kvm_ioctl(vm_fd, KVM_SET_GSI_ROUTING, r);
}

FIXTURE(msi) {
	struct irq_vm x;
};

FIXTURE_SETUP(msi)
{
	int i;

	irq_vm_init(&self->x, 2, IRQ_VM_IRQCHIP);
	for (i = 0; i < 2; i++) {
		ASSERT_TRUE(lapic_write(V(i), APIC_LVT0, APIC_LVT_MASKED));
		ASSERT_TRUE(lapic_enable(V(i)));
		ASSERT_TRUE(lapic_write(V(i), APIC_LDR, (1u << i) << 24));
	}
}

FIXTURE_TEARDOWN(msi)
{
	irq_vm_close(&self->x);
}

/* Let both vCPUs take what is pending; check their counts. */
static void settle(struct __test_metadata *_metadata, struct irq_vm *x,
		   uint64_t want0, uint64_t want1, const char *what)
{
	ASSERT_TRUE(agent_idle(&x->v[0]));
	ASSERT_TRUE(agent_idle(&x->v[1]));
	EXPECT_EQ(want0, agent_mbox(&x->v[0])->count) TH_LOG("%s", what);
	EXPECT_EQ(want1, agent_mbox(&x->v[1])->count) TH_LOG("%s", what);
}

TEST_F(msi, signal_msi_physical_destinations)
{
	EXPECT_EQ(1, signal_msi(&self->x, MSI_ADDR(1), 0, 0x51, 0));
	settle(_metadata, &self->x, 0, 1, "dest 1");
	EXPECT_EQ(0x51, LAST(1));
	EXPECT_EQ(1, signal_msi(&self->x, MSI_ADDR(0), 0, 0x52, 0));
	settle(_metadata, &self->x, 1, 1, "dest 0");
	EXPECT_EQ(0x52, LAST(0));
	EXPECT_EQ(2, signal_msi(&self->x, MSI_ADDR(0xff), 0, 0x53, 0));
	settle(_metadata, &self->x, 2, 2, "broadcast");
	EXPECT_EQ(0, signal_msi(&self->x, MSI_ADDR(7), 0, 0x54, 0));
	settle(_metadata, &self->x, 2, 2, "dest 7");
	/* address_hi plays no part without KVM_CAP_X2APIC_API. */
	EXPECT_EQ(1, signal_msi(&self->x, MSI_ADDR(1), 0xffffff00, 0x55, 0));
	settle(_metadata, &self->x, 2, 3, "address_hi");
}

TEST_F(msi, signal_msi_logical_destinations)
{
	EXPECT_EQ(1, signal_msi(&self->x, MSI_ADDR(0x02) | MSI_LOGICAL, 0, 0x61, 0));
	settle(_metadata, &self->x, 0, 1, "logical 0x02");
	EXPECT_EQ(1, signal_msi(&self->x, MSI_ADDR(0x01) | MSI_LOGICAL, 0, 0x62, 0));
	settle(_metadata, &self->x, 1, 1, "logical 0x01");
	EXPECT_EQ(2, signal_msi(&self->x, MSI_ADDR(0x03) | MSI_LOGICAL, 0, 0x63, 0));
	settle(_metadata, &self->x, 2, 2, "logical 0x03");
	EXPECT_EQ(0, signal_msi(&self->x, MSI_ADDR(0x04) | MSI_LOGICAL, 0, 0x64, 0));
	settle(_metadata, &self->x, 2, 2, "logical 0x04");
	/* Lowest priority: one of the two. */
	EXPECT_EQ(1, signal_msi(&self->x, MSI_ADDR(0x03) | MSI_LOGICAL, 0,
				MSI_DM_LOWEST | 0x65, 0));
	ASSERT_TRUE(agent_idle(V(0)));
	ASSERT_TRUE(agent_idle(V(1)));
	EXPECT_EQ(5, COUNT(0) + COUNT(1));
}

TEST_F(msi, signal_msi_level_trigger_and_nmi)
{
	bool tmr;

	EXPECT_EQ(1, signal_msi(&self->x, MSI_ADDR(0), 0, MSI_LEVEL | MSI_ASSERT | 0x71, 0));
	settle(_metadata, &self->x, 1, 0, "level");
	ASSERT_TRUE(lapic_vector_bit(V(0), APIC_TMR, 0x71, &tmr));
	EXPECT_TRUE(tmr);
	EXPECT_EQ(1, signal_msi(&self->x, MSI_ADDR(0), 0, 0x71, 0));
	settle(_metadata, &self->x, 2, 0, "edge");
	ASSERT_TRUE(lapic_vector_bit(V(0), APIC_TMR, 0x71, &tmr));
	EXPECT_FALSE(tmr);

	agent_set_eoi(V(1), 0);
	EXPECT_EQ(1, signal_msi(&self->x, MSI_ADDR(1), 0, MSI_DM_NMI, 0));
	settle(_metadata, &self->x, 2, 1, "NMI");
	EXPECT_EQ(2, LAST(1));
}

TEST_F(msi, signal_msi_software_disabled_apic_and_bad_arguments)
{
	struct vm plain;
	struct kvm_msi msi = { .address_lo = MSI_ADDR(0), .data = 0x40 };

	ASSERT_TRUE(lapic_write(V(1), APIC_SVR, 0xff));
	EXPECT_EQ(0, signal_msi(&self->x, MSI_ADDR(1), 0, 0x72, 0));
	ASSERT_TRUE(lapic_enable(V(1)));
	settle(_metadata, &self->x, 0, 0, "software-disabled");

	EXPECT_EQ(1, signal_msi(&self->x, MSI_ADDR(0), 0, 0x73, KVM_MSI_VALID_DEVID));
	EXPECT_EQ(-EINVAL, signal_msi(&self->x, MSI_ADDR(0), 0, 0x73, 2));
	EXPECT_EQ(-EINVAL, signal_msi(&self->x, MSI_ADDR(0), 0, 0x73, 0xffffffff));
	settle(_metadata, &self->x, 1, 0, "flags");

	vm_init(&plain);
	EXPECT_EQ(-EINVAL, kvm_ioctl(plain.fd, KVM_SIGNAL_MSI, &msi));
	vm_close(&plain);
}

/*
 * No LAPIC hardware-enabled: a physical broadcast finds nobody on KVM's
 * slow path, whose -1 the ioctl returns as is: -EPERM.  A unicast finds
 * nobody on the fast path: 0.
 */
TEST_F(msi, signal_msi_with_every_apic_hardware_disabled)
{
	int i;

	for (i = 0; i < 2; i++)
		ASSERT_TRUE(agent_wrmsr(V(i), MSR_APIC_BASE, i ? 0xfee00000 : 0xfee00100));
	EXPECT_EQ(-EPERM, signal_msi(&self->x, MSI_ADDR(0xff), 0, 0x74, 0));
	EXPECT_EQ(0, signal_msi(&self->x, MSI_ADDR(0), 0, 0x74, 0));
	EXPECT_EQ(0, signal_msi(&self->x, MSI_ADDR(1), 0, 0x74, 0));
	/* One enabled again: the broadcast reaches it. */
	ASSERT_TRUE(agent_wrmsr(V(1), MSR_APIC_BASE, 0xfee00800));
	ASSERT_TRUE(lapic_enable(V(1)));
	EXPECT_EQ(1, signal_msi(&self->x, MSI_ADDR(0xff), 0, 0x75, 0));
	ASSERT_TRUE(agent_wait(V(1), 1));
	EXPECT_EQ(0x75, LAST(1));
	EXPECT_EQ(0, COUNT(0));
}

TEST_F(msi, routing_msi_entries)
{
	struct routing *r = routing_new();
	int32_t st;

	irq_route_msi(&r->hdr, 40, MSI_ADDR(1), 0x81);
	irq_route_msi(&r->hdr, 41, MSI_ADDR(0x03) | MSI_LOGICAL, 0x82);
	ASSERT_EQ(0, set_routing(self->x.vm.fd, r));

	ASSERT_EQ(0, irq_line_status(&self->x, 40, 1, &st));
	EXPECT_EQ(1, st);
	settle(_metadata, &self->x, 0, 1, "gsi 40");
	EXPECT_EQ(0x81, LAST(1));
	ASSERT_EQ(0, irq_line_status(&self->x, 40, 0, &st));
	EXPECT_EQ(-1, st);
	ASSERT_EQ(0, irq_line_status(&self->x, 40, 1, &st));	/* still "high": again */
	EXPECT_EQ(1, st);
	settle(_metadata, &self->x, 0, 2, "gsi 40 again");

	/* Twice before the vCPU runs: both accepted (1), one interrupt (the
	 * vector was already pending in IRR). */
	ASSERT_EQ(0, irq_line_status(&self->x, 40, 1, &st));
	EXPECT_EQ(1, st);
	ASSERT_EQ(0, irq_line_status(&self->x, 40, 1, &st));
	EXPECT_EQ(1, st);
	settle(_metadata, &self->x, 0, 3, "gsi 40 twice");

	ASSERT_EQ(0, irq_line_status(&self->x, 41, 1, &st));
	EXPECT_EQ(2, st);
	settle(_metadata, &self->x, 1, 4, "gsi 41");
	EXPECT_EQ(0x82, LAST(0));

	/* The default routes are gone. */
	ASSERT_EQ(0, irq_line_status(&self->x, 3, 1, &st));
	EXPECT_EQ(-1, st);
	ASSERT_EQ(0, irq_line_status(&self->x, 17, 1, &st));
	EXPECT_EQ(-1, st);

	/* An empty table. */
	r->hdr.nr = 0;
	ASSERT_EQ(0, set_routing(self->x.vm.fd, r));
	ASSERT_EQ(0, irq_line_status(&self->x, 40, 1, &st));
	EXPECT_EQ(-1, st);
	settle(_metadata, &self->x, 1, 4, "empty table");
	free(r);
}

TEST_F(msi, routing_irqchip_entries)
{
	struct routing *r = routing_new();
	int32_t st;

	ASSERT_TRUE(ioapic_set_redir(V(0), 17, 0x91, RTE_DEST(0)));
	irq_route_chip(&r->hdr, 50, KVM_IRQCHIP_IOAPIC, 17);
	irq_route_chip(&r->hdr, 51, KVM_IRQCHIP_IOAPIC, 18);	/* masked pin */
	irq_route_chip(&r->hdr, 51, KVM_IRQCHIP_PIC_MASTER, 3);
	irq_route_chip(&r->hdr, 52, KVM_IRQCHIP_PIC_SLAVE, 7);
	ASSERT_EQ(0, set_routing(self->x.vm.fd, r));

	ASSERT_EQ(0, irq_line_status(&self->x, 50, 1, &st));
	EXPECT_EQ(1, st);
	ASSERT_EQ(0, irq_line_status(&self->x, 50, 0, &st));
	EXPECT_EQ(1, st);
	settle(_metadata, &self->x, 1, 0, "gsi 50");
	EXPECT_EQ(0x91, LAST(0));
	/* Pin 17's own GSI has no route any more. */
	ASSERT_EQ(0, irq_line_status(&self->x, 17, 1, &st));
	EXPECT_EQ(-1, st);
	/* IOAPIC pin 18 masked (-1) + PIC IRQ3, IMR 0, new edge (1). */
	ASSERT_EQ(0, irq_line_status(&self->x, 51, 1, &st));
	EXPECT_EQ(1, st);
	ASSERT_EQ(0, irq_line_status(&self->x, 51, 0, &st));
	EXPECT_EQ(2, st);
	ASSERT_EQ(0, irq_line_status(&self->x, 52, 1, &st));
	EXPECT_EQ(1, st);
	settle(_metadata, &self->x, 1, 0, "gsi 51, 52");
	free(r);
}

static long set_one(int vm_fd, struct kvm_irq_routing_entry e)
{
	struct routing *r = routing_new();
	long ret;

	r->e[0] = e;
	r->hdr.nr = 1;
	ret = set_routing(vm_fd, r);
	free(r);
	return ret;
}

TEST_F(msi, invalid_routing_tables_are_rejected)
{
	struct routing *r = routing_new();
	struct kvm_irq_routing_entry e;
	int fd = self->x.vm.fd;
	struct vm plain;
	int32_t st;
	int i;

	/* A working table first: rejected ones must leave it in place. */
	irq_route_msi(&r->hdr, 40, MSI_ADDR(0), 0xa1);
	ASSERT_EQ(0, set_routing(fd, r));

	r->hdr.flags = 1;
	EXPECT_EQ(-EINVAL, set_routing(fd, r));
	r->hdr.flags = 0;

	r->hdr.nr = 0;
	for (i = 0; i < 4096; i++)
		irq_route_msi(&r->hdr, i, MSI_ADDR(1), 0xa2);
	EXPECT_EQ(0, set_routing(fd, r));		/* 4096 entries: the limit */
	r->hdr.nr = 4097;
	EXPECT_EQ(-EINVAL, set_routing(fd, r));
	r->hdr.nr = 0xffffffff;
	EXPECT_EQ(-EINVAL, set_routing(fd, r));
	r->hdr.nr = 0;
	irq_route_msi(&r->hdr, 40, MSI_ADDR(0), 0xa1);
	ASSERT_EQ(0, set_routing(fd, r));

	memset(&e, 0, sizeof(e));
	e.type = KVM_IRQ_ROUTING_MSI;
	e.u.msi.address_lo = MSI_ADDR(0);
	e.gsi = 4096;
	EXPECT_EQ(-EINVAL, set_one(fd, e));
	e.gsi = 4095;
	e.flags = KVM_MSI_VALID_DEVID;
	EXPECT_EQ(0, set_one(fd, e));
	e.flags = 2;
	EXPECT_EQ(-EINVAL, set_one(fd, e));

	memset(&e, 0, sizeof(e));
	e.gsi = 1;
	e.type = KVM_IRQ_ROUTING_IRQCHIP;
	e.u.irqchip.irqchip = 3;
	EXPECT_EQ(-EINVAL, set_one(fd, e));
	e.u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
	e.u.irqchip.pin = 24;
	EXPECT_EQ(-EINVAL, set_one(fd, e));
	e.u.irqchip.pin = 23;
	EXPECT_EQ(0, set_one(fd, e));
	e.flags = 1;
	EXPECT_EQ(-EINVAL, set_one(fd, e));
	e.flags = 0;
	e.u.irqchip.irqchip = KVM_IRQCHIP_PIC_MASTER;
	e.u.irqchip.pin = 8;
	EXPECT_EQ(-EINVAL, set_one(fd, e));
	e.u.irqchip.irqchip = KVM_IRQCHIP_PIC_SLAVE;
	EXPECT_EQ(-EINVAL, set_one(fd, e));
	e.u.irqchip.pin = 7;
	EXPECT_EQ(0, set_one(fd, e));

	e.type = 0;
	EXPECT_EQ(-EINVAL, set_one(fd, e));
	e.type = 5;		/* KVM_IRQ_ROUTING_XEN_EVTCHN */
	EXPECT_EQ(-EINVAL, set_one(fd, e));
	e.type = 99;
	EXPECT_EQ(-EINVAL, set_one(fd, e));

	/* Duplicates. */
	r->hdr.nr = 0;
	irq_route_chip(&r->hdr, 5, KVM_IRQCHIP_IOAPIC, 5);
	irq_route_chip(&r->hdr, 5, KVM_IRQCHIP_IOAPIC, 6);
	EXPECT_EQ(-EINVAL, set_routing(fd, r));
	r->hdr.nr = 0;
	irq_route_chip(&r->hdr, 5, KVM_IRQCHIP_PIC_MASTER, 5);
	irq_route_chip(&r->hdr, 5, KVM_IRQCHIP_PIC_SLAVE, 5);
	irq_route_chip(&r->hdr, 5, KVM_IRQCHIP_IOAPIC, 5);
	EXPECT_EQ(0, set_routing(fd, r));	/* each chip once: fine */
	r->hdr.nr = 0;
	irq_route_msi(&r->hdr, 5, MSI_ADDR(0), 0xa3);
	irq_route_msi(&r->hdr, 5, MSI_ADDR(0), 0xa4);
	EXPECT_EQ(-EINVAL, set_routing(fd, r));
	r->hdr.nr = 0;
	irq_route_chip(&r->hdr, 5, KVM_IRQCHIP_IOAPIC, 5);
	irq_route_msi(&r->hdr, 5, MSI_ADDR(0), 0xa3);
	EXPECT_EQ(-EINVAL, set_routing(fd, r));
	r->hdr.nr = 0;
	irq_route_msi(&r->hdr, 5, MSI_ADDR(0), 0xa3);
	irq_route_chip(&r->hdr, 5, KVM_IRQCHIP_IOAPIC, 5);
	EXPECT_EQ(-EINVAL, set_routing(fd, r));

	/* The last accepted table (PIC slave pin 7 on GSI 1) is in force. */
	ASSERT_EQ(0, irq_line_status(&self->x, 40, 1, &st));
	EXPECT_EQ(-1, st);

	r->hdr.nr = 0;
	irq_route_msi(&r->hdr, 40, MSI_ADDR(0), 0xa1);
	ASSERT_EQ(0, set_routing(fd, r));
	r->hdr.nr = 0;
	irq_route_chip(&r->hdr, 5, KVM_IRQCHIP_IOAPIC, 5);
	irq_route_chip(&r->hdr, 5, KVM_IRQCHIP_IOAPIC, 5);
	EXPECT_EQ(-EINVAL, set_routing(fd, r));
	ASSERT_EQ(0, irq_line_status(&self->x, 40, 1, &st));
	EXPECT_EQ(1, st);
	settle(_metadata, &self->x, 1, 0, "old table kept");
	EXPECT_EQ(0xa1, LAST(0));

	vm_init(&plain);
	r->hdr.nr = 0;
	irq_route_msi(&r->hdr, 40, MSI_ADDR(0), 0xa1);
	EXPECT_EQ(-EINVAL, set_routing(plain.fd, r));
	r->hdr.nr = 0;
	EXPECT_EQ(-EINVAL, set_routing(plain.fd, r));
	vm_close(&plain);
	free(r);
}

/* ---- routing replaced while the vCPU runs ------------------------------ */

#define REROUTES 40

struct waiter {
	struct vcpu *v;
	pthread_t thread;
	volatile bool ok, done;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	irq_thread_sigmask();
	w->ok = agent_wait(w->v, REROUTES);
	w->done = true;
	return NULL;
}

TEST_F_TIMEOUT(msi, routing_replaced_while_the_vcpu_runs, 120)
{
	struct routing *r = routing_new();
	struct waiter w = { .v = V(0) };
	volatile struct agent_mbox *mb = agent_mbox(V(0));
	uint64_t deadline;
	int32_t st;
	int i;

	ASSERT_EQ(0, pthread_create(&w.thread, NULL, wait_thread, &w));
	for (i = 0; i < REROUTES; i++) {
		r->hdr.nr = 0;
		irq_route_chip(&r->hdr, 2, KVM_IRQCHIP_IOAPIC, 2);
		irq_route_msi(&r->hdr, 60, MSI_ADDR(0), 0x70 + (i % 16));
		irq_route_msi(&r->hdr, 61 + i, MSI_ADDR(1), 0x90);
		ASSERT_EQ(0, set_routing(self->x.vm.fd, r));
		ASSERT_EQ(0, irq_line_status(&self->x, 60, 1, &st));
		EXPECT_EQ(1, st) TH_LOG("round %d", i);
		deadline = irq_now_ms() + AGENT_TIMEOUT_S * 1000;
		while (mb->count <= (uint64_t)i && irq_now_ms() < deadline)
			usleep(200);
		ASSERT_LT(i, mb->count) TH_LOG("round %d: the vCPU took no interrupt", i);
	}
	deadline = irq_now_ms() + AGENT_TIMEOUT_S * 1000;
	while (!w.done && irq_now_ms() < deadline)
		usleep(1000);
	if (!w.done)
		irq_kick_thread(w.thread);
	ASSERT_EQ(0, pthread_join(w.thread, NULL));
	ASSERT_TRUE(w.ok);
	EXPECT_EQ(REROUTES, mb->count);
	for (i = 0; i < REROUTES; i++)
		EXPECT_EQ(0x70 + (i % 16), mb->log[i]) TH_LOG("interrupt %d", i);
	EXPECT_EQ(0, COUNT(1));
	free(r);
}

TEST_HARNESS_MAIN
