// SPDX-License-Identifier: GPL-2.0
// KVM_SET_USER_MEMORY_REGION semantics (MemslotTable) against Linux 6.1's
// __kvm_set_memory_region: each error case on its own, the order of the
// checks where one request breaks several rules, and lookup.
//
// Where minikvm deliberately differs from KVM (slot ids >= 32, as_id 1,
// LOG_DIRTY_PAGES) the test says what KVM answers instead.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include <minikvm/platform.h>

#include "core/mmu/memslots.h"
#include "user_platform.h"

using mk::u64;
using mk::mmu::Memslot;
using mk::mmu::MemslotChange;
using mk::mmu::MemslotTable;
using mk::mmu::MemslotUpdate;

namespace {

constexpr u64 kPage = 4096;
constexpr u64 kHva = 0x7f0000000000ull;  // any page-aligned user address: only access_ok() looks at it

kvm_userspace_memory_region region(unsigned slot, u64 gpa, u64 size, u64 hva = kHva, unsigned flags = 0) {
  kvm_userspace_memory_region r{};
  r.slot = slot;
  r.flags = flags;
  r.guest_phys_addr = gpa;
  r.memory_size = size;
  r.userspace_addr = hva;
  return r;
}

class MemslotTableTest : public ::testing::Test {
 protected:
  MemslotTable t{48};
  int set(const kvm_userspace_memory_region &r) { return t.set(r, &u); }
  MemslotUpdate u;
};

TEST_F(MemslotTableTest, CreateReportsTheNewSlot) {
  ASSERT_EQ(set(region(3, 0x100000, 0x4000, kHva, KVM_MEM_READONLY)), 0);
  EXPECT_EQ(u.change, MemslotChange::kCreate);
  EXPECT_EQ(u.now.id, 3);
  EXPECT_EQ(u.now.gpa, 0x100000u);
  EXPECT_EQ(u.now.size, 0x4000u);
  EXPECT_EQ(u.now.hva, kHva);
  EXPECT_TRUE(u.now.readonly());
  ASSERT_EQ(t.count(), 1u);
  const Memslot *s = t.by_id(3);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->hva_of(0x101234), kHva + 0x1234);
  EXPECT_EQ(t.find(0x100000), s);
  EXPECT_EQ(t.find(0x103fff), s);
  EXPECT_EQ(t.find(0x104000), nullptr);
  EXPECT_EQ(t.find(0xfffff), nullptr);
}

TEST_F(MemslotTableTest, SlotIdsUpTo31AreUserSlots) {
  for (unsigned id = 0; id < MemslotTable::kMaxMemslots; id++)
    ASSERT_EQ(set(region(id, id * 0x10000, 0x10000)), 0) << id;
  EXPECT_EQ(t.count(), 32u);
  // KVM accepts ids up to KVM_USER_MEM_SLOTS - 1 (32763 on x86) and
  // reports that bound in KVM_CAP_NR_MEMSLOTS; ids at or above it are
  // -EINVAL there as they are here at 32.
  EXPECT_EQ(set(region(32, 0x400000, 0x1000)), -EINVAL);
  EXPECT_EQ(set(region(0xffff, 0x400000, 0x1000)), -EINVAL);
  EXPECT_EQ(t.count(), 32u);
}

TEST_F(MemslotTableTest, OnlyAddressSpaceZero) {
  // KVM on x86: slot >> 16 = 1 is the SMM address space and is accepted;
  // 2 and above are -EINVAL. minikvm has no SMM: as_id 1 is -EINVAL too.
  EXPECT_EQ(set(region(0x10000, 0, 0x1000)), -EINVAL);
  EXPECT_EQ(set(region(0x10001, 0, 0x1000)), -EINVAL);
  EXPECT_EQ(set(region(0x20000, 0, 0x1000)), -EINVAL);
  EXPECT_EQ(set(region(0xffff0000u, 0, 0x1000)), -EINVAL);
  EXPECT_EQ(t.count(), 0u);
}

