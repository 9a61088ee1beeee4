// SPDX-License-Identifier: GPL-2.0
// irqfd (irq/irqfd.cpp) on the user platform's simulated eventfds and work
// items: the Irqfds class against a fake GSI sink and APIC bus (wake-up
// paths, resampling, routing swaps, teardown, thousands of irqfds,
// allocation failure, a signalling thread racing routing changes), then
// KVM_IRQFD / KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP) through the VM fd.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

#include <minikvm/core.h>

#include "eventfd_user.h"
#include "irq/irqfd.h"
#include "irq/routing.h"
#include "rt/new.h"
#include "user_platform.h"
#include "vm_fixture.h"

extern "C" long mk_alloc_live(void);

namespace {

using mk::irq::ApicMessage;
using mk::irq::GsiRouting;
using mk::irq::Irqfds;
namespace user = mk::user;

struct FakeSink : mk::irq::GsiSink {
  std::mutex m;
  user::HostVector<std::tuple<unsigned, unsigned, bool>> calls;  // not counted as core allocations
  int set_gsi(unsigned gsi, unsigned source, bool level) override {
    std::lock_guard<std::mutex> g(m);
    calls.emplace_back(gsi, source, level);
    return 1;
  }
};

struct FakeBus : mk::irq::ApicBus {
  std::mutex m;
  user::HostVector<ApicMessage> msgs;
  int deliver(const ApicMessage &msg, mk::irq::Lapic *) override {
    std::lock_guard<std::mutex> g(m);
    msgs.push_back(msg);
    return 1;
  }
  size_t size() {
    std::lock_guard<std::mutex> g(m);
    return msgs.size();
  }
};

kvm_irq_routing_entry msi_route(unsigned gsi, unsigned vector, unsigned dest = 0) {
  kvm_irq_routing_entry e{};
  e.gsi = gsi;
  e.type = KVM_IRQ_ROUTING_MSI;
  e.u.msi.address_lo = 0xfee00000u | (dest << 12);
  e.u.msi.data = vector;
  return e;
}

kvm_irqfd irqfd_args(int fd, unsigned gsi, unsigned flags = 0, int resamplefd = 0) {
  kvm_irqfd a{};
  a.fd = static_cast<unsigned>(fd);
  a.gsi = gsi;
  a.flags = flags;
  a.resamplefd = static_cast<unsigned>(resamplefd);
  return a;
}

// The test is built with RTTI and UBSan, whose vptr check needs the
// typeinfo of a polymorphic core class, which the core (no RTTI) does not
// emit (see pic_test.cpp): every use of Irqfds goes through these
// forwarders with that check off.
#define NO_VPTR __attribute__((no_sanitize("vptr")))
struct IrqfdsBox {
  Irqfds *p;
  NO_VPTR IrqfdsBox(mk::irq::GsiSink &s, mk::irq::ApicBus &b) : p(new (mk::nothrow) Irqfds(s, b, nullptr)) {}
  NO_VPTR ~IrqfdsBox() { delete p; }
  NO_VPTR int init() { return p->init(); }
  NO_VPTR void set_irqchip(GsiRouting *r, bool full) { p->set_irqchip(r, full); }
  NO_VPTR long ioctl(const kvm_irqfd &a) { return p->ioctl(a); }
  NO_VPTR void routing_changed() { p->routing_changed(); }
  NO_VPTR void release_all() { p->release_all(); }
  NO_VPTR void irq_acked(unsigned chip, unsigned pin) { p->irq_acked(chip, pin); }
  NO_VPTR void pin_acked(unsigned pin) { p->pin_acked(pin); }
  NO_VPTR unsigned active_count() { return p->active_count(); }
  NO_VPTR unsigned resampler_count() { return p->resampler_count(); }
};

class IrqfdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    live_ = mk_alloc_live();
    efds_ = user::eventfd_live();
    routing_ = new GsiRouting();
    ASSERT_EQ(routing_->init(), 0);
    ASSERT_EQ(routing_->set_default(), 0);
    set_ = new IrqfdsBox(sink_, bus_);
    ASSERT_EQ(set_->init(), 0);
  }
  void TearDown() override {
    user::fail_alloc_after(-1);
    delete set_;
    delete routing_;
    user::run_work();
    for (int fd : fds_)
      user::eventfd_close(fd);
    EXPECT_EQ(user::queued_work(), 0);
    EXPECT_EQ(user::eventfd_live(), efds_) << "eventfd references leaked";
    EXPECT_EQ(mk_alloc_live(), live_) << "allocations leaked";
  }
  int newfd() {
    int fd = user::eventfd_new();
    fds_.push_back(fd);
    return fd;
  }
  void full() { set_->set_irqchip(routing_, true); }
  void set_routes(std::vector<kvm_irq_routing_entry> v) {
    ASSERT_EQ(routing_->set(v.data(), static_cast<unsigned>(v.size())), 0);
    set_->routing_changed();
  }

  FakeSink sink_;
  FakeBus bus_;
  GsiRouting *routing_ = nullptr;
  IrqfdsBox *set_ = nullptr;
  user::HostVector<int> fds_;
  long live_ = 0, efds_ = 0;
};

