// SPDX-License-Identifier: GPL-2.0
// The vCPU side of posted interrupts (SDM vol. 3C 29.6): the descriptor the
// VMX backend owns while APICv is active, and the notification after
// Lapic::accept() posted a vector (KVM's vmx_deliver_posted_interrupt /
// kvm_vcpu_trigger_posted_interrupt).
#include <minikvm/platform.h>

#include "vcpu.h"

namespace mk {

u64 Vcpu::pi_desc_pa() const { return backend_ ? backend_->pi_desc_pa() : 0; }
bool Vcpu::hw_posted_intr() const { return backend_ && backend_->hw_posted_intr(); }

void Vcpu::apic_posted() {
  // A blocked vCPU (HLT) wakes: has_wake_event() sees PIR through the
  // LAPIC. A vCPU in guest mode elsewhere gets the posted-interrupt
  // notification when its CPU processes posted interrupts (the vector
  // reaches the guest without a VM exit), else a kick (the exit, then
  // PIR -> IRR -> RVI at the next entry).
  wake_and_notify(hw_posted_intr());
}

}  // namespace mk
