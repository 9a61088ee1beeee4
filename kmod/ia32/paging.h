// SPDX-License-Identifier: GPL-2.0
// Paging (Intel SDM vol. 3A chapter 4), typed: the control-register and EFER
// bits that select a paging mode, the bits of paging-structure entries and
// the page-fault error code. The one place these numbers live.
//
// The CR0/CR4/EFER/RFLAGS bits below are the ones paging reads; they sit
// here rather than in cr.h/msr.h because this header came with the page
// walker (kmod/core/x86/paging.*).
#pragma once

#include "../core/rt/types.h"

namespace ia32::paging {

// Bits hi..lo set (hi >= lo, hi <= 63); empty when hi < lo, which the
// reserved-bit masks rely on when MAXPHYADDR reaches the top of a field.
constexpr mk::u64 bits(unsigned hi, unsigned lo) {
  if (hi < lo || hi > 63)
    return 0;
  const mk::u64 upto_hi = hi == 63 ? ~0ull : (1ull << (hi + 1)) - 1;
  return upto_hi & ~((1ull << lo) - 1);
}

// ---- Mode selection (SDM 4.1.1, table 4-1; 2.5) ----
namespace cr0 {
inline constexpr mk::u64 kPe = 1ull << 0;   // protection enable
inline constexpr mk::u64 kWp = 1ull << 16;  // supervisor writes honour R/W (4.6.1)
inline constexpr mk::u64 kPg = 1ull << 31;  // paging
}  // namespace cr0

namespace cr4 {
inline constexpr mk::u64 kPse = 1ull << 4;     // 4-MByte pages in 32-bit paging
inline constexpr mk::u64 kPae = 1ull << 5;     // PAE / 4-level / 5-level paging
inline constexpr mk::u64 kLa57 = 1ull << 12;   // 5-level paging, 57-bit linear addresses
inline constexpr mk::u64 kPcide = 1ull << 17;  // CR3 bits 11:0 are a PCID
inline constexpr mk::u64 kSmep = 1ull << 20;   // supervisor-mode execution prevention
inline constexpr mk::u64 kSmap = 1ull << 21;   // supervisor-mode access prevention
inline constexpr mk::u64 kPke = 1ull << 22;    // protection keys for user pages
}  // namespace cr4

namespace efer {
inline constexpr mk::u64 kLme = 1ull << 8;   // IA-32e mode enable
inline constexpr mk::u64 kLma = 1ull << 10;  // IA-32e mode active
inline constexpr mk::u64 kNxe = 1ull << 11;  // execute-disable bit (63) honoured
}  // namespace efer

// EFLAGS.AC lifts SMAP for explicit supervisor data accesses (4.6.1).
inline constexpr mk::u64 kRflagsAc = 1ull << 18;

// ---- Paging-structure entries (SDM 4.3 tables 4-4..4-6, 4.4 tables
// 4-8..4-11, 4.5 tables 4-14..4-20). Same positions in 32-bit entries. ----
namespace entry {
inline constexpr mk::u64 kPresent = 1ull << 0;
inline constexpr mk::u64 kWritable = 1ull << 1;  // R/W
inline constexpr mk::u64 kUser = 1ull << 2;      // U/S
inline constexpr mk::u64 kPwt = 1ull << 3;
inline constexpr mk::u64 kPcd = 1ull << 4;
inline constexpr mk::u64 kAccessed = 1ull << 5;
inline constexpr mk::u64 kDirty = 1ull << 6;     // leaf entries only
inline constexpr mk::u64 kPageSize = 1ull << 7;  // PS in PDE/PDPTE; PAT in a PTE
inline constexpr mk::u64 kGlobal = 1ull << 8;    // leaf entries only
inline constexpr mk::u64 kPatLarge = 1ull << 12; // PAT in a 4M/2M/1G leaf
inline constexpr mk::u64 kXd = 1ull << 63;       // execute-disable (PAE, 4/5-level)
// Protection key of a 4/5-level leaf: bits 62:59 (4.6.2). Ignored by the
// walker (see paging.h); named so the reserved masks below can skip it.
inline constexpr mk::u64 kProtKey = bits(62, 59);
}  // namespace entry

// Entries per table and the linear-address bits one level translates.
inline constexpr unsigned kPageShift = 12;
inline constexpr mk::u64 kPageSize = 1ull << kPageShift;
inline constexpr mk::u64 kPageOffsetMask = kPageSize - 1;

// 32-bit paging (4.3): 1024 four-byte entries, CR3 bits 31:12 hold the
// page directory; a 4-MByte PDE holds physical bits 31:22 in bits 31:22 and,
// with PSE-36, bits (M-1):32 in bits (M-20):13 where M = min(MAXPHYADDR, 40).
namespace legacy {
inline constexpr mk::u64 kCr3TableMask = bits(31, 12);
inline constexpr mk::u64 kTableMask = bits(31, 12);
inline constexpr mk::u64 k4MFrameMask = bits(31, 22);
inline constexpr unsigned kPse36FirstBit = 13;
inline constexpr unsigned kPse36MaxPhysBits = 40;
}  // namespace legacy

// PAE paging (4.4): CR3 bits 31:5 locate the 32-byte PDPT, whose four
// entries are loaded into the PDPTE registers (VMCS GUEST_PDPTE0..3 under
// EPT). A PDPTE has no R/W, U/S, A or XD bit: bits 2:1, 8:5 and 63 are
// reserved, as are M..62 (table 4-8).
namespace pae {
inline constexpr mk::u64 kCr3PdptMask = bits(31, 5);
inline constexpr unsigned kPdptes = 4;
constexpr mk::u64 pdpte_reserved(unsigned maxphyaddr) {
  return bits(2, 1) | bits(8, 5) | bits(63, 63) | bits(62, maxphyaddr);
}
}  // namespace pae

// Physical-address bits of an entry (M-1):lo, lo = 12 for tables and 4-KByte
// pages, 21 for 2 MBytes, 30 for 1 GByte (tables 4-15..4-20).
constexpr mk::u64 address_mask(unsigned maxphyaddr, unsigned lo) { return bits(maxphyaddr - 1, lo); }

// ---- Page-fault error code (SDM 4.7, figure 4-12) ----
inline constexpr mk::u8 kPageFaultVector = 14;
namespace pfec {
inline constexpr mk::u32 kPresent = 1u << 0;  // 0: not-present entry; 1: protection/reserved bit
inline constexpr mk::u32 kWrite = 1u << 1;    // the access was a write
inline constexpr mk::u32 kUser = 1u << 2;     // the access was a user-mode access
inline constexpr mk::u32 kRsvd = 1u << 3;     // a reserved bit was set in some entry
inline constexpr mk::u32 kFetch = 1u << 4;    // instruction fetch (only with SMEP or PAE+NXE)
inline constexpr mk::u32 kPk = 1u << 5;       // protection-key violation
inline constexpr mk::u32 kShadowStack = 1u << 6;
inline constexpr mk::u32 kSgx = 1u << 15;
}  // namespace pfec

}  // namespace ia32::paging
