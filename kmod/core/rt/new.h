// SPDX-License-Identifier: GPL-2.0
// Allocation in the core. Every allocation can fail and every caller checks.
//
// The preferred form is `new (mk::nothrow) T(...)`: a non-throwing allocation
// function makes the compiler test for nullptr before running the constructor
// (C++20 [expr.new]/16), with or without -fcheck-new. Plain `new T` also
// works: runtime.cpp implements it over mk_alloc() and both builds compile
// with -fcheck-new, so a failed plain `new` yields nullptr too.
#pragma once

#include "types.h"

namespace mk {
struct nothrow_t {
  explicit nothrow_t() = default;
};
inline constexpr nothrow_t nothrow{};
}  // namespace mk

// Placement forms. <new> is not available (-nostdinc++), so declare them;
// the userspace build gets libstdc++'s identical inline definitions instead.
#if defined(MINIKVM_KERNEL)
inline void *operator new(mk::size_t, void *p) noexcept { return p; }
inline void *operator new[](mk::size_t, void *p) noexcept { return p; }
inline void operator delete(void *, void *) noexcept {}
inline void operator delete[](void *, void *) noexcept {}
#else
#include <new>
#endif

void *operator new(mk::size_t size, const mk::nothrow_t &) noexcept;
void *operator new[](mk::size_t size, const mk::nothrow_t &) noexcept;
void operator delete(void *p, const mk::nothrow_t &) noexcept;
void operator delete[](void *p, const mk::nothrow_t &) noexcept;
