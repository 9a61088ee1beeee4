// SPDX-License-Identifier: GPL-2.0
// The 8259A pair (kmod/core/irq/pic.cpp): the ICW/OCW programming model of
// the 8259A datasheet, the PC wiring (cascade on IR2, ELCR), KVM's
// conventions (kvm_pic_set_irq return values, kvm_pic_state) and hostile
// input. Every host callback of the fake re-enters the Pic (intr() and
// get_state()), so a callback made under the Pic's lock aborts the test
// (the user platform's spinlocks catch recursion).
#include <gtest/gtest.h>

#include <linux/kvm.h>
#include <minikvm/platform.h>

#include <cstring>
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "core/irq/pic.h"
#include "core/rt/errno.h"
#include "core/rt/new.h"
#include "user_platform.h"

using mk::u16;
using mk::u32;
using mk::u64;
using mk::u8;
using mk::irq::kNrSources;
using mk::irq::kSourcePit;
using mk::irq::kSourceUserspace;
using mk::irq::Pic;
using mk::irq::PicHost;

namespace {

// A heap Pic (as the VM has it), and every use of it from this test. The
// test is built with RTTI and UBSan, whose vptr check at a member call,
// reference binding or delete of a polymorphic class needs that class's
// typeinfo, and the core (which emits Pic's vtable) is built without RTTI
// (see guest_mmu.h). The check is the caller's, so it is turned off for
// these forwarders only; the core itself is checked for everything else.
#define NO_VPTR __attribute__((no_sanitize("vptr")))
struct PicBox {
  Pic *p;
  NO_VPTR explicit PicBox(PicHost &host) : p(new (mk::nothrow) Pic(host)) {}
  NO_VPTR ~PicBox() { delete p; }
  PicBox(const PicBox &) = delete;
  PicBox &operator=(const PicBox &) = delete;
  bool ok() const { return p != nullptr; }
  NO_VPTR int init() { return p->init(); }
  NO_VPTR int set_irq(u32 irq, u32 source, bool level) { return p->set_irq(irq, source, level); }
  NO_VPTR void clear_source(u32 source) { p->clear_source(source); }
  NO_VPTR bool intr() { return p->intr(); }
  NO_VPTR u8 acknowledge() { return p->acknowledge(); }
  NO_VPTR int read(u64 port, u32 len, void *val) { return p->read(port, len, val); }
  NO_VPTR int write(u64 port, u32 len, const void *val) { return p->write(port, len, val); }
  NO_VPTR void get_state(u32 chip, kvm_pic_state *out) { p->get_state(chip, out); }
  NO_VPTR void set_state(u32 chip, const kvm_pic_state &in) { p->set_state(chip, in); }
  NO_VPTR void reset() { p->reset(); }
};

struct FakeHost : PicHost {
  PicBox *pic = nullptr;
  int intr_changes = 0;
  bool intr_at_last_change = false;
  std::vector<u32> acked;
  std::vector<std::pair<u32, bool>> masks;
  bool accepted = true;
  int accepted_queries = 0;

  void reenter() {
    // Takes the Pic's lock: aborts if the caller still holds it.
    kvm_pic_state s;
    pic->get_state(0, &s);
  }
  void pic_intr_changed() override {
    reenter();
    intr_changes++;
    intr_at_last_change = pic->intr();
  }
  void pic_irq_acked(u32 pin) override {
    reenter();
    acked.push_back(pin);
  }
  void pic_mask_changed(u32 pin, bool masked) override {
    reenter();
    masks.emplace_back(pin, masked);
  }
  bool pic_output_accepted() override {
    reenter();
    accepted_queries++;
    return accepted;
  }
};

bool operator==(const kvm_pic_state &a, const kvm_pic_state &b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }

class PicTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.pic = &pic_;
    ASSERT_TRUE(pic_.ok());
    ASSERT_EQ(pic_.init(), 0);
  }

  void out(u64 port, u8 v) { ASSERT_EQ(pic_.write(port, 1, &v), 0); }
  u8 in(u64 port) {
    u8 v = 0xcc;
    EXPECT_EQ(pic_.read(port, 1, &v), 0);
    return v;
  }
  kvm_pic_state state(u32 chip) {
    kvm_pic_state s;
    std::memset(&s, 0xee, sizeof(s));
    pic_.get_state(chip, &s);
    return s;
  }
  // The BIOS/Linux sequence (arch/x86/kernel/i8259.c init_8259A):
  // ICW1 edge + IC4, ICW2 vector base, ICW3 cascade, ICW4 x86 (+AEOI).
  void init_pair(u8 master_base = 0x30, u8 slave_base = 0x38, bool aeoi = false) {
    out(0x21, 0xff);
    out(0xa1, 0xff);
    out(0x20, 0x11);
    out(0x21, master_base);
    out(0x21, 0x04);
    out(0x21, aeoi ? 0x03 : 0x01);
    out(0xa0, 0x11);
    out(0xa1, slave_base);
    out(0xa1, 0x02);
    out(0xa1, aeoi ? 0x03 : 0x01);
    out(0x21, 0x00);
    out(0xa1, 0x00);
    host_.masks.clear();
    host_.acked.clear();
    host_.intr_changes = 0;
    host_.accepted_queries = 0;
  }
  // An edge: line up then down, from userspace.
  int pulse(u32 irq) {
    int r = pic_.set_irq(irq, kSourceUserspace, true);
    pic_.set_irq(irq, kSourceUserspace, false);
    return r;
  }
  void eoi_master() { out(0x20, 0x20); }
  void eoi_slave() { out(0xa0, 0x20); }
  u8 irr(u32 chip) {
    out(chip ? 0xa0 : 0x20, 0x0a);
    return in(chip ? 0xa0 : 0x20);
  }
  u8 isr(u32 chip) {
    out(chip ? 0xa0 : 0x20, 0x0b);
    return in(chip ? 0xa0 : 0x20);
  }

  FakeHost host_;
  PicBox pic_{host_};
};

// ---- creation, reset, allocation ----

