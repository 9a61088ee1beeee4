// SPDX-License-Identifier: GPL-2.0
// minikvm-launch --bench-irq KIND N: the cost of the in-kernel irqchip's
// paths (README.md, "--bench-irq"), measured the same way on minikvm and
// on the kernel's KVM.
//
// The guest is built in (bench/irq-guest.S, embedded by the Makefile as
// mkl_irq_guest[]): one image for every kind, told what to do by a
// parameter block at a fixed offset. It brackets the measured region with
// OUTs to the window ports; at each the vCPU thread reads CLOCK_MONOTONIC
// and the vCPU's KVM_GET_STATS_FD "exits" (vm.cpp). Guest-only numbers
// (TSC ticks of the EOI write, of the loop the timer interrupts) come
// back in the image's result block.
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <atomic>
#include <thread>

#include "launch.h"

extern "C" const uint8_t mkl_irq_guest[];
extern "C" const uint8_t mkl_irq_guest_end[];

namespace mkl {

namespace {

// The guest's parameter and result blocks (offsets in irq-guest.S).
constexpr uint64_t kOffMagic = 0x08;
constexpr char kMagic[] = "MKIRQB01";
constexpr uint64_t kOffKind = 0x10, kOffN = 0x18, kOffArg = 0x20, kOffArg2 = 0x28;
constexpr uint64_t kOffDone = 0x40, kOffTicks = 0x48, kOffCount = 0x50;
constexpr uint64_t kOffA = 0x58, kOffB = 0x60, kOffC = 0x68, kOffD = 0x70, kOffE = 0x78;
// The guest's IDT (irq-guest.S): below the load address, above the page tables.
constexpr uint64_t kIdtAddr = 0x8000;
static_assert(kIdtAddr >= kPageTablesEnd && kIdtAddr + 0x1000 <= kDefaultLoad, "IDT placement");

// TSC ticks of each calibration run of the timer benchmark's loop (1 ms
// of Bochs guest time at the testbed's 100 MHz TSC).
constexpr uint64_t kCalibrationTicks = 100000;

struct Kind {
  const char *name;
  uint64_t code;  // K_* in irq-guest.S
  unsigned vcpus;
  const char *op;  // what one operation is
};

constexpr Kind kKinds[] = {
    {"ipi", 1, 2, "IPI round trip: vCPU 0 -> vCPU 1 -> vCPU 0, each handler EOIs, receivers in HLT"},
    {"eoi", 2, 1, "self-IPI (ICR write) + delivery + xAPIC EOI write"},
    {"timer", 3, 1, "periodic LAPIC timer interrupt (handler EOIs): guest time stolen from a loop"},
    {"irqline", 4, 1, "KVM_IRQ_LINE edge on an IOAPIC pin + delivery + EOI, requested by OUT"},
    {"pic", 5, 1, "in $0x21 (master PIC IMR), in-kernel PIC"},
    {"ioapic", 6, 1, "IOAPIC register read: IOREGSEL write + IOWIN read (2 MMIO accesses)"},
    {"irqfd", 7, 1,
     "host thread signals an irqfd (MSI route, edge, vCPU 0); the halted guest's handler EOIs and "
     "acknowledges by OUT to an ioeventfd the thread waits on"},
    {"tpr", 8, 1, "xAPIC TPR write (MMIO, offset 0x80)"},
    {"cr8", 9, 1, "MOV to CR8"},
};

// --bench-irq irqfd: the GSI of the MSI route, its vector and APIC ID
// (irq-guest.S V_IRQFD), and the acknowledging port (P_ACK).
constexpr uint32_t kIrqfdGsi = 24;  // above the IOAPIC's pins
constexpr uint32_t kIrqfdVector = 0x45;
constexpr uint16_t kPortAck = 0x84;

// KVM_SET_GSI_ROUTING: struct kvm_irq_routing ends in a flexible array
// (__DECLARE_FLEX_ARRAY: 1 byte in C++, launch.h), so the C header layout
// and ioctl number are spelled out.
struct RoutingHeader {
  uint32_t nr;
  uint32_t flags;
};
static_assert(sizeof(RoutingHeader) == 8, "C layout");
constexpr unsigned long kIoctlSetGsiRouting = _IOW(KVMIO, 0x6a, RoutingHeader);
static_assert(kIoctlSetGsiRouting == 0x4008ae6a, "KVM_SET_GSI_ROUTING as the kernel numbers it");

// The host side of --bench-irq irqfd: an MSI route on kIrqfdGsi, an irqfd
// on it, an ioeventfd on kPortAck, and a thread that waits for the guest's
// "ready" on the ioeventfd, then N times signals the irqfd and waits for
// the acknowledgement. Nothing of it is a userspace exit.
struct IrqfdDriver {
  int irqfd = -1, ackfd = -1, stopfd = -1;
  std::thread thread;
  std::atomic<uint64_t> sent{0};

