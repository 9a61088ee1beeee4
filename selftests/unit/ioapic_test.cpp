// SPDX-License-Identifier: GPL-2.0
// The IOAPIC model against the 82093AA datasheet and KVM 6.1's
// arch/x86/kvm/ioapic.c: every register through MMIO, edge and level pins,
// the EOI broadcast and its storm guard, KVM_GET/SET_IRQCHIP round trips,
// hostile input, allocation failure, and the locking contract (the bus and
// the observer are called without the IOAPIC lock: the user platform's
// spinlocks abort on recursion, so calling back into the IOAPIC from them
// would kill the test if it were held).
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <thread>

#include <minikvm/platform.h>

#include "core/irq/ioapic.h"
#include "user_platform.h"

using mk::u32;
using mk::u64;
using mk::u8;
using mk::irq::ApicBus;
using mk::irq::ApicMessage;
using mk::irq::Delivery;
using mk::irq::Ioapic;
using mk::irq::IoapicObserver;
using mk::irq::Shorthand;

namespace {

// An Ioapic, and every call into it from this test: the test is built
// with RTTI and UBSan, whose vptr check at a member call (the destructor
// included) on a polymorphic class needs its typeinfo, and the core that
// defines Ioapic's vtable has no RTTI (see guest_mmu.h). The check is the
// caller's, so it is off for these forwarders only.
#define NO_VPTR __attribute__((no_sanitize("vptr")))
class TestIoapic {
 public:
  NO_VPTR explicit TestIoapic(ApicBus &bus) : d_(new (mem_) Ioapic(bus)) {}
  NO_VPTR ~TestIoapic() { d_->~Ioapic(); }
  TestIoapic(const TestIoapic &) = delete;
  TestIoapic &operator=(const TestIoapic &) = delete;
  NO_VPTR int init() { return d_->init(); }
  NO_VPTR void set_observer(IoapicObserver *o) { d_->set_observer(o); }
  NO_VPTR int set_irq(u32 pin, u32 source, bool level) { return d_->set_irq(pin, source, level); }
  NO_VPTR void clear_source(u32 source) { d_->clear_source(source); }
  NO_VPTR void eoi(u8 vector, bool level = true) { d_->eoi(vector, level); }
  NO_VPTR int read(u64 gpa, u32 len, void *val) { return d_->read(gpa, len, val); }
  NO_VPTR int write(u64 gpa, u32 len, const void *val) { return d_->write(gpa, len, val); }
  NO_VPTR void get_state(kvm_ioapic_state *out) { d_->get_state(out); }
  NO_VPTR void set_state(const kvm_ioapic_state &in) { d_->set_state(in); }
  NO_VPTR void reset() { d_->reset(); }
  NO_VPTR u64 redirection_entry(u32 pin) { return d_->redirection_entry(pin); }

 private:
  alignas(Ioapic) unsigned char mem_[sizeof(Ioapic)];
  Ioapic *d_;
};

constexpr u64 kBase = Ioapic::kBase;
constexpr u32 kSrcUser = mk::irq::kSourceUserspace;
constexpr u32 kSrcPit = mk::irq::kSourcePit;

// Records the messages (host allocator: the core's leak count stays put)
// and answers `ret`, optionally running a hook inside deliver().
struct FakeBus : ApicBus {
  mk::user::HostVector<ApicMessage> msgs;
  int ret = 1;
  void (*hook)(FakeBus &, const ApicMessage &) = nullptr;
  void *ctx = nullptr;
  int deliver(const ApicMessage &m, mk::irq::Lapic *source) override {
    EXPECT_EQ(source, nullptr);
    msgs.push_back(m);
    if (hook)
      hook(*this, m);
    return ret;
  }
};

struct RecordingObserver : IoapicObserver {
  mk::user::HostVector<u32> acked;
  mk::user::HostVector<std::pair<u32, bool>> masks;
  void (*on_ack)(RecordingObserver &, u32 pin) = nullptr;
  TestIoapic *io = nullptr;
  void pin_acked(u32 pin) override {
    acked.push_back(pin);
    if (on_ack)
      on_ack(*this, pin);
  }
  void pin_mask_changed(u32 pin, bool masked) override { masks.push_back({pin, masked}); }
};

u64 entry(u8 vector, bool level = false, bool masked = false, u8 dest = 0, u32 mode = 0, bool logical = false) {
  return vector | u64(mode & 7) << 8 | u64(logical) << 11 | u64(level) << 15 | u64(masked) << 16 | u64(dest) << 56;
}

class IoapicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mk::user::reset_time();
    live_ = mk_alloc_live();
    timers_ = mk::user::armed_timers();
    ASSERT_EQ(io_.init(), 0);
  }
  void TearDown() override { mk::user::fail_alloc_after(-1); }

  u32 mmio_read(u64 off, u32 len = 4) {
    u64 v = 0;
    EXPECT_EQ(io_.read(kBase + off, len, &v), 0);
    return static_cast<u32>(v);
  }
  void mmio_write(u64 off, u32 val, u32 len = 4) {
    u64 v = val;
    EXPECT_EQ(io_.write(kBase + off, len, &v), 0);
  }
  u32 reg(u32 index) {
    mmio_write(0x00, index);
    return mmio_read(0x10);
  }
  void set_reg(u32 index, u32 val) {
    mmio_write(0x00, index);
    mmio_write(0x10, val);
  }
  // High half first, so the entry is complete when the low half (with the
  // mask bit) lands, as guests program it.
  void program(u32 pin, u64 e) {
    set_reg(0x11 + 2 * pin, static_cast<u32>(e >> 32));
    set_reg(0x10 + 2 * pin, static_cast<u32>(e));
  }
  u64 read_entry(u32 pin) { return u64(reg(0x11 + 2 * pin)) << 32 | reg(0x10 + 2 * pin); }
  kvm_ioapic_state state() {
    kvm_ioapic_state s;
    io_.get_state(&s);
    return s;
  }

  long live_ = 0;
  long timers_ = 0;
  FakeBus bus_;
  TestIoapic io_{bus_};
};

