// SPDX-License-Identifier: GPL-2.0
// The per-VM I/O buses (kmod/core/io/bus.h): ranges, overlaps, dispatch.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "core/io/bus.h"

namespace {

struct Dev : mk::io::IoDevice {
  mk::u64 last_addr = 0;
  mk::u32 last_len = 0, reads = 0, writes = 0;
  mk::u64 value = 0x1122334455667788ull;
  bool decline = false;
  int read(mk::u64 addr, mk::u32 len, void *val) override {
    reads++;
    last_addr = addr;
    last_len = len;
    if (decline)
      return -EOPNOTSUPP;
    std::memcpy(val, &value, len);
    return 0;
  }
  int write(mk::u64 addr, mk::u32 len, const void *val) override {
    writes++;
    last_addr = addr;
    last_len = len;
    if (decline)
      return -EOPNOTSUPP;
    value = 0;
    std::memcpy(&value, val, len);
    return 0;
  }
};

TEST(IoBus, RegisterFindAndDispatch) {
  mk::io::IoBus bus;
  Dev a, b;
  EXPECT_EQ(bus.register_range(0x20, 2, &a), 0);
  EXPECT_EQ(bus.register_range(0xa0, 2, &a), 0);
  EXPECT_EQ(bus.register_range(0xfec00000, 0x100, &b), 0);
  EXPECT_EQ(bus.count(), 3u);
  EXPECT_EQ(bus.find(0x20, 1), &a);
  EXPECT_EQ(bus.find(0x21, 1), &a);
  EXPECT_EQ(bus.find(0x21, 2), nullptr) << "an access must lie wholly in one range";
  EXPECT_EQ(bus.find(0x22, 1), nullptr);
  EXPECT_EQ(bus.find(0x1f, 1), nullptr);
  EXPECT_EQ(bus.find(0xfec000fc, 4), &b);
  EXPECT_EQ(bus.find(0xfec000fc, 8), nullptr);
  mk::u64 v = 0;
  EXPECT_EQ(bus.read(0xfec00010, 4, &v), 0);
  EXPECT_EQ(v, 0x55667788u);
  EXPECT_EQ(b.last_addr, 0xfec00010u) << "devices see absolute addresses";
  mk::u8 byte = 0x5a;
  EXPECT_EQ(bus.write(0xa1, 1, &byte), 0);
  EXPECT_EQ(a.value, 0x5au);
  EXPECT_EQ(bus.read(0x60, 1, &v), -EOPNOTSUPP);
  EXPECT_EQ(bus.write(0x60, 1, &byte), -EOPNOTSUPP);
  a.decline = true;
  EXPECT_EQ(bus.read(0x20, 1, &v), -EOPNOTSUPP) << "a device may decline";
}

TEST(IoBus, RejectsOverlapsAndBadRanges) {
  mk::io::IoBus bus;
  Dev a;
  ASSERT_EQ(bus.register_range(0x40, 4, &a), 0);
  EXPECT_EQ(bus.register_range(0x43, 1, &a), -EEXIST);
  EXPECT_EQ(bus.register_range(0x3f, 2, &a), -EEXIST);
  EXPECT_EQ(bus.register_range(0x30, 0x100, &a), -EEXIST) << "a range covering another overlaps";
  EXPECT_EQ(bus.register_range(0x44, 1, &a), 0) << "adjacent ranges do not overlap";
  EXPECT_EQ(bus.register_range(0x3f, 1, &a), 0);
  EXPECT_EQ(bus.register_range(0x100, 0, &a), -EINVAL);
  EXPECT_EQ(bus.register_range(~0ull - 1, 4, &a), -EINVAL) << "wrapping range";
  EXPECT_EQ(bus.register_range(0x200, 1, nullptr), -EINVAL);
  EXPECT_EQ(bus.find(~0ull, 8), nullptr) << "no overflow in the lookup";
}

TEST(IoBus, FullAndUnregister) {
  mk::io::IoBus bus;
  Dev a, b;
  for (mk::u32 i = 0; i < mk::io::IoBus::kMaxRanges; i++)
    ASSERT_EQ(bus.register_range(0x1000 + 16 * i, 4, i % 2 ? &a : &b), 0);
  EXPECT_EQ(bus.register_range(0x9000, 4, &a), -ENOSPC);
  bus.unregister_unpublished(&a);
  EXPECT_EQ(bus.count(), mk::io::IoBus::kMaxRanges / 2);
  EXPECT_EQ(bus.find(0x1010, 1), nullptr);
  EXPECT_EQ(bus.find(0x1000, 1), &b);
  EXPECT_EQ(bus.find(0x1020, 1), &b);
  EXPECT_EQ(bus.register_range(0x9000, 4, &a), 0);
}

}  // namespace
