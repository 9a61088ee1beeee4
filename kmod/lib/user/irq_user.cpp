// SPDX-License-Identifier: GPL-2.0
// The interrupt-controller half of the userspace platform: spinlocks that
// catch recursion, a simulated monotonic clock with hrtimer-like timers the
// test advances by hand, and vCPU blocking/kicks that are counted instead
// of sleeping. Device models (PIC, IOAPIC, LAPIC, PIT) run on it unchanged.
#include <minikvm/platform.h>

#include <cstdio>
#include <cstdlib>
#include <atomic>
#include <map>
#include <mutex>
#include <new>
#include <thread>

#include "user_platform.h"

namespace mk::user {
namespace {

struct SimSpin {
  std::mutex m;
  // Read without the mutex by the recursion check: atomic.
  std::atomic<std::thread::id> owner{};
  std::atomic<bool> held{false};
};

struct SimTimer {
  unsigned long long (*fn)(void *);
  void *arg;
  bool armed = false;
  unsigned long long expires = 0;
  unsigned long fired = 0;
};

struct SimTime {
  unsigned long long now = 1'000'000'000ull;  // 1 s: never 0, like a booted host
  unsigned long tsc_khz = 2'000'000;          // 2 GHz
  std::map<SimTimer *, bool, std::less<SimTimer *>, HostAllocator<std::pair<SimTimer *const, bool>>> timers;
  unsigned long wakes = 0, kicks = 0, waits = 0;
  int last_kick_cpu = -1;
};

SimTime &sim() {
  static SimTime t;
  return t;
}

// The armed timer that expires first (ties: any), or null.
SimTimer *next_timer() {
  SimTimer *best = nullptr;
  for (auto &kv : sim().timers)
    if (kv.first->armed && (!best || kv.first->expires < best->expires))
      best = kv.first;
  return best;
}

void fire(SimTimer *t) {
  t->armed = false;
  sim().now = t->expires > sim().now ? t->expires : sim().now;
  t->fired++;
  unsigned long long next = t->fn(t->arg);
  if (next) {
    t->expires = next;
    t->armed = true;
  }
}

}  // namespace

unsigned long long now_ns() { return sim().now; }
void set_tsc_khz(unsigned long khz) { sim().tsc_khz = khz; }

void advance_time(unsigned long long ns) {
  unsigned long long until = sim().now + ns;
  // A periodic timer re-arming at or before "now" would loop forever:
  // bound the firings so a broken device model fails instead of hanging.
  for (unsigned long n = 0; n < 10'000'000; n++) {
    SimTimer *t = next_timer();
    if (!t || t->expires > until)
      break;
    fire(t);
  }
  sim().now = until;
}

bool run_next_timer() {
  SimTimer *t = next_timer();
  if (!t)
    return false;
  fire(t);
  return true;
}

long armed_timers() {
  long n = 0;
  for (auto &kv : sim().timers)
    n += kv.first->armed;
  return n;
}

unsigned long long next_timer_expiry() {
  SimTimer *t = next_timer();
  return t ? t->expires : 0;
}

unsigned long vcpu_wakes() { return sim().wakes; }
unsigned long cpu_kicks() { return sim().kicks; }
int last_kicked_cpu() { return sim().last_kick_cpu; }

void reset_time() {
  sim().now = 1'000'000'000ull;
  sim().tsc_khz = 2'000'000;
  sim().wakes = sim().kicks = sim().waits = 0;
  sim().last_kick_cpu = -1;
}

}  // namespace mk::user

using mk::user::SimSpin;
using mk::user::SimTimer;
using mk::user::sim;

extern "C" {

// Locks and timers come from mk_alloc(), as the kernel's from kmalloc():
// they share its fault injection and its leak count.
void *mk_spin_new(void) {
  void *p = mk_alloc(sizeof(SimSpin));
  return p ? new (p) SimSpin : nullptr;
}
void mk_spin_free(void *l) {
  if (!l)
    return;
  static_cast<SimSpin *>(l)->~SimSpin();
  mk_free(l);
}

unsigned long mk_spin_lock_irqsave(void *l) {
  auto *s = static_cast<SimSpin *>(l);
  if (s->held && s->owner == std::this_thread::get_id()) {
    // In the kernel this is a deadlock (or a lockdep splat): fail loudly.
    std::fprintf(stderr, "minikvm user platform: spinlock %p taken recursively\n", l);
    std::abort();
  }
  s->m.lock();
  s->owner = std::this_thread::get_id();
  s->held = true;
  return 0;
}

void mk_spin_unlock_irqrestore(void *l, unsigned long) {
  auto *s = static_cast<SimSpin *>(l);
  s->held = false;
  s->m.unlock();
}

unsigned long long mk_now_ns(void) { return sim().now; }
unsigned long long mk_rdtsc(void) {
  // now * khz / 1e6 without overflow for any simulated time of interest.
  return static_cast<unsigned long long>(static_cast<unsigned __int128>(sim().now) * sim().tsc_khz / 1'000'000);
}
unsigned long mk_tsc_khz(void) { return sim().tsc_khz; }

void *mk_timer_new(unsigned long long (*fn)(void *), void *arg) {
  void *p = mk_alloc(sizeof(SimTimer));
  if (!p)
    return nullptr;
  auto *t = new (p) SimTimer{fn, arg};
  sim().timers[t] = true;
  return t;
}

void mk_timer_free(void *t) {
  if (!t)
    return;
  sim().timers.erase(static_cast<SimTimer *>(t));
  static_cast<SimTimer *>(t)->~SimTimer();
  mk_free(t);
}

void mk_timer_start(void *t, unsigned long long expires_ns) {
  auto *st = static_cast<SimTimer *>(t);
  st->expires = expires_ns;
  st->armed = true;
}

void mk_timer_cancel(void *t) { static_cast<SimTimer *>(t)->armed = false; }

int mk_vcpu_wait(void *, int (*cond)(void *), void *arg) {
  // Nothing else runs in a unit test: "sleeping" lets simulated time pass
  // up to the next timer until the condition holds. With no timer left the
  // thread would sleep forever; report it as a signal instead of hanging.
  sim().waits++;
  for (;;) {
    if (cond(arg))
      return 0;
    if (mk_signal_pending())
      return -4;  // -EINTR
    if (!mk::user::run_next_timer())
      return -4;
  }
}

void mk_vcpu_wake(void *) { sim().wakes++; }

void mk_kick_cpu(int cpu) {
  sim().kicks++;
  sim().last_kick_cpu = cpu;
}

}  // extern "C"
