// SPDX-License-Identifier: GPL-2.0
// A scope guard for the platform's irq-safe spinlocks (mk_spin_*).
#pragma once

#include <minikvm/platform.h>

namespace mk {

class SpinGuard {
 public:
  explicit SpinGuard(void *lock) : lock_(lock), flags_(mk_spin_lock_irqsave(lock)) {}
  ~SpinGuard() { mk_spin_unlock_irqrestore(lock_, flags_); }
  SpinGuard(const SpinGuard &) = delete;
  SpinGuard &operator=(const SpinGuard &) = delete;

 private:
  void *lock_;
  unsigned long flags_;
};

}  // namespace mk
