// SPDX-License-Identifier: GPL-2.0
// A VM's guest-physical memory: its memory slots, its EPT, and the pins
// that keep every mapped page in place.
//
// Pages are mapped lazily, one 4 KiB page per EPT violation, pinned
// through the slot's userspace address (long-term GUP in the kernel) and
// unpinned when the slot is deleted or moved, or with the VM. Unlike KVM,
// which follows the host mappings with MMU notifiers and holds no page
// references, minikvm pins: simpler, at the cost of pages that cannot be
// swapped, migrated or unmapped by userspace while the guest maps them
// (munmap of a slot's memory leaves the guest on the old pages until the
// slot is deleted).
//
// One per VM. Not thread-safe: the caller holds a VM-wide mutex around
// every call (a mutex, not a spinlock: pinning and the user copies sleep).
// read()/write()/handle_ept_violation() access userspace memory and so
// must run in the VM's process (its mm), as KVM_RUN and the VM ioctls do.
#pragma once

#include <linux/kvm.h>

#include "../rt/types.h"
#include "ept.h"
#include "guest_phys_mem.h"
#include "memslots.h"

namespace mk::mmu {

// Supplied by the VMX code: invalidates on every CPU all guest-physical and
// combined mappings tagged with this VM's EPTP (INVEPT single-context, or
// all-context, SDM vol. 3C 28.3.3.1) and returns only when every CPU has
// done so. GuestMmu calls it after removing translations and before giving
// their pages back to the host, so no vCPU can reach a page once unpinned.
class TlbFlusher {
 public:
  virtual void flush_guest_mappings() = 0;

 protected:
  ~TlbFlusher() = default;
};

enum class EptFault : u8 {
  kMapped,  // the page is mapped now (or already was): re-enter the guest
  kMmio,    // not guest RAM (no slot), or a write to a read-only slot:
            // emulate the access (KVM_EXIT_MMIO)
};

// GuestMmu is a GuestPhysMem by conversion (phys_mem()) rather than by
// inheritance, so that it is not itself polymorphic: unit tests are built
// with UBSan, whose vptr check in an RTTI test needs the typeinfo of every
// polymorphic class the test calls into, and the core has no RTTI.
class GuestMmu {
 public:
  // gpa_bits: the guest-physical address width, min(host MAXPHYADDR, 48)
  // (kvm_mmu_max_gfn() uses the host's; 48 is what 4-level EPT covers),
  // clamped to [32, 48]; slots and the EPT both use it. ept_access_dirty:
  // EPT A/D flags (IA32_VMX_EPT_VPID_CAP bit 21), used to unpin only
  // written pages dirty.
  GuestMmu(unsigned gpa_bits, bool ept_access_dirty, TlbFlusher &flusher);
  // Unpins every page still mapped. No flush: no vCPU runs any more, but
  // CPUs may still cache this EPTP's translations, so the vCPU code must
  // INVEPT (single-context) an EPTP on each CPU before its first VM entry
  // with it, as KVM does when it loads a new root (kvm_mmu_load()): the
  // next VM may get the same PML4 page.
  ~GuestMmu();
  GuestMmu(const GuestMmu &) = delete;
  GuestMmu &operator=(const GuestMmu &) = delete;

  // Allocates the EPT root: 0 or -ENOMEM.
  int init();
  u64 eptp() const { return ept_.eptp(); }

  // KVM_SET_USER_MEMORY_REGION (errors: MemslotTable::set). A deleted or
  // moved slot's pages are unmapped and, after a flush through the
  // TlbFlusher when any was mapped, unpinned (dirty if written). *flushed
  // (may be null) tells whether the flush was needed and done. Never fails
  // once the request is valid: nothing here allocates.
  int set_memory_region(const kvm_userspace_memory_region &region, bool *flushed = nullptr);

  // An EPT violation at gpa (the guest-physical-address VMCS field) with
  // the VMCS exit qualification (SDM 27.2.1; bits 2:0 = read, write,
  // fetch). Returns 0 and *out, or a negative errno for KVM_RUN:
  //  -EFAULT  the slot's userspace memory cannot be pinned (unmapped, or
  //           not writable for a write), -ENOMEM, -EINTR (from pinning or
  //           from allocating a table; nothing stays pinned).
  // A writable slot's page is pinned and mapped writable (RWX); if the host
  // page cannot be written and the access is a read or a fetch, it is
  // mapped read-only as KVM does (hva_to_pfn()), and a later write to it
  // retries writable. A read-only slot's page is pinned read-only and
  // mapped R+X; writes to it are kMmio. All RAM is WB with ignore-PAT.
  int handle_ept_violation(u64 gpa, u64 exit_qualification, EptFault *out);

  // The userspace address of gpa: 0, or -EFAULT for no slot or a write to
  // a read-only slot.
  int gpa_to_hva(u64 gpa, bool write, u64 *hva) const;

  // GuestPhysMem's read/write (see there), through mk_copy_{from,to}_user
  // on the slots' userspace memory (so also for pages not mapped in the
  // EPT). The whole range is checked before the first byte is copied.
  int read(u64 gpa, void *buf, size_t len);
  int write(u64 gpa, const void *buf, size_t len);

  // This guest's memory for emulation code (guest page-table walks...):
  // read()/write() above behind the GuestPhysMem interface. The conversion
  // lets a GuestMmu be passed wherever a GuestPhysMem& is expected.
  GuestPhysMem &phys_mem() { return phys_mem_; }
  operator GuestPhysMem &() { return phys_mem_; }

  // VMX's APIC-access page (SDM vol. 3C 29.4): one zeroed host page per VM,
  // allocated by the first call (any thread; later calls return the same
  // page), mapped read/write at gpa on the first EPT violation there while
  // no memslot covers gpa (as KVM's private APIC-access memslot). A slot
  // created over it hides it. Returns its host-physical address, or 0 when
  // it cannot be allocated. Freed with the GuestMmu, never unpinned.
  u64 apic_access_page(u64 gpa);

  const MemslotTable &memslots() const { return slots_; }
  const Ept &ept() const { return ept_; }

 private:
  // Unmaps [gpa, gpa + size), flushes if anything was mapped, unpins.
  bool drop_range(u64 gpa, u64 size);
  int check_range(u64 gpa, size_t len, bool write) const;

  class PhysMem final : public GuestPhysMem {
   public:
    explicit PhysMem(GuestMmu &mmu) : mmu_(mmu) {}
    int read(u64 gpa, void *buf, size_t len) override;
    int write(u64 gpa, const void *buf, size_t len) override;

   private:
    GuestMmu &mmu_;
  };

  static void unpin_leaf(void *self, u64 hpa, bool dirty);

  MemslotTable slots_;
  void *apic_access_ = nullptr;  // atomic: published once
  u64 apic_access_hpa_ = 0;      // atomic, with apic_access_
  u64 apic_access_gpa_ = 0;
  Ept ept_;
  TlbFlusher &flusher_;
  PhysMem phys_mem_{*this};
};

}  // namespace mk::mmu
