// SPDX-License-Identifier: GPL-2.0
// The local APIC of one vCPU (Intel SDM vol. 3A chapter 10 "Advanced
// Programmable Interrupt Controller"; section numbers below are that
// chapter's). xAPIC through the MMIO page at IA32_APIC_BASE, x2APIC through
// MSRs 0x800-0x8FF, the APIC timer (one-shot, periodic, TSC-deadline) on an
// hrtimer, IPIs through the VM's ApicBus.
//
// The registers live in a register page laid out as the xAPIC MMIO page
// (and as KVM_GET/SET_LAPIC's kvm_lapic_state, and as VMX's virtual-APIC
// page, so it can become one), exactly as KVM keeps them: what userspace
// restores is what it reads back.
//
// Locking: all state is under one spinlock (lock_), a leaf lock: nothing is
// called out (ApicBus::deliver, LapicHost but apic_guest_tsc, timer
// start/cancel) while it is held. Work found under the lock is collected in an Effects record and done
// after unlocking. The timer is never cancelled with lock_ held (its
// callback takes lock_): the entry points that reprogram it (writes of LVT
// timer / initial count / divide configuration, IA32_TSC_DEADLINE,
// set_state, reset, init_signal) cancel it first, update the state under the
// lock, and start it again after unlocking. Those entry points must be
// serialized by the caller (the vCPU's mutex, as KVM's vcpu->mutex):
// another thread may call accept(), matches(), priority_for_arbitration()
// and the read-only accessors at any time, from any context.
#pragma once

#include <linux/kvm.h>

#include "irq/irq.h"
#include "rt/types.h"

namespace mk::irq {

class PostedIntr;

// What the LAPIC needs from its vCPU. Called from any context (the timer's
// hard-irq callback and other vCPUs' IPIs included), with no Lapic lock
// held, except apic_guest_tsc(): a pure read that must not call back.
class LapicHost {
 public:
  virtual ~LapicHost() = default;
  // An interrupt, INIT or SIPI became pending: wake the vCPU (HLT,
  // wait-for-SIPI) or kick it out of guest mode.
  virtual void apic_kick() = 0;
  // An NMI was accepted (delivery mode NMI): the vCPU queues one and kicks
  // itself (apic_kick() is not called as well).
  virtual void apic_nmi() = 0;
  // EOI of a vector whose TMR bit was set (level-triggered): forward it to
  // the IOAPIC (10.8.5: the EOI message goes to all IOAPICs).
  virtual void apic_eoi_level(u8 vector) = 0;
  // EOI of an edge-triggered vector: KVM forwards those the IOAPIC tracks
  // (the RTC's, for KVM_IRQ_LINE_STATUS coalescing). Keep it cheap.
  virtual void apic_eoi_edge(u8 vector) { (void)vector; }
  // APICv: a vector was posted to the descriptor and PostedIntr::post()
  // asked for a notification. The default kicks (the software fallback:
  // the vCPU moves PIR into IRR before its next entry); a vCPU whose CPU
  // posts sends the notification vector instead. Any context, no Lapic
  // lock held.
  virtual void apic_posted() { apic_kick(); }
  // The guest's TSC now (mk_rdtsc() + the vCPU's offset): TSC-deadline mode.
  virtual u64 apic_guest_tsc() = 0;
};

// Register offsets in the xAPIC page (table 10-1); x2APIC MSR = 0x800 + (offset >> 4).
namespace apic_reg {
inline constexpr u32 kId = 0x20, kVersion = 0x30, kTpr = 0x80, kApr = 0x90, kPpr = 0xa0, kEoi = 0xb0;
inline constexpr u32 kRrd = 0xc0, kLdr = 0xd0, kDfr = 0xe0, kSvr = 0xf0, kIsr = 0x100, kTmr = 0x180;
inline constexpr u32 kIrr = 0x200, kEsr = 0x280, kLvtCmci = 0x2f0, kIcrLow = 0x300, kIcrHigh = 0x310;
inline constexpr u32 kLvtTimer = 0x320, kLvtThermal = 0x330, kLvtPerf = 0x340, kLvtLint0 = 0x350;
inline constexpr u32 kLvtLint1 = 0x360, kLvtError = 0x370, kTimerInitial = 0x380, kTimerCurrent = 0x390;
inline constexpr u32 kTimerDivide = 0x3e0, kSelfIpi = 0x3f0;
}  // namespace apic_reg

class Lapic {
 public:
  static constexpr u64 kDefaultBase = 0xfee00000;
  // IA32_APIC_BASE bits (10.4.4, 10.12.1).
  static constexpr u64 kBaseBsp = 1ull << 8, kBaseExtd = 1ull << 10, kBaseEnable = 1ull << 11;
  static constexpr u32 kPageSize = 0x1000;
  // KVM's min_timer_period_us: periodic timers faster than this are slowed
  // down (the hrtimer is not throttled by the scheduler).
  static constexpr u64 kMinPeriodNs = 200'000;

