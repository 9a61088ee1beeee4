// SPDX-License-Identifier: GPL-2.0
// Segmentation for accesses the hypervisor makes on the guest's behalf:
// from a segment register (as struct kvm_segment holds it: the VMCS's
// selector, base, limit and access rights), an offset, an access size, an
// access type and an address size, the linear address the processor would
// use, or the exception it would raise instead (Intel SDM vol. 3A chapter 3,
// 5.3 "Limit checking", 5.4 "Type checking"; vol. 1 3.3.7 and 3.4.2.1).
//
// Checks, by mode:
//  - real and virtual-8086 mode: linear = cached base + offset, modulo 4 GiB;
//    the last byte must be within the cached limit (0xffff unless the guest
//    left "unreal" limits behind, which processors honour). No type checks
//    (SDM 20.1: no protection in real mode; VM86 segments are always 64 KiB
//    read/write data). KVM (emulate.c __linearize) additionally refuses
//    writes through a read-only cached type in real mode; minikvm does not.
//  - protected mode, including compatibility mode: the register must be
//    usable (not loaded with a null selector, present, S = 1); writes need a
//    writable data segment, reads an execute-only code segment's R bit,
//    fetches a code segment; every byte of the access must lie within the
//    limit: [0, limit] expand-up, (limit, 0xffff or 0xffffffff by D/B]
//    expand-down. Linear = base + offset modulo 4 GiB.
//  - 64-bit mode: base 0 except FS and GS; no limit, type or usability
//    checks; the first and the last byte must be canonical (48 bits, 57 with
//    CR4.LA57).
// A violation is #SS(0) for SS-relative accesses, #GP(0) otherwise; in
// real mode without an error code (exceptions push none there, SDM 20.1.4,
// and KVM drops it: x86.c "has_error_code &= is_protmode").
// Not modelled: alignment checking (#AC), and the limit check on the last
// byte of a 4-GiB segment: KVM skips it when the limit is 0xffffffff
// (an access at offset 0xffffffff wraps), minikvm applies the SDM rule
// (the last byte's offset must not exceed the limit: #GP).
#pragma once

#include <linux/kvm.h>

#include "../rt/types.h"
#include "decoder.h"  // Seg: ES, CS, SS, DS, FS, GS in the sreg encoding

namespace mk::x86 {

// Exception vectors (SDM vol. 3A 6.3.1, table 6-1) the emulation raises.
inline constexpr u8 kVectorSs = 12;  // stack-segment fault
inline constexpr u8 kVectorGp = 13;  // general protection
inline constexpr u8 kVectorPf = 14;  // page fault

// An exception to inject into the guest.
struct Exception {
  u8 vector;
  bool has_error_code;
  u32 error_code;
  u64 cr2;  // #PF: the faulting linear address; 0 otherwise
};

// What segmentation depends on in the CPU mode.
enum class CpuMode : u8 {
  kReal,       // CR0.PE = 0
  kVm86,       // CR0.PE = 1, EFLAGS.VM = 1
  kProtected,  // CR0.PE = 1, not 64-bit mode: 16/32-bit protected or compatibility mode
  kLong64,     // IA-32e mode with CS.L = 1
};

// The mode from CR0, RFLAGS, EFER and CS (SDM vol. 3A 2.2, 9.8.5; vol. 1 3.3.7).
CpuMode cpu_mode(u64 cr0, u64 rflags, u64 efer, const kvm_segment &cs);

enum class AccessType : u8 { kRead, kWrite, kFetch };

struct SegAccess {
  Seg seg;            // which register desc is (decides #SS vs #GP, FS/GS bases)
  u64 offset;         // effective address before masking to addr_size
  u32 size;           // bytes accessed, >= 1
  AccessType type;
  u8 addr_size;       // 2, 4, or 8 (64-bit mode only)
};

// Computes the linear address of acc through segment register desc in mode
// (la57: CR4.LA57, 57-bit canonical addresses in 64-bit mode). The offset
// is first truncated to addr_size (SDM vol. 1 3.6: effective addresses wrap
// at the address size). Returns
//   0        *linear holds the linear address of the first byte (in 16/32-bit
//            modes the bytes after it wrap at 4 GiB);
//   -EFAULT  the processor raises *ex (#GP(0) or #SS(0)) instead;
//   -EINVAL  a malformed request: size 0, addr_size not 2/4/8 (8 outside
//            64-bit mode), an unknown mode or segment.
// *linear is written only on 0, *ex only on -EFAULT.
int linearize(CpuMode mode, const kvm_segment &desc, const SegAccess &acc, bool la57, u64 *linear,
              Exception *ex);

}  // namespace mk::x86
