// SPDX-License-Identifier: GPL-2.0
// PLACEHOLDER until APICv lands: no posted-interrupt descriptor.
#include "vcpu.h"

namespace mk {

u64 Vcpu::pi_desc_pa() const { return 0; }
bool Vcpu::hw_posted_intr() const { return false; }

}  // namespace mk
