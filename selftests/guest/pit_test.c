// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel i8254 PIT (KVM_CREATE_PIT2 after KVM_CREATE_IRQCHIP): the
 * guest programs channel 0 through ports 0x43/0x40 in mode 2 (rate
 * generator) and mode 0 (one shot) and counts the IRQ0 interrupts its
 * stubs take (irq_agent.inc), through the IOAPIC or the PIC; counter latch
 * and read-back commands; port 0x61 (gate and output of channel 2);
 * KVM_GET_PIT2 / KVM_SET_PIT2.
 *
 * KVM behaviour pinned down here (Linux 6.1, arch/x86/kvm/i8254.c,
 * irq_comm.c), which minikvm must match:
 *
 * - The PIT raises GSI 0, which KVM's default routing sends to IOAPIC
 *   pin 0 and PIC IRQ0: pin 2 sees nothing.  (The ISA IRQ0 -> pin 2
 *   override of ACPI/MP tables is the VMM's business, through
 *   KVM_SET_GSI_ROUTING.)
 * - Reinjection is on by default: no tick is delivered before the
 *   previous one was acknowledged (EOI), however many periods pass; after
 *   the EOI the next one comes at once.
 * - Port 0x61 is emulated only with KVM_PIT_SPEAKER_DUMMY in the
 *   kvm_pit_config flags; with flags 0 it exits to userspace.  Its bit 0
 *   is channel 2's gate (0 after creation), bit 1 the speaker data bit,
 *   bit 5 channel 2's output, bit 4 a refresh clock that toggles.
 * - After creation KVM_GET_PIT2 shows each channel with mode 0xff and
 *   count 0x10000, gates 1, 1, 0; a count written by the guest reads back
 *   as written (0 would be 0x10000).  KVM_SET_PIT2 reloads the counts,
 *   so a channel 0 in mode 2 starts ticking without any guest access.
 * - Read-back status byte: OUT (bit 7), access mode (5:4), mode (3:1),
 *   BCD (0); null count (bit 6) is always 0.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "irq_util.h"

#define V0 (&self->x.v[0])
#define COUNT (agent_mbox(V0)->count)
#define LAST (agent_mbox(V0)->last)

#define PIT_HZ 1193182
#define COUNT_10MS 11932

/* Control word: channel, access lobyte/hibyte, mode; then the count. */
static bool pit_program(struct vcpu *v, int ch, int mode, uint32_t count)
{
	return agent_out8(v, 0x43, (ch << 6) | 0x30 | (mode << 1)) &&
	       agent_out8(v, 0x40 + ch, count & 0xff) &&
	       agent_out8(v, 0x40 + ch, (count >> 8) & 0xff);
}

/* Counter latch command, then the two bytes. */
static bool pit_latch_read(struct vcpu *v, int ch, uint32_t *count)
{
	uint8_t lo, hi;

	if (!agent_out8(v, 0x43, ch << 6) || !agent_in8(v, 0x40 + ch, &lo) ||
	    !agent_in8(v, 0x40 + ch, &hi))
		return false;
	*count = lo | (hi << 8);
	return true;
}

static void setup_common(struct __test_metadata *_metadata, struct irq_vm *x,
			 unsigned int flags)
{
	struct vcpu *v = &x->v[0];

	irq_vm_init(x, 1, IRQ_VM_IRQCHIP | flags);
	ASSERT_TRUE(lapic_write(v, APIC_LVT0, APIC_LVT_MASKED));
	ASSERT_TRUE(lapic_enable(v));
	ASSERT_TRUE(ioapic_set_redir(v, 0, 0x30, RTE_DEST(0)));
	ASSERT_TRUE(ioapic_set_redir(v, 2, 0x32, RTE_DEST(0)));
}

FIXTURE(pit) {
	struct irq_vm x;
};

FIXTURE_SETUP(pit)
{
	setup_common(_metadata, &self->x, IRQ_VM_PIT);
}

FIXTURE_TEARDOWN(pit)
{
	irq_vm_close(&self->x);
}

TEST_F(pit, mode2_ticks_reach_ioapic_pin0)
{
	uint64_t t0, ms;
	int i;

	t0 = irq_now_ms();
	ASSERT_TRUE(pit_program(V0, 0, 2, COUNT_10MS));
	ASSERT_TRUE(agent_wait(V0, 5));
	ms = irq_now_ms() - t0;
	EXPECT_GE(ms, 40) TH_LOG("5 ticks of 10 ms in %llu ms", (unsigned long long)ms);
	for (i = 0; i < 5; i++)
		EXPECT_EQ(0x30, agent_mbox(V0)->log[i]) TH_LOG("tick %d", i);
	ASSERT_TRUE(ioapic_set_redir(V0, 0, RTE_MASKED | 0x30, RTE_DEST(0)));
}

