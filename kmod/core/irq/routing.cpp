// SPDX-License-Identifier: GPL-2.0
// GSI routing table: KVM 6.1's kvm_set_irq_routing() checks, in its order,
// building a new table off to the side and swapping it in under a
// spinlock. KVM's readers walk the table under SRCU; here a reader copies
// its few routes out under the lock instead, so the old table can be freed
// as soon as the pointer is swapped (no grace period to wait for).
#include "irq/routing.h"

#include <minikvm/platform.h>

#include "rt/errno.h"
#include "rt/spinlock.h"

namespace mk::irq {

// One allocation: the header, then nr_gsi slots, then nr entries.
struct GsiRouting::Table {
  struct Slot {
    u16 idx[kMaxPerGsi];  // into entries[], in the order given
    u8 n;
  };
  u32 nr_gsi;  // 1 + the largest GSI given (KVM's nr_rt_entries)
  u32 nr;      // entries used
  s32 chip[KVM_NR_IRQCHIPS][kIoapicPins];  // kvm_irq_routing_table.chip
  Slot *slots;
  RouteEntry *entries;
};

namespace {

using Locked = SpinGuard;

constexpr mk::size_t align8(mk::size_t n) { return (n + 7) & ~static_cast<mk::size_t>(7); }

}  // namespace

GsiRouting::~GsiRouting() {
  free_table(table_);
  if (lock_)
    mk_spin_free(lock_);
}

int GsiRouting::init() {
  if (!lock_)
    lock_ = mk_spin_new();
  return lock_ ? 0 : -ENOMEM;
}

GsiRouting::Table *GsiRouting::alloc_table(u32 nr_gsi, u32 nr) {
  // At most 4096 GSIs and 4096 entries: about 150 KiB, no overflow.
  mk::size_t head = align8(sizeof(Table));
  mk::size_t slots = align8(sizeof(Table::Slot) * nr_gsi);
  mk::size_t size = head + slots + sizeof(RouteEntry) * nr;
  auto *mem = static_cast<u8 *>(mk_alloc(size));
  if (!mem)
    return nullptr;
  __builtin_memset(mem, 0, size);
  auto *t = reinterpret_cast<Table *>(mem);
  t->nr_gsi = nr_gsi;
  t->nr = 0;
  for (auto &c : t->chip)
    for (auto &g : c)
      g = -1;
  t->slots = reinterpret_cast<Table::Slot *>(mem + head);
  t->entries = reinterpret_cast<RouteEntry *>(mem + head + slots);
  return t;
}

void GsiRouting::free_table(Table *t) { mk_free(t); }

// One entry of kvm_set_irq_routing()'s loop: the flags check, then
// setup_routing_entry() and kvm_set_routing_entry(). The caller checked
// ue.gsi < t->nr_gsi.
int GsiRouting::add(Table *t, const kvm_irq_routing_entry &ue, bool x2apic_format) {
  if (ue.type == KVM_IRQ_ROUTING_MSI) {
    if (ue.flags & ~KVM_MSI_VALID_DEVID)
      return -EINVAL;
  } else if (ue.flags) {
    return -EINVAL;
  }

  // One route per (GSI, irqchip); an MSI (or any non-irqchip) route must
  // be the GSI's only one. Checked on the raw chip number, before the
  // type itself is validated (KVM's order; both fail with -EINVAL).
  Table::Slot &slot = t->slots[ue.gsi];
  for (u32 i = 0; i < slot.n; i++) {
    const RouteEntry &ei = t->entries[slot.idx[i]];
    if (ei.type != KVM_IRQ_ROUTING_IRQCHIP || ue.type != KVM_IRQ_ROUTING_IRQCHIP ||
        ue.u.irqchip.irqchip == ei.chip)
      return -EINVAL;
  }

  RouteEntry e = {};
  e.gsi = ue.gsi;
  e.type = ue.type;
  switch (ue.type) {
    case KVM_IRQ_ROUTING_IRQCHIP:
      e.chip = ue.u.irqchip.irqchip;
      e.pin = ue.u.irqchip.pin;
      switch (ue.u.irqchip.irqchip) {
        case KVM_IRQCHIP_PIC_SLAVE:
        case KVM_IRQCHIP_PIC_MASTER:
          // Each 8259A has 8 inputs; the slave's are 8-15 of the pair.
          if (ue.u.irqchip.pin >= kPicPins / 2)
            return -EINVAL;
          if (ue.u.irqchip.irqchip == KVM_IRQCHIP_PIC_SLAVE)
            e.pin += kPicPins / 2;
          break;
        case KVM_IRQCHIP_IOAPIC:
          if (ue.u.irqchip.pin >= kIoapicPins)
            return -EINVAL;
          break;
        default:
          return -EINVAL;
      }
      break;
    case KVM_IRQ_ROUTING_MSI:
      e.address_lo = ue.u.msi.address_lo;
      e.address_hi = ue.u.msi.address_hi;
      e.data = ue.u.msi.data;
      if (msi_route_invalid(e.address_hi, x2apic_format))
        return -EINVAL;
      break;
    case KVM_IRQ_ROUTING_HV_SINT:
      // KVM stores vcpu and sint unchecked; delivery finds no SynIC.
      e.chip = ue.u.hv_sint.vcpu;
      e.pin = ue.u.hv_sint.sint;
      break;
    default:
      // S390_ADAPTER is not x86; XEN_EVTCHN needs CONFIG_KVM_XEN's Xen
      // emulation, which minikvm does not have (KVM without it: -EINVAL).
      return -EINVAL;
  }

  if (e.type == KVM_IRQ_ROUTING_IRQCHIP)
    t->chip[e.chip][e.pin] = static_cast<s32>(e.gsi);
  // At most kMaxPerGsi here: the loop above allows three irqchip routes
  // (one per chip) or one other route.
  slot.idx[slot.n++] = static_cast<u16>(t->nr);
  t->entries[t->nr++] = e;
  return 0;
}

int GsiRouting::set(const kvm_irq_routing_entry *entries, u32 nr) {
  if (nr > kMaxRoutes || (nr && !entries))
    return -EINVAL;
  u32 max_gsi = 0;
  for (u32 i = 0; i < nr; i++) {
    if (entries[i].gsi >= kMaxRoutes)
      return -EINVAL;
    max_gsi = max_gsi > entries[i].gsi ? max_gsi : entries[i].gsi;
  }

  Table *t = alloc_table(max_gsi + 1, nr);
  if (!t)
    return -ENOMEM;
  bool x2apic = x2apic_format();
  for (u32 i = 0; i < nr; i++) {
    int r = add(t, entries[i], x2apic);
    if (r) {
      free_table(t);
      return r;
    }
  }

  Table *old;
  {
    Locked l(lock_);
    old = table_;
    table_ = t;
  }
  // No reader keeps a pointer past the lock: the old table is free now.
  free_table(old);
  return 0;
}

int GsiRouting::set_default() {
  // ROUTING_ENTRY2(irq) is the IOAPIC route, then the PIC one.
  constexpr u32 kGsis = 24, kPicGsis = 16, kNr = kGsis + kPicGsis;
  Table *t = alloc_table(kGsis, kNr);
  if (!t)
    return -ENOMEM;
  for (u32 gsi = 0; gsi < kGsis; gsi++) {
    kvm_irq_routing_entry ue = {};
    ue.gsi = gsi;
    ue.type = KVM_IRQ_ROUTING_IRQCHIP;
    ue.u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
    ue.u.irqchip.pin = gsi;
    int r = add(t, ue, false);
    if (!r && gsi < kPicGsis) {
      ue.u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
      ue.u.irqchip.pin = gsi % 8;
      r = add(t, ue, false);
    }
    if (r) {  // cannot happen: the table above is valid
      free_table(t);
      return r;
    }
  }
  Table *old;
  {
    Locked l(lock_);
    old = table_;
    table_ = t;
  }
  free_table(old);
  return 0;
}

u32 GsiRouting::lookup(u32 gsi, RouteEntry *out, u32 max) {
  Locked l(lock_);
  const Table *t = table_;
  if (!t || gsi >= t->nr_gsi)
    return 0;
  const Table::Slot &slot = t->slots[gsi];
  u32 n = slot.n < max ? slot.n : max;
  for (u32 i = 0; i < n; i++)
    out[i] = t->entries[slot.idx[i]];
  return n;
}

int GsiRouting::gsi_of(u32 chip, u32 pin) {
  if (chip >= KVM_NR_IRQCHIPS || pin >= kIoapicPins)
    return -1;
  Locked l(lock_);
  return table_ ? table_->chip[chip][pin] : -1;
}

ApicMessage msi_message(u32 address_lo, u32 address_hi, u32 data, bool x2apic_format) {
  ApicMessage m;
  // x86_msi_msg_get_destid(): destid_0_7, plus destid_8_31 when extended.
  m.dest = (address_lo >> 12) & 0xff;
  if (x2apic_format)
    m.dest |= address_hi & 0xffffff00u;
  m.logical = address_lo & (1u << 2);
  m.redirection_hint = address_lo & (1u << 3);
  m.vector = static_cast<u8>(data & 0xff);
  m.delivery = static_cast<Delivery>((data >> 8) & 7);
  m.level_triggered = data & (1u << 15);
  m.level_assert = true;
  m.shorthand = Shorthand::kNone;
  m.origin = MINIKVM_ORIGIN_MSI;
  return m;
}

}  // namespace mk::irq
