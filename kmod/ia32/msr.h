// SPDX-License-Identifier: GPL-2.0
// Model-specific registers (SDM vol. 4), typed. One place for their numbers.
#pragma once

#include "../core/rt/types.h"

namespace ia32::msr {

enum class Index : mk::u32 {
  kFeatureControl = 0x3a,  // IA32_FEATURE_CONTROL
  kVmxBasic = 0x480,       // IA32_VMX_BASIC
};

constexpr mk::u32 operator+(Index i) { return static_cast<mk::u32>(i); }

// IA32_FEATURE_CONTROL (SDM vol. 3C 23.7, "Enabling and Entering VMX
// Operation"): once Lock is set the register is read-only until reset, and
// VMXON #GPs unless the enable bit matching the current SMX state is set.
struct FeatureControl {
  mk::u64 value;

  static constexpr mk::u64 kLock = 1ull << 0;
  static constexpr mk::u64 kVmxInsideSmx = 1ull << 1;
  static constexpr mk::u64 kVmxOutsideSmx = 1ull << 2;

  constexpr bool locked() const { return value & kLock; }
  constexpr bool vmx_outside_smx() const { return value & kVmxOutsideSmx; }
  constexpr bool vmx_inside_smx() const { return value & kVmxInsideSmx; }
};

}  // namespace ia32::msr
