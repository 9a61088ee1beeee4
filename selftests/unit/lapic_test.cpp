// SPDX-License-Identifier: GPL-2.0
// The local APIC (kmod/core/irq/lapic.cpp): every register through MMIO and
// the x2APIC MSRs, IA32_APIC_BASE and its mode transitions, acceptance,
// priorities and EOI, ESR, the timer in its three modes on the simulated
// clock, KVM_GET/SET_LAPIC, INIT/RESET values, allocation failure and
// hostile input. Every callback of the fakes re-enters the Lapic (takes its
// lock), so a callback made under the Lapic's lock aborts the test (the
// user platform's spinlocks catch recursion).
#include <gtest/gtest.h>

#include <linux/kvm.h>
#include <minikvm/platform.h>

#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "core/irq/lapic.h"
#include "core/rt/errno.h"
#include "user_platform.h"

using mk::u32;
using mk::u64;
using mk::u8;
using mk::irq::ApicBus;
using mk::irq::ApicMessage;
using mk::irq::Delivery;
using mk::irq::Lapic;
using mk::irq::LapicHost;
using mk::irq::Shorthand;
namespace reg = mk::irq::apic_reg;

namespace {

constexpr u64 kBase = Lapic::kDefaultBase;

struct FakeHost : LapicHost {
  Lapic *lapic = nullptr;
  int kicks = 0, nmis = 0;
  std::vector<u8> eois;
  u64 tsc_offset = 0;
  void reenter() {
    if (lapic)
      (void)lapic->reg(reg::kId);  // takes the Lapic's lock
  }
  // As a vCPU would: kicked, it runs and delivers what the timer left
  // (Vcpu::prepare_entry); that delivery's own kick is not counted.
  bool in_kick = false;
  bool deliver_timer_on_kick = true;
  void apic_kick() override {
    reenter();
    if (in_kick)
      return;
    kicks++;
    if (deliver_timer_on_kick && lapic && lapic->timer_pending()) {
      in_kick = true;
      lapic->inject_pending_timer();
      in_kick = false;
    }
  }
  void apic_nmi() override {
    reenter();
    nmis++;
  }
  void apic_eoi_level(u8 v) override {
    reenter();
    eois.push_back(v);
  }
  // Called under the Lapic's lock by contract: must not re-enter.
  u64 apic_guest_tsc() override { return mk_rdtsc() + tsc_offset; }
};

// Records what the Lapic sends; shorthand self goes back to the sender
// (as the real bus does), everything else answers `ret`.
struct FakeBus : ApicBus {
  std::vector<ApicMessage> sent;
  int ret = 1;
  int deliver(const ApicMessage &m, Lapic *source) override {
    sent.push_back(m);
    if (source) {
      (void)source->reg(reg::kId);  // re-enters: the sender's lock is free
      if (m.shorthand == Shorthand::kSelf)
        return source->accept(m);
    }
    return ret;
  }
};

ApicMessage fixed(u8 vector, bool level = false) {
  ApicMessage m;
  m.vector = vector;
  m.level_triggered = level;
  return m;
}

ApicMessage msg(Delivery d, u8 vector = 0) {
  ApicMessage m;
  m.delivery = d;
  m.vector = vector;
  return m;
}

class LapicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mk::user::reset_time();
    live_ = mk_alloc_live();
    pages_ = mk::user::live_pages();
    l_ = make(0, true);
  }
  void TearDown() override {
    host_.lapic = nullptr;
    l_.reset();
    others_.clear();
    // The fakes' vectors come from the same allocator.
    std::vector<ApicMessage>().swap(bus_.sent);
    std::vector<u8>().swap(host_.eois);
    EXPECT_EQ(mk_alloc_live(), live_) << "allocations leaked";
    EXPECT_EQ(mk::user::live_pages(), pages_) << "pages leaked";
    EXPECT_EQ(mk::user::armed_timers(), 0);
  }

  std::unique_ptr<Lapic> make(u32 vcpu_id, bool bsp) {
    auto l = std::make_unique<Lapic>(vcpu_id, host_, bus_);
    EXPECT_EQ(l->init(), 0);
    l->reset(bsp);
    l->set_tsc_deadline_supported(true);
    l->set_x2apic_supported(true);
    if (!host_.lapic)
      host_.lapic = l.get();
    return l;
  }

  void w(u32 off, u32 v) { ASSERT_EQ(l_->mmio_write(kBase + off, 4, &v), 0); }
  u32 r(u32 off) {
    u32 v = 0xdeadbeef;
    EXPECT_EQ(l_->mmio_read(kBase + off, 4, &v), 0);
    return v;
  }
  void enable() { w(reg::kSvr, 0x1ff); }
  bool irr(u8 v) { return (l_->reg(reg::kIrr + (v / 32) * 0x10) >> (v % 32)) & 1; }
  bool isr(u8 v) { return (l_->reg(reg::kIsr + (v / 32) * 0x10) >> (v % 32)) & 1; }
  bool tmr(u8 v) { return (l_->reg(reg::kTmr + (v / 32) * 0x10) >> (v % 32)) & 1; }
  void to_x2apic() { ASSERT_EQ(l_->set_apic_base(kBase | Lapic::kBaseEnable | Lapic::kBaseExtd, false), 0); }
  u64 rdmsr(u32 m) {
    u64 v = 0xdeadbeef;
    EXPECT_EQ(l_->read_msr(m, &v), 0) << std::hex << m;
    return v;
  }
  // Delivers and injects: the vector the CPU takes now, or -1.
  int take() {
    int v = l_->pending_vector();
    if (v >= 0)
      l_->acknowledge(static_cast<u8>(v));
    return v;
  }

  FakeHost host_;
  FakeBus bus_;
  std::unique_ptr<Lapic> l_;
  std::vector<std::unique_ptr<Lapic>> others_;
  long live_ = 0, pages_ = 0;
};

// ---- Allocation ----

TEST_F(LapicTest, InitFailsCleanlyAtEveryAllocation) {
  for (long n = 0; n < 3; n++) {
    long live = mk_alloc_live(), pages = mk::user::live_pages();
    auto *l = new Lapic(1, host_, bus_);
    mk::user::fail_alloc_after(n);
    EXPECT_EQ(l->init(), -ENOMEM) << n;
    mk::user::fail_alloc_after(-1);
    delete l;
    EXPECT_EQ(mk_alloc_live(), live) << n;
    EXPECT_EQ(mk::user::live_pages(), pages) << n;
  }
  Lapic l(1, host_, bus_);
  mk::user::fail_alloc_after(3);
  EXPECT_EQ(l.init(), 0);
  mk::user::fail_alloc_after(-1);
}

TEST_F(LapicTest, DestroyWithArmedTimer) {
  auto l = make(5, false);
  u32 v = 0x1ff;
  l->mmio_write(kBase + reg::kSvr, 4, &v);
  v = 0x20000 | 0x40;
  l->mmio_write(kBase + reg::kLvtTimer, 4, &v);
  v = 1000;
  l->mmio_write(kBase + reg::kTimerInitial, 4, &v);
  EXPECT_EQ(mk::user::armed_timers(), 1);
  l.reset();
  EXPECT_EQ(mk::user::armed_timers(), 0);
}

// ---- RESET / INIT ----

TEST_F(LapicTest, PowerOnValues) {
  EXPECT_EQ(l_->apic_base(), 0xfee00900u);
  EXPECT_TRUE(l_->hw_enabled());
  EXPECT_FALSE(l_->sw_enabled());
  EXPECT_FALSE(l_->x2apic_mode());
  EXPECT_EQ(r(reg::kId), 0u);
  EXPECT_EQ(r(reg::kVersion), 0x50014u);  // KVM: 0x14, 6 LVT entries
  EXPECT_EQ(r(reg::kTpr), 0u);
  EXPECT_EQ(r(reg::kApr), 0u);
  EXPECT_EQ(r(reg::kPpr), 0u);
  EXPECT_EQ(r(reg::kLdr), 0u);
  EXPECT_EQ(r(reg::kDfr), 0xffffffffu);
  EXPECT_EQ(r(reg::kSvr), 0xffu);
  EXPECT_EQ(r(reg::kEsr), 0u);
  EXPECT_EQ(r(reg::kIcrLow), 0u);
  EXPECT_EQ(r(reg::kIcrHigh), 0u);
  for (u32 lvt : {reg::kLvtTimer, reg::kLvtThermal, reg::kLvtPerf, reg::kLvtLint1, reg::kLvtError})
    EXPECT_EQ(r(lvt), 0x10000u) << std::hex << lvt;
  // KVM_X86_QUIRK_LINT0_REENABLED: the BSP's LINT0 is ExtINT, unmasked.
  EXPECT_EQ(r(reg::kLvtLint0), 0x700u);
  EXPECT_TRUE(l_->accepts_pic_intr());
  EXPECT_EQ(r(reg::kTimerInitial), 0u);
  EXPECT_EQ(r(reg::kTimerCurrent), 0u);
  EXPECT_EQ(r(reg::kTimerDivide), 0u);
  for (u32 i = 0; i < 8; i++) {
    EXPECT_EQ(r(reg::kIsr + i * 16), 0u);
    EXPECT_EQ(r(reg::kTmr + i * 16), 0u);
    EXPECT_EQ(r(reg::kIrr + i * 16), 0u);
  }
  EXPECT_EQ(l_->pending_vector(), -1);
  EXPECT_EQ(l_->id(), 0u);

  auto ap = make(3, false);
  EXPECT_EQ(ap->apic_base(), 0xfee00800u);
  EXPECT_EQ(ap->reg(reg::kId), 0x03000000u);
  EXPECT_EQ(ap->reg(reg::kLvtLint0), 0x10000u);
  EXPECT_FALSE(ap->accepts_pic_intr());
  EXPECT_EQ(ap->id(), 3u);
  auto big = make(300, false);
  EXPECT_EQ(big->reg(reg::kId), static_cast<u32>(300 & 0xff) << 24);  // the xAPIC ID wraps, as KVM
  EXPECT_EQ(big->vcpu_id(), 300u);
}

