// SPDX-License-Identifier: GPL-2.0
// String port I/O (INS/OUTS, with and without REP) after an I/O-instruction
// VM exit, producing what KVM 6.1 shows userspace in kvm_run->io and doing
// to guest registers and memory what KVM does.
//
// KVM runs string I/O through its instruction emulator (vmx.c handle_io ->
// kvm_emulate_instruction; emulate.c em_in/em_out, pio_in_emulated,
// x86_emulate_insn's REP handling; x86.c emulator_pio_in_out,
// complete_emulator_pio_in, complete_emulated_pio). minikvm takes the facts
// from the exit instead of decoding the instruction: the exit qualification
// (SDM vol. 3C 27.2.1, table 27-5: size, direction, string, REP, port) and
// the VM-exit instruction-information field (27.2.5, table 27-8: address
// size, and the segment of OUTS). That field is defined for INS/OUTS only
// when IA32_VMX_BASIC bit 54 is 1 (ia32::vmx::Basic::ins_outs_info());
// without it the caller must decode the prefixes itself.
//
// The protocol, identical to KVM's as userspace sees it:
//
//  OUTS  begin() reads ONE element from seg:[RSI] (DS or the override) and
//        puts it at offset 4096 of the vCPU mmap (the PIO page,
//        KVM_PIO_PAGE_OFFSET), io.count = 1. Before userspace sees the exit,
//        RSI has moved by +/-size (EFLAGS.DF) masked to the address size,
//        and with REP RCX has been decremented and EFLAGS.RF set while RIP
//        stays on the instruction (the guest re-executes it for the next
//        element: one exit per element); without REP RIP is already past
//        the instruction and RF clear. Nothing is to be done on the next
//        KVM_RUN.
//  INS   begin() touches neither registers nor guest memory: it zeroes
//        count * size bytes of the PIO page and exits with
//            count = max(1, min(bytes_left, 1024 / size, RCX'))
//        where RCX' = RCX masked to the address size and truncated to 32
//        bits (1 without REP) and bytes_left = 4096 - (RDI & 0xfff) for
//        DF = 0, RDI & 0xfff for DF = 1 (KVM's pio_in_emulated; bytes_left
//        counts bytes but is compared with elements, so 2- and 4-byte
//        elements may run into the next page, which is handled). On the
//        next KVM_RUN, complete_in() writes the elements to ES:[RDI] one by
//        one, moving RDI and (REP) decrementing RCX per element; RF is set
//        with REP; RIP advances only without REP.
//  REP with RCX = 0 (masked to the address size): the instruction
//        completes without an exit: RIP advances, RF clears, and with a
//        32-bit address size on a guest whose CPUID vendor is Intel RCX
//        becomes 0 in all 64 bits (KVM's string_registers_quirk).
//  Faults: segmentation (#GP(0)/#SS(0), segment.h) and paging (#PF,
//        paging.h) are checked when memory is touched: for OUTS before the
//        exit (nothing reaches userspace, no register changes), for INS
//        only in complete_in(), after userspace produced the data (as KVM:
//        the guest gets the fault after the port was read). A page table
//        outside RAM becomes the #PF KVM injects for it (paging.h -ENXIO).
//
// Where minikvm differs from KVM (none of it visible in kvm_run->io for a
// VMM that does not edit registers during an exit):
//  - complete_in() writes INS elements one at a time and stops at the first
//    fault with RCX/RDI counting the elements written, as the architecture
//    does for REP string instructions. KVM does so for DF = 1 but with DF =
//    0 writes the whole batch as one access: a fault leaves RCX/RDI as they
//    were (and may follow a partial write of the first page), and the
//    segment limit is checked for the batch as a whole, so a batch across a
//    16-bit DI wrap (DI = 0xfffc, 3 words) is #GP in KVM where the
//    processor, and minikvm, wrap DI to 0 and go on.
//  - complete_in() uses the registers as they are at completion. If
//    userspace changed them (KVM_SET_REGS) it writes min(io.count,
//    recomputed count) elements; KVM writes the recomputed count, taking
//    elements beyond io.count from stale bytes of its 1024-byte read-ahead
//    buffer, and keeps its saved RIP/RFLAGS. If userspace set the masked
//    RCX to 0, minikvm drops the data and completes the instruction; KVM
//    returns the same KVM_EXIT_IO to userspace again on every KVM_RUN
//    until RCX is nonzero. (tools/testing/selftests/kvm/x86_64/
//    userspace_io_test.c changes RCX 2 -> 1 and 3 -> 8192; both behaviours
//    pass it.)
//  - A memory operand that is not guest RAM (MMIO): KVM emulates an MMIO
//    access (KVM_EXIT_MMIO); minikvm returns kUnhandled (the caller reports
//    an emulation failure).
//  - KVM re-checks the I/O permission (IOPL / TSS bitmap) in the emulator;
//    the processor checked it before the VM exit (SDM 25.1.1), so minikvm
//    does not. KVM first offers the port to in-kernel devices
//    (kvm_io_bus); that dispatch is the caller's, before begin().
//  - Segment and paging checks differ from KVM's emulator in the corners
//    segment.h and paging.h list.
// The caller handles what follows any emulated instruction: the interrupt
// shadow (KVM clears it), single-stepping (EFLAGS.TF), and RF in the
// RFLAGS image pushed for a fault. It writes StringIoRegs back to the VMCS
// whole, RF included (on kvm_intel, measured in Bochs, the processor then
// saves RF = 0 at the next exit of the re-executed REP INS; SVM keeps 1).
// The I/O exit's own registers come from the VMCS at each exit.
#pragma once

