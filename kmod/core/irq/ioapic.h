// SPDX-License-Identifier: GPL-2.0
// The I/O APIC: an Intel 82093AA with 24 input pins at 0xfec00000, as KVM
// emulates it (arch/x86/kvm/ioapic.c, Linux 6.1). Version 0x11: there is no
// EOI register, the LAPICs' EOI broadcast clears Remote IRR instead.
//
// Datasheet (82093AA I/O Advanced Programmable Interrupt Controller, order
// number 290566-001): 3.0 registers, 3.1 IOREGSEL/IOWIN, 3.2.1 IOAPICID,
// 3.2.2 IOAPICVER, 3.2.3 IOAPICARB, 3.2.4 IOREDTBL[0:23].
#pragma once

#include <linux/kvm.h>

#include "io/bus.h"
#include "irq/irq.h"
#include "rt/types.h"

namespace mk::irq {

// KVM's irq ack notifiers and mask notifiers for IOAPIC pins
// (kvm_notify_acked_irq, kvm_fire_mask_notifiers): the PIT's reinjection
// and irqfd resampling hang off them. The IOAPIC calls these without its
// lock held; they may call back into the IOAPIC (set_irq to de-assert a
// resampled line, as KVM's irqfd resampler does).
class IoapicObserver {
 public:
  virtual ~IoapicObserver() = default;
  // An EOI for the vector of pin's redirection entry was broadcast. Runs
  // before Remote IRR is cleared, so a de-assert from here is seen by the
  // re-delivery check (KVM's order).
  virtual void pin_acked(u32 pin) = 0;
  // A guest write flipped the entry's mask bit (bit 16).
  virtual void pin_mask_changed(u32 pin, bool masked) = 0;
};

class Ioapic final : public io::IoDevice {
 public:
  static constexpr u64 kBase = 0xfec00000;  // IOAPIC_DEFAULT_BASE_ADDRESS
  static constexpr u64 kSize = 0x100;       // IOAPIC_MEM_LENGTH
  static constexpr u32 kPins = 24;          // KVM_IOAPIC_NUM_PINS
  static constexpr u32 kVersion = 0x11;     // IOAPICVER bits 7:0 (82093AA)

  // Direct registers (datasheet 3.1): offsets from the base.
  static constexpr u32 kRegSelect = 0x00;  // IOREGSEL
  static constexpr u32 kRegWindow = 0x10;  // IOWIN
  // Indirect registers (datasheet 3.2): IOREGSEL values.
  static constexpr u32 kIndexId = 0x00;        // IOAPICID
  static constexpr u32 kIndexVersion = 0x01;   // IOAPICVER
  static constexpr u32 kIndexArb = 0x02;       // IOAPICARB
  static constexpr u32 kIndexRedirTbl = 0x10;  // IOREDTBL[n] low at 0x10 + 2n, high at 0x11 + 2n

  // Redirection table entry bits (datasheet 3.2.4).
  static constexpr u64 kVectorMask = 0xff;               // 7:0
  static constexpr u32 kDeliveryModeShift = 8;           // 10:8
  static constexpr u64 kDestModeLogical = 1ull << 11;    // DESTMOD
  static constexpr u64 kDeliveryStatus = 1ull << 12;     // DELIVS (RO)
  static constexpr u64 kPolarityLow = 1ull << 13;        // INTPOL
  static constexpr u64 kRemoteIrr = 1ull << 14;          // Remote IRR (RO)
  static constexpr u64 kTriggerLevel = 1ull << 15;       // trigger mode
  static constexpr u64 kMasked = 1ull << 16;             // interrupt mask
  static constexpr u32 kDestShift = 56;                  // destination 63:56

  // KVM's interrupt-storm guard (IOAPIC_SUCCESSIVE_IRQ_MAX_COUNT): the
  // 10000th successive EOI that finds a level line still asserted does not
  // re-deliver at once but after HZ/100 (10 ms), so a guest that never
  // quiets its device still makes progress.
  static constexpr u32 kSuccessiveIrqMax = 10000;
  static constexpr u64 kStormDelayNs = 10'000'000;

  // trace_vm: the VM's number in the tracepoints (Vm::trace_id()).
  explicit Ioapic(ApicBus &bus, u32 trace_vm = 0);
  ~Ioapic() override;
  Ioapic(const Ioapic &) = delete;
  Ioapic &operator=(const Ioapic &) = delete;

  // Allocates the lock and the storm timer: 0 or -ENOMEM (nothing leaks;
  // the destructor frees what was made). The state is KVM's after
  // kvm_ioapic_init: every entry masked, everything else 0.
  int init();

  // Optional; set before the device is reachable (no lock guards it).
  // Out of line, as every member: an RTTI-enabled UBSan caller would need
  // this class's typeinfo for an inline member's vptr check.
  void set_observer(IoapicObserver *o);
  // APICv's EOI-exit bitmap (Vm::eoi_exit_changed): fn(arg) runs without
  // the IOAPIC lock after a redirection write changed an entry's vector or
  // trigger mode, after set_state() and after reset(), before the write's
  // own deliveries. Set before the device is reachable.
  void set_table_hook(void (*fn)(void *arg), void *arg);
  // OR-s into out[4] the vectors whose EOI the IOAPIC must see (KVM's
  // kvm_ioapic_scan_entry without its destination filter): every
  // level-triggered entry's, masked or not; the RTC pin's (KVM always
  // counts RTC_GSI: its EOI tracking); and those of the pins in
  // listened_pins (ack listeners on edge pins: KVM's kvm_irq_has_notifier).
  void eoi_exit_vectors(u64 out[4], u32 listened_pins);

