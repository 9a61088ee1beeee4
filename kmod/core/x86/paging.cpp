// SPDX-License-Identifier: GPL-2.0
// Guest page-table walker (SDM vol. 3A chapter 4). See paging.h for what is
// modelled and how the result relates to KVM's walker (paging_tmpl.h).
#include "paging.h"

#include "../../ia32/paging.h"
#include "../rt/errno.h"

namespace mk::x86 {
namespace {

namespace pg = ia32::paging;
using pg::bits;

constexpr u64 kLow32 = 0xffffffffull;

u8 clamp_maxphyaddr(u8 m) {
  // KVM (cpuid.c cpuid_query_maxphyaddr) uses 36 when the guest CPUID has no
  // leaf 0x80000008. The architectural range is 32..52 (SDM 4.1.4).
  if (m == 0)
    return 36;
  if (m < 32)
    return 32;
  if (m > 52)
    return 52;
  return m;
}

// One paging-structure entry used by a walk, for the A/D write-back.
struct Used {
  u64 gpa;   // where the entry lives
  u8 low;    // its bits 7:0 as read
  bool leaf; // maps the page (D applies)
};

// The walk's running state.
struct Walk {
  const PagingState &st;
  Access acc;
  GuestPhysMem &mem;
  u64 la;            // the linear address (32 bits outside 4/5-level)
  u32 access_bits;   // W/R, U/S, I/D of the access, for every #PF of this walk
  Used used[5];
  unsigned n_used = 0;
  bool writable = true;  // R/W of every entry so far (SDM 4.6: ANDed)
  bool user = true;      // U/S of every entry so far (ANDed)
  bool xd = false;       // XD of some entry with EFER.NXE = 1 (ORed)

  int fault(u32 extra, PageFault *pf) const {
    pf->address = la;
    pf->error_code = access_bits | extra;
    return -EFAULT;
  }

  // A paging-structure entry KVM cannot read: it injects the #PF built so
  // far (not-present, W/R, U/S, I/D), see paging.h.
  int table_not_ram(PageFault *pf) const {
    pf->address = la;
    pf->error_code = access_bits;
    return -ENXIO;
  }