TEST(PicAlloc, InitFailureLeaksNothing) {
  FakeHost host;
  long live = mk_alloc_live();
  {
    mk::user::fail_alloc_after(0);  // the object
    PicBox pic(host);
    EXPECT_FALSE(pic.ok());
  }
  EXPECT_EQ(mk_alloc_live(), live);
  {
    mk::user::fail_alloc_after(1);  // its spinlock
    PicBox pic(host);
    ASSERT_TRUE(pic.ok());
    EXPECT_EQ(pic.init(), -ENOMEM);
    mk::user::fail_alloc_after(-1);
  }
  EXPECT_EQ(mk_alloc_live(), live);
  {
    PicBox pic(host);
    ASSERT_TRUE(pic.ok());
    EXPECT_EQ(pic.init(), 0);
    EXPECT_EQ(mk_alloc_live(), live + 2);  // the Pic and its lock, nothing else
    host.pic = &pic;
    u8 v = 0x11;
    EXPECT_EQ(pic.write(0x20, 1, &v), 0);
    EXPECT_EQ(pic.set_irq(3, 0, true), 1);
    EXPECT_EQ(mk_alloc_live(), live + 2);
  }
  EXPECT_EQ(mk_alloc_live(), live);
}

TEST_F(PicTest, InitialStateIsKvms) {
  kvm_pic_state m = state(0), s = state(1);
  kvm_pic_state want{};
  want.elcr_mask = 0xf8;
  EXPECT_TRUE(m == want);
  want.elcr_mask = 0xde;
  EXPECT_TRUE(s == want);
  EXPECT_FALSE(pic_.intr());
  EXPECT_EQ(in(0x20), 0);
  EXPECT_EQ(in(0x21), 0);
  EXPECT_EQ(in(0xa0), 0);
  EXPECT_EQ(in(0xa1), 0);
  EXPECT_EQ(in(0x4d0), 0);
  EXPECT_EQ(in(0x4d1), 0);
  // Usable before the guest programs it: vector base 0, as KVM.
  EXPECT_EQ(pulse(5), 1);
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(pic_.acknowledge(), 5);
}

TEST_F(PicTest, ResetRestoresCreationState) {
  init_pair(0x20, 0x28, true);
  out(0x4d0, 0xff);
  out(0x20, 0xc3);
  pic_.set_irq(9, 3, true);
  pic_.set_irq(4, 0, true);
  pic_.reset();
  kvm_pic_state want{};
  want.elcr_mask = 0xf8;
  EXPECT_TRUE(state(0) == want);
  want.elcr_mask = 0xde;
  EXPECT_TRUE(state(1) == want);
  EXPECT_FALSE(pic_.intr());
  // Line states were forgotten too: a raise is a new edge.
  EXPECT_EQ(pic_.set_irq(4, 0, true), 1);
  EXPECT_EQ(pic_.acknowledge(), 4);
}

// ---- initialization command words ----

TEST_F(PicTest, IcwSequenceWithIcw4) {
  out(0x20, 0x11);
  EXPECT_EQ(state(0).init_state, 1);
  EXPECT_EQ(state(0).init4, 1);
  out(0x21, 0x27);  // T7-T3 only: low bits ignored
  EXPECT_EQ(state(0).irq_base, 0x20);
  EXPECT_EQ(state(0).init_state, 2);
  out(0x21, 0x04);  // ICW3
  EXPECT_EQ(state(0).init_state, 3);
  out(0x21, 0x13);  // ICW4: SFNM, AEOI, uPM
  kvm_pic_state m = state(0);
  EXPECT_EQ(m.init_state, 0);
  EXPECT_EQ(m.auto_eoi, 1);
  EXPECT_EQ(m.special_fully_nested_mode, 1);
  // Now the odd port is OCW1.
  out(0x21, 0x5a);
  EXPECT_EQ(state(0).imr, 0x5a);
  EXPECT_EQ(in(0x21), 0x5a);
  // The slave has its own sequence.
  EXPECT_EQ(state(1).init_state, 0);
  EXPECT_EQ(state(1).irq_base, 0);
}

TEST_F(PicTest, IcwSequenceWithoutIcw4ClearsIcw4Functions) {
  init_pair(0x08, 0x70, true);
  out(0x20, 0x14);  // no IC4 (ADI set: ignored)
  EXPECT_EQ(state(0).init4, 0);
  EXPECT_EQ(state(0).auto_eoi, 0);
  out(0x21, 0x40);
  out(0x21, 0x04);
  EXPECT_EQ(state(0).init_state, 0);
  EXPECT_EQ(state(0).irq_base, 0x40);
  out(0x21, 0xfe);  // OCW1, not ICW4
  EXPECT_EQ(state(0).imr, 0xfe);
  EXPECT_EQ(state(0).auto_eoi, 0);
  // With IC4 set the ICW4 functions survive ICW1 (KVM: only !init4 clears).
  out(0xa0, 0x11);
  EXPECT_EQ(state(1).auto_eoi, 1);
}

TEST_F(PicTest, Icw1SnglAndLtimAreIgnored) {
  init_pair();
  // SNGL|LTIM|IC4: the PC pair is cascaded and edge/level is in the ELCR.
  out(0x20, 0x1b);
  out(0x21, 0x30);
  EXPECT_EQ(state(0).init_state, 2);  // ICW3 still expected
  out(0x21, 0x04);
  out(0x21, 0x01);
  EXPECT_EQ(state(0).init_state, 0);
  EXPECT_EQ(state(0).elcr, 0);
  // Edge-triggered: a held line requests once.
  pic_.set_irq(3, 0, true);
  EXPECT_EQ(pic_.acknowledge(), 0x33);
  eoi_master();
  EXPECT_FALSE(pic_.intr());
}

TEST_F(PicTest, Icw1ResetsTheChip) {
  init_pair();
  out(0x4d0, 0x08);  // IRQ3 level
  out(0x21, 0x80);
  out(0x20, 0xc4);  // priority: IR5 highest
  out(0x20, 0x68);  // SMM on
  out(0x20, 0x0b);  // read ISR
  pic_.set_irq(3, 0, true);  // level, pending
  pic_.set_irq(6, 0, true);  // edge, pending, line held
  pic_.set_irq(4, 0, true);   // edge, pending
  // Priority order 5, 6, 7, 0, ...: IR6 goes in service.
  EXPECT_EQ(pic_.acknowledge(), 0x36);
  host_.acked.clear();
  EXPECT_EQ(state(0).irr, 0x18);
  out(0x20, 0x11);
  kvm_pic_state m = state(0);
  EXPECT_EQ(m.imr, 0);
  EXPECT_EQ(m.priority_add, 0);
  EXPECT_EQ(m.special_mask, 0);
  EXPECT_EQ(m.read_reg_select, 0);
  EXPECT_EQ(m.last_irr, 0);
  EXPECT_EQ(m.irr, 0x08);  // the level request stays, the edge one goes
  EXPECT_EQ(m.isr, 0x40);  // in-service levels stay (KVM; the datasheet lists no ISR reset)
  EXPECT_EQ(m.elcr, 0x08);
  EXPECT_EQ(m.irq_base, 0x30);
  EXPECT_EQ(m.init_state, 1);
  EXPECT_EQ(host_.accepted_queries, 1);
  // The dropped edge request is reported acked (KVM's kvm_pic_reset).
  EXPECT_EQ(host_.acked, std::vector<u32>{4});
  // The slave was not touched.
  EXPECT_EQ(state(1).init_state, 0);
  EXPECT_EQ(state(1).irq_base, 0x38);
}

