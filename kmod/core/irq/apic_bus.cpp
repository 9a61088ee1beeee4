// SPDX-License-Identifier: GPL-2.0
#include "apic_bus.h"

#include "rt/errno.h"

namespace mk::irq {

LapicBus::LapicBus() = default;
LapicBus::~LapicBus() = default;

u32 LapicBus::count() const { return __atomic_load_n(&count_, __ATOMIC_ACQUIRE); }

int LapicBus::add(Lapic *l) {
  if (!l)
    return -EINVAL;
  u32 n = count_;
  for (u32 i = 0; i < n; i++)
    if (lapics_[i] == l || lapics_[i]->vcpu_id() == l->vcpu_id())
      return -EEXIST;
  if (n == kMaxLapics)
    return -ENOSPC;
  lapics_[n] = l;
  __atomic_store_n(&count_, n + 1, __ATOMIC_RELEASE);
  return 0;
}

Lapic *LapicBus::find_by_vcpu_id(u32 id) const {
  u32 n = count();
  for (u32 i = 0; i < n; i++)
    if (lapics_[i]->vcpu_id() == id)
      return lapics_[i];
  return nullptr;
}

namespace {
// KVM answers a message its optimized APIC map can route (physical or
// single-mode logical, no shorthand, not a broadcast) with the sum of
// acceptances, i.e. 0 when no APIC matched; only its slow path says -1
// (kvm_irq_delivery_to_apic_fast / kvm_apic_map_get_dest_lapic, 6.1).
// KVM_IRQ_LINE_STATUS and KVM_SIGNAL_MSI show the difference.
bool kvm_map_routes(const ApicMessage &m, const Lapic *source, Lapic *const *lapics, u32 n) {
  if (!n || m.shorthand != Shorthand::kNone)
    return false;
  u32 mask = source && source->x2apic_mode() ? 0xffffffffu : 0xffu;
  if ((m.dest & mask) == mask)
    return false;
  if (!m.logical)
    return true;
  // Logical: only when every enabled APIC uses the same model.
  int model = -1;
  for (u32 i = 0; i < n; i++) {
    const Lapic *l = lapics[i];
    if (!l->hw_enabled())
      continue;
    int mdl = l->x2apic_mode() ? 2 : (l->reg(apic_reg::kDfr) >> 28) == 0xf ? 0 : 1;
    if (model >= 0 && mdl != model)
      return false;
    model = mdl;
  }
  return true;
}
}  // namespace

int LapicBus::deliver(const ApicMessage &msg, Lapic *source) {
  int r = deliver_slow(msg, source);
  if (r < 0 && kvm_map_routes(msg, source, lapics_, count()))
    return 0;
  return r;
}

int LapicBus::deliver_slow(const ApicMessage &msg, Lapic *source) {
  ApicMessage m = msg;
  if (m.shorthand == Shorthand::kSelf)
    return source ? source->accept(m) : -1;

  bool lowest = m.delivery == Delivery::kLowestPriority || m.redirection_hint;
  // KVM: a physical broadcast cannot pick one CPU; it goes to all, fixed.
  if (lowest && !m.logical && m.shorthand == Shorthand::kNone && m.dest == 0xff) {
    m.delivery = Delivery::kFixed;
    m.redirection_hint = false;
    lowest = false;
  }

  u32 n = count();
  int r = -1;
  if (!lowest) {
    for (u32 i = 0; i < n; i++) {
      if (!lapics_[i]->matches(m, source))
        continue;
      if (r < 0)
        r = 0;
      r += lapics_[i]->accept(m);
    }
    return r;
  }

  // Lowest priority (10.6.2.4): among the destinations whose APIC is
  // software-enabled, the lowest arbitration priority. The scan starts
  // after the last winner, so equal priorities take turns, evenly also when
  // some APICs are not candidates (a start that merely advanced by one
  // would give the APIC after a non-candidate its turns too). Concurrent
  // deliveries may read the same start: fairness is approximate, the
  // choice is always a lowest priority. (KVM 6.1 instead
  // hashes the vector over the destinations, or counts deliveries; the
  // SDM's rule keeps a busy CPU from being chosen.) No focus-processor
  // check (SVR bit 9): the SDM leaves it model-specific.
  if (!n)
    return -1;
  u32 start = __atomic_load_n(&next_, __ATOMIC_RELAXED) % n;
  Lapic *best = nullptr;
  u32 best_apr = 0, best_index = 0;
  for (u32 k = 0; k < n; k++) {
    u32 i = (start + k) % n;
    Lapic *l = lapics_[i];
    if (!l->matches(m, source) || !l->sw_enabled())
      continue;
    u32 apr = l->priority_for_arbitration();
    if (!best || apr < best_apr) {
      best = l;
      best_apr = apr;
      best_index = i;
    }
  }
  if (!best)
    return -1;
  __atomic_store_n(&next_, best_index + 1, __ATOMIC_RELAXED);
  return best->accept(m);
}

}  // namespace mk::irq
