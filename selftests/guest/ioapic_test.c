// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel IOAPIC (KVM_CREATE_IRQCHIP): the guest programs it through
 * IOREGSEL/IOWIN at 0xfec00000 and its LAPIC through the xAPIC page, the
 * test raises lines with KVM_IRQ_LINE / KVM_IRQ_LINE_STATUS and checks what
 * the guest's interrupt stubs saw (irq_agent.inc, irq_util.h).
 *
 * KVM behaviour pinned down here (Linux 6.1, virt/kvm/irqchip.c
 * kvm_set_irq(), arch/x86/kvm/ioapic.c), which minikvm must match:
 *
 * - Registers: ID (0) reads (id & 0xf) << 24 and is writable; version (1)
 *   reads 0x00170011 (version 0x11, max redirection entry 0x17) and
 *   ignores writes; arbitration (2) reads the same as ID.  IOREGSEL keeps
 *   8 bits.  Redirection entries reset to masked (low 0x00010000, high 0)
 *   and keep every other bit as written, except Remote IRR (14) and
 *   delivery status (12), which are read-only.  Indirect registers 3-0xf
 *   and past pin 23 read 0xffffffff.
 * - KVM_IRQ_LINE_STATUS's status: the sum over the GSI's routes (GSIs 0-15
 *   go to the PIC and the IOAPIC, 16-23 to the IOAPIC only) of each
 *   chip's answer, routes answering < 0 left out, -1 if all did:
 *     IOAPIC raise: number of LAPICs that accepted it (1 per vCPU), 0 if
 *       the destination matched no vCPU or the LAPIC is software-disabled
 *       (the interrupt is dropped, not kept pending), 0 for an edge pin
 *       raised again while still high (coalesced, no interrupt),
 *       -1 if masked or (level) while Remote IRR is set;
 *     IOAPIC lower: 1, masked or not;
 *     PIC raise: 1 (new edge), 0 (IRR already set), -1 if IMR masks it;
 *       PIC lower: 1, or -1 if masked.
 *   So a fresh VM (PIC IMR 0) answers 1 for GSI 3 although the IOAPIC
 *   pin is masked, and 2 when both chips take it.  A GSI with no route
 *   answers -1; KVM_IRQ_LINE itself returns 0 either way.  GSI 8 (RTC)
 *   with KVM_IRQ_LINE_STATUS: 0 while the last interrupt has not been
 *   EOI'd by the guest, although it is an edge pin, and that edge is
 *   dropped (KVM's RTC coalescing, for guests that count ticks).
 * - An edge raised while its pin is masked is lost at unmask; a level
 *   line still high is delivered by the unmasking write.
 * - Level: Remote IRR is set on delivery and cleared by the LAPIC EOI;
 *   at that EOI a line still high is delivered again at once.
 * - KVM_GET_IRQCHIP(IOAPIC) returns base 0xfec00000, id, IOREGSEL, the
 *   pins' IRR and the 24 entries as written; KVM_SET_IRQCHIP replaces
 *   them and the guest reads the new entries.
 * - Setup facts the fixtures rely on: KVM resets the BSP's LVT0 to ExtINT
 *   unmasked (so PIC interrupts would reach it: the fixtures mask LVT0),
 *   and creates the other vCPUs in KVM_MP_STATE_UNINITIALIZED (irq_util
 *   makes them runnable); see pic_test and irqchip_ioctl_test.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <stdio.h>
#include <string.h>

#include "kselftest_harness.h"
#include "irq_util.h"

#define V(i) (&self->x.v[i])

static int32_t raise_status(struct __test_metadata *_metadata, struct irq_vm *x,
			    uint32_t gsi, int level)
{
	int32_t st = 0x7777;

	EXPECT_EQ(0, irq_line_status(x, gsi, level, &st));
	return st;
}

#define LINE(gsi, level) raise_status(_metadata, &self->x, gsi, level)
#define COUNT(i) (agent_mbox(V(i))->count)

FIXTURE(ioapic) {
	struct irq_vm x;
};

FIXTURE_SETUP(ioapic)
{
	irq_vm_init(&self->x, 1, IRQ_VM_IRQCHIP);
	/* KVM resets the BSP's LVT0 to ExtINT, unmasked: mask it, so that
	 * the PIC (which GSIs 0-15 reach too) cannot interrupt. */
	ASSERT_TRUE(lapic_write(V(0), APIC_LVT0, APIC_LVT_MASKED));
}

FIXTURE_TEARDOWN(ioapic)
{
	irq_vm_close(&self->x);
}

TEST_F(ioapic, registers_after_reset_and_read_back)
{
	uint32_t val, lo, hi;
	int pin;

	ASSERT_TRUE(ioapic_read(V(0), 0, &val));
	EXPECT_EQ(0, val);
	ASSERT_TRUE(ioapic_read(V(0), 1, &val));
	EXPECT_EQ(0x00170011, val);
	ASSERT_TRUE(ioapic_read(V(0), 2, &val));
	EXPECT_EQ(0, val);

	/* ID: 4 bits at 24..27; arbitration mirrors it; version is RO. */
	ASSERT_TRUE(ioapic_write(V(0), 0, 0xffffffff));
	ASSERT_TRUE(ioapic_read(V(0), 0, &val));
	EXPECT_EQ(0x0f000000, val);
	ASSERT_TRUE(ioapic_write(V(0), 0, 0x0a000000));
	ASSERT_TRUE(ioapic_read(V(0), 0, &val));
	EXPECT_EQ(0x0a000000, val);
	ASSERT_TRUE(ioapic_read(V(0), 2, &val));
	EXPECT_EQ(0x0a000000, val);
	ASSERT_TRUE(ioapic_write(V(0), 1, 0));
	ASSERT_TRUE(ioapic_read(V(0), 1, &val));
	EXPECT_EQ(0x00170011, val);
	ASSERT_TRUE(ioapic_write(V(0), 2, 0x05000000));
	ASSERT_TRUE(ioapic_read(V(0), 0, &val));
	EXPECT_EQ(0x0a000000, val);

	/* IOREGSEL is an 8-bit register. */
	ASSERT_TRUE(agent_w32(V(0), IOAPIC_GPA, 0x1234));
	ASSERT_TRUE(agent_r32(V(0), IOAPIC_GPA, &val));
	EXPECT_EQ(0x34, val);

	for (pin = 0; pin < 24; pin++) {
		ASSERT_TRUE(ioapic_get_redir(V(0), pin, &lo, &hi));
		EXPECT_EQ(RTE_MASKED, lo) TH_LOG("pin %d", pin);
		EXPECT_EQ(0, hi) TH_LOG("pin %d", pin);
	}

	/* Remote IRR and delivery status are read-only. */
	ASSERT_TRUE(ioapic_set_redir(V(0), 5, RTE_MASKED | RTE_LEVEL | RTE_REMOTE_IRR |
				     (1u << 12) | RTE_LOGICAL | 0x45, 0xff00ffff));
	ASSERT_TRUE(ioapic_get_redir(V(0), 5, &lo, &hi));
	EXPECT_EQ(RTE_MASKED | RTE_LEVEL | RTE_LOGICAL | 0x45, lo);
	EXPECT_EQ(0xff00ffff, hi);

	/* No register behind these indexes. */
	ASSERT_TRUE(ioapic_read(V(0), 0x03, &val));
	EXPECT_EQ(0xffffffff, val);
	ASSERT_TRUE(ioapic_read(V(0), 0x0f, &val));
	EXPECT_EQ(0xffffffff, val);
	ASSERT_TRUE(ioapic_write(V(0), 0x40, 0x12345678));
	ASSERT_TRUE(ioapic_read(V(0), 0x40, &val));
	EXPECT_EQ(0xffffffff, val);
	ASSERT_TRUE(ioapic_read(V(0), 0xff, &val));
	EXPECT_EQ(0xffffffff, val);
}

TEST_F(ioapic, edge_pin_delivers_once)
{
	bool isr;

	ASSERT_TRUE(lapic_enable(V(0)));
	ASSERT_TRUE(ioapic_set_redir(V(0), 17, 0x41, RTE_DEST(0)));
	EXPECT_EQ(1, LINE(17, 1));
	ASSERT_TRUE(agent_wait(V(0), 1));
	EXPECT_EQ(0x41, agent_mbox(V(0))->log[0]);
	EXPECT_EQ(1, LINE(17, 0));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(1, COUNT(0));
	ASSERT_TRUE(lapic_vector_bit(V(0), APIC_ISR, 0x41, &isr));
	EXPECT_FALSE(isr);
	ASSERT_TRUE(lapic_vector_bit(V(0), APIC_TMR, 0x41, &isr));
	EXPECT_FALSE(isr);

	/* A second pulse: a second interrupt. */
	EXPECT_EQ(1, LINE(17, 1));
	EXPECT_EQ(1, LINE(17, 0));
	ASSERT_TRUE(agent_wait(V(0), 2));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(2, COUNT(0));
	EXPECT_EQ(0x41, agent_mbox(V(0))->log[1]);
}

TEST_F(ioapic, edge_raised_again_while_high_is_coalesced)
{
	ASSERT_TRUE(lapic_enable(V(0)));
	ASSERT_TRUE(ioapic_set_redir(V(0), 16, 0x51, RTE_DEST(0)));
	EXPECT_EQ(1, LINE(16, 1));
	ASSERT_TRUE(agent_wait(V(0), 1));
	EXPECT_EQ(0, LINE(16, 1));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(1, COUNT(0));
	EXPECT_EQ(1, LINE(16, 0));
	EXPECT_EQ(1, LINE(16, 0));
	EXPECT_EQ(1, LINE(16, 1));
	ASSERT_TRUE(agent_wait(V(0), 2));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(2, COUNT(0));
}

TEST_F(ioapic, level_pin_remote_irr_until_eoi)
{
	uint32_t lo, hi;
	bool bit;

	ASSERT_TRUE(lapic_enable(V(0)));
	agent_set_eoi(V(0), 0);		/* the test sends the EOI */
	ASSERT_TRUE(ioapic_set_redir(V(0), 18, RTE_LEVEL | 0x42, RTE_DEST(0)));
	ASSERT_TRUE(ioapic_get_redir(V(0), 18, &lo, &hi));
	EXPECT_EQ(RTE_LEVEL | 0x42, lo);

	EXPECT_EQ(1, LINE(18, 1));
	ASSERT_TRUE(agent_wait(V(0), 1));
	ASSERT_TRUE(ioapic_get_redir(V(0), 18, &lo, &hi));
	EXPECT_EQ(RTE_LEVEL | RTE_REMOTE_IRR | 0x42, lo);
	ASSERT_TRUE(lapic_vector_bit(V(0), APIC_ISR, 0x42, &bit));
	EXPECT_TRUE(bit);
	ASSERT_TRUE(lapic_vector_bit(V(0), APIC_TMR, 0x42, &bit));
	EXPECT_TRUE(bit);

	/* Still high, Remote IRR set: not delivered, status -1. */
	EXPECT_EQ(-1, LINE(18, 1));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(1, COUNT(0));

	EXPECT_EQ(1, LINE(18, 0));
	ASSERT_TRUE(ioapic_get_redir(V(0), 18, &lo, &hi));
	EXPECT_EQ(RTE_LEVEL | RTE_REMOTE_IRR | 0x42, lo);

	/* EOI with the line low: Remote IRR clears, nothing more. */
	ASSERT_TRUE(lapic_write(V(0), APIC_EOI, 0));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(1, COUNT(0));
	ASSERT_TRUE(ioapic_get_redir(V(0), 18, &lo, &hi));
	EXPECT_EQ(RTE_LEVEL | 0x42, lo);
	ASSERT_TRUE(lapic_vector_bit(V(0), APIC_ISR, 0x42, &bit));
	EXPECT_FALSE(bit);
}

TEST_F(ioapic, level_pin_redelivered_at_eoi_while_high)
{
	uint32_t lo, hi;

	ASSERT_TRUE(lapic_enable(V(0)));
	agent_set_eoi(V(0), 0);
	ASSERT_TRUE(ioapic_set_redir(V(0), 19, RTE_LEVEL | 0x43, RTE_DEST(0)));
	EXPECT_EQ(1, LINE(19, 1));
	ASSERT_TRUE(agent_wait(V(0), 1));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(1, COUNT(0));

	ASSERT_TRUE(lapic_write(V(0), APIC_EOI, 0));
	ASSERT_TRUE(agent_wait(V(0), 2));
	ASSERT_TRUE(ioapic_get_redir(V(0), 19, &lo, &hi));
	EXPECT_EQ(RTE_LEVEL | RTE_REMOTE_IRR | 0x43, lo);

	ASSERT_TRUE(lapic_write(V(0), APIC_EOI, 0));
	ASSERT_TRUE(agent_wait(V(0), 3));

	EXPECT_EQ(1, LINE(19, 0));
	ASSERT_TRUE(lapic_write(V(0), APIC_EOI, 0));
	ASSERT_TRUE(agent_idle(V(0)));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(3, COUNT(0));
	ASSERT_TRUE(ioapic_get_redir(V(0), 19, &lo, &hi));
	EXPECT_EQ(RTE_LEVEL | 0x43, lo);
	EXPECT_EQ(0x43, agent_mbox(V(0))->log[2]);
}

TEST_F(ioapic, mask_bit_suppresses_delivery)
{
	ASSERT_TRUE(lapic_enable(V(0)));

	/* Edge: raised while masked, lost when unmasked. */
	ASSERT_TRUE(ioapic_set_redir(V(0), 20, RTE_MASKED | 0x44, RTE_DEST(0)));
	EXPECT_EQ(-1, LINE(20, 1));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(0, COUNT(0));
	ASSERT_TRUE(ioapic_set_redir(V(0), 20, 0x44, RTE_DEST(0)));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(0, COUNT(0));
	EXPECT_EQ(1, LINE(20, 0));
	EXPECT_EQ(1, LINE(20, 1));
	ASSERT_TRUE(agent_wait(V(0), 1));
	EXPECT_EQ(1, LINE(20, 0));

	/* Masked again: lowering still answers 1, raising -1. */
	ASSERT_TRUE(ioapic_set_redir(V(0), 20, RTE_MASKED | 0x44, RTE_DEST(0)));
	EXPECT_EQ(-1, LINE(20, 1));
	EXPECT_EQ(1, LINE(20, 0));

	/* Level: raised while masked, delivered by the unmasking write. */
	ASSERT_TRUE(ioapic_set_redir(V(0), 21, RTE_MASKED | RTE_LEVEL | 0x45, RTE_DEST(0)));
	EXPECT_EQ(-1, LINE(21, 1));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(1, COUNT(0));
	agent_set_eoi(V(0), 0);
	ASSERT_TRUE(ioapic_set_redir(V(0), 21, RTE_LEVEL | 0x45, RTE_DEST(0)));
	ASSERT_TRUE(agent_wait(V(0), 2));
	EXPECT_EQ(0x45, agent_mbox(V(0))->last);
	EXPECT_EQ(1, LINE(21, 0));
	ASSERT_TRUE(lapic_write(V(0), APIC_EOI, 0));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(2, COUNT(0));
}

/*
 * GSIs 0-15 reach the PIC too: its answer is added.  The PIC's IMR is 0
 * after KVM_CREATE_IRQCHIP; LVT0 is masked (setup), so the PIC never
 * interrupts the vCPU here.
 */
TEST_F(ioapic, line_status_adds_pic_and_ioapic_answers)
{
	ASSERT_TRUE(lapic_enable(V(0)));
	/* IOAPIC pin 3 masked (reset), PIC takes a new edge: 1. */
	EXPECT_EQ(1, LINE(3, 1));
	EXPECT_EQ(2, LINE(3, 0));		/* both lower: 1 + 1 */

	/* Both masked: -1; lowering: the IOAPIC's 1 only. */
	ASSERT_TRUE(agent_out8(V(0), 0x21, 0xff));
	EXPECT_EQ(-1, LINE(4, 1));
	EXPECT_EQ(1, LINE(4, 0));

	/* Both take it: 2, and the vCPU gets the IOAPIC's vector once. */
	ASSERT_TRUE(agent_out8(V(0), 0x21, 0x00));
	ASSERT_TRUE(ioapic_set_redir(V(0), 5, 0x46, RTE_DEST(0)));
	EXPECT_EQ(2, LINE(5, 1));
	EXPECT_EQ(2, LINE(5, 0));
	ASSERT_TRUE(agent_wait(V(0), 1));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(1, COUNT(0));
	EXPECT_EQ(0x46, agent_mbox(V(0))->log[0]);

	/* IOAPIC-only pin, masked: lowering answers 1. */
	EXPECT_EQ(-1, LINE(22, 1));
	EXPECT_EQ(1, LINE(22, 0));
}

TEST_F(ioapic, line_status_without_a_target)
{
	struct kvm_irq_level l = { .irq = 1000, .level = 1 };

	/* LAPIC software-disabled (reset state): accepted by nobody, 0. */
	ASSERT_TRUE(ioapic_set_redir(V(0), 21, 0x47, RTE_DEST(0)));
	EXPECT_EQ(0, LINE(21, 1));
	EXPECT_EQ(1, LINE(21, 0));
	ASSERT_TRUE(lapic_enable(V(0)));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(0, COUNT(0));		/* dropped, not kept pending */
	EXPECT_EQ(1, LINE(21, 1));
	ASSERT_TRUE(agent_wait(V(0), 1));
	EXPECT_EQ(1, LINE(21, 0));

	/* Physical destination 5: no such APIC, 0. */
	ASSERT_TRUE(ioapic_set_redir(V(0), 22, 0x48, RTE_DEST(5)));
	EXPECT_EQ(0, LINE(22, 1));
	EXPECT_EQ(1, LINE(22, 0));
	/* Physical broadcast 0xff: the one vCPU. */
	ASSERT_TRUE(ioapic_set_redir(V(0), 22, 0x48, RTE_DEST(0xff)));
	EXPECT_EQ(1, LINE(22, 1));
	EXPECT_EQ(1, LINE(22, 0));
	ASSERT_TRUE(agent_wait(V(0), 2));
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(2, COUNT(0));

	/* A GSI without a route: -1; KVM_IRQ_LINE still succeeds. */
	EXPECT_EQ(-1, LINE(100, 1));
	EXPECT_EQ(-1, LINE(100, 0));
	EXPECT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_IRQ_LINE, &l));
	EXPECT_EQ(0, irq_line(&self->x, 4095, 1));
	EXPECT_EQ(-1, LINE(4096, 1));
	EXPECT_EQ(-1, LINE(0xffffffff, 1));
}