// ---- Registers (datasheet 3.1, 3.2) ----

TEST_F(IoapicTest, PowerOnState) {
  EXPECT_EQ(mmio_read(0x00), 0u);
  EXPECT_EQ(state().ioregsel, 0u);
  EXPECT_EQ(reg(0x00), 0u);           // IOAPICID
  EXPECT_EQ(reg(0x01), 0x00170011u);  // 24 entries (max 0x17), version 0x11
  EXPECT_EQ(reg(0x02), 0u);           // IOAPICARB
  for (u32 pin = 0; pin < Ioapic::kPins; pin++) {
    EXPECT_EQ(read_entry(pin), Ioapic::kMasked) << pin;
    EXPECT_EQ(io_.redirection_entry(pin), Ioapic::kMasked);
  }
  kvm_ioapic_state s = state();
  EXPECT_EQ(s.base_address, kBase);
  EXPECT_EQ(s.id, 0u);
  EXPECT_EQ(s.irr, 0u);
  EXPECT_EQ(s.pad, 0u);
  EXPECT_EQ(s.redirtbl[5].fields.mask, 1);
  EXPECT_TRUE(bus_.msgs.empty());
}

TEST_F(IoapicTest, IoregselIsEightBits) {
  mmio_write(0x00, 0xabcdef12);
  EXPECT_EQ(mmio_read(0x00), 0x12u);
  mmio_write(0x00, 0x1ff, 2);
  EXPECT_EQ(mmio_read(0x00), 0xffu);
  mmio_write(0x00, 0x34, 1);
  EXPECT_EQ(mmio_read(0x00), 0x34u);
  EXPECT_EQ(state().ioregsel, 0x34u);
}

TEST_F(IoapicTest, IdRegisterBits27To24) {
  set_reg(0x00, 0xffffffff);
  EXPECT_EQ(reg(0x00), 0x0f000000u);
  EXPECT_EQ(state().id, 0xfu);
  // IOAPICARB reads the ID (KVM); writes to it and to IOAPICVER do nothing.
  EXPECT_EQ(reg(0x02), 0x0f000000u);
  set_reg(0x02, 0);
  set_reg(0x01, 0);
  EXPECT_EQ(reg(0x00), 0x0f000000u);
  EXPECT_EQ(reg(0x01), 0x00170011u);
  set_reg(0x00, 0x05000000);
  EXPECT_EQ(reg(0x02), 0x05000000u);
}

TEST_F(IoapicTest, UnimplementedIndexesReadAllOnesAndIgnoreWrites) {
  kvm_ioapic_state before = state();
  for (u32 index : {0x03u, 0x0fu, 0x40u, 0x41u, 0x80u, 0xffu}) {
    EXPECT_EQ(reg(index), 0xffffffffu) << index;
    set_reg(index, 0);
    set_reg(index, 0xffffffff);
  }
  kvm_ioapic_state after = state();
  after.ioregsel = before.ioregsel;
  EXPECT_EQ(memcmp(&before, &after, sizeof(before)), 0);
}

TEST_F(IoapicTest, RedirectionEntryHalvesAndReadOnlyBits) {
  for (u32 pin = 0; pin < Ioapic::kPins; pin++) {
    set_reg(0x10 + 2 * pin, 0xffffffff);
    set_reg(0x11 + 2 * pin, 0xffffffff);
    // Delivery Status (12) and Remote IRR (14) are read-only; every other
    // bit, the reserved ones included, reads back as written (KVM).
    EXPECT_EQ(read_entry(pin), ~(Ioapic::kDeliveryStatus | Ioapic::kRemoteIrr)) << pin;
    set_reg(0x11 + 2 * pin, 0x12345678);
    EXPECT_EQ(reg(0x11 + 2 * pin), 0x12345678u);
    EXPECT_EQ(reg(0x10 + 2 * pin), 0xffffafffu);  // low half untouched
    set_reg(0x10 + 2 * pin, 0x00010000);
    EXPECT_EQ(read_entry(pin), 0x1234567800010000ull);
  }
  // Nothing was ever unmasked with a line up: nothing delivered.
  EXPECT_TRUE(bus_.msgs.empty());
}

TEST_F(IoapicTest, GuestCannotSetOrClearReadOnlyBits) {
  kvm_ioapic_state s = state();
  s.redirtbl[4].bits = entry(0x44, true, true) | Ioapic::kRemoteIrr | Ioapic::kDeliveryStatus;
  io_.set_state(s);
  set_reg(0x10 + 8, static_cast<u32>(entry(0x45, true, true)));
  EXPECT_EQ(read_entry(4), entry(0x45, true, true) | Ioapic::kRemoteIrr | Ioapic::kDeliveryStatus);
  // Going edge clears Remote IRR (what Linux/Xen rely on), not Delivery Status.
  set_reg(0x10 + 8, static_cast<u32>(entry(0x45, false, true)));
  EXPECT_EQ(read_entry(4), entry(0x45, false, true) | Ioapic::kDeliveryStatus);
}

