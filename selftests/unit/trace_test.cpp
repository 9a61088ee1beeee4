// SPDX-License-Identifier: GPL-2.0
// minikvm's tracepoints as the core fires them (platform.h "tracepoints",
// uapi/minikvm/trace.h): the user platform records every mk_trace_*() call
// with the event's uapi record (trace_user.h). Whole VMs are driven through
// their ioctls (as vm_irq_test.cpp), single LAPICs and irqfd sets directly
// (as lapic_test.cpp / irqfd_test.cpp). What is checked: nothing is
// recorded while an event is off; each event fires where the uapi says,
// in the order an interrupt travels (set_gsi before the chip, the chip
// before the LAPIC), with the fields of that hop; apic_accept's origin
// names the real source; each VM has its own number.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <minikvm/core.h>
#include <minikvm/platform.h>
#include <minikvm/trace.h>

#include <cstring>
#include <memory>

#include "core/irq/apic_bus.h"
#include "core/irq/irqfd.h"
#include "core/irq/lapic.h"
#include "core/irq/routing.h"
#include "core/rt/new.h"
#include "core/vmx/apicv.h"
#include "eventfd_user.h"
#include "trace_user.h"
#include "user_platform.h"
#include "vm_fixture.h"

extern "C" long mk_alloc_live(void);

namespace {

using mk::u32;
using mk::u64;
using mk::u8;
using mk::irq::ApicMessage;
using mk::irq::Delivery;
using mk::irq::Lapic;
using mk::irq::LapicBus;
using mk::irq::LapicHost;
using mk::user::TraceRecord;
namespace reg = mk::irq::apic_reg;
namespace user = mk::user;

using mk::test::ptr;

// Index of the first record of event id at or after from, or -1.
int find(const user::HostVector<TraceRecord> &rs, mk_tp_id id, size_t from = 0) {
  for (size_t i = from; i < rs.size(); i++)
    if (rs[i].id == id)
      return static_cast<int>(i);
  return -1;
}

size_t count(const user::HostVector<TraceRecord> &rs, mk_tp_id id) {
  size_t n = 0;
  for (const TraceRecord &r : rs)
    n += r.id == id;
  return n;
}

// ---- whole VMs through their ioctls ----

class TraceVm : public mk::test::VmFixture {
 protected:
  void SetUp() override {
    user::trace_enable_all(false);
    user::trace_clear();
    VmFixture::SetUp();
  }
  void TearDown() override {
    user::trace_enable_all(false);
    user::trace_clear();
    VmFixture::TearDown();
  }
  void close_more_fds() override {
    if (vm2_ >= 0) {
      EXPECT_EQ(user::fd_close(static_cast<int>(vm2_)), 0);
    }
  }
  void set_pic(unsigned id, unsigned char imr, unsigned char elcr) {
    kvm_irqchip chip{};
    chip.chip_id = id;
    ASSERT_EQ(vm(KVM_GET_IRQCHIP, ptr(&chip)), 0);
    chip.chip.pic.imr = imr;
    chip.chip.pic.elcr = elcr;
    ASSERT_EQ(vm(KVM_SET_IRQCHIP, ptr(&chip)), 0);
  }
  // IOAPIC pin -> vector, fixed, physical destination dest, unmasked.
  u64 route_pin(unsigned pin, unsigned vector, unsigned dest, bool level = false) {
    kvm_irqchip chip{};
    chip.chip_id = KVM_IRQCHIP_IOAPIC;
    EXPECT_EQ(vm(KVM_GET_IRQCHIP, ptr(&chip)), 0);
    u64 bits = vector | (level ? 1ull << 15 : 0) | (static_cast<u64>(dest) << 56);
    chip.chip.ioapic.redirtbl[pin].bits = bits;
    EXPECT_EQ(vm(KVM_SET_IRQCHIP, ptr(&chip)), 0);
    return bits;
  }
  // An irqchip VM with vCPUs 0 and 1, LAPICs software-enabled, PICs masked.
  void irqchip_vm() {
    ASSERT_EQ(vm(KVM_CREATE_IRQCHIP), 0);
    ASSERT_GE(add_vcpu(0), 0);
    ASSERT_GE(add_vcpu(1), 0);
    enable_lapic(0);
    enable_lapic(1);
    set_pic(KVM_IRQCHIP_PIC_MASTER, 0xff, 0);
    set_pic(KVM_IRQCHIP_PIC_SLAVE, 0xff, 0);
  }
  long signal_msi(u32 dest, u32 data) {
    kvm_msi m{};
    m.address_lo = 0xfee00000u | (dest << 12);
    m.data = data;
    return vm(KVM_SIGNAL_MSI, ptr(&m));
  }
  long set_routes(std::initializer_list<kvm_irq_routing_entry> es) {
    size_t n = es.size();
    auto *r = static_cast<kvm_irq_routing *>(calloc(1, sizeof(kvm_irq_routing) + n * sizeof(kvm_irq_routing_entry)));
    r->nr = static_cast<u32>(n);
    size_t i = 0;
    for (const auto &e : es)
      r->entries[i++] = e;
    long ret = vm(KVM_SET_GSI_ROUTING, ptr(r));
    free(r);
    return ret;
  }
  static kvm_irq_routing_entry chip_route(u32 gsi, u32 chip, u32 pin) {
    kvm_irq_routing_entry e{};
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_IRQCHIP;
    e.u.irqchip.irqchip = chip;
    e.u.irqchip.pin = pin;
    return e;
  }
  static kvm_irq_routing_entry msi_route(u32 gsi, u32 vector, u32 dest) {
    kvm_irq_routing_entry e{};
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_MSI;
    e.u.msi.address_lo = 0xfee00000u | (dest << 12);
    e.u.msi.data = vector;
    return e;
  }

