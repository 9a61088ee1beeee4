// SPDX-License-Identifier: GPL-2.0
// The EPT (SDM vol. 3C 28.2): entries checked bit by bit by an independent
// walker that reads the tables from the EPTP as the CPU would, table
// allocation and its failure, unmap/zap/release/destroy callbacks, and
// hostile guest-physical addresses.
//
// In the userspace platform a table's "physical" address is its address,
// so the walker follows entries directly.
#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <utility>
#include <vector>

#include <minikvm/platform.h>

#include "core/mmu/ept.h"
#include "user_platform.h"

using mk::u64;
using mk::mmu::Ept;
namespace ept = ia32::ept;

namespace {

// Arbitrary page-aligned "host-physical" addresses: Ept never touches the
// pages it maps.
constexpr u64 kHpa = 0x123456789000ull;
constexpr u64 kGiB = 1ull << 30;

// The entries a CPU would read translating gpa: [0] = PML4E ... [3] = PTE
// (fewer when a non-leaf entry is not present). Checks every non-leaf
// entry on the way: all rights, bits 7:3 zero (reserved, or bit 7 = "no
// large page"), nothing above bit 51.
std::vector<u64> cpu_walk(u64 eptp, u64 gpa) {
  std::vector<u64> out;
  const u64 *table = reinterpret_cast<const u64 *>(eptp & ept::kAddrMask);
  for (unsigned level = 4; level >= 1; level--) {
    const unsigned shift = 12 + 9 * (level - 1);
    u64 e = table[(gpa >> shift) & 511];
    out.push_back(e);
    if (level == 1 || !(e & 7))
      break;
    EXPECT_EQ(e & 0xfff, 7u) << "non-leaf entry at level " << level << ": " << std::hex << e;
    EXPECT_EQ(e >> 52, 0u) << std::hex << e;
    table = reinterpret_cast<const u64 *>(e & ept::kAddrMask);
  }
  return out;
}

// The PTE a CPU would use for gpa, or 0.
u64 cpu_leaf(const Ept &e, u64 gpa) {
  auto w = cpu_walk(e.eptp(), gpa);
  return w.size() == 4 ? w[3] : 0;
}

// Pointer to the PTE slot of a mapped gpa (to play the CPU setting A/D).
u64 *pte_slot(const Ept &e, u64 gpa) {
  const u64 *table = reinterpret_cast<const u64 *>(e.eptp() & ept::kAddrMask);
  for (unsigned level = 4; level > 1; level--)
    table = reinterpret_cast<const u64 *>(table[(gpa >> (12 + 9 * (level - 1))) & 511] & ept::kAddrMask);
  return const_cast<u64 *>(&table[(gpa >> 12) & 511]);
}

struct Released {
  std::vector<std::pair<u64, bool>> calls;  // (hpa, dirty)
  void operator()(u64 hpa, bool dirty) { calls.emplace_back(hpa, dirty); }
};

class EptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pages_ = mk::user::live_pages();
    live_ = mk_alloc_live();
  }
  void TearDown() override {
    mk::user::fail_alloc_after(-1);
    EXPECT_EQ(mk::user::live_pages(), pages_) << "table pages leaked";
    EXPECT_EQ(mk_alloc_live(), live_) << "allocations leaked";
  }
  long pages_ = 0, live_ = 0;
};

TEST_F(EptTest, EptpIsWriteBackWalkLength4) {
  Ept e(48, false);
  EXPECT_EQ(e.eptp(), 0u);  // before init
  ASSERT_EQ(e.init(), 0);
  const u64 p = e.eptp();
  EXPECT_EQ(p & 7, 6u);             // 2:0 WB paging structures
  EXPECT_EQ((p >> 3) & 7, 3u);      // 5:3 walk length - 1
  EXPECT_EQ(p & (1ull << 6), 0u);   // A/D off
  EXPECT_EQ(p & 0xf80, 0u);         // 7 (shadow stack) and 11:8 reserved
  EXPECT_EQ(p & 0xfff, 0x1eu);
  EXPECT_EQ(p >> 52, 0u);
  EXPECT_NE(p & ept::kAddrMask, 0u);
  EXPECT_EQ(e.table_pages(), 1u);

  Ept ad(48, true);
  ASSERT_EQ(ad.init(), 0);
  EXPECT_EQ(ad.eptp() & 0xfff, 0x5eu);  // bit 6: A/D flags
  EXPECT_TRUE(ad.access_dirty());
}

