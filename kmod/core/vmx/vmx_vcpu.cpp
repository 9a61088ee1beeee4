// SPDX-License-Identifier: GPL-2.0
// The VMX backend of a vCPU: its VMCS (SDM vol. 3C ch. 24), guest entry
// (ch. 26), and the decoding of VM exits (ch. 27) into the generic vCPU's
// emulation calls.
#include <minikvm/platform.h>

#include "../../ia32/vmx.h"
#include "../../ia32/vmx_insn.h"
#include "../rt/errno.h"
#include "../rt/log.h"
#include "../rt/new.h"
#include "../irq/posted.h"
#include "../vcpu.h"
#include "../vm.h"
#include "apicv.h"
#include "host.h"

namespace mk {

namespace {

namespace v = ia32::vmx;
namespace insn = ia32::vmx::insn;
using F = v::Field;
using E = v::ExitReason;

constexpr u64 kCr0Pe = 1ull << 0, kCr0Et = 1ull << 4, kCr0Ne = 1ull << 5, kCr0Nw = 1ull << 29,
              kCr0Cd = 1ull << 30, kCr0Pg = 1ull << 31;
constexpr u64 kCr4Pae = 1ull << 5, kCr4Smep = 1ull << 20, kCr4Smap = 1ull << 21, kCr4Pke = 1ull << 22;
constexpr u64 kEferLme = 1ull << 8, kEferLma = 1ull << 10;
constexpr u64 kRflagsIf = 1ull << 9;

// Interruption information (SDM 24.8.3, 24.9.2).
constexpr u32 kIntrValid = 1u << 31, kIntrHasError = 1u << 11, kIntrNmiUnblock = 1u << 12;
constexpr u8 kTypeExt = 0, kTypeNmi = 2, kTypeHwExc = 3, kTypeSoftInt = 4, kTypePrivSoftExc = 5,
             kTypeSoftExc = 6;

// Guest interruptibility (SDM 24.4.2 table 24-3).
// minikvm_exit's reason for a VMfailValid VMLAUNCH/VMRESUME (VmxVcpu::trace_exit).
constexpr u32 kTraceVmFail = (1u << 31) | 0xffff;
constexpr u32 kBlockSti = 1u << 0, kBlockMovSs = 1u << 1, kBlockNmi = 1u << 3;

inline u64 rd(F f) { return insn::vmread(f); }
inline void wr(F f, u64 val) { insn::vmwrite(f, val); }

struct SegFields {
  F sel, base, limit, ar;
};
constexpr SegFields kSeg[] = {
    {F::kGuestEsSelector, F::kGuestEsBase, F::kGuestEsLimit, F::kGuestEsAccessRights},
    {F::kGuestCsSelector, F::kGuestCsBase, F::kGuestCsLimit, F::kGuestCsAccessRights},
    {F::kGuestSsSelector, F::kGuestSsBase, F::kGuestSsLimit, F::kGuestSsAccessRights},
    {F::kGuestDsSelector, F::kGuestDsBase, F::kGuestDsLimit, F::kGuestDsAccessRights},
    {F::kGuestFsSelector, F::kGuestFsBase, F::kGuestFsLimit, F::kGuestFsAccessRights},
    {F::kGuestGsSelector, F::kGuestGsBase, F::kGuestGsLimit, F::kGuestGsAccessRights},
    {F::kGuestTrSelector, F::kGuestTrBase, F::kGuestTrLimit, F::kGuestTrAccessRights},
    {F::kGuestLdtrSelector, F::kGuestLdtrBase, F::kGuestLdtrLimit, F::kGuestLdtrAccessRights},
};

// Segment access rights (SDM 24.4.1 table 24-2) <-> struct kvm_segment.
u32 to_ar(const kvm_segment &s) {
  if (s.unusable || !s.present)
    return 1u << 16;
  return (s.type & 15) | (s.s & 1) << 4 | (s.dpl & 3) << 5 | 1u << 7 | (s.avl & 1) << 12 | (s.l & 1) << 13 |
         (s.db & 1) << 14 | (s.g & 1) << 15;
}

void from_ar(u32 ar, kvm_segment *s) {
  s->unusable = (ar >> 16) & 1;
  s->type = ar & 15;
  s->s = (ar >> 4) & 1;
  s->dpl = (ar >> 5) & 3;
  // As KVM: an unusable segment reads as not present, since userspace
  // round-trips "present" and a usable VMX segment must be present.
  s->present = !s->unusable;
  s->avl = (ar >> 12) & 1;
  s->l = (ar >> 13) & 1;
  s->db = (ar >> 14) & 1;
  s->g = (ar >> 15) & 1;
  s->padding = 0;
}

class VmxVcpu final : public VcpuBackend {
 public:
  explicit VmxVcpu(Vcpu *vcpu) : vcpu_(vcpu) {}
  ~VmxVcpu() override;
  int init();

  void load(int cpu) override;
  void put() override;
  int run_once() override;

  u64 rip() override { return rd(F::kGuestRip); }
  void set_rip(u64 val) override { wr(F::kGuestRip, val); }
  u64 rsp() override { return rd(F::kGuestRsp); }
  void set_rsp(u64 val) override { wr(F::kGuestRsp, val); }
  u64 rflags() override { return rd(F::kGuestRflags); }
  void set_rflags(u64 val) override { wr(F::kGuestRflags, val | 2); }  // bit 1 is fixed to 1
  void get_segment(SegReg s, kvm_segment *out) override;
  void get_sregs(kvm_sregs *out) override;
  int set_sregs(const kvm_sregs &in) override;
  u64 cr0() override { return cr0_; }
  u64 cr4() override { return cr4_; }
  u64 efer() override { return efer_; }
  int set_efer(u64 val, bool host) override;
  int get_vmcs_msr(u32 index, u64 *value) override;
  int set_vmcs_msr(u32 index, u64 value) override;
  u32 interrupt_shadow() override { return rd(F::kGuestInterruptibility) & (kBlockSti | kBlockMovSs); }
  void set_interrupt_shadow(u32 sh) override {
    u32 i = rd(F::kGuestInterruptibility);
    wr(F::kGuestInterruptibility, (i & ~(kBlockSti | kBlockMovSs)) | (sh & (kBlockSti | kBlockMovSs)));
  }
  bool nmi_masked() override { return rd(F::kGuestInterruptibility) & kBlockNmi; }
  void set_nmi_masked(bool m) override {
    u32 i = rd(F::kGuestInterruptibility);
    wr(F::kGuestInterruptibility, m ? (i | kBlockNmi) : (i & ~kBlockNmi));
  }
  int cpl() override { return (rd(F::kGuestSsAccessRights) >> 5) & 3; }
  void get_pdptes(u64 out[4]) override {
    out[0] = rd(F::kGuestPdpte0);
    out[1] = rd(F::kGuestPdpte1);
    out[2] = rd(F::kGuestPdpte2);
    out[3] = rd(F::kGuestPdpte3);
  }
  bool long_mode_active() override { return efer_ & kEferLma; }
  void reset_registers() override { reset_state(); }
  bool interrupt_allowed() override {
    return (rd(F::kGuestRflags) & kRflagsIf) && !(rd(F::kGuestInterruptibility) & (kBlockSti | kBlockMovSs));
  }
  bool nmi_allowed() override { return !(rd(F::kGuestInterruptibility) & (kBlockSti | kBlockMovSs | kBlockNmi)); }
  void request_windows(bool irq, bool nmi) override;
  u64 pi_desc_pa() const override { return __atomic_load_n(&pi_desc_pa_, __ATOMIC_ACQUIRE); }
  bool hw_posted_intr() const override { return __atomic_load_n(&hw_posted_, __ATOMIC_ACQUIRE); }

