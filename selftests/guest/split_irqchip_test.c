// SPDX-License-Identifier: GPL-2.0
/*
 * Split irqchip: KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP, 24) before the
 * vCPUs.  The LAPICs are in the kernel, PIC and IOAPIC are userspace's;
 * the routing table takes MSI routes only, and the guest's EOI of a
 * level-triggered vector that a route of a reserved IOAPIC GSI (< 24)
 * programs ends KVM_RUN with KVM_EXIT_IOAPIC_EOI (run->eoi.vector).
 *
 * KVM behaviour pinned down here (Linux 6.1, arch/x86/kvm/x86.c
 * kvm_vm_ioctl_enable_cap, irq_comm.c kvm_set_routing_entry and
 * kvm_scan_ioapic_routes, lapic.c kvm_ioapic_send_eoi):
 *
 * - args[0] > KVM_MAX_IRQ_ROUTES (4096) -EINVAL; with an irqchip (full or
 *   split) or after a vCPU -EEXIST; flags != 0 -EINVAL.
 * - KVM_CREATE_IRQCHIP afterwards -EEXIST; KVM_GET_IRQCHIP -ENXIO;
 *   irqchip routes -EINVAL; KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE -EINVAL.
 * - KVM_SIGNAL_MSI, KVM_IRQ_LINE on an MSI route and irqfds deliver.
 * - Only level-triggered vectors of routes below the reserved pins exit at
 *   EOI; edge vectors and routes of higher GSIs do not.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "irq_util.h"

#define V(i) (&self->x.v[i])
#define COUNT(i) (agent_mbox(V(i))->count)
#define LAST(i) (agent_mbox(V(i))->last)
#define MSI_LEVEL	(1u << 15)
#define MSI_ASSERT	(1u << 14)

struct routing {
	struct kvm_irq_routing hdr;
	struct kvm_irq_routing_entry e[8];
};

static long enable_split(int vm_fd, uint64_t pins, uint32_t flags)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_SPLIT_IRQCHIP, .flags = flags, .args = { pins },
	};

	return kvm_ioctl(vm_fd, KVM_ENABLE_CAP, &cap);
}

FIXTURE(split) {
	struct irq_vm x;
};

FIXTURE_SETUP(split)
{
	irq_vm_init(&self->x, 1, IRQ_VM_SPLIT);
	ASSERT_TRUE(lapic_write(V(0), APIC_LVT0, APIC_LVT_MASKED));
	ASSERT_TRUE(lapic_enable(V(0)));
}

FIXTURE_TEARDOWN(split)
{
	irq_vm_close(&self->x);
}

TEST(enable_cap_checks)
{
	struct vm vm;
	struct vcpu v;

	vm_init(&vm);
	EXPECT_EQ(1, kvm_ioctl(vm.fd, KVM_CHECK_EXTENSION, (void *)KVM_CAP_SPLIT_IRQCHIP));
	EXPECT_EQ(-EINVAL, enable_split(vm.fd, 4097, 0));
	EXPECT_EQ(-EINVAL, enable_split(vm.fd, 24, 1));
	EXPECT_EQ(0, enable_split(vm.fd, 4096, 0));
	EXPECT_EQ(-EEXIST, enable_split(vm.fd, 24, 0));
	EXPECT_EQ(-EEXIST, kvm_ioctl(vm.fd, KVM_CREATE_IRQCHIP, NULL));
	vm_close(&vm);

	vm_init(&vm);
	ASSERT_EQ(0, kvm_ioctl(vm.fd, KVM_CREATE_IRQCHIP, NULL));
	EXPECT_EQ(-EEXIST, enable_split(vm.fd, 24, 0));
	vm_close(&vm);

	vm_init(&vm);
	vcpu_init(&vm, &v, 0);
	EXPECT_EQ(-EEXIST, enable_split(vm.fd, 24, 0));
	vcpu_close(&v);
	vm_close(&vm);
}

TEST_F(split, irqchip_ioctls_and_routes)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	struct routing r = { .hdr.nr = 0 };
	struct kvm_irq_routing_entry *e;
	int fd = eventfd(0, EFD_CLOEXEC), rfd = eventfd(0, EFD_CLOEXEC);
	struct kvm_irqfd a = {
		.fd = fd, .gsi = 5, .flags = KVM_IRQFD_FLAG_RESAMPLE, .resamplefd = rfd,
	};

	EXPECT_EQ(-ENXIO, kvm_ioctl(self->x.vm.fd, KVM_GET_IRQCHIP, &chip));
	e = &r.e[r.hdr.nr++];
	memset(e, 0, sizeof(*e));
	e->gsi = 3;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
	e->u.irqchip.pin = 3;
	EXPECT_EQ(-EINVAL, kvm_ioctl(self->x.vm.fd, KVM_SET_GSI_ROUTING, &r));
	EXPECT_EQ(-EINVAL, kvm_ioctl(self->x.vm.fd, KVM_IRQFD, &a)) TH_LOG("resample needs the full irqchip");
	close(fd);
	close(rfd);
}

TEST_F(split, msi_delivery)
{
	struct kvm_msi msi = { .address_lo = MSI_ADDR(0), .data = 0x51 };
	struct routing r = { .hdr.nr = 0 };
	int fd = eventfd(0, EFD_CLOEXEC);
	struct kvm_irqfd a = { .fd = fd, .gsi = 40 };
	uint64_t one = 1;

	EXPECT_EQ(1, kvm_ioctl(self->x.vm.fd, KVM_SIGNAL_MSI, &msi));
	ASSERT_TRUE(agent_wait(V(0), 1));
	EXPECT_EQ(0x51, LAST(0));
	irq_route_msi(&r.hdr, 40, MSI_ADDR(0), 0x52);
	irq_route_msi(&r.hdr, 41, MSI_ADDR(0), 0x53);
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_SET_GSI_ROUTING, &r));
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_IRQFD, &a));
	ASSERT_EQ(8, write(fd, &one, 8));
	ASSERT_TRUE(agent_wait(V(0), 2));
	EXPECT_EQ(0x52, LAST(0));
	ASSERT_EQ(0, irq_line(&self->x, 41, 1));
	ASSERT_TRUE(agent_wait(V(0), 3));
	EXPECT_EQ(0x53, LAST(0));
	close(fd);
}

TEST_F(split, eoi_exit_for_level_vectors_of_reserved_pins)
{
	struct routing r = { .hdr.nr = 0 };
	struct vcpu *v = V(0);
	volatile struct agent_mbox *mb = agent_mbox(v);

	irq_route_msi(&r.hdr, 5, MSI_ADDR(0), MSI_LEVEL | MSI_ASSERT | 0x85);	/* reserved pin, level */
	irq_route_msi(&r.hdr, 6, MSI_ADDR(0), 0x86);				/* reserved pin, edge */
	irq_route_msi(&r.hdr, 30, MSI_ADDR(0), MSI_LEVEL | MSI_ASSERT | 0x87);	/* beyond the pins */
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_SET_GSI_ROUTING, &r));

	/* Level vector of GSI 5: the EOI leaves to userspace. */
	ASSERT_EQ(0, irq_line(&self->x, 5, 1));
	mb->cmd = CMD_WAIT;
	mb->a0 = 1;
	ASSERT_EQ(0, vcpu_run(v));
	ASSERT_EQ(KVM_EXIT_IOAPIC_EOI, v->run->exit_reason)
		TH_LOG("exit %u", v->run->exit_reason);
	EXPECT_EQ(0x85, v->run->eoi.vector);
	EXPECT_EQ(1, mb->count);
	ASSERT_TRUE(agent_run(v)) TH_LOG("the agent goes on after the EOI exit");

	/* Edge vector of GSI 6 and level vector of GSI 30: no exit. */
	ASSERT_EQ(0, irq_line(&self->x, 6, 1));
	ASSERT_TRUE(agent_wait(v, 2));
	EXPECT_EQ(0x86, LAST(0));
	ASSERT_EQ(0, irq_line(&self->x, 30, 1));
	ASSERT_TRUE(agent_wait(v, 3));
	EXPECT_EQ(0x87, LAST(0));

	/* Once more, after a routing change that drops GSI 5's level route. */
	r.hdr.nr = 0;
	irq_route_msi(&r.hdr, 5, MSI_ADDR(0), 0x85);
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_SET_GSI_ROUTING, &r));
	ASSERT_EQ(0, irq_line(&self->x, 5, 1));
	ASSERT_TRUE(agent_wait(v, 4)) TH_LOG("an edge route now: no EOI exit");
}

