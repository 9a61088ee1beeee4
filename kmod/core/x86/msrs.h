// SPDX-License-Identifier: GPL-2.0
// A vCPU's model-specific registers as the guest (RDMSR/WRMSR exits) and
// userspace (KVM_GET_MSRS/KVM_SET_MSRS) see them, with KVM 6.1's rules per
// MSR (arch/x86/kvm/x86.c kvm_{get,set}_msr_common, vmx/vmx.c
// vmx_{get,set}_msr, mtrr.c): reserved bits, canonical addresses, and the
// leniency KVM gives host-initiated accesses. And the /dev ioctls that list
// them: KVM_GET_MSR_INDEX_LIST, KVM_GET_MSR_FEATURE_INDEX_LIST, KVM_GET_MSRS.
//
// What is where:
//   in GuestMsrs   STAR, LSTAR, CSTAR, SFMASK, KERNEL_GS_BASE (the vCPU loop
//                  swaps them around guest entry: syscall_msr()), APIC_BASE
//                  (stored; the in-kernel LAPIC will own it), MISC_ENABLE,
//                  FEATURE_CONTROL, TSC_ADJUST, BIOS_SIGN_ID, MTRRs, MCG_*
//                  and 32 MCi banks (KVM's defaults: no MCG_CTL, no CMCI)
//   MsrContext     EFER, SYSENTER_CS/ESP/EIP, FS/GS_BASE, DEBUGCTL, PAT (the
//                  VMCS guest-state area), TSC (an offset from the host TSC)
//   constants      MTRRcap (8 variable, fixed, WC), PLATFORM_ID and a few
//                  read-as-zero/ignored-write MSRs Linux and Windows touch
//   #GP            everything else: x2APIC and TSC_DEADLINE until the
//                  in-kernel LAPIC (then: a case in get()/set() calling it,
//                  and the two in kMsrsToSave), SPEC_CTRL family, TSC_AUX,
//                  PMU, XSS, kvmclock and Hyper-V MSRs.
#pragma once

#include <linux/kvm.h>

#include "../../ia32/msr.h"
#include "../rt/types.h"
#include "cpuid.h"

namespace mk::x86 {

// KVM's MAX_IO_MSRS: KVM_{GET,SET}_MSRS refuse nmsrs >= 256 with -E2BIG.
inline constexpr u32 kMaxIoMsrs = 256;
// KVM_MAX_MCE_BANKS: the banks a vCPU has (IA32_MCG_CAP[7:0]) by default.
inline constexpr u32 kMceBanks = 32;

// get()/set() results: 0 done; kMsrFault = the guest's RDMSR/WRMSR raises
// #GP(0), a KVM_{GET,SET}_MSRS stops at this entry.
inline constexpr int kMsrOk = 0;
inline constexpr int kMsrFault = 1;
inline constexpr int kMsrNoLapic = 2;

// Guest MSRs that live in the VMCS guest-state area (SDM vol. 3C 24.4.1).
enum class VmcsMsr : u8 {
  kSysenterCs,   // 32-bit field: GuestMsrs passes 32-bit values
  kSysenterEsp,
  kSysenterEip,
  kFsBase,
  kGsBase,
  kDebugctl,     // loaded by the "load debug controls" VM-entry control
  kPat,          // VMCS field when "load IA32_PAT" is used, else the vCPU's copy
};

// What GuestMsrs needs of the vCPU; the VMX vCPU implements it. Values are
// already validated when a setter is called; setters cannot fail.
class MsrContext {
 public:
  virtual u64 read_vmcs_msr(VmcsMsr msr) = 0;
  virtual void write_vmcs_msr(VmcsMsr msr, u64 value) = 0;
  // EFER: set_efer() gets a valid value whose LMA is the current one (WRMSR
  // cannot change LMA); the vCPU updates the VMCS guest EFER and keeps the
  // "IA-32e mode guest" entry control equal to LMA (KVM's vmx_set_efer).
  virtual u64 efer() = 0;
  virtual void set_efer(u64 efer) = 0;
  // CR0 as the guest sees it: EFER.LME cannot change while CR0.PG is 1.
  virtual u64 cr0() = 0;
  // Guest TSC = host TSC + offset (the VMCS TSC offset, "use TSC
  // offsetting"); no scaling.
  virtual u64 tsc_offset() = 0;
  virtual void set_tsc_offset(u64 offset) = 0;
  virtual u64 host_tsc() = 0;
  // The in-kernel LAPIC (KVM_CREATE_IRQCHIP): its MSRs (x2APIC
  // 0x800-0x8ff, IA32_TSC_DEADLINE) and IA32_APIC_BASE once GuestMsrs has
  // checked the reserved bits. kMsrOk / kMsrFault, or kMsrNoLapic when the
  // vCPU has no in-kernel LAPIC.
  virtual int lapic_msr_get(u32 index, u64 *value) {
    (void)index, (void)value;
    return kMsrNoLapic;
  }
  virtual int lapic_msr_set(u32 index, u64 value, bool host_initiated) {
    (void)index, (void)value, (void)host_initiated;
    return kMsrNoLapic;
  }

