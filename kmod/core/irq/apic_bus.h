// SPDX-License-Identifier: GPL-2.0
// The APIC bus of one VM (SDM vol. 3A 10.6): the set of its local APICs,
// and message delivery to the destinations a message names. IPIs, the
// IOAPIC and MSIs all deliver through it (KVM's kvm_irq_delivery_to_apic).
#pragma once

#include "irq/irq.h"
#include "irq/lapic.h"

namespace mk::irq {

class LapicBus final : public ApicBus {
 public:
  static constexpr u32 kMaxLapics = 64;

  // Out of line, as count(): the unit tests' UBSan needs no typeinfo of
  // this polymorphic class (the core has no RTTI).
  LapicBus();
  ~LapicBus() override;

  // Adds a vCPU's LAPIC as the vCPU is created (under the VM's lock: adds
  // are serialized); 0, -EINVAL (null), -EEXIST (same LAPIC or vCPU id),
  // -ENOSPC. LAPICs stay until the VM goes: the lead destroys vCPUs only
  // after every sender (IOAPIC, PIT, irqfds, other vCPUs) is quiet.
  // Readers take no lock: a slot is written before the count publishes it.
  int add(Lapic *l);
  // Delivers m to every LAPIC that matches() it (KVM's slow path): returns
  // -1 when none matched, else how many accepted it. Lowest priority (or an
  // MSI's redirection hint) goes to one software-enabled destination: the
  // lowest arbitration priority (10.6.2.4), ties taken in turn; physical
  // broadcast with lowest priority is sent as fixed, as KVM. Shorthand self
  // goes to source alone. Call with no LAPIC lock held (any context).
  int deliver(const ApicMessage &m, Lapic *source) override;
  Lapic *find_by_vcpu_id(u32 id) const;

 private:
  int deliver_slow(const ApicMessage &m, Lapic *source);

 public:
  u32 count() const;

 private:
  Lapic *lapics_[kMaxLapics] = {};
  u32 count_ = 0;
  u32 next_ = 0;  // where the search for the lowest priority starts: after the last winner
};

}  // namespace mk::irq
