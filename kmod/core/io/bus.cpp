// SPDX-License-Identifier: GPL-2.0
#include "bus.h"

#include "rt/errno.h"

namespace mk::io {

int IoBus::register_range(u64 base, u64 len, IoDevice *dev) {
  if (!len || base + len < base || !dev)
    return -EINVAL;
  u32 n = count_;
  for (u32 i = 0; i < n; i++) {
    const Range &r = ranges_[i];
    if (base < r.base + r.len && r.base < base + len)
      return -EEXIST;
  }
  if (n == kMaxRanges)
    return -ENOSPC;
  ranges_[n] = Range{base, len, dev};
  __atomic_store_n(&count_, n + 1, __ATOMIC_RELEASE);
  return 0;
}

void IoBus::unregister_unpublished(IoDevice *dev) {
  u32 n = count_, j = 0;
  for (u32 i = 0; i < n; i++)
    if (ranges_[i].dev != dev)
      ranges_[j++] = ranges_[i];
  for (u32 i = j; i < n; i++)
    ranges_[i] = Range{};
  __atomic_store_n(&count_, j, __ATOMIC_RELEASE);
}

IoDevice *IoBus::find(u64 addr, u32 len) const {
  u32 n = count();
  for (u32 i = 0; i < n; i++) {
    const Range &r = ranges_[i];
    if (addr >= r.base && addr - r.base < r.len && len <= r.len - (addr - r.base))
      return r.dev;
  }
  return nullptr;
}

int IoBus::read(u64 addr, u32 len, void *val) const {
  IoDevice *d = find(addr, len);
  return d ? d->read(addr, len, val) : -EOPNOTSUPP;
}

int IoBus::write(u64 addr, u32 len, const void *val) const {
  IoDevice *d = find(addr, len);
  return d ? d->write(addr, len, val) : -EOPNOTSUPP;
}

}  // namespace mk::io