TEST_F(pit, mode0_fires_once)
{
	ASSERT_TRUE(pit_program(V0, 0, 0, 2 * PIT_HZ / 1000));	/* 2 ms */
	ASSERT_TRUE(agent_wait(V0, 1));
	EXPECT_EQ(0x30, LAST);
	usleep(40 * 1000);
	ASSERT_TRUE(agent_idle(V0));
	ASSERT_TRUE(agent_idle(V0));
	EXPECT_EQ(1, COUNT);
}

TEST_F(pit, ticks_wait_for_the_eoi_of_the_last_one)
{
	agent_set_eoi(V0, 0);
	ASSERT_TRUE(pit_program(V0, 0, 2, COUNT_10MS));
	ASSERT_TRUE(agent_wait(V0, 1));
	usleep(50 * 1000);
	ASSERT_TRUE(agent_idle(V0));
	EXPECT_EQ(1, COUNT);
	/* The EOI lets the next (already expired) tick in at once. */
	ASSERT_TRUE(lapic_write(V0, APIC_EOI, 0));
	ASSERT_TRUE(agent_wait(V0, 2));
	ASSERT_TRUE(lapic_write(V0, APIC_EOI, 0));
	ASSERT_TRUE(agent_wait(V0, 3));
	ASSERT_TRUE(ioapic_set_redir(V0, 0, RTE_MASKED | 0x30, RTE_DEST(0)));
	ASSERT_TRUE(lapic_write(V0, APIC_EOI, 0));
	EXPECT_EQ(0x30, LAST);
}

TEST_F(pit, ticks_through_the_pic)
{
	struct vcpu *v = V0;

	ASSERT_TRUE(ioapic_set_redir(v, 0, RTE_MASKED | 0x30, RTE_DEST(0)));
	ASSERT_TRUE(lapic_write(v, APIC_LVT0, APIC_DM_EXTINT));
	ASSERT_TRUE(agent_out8(v, 0x20, 0x11) && agent_out8(v, 0x21, 0x20) &&
		    agent_out8(v, 0x21, 0x04) && agent_out8(v, 0x21, 0x01) &&
		    agent_out8(v, 0x21, 0xfe));
	agent_set_eoi(v, EOI_PIC_MASTER);
	ASSERT_TRUE(pit_program(v, 0, 2, COUNT_10MS));
	ASSERT_TRUE(agent_wait(v, 3));
	EXPECT_EQ(0x20, agent_mbox(v)->log[0]);
	EXPECT_EQ(0x20, agent_mbox(v)->log[2]);
	ASSERT_TRUE(agent_out8(v, 0x21, 0xff));
}

TEST_F(pit, counter_latch_and_read_back)
{
	uint32_t a, b, c;
	uint8_t st, lo, hi;

	ASSERT_TRUE(ioapic_set_redir(V0, 0, RTE_MASKED | 0x30, RTE_DEST(0)));
	ASSERT_TRUE(pit_program(V0, 0, 0, 0xffff));	/* about 55 ms */
	ASSERT_TRUE(pit_latch_read(V0, 0, &a));
	EXPECT_LE(a, 0xffff);
	EXPECT_GT(a, 0);
	usleep(5 * 1000);
	ASSERT_TRUE(pit_latch_read(V0, 0, &b));
	EXPECT_LT(b, a);
	EXPECT_GE(a - b, 5000) TH_LOG("5 ms: %u -> %u", a, b);

	/* A second latch before the first was read is ignored. */
	ASSERT_TRUE(agent_out8(V0, 0x43, 0x00));
	usleep(5 * 1000);
	ASSERT_TRUE(agent_out8(V0, 0x43, 0x00));
	ASSERT_TRUE(agent_in8(V0, 0x40, &lo));
	ASSERT_TRUE(agent_in8(V0, 0x40, &hi));
	ASSERT_TRUE(pit_latch_read(V0, 0, &c));
	EXPECT_GE((uint32_t)(lo | hi << 8) - c, 5000) TH_LOG("%u then %u", lo | hi << 8, c);

	/* Read-back, status only (0xe2): OUT 0, lobyte/hibyte, mode 0. */
	ASSERT_TRUE(agent_out8(V0, 0x43, 0xe2));
	ASSERT_TRUE(agent_in8(V0, 0x40, &st));
	EXPECT_EQ(0x30, st);
	/* Read-back, count and status (0xc2): status first, then the count. */
	ASSERT_TRUE(agent_out8(V0, 0x43, 0xc2));
	ASSERT_TRUE(agent_in8(V0, 0x40, &st));
	EXPECT_EQ(0x30, st);
	ASSERT_TRUE(agent_in8(V0, 0x40, &lo));
	ASSERT_TRUE(agent_in8(V0, 0x40, &hi));
	EXPECT_LT((uint32_t)(lo | hi << 8), c);

	/* Mode 2, and a mode 0 count that has run out: OUT = 1. */
	ASSERT_TRUE(pit_program(V0, 1, 2, 0x1234));
	ASSERT_TRUE(agent_out8(V0, 0x43, 0xe4));
	ASSERT_TRUE(agent_in8(V0, 0x41, &st));
	EXPECT_EQ(0x34, st & 0x7f);
	ASSERT_TRUE(pit_program(V0, 0, 0, 100));
	usleep(2 * 1000);
	ASSERT_TRUE(agent_out8(V0, 0x43, 0xe2));
	ASSERT_TRUE(agent_in8(V0, 0x40, &st));
	EXPECT_EQ(0xb0, st);
}

