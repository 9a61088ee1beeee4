// SPDX-License-Identifier: GPL-2.0
// ioeventfd (io/ioeventfd.cpp): KVM 6.1's argument checks, collisions,
// matching (exact address, length 0 = any, datamatch), deassign, the bus
// limit and allocation failure, on the user platform's eventfds.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <cerrno>

#include "eventfd_user.h"
#include "io/ioeventfd.h"
#include "user_platform.h"

extern "C" long mk_alloc_live(void);

namespace {

using mk::io::Ioeventfds;
namespace user = mk::user;

kvm_ioeventfd args(int fd, unsigned long long addr, unsigned len, unsigned flags = 0, unsigned long long dm = 0) {
  kvm_ioeventfd a{};
  a.fd = fd;
  a.addr = addr;
  a.len = len;
  a.flags = flags;
  a.datamatch = dm;
  return a;
}

class IoeventfdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    live_ = mk_alloc_live();
    efds_ = user::eventfd_live();
    set_ = new Ioeventfds();
    ASSERT_EQ(set_->init(), 0);
    fd_ = user::eventfd_new();
    fd2_ = user::eventfd_new();
  }
  void TearDown() override {
    user::fail_alloc_after(-1);
    delete set_;
    user::eventfd_close(fd_);
    user::eventfd_close(fd2_);
    EXPECT_EQ(user::eventfd_live(), efds_);
    EXPECT_EQ(mk_alloc_live(), live_);
  }
  int w(Ioeventfds::Bus bus, unsigned long long addr, unsigned len, unsigned long long v) {
    return set_->write(bus, addr, len, &v);
  }
  Ioeventfds *set_ = nullptr;
  int fd_ = -1, fd2_ = -1;
  long live_ = 0, efds_ = 0;
};

TEST_F(IoeventfdTest, ArgumentChecksAsKvm) {
  EXPECT_EQ(set_->ioctl(args(fd_, 0x1000, 3)), -EINVAL);
  EXPECT_EQ(set_->ioctl(args(fd_, 0x1000, 16)), -EINVAL);
  EXPECT_EQ(set_->ioctl(args(fd_, ~0ull, 4)), -EINVAL) << "range wraps";
  EXPECT_EQ(set_->ioctl(args(fd_, 0x1000, 4, 1u << 4)), -EINVAL) << "unknown flag";
  EXPECT_EQ(set_->ioctl(args(fd_, 0x1000, 0, KVM_IOEVENTFD_FLAG_DATAMATCH)), -EINVAL);
  EXPECT_EQ(set_->ioctl(args(99999, 0x1000, 4)), -EBADF);
  EXPECT_EQ(set_->ioctl(args(5, 0x1000, 4)), -EINVAL) << "not an eventfd";
  EXPECT_EQ(set_->ioctl(args(fd_, 0x1000, 4, KVM_IOEVENTFD_FLAG_DEASSIGN)), -ENOENT);
  EXPECT_EQ(set_->ioctl(args(-1, 0x1000, 4, KVM_IOEVENTFD_FLAG_DEASSIGN)), -EBADF);
}

TEST_F(IoeventfdTest, CollisionsAsKvm) {
  ASSERT_EQ(set_->ioctl(args(fd_, 0x1000, 4, KVM_IOEVENTFD_FLAG_DATAMATCH, 1)), 0);
  EXPECT_EQ(set_->ioctl(args(fd2_, 0x1000, 4, KVM_IOEVENTFD_FLAG_DATAMATCH, 2)), 0) << "other value";
  EXPECT_EQ(set_->ioctl(args(fd2_, 0x1000, 4, KVM_IOEVENTFD_FLAG_DATAMATCH, 1)), -EEXIST);
  EXPECT_EQ(set_->ioctl(args(fd2_, 0x1000, 4)), -EEXIST) << "wildcard vs datamatch";
  EXPECT_EQ(set_->ioctl(args(fd2_, 0x1000, 0)), -EEXIST) << "any length";
  EXPECT_EQ(set_->ioctl(args(fd2_, 0x1000, 2)), 0) << "other length";
  EXPECT_EQ(set_->ioctl(args(fd2_, 0x1000, 4, KVM_IOEVENTFD_FLAG_PIO)), 0) << "other bus";
  EXPECT_EQ(set_->count(Ioeventfds::kMmio), 3u);
  EXPECT_EQ(set_->count(Ioeventfds::kPio), 1u);
}