TEST_F(IoapicTest, MmioDecodingAndLengths) {
  set_reg(0x01, 0);  // IOREGSEL = version
  // Only offsets 0x00 and 0x10 decode (no EOI register at 0x40: version 0x11).
  for (u64 off : {0x01ull, 0x04ull, 0x0cull, 0x11ull, 0x14ull, 0x20ull, 0x40ull, 0xffull})
    EXPECT_EQ(mmio_read(off), 0u) << off;
  mmio_write(0x04, 0x02);
  mmio_write(0x40, 0x02);
  EXPECT_EQ(mmio_read(0x00), 0x01u);
  // len 8 reads zero-extend, 1 and 2 give the low bytes.
  u64 v = ~0ull;
  EXPECT_EQ(io_.read(kBase + 0x10, 8, &v), 0);
  EXPECT_EQ(v, 0x00170011ull);
  v = ~0ull;
  EXPECT_EQ(io_.read(kBase + 0x10, 2, &v), 0);
  EXPECT_EQ(v, 0xffffffffffff0011ull);
  v = ~0ull;
  EXPECT_EQ(io_.read(kBase + 0x10, 1, &v), 0);
  EXPECT_EQ(v, 0xffffffffffffff11ull);
  // Other lengths: handled, nothing read or written.
  v = 0x5a5a5a5a5a5a5a5aull;
  EXPECT_EQ(io_.read(kBase + 0x10, 3, &v), 0);
  EXPECT_EQ(v, 0x5a5a5a5a5a5a5a5aull);
  EXPECT_EQ(io_.read(kBase + 0x10, 0, &v), 0);
  v = 0x02;
  EXPECT_EQ(io_.write(kBase, 3, &v), 0);
  EXPECT_EQ(io_.write(kBase, 16, &v), 0);
  EXPECT_EQ(mmio_read(0x00), 0x01u);
  // A len-8 write uses its low 32 bits.
  v = 0xffffffff00000000ull | 0x10;
  EXPECT_EQ(io_.write(kBase, 8, &v), 0);
  EXPECT_EQ(mmio_read(0x00), 0x10u);
  v = 0xaaaaaaaa00000000ull | 0x00010020;
  EXPECT_EQ(io_.write(kBase + 0x10, 8, &v), 0);
  EXPECT_EQ(read_entry(0), 0x00010020ull);
  // Outside [base, base + 0x100): not ours.
  EXPECT_EQ(io_.read(kBase + 0x100, 4, &v), -EOPNOTSUPP);
  EXPECT_EQ(io_.read(kBase - 4, 4, &v), -EOPNOTSUPP);
  EXPECT_EQ(io_.write(kBase + 0x100, 4, &v), -EOPNOTSUPP);
  EXPECT_EQ(io_.write(0, 4, &v), -EOPNOTSUPP);
}

// ---- Edge-triggered pins ----

TEST_F(IoapicTest, EdgeDeliversOnRisingEdgeOnly) {
  program(3, entry(0x30, false, false, 0x07));
  bus_.ret = 2;
  EXPECT_EQ(io_.set_irq(3, kSrcUser, true), 2);
  ASSERT_EQ(bus_.msgs.size(), 1u);
  const ApicMessage &m = bus_.msgs[0];
  EXPECT_EQ(m.vector, 0x30);
  EXPECT_EQ(m.delivery, Delivery::kFixed);
  EXPECT_FALSE(m.logical);
  EXPECT_TRUE(m.level_assert);
  EXPECT_FALSE(m.level_triggered);
  EXPECT_EQ(m.shorthand, Shorthand::kNone);
  EXPECT_EQ(m.dest, 0x07u);
  EXPECT_FALSE(m.redirection_hint);
  // Line still high: coalesced, nothing sent.
  EXPECT_EQ(io_.set_irq(3, kSrcUser, true), 0);
  EXPECT_EQ(bus_.msgs.size(), 1u);
  EXPECT_EQ(io_.set_irq(3, kSrcUser, false), 1);
  EXPECT_EQ(io_.set_irq(3, kSrcUser, false), 1);
  EXPECT_EQ(io_.set_irq(3, kSrcUser, true), 2);
  EXPECT_EQ(bus_.msgs.size(), 2u);
  // Edge entries never get Remote IRR.
  EXPECT_EQ(read_entry(3) & Ioapic::kRemoteIrr, 0u);
  // The delivered edge is hidden from KVM_GET_IRQCHIP's IRR.
  EXPECT_EQ(state().irr, 0u);
}

TEST_F(IoapicTest, EdgeWhileMaskedStaysLatchedButIsNotSentOnUnmask) {
  program(5, entry(0x35, false, true));
  EXPECT_EQ(io_.set_irq(5, kSrcUser, true), -1);
  EXPECT_TRUE(bus_.msgs.empty());
  EXPECT_EQ(state().irr, 1u << 5);
  // KVM services only level entries on a redirection write.
  program(5, entry(0x35, false, false));
  EXPECT_TRUE(bus_.msgs.empty());
  EXPECT_EQ(io_.set_irq(5, kSrcUser, true), 0);  // no new edge
  EXPECT_EQ(io_.set_irq(5, kSrcUser, false), 1);
  EXPECT_EQ(state().irr, 0u);
  EXPECT_EQ(io_.set_irq(5, kSrcUser, true), 1);
  EXPECT_EQ(bus_.msgs.size(), 1u);
}

TEST_F(IoapicTest, EdgeWithNoDestinationReportsMinusOne) {
  program(1, entry(0x31));
  bus_.ret = -1;
  EXPECT_EQ(io_.set_irq(1, kSrcUser, true), -1);
  bus_.ret = 0;
  EXPECT_EQ(io_.set_irq(1, kSrcUser, false), 1);
  EXPECT_EQ(io_.set_irq(1, kSrcUser, true), 0);
  EXPECT_EQ(bus_.msgs.size(), 2u);
}

TEST_F(IoapicTest, LinesAreOredOverSources) {
  program(2, entry(0x32));
  EXPECT_EQ(io_.set_irq(2, kSrcPit, true), 1);
  EXPECT_EQ(io_.set_irq(2, kSrcUser, true), 0);  // line already high
  // The user source still holds the line: it stays high, so KVM treats
  // this as another assertion of a high edge line (coalesced, 0).
  EXPECT_EQ(io_.set_irq(2, kSrcPit, false), 0);
  EXPECT_EQ(io_.set_irq(2, kSrcPit, true), 0);
  EXPECT_EQ(bus_.msgs.size(), 1u);
  EXPECT_EQ(io_.set_irq(2, kSrcPit, false), 0);
  EXPECT_EQ(io_.set_irq(2, kSrcUser, false), 1);  // now low
  EXPECT_EQ(io_.set_irq(2, kSrcPit, true), 1);
  EXPECT_EQ(bus_.msgs.size(), 2u);
  // clear_source drops a source's line without touching IRR or sending.
  io_.clear_source(kSrcPit);
  EXPECT_EQ(bus_.msgs.size(), 2u);
  EXPECT_EQ(io_.set_irq(2, kSrcUser, true), 0);  // IRR still latched
  EXPECT_EQ(io_.set_irq(2, kSrcUser, false), 1);  // the OR is now 0
  EXPECT_EQ(io_.set_irq(2, kSrcPit, true), 1);
  io_.clear_source(mk::irq::kNrSources);  // ignored
  io_.clear_source(~0u);
}