TEST_F(EptTest, LeavesAreBitExact) {
  Ept e(48, false);
  ASSERT_EQ(e.init(), 0);
  struct {
    u64 rights;
    ept::MemType mt;
    u64 low12;
  } cases[] = {
      {ept::kRwx, ept::MemType::kWriteBack, 0x077},  // RWX, WB (6 << 3), IPAT (bit 6)
      {ept::kRead | ept::kExecute, ept::MemType::kWriteBack, 0x075},
      {ept::kRead, ept::MemType::kWriteBack, 0x071},
      {ept::kRead | ept::kWrite, ept::MemType::kWriteBack, 0x073},
      {ept::kRwx, ept::MemType::kUncacheable, 0x047},
      {ept::kRwx, ept::MemType::kWriteCombining, 0x04f},
      {ept::kRwx, ept::MemType::kWriteThrough, 0x067},
      {ept::kRwx, ept::MemType::kWriteProtected, 0x06f},
  };
  u64 gpa = 0x200000;
  for (auto &c : cases) {
    ASSERT_EQ(e.map(gpa, kHpa, c.rights, c.mt), 0);
    EXPECT_EQ(cpu_leaf(e, gpa), kHpa | c.low12) << std::hex << gpa;
    EXPECT_EQ(e.leaf(gpa), kHpa | c.low12);
    gpa += 0x1000;
  }
  // Default: RAM, WB + IPAT.
  ASSERT_EQ(e.map(gpa, 0xfffffffff000ull, ept::kRwx), 0);
  EXPECT_EQ(cpu_leaf(e, gpa), 0xfffffffff000ull | 0x77);
  // The highest host-physical address a 52-bit MAXPHYADDR allows.
  ASSERT_EQ(e.map(gpa + 0x1000, 0x000ffffffffff000ull, ept::kRead), 0);
  EXPECT_EQ(cpu_leaf(e, gpa + 0x1000), 0x000ffffffffff071ull);
  EXPECT_EQ(e.mapped_pages(), 10u);
  e.destroy([](u64, bool) {});
}

TEST_F(EptTest, TablesAreSharedAndCountedPerLevel) {
  Ept e(48, false);
  ASSERT_EQ(e.init(), 0);
  ASSERT_EQ(e.map(0, kHpa, ept::kRwx), 0);
  EXPECT_EQ(e.table_pages(), 4u);  // PML4, PDPT, PD, PT
  ASSERT_EQ(e.map(0x1ff000, kHpa, ept::kRwx), 0);  // same PT
  EXPECT_EQ(e.table_pages(), 4u);
  ASSERT_EQ(e.map(0x200000, kHpa, ept::kRwx), 0);  // next 2 MiB: a PT
  EXPECT_EQ(e.table_pages(), 5u);
  ASSERT_EQ(e.map(kGiB, kHpa, ept::kRwx), 0);  // next 1 GiB: PD + PT
  EXPECT_EQ(e.table_pages(), 7u);
  ASSERT_EQ(e.map(512 * kGiB, kHpa, ept::kRwx), 0);  // next PML4E: PDPT + PD + PT
  EXPECT_EQ(e.table_pages(), 10u);
  ASSERT_EQ(e.map((1ull << 48) - 0x1000, kHpa, ept::kRwx), 0);  // the very top
  EXPECT_EQ(e.table_pages(), 13u);
  EXPECT_EQ(mk::user::live_pages() - pages_, 13);
  for (u64 g : {0ull, 0x1ff000ull, 0x200000ull, kGiB, 512 * kGiB, (1ull << 48) - 0x1000})
    EXPECT_EQ(cpu_leaf(e, g), kHpa | 0x77) << std::hex << g;
  for (u64 g : {0x1000ull, 0x1fe000ull, 0x201000ull, kGiB + 0x1000, 2 * kGiB, (1ull << 48) - 0x2000})
    EXPECT_EQ(cpu_leaf(e, g), 0u) << std::hex << g;
  Released r;
  e.destroy(r);
  EXPECT_EQ(r.calls.size(), 6u);
  EXPECT_EQ(e.table_pages(), 0u);
  EXPECT_EQ(e.eptp(), 0u);
}

