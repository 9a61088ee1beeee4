// SPDX-License-Identifier: GPL-2.0
// GSI routing against Linux 6.1's kvm_set_irq_routing() and
// kvm_set_routing_entry() (each -EINVAL case, the atomic swap, the
// default table of KVM_CREATE_IRQCHIP) and kvm_set_msi_irq()'s decoding.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include <minikvm/platform.h>

#include "core/irq/routing.h"
#include "user_platform.h"

using mk::u32;
using mk::irq::ApicMessage;
using mk::irq::Delivery;
using mk::irq::GsiRouting;
using mk::irq::RouteEntry;

namespace {

kvm_irq_routing_entry chip_route(u32 gsi, u32 chip, u32 pin) {
  kvm_irq_routing_entry e{};
  e.gsi = gsi;
  e.type = KVM_IRQ_ROUTING_IRQCHIP;
  e.u.irqchip.irqchip = chip;
  e.u.irqchip.pin = pin;
  return e;
}

kvm_irq_routing_entry msi_route(u32 gsi, u32 lo, u32 hi, u32 data, u32 flags = 0) {
  kvm_irq_routing_entry e{};
  e.gsi = gsi;
  e.type = KVM_IRQ_ROUTING_MSI;
  e.flags = flags;
  e.u.msi.address_lo = lo;
  e.u.msi.address_hi = hi;
  e.u.msi.data = data;
  return e;
}

class RoutingTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(rt_.init(), 0); }
  void TearDown() override { mk::user::fail_alloc_after(-1); }

  int set(mk::user::HostVector<kvm_irq_routing_entry> v) { return rt_.set(v.data(), static_cast<u32>(v.size())); }
  u32 lookup(u32 gsi) { return rt_.lookup(gsi, out_, GsiRouting::kMaxPerGsi); }

  GsiRouting rt_;
  RouteEntry out_[GsiRouting::kMaxPerGsi] = {};
};

TEST_F(RoutingTest, NothingRoutedBeforeATableIsSet) {
  for (u32 gsi : {0u, 1u, 23u, 4095u, 4096u, ~0u})
    EXPECT_EQ(lookup(gsi), 0u);
  EXPECT_EQ(rt_.gsi_of(KVM_IRQCHIP_IOAPIC, 0), -1);
  EXPECT_EQ(rt_.max_gsi(), 4096u);
}

TEST_F(RoutingTest, DefaultRoutingIsKvmsDefaultTable) {
  ASSERT_EQ(rt_.set_default(), 0);
  for (u32 gsi = 0; gsi < 16; gsi++) {
    ASSERT_EQ(lookup(gsi), 2u) << gsi;
    // IOAPIC first, then the PIC (ROUTING_ENTRY2's order).
    EXPECT_EQ(out_[0].gsi, gsi);
    EXPECT_EQ(out_[0].type, u32(KVM_IRQ_ROUTING_IRQCHIP));
    EXPECT_EQ(out_[0].chip, u32(KVM_IRQCHIP_IOAPIC));
    EXPECT_EQ(out_[0].pin, gsi);  // IRQ 0 -> pin 0: no override in KVM's table
    EXPECT_EQ(out_[1].gsi, gsi);
    EXPECT_EQ(out_[1].chip, u32(gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE));
    EXPECT_EQ(out_[1].pin, gsi);  // the combined PIC pin 0-15
    EXPECT_EQ(rt_.gsi_of(KVM_IRQCHIP_IOAPIC, gsi), int(gsi));
    EXPECT_EQ(rt_.gsi_of(gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi), int(gsi));
  }
  for (u32 gsi = 16; gsi < 24; gsi++) {
    ASSERT_EQ(lookup(gsi), 1u) << gsi;
    EXPECT_EQ(out_[0].chip, u32(KVM_IRQCHIP_IOAPIC));
    EXPECT_EQ(out_[0].pin, gsi);
  }
  EXPECT_EQ(lookup(24), 0u);
  EXPECT_EQ(lookup(4095), 0u);
  // The master has no pins 8-15, the slave none below 8.
  EXPECT_EQ(rt_.gsi_of(KVM_IRQCHIP_PIC_MASTER, 8), -1);
  EXPECT_EQ(rt_.gsi_of(KVM_IRQCHIP_PIC_SLAVE, 0), -1);
  EXPECT_EQ(rt_.gsi_of(3, 0), -1);
  EXPECT_EQ(rt_.gsi_of(KVM_IRQCHIP_IOAPIC, 24), -1);
  EXPECT_EQ(rt_.gsi_of(~0u, ~0u), -1);
}

