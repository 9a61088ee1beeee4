// SPDX-License-Identifier: GPL-2.0
// ioeventfd (KVM_IOEVENTFD): a guest write to a port or guest-physical
// address (optionally of one length and value) signals an eventfd and
// completes in the kernel, without an exit to userspace. Semantics of
// Linux 6.1's virt/kvm/eventfd.c (kvm_assign_ioeventfd,
// kvm_deassign_ioeventfd_idx, ioeventfd_in_range,
// ioeventfd_check_collision).
//
// KVM puts each ioeventfd on the PIO or MMIO kvm_io_bus next to the
// in-kernel devices; minikvm keeps them in one table per VM that the vCPU
// consults for writes before the IoBus (whose fixed table holds the
// irqchip's few devices and is never shrunk under lock-free readers). A
// write is looked up and its eventfd signalled under an irq-safe
// spinlock, so a deassign that returned has no signal in flight.
#pragma once

#include <linux/kvm.h>

#include "rt/types.h"

namespace mk::io {

class Ioeventfds {
 public:
  // KVM's NR_IOBUS_DEVS: devices per bus; a full bus answers -ENOSPC.
  static constexpr u32 kMaxPerBus = 1000;
  enum Bus : u8 { kMmio = 0, kPio = 1, kCcw = 2 };

  Ioeventfds() = default;
  ~Ioeventfds();
  Ioeventfds(const Ioeventfds &) = delete;
  Ioeventfds &operator=(const Ioeventfds &) = delete;
  int init();  // 0 / -ENOMEM

  // KVM_IOEVENTFD after the copy from userspace (kvm_ioeventfd).
  long ioctl(const kvm_ioeventfd &args);

  // A guest write of len bytes (little-endian in val) at addr on bus:
  // 0 when an ioeventfd took it (its eventfd was signalled), -EOPNOTSUPP
  // when none matches. Any context (vCPU thread).
  int write(Bus bus, u64 addr, u32 len, const void *val);

  u32 count(Bus bus);
  // Cheap unlocked check for the vCPU's fast path.
  bool empty() const { return __atomic_load_n(&total_, __ATOMIC_RELAXED) == 0; }

 private:
  struct Entry {
    u64 addr;
    u64 datamatch;
    u32 len;  // 0: any length
    Bus bus;
    bool wildcard;  // no KVM_IOEVENTFD_FLAG_DATAMATCH
    void *ctx;      // eventfd context (reference)
    Entry *next;
  };
  int assign(const kvm_ioeventfd &args);
  int deassign(const kvm_ioeventfd &args);
  static Bus bus_of(u32 flags);

  void *lock_ = nullptr;   // spinlock: the list, for writers and lookups
  void *mutex_ = nullptr;  // serialises assign/deassign (collision checks)
  Entry *list_ = nullptr;
  u32 per_bus_[3] = {};
  u32 total_ = 0;
};

}  // namespace mk::io
