// SPDX-License-Identifier: GPL-2.0
// APICv decisions of the VMX backend (core/vmx/apicv.h): capabilities from
// the MSRs, the per-vCPU mode matrix, the controls and the x2APIC MSR
// bitmap (SDM vol. 3C chapter 29, 24.6.9).
#include <gtest/gtest.h>

#include <map>

#include "core/vmx/apicv.h"
#include "core/vmx/capabilities.h"
#include "user_platform.h"

namespace v = ia32::vmx;
using mk::u32;
using mk::u64;
using mk::u8;
using mk::vmx::ApicvCaps;
using mk::vmx::ApicvInputs;
using mk::vmx::ApicvMode;

namespace {

std::map<u32, u64> g_msrs;

int fake_rdmsr(u32 msr, u64 *value) {
  auto it = g_msrs.find(msr);
  if (it == g_msrs.end())
    return -5;
  *value = it->second;
  return 0;
}

mk::vmx::Capabilities skylake_caps(void (*edit)(std::map<u32, u64> &) = nullptr) {
  g_msrs.clear();
  for (auto &[msr, value] : mk::user::SimMachine::skylake_vmx_msrs())
    g_msrs[msr] = value;
  if (edit)
    edit(g_msrs);
  mk::vmx::Capabilities c;
  EXPECT_EQ(mk::vmx::read_capabilities(fake_rdmsr, &c), 0);
  return c;
}

ApicvCaps all_caps() {
  ApicvCaps c;
  c.tpr_shadow = c.apic_accesses = c.x2apic_mode = c.register_virt = c.intr_delivery = c.posted_intr =
      c.msr_bitmaps = true;
  return c;
}

constexpr u64 kEn = 1ull << 11, kExtd = 1ull << 10, kBsp = 1ull << 8;

ApicvInputs inputs(u64 base, bool apicv = true, bool flex = true) {
  ApicvInputs in;
  in.lapic = true;
  in.enable_apicv = apicv;
  in.flexpriority = flex;
  in.apic_base = base;
  return in;
}

TEST(VmxApicv, WithPostedInterrupts) {
  // The simulated machine's pin controls stop at bit 6; allow bit 7.
  ApicvCaps c = mk::vmx::apicv_caps(skylake_caps([](std::map<u32, u64> &m) {
    m[0x481] |= 1ull << (32 + 7);
    m[0x48d] |= 1ull << (32 + 7);
  }));
  EXPECT_TRUE(c.tpr_shadow);
  EXPECT_TRUE(c.apic_accesses);
  EXPECT_TRUE(c.x2apic_mode);
  EXPECT_TRUE(c.register_virt);
  EXPECT_TRUE(c.intr_delivery);
  EXPECT_TRUE(c.posted_intr);
  EXPECT_TRUE(c.flexpriority());
  EXPECT_TRUE(c.apicv());
}

TEST(VmxApicv, NoPostedInterruptsStillApicv) {
  // As Bochs: APICv without posted-interrupt processing (pin bit 7 allowed-1
  // clear, as in the simulated machine's MSRs).
  ApicvCaps c = mk::vmx::apicv_caps(skylake_caps());
  EXPECT_TRUE(c.tpr_shadow && c.apic_accesses && c.x2apic_mode && c.register_virt && c.intr_delivery);
  EXPECT_FALSE(c.posted_intr);
  EXPECT_TRUE(c.apicv());
  ApicvMode m = mk::vmx::apicv_mode(c, inputs(mk::vmx::kApicDefaultBase | kEn | kBsp));
  EXPECT_TRUE(m.apicv);
  EXPECT_FALSE(m.posted);
}

TEST(VmxApicv, NoSecondaryBitsNoApicv) {
  ApicvCaps c = mk::vmx::apicv_caps(skylake_caps([](std::map<u32, u64> &m) {
    m[0x48b] &= ~((u64)(v::proc2::kVirtualInterruptDelivery | v::proc2::kVirtualizeApicAccesses) << 32);
  }));
  EXPECT_TRUE(c.tpr_shadow);
  EXPECT_FALSE(c.apic_accesses);
  EXPECT_FALSE(c.apicv());
  EXPECT_FALSE(c.posted_intr) << "posted interrupts need virtual-interrupt delivery";
}

TEST(VmxApicv, ModeMatrix) {
  const ApicvCaps c = all_caps();
  const u64 xapic = mk::vmx::kApicDefaultBase | kEn | kBsp;
  // No in-kernel LAPIC: nothing.
  ApicvInputs none = inputs(xapic);
  none.lapic = false;
  EXPECT_EQ(mk::vmx::apicv_mode(c, none), ApicvMode{});
  // xAPIC at the default base: everything but x2APIC virtualization.
  ApicvMode m = mk::vmx::apicv_mode(c, inputs(xapic));
  EXPECT_TRUE(m.tpr_shadow && m.apic_accesses && m.apicv && m.posted);
  EXPECT_FALSE(m.x2apic_virt);
  // enable_apicv=0: flexpriority only.
  m = mk::vmx::apicv_mode(c, inputs(xapic, false));
  EXPECT_TRUE(m.tpr_shadow && m.apic_accesses);
  EXPECT_FALSE(m.apicv || m.posted);
  // flexpriority=0: the TPR shadow stays (KVM), APIC accesses exit as MMIO.
  m = mk::vmx::apicv_mode(c, inputs(xapic, true, false));
  EXPECT_TRUE(m.tpr_shadow && m.apicv);
  EXPECT_FALSE(m.apic_accesses);
  // x2APIC: MSR virtualization instead of APIC accesses (SDM 26.2.1.1).
  m = mk::vmx::apicv_mode(c, inputs(xapic | kExtd));
  EXPECT_TRUE(m.x2apic_virt && m.apicv);
  EXPECT_FALSE(m.apic_accesses);
  m = mk::vmx::apicv_mode(c, inputs(xapic | kExtd, false));
  EXPECT_TRUE(m.x2apic_virt) << "TPR passthrough without APICv (KVM)";
  EXPECT_FALSE(m.apicv);
  // Relocated xAPIC base: inhibited, the MMIO path.
  m = mk::vmx::apicv_mode(c, inputs(0xfed00000 | kEn | kBsp));
  EXPECT_TRUE(m.tpr_shadow);
  EXPECT_FALSE(m.apic_accesses || m.apicv || m.posted);
  // Hardware-disabled: inhibited.
  m = mk::vmx::apicv_mode(c, inputs(mk::vmx::kApicDefaultBase | kBsp));
  EXPECT_TRUE(m.tpr_shadow);
  EXPECT_FALSE(m.apic_accesses || m.apicv || m.x2apic_virt);
  // x2APIC without x2APIC virtualization: inhibited.
  ApicvCaps nox2 = c;
  nox2.x2apic_mode = false;
  m = mk::vmx::apicv_mode(nox2, inputs(xapic | kExtd));
  EXPECT_FALSE(m.apicv || m.x2apic_virt);
}

TEST(VmxApicv, Controls) {
  const u32 base_proc = v::proc::kHltExiting | v::proc::kCr8LoadExiting | v::proc::kCr8StoreExiting;
  u32 pin = 0, proc = base_proc, proc2 = v::proc2::kEnableEpt;
  mk::vmx::apicv_controls(ApicvMode{}, &pin, &proc, &proc2);
  EXPECT_EQ(proc, base_proc);
  EXPECT_EQ(proc2, v::proc2::kEnableEpt);
  EXPECT_EQ(pin, 0u);

  ApicvMode m;
  m.tpr_shadow = m.apic_accesses = m.apicv = m.posted = true;
  mk::vmx::apicv_controls(m, &pin, &proc, &proc2);
  EXPECT_EQ(proc, v::proc::kHltExiting | v::proc::kUseTprShadow) << "CR8 exiting off";
  EXPECT_EQ(proc2, v::proc2::kEnableEpt | v::proc2::kVirtualizeApicAccesses | v::proc2::kApicRegisterVirtualization |
                       v::proc2::kVirtualInterruptDelivery);
  EXPECT_EQ(pin, v::pin::kPostedInterrupts);

  m = ApicvMode{};
  m.tpr_shadow = m.x2apic_virt = m.apicv = true;
  mk::vmx::apicv_controls(m, &pin, &proc, &proc2);
  EXPECT_EQ(proc, v::proc::kHltExiting | v::proc::kUseTprShadow | v::proc::kUseMsrBitmaps);
  EXPECT_EQ(proc2, v::proc2::kEnableEpt | v::proc2::kVirtualizeX2apicMode | v::proc2::kApicRegisterVirtualization |
                       v::proc2::kVirtualInterruptDelivery);
  EXPECT_EQ(pin, 0u);

  // Back to nothing: every bit this code owns is cleared again.
  mk::vmx::apicv_controls(ApicvMode{}, &pin, &proc, &proc2);
  EXPECT_EQ(proc, base_proc);
  EXPECT_EQ(proc2, v::proc2::kEnableEpt);
}

TEST(VmxApicv, MsrBitmap) {
  static u8 bm[4096];
  mk::vmx::fill_msr_bitmap(bm, false);
  EXPECT_TRUE(mk::vmx::msr_passes(bm, 0x808, false));
  EXPECT_TRUE(mk::vmx::msr_passes(bm, 0x808, true));
  for (u32 msr : {0x10u, 0x1bu, 0x174u, 0x802u, 0x80bu, 0x830u, 0x83fu, 0x6e0u, 0xc0000080u, 0xc0000102u}) {
    EXPECT_FALSE(mk::vmx::msr_passes(bm, msr, false)) << std::hex << msr;
    EXPECT_FALSE(mk::vmx::msr_passes(bm, msr, true)) << std::hex << msr;
  }
  int passing = 0;
  for (u32 i = 0; i < 4096; i++)
    passing += __builtin_popcount(static_cast<u8>(~bm[i]));
  EXPECT_EQ(passing, 2) << "TPR read and write only";

  mk::vmx::fill_msr_bitmap(bm, true);
  for (u32 msr : {0x802u, 0x803u, 0x808u, 0x80au, 0x80du, 0x80fu, 0x810u, 0x817u, 0x818u, 0x820u, 0x827u, 0x828u,
                  0x832u, 0x837u, 0x838u, 0x83eu})
    EXPECT_TRUE(mk::vmx::msr_passes(bm, msr, false)) << std::hex << msr;
  for (u32 msr : {0x800u, 0x809u, 0x80bu, 0x80cu, 0x80eu, 0x829u, 0x82fu, 0x830u, 0x831u, 0x839u, 0x83fu, 0x8ffu})
    EXPECT_FALSE(mk::vmx::msr_passes(bm, msr, false)) << std::hex << msr;
  for (u32 msr : {0x808u, 0x80bu, 0x83fu})
    EXPECT_TRUE(mk::vmx::msr_passes(bm, msr, true)) << std::hex << msr;
  for (u32 msr = 0x800; msr <= 0x8ff; msr++) {
    if (msr != 0x808 && msr != 0x80b && msr != 0x83f) {
      EXPECT_FALSE(mk::vmx::msr_passes(bm, msr, true)) << std::hex << msr;
    }
  }
  EXPECT_FALSE(mk::vmx::msr_passes(bm, 0x1b, true));
  EXPECT_FALSE(mk::vmx::msr_passes(bm, 0xc0000080, false));
  passing = 0;
  for (u32 i = 0; i < 4096; i++)
    passing += __builtin_popcount(static_cast<u8>(~bm[i]));
  EXPECT_EQ(passing, 39 + 3) << "39 readable registers (ISR/TMR/IRR 24 of them), 3 writes";
}

}  // namespace

