// SPDX-License-Identifier: GPL-2.0
// CPUID for guests: what minikvm can offer (KVM_GET_SUPPORTED_CPUID), what a
// vCPU was given (KVM_SET_CPUID2/KVM_GET_CPUID2), and what a guest's CPUID
// instruction returns, with KVM 6.1's semantics (arch/x86/kvm/cpuid.c).
//
// Supported CPUID is an allow-list over the host's CPUID: a feature is
// offered only when the host has it AND minikvm virtualizes whatever state,
// MSR or instruction it brings. Leaf by leaf (cpuid.cpp has the masks):
//   0          max basic leaf min(host, 1FH), host vendor
//   1          family/model/stepping; EBX without the host's APIC ID; no
//              VMX/SMX/MONITOR/DS/PDCM/x2APIC/TSC-deadline/PCID (see below);
//              the hypervisor bit set; OSXSAVE 0 (it mirrors the guest's CR4)
//   2, 4       host cache descriptors/parameters (4: every subleaf up to
//              and including the first with cache type 0)
//   6          ARAT only; 5, 3, 8, 9, 0AH (no PMU), 0CH... all zero
//   7          subleaf 0 and 1; no SGX/MPX/PT/AVX-512/PKU/LA57/RDPID/
//              INVPCID/WAITPKG, none of the IA32_SPEC_CTRL/ARCH_CAPABILITIES
//              family (minikvm does not virtualize those MSRs); TSC_ADJUST
//              is emulated
//   0BH, 1FH   subleaf 0, all zero: no topology is described
//   0DH        XCR0 = host's & (x87|SSE|AVX); sizes consistent with it; no
//              XSAVES/XFD (no IA32_XSS, no dynamic features)
//   40000000H  "minikvm" signature, EAX = 40000001H (the KVM selftests'
//              cpuid_test expects KVM's layout: a features leaf follows)
//   40000001H  all zero: no paravirtual features
//   80000000H  max extended leaf min(host, 80000008H)
//   80000001H  LAHF/LZCNT/PREFETCHW, SYSCALL/NX/1G pages/LM; no RDTSCP
//              (minikvm does not swap IA32_TSC_AUX)
//   80000002-4 brand string; 80000006H L2; 80000007H invariant TSC only
//   80000008H  host physical-address width (EPT: GPA width = host's),
//              48-bit linear addresses (no LA57)
// PCID/INVPCID and x2APIC/TSC-deadline are left out on purpose: PCID needs
// the vCPU's CR4.PCIDE/CR3 rules, INVPCID the "enable INVPCID" control, and
// the LAPIC comes with the in-kernel APIC; each is one mask bit here then.
#pragma once

#include <linux/kvm.h>

#include "../../ia32/cpuid.h"
#include "../rt/types.h"
#include "../rt/vector.h"

namespace mk::x86 {

// KVM_MAX_CPUID_ENTRIES (arch/x86/include/asm/kvm_host.h, not in uapi).
inline constexpr u32 kMaxCpuidEntries = 256;

using CpuidEntry = struct kvm_cpuid_entry2;

// How the host CPUID is read: mk_cpuid in the module, a table in tests.
using CpuidFn = void (*)(u32 leaf, u32 subleaf, u32 out[4]);

// Leaves whose output depends on ECX (KVM's cpuid_function_is_indexed):
// their entries carry KVM_CPUID_FLAG_SIGNIFCANT_INDEX.
bool cpuid_function_is_indexed(u32 function);

// KVM_CPUID_INDEX_NOT_SIGNIFICANT: a lookup that takes the first entry of a
// function whatever its index (for leaves architecturally not indexed).
inline constexpr u64 kAnyIndex = ~0ull;

// cpuid_entry2_find: the first entry for function whose index matches, an
// entry without the significant-index flag matching any index.
const CpuidEntry *find_cpuid_entry(const CpuidEntry *entries, u32 nent, u32 function, u64 index);

// One XSAVE state component as the host enumerates it in CPUID.(0DH, i).
struct XstateComponent {
  u32 size;
  u32 offset;       // in the standard (non-compacted) format
  bool align64;     // ECX bit 1: 64-byte aligned in the compacted format
};

// What minikvm offers guests, computed once from the host CPUID.
struct SupportedCpuid {
  CpuidEntry entries[kMaxCpuidEntries];
  u32 nent;
  u64 xcr0;           // XCR0 bits a guest may enable
  u64 efer;           // EFER bits a guest may set, whatever its CPUID
  u64 cr4_reserved;   // CR4 bits no guest may set, whatever its CPUID
  XstateComponent xstate[64];
  // Host facts the runtime CPUID bits depend on (KVM's boot_cpu_has()).
  bool host_xsave;
  bool host_pku;
  bool host_rtm;

  const CpuidEntry *find(u32 function, u64 index) const {
    return find_cpuid_entry(entries, nent, function, index);
  }
};

// Fills *out from the host's CPUID. Returns 0, or -E2BIG if the host
// enumerates more than kMaxCpuidEntries entries (no real CPU does).
int compute_supported_cpuid(CpuidFn host_cpuid, SupportedCpuid *out);

// The module-wide table: init_supported_cpuid() (re)computes it from
// mk_cpuid; call it once at module load, before any ioctl. supported_cpuid()
// computes it on first use if init was not called (tests).
int init_supported_cpuid();
const SupportedCpuid &supported_cpuid();

// KVM_GET_SUPPORTED_CPUID on /dev: kvm_dev_ioctl_get_cpuid's contract.
// nent < 1 or smaller than the table: -E2BIG (nent is not written back);
// nent above 256 is treated as 256; -EFAULT on bad pointers; on success
// nent is set to the number of entries copied.
long get_supported_cpuid(unsigned long user_arg);

// Size of the XSAVE area for the components in xcr0 (KVM's
// xstate_required_size): standard format, or compacted (XSAVEC).
u32 xstate_required_size(const SupportedCpuid &sup, u64 xcr0, bool compacted);

// The guest-visible CR4 bits not backed by a feature in entries are reserved
// (KVM's __cr4_reserved_bits, arch/x86/kvm/x86.h).
u64 cr4_reserved_bits_for(const CpuidEntry *entries, u32 nent);

// A vCPU's CPUID: the entries userspace set, with the bits KVM keeps in step
// with the vCPU's state (OSXSAVE, APIC, OSPKE, XSAVE sizes).
class GuestCpuid {
 public:
  explicit GuestCpuid(const SupportedCpuid &sup = supported_cpuid()) : sup_(&sup) { after_set(); }
  GuestCpuid(const GuestCpuid &) = delete;
  GuestCpuid &operator=(const GuestCpuid &) = delete;