TEST_F(LapicTest, ResetFromAnyStateRestoresPowerOnValues) {
  to_x2apic();
  enable();
  l_->write_msr(0x808, 0x50);
  l_->accept(fixed(0x80));
  l_->reset(false);
  EXPECT_EQ(l_->apic_base(), 0xfee00800u);
  EXPECT_FALSE(l_->x2apic_mode());
  EXPECT_EQ(r(reg::kId), 0u);
  EXPECT_EQ(r(reg::kLdr), 0u);
  EXPECT_EQ(r(reg::kTpr), 0u);
  EXPECT_FALSE(irr(0x80));
  EXPECT_EQ(r(reg::kLvtLint0), 0x10000u);
}

TEST_F(LapicTest, InitSignalKeepsIdAndBase) {
  enable();
  w(reg::kId, 0x07000000);
  w(reg::kLdr, 0x01000000);
  w(reg::kTpr, 0x20);
  w(reg::kLvtTimer, 0x20040);
  w(reg::kTimerInitial, 100000);
  w(reg::kLvtLint0, 0x10000);
  l_->accept(fixed(0x55, true));
  ASSERT_TRUE(l_->set_apic_base(0xfed00900 | Lapic::kBaseEnable, false) == 0);
  l_->init_signal();
  EXPECT_EQ(l_->apic_base(), 0xfed00900u | Lapic::kBaseEnable);
  EXPECT_EQ(l_->reg(reg::kId), 0x07000000u);
  EXPECT_EQ(l_->reg(reg::kLdr), 0u);
  EXPECT_EQ(l_->reg(reg::kTpr), 0u);
  EXPECT_EQ(l_->reg(reg::kSvr), 0xffu);
  EXPECT_EQ(l_->reg(reg::kLvtTimer), 0x10000u);
  EXPECT_EQ(l_->reg(reg::kLvtLint0), 0x700u);  // BSP
  EXPECT_EQ(l_->reg(reg::kTimerInitial), 0u);
  EXPECT_FALSE(irr(0x55));
  EXPECT_FALSE(tmr(0x55));
  EXPECT_EQ(mk::user::armed_timers(), 0);

  // x2APIC mode survives INIT with its ID and LDR.
  auto ap = make(0x23, false);
  ASSERT_EQ(ap->set_apic_base(kBase | Lapic::kBaseEnable | Lapic::kBaseExtd, false), 0);
  ap->init_signal();
  EXPECT_TRUE(ap->x2apic_mode());
  EXPECT_EQ(ap->reg(reg::kId), 0x23u);
  EXPECT_EQ(ap->reg(reg::kLdr), (2u << 16) | (1u << 3));
  EXPECT_EQ(ap->reg(reg::kLvtLint0), 0x10000u);
}

TEST_F(LapicTest, CmciLvtIsOptional) {
  u32 v = 0;
  EXPECT_EQ(l_->mmio_read(kBase + reg::kLvtCmci, 4, &v), 0);
  EXPECT_EQ(v, 0u);  // not a register without CMCI
  l_->set_cmci_supported(true);
  EXPECT_EQ(r(reg::kVersion), 0x60014u);
  EXPECT_EQ(r(reg::kLvtCmci), 0x10000u);
  enable();
  w(reg::kLvtCmci, 0xffffffff);
  EXPECT_EQ(r(reg::kLvtCmci), 0x107ffu);
  to_x2apic();
  EXPECT_EQ(rdmsr(0x82f), 0x107ffu);
  l_->set_cmci_supported(false);
  u64 x;
  EXPECT_EQ(l_->read_msr(0x82f, &x), 1);
  EXPECT_EQ(l_->write_msr(0x82f, 0), 1);
}

// ---- MMIO access rules ----

TEST_F(LapicTest, MmioReadSizesAndOffsets) {
  enable();
  w(reg::kTpr, 0xa5);
  w(reg::kLdr, 0x12000000);
  u8 b = 0;
  EXPECT_EQ(l_->mmio_read(kBase + reg::kTpr, 1, &b), 0);
  EXPECT_EQ(b, 0xa5);
  u8 hi = 0;
  EXPECT_EQ(l_->mmio_read(kBase + reg::kLdr + 3, 1, &hi), 0);
  EXPECT_EQ(hi, 0x12);
  unsigned short h = 0;
  EXPECT_EQ(l_->mmio_read(kBase + reg::kLdr + 2, 2, &h), 0);
  EXPECT_EQ(h, 0x1200);
  // Crossing byte 4 of the slot, 3 or 8 bytes, bytes 4-15: zeros.
  u64 q = ~0ull;
  EXPECT_EQ(l_->mmio_read(kBase + reg::kTpr, 8, &q), 0);
  EXPECT_EQ(q, 0u);
  u32 v = ~0u;
  EXPECT_EQ(l_->mmio_read(kBase + reg::kLdr + 2, 4, &v), 0);
  EXPECT_EQ(v, 0u);
  v = ~0u;
  EXPECT_EQ(l_->mmio_read(kBase + reg::kTpr, 3, &v), 0);
  EXPECT_EQ(v & 0xffffff, 0u);
  v = ~0u;
  EXPECT_EQ(l_->mmio_read(kBase + reg::kTpr + 4, 4, &v), 0);
  EXPECT_EQ(v, 0u);
  // Reserved and write-only registers read 0.
  for (u32 off : {0x0u, 0x10u, 0x40u, 0x70u, reg::kEoi, reg::kRrd, 0x290u, 0x2e0u, 0x3a0u, 0x3f0u, 0x400u, 0xff0u})
    EXPECT_EQ(r(off), 0u) << std::hex << off;
  // Outside the page: not ours.
  EXPECT_FALSE(l_->mmio_covers(kBase - 1));
  EXPECT_FALSE(l_->mmio_covers(kBase + 0x1000));
  EXPECT_TRUE(l_->mmio_covers(kBase + 0xfff));
  EXPECT_EQ(l_->mmio_read(kBase + 0x1000, 4, &v), -EOPNOTSUPP);
  EXPECT_EQ(l_->mmio_write(kBase - 4, 4, &v), -EOPNOTSUPP);
}

TEST_F(LapicTest, MmioWritesOnlyAligned32Bit) {
  enable();
  u8 b = 0x50;
  EXPECT_EQ(l_->mmio_write(kBase + reg::kTpr, 1, &b), 0);
  EXPECT_EQ(r(reg::kTpr), 0u);
  u64 q = 0x60;
  EXPECT_EQ(l_->mmio_write(kBase + reg::kTpr, 8, &q), 0);
  EXPECT_EQ(r(reg::kTpr), 0u);
  u32 v = 0x70;
  EXPECT_EQ(l_->mmio_write(kBase + reg::kTpr + 4, 4, &v), 0);
  EXPECT_EQ(r(reg::kTpr), 0u);
  w(reg::kTpr, 0x70);
  EXPECT_EQ(r(reg::kTpr), 0x70u);
}

TEST_F(LapicTest, MmioHoleWhenDisabledOrX2apic) {
  enable();
  w(reg::kTpr, 0x30);
  ASSERT_EQ(l_->set_apic_base(kBase, false), 0);  // disabled
  EXPECT_FALSE(l_->hw_enabled());
  EXPECT_TRUE(l_->mmio_covers(kBase + reg::kVersion));
  u32 v = 0;
  EXPECT_EQ(l_->mmio_read(kBase + reg::kVersion, 4, &v), 0);
  EXPECT_EQ(v, 0xffffffffu);  // kvm-unit-tests' verify_disabled_apic_mmio
  v = 0;
  EXPECT_EQ(l_->mmio_write(kBase + reg::kTpr, 4, &v), 0);
  EXPECT_EQ(l_->cr8(), 3u);  // dropped
  EXPECT_EQ(l_->pending_vector(), -1);
  EXPECT_TRUE(l_->accepts_pic_intr());
  l_->set_mmio_hole_quirk(false);
  EXPECT_FALSE(l_->mmio_covers(kBase));
  EXPECT_EQ(l_->mmio_read(kBase, 4, &v), -EOPNOTSUPP);
  EXPECT_EQ(l_->mmio_write(kBase, 4, &v), -EOPNOTSUPP);
  ASSERT_EQ(l_->set_apic_base(kBase | Lapic::kBaseEnable, false), 0);
  to_x2apic();
  EXPECT_FALSE(l_->mmio_covers(kBase));
  l_->set_mmio_hole_quirk(true);
  EXPECT_TRUE(l_->mmio_covers(kBase));
  EXPECT_EQ(l_->mmio_read(kBase + reg::kId, 4, &v), 0);
  EXPECT_EQ(v, 0xffffffffu);
}

