// SPDX-License-Identifier: GPL-2.0
// The launcher's host tests (uart_test.cpp, doorbell_test.cpp): a failure
// count and CHECK_EQ, no test framework (the launcher builds with make and
// a compiler alone). A failed check prints both values, in decimal and hex
// (register values read better in hex, counts in decimal), and counts.
#pragma once

#include <cstdio>

namespace mkl::host_check {
inline int failures = 0;
}  // namespace mkl::host_check

#define CHECK_EQ(a, b)                                                                             \
  do {                                                                                            \
    long long va_ = static_cast<long long>(a), vb_ = static_cast<long long>(b);                   \
    if (va_ != vb_) {                                                                             \
      std::fprintf(stderr, "%s:%d: %s = %lld (%#llx), expected %s = %lld (%#llx)\n", __FILE__,     \
                   __LINE__, #a, va_, va_, #b, vb_, vb_);                                         \
      mkl::host_check::failures++;                                                                \
    }                                                                                             \
  } while (0)