  void use(u64 gpa, u64 entry, bool leaf) {
    used[n_used++] = Used{gpa, u8(entry), leaf};
    writable = writable && (entry & pg::entry::kWritable);
    user = user && (entry & pg::entry::kUser);
  }
};

// SDM 4.6.1 ("Determination of Access Rights"), protection keys aside.
bool access_denied(const Walk &w) {
  const PagingState &st = w.st;
  const bool wp = st.cr0 & pg::cr0::kWp;
  const bool smep = st.cr4 & pg::cr4::kSmep;
  const bool smap = st.cr4 & pg::cr4::kSmap;
  const bool ac = st.rflags & pg::kRflagsAc;

  if (w.acc.user) {
    // User-mode: supervisor pages are out of reach; writes need R/W = 1
    // at every level whatever CR0.WP says; fetches need XD = 0.
    if (!w.user)
      return true;
    if (w.acc.write && !w.writable)
      return true;
    return w.acc.fetch && w.xd;
  }
  if (w.acc.fetch) {
    // Supervisor fetch: XD pages never; user pages not with SMEP.
    return w.xd || (w.user && smep);
  }
  // Supervisor data access to a user page with SMAP: allowed only for an
  // explicit access with EFLAGS.AC = 1.
  if (w.user && smap && (w.acc.implicit || !ac))
    return true;
  // Supervisor write: R/W matters only with CR0.WP = 1.
  return w.acc.write && !w.writable && wp;
}

// Sets A in every entry used and D in the leaf for a write (SDM 4.8), top
// level first so that a table that maps itself ends with the leaf's value.
void set_accessed_dirty(const Walk &w) {
  for (unsigned i = 0; i < w.n_used; i++) {
    const Used &u = w.used[i];
    u8 want = u.low | u8(pg::entry::kAccessed);
    if (u.leaf && w.acc.write)
      want |= u8(pg::entry::kDirty);
    if (want != u.low)
      (void)w.mem.write(u.gpa, &want, 1);  // refused: read-only memory, skip
  }
}

// 32-bit paging (SDM 4.3): two levels of 4-byte entries.
int walk_32bit(Walk &w, u64 *frame, u64 *offset_mask, PageFault *pf) {
  const PagingState &st = w.st;
  const unsigned m = clamp_maxphyaddr(st.maxphyaddr);

  const u64 pde_gpa = (st.cr3 & pg::legacy::kCr3TableMask) + ((w.la >> 22) & 0x3ff) * 4;
  u32 pde;
  if (w.mem.read(pde_gpa, &pde, sizeof(pde)))
    return w.table_not_ram(pf);
  if (!(pde & pg::entry::kPresent))
    return w.fault(0, pf);

  // CR4.PSE = 0: PS is ignored and the PDE references a page table.
  if ((st.cr4 & pg::cr4::kPse) && (pde & pg::entry::kPageSize)) {
    // Table 4-4: physical bits (M'-1):32 sit in PDE bits (M'-20):13 with
    // PSE-36, M' = min(MAXPHYADDR, 40); bits 21:(M'-19) are reserved. No
    // PSE-36: bits 21:13 are reserved. (KVM takes M' = 36 whatever
    // MAXPHYADDR is: mmu.c __reset_rsvds_bits_mask.)
    const unsigned mp = st.pse36 ? (m < pg::legacy::kPse36MaxPhysBits ? m : pg::legacy::kPse36MaxPhysBits) : 32;
    const unsigned high_bits = mp - 32;  // physical bits above 31
    const u64 reserved = bits(21, pg::legacy::kPse36FirstBit + high_bits);
    if (pde & reserved)
      return w.fault(pg::pfec::kPresent | pg::pfec::kRsvd, pf);
    w.use(pde_gpa, pde, true);
    // No PSE-36 (or MAXPHYADDR 32): nothing above physical bit 31.
    const u64 high = high_bits ? (u64(pde) >> pg::legacy::kPse36FirstBit) & bits(high_bits - 1, 0) : 0;
    *frame = (pde & pg::legacy::k4MFrameMask) | (high << 32);
    *offset_mask = bits(21, 0);
    return 0;
  }
  w.use(pde_gpa, pde, false);

  // 32-bit PTEs have no reserved bits (table 4-6).
  const u64 pte_gpa = (pde & pg::legacy::kTableMask) + ((w.la >> 12) & 0x3ff) * 4;
  u32 pte;
  if (w.mem.read(pte_gpa, &pte, sizeof(pte)))
    return w.table_not_ram(pf);
  if (!(pte & pg::entry::kPresent))
    return w.fault(0, pf);
  w.use(pte_gpa, pte, true);
  *frame = pte & pg::legacy::kTableMask;
  *offset_mask = pg::kPageOffsetMask;
  return 0;
}

// PAE, 4-level and 5-level paging (SDM 4.4, 4.5): 8-byte entries, 9 bits
// of linear address per level below the PAE PDPTE registers.
int walk_64bit(Walk &w, PagingMode mode, u64 *frame, u64 *offset_mask, PageFault *pf) {
  const PagingState &st = w.st;
  const unsigned m = clamp_maxphyaddr(st.maxphyaddr);
  const bool nxe = st.efer & pg::efer::kNxe;

  // Reserved in every entry (tables 4-8..4-11, 4-14..4-20): physical bits
  // from MAXPHYADDR up to bit 62 (PAE) or 51 (4/5-level; 62:52 are
  // ignored, or the protection key), and XD unless EFER.NXE = 1.
  u64 high_reserved = mode == PagingMode::kPae ? bits(62, m) : bits(51, m);
  if (!nxe)
    high_reserved |= pg::entry::kXd;

  u64 table;
  unsigned level;
  if (mode == PagingMode::kPae) {
    // The PDPTE registers have no R/W, U/S, A or XD bit: they take no part
    // in access rights or A/D (4.4.1). Loading them checked the reserved
    // bits (MOV to CR3 #GP, VM entry with EPT); a hostile value set through
    // the ABI still gets a defined answer: RSVD like any other entry.
    const u64 pdpte = st.pdpte[(w.la >> 30) & 3];
    if (!(pdpte & pg::entry::kPresent))
      return w.fault(0, pf);
    if (pdpte & pg::pae::pdpte_reserved(m))
      return w.fault(pg::pfec::kPresent | pg::pfec::kRsvd, pf);
    table = pdpte & pg::address_mask(m, 12);
    level = 2;
  } else {
    // PML5/PML4 base: CR3 bits (M-1):12; bits 11:0 are PWT/PCD or the PCID.
    table = st.cr3 & pg::address_mask(m, 12);
    level = mode == PagingMode::k5Level ? 5 : 4;
  }

  for (;; level--) {
    const unsigned shift = 12 + 9 * (level - 1);
    const u64 entry_gpa = table + ((w.la >> shift) & 511) * 8;
    u64 e;
    if (w.mem.read(entry_gpa, &e, sizeof(e)))
      return w.table_not_ram(pf);
    if (!(e & pg::entry::kPresent))
      return w.fault(0, pf);

    u64 reserved = high_reserved;
    bool leaf = level == 1;
    if (level >= 4) {
      // PML5E/PML4E: PS is reserved (tables 4-14, 4-15).
      reserved |= pg::entry::kPageSize;
    } else if (level == 3) {
      // PDPTE: PS maps 1 GByte only where the guest CPUID has Page1GB
      // (table 4-16 vs 4-17); bits 29:13 of a 1-GByte PDPTE are reserved.
      if (!st.gbpages)
        reserved |= pg::entry::kPageSize;
      else if (e & pg::entry::kPageSize) {
        leaf = true;
        reserved |= bits(29, 13);
      }
    } else if (level == 2 && (e & pg::entry::kPageSize)) {
      // 2-MByte PDE: bits 20:13 are reserved (tables 4-10, 4-18).
      leaf = true;
      reserved |= bits(20, 13);
    }
    if (e & reserved)
      return w.fault(pg::pfec::kPresent | pg::pfec::kRsvd, pf);

    w.use(entry_gpa, e, leaf);
    if (nxe && (e & pg::entry::kXd))
      w.xd = true;
    if (leaf) {
      *frame = e & pg::address_mask(m, shift);
      *offset_mask = bits(shift - 1, 0);
      return 0;
    }
    table = e & pg::address_mask(m, 12);
  }
}

}  // namespace

PagingMode paging_mode(const PagingState &st) {
  if (!(st.cr0 & pg::cr0::kPg))
    return PagingMode::kNone;
  if (st.efer & pg::efer::kLma)
    return (st.cr4 & pg::cr4::kLa57) ? PagingMode::k5Level : PagingMode::k4Level;
  return (st.cr4 & pg::cr4::kPae) ? PagingMode::kPae : PagingMode::k32Bit;
}

u8 effective_maxphyaddr(const PagingState &st) { return clamp_maxphyaddr(st.maxphyaddr); }

int translate(const PagingState &st, u64 la, Access acc, GuestPhysMem &mem, u64 *gpa, PageFault *pf) {
  // A fetch is a read: a caller asking for both is confused.
  if (acc.fetch && acc.write)
    return -EINVAL;
  const PagingMode mode = paging_mode(st);
  if (mode == PagingMode::kNone) {
    // Without paging, linear addresses are physical ones; outside IA-32e
    // mode they are 32 bits wide (SDM 3.4 and 2.5 CR0.PG).
    *gpa = la & kLow32;
    return 0;
  }
  if (mode == PagingMode::k4Level || mode == PagingMode::k5Level) {
    if (!is_canonical(la, mode == PagingMode::k5Level ? 57 : 48))
      return -EINVAL;
  } else {
    la &= kLow32;  // 32-bit and PAE paging translate 32-bit linear addresses
  }

  Walk w{st, acc, mem, la, 0};
  if (acc.write)
    w.access_bits |= pg::pfec::kWrite;
  if (acc.user)
    w.access_bits |= pg::pfec::kUser;
  // SDM 4.7: I/D is set for a fetch only with CR4.SMEP = 1, or with PAE or
  // 4/5-level paging and EFER.NXE = 1.
  if (acc.fetch && ((st.cr4 & pg::cr4::kSmep) || (mode != PagingMode::k32Bit && (st.efer & pg::efer::kNxe))))
    w.access_bits |= pg::pfec::kFetch;

  u64 frame = 0, offset_mask = 0;
  const int err = mode == PagingMode::k32Bit ? walk_32bit(w, &frame, &offset_mask, pf)
                                             : walk_64bit(w, mode, &frame, &offset_mask, pf);
  if (err)
    return err;
  if (access_denied(w))
    return w.fault(pg::pfec::kPresent, pf);
  set_accessed_dirty(w);
  *gpa = frame | (la & offset_mask);
  return 0;
}

int load_pae_pdptes(u64 cr3, u8 maxphyaddr, GuestPhysMem &mem, u64 pdpte[4]) {
  const unsigned m = clamp_maxphyaddr(maxphyaddr);
  u64 table[pg::pae::kPdptes];
  if (mem.read(cr3 & pg::pae::kCr3PdptMask, table, sizeof(table)))
    return -EFAULT;
  for (u64 e : table)
    if ((e & pg::entry::kPresent) && (e & pg::pae::pdpte_reserved(m)))
      return -EINVAL;
  for (unsigned i = 0; i < pg::pae::kPdptes; i++)
    pdpte[i] = table[i];
  return 0;
}

}  // namespace mk::x86