#include <linux/kvm.h>

#include "../rt/types.h"
#include "decoder.h"
#include "paging.h"
#include "segment.h"

namespace mk::x86 {

// Exit qualification for I/O instructions (SDM vol. 3C 27.2.1, table 27-5).
namespace io_qual {
inline constexpr u64 kSizeMask = 7;  // 0: 1 byte, 1: 2 bytes, 3: 4 bytes
inline constexpr u64 kIn = 1u << 3;
inline constexpr u64 kString = 1u << 4;
inline constexpr u64 kRep = 1u << 5;
inline constexpr u64 kImmediate = 1u << 6;  // port from an immediate, else DX
inline constexpr unsigned kPortShift = 16;  // bits 31:16
}  // namespace io_qual

// VM-exit instruction information for INS/OUTS (SDM vol. 3C 27.2.5, table 27-8).
namespace io_info {
inline constexpr unsigned kAddrSizeShift = 7;  // bits 9:7: 0 16-bit, 1 32-bit, 2 64-bit
inline constexpr unsigned kSegShift = 15;      // bits 17:15: ES..GS; undefined for INS
}  // namespace io_info

// KVM's PIO data page is page KVM_PIO_PAGE_OFFSET of the vCPU mmap.
inline constexpr u32 kPioDataOffset = KVM_PIO_PAGE_OFFSET * 4096;
inline constexpr u32 kPioPageSize = 4096;
// The most INS bytes one exit carries (KVM's emulator read-ahead buffer,
// struct read_cache).
inline constexpr u32 kPioReadAhead = 1024;

// One I/O-instruction VM exit, decoded.
struct IoExit {
  u16 port;
  u8 size;        // 1, 2 or 4
  bool in;
  bool string;
  bool rep;
  bool immediate; // IN/OUT imm8 (string instructions always use DX)
  u8 addr_size;   // string: 2, 4 or 8; 0 otherwise
  Seg seg;        // string: ES for INS, DS or the override for OUTS; kNone otherwise
  u8 insn_len;    // VM-exit instruction length, 1..15
};

// Decodes the exit qualification, the instruction-information field and the
// instruction length. Returns 0, or -EINVAL for encodings the SDM lists as
// "not used" (size 2 or 5..7, address size 3..7, segment 6..7) and a length
// outside 1..15. Reserved qualification bits (15:7, 63:32) are ignored.
// The information field is read only for string instructions.
int decode_io_exit(u64 qualification, u32 instruction_info, u32 instruction_length, IoExit *out);

// The guest state string I/O reads.
struct StringIoEnv {
  CpuMode mode;
  PagingState paging;  // its rflags is ignored: StringIoRegs::rflags is used
  kvm_segment seg[6];  // ES, CS, SS, DS, FS, GS (the Seg order)
  u8 cpl;              // 3: accesses are user-mode for paging (SDM 4.6)
  bool guest_vendor_intel;  // guest CPUID vendor GenuineIntel (RCX quirk above)
};

// The registers string I/O reads and writes.
struct StringIoRegs {
  u64 rcx, rsi, rdi, rip, rflags;
};

// An INS waiting for userspace's data (KVM's vcpu->arch.pio + emulator
// context). Zero-initialised = nothing pending. Owned by the vCPU.
struct PendingIn {
  bool active;
  IoExit exit;
  u32 count;  // elements userspace was asked for (io.count)
};

enum class IoStep : u8 {
  kResume,      // enter the guest again (registers updated)
  kExitToUser,  // return KVM_EXIT_IO: run->exit_reason and run->io are set
  kInject,      // inject *ex (registers updated as described above)
  kUnhandled,   // a memory operand is not guest RAM: report an emulation failure
  kInvalid,     // not a string I/O exit, an IN already pending, a null
                // argument, or an address size the mode cannot have:
                // a minikvm bug, report an internal error. Nothing changed.
};

// First step of a string I/O exit. pio_page is the vCPU's PIO page
// (kPioPageSize bytes). For kExitToUser after an INS, *pending is armed:
// call complete_in() on the next KVM_RUN. ex is written only for kInject.
IoStep begin(const IoExit &exit, const StringIoEnv &env, StringIoRegs &regs, GuestPhysMem &mem, kvm_run *run,
             u8 *pio_page, PendingIn *pending, Exception *ex);

// Completes a pending INS with the data userspace left in pio_page: returns
// kResume or kInject (or kUnhandled), kInvalid when nothing is pending.
// Clears *pending in every case but kInvalid.
IoStep complete_in(const StringIoEnv &env, StringIoRegs &regs, GuestPhysMem &mem, const u8 *pio_page,
                   PendingIn *pending, Exception *ex);

}  // namespace mk::x86
