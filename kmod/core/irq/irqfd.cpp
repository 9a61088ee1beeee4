// SPDX-License-Identifier: GPL-2.0
// irqfd: see irqfd.h for the contexts and locks. Teardown order (KVM's
// irqfd_shutdown): unhook from the eventfd's wait queue (after that no
// wake-up runs), flush the inject work, leave the resampler (the line is
// lowered when the last irqfd of the GSI goes), unregister the irq-bypass
// consumer, drop the eventfd references, free.
#include "irq/irqfd.h"

#include <minikvm/platform.h>

#include "rt/errno.h"
#include "rt/log.h"
#include "rt/new.h"
#include "rt/spinlock.h"
#include "vm.h"

namespace mk::irq {

// KVM's kvm_kernel_irqfd_resampler: one per GSI, shared by the resample
// irqfds of that GSI; they raise the line with the resample source id and
// the guest's EOI lowers it once, then signals every resamplefd.
struct Resampler {
  u32 gsi;
  Irqfd *irqfds = nullptr;  // singly linked through Irqfd::rs_next_
  Resampler *next = nullptr;
};

namespace {
constexpr int kModeNone = 0, kModeSplit = 1, kModeFull = 2;
}  // namespace

Irqfds::Irqfds(GsiSink &sink, ApicBus &bus, Vm *vm, u32 trace_vm)
    : sink_(sink), bus_(bus), vm_(vm), trace_vm_(trace_vm) {}

void Irqfds::pin_mask_changed(u32, bool) {}

Irqfds::~Irqfds() {
  release_all();
  mk_work_free(reaper_);
  mk_spin_free(lock_);
  mk_spin_free(resample_lock_);
  mk_mutex_free(mutex_);
  mk_mutex_free(posting_lock_);
}

int Irqfds::init() {
  lock_ = mk_spin_new();
  resample_lock_ = mk_spin_new();
  mutex_ = mk_mutex_new();
  posting_lock_ = mk_mutex_new();
  reaper_ = mk_work_new(reap_fn, this);
  return lock_ && resample_lock_ && mutex_ && posting_lock_ && reaper_ ? 0 : -ENOMEM;
}

void Irqfds::set_irqchip(GsiRouting *routing, bool full) {
  __atomic_store_n(&routing_, routing, __ATOMIC_RELEASE);
  __atomic_store_n(&mode_, full ? kModeFull : kModeSplit, __ATOMIC_RELEASE);
}

bool Irqfds::x2apic_format() const {
  GsiRouting *r = __atomic_load_n(&routing_, __ATOMIC_ACQUIRE);
  return r && r->x2apic_format();
}

long Irqfds::ioctl(const kvm_irqfd &args) {
  // kvm_irqfd(): unknown flags first; deassign needs no irqchip.
  if (args.flags & ~(KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE))
    return -EINVAL;
  if (args.flags & KVM_IRQFD_FLAG_DEASSIGN)
    return deassign(args);
  return assign(args);
}

u32 Irqfds::active_count() {
  SpinGuard g(lock_);
  return nr_active_;
}

u32 Irqfds::resampler_count() {
  SpinGuard g(resample_lock_);
  u32 n = 0;
  for (Resampler *r = resamplers_; r; r = r->next)
    n++;
  return n;
}

u32 Irqfds::resampled_gsis(u32 *out, u32 max) {
  SpinGuard g(resample_lock_);
  u32 n = 0;
  for (Resampler *r = resamplers_; r && n < max; r = r->next)
    out[n++] = r->gsi;
  return n;
}

// ---- assign / deassign ----

void Irqfds::refresh_route_locked(Irqfd *f) {
  // irqfd_update(): only a GSI with exactly one route has a cached one;
  // with none or several the wake-up defers to the work item, which goes
  // through the whole table (kvm_set_irq).
  RouteEntry e[GsiRouting::kMaxPerGsi];
  GsiRouting *r = __atomic_load_n(&routing_, __ATOMIC_ACQUIRE);
  u32 n = r ? r->lookup(f->gsi_, e, GsiRouting::kMaxPerGsi) : 0;
  f->has_route_ = n == 1;
  if (n == 1)
    f->route_ = e[0];
}

int Irqfds::resampler_attach(Irqfd *f) {
  // Allocated before the lock (it may sleep), freed if one exists already.
  Resampler *fresh = new (nothrow) Resampler{f->gsi_};
  if (!fresh)
    return -ENOMEM;
  {
    SpinGuard g(resample_lock_);
    Resampler *r = resamplers_;
    while (r && r->gsi != f->gsi_)
      r = r->next;
    if (!r) {
      r = fresh;
      fresh = nullptr;
      r->next = resamplers_;
      resamplers_ = r;
    }
    f->resampler_ = r;
    f->rs_next_ = r->irqfds;
    r->irqfds = f;
  }
  bool created = !fresh;
  delete fresh;
  // A new GSI whose EOIs we listen to: the EOI-exit bitmap (APICv) must
  // make them exit (outside resample_lock_: eoi_exit_changed takes it).
  if (created && vm_)
    vm_->eoi_exit_changed();
  return 0;
}

void Irqfds::resampler_detach(Irqfd *f) {
  // irqfd_resampler_shutdown(): the last irqfd of a GSI lowers the
  // resample source's line and frees the resampler.
  Resampler *gone = nullptr;
  {
    SpinGuard g(resample_lock_);
    Resampler *r = f->resampler_;
    for (Irqfd **p = &r->irqfds; *p; p = &(*p)->rs_next_)
      if (*p == f) {
        *p = f->rs_next_;
        break;
      }
    if (!r->irqfds) {
      for (Resampler **p = &resamplers_; *p; p = &(*p)->next)
        if (*p == r) {
          *p = r->next;
          break;
        }
      gone = r;
      sink_.set_gsi(r->gsi, kSourceResample, false);
    }
  }
  f->resampler_ = nullptr;
  delete gone;
  if (gone && vm_)
    vm_->eoi_exit_changed();
}

void Irqfds::free_irqfd(Irqfd *f) {
  mk_eventfd_watch_free(f->watch_);
  mk_work_free(f->inject_);
  if (f->resampler_)
    resampler_detach(f);
  mk_eventfd_ctx_put(f->resamplefd_);
  mk_eventfd_ctx_put(f->eventfd_);
  delete f;
}

int Irqfds::assign(const kvm_irqfd &args) {
  int mode = __atomic_load_n(&mode_, __ATOMIC_ACQUIRE);
  bool resample = args.flags & KVM_IRQFD_FLAG_RESAMPLE;
  // kvm_arch_irqfd_allowed(): resampling needs the full in-kernel irqchip
  // (irqchip_kernel), plain irqfds any (irqchip_in_kernel, split too).
  if (resample ? mode != kModeFull : mode == kModeNone)
    return -EINVAL;
  // KVM 6.1 does not range-check the GSI: one without a route never fires.
  Irqfd *f = new (nothrow) Irqfd(*this, args.gsi);
  if (!f)
    return -ENOMEM;
  int err = -ENOMEM;
  f->inject_ = mk_work_new(inject_fn, f);
  f->watch_ = mk_eventfd_watch_new(wake_fn, f);
  if (!f->inject_ || !f->watch_) {
    free_irqfd(f);
    return -ENOMEM;
  }
  f->eventfd_ = mk_eventfd_ctx_get(static_cast<int>(args.fd), &err);
  if (!f->eventfd_) {
    free_irqfd(f);
    return err;
  }
  if (resample) {
    f->resamplefd_ = mk_eventfd_ctx_get(static_cast<int>(args.resamplefd), &err);
    if (!f->resamplefd_ || (err = resampler_attach(f))) {
      free_irqfd(f);
      return err;
    }
  }

  // Held until the irqfd is hooked on its eventfd: the reaper (deassign or
  // POLLHUP of a concurrent close) waits for it (KVM's synchronize_srcu at
  // the top of irqfd_shutdown).
  mk_mutex_lock(mutex_);
  {
    SpinGuard g(lock_);
    for (Irqfd *t = active_; t; t = t->next_)
      if (t->eventfd_ == f->eventfd_) {
        err = -EBUSY;  // this eventfd already drives a GSI (any GSI)
        break;
      }
    if (err != -EBUSY) {
      refresh_route_locked(f);
      f->active_ = true;
      f->next_ = active_;
      if (active_)
        active_->prev_ = f;
      active_ = f;
      nr_active_++;
    }
  }
  if (err == -EBUSY) {
    mk_mutex_unlock(mutex_);
    free_irqfd(f);
    return -EBUSY;
  }
  unsigned int events = 0;
  err = mk_eventfd_watch_add(f->watch_, static_cast<int>(args.fd), f->eventfd_, &events);
  if (err) {
    // The fd was closed and reused under us: never hooked, so no wake-up
    // can know it; unlink it here unless a deassign already moved it.
    bool mine;
    {
      SpinGuard g(lock_);
      mine = f->active_;
      if (mine) {
        f->active_ = false;
        if (f->prev_)
          f->prev_->next_ = f->next_;
        else
          active_ = f->next_;
        if (f->next_)
          f->next_->prev_ = f->prev_;
        nr_active_--;
      }
    }
    mk_mutex_unlock(mutex_);
    if (mine)
      free_irqfd(f);
    return err;
  }
  // A signal that came before the hook is injected now (as KVM).
  if (events & MK_POLLIN)
    mk_work_schedule(f->inject_);
  // irq bypass: the eventfd context is the token VFIO's producer uses.
  // Failure only means no posting (the glue logs it once).
  f->bypass_ = mk_bypass_consumer_new(f->eventfd_, static_cast<PostingClient *>(f));
  mk_mutex_unlock(mutex_);
  return 0;
}

int Irqfds::deassign(const kvm_irqfd &args) {
  // kvm_irqfd_deassign(): every irqfd with this eventfd and GSI; none is
  // not an error (0). Returns once they are gone: no interrupt from them
  // after this.
  int err = 0;
  void *ctx = mk_eventfd_ctx_get(static_cast<int>(args.fd), &err);
  if (!ctx)
    return err;
  {
    SpinGuard g(lock_);
    for (Irqfd *t = active_, *n; t; t = n) {
      n = t->next_;
      if (t->eventfd_ == ctx && t->gsi_ == args.gsi)
        deactivate_locked(t);
    }
  }
  mk_eventfd_ctx_put(ctx);
  mk_work_flush(reaper_);
  return 0;
}

void Irqfds::deactivate_locked(Irqfd *f) {
  // irqfd_deactivate(): off the active list (no more route updates, no
  // more wake-up injections through the cache), onto the dying list.
  f->active_ = false;
  if (f->prev_)
    f->prev_->next_ = f->next_;
  else
    active_ = f->next_;
  if (f->next_)
    f->next_->prev_ = f->prev_;
  nr_active_--;
  f->prev_ = nullptr;
  f->next_ = dying_;
  dying_ = f;
  mk_work_schedule(reaper_);
}

void Irqfds::reap_fn(void *arg) { static_cast<Irqfds *>(arg)->reap(); }

void Irqfds::reap() {
  for (;;) {
    Irqfd *f;
    {
      SpinGuard g(lock_);
      f = dying_;
      if (!f)
        return;
      dying_ = f->next_;
      f->next_ = nullptr;
    }
    shutdown(f);
  }
}

void Irqfds::shutdown(Irqfd *f) {
  // Waits for an assign still hooking this irqfd (see assign()), and keeps
  // routing_changed()'s posting pass from seeing it freed.
  mk_mutex_lock(mutex_);
  // No wake-up runs after this; then the last inject finishes.
  mk_eventfd_watch_free(f->watch_);
  f->watch_ = nullptr;
  mk_work_flush(f->inject_);
  mk_mutex_unlock(mutex_);
  // Calls producer_removed() if a producer is attached: no lock of ours held.
  mk_bypass_consumer_free(f->bypass_);
  f->bypass_ = nullptr;
  mk_mutex_lock(mutex_);
  free_irqfd(f);
  mk_mutex_unlock(mutex_);
}

void Irqfds::release_all() {
  // kvm_irqfd_release(): deactivate everything, then wait for the reaper.
  if (!lock_ || !reaper_)
    return;
  {
    SpinGuard g(lock_);
    while (active_)
      deactivate_locked(active_);
  }
  mk_work_flush(reaper_);
  // A POLLHUP reaper instance may have been running while we flushed the
  // queued one: make sure nothing is left.
  reap();
}

// ---- routing ----

void Irqfds::routing_changed() {
  mk_mutex_lock(mutex_);
  {
    SpinGuard g(lock_);
    for (Irqfd *f = active_; f; f = f->next_)
      refresh_route_locked(f);
  }
  // kvm_arch_update_irqfd_routing(): re-decide posting for every irqfd with
  // a producer. mutex_ keeps the active ones alive (the reaper frees under
  // it); the list itself only changes under lock_, so walk it in steps.
  // Only irqfds with a producer have anything to re-decide (usually none).
  if (vm_ && __atomic_load_n(&nr_attached_, __ATOMIC_ACQUIRE)) {
    u32 i = 0;
    for (;;) {
      Irqfd *f;
      {
        SpinGuard g(lock_);
        f = active_;
        for (u32 k = 0; f && k < i; k++)
          f = f->next_;
      }
      if (!f)
        break;
      mk_mutex_lock(posting_lock_);
      if (f->posting_.attached)
        posting_update(*vm_, f->gsi_, f->posting_);
      mk_mutex_unlock(posting_lock_);
      i++;
    }
  }
  mk_mutex_unlock(mutex_);
}

void Irqfd::producer_added(u32 host_irq) {
  mk_mutex_lock(set_.posting_lock_);
  posting_.host_irq = host_irq;
  if (!posting_.attached)
    __atomic_fetch_add(&set_.nr_attached_, 1, __ATOMIC_ACQ_REL);
  posting_.attached = true;
  if (set_.vm_)
    posting_update(*set_.vm_, gsi_, posting_);
  mk_mutex_unlock(set_.posting_lock_);
}

void Irqfd::producer_removed(u32) {
  mk_mutex_lock(set_.posting_lock_);
  bool was = posting_.attached;
  if (set_.vm_)
    posting_detach(*set_.vm_, posting_);  // clears attached
  if (was)
    __atomic_fetch_sub(&set_.nr_attached_, 1, __ATOMIC_ACQ_REL);
  posting_.attached = false;
  mk_mutex_unlock(set_.posting_lock_);
}

// ---- the wake-up and injection ----

void Irqfds::wake_fn(void *arg, unsigned int events) {
  auto *f = static_cast<Irqfd *>(arg);
  f->set_.wake(f, events);
}

void Irqfds::wake(Irqfd *f, unsigned int events) {
  if (events & MK_POLLIN) {
    RouteEntry e;
    bool active, has;
    {
      SpinGuard g(lock_);
      active = f->active_;
      has = f->has_route_;
      e = f->route_;
    }
    // kvm_arch_set_irq_inatomic(): an MSI goes to the APIC bus from here;
    // everything else (irqchip pins, a GSI with no or several routes, an
    // irqfd being deassigned) is injected by the work item.
    bool inatomic = active && has && e.type == KVM_IRQ_ROUTING_MSI;
    // f->resampler_ is set before the watch is hooked and cleared only
    // after it is gone: stable while a wake-up runs.
    if (mk_trace_on[MK_TP_IRQFD_INJECT])
      mk_trace_irqfd_inject(trace_vm_, f->gsi_, inatomic, f->resampler_ != nullptr);
    if (inatomic) {
      bool x2 = x2apic_format();
      if (!msi_route_invalid(e.address_hi, x2)) {  // else dropped (-EINVAL)
        if (mk_trace_on[MK_TP_MSI_SET_IRQ])
          mk_trace_msi_set_irq(trace_vm_, e.data, static_cast<u64>(e.address_hi) << 32 | e.address_lo);
        bus_.deliver(msi_message(e.address_lo, e.address_hi, e.data, x2), nullptr);
      }
    } else {
      mk_work_schedule(f->inject_);
    }
  }
  if (events & MK_POLLHUP) {
    // The eventfd is closing: detach, unless a deassign already did.
    SpinGuard g(lock_);
    if (f->active_)
      deactivate_locked(f);
  }
}

void Irqfds::inject_fn(void *arg) {
  auto *f = static_cast<Irqfd *>(arg);
  f->set_.inject(f);
}

void Irqfds::inject(Irqfd *f) {
  // irqfd_inject(): an edge through the current table, or with a
  // resampler the level stays up (resample source) until the EOI.
  if (!f->resampler_) {
    sink_.set_gsi(f->gsi_, kSourceUserspace, true);
    sink_.set_gsi(f->gsi_, kSourceUserspace, false);
  } else {
    sink_.set_gsi(f->gsi_, kSourceResample, true);
  }
}

void Irqfds::irq_acked(u32 chip, u32 pin) {
  GsiRouting *r = __atomic_load_n(&routing_, __ATOMIC_ACQUIRE);
  if (!r)
    return;
  int gsi = r->gsi_of(chip, pin);
  if (gsi < 0)
    return;
  // irqfd_resampler_ack(): lower once, then tell every resamplefd.
  SpinGuard g(resample_lock_);
  for (Resampler *rs = resamplers_; rs; rs = rs->next) {
    if (rs->gsi != static_cast<u32>(gsi))
      continue;
    if (mk_trace_on[MK_TP_IRQFD_RESAMPLE])
      mk_trace_irqfd_resample(trace_vm_, rs->gsi);
    sink_.set_gsi(rs->gsi, kSourceResample, false);
    for (Irqfd *f = rs->irqfds; f; f = f->rs_next_)
      mk_eventfd_signal(f->resamplefd_);
    break;
  }
}

void Irqfds::pin_acked(u32 pin) { irq_acked(KVM_IRQCHIP_IOAPIC, pin); }

}  // namespace mk::irq
