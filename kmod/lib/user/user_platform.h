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
// mk_access_ok(): TASK_SIZE_MAX of x86-64 with 4-level paging.
inline constexpr unsigned long kUserAddressLimit = 0x00007ffffffff000ul;
inline constexpr unsigned long kPageMaskUser = 0xfff;

// ---- Guest memory: mk_page_alloc/free, mk_pin_user_page/mk_unpin_page ----
// mk_page_alloc() gives an aligned_alloc'ed zeroed page whose "physical"
// address is its address (mk_phys_to_virt is the identity); it fails when
// fail_alloc_after() says so, like mk_alloc(). Pages are not counted in
// mk_alloc_live() but here:
long live_pages();
// mk_pin_user_page(hva) "pins" the page at hva: pa = hva rounded down to
// 4 KiB, one more pin on that page. It fails with -EFAULT below
// kBadUserLimit or beyond kUserAddressLimit, and with err for a page given
// to fail_pin() (only when asked for write access, if writable_only).
struct PinFault {
  unsigned long hva_page;
  int err;  // negative errno
  bool writable_only;
};
void fail_pin(unsigned long hva, int err, bool writable_only = false);
void clear_pin_faults();
long pin_count(unsigned long long pa);  // pins held on the page at pa
long live_pins();                       // pins held on all pages
long bad_unpins();                      // mk_unpin_page() of a page with no pin
// Every mk_pin_user_page() call (pin = true, flag = writable, also the
// failed ones) and mk_unpin_page() call (pin = false, flag = dirty), in order.
struct PinEvent {
  unsigned long page;
  bool pin;
  bool flag;
};
HostVector<PinEvent> &pin_log();
// Forgets pins, faults, bad unpins and the log.
void reset_pins();

struct SimCpu {
  unsigned long cr4 = 0;
};
// One CPUID output. Subleaf is ignored for leaves listed only with subleaf 0.
struct SimCpuidLeaf {
  unsigned int leaf, subleaf;
  unsigned int eax, ebx, ecx, edx;
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
  // CPUID other than leaf 1 ECX (always cpuid1_ecx): empty = all zeros.
  // skylake_cpuid() is a Xeon Gold 6148 (Skylake-SP) running Linux 6.1.
  HostVector<SimCpuidLeaf> cpuid;
  static HostVector<SimCpuidLeaf> skylake_cpuid();
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

// The simulated VMX (vmx_user.cpp): VMCS contents by VMCS physical address.
struct SimVmx {
  bool on = false;
  unsigned long long current = 0;
  template <class K, class V> using Map = std::map<K, V, std::less<K>, HostAllocator<std::pair<const K, V>>>;
  Map<unsigned long long, Map<unsigned long long, unsigned long long>> vmcs;
  unsigned long flushes = 0;
  bool signal_pending = false;
  // The exit reason the next mk_vmx_vcpu_run() reports (0: VM entry fails).
  unsigned int next_exit_reason = 0;
  // APICv module parameters (mk_param_enable_apicv/flexpriority) and the
  // posted-interrupt notifications sent (mk_send_posted_intr_ipi).
  bool enable_apicv = true;
  bool flexpriority = true;
  bool stale_vectoring_quirk = false;
  unsigned long pi_ipis = 0;
  int last_pi_cpu = -1;
};
SimVmx &vmx();

// ---- Interrupt controllers (irq_user.cpp) ----
// A simulated CLOCK_MONOTONIC (starts at 1 s) and TSC (now * tsc_khz / 1e6,
// 2 GHz by default). Timers fire only when the test lets time pass:
// advance_time() fires every timer due in the interval, in expiry order,
// with the clock set to each expiry; a callback's return value re-arms it.
unsigned long long now_ns();
void advance_time(unsigned long long ns);
bool run_next_timer();  // jumps to the first expiry and fires it; false if none
long armed_timers();
unsigned long long next_timer_expiry();  // 0 if none armed
void set_tsc_khz(unsigned long khz);
// mk_vcpu_wake() and mk_kick_cpu() calls since reset_time().
unsigned long vcpu_wakes();
unsigned long cpu_kicks();
int last_kicked_cpu();
void reset_time();  // clock to 1 s, 2 GHz, counters to 0 (timers stay)

}  // namespace mk::user
