// SPDX-License-Identifier: GPL-2.0
// GSI routing (KVM_SET_GSI_ROUTING): which PIC/IOAPIC pins or MSI a GSI
// drives. Semantics of Linux 6.1: virt/kvm/irqchip.c kvm_set_irq_routing()
// and arch/x86/kvm/irq_comm.c kvm_set_routing_entry(), default_routing[].
// The MSI decoding follows kvm_set_msi_irq() (SDM vol. 3A 10.11.1 address,
// 10.11.2 data).
#pragma once

#include <linux/kvm.h>

#include "irq/irq.h"
#include "rt/types.h"

namespace mk::irq {

// One route of a GSI, as the dispatcher needs it.
//  KVM_IRQ_ROUTING_IRQCHIP: chip = KVM_IRQCHIP_PIC_MASTER / _PIC_SLAVE /
//    _IOAPIC; pin = the IOAPIC pin 0-23, or for the PICs KVM's combined
//    PIC pin 0-15 (the slave's pins are 8-15, what kvm_pic_set_irq takes).
//  KVM_IRQ_ROUTING_MSI: address_lo/address_hi/data.
//  KVM_IRQ_ROUTING_HV_SINT: accepted as KVM does (no check); chip = vcpu,
//    pin = sint. minikvm has no SynIC, so (as KVM with an inactive SynIC)
//    raising it is ignored: the dispatcher answers -EINVAL for it.
struct RouteEntry {
  u32 gsi;
  u32 type;
  u32 chip, pin;
  u32 address_lo, address_hi, data;
};

class GsiRouting {
 public:
  static constexpr u32 kMaxRoutes = 4096;  // KVM_MAX_IRQ_ROUTES (GSIs and entries)
  // Routes one GSI can have: one per irqchip (PIC master, PIC slave,
  // IOAPIC), or a single MSI/HV_SINT route.
  static constexpr u32 kMaxPerGsi = 3;
  static constexpr u32 kPicPins = 16;  // KVM's combined PIC pin space
  static constexpr u32 kIoapicPins = KVM_IOAPIC_NUM_PINS;

  GsiRouting() = default;
  ~GsiRouting();
  GsiRouting(const GsiRouting &) = delete;
  GsiRouting &operator=(const GsiRouting &) = delete;

  // The lock: 0 / -ENOMEM. Until set()/set_default() there is no table and
  // every lookup() finds nothing (KVM before KVM_CREATE_IRQCHIP).
  int init();

  // KVM_SET_GSI_ROUTING after the ioctl copied the entries in. Checks, in
  // KVM's order, with -EINVAL for: nr > kMaxRoutes (the ioctl's check),
  // entries null with nr > 0, any gsi >= kMaxRoutes (before anything
  // else); then per entry in order: flags (MSI: only KVM_MSI_VALID_DEVID,
  // others: 0), a second route of a GSI unless both are irqchip routes to
  // different chips, the type (IRQCHIP, MSI, HV_SINT; S390 and Xen are
  // not x86/minikvm), irqchip number and pin (PIC pins < 8, IOAPIC < 24),
  // an MSI address_hi with bits 7:0 set in x2APIC format. The new table
  // replaces the old one atomically (a lookup sees either, whole) and the
  // old one is freed; on error the old one stays. 0 / -EINVAL / -ENOMEM.
  // The KVM ioctl's own checks (struct flags, in-kernel irqchip) and the
  // copy from userspace are the caller's.
  int set(const kvm_irq_routing_entry *entries, u32 nr);

  // KVM_CREATE_IRQCHIP's default_routing[]: GSI 0-15 -> IOAPIC pin = GSI
  // and PIC pin GSI (master 0-7, slave 8-15); GSI 16-23 -> IOAPIC only.
  // IRQ 0 really is IOAPIC pin 0 here: KVM has no ISA override in the
  // default table (userspace that wants IRQ0 -> pin 2, as QEMU does, sets
  // its own table). GSI 2 goes to PIC pin 2 (the cascade) and IOAPIC pin 2.
  int set_default();

  // Copies up to max routes of gsi into out, in the order KVM's
  // kvm_set_irq() raises them (the order they were given to set()), and
  // returns how many (0: no route). Any context; takes the lock briefly.
  u32 lookup(u32 gsi, RouteEntry *out, u32 max);

  // kvm_irq_map_chip_pin(): the GSI routed to an irqchip pin (PIC pins in
  // the combined 0-15 space), -1 if none (or bad chip/pin). When several
  // GSIs name the same pin, the last one given wins (as KVM).
  int gsi_of(u32 chip, u32 pin);

  // KVM_CAP_IRQ_ROUTING's answer: KVM_MAX_IRQ_ROUTES.
  u32 max_gsi() const { return kMaxRoutes; }

  // KVM_CAP_X2APIC_API with KVM_X2APIC_API_USE_32BIT_IDS (kvm->arch.
  // x2apic_format): MSI address_hi bits 31:8 become destination bits 31:8
  // and address_hi bits 7:0 must be 0. Affects later set() calls.
  void set_x2apic_format(bool on) { __atomic_store_n(&x2apic_format_, on, __ATOMIC_RELAXED); }
  bool x2apic_format() const { return __atomic_load_n(&x2apic_format_, __ATOMIC_RELAXED); }

 private:
  struct Table;
  static Table *alloc_table(u32 nr_gsi, u32 nr);
  static void free_table(Table *t);
  int add(Table *t, const kvm_irq_routing_entry &ue, bool x2apic_format);

  void *lock_ = nullptr;
  Table *table_ = nullptr;
  bool x2apic_format_ = false;
};

// kvm_msi_route_invalid(): in x2APIC format address_hi bits 7:0 must be 0.
// KVM checks it again at delivery (kvm_set_msi: -EINVAL), since the format
// may be enabled after the route was set.
inline bool msi_route_invalid(u32 address_hi, bool x2apic_format) {
  return x2apic_format && (address_hi & 0xff);
}

// An MSI as an APIC bus message (kvm_set_msi_irq()): destination address
// bits 19:12 (plus address_hi bits 31:8 in x2APIC format; the "extended
// destination ID" bits 11:5 are not used by KVM 6.1), redirection hint bit
// 3, destination mode bit 2 (1 = logical); data: vector 7:0, delivery mode
// 10:8 (all eight values passed on), trigger mode bit 15 (1 = level). Data
// bit 14 (level assert) is ignored: the message always asserts.
ApicMessage msi_message(u32 address_lo, u32 address_hi, u32 data, bool x2apic_format = false);

}  // namespace mk::irq