// ---- Registers ----

TEST_F(LapicTest, WritableBitsOfEachRegister) {
  enable();
  w(reg::kId, 0xffffffff);
  EXPECT_EQ(r(reg::kId), 0xff000000u);
  EXPECT_EQ(l_->id(), 0xffu);
  w(reg::kId, 0);
  w(reg::kVersion, 0);
  EXPECT_EQ(r(reg::kVersion), 0x50014u);  // read-only
  w(reg::kTpr, 0xffffffff);
  EXPECT_EQ(r(reg::kTpr), 0xffu);
  EXPECT_EQ(r(reg::kPpr), 0xffu);
  w(reg::kPpr, 0);
  EXPECT_EQ(r(reg::kPpr), 0xffu);  // read-only
  w(reg::kTpr, 0);
  w(reg::kApr, 0x50);
  EXPECT_EQ(r(reg::kApr), 0u);  // KVM: reads 0
  w(reg::kLdr, 0xffffffff);
  EXPECT_EQ(r(reg::kLdr), 0xff000000u);
  w(reg::kDfr, 0);
  EXPECT_EQ(r(reg::kDfr), 0x0fffffffu);
  w(reg::kDfr, 0x5000ffff);
  EXPECT_EQ(r(reg::kDfr), 0x5fffffffu);
  w(reg::kSvr, 0xffffffff);
  EXPECT_EQ(r(reg::kSvr), 0x3ffu);  // no EOI-broadcast suppression offered
  w(reg::kIcrHigh, 0xffffffff);
  EXPECT_EQ(r(reg::kIcrHigh), 0xff000000u);
  w(reg::kTimerDivide, 0xffffffff);
  EXPECT_EQ(r(reg::kTimerDivide), 0xbu);
  w(reg::kTimerCurrent, 5);
  EXPECT_EQ(r(reg::kTimerCurrent), 0u);  // read-only
  for (u32 off = reg::kIsr; off < reg::kIrr + 0x80; off += 16) {
    w(off, 0xffffffff);
    EXPECT_EQ(r(off), 0u) << std::hex << off;
  }
  // LVTs: delivery status and remote IRR are read-only; mode where there is one.
  w(reg::kLvtTimer, 0xffffffff);
  EXPECT_EQ(r(reg::kLvtTimer), 0x700ffu);
  w(reg::kLvtThermal, 0xffffffff);
  EXPECT_EQ(r(reg::kLvtThermal), 0x107ffu);
  w(reg::kLvtPerf, 0xffffffff);
  EXPECT_EQ(r(reg::kLvtPerf), 0x107ffu);
  w(reg::kLvtLint0, 0xffffffff);
  EXPECT_EQ(r(reg::kLvtLint0), 0x1a7ffu);
  w(reg::kLvtLint1, 0xffffffff);
  EXPECT_EQ(r(reg::kLvtLint1), 0x1a7ffu);
  w(reg::kLvtError, 0xffffffff);
  EXPECT_EQ(r(reg::kLvtError), 0x100ffu);
  w(reg::kLvtTimer, 0x40);
  EXPECT_EQ(r(reg::kLvtTimer), 0x40u);
}

TEST_F(LapicTest, TimerModeBitsFollowCpuid) {
  enable();
  auto l = std::make_unique<Lapic>(1, host_, bus_);
  ASSERT_EQ(l->init(), 0);
  l->reset(false);
  u32 v = 0x1ff;
  l->mmio_write(kBase + reg::kSvr, 4, &v);
  // Before KVM_SET_CPUID2: one-shot only (KVM's mask is 0).
  v = 0x60040;
  l->mmio_write(kBase + reg::kLvtTimer, 4, &v);
  EXPECT_EQ(l->reg(reg::kLvtTimer), 0x40u);
  l->set_tsc_deadline_supported(false);
  l->mmio_write(kBase + reg::kLvtTimer, 4, &v);
  EXPECT_EQ(l->reg(reg::kLvtTimer), 0x20040u);
  l->set_tsc_deadline_supported(true);
  l->mmio_write(kBase + reg::kLvtTimer, 4, &v);
  EXPECT_EQ(l->reg(reg::kLvtTimer), 0x60040u);
}

TEST_F(LapicTest, SoftwareDisableMasksAllLvts) {
  enable();
  for (u32 lvt : {reg::kLvtTimer, reg::kLvtThermal, reg::kLvtPerf, reg::kLvtLint0, reg::kLvtLint1, reg::kLvtError})
    w(lvt, 0x33);
  w(reg::kSvr, 0xff);
  EXPECT_FALSE(l_->sw_enabled());
  for (u32 lvt : {reg::kLvtTimer, reg::kLvtThermal, reg::kLvtPerf, reg::kLvtLint0, reg::kLvtLint1, reg::kLvtError}) {
    EXPECT_EQ(r(lvt), 0x10033u) << std::hex << lvt;
    w(lvt, 0x44);  // cannot be unmasked while disabled
    EXPECT_EQ(r(lvt), 0x10044u) << std::hex << lvt;
  }
  enable();
  w(reg::kLvtError, 0x44);
  EXPECT_EQ(r(reg::kLvtError), 0x44u);
}

TEST_F(LapicTest, Cr8IsTprHighNibble) {
  l_->set_cr8(0x1f);
  EXPECT_EQ(r(reg::kTpr), 0xf0u);
  EXPECT_EQ(l_->cr8(), 0xfu);
  enable();
  w(reg::kTpr, 0x5a);
  EXPECT_EQ(l_->cr8(), 5u);
  EXPECT_EQ(r(reg::kPpr), 0x5au);
}

// ---- Acceptance, priority, EOI (10.8) ----

TEST_F(LapicTest, FixedInterruptsNeedASoftwareEnabledApic) {
  EXPECT_EQ(l_->accept(fixed(0x40)), 0);
  EXPECT_FALSE(irr(0x40));
  enable();
  EXPECT_EQ(l_->accept(fixed(0x40)), 1);
  EXPECT_TRUE(irr(0x40));
  EXPECT_EQ(host_.kicks, 1);
  // Pending interrupts are held (and still delivered) when software-disabled.
  w(reg::kSvr, 0xff);
  EXPECT_EQ(l_->pending_vector(), 0x40);
  // Not when hardware-disabled.
  ASSERT_EQ(l_->set_apic_base(kBase, false), 0);
  EXPECT_EQ(l_->pending_vector(), -1);
  EXPECT_EQ(l_->accept(fixed(0x41)), 0);
}

TEST_F(LapicTest, PriorityClassesAgainstPpr) {
  enable();
  l_->accept(fixed(0x31));
  w(reg::kTpr, 0x40);
  EXPECT_EQ(l_->pending_vector(), -1);
  w(reg::kTpr, 0x30);
  EXPECT_EQ(l_->pending_vector(), -1);  // same class is blocked
  w(reg::kTpr, 0x2f);
  EXPECT_EQ(l_->pending_vector(), 0x31);
  w(reg::kTpr, 0);
  EXPECT_EQ(take(), 0x31);
  EXPECT_TRUE(isr(0x31));
  EXPECT_FALSE(irr(0x31));
  EXPECT_EQ(r(reg::kPpr), 0x30u);
  l_->accept(fixed(0x3f));
  EXPECT_EQ(l_->pending_vector(), -1);  // same class as in service
  l_->accept(fixed(0x45));
  EXPECT_EQ(take(), 0x45);
  EXPECT_EQ(r(reg::kPpr), 0x40u);
  w(reg::kTpr, 0x55);
  EXPECT_EQ(r(reg::kPpr), 0x55u);  // TPR above ISR: all of TPR
  w(reg::kTpr, 0);
  w(reg::kEoi, 0);
  EXPECT_FALSE(isr(0x45));
  EXPECT_EQ(r(reg::kPpr), 0x30u);
  EXPECT_EQ(l_->pending_vector(), -1);
  w(reg::kEoi, 0x12345);  // any value in xAPIC mode
  EXPECT_EQ(r(reg::kPpr), 0u);
  EXPECT_EQ(take(), 0x3f);
  w(reg::kEoi, 0);
  w(reg::kEoi, 0);  // EOI with nothing in service: nothing
  EXPECT_TRUE(host_.eois.empty());
}