TEST_F(IoapicTest, BadPinOrSourceIsIgnored) {
  program(0, entry(0x20));
  EXPECT_EQ(io_.set_irq(Ioapic::kPins, kSrcUser, true), -1);
  EXPECT_EQ(io_.set_irq(~0u, kSrcUser, true), -1);
  EXPECT_EQ(io_.set_irq(0, mk::irq::kNrSources, true), -1);
  EXPECT_EQ(io_.set_irq(0, ~0u, true), -1);
  EXPECT_TRUE(bus_.msgs.empty());
  EXPECT_EQ(state().irr, 0u);
  EXPECT_EQ(io_.redirection_entry(Ioapic::kPins), 0u);
}

TEST_F(IoapicTest, EveryDeliveryModeAndDestinationFieldIsPassedOn) {
  for (u32 mode = 0; mode < 8; mode++) {
    for (bool logical : {false, true}) {
      bus_.msgs.clear();
      u8 dest = static_cast<u8>(mode * 0x21 + logical);
      program(7, entry(0x40 + mode, false, false, dest, mode, logical));
      ASSERT_EQ(io_.set_irq(7, kSrcUser, true), 1);
      io_.set_irq(7, kSrcUser, false);
      ASSERT_EQ(bus_.msgs.size(), 1u);
      EXPECT_EQ(static_cast<u32>(bus_.msgs[0].delivery), mode);
      EXPECT_EQ(bus_.msgs[0].logical, logical);
      EXPECT_EQ(bus_.msgs[0].dest, dest);
      EXPECT_EQ(bus_.msgs[0].vector, 0x40 + mode);
    }
  }
  // Broadcast destination and polarity: passed as is / not used for delivery.
  bus_.msgs.clear();
  program(8, entry(0x50, false, false, 0xff) | Ioapic::kPolarityLow);
  EXPECT_EQ(io_.set_irq(8, kSrcUser, true), 1);
  ASSERT_EQ(bus_.msgs.size(), 1u);
  EXPECT_EQ(bus_.msgs[0].dest, 0xffu);
}

// ---- Level-triggered pins and the EOI broadcast ----

TEST_F(IoapicTest, LevelSetsRemoteIrrUntilEoi) {
  program(9, entry(0x59, true, false, 1));
  EXPECT_EQ(io_.set_irq(9, kSrcUser, true), 1);
  ASSERT_EQ(bus_.msgs.size(), 1u);
  EXPECT_TRUE(bus_.msgs[0].level_triggered);
  EXPECT_TRUE(bus_.msgs[0].level_assert);
  EXPECT_TRUE(read_entry(9) & Ioapic::kRemoteIrr);
  // While Remote IRR is set: KVM answers -1 (not 0) and sends nothing.
  EXPECT_EQ(io_.set_irq(9, kSrcUser, true), -1);
  EXPECT_EQ(bus_.msgs.size(), 1u);
  // EOI with the line still high: delivered again.
  io_.eoi(0x59);
  EXPECT_EQ(bus_.msgs.size(), 2u);
  EXPECT_TRUE(read_entry(9) & Ioapic::kRemoteIrr);
  // Line low, EOI: Remote IRR clear, nothing sent.
  EXPECT_EQ(io_.set_irq(9, kSrcUser, false), 1);
  io_.eoi(0x59);
  EXPECT_EQ(bus_.msgs.size(), 2u);
  EXPECT_FALSE(read_entry(9) & Ioapic::kRemoteIrr);
  EXPECT_EQ(state().irr, 0u);
  // Level lines show in KVM_GET_IRQCHIP's IRR while asserted.
  EXPECT_EQ(io_.set_irq(9, kSrcUser, true), 1);
  EXPECT_EQ(state().irr, 1u << 9);
}

TEST_F(IoapicTest, EoiOfOtherVectorsAndEdgeEoisLeaveRemoteIrr) {
  program(10, entry(0x60, true));
  EXPECT_EQ(io_.set_irq(10, kSrcUser, true), 1);
  io_.eoi(0x61);
  io_.eoi(0x60, /*level_triggered=*/false);
  EXPECT_TRUE(read_entry(10) & Ioapic::kRemoteIrr);
  EXPECT_EQ(bus_.msgs.size(), 1u);
  io_.eoi(0x60);
  EXPECT_EQ(bus_.msgs.size(), 2u);
}

TEST_F(IoapicTest, EoiReachesEveryPinWithTheVector) {
  program(11, entry(0x70, true));
  program(12, entry(0x70, true));
  EXPECT_EQ(io_.set_irq(11, kSrcUser, true), 1);
  EXPECT_EQ(io_.set_irq(12, kSrcUser, true), 1);
  io_.set_irq(11, kSrcUser, false);
  io_.eoi(0x70);
  EXPECT_FALSE(read_entry(11) & Ioapic::kRemoteIrr);
  // Pin 12 still high: sent again, Remote IRR set again.
  EXPECT_TRUE(read_entry(12) & Ioapic::kRemoteIrr);
  EXPECT_EQ(bus_.msgs.size(), 3u);
}

TEST_F(IoapicTest, MaskedLevelLineIsDeliveredOnUnmask) {
  program(13, entry(0x73, true, true));
  EXPECT_EQ(io_.set_irq(13, kSrcUser, true), -1);
  EXPECT_TRUE(bus_.msgs.empty());
  EXPECT_FALSE(read_entry(13) & Ioapic::kRemoteIrr);
  program(13, entry(0x73, true, false));
  ASSERT_EQ(bus_.msgs.size(), 1u);
  EXPECT_TRUE(read_entry(13) & Ioapic::kRemoteIrr);
  // Rewriting it while Remote IRR is set sends nothing more.
  program(13, entry(0x73, true, false));
  EXPECT_EQ(bus_.msgs.size(), 1u);
  // EOI while masked: Remote IRR clears, nothing sent until unmasked.
  program(13, entry(0x73, true, true));
  io_.eoi(0x73);
  EXPECT_EQ(bus_.msgs.size(), 1u);
  program(13, entry(0x73, true, false));
  EXPECT_EQ(bus_.msgs.size(), 2u);
}

