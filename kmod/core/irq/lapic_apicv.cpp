// SPDX-License-Identifier: GPL-2.0
// The local APIC under APIC virtualization (Intel SDM vol. 3C chapter 29;
// lapic.h "APIC virtualization"). Facts from KVM 6.1 arch/x86/kvm/lapic.c:
// kvm_apic_update_irr (PIR -> IRR), kvm_apic_set_eoi_accelerated,
// kvm_apic_write_nodecode, and x86.c update_cr8_intercept.
//
// Who writes what in the register page while APICv is active:
//  - IRR: the vCPU thread (drain of PIR, here, outside guest mode) and the
//    CPU in guest mode (posted-interrupt processing 29.6; virtual-interrupt
//    delivery 29.2.2 clears the delivered bit). accept() never does.
//  - ISR, PPR: the CPU in guest mode (delivery sets VISR, EOI
//    virtualization 29.1.3 clears it; PPR virtualization 29.1.3). The vCPU
//    thread recomputes PPR from the page when it looks.
//  - TPR: the guest directly (TPR virtualization 29.1.2), the vCPU thread
//    through CR8/MSR/KVM_SET_LAPIC.
//  - TMR: accept(), under lock_ (the CPU never reads it: the EOI-exit
//    bitmap says which EOIs exit).
#include <minikvm/platform.h>

#include "irq/lapic.h"
#include "irq/posted.h"

namespace mk::irq {

namespace r = apic_reg;

void Lapic::drain_pir_locked() {
  if (apicv_ && pi_)
    pi_->drain_into(page_);
}

void Lapic::set_apicv_active(bool on, PostedIntr *pi) {
  unsigned long f = lock();
  // Whatever was posted goes to the IRR before the descriptor is switched
  // or dropped: nothing is lost in either direction (KVM's
  // kvm_lapic_update_apicv + vmx_refresh_apicv_exec_ctrl; KVM keeps
  // PIR for the next sync instead, the effect is the same).
  drain_pir_locked();
  if (on && pi) {
    pi_ = pi;
    apicv_ = true;
  } else {
    apicv_ = false;
    pi_ = nullptr;
  }
  unlock(f);
}

bool Lapic::apicv_active() const {
  unsigned long f = lock();
  bool v = apicv_;
  unlock(f);
  return v;
}

int Lapic::sync_pir_to_irr() {
  unsigned long f = lock();
  drain_pir_locked();
  update_ppr_locked();
  int v = highest_vec(r::kIrr);
  unlock(f);
  return v;
}

int Lapic::highest_isr() const {
  unsigned long f = lock();
  int v = highest_vec(r::kIsr);
  unlock(f);
  return v;
}

// 29.1.3: with the vector's EOI-exit bit set the CPU clears VISR[vector],
// updates SVI and PPR, and exits. The EOI message is ours to send: to the
// IOAPIC for a level-triggered vector (TMR), the RTC tracking for an edge
// one (KVM's kvm_ioapic_send_eoi through kvm_apic_set_eoi_accelerated).
void Lapic::eoi_induced(u8 vector) {
  unsigned long f = lock();
  update_ppr_locked();
  bool level = test_vec(r::kTmr, vector);
  unlock(f);
  if (mk_trace_on[MK_TP_EOI])
    mk_trace_eoi(trace_vm_, vcpu_id_, vector, level);
  if (level)
    host_.apic_eoi_level(vector);
  else
    host_.apic_eoi_edge(vector);
}

// 29.4.3.3: the CPU stored the guest's write in the page and exited after
// it (trap-like). The register's previous value goes back first, then the
// write is done as through MMIO/MSR with the stored value: the same checks
// (a register that ignores the write keeps its old value: initial count in
// TSC-deadline mode, a missing CMCI LVT), the same canonical value (masks,
// busy bit, LVT masking while software-disabled), the same side effects,
// and write-only registers (EOI, self IPI) read back as before. KVM's
// kvm_apic_write_nodecode re-writes the page value without restoring.
void Lapic::apic_write_trap(u32 offset) {
  if (offset > r::kSelfIpi || (offset & 0xf))
    return;  // the CPU reports only 16-byte aligned registers of the first 1 KiB
  unsigned long f = lock();
  bool x2 = x2apic_locked();
  u32 lo = get(offset), hi = get(offset + 4);
  bool icr64 = x2 && offset == r::kIcrLow;
  put(offset, committed_[offset >> 2]);
  if (icr64)
    put(offset + 4, committed_[(offset + 4) >> 2]);
  unlock(f);
  if (icr64) {
    // x2APIC: one 64-bit ICR at 0x300 (SDM 29.5; KVM_GET_LAPIC moves the
    // high half to 0x310 for userspace).
    write_icr64(lo | static_cast<u64>(hi) << 32);
    return;
  }
  write(offset, lo);
}

// KVM's update_cr8_intercept / vmx_update_cr8_intercept: exit when the
// guest lowers TPR below the class of the highest pending vector, so it
// is delivered at once; 0 when nothing waits or TPR does not hold it back.
u32 Lapic::tpr_threshold() {
  unsigned long f = lock();
  int irr = highest_vec(r::kIrr);
  u32 tpr_class = (get(r::kTpr) >> 4) & 0xf;
  unlock(f);
  if (irr < 0)
    return 0;
  u32 irr_class = static_cast<u32>(irr) >> 4;
  return tpr_class < irr_class ? 0 : irr_class;
}

bool Lapic::tpr_changed() {
  unsigned long f = lock();
  u32 ppr = update_ppr_locked();
  int irr = highest_vec(r::kIrr);
  bool deliverable = hw_enabled_locked() && irr >= 0 && (static_cast<u32>(irr) & 0xf0) > ppr;
  unlock(f);
  return deliverable;
}

}  // namespace mk::irq