TEST_F(EptTest, MapRefusesMisconfigurationsAndBadAddresses) {
  Ept e(39, false);
  EXPECT_EQ(e.map(0, kHpa, ept::kRwx), -ENODEV);
  ASSERT_EQ(e.init(), 0);
  EXPECT_EQ(e.map(0x800, kHpa, ept::kRwx), -EINVAL);            // gpa not aligned
  EXPECT_EQ(e.map(0, kHpa + 0x10, ept::kRwx), -EINVAL);         // hpa not aligned
  EXPECT_EQ(e.map(0, 1ull << 52, ept::kRwx), -EINVAL);          // hpa beyond 52 bits
  EXPECT_EQ(e.map(0, 1ull << 63, ept::kRwx), -EINVAL);
  EXPECT_EQ(e.map(0, kHpa, 0), -EINVAL);                        // not present
  EXPECT_EQ(e.map(0, kHpa, ept::kWrite), -EINVAL);              // write without read
  EXPECT_EQ(e.map(0, kHpa, ept::kWrite | ept::kExecute), -EINVAL);
  EXPECT_EQ(e.map(0, kHpa, ept::kExecute), -EINVAL);            // execute-only
  EXPECT_EQ(e.map(0, kHpa, ept::kRwx | (1ull << 3)), -EINVAL);  // not a right
  EXPECT_EQ(e.map(0, kHpa, ept::kRwx | ept::kSuppressVe), -EINVAL);
  for (unsigned mt : {2u, 3u, 7u, 8u, 255u})
    EXPECT_EQ(e.map(0, kHpa, ept::kRwx, static_cast<ept::MemType>(mt)), -EINVAL) << mt;
  // Guest-physical addresses beyond the width (39 bits here): refused
  // before any table is touched.
  for (u64 g : {1ull << 39, (1ull << 48) - 0x1000, 1ull << 52, 0xfffffffffffff000ull})
    EXPECT_EQ(e.map(g, kHpa, ept::kRwx), -EINVAL) << std::hex << g;
  EXPECT_EQ(e.table_pages(), 1u);
  EXPECT_EQ(e.mapped_pages(), 0u);
  ASSERT_EQ(e.map((1ull << 39) - 0x1000, kHpa, ept::kRwx), 0);
  EXPECT_EQ(e.map((1ull << 39) - 0x1000, kHpa, ept::kRwx), -EEXIST);
  EXPECT_EQ(e.map((1ull << 39) - 0x1000, kHpa + 0x1000, ept::kRead), -EEXIST);
  EXPECT_EQ(cpu_leaf(e, (1ull << 39) - 0x1000), kHpa | 0x77);  // untouched
  e.destroy(nullptr, nullptr);
}

TEST_F(EptTest, GpaWidthIsClamped) {
  EXPECT_EQ(Ept(60, false).gpa_bits(), 48u);
  EXPECT_EQ(Ept(12, false).gpa_bits(), 32u);
  EXPECT_EQ(Ept(36, false).gpa_bits(), 36u);
  Ept e(32, false);
  ASSERT_EQ(e.init(), 0);
  EXPECT_EQ(e.map(1ull << 32, kHpa, ept::kRwx), -EINVAL);
  EXPECT_EQ(e.map(0xfffff000, kHpa, ept::kRwx), 0);
  e.destroy(nullptr, nullptr);
}

TEST_F(EptTest, HostileLookupsAndRangesAreNotWalked) {
  Ept e(40, false);
  ASSERT_EQ(e.init(), 0);
  ASSERT_EQ(e.map((1ull << 40) - 0x1000, kHpa, ept::kRwx), 0);
  const size_t tables = e.table_pages();
  // Beyond 2^40 the same table indexes would alias the mapped page if the
  // address were walked without the width check.
  for (u64 g : {(1ull << 41) - 0x1000, (1ull << 48) - 0x1000, (1ull << 63) | ((1ull << 40) - 0x1000), ~0ull})
    EXPECT_EQ(e.leaf(g), 0u) << std::hex << g;
  Released r;
  EXPECT_FALSE(e.unmap_range(1ull << 40, 1ull << 40, r));
  EXPECT_FALSE(e.unmap_range((1ull << 41) - 0x1000, 0x1000, r));
  EXPECT_FALSE(e.unmap_range(~0ull - 0xfff, 0x1000, r));
  EXPECT_FALSE(e.zap_range(1ull << 47, ~0ull));
  EXPECT_TRUE(r.calls.empty());
  EXPECT_EQ(e.leaf((1ull << 40) - 0x1000), kHpa | 0x77);
  // A range that starts inside and runs past the top (even wrapping) is cut at the top.
  EXPECT_TRUE(e.unmap_range((1ull << 40) - 0x1000, ~0ull, r));
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(e.table_pages(), tables);
  e.destroy(nullptr, nullptr);
}