TEST_F(IoeventfdTest, MatchingAndDeassign) {
  ASSERT_EQ(set_->ioctl(args(fd_, 0x1000, 4, KVM_IOEVENTFD_FLAG_DATAMATCH, 0x1234)), 0);
  ASSERT_EQ(set_->ioctl(args(fd2_, 0x1000, 4, KVM_IOEVENTFD_FLAG_DATAMATCH, 0x5678)), 0);
  EXPECT_EQ(w(Ioeventfds::kMmio, 0x1000, 4, 0x1234), 0);
  EXPECT_EQ(w(Ioeventfds::kMmio, 0x1000, 4, 0x5678), 0);
  EXPECT_EQ(w(Ioeventfds::kMmio, 0x1000, 4, 0x9999), -EOPNOTSUPP) << "no value matches";
  EXPECT_EQ(w(Ioeventfds::kMmio, 0x1000, 2, 0x1234), -EOPNOTSUPP) << "other length";
  EXPECT_EQ(w(Ioeventfds::kMmio, 0x1002, 4, 0x1234), -EOPNOTSUPP) << "address must be exact";
  EXPECT_EQ(w(Ioeventfds::kPio, 0x1000, 4, 0x1234), -EOPNOTSUPP) << "other bus";
  EXPECT_EQ(user::eventfd_read(fd_), 1u);
  EXPECT_EQ(user::eventfd_read(fd2_), 1u);
  // Length 0: any write at the address; PIO wildcard.
  ASSERT_EQ(set_->ioctl(args(fd_, 0x2000, 0)), 0);
  ASSERT_EQ(set_->ioctl(args(fd_, 0x60, 1, KVM_IOEVENTFD_FLAG_PIO)), 0);
  EXPECT_EQ(w(Ioeventfds::kMmio, 0x2000, 1, 7), 0);
  EXPECT_EQ(w(Ioeventfds::kMmio, 0x2000, 8, 7), 0);
  EXPECT_EQ(w(Ioeventfds::kPio, 0x60, 1, 0xab), 0);
  EXPECT_EQ(w(Ioeventfds::kPio, 0x60, 2, 0xab), -EOPNOTSUPP);
  EXPECT_EQ(user::eventfd_read(fd_), 3u);
  // Deassign must name it exactly (datamatch included).
  EXPECT_EQ(set_->ioctl(args(fd_, 0x1000, 4, KVM_IOEVENTFD_FLAG_DEASSIGN)), -ENOENT) << "wildcard-ness differs";
  EXPECT_EQ(set_->ioctl(args(fd_, 0x1000, 4, KVM_IOEVENTFD_FLAG_DEASSIGN | KVM_IOEVENTFD_FLAG_DATAMATCH, 0x5678)),
            -ENOENT);
  EXPECT_EQ(set_->ioctl(args(fd_, 0x1000, 4, KVM_IOEVENTFD_FLAG_DEASSIGN | KVM_IOEVENTFD_FLAG_DATAMATCH, 0x1234)), 0);
  EXPECT_EQ(w(Ioeventfds::kMmio, 0x1000, 4, 0x1234), -EOPNOTSUPP);
  EXPECT_EQ(w(Ioeventfds::kMmio, 0x1000, 4, 0x5678), 0);
  // A closed eventfd stays referenced while assigned: still signalled.
  EXPECT_EQ(set_->ioctl(args(fd_, 0x60, 1, KVM_IOEVENTFD_FLAG_DEASSIGN | KVM_IOEVENTFD_FLAG_PIO)), 0);
}

TEST_F(IoeventfdTest, BusLimitAndAllocationFailure) {
  for (unsigned i = 0; i < Ioeventfds::kMaxPerBus; i++)
    ASSERT_EQ(set_->ioctl(args(fd_, 0x10000 + 8 * i, 4)), 0) << i;
  EXPECT_EQ(set_->ioctl(args(fd_, 0x0, 4)), -ENOSPC);
  EXPECT_EQ(set_->ioctl(args(fd_, 0x0, 4, KVM_IOEVENTFD_FLAG_PIO)), 0) << "per bus";
  long base = mk_alloc_live();
  user::fail_alloc_after(0);
  EXPECT_EQ(set_->ioctl(args(fd2_, 0x8, 4, KVM_IOEVENTFD_FLAG_PIO)), -ENOMEM);
  user::fail_alloc_after(-1);
  EXPECT_EQ(mk_alloc_live(), base);
}

}  // namespace