TEST_F(RoutingTest, QemuStyleTable) {
  // What QEMU's kvm_pc_setup_irq_routing() sets: IRQ0 -> IOAPIC pin 2, no
  // GSI 2 on the IOAPIC, PIC pin 2 (cascade) left out, plus MSIs.
  mk::user::HostVector<kvm_irq_routing_entry> v;
  for (u32 i = 0; i < 8; i++)
    if (i != 2)
      v.push_back(chip_route(i, KVM_IRQCHIP_PIC_MASTER, i));
  for (u32 i = 8; i < 16; i++)
    v.push_back(chip_route(i, KVM_IRQCHIP_PIC_SLAVE, i - 8));
  for (u32 i = 0; i < 24; i++)
    if (i == 0)
      v.push_back(chip_route(0, KVM_IRQCHIP_IOAPIC, 2));
    else if (i != 2)
      v.push_back(chip_route(i, KVM_IRQCHIP_IOAPIC, i));
  v.push_back(msi_route(24, 0xfee01000, 0, 0x4041, KVM_MSI_VALID_DEVID));
  ASSERT_EQ(set(v), 0);
  ASSERT_EQ(lookup(0), 2u);
  EXPECT_EQ(out_[0].chip, u32(KVM_IRQCHIP_PIC_MASTER));  // given first
  EXPECT_EQ(out_[1].chip, u32(KVM_IRQCHIP_IOAPIC));
  EXPECT_EQ(out_[1].pin, 2u);
  EXPECT_EQ(lookup(2), 0u);
  EXPECT_EQ(rt_.gsi_of(KVM_IRQCHIP_IOAPIC, 2), 0);
  EXPECT_EQ(rt_.gsi_of(KVM_IRQCHIP_PIC_MASTER, 2), -1);
  ASSERT_EQ(lookup(24), 1u);
  EXPECT_EQ(out_[0].type, u32(KVM_IRQ_ROUTING_MSI));
  EXPECT_EQ(out_[0].address_lo, 0xfee01000u);
  EXPECT_EQ(out_[0].address_hi, 0u);
  EXPECT_EQ(out_[0].data, 0x4041u);
}

TEST_F(RoutingTest, LookupCopiesAtMostMax) {
  ASSERT_EQ(rt_.set_default(), 0);
  RouteEntry one[1] = {};
  EXPECT_EQ(rt_.lookup(3, one, 1), 1u);
  EXPECT_EQ(one[0].chip, u32(KVM_IRQCHIP_IOAPIC));
  EXPECT_EQ(rt_.lookup(3, nullptr, 0), 0u);
}

TEST_F(RoutingTest, ThreeIrqchipsPerGsiButNoDuplicates) {
  EXPECT_EQ(set({chip_route(5, KVM_IRQCHIP_PIC_SLAVE, 7), chip_route(5, KVM_IRQCHIP_IOAPIC, 23),
                 chip_route(5, KVM_IRQCHIP_PIC_MASTER, 0)}),
            0);
  ASSERT_EQ(lookup(5), 3u);
  EXPECT_EQ(out_[0].chip, u32(KVM_IRQCHIP_PIC_SLAVE));
  EXPECT_EQ(out_[0].pin, 15u);
  EXPECT_EQ(out_[1].pin, 23u);
  EXPECT_EQ(out_[2].pin, 0u);
  EXPECT_EQ(set({chip_route(5, KVM_IRQCHIP_IOAPIC, 1), chip_route(5, KVM_IRQCHIP_IOAPIC, 2)}), -EINVAL);
  EXPECT_EQ(set({chip_route(5, KVM_IRQCHIP_PIC_MASTER, 1), chip_route(5, KVM_IRQCHIP_PIC_MASTER, 1)}), -EINVAL);
  // Irqchip and MSI, or two MSIs, on one GSI: one-to-one only.
  EXPECT_EQ(set({chip_route(6, KVM_IRQCHIP_IOAPIC, 1), msi_route(6, 0xfee00000, 0, 0x30)}), -EINVAL);
  EXPECT_EQ(set({msi_route(6, 0xfee00000, 0, 0x30), chip_route(6, KVM_IRQCHIP_IOAPIC, 1)}), -EINVAL);
  EXPECT_EQ(set({msi_route(6, 0xfee00000, 0, 0x30), msi_route(6, 0xfee00000, 0, 0x31)}), -EINVAL);
  // The same on different GSIs is fine; so is one pin behind two GSIs
  // (the reverse map keeps the last).
  EXPECT_EQ(set({msi_route(6, 0xfee00000, 0, 0x30), msi_route(7, 0xfee00000, 0, 0x30),
                 chip_route(8, KVM_IRQCHIP_IOAPIC, 4), chip_route(9, KVM_IRQCHIP_IOAPIC, 4)}),
            0);
  EXPECT_EQ(rt_.gsi_of(KVM_IRQCHIP_IOAPIC, 4), 9);
  // The earlier failures left the table of the last success in place.
  ASSERT_EQ(lookup(5), 0u);
  ASSERT_EQ(lookup(8), 1u);
}

