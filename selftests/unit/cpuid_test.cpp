// SPDX-License-Identifier: GPL-2.0
// CPUID for guests (kmod/core/x86/cpuid.cpp): the supported table computed
// from a simulated Skylake-SP host, the KVM_GET_SUPPORTED_CPUID,
// KVM_{SET,GET}_CPUID2 contracts, kvm_cpuid() lookup semantics, the runtime
// bits and the reserved-bit masks derived from a guest's CPUID.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/x86/cpuid.h"
#include "ia32/msr.h"
#include "user_platform.h"

extern "C" long mk_alloc_live(void);

using mk::u32;
using mk::u64;
using mk::x86::CpuidEntry;
using mk::x86::GuestCpuid;
using mk::x86::SupportedCpuid;
namespace c = ia32::cpuid;

namespace {

constexpr u32 kSkylakeLeaf1Ecx = 0x7ffefbff;
constexpr u32 kSig = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;

// CR4 bits, spelled out (SDM vol. 3A 2.5).
constexpr u64 kCr4Umip = 1ull << 11, kCr4La57 = 1ull << 12, kCr4Vmxe = 1ull << 13, kCr4Smxe = 1ull << 14,
              kCr4Fsgsbase = 1ull << 16, kCr4Pcide = 1ull << 17, kCr4Osxsave = 1ull << 18,
              kCr4Smep = 1ull << 20, kCr4Smap = 1ull << 21, kCr4Pke = 1ull << 22;

void use_skylake() {
  mk::user::reset_machine();
  mk::user::machine().cpuid = mk::user::SimMachine::skylake_cpuid();
  mk::user::machine().cpuid1_ecx = kSkylakeLeaf1Ecx;
}

// Replaces one simulated host CPUID output.
void set_host_leaf(u32 leaf, u32 subleaf, u32 eax, u32 ebx, u32 ecx, u32 edx) {
  for (auto &l : mk::user::machine().cpuid)
    if (l.leaf == leaf && l.subleaf == subleaf) {
      l = {leaf, subleaf, eax, ebx, ecx, edx};
      return;
    }
  mk::user::machine().cpuid.push_back({leaf, subleaf, eax, ebx, ecx, edx});
}

// A kvm_cpuid2 with room for n entries, as userspace allocates it.
struct UserCpuid2 {
  explicit UserCpuid2(u32 n) : buf(sizeof(kvm_cpuid2) + n * sizeof(kvm_cpuid_entry2), 0) { hdr()->nent = n; }
  kvm_cpuid2 *hdr() { return reinterpret_cast<kvm_cpuid2 *>(buf.data()); }
  CpuidEntry *entries() { return hdr()->entries; }
  unsigned long arg() { return reinterpret_cast<unsigned long>(buf.data()); }
  std::vector<unsigned char> buf;
};

UserCpuid2 from_entries(const CpuidEntry *e, u32 n) {
  UserCpuid2 u(n);
  memcpy(u.entries(), e, n * sizeof(CpuidEntry));
  return u;
}

CpuidEntry entry(u32 fn, u32 idx, u32 flags, u32 eax, u32 ebx, u32 ecx, u32 edx) {
  CpuidEntry e{};
  e.function = fn;
  e.index = idx;
  e.flags = flags;
  e.eax = eax;
  e.ebx = ebx;
  e.ecx = ecx;
  e.edx = edx;
  return e;
}

class Cpuid : public ::testing::Test {
 protected:
  void SetUp() override {
    use_skylake();
    ASSERT_EQ(mk::x86::init_supported_cpuid(), 0);
    live_ = mk_alloc_live();
  }
  void TearDown() override {
    mk::user::fail_alloc_after(-1);
    EXPECT_EQ(mk_alloc_live(), live_) << "allocations leaked";
    mk::user::reset_machine();
    mk::x86::init_supported_cpuid();
  }
  const SupportedCpuid &sup() { return mk::x86::supported_cpuid(); }
  const CpuidEntry &sup_entry(u32 fn, u32 idx = 0) {
    const CpuidEntry *e = sup().find(fn, idx);
    EXPECT_NE(e, nullptr) << std::hex << fn << "." << idx;
    static CpuidEntry none{};
    return e ? *e : none;
  }
  void recompute() { ASSERT_EQ(mk::x86::init_supported_cpuid(), 0); }
  long live_ = 0;
};

// ---- supported CPUID -------------------------------------------------------

TEST_F(Cpuid, SupportedTableHasKvmsLeafOrder) {
  const SupportedCpuid &s = sup();
  ASSERT_GT(s.nent, 0u);
  EXPECT_LE(s.nent, 100u) << "KVM 6.1 selftests ask with room for 100 entries";
  EXPECT_EQ(s.entries[0].function, 0u);
  // Basic leaves 0..16H, then 80000000H..80000008H, then the hypervisor's.
  auto phase = [](u32 fn) { return fn < 0x40000000 ? 0 : fn >= 0x80000000 ? 1 : 2; };
  u32 basic = 0, ext = 0;
  for (u32 i = 0; i < s.nent; i++) {
    u32 fn = s.entries[i].function;
    if (fn < 0x40000000)
      basic = fn;
    if (fn >= 0x80000000)
      ext = fn;
    if (i) {
      u32 prev = s.entries[i - 1].function;
      EXPECT_LE(phase(prev), phase(fn)) << i;
      if (phase(prev) == phase(fn)) {
        EXPECT_LE(prev, fn) << i;
      }
    }
  }
  EXPECT_EQ(basic, 0x16u);
  EXPECT_EQ(ext, 0x80000008u);
  EXPECT_EQ(s.entries[s.nent - 2].function, 0x40000000u);
  EXPECT_EQ(s.entries[s.nent - 1].function, 0x40000001u);
  for (u32 fn = 0; fn <= 0x16; fn++)
    EXPECT_NE(s.find(fn, 0), nullptr) << std::hex << fn;
  for (u32 fn = 0x80000000; fn <= 0x80000008; fn++)
    EXPECT_NE(s.find(fn, 0), nullptr) << std::hex << fn;
}

TEST_F(Cpuid, Leaf0KeepsVendorAndMax) {
  const CpuidEntry &e = sup_entry(0);
  EXPECT_EQ(e.eax, 0x16u);
  EXPECT_EQ(e.ebx, 0x756e6547u);  // "Genu"
  EXPECT_EQ(e.edx, 0x49656e69u);  // "ineI"
  EXPECT_EQ(e.ecx, 0x6c65746eu);  // "ntel"
  EXPECT_EQ(e.flags, 0u);
}

TEST_F(Cpuid, Leaf0And80000000AreClampedToWhatMinikvmKnows) {
  set_host_leaf(0x0, 0, 0x20, 0x756e6547, 0x6c65746e, 0x49656e69);
  set_host_leaf(0x80000000, 0, 0x80000021, 0, 0, 0);
  recompute();
  EXPECT_EQ(sup_entry(0).eax, 0x1fu);
  EXPECT_EQ(sup_entry(0x1f).flags, kSig);
  EXPECT_EQ(sup_entry(0x1f).eax | sup_entry(0x1f).ebx | sup_entry(0x1f).ecx | sup_entry(0x1f).edx, 0u);
  EXPECT_EQ(sup().find(0x20, 0), nullptr);
  EXPECT_EQ(sup_entry(0x80000000).eax, 0x80000008u);
  EXPECT_EQ(sup().find(0x80000009, 0), nullptr);
}

TEST_F(Cpuid, Leaf1OffersOnlyWhatIsVirtualized) {
  const CpuidEntry &e = sup_entry(1);
  EXPECT_EQ(e.eax, 0x00050654u);
  EXPECT_EQ(e.ebx, 0x00400800u) << "host APIC ID (bits 31:24) removed, CLFLUSH size and count kept";
  namespace f = c::features_ecx;
  for (u32 bit : {f::kVmx, f::kSmx, f::kMonitor, f::kDtes64, f::kDsCpl, f::kEst, f::kTm2, f::kSdbg, f::kXtpr,
                  f::kPdcm, f::kPcid, f::kDca, f::kTscDeadline, f::kOsxsave})
    EXPECT_FALSE(e.ecx & bit) << std::hex << bit;
  for (u32 bit : {f::kSse3, f::kPclmulqdq, f::kSsse3, f::kFma, f::kCx16, f::kSse41, f::kSse42, f::kMovbe,
                  f::kPopcnt, f::kX2apic, f::kAes, f::kXsave, f::kAvx, f::kF16c, f::kRdrand, f::kHypervisor})
    EXPECT_TRUE(e.ecx & bit) << std::hex << bit;
  namespace d = c::features_edx;
  for (u32 bit : {d::kPsn, d::kDs, d::kAcpi, d::kHtt, d::kTm, d::kPbe})
    EXPECT_FALSE(e.edx & bit) << std::hex << bit;
  for (u32 bit : {d::kFpu, d::kVme, d::kTsc, d::kMsr, d::kPae, d::kMce, d::kCx8, d::kApic, d::kSep, d::kMtrr,
                  d::kPge, d::kMca, d::kCmov, d::kPat, d::kClfsh, d::kFxsr, d::kSse2})
    EXPECT_TRUE(e.edx & bit) << std::hex << bit;
  EXPECT_EQ(e.flags, 0u);
}

TEST_F(Cpuid, Leaf4ListsEveryCacheAndTheTerminator) {
  for (u32 i = 0; i <= 4; i++) {
    const CpuidEntry &e = sup_entry(4, i);
    EXPECT_EQ(e.flags, kSig);
    EXPECT_EQ(e.index, i);
  }
  EXPECT_EQ(sup_entry(4, 3).eax, 0x7c0fc163u) << "host cache parameters pass through";
  EXPECT_EQ(sup_entry(4, 4).eax & 0x1f, 0u);
  EXPECT_EQ(sup().find(4, 5), nullptr);
}

TEST_F(Cpuid, Leaf7HidesUnvirtualizedFeatures) {
  const CpuidEntry &e = sup_entry(7, 0);
  EXPECT_EQ(e.flags, kSig);
  EXPECT_EQ(e.eax, 0u) << "the host has no subleaf 1";
  namespace b = c::leaf7_ebx;
  for (u32 bit : {b::kSgx, b::kInvpcid, b::kRdtMonitoring, b::kMpx, b::kRdtAllocation, b::kAvx512f, b::kAvx512dq,
                  b::kIntelPt, b::kAvx512cd, b::kAvx512bw, b::kAvx512vl})
    EXPECT_FALSE(e.ebx & bit) << std::hex << bit;
  for (u32 bit : {b::kFsgsbase, b::kTscAdjust, b::kBmi1, b::kHle, b::kAvx2, b::kSmep, b::kBmi2, b::kErms, b::kRtm,
                  b::kRdseed, b::kAdx, b::kSmap, b::kClflushopt, b::kClwb})
    EXPECT_TRUE(e.ebx & bit) << std::hex << bit;
  EXPECT_EQ(e.ecx, 0u) << "PKU/OSPKE hidden: PKRU is not switched";
  EXPECT_EQ(e.edx, c::leaf7_edx::kMdClear) << "no SPEC_CTRL/STIBP/L1D_FLUSH/ARCH_CAPABILITIES/SSBD";
  EXPECT_EQ(sup().find(7, 1), nullptr);
}

TEST_F(Cpuid, Leaf7Subleaf1WhenTheHostHasIt) {
  set_host_leaf(7, 0, 2, 0xd39ffffb, 0x18, 0xbc000400);
  set_host_leaf(7, 1, c::leaf7_1_eax::kAvxVnni | c::leaf7_1_eax::kAvx512Bf16, 1, 2, 3);
  recompute();
  EXPECT_EQ(sup_entry(7, 0).eax, 1u) << "subleaf 2 is beyond what minikvm offers";
  const CpuidEntry &e = sup_entry(7, 1);
  EXPECT_EQ(e.flags, kSig);
  EXPECT_EQ(e.eax, c::leaf7_1_eax::kAvxVnni);
  EXPECT_EQ(e.ebx | e.ecx | e.edx, 0u);
  EXPECT_EQ(sup().find(7, 2), nullptr);
}

TEST_F(Cpuid, NoPmuNoTopologyNoMonitor) {
  for (u32 fn : {0x3u, 0x5u, 0x8u, 0x9u, 0xau, 0xcu, 0xeu, 0x10u, 0x14u, 0x15u, 0x16u}) {
    const CpuidEntry &e = sup_entry(fn);
    EXPECT_EQ(e.eax | e.ebx | e.ecx | e.edx, 0u) << std::hex << fn;
  }
  const CpuidEntry &b = sup_entry(0xb, 0);
  EXPECT_EQ(b.flags, kSig);
  EXPECT_EQ(b.eax | b.ebx | b.ecx | b.edx, 0u);
  EXPECT_EQ(sup().find(0xb, 1), nullptr) << "no subleaf 1: no topology described";
  EXPECT_EQ(sup_entry(6).eax, 1u << 2) << "ARAT only";
  EXPECT_EQ(sup_entry(0xf).flags, kSig);
  EXPECT_EQ(sup_entry(0x14).flags, kSig);
}

TEST_F(Cpuid, XsaveLeafIsConsistentWithX87SseAvx) {
  const SupportedCpuid &s = sup();
  EXPECT_EQ(s.xcr0, 0x7u);
  const CpuidEntry &d0 = sup_entry(0xd, 0);
  EXPECT_EQ(d0.flags, kSig);
  EXPECT_EQ(d0.eax, 0x7u);
  EXPECT_EQ(d0.edx, 0u);
  EXPECT_EQ(d0.ebx, 832u) << "576 + AVX 256 at offset 576";
  EXPECT_EQ(d0.ecx, 832u);
  const CpuidEntry &d1 = sup_entry(0xd, 1);
  EXPECT_EQ(d1.eax, c::leafd_1_eax::kXsaveopt | c::leafd_1_eax::kXsavec | c::leafd_1_eax::kXgetbv1)
      << "no XSAVES: IA32_XSS is not emulated";
  EXPECT_EQ(d1.ebx, 832u);
  EXPECT_EQ(d1.ecx | d1.edx, 0u);
  const CpuidEntry &d2 = sup_entry(0xd, 2);
  EXPECT_EQ(d2.eax, 256u);
  EXPECT_EQ(d2.ebx, 576u);
  for (u32 i = 3; i < 64; i++)
    EXPECT_EQ(s.find(0xd, i), nullptr) << i;
  EXPECT_EQ(mk::x86::xstate_required_size(s, 0x3, false), 576u);
  EXPECT_EQ(mk::x86::xstate_required_size(s, 0x7, true), 832u);
}

TEST_F(Cpuid, CompactedSizeHonorsAlignment) {
  SupportedCpuid s{};
  s.xstate[2] = {256, 576, false};
  s.xstate[5] = {64, 1088, true};
  EXPECT_EQ(mk::x86::xstate_required_size(s, 0x27, false), 1152u);
  EXPECT_EQ(mk::x86::xstate_required_size(s, 0x27, true), 832u + 64u) << "832 is 64-aligned";
  s.xstate[2] = {200, 576, false};
  EXPECT_EQ(mk::x86::xstate_required_size(s, 0x27, true), 832u + 64u) << "776 rounds up to 832";
}

TEST_F(Cpuid, WithoutOsxsaveNoXsaveNoAvx) {
  mk::user::machine().cpuid1_ecx = kSkylakeLeaf1Ecx & ~c::features_ecx::kOsxsave;
  recompute();
  const SupportedCpuid &s = sup();
  EXPECT_FALSE(s.host_xsave);
  EXPECT_EQ(s.xcr0, 0u);
  const CpuidEntry &e1 = sup_entry(1);
  EXPECT_FALSE(e1.ecx & c::features_ecx::kXsave);
  EXPECT_FALSE(e1.ecx & (c::features_ecx::kAvx | c::features_ecx::kFma | c::features_ecx::kF16c));
  EXPECT_FALSE(sup_entry(7).ebx & c::leaf7_ebx::kAvx2);
  const CpuidEntry &d0 = sup_entry(0xd, 0);
  EXPECT_EQ(d0.eax, 0u);
  EXPECT_EQ(d0.ebx, 576u);
  EXPECT_EQ(s.find(0xd, 1), nullptr);
  EXPECT_TRUE(s.cr4_reserved & kCr4Osxsave);
}

TEST_F(Cpuid, ExtendedLeaves) {
  const CpuidEntry &e1 = sup_entry(0x80000001);
  EXPECT_EQ(e1.ecx, c::ext1_ecx::kLahfLm | c::ext1_ecx::kAbm | c::ext1_ecx::kPrefetchw);
  EXPECT_EQ(e1.edx, c::ext1_edx::kSyscall | c::ext1_edx::kNx | c::ext1_edx::kPdpe1gb | c::ext1_edx::kLm)
      << "no RDTSCP: IA32_TSC_AUX is not swapped";
  EXPECT_EQ(sup_entry(0x80000002).eax, 0x65746e49u) << "brand string";
  EXPECT_EQ(sup_entry(0x80000006).ecx, 0x01006040u);
  EXPECT_EQ(sup_entry(0x80000007).edx, c::ext7_edx::kInvariantTsc);
  const CpuidEntry &e8 = sup_entry(0x80000008);
  EXPECT_EQ(e8.eax, 46u | 48u << 8);
  EXPECT_EQ(e8.ebx | e8.ecx | e8.edx, 0u);
}

TEST_F(Cpuid, LinearAddressWidthIs48EvenOnLa57Hosts) {
  set_host_leaf(0x80000008, 0, 52 | 57 << 8, 0, 0, 0);
  set_host_leaf(7, 0, 0, 0xd39ffffb, 0x18 | c::leaf7_ecx::kLa57, 0);
  recompute();
  EXPECT_EQ(sup_entry(0x80000008).eax, 52u | 48u << 8);
  EXPECT_FALSE(sup_entry(7).ecx & c::leaf7_ecx::kLa57);
  EXPECT_TRUE(sup().cr4_reserved & kCr4La57);
}

TEST_F(Cpuid, HypervisorLeavesCarryTheMinikvmSignature) {
  const CpuidEntry &h = sup_entry(0x40000000);
  EXPECT_EQ(h.eax, 0x40000001u) << "KVM's layout: the features leaf follows";
  char sig[13] = {};
  memcpy(sig, &h.ebx, 4);
  memcpy(sig + 4, &h.ecx, 4);
  memcpy(sig + 8, &h.edx, 4);
  EXPECT_STREQ(sig, "minikvm");
  const CpuidEntry &f = sup_entry(0x40000001);
  EXPECT_EQ(f.eax | f.ebx | f.ecx | f.edx, 0u) << "no paravirtual features";
}

TEST_F(Cpuid, SupportedReservedBits) {
  const SupportedCpuid &s = sup();
  for (u64 bit : {kCr4Vmxe, kCr4Smxe, kCr4Pke, kCr4La57, kCr4Pcide, kCr4Umip, 1ull << 15, 1ull << 19, 1ull << 23,
                  1ull << 63})
    EXPECT_TRUE(s.cr4_reserved & bit) << std::hex << bit;
  for (u64 bit : {kCr4Osxsave, kCr4Smep, kCr4Smap, kCr4Fsgsbase, 1ull << 0, 1ull << 5, 1ull << 9, 1ull << 10})
    EXPECT_FALSE(s.cr4_reserved & bit) << std::hex << bit;
  EXPECT_EQ(s.efer, 0xd01u) << "SCE, LME, LMA, NXE";
  EXPECT_TRUE(s.host_xsave);
  EXPECT_TRUE(s.host_pku);
  EXPECT_TRUE(s.host_rtm);
}

TEST_F(Cpuid, NxlessHostOffersNoEferNxe) {
  set_host_leaf(0x80000001, 0, 0, 0, 0x121, 0x2c100800 & ~c::ext1_edx::kNx);
  recompute();
  EXPECT_EQ(sup().efer, 0x501u);
}

// ---- KVM_GET_SUPPORTED_CPUID ------------------------------------------------

TEST_F(Cpuid, GetSupportedCopiesTheTable) {
  const SupportedCpuid &s = sup();
  UserCpuid2 u(mk::x86::kMaxCpuidEntries);
  ASSERT_EQ(mk::x86::get_supported_cpuid(u.arg()), 0);
  ASSERT_EQ(u.hdr()->nent, s.nent);
  EXPECT_EQ(memcmp(u.entries(), s.entries, s.nent * sizeof(CpuidEntry)), 0);
}

TEST_F(Cpuid, GetSupportedExactFit) {
  u32 n = sup().nent;
  UserCpuid2 u(n);
  EXPECT_EQ(mk::x86::get_supported_cpuid(u.arg()), 0);
  EXPECT_EQ(u.hdr()->nent, n);
}

TEST_F(Cpuid, GetSupportedTooSmallIsE2bigAndNentUntouched) {
  u32 n = sup().nent;
  for (u32 room : {0u, 1u, n - 1}) {
    UserCpuid2 u(room + 1);
    u.hdr()->nent = room;
    u.entries()[0].function = 0xdead;
    EXPECT_EQ(mk::x86::get_supported_cpuid(u.arg()), -E2BIG) << room;
    EXPECT_EQ(u.hdr()->nent, room) << "KVM does not report the size needed";
    EXPECT_EQ(u.entries()[0].function, 0xdeadu) << "nothing copied";
  }
}

TEST_F(Cpuid, GetSupportedHugeNentIsClampedNotRefused) {
  UserCpuid2 u(mk::x86::kMaxCpuidEntries);
  u.hdr()->nent = 0xffffffff;  // the buffer only needs room for the table
  EXPECT_EQ(mk::x86::get_supported_cpuid(u.arg()), 0);
  EXPECT_EQ(u.hdr()->nent, sup().nent);
}

TEST_F(Cpuid, GetSupportedBadPointerIsEfault) {
  EXPECT_EQ(mk::x86::get_supported_cpuid(0), -EFAULT);
  EXPECT_EQ(mk::x86::get_supported_cpuid(mk::user::kBadUserLimit - 8), -EFAULT);
}

TEST_F(Cpuid, EveryIndexedLeafIsFlagged) {
  const SupportedCpuid &s = sup();
  for (u32 i = 0; i < s.nent; i++) {
    const CpuidEntry &e = s.entries[i];
    EXPECT_EQ(e.flags, mk::x86::cpuid_function_is_indexed(e.function) ? kSig : 0u) << std::hex << e.function;
    EXPECT_EQ(e.padding[0] | e.padding[1] | e.padding[2], 0u);
  }
}

// ---- KVM_SET_CPUID2 / KVM_GET_CPUID2 ------------------------------------------

class GuestCpuidTest : public Cpuid {
 protected:
  // What a VMM does first: the supported table, unmodified.
  long set_supported(GuestCpuid &g, bool ran = false) {
    UserCpuid2 u = from_entries(sup().entries, sup().nent);
    return g.set_cpuid2(u.arg(), ran);
  }
};

TEST_F(GuestCpuidTest, NewVcpuHasNoCpuid) {
  GuestCpuid g;
  EXPECT_EQ(g.nent(), 0u);
  bool exact = true;
  c::Regs r = g.lookup(0, 0, &exact);
  EXPECT_FALSE(exact);
  EXPECT_EQ(r.eax | r.ebx | r.ecx | r.edx, 0u);
  EXPECT_EQ(g.max_phys_addr(), 36u);
  UserCpuid2 u(0);
  EXPECT_EQ(g.get_cpuid2(u.arg()), 0);
}

TEST_F(GuestCpuidTest, SetThenGetReturnsTheTableWithRuntimeBits) {
  GuestCpuid g;
  g.set_apic_base(0xfee00900);  // what GuestMsrs does for vCPU 0
  ASSERT_EQ(set_supported(g), 0);
  ASSERT_EQ(g.nent(), sup().nent);
  UserCpuid2 u(g.nent());
  ASSERT_EQ(g.get_cpuid2(u.arg()), 0);
  EXPECT_EQ(u.hdr()->nent, sup().nent);
  for (u32 i = 0; i < sup().nent; i++) {
    const CpuidEntry &a = u.entries()[i], &b = sup().entries[i];
    EXPECT_EQ(a.function, b.function);
    EXPECT_EQ(a.index, b.index);
    EXPECT_EQ(a.flags, b.flags);
    if (a.function == 0xd && a.index <= 1) {
      EXPECT_EQ(a.ebx, 576u) << "XSAVE size for XCR0 = x87";
      continue;
    }
    EXPECT_TRUE(a.eax == b.eax && a.ebx == b.ebx && a.ecx == b.ecx && a.edx == b.edx) << std::hex << a.function;
  }
}

TEST_F(GuestCpuidTest, GetCpuid2TooSmallIsE2big) {
  GuestCpuid g;
  ASSERT_EQ(set_supported(g), 0);
  UserCpuid2 u(g.nent());
  u.hdr()->nent = g.nent() - 1;
  EXPECT_EQ(g.get_cpuid2(u.arg()), -E2BIG);
  EXPECT_EQ(u.hdr()->nent, g.nent() - 1) << "KVM 6.1 does not write nent back on -E2BIG";
  UserCpuid2 big(g.nent() + 10);
  EXPECT_EQ(g.get_cpuid2(big.arg()), 0);
  EXPECT_EQ(big.hdr()->nent, g.nent() + 10) << "KVM 6.1 leaves nent as given on success";
  EXPECT_EQ(g.get_cpuid2(0), -EFAULT);
}

TEST_F(GuestCpuidTest, SetCpuid2Errors) {
  GuestCpuid g;
  ASSERT_EQ(set_supported(g), 0);
  u32 before = g.nent();
  UserCpuid2 big(mk::x86::kMaxCpuidEntries + 1);
  EXPECT_EQ(g.set_cpuid2(big.arg(), false), -E2BIG);
  EXPECT_EQ(g.set_cpuid2(0, false), -EFAULT);
  // A header that is readable but entries that are not cannot be built from
  // one user buffer in the simulated platform; nent > 256 is checked first.
  UserCpuid2 one(1);
  one.entries()[0] = entry(0, 0, 0, 0xd, 0, 0, 0);
  mk::user::fail_alloc_after(0);  // the test's own buffers come from the same allocator
  EXPECT_EQ(g.set_cpuid2(one.arg(), false), -ENOMEM);
  mk::user::fail_alloc_after(-1);
  EXPECT_EQ(g.nent(), before) << "errors keep the old table";
}

TEST_F(GuestCpuidTest, SetCpuid2EmptyClearsTheTable) {
  GuestCpuid g;
  ASSERT_EQ(set_supported(g), 0);
  UserCpuid2 none(0);
  EXPECT_EQ(g.set_cpuid2(none.arg(), false), 0);
  EXPECT_EQ(g.nent(), 0u);
}

TEST_F(GuestCpuidTest, LegacySetCpuidHasNoIndexNorFlags) {
  GuestCpuid g;
  std::vector<unsigned char> buf(sizeof(kvm_cpuid) + 2 * sizeof(kvm_cpuid_entry), 0);
  auto *hdr = reinterpret_cast<kvm_cpuid *>(buf.data());
  hdr->nent = 2;
  hdr->entries[0] = {0x0, 0xd, 1, 2, 3, 0};
  hdr->entries[1] = {0x7, 0, c::leaf7_ebx::kSmep, 0, 0, 0};
  ASSERT_EQ(g.set_cpuid(reinterpret_cast<unsigned long>(buf.data()), false), 0);
  ASSERT_EQ(g.nent(), 2u);
  EXPECT_EQ(g.entries()[1].index, 0u);
  EXPECT_EQ(g.entries()[1].flags, 0u) << "so 7 matches any subleaf";
  EXPECT_EQ(g.lookup(7, 3).ebx, c::leaf7_ebx::kSmep);
  EXPECT_EQ(g.set_cpuid(0, false), -EFAULT);
  hdr->nent = 257;
  EXPECT_EQ(g.set_cpuid(reinterpret_cast<unsigned long>(buf.data()), false), -E2BIG);
}

TEST_F(GuestCpuidTest, AfterRunOnlyTheSameTableIsAccepted) {
  GuestCpuid g;
  ASSERT_EQ(set_supported(g), 0);
  EXPECT_EQ(set_supported(g, true), 0) << "VMMs re-set CPUID on hotplug";
  std::vector<CpuidEntry> t(sup().entries, sup().entries + sup().nent);
  for (auto &e : t)
    if (e.function == 7)
      e.ebx--;
  UserCpuid2 changed = from_entries(t.data(), static_cast<u32>(t.size()));
  EXPECT_EQ(g.set_cpuid2(changed.arg(), true), -EINVAL);
  UserCpuid2 shorter = from_entries(sup().entries, sup().nent - 1);
  EXPECT_EQ(g.set_cpuid2(shorter.arg(), true), -EINVAL);
  // The dynamic bits do not count as a change: they are recomputed first.
  t.assign(sup().entries, sup().entries + sup().nent);
  for (auto &e : t)
    if (e.function == 1)
      e.ecx |= c::features_ecx::kOsxsave;
  UserCpuid2 osxsave = from_entries(t.data(), static_cast<u32>(t.size()));
  EXPECT_EQ(g.set_cpuid2(osxsave.arg(), true), 0);
  EXPECT_EQ(g.set_cpuid2(changed.arg(), false), 0) << "before the first run anything goes";
}

TEST_F(GuestCpuidTest, LinearAddressWidthMustBe48Or57) {
  GuestCpuid g;
  for (u32 bits : {0u, 48u, 57u, 39u, 64u}) {
    CpuidEntry t[] = {entry(0x80000000, 0, 0, 0x80000008, 0, 0, 0), entry(0x80000008, 0, 0, 40 | bits << 8, 0, 0, 0)};
    UserCpuid2 u = from_entries(t, 2);
    EXPECT_EQ(g.set_cpuid2(u.arg(), false), (bits == 0 || bits == 48 || bits == 57) ? 0 : -EINVAL) << bits;
  }
}

TEST_F(GuestCpuidTest, NoLeaksWhenAllocationsFail) {
  for (int n = 0; n < 4; n++) {
    long live = mk_alloc_live();
    {
      GuestCpuid g;
      UserCpuid2 u = from_entries(sup().entries, sup().nent);
      mk::user::fail_alloc_after(n);
      long r = g.set_cpuid2(u.arg(), false);
      mk::user::fail_alloc_after(-1);
      EXPECT_TRUE(r == 0 || r == -ENOMEM) << r;
      std::vector<unsigned char> buf(sizeof(kvm_cpuid) + sizeof(kvm_cpuid_entry), 0);
      reinterpret_cast<kvm_cpuid *>(buf.data())->nent = 1;
      mk::user::fail_alloc_after(n);
      r = g.set_cpuid(reinterpret_cast<unsigned long>(buf.data()), false);
      mk::user::fail_alloc_after(-1);
      EXPECT_TRUE(r == 0 || r == -ENOMEM) << r;
    }
    EXPECT_EQ(mk_alloc_live(), live) << n;
  }
}

// ---- lookup: kvm_cpuid() semantics ---------------------------------------

class CpuidLookup : public Cpuid {
 protected:
  void SetUp() override {
    Cpuid::SetUp();
    CpuidEntry t[] = {
        entry(0x0, 0, 0, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69),  // GenuineIntel, max 0DH
        entry(0x1, 0, 0, 0x50654, 0x800, 0, 0),
        entry(0xb, 0, kSig, 1, 2, 0x100, 9),
        entry(0xb, 1, kSig, 5, 8, 0x201, 9),
        entry(0xd, 0, kSig, 0x7, 0x240, 0x340, 0),
        entry(0xd, 1, kSig, 0x1, 0, 0, 0),
        entry(0x40000000, 0, 0, 0x40000001, 1, 2, 3),
        entry(0x80000000, 0, 0, 0x80000008, 0, 0, 0),
        entry(0x80000008, 0, 0, 0x302e, 0, 0, 0),
    };
    ASSERT_EQ(g.set_entries(t, sizeof(t) / sizeof(t[0]), false), 0);
  }
  void TearDown() override {
    ASSERT_EQ(g.set_entries(nullptr, 0, false), 0);  // frees the table before the leak check
    Cpuid::TearDown();
  }
  void expect(u32 leaf, u32 sub, c::Regs want, bool want_exact) {
    bool exact = !want_exact;
    c::Regs r = g.lookup(leaf, sub, &exact);
    EXPECT_EQ(exact, want_exact) << std::hex << leaf << "." << sub;
    EXPECT_EQ(r.eax, want.eax) << std::hex << leaf << "." << sub;
    EXPECT_EQ(r.ebx, want.ebx) << std::hex << leaf << "." << sub;
    EXPECT_EQ(r.ecx, want.ecx) << std::hex << leaf << "." << sub;
    EXPECT_EQ(r.edx, want.edx) << std::hex << leaf << "." << sub;
  }
  GuestCpuid g;
};

TEST_F(CpuidLookup, ExactMatchesHonorTheSignificantIndexFlag) {
  expect(1, 0, {0x50654, 0x800, 0, 0}, true);
  expect(1, 7, {0x50654, 0x800, 0, 0}, true);  // leaf 1 is not indexed
  // The runtime APIC bit follows IA32_APIC_BASE (0 here).
  expect(0xd, 1, {0x1, 0, 0, 0}, true);  // no XSAVEC: EBX is not a size
  expect(0xd, 0, {0x7, 576, 0x340, 0}, true);
}

TEST_F(CpuidLookup, InRangeButAbsentIsZero) {
  expect(3, 0, {0, 0, 0, 0}, false);
  expect(0xd, 2, {0, 0, 0, 0}, false);
  expect(0x40000001, 0, {0, 0, 0, 0}, false);
  expect(0x80000005, 0, {0, 0, 0, 0}, false);
}

TEST_F(CpuidLookup, AboveTheClassMaximumReadsTheHighestBasicLeaf) {
  // SDM vol. 2A: out-of-range leaves return the highest basic leaf's data,
  // ECX still selecting its subleaf.
  expect(0xe, 1, {0x1, 0, 0, 0}, false);
  expect(0x20, 0, {0x7, 576, 0x340, 0}, false);
  expect(0x80000009, 1, {0x1, 0, 0, 0}, false);
  expect(0x40000002, 0, {0x7, 576, 0x340, 0}, false);
  expect(0x40000100, 0, {0x7, 576, 0x340, 0}, false);  // a hypervisor class that does not exist
  expect(0x50000000, 0, {0x7, 576, 0x340, 0}, false);
  expect(0xc0000000, 0, {0x7, 576, 0x340, 0}, false);  // no Centaur class
  expect(0xffffffff, 0, {0x7, 576, 0x340, 0}, false);
}

TEST_F(CpuidLookup, TopologyLeafEchoesSubleafAndX2apicId) {
  expect(0xb, 0, {1, 2, 0x100, 9}, true);
  expect(0xb, 5, {0, 0, 5, 9}, false);
  expect(0xb, 0x1ff, {0, 0, 0xff, 9}, false);
  expect(0x1f, 3, {0, 0, 0, 0}, false);  // 1FH has no subleaf 1 here
}

TEST_F(CpuidLookup, RedirectToMaxBasicTopologyLeafKeepsItsRules) {
  CpuidEntry t[] = {
      entry(0x0, 0, 0, 0xb, 0x756e6547, 0x6c65746e, 0x49656e69),
      entry(0xb, 0, kSig, 1, 2, 0x100, 4),
      entry(0xb, 1, kSig, 5, 8, 0x201, 4),
  };
  ASSERT_EQ(g.set_entries(t, 3, false), 0);
  expect(0x30, 1, {5, 8, 0x201, 4}, false);
  expect(0x30, 7, {0, 0, 7, 4}, false);
}

TEST_F(CpuidLookup, AmdVendorsGiveZerosOutOfRange) {
  for (const char *v : {"AuthenticAMD", "HygonGenuine"}) {
    u32 r[3];
    memcpy(r, v, 12);
    CpuidEntry t[] = {entry(0x0, 0, 0, 0xd, r[0], r[2], r[1]), entry(0xd, 0, kSig, 7, 0, 0, 0)};
    ASSERT_EQ(g.set_entries(t, 2, false), 0);
    EXPECT_TRUE(g.vendor_is_amd_like()) << v;
    expect(0x20, 0, {0, 0, 0, 0}, false);
  }
}

TEST_F(CpuidLookup, NoLeaf0NoRedirect) {
  CpuidEntry t[] = {entry(0xd, 0, kSig, 7, 0, 0, 0)};
  ASSERT_EQ(g.set_entries(t, 1, false), 0);
  expect(0x20, 0, {0, 0, 0, 0}, false);
}

// ---- runtime bits ------------------------------------------------------------

TEST_F(GuestCpuidTest, RuntimeBitsFollowTheVcpu) {
  GuestCpuid g;
  ASSERT_EQ(set_supported(g), 0);
  auto leaf = [&](u32 fn, u32 idx) { return *g.find(fn, idx); };
  EXPECT_FALSE(leaf(1, 0).ecx & c::features_ecx::kOsxsave);
  EXPECT_FALSE(leaf(1, 0).edx & c::features_edx::kApic) << "APIC base 0: disabled";
  g.set_cr4(kCr4Osxsave | kCr4Pke);
  EXPECT_TRUE(leaf(1, 0).ecx & c::features_ecx::kOsxsave);
  EXPECT_TRUE(leaf(7, 0).ecx & c::leaf7_ecx::kOspke) << "the host has PKU: OSPKE mirrors CR4.PKE";
  EXPECT_TRUE(g.lookup(1, 0).ecx & c::features_ecx::kOsxsave);
  g.set_cr4(0);
  EXPECT_FALSE(leaf(1, 0).ecx & c::features_ecx::kOsxsave);
  EXPECT_FALSE(leaf(7, 0).ecx & c::leaf7_ecx::kOspke);
  g.set_apic_base(0xfee00800);
  EXPECT_TRUE(leaf(1, 0).edx & c::features_edx::kApic);
  g.set_apic_base(0xfee00000);
  EXPECT_FALSE(leaf(1, 0).edx & c::features_edx::kApic);
  EXPECT_EQ(leaf(0xd, 0).ebx, 576u);
  EXPECT_EQ(leaf(0xd, 1).ebx, 576u);
  g.set_xcr0(0x7);
  EXPECT_EQ(leaf(0xd, 0).ebx, 832u);
  EXPECT_EQ(leaf(0xd, 1).ebx, 832u);
  EXPECT_EQ(leaf(0xd, 0).ecx, 832u) << "ECX (all supported) does not move";
}

TEST_F(GuestCpuidTest, OsxsaveIsNotTouchedWithoutHostXsave) {
  mk::user::machine().cpuid1_ecx = kSkylakeLeaf1Ecx & ~c::features_ecx::kOsxsave;
  recompute();
  GuestCpuid g;
  CpuidEntry t[] = {entry(1, 0, 0, 0, 0, c::features_ecx::kOsxsave, 0)};
  ASSERT_EQ(g.set_entries(t, 1, false), 0);
  EXPECT_TRUE(g.find(1, 0)->ecx & c::features_ecx::kOsxsave) << "KVM: only if boot_cpu_has(XSAVE)";
}

// ---- what the rest of minikvm derives -----------------------------------------

TEST_F(GuestCpuidTest, MaxPhysAddr) {
  GuestCpuid g;
  ASSERT_EQ(set_supported(g), 0);
  EXPECT_EQ(g.max_phys_addr(), 46u);
  EXPECT_EQ(g.reserved_gpa_bits(), ~0ull << 46);
  CpuidEntry low[] = {entry(0x80000000, 0, 0, 0x80000007, 0, 0, 0), entry(0x80000008, 0, 0, 0x3027, 0, 0, 0)};
  ASSERT_EQ(g.set_entries(low, 2, false), 0);
  EXPECT_EQ(g.max_phys_addr(), 36u) << "80000000H does not reach 80000008H";
  CpuidEntry only8[] = {entry(0x80000008, 0, 0, 0x3027, 0, 0, 0)};
  ASSERT_EQ(g.set_entries(only8, 1, false), 0);
  EXPECT_EQ(g.max_phys_addr(), 36u);
  CpuidEntry ok[] = {entry(0x80000000, 0, 0, 0x80000008, 0, 0, 0), entry(0x80000008, 0, 0, 0x3027, 0, 0, 0)};
  ASSERT_EQ(g.set_entries(ok, 2, false), 0);
  EXPECT_EQ(g.max_phys_addr(), 39u);
}

TEST_F(GuestCpuidTest, Cr4ReservedBitsFollowGuestAndMinikvm) {
  GuestCpuid g;
  EXPECT_EQ(g.cr4_reserved_bits() & (kCr4Osxsave | kCr4Smep | kCr4Smap | kCr4Fsgsbase),
            kCr4Osxsave | kCr4Smep | kCr4Smap | kCr4Fsgsbase)
      << "an empty CPUID backs none of them";
  ASSERT_EQ(set_supported(g), 0);
  u64 r = g.cr4_reserved_bits();
  EXPECT_FALSE(r & (kCr4Osxsave | kCr4Smep | kCr4Smap | kCr4Fsgsbase));
  EXPECT_TRUE(r & kCr4Pke);
  EXPECT_TRUE(r & kCr4Vmxe);
  EXPECT_TRUE(r & kCr4Smxe);
  EXPECT_FALSE(r & 0x7ff) << "VME..OSXMMEXCPT are always allowed";
  // A VMM may claim VMX, PKU or LA57 in the guest's CPUID; minikvm still
  // refuses the CR4 bits it cannot honor.
  std::vector<CpuidEntry> t(sup().entries, sup().entries + sup().nent);
  for (auto &e : t) {
    if (e.function == 1)
      e.ecx |= c::features_ecx::kVmx;
    if (e.function == 7)
      e.ecx |= c::leaf7_ecx::kPku | c::leaf7_ecx::kLa57;
    if (e.function == 7)
      e.ebx &= ~c::leaf7_ebx::kSmep;
  }
  ASSERT_EQ(g.set_entries(t.data(), static_cast<u32>(t.size()), false), 0);
  r = g.cr4_reserved_bits();
  EXPECT_TRUE(r & kCr4Vmxe);
  EXPECT_TRUE(r & kCr4Pke);
  EXPECT_TRUE(r & kCr4La57);
  EXPECT_TRUE(r & kCr4Smep) << "and whatever the guest's CPUID leaves out";
  EXPECT_EQ(mk::x86::cr4_reserved_bits_for(nullptr, 0) & kCr4Umip, kCr4Umip);
}

TEST_F(GuestCpuidTest, EferReservedBits) {
  namespace efer = ia32::msr::efer;
  GuestCpuid g;
  ASSERT_EQ(set_supported(g), 0);
  EXPECT_EQ(g.efer_reserved_bits(), ~(efer::kSce | efer::kLme | efer::kLma | efer::kNxe));
  EXPECT_EQ(g.efer_reserved_bits_host(), ~(efer::kSce | efer::kLme | efer::kLma | efer::kNxe));
  CpuidEntry no_lm[] = {entry(0x80000001, 0, 0, 0, 0, 0, c::ext1_edx::kSyscall)};
  ASSERT_EQ(g.set_entries(no_lm, 1, false), 0);
  EXPECT_TRUE(g.efer_reserved_bits() & efer::kLme);
  EXPECT_TRUE(g.efer_reserved_bits() & efer::kLma);
  EXPECT_TRUE(g.efer_reserved_bits() & efer::kNxe);
  EXPECT_FALSE(g.efer_reserved_bits() & efer::kSce);
  EXPECT_FALSE(g.efer_reserved_bits_host() & efer::kLme) << "userspace is judged by minikvm's EFER only";
  EXPECT_TRUE(g.efer_reserved_bits_host() & efer::kSvme);
}

TEST_F(GuestCpuidTest, Xcr0Supported) {
  GuestCpuid g;
  EXPECT_EQ(g.xcr0_supported(), 0x1u);
  ASSERT_EQ(set_supported(g), 0);
  EXPECT_EQ(g.xcr0_supported(), 0x7u);
  CpuidEntry avx512[] = {entry(0xd, 0, kSig, 0x2e7, 0, 0, 0)};
  ASSERT_EQ(g.set_entries(avx512, 1, false), 0);
  EXPECT_EQ(g.xcr0_supported(), 0x7u) << "masked by what minikvm supports";
  CpuidEntry sse[] = {entry(0xd, 0, kSig, 0x3, 0, 0, 0)};
  ASSERT_EQ(g.set_entries(sse, 1, false), 0);
  EXPECT_EQ(g.xcr0_supported(), 0x3u);
}

TEST_F(GuestCpuidTest, HasUsesTheSubleaf) {
  GuestCpuid g;
  ASSERT_EQ(set_supported(g), 0);
  EXPECT_TRUE(g.has(c::feature::kXsave));
  EXPECT_TRUE(g.has(c::feature::kTscAdjust));
  EXPECT_TRUE(g.has(c::feature::kXsavec));
  EXPECT_FALSE(g.has(c::feature::kXsaves));
  EXPECT_TRUE(g.has(c::feature::kX2apic)) << "emulated by the in-kernel LAPIC, offered as KVM does";
  EXPECT_FALSE(g.has(c::feature::kTscDeadline)) << "as KVM: userspace adds it";
  EXPECT_FALSE(g.has(c::feature::kRdtscp));
  EXPECT_TRUE(g.has(c::feature::kLm));
}

}  // namespace