TEST_F(IrqfdTest, ArgumentChecksAsKvm) {
  int fd = newfd();
  EXPECT_EQ(set_->ioctl(irqfd_args(fd, 1)), -EINVAL) << "no irqchip: kvm_arch_irqfd_allowed";
  EXPECT_EQ(set_->ioctl(irqfd_args(fd, 1, 4)), -EINVAL) << "unknown flag";
  EXPECT_EQ(set_->ioctl(irqfd_args(-1, 1, KVM_IRQFD_FLAG_DEASSIGN)), -EBADF);
  EXPECT_EQ(set_->ioctl(irqfd_args(fd, 1, KVM_IRQFD_FLAG_DEASSIGN)), 0) << "deassign of none: 0 in KVM 6.1";
  set_->set_irqchip(routing_, false);
  EXPECT_EQ(set_->ioctl(irqfd_args(fd, 1, KVM_IRQFD_FLAG_RESAMPLE, newfd())), -EINVAL)
      << "resample needs the full irqchip";
  full();
  EXPECT_EQ(set_->ioctl(irqfd_args(99999, 1)), -EBADF);
  EXPECT_EQ(set_->ioctl(irqfd_args(5, 1)), -EINVAL) << "an fd that is not an eventfd";
  EXPECT_EQ(set_->ioctl(irqfd_args(fd, 1, KVM_IRQFD_FLAG_RESAMPLE, 99999)), -EBADF);
  EXPECT_EQ(set_->ioctl(irqfd_args(fd, 1)), 0);
  EXPECT_EQ(set_->ioctl(irqfd_args(fd, 2)), -EBUSY) << "one eventfd, one GSI";
  EXPECT_EQ(set_->ioctl(irqfd_args(fd, 1)), -EBUSY);
  EXPECT_EQ(set_->ioctl(irqfd_args(newfd(), 0xffffffffu)), 0) << "KVM 6.1 does not range-check the GSI";
  EXPECT_EQ(set_->active_count(), 2u);
  EXPECT_EQ(set_->ioctl(irqfd_args(fd, 2, KVM_IRQFD_FLAG_DEASSIGN)), 0) << "other GSI: nothing";
  EXPECT_EQ(set_->active_count(), 2u);
  EXPECT_EQ(set_->ioctl(irqfd_args(fd, 1, KVM_IRQFD_FLAG_DEASSIGN)), 0);
  EXPECT_EQ(set_->active_count(), 1u);
  EXPECT_EQ(user::eventfd_watchers(fd), 0);
}

