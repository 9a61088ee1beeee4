// SPDX-License-Identifier: GPL-2.0
// KVM_CHECK_EXTENSION, truthfully: a capability is reported only once
// minikvm implements it (Documentation/abi.md lists them).
#pragma once

namespace mk::caps {

enum class Scope { kSystem, kVm };

// Returns the capability's value (0 = not supported), as KVM does.
long check(long cap, Scope scope);

}  // namespace mk::caps
