// SPDX-License-Identifier: GPL-2.0
// Segmentation checks and linear addresses (SDM vol. 3A 3.4.5, 5.3, 5.4;
// vol. 1 3.3.7): real, virtual-8086, protected/compatibility and 64-bit
// mode, with segment registers as struct kvm_segment holds them.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <random>

#include "core/rt/errno.h"
#include "core/x86/segment.h"
#include "ia32/paging.h"

using mk::u32;
using mk::u64;
using mk::u16;
using mk::u8;
using mk::x86::AccessType;
using mk::x86::CpuMode;
using mk::x86::Exception;
using mk::x86::linearize;
using mk::x86::Seg;
using mk::x86::SegAccess;

namespace {

// Type field values (SDM table 3-1).
constexpr u8 kDataRO = 0x1;       // read-only, accessed
constexpr u8 kDataRW = 0x3;       // read/write, accessed
constexpr u8 kDataRODown = 0x5;   // read-only, expand-down
constexpr u8 kDataRWDown = 0x7;   // read/write, expand-down
constexpr u8 kCodeXO = 0x9;       // execute-only, accessed
constexpr u8 kCodeXR = 0xb;       // execute/read, accessed

kvm_segment seg(u64 base, u32 limit, u8 type, bool db = true) {
  kvm_segment s{};
  s.base = base;
  s.limit = limit;
  s.type = type;
  s.present = 1;
  s.s = 1;
  s.db = db;
  s.g = limit > 0xfffff;
  s.selector = 0x10;
  return s;
}

kvm_segment real_seg(u16 selector) {
  kvm_segment s = seg(u64(selector) << 4, 0xffff, kDataRW, false);
  s.selector = selector;
  s.g = 0;
  return s;
}

struct Out {
  int err;
  u64 la;
  Exception ex;
};

Out lin(CpuMode mode, const kvm_segment &d, Seg s, u64 off, u32 size, AccessType t, u8 asz, bool la57 = false) {
  Out o{0, 0xababababababababull, Exception{0xee, false, 0xeeeeeeee, 0xee}};
  o.err = linearize(mode, d, SegAccess{s, off, size, t, asz}, la57, &o.la, &o.ex);
  return o;
}

void expect_ok(const Out &o, u64 la) {
  EXPECT_EQ(0, o.err);
  EXPECT_EQ(la, o.la) << std::hex << o.la;
  EXPECT_EQ(0xee, o.ex.vector) << "exception written on success";
}

void expect_fault(const Out &o, u8 vector, bool has_error_code = true) {
  EXPECT_EQ(-EFAULT, o.err);
  EXPECT_EQ(vector, o.ex.vector);
  EXPECT_EQ(has_error_code, o.ex.has_error_code);
  EXPECT_EQ(0u, o.ex.error_code);
  EXPECT_EQ(0u, o.ex.cr2);
  EXPECT_EQ(0xababababababababull, o.la) << "linear written on a fault";
}

constexpr auto kR = AccessType::kRead;
constexpr auto kW = AccessType::kWrite;
constexpr auto kX = AccessType::kFetch;
constexpr u8 kGp = mk::x86::kVectorGp;
constexpr u8 kSs = mk::x86::kVectorSs;

TEST(Segment, CpuMode) {
  namespace cr0 = ia32::paging::cr0;
  namespace efer = ia32::paging::efer;
  kvm_segment cs = seg(0, 0xffffffff, kCodeXR);
  constexpr u64 vm = 1ull << 17;
  EXPECT_EQ(CpuMode::kReal, mk::x86::cpu_mode(0, 0, 0, cs));
  EXPECT_EQ(CpuMode::kReal, mk::x86::cpu_mode(0, vm, efer::kLma, cs)) << "PE = 0 is real mode";
  EXPECT_EQ(CpuMode::kProtected, mk::x86::cpu_mode(cr0::kPe, 0, 0, cs));
  EXPECT_EQ(CpuMode::kVm86, mk::x86::cpu_mode(cr0::kPe, vm, 0, cs));
  EXPECT_EQ(CpuMode::kProtected, mk::x86::cpu_mode(cr0::kPe | cr0::kPg, 0, efer::kLma, cs)) << "compatibility mode";
  cs.l = 1;
  EXPECT_EQ(CpuMode::kLong64, mk::x86::cpu_mode(cr0::kPe | cr0::kPg, 0, efer::kLma, cs));
  EXPECT_EQ(CpuMode::kLong64, mk::x86::cpu_mode(cr0::kPe | cr0::kPg, vm, efer::kLma, cs)) << "VM ignored in IA-32e";
  EXPECT_EQ(CpuMode::kProtected, mk::x86::cpu_mode(cr0::kPe, 0, efer::kLme, cs)) << "L without LMA";
}

TEST(Segment, InvalidRequests) {
  kvm_segment d = seg(0, 0xffffffff, kDataRW);
  EXPECT_EQ(-EINVAL, lin(CpuMode::kProtected, d, Seg::kDs, 0, 0, kR, 4).err) << "size 0";
  EXPECT_EQ(-EINVAL, lin(CpuMode::kProtected, d, Seg::kDs, 0, 1, kR, 8).err) << "64-bit addresses outside 64-bit mode";
  EXPECT_EQ(-EINVAL, lin(CpuMode::kReal, d, Seg::kDs, 0, 1, kR, 8).err);
  EXPECT_EQ(-EINVAL, lin(CpuMode::kLong64, d, Seg::kDs, 0, 1, kR, 3).err);
  EXPECT_EQ(-EINVAL, lin(CpuMode::kLong64, d, Seg::kDs, 0, 1, kR, 0).err);
  EXPECT_EQ(-EINVAL, lin(CpuMode::kProtected, d, Seg::kNone, 0, 1, kR, 4).err);
  EXPECT_EQ(-EINVAL, lin(CpuMode::kProtected, d, Seg(9), 0, 1, kR, 4).err);
  EXPECT_EQ(-EINVAL, lin(CpuMode(7), d, Seg::kDs, 0, 1, kR, 4).err);
  EXPECT_EQ(-EINVAL, lin(CpuMode::kProtected, d, Seg::kDs, 0, 1, AccessType(5), 4).err);
}

// ---------------------------------------------------------------- real mode

TEST(Segment, RealModeUsesCachedBase) {
  kvm_segment d = real_seg(0x1234);
  expect_ok(lin(CpuMode::kReal, d, Seg::kDs, 0x10, 2, kR, 2), 0x12350);
  // The cached base counts, not selector << 4 (after a protected-mode
  // load the two differ until the next real-mode load).
  d.base = 0x00100000;
  expect_ok(lin(CpuMode::kReal, d, Seg::kDs, 0x10, 2, kW, 2), 0x00100010);
  // 16-bit address size: the offset wraps at 64 KiB before the base is added.
  expect_ok(lin(CpuMode::kReal, real_seg(0x1000), Seg::kEs, 0x12345, 1, kW, 2), 0x12345);
  // 32-bit address size (67h) in real mode: the limit still applies.
  expect_fault(lin(CpuMode::kReal, real_seg(0x1000), Seg::kEs, 0x12345, 1, kW, 4), kGp, false);
}

TEST(Segment, RealModeLimitAndNoErrorCode) {
  kvm_segment d = real_seg(0x2000);
  expect_ok(lin(CpuMode::kReal, d, Seg::kDs, 0xffff, 1, kR, 2), 0x2ffff);
  expect_ok(lin(CpuMode::kReal, d, Seg::kDs, 0xfffe, 2, kR, 2), 0x2fffe);
  // A word at offset 0xffff runs past the limit: #GP, #SS for SS, and real
  // mode pushes no error code.
  expect_fault(lin(CpuMode::kReal, d, Seg::kDs, 0xffff, 2, kR, 2), kGp, false);
  expect_fault(lin(CpuMode::kReal, d, Seg::kSs, 0xffff, 2, kW, 2), kSs, false);
  // "Unreal" mode: a 4-GiB cached limit is honoured.
  d.limit = 0xffffffff;
  expect_ok(lin(CpuMode::kReal, d, Seg::kDs, 0x00123456, 4, kW, 4), 0x00143456);
}

TEST(Segment, RealModeIgnoresTypeAndUsability) {
  kvm_segment d = real_seg(0x10);
  d.type = kDataRO;
  d.unusable = 1;
  d.present = 0;
  d.s = 0;
  expect_ok(lin(CpuMode::kReal, d, Seg::kDs, 0x20, 2, kW, 2), 0x120);
  d.type = kCodeXO;
  expect_ok(lin(CpuMode::kReal, d, Seg::kDs, 0x20, 2, kR, 2), 0x120);
}

TEST(Segment, RealModeWrapsAt4GiB) {
  kvm_segment d = real_seg(0xffff);  // base 0xffff0
  {
    SCOPED_TRACE("no A20 masking");
    expect_ok(lin(CpuMode::kReal, d, Seg::kDs, 0xffff, 1, kR, 2), 0x10ffef);
  }
  d.base = 0xfffffff0;
  expect_ok(lin(CpuMode::kReal, d, Seg::kDs, 0x20, 1, kR, 2), 0x10);
}

TEST(Segment, Vm86LikeRealModeWithErrorCodes) {
  kvm_segment d = real_seg(0x3000);
  expect_ok(lin(CpuMode::kVm86, d, Seg::kEs, 0x100, 4, kW, 2), 0x30100);
  expect_fault(lin(CpuMode::kVm86, d, Seg::kEs, 0xfffd, 4, kW, 2), kGp, true);
  expect_fault(lin(CpuMode::kVm86, d, Seg::kSs, 0xfffd, 4, kW, 2), kSs, true);
}

// ----------------------------------------------------------- protected mode

TEST(Segment, ProtectedFlatAndBase) {
  expect_ok(lin(CpuMode::kProtected, seg(0, 0xffffffff, kDataRW), Seg::kDs, 0x12345678, 4, kW, 4), 0x12345678);
  {
    SCOPED_TRACE("base + offset wraps at 4 GiB");
    expect_ok(lin(CpuMode::kProtected, seg(0x10000000, 0xffffffff, kDataRW), Seg::kDs, 0xf0000010, 4, kR, 4), 0x10);
  }
  // 16-bit address size truncates the offset.
  expect_ok(lin(CpuMode::kProtected, seg(0x5000, 0xffff, kDataRW, false), Seg::kEs, 0xabcd1234, 2, kW, 2), 0x6234);
  // Offsets are truncated to 32 bits with a 32-bit address size.
  expect_ok(lin(CpuMode::kProtected, seg(0, 0xffffffff, kDataRW), Seg::kDs, 0x123456789ull, 1, kR, 4), 0x23456789);
}

TEST(Segment, ProtectedUnusableNotPresentSystem) {
  kvm_segment d = seg(0, 0xffffffff, kDataRW);
  d.unusable = 1;  // loaded with a null selector
  expect_fault(lin(CpuMode::kProtected, d, Seg::kDs, 0, 1, kR, 4), kGp);
  expect_fault(lin(CpuMode::kProtected, d, Seg::kSs, 0, 1, kR, 4), kSs);
  d = seg(0, 0xffffffff, kDataRW);
  d.present = 0;
  expect_fault(lin(CpuMode::kProtected, d, Seg::kFs, 0, 1, kR, 4), kGp);
  d = seg(0, 0xffffffff, kDataRW);
  d.s = 0;
  expect_fault(lin(CpuMode::kProtected, d, Seg::kGs, 0, 1, kR, 4), kGp);
}

TEST(Segment, ProtectedTypeChecks) {
  const u32 lim = 0xffffffff;
  // Writes: only writable data.
  expect_fault(lin(CpuMode::kProtected, seg(0, lim, kDataRO), Seg::kDs, 0, 1, kW, 4), kGp);
  expect_fault(lin(CpuMode::kProtected, seg(0, lim, kDataRO), Seg::kSs, 0, 1, kW, 4), kSs);
  expect_fault(lin(CpuMode::kProtected, seg(0, lim, kCodeXR), Seg::kCs, 0, 1, kW, 4), kGp);
  expect_fault(lin(CpuMode::kProtected, seg(0, lim, kCodeXR), Seg::kDs, 0, 1, kW, 4), kGp);
  expect_ok(lin(CpuMode::kProtected, seg(0, lim, kDataRW), Seg::kDs, 0, 1, kW, 4), 0);
  // Reads: not from execute-only code.
  expect_fault(lin(CpuMode::kProtected, seg(0, lim, kCodeXO), Seg::kCs, 0, 1, kR, 4), kGp);
  expect_ok(lin(CpuMode::kProtected, seg(0, lim, kCodeXR), Seg::kCs, 0, 1, kR, 4), 0);
  expect_ok(lin(CpuMode::kProtected, seg(0, lim, kDataRO), Seg::kDs, 0, 1, kR, 4), 0);
  // Fetches: code, readable or not; never data.
  expect_ok(lin(CpuMode::kProtected, seg(0, lim, kCodeXO), Seg::kCs, 0x10, 15, kX, 4), 0x10);
  expect_fault(lin(CpuMode::kProtected, seg(0, lim, kDataRW), Seg::kCs, 0, 1, kX, 4), kGp);
}

TEST(Segment, ProtectedExpandUpLimit) {
  const kvm_segment d = seg(0x1000, 0x0fff, kDataRW);
  expect_ok(lin(CpuMode::kProtected, d, Seg::kDs, 0xffc, 4, kR, 4), 0x1ffc);
  {
    SCOPED_TRACE("last byte past the limit");
    expect_fault(lin(CpuMode::kProtected, d, Seg::kDs, 0xffd, 4, kR, 4), kGp);
  }
  expect_fault(lin(CpuMode::kProtected, d, Seg::kDs, 0x1000, 1, kR, 4), kGp);
  expect_fault(lin(CpuMode::kProtected, d, Seg::kSs, 0x1000, 1, kR, 4), kSs);
  // A 4-GiB segment: the last byte's offset may not pass 0xffffffff (the
  // SDM rule; KVM lets this one wrap).
  expect_ok(lin(CpuMode::kProtected, seg(0, 0xffffffff, kDataRW), Seg::kDs, 0xfffffffc, 4, kR, 4), 0xfffffffc);
  expect_fault(lin(CpuMode::kProtected, seg(0, 0xffffffff, kDataRW), Seg::kDs, 0xfffffffd, 4, kR, 4), kGp);
  // Limit 0: one byte.
  expect_ok(lin(CpuMode::kProtected, seg(0x500, 0, kDataRW), Seg::kDs, 0, 1, kR, 4), 0x500);
  expect_fault(lin(CpuMode::kProtected, seg(0x500, 0, kDataRW), Seg::kDs, 0, 2, kR, 4), kGp);
}

TEST(Segment, ProtectedExpandDownLimit) {
  // Valid offsets: limit + 1 .. 0xffff (B = 0) or 0xffffffff (B = 1).
  const kvm_segment small = seg(0x10000, 0x0fff, kDataRWDown, false);
  expect_fault(lin(CpuMode::kProtected, small, Seg::kSs, 0x0fff, 1, kW, 2), kSs);
  expect_fault(lin(CpuMode::kProtected, small, Seg::kSs, 0, 1, kW, 2), kSs);
  expect_ok(lin(CpuMode::kProtected, small, Seg::kSs, 0x1000, 2, kW, 2), 0x11000);
  expect_ok(lin(CpuMode::kProtected, small, Seg::kSs, 0xfffe, 2, kW, 2), 0x1fffe);
  {
    SCOPED_TRACE("past 0xffff with B = 0");
    expect_fault(lin(CpuMode::kProtected, small, Seg::kSs, 0xffff, 2, kW, 2), kSs);
  }
  expect_fault(lin(CpuMode::kProtected, small, Seg::kSs, 0xffff, 2, kW, 4), kSs);
  const kvm_segment big = seg(0, 0x0fff, kDataRODown, true);
  expect_ok(lin(CpuMode::kProtected, big, Seg::kDs, 0xffff, 2, kR, 4), 0xffff);
  expect_ok(lin(CpuMode::kProtected, big, Seg::kDs, 0xfffffffe, 2, kR, 4), 0xfffffffe);
  expect_fault(lin(CpuMode::kProtected, big, Seg::kDs, 0xffffffff, 2, kR, 4), kGp);
  {
    SCOPED_TRACE("read-only");
    expect_fault(lin(CpuMode::kProtected, big, Seg::kDs, 0x2000, 2, kW, 4), kGp);
  }
  // Expand-down with the maximum limit: no valid offset at all.
  const kvm_segment none = seg(0, 0xffffffff, kDataRWDown, true);
  expect_fault(lin(CpuMode::kProtected, none, Seg::kDs, 0xffffffff, 1, kR, 4), kGp);
  // Conforming code (bit 2 of a code type) is not expand-down.
  expect_ok(lin(CpuMode::kProtected, seg(0, 0xfff, 0xf), Seg::kCs, 0x10, 1, kR, 4), 0x10);
}

// -------------------------------------------------------------- 64-bit mode

TEST(Segment, Long64BasesOnlyForFsGs) {
  kvm_segment d = seg(0x123400000000ull, 0x10, kDataRO);
  for (Seg s : {Seg::kEs, Seg::kCs, Seg::kSs, Seg::kDs})
    expect_ok(lin(CpuMode::kLong64, d, s, 0x7000, 8, kW, 8), 0x7000);
  for (Seg s : {Seg::kFs, Seg::kGs})
    expect_ok(lin(CpuMode::kLong64, d, s, 0x7000, 8, kW, 8), 0x123400007000ull);
}

TEST(Segment, Long64IgnoresLimitTypeUsability) {
  kvm_segment d = seg(0, 0, kCodeXO);
  d.unusable = 1;
  d.present = 0;
  expect_ok(lin(CpuMode::kLong64, d, Seg::kDs, 0x7fff00001234ull, 8, kW, 8), 0x7fff00001234ull);
  expect_ok(lin(CpuMode::kLong64, d, Seg::kSs, 0xffff800000000000ull, 8, kR, 8), 0xffff800000000000ull);
}

TEST(Segment, Long64Canonical) {
  kvm_segment d = seg(0, 0, kDataRW);
  expect_fault(lin(CpuMode::kLong64, d, Seg::kDs, 0x0000800000000000ull, 1, kR, 8), kGp);
  expect_fault(lin(CpuMode::kLong64, d, Seg::kSs, 0x0000800000000000ull, 1, kR, 8), kSs);
  expect_fault(lin(CpuMode::kLong64, d, Seg::kEs, 0xffff7fffffffffffull, 1, kW, 8), kGp);
  // The last byte counts too.
  expect_ok(lin(CpuMode::kLong64, d, Seg::kDs, 0x00007ffffffffffcull, 4, kR, 8), 0x00007ffffffffffcull);
  expect_fault(lin(CpuMode::kLong64, d, Seg::kDs, 0x00007ffffffffffdull, 4, kR, 8), kGp);
  expect_fault(lin(CpuMode::kLong64, d, Seg::kSs, 0x00007ffffffffffdull, 4, kR, 8), kSs);
  // Wrapping from 2^64 - 1 to 0: every byte is canonical.
  expect_ok(lin(CpuMode::kLong64, d, Seg::kDs, 0xfffffffffffffffeull, 4, kR, 8), 0xfffffffffffffffeull);
  // FS/GS base makes it non-canonical.
  kvm_segment fs = seg(0x0000700000000000ull, 0, kDataRW);
  expect_fault(lin(CpuMode::kLong64, fs, Seg::kFs, 0x0000100000000000ull, 1, kR, 8), kGp);
  // LA57: 57-bit canonical.
  expect_ok(lin(CpuMode::kLong64, d, Seg::kDs, 0x00ff000000000000ull, 1, kR, 8, true), 0x00ff000000000000ull);
  expect_fault(lin(CpuMode::kLong64, d, Seg::kDs, 0x0100000000000000ull, 1, kR, 8, true), kGp);
}

TEST(Segment, Long64AddressSize32) {
  // 67h in 64-bit mode: the effective address is 32 bits, then the FS/GS
  // base is added in 64 bits (no 4-GiB wrap of the linear address).
  kvm_segment gs = seg(0x00007fff00000000ull, 0, kDataRW);
  expect_ok(lin(CpuMode::kLong64, gs, Seg::kGs, 0xffffffff12345678ull, 4, kW, 4), 0x00007fff12345678ull);
  expect_ok(lin(CpuMode::kLong64, gs, Seg::kDs, 0xffffffff12345678ull, 4, kW, 4), 0x12345678ull);
  kvm_segment high = seg(0x00007ffffffff000ull, 0, kDataRW);
  expect_fault(lin(CpuMode::kLong64, high, Seg::kFs, 0xfffff000u, 1, kR, 4), kGp);
}

TEST(Segment, RandomRequestsGiveDefinedAnswers) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20000; i++) {
    kvm_segment d{};
    d.base = rng();
    d.limit = u32(rng());
    d.type = rng() & 15;
    d.present = rng() & 1;
    d.s = rng() & 1;
    d.db = rng() & 1;
    d.unusable = rng() & 1;
    const CpuMode mode = CpuMode(rng() % 5);
    const Seg s = Seg(rng() % 7);
    const u32 size = rng() % 3 ? u32(rng() % 17) : u32(rng());
    const u8 asz = u8(1u << (rng() % 5));
    const AccessType t = AccessType(rng() % 4);
    Out o = lin(mode, d, s, rng(), size, t, asz, rng() & 1);
    if (o.err == 0) {
      if (mode != CpuMode::kLong64) {
        EXPECT_LE(o.la, 0xffffffffull);
      }
    } else if (o.err == -EFAULT) {
      EXPECT_TRUE(o.ex.vector == kGp || o.ex.vector == kSs);
      EXPECT_EQ(o.ex.vector == kSs, s == Seg::kSs);
      EXPECT_EQ(mode != CpuMode::kReal, o.ex.has_error_code);
    } else {
      EXPECT_EQ(-EINVAL, o.err);
    }
  }
}

}  // namespace
