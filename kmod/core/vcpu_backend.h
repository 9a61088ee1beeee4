// SPDX-License-Identifier: GPL-2.0
// The vendor operations of a vCPU: what differs between VMX and (later) SVM.
// A narrow table, as KVM's kvm_x86_ops: the generic vCPU (vcpu.h) keeps the
// ABI and the emulation; the backend owns the hardware control structure
// (VMCS), guest entry and the decoding of exits.
#pragma once

#include <linux/kvm.h>

#include "rt/types.h"

namespace mk {

class Vcpu;

enum class SegReg : u8 { kEs, kCs, kSs, kDs, kFs, kGs, kTr, kLdtr };

class VcpuBackend {
 public:
  virtual ~VcpuBackend() = default;

  // The vCPU thread gets / leaves a CPU (preemption off).
  virtual void load(int cpu) = 0;
  virtual void put() = 0;

  // Enters the guest once and handles the exit. Returns 1 to go on, 0 to
  // return to userspace (kvm_run filled), or a negative errno (-EINTR with
  // KVM_EXIT_INTR when a signal is pending).
  virtual int run_once() = 0;

  // Architectural state (vCPU loaded).
  virtual u64 rip() = 0;
  virtual void set_rip(u64 v) = 0;
  virtual u64 rsp() = 0;
  virtual void set_rsp(u64 v) = 0;
  virtual u64 rflags() = 0;
  virtual void set_rflags(u64 v) = 0;
  virtual void get_segment(SegReg s, kvm_segment *out) = 0;
  virtual void get_sregs(kvm_sregs *out) = 0;
  // Validated by the caller (CR/EFER consistency); returns 0 or -EINVAL.
  virtual int set_sregs(const kvm_sregs &in) = 0;
  virtual u64 cr0() = 0;
  virtual u64 cr4() = 0;
  virtual u64 efer() = 0;
  // Guest-visible CR writes from emulation (MOV CR exit, host-initiated
  // EFER). Return 0 or 1 (#GP).
  virtual int set_efer(u64 v, bool host) = 0;
  // VMCS-held MSRs: returns 0 and the value, or 1 when not such an MSR.
  virtual int get_vmcs_msr(u32 index, u64 *value) = 0;
  virtual int set_vmcs_msr(u32 index, u64 value) = 0;
  // Interruptibility (STI/MOV SS shadow, NMI blocking) for KVM_GET/SET_VCPU_EVENTS.
  virtual u32 interrupt_shadow() = 0;
  virtual void set_interrupt_shadow(u32 shadow) = 0;
  virtual bool nmi_masked() = 0;
  virtual void set_nmi_masked(bool m) = 0;
  // Guest's current CPL and execution mode, for emulation.
  virtual int cpl() = 0;
  // PAE paging's PDPTE registers as VM entry loads them.
  virtual void get_pdptes(u64 out[4]) = 0;
  virtual bool long_mode_active() = 0;

  // Interrupt injection (vCPU loaded).
  // The register state of RESET/INIT (SDM vol. 3A 9.1.1, table 9-1).
  virtual void reset_registers() = 0;
  // RFLAGS.IF set and no STI/MOV SS blocking: an external interrupt can be
  // injected now (SDM 26.3.1.5).
  virtual bool interrupt_allowed() = 0;
  // No blocking by NMI, STI or MOV SS (KVM's vmx_nmi_allowed).
  virtual bool nmi_allowed() = 0;
  // Interrupt-window / NMI-window exiting at the next entry (SDM 25.3).
  virtual void request_windows(bool irq, bool nmi) = 0;

  // APICv (vmx/apicv.h). The posted-interrupt descriptor's host-physical
  // address while the vCPU has APICv active, else 0; whether the CPU
  // processes it (VT-x posted-interrupt processing) rather than minikvm's
  // software fallback. Any context (atomic reads).
  virtual u64 pi_desc_pa() const { return 0; }
  virtual bool hw_posted_intr() const { return false; }
  // The vCPU's LAPIC was created (or its APIC base changed outside KVM_RUN):
  // decide the APIC virtualization mode now, so that the vCPU has its
  // posted-interrupt descriptor from creation on, as KVM's vCPUs (an irq
  // bypass producer attached before the first KVM_RUN can be posted).
  // The backend is loaded on this CPU with preemption off.
  virtual void refresh_apicv() {}
};

// The VMX backend (vmx/vmx_vcpu.cpp). Returns null on allocation failure,
// with *err set.
VcpuBackend *vmx_create_backend(Vcpu *vcpu, int *err);

}  // namespace mk
