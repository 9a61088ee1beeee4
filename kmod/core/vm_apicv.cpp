// SPDX-License-Identifier: GPL-2.0
// APICv's VM-wide state: the EOI-exit bitmap (vm.h; SDM vol. 3C 29.1.3,
// 24.6.8 "EOI-exit bitmap"). Under virtual-interrupt delivery the CPU
// completes a guest's EOI by itself unless the vector's bit in the VMCS
// EOI-exit bitmap is set; the bitmap must hold every vector whose EOI some
// device model has to see: IOAPIC level-triggered entries (Remote IRR,
// re-delivery of a still-asserted line), the RTC's (KVM_IRQ_LINE_STATUS
// coalescing), and in split-irqchip mode the level-triggered MSI routes
// that stand for the userspace IOAPIC's pins (KVM_EXIT_IOAPIC_EOI).
//
// KVM computes the set per vCPU (kvm_ioapic_scan_entry /
// kvm_scan_ioapic_routes: only entries whose destination matches that vCPU,
// plus vectors it still has in service) and rescans on every
// KVM_REQ_SCAN_IOAPIC, which also fires when a guest changes its APIC ID,
// LDR, DFR or mode. minikvm computes one VM-wide set, destination-agnostic:
// a vCPU that is no destination of a level vector only pays an EOI exit it
// would never take (the vector is never delivered to it), and APIC ID/LDR/
// DFR/mode changes need no rescan at all. The set can only be larger than
// KVM's per-vCPU one, never smaller, so no EOI that matters is skipped.
#include <minikvm/platform.h>

#include "irq/ioapic.h"
#include "irq/irqfd.h"
#include "irq/routing.h"
#include "rt/spinlock.h"
#include "vcpu.h"
#include "vm.h"

namespace mk {

void Vm::eoi_exit_bitmap(u64 out[4]) {
  for (int i = 0; i < 4; i++)
    out[i] = __atomic_load_n(&eoi_exit_[i], __ATOMIC_RELAXED);
}

void Vm::eoi_exit_changed() {
  if (!apicv_lock_)
    return;
  bool changed = false;
  {
    // Computed and stored under one lock: two recomputations racing (an
    // IOAPIC write and a routing change) cannot store out of order. The
    // IOAPIC and routing locks nest inside (neither calls back out while
    // holding its own).
    SpinGuard l(apicv_lock_);
    u64 v[4] = {};
    if (irqchip_split()) {
      // KVM's kvm_scan_ioapic_routes: MSI routes of the reserved IOAPIC
      // GSIs with the trigger-mode bit (MSI data bit 15) set.
      u32 pins = nr_reserved_ioapic_pins();
      if (routing_) {
        for (u32 gsi = 0; gsi < pins; gsi++) {
          irq::RouteEntry e[irq::GsiRouting::kMaxPerGsi];
          u32 n = routing_->lookup(gsi, e, irq::GsiRouting::kMaxPerGsi);
          for (u32 i = 0; i < n; i++) {
            if (e[i].type != KVM_IRQ_ROUTING_MSI || !(e[i].data & (1u << 15)))
              continue;
            u32 vec = e[i].data & 0xff;
            v[vec >> 6] |= 1ull << (vec & 63);
          }
        }
      }
    } else if (ioapic_) {
      // IOAPIC pins whose EOI a resampling irqfd waits for, edge-programmed
      // ones included (KVM's kvm_irq_has_notifier). apicv_lock_ ->
      // resample_lock_ -> routing lock: no path takes them the other way.
      u32 listened = 0;
      if (irqfds_ && routing_) {
        u32 gsis[32];
        u32 n = irqfds_->resampled_gsis(gsis, 32);
        for (u32 k = 0; k < n; k++) {
          irq::RouteEntry e[irq::GsiRouting::kMaxPerGsi];
          u32 m = routing_->lookup(gsis[k], e, irq::GsiRouting::kMaxPerGsi);
          for (u32 i = 0; i < m; i++)
            if (e[i].type == KVM_IRQ_ROUTING_IRQCHIP && e[i].chip == KVM_IRQCHIP_IOAPIC && e[i].pin < 32)
              listened |= 1u << e[i].pin;
        }
      }
      ioapic_->eoi_exit_vectors(v, listened);
    }
    for (int i = 0; i < 4; i++) {
      if (v[i] != eoi_exit_[i]) {
        changed = true;
        __atomic_store_n(&eoi_exit_[i], v[i], __ATOMIC_RELAXED);
      }
    }
    // The bitmap before the generation: a vCPU that sees the new
    // generation (acquire) reads the new bitmap.
    if (changed)
      __atomic_add_fetch(&eoi_exit_gen_, 1, __ATOMIC_RELEASE);
  }
  if (!changed)
    return;
  // Every vCPU reloads it before its next entry (KVM's
  // KVM_REQ_SCAN_IOAPIC + kick of all vCPUs).
  u32 n = vcpu_count();
  for (u32 i = 0; i < n; i++)
    vcpus_[i]->kick();
}

}  // namespace mk