TEST_F(PicTest, Icw1DropsEdgesAndTheirServiceOnlyWhenTheOutputIsTaken) {
  init_pair();
  pulse(1);
  EXPECT_EQ(pic_.acknowledge(), 0x31);  // IR1 in service
  pulse(1);                             // and pending again
  host_.acked.clear();
  host_.accepted = false;
  out(0x20, 0x11);
  EXPECT_EQ(state(0).irr, 0);
  EXPECT_EQ(state(0).isr, 0x02);  // kept: no vCPU takes the PIC
  EXPECT_TRUE(host_.acked.empty());
  host_.accepted = true;
  out(0x21, 0x30);
  out(0x21, 0x04);
  out(0x21, 0x01);
  pulse(1);
  out(0x20, 0x11);
  EXPECT_EQ(state(0).isr, 0);  // the dropped edge's level left service
  EXPECT_EQ(host_.acked, std::vector<u32>{1});
  // Slave pins are reported as 8-15.
  host_.acked.clear();
  pulse(12);
  out(0xa0, 0x11);
  EXPECT_EQ(host_.acked, std::vector<u32>{12});
}

TEST_F(PicTest, Icw1UpdatesTheOutput) {
  init_pair();
  pulse(6);
  EXPECT_TRUE(pic_.intr());
  out(0x20, 0x11);
  EXPECT_FALSE(pic_.intr());
}

TEST_F(PicTest, OddPortReadDuringInitIsImr) {
  init_pair();
  out(0x21, 0x3c);
  out(0x20, 0x11);
  EXPECT_EQ(in(0x21), 0);  // ICW1 cleared the IMR
  out(0x21, 0x30);
  EXPECT_EQ(in(0x21), 0);
}

// ---- OCW1: mask ----

TEST_F(PicTest, Ocw1MasksAndReportsChanges) {
  init_pair();
  out(0x21, 0x05);
  out(0xa1, 0x80);
  std::vector<std::pair<u32, bool>> want = {{0, true}, {2, true}, {15, true}};
  EXPECT_EQ(host_.masks, want);
  host_.masks.clear();
  out(0x21, 0x04);  // unmask 0 only
  want = {{0, false}};
  EXPECT_EQ(host_.masks, want);
  host_.masks.clear();
  out(0x21, 0x04);  // no change, no report
  EXPECT_TRUE(host_.masks.empty());
  EXPECT_EQ(in(0x21), 0x04);
  EXPECT_EQ(in(0xa1), 0x80);
  // ICW1's IMR clear is not reported (KVM fires mask notifiers on OCW1 only).
  out(0x20, 0x11);
  EXPECT_TRUE(host_.masks.empty());
}

TEST_F(PicTest, MaskedRequestIsHeldNotDelivered) {
  init_pair();
  out(0x21, 0x10);
  EXPECT_EQ(pic_.set_irq(4, 0, true), -1);  // latched, reported masked
  EXPECT_EQ(state(0).irr, 0x10);
  EXPECT_FALSE(pic_.intr());
  EXPECT_EQ(host_.intr_changes, 0);
  out(0x21, 0x00);
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(host_.intr_changes, 1);
  EXPECT_EQ(pic_.acknowledge(), 0x34);
}

TEST_F(PicTest, MaskingTheCascadeBlocksTheSlave) {
  init_pair();
  out(0x21, 0x04);
  EXPECT_EQ(pulse(10), 1);
  EXPECT_EQ(state(0).irr, 0x04);  // latched on IR2 but masked there
  EXPECT_FALSE(pic_.intr());
  out(0x21, 0x00);
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(pic_.acknowledge(), 0x3a);
}

// ---- OCW3: register select, poll, special mask ----

TEST_F(PicTest, Ocw3SelectsIrrOrIsr) {
  init_pair();
  pulse(3);
  pulse(5);
  EXPECT_EQ(pic_.acknowledge(), 0x33);
  out(0x20, 0x0a);
  EXPECT_EQ(in(0x20), 0x20);
  EXPECT_EQ(in(0x20), 0x20);  // the selection sticks
  out(0x20, 0x0b);
  EXPECT_EQ(in(0x20), 0x08);
  out(0x20, 0x08);  // RR = 0: no change
  EXPECT_EQ(in(0x20), 0x08);
  out(0x20, 0x09);  // RIS without RR: no change
  EXPECT_EQ(in(0x20), 0x08);
  EXPECT_EQ(state(0).read_reg_select, 1);
  out(0x20, 0x0a);
  EXPECT_EQ(state(0).read_reg_select, 0);
}

TEST_F(PicTest, PollCommand) {
  init_pair();
  out(0x20, 0x0c);
  EXPECT_EQ(state(0).poll, 1);
  EXPECT_EQ(in(0x20), 0);  // nothing pending
  EXPECT_EQ(state(0).poll, 0);
  pulse(6);
  pulse(3);
  out(0x20, 0x0c);
  EXPECT_EQ(in(0x20), 0x83);
  EXPECT_EQ(state(0).isr, 0x08);  // the poll is an INTA: in service
  EXPECT_EQ(state(0).irr, 0x40);
  // The next read is a plain one again; the poll may be read at the odd port.
  EXPECT_EQ(in(0x20), 0x40);
  out(0x20, 0x0c);
  EXPECT_EQ(in(0x21), 0);  // IR6 is below IR3 in service
  eoi_master();
  out(0x20, 0x0c);
  EXPECT_EQ(in(0x21), 0x86);
  // Poll beats a register select in the same OCW3.
  eoi_master();
  pulse(1);
  out(0x20, 0x0f);
  EXPECT_EQ(in(0x20), 0x81);
  EXPECT_EQ(state(0).read_reg_select, 1);
}

