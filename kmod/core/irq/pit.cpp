// SPDX-License-Identifier: GPL-2.0
// The 8254 PIT. Section names below are those of the Intel 8254 datasheet
// (order no. 231164).
//
// Time model: a counter is not stepped CLK by CLK. Loading a count (or a
// GATE trigger) records count_load_time, and the counting element (CE) and
// OUT are computed from the CLK pulses since then (kFrequencyHz, from
// mk_now_ns()) whenever the guest looks. Only channel 0 needs an hrtimer:
// its OUT rising edges are IRQ0.
//
// Timer discipline: mk_timer_start() is only called with lock_ held, and
// the callback always returns 0 and re-arms itself (under lock_) instead.
// An hrtimer started on another CPU while its callback runs must not be
// re-armed by that callback's return value (the platform would move the
// expiry of an enqueued hrtimer); re-arming by mk_timer_start() is always
// safe. Reprogramming never cancels: the callback acts on the schedule
// kept under lock_ (tick_*), so an outdated expiry fires once, finds
// nothing due and re-arms to the current schedule or stops. Only the
// destructor cancels, without the lock.
#include "irq/pit.h"

#include <minikvm/platform.h>

#include "rt/errno.h"

namespace mk::irq {
namespace {

constexpr u64 kNsPerSec = 1'000'000'000;
constexpr u64 kHz = Pit::kFrequencyHz;

// RW1:RW0 of the control word, and the read/write byte sequencing states
// (a two-byte access goes WORD0 (LSB) -> WORD1 (MSB) -> WORD0 ...).
constexpr u8 kRwLatch = 0;
constexpr u8 kRwLsb = 1;
constexpr u8 kRwMsb = 2;
constexpr u8 kRwWord0 = 3;
constexpr u8 kRwWord1 = 4;

// Port 0x61 (ICH "NMI Status and Control", NMI_SC): bit 0 TIM_CNT2_EN
// (GATE2), bit 1 SPKR_DAT_EN, bit 4 REF_TOGGLE, bit 5 TMR2_OUT_STS.
constexpr u8 kSpkGate2 = 1u << 0;
constexpr u8 kSpkData = 1u << 1;
constexpr u8 kSpkRefresh = 1u << 4;
constexpr u8 kSpkOut2 = 1u << 5;

constexpr u32 kStateFlags = KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON;

// CLK pulses in ns nanoseconds, rounded down: ns * f / 1e9 without a
// 128-bit product (the kernel build has no 128-bit division).
u64 ns_to_ticks(u64 ns) { return ns / kNsPerSec * kHz + ns % kNsPerSec * kHz / kNsPerSec; }

// "BCD Counting": four decades, each nibble one digit. The 8254 does not
// check digits; A-F count as 10-15 here, which keeps the value bounded.
u32 from_bcd(u32 v) {
  return ((v >> 12) & 0xf) * 1000 + ((v >> 8) & 0xf) * 100 + ((v >> 4) & 0xf) * 10 + (v & 0xf);
}
u16 to_bcd(u32 v) {
  return static_cast<u16>((v / 1000 % 10) << 12 | (v / 100 % 10) << 8 | (v / 10 % 10) << 4 | v % 10);
}

// The initial count N the CE counts down from: "The largest possible initial
// count is 0; this is equivalent to 2^16 for binary counting and 10^4 for
// BCD counting." Always >= 1.
u64 initial_count(u32 count, bool bcd) {
  if (!bcd)
    return count;
  u32 n = from_bcd(count & 0xffff);
  return n ? n : 10000;
}

// Modes in which GATE low disables counting ("Gate Pin Operations Summary":
// modes 0, 2, 3 and 4; in 1 and 5 GATE only triggers).
bool gate_enables_counting(u8 mode) { return mode == 0 || mode == 2 || mode == 3 || mode == 4; }

}  // namespace

Pit::Pit(GsiSink &sink) : sink_(sink) { reset_locked(mk_now_ns()); }

Pit::~Pit() {
  // Waits for a running callback, which takes lock_: not held here.
  mk_timer_free(timer_);
  mk_spin_free(lock_);
}

int Pit::init() {
  lock_ = mk_spin_new();
  if (!lock_)
    return -ENOMEM;
  timer_ = mk_timer_new(timer_fn, this);
  if (!timer_) {
    mk_spin_free(lock_);
    lock_ = nullptr;
    return -ENOMEM;
  }
  return 0;
}

void Pit::reset_locked(u64 now) {
  for (u32 i = 0; i < 3; i++) {
    Counter &c = ch_[i];
    c = Counter{};
    c.mode = kModeNone;
    // GATE0 and GATE1 are tied high on the PC; GATE2 is port 0x61 bit 0,
    // which resets to 0.
    c.gate = i != 2;
    // As KVM's kvm_pit_reset(): the counters run from count 0 (2^16) in no
    // mode, so that a read before any programming returns a moving value.
    c.count = 0x10000;
    c.phase = Counter::Phase::kCounting;
    c.count_load_time = now;
    c.gate_low_time = now;
  }
  flags_ = 0;
  tick_active_ = false;
  pending_ = 0;
  irq_ack_ = true;
}

void Pit::reset() {
  unsigned long fl = mk_spin_lock_irqsave(lock_);
  // Channel 0 is unprogrammed now: an armed hrtimer fires once and stops.
  reset_locked(mk_now_ns());
  mk_spin_unlock_irqrestore(lock_, fl);
}

// CE and OUT of a counter at time now, per mode ("Modes"). d is the number
// of CLK pulses counted since the CE was loaded with N.
Pit::Sample Pit::sample(const Counter &c, u64 now) const {
  if (c.phase == Counter::Phase::kIdle) {
    // "When a Control Word is written to a Counter ... OUT goes to a known
    // initial state": low in mode 0, high in the others.
    return {c.held_ce, c.mode >= 1 && c.mode <= 5};
  }
  if (c.phase == Counter::Phase::kWaitTrigger)
    return {c.held_ce, true};  // modes 1 and 5: OUT stays high until triggered

  bool gated_off = !c.gate && gate_enables_counting(c.mode);
  u64 end = gated_off ? c.gate_low_time : now;
  u64 d = end > c.count_load_time ? ns_to_ticks(end - c.count_load_time) : 0;
  u64 n = initial_count(c.count, c.bcd);
  u64 m = c.bcd ? 10000 : 0x10000;  // the CE wraps to 9999 / FFFF
  // Modes 0, 1, 4, 5: "the Counter does not stop when it reaches zero ...
  // it wraps around to the highest count ... and continues counting."
  u64 wrapped = (n % m + m - d % m) % m;
  u64 ce;
  bool out;
  switch (c.mode) {
    case 2: {
      // Rate generator: the CE goes N, N-1, ..., 1 and reloads; OUT is low
      // for the one CLK pulse in which the CE holds 1.
      u64 p = d % n;
      ce = n - p;
      out = p != n - 1;
      break;
    }
    case 3: {
      // Square wave: OUT is high for ceil(N/2) pulses and low for
      // floor(N/2). The CE steps by two from N (even N) or N-1 (odd N)
      // within each half.
      u64 half = (n + 1) / 2;
      u64 p = d % n;
      out = p < half;
      ce = (n & ~1ull) - 2 * (out ? p : p - half);
      break;
    }
    case 4:
    case 5:
      // Software / hardware triggered strobe: OUT low for the one CLK pulse
      // in which the CE reaches zero.
      ce = wrapped;
      out = d != n;
      break;
    default:
      // Mode 0 (and the unprogrammed counter, as KVM): OUT goes high at
      // terminal count and stays high. Mode 1: OUT low from the trigger
      // until terminal count.
      ce = wrapped;
      out = d >= n;
      break;
  }
  // Modes 2 and 3: "If GATE goes low during counting, ... OUT set high
  // immediately" (and stays high until counting resumes).
  if (gated_off && (c.mode == 2 || c.mode == 3))
    out = true;
  ce %= m;
  return {c.bcd ? to_bcd(static_cast<u32>(ce)) : static_cast<u16>(ce), out};
}

// "Counter Latch Command": the count is held in the output latch until
// read; further latch commands before that are ignored.
void Pit::latch_count(u32 i, u64 now) {
  Counter &c = ch_[i];
  if (c.count_latched || c.rw_mode == kRwLatch)
    return;
  c.latched_count = sample(c, now).ce;
  c.count_latched = c.rw_mode;
}

// "Status Byte": OUTPUT, NULL COUNT, RW1:RW0, M2:M0, BCD. Latched until read.
void Pit::latch_status(u32 i, u64 now) {
  Counter &c = ch_[i];
  if (c.status_latched)
    return;
  c.status = static_cast<u8>(sample(c, now).out << 7 | c.null_count << 6 | (c.rw_mode & 3) << 4 |
                             (c.mode & 7) << 1 | c.bcd);
  c.status_latched = true;
}

void Pit::control_word(u8 val, u64 now) {
  u32 sc = val >> 6;  // SC1:SC0
  if (sc == 3) {
    // "Read-Back Command": D5 = !COUNT, D4 = !STATUS, D3..D1 select
    // counters 2..0. When both are latched the status byte is read first.
    for (u32 i = 0; i < 3; i++) {
      if (!(val & (2u << i)))
        continue;
      if (!(val & 0x20))
        latch_count(i, now);
      if (!(val & 0x10))
        latch_status(i, now);
    }
    return;
  }
  Counter &c = ch_[sc];
  u8 rw = (val >> 4) & 3;
  if (rw == kRwLatch) {
    latch_count(sc, now);
    return;
  }
  // "When a Control Word is written to a Counter, all Control Logic is
  // immediately reset and OUT goes to a known initial state": counting
  // stops until a count is written, and the output latch is released
  // ("held ... until it is read or the Counter is reprogrammed").
  c.held_ce = sample(c, now).ce;
  c.rw_mode = rw;
  c.read_state = rw;
  c.write_state = rw;
  c.count_latched = 0;
  c.status_latched = false;
  u8 mode = (val >> 1) & 7;
  c.mode = mode > 5 ? mode - 4 : mode;  // M2 is a don't-care in modes 2 and 3
  c.bcd = val & 1;
  c.phase = Counter::Phase::kIdle;
  c.null_count = true;
  if (sc == 0)
    program_timer();
}

// CR -> CE. Modes 0, 2, 3, 4 start counting (on the next CLK pulse: not
// modelled); modes 1 and 5 wait for a GATE rising edge.
void Pit::load_count(u32 i, u32 raw, u64 now) {
  Counter &c = ch_[i];
  raw &= 0xffff;
  c.count = raw ? raw : 0x10000;
  if (c.mode == 1 || c.mode == 5) {
    // The datasheet lets a running one-shot finish with its old count; a
    // new count here waits for the next trigger at once (no CE/CR split).
    if (c.phase != Counter::Phase::kWaitTrigger) {
      c.held_ce = sample(c, now).ce;
      c.phase = Counter::Phase::kWaitTrigger;
    }
    c.null_count = true;  // cleared when the trigger loads the CE
  } else {
    // Modes 2 and 3 would finish the current period first; as KVM, the
    // new count takes effect at once.
    c.phase = Counter::Phase::kCounting;
    c.count_load_time = now;
    c.gate_low_time = now;  // with GATE low (modes 0, 2, 3, 4) the CE holds N
    c.null_count = false;
  }
  if (i == 0)
    program_timer();
}

void Pit::write_counter(u32 i, u8 val, u64 now) {
  Counter &c = ch_[i];
  switch (c.write_state) {
    case kRwMsb:
      load_count(i, static_cast<u32>(val) << 8, now);
      break;
    case kRwWord0:
      c.write_latch = val;
      c.write_state = kRwWord1;
      c.null_count = true;
      // Mode 0: "Writing the first byte disables counting. OUT is set low
      // immediately."
      if (c.mode == 0 && c.phase != Counter::Phase::kIdle) {
        c.held_ce = sample(c, now).ce;
        c.phase = Counter::Phase::kIdle;
        if (i == 0)
          program_timer();
      }
      break;
    case kRwWord1:
      c.write_state = kRwWord0;
      load_count(i, c.write_latch | static_cast<u32>(val) << 8, now);
      break;
    default:  // kRwLsb, and a counter never programmed (as KVM)
      load_count(i, val, now);
      break;
  }
}

u8 Pit::read_counter(u32 i, u64 now) {
  Counter &c = ch_[i];
  if (c.status_latched) {
    c.status_latched = false;
    return c.status;
  }
  if (c.count_latched) {
    u16 l = c.latched_count;
    switch (c.count_latched) {
      case kRwMsb:
        c.count_latched = 0;
        return static_cast<u8>(l >> 8);
      case kRwWord0:
        c.count_latched = kRwMsb;
        return static_cast<u8>(l);
      default:
        c.count_latched = 0;
        return static_cast<u8>(l);
    }
  }
  // Reading the CE directly: each byte is sampled when read, so a two-byte
  // read without a latch may tear, as on the 8254.
  u16 ce = sample(c, now).ce;
  switch (c.read_state) {
    case kRwMsb:
      return static_cast<u8>(ce >> 8);
    case kRwWord0:
      c.read_state = kRwWord1;
      return static_cast<u8>(ce);
    case kRwWord1:
      c.read_state = kRwWord0;
      return static_cast<u8>(ce >> 8);
    default:
      return static_cast<u8>(ce);
  }
}

// GATE2 from port 0x61 bit 0 ("Gate Pin Operations Summary").
void Pit::set_gate2(bool level, u64 now) {
  Counter &c = ch_[2];
  bool rising = level && !c.gate;
  if (!level && c.gate)
    c.gate_low_time = now;
  c.gate = level;
  if (!rising)
    return;
  switch (c.mode) {
    case 0:
    case 4:
      // GATE high enables counting: continue from the held CE.
      if (c.phase == Counter::Phase::kCounting && now > c.gate_low_time)
        c.count_load_time += now - c.gate_low_time;
      break;
    case 1:
    case 5:
      // Trigger: load the CE from the CR and (re)start the one-shot.
      if (c.phase != Counter::Phase::kIdle) {
        c.phase = Counter::Phase::kCounting;
        c.count_load_time = now;
        c.null_count = false;
      }
      break;
    case 2:
    case 3:
      // A rising edge reloads the CE with N.
      if (c.phase == Counter::Phase::kCounting)
        c.count_load_time = now;
      break;
    default:
      break;
  }
}

// Rebuilds channel 0's interrupt schedule from its state. OUT0 rises at
// terminal count in mode 0, at the end of the one-shot in mode 1, one CLK
// after the strobe in modes 4 and 5, and at each reload in modes 2 and 3.
void Pit::program_timer() {
  tick_active_ = false;
  const Counter &c = ch_[0];
  // KVM's create_pit_timer(): no interrupts in HPET legacy mode.
  if (!timer_ || (flags_ & KVM_PIT_FLAGS_HPET_LEGACY) || c.phase != Counter::Phase::kCounting || !c.gate)
    return;
  u64 n = initial_count(c.count, c.bcd);
  bool periodic;
  switch (c.mode) {
    case 0:
    case 1:
      periodic = false;
      break;
    case 4:
    case 5:
      periodic = false;
      n += 1;
      break;
    case 2:
    case 3:
      periodic = true;
      break;
    default:
      return;
  }
  u64 ns_times_hz = n * kNsPerSec;  // n <= 0x10000: no overflow
  tick_q_ = ns_times_hz / kHz;
  tick_r_ = ns_times_hz % kHz;
  // KVM clamps periodic timers (not one-shots) to min_timer_period_us.
  if (periodic && tick_q_ < kMinPeriodNs) {
    tick_q_ = kMinPeriodNs;
    tick_r_ = 0;
  }
  tick_periodic_ = periodic;
  tick_base_ = c.count_load_time;
  tick_k_ = 1;
  tick_next_ = tick_expiry(1);  // > now: count_load_time is now, n >= 1
  tick_active_ = true;
  // As KVM's kvm_pit_reset_reinject() in create_pit_timer().
  pending_ = 0;
  irq_ack_ = true;
  mk_timer_start(timer_, tick_next_);
}

u64 Pit::tick_expiry(u64 k) const { return tick_base_ + k * tick_q_ + (k * tick_r_ + kHz - 1) / kHz; }

// The callback, in hard-irq context. It raises GSI 0 after dropping lock_:
// set_gsi takes the PIC/IOAPIC/LAPIC locks.
u64 Pit::timer_fn(void *arg) {
  auto *pit = static_cast<Pit *>(arg);
  bool raise = false;
  unsigned long fl = mk_spin_lock_irqsave(pit->lock_);
  u64 now = mk_now_ns();
  if (pit->tick_active_) {
    if (now >= pit->tick_next_) {
      u64 ticks = 1;
      if (pit->tick_periodic_) {
        pit->tick_next_ = pit->tick_expiry(++pit->tick_k_);
        // A host that was late by whole periods: count the missed ticks
        // (for reinjection) and, past a bound, restart the phase from now.
        while (pit->tick_next_ <= now && ticks < 1024) {
          ticks++;
          pit->tick_next_ = pit->tick_expiry(++pit->tick_k_);
        }
        if (pit->tick_next_ <= now) {
          pit->tick_base_ = now;
          pit->tick_k_ = 1;
          pit->tick_next_ = pit->tick_expiry(1);
        }
      } else {
        pit->tick_active_ = false;
      }
      if (!pit->reinject_) {
        raise = true;
      } else {
        // KVM's pit_timer_fn + pit_do_work: every tick is pending until
        // acked; a new one is raised only once the last was acked.
        pit->pending_ += ticks;
        if (pit->irq_ack_) {
          pit->irq_ack_ = false;
          raise = true;
        }
      }
    }
    if (pit->tick_active_)
      mk_timer_start(pit->timer_, pit->tick_next_);
  }
  mk_spin_unlock_irqrestore(pit->lock_, fl);
  if (raise) {
    // An edge on IRQ0, as KVM's pit_do_work.
    pit->sink_.set_gsi(0, kSourcePit, true);
    pit->sink_.set_gsi(0, kSourcePit, false);
  }
  return 0;
}

void Pit::set_reinject(bool on) {
  unsigned long fl = mk_spin_lock_irqsave(lock_);
  if (on && !reinject_) {
    pending_ = 0;
    irq_ack_ = true;
  }
  reinject_ = on;
  mk_spin_unlock_irqrestore(lock_, fl);
}

void Pit::irq_acked() {
  bool raise = false;
  unsigned long fl = mk_spin_lock_irqsave(lock_);
  // KVM's kvm_pit_ack_irq: one pending tick is consumed per ack; if more
  // are left, the next one is raised now.
  irq_ack_ = true;
  if (reinject_ && pending_ > 0 && --pending_ > 0) {
    irq_ack_ = false;
    raise = true;
  }
  mk_spin_unlock_irqrestore(lock_, fl);
  if (raise) {
    sink_.set_gsi(0, kSourcePit, true);
    sink_.set_gsi(0, kSourcePit, false);
  }
}

void Pit::irq_mask_changed(bool masked) {
  if (masked)
    return;
  // KVM's pit_mask_notifer: ticks missed while IRQ0 was masked are dropped.
  unsigned long fl = mk_spin_lock_irqsave(lock_);
  pending_ = 0;
  irq_ack_ = true;
  mk_spin_unlock_irqrestore(lock_, fl);
}

int Pit::read(u64 port, u32 len, void *val) {
  bool counters = port >= kCounterPort && port - kCounterPort < kNrPorts;
  if (!counters && port != kSpeakerPort)
    return -EOPNOTSUPP;
  u8 v = 0;
  unsigned long fl = mk_spin_lock_irqsave(lock_);
  u64 now = mk_now_ns();
  if (port == kSpeakerPort) {
    // REF_TOGGLE flips every 15.085 us (DRAM refresh); as KVM, every 2^14 ns.
    v = static_cast<u8>((ch_[2].gate ? kSpkGate2 : 0) | ((flags_ & KVM_PIT_FLAGS_SPEAKER_DATA_ON) ? kSpkData : 0) |
                        (((now >> 14) & 1) ? kSpkRefresh : 0) | (sample(ch_[2], now).out ? kSpkOut2 : 0));
  } else if (port - kCounterPort < 3) {
    v = read_counter(static_cast<u32>(port - kCounterPort), now);
  }
  // else 0x43: the control word register is write-only ("No-Operation
  // (3-State)" on a read); 0 as QEMU's PIT (KVM leaves AL unchanged).
  mk_spin_unlock_irqrestore(lock_, fl);
  auto *out = static_cast<u8 *>(val);
  for (u32 i = 0; i < len; i++)
    out[i] = i ? 0 : v;
  return 0;
}

int Pit::write(u64 port, u32 len, const void *val) {
  bool counters = port >= kCounterPort && port - kCounterPort < kNrPorts;
  if (!counters && port != kSpeakerPort)
    return -EOPNOTSUPP;
  if (!len)
    return 0;
  u8 v = *static_cast<const u8 *>(val);
  unsigned long fl = mk_spin_lock_irqsave(lock_);
  u64 now = mk_now_ns();
  if (port == kSpeakerPort) {
    // Bits 2 and 3 (SERR#/IOCHK# NMI enables) are not PIT state and have
    // no place in kvm_pit_state2: dropped, as KVM.
    if (v & kSpkData)
      flags_ |= KVM_PIT_FLAGS_SPEAKER_DATA_ON;
    else
      flags_ &= ~KVM_PIT_FLAGS_SPEAKER_DATA_ON;
    set_gate2(v & kSpkGate2, now);
  } else if (port - kCounterPort == 3) {
    control_word(v, now);
  } else {
    write_counter(static_cast<u32>(port - kCounterPort), v, now);
  }
  mk_spin_unlock_irqrestore(lock_, fl);
  return 0;
}

void Pit::get_state(kvm_pit_state2 *out) {
  *out = kvm_pit_state2{};
  unsigned long fl = mk_spin_lock_irqsave(lock_);
  for (u32 i = 0; i < 3; i++) {
    const Counter &c = ch_[i];
    kvm_pit_channel_state &s = out->channels[i];
    s.count = c.count;
    s.latched_count = c.latched_count;
    s.count_latched = c.count_latched;
    s.status_latched = c.status_latched;
    s.status = c.status;
    s.read_state = c.read_state;
    s.write_state = c.write_state;
    s.write_latch = c.write_latch;
    s.rw_mode = c.rw_mode;
    s.mode = c.mode;
    s.bcd = c.bcd;
    s.gate = c.gate;
    s.count_load_time = static_cast<s64>(c.count_load_time);
  }
  out->flags = flags_;
  mk_spin_unlock_irqrestore(lock_, fl);
}

// KVM_SET_PIT2 as KVM's kvm_vm_ioctl_set_pit2(): the fields are taken and
// every counter's count is loaded again now. Unlike KVM, which keeps
// whatever it is given, values the 8254 cannot hold are mapped to what
// KVM's own code treats them as: an unknown read/write/latch state is LSB
// (its switch defaults), modes 6 and 7 are 2 and 3, other modes are the
// unprogrammed kModeNone, the count is 16 bits (0 = 0x10000), GATE0/1
// stay tied high.
void Pit::set_state(const kvm_pit_state2 &in) {
  unsigned long fl = mk_spin_lock_irqsave(lock_);
  u64 now = mk_now_ns();
  for (u32 i = 0; i < 3; i++) {
    const kvm_pit_channel_state &s = in.channels[i];
    Counter &c = ch_[i];
    c.latched_count = s.latched_count;
    c.count_latched = s.count_latched <= kRwWord0 ? s.count_latched : kRwLsb;
    c.status_latched = s.status_latched != 0;
    c.status = s.status;
    c.read_state = s.read_state <= kRwWord1 ? s.read_state : kRwLsb;
    c.write_state = s.write_state <= kRwWord1 ? s.write_state : kRwLsb;
    c.write_latch = s.write_latch;
    c.rw_mode = s.rw_mode <= kRwWord0 ? s.rw_mode : kRwLsb;
    c.mode = s.mode <= 5 ? s.mode : s.mode <= 7 ? static_cast<u8>(s.mode - 4) : kModeNone;
    c.bcd = s.bcd != 0;
    c.gate = i == 2 ? s.gate != 0 : true;
    u32 count = s.count & 0xffff;
    c.count = count ? count : 0x10000;
    // Loaded and counting from now in every mode (KVM's pit_load_count()
    // starts modes 1 and 5 too): the restored count_load_time is ignored.
    c.phase = Counter::Phase::kCounting;
    c.null_count = false;
    c.held_ce = 0;
    c.count_load_time = now;
    c.gate_low_time = now;
  }
  flags_ = in.flags & kStateFlags;
  program_timer();
  mk_spin_unlock_irqrestore(lock_, fl);
}

}  // namespace mk::irq