  long vm2_ = -1;
};

TEST_F(TraceVm, NothingIsRecordedWhileEveryEventIsOff) {
  irqchip_vm();
  route_pin(4, 0x40, 0);
  EXPECT_GT(line(4, 1), 0);
  EXPECT_EQ(line(4, 0), 1);
  EXPECT_GT(signal_msi(1, 0x41), 0);
  EXPECT_EQ(vcpu(0, KVM_NMI), 0);
  kvm_mp_state mp{KVM_MP_STATE_RUNNABLE};
  ASSERT_EQ(vcpu(1, KVM_SET_MP_STATE, ptr(&mp)), 0);
  vcpu(1, KVM_RUN);  // the simulated entry fails: one entry, one exit
  EXPECT_TRUE(user::trace_records().empty()) << user::trace_name(user::trace_records()[0].id);
}

TEST_F(TraceVm, EachEventHasItsOwnSwitch) {
  irqchip_vm();
  route_pin(4, 0x40, 0);
  user::trace_enable(MK_TP_SET_GSI, true);
  EXPECT_GT(line(4, 1), 0);
  auto rs = user::trace_records();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].id, MK_TP_SET_GSI);
  user::trace_clear();
  user::trace_enable(MK_TP_SET_GSI, false);
  user::trace_enable(MK_TP_APIC_ACCEPT, true);
  EXPECT_GT(signal_msi(1, 0x41), 0);
  rs = user::trace_records();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].id, MK_TP_APIC_ACCEPT);
}

TEST_F(TraceVm, IoapicEdgeTravelsSetGsiThenIoapicThenApicAccept) {
  irqchip_vm();
  u64 entry = route_pin(4, 0x40, 1);
  user::trace_enable_all(true);
  EXPECT_EQ(line(4, 1), 1);
  auto rs = user::trace_records();
  int g = find(rs, MK_TP_SET_GSI);
  int io = find(rs, MK_TP_IOAPIC_SET_IRQ);
  int acc = find(rs, MK_TP_APIC_ACCEPT);
  ASSERT_GE(g, 0);
  ASSERT_GT(io, g) << "set_gsi fires before delivery";
  ASSERT_GT(acc, io) << "the IOAPIC's message reaches the LAPIC after the pin changed";
  const auto &sg = rs[g].set_gsi;
  EXPECT_NE(sg.vm, 0u);
  EXPECT_EQ(sg.gsi, 4u);
  EXPECT_EQ(sg.level, 1);
  // The default routing: GSI 4 is PIC master pin 4 and IOAPIC pin 4.
  EXPECT_EQ(sg.nr_routes, 2u);
  EXPECT_EQ(sg.route_kinds, MINIKVM_ROUTE_PIC_MASTER | MINIKVM_ROUTE_IOAPIC);
  EXPECT_EQ(sg.source, MINIKVM_GSI_SRC_IRQ_LINE);
  const auto &ia = rs[io].ioapic_set_irq;
  EXPECT_EQ(ia.vm, sg.vm);
  EXPECT_EQ(ia.pin, 4u);
  EXPECT_EQ(ia.entry, entry);
  EXPECT_EQ(ia.level, 1);
  EXPECT_EQ(ia.coalesced, 0);
  const auto &a = rs[acc].apic_accept;
  EXPECT_EQ(a.vm, sg.vm);
  EXPECT_EQ(a.vcpu, 1u);
  EXPECT_EQ(a.apic_id, 1u);
  EXPECT_EQ(a.vector, 0x40);
  EXPECT_EQ(a.delivery_mode, 0);
  EXPECT_EQ(a.level, 0);
  EXPECT_EQ(a.coalesced, 0);
  EXPECT_EQ(a.origin, MINIKVM_ORIGIN_IOAPIC);
  EXPECT_EQ(count(rs, MK_TP_APIC_ACCEPT), 1u);
  // The masked PIC pin changed too.
  int p = find(rs, MK_TP_PIC_SET_IRQ);
  ASSERT_GE(p, 0);
  EXPECT_EQ(rs[p].pic_set_irq.chip, 0);
  EXPECT_EQ(rs[p].pic_set_irq.pin, 4);
  EXPECT_EQ(rs[p].pic_set_irq.imr, 0xff);
}

TEST_F(TraceVm, LevelPinWaitingForItsEoiIsReportedCoalesced) {
  irqchip_vm();
  route_pin(5, 0x50, 0, true);
  user::trace_enable_all(true);
  EXPECT_EQ(line(5, 1), 1);
  EXPECT_EQ(line(5, 0), 1);
  // Remote IRR is still set (no EOI): the new assertion waits.
  line(5, 1);
  auto rs = user::trace_records(MK_TP_IOAPIC_SET_IRQ);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].ioapic_set_irq.coalesced, 0);
  EXPECT_EQ(rs[1].ioapic_set_irq.level, 0);
  EXPECT_EQ(rs[2].ioapic_set_irq.level, 1);
  EXPECT_EQ(rs[2].ioapic_set_irq.coalesced, 1);
  EXPECT_TRUE(rs[2].ioapic_set_irq.entry & (1ull << 14)) << "entry shows Remote IRR";
  auto acc = user::trace_records(MK_TP_APIC_ACCEPT);
  ASSERT_EQ(acc.size(), 1u);
  EXPECT_EQ(acc[0].apic_accept.level, 1);
}

TEST_F(TraceVm, PicReportsElcrImrAndCoalescedEdges) {
  irqchip_vm();
  set_pic(KVM_IRQCHIP_PIC_MASTER, 0xb8, 0x08);  // pin 3 level, 4 5 and 7 masked
  set_pic(KVM_IRQCHIP_PIC_SLAVE, 0x00, 0x02);
  user::trace_enable(MK_TP_PIC_SET_IRQ, true);
  line(3, 1);   // level pin
  line(6, 1);   // edge, unmasked: latched
  line(6, 0);
  line(6, 1);   // the first request is still in IRR: coalesced
  line(9, 1);   // slave pin 1
  auto rs = user::trace_records(MK_TP_PIC_SET_IRQ);
  ASSERT_EQ(rs.size(), 5u);
  EXPECT_EQ(rs[0].pic_set_irq.chip, 0);
  EXPECT_EQ(rs[0].pic_set_irq.pin, 3);
  EXPECT_EQ(rs[0].pic_set_irq.level, 1);
  EXPECT_EQ(rs[0].pic_set_irq.elcr, 0x08);
  EXPECT_EQ(rs[0].pic_set_irq.imr, 0xb8);
  EXPECT_EQ(rs[0].pic_set_irq.coalesced, 0);
  EXPECT_EQ(rs[1].pic_set_irq.coalesced, 0);
  EXPECT_EQ(rs[2].pic_set_irq.level, 0);
  EXPECT_EQ(rs[3].pic_set_irq.pin, 6);
  EXPECT_EQ(rs[3].pic_set_irq.coalesced, 1);
  EXPECT_EQ(rs[4].pic_set_irq.chip, 1);
  EXPECT_EQ(rs[4].pic_set_irq.pin, 1);
  EXPECT_EQ(rs[4].pic_set_irq.elcr, 0x02);
  EXPECT_EQ(rs[4].pic_set_irq.imr, 0x00);
  // A masked pin is not "coalesced" (KVM: -1, not 0).
  user::trace_clear();
  line(4, 1);
  line(4, 0);
  line(4, 1);
  rs = user::trace_records(MK_TP_PIC_SET_IRQ);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[2].pic_set_irq.coalesced, 0);
}

