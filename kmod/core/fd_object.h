// SPDX-License-Identifier: GPL-2.0
// A core object that userspace holds as a file descriptor (VM, later vCPU).
// The platform's anon-inode fd calls ioctl() and, on last close, release().
#pragma once

#include "rt/new.h"

namespace mk {

class FdObject {
 public:
  FdObject() = default;
  FdObject(const FdObject &) = delete;
  FdObject &operator=(const FdObject &) = delete;
  virtual ~FdObject() = default;

  virtual long ioctl(unsigned int cmd, unsigned long arg) = 0;
  // The last reference to the fd is gone. Default: the fd owned the object.
  virtual void release() { delete this; }
  // mmap of the fd: the kernel page at page offset pgoff, or null.
  virtual void *mmap_page(unsigned long) { return nullptr; }
  // read() of the fd at *pos (advanced): bytes read or a negative errno.
  virtual long read(unsigned long, unsigned long, long long *) { return -22 /* -EINVAL */; }
};

}  // namespace mk