TEST_F(pit, get_set_pit2)
{
	struct kvm_pit_state2 ps;
	int i;

	memset(&ps, 0xcc, sizeof(ps));
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_GET_PIT2, &ps));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(0x10000, ps.channels[i].count) TH_LOG("channel %d", i);
		EXPECT_EQ(0xff, ps.channels[i].mode) TH_LOG("channel %d", i);
		EXPECT_EQ(i != 2, ps.channels[i].gate) TH_LOG("channel %d", i);
	}
	EXPECT_EQ(0, ps.flags);

	ASSERT_TRUE(pit_program(V0, 1, 3, 0x1234));
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_GET_PIT2, &ps));
	EXPECT_EQ(0x1234, ps.channels[1].count);
	EXPECT_EQ(3, ps.channels[1].mode);
	EXPECT_EQ(3, ps.channels[1].rw_mode);
	EXPECT_EQ(0, ps.channels[1].bcd);

	/* Channel 0 in mode 2 through KVM_SET_PIT2 alone: it ticks. */
	ps.channels[0].count = COUNT_10MS;
	ps.channels[0].mode = 2;
	ps.channels[0].rw_mode = 3;
	ps.channels[0].read_state = 3;
	ps.channels[0].write_state = 3;
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_SET_PIT2, &ps));
	ASSERT_TRUE(agent_wait(V0, 2));
	EXPECT_EQ(0x30, LAST);
	memset(&ps, 0, sizeof(ps));
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_GET_PIT2, &ps));
	EXPECT_EQ(COUNT_10MS, ps.channels[0].count);
	EXPECT_EQ(2, ps.channels[0].mode);
	EXPECT_EQ(0x1234, ps.channels[1].count);
	ASSERT_TRUE(ioapic_set_redir(V0, 0, RTE_MASKED | 0x30, RTE_DEST(0)));
}

/* ---- port 0x61 ----------------------------------------------------------- */

FIXTURE(speaker) {
	struct irq_vm x;
};

FIXTURE_SETUP(speaker)
{
	setup_common(_metadata, &self->x, IRQ_VM_PIT_SPEAKER);
}

FIXTURE_TEARDOWN(speaker)
{
	irq_vm_close(&self->x);
}

TEST_F(speaker, port_0x61_gate_and_output_of_channel_2)
{
	uint8_t val;

	ASSERT_TRUE(agent_in8(V0, 0x61, &val));
	EXPECT_EQ(0, val & 0x23);		/* gate 0, data 0, OUT 0 */
	ASSERT_TRUE(agent_out8(V0, 0x61, 0x03));
	ASSERT_TRUE(agent_in8(V0, 0x61, &val));
	EXPECT_EQ(0x03, val & 0x03);

	ASSERT_TRUE(pit_program(V0, 2, 0, 0xffff));
	ASSERT_TRUE(agent_in8(V0, 0x61, &val));
	EXPECT_EQ(0, val & 0x20);
	ASSERT_TRUE(pit_program(V0, 2, 0, 50));
	usleep(2 * 1000);
	ASSERT_TRUE(agent_in8(V0, 0x61, &val));
	EXPECT_EQ(0x23, val & 0x23);

	ASSERT_TRUE(agent_out8(V0, 0x61, 0x00));
	ASSERT_TRUE(agent_in8(V0, 0x61, &val));
	EXPECT_EQ(0x20, val & 0x23);
}

/* Without KVM_PIT_SPEAKER_DUMMY, an IN from 0x61 is the VMM's. */
TEST_F(pit, port_0x61_exits_without_speaker_flag)
{
	volatile struct agent_mbox *mb = agent_mbox(V0);

	mb->cmd = CMD_IN8;
	mb->a0 = 0x61;
	ASSERT_EQ(0, vcpu_run(V0));
	ASSERT_TRUE(exit_is_io(V0, KVM_EXIT_IO_IN, 1, 0x61, 1));
	*(uint8_t *)io_data(V0) = 0x5a;
	ASSERT_TRUE(agent_run(V0));
	EXPECT_EQ(0x5a, mb->res);

	mb->cmd = CMD_OUT8;
	mb->a0 = 0x61;
	mb->a1 = 0x03;
	ASSERT_EQ(0, vcpu_run(V0));
	ASSERT_TRUE(exit_is_io(V0, KVM_EXIT_IO_OUT, 1, 0x61, 1));
	EXPECT_EQ(0x03, *(uint8_t *)io_data(V0));
	ASSERT_TRUE(agent_run(V0));
}

TEST_HARNESS_MAIN