TEST_F(IrqfdTest, MsiRouteIsDeliveredFromTheWakeUp) {
  full();
  set_routes({msi_route(40, 0x45, 3)});
  int fd = newfd();
  ASSERT_EQ(set_->ioctl(irqfd_args(fd, 40)), 0);
  ASSERT_EQ(user::eventfd_signal_fd(fd), 0);
  ASSERT_EQ(bus_.size(), 1u) << "delivered inside the wake-up, no work item";
  EXPECT_EQ(bus_.msgs[0].vector, 0x45);
  EXPECT_EQ(bus_.msgs[0].dest, 3u);
  EXPECT_EQ(user::queued_work(), 0);
  EXPECT_EQ(user::eventfd_read(fd), 0u) << "the wake-up consumed the count";
  EXPECT_TRUE(sink_.calls.empty());
}

TEST_F(IrqfdTest, IrqchipRouteIsAnEdgeFromTheWorkItem) {
  full();
  int fd = newfd();
  ASSERT_EQ(set_->ioctl(irqfd_args(fd, 4)), 0);
  user::eventfd_signal_fd(fd);
  user::eventfd_signal_fd(fd);  // coalesces into the queued work item
  EXPECT_TRUE(sink_.calls.empty());
  EXPECT_EQ(user::run_work(), 1);
  ASSERT_EQ(sink_.calls.size(), 2u);
  EXPECT_EQ(sink_.calls[0], std::make_tuple(4u, mk::irq::kSourceUserspace, true));
  EXPECT_EQ(sink_.calls[1], std::make_tuple(4u, mk::irq::kSourceUserspace, false));
  EXPECT_EQ(bus_.size(), 0u);
}

TEST_F(IrqfdTest, SignalPendingBeforeAssignIsInjected) {
  full();
  int fd = newfd();
  user::eventfd_signal_fd(fd);
  ASSERT_EQ(set_->ioctl(irqfd_args(fd, 4)), 0);
  EXPECT_EQ(user::run_work(), 1);
  EXPECT_EQ(sink_.calls.size(), 2u);
}

TEST_F(IrqfdTest, ResampleKeepsTheLineUpUntilTheAck) {
  full();
  int fd1 = newfd(), rfd1 = newfd(), fd2 = newfd(), rfd2 = newfd();
  ASSERT_EQ(set_->ioctl(irqfd_args(fd1, 10, KVM_IRQFD_FLAG_RESAMPLE, rfd1)), 0);
  ASSERT_EQ(set_->ioctl(irqfd_args(fd2, 10, KVM_IRQFD_FLAG_RESAMPLE, rfd2)), 0);
  EXPECT_EQ(set_->resampler_count(), 1u) << "one resampler per GSI";
  user::eventfd_signal_fd(fd1);
  user::run_work();
  ASSERT_EQ(sink_.calls.size(), 1u);
  EXPECT_EQ(sink_.calls[0], std::make_tuple(10u, mk::irq::kSourceResample, true));
  EXPECT_EQ(user::eventfd_read(rfd1), 0u);
  // The guest's EOI of IOAPIC pin 10 (default routing: GSI 10).
  set_->pin_acked(10);
  ASSERT_EQ(sink_.calls.size(), 2u);
  EXPECT_EQ(sink_.calls[1], std::make_tuple(10u, mk::irq::kSourceResample, false));
  EXPECT_EQ(user::eventfd_read(rfd1), 1u);
  EXPECT_EQ(user::eventfd_read(rfd2), 1u) << "every irqfd of the GSI hears it";
  // The PIC's ack of pin 10 (slave pin 2) does the same.
  set_->irq_acked(KVM_IRQCHIP_PIC_SLAVE, 10);
  EXPECT_EQ(user::eventfd_read(rfd1), 1u);
  // Other pins: nothing.
  set_->pin_acked(11);
  EXPECT_EQ(user::eventfd_read(rfd1), 0u);
  // Deassigning one keeps the resampler; the last one lowers and frees it.
  ASSERT_EQ(set_->ioctl(irqfd_args(fd1, 10, KVM_IRQFD_FLAG_DEASSIGN)), 0);
  EXPECT_EQ(set_->resampler_count(), 1u);
  size_t before = sink_.calls.size();
  ASSERT_EQ(set_->ioctl(irqfd_args(fd2, 10, KVM_IRQFD_FLAG_DEASSIGN)), 0);
  EXPECT_EQ(set_->resampler_count(), 0u);
  ASSERT_EQ(sink_.calls.size(), before + 1);
  EXPECT_EQ(sink_.calls.back(), std::make_tuple(10u, mk::irq::kSourceResample, false));
}

