// SPDX-License-Identifier: GPL-2.0
#include "guest_mmu.h"

#include <minikvm/platform.h>

#include "../rt/errno.h"
#include "../rt/utility.h"

namespace mk::mmu {

namespace ept = ia32::ept;

namespace {

unsigned clamp_gpa_bits(unsigned bits) { return min(max(bits, 32u), ept::kMaxGpaBits); }

void unpin(void *, u64 hpa, bool dirty) { mk_unpin_page(hpa, dirty); }

}  // namespace

GuestMmu::GuestMmu(unsigned gpa_bits, bool ept_access_dirty, TlbFlusher &flusher)
    : slots_(clamp_gpa_bits(gpa_bits)), ept_(clamp_gpa_bits(gpa_bits), ept_access_dirty), flusher_(flusher) {}

GuestMmu::~GuestMmu() {
  ept_.destroy(&unpin_leaf, this);
  if (apic_access_)
    mk_page_free(apic_access_);
}

void GuestMmu::unpin_leaf(void *self, u64 hpa, bool dirty) {
  // The APIC-access page is the VM's own, not a pinned user page.
  if (hpa != __atomic_load_n(&static_cast<GuestMmu *>(self)->apic_access_hpa_, __ATOMIC_ACQUIRE))
    unpin(nullptr, hpa, dirty);
}

u64 GuestMmu::apic_access_page(u64 gpa) {
  if (u64 hpa = __atomic_load_n(&apic_access_hpa_, __ATOMIC_ACQUIRE))
    return hpa;
  u64 pa = 0;
  void *page = mk_page_alloc(&pa);
  if (!page)
    return 0;
  void *expected = nullptr;
  if (!__atomic_compare_exchange_n(&apic_access_, &expected, page, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    mk_page_free(page);  // another vCPU's won; its address is published next
    while (!__atomic_load_n(&apic_access_hpa_, __ATOMIC_ACQUIRE)) {
    }
    return __atomic_load_n(&apic_access_hpa_, __ATOMIC_ACQUIRE);
  }
  apic_access_gpa_ = gpa & ~kPageMask;
  __atomic_store_n(&apic_access_hpa_, pa, __ATOMIC_RELEASE);
  return pa;
}

int GuestMmu::init() { return ept_.init(); }

bool GuestMmu::drop_range(u64 gpa, u64 size) {
  // The pages must stay pinned until no CPU can translate to them any more
  // (SDM 28.3.3.1: clearing an entry does not invalidate cached mappings).
  const bool flush = ept_.zap_range(gpa, size);
  if (flush)
    flusher_.flush_guest_mappings();
  ept_.release_zapped(gpa, size, &unpin_leaf, this);
  return flush;
}

int GuestMmu::set_memory_region(const kvm_userspace_memory_region &region, bool *flushed) {
  if (flushed)
    *flushed = false;
  MemslotUpdate update;
  if (int err = slots_.set(region, &update))
    return err;
  // A created slot needs nothing: its range had no slot, so no page of it
  // can be mapped, but the APIC-access page, which the slot now hides.
  // (A flags-only change cannot happen, memslots.h.)
  const u64 aa = __atomic_load_n(&apic_access_hpa_, __ATOMIC_ACQUIRE) ? apic_access_gpa_ : ~0ull;
  if ((update.change == MemslotChange::kCreate || update.change == MemslotChange::kMove) &&
      aa - update.now.gpa < update.now.size) {
    bool f = drop_range(aa, kPageSize);
    if (flushed)
      *flushed = f;
  }
  if (update.change == MemslotChange::kDelete || update.change == MemslotChange::kMove) {
    bool f = drop_range(update.old.gpa, update.old.size);
    if (flushed)
      *flushed = *flushed || f;
  }
  return 0;
}

int GuestMmu::handle_ept_violation(u64 gpa, u64 qualification, EptFault *out) {
  const bool write = qualification & ept::violation::kDataWrite;
  const u64 page = gpa & ~kPageMask;

  // No slot (also any gpa beyond gpa_bits: no slot reaches there) or a
  // write to read-only memory: KVM exits to userspace with KVM_EXIT_MMIO.
  const Memslot *slot = slots_.find(gpa);
  const u64 aa_hpa = __atomic_load_n(&apic_access_hpa_, __ATOMIC_ACQUIRE);
  if (!slot && aa_hpa && page == apic_access_gpa_) {
    // KVM's APIC-access memslot: the CPU turns accesses through this
    // translation into APIC accesses (SDM 29.4) for vCPUs that virtualize
    // them; others read and write the page itself (as on KVM).
    int err = ept_.leaf(page) ? 0 : ept_.map(page, aa_hpa, ept::kRwx);
    if (err)
      return err;
    *out = EptFault::kMapped;
    return 0;
  }
  if (!slot || (write && slot->readonly())) {
    *out = EptFault::kMmio;
    return 0;
  }

  if (u64 e = ept_.leaf(page)) {
    // Mapped meanwhile (another vCPU faulted on the same page first and
    // this exit waited for the lock): nothing to do.
    if (!write || (e & ept::kWrite)) {
      *out = EptFault::kMapped;
      return 0;
    }
    // A writable slot's page mapped read-only because its host page could
    // not be written then: drop it and pin again for writing. The host
    // page may change (copy-on-write), so the old one goes first.
    drop_range(page, kPageSize);
  }

  const u64 hva = slot->hva_of(page);
  bool writable = !slot->readonly();
  u64 hpa = 0;
  int err = mk_pin_user_page(hva, writable, &hpa);
  if (err == -EFAULT && writable && !write) {
    // KVM's hva_to_pfn(): a read or fetch of a page the host maps
    // read-only succeeds, mapped read-only.
    writable = false;
    err = mk_pin_user_page(hva, 0, &hpa);
  }
  if (err)
    return err;

  const u64 rights = writable ? ept::kRwx : (ept::kRead | ept::kExecute);
  err = ept_.map(page, hpa, rights);
  if (err) {
    mk_unpin_page(hpa, 0);
    return err;
  }
  *out = EptFault::kMapped;
  return 0;
}

int GuestMmu::gpa_to_hva(u64 gpa, bool write, u64 *hva) const {
  const Memslot *slot = slots_.find(gpa);
  if (!slot || (write && slot->readonly()))
    return -EFAULT;
  *hva = slot->hva_of(gpa);
  return 0;
}

// Is every byte of [gpa, gpa + len) in a slot (writable ones for a write)?
int GuestMmu::check_range(u64 gpa, size_t len, bool write) const {
  if (gpa + (len - 1) < gpa)
    return -EFAULT;
  u64 addr = gpa;
  u64 left = len;
  while (left) {
    const Memslot *slot = slots_.find(addr);
    if (!slot || (write && slot->readonly()))
      return -EFAULT;
    const u64 in_slot = slot->size - (addr - slot->gpa);
    if (in_slot >= left)
      break;
    addr += in_slot;
    left -= in_slot;
  }
  return 0;
}

int GuestMmu::read(u64 gpa, void *buf, size_t len) {
  if (!len)
    return 0;
  if (int err = check_range(gpa, len, false))
    return err;
  u8 *dst = static_cast<u8 *>(buf);
  while (len) {
    // check_range() found a slot for every byte.
    const Memslot *slot = slots_.find(gpa);
    const u64 n = min<u64>(len, slot->size - (gpa - slot->gpa));
    if (mk_copy_from_user(dst, slot->hva_of(gpa), n))
      return -EFAULT;
    gpa += n;
    dst += n;
    len -= n;
  }
  return 0;
}

int GuestMmu::write(u64 gpa, const void *buf, size_t len) {
  if (!len)
    return 0;
  if (int err = check_range(gpa, len, true))
    return err;
  const u8 *src = static_cast<const u8 *>(buf);
  while (len) {
    const Memslot *slot = slots_.find(gpa);
    const u64 n = min<u64>(len, slot->size - (gpa - slot->gpa));
    if (mk_copy_to_user(slot->hva_of(gpa), src, n))
      return -EFAULT;
    gpa += n;
    src += n;
    len -= n;
  }
  return 0;
}

int GuestMmu::PhysMem::read(u64 gpa, void *buf, size_t len) { return mmu_.read(gpa, buf, len); }
int GuestMmu::PhysMem::write(u64 gpa, const void *buf, size_t len) { return mmu_.write(gpa, buf, len); }

}  // namespace mk::mmu