  // CR writes as the guest's MOV CR / CLTS / LMSW do them: 0 or 1 (#GP).
  int guest_set_cr0(u64 val);
  int guest_set_cr4(u64 val);

 private:
  void reset_state();
  void write_host_state();
  void write_cr0(u64 val);
  void write_cr4(u64 val);
  void update_entry_controls();
  bool load_pdptrs(u64 cr3);
  bool pae_paging() const { return (cr0_ & kCr0Pg) && (cr4_ & kCr4Pae) && !(efer_ & kEferLma); }
  void inject_pending();
  u32 proc_ = 0;  // primary processor-based controls as last written
  void record_vectoring(u32 info, u32 error, u32 len);
  int handle_exit(u32 reason);
  int handle_exception(u32 intr_info);
  int handle_cr(u64 qual);
  int handle_dr(u64 qual);
  int handle_io(u64 qual);
  int handle_ept_violation(u64 qual);
  int handle_apic_access(u64 qual);
  // APICv (apicv.h): set up at init, the mode recomputed before each entry
  // when the APIC base changed, the per-entry state written with
  // interrupts off.
  int init_apicv();
  void update_apicv();
  void refresh_apicv() override { update_apicv(); }
  void apicv_before_entry();
  int internal_error(u32 suberror, u32 reason);
  void trace_exit(int vmfail, u32 reason);
  u64 read_gpr(u32 reg);
  void write_gpr(u32 reg, u64 val);
  bool is_64bit_mode() { return (efer_ & kEferLma) && (rd(F::kGuestCsAccessRights) & (1u << 13)); }

