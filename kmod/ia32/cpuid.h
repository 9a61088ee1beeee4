// SPDX-License-Identifier: GPL-2.0
// CPUID leaves and feature bits the hypervisor reads (SDM vol. 2A, CPUID).
#pragma once

#include "../core/rt/types.h"

namespace ia32::cpuid {

struct Regs {
  mk::u32 eax, ebx, ecx, edx;
};

enum class Leaf : mk::u32 {
  kVendor = 0x0,
  kFeatures = 0x1,
};

// CPUID.01H:ECX
namespace features_ecx {
inline constexpr mk::u32 kVmx = 1u << 5;  // Virtual Machine Extensions
inline constexpr mk::u32 kSmx = 1u << 6;
inline constexpr mk::u32 kHypervisor = 1u << 31;  // running under a hypervisor
}  // namespace features_ecx

}  // namespace ia32::cpuid
