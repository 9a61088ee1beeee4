// SPDX-License-Identifier: GPL-2.0
// APICv's VM-wide state: the EOI-exit bitmap (vm.h). PLACEHOLDER until the
// APICv core lands: an empty bitmap (no EOI exits requested).
#include "vm.h"

namespace mk {

void Vm::eoi_exit_bitmap(u64 out[4]) {
  for (int i = 0; i < 4; i++)
    out[i] = __atomic_load_n(&eoi_exit_[i], __ATOMIC_RELAXED);
}

void Vm::eoi_exit_changed() { __atomic_add_fetch(&eoi_exit_gen_, 1, __ATOMIC_RELEASE); }

}  // namespace mk
