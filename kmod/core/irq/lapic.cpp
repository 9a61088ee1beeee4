// SPDX-License-Identifier: GPL-2.0
// The local APIC (Intel SDM vol. 3A chapter 10; "10.x" below). Behaviour
// follows KVM 6.1's arch/x86/kvm/lapic.c where the KVM ABI or guests can
// tell, with these differences (each one hardware's behaviour):
//  - ESR (10.5.3): illegal vectors (0-15) sent, received or raised by an
//    LVT set error bits, latched into the ESR by the next ESR write, and
//    raise the LVT error interrupt. KVM never reports errors.
//  - LVT delivery status and remote IRR are read-only (KVM lets the guest
//    write them). The timer and error LVTs always deliver in fixed mode.
//  - x2APIC: writing a non-zero value to the EOI MSR is #GP (10.12.1.2).
//  - Lowest priority: the SDM's lowest arbitration priority (apic_bus.cpp).
//  - The current count never exceeds the initial count; a TSC-deadline
//    timer never fires before the deadline (ns rounded up); no TSC-deadline
//    "timer advance" busy-wait.
#include "lapic.h"

#include <minikvm/platform.h>

#include "irq/posted.h"

#include "rt/errno.h"

namespace mk::irq {

namespace r = apic_reg;

namespace {

// LVT fields (10.5.1, figure 10-8).
constexpr u32 kLvtVector = 0xff;
constexpr u32 kLvtMode = 0x700;
constexpr u32 kLvtPolarity = 1u << 13;
constexpr u32 kLvtLevel = 1u << 15;
constexpr u32 kLvtMasked = 1u << 16;
constexpr u32 kLvtWritable = kLvtMasked | kLvtVector;
constexpr u32 kModeExtInt = 7u << 8;

// Timer modes (LVT timer bits 18:17, 10.5.4).
constexpr u32 kTimerOneShot = 0;
constexpr u32 kTimerPeriodic = 1u << 17;
constexpr u32 kTimerDeadline = 2u << 17;

// ICR (10.6.1, figure 10-12).
constexpr u32 kIcrBusy = 1u << 12;
// x2APIC ICR bits that are reserved (10.12.9): 31:20, 17:16, 13.
constexpr u64 kX2IcrReserved = 0xfff00000ull | 0x30000ull | (1ull << 13);

// ESR bits (10.5.3, figure 10-9).
constexpr u32 kEsrSendIllegal = 1u << 5;
constexpr u32 kEsrReceiveIllegal = 1u << 6;

constexpr u32 kSvrEnable = 1u << 8;
// SVR bits 9:0 (vector, enable, focus checking); bit 12 (EOI-broadcast
// suppression) only when the version register offers it, which it never
// does here: the in-kernel IOAPIC has no EOI register (KVM's reasoning).
constexpr u32 kSvrWritable = 0x3ff;

// KVM's APIC_VERSION: an integrated APIC of the Pentium 4/Xeon kind.
constexpr u32 kVersion = 0x14;

constexpr u32 kDfrFlat = 0xffffffff, kDfrCluster = 0x0fffffff;
constexpr u32 kRegBytes = sizeof(kvm_lapic_state::regs);  // 0x400
constexpr u64 kMaxExpiry = (1ull << 63) - 1;              // ktime_t is signed

constexpr u32 kX2apicBroadcast = 0xffffffff, kXapicBroadcast = 0xff;

// x2APIC logical ID (10.12.10.2): cluster (ID[19:4]) in 31:16, one bit
// for ID[3:0] in 15:0.
constexpr u32 x2apic_ldr(u32 id) { return ((id >> 4) << 16) | (1u << (id & 0xf)); }

// The LVT registers in KVM's order (its LVT_* index): timer, thermal,
// performance counter, LINT0, LINT1, error, CMCI.
constexpr u32 kLvts[] = {r::kLvtTimer, r::kLvtThermal, r::kLvtPerf, r::kLvtLint0,
                         r::kLvtLint1, r::kLvtError,   r::kLvtCmci};

u64 add_sat(u64 a, u64 b) { return a + b < a || a + b > kMaxExpiry ? kMaxExpiry : a + b; }

}  // namespace

struct Lapic::Effects {
  bool kick = false;
  bool posted = false;  // APICv: post() asked for a notification
  bool nmi = false;
  int eoi_vector = -1;
  bool eoi_level = false;
  bool send = false;
  ApicMessage msg;
  bool timer_cancelled = false;  // the caller cancelled the hrtimer: restart it if armed_
  bool timer_start = false;
  u64 timer_expires = 0;
};

Lapic::Lapic(u32 vcpu_id, LapicHost &host, ApicBus &bus, u32 trace_vm)
    : vcpu_id_(vcpu_id), trace_vm_(trace_vm), host_(host), bus_(bus) {}

Lapic::~Lapic() {
  mk_timer_free(timer_);  // cancels (waits for) a running callback first
  mk_spin_free(lock_);
  if (page_)
    mk_page_free(page_);
}

int Lapic::init() {
  unsigned long long pa;
  page_ = static_cast<u8 *>(mk_page_alloc(&pa));
  page_pa_ = pa;
  lock_ = mk_spin_new();
  timer_ = mk_timer_new(timer_callback, this);
  if (page_ && lock_ && timer_)
    return 0;
  mk_timer_free(timer_);
  mk_spin_free(lock_);
  if (page_)
    mk_page_free(page_);
  timer_ = lock_ = nullptr;
  page_ = nullptr;
  return -ENOMEM;
}

// ---- Locking and deferred work ----

unsigned long Lapic::lock() const { return mk_spin_lock_irqsave(lock_); }
void Lapic::unlock(unsigned long flags) const { mk_spin_unlock_irqrestore(lock_, flags); }

void Lapic::timer_cancel() { mk_timer_cancel(timer_); }

// Does what was collected under lock_, after releasing it.
void Lapic::finish(Effects &fx) {
  if (fx.timer_start)
    mk_timer_start(timer_, fx.timer_expires);
  if (fx.eoi_vector >= 0) {
    if (fx.eoi_level)
      host_.apic_eoi_level(static_cast<u8>(fx.eoi_vector));
    else
      host_.apic_eoi_edge(static_cast<u8>(fx.eoi_vector));
  }
  if (fx.send)
    bus_.deliver(fx.msg, this);
  if (fx.nmi)
    host_.apic_nmi();
  if (fx.kick)
    host_.apic_kick();
  else if (fx.posted)
    host_.apic_posted();
}

// ---- The register page ----

u32 Lapic::get(u32 off) const {
  u32 v;
  __builtin_memcpy(&v, page_ + off, 4);
  return v;
}
void Lapic::put(u32 off, u32 v) {
  __builtin_memcpy(page_ + off, &v, 4);
  if (off < kRegBytes)
    committed_[off >> 2] = v;
}

u32 Lapic::reg(u32 offset) const {
  if (offset > kRegBytes - 4)
    return 0;
  unsigned long f = lock();
  u32 v = get(offset);
  unlock(f);
  return v;
}

// IRR/ISR/TMR: 256 bits as eight 32-bit registers 16 bytes apart (10.8.4).
bool Lapic::test_vec(u32 base, u32 vec) const { return (get(base + (vec >> 5) * 0x10) >> (vec & 31)) & 1; }
void Lapic::set_vec(u32 base, u32 vec) {
  u32 off = base + (vec >> 5) * 0x10;
  put(off, get(off) | (1u << (vec & 31)));
}
void Lapic::clear_vec(u32 base, u32 vec) {
  u32 off = base + (vec >> 5) * 0x10;
  put(off, get(off) & ~(1u << (vec & 31)));
}
int Lapic::highest_vec(u32 base) const {
  for (int i = 7; i >= 0; i--)
    if (u32 w = get(base + i * 0x10))
      return i * 32 + 31 - __builtin_clz(w);
  return -1;
}

bool Lapic::sw_enabled_locked() const { return get(r::kSvr) & kSvrEnable; }
u32 Lapic::xapic_id_locked() const { return get(r::kId) >> 24; }

void Lapic::set_version_locked() { put(r::kVersion, kVersion | ((nr_lvt() - 1) << 16)); }

// PPR (10.8.3.1): the higher of TPR and the in-service class.
u32 Lapic::update_ppr_locked() {
  u32 tpr = get(r::kTpr) & 0xff;
  int isr = highest_vec(r::kIsr);
  u32 isrv = isr < 0 ? 0 : static_cast<u32>(isr);
  u32 ppr = (tpr & 0xf0) >= (isrv & 0xf0) ? tpr : isrv & 0xf0;
  put(r::kPpr, ppr);
  return ppr;
}

// APR (10.6.2.4, the arbitration priority register figure): TPR when its
// class is at least the highest pending and above the highest in-service
// class, else the highest of the three classes.
u32 Lapic::apr_locked() const {
  u32 tpr = get(r::kTpr) & 0xff;
  int irr = highest_vec(r::kIrr), isr = highest_vec(r::kIsr);
  u32 irrc = irr < 0 ? 0 : static_cast<u32>(irr) >> 4, isrc = isr < 0 ? 0 : static_cast<u32>(isr) >> 4;
  u32 tprc = tpr >> 4;
  if (tprc >= irrc && tprc > isrc)
    return tpr;
  u32 c = tprc > isrc ? tprc : isrc;
  return (c > irrc ? c : irrc) << 4;
}

// ---- Configuration ----

void Lapic::set_tsc_deadline_supported(bool on) {
  unsigned long f = lock();
  timer_mode_mask_ = on ? kTimerPeriodic | kTimerDeadline : kTimerPeriodic;
  set_version_locked();
  unlock(f);
}

void Lapic::set_x2apic_supported(bool on) {
  unsigned long f = lock();
  x2apic_supported_ = on;
  unlock(f);
}

void Lapic::set_maxphyaddr(u32 bits) {
  if (bits > 52 || bits < 32)
    bits = bits > 52 ? 52 : 32;
  unsigned long f = lock();
  reserved_gpa_bits_ = ~0ull << bits;
  unlock(f);
}

void Lapic::set_cmci_supported(bool on) {
  unsigned long f = lock();
  if (on && !cmci_)
    put(r::kLvtCmci, kLvtMasked);  // a new LVT entry starts masked (kvm_apic_after_set_mcg_cap)
  cmci_ = on;
  set_version_locked();
  unlock(f);
}

void Lapic::set_x2apic_format(bool on) {
  unsigned long f = lock();
  x2apic_format_ = on;
  unlock(f);
}

void Lapic::set_mmio_hole_quirk(bool on) {
  unsigned long f = lock();
  mmio_hole_quirk_ = on;
  unlock(f);
}

// ---- IA32_APIC_BASE (10.4.4, 10.12.1, 10.12.5) ----

u64 Lapic::apic_base() const {
  unsigned long f = lock();
  u64 v = base_;
  unlock(f);
  return v;
}

bool Lapic::x2apic_mode() const {
  unsigned long f = lock();
  bool v = x2apic_locked();
  unlock(f);
  return v;
}

bool Lapic::hw_enabled() const {
  unsigned long f = lock();
  bool v = hw_enabled_locked();
  unlock(f);
  return v;
}

bool Lapic::sw_enabled() const {
  unsigned long f = lock();
  bool v = sw_enabled_locked();
  unlock(f);
  return v;
}

// KVM's kvm_lapic_set_base: enabling gives the xAPIC ID back its reset
// value, entering x2APIC mode sets the x2APIC ID and its derived LDR
// (10.12.5.1). Nothing else changes: disabling keeps the registers.
void Lapic::set_base_locked(u64 v) {
  u64 old = base_;
  base_ = v;
  if (((old ^ v) & kBaseEnable) && (v & kBaseEnable))
    put(r::kId, static_cast<u32>(static_cast<u8>(vcpu_id_)) << 24);
  if (((old ^ v) & kBaseExtd) && (v & kBaseExtd)) {
    put(r::kId, vcpu_id_);
    put(r::kLdr, x2apic_ldr(vcpu_id_));
  }
}

int Lapic::set_apic_base(u64 v, bool host_initiated) {
  unsigned long f = lock();
  // Reserved: bits 7:0 and 9, address bits at and above MAXPHYADDR, EXTD
  // without x2APIC support (10.12.1 figure 10-26).
  u64 reserved = reserved_gpa_bits_ | 0x2ff | (x2apic_supported_ ? 0 : kBaseExtd);
  bool en = v & kBaseEnable, extd = v & kBaseExtd;
  bool bad = (v & reserved) || (extd && !en);  // EXTD alone is the invalid state
  if (!bad && !host_initiated) {
    // Figure 10-27: x2APIC -> xAPIC only through disabled, disabled ->
    // x2APIC only through xAPIC.
    if (x2apic_locked() && en && !extd)
      bad = true;
    if (!hw_enabled_locked() && en && extd)
      bad = true;
  }
  if (!bad)
    set_base_locked(v);
  unlock(f);
  return bad ? 1 : 0;
}

// ---- Reset and INIT (10.4.7.1, 10.4.7.3; KVM's kvm_lapic_reset) ----

void Lapic::reset_locked(bool init_event, bool bsp) {
  // The IRR is cleared below: so is what waits in PIR (KVM's kvm_lapic_reset
  // -> vmx_apicv_post_state_restore).
  if (apicv_ && pi_)
    pi_->clear();
  __atomic_store_n(&timer_pending_, 0u, __ATOMIC_RELEASE);
  if (!init_event) {
    bsp_ = bsp;
    set_base_locked(kDefaultBase | kBaseEnable | (bsp ? kBaseBsp : 0));
    // The xAPIC ID is reset even if the APIC was already enabled.
    put(r::kId, static_cast<u32>(static_cast<u8>(vcpu_id_)) << 24);
    init_pending_ = sipi_pending_ = false;
    sipi_vector_ = 0;
  }
  set_version_locked();
  for (u32 i = 0; i < nr_lvt(); i++)
    put(kLvts[i], kLvtMasked);
  // KVM_X86_QUIRK_LINT0_REENABLED (on by default): the bootstrap
  // processor's LINT0 takes the 8259's ExtINT from the start (virtual
  // wire mode, MP spec 3.6.2.2), as BIOSes expect.
  if (bsp_)
    put(r::kLvtLint0, kModeExtInt);
  put(r::kDfr, kDfrFlat);
  put(r::kSvr, 0xff);
  put(r::kTpr, 0);
  if (!x2apic_locked())
    put(r::kLdr, 0);
  put(r::kEsr, 0);
  put(r::kIcrLow, 0);
  if (x2apic_locked())
    put(r::kIcrLow + 4, 0);  // the x2APIC ICR is one 64-bit register (as KVM keeps it)
  else
    put(r::kIcrHigh, 0);
  put(r::kTimerDivide, 0);
  put(r::kTimerInitial, 0);
  for (u32 i = 0; i < 8; i++) {
    put(r::kIrr + i * 0x10, 0);
    put(r::kIsr + i * 0x10, 0);
    put(r::kTmr + i * 0x10, 0);
  }
  esr_pending_ = 0;
  timer_mode_ = kTimerOneShot;
  armed_ = false;
  period_ns_ = target_ns_ = tsc_deadline_ = expires_ns_ = 0;
  update_divide_locked();
  update_ppr_locked();
}

void Lapic::reset(bool bsp) {
  timer_cancel();
  Effects fx;
  unsigned long f = lock();
  reset_locked(false, bsp);
  unlock(f);
  finish(fx);
}

void Lapic::init_signal() {
  timer_cancel();
  Effects fx;
  unsigned long f = lock();
  reset_locked(true, bsp_);
  unlock(f);
  finish(fx);
}

// ---- Register reads ----

// KVM's valid-register mask for reads (kvm_lapic_reg_read): reserved
// offsets, EOI, RRD and SELF IPI are not readable; ARBPRI and ICR2 only in
// xAPIC mode.
bool Lapic::readable_locked(u32 off) const {
  if (off > r::kSelfIpi)
    return false;
  if (off >= r::kIsr && off < r::kIrr + 0x80)
    return true;  // ISR, TMR, IRR
  switch (off) {
    case r::kId: case r::kVersion: case r::kTpr: case r::kPpr: case r::kLdr: case r::kDfr:
    case r::kSvr: case r::kEsr: case r::kIcrLow: case r::kLvtTimer: case r::kLvtThermal:
    case r::kLvtPerf: case r::kLvtLint0: case r::kLvtLint1: case r::kLvtError:
    case r::kTimerInitial: case r::kTimerCurrent: case r::kTimerDivide:
      return true;
    case r::kLvtCmci:
      return cmci_;
    case r::kApr: case r::kIcrHigh:
      return !x2apic_locked();
    default:
      return false;
  }
}

u32 Lapic::read_locked(u32 off) {
  switch (off) {
    case r::kApr:
      return 0;  // KVM reads ARBPRI as 0
    case r::kTimerCurrent:
      return current_count_locked();
    case r::kPpr:
      return update_ppr_locked();
    default:
      return get(off);
  }
}

bool Lapic::mmio_active_locked() const { return hw_enabled_locked() && !x2apic_locked(); }

bool Lapic::mmio_covers(u64 gpa) const {
  unsigned long f = lock();
  u64 page = base_ & ~0xfffull;
  bool in = gpa >= page && gpa - page < kPageSize && (mmio_hole_quirk_ || mmio_active_locked());
  unlock(f);
  return in;
}

int Lapic::mmio_read(u64 gpa, u32 len, void *val) {
  auto *out = static_cast<u8 *>(val);
  unsigned long f = lock();
  u64 page = base_ & ~0xfffull;
  if (gpa < page || gpa - page >= kPageSize || (!mmio_hole_quirk_ && !mmio_active_locked())) {
    unlock(f);
    return -EOPNOTSUPP;
  }
  if (!mmio_active_locked()) {
    // The MMIO hole: disabled or x2APIC, the page reads all ones (10.12.2).
    unlock(f);
    for (u32 i = 0; i < len; i++)
      out[i] = 0xff;
    return 0;
  }
  u32 off = static_cast<u32>(gpa - page), align = off & 0xf;
  u32 v = 0;
  // 10.4.1: registers are 32 bits wide in 16-byte slots. KVM serves 1-, 2-
  // and 4-byte reads within a slot's first 4 bytes; anything else reads 0.
  bool ok = (len == 1 || len == 2 || len == 4) && align + len <= 4 && readable_locked(off & ~0xfu);
  if (ok)
    v = read_locked(off & ~0xfu);
  unlock(f);
  for (u32 i = 0; i < len; i++)
    out[i] = ok ? static_cast<u8>(v >> (8 * (align + i))) : 0;
  return 0;
}

// ---- Register writes ----

int Lapic::mmio_write(u64 gpa, u32 len, const void *val) {
  unsigned long f = lock();
  u64 page = base_ & ~0xfffull;
  bool in = gpa >= page && gpa - page < kPageSize;
  bool active = mmio_active_locked(), hole = mmio_hole_quirk_;
  unlock(f);
  if (!in || (!active && !hole))
    return -EOPNOTSUPP;
  u32 off = static_cast<u32>(gpa - page);
  // Disabled/x2APIC: the hole drops the write. Only aligned 32-bit stores
  // reach a register (10.4.1; KVM drops the others).
  if (!active || len != 4 || (off & 0xf))
    return 0;
  u32 v;
  __builtin_memcpy(&v, val, 4);
  write(off, v);  // no #GP through MMIO: a register that refuses just ignores it
  return 0;
}

int Lapic::write(u32 off, u32 val) {
  Effects fx;
  // Timer registers: cancel first (the callback takes lock_), restart after.
  if (off == r::kLvtTimer || off == r::kTimerInitial || off == r::kTimerDivide) {
    timer_cancel();
    fx.timer_cancelled = true;
  }
  unsigned long f = lock();
  int ret = write_locked(off, val, fx);
  if (fx.timer_cancelled && armed_) {
    fx.timer_start = true;
    fx.timer_expires = expires_ns_;
  }
  unlock(f);
  finish(fx);
  return ret;
}

void Lapic::set_spiv_locked(u32 val) { put(r::kSvr, val & kSvrWritable); }

// KVM's kvm_lapic_reg_write.
int Lapic::write_locked(u32 off, u32 val, Effects &fx) {
  bool x2 = x2apic_locked();
  switch (off) {
    case r::kId:
      if (x2)
        return 1;  // read-only in x2APIC mode
      put(r::kId, val & 0xff000000);
      return 0;
    case r::kTpr:
      put(r::kTpr, val & 0xff);
      update_ppr_locked();
      return 0;
    case r::kEoi:
      if (x2 && val)
        return 1;  // 10.12.1.2: only 0 may be written to the x2APIC EOI
      eoi_locked(fx);
      return 0;
    case r::kLdr:
      if (x2)
        return 1;  // derived from the x2APIC ID, read-only (10.12.10.2)
      put(r::kLdr, val & 0xff000000);
      return 0;
    case r::kDfr:
      if (x2)
        return 1;  // no DFR in x2APIC mode
      put(r::kDfr, val | 0x0fffffff);  // model in 31:28, the rest reads 1s (10.6.2.2)
      return 0;
    case r::kSvr:
      set_spiv_locked(val);
      if (!(val & kSvrEnable)) {
        // 10.4.7.2: software-disabled, every LVT is masked (and stays so).
        for (u32 i = 0; i < nr_lvt(); i++)
          put(kLvts[i], get(kLvts[i]) | kLvtMasked);
      }
      return 0;
    case r::kEsr:
      if (x2 && val)
        return 1;
      // 10.5.3: a write latches the errors seen since the previous write.
      put(r::kEsr, esr_pending_);
      esr_pending_ = 0;
      return 0;
    case r::kIcrLow:
      if (x2)
        return 1;  // the 64-bit MSR (write_icr64) in x2APIC mode
      // Delivery is immediate: the delivery status (busy) bit reads 0.
      val &= ~kIcrBusy;
      put(r::kIcrLow, val);
      send_ipi_locked(val, get(r::kIcrHigh), fx);
      return 0;
    case r::kIcrHigh:
      if (x2)
        return 1;
      put(r::kIcrHigh, val & 0xff000000);
      return 0;
    case r::kLvtThermal:
    case r::kLvtPerf:
    case r::kLvtLint0:
    case r::kLvtLint1:
    case r::kLvtError:
    case r::kLvtCmci: {
      if (off == r::kLvtCmci && !cmci_)
        return 1;
      u32 mask = kLvtWritable;
      if (off != r::kLvtError)
        mask |= kLvtMode;
      if (off == r::kLvtLint0 || off == r::kLvtLint1)
        mask |= kLvtPolarity | kLvtLevel;
      if (!sw_enabled_locked())
        val |= kLvtMasked;
      put(off, val & mask);
      return 0;
    }
    case r::kLvtTimer:
      if (!sw_enabled_locked())
        val |= kLvtMasked;
      put(r::kLvtTimer, val & (kLvtWritable | timer_mode_mask_));
      update_timer_mode_locked();
      return 0;
    case r::kTimerInitial:
      if (timer_mode_ == kTimerDeadline)
        return 0;  // 10.5.4.1: ignored in TSC-deadline mode
      put(r::kTimerInitial, val);
      __atomic_store_n(&timer_pending_, 0u, __ATOMIC_RELEASE);  // KVM's cancel_apic_timer
      start_count_locked(r::kTimerInitial, fx);
      return 0;
    case r::kTimerDivide: {
      u32 old = divide_;
      put(r::kTimerDivide, val & 0xb);
      update_divide_locked();
      // A new divisor stretches what is left of the running count (KVM's
      // update_target_expiration).
      if (divide_ != old && period_ns_) {
        period_ns_ = clamp_period(static_cast<u64>(get(r::kTimerInitial)) * divide_);
        if (armed_ && timer_mode_ != kTimerDeadline) {
          u64 now = mk_now_ns();
          u64 left = target_ns_ > now ? target_ns_ - now : 0;
          target_ns_ = now + left / old * divide_ + left % old * divide_ / old;
          expires_ns_ = target_ns_;
        }
      }
      return 0;
    }
    case r::kSelfIpi:
      // 10.12.11: x2APIC only, vector in 7:0, the rest reserved.
      if (!x2 || (val & ~0xffu))
        return 1;
      send_ipi_locked(val | (static_cast<u32>(Shorthand::kSelf) << 18), 0, fx);
      return 0;
    default:
      return 1;  // read-only or reserved
  }
}

int Lapic::write_icr64(u64 icr) {
  Effects fx;
  unsigned long f = lock();
  int ret = 1;
  if (x2apic_locked() && !(icr & kX2IcrReserved)) {
    icr &= ~static_cast<u64>(kIcrBusy);
    // As KVM on VMX: one 64-bit register at 0x300 (0x304 the destination).
    put(r::kIcrLow, static_cast<u32>(icr));
    put(r::kIcrLow + 4, static_cast<u32>(icr >> 32));
    send_ipi_locked(static_cast<u32>(icr), static_cast<u32>(icr >> 32), fx);
    ret = 0;
  }
  unlock(f);
  finish(fx);
  return ret;
}

// 10.6.1: the ICR as a message. xAPIC destinations are ICR bits 63:56.
void Lapic::send_ipi_locked(u32 low, u32 high, Effects &fx) {
  ApicMessage m;
  m.vector = static_cast<u8>(low);
  m.delivery = static_cast<Delivery>((low >> 8) & 7);
  m.logical = low & (1u << 11);
  m.level_assert = low & (1u << 14);
  m.level_triggered = low & (1u << 15);
  m.shorthand = static_cast<Shorthand>((low >> 18) & 3);
  m.dest = x2apic_locked() ? high : high >> 24;
  m.origin = MINIKVM_ORIGIN_IPI;
  // Every ICR write (xAPIC ICR low, the x2APIC ICR MSR, their APIC-write
  // traps) and x2APIC SELF IPI write sends from here, as KVM's
  // kvm_apic_send_ipi (kvm_apic_ipi), illegal vectors included.
  if (mk_trace_on[MK_TP_IPI])
    mk_trace_ipi(trace_vm_, vcpu_id_, low, m.dest);
  if ((m.delivery == Delivery::kFixed || m.delivery == Delivery::kLowestPriority) && m.vector < 16) {
    signal_error_locked(kEsrSendIllegal, fx);  // 10.5.3: not sent
    return;
  }
  fx.send = true;
  fx.msg = m;
}

// 10.8.5: EOI retires the highest in-service vector; a level-triggered one
// (TMR set) is broadcast to the IOAPIC. Suppression (SVR bit 12) is never
// offered, so it always is.
void Lapic::eoi_locked(Effects &fx) {
  int v = highest_vec(r::kIsr);
  if (v < 0) {
    // An EOI with nothing in service changes nothing but is still one the
    // guest wrote (minikvm_eoi: vector 0, as KVM's kvm_eoi of an empty ISR).
    if (mk_trace_on[MK_TP_EOI])
      mk_trace_eoi(trace_vm_, vcpu_id_, 0, 0);
    return;
  }
  clear_vec(r::kIsr, static_cast<u32>(v));
  update_ppr_locked();
  // The vCPU itself wrote the EOI: it re-evaluates pending vectors before
  // its next entry, no kick needed.
  fx.eoi_vector = v;
  fx.eoi_level = test_vec(r::kTmr, static_cast<u32>(v));
  if (mk_trace_on[MK_TP_EOI])
    mk_trace_eoi(trace_vm_, vcpu_id_, static_cast<u8>(v), fx.eoi_level);
}

// ---- MSRs ----

int Lapic::read_msr(u32 msr, u64 *val) {
  if (msr == 0x6e0) {
    unsigned long f = lock();
    *val = hw_enabled_locked() && timer_mode_ == kTimerDeadline ? tsc_deadline_ : 0;
    unlock(f);
    return 0;
  }
  if (msr < 0x800 || msr > 0x8ff)
    return 1;
  u32 off = (msr - 0x800) << 4;
  unsigned long f = lock();
  int ret = 1;
  if (x2apic_locked()) {
    if (off == r::kIcrLow) {
      *val = get(r::kIcrLow) | static_cast<u64>(get(r::kIcrLow + 4)) << 32;
      ret = 0;
    } else if (off != r::kDfr && readable_locked(off)) {
      *val = read_locked(off);
      ret = 0;
    }
  }
  unlock(f);
  return ret;
}

int Lapic::write_msr(u32 msr, u64 val) {
  if (msr == 0x6e0) {
    // 10.5.4.1: arms (0 disarms) the TSC-deadline timer; ignored in other
    // modes (KVM's kvm_set_lapic_tscdeadline_msr).
    timer_cancel();
    Effects fx;
    fx.timer_cancelled = true;
    unsigned long f = lock();
    if (hw_enabled_locked() && timer_mode_ == kTimerDeadline) {
      tsc_deadline_ = val;
      start_deadline_locked(fx);
    }
    if (armed_) {
      fx.timer_start = true;
      fx.timer_expires = expires_ns_;
    }
    unlock(f);
    finish(fx);
    return 0;
  }
  if (msr < 0x800 || msr > 0x8ff)
    return 1;
  u32 off = (msr - 0x800) << 4;
  if (off == r::kIcrLow)
    return write_icr64(val);
  if (val >> 32)
    return 1;  // bits 63:32 are reserved in all other registers
  if (!x2apic_mode())
    return 1;
  // x2apic_mode() was checked unlocked: only the vCPU itself changes the
  // mode, and it is here. write_locked() checks again under the lock.
  return write(off, static_cast<u32>(val));
}

// ---- CR8 (10.8.6.1) ----

u64 Lapic::cr8() const {
  unsigned long f = lock();
  u64 v = (get(r::kTpr) >> 4) & 0xf;
  unlock(f);
  return v;
}

void Lapic::set_cr8(u64 v) {
  unsigned long f = lock();
  put(r::kTpr, static_cast<u32>(v & 0xf) << 4);
  update_ppr_locked();
  unlock(f);
}

// ---- Delivery to the processor (10.8.3, 10.8.4) ----

int Lapic::pending_vector() {
  unsigned long f = lock();
  int v = -1;
  // APICv: what senders posted counts too (KVM's kvm_cpu_has_interrupt
  // syncs PIR first); the vCPU thread calls this outside guest mode.
  drain_pir_locked();
  if (hw_enabled_locked()) {
    u32 ppr = update_ppr_locked();
    int irr = highest_vec(r::kIrr);
    if (irr >= 0 && (static_cast<u32>(irr) & 0xf0) > ppr)
      v = irr;
  }
  unlock(f);
  return v;
}

void Lapic::acknowledge(u8 vector) {
  unsigned long f = lock();
  clear_vec(r::kIrr, vector);
  set_vec(r::kIsr, vector);
  update_ppr_locked();
  unlock(f);
}

bool Lapic::accepts_pic_intr() const {
  unsigned long f = lock();
  u32 lint0 = get(r::kLvtLint0);
  bool v = !hw_enabled_locked() || (!(lint0 & kLvtMasked) && (lint0 & kLvtMode) == kModeExtInt);
  unlock(f);
  return v;
}

bool Lapic::has_init_or_sipi() const {
  unsigned long f = lock();
  bool v = init_pending_ || sipi_pending_;
  unlock(f);
  return v;
}

bool Lapic::take_init() {
  unsigned long f = lock();
  bool v = init_pending_;
  init_pending_ = false;
  unlock(f);
  return v;
}

bool Lapic::take_sipi(u8 *vector) {
  unsigned long f = lock();
  bool v = sipi_pending_;
  sipi_pending_ = false;
  if (v)
    *vector = sipi_vector_;
  unlock(f);
  return v;
}

// ---- The APIC bus side ----

// KVM's kvm_apic_match_dest, kvm_apic_match_physical_addr/_logical_addr.
bool Lapic::matches(const ApicMessage &m, const Lapic *source) const {
  unsigned long f = lock();
  bool hit = false;
  if (hw_enabled_locked()) {  // a globally disabled APIC is not on the bus (10.4.3)
    bool x2 = x2apic_locked();
    switch (m.shorthand) {
      case Shorthand::kSelf:
        hit = this == source;
        break;
      case Shorthand::kAllIncludingSelf:
        hit = true;
        break;
      case Shorthand::kAllExcludingSelf:
        hit = this != source;
        break;
      case Shorthand::kNone: {
        u32 mda = m.dest;
        // KVM's broadcast quirk: without interrupt remapping an IOAPIC or
        // MSI broadcast (0xff) must reach x2APIC-mode CPUs too.
        if (!source && mda == kXapicBroadcast && x2)
          mda = kX2apicBroadcast;
        if (mda == (x2 ? kX2apicBroadcast : kXapicBroadcast)) {
          hit = true;
        } else if (!m.logical) {
          // 10.6.2.1. KVM's hotplug quirk: an xAPIC-mode CPU answers to its
          // x2APIC ID when the destination does not fit 8 bits.
          hit = x2 || mda > 0xff ? mda == vcpu_id_ : mda == xapic_id_locked();
        } else if (x2) {
          // 10.12.10.2: cluster in 31:16, a bit mask of 16 CPUs in 15:0.
          u32 ldr = get(r::kLdr);
          hit = (ldr >> 16) == (mda >> 16) && (ldr & mda & 0xffff);
        } else {
          // 10.6.2.2: flat (8-bit mask) or cluster (cluster in 7:4, mask in 3:0).
          u32 lid = get(r::kLdr) >> 24;
          u32 dfr = get(r::kDfr);
          if (dfr == kDfrFlat)
            hit = lid & mda;
          else if (dfr == kDfrCluster)
            hit = (lid >> 4) == (mda >> 4) && (lid & mda & 0xf);
        }
        break;
      }
    }
  }
  unlock(f);
  return hit;
}

int Lapic::accept(const ApicMessage &m) {
  Effects fx;
  unsigned long f = lock();
  int ret = accept_locked(m.delivery, m.vector, m.level_assert, m.level_triggered, m.origin, fx);
  unlock(f);
  finish(fx);
  return ret;
}

// minikvm_apic_accept for an interrupt accept_locked() took.
void Lapic::trace_accept_locked(Delivery mode, u8 vector, bool level_trig, bool coalesced, u32 origin) const {
  u32 apic_id = x2apic_locked() ? vcpu_id_ : xapic_id_locked();
  mk_trace_apic_accept(trace_vm_, vcpu_id_, apic_id, vector, static_cast<u8>(mode), level_trig, coalesced, origin);
}

// KVM's __apic_accept_irq.
int Lapic::accept_locked(Delivery mode, u8 vector, bool level_assert, bool level_trig, u32 origin, Effects &fx) {
  switch (mode) {
    case Delivery::kFixed:
    case Delivery::kLowestPriority:
      if (level_trig && !level_assert)
        return 0;
      // 10.4.7.2: a software-disabled APIC takes no fixed interrupts.
      if (!hw_enabled_locked() || !sw_enabled_locked())
        return 0;
      if (vector < 16) {
        signal_error_locked(kEsrReceiveIllegal, fx);
        return 0;
      }
      // 10.8.4: TMR records the trigger mode for the EOI.
      if (level_trig)
        set_vec(r::kTmr, vector);
      else
        clear_vec(r::kTmr, vector);
      if (mk_trace_on[MK_TP_APIC_ACCEPT]) {
        // Coalesced: already pending, in IRR or (APICv) still in PIR; the
        // IRR bit read while the CPU may update the virtual-APIC page is a
        // snapshot, good enough for a trace.
        bool pending = test_vec(r::kIrr, vector) || (apicv_ && pi_ && pi_->pir_test(vector));
        trace_accept_locked(mode, vector, level_trig, pending, origin);
      }
      if (apicv_ && pi_) {
        // APICv (KVM's vmx_deliver_interrupt): the vector goes to PIR, the
        // vCPU or the CPU moves it into the IRR; IRR is not ours to write
        // while the vCPU may be in guest mode.
        if (pi_->post(vector))
          fx.posted = true;
        return 1;
      }
      set_vec(r::kIrr, vector);
      fx.kick = true;
      return 1;
    case Delivery::kNmi:
      if (mk_trace_on[MK_TP_APIC_ACCEPT])
        trace_accept_locked(mode, vector, level_trig, false, origin);
      fx.nmi = true;
      return 1;
    case Delivery::kInit:
      if (level_trig && !level_assert)
        return 0;  // INIT level de-assert: arbitration ID sync, nothing here
      if (mk_trace_on[MK_TP_APIC_ACCEPT])
        trace_accept_locked(mode, vector, level_trig, init_pending_, origin);
      init_pending_ = true;
      sipi_pending_ = false;  // as KVM: INIT supersedes an earlier SIPI
      fx.kick = true;
      return 1;
    case Delivery::kStartup:
      if (mk_trace_on[MK_TP_APIC_ACCEPT])
        trace_accept_locked(mode, vector, level_trig, sipi_pending_, origin);
      sipi_vector_ = vector;
      sipi_pending_ = true;
      fx.kick = true;
      return 1;
    default:
      // SMI (no SMM here), ExtINT (the PIC's, via accepts_pic_intr()) and
      // the reserved modes 3 are refused.
      return 0;
  }
}

// 10.5.1: an LVT entry raises its interrupt locally (KVM's
// kvm_apic_local_deliver). The timer and error LVTs have no delivery mode.
void Lapic::local_deliver_locked(u32 lvt, Effects &fx) {
  u32 v = get(lvt);
  if (!hw_enabled_locked() || (v & kLvtMasked))
    return;
  u32 mode = (lvt == r::kLvtTimer || lvt == r::kLvtError) ? 0 : (v & kLvtMode) >> 8;
  u8 vector = static_cast<u8>(v & kLvtVector);
  if (lvt == r::kLvtError && vector < 16 && mode == 0) {
    // An illegal error vector is an error itself; do not recurse.
    esr_pending_ |= kEsrReceiveIllegal;
    return;
  }
  u32 origin = lvt == r::kLvtTimer ? MINIKVM_ORIGIN_TIMER : MINIKVM_ORIGIN_LVT;
  accept_locked(static_cast<Delivery>(mode), vector, true, v & kLvtLevel, origin, fx);
}

void Lapic::signal_error_locked(u32 esr_bits, Effects &fx) {
  esr_pending_ |= esr_bits;
  local_deliver_locked(r::kLvtError, fx);
}

u32 Lapic::priority_for_arbitration() const {
  unsigned long f = lock();
  u32 v = apr_locked();
  unlock(f);
  return v;
}

u32 Lapic::id() const {
  unsigned long f = lock();
  u32 v = x2apic_locked() ? vcpu_id_ : xapic_id_locked();
  unlock(f);
  return v;
}

// ---- Timer (10.5.4) ----

// Divide configuration (figure 10-10): bits 3, 1:0; 111b is divide by 1.
void Lapic::update_divide_locked() {
  u32 dcr = get(r::kTimerDivide);
  u32 code = ((dcr & 3) | ((dcr & 8) >> 1)) + 1;
  divide_ = 1u << (code & 7);
}

// KVM's apic_update_lvtt: the mode follows the LVT; moving into or out of
// TSC-deadline mode stops the timer and clears the count (10.5.4.1).
void Lapic::update_timer_mode_locked() {
  u32 mode = get(r::kLvtTimer) & timer_mode_mask_;
  if (mode == timer_mode_)
    return;
  if ((timer_mode_ == kTimerDeadline) != (mode == kTimerDeadline)) {
    armed_ = false;
    put(r::kTimerInitial, 0);
    period_ns_ = target_ns_ = tsc_deadline_ = 0;
  }
  timer_mode_ = mode;
  period_ns_ = clamp_period(period_ns_);
}

u64 Lapic::clamp_period(u64 ns) const {
  return timer_mode_ == kTimerPeriodic && ns && ns < kMinPeriodNs ? kMinPeriodNs : ns;
}

// Starts a one-shot/periodic count from the initial count, or (KVM_SET_LAPIC)
// from the current count (KVM's __start_apic_timer/set_target_expiration).
void Lapic::start_count_locked(u32 count_reg, Effects &fx) {
  armed_ = false;
  if (timer_mode_ == kTimerDeadline) {
    period_ns_ = target_ns_ = 0;  // no count in this mode
    start_deadline_locked(fx);
    return;
  }
  period_ns_ = clamp_period(static_cast<u64>(get(r::kTimerInitial)) * divide_);
  target_ns_ = 0;
  if (!period_ns_ || (timer_mode_ != kTimerOneShot && timer_mode_ != kTimerPeriodic))
    return;
  u64 first = period_ns_;
  if (count_reg == r::kTimerCurrent) {
    u64 ns = static_cast<u64>(get(r::kTimerCurrent)) * divide_;
    if (!ns)
      first = timer_mode_ == kTimerPeriodic ? period_ns_ : 0;  // fires at once, as KVM
    else if (ns < period_ns_)
      first = ns;
  }
  target_ns_ = mk_now_ns() + first;
  expires_ns_ = target_ns_;
  armed_ = true;
}

// KVM's start_sw_tscdeadline: the deadline in guest TSC ticks becomes an
// hrtimer expiry; a deadline already passed fires now.
void Lapic::start_deadline_locked(Effects &fx) {
  armed_ = false;
  u64 khz = mk_tsc_khz();
  if (!tsc_deadline_ || !khz)
    return;
  u64 now = mk_now_ns();
  u64 tsc = host_.apic_guest_tsc();  // a pure read: allowed under lock_
  if (tsc_deadline_ <= tsc) {
    timer_expired_locked(fx);
    return;
  }
  // ns = ceil(delta * 10^6 / khz) without overflow (or 128-bit division).
  u64 delta = tsc_deadline_ - tsc, q = delta / khz, rem = delta % khz;
  u64 ns = q > kMaxExpiry / 1'000'000 ? kMaxExpiry : q * 1'000'000 + (rem * 1'000'000 + khz - 1) / khz;
  expires_ns_ = add_sat(now, ns);
  armed_ = true;
}

// The count reached 0 / the deadline passed: raise the LVT timer
// interrupt (KVM's kvm_apic_inject_pending_timer_irqs).
void Lapic::timer_expired_locked(Effects &fx, bool from_timer_fn) {
  if (from_timer_fn) {
    __atomic_fetch_add(&timer_pending_, 1u, __ATOMIC_RELEASE);
    fx.kick = true;
  } else {
    local_deliver_locked(r::kLvtTimer, fx);
  }
  if (timer_mode_ == kTimerDeadline)
    tsc_deadline_ = 0;  // 10.5.4.1: the MSR reads 0 once the timer fired
  else if (timer_mode_ != kTimerPeriodic)
    target_ns_ = 0;  // one-shot: the current count stays 0
}

// 10.5.4: counts down at bus clock / divisor, reloads in periodic mode.
u32 Lapic::current_count_locked() const {
  u32 initial = get(r::kTimerInitial);
  if (timer_mode_ == kTimerDeadline || !initial || !period_ns_ || !target_ns_)
    return 0;
  u64 now = mk_now_ns();
  u64 left = target_ns_ > now ? target_ns_ - now : 0;
  if (left > period_ns_)
    left %= period_ns_;
  u64 count = left / divide_;
  return count > initial ? initial : static_cast<u32>(count);
}

unsigned long long Lapic::timer_callback(void *arg) { return static_cast<Lapic *>(arg)->timer_fired(); }

// The hrtimer expired (hard-irq context). A firing that finds the timer
// reprogrammed to a later expiry just waits for that one.
unsigned long long Lapic::timer_fired() {
  Effects fx;
  u64 next = 0;
  unsigned long f = lock();
  if (armed_) {
    u64 now = mk_now_ns();
    if (now < expires_ns_) {
      next = expires_ns_;
    } else {
      timer_expired_locked(fx, true);
      if (timer_mode_ == kTimerPeriodic && period_ns_) {
        // As KVM: after a long stall, one interrupt and a fresh period,
        // no catching up.
        target_ns_ += period_ns_;
        if (target_ns_ < now)
          target_ns_ = now;
        expires_ns_ = target_ns_;
        next = expires_ns_;
      } else {
        armed_ = false;
      }
    }
  }
  unlock(f);
  finish(fx);  // kicks only: no timer, bus or EOI work comes from here
  return next;
}

void Lapic::inject_pending_timer() {
  if (!__atomic_load_n(&timer_pending_, __ATOMIC_ACQUIRE))
    return;
  Effects fx;
  unsigned long f = lock();
  // Under the lock: an initial-count write that dropped the expiry (and
  // cleared the count under the same lock) is not undone here.
  if (__atomic_exchange_n(&timer_pending_, 0u, __ATOMIC_ACQ_REL))
    local_deliver_locked(r::kLvtTimer, fx);
  unlock(f);
  finish(fx);
}

// ---- KVM_GET_LAPIC / KVM_SET_LAPIC ----

void Lapic::get_state(kvm_lapic_state *out) {
  unsigned long f = lock();
  drain_pir_locked();  // KVM_GET_LAPIC: kvm_apic_get_state syncs PIR first
  __builtin_memcpy(out->regs, page_, kRegBytes);
  u32 count = current_count_locked();
  __builtin_memcpy(out->regs + r::kTimerCurrent, &count, 4);
  if (x2apic_locked()) {
    u32 id = get(r::kId);
    if (!x2apic_format_)
      id <<= 24;
    __builtin_memcpy(out->regs + r::kId, &id, 4);
    // ICR bits 63:32 where userspace expects ICR2.
    u32 hi = get(r::kIcrLow + 4);
    __builtin_memcpy(out->regs + r::kIcrHigh, &hi, 4);
  }
  unlock(f);
}

int Lapic::set_state(const kvm_lapic_state &in) {
  timer_cancel();
  Effects fx;
  fx.timer_cancelled = true;
  unsigned long f = lock();
  int ret = 0;
  u32 id, icr_hi;
  __builtin_memcpy(&id, in.regs + r::kId, 4);
  __builtin_memcpy(&icr_hi, in.regs + r::kIcrHigh, 4);
  if (x2apic_locked() && x2apic_format_ && id != vcpu_id_) {
    ret = -EINVAL;
  } else {
    // The new IRR replaces what was posted (vmx_apicv_post_state_restore).
    if (apicv_ && pi_)
      pi_->clear();
    __atomic_store_n(&timer_pending_, 0u, __ATOMIC_RELEASE);  // the timer restarts below
    __builtin_memcpy(page_, in.regs, kRegBytes);
    __builtin_memcpy(committed_, in.regs, kRegBytes);
    if (x2apic_locked()) {
      // KVM's kvm_apic_state_fixup: the ID as userspace gives it, the LDR
      // derived from it, ICR2 folded into the 64-bit ICR.
      if (!x2apic_format_)
        id >>= 24;
      put(r::kId, id);
      put(r::kLdr, x2apic_ldr(id));
      put(r::kIcrLow + 4, icr_hi);
    }
    set_version_locked();
    update_ppr_locked();
    esr_pending_ = 0;
    // The timer from the restored registers: the mode from the LVT (a
    // TSC-deadline kept only if it stays in that mode, to be restored
    // through IA32_TSC_DEADLINE), then counting from the current count.
    u32 mode = get(r::kLvtTimer) & timer_mode_mask_;
    if ((mode == kTimerDeadline) != (timer_mode_ == kTimerDeadline))
      tsc_deadline_ = 0;
    timer_mode_ = mode;
    update_divide_locked();
    start_count_locked(r::kTimerCurrent, fx);
    put(r::kTimerCurrent, 0);
    fx.kick = true;  // interrupts may be pending (KVM_REQ_EVENT)
  }
  if (armed_) {
    fx.timer_start = true;
    fx.timer_expires = expires_ns_;
  }
  unlock(f);
  finish(fx);
  return ret;
}

}  // namespace mk::irq
