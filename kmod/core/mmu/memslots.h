// SPDX-License-Identifier: GPL-2.0
// The guest's memory slots: KVM_SET_USER_MEMORY_REGION with the semantics
// of Linux 6.1 (virt/kvm/kvm_main.c: kvm_vm_ioctl_set_memory_region,
// __kvm_set_memory_region, check_memory_region_flags; x86's
// kvm_arch_prepare_memory_region), same checks in the same order, same
// error codes. Differences, all deliberate:
//
//  - kMaxMemslots (32) user slots, the value KVM_CAP_NR_MEMSLOTS reports
//    (KVM: 32764 on x86). Slot ids at or above it are -EINVAL, exactly as
//    KVM treats ids at or above its own KVM_USER_MEM_SLOTS.
//  - One address space. On x86 KVM has two (slot >> 16 = 1 is the SMM
//    view, KVM_CAP_MULTI_ADDRESS_SPACE = 2); minikvm has no SMM, so any
//    as_id but 0 is -EINVAL, which is what KVM itself answers for an
//    as_id at or above KVM_ADDRESS_SPACE_NUM. KVM_CAP_MULTI_ADDRESS_SPACE
//    must therefore report 0 (absent: QEMU then never creates SMM slots).
//  - KVM_MEM_LOG_DIRTY_PAGES is not supported: it is -EINVAL, as any flag
//    check_memory_region_flags does not know. KVM_MEM_READONLY is.
//    Consequently KVM's KVM_MR_FLAGS_ONLY change cannot happen: READONLY
//    may not change on an existing slot (-EINVAL, as in KVM), so the same
//    slot with the same flags is "no change".
//
// No allocation: the table is a fixed array, so set() never fails for
// lack of memory. The caller serialises set() against every reader.
#pragma once

#include <linux/kvm.h>

#include "../rt/types.h"

namespace mk::mmu {

inline constexpr u64 kPageSize = 4096;
inline constexpr u64 kPageMask = kPageSize - 1;

struct Memslot {
  u16 id = 0;
  u32 flags = 0;  // KVM_MEM_READONLY or 0
  u64 gpa = 0;    // page-aligned
  u64 size = 0;   // bytes, page-aligned, > 0 for a slot in the table
  u64 hva = 0;    // page-aligned userspace address of gpa

  bool readonly() const { return flags & KVM_MEM_READONLY; }
  // Written so that it cannot overflow: gpa + size may be 2^64.
  bool contains(u64 addr) const { return addr >= gpa && addr - gpa < size; }
  u64 hva_of(u64 addr) const { return hva + (addr - gpa); }
  u64 last() const { return gpa + (size - 1); }
};

// What a successful set() did, so the caller can unmap and flush.
enum class MemslotChange : u8 {
  kNone,    // the slot already was exactly this: nothing happened
  kCreate,  // `now` was added; nothing was mapped in its range before
  kDelete,  // `old` was removed: unmap its range
  kMove,    // same id, hva and size, new gpa: unmap `old`'s range
};

struct MemslotUpdate {
  MemslotChange change = MemslotChange::kNone;
  Memslot old;  // kDelete, kMove: the slot as it was
  Memslot now;  // kCreate, kMove: the slot as it is now
};

class MemslotTable {
 public:
  static constexpr u32 kMaxMemslots = 32;
  // KVM_MEM_MAX_NR_PAGES (include/linux/kvm_host.h): a slot's page count
  // must fit in 31 bits.
  static constexpr u64 kMaxSlotPages = (1ull << 31) - 1;

  // gpa_bits: the guest-physical address width memory may occupy. KVM uses
  // the host MAXPHYADDR (kvm_mmu_max_gfn(), arch/x86/kvm/mmu.h); minikvm's
  // caller passes min(host MAXPHYADDR, 48), 48 being what a 4-level EPT
  // translates. Clamped to [32, 52].
  explicit MemslotTable(unsigned gpa_bits);

  // KVM_SET_USER_MEMORY_REGION. Returns 0 and fills *update (may be null),
  // or, with the table unchanged:
  //  -EINVAL  slot id >= kMaxMemslots, as_id != 0, unknown or unsupported
  //           flag, size/gpa/hva not page-aligned, [hva, hva + size) not
  //           user memory (access_ok), gpa + size wraps, more than
  //           kMaxSlotPages pages, deleting (size 0) a slot that does not
  //           exist, changing hva, size or READONLY of an existing slot, or
  //           the slot ending beyond gpa_bits;
  //  -EEXIST  a created or moved slot overlaps another slot.
  int set(const kvm_userspace_memory_region &region, MemslotUpdate *update);

  // The slot containing gpa, or null. Binary search over the slots sorted
  // by gpa: O(log n) for every EPT violation.
  const Memslot *find(u64 gpa) const;
  const Memslot *by_id(u32 id) const;

  // The slots in gpa order.
  size_t count() const { return count_; }
  const Memslot &at(size_t i) const { return slots_[i]; }

  u64 max_gpa() const { return max_gpa_; }

 private:
  size_t index_of_id(u32 id) const;  // count_ when absent
  bool overlaps(u64 gpa, u64 size, u32 except_id) const;
  void remove_at(size_t i);
  void insert_sorted(const Memslot &s);

  Memslot slots_[kMaxMemslots];  // sorted by gpa, non-overlapping
  size_t count_ = 0;
  u64 max_gpa_;  // the last valid guest-physical address
};

}  // namespace mk::mmu