TEST_F(LapicTest, LevelTriggeredEoiGoesToTheIoapic) {
  enable();
  EXPECT_EQ(l_->accept(fixed(0x60, true)), 1);
  EXPECT_TRUE(tmr(0x60));
  EXPECT_EQ(take(), 0x60);
  w(reg::kEoi, 0);
  ASSERT_EQ(host_.eois.size(), 1u);
  EXPECT_EQ(host_.eois[0], 0x60);
  // Edge: TMR cleared again by an edge message of the same vector.
  l_->accept(fixed(0x60, false));
  EXPECT_FALSE(tmr(0x60));
  take();
  w(reg::kEoi, 0);
  EXPECT_EQ(host_.eois.size(), 1u);
  // A level-triggered de-assert is not an interrupt.
  ApicMessage m = fixed(0x61, true);
  m.level_assert = false;
  EXPECT_EQ(l_->accept(m), 0);
  EXPECT_FALSE(irr(0x61));
}

TEST_F(LapicTest, OtherDeliveryModes) {
  // NMI, INIT and SIPI reach a software-disabled APIC (10.4.7.2).
  EXPECT_EQ(l_->accept(msg(Delivery::kNmi)), 1);
  EXPECT_EQ(host_.nmis, 1);
  EXPECT_FALSE(l_->has_init_or_sipi());
  EXPECT_EQ(l_->accept(msg(Delivery::kStartup, 0x9a)), 1);
  EXPECT_TRUE(l_->has_init_or_sipi());
  EXPECT_EQ(l_->accept(msg(Delivery::kInit)), 1);  // INIT drops the earlier SIPI
  u8 v = 0;
  EXPECT_FALSE(l_->take_sipi(&v));
  EXPECT_TRUE(l_->take_init());
  EXPECT_FALSE(l_->take_init());
  EXPECT_EQ(l_->accept(msg(Delivery::kStartup, 0x9b)), 1);
  EXPECT_TRUE(l_->take_sipi(&v));
  EXPECT_EQ(v, 0x9b);
  EXPECT_FALSE(l_->has_init_or_sipi());
  ApicMessage deassert = msg(Delivery::kInit);
  deassert.level_triggered = true;
  deassert.level_assert = false;
  EXPECT_EQ(l_->accept(deassert), 0);
  EXPECT_FALSE(l_->take_init());
  EXPECT_EQ(l_->accept(msg(Delivery::kSmi)), 0);
  EXPECT_EQ(l_->accept(msg(Delivery::kExtInt, 0x30)), 0);
  EXPECT_EQ(l_->accept(msg(static_cast<Delivery>(3), 0x30)), 0);
  enable();
  EXPECT_EQ(l_->accept(msg(Delivery::kLowestPriority, 0x70)), 1);
  EXPECT_TRUE(irr(0x70));
  EXPECT_EQ(host_.kicks, 4);
}

TEST_F(LapicTest, ArbitrationPriority) {
  enable();
  EXPECT_EQ(l_->priority_for_arbitration(), 0u);
  w(reg::kTpr, 0x35);
  EXPECT_EQ(l_->priority_for_arbitration(), 0x35u);  // TPR wins
  l_->accept(fixed(0x52));
  EXPECT_EQ(l_->priority_for_arbitration(), 0x50u);  // pending above TPR
  take();
  EXPECT_EQ(l_->priority_for_arbitration(), 0x50u);  // in service
  w(reg::kTpr, 0x57);
  EXPECT_EQ(l_->priority_for_arbitration(), 0x50u);  // TPR class not above ISR
  w(reg::kTpr, 0x67);
  EXPECT_EQ(l_->priority_for_arbitration(), 0x67u);
}

TEST_F(LapicTest, AcceptsPicIntr) {
  auto ap = make(1, false);
  EXPECT_FALSE(ap->accepts_pic_intr());
  u32 v = 0x1ff;
  ap->mmio_write(kBase + reg::kSvr, 4, &v);
  v = 0x700;
  ap->mmio_write(kBase + reg::kLvtLint0, 4, &v);
  EXPECT_TRUE(ap->accepts_pic_intr());
  v = 0x000;
  ap->mmio_write(kBase + reg::kLvtLint0, 4, &v);
  EXPECT_FALSE(ap->accepts_pic_intr());
  v = 0x10700;
  ap->mmio_write(kBase + reg::kLvtLint0, 4, &v);
  EXPECT_FALSE(ap->accepts_pic_intr());
  ASSERT_EQ(ap->set_apic_base(kBase, true), 0);
  EXPECT_TRUE(ap->accepts_pic_intr());
}

// ---- ESR (10.5.3) ----

TEST_F(LapicTest, IllegalVectorsAndTheErrorStatusRegister) {
  enable();
  EXPECT_EQ(l_->accept(fixed(5)), 0);
  EXPECT_FALSE(irr(5));
  EXPECT_EQ(r(reg::kEsr), 0u);  // not until written
  w(reg::kEsr, 0);
  EXPECT_EQ(r(reg::kEsr), 0x40u);  // received illegal vector
  w(reg::kEsr, 0);
  EXPECT_EQ(r(reg::kEsr), 0u);
  // Sending one: not sent, send illegal vector; the error LVT interrupts.
  w(reg::kLvtError, 0xfe);
  w(reg::kIcrLow, 0x4000 | 0x0f);
  EXPECT_TRUE(bus_.sent.empty());
  EXPECT_TRUE(irr(0xfe));
  w(reg::kEsr, 0);
  EXPECT_EQ(r(reg::kEsr), 0x20u);
  // NMI/INIT/SIPI carry no vector to check.
  w(reg::kIcrLow, 0x4400);
  EXPECT_EQ(bus_.sent.size(), 1u);
  // An illegal error vector is an error, not a loop.
  w(reg::kLvtError, 0x03);
  l_->accept(fixed(1));
  w(reg::kEsr, 0);
  EXPECT_EQ(r(reg::kEsr), 0x40u);
  // A timer LVT with an illegal vector raises the receive error.
  w(reg::kLvtError, 0x10000);
  w(reg::kTimerDivide, 0xb);
  w(reg::kLvtTimer, 0x02);
  w(reg::kTimerInitial, 10);
  mk::user::advance_time(10);
  w(reg::kEsr, 0);
  EXPECT_EQ(r(reg::kEsr), 0x40u);
  EXPECT_FALSE(irr(2));
}

// ---- IPIs (10.6) ----

TEST_F(LapicTest, IcrSendsMessages) {
  enable();
  w(reg::kIcrHigh, 0x5a000000);
  w(reg::kIcrLow, 0xcc931);  // all-excl. shorthand, level, assert, logical, lowest, 0x31
  ASSERT_EQ(bus_.sent.size(), 1u);
  ApicMessage m = bus_.sent[0];
  EXPECT_EQ(m.vector, 0x31);
  EXPECT_EQ(m.delivery, Delivery::kLowestPriority);
  EXPECT_TRUE(m.logical);
  EXPECT_TRUE(m.level_assert);
  EXPECT_TRUE(m.level_triggered);
  EXPECT_EQ(m.shorthand, Shorthand::kAllExcludingSelf);
  EXPECT_EQ(m.dest, 0x5au);
  EXPECT_FALSE(m.redirection_hint);
  w(reg::kIcrLow, 0x1000 | 0x500);  // INIT, busy bit set by the guest
  EXPECT_EQ(r(reg::kIcrLow), 0x500u);  // delivered at once: never busy
  EXPECT_EQ(bus_.sent[1].delivery, Delivery::kInit);
  EXPECT_FALSE(bus_.sent[1].level_assert);
  EXPECT_FALSE(bus_.sent[1].logical);
  for (u32 mode = 0; mode < 8; mode++) {
    w(reg::kIcrLow, (mode << 8) | 0x4040);
    EXPECT_EQ(static_cast<u32>(bus_.sent.back().delivery), mode);
  }
  // Self shorthand comes back to this APIC.
  w(reg::kIcrLow, 0x40000 | 0x4077);
  EXPECT_TRUE(irr(0x77));
}

// ---- Destinations (10.6.2) ----