TEST_F(TraceVm, MsiIsTracedThenAcceptedFromMsiAndASecondOneCoalesces) {
  irqchip_vm();
  user::trace_enable_all(true);
  EXPECT_EQ(signal_msi(1, 0x4031), 1);  // vector 0x31, lowest priority... to one CPU
  auto rs = user::trace_records();
  int m = find(rs, MK_TP_MSI_SET_IRQ);
  int a = find(rs, MK_TP_APIC_ACCEPT);
  ASSERT_GE(m, 0);
  ASSERT_GT(a, m);
  EXPECT_EQ(rs[m].msi_set_irq.data, 0x4031u);
  EXPECT_EQ(rs[m].msi_set_irq.address, 0xfee01000ull);
  EXPECT_EQ(rs[a].apic_accept.vector, 0x31);
  EXPECT_EQ(rs[a].apic_accept.origin, MINIKVM_ORIGIN_MSI);
  EXPECT_EQ(rs[a].apic_accept.coalesced, 0);
  user::trace_clear();
  EXPECT_EQ(signal_msi(1, 0x31), 1);  // fixed, same vector still in IRR
  auto acc = user::trace_records(MK_TP_APIC_ACCEPT);
  ASSERT_EQ(acc.size(), 1u);
  EXPECT_EQ(acc[0].apic_accept.vcpu, 1u);
  EXPECT_EQ(acc[0].apic_accept.coalesced, 1);
  // KVM_SET_GSI_ROUTING's MSI route: the same event, from set_gsi.
  ASSERT_EQ(set_routes({msi_route(30, 0x62, 0)}), 0);
  user::trace_clear();
  EXPECT_EQ(line(30, 1), 1);
  EXPECT_EQ(line(30, 0), -1);  // an MSI is an edge: nothing on the de-assert
  rs = user::trace_records();
  ASSERT_EQ(count(rs, MK_TP_MSI_SET_IRQ), 1u);
  int g = find(rs, MK_TP_SET_GSI);
  m = find(rs, MK_TP_MSI_SET_IRQ);
  ASSERT_GE(g, 0);
  ASSERT_GT(m, g);
  EXPECT_EQ(rs[g].set_gsi.route_kinds, MINIKVM_ROUTE_MSI);
  EXPECT_EQ(rs[g].set_gsi.nr_routes, 1u);
  EXPECT_EQ(rs[m].msi_set_irq.data, 0x62u);
}

TEST_F(TraceVm, UnroutedGsiIsStillTracedWithNoRoutes) {
  irqchip_vm();
  ASSERT_EQ(set_routes({chip_route(2, KVM_IRQCHIP_IOAPIC, 2)}), 0);
  user::trace_enable_all(true);
  EXPECT_EQ(line(7, 1), -1);
  auto rs = user::trace_records();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].id, MK_TP_SET_GSI);
  EXPECT_EQ(rs[0].set_gsi.gsi, 7u);
  EXPECT_EQ(rs[0].set_gsi.nr_routes, 0u);
  EXPECT_EQ(rs[0].set_gsi.route_kinds, 0u);
}

TEST_F(TraceVm, TwoVmsHaveDifferentNumbers) {
  ASSERT_EQ(vm(KVM_CREATE_IRQCHIP), 0);
  vm2_ = mk_core_dev_ioctl(KVM_CREATE_VM, 0);
  ASSERT_GE(vm2_, 0);
  ASSERT_EQ(user::fd_ioctl(static_cast<int>(vm2_), KVM_CREATE_IRQCHIP, 0), 0);
  user::trace_enable(MK_TP_SET_GSI, true);
  line(vm_, 3, 1);
  line(vm2_, 3, 1);
  line(vm_, 3, 0);
  auto rs = user::trace_records(MK_TP_SET_GSI);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_NE(rs[0].set_gsi.vm, 0u);
  EXPECT_NE(rs[1].set_gsi.vm, 0u);
  EXPECT_GT(rs[1].set_gsi.vm, rs[0].set_gsi.vm) << "numbered in creation order";
  EXPECT_EQ(rs[2].set_gsi.vm, rs[0].set_gsi.vm);
}

TEST_F(TraceVm, KvmNmiIsAcceptedWithItsOwnOrigin) {
  irqchip_vm();
  user::trace_enable_all(true);
  ASSERT_EQ(vcpu(1, KVM_NMI), 0);
  auto rs = user::trace_records(MK_TP_APIC_ACCEPT);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].apic_accept.vcpu, 1u);
  EXPECT_EQ(rs[0].apic_accept.apic_id, 1u);
  EXPECT_EQ(rs[0].apic_accept.delivery_mode, 4);
  EXPECT_EQ(rs[0].apic_accept.origin, MINIKVM_ORIGIN_NMI_IOCTL);
}