  // Input pin `pin` driven by irq source `source` (irq.h kSource*): the
  // pin's line is the OR over sources. KVM 6.1's kvm_ioapic_set_irq():
  //   line now low                        ->  1 (IRR bit cleared)
  //   edge entry, line already high       ->  0 (coalesced: no new edge)
  //   masked entry                        -> -1 (the edge stays latched in IRR)
  //   level entry with Remote IRR set     -> -1 (KVM says -1, not 0, here)
  //   otherwise                           -> ApicBus::deliver()'s result
  // (and a level entry's Remote IRR is set unless that result is 0).
  // pin >= kPins or source >= kNrSources -> -1, nothing changes (KVM
  // BUG()s; the routing table never produces such a pin).
  // Any context; takes the IOAPIC lock, delivers without it.
  int set_irq(u32 pin, u32 source, bool level, bool line_status = false);
  // KVM's RTC (pin 8) EOI tracking, for KVM_IRQ_LINE_STATUS (line_status):
  // after pin 8 was delivered to n LAPICs, further assertions answer 0
  // (coalesced) until n EOIs of its vector came back, so that userspace
  // can compensate lost RTC ticks. rtc_tracks(v): is an edge EOI of v one
  // to report with eoi(v, false)? Lock-free.
  bool rtc_tracks(u8 vector) const {
    return __atomic_load_n(&rtc_pending_eoi_, __ATOMIC_RELAXED) &&
           __atomic_load_n(&rtc_vector_, __ATOMIC_RELAXED) == vector;
  }

  // The source's line goes low on every pin without any delivery or IRR
  // change (kvm_ioapic_clear_all, when an irq source id is freed).
  void clear_source(u32 source);

  // The LAPICs' EOI broadcast (kvm_ioapic_update_eoi). For each pin whose
  // entry has this vector: the observer's pin_acked(), then, if
  // level_triggered (the EOIing LAPIC's TMR bit for the vector was set),
  // Remote IRR is cleared and a still-asserted, unmasked line is delivered
  // again (storm guard above). Call WITHOUT any LAPIC lock held.
  void eoi(u8 vector, bool level_triggered = true);

  // MMIO (IoDevice). Accesses outside [base, base + 0x100) decline with
  // -EOPNOTSUPP (KVM checks against the state's base_address, which
  // KVM_SET_IRQCHIP may move; the bus range stays at kBase). Offsets are
  // gpa & 0xff, exactly 0x00 (IOREGSEL) and 0x10 (IOWIN) decode; all else
  // reads 0 and ignores writes (so no EOI register at 0x40: version 0x11).
  // A read of len 1/2/4 gives the low bytes of the 32-bit register, len 8
  // its zero extension; a write of len 8 uses the low 32 bits. Other
  // lengths are ignored (the read buffer is left alone), as KVM.
  int read(u64 gpa, u32 len, void *val) override;
  int write(u64 gpa, u32 len, const void *val) override;

  // KVM_GET_IRQCHIP / KVM_SET_IRQCHIP with chip KVM_IRQCHIP_IOAPIC
  // (kvm_get_ioapic / kvm_set_ioapic). get: IRR without the edges already
  // delivered. set: every field as given (reserved and read-only bits
  // included, as KVM's memcpy), then each IRR bit is re-asserted as a
  // rising line, delivering what the new entries let through.
  void get_state(kvm_ioapic_state *out);
  void set_state(const kvm_ioapic_state &in);

  // Back to the state init() leaves: every entry 0 but masked, IOREGSEL,
  // ID, IRR 0, base kBase, storm guard disarmed. The sources' lines (the
  // wires outside the chip) are kept. KVM only resets at creation.
  void reset();

  // For tests and debugging: the pin's redirection entry (0 for pin >= kPins).
  u64 redirection_entry(u32 pin);

 private:
  static constexpr u32 kRtcPin = 8;  // KVM's RTC_GSI
  u32 rtc_pending_eoi_ = 0;          // atomic reads; written under lock_
  int rtc_vector_ = -1;
  struct Pending;
  struct Batch;

  // The device's state (bhyve's struct vioapic; KVM's struct kvm_ioapic).
  struct State {
    u64 base_address;
    u32 ioregsel;
    u32 id;             // IOAPICID reads (id & 0xf) << 24
    u32 irr;            // bit per pin: edge latched / level line asserted
    u32 pad;            // kvm_ioapic_state.pad, carried through as KVM does
    u64 redirtbl[kPins];
    u32 irr_delivered;  // edge IRR bits already delivered (hidden from get_state)
    u8 line[kPins];     // per-source line state, bit = source id (KVM's irq_states)
    u32 irq_eoi[kPins];  // successive EOI-time re-deliveries (storm guard)
    // Bumped whenever Remote IRR is set by a delivery or the table is
    // replaced, so the post-delivery fix-up touches only its own bit.
    u32 remote_irr_serial[kPins];
    bool storm_armed;
  };

  int set_irq_locked(u32 pin, bool line_high, bool line_status, Batch &b);
  bool queue_service(u32 pin, Batch &b);
  void deliver(Batch &b);
  u32 read_indirect() const;
  // Returns the pin whose mask bit changed, or -1.
  int write_indirect(u32 val, Batch &b);
  void reset_locked();
  bool in_range(u64 gpa) const;
  static unsigned long long storm_timer_fn(void *arg);
  void storm_expired();

  ApicBus &bus_;
  const u32 trace_vm_;
  IoapicObserver *observer_ = nullptr;
  void (*table_hook_)(void *) = nullptr;
  void *table_hook_arg_ = nullptr;
  void table_changed();
  void *lock_ = nullptr;
  void *storm_timer_ = nullptr;
  State s_ = {};
};

}  // namespace mk::irq
