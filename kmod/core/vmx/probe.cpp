// SPDX-License-Identifier: GPL-2.0
#include "probe.h"

#include <minikvm/platform.h>

#include "../../ia32/cpuid.h"
#include "../../ia32/cr.h"
#include "../../ia32/msr.h"
#include "capabilities.h"

namespace mk::vmx {

ProbeResult evaluate(const ProbeInput &in) {
  if (!(in.cpuid1_ecx & ia32::cpuid::features_ecx::kVmx))
    return {Support::kNoVmx, "CPU does not support VMX (CPUID.1:ECX.VMX[bit 5] = 0)"};
  if (!in.feature_control_readable)
    return {Support::kFeatureControlUnreadable, "IA32_FEATURE_CONTROL (MSR 0x3a) cannot be read"};
  ia32::msr::FeatureControl fc{in.feature_control};
  if (!fc.locked())
    return {Support::kFeatureControlUnlocked,
            "IA32_FEATURE_CONTROL is not locked, so VMXON would fault; enable VMX in the firmware setup"};
  if (in.smx_enabled ? !fc.vmx_inside_smx() : !fc.vmx_outside_smx())
    return {Support::kDisabledByFirmware,
            in.smx_enabled ? "VMX inside SMX is disabled by the firmware (IA32_FEATURE_CONTROL bit 1 = 0)"
                           : "VMX is disabled by the firmware (IA32_FEATURE_CONTROL bit 2 = 0); enable it in the firmware setup"};
  if (!in.capabilities_readable)
    return {Support::kCapabilitiesUnreadable, "a VMX capability MSR (0x480-0x490) cannot be read"};
  if (in.missing_feature)
    return {Support::kMissingFeature, "VMX lacks a feature minikvm requires", in.missing_feature};
  if (in.cpus_with_vmxe)
    return {Support::kInUse,
            "another hypervisor is in VMX operation (CR4.VMXE set); close its VMs or unload it (e.g. kvm_intel)"};
  return {Support::kUsable, "VMX usable"};
}

namespace {
struct Cr4Census {
  u32 cpus;
  u32 vmxe;
  u32 smxe;
};

void count_cr4(void *arg) {
  auto *c = static_cast<Cr4Census *>(arg);
  unsigned long cr4 = mk_read_cr4();
  __atomic_fetch_add(&c->cpus, 1, __ATOMIC_RELAXED);
  if (cr4 & ia32::cr4::kVmxe)
    __atomic_fetch_add(&c->vmxe, 1, __ATOMIC_RELAXED);
  if (cr4 & ia32::cr4::kSmxe)
    __atomic_fetch_add(&c->smxe, 1, __ATOMIC_RELAXED);
}
}  // namespace

ProbeInput gather() {
  ProbeInput in;
  unsigned int r[4];
  mk_cpuid(static_cast<u32>(ia32::cpuid::Leaf::kFeatures), 0, r);
  in.cpuid1_ecx = r[2];
  unsigned long long fc = 0;
  in.feature_control_readable = mk_rdmsr_safe(+ia32::msr::Index::kFeatureControl, &fc) == 0;
  in.feature_control = fc;
  Cr4Census c{};
  mk_on_each_cpu(count_cr4, &c);
  in.online_cpus = c.cpus;
  in.cpus_with_vmxe = c.vmxe;
  in.smx_enabled = c.smxe != 0;
  // The capability MSRs fault without VMX; read them only when it is there.
  if (in.cpuid1_ecx & ia32::cpuid::features_ecx::kVmx) {
    in.capabilities_readable = read_capabilities(mk_rdmsr_safe, &in.caps) == 0;
    if (in.capabilities_readable)
      compute_controls(in.caps, &in.controls, &in.missing_feature);
  }
  return in;
}

const char *support_name(Support s) {
  switch (s) {
    case Support::kUsable: return "usable";
    case Support::kNoVmx: return "no-vmx";
    case Support::kFeatureControlUnreadable: return "feature-control-unreadable";
    case Support::kFeatureControlUnlocked: return "feature-control-unlocked";
    case Support::kDisabledByFirmware: return "disabled-by-firmware";
    case Support::kInUse: return "in-use";
    case Support::kCapabilitiesUnreadable: return "capabilities-unreadable";
    case Support::kMissingFeature: return "missing-feature";
  }
  return "?";
}

}  // namespace mk::vmx