  Vcpu *vcpu_;
  vmx::Host *host_ = vmx::Host::get();
  vmx::Vmcs vmcs_;
  u16 vpid_ = 0;
  int cpu_ = -1;
  bool need_flush_ = false;
  bool entered_ = false;      // host state to restore at put()
  bool guest_msrs_ = false;   // guest SYSCALL MSRs loaded in the CPU
  mk_host_state hs_{};
  u64 host_star_ = 0, host_lstar_ = 0, host_cstar_ = 0, host_sfmask_ = 0;
  u64 cr0_ = 0, cr4_ = 0, efer_ = 0;
  u32 entry_ctls_ = 0;
  u64 host_xcr0_ = 0;
  // APICv.
  vmx::ApicvCaps acaps_{};
  bool param_apicv_ = false, param_flexpriority_ = false, stale_vectoring_quirk_ = false;
  vmx::ApicvMode amode_{};
  u64 amode_base_ = ~0ull;     // the APIC base amode_ was computed for (~0: none yet)
  u32 eoi_gen_ = 0;            // Vm::eoi_exit_generation() loaded in the VMCS
  bool eoi_loaded_ = false;
  irq::PostedIntr *pi_ = nullptr;
  u8 *msr_bitmap_ = nullptr;   // x2APIC mode: TPR only
  u64 msr_bitmap_pa_ = 0;
  u8 *msr_bitmap_apicv_ = nullptr;  // x2APIC mode with APICv
  u64 msr_bitmap_apicv_pa_ = 0;
  u64 apic_access_pa_ = 0;
  u64 pi_desc_pa_ = 0;         // atomic: pi_desc_pa()
  bool hw_posted_ = false;     // atomic: hw_posted_intr()
  bool injected_any_ = false;  // the last entry injected an event
  u32 svi_entry_ = 0;          // SVI as the last entry loaded it
};

VmxVcpu::~VmxVcpu() {
  host_->free_vmcs(&vmcs_);
  host_->free_vpid(vpid_);
  delete pi_;
  if (msr_bitmap_)
    mk_page_free(msr_bitmap_);
  if (msr_bitmap_apicv_)
    mk_page_free(msr_bitmap_apicv_);
}

int VmxVcpu::init() {
  int r = host_->alloc_vmcs(&vmcs_);
  if (r)
    return r;
  vpid_ = host_->alloc_vpid();
  // Set up the VMCS on this CPU; the vCPU thread loads it wherever it runs.
  mk_preempt_disable();
  load(mk_this_cpu());
  const vmx::ControlSet &c = host_->controls();
  entry_ctls_ = c.entry & ~v::entry_ctl::kIa32eModeGuest;
  wr(F::kPinBasedControls, c.pin);
  proc_ = c.proc;
  wr(F::kProcBasedControls, c.proc);
  wr(F::kProcBasedControls2, vpid_ ? c.proc2 : (c.proc2 & ~v::proc2::kEnableVpid));
  wr(F::kExitControls, c.exit);
  wr(F::kEntryControls, entry_ctls_);
  // #DB and #AC always exit: a guest can otherwise make the CPU deliver
  // them in an endless microcode loop (CVE-2015-5307, CVE-2015-8104);
  // #MC so that a machine check in guest mode is seen.
  wr(F::kExceptionBitmap, (1u << 1) | (1u << 17) | (1u << 18));
  wr(F::kPageFaultErrorCodeMask, 0);
  wr(F::kPageFaultErrorCodeMatch, 0);
  wr(F::kCr3TargetCount, 0);
  wr(F::kExitMsrStoreCount, 0);
  wr(F::kExitMsrLoadCount, 0);
  wr(F::kEntryMsrLoadCount, 0);
  wr(F::kEntryInterruptionInfo, 0);
  wr(F::kVmcsLinkPointer, ~0ull);  // SDM 26.3.1.5: no shadow VMCS
  if (vpid_)
    wr(F::kVpid, vpid_);
  wr(F::kEptPointer, vcpu_->vm()->mmu().eptp());
  // minikvm owns every CR0/CR4 bit: the guest reads the shadows, and each
  // write exits, so the fixed bits VMX imposes stay invisible to it.
  wr(F::kCr0GuestHostMask, ~0ull);
  wr(F::kCr4GuestHostMask, ~0ull);
  wr(F::kTscOffset, -vcpu_->host_tsc());  // the guest's TSC starts at 0
  reset_state();
  mk_preempt_enable();
  return init_apicv();
}

int VmxVcpu::init_apicv() {
  // kvm_intel reads its parameters at module load; minikvm per vCPU.
  acaps_ = vmx::apicv_caps(host_->caps());
  param_apicv_ = mk_param_enable_apicv();
  param_flexpriority_ = mk_param_flexpriority();
  stale_vectoring_quirk_ = mk_param_stale_vectoring_quirk();
  // The vCPU's LAPIC is created after its backend: the VM says whether it
  // will have one (KVM_CREATE_IRQCHIP before KVM_CREATE_VCPU).
  if (!vcpu_->vm()->irqchip_in_kernel() || !acaps_.tpr_shadow)
    return 0;
  if (param_flexpriority_ && acaps_.apic_accesses) {
    apic_access_pa_ = vcpu_->vm()->mmu().apic_access_page(vmx::kApicDefaultBase);
    if (!apic_access_pa_)
      return -ENOMEM;
  }
  if (acaps_.x2apic_mode) {
    msr_bitmap_ = static_cast<u8 *>(mk_page_alloc(&msr_bitmap_pa_));
    if (!msr_bitmap_)
      return -ENOMEM;
    vmx::fill_msr_bitmap(msr_bitmap_, false);
  }
  if (param_apicv_ && acaps_.apicv()) {
    pi_ = new (nothrow) irq::PostedIntr;
    if (!pi_ || pi_->init())
      return -ENOMEM;
    if (acaps_.x2apic_mode) {
      msr_bitmap_apicv_ = static_cast<u8 *>(mk_page_alloc(&msr_bitmap_apicv_pa_));
      if (!msr_bitmap_apicv_)
        return -ENOMEM;
      vmx::fill_msr_bitmap(msr_bitmap_apicv_, true);
    }
  }
  return 0;
}

void VmxVcpu::update_apicv() {
  // KVM's vmx_set_virtual_apic_mode + vmx_refresh_apicv_exec_ctrl, run when
  // IA32_APIC_BASE changed (guest WRMSR, KVM_SET_MSRS, reset): the APIC
  // base decides xAPIC/x2APIC/disabled and relocation.
  irq::Lapic *lapic = vcpu_->lapic();
  if (!lapic || !acaps_.tpr_shadow) {
    // Nothing to decide, ever: report the fixed answer once (the first run).
    if (amode_base_ == ~0ull) {
      amode_base_ = 0;
      if (mk_trace_on[MK_TP_APICV]) {
        vmx::ApicvInputs in;
        in.lapic = lapic;
        in.enable_apicv = param_apicv_;  // (no descriptor without a LAPIC: not a parameter matter)
        in.apic_base = lapic ? lapic->apic_base() : 0;
        vmx::ApicvTrace t = vmx::apicv_trace(acaps_, in, vmx::ApicvMode{});
        mk_trace_apicv(vcpu_->vm()->trace_id(), vcpu_->id(), 0, t.mode, t.inhibit);
      }
    }
    return;
  }
  u64 base = lapic->apic_base();
  if (base == amode_base_)
    return;
  amode_base_ = base;
  vmx::ApicvInputs in;
  in.lapic = true;
  in.enable_apicv = param_apicv_ && pi_;
  in.flexpriority = param_flexpriority_ && apic_access_pa_;
  in.apic_base = base;
  vmx::ApicvMode m = vmx::apicv_mode(acaps_, in);
  if (mk_trace_on[MK_TP_APICV]) {
    vmx::ApicvTrace t = vmx::apicv_trace(acaps_, in, m);
    mk_trace_apicv(vcpu_->vm()->trace_id(), vcpu_->id(), m.apicv, t.mode, t.inhibit);
  }
  // Converts the LAPIC's delivery: on, accepted fixed/lowest-priority
  // vectors go to PIR; off, PIR is drained into IRR first.
  if (m.apicv != amode_.apicv)
    lapic->set_apicv_active(m.apicv, pi_);
  __atomic_store_n(&pi_desc_pa_, m.apicv ? pi_->desc_pa() : 0, __ATOMIC_RELEASE);
  __atomic_store_n(&hw_posted_, m.posted, __ATOMIC_RELEASE);
  amode_ = m;
  u32 pin = static_cast<u32>(rd(F::kPinBasedControls));
  u32 proc = proc_;
  u32 proc2 = static_cast<u32>(rd(F::kProcBasedControls2));
  vmx::apicv_controls(m, &pin, &proc, &proc2);
  wr(F::kVirtualApicPageAddr, lapic->page_pa());
  if (m.apic_accesses)
    wr(F::kApicAccessAddr, apic_access_pa_);
  if (m.x2apic_virt)
    wr(F::kMsrBitmap, m.apicv ? msr_bitmap_apicv_pa_ : msr_bitmap_pa_);
  if (m.posted) {
    pi_->set_nv(mk_posted_intr_vector());
    pi_->set_ndst(mk_cpu_pi_ndst(cpu_));
    wr(F::kPostedIntrNotificationVector, mk_posted_intr_vector());
    wr(F::kPostedIntrDescAddr, pi_->desc_pa());
  }
  if (!m.apicv && acaps_.intr_delivery)  // the field exists with VID (SDM 24.4.2)
    wr(F::kGuestInterruptStatus, 0);
  wr(F::kTprThreshold, 0);
  eoi_loaded_ = false;
  wr(F::kPinBasedControls, pin);
  proc_ = proc;
  wr(F::kProcBasedControls, proc);
  wr(F::kProcBasedControls2, proc2);
}

void VmxVcpu::apicv_before_entry() {
  // Interrupts off, guest_cpu_ published (prepare_entry): a change after
  // this point kicks the vCPU out again.
  if (!amode_.tpr_shadow)
    return;
  irq::Lapic *lapic = vcpu_->lapic();
  if (amode_.apicv) {
    // SDM 29.1.1, 29.2.1: RVI = the highest IRR vector (PIR drained into
    // IRR first), SVI = the highest ISR vector; the CPU evaluates and
    // delivers from them (KVM's vmx_sync_pir_to_irr, vmx_hwapic_isr_update).
    int rvi = lapic->sync_pir_to_irr();
    int svi = lapic->highest_isr();
    svi_entry_ = svi < 0 ? 0 : svi;
    // minikvm_inject type VID: a vector becomes RVI. The field still holds
    // what the CPU left at the exit (it clears RVI's bit as it delivers,
    // SDM 29.2.2), so an unchanged pending vector is not reported twice.
    if (mk_trace_on[MK_TP_INJECT] && rvi >= 16 && static_cast<u32>(rvi) != (rd(F::kGuestInterruptStatus) & 0xff))
      mk_trace_inject(vcpu_->vm()->trace_id(), vcpu_->id(), static_cast<u8>(rvi), MINIKVM_INJ_VID, 0, 0, 0);
    wr(F::kGuestInterruptStatus, static_cast<u64>(rvi < 0 ? 0 : rvi) | static_cast<u64>(svi_entry_) << 8);
    // The EOI-exit bitmap (29.1.3): EOIs of these vectors exit (level-
    // triggered IOAPIC pins); KVM's vmx_load_eoi_exitmap.
    u32 gen = vcpu_->vm()->eoi_exit_generation();
    if (!eoi_loaded_ || gen != eoi_gen_) {
      u64 bm[4];
      vcpu_->vm()->eoi_exit_bitmap(bm);
      wr(F::kEoiExitBitmap0, bm[0]);
      wr(F::kEoiExitBitmap1, bm[1]);
      wr(F::kEoiExitBitmap2, bm[2]);
      wr(F::kEoiExitBitmap3, bm[3]);
      eoi_gen_ = gen;
      eoi_loaded_ = true;
    }
  } else {
    // TPR shadow alone (29.1.2): lowering VTPR below the threshold exits,
    // so a vector TPR masks is injected once TPR lets it (KVM's
    // update_cr8_intercept).
    wr(F::kTprThreshold, lapic->tpr_threshold());
  }
}

void VmxVcpu::reset_state() {
  // The x86 reset state (SDM vol. 3A 9.1.1 table 9-1), as KVM's vcpu reset.
  for (int i = 0; i < 8; i++) {
    wr(kSeg[i].sel, 0);
    wr(kSeg[i].base, 0);
    wr(kSeg[i].limit, 0xffff);
    wr(kSeg[i].ar, 0x93);
  }
  wr(F::kGuestCsSelector, 0xf000);
  wr(F::kGuestCsBase, 0xffff0000);
  wr(F::kGuestCsAccessRights, 0x9b);
  wr(F::kGuestTrAccessRights, 0x8b);
  wr(F::kGuestLdtrAccessRights, 0x82);
  wr(F::kGuestGdtrBase, 0);
  wr(F::kGuestGdtrLimit, 0xffff);
  wr(F::kGuestIdtrBase, 0);
  wr(F::kGuestIdtrLimit, 0xffff);
  wr(F::kGuestRip, 0xfff0);
  wr(F::kGuestRsp, 0);
  wr(F::kGuestRflags, 2);
  wr(F::kGuestDr7, 0x400);
  wr(F::kGuestIa32Debugctl, 0);
  wr(F::kGuestIa32Pat, 0x0007040600070406ull);
  wr(F::kGuestSysenterCs, 0);
  wr(F::kGuestSysenterEsp, 0);
  wr(F::kGuestSysenterEip, 0);
  wr(F::kGuestInterruptibility, 0);
  wr(F::kGuestActivityState, 0);
  wr(F::kGuestPendingDebugExceptions, 0);
  wr(F::kGuestCr3, 0);
  efer_ = 0;
  wr(F::kGuestIa32Efer, 0);
  write_cr4(0);
  write_cr0(0x60000010);
  update_entry_controls();
}

void VmxVcpu::write_cr0(u64 val) {
  cr0_ = val;
  // Caching stays on for the host's sake (KVM: CR0.CD/NW always off in
  // hardware); NE is fixed to 1 in VMX operation (SDM A.7).
  u64 hw = vmx::fixed_cr0(host_->caps(), (val & ~(kCr0Cd | kCr0Nw)) | kCr0Ne, true);
  wr(F::kGuestCr0, hw);
  wr(F::kCr0ReadShadow, val);
  write_cr4(cr4_);  // SMEP/SMAP/PKE follow paging
}

void VmxVcpu::write_cr4(u64 val) {
  cr4_ = val;
  u64 hw = vmx::fixed_cr4(host_->caps(), val);
  // With paging off the CPU ignores SMEP/SMAP/PKE, but in VMX non-root
  // operation with unrestricted guest they would still apply to the
  // guest-physical accesses: clear them as the guest expects.
  if (!(cr0_ & kCr0Pg))
    hw &= ~(kCr4Smep | kCr4Smap | kCr4Pke);
  wr(F::kGuestCr4, hw);
  wr(F::kCr4ReadShadow, val);
  vcpu_->cpuid().set_cr4(val);  // CPUID.1:ECX.OSXSAVE, 7:ECX.OSPKE follow CR4
}

void VmxVcpu::update_entry_controls() {
  u32 want = (efer_ & kEferLma) ? (entry_ctls_ | v::entry_ctl::kIa32eModeGuest)
                                : (entry_ctls_ & ~v::entry_ctl::kIa32eModeGuest);
  if (want != entry_ctls_) {
    entry_ctls_ = want;
  }
  wr(F::kEntryControls, entry_ctls_);
  wr(F::kGuestIa32Efer, efer_);
}

bool VmxVcpu::load_pdptrs(u64 cr3) {
  // PAE paging: the four PDPTEs are loaded from CR3 (SDM vol. 3A 4.4.1);
  // with EPT, VM entry takes them from the VMCS (SDM 26.3.2.4).
  u64 pdpte[4];
  if (vcpu_->vm()->mmu().read(cr3 & 0xffffffe0ull, pdpte, sizeof(pdpte)))
    return false;
  for (u64 e : pdpte)
    if ((e & 1) && (e & 0x1e6ull))  // reserved bits 2:1, 8:5 (SDM table 4-8)
      return false;
  wr(F::kGuestPdpte0, pdpte[0]);
  wr(F::kGuestPdpte1, pdpte[1]);
  wr(F::kGuestPdpte2, pdpte[2]);
  wr(F::kGuestPdpte3, pdpte[3]);
  return true;
}

int VmxVcpu::set_efer(u64 val, bool host) {
  if (!host) {
    // A guest may not flip LME with paging on (SDM 9.8.5), and LMA is the CPU's.
    if ((cr0_ & kCr0Pg) && ((val ^ efer_) & kEferLme))
      return 1;
    val = (val & ~kEferLma) | (efer_ & kEferLma);
  }
  efer_ = val;
  update_entry_controls();
  return 0;
}

int VmxVcpu::guest_set_cr0(u64 val) {
  // KVM's kvm_set_cr0 rules (SDM vol. 3A 2.5, 9.8.5).
  val |= kCr0Et;
  if (val >> 32)
    return 1;
  val &= 0xe005003full;  // PE MP EM TS ET NE WP AM NW CD PG
  if ((val & kCr0Nw) && !(val & kCr0Cd))
    return 1;
  if ((val & kCr0Pg) && !(val & kCr0Pe))
    return 1;
  bool was_paging = cr0_ & kCr0Pg;
  if (!was_paging && (val & kCr0Pg) && (efer_ & kEferLme)) {
    if (!(cr4_ & kCr4Pae))
      return 1;
    if (rd(F::kGuestCsAccessRights) & (1u << 13))
      return 1;
  }
  if (!(val & kCr0Pg) && is_64bit_mode())
    return 1;
  if (!(efer_ & kEferLme) && (val & kCr0Pg) && (cr4_ & kCr4Pae) && ((val ^ cr0_) & (kCr0Pg | kCr0Cd | kCr0Nw)) &&
      !load_pdptrs(rd(F::kGuestCr3)))
    return 1;
  // Entering/leaving IA-32e mode (SDM 9.8.5): LMA follows LME & PG.
  if ((efer_ & kEferLme) && (val & kCr0Pg) && !was_paging)
    efer_ |= kEferLma;
  else if (!(val & kCr0Pg) && was_paging)
    efer_ &= ~kEferLma;
  bool flush = (val ^ cr0_) & (kCr0Pg | kCr0Pe | (1ull << 16));
  write_cr0(val);
  update_entry_controls();
  if (flush)
    host_->flush_vpid(vpid_);
  return 0;
}

int VmxVcpu::guest_set_cr4(u64 val) {
  if (val & vcpu_->cr4_reserved_bits())
    return 1;
  if (efer_ & kEferLma) {
    if (!(val & kCr4Pae))
      return 1;
    if ((val ^ cr4_) & (1ull << 12))  // LA57 cannot change in long mode
      return 1;
  } else if ((cr0_ & kCr0Pg) && (val & kCr4Pae) && ((val ^ cr4_) & (kCr4Pae | (1ull << 4) | (1ull << 7))) &&
             !load_pdptrs(rd(F::kGuestCr3))) {
    return 1;
  }
  if ((val & (1ull << 17)) && !(cr4_ & (1ull << 17))) {  // PCIDE
    if (!(efer_ & kEferLma) || (rd(F::kGuestCr3) & 0xfff))
      return 1;
  }
  bool flush = (val ^ cr4_) & ((1ull << 4) | (1ull << 5) | (1ull << 7) | (1ull << 17) | kCr4Smep | kCr4Smap | kCr4Pke);
  write_cr4(val);
  if (flush)
    host_->flush_vpid(vpid_);
  return 0;
}

void VmxVcpu::write_host_state() {
  mk_host_state_read(&hs_);
  wr(F::kHostCr0, hs_.cr0);
  wr(F::kHostCr3, hs_.cr3);
  wr(F::kHostCr4, hs_.cr4);
  wr(F::kHostCsSelector, hs_.cs);
  wr(F::kHostSsSelector, hs_.ss);
  wr(F::kHostDsSelector, hs_.ds);
  wr(F::kHostEsSelector, hs_.es);
  wr(F::kHostFsSelector, hs_.fs);
  wr(F::kHostGsSelector, hs_.gs);
  wr(F::kHostTrSelector, hs_.tr);
  wr(F::kHostFsBase, hs_.fs_base);
  wr(F::kHostGsBase, hs_.gs_base);
  wr(F::kHostTrBase, hs_.tr_base);
  wr(F::kHostGdtrBase, hs_.gdtr_base);
  wr(F::kHostIdtrBase, hs_.idtr_base);
  wr(F::kHostSysenterCs, hs_.sysenter_cs);
  wr(F::kHostSysenterEsp, hs_.sysenter_esp);
  wr(F::kHostSysenterEip, hs_.sysenter_eip);
  wr(F::kHostIa32Efer, hs_.efer);
  wr(F::kHostIa32Pat, hs_.pat);
}

void VmxVcpu::load(int cpu) {
  if (host_->load(&vmcs_, cpu))
    need_flush_ = true;  // translations cached on the old CPU are stale here
  // Notifications go to the CPU the vCPU runs on (KVM's vmx_vcpu_pi_load).
  if (amode_.posted && cpu != cpu_)
    pi_->set_ndst(mk_cpu_pi_ndst(cpu));
  cpu_ = cpu;
  // The host state this thread runs with on this CPU (fs base, CR3, the
  // CPU's TSS and GDT): written at every load, cheap next to a VM entry.
  write_host_state();
}

void VmxVcpu::put() {
  if (guest_msrs_) {
    // SWAPGS changes KERNEL_GS_BASE without an exit: keep the guest's.
    u64 kgs = 0;
    mk_rdmsr_safe(0xc0000102, &kgs);
    vcpu_->msrs().set(0xc0000102, kgs, true);
    mk_wrmsr_safe(0xc0000081, host_star_);
    mk_wrmsr_safe(0xc0000082, host_lstar_);
    mk_wrmsr_safe(0xc0000083, host_cstar_);
    mk_wrmsr_safe(0xc0000084, host_sfmask_);
    mk_wrmsr_safe(0xc0000102, hs_.kernel_gs_base);
    guest_msrs_ = false;
  }
  if (entered_) {
    mk_host_restore(&hs_);
    entered_ = false;
  }
}

void VmxVcpu::request_windows(bool irq, bool nmi) {
  u32 proc = proc_ & ~(v::proc::kInterruptWindowExiting | v::proc::kNmiWindowExiting);
  if (irq)
    proc |= v::proc::kInterruptWindowExiting;
  // NMI-window exiting exists only with virtual NMIs (SDM 26.2.1.1);
  // without them a pending NMI waits for the next exit of any kind.
  if (nmi && (host_->controls().pin & v::pin::kVirtualNmis))
    proc |= v::proc::kNmiWindowExiting;
  if (proc != proc_) {
    proc_ = proc;
    wr(F::kProcBasedControls, proc);
  }
}

void VmxVcpu::inject_pending() {
  Event &ev = vcpu_->pending_event();
  injected_any_ = ev.valid;
  if (!ev.valid) {
    wr(F::kEntryInterruptionInfo, 0);
    return;
  }
  u32 info = ev.vector | static_cast<u32>(ev.type) << 8 | kIntrValid;
  // No error code is delivered in real mode (SDM 26.2.1.3: and VM entry
  // would fail with one).
  if (ev.has_error && (cr0_ & kCr0Pe)) {
    info |= kIntrHasError;
    wr(F::kEntryExceptionErrorCode, ev.error & 0xffff);
  }
  if (ev.type == kTypeSoftInt || ev.type == kTypeSoftExc || ev.type == kTypePrivSoftExc)
    wr(F::kEntryInstructionLength, ev.insn_len);
  wr(F::kEntryInterruptionInfo, info);
  if (mk_trace_on[MK_TP_INJECT])
    mk_trace_inject(vcpu_->vm()->trace_id(), vcpu_->id(), ev.vector, ev.type, ev.injected,
                    (info & kIntrHasError) != 0, (info & kIntrHasError) ? (ev.error & 0xffff) : 0);
  ev.valid = false;
  // An injected event ends the STI/MOV SS shadow's effect on it (SDM 26.6.1.1).
}

void VmxVcpu::record_vectoring(u32 info, u32 error, u32 len) {
  // The exit interrupted the delivery of an event (SDM 27.2.4): deliver it
  // again at the next entry, unless the exit handler queues something that
  // merges with it.
  if (!(info & kIntrValid))
    return;
  Event &ev = vcpu_->pending_event();
  ev.valid = true;
  ev.injected = true;
  ev.vector = info & 0xff;
  ev.type = (info >> 8) & 7;
  ev.has_error = info & kIntrHasError;
  ev.error = error;
  ev.insn_len = len;
}

int VmxVcpu::run_once() {
  update_apicv();
  int r = mk_guest_enter_begin();
  if (r == -EAGAIN)
    return 1;
  if (r) {
    vcpu_->run()->exit_reason = KVM_EXIT_INTR;
    vcpu_->count(kStatSignalExits);
    return -EINTR;
  }
  // Preemption and interrupts are off: this CPU is ours until exit, and
  // the preempt notifier made the VMCS current here (load()).
  if (need_flush_) {
    need_flush_ = false;
    host_->flush_vpid(vpid_);
    host_->flush_ept(vcpu_->vm()->mmu().eptp());
  }
  if (!guest_msrs_) {
    // SYSCALL/SWAPGS MSRs are not in the VMCS: the guest's go in now, the
    // host's come back at put() (before user mode or another thread).
    mk_rdmsr_safe(0xc0000081, &host_star_);
    mk_rdmsr_safe(0xc0000082, &host_lstar_);
    mk_rdmsr_safe(0xc0000083, &host_cstar_);
    mk_rdmsr_safe(0xc0000084, &host_sfmask_);
    for (u32 i = 0; i < x86::kNumSyscallMsrs; i++)
      mk_wrmsr_safe(x86::kSyscallMsrIndex[i], vcpu_->msrs().syscall_msr(i));
    guest_msrs_ = true;
  }
  vcpu_->prepare_entry(cpu_);
  inject_pending();
  apicv_before_entry();
  if (host_->controls().pin & v::pin::kPreemptionTimer) {
    // About 2^21 TSC cycles per stay in the guest; the timer counts down
    // once every 2^IA32_VMX_MISC[4:0] TSC cycles (SDM 25.5.1).
    u32 rate = host_->caps().misc & 0x1f;
    wr(F::kPreemptionTimerValue, (1u << 21) >> rate);
  }
  vcpu_->fpu_load();
  if (mk_trace_on[MK_TP_ENTRY])
    mk_trace_entry(vcpu_->vm()->trace_id(), vcpu_->id(), rd(F::kGuestRip));
  r = mk_vmx_vcpu_run(vcpu_->gprs(), vmcs_.launched);
  vcpu_->fpu_save();
  entered_ = true;
  u32 reason = r ? 0 : static_cast<u32>(rd(F::kExitReason));
  u32 intr_info = 0;
  if (!r) {
    vmcs_.launched = true;
    if ((reason & 0xffff) == static_cast<u32>(E::kExternalInterrupt)) {
      // Acknowledged by the exit (SDM 27.2.2): the vector is in the
      // interruption information; the host handles it now.
      u32 info = rd(F::kExitInterruptionInfo);
      if (info & kIntrValid)
        mk_host_irq(info & 0xff);
    } else if ((reason & 0xffff) == static_cast<u32>(E::kExceptionOrNmi)) {
      intr_info = rd(F::kExitInterruptionInfo);
      // An NMI belongs to the host: run its handler before interrupts come
      // back on (SDM 27.2.2: NMI exiting).
      if ((intr_info & kIntrValid) && ((intr_info >> 8) & 7) == kTypeNmi)
        mk_host_nmi();
    }
  }
  vcpu_->left_guest();
  mk_host_after_exit(&hs_);
  mk_guest_enter_end();

  vcpu_->count(kStatExits);
  if (mk_trace_on[MK_TP_EXIT])
    trace_exit(r, reason);
  if (r) {
    // VMLAUNCH/VMRESUME failed (VMfailValid): the VM-instruction error
    // says why (SDM 30.4), as KVM reports it.
    kvm_run *run = vcpu_->run();
    run->exit_reason = KVM_EXIT_FAIL_ENTRY;
    run->fail_entry.hardware_entry_failure_reason = rd(F::kVmInstructionError);
    run->fail_entry.cpu = cpu_;
    mk_log_once(MK_LOG_WARN, "VM entry failed: VM-instruction error %u",
                static_cast<unsigned>(rd(F::kVmInstructionError)));
    return 0;
  }
  if ((reason & 0xffff) < Vcpu::kExitBuckets)
    vcpu_->exit_counts()[reason & 0xffff]++;
  return handle_exit(reason);
}

// minikvm_exit, counted with the exits stat so that the two always agree.
// A VMLAUNCH/VMRESUME that failed as an instruction (VMfailValid, SDM
// 30.4) has no exit reason: it is reported as a failed entry (bit 31) of
// basic reason 0xffff (no SDM reason), with the VM-instruction error as qual.
void VmxVcpu::trace_exit(int vmfail, u32 reason) {
  u32 vm = vcpu_->vm()->trace_id();
  if (vmfail) {
    mk_trace_exit(vm, vcpu_->id(), kTraceVmFail, 0, rd(F::kVmInstructionError), rd(F::kGuestRip));
    return;
  }
  mk_trace_exit(vm, vcpu_->id(), reason, static_cast<u32>(rd(F::kExitInterruptionInfo)),
                rd(F::kExitQualification), rd(F::kGuestRip));
}

int VmxVcpu::internal_error(u32 suberror, u32 reason) {
  kvm_run *run = vcpu_->run();
  run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
  run->internal.suberror = suberror;
  run->internal.ndata = 2;
  run->internal.data[0] = reason;
  run->internal.data[1] = cpu_;
  return 0;
}

u64 VmxVcpu::read_gpr(u32 reg) {
  u64 val = reg == kRsp ? rsp() : vcpu_->gprs()[reg];
  return is_64bit_mode() ? val : static_cast<u32>(val);
}

void VmxVcpu::write_gpr(u32 reg, u64 val) {
  if (reg == kRsp)
    set_rsp(val);
  else
    vcpu_->gprs()[reg] = val;
}

int VmxVcpu::handle_exit(u32 reason) {
  if (reason & (1u << 31)) {
    // VM entry failed while loading guest state (SDM 26.8): invalid guest
    // state (33), MSR loading (34), machine check (41). KVM reports the
    // full exit reason.
    kvm_run *run = vcpu_->run();
    run->exit_reason = KVM_EXIT_FAIL_ENTRY;
    run->fail_entry.hardware_entry_failure_reason = reason;
    run->fail_entry.cpu = cpu_;
    vmcs_.launched = false;
    return 0;
  }
  u32 vect = rd(F::kIdtVectoringInfo);
  if (vect & kIntrValid) {
    // With virtual-interrupt delivery, an external interrupt reported in a
    // stay where this entry injected nothing is a virtual interrupt whose
    // delivery the exit interrupted (an EPT violation on the IDT or the
    // stack), and SVI already holds its vector (SDM 29.2.2: SVI is set
    // before the IDT access). Real CPUs report that vector; Bochs 2.7
    // reports stale vectoring information (type and vector of the last
    // event any VM entry injected), so minikvm takes the vector from SVI.
    // A reported exception or NMI is trusted (on hardware it is the guest's
    // own event, e.g. a #PF raised in the interrupt handler) unless the
    // testbed's stale_vectoring_quirk says the report may be Bochs's stale one.
    //
    // A virtual interrupt is delivered only with RFLAGS.IF = 1 and no
    // blocking by STI or MOV SS (SDM 29.2.1), and an exit during its
    // delivery leaves the guest state as before it: so with IF = 0 or
    // that blocking no delivery was interrupted. SVI may still differ from
    // the entry's because a delivery completed and its handler (IF = 0 in
    // an interrupt gate) then took the EPT violation: reinjecting SVI there
    // would deliver the vector twice, and with IF = 0 fail the VM entry
    // (0x80000021, SDM 26.3.1.4). Such a report is Bochs's stale one.
    if (amode_.apicv && !injected_any_ && reason == static_cast<u32>(E::kEptViolation)) {
      bool interruptible = (rd(F::kGuestRflags) & (1u << 9)) && !(rd(F::kGuestInterruptibility) & 3);
      u32 svi = (rd(F::kGuestInterruptStatus) >> 8) & 0xff;
      bool ext = ((vect >> 8) & 7) == kTypeExt;
      if (!interruptible && ext && stale_vectoring_quirk_)
        vect = 0;
      else if (interruptible && svi >= 16 && svi != svi_entry_ && (ext || stale_vectoring_quirk_))
        vect = kIntrValid | (static_cast<u32>(kTypeExt) << 8) | svi;
    }
    record_vectoring(vect, rd(F::kIdtVectoringErrorCode), rd(F::kExitInstructionLength));
  }
  u64 qual = rd(F::kExitQualification);
  u64 len = rd(F::kExitInstructionLength);
  switch (static_cast<E>(reason & 0xffff)) {
    case E::kExceptionOrNmi:
      return handle_exception(rd(F::kExitInterruptionInfo));
    case E::kExternalInterrupt:
      vcpu_->count(kStatIrqExits);
      return 1;
    case E::kTripleFault:
      vcpu_->run()->exit_reason = KVM_EXIT_SHUTDOWN;
      return 0;
    case E::kInterruptWindow:
      // The guest can take an interrupt now: the next entry injects it.
      vcpu_->count(kStatIrqWindowExits);
      return 1;
    case E::kNmiWindow:
      vcpu_->count(kStatNmiWindowExits);
      return 1;
    case E::kPreemptionTimer:
      // The host ran its pending interrupts when they were enabled again.
      return 1;
    case E::kCpuid:
      return vcpu_->emulate_cpuid();
    case E::kHlt:
      vcpu_->skip_instruction(len);
      return vcpu_->halt();
    case E::kInvd:
    case E::kWbinvd:
      // No cache is the guest's alone to discard: both are a nop (as KVM).
      vcpu_->skip_instruction(len);
      return 1;
    case E::kRdpmc:
      // No PMU is exposed (CPUID leaf 0xA is zero).
      return vcpu_->queue_exception(13, true, 0);
    case E::kCrAccess:
      vcpu_->count(kStatCrExits);
      return handle_cr(qual);
    case E::kMovDr:
      return handle_dr(qual);
    case E::kIoInstruction:
      return handle_io(qual);
    case E::kRdmsr:
      return vcpu_->emulate_rdmsr();
    case E::kWrmsr:
      return vcpu_->emulate_wrmsr();
    case E::kXsetbv:
      return vcpu_->emulate_xsetbv();
    case E::kEptViolation:
      return handle_ept_violation(qual);
    case E::kApicAccess:
      return handle_apic_access(qual);
    case E::kTprBelowThreshold:
      // The guest lowered VTPR below the threshold (29.1.2, trap-like):
      // the next entry injects what it unmasked.
      vcpu_->lapic()->tpr_changed();
      return 1;
    case E::kVirtualizedEoi:
      // EOI of a vector in the EOI-exit bitmap (29.1.3, trap-like): the
      // CPU did the ISR/PPR part; the IOAPIC gets the rest.
      vcpu_->lapic()->eoi_induced(qual & 0xff);
      return 1;
    case E::kApicWrite:
      // A virtualized write that needs its side effects (29.4.3.3,
      // trap-like): the value is in the virtual-APIC page already.
      vcpu_->lapic()->apic_write_trap(qual & 0xff0);
      return 1;
    case E::kGetsec:
    case E::kRsm:
    case E::kVmcall:
    case E::kVmclear:
    case E::kVmlaunch:
    case E::kVmptrld:
    case E::kVmptrst:
    case E::kVmread:
    case E::kVmresume:
    case E::kVmwrite:
    case E::kVmxoff:
    case E::kVmxon:
    case E::kInvept:
    case E::kInvvpid:
    case E::kVmfunc:
    case E::kMwait:
    case E::kMonitor:
    case E::kEncls:
      // Not offered to the guest (CPUID says no VMX/SMX/MONITOR/SGX): #UD,
      // as on a CPU without them.
      return vcpu_->queue_exception(6);
    case E::kTaskSwitch:
      // Hardware task switches need the instruction emulator KVM has and
      // minikvm has not (yet): stop with the facts.
    default:
      mk_log_once(MK_LOG_WARN, "unhandled VM exit reason %u: KVM_EXIT_INTERNAL_ERROR", reason & 0xffff);
      return internal_error(KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON, reason);
  }
}

int VmxVcpu::handle_exception(u32 info) {
  u8 vector = info & 0xff;
  u8 type = (info >> 8) & 7;
  vcpu_->count(kStatExceptionExits);
  if (type == kTypeNmi) {
    vcpu_->count(kStatNmiExits);
    return 1;  // handled at exit
  }
  // SDM 27.2.3: the exit happened during an IRET that unblocked NMIs:
  // blocking must be restored before re-entry.
  if ((info & kIntrNmiUnblock) && !(rd(F::kIdtVectoringInfo) & kIntrValid) &&
      (host_->controls().pin & v::pin::kVirtualNmis))
    set_nmi_masked(true);
  u32 error = (info & kIntrHasError) ? rd(F::kExitInterruptionErrorCode) : 0;
  if (vector == 1) {
    // #DB: the exit qualification has DR6's B0-B3, BD, BS (SDM 27.2.1).
    vcpu_->set_dr6_bits(rd(F::kExitQualification) & 0x600f);
  }
  if (type == kTypeSoftExc || type == kTypePrivSoftExc) {
    // INT3/INTO/INT1: re-deliver as the same software event.
    Event &ev = vcpu_->pending_event();
    ev = Event{};
    ev.valid = true;
    ev.vector = vector;
    ev.type = type;
    ev.insn_len = rd(F::kExitInstructionLength);
    return 1;
  }
  return vcpu_->queue_exception(vector, info & kIntrHasError, error);
}

int VmxVcpu::handle_cr(u64 qual) {
  u32 cr = qual & 15, type = (qual >> 4) & 3, reg = (qual >> 8) & 15;
  u64 len = rd(F::kExitInstructionLength);
  int fault = 0;
  switch (type) {
    case 0: {  // MOV to CR
      u64 val = read_gpr(reg);
      if (cr == 0)
        fault = guest_set_cr0(val);
      else if (cr == 4)
        fault = guest_set_cr4(val);
      else if (cr == 8)
        fault = vcpu_->set_cr8(val);
      else
        return internal_error(KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON, 28);
      break;
    }
    case 1:  // MOV from CR (only CR8 exits: CR3 exiting is off)
      if (cr == 8)
        write_gpr(reg, vcpu_->cr8());
      else
        return internal_error(KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON, 28);
      break;
    case 2:  // CLTS
      fault = guest_set_cr0(cr0_ & ~(1ull << 3));
      break;
    case 3: {  // LMSW: loads CR0[3:0], cannot clear PE (SDM vol. 2 LMSW)
      u64 src = (qual >> 16) & 0xf;
      fault = guest_set_cr0((cr0_ & ~0xeull) | src | (cr0_ & 1));
      break;
    }
  }
  if (fault)
    return vcpu_->queue_exception(13, true, 0);
  vcpu_->skip_instruction(len);
  return 1;
}

int VmxVcpu::handle_dr(u64 qual) {
  u32 dr = qual & 7, to_reg = (qual >> 4) & 1, reg = (qual >> 8) & 15;
  u64 len = rd(F::kExitInstructionLength);
  // CPL and CR4.DE checks come before the exit (SDM 27.1); DR4/DR5 alias
  // DR6/DR7 when CR4.DE = 0.
  if (dr == 4 || dr == 5) {
    if (cr4_ & (1ull << 3))
      return vcpu_->queue_exception(6);
    dr += 2;
  }
  if (to_reg) {
    u64 val = dr < 4 ? vcpu_->dr(dr) : dr == 6 ? vcpu_->dr6() : rd(F::kGuestDr7);
    write_gpr(reg, val);
  } else {
    u64 val = read_gpr(reg);
    if (dr >= 6 && (val >> 32))
      return vcpu_->queue_exception(13, true, 0);
    if (dr < 4)
      vcpu_->set_dr(dr, val);
    else if (dr == 6)
      vcpu_->set_dr6((val & 0xffffe00full) | 0xffff0ff0ull);
    else
      wr(F::kGuestDr7, (val & 0xffff2bffull) | 0x400);
  }
  vcpu_->skip_instruction(len);
  return 1;
}

int VmxVcpu::handle_io(u64 qual) {
  // Exit qualification for I/O instructions (SDM 27.2.1 table 27-5).
  u8 size = (qual & 7) + 1;
  bool in = qual & 8, string = qual & 16, rep = qual & 32;
  u16 port = qual >> 16;
  vcpu_->count(kStatIoExits);
  (void)rep;
  if (string)
    return vcpu_->pio_string(qual, rd(F::kVmxInstructionInfo), rd(F::kExitInstructionLength));
  return vcpu_->pio(port, size, in, rd(F::kExitInstructionLength));
}

int VmxVcpu::handle_ept_violation(u64 qual) {
  u64 gpa = rd(F::kGuestPhysicalAddress);
  // SDM 27.2.3: an EPT violation during an IRET that unblocked NMIs.
  if ((qual & (1ull << 12)) && !(rd(F::kIdtVectoringInfo) & kIntrValid) &&
      (host_->controls().pin & v::pin::kVirtualNmis))
    set_nmi_masked(true);
  mmu::EptFault f;
  vcpu_->count(kStatEptFaults);
  int r = vcpu_->vm()->handle_ept_violation(gpa, qual, &f);
  if (r == -EINTR || r == -ENOMEM)
    return r;
  if (r) {
    // The slot's memory is not there (userspace unmapped it): as KVM, an
    // error for KVM_RUN is unhelpful; report the address.
    kvm_run *run = vcpu_->run();
    run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
    run->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
    run->internal.ndata = 2;
    run->internal.data[0] = gpa;
    run->internal.data[1] = static_cast<u64>(-r);
    mk_log_once(MK_LOG_WARN, "guest memory at a memslot is not accessible (error %d)", r);
    return 0;
  }
  if (f == mmu::EptFault::kMapped)
    return 1;
  vcpu_->count(kStatMmioExits);
  return vcpu_->mmio(gpa, qual & 2);
}

int VmxVcpu::handle_apic_access(u64 qual) {
  // SDM 27.2.1 table 27-6: bits 11:0 the page offset, 15:12 the access
  // type. Linear reads and writes by an instruction are emulated as the
  // MMIO they would be without the APIC-access page (KVM's
  // handle_apic_access); fetches and accesses during event delivery from
  // the APIC page cannot be (KVM fails emulation too).
  u32 offset = qual & 0xfff, type = (qual >> 12) & 0xf;
  irq::Lapic *lapic = vcpu_->lapic();
  if (type > 1 || !lapic) {
    mk_log_once(MK_LOG_WARN, "APIC access of type %u at offset 0x%x: KVM_EXIT_INTERNAL_ERROR", type, offset);
    return internal_error(KVM_INTERNAL_ERROR_EMULATION, static_cast<u32>(E::kApicAccess));
  }
  vcpu_->count(kStatMmioExits);
  return vcpu_->mmio((lapic->apic_base() & ~0xfffull) + offset, type == 1);
}

void VmxVcpu::get_segment(SegReg s, kvm_segment *out) {
  const SegFields &f = kSeg[static_cast<int>(s)];
  out->selector = rd(f.sel);
  out->base = rd(f.base);
  out->limit = rd(f.limit);
  from_ar(rd(f.ar), out);
}

void VmxVcpu::get_sregs(kvm_sregs *s) {
  get_segment(SegReg::kCs, &s->cs);
  get_segment(SegReg::kDs, &s->ds);
  get_segment(SegReg::kEs, &s->es);
  get_segment(SegReg::kFs, &s->fs);
  get_segment(SegReg::kGs, &s->gs);
  get_segment(SegReg::kSs, &s->ss);
  get_segment(SegReg::kTr, &s->tr);
  get_segment(SegReg::kLdtr, &s->ldt);
  s->gdt.base = rd(F::kGuestGdtrBase);
  s->gdt.limit = rd(F::kGuestGdtrLimit);
  s->idt.base = rd(F::kGuestIdtrBase);
  s->idt.limit = rd(F::kGuestIdtrLimit);
  for (auto &p : s->gdt.padding)
    p = 0;
  for (auto &p : s->idt.padding)
    p = 0;
  s->cr0 = cr0_;
  s->cr2 = vcpu_->gprs()[kCr2];
  s->cr3 = rd(F::kGuestCr3);
  s->cr4 = cr4_;
  s->cr8 = vcpu_->cr8();
  s->efer = efer_;
}

int VmxVcpu::set_sregs(const kvm_sregs &s) {
  const kvm_segment *segs[] = {&s.es, &s.cs, &s.ss, &s.ds, &s.fs, &s.gs, &s.tr, &s.ldt};
  for (int i = 0; i < 8; i++) {
    kvm_segment seg = *segs[i];
    // As KVM for unrestricted guest: the "accessed" bit of code/data
    // segments is forced on (SDM 26.3.1.2 requires it of usable ones).
    if (i != 7)
      seg.type |= 1;
    wr(kSeg[i].sel, seg.selector);
    wr(kSeg[i].base, seg.base);
    wr(kSeg[i].limit, seg.limit);
    wr(kSeg[i].ar, to_ar(seg));
  }
  wr(F::kGuestGdtrBase, s.gdt.base);
  wr(F::kGuestGdtrLimit, s.gdt.limit);
  wr(F::kGuestIdtrBase, s.idt.base);
  wr(F::kGuestIdtrLimit, s.idt.limit);
  vcpu_->gprs()[kCr2] = s.cr2;
  wr(F::kGuestCr3, s.cr3);
  efer_ = s.efer;
  cr4_ = s.cr4;
  write_cr0(s.cr0);  // writes CR4 too
  update_entry_controls();
  if (pae_paging())
    load_pdptrs(s.cr3);
  host_->flush_vpid(vpid_);
  return 0;
}

int VmxVcpu::get_vmcs_msr(u32 index, u64 *value) {
  switch (index) {
    case 0x174: *value = rd(F::kGuestSysenterCs); return 0;
    case 0x175: *value = rd(F::kGuestSysenterEsp); return 0;
    case 0x176: *value = rd(F::kGuestSysenterEip); return 0;
    case 0x1d9: *value = rd(F::kGuestIa32Debugctl); return 0;
    case 0x277: *value = rd(F::kGuestIa32Pat); return 0;
    case 0xc0000100: *value = rd(F::kGuestFsBase); return 0;
    case 0xc0000101: *value = rd(F::kGuestGsBase); return 0;
    case Vcpu::kTscOffsetPseudoMsr: *value = rd(F::kTscOffset); return 0;
    default: return 1;
  }
}

int VmxVcpu::set_vmcs_msr(u32 index, u64 value) {
  switch (index) {
    case 0x174: wr(F::kGuestSysenterCs, value); return 0;
    case 0x175: wr(F::kGuestSysenterEsp, value); return 0;
    case 0x176: wr(F::kGuestSysenterEip, value); return 0;
    case 0x1d9: wr(F::kGuestIa32Debugctl, value); return 0;
    case 0x277: wr(F::kGuestIa32Pat, value); return 0;
    case 0xc0000100: wr(F::kGuestFsBase, value); return 0;
    case 0xc0000101: wr(F::kGuestGsBase, value); return 0;
    case Vcpu::kTscOffsetPseudoMsr: wr(F::kTscOffset, value); return 0;
    default: return 1;
  }
}

}  // namespace

VcpuBackend *vmx_create_backend(Vcpu *vcpu, int *err) {
  auto *b = new (nothrow) VmxVcpu(vcpu);
  if (!b) {
    *err = -ENOMEM;
    return nullptr;
  }
  *err = b->init();
  if (*err) {
    delete b;
    return nullptr;
  }
  return b;
}

}  // namespace mk