TEST_F(TraceVm, IrqfdWithAnMsiRouteInjectsInAtomicContext) {
  irqchip_vm();
  ASSERT_EQ(set_routes({msi_route(20, 0x45, 0)}), 0);
  int fd = user::eventfd_new();
  kvm_irqfd a{};
  a.fd = static_cast<u32>(fd);
  a.gsi = 20;
  ASSERT_EQ(vm(KVM_IRQFD, ptr(&a)), 0);
  user::trace_enable_all(true);
  ASSERT_EQ(user::eventfd_signal_fd(fd), 0);
  auto rs = user::trace_records();
  int inj = find(rs, MK_TP_IRQFD_INJECT);
  int m = find(rs, MK_TP_MSI_SET_IRQ);
  int acc = find(rs, MK_TP_APIC_ACCEPT);
  ASSERT_GE(inj, 0);
  ASSERT_GT(m, inj);
  ASSERT_GT(acc, m);
  EXPECT_EQ(rs[inj].irqfd_inject.gsi, 20u);
  EXPECT_EQ(rs[inj].irqfd_inject.inatomic, 1);
  EXPECT_EQ(rs[inj].irqfd_inject.resample, 0);
  EXPECT_EQ(rs[acc].apic_accept.origin, MINIKVM_ORIGIN_MSI);
  EXPECT_EQ(rs[acc].apic_accept.vector, 0x45);
  EXPECT_EQ(count(rs, MK_TP_SET_GSI), 0u) << "the atomic path does not go through kvm_set_irq";
  a.flags = KVM_IRQFD_FLAG_DEASSIGN;
  ASSERT_EQ(vm(KVM_IRQFD, ptr(&a)), 0);
  user::run_work();
  EXPECT_EQ(user::eventfd_close(fd), 0);
}

TEST_F(TraceVm, IrqfdOnAChipPinInjectsFromItsWorkItemAsIrqfdSource) {
  irqchip_vm();
  route_pin(6, 0x46, 0);
  int fd = user::eventfd_new();
  kvm_irqfd a{};
  a.fd = static_cast<u32>(fd);
  a.gsi = 6;
  ASSERT_EQ(vm(KVM_IRQFD, ptr(&a)), 0);
  user::trace_enable_all(true);
  ASSERT_EQ(user::eventfd_signal_fd(fd), 0);
  auto rs = user::trace_records();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].id, MK_TP_IRQFD_INJECT);
  EXPECT_EQ(rs[0].irqfd_inject.inatomic, 0);
  user::run_work();
  rs = user::trace_records(MK_TP_SET_GSI);
  ASSERT_EQ(rs.size(), 2u);  // an edge: raise, lower
  EXPECT_EQ(rs[0].set_gsi.level, 1);
  EXPECT_EQ(rs[1].set_gsi.level, 0);
  EXPECT_EQ(rs[0].set_gsi.source, MINIKVM_GSI_SRC_IRQFD);
  EXPECT_EQ(rs[1].set_gsi.source, MINIKVM_GSI_SRC_IRQFD);
  auto acc = user::trace_records(MK_TP_APIC_ACCEPT);
  ASSERT_EQ(acc.size(), 1u);
  EXPECT_EQ(acc[0].apic_accept.origin, MINIKVM_ORIGIN_IOAPIC);
  a.flags = KVM_IRQFD_FLAG_DEASSIGN;
  ASSERT_EQ(vm(KVM_IRQFD, ptr(&a)), 0);
  user::run_work();
  EXPECT_EQ(user::eventfd_close(fd), 0);
}

TEST_F(TraceVm, ResampleIrqfdHoldsTheLineAndItsResamplerLowersIt) {
  irqchip_vm();
  route_pin(5, 0x55, 0, true);
  int fd = user::eventfd_new(), rfd = user::eventfd_new();
  kvm_irqfd a{};
  a.fd = static_cast<u32>(fd);
  a.gsi = 5;
  a.flags = KVM_IRQFD_FLAG_RESAMPLE;
  a.resamplefd = static_cast<u32>(rfd);
  ASSERT_EQ(vm(KVM_IRQFD, ptr(&a)), 0);
  user::trace_enable_all(true);
  ASSERT_EQ(user::eventfd_signal_fd(fd), 0);
  user::run_work();
  auto rs = user::trace_records();
  int inj = find(rs, MK_TP_IRQFD_INJECT);
  int g = find(rs, MK_TP_SET_GSI);
  ASSERT_GE(inj, 0);
  ASSERT_GT(g, inj);
  EXPECT_EQ(rs[inj].irqfd_inject.resample, 1);
  EXPECT_EQ(rs[inj].irqfd_inject.inatomic, 0);
  EXPECT_EQ(rs[g].set_gsi.level, 1);
  EXPECT_EQ(rs[g].set_gsi.source, MINIKVM_GSI_SRC_IRQFD);
  EXPECT_EQ(count(rs, MK_TP_SET_GSI), 1u) << "the line stays up until the EOI";
  // Deassigning the last resample irqfd of the GSI lowers the resample
  // source's line: the resampler's set_gsi.
  user::trace_clear();
  a.flags = KVM_IRQFD_FLAG_DEASSIGN;
  ASSERT_EQ(vm(KVM_IRQFD, ptr(&a)), 0);
  user::run_work();
  rs = user::trace_records(MK_TP_SET_GSI);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].set_gsi.level, 0);
  EXPECT_EQ(rs[0].set_gsi.source, MINIKVM_GSI_SRC_RESAMPLE);
  EXPECT_EQ(user::eventfd_close(fd), 0);
  EXPECT_EQ(user::eventfd_close(rfd), 0);
}

TEST_F(TraceVm, PitRaisesGsi0AsAnInKernelSource) {
  irqchip_vm();
  kvm_pit_config cfg{};
  ASSERT_EQ(vm(KVM_CREATE_PIT2, ptr(&cfg)), 0);
  kvm_pit_state2 ps{};
  ASSERT_EQ(vm(KVM_GET_PIT2, ptr(&ps)), 0);
  ps.channels[0].count = 1000;  // rate generator, about 838 us a period
  ps.channels[0].mode = 2;
  ps.channels[0].rw_mode = 3;
  ASSERT_EQ(vm(KVM_SET_PIT2, ptr(&ps)), 0);
  user::trace_enable(MK_TP_SET_GSI, true);
  user::advance_time(2'000'000);
  auto rs = user::trace_records(MK_TP_SET_GSI);
  ASSERT_GE(rs.size(), 2u);
  for (const auto &r : rs) {
    EXPECT_EQ(r.set_gsi.gsi, 0u);
    EXPECT_EQ(r.set_gsi.source, MINIKVM_GSI_SRC_KERNEL);
  }
  EXPECT_EQ(rs[0].set_gsi.level, 1);
  EXPECT_EQ(rs[1].set_gsi.level, 0);
}

