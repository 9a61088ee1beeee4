// SPDX-License-Identifier: GPL-2.0
// Extended page tables (SDM vol. 3C 28.2, "The Extended Page Table
// Mechanism"), typed: the EPT pointer (24.6.11), the paging-structure
// entries (28.2.2, tables 28-1 to 28-6), memory types (28.2.6), the
// IA32_VMX_EPT_VPID_CAP bits (appendix A.10) and the exit qualification of
// an EPT violation (27.2.1, table 27-7). The one place these numbers live.
#pragma once

#include "../core/rt/types.h"

namespace ia32::ept {

inline constexpr unsigned kPageShift = 12;
inline constexpr mk::u64 kPageSize = 1ull << kPageShift;
// A 4-level walk translates 48-bit guest-physical addresses (28.2.2); each
// table is one 4 KiB page of 512 eight-byte entries, indexed by 9 bits.
inline constexpr unsigned kLevels = 4;
inline constexpr unsigned kMaxGpaBits = 48;
inline constexpr unsigned kEntriesPerTable = 512;
inline constexpr unsigned kIndexBits = 9;

// Bits 51:12 of an entry or of the EPTP hold a 4 KiB-aligned physical
// address. MAXPHYADDR (CPUID.80000008H:EAX[7:0]) is at most 52 (SDM vol. 3A
// 4.1.4); bits from MAXPHYADDR up to 51 are reserved (a misconfiguration if
// set, 28.2.3.1).
inline constexpr mk::u64 kAddrMask = 0x000ffffffffff000ull;

// ---- Memory types (SDM 11.3 table 11-2; EPT use in 28.2.6) ----
enum class MemType : mk::u8 {
  kUncacheable = 0,
  kWriteCombining = 1,
  kWriteThrough = 4,
  kWriteProtected = 5,
  kWriteBack = 6,
  // 2, 3 and 7 are reserved: in a leaf they cause an EPT misconfiguration
  // (28.2.3.1); in the EPTP they fail VM entry (26.2.1.1).
};

// ---- EPT pointer (SDM 24.6.11, table 24-8) ----
namespace eptp {
inline constexpr mk::u64 kMemTypeMask = 0x7;  // 2:0 type of the paging structures: UC or WB
inline constexpr unsigned kWalkLengthShift = 3;    // 5:3 page-walk length minus 1
inline constexpr mk::u64 kWalkLengthMask = 0x7ull << kWalkLengthShift;
inline constexpr mk::u64 kWalkLength4 = (4 - 1) << kWalkLengthShift;
inline constexpr mk::u64 kAccessDirty = 1ull << 6;  // enables accessed/dirty flags (28.2.4)
inline constexpr mk::u64 kSupervisorShadowStack = 1ull << 7;

// The EPTP for a 4-level hierarchy rooted at pml4_pa, whose tables the CPU
// reads with memory type mt.
constexpr mk::u64 make(mk::u64 pml4_pa, MemType mt, bool access_dirty) {
  return (pml4_pa & kAddrMask) | kWalkLength4 | static_cast<mk::u64>(mt) | (access_dirty ? kAccessDirty : 0);
}
}  // namespace eptp

// ---- Paging-structure entries (SDM 28.2.2, tables 28-1 to 28-6) ----
// Bits 2:0 are the access rights. An entry with all three clear is not
// present, and the CPU ignores all its other bits (28.2.2), so software
// may keep its own data there. Write without read is a misconfiguration,
// as is execute-only unless IA32_VMX_EPT_VPID_CAP bit 0 (28.2.3.1).
inline constexpr mk::u64 kRead = 1ull << 0;
inline constexpr mk::u64 kWrite = 1ull << 1;
inline constexpr mk::u64 kExecute = 1ull << 2;  // supervisor-mode execute with mode-based execute control
inline constexpr mk::u64 kRwx = kRead | kWrite | kExecute;
// Leaf (4 KiB PTE, table 28-6): 5:3 memory type, 6 ignore PAT (the EPT
// memory type alone decides, 28.2.6.1), 8 accessed, 9 dirty (set by the
// CPU when EPTP bit 6 enables them), 63 suppress #VE.
inline constexpr unsigned kMemTypeShift = 3;
inline constexpr mk::u64 kMemTypeMask = 0x7ull << kMemTypeShift;
inline constexpr mk::u64 kIgnorePat = 1ull << 6;
// Bit 7 of a PDPTE or PDE: 1 maps a 1 GiB or 2 MiB page, 0 references the
// next table (tables 28-2 to 28-5). Reserved in a PML4E, ignored in a PTE.
inline constexpr mk::u64 kLargePage = 1ull << 7;
inline constexpr mk::u64 kAccessed = 1ull << 8;
inline constexpr mk::u64 kDirty = 1ull << 9;
inline constexpr mk::u64 kUserExecute = 1ull << 10;  // only with mode-based execute control
// Bit 11 is ignored by the CPU in every EPT entry (tables 28-1 to 28-6).
inline constexpr mk::u64 kIgnored11 = 1ull << 11;
inline constexpr mk::u64 kSuppressVe = 1ull << 63;

constexpr bool present(mk::u64 entry) { return (entry & kRwx) != 0; }
constexpr mk::u64 address(mk::u64 entry) { return entry & kAddrMask; }
constexpr MemType mem_type(mk::u64 entry) { return static_cast<MemType>((entry & kMemTypeMask) >> kMemTypeShift); }

// Index of gpa in the table at level (4 = PML4 ... 1 = page table).
constexpr unsigned index(mk::u64 gpa, unsigned level) {
  return static_cast<unsigned>(gpa >> (kPageShift + kIndexBits * (level - 1))) & (kEntriesPerTable - 1);
}

// A non-leaf entry (PML4E, PDPTE or PDE referencing a table): all access
// rights, since the rights of all levels are ANDed (28.2.3.2) and the leaf
// alone should decide. Bits 7:3 are reserved (must be 0) here.
constexpr mk::u64 make_table(mk::u64 table_pa) { return (table_pa & kAddrMask) | kRwx; }

// A leaf mapping a 4 KiB page.
constexpr mk::u64 make_leaf(mk::u64 page_pa, mk::u64 rights, MemType mt, bool ignore_pat) {
  return (page_pa & kAddrMask) | (rights & kRwx) | (static_cast<mk::u64>(mt) << kMemTypeShift) |
         (ignore_pat ? kIgnorePat : 0);
}

// ---- IA32_VMX_EPT_VPID_CAP, MSR 0x48c (SDM A.10) ----
namespace cap {
inline constexpr mk::u64 kExecuteOnly = 1ull << 0;
inline constexpr mk::u64 kWalkLength4 = 1ull << 6;
inline constexpr mk::u64 kWalkLength5 = 1ull << 7;
inline constexpr mk::u64 kEptpUncacheable = 1ull << 8;
inline constexpr mk::u64 kEptpWriteBack = 1ull << 14;
inline constexpr mk::u64 kPde2MiB = 1ull << 16;
inline constexpr mk::u64 kPdpte1GiB = 1ull << 17;
inline constexpr mk::u64 kInvept = 1ull << 20;
inline constexpr mk::u64 kAccessDirty = 1ull << 21;
inline constexpr mk::u64 kAdvancedExitInfo = 1ull << 22;
inline constexpr mk::u64 kInveptSingleContext = 1ull << 25;
inline constexpr mk::u64 kInveptAllContext = 1ull << 26;
inline constexpr mk::u64 kInvvpid = 1ull << 32;
}  // namespace cap

// ---- INVEPT types (SDM vol. 3C 30.3, "INVEPT") ----
enum class InveptType : mk::u64 {
  kSingleContext = 1,  // mappings tagged with the given EPTP
  kAllContext = 2,     // mappings tagged with any EPTP
};

// ---- Exit qualification of an EPT violation (SDM 27.2.1, table 27-7) ----
namespace violation {
inline constexpr mk::u64 kDataRead = 1ull << 0;
inline constexpr mk::u64 kDataWrite = 1ull << 1;
inline constexpr mk::u64 kInstructionFetch = 1ull << 2;
inline constexpr mk::u64 kAccessMask = kDataRead | kDataWrite | kInstructionFetch;
// Bits 5:3: the AND of the access rights of the entries walked (was the
// address readable / writable / executable).
inline constexpr mk::u64 kWasReadable = 1ull << 3;
inline constexpr mk::u64 kWasWritable = 1ull << 4;
inline constexpr mk::u64 kWasExecutable = 1ull << 5;
inline constexpr mk::u64 kWasUserExecutable = 1ull << 6;
inline constexpr mk::u64 kLinearAddressValid = 1ull << 7;
// With bit 7: 1 = the access was to the translated linear address, 0 = to
// a guest paging-structure entry during a guest page walk.
inline constexpr mk::u64 kLinearAddressTranslated = 1ull << 8;
inline constexpr mk::u64 kNmiUnblockingIret = 1ull << 12;
}  // namespace violation

}  // namespace ia32::ept
