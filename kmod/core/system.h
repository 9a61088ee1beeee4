// SPDX-License-Identifier: GPL-2.0
// The system device (/dev/minikvm, or /dev/kvm with as_kvm=1): the ioctls
// KVM answers on /dev/kvm itself.
#pragma once

#include "vmx/probe.h"

namespace mk {

class System {
 public:
  // Probes VMX once at load and logs the verdict.
  int init();
  long ioctl(unsigned int cmd, unsigned long arg);

  // Injectable for tests: how VMX facts are gathered.
  using Gatherer = vmx::ProbeInput (*)();
  explicit System(Gatherer g) : gather_(g) {}

 private:
  long create_vm(unsigned long type);

  Gatherer gather_;
  // Which refusal reasons were already logged (bit per vmx::Support value):
  // hostile callers may loop on KVM_CREATE_VM; dmesg gets one line per reason.
  unsigned int logged_refusals_ = 0;
};

}  // namespace mk