/*
 * GSI 8 (the RTC's) is special for KVM_IRQ_LINE_STATUS: KVM tracks the EOI
 * of its last interrupt and answers 0 (coalesced) to a new edge while the
 * guest has not acknowledged the previous one, although the pin is edge:
 * that edge is dropped (not put into the LAPIC's IRR).  Other edge pins
 * answer 1 and the vector waits in IRR.
 */
TEST_F(ioapic, rtc_gsi8_status_tracks_the_eoi)
{
	bool irr;

	ASSERT_TRUE(lapic_enable(V(0)));
	ASSERT_TRUE(agent_out8(V(0), 0xa1, 0x01));	/* PIC IRQ8 masked: -1 */
	agent_set_eoi(V(0), 0);
	ASSERT_TRUE(ioapic_set_redir(V(0), 8, 0x58, RTE_DEST(0)));
	ASSERT_TRUE(ioapic_set_redir(V(0), 16, 0x69, RTE_DEST(0)));

	EXPECT_EQ(1, LINE(8, 1));
	EXPECT_EQ(1, LINE(8, 0));
	ASSERT_TRUE(agent_wait(V(0), 1));
	EXPECT_EQ(0, LINE(8, 1));		/* no EOI yet: coalesced */
	EXPECT_EQ(1, LINE(8, 0));
	ASSERT_TRUE(lapic_vector_bit(V(0), APIC_IRR, 0x58, &irr));
	EXPECT_FALSE(irr);

	/* The same on pin 16: 1, and the vector waits in IRR. */
	EXPECT_EQ(1, LINE(16, 1));
	EXPECT_EQ(1, LINE(16, 0));
	ASSERT_TRUE(agent_wait(V(0), 2));
	EXPECT_EQ(1, LINE(16, 1));
	EXPECT_EQ(1, LINE(16, 0));
	ASSERT_TRUE(agent_idle(V(0)));
	ASSERT_TRUE(lapic_vector_bit(V(0), APIC_IRR, 0x69, &irr));
	EXPECT_TRUE(irr);

	/* EOI 0x69 (highest in service), then the 0x69 that was pending,
	 * then 0x58: only then GSI 8 answers 1 again. */
	ASSERT_TRUE(lapic_write(V(0), APIC_EOI, 0));
	ASSERT_TRUE(agent_wait(V(0), 3));
	ASSERT_TRUE(lapic_write(V(0), APIC_EOI, 0));
	EXPECT_EQ(0, LINE(8, 1));
	EXPECT_EQ(1, LINE(8, 0));
	ASSERT_TRUE(lapic_write(V(0), APIC_EOI, 0));
	EXPECT_EQ(1, LINE(8, 1));
	EXPECT_EQ(1, LINE(8, 0));
	ASSERT_TRUE(agent_wait(V(0), 4));
	EXPECT_EQ(0x58, agent_mbox(V(0))->last);
}

