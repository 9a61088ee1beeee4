// SPDX-License-Identifier: GPL-2.0
#include "apicv.h"

#include <minikvm/trace.h>

namespace mk::vmx {

namespace v = ia32::vmx;

ApicvMode apicv_mode(const ApicvCaps &caps, const ApicvInputs &in) {
  ApicvMode m;
  if (!in.lapic || !caps.tpr_shadow)
    return m;  // SDM 26.2.1.1: everything else needs the TPR shadow
  m.tpr_shadow = true;
  constexpr u64 kEn = 1ull << 11, kExtd = 1ull << 10;
  const bool enabled = in.apic_base & kEn;
  const bool x2apic = enabled && (in.apic_base & kExtd);
  const bool default_base = (in.apic_base & ~0xfffull) == kApicDefaultBase;
  // KVM's vmx_set_virtual_apic_mode: a disabled APIC virtualizes nothing;
  // accesses to a relocated xAPIC page take the EPT-violation MMIO path.
  m.apic_accesses = enabled && !x2apic && default_base && in.flexpriority && caps.apic_accesses;
  m.x2apic_virt = x2apic && caps.x2apic_mode;
  // APICv inhibited while the APIC is disabled or relocated (KVM's
  // APICV_INHIBIT_REASON_APIC_BASE_MODIFIED), or in x2APIC mode the CPU
  // cannot virtualize (its MSRs would bypass the virtual-APIC page).
  m.apicv = in.enable_apicv && caps.apicv() && enabled && (x2apic ? m.x2apic_virt : default_base);
  m.posted = m.apicv && caps.posted_intr;
  return m;
}

ApicvTrace apicv_trace(const ApicvCaps &caps, const ApicvInputs &in, const ApicvMode &m) {
  constexpr u64 kEn = 1ull << 11, kExtd = 1ull << 10;
  const bool enabled = in.apic_base & kEn;
  const bool x2apic = enabled && (in.apic_base & kExtd);
  ApicvTrace t;
  if (m.apicv) {
    t.mode = x2apic ? MINIKVM_APICV_X2APIC : MINIKVM_APICV_XAPIC;
    return t;
  }
  t.mode = m.tpr_shadow ? MINIKVM_APICV_TPR_ONLY : MINIKVM_APICV_OFF;
  if (!in.enable_apicv || !caps.apicv())
    t.inhibit |= MINIKVM_APICV_INHIBIT_PARAM;
  if (!in.lapic)
    t.inhibit |= MINIKVM_APICV_INHIBIT_NO_IRQCHIP;
  if (in.lapic && !enabled)
    t.inhibit |= MINIKVM_APICV_INHIBIT_DISABLED;
  if (in.lapic && enabled && !x2apic && (in.apic_base & ~0xfffull) != kApicDefaultBase)
    t.inhibit |= MINIKVM_APICV_INHIBIT_RELOCATED;
  // What is left: x2APIC mode on a CPU that cannot virtualize it, a CPU
  // limit like the parameter's.
  if (!t.inhibit)
    t.inhibit = MINIKVM_APICV_INHIBIT_PARAM;
  return t;
}

void apicv_controls(const ApicvMode &m, u32 *pin, u32 *proc, u32 *proc2) {
  constexpr u32 kProcBits = v::proc::kUseTprShadow | v::proc::kCr8LoadExiting | v::proc::kCr8StoreExiting |
                            v::proc::kUseMsrBitmaps;
  constexpr u32 kProc2Bits = v::proc2::kVirtualizeApicAccesses | v::proc2::kVirtualizeX2apicMode |
                             v::proc2::kApicRegisterVirtualization | v::proc2::kVirtualInterruptDelivery;
  *pin &= ~v::pin::kPostedInterrupts;
  *proc &= ~kProcBits;
  *proc2 &= ~kProc2Bits;
  if (m.posted)
    *pin |= v::pin::kPostedInterrupts;
  // With the TPR shadow MOV CR8 reads/writes VTPR (29.3); without it CR8
  // must exit or it would reach the host's own APIC.
  *proc |= m.tpr_shadow ? v::proc::kUseTprShadow : (v::proc::kCr8LoadExiting | v::proc::kCr8StoreExiting);
  if (m.x2apic_virt)
    *proc |= v::proc::kUseMsrBitmaps;
  if (m.apic_accesses)
    *proc2 |= v::proc2::kVirtualizeApicAccesses;
  if (m.x2apic_virt)
    *proc2 |= v::proc2::kVirtualizeX2apicMode;
  if (m.apicv)
    *proc2 |= v::proc2::kApicRegisterVirtualization | v::proc2::kVirtualInterruptDelivery;
}

namespace {

void clear_bit(u8 *bitmap, u32 base, u32 msr) { bitmap[base + (msr >> 3)] &= static_cast<u8>(~(1u << (msr & 7))); }

// x2APIC registers RDMSR may read (SDM vol. 3A table 10-6) whose value is
// the page's 32 bits: ID, version, TPR, PPR, LDR, SVR, ISR, TMR, IRR, ESR,
// LVT timer..error, initial count, divide configuration.
bool page_readable(u32 reg) {
  return reg == 0x02 || reg == 0x03 || reg == 0x08 || reg == 0x0a || reg == 0x0d || reg == 0x0f ||
         (reg >= 0x10 && reg <= 0x28) || (reg >= 0x32 && reg <= 0x38) || reg == 0x3e;
}

}  // namespace

void fill_msr_bitmap(u8 *bitmap, bool apicv) {
  for (u32 i = 0; i < 4096; i++)
    bitmap[i] = 0xff;
  constexpr u32 kReadLow = 0, kWriteLow = 0x800;
  clear_bit(bitmap, kReadLow, 0x808);
  clear_bit(bitmap, kWriteLow, 0x808);
  if (!apicv)
    return;
  for (u32 reg = 0; reg < 0x100; reg++)
    if (page_readable(reg))
      clear_bit(bitmap, kReadLow, 0x800 + reg);
  clear_bit(bitmap, kWriteLow, 0x80b);
  clear_bit(bitmap, kWriteLow, 0x83f);
}

bool msr_passes(const u8 *bitmap, u32 msr, bool write) {
  u32 base = write ? 0x800 : 0;
  if (msr >= 0xc0000000 && msr <= 0xc0001fff) {
    base += 0x400;
    msr -= 0xc0000000;
  } else if (msr > 0x1fff) {
    return false;  // outside both ranges: always exits (24.6.9)
  }
  return !(bitmap[base + (msr >> 3)] & (1u << (msr & 7)));
}

}  // namespace mk::vmx