TEST_F(MemslotTableTest, Flags) {
  // LOG_DIRTY_PAGES is valid in KVM; minikvm has no dirty logging and
  // refuses it as check_memory_region_flags refuses unknown flags.
  EXPECT_EQ(set(region(0, 0, 0x1000, kHva, KVM_MEM_LOG_DIRTY_PAGES)), -EINVAL);
  EXPECT_EQ(set(region(0, 0, 0x1000, kHva, KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)), -EINVAL);
  EXPECT_EQ(set(region(0, 0, 0x1000, kHva, 1u << 2)), -EINVAL);
  EXPECT_EQ(set(region(0, 0, 0x1000, kHva, 1u << 31)), -EINVAL);
  EXPECT_EQ(set(region(0, 0, 0x1000, kHva, ~0u)), -EINVAL);
  EXPECT_EQ(t.count(), 0u);
  EXPECT_EQ(set(region(0, 0, 0x1000, kHva, KVM_MEM_READONLY)), 0);
}

TEST_F(MemslotTableTest, Alignment) {
  EXPECT_EQ(set(region(0, 0, 0x800)), -EINVAL);
  EXPECT_EQ(set(region(0, 0, 0x1001)), -EINVAL);
  EXPECT_EQ(set(region(0, 0x800, 0x1000)), -EINVAL);
  EXPECT_EQ(set(region(0, 0x1001, 0x1000)), -EINVAL);
  EXPECT_EQ(set(region(0, 0, 0x1000, kHva + 1)), -EINVAL);
  EXPECT_EQ(set(region(0, 0, 0x1000, kHva + 0x800)), -EINVAL);
  EXPECT_EQ(t.count(), 0u);
}

TEST_F(MemslotTableTest, UserspaceAddressMustPassAccessOk) {
  constexpr u64 kLimit = mk::user::kUserAddressLimit;  // TASK_SIZE_MAX
  EXPECT_EQ(set(region(0, 0, 0x1000, kLimit)), -EINVAL);
  EXPECT_EQ(set(region(0, 0, 0x2000, kLimit - 0x1000)), -EINVAL);
  EXPECT_EQ(set(region(0, 0, 0x1000, 0xffff800000000000ull)), -EINVAL);  // kernel address
  EXPECT_EQ(set(region(0, 0, 0x1000, 0xfffffffffffff000ull)), -EINVAL);  // hva + size wraps
  EXPECT_EQ(t.count(), 0u);
  // Up to the limit exactly, and address 0 (access_ok accepts it; the
  // copies fault later), are fine.
  EXPECT_EQ(set(region(0, 0, 0x1000, kLimit - 0x1000)), 0);
  EXPECT_EQ(set(region(1, 0x1000, 0x1000, 0)), 0);
}

TEST_F(MemslotTableTest, GuestPhysicalRangeMustNotWrap) {
  EXPECT_EQ(set(region(0, 0xfffffffffffff000ull, 0x2000, 0x1000)), -EINVAL);
  EXPECT_EQ(set(region(0, 0xffffffff00000000ull, 0x100000000ull, 0x1000)), -EINVAL);  // ends at 2^64
  EXPECT_EQ(t.count(), 0u);
}

TEST_F(MemslotTableTest, AtMostKvmMemMaxNrPagesPages) {
  // 2^31 - 1 pages (KVM_MEM_MAX_NR_PAGES) is allowed, 2^31 is not.
  EXPECT_EQ(set(region(0, 0, (1ull << 31) * kPage, 0x1000)), -EINVAL);
  EXPECT_EQ(set(region(0, 0, ((1ull << 31) - 1) * kPage, 0x1000)), 0);
  EXPECT_EQ(t.by_id(0)->size, ((1ull << 31) - 1) * kPage);
}