TEST_F(ioapic, get_set_irqchip_round_trip)
{
	struct kvm_irqchip chip;
	uint32_t lo, hi, val;
	int pin;

	ASSERT_TRUE(lapic_enable(V(0)));
	ASSERT_TRUE(ioapic_write(V(0), 0, 0x05000000));
	ASSERT_TRUE(ioapic_set_redir(V(0), 6, RTE_MASKED | RTE_LEVEL | 0x49,
				     RTE_DEST(3)));
	/* IOAPIC: masked, IRR only (-1); the PIC (IMR 0) takes the edge: 1. */
	EXPECT_EQ(1, LINE(6, 1));

	memset(&chip, 0xcc, sizeof(chip));
	chip.chip_id = KVM_IRQCHIP_IOAPIC;
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_GET_IRQCHIP, &chip));
	EXPECT_EQ(KVM_IRQCHIP_IOAPIC, chip.chip_id);
	EXPECT_EQ(0xfec00000, chip.chip.ioapic.base_address);
	EXPECT_EQ(5, chip.chip.ioapic.id);
	EXPECT_EQ(0x1c, chip.chip.ioapic.ioregsel);	/* last: pin 6's low half */
	EXPECT_EQ(1u << 6, chip.chip.ioapic.irr);
	EXPECT_EQ(((uint64_t)RTE_DEST(3) << 32) | RTE_MASKED | RTE_LEVEL | 0x49,
		  chip.chip.ioapic.redirtbl[6].bits);
	for (pin = 0; pin < 24; pin++)
		if (pin != 6)
			EXPECT_EQ(RTE_MASKED, chip.chip.ioapic.redirtbl[pin].bits)
				TH_LOG("pin %d", pin);

	/* Replace: new ID, pin 7 unmasked edge, vector 0x4a. */
	chip.chip.ioapic.id = 9;
	chip.chip.ioapic.redirtbl[7].bits = 0x4a;
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_SET_IRQCHIP, &chip));
	ASSERT_TRUE(ioapic_read(V(0), 0, &val));
	EXPECT_EQ(0x09000000, val);
	ASSERT_TRUE(ioapic_get_redir(V(0), 7, &lo, &hi));
	EXPECT_EQ(0x4a, lo);
	EXPECT_EQ(0, hi);
	ASSERT_TRUE(ioapic_get_redir(V(0), 6, &lo, &hi));
	EXPECT_EQ(RTE_MASKED | RTE_LEVEL | 0x49, lo);
	EXPECT_EQ(RTE_DEST(3), hi);

	ASSERT_EQ(0, irq_line(&self->x, 7, 1));
	ASSERT_TRUE(agent_wait(V(0), 1));
	EXPECT_EQ(0x4a, agent_mbox(V(0))->last);
	ASSERT_EQ(0, irq_line(&self->x, 7, 0));
	ASSERT_EQ(0, irq_line(&self->x, 6, 0));

	memset(&chip, 0, sizeof(chip));
	chip.chip_id = KVM_IRQCHIP_IOAPIC;
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_GET_IRQCHIP, &chip));
	EXPECT_EQ(0, chip.chip.ioapic.irr);
	EXPECT_EQ(0x4a, chip.chip.ioapic.redirtbl[7].bits);
}