TEST_F(TraceVm, EntryExitAndUserspaceExitPerRun) {
  ASSERT_GE(add_vcpu(3), 0);
  user::trace_enable_all(true);
  // The simulated entry fails (VMfailValid): one entry, one exit reported
  // as a failed entry of reason 0xffff, KVM_RUN returns FAIL_ENTRY.
  EXPECT_EQ(vcpu(0, KVM_RUN), 0);
  auto rs = user::trace_records();
  int en = find(rs, MK_TP_ENTRY), ex = find(rs, MK_TP_EXIT), ue = find(rs, MK_TP_USERSPACE_EXIT);
  ASSERT_GE(en, 0);
  ASSERT_GT(ex, en);
  ASSERT_GT(ue, ex);
  EXPECT_EQ(count(rs, MK_TP_ENTRY), 1u);
  EXPECT_EQ(count(rs, MK_TP_EXIT), 1u);
  EXPECT_EQ(rs[en].entry.vcpu, 3u);
  EXPECT_EQ(rs[en].entry.rip, 0xfff0u);  // the reset vector
  EXPECT_EQ(rs[ex].exit.reason, 0x8000ffffu);
  EXPECT_EQ(rs[ue].userspace_exit.exit_reason, static_cast<u32>(KVM_EXIT_FAIL_ENTRY));
  EXPECT_EQ(rs[ue].userspace_exit.err, 0);
  EXPECT_EQ(rs[ue].userspace_exit.vcpu, 3u);
  // A real exit (HLT, no irqchip: to userspace), with its reason.
  user::trace_clear();
  user::vmx().next_exit_reason = 12;
  EXPECT_EQ(vcpu(0, KVM_RUN), 0);
  rs = user::trace_records();
  EXPECT_EQ(count(rs, MK_TP_ENTRY), 1u);
  ASSERT_EQ(count(rs, MK_TP_EXIT), 1u);
  ex = find(rs, MK_TP_EXIT);
  EXPECT_EQ(rs[ex].exit.reason, 12u);
  ue = find(rs, MK_TP_USERSPACE_EXIT);
  ASSERT_GE(ue, 0);
  EXPECT_EQ(rs[ue].userspace_exit.exit_reason, static_cast<u32>(KVM_EXIT_HLT));
  // A signal: no entry, KVM_RUN fails with -EINTR.
  user::trace_clear();
  user::vmx().signal_pending = true;
  EXPECT_EQ(vcpu(0, KVM_RUN), -EINTR);
  user::vmx().signal_pending = false;
  rs = user::trace_records();
  EXPECT_EQ(count(rs, MK_TP_ENTRY), 0u);
  ASSERT_EQ(count(rs, MK_TP_USERSPACE_EXIT), 1u);
  EXPECT_EQ(rs[find(rs, MK_TP_USERSPACE_EXIT)].userspace_exit.err, -EINTR);
  EXPECT_EQ(rs[find(rs, MK_TP_USERSPACE_EXIT)].userspace_exit.exit_reason, static_cast<u32>(KVM_EXIT_INTR));
}

TEST_F(TraceVm, InjectionOfAnInterruptAndItsReinjection) {
  ASSERT_GE(add_vcpu(0), 0);
  kvm_regs regs{};
  ASSERT_EQ(vcpu(0, KVM_GET_REGS, ptr(&regs)), 0);
  regs.rflags |= 1u << 9;  // IF: the vCPU can take it now
  ASSERT_EQ(vcpu(0, KVM_SET_REGS, ptr(&regs)), 0);
  kvm_interrupt irq{0x33};
  ASSERT_EQ(vcpu(0, KVM_INTERRUPT, ptr(&irq)), 0);
  user::trace_enable_all(true);
  EXPECT_EQ(vcpu(0, KVM_RUN), 0);
  auto rs = user::trace_records(MK_TP_INJECT);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].inject.vector, 0x33);
  EXPECT_EQ(rs[0].inject.type, MINIKVM_INJ_EXTINT);
  EXPECT_EQ(rs[0].inject.reinjected, 0);
  EXPECT_EQ(rs[0].inject.has_error, 0);
  // An exit that interrupted the delivery of a #PF (IDT-vectoring
  // information, SDM 27.2.4): the next entry injects it again.
  user::trace_clear();
  // Protected mode: real mode delivers no error code (SDM 26.2.1.3).
  kvm_sregs sr{};
  ASSERT_EQ(vcpu(0, KVM_GET_SREGS, ptr(&sr)), 0);
  sr.cr0 |= 1;
  ASSERT_EQ(vcpu(0, KVM_SET_SREGS, ptr(&sr)), 0);
  // The exit is an external interrupt (handled in the kernel, the loop
  // enters again); the simulated VMCS of the vCPU holds the vectoring
  // fields (one VMCS exists besides the "none" slot 0).
  auto &sim = user::vmx();
  for (auto &kv : sim.vmcs) {
    if (!kv.first)
      continue;
    kv.second[0x4408] = (1u << 31) | (1u << 11) | (3u << 8) | 14;  // valid, error code, hw exception, #PF
    kv.second[0x440a] = 6;                                         // its error code
  }
  sim.next_exit_reason = 1;
  EXPECT_EQ(vcpu(0, KVM_RUN), 0);
  rs = user::trace_records(MK_TP_INJECT);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].inject.vector, 14);
  EXPECT_EQ(rs[0].inject.type, MINIKVM_INJ_HWEXC);
  EXPECT_EQ(rs[0].inject.reinjected, 1);
  EXPECT_EQ(rs[0].inject.has_error, 1);
  EXPECT_EQ(rs[0].inject.error_code, 6u);
}