TEST_F(IrqfdTest, ResampleOnAnMsiGsiIsAcceptedAndDeliversAnEdge) {
  // KVM accepts it; the wake-up delivers the MSI and no ack ever comes.
  full();
  set_routes({msi_route(50, 0x55)});
  int fd = newfd(), rfd = newfd();
  ASSERT_EQ(set_->ioctl(irqfd_args(fd, 50, KVM_IRQFD_FLAG_RESAMPLE, rfd)), 0);
  user::eventfd_signal_fd(fd);
  EXPECT_EQ(bus_.size(), 1u);
  EXPECT_EQ(user::queued_work(), 0);
  EXPECT_EQ(user::eventfd_read(rfd), 0u);
}

TEST_F(IrqfdTest, RoutingChangesReachExistingIrqfds) {
  full();
  set_routes({msi_route(40, 0x45)});
  int fd = newfd();
  ASSERT_EQ(set_->ioctl(irqfd_args(fd, 40)), 0);
  user::eventfd_signal_fd(fd);
  set_routes({msi_route(40, 0x46, 1)});
  user::eventfd_signal_fd(fd);
  // Now an irqchip route: through the work item.
  kvm_irq_routing_entry pin{};
  pin.gsi = 40;
  pin.type = KVM_IRQ_ROUTING_IRQCHIP;
  pin.u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
  pin.u.irqchip.pin = 7;
  set_routes({pin});
  user::eventfd_signal_fd(fd);
  ASSERT_EQ(bus_.size(), 2u);
  EXPECT_EQ(bus_.msgs[0].vector, 0x45);
  EXPECT_EQ(bus_.msgs[1].vector, 0x46);
  EXPECT_EQ(bus_.msgs[1].dest, 1u);
  EXPECT_EQ(user::run_work(), 1);
  EXPECT_EQ(sink_.calls.size(), 2u);
  // No route: the work item finds nothing either (the sink decides).
  set_routes({});
  user::eventfd_signal_fd(fd);
  EXPECT_EQ(user::run_work(), 1);
  EXPECT_EQ(bus_.size(), 2u);
}

TEST_F(IrqfdTest, ClosingTheEventfdTearsTheIrqfdDown) {
  full();
  int fd = user::eventfd_new();
  int rfd = newfd();
  ASSERT_EQ(set_->ioctl(irqfd_args(fd, 10, KVM_IRQFD_FLAG_RESAMPLE, rfd)), 0);
  EXPECT_EQ(user::eventfd_watchers(fd), 1);
  ASSERT_EQ(user::eventfd_close(fd), 0);
  EXPECT_EQ(set_->active_count(), 0u) << "POLLHUP deactivates at once";
  EXPECT_EQ(user::queued_work(), 1) << "the reaper";
  EXPECT_EQ(user::run_work(), 1);
  EXPECT_EQ(set_->resampler_count(), 0u);
  EXPECT_EQ(user::eventfd_live(), efds_ + 1) << "only rfd is left: the closed eventfd's context is gone";
  // Deassign after the close: the fd is gone, -EBADF.
  EXPECT_EQ(set_->ioctl(irqfd_args(fd, 10, KVM_IRQFD_FLAG_DEASSIGN)), -EBADF);
}

TEST_F(IrqfdTest, DeassignStopsInjectionAndWaitsForTheWorkItem) {
  full();
  int fd = newfd();
  ASSERT_EQ(set_->ioctl(irqfd_args(fd, 4)), 0);
  user::eventfd_signal_fd(fd);  // inject queued
  ASSERT_EQ(set_->ioctl(irqfd_args(fd, 4, KVM_IRQFD_FLAG_DEASSIGN)), 0);
  EXPECT_EQ(sink_.calls.size(), 2u) << "the queued inject ran (flushed) before the free";
  EXPECT_EQ(user::queued_work(), 0);
  user::eventfd_signal_fd(fd);
  EXPECT_EQ(user::run_work(), 0);
  EXPECT_EQ(sink_.calls.size(), 2u);
  EXPECT_EQ(set_->ioctl(irqfd_args(fd, 4)), 0) << "the eventfd may be assigned again";
}