/*
 * The userspace PIC's interrupt: KVM_INTERRUPT queues one ExtINT vector
 * (a second before the guest took it: -EEXIST), taken when LVT0 is in
 * ExtINT mode (kvm_vcpu_ioctl_interrupt, pending_external_vector).
 */
TEST_F(split, kvm_interrupt_is_the_userspace_pic)
{
	struct kvm_interrupt irq = { .irq = 0x34 };

	ASSERT_TRUE(lapic_write(V(0), APIC_LVT0, APIC_DM_EXTINT));
	agent_set_eoi(V(0), 0);	/* an ExtINT is not the LAPIC's: no EOI */
	ASSERT_EQ(0, kvm_ioctl(V(0)->fd, KVM_INTERRUPT, &irq));
	irq.irq = 0x35;
	EXPECT_EQ(-EEXIST, kvm_ioctl(V(0)->fd, KVM_INTERRUPT, &irq));
	ASSERT_TRUE(agent_wait(V(0), 1));
	EXPECT_EQ(0x34, LAST(0));
	ASSERT_EQ(0, kvm_ioctl(V(0)->fd, KVM_INTERRUPT, &irq));
	ASSERT_TRUE(agent_wait(V(0), 2));
	EXPECT_EQ(0x35, LAST(0));
	irq.irq = 256;
	EXPECT_EQ(-EINVAL, kvm_ioctl(V(0)->fd, KVM_INTERRUPT, &irq));
}

TEST_HARNESS_MAIN
