// SPDX-License-Identifier: GPL-2.0
// Guest linear-address translation through the guest's own page tables
// (Intel SDM vol. 3A chapter 4), for the accesses the hypervisor makes on the
// guest's behalf: fetching the instruction at CS:RIP after an EPT violation,
// and the memory operands of INS/OUTS.
//
// Everything here is hostile input: every register value, every
// paging-structure entry. Each combination gives a defined answer, and the
// guest's page tables are only ever reached through GuestPhysMem.
//
// What is modelled (SDM section in brackets):
//  - no paging (CR0.PG = 0): linear = physical, 32 bits [2.5];
//  - 32-bit paging with 4-KByte pages and, with CR4.PSE, 4-MByte pages,
//    PSE-36 when the guest CPUID has it [4.3];
//  - PAE paging with the four PDPTE registers taken from PagingState [4.4];
//  - 4-level and 5-level (CR4.LA57) paging with 1-GByte (when the guest
//    CPUID has them) and 2-MByte pages [4.5];
//  - access rights: R/W with CR0.WP, U/S, XD with EFER.NXE, SMEP, SMAP with
//    EFLAGS.AC and implicit supervisor accesses [4.6];
//  - reserved bits with MAXPHYADDR [4.3-4.5 tables, 4.7];
//  - accessed and dirty flags [4.8];
//  - the #PF error code P, W/R, U/S, RSVD, I/D and CR2 [4.7].
// Where KVM 6.1's walker (mmu/paging_tmpl.h, mmu.c) differs: for a guest
// whose CPUID vendor is AMD-compatible KVM also reserves bit 8 of non-leaf
// PML4Es/PDPTEs (minikvm follows Intel: ignored); for 4-MByte pages KVM
// assumes PSE-36 with 36 physical bits whatever MAXPHYADDR is (minikvm
// uses min(MAXPHYADDR, 40), table 4-4); KVM does not re-check the PAE
// PDPTE registers' reserved bits when walking (they were checked when
// loaded), minikvm reports a set one as RSVD.
// Not modelled: protection keys (CR4.PKE/PKS: bits 62:59 of a 4/5-level
// leaf are neither checked nor reported as PK; no #PF for PKRU), shadow
// stacks, HLAT, SGX, memory types (PAT/PCD/PWT), global pages and TLBs
// (each call walks the tables afresh, as KVM's emulator does; SDM 4.10.2
// allows the processor stale TLB entries but never requires them).
#pragma once

#include "../mmu/guest_phys_mem.h"
#include "../rt/types.h"

namespace mk::x86 {

using mmu::GuestPhysMem;

// The guest state paging depends on, as the VMCS and guest CPUID hold it.
struct PagingState {
  u64 cr0, cr3, cr4, efer;
  u64 rflags;    // only AC is read (SMAP)
  // PAE paging only: the PDPTE registers (SDM 4.4.1). Under EPT the
  // processor keeps them in the VMCS (GUEST_PDPTE0..3) and checked them at
  // VM entry; load_pae_pdptes() reads them from CR3 for a MOV to CR3.
  u64 pdpte[4];
  // CPUID.80000008H:EAX[7:0]. Values outside 32..52 are clamped to it; 0
  // means "the guest CPUID has no such leaf" and gives 36, as KVM does.
  u8 maxphyaddr;
  bool pse36;    // CPUID.01H:EDX.PSE-36[17]: 4-MByte pages above 4 GiB
  bool gbpages;  // CPUID.80000001H:EDX.Page1GB[26]: else PDPTE.PS is reserved
};

enum class PagingMode : u8 { kNone, k32Bit, kPae, k4Level, k5Level };

// SDM 4.1.1 table 4-1: CR0.PG, CR4.PAE, EFER.LMA (and CR4.LA57) select the
// mode. EFER.LMA = 1 means 4- or 5-level paging even with CR4.PAE = 0 (VM
// entry refuses that combination, SDM 26.3.1.1, so it never reaches here
// from hardware).
PagingMode paging_mode(const PagingState &st);

// MAXPHYADDR after clamping (see PagingState::maxphyaddr).
u8 effective_maxphyaddr(const PagingState &st);

// Is la canonical for va_bits (48 or 57) of linear address: bits 63:va_bits-1
// all equal (SDM vol. 1 3.3.7.1)?
constexpr bool is_canonical(u64 la, unsigned va_bits) {
  const unsigned shift = 64 - va_bits;
  return u64(s64(la << shift) >> shift) == la;
}

struct Access {
  bool write;  // a data write (else a read or a fetch)
  // A user-mode access: made at CPL 3 and not implicit (SDM 4.6: accesses
  // to the GDT/LDT/IDT/TSS are supervisor-mode even at CPL 3).
  bool user;
  bool fetch;  // an instruction fetch
  // An implicit supervisor-mode access (descriptor tables, TSS...): SMAP
  // applies to it whatever EFLAGS.AC says (SDM 4.6.1). Only with !user.
  bool implicit;
};

// What the guest sees: CR2 and the #PF error code (bits from
// ia32::paging::pfec).
struct PageFault {
  u64 address;
  u32 error_code;
};

// Translates linear address la for access acc. Returns:
//   0        *gpa is the guest-physical address; accessed and dirty flags
//            were set as the processor would (below);
//   -EFAULT  the processor would raise #PF: *pf holds CR2 and error code;
//   -ENXIO   a paging-structure entry lies outside guest RAM (its GPA is
//            MMIO or unbacked). *pf holds the #PF KVM injects in that case
//            (paging_tmpl.h walk_addr_generic: a table GPA with no memslot
//            "goto error" with the error code built so far, so P = 0 plus
//            W/R, U/S and I/D of the access); the caller decides between
//            injecting it (KVM's behaviour) and an internal error;
//   -EINVAL  la is not canonical in 4/5-level paging (the segmentation
//            check, segment.h, raises #GP/#SS before paging is reached).
// *gpa is written only on 0, *pf only on -EFAULT and -ENXIO.
//
// Accessed/dirty flags (SDM 4.8), as KVM's walker sets them: only when the
// translation succeeds, A in every paging-structure entry used (not in the
// PAE PDPTE registers, which have none), D in the leaf for a write. Each
// update writes back the entry's low byte (bits 7:0 hold P, R/W, U/S, PWT,
// PCD, A, D, PS) as read during this walk; GuestPhysMem has no
// compare-and-exchange, so a concurrent change of those bits by another
// vCPU between the read and the write is lost (KVM uses cmpxchg and
// re-walks). A write-back that GuestPhysMem refuses (read-only memory) is
// skipped, as KVM skips read-only memslots.
int translate(const PagingState &st, u64 la, Access acc, GuestPhysMem &mem, u64 *gpa, PageFault *pf);

// Reads the four PAE PDPTEs from the 32-byte table CR3 points to (SDM
// 4.4.1), as MOV to CR3/CR0/CR4 does when PAE paging is (or becomes)
// active. Returns 0, -EFAULT when the table is not in guest RAM, or -EINVAL
// when a present PDPTE has a reserved bit set (the MOV raises #GP(0)).
// pdpte[] is written only on 0.
int load_pae_pdptes(u64 cr3, u8 maxphyaddr, GuestPhysMem &mem, u64 pdpte[4]);

}  // namespace mk::x86
