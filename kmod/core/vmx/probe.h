// SPDX-License-Identifier: GPL-2.0
// Can this machine run VMX guests? Decided from raw CPU facts by a pure
// function (unit-tested on the host with every combination), fed by a
// gatherer that asks the platform for CPUID, IA32_FEATURE_CONTROL and each
// CPU's CR4.
#pragma once

#include "../rt/types.h"
#include "capabilities.h"

namespace mk::vmx {

enum class Support {
  kUsable,
  kNoVmx,             // CPUID.1:ECX.VMX = 0
  kFeatureControlUnreadable,
  kFeatureControlUnlocked,  // VMXON would #GP; firmware/kernel never locked it
  kDisabledByFirmware,      // locked with the matching VMX-enable bit clear
  kInUse,                   // CR4.VMXE already set: another hypervisor is in VMX operation
  kCapabilitiesUnreadable,  // a VMX capability MSR faults
  kMissingFeature,          // VMX lacks a control minikvm requires (EPT, unrestricted guest...)
};

struct ProbeInput {
  u32 cpuid1_ecx = 0;
  bool feature_control_readable = false;
  u64 feature_control = 0;
  bool smx_enabled = false;  // CR4.SMXE: the inside-SMX enable bit governs instead
  u32 online_cpus = 0;
  u32 cpus_with_vmxe = 0;
  // From the capability MSRs (read only when the checks above pass).
  bool capabilities_readable = false;
  const char *missing_feature = nullptr;  // first required control lacking
  // What the capability MSRs say and the controls minikvm would use (valid
  // when capabilities_readable and missing_feature is null).
  Capabilities caps{};
  ControlSet controls{};
};

struct ProbeResult {
  Support support;
  // One sentence for dmesg: what is wrong and what to do about it.
  const char *reason;
  // For kMissingFeature: which one (the reason says what it means).
  const char *missing_feature = nullptr;
  bool usable() const { return support == Support::kUsable; }
};

// SDM vol. 3C 23.6 "Discovering Support for VMX" and 23.7 "Enabling and
// Entering VMX Operation".
ProbeResult evaluate(const ProbeInput &in);

// Reads the facts from the CPUs through the platform ABI.
ProbeInput gather();

const char *support_name(Support s);

}  // namespace mk::vmx