TEST_F(RoutingTest, EveryInvalidEntryIsEinval) {
  auto bad = [&](kvm_irq_routing_entry e) {
    kvm_irq_routing_entry v[2] = {chip_route(0, KVM_IRQCHIP_IOAPIC, 0), e};
    return rt_.set(v, 2);
  };
  // Ranges.
  EXPECT_EQ(bad(chip_route(1, KVM_IRQCHIP_PIC_MASTER, 8)), -EINVAL);
  EXPECT_EQ(bad(chip_route(1, KVM_IRQCHIP_PIC_SLAVE, 8)), -EINVAL);
  EXPECT_EQ(bad(chip_route(1, KVM_IRQCHIP_IOAPIC, 24)), -EINVAL);
  EXPECT_EQ(bad(chip_route(1, KVM_IRQCHIP_IOAPIC, ~0u)), -EINVAL);
  EXPECT_EQ(bad(chip_route(1, 3, 0)), -EINVAL);
  EXPECT_EQ(bad(chip_route(1, ~0u, 0)), -EINVAL);
  EXPECT_EQ(bad(chip_route(4096, KVM_IRQCHIP_IOAPIC, 0)), -EINVAL);
  EXPECT_EQ(bad(chip_route(~0u, KVM_IRQCHIP_IOAPIC, 0)), -EINVAL);
  // Types: 0, S390 adapter, Xen event channel, garbage.
  for (u32 type : {0u, u32(KVM_IRQ_ROUTING_S390_ADAPTER), u32(KVM_IRQ_ROUTING_XEN_EVTCHN), 6u, ~0u}) {
    kvm_irq_routing_entry e = chip_route(1, KVM_IRQCHIP_IOAPIC, 1);
    e.type = type;
    EXPECT_EQ(bad(e), -EINVAL) << type;
  }
  // Flags: an irqchip route takes none, an MSI only KVM_MSI_VALID_DEVID.
  kvm_irq_routing_entry e = chip_route(1, KVM_IRQCHIP_IOAPIC, 1);
  e.flags = KVM_MSI_VALID_DEVID;
  EXPECT_EQ(bad(e), -EINVAL);
  EXPECT_EQ(bad(msi_route(1, 0xfee00000, 0, 0, 2)), -EINVAL);
  EXPECT_EQ(bad(msi_route(1, 0xfee00000, 0, 0, ~0u)), -EINVAL);
  EXPECT_EQ(bad(msi_route(1, 0xfee00000, 0, 0, KVM_MSI_VALID_DEVID)), 0);
  // pad and union bytes beyond the used ones are not looked at.
  e = chip_route(1, KVM_IRQCHIP_IOAPIC, 1);
  e.pad = ~0u;
  e.u.pad[5] = ~0u;
  EXPECT_EQ(bad(e), 0);
}

