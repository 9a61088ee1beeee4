// SPDX-License-Identifier: GPL-2.0
// The 8259A pair of the PC (see pic.h for the sources).
//
// One lock covers both chips: the cascade ties them together (a slave
// request shows on the master's IR2, an INTA reaches both), so every
// operation sees and leaves a consistent pair. The lock is never held
// while calling the host; what the host must hear is collected in a
// Deferred and reported after unlocking.
#include "irq/pic.h"

#include <minikvm/platform.h>

#include "rt/errno.h"

namespace mk::irq {
namespace {

// kvm_pic_state is the wire format of Pic::Chip: same fields, same order.
static_assert(sizeof(Pic::Chip) == sizeof(kvm_pic_state));
static_assert(__builtin_offsetof(Pic::Chip, elcr_mask) == __builtin_offsetof(kvm_pic_state, elcr_mask));
static_assert(kNrSources <= 32, "line_sources_ is a u32 bitmap");

// Command words at the even port (8259A datasheet, "Programming the
// 8259A"): D4 = 1 is ICW1; otherwise D3 tells OCW3 (1) from OCW2 (0).
constexpr u8 kIcw1 = 0x10;
constexpr u8 kIcw1Ic4 = 0x01;  // ICW4 needed
constexpr u8 kOcw3 = 0x08;
constexpr u8 kOcw3Ris = 0x01;   // read register: 1 = ISR, 0 = IRR
constexpr u8 kOcw3Rr = 0x02;    // RIS is valid
constexpr u8 kOcw3Poll = 0x04;  // poll command
constexpr u8 kOcw3Smm = 0x20;   // special mask mode: 1 = set, 0 = reset
constexpr u8 kOcw3Esmm = 0x40;  // SMM is valid
// ICW4 (the other bits are fixed on the PC: uPM = 1 for x86, BUF and M/S
// unused; chipset "ICW4").
constexpr u8 kIcw4Aeoi = 0x02;
constexpr u8 kIcw4Sfnm = 0x10;

// OCW2 bits 7:5 (R, SL, EOI), datasheet table "Operation Command Word 2".
enum Ocw2 : u8 {
  kRotateAeoiClear = 0,  // rotate in automatic EOI mode (clear)
  kNonSpecificEoi = 1,
  kNop = 2,
  kSpecificEoi = 3,  // L2-L0 name the level
  kRotateAeoiSet = 4,
  kRotateNonSpecificEoi = 5,
  kSetPriority = 6,  // L2-L0 become the lowest priority
  kRotateSpecificEoi = 7,
};

// The master's input the slave's INT drives (PC wiring; ICW3 is 04h on
// the master and 02h on the slave, chipset "ICW3").
constexpr u32 kCascadeIrq = 2;
// The level whose vector an INTA with no request left returns (8259A
// datasheet, "Interrupt Sequence": a request that went away before INTA
// is answered as IR7, without setting its ISR bit).
constexpr u32 kSpuriousIrq = 7;

// Lines that cannot be level-triggered (chipset ELCR1/ELCR2: IRQ0, 1,
// 2, 8 and 13 are edge only; KVM's elcr_mask).
constexpr u8 kElcrMaskMaster = 0xf8;
constexpr u8 kElcrMaskSlave = 0xde;

// The priority rank (0 = highest) of the best-placed level in mask, or 8
// for an empty mask. Rank r is level (r + priority_add) & 7: rotation moves
// the highest priority to priority_add (8259A "Rotation").
u32 priority_rank(const Pic::Chip &c, u8 mask) {
  if (!mask)
    return 8;
  u32 r = 0;
  while (!(mask & (1u << ((r + c.priority_add) & 7))))
    r++;
  return r;
}

u8 bit(u32 irq) { return u8(1u << irq); }

}  // namespace

Pic::Pic(PicHost &host, u32 trace_vm) : host_(host), trace_vm_(trace_vm) {
  chips_[0].elcr_mask = kElcrMaskMaster;
  chips_[1].elcr_mask = kElcrMaskSlave;
}

Pic::~Pic() {
  if (lock_)
    mk_spin_free(lock_);
}

int Pic::init() {
  lock_ = mk_spin_new();
  return lock_ ? 0 : -ENOMEM;
}

unsigned long Pic::lock() { return mk_spin_lock_irqsave(lock_); }

void Pic::unlock(unsigned long flags, Deferred &d) {
  mk_spin_unlock_irqrestore(lock_, flags);
  for (u32 pin = 0; pin < kNrPins; pin++)
    if (d.mask_changed & (1u << pin))
      host_.pic_mask_changed(pin, d.masked & (1u << pin));
  for (u32 pin = 0; pin < kNrPins; pin++)
    if (d.acked & (1u << pin))
      host_.pic_irq_acked(pin);
  if (d.intr_raised)
    host_.pic_intr_changed();
}

// A new level on input irq of c. Edge mode latches a rising edge into IRR
// and remembers the level (last_irr) to see the next one; level mode
// (ELCR) makes IRR follow the line (8259A "Edge and Level Triggered
// Modes"; chipset "ELCR"). The return value is KVM's pic_set_irq1().
int Pic::latch(Chip &c, u32 irq, bool level) {
  u8 m = bit(irq);
  int ret = 1;
  if (c.elcr & m) {
    if (level) {
      ret = !(c.irr & m);
      c.irr |= m;
      c.last_irr |= m;
    } else {
      c.irr &= u8(~m);
      c.last_irr &= u8(~m);
    }
  } else if (level) {
    if (!(c.last_irr & m)) {
      ret = !(c.irr & m);
      c.irr |= m;
    }
    c.last_irr |= m;
  } else {
    c.last_irr &= u8(~m);
  }
  return (c.imr & m) ? -1 : ret;
}

// The level c asks the CPU to take, or -1: the highest-priority unmasked
// request, if it outranks every level in service (fully nested mode).
// Special mask mode lets a masked in-service level stop blocking the
// others; special fully nested mode lets the master take a second request
// on IR2 while IR2 is in service, so that a higher slave level can nest
// (8259A "Special Mask Mode", "Special Fully Nested Mode").
int Pic::highest_request(const Chip &c) const {
  u32 req = priority_rank(c, c.irr & u8(~c.imr));
  if (req == 8)
    return -1;
  u8 in_service = c.isr;
  if (c.special_mask)
    in_service &= u8(~c.imr);
  if (c.special_fully_nested_mode && is_master(c))
    in_service &= u8(~bit(kCascadeIrq));
  if (req >= priority_rank(c, in_service))
    return -1;
  return int((req + c.priority_add) & 7);
}

// Recomputes the INT outputs after any change. The slave's INT is an edge
// into the master's IR2 (pulsed as KVM and bhyve do: IR2 is edge-only, so
// the latched request stays until INTA even if the slave's INT drops).
void Pic::update(Deferred &d) {
  if (highest_request(chips_[1]) >= 0) {
    latch(chips_[0], kCascadeIrq, true);
    latch(chips_[0], kCascadeIrq, false);
  }
  bool out = highest_request(chips_[0]) >= 0;
  if (out && !output_)
    d.intr_raised = true;
  __atomic_store_n(&output_, out, __ATOMIC_RELEASE);
}

void Pic::clear_isr(Chip &c, u32 irq, Deferred &d) {
  c.isr &= u8(~bit(irq));
  d.acked |= u16(1u << pin_of(c, irq));
}

// The INTA response of one chip: the request goes in service; an edge
// request leaves IRR, a level one stays while the line is high (as KVM
// and QEMU; the IRR follows a level line, chipset "ELCR"). Auto-EOI ends
// service at once, rotating if asked (8259A "Automatic End of Interrupt
// (AEOI) Mode").
void Pic::intack(Chip &c, u32 irq, Deferred &d) {
  c.isr |= bit(irq);
  if (!(c.elcr & bit(irq)))
    c.irr &= u8(~bit(irq));
  if (c.auto_eoi) {
    if (c.rotate_on_auto_eoi)
      c.priority_add = u8((irq + 1) & 7);
    clear_isr(c, irq, d);
  }
}

int Pic::set_irq(u32 irq, u32 source, bool level) {
  if (irq >= kNrPins || source >= kNrSources)
    return -EINVAL;
  unsigned long flags = lock();
  if (level)
    line_sources_[irq] |= 1u << source;
  else
    line_sources_[irq] &= ~(1u << source);
  Deferred d;
  Chip &c = chips_[irq >> 3];
  int ret = latch(c, irq & 7, line_sources_[irq] != 0);
  // As KVM's kvm_pic_set_irq: coalesced when latch() found the request
  // already in IRR (0; a masked pin answers -1); level is the pin's level
  // over all sources, what the chip sees.
  if (mk_trace_on[MK_TP_PIC_SET_IRQ])
    mk_trace_pic_set_irq(trace_vm_, static_cast<u8>(irq >> 3), static_cast<u8>(irq & 7), line_sources_[irq] != 0,
                         ret == 0, c.elcr, c.imr);
  update(d);
  unlock(flags, d);
  return ret;
}

void Pic::clear_source(u32 source) {
  if (source >= kNrSources)
    return;
  unsigned long flags = lock();
  for (u32 &l : line_sources_)
    l &= ~(1u << source);
  Deferred d;
  unlock(flags, d);
}

bool Pic::intr() const { return __atomic_load_n(&output_, __ATOMIC_ACQUIRE); }

u8 Pic::acknowledge() {
  unsigned long flags = lock();
  Deferred d;
  Chip &master = chips_[0], &slave = chips_[1];
  u8 vector;
  int irq = highest_request(master);
  if (irq < 0) {
    vector = u8(master.irq_base + kSpuriousIrq);
  } else {
    intack(master, u32(irq), d);
    if (u32(irq) == kCascadeIrq) {
      // The master's second INTA pulse is answered by the slave named in
      // ICW3 (8259A "Cascading").
      int irq2 = highest_request(slave);
      if (irq2 >= 0)
        intack(slave, u32(irq2), d);
      else
        irq2 = kSpuriousIrq;
      vector = u8(slave.irq_base + irq2);
    } else {
      vector = u8(master.irq_base + irq);
    }
  }
  // As KVM's kvm_pic_read_irq: the output counts as dropped by the INTA,
  // so a request still pending is reported again (the vCPU must open an
  // interrupt window for it).
  __atomic_store_n(&output_, false, __ATOMIC_RELAXED);
  update(d);
  unlock(flags, d);
  return vector;
}

// ICW1 starts the initialization sequence (8259A "Initialization Command
// Words"): the edge sense is reset (a line must go low and high again),
// IMR cleared, IR7 lowest priority, special mask mode off, reads select
// IRR, and without IC4 the ICW4 functions are cleared. Level requests stay
// in IRR: their lines are still high. SNGL and LTIM are ignored: the PC
// pair is always cascaded and triggering is per line in the ELCR (chipset
// "ICW1": SNGL must be 0, LTIM is disabled); ADI is 8080-mode only.
void Pic::icw1(Chip &c, u8 val, bool output_accepted, Deferred &d) {
  u8 dropped_edges = c.irr & u8(~c.elcr);
  c.init4 = val & kIcw1Ic4;
  c.last_irr = 0;
  c.irr &= c.elcr;
  c.imr = 0;
  c.priority_add = 0;
  c.special_mask = 0;
  c.read_reg_select = 0;
  if (!c.init4) {
    c.special_fully_nested_mode = 0;
    c.auto_eoi = 0;
  }
  c.init_state = 1;
  // KVM (kvm_pic_reset): an edge request dropped here will never be
  // acknowledged, so report it acked (the PIT would otherwise wait for it
  // forever), and leave the levels it names out of service; only while a
  // vCPU takes the PIC's output.
  if (output_accepted)
    for (u32 irq = 0; irq < 8; irq++)
      if (dropped_edges & bit(irq))
        clear_isr(c, irq, d);
  update(d);
}

void Pic::write_even(Chip &c, u8 val, bool output_accepted, Deferred &d) {
  if (val & kIcw1) {
    icw1(c, val, output_accepted, d);
    return;
  }
  if (val & kOcw3) {
    if (val & kOcw3Poll)
      c.poll = 1;
    if (val & kOcw3Rr)
      c.read_reg_select = val & kOcw3Ris;
    if (val & kOcw3Esmm)
      c.special_mask = (val & kOcw3Smm) ? 1 : 0;
    update(d);
    return;
  }
  u32 level = val & 7;
  switch (Ocw2(val >> 5)) {
    case kRotateAeoiClear:
    case kRotateAeoiSet:
      c.rotate_on_auto_eoi = (val >> 7) & 1;
      break;
    case kNonSpecificEoi:
    case kRotateNonSpecificEoi: {
      // Ends the highest-priority level in service: the one being serviced
      // in fully nested mode. In special mask mode the masked levels are
      // not being serviced (the handler masked itself to let others nest),
      // so skip them (as bhyve; the datasheet asks for specific EOIs there).
      u8 in_service = c.isr;
      if (c.special_mask)
        in_service &= u8(~c.imr);
      u32 r = priority_rank(c, in_service);
      if (r == 8)
        break;
      u32 irq = (r + c.priority_add) & 7;
      if ((val >> 5) == kRotateNonSpecificEoi)
        c.priority_add = u8((irq + 1) & 7);
      clear_isr(c, irq, d);
      update(d);
      break;
    }
    case kSpecificEoi:
      clear_isr(c, level, d);
      update(d);
      break;
    case kSetPriority:
      c.priority_add = u8((level + 1) & 7);
      update(d);
      break;
    case kRotateSpecificEoi:
      c.priority_add = u8((level + 1) & 7);
      clear_isr(c, level, d);
      update(d);
      break;
    case kNop:
      break;
  }
}

// The odd port: ICW2-ICW4 while initializing, OCW1 (IMR) after.
void Pic::write_odd(Chip &c, u8 val, Deferred &d) {
  switch (c.init_state) {
    case 0: {
      u8 changed = c.imr ^ val;
      c.imr = val;
      u32 shift = is_master(c) ? 0 : 8;
      d.mask_changed |= u16(changed << shift);
      d.masked = u16((d.masked & ~(0xffu << shift)) | (u32(val) << shift));
      update(d);
      break;
    }
    case 1:
      // ICW2: T7-T3 of the vector; the 8259A supplies bits 2:0 (x86 mode).
      c.irq_base = val & 0xf8;
      c.init_state = 2;
      break;
    case 2:
      // ICW3: the cascade wiring is fixed, the value is ignored.
      c.init_state = c.init4 ? 3 : 0;
      break;
    case 3:
      c.special_fully_nested_mode = (val & kIcw4Sfnm) ? 1 : 0;
      c.auto_eoi = (val & kIcw4Aeoi) ? 1 : 0;
      c.init_state = 0;
      break;
    default:
      // Only KVM_SET_IRQCHIP can put other values here; KVM ignores the
      // write too, until the next ICW1.
      break;
  }
}

// Poll command (8259A "The Poll Command"): the read is an INTA cycle of
// this chip alone, returning 0x80 | level, or 0 with no request.
u8 Pic::poll_read(Chip &c, Deferred &d) {
  int irq = highest_request(c);
  if (irq < 0) {
    update(d);
    return 0;
  }
  // The master latched this slave request on IR2; software took it
  // directly, so the master must not answer an INTA for it later.
  if (!is_master(c))
    chips_[0].irr &= u8(~bit(kCascadeIrq));
  intack(c, u32(irq), d);
  update(d);
  return u8(0x80 | irq);
}

u8 Pic::read_chip(Chip &c, bool odd, Deferred &d) {
  if (c.poll) {
    c.poll = 0;
    return poll_read(c, d);
  }
  if (odd)
    return c.imr;
  return c.read_reg_select ? c.isr : c.irr;
}

int Pic::read(u64 port, u32 len, void *val) {
  bool pic_port = port == kMasterPort || port == kMasterPort + 1 || port == kSlavePort || port == kSlavePort + 1;
  bool elcr_port = port == kElcrPort || port == kElcrPort + 1;
  if ((!pic_port && !elcr_port) || !len || len > 8)
    return -EOPNOTSUPP;
  u8 *out = static_cast<u8 *>(val);
  if (len != 1) {
    // KVM's picdev_read: reads wider than a byte return zeros.
    for (u32 i = 0; i < len; i++)
      out[i] = 0;
    return 0;
  }
  unsigned long flags = lock();
  Deferred d;
  if (elcr_port)
    *out = chips_[port & 1].elcr;
  else
    *out = read_chip(chips_[port == kSlavePort || port == kSlavePort + 1], port & 1, d);
  unlock(flags, d);
  return 0;
}

int Pic::write(u64 port, u32 len, const void *val) {
  bool pic_port = port == kMasterPort || port == kMasterPort + 1 || port == kSlavePort || port == kSlavePort + 1;
  bool elcr_port = port == kElcrPort || port == kElcrPort + 1;
  if ((!pic_port && !elcr_port) || !len || len > 8)
    return -EOPNOTSUPP;
  if (len != 1)
    return 0;  // KVM's picdev_write: ignored
  u8 v = *static_cast<const u8 *>(val);
  bool odd = port & 1;
  // Asked before locking: the host must not be called under the lock.
  bool accepted = pic_port && !odd && (v & kIcw1) ? host_.pic_output_accepted() : false;
  unsigned long flags = lock();
  Deferred d;
  if (elcr_port) {
    Chip &c = chips_[odd];
    c.elcr = v & c.elcr_mask;
  } else {
    Chip &c = chips_[port == kSlavePort || port == kSlavePort + 1];
    if (odd)
      write_odd(c, v, d);
    else
      write_even(c, v, accepted, d);
  }
  unlock(flags, d);
  return 0;
}

void Pic::get_state(u32 chip, kvm_pic_state *out) {
  if (chip > 1) {
    *out = kvm_pic_state{};
    return;
  }
  unsigned long flags = lock();
  const Chip &c = chips_[chip];
  out->last_irr = c.last_irr;
  out->irr = c.irr;
  out->imr = c.imr;
  out->isr = c.isr;
  out->priority_add = c.priority_add;
  out->irq_base = c.irq_base;
  out->read_reg_select = c.read_reg_select;
  out->poll = c.poll;
  out->special_mask = c.special_mask;
  out->init_state = c.init_state;
  out->auto_eoi = c.auto_eoi;
  out->rotate_on_auto_eoi = c.rotate_on_auto_eoi;
  out->special_fully_nested_mode = c.special_fully_nested_mode;
  out->init4 = c.init4;
  out->elcr = c.elcr;
  out->elcr_mask = c.elcr_mask;
  Deferred d;
  unlock(flags, d);
}

void Pic::set_state(u32 chip, const kvm_pic_state &in) {
  if (chip > 1)
    return;
  unsigned long flags = lock();
  Chip &c = chips_[chip];
  c.last_irr = in.last_irr;
  c.irr = in.irr;
  c.imr = in.imr;
  c.isr = in.isr;
  c.priority_add = in.priority_add;
  c.irq_base = in.irq_base;
  c.read_reg_select = in.read_reg_select;
  c.poll = in.poll;
  c.special_mask = in.special_mask;
  c.init_state = in.init_state;
  c.auto_eoi = in.auto_eoi;
  c.rotate_on_auto_eoi = in.rotate_on_auto_eoi;
  c.special_fully_nested_mode = in.special_fully_nested_mode;
  c.init4 = in.init4;
  c.elcr = in.elcr;
  c.elcr_mask = in.elcr_mask;
  // KVM_SET_IRQCHIP ends with kvm_pic_update_irq().
  Deferred d;
  update(d);
  unlock(flags, d);
}

void Pic::reset() {
  unsigned long flags = lock();
  chips_[0] = Chip{};
  chips_[1] = Chip{};
  chips_[0].elcr_mask = kElcrMaskMaster;
  chips_[1].elcr_mask = kElcrMaskSlave;
  for (u32 &l : line_sources_)
    l = 0;
  __atomic_store_n(&output_, false, __ATOMIC_RELEASE);
  Deferred d;
  unlock(flags, d);
}

}  // namespace mk::irq
