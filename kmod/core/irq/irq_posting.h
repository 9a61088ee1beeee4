// SPDX-License-Identifier: GPL-2.0
// VT-d posted interrupts for assigned devices: the decision an irqfd makes
// when an irq-bypass producer (VFIO) shares its eventfd, and the calls to
// the IOMMU driver through irq_set_vcpu_affinity(). KVM's counterpart is
// kvm_arch_irq_bypass_add_producer() + vmx_pi_update_irte().
//
// A route is postable when it is a single-destination fixed or
// lowest-priority MSI (KVM's kvm_intr_is_single_vcpu) to a vCPU that has a
// posted-interrupt descriptor the IOMMU may write. Otherwise the IRTE goes
// (back) to remapped mode: irq_set_vcpu_affinity(host_irq, NULL).
#pragma once

#include "rt/types.h"

namespace mk {
class Vm;
}

namespace mk::irq {

// The consumer side of one irqfd, as the irq-bypass glue calls it
// (mk_core_bypass_add_producer / _del_producer, core.h). Implemented by the
// irqfd; any sleeping context, never with an irqfd or VM spinlock held.
class PostingClient {
 public:
  virtual ~PostingClient() = default;
  virtual void producer_added(u32 host_irq) = 0;
  virtual void producer_removed(u32 host_irq) = 0;
};

// What one irqfd with an attached producer has told the IOMMU.
struct PostingState {
  u32 host_irq = 0;
  bool attached = false;     // a producer is connected
  bool posted = false;       // the IRTE is in posted mode now
  u32 vcpu = 0;              // while posted: the destination vCPU index
  u8 vector = 0;             // while posted: the guest vector
  bool failure_reported = false;
};

// Re-decides for gsi's current route and tells the IOMMU when the decision
// changed. Called by the irqfd when a producer attaches and after every
// KVM_SET_GSI_ROUTING; the caller serialises calls per state and may sleep.
void posting_update(Vm &vm, u32 gsi, PostingState &st);
// The producer goes away (or the irqfd): back to remapped mode if posted.
void posting_detach(Vm &vm, PostingState &st);

}  // namespace mk::irq
