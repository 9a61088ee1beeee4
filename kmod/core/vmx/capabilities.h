// SPDX-License-Identifier: GPL-2.0
// What this CPU's VMX can do, and the VM-execution, VM-exit and VM-entry
// controls minikvm runs guests with, computed from the capability MSRs
// (SDM vol. 3C appendix A). Pure computation, unit-tested on the host; the
// reader asks the platform for the MSRs.
#pragma once

#include "../../ia32/vmx.h"
#include "../rt/types.h"

namespace mk::vmx {

// A control field's allowed settings as one capability MSR reports them
// (SDM A.3-A.5): bits 31:0 are the allowed 0-settings (a 1 there means the
// control must be 1), bits 63:32 the allowed 1-settings (a 0 there means the
// control must be 0).
struct AllowedSettings {
  u32 must_be_one = 0;
  u32 may_be_one = 0;
  static constexpr AllowedSettings from_msr(u64 v) {
    return {static_cast<u32>(v), static_cast<u32>(v >> 32)};
  }
  constexpr bool may_set(u32 bits) const { return (may_be_one & bits) == bits; }
};

struct Capabilities {
  ia32::vmx::Basic basic{};
  AllowedSettings pin, proc, proc2, exit, entry;
  u64 misc = 0;
  u64 ept_vpid = 0;
  u64 cr0_fixed0 = 0, cr0_fixed1 = 0, cr4_fixed0 = 0, cr4_fixed1 = 0;
};

// The raw MSR reader, injectable for tests: returns 0 and the value, or <0.
using MsrReader = int (*)(u32 msr, u64 *value);

// Reads every capability MSR. Uses the TRUE_* MSRs where IA32_VMX_BASIC
// bit 55 says they exist (SDM A.2), so that default-1 controls minikvm does
// not want (CR3-load/store exiting, ...) can be 0. The secondary controls'
// MSR is read only if the primary controls allow activating them. Returns
// 0, or -EIO when a capability MSR cannot be read.
int read_capabilities(MsrReader rdmsr, Capabilities *out);

struct ControlSet {
  u32 pin = 0, proc = 0, proc2 = 0, exit = 0, entry = 0;
};

// The controls minikvm enters guests with. Returns 0, or -EOPNOTSUPP with
// *missing naming the first required feature this CPU lacks.
int compute_controls(const Capabilities &caps, ControlSet *out, const char **missing);

// APIC virtualization (SDM vol. 3C chapter 29) this CPU offers, from the
// capability MSRs; what a vCPU uses of it is decided per vCPU (vmx_apicv.h).
struct ApicvCaps {
  bool tpr_shadow = false;        // primary bit 21, with CR8 exiting clearable
  bool apic_accesses = false;     // secondary bit 0 (virtualize APIC accesses)
  bool x2apic_mode = false;       // secondary bit 4 (virtualize x2APIC mode)
  bool register_virt = false;     // secondary bit 8
  bool intr_delivery = false;     // secondary bit 9 (needs external-interrupt exiting)
  bool posted_intr = false;       // pin bit 7 (needs VID and acknowledge-on-exit)
  bool msr_bitmaps = false;       // primary bit 28
  // flexpriority in kvm_intel's sense: TPR shadow + virtualized APIC accesses.
  bool flexpriority() const { return tpr_shadow && apic_accesses; }
  // APICv in kvm_intel's sense, minus the posted-interrupt requirement (the
  // software descriptor stands in, vcpu_apicv.cpp).
  bool apicv() const { return tpr_shadow && register_virt && intr_delivery; }
};
ApicvCaps apicv_caps(const Capabilities &caps);

// One field: required bits (failure if not allowed), optional bits (set
// where allowed), plus whatever the CPU forces to 1. Returns false and sets
// *lacking to the required bits that are not allowed.
bool adjust(AllowedSettings a, u32 required, u32 optional, u32 *out, u32 *lacking);

// Guest CR0/CR4 as the CPU will accept them at VM entry (SDM A.7, A.8):
// the fixed-0 MSR's ones must be set, the fixed-1 MSR's zeros must be
// clear. With unrestricted guest, CR0.PE and CR0.PG may be 0 (SDM 26.3.1.1).
u64 fixed_cr0(const Capabilities &caps, u64 cr0, bool unrestricted_guest);
u64 fixed_cr4(const Capabilities &caps, u64 cr4);

}  // namespace mk::vmx
