// SPDX-License-Identifier: GPL-2.0
// Access to a guest's physical memory, as emulation code needs it (guest
// page-table walks, descriptor tables, string I/O): an interface so that
// such code is unit-tested over a plain buffer and runs over GuestMmu.
#pragma once

#include "../rt/types.h"

namespace mk::mmu {

class GuestPhysMem {
 public:
  // Copy len bytes at guest-physical gpa to or from buf, across page and
  // memory-slot boundaries. Return 0, or -EFAULT when any byte of the range
  // is not guest RAM (no slot: MMIO), when writing to read-only memory, or
  // when the range wraps; -EFAULT then means nothing was copied unless the
  // host mapping itself failed midway. len 0 is 0.
  virtual int read(u64 gpa, void *buf, size_t len) = 0;
  virtual int write(u64 gpa, const void *buf, size_t len) = 0;

 protected:
  GuestPhysMem() = default;
  ~GuestPhysMem() = default;
};

}  // namespace mk::mmu