TEST_F(RoutingTest, TableSizeLimits) {
  EXPECT_EQ(rt_.set(nullptr, 0), 0);  // an empty table
  EXPECT_EQ(lookup(0), 0u);
  EXPECT_EQ(rt_.set(nullptr, 1), -EINVAL);
  mk::user::HostVector<kvm_irq_routing_entry> v;
  for (u32 i = 0; i < GsiRouting::kMaxRoutes; i++)
    v.push_back(msi_route(i, 0xfee00000 | (i & 0xff) << 12, 0, i & 0xff));
  ASSERT_EQ(set(v), 0);
  ASSERT_EQ(lookup(4095), 1u);
  EXPECT_EQ(out_[0].data, 0xffu);
  EXPECT_EQ(lookup(4096), 0u);
  v.push_back(chip_route(0, KVM_IRQCHIP_IOAPIC, 0));
  EXPECT_EQ(set(v), -EINVAL);  // nr > KVM_MAX_IRQ_ROUTES
  // A single high GSI sizes the table by itself.
  EXPECT_EQ(set({chip_route(4095, KVM_IRQCHIP_IOAPIC, 3)}), 0);
  ASSERT_EQ(lookup(4095), 1u);
  EXPECT_EQ(lookup(4094), 0u);
  // A bad GSI anywhere fails before any other check (and any allocation).
  mk::user::fail_alloc_after(0);
  EXPECT_EQ(set({chip_route(1, 9, 99), chip_route(4096, KVM_IRQCHIP_IOAPIC, 0)}), -EINVAL);
  mk::user::fail_alloc_after(-1);
}

TEST_F(RoutingTest, HvSintIsAcceptedUnchecked) {
  kvm_irq_routing_entry e{};
  e.gsi = 30;
  e.type = KVM_IRQ_ROUTING_HV_SINT;
  e.u.hv_sint.vcpu = 1234;
  e.u.hv_sint.sint = 99;
  ASSERT_EQ(rt_.set(&e, 1), 0);
  ASSERT_EQ(lookup(30), 1u);
  EXPECT_EQ(out_[0].type, u32(KVM_IRQ_ROUTING_HV_SINT));
  EXPECT_EQ(out_[0].chip, 1234u);
  EXPECT_EQ(out_[0].pin, 99u);
  kvm_irq_routing_entry two[2] = {e, chip_route(30, KVM_IRQCHIP_IOAPIC, 0)};
  EXPECT_EQ(rt_.set(two, 2), -EINVAL);
}

TEST_F(RoutingTest, X2apicFormatRejectsLowAddressHiBits) {
  EXPECT_FALSE(rt_.x2apic_format());
  EXPECT_EQ(set({msi_route(1, 0xfee00000, 0x1ff, 0x30)}), 0);  // ignored without the format
  rt_.set_x2apic_format(true);
  EXPECT_TRUE(rt_.x2apic_format());
  EXPECT_EQ(set({msi_route(1, 0xfee00000, 0x1ff, 0x30)}), -EINVAL);
  EXPECT_EQ(set({msi_route(1, 0xfee00000, 0x100, 0x30)}), 0);
  EXPECT_TRUE(mk::irq::msi_route_invalid(0x1, true));
  EXPECT_FALSE(mk::irq::msi_route_invalid(0x1, false));
  EXPECT_FALSE(mk::irq::msi_route_invalid(0xffffff00, true));
}

TEST(Routing, AllocationFailureLeaksNothing) {
  long live = mk_alloc_live();
  {
    GsiRouting rt;
    mk::user::fail_alloc_after(0);
    EXPECT_EQ(rt.init(), -ENOMEM);
    mk::user::fail_alloc_after(-1);
  }
  EXPECT_EQ(mk_alloc_live(), live);
  {
    GsiRouting rt;
    ASSERT_EQ(rt.init(), 0);
    ASSERT_EQ(rt.set_default(), 0);
    long with_table = mk_alloc_live();
    kvm_irq_routing_entry e = chip_route(40, KVM_IRQCHIP_IOAPIC, 1);
    mk::user::fail_alloc_after(0);
    EXPECT_EQ(rt.set(&e, 1), -ENOMEM);
    mk::user::fail_alloc_after(0);
    EXPECT_EQ(rt.set_default(), -ENOMEM);
    mk::user::fail_alloc_after(-1);
    EXPECT_EQ(mk_alloc_live(), with_table);
    RouteEntry out[3];
    EXPECT_EQ(rt.lookup(3, out, 3), 2u);  // the default table is still there
    // Replacing a table frees the old one; failing validation frees the new one.
    EXPECT_EQ(rt.set(&e, 1), 0);
    EXPECT_EQ(mk_alloc_live(), with_table);
    e.type = 77;
    EXPECT_EQ(rt.set(&e, 1), -EINVAL);
    EXPECT_EQ(mk_alloc_live(), with_table);
  }
  EXPECT_EQ(mk_alloc_live(), live);
}

