// SPDX-License-Identifier: GPL-2.0
// VMX control computation from capability MSRs (SDM vol. 3C appendix A).
#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <string>

#include "core/vmx/capabilities.h"
#include "user_platform.h"

namespace v = ia32::vmx;
using mk::u32;
using mk::u64;
using mk::vmx::AllowedSettings;
using mk::vmx::Capabilities;
using mk::vmx::ControlSet;

namespace {

// Capability MSR values of a Skylake server (the user platform's simulated
// machine), with true controls: BASIC rev 4, 1 KiB VMCS, WB, bit 55 set;
// TRUE_PROCBASED lets CR3-load/store exiting be 0 where PROCBASED forces it.
std::map<u32, u64> skylake() {
  std::map<u32, u64> m;
  for (auto &[msr, value] : mk::user::SimMachine::skylake_vmx_msrs())
    m[msr] = value;
  return m;
}

std::map<u32, u64> g_msrs;
std::map<u32, int> g_reads;

int fake_rdmsr(u32 msr, u64 *value) {
  g_reads[msr]++;
  auto it = g_msrs.find(msr);
  if (it == g_msrs.end())
    return -EIO;
  *value = it->second;
  return 0;
}

Capabilities read(const std::map<u32, u64> &msrs) {
  g_msrs = msrs;
  g_reads.clear();
  Capabilities c;
  EXPECT_EQ(mk::vmx::read_capabilities(fake_rdmsr, &c), 0);
  return c;
}

TEST(VmxCapabilities, AdjustSetsForcedBitsAndAllowedOptionals) {
  AllowedSettings a{0x16, 0x7f};
  u32 out, lacking;
  ASSERT_TRUE(mk::vmx::adjust(a, 0x1, 0x80 | 0x20, &out, &lacking));
  EXPECT_EQ(out, 0x16u | 0x1u | 0x20u) << "0x80 is not allowed to be 1 and must stay 0";
  EXPECT_EQ(lacking, 0u);
}

TEST(VmxCapabilities, AdjustReportsMissingRequiredBits) {
  AllowedSettings a{0x0, 0x0f};
  u32 out, lacking;
  EXPECT_FALSE(mk::vmx::adjust(a, 0x30, 0, &out, &lacking));
  EXPECT_EQ(lacking, 0x30u);
}

TEST(VmxCapabilities, AdjustRefusesContradictoryMsr) {
  AllowedSettings a{0x1, 0x0};  // must be 1 but may not be 1: broken MSR
  u32 out, lacking;
  EXPECT_FALSE(mk::vmx::adjust(a, 0, 0, &out, &lacking));
}

TEST(VmxCapabilities, ReadsTrueControlsWhenBasicBit55) {
  Capabilities c = read(skylake());
  EXPECT_TRUE(c.basic.true_controls());
  EXPECT_EQ(c.basic.revision_id(), 4u);
  EXPECT_EQ(c.basic.vmcs_size(), 0x400u);
  EXPECT_EQ(c.proc.must_be_one, 0x04006172u);
  EXPECT_EQ(g_reads[0x482], 0) << "legacy PROCBASED must not be used when true controls exist";
  EXPECT_EQ(g_reads[0x48e], 1);
  EXPECT_EQ(c.proc2.may_be_one, 0x00f7ffffu);
  EXPECT_EQ(c.ept_vpid, 0x00000f0106734141ull);
}

TEST(VmxCapabilities, ReadsLegacyControlsWithoutBit55) {
  auto m = skylake();
  m[0x480] &= ~(1ull << 55);
  Capabilities c = read(m);
  EXPECT_EQ(c.proc.must_be_one, 0x0401e172u);
  EXPECT_EQ(g_reads[0x48e], 0);
}

TEST(VmxCapabilities, MissingMsrIsEIO) {
  auto m = skylake();
  m.erase(0x48b);
  g_msrs = m;
  Capabilities c;
  EXPECT_EQ(mk::vmx::read_capabilities(fake_rdmsr, &c), -EIO);
}

TEST(VmxCapabilities, SkylakeControls) {
  ControlSet cs;
  const char *missing = nullptr;
  ASSERT_EQ(mk::vmx::compute_controls(read(skylake()), &cs, &missing), 0) << missing;
  EXPECT_TRUE(cs.pin & v::pin::kExternalInterruptExiting);
  EXPECT_TRUE(cs.pin & v::pin::kNmiExiting);
  EXPECT_TRUE(cs.pin & v::pin::kVirtualNmis);
  EXPECT_FALSE(cs.pin & v::pin::kPostedInterrupts) << "not requested yet";
  EXPECT_TRUE(cs.proc & v::proc::kHltExiting);
  EXPECT_TRUE(cs.proc & v::proc::kUnconditionalIoExiting);
  EXPECT_TRUE(cs.proc & v::proc::kActivateSecondaryControls);
  EXPECT_FALSE(cs.proc & v::proc::kCr3LoadExiting) << "true controls let CR3 exiting be off";
  EXPECT_FALSE(cs.proc & v::proc::kInterruptWindowExiting) << "armed only when needed";
  EXPECT_TRUE(cs.proc2 & v::proc2::kEnableEpt);
  EXPECT_TRUE(cs.proc2 & v::proc2::kUnrestrictedGuest);
  EXPECT_TRUE(cs.proc2 & v::proc2::kEnableVpid);
  EXPECT_TRUE(cs.exit & v::exit_ctl::kHostAddressSpaceSize);
  EXPECT_TRUE(cs.exit & v::exit_ctl::kLoadEfer);
  EXPECT_TRUE(cs.entry & v::entry_ctl::kLoadEfer);
  EXPECT_FALSE(cs.entry & v::entry_ctl::kIa32eModeGuest) << "guests start in real mode";
  // Forced-one bits are always present.
  EXPECT_EQ(cs.proc & 0x04006172u, 0x04006172u);
  EXPECT_EQ(cs.exit & 0x00036dfbu, 0x00036dfbu);
}

TEST(VmxCapabilities, WithoutTrueControlsCr3ExitingIsForced) {
  auto m = skylake();
  m[0x480] &= ~(1ull << 55);
  ControlSet cs;
  const char *missing = nullptr;
  ASSERT_EQ(mk::vmx::compute_controls(read(m), &cs, &missing), 0);
  EXPECT_TRUE(cs.proc & v::proc::kCr3LoadExiting);
}

struct Lack {
  u32 msr;
  u64 clear_may_be_one;
  const char *expect;
};

TEST(VmxCapabilities, NamesTheMissingFeature) {
  const Lack cases[] = {
      {0x48b, 1ull << (32 + 1), "EPT"},
      {0x48b, 1ull << (32 + 7), "unrestricted guest"},
      {0x48e, 1ull << (32 + 31), "secondary controls"},
      {0x48e, 1ull << (32 + 7), "HLT exiting"},
      {0x48e, 1ull << (32 + 2), "interrupt-window exiting"},
      {0x48d, 1ull << (32 + 0), "external-interrupt exiting"},
      {0x490, 1ull << (32 + 9), "IA-32e mode guest"},
      {0x48f, 1ull << (32 + 21), "load IA32_EFER on exit"},
  };
  for (const Lack &l : cases) {
    auto m = skylake();
    m[l.msr] &= ~l.clear_may_be_one;
    ControlSet cs;
    const char *missing = nullptr;
    EXPECT_EQ(mk::vmx::compute_controls(read(m), &cs, &missing), -EOPNOTSUPP) << l.expect;
    ASSERT_NE(missing, nullptr);
    EXPECT_EQ(std::string(missing), l.expect);
  }
}

TEST(VmxCapabilities, VpidIsOptional) {
  auto m = skylake();
  m[0x48b] &= ~(1ull << (32 + 5));
  ControlSet cs;
  const char *missing = nullptr;
  ASSERT_EQ(mk::vmx::compute_controls(read(m), &cs, &missing), 0);
  EXPECT_FALSE(cs.proc2 & v::proc2::kEnableVpid);
}

TEST(VmxCapabilities, RejectsUncacheableVmcsMemory) {
  auto m = skylake();
  m[0x480] &= ~(0xfull << 50);  // memory type 0 (UC)
  ControlSet cs;
  const char *missing = nullptr;
  EXPECT_EQ(mk::vmx::compute_controls(read(m), &cs, &missing), -EOPNOTSUPP);
}

TEST(VmxCapabilities, FixedCr0AllowsRealModeWithUnrestrictedGuest) {
  Capabilities c = read(skylake());
  EXPECT_EQ(mk::vmx::fixed_cr0(c, 0x0, true), 0x20u) << "only NE forced; PE/PG may be 0";
  EXPECT_EQ(mk::vmx::fixed_cr0(c, 0x0, false), 0x80000021u);
  EXPECT_EQ(mk::vmx::fixed_cr4(c, 0x0), 0x2000u) << "CR4.VMXE is forced in VMX operation";
  EXPECT_EQ(mk::vmx::fixed_cr4(c, 1ull << 23), 0x2000u) << "CR4 bit 23 not allowed by FIXED1 here";
}

TEST(VmxFields, EncodingsMatchTheirCategories) {
  EXPECT_EQ(v::width(v::Field::kGuestRip), v::FieldWidth::kNatural);
  EXPECT_EQ(v::type(v::Field::kGuestRip), v::FieldType::kGuest);
  EXPECT_EQ(v::width(v::Field::kEptPointer), v::FieldWidth::k64);
  EXPECT_EQ(v::type(v::Field::kEptPointer), v::FieldType::kControl);
  EXPECT_EQ(v::width(v::Field::kExitReason), v::FieldWidth::k32);
  EXPECT_EQ(v::type(v::Field::kExitReason), v::FieldType::kReadOnly);
  EXPECT_EQ(v::width(v::Field::kHostCsSelector), v::FieldWidth::k16);
  EXPECT_EQ(v::type(v::Field::kHostCsSelector), v::FieldType::kHost);
  EXPECT_EQ(v::type(v::Field::kGuestInterruptStatus), v::FieldType::kGuest);
  EXPECT_EQ(v::type(v::Field::kPostedIntrDescAddr), v::FieldType::kControl);
  v::ExitReasonField f{0x80000021};
  EXPECT_TRUE(f.entry_failed());
  EXPECT_EQ(f.basic(), v::ExitReason::kEntryFailGuestState);
}

}  // namespace
