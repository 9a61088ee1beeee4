// SPDX-License-Identifier: GPL-2.0
// Fixed-width types for the freestanding core: no libc, no kernel headers.
#pragma once

namespace mk {

using u8 = unsigned char;
using u16 = unsigned short;
using u32 = unsigned int;
using u64 = unsigned long long;
using s8 = signed char;
using s16 = short;
using s32 = int;
using s64 = long long;
using size_t = __SIZE_TYPE__;
using uptr = unsigned long;

static_assert(sizeof(u64) == 8 && sizeof(uptr) == 8, "x86-64 only");

}  // namespace mk
