// SPDX-License-Identifier: GPL-2.0
// The posted-interrupt descriptor (kmod/core/irq/posted.cpp; SDM vol. 3C
// 29.6): layout, post()'s notify-once semantics with ON and SN, the drain
// into a register page's IRR, NV/NDST/SN updates that never disturb PIR or
// ON, and threads posting while another drains: no vector is lost and every
// vector posted after a drain is announced by exactly one notification.
#include <gtest/gtest.h>

#include <minikvm/platform.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "core/irq/posted.h"
#include "user_platform.h"

using mk::u32;
using mk::u64;
using mk::u8;
using mk::irq::PiDesc;
using mk::irq::PostedIntr;

namespace {

u32 irr_word(const u8 *page, int i) {
  u32 v;
  std::memcpy(&v, page + 0x200 + i * 0x10, 4);
  return v;
}
bool irr(const u8 *page, u8 v) { return (irr_word(page, v / 32) >> (v % 32)) & 1; }

class Posted : public ::testing::Test {
 protected:
  void SetUp() override {
    pages_ = mk::user::live_pages();
    ASSERT_EQ(pi_.init(), 0);
    std::memset(page_, 0, sizeof(page_));
  }
  void TearDown() override {}
  PostedIntr pi_;
  alignas(4096) u8 page_[4096];
  long pages_ = 0;
};

TEST(PostedLayout, MatchesTheSdm) {
  // 29.6: PIR in bits 255:0, the control word at byte 32, 64 bytes.
  EXPECT_EQ(sizeof(PiDesc), 64u);
  EXPECT_EQ(alignof(PiDesc), 64u);
  EXPECT_EQ(offsetof(PiDesc, control), 32u);
}

TEST_F(Posted, InitGivesAZeroedAlignedDescriptorAtItsPhysicalAddress) {
  EXPECT_EQ(mk::user::live_pages(), pages_ + 1);
  EXPECT_NE(pi_.desc_pa(), 0u);
  EXPECT_EQ(pi_.desc_pa() % 64, 0u);
  // The user platform's physical address is the virtual one.
  EXPECT_EQ(mk_phys_to_virt(pi_.desc_pa()), static_cast<void *>(pi_.desc()));
  for (u64 w : pi_.desc()->pir)
    EXPECT_EQ(w, 0u);
  EXPECT_EQ(pi_.desc()->control, 0u);
  EXPECT_FALSE(pi_.pending());
}

TEST(PostedAlloc, FailureIsEnomemAndLeaksNothing) {
  long pages = mk::user::live_pages();
  {
    PostedIntr pi;
    mk::user::fail_alloc_after(0);
    EXPECT_EQ(pi.init(), -ENOMEM);
    mk::user::fail_alloc_after(-1);
  }
  EXPECT_EQ(mk::user::live_pages(), pages);
  {
    PostedIntr pi;
    ASSERT_EQ(pi.init(), 0);
  }
  EXPECT_EQ(mk::user::live_pages(), pages) << "the destructor frees the page";
}

TEST_F(Posted, FirstPostNotifiesLaterOnesDoNotUntilDrained) {
  EXPECT_TRUE(pi_.post(0x31));
  EXPECT_TRUE(pi_.on());
  EXPECT_TRUE(pi_.pir_test(0x31));
  EXPECT_TRUE(pi_.pending());
  // ON is set: the notification already sent covers these.
  EXPECT_FALSE(pi_.post(0x32));
  EXPECT_FALSE(pi_.post(0xff));
  EXPECT_FALSE(pi_.post(0x31));  // the same vector again: nothing new
  EXPECT_EQ(pi_.desc()->pir[0], (1ull << 0x31) | (1ull << 0x32));
  EXPECT_EQ(pi_.desc()->pir[3], 1ull << 63);

  EXPECT_TRUE(pi_.drain_into(page_));
  EXPECT_FALSE(pi_.on());
  EXPECT_FALSE(pi_.pending());
  for (u64 w : pi_.desc()->pir)
    EXPECT_EQ(w, 0u);
  EXPECT_TRUE(irr(page_, 0x31));
  EXPECT_TRUE(irr(page_, 0x32));
  EXPECT_TRUE(irr(page_, 0xff));
  EXPECT_EQ(irr_word(page_, 1), (1u << 17) | (1u << 18));
  EXPECT_EQ(irr_word(page_, 7), 1u << 31);
  // After the drain the next post notifies again.
  EXPECT_TRUE(pi_.post(0x40));
}

TEST_F(Posted, EveryVectorLandsInItsIrrBit) {
  for (int v = 0; v < 256; v++) {
    std::memset(page_, 0, sizeof(page_));
    EXPECT_TRUE(pi_.post(static_cast<u8>(v))) << v;
    EXPECT_TRUE(pi_.drain_into(page_)) << v;
    for (int i = 0; i < 8; i++)
      EXPECT_EQ(irr_word(page_, i), v / 32 == i ? 1u << (v % 32) : 0u) << v;
    // Nothing else in the page is touched (ISR at 0x100, TMR at 0x180).
    for (int off = 0; off < 4096; off++) {
      if (off < 0x200 || off >= 0x280 || (off & 0xf) >= 4) {
        ASSERT_EQ(page_[off], 0) << v << " " << off;
      }
    }
  }
}

TEST_F(Posted, DrainOrsIntoTheIrrAndSaysWhetherAnythingMoved) {
  std::memcpy(page_ + 0x210, "\x01\x00\x00\x00", 4);  // vector 32 already in IRR
  EXPECT_FALSE(pi_.drain_into(page_)) << "empty PIR";
  pi_.post(32);
  EXPECT_FALSE(pi_.drain_into(page_)) << "only a bit already in IRR";
  EXPECT_FALSE(pi_.pending());
  pi_.post(33);
  EXPECT_TRUE(pi_.drain_into(page_));
  EXPECT_EQ(irr_word(page_, 1), 3u);
  // ON alone (a notification with an empty PIR): cleared, nothing moves.
  pi_.desc()->control |= PostedIntr::kOn;
  EXPECT_TRUE(pi_.pending());
  EXPECT_FALSE(pi_.drain_into(page_));
  EXPECT_FALSE(pi_.on());
}

TEST_F(Posted, SuppressedNotificationSetsPirButNotOn) {
  pi_.set_sn(true);
  EXPECT_TRUE(pi_.sn());
  EXPECT_FALSE(pi_.post(0x50));
  EXPECT_TRUE(pi_.pir_test(0x50));
  EXPECT_FALSE(pi_.on()) << "VT-d 9.12: SN leaves ON clear";
  EXPECT_TRUE(pi_.pending()) << "PIR counts without ON";
  pi_.set_sn(false);
  EXPECT_FALSE(pi_.post(0x50)) << "already requested";
  EXPECT_TRUE(pi_.post(0x51)) << "SN clear, ON clear: notify";
  EXPECT_TRUE(pi_.drain_into(page_));
  EXPECT_TRUE(irr(page_, 0x50));
  EXPECT_TRUE(irr(page_, 0x51));
}

TEST_F(Posted, ControlFieldsAreIndependent) {
  pi_.post(0x20);
  pi_.set_nv(0xf2);
  pi_.set_ndst(0x12345678);
  pi_.set_sn(true);
  EXPECT_EQ(pi_.nv(), 0xf2);
  EXPECT_EQ(pi_.ndst(), 0x12345678u);
  EXPECT_TRUE(pi_.on());
  EXPECT_TRUE(pi_.sn());
  // SDM 29.6 bit positions: ON 256, SN 257, NV 279:272, NDST 319:288.
  EXPECT_EQ(pi_.desc()->control, 0x12345678ull << 32 | 0xf2ull << 16 | 3);
  // xAPIC NDST: the 8-bit APIC ID in bits 15:8.
  pi_.set_ndst(5u << 8);
  EXPECT_EQ(pi_.ndst(), 0x500u);
  pi_.set_nv(0);
  pi_.set_sn(false);
  EXPECT_EQ(pi_.desc()->control, 0x500ull << 32 | 1);
  EXPECT_EQ(pi_.desc()->pir[0], 1ull << 0x20) << "PIR untouched";
  pi_.clear();
  EXPECT_FALSE(pi_.pending());
  EXPECT_EQ(pi_.ndst(), 0x500u) << "clear() drops requests only";
}

// Several threads post disjoint vectors, in rounds, while another thread
// drains. Invariants: every posted vector reaches the IRR exactly once per
// round (no loss), and a post that returned false was covered by a
// notification: ON was set or the vector was already requested, so the
// drainer always finds it without a notification of its own.
TEST_F(Posted, ConcurrentPostersAndADrainerLoseNothing) {
  constexpr int kPosters = 4, kRounds = 2000;
  std::atomic<int> notifications{0};
  std::atomic<bool> stop{false};
  std::atomic<int> started{0};
  std::vector<u32> seen(256, 0);
  std::thread drainer([&] {
    alignas(4096) static u8 page[4096];
    while (!stop.load()) {
      std::memset(page + 0x200, 0, 0x80);
      pi_.drain_into(page);
      for (int v = 0; v < 256; v++)
        if (irr(page, static_cast<u8>(v)))
          seen[v]++;
    }
    std::memset(page + 0x200, 0, 0x80);
    pi_.drain_into(page);
    for (int v = 0; v < 256; v++)
      if (irr(page, static_cast<u8>(v)))
        seen[v]++;
  });
  std::vector<std::thread> posters;
  std::atomic<int> posts{0};
  for (int t = 0; t < kPosters; t++) {
    posters.emplace_back([&, t] {
      started++;
      for (int round = 0; round < kRounds; round++) {
        // Each poster owns the vectors 32 + t, 32 + t + kPosters, ...;
        // it posts one at a time and waits until it was drained, so each
        // post is a distinct event that must be seen exactly once.
        u8 v = static_cast<u8>(32 + t + (round % 50) * kPosters);
        if (pi_.post(v))
          notifications++;
        posts++;
        while (pi_.pir_test(v))
          std::this_thread::yield();
      }
    });
  }
  for (auto &p : posters)
    p.join();
  stop = true;
  drainer.join();
  long total = 0;
  for (int v = 0; v < 256; v++)
    total += seen[v];
  EXPECT_EQ(total, posts.load()) << "every post drained exactly once";
  EXPECT_GE(notifications.load(), 1);
  EXPECT_LE(notifications.load(), posts.load());
  EXPECT_FALSE(pi_.pending());
}

// The notification protocol under contention: the drainer drains only
// after a notification (as a vCPU that sleeps until kicked), and each
// poster waits until its vector was drained before posting it again, so a
// post that neither notified nor was covered by a pending notification
// (ON cleared after the PIR was read, say) leaves its poster waiting: the
// deadline turns that into a failure.
TEST_F(Posted, DrainingOnlyOnNotificationStillSeesEverything) {
  constexpr int kPosters = 3, kPerPoster = 20000;
  std::atomic<int> kicks{0}, lost{0};
  std::atomic<bool> done{false};
  std::atomic<long> drained{0};
  std::thread vcpu([&] {
    alignas(4096) static u8 page[4096];
    int handled = 0;
    for (;;) {
      int k = kicks.load();
      if (k == handled) {
        if (done.load() && kicks.load() == handled)
          break;
        std::this_thread::yield();
        continue;
      }
      handled = k;
      std::memset(page + 0x200, 0, 0x80);
      pi_.drain_into(page);
      for (int v = 0; v < 256; v++)
        if (irr(page, static_cast<u8>(v)))
          drained++;
    }
  });
  std::vector<std::thread> posters;
  for (int t = 0; t < kPosters; t++)
    posters.emplace_back([&, t] {
      for (int i = 0; i < kPerPoster && !lost.load(); i++) {
        // Vectors of one 64-bit PIR word for all posters: the drain's
        // exchange of that word races with every post.
        u8 v = static_cast<u8>(64 + t * 8 + i % 8);
        if (pi_.post(v))
          kicks++;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (pi_.pir_test(v)) {
          if (std::chrono::steady_clock::now() > deadline) {
            lost++;
            return;
          }
          std::this_thread::yield();
        }
      }
    });
  for (auto &p : posters)
    p.join();
  done = true;
  vcpu.join();
  EXPECT_EQ(lost.load(), 0) << "a posted vector was never drained: no notification covered it";
  EXPECT_FALSE(pi_.pending());
  EXPECT_EQ(drained.load(), static_cast<long>(kPosters) * kPerPoster);
}

}  // namespace
