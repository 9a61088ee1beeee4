// SPDX-License-Identifier: GPL-2.0
// The platform ABI over libc, for unit-testing the core natively.
#include <minikvm/core.h>
#include <minikvm/platform.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>

#include "user_platform.h"

namespace mk::user {
namespace {
long g_fail_after = -1;
// Atomic: the device models' threaded tests allocate from several threads.
std::atomic<long> g_live;
SimMachine g_machine;
unsigned int g_current_cpu;
HostVector<HostString> g_log;
std::map<int, void *, std::less<int>, HostAllocator<std::pair<const int, void *>>> g_fds;
int g_next_fd = 100;
int g_fail_fd_err;

// Guest-memory platform state (mk_page_*, mk_pin_user_page/mk_unpin_page).
long g_live_pages;
std::map<unsigned long long, long, std::less<unsigned long long>,
         HostAllocator<std::pair<const unsigned long long, long>>>
    g_pins;  // page address -> pins held
long g_bad_unpins;
HostVector<PinFault> g_pin_faults;
HostVector<PinEvent> g_pin_log;

// Consumes one step of fail_alloc_after(): true when this allocation fails.
bool alloc_should_fail() { return g_fail_after >= 0 && g_fail_after-- == 0; }
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

// Leaf 1 ECX is 0x7ffefbff on this part (VMX and SMX included); the
// machine's cpuid1_ecx supplies it in mk_cpuid.
HostVector<SimCpuidLeaf> SimMachine::skylake_cpuid() {
  return {
      {0x0, 0, 0x00000016, 0x756e6547, 0x6c65746e, 0x49656e69},
      {0x1, 0, 0x00050654, 0x05400800, 0x7ffefbff, 0xbfebfbff},
      {0x2, 0, 0x76036301, 0x00f0b5ff, 0x00000000, 0x00c30000},
      {0x4, 0, 0x7c004121, 0x01c0003f, 0x0000003f, 0x00000000},
      {0x4, 1, 0x7c004122, 0x01c0003f, 0x0000003f, 0x00000000},
      {0x4, 2, 0x7c004143, 0x03c0003f, 0x000003ff, 0x00000000},
      {0x4, 3, 0x7c0fc163, 0x0280003f, 0x0000dfff, 0x00000004},
      {0x4, 4, 0x00000000, 0x00000000, 0x00000000, 0x00000000},
      {0x5, 0, 0x00000040, 0x00000040, 0x00000003, 0x00002020},
      {0x6, 0, 0x00000077, 0x00000002, 0x00000009, 0x00000000},
      {0x7, 0, 0x00000000, 0xd39ffffb, 0x00000018, 0xbc000400},
      {0xa, 0, 0x07300404, 0x00000000, 0x00000000, 0x00000603},
      {0xb, 0, 0x00000001, 0x00000002, 0x00000100, 0x00000005},
      {0xb, 1, 0x00000005, 0x00000028, 0x00000201, 0x00000005},
      {0xb, 2, 0x00000000, 0x00000000, 0x00000002, 0x00000005},
      {0xd, 0, 0x000002ff, 0x00000a88, 0x00000a88, 0x00000000},
      {0xd, 1, 0x0000000f, 0x00000a08, 0x00000100, 0x00000000},
      {0xd, 2, 0x00000100, 0x00000240, 0x00000000, 0x00000000},
      {0xd, 3, 0x00000040, 0x000003c0, 0x00000000, 0x00000000},
      {0xd, 4, 0x00000040, 0x00000400, 0x00000000, 0x00000000},
      {0xd, 5, 0x00000040, 0x00000440, 0x00000000, 0x00000000},
      {0xd, 6, 0x00000200, 0x00000480, 0x00000000, 0x00000000},
      {0xd, 7, 0x00000400, 0x00000680, 0x00000000, 0x00000000},
      {0xd, 8, 0x00000080, 0x00000000, 0x00000001, 0x00000000},
      {0xd, 9, 0x00000008, 0x00000a80, 0x00000000, 0x00000000},
      {0xf, 0, 0x00000000, 0x000000df, 0x00000000, 0x00000002},
      {0xf, 1, 0x00000000, 0x0001b000, 0x000000df, 0x00000007},
      {0x10, 0, 0x00000000, 0x0000000a, 0x00000000, 0x00000000},
      {0x14, 0, 0x00000001, 0x0000000f, 0x00000007, 0x00000000},
      {0x14, 1, 0x02490002, 0x003f3fff, 0x00000000, 0x00000000},
      {0x15, 0, 0x00000002, 0x000000c8, 0x00000000, 0x00000000},
      {0x16, 0, 0x00000960, 0x00000e74, 0x00000064, 0x00000000},
      {0x80000000, 0, 0x80000008, 0x00000000, 0x00000000, 0x00000000},
      {0x80000001, 0, 0x00000000, 0x00000000, 0x00000121, 0x2c100800},
      {0x80000002, 0, 0x65746e49, 0x2952286c, 0x6f655820, 0x2952286e},
      {0x80000003, 0, 0x6c6f4720, 0x31362064, 0x43203834, 0x40205550},
      {0x80000004, 0, 0x342e3220, 0x7a484730, 0x00000000, 0x00000000},
      {0x80000005, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000000},
      {0x80000006, 0, 0x00000000, 0x00000000, 0x01006040, 0x00000000},
      {0x80000007, 0, 0x00000000, 0x00000000, 0x00000000, 0x00000100},
      {0x80000008, 0, 0x0000302e, 0x00000000, 0x00000000, 0x00000000},
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

long live_pages() { return g_live_pages; }
void fail_pin(unsigned long hva, int err, bool writable_only) {
  g_pin_faults.push_back({hva & ~kPageMaskUser, err, writable_only});
}
void clear_pin_faults() { g_pin_faults.clear(); }
long pin_count(unsigned long long pa) {
  auto it = g_pins.find(pa & ~kPageMaskUser);
  return it == g_pins.end() ? 0 : it->second;
}
long live_pins() {
  long n = 0;
  for (auto &p : g_pins)
    n += p.second;
  return n;
}
long bad_unpins() { return g_bad_unpins; }
HostVector<PinEvent> &pin_log() { return g_pin_log; }
void reset_pins() {
  g_pins.clear();
  g_bad_unpins = 0;
  g_pin_faults.clear();
  g_pin_log.clear();
}

}  // namespace mk::user

using namespace mk::user;

extern "C" {

void *mk_alloc(unsigned long size) {
  if (alloc_should_fail())
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

// access_ok() on x86-64 with 4-level paging: [addr, addr + size) below
// TASK_SIZE_MAX, without wrapping (include/asm-generic/access_ok.h).
int mk_access_ok(unsigned long addr, unsigned long size) {
  return size <= kUserAddressLimit && addr <= kUserAddressLimit - size;
}

// Pages: "physical" address == virtual address. They share the
// fail_alloc_after() countdown with mk_alloc(), so a test stepping n
// reaches every allocation, but are counted apart (live_pages()).
void *mk_page_alloc(unsigned long long *pa) {
  if (alloc_should_fail())
    return nullptr;
  void *p = aligned_alloc(4096, 4096);
  if (!p)
    return nullptr;
  memset(p, 0, 4096);
  g_live_pages++;
  *pa = reinterpret_cast<unsigned long>(p);
  return p;
}

void mk_page_free(void *va) {
  if (!va)
    return;
  g_live_pages--;
  free(va);
}

void *mk_phys_to_virt(unsigned long long pa) { return reinterpret_cast<void *>(pa); }

// Pinning: the "physical" address is the page's own address; each pin is
// counted per page so tests can check every pin is released exactly once.
int mk_pin_user_page(unsigned long hva, int writable, unsigned long long *pa) {
  const unsigned long page = hva & ~kPageMaskUser;
  g_pin_log.push_back({page, true, writable != 0});
  if (hva < kBadUserLimit || !mk_access_ok(page, 4096))
    return -EFAULT;
  for (const PinFault &f : g_pin_faults)
    if (f.hva_page == page && (!f.writable_only || writable))
      return f.err;
  g_pins[page]++;
  *pa = page;
  return 0;
}

void mk_unpin_page(unsigned long long pa, int dirty) {
  g_pin_log.push_back({static_cast<unsigned long>(pa), false, dirty != 0});
  auto it = g_pins.find(pa);
  if (it == g_pins.end() || (pa & kPageMaskUser)) {
    g_bad_unpins++;
    fprintf(stderr, "mk_unpin_page(%#llx): not pinned\n", pa);
    return;
  }
  if (--it->second == 0)
    g_pins.erase(it);
}

void mk_cpuid(unsigned int leaf, unsigned int subleaf, unsigned int out[4]) {
  memset(out, 0, 4 * sizeof(out[0]));
  const SimCpuidLeaf *hit = nullptr;
  bool indexed = false;
  for (const SimCpuidLeaf &l : g_machine.cpuid) {
    if (l.leaf != leaf)
      continue;
    indexed |= l.subleaf != 0;
    if (l.subleaf == subleaf)
      hit = &l;
  }
  if (!hit && !indexed)
    for (const SimCpuidLeaf &l : g_machine.cpuid)
      if (l.leaf == leaf)
        hit = &l;
  if (hit) {
    out[0] = hit->eax;
    out[1] = hit->ebx;
    out[2] = hit->ecx;
    out[3] = hit->edx;
  }
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
