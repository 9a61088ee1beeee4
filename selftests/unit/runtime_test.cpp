// SPDX-License-Identifier: GPL-2.0
// The kernel C++ runtime (kmod/core/rt) under injected allocation failure.
#include <gtest/gtest.h>

#include "core/rt/bitmap.h"
#include "core/rt/new.h"
#include "core/rt/unique_ptr.h"
#include "core/rt/vector.h"
#include "user_platform.h"

extern "C" long mk_alloc_live(void);

namespace {

int g_constructed;
int g_destroyed;

struct Tracked {
  int value;
  explicit Tracked(int v) : value(v) { g_constructed++; }
  Tracked(Tracked &&o) noexcept : value(o.value) { g_constructed++; }
  Tracked &operator=(Tracked &&o) noexcept {
    value = o.value;
    return *this;
  }
  ~Tracked() { g_destroyed++; }
};

class Runtime : public ::testing::Test {
 protected:
  void SetUp() override {
    g_constructed = g_destroyed = 0;
    live_ = mk_alloc_live();
  }
  void TearDown() override {
    mk::user::fail_alloc_after(-1);
    EXPECT_EQ(mk_alloc_live(), live_) << "allocation leaked";
  }
  long live_ = 0;
};

TEST_F(Runtime, NothrowNewReturnsNullAndSkipsConstructorOnFailure) {
  mk::user::fail_alloc_after(0);
  Tracked *t = new (mk::nothrow) Tracked(7);
  EXPECT_EQ(t, nullptr);
  EXPECT_EQ(g_constructed, 0);
}

TEST_F(Runtime, PlainNewReturnsNullAndSkipsConstructorOnFailure) {
  // Kernel semantics of the global operator new: nullptr, never a throw.
  // Correct only because the core is built with -fcheck-new.
  mk::user::fail_alloc_after(0);
  Tracked *t = new Tracked(7);
  EXPECT_EQ(t, nullptr);
  EXPECT_EQ(g_constructed, 0);
}

TEST_F(Runtime, ArrayNewFailureReturnsNull) {
  mk::user::fail_alloc_after(0);
  int *a = new (mk::nothrow) int[64];
  EXPECT_EQ(a, nullptr);
}

TEST_F(Runtime, NewAndDeleteBalanceAndZeroMemory) {
  auto *t = new (mk::nothrow) Tracked(3);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->value, 3);
  EXPECT_EQ(mk_alloc_live(), live_ + 1);
  delete t;
  EXPECT_EQ(g_destroyed, 1);
  auto *raw = static_cast<unsigned char *>(mk_alloc(256));
  ASSERT_NE(raw, nullptr);
  for (int i = 0; i < 256; i++)
    ASSERT_EQ(raw[i], 0) << "mk_alloc must return zeroed memory";
  mk_free(raw);
  mk_free(nullptr);
}

TEST_F(Runtime, MakeUniqueEmptyOnFailure) {
  mk::user::fail_alloc_after(0);
  auto p = mk::make_unique<Tracked>(1);
  EXPECT_FALSE(p);
  mk::user::fail_alloc_after(-1);
  auto q = mk::make_unique<Tracked>(2);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->value, 2);
  mk::UniquePtr<Tracked> r = mk::move(q);
  EXPECT_FALSE(q);
  EXPECT_EQ(r->value, 2);
  r.reset();
  EXPECT_EQ(g_destroyed, 1);
}

TEST_F(Runtime, VectorPushBackFailureLeavesContentsIntact) {
  mk::Vector<Tracked> v;
  for (int i = 0; i < 4; i++)
    ASSERT_TRUE(v.emplace_back(i));
  ASSERT_EQ(v.capacity(), 4u);
  mk::user::fail_alloc_after(0);  // growth to 8 fails
  EXPECT_FALSE(v.emplace_back(99));
  ASSERT_EQ(v.size(), 4u);
  for (int i = 0; i < 4; i++)
    EXPECT_EQ(v[i].value, i);
  mk::user::fail_alloc_after(-1);
  EXPECT_TRUE(v.emplace_back(4));
  EXPECT_EQ(v.size(), 5u);
  EXPECT_EQ(v[4].value, 4);
}

TEST_F(Runtime, VectorRejectsOverflowingReserve) {
  mk::Vector<mk::u64> v;
  EXPECT_FALSE(v.reserve(static_cast<mk::size_t>(-1) / 4));
  EXPECT_EQ(v.capacity(), 0u);
}

TEST_F(Runtime, VectorEraseKeepsOrderAndDestroys) {
  mk::Vector<Tracked> v;
  for (int i = 0; i < 6; i++)
    ASSERT_TRUE(v.emplace_back(i));
  int before = g_destroyed;
  v.erase(2);
  EXPECT_EQ(g_destroyed, before + 1);
  ASSERT_EQ(v.size(), 5u);
  int expect[] = {0, 1, 3, 4, 5};
  for (int i = 0; i < 5; i++)
    EXPECT_EQ(v[i].value, expect[i]);
  v.pop_back();
  EXPECT_EQ(v.size(), 4u);
  mk::Vector<int> ints;
  ASSERT_TRUE(ints.resize(3));
  EXPECT_EQ(ints[2], 0) << "resize value-initialises";
  ASSERT_TRUE(ints.resize(1));
  EXPECT_EQ(ints.size(), 1u);
}

TEST_F(Runtime, VectorEveryAllocationFailureIsSurvivable) {
  // Fail each allocation in turn while filling a vector; the vector must stay
  // consistent and nothing may leak.
  // Growth 4 -> 8 -> ... -> 128 takes six allocations for 100 elements.
  for (long k = 0; k < 6; k++) {
    int expect[100];  // not a std::vector: its growth would use the failing allocator
    int pushed = 0;
    {
      mk::Vector<int> v;
      mk::user::fail_alloc_after(k);
      for (int i = 0; i < 100; i++)
        if (v.push_back(i))
          expect[pushed++] = i;
      mk::user::fail_alloc_after(-1);
      ASSERT_EQ(static_cast<int>(v.size()), pushed);
      ASSERT_LT(pushed, 100) << "allocation " << k << " never failed";
      for (int i = 0; i < pushed; i++)
        ASSERT_EQ(v[i], expect[i]);
    }
    EXPECT_EQ(mk_alloc_live(), live_);
  }
}

TEST(Bitmap, HighestAndLowest) {
  mk::Bitmap<256> b;
  EXPECT_FALSE(b.any());
  EXPECT_EQ(b.find_last(), mk::Bitmap<256>::kNone);
  EXPECT_EQ(b.find_first(), mk::Bitmap<256>::kNone);
  b.set(0x31);
  b.set(0xec);
  b.set(64);
  EXPECT_EQ(b.find_last(), 0xecu);
  EXPECT_EQ(b.find_first(), 0x31u);
  EXPECT_EQ(b.count(), 3u);
  EXPECT_TRUE(b.test_and_set(64));
  EXPECT_FALSE(b.test_and_set(255));
  EXPECT_EQ(b.find_last(), 255u);
  b.clear(255);
  b.clear(0xec);
  EXPECT_EQ(b.find_last(), 64u);
  b.set(1000);  // out of range: ignored, not a write past the end
  EXPECT_FALSE(b.test(1000));
  b.clear_all();
  EXPECT_FALSE(b.any());
}

}  // namespace
