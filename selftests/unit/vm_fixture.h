// SPDX-License-Identifier: GPL-2.0
// A whole VM driven through its ioctls, as userspace drives minikvm: the
// fixture of vm_irq_test, irqfd_test and trace_test (VmFixture). SetUp resets the user
// platform, starts the core and creates one VM; TearDown closes every
// vCPU and VM fd, runs queued work, exits the core and checks that no fd
// and no allocation is left. Derived fixtures add what they own through
// the hooks (more fds to close, eventfds, tracing state).
#pragma once

#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <minikvm/core.h>
#include <minikvm/platform.h>

#include "eventfd_user.h"
#include "user_platform.h"

namespace mk::test {

inline unsigned long ptr(const void *p) { return reinterpret_cast<unsigned long>(p); }

// The core started on a reset user platform, and stopped with nothing
// left: the part every core-level fixture shares (vm_apicv_test's
// VmEoiExit, which holds its Vm directly, uses it alone).
class CoreFixture : public ::testing::Test {
 protected:
  void start_core() {
    mk::user::reset_machine();
    mk::user::reset_time();
    live_ = mk_alloc_live();
    ASSERT_EQ(mk_core_init(), 0);
  }
  // After every fd of the core is closed: none open, the core exits.
  void stop_core() {
    EXPECT_EQ(mk::user::open_fds(), 0);
    mk_core_exit();
  }
  // After the test's own allocations are freed too.
  void expect_no_leak() {
    EXPECT_EQ(mk_alloc_live(), live_) << "allocations leaked";
    mk::user::reset_machine();
  }

  long live_ = 0;
};

class VmFixture : public CoreFixture {
 protected:
  void SetUp() override {
    start_core();
    vm_ = mk_core_dev_ioctl(KVM_CREATE_VM, 0);
    ASSERT_GE(vm_, 0);
  }
  void TearDown() override {
    mk::user::fail_alloc_after(-1);
    for (int i = 0; i < nvcpus_; i++)
      EXPECT_EQ(mk::user::fd_close(static_cast<int>(vcpus_[i])), 0);
    EXPECT_EQ(mk::user::fd_close(static_cast<int>(vm_)), 0);
    close_more_fds();
    mk::user::run_work();
    after_fds_closed();
    stop_core();
    after_core_exit();
    expect_no_leak();
  }
  // TearDown's hooks, in this order.
  virtual void close_more_fds() {}    // other fds of the core (a second VM)
  virtual void after_fds_closed() {}  // e.g. the test's own eventfds
  virtual void after_core_exit() {}   // e.g. checks of what the core released

  long vm(unsigned int cmd, unsigned long arg = 0) { return mk::user::fd_ioctl(static_cast<int>(vm_), cmd, arg); }
  long vcpu(int i, unsigned int cmd, unsigned long arg = 0) {
    return mk::user::fd_ioctl(static_cast<int>(vcpus_[i]), cmd, arg);
  }
  long add_vcpu(unsigned long id) {
    long fd = vm(KVM_CREATE_VCPU, id);
    if (fd >= 0)
      vcpus_[nvcpus_++] = fd;
    return fd;
  }
  // The 32-bit LAPIC register at offset off of a KVM_GET/SET_LAPIC page.
  static unsigned &lapic_reg(kvm_lapic_state &s, unsigned off) {
    return *reinterpret_cast<unsigned *>(s.regs + off);
  }
  // Software-enables vCPU i's LAPIC (SVR = 0x1ff) through KVM_SET_LAPIC.
  void enable_lapic(int i) {
    kvm_lapic_state s{};
    ASSERT_EQ(vcpu(i, KVM_GET_LAPIC, ptr(&s)), 0);
    lapic_reg(s, 0xf0) = 0x1ff;
    ASSERT_EQ(vcpu(i, KVM_SET_LAPIC, ptr(&s)), 0);
  }
  bool irr_has(int i, unsigned vector) {
    kvm_lapic_state s{};
    EXPECT_EQ(vcpu(i, KVM_GET_LAPIC, ptr(&s)), 0);
    return lapic_reg(s, 0x200 + (vector / 32) * 16) & (1u << (vector % 32));
  }
  // KVM_IRQ_LINE_STATUS on a VM fd: the status, or the ioctl's error.
  long line(long vmfd, unsigned gsi, unsigned level) {
    kvm_irq_level l{};
    l.irq = gsi;
    l.level = level;
    long r = mk::user::fd_ioctl(static_cast<int>(vmfd), KVM_IRQ_LINE_STATUS, ptr(&l));
    return r ? r : l.status;
  }
  long line(unsigned gsi, unsigned level) { return line(vm_, gsi, level); }

  long vm_ = -1;
  long vcpus_[8] = {};
  int nvcpus_ = 0;
};

}  // namespace mk::test