TEST_F(LapicTest, PhysicalAndLogicalDestinations) {
  enable();
  auto other = make(9, false);
  w(reg::kId, 0x04000000);
  ApicMessage m = fixed(0x40);
  m.dest = 4;
  EXPECT_TRUE(l_->matches(m, nullptr));
  m.dest = 0;
  EXPECT_FALSE(l_->matches(m, nullptr));
  m.dest = 0xff;
  EXPECT_TRUE(l_->matches(m, nullptr));
  EXPECT_TRUE(l_->matches(m, other.get()));
  // Hotplug quirk: a destination that needs more than 8 bits is the x2APIC ID.
  m.dest = 0x100;
  EXPECT_FALSE(l_->matches(m, nullptr));
  auto big = make(0x104, false);
  EXPECT_TRUE(big->matches(m, nullptr) == false);
  m.dest = 0x104;
  EXPECT_TRUE(big->matches(m, nullptr));
  EXPECT_FALSE(l_->matches(m, nullptr));  // no aliasing onto ID 4 (KVM)

  // Flat logical: any common bit.
  m.logical = true;
  w(reg::kLdr, 0x24000000);
  m.dest = 0x04;
  EXPECT_TRUE(l_->matches(m, nullptr));
  m.dest = 0x81;
  EXPECT_FALSE(l_->matches(m, nullptr));
  m.dest = 0xff;
  EXPECT_TRUE(l_->matches(m, nullptr));
  // Cluster: cluster 2, member bit.
  w(reg::kDfr, 0x0fffffff);
  m.dest = 0x24;
  EXPECT_TRUE(l_->matches(m, nullptr));
  m.dest = 0x2b;
  EXPECT_FALSE(l_->matches(m, nullptr));
  m.dest = 0x14;
  EXPECT_FALSE(l_->matches(m, nullptr));
  m.dest = 0x2f;
  EXPECT_TRUE(l_->matches(m, nullptr));
  // A model that is neither: nothing matches but broadcast.
  w(reg::kDfr, 0x50000000);
  m.dest = 0x24;
  EXPECT_FALSE(l_->matches(m, nullptr));
  m.dest = 0xff;
  EXPECT_TRUE(l_->matches(m, nullptr));
  // A zero LDR matches no logical destination.
  w(reg::kDfr, 0xffffffff);
  w(reg::kLdr, 0);
  m.dest = 0xfe;
  EXPECT_FALSE(l_->matches(m, nullptr));
}

TEST_F(LapicTest, Shorthands) {
  auto other = make(1, false);
  ApicMessage m = fixed(0x40);
  m.dest = 0x77;  // ignored with a shorthand
  m.shorthand = Shorthand::kSelf;
  EXPECT_TRUE(l_->matches(m, l_.get()));
  EXPECT_FALSE(l_->matches(m, other.get()));
  EXPECT_FALSE(l_->matches(m, nullptr));
  m.shorthand = Shorthand::kAllIncludingSelf;
  EXPECT_TRUE(l_->matches(m, l_.get()));
  EXPECT_TRUE(l_->matches(m, other.get()));
  m.shorthand = Shorthand::kAllExcludingSelf;
  EXPECT_FALSE(l_->matches(m, l_.get()));
  EXPECT_TRUE(l_->matches(m, other.get()));
  // A hardware-disabled APIC is on no bus.
  ASSERT_EQ(l_->set_apic_base(kBase, false), 0);
  EXPECT_FALSE(l_->matches(m, other.get()));
  m.shorthand = Shorthand::kNone;
  m.dest = 0xff;
  EXPECT_FALSE(l_->matches(m, nullptr));
}

TEST_F(LapicTest, X2apicDestinations) {
  auto a = make(0x35, false);
  ASSERT_EQ(a->set_apic_base(kBase | Lapic::kBaseEnable | Lapic::kBaseExtd, false), 0);
  EXPECT_EQ(a->id(), 0x35u);
  ApicMessage m = fixed(0x40);
  m.dest = 0x35;
  EXPECT_TRUE(a->matches(m, nullptr));
  m.dest = 0x36;
  EXPECT_FALSE(a->matches(m, nullptr));
  m.dest = 0xffffffff;
  EXPECT_TRUE(a->matches(m, a.get()));
  // Broadcast quirk: 0xff from the IOAPIC/MSI is a broadcast, from a CPU it is ID 0xff.
  m.dest = 0xff;
  EXPECT_TRUE(a->matches(m, nullptr));
  EXPECT_FALSE(a->matches(m, l_.get()));
  // Logical: cluster 3 (0x35 >> 4), bit 5.
  m.logical = true;
  m.dest = (3u << 16) | (1u << 5);
  EXPECT_TRUE(a->matches(m, nullptr));
  m.dest = (3u << 16) | (1u << 4);
  EXPECT_FALSE(a->matches(m, nullptr));
  m.dest = (2u << 16) | 0xffff;
  EXPECT_FALSE(a->matches(m, nullptr));
  m.dest = (3u << 16) | 0xffff;
  EXPECT_TRUE(a->matches(m, nullptr));
}

// ---- IA32_APIC_BASE (10.4.4, 10.12.5) ----

TEST_F(LapicTest, ApicBaseReservedBitsAndTransitions) {
  const u64 en = Lapic::kBaseEnable, extd = Lapic::kBaseExtd, bsp = Lapic::kBaseBsp;
  for (u64 bit = 0; bit < 8; bit++)
    EXPECT_EQ(l_->set_apic_base(kBase | en | (1ull << bit), false), 1) << bit;
  EXPECT_EQ(l_->set_apic_base(kBase | en | (1ull << 9), true), 1);
  EXPECT_EQ(l_->set_apic_base(kBase | en | (1ull << 36), true), 1);  // MAXPHYADDR 36
  l_->set_maxphyaddr(40);
  EXPECT_EQ(l_->set_apic_base((1ull << 36) | en, false), 0);
  EXPECT_EQ(l_->apic_base(), (1ull << 36) | en);
  EXPECT_EQ(l_->set_apic_base(kBase | extd, true), 1);  // EXTD alone: invalid
  l_->set_x2apic_supported(false);
  EXPECT_EQ(l_->set_apic_base(kBase | en | extd, true), 1);
  l_->set_x2apic_supported(true);
  // xAPIC -> x2APIC: ID and LDR from the vCPU id (10.12.5.1).
  EXPECT_EQ(l_->set_apic_base(kBase | en | extd | bsp, false), 0);
  EXPECT_TRUE(l_->x2apic_mode());
  EXPECT_EQ(l_->reg(reg::kId), 0u);
  EXPECT_EQ(l_->reg(reg::kLdr), 1u);
  // x2APIC -> xAPIC: #GP for the guest, fine for the host.
  EXPECT_EQ(l_->set_apic_base(kBase | en, false), 1);
  EXPECT_TRUE(l_->x2apic_mode());
  EXPECT_EQ(l_->set_apic_base(kBase, false), 0);  // -> disabled
  EXPECT_EQ(l_->set_apic_base(kBase | en | extd, false), 1);  // disabled -> x2APIC
  EXPECT_EQ(l_->set_apic_base(kBase | en | extd, true), 0);
  EXPECT_TRUE(l_->x2apic_mode());
  EXPECT_EQ(l_->set_apic_base(kBase | en, true), 0);
  EXPECT_FALSE(l_->x2apic_mode());
  // Re-enabling gives the xAPIC ID its reset value.
  u32 v = 0x1ff;
  l_->mmio_write(kBase + reg::kSvr, 4, &v);
  w(reg::kId, 0x0a000000);
  EXPECT_EQ(l_->set_apic_base(kBase, false), 0);
  EXPECT_EQ(l_->set_apic_base(kBase | en, false), 0);
  EXPECT_EQ(l_->reg(reg::kId), 0u);
  EXPECT_EQ(l_->reg(reg::kSvr), 0x1ffu);  // nothing else is reset (as KVM)
}

TEST_F(LapicTest, RelocatedPage) {
  ASSERT_EQ(l_->set_apic_base(0xfec00000 | Lapic::kBaseEnable, false), 0);
  EXPECT_FALSE(l_->mmio_covers(kBase));
  EXPECT_TRUE(l_->mmio_covers(0xfec00000 + reg::kVersion));
  u32 v = 0;
  EXPECT_EQ(l_->mmio_read(0xfec00000 + reg::kVersion, 4, &v), 0);
  EXPECT_EQ(v, 0x50014u);
}

// ---- x2APIC MSRs (10.12.1.2) ----

TEST_F(LapicTest, X2apicMsrsOnlyInX2apicMode) {
  u64 v;
  EXPECT_EQ(l_->read_msr(0x802, &v), 1);
  EXPECT_EQ(l_->write_msr(0x808, 0), 1);
  EXPECT_EQ(l_->write_msr(0x830, 0), 1);
  EXPECT_EQ(l_->read_msr(0x7ff, &v), 1);
  EXPECT_EQ(l_->read_msr(0x900, &v), 1);
  EXPECT_EQ(l_->write_msr(0x900, 0), 1);
  EXPECT_TRUE(Lapic::is_lapic_msr(0x800));
  EXPECT_TRUE(Lapic::is_lapic_msr(0x8ff));
  EXPECT_TRUE(Lapic::is_lapic_msr(0x6e0));
  EXPECT_FALSE(Lapic::is_lapic_msr(0x1b));
  EXPECT_FALSE(Lapic::is_lapic_msr(0x900));
}

