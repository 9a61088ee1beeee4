// SPDX-License-Identifier: GPL-2.0
// A VM's extended page tables (SDM vol. 3C 28.2): 4 levels, 4 KiB leaves.
//
// The CPU walks these tables concurrently with every change made here
// (other vCPUs keep running), so:
//  - an entry is written with one 8-byte store, and a new table is zeroed
//    before the entry that links it is written;
//  - a present leaf is cleared with an atomic exchange, so that a dirty
//    flag the CPU sets meanwhile is not lost (28.2.4);
//  - intermediate tables are never freed before destroy(): the CPU may
//    cache them (paging-structure caches, 28.3.1) until an INVEPT;
//  - removing translations does not remove them from the CPUs' caches.
//    Before a page that was mapped may be released to the host, every CPU
//    must have invalidated the EPTP's mappings (INVEPT, 28.3.3.1). Hence
//    the two-step zap_range() / flush / release_zapped(): zap_range()
//    makes leaves not-present but keeps their host address in the entry
//    (the CPU ignores every other bit of a not-present entry, 28.2.2),
//    release_zapped() hands the pages out once the caller has flushed.
//    unmap_range() does both at once and is only for when no CPU can hold
//    a translation (no vCPU has run, or one just flushed).
//
// Hostile input: a guest-physical address at or beyond 2^gpa_bits is
// refused (map) or ignored (ranges), never used to index a table.
// Not thread-safe: the caller serialises every call.
#pragma once

#include "../../ia32/ept.h"
#include "../rt/types.h"
#include "../rt/utility.h"

namespace mk::mmu {

class Ept {
 public:
  // Called with the host-physical address of each leaf a call removes and
  // whether the page may have been written through it: the leaf's dirty
  // flag with A/D flags enabled, else its write permission.
  using LeafFn = void (*)(void *ctx, u64 hpa, bool dirty);

  // gpa_bits: guest-physical address width, clamped to [32, 48] (48 is
  // what 4 levels translate). access_dirty: enable EPT A/D flags (EPTP bit
  // 6; only if IA32_VMX_EPT_VPID_CAP bit 21 says the CPU has them).
  Ept(unsigned gpa_bits, bool access_dirty);
  ~Ept();  // frees the tables; destroy() first to learn about mapped leaves
  Ept(const Ept &) = delete;
  Ept &operator=(const Ept &) = delete;

  // Allocates the PML4. 0 or -ENOMEM. Nothing else works before it.
  int init();
  bool initialized() const { return pml4_ != nullptr; }

  // The VMCS EPT pointer: WB paging structures (28.2.6.1 says the CPU
  // reads them with the EPTP's memory type), walk length 4, A/D as
  // configured. 0 before init().
  u64 eptp() const;

  // Maps the 4 KiB page at gpa to hpa with rights (ia32::ept::kRead/kWrite/
  // kExecute), memory type mt and ignore-PAT set, so that mt alone decides
  // (28.2.6.1; KVM maps RAM WB + IPAT). Allocates the missing tables.
  //  -EINVAL  gpa or hpa not page-aligned, gpa beyond gpa_bits, hpa beyond
  //           52 bits, no right, write without read, or execute-only (each
  //           an EPT misconfiguration, 28.2.3.1), a reserved memory type;
  //  -EEXIST  gpa already has a leaf (present, or zapped and not released);
  //  -ENOMEM  a table could not be allocated: the tables stay consistent
  //           (any new table is empty and linked, freed by destroy());
  //  -ENODEV  before init().
  int map(u64 gpa, u64 hpa, u64 rights, ia32::ept::MemType mt = ia32::ept::MemType::kWriteBack);

  // The leaf entry for gpa as the CPU sees it, or 0 when there is none (or
  // gpa is out of range). Zapped leaves read as 0 here.
  u64 leaf(u64 gpa) const;

  // Makes every present leaf in [gpa, gpa + size) not-present, keeping it
  // for release_zapped(). Returns whether any was present: then the
  // caller must INVEPT before release_zapped().
  bool zap_range(u64 gpa, u64 size);
  // Clears the leaves zap_range() kept in [gpa, gpa + size) and calls fn
  // for each.
  void release_zapped(u64 gpa, u64 size, LeafFn fn, void *ctx);
  // zap_range() and release_zapped() in one pass: clears every leaf in the
  // range, calling fn for each, and returns whether a present one was
  // cleared (the caller must INVEPT before reusing the guest-physical
  // range's old pages; see above).
  bool unmap_range(u64 gpa, u64 size, LeafFn fn, void *ctx);

  // Frees every table, calling fn (if non-null) for every leaf still
  // mapped or zapped. The Ept is then as before init().
  void destroy(LeafFn fn, void *ctx);

  // Convenience wrappers taking any callable f(u64 hpa, bool dirty).
  template <class F> void release_zapped(u64 gpa, u64 size, F &&f) { release_zapped(gpa, size, &thunk<F>, &f); }
  template <class F> bool unmap_range(u64 gpa, u64 size, F &&f) { return unmap_range(gpa, size, &thunk<F>, &f); }
  template <class F> void destroy(F &&f) { destroy(&thunk<F>, &f); }

  unsigned gpa_bits() const { return gpa_bits_; }
  bool access_dirty() const { return access_dirty_; }
  // Table pages allocated (the PML4 included): for tests and statistics.
  size_t table_pages() const { return table_pages_; }
  // Leaves currently present.
  size_t mapped_pages() const { return mapped_pages_; }

 private:
  enum class Walk : u8 { kZap, kRelease, kUnmap, kDestroy };
  struct WalkState {
    Walk op;
    LeafFn fn;
    void *ctx;
    bool any;
  };

  template <class F> static void thunk(void *ctx, u64 hpa, bool dirty) {
    (*static_cast<remove_reference_t<F> *>(ctx))(hpa, dirty);
  }

  bool in_range(u64 gpa) const { return (gpa >> gpa_bits_) == 0; }
  void walk(u64 *table, unsigned level, u64 table_base, u64 first, u64 last, WalkState &st);
  void range_walk(u64 gpa, u64 size, WalkState &st);
  u64 *table_at(u64 entry) const;
  bool leaf_dirty(u64 entry) const;

  u64 *pml4_ = nullptr;
  u64 pml4_pa_ = 0;
  unsigned gpa_bits_;
  bool access_dirty_;
  size_t table_pages_ = 0;
  size_t mapped_pages_ = 0;
};

}  // namespace mk::mmu
