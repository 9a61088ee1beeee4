// SPDX-License-Identifier: GPL-2.0
// The PC's pair of cascaded 8259A programmable interrupt controllers, with
// the PIIX/ICH edge/level control registers (ELCR) at 0x4D0/0x4D1.
//
// The master (ports 0x20/0x21) takes IRQ0-7 and has the slave's INT output
// on its IR2; the slave (ports 0xA0/0xA1) takes IRQ8-15. The master's INT
// output goes to the BSP (LAPIC LINT0 as ExtINT, or straight to INTR with
// the LAPIC disabled): the vCPU reads it with intr() and runs the INTA
// cycle with acknowledge().
//
// Sources: Intel 8259A datasheet (order no. 231468), "Programmable
// Interrupt Controller"; the register descriptions of the 8259 pair in
// Intel's PC chipsets (82371AB PIIX4, the ICH/PCH LPC bridge: "ICW1" to
// "ICW4", "ELCR1"/"ELCR2"; cited below as "chipset"), which fix the PC
// wiring (cascade on IR2, x86 mode, ELCR instead of LTIM).
#pragma once

#include <linux/kvm.h>

#include "io/bus.h"
#include "irq/irq.h"
#include "rt/types.h"

namespace mk::irq {

// What the PIC tells the VM. Every call is made without the PIC's lock held
// (the callee may call back into the Pic), from whatever context the Pic
// was called in: a vCPU thread, an ioctl or a hard-irq timer callback.
class PicHost {
 public:
  virtual ~PicHost() = default;
  // The master's INT output went from deasserted to asserted (or is still
  // asserted after an INTA cycle, so the next request needs an interrupt
  // window): wake/kick the vCPU that takes ExtINT (KVM: pic_unlock() ->
  // KVM_REQ_EVENT + kick on the first vCPU whose LAPIC accepts PIC
  // interrupts). May come from the vCPU thread itself, inside
  // acknowledge(). Not called when the output drops.
  virtual void pic_intr_changed() = 0;
  // Pin 0..15 left in-service (EOI, auto-EOI) or had its edge request
  // dropped by ICW1: KVM's kvm_notify_acked_irq(kvm, KVM_IRQCHIP_PIC_*,
  // pin), which drives the PIT's reinjection and irqfd resampling.
  virtual void pic_irq_acked(u32 /*pin*/) {}
  // OCW1 changed the mask bit of pin 0..15 (KVM's kvm_fire_mask_notifiers;
  // the PIT pauses reinjection while IRQ0 is masked).
  virtual void pic_mask_changed(u32 /*pin*/, bool /*masked*/) {}
  // Does some vCPU take the PIC's output now (KVM's
  // kvm_apic_accept_pic_intr on any vCPU)? Asked, without the lock, before
  // an ICW1 write: KVM drops the in-service bits of pending edge requests
  // (and reports them acked) only then.
  virtual bool pic_output_accepted() { return true; }
};

// Polymorphic (an IoDevice): a unit test (RTTI + UBSan) calls it through
// no_sanitize("vptr") forwarders, as the core has no typeinfo to check
// against (see guest_mmu.h and pic_test.cpp).
class Pic final : public io::IoDevice {
 public:
  static constexpr u32 kNrPins = 16;
  static constexpr u64 kMasterPort = 0x20;  // 0x20-0x21
  static constexpr u64 kSlavePort = 0xa0;   // 0xA0-0xA1
  static constexpr u64 kElcrPort = 0x4d0;   // 0x4D0 (master), 0x4D1 (slave)

  // trace_vm: the VM's number in the tracepoints (Vm::trace_id()).
  explicit Pic(PicHost &host, u32 trace_vm = 0);
  ~Pic() override;
  Pic(const Pic &) = delete;
  Pic &operator=(const Pic &) = delete;

  // 0 or -ENOMEM (the spinlock). Nothing else may be called before it
  // succeeded; the destructor frees what it allocated either way.
  int init();

  // Drives IRQ line irq (0..15) for irq source `source` (< kNrSources):
  // the pin sees the OR over all sources. Returns KVM's kvm_pic_set_irq()
  // convention: -1 when the pin is masked in the IMR (whatever happened to
  // IRR), 0 when a request found its IRR bit already set (coalesced),
  // otherwise 1 (a new request, a deassert, or an edge line held high).
  // -EINVAL for an out-of-range irq or source (KVM's BUG_ON). Any context.
  int set_irq(u32 irq, u32 source, bool level);
  // Clears source's contribution to every line without touching IRR (as
  // KVM's kvm_pic_clear_all when an irq source id is freed).
  void clear_source(u32 source);