TEST_F(PicTest, PollOfTheSlaveConsumesTheMastersCascadeRequest) {
  init_pair();
  pulse(13);
  EXPECT_EQ(state(0).irr, 0x04);
  EXPECT_TRUE(pic_.intr());
  out(0xa0, 0x0c);
  EXPECT_EQ(in(0xa0), 0x85);
  EXPECT_EQ(state(1).isr, 0x20);
  EXPECT_EQ(state(0).irr, 0x00);
  EXPECT_EQ(state(0).isr, 0x00);
  EXPECT_FALSE(pic_.intr());
  // A poll of the master for a slave request names IR2.
  eoi_slave();
  pulse(9);
  out(0x20, 0x0c);
  EXPECT_EQ(in(0x20), 0x82);
  out(0xa0, 0x0c);
  EXPECT_EQ(in(0xa0), 0x81);
}

TEST_F(PicTest, PollWithAutoEoiLeavesNothingInService) {
  init_pair(0x30, 0x38, true);
  pulse(7);
  out(0x20, 0x0c);
  EXPECT_EQ(in(0x20), 0x87);
  EXPECT_EQ(state(0).isr, 0);
  EXPECT_EQ(host_.acked, std::vector<u32>{7});
}

TEST_F(PicTest, SpecialMaskMode) {
  init_pair();
  pulse(3);
  EXPECT_EQ(pic_.acknowledge(), 0x33);
  pulse(5);
  EXPECT_FALSE(pic_.intr());  // fully nested: IR5 waits for IR3
  out(0x21, 0x08);            // the IR3 handler masks itself...
  EXPECT_FALSE(pic_.intr());
  out(0x20, 0x68);  // ... and enters special mask mode
  EXPECT_EQ(state(0).special_mask, 1);
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(pic_.acknowledge(), 0x35);
  EXPECT_EQ(state(0).isr, 0x28);
  // A non-specific EOI ends IR5, the level being serviced, not masked IR3.
  eoi_master();
  EXPECT_EQ(state(0).isr, 0x08);
  out(0x20, 0x48);  // SMM off
  EXPECT_EQ(state(0).special_mask, 0);
  out(0x20, 0x40);  // OCW2 "no operation"
  EXPECT_EQ(state(0).special_mask, 0);
  out(0x20, 0x28);  // SMM bit without ESMM: ignored
  EXPECT_EQ(state(0).special_mask, 0);
  out(0x21, 0x00);
  eoi_master();
  EXPECT_EQ(state(0).isr, 0);
}

// ---- OCW2: EOIs and priority ----

TEST_F(PicTest, NonSpecificEoiEndsTheHighestInService) {
  init_pair();
  pulse(4);
  EXPECT_EQ(pic_.acknowledge(), 0x34);
  pulse(1);
  EXPECT_TRUE(pic_.intr());  // higher priority nests
  EXPECT_EQ(pic_.acknowledge(), 0x31);
  EXPECT_EQ(state(0).isr, 0x12);
  eoi_master();
  EXPECT_EQ(state(0).isr, 0x10);
  EXPECT_EQ(host_.acked, std::vector<u32>{1});
  eoi_master();
  EXPECT_EQ(state(0).isr, 0x00);
  eoi_master();  // nothing in service: no-op, no report
  std::vector<u32> want = {1, 4};
  EXPECT_EQ(host_.acked, want);
}

TEST_F(PicTest, SpecificEoi) {
  init_pair();
  pulse(4);
  pic_.acknowledge();
  pulse(1);
  pic_.acknowledge();
  out(0x20, 0x64);  // specific EOI, level 4
  EXPECT_EQ(state(0).isr, 0x02);
  EXPECT_EQ(host_.acked, std::vector<u32>{4});
  out(0xa0, 0x67);  // slave level 7, not in service: KVM reports it anyway
  EXPECT_EQ(host_.acked.back(), 15u);
  EXPECT_EQ(state(0).priority_add, 0);
}

TEST_F(PicTest, LowerPriorityWaitsForEoi) {
  init_pair();
  pulse(3);
  EXPECT_EQ(pic_.acknowledge(), 0x33);
  pulse(3);
  pulse(7);
  EXPECT_FALSE(pic_.intr());  // the same and lower levels wait
  eoi_master();
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(pic_.acknowledge(), 0x33);
  eoi_master();
  EXPECT_EQ(pic_.acknowledge(), 0x37);
}

TEST_F(PicTest, SetPriority) {
  init_pair(0x30, 0x38, true);
  for (u32 bottom = 0; bottom < 8; bottom++) {
    out(0x20, u8(0xc0 | bottom));
    EXPECT_EQ(state(0).priority_add, (bottom + 1) & 7);
    for (u32 i = 0; i < 8; i++)
      if (i != 2)  // IR2 is the cascade
        pulse(i);
    // Auto-EOI: the requests come out in priority order, bottom last.
    std::vector<u8> got;
    while (pic_.intr())
      got.push_back(pic_.acknowledge());
    std::vector<u8> want;
    for (u32 r = 0; r < 8; r++) {
      u32 irq = (bottom + 1 + r) & 7;
      if (irq != 2)
        want.push_back(u8(0x30 + irq));
    }
    EXPECT_EQ(got, want) << "bottom " << bottom;
  }
}

TEST_F(PicTest, RotateOnNonSpecificEoi) {
  init_pair();
  pulse(1);
  pulse(5);
  EXPECT_EQ(pic_.acknowledge(), 0x31);
  out(0x20, 0xa0);  // rotate on non-specific EOI: IR1 becomes lowest
  EXPECT_EQ(state(0).priority_add, 2);
  EXPECT_EQ(state(0).isr, 0);
  pulse(1);
  EXPECT_EQ(pic_.acknowledge(), 0x35);  // IR5 now outranks IR1
  out(0x20, 0xa0);
  EXPECT_EQ(state(0).priority_add, 6);
  EXPECT_EQ(pic_.acknowledge(), 0x31);
  out(0x20, 0xa0);
  EXPECT_EQ(state(0).priority_add, 2);
  out(0x20, 0xa0);  // nothing in service: no rotation
  EXPECT_EQ(state(0).priority_add, 2);
}

TEST_F(PicTest, RotateOnSpecificEoi) {
  init_pair();
  pulse(6);
  EXPECT_EQ(pic_.acknowledge(), 0x36);
  out(0x20, 0xe6);
  EXPECT_EQ(state(0).isr, 0);
  EXPECT_EQ(state(0).priority_add, 7);
  EXPECT_EQ(host_.acked, std::vector<u32>{6});
  pulse(6);
  pulse(0);
  EXPECT_EQ(pic_.acknowledge(), 0x30);  // order 7, 0, 1, ..., 6: IR0 before IR6
  eoi_master();
  EXPECT_EQ(pic_.acknowledge(), 0x36);
}

