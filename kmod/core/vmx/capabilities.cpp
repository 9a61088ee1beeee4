// SPDX-License-Identifier: GPL-2.0
#include "capabilities.h"

#include "../rt/errno.h"

namespace mk::vmx {

namespace v = ia32::vmx;
using v::CapMsr;

bool adjust(AllowedSettings a, u32 required, u32 optional, u32 *out, u32 *lacking) {
  *lacking = required & ~a.may_be_one;
  *out = (required | (optional & a.may_be_one)) | a.must_be_one;
  // A control the CPU forces to 1 but cannot be 1 is a broken MSR: refuse.
  return *lacking == 0 && (a.must_be_one & ~a.may_be_one) == 0;
}

int read_capabilities(MsrReader rdmsr, Capabilities *out) {
  Capabilities c;
  u64 v = 0;
  auto rd = [&](CapMsr m, u64 *dst) { return rdmsr(static_cast<u32>(m), dst); };
  if (rd(CapMsr::kBasic, &v))
    return -EIO;
  c.basic = v::Basic{v};
  bool tc = c.basic.true_controls();
  struct {
    CapMsr legacy, truemsr;
    AllowedSettings *dst;
  } fields[] = {
      {CapMsr::kPinbasedCtls, CapMsr::kTruePinbasedCtls, &c.pin},
      {CapMsr::kProcbasedCtls, CapMsr::kTrueProcbasedCtls, &c.proc},
      {CapMsr::kExitCtls, CapMsr::kTrueExitCtls, &c.exit},
      {CapMsr::kEntryCtls, CapMsr::kTrueEntryCtls, &c.entry},
  };
  for (auto &f : fields) {
    if (rd(tc ? f.truemsr : f.legacy, &v))
      return -EIO;
    *f.dst = AllowedSettings::from_msr(v);
  }
  if (c.proc.may_set(v::proc::kActivateSecondaryControls)) {
    if (rd(CapMsr::kProcbasedCtls2, &v))
      return -EIO;
    c.proc2 = AllowedSettings::from_msr(v);
    // IA32_VMX_EPT_VPID_CAP exists if EPT or VPID can be enabled (SDM A.10).
    if (c.proc2.may_be_one & (v::proc2::kEnableEpt | v::proc2::kEnableVpid))
      if (rd(CapMsr::kEptVpidCap, &c.ept_vpid))
        return -EIO;
  }
  if (rd(CapMsr::kMisc, &c.misc) || rd(CapMsr::kCr0Fixed0, &c.cr0_fixed0) ||
      rd(CapMsr::kCr0Fixed1, &c.cr0_fixed1) || rd(CapMsr::kCr4Fixed0, &c.cr4_fixed0) ||
      rd(CapMsr::kCr4Fixed1, &c.cr4_fixed1))
    return -EIO;
  *out = c;
  return 0;
}

namespace {

// What minikvm needs, field by field. "required" controls are set and must
// be available; "optional" ones are set where available; "later" ones are
// not set at entry but toggled while running (interrupt/NMI windows, IA-32e
// guest) and so must be allowed.
struct Need {
  const char *name;
  u32 bits;
};

// SDM 24.6.1: external interrupts and NMIs belong to the host and must exit.
constexpr Need kPinRequired[] = {
    {"external-interrupt exiting", v::pin::kExternalInterruptExiting},
    {"NMI exiting", v::pin::kNmiExiting},
};
// The VMX-preemption timer bounds every stay in the guest (a backstop for
// emulated CPUs that hold back external-interrupt exits while the guest
// runs with IF = 0, as Bochs 2.7 does).
constexpr u32 kPinOptional = v::pin::kVirtualNmis | v::pin::kPreemptionTimer;

constexpr Need kProcRequired[] = {
    {"HLT exiting", v::proc::kHltExiting},
    // Every port access exits; the I/O bitmaps come with in-kernel PIO devices.
    {"unconditional I/O exiting", v::proc::kUnconditionalIoExiting},
    // The host's debug registers are not swapped: guest MOV DR must exit.
    {"MOV-DR exiting", v::proc::kMovDrExiting},
    // Without a TPR shadow, MOV CR8 would reach the host's own local APIC.
    {"CR8-load exiting", v::proc::kCr8LoadExiting},
    {"CR8-store exiting", v::proc::kCr8StoreExiting},
    // MWAIT would idle the host CPU, MONITOR arm it, RDPMC read the host's
    // counters: none is offered to the guest (CPUID), all must exit.
    {"MWAIT exiting", v::proc::kMwaitExiting},
    {"MONITOR exiting", v::proc::kMonitorExiting},
    {"RDPMC exiting", v::proc::kRdpmcExiting},
    {"secondary controls", v::proc::kActivateSecondaryControls},
};
constexpr Need kProcLater[] = {
    {"interrupt-window exiting", v::proc::kInterruptWindowExiting},
};
constexpr u32 kProcOptional = v::proc::kUseTscOffsetting;

constexpr Need kProc2Required[] = {
    {"EPT", v::proc2::kEnableEpt},
    // Guests start in real mode at the reset vector (SDM 26.3.1.1).
    {"unrestricted guest", v::proc2::kUnrestrictedGuest},
};
// RDTSCP, INVPCID and XSAVES stay off (#UD in the guest, hidden in CPUID):
// minikvm does not swap IA32_TSC_AUX or IA32_XSS. WBINVD exits and is a nop.
constexpr u32 kProc2Optional = v::proc2::kEnableVpid | v::proc2::kWbinvdExiting;

constexpr Need kExitRequired[] = {
    {"64-bit host (host address-space size)", v::exit_ctl::kHostAddressSpaceSize},
    // The exit takes the interrupt from the local APIC and minikvm runs the
    // host's handler for its vector at once, as KVM does.
    {"acknowledge interrupt on exit", v::exit_ctl::kAckInterruptOnExit},
    {"save IA32_EFER", v::exit_ctl::kSaveEfer},
    {"load IA32_EFER on exit", v::exit_ctl::kLoadEfer},
};
constexpr u32 kExitOptional = v::exit_ctl::kSavePat | v::exit_ctl::kLoadPat;

constexpr Need kEntryRequired[] = {
    {"load IA32_EFER on entry", v::entry_ctl::kLoadEfer},
};
constexpr Need kEntryLater[] = {
    {"IA-32e mode guest", v::entry_ctl::kIa32eModeGuest},
};
constexpr u32 kEntryOptional = v::entry_ctl::kLoadPat;

template <size_t N> u32 bits_of(const Need (&needs)[N]) {
  u32 b = 0;
  for (const Need &n : needs)
    b |= n.bits;
  return b;
}

// Names the first need whose bits are in `lacking`.
template <size_t N> const char *first_lacking(const Need (&needs)[N], u32 lacking) {
  for (const Need &n : needs)
    if (n.bits & lacking)
      return n.name;
  return nullptr;
}

template <size_t R, size_t L>
bool one_field(AllowedSettings a, const Need (&req)[R], const Need (&later)[L], u32 optional, u32 *out,
               const char **missing) {
  u32 lacking;
  bool ok = adjust(a, bits_of(req), optional, out, &lacking);
  if (!ok) {
    const char *n = first_lacking(req, lacking);
    *missing = n ? n : "a control the CPU forces on but cannot set";
    return false;
  }
  for (const Need &n : later)
    if (!a.may_set(n.bits)) {
      *missing = n.name;
      return false;
    }
  return true;
}

constexpr Need kNone[1] = {{nullptr, 0}};

}  // namespace

int compute_controls(const Capabilities &caps, ControlSet *out, const char **missing) {
  ControlSet cs;
  *missing = nullptr;
  // SDM A.1: minikvm's VMCS/VMXON regions are write-back, one page, 64-bit
  // physical addresses.
  if (caps.basic.memory_type() != 6) {
    *missing = "write-back VMCS memory type";
    return -EOPNOTSUPP;
  }
  if (caps.basic.vmcs_size() == 0 || caps.basic.vmcs_size() > 4096) {
    *missing = "a VMCS of at most 4 KiB";
    return -EOPNOTSUPP;
  }
  if (caps.basic.addresses_32bit()) {
    *missing = "64-bit VMX physical addresses";
    return -EOPNOTSUPP;
  }
  if (!one_field(caps.pin, kPinRequired, kNone, kPinOptional, &cs.pin, missing) ||
      !one_field(caps.proc, kProcRequired, kProcLater, kProcOptional, &cs.proc, missing) ||
      !one_field(caps.proc2, kProc2Required, kNone, kProc2Optional, &cs.proc2, missing) ||
      !one_field(caps.exit, kExitRequired, kNone, kExitOptional, &cs.exit, missing) ||
      !one_field(caps.entry, kEntryRequired, kEntryLater, kEntryOptional, &cs.entry, missing))
    return -EOPNOTSUPP;
  *out = cs;
  return 0;
}

ApicvCaps apicv_caps(const Capabilities &caps) {
  ApicvCaps a;
  const bool proc2 = caps.proc.may_set(v::proc::kActivateSecondaryControls);
  // Without CR8 exiting off, the TPR shadow would not remove CR8 exits.
  a.tpr_shadow = caps.proc.may_set(v::proc::kUseTprShadow) &&
                 !(caps.proc.must_be_one & (v::proc::kCr8LoadExiting | v::proc::kCr8StoreExiting));
  a.msr_bitmaps = caps.proc.may_set(v::proc::kUseMsrBitmaps);
  a.apic_accesses = proc2 && caps.proc2.may_set(v::proc2::kVirtualizeApicAccesses);
  a.x2apic_mode = proc2 && a.msr_bitmaps && caps.proc2.may_set(v::proc2::kVirtualizeX2apicMode);
  a.register_virt = proc2 && caps.proc2.may_set(v::proc2::kApicRegisterVirtualization);
  // SDM 26.2.1.1: virtual-interrupt delivery requires external-interrupt
  // exiting (minikvm always sets it); posted interrupts require VID and
  // acknowledge interrupt on exit (required by compute_controls).
  a.intr_delivery = proc2 && caps.proc2.may_set(v::proc2::kVirtualInterruptDelivery);
  a.posted_intr = a.intr_delivery && caps.pin.may_set(v::pin::kPostedInterrupts) &&
                  caps.exit.may_set(v::exit_ctl::kAckInterruptOnExit);
  return a;
}

u64 fixed_cr0(const Capabilities &caps, u64 cr0, bool unrestricted_guest) {
  constexpr u64 kPe = 1ull << 0, kPg = 1ull << 31;
  u64 must1 = caps.cr0_fixed0;
  if (unrestricted_guest)
    must1 &= ~(kPe | kPg);
  return (cr0 | must1) & caps.cr0_fixed1;
}

u64 fixed_cr4(const Capabilities &caps, u64 cr4) { return (cr4 | caps.cr4_fixed0) & caps.cr4_fixed1; }

}  // namespace mk::vmx
