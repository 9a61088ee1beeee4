// SPDX-License-Identifier: GPL-2.0
// irqfd (KVM_IRQFD): an eventfd bound to a GSI. Semantics of Linux 6.1's
// virt/kvm/eventfd.c (kvm_irqfd_assign/deassign, irqfd_wakeup,
// irqfd_inject, irqfd_resampler_ack, irqfd_shutdown, irqfd_update) and
// arch/x86/kvm/irq_comm.c kvm_arch_set_irq_inatomic.
//
// Contexts and locks (see also /Documentation, "irqfd"):
//  - the wake-up (Irqfds::wake) runs in any context with the eventfd's
//    wait-queue lock held. It reads the irqfd's cached route under lock_
//    (an irq-safe spinlock) and, for an MSI, delivers on the APIC bus
//    right there (the LAPICs' locks are irq-safe spinlocks too); any other
//    route goes to the irqfd's inject work item. POLLHUP moves the irqfd
//    from the active list to the dying list and schedules the reaper.
//  - lock_ guards the active and dying lists and every cached route. The
//    cache is refreshed under lock_ after each routing change
//    (routing_changed(), KVM's kvm_irq_routing_update -> irqfd_update), so a
//    wake-up sees either the old or the new route of its GSI, whole.
//  - resample_lock_ (irq-safe spinlock) guards the resamplers; the guest's
//    EOI (irq_acked) lowers the line and signals the resamplefds under it.
//  - mutex_ (sleeping) serialises assign (list insert .. hook on the
//    eventfd), the reaper's per-irqfd teardown and the posting pass of
//    routing_changed(); posting_lock_ guards each irqfd's PostingState.
// Lock order: mutex_ -> posting_lock_; resample_lock_ -> eventfd wait-queue
// lock -> lock_ -> routing/APIC bus locks.
#pragma once

#include <linux/kvm.h>

#include "irq/ioapic.h"
#include "irq/irq.h"
#include "irq/irq_posting.h"
#include "irq/routing.h"
#include "rt/types.h"

namespace mk {
class Vm;
}

namespace mk::irq {

class Irqfds;
struct Resampler;

// One assigned irqfd (KVM's kvm_kernel_irqfd). Owned by its Irqfds.
class Irqfd final : public PostingClient {
 public:
  Irqfd(Irqfds &set, u32 gsi) : set_(set), gsi_(gsi) {}
  void producer_added(u32 host_irq) override;
  void producer_removed(u32 host_irq) override;

 private:
  friend class Irqfds;
  Irqfds &set_;
  u32 gsi_;
  void *eventfd_ = nullptr;     // eventfd context (reference)
  void *resamplefd_ = nullptr;  // KVM_IRQFD_FLAG_RESAMPLE: context (reference)
  void *watch_ = nullptr;       // wait-queue hook on eventfd_
  void *inject_ = nullptr;      // work item: irqfd_inject
  void *bypass_ = nullptr;      // irq-bypass consumer handle
  Resampler *resampler_ = nullptr;
  Irqfd *rs_next_ = nullptr;    // resampler's list, under resample_lock_
  // Under Irqfds::lock_:
  Irqfd *next_ = nullptr, *prev_ = nullptr;  // active or dying list
  bool active_ = false;
  bool has_route_ = false;  // the GSI has exactly one route (irqfd_update)
  RouteEntry route_{};
  // Under Irqfds::posting_lock_:
  PostingState posting_{};
};

class Irqfds final : public IoapicObserver {
 public:
  // sink raises GSIs through the current routing (kvm_set_irq); bus takes
  // MSIs; vm (may be null in unit tests) is what posting_update needs.
  // Out of line (as every member): see pic.h on RTTI-enabled test callers.
  // trace_vm: the VM's number in the tracepoints (Vm::trace_id()).
  Irqfds(GsiSink &sink, ApicBus &bus, Vm *vm, u32 trace_vm = 0);
  ~Irqfds() override;
  Irqfds(const Irqfds &) = delete;
  Irqfds &operator=(const Irqfds &) = delete;

  int init();  // 0 / -ENOMEM

  // The in-kernel irqchip exists: full (PIC+IOAPIC, resample allowed) or
  // split (LAPICs only). Before this KVM_IRQFD assign answers -EINVAL
  // (kvm_arch_irqfd_allowed). Called once, before any irqfd exists.
  void set_irqchip(GsiRouting *routing, bool full);

  // KVM_IRQFD after the copy from userspace (kvm_irqfd): 0 or -errno.
  long ioctl(const kvm_irqfd &args);

  // After every successful GsiRouting::set (kvm_irq_routing_update):
  // refreshes each irqfd's cached route, then re-decides posting for the
  // irqfds with a producer. Sleeping context, no lock held.
  void routing_changed();

  // VM destruction (kvm_irqfd_release): every irqfd deactivated and torn
  // down; returns when none is left. Sleeping context.
  void release_all();

  // kvm_notify_acked_irq(chip, pin): the guest's EOI/INTA of an irqchip pin.
  void irq_acked(u32 chip, u32 pin);
  // IoapicObserver.
  void pin_acked(u32 pin) override;
  void pin_mask_changed(u32 pin, bool masked) override;

  // For tests and stats.
  u32 active_count();
  u32 resampler_count();
  // The GSIs that have a resampler (at most max of them, into out): their
  // EOIs must be seen, so with APICv their IOAPIC vectors go into the
  // EOI-exit bitmap even on edge-programmed pins (KVM's
  // kvm_irq_has_notifier in kvm_ioapic_scan_entry). Returns the count.
  u32 resampled_gsis(u32 *out, u32 max);

 private:
  friend class Irqfd;
  int assign(const kvm_irqfd &args);
  int deassign(const kvm_irqfd &args);
  void deactivate_locked(Irqfd *f);
  static void reap_fn(void *arg);
  void reap();
  void shutdown(Irqfd *f);
  static void wake_fn(void *arg, unsigned int events);
  static void inject_fn(void *arg);
  void wake(Irqfd *f, unsigned int events);
  void inject(Irqfd *f);
  void refresh_route_locked(Irqfd *f);
  int resampler_attach(Irqfd *f);
  void resampler_detach(Irqfd *f);
  void free_irqfd(Irqfd *f);
  bool x2apic_format() const;

  GsiSink &sink_;
  ApicBus &bus_;
  Vm *vm_;
  const u32 trace_vm_;
  GsiRouting *routing_ = nullptr;  // atomic: published by set_irqchip
  int mode_ = 0;                   // atomic: 0 none, 1 split, 2 full
  void *lock_ = nullptr;
  void *resample_lock_ = nullptr;
  void *mutex_ = nullptr;
  void *posting_lock_ = nullptr;
  void *reaper_ = nullptr;
  Irqfd *active_ = nullptr;  // under lock_
  Irqfd *dying_ = nullptr;   // under lock_
  u32 nr_active_ = 0;        // under lock_
  Resampler *resamplers_ = nullptr;  // under resample_lock_
  u32 nr_attached_ = 0;  // atomic: irqfds with an irq-bypass producer
};

}  // namespace mk::irq
