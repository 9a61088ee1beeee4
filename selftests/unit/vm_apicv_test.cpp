// SPDX-License-Identifier: GPL-2.0
// APICv's EOI-exit bitmap (kmod/core/vm_apicv.cpp, the IOAPIC's table hook
// and eoi_exit_vectors in kmod/core/irq/ioapic.cpp): which vectors it
// holds (IOAPIC level entries masked or not, the RTC pin's, split-irqchip
// level MSI routes below the reserved pins), when it is recomputed (every
// redirection write that changes a vector or trigger mode, KVM_SET_IRQCHIP,
// KVM_SET_GSI_ROUTING, never a missed change under random hostile IOAPIC
// writes), that the generation moves exactly when the set changes and that
// every vCPU is kicked then.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <minikvm/core.h>
#include <minikvm/platform.h>

#include <cstring>
#include <random>
#include <vector>

#include "core/irq/ioapic.h"
#include "core/vm.h"
#include "eventfd_user.h"
#include "user_platform.h"
#include "vm_fixture.h"

using mk::u32;
using mk::u64;
using mk::u8;
using mk::irq::ApicBus;
using mk::irq::ApicMessage;
using mk::irq::Ioapic;
using mk::irq::Lapic;

// The core is built without RTTI: UBSan's vptr check cannot look at core
// classes' typeinfo, so virtual calls into them go through these.
#define NO_VPTR __attribute__((no_sanitize("vptr")))

