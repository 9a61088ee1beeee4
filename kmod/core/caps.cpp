// SPDX-License-Identifier: GPL-2.0
#include "caps.h"

#include <linux/kvm.h>


namespace mk::caps {

namespace {
struct Cap {
  long id;
  long value;
};

// Every capability minikvm implements. Anything absent answers 0, which
// tells KVM users (QEMU, the selftests) to take their fallback path.
constexpr Cap kCaps[] = {
    // KVM_CHECK_EXTENSION is answered on VM fds as well as on the device.
    {KVM_CAP_CHECK_EXTENSION_VM, 1},
};
}  // namespace

long check(long cap, Scope) {
  for (const Cap &c : kCaps)
    if (c.id == cap)
      return c.value;
  return 0;
}

}  // namespace mk::caps