TEST_F(MemslotTableTest, MustEndWithinTheGuestPhysicalWidth) {
  MemslotTable t36(36);
  MemslotUpdate up;
  EXPECT_EQ(t36.max_gpa(), (1ull << 36) - 1);
  EXPECT_EQ(t36.set(region(0, (1ull << 36) - 0x1000, 0x1000), &up), 0);
  EXPECT_EQ(t36.set(region(1, (1ull << 36), 0x1000), &up), -EINVAL);
  EXPECT_EQ(t36.set(region(1, (1ull << 36) - 0x2000, 0x2000), &up), -EEXIST);  // overlap is checked first
  EXPECT_EQ(t36.set(region(1, (1ull << 36) - 0x3000, 0x4000), &up), -EEXIST);
  EXPECT_EQ(t36.set(region(2, 0xfffffffffff00000ull, 0x1000), &up), -EINVAL);
  // A move beyond the width too.
  EXPECT_EQ(t36.set(region(0, (1ull << 36), 0x1000), &up), -EINVAL);
  EXPECT_EQ(t36.by_id(0)->gpa, (1ull << 36) - 0x1000);
  EXPECT_EQ(t36.count(), 1u);
  // The width is clamped to [32, 52].
  EXPECT_EQ(MemslotTable(20).max_gpa(), (1ull << 32) - 1);
  EXPECT_EQ(MemslotTable(64).max_gpa(), (1ull << 52) - 1);
}

TEST_F(MemslotTableTest, OverlapIsEEXIST) {
  ASSERT_EQ(set(region(0, 0x10000, 0x4000)), 0);  // [0x10000, 0x14000)
  EXPECT_EQ(set(region(1, 0x10000, 0x4000)), -EEXIST);  // same range
  EXPECT_EQ(set(region(1, 0xf000, 0x2000)), -EEXIST);   // over the first page
  EXPECT_EQ(set(region(1, 0x13000, 0x2000)), -EEXIST);  // over the last page
  EXPECT_EQ(set(region(1, 0x11000, 0x1000)), -EEXIST);  // inside
  EXPECT_EQ(set(region(1, 0x0, 0x100000)), -EEXIST);    // around
  EXPECT_EQ(t.count(), 1u);
  // Adjacent on either side is fine, even with the same hva (aliases).
  EXPECT_EQ(set(region(1, 0xf000, 0x1000)), 0);
  EXPECT_EQ(set(region(2, 0x14000, 0x1000)), 0);
  EXPECT_EQ(t.count(), 3u);
}

TEST_F(MemslotTableTest, DeleteNeedsAnExistingSlot) {
  EXPECT_EQ(set(region(0, 0, 0)), -EINVAL);
  ASSERT_EQ(set(region(0, 0x10000, 0x4000)), 0);
  EXPECT_EQ(set(region(1, 0x10000, 0)), -EINVAL);
  // The gpa, hva and READONLY of a delete need not match the slot's...
  ASSERT_EQ(set(region(0, 0x777000, 0, 0x1000, KVM_MEM_READONLY)), 0);
  EXPECT_EQ(u.change, MemslotChange::kDelete);
  EXPECT_EQ(u.old.id, 0);
  EXPECT_EQ(u.old.gpa, 0x10000u);
  EXPECT_EQ(u.old.size, 0x4000u);
  EXPECT_EQ(t.count(), 0u);
  EXPECT_EQ(t.find(0x10000), nullptr);
  EXPECT_EQ(set(region(0, 0x10000, 0)), -EINVAL);  // gone
}

TEST_F(MemslotTableTest, DeleteStillChecksFlagsAndAlignment) {
  // ...but KVM checks flags and alignment before it looks at the size.
  ASSERT_EQ(set(region(0, 0x10000, 0x4000)), 0);
  EXPECT_EQ(set(region(0, 0x10000, 0, kHva, KVM_MEM_LOG_DIRTY_PAGES)), -EINVAL);
  EXPECT_EQ(set(region(0, 0x10800, 0)), -EINVAL);
  EXPECT_EQ(set(region(0, 0x10000, 0, kHva + 8)), -EINVAL);
  EXPECT_EQ(set(region(0, 0x10000, 0, mk::user::kUserAddressLimit + 0x1000)), -EINVAL);
  EXPECT_EQ(set(region(0x10000, 0x10000, 0)), -EINVAL);  // as_id 1
  EXPECT_EQ(t.count(), 1u);
}

