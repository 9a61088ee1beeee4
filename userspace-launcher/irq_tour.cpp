// SPDX-License-Identifier: GPL-2.0
// minikvm-launch --irq-tour: one guest that takes every kind of interrupt
// the in-kernel irqchip delivers, each an exactly known number of times
// (README.md, "--irq-tour"), for the tracing tests and the demo.
//
// The guest is built in (bench/tour-guest.S, embedded by the Makefile as
// mkl_tour_guest[]); the launcher writes the counts into its parameter
// block, gives it the COM1 UART as a polled console and the doorbell
// device (doorbell.h) on a resampling irqfd, and checks afterwards that
// its own counts (port-0x80 exits, doorbells, irqfd writes, resamplefd
// events, acknowledgements) agree with what the guest was told to do.
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "doorbell.h"
#include "launch.h"

extern "C" const uint8_t mkl_tour_guest[];
extern "C" const uint8_t mkl_tour_guest_end[];

namespace mkl {

namespace {

// The guest's parameter and result blocks (offsets in tour-guest.S).
constexpr uint64_t kOffMagic = 0x08;
constexpr char kMagic[] = "MKTOUR01";
constexpr uint64_t kOffIo = 0x10, kOffIpi = 0x18, kOffTimer = 0x20, kOffDev = 0x28, kOffTmict = 0x30;
constexpr uint64_t kOffResult = 0x70;  // r_result: 1 ok, 2 FAIL, 0 did not get there
constexpr unsigned kTourVcpus = 2;
// LAPIC timer initial count with divide-by-1: 100 us with KVM's 1 ns APIC
// bus cycle (arch/x86/kvm/lapic.c, APIC_BUS_CYCLE_NS), short enough that
// 50 of them stay well below a second under Bochs.
constexpr uint64_t kTourTmict = 100000;
constexpr uint64_t kMaxCount = 1000000000;  // the guest's port-0x87 count is 32 bits wide

uint64_t get64(const uint8_t *mem, uint64_t off) {
  uint64_t v;
  std::memcpy(&v, mem + kDefaultLoad + off, sizeof v);
  return v;
}
void put64(uint8_t *mem, uint64_t off, uint64_t v) { std::memcpy(mem + kDefaultLoad + off, &v, sizeof v); }

}  // namespace

int irq_tour(Options o, const TourCounts &n) {
  for (uint64_t x : {n.io, n.ipi, n.timer, n.dev})
    if (x > kMaxCount) {
      std::fprintf(stderr, "minikvm-launch: --irq-tour: each count wants 0..%" PRIu64 "\n", kMaxCount);
      return kExitUsage;
    }
  if (o.mode != Mode::Long || o.entry_given) {
    std::fprintf(stderr, "minikvm-launch: --irq-tour runs its own long-mode guest (no --mode/--entry)\n");
    return kExitUsage;
  }
  size_t size = static_cast<size_t>(mkl_tour_guest_end - mkl_tour_guest);
  if (size < 0x100 || std::memcmp(mkl_tour_guest + kOffMagic, kMagic, 8) != 0) {
    std::fprintf(stderr, "minikvm-launch: the built-in tour guest is damaged (%zu bytes)\n", size);
    return kExitHost;
  }
  o.vcpus = kTourVcpus;
  if ((o.mem_mib << 20) < kStackBase + o.vcpus * kStackSize || kDefaultLoad + size > kStackBase) {
    std::fprintf(stderr, "minikvm-launch: --mem too small for --irq-tour\n");
    return kExitUsage;
  }

  Machine m;
  DoorbellDevice dev(kDoorbellGsi);  // destroyed first: its irqfd is deassigned while the VM exists
  int st = m.open_device(o.dev);
  if (st == kExitOk) st = m.create_vm(o.mem_mib << 20);
  if (st == kExitOk) st = m.create_irqchip();  // before the vCPUs and the irqfd
  if (st == kExitOk) st = dev.start(m.dev_fd(), m.vm_fd());
  if (st != kExitOk) return st;
  uint8_t *mem = m.mem();
  std::memcpy(mem + kDefaultLoad, mkl_tour_guest, size);
  put64(mem, kOffIo, n.io);
  put64(mem, kOffIpi, n.ipi);
  put64(mem, kOffTimer, n.timer);
  put64(mem, kOffDev, n.dev);
  put64(mem, kOffTmict, kTourTmict);
  write_gdt(mem);
  write_page_tables(mem);
  st = m.create_vcpus(o.vcpus);
  for (unsigned i = 0; st == kExitOk && i < o.vcpus; i++) st = m.setup_cpu(i, o.mode, kDefaultLoad, nullptr);
  if (st == kExitOk) st = m.make_runnable();
  if (st != kExitOk) return st;
  m.attach_console_uart();
  m.set_port_device(&dev);

  std::fprintf(stderr,
               "minikvm-launch: irq-tour on %s: 2 vCPUs, io=%" PRIu64 " ipi=%" PRIu64 " timer=%" PRIu64
               " device=%" PRIu64 " (doorbell port %#x, status port %#x, GSI %u via resampling irqfd)\n",
               o.dev.c_str(), n.io, n.ipi, n.timer, n.dev, kPortDoorbell, kPortDoorbellStatus, kDoorbellGsi);
  uint64_t t0 = monotonic_ns();
  RunResult r;
  m.run(o, &r);
  uint64_t wall_ns = monotonic_ns() - t0;
  dev.stop();  // counts the last resamplefd event, deassigns the irqfd
  m.stop_uart();
  std::fflush(stdout);
  std::fprintf(stderr, "minikvm-launch: %s; exit status %d\n", r.reason.c_str(), r.status);
  if (!o.quiet) print_statistics(r, true);

  // The launcher's side of the counts. Only a run the guest finished is
  // checked (a timeout or crash keeps its own status).
  int status = r.status;
  DoorbellDevice::Stats s = dev.stats();
  uint64_t port80 = 0;
  for (const VcpuResult &v : r.vcpus) {
    auto it = v.io_ports.find(kPortTourIo | (1u << 16));
    if (it != v.io_ports.end()) port80 += it->second;
  }
  uint64_t result = get64(mem, kOffResult);
  if (status == kExitOk || status == 1) {
    if (result == 0) {
      std::fprintf(stderr, "minikvm-launch: irq-tour: the guest exited without its check\n");
      status = 1;
    }
    struct {
      const char *what;
      uint64_t got, want;
    } checks[] = {
        {"KVM_EXIT_IO on port 0x80", port80, n.io},
        {"OUTs to port 0x80 counted by the device", s.io_outs, n.io},
        {"doorbells", s.doorbells, n.dev},
        {"irqfd writes", s.irqfd_signals, n.dev},
        {"resamplefd events", s.resamples, n.dev},
        {"status reads (acknowledgements)", s.acks, n.dev},
    };
    for (const auto &c : checks)
      if (c.got != c.want) {
        std::fprintf(stderr, "minikvm-launch: irq-tour: %s: %" PRIu64 ", expected %" PRIu64 "\n", c.what, c.got,
                     c.want);
        status = 1;
      }
  }
  std::fprintf(stderr, "minikvm-launch: irq-tour: %.3f s of CLOCK_MONOTONIC for the run; %" PRIu64
               " exits on port 0x80\n", wall_ns / 1e9, port80);
  std::fprintf(stderr,
               "TOUR dev=%s doorbells=%" PRIu64 " irqfd_signals=%" PRIu64 " resamples=%" PRIu64 " acks=%" PRIu64
               " status=%d\n",
               o.dev.c_str(), s.doorbells, s.irqfd_signals, s.resamples, s.acks, status);
  return status;
}

}  // namespace mkl