TEST_F(EptTest, UnmapRangeReportsEveryLeafOnce) {
  Ept e(48, false);
  ASSERT_EQ(e.init(), 0);
  // Pages around table boundaries, some read-only.
  std::map<u64, u64> mapped;  // gpa -> rights
  for (u64 g : {0x0ull, 0x1000ull, 0x1ff000ull, 0x200000ull, kGiB - 0x1000, kGiB, 512 * kGiB - 0x1000, 512 * kGiB})
    mapped[g] = (g & 0x1000) ? (ept::kRead | ept::kExecute) : ept::kRwx;
  for (auto &[g, rights] : mapped)
    ASSERT_EQ(e.map(g, kHpa + g, rights), 0);
  const size_t tables = e.table_pages();

  Released r;
  EXPECT_FALSE(e.unmap_range(0x2000, 0x1fd000, r));  // only holes: [0x2000, 0x1ff000)
  EXPECT_TRUE(r.calls.empty());
  EXPECT_FALSE(e.unmap_range(0x1000, 0, r));  // empty range
  EXPECT_TRUE(r.calls.empty());

  // One byte in a page takes the whole page.
  EXPECT_TRUE(e.unmap_range(0x1fffff, 1, r));
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0], std::make_pair(kHpa + 0x1ff000, false));  // read-only: never dirty
  EXPECT_EQ(cpu_leaf(e, 0x1ff000), 0u);
  EXPECT_EQ(e.leaf(0x1ff000), 0u);

  // Across the 1 GiB and 2 MiB boundaries, unaligned ends.
  r.calls.clear();
  EXPECT_TRUE(e.unmap_range(0x1800, kGiB - 0x1000, r));  // [0x1800, 1 GiB + 0x800)
  // (Pages with gpa bit 12 set were mapped read-only: never dirty.)
  std::vector<std::pair<u64, bool>> want = {{kHpa + 0x1000, false}, {kHpa + 0x200000, true},
                                            {kHpa + kGiB - 0x1000, false}, {kHpa + kGiB, true}};
  EXPECT_EQ(r.calls, want);
  EXPECT_EQ(e.leaf(0), kHpa | 0x77);  // below the range: kept

  // Everything else.
  r.calls.clear();
  EXPECT_TRUE(e.unmap_range(0, ~0ull, r));
  want = {{kHpa, true}, {kHpa + 512 * kGiB - 0x1000, false}, {kHpa + 512 * kGiB, true}};
  EXPECT_EQ(r.calls, want);
  EXPECT_EQ(e.mapped_pages(), 0u);
  // Tables stay until destroy (the CPU may cache them until INVEPT).
  EXPECT_EQ(e.table_pages(), tables);
  r.calls.clear();
  e.destroy(r);
  EXPECT_TRUE(r.calls.empty());
}

TEST_F(EptTest, DirtyIsTheDirtyFlagWithAccessDirty) {
  Ept e(48, true);
  ASSERT_EQ(e.init(), 0);
  ASSERT_EQ(e.map(0x1000, kHpa, ept::kRwx), 0);
  ASSERT_EQ(e.map(0x2000, kHpa + 0x1000, ept::kRwx), 0);
  ASSERT_EQ(e.map(0x3000, kHpa + 0x2000, ept::kRwx), 0);
  // The CPU sets A (read) on the first, A+D (write) on the second.
  *pte_slot(e, 0x1000) |= ept::kAccessed;
  *pte_slot(e, 0x2000) |= ept::kAccessed | ept::kDirty;
  Released r;
  EXPECT_TRUE(e.unmap_range(0x1000, 0x3000, r));
  std::vector<std::pair<u64, bool>> want = {{kHpa, false}, {kHpa + 0x1000, true}, {kHpa + 0x2000, false}};
  EXPECT_EQ(r.calls, want);
  e.destroy(nullptr, nullptr);
}

