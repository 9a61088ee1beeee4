// SPDX-License-Identifier: GPL-2.0
// VT-d posted interrupts for assigned devices (see irq_posting.h). KVM 6.1
// facts: vmx_pi_update_irte() (arch/x86/kvm/vmx/posted_intr.c) skips
// non-MSI routes, posts an MSI route when kvm_intr_is_single_vcpu() and
// kvm_irq_is_postable() (fixed or lowest priority) hold, with
// vcpu_data{__pa(pi_desc), vector}, else irq_set_vcpu_affinity(irq, NULL).
// Differences, on purpose:
//  - KVM calls NULL on every update that does not post, even when the IRTE
//    never left remapped mode; minikvm calls only on a change (an attached
//    producer starts in remapped mode: VFIO programs it so).
//  - KVM's fast path (kvm_intr_is_single_vcpu_fast) posts a lowest-priority
//    MSI with several candidates to the one its vector hashing picks;
//    minikvm posts lowest priority only with exactly one candidate, since
//    its software delivery arbitrates by priority at each message
//    (apic_bus.cpp) and a fixed choice would change which vCPU gets it.
//  - A refused posted call: KVM returns the error (the bypass connection
//    fails, the IRTE is left as the driver left it); minikvm returns the
//    IRTE to remapped mode, counts and reports it, and keeps the
//    connection, so the next routing change may post again.
#include "irq/irq_posting.h"

#include <minikvm/core.h>
#include <minikvm/platform.h>

#include "irq/lapic.h"
#include "rt/log.h"
#include "vcpu.h"
#include "vm.h"

namespace mk {

u32 Vm::gsi_routes(u32 gsi, irq::RouteEntry *out, u32 max, bool *x2apic_format) {
  *x2apic_format = false;
  if (!irqchip_in_kernel() && !irqchip_split())
    return 0;
  irq::GsiRouting *rt = __atomic_load_n(&routing_, __ATOMIC_ACQUIRE);
  if (!rt)
    return 0;
  *x2apic_format = rt->x2apic_format();
  return rt->lookup(gsi, out, max);
}

}  // namespace mk

namespace mk::irq {

namespace {

void count(u64 &counter) { __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED); }

// The VM's vCPUs, read lock-free (vcpu_count() publishes created vCPUs).
class VmTargets final : public PostingTargets {
 public:
  explicit VmTargets(Vm &vm) : vm_(vm) {}
  u32 count() const override { return vm_.vcpu_count(); }
  PostingTarget at(u32 i) const override {
    Vcpu *v = vm_.vcpu_at(i);
    PostingTarget t;
    t.lapic = v->lapic();
    t.pi_desc_pa = v->pi_desc_pa();
    t.hw_posted = v->hw_posted_intr();
    return t;
  }

 private:
  Vm &vm_;
};

}  // namespace

int posting_single_target(const ApicMessage &m, const PostingTargets &targets) {
  // kvm_intr_is_single_vcpu(): count the present LAPICs that match the
  // destination (kvm_apic_match_dest with no source and no shorthand);
  // Lapic::matches() says no for a hardware-disabled APIC, as
  // kvm_apic_present() would skip it. A broadcast matches every APIC, so
  // it is single only in a one-vCPU VM, as in KVM's slow path.
  int found = -1;
  u32 n = targets.count();
  for (u32 i = 0; i < n; i++) {
    PostingTarget t = targets.at(i);
    if (!t.lapic || !t.lapic->matches(m, nullptr))
      continue;
    if (found >= 0)
      return -1;
    found = static_cast<int>(i);
  }
  return found;
}

PostingDecision posting_decide(const RouteEntry *routes, u32 nr, bool x2apic_format,
                               const PostingTargets &targets, bool allow_soft_posting) {
  PostingDecision d;
  // An MSI GSI has exactly one route (GsiRouting::set refuses a second);
  // irqchip routes are never posted (KVM skips them).
  if (nr != 1 || routes[0].type != KVM_IRQ_ROUTING_MSI)
    return d;
  const RouteEntry &e = routes[0];
  if (msi_route_invalid(e.address_hi, x2apic_format))
    return d;
  ApicMessage m = msi_message(e.address_lo, e.address_hi, e.data, x2apic_format);
  // kvm_irq_is_postable(): the IOMMU posts a vector into the PIR, which
  // only fixed and lowest-priority interrupts are (NMI, SMI, INIT, ExtINT
  // need the CPU's own delivery). Level-triggered MSIs are posted as KVM
  // does: an MSI is an edge whatever the trigger bit says.
  if (m.delivery != Delivery::kFixed && m.delivery != Delivery::kLowestPriority)
    return d;
  int i = posting_single_target(m, targets);
  if (i < 0)
    return d;
  PostingTarget t = targets.at(static_cast<u32>(i));
  // The IOMMU writes the descriptor and sends its notification vector: the
  // vCPU needs one (APICv on), and something must process it: the CPU
  // (VT-x posting), or under the test knob minikvm's software fallback,
  // which picks PIR up at the next entry and sees no notification (the
  // knob exists only so a testbed without VT-d sees the posted calls).
  if (!t.pi_desc_pa || !(t.hw_posted || allow_soft_posting))
    return d;
  d.post = true;
  d.vcpu = static_cast<u32>(i);
  d.vector = m.vector;
  d.pi_desc_pa = t.pi_desc_pa;
  return d;
}

