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

int LapicBus::deliver(const ApicMessage &msg, Lapic *source) {
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
  // software-enabled, the lowest arbitration priority. The scan starts one
  // further each time, so equal priorities take turns. (KVM 6.1 instead
  // hashes the vector over the destinations, or counts deliveries; the
  // SDM's rule keeps a busy CPU from being chosen.) No focus-processor
  // check (SVR bit 9): the SDM leaves it model-specific.
  if (!n)
    return -1;
  u32 start = __atomic_fetch_add(&next_, 1, __ATOMIC_RELAXED) % n;
  Lapic *best = nullptr;
  u32 best_apr = 0;
  for (u32 k = 0; k < n; k++) {
    Lapic *l = lapics_[(start + k) % n];
    if (!l->matches(m, source) || !l->sw_enabled())
      continue;
    u32 apr = l->priority_for_arbitration();
    if (!best || apr < best_apr) {
      best = l;
      best_apr = apr;
    }
  }
  return best ? best->accept(m) : -1;
}

}  // namespace mk::irq