TEST_F(EptTest, ZapKeepsPagesUntilReleased) {
  Ept e(48, true);
  ASSERT_EQ(e.init(), 0);
  for (u64 g = 0x10000; g < 0x14000; g += 0x1000)
    ASSERT_EQ(e.map(g, kHpa + g, ept::kRwx), 0);
  *pte_slot(e, 0x11000) |= ept::kAccessed | ept::kDirty;

  EXPECT_TRUE(e.zap_range(0x11000, 0x2000));
  EXPECT_EQ(e.mapped_pages(), 2u);
  // Not present for the CPU (bits 2:0 clear) and for leaf().
  EXPECT_EQ(cpu_leaf(e, 0x11000) & 7, 0u);
  EXPECT_EQ(cpu_leaf(e, 0x12000) & 7, 0u);
  EXPECT_EQ(e.leaf(0x11000), 0u);
  // Still occupied: no map until released.
  EXPECT_EQ(e.map(0x11000, kHpa, ept::kRwx), -EEXIST);
  // Zapping again finds nothing present.
  EXPECT_FALSE(e.zap_range(0x11000, 0x2000));

  Released r;
  e.release_zapped(0x10000, 0x1000, r);  // outside the zapped pages: nothing
  EXPECT_TRUE(r.calls.empty());
  e.release_zapped(0, 1ull << 48, r);
  std::vector<std::pair<u64, bool>> want = {{kHpa + 0x11000, true}, {kHpa + 0x12000, false}};
  EXPECT_EQ(r.calls, want);
  EXPECT_EQ(cpu_leaf(e, 0x11000), 0u);  // cleared entirely now
  r.calls.clear();
  e.release_zapped(0, 1ull << 48, r);  // once only
  EXPECT_TRUE(r.calls.empty());
  EXPECT_EQ(e.map(0x11000, kHpa, ept::kRwx), 0);

  // destroy() reports mapped and zapped leaves alike.
  EXPECT_TRUE(e.zap_range(0x13000, 0x1000));
  e.destroy(r);
  EXPECT_EQ(r.calls.size(), 3u);
}

TEST_F(EptTest, ZapDirtyWithoutAccessDirtyIsWritable) {
  Ept e(48, false);
  ASSERT_EQ(e.init(), 0);
  ASSERT_EQ(e.map(0x1000, kHpa, ept::kRwx), 0);
  ASSERT_EQ(e.map(0x2000, kHpa + 0x1000, ept::kRead | ept::kExecute), 0);
  EXPECT_TRUE(e.zap_range(0, 0x3000));
  Released r;
  e.release_zapped(0, 0x3000, r);
  std::vector<std::pair<u64, bool>> want = {{kHpa, true}, {kHpa + 0x1000, false}};
  EXPECT_EQ(r.calls, want);
  e.destroy(nullptr, nullptr);
}

TEST_F(EptTest, OutOfMemoryLeavesTablesConsistent) {
  // For every n, the n-th allocation fails: a map needing 3 new tables
  // fails for n < 3 and stays correct and leak-free.
  for (long n = 0;; n++) {
    Ept e(48, false);
    mk::user::fail_alloc_after(n);
    int err = e.init();
    if (err) {
      EXPECT_EQ(err, -ENOMEM);
      EXPECT_EQ(e.eptp(), 0u);
      EXPECT_EQ(e.map(0, kHpa, ept::kRwx), -ENODEV);
      mk::user::fail_alloc_after(-1);
      continue;
    }
    err = e.map(3 * kGiB + 0x5000, kHpa, ept::kRwx);
    mk::user::fail_alloc_after(-1);
    if (err) {
      ASSERT_EQ(err, -ENOMEM) << n;
      EXPECT_EQ(e.leaf(3 * kGiB + 0x5000), 0u);
      EXPECT_EQ(e.mapped_pages(), 0u);
      EXPECT_EQ(static_cast<long>(e.table_pages()), mk::user::live_pages() - pages_);
      // The walk a CPU would do stops at a not-present entry or finds an
      // empty table: consistent.
      auto w = cpu_walk(e.eptp(), 3 * kGiB + 0x5000);
      EXPECT_EQ(w.back(), 0u);
      // Retrying succeeds and reuses the tables already linked.
      ASSERT_EQ(e.map(3 * kGiB + 0x5000, kHpa, ept::kRwx), 0);
      EXPECT_EQ(e.table_pages(), 4u);
      EXPECT_EQ(cpu_leaf(e, 3 * kGiB + 0x5000), kHpa | 0x77);
      continue;
    }
    EXPECT_EQ(n, 4) << "init + 3 tables";
    EXPECT_EQ(e.table_pages(), 4u);
    break;
  }
}

TEST_F(EptTest, DestructorFreesTables) {
  {
    Ept e(48, false);
    ASSERT_EQ(e.init(), 0);
    ASSERT_EQ(e.map(0x1000, kHpa, ept::kRwx), 0);
    ASSERT_EQ(e.map(700 * kGiB, kHpa, ept::kRwx), 0);
    EXPECT_EQ(mk::user::live_pages() - pages_, 7);
  }
  // TearDown checks the count is back.
}

TEST_F(EptTest, InitTwiceKeepsTheRoot) {
  Ept e(48, false);
  ASSERT_EQ(e.init(), 0);
  const u64 p = e.eptp();
  ASSERT_EQ(e.init(), 0);
  EXPECT_EQ(e.eptp(), p);
  EXPECT_EQ(e.table_pages(), 1u);
}

}  // namespace
