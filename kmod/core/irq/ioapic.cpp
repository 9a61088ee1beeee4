// SPDX-License-Identifier: GPL-2.0
// The 82093AA I/O APIC model. KVM (arch/x86/kvm/ioapic.c, 6.1) is the
// reference for every guest- and userspace-visible answer; bhyve's
// vioapic.c for the shape. The one structural difference: KVM calls
// kvm_irq_delivery_to_apic() with the IOAPIC lock held, here the message
// is sent to ApicBus::deliver() after the lock is dropped (irq.h: a device
// never calls out under its own lock), and Remote IRR is set before the
// send and taken back afterwards if no LAPIC accepted the message.
#include "irq/ioapic.h"

#include <minikvm/platform.h>

#include "rt/errno.h"
#include "rt/spinlock.h"

namespace mk::irq {

// One message to send once the lock is dropped.
struct Ioapic::Pending {
  u32 pin;
  u32 serial;  // remote_irr_serial[pin] when Remote IRR was set (level only)
  bool level;
  ApicMessage msg;
  int ret;
};

// Every path queues at most one message per pin.
struct Ioapic::Batch {
  u32 n = 0;
  Pending p[kPins];
  bool table_changed = false;  // a vector or trigger mode changed (EOI-exit bitmap)
};

namespace {

constexpr u32 bit(u32 pin) { return 1u << pin; }

// set_irq_locked(): a message waits in the batch (not a KVM result).
constexpr int kQueued = -1000;

using Locked = SpinGuard;

}  // namespace

Ioapic::Ioapic(ApicBus &bus, u32 trace_vm) : bus_(bus), trace_vm_(trace_vm) {}

Ioapic::~Ioapic() {
  // mk_timer_free() waits for a running callback, which takes lock_: it
  // must go first, and with no lock held.
  if (storm_timer_)
    mk_timer_free(storm_timer_);
  if (lock_)
    mk_spin_free(lock_);
}

int Ioapic::init() {
  if (!lock_)
    lock_ = mk_spin_new();
  if (!lock_)
    return -ENOMEM;
  if (!storm_timer_)
    storm_timer_ = mk_timer_new(&Ioapic::storm_timer_fn, this);
  if (!storm_timer_)
    return -ENOMEM;
  s_ = State{};
  reset_locked();  // nobody else can see the device yet
  return 0;
}

// kvm_ioapic_reset() on a zeroed kvm_ioapic: what the 82093AA datasheet
// gives for RESET (3.2.4: "all the mask bits are set to 1"; the other
// fields are undefined there, 0 in KVM).
void Ioapic::reset_locked() {
  for (u32 i = 0; i < kPins; i++) {
    s_.redirtbl[i] = kMasked;
    s_.irq_eoi[i] = 0;
    s_.remote_irr_serial[i]++;
  }
  s_.base_address = kBase;
  s_.ioregsel = 0;
  s_.id = 0;
  s_.irr = 0;
  s_.pad = 0;
  s_.irr_delivered = 0;
  s_.storm_armed = false;
}

void Ioapic::set_observer(IoapicObserver *o) { observer_ = o; }

void Ioapic::set_table_hook(void (*fn)(void *arg), void *arg) {
  table_hook_ = fn;
  table_hook_arg_ = arg;
}

void Ioapic::table_changed() {
  if (table_hook_)
    table_hook_(table_hook_arg_);
}

void Ioapic::eoi_exit_vectors(u64 out[4], u32 listened_pins) {
  Locked l(lock_);
  for (u32 i = 0; i < kPins; i++) {
    u64 e = s_.redirtbl[i];
    if ((e & kTriggerLevel) || i == kRtcPin || (listened_pins & bit(i))) {
      u32 v = static_cast<u32>(e & kVectorMask);
      out[v >> 6] |= 1ull << (v & 63);
    }
  }
}

void Ioapic::reset() {
  mk_timer_cancel(storm_timer_);
  {
    Locked l(lock_);
    reset_locked();
  }
  table_changed();
}

u64 Ioapic::redirection_entry(u32 pin) {
  if (pin >= kPins)
    return 0;
  Locked l(lock_);
  return s_.redirtbl[pin];
}

// ioapic_service(): queue the entry's message unless it is masked or a
// level entry still waits for its EOI. Caller holds lock_.
bool Ioapic::queue_service(u32 pin, Batch &b) {
  u64 e = s_.redirtbl[pin];
  bool level = e & kTriggerLevel;
  if ((e & kMasked) || (level && (e & kRemoteIrr)))
    return false;

  Pending &p = b.p[b.n++];
  p.pin = pin;
  p.level = level;
  p.ret = -1;
  p.msg = ApicMessage{};
  p.msg.vector = static_cast<u8>(e & kVectorMask);
  // All eight encodings go to the bus as KVM passes them (3 and 6 are
  // reserved for the IOAPIC; the LAPIC decides what they do).
  p.msg.delivery = static_cast<Delivery>((e >> kDeliveryModeShift) & 7);
  p.msg.logical = e & kDestModeLogical;
  p.msg.level_assert = true;
  p.msg.level_triggered = level;
  p.msg.shorthand = Shorthand::kNone;
  p.msg.dest = static_cast<u8>(e >> kDestShift);  // 8 bits, xAPIC format
  p.msg.redirection_hint = false;
  p.msg.origin = MINIKVM_ORIGIN_IOAPIC;

  if (level) {
    // Set now so no second message leaves before this one is accepted;
    // deliver() takes it back if nobody accepted (KVM: "if (ret && level)").
    s_.redirtbl[pin] |= kRemoteIrr;
    p.serial = ++s_.remote_irr_serial[pin];
  } else {
    p.serial = 0;
    s_.irr_delivered |= bit(pin);
  }
  return true;
}

// Sends the batch with lock_ not held.
void Ioapic::deliver(Batch &b) {
  if (!b.n)
    return;
  bool fixup = false;
  for (u32 i = 0; i < b.n; i++) {
    b.p[i].ret = bus_.deliver(b.p[i].msg, nullptr);
    // -1 (no destination at all) keeps Remote IRR set, as KVM does.
    fixup |= b.p[i].level && b.p[i].ret == 0;
  }
  if (!fixup)
    return;
  Locked l(lock_);
  for (u32 i = 0; i < b.n; i++) {
    const Pending &p = b.p[i];
    if (p.level && p.ret == 0 && s_.remote_irr_serial[p.pin] == p.serial)
      s_.redirtbl[p.pin] &= ~kRemoteIrr;
  }
}

// ioapic_set_irq() with the line already OR-ed over sources. Returns the
// KVM result, or kQueued when a message waits in b. Caller holds lock_.
int Ioapic::set_irq_locked(u32 pin, bool line_high, bool line_status, Batch &b) {
  u32 m = bit(pin);
  bool edge = !(s_.redirtbl[pin] & kTriggerLevel);

  if (!line_high) {
    s_.irr &= ~m;
    return 1;
  }
  // KVM's RTC_GSI EOI tracking: the RTC's last interrupt is not EOIed by
  // every LAPIC it reached yet (counted, not mapped per vCPU as KVM does).
  if (pin == kRtcPin && line_status && rtc_pending_eoi_)
    return 0;
  u32 old_irr = s_.irr;
  s_.irr |= m;
  if (edge) {
    s_.irr_delivered &= ~m;
    if (old_irr == s_.irr)
      return 0;  // no rising edge: the earlier one is still latched
  }
  return queue_service(pin, b) ? kQueued : -1;
}

int Ioapic::set_irq(u32 pin, u32 source, bool level, bool line_status) {
  if (pin >= kPins || source >= kNrSources)
    return -1;
  Batch b;
  int ret;
  {
    Locked l(lock_);
    u8 &line = s_.line[pin];
    if (level)
      line |= static_cast<u8>(1u << source);
    else
      line &= static_cast<u8>(~(1u << source));
    u64 entry = s_.redirtbl[pin];
    ret = set_irq_locked(pin, line != 0, line_status, b);
    if (mk_trace_on[MK_TP_IOAPIC_SET_IRQ]) {
      // KVM's kvm_ioapic_set_irq reports ret == 0 as coalesced; a level
      // entry whose Remote IRR still waits for an EOI merges the assertion
      // too (-1 here, as in KVM, but nothing is lost: it is sent again
      // after the EOI while the line stays high).
      bool waits = line != 0 && (entry & kTriggerLevel) && (entry & kRemoteIrr) && !(entry & kMasked);
      mk_trace_ioapic_set_irq(trace_vm_, pin, entry, line != 0, ret == 0 || waits);
    }
  }
  if (ret == kQueued) {
    deliver(b);
    ret = b.p[0].ret;
    if (pin == kRtcPin && line_status) {
      // The LAPICs that took it each owe an EOI (ioapic_service).
      Locked l(lock_);
      __atomic_store_n(&rtc_vector_, static_cast<int>(s_.redirtbl[pin] & kVectorMask), __ATOMIC_RELAXED);
      __atomic_store_n(&rtc_pending_eoi_, ret > 0 ? static_cast<u32>(ret) : 0u, __ATOMIC_RELAXED);
    }
  }
  return ret;
}

void Ioapic::clear_source(u32 source) {
  if (source >= kNrSources)
    return;
  Locked l(lock_);
  for (u32 i = 0; i < kPins; i++)
    s_.line[i] &= static_cast<u8>(~(1u << source));
}

void Ioapic::eoi(u8 vector, bool level_triggered) {
  u32 pins = 0;
  {
    Locked l(lock_);
    if (rtc_pending_eoi_ && rtc_vector_ == vector)
      __atomic_store_n(&rtc_pending_eoi_, rtc_pending_eoi_ - 1, __ATOMIC_RELAXED);
    for (u32 i = 0; i < kPins; i++)
      if ((s_.redirtbl[i] & kVectorMask) == vector)
        pins |= bit(i);
  }
  if (!pins)
    return;
  // KVM drops its lock for the ack notifiers and clears Remote IRR only
  // after them: an irqfd resampler de-asserts its line from there, so the
  // check below sees it low and does not re-deliver a stale interrupt.
  if (observer_)
    for (u32 i = 0; i < kPins; i++)
      if (pins & bit(i))
        observer_->pin_acked(i);
  // An edge vector's EOI only acks (kvm_ioapic_update_eoi_one returns
  // early). So does a LAPIC with directed EOI, which the caller reports as
  // level_triggered = false (it is never enabled with this IOAPIC: the
  // LAPIC must not advertise it, version 0x11 has no EOI register).
  if (!level_triggered)
    return;

  Batch b;
  bool arm = false;
  {
    Locked l(lock_);
    for (u32 i = 0; i < kPins; i++) {
      // Re-checked: the entry may have been reprogrammed while unlocked.
      if (!(pins & bit(i)) || (s_.redirtbl[i] & kVectorMask) != vector)
        continue;
      // Cleared whatever the entry's trigger mode (KVM only ASSERTs it).
      s_.redirtbl[i] &= ~kRemoteIrr;
      if (!(s_.redirtbl[i] & kMasked) && (s_.irr & bit(i))) {
        if (++s_.irq_eoi[i] == kSuccessiveIrqMax) {
          // Real hardware re-delivers some time after the EOI, not
          // during it; a guest that never quiets a level line keeps
          // making progress (KVM's delayed eoi_inject work).
          s_.irq_eoi[i] = 0;
          arm = true;
        } else {
          queue_service(i, b);
        }
      } else {
        s_.irq_eoi[i] = 0;
      }
    }
    // Like schedule_delayed_work(): an already pending run is not moved.
    // Starting (not cancelling) under the lock is allowed.
    if (arm && !s_.storm_armed) {
      s_.storm_armed = true;
      mk_timer_start(storm_timer_, mk_now_ns() + kStormDelayNs);
    }
  }
  deliver(b);
}

unsigned long long Ioapic::storm_timer_fn(void *arg) {
  static_cast<Ioapic *>(arg)->storm_expired();
  return 0;
}

// kvm_ioapic_eoi_inject_work(): every level pin still asserted and not
// waiting for an EOI is serviced (masked ones stay pending).
void Ioapic::storm_expired() {
  Batch b;
  {
    Locked l(lock_);
    s_.storm_armed = false;
    for (u32 i = 0; i < kPins; i++) {
      u64 e = s_.redirtbl[i];
      if ((e & kTriggerLevel) && (s_.irr & bit(i)) && !(e & kRemoteIrr))
        queue_service(i, b);
    }
  }
  deliver(b);
}

bool Ioapic::in_range(u64 gpa) const {
  // KVM's ioapic_in_range(), wrap-around included (unsigned, defined).
  return gpa >= s_.base_address && gpa < s_.base_address + kSize;
}

// ioapic_read_indirect(). Caller holds lock_.
u32 Ioapic::read_indirect() const {
  switch (s_.ioregsel) {
    case kIndexVersion:
      // 3.2.2: maximum redirection entry (23) in 23:16, version in 7:0.
      return ((kPins - 1) & 0xff) << 16 | (kVersion & 0xff);
    case kIndexId:
    case kIndexArb:
      // 3.2.1/3.2.3: the ID in bits 27:24; KVM gives the arbitration ID
      // the same value (it is loaded from the ID on reset).
      return (s_.id & 0xf) << 24;
    default: {
      // 0x03-0x0f wrap to a huge index; anything past IOREDTBL[23] reads
      // as all ones (KVM).
      u32 index = (s_.ioregsel - kIndexRedirTbl) >> 1;
      u64 e = index < kPins ? s_.redirtbl[index] : ~0ull;
      return static_cast<u32>((s_.ioregsel & 1) ? e >> 32 : e);
    }
  }
}

// ioapic_write_indirect(). Caller holds lock_.
int Ioapic::write_indirect(u32 val, Batch &b) {
  switch (s_.ioregsel) {
    case kIndexVersion:
    case kIndexArb:
      return -1;  // read-only
    case kIndexId:
      s_.id = (val >> 24) & 0xf;
      return -1;
    default:
      break;
  }
  u32 index = (s_.ioregsel - kIndexRedirTbl) >> 1;
  if (index >= kPins)
    return -1;
  u64 &e = s_.redirtbl[index];
  u64 old = e;
  if (s_.ioregsel & 1)
    e = (e & 0xffffffffull) | static_cast<u64>(val) << 32;
  else
    e = (e & ~0xffffffffull) | val;
  // Delivery Status and Remote IRR are read-only (3.2.4). The reserved
  // bits 55:17 keep what was written, as in KVM.
  e = (e & ~(kDeliveryStatus | kRemoteIrr)) | (old & (kDeliveryStatus | kRemoteIrr));
  if ((old ^ e) & (kVectorMask | kTriggerLevel))
    b.table_changed = true;
  // Linux and Xen switch an entry to edge and back to clear a stuck
  // Remote IRR on IOAPICs without an EOI register; KVM honours that.
  if (!(e & kTriggerLevel)) {
    if (e & kRemoteIrr)
      s_.remote_irr_serial[index]++;
    e &= ~kRemoteIrr;
  }
  // A level line that was held off (masked, or waiting for the EOI that
  // the edge trick above just replaced) is delivered now.
  if ((e & kTriggerLevel) && (s_.irr & bit(index)))
    queue_service(index, b);
  return ((old ^ e) & kMasked) ? static_cast<int>(index) : -1;
}

int Ioapic::read(u64 gpa, u32 len, void *val) {
  u32 result;
  {
    Locked l(lock_);
    if (!in_range(gpa))
      return -EOPNOTSUPP;
    switch (gpa & 0xff) {
      case kRegSelect:
        result = s_.ioregsel;
        break;
      case kRegWindow:
        result = read_indirect();
        break;
      default:
        result = 0;
        break;
    }
  }
  switch (len) {
    case 8: {
      u64 v = result;
      __builtin_memcpy(val, &v, 8);
      break;
    }
    case 1:
    case 2:
    case 4:
      __builtin_memcpy(val, &result, len);
      break;
    default:
      break;
  }
  return 0;
}

int Ioapic::write(u64 gpa, u32 len, const void *val) {
  u32 data;
  switch (len) {
    case 8:
    case 4:
      __builtin_memcpy(&data, val, 4);
      break;
    case 2: {
      u16 d;
      __builtin_memcpy(&d, val, 2);
      data = d;
      break;
    }
    case 1: {
      u8 d;
      __builtin_memcpy(&d, val, 1);
      data = d;
      break;
    }
    default:
      return 0;
  }

  Batch b;
  int mask_pin = -1;
  bool masked = false;
  {
    Locked l(lock_);
    if (!in_range(gpa))
      return -EOPNOTSUPP;
    switch (gpa & 0xff) {
      case kRegSelect:
        s_.ioregsel = data & 0xff;  // an 8-bit register (3.1.1)
        break;
      case kRegWindow:
        mask_pin = write_indirect(data, b);
        if (mask_pin >= 0)
          masked = s_.redirtbl[mask_pin] & kMasked;
        break;
      default:
        break;
    }
  }
  if (mask_pin >= 0 && observer_)
    observer_->pin_mask_changed(static_cast<u32>(mask_pin), masked);
  // The EOI-exit bitmap first: a level interrupt this write lets through
  // must find its vector's EOI exiting.
  if (b.table_changed)
    table_changed();
  deliver(b);
  return 0;
}

void Ioapic::get_state(kvm_ioapic_state *out) {
  __builtin_memset(out, 0, sizeof(*out));
  Locked l(lock_);
  out->base_address = s_.base_address;
  out->ioregsel = s_.ioregsel;
  out->id = s_.id;
  out->irr = s_.irr & ~s_.irr_delivered;
  out->pad = s_.pad;
  for (u32 i = 0; i < kPins; i++)
    out->redirtbl[i].bits = s_.redirtbl[i];
}

void Ioapic::set_state(const kvm_ioapic_state &in) {
  Batch b;
  {
    Locked l(lock_);
    __atomic_store_n(&rtc_pending_eoi_, 0u, __ATOMIC_RELAXED);  // kvm_rtc_eoi_tracking_restore_all, simplified
    s_.base_address = in.base_address;
    s_.ioregsel = in.ioregsel;
    s_.id = in.id;
    s_.pad = in.pad;
    for (u32 i = 0; i < kPins; i++) {
      s_.redirtbl[i] = in.redirtbl[i].bits;
      s_.remote_irr_serial[i]++;  // in-flight fix-ups must not touch the new table
    }
    s_.irr = 0;
    s_.irr_delivered = 0;
    // kvm_ioapic_inject_all(): bits 31:24 of irr are ignored; the
    // sources' line states are not touched.
    for (u32 i = 0; i < kPins; i++)
      if (in.irr & bit(i))
        set_irq_locked(i, true, false, b);
  }
  table_changed();
  deliver(b);
}

}  // namespace mk::irq