  // trace_vm: the VM's number in the tracepoints (Vm::trace_id()).
  Lapic(u32 vcpu_id, LapicHost &host, ApicBus &bus, u32 trace_vm = 0);
  ~Lapic();  // cancels and frees the timer, frees the page and the lock
  Lapic(const Lapic &) = delete;
  Lapic &operator=(const Lapic &) = delete;

  // Allocates the register page, the lock and the timer: 0 or -ENOMEM
  // (nothing left allocated). Then reset() before use.
  int init();
  // Power-on RESET (KVM_CREATE_VCPU, KVM's kvm_lapic_reset(init_event =
  // false)): APIC base 0xFEE00900 for the bootstrap processor, 0xFEE00800
  // otherwise; xAPIC ID = vcpu_id << 24.
  void reset(bool bsp);
  // INIT (10.4.7.3): like RESET but IA32_APIC_BASE, the APIC ID (and the
  // x2APIC mode with its ID and LDR) are kept.
  void init_signal();

  // What the guest's CPUID offers (after KVM_SET_CPUID2): the TSC-deadline
  // timer mode (KVM: LVT timer mode mask 3 << 17, else 1 << 17; before the
  // first call, as KVM before KVM_SET_CPUID2, only one-shot), x2APIC (EXTD
  // is reserved without it), MAXPHYADDR (base address bits above it are
  // reserved; default 36, KVM's without CPUID leaf 0x80000008).
  void set_tsc_deadline_supported(bool on);
  void set_x2apic_supported(bool on);
  void set_maxphyaddr(u32 bits);
  // MCG_CAP.MCG_CMCI_P (KVM_X86_SETUP_MCE): the LVT CMCI register exists,
  // 7 LVT entries instead of 6 (the version register says so).
  void set_cmci_supported(bool on);
  // KVM_CAP_X2APIC_API's KVM_X2APIC_API_USE_32BIT_IDS: KVM_GET/SET_LAPIC
  // carry the x2APIC ID unshifted (default: shifted left by 24, as KVM).
  void set_x2apic_format(bool on);
  // KVM_X86_QUIRK_LAPIC_MMIO_HOLE (default on, as KVM): while the APIC is
  // hardware-disabled or in x2APIC mode its MMIO page still claims accesses,
  // reads all ones and drops writes. Off: the page is not there (accesses
  // go on to userspace).
  void set_mmio_hole_quirk(bool on);

  // IA32_APIC_BASE (10.4.4, 10.12.5): set returns 0, or 1 for #GP (reserved
  // bits, EXTD without EN, and for the guest x2APIC -> xAPIC or disabled ->
  // x2APIC; host_initiated allows those two, as KVM's kvm_set_apic_base).
  u64 apic_base() const;
  int set_apic_base(u64 v, bool host_initiated);
  bool x2apic_mode() const;
  bool hw_enabled() const;
  bool sw_enabled() const;

  // The xAPIC MMIO page [base, base + 4 KiB). mmio_covers() says whether a
  // GPA access belongs to this APIC (see set_mmio_hole_quirk). Reads of 1,
  // 2 or 4 bytes within the first 4 bytes of a 16-byte register return its
  // bytes, other reads zeros; writes other than 4 aligned bytes are dropped
  // (10.4.1: registers are accessed with 32-bit aligned loads and stores).
  // 0, or -EOPNOTSUPP when gpa is not covered.
  bool mmio_covers(u64 gpa) const;
  int mmio_read(u64 gpa, u32 len, void *val);
  int mmio_write(u64 gpa, u32 len, const void *val);

