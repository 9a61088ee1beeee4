// SPDX-License-Identifier: GPL-2.0
// The irqchip ioctls of VM and vCPU fds (vm_irq.cpp, vcpu_irq.cpp), driven
// through the entry points the kernel glue calls, on the simulated machine:
// argument checks with KVM 6.1's error codes, the default routing, lines,
// MSIs and routing tables reaching the LAPIC's IRR, device state round
// trips, INIT/SIPI bookkeeping, and allocation failure without leaks.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <minikvm/core.h>

#include "user_platform.h"
#include "vm_fixture.h"

extern "C" long mk_alloc_live(void);

namespace {

using mk::test::ptr;

class VmIrq : public mk::test::VmFixture {
 protected:
  void mask_pics() {
    for (unsigned id : {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE}) {
      kvm_irqchip chip{};
      chip.chip_id = id;
      ASSERT_EQ(vm(KVM_GET_IRQCHIP, ptr(&chip)), 0);
      chip.chip.pic.imr = 0xff;
      ASSERT_EQ(vm(KVM_SET_IRQCHIP, ptr(&chip)), 0);
    }
  }
  // IOAPIC pin -> vector, fixed, physical destination dest, edge, unmasked.
  void route_pin(unsigned pin, unsigned vector, unsigned dest, bool level = false) {
    kvm_irqchip chip{};
    chip.chip_id = KVM_IRQCHIP_IOAPIC;
    ASSERT_EQ(vm(KVM_GET_IRQCHIP, ptr(&chip)), 0);
    chip.chip.ioapic.redirtbl[pin].bits = vector | (level ? 1ull << 15 : 0) | (static_cast<unsigned long long>(dest) << 56);
    ASSERT_EQ(vm(KVM_SET_IRQCHIP, ptr(&chip)), 0);
  }
};

TEST_F(VmIrq, WithoutIrqchipTheIrqchipIoctlsRefuseAsKvm) {
  kvm_irq_level l{};
  EXPECT_EQ(vm(KVM_IRQ_LINE, ptr(&l)), -ENXIO);
  EXPECT_EQ(vm(KVM_IRQ_LINE_STATUS, ptr(&l)), -ENXIO);
  kvm_irqchip chip{};
  EXPECT_EQ(vm(KVM_GET_IRQCHIP, ptr(&chip)), -ENXIO);
  EXPECT_EQ(vm(KVM_SET_IRQCHIP, ptr(&chip)), -ENXIO);
  kvm_irq_routing r{};
  EXPECT_EQ(vm(KVM_SET_GSI_ROUTING, ptr(&r)), -EINVAL);
  kvm_msi msi{};
  EXPECT_EQ(vm(KVM_SIGNAL_MSI, ptr(&msi)), -EINVAL);
  kvm_pit_state2 ps{};
  EXPECT_EQ(vm(KVM_GET_PIT2, ptr(&ps)), -ENXIO);
  EXPECT_EQ(vm(KVM_SET_PIT2, ptr(&ps)), -ENXIO);
  ASSERT_GE(add_vcpu(0), 0);
  kvm_lapic_state ls{};
  EXPECT_EQ(vcpu(0, KVM_GET_LAPIC, ptr(&ls)), -EINVAL);
  EXPECT_EQ(vcpu(0, KVM_SET_LAPIC, ptr(&ls)), -EINVAL);
  // KVM_INTERRUPT is the userspace irqchip's: one vector at a time.
  kvm_interrupt irq{256};
  EXPECT_EQ(vcpu(0, KVM_INTERRUPT, ptr(&irq)), -EINVAL);
  irq.irq = 0x30;
  EXPECT_EQ(vcpu(0, KVM_INTERRUPT, ptr(&irq)), 0);
  EXPECT_EQ(vcpu(0, KVM_INTERRUPT, ptr(&irq)), -ENXIO);
  kvm_vcpu_events ev{};
  ASSERT_EQ(vcpu(0, KVM_GET_VCPU_EVENTS, ptr(&ev)), 0);
  EXPECT_EQ(ev.interrupt.injected, 1);
  EXPECT_EQ(ev.interrupt.nr, 0x30);
  // Without an in-kernel LAPIC only RUNNABLE is a valid mp_state.
  kvm_mp_state mp{KVM_MP_STATE_HALTED};
  EXPECT_EQ(vcpu(0, KVM_SET_MP_STATE, ptr(&mp)), -EINVAL);
  mp.mp_state = KVM_MP_STATE_RUNNABLE;
  EXPECT_EQ(vcpu(0, KVM_SET_MP_STATE, ptr(&mp)), 0);
  EXPECT_EQ(vcpu(0, KVM_NMI), 0);
  EXPECT_EQ(vm(KVM_CREATE_IRQCHIP), -EINVAL) << "only before the first vCPU";
}

TEST_F(VmIrq, CreateIrqchipOnceAndBadPointers) {
  EXPECT_EQ(vm(KVM_CREATE_IRQCHIP), 0);
  EXPECT_EQ(vm(KVM_CREATE_IRQCHIP), -EEXIST);
  EXPECT_EQ(vm(KVM_IRQ_LINE, 0x10), -EFAULT);
  EXPECT_EQ(vm(KVM_GET_IRQCHIP, 0x10), -EFAULT);
  EXPECT_EQ(vm(KVM_SET_GSI_ROUTING, 0x10), -EFAULT);
  EXPECT_EQ(vm(KVM_SIGNAL_MSI, 0x10), -EFAULT);
  kvm_irqchip chip{};
  chip.chip_id = 3;
  EXPECT_EQ(vm(KVM_GET_IRQCHIP, ptr(&chip)), -EINVAL);
  EXPECT_EQ(vm(KVM_SET_IRQCHIP, ptr(&chip)), -EINVAL);
  kvm_msi msi{};
  msi.flags = 2;
  EXPECT_EQ(vm(KVM_SIGNAL_MSI, ptr(&msi)), -EINVAL);
  ASSERT_GE(add_vcpu(0), 0);
  kvm_interrupt irq{0x30};
  EXPECT_EQ(vcpu(0, KVM_INTERRUPT, ptr(&irq)), -ENXIO) << "not with the in-kernel PIC";
  EXPECT_EQ(vcpu(0, KVM_GET_LAPIC, 0x10), -EFAULT);
}

TEST_F(VmIrq, IoapicLineAndMsiReachTheLapic) {
  ASSERT_EQ(vm(KVM_CREATE_IRQCHIP), 0);
  ASSERT_GE(add_vcpu(0), 0);
  enable_lapic(0);
  route_pin(5, 0x40, 0);
  // The default routing drives PIC pin 5 too, unmasked at creation (as
  // KVM): the answers add up, 1 from each chip.
  EXPECT_EQ(line(5, 1), 2);
  EXPECT_TRUE(irr_has(0, 0x40));
  mask_pics();
  EXPECT_EQ(line(5, 0), 1) << "KVM: lowering a line answers 1";
  EXPECT_EQ(line(5, 1), 1) << "delivered to one LAPIC; the masked PIC answers -1";
  // An MSI to APIC ID 0, vector 0x51, fixed, edge.
  kvm_msi msi{};
  msi.address_lo = 0xfee00000;
  msi.data = 0x51;
  EXPECT_EQ(vm(KVM_SIGNAL_MSI, ptr(&msi)), 1);
  EXPECT_TRUE(irr_has(0, 0x51));
  msi.address_lo = 0xfee00000 | (7u << 12);
  msi.data = 0x52;
  EXPECT_EQ(vm(KVM_SIGNAL_MSI, ptr(&msi)), 0) << "no LAPIC with ID 7: KVM's APIC map answers 0";
  EXPECT_FALSE(irr_has(0, 0x52));
}

TEST_F(VmIrq, MsiWithoutVcpusAndRtcCoalescing) {
  ASSERT_EQ(vm(KVM_CREATE_IRQCHIP), 0);
  kvm_msi msi{};
  msi.address_lo = 0xfee00000;
  msi.data = 0x51;
  EXPECT_EQ(vm(KVM_SIGNAL_MSI, ptr(&msi)), -1) << "no APIC map at all: KVM's slow path says -1";
  ASSERT_GE(add_vcpu(0), 0);
  enable_lapic(0);
  mask_pics();
  // GSI 8 (the RTC): with KVM_IRQ_LINE_STATUS, a second edge before the
  // guest's EOI is reported coalesced (KVM's RTC EOI tracking).
  route_pin(8, 0x70, 0);
  EXPECT_EQ(line(8, 1), 1);
  EXPECT_EQ(line(8, 0), 1);
  EXPECT_EQ(line(8, 1), 0) << "not EOIed yet: coalesced";
  EXPECT_EQ(line(8, 0), 1);
  // The guest takes and EOIs it: an MMIO write of 0 to EOI (0xb0) through
  // the register page is not reachable here, so KVM_SET_LAPIC clears ISR
  // and IRR instead; tracking ends only with a real EOI, so still coalesced.
  EXPECT_EQ(line(8, 1), 0);
}

TEST_F(VmIrq, GsiRoutingReplacesTheTable) {
  ASSERT_EQ(vm(KVM_CREATE_IRQCHIP), 0);
  ASSERT_GE(add_vcpu(0), 0);
  enable_lapic(0);
  struct {
    kvm_irq_routing head;
    kvm_irq_routing_entry e[2];
  } t{};
  t.head.nr = 2;
  t.e[0].gsi = 30;
  t.e[0].type = KVM_IRQ_ROUTING_MSI;
  t.e[0].u.msi.address_lo = 0xfee00000;
  t.e[0].u.msi.data = 0x61;
  t.e[1].gsi = 5;
  t.e[1].type = KVM_IRQ_ROUTING_IRQCHIP;
  t.e[1].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
  t.e[1].u.irqchip.pin = 9;
  ASSERT_EQ(vm(KVM_SET_GSI_ROUTING, ptr(&t)), 0);
  mask_pics();
  EXPECT_EQ(line(30, 1), 1);
  EXPECT_TRUE(irr_has(0, 0x61));
  EXPECT_EQ(line(30, 0), -1);
  route_pin(9, 0x62, 0);
  EXPECT_EQ(line(5, 1), 1) << "GSI 5 now drives IOAPIC pin 9";
  EXPECT_TRUE(irr_has(0, 0x62));
  EXPECT_EQ(line(4, 1), -1) << "GSI 4 lost its routes";
  // Invalid tables leave the old one in place.
  t.e[1].u.irqchip.pin = 24;
  EXPECT_EQ(vm(KVM_SET_GSI_ROUTING, ptr(&t)), -EINVAL);
  t.e[1].u.irqchip.pin = 9;
  t.head.flags = 1;
  EXPECT_EQ(vm(KVM_SET_GSI_ROUTING, ptr(&t)), -EINVAL);
  t.head.flags = 0;
  t.head.nr = 4097;
  EXPECT_EQ(vm(KVM_SET_GSI_ROUTING, ptr(&t)), -EINVAL);
  t.head.nr = 1000;  // entries beyond the buffer: unreadable memory
  EXPECT_NE(vm(KVM_SET_GSI_ROUTING, 0x8000), 0);
  EXPECT_EQ(line(30, 1), 1) << "the old table still routes";
  // An empty table routes nothing.
  kvm_irq_routing empty{};
  EXPECT_EQ(vm(KVM_SET_GSI_ROUTING, ptr(&empty)), 0);
  EXPECT_EQ(line(30, 1), -1);
}

TEST_F(VmIrq, IrqchipStateRoundTrips) {
  ASSERT_EQ(vm(KVM_CREATE_IRQCHIP), 0);
  kvm_irqchip chip{};
  chip.chip_id = KVM_IRQCHIP_PIC_MASTER;
  ASSERT_EQ(vm(KVM_GET_IRQCHIP, ptr(&chip)), 0);
  chip.chip.pic.imr = 0xa5;
  chip.chip.pic.irq_base = 0x20;
  ASSERT_EQ(vm(KVM_SET_IRQCHIP, ptr(&chip)), 0);
  kvm_irqchip back{};
  back.chip_id = KVM_IRQCHIP_PIC_MASTER;
  ASSERT_EQ(vm(KVM_GET_IRQCHIP, ptr(&back)), 0);
  EXPECT_EQ(back.chip.pic.imr, 0xa5);
  EXPECT_EQ(back.chip.pic.irq_base, 0x20);
  chip = kvm_irqchip{};
  chip.chip_id = KVM_IRQCHIP_IOAPIC;
  ASSERT_EQ(vm(KVM_GET_IRQCHIP, ptr(&chip)), 0);
  EXPECT_EQ(chip.chip.ioapic.base_address, 0xfec00000u);
  chip.chip.ioapic.redirtbl[3].bits = 0x0300000000010047ull;
  ASSERT_EQ(vm(KVM_SET_IRQCHIP, ptr(&chip)), 0);
  back = kvm_irqchip{};
  back.chip_id = KVM_IRQCHIP_IOAPIC;
  ASSERT_EQ(vm(KVM_GET_IRQCHIP, ptr(&back)), 0);
  EXPECT_EQ(back.chip.ioapic.redirtbl[3].bits, 0x0300000000010047ull);
}

TEST_F(VmIrq, Pit2) {
  kvm_pit_config cfg{};
  EXPECT_EQ(vm(KVM_CREATE_PIT2, 0x10), -EFAULT);
  ASSERT_EQ(vm(KVM_CREATE_PIT2, ptr(&cfg)), 0);
  EXPECT_EQ(vm(KVM_CREATE_PIT2, ptr(&cfg)), -EEXIST);
  kvm_pit_state2 s{};
  ASSERT_EQ(vm(KVM_GET_PIT2, ptr(&s)), 0);
  s.channels[2].count = 0x1234;
  s.channels[2].mode = 3;
  ASSERT_EQ(vm(KVM_SET_PIT2, ptr(&s)), 0);
  kvm_pit_state2 back{};
  ASSERT_EQ(vm(KVM_GET_PIT2, ptr(&back)), 0);
  EXPECT_EQ(back.channels[2].count, 0x1234);
  EXPECT_EQ(back.channels[2].mode, 3);
  EXPECT_EQ(vm(KVM_GET_PIT2, 0x10), -EFAULT);
}

TEST_F(VmIrq, BootCpuIdAndInitialMpStates) {
  ASSERT_EQ(vm(KVM_CREATE_IRQCHIP), 0);
  ASSERT_EQ(vm(KVM_SET_BOOT_CPU_ID, 1), 0);
  ASSERT_GE(add_vcpu(0), 0);
  ASSERT_GE(add_vcpu(1), 0);
  EXPECT_EQ(vm(KVM_SET_BOOT_CPU_ID, 0), -EBUSY);
  kvm_mp_state mp{};
  ASSERT_EQ(vcpu(0, KVM_GET_MP_STATE, ptr(&mp)), 0);
  EXPECT_EQ(mp.mp_state, static_cast<unsigned>(KVM_MP_STATE_UNINITIALIZED)) << "an AP waits for INIT";
  ASSERT_EQ(vcpu(1, KVM_GET_MP_STATE, ptr(&mp)), 0);
  EXPECT_EQ(mp.mp_state, static_cast<unsigned>(KVM_MP_STATE_RUNNABLE)) << "the BSP runs";
  kvm_lapic_state s{};
  ASSERT_EQ(vcpu(1, KVM_GET_LAPIC, ptr(&s)), 0);
  EXPECT_EQ(*reinterpret_cast<unsigned *>(s.regs + 0x20), 1u << 24) << "xAPIC ID = vCPU id";
  // Every state is settable with the in-kernel LAPIC; SIPI_RECEIVED reads
  // back as INIT_RECEIVED until KVM_RUN acts on it.
  for (unsigned st : {KVM_MP_STATE_HALTED, KVM_MP_STATE_INIT_RECEIVED, KVM_MP_STATE_RUNNABLE}) {
    mp.mp_state = st;
    ASSERT_EQ(vcpu(0, KVM_SET_MP_STATE, ptr(&mp)), 0);
    ASSERT_EQ(vcpu(0, KVM_GET_MP_STATE, ptr(&mp)), 0);
    EXPECT_EQ(mp.mp_state, st);
  }
  mp.mp_state = 42;
  EXPECT_EQ(vcpu(0, KVM_SET_MP_STATE, ptr(&mp)), -EINVAL);
}

TEST_F(VmIrq, AllocationFailureLeaksNothing) {
  // Every allocation of KVM_CREATE_IRQCHIP, then of a vCPU with a LAPIC,
  // fails in turn; each attempt either succeeds or answers -ENOMEM.
  bool done = false;
  for (long n = 0; n < 200 && !done; n++) {
    long fd = mk_core_dev_ioctl(KVM_CREATE_VM, 0);
    ASSERT_GE(fd, 0);
    mk::user::fail_alloc_after(n);
    long r = mk::user::fd_ioctl(static_cast<int>(fd), KVM_CREATE_IRQCHIP, 0);
    long v = -1;
    if (r == 0)
      v = mk::user::fd_ioctl(static_cast<int>(fd), KVM_CREATE_VCPU, 0);
    mk::user::fail_alloc_after(-1);
    EXPECT_TRUE(r == 0 || r == -ENOMEM) << r;
    if (r == 0 && v >= 0) {
      done = true;
      EXPECT_EQ(mk::user::fd_close(static_cast<int>(v)), 0);
    } else if (r == 0) {
      EXPECT_EQ(v, -ENOMEM);
    }
    EXPECT_EQ(mk::user::fd_close(static_cast<int>(fd)), 0);
  }
  EXPECT_TRUE(done);
}

}  // namespace