  int setup(int dev_fd, int vm_fd) {
    auto cap = [&](long c) {
      int r = ioctl(vm_fd, KVM_CHECK_EXTENSION, c);
      if (r < 0) r = ioctl(dev_fd, KVM_CHECK_EXTENSION, c);
      return r > 0;
    };
    const char *missing = !cap(KVM_CAP_IRQ_ROUTING) ? "KVM_CAP_IRQ_ROUTING"
                          : !cap(KVM_CAP_IRQFD)     ? "KVM_CAP_IRQFD"
                          : !cap(KVM_CAP_IOEVENTFD) ? "KVM_CAP_IOEVENTFD"
                                                    : nullptr;
    if (missing) {
      std::fprintf(stderr, "minikvm-launch: %s is 0: the device cannot run guests (yet) that need it\n", missing);
      return kExitUnsupported;
    }
    std::vector<uint8_t> buf(sizeof(RoutingHeader) + sizeof(kvm_irq_routing_entry));
    auto *h = reinterpret_cast<RoutingHeader *>(buf.data());
    h->nr = 1;
    auto *e = reinterpret_cast<kvm_irq_routing_entry *>(buf.data() + sizeof(RoutingHeader));
    e->gsi = kIrqfdGsi;
    e->type = KVM_IRQ_ROUTING_MSI;
    e->u.msi.address_lo = 0xfee00000;  // destination APIC ID 0 (bits 19:12), physical
    e->u.msi.data = kIrqfdVector;      // fixed, edge
    if (ioctl(vm_fd, kIoctlSetGsiRouting, buf.data()) < 0) return ioctl_failure("KVM_SET_GSI_ROUTING", errno);
    irqfd = eventfd(0, EFD_CLOEXEC);
    ackfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    stopfd = eventfd(0, EFD_CLOEXEC);
    if (irqfd < 0 || ackfd < 0 || stopfd < 0) {
      std::fprintf(stderr, "minikvm-launch: eventfd: %s\n", std::strerror(errno));
      return kExitHost;
    }
    kvm_irqfd f{};
    f.fd = static_cast<uint32_t>(irqfd);
    f.gsi = kIrqfdGsi;
    if (ioctl(vm_fd, KVM_IRQFD, &f) < 0) return ioctl_failure("KVM_IRQFD", errno);
    kvm_ioeventfd io{};
    io.addr = kPortAck;
    io.len = 1;
    io.fd = ackfd;
    io.flags = KVM_IOEVENTFD_FLAG_PIO;
    if (ioctl(vm_fd, KVM_IOEVENTFD, &io) < 0) return ioctl_failure("KVM_IOEVENTFD (PIO 0x84)", errno);
    return kExitOk;
  }

  // Waits for the ack eventfd (or the stop request). False when stopped.
  bool wait_ack() {
    for (;;) {
      pollfd p[2] = {{ackfd, POLLIN, 0}, {stopfd, POLLIN, 0}};
      if (poll(p, 2, -1) < 0 && errno != EINTR) return false;
      if (p[1].revents) return false;
      uint64_t v;
      if (read(ackfd, &v, sizeof v) == sizeof v) return true;
    }
  }

  void start(uint64_t n) {
    thread = std::thread([this, n] {
      if (!wait_ack()) return;  // the guest's "ready"
      for (uint64_t i = 0; i < n; i++) {
        uint64_t one = 1;
        if (write(irqfd, &one, sizeof one) != sizeof one) return;
        sent++;
        if (!wait_ack()) return;
      }
    });
  }