TEST_F(IrqfdTest, ThousandsOfIrqfdsAndReleaseAll) {
  full();
  constexpr int kN = 5000;
  std::vector<kvm_irq_routing_entry> routes;
  for (int i = 0; i < 64; i++)
    routes.push_back(msi_route(100 + i, 0x40 + (i % 32)));
  set_routes(routes);
  std::vector<int> fds;
  for (int i = 0; i < kN; i++) {
    fds.push_back(newfd());
    ASSERT_EQ(set_->ioctl(irqfd_args(fds.back(), 100 + (i % 64))), 0) << i;
  }
  EXPECT_EQ(set_->active_count(), static_cast<unsigned>(kN));
  for (int fd : fds)
    user::eventfd_signal_fd(fd);
  EXPECT_EQ(bus_.size(), static_cast<size_t>(kN));
  set_->release_all();
  EXPECT_EQ(set_->active_count(), 0u);
  for (int fd : fds)
    EXPECT_EQ(user::eventfd_watchers(fd), 0);
}

TEST_F(IrqfdTest, AllocationFailureLeaksNothing) {
  full();
  int fd = newfd(), rfd = newfd();
  long base = mk_alloc_live();
  long efds = user::eventfd_live();
  int ok = 0;
  for (long n = 0; n < 12; n++) {
    user::fail_alloc_after(n);
    long r = set_->ioctl(irqfd_args(fd, 10, KVM_IRQFD_FLAG_RESAMPLE, rfd));
    user::fail_alloc_after(-1);
    if (r == 0) {
      ok++;
      ASSERT_EQ(set_->ioctl(irqfd_args(fd, 10, KVM_IRQFD_FLAG_DEASSIGN)), 0);
    } else {
      EXPECT_EQ(r, -ENOMEM) << n;
    }
    EXPECT_EQ(mk_alloc_live(), base) << n;
    EXPECT_EQ(user::eventfd_live(), efds) << n;
    EXPECT_EQ(set_->resampler_count(), 0u) << n;
  }
  EXPECT_GT(ok, 0);
}

TEST_F(IrqfdTest, SignallingThreadRacesRoutingSwaps) {
  // Every signal is delivered to a route that was valid at the time, whole
  // (vector and destination from the same route).
  full();
  set_routes({msi_route(40, 0x40, 0)});
  int fd = newfd();
  ASSERT_EQ(set_->ioctl(irqfd_args(fd, 40)), 0);
  constexpr int kSignals = 20000;
  std::atomic<bool> go{false};
  std::thread t([&] {
    while (!go.load()) {
    }
    for (int i = 0; i < kSignals; i++)
      user::eventfd_signal_fd(fd);
  });
  go = true;
  for (int i = 0; i < 300; i++)
    set_routes({i & 1 ? msi_route(40, 0x40, 0) : msi_route(40, 0x41, 1)});
  t.join();
  ASSERT_EQ(bus_.size(), static_cast<size_t>(kSignals)) << "no signal lost";
  int a = 0, b = 0;
  for (auto &m : bus_.msgs) {
    if (m.vector == 0x40 && m.dest == 0)
      a++;
    else if (m.vector == 0x41 && m.dest == 1)
      b++;
    else
      ADD_FAILURE() << "torn route: vector " << int(m.vector) << " dest " << m.dest;
  }
  EXPECT_EQ(a + b, kSignals);
}