  // ---- ioctls (vCPU fd) -------------------------------------------------
  // KVM_SET_CPUID2 / KVM_SET_CPUID: nent > 256 is -E2BIG, -EFAULT, -ENOMEM;
  // -EINVAL if 80000008H gives a linear-address width other than 0, 48 or
  // 57; once the vCPU has run, only the identical table is accepted
  // (-EINVAL otherwise, KVM's kvm_cpuid_check_equal). On any error the old
  // table stays.
  long set_cpuid2(unsigned long user_arg, bool vcpu_has_run);
  long set_cpuid(unsigned long user_arg, bool vcpu_has_run);
  // KVM_GET_CPUID2, as KVM 6.1: -E2BIG when nent is smaller than the table
  // (nent is not written back); -EFAULT; on success the entries are copied
  // and the header is written back with nent unchanged.
  long get_cpuid2(unsigned long user_arg) const;

  // The same, from kernel memory: copies entries, applies the runtime bits.
  int set_entries(const CpuidEntry *entries, u32 nent, bool vcpu_has_run);

  // ---- lookups ----------------------------------------------------------
  // Exact match honoring the significant-index flag, or nullptr.
  const CpuidEntry *find(u32 function, u64 index) const {
    return find_cpuid_entry(entries_.begin(), nent(), function, index);
  }
  // The guest's CPUID instruction (KVM's kvm_cpuid(), exact_only = false):
  // an exact entry; else, unless the vendor is AMD/Hygon, a leaf above its
  // class's maximum (or of an absent class) reads as the highest basic leaf
  // with the same ECX; otherwise zeros, with leaves 0BH/1FH still giving
  // ECX[7:0] and the x2APIC ID in EDX when their subleaf 1 exists. *exact
  // tells whether an entry for the leaf itself was found.
  ia32::cpuid::Regs lookup(u32 leaf, u32 subleaf, bool *exact = nullptr) const;
  bool has(const ia32::cpuid::Feature &f) const;

  // ---- runtime state the dynamic bits follow ------------------------------
  // Call on every change: CR4 (OSXSAVE, PKE), IA32_APIC_BASE (EN; GuestMsrs
  // does it), XCR0 (XSETBV, KVM_SET_XCRS). Initial: CR4 0, APIC base 0,
  // XCR0 = x87.
  void set_cr4(u64 cr4);
  void set_apic_base(u64 apic_base);
  void set_xcr0(u64 xcr0);

  // ---- what the rest of minikvm asks of the guest's CPUID -----------------
  // Guest MAXPHYADDR: CPUID.80000008H:EAX[7:0] if 80000000H reaches it, else 36.
  u32 max_phys_addr() const { return maxphyaddr_; }
  // Guest-physical address bits above MAXPHYADDR (reserved in PTEs, MTRRs,
  // IA32_APIC_BASE).
  u64 reserved_gpa_bits() const { return ~0ull << maxphyaddr_; }
  // CR4 bits the guest may not set: reserved by its CPUID or by minikvm
  // (MOV CR4 and KVM_SET_SREGS refuse them).
  u64 cr4_reserved_bits() const { return cr4_reserved_; }
  // EFER bits a guest WRMSR/KVM_SET_SREGS may not set (KVM's
  // efer_reserved_bits + __kvm_valid_efer against the guest CPUID).
  u64 efer_reserved_bits() const { return efer_reserved_; }
  // EFER bits reserved whatever the guest CPUID (host-initiated writes).
  u64 efer_reserved_bits_host() const { return ~sup_->efer; }
  // XCR0 values XSETBV may set are subsets of this (always includes x87):
  // the guest's CPUID.(0DH,0) masked by what minikvm supports.
  u64 xcr0_supported() const { return xcr0_supported_; }
  // The AMD/Hygon vendor strings in leaf 0 (changes out-of-range leaves).
  bool vendor_is_amd_like() const;

  u32 nent() const { return static_cast<u32>(entries_.size()); }
  const CpuidEntry *entries() const { return entries_.begin(); }
  const SupportedCpuid &supported() const { return *sup_; }

 private:
  long set_from_user(unsigned long user_entries, u32 nent, bool legacy, bool vcpu_has_run);
  int install(Vector<CpuidEntry> &fresh, bool vcpu_has_run);
  void apply_runtime(CpuidEntry *entries, u32 nent) const;
  void after_set();

  const SupportedCpuid *sup_;
  Vector<CpuidEntry> entries_;
  u64 cr4_ = 0;
  u64 apic_base_ = 0;
  u64 xcr0_ = ia32::cpuid::xcr0::kX87;
  u32 maxphyaddr_ = 36;
  u64 cr4_reserved_ = 0;
  u64 efer_reserved_ = 0;
  u64 xcr0_supported_ = ia32::cpuid::xcr0::kX87;
};

}  // namespace mk::x86