TEST_F(MemslotTableTest, ModifyMayOnlyMove) {
  ASSERT_EQ(set(region(5, 0x10000, 0x4000, kHva)), 0);
  EXPECT_EQ(set(region(5, 0x10000, 0x4000, kHva + 0x1000)), -EINVAL);        // other hva
  EXPECT_EQ(set(region(5, 0x10000, 0x8000, kHva)), -EINVAL);                 // other size
  EXPECT_EQ(set(region(5, 0x10000, 0x4000, kHva, KVM_MEM_READONLY)), -EINVAL);  // READONLY toggled
  EXPECT_EQ(set(region(5, 0x20000, 0x4000, kHva, KVM_MEM_READONLY)), -EINVAL);  // ...even with a move
  // Unchanged: success, nothing to do.
  EXPECT_EQ(set(region(5, 0x10000, 0x4000, kHva)), 0);
  EXPECT_EQ(u.change, MemslotChange::kNone);
  // Move.
  EXPECT_EQ(set(region(5, 0x40000, 0x4000, kHva)), 0);
  EXPECT_EQ(u.change, MemslotChange::kMove);
  EXPECT_EQ(u.old.gpa, 0x10000u);
  EXPECT_EQ(u.now.gpa, 0x40000u);
  EXPECT_EQ(u.now.hva, kHva);
  EXPECT_EQ(t.find(0x10000), nullptr);
  EXPECT_EQ(t.find(0x43fff)->id, 5);
  EXPECT_EQ(t.count(), 1u);
}

TEST_F(MemslotTableTest, ReadonlySlotStaysReadonly) {
  ASSERT_EQ(set(region(1, 0x10000, 0x4000, kHva, KVM_MEM_READONLY)), 0);
  EXPECT_EQ(set(region(1, 0x10000, 0x4000, kHva, 0)), -EINVAL);
  EXPECT_EQ(set(region(1, 0x10000, 0x4000, kHva, KVM_MEM_READONLY)), 0);
  EXPECT_EQ(u.change, MemslotChange::kNone);
  EXPECT_EQ(set(region(1, 0x20000, 0x4000, kHva, KVM_MEM_READONLY)), 0);
  EXPECT_EQ(u.change, MemslotChange::kMove);
  EXPECT_TRUE(t.by_id(1)->readonly());
}

TEST_F(MemslotTableTest, MoveMayOverlapItselfButNotOthers) {
  ASSERT_EQ(set(region(0, 0x10000, 0x4000)), 0);
  ASSERT_EQ(set(region(1, 0x20000, 0x4000)), 0);
  EXPECT_EQ(set(region(0, 0x1e000, 0x4000)), -EEXIST);
  EXPECT_EQ(t.by_id(0)->gpa, 0x10000u);
  EXPECT_EQ(set(region(0, 0x12000, 0x4000)), 0);  // overlaps its old self only
  EXPECT_EQ(u.change, MemslotChange::kMove);
  EXPECT_EQ(t.by_id(0)->gpa, 0x12000u);
  EXPECT_EQ(set(region(0, 0x24000, 0x4000)), 0);  // past slot 1: order changes
  EXPECT_EQ(t.at(0).id, 1);
  EXPECT_EQ(t.at(1).id, 0);
}

