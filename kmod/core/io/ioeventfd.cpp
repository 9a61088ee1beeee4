// SPDX-License-Identifier: GPL-2.0
#include "io/ioeventfd.h"

#include <minikvm/platform.h>

#include "rt/errno.h"
#include "rt/new.h"
#include "rt/spinlock.h"

namespace mk::io {

namespace {
// KVM_IOEVENTFD_VALID_FLAG_MASK: DATAMATCH, PIO, DEASSIGN, VIRTIO_CCW_NOTIFY.
constexpr u32 kValidFlags = KVM_IOEVENTFD_FLAG_DATAMATCH | KVM_IOEVENTFD_FLAG_PIO |
                            KVM_IOEVENTFD_FLAG_DEASSIGN | KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY;
}  // namespace

Ioeventfds::~Ioeventfds() {
  for (Entry *e = list_, *n; e; e = n) {
    n = e->next;
    mk_eventfd_ctx_put(e->ctx);
    delete e;
  }
  mk_spin_free(lock_);
  mk_mutex_free(mutex_);
}

int Ioeventfds::init() {
  lock_ = mk_spin_new();
  mutex_ = mk_mutex_new();
  return lock_ && mutex_ ? 0 : -ENOMEM;
}

Ioeventfds::Bus Ioeventfds::bus_of(u32 flags) {
  // ioeventfd_bus_from_flags(). The CCW bus exists on x86 too (KVM makes
  // every bus) but nothing writes to it: such an ioeventfd never fires.
  if (flags & KVM_IOEVENTFD_FLAG_PIO)
    return kPio;
  if (flags & KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY)
    return kCcw;
  return kMmio;
}

long Ioeventfds::ioctl(const kvm_ioeventfd &args) {
  if (args.flags & KVM_IOEVENTFD_FLAG_DEASSIGN)
    return deassign(args);
  return assign(args);
}

u32 Ioeventfds::count(Bus bus) {
  SpinGuard g(lock_);
  return per_bus_[bus];
}

int Ioeventfds::assign(const kvm_ioeventfd &a) {
  // kvm_assign_ioeventfd(): checks in KVM's order.
  switch (a.len) {
    case 0: case 1: case 2: case 4: case 8:
      break;
    default:
      return -EINVAL;
  }
  if (a.addr + a.len < a.addr)
    return -EINVAL;
  if (a.flags & ~kValidFlags)
    return -EINVAL;
  if (!a.len && (a.flags & KVM_IOEVENTFD_FLAG_DATAMATCH))
    return -EINVAL;
  int err = 0;
  void *ctx = mk_eventfd_ctx_get(a.fd, &err);
  if (!ctx)
    return err;
  Entry *p = new (nothrow) Entry{};
  if (!p) {
    mk_eventfd_ctx_put(ctx);
    return -ENOMEM;
  }
  p->addr = a.addr;
  p->len = a.len;
  p->bus = bus_of(a.flags);
  p->ctx = ctx;
  p->wildcard = !(a.flags & KVM_IOEVENTFD_FLAG_DATAMATCH);
  p->datamatch = p->wildcard ? 0 : a.datamatch;

  mk_mutex_lock(mutex_);
  // ioeventfd_check_collision(): same bus and address, and either has no
  // length, or same length and either is a wildcard or the data match.
  err = 0;
  for (Entry *q = list_; q; q = q->next)
    if (q->bus == p->bus && q->addr == p->addr &&
        (!q->len || !p->len ||
         (q->len == p->len && (q->wildcard || p->wildcard || q->datamatch == p->datamatch)))) {
      err = -EEXIST;
      break;
    }
  if (!err && per_bus_[p->bus] >= kMaxPerBus)
    err = -ENOSPC;  // kvm_io_bus_register_dev on a full bus
  if (!err) {
    SpinGuard g(lock_);
    p->next = list_;
    list_ = p;
    per_bus_[p->bus]++;
    __atomic_store_n(&total_, total_ + 1, __ATOMIC_RELAXED);
  }
  mk_mutex_unlock(mutex_);
  if (err) {
    mk_eventfd_ctx_put(ctx);
    delete p;
  }
  return err;
}

int Ioeventfds::deassign(const kvm_ioeventfd &a) {
  // kvm_deassign_ioeventfd_idx(): the first entry with the same bus,
  // eventfd, address, length, wildcard-ness and (with datamatch) value;
  // -ENOENT if none.
  int err = 0;
  void *ctx = mk_eventfd_ctx_get(a.fd, &err);
  if (!ctx)
    return err;
  Bus bus = bus_of(a.flags);
  bool wildcard = !(a.flags & KVM_IOEVENTFD_FLAG_DATAMATCH);
  Entry *gone = nullptr;
  mk_mutex_lock(mutex_);
  {
    SpinGuard g(lock_);
    for (Entry **pp = &list_; *pp; pp = &(*pp)->next) {
      Entry *p = *pp;
      if (p->bus != bus || p->ctx != ctx || p->addr != a.addr || p->len != a.len || p->wildcard != wildcard)
        continue;
      if (!p->wildcard && p->datamatch != a.datamatch)
        continue;
      *pp = p->next;
      per_bus_[bus]--;
      __atomic_store_n(&total_, total_ - 1, __ATOMIC_RELAXED);
      gone = p;
      break;
    }
  }
  mk_mutex_unlock(mutex_);
  mk_eventfd_ctx_put(ctx);
  if (!gone)
    return -ENOENT;
  mk_eventfd_ctx_put(gone->ctx);
  delete gone;
  return 0;
}

int Ioeventfds::write(Bus bus, u64 addr, u32 len, const void *val) {
  if (empty())
    return -EOPNOTSUPP;
  u64 v = 0;
  if (len <= 8)
    __builtin_memcpy(&v, val, len);
  SpinGuard g(lock_);
  for (Entry *p = list_; p; p = p->next) {
    // ioeventfd_in_range(): the address must be exact; length 0 takes any
    // access there; else the length must match, then the data unless
    // wildcard (lengths other than 1/2/4/8 never match data).
    if (p->bus != bus || p->addr != addr)
      continue;
    if (p->len) {
      if (p->len != len)
        continue;
      if (!p->wildcard && (len > 8 || p->datamatch != v))
        continue;
    }
    mk_eventfd_signal(p->ctx);
    return 0;
  }
  return -EOPNOTSUPP;
}

}  // namespace mk::io