// ---- the VM's APIC-access page in its EPT (core/mmu/guest_mmu.h) ----

#include <linux/kvm.h>
#include <minikvm/platform.h>

#include "core/mmu/guest_mmu.h"

namespace {

struct NopFlusher : mk::mmu::TlbFlusher {
  int flushes = 0;
  void flush_guest_mappings() override { flushes++; }
};

TEST(VmxApicv, ApicAccessPageMappedWhereNoSlotIsAndNeverUnpinned) {
  mk::user::reset_pins();
  const long pins0 = mk::user::live_pins();
  const long pages0 = mk_alloc_live();
  {
    NopFlusher fl;
    mk::mmu::GuestMmu mmu(39, true, fl);
    ASSERT_EQ(mmu.init(), 0);
    const u64 gpa = mk::vmx::kApicDefaultBase;
    mk::mmu::EptFault f;
    // Before the page exists: MMIO, as ever.
    ASSERT_EQ(mmu.handle_ept_violation(gpa + 0x80, 2, &f), 0);
    EXPECT_EQ(f, mk::mmu::EptFault::kMmio);
    const u64 hpa = mmu.apic_access_page(gpa);
    ASSERT_NE(hpa, 0u);
    EXPECT_EQ(mmu.apic_access_page(gpa), hpa) << "one page per VM";
    ASSERT_EQ(mmu.handle_ept_violation(gpa + 0x80, 2, &f), 0);
    EXPECT_EQ(f, mk::mmu::EptFault::kMapped);
    EXPECT_EQ(mmu.ept().leaf(gpa) & ~0xfffull, hpa);
    EXPECT_EQ(mk::user::live_pins(), pins0) << "not a pinned user page";
    // Other addresses without a slot stay MMIO.
    ASSERT_EQ(mmu.handle_ept_violation(gpa + 0x1000, 2, &f), 0);
    EXPECT_EQ(f, mk::mmu::EptFault::kMmio);
    // A slot created over it hides it: its own page maps there next.
    static u8 mem[2 * 4096] __attribute__((aligned(4096)));
    kvm_userspace_memory_region r{};
    r.slot = 1;
    r.guest_phys_addr = gpa;
    r.memory_size = 4096;
    r.userspace_addr = reinterpret_cast<u64>(mem);
    bool flushed = false;
    ASSERT_EQ(mmu.set_memory_region(r, &flushed), 0);
    EXPECT_TRUE(flushed);
    EXPECT_EQ(mmu.ept().leaf(gpa), 0u);
    EXPECT_EQ(mk::user::live_pins(), pins0) << "dropping it unpins nothing";
    ASSERT_EQ(mmu.handle_ept_violation(gpa, 1, &f), 0);
    EXPECT_EQ(f, mk::mmu::EptFault::kMapped);
    EXPECT_NE(mmu.ept().leaf(gpa) & ~0xfffull, hpa);
    // Deleted again: the APIC-access page comes back.
    r.memory_size = 0;
    ASSERT_EQ(mmu.set_memory_region(r), 0);
    ASSERT_EQ(mmu.handle_ept_violation(gpa, 1, &f), 0);
    EXPECT_EQ(mmu.ept().leaf(gpa) & ~0xfffull, hpa);
  }
  EXPECT_EQ(mk::user::live_pins(), pins0);
  EXPECT_EQ(mk_alloc_live(), pages0) << "the page is freed with the GuestMmu";
}

}  // namespace
