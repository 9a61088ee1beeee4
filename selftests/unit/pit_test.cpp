// SPDX-License-Identifier: GPL-2.0
// The 8254 PIT (kmod/core/irq/pit.cpp) on the user platform's simulated
// clock. Expected counts are derived from the Intel 8254 datasheet's mode
// descriptions: d CLK pulses after a count N is loaded, at
// ceil(d * 1e9 / 1193182) ns, as the device rounds.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include <minikvm/platform.h>

#include "core/irq/pit.h"
#include "core/rt/errno.h"
#include "core/rt/new.h"
#include "user_platform.h"

using mk::u16;
using mk::u32;
using mk::u64;
using mk::u8;
using mk::irq::GsiSink;
using mk::irq::kSourcePit;
using mk::irq::Pit;

namespace {

constexpr u64 kHz = 1193182;

// The first ns at which `ticks` CLK pulses have passed.
u64 ns_for(u64 ticks) { return (ticks * 1'000'000'000ull + kHz - 1) / kHz; }

void advance_to(u64 t) {
  ASSERT_GE(t, mk::user::now_ns());
  mk::user::advance_time(t - mk::user::now_ns());
}

// A heap Pit (as the VM has it), and every use of it from this test. The
// test is built with RTTI and UBSan, whose vptr check at a member call,
// reference binding or delete of a polymorphic class needs that class's
// typeinfo, and the core (which emits Pit's vtable) is built without RTTI
// (see guest_mmu.h). The check is the caller's, so it is turned off for
// these forwarders only; the core itself is checked for everything else.
#define NO_VPTR __attribute__((no_sanitize("vptr")))
struct PitBox {
  Pit *p;
  NO_VPTR explicit PitBox(GsiSink &sink) : p(new (mk::nothrow) Pit(sink)) {}
  NO_VPTR ~PitBox() { delete p; }
  PitBox(const PitBox &) = delete;
  PitBox &operator=(const PitBox &) = delete;
  NO_VPTR int init() { return p->init(); }
  NO_VPTR int read(u64 port, u32 len, void *val) { return p->read(port, len, val); }
  NO_VPTR int write(u64 port, u32 len, const void *val) { return p->write(port, len, val); }
  NO_VPTR void get_state(kvm_pit_state2 *out) { p->get_state(out); }
  NO_VPTR void set_state(const kvm_pit_state2 &in) { p->set_state(in); }
  NO_VPTR void reset() { p->reset(); }
  NO_VPTR void set_reinject(bool on) { p->set_reinject(on); }
  NO_VPTR void irq_acked() { p->irq_acked(); }
  NO_VPTR void irq_mask_changed(bool masked) { p->irq_mask_changed(masked); }
};

// Records set_gsi calls. Optionally re-enters the PIT from set_gsi: the
// user platform aborts on a recursive spinlock, so this proves that the
// PIT does not hold its lock while raising the GSI.
class RecordingSink : public GsiSink {
 public:
  struct Call {
    u32 gsi, source;
    bool level;
  };
  int set_gsi(u32 gsi, u32 source, bool level) override {
    calls.push_back({gsi, source, level});
    if (reenter) {
      kvm_pit_state2 s;
      reenter->get_state(&s);
      u8 v;
      reenter->read(0x40, 1, &v);
    }
    return 1;
  }
  // Complete edges on GSI 0 from the PIT's source (high then low).
  int edges() const {
    int n = 0;
    for (size_t i = 0; i + 1 < calls.size(); i++)
      if (calls[i].gsi == 0 && calls[i].source == kSourcePit && calls[i].level && !calls[i + 1].level &&
          calls[i + 1].gsi == 0 && calls[i + 1].source == kSourcePit)
        n++;
    return n;
  }
  std::vector<Call> calls;
  PitBox *reenter = nullptr;
};

// A sink that never allocates (for leak accounting).
class NullSink : public GsiSink {
 public:
  int set_gsi(u32, u32, bool) override {
    n++;
    return 1;
  }
  int n = 0;
};

class PitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mk::user::reset_time();
    pit_ = std::make_unique<PitBox>(sink_);
    ASSERT_NE(pit_->p, nullptr);
    ASSERT_EQ(pit_->init(), 0);
  }
  void TearDown() override { pit_.reset(); }

  PitBox &pit() { return *pit_; }
  void out(u64 port, u8 v) { ASSERT_EQ(pit().write(port, 1, &v), 0); }
  u8 in(u64 port) {
    u8 v = 0xcc;
    EXPECT_EQ(pit().read(port, 1, &v), 0);
    return v;
  }
  // Control word for counter ch, LSB-then-MSB access.
  void control(int ch, int mode, bool bcd = false) { out(0x43, static_cast<u8>(ch << 6 | 3 << 4 | mode << 1 | bcd)); }
  // Control word + 16-bit count; returns the load time.
  u64 program(int ch, int mode, u16 count, bool bcd = false) {
    control(ch, mode, bcd);
    out(0x40 + ch, count & 0xff);
    out(0x40 + ch, count >> 8);
    return mk::user::now_ns();
  }
  u16 read16(int ch) {
    u8 lo = in(0x40 + ch);
    u8 hi = in(0x40 + ch);
    return static_cast<u16>(lo | hi << 8);
  }
  // Read-back of the status byte alone.
  u8 status(int ch) {
    out(0x43, static_cast<u8>(0xe0 | 2 << ch));
    return in(0x40 + ch);
  }
  bool out_pin(int ch) { return status(ch) & 0x80; }
  kvm_pit_state2 state() {
    kvm_pit_state2 s;
    memset(&s, 0xa5, sizeof(s));
    pit().get_state(&s);
    return s;
  }
  void gate2(bool high) { out(0x61, high ? 1 : 0); }

  RecordingSink sink_;
  std::unique_ptr<PitBox> pit_;
};

// ---- Lifetime -----------------------------------------------------------

TEST(PitLifetime, InitAllocationFailureLeaksNothing) {
  mk::user::reset_time();
  long timers = mk::user::armed_timers();
  long live = mk_alloc_live();
  for (long n = 0; n < 2; n++) {
    {
      NullSink sink;
      PitBox pit(sink);
      ASSERT_NE(pit.p, nullptr);
      mk::user::fail_alloc_after(n);
      EXPECT_EQ(pit.init(), -ENOMEM) << "failing allocation " << n;
      mk::user::fail_alloc_after(-1);
    }
    EXPECT_EQ(mk_alloc_live(), live) << "failing allocation " << n;
  }
  {
    NullSink sink;
    {
      PitBox pit(sink);
      ASSERT_NE(pit.p, nullptr);
      long before = mk_alloc_live();
      mk::user::fail_alloc_after(2);  // both allocations succeed
      EXPECT_EQ(pit.init(), 0);
      mk::user::fail_alloc_after(-1);
      EXPECT_EQ(mk_alloc_live(), before + 2);  // the lock and the timer
      // Channel 0 periodic: its timer is armed when the Pit goes away.
      u8 v = 0x34;
      pit.write(0x43, 1, &v);
      v = 0;
      pit.write(0x40, 1, &v);
      pit.write(0x40, 1, &v);
      EXPECT_EQ(mk::user::armed_timers(), timers + 1);
    }
    EXPECT_EQ(mk_alloc_live(), live);
    EXPECT_EQ(mk::user::armed_timers(), timers);
  }
}

TEST_F(PitTest, PowerOnState) {
  kvm_pit_state2 s = state();
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(s.channels[i].count, 0x10000u);
    EXPECT_EQ(s.channels[i].mode, 0xff);
    EXPECT_EQ(s.channels[i].gate, i != 2);
    EXPECT_EQ(s.channels[i].rw_mode, 0);
    EXPECT_EQ(s.channels[i].count_latched, 0);
    EXPECT_EQ(s.channels[i].status_latched, 0);
    EXPECT_EQ(s.channels[i].bcd, 0);
    EXPECT_EQ(static_cast<u64>(s.channels[i].count_load_time), mk::user::now_ns());
  }
  EXPECT_EQ(s.flags, 0u);
  for (u32 r : s.reserved)
    EXPECT_EQ(r, 0u);
  // Unprogrammed counters raise nothing.
  mk::user::advance_time(1'000'000'000);
  EXPECT_EQ(sink_.edges(), 0);
}

TEST_F(PitTest, OtherPortsAreNotClaimed) {
  for (u64 port : {0x3full, 0x44ull, 0x60ull, 0x62ull, 0x0ull, 0x10040ull, ~0ull}) {
    u8 v = 0;
    EXPECT_EQ(pit().read(port, 1, &v), -EOPNOTSUPP) << port;
    EXPECT_EQ(pit().write(port, 1, &v), -EOPNOTSUPP) << port;
  }
}

TEST_F(PitTest, ControlWordRegisterReadsZero) {
  EXPECT_EQ(in(0x43), 0);
  u32 v = 0xdeadbeef;
  EXPECT_EQ(pit().read(0x43, 4, &v), 0);
  EXPECT_EQ(v, 0u);
}

TEST_F(PitTest, WideAccessesUseTheLowByteAndZeroExtend) {
  u32 cw = 0xffffff34;  // counter 0, LSB/MSB, mode 2
  ASSERT_EQ(pit().write(0x43, 4, &cw), 0);
  u16 lo = 0xaae8, hi = 0x5503;  // count 0x03e8 = 1000
  ASSERT_EQ(pit().write(0x40, 2, &lo), 0);
  ASSERT_EQ(pit().write(0x40, 2, &hi), 0);
  EXPECT_EQ(state().channels[0].count, 1000u);
  EXPECT_EQ(state().channels[0].mode, 2);
  u64 v = ~0ull;
  ASSERT_EQ(pit().read(0x40, 8, &v), 0);
  EXPECT_EQ(v, 0xe8u);
  v = ~0ull;
  ASSERT_EQ(pit().read(0x40, 8, &v), 0);
  EXPECT_EQ(v, 0x03u);
  // len 0: nothing is read or written.
  EXPECT_EQ(pit().write(0x43, 0, nullptr), 0);
  EXPECT_EQ(pit().read(0x43, 0, nullptr), 0);
}

// ---- Channel 0 interrupts ------------------------------------------------

TEST_F(PitTest, Mode2RaisesAnEdgeEveryPeriod) {
  u64 t0 = program(0, 2, 11932);  // ~10 ms
  advance_to(t0 + ns_for(11932) - 1);
  EXPECT_EQ(sink_.edges(), 0);
  advance_to(t0 + ns_for(11932));
  EXPECT_EQ(sink_.edges(), 1);
  ASSERT_EQ(sink_.calls.size(), 2u);
  EXPECT_EQ(sink_.calls[0].gsi, 0u);
  EXPECT_EQ(sink_.calls[0].source, kSourcePit);
  EXPECT_TRUE(sink_.calls[0].level);
  EXPECT_FALSE(sink_.calls[1].level);
  // No drift: edge k at ceil(k * N / f).
  advance_to(t0 + ns_for(100 * 11932) - 1);
  EXPECT_EQ(sink_.edges(), 99);
  advance_to(t0 + ns_for(100 * 11932));
  EXPECT_EQ(sink_.edges(), 100);
  EXPECT_EQ(mk::user::next_timer_expiry(), t0 + ns_for(101 * 11932));
}

TEST_F(PitTest, Mode3RaisesAnEdgeEveryPeriodAndCountZeroIs65536) {
  u64 t0 = program(0, 3, 0);
  EXPECT_EQ(state().channels[0].count, 0x10000u);
  advance_to(t0 + ns_for(65536) - 1);
  EXPECT_EQ(sink_.edges(), 0);
  advance_to(t0 + 1'000'000'000);
  EXPECT_EQ(sink_.edges(), 18);  // 1 s / 54.925 ms
}

TEST_F(PitTest, PeriodicInterruptsAreClampedTo200us) {
  u64 t0 = program(0, 2, 2);  // 1.7 us asked
  EXPECT_EQ(mk::user::next_timer_expiry(), t0 + 200'000);
  advance_to(t0 + 1'000'000);
  EXPECT_EQ(sink_.edges(), 5);
  // The count itself still runs at 1.193182 MHz.
  advance_to(t0 + ns_for(1195));
  EXPECT_EQ(read16(0), 1);
  advance_to(t0 + ns_for(1196));
  EXPECT_EQ(read16(0), 2);
  // One-shots are not clamped.
  sink_.calls.clear();
  t0 = program(0, 0, 2);
  EXPECT_EQ(mk::user::next_timer_expiry(), t0 + ns_for(2));
  mk::user::advance_time(1'000'000);
  EXPECT_EQ(sink_.edges(), 1);
}

TEST_F(PitTest, Mode0RaisesOneEdgeAtTerminalCount) {
  u64 t0 = program(0, 0, 1193);
  EXPECT_FALSE(out_pin(0));
  advance_to(t0 + ns_for(1193) - 1);
  EXPECT_EQ(sink_.edges(), 0);
  EXPECT_FALSE(out_pin(0));
  advance_to(t0 + ns_for(1193));
  EXPECT_EQ(sink_.edges(), 1);
  EXPECT_TRUE(out_pin(0));
  mk::user::advance_time(1'000'000'000);
  EXPECT_EQ(sink_.edges(), 1);
  EXPECT_TRUE(out_pin(0));
  EXPECT_EQ(mk::user::armed_timers(), 0);
}

TEST_F(PitTest, Mode4RaisesOneEdgeAfterTheStrobe) {
  u64 t0 = program(0, 4, 100);
  EXPECT_TRUE(out_pin(0));
  advance_to(t0 + ns_for(100));
  EXPECT_FALSE(out_pin(0));  // the one-CLK strobe
  EXPECT_EQ(sink_.edges(), 0);
  advance_to(t0 + ns_for(101));
  EXPECT_TRUE(out_pin(0));
  EXPECT_EQ(sink_.edges(), 1);
  mk::user::advance_time(1'000'000'000);
  EXPECT_EQ(sink_.edges(), 1);
}

TEST_F(PitTest, Modes1And5NeverTriggerOnChannel0) {
  for (int mode : {1, 5}) {
    program(0, mode, 100);
    u8 st = status(0);
    EXPECT_EQ(st & 0x80, 0x80) << "OUT high until triggered, mode " << mode;
    EXPECT_EQ(st & 0x40, 0x40) << "NULL COUNT until the trigger loads the CE, mode " << mode;
    EXPECT_EQ((st >> 1) & 7, mode);
    mk::user::advance_time(1'000'000'000);
    EXPECT_EQ(sink_.edges(), 0) << mode;
  }
}

TEST_F(PitTest, ControlWordStopsChannel0UntilACountIsWritten) {
  u64 t0 = program(0, 2, 1193);
  advance_to(t0 + ns_for(3 * 1193));
  EXPECT_EQ(sink_.edges(), 3);
  control(0, 2);
  EXPECT_EQ(status(0) & 0x40, 0x40);
  mk::user::advance_time(1'000'000'000);
  EXPECT_EQ(sink_.edges(), 3);
  out(0x40, 1193 & 0xff);
  out(0x40, 1193 >> 8);
  u64 t1 = mk::user::now_ns();
  advance_to(t1 + ns_for(2 * 1193));
  EXPECT_EQ(sink_.edges(), 5);
}

TEST_F(PitTest, Mode0FirstByteOfTwoStopsCounting) {
  control(0, 0);
  out(0x40, 11932 & 0xff);
  mk::user::advance_time(1'000'000'000);
  EXPECT_EQ(sink_.edges(), 0);
  EXPECT_EQ(status(0) & 0xc0, 0x40);  // OUT low, NULL COUNT
  out(0x40, 11932 >> 8);
  u64 t0 = mk::user::now_ns();
  advance_to(t0 + ns_for(11932));
  EXPECT_EQ(sink_.edges(), 1);
  // Rewriting the first byte of a running mode 0 count stops it too.
  program(0, 0, 11932);
  out(0x40, 0x10);
  mk::user::advance_time(1'000'000'000);
  EXPECT_EQ(sink_.edges(), 1);
  EXPECT_FALSE(out_pin(0));
}

TEST_F(PitTest, ReprogrammingChangesTheRateFromTheNewLoad) {
  u64 t0 = program(0, 2, 11932);
  advance_to(t0 + ns_for(11932) + 5'000'000);
  EXPECT_EQ(sink_.edges(), 1);
  u64 t1 = program(0, 2, 1193);
  advance_to(t1 + ns_for(10 * 1193));
  EXPECT_EQ(sink_.edges(), 11);
  // The outdated expiry (t0 + 2 periods) fired with nothing due: no extra edge.
  EXPECT_EQ(mk::user::next_timer_expiry(), t1 + ns_for(11 * 1193));
}

TEST_F(PitTest, GsiIsRaisedWithoutThePitLockHeld) {
  sink_.reenter = &pit();
  u64 t0 = program(0, 2, 1193);
  advance_to(t0 + ns_for(5 * 1193));
  EXPECT_EQ(sink_.edges(), 5);
  pit().set_reinject(true);
  advance_to(mk::user::now_ns() + 3'000'000);
  pit().irq_acked();
  pit().irq_acked();
  EXPECT_GE(sink_.edges(), 7);
}

TEST_F(PitTest, HpetLegacyModeSilencesChannel0) {
  u64 t0 = program(0, 2, 1193);
  advance_to(t0 + ns_for(1193));
  EXPECT_EQ(sink_.edges(), 1);
  kvm_pit_state2 s = state();
  s.flags = KVM_PIT_FLAGS_HPET_LEGACY;
  pit().set_state(s);
  EXPECT_EQ(state().flags, u32{KVM_PIT_FLAGS_HPET_LEGACY});
  u16 before = read16(0);
  mk::user::advance_time(ns_for(100));
  EXPECT_EQ(read16(0), before - 100);  // the counter still counts
  mk::user::advance_time(100'000'000);
  EXPECT_EQ(sink_.edges(), 1);
  s.flags = 0;
  pit().set_state(s);
  mk::user::advance_time(ns_for(2 * 1193));
  EXPECT_EQ(sink_.edges(), 3);
}

TEST_F(PitTest, Channels1And2RaiseNothing) {
  program(1, 2, 100);
  gate2(true);
  program(2, 3, 100);
  u16 c1 = read16(1);
  mk::user::advance_time(ns_for(10));
  EXPECT_NE(read16(1), c1);
  mk::user::advance_time(1'000'000'000);
  EXPECT_EQ(sink_.calls.size(), 0u);
  EXPECT_EQ(mk::user::armed_timers(), 0);
}

// ---- Reading counts ---------------------------------------------------------

TEST_F(PitTest, TwoByteReadsUseTheFlipFlop) {
  u64 t0 = program(0, 2, 1000);
  EXPECT_EQ(read16(0), 1000);
  advance_to(t0 + ns_for(300));
  EXPECT_EQ(read16(0), 700);
  // Unlatched bytes are sampled when read: LSB at d = 300, MSB at d = 800.
  EXPECT_EQ(in(0x40), 700 & 0xff);
  advance_to(t0 + ns_for(800));
  EXPECT_EQ(in(0x40), 200 >> 8);
  // The flip-flop is back on the LSB.
  EXPECT_EQ(in(0x40), 200 & 0xff);
  EXPECT_EQ(state().channels[0].read_state, 4);  // WORD1: MSB next
}

TEST_F(PitTest, LsbOnlyAndMsbOnlyAccess) {
  out(0x43, 0x40 | 1 << 4 | 2 << 1);  // counter 1, LSB only, mode 2
  out(0x41, 0x50);
  EXPECT_EQ(state().channels[1].count, 0x50u);
  EXPECT_EQ(in(0x41), 0x50);
  EXPECT_EQ(in(0x41), 0x50);  // no flip-flop
  out(0x43, 0x40 | 2 << 4 | 2 << 1);  // counter 1, MSB only, mode 2
  out(0x41, 0x12);
  EXPECT_EQ(state().channels[1].count, 0x1200u);
  EXPECT_EQ(in(0x41), 0x12);
  mk::user::advance_time(ns_for(0x100));
  EXPECT_EQ(in(0x41), 0x11);
  // LSB-only 0 is the largest count.
  out(0x43, 0x40 | 1 << 4 | 2 << 1);
  out(0x41, 0);
  EXPECT_EQ(state().channels[1].count, 0x10000u);
}

TEST_F(PitTest, CounterLatchCommandHoldsTheCount) {
  u64 t0 = program(0, 2, 1000);
  advance_to(t0 + ns_for(100));
  out(0x43, 0x00);  // latch counter 0
  advance_to(t0 + ns_for(200));
  out(0x43, 0x00);  // ignored: the first latch is not read yet
  EXPECT_EQ(state().channels[0].count_latched, 3);
  EXPECT_EQ(state().channels[0].latched_count, 900);
  EXPECT_EQ(in(0x40), 900 & 0xff);
  advance_to(t0 + ns_for(300));
  EXPECT_EQ(in(0x40), 900 >> 8);
  // Released after both bytes: the live count again.
  EXPECT_EQ(read16(0), 700);
  // Latch with LSB-only / MSB-only access reads one byte.
  out(0x43, 0x40 | 2 << 4 | 2 << 1);
  out(0x41, 0x30);  // count 0x3000
  mk::user::advance_time(ns_for(0x100));
  out(0x43, 0x40);
  mk::user::advance_time(ns_for(0x100));
  EXPECT_EQ(in(0x41), 0x2f);
  EXPECT_EQ(in(0x41), 0x2e);  // live
}

TEST_F(PitTest, ReprogrammingReleasesTheLatch) {
  program(0, 2, 1000);
  out(0x43, 0x00);
  EXPECT_EQ(state().channels[0].count_latched, 3);
  program(0, 2, 500);
  EXPECT_EQ(state().channels[0].count_latched, 0);
  EXPECT_EQ(read16(0), 500);
}

TEST_F(PitTest, ReadBackReturnsStatusThenCount) {
  u64 t0 = program(0, 2, 1000);
  advance_to(t0 + ns_for(10));
  out(0x43, 0xc2);  // read-back counter 0: count and status
  mk::user::advance_time(ns_for(100));
  u8 st = in(0x40);
  EXPECT_EQ(st, 0x80 | 3 << 4 | 2 << 1);  // OUT high, NULL 0, LSB/MSB, mode 2, binary
  EXPECT_EQ(read16(0), 990);
  EXPECT_EQ(read16(0), 890);
}

TEST_F(PitTest, ReadBackLatchesSeveralCounters) {
  program(0, 2, 1000);
  program(1, 2, 2000);
  gate2(true);
  program(2, 0, 3000);
  mk::user::advance_time(ns_for(100));
  out(0x43, 0xde);  // count only, counters 0-2
  mk::user::advance_time(ns_for(500));
  EXPECT_EQ(read16(0), 900);
  EXPECT_EQ(read16(1), 1900);
  EXPECT_EQ(read16(2), 2900);
  // Status only, counters 1 and 2; a second status latch is ignored.
  out(0x43, 0xec);
  mk::user::advance_time(ns_for(3000));
  out(0x43, 0xec);
  EXPECT_EQ(in(0x41), 0x80 | 3 << 4 | 2 << 1);
  EXPECT_EQ(in(0x42), 0x00 | 3 << 4 | 0 << 1);  // latched before terminal count: OUT low
  EXPECT_EQ(status(2), 0x80 | 3 << 4);           // now OUT high
  // Counter 0 was not selected: nothing latched.
  EXPECT_EQ(state().channels[0].status_latched, 0);
  EXPECT_EQ(state().channels[0].count_latched, 0);
  // Bit 0 of a read-back is reserved: ignored.
  out(0x43, 0xe3);
  EXPECT_EQ(state().channels[0].status_latched, 1);
}

TEST_F(PitTest, StatusByteReportsBcdAndNullCount) {
  control(1, 3, true);
  EXPECT_EQ(status(1), 0x80 | 0x40 | 3 << 4 | 3 << 1 | 1);
  out(0x41, 0x00);
  EXPECT_EQ(status(1) & 0x40, 0x40);  // half a count written
  out(0x41, 0x10);
  EXPECT_EQ(status(1) & 0x40, 0);
  control(0, 0);
  EXPECT_EQ(status(0), 0x40 | 3 << 4);  // mode 0 after a control word: OUT low
}

TEST_F(PitTest, Mode0CountWrapsAfterTerminalCount) {
  u64 t0 = program(1, 0, 100);
  advance_to(t0 + ns_for(99));
  EXPECT_EQ(read16(1), 1);
  EXPECT_FALSE(out_pin(1));
  advance_to(t0 + ns_for(100));
  EXPECT_EQ(read16(1), 0);
  EXPECT_TRUE(out_pin(1));
  advance_to(t0 + ns_for(101));
  EXPECT_EQ(read16(1), 0xffff);
  advance_to(t0 + ns_for(100 + 65536 + 5));
  EXPECT_EQ(read16(1), 0xfffb);
  EXPECT_TRUE(out_pin(1));
}

TEST_F(PitTest, Mode2CountsDownAndPulsesOutLow) {
  u64 t0 = program(1, 2, 5);
  const u16 ce[] = {5, 4, 3, 2, 1, 5, 4, 3, 2, 1, 5};
  for (u64 d = 0; d < 11; d++) {
    advance_to(t0 + ns_for(d));
    EXPECT_EQ(read16(1), ce[d]) << d;
    EXPECT_EQ(out_pin(1), ce[d] != 1) << d;
  }
}

TEST_F(PitTest, Mode3SquareWaveEvenAndOddCounts) {
  u64 t0 = program(1, 3, 6);
  const u16 even_ce[] = {6, 4, 2, 6, 4, 2, 6};
  const bool even_out[] = {1, 1, 1, 0, 0, 0, 1};
  for (u64 d = 0; d < 7; d++) {
    advance_to(t0 + ns_for(d));
    EXPECT_EQ(read16(1), even_ce[d]) << d;
    EXPECT_EQ(out_pin(1), even_out[d]) << d;
  }
  // Odd N: high for (N + 1) / 2 pulses, low for (N - 1) / 2, counting
  // by two from N - 1.
  t0 = program(1, 3, 5);
  const u16 odd_ce[] = {4, 2, 0, 4, 2, 4};
  const bool odd_out[] = {1, 1, 1, 0, 0, 1};
  for (u64 d = 0; d < 6; d++) {
    advance_to(t0 + ns_for(d));
    EXPECT_EQ(read16(1), odd_ce[d]) << d;
    EXPECT_EQ(out_pin(1), odd_out[d]) << d;
  }
}

TEST_F(PitTest, Mode4StrobeIsOneClockLow) {
  u64 t0 = program(1, 4, 10);
  for (u64 d : {0ull, 9ull, 10ull, 11ull, 500ull}) {
    advance_to(t0 + ns_for(d));
    EXPECT_EQ(out_pin(1), d != 10) << d;
  }
  EXPECT_EQ(read16(1), static_cast<u16>(10 - 500));
}

TEST_F(PitTest, Modes6And7AreModes2And3) {
  control(1, 6);
  EXPECT_EQ(state().channels[1].mode, 2);
  EXPECT_EQ((status(1) >> 1) & 7, 2);
  control(1, 7);
  EXPECT_EQ(state().channels[1].mode, 3);
  // And they behave like 2 and 3: channel 0 periodic.
  control(0, 6);
  out(0x40, 1193 & 0xff);
  out(0x40, 1193 >> 8);
  mk::user::advance_time(ns_for(3 * 1193));
  EXPECT_EQ(sink_.edges(), 3);
}

TEST_F(PitTest, BcdCounting) {
  u64 t0 = program(1, 2, 0x1234, true);
  EXPECT_EQ(read16(1), 0x1234);
  advance_to(t0 + ns_for(235));
  EXPECT_EQ(read16(1), 0x0999);
  advance_to(t0 + ns_for(1234));
  EXPECT_EQ(read16(1), 0x1234);  // reloaded after 1234 pulses
  // Mode 0 wraps to 9999.
  t0 = program(1, 0, 0x0005, true);
  advance_to(t0 + ns_for(6));
  EXPECT_EQ(read16(1), 0x9999);
  // BCD count 0 is 10^4: channel 0's period is 10000 pulses.
  t0 = program(0, 2, 0, true);
  EXPECT_EQ(mk::user::next_timer_expiry(), t0 + ns_for(10000));
  EXPECT_EQ(read16(0), 0x0000);
  advance_to(t0 + ns_for(1));
  EXPECT_EQ(read16(0), 0x9999);
  // Digits above 9 are not checked by the 8254: bounded, no crash.
  t0 = program(1, 2, 0xffff, true);
  advance_to(t0 + ns_for(7));
  u16 v = read16(1);
  for (int shift = 0; shift < 16; shift += 4)
    EXPECT_LE((v >> shift) & 0xf, 9) << std::hex << v;
}

// ---- Channel 2 and port 0x61 -------------------------------------------------

TEST_F(PitTest, Port61Bits) {
  EXPECT_EQ(in(0x61) & 0xef, 0x00);
  out(0x61, 0x03);
  u8 v = in(0x61);
  EXPECT_EQ(v & 0x0f, 0x03);
  EXPECT_EQ(state().flags, u32{KVM_PIT_FLAGS_SPEAKER_DATA_ON});
  EXPECT_EQ(state().channels[2].gate, 1);
  out(0x61, 0x0c);  // NMI enables: not PIT state, read as 0
  EXPECT_EQ(in(0x61) & 0x0f, 0x00);
  EXPECT_EQ(state().flags, 0u);
  EXPECT_EQ(in(0x61) & 0xc0, 0x00);
  // The refresh toggle follows bit 14 of the clock.
  u64 t = mk::user::now_ns();
  advance_to((t | 0x3fff) + 1);
  bool r0 = in(0x61) & 0x10;
  mk::user::advance_time(0x4000);
  bool r1 = in(0x61) & 0x10;
  EXPECT_NE(r0, r1);
}

// Linux's pit_calibrate_tsc()/pit_hpet_ptimer_calibrate_cpu(): GATE2 high,
// speaker off, counter 2 in mode 0, poll OUT2 through port 0x61 bit 5.
TEST_F(PitTest, LinuxTscCalibrationSequence) {
  out(0x61, (in(0x61) & ~0x02) | 0x01);
  out(0x43, 0xb0);
  out(0x42, 11932 & 0xff);
  out(0x42, 11932 >> 8);
  u64 t0 = mk::user::now_ns();
  EXPECT_EQ(in(0x61) & 0x20, 0);
  advance_to(t0 + ns_for(11932) - 1);
  EXPECT_EQ(in(0x61) & 0x20, 0);
  advance_to(t0 + ns_for(11932));
  EXPECT_EQ(in(0x61) & 0x20, 0x20);
  // quick_pit_calibrate(): count 0xffff, MSB read after a discarded LSB.
  out(0x43, 0xb0);
  out(0x42, 0xff);
  out(0x42, 0xff);
  t0 = mk::user::now_ns();
  advance_to(t0 + ns_for(256 * 3 + 5));
  in(0x42);
  EXPECT_EQ(in(0x42), 0xfc);
}

TEST_F(PitTest, Gate2LowHoldsModes0And4) {
  for (int mode : {0, 4}) {
    gate2(false);
    u64 t0 = program(2, mode, 1000);
    advance_to(t0 + ns_for(100));
    EXPECT_EQ(read16(2), 1000) << mode;
    gate2(true);
    u64 t1 = mk::user::now_ns();
    advance_to(t1 + ns_for(300));
    EXPECT_EQ(read16(2), 700) << mode;
    gate2(false);
    mk::user::advance_time(ns_for(5000));
    EXPECT_EQ(read16(2), 700) << mode;
    EXPECT_EQ(out_pin(2), mode == 4) << mode;
    gate2(true);
    t1 = mk::user::now_ns();
    advance_to(t1 + ns_for(700));
    EXPECT_EQ(read16(2), 0) << mode;
    EXPECT_EQ(out_pin(2), mode == 0) << mode;
  }
}

TEST_F(PitTest, Gate2TriggersMode1) {
  gate2(true);
  program(2, 1, 100);
  mk::user::advance_time(ns_for(1000));
  EXPECT_TRUE(out_pin(2));  // a level is no trigger
  gate2(false);
  gate2(true);
  u64 t0 = mk::user::now_ns();
  EXPECT_EQ(status(2) & 0xc0, 0);  // OUT low, CE loaded
  EXPECT_EQ(read16(2), 100);
  advance_to(t0 + ns_for(99));
  EXPECT_FALSE(out_pin(2));
  EXPECT_EQ(read16(2), 1);
  advance_to(t0 + ns_for(100));
  EXPECT_TRUE(out_pin(2));
  // Retrigger restarts the one-shot; GATE low does not stop it.
  gate2(false);
  gate2(true);
  t0 = mk::user::now_ns();
  gate2(false);
  advance_to(t0 + ns_for(50));
  EXPECT_FALSE(out_pin(2));
  EXPECT_EQ(read16(2), 50);
}

TEST_F(PitTest, Gate2Mode5Strobe) {
  gate2(false);
  program(2, 5, 10);
  mk::user::advance_time(ns_for(100));
  EXPECT_TRUE(out_pin(2));
  gate2(true);
  u64 t0 = mk::user::now_ns();
  advance_to(t0 + ns_for(10));
  EXPECT_FALSE(out_pin(2));
  advance_to(t0 + ns_for(11));
  EXPECT_TRUE(out_pin(2));
}

TEST_F(PitTest, Gate2LowInModes2And3ForcesOutHighAndRisingEdgeReloads) {
  for (int mode : {2, 3}) {
    gate2(true);
    u64 t0 = program(2, mode, 10);
    advance_to(t0 + ns_for(mode == 2 ? 9 : 7));
    EXPECT_FALSE(out_pin(2)) << mode;
    u16 held = read16(2);
    gate2(false);
    EXPECT_TRUE(out_pin(2)) << mode;
    mk::user::advance_time(ns_for(3));
    EXPECT_EQ(read16(2), held) << mode;
    gate2(true);
    u64 t1 = mk::user::now_ns();
    EXPECT_EQ(read16(2), 10) << mode;
    advance_to(t1 + ns_for(2));
    EXPECT_EQ(read16(2), mode == 2 ? 8 : 6) << mode;
  }
}

// ---- KVM_GET/SET_PIT2 --------------------------------------------------------

TEST_F(PitTest, StateRoundTrip) {
  program(0, 2, 1193);
  out(0x43, 0x40 | 1 << 4 | 3 << 1 | 1);  // counter 1 LSB-only mode 3 BCD
  out(0x41, 0x99);
  out(0x61, 0x03);
  control(2, 4);
  out(0x42, 0x34);  // half a count: write_latch, WORD1
  out(0x43, 0x00);  // counter 0's count latched
  out(0x43, 0xe8);  // counter 2's status latched
  mk::user::advance_time(12345);
  kvm_pit_state2 a = state();
  EXPECT_EQ(a.channels[2].write_state, 4);
  EXPECT_EQ(a.channels[2].write_latch, 0x34);
  EXPECT_EQ(a.channels[0].count_latched, 3);
  EXPECT_EQ(a.channels[2].status_latched, 1);

  RecordingSink sink2;
  PitBox other(sink2);
  ASSERT_EQ(other.init(), 0);
  mk::user::advance_time(1000);
  other.set_state(a);
  kvm_pit_state2 b;
  other.get_state(&b);
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(static_cast<u64>(b.channels[i].count_load_time), mk::user::now_ns()) << i;
    b.channels[i].count_load_time = a.channels[i].count_load_time;
  }
  EXPECT_EQ(memcmp(&a, &b, sizeof(a)), 0);
  // The latched bytes survive; counter 0 runs again from its count.
  u8 lo, hi;
  other.read(0x40, 1, &lo);
  other.read(0x40, 1, &hi);
  EXPECT_EQ(lo | hi << 8, a.channels[0].latched_count);
  u64 t0 = mk::user::now_ns();
  advance_to(t0 + ns_for(3 * 1193));
  EXPECT_EQ(sink2.edges(), 3);
}

TEST_F(PitTest, SetStateReloadsAndReArmsChannel0) {
  kvm_pit_state2 s = state();
  s.channels[0].mode = 0;
  s.channels[0].rw_mode = 3;
  s.channels[0].read_state = 3;
  s.channels[0].write_state = 3;
  s.channels[0].count = 11932;
  s.channels[0].count_load_time = 0;  // ignored
  mk::user::advance_time(5'000'000);
  pit().set_state(s);
  u64 t0 = mk::user::now_ns();
  EXPECT_EQ(read16(0), 11932);
  advance_to(t0 + ns_for(11932));
  EXPECT_EQ(sink_.edges(), 1);
  // Mode 0 restored again fires again (as KVM's pit_load_count).
  pit().set_state(s);
  mk::user::advance_time(20'000'000);
  EXPECT_EQ(sink_.edges(), 2);
}

TEST_F(PitTest, SetStateBringsHostileValuesInRange) {
  kvm_pit_state2 s;
  memset(&s, 0xff, sizeof(s));
  s.channels[1].mode = 6;
  s.channels[2].mode = 0x0d;
  s.channels[0].count = 0x12345;
  s.channels[1].count = 0;
  s.channels[0].gate = 0;
  s.channels[1].rw_mode = 2;
  s.channels[1].read_state = 4;
  pit().set_state(s);
  kvm_pit_state2 g = state();
  EXPECT_EQ(g.channels[0].mode, 0xff);
  EXPECT_EQ(g.channels[1].mode, 2);
  EXPECT_EQ(g.channels[2].mode, 0xff);
  EXPECT_EQ(g.channels[0].count, 0x2345u);
  EXPECT_EQ(g.channels[1].count, 0x10000u);
  EXPECT_EQ(g.channels[2].count, 0xffffu);  // 16 bits of 0xffffffff
  EXPECT_EQ(g.channels[0].gate, 1);          // tied high
  EXPECT_EQ(g.channels[2].gate, 1);
  EXPECT_EQ(g.channels[0].rw_mode, 1);
  EXPECT_EQ(g.channels[1].rw_mode, 2);
  EXPECT_EQ(g.channels[0].read_state, 1);
  EXPECT_EQ(g.channels[1].read_state, 4);
  EXPECT_EQ(g.channels[0].write_state, 1);
  EXPECT_EQ(g.channels[0].count_latched, 1);
  EXPECT_EQ(g.channels[0].status_latched, 1);
  EXPECT_EQ(g.channels[0].bcd, 1);
  EXPECT_EQ(g.flags, u32{KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON});
  for (u32 r : g.reserved)
    EXPECT_EQ(r, 0u);
  // Everything still works.
  EXPECT_EQ(in(0x40), 0xff);  // the latched status
  in(0x40);
  in(0x41);
  in(0x61);
  mk::user::advance_time(1'000'000'000);
  EXPECT_EQ(sink_.edges(), 0);  // HPET legacy
}

TEST_F(PitTest, ResetRestoresPowerOnState) {
  kvm_pit_state2 fresh = state();
  program(0, 2, 1193);
  out(0x61, 3);
  program(2, 3, 77);
  mk::user::advance_time(ns_for(1193));
  EXPECT_EQ(sink_.edges(), 1);
  pit().reset();
  kvm_pit_state2 s = state();
  for (int i = 0; i < 3; i++) {
    EXPECT_EQ(static_cast<u64>(s.channels[i].count_load_time), mk::user::now_ns());
    s.channels[i].count_load_time = fresh.channels[i].count_load_time;
  }
  EXPECT_EQ(memcmp(&s, &fresh, sizeof(s)), 0);
  // The armed timer fires once, finds nothing to do and stops.
  mk::user::advance_time(1'000'000'000);
  EXPECT_EQ(sink_.edges(), 1);
  EXPECT_EQ(mk::user::armed_timers(), 0);
}

// ---- Reinjection ---------------------------------------------------------

TEST_F(PitTest, ReinjectRaisesOneTickPerAck) {
  pit().set_reinject(true);
  u64 t0 = program(0, 2, 1193);
  advance_to(t0 + ns_for(5 * 1193));
  EXPECT_EQ(sink_.edges(), 1);  // the guest has not acked the first yet
  for (int i = 0; i < 4; i++) {
    pit().irq_acked();
    EXPECT_EQ(sink_.edges(), 2 + i);
  }
  pit().irq_acked();  // the fifth: nothing left
  EXPECT_EQ(sink_.edges(), 5);
  advance_to(t0 + ns_for(6 * 1193));
  EXPECT_EQ(sink_.edges(), 6);  // acked: the next tick goes out at once
}

TEST_F(PitTest, ReinjectDropsTicksMissedWhileMasked) {
  pit().set_reinject(true);
  u64 t0 = program(0, 2, 1193);
  advance_to(t0 + ns_for(5 * 1193));
  EXPECT_EQ(sink_.edges(), 1);
  pit().irq_mask_changed(true);
  pit().irq_acked();
  EXPECT_EQ(sink_.edges(), 2);
  pit().irq_mask_changed(false);  // pending dropped, ack state reset
  pit().irq_acked();
  EXPECT_EQ(sink_.edges(), 2);
  advance_to(t0 + ns_for(6 * 1193));
  EXPECT_EQ(sink_.edges(), 3);
  // Turning reinjection off: every tick goes out again.
  pit().set_reinject(false);
  advance_to(t0 + ns_for(10 * 1193));
  EXPECT_EQ(sink_.edges(), 7);
}

TEST_F(PitTest, WithoutReinjectEveryTickIsRaised) {
  u64 t0 = program(0, 2, 1193);
  advance_to(t0 + ns_for(50 * 1193));
  EXPECT_EQ(sink_.edges(), 50);
  pit().irq_acked();  // no effect
  EXPECT_EQ(sink_.edges(), 50);
}

// ---- Hostile guests and long uptimes -----------------------------------------

TEST_F(PitTest, RandomAccessesAreHarmless) {
  std::mt19937_64 rng(8254);
  const u64 ports[] = {0x40, 0x41, 0x42, 0x43, 0x61};
  for (int i = 0; i < 200'000; i++) {
    u64 port = ports[rng() % 5];
    u32 len = 1u << (rng() % 4);
    u64 v = rng();
    switch (rng() % 8) {
      case 0:
        pit().read(port, len, &v);
        break;
      case 1:
        mk::user::advance_time(rng() % 3'000'000);
        break;
      case 2:
        if (rng() % 64 == 0) {
          kvm_pit_state2 s;
          u8 *p = reinterpret_cast<u8 *>(&s);
          for (size_t b = 0; b < sizeof(s); b++)
            p[b] = static_cast<u8>(rng());
          pit().set_state(s);
        } else if (rng() % 64 == 0) {
          pit().reset();
        } else {
          kvm_pit_state2 s;
          pit().get_state(&s);
          ASSERT_LE(s.channels[0].count, 0x10000u);
          ASSERT_GE(s.channels[0].count, 1u);
        }
        break;
      case 3:
        if (rng() % 16 == 0)
          pit().irq_acked();
        else if (rng() % 16 == 0)
          pit().set_reinject(rng() & 1);
        break;
      default:
        pit().write(port, len, &v);
        break;
    }
  }
  mk::user::advance_time(1'000'000'000);
  // The sequence did reach channel 0's interrupts (seeded: deterministic).
  EXPECT_GT(sink_.edges(), 100);
}

TEST_F(PitTest, LongUptimeArithmetic) {
  // A host up for ~100 days, then an hour of 18.2 Hz ticks.
  mk::user::advance_time(100ull * 86400 * 1'000'000'000);
  u64 t0 = program(0, 3, 0);
  advance_to(t0 + 3600ull * 1'000'000'000);
  EXPECT_EQ(sink_.edges(), static_cast<int>(3600ull * kHz / 65536));
  // Counter 1 in mode 0 read after an hour: wrapped many times, exact.
  u64 t1 = program(1, 0, 1000);
  u64 d = 3600ull * kHz + 12345;
  advance_to(t1 + ns_for(d));
  EXPECT_EQ(read16(1), static_cast<u16>(1000 - d));
}

TEST_F(PitTest, ConcurrentPortAccess) {
  program(0, 2, 1193);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([this, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 20'000; i++) {
        u8 v = static_cast<u8>(rng());
        u64 port = 0x40 + rng() % 4;
        if (rng() & 1)
          pit().write(port, 1, &v);
        else
          pit().read(port, 1, &v);
        if (i % 1000 == 0) {
          kvm_pit_state2 s;
          pit().get_state(&s);
        }
      }
    });
  }
  for (auto &th : threads)
    th.join();
  mk::user::advance_time(100'000'000);
}

}  // namespace