  // x2APIC MSRs 0x800-0x8FF (10.12.1.2; #GP outside x2APIC mode) and
  // IA32_TSC_DEADLINE 0x6E0 (10.5.4.1; reads 0 and ignores writes outside
  // TSC-deadline mode). 0, or 1 for #GP; other MSRs are not ours: 1.
  static bool is_lapic_msr(u32 msr) { return (msr >= 0x800 && msr <= 0x8ff) || msr == 0x6e0; }
  int read_msr(u32 msr, u64 *val);
  int write_msr(u32 msr, u64 val);

  // CR8 is TPR[7:4] (10.8.6.1).
  u64 cr8() const;
  void set_cr8(u64 v);

  // Interrupt delivery to the processor (10.8.3): the highest IRR vector
  // whose priority class is above PPR[7:4], or -1 (also when the APIC is
  // hardware-disabled).
  int pending_vector();
  // The vCPU injected vector: IRR -> ISR, PPR raised.
  void acknowledge(u8 vector);
  // Would the processor take an ExtINT from the 8259 now: LINT0 unmasked in
  // ExtINT mode, or the APIC hardware-disabled (KVM's kvm_apic_accept_pic_intr).
  bool accepts_pic_intr() const;
  // Pending INIT / SIPI messages (accept() records them; the vCPU's
  // mp_state machine consumes them: a SIPI outside wait-for-SIPI is the
  // vCPU's to drop). An INIT discards a pending SIPI.
  bool has_init_or_sipi() const;
  bool take_init();
  bool take_sipi(u8 *vector);

  // The APIC bus side (apic_bus.cpp). matches(): is this APIC a destination
  // of m (10.6.2; KVM's kvm_apic_match_dest, including its x2APIC
  // broadcast and hotplug quirks); a hardware-disabled APIC matches nothing.
  bool matches(const ApicMessage &m, const Lapic *source) const;
  // Accepts a message this APIC is a destination of (10.6.1, KVM's
  // __apic_accept_irq): 1 accepted, 0 dropped (fixed/lowest priority to a
  // software-disabled APIC, a level-triggered de-assert, illegal vector,
  // SMI, ExtINT, reserved delivery modes, INIT de-assert).
  int accept(const ApicMessage &m);
  // The arbitration priority (APR, 10.6.2.4): the lowest wins
  // lowest-priority delivery.
  u32 priority_for_arbitration() const;
  // The APIC ID the bus matches against: x2APIC ID (= vcpu_id) in x2APIC
  // mode, else the 8-bit xAPIC ID.
  u32 id() const;
  u32 vcpu_id() const { return vcpu_id_; }

  // KVM_GET_LAPIC / KVM_SET_LAPIC (KVM's kvm_apic_get_state/set_state and
  // kvm_apic_state_fixup): the 1 KiB register page; the current count
  // computed at 0x390; in x2APIC mode the ID shifted left by 24 (unless
  // set_x2apic_format) and ICR bits 63:32 at 0x310. set_state takes the
  // page as it is (reserved bytes too), re-derives the version register,
  // the x2APIC LDR, PPR and the timer (restarted from the current count);
  // -EINVAL only for an x2APIC ID other than vcpu_id in 32-bit ID format.
  void get_state(kvm_lapic_state *out);
  int set_state(const kvm_lapic_state &in);

  // The timer's expiry in the hrtimer (interrupt context) only counts it
  // and kicks the vCPU; the vCPU's thread delivers the LVT timer interrupt
  // (KVM's lapic_timer.pending and kvm_inject_pending_timer_irqs, for
  // apic_timer_expired from the timer function). So the interrupt is
  // accepted where every other vCPU event is, in process context: a BPF
  // program on the minikvm_apic_accept tracepoint sees each one (the
  // kernel skips BPF programs in an interrupt that lands in another). Expiries
  // not yet delivered coalesce into one interrupt, as KVM's. timer_pending:
  // any context; inject_pending_timer: the vCPU's thread (interrupts may be
  // off), the Lapic's lock not held. Writing the initial count, INIT,
  // reset and set_state drop an undelivered expiry (KVM's cancel_apic_timer).
  bool timer_pending() const { return __atomic_load_n(&timer_pending_, __ATOMIC_ACQUIRE) != 0; }
  void inject_pending_timer();