/* Two vCPUs: APIC IDs 0 and 1, flat logical IDs 0x01 and 0x02. */
FIXTURE(ioapic2) {
	struct irq_vm x;
};

FIXTURE_SETUP(ioapic2)
{
	int i;

	irq_vm_init(&self->x, 2, IRQ_VM_IRQCHIP);
	for (i = 0; i < 2; i++) {
		ASSERT_TRUE(lapic_write(V(i), APIC_LVT0, APIC_LVT_MASKED));
		ASSERT_TRUE(lapic_enable(V(i)));
		ASSERT_TRUE(lapic_write(V(i), APIC_LDR, (1u << i) << 24));
	}
}

FIXTURE_TEARDOWN(ioapic2)
{
	irq_vm_close(&self->x);
}

static void pulse_and_check(struct __test_metadata *_metadata, struct irq_vm *x,
			    uint32_t lo, uint32_t hi, int32_t status,
			    uint64_t want0, uint64_t want1)
{
	int32_t st;
	int i;

	ASSERT_TRUE(ioapic_set_redir(&x->v[0], 23, lo, hi));
	ASSERT_EQ(0, irq_line_status(x, 23, 1, &st));
	EXPECT_EQ(status, st) TH_LOG("entry 0x%08x%08x", hi, lo);
	ASSERT_EQ(0, irq_line(x, 23, 0));
	for (i = 0; i < 2; i++)
		ASSERT_TRUE(agent_idle(&x->v[i]));
	EXPECT_EQ(want0, agent_mbox(&x->v[0])->count) TH_LOG("entry 0x%08x%08x", hi, lo);
	EXPECT_EQ(want1, agent_mbox(&x->v[1])->count) TH_LOG("entry 0x%08x%08x", hi, lo);
}

