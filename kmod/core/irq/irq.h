// SPDX-License-Identifier: GPL-2.0
// What the interrupt controllers say to each other: messages on the APIC
// bus (SDM vol. 3A 10.6.1 ICR, 10.11 MSI, 82093AA redirection entries) and
// the narrow interfaces between the device models and the VM/vCPU that own
// them. Device models include this, never vm.h or vcpu.h, so each one is
// unit-tested on its own with fakes of these interfaces.
#pragma once

#include <minikvm/trace.h>  // MINIKVM_ORIGIN_*

#include "rt/types.h"

namespace mk::irq {

// Delivery mode (ICR bits 10:8, redirection entry bits 10:8, MSI data 10:8).
enum class Delivery : u8 {
  kFixed = 0,
  kLowestPriority = 1,
  kSmi = 2,
  kNmi = 4,
  kInit = 5,
  kStartup = 6,
  kExtInt = 7,
};

// ICR destination shorthand (bits 19:18).
enum class Shorthand : u8 { kNone = 0, kSelf = 1, kAllIncludingSelf = 2, kAllExcludingSelf = 3 };

// One interrupt message on the APIC bus, whoever sent it.
struct ApicMessage {
  u8 vector = 0;
  Delivery delivery = Delivery::kFixed;
  bool logical = false;          // destination mode: logical (1) / physical (0)
  bool level_assert = true;      // ICR level bit (an INIT level de-assert has it clear)
  bool level_triggered = false;  // trigger mode
  Shorthand shorthand = Shorthand::kNone;
  // Destination: xAPIC uses bits 7:0 (0xff = broadcast), x2APIC all 32
  // (0xffffffff = broadcast). Senders in xAPIC mode put the 8-bit field here.
  u32 dest = 0;
  bool redirection_hint = false;  // MSI RH: lowest priority among the destinations
  // Who sent it (MINIKVM_ORIGIN_*: the LAPIC's ICR, an MSI, the IOAPIC),
  // for the minikvm_apic_accept tracepoint; every sender sets it.
  u32 origin = MINIKVM_ORIGIN_OTHER;
};

class Lapic;

// The APIC bus of one VM: the IOAPIC, MSIs and IPIs deliver through it.
class ApicBus {
 public:
  virtual ~ApicBus() = default;
  // Delivers m; source is the sending LAPIC (IPIs: shorthands and
  // self-exclusion), null for the IOAPIC and MSIs. Returns KVM's
  // convention (kvm_irq_delivery_to_apic): -1 when no LAPIC was a
  // destination, otherwise the number of LAPICs that accepted it.
  virtual int deliver(const ApicMessage &m, Lapic *source) = 0;
};

// A GSI: what the PIT (and later irqfd) raise; the VM routes it to the
// PIC/IOAPIC pins or an MSI (KVM_SET_GSI_ROUTING). Line state is kept per
// source (KVM's irq_source_id) and the pin sees their OR.
class GsiSink {
 public:
  virtual ~GsiSink() = default;
  // Returns KVM's kvm_set_irq() convention: <0 ignored (masked / no
  // destination), 0 coalesced, >0 number of CPUs it was delivered to.
  virtual int set_gsi(u32 gsi, u32 source, bool level) = 0;
};

// irq_source_id values (KVM: KVM_USERSPACE_IRQ_SOURCE_ID = 0,
// KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID = 1; the PIT takes another).
inline constexpr u32 kSourceUserspace = 0;
inline constexpr u32 kSourceResample = 1;
inline constexpr u32 kSourcePit = 2;
inline constexpr u32 kNrSources = 8;

}  // namespace mk::irq
