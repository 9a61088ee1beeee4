// SPDX-License-Identifier: GPL-2.0
// Guest MSRs (kmod/core/x86/msrs.cpp): KVM's per-MSR rules for guest and
// host-initiated accesses, the MsrContext split, and the KVM_GET_MSRS/
// KVM_SET_MSRS/KVM_GET_MSR_INDEX_LIST contracts, on a simulated Skylake-SP
// host with the supported CPUID as the guest's.
#include <gtest/gtest.h>

#include <type_traits>
#include <linux/kvm.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/x86/cpuid.h"
#include "core/x86/msrs.h"
#include "ia32/msr.h"
#include "user_platform.h"

extern "C" long mk_alloc_live(void);

using mk::u32;
using mk::u64;
using mk::x86::CpuidEntry;
using mk::x86::GuestCpuid;
using mk::x86::GuestMsrs;
using mk::x86::kMsrFault;
using mk::x86::kMsrOk;
using mk::x86::VmcsMsr;
namespace m = ia32::msr;
namespace c = ia32::cpuid;
using I = m::Index;

namespace {

constexpr u64 kNonCanonical = 0x0000800000000000ull;
constexpr u64 kCanonicalHigh = 0xffff800000000000ull;

// The vCPU side: VMCS fields, EFER, CR0 and the TSC offset, as plain fields.
struct FakeVcpu final : mk::x86::MsrContext {
  u64 vmcs[7] = {};
  u64 efer_ = 0, cr0_ = 0x60000010, offset = 0, host = 1000000;
  int efer_writes = 0;
  u64 read_vmcs_msr(VmcsMsr msr) override { return vmcs[static_cast<int>(msr)]; }
  void write_vmcs_msr(VmcsMsr msr, u64 v) override { vmcs[static_cast<int>(msr)] = v; }
  u64 efer() override { return efer_; }
  void set_efer(u64 v) override {
    efer_ = v;
    efer_writes++;
  }
  u64 cr0() override { return cr0_; }
  u64 tsc_offset() override { return offset; }
  void set_tsc_offset(u64 v) override { offset = v; }
  u64 host_tsc() override { return host; }
  u64 &field(VmcsMsr msr) { return vmcs[static_cast<int>(msr)]; }
};

// kvm_msrs / kvm_msr_list buffers as userspace builds them.
struct UserMsrs {
  explicit UserMsrs(u32 n) : buf(sizeof(kvm_msrs) + n * sizeof(kvm_msr_entry), 0) { hdr()->nmsrs = n; }
  kvm_msrs *hdr() { return reinterpret_cast<kvm_msrs *>(buf.data()); }
  kvm_msr_entry &at(u32 i) { return hdr()->entries[i]; }
  unsigned long arg() { return reinterpret_cast<unsigned long>(buf.data()); }
  std::vector<unsigned char> buf;
};
struct UserMsrList {
  explicit UserMsrList(u32 n) : buf(sizeof(kvm_msr_list) + n * sizeof(u32), 0) { hdr()->nmsrs = n; }
  kvm_msr_list *hdr() { return reinterpret_cast<kvm_msr_list *>(buf.data()); }
  unsigned long arg() { return reinterpret_cast<unsigned long>(buf.data()); }
  std::vector<unsigned char> buf;
};

class Msrs : public ::testing::Test {
 protected:
  void SetUp() override {
    mk::user::reset_machine();
    mk::user::machine().cpuid = mk::user::SimMachine::skylake_cpuid();
    mk::user::machine().cpuid1_ecx = 0x7ffefbff;
    ASSERT_EQ(mk::x86::init_supported_cpuid(), 0);
    live_ = mk_alloc_live();
    cpuid_ = new GuestCpuid();
    // What a VMM does: give the vCPU the supported CPUID.
    const auto &s = mk::x86::supported_cpuid();
    ASSERT_EQ(cpuid_->set_entries(s.entries, s.nent, false), 0);
    msrs_ = new GuestMsrs(0, *cpuid_, vcpu_);
  }
  void TearDown() override {
    mk::user::fail_alloc_after(-1);
    delete msrs_;
    delete cpuid_;
    EXPECT_EQ(mk_alloc_live(), live_) << "allocations leaked";
    mk::user::reset_machine();
    mk::x86::init_supported_cpuid();
  }
  u64 get(u32 index, bool host = false) {
    u64 v = 0xbad;
    EXPECT_EQ(msrs_->get(index, &v, host), kMsrOk) << std::hex << index;
    return v;
  }
  int set(u32 index, u64 v, bool host = false) { return msrs_->set(index, v, host); }
  int set_both(u32 index, u64 v) {
    int g = set(index, v, false), h = set(index, v, true);
    EXPECT_EQ(g, h) << std::hex << index << " " << v;
    return g;
  }
  // Replaces the guest's CPUID with the supported one edited by f.
  template <class F> void edit_cpuid(F f) {
    const auto &s = mk::x86::supported_cpuid();
    std::vector<CpuidEntry> t(s.entries, s.entries + s.nent);
    for (auto &e : t)
      f(e);
    ASSERT_EQ(cpuid_->set_entries(t.data(), static_cast<u32>(t.size()), false), 0);
  }
  FakeVcpu vcpu_;
  GuestCpuid *cpuid_ = nullptr;
  GuestMsrs *msrs_ = nullptr;
  long live_ = 0;
};

// ---- power-on values ------------------------------------------------------------

TEST_F(Msrs, PowerOnValuesAreKvms) {
  EXPECT_EQ(get(+I::kApicBase), 0xfee00900u) << "xAPIC enabled, BSP";
  EXPECT_EQ(get(+I::kMiscEnable), 0x1800u) << "BTS and PEBS unavailable";
  EXPECT_EQ(get(+I::kUcodeRev), 0x100000000ull);
  EXPECT_EQ(get(+I::kMcgCap), 32u);
  EXPECT_EQ(get(+I::kMtrrCap), 0x508u) << "WC, fixed ranges, 8 variable";
  EXPECT_EQ(get(+I::kFeatureControl), 0u);
  EXPECT_EQ(get(+I::kMtrrDefType), 0u);
  EXPECT_EQ(get(+I::kTscAdjust), 0u);
  GuestMsrs ap(1, *cpuid_, vcpu_);
  u64 v;
  ASSERT_EQ(ap.get(+I::kApicBase, &v, false), kMsrOk);
  EXPECT_EQ(v, 0xfee00800u) << "not the BSP";
  EXPECT_TRUE(cpuid_->find(1, 0)->edx & c::features_edx::kApic) << "CPUID.1:EDX.APIC follows APIC_BASE.EN";
}

// ---- SYSCALL MSRs: kept here, swapped by the vCPU loop ---------------------------

TEST_F(Msrs, SyscallMsrsAreStoredForTheVcpuLoop) {
  EXPECT_EQ(set(+I::kStar, 0x0023001000000000ull), kMsrOk);
  EXPECT_EQ(set(+I::kLstar, kCanonicalHigh | 0x1000), kMsrOk);
  EXPECT_EQ(set(+I::kCstar, kCanonicalHigh | 0x2000), kMsrOk);
  EXPECT_EQ(set(+I::kSyscallMask, 0x47700), kMsrOk);
  EXPECT_EQ(set(+I::kKernelGsBase, kCanonicalHigh | 0x3000), kMsrOk);
  u64 want[] = {0x0023001000000000ull, kCanonicalHigh | 0x1000, kCanonicalHigh | 0x2000, 0x47700,
                kCanonicalHigh | 0x3000};
  for (u32 i = 0; i < mk::x86::kNumSyscallMsrs; i++) {
    EXPECT_EQ(msrs_->syscall_msr(i), want[i]) << i;
    EXPECT_EQ(get(mk::x86::kSyscallMsrIndex[i]), want[i]) << i;
  }
  EXPECT_EQ(msrs_->syscall_msr(mk::x86::SyscallMsr::kSfmask), 0x47700u);
  EXPECT_EQ(mk::x86::kSyscallMsrIndex[0], 0xc0000081u);
  EXPECT_EQ(mk::x86::kSyscallMsrIndex[4], 0xc0000102u);
}

TEST_F(Msrs, AddressMsrsMustBeCanonical) {
  for (u32 msr : {+I::kLstar, +I::kCstar, +I::kKernelGsBase, +I::kFsBase, +I::kGsBase}) {
    EXPECT_EQ(set_both(msr, kNonCanonical), kMsrFault) << std::hex << msr;
    EXPECT_EQ(set_both(msr, 0x00007fffffffffffull), kMsrOk) << std::hex << msr;
    EXPECT_EQ(set_both(msr, kCanonicalHigh), kMsrOk) << std::hex << msr;
    EXPECT_EQ(get(msr), kCanonicalHigh);
  }
  EXPECT_EQ(vcpu_.field(VmcsMsr::kFsBase), kCanonicalHigh) << "FS/GS bases live in the VMCS";
  EXPECT_EQ(vcpu_.field(VmcsMsr::kGsBase), kCanonicalHigh);
  EXPECT_EQ(set_both(+I::kStar, ~0ull), kMsrOk) << "STAR has no reserved bits";
}

TEST_F(Msrs, SfmaskUpperHalfIsReserved) {
  EXPECT_EQ(set_both(+I::kSyscallMask, 1ull << 32), kMsrFault);
  EXPECT_EQ(set_both(+I::kSyscallMask, 0xffffffffull), kMsrOk);
}

TEST_F(Msrs, SysenterMsrsGoToTheVmcs) {
  EXPECT_EQ(set(+I::kSysenterCs, 0x1234500000010ull), kMsrOk);
  EXPECT_EQ(vcpu_.field(VmcsMsr::kSysenterCs), 0x10u) << "a 32-bit field";
  EXPECT_EQ(get(+I::kSysenterCs), 0x10u);
  EXPECT_EQ(set(+I::kSysenterEsp, kNonCanonical, true), kMsrOk) << "userspace's: made canonical";
  EXPECT_EQ(get(+I::kSysenterEsp), kCanonicalHigh);
  EXPECT_EQ(set(+I::kSysenterEip, kNonCanonical), kMsrFault) << "the guest's: #GP, as the CPU";
  EXPECT_EQ(set(+I::kSysenterEip, kCanonicalHigh | 0x10), kMsrOk);
  EXPECT_EQ(get(+I::kSysenterEip), kCanonicalHigh | 0x10);
  EXPECT_EQ(set(+I::kSysenterEip, 0x12345678), kMsrOk);
  EXPECT_EQ(vcpu_.field(VmcsMsr::kSysenterEip), 0x12345678u);
}

// ---- EFER ---------------------------------------------------------------------------

TEST_F(Msrs, EferFollowsCpuidAndPaging) {
  namespace e = m::efer;
  EXPECT_EQ(set(+I::kEfer, e::kSce | e::kLme | e::kNxe), kMsrOk);
  EXPECT_EQ(vcpu_.efer_, e::kSce | e::kLme | e::kNxe);
  EXPECT_EQ(get(+I::kEfer), e::kSce | e::kLme | e::kNxe);
  EXPECT_EQ(set_both(+I::kEfer, e::kSvme), kMsrFault) << "AMD only";
  EXPECT_EQ(set_both(+I::kEfer, e::kFfxsr), kMsrFault);
  EXPECT_EQ(set_both(+I::kEfer, 1ull << 1), kMsrFault);
  // LMA is the CPU's: WRMSR neither sets nor clears it.
  EXPECT_EQ(set(+I::kEfer, e::kLme | e::kLma), kMsrOk);
  EXPECT_EQ(vcpu_.efer_, e::kLme);
  vcpu_.efer_ = e::kLme | e::kLma;
  EXPECT_EQ(set(+I::kEfer, e::kLme | e::kSce), kMsrOk);
  EXPECT_EQ(vcpu_.efer_, e::kLme | e::kLma | e::kSce);
  // With paging on, LME is frozen for the guest, not for userspace.
  vcpu_.cr0_ |= 1ull << 31;
  EXPECT_EQ(set(+I::kEfer, e::kSce), kMsrFault);
  EXPECT_EQ(set(+I::kEfer, e::kSce, true), kMsrOk);
  EXPECT_EQ(vcpu_.efer_, e::kSce | e::kLma);
}

TEST_F(Msrs, EferBitsTheGuestCpuidLacks) {
  namespace e = m::efer;
  edit_cpuid([](CpuidEntry &x) {
    if (x.function == 0x80000001)
      x.edx &= ~(c::ext1_edx::kLm | c::ext1_edx::kNx);
  });
  int writes = vcpu_.efer_writes;
  EXPECT_EQ(set(+I::kEfer, e::kLme), kMsrFault);
  EXPECT_EQ(set(+I::kEfer, e::kNxe), kMsrFault);
  EXPECT_EQ(vcpu_.efer_writes, writes) << "a refused write changes nothing";
  EXPECT_EQ(set(+I::kEfer, e::kLme | e::kNxe, true), kMsrOk) << "KVM judges userspace by its own EFER bits";
}

// ---- PAT, DEBUGCTL ----------------------------------------------------------------------

TEST_F(Msrs, PatEntriesMustBeValidTypes) {
  EXPECT_EQ(set_both(+I::kPat, m::kPatDefault), kMsrOk);
  EXPECT_EQ(vcpu_.field(VmcsMsr::kPat), m::kPatDefault);
  EXPECT_EQ(get(+I::kPat), m::kPatDefault);
  EXPECT_EQ(set_both(+I::kPat, 0x0707070707070707ull), kMsrOk) << "UC- everywhere";
  EXPECT_EQ(set_both(+I::kPat, 0x0000000000000002ull), kMsrFault) << "type 2 is reserved";
  EXPECT_EQ(set_both(+I::kPat, 0x0300000000000000ull), kMsrFault) << "type 3 is reserved";
  EXPECT_EQ(set_both(+I::kPat, 0x0000000000000800ull), kMsrFault) << "reserved bits of a field";
}

TEST_F(Msrs, DebugctlDropsBtfAndLbrRefusesTheRest) {
  EXPECT_EQ(set(+I::kDebugctl, m::debugctl::kBtf | m::debugctl::kLbr), kMsrOk);
  EXPECT_EQ(vcpu_.field(VmcsMsr::kDebugctl), 0u);
  EXPECT_EQ(set_both(+I::kDebugctl, m::debugctl::kBusLockDetect), kMsrFault);
  EXPECT_EQ(set_both(+I::kDebugctl, 1ull << 6), kMsrFault);
  // RTM debugging: the host has RTM and so does the guest's CPUID.
  EXPECT_EQ(set(+I::kDebugctl, m::debugctl::kRtm), kMsrOk);
  EXPECT_EQ(get(+I::kDebugctl), m::debugctl::kRtm);
  edit_cpuid([](CpuidEntry &x) {
    if (x.function == 7)
      x.ebx &= ~c::leaf7_ebx::kRtm;
  });
  EXPECT_EQ(set(+I::kDebugctl, m::debugctl::kRtm), kMsrFault);
  EXPECT_EQ(set(+I::kDebugctl, m::debugctl::kRtm, true), kMsrOk);
}

// ---- TSC and TSC_ADJUST: the sequence of KVM's tsc_msrs_test ----------------------------

TEST_F(Msrs, TscAndTscAdjustMoveTogetherForTheGuestOnly) {
  constexpr u64 kStep = 1ull << 32, kHostAdjust = 64 * kStep;
  ASSERT_EQ(set(+I::kTsc, 0, true), kMsrOk);  // what vCPU creation does
  EXPECT_EQ(get(+I::kTsc, true), 0u);
  vcpu_.host += 500;
  EXPECT_EQ(get(+I::kTsc), 500u) << "host TSC + offset";
  // Guest writes to the TSC change TSC_ADJUST by the same delta.
  ASSERT_EQ(set(+I::kTsc, kStep), kMsrOk);
  EXPECT_EQ(get(+I::kTsc), kStep);
  EXPECT_EQ(get(+I::kTscAdjust), kStep - 500);
  // Guest writes to TSC_ADJUST move the TSC.
  ASSERT_EQ(set(+I::kTscAdjust, 2 * kStep), kMsrOk);
  EXPECT_EQ(get(+I::kTsc), 2 * kStep + 500);
  EXPECT_EQ(get(+I::kTscAdjust), 2 * kStep);
  // Userspace writes to the TSC set the offset only.
  ASSERT_EQ(set(+I::kTsc, kHostAdjust + 2 * kStep, true), kMsrOk);
  EXPECT_EQ(get(+I::kTsc, true), kHostAdjust + 2 * kStep);
  EXPECT_EQ(get(+I::kTscAdjust, true), 2 * kStep);
  // Userspace writes to TSC_ADJUST do not move the TSC.
  ASSERT_EQ(set(+I::kTscAdjust, 123456 * kStep, true), kMsrOk);
  EXPECT_EQ(get(+I::kTsc, true), kHostAdjust + 2 * kStep);
  EXPECT_EQ(get(+I::kTscAdjust, true), 123456 * kStep);
  ASSERT_EQ(set(+I::kTscAdjust, 2 * kStep, true), kMsrOk);
  // The guest's TSC_ADJUST write keeps the host's offset.
  ASSERT_EQ(set(+I::kTscAdjust, 3 * kStep), kMsrOk);
  EXPECT_EQ(get(+I::kTsc), kHostAdjust + 3 * kStep);
  // And a guest TSC write now shows the host's offset in TSC_ADJUST.
  ASSERT_EQ(set(+I::kTsc, 4 * kStep), kMsrOk);
  EXPECT_EQ(get(+I::kTsc), 4 * kStep);
  EXPECT_EQ(get(+I::kTscAdjust), 4 * kStep - kHostAdjust);
}

TEST_F(Msrs, TscAdjustWithoutCpuidIgnoresWrites) {
  edit_cpuid([](CpuidEntry &x) {
    if (x.function == 7)
      x.ebx &= ~c::leaf7_ebx::kTscAdjust;
  });
  u64 off = vcpu_.offset;
  EXPECT_EQ(set(+I::kTscAdjust, 77), kMsrOk);
  EXPECT_EQ(set(+I::kTscAdjust, 77, true), kMsrOk);
  EXPECT_EQ(get(+I::kTscAdjust), 0u);
  EXPECT_EQ(vcpu_.offset, off);
}

// ---- MISC_ENABLE, FEATURE_CONTROL, BIOS_SIGN_ID -----------------------------------------

TEST_F(Msrs, MiscEnableReadOnlyBits) {
  namespace me = m::misc_enable;
  EXPECT_EQ(set(+I::kMiscEnable, 0x1800 | me::kFastString), kMsrOk);
  EXPECT_EQ(set(+I::kMiscEnable, me::kFastString), kMsrFault) << "BTS/PEBS unavailable are read-only";
  EXPECT_EQ(set(+I::kMiscEnable, 0x1800 | me::kEmon), kMsrOk) << "EMON writes are ignored";
  EXPECT_EQ(get(+I::kMiscEnable), 0x1800u);
  EXPECT_EQ(set(+I::kMiscEnable, me::kFastString | me::kEmon, true), kMsrOk) << "userspace restores anything";
  EXPECT_EQ(get(+I::kMiscEnable), me::kFastString | me::kEmon);
  EXPECT_EQ(msrs_->misc_enable(), me::kFastString | me::kEmon);
}

TEST_F(Msrs, FeatureControlLocks) {
  namespace fc = m;
  EXPECT_EQ(set_both(+I::kFeatureControl, fc::FeatureControl::kVmxOutsideSmx), kMsrFault) << "no nested VMX";
  EXPECT_EQ(set(+I::kFeatureControl, fc::FeatureControl::kLock), kMsrOk);
  EXPECT_EQ(set(+I::kFeatureControl, 0), kMsrFault) << "locked until reset";
  EXPECT_EQ(set(+I::kFeatureControl, 0, true), kMsrOk) << "userspace may (reset, migration)";
  EXPECT_EQ(get(+I::kFeatureControl), 0u);
}

TEST_F(Msrs, MicrocodeRevisionIsUserspaces) {
  EXPECT_EQ(set(+I::kUcodeRev, 0), kMsrOk) << "the guest's latch write is ignored";
  EXPECT_EQ(get(+I::kUcodeRev), 0x100000000ull);
  EXPECT_EQ(set(+I::kUcodeRev, 0xb000040ull << 32, true), kMsrOk);
  EXPECT_EQ(get(+I::kUcodeRev), 0xb000040ull << 32);
  EXPECT_EQ(set(+I::kUcodeWrite, 0x1234), kMsrOk) << "microcode updates are dropped";
  u64 v;
  EXPECT_EQ(msrs_->get(+I::kUcodeWrite, &v, false), kMsrFault);
}

// ---- APIC_BASE -----------------------------------------------------------------------------

TEST_F(Msrs, ApicBaseReservedBits) {
  namespace ab = m::apic_base;
  EXPECT_EQ(set_both(+I::kApicBase, 0xfee00900 | 1), kMsrFault) << "bits 7:0";
  EXPECT_EQ(set_both(+I::kApicBase, 0xfee00900 | 1u << 9), kMsrFault) << "bit 9";
  EXPECT_EQ(set_both(+I::kApicBase, (1ull << 46) | 0x900), kMsrFault) << "beyond MAXPHYADDR 46";
  EXPECT_EQ(set_both(+I::kApicBase, (1ull << 45) | 0x900), kMsrOk);
  // minikvm offers x2APIC (emulated, as KVM): take it away to test EXTD.
  using Entry = std::remove_const_t<std::remove_pointer_t<decltype(cpuid_->find(1, 0))>>;
  const_cast<Entry *>(cpuid_->find(1, 0))->ecx &= ~c::features_ecx::kX2apic;
  EXPECT_EQ(set_both(+I::kApicBase, 0xfee00000 | ab::kEnable | ab::kExtd), kMsrFault) << "no x2APIC in CPUID";
  EXPECT_EQ(set_both(+I::kApicBase, 0xfee00000 | ab::kBsp), kMsrOk) << "disabled";
  EXPECT_FALSE(cpuid_->find(1, 0)->edx & c::features_edx::kApic);
  EXPECT_EQ(set(+I::kApicBase, 0xfee00900), kMsrOk);
  EXPECT_TRUE(cpuid_->find(1, 0)->edx & c::features_edx::kApic);
  EXPECT_EQ(msrs_->apic_base(), 0xfee00900u);
}

TEST_F(Msrs, ApicModeTransitions) {
  namespace ab = m::apic_base;
  edit_cpuid([](CpuidEntry &x) {
    if (x.function == 1)
      x.ecx |= c::features_ecx::kX2apic;
  });
  constexpr u64 kXapic = 0xfee00000 | ab::kEnable, kX2 = kXapic | ab::kExtd, kOff = 0xfee00000;
  EXPECT_EQ(set_both(+I::kApicBase, ab::kExtd | 0xfee00000), kMsrFault) << "EXTD without EN is invalid";
  EXPECT_EQ(set(+I::kApicBase, kX2), kMsrOk) << "xAPIC -> x2APIC";
  EXPECT_EQ(set(+I::kApicBase, kXapic), kMsrFault) << "x2APIC -> xAPIC";
  EXPECT_EQ(set(+I::kApicBase, kOff), kMsrOk) << "x2APIC -> disabled";
  EXPECT_EQ(set(+I::kApicBase, kX2), kMsrFault) << "disabled -> x2APIC";
  EXPECT_EQ(set(+I::kApicBase, kX2, true), kMsrOk) << "userspace may do any transition";
  EXPECT_EQ(set(+I::kApicBase, kXapic, true), kMsrOk);
}

// ---- MTRRs ---------------------------------------------------------------------------------

TEST_F(Msrs, MtrrRules) {
  EXPECT_EQ(set_both(+I::kMtrrDefType, 0xc06), kMsrOk) << "E, FE, WB";
  EXPECT_EQ(get(+I::kMtrrDefType), 0xc06u);
  EXPECT_EQ(set_both(+I::kMtrrDefType, 0x1006), kMsrFault) << "bit 12 reserved";
  EXPECT_EQ(set_both(+I::kMtrrDefType, 0x002), kMsrFault) << "type 2 reserved";
  EXPECT_EQ(set_both(+I::kMtrrFix64k00000, 0x0606060606060606ull), kMsrOk);
  EXPECT_EQ(set_both(0x26c, 0x0005040100000606ull), kMsrOk);
  EXPECT_EQ(get(0x26c), 0x0005040100000606ull);
  EXPECT_EQ(set_both(+I::kMtrrFix4kF8000, 0x0700000000000000ull), kMsrFault) << "UC- is PAT only";
  EXPECT_EQ(get(+I::kMtrrFix16kA0000), 0u);
  // Variable ranges: base has the type and 11:8 reserved, mask has V
  // (bit 11) and 10:0 reserved; both end at MAXPHYADDR (46).
  EXPECT_EQ(set_both(0x200, 0x80000006), kMsrOk);
  EXPECT_EQ(set_both(0x201, 0x3fff80000800ull), kMsrOk);
  EXPECT_EQ(get(0x201), 0x3fff80000800ull);
  EXPECT_EQ(set_both(0x202, 0x80000106), kMsrFault);
  EXPECT_EQ(set_both(0x202, 0x80000003), kMsrFault);
  EXPECT_EQ(set_both(0x203, 0x400), kMsrFault);
  EXPECT_EQ(set_both(0x20f, 1ull << 46 | 0x800), kMsrFault);
  EXPECT_EQ(set_both(0x20f, 0x800), kMsrOk);
  u64 v;
  EXPECT_EQ(msrs_->get(0x210, &v, true), kMsrFault) << "only 8 variable ranges";
  EXPECT_EQ(set_both(0x210, 0), kMsrFault);
  EXPECT_EQ(set_both(+I::kMtrrCap, 0x508), kMsrFault) << "read-only";
}

TEST_F(Msrs, MtrrReadsMaskBitsBeyondAShrunkMaxphyaddr) {
  EXPECT_EQ(set(0x201, 0x3fff80000800ull), kMsrOk);
  edit_cpuid([](CpuidEntry &x) {
    if (x.function == 0x80000008)
      x.eax = 36 | 48 << 8;
  });
  EXPECT_EQ(get(0x201), 0xf80000800ull);
}

// ---- machine check ---------------------------------------------------------------------------

TEST_F(Msrs, MachineCheckBanksAsKvm) {
  u64 v;
  EXPECT_EQ(msrs_->get(+I::kMcgCtl, &v, false), kMsrFault) << "no MCG_CTL_P";
  EXPECT_EQ(get(+I::kMcgCtl, true), 0u) << "userspace may read it";
  EXPECT_EQ(set(+I::kMcgCtl, 0, true), kMsrOk) << "and restore 0";
  EXPECT_EQ(set(+I::kMcgCtl, ~0ull, true), kMsrFault);
  EXPECT_EQ(set(+I::kMcgCtl, 0), kMsrFault);
  EXPECT_EQ(set_both(+I::kMcgStatus, 0x5), kMsrOk);
  EXPECT_EQ(get(+I::kMcgStatus), 0x5u);
  EXPECT_EQ(set_both(+I::kMcgCap, 32), kMsrFault) << "read-only";
  // MCi_CTL: 0 or all ones, with KVM's bit 10 and bit 0 leniency.
  EXPECT_EQ(set_both(+I::kMc0Ctl, ~0ull), kMsrOk);
  EXPECT_EQ(set_both(0x404 + 4 * 3, ~0ull & ~(1ull << 10)), kMsrOk);
  EXPECT_EQ(set_both(0x404, ~0ull & ~1ull), kMsrOk);
  EXPECT_EQ(set_both(0x404, 0xff), kMsrFault);
  // MCi_STATUS: the guest can only clear it.
  EXPECT_EQ(set(0x401, 0x8000000000000000ull), kMsrFault);
  EXPECT_EQ(set(0x401, 0x8000000000000000ull, true), kMsrOk);
  EXPECT_EQ(get(0x401), 0x8000000000000000ull);
  EXPECT_EQ(set(0x401, 0), kMsrOk);
  EXPECT_EQ(set_both(0x402, 0x1234), kMsrOk) << "MCi_ADDR";
  EXPECT_EQ(set_both(0x47f, 0x1234), kMsrOk) << "bank 31 MCi_MISC";
  EXPECT_EQ(get(0x47f), 0x1234u);
  // MCi_CTL2 needs CMCI.
  EXPECT_EQ(msrs_->get(+I::kMc0Ctl2, &v, false), kMsrFault);
  EXPECT_EQ(get(+I::kMc0Ctl2, true), 0u);
  EXPECT_EQ(set(+I::kMc0Ctl2, 0, true), kMsrOk);
  EXPECT_EQ(set(+I::kMc0Ctl2, 1, true), kMsrFault);
  EXPECT_EQ(get(+I::kP5McAddr), 0u);
  EXPECT_EQ(get(+I::kP5McType), 0u);
}

TEST_F(Msrs, SetupMceLimitsBanksAndEnablesMcgCtl) {
  EXPECT_EQ(msrs_->set_mcg_cap(0), -EINVAL);
  EXPECT_EQ(msrs_->set_mcg_cap(33), -EINVAL);
  EXPECT_EQ(msrs_->set_mcg_cap(4 | m::mcg::kCmciP), -EINVAL);
  ASSERT_EQ(msrs_->set_mcg_cap(4 | m::mcg::kCtlP), 0);
  EXPECT_EQ(get(+I::kMcgCtl), ~0ull) << "now present, all banks enabled";
  EXPECT_EQ(get(0x40c), ~0ull);
  u64 v;
  EXPECT_EQ(msrs_->get(0x410, &v, true), kMsrFault) << "bank 4 does not exist";
  EXPECT_EQ(set(0x410, 0, true), kMsrFault);
  EXPECT_EQ(set(+I::kMcgCtl, 0x1), kMsrFault);
  EXPECT_EQ(set(+I::kMcgCtl, 0), kMsrOk);
}

// ---- the rest -------------------------------------------------------------------------------

TEST_F(Msrs, ReadAsZeroAndIgnoredWrites) {
  for (u32 msr : {+I::kPlatformId, +I::kEblCrPoweron, +I::kLastBranchFromIp, +I::kLastIntToIp, +I::kPerfCtl,
                  +I::kRaplPowerUnit, +I::kPkgEnergyStatus, +I::kPerfctr0, +I::kEvntsel1}) {
    EXPECT_EQ(get(msr), 0u) << std::hex << msr;
  }
  EXPECT_EQ(set(+I::kPlatformId, 0), kMsrFault) << "read-only";
  EXPECT_EQ(set(+I::kPerfctr0, 5), kMsrOk) << "no PMU: ignored";
  EXPECT_EQ(get(+I::kPerfctr0), 0u);
  EXPECT_EQ(get(+I::kFsbFreq), 3u);
  EXPECT_EQ(get(+I::kEbcFrequencyId), 1u << 24);
  EXPECT_EQ(get(+I::kPerfStatus), 1000u | 4ull << 40);
  EXPECT_EQ(get(+I::kBblCrCtl3), 0xbe702111u);
  EXPECT_EQ(set(+I::kBblCrCtl3, 1u << 19), kMsrOk);
}

TEST_F(Msrs, LapicMsrsWithoutAnInKernelLapic) {
  // As KVM without an in-kernel LAPIC: IA32_TSC_DEADLINE reads 0 and
  // ignores writes; the x2APIC range faults (with the data zeroed).
  u64 v = 0xbad;
  EXPECT_EQ(msrs_->get(+I::kTscDeadline, &v, false), kMsrOk);
  EXPECT_EQ(v, 0u);
  EXPECT_EQ(set_both(+I::kTscDeadline, 12345), kMsrOk);
  EXPECT_EQ(get(+I::kTscDeadline), 0u);
}

TEST_F(Msrs, EverythingElseFaults) {
  for (u32 msr : {+I::kX2apicFirst, 0x808u, +I::kX2apicLast, +I::kTscAux, +I::kSpecCtrl,
                  +I::kPredCmd, +I::kArchCapabilities, +I::kXss, +I::kVmxBasic, 0x4b564d00u, 0x11u, 0x40000000u,
                  0x12345678u, 0xffffffffu}) {
    u64 v = 0xbad;
    EXPECT_EQ(msrs_->get(msr, &v, false), kMsrFault) << std::hex << msr;
    EXPECT_EQ(msrs_->get(msr, &v, true), kMsrFault) << std::hex << msr;
    EXPECT_EQ(v, 0u) << "KVM zeroes the data of an unsupported MSR";
    EXPECT_EQ(set_both(msr, 0), kMsrFault) << std::hex << msr;
  }
}

TEST_F(Msrs, EveryMsrInTheIndexListSavesAndRestores) {
  // KVM's selftests (vcpu_save_state/vcpu_load_state) read every listed MSR
  // and write the value back, asserting all succeed.
  for (u32 i = 0; i < mk::x86::kNumMsrsToSave; i++) {
    u32 msr = mk::x86::kMsrsToSave[i];
    u64 v = 0;
    EXPECT_EQ(msrs_->get(msr, &v, true), kMsrOk) << std::hex << msr;
    EXPECT_EQ(msrs_->set(msr, v, true), kMsrOk) << std::hex << msr;
    u64 again = 0;
    EXPECT_EQ(msrs_->get(msr, &again, true), kMsrOk) << std::hex << msr;
    if (msr != +I::kTsc) {
      EXPECT_EQ(again, v) << std::hex << msr;
    }
  }
}

// ---- ioctls --------------------------------------------------------------------------------

TEST_F(Msrs, MsrIndexListContract) {
  UserMsrList probe(0);
  EXPECT_EQ(mk::x86::get_msr_index_list(probe.arg()), -E2BIG);
  u32 n = probe.hdr()->nmsrs;
  EXPECT_EQ(n, mk::x86::kNumMsrsToSave) << "the count is written back even on -E2BIG";
  UserMsrList list(n);
  ASSERT_EQ(mk::x86::get_msr_index_list(list.arg()), 0);
  EXPECT_EQ(list.hdr()->nmsrs, n);
  EXPECT_EQ(memcmp(list.hdr()->indices, mk::x86::kMsrsToSave, n * sizeof(u32)), 0);
  UserMsrList roomy(n + 5);
  ASSERT_EQ(mk::x86::get_msr_index_list(roomy.arg()), 0);
  EXPECT_EQ(roomy.hdr()->nmsrs, n);
  EXPECT_EQ(mk::x86::get_msr_index_list(0), -EFAULT);
  // The listed MSRs include what a Linux guest's state needs.
  for (u32 msr : {+I::kStar, +I::kLstar, +I::kCstar, +I::kSyscallMask, +I::kKernelGsBase, +I::kSysenterCs,
                  +I::kTsc, +I::kPat, +I::kMiscEnable, +I::kTscAdjust})
    EXPECT_NE(std::find(list.hdr()->indices, list.hdr()->indices + n, msr), list.hdr()->indices + n)
        << std::hex << msr;
}

TEST_F(Msrs, FeatureMsrs) {
  mk::user::machine().msrs.push_back({0x8b, 0x0200005e00000000ull});
  UserMsrList probe(0);
  EXPECT_EQ(mk::x86::get_msr_feature_index_list(probe.arg()), -E2BIG);
  ASSERT_EQ(probe.hdr()->nmsrs, 1u);
  UserMsrList list(1);
  ASSERT_EQ(mk::x86::get_msr_feature_index_list(list.arg()), 0);
  EXPECT_EQ(list.hdr()->indices[0], 0x8bu);
  UserMsrs io(2);
  io.at(0).index = 0x8b;
  io.at(1).index = 0x10a;
  io.at(1).data = 0x55;
  EXPECT_EQ(mk::x86::get_feature_msrs(io.arg()), 1) << "stops at ARCH_CAPABILITIES";
  EXPECT_EQ(io.at(0).data, 0x0200005e00000000ull) << "the host's microcode revision";
  EXPECT_EQ(io.at(1).data, 0u);
  EXPECT_EQ(mk::x86::get_feature_msrs(0), -EFAULT);
}

TEST_F(Msrs, GetSetMsrsContract) {
  UserMsrs io(4);
  io.at(0) = {+I::kStar, 0, 0x1234};
  io.at(1) = {+I::kPat, 0, m::kPatDefault};
  io.at(2) = {+I::kTscAux, 0, 5};  // not virtualized: stops here
  io.at(3) = {+I::kLstar, 0, 0x5678};
  EXPECT_EQ(msrs_->set_msrs(io.arg()), 2);
  EXPECT_EQ(get(+I::kStar), 0x1234u);
  EXPECT_EQ(get(+I::kLstar), 0u) << "entries after the failing one are not processed";
  UserMsrs rd(3);
  rd.at(0).index = +I::kStar;
  rd.at(1).index = +I::kPat;
  rd.at(2).index = +I::kMiscEnable;
  EXPECT_EQ(msrs_->get_msrs(rd.arg()), 3);
  EXPECT_EQ(rd.at(0).data, 0x1234u);
  EXPECT_EQ(rd.at(1).data, m::kPatDefault);
  EXPECT_EQ(rd.at(2).data, 0x1800u);
  UserMsrs none(0);
  EXPECT_EQ(msrs_->get_msrs(none.arg()), 0);
  EXPECT_EQ(msrs_->set_msrs(none.arg()), 0);
  EXPECT_EQ(msrs_->get_msrs(0), -EFAULT);
  EXPECT_EQ(msrs_->set_msrs(mk::user::kBadUserLimit - 1), -EFAULT);
}

TEST_F(Msrs, At256MsrsItIsE2big) {
  UserMsrs max(255);
  for (u32 i = 0; i < 255; i++)
    max.at(i).index = +I::kStar;
  EXPECT_EQ(msrs_->get_msrs(max.arg()), 255);
  EXPECT_EQ(msrs_->set_msrs(max.arg()), 255);
  UserMsrs over(256);
  EXPECT_EQ(msrs_->get_msrs(over.arg()), -E2BIG);
  EXPECT_EQ(msrs_->set_msrs(over.arg()), -E2BIG);
  over.hdr()->nmsrs = 0xffffffff;
  EXPECT_EQ(msrs_->set_msrs(over.arg()), -E2BIG);
}

TEST_F(Msrs, OutOfMemoryIsEnomemWithoutLeaks) {
  UserMsrs io(2);
  io.at(0).index = +I::kStar;
  io.at(1).index = +I::kLstar;
  long live = mk_alloc_live();
  mk::user::fail_alloc_after(0);
  EXPECT_EQ(msrs_->get_msrs(io.arg()), -ENOMEM);
  mk::user::fail_alloc_after(0);
  EXPECT_EQ(msrs_->set_msrs(io.arg()), -ENOMEM);
  mk::user::fail_alloc_after(0);
  EXPECT_EQ(mk::x86::get_feature_msrs(io.arg()), -ENOMEM);
  mk::user::fail_alloc_after(-1);
  EXPECT_EQ(mk_alloc_live(), live);
  EXPECT_EQ(msrs_->get_msrs(io.arg()), 2);
  EXPECT_EQ(mk_alloc_live(), live);
}

}  // namespace
