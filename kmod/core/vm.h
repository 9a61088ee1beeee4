// SPDX-License-Identifier: GPL-2.0
// A virtual machine: what a KVM_CREATE_VM fd refers to.
#pragma once

#include "fd_object.h"

namespace mk {

class Vm final : public FdObject {
 public:
  long ioctl(unsigned int cmd, unsigned long arg) override;
  ~Vm() override;

  static long live_count();

  Vm();
};

}  // namespace mk
