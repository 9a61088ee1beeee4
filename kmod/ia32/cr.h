// SPDX-License-Identifier: GPL-2.0
// Control register bits (SDM vol. 3A 2.5).
#pragma once

#include "../core/rt/types.h"

namespace ia32::cr4 {
inline constexpr mk::u64 kVme = 1ull << 0;
inline constexpr mk::u64 kPae = 1ull << 5;
inline constexpr mk::u64 kVmxe = 1ull << 13;  // VMX enable: set while in VMX operation
inline constexpr mk::u64 kSmxe = 1ull << 14;
}  // namespace ia32::cr4
