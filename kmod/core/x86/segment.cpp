// SPDX-License-Identifier: GPL-2.0
// Segmentation checks and linear addresses (SDM vol. 3A 3.4.5, 5.3, 5.4;
// vol. 1 3.3.7, 3.4.2.1). See segment.h.
#include "segment.h"

#include "../../ia32/paging.h"
#include "../rt/errno.h"
#include "paging.h"

namespace mk::x86 {
namespace {

constexpr u64 kLow32 = 0xffffffffull;
constexpr u64 kRflagsVm = 1ull << 17;  // virtual-8086 mode (SDM vol. 1 3.4.3.3)

// Segment descriptor type field of a code or data segment (S = 1), SDM
// vol. 3A 3.4.5.1, table 3-1.
constexpr u8 kTypeCode = 1u << 3;        // else data
constexpr u8 kTypeExpandDown = 1u << 2;  // data: expand-down (code: conforming)
constexpr u8 kTypeWritable = 1u << 1;    // data: writable (code: readable)
constexpr u8 kTypeReadable = 1u << 1;

int raise(CpuMode mode, Seg seg, Exception *ex) {
  // SDM 5.3: a limit or type violation on an SS-relative access is a
  // stack fault, any other one a general-protection fault; error code 0
  // (the error code names a selector only when loading one). Real mode
  // pushes no error code (SDM 20.1.4; VM entry requires "deliver error
  // code" = 0 there, 26.2.1.3, and KVM clears it: x86.c has_error_code &=
  // is_protmode).
  *ex = Exception{seg == Seg::kSs ? kVectorSs : kVectorGp, mode != CpuMode::kReal, 0, 0};
  return -EFAULT;
}

// Protected mode (SDM 5.4.1 and 3.4.5.1): may this register be used for
// this kind of access at all?
bool type_allows(const kvm_segment &d, AccessType type) {
  // A register loaded with a null selector is unusable (VMCS access-rights
  // bit 16); KVM also folds "not present" into unusable (vmx.c
  // vmx_segment_access_rights). S = 0 (a system descriptor) cannot be in
  // a data or code segment register; VM entry refuses it (SDM 26.3.1.2).
  if (d.unusable || !d.present || !d.s)
    return false;
  const bool code = d.type & kTypeCode;
  switch (type) {
  case AccessType::kWrite:
    return !code && (d.type & kTypeWritable);
  case AccessType::kRead:
    return !code || (d.type & kTypeReadable);
  case AccessType::kFetch:
    return code;
  }
  return false;
}

// SDM 5.3: every byte [first, last] (offsets, no wrap) within the limit.
bool within_limit(const kvm_segment &d, u64 first, u64 last, bool protected_mode) {
  if (protected_mode && !(d.type & kTypeCode) && (d.type & kTypeExpandDown)) {
    // Expand-down: valid offsets are limit + 1 .. 0xffff (B = 0) or
    // 0xffffffff (B = 1).
    const u64 upper = d.db ? kLow32 : 0xffff;
    return first > d.limit && last <= upper;
  }
  return last <= d.limit;
}

}  // namespace

CpuMode cpu_mode(u64 cr0, u64 rflags, u64 efer, const kvm_segment &cs) {
  if (!(cr0 & ia32::paging::cr0::kPe))
    return CpuMode::kReal;
  if ((efer & ia32::paging::efer::kLma) && cs.l)
    return CpuMode::kLong64;
  // EFLAGS.VM is ignored in IA-32e mode (SDM vol. 3A 2.3: compatibility
  // mode has no virtual-8086 mode).
  if ((rflags & kRflagsVm) && !(efer & ia32::paging::efer::kLma))
    return CpuMode::kVm86;
  return CpuMode::kProtected;
}

int linearize(CpuMode mode, const kvm_segment &desc, const SegAccess &acc, bool la57, u64 *linear,
              Exception *ex) {
  if (acc.size == 0 || u8(acc.seg) > u8(Seg::kGs))
    return -EINVAL;
  if (acc.addr_size != 2 && acc.addr_size != 4 && !(acc.addr_size == 8 && mode == CpuMode::kLong64))
    return -EINVAL;
  if (acc.type != AccessType::kRead && acc.type != AccessType::kWrite && acc.type != AccessType::kFetch)
    return -EINVAL;

  const u64 ea = acc.addr_size == 8 ? acc.offset : acc.offset & ((1ull << (8 * acc.addr_size)) - 1);
  // Offset of the last byte. In 16/32-bit modes ea < 2^32 and size < 2^32,
  // so this does not wrap; the limit check sees the true value.
  const u64 last = ea + (acc.size - 1);

  switch (mode) {
  case CpuMode::kLong64: {
    // SDM vol. 1 3.4.2.1: CS, DS, ES and SS bases are treated as 0; FS and
    // GS keep theirs. No limit checks (vol. 3A 5.3.1). Each byte must be
    // canonical (vol. 1 3.3.7.1); an access that runs from 2^64 - 1 to 0
    // is made of canonical bytes, as KVM also lets it through.
    const u64 base = (acc.seg == Seg::kFs || acc.seg == Seg::kGs) ? desc.base : 0;
    const u64 la = base + ea;
    const unsigned va_bits = la57 ? 57 : 48;
    if (!is_canonical(la, va_bits) || !is_canonical(la + (acc.size - 1), va_bits))
      return raise(mode, acc.seg, ex);
    *linear = la;
    return 0;
  }
  case CpuMode::kReal:
  case CpuMode::kVm86:
    if (!within_limit(desc, ea, last, false))
      return raise(mode, acc.seg, ex);
    *linear = (desc.base + ea) & kLow32;
    return 0;
  case CpuMode::kProtected:
    if (!type_allows(desc, acc.type) || !within_limit(desc, ea, last, true))
      return raise(mode, acc.seg, ex);
    *linear = (desc.base + ea) & kLow32;
    return 0;
  }
  return -EINVAL;
}

}  // namespace mk::x86