TEST_F(PicTest, AutoEoiAndItsRotation) {
  init_pair(0x30, 0x38, true);
  pulse(3);
  EXPECT_EQ(pic_.acknowledge(), 0x33);
  EXPECT_EQ(state(0).isr, 0);
  EXPECT_EQ(host_.acked, std::vector<u32>{3});
  EXPECT_EQ(state(0).priority_add, 0);
  out(0x20, 0x80);  // rotate in AEOI mode: set
  EXPECT_EQ(state(0).rotate_on_auto_eoi, 1);
  pulse(3);
  pulse(4);
  EXPECT_EQ(pic_.acknowledge(), 0x33);
  EXPECT_EQ(state(0).priority_add, 4);
  pulse(3);
  EXPECT_EQ(pic_.acknowledge(), 0x34);  // IR4 is highest now
  EXPECT_EQ(state(0).priority_add, 5);
  EXPECT_EQ(pic_.acknowledge(), 0x33);
  out(0x20, 0x00);  // clear
  EXPECT_EQ(state(0).rotate_on_auto_eoi, 0);
  pulse(5);
  pic_.acknowledge();
  EXPECT_EQ(state(0).priority_add, 4);
  out(0x20, 0x40);  // OCW2 no-op
  EXPECT_EQ(state(0).priority_add, 4);
  EXPECT_EQ(state(0).rotate_on_auto_eoi, 0);
}

// ---- triggering ----

TEST_F(PicTest, EdgeTriggeringAndKvmReturnValues) {
  init_pair();
  EXPECT_EQ(pic_.set_irq(4, 0, true), 1);   // new request
  EXPECT_EQ(pic_.set_irq(4, 0, true), 1);   // held high: no edge, KVM says 1
  EXPECT_EQ(pic_.set_irq(4, 0, false), 1);  // deassert: 1
  EXPECT_EQ(state(0).irr, 0x10);            // an edge stays latched
  EXPECT_EQ(pic_.set_irq(4, 0, true), 0);   // coalesced with the pending one
  EXPECT_EQ(pic_.acknowledge(), 0x34);
  EXPECT_EQ(state(0).irr, 0);
  EXPECT_EQ(pic_.set_irq(4, 0, true), 1);   // still high: no new edge
  EXPECT_EQ(state(0).irr, 0);
  EXPECT_EQ(pic_.set_irq(4, 0, false), 1);
  EXPECT_EQ(pic_.set_irq(4, 0, true), 1);
  EXPECT_EQ(state(0).irr, 0x10);
  out(0x21, 0x10);
  EXPECT_EQ(pic_.set_irq(4, 0, false), -1);  // masked: -1 whatever happens
  EXPECT_EQ(pic_.set_irq(4, 0, true), -1);
}

TEST_F(PicTest, ElcrRegisters) {
  out(0x4d0, 0xff);
  out(0x4d1, 0xff);
  EXPECT_EQ(in(0x4d0), 0xf8);  // IRQ0, 1, 2 are edge only
  EXPECT_EQ(in(0x4d1), 0xde);  // IRQ8 and IRQ13 too
  EXPECT_EQ(state(0).elcr, 0xf8);
  EXPECT_EQ(state(1).elcr, 0xde);
  out(0x4d0, 0x20);
  EXPECT_EQ(in(0x4d0), 0x20);
  EXPECT_EQ(in(0x4d1), 0xde);
}

TEST_F(PicTest, LevelTriggering) {
  init_pair();
  out(0x4d1, 0x08);  // IRQ11 level
  EXPECT_EQ(pic_.set_irq(11, 0, true), 1);
  EXPECT_EQ(pic_.set_irq(11, 0, true), 0);  // IRR already set: coalesced
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(pic_.acknowledge(), 0x3b);
  EXPECT_EQ(state(1).irr, 0x08);  // INTA does not clear a level request
  EXPECT_EQ(state(1).isr, 0x08);
  EXPECT_FALSE(pic_.intr());  // in service
  eoi_slave();
  eoi_master();
  EXPECT_TRUE(pic_.intr());  // the line is still high: again
  EXPECT_EQ(pic_.set_irq(11, 0, false), 1);
  EXPECT_EQ(state(1).irr, 0);
  EXPECT_EQ(state(1).last_irr, 0);
  // The slave dropped its INT but the master latched IR2: spurious IRQ15.
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(pic_.acknowledge(), 0x3f);
  EXPECT_EQ(state(1).isr, 0);
  EXPECT_EQ(state(0).isr, 0x04);
}

TEST_F(PicTest, LevelLinesAreTheOrOfTheirSources) {
  init_pair();
  out(0x4d0, 0x80);  // IRQ7 level
  EXPECT_EQ(pic_.set_irq(7, 0, true), 1);
  EXPECT_EQ(pic_.set_irq(7, kSourcePit, true), 0);
  EXPECT_EQ(pic_.set_irq(7, 0, false), 0);  // still high through the PIT: IRR stays, "coalesced"
  EXPECT_EQ(state(0).irr, 0x80);
  EXPECT_EQ(pic_.set_irq(7, kSourcePit, false), 1);
  EXPECT_EQ(state(0).irr, 0);
  // clear_source forgets a source without touching IRR (kvm_pic_clear_all).
  pic_.set_irq(7, 5, true);
  pic_.clear_source(5);
  EXPECT_EQ(state(0).irr, 0x80);
  EXPECT_EQ(pic_.set_irq(7, 0, false), 1);  // the OR is now low
  EXPECT_EQ(state(0).irr, 0);
  pic_.clear_source(kNrSources);  // out of range: ignored
  pic_.clear_source(~0u);
}

TEST_F(PicTest, EdgeLinesSeeTheOrToo) {
  init_pair();
  EXPECT_EQ(pic_.set_irq(3, 1, true), 1);
  EXPECT_EQ(pic_.acknowledge(), 0x33);
  eoi_master();
  EXPECT_EQ(pic_.set_irq(3, 2, true), 1);  // already high through source 1: no edge
  EXPECT_FALSE(pic_.intr());
  pic_.set_irq(3, 1, false);
  pic_.set_irq(3, 2, false);
  EXPECT_EQ(pic_.set_irq(3, 2, true), 1);
  EXPECT_TRUE(pic_.intr());
}