TEST_F(IoapicTest, EdgeTrickClearsStuckRemoteIrr) {
  program(14, entry(0x74, true));
  EXPECT_EQ(io_.set_irq(14, kSrcUser, true), 1);
  // Linux's clear_IO_APIC_pin/EOI emulation: switch to edge and back.
  program(14, entry(0x74, false));
  EXPECT_FALSE(read_entry(14) & Ioapic::kRemoteIrr);
  EXPECT_EQ(bus_.msgs.size(), 1u);
  program(14, entry(0x74, true));  // line still high: delivered at once
  EXPECT_EQ(bus_.msgs.size(), 2u);
  EXPECT_TRUE(read_entry(14) & Ioapic::kRemoteIrr);
}

TEST_F(IoapicTest, LevelRemoteIrrFollowsTheBusAnswer) {
  program(15, entry(0x75, true));
  // No LAPIC accepted (0): coalesced, Remote IRR stays clear, next
  // assertion tries again.
  bus_.ret = 0;
  EXPECT_EQ(io_.set_irq(15, kSrcUser, true), 0);
  EXPECT_FALSE(read_entry(15) & Ioapic::kRemoteIrr);
  EXPECT_EQ(io_.set_irq(15, kSrcUser, true), 0);
  EXPECT_EQ(bus_.msgs.size(), 2u);
  // No destination at all (-1): KVM sets Remote IRR all the same.
  bus_.ret = -1;
  EXPECT_EQ(io_.set_irq(15, kSrcUser, true), -1);
  EXPECT_TRUE(read_entry(15) & Ioapic::kRemoteIrr);
  EXPECT_EQ(io_.set_irq(15, kSrcUser, true), -1);
  EXPECT_EQ(bus_.msgs.size(), 3u);
}

// ---- The storm guard (IOAPIC_SUCCESSIVE_IRQ_MAX_COUNT) ----

TEST_F(IoapicTest, EoiStormDefersTheTenThousandthRedelivery) {
  program(16, entry(0x76, true));
  EXPECT_EQ(io_.set_irq(16, kSrcUser, true), 1);
  for (u32 i = 1; i < Ioapic::kSuccessiveIrqMax; i++)
    io_.eoi(0x76);
  EXPECT_EQ(bus_.msgs.size(), Ioapic::kSuccessiveIrqMax);
  EXPECT_EQ(mk::user::armed_timers(), timers_);
  io_.eoi(0x76);  // the 10000th: held back 10 ms
  EXPECT_EQ(bus_.msgs.size(), Ioapic::kSuccessiveIrqMax);
  EXPECT_FALSE(read_entry(16) & Ioapic::kRemoteIrr);
  EXPECT_EQ(mk::user::armed_timers(), timers_ + 1);
  EXPECT_EQ(mk::user::next_timer_expiry(), mk::user::now_ns() + Ioapic::kStormDelayNs);
  mk::user::advance_time(Ioapic::kStormDelayNs - 1);
  EXPECT_EQ(bus_.msgs.size(), Ioapic::kSuccessiveIrqMax);
  mk::user::advance_time(1);
  EXPECT_EQ(bus_.msgs.size(), Ioapic::kSuccessiveIrqMax + 1);
  EXPECT_TRUE(read_entry(16) & Ioapic::kRemoteIrr);
  EXPECT_EQ(mk::user::armed_timers(), timers_);
  // The count started over.
  io_.eoi(0x76);
  EXPECT_EQ(bus_.msgs.size(), Ioapic::kSuccessiveIrqMax + 2);
}

TEST_F(IoapicTest, StormCountResetsWhenTheLineDrops) {
  program(17, entry(0x77, true));
  EXPECT_EQ(io_.set_irq(17, kSrcUser, true), 1);
  for (u32 i = 1; i < Ioapic::kSuccessiveIrqMax; i++)
    io_.eoi(0x77);
  io_.set_irq(17, kSrcUser, false);
  io_.eoi(0x77);  // line low: count back to 0
  EXPECT_EQ(io_.set_irq(17, kSrcUser, true), 1);
  for (u32 i = 0; i < 100; i++)
    io_.eoi(0x77);
  EXPECT_EQ(mk::user::armed_timers(), timers_);
  EXPECT_EQ(bus_.msgs.size(), Ioapic::kSuccessiveIrqMax + 101);
}

TEST_F(IoapicTest, StormTimerSkipsMaskedAndWaitingPins) {
  program(18, entry(0x78, true));
  EXPECT_EQ(io_.set_irq(18, kSrcUser, true), 1);
  for (u32 i = 0; i < Ioapic::kSuccessiveIrqMax; i++)
    io_.eoi(0x78);
  // Any write to the entry services a pending level line (KVM): the first
  // half written below delivers at once, before the mask lands.
  program(18, entry(0x78, true, true));
  EXPECT_EQ(bus_.msgs.size(), Ioapic::kSuccessiveIrqMax + 1);
  io_.eoi(0x78);  // Remote IRR clear again, masked: held
  size_t n = bus_.msgs.size();
  mk::user::advance_time(Ioapic::kStormDelayNs);
  EXPECT_EQ(bus_.msgs.size(), n);
  program(18, entry(0x78, true, false));  // unmask delivers it
  EXPECT_EQ(bus_.msgs.size(), n + 1);
}

// ---- Locking contract: callouts run without the IOAPIC lock ----

