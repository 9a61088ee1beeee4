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

#include <minikvm/trace.h>  // MINIKVM_TRACE_NO_VCPU

#include "irq/routing.h"
#include "rt/types.h"

namespace mk {
class Vm;
}

namespace mk::irq {

class Lapic;

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
  u64 pi_desc_pa = 0;        // while posted: the descriptor the IOMMU writes
  bool failure_reported = false;
  // For the minikvm_pi_irte_update tracepoint: the VM's number and the
  // irqfd's GSI (posting_update sets them), the vCPU id while posted.
  u32 trace_vm = 0;
  u32 gsi = 0;
  u32 vcpu_id = MINIKVM_TRACE_NO_VCPU;
};

// The VM's counters (KVM_GET_STATS_FD on the VM: irte_posted,
// irte_remapped, irte_failures), cumulative, updated without a lock.
struct PostingStats {
  u64 posted = 0;    // irq_set_vcpu_affinity(irq, &vcpu_data) that succeeded
  u64 remapped = 0;  // irq_set_vcpu_affinity(irq, NULL) calls (back to remapped)
  u64 failures = 0;  // calls the IOMMU driver refused
};

// Re-decides for gsi's current route and tells the IOMMU when the decision
// changed. Called by the irqfd when a producer attaches and after every
// KVM_SET_GSI_ROUTING; the caller serialises calls per state and may sleep.
void posting_update(Vm &vm, u32 gsi, PostingState &st);
// The producer goes away (or the irqfd): back to remapped mode if posted.
void posting_detach(Vm &vm, PostingState &st);

// ---- the decision itself, on plain inputs (unit-tested without a VM) ----

// One vCPU as the decision sees it.
struct PostingTarget {
  const Lapic *lapic = nullptr;  // null: no in-kernel LAPIC
  u64 pi_desc_pa = 0;            // 0: no posted-interrupt descriptor
  bool hw_posted = false;        // the CPU processes the descriptor (VT-x posting)
};

// The VM's vCPUs in index order (a VM or a unit test's fake).
class PostingTargets {
 public:
  virtual u32 count() const = 0;
  virtual PostingTarget at(u32 i) const = 0;

 protected:
  ~PostingTargets() = default;
};

struct PostingDecision {
  bool post = false;
  u32 vcpu = 0;    // index into the targets
  u8 vector = 0;
  u64 pi_desc_pa = 0;
};

// The destination of an MSI if it is exactly one vCPU (KVM's
// kvm_intr_is_single_vcpu: the LAPICs that match the message, with the
// message's delivery mode ignored; a hardware-disabled LAPIC matches
// nothing). Returns the index into targets, or -1.
int posting_single_target(const ApicMessage &m, const PostingTargets &targets);

// routes/nr: the GSI's routes (GsiRouting::lookup). Post when there is
// exactly one route, an MSI, valid in the current format, fixed or
// lowest-priority (kvm_irq_is_postable), to a single vCPU that has a
// descriptor and either hardware posting or allow_soft_posting (the
// module's test-only irte_posting_test).
PostingDecision posting_decide(const RouteEntry *routes, u32 nr, bool x2apic_format,
                               const PostingTargets &targets, bool allow_soft_posting);

// Tells the IOMMU (mk_irq_set_vcpu_affinity) what d says if that differs
// from st, and records it in st and stats. A refused posted call falls
// back to remapped mode (a NULL call), reported once per state.
// vcpu_id: the id of vCPU d.vcpu (KVM_CREATE_VCPU's), for the tracepoint.
void posting_apply(const PostingDecision &d, PostingState &st, PostingStats &stats,
                   u32 vcpu_id = MINIKVM_TRACE_NO_VCPU);

}  // namespace mk::irq