TEST(Routing, ReadersSeeWholeTables) {
  // One writer flips between two tables; GSI 0-99 route to IOAPIC pin 1 and
  // MSI data 1 in table A, pin 2 / data 2 in table B. A reader must never
  // see one GSI from each (lookups are per GSI, so check within one GSI:
  // the chip routes' pins agree).
  GsiRouting rt;
  ASSERT_EQ(rt.init(), 0);
  mk::user::HostVector<kvm_irq_routing_entry> a, b;
  for (u32 g = 0; g < 100; g++) {
    a.push_back(chip_route(g, KVM_IRQCHIP_IOAPIC, 1));
    a.push_back(chip_route(g, KVM_IRQCHIP_PIC_MASTER, 1));
    b.push_back(chip_route(g, KVM_IRQCHIP_IOAPIC, 2));
    b.push_back(chip_route(g, KVM_IRQCHIP_PIC_MASTER, 2));
  }
  ASSERT_EQ(rt.set(a.data(), static_cast<u32>(a.size())), 0);
  std::atomic<bool> stop{false};
  std::atomic<long> torn{0}, reads{0};
  std::thread reader([&] {
    RouteEntry out[3];
    while (!stop) {
      for (u32 g = 0; g < 100; g++) {
        u32 n = rt.lookup(g, out, 3);
        if (n != 2 || out[0].pin != out[1].pin || out[0].gsi != g)
          torn++;
        reads++;
      }
    }
  });
  for (int i = 0; i < 2000; i++) {
    auto &v = i & 1 ? a : b;
    ASSERT_EQ(rt.set(v.data(), static_cast<u32>(v.size())), 0);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
}

// ---- MSI decoding (kvm_set_msi_irq) ----

TEST(MsiMessage, FieldsOfAddressAndData) {
  ApicMessage m = mk::irq::msi_message(0xfee12000, 0, 0x0031);
  EXPECT_EQ(m.dest, 0x12u);
  EXPECT_FALSE(m.logical);
  EXPECT_FALSE(m.redirection_hint);
  EXPECT_EQ(m.vector, 0x31);
  EXPECT_EQ(m.delivery, Delivery::kFixed);
  EXPECT_FALSE(m.level_triggered);
  EXPECT_TRUE(m.level_assert);
  EXPECT_EQ(m.shorthand, mk::irq::Shorthand::kNone);

  m = mk::irq::msi_message(0xfeeff00c, 0xabcdef12, 0xc1ff);
  EXPECT_EQ(m.dest, 0xffu);  // address_hi ignored without x2APIC format
  EXPECT_TRUE(m.logical);
  EXPECT_TRUE(m.redirection_hint);
  EXPECT_EQ(m.vector, 0xff);
  EXPECT_EQ(m.delivery, Delivery::kLowestPriority);
  EXPECT_TRUE(m.level_triggered);
  EXPECT_TRUE(m.level_assert);

  // Bit 14 (level) does not de-assert; bits 11:5 (extended destination ID)
  // are not used by KVM 6.1.
  m = mk::irq::msi_message(0xfee00fe0, 0, 0x0420);
  EXPECT_EQ(m.dest, 0u);
  EXPECT_TRUE(m.level_assert);
  EXPECT_FALSE(m.level_triggered);
  EXPECT_EQ(m.delivery, Delivery::kNmi);
  for (u32 mode = 0; mode < 8; mode++)
    EXPECT_EQ(static_cast<u32>(mk::irq::msi_message(0xfee00000, 0, mode << 8).delivery), mode);
  EXPECT_FALSE(mk::irq::msi_message(0xfee00004, 0, 0).redirection_hint);
  EXPECT_TRUE(mk::irq::msi_message(0xfee00004, 0, 0).logical);
  EXPECT_TRUE(mk::irq::msi_message(0xfee00008, 0, 0).redirection_hint);
  EXPECT_FALSE(mk::irq::msi_message(0xfee00008, 0, 0).logical);
}

TEST(MsiMessage, X2apicFormatAddsAddressHi) {
  ApicMessage m = mk::irq::msi_message(0xfee34000, 0x12345600, 0x30, true);
  EXPECT_EQ(m.dest, 0x12345634u);
  m = mk::irq::msi_message(0xfeeff000, 0xffffff00, 0x30, true);
  EXPECT_EQ(m.dest, 0xffffffffu);
}

}  // namespace
