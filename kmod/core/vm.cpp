// SPDX-License-Identifier: GPL-2.0
#include "vm.h"

#include <linux/kvm.h>

#include "caps.h"
#include "rt/errno.h"

namespace mk {

namespace {
long g_live_vms;
}

Vm::Vm() { __atomic_fetch_add(&g_live_vms, 1, __ATOMIC_RELAXED); }
Vm::~Vm() { __atomic_fetch_sub(&g_live_vms, 1, __ATOMIC_RELAXED); }

long Vm::live_count() { return __atomic_load_n(&g_live_vms, __ATOMIC_RELAXED); }

long Vm::ioctl(unsigned int cmd, unsigned long arg) {
  switch (cmd) {
    case KVM_CHECK_EXTENSION:
      return caps::check(static_cast<long>(arg), caps::Scope::kVm);
    default:
      // As KVM's kvm_arch_vm_ioctl(): an ioctl this fd does not know.
      return -ENOTTY;
  }
}

}  // namespace mk