TEST_F(IrqfdTest, ConcurrentAssignDeassignCloseSignalAndWork) {
  // Threads race every entry point: assign/deassign, signals, eventfd
  // closes (POLLHUP from the closing thread), a "kworker" running the work
  // items and routing changes. ASan/UBSan and the leak checks judge.
  full();
  set_routes({msi_route(7, 0x47)});
  constexpr int kFds = 64, kIters = 400;
  std::atomic<int> fds[kFds];
  for (auto &f : fds)
    f = user::eventfd_new();
  std::atomic<bool> stop{false};
  std::thread worker([&] {
    while (!stop.load())
      user::run_work();
  });
  std::thread signaller([&] {
    for (int i = 0; i < kIters * 4; i++)
      user::eventfd_signal_fd(fds[i % kFds].load());
  });
  std::thread assigner([&] {
    for (int i = 0; i < kIters; i++) {
      int fd = fds[(i * 7) % kFds].load();
      set_->ioctl(irqfd_args(fd, i % 2 ? 7 : 4));
      if (i % 3 == 0)
        set_->ioctl(irqfd_args(fd, i % 2 ? 7 : 4, KVM_IRQFD_FLAG_DEASSIGN));
    }
  });
  std::thread closer([&] {
    for (int i = 0; i < kIters / 4; i++) {
      int k = (i * 13) % kFds;
      int old = fds[k].exchange(user::eventfd_new());
      user::eventfd_close(old);
    }
  });
  for (int i = 0; i < 50; i++)
    set_routes({msi_route(7, 0x40 + (i & 7))});
  signaller.join();
  assigner.join();
  closer.join();
  stop = true;
  worker.join();
  set_->release_all();
  EXPECT_EQ(set_->active_count(), 0u);
  user::run_work();
  for (auto &f : fds)
    user::eventfd_close(f.load());
}

// ---- through the VM fd ----

using mk::test::ptr;

class VmIrqfd : public mk::test::VmFixture {
 protected:
  void SetUp() override {
    VmFixture::SetUp();
    efds_ = user::eventfd_live();
  }
  void after_fds_closed() override {
    for (int fd : fds_)
      user::eventfd_close(fd);
  }
  void after_core_exit() override { EXPECT_EQ(user::eventfd_live(), efds_); }
  long set_routes(std::vector<kvm_irq_routing_entry> v) {
    std::vector<unsigned char> buf(sizeof(kvm_irq_routing) + v.size() * sizeof(kvm_irq_routing_entry));
    auto *h = reinterpret_cast<kvm_irq_routing *>(buf.data());
    h->nr = static_cast<unsigned>(v.size());
    if (!v.empty())
      memcpy(buf.data() + sizeof(kvm_irq_routing), v.data(), v.size() * sizeof(v[0]));
    return vm(KVM_SET_GSI_ROUTING, ptr(buf.data()));
  }
  long irqfd(int fd, unsigned gsi, unsigned flags = 0, int rfd = 0) {
    kvm_irqfd a = irqfd_args(fd, gsi, flags, rfd);
    return vm(KVM_IRQFD, ptr(&a));
  }
  long split(unsigned long long pins) {
    kvm_enable_cap cap{};
    cap.cap = KVM_CAP_SPLIT_IRQCHIP;
    cap.args[0] = pins;
    return vm(KVM_ENABLE_CAP, ptr(&cap));
  }
  int newfd() {
    int fd = user::eventfd_new();
    fds_.push_back(fd);
    return fd;
  }

  long efds_ = 0;
  user::HostVector<int> fds_;
};

TEST_F(VmIrqfd, CapsAndIoctlChecks) {
  EXPECT_EQ(vm(KVM_CHECK_EXTENSION, KVM_CAP_IRQFD), 1);
  EXPECT_EQ(vm(KVM_CHECK_EXTENSION, KVM_CAP_IRQFD_RESAMPLE), 1);
  EXPECT_EQ(vm(KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD), 1);
  EXPECT_EQ(vm(KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH), 1);
  EXPECT_EQ(vm(KVM_CHECK_EXTENSION, KVM_CAP_SPLIT_IRQCHIP), 1);
  int fd = newfd();
  EXPECT_EQ(irqfd(fd, 1), -EINVAL) << "no irqchip";
  EXPECT_EQ(vm(KVM_IRQFD, 0x10), -EFAULT);
  EXPECT_EQ(vm(KVM_IOEVENTFD, 0x10), -EFAULT);
  ASSERT_EQ(vm(KVM_CREATE_IRQCHIP), 0);
  EXPECT_EQ(irqfd(fd, 1), 0);
  EXPECT_EQ(irqfd(fd, 1), -EBUSY);
}

