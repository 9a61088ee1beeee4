// SPDX-License-Identifier: GPL-2.0
// Per-VM I/O buses: devices emulated in the kernel claim ranges of port or
// guest-physical addresses, and a vCPU's PIO/MMIO exit that hits one is
// completed without a trip to userspace (KVM's kvm_io_bus and
// kvm_io_device_ops, include/kvm/iodev.h).
#pragma once

#include "rt/types.h"

namespace mk::io {

class IoDevice {
 public:
  virtual ~IoDevice() = default;
  // addr is the absolute port or GPA of the access, len 1, 2, 4 or 8, val
  // its bytes (little-endian). Return 0 when the device handled it, or
  // -EOPNOTSUPP to let it go on to userspace (as KVM's -EOPNOTSUPP).
  virtual int read(u64 addr, u32 len, void *val) = 0;
  virtual int write(u64 addr, u32 len, const void *val) = 0;
};

// A fixed table of ranges. Registration happens under the VM's lock
// (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2) and only adds; lookups from vCPU
// threads run without a lock: a slot is written before the count that
// publishes it (release/acquire). Devices stay until the VM is destroyed.
class IoBus {
 public:
  static constexpr u32 kMaxRanges = 16;

  // 0, -EEXIST when [base, base + len) overlaps a registered range,
  // -EINVAL for len 0 or a wrapping range, -ENOSPC when full.
  int register_range(u64 base, u64 len, IoDevice *dev);
  // Drops every range of dev. Only while no vCPU can look (no vCPU exists
  // yet): used to undo a half-finished KVM_CREATE_IRQCHIP.
  void unregister_unpublished(IoDevice *dev);
  // The device whose range holds the whole access [addr, addr + len), or null.
  IoDevice *find(u64 addr, u32 len) const;
  // Dispatch: 0 handled, -EOPNOTSUPP no device (or it declined).
  int read(u64 addr, u32 len, void *val) const;
  int write(u64 addr, u32 len, const void *val) const;
  u32 count() const { return __atomic_load_n(&count_, __ATOMIC_ACQUIRE); }

 private:
  struct Range {
    u64 base, len;
    IoDevice *dev;
  };
  Range ranges_[kMaxRanges] = {};
  u32 count_ = 0;
};

}  // namespace mk::io