  ~IrqfdDriver() {
    if (thread.joinable()) {
      uint64_t one = 1;
      if (write(stopfd, &one, sizeof one) != sizeof one) std::fprintf(stderr, "minikvm-launch: irqfd driver: stop\n");
      thread.join();
    }
    for (int fd : {irqfd, ackfd, stopfd})
      if (fd >= 0) close(fd);
  }
};

uint64_t get64(const uint8_t *mem, uint64_t off) {
  uint64_t v;
  std::memcpy(&v, mem + kDefaultLoad + off, sizeof v);
  return v;
}
void put64(uint8_t *mem, uint64_t off, uint64_t v) { std::memcpy(mem + kDefaultLoad + off, &v, sizeof v); }

// A window's counts over all vCPUs that closed it; the end marker's own
// exit and KVM_RUN return are taken off.
struct WindowSum {
  bool ok = false;
  uint64_t ns = 0;  // vCPU 0's
  bool kexits_valid = true;
  double kexits = 0;
  double returns = 0;
};

WindowSum sum_window(const RunResult &r, unsigned w) {
  WindowSum s;
  if (r.vcpus.empty() || !r.vcpus[0].windows[w].ended) return s;
  s.ok = true;
  s.ns = r.vcpus[0].windows[w].t1 - r.vcpus[0].windows[w].t0;
  for (const VcpuResult &v : r.vcpus) {
    const Window &x = v.windows[w];
    if (!x.ended) continue;
    s.returns += static_cast<double>(x.returns1 - x.returns0) - 1;
    if (x.kexits_valid)
      s.kexits += static_cast<double>(x.kexits1 - x.kexits0) - 1;
    else
      s.kexits_valid = false;
  }
  return s;
}

}  // namespace

const char *bench_irq_kinds() { return "ipi eoi timer irqline pic ioapic irqfd tpr cr8"; }

int bench_irq(Options o, const std::string &kind_name, uint64_t n, uint64_t timer_count, int gsi) {
  const Kind *k = nullptr;
  for (const Kind &x : kKinds)
    if (kind_name == x.name) k = &x;
  if (!k) {
    std::fprintf(stderr, "minikvm-launch: --bench-irq: unknown kind %s (one of: %s)\n", kind_name.c_str(),
                 bench_irq_kinds());
    return kExitUsage;
  }
  if (n == 0 || n > 1000000000ULL) {
    std::fprintf(stderr, "minikvm-launch: --bench-irq wants N in 1..1000000000\n");
    return kExitUsage;
  }
  if (o.mode != Mode::Long || o.entry_given) {
    std::fprintf(stderr, "minikvm-launch: --bench-irq runs its own long-mode guest (no --mode/--entry)\n");
    return kExitUsage;
  }
  size_t size = static_cast<size_t>(mkl_irq_guest_end - mkl_irq_guest);
  if (size < 0x100 || std::memcmp(mkl_irq_guest + kOffMagic, kMagic, 8) != 0) {
    std::fprintf(stderr, "minikvm-launch: the built-in irq guest is damaged (%zu bytes)\n", size);
    return kExitHost;
  }
  o.vcpus = k->vcpus;
  o.windows = true;
  o.irq_line_gsi = std::string(k->name) == "irqline" ? gsi : -1;
  if ((o.mem_mib << 20) < kStackBase + o.vcpus * kStackSize || kDefaultLoad + size > kStackBase) {
    std::fprintf(stderr, "minikvm-launch: --mem too small for --bench-irq\n");
    return kExitUsage;
  }

  Machine m;
  int st = m.open_device(o.dev);
  if (st == kExitOk) st = m.create_vm(o.mem_mib << 20);
  if (st == kExitOk) st = m.create_irqchip();
  IrqfdDriver irqfd;  // destroyed after the run, before the Machine
  bool is_irqfd = std::string(k->name) == "irqfd";
  if (st == kExitOk && is_irqfd) st = irqfd.setup(m.dev_fd(), m.vm_fd());
  if (st != kExitOk) return st;
  uint8_t *mem = m.mem();
  std::memcpy(mem + kDefaultLoad, mkl_irq_guest, size);
  put64(mem, kOffKind, k->code);
  put64(mem, kOffN, n);
  put64(mem, kOffArg, std::string(k->name) == "timer" ? timer_count : static_cast<uint64_t>(gsi));
  put64(mem, kOffArg2, kCalibrationTicks);
  write_gdt(mem);
  write_page_tables(mem);
  st = m.create_vcpus(o.vcpus);
  for (unsigned i = 0; st == kExitOk && i < o.vcpus; i++) st = m.setup_cpu(i, o.mode, kDefaultLoad, nullptr);
  if (st == kExitOk) st = m.make_runnable();
  if (st != kExitOk) return st;

  std::printf("bench-irq %s: device %s, %u vCPU(s), N=%" PRIu64 ": %s\n", k->name, o.dev.c_str(), o.vcpus, n,
              k->op);
  std::fflush(stdout);
  if (is_irqfd) irqfd.start(n);
  RunResult r;
  m.run(o, &r);
  std::fflush(stdout);
  std::fprintf(stderr, "minikvm-launch: %s; exit status %d\n", r.reason.c_str(), r.status);
  if (!o.quiet) print_statistics(r, true);
  if (r.status != kExitOk) return r.status;
  if (get64(mem, kOffDone) != 1) {
    std::fprintf(stderr, "minikvm-launch: the guest ended without completing the benchmark\n");
    return kExitGuestError;
  }

  WindowSum w1 = sum_window(r, 1);
  if (!w1.ok) {
    std::fprintf(stderr, "minikvm-launch: vcpu0 did not close its measured window\n");
    return kExitGuestError;
  }
  uint64_t ticks = get64(mem, kOffTicks), count = get64(mem, kOffCount);
  double dn = static_cast<double>(n);
  double ns_per_tick = ticks ? static_cast<double>(w1.ns) / ticks : 0;
  double ns_per_op = w1.ns / dn;
  double kexits = w1.kexits / dn, uexits = w1.returns / dn;
  char extra[256] = "";

  if (std::string(k->name) == "eoi") {
    double eoi_ns = get64(mem, kOffA) / dn * ns_per_tick;
    std::snprintf(extra, sizeof extra, " eoi_write_ns=%.1f", eoi_ns);
    std::printf("bench-irq eoi: the EOI write alone (guest RDTSC around it): %.1f ns\n", eoi_ns);
  } else if (std::string(k->name) == "timer") {
    WindowSum w2 = sum_window(r, 2);
    double cal_ticks = static_cast<double>(get64(mem, kOffB)), cal_iters = static_cast<double>(get64(mem, kOffC));
    double iters1 = static_cast<double>(get64(mem, kOffA));
    double ticks2 = static_cast<double>(get64(mem, kOffD)), iters2 = static_cast<double>(get64(mem, kOffE));
    if (!w2.ok || cal_iters == 0 || ticks == 0) {
      std::fprintf(stderr, "minikvm-launch: timer benchmark: missing calibration or control window\n");
      return kExitGuestError;
    }
    double per_iter = cal_ticks / cal_iters;
    double stolen1 = ticks - iters1 * per_iter, stolen2 = ticks2 - iters2 * per_iter;
    double period_ns = w1.ns / dn;
    std::printf("bench-irq timer: %" PRIu64 " interrupts in %.0f ns: period %.0f ns; loop iteration %.3f TSC ticks "
                "(%.1f ns); stolen from the loop: %.0f ticks with the timer, %.0f in the control window "
                "(timer off, same length)\n",
                count, static_cast<double>(w1.ns), period_ns, per_iter, per_iter * ns_per_tick, stolen1, stolen2);
    ns_per_op = (stolen1 - stolen2) / dn * ns_per_tick;
    kexits = w1.kexits_valid && w2.kexits_valid ? (w1.kexits - w2.kexits) / dn : 0;
    w1.kexits_valid = w1.kexits_valid && w2.kexits_valid;
    uexits = (w1.returns - w2.returns) / dn;
    std::snprintf(extra, sizeof extra, " period_ns=%.0f control_exits=%.0f", period_ns, w2.kexits);
  }

  if (is_irqfd) {
    std::snprintf(extra, sizeof extra, " irqfd_signals=%" PRIu64, irqfd.sent.load());
    if (irqfd.sent.load() != n || count != n) {
      std::fprintf(stderr, "minikvm-launch: irqfd: %" PRIu64 " signals, %" PRIu64 " interrupts, expected %" PRIu64 "\n",
                   irqfd.sent.load(), count, n);
      return kExitGuestError;
    }
  }
  char kx[32] = "na";
  if (w1.kexits_valid) std::snprintf(kx, sizeof kx, "%.3f", kexits);
  std::printf("bench-irq %s: %.1f ns per operation (%" PRIu64 " ns for %" PRIu64 "), kernel exits per operation %s, "
              "userspace exits per operation %.3f; TSC: %.3f ns per tick\n",
              k->name, ns_per_op, w1.ns, n, kx, uexits, ns_per_tick);
  if (!w1.kexits_valid)
    std::printf("bench-irq %s: kernel exits: not available (no KVM_GET_STATS_FD counter \"exits\")\n", k->name);
  std::printf("BENCHIRQ kind=%s dev=%s vcpus=%u n=%" PRIu64 " ns_total=%" PRIu64 " ns_per_op=%.1f"
              " kernel_exits_per_op=%s user_exits_per_op=%.3f interrupts=%" PRIu64 "%s status=%d\n",
              k->name, o.dev.c_str(), o.vcpus, n, w1.ns, ns_per_op, kx, uexits, count, extra, r.status);
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace mkl
