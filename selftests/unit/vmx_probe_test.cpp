// SPDX-License-Identifier: GPL-2.0
// VMX availability (SDM vol. 3C 23.6-23.7) decided from CPU facts.
#include <gtest/gtest.h>

#include "core/vmx/probe.h"
#include "user_platform.h"

using mk::vmx::ProbeInput;
using mk::vmx::Support;

namespace {

ProbeInput usable() {
  ProbeInput in;
  in.cpuid1_ecx = 1u << 5;
  in.feature_control_readable = true;
  in.feature_control = 0x5;
  in.online_cpus = 4;
  in.capabilities_readable = true;
  return in;
}

TEST(VmxProbe, UsableWhenLockedAndEnabledOutsideSmx) {
  EXPECT_EQ(mk::vmx::evaluate(usable()).support, Support::kUsable);
  EXPECT_TRUE(mk::vmx::evaluate(usable()).usable());
}

TEST(VmxProbe, NoVmxInCpuid) {
  auto in = usable();
  in.cpuid1_ecx = ~(1u << 5);
  auto r = mk::vmx::evaluate(in);
  EXPECT_EQ(r.support, Support::kNoVmx);
  EXPECT_NE(std::string(r.reason).find("CPUID"), std::string::npos);
}

TEST(VmxProbe, FeatureControlUnreadable) {
  auto in = usable();
  in.feature_control_readable = false;
  EXPECT_EQ(mk::vmx::evaluate(in).support, Support::kFeatureControlUnreadable);
}

TEST(VmxProbe, UnlockedFeatureControlMeansVmxonWouldFault) {
  auto in = usable();
  in.feature_control = 0x4;  // enabled but not locked
  EXPECT_EQ(mk::vmx::evaluate(in).support, Support::kFeatureControlUnlocked);
}

TEST(VmxProbe, LockedWithVmxOffIsDisabledByFirmware) {
  auto in = usable();
  in.feature_control = 0x1;
  EXPECT_EQ(mk::vmx::evaluate(in).support, Support::kDisabledByFirmware);
  in.feature_control = 0x3;  // only inside-SMX enabled, and we are not in SMX
  EXPECT_EQ(mk::vmx::evaluate(in).support, Support::kDisabledByFirmware);
}

TEST(VmxProbe, SmxUsesTheInsideSmxBit) {
  auto in = usable();
  in.smx_enabled = true;
  in.feature_control = 0x5;  // outside only
  EXPECT_EQ(mk::vmx::evaluate(in).support, Support::kDisabledByFirmware);
  in.feature_control = 0x3;
  EXPECT_EQ(mk::vmx::evaluate(in).support, Support::kUsable);
}

TEST(VmxProbe, Cr4VmxeMeansAnotherHypervisor) {
  auto in = usable();
  in.cpus_with_vmxe = 1;
  auto r = mk::vmx::evaluate(in);
  EXPECT_EQ(r.support, Support::kInUse);
  EXPECT_NE(std::string(r.reason).find("CR4.VMXE"), std::string::npos);
}

TEST(VmxProbe, MissingRequiredFeatureIsNamed) {
  auto in = usable();
  in.missing_feature = "EPT";
  auto r = mk::vmx::evaluate(in);
  EXPECT_EQ(r.support, Support::kMissingFeature);
  EXPECT_STREQ(r.missing_feature, "EPT");
  in.missing_feature = nullptr;
  in.capabilities_readable = false;
  EXPECT_EQ(mk::vmx::evaluate(in).support, Support::kCapabilitiesUnreadable);
}

TEST(VmxProbe, GatherFindsMissingUnrestrictedGuest) {
  mk::user::reset_machine();
  for (auto &m : mk::user::machine().msrs)
    if (m.first == 0x48b)
      m.second &= ~(1ull << (32 + 7));  // no unrestricted guest
  auto in = mk::vmx::gather();
  EXPECT_TRUE(in.capabilities_readable);
  ASSERT_NE(in.missing_feature, nullptr);
  EXPECT_STREQ(in.missing_feature, "unrestricted guest");
  mk::user::reset_machine();
}

TEST(VmxProbe, GatherSkipsCapabilityMsrsWithoutVmx) {
  mk::user::reset_machine();
  mk::user::machine().cpuid1_ecx = 0;
  mk::user::machine().msrs.clear();
  auto in = mk::vmx::gather();
  EXPECT_FALSE(in.capabilities_readable);
  EXPECT_EQ(mk::vmx::evaluate(in).support, Support::kNoVmx);
  mk::user::reset_machine();
}

TEST(VmxProbe, FirstFailingConditionWins) {
  // No VMX at all is reported as such even if the MSR is unreadable too.
  ProbeInput in;
  EXPECT_EQ(mk::vmx::evaluate(in).support, Support::kNoVmx);
}

TEST(VmxProbe, GatherReadsEveryCpu) {
  mk::user::reset_machine();
  auto &m = mk::user::machine();
  m.cpus.resize(3);
  m.cpus[2].cr4 = 1ull << 13;
  ProbeInput in = mk::vmx::gather();
  EXPECT_EQ(in.online_cpus, 3u);
  EXPECT_EQ(in.cpus_with_vmxe, 1u);
  EXPECT_TRUE(in.feature_control_readable);
  EXPECT_EQ(in.feature_control, 0x5u);
  EXPECT_EQ(mk::vmx::evaluate(in).support, Support::kInUse);
  m.cpus[1].cr4 = 1ull << 14;  // SMXE on one CPU
  EXPECT_TRUE(mk::vmx::gather().smx_enabled);
  mk::user::reset_machine();
}

TEST(VmxProbe, EverySupportValueHasAName) {
  for (int s = 0; s <= static_cast<int>(Support::kMissingFeature); s++)
    EXPECT_STRNE(mk::vmx::support_name(static_cast<Support>(s)), "?");
}

}  // namespace