TEST_F(IoapicTest, BusMayCallBackIntoTheIoapic) {
  // A LAPIC that EOIs the moment it accepts, and reads IOAPIC registers:
  // both take the IOAPIC lock, which would abort if deliver() held it.
  bus_.ctx = &io_;
  bus_.hook = [](FakeBus &b, const ApicMessage &m) {
    auto *io = static_cast<TestIoapic *>(b.ctx);
    u32 v = 0;
    io->read(Ioapic::kBase, 4, &v);
    if (b.msgs.size() < 3)
      io->eoi(m.vector);
  };
  program(19, entry(0x79, true));
  EXPECT_EQ(io_.set_irq(19, kSrcUser, true), 1);
  EXPECT_EQ(bus_.msgs.size(), 3u);
}

TEST_F(IoapicTest, EveryDeliveryPathRunsUnlocked) {
  // The hook takes the IOAPIC lock: set_irq, the EOI, a redirection write,
  // KVM_SET_IRQCHIP and the storm timer must all deliver without it.
  bus_.ctx = &io_;
  bus_.hook = [](FakeBus &b, const ApicMessage &) {
    u32 v = 0;
    EXPECT_EQ(static_cast<TestIoapic *>(b.ctx)->read(Ioapic::kBase + 0x10, 4, &v), 0);
  };
  program(22, entry(0x7c, true, true));
  EXPECT_EQ(io_.set_irq(22, kSrcUser, true), -1);
  program(22, entry(0x7c, true));  // write path
  EXPECT_EQ(bus_.msgs.size(), 1u);
  for (u32 i = 0; i < Ioapic::kSuccessiveIrqMax; i++)
    io_.eoi(0x7c);  // EOI path
  EXPECT_EQ(bus_.msgs.size(), Ioapic::kSuccessiveIrqMax);
  mk::user::advance_time(Ioapic::kStormDelayNs);  // timer path
  EXPECT_EQ(bus_.msgs.size(), Ioapic::kSuccessiveIrqMax + 1);
  kvm_ioapic_state s = state();
  s.redirtbl[22].fields.remote_irr = 0;
  io_.set_state(s);  // KVM_SET_IRQCHIP path
  EXPECT_EQ(bus_.msgs.size(), Ioapic::kSuccessiveIrqMax + 2);
  program(23, entry(0x7d));
  EXPECT_EQ(io_.set_irq(23, kSrcUser, true), 1);  // set_irq path
  EXPECT_EQ(bus_.msgs.size(), Ioapic::kSuccessiveIrqMax + 3);
}

TEST_F(IoapicTest, ObserverSeesAcksBeforeRemoteIrrClears) {
  RecordingObserver obs;
  obs.io = &io_;
  // An irqfd resampler: de-asserts its line from the ack notifier.
  obs.on_ack = [](RecordingObserver &o, u32 pin) {
    EXPECT_TRUE(o.io->redirection_entry(pin) & Ioapic::kRemoteIrr);
    o.io->set_irq(pin, mk::irq::kSourceResample, false);
  };
  io_.set_observer(&obs);
  program(20, entry(0x7a, true));
  EXPECT_EQ(io_.set_irq(20, mk::irq::kSourceResample, true), 1);
  io_.eoi(0x7a);
  ASSERT_EQ(obs.acked.size(), 1u);
  EXPECT_EQ(obs.acked[0], 20u);
  EXPECT_EQ(bus_.msgs.size(), 1u);  // line was low again: no re-delivery
  EXPECT_FALSE(read_entry(20) & Ioapic::kRemoteIrr);
}

TEST_F(IoapicTest, ObserverAckForEdgePinsAndMaskChanges) {
  RecordingObserver obs;
  io_.set_observer(&obs);
  program(0, entry(0x20));  // unmask: one mask change
  program(0, entry(0x20));  // same mask: none
  program(0, entry(0x21));
  program(2, entry(0x20, false, true));  // already masked: none
  set_reg(0x11, 0xff000000);             // high half: no mask change
  ASSERT_EQ(obs.masks.size(), 1u);
  EXPECT_EQ(obs.masks[0], std::make_pair(0u, false));
  program(0, entry(0x21, false, true));
  ASSERT_EQ(obs.masks.size(), 2u);
  EXPECT_EQ(obs.masks[1], std::make_pair(0u, true));
  // An edge vector's EOI acks every pin with that vector (PIT reinjection).
  io_.eoi(0x20, false);
  io_.eoi(0x21, false);
  ASSERT_EQ(obs.acked.size(), 2u);
  EXPECT_EQ(obs.acked[0], 2u);
  EXPECT_EQ(obs.acked[1], 0u);
  io_.eoi(0x99);
  EXPECT_EQ(obs.acked.size(), 2u);
  io_.set_observer(nullptr);
}

// ---- KVM_GET_IRQCHIP / KVM_SET_IRQCHIP ----

TEST_F(IoapicTest, StateRoundTrip) {
  set_reg(0x00, 0x0a000000);
  program(0, entry(0x20, false, false, 3));
  program(1, entry(0x21, true, false, 0xff, 1, true));
  program(2, entry(0x22, false, true));
  program(3, 0x00fedcba98010023ull);  // reserved bits set, masked
  EXPECT_EQ(io_.set_irq(1, kSrcUser, true), 1);  // Remote IRR set, IRR bit 1
  EXPECT_EQ(io_.set_irq(2, kSrcUser, true), -1);  // masked edge: IRR bit 2
  EXPECT_EQ(io_.set_irq(0, kSrcUser, true), 1);   // delivered edge: hidden
  mmio_write(0x00, 0x13);
  kvm_ioapic_state s = state();
  EXPECT_EQ(s.id, 0xau);
  EXPECT_EQ(s.ioregsel, 0x13u);
  EXPECT_EQ(s.irr, (1u << 1) | (1u << 2));
  EXPECT_EQ(s.redirtbl[1].fields.remote_irr, 1);
  EXPECT_EQ(s.redirtbl[1].fields.vector, 0x21);
  EXPECT_EQ(s.redirtbl[1].fields.delivery_mode, 1);
  EXPECT_EQ(s.redirtbl[1].fields.dest_mode, 1);
  EXPECT_EQ(s.redirtbl[1].fields.trig_mode, 1);
  EXPECT_EQ(s.redirtbl[1].fields.dest_id, 0xff);
  EXPECT_EQ(s.redirtbl[3].bits, 0x00fedcba98010023ull);

  // Into a fresh IOAPIC: IRR bit 1 re-asserts a level pin whose Remote IRR
  // is set (nothing sent), bit 2 a masked edge (latched, nothing sent).
  FakeBus bus2;
  TestIoapic io2(bus2);
  ASSERT_EQ(io2.init(), 0);
  io2.set_state(s);
  EXPECT_TRUE(bus2.msgs.empty());
  kvm_ioapic_state s2;
  io2.get_state(&s2);
  EXPECT_EQ(memcmp(&s, &s2, sizeof(s)), 0);
}