  // For tests and debugging: the raw 32-bit register at offset (0 outside the page).
  u32 reg(u32 offset) const;

  // ---- APIC virtualization (SDM vol. 3C chapter 29; lapic_apicv.cpp) ----
  // With APICv the register page is VMX's virtual-APIC page: the CPU reads
  // VTPR/VPPR/VISR/VIRR there and writes them in guest mode (virtual-
  // interrupt delivery 29.2.2, EOI virtualization 29.1.3, TPR
  // virtualization 29.1.2). It is a whole 4 KiB page from mk_page_alloc;
  // its host-physical address:
  u64 page_pa() const { return page_pa_; }
  u8 *page() { return page_; }  // tests (the simulated CPU writes it)
  // APICv delivery on/off (vCPU thread, not in guest mode; pi outlives
  // the Lapic's use of it). On: fixed and lowest-priority interrupts
  // accepted from now on set PIR[vector] in pi (TMR still updated in the
  // page under the lock) and call LapicHost::apic_posted() when post()
  // says so. The IRR in the page is then written only by the vCPU thread
  // outside guest mode and by the CPU in guest mode. Off: drains pi into
  // the IRR first; accept() sets IRR directly again.
  void set_apicv_active(bool on, PostedIntr *pi);
  bool apicv_active() const;
  // vCPU thread, interrupts off, before entry: PIR -> IRR (if active),
  // PPR recomputed from the page's TPR/ISR; the highest IRR vector or -1
  // (RVI, SDM 29.1.1).
  int sync_pir_to_irr();
  // The highest ISR vector or -1 (SVI).
  int highest_isr() const;
  // EOI-induced VM exit (exit reason 45, SDM 29.1.3; qualification =
  // vector): the CPU already cleared the ISR bit and updated PPR; the rest
  // of an EOI (TMR -> IOAPIC; KVM's kvm_apic_set_eoi_accelerated).
  void eoi_induced(u8 vector);
  // APIC-write VM exit (exit reason 56, trap-like, SDM 29.4.3.3;
  // qualification = page offset): the guest's 32-bit write is already in
  // the page; performs the write's side effects as through MMIO/MSR (KVM's
  // kvm_apic_write_nodecode). In x2APIC mode offset 0x300 takes the 64-bit
  // ICR as the CPU stores it (bits 63:32 at 0x304, as KVM keeps it).
  void apic_write_trap(u32 offset);
  // TPR shadow without virtual-interrupt delivery (SDM 29.1.2): the TPR
  // threshold to program (KVM's update_cr8_intercept): the priority class
  // of the highest IRR vector when TPR masks it, else 0.
  u32 tpr_threshold();
  // After an exit with the TPR shadow on: the guest may have written VTPR
  // without an exit; PPR is recomputed from it. True when a vector is now
  // deliverable (above PPR).
  bool tpr_changed();

 private:
  struct Effects;

  // The register page (first 1 KiB of a 4 KiB page, as KVM).
  u32 get(u32 off) const;
  void put(u32 off, u32 v);
  bool test_vec(u32 base, u32 vec) const;
  void set_vec(u32 base, u32 vec);
  void clear_vec(u32 base, u32 vec);
  int highest_vec(u32 base) const;

  bool hw_enabled_locked() const { return base_ & kBaseEnable; }
  bool x2apic_locked() const { return (base_ & (kBaseEnable | kBaseExtd)) == (kBaseEnable | kBaseExtd); }
  bool sw_enabled_locked() const;
  u32 xapic_id_locked() const;
  u32 nr_lvt() const { return cmci_ ? 7 : 6; }
  void set_version_locked();
  u32 update_ppr_locked();
  u32 apr_locked() const;
  bool mmio_active_locked() const;