TEST_F(ioapic2, physical_and_logical_destinations)
{
	uint32_t val;

	ASSERT_TRUE(lapic_read(V(1), APIC_ID, &val));
	EXPECT_EQ(1u << 24, val);
	pulse_and_check(_metadata, &self->x, 0x50, RTE_DEST(1), 1, 0, 1);
	pulse_and_check(_metadata, &self->x, 0x50, RTE_DEST(0), 1, 1, 1);
	pulse_and_check(_metadata, &self->x, RTE_LOGICAL | 0x50, RTE_DEST(0x02), 1, 1, 2);
	pulse_and_check(_metadata, &self->x, RTE_LOGICAL | 0x50, RTE_DEST(0x01), 1, 2, 2);
	pulse_and_check(_metadata, &self->x, RTE_LOGICAL | 0x50, RTE_DEST(0x03), 2, 3, 3);
	pulse_and_check(_metadata, &self->x, RTE_LOGICAL | 0x50, RTE_DEST(0x04), 0, 3, 3);
	pulse_and_check(_metadata, &self->x, 0x50, RTE_DEST(0xff), 2, 4, 4);
	pulse_and_check(_metadata, &self->x, 0x50, RTE_DEST(2), 0, 4, 4);
}

TEST_HARNESS_MAIN
