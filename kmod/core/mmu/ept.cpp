// SPDX-License-Identifier: GPL-2.0
// 4-level EPT with 4 KiB leaves (SDM vol. 3C 28.2.2): PML4 (gpa bits
// 47:39) -> PDPT (38:30) -> PD (29:21) -> PT (20:12) -> page.
#include "ept.h"

#include <minikvm/platform.h>

#include "../rt/errno.h"

namespace mk::mmu {

namespace ept = ia32::ept;

namespace {

// A zapped leaf: not present (bits 2:0 clear, so the CPU ignores the rest,
// 28.2.2), bit 11 marks it, bits 51:12 still hold the page, bit 9 says
// whether it was dirty. Nothing else ever writes a non-zero not-present
// entry.
constexpr u64 kZapped = ept::kIgnored11;
constexpr u64 kZappedDirty = ept::kDirty;

bool zapped(u64 e) { return !ept::present(e) && (e & kZapped); }

// The CPU reads entries concurrently and sets their A/D flags with locked
// operations (28.2.4): every access is a single 8-byte atomic.
u64 load(const u64 *e) { return __atomic_load_n(e, __ATOMIC_RELAXED); }
// Release order: the zeroed contents of a new table are visible before the
// entry that links it (x86 stores are ordered; this orders the compiler).
void store(u64 *e, u64 v) { __atomic_store_n(e, v, __ATOMIC_RELEASE); }
u64 exchange(u64 *e, u64 v) { return __atomic_exchange_n(e, v, __ATOMIC_ACQ_REL); }

// Bytes one entry at this level covers: 4 KiB, 2 MiB, 1 GiB, 512 GiB.
constexpr u64 span(unsigned level) { return 1ull << (ept::kPageShift + ept::kIndexBits * (level - 1)); }

bool valid_mem_type(ept::MemType mt) {
  switch (mt) {
    case ept::MemType::kUncacheable:
    case ept::MemType::kWriteCombining:
    case ept::MemType::kWriteThrough:
    case ept::MemType::kWriteProtected:
    case ept::MemType::kWriteBack:
      return true;
  }
  return false;
}

}  // namespace

Ept::Ept(unsigned gpa_bits, bool access_dirty) : access_dirty_(access_dirty) {
  if (gpa_bits < 32)
    gpa_bits = 32;
  if (gpa_bits > ept::kMaxGpaBits)
    gpa_bits = ept::kMaxGpaBits;
  gpa_bits_ = gpa_bits;
}

Ept::~Ept() { destroy(nullptr, nullptr); }

int Ept::init() {
  if (pml4_)
    return 0;
  u64 pa = 0;
  void *va = mk_page_alloc(&pa);
  if (!va)
    return -ENOMEM;
  pml4_ = static_cast<u64 *>(va);
  pml4_pa_ = pa;
  table_pages_ = 1;
  return 0;
}

u64 Ept::eptp() const {
  if (!pml4_)
    return 0;
  return ept::eptp::make(pml4_pa_, ept::MemType::kWriteBack, access_dirty_);
}

u64 *Ept::table_at(u64 entry) const { return static_cast<u64 *>(mk_phys_to_virt(ept::address(entry))); }

bool Ept::leaf_dirty(u64 entry) const {
  // Without A/D flags nothing tells whether a writable page was written.
  return access_dirty_ ? (entry & ept::kDirty) : (entry & ept::kWrite);
}

int Ept::map(u64 gpa, u64 hpa, u64 rights, ept::MemType mt) {
  if ((gpa & (ept::kPageSize - 1)) || !in_range(gpa))
    return -EINVAL;
  if (hpa & ~ept::kAddrMask)
    return -EINVAL;
  // 28.2.3.1: write without read, and execute-only without the CPU's
  // support (which minikvm does not use), are misconfigurations.
  if (!rights || (rights & ~ept::kRwx) || !(rights & ept::kRead))
    return -EINVAL;
  if (!valid_mem_type(mt))
    return -EINVAL;
  if (!pml4_)
    return -ENODEV;

  u64 *table = pml4_;
  for (unsigned level = ept::kLevels; level > 1; level--) {
    u64 *slot = &table[ept::index(gpa, level)];
    u64 e = load(slot);
    if (!ept::present(e)) {
      u64 pa = 0;
      void *va = mk_page_alloc(&pa);
      if (!va)
        return -ENOMEM;
      table_pages_++;
      e = ept::make_table(pa);
      store(slot, e);
    }
    table = table_at(e);
  }
  u64 *slot = &table[ept::index(gpa, 1)];
  if (load(slot))
    return -EEXIST;
  store(slot, ept::make_leaf(hpa, rights, mt, true));
  mapped_pages_++;
  return 0;
}

u64 Ept::leaf(u64 gpa) const {
  if (!pml4_ || !in_range(gpa))
    return 0;
  const u64 *table = pml4_;
  for (unsigned level = ept::kLevels; level > 1; level--) {
    u64 e = load(&table[ept::index(gpa, level)]);
    if (!ept::present(e))
      return 0;
    table = table_at(e);
  }
  u64 e = load(&table[ept::index(gpa, 1)]);
  return ept::present(e) ? e : 0;
}

// Visits the entries of `table` (at `level`, covering guest-physical
// addresses from table_base) that intersect [first, last], inclusive so
// that the top of the address space needs no overflowing end.
void Ept::walk(u64 *table, unsigned level, u64 table_base, u64 first, u64 last, WalkState &st) {
  const u64 sz = span(level);
  const unsigned lo = first > table_base ? ept::index(first, level) : 0;
  const unsigned hi = last < table_base + (sz * ept::kEntriesPerTable - 1) ? ept::index(last, level)
                                                                           : ept::kEntriesPerTable - 1;
  for (unsigned i = lo; i <= hi; i++) {
    u64 *slot = &table[i];
    u64 e = load(slot);
    if (level > 1) {
      if (!ept::present(e))
        continue;
      u64 *child = table_at(e);
      walk(child, level - 1, table_base + i * sz, first, last, st);
      if (st.op == Walk::kDestroy) {
        store(slot, 0);
        mk_page_free(child);
        table_pages_--;
      }
      continue;
    }
    if (ept::present(e)) {
      switch (st.op) {
        case Walk::kZap: {
          // Keep the page and whether it is dirty in the not-present entry;
          // the exchange catches a dirty flag set up to this instant.
          u64 old = exchange(slot, ept::address(e) | kZapped);
          if (leaf_dirty(old))
            __atomic_fetch_or(slot, kZappedDirty, __ATOMIC_RELAXED);
          mapped_pages_--;
          st.any = true;
          break;
        }
        case Walk::kRelease:
          break;
        case Walk::kUnmap:
        case Walk::kDestroy: {
          u64 old = exchange(slot, 0);
          mapped_pages_--;
          st.any = true;
          if (st.fn)
            st.fn(st.ctx, ept::address(old), leaf_dirty(old));
          break;
        }
      }
    } else if (zapped(e) && st.op != Walk::kZap) {
      store(slot, 0);
      if (st.fn)
        st.fn(st.ctx, ept::address(e), e & kZappedDirty);
    }
  }
}

void Ept::range_walk(u64 gpa, u64 size, WalkState &st) {
  if (!pml4_ || !size || !in_range(gpa))
    return;
  u64 last = gpa + (size - 1);
  const u64 top = (1ull << gpa_bits_) - 1;
  if (last < gpa || last > top)
    last = top;
  walk(pml4_, ept::kLevels, 0, gpa, last, st);
}

bool Ept::zap_range(u64 gpa, u64 size) {
  WalkState st{Walk::kZap, nullptr, nullptr, false};
  range_walk(gpa, size, st);
  return st.any;
}

void Ept::release_zapped(u64 gpa, u64 size, LeafFn fn, void *ctx) {
  WalkState st{Walk::kRelease, fn, ctx, false};
  range_walk(gpa, size, st);
}

bool Ept::unmap_range(u64 gpa, u64 size, LeafFn fn, void *ctx) {
  WalkState st{Walk::kUnmap, fn, ctx, false};
  range_walk(gpa, size, st);
  return st.any;
}

void Ept::destroy(LeafFn fn, void *ctx) {
  if (!pml4_)
    return;
  WalkState st{Walk::kDestroy, fn, ctx, false};
  walk(pml4_, ept::kLevels, 0, 0, (1ull << gpa_bits_) - 1, st);
  mk_page_free(pml4_);
  pml4_ = nullptr;
  pml4_pa_ = 0;
  table_pages_ = 0;
  mapped_pages_ = 0;
}

}  // namespace mk::mmu
