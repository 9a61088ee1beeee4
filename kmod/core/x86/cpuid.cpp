// SPDX-License-Identifier: GPL-2.0
#include "cpuid.h"

#include <minikvm/platform.h>

#include "../../ia32/msr.h"
#include "../rt/errno.h"
#include "../rt/utility.h"

namespace mk::x86 {

namespace c = ia32::cpuid;

// The ioctl numbers encode these sizes: with C++'s 1-byte empty struct in
// __DECLARE_FLEX_ARRAY they would differ from C's (uapi-shim/linux/stddef.h).
static_assert(sizeof(struct kvm_cpuid2) == 8 && sizeof(struct kvm_cpuid) == 8, "C layout");
static_assert(sizeof(CpuidEntry) == 40 && sizeof(struct kvm_cpuid_entry) == 24, "C layout");
static_assert(KVM_GET_SUPPORTED_CPUID == 0xc008ae05 && KVM_SET_CPUID2 == 0x4008ae90, "KVM's numbers");

namespace {

// CR4 bits (SDM vol. 3A 2.5). Only those the CPUID-dependent reserved-bit
// rule needs; cr.h holds the ones the rest of the core uses.
namespace cr4 {
constexpr u64 kVme = 1ull << 0, kPvi = 1ull << 1, kTsd = 1ull << 2, kDe = 1ull << 3, kPse = 1ull << 4,
              kPae = 1ull << 5, kMce = 1ull << 6, kPge = 1ull << 7, kPce = 1ull << 8, kOsfxsr = 1ull << 9,
              kOsxmmexcpt = 1ull << 10, kUmip = 1ull << 11, kLa57 = 1ull << 12, kVmxe = 1ull << 13,
              kFsgsbase = 1ull << 16, kPcide = 1ull << 17, kOsxsave = 1ull << 18, kSmep = 1ull << 20,
              kSmap = 1ull << 21, kPke = 1ull << 22;
// KVM's CR4_RESERVED_BITS complement: every bit KVM lets a guest own at all.
constexpr u64 kKnown = kVme | kPvi | kTsd | kDe | kPse | kPae | kMce | kPge | kPce | kOsfxsr | kOsxmmexcpt |
                       kUmip | kLa57 | kVmxe | kFsgsbase | kPcide | kOsxsave | kSmep | kSmap | kPke;
}  // namespace cr4

// ---- what minikvm offers, register by register -------------------------
// An allow-list, as KVM's kvm_set_cpu_caps(): a bit not named here is never
// offered. Comments say why a host feature is left out.

// 1:ECX. Out: DTES64/DS-CPL (no DS area), MONITOR (MWAIT exits are not
// emulated), VMX/SMX (no nesting), EST/TM2/xTPR/CNXT-ID/SDBG/DCA (platform
// MSRs), PDCM (no PMU: IA32_PERF_CAPABILITIES), PCID (see cpuid.h),
// OSXSAVE (runtime bit), TSC-deadline (as KVM: userspace adds it after
// KVM_CAP_TSC_DEADLINE_TIMER). x2APIC is emulated by the in-kernel LAPIC
// whatever the host has, as KVM does.
constexpr u32 kLeaf1Ecx = c::features_ecx::kSse3 | c::features_ecx::kPclmulqdq | c::features_ecx::kSsse3 |
                          c::features_ecx::kFma | c::features_ecx::kCx16 | c::features_ecx::kSse41 |
                          c::features_ecx::kSse42 | c::features_ecx::kMovbe | c::features_ecx::kPopcnt |
                          c::features_ecx::kAes | c::features_ecx::kXsave | c::features_ecx::kAvx |
                          c::features_ecx::kF16c | c::features_ecx::kRdrand | c::features_ecx::kX2apic;
// 1:EDX. Out: PSN, DS, ACPI (thermal MSRs), HTT (topology not described),
// TM, PBE.
constexpr u32 kLeaf1Edx = c::features_edx::kFpu | c::features_edx::kVme | c::features_edx::kDe |
                          c::features_edx::kPse | c::features_edx::kTsc | c::features_edx::kMsr |
                          c::features_edx::kPae | c::features_edx::kMce | c::features_edx::kCx8 |
                          c::features_edx::kApic | c::features_edx::kSep | c::features_edx::kMtrr |
                          c::features_edx::kPge | c::features_edx::kMca | c::features_edx::kCmov |
                          c::features_edx::kPat | c::features_edx::kPse36 | c::features_edx::kClfsh |
                          c::features_edx::kMmx | c::features_edx::kFxsr | c::features_edx::kSse |
                          c::features_edx::kSse2 | c::features_edx::kSs;
// 7.0:EBX. Out: SGX, INVPCID (needs the secondary control and PCID), RDT
// monitoring/allocation, MPX (BNDCFGS, XCR0 bits 3-4), AVX-512 (XCR0 bits
// 5-7 are not offered), Intel PT. TSC_ADJUST is added: it is emulated.
constexpr u32 kLeaf7Ebx = c::leaf7_ebx::kFsgsbase | c::leaf7_ebx::kBmi1 | c::leaf7_ebx::kHle |
                          c::leaf7_ebx::kAvx2 | c::leaf7_ebx::kFdpExcptnOnly | c::leaf7_ebx::kSmep |
                          c::leaf7_ebx::kBmi2 | c::leaf7_ebx::kErms | c::leaf7_ebx::kRtm |
                          c::leaf7_ebx::kZeroFcsFds | c::leaf7_ebx::kRdseed | c::leaf7_ebx::kAdx |
                          c::leaf7_ebx::kSmap | c::leaf7_ebx::kClflushopt | c::leaf7_ebx::kClwb |
                          c::leaf7_ebx::kSha;
// 7.0:ECX. Out: PKU/OSPKE (PKRU is not switched: XCR0 bit 9 is not
// offered), WAITPKG (IA32_UMWAIT_CONTROL), LA57 (canonical checks are
// 48-bit), RDPID (IA32_TSC_AUX is not swapped), CET, AVX-512 forms,
// key locker, bus-lock detection, ENQCMD, SGX launch control, PKS.
constexpr u32 kLeaf7Ecx = c::leaf7_ecx::kUmip | c::leaf7_ecx::kGfni | c::leaf7_ecx::kVaes |
                          c::leaf7_ecx::kVpclmulqdq | c::leaf7_ecx::kCldemote | c::leaf7_ecx::kMovdiri |
                          c::leaf7_ecx::kMovdir64b;
// 7.0:EDX. Out: everything that implies an MSR minikvm does not virtualize:
// IA32_SPEC_CTRL/PRED_CMD (IBRS/IBPB, STIBP, SSBD), IA32_FLUSH_CMD,
// IA32_ARCH_CAPABILITIES, IA32_CORE_CAPABILITIES, SRBDS_CTRL, arch LBRs;
// and AMX/AVX-512/UINTR/CET/PCONFIG/hybrid.
constexpr u32 kLeaf7Edx = c::leaf7_edx::kFsrm | c::leaf7_edx::kMdClear | c::leaf7_edx::kSerialize |
                          c::leaf7_edx::kTsxldtrk;
constexpr u32 kLeaf7_1Eax = c::leaf7_1_eax::kAvxVnni;
// 0DH.1:EAX. Out: XSAVES (IA32_XSS is not emulated), XFD.
constexpr u32 kLeafD1Eax = c::leafd_1_eax::kXsaveopt | c::leafd_1_eax::kXsavec | c::leafd_1_eax::kXgetbv1;
// 80000001H. Out: SVM and the AMD-only bits; RDTSCP (IA32_TSC_AUX).
constexpr u32 kExt1Ecx = c::ext1_ecx::kLahfLm | c::ext1_ecx::kAbm | c::ext1_ecx::kPrefetchw;
constexpr u32 kExt1Edx = c::ext1_edx::kSyscall | c::ext1_edx::kNx | c::ext1_edx::kPdpe1gb | c::ext1_edx::kLm;
// XCR0: the components minikvm's guests may enable. AVX-512, MPX and PKRU
// state would need the vCPU loop to manage more than the x87/SSE/AVX state.
constexpr u64 kXcr0 = c::xcr0::kX87 | c::xcr0::kSse | c::xcr0::kAvx;

// Instructions encoded with VEX that need XCR0.AVX: without AVX state they
// #UD, so they are hidden with it.
constexpr u32 kNeedAvxLeaf1Ecx = c::features_ecx::kAvx | c::features_ecx::kFma | c::features_ecx::kF16c;
constexpr u32 kNeedAvxLeaf7Ebx = c::leaf7_ebx::kAvx2;
constexpr u32 kNeedAvxLeaf7Ecx = c::leaf7_ecx::kVaes | c::leaf7_ecx::kVpclmulqdq;

constexpr u32 kMaxBasicLeaf = 0x1f;          // the highest leaf KVM 6.1 knows
constexpr u32 kMaxExtLeaf = 0x80000008;      // Intel's last extended leaf
constexpr u32 kVirtAddrBits = 48;            // no LA57

constexpr u32 chars4(const char *s) {
  return static_cast<u32>(static_cast<u8>(s[0])) | static_cast<u32>(static_cast<u8>(s[1])) << 8 |
         static_cast<u32>(static_cast<u8>(s[2])) << 16 | static_cast<u32>(static_cast<u8>(s[3])) << 24;
}

// The hypervisor signature leaf: "minikvm" and NULs in EBX:ECX:EDX.
constexpr u32 kSignatureEbx = chars4("mini");
constexpr u32 kSignatureEcx = chars4("kvm\0");
constexpr u32 kSignatureEdx = 0;

u32 reg_of(const CpuidEntry &e, c::Reg r) {
  switch (r) {
    case c::Reg::kEax:
      return e.eax;
    case c::Reg::kEbx:
      return e.ebx;
    case c::Reg::kEcx:
      return e.ecx;
    default:
      return e.edx;
  }
}

bool table_has(const CpuidEntry *entries, u32 nent, const c::Feature &f) {
  const CpuidEntry *e = find_cpuid_entry(entries, nent, f.leaf, f.subleaf);
  return e && (reg_of(*e, f.reg) & f.mask) == f.mask;
}

void change(u32 *reg, u32 mask, bool on) { *reg = on ? (*reg | mask) : (*reg & ~mask); }

// Builds the supported table in place, entry by entry, like KVM's
// do_host_cpuid(): leaves the host has are read from it, others are zero.
struct Builder {
  SupportedCpuid *s;
  CpuidFn host;
  u32 max_ext;  // the highest extended leaf offered (<= the host's)
  bool overflow = false;
  CpuidEntry scratch{};  // where entries go once the table is full