TEST_F(PicTest, BadIrqOrSource) {
  EXPECT_EQ(pic_.set_irq(16, 0, true), -EINVAL);
  EXPECT_EQ(pic_.set_irq(~0u, 0, true), -EINVAL);
  EXPECT_EQ(pic_.set_irq(3, kNrSources, true), -EINVAL);
  EXPECT_EQ(pic_.set_irq(3, ~0u, true), -EINVAL);
  EXPECT_EQ(state(0).irr, 0);
  EXPECT_FALSE(pic_.intr());
}

// ---- cascade, INTA, spurious ----

TEST_F(PicTest, CascadedSlaveRequest) {
  init_pair();
  EXPECT_EQ(pic_.set_irq(10, 0, true), 1);
  EXPECT_EQ(state(1).irr, 0x04);
  EXPECT_EQ(state(0).irr, 0x04);  // on the master's IR2
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(host_.intr_changes, 1);
  EXPECT_EQ(pic_.acknowledge(), 0x3a);
  EXPECT_EQ(state(0).isr, 0x04);
  EXPECT_EQ(state(1).isr, 0x04);
  EXPECT_EQ(state(0).irr, 0);
  EXPECT_EQ(state(1).irr, 0);
  EXPECT_FALSE(pic_.intr());
  // Master IR0/IR1 outrank the whole slave; IR3 and below wait.
  pulse(1);
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(pic_.acknowledge(), 0x31);
  eoi_master();
  pulse(3);
  EXPECT_FALSE(pic_.intr());
  // A higher slave level is blocked at the master (IR2 in service) without SFNM.
  pulse(8);
  EXPECT_EQ(state(1).irr, 0x01);
  EXPECT_FALSE(pic_.intr());
  eoi_slave();
  eoi_master();
  std::vector<u32> want = {1, 10, 2};
  EXPECT_EQ(host_.acked, want);
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(pic_.acknowledge(), 0x38);
}

TEST_F(PicTest, SpecialFullyNestedMode) {
  // Master ICW4 with SFNM.
  init_pair();
  out(0x20, 0x11);
  out(0x21, 0x30);
  out(0x21, 0x04);
  out(0x21, 0x11);
  EXPECT_EQ(state(0).special_fully_nested_mode, 1);
  pulse(12);
  EXPECT_EQ(pic_.acknowledge(), 0x3c);
  EXPECT_EQ(state(0).isr, 0x04);
  pulse(9);  // higher than IR12 on the slave
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(pic_.acknowledge(), 0x39);
  EXPECT_EQ(state(1).isr, 0x12);
  pulse(14);  // lower on the slave: the slave itself holds it back
  EXPECT_FALSE(pic_.intr());
  // SFNM is the master's: on the slave it changes nothing.
  kvm_pic_state s = state(1);
  s.special_fully_nested_mode = 1;
  pic_.set_state(1, s);
  EXPECT_FALSE(pic_.intr());
}

TEST_F(PicTest, SpuriousMasterIrq7) {
  init_pair(0x08);
  out(0x4d0, 0x20);  // IRQ5 level
  pic_.set_irq(5, 0, true);
  EXPECT_TRUE(pic_.intr());
  pic_.set_irq(5, 0, false);  // the request goes away before INTA
  EXPECT_FALSE(pic_.intr());
  EXPECT_EQ(pic_.acknowledge(), 0x0f);
  EXPECT_EQ(state(0).isr, 0);  // IR7 does not go in service
  EXPECT_TRUE(host_.acked.empty());
}

TEST_F(PicTest, SpuriousSlaveIrq15) {
  init_pair(0x08, 0x70);
  pulse(9);
  // The slave's request is withdrawn (here: masked) after the master latched IR2.
  out(0xa1, 0x02);
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(pic_.acknowledge(), 0x77);
  EXPECT_EQ(state(0).isr, 0x04);  // the master's IR2 is in service: the guest EOIs it
  EXPECT_EQ(state(1).isr, 0);
  EXPECT_EQ(state(1).irr, 0x02);
}

TEST_F(PicTest, AcknowledgeWithAutoEoiOnBoth) {
  init_pair(0x20, 0x28, true);
  pulse(15);
  EXPECT_EQ(pic_.acknowledge(), 0x2f);
  EXPECT_EQ(state(0).isr, 0);
  EXPECT_EQ(state(1).isr, 0);
  std::vector<u32> want = {2, 15};
  EXPECT_EQ(host_.acked, want);
}

TEST_F(PicTest, VectorWrapsAtEightBits) {
  kvm_pic_state m = state(0);
  m.irq_base = 0xff;  // only KVM_SET_IRQCHIP can put low bits here
  pic_.set_state(0, m);
  pulse(3);
  EXPECT_EQ(pic_.acknowledge(), 0x02);
  EXPECT_EQ(pic_.acknowledge(), 0x06);  // spurious: 0xff + 7
}

// ---- the INT output and the host ----

TEST_F(PicTest, IntrChangedOnRisingOutputOnly) {
  init_pair();
  pulse(5);
  EXPECT_EQ(host_.intr_changes, 1);
  EXPECT_TRUE(host_.intr_at_last_change);
  pulse(6);  // already asserted
  EXPECT_EQ(host_.intr_changes, 1);
  // After an INTA with another request pending: reported again.
  EXPECT_EQ(pic_.acknowledge(), 0x35);
  EXPECT_EQ(host_.intr_changes, 1);  // IR6 is below IR5 in service
  eoi_master();
  EXPECT_EQ(host_.intr_changes, 2);
  pulse(1);
  EXPECT_EQ(host_.intr_changes, 2);  // still asserted
  EXPECT_EQ(pic_.acknowledge(), 0x31);
  EXPECT_EQ(host_.intr_changes, 2);  // IR6 blocked behind IR1
  eoi_master();
  EXPECT_EQ(host_.intr_changes, 3);
  out(0x21, 0xff);  // the output drops: not reported
  EXPECT_FALSE(pic_.intr());
  EXPECT_EQ(host_.intr_changes, 3);
  out(0x21, 0x00);
  EXPECT_EQ(host_.intr_changes, 4);
  // AEOI: the next request is pending right after the INTA.
  kvm_pic_state m = state(0);
  m.auto_eoi = 1;
  pic_.set_state(0, m);
  pulse(0);
  EXPECT_EQ(pic_.acknowledge(), 0x30);
  EXPECT_EQ(host_.intr_changes, 5);
  EXPECT_TRUE(host_.intr_at_last_change);
}

