// SPDX-License-Identifier: GPL-2.0
// The platform ABI over libc, for unit-testing the core natively.
#include <minikvm/core.h>
#include <minikvm/platform.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "user_platform.h"

namespace mk::user {
namespace {
long g_fail_after = -1;
long g_live;
SimMachine g_machine;
unsigned int g_current_cpu;
HostVector<HostString> g_log;
std::map<int, void *, std::less<int>, HostAllocator<std::pair<const int, void *>>> g_fds;
int g_next_fd = 100;
int g_fail_fd_err;
}  // namespace

HostVector<std::pair<unsigned int, unsigned long long>> SimMachine::skylake_vmx_msrs() {
  return {
      {0x480, 0x00da040000000004ull}, {0x481, 0x0000007f00000016ull}, {0x482, 0xfff9fffe0401e172ull},
      {0x483, 0x01ffffff00036dffull}, {0x484, 0x0003ffff000011ffull}, {0x485, 0x00000000300481e5ull},
      {0x486, 0x0000000080000021ull}, {0x487, 0x00000000ffffffffull}, {0x488, 0x0000000000002000ull},
      {0x489, 0x00000000003767ffull}, {0x48b, 0x00f7ffff00000000ull}, {0x48c, 0x00000f0106734141ull},
      {0x48d, 0x0000007f00000016ull}, {0x48e, 0xfff9fffe04006172ull}, {0x48f, 0x01ffffff00036dfbull},
      {0x490, 0x0003ffff000011fbull},
  };
}

void fail_alloc_after(long n) { g_fail_after = n; }
SimMachine &machine() { return g_machine; }
void reset_machine() { g_machine = SimMachine{}; }
HostVector<HostString> &log_lines() { return g_log; }
void fail_next_fd_create(int err) { g_fail_fd_err = err; }

long fd_ioctl(int fd, unsigned int cmd, unsigned long arg) {
  auto it = g_fds.find(fd);
  if (it == g_fds.end())
    return -EBADF;
  return mk_core_fd_ioctl(it->second, cmd, arg);
}

int fd_close(int fd) {
  auto it = g_fds.find(fd);
  if (it == g_fds.end())
    return -EBADF;
  void *obj = it->second;
  g_fds.erase(it);
  mk_core_fd_release(obj);
  return 0;
}

int open_fds() { return static_cast<int>(g_fds.size()); }

}  // namespace mk::user

using namespace mk::user;

extern "C" {

void *mk_alloc(unsigned long size) {
  if (g_fail_after >= 0 && g_fail_after-- == 0)
    return nullptr;
  void *p = calloc(1, size ? size : 1);
  if (p)
    g_live++;
  return p;
}

void mk_free(void *p) {
  if (!p)
    return;
  g_live--;
  free(p);
}

long mk_alloc_live(void) { return g_live; }

void mk_log(int level, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  g_log.emplace_back(buf);
  if (getenv("MINIKVM_UNIT_LOG"))
    fprintf(stderr, "minikvm(%d): %s\n", level, buf);
}

long mk_copy_from_user(void *dst, unsigned long user_src, unsigned long n) {
  if (user_src < kBadUserLimit)
    return -EFAULT;
  memcpy(dst, reinterpret_cast<const void *>(user_src), n);
  return 0;
}

long mk_copy_to_user(unsigned long user_dst, const void *src, unsigned long n) {
  if (user_dst < kBadUserLimit)
    return -EFAULT;
  memcpy(reinterpret_cast<void *>(user_dst), src, n);
  return 0;
}

void mk_cpuid(unsigned int leaf, unsigned int, unsigned int out[4]) {
  memset(out, 0, 4 * sizeof(out[0]));
  if (leaf == 1)
    out[2] = g_machine.cpuid1_ecx;
}

int mk_rdmsr_safe(unsigned int msr, unsigned long long *value) {
  if (msr == 0x3a) {
    if (!g_machine.feature_control_readable)
      return -EIO;
    *value = g_machine.feature_control;
    return 0;
  }
  for (auto &m : g_machine.msrs)
    if (m.first == msr) {
      *value = m.second;
      return 0;
    }
  return -EIO;
}

unsigned long mk_read_cr4(void) { return g_machine.cpus.at(g_current_cpu).cr4; }

void mk_on_each_cpu(void (*fn)(void *), void *arg) {
  for (g_current_cpu = 0; g_current_cpu < g_machine.cpus.size(); g_current_cpu++)
    fn(arg);
  g_current_cpu = 0;
}

int mk_fd_create(const char *, void *obj) {
  if (g_fail_fd_err) {
    int err = g_fail_fd_err;
    g_fail_fd_err = 0;
    return -err;
  }
  int fd = g_next_fd++;
  g_fds[fd] = obj;
  return fd;
}

}  // extern "C"
