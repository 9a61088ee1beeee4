// SPDX-License-Identifier: GPL-2.0
// KVM_SET_USER_MEMORY_REGION, checked as Linux 6.1 checks it. The numbered
// comments follow the order of KVM's checks, which decides the error code
// when a request is wrong in several ways at once.
#include "memslots.h"

#include <minikvm/platform.h>

#include "../rt/errno.h"

namespace mk::mmu {

MemslotTable::MemslotTable(unsigned gpa_bits) {
  if (gpa_bits < 32)
    gpa_bits = 32;
  if (gpa_bits > 52)
    gpa_bits = 52;
  max_gpa_ = (1ull << gpa_bits) - 1;
}

size_t MemslotTable::index_of_id(u32 id) const {
  for (size_t i = 0; i < count_; i++)
    if (slots_[i].id == id)
      return i;
  return count_;
}

const Memslot *MemslotTable::by_id(u32 id) const {
  size_t i = index_of_id(id);
  return i < count_ ? &slots_[i] : nullptr;
}

const Memslot *MemslotTable::find(u64 gpa) const {
  // The last slot starting at or below gpa is the only one that can
  // contain it, the slots being sorted and disjoint.
  size_t lo = 0, hi = count_;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (slots_[mid].gpa <= gpa)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0)
    return nullptr;
  const Memslot &s = slots_[lo - 1];
  return s.contains(gpa) ? &s : nullptr;
}

// kvm_check_memslot_overlap(): any other slot sharing a page with
// [gpa, gpa + size). Callers have checked that gpa + size does not wrap.
bool MemslotTable::overlaps(u64 gpa, u64 size, u32 except_id) const {
  const u64 end = gpa + size;
  for (size_t i = 0; i < count_; i++) {
    const Memslot &s = slots_[i];
    if (s.id != except_id && s.gpa < end && gpa < s.gpa + s.size)
      return true;
  }
  return false;
}

void MemslotTable::remove_at(size_t i) {
  for (size_t j = i; j + 1 < count_; j++)
    slots_[j] = slots_[j + 1];
  count_--;
}

void MemslotTable::insert_sorted(const Memslot &s) {
  size_t i = count_;
  while (i > 0 && slots_[i - 1].gpa > s.gpa) {
    slots_[i] = slots_[i - 1];
    i--;
  }
  slots_[i] = s;
  count_++;
}

int MemslotTable::set(const kvm_userspace_memory_region &r, MemslotUpdate *update) {
  MemslotUpdate local;
  MemslotUpdate &out = update ? *update : local;
  out = MemslotUpdate{};

  // 1. kvm_vm_ioctl_set_memory_region: the slot id (low 16 bits) must be a
  //    user slot. Checked before anything else, flags included.
  const u32 id = static_cast<u16>(r.slot);
  if (id >= kMaxMemslots)
    return -EINVAL;
  // 2. check_memory_region_flags: only READONLY (x86 has
  //    __KVM_HAVE_READONLY_MEM); LOG_DIRTY_PAGES is not implemented.
  if (r.flags & ~static_cast<u32>(KVM_MEM_READONLY))
    return -EINVAL;
  // 3. Alignment of size, gpa and hva, and the hva range must be user
  //    memory (KVM reads guest memory with __copy_*_user later on).
  if (r.memory_size & kPageMask)
    return -EINVAL;
  if (r.guest_phys_addr & kPageMask)
    return -EINVAL;
  if ((r.userspace_addr & kPageMask) || !mk_access_ok(r.userspace_addr, r.memory_size))
    return -EINVAL;
  // 4. The address space: see memslots.h, only as_id 0 exists here.
  if ((r.slot >> 16) != 0)
    return -EINVAL;
  // 5. No wrap, and at most KVM_MEM_MAX_NR_PAGES pages.
  if (r.guest_phys_addr + r.memory_size < r.guest_phys_addr)
    return -EINVAL;
  if ((r.memory_size >> 12) > kMaxSlotPages)
    return -EINVAL;

  const size_t old_index = index_of_id(id);
  const bool exists = old_index < count_;

  // 6. Delete: size 0 names an existing slot; its gpa and hva are not
  //    compared (KVM checks only their alignment, above).
  if (r.memory_size == 0) {
    if (!exists)
      return -EINVAL;
    out.change = MemslotChange::kDelete;
    out.old = slots_[old_index];
    remove_at(old_index);
    return 0;
  }

  Memslot fresh;
  fresh.id = static_cast<u16>(id);
  fresh.flags = r.flags;
  fresh.gpa = r.guest_phys_addr;
  fresh.size = r.memory_size;
  fresh.hva = r.userspace_addr;

  // 7. Modify: only the gpa may change (a move). KVM_MR_FLAGS_ONLY cannot
  //    arise (memslots.h), so the same gpa is no change at all.
  MemslotChange change = MemslotChange::kCreate;
  if (exists) {
    const Memslot &old = slots_[old_index];
    if (fresh.hva != old.hva || fresh.size != old.size || ((fresh.flags ^ old.flags) & KVM_MEM_READONLY))
      return -EINVAL;
    if (fresh.gpa == old.gpa)
      return 0;
    change = MemslotChange::kMove;
  }

  // 8. Created or moved memory may not overlap another slot.
  if (overlaps(fresh.gpa, fresh.size, id))
    return -EEXIST;
  // 9. kvm_arch_prepare_memory_region (x86): the last page must lie within
  //    the addressable guest-physical range; checked after the overlap.
  if (fresh.last() > max_gpa_)
    return -EINVAL;

  if (exists) {
    out.old = slots_[old_index];
    remove_at(old_index);
  }
  insert_sorted(fresh);
  out.change = change;
  out.now = fresh;
  return 0;
}

}  // namespace mk::mmu