TEST_F(LapicTest, X2apicRegisterRules) {
  auto a = make(0x12, false);
  ASSERT_EQ(a->set_apic_base(kBase | Lapic::kBaseEnable | Lapic::kBaseExtd, false), 0);
  auto rd = [&](u32 m) {
    u64 v = 0xdeadbeef;
    EXPECT_EQ(a->read_msr(m, &v), 0) << std::hex << m;
    return v;
  };
  EXPECT_EQ(rd(0x802), 0x12u);
  EXPECT_EQ(rd(0x803), 0x50014u);
  EXPECT_EQ(rd(0x80d), (1u << 16) | (1u << 2));
  u64 v;
  // Not readable: DFR, ARBPRI, EOI, RRD, ICR2, SELF IPI, reserved.
  for (u32 m : {0x80eu, 0x809u, 0x80bu, 0x80cu, 0x831u, 0x83fu, 0x800u, 0x801u, 0x804u, 0x829u, 0x8ffu})
    EXPECT_EQ(a->read_msr(m, &v), 1) << std::hex << m;
  // Read-only or missing in x2APIC: #GP on write.
  for (u32 m : {0x802u, 0x803u, 0x80au, 0x80du, 0x80eu, 0x810u, 0x818u, 0x820u, 0x831u, 0x839u, 0x800u, 0x8ffu})
    EXPECT_EQ(a->write_msr(m, 0), 1) << std::hex << m;
  EXPECT_EQ(a->write_msr(0x80f, 0x1ff), 0);
  EXPECT_EQ(rd(0x80f), 0x1ffu);
  EXPECT_EQ(a->write_msr(0x808, 1ull << 32), 1);  // bits 63:32 reserved
  EXPECT_EQ(a->write_msr(0x808, 0x20), 0);
  EXPECT_EQ(rd(0x808), 0x20u);
  EXPECT_EQ(rd(0x80a), 0x20u);
  EXPECT_EQ(a->cr8(), 2u);
  EXPECT_EQ(a->write_msr(0x828, 1), 1);  // ESR: only 0
  EXPECT_EQ(a->write_msr(0x828, 0), 0);
  EXPECT_EQ(a->write_msr(0x80b, 1), 1);  // EOI: only 0
  EXPECT_EQ(a->write_msr(0x80b, 0), 0);
  EXPECT_EQ(a->write_msr(0x83e, 0xa), 0);
  EXPECT_EQ(rd(0x83e), 0xau);
  EXPECT_EQ(a->write_msr(0x832, 0x20040), 0);
  EXPECT_EQ(rd(0x832), 0x20040u);
  EXPECT_EQ(a->write_msr(0x835, 0x700), 0);
  EXPECT_EQ(rd(0x835), 0x700u);
  EXPECT_EQ(a->write_msr(0x838, 5000), 0);
  EXPECT_EQ(rd(0x838), 5000u);
  EXPECT_EQ(rd(0x839), 5000u);
  EXPECT_EQ(a->write_msr(0x838, 0), 0);
  EXPECT_EQ(rd(0x839), 0u);
  for (u32 i = 0; i < 8; i++) {
    EXPECT_EQ(rd(0x810 + i), 0u);
    EXPECT_EQ(rd(0x818 + i), 0u);
    EXPECT_EQ(rd(0x820 + i), 0u);
  }
}

TEST_F(LapicTest, X2apicIcrAndSelfIpi) {
  enable();
  to_x2apic();
  EXPECT_EQ(l_->write_msr(0x830, (0x12345678ull << 32) | 0x4000 | 0x1000 | 0x0840), 0);
  ASSERT_EQ(bus_.sent.size(), 1u);
  EXPECT_EQ(bus_.sent[0].dest, 0x12345678u);
  EXPECT_TRUE(bus_.sent[0].logical);
  EXPECT_EQ(bus_.sent[0].vector, 0x40);
  EXPECT_EQ(rdmsr(0x830), (0x12345678ull << 32) | 0x4840);  // busy cleared
  for (u64 bad : {1ull << 13, 1ull << 16, 1ull << 17, 1ull << 20, 1ull << 31})
    EXPECT_EQ(l_->write_msr(0x830, 0x4040 | bad), 1) << std::hex << bad;
  EXPECT_EQ(bus_.sent.size(), 1u);
  // SELF IPI: vector only, fixed, edge, to this APIC.
  EXPECT_EQ(l_->write_msr(0x83f, 0x100 | 0x50), 1);
  EXPECT_EQ(l_->write_msr(0x83f, 1ull << 32), 1);
  EXPECT_EQ(l_->write_msr(0x83f, 0x50), 0);
  EXPECT_TRUE(irr(0x50));
  EXPECT_EQ(bus_.sent.back().shorthand, Shorthand::kSelf);
  EXPECT_EQ(l_->write_msr(0x83f, 0x05), 0);  // illegal: send error, not sent
  EXPECT_FALSE(irr(0x05));
  EXPECT_EQ(l_->write_msr(0x828, 0), 0);
  EXPECT_EQ(rdmsr(0x828), 0x20u);
  // No SELF IPI register in xAPIC mode.
  ASSERT_EQ(l_->set_apic_base(kBase | Lapic::kBaseEnable, true), 0);
  w(reg::kSelfIpi, 0x51);
  EXPECT_FALSE(irr(0x51));
}

// ---- Timer (10.5.4) ----

class LapicTimerTest : public LapicTest {
 protected:
  void SetUp() override {
    LapicTest::SetUp();
    enable();
    w(reg::kTimerDivide, 0xb);  // divide by 1: 1 count = 1 ns
  }
};

TEST_F(LapicTimerTest, OneShot) {
  w(reg::kLvtTimer, 0x40);
  w(reg::kTimerInitial, 1000);
  EXPECT_EQ(r(reg::kTimerCurrent), 1000u);
  mk::user::advance_time(999);
  EXPECT_EQ(r(reg::kTimerCurrent), 1u);
  EXPECT_FALSE(irr(0x40));
  int kicks = host_.kicks;
  mk::user::advance_time(1);
  EXPECT_TRUE(irr(0x40));
  EXPECT_EQ(host_.kicks, kicks + 1);
  EXPECT_EQ(r(reg::kTimerCurrent), 0u);
  EXPECT_EQ(r(reg::kTimerInitial), 1000u);
  EXPECT_EQ(mk::user::armed_timers(), 0);
  mk::user::advance_time(1'000'000);
  EXPECT_EQ(host_.kicks, kicks + 1);
  // Rewriting the initial count restarts it; 0 stops it.
  w(reg::kTimerInitial, 500);
  w(reg::kTimerInitial, 0);
  EXPECT_EQ(mk::user::armed_timers(), 0);
  EXPECT_EQ(r(reg::kTimerCurrent), 0u);
}