  // The master's INT output now. Lock-free; any context.
  bool intr() const;
  // The INTA cycle for an ExtINT the vCPU injects: returns the vector and
  // moves the request IRR -> ISR (auto-EOI, cascade through IR2). With no
  // request left, the spurious IR7 vector of the master (or of the slave,
  // when the master's request was IR2).
  u8 acknowledge();

  // IoDevice: 0x20-0x21, 0xA0-0xA1, 0x4D0-0x4D1 (register all three ranges
  // with this device). 1-byte accesses; wider ones are swallowed as KVM
  // does (writes ignored, reads return zeros). Other ports: -EOPNOTSUPP.
  int read(u64 port, u32 len, void *val) override;
  int write(u64 port, u32 len, const void *val) override;

  // KVM_GET_IRQCHIP / KVM_SET_IRQCHIP for chip 0 (master) or 1 (slave);
  // for any other chip number get_state zeroes *out and set_state does
  // nothing (the ioctl rejects them first, with -EINVAL).
  // set_state validates nothing, as KVM: every field is stored as given
  // and reads back unchanged, except that the output update KVM does after
  // KVM_SET_IRQCHIP may latch a pending slave request into the master's
  // IR2. Garbage makes the PIC misbehave, never the host.
  void get_state(u32 chip, kvm_pic_state *out);
  void set_state(u32 chip, const kvm_pic_state &in);

  // The state right after creation (KVM: kzalloc): all registers zero,
  // ICW sequence done (init_state 0), vector base 0, ELCR 0, line states
  // cleared. Reports nothing to the host.
  void reset();

  // One 8259A. The fields are kvm_pic_state's, with its meaning and
  // encoding, so that KVM_GET/SET_IRQCHIP is a plain copy.
  struct Chip {
    u8 last_irr;                   // line level as last seen: edge detection
    u8 irr;                        // interrupt request register
    u8 imr;                        // interrupt mask register (OCW1)
    u8 isr;                        // in-service register
    u8 priority_add;               // the highest-priority level (bits 2:0)
    u8 irq_base;                   // ICW2: T7-T3 of the vector
    u8 read_reg_select;            // OCW3 RIS: 1 = ISR, 0 = IRR at the even port
    u8 poll;                       // OCW3 P: the next read is a poll
    u8 special_mask;               // OCW3 SMM
    u8 init_state;                 // 0 ready, 1 want ICW2, 2 want ICW3, 3 want ICW4
    u8 auto_eoi;                   // ICW4 AEOI
    u8 rotate_on_auto_eoi;         // OCW2 rotate in AEOI mode
    u8 special_fully_nested_mode;  // ICW4 SFNM
    u8 init4;                      // ICW1 IC4
    u8 elcr;                       // ELCR: 1 = level-triggered
    u8 elcr_mask;                  // ELCR bits that are writable
  };

 private:
  // Work collected under the lock and done after dropping it.
  struct Deferred {
    bool intr_raised = false;
    u16 acked = 0;         // pins to report to pic_irq_acked
    u16 mask_changed = 0;  // pins to report to pic_mask_changed
    u16 masked = 0;        // their new mask bits
  };

  unsigned long lock();
  void unlock(unsigned long flags, Deferred &d);
  bool is_master(const Chip &c) const { return &c == &chips_[0]; }
  u32 pin_of(const Chip &c, u32 irq) const { return is_master(c) ? irq : irq + 8; }

  int latch(Chip &c, u32 irq, bool level);
  int highest_request(const Chip &c) const;
  void update(Deferred &d);
  void clear_isr(Chip &c, u32 irq, Deferred &d);
  void intack(Chip &c, u32 irq, Deferred &d);
  void icw1(Chip &c, u8 val, bool output_accepted, Deferred &d);
  void write_even(Chip &c, u8 val, bool output_accepted, Deferred &d);
  void write_odd(Chip &c, u8 val, Deferred &d);
  u8 read_chip(Chip &c, bool odd, Deferred &d);
  u8 poll_read(Chip &c, Deferred &d);

  PicHost &host_;
  const u32 trace_vm_;
  void *lock_ = nullptr;
  Chip chips_[2] = {};
  // Per pin, the bitmap of sources driving it high (KVM's irq_states).
  u32 line_sources_[kNrPins] = {};
  bool output_ = false;  // master INT; written under the lock, read atomically
};

}  // namespace mk::irq