TEST_F(TraceVm, ApicvDecisionAtCreationAndNotAgainWithoutABaseChange) {
  user::trace_enable(MK_TP_APICV, true);
  ASSERT_EQ(vm(KVM_CREATE_IRQCHIP), 0);
  ASSERT_GE(add_vcpu(0), 0);
  ASSERT_GE(add_vcpu(1), 0);
  kvm_mp_state mp{KVM_MP_STATE_RUNNABLE};
  ASSERT_EQ(vcpu(1, KVM_SET_MP_STATE, ptr(&mp)), 0);
  vcpu(1, KVM_RUN);
  auto rs = user::trace_records(MK_TP_APICV);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].apicv.vcpu, 0u);
  rs.erase(rs.begin());
  const auto &a = rs[0].apicv;
  EXPECT_EQ(a.vcpu, 1u);
  EXPECT_NE(a.vm, 0u);
  // Whatever the simulated CPU offers, the record is consistent.
  EXPECT_EQ(a.active != 0, a.mode == MINIKVM_APICV_XAPIC || a.mode == MINIKVM_APICV_X2APIC);
  EXPECT_EQ(a.active != 0, a.inhibit == 0);
  user::trace_clear();
  vcpu(1, KVM_RUN);
  EXPECT_EQ(user::trace_records(MK_TP_APICV).size(), 0u) << "no new decision without an APIC base change";
}

TEST_F(TraceVm, VcpuWithoutIrqchipReportsApicvOffForThatReasonAlone) {
  ASSERT_TRUE(user::vmx().enable_apicv);  // the simulated CPU has APICv: no other reason
  ASSERT_GE(add_vcpu(0), 0);
  user::trace_enable(MK_TP_APICV, true);
  vcpu(0, KVM_RUN);
  vcpu(0, KVM_RUN);
  auto rs = user::trace_records(MK_TP_APICV);
  ASSERT_EQ(rs.size(), 1u) << "once, at the first run";
  EXPECT_EQ(rs[0].apicv.mode, MINIKVM_APICV_OFF);
  EXPECT_EQ(rs[0].apicv.active, 0);
  EXPECT_EQ(rs[0].apicv.inhibit, MINIKVM_APICV_INHIBIT_NO_IRQCHIP);
}

// ---- the APICv report itself (vmx/apicv.cpp apicv_trace) ----

mk::vmx::ApicvCaps all_caps() {
  mk::vmx::ApicvCaps c;
  c.tpr_shadow = c.apic_accesses = c.x2apic_mode = c.register_virt = c.intr_delivery = c.posted_intr = c.msr_bitmaps =
      true;
  return c;
}

mk::vmx::ApicvTrace report(const mk::vmx::ApicvCaps &c, bool lapic, bool param, u64 base) {
  mk::vmx::ApicvInputs in;
  in.lapic = lapic;
  in.enable_apicv = param;
  in.flexpriority = true;
  in.apic_base = base;
  return mk::vmx::apicv_trace(c, in, mk::vmx::apicv_mode(c, in));
}

TEST(ApicvTrace, ModeAndInhibitReasons) {
  auto c = all_caps();
  auto t = report(c, true, true, 0xfee00900);
  EXPECT_EQ(t.mode, MINIKVM_APICV_XAPIC);
  EXPECT_EQ(t.inhibit, 0u);
  t = report(c, true, true, 0xfee00d00);
  EXPECT_EQ(t.mode, MINIKVM_APICV_X2APIC);
  EXPECT_EQ(t.inhibit, 0u);
  t = report(c, true, false, 0xfee00900);
  EXPECT_EQ(t.mode, MINIKVM_APICV_TPR_ONLY);
  EXPECT_EQ(t.inhibit, MINIKVM_APICV_INHIBIT_PARAM);
  t = report(c, true, true, 0xfee00100);  // EN clear
  EXPECT_EQ(t.mode, MINIKVM_APICV_TPR_ONLY);
  EXPECT_EQ(t.inhibit, MINIKVM_APICV_INHIBIT_DISABLED);
  t = report(c, true, true, 0xfed00900);
  EXPECT_EQ(t.inhibit, MINIKVM_APICV_INHIBIT_RELOCATED);
  t = report(c, true, false, 0xfed00900);
  EXPECT_EQ(t.inhibit, MINIKVM_APICV_INHIBIT_PARAM | MINIKVM_APICV_INHIBIT_RELOCATED);
  t = report(c, false, true, 0);
  EXPECT_EQ(t.mode, MINIKVM_APICV_OFF);
  EXPECT_EQ(t.inhibit, MINIKVM_APICV_INHIBIT_NO_IRQCHIP);
  c.intr_delivery = false;  // a CPU without virtual-interrupt delivery
  t = report(c, true, true, 0xfee00900);
  EXPECT_EQ(t.mode, MINIKVM_APICV_TPR_ONLY);
  EXPECT_EQ(t.inhibit, MINIKVM_APICV_INHIBIT_PARAM);
  c = all_caps();
  c.x2apic_mode = false;  // x2APIC the CPU cannot virtualize
  t = report(c, true, true, 0xfee00d00);
  EXPECT_EQ(t.mode, MINIKVM_APICV_TPR_ONLY);
  EXPECT_NE(t.inhibit, 0u);
}

// ---- single LAPICs on a bus: IPIs, EOIs, local sources ----

#define NO_VPTR __attribute__((no_sanitize("vptr")))
class TestBus {
 public:
  NO_VPTR TestBus() : b_(new (mem_) LapicBus) {}
  NO_VPTR ~TestBus() { b_->~LapicBus(); }
  TestBus(const TestBus &) = delete;
  TestBus &operator=(const TestBus &) = delete;
  NO_VPTR int add(Lapic *l) { return b_->add(l); }
  NO_VPTR mk::irq::ApicBus &apic_bus() { return *b_; }

 private:
  alignas(LapicBus) unsigned char mem_[sizeof(LapicBus)];
  LapicBus *b_;
};

struct Host : LapicHost {
  int eoi_level = -1, eoi_edge = -1, nmis = 0;
  void apic_kick() override {}
  void apic_nmi() override { nmis++; }
  void apic_eoi_level(u8 v) override { eoi_level = v; }
  void apic_eoi_edge(u8 v) override { eoi_edge = v; }
  u64 apic_guest_tsc() override { return mk_rdtsc(); }
};

constexpr u64 kBase = Lapic::kDefaultBase;
constexpr u32 kTraceVm = 7;

