// SPDX-License-Identifier: GPL-2.0
// minikvm-launch: the VM, its vCPU threads and the exits served in
// userspace (debug console, exit port, everything else logged once).
//
// Stopping: a vCPU thread sits in KVM_RUN until the guest exits; to end
// the run early (timeout, exit port, a vCPU failing) the main thread sends
// SIGUSR1 to every vCPU thread. The signal makes KVM_RUN return -EINTR
// (KVM checks signal_pending() before each entry and after each exit:
// kvm_vcpu_exit_request()/xfer_to_guest_mode_handle_work()). The handler
// also sets kvm_run.immediate_exit (KVM_CAP_IMMEDIATE_EXIT) so that a
// signal landing between the thread's check of the stop flag and its
// KVM_RUN is not lost; without that capability the kick is repeated every
// 10 ms until the thread has left.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

#include "launch.h"
#include "uart16550.h"

namespace mkl {

namespace {

thread_local kvm_run *tls_run = nullptr;
std::atomic<bool> g_immediate_exit{false};

void kick_handler(int) {
  if (tls_run && g_immediate_exit.load(std::memory_order_relaxed)) tls_run->immediate_exit = 1;
}

void install_kick_handler() {
  static bool done = false;
  if (done) return;
  struct sigaction sa {};
  sa.sa_handler = kick_handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return -EINTR
  sigaction(SIGUSR1, &sa, nullptr);
  done = true;
}

// What the vCPU threads share with the main thread.
struct Shared {
  const Options *opt = nullptr;
  int vm_fd = -1;  // KVM_IRQ_LINE (Options::irq_line_gsi)
  Uart16550 *uart = nullptr;  // --uart: COM1's ports
  PortDevice *ports = nullptr;  // Machine::set_port_device (--irq-tour)
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::condition_variable cv;
  unsigned running = 0;
  bool status_set = false;
  int status = kExitOk;
  std::string reason;
  std::set<uint64_t> logged;
  unsigned log_count = 0;
  std::mutex out_mu;

  // The first caller decides the run's status; every caller stops it.
  void end_run(int st, const std::string &why) {
    {
      std::lock_guard<std::mutex> g(mu);
      if (!status_set) {
        status_set = true;
        status = st;
        reason = why;
      }
      stop.store(true);  // under mu: the main thread checks it under mu before waiting
    }
    cv.notify_all();
  }