TEST_F(VmIrqfd, MsiIrqfdReachesTheLapicAndVmCloseTearsDown) {
  ASSERT_EQ(vm(KVM_CREATE_IRQCHIP), 0);
  ASSERT_GE(add_vcpu(0), 0);
  enable_lapic(0);
  ASSERT_EQ(set_routes({msi_route(30, 0x61)}), 0);
  int fd = newfd(), fd2 = newfd(), rfd = newfd();
  ASSERT_EQ(irqfd(fd, 30), 0);
  ASSERT_EQ(irqfd(fd2, 5, KVM_IRQFD_FLAG_RESAMPLE, rfd), 0);
  user::eventfd_signal_fd(fd);
  EXPECT_TRUE(irr_has(0, 0x61));
  // Swap the route: the existing irqfd follows.
  ASSERT_EQ(set_routes({msi_route(30, 0x62)}), 0);
  user::eventfd_signal_fd(fd);
  EXPECT_TRUE(irr_has(0, 0x62));
  // TearDown closes the VM with both irqfds assigned: no leak, no watcher.
}

TEST_F(VmIrqfd, SplitIrqchip) {
  EXPECT_EQ(split(4097), -EINVAL) << "MAX_NR_RESERVED_IOAPIC_PINS is KVM_MAX_IRQ_ROUTES";
  ASSERT_EQ(split(24), 0);
  EXPECT_EQ(split(24), -EEXIST);
  EXPECT_EQ(vm(KVM_CREATE_IRQCHIP), -EEXIST);
  kvm_irqchip chip{};
  chip.chip_id = KVM_IRQCHIP_IOAPIC;
  EXPECT_EQ(vm(KVM_GET_IRQCHIP, ptr(&chip)), -ENXIO);
  kvm_irq_routing_entry pin{};
  pin.gsi = 3;
  pin.type = KVM_IRQ_ROUTING_IRQCHIP;
  pin.u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
  pin.u.irqchip.pin = 3;
  EXPECT_EQ(set_routes({pin}), -EINVAL) << "no irqchip routes in split mode";
  ASSERT_EQ(set_routes({msi_route(3, 0x71), msi_route(40, 0x72)}), 0);
  ASSERT_GE(add_vcpu(0), 0);
  enable_lapic(0);  // the vCPU has an in-kernel LAPIC
  int fd = newfd();
  EXPECT_EQ(irqfd(fd, 40, KVM_IRQFD_FLAG_RESAMPLE, newfd()), -EINVAL);
  ASSERT_EQ(irqfd(fd, 40), 0);
  user::eventfd_signal_fd(fd);
  EXPECT_TRUE(irr_has(0, 0x72));
  kvm_msi msi{};
  msi.address_lo = 0xfee00000;
  msi.data = 0x73;
  EXPECT_EQ(vm(KVM_SIGNAL_MSI, ptr(&msi)), 1);
  EXPECT_TRUE(irr_has(0, 0x73));
  kvm_irq_level l{};
  l.irq = 3;
  l.level = 1;
  EXPECT_EQ(vm(KVM_IRQ_LINE, ptr(&l)), 0) << "KVM_IRQ_LINE works on MSI routes in split mode";
  EXPECT_TRUE(irr_has(0, 0x71));
}

TEST_F(VmIrqfd, SplitIrqchipAfterAVcpuIsRefused) {
  ASSERT_GE(add_vcpu(0), 0);
  EXPECT_EQ(split(0), -EEXIST);
  kvm_enable_cap cap{};
  cap.cap = KVM_CAP_SPLIT_IRQCHIP;
  cap.flags = 1;
  EXPECT_EQ(vm(KVM_ENABLE_CAP, ptr(&cap)), -EINVAL);
}

}  // namespace
