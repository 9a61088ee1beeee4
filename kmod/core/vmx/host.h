// SPDX-License-Identifier: GPL-2.0
// VMX operation on the host's CPUs (SDM vol. 3C 23.7 "Enabling and Entering
// VMX Operation", 24.1/24.11 VMCS states): the VMXON region of every CPU,
// which VMCS is current and which are active on each CPU, VPIDs.
//
// VMX is on while at least one VM exists: the first VM turns it on on every
// online CPU, the last one off; CPUs that come online meanwhile turn it on
// themselves (hotplug callback), CPUs going offline clear their active VMCSs
// and leave VMX operation first.
#pragma once

#include "../rt/types.h"
#include "capabilities.h"

namespace mk::vmx {

// One VMCS region and where it is active (SDM 24.1: a VMCS is "active" on
// the CPU that last executed VMPTRLD on it until VMCLEAR; it must be cleared
// there before it is loaded anywhere else or freed).
struct Vmcs {
  void *va = nullptr;
  u64 pa = 0;
  int cpu = -1;          // where it is active, -1 when clear
  bool launched = false; // VMLAUNCH done since the last VMCLEAR (SDM 24.11.3)
  Vmcs *next = nullptr;  // the per-CPU list of active VMCSs
  Vmcs *prev = nullptr;
};

class Host {
 public:
  // caps/controls were computed by the probe at load.
  static int init(const Capabilities &caps, const ControlSet &controls);
  static void exit();
  static Host *get() { return instance_; }

  // VM lifetime: the first acquire turns VMX on everywhere, the last
  // release turns it off. acquire returns 0 or -EBUSY/-EIO/-ENOMEM.
  int acquire();
  void release();
  bool enabled() const { return users_ > 0; }

  // Makes vmcs current on this CPU (preemption off, `cpu` is this CPU):
  // clears it on the CPU where it was active first. Returns true when the
  // VMCS was not active here before (it moved: caches keyed by CPU, TLB
  // contents and per-CPU host state must be refreshed, VMLAUNCH is next).
  bool load(Vmcs *vmcs, int cpu);
  // Clears vmcs wherever it is active (preemptible context).
  void clear(Vmcs *vmcs);

  int alloc_vmcs(Vmcs *vmcs);
  void free_vmcs(Vmcs *vmcs);  // clears it first

  // Drop the cached translations of one VPID / one EPT on this CPU, with
  // the narrowest INVVPID/INVEPT type the CPU offers (IA32_VMX_EPT_VPID_CAP,
  // SDM A.10): single-context, else all-context.
  void flush_vpid(u16 vpid);
  void flush_ept(u64 eptp);

  // VPIDs 1..65535 (0 is the host's, SDM 28.1); 0 when exhausted or off.
  u16 alloc_vpid();
  void free_vpid(u16 vpid);

  const Capabilities &caps() const { return caps_; }
  const ControlSet &controls() const { return controls_; }
  bool has_vpid() const { return controls_.proc2 & ia32::vmx::proc2::kEnableVpid; }

  // Hotplug (core.h), on the CPU itself.
  int cpu_online(int cpu);
  int cpu_offline(int cpu);

  // For the per-CPU calls (they take a void *).
  struct PerCpu {
    void *vmxon_va = nullptr;
    u64 vmxon_pa = 0;
    bool on = false;
    Vmcs *current = nullptr;  // the current VMCS (VMPTRLD), if ours
    Vmcs *active = nullptr;   // list of VMCSs active here
  };
  PerCpu &percpu(int cpu) { return percpu_[cpu]; }
  int vmx_on_this_cpu(int cpu);
  void vmx_off_this_cpu(int cpu);
  void clear_on_this_cpu(Vmcs *vmcs);

 private:
  Host() = default;

  static Host *instance_;
  Capabilities caps_;
  ControlSet controls_;
  PerCpu *percpu_ = nullptr;
  int nr_cpus_ = 0;
  long users_ = 0;
  void *lock_ = nullptr;  // users_, VMX on/off
  u64 vpid_bitmap_[65536 / 64] = {};
  void *vpid_lock_ = nullptr;
};

}  // namespace mk::vmx