namespace {

NO_VPTR long vm_ioctl(mk::Vm *vm, unsigned int cmd, unsigned long arg) { return vm->ioctl(cmd, arg); }
NO_VPTR int vm_create(mk::Vm **vm) { return mk::Vm::create(vm); }
NO_VPTR void vm_release(mk::Vm *vm) { vm->release(); }
NO_VPTR void vm_bitmap(mk::Vm *vm, u64 *w) { vm->eoi_exit_bitmap(w); }
NO_VPTR u32 vm_gen(mk::Vm *vm) { return vm->eoi_exit_generation(); }
NO_VPTR bool vm_split(mk::Vm *vm) { return vm->irqchip_split(); }
NO_VPTR int vm_mmio_write(mk::Vm *vm, u64 a, u32 len, const void *v) { return vm->mmio_bus().write(a, len, v); }
NO_VPTR Ioapic *io_new(ApicBus &bus) { return new Ioapic(bus); }
NO_VPTR void io_delete(Ioapic *io) { delete io; }
NO_VPTR int io_init(Ioapic *io) { return io->init(); }
NO_VPTR void io_set_table_hook(Ioapic *io, void (*fn)(void *), void *arg) { io->set_table_hook(fn, arg); }
NO_VPTR void io_eoi_exit_vectors(Ioapic *io, u64 *w, u32 pins) { io->eoi_exit_vectors(w, pins); }
NO_VPTR int io_write(Ioapic *io, u64 a, u32 len, const void *v) { return io->write(a, len, v); }
NO_VPTR int io_set_irq(Ioapic *io, u32 pin, u32 src, bool level) { return io->set_irq(pin, src, level); }
NO_VPTR void io_get_state(Ioapic *io, kvm_ioapic_state *s) { io->get_state(s); }
NO_VPTR void io_set_state(Ioapic *io, const kvm_ioapic_state &s) { io->set_state(s); }
NO_VPTR void io_reset(Ioapic *io) { io->reset(); }
NO_VPTR u64 io_redirection_entry(Ioapic *io, u32 pin) { return io->redirection_entry(pin); }

using mk::test::ptr;

struct Bits {
  u64 w[4] = {};
  void set(u32 v) { w[v >> 6] |= 1ull << (v & 63); }
  bool has(u32 v) const { return (w[v >> 6] >> (v & 63)) & 1; }
  bool operator==(const Bits &o) const { return std::memcmp(w, o.w, sizeof(w)) == 0; }
  int count() const {
    int n = 0;
    for (u64 x : w)
      n += __builtin_popcountll(x);
    return n;
  }
};

// ---- The IOAPIC side: what counts, and the hook ----

struct Bus : ApicBus {
  std::vector<int> *order = nullptr;
  int deliver(const ApicMessage &, Lapic *) override {
    if (order)
      order->push_back(1);
    return 1;
  }
};

class IoapicEoiExit : public ::testing::Test {
 protected:
  void SetUp() override {
    live_ = mk_alloc_live();
    io_ = io_new(bus_);
    ASSERT_EQ(io_init(io_), 0);
    io_set_table_hook(io_, 
        [](void *arg) {
          auto *self = static_cast<IoapicEoiExit *>(arg);
          self->hooks_++;
          self->order_.push_back(0);
          // The hook runs without the IOAPIC lock: it may read the table
          // (as Vm::eoi_exit_changed does).
          self->seen_ = Bits();
          io_eoi_exit_vectors(self->io_, self->seen_.w, 0);
        },
        this);
  }
  void TearDown() override {
    io_delete(io_);
    std::vector<int>().swap(order_);
    EXPECT_EQ(mk_alloc_live(), live_);
  }
  void wr(u32 index, u32 val) {
    u32 sel = index;
    ASSERT_EQ(io_write(io_, Ioapic::kBase + Ioapic::kRegSelect, 4, &sel), 0);
    ASSERT_EQ(io_write(io_, Ioapic::kBase + Ioapic::kRegWindow, 4, &val), 0);
  }
  void entry(u32 pin, u64 e) {
    wr(0x10 + 2 * pin, static_cast<u32>(e));
    wr(0x11 + 2 * pin, static_cast<u32>(e >> 32));
  }
  Bits now() {
    Bits b;
    io_eoi_exit_vectors(io_, b.w, 0);
    return b;
  }
  // The reference: from the entries as the IOAPIC shows them.
  Bits reference() {
    Bits b;
    for (u32 pin = 0; pin < Ioapic::kPins; pin++) {
      u64 e = io_redirection_entry(io_, pin);
      if ((e & Ioapic::kTriggerLevel) || pin == 8)
        b.set(static_cast<u32>(e & 0xff));
    }
    return b;
  }
  Bus bus_;
  Ioapic *io_ = nullptr;
  int hooks_ = 0;
  Bits seen_;
  std::vector<int> order_;
  long live_ = 0;
};

TEST_F(IoapicEoiExit, LevelEntriesMaskedOrNotAndTheRtcPin) {
  // After init every entry is masked, vector 0, edge: only the RTC pin's
  // vector (0) counts, as KVM's kvm_ioapic_scan_entry (index == RTC_GSI).
  Bits b = now();
  EXPECT_EQ(b.count(), 1);
  EXPECT_TRUE(b.has(0));
  entry(1, 0x31);                                  // edge, unmasked: no
  entry(2, 0x42 | Ioapic::kTriggerLevel);          // level, unmasked: yes
  entry(3, 0x53 | Ioapic::kTriggerLevel | Ioapic::kMasked);  // level, masked: yes
  entry(8, 0x68);                                  // the RTC, edge: yes
  entry(9, 0x79 | Ioapic::kMasked);                // edge, masked: no
  b = now();
  EXPECT_FALSE(b.has(0x31));
  EXPECT_TRUE(b.has(0x42));
  EXPECT_TRUE(b.has(0x53));
  EXPECT_TRUE(b.has(0x68));
  EXPECT_FALSE(b.has(0x79));
  EXPECT_FALSE(b.has(0)) << "pin 8 no longer has vector 0; the others are edge";
  EXPECT_EQ(b.count(), 3);
  EXPECT_TRUE(b == reference());
  // Listened pins (ack notifiers on edge pins: PIT reinjection, resample).
  Bits l;
  io_eoi_exit_vectors(io_, l.w, 1u << 1);
  EXPECT_TRUE(l.has(0x31));
  EXPECT_EQ(l.count(), 4);
}

TEST_F(IoapicEoiExit, HookFiresWhenVectorOrTriggerChangesOnly) {
  entry(4, 0x44 | Ioapic::kMasked);
  int h = hooks_;
  EXPECT_GE(h, 1) << "vector changed";
  entry(4, 0x44 | Ioapic::kMasked);
  EXPECT_EQ(hooks_, h) << "same entry again";
  entry(4, 0x44);
  EXPECT_EQ(hooks_, h) << "mask only";
  entry(4, 0x44 | (5ull << 56) | Ioapic::kDestModeLogical | (1ull << 8));
  EXPECT_EQ(hooks_, h) << "destination and delivery mode do not matter (destination-agnostic)";
  entry(4, 0x44 | Ioapic::kTriggerLevel | Ioapic::kMasked);
  EXPECT_EQ(hooks_, h + 1) << "trigger mode";
  EXPECT_TRUE(seen_.has(0x44)) << "the hook sees the new table";
  entry(4, 0x45 | Ioapic::kTriggerLevel | Ioapic::kMasked);
  EXPECT_EQ(hooks_, h + 2) << "vector";
  EXPECT_TRUE(seen_.has(0x45));
  EXPECT_FALSE(seen_.has(0x44));
  wr(0x00, 0x0f000000);  // IOAPICID
  wr(0x01, 0xffffffff);  // version (read-only)
  wr(0x40, 0x12345678);  // beyond the table
  EXPECT_EQ(hooks_, h + 2);
}

TEST_F(IoapicEoiExit, HookRunsBeforeTheWritesOwnDelivery) {
  // A level line already asserted, entry masked; unmasking it as level
  // delivers at once: the bitmap must have the vector before that.
  entry(5, 0x55 | Ioapic::kMasked);
  io_set_irq(io_, 5, mk::irq::kSourceUserspace, true);
  bus_.order = &order_;
  order_.clear();
  wr(0x10 + 2 * 5, 0x56 | static_cast<u32>(Ioapic::kTriggerLevel));  // unmask, level, new vector
  bus_.order = nullptr;
  ASSERT_EQ(order_.size(), 2u);
  EXPECT_EQ(order_[0], 0) << "hook first";
  EXPECT_EQ(order_[1], 1) << "then the delivery";
  EXPECT_TRUE(seen_.has(0x56));
  io_set_irq(io_, 5, mk::irq::kSourceUserspace, false);
}

TEST_F(IoapicEoiExit, SetStateAndResetFireTheHook) {
  kvm_ioapic_state s{};
  io_get_state(io_, &s);
  s.redirtbl[7].bits = 0x77 | Ioapic::kTriggerLevel | Ioapic::kMasked;
  int h = hooks_;
  io_set_state(io_, s);
  EXPECT_EQ(hooks_, h + 1);
  EXPECT_TRUE(seen_.has(0x77));
  io_reset(io_);
  EXPECT_EQ(hooks_, h + 2);
  EXPECT_FALSE(seen_.has(0x77));
}

// Random IOREGSEL/IOWIN writes of any width and value (hostile guests):
// after each, what the last hook call saw equals the table's reference.
TEST_F(IoapicEoiExit, RandomHostileWritesNeverMissAChange) {
  seen_ = now();  // init() ran before the hook was set
  std::mt19937 rng(77);
  for (int i = 0; i < 20000; i++) {
    u32 val = rng();
    u32 len = 1u << (rng() % 4);
    u64 off = (rng() % 3 == 0) ? Ioapic::kRegSelect : (rng() % 8 ? Ioapic::kRegWindow : rng() % 0x100);
    if (off == Ioapic::kRegSelect && rng() % 4)
      val = 0x10 + rng() % 48;  // mostly table registers
    if (rng() % 16 == 0) {
      // Sometimes a level-triggered entry with an asserted line (Remote IRR, deliveries).
      io_set_irq(io_, rng() % 24, mk::irq::kSourceUserspace, rng() & 1);
    }
    u64 data = val;
    ASSERT_EQ(io_write(io_, Ioapic::kBase + off, len, &data), 0);
    ASSERT_TRUE(seen_ == reference()) << "step " << i;
  }
  EXPECT_GT(hooks_, 100);
}

// ---- The VM: bitmap, generation, kicks ----

class VmEoiExit : public mk::test::CoreFixture {
 protected:
  void SetUp() override {
    start_core();
    ASSERT_EQ(vm_create(&vm_), 0);
  }
  void TearDown() override {
    for (long fd : vcpus_)
      EXPECT_EQ(mk::user::fd_close(static_cast<int>(fd)), 0);
    vm_release(vm_);
    stop_core();
    std::vector<long>().swap(vcpus_);
    expect_no_leak();
  }
  Bits bitmap() {
    Bits b;
    vm_bitmap(vm_, b.w);
    return b;
  }
  void add_vcpus(int n) {
    for (int i = 0; i < n; i++) {
      long fd = vm_ioctl(vm_, KVM_CREATE_VCPU, static_cast<unsigned long>(i));
      ASSERT_GE(fd, 0);
      vcpus_.push_back(fd);
    }
  }
  void set_entries(std::initializer_list<std::pair<u32, u64>> es) {
    kvm_irqchip chip{};
    chip.chip_id = KVM_IRQCHIP_IOAPIC;
    ASSERT_EQ(vm_ioctl(vm_, KVM_GET_IRQCHIP, ptr(&chip)), 0);
    for (auto &e : es)
      chip.chip.ioapic.redirtbl[e.first].bits = e.second;
    ASSERT_EQ(vm_ioctl(vm_, KVM_SET_IRQCHIP, ptr(&chip)), 0);
  }
  // A guest's IOAPIC access as the vCPU's MMIO exit dispatches it.
  void io_write(u32 index, u32 val) {
    ASSERT_EQ(vm_mmio_write(vm_, Ioapic::kBase + Ioapic::kRegSelect, 4, &index), 0);
    ASSERT_EQ(vm_mmio_write(vm_, Ioapic::kBase + Ioapic::kRegWindow, 4, &val), 0);
  }
  mk::Vm *vm_ = nullptr;
  std::vector<long> vcpus_;
};

TEST_F(VmEoiExit, ComputedFromTheIoapicAndGenerationMovesOnlyOnChange) {
  EXPECT_EQ(bitmap().count(), 0) << "no irqchip";
  u32 g0 = vm_gen(vm_);
  ASSERT_EQ(vm_ioctl(vm_, KVM_CREATE_IRQCHIP, 0), 0);
  // The RTC pin's vector 0 (reset table).
  EXPECT_TRUE(bitmap().has(0));
  EXPECT_EQ(bitmap().count(), 1);
  u32 g1 = vm_gen(vm_);
  EXPECT_NE(g1, g0);
  add_vcpus(3);
  unsigned long wakes = mk::user::vcpu_wakes();
  set_entries({{2, 0x42 | Ioapic::kTriggerLevel}, {3, 0x53 | Ioapic::kTriggerLevel | Ioapic::kMasked}, {4, 0x64}});
  Bits b = bitmap();
  EXPECT_TRUE(b.has(0x42) && b.has(0x53) && b.has(0));
  EXPECT_FALSE(b.has(0x64));
  u32 g2 = vm_gen(vm_);
  EXPECT_NE(g2, g1);
  EXPECT_EQ(mk::user::vcpu_wakes(), wakes + 3) << "every vCPU kicked once";
  // The same table again: recomputed, unchanged, no new generation or kick.
  set_entries({{2, 0x42 | Ioapic::kTriggerLevel}});
  EXPECT_EQ(vm_gen(vm_), g2);
  EXPECT_EQ(mk::user::vcpu_wakes(), wakes + 3);
  // Masking a level entry keeps it (Remote IRR still needs the EOI).
  set_entries({{2, 0x42 | Ioapic::kTriggerLevel | Ioapic::kMasked}});
  EXPECT_TRUE(bitmap().has(0x42));
  EXPECT_EQ(vm_gen(vm_), g2);
  // Level -> edge removes it.
  set_entries({{2, 0x42}});
  EXPECT_FALSE(bitmap().has(0x42));
  EXPECT_NE(vm_gen(vm_), g2);
  EXPECT_EQ(mk::user::vcpu_wakes(), wakes + 6);
  // A routing change that does not touch the IOAPIC: nothing moves.
  u32 g3 = vm_gen(vm_);
  struct {
    kvm_irq_routing head;
    kvm_irq_routing_entry e[1];
  } rt{};
  rt.head.nr = 1;
  rt.e[0].gsi = 30;
  rt.e[0].type = KVM_IRQ_ROUTING_MSI;
  rt.e[0].u.msi.address_lo = 0xfee00000;
  rt.e[0].u.msi.data = 0x8071;  // level MSI: counts only in split mode
  ASSERT_EQ(vm_ioctl(vm_, KVM_SET_GSI_ROUTING, ptr(&rt)), 0);
  EXPECT_EQ(vm_gen(vm_), g3);
  EXPECT_FALSE(bitmap().has(0x71));
}

TEST_F(VmEoiExit, AResampledEdgePinIsListenedTo) {
  // KVM's kvm_irq_has_notifier: an edge pin whose EOI a resampling irqfd
  // waits for must exit on EOI under APICv, or the resamplefd never fires.
  ASSERT_EQ(vm_ioctl(vm_, KVM_CREATE_IRQCHIP, 0), 0);
  set_entries({{5, 0x55}});
  EXPECT_FALSE(bitmap().has(0x55));
  int fd = mk::user::eventfd_new(), rfd = mk::user::eventfd_new();
  kvm_irqfd a{};
  a.fd = static_cast<u32>(fd);
  a.gsi = 5;
  a.flags = KVM_IRQFD_FLAG_RESAMPLE;
  a.resamplefd = static_cast<u32>(rfd);
  u32 g = vm_gen(vm_);
  ASSERT_EQ(vm_ioctl(vm_, KVM_IRQFD, ptr(&a)), 0);
  EXPECT_TRUE(bitmap().has(0x55));
  EXPECT_NE(vm_gen(vm_), g);
  // The pin's vector follows the entry.
  set_entries({{5, 0x56}});
  EXPECT_TRUE(bitmap().has(0x56));
  EXPECT_FALSE(bitmap().has(0x55));
  // The last resampler of the GSI goes: so does the vector.
  a.flags = KVM_IRQFD_FLAG_DEASSIGN;
  ASSERT_EQ(vm_ioctl(vm_, KVM_IRQFD, ptr(&a)), 0);
  mk::user::run_work();
  EXPECT_FALSE(bitmap().has(0x56));
  EXPECT_EQ(mk::user::eventfd_close(fd), 0);
  EXPECT_EQ(mk::user::eventfd_close(rfd), 0);
}

TEST_F(VmEoiExit, SplitIrqchipTakesLevelMsiRoutesBelowTheReservedPins) {
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_SPLIT_IRQCHIP;
  cap.args[0] = 24;
  ASSERT_EQ(vm_ioctl(vm_, KVM_ENABLE_CAP, ptr(&cap)), 0);
  ASSERT_TRUE(vm_split(vm_));
  add_vcpus(2);
  EXPECT_EQ(bitmap().count(), 0);
  u32 g0 = vm_gen(vm_);
  unsigned long wakes = mk::user::vcpu_wakes();
  struct {
    kvm_irq_routing head;
    kvm_irq_routing_entry e[4];
  } rt{};
  rt.head.nr = 4;
  u32 gsis[] = {5, 6, 23, 24};
  u32 data[] = {0x8045, 0x0046, 0xc047, 0x8048};  // level, edge, level (assert), level beyond the pins
  for (int i = 0; i < 4; i++) {
    rt.e[i].gsi = gsis[i];
    rt.e[i].type = KVM_IRQ_ROUTING_MSI;
    rt.e[i].u.msi.address_lo = 0xfee00000;
    rt.e[i].u.msi.data = data[i];
  }
  long r = vm_ioctl(vm_, KVM_SET_GSI_ROUTING, ptr(&rt));
  ASSERT_EQ(r, 0) << "KVM_SET_GSI_ROUTING in split mode";
  Bits b = bitmap();
  EXPECT_TRUE(b.has(0x45));
  EXPECT_FALSE(b.has(0x46)) << "edge";
  EXPECT_TRUE(b.has(0x47));
  EXPECT_FALSE(b.has(0x48)) << "GSI 24 is not a reserved IOAPIC pin";
  EXPECT_EQ(b.count(), 2);
  EXPECT_NE(vm_gen(vm_), g0);
  EXPECT_EQ(mk::user::vcpu_wakes(), wakes + 2);
  rt.head.nr = 0;
  ASSERT_EQ(vm_ioctl(vm_, KVM_SET_GSI_ROUTING, ptr(&rt)), 0);
  EXPECT_EQ(bitmap().count(), 0);
}

TEST_F(VmEoiExit, GuestIoapicWritesThroughTheMmioBusUpdateIt) {
  ASSERT_EQ(vm_ioctl(vm_, KVM_CREATE_IRQCHIP, 0), 0);
  add_vcpus(1);
  io_write(0x10 + 2 * 11, 0x9b | static_cast<u32>(Ioapic::kTriggerLevel));
  EXPECT_TRUE(bitmap().has(0x9b));
  u32 g = vm_gen(vm_);
  io_write(0x10 + 2 * 11, 0x9b);  // edge
  EXPECT_FALSE(bitmap().has(0x9b));
  EXPECT_NE(vm_gen(vm_), g);
}

}  // namespace