class TraceLapic : public ::testing::Test {
 protected:
  void SetUp() override {
    user::reset_time();
    user::trace_enable_all(false);
    user::trace_clear();
    for (u32 i = 0; i < 2; i++) {
      l_[i] = std::make_unique<Lapic>(i, host_[i], bus_.apic_bus(), kTraceVm);
      ASSERT_EQ(l_[i]->init(), 0);
      l_[i]->reset(i == 0);
      ASSERT_EQ(bus_.add(l_[i].get()), 0);
      w(i, reg::kSvr, 0x1ff);
    }
    user::trace_enable_all(true);
  }
  void TearDown() override {
    user::trace_enable_all(false);
    user::trace_clear();
  }
  void w(u32 i, u32 off, u32 v) { l_[i]->mmio_write(kBase + off, 4, &v); }
  int take(u32 i) {
    int v = l_[i]->pending_vector();
    if (v >= 0)
      l_[i]->acknowledge(static_cast<u8>(v));
    return v;
  }

  Host host_[2];
  TestBus bus_;
  std::unique_ptr<Lapic> l_[2];
};

TEST_F(TraceLapic, IcrWriteIsAnIpiAcceptedByItsTarget) {
  w(0, reg::kIcrHigh, 1u << 24);  // xAPIC destination 1
  w(0, reg::kIcrLow, 0x4051);     // vector 0x51, fixed, physical, assert
  auto rs = user::trace_records();
  int ipi = find(rs, MK_TP_IPI), acc = find(rs, MK_TP_APIC_ACCEPT);
  ASSERT_GE(ipi, 0);
  ASSERT_GT(acc, ipi);
  EXPECT_EQ(rs[ipi].ipi.vm, kTraceVm);
  EXPECT_EQ(rs[ipi].ipi.vcpu, 0u);
  EXPECT_EQ(rs[ipi].ipi.icr_low, 0x4051u);
  EXPECT_EQ(rs[ipi].ipi.dest, 1u);
  EXPECT_EQ(rs[acc].apic_accept.vcpu, 1u);
  EXPECT_EQ(rs[acc].apic_accept.vector, 0x51);
  EXPECT_EQ(rs[acc].apic_accept.origin, MINIKVM_ORIGIN_IPI);
  EXPECT_EQ(rs[acc].apic_accept.vm, kTraceVm);
  EXPECT_EQ(count(rs, MK_TP_APIC_ACCEPT), 1u);
}

TEST_F(TraceLapic, X2apicIcrMsrIsAnIpiWithTheFull32BitDestination) {
  l_[0]->set_x2apic_supported(true);
  ASSERT_EQ(l_[0]->set_apic_base(kBase | Lapic::kBaseEnable | Lapic::kBaseExtd | Lapic::kBaseBsp, false), 0);
  user::trace_clear();
  ASSERT_EQ(l_[0]->write_msr(0x830, (1ull << 32) | 0x52), 0);
  auto rs = user::trace_records(MK_TP_IPI);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].ipi.icr_low, 0x52u);
  EXPECT_EQ(rs[0].ipi.dest, 1u);
}

TEST_F(TraceLapic, ApicWriteExitsOfIcrAndEoiAreTracedAsTheWrites) {
  // APIC-register virtualization: the CPU stored the guest's write in the
  // virtual-APIC page and exited after it (trap-like, SDM 29.4.3.3).
  u32 hi = 1u << 24, lo = 0x4053, zero = 0;
  std::memcpy(l_[0]->page() + reg::kIcrHigh, &hi, 4);
  l_[0]->apic_write_trap(reg::kIcrHigh);
  std::memcpy(l_[0]->page() + reg::kIcrLow, &lo, 4);
  l_[0]->apic_write_trap(reg::kIcrLow);
  auto rs = user::trace_records(MK_TP_IPI);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].ipi.icr_low, 0x4053u);
  EXPECT_EQ(rs[0].ipi.dest, 1u);
  auto acc = user::trace_records(MK_TP_APIC_ACCEPT);
  ASSERT_EQ(acc.size(), 1u);
  EXPECT_EQ(acc[0].apic_accept.origin, MINIKVM_ORIGIN_IPI);
  ASSERT_EQ(take(1), 0x53);
  std::memcpy(l_[1]->page() + reg::kEoi, &zero, 4);
  l_[1]->apic_write_trap(reg::kEoi);
  auto eoi = user::trace_records(MK_TP_EOI);
  ASSERT_EQ(eoi.size(), 1u);
  EXPECT_EQ(eoi[0].eoi.vector, 0x53);
  EXPECT_EQ(eoi[0].eoi.vcpu, 1u);
}

TEST_F(TraceLapic, EoiReportsTheRetiredVectorAndItsTrigger) {
  ApicMessage m;
  m.vector = 0x61;
  m.level_triggered = true;
  m.origin = MINIKVM_ORIGIN_IOAPIC;
  ASSERT_EQ(l_[1]->accept(m), 1);
  m.vector = 0x62;
  m.level_triggered = false;
  ASSERT_EQ(l_[1]->accept(m), 1);
  ASSERT_EQ(take(1), 0x62);
  user::trace_clear();
  w(1, reg::kEoi, 0);  // retires 0x62, edge
  ASSERT_EQ(take(1), 0x61);
  w(1, reg::kEoi, 0);  // retires 0x61, level
  w(1, reg::kEoi, 0);  // nothing in service
  auto rs = user::trace_records(MK_TP_EOI);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].eoi.vector, 0x62);
  EXPECT_EQ(rs[0].eoi.level, 0);
  EXPECT_EQ(rs[1].eoi.vector, 0x61);
  EXPECT_EQ(rs[1].eoi.level, 1);
  EXPECT_EQ(rs[1].eoi.vcpu, 1u);
  EXPECT_EQ(rs[1].eoi.vm, kTraceVm);
  EXPECT_EQ(host_[1].eoi_level, 0x61);
  EXPECT_EQ(rs[2].eoi.vector, 0);
  // The EOI-induced exit of virtual-interrupt delivery reports the same.
  user::trace_clear();
  m.vector = 0x63;
  m.level_triggered = true;
  ASSERT_EQ(l_[1]->accept(m), 1);
  l_[1]->eoi_induced(0x63);
  rs = user::trace_records(MK_TP_EOI);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].eoi.vector, 0x63);
  EXPECT_EQ(rs[0].eoi.level, 1);
}

