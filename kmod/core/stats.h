// SPDX-License-Identifier: GPL-2.0
// KVM's binary statistics interface (KVM_GET_STATS_FD, Documentation/
// virt/kvm/api.rst 4.133): a read-only fd whose contents are a header, an
// id string, descriptors and the values. minikvm exposes its per-vCPU and
// per-VM counters this way, so KVM's own tools (and the launcher) read them.
#pragma once

#include "fd_object.h"
#include "rt/types.h"

namespace mk {

class Vm;

struct StatDesc {
  const char *name;
  u32 flags;  // KVM_STATS_TYPE_* | KVM_STATS_UNIT_* | KVM_STATS_BASE_*
  u16 size;   // number of u64 values (histograms: buckets)
};

// The source of one stats fd: its descriptors and, at read time, its values.
class StatsSource {
 public:
  virtual const StatDesc *stat_descs(u32 *count) const = 0;
  virtual void stat_values(u64 *out) = 0;  // every descriptor's values, in order
  virtual void stats_id(char *buf, size_t len) const = 0;

 protected:
  ~StatsSource() = default;
};

class StatsFd final : public FdObject {
 public:
  // Holds a reference on vm (which owns the source) until closed.
  static long create(Vm *vm, StatsSource *src);
  long ioctl(unsigned int, unsigned long) override;
  long read(unsigned long user_buf, unsigned long size, long long *pos) override;
  void release() override;

 private:
  StatsFd(Vm *vm, StatsSource *src) : vm_(vm), src_(src) {}
  Vm *vm_;
  StatsSource *src_;
};

}  // namespace mk
