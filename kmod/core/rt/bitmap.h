// SPDX-License-Identifier: GPL-2.0
// A fixed-size bit set, as the APIC's 256-bit IRR/ISR/TMR will need:
// find_last() answers "highest set bit" (the highest-priority vector).
#pragma once

#include "types.h"

namespace mk {

template <size_t N> class Bitmap {
 public:
  static constexpr size_t kWords = (N + 63) / 64;
  static constexpr size_t kNone = static_cast<size_t>(-1);

  constexpr size_t size() const { return N; }
  bool test(size_t i) const { return i < N && (w_[i / 64] >> (i % 64)) & 1; }
  void set(size_t i) {
    if (i < N)
      w_[i / 64] |= 1ull << (i % 64);
  }
  void clear(size_t i) {
    if (i < N)
      w_[i / 64] &= ~(1ull << (i % 64));
  }
  // Sets bit i and tells whether it was already set.
  bool test_and_set(size_t i) {
    bool was = test(i);
    set(i);
    return was;
  }
  void clear_all() {
    for (auto &w : w_)
      w = 0;
  }
  bool any() const {
    for (auto w : w_)
      if (w)
        return true;
    return false;
  }
  size_t count() const {
    size_t n = 0;
    for (auto w : w_)
      n += __builtin_popcountll(w);
    return n;
  }
  // Highest set bit, or kNone.
  size_t find_last() const {
    for (size_t k = kWords; k-- > 0;)
      if (w_[k])
        return k * 64 + 63 - __builtin_clzll(w_[k]);
    return kNone;
  }
  // Lowest set bit, or kNone.
  size_t find_first() const {
    for (size_t k = 0; k < kWords; k++)
      if (w_[k])
        return k * 64 + __builtin_ctzll(w_[k]);
    return kNone;
  }
  u64 word(size_t k) const { return k < kWords ? w_[k] : 0; }

 private:
  u64 w_[kWords] = {};
};

}  // namespace mk