TEST_F(IoapicTest, SetStateDeliversWhatTheNewEntriesAllow) {
  kvm_ioapic_state s = state();
  s.redirtbl[4].bits = entry(0x44);               // edge, unmasked
  s.redirtbl[5].bits = entry(0x45, true);         // level, unmasked, no Remote IRR
  s.redirtbl[6].bits = entry(0x46, false, true);  // masked edge
  s.irr = (1u << 4) | (1u << 5) | (1u << 6) | 0xff000000u;  // 31:24 ignored
  io_.set_state(s);
  ASSERT_EQ(bus_.msgs.size(), 2u);
  EXPECT_EQ(bus_.msgs[0].vector, 0x44);
  EXPECT_EQ(bus_.msgs[1].vector, 0x45);
  kvm_ioapic_state got = state();
  EXPECT_EQ(got.irr, (1u << 5) | (1u << 6));  // the edge was delivered
  EXPECT_EQ(got.redirtbl[5].fields.remote_irr, 1);
  // The sources' lines are not part of the state: the level line is seen
  // as low at the next de-assert (as KVM, whose irq_states stay).
  EXPECT_EQ(io_.set_irq(5, kSrcUser, false), 1);
  EXPECT_EQ(state().irr, 1u << 6);
}

TEST_F(IoapicTest, SetStateAcceptsAnythingAndStaysSane) {
  kvm_ioapic_state s;
  memset(&s, 0xff, sizeof(s));
  s.base_address = 0x1000;
  io_.set_state(s);  // every entry masked (all ones): nothing sent
  EXPECT_TRUE(bus_.msgs.empty());
  kvm_ioapic_state got = state();
  EXPECT_EQ(got.ioregsel, 0xffffffffu);
  EXPECT_EQ(got.id, 0xffffffffu);
  EXPECT_EQ(got.pad, 0xffffffffu);
  EXPECT_EQ(got.irr, 0x00ffffffu);
  // The MMIO range follows base_address (KVM's ioapic_in_range).
  u32 v = 0;
  EXPECT_EQ(io_.read(kBase, 4, &v), -EOPNOTSUPP);
  EXPECT_EQ(io_.read(0x1000, 4, &v), 0);
  EXPECT_EQ(v, 0xffffffffu);  // IOREGSEL as restored
  EXPECT_EQ(io_.read(0x1010, 4, &v), 0);
  EXPECT_EQ(v, 0xffffffffu);  // index far past the table
  // Registers decode from the low address byte (KVM: addr & 0xff), not
  // from the offset to an unaligned base.
  s.base_address = 0x1080;
  io_.set_state(s);
  v = 1;
  EXPECT_EQ(io_.read(0x1080, 4, &v), 0);
  EXPECT_EQ(v, 0u);
  EXPECT_EQ(io_.read(0x1100, 4, &v), 0);
  EXPECT_EQ(v, 0xffffffffu);  // IOREGSEL
  EXPECT_EQ(io_.read(0x1180, 4, &v), -EOPNOTSUPP);
  // A range that wraps past 2^64 matches nothing (KVM's unsigned compare).
  s.base_address = ~0ull - 0x10;
  io_.set_state(s);
  EXPECT_EQ(io_.read(~0ull - 0x10, 4, &v), -EOPNOTSUPP);
  EXPECT_EQ(io_.read(0, 4, &v), -EOPNOTSUPP);
  // IOAPICID shows 4 bits of id.
  s.base_address = kBase;
  s.ioregsel = 0;
  io_.set_state(s);
  EXPECT_EQ(mmio_read(0x10), 0x0f000000u);
}

TEST_F(IoapicTest, ResetRestoresPowerOnState) {
  set_reg(0x00, 0x0f000000);
  program(21, entry(0x7b, true));
  EXPECT_EQ(io_.set_irq(21, kSrcUser, true), 1);
  for (u32 i = 0; i < Ioapic::kSuccessiveIrqMax; i++)
    io_.eoi(0x7b);
  EXPECT_EQ(mk::user::armed_timers(), timers_ + 1);
  kvm_ioapic_state s = state();
  s.base_address = 0x2000;
  s.pad = 7;
  io_.set_state(s);
  io_.reset();
  EXPECT_EQ(mk::user::armed_timers(), timers_);
  kvm_ioapic_state r = state();
  EXPECT_EQ(r.base_address, kBase);
  EXPECT_EQ(r.id, 0u);
  EXPECT_EQ(r.ioregsel, 0u);
  EXPECT_EQ(r.irr, 0u);
  EXPECT_EQ(r.pad, 0u);
  for (u32 pin = 0; pin < Ioapic::kPins; pin++)
    EXPECT_EQ(r.redirtbl[pin].bits, Ioapic::kMasked);
  // The source's line is still high (the wire is outside the chip), but
  // IRR was cleared: unmasking the level entry sends nothing; the next
  // assertion of the line sets IRR again and delivers.
  size_t n = bus_.msgs.size();
  program(21, entry(0x7b, true));
  EXPECT_EQ(bus_.msgs.size(), n);
  EXPECT_EQ(io_.set_irq(21, kSrcUser, true), 1);
}

// ---- Allocation failure, lifetime ----