  u32 read_locked(u32 off);
  bool readable_locked(u32 off) const;
  // A register write (xAPIC offset, 32 bits): 0, or 1 when the register
  // does not take it (#GP in x2APIC mode, ignored through MMIO).
  int write(u32 off, u32 val);
  int write_locked(u32 off, u32 val, Effects &fx);
  int write_icr64(u64 icr);
  void send_ipi_locked(u32 low, u32 dest, Effects &fx);
  void eoi_locked(Effects &fx);
  void set_spiv_locked(u32 val);
  void set_base_locked(u64 v);

  // origin: MINIKVM_ORIGIN_* of the minikvm_apic_accept tracepoint.
  int accept_locked(Delivery mode, u8 vector, bool level_assert, bool level_trig, u32 origin, Effects &fx);
  void trace_accept_locked(Delivery mode, u8 vector, bool level_trig, bool coalesced, u32 origin) const;
  void local_deliver_locked(u32 lvt, Effects &fx);
  void signal_error_locked(u32 esr_bits, Effects &fx);

  // Timer (10.5.4).
  static unsigned long long timer_callback(void *arg);
  unsigned long long timer_fired();
  void update_divide_locked();
  void update_timer_mode_locked();
  u64 clamp_period(u64 ns) const;
  void start_count_locked(u32 count_reg, Effects &fx);
  void start_deadline_locked(Effects &fx);
  // from_timer_fn: the hrtimer's expiry (counted in timer_pending_ and
  // delivered by the vCPU) rather than an ioctl's or the vCPU's own.
  void timer_expired_locked(Effects &fx, bool from_timer_fn = false);
  u32 current_count_locked() const;
  void reset_locked(bool init_event, bool bsp);

  unsigned long lock() const;
  void unlock(unsigned long flags) const;
  void timer_cancel();
  void finish(Effects &fx);

  const u32 vcpu_id_;
  const u32 trace_vm_;
  LapicHost &host_;
  ApicBus &bus_;
  void *lock_ = nullptr;
  void *timer_ = nullptr;
  u8 *page_ = nullptr;
  u64 page_pa_ = 0;
  // APICv (under lock_; apicv_ also read by accept_locked): the
  // descriptor fixed/lowest-priority interrupts are posted to.
  bool apicv_ = false;
  PostedIntr *pi_ = nullptr;
  void drain_pir_locked();
  // What the Lapic itself last stored in each 32-bit word of the register
  // page (put(), set_state). An APIC-write trap finds the guest's raw value
  // already in the page; the register's previous value, needed to make
  // the trap behave exactly as the MMIO write (which may ignore the value
  // or store something else), comes from here.
  u32 committed_[0x400 / 4] = {};

  u64 base_ = kDefaultBase | kBaseEnable;
  u64 reserved_gpa_bits_ = ~0ull << 36;
  u32 timer_mode_mask_ = 0;
  bool x2apic_supported_ = false;
  bool cmci_ = false;
  bool x2apic_format_ = false;
  bool mmio_hole_quirk_ = true;
  bool bsp_ = false;  // from reset(): INIT re-enables the BSP's LINT0 too (as KVM)

  // Errors detected since the last ESR write (10.5.3: a write latches them
  // into the ESR).
  u32 esr_pending_ = 0;
  bool init_pending_ = false;
  bool sipi_pending_ = false;
  u8 sipi_vector_ = 0;

  // Timer: mode (LVT timer bits 18:17 as allowed), divisor, period of the
  // count (ns, 1 count = divisor x 1 ns bus cycle as KVM's APIC_BUS_CYCLE_NS),
  // the absolute expiry the current count counts down to (0: none), the
  // TSC-deadline, and whether the hrtimer is (to be) armed at expires_ns_.
  u32 timer_mode_ = 0;
  u32 divide_ = 2;
  u64 period_ns_ = 0;
  u64 target_ns_ = 0;
  u64 tsc_deadline_ = 0;
  u64 expires_ns_ = 0;
  bool armed_ = false;
  u32 timer_pending_ = 0;  // expiries from the hrtimer not yet delivered (atomic)
};

}  // namespace mk::irq
