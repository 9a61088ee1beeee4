// SPDX-License-Identifier: GPL-2.0
// The PC's 8254 programmable interval timer (ports 0x40-0x43) and the
// speaker/NMI status port 0x61 bits that belong to it (channel 2's GATE
// input, speaker data, OUT2 and the refresh toggle).
//
// Channel 0's OUT drives IRQ0/GSI 0: every rising edge is one edge on the
// GSI (set_gsi(0, kSourcePit, true) then false). Channel 1 (DRAM refresh in
// the original PC) has no output anyone sees; channel 2's OUT is read back
// through port 0x61 bit 5. GATE0 and GATE1 are tied high on the PC board.
//
// Sources: Intel 8254 Programmable Interval Timer datasheet (order no.
// 231164), "Control Word Format", "Read-Back Command", "Status Byte",
// "Modes" and "Gate Pin Operations Summary"; the ICH datasheets, "NMI
// Status and Control Register" (port 61h) for the port 0x61 bits.
#pragma once

#include <linux/kvm.h>

#include "io/bus.h"
#include "irq/irq.h"
#include "rt/types.h"

namespace mk::irq {

class Pit final : public io::IoDevice {
 public:
  // CLK input of all three counters: 14.31818 MHz / 12 (KVM uses 1193181).
  static constexpr u64 kFrequencyHz = 1193182;
  static constexpr u64 kCounterPort = 0x40;  // 0x40-0x42 counters, 0x43 control word
  static constexpr u64 kNrPorts = 4;
  static constexpr u64 kSpeakerPort = 0x61;
  // Channel 0's periodic interrupts are never faster than this (KVM's
  // min_timer_period_us module parameter, default 200): an hrtimer in
  // hard-irq context is not throttled by the host scheduler.
  static constexpr u64 kMinPeriodNs = 200'000;
  // Mode value of a counter never programmed since reset (KVM's 0xff):
  // no interrupts; reads as a free-running binary down-counter.
  static constexpr u8 kModeNone = 0xff;

  explicit Pit(GsiSink &sink);
  ~Pit() override;
  Pit(const Pit &) = delete;
  Pit &operator=(const Pit &) = delete;

  // 0 or -ENOMEM (spinlock, hrtimer). Nothing else may be called before it
  // succeeded; the destructor frees what it allocated either way (and
  // waits for a running timer callback: never destroy a Pit while holding
  // a lock that GsiSink::set_gsi takes).
  int init();

  // Port I/O. Ports 0x40-0x43 and 0x61 (only the low byte of an access
  // counts; reads zero-extend to len); -EOPNOTSUPP for any other port.
  // Register 0x61 only when KVM_CREATE_PIT2 asked for KVM_PIT_SPEAKER_DUMMY.
  int read(u64 port, u32 len, void *val) override;
  int write(u64 port, u32 len, const void *val) override;

  // KVM_GET_PIT2 / KVM_SET_PIT2. count_load_time is CLOCK_MONOTONIC ns
  // (mk_now_ns(), the clock of KVM's ktime_get()). set_state() loads every
  // counter anew at the current time, as KVM's pit_load_count() does, so
  // the count_load_time it is given is ignored; out-of-range fields are
  // brought back in range (see pit.cpp). flags keeps HPET_LEGACY (channel 0
  // raises no interrupt: the HPET's legacy replacement route owns IRQ0) and
  // SPEAKER_DATA_ON; reserved[] reads as zero.
  void get_state(kvm_pit_state2 *out);
  void set_state(const kvm_pit_state2 &in);
  // Power-on state (KVM's kvm_pit_reset): counters unprogrammed, counts
  // 0x10000, GATE2 low, flags 0.
  void reset();

  // Lost-tick policy (KVM_REINJECT_CONTROL). Off by default here (KVM
  // turns it on at KVM_CREATE_PIT2): with it on, a tick is raised only
  // after the previous one was acknowledged and missed ticks are counted
  // and raised one per ack, which needs irq_acked() wired. Off: a tick
  // raised while the last one is still pending is coalesced by the PIC.
  void set_reinject(bool on);
  // GSI 0 was acknowledged (EOI at the PIC or the IOAPIC: KVM's
  // irq_ack_notifier) / its PIC or IOAPIC pin was unmasked (KVM's mask
  // notifier): both only matter with reinjection on. May raise GSI 0, so
  // call them without holding a lock that set_gsi takes. Any context.
  void irq_acked();
  void irq_mask_changed(bool masked);

 private:
  // One counter: the control/status logic and the count register (CR)
  // of the datasheet. Field names follow kvm_pit_channel_state, whose
  // layout KVM_GET/SET_PIT2 exchange.
  struct Counter {
    enum class Phase : u8 {
      kIdle,         // control word written, count not (yet) complete: not counting
      kWaitTrigger,  // modes 1 and 5: count written, waiting for a GATE rising edge
      kCounting,     // CE counting down from `count` since count_load_time
    };
    u32 count;  // CR as loaded: 1..0x10000 (a written 0 is the largest count)
    u16 latched_count;
    u8 count_latched;  // 0, or the access (RW_LSB/MSB/WORD0) the latched count is read with
    bool status_latched;
    u8 status;
    u8 read_state;   // next byte a read returns (RW_*; WORD0/WORD1 flip-flop)
    u8 write_state;  // next byte a write stores
    u8 write_latch;  // LSB of a two-byte count until the MSB arrives
    u8 rw_mode;      // RW1:RW0 of the control word (0: never programmed)
    u8 mode;         // 0..5, or kModeNone
    bool bcd;
    bool gate;
    bool null_count;       // status bit 6: CR not yet transferred to CE
    Phase phase;
    u16 held_ce;           // CE while not counting (the bits it held)
    u64 count_load_time;   // ns; moved forward over GATE-low time in modes 0/4
    u64 gate_low_time;     // ns: when GATE last fell (or the count was loaded with GATE low)
  };
  struct Sample {
    u16 ce;  // the counting element as a read returns it (BCD-encoded in BCD mode)
    bool out;
  };

  static u64 timer_fn(void *arg);
  void reset_locked(u64 now);
  Sample sample(const Counter &c, u64 now) const;
  void control_word(u8 val, u64 now);
  void write_counter(u32 i, u8 val, u64 now);
  u8 read_counter(u32 i, u64 now);
  void load_count(u32 i, u32 raw, u64 now);
  void latch_count(u32 i, u64 now);
  void latch_status(u32 i, u64 now);
  void set_gate2(bool level, u64 now);
  void program_timer();
  u64 tick_expiry(u64 k) const;

  GsiSink &sink_;
  void *lock_ = nullptr;
  void *timer_ = nullptr;  // channel 0's OUT edges

  // ---- everything below is under lock_ ----
  Counter ch_[3] = {};
  u32 flags_ = 0;  // KVM_PIT_FLAGS_*

  // Channel 0's interrupt schedule: tick k (1, 2, ...) is due at
  // tick_base_ + k * tick_q_ + ceil(k * tick_r_ / kFrequencyHz) ns, i.e.
  // every (tick_q_ + tick_r_ / f) ns, without accumulating rounding. The
  // hrtimer is only a wake-up: its callback acts on this schedule alone.
  bool tick_active_ = false;
  bool tick_periodic_ = false;
  u64 tick_base_ = 0, tick_q_ = 0, tick_r_ = 0, tick_k_ = 0, tick_next_ = 0;

  // Reinjection (KVM's ps->reinject, pending and irq_ack).
  bool reinject_ = false;
  bool irq_ack_ = true;
  u64 pending_ = 0;
};

}  // namespace mk::irq