TEST_F(LapicTimerTest, TheVcpuDeliversWhatTheHrtimerCounted) {
  host_.deliver_timer_on_kick = false;  // the vCPU does not run until told
  w(reg::kLvtTimer, 0x20045);  // periodic, vector 0x45
  w(reg::kTimerInitial, 1'000'000);  // 1 ms (above the periodic minimum)
  int kicks = host_.kicks;
  mk::user::advance_time(1'000'000);
  // The hrtimer (interrupt context) counts the expiry and kicks; the LAPIC
  // registers are the vCPU's to change.
  EXPECT_TRUE(l_->timer_pending());
  EXPECT_FALSE(irr(0x45));
  EXPECT_EQ(host_.kicks, kicks + 1);
  // More periods before the vCPU runs: one interrupt, as KVM's pending count.
  mk::user::advance_time(2'500'000);
  EXPECT_EQ(host_.kicks, kicks + 3);
  l_->inject_pending_timer();
  EXPECT_FALSE(l_->timer_pending());
  EXPECT_TRUE(irr(0x45));
  EXPECT_EQ(take(), 0x45);
  l_->inject_pending_timer();  // nothing left
  EXPECT_FALSE(irr(0x45));
  // A masked LVT takes the expiry without an interrupt.
  mk::user::advance_time(500'000);
  EXPECT_TRUE(l_->timer_pending());
  w(reg::kLvtTimer, 0x30045);
  l_->inject_pending_timer();
  EXPECT_FALSE(l_->timer_pending());
  EXPECT_FALSE(irr(0x45));
  // An initial-count write, INIT and KVM_SET_LAPIC drop an expiry not yet
  // delivered (KVM's cancel_apic_timer and kvm_lapic_reset).
  w(reg::kLvtTimer, 0x20045);
  mk::user::advance_time(1'000'000);
  ASSERT_TRUE(l_->timer_pending());
  w(reg::kTimerInitial, 1'000'000);
  EXPECT_FALSE(l_->timer_pending());
  mk::user::advance_time(1'000'000);
  ASSERT_TRUE(l_->timer_pending());
  kvm_lapic_state st;
  l_->get_state(&st);
  EXPECT_EQ(l_->set_state(st), 0);
  EXPECT_FALSE(l_->timer_pending());
  mk::user::advance_time(1'000'000);
  ASSERT_TRUE(l_->timer_pending());
  l_->init_signal();
  EXPECT_FALSE(l_->timer_pending());
  l_->inject_pending_timer();
  EXPECT_FALSE(irr(0x45));
}

TEST_F(LapicTimerTest, DivideConfiguration) {
  // Figure 10-10: bits 3,1:0 -> 2, 4, 8, 16, 32, 64, 128, 1.
  const u32 divisors[8] = {2, 4, 8, 16, 32, 64, 128, 1};
  w(reg::kLvtTimer, 0x10040);
  for (u32 code = 0; code < 8; code++) {
    u32 dcr = (code & 3) | ((code & 4) << 1);
    w(reg::kTimerDivide, dcr | 0x4);  // bit 2 is reserved
    EXPECT_EQ(r(reg::kTimerDivide), dcr);
    w(reg::kTimerInitial, 100);
    EXPECT_EQ(mk::user::next_timer_expiry(), mk::user::now_ns() + 100ull * divisors[code]) << code;
    mk::user::advance_time(50ull * divisors[code]);
    EXPECT_EQ(r(reg::kTimerCurrent), 50u) << code;
    mk::user::advance_time(50ull * divisors[code]);
  }
}

TEST_F(LapicTimerTest, PeriodicAndItsMinimum) {
  w(reg::kLvtTimer, 0x20041);
  w(reg::kTimerInitial, 1'000'000);
  int kicks = host_.kicks;
  mk::user::advance_time(999'999);
  EXPECT_FALSE(irr(0x41));
  mk::user::advance_time(1);
  EXPECT_TRUE(irr(0x41));
  take();
  w(reg::kEoi, 0);
  mk::user::advance_time(250'000);
  EXPECT_EQ(r(reg::kTimerCurrent), 750'000u);  // reloaded
  mk::user::advance_time(4'750'000);
  EXPECT_EQ(host_.kicks, kicks + 6);
  EXPECT_EQ(r(reg::kTimerCurrent), 1'000'000u);
  // Too fast a period is slowed to 200 us (KVM's min_timer_period_us).
  w(reg::kTimerInitial, 10);
  kicks = host_.kicks;
  mk::user::advance_time(1'000'000);
  EXPECT_EQ(host_.kicks, kicks + 5);
  EXPECT_LE(r(reg::kTimerCurrent), 10u);
  // One-shot from periodic: the running period ends it.
  w(reg::kLvtTimer, 0x41);
  kicks = host_.kicks;
  mk::user::advance_time(1'000'000);
  EXPECT_EQ(host_.kicks, kicks + 1);
  EXPECT_EQ(mk::user::armed_timers(), 0);
}

TEST_F(LapicTimerTest, MaskedTimerRunsWithoutInterrupts) {
  w(reg::kLvtTimer, 0x10042);
  w(reg::kTimerInitial, 100);
  mk::user::advance_time(100);
  EXPECT_FALSE(irr(0x42));
  EXPECT_EQ(r(reg::kTimerCurrent), 0u);
  // Periodic, masked, then unmasked: interrupts resume.
  w(reg::kLvtTimer, 0x30042);
  w(reg::kTimerInitial, 300'000);
  mk::user::advance_time(300'000);
  EXPECT_FALSE(irr(0x42));
  w(reg::kLvtTimer, 0x20042);
  mk::user::advance_time(300'000);
  EXPECT_TRUE(irr(0x42));
  // Software-disable masks it.
  take();
  w(reg::kEoi, 0);
  w(reg::kSvr, 0xff);
  mk::user::advance_time(600'000);
  EXPECT_FALSE(irr(0x42));
}

TEST_F(LapicTimerTest, NewDivisorStretchesTheRunningCount) {
  w(reg::kLvtTimer, 0x43);
  w(reg::kTimerInitial, 1000);
  mk::user::advance_time(400);  // 600 ns (counts) left
  w(reg::kTimerDivide, 0x1);   // divide by 4
  EXPECT_EQ(mk::user::next_timer_expiry(), mk::user::now_ns() + 2400);
  EXPECT_EQ(r(reg::kTimerCurrent), 600u);
  mk::user::advance_time(2399);
  EXPECT_FALSE(irr(0x43));
  mk::user::advance_time(1);
  EXPECT_TRUE(irr(0x43));
  // Same divisor: nothing changes.
  w(reg::kTimerInitial, 1000);
  u64 exp = mk::user::next_timer_expiry();
  w(reg::kTimerDivide, 0x1);
  EXPECT_EQ(mk::user::next_timer_expiry(), exp);
}

TEST_F(LapicTimerTest, TscDeadline) {
  u64 v = 1;
  EXPECT_EQ(l_->read_msr(0x6e0, &v), 0);
  EXPECT_EQ(v, 0u);
  EXPECT_EQ(l_->write_msr(0x6e0, mk_rdtsc() + 100), 0);  // not in TSC-deadline mode: ignored
  EXPECT_EQ(mk::user::armed_timers(), 0);
  w(reg::kTimerInitial, 5000);
  w(reg::kLvtTimer, 0x40044);
  EXPECT_EQ(r(reg::kTimerInitial), 0u);  // entering the mode clears the count
  EXPECT_EQ(mk::user::armed_timers(), 0);
  w(reg::kTimerInitial, 5000);  // ignored in this mode
  EXPECT_EQ(r(reg::kTimerInitial), 0u);
  host_.tsc_offset = 12345;
  u64 deadline = mk_rdtsc() + host_.tsc_offset + 2001;  // 2 GHz: 1000.5 ns
  EXPECT_EQ(l_->write_msr(0x6e0, deadline), 0);
  EXPECT_EQ(l_->read_msr(0x6e0, &v), 0);
  EXPECT_EQ(v, deadline);
  EXPECT_EQ(r(reg::kTimerCurrent), 0u);
  mk::user::advance_time(1000);
  EXPECT_FALSE(irr(0x44));  // rounded up: never before the deadline
  mk::user::advance_time(1);
  EXPECT_TRUE(irr(0x44));
  EXPECT_GE(mk_rdtsc() + host_.tsc_offset, deadline);
  EXPECT_EQ(l_->read_msr(0x6e0, &v), 0);
  EXPECT_EQ(v, 0u);  // fired
  take();
  w(reg::kEoi, 0);
  // A deadline already passed fires at once; 0 disarms.
  EXPECT_EQ(l_->write_msr(0x6e0, 1), 0);
  EXPECT_TRUE(irr(0x44));
  take();
  w(reg::kEoi, 0);
  EXPECT_EQ(l_->write_msr(0x6e0, mk_rdtsc() + host_.tsc_offset + 1000), 0);
  EXPECT_EQ(mk::user::armed_timers(), 1);
  EXPECT_EQ(l_->write_msr(0x6e0, 0), 0);
  EXPECT_EQ(mk::user::armed_timers(), 0);
  // Leaving the mode stops it and forgets the deadline.
  EXPECT_EQ(l_->write_msr(0x6e0, mk_rdtsc() + host_.tsc_offset + 1000), 0);
  w(reg::kLvtTimer, 0x44);
  EXPECT_EQ(mk::user::armed_timers(), 0);
  w(reg::kLvtTimer, 0x40044);
  EXPECT_EQ(l_->read_msr(0x6e0, &v), 0);
  EXPECT_EQ(v, 0u);
  // Far deadlines neither overflow nor fire early.
  EXPECT_EQ(l_->write_msr(0x6e0, ~0ull), 0);
  EXPECT_GT(mk::user::next_timer_expiry(), 1ull << 62);
  mk::user::advance_time(1'000'000'000);
  EXPECT_FALSE(irr(0x44));
  EXPECT_EQ(l_->write_msr(0x6e0, 0), 0);
  // A hardware-disabled APIC has no deadline timer.
  ASSERT_EQ(l_->set_apic_base(kBase, false), 0);
  EXPECT_EQ(l_->write_msr(0x6e0, mk_rdtsc() + 10), 0);
  EXPECT_EQ(mk::user::armed_timers(), 0);
}

TEST_F(LapicTimerTest, ReservedModeRunsNothing) {
  w(reg::kLvtTimer, 0x60045);
  w(reg::kTimerInitial, 100);
  EXPECT_EQ(mk::user::armed_timers(), 0);
  EXPECT_EQ(r(reg::kTimerCurrent), 0u);
}

// ---- KVM_GET_LAPIC / KVM_SET_LAPIC ----

TEST_F(LapicTest, StateRoundTripWithRunningTimer) {
  enable();
  w(reg::kId, 0x05000000);
  w(reg::kLdr, 0x08000000);
  w(reg::kDfr, 0x0fffffff);
  w(reg::kTpr, 0x10);
  w(reg::kLvtLint1, 0x400);
  w(reg::kLvtError, 0xef);
  w(reg::kIcrHigh, 0x03000000);
  w(reg::kIcrLow, 0x4030);
  l_->accept(fixed(0x90, true));
  take();
  l_->accept(fixed(0x33));
  w(reg::kTimerDivide, 0x3);  // 16
  w(reg::kLvtTimer, 0x20046);
  w(reg::kTimerInitial, 100'000);
  mk::user::advance_time(16 * 30'000);
  kvm_lapic_state s;
  l_->get_state(&s);
  u32 cur;
  std::memcpy(&cur, s.regs + reg::kTimerCurrent, 4);
  EXPECT_EQ(cur, 70'000u);

  auto b = make(0, true);
  EXPECT_EQ(b->set_state(s), 0);
  kvm_lapic_state t;
  b->get_state(&t);
  EXPECT_EQ(std::memcmp(s.regs, t.regs, sizeof(s.regs)), 0);
  EXPECT_EQ(b->reg(reg::kTimerCurrent), 0u);  // the count lives in the timer, not the page
  EXPECT_EQ(b->id(), 5u);
  EXPECT_EQ(b->priority_for_arbitration(), 0x90u);
  EXPECT_EQ(b->pending_vector(), -1);  // 0x33 is below the in-service 0x90
  // The restored timer fires when the old one would have, then periodically.
  l_.reset();
  host_.lapic = b.get();
  mk::user::advance_time(16 * 70'000 - 1);
  EXPECT_FALSE((b->reg(reg::kIrr + 0x20) >> 6) & 1);
  mk::user::advance_time(1);
  EXPECT_TRUE((b->reg(reg::kIrr + 0x20) >> 6) & 1);
  mk::user::advance_time(16 * 50'000);
  b->get_state(&t);
  std::memcpy(&cur, t.regs + reg::kTimerCurrent, 4);
  EXPECT_EQ(cur, 50'000u);
  // EOI of the level vector still reaches the IOAPIC after restore.
  u32 z = 0;
  b->mmio_write(kBase + reg::kEoi, 4, &z);
  ASSERT_EQ(host_.eois.size(), 1u);
  EXPECT_EQ(host_.eois[0], 0x90);
  host_.lapic = nullptr;
  b.reset();
  l_ = make(0, true);
}

TEST_F(LapicTest, StateRestoresVersionAndExpiredOneShot) {
  kvm_lapic_state s;
  l_->get_state(&s);
  u32 v = 0x12345678;
  std::memcpy(s.regs + reg::kVersion, &v, 4);
  v = 0x1ff;
  std::memcpy(s.regs + reg::kSvr, &v, 4);
  v = 0x47;  // one-shot
  std::memcpy(s.regs + reg::kLvtTimer, &v, 4);
  v = 1000;
  std::memcpy(s.regs + reg::kTimerInitial, &v, 4);
  v = 0;  // current count 0: KVM fires it at once
  std::memcpy(s.regs + reg::kTimerCurrent, &v, 4);
  v = 0xb;
  std::memcpy(s.regs + reg::kTimerDivide, &v, 4);
  EXPECT_EQ(l_->set_state(s), 0);
  EXPECT_EQ(r(reg::kVersion), 0x50014u);
  mk::user::advance_time(0);
  EXPECT_TRUE(irr(0x47));
  // A current count above the initial count starts from the initial count.
  v = 5000;
  std::memcpy(s.regs + reg::kTimerCurrent, &v, 4);
  EXPECT_EQ(l_->set_state(s), 0);
  EXPECT_EQ(mk::user::next_timer_expiry(), mk::user::now_ns() + 1000);
  // No initial count: no timer.
  v = 0;
  std::memcpy(s.regs + reg::kTimerInitial, &v, 4);
  EXPECT_EQ(l_->set_state(s), 0);
  EXPECT_EQ(mk::user::armed_timers(), 0);
}

TEST_F(LapicTest, X2apicState) {
  auto a = make(0x21, false);
  ASSERT_EQ(a->set_apic_base(kBase | Lapic::kBaseEnable | Lapic::kBaseExtd, false), 0);
  u32 z = 0x1ff;
  ASSERT_EQ(a->write_msr(0x80f, z), 0);
  ASSERT_EQ(a->write_msr(0x830, (0x21ull << 32) | 0x4044), 0);
  kvm_lapic_state s;
  a->get_state(&s);
  u32 id, ldr, icr2, icr;
  std::memcpy(&id, s.regs + reg::kId, 4);
  std::memcpy(&ldr, s.regs + reg::kLdr, 4);
  std::memcpy(&icr, s.regs + reg::kIcrLow, 4);
  std::memcpy(&icr2, s.regs + reg::kIcrHigh, 4);
  EXPECT_EQ(id, 0x21u << 24);  // KVM without KVM_X2APIC_API_USE_32BIT_IDS
  EXPECT_EQ(ldr, (2u << 16) | 2u);
  EXPECT_EQ(icr, 0x4044u);
  EXPECT_EQ(icr2, 0x21u);
  // Restoring: the LDR is derived, ICR2 folded into the 64-bit ICR.
  ldr = 0xdead;
  std::memcpy(s.regs + reg::kLdr, &ldr, 4);
  icr2 = 0x77;
  std::memcpy(s.regs + reg::kIcrHigh, &icr2, 4);
  EXPECT_EQ(a->set_state(s), 0);
  EXPECT_EQ(a->reg(reg::kLdr), (2u << 16) | 2u);
  EXPECT_EQ(a->reg(reg::kId), 0x21u);
  u64 v;
  EXPECT_EQ(a->read_msr(0x830, &v), 0);
  EXPECT_EQ(v, (0x77ull << 32) | 0x4044);
  // 32-bit ID format: unshifted, and it must be the vCPU's.
  a->set_x2apic_format(true);
  a->get_state(&s);
  std::memcpy(&id, s.regs + reg::kId, 4);
  EXPECT_EQ(id, 0x21u);
  EXPECT_EQ(a->set_state(s), 0);
  id = 0x22;
  std::memcpy(s.regs + reg::kId, &id, 4);
  EXPECT_EQ(a->set_state(s), -EINVAL);
  EXPECT_EQ(a->reg(reg::kId), 0x21u);
}

TEST_F(LapicTest, SetStateWakesTheVcpu) {
  enable();
  kvm_lapic_state s;
  l_->get_state(&s);
  s.regs[reg::kIrr + 0x20 + 2] = 0x01;  // vector 0x50
  int kicks = host_.kicks;
  EXPECT_EQ(l_->set_state(s), 0);
  EXPECT_GT(host_.kicks, kicks);
  EXPECT_EQ(l_->pending_vector(), 0x50);
}

// ---- Hostile input ----

TEST_F(LapicTest, RandomRegisterWrites) {
  std::mt19937_64 rng(1234);
  for (int round = 0; round < 4; round++) {
    if (round == 2)
      to_x2apic();
    for (int i = 0; i < 20000; i++) {
      u32 off = static_cast<u32>(rng() % 0x1000);
      u32 val = static_cast<u32>(rng());
      u32 len = 1u << (rng() % 4);
      u64 big = rng();
      switch (rng() % 8) {
        case 0:
          l_->mmio_write(kBase + off, len, &big);
          break;
        case 1:
          l_->mmio_read(kBase + off, len, &big);
          break;
        case 2:
          l_->write_msr(0x800 + static_cast<u32>(rng() % 0x100), rng() % 2 ? val : big);
          break;
        case 3:
          l_->read_msr(0x800 + static_cast<u32>(rng() % 0x100), &big);
          break;
        case 4:
          l_->write_msr(0x6e0, rng() % 2 ? mk_rdtsc() + rng() % 100000 : big);
          break;
        case 5: {
          ApicMessage m;
          m.vector = static_cast<u8>(val);
          m.delivery = static_cast<Delivery>(rng() % 8);
          m.level_triggered = rng() % 2;
          m.level_assert = rng() % 2;
          l_->accept(m);
          break;
        }
        case 6: {
          int v = l_->pending_vector();
          if (v >= 0)
            l_->acknowledge(static_cast<u8>(v));
          break;
        }
        default:
          mk::user::advance_time(rng() % 300'000);
          break;
      }
      // Keep the APIC enabled and in this round's mode most of the time.
      if (i % 1000 == 0) {
        l_->set_apic_base(round >= 2 ? kBase | Lapic::kBaseEnable | Lapic::kBaseExtd : kBase | Lapic::kBaseEnable, true);
        l_->write_msr(0x80f, 0x1ff);
        u32 svr = 0x1ff;
        l_->mmio_write(kBase + reg::kSvr, 4, &svr);
      }
    }
  }
  // Whatever happened, the invariants hold.
  EXPECT_EQ(l_->reg(reg::kIcrLow) & 0x1000, 0u);
  u8 sipi;
  l_->take_init();
  l_->take_sipi(&sipi);
}

TEST_F(LapicTest, RandomStatePages) {
  std::mt19937_64 rng(99);
  kvm_lapic_state s;
  for (int i = 0; i < 2000; i++) {
    for (auto &b : s.regs)
      b = static_cast<char>(rng());
    if (i % 3 == 0)
      l_->set_apic_base(kBase | Lapic::kBaseEnable | Lapic::kBaseExtd, true);
    else if (i % 3 == 1)
      l_->set_apic_base(kBase | Lapic::kBaseEnable, true);
    l_->set_x2apic_format(i % 5 == 0);
    l_->set_state(s);
    kvm_lapic_state t;
    l_->get_state(&t);
    u32 cur = 0;
    l_->mmio_read(kBase + reg::kTimerCurrent, 4, &cur);
    int v = l_->pending_vector();
    if (v >= 0)
      l_->acknowledge(static_cast<u8>(v));
    u32 z = 0;
    l_->mmio_write(kBase + reg::kEoi, 4, &z);
    l_->write_msr(0x80b, 0);
    mk::user::advance_time(rng() % 2'000'000);
  }
  l_->reset(true);
  EXPECT_EQ(r(reg::kVersion), 0x50014u);
}

}  // namespace