  CpuidEntry *add(u32 function, u32 index, bool from_host) {
    CpuidEntry *e = &scratch;
    if (s->nent < kMaxCpuidEntries)
      e = &s->entries[s->nent++];
    else
      overflow = true;
    *e = CpuidEntry{};
    e->function = function;
    e->index = index;
    bool hypervisor_range = (function & 0xc0000000) == 0x40000000;
    bool beyond_ext = function >= 0x80000000 && function <= 0xbfffffff && function > max_ext;
    if (from_host && !hypervisor_range && !beyond_ext) {
      u32 r[4];
      host(function, index, r);
      e->eax = r[0];
      e->ebx = r[1];
      e->ecx = r[2];
      e->edx = r[3];
    }
    if (cpuid_function_is_indexed(function))
      e->flags |= KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    return e;
  }
  // For leaves minikvm reports but describes nothing in.
  static void zero(CpuidEntry *e) { e->eax = e->ebx = e->ecx = e->edx = 0; }
};

void basic_leaf(Builder &b, u32 fn) {
  SupportedCpuid &s = *b.s;
  bool avx = s.xcr0 & c::xcr0::kAvx;
  CpuidEntry *e = b.add(fn, 0, true);
  switch (fn) {
    case 0x0:
      e->eax = min(e->eax, kMaxBasicLeaf);
      break;
    case 0x1:
      // EBX[31:24] is the initial APIC ID of the CPU that ran CPUID: the
      // host's is meaningless to a guest; the VMM puts the vCPU's there.
      e->ebx &= 0x00ffffff;
      e->ecx &= kLeaf1Ecx;
      if (!s.host_xsave)
        e->ecx &= ~c::features_ecx::kXsave;
      if (!avx)
        e->ecx &= ~kNeedAvxLeaf1Ecx;
      // KVM leaves the hypervisor bit to the VMM; minikvm offers it, as
      // it is true of every guest it runs.
      e->ecx |= c::features_ecx::kHypervisor;
      e->edx &= kLeaf1Edx;
      break;
    case 0x2:
      break;
    case 0x4:
      // One entry per cache, ending with (and including) the first subleaf
      // whose cache type (EAX[4:0]) is 0 "no more caches".
      for (u32 i = 1; (e->eax & 0x1f) && i < 64 && !b.overflow; i++)
        e = b.add(fn, i, true);
      break;
    case 0x6:
      // Always-running APIC timer (ARAT) only; no thermal/power interfaces.
      Builder::zero(e);
      e->eax = 1u << 2;
      break;
    case 0x7: {
      u32 max_sub = min(e->eax, 1u);
      e->eax = max_sub;
      e->ebx = (e->ebx & kLeaf7Ebx) | c::leaf7_ebx::kTscAdjust;
      e->ecx &= kLeaf7Ecx;
      e->edx &= kLeaf7Edx;
      if (!avx) {
        e->ebx &= ~kNeedAvxLeaf7Ebx;
        e->ecx &= ~kNeedAvxLeaf7Ecx;
      }
      if (max_sub >= 1) {
        e = b.add(fn, 1, true);
        e->eax &= avx ? kLeaf7_1Eax : 0;
        e->ebx = e->ecx = e->edx = 0;
      }
      break;
    }
    case 0xd: {
      // Sizes follow the offered XCR0, not the host's (KVM: permitted_xcr0).
      e->eax = static_cast<u32>(s.xcr0);
      e->edx = static_cast<u32>(s.xcr0 >> 32);
      e->ebx = e->ecx = xstate_required_size(s, s.xcr0, false);
      if (!s.xcr0)
        break;
      e = b.add(fn, 1, true);
      e->eax &= kLeafD1Eax;
      e->ebx = (e->eax & c::leafd_1_eax::kXsavec) ? xstate_required_size(s, s.xcr0, true) : 0;
      e->ecx = e->edx = 0;  // no IA32_XSS components
      for (u32 i = 2; i < 64; i++) {
        if (!(s.xcr0 & (1ull << i)))
          continue;
        e = b.add(fn, i, true);
        if (!e->eax) {  // the host contradicts its own subleaf 0: drop it
          if (e != &b.scratch)
            b.s->nent--;
          continue;
        }
        e->ecx &= 1u << 1;  // keep "64-byte aligned when compacted"
        e->edx = 0;
      }
      break;
    }
    default:
      // 3 (serial number), 5 (MONITOR), 8, 9, 0AH (no PMU), 0BH/1FH (no
      // topology: subleaf 0 all zero), 0CH, 0EH-1EH (RDT, SGX, PT, TSC and
      // frequency leaves, AMX...): zero, as KVM's default case.
      Builder::zero(e);
      break;
  }
}

void ext_leaf(Builder &b, u32 fn) {
  CpuidEntry *e = b.add(fn, 0, true);
  switch (fn) {
    case 0x80000000:
      e->eax = b.max_ext;
      break;
    case 0x80000001:
      e->ebx &= ~0x0fff0000u;  // reserved (KVM clears GENMASK(27, 16))
      e->ecx &= kExt1Ecx;
      e->edx &= kExt1Edx;
      break;
    case 0x80000002:
    case 0x80000003:
    case 0x80000004:
      break;  // brand string
    case 0x80000006:
      e->edx &= ~0x00030000u;  // reserved bits 17:16
      break;
    case 0x80000007:
      e->eax = e->ebx = e->ecx = 0;
      e->edx &= c::ext7_edx::kInvariantTsc;
      break;
    case 0x80000008: {
      // With EPT the guest-physical width is the host's (KVM with TDP uses
      // the raw value, not one reduced by memory encryption).
      u32 phys = e->eax & 0xff;
      e->eax = phys | kVirtAddrBits << 8;
      e->ebx = e->ecx = e->edx = 0;
      break;
    }
    default:
      Builder::zero(e);
      break;
  }
}

void hypervisor_leaves(Builder &b) {
  CpuidEntry *e = b.add(+c::Leaf::kHypervisorBase, 0, false);
  e->eax = +c::Leaf::kHypervisorFeatures;
  e->ebx = kSignatureEbx;
  e->ecx = kSignatureEcx;
  e->edx = kSignatureEdx;
  b.add(+c::Leaf::kHypervisorFeatures, 0, false);  // no paravirtual features
}

SupportedCpuid g_supported;
bool g_supported_ready;

}  // namespace

bool cpuid_function_is_indexed(u32 function) {
  switch (function) {
    case 0x4:
    case 0x7:
    case 0xb:
    case 0xd:
    case 0xf:
    case 0x10:
    case 0x12:
    case 0x14:
    case 0x17:
    case 0x18:
    case 0x1d:
    case 0x1e:
    case 0x1f:
    case 0x8000001d:
      return true;
    default:
      return false;
  }
}

const CpuidEntry *find_cpuid_entry(const CpuidEntry *entries, u32 nent, u32 function, u64 index) {
  for (u32 i = 0; i < nent; i++) {
    const CpuidEntry &e = entries[i];
    if (e.function != function)
      continue;
    // kAnyIndex has bits above 31 set, so it never equals a u32 index.
    if (!(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e.index == index || index == kAnyIndex)
      return &e;
  }
  return nullptr;
}

u32 xstate_required_size(const SupportedCpuid &sup, u64 xcr0, bool compacted) {
  u32 size = c::kXsaveLegacyAndHeaderSize;
  for (u32 i = 2; i < 64; i++) {
    if (!(xcr0 & (1ull << i)))
      continue;
    const XstateComponent &xs = sup.xstate[i];
    u32 offset = compacted ? (xs.align64 ? (size + 63) & ~63u : size) : xs.offset;
    size = max(size, offset + xs.size);
  }
  return size;
}

u64 cr4_reserved_bits_for(const CpuidEntry *entries, u32 nent) {
  namespace f = c::feature;
  struct {
    const c::Feature &feature;
    u64 cr4_bit;
  } const deps[] = {
      {f::kXsave, cr4::kOsxsave}, {f::kSmep, cr4::kSmep}, {f::kSmap, cr4::kSmap},
      {f::kFsgsbase, cr4::kFsgsbase}, {f::kPku, cr4::kPke}, {f::kLa57, cr4::kLa57},
      {f::kUmip, cr4::kUmip}, {f::kVmx, cr4::kVmxe}, {f::kPcid, cr4::kPcide},
  };
  u64 reserved = ~cr4::kKnown;
  for (const auto &d : deps)
    if (!table_has(entries, nent, d.feature))
      reserved |= d.cr4_bit;
  return reserved;
}

int compute_supported_cpuid(CpuidFn host, SupportedCpuid *out) {
  SupportedCpuid &s = *out;
  // Field by field: a SupportedCpuid is ~11 KiB, too big for a temporary on
  // a kernel stack. Entries are zeroed as they are added.
  s.nent = 0;
  s.xcr0 = s.efer = s.cr4_reserved = 0;
  for (XstateComponent &xs : s.xstate)
    xs = XstateComponent{};
  s.host_xsave = s.host_pku = s.host_rtm = false;
  u32 r[4];

  host(0, 0, r);
  u32 max_basic = min(r[0], kMaxBasicLeaf);
  host(0x80000000, 0, r);
  u32 host_max_ext = r[0];
  u32 max_ext = host_max_ext >= 0x80000000 ? min(host_max_ext, kMaxExtLeaf) : 0x80000000;

  // Host facts the masks depend on.
  host(1, 0, r);
  u32 leaf1_ecx = r[2];
  // XSAVE is usable only if the host kernel enabled it (CR4.OSXSAVE, which
  // CPUID.1:ECX.OSXSAVE mirrors); Linux then enables every user state
  // component it knows in XCR0, x87/SSE/AVX among them.
  s.host_xsave = (leaf1_ecx & c::features_ecx::kXsave) && (leaf1_ecx & c::features_ecx::kOsxsave);
  if (max_basic >= 7) {
    host(7, 0, r);
    s.host_pku = (r[2] & c::leaf7_ecx::kPku) && (r[2] & c::leaf7_ecx::kOspke);
    s.host_rtm = r[1] & c::leaf7_ebx::kRtm;
  }
  if (s.host_xsave && max_basic >= 0xd) {
    host(0xd, 0, r);
    u64 host_xcr0_bits = r[0] | static_cast<u64>(r[3]) << 32;
    s.xcr0 = host_xcr0_bits & kXcr0;
    if (!(leaf1_ecx & c::features_ecx::kAvx))
      s.xcr0 &= ~c::xcr0::kAvx;
    for (u32 i = 2; i < 64; i++) {
      if (!(host_xcr0_bits & (1ull << i)))
        continue;
      host(0xd, i, r);
      s.xstate[i] = {r[0], r[1], (r[2] & 2) != 0};
    }
  }
  host(0x80000001, 0, r);
  s.efer = ia32::msr::efer::kSce | ia32::msr::efer::kLme | ia32::msr::efer::kLma;
  if (host_max_ext >= 0x80000001 && (r[3] & c::ext1_edx::kNx))
    s.efer |= ia32::msr::efer::kNxe;

  // The table, in KVM's order: basic leaves, extended, hypervisor.
  Builder b{&s, host, max_ext};
  for (u32 fn = 0; fn <= max_basic && !b.overflow; fn++)
    basic_leaf(b, fn);
  for (u32 fn = 0x80000000; fn <= max_ext && !b.overflow; fn++)
    ext_leaf(b, fn);
  hypervisor_leaves(b);
  if (b.overflow) {
    s.nent = 0;
    return -E2BIG;
  }
  s.cr4_reserved = cr4_reserved_bits_for(s.entries, s.nent);
  return 0;
}

int init_supported_cpuid() {
  int err = compute_supported_cpuid(mk_cpuid, &g_supported);
  __atomic_store_n(&g_supported_ready, true, __ATOMIC_RELEASE);
  return err;
}

const SupportedCpuid &supported_cpuid() {
  if (!__atomic_load_n(&g_supported_ready, __ATOMIC_ACQUIRE))
    init_supported_cpuid();
  return g_supported;
}

long get_supported_cpuid(unsigned long user_arg) {
  struct kvm_cpuid2 hdr;
  if (mk_copy_from_user(&hdr, user_arg, sizeof(hdr)))
    return -EFAULT;
  if (hdr.nent < 1)
    return -E2BIG;
  u32 room = min(hdr.nent, kMaxCpuidEntries);
  const SupportedCpuid &s = supported_cpuid();
  // KVM fills its array leaf by leaf and gives up with -E2BIG when it is
  // full, before copying anything out.
  if (s.nent > room)
    return -E2BIG;
  if (mk_copy_to_user(user_arg + __builtin_offsetof(struct kvm_cpuid2, entries), s.entries,
                      s.nent * sizeof(CpuidEntry)))
    return -EFAULT;
  hdr.nent = s.nent;
  if (mk_copy_to_user(user_arg, &hdr, sizeof(hdr)))
    return -EFAULT;
  return 0;
}

// ---- GuestCpuid ------------------------------------------------------------

long GuestCpuid::set_cpuid2(unsigned long user_arg, bool vcpu_has_run) {
  struct kvm_cpuid2 hdr;
  if (mk_copy_from_user(&hdr, user_arg, sizeof(hdr)))
    return -EFAULT;
  return set_from_user(user_arg + __builtin_offsetof(struct kvm_cpuid2, entries), hdr.nent, false,
                       vcpu_has_run);
}

long GuestCpuid::set_cpuid(unsigned long user_arg, bool vcpu_has_run) {
  struct kvm_cpuid hdr;
  if (mk_copy_from_user(&hdr, user_arg, sizeof(hdr)))
    return -EFAULT;
  return set_from_user(user_arg + __builtin_offsetof(struct kvm_cpuid, entries), hdr.nent, true,
                       vcpu_has_run);
}

long GuestCpuid::set_from_user(unsigned long user_entries, u32 nent, bool legacy, bool vcpu_has_run) {
  if (nent > kMaxCpuidEntries)
    return -E2BIG;
  Vector<CpuidEntry> fresh;
  if (legacy) {
    // KVM_SET_CPUID's entries have neither index nor flags: index 0, flags 0.
    Vector<struct kvm_cpuid_entry> old;
    if (!old.resize(nent))
      return -ENOMEM;
    if (nent && mk_copy_from_user(old.begin(), user_entries, nent * sizeof(struct kvm_cpuid_entry)))
      return -EFAULT;
    if (!fresh.resize(nent))
      return -ENOMEM;
    for (u32 i = 0; i < nent; i++) {
      CpuidEntry &e = fresh[i];
      e.function = old[i].function;
      e.eax = old[i].eax;
      e.ebx = old[i].ebx;
      e.ecx = old[i].ecx;
      e.edx = old[i].edx;
    }
  } else {
    if (!fresh.resize(nent))
      return -ENOMEM;
    if (nent && mk_copy_from_user(fresh.begin(), user_entries, nent * sizeof(CpuidEntry)))
      return -EFAULT;
  }
  return install(fresh, vcpu_has_run);
}

int GuestCpuid::set_entries(const CpuidEntry *entries, u32 nent, bool vcpu_has_run) {
  if (nent > kMaxCpuidEntries)
    return -E2BIG;
  Vector<CpuidEntry> fresh;
  if (!fresh.resize(nent))
    return -ENOMEM;
  for (u32 i = 0; i < nent; i++)
    fresh[i] = entries[i];
  return install(fresh, vcpu_has_run);
}

int GuestCpuid::install(Vector<CpuidEntry> &fresh, bool vcpu_has_run) {
  u32 n = static_cast<u32>(fresh.size());
  apply_runtime(fresh.begin(), n);

  // KVM does not support changing CPUID once the vCPU ran (MAXPHYADDR and
  // friends are baked into the MMU); VMMs that re-set the same table on CPU
  // hotplug keep working (kvm_cpuid_check_equal).
  if (vcpu_has_run) {
    if (n != nent())
      return -EINVAL;
    for (u32 i = 0; i < n; i++) {
      const CpuidEntry &a = fresh[i], &b = entries_[i];
      if (a.function != b.function || a.index != b.index || a.flags != b.flags || a.eax != b.eax ||
          a.ebx != b.ebx || a.ecx != b.ecx || a.edx != b.edx)
        return -EINVAL;
    }
    return 0;
  }

  // kvm_check_cpuid: canonical-address checks assume 48- or 57-bit linear
  // addresses (0 = not enumerated).
  if (const CpuidEntry *e = find_cpuid_entry(fresh.begin(), n, 0x80000008, kAnyIndex)) {
    u32 vaddr_bits = (e->eax >> 8) & 0xff;
    if (vaddr_bits != 48 && vaddr_bits != 57 && vaddr_bits != 0)
      return -EINVAL;
  }

  entries_ = move(fresh);
  after_set();
  return 0;
}

long GuestCpuid::get_cpuid2(unsigned long user_arg) const {
  struct kvm_cpuid2 hdr;
  if (mk_copy_from_user(&hdr, user_arg, sizeof(hdr)))
    return -EFAULT;
  if (hdr.nent < nent())
    return -E2BIG;
  if (nent() && mk_copy_to_user(user_arg + __builtin_offsetof(struct kvm_cpuid2, entries), entries_.begin(),
                                nent() * sizeof(CpuidEntry)))
    return -EFAULT;
  // KVM 6.1 writes the header back unchanged on success.
  if (mk_copy_to_user(user_arg, &hdr, sizeof(hdr)))
    return -EFAULT;
  return 0;
}

void GuestCpuid::apply_runtime(CpuidEntry *entries, u32 n) const {
  if (CpuidEntry *e = const_cast<CpuidEntry *>(find_cpuid_entry(entries, n, 1, kAnyIndex))) {
    if (sup_->host_xsave)
      change(&e->ecx, c::features_ecx::kOsxsave, cr4_ & cr4::kOsxsave);
    change(&e->edx, c::features_edx::kApic, apic_base_ & ia32::msr::apic_base::kEnable);
  }
  if (CpuidEntry *e = const_cast<CpuidEntry *>(find_cpuid_entry(entries, n, 7, 0)))
    if (sup_->host_pku)
      change(&e->ecx, c::leaf7_ecx::kOspke, cr4_ & cr4::kPke);
  if (CpuidEntry *e = const_cast<CpuidEntry *>(find_cpuid_entry(entries, n, 0xd, 0)))
    e->ebx = xstate_required_size(*sup_, xcr0_, false);
  if (CpuidEntry *e = const_cast<CpuidEntry *>(find_cpuid_entry(entries, n, 0xd, 1)))
    if (e->eax & (c::leafd_1_eax::kXsaves | c::leafd_1_eax::kXsavec))
      e->ebx = xstate_required_size(*sup_, xcr0_, true);
}

void GuestCpuid::after_set() {
  maxphyaddr_ = 36;
  const CpuidEntry *e = find(0x80000000, kAnyIndex);
  if (e && e->eax >= 0x80000008)
    if (const CpuidEntry *e8 = find(0x80000008, kAnyIndex))
      maxphyaddr_ = e8->eax & 0xff;
  if (maxphyaddr_ > 63)
    maxphyaddr_ = 63;  // keeps reserved_gpa_bits() a defined shift

  cr4_reserved_ = cr4_reserved_bits_for(entries_.begin(), nent()) | sup_->cr4_reserved;

  namespace efer = ia32::msr::efer;
  efer_reserved_ = ~sup_->efer;
  if (!has(c::feature::kLm))
    efer_reserved_ |= efer::kLme | efer::kLma;
  if (!has(c::feature::kNx))
    efer_reserved_ |= efer::kNxe;

  u64 guest_xcr0 = 0;
  if (const CpuidEntry *d = find(0xd, 0))
    guest_xcr0 = d->eax | static_cast<u64>(d->edx) << 32;
  // XSETBV always accepts x87 (KVM: guest_supported_xcr0 | XFEATURE_MASK_FP).
  xcr0_supported_ = (guest_xcr0 & sup_->xcr0) | c::xcr0::kX87;
}

bool GuestCpuid::has(const c::Feature &f) const { return table_has(entries_.begin(), nent(), f); }

bool GuestCpuid::vendor_is_amd_like() const {
  const CpuidEntry *e = find(0, kAnyIndex);
  if (!e)
    return false;
  auto is = [e](const char *v) {
    return e->ebx == chars4(v) && e->edx == chars4(v + 4) && e->ecx == chars4(v + 8);
  };
  return is("AuthenticAMD") || is("AMDisbetter!") || is("HygonGenuine");
}

c::Regs GuestCpuid::lookup(u32 leaf, u32 subleaf, bool *exact) const {
  u32 function = leaf;
  const CpuidEntry *e = find(function, subleaf);
  if (exact)
    *exact = e != nullptr;
  if (!e && !vendor_is_amd_like()) {
    // SDM vol. 2A CPUID: a leaf above its class's maximum returns the data
    // of the highest basic leaf (ECX still applies). Classes, each with its
    // maximum in EAX of its first leaf: basic (0 and 50000000H-7FFFFFFFH),
    // hypervisor (one per 100H block), extended, Centaur (C0000000H-).
    const CpuidEntry *basic = find(0, kAnyIndex);
    if (basic) {
      const CpuidEntry *cls;
      if (function >= 0x40000000 && function <= 0x4fffffff)
        cls = find(function & 0xffffff00, kAnyIndex);
      else if (function >= 0xc0000000)
        cls = find(0xc0000000, kAnyIndex);
      else
        cls = find(function & 0x80000000, kAnyIndex);
      if (!cls || function > cls->eax) {
        function = basic->eax;
        e = find(function, subleaf);
      }
    }
  }
  c::Regs r{};
  if (e) {
    r = {e->eax, e->ebx, e->ecx, e->edx};
  } else if (function == 0xb || function == 0x1f) {
    // Extended topology: ECX[7:0] echoes the subleaf and EDX is the x2APIC
    // ID for every subleaf, valid or not, once the leaf exists (subleaf 1).
    if (const CpuidEntry *s1 = find(function, 1)) {
      r.ecx = subleaf & 0xff;
      r.edx = s1->edx;
    }
  }
  return r;
}

void GuestCpuid::set_cr4(u64 cr4) {
  cr4_ = cr4;
  apply_runtime(entries_.begin(), nent());
}

void GuestCpuid::set_apic_base(u64 apic_base) {
  apic_base_ = apic_base;
  apply_runtime(entries_.begin(), nent());
}

void GuestCpuid::set_xcr0(u64 xcr0) {
  xcr0_ = xcr0;
  apply_runtime(entries_.begin(), nent());
}

}  // namespace mk::x86