TEST_F(MemslotTableTest, FailedRequestsChangeNothing) {
  ASSERT_EQ(set(region(0, 0x10000, 0x4000)), 0);
  ASSERT_EQ(set(region(1, 0x20000, 0x4000)), 0);
  u.change = MemslotChange::kMove;
  EXPECT_EQ(set(region(0, 0x20000, 0x4000)), -EEXIST);
  EXPECT_EQ(u.change, MemslotChange::kNone);  // reset even on failure
  EXPECT_EQ(set(region(2, 0x13000, 0x2000)), -EEXIST);
  EXPECT_EQ(set(region(0, 0x30000, 0x8000)), -EINVAL);
  ASSERT_EQ(t.count(), 2u);
  EXPECT_EQ(t.at(0).gpa, 0x10000u);
  EXPECT_EQ(t.at(1).gpa, 0x20000u);
  // A null update pointer is allowed.
  EXPECT_EQ(t.set(region(2, 0x30000, 0x1000), nullptr), 0);
}

TEST_F(MemslotTableTest, ErrorPrecedenceFollowsKvm) {
  ASSERT_EQ(set(region(0, 0x10000, 0x4000)), 0);
  // Id beyond the user slots beats every other error (kvm_vm_ioctl_set_memory_region).
  EXPECT_EQ(set(region(40, 0x10000, 0x4000)), -EINVAL);
  // Bad flags on an overlapping create: -EINVAL, not -EEXIST.
  EXPECT_EQ(set(region(1, 0x10000, 0x4000, kHva, 4)), -EINVAL);
  // Misaligned hva on an overlapping create.
  EXPECT_EQ(set(region(1, 0x10000, 0x4000, kHva + 1)), -EINVAL);
  // Changing the size of an existing slot into an overlap is -EINVAL (the
  // modify check comes before the overlap check).
  ASSERT_EQ(set(region(1, 0x20000, 0x4000)), 0);
  EXPECT_EQ(set(region(1, 0x10000, 0x8000)), -EINVAL);
}

TEST_F(MemslotTableTest, FindMatchesALinearScan) {
  // Slots of varied sizes with gaps, in shuffled id order.
  const u64 gpas[] = {0x0, 0xa0000, 0xc0000, 0x100000, 0x7ff000, 0x800000, 0xfee00000, 0x100000000ull,
                      0x4000000000ull};
  const u64 sizes[] = {0xa0000, 0x1000, 0x20000, 0x6ff000, 0x1000, 0x1000000, 0x1000, 0x40000000ull, 0x1000};
  const unsigned ids[] = {7, 3, 30, 0, 12, 1, 2, 31, 9};
  for (size_t i = 0; i < 9; i++)
    ASSERT_EQ(set(region(ids[i], gpas[i], sizes[i], kHva + gpas[i])), 0) << i;
  for (size_t i = 1; i < t.count(); i++)
    ASSERT_LT(t.at(i - 1).gpa, t.at(i).gpa);

  auto linear = [&](u64 gpa) -> const Memslot * {
    for (size_t i = 0; i < t.count(); i++)
      if (t.at(i).contains(gpa))
        return &t.at(i);
    return nullptr;
  };
  std::vector<u64> probes = {0, ~0ull, 1ull << 47, 0x9ffff, 0xa0fff, 0xa1000, 0xbffff};
  for (size_t i = 0; i < 9; i++)
    for (long d : {-1L, 0L, 1L})
      for (u64 edge : {gpas[i], gpas[i] + sizes[i]})
        probes.push_back(edge + d);
  srand(1);
  for (int i = 0; i < 20000; i++)
    probes.push_back((static_cast<u64>(rand()) << 20 ^ static_cast<u64>(rand())) & ((1ull << 39) - 1));
  for (u64 p : probes)
    ASSERT_EQ(t.find(p), linear(p)) << std::hex << p;
}

TEST_F(MemslotTableTest, NoAllocation) {
  // The table is a fixed array: set() cannot fail for memory.
  long live = mk_alloc_live();
  mk::user::fail_alloc_after(0);
  EXPECT_EQ(set(region(0, 0x10000, 0x4000)), 0);
  EXPECT_EQ(set(region(0, 0x20000, 0x4000)), 0);
  EXPECT_EQ(set(region(0, 0x20000, 0)), 0);
  mk::user::fail_alloc_after(-1);
  EXPECT_EQ(mk_alloc_live(), live);
}

}  // namespace