TEST_F(TraceLapic, TimerInterruptsComeFromTheTimerNeverFromAnIpi) {
  w(0, reg::kLvtTimer, 0x70);  // one-shot, vector 0x70
  w(0, reg::kTimerDivide, 0xb);  // divide by 1
  w(0, reg::kTimerInitial, 1000);
  user::trace_clear();
  user::advance_time(1'000'000);
  // The hrtimer's expiry is accepted when the vCPU delivers it (process
  // context, where a BPF program on the tracepoint always runs).
  EXPECT_EQ(user::trace_records(MK_TP_APIC_ACCEPT).size(), 0u);
  ASSERT_TRUE(l_[0]->timer_pending());
  l_[0]->inject_pending_timer();
  auto rs = user::trace_records(MK_TP_APIC_ACCEPT);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].apic_accept.vector, 0x70);
  EXPECT_EQ(rs[0].apic_accept.origin, MINIKVM_ORIGIN_TIMER);
  EXPECT_EQ(rs[0].apic_accept.vcpu, 0u);
  EXPECT_EQ(user::trace_records(MK_TP_IPI).size(), 0u);
}

TEST_F(TraceLapic, AnIllegalIpiVectorRaisesTheErrorLvtAsALocalSource) {
  w(0, reg::kLvtError, 0x7e);
  user::trace_clear();
  w(0, reg::kIcrHigh, 1u << 24);
  w(0, reg::kIcrLow, 0x4005);  // fixed vector 5: illegal, not sent (SDM 10.5.3)
  auto rs = user::trace_records();
  ASSERT_EQ(count(rs, MK_TP_IPI), 1u) << "the ICR write itself is traced";
  auto acc = user::trace_records(MK_TP_APIC_ACCEPT);
  ASSERT_EQ(acc.size(), 1u);
  EXPECT_EQ(acc[0].apic_accept.vcpu, 0u);
  EXPECT_EQ(acc[0].apic_accept.vector, 0x7e);
  EXPECT_EQ(acc[0].apic_accept.origin, MINIKVM_ORIGIN_LVT);
}

TEST_F(TraceLapic, NmiInitAndSipiIpisAreAccepted) {
  w(0, reg::kIcrHigh, 1u << 24);
  w(0, reg::kIcrLow, 0x4400);  // NMI
  w(0, reg::kIcrLow, 0x4500);  // INIT assert
  w(0, reg::kIcrLow, 0x4608);  // SIPI vector 8
  auto rs = user::trace_records(MK_TP_APIC_ACCEPT);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].apic_accept.delivery_mode, 4);
  EXPECT_EQ(rs[1].apic_accept.delivery_mode, 5);
  EXPECT_EQ(rs[2].apic_accept.delivery_mode, 6);
  EXPECT_EQ(rs[2].apic_accept.vector, 8);
  for (const auto &r : rs)
    EXPECT_EQ(r.apic_accept.origin, MINIKVM_ORIGIN_IPI);
  EXPECT_EQ(host_[1].nmis, 1);
}

// ---- an irqfd set: the resampler ----

struct FakeSink : mk::irq::GsiSink {
  int lowered = 0;
  int set_gsi(unsigned, unsigned, bool level) override {
    lowered += !level;
    return 1;
  }
};
struct NullBus : mk::irq::ApicBus {
  int deliver(const ApicMessage &, Lapic *) override { return 1; }
};

struct IrqfdsBox {
  mk::irq::Irqfds *p;
  NO_VPTR IrqfdsBox(mk::irq::GsiSink &s, mk::irq::ApicBus &b)
      : p(new (mk::nothrow) mk::irq::Irqfds(s, b, nullptr, kTraceVm)) {}
  NO_VPTR ~IrqfdsBox() { delete p; }
  NO_VPTR int init() { return p->init(); }
  NO_VPTR void set_irqchip(mk::irq::GsiRouting *r, bool full) { p->set_irqchip(r, full); }
  NO_VPTR long ioctl(const kvm_irqfd &a) { return p->ioctl(a); }
  NO_VPTR void irq_acked(unsigned chip, unsigned pin) { p->irq_acked(chip, pin); }
  NO_VPTR void release_all() { p->release_all(); }
};

TEST(TraceIrqfd, ResamplerFiresOnTheAckOfItsPin) {
  user::trace_enable_all(false);
  user::trace_clear();
  FakeSink sink;
  NullBus bus;
  mk::irq::GsiRouting routing;
  ASSERT_EQ(routing.init(), 0);
  ASSERT_EQ(routing.set_default(), 0);
  {
    IrqfdsBox set(sink, bus);
    ASSERT_EQ(set.init(), 0);
    set.set_irqchip(&routing, true);
    int fd = user::eventfd_new(), rfd = user::eventfd_new();
    kvm_irqfd a{};
    a.fd = static_cast<u32>(fd);
    a.gsi = 10;
    a.flags = KVM_IRQFD_FLAG_RESAMPLE;
    a.resamplefd = static_cast<u32>(rfd);
    ASSERT_EQ(set.ioctl(a), 0);
    user::trace_enable_all(true);
    set.irq_acked(KVM_IRQCHIP_IOAPIC, 11);  // another pin: nothing
    EXPECT_EQ(user::trace_records().size(), 0u);
    set.irq_acked(KVM_IRQCHIP_IOAPIC, 10);
    auto rs = user::trace_records(MK_TP_IRQFD_RESAMPLE);
    ASSERT_EQ(rs.size(), 1u);
    EXPECT_EQ(rs[0].irqfd_resample.vm, kTraceVm);
    EXPECT_EQ(rs[0].irqfd_resample.gsi, 10u);
    EXPECT_EQ(sink.lowered, 1);
    EXPECT_EQ(user::eventfd_read(rfd), 1u) << "and the resamplefd is signalled";
    user::trace_enable_all(false);
    set.release_all();
    user::run_work();
    EXPECT_EQ(user::eventfd_close(fd), 0);
    EXPECT_EQ(user::eventfd_close(rfd), 0);
  }
  user::trace_clear();
}

}  // namespace
