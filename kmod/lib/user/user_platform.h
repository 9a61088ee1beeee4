// SPDX-License-Identifier: GPL-2.0
// Test controls of the userspace platform (glue_user.cpp): fault injection,
// a simulated set of CPUs, captured log lines, and a table of fds standing
// in for anon-inode files. Only host unit tests include this.
#pragma once

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace mk::user {

// The test process's global operator new is the core's (runtime.cpp), which
// counts into mk_alloc_live(). The user platform's own bookkeeping uses this
// allocator instead, so that the live count moves only with the core's
// allocations and leak checks can compare it before and after an operation.
template <class T> struct HostAllocator {
  using value_type = T;
  HostAllocator() = default;
  template <class U> HostAllocator(const HostAllocator<U> &) {}
  T *allocate(std::size_t n) { return static_cast<T *>(std::malloc(n * sizeof(T))); }
  void deallocate(T *p, std::size_t) { std::free(p); }
  template <class U> bool operator==(const HostAllocator<U> &) const { return true; }
};
using HostString = std::basic_string<char, std::char_traits<char>, HostAllocator<char>>;
template <class T> using HostVector = std::vector<T, HostAllocator<T>>;

// The n-th mk_alloc() from now fails (0 = the next one); -1 = never.
void fail_alloc_after(long n);

// Userspace "user memory": any address below this is a bad pointer and
// mk_copy_*_user() returns -EFAULT, as copy_*_user would for unmapped memory.
inline constexpr unsigned long kBadUserLimit = 0x10000;

struct SimCpu {
  unsigned long cr4 = 0;
};
struct SimMachine {
  unsigned int cpuid1_ecx = 1u << 5;  // VMX
  bool feature_control_readable = true;
  unsigned long long feature_control = 0x5;  // locked, VMX outside SMX
  HostVector<SimCpu> cpus = HostVector<SimCpu>(2);
  // Other MSRs: the VMX capability MSRs 0x480-0x490 of a Skylake server.
  // A missing entry faults (-EIO), as rdmsr_safe would.
  HostVector<std::pair<unsigned int, unsigned long long>> msrs = skylake_vmx_msrs();
  static HostVector<std::pair<unsigned int, unsigned long long>> skylake_vmx_msrs();
};
SimMachine &machine();
void reset_machine();

// Log lines written by mk_log(), without the "minikvm: " prefix.
HostVector<HostString> &log_lines();

// The fd table: mk_fd_create() returns fds from 100 up.
void fail_next_fd_create(int err);
long fd_ioctl(int fd, unsigned int cmd, unsigned long arg);
// Drops the fd; calls mk_core_fd_release() like the last fput() would.
int fd_close(int fd);
int open_fds();

}  // namespace mk::user