 protected:
  ~MsrContext() = default;
};

// The MSRs of SYSCALL/SWAPGS that neither the VMCS nor VM entry/exit switch:
// the vCPU loop writes them before entering the guest and restores the
// host's after (KVM's "user return" MSRs):
//   for (u32 i = 0; i < kNumSyscallMsrs; i++)
//     wrmsr(kSyscallMsrIndex[i], msrs.syscall_msr(i));
enum class SyscallMsr : u8 { kStar, kLstar, kCstar, kSfmask, kKernelGsBase };
inline constexpr u32 kNumSyscallMsrs = 5;
inline constexpr u32 kSyscallMsrIndex[kNumSyscallMsrs] = {
    +ia32::msr::Index::kStar, +ia32::msr::Index::kLstar, +ia32::msr::Index::kCstar,
    +ia32::msr::Index::kSyscallMask, +ia32::msr::Index::kKernelGsBase,
};

class GuestMsrs {
 public:
  // cpuid and ctx outlive this object (members of the same vCPU, cpuid
  // constructed first). Sets KVM's power-on values: APIC base 0xfee00000 |
  // EN, | BSP for vCPU 0; MISC_ENABLE = BTS/PEBS unavailable; BIOS_SIGN_ID
  // 0x100000000; MCG_CAP = 32 banks. The vCPU itself must start the TSC at
  // 0 (set(IA32_TSC, 0, true), as KVM does at vCPU creation) and PAT at
  // ia32::msr::kPatDefault.
  GuestMsrs(u32 vcpu_id, GuestCpuid &cpuid, MsrContext &ctx);
  GuestMsrs(const GuestMsrs &) = delete;
  GuestMsrs &operator=(const GuestMsrs &) = delete;

  // One MSR. host_initiated: from KVM_{GET,SET}_MSRS (or KVM_SET_SREGS for
  // APIC_BASE), with KVM's leniency (e.g. a locked FEATURE_CONTROL or the
  // microcode revision can be written). Returns kMsrOk or kMsrFault.
  int get(u32 index, u64 *value, bool host_initiated);
  int set(u32 index, u64 value, bool host_initiated);

  // KVM_GET_MSRS / KVM_SET_MSRS on the vCPU fd (KVM's msr_io/__msr_io):
  // -EFAULT, -E2BIG when nmsrs >= 256, -ENOMEM; else the number of entries
  // processed, stopping at the first that fails. GET writes the entries back.
  long get_msrs(unsigned long user_arg);
  long set_msrs(unsigned long user_arg);

  // For the vCPU loop.
  u64 syscall_msr(u32 i) const { return i < kNumSyscallMsrs ? syscall_[i] : 0; }
  u64 syscall_msr(SyscallMsr m) const { return syscall_[static_cast<u8>(m)]; }
  u64 apic_base() const { return apic_base_; }
  u64 misc_enable() const { return misc_enable_; }
  u64 feature_control() const { return feature_control_; }
  u64 tsc_adjust() const { return tsc_adjust_; }
  u64 mcg_cap() const { return mcg_cap_; }
  // KVM_X86_SETUP_MCE, when minikvm offers it: bank count (1-32) and flags.
  int set_mcg_cap(u64 mcg_cap);

 private:
  int get_mce(u32 index, u64 *value, bool host_initiated) const;
  int set_mce(u32 index, u64 value, bool host_initiated);
  int get_mtrr(u32 index, u64 *value) const;
  int set_mtrr(u32 index, u64 value);
  int set_apic_base(u64 value, bool host_initiated);
  int set_efer(u64 value, bool host_initiated);
  u64 supported_debugctl(bool host_initiated) const;

  u32 vcpu_id_;
  GuestCpuid &cpuid_;
  MsrContext &ctx_;

  u64 syscall_[kNumSyscallMsrs] = {};
  u64 apic_base_ = 0;
  u64 misc_enable_ = 0;
  u64 feature_control_ = 0;
  u64 tsc_adjust_ = 0;
  u64 ucode_rev_ = 0;
  u64 mcg_cap_ = 0, mcg_status_ = 0, mcg_ctl_ = 0;
  u64 mce_banks_[kMceBanks * 4] = {};  // CTL, STATUS, ADDR, MISC per bank
  u64 mci_ctl2_[kMceBanks] = {};
  u64 mtrr_deftype_ = 0;
  u64 mtrr_fixed_[11] = {};
  u64 mtrr_var_[2 * ia32::msr::mtrr::kVariableCount] = {};
};

// ---- /dev ioctls -----------------------------------------------------------

// The MSRs KVM_GET_MSR_INDEX_LIST reports: those userspace must save and
// restore for migration. Every one is readable and, with the value read,
// writable by KVM_{GET,SET}_MSRS (KVM's selftests' vcpu_save_state relies
// on it).
extern const u32 kMsrsToSave[];
extern const u32 kNumMsrsToSave;
// KVM_GET_MSR_FEATURE_INDEX_LIST: MSRs that describe the host rather than a
// vCPU, read with KVM_GET_MSRS on /dev.
extern const u32 kFeatureMsrs[];
extern const u32 kNumFeatureMsrs;

// kvm_msr_list in/out: -EFAULT; nmsrs is always written back with the
// count; -E2BIG when the caller's nmsrs is smaller; else the indices.
long get_msr_index_list(unsigned long user_arg);
long get_msr_feature_index_list(unsigned long user_arg);
// KVM_GET_MSRS on /dev: the feature MSRs' values (IA32_BIOS_SIGN_ID: the
// host's microcode revision), msr_io's contract.
long get_feature_msrs(unsigned long user_arg);

}  // namespace mk::x86
