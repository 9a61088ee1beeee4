// SPDX-License-Identifier: GPL-2.0
// What one vCPU uses of VMX's APIC virtualization (SDM vol. 3C chapter 29),
// decided from the CPU's capabilities, kvm_intel's module parameters and
// the vCPU's APIC mode; the VM-execution controls and the MSR bitmap that
// follow from it. Pure computation, unit-tested on the host; the VMX
// backend (vmx_vcpu.cpp) applies it. KVM's vmx_refresh_apicv_exec_ctrl,
// vmx_set_virtual_apic_mode and vmx_update_msr_bitmap_x2apic.
#pragma once

#include "../rt/types.h"
#include "capabilities.h"

namespace mk::vmx {

struct ApicvInputs {
  bool lapic = false;          // in-kernel LAPIC
  bool enable_apicv = false;   // module parameter enable_apicv
  bool flexpriority = false;   // module parameter flexpriority
  u64 apic_base = 0;           // IA32_APIC_BASE (EN bit 11, EXTD bit 10)
};

// The mode matrix (Documentation: doc-A1 "mode matrix"):
//  tpr_shadow:    in-kernel LAPIC and the CPU has it: CR8 reads/writes
//                 become VTPR accesses, no exit (29.1.2; KVM uses it
//                 regardless of flexpriority).
//  apic_accesses: + flexpriority, xAPIC mode, APIC base at 0xFEE00000:
//                 MMIO to the APIC page is virtualized (TPR without exit,
//                 the rest as APIC-access exits) (29.4).
//  x2apic_virt:   x2APIC mode and the CPU has it: the MSR bitmap lets TPR
//                 (and with APICv EOI, self-IPI, register reads) through.
//  apicv:         + enable_apicv, the CPU has register virtualization and
//                 virtual-interrupt delivery, the APIC enabled and not
//                 relocated (xAPIC) or x2APIC virtualizable: register
//                 virtualization + virtual-interrupt delivery.
//  posted:        + the CPU processes posted interrupts (pin control).
struct ApicvMode {
  bool tpr_shadow = false;
  bool apic_accesses = false;
  bool x2apic_virt = false;
  bool apicv = false;
  bool posted = false;
  bool operator==(const ApicvMode &o) const {
    return tpr_shadow == o.tpr_shadow && apic_accesses == o.apic_accesses && x2apic_virt == o.x2apic_virt &&
           apicv == o.apicv && posted == o.posted;
  }
  bool operator!=(const ApicvMode &o) const { return !(*this == o); }
};

inline constexpr u64 kApicDefaultBase = 0xfee00000;

ApicvMode apicv_mode(const ApicvCaps &caps, const ApicvInputs &in);

// What the minikvm_apicv tracepoint reports of a decision m = apicv_mode(caps, in):
// mode MINIKVM_APICV_* and, when APICv is off, every MINIKVM_APICV_INHIBIT_*
// reason that applies (0 when it is on).
struct ApicvTrace {
  u8 mode = 0;
  u32 inhibit = 0;
};
ApicvTrace apicv_trace(const ApicvCaps &caps, const ApicvInputs &in, const ApicvMode &m);

// The controls of a mode over the base controls (compute_controls()):
// APICv bits set or cleared, CR8 exiting off with the TPR shadow, MSR
// bitmaps with x2APIC virtualization.
void apicv_controls(const ApicvMode &m, u32 *pin, u32 *proc, u32 *proc2);

// Fills a 4 KiB MSR bitmap (SDM 24.6.9: read-low at 0, read-high at 0x400,
// write-low at 0x800, write-high at 0xc00; a set bit makes the access
// exit): every MSR exits, except in x2APIC mode the TPR (0x808) and, with
// APICv, reads of the readable registers but TMCCT 0x839, ICR 0x830 and
// LVT CMCI 0x82F (their values are not what the page holds) and writes of
// EOI 0x80B and SELF IPI 0x83F (virtualized, 29.5).
void fill_msr_bitmap(u8 *bitmap, bool apicv);

// Does the bitmap let an access to msr through (no exit)?
bool msr_passes(const u8 *bitmap, u32 msr, bool write);

}  // namespace mk::vmx
