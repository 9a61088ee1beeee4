// SPDX-License-Identifier: GPL-2.0
#include "stats.h"

#include <linux/kvm.h>
#include <minikvm/platform.h>

#include "rt/errno.h"
#include "rt/new.h"
#include "vm.h"

namespace mk {

namespace {
constexpr u32 kNameSize = 48;  // bytes of every name field, NUL included
constexpr u32 kMaxValues = 512;
}  // namespace

long StatsFd::create(Vm *vm, StatsSource *src) {
  auto *f = new (nothrow) StatsFd(vm, src);
  if (!f)
    return -ENOMEM;
  vm->get();
  int fd = mk_fd_create("kvm-stats", static_cast<FdObject *>(f));
  if (fd < 0) {
    vm->put();
    delete f;
  }
  return fd;
}

long StatsFd::ioctl(unsigned int, unsigned long) { return -ENOTTY; }

void StatsFd::release() {
  Vm *vm = vm_;
  delete this;
  vm->put();
}

long StatsFd::read(unsigned long user_buf, unsigned long size, long long *pos) {
  // The whole file is built on each read: it is small (a few KiB) and the
  // values must be current; the layout is fixed for the fd's life.
  u32 n;
  const StatDesc *d = src_->stat_descs(&n);
  u32 nvals = 0;
  for (u32 i = 0; i < n; i++)
    nvals += d[i].size;
  if (nvals > kMaxValues)
    return -EINVAL;
  const u32 desc_size = sizeof(kvm_stats_desc) + kNameSize;
  kvm_stats_header h{};
  h.name_size = kNameSize;
  h.num_desc = n;
  h.id_offset = sizeof(h);
  h.desc_offset = h.id_offset + kNameSize;
  h.data_offset = h.desc_offset + n * desc_size;
  const u64 total = h.data_offset + nvals * 8ull;
  if (*pos < 0)
    return -EINVAL;
  if (static_cast<u64>(*pos) >= total || !size)
    return 0;
  u8 *buf = static_cast<u8 *>(mk_alloc(total));
  u64 *vals = static_cast<u64 *>(mk_alloc(nvals * 8ull + 8));
  if (!buf || !vals) {
    mk_free(buf);
    mk_free(vals);
    return -ENOMEM;
  }
  __builtin_memcpy(buf, &h, sizeof(h));
  src_->stats_id(reinterpret_cast<char *>(buf + h.id_offset), kNameSize);
  u32 off = 0;
  for (u32 i = 0; i < n; i++) {
    auto *kd = reinterpret_cast<kvm_stats_desc *>(buf + h.desc_offset + i * desc_size);
    kd->flags = d[i].flags;
    kd->exponent = 0;
    kd->size = d[i].size;
    kd->offset = off * 8;
    kd->bucket_size = (d[i].flags & KVM_STATS_TYPE_MASK) == KVM_STATS_TYPE_LINEAR_HIST ? 1 : 0;
    char *name = reinterpret_cast<char *>(kd + 1);
    for (u32 j = 0; j + 1 < kNameSize && d[i].name[j]; j++)
      name[j] = d[i].name[j];
    off += d[i].size;
  }
  src_->stat_values(vals);
  __builtin_memcpy(buf + h.data_offset, vals, nvals * 8ull);
  u64 len = total - static_cast<u64>(*pos);
  if (len > size)
    len = size;
  long r = mk_copy_to_user(user_buf, buf + *pos, len);
  mk_free(buf);
  mk_free(vals);
  if (r)
    return r;
  *pos += static_cast<long long>(len);
  return static_cast<long>(len);
}

}  // namespace mk

extern "C" long mk_core_fd_read(void *obj, unsigned long user_buf, unsigned long size, long long *pos) {
  return static_cast<mk::FdObject *>(obj)->read(user_buf, size, pos);
}