TEST_F(PicTest, TimerCallbackRaisesTheLine) {
  // A PIT-like periodic hrtimer pulsing IRQ0 from "hard-irq" context.
  init_pair();
  struct Ctx {
    PicBox *pic;
    int fired = 0;
  } ctx{&pic_};
  auto fn = [](void *arg) -> unsigned long long {
    auto *c = static_cast<Ctx *>(arg);
    c->pic->set_irq(0, kSourcePit, true);
    c->pic->set_irq(0, kSourcePit, false);
    c->fired++;
    return c->fired < 3 ? mk_now_ns() + 1'000'000 : 0;
  };
  void *t = mk_timer_new(fn, &ctx);
  ASSERT_NE(t, nullptr);
  mk_timer_start(t, mk_now_ns() + 1'000'000);
  EXPECT_FALSE(pic_.intr());
  mk::user::advance_time(500'000);
  EXPECT_FALSE(pic_.intr());
  mk::user::advance_time(600'000);
  EXPECT_EQ(ctx.fired, 1);
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(host_.intr_changes, 1);
  // Two more ticks while the first waits: coalesced in IRR.
  mk::user::advance_time(5'000'000);
  EXPECT_EQ(ctx.fired, 3);
  EXPECT_EQ(pic_.acknowledge(), 0x30);
  EXPECT_FALSE(pic_.intr());
  EXPECT_EQ(mk::user::armed_timers(), 0);
  mk_timer_free(t);
}

// ---- port access ----

TEST_F(PicTest, PortRangesAndWidths) {
  init_pair();
  u64 v = 0x1122334455667788ull;
  EXPECT_EQ(pic_.read(0x22, 1, &v), -EOPNOTSUPP);
  EXPECT_EQ(pic_.write(0x1f, 1, &v), -EOPNOTSUPP);
  EXPECT_EQ(pic_.write(0xa2, 1, &v), -EOPNOTSUPP);
  EXPECT_EQ(pic_.read(0x4d2, 1, &v), -EOPNOTSUPP);
  EXPECT_EQ(pic_.read(0x20, 0, &v), -EOPNOTSUPP);
  EXPECT_EQ(pic_.read(0x20, 16, &v), -EOPNOTSUPP);
  EXPECT_EQ(v, 0x1122334455667788ull);
  // Wider accesses: writes swallowed, reads give zeros (KVM).
  out(0x21, 0x5a);
  u16 w = 0x1111;
  EXPECT_EQ(pic_.write(0x20, 2, &w), 0);
  EXPECT_EQ(state(0).init_state, 0);
  EXPECT_EQ(pic_.read(0x20, 2, &w), 0);
  EXPECT_EQ(w, 0);
  EXPECT_EQ(pic_.read(0x4d0, 8, &v), 0);
  EXPECT_EQ(v, 0u);
  EXPECT_EQ(in(0x21), 0x5a);
}

// ---- KVM_GET/SET_IRQCHIP ----

TEST_F(PicTest, StateRoundTripCarriesBehaviour) {
  init_pair(0x50, 0x58);
  out(0x4d0, 0x20);
  out(0x4d1, 0x08);
  out(0x20, 0xc2);  // IR3 highest
  out(0x21, 0x40);
  pic_.set_irq(5, 0, true);  // level, held
  pulse(4);
  pulse(9);
  pic_.set_irq(6, 0, true);  // masked
  EXPECT_EQ(pic_.acknowledge(), 0x54);  // order 3, 4, 5, ...
  out(0x20, 0x0b);

  FakeHost host_b;
  PicBox b(host_b);
  ASSERT_TRUE(b.ok());
  host_b.pic = &b;
  ASSERT_EQ(b.init(), 0);
  for (u32 chip = 0; chip < 2; chip++)
    b.set_state(chip, state(chip));
  for (u32 chip = 0; chip < 2; chip++) {
    kvm_pic_state sb;
    b.get_state(chip, &sb);
    EXPECT_TRUE(sb == state(chip)) << chip;
  }
  EXPECT_EQ(b.intr(), pic_.intr());
  // Line levels are not in kvm_pic_state (KVM neither): userspace
  // re-drives its lines; level requests live on in IRR.
  const u8 want[] = {0x55, 0x55, 0x55, 0x59, 0x57, 0x57};
  for (u32 i = 0; i < 6; i++) {
    if (i == 3) {
      pic_.set_irq(5, 0, false);
      b.set_irq(5, 0, false);
    }
    for (PicBox *p : {&pic_, &b}) {
      u8 eoi = 0x20;
      p->write(0xa0, 1, &eoi);
      p->write(0x20, 1, &eoi);
    }
    u8 va = pic_.acknowledge(), vb = b.acknowledge();
    EXPECT_EQ(va, want[i]) << i;
    EXPECT_EQ(vb, want[i]) << i;
  }
  u8 ra = in(0x20), rb = 0;
  b.read(0x20, 1, &rb);
  EXPECT_EQ(ra, rb);  // the register select came along
}

TEST_F(PicTest, StateRoundTripRandom) {
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000; i++) {
    kvm_pic_state s;
    for (size_t b = 0; b < sizeof(s); b++)
      reinterpret_cast<u8 *>(&s)[b] = u8(rng());
    u32 chip = rng() & 1;
    pic_.set_state(chip, s);
    kvm_pic_state got = state(chip);
    if (chip == 0) {
      // KVM_SET_IRQCHIP ends with an update, which may latch a pending
      // slave request on the master's IR2 (and reset its edge sense).
      EXPECT_EQ(got.irr & ~0x04, s.irr & ~0x04);
      EXPECT_EQ(got.last_irr & ~0x04, s.last_irr & ~0x04);
      got.irr = s.irr;
      got.last_irr = s.last_irr;
    }
    EXPECT_TRUE(got == s) << i;
  }
  // With no slave request, the master's state reads back exactly.
  kvm_pic_state idle{};
  pic_.set_state(1, idle);
  for (int i = 0; i < 200; i++) {
    kvm_pic_state s;
    for (size_t b = 0; b < sizeof(s); b++)
      reinterpret_cast<u8 *>(&s)[b] = u8(rng());
    pic_.set_state(0, s);
    EXPECT_TRUE(state(0) == s) << i;
  }
  // Other chip numbers: set ignored, get zeroes.
  kvm_pic_state before = state(0), junk;
  std::memset(&junk, 0x5a, sizeof(junk));
  pic_.set_state(2, junk);
  pic_.set_state(~0u, junk);
  EXPECT_TRUE(state(0) == before);
  pic_.get_state(2, &junk);
  EXPECT_TRUE(junk == kvm_pic_state{});
}

TEST_F(PicTest, SetStateUpdatesTheOutput) {
  init_pair();
  kvm_pic_state m = state(0);
  m.irr = 0x08;
  pic_.set_state(0, m);
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(host_.intr_changes, 1);
  m.imr = 0x08;
  pic_.set_state(0, m);
  EXPECT_FALSE(pic_.intr());
  // A slave request restored without the master's IR2 latch: the cascade
  // pulse raises it.
  kvm_pic_state s = state(1);
  s.irr = 0x40;
  pic_.set_state(1, s);
  EXPECT_EQ(state(0).irr, 0x0c);
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(host_.intr_changes, 2);
}

TEST_F(PicTest, GarbageInitStateIgnoresOddWritesUntilIcw1) {
  kvm_pic_state m = state(0);
  m.init_state = 9;
  pic_.set_state(0, m);
  out(0x21, 0xff);
  EXPECT_EQ(state(0).imr, 0);
  EXPECT_TRUE(host_.masks.empty());
  out(0x20, 0x11);
  out(0x21, 0x30);
  out(0x21, 0x04);
  out(0x21, 0x01);
  out(0x21, 0xff);
  EXPECT_EQ(state(0).imr, 0xff);
}

// ---- hostile input ----

TEST_F(PicTest, RandomTrafficIsSafe) {
  static const u64 kPorts[] = {0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1};
  std::mt19937 rng(42);
  for (int i = 0; i < 200000; i++) {
    u32 op = rng() % 100;
    if (op < 40) {
      u8 v = u8(rng());
      pic_.write(kPorts[rng() % 6], 1, &v);
    } else if (op < 60) {
      u8 v;
      pic_.read(kPorts[rng() % 6], 1, &v);
    } else if (op < 85) {
      pic_.set_irq(rng() % 17, rng() % (kNrSources + 1), rng() & 1);
    } else if (op < 95) {
      pic_.acknowledge();
    } else if (op < 99) {
      u64 v = rng();
      u32 len = 1u << (rng() % 4);
      if (rng() & 1)
        pic_.write(kPorts[rng() % 6], len, &v);
      else
        pic_.read(kPorts[rng() % 6], len, &v);
    } else {
      kvm_pic_state s;
      for (size_t b = 0; b < sizeof(s); b++)
        reinterpret_cast<u8 *>(&s)[b] = u8(rng());
      pic_.set_state(rng() % 3, s);
    }
    // The output is a function of the state: an asserted INT is never
    // answered by a spurious vector unless the state says so.
    if (pic_.intr()) {
      kvm_pic_state m = state(0);
      EXPECT_NE(m.irr & ~m.imr, 0) << "INT asserted with no unmasked request, op " << i;
      if (!(m.irr & ~m.imr))
        break;
    }
    host_.acked.clear();
    host_.masks.clear();
  }
}

TEST(PicThreads, ConcurrentCallersKeepItConsistent) {
  // vCPU threads doing port I/O and INTA, device threads driving lines:
  // the lock serialises them (ASan sees the memory, the user spinlock
  // aborts on recursion, so a host call under the lock would show).
  struct Host : PicHost {
    PicBox *pic = nullptr;
    std::atomic<long> changes{0}, acks{0}, masks{0};
    void pic_intr_changed() override {
      pic->intr();
      kvm_pic_state s;
      pic->get_state(1, &s);
      changes++;
    }
    void pic_irq_acked(u32) override { acks++; }
    void pic_mask_changed(u32, bool) override { masks++; }
  } host;
  PicBox pic(host);
  ASSERT_TRUE(pic.ok());
  ASSERT_EQ(pic.init(), 0);
  host.pic = &pic;
  std::vector<std::thread> threads;
  for (u32 t = 0; t < 4; t++) {
    threads.emplace_back([&pic, t] {
      std::mt19937 rng(t);
      static const u64 kPorts[] = {0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1};
      for (int i = 0; i < 20000; i++) {
        u32 op = rng() % 10;
        if (op < 5) {
          pic.set_irq(rng() % 16, t, rng() & 1);
        } else if (op < 7) {
          pic.acknowledge();
        } else if (op < 9) {
          u8 v = u8(rng());
          // Mostly EOIs and mask writes; now and then anything.
          if (rng() % 8)
            v = (rng() & 1) ? 0x20 : u8(rng() & 0x0f);
          pic.write(rng() % 16 ? kPorts[rng() % 4] : kPorts[4 + rng() % 2], 1, &v);
        } else {
          u8 v;
          pic.read(kPorts[rng() % 6], 1, &v);
        }
      }
    });
  }
  for (auto &th : threads)
    th.join();
  EXPECT_GT(host.changes.load(), 0);
  EXPECT_GT(host.acks.load(), 0);
}

// ---- a guest's view ----

TEST_F(PicTest, LinuxStyleBoot) {
  // init_8259A(0), then the timer and the RTC (IRQ8) as Linux drives them.
  init_pair(0x30, 0x38);
  out(0x21, 0xfb);  // everything masked but the cascade
  out(0xa1, 0xff);
  EXPECT_EQ(pic_.set_irq(0, kSourcePit, true), -1);
  pic_.set_irq(0, kSourcePit, false);
  out(0x21, 0xfa);  // unmask the timer
  EXPECT_TRUE(pic_.intr());
  EXPECT_EQ(pic_.acknowledge(), 0x30);
  // Linux's mask_and_ack_8259A: mask, specific EOI.
  out(0x21, 0xfb);
  out(0x20, 0x60);
  EXPECT_EQ(state(0).isr, 0);
  out(0x21, 0xfa);
  out(0xa1, 0xfe);  // RTC
  pulse(8);
  EXPECT_EQ(pic_.acknowledge(), 0x38);
  out(0xa1, 0xff);
  out(0xa0, 0x60);  // slave: specific EOI 0
  out(0x20, 0x62);  // master: specific EOI 2
  EXPECT_EQ(state(0).isr, 0);
  EXPECT_EQ(state(1).isr, 0);
  std::vector<u32> want = {0, 8, 2};
  EXPECT_EQ(host_.acked, want);
}

}  // namespace