TEST(IoapicInit, AllocationFailureLeaksNothing) {
  long live = mk_alloc_live();
  long timers = mk::user::armed_timers();
  for (long n = 0; n < 2; n++) {
    FakeBus bus;
    {
      TestIoapic io(bus);
      mk::user::fail_alloc_after(n);
      EXPECT_EQ(io.init(), -ENOMEM) << n;
      mk::user::fail_alloc_after(-1);
    }
    EXPECT_EQ(mk_alloc_live(), live) << n;
  }
  {
    FakeBus bus;
    TestIoapic io(bus);
    mk::user::fail_alloc_after(2);
    EXPECT_EQ(io.init(), 0);
    mk::user::fail_alloc_after(-1);
    EXPECT_EQ(mk_alloc_live(), live + 2);  // the lock and the timer
    EXPECT_EQ(io.init(), 0);               // again: nothing more
    EXPECT_EQ(mk_alloc_live(), live + 2);
  }
  EXPECT_EQ(mk_alloc_live(), live);
  EXPECT_EQ(mk::user::armed_timers(), timers);
}

TEST(IoapicInit, DestroyWithArmedStormTimer) {
  long live = mk_alloc_live();
  long timers = mk::user::armed_timers();
  {
    FakeBus bus;
    TestIoapic io(bus);
    ASSERT_EQ(io.init(), 0);
    u64 e = entry(0x80, true);
    u64 v = 0x10;
    io.write(kBase, 4, &v);
    v = static_cast<u32>(e);
    io.write(kBase + 0x10, 4, &v);
    EXPECT_EQ(io.set_irq(0, kSrcUser, true), 1);
    for (u32 i = 0; i < Ioapic::kSuccessiveIrqMax; i++)
      io.eoi(0x80);
    EXPECT_EQ(mk::user::armed_timers(), timers + 1);
  }
  EXPECT_EQ(mk::user::armed_timers(), timers);
  EXPECT_EQ(mk_alloc_live(), live);
}

// ---- Hostile input ----

TEST_F(IoapicTest, RandomAccessesNeverMisbehave) {
  std::mt19937_64 rng(0x10a91c);
  RecordingObserver obs;
  io_.set_observer(&obs);
  static const u32 kLens[] = {0, 1, 2, 3, 4, 5, 7, 8, 16};
  for (int i = 0; i < 200000; i++) {
    u64 r = rng();
    u64 v = rng();
    u64 off = (r >> 8) & 0x1ff;  // half of them out of range
    u32 len = kLens[(r >> 20) % 9];
    switch (r % 8) {
      case 0:
      case 1:
        // Mostly IOREGSEL/IOWIN so the window hits real registers.
        io_.write(kBase + ((r >> 30) & 1 ? 0x10 : 0x00), len, &v);
        break;
      case 2:
        io_.write(kBase + off - 0x80, len, &v);
        break;
      case 3: {
        u64 out = 0;
        io_.read(kBase + ((r >> 30) & 1 ? 0x10 : off), len, &out);
        break;
      }
      case 4:
      case 5: {
        int ret = io_.set_irq(static_cast<u32>(v % 26), static_cast<u32>((v >> 8) % 9), (v >> 16) & 1);
        EXPECT_GE(ret, -1);
        EXPECT_LE(ret, 2);  // the most the fake bus answers
        break;
      }
      case 6:
        io_.eoi(static_cast<u8>(v), (v >> 8) & 1);
        break;
      case 7:
        if ((r >> 40) % 64 == 0) {
          kvm_ioapic_state s;
          auto *p = reinterpret_cast<unsigned char *>(&s);
          for (size_t k = 0; k < sizeof(s); k++)
            p[k] = static_cast<unsigned char>(rng());
          if (v & 1)
            s.base_address = kBase;
          io_.set_state(s);
        } else if ((r >> 40) % 64 == 1) {
          io_.reset();
        } else {
          mk::user::advance_time(v % 20'000'000);
        }
        break;
    }
    bus_.ret = static_cast<int>(v % 4) - 1;
    if (bus_.msgs.size() > 100000)
      bus_.msgs.clear();
  }
  // Invariants that hold whatever came before.
  EXPECT_EQ(reg(0x01), 0x00170011u);
  kvm_ioapic_state s = state();
  EXPECT_EQ(s.irr >> Ioapic::kPins, 0u);
  io_.set_observer(nullptr);
}

// ---- Concurrency smoke test (vCPU threads, an ioctl thread, timers) ----

struct ThreadSafeBus : ApicBus {
  std::atomic<long> n{0};
  int deliver(const ApicMessage &, mk::irq::Lapic *) override {
    n++;
    return 1;
  }
};

TEST(IoapicThreads, ConcurrentPinsMmioAndEois) {
  ThreadSafeBus bus;
  TestIoapic io(bus);
  ASSERT_EQ(io.init(), 0);
  for (u32 pin = 0; pin < 8; pin++) {
    u64 sel = 0x10 + 2 * pin, e = entry(static_cast<u8>(0x30 + pin), pin & 1);
    io.write(kBase, 4, &sel);
    io.write(kBase + 0x10, 4, &e);
  }
  std::atomic<bool> stop{false};
  auto pins = [&](u32 seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 20000; i++) {
      u32 pin = rng() % 8;
      io.set_irq(pin, seed % mk::irq::kNrSources, rng() & 1);
    }
  };
  auto eois = [&] {
    u32 v = 0x30;
    while (!stop)
      io.eoi(static_cast<u8>(v++ % 8 + 0x30));
  };
  auto mmio = [&] {
    std::mt19937 rng(99);
    while (!stop) {
      u64 sel = 0x10 + rng() % 16, val = rng();
      u64 out;
      io.write(kBase, 4, &sel);
      if (rng() & 1)
        io.write(kBase + 0x10, 4, &val);
      else
        io.read(kBase + 0x10, 4, &out);
      kvm_ioapic_state s;
      io.get_state(&s);
    }
  };
  std::thread a(pins, 1), b(pins, 2), c(eois), d(mmio);
  a.join();
  b.join();
  stop = true;
  c.join();
  d.join();
  EXPECT_GT(bus.n.load(), 0);
}

}  // namespace