namespace {

void report_failure(PostingState &st, int err, bool posted_call) {
  if (st.failure_reported)
    return;
  st.failure_reported = true;
  mk_info("host irq %u: IOMMU refused %s (%d); the interrupt stays remapped", st.host_irq,
          posted_call ? "posted mode" : "remapped mode", err);
}

// Back to remapped mode (irq_set_vcpu_affinity(irq, NULL)).
void go_remapped(PostingState &st, PostingStats &stats) {
  int r = mk_irq_set_vcpu_affinity(st.host_irq, 0, 0, 0);
  if (mk_trace_on[MK_TP_PI_IRTE_UPDATE])
    mk_trace_pi_irte_update(st.trace_vm, MINIKVM_TRACE_NO_VCPU, st.host_irq, st.gsi, 0, 0, r, 0);
  if (r) {
    count(stats.failures);
    report_failure(st, r, false);
  } else {
    count(stats.remapped);
  }
  st.posted = false;
  st.vcpu = 0;
  st.vector = 0;
  st.pi_desc_pa = 0;
  st.vcpu_id = MINIKVM_TRACE_NO_VCPU;
}

}  // namespace

void posting_apply(const PostingDecision &d, PostingState &st, PostingStats &stats, u32 vcpu_id) {
  if (!d.post) {
    if (st.posted)
      go_remapped(st, stats);
    return;
  }
  if (st.posted && st.vcpu == d.vcpu && st.vector == d.vector && st.pi_desc_pa == d.pi_desc_pa)
    return;
  int r = mk_irq_set_vcpu_affinity(st.host_irq, d.pi_desc_pa, d.vector, 1);
  if (mk_trace_on[MK_TP_PI_IRTE_UPDATE])
    mk_trace_pi_irte_update(st.trace_vm, vcpu_id, st.host_irq, st.gsi, d.vector, 1, r, d.pi_desc_pa);
  if (!r) {
    count(stats.posted);
    st.posted = true;
    st.vcpu = d.vcpu;
    st.vector = d.vector;
    st.pi_desc_pa = d.pi_desc_pa;
    st.vcpu_id = vcpu_id;
    return;
  }
  // The IRTE may still post to the old target, or be half-written by a
  // driver that failed midway: make it remapped, which always delivers
  // through the host (VFIO's handler signals the eventfd, the irqfd injects).
  count(stats.failures);
  report_failure(st, r, true);
  go_remapped(st, stats);
}

void posting_update(Vm &vm, u32 gsi, PostingState &st) {
  if (!st.attached)
    return;
  RouteEntry routes[GsiRouting::kMaxPerGsi];
  bool x2apic_format = false;
  u32 nr = vm.gsi_routes(gsi, routes, GsiRouting::kMaxPerGsi, &x2apic_format);
  VmTargets targets(vm);
  PostingDecision d = posting_decide(routes, nr, x2apic_format, targets, mk_irte_posting_test() != 0);
  st.trace_vm = vm.trace_id();
  st.gsi = gsi;
  u32 vcpu_id = d.post ? vm.vcpu_at(d.vcpu)->id() : MINIKVM_TRACE_NO_VCPU;
  posting_apply(d, st, vm.posting_stats(), vcpu_id);
}

void posting_detach(Vm &vm, PostingState &st) {
  if (st.posted)
    go_remapped(st, vm.posting_stats());
  st.attached = false;
}

}  // namespace mk::irq

// The irq-bypass glue's callbacks (core.h): client is the irqfd's
// PostingClient, which knows its VM, GSI and PostingState.
extern "C" void mk_core_bypass_add_producer(void *client, unsigned int host_irq) {
  static_cast<mk::irq::PostingClient *>(client)->producer_added(host_irq);
}

extern "C" void mk_core_bypass_del_producer(void *client, unsigned int host_irq) {
  static_cast<mk::irq::PostingClient *>(client)->producer_removed(host_irq);
}