  void log_once(uint64_t key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
};

void Shared::log_once(uint64_t key, const char *fmt, ...) {
  std::lock_guard<std::mutex> g(mu);
  if (opt->log_limit == 0 || !logged.insert(key).second) return;
  if (log_count > opt->log_limit) return;
  if (log_count++ == opt->log_limit) {
    std::fprintf(stderr, "minikvm-launch: further unhandled exits are not logged\n");
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "minikvm-launch: ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
}

// Debug-console bytes of one vCPU, written a line at a time so that the
// lines of several vCPUs do not interleave.
struct Console {
  Shared *sh;
  std::string line;
  uint64_t bytes = 0;
  void put(uint8_t c) {
    bytes++;
    if (sh->opt->garbage) return;
    line.push_back(static_cast<char>(c));
    if (c == '\n' || line.size() >= 256) flush();
  }
  void flush() {
    if (line.empty()) return;
    std::lock_guard<std::mutex> g(sh->out_mu);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
    line.clear();
  }
};

uint64_t element(const uint8_t *p, unsigned size) {
  uint64_t v = 0;
  std::memcpy(&v, p, size > 8 ? 8 : size);
  return v;
}

std::string regs_summary(int fd) {
  kvm_regs r{};
  kvm_sregs s{};
  if (ioctl(fd, KVM_GET_REGS, &r) < 0 || ioctl(fd, KVM_GET_SREGS, &s) < 0)
    return std::string("(registers unreadable: ") + std::strerror(errno) + ")";
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "rip=%#" PRIx64 " rsp=%#" PRIx64 " rflags=%#" PRIx64 " cs=%#x(base %#" PRIx64
                ") cr0=%#" PRIx64 " cr3=%#" PRIx64 " cr4=%#" PRIx64 " efer=%#" PRIx64,
                static_cast<uint64_t>(r.rip), static_cast<uint64_t>(r.rsp),
                static_cast<uint64_t>(r.rflags), s.cs.selector, static_cast<uint64_t>(s.cs.base),
                static_cast<uint64_t>(s.cr0), static_cast<uint64_t>(s.cr3),
                static_cast<uint64_t>(s.cr4), static_cast<uint64_t>(s.efer));
  return buf;
}

// One vCPU's run loop. Returns when the vCPU halts, the guest writes the
// exit port, something fails, or the run is stopped.
void vcpu_loop(Shared *sh, unsigned index, int fd, kvm_run *run, VcpuResult *res) {
  tls_run = run;
  Console con{sh, {}, 0};
  char msg[512];
  res->end = "stopped";
  uint64_t t0 = monotonic_ns();
  while (!sh->stop.load()) {
    int r = ioctl(fd, KVM_RUN, 0);
    int err = errno;
    res->round_trips++;
    if (r < 0) {
      if (err == EINTR || err == EAGAIN) {
        res->exits[KVM_EXIT_INTR]++;
        run->immediate_exit = 0;
        continue;  // the loop condition sees the stop flag
      }
      // -ENOTTY & co. from KVM_RUN: the device has vCPUs but no run
      // loop yet (minikvm today), reported like any missing ioctl.
      bool unsupported = err == ENOTTY || err == EOPNOTSUPP || err == ENOSYS;
      std::snprintf(msg, sizeof msg, "vcpu%u: KVM_RUN failed: %s (errno %d)%s", index,
                    std::strerror(err), err,
                    unsupported ? ": the device cannot run guests (yet)" : "");
      res->end = std::string("KVM_RUN error ") + std::strerror(err);
      sh->end_run(unsupported ? kExitUnsupported : kExitGuestError, msg);
      break;
    }
    uint32_t reason = run->exit_reason;
    res->exits[reason]++;
    bool done = false;
    switch (reason) {
      case KVM_EXIT_IO: {
        uint8_t *data = reinterpret_cast<uint8_t *>(run) + run->io.data_offset;
        unsigned size = run->io.size, count = run->io.count;
        uint16_t port = run->io.port;
        bool out = run->io.direction == KVM_EXIT_IO_OUT;
        res->io_ports[port | (out ? 1u << 16 : 0)]++;
        if (sh->uart && sh->uart->handles(port)) {
          // Byte registers: each element of a (REP) INS/OUTS is one access
          // (a wider access uses its low byte, the port's register).
          for (unsigned i = 0; i < count; i++) sh->uart->io(port, out, data + i * size);
          if (!out && size > 1)
            for (unsigned i = 0; i < count; i++) std::memset(data + i * size + 1, 0, size - 1);
        } else if (sh->ports && sh->ports->handles(port, out)) {
          for (unsigned i = 0; i < count; i++) sh->ports->io(port, out, data + i * size, size);
        } else if (out && port == kPortDebugcon) {
          // Like Bochs' port E9 hack: the low byte of each element.
          for (unsigned i = 0; i < count; i++) con.put(data[i * size]);
        } else if (out && port == kPortExit) {
          uint64_t v = element(data, size);
          std::snprintf(msg, sizeof msg, "vcpu%u wrote %#" PRIx64 " to the exit port", index, v);
          res->end = "exit port";
          sh->end_run(static_cast<int>(v & 0xff), msg);
          done = true;
        } else if (out && port == kPortNull) {
          // Accepted silently: the benchmark's port.
        } else if (out && sh->opt->windows && (port == kPortWindowBegin || port == kPortWindowEnd)) {
          // A measured region: the kernel's counter is read outside the
          // timed interval at both ends, so its cost is not measured.
          unsigned w = static_cast<unsigned>(element(data, size));
          if (w < 1 || w > kMaxWindows) {
            std::snprintf(msg, sizeof msg, "vcpu%u: window %u out of range 1..%u", index, w, kMaxWindows);
            res->end = "bad window";
            sh->end_run(kExitGuestError, msg);
            done = true;
            break;
          }
          Window &win = res->windows[w];
          if (port == kPortWindowBegin) {
            win = Window{};
            win.kexits_valid = read_kernel_stat(fd, "exits", &win.kexits0);
            win.begun = true;
            win.returns0 = res->round_trips;
            win.t0 = monotonic_ns();
          } else {
            win.t1 = monotonic_ns();
            win.returns1 = res->round_trips;
            win.ended = win.begun;
            win.kexits_valid = win.kexits_valid && read_kernel_stat(fd, "exits", &win.kexits1);
          }
        } else if (out && port == kPortIrqLine && sh->opt->irq_line_gsi >= 0) {
          // An edge on the GSI: raise, then lower (KVM_IRQ_LINE, api.rst).
          kvm_irq_level irq{};
          irq.irq = static_cast<uint32_t>(sh->opt->irq_line_gsi);
          irq.level = 1;
          int r1 = ioctl(sh->vm_fd, KVM_IRQ_LINE, &irq);
          irq.level = 0;
          int r2 = r1 < 0 ? r1 : ioctl(sh->vm_fd, KVM_IRQ_LINE, &irq);
          if (r2 < 0) {
            int e = errno;
            bool unsupported = e == ENOTTY || e == EOPNOTSUPP || e == ENOSYS;
            std::snprintf(msg, sizeof msg, "vcpu%u: KVM_IRQ_LINE(%d, %d) failed: %s (errno %d)%s", index,
                          sh->opt->irq_line_gsi, r1 < 0 ? 1 : 0, std::strerror(e), e,
                          unsupported ? ": the device cannot run guests (yet)" : "");
            res->end = "KVM_IRQ_LINE error";
            sh->end_run(unsupported ? kExitUnsupported : kExitHost, msg);
            done = true;
          }
        } else if (out) {
          sh->log_once(0x100000000ULL | port, "vcpu%u: OUT to unhandled port %#x (size %u, value %#" PRIx64 "): ignored",
                       index, port, size, element(data, size));
        } else {
          // Reads: the debug console answers 0xE9, as Bochs and QEMU do
          // for detection; everything else reads as a floating bus.
          std::memset(data, port == kPortDebugcon ? kPortDebugcon : 0xff,
                      static_cast<size_t>(size) * count);
          if (port != kPortDebugcon && port != kPortNull && port != kPortExit)
            sh->log_once(0x200000000ULL | port, "vcpu%u: IN from unhandled port %#x (size %u): 0xff..",
                         index, port, size);
        }
        break;
      }
      case KVM_EXIT_MMIO: {
        uint64_t page = run->mmio.phys_addr >> 12;
        if (run->mmio.is_write) {
          sh->log_once(0x300000000000000ULL | page,
                       "vcpu%u: MMIO write to %#" PRIx64 " (len %u, no device): ignored", index,
                       static_cast<uint64_t>(run->mmio.phys_addr), run->mmio.len);
        } else {
          std::memset(run->mmio.data, 0xff, sizeof run->mmio.data);
          sh->log_once(0x400000000000000ULL | page,
                       "vcpu%u: MMIO read from %#" PRIx64 " (len %u, no device): 0xff..", index,
                       static_cast<uint64_t>(run->mmio.phys_addr), run->mmio.len);
        }
        break;
      }
      case KVM_EXIT_HLT:
        // No in-kernel irqchip, so nothing could wake the vCPU: done.
        // (With one, KVM handles HLT in the kernel and this never comes.)
        res->end = "HLT";
        done = true;
        break;
      case KVM_EXIT_SHUTDOWN:
        std::snprintf(msg, sizeof msg, "vcpu%u: KVM_EXIT_SHUTDOWN (triple fault) %s", index,
                      regs_summary(fd).c_str());
        res->end = "SHUTDOWN";
        sh->end_run(kExitGuestError, msg);
        done = true;
        break;
      case KVM_EXIT_FAIL_ENTRY:
        std::snprintf(msg, sizeof msg,
                      "vcpu%u: KVM_EXIT_FAIL_ENTRY hardware_entry_failure_reason=%#" PRIx64
                      " cpu=%u %s",
                      index, static_cast<uint64_t>(run->fail_entry.hardware_entry_failure_reason),
                      run->fail_entry.cpu, regs_summary(fd).c_str());
        res->end = "FAIL_ENTRY";
        sh->end_run(kExitGuestError, msg);
        done = true;
        break;
      case KVM_EXIT_INTERNAL_ERROR: {
        int n = std::snprintf(msg, sizeof msg, "vcpu%u: KVM_EXIT_INTERNAL_ERROR suberror=%u data=[",
                              index, run->internal.suberror);
        unsigned nd = run->internal.ndata;
        if (nd > sizeof run->internal.data / sizeof run->internal.data[0])
          nd = sizeof run->internal.data / sizeof run->internal.data[0];
        for (unsigned i = 0; i < nd && n > 0 && n < static_cast<int>(sizeof msg) - 40; i++)
          n += std::snprintf(msg + n, sizeof msg - n, "%s%#" PRIx64, i ? " " : "",
                             static_cast<uint64_t>(run->internal.data[i]));
        if (n > 0 && n < static_cast<int>(sizeof msg))
          std::snprintf(msg + n, sizeof msg - n, "] %s", regs_summary(fd).c_str());
        res->end = "INTERNAL_ERROR";
        sh->end_run(kExitGuestError, msg);
        done = true;
        break;
      }
      case KVM_EXIT_INTR:
        // KVM_RUN returned 0 with KVM_EXIT_INTR? Treat like -EINTR.
        run->immediate_exit = 0;
        break;
      default:
        std::snprintf(msg, sizeof msg, "vcpu%u: unexpected exit reason %u (%s) %s", index,
                      reason, exit_reason_name(reason), regs_summary(fd).c_str());
        res->end = std::string("exit ") + exit_reason_name(reason);
        sh->end_run(kExitGuestError, msg);
        done = true;
        break;
    }
    if (done) break;
  }
  res->run_ns = monotonic_ns() - t0;
  con.flush();
  res->console_bytes = con.bytes;
  tls_run = nullptr;
}

}  // namespace

Machine::~Machine() {
  stop_uart();  // deassign its irqfd while the VM exists
  for (size_t i = 0; i < runs_.size(); i++)
    if (runs_[i]) munmap(runs_[i], run_size_);
  for (int fd : vcpu_fds_) close(fd);
  if (mem_) munmap(mem_, mem_size_);
  if (vm_fd_ >= 0) close(vm_fd_);
  if (dev_fd_ >= 0) close(dev_fd_);
}

int Machine::open_device(const std::string &dev) {
  dev_fd_ = open(dev.c_str(), O_RDWR | O_CLOEXEC);
  if (dev_fd_ < 0) {
    std::fprintf(stderr, "minikvm-launch: open %s: %s\n", dev.c_str(), std::strerror(errno));
    return kExitHost;
  }
  int api = ioctl(dev_fd_, KVM_GET_API_VERSION, 0);
  if (api != KVM_API_VERSION) {
    std::fprintf(stderr, "minikvm-launch: %s: API version %d, expected %d\n", dev.c_str(), api,
                 KVM_API_VERSION);
    return kExitHost;
  }
  return kExitOk;
}

int Machine::create_vm(uint64_t mem_bytes) {
  vm_fd_ = ioctl(dev_fd_, KVM_CREATE_VM, 0);
  if (vm_fd_ < 0) return ioctl_failure("KVM_CREATE_VM", errno);
  auto cap = [this](long c) {
    int r = ioctl(vm_fd_, KVM_CHECK_EXTENSION, c);
    if (r < 0) r = ioctl(dev_fd_, KVM_CHECK_EXTENSION, c);
    return r > 0 ? r : 0;
  };
  has_immediate_exit_ = cap(KVM_CAP_IMMEDIATE_EXIT);
  has_stats_ = cap(KVM_CAP_BINARY_STATS_FD);
  has_cpuid_ = cap(KVM_CAP_EXT_CPUID);
  // On Intel without unrestricted guest, KVM runs real mode in vm86 mode
  // and needs three pages for a TSS (api.rst, KVM_SET_TSS_ADDR); harmless
  // elsewhere. Best effort: a device without it runs real mode natively.
  if (cap(KVM_CAP_SET_TSS_ADDR) && ioctl(vm_fd_, KVM_SET_TSS_ADDR, kTssAddr) < 0)
    std::fprintf(stderr, "minikvm-launch: warning: KVM_SET_TSS_ADDR: %s\n", std::strerror(errno));

  mem_size_ = mem_bytes;
  void *m = mmap(nullptr, mem_size_, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) {
    mem_ = nullptr;
    std::fprintf(stderr, "minikvm-launch: mmap of %" PRIu64 " bytes of guest RAM: %s\n", mem_size_,
                 std::strerror(errno));
    return kExitHost;
  }
  mem_ = static_cast<uint8_t *>(m);
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = mem_size_;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem_);
  if (ioctl(vm_fd_, KVM_SET_USER_MEMORY_REGION, &region) < 0)
    return ioctl_failure("KVM_SET_USER_MEMORY_REGION", errno);
  return kExitOk;
}

int Machine::set_cpuid(unsigned index) {
  // KVM's guest CPUID is empty until userspace sets it; give the guest
  // what the device supports, with this vCPU's APIC ID in leaf 1 EBX[31:24]
  // and leaves 0xB/0x1F EDX (SDM Vol. 2A, CPUID), as QEMU does.
  if (cpuid_buf_.empty()) {
    for (unsigned n = 64; n <= 4096; n *= 2) {
      std::vector<uint8_t> buf(sizeof(CpuidHeader) + n * sizeof(kvm_cpuid_entry2));
      reinterpret_cast<CpuidHeader *>(buf.data())->nent = n;
      if (ioctl(dev_fd_, kIoctlGetSupportedCpuid, buf.data()) == 0) {
        cpuid_buf_ = std::move(buf);
        break;
      }
      if (errno != E2BIG) return ioctl_failure("KVM_GET_SUPPORTED_CPUID", errno);
    }
    if (cpuid_buf_.empty()) return ioctl_failure("KVM_GET_SUPPORTED_CPUID", E2BIG);
  }
  std::vector<uint8_t> buf = cpuid_buf_;
  uint32_t nent = reinterpret_cast<CpuidHeader *>(buf.data())->nent;
  auto *entries = reinterpret_cast<kvm_cpuid_entry2 *>(buf.data() + sizeof(CpuidHeader));
  for (uint32_t i = 0; i < nent; i++) {
    kvm_cpuid_entry2 &e = entries[i];
    if (e.function == 1) e.ebx = (e.ebx & 0x00ffffff) | (index << 24);
    if (e.function == 0xb || e.function == 0x1f) e.edx = index;
  }
  if (ioctl(vcpu_fds_[index], kIoctlSetCpuid2, buf.data()) < 0)
    return ioctl_failure("KVM_SET_CPUID2", errno);
  return kExitOk;
}

int Machine::create_vcpus(unsigned n) {
  run_size_ = ioctl(dev_fd_, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size_ < 0) return ioctl_failure("KVM_GET_VCPU_MMAP_SIZE", errno);
  if (run_size_ < static_cast<long>(sizeof(kvm_run))) {
    std::fprintf(stderr, "minikvm-launch: KVM_GET_VCPU_MMAP_SIZE = %ld, smaller than struct kvm_run\n",
                 run_size_);
    return kExitHost;
  }
  for (unsigned i = 0; i < n; i++) {
    int fd = ioctl(vm_fd_, KVM_CREATE_VCPU, i);
    if (fd < 0) return ioctl_failure("KVM_CREATE_VCPU", errno);
    vcpu_fds_.push_back(fd);
    void *r = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (r == MAP_FAILED) {
      runs_.push_back(nullptr);
      return ioctl_failure("mmap of the vCPU's kvm_run", errno);
    }
    runs_.push_back(static_cast<kvm_run *>(r));
    if (has_cpuid_) {
      int st = set_cpuid(i);
      if (st != kExitOk) return st;
    }
  }
  return kExitOk;
}

int Machine::create_irqchip() {
  int r = ioctl(vm_fd_, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP);
  if (r < 0) r = ioctl(dev_fd_, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP);
  if (r <= 0) {
    std::fprintf(stderr,
                 "minikvm-launch: KVM_CAP_IRQCHIP is %d (no in-kernel PIC/IOAPIC/LAPIC): the device cannot "
                 "run guests (yet) that need one\n",
                 r < 0 ? -errno : r);
    return kExitUnsupported;
  }
  if (ioctl(vm_fd_, KVM_CREATE_IRQCHIP, 0) < 0) return ioctl_failure("KVM_CREATE_IRQCHIP", errno);
  irqchip_ = true;
  return kExitOk;
}

int Machine::attach_uart() {
  if (!irqchip_) {
    std::fprintf(stderr, "minikvm-launch: --uart needs the in-kernel irqchip\n");
    return kExitHost;
  }
  uart_.reset(new Uart16550(kUartCom1Base, kUartCom1Gsi, 0, 1));
  int st = uart_->start(dev_fd_, vm_fd_);
  if (st != kExitOk) uart_.reset();
  return st;
}

void Machine::attach_console_uart() {
  // No start(): without an irqfd the UART's interrupt output goes nowhere,
  // and in_fd -1 means no receiver input.
  uart_.reset(new Uart16550(kUartCom1Base, kUartCom1Gsi, -1, 1));
}

void Machine::stop_uart() {
  if (uart_) uart_->stop();
}

int Machine::make_runnable() {
  if (!irqchip_) return kExitOk;  // without one every vCPU is runnable already
  for (size_t i = 0; i < vcpu_fds_.size(); i++) {
    kvm_mp_state mp{};
    mp.mp_state = KVM_MP_STATE_RUNNABLE;
    if (ioctl(vcpu_fds_[i], KVM_SET_MP_STATE, &mp) < 0) return ioctl_failure("KVM_SET_MP_STATE", errno);
  }
  return kExitOk;
}

int Machine::run(const Options &opt, RunResult *result) {
  install_kick_handler();
  g_immediate_exit.store(has_immediate_exit_);
  Shared sh;
  sh.opt = &opt;
  sh.vm_fd = vm_fd_;
  sh.uart = uart_.get();
  sh.ports = port_device_;
  unsigned n = vcpu_fds_.size();
  result->vcpus.assign(n, VcpuResult{});
  for (unsigned i = 0; i < n; i++) result->vcpus[i].index = i;
  sh.running = n;

  std::vector<std::thread> threads;
  std::vector<std::atomic<bool>> finished(n);
  for (unsigned i = 0; i < n; i++) {
    finished[i].store(false);
    threads.emplace_back([&, i] {
      vcpu_loop(&sh, i, vcpu_fds_[i], runs_[i], &result->vcpus[i]);
      finished[i].store(true);
      std::lock_guard<std::mutex> g(sh.mu);
      sh.running--;
      sh.cv.notify_all();
    });
  }

  // Wait for every vCPU to finish, for one to end the run, or for the
  // timeout (steady_clock is CLOCK_MONOTONIC).
  {
    std::unique_lock<std::mutex> lk(sh.mu);
    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::nanoseconds(static_cast<int64_t>(opt.timeout_s * 1e9));
    while (sh.running > 0 && !sh.stop.load()) {
      if (opt.timeout_s > 0) {
        if (sh.cv.wait_until(lk, deadline) == std::cv_status::timeout && sh.running > 0 &&
            !sh.stop.load()) {
          lk.unlock();
          char why[96];
          std::snprintf(why, sizeof why, "timeout after %g s", opt.timeout_s);
          sh.end_run(kExitTimeout, why);
          lk.lock();
        }
      } else {
        sh.cv.wait(lk);
      }
    }
  }
  // Kick whoever is still in KVM_RUN until all have left.
  auto kick_start = std::chrono::steady_clock::now();
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(sh.mu);
      if (sh.running == 0) break;
    }
    for (unsigned i = 0; i < n; i++)
      if (!finished[i].load()) pthread_kill(threads[i].native_handle(), SIGUSR1);
    if (std::chrono::steady_clock::now() - kick_start > std::chrono::seconds(10)) {
      for (unsigned i = 0; i < n; i++)
        if (!finished[i].load())
          std::fprintf(stderr, "minikvm-launch: vcpu%u did not leave KVM_RUN within 10 s of SIGUSR1\n", i);
      std::fflush(stdout);
      std::_Exit(kExitHost);
    }
    std::unique_lock<std::mutex> lk(sh.mu);
    sh.cv.wait_for(lk, std::chrono::milliseconds(10));
  }
  for (auto &t : threads) t.join();

  for (unsigned i = 0; i < n; i++) {
    VcpuResult &v = result->vcpus[i];
    if (v.end == "stopped" && sh.status == kExitTimeout) v.end = "timeout";
    kvm_regs regs{};
    if (ioctl(vcpu_fds_[i], KVM_GET_REGS, &regs) == 0) {
      v.regs_valid = true;
      v.rip = regs.rip;
    }
    if (has_stats_) {
      std::string err;
      v.kstats_valid = read_kernel_stats(vcpu_fds_[i], &v.kstats, &err);
      if (!v.kstats_valid && !opt.garbage)
        std::fprintf(stderr, "minikvm-launch: vcpu%u: kernel stats: %s\n", i, err.c_str());
    }
  }
  if (sh.status_set) {
    result->status = sh.status;
    result->reason = sh.reason;
  } else {
    result->status = kExitOk;
    result->reason = n > 1 ? "all vCPUs halted" : "the vCPU halted";
  }
  return result->status;
}

}  // namespace mkl
