// SPDX-License-Identifier: GPL-2.0
#include "msrs.h"

#include <minikvm/platform.h>

#include "../rt/errno.h"
#include "../rt/vector.h"

namespace mk::x86 {

namespace m = ia32::msr;
using I = m::Index;

// As in cpuid.cpp: the C layout the ioctl numbers are made from.
static_assert(sizeof(struct kvm_msrs) == 8 && sizeof(struct kvm_msr_list) == 4, "C layout");
static_assert(sizeof(struct kvm_msr_entry) == 16, "C layout");
static_assert(KVM_GET_MSRS == 0xc008ae88 && KVM_GET_MSR_INDEX_LIST == 0xc004ae02, "KVM's numbers");

namespace {

constexpr u64 kCr0Pg = 1ull << 31;

// Linear addresses are 48 bits (minikvm offers no LA57): bits 63:47 equal.
bool is_canonical(u64 v) { return static_cast<u64>(static_cast<s64>(v << 16) >> 16) == v; }
u64 canonicalize(u64 v) { return static_cast<u64>(static_cast<s64>(v << 16) >> 16); }

// MTRR memory types: UC, WC, WT, WP, WB (SDM vol. 3A 11.11.1; 2, 3, 7 and
// above are reserved and #GP).
bool valid_mtrr_type(u64 t) { return t < 8 && ((1u << t) & 0x73); }

// IA32_PAT: eight 3-bit types in 8-bit fields, upper 5 bits reserved; types
// 2 and 3 are reserved (SDM vol. 3A 11.12.2). KVM's kvm_pat_valid().
bool valid_pat(u64 v) {
  if (v & 0xf8f8f8f8f8f8f8f8ull)
    return false;
  return (v | ((v & 0x0202020202020202ull) << 1)) == v;
}

// The fixed-range MTRRs, in their MSR order.
constexpr u32 kFixedMtrrs[11] = {
    +I::kMtrrFix64k00000, +I::kMtrrFix16k80000, +I::kMtrrFix16kA0000, 0x268, 0x269, 0x26a,
    0x26b, 0x26c, 0x26d, 0x26e, +I::kMtrrFix4kF8000,
};
int fixed_mtrr_slot(u32 index) {
  for (int i = 0; i < 11; i++)
    if (kFixedMtrrs[i] == index)
      return i;
  return -1;
}

// IA32_MTRRCAP as KVM reports it: no SMRR, WC, fixed ranges, 8 variable.
constexpr u64 kMtrrCap = m::mtrr::kCapWc | m::mtrr::kCapFixed | m::mtrr::kVariableCount;

constexpr u32 kMtrrVarLast = +I::kMtrrPhysBase0 + 2 * m::mtrr::kVariableCount - 1;
constexpr u32 kMcCtlLast = +I::kMc0Ctl + 4 * kMceBanks - 1;
constexpr u32 kMcCtl2Last = +I::kMc0Ctl2 + kMceBanks - 1;

// IA32_BIOS_SIGN_ID (microcode revision in bits 63:32) KVM's VMX vCPUs start
// with (vmx_vcpu_create).
constexpr u64 kUcodeRevDefault = 0x100000000ull;

// KVM's msr_io: copy the array in, run do_msr on each entry until one fails,
// copy it back out for reads. Returns the count done or a negative errno.
template <class DoMsr> long msr_io(unsigned long user_arg, bool writeback, DoMsr do_msr) {
  struct kvm_msrs hdr;
  if (mk_copy_from_user(&hdr, user_arg, sizeof(hdr)))
    return -EFAULT;
  if (hdr.nmsrs >= kMaxIoMsrs)
    return -E2BIG;
  u32 n = hdr.nmsrs;
  unsigned long user_entries = user_arg + __builtin_offsetof(struct kvm_msrs, entries);
  Vector<struct kvm_msr_entry> entries;
  if (!entries.resize(n))
    return -ENOMEM;
  if (n && mk_copy_from_user(entries.begin(), user_entries, n * sizeof(struct kvm_msr_entry)))
    return -EFAULT;
  u32 done = 0;
  while (done < n && do_msr(entries[done].index, &entries[done].data) == kMsrOk)
    done++;
  if (writeback && n && mk_copy_to_user(user_entries, entries.begin(), n * sizeof(struct kvm_msr_entry)))
    return -EFAULT;
  return done;
}

long msr_list(unsigned long user_arg, const u32 *indices, u32 count) {
  struct kvm_msr_list hdr;
  if (mk_copy_from_user(&hdr, user_arg, sizeof(hdr)))
    return -EFAULT;
  u32 room = hdr.nmsrs;
  hdr.nmsrs = count;
  if (mk_copy_to_user(user_arg, &hdr, sizeof(hdr)))
    return -EFAULT;
  if (room < count)
    return -E2BIG;
  if (mk_copy_to_user(user_arg + __builtin_offsetof(struct kvm_msr_list, indices), indices, count * sizeof(u32)))
    return -EFAULT;
  return 0;
}

}  // namespace

// KVM's msrs_to_save_all order first (those minikvm has), then its
// emulated_msrs_all ones.
const u32 kMsrsToSave[] = {
    +I::kSysenterCs, +I::kSysenterEsp, +I::kSysenterEip, +I::kStar, +I::kCstar, +I::kKernelGsBase,
    +I::kSyscallMask, +I::kLstar, +I::kTsc, +I::kPat, +I::kFeatureControl,
    +I::kTscAdjust, +I::kMiscEnable, +I::kMcgStatus, +I::kMcgCtl, +I::kUcodeRev,
};
const u32 kNumMsrsToSave = sizeof(kMsrsToSave) / sizeof(kMsrsToSave[0]);

const u32 kFeatureMsrs[] = {+I::kUcodeRev};
const u32 kNumFeatureMsrs = sizeof(kFeatureMsrs) / sizeof(kFeatureMsrs[0]);

long get_msr_index_list(unsigned long user_arg) { return msr_list(user_arg, kMsrsToSave, kNumMsrsToSave); }

long get_msr_feature_index_list(unsigned long user_arg) {
  return msr_list(user_arg, kFeatureMsrs, kNumFeatureMsrs);
}

long get_feature_msrs(unsigned long user_arg) {
  return msr_io(user_arg, true, [](u32 index, u64 *data) {
    *data = 0;
    if (index != +I::kUcodeRev)
      return kMsrFault;
    // The host's revision, 0 if unreadable (KVM ignores the fault too).
    unsigned long long v = 0;
    if (mk_rdmsr_safe(index, &v) == 0)
      *data = v;
    return kMsrOk;
  });
}

// ---- GuestMsrs -------------------------------------------------------------

GuestMsrs::GuestMsrs(u32 vcpu_id, GuestCpuid &cpuid, MsrContext &ctx)
    : vcpu_id_(vcpu_id), cpuid_(cpuid), ctx_(ctx) {
  // KVM's kvm_lapic_reset (run with or without an in-kernel LAPIC): xAPIC
  // enabled at the architectural base; vCPU 0 is the bootstrap processor.
  apic_base_ = m::apic_base::kDefaultBase | m::apic_base::kEnable | (vcpu_id_ == 0 ? m::apic_base::kBsp : 0);
  cpuid_.set_apic_base(apic_base_);
  // No BTS/PEBS (no PMU): these bits are read-only to the guest.
  misc_enable_ = m::misc_enable::kBtsUnavailable | m::misc_enable::kPebsUnavailable;
  ucode_rev_ = kUcodeRevDefault;
  mcg_cap_ = kMceBanks;
}

int GuestMsrs::set_mcg_cap(u64 mcg_cap) {
  u64 banks = mcg_cap & m::mcg::kCountMask;
  if (!banks || banks > kMceBanks)
    return -EINVAL;
  // KVM_X86_GET_MCE_CAP_SUPPORTED would say MCG_CTL_P (and SER_P): no CMCI.
  if (mcg_cap & ~(m::mcg::kCountMask | m::mcg::kCtlP))
    return -EINVAL;
  mcg_cap_ = mcg_cap;
  // KVM sets MCG_CTL and every MCi_CTL to all ones on setup.
  if (mcg_cap_ & m::mcg::kCtlP)
    mcg_ctl_ = ~0ull;
  for (u64 b = 0; b < banks; b++)
    mce_banks_[b * 4] = ~0ull;
  return 0;
}

long GuestMsrs::get_msrs(unsigned long user_arg) {
  return msr_io(user_arg, true, [this](u32 index, u64 *data) { return get(index, data, true); });
}

long GuestMsrs::set_msrs(unsigned long user_arg) {
  return msr_io(user_arg, false, [this](u32 index, u64 *data) { return set(index, *data, true); });
}

namespace {
// The in-kernel LAPIC's MSRs (MsrContext::lapic_msr_get/set).
bool is_lapic_msr(u32 index) {
  return index == +I::kTscDeadline || (index >= +I::kX2apicFirst && index <= +I::kX2apicLast);
}
}  // namespace

int GuestMsrs::get(u32 index, u64 *value, bool host_initiated) {
  u64 v = 0;
  if (is_lapic_msr(index)) {
    int r = ctx_.lapic_msr_get(index, value);
    if (r != kMsrNoLapic)
      return r;
    // Without an in-kernel LAPIC: the x2APIC range faults, the deadline
    // reads 0 (KVM's kvm_x2apic_msr_read, kvm_get_lapic_tscdeadline_msr).
    *value = 0;
    return index == +I::kTscDeadline ? kMsrOk : kMsrFault;
  }
  switch (index) {
    case +I::kEfer:
      v = ctx_.efer();
      break;
    case +I::kStar:
      v = syscall_[static_cast<u8>(SyscallMsr::kStar)];
      break;
    case +I::kLstar:
      v = syscall_[static_cast<u8>(SyscallMsr::kLstar)];
      break;
    case +I::kCstar:
      v = syscall_[static_cast<u8>(SyscallMsr::kCstar)];
      break;
    case +I::kSyscallMask:
      v = syscall_[static_cast<u8>(SyscallMsr::kSfmask)];
      break;
    case +I::kKernelGsBase:
      v = syscall_[static_cast<u8>(SyscallMsr::kKernelGsBase)];
      break;
    case +I::kFsBase:
      v = ctx_.read_vmcs_msr(VmcsMsr::kFsBase);
      break;
    case +I::kGsBase:
      v = ctx_.read_vmcs_msr(VmcsMsr::kGsBase);
      break;
    case +I::kSysenterCs:
      v = ctx_.read_vmcs_msr(VmcsMsr::kSysenterCs) & 0xffffffffull;
      break;
    case +I::kSysenterEsp:
      v = ctx_.read_vmcs_msr(VmcsMsr::kSysenterEsp);
      break;
    case +I::kSysenterEip:
      v = ctx_.read_vmcs_msr(VmcsMsr::kSysenterEip);
      break;
    case +I::kDebugctl:
      v = ctx_.read_vmcs_msr(VmcsMsr::kDebugctl);
      break;
    case +I::kPat:
      v = ctx_.read_vmcs_msr(VmcsMsr::kPat);
      break;
    case +I::kTsc:
      // SDM vol. 3C 25.3: RDMSR of IA32_TIME_STAMP_COUNTER adds the offset.
      v = ctx_.host_tsc() + ctx_.tsc_offset();
      break;
    case +I::kTscAdjust:
      v = tsc_adjust_;
      break;
    case +I::kMiscEnable:
      v = misc_enable_;
      break;
    case +I::kApicBase:
      v = apic_base_;
      break;
    case +I::kFeatureControl:
      v = feature_control_;
      break;
    case +I::kUcodeRev:
      v = ucode_rev_;
      break;
    case +I::kMtrrCap:
      v = kMtrrCap;
      break;
    case +I::kMtrrPhysBase0 ... kMtrrVarLast:
    case +I::kMtrrFix64k00000:
    case +I::kMtrrFix16k80000:
    case +I::kMtrrFix16kA0000:
    case +I::kMtrrFix4kC0000 ... + I::kMtrrFix4kF8000:
    case +I::kMtrrDefType:
      return get_mtrr(index, value);
    case +I::kP5McAddr:
    case +I::kP5McType:
    case +I::kMcgCap:
    case +I::kMcgCtl:
    case +I::kMcgStatus:
    case +I::kMc0Ctl ... kMcCtlLast:
    case +I::kMc0Ctl2 ... kMcCtl2Last:
      return get_mce(index, value, host_initiated);
    // Read as zero, as KVM: model-specific MSRs guests probe without
    // checking CPUID (platform ID, LBR records, P-state control, RAPL), and
    // the PMU counters of a vCPU without a PMU.
    case +I::kPlatformId:
    case +I::kEblCrPoweron:
    case +I::kLastBranchFromIp:
    case +I::kLastBranchToIp:
    case +I::kLastIntFromIp:
    case +I::kLastIntToIp:
    case +I::kPerfCtl:
    case +I::kRaplPowerUnit:
    case +I::kPkgEnergyStatus:
    case +I::kDramEnergyStatus:
    case +I::kPp0EnergyStatus:
    case +I::kPp1EnergyStatus:
    case +I::kPerfctr0:
    case +I::kPerfctr1:
    case +I::kEvntsel0:
    case +I::kEvntsel1:
      v = 0;
      break;
    // KVM's conservative constants for guests that divide by them.
    case +I::kFsbFreq:
      v = 3;
      break;
    case +I::kEbcFrequencyId:
      v = 1ull << 24;  // core/bus ratio 1
      break;
    case +I::kPerfStatus:
      v = 1000ull | 4ull << 40;
      break;
    case +I::kBblCrCtl3:
      v = 0xbe702111ull;  // L2 enabled and configured (old Windows reads it)
      break;
    default:
      *value = 0;
      return kMsrFault;
  }
  *value = v;
  return kMsrOk;
}

int GuestMsrs::set(u32 index, u64 value, bool host_initiated) {
  if (is_lapic_msr(index)) {
    int r = ctx_.lapic_msr_set(index, value, host_initiated);
    if (r != kMsrNoLapic)
      return r;
    return index == +I::kTscDeadline ? kMsrOk : kMsrFault;
  }
  switch (index) {
    case +I::kEfer:
      return set_efer(value, host_initiated);
    case +I::kStar:
      syscall_[static_cast<u8>(SyscallMsr::kStar)] = value;
      return kMsrOk;
    case +I::kLstar:
    case +I::kCstar:
    case +I::kKernelGsBase:
    case +I::kFsBase:
    case +I::kGsBase:
      // SDM vol. 4: WRMSR of a non-canonical address #GPs; KVM refuses it
      // from userspace too.
      if (!is_canonical(value))
        return kMsrFault;
      if (index == +I::kFsBase)
        ctx_.write_vmcs_msr(VmcsMsr::kFsBase, value);
      else if (index == +I::kGsBase)
        ctx_.write_vmcs_msr(VmcsMsr::kGsBase, value);
      else if (index == +I::kLstar)
        syscall_[static_cast<u8>(SyscallMsr::kLstar)] = value;
      else if (index == +I::kCstar)
        syscall_[static_cast<u8>(SyscallMsr::kCstar)] = value;
      else
        syscall_[static_cast<u8>(SyscallMsr::kKernelGsBase)] = value;
      return kMsrOk;
    case +I::kSyscallMask:
      // IA32_FMASK bits 63:32 are reserved: the vCPU loop's WRMSR of it
      // would fault in the host (KVM fails the same way once loaded).
      if (value >> 32)
        return kMsrFault;
      syscall_[static_cast<u8>(SyscallMsr::kSfmask)] = value;
      return kMsrOk;
    case +I::kSysenterCs:
      // A 32-bit VMCS field: the upper half is dropped, as KVM's vmcs_write32.
      ctx_.write_vmcs_msr(VmcsMsr::kSysenterCs, value & 0xffffffffull);
      return kMsrOk;
    case +I::kSysenterEsp:
    case +I::kSysenterEip:
      // The guest's WRMSR of a non-canonical value #GPs on Intel CPUs
      // (kvm_intel does not intercept these MSRs: the CPU raises it; seen
      // on Bochs). Userspace values are made canonical, as KVM does, so
      // VM entry cannot fail on them.
      if (!host_initiated && !is_canonical(value))
        return kMsrFault;
      ctx_.write_vmcs_msr(index == +I::kSysenterEsp ? VmcsMsr::kSysenterEsp : VmcsMsr::kSysenterEip,
                          canonicalize(value));
      return kMsrOk;
    case +I::kDebugctl: {
      // KVM (vmx_is_valid_debugctl): BTF and LBR writes are dropped, not
      // faulted (guests set them blindly); other unsupported bits #GP.
      u64 supported = supported_debugctl(host_initiated);
      u64 invalid = value & ~supported & ~(m::debugctl::kBtf | m::debugctl::kLbr);
      if (invalid)
        return kMsrFault;
      ctx_.write_vmcs_msr(VmcsMsr::kDebugctl, value & supported);
      return kMsrOk;
    }
    case +I::kPat:
      if (!valid_pat(value))
        return kMsrFault;
      ctx_.write_vmcs_msr(VmcsMsr::kPat, value);
      return kMsrOk;
    case +I::kTsc: {
      u64 offset = value - ctx_.host_tsc();
      if (!host_initiated) {
        // SDM vol. 3B 17.17.3: a write to the TSC adds the same delta to
        // IA32_TSC_ADJUST. Userspace writes only set the offset (KVM).
        tsc_adjust_ += offset - ctx_.tsc_offset();
      }
      ctx_.set_tsc_offset(offset);
      return kMsrOk;
    }
    case +I::kTscAdjust:
      // Without the CPUID bit KVM ignores writes (and reads still work).
      if (!cpuid_.has(ia32::cpuid::feature::kTscAdjust))
        return kMsrOk;
      if (!host_initiated)
        ctx_.set_tsc_offset(ctx_.tsc_offset() + (value - tsc_adjust_));
      tsc_adjust_ = value;
      return kMsrOk;
    case +I::kMiscEnable: {
      if (!host_initiated) {
        constexpr u64 kReadOnly = m::misc_enable::kBtsUnavailable | m::misc_enable::kPebsUnavailable;
        if ((misc_enable_ ^ value) & kReadOnly)
          return kMsrFault;
        // EMON is read-only but writes to it are ignored, not faulted.
        value = (value & ~m::misc_enable::kEmon) | (misc_enable_ & m::misc_enable::kEmon);
      }
      misc_enable_ = value;
      return kMsrOk;
    }
    case +I::kApicBase:
      return set_apic_base(value, host_initiated);
    case +I::kFeatureControl:
      // Only Lock is defined for a guest without VMX/SGX/LMCE; once locked,
      // only userspace may write it (SDM vol. 3C 23.7; vmx_set_msr).
      if (value & ~m::FeatureControl::kLock)
        return kMsrFault;
      if ((feature_control_ & m::FeatureControl::kLock) && !host_initiated)
        return kMsrFault;
      feature_control_ = value;
      return kMsrOk;
    case +I::kUcodeRev:
      // Guests write 0 before CPUID to latch the revision (SDM vol. 3A
      // 9.11.7.1); only userspace can change what they read back.
      if (host_initiated)
        ucode_rev_ = value;
      return kMsrOk;
    case +I::kUcodeWrite:
    case +I::kBblCrCtl3:
    case +I::kPerfctr0:
    case +I::kPerfctr1:
    case +I::kEvntsel0:
    case +I::kEvntsel1:
      // Writes ignored, as KVM: microcode updates, a legacy cache-control
      // MSR, the PMU counters of a vCPU without a PMU.
      return kMsrOk;
    case +I::kMtrrPhysBase0 ... kMtrrVarLast:
    case +I::kMtrrFix64k00000:
    case +I::kMtrrFix16k80000:
    case +I::kMtrrFix16kA0000:
    case +I::kMtrrFix4kC0000 ... + I::kMtrrFix4kF8000:
    case +I::kMtrrDefType:
      return set_mtrr(index, value);
    case +I::kMcgCtl:
    case +I::kMcgStatus:
    case +I::kMc0Ctl ... kMcCtlLast:
    case +I::kMc0Ctl2 ... kMcCtl2Last:
      return set_mce(index, value, host_initiated);
    default:
      // MTRRcap, MCG_CAP and the read-as-zero MSRs are read-only; the rest
      // is not virtualized.
      return kMsrFault;
  }
}

int GuestMsrs::set_efer(u64 value, bool host_initiated) {
  namespace efer = m::efer;
  if (value & cpuid_.efer_reserved_bits_host())
    return kMsrFault;
  u64 cur = ctx_.efer();
  if (!host_initiated) {
    // Bits the guest's CPUID does not enumerate (LME/LMA without LM, NXE
    // without NX) #GP; so does toggling LME with paging on (SDM vol. 3A
    // 9.8.5: IA-32e mode is entered and left with CR0.PG = 0).
    if (value & cpuid_.efer_reserved_bits())
      return kMsrFault;
    if ((ctx_.cr0() & kCr0Pg) && ((cur ^ value) & efer::kLme))
      return kMsrFault;
  }
  // LMA is the processor's to set (from CR0.PG and EFER.LME), not WRMSR's.
  value = (value & ~efer::kLma) | (cur & efer::kLma);
  ctx_.set_efer(value);
  return kMsrOk;
}

int GuestMsrs::set_apic_base(u64 value, bool host_initiated) {
  namespace ab = m::apic_base;
  // Bits 7:0 and 9 are reserved, so are address bits beyond MAXPHYADDR and
  // EXTD without x2APIC (SDM vol. 3A 10.12.1; KVM's kvm_set_apic_base).
  u64 reserved = cpuid_.reserved_gpa_bits() | 0x2ff;
  if (!cpuid_.has(ia32::cpuid::feature::kX2apic))
    reserved |= ab::kExtd;
  if (value & reserved)
    return kMsrFault;
  // EXTD without EN is an invalid mode (SDM vol. 3A figure 10-27).
  if ((value & (ab::kExtd | ab::kEnable)) == ab::kExtd)
    return kMsrFault;
  if (!host_initiated) {
    bool was_x2 = (apic_base_ & (ab::kExtd | ab::kEnable)) == (ab::kExtd | ab::kEnable);
    bool was_off = !(apic_base_ & ab::kEnable);
    bool now_x2 = (value & (ab::kExtd | ab::kEnable)) == (ab::kExtd | ab::kEnable);
    bool now_xapic = (value & (ab::kExtd | ab::kEnable)) == ab::kEnable;
    // x2APIC -> xAPIC and disabled -> x2APIC are illegal transitions.
    if ((was_x2 && now_xapic) || (was_off && now_x2))
      return kMsrFault;
  }
  // The in-kernel LAPIC follows (mode switch, MMIO page relocation).
  if (ctx_.lapic_msr_set(+I::kApicBase, value, host_initiated) == kMsrFault)
    return kMsrFault;
  apic_base_ = value;
  cpuid_.set_apic_base(value);  // CPUID.1:EDX.APIC follows EN
  return kMsrOk;
}

u64 GuestMsrs::supported_debugctl(bool host_initiated) const {
  // No LBRs (no PMU), no bus-lock detection offered; RTM debugging where
  // the host has RTM and the guest is told about it (vmx_get_supported_debugctl).
  if (cpuid_.supported().host_rtm && (host_initiated || cpuid_.has(ia32::cpuid::feature::kRtm)))
    return m::debugctl::kRtm;
  return 0;
}

int GuestMsrs::get_mtrr(u32 index, u64 *value) const {
  if (index == +I::kMtrrDefType) {
    *value = mtrr_deftype_;
  } else if (index >= +I::kMtrrPhysBase0 && index <= kMtrrVarLast) {
    // Bits beyond the guest's MAXPHYADDR read as 0 (KVM masks them).
    *value = mtrr_var_[index - +I::kMtrrPhysBase0] & ~cpuid_.reserved_gpa_bits();
  } else {
    int slot = fixed_mtrr_slot(index);
    if (slot < 0)
      return kMsrFault;
    *value = mtrr_fixed_[slot];
  }
  return kMsrOk;
}

int GuestMsrs::set_mtrr(u32 index, u64 value) {
  // KVM's kvm_mtrr_valid (SDM vol. 3A 11.11.2): the same rules for guest
  // and userspace.
  if (index == +I::kMtrrDefType) {
    if (value & ~0xcffull || !valid_mtrr_type(value & 0xff))
      return kMsrFault;
    mtrr_deftype_ = value;
    return kMsrOk;
  }
  if (index >= +I::kMtrrPhysBase0 && index <= kMtrrVarLast) {
    u32 slot = index - +I::kMtrrPhysBase0;
    u64 reserved = cpuid_.reserved_gpa_bits();
    if (slot % 2 == 0) {  // PHYSBASE: type in 7:0, 11:8 reserved
      if (!valid_mtrr_type(value & 0xff))
        return kMsrFault;
      reserved |= 0xf00;
    } else {  // PHYSMASK: V in bit 11, 10:0 reserved
      reserved |= 0x7ff;
    }
    if (value & reserved)
      return kMsrFault;
    mtrr_var_[slot] = value;
    return kMsrOk;
  }
  int slot = fixed_mtrr_slot(index);
  if (slot < 0)
    return kMsrFault;
  for (int i = 0; i < 8; i++)
    if (!valid_mtrr_type((value >> (8 * i)) & 0xff))
      return kMsrFault;
  mtrr_fixed_[slot] = value;
  return kMsrOk;
}

int GuestMsrs::get_mce(u32 index, u64 *value, bool host_initiated) const {
  u32 banks = static_cast<u32>(mcg_cap_ & m::mcg::kCountMask);
  switch (index) {
    case +I::kP5McAddr:
    case +I::kP5McType:
      *value = 0;
      return kMsrOk;
    case +I::kMcgCap:
      *value = mcg_cap_;
      return kMsrOk;
    case +I::kMcgStatus:
      *value = mcg_status_;
      return kMsrOk;
    case +I::kMcgCtl:
      // Present only with MCG_CAP.MCG_CTL_P; userspace may always read it.
      if (!(mcg_cap_ & m::mcg::kCtlP) && !host_initiated)
        return kMsrFault;
      *value = mcg_ctl_;
      return kMsrOk;
    default:
      break;
  }
  if (index >= +I::kMc0Ctl2 && index <= kMcCtl2Last) {
    u32 bank = index - +I::kMc0Ctl2;
    if (bank >= banks || (!(mcg_cap_ & m::mcg::kCmciP) && !host_initiated))
      return kMsrFault;
    *value = mci_ctl2_[bank];
    return kMsrOk;
  }
  u32 slot = index - +I::kMc0Ctl;
  if (slot >= 4 * banks)
    return kMsrFault;
  *value = mce_banks_[slot];
  return kMsrOk;
}

int GuestMsrs::set_mce(u32 index, u64 value, bool host_initiated) {
  u32 banks = static_cast<u32>(mcg_cap_ & m::mcg::kCountMask);
  if (index == +I::kMcgStatus) {
    mcg_status_ = value;
    return kMsrOk;
  }
  if (index == +I::kMcgCtl) {
    // Without MCG_CTL_P only userspace, and only 0 (restoring a saved 0).
    if (!(mcg_cap_ & m::mcg::kCtlP) && (value || !host_initiated))
      return kMsrFault;
    if (value != 0 && value != ~0ull)
      return kMsrFault;
    mcg_ctl_ = value;
    return kMsrOk;
  }
  if (index >= +I::kMc0Ctl2 && index <= kMcCtl2Last) {
    u32 bank = index - +I::kMc0Ctl2;
    if (bank >= banks)
      return kMsrFault;
    if (!(mcg_cap_ & m::mcg::kCmciP) && (value || !host_initiated))
      return kMsrFault;
    if (value & ~(m::mcg::kCtl2CmciEnable | m::mcg::kCtl2ThresholdMask))
      return kMsrFault;
    mci_ctl2_[bank] = value;
    return kMsrOk;
  }
  u32 slot = index - +I::kMc0Ctl;
  if (slot >= 4 * banks)
    return kMsrFault;
  switch (slot % 4) {
    case 0:
      // MCi_CTL: 0 or all ones (SDM vol. 3B 15.3.2.1); KVM tolerates bit 10
      // clear (Linux's K8 GART workaround) and bit 0 clear (UnixWare).
      if (value != 0 && (value | (1ull << 10) | 1ull) != ~0ull)
        return kMsrFault;
      break;
    case 1:
      // MCi_STATUS: software may only clear it (SDM vol. 3B 15.3.2.2);
      // userspace restores or injects any value.
      if (value != 0 && !host_initiated)
        return kMsrFault;
      break;
    default:
      break;  // MCi_ADDR, MCi_MISC
  }
  mce_banks_[slot] = value;
  return kMsrOk;
}

}  // namespace mk::x86
