// SPDX-License-Identifier: GPL-2.0
// minikvm-launch: a small VMM for minikvm that also runs on /dev/kvm.
//
// It probes a KVM-ABI device (--probe), runs flat binaries in real,
// protected or long mode on N vCPUs with a debug console and an exit port,
// measures the cost of an exit round trip (--bench-io) and of the
// in-kernel irqchip's paths (--bench-irq, bench_irq.cpp), and runs random
// bytes as code to shake the device (--garbage). Everything goes through
// the kernel's linux/kvm.h, so the same binary compares minikvm with KVM.
// See README.md in this directory.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "launch.h"
#include "uart16550.h"

namespace mkl {

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + ts.tv_nsec;
}

// minikvm grows its ABI one ioctl at a time and answers the ones it does
// not have yet with -ENOTTY (Documentation/abi.md); -EOPNOTSUPP is its
// answer to KVM_CREATE_VM where VMX is unusable. Those mean "this device
// cannot run guests (yet)", which callers report as a skip, not a failure;
// so does -ENODEV, mmap's answer on a file without an mmap method.
int ioctl_failure(const char *what, int err) {
  bool unsupported = err == ENOTTY || err == EOPNOTSUPP || err == ENOSYS || err == ENODEV;
  std::fprintf(stderr, "minikvm-launch: %s failed: %s (errno %d)%s\n", what, std::strerror(err),
               err, unsupported ? ": the device cannot run guests (yet)" : "");
  return unsupported ? kExitUnsupported : kExitHost;
}

}  // namespace mkl

namespace {

using namespace mkl;

struct CapName {
  long cap;
  const char *name;
};

// The capabilities a user of the interrupt path cares about, in the order
// the roadmap brings them to minikvm.
constexpr CapName kCaps[] = {
    {KVM_CAP_CHECK_EXTENSION_VM, "CHECK_EXTENSION_VM"},
    {KVM_CAP_USER_MEMORY, "USER_MEMORY"},
    {KVM_CAP_NR_VCPUS, "NR_VCPUS"},
    {KVM_CAP_MAX_VCPUS, "MAX_VCPUS"},
    {KVM_CAP_NR_MEMSLOTS, "NR_MEMSLOTS"},
    {KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT"},
    {KVM_CAP_IRQCHIP, "IRQCHIP"},
    {KVM_CAP_IRQ_ROUTING, "IRQ_ROUTING"},
    {KVM_CAP_SIGNAL_MSI, "SIGNAL_MSI"},
    {KVM_CAP_PIT2, "PIT2"},
    {KVM_CAP_IRQFD, "IRQFD"},
    {KVM_CAP_IRQFD_RESAMPLE, "IRQFD_RESAMPLE"},
    {KVM_CAP_IOEVENTFD, "IOEVENTFD"},
    {KVM_CAP_SPLIT_IRQCHIP, "SPLIT_IRQCHIP"},
    {KVM_CAP_X2APIC_API, "X2APIC_API"},
    {KVM_CAP_BINARY_STATS_FD, "BINARY_STATS_FD"},
};

void usage(const char *argv0) {
  std::fprintf(
      stderr,
      "usage: %s [--dev PATH] --probe\n"
      "       %s [--dev PATH] [options] --load FILE[@ADDR] [--load ...]\n"
      "       %s [--dev PATH] [options] --bench-io N\n"
      "       %s [--dev PATH] [options] --bench-irq KIND N\n"
      "       %s [--dev PATH] [options] --garbage SEED [--garbage-count N]\n"
      "       %s [--dev PATH] --irq-tour [--tour-io N] [--tour-ipi N] [--tour-timer N] [--tour-dev N]\n"
      "  --dev PATH          KVM-ABI device (default /dev/minikvm, or /dev/kvm if that is absent)\n"
      "  --probe             report API version, capabilities and VM creation\n"
      "  --load FILE[@ADDR]  load a flat binary at guest-physical ADDR (default 0x10000)\n"
      "  --entry ADDR        entry point (default: the first image's address)\n"
      "  --mode M            real | protected | long (default long); --garbage also takes all\n"
      "  --mem MIB           guest RAM in MiB (default 16; 2 with --garbage)\n"
      "  --vcpus N           vCPUs, one thread each, all start at the entry, index in RDI (1..32)\n"
      "  --timeout SECONDS   stop the run after this long (fractions allowed)\n"
      "  --quiet             no exit statistics at the end\n"
      "  --uart              (--load) a 16550A UART at COM1 (0x3F8, IRQ 4 via a resampling irqfd,\n"
      "                      in-kernel irqchip) on stdin/stdout\n"
      "  --bench-io N        built-in guest: N OUTs to port 0x80, then HLT; prints ns per exit\n"
      "  --bench-irq KIND N  built-in guest with KVM_CREATE_IRQCHIP: N operations of KIND (ipi eoi\n"
      "                      timer irqline pic ioapic); prints ns and kernel exits per operation\n"
      "  --timer-count N     --bench-irq timer: LAPIC initial count (default 500000)\n"
      "  --irq-gsi N         --bench-irq irqline: the GSI/IOAPIC pin (16..23, default 16)\n"
      "  --garbage SEED      run pseudo-random bytes from SEED as code (default timeout 0.25 s)\n"
      "  --garbage-count N   seeds SEED..SEED+N-1 (default 1), each in a fresh VM\n"
      "  --irq-tour          built-in 2-vCPU guest taking exactly known numbers of port-0x80 exits,\n"
      "                      IPIs, LAPIC timer and irqfd device interrupts (default timeout 60 s)\n"
      "  --tour-io N, --tour-ipi N, --tour-timer N, --tour-dev N\n"
      "                      --irq-tour's counts (defaults 1000, 100, 50, 20)\n"
      "ports: 0xE9 debug console (bytes -> stdout), 0xF4 exit (status = value & 0xff),\n"
      "       0x80 ignored; exit status: 64 usage, 70 launcher error, 71 guest crashed,\n"
      "       72 timeout, 77 the device cannot run guests (see README.md)\n",
      argv0, argv0, argv0, argv0, argv0, argv0);
}

int probe(const std::string &dev) {
  int fd = open(dev.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "open %s: %s\n", dev.c_str(), std::strerror(errno));
    return 1;
  }
  int api = ioctl(fd, KVM_GET_API_VERSION, 0);
  std::printf("device      %s\n", dev.c_str());
  std::printf("api version %d%s\n", api, api == KVM_API_VERSION ? "" : " (expected 12!)");
  std::printf("capabilities (KVM_CHECK_EXTENSION on the device):\n");
  for (const CapName &c : kCaps) {
    int r = ioctl(fd, KVM_CHECK_EXTENSION, c.cap);
    std::printf("  %-20s %d\n", c.name, r < 0 ? -errno : r);
  }
  int rc = 0;
  int vm = ioctl(fd, KVM_CREATE_VM, 0);
  if (vm < 0) {
    int e = errno;
    std::printf("KVM_CREATE_VM  failed: %s (errno %d)%s\n", std::strerror(e), e,
                e == EOPNOTSUPP ? "; dmesg says why VMX is unusable" : "");
    rc = 2;
  } else {
    std::printf("KVM_CREATE_VM  ok: VM fd %d\n", vm);
    int r = ioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_CHECK_EXTENSION_VM);
    std::printf("  VM fd KVM_CHECK_EXTENSION(CHECK_EXTENSION_VM) = %d\n", r < 0 ? -errno : r);
    close(vm);
  }
  close(fd);
  return api == KVM_API_VERSION ? rc : 1;
}

bool parse_u64(const std::string &s, uint64_t *v) {
  if (s.empty()) return false;
  char *end = nullptr;
  errno = 0;
  unsigned long long x = std::strtoull(s.c_str(), &end, 0);
  if (errno || *end || s[0] == '-') return false;
  *v = x;
  return true;
}

bool parse_seconds(const std::string &s, double *v) {
  if (s.empty()) return false;
  char *end = nullptr;
  errno = 0;
  double x = std::strtod(s.c_str(), &end);
  if (errno || *end || !(x >= 0) || x > 1e6) return false;
  *v = x;
  return true;
}

bool read_file(const std::string &path, std::vector<uint8_t> *out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad();
}

// Guest RAM first; the caller puts the guest's bytes in, then
// start_cpus() writes the launcher's structures and the vCPUs' state.
int prepare(Machine &m, const Options &o, uint64_t mem_bytes) {
  int st = m.open_device(o.dev);
  if (st == kExitOk) st = m.create_vm(mem_bytes);
  return st;
}

int start_cpus(Machine &m, const Options &o, uint64_t entry,
               const std::vector<std::vector<uint64_t>> *gprs) {
  if (o.mode != Mode::Real) write_gdt(m.mem());
  if (o.mode == Mode::Long) write_page_tables(m.mem());
  int st = m.create_vcpus(o.vcpus);
  for (unsigned i = 0; st == kExitOk && i < o.vcpus; i++)
    st = m.setup_cpu(i, o.mode, entry, gprs ? (*gprs)[i].data() : nullptr);
  return st;
}

bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1) { return a0 < b1 && b0 < a1; }

void finish_report(const RunResult &r, const Options &o, bool stats_expected) {
  std::fflush(stdout);
  std::fprintf(stderr, "minikvm-launch: %s; exit status %d\n", r.reason.c_str(), r.status);
  if (!o.quiet) print_statistics(r, stats_expected);
}

bool device_has_stats(const std::string &dev) {
  int fd = open(dev.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  bool has = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD) > 0;
  close(fd);
  return has;
}

// ---- --load: run flat binaries ----
int run_images(const Options &o) {
  uint64_t mem_bytes = o.mem_mib << 20;
  auto reserved = reserved_ranges(o.mode, o.vcpus, true);
  for (size_t i = 0; i < o.images.size(); i++) {
    const Image &im = o.images[i];
    uint64_t end = im.addr + im.bytes.size();
    if (end > mem_bytes || end < im.addr) {
      std::fprintf(stderr, "minikvm-launch: %s at %#" PRIx64 " (%zu bytes) does not fit in %" PRIu64 " MiB of RAM\n",
                   im.path.c_str(), im.addr, im.bytes.size(), o.mem_mib);
      return kExitUsage;
    }
    for (const auto &r : reserved)
      if (overlaps(im.addr, end, r.first, r.second)) {
        std::fprintf(stderr,
                     "minikvm-launch: %s at [%#" PRIx64 ", %#" PRIx64 ") overlaps the launcher's [%#" PRIx64
                     ", %#" PRIx64 ") (GDT, page tables or stacks; README.md)\n",
                     im.path.c_str(), im.addr, end, r.first, r.second);
        return kExitUsage;
      }
    for (size_t j = 0; j < i; j++) {
      const Image &o2 = o.images[j];
      if (overlaps(im.addr, end, o2.addr, o2.addr + o2.bytes.size())) {
        std::fprintf(stderr, "minikvm-launch: %s overlaps %s\n", im.path.c_str(), o2.path.c_str());
        return kExitUsage;
      }
    }
  }
  uint64_t entry = o.entry_given ? o.entry : o.images[0].addr;
  if (o.mode == Mode::Real && entry >= 0x100000) {
    std::fprintf(stderr, "minikvm-launch: real mode needs an entry below 1 MiB (got %#" PRIx64 ")\n", entry);
    return kExitUsage;
  }

  Machine m;
  int st = prepare(m, o, mem_bytes);
  // --uart: the in-kernel irqchip before the vCPUs (KVM_CREATE_IRQCHIP's rule).
  if (st == kExitOk && o.uart) st = m.create_irqchip();
  if (st != kExitOk) return st;
  for (const Image &im : o.images) std::memcpy(m.mem() + im.addr, im.bytes.data(), im.bytes.size());
  st = start_cpus(m, o, entry, nullptr);
  if (st == kExitOk && o.uart) st = m.make_runnable();
  if (st == kExitOk && o.uart) st = m.attach_uart();
  if (st != kExitOk) return st;
  RunResult r;
  m.run(o, &r);
  m.stop_uart();
  finish_report(r, o, device_has_stats(o.dev));
  if (o.uart && !o.quiet) {
    Uart16550::Stats u = m.uart()->stats();
    std::fprintf(stderr,
                 "uart (COM1 %#x, GSI %u via resampling irqfd): %" PRIu64 " bytes sent, %" PRIu64
                 " received; irqfd signalled %" PRIu64 " times, resamplefd (EOI) %" PRIu64 " times\n",
                 kUartCom1Base, kUartCom1Gsi, u.tx_bytes, u.rx_bytes, u.irqfd_signals, u.resamples);
  }
  return r.status;
}

// ---- --bench-io N ----
// The guest: ECX = N; loop: OUT 0x80, AL; DEC ECX; JNZ loop; HLT. Each OUT
// to a port with no in-kernel device is one VM exit that KVM completes in
// userspace (KVM_EXIT_IO), so N OUTs are N full round trips
// guest -> kernel -> launcher -> kernel -> guest.
std::vector<uint8_t> bench_guest(Mode mode, uint32_t n) {
  std::vector<uint8_t> c;
  auto imm32 = [&c](uint32_t v) {
    for (int i = 0; i < 4; i++) c.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  bool m16 = mode == Mode::Real;
  if (m16) c.push_back(0x66);  // operand-size prefix: ECX in 16-bit code
  c.push_back(0xb9);           // MOV ECX, imm32
  imm32(n);
  c.insert(c.end(), {0xe6, static_cast<uint8_t>(kPortNull)});  // OUT imm8, AL
  if (m16) c.push_back(0x66);
  c.insert(c.end(), {0xff, 0xc9});                             // DEC ECX
  c.insert(c.end(), {0x75, static_cast<uint8_t>(m16 ? -7 : -6)});  // JNZ back to the OUT
  c.push_back(0xf4);                                           // HLT
  return c;
}

int bench_io(Options o, uint64_t n) {
  if (n == 0 || n > 0xffffffffULL) {
    std::fprintf(stderr, "minikvm-launch: --bench-io wants 1..4294967295\n");
    return kExitUsage;
  }
  Machine m;
  int st = prepare(m, o, o.mem_mib << 20);
  if (st != kExitOk) return st;
  std::vector<uint8_t> code = bench_guest(o.mode, static_cast<uint32_t>(n));
  std::memcpy(m.mem() + kDefaultLoad, code.data(), code.size());
  st = start_cpus(m, o, kDefaultLoad, nullptr);
  if (st != kExitOk) return st;
  std::printf("bench-io: device %s, %s mode, %u vCPU(s), %" PRIu64
              " OUT instructions to port %#x each, then HLT\n",
              o.dev.c_str(), mode_name(o.mode), o.vcpus, n, kPortNull);
  std::fflush(stdout);
  RunResult r;
  m.run(o, &r);
  finish_report(r, o, device_has_stats(o.dev));
  if (r.status == kExitUnsupported) return r.status;  // no KVM_RUN: nothing measured

  for (const VcpuResult &v : r.vcpus) {
    uint64_t port_exits = 0;
    auto it = v.io_ports.find(kPortNull | (1u << 16));
    if (it != v.io_ports.end()) port_exits = it->second;
    double per_rt = v.round_trips ? static_cast<double>(v.run_ns) / v.round_trips : 0;
    std::printf("bench-io: vcpu%u: %" PRIu64 " KVM_RUN round trips in %" PRIu64
                " ns of CLOCK_MONOTONIC: %.1f ns per round trip\n",
                v.index, v.round_trips, v.run_ns, per_rt);
    std::printf("bench-io: vcpu%u: userspace exits per OUT: %.4f (KVM_EXIT_IO on port %#x: %" PRIu64
                "; all KVM_RUN returns: %" PRIu64 ")\n",
                v.index, static_cast<double>(port_exits) / n, kPortNull, port_exits, v.round_trips);
    uint64_t kexits = 0, kio = 0;
    bool have_k = false;
    for (const KernelStat &s : v.kstats) {
      if (s.values.empty()) continue;
      if (s.name == "exits") { kexits = s.values[0]; have_k = true; }
      if (s.name == "io_exits") kio = s.values[0];
    }
    char kx[32] = "na", kiox[32] = "na";
    if (v.kstats_valid && have_k) {
      std::snprintf(kx, sizeof kx, "%.4f", static_cast<double>(kexits) / n);
      std::snprintf(kiox, sizeof kiox, "%.4f", static_cast<double>(kio) / n);
      std::printf("bench-io: vcpu%u: kernel exits per OUT: %s (KVM_GET_STATS_FD exits %" PRIu64
                  ", io_exits %" PRIu64 ")\n",
                  v.index, kx, kexits, kio);
    } else {
      std::printf("bench-io: vcpu%u: kernel exits per OUT: not available (no KVM_GET_STATS_FD "
                  "counter \"exits\")\n", v.index);
    }
    std::printf("BENCH dev=%s mode=%s vcpu=%u outs=%" PRIu64 " round_trips=%" PRIu64
                " ns_total=%" PRIu64 " ns_per_round_trip=%.1f user_exits_per_out=%.4f"
                " kernel_exits_per_out=%s kernel_io_exits_per_out=%s status=%d\n",
                o.dev.c_str(), mode_name(o.mode), v.index, n, v.round_trips, v.run_ns, per_rt,
                static_cast<double>(port_exits) / n, kx, kiox, r.status);
  }
  std::fflush(stdout);
  // The run must have gone all the way: every vCPU did its N OUTs.
  for (const VcpuResult &v : r.vcpus) {
    auto it = v.io_ports.find(kPortNull | (1u << 16));
    if (r.status == kExitOk && (it == v.io_ports.end() || it->second != n)) {
      std::fprintf(stderr, "minikvm-launch: vcpu%u: expected %" PRIu64 " exits on port %#x\n", v.index, n,
                   kPortNull);
      return kExitGuestError;
    }
  }
  return r.status;
}

// ---- --garbage SEED ----
// splitmix64 (Steele, Lea, Flood 2014): a seed gives the same bytes on
// every machine, so a run that upsets a device can be replayed exactly.
struct SplitMix64 {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

int garbage_one(const Options &o, uint64_t seed, std::map<std::string, unsigned> *tally) {
  uint64_t mem_bytes = o.mem_mib << 20;
  Machine m;
  int st = prepare(m, o, mem_bytes);
  if (st != kExitOk) return st;
  // Random bytes everywhere but the launcher's GDT and page tables, so
  // that segment loads and paging start valid and the garbage is what runs.
  SplitMix64 rng{seed};
  for (uint64_t a = 0; a < mem_bytes; a += 8) {
    uint64_t v = rng.next();
    std::memcpy(m.mem() + a, &v, 8);
  }
  std::vector<std::vector<uint64_t>> gprs(o.vcpus, std::vector<uint64_t>(16));
  for (auto &g : gprs)
    for (auto &x : g) x = rng.next();
  uint64_t entry = o.entry_given ? o.entry : kDefaultLoad;
  st = start_cpus(m, o, entry, &gprs);
  if (st != kExitOk) return st;
  uint64_t t0 = monotonic_ns();
  RunResult r;
  m.run(o, &r);
  uint64_t dt = monotonic_ns() - t0;
  if (r.status == kExitUnsupported) {  // KVM_RUN itself is missing
    std::printf("garbage seed=%" PRIu64 " mode=%s: %s\n", seed, mode_name(o.mode), r.reason.c_str());
    std::fprintf(stderr, "minikvm-launch: %s\n", r.reason.c_str());
    return kExitUnsupported;
  }

  std::string line;
  char buf[160];
  for (const VcpuResult &v : r.vcpus) {
    std::snprintf(buf, sizeof buf, " | vcpu%u %s", v.index, v.end.c_str());
    line += buf;
    if (v.regs_valid) {
      std::snprintf(buf, sizeof buf, " rip=%#" PRIx64, v.rip);
      line += buf;
    }
    std::snprintf(buf, sizeof buf, ", %" PRIu64 " returns:", v.round_trips);
    line += buf;
    for (const auto &e : v.exits) {
      std::snprintf(buf, sizeof buf, " %s %" PRIu64, exit_reason_name(e.first), e.second);
      line += buf;
    }
    if (v.console_bytes) {
      std::snprintf(buf, sizeof buf, ", %" PRIu64 " console bytes", v.console_bytes);
      line += buf;
    }
    (*tally)[v.end]++;
  }
  std::printf("garbage seed=%" PRIu64 " mode=%s: status %d after %.1f ms (%s)%s\n", seed,
              mode_name(o.mode), r.status, dt / 1e6, r.reason.c_str(), line.c_str());
  std::fflush(stdout);
  return kExitOk;
}

int garbage(Options o, uint64_t seed0, uint64_t count, bool all_modes) {
  std::vector<Mode> modes;
  if (all_modes)
    modes = {Mode::Real, Mode::Protected, Mode::Long};
  else
    modes = {o.mode};
  std::map<std::string, unsigned> tally;
  unsigned runs = 0;
  for (uint64_t s = seed0; s < seed0 + count; s++) {
    for (Mode md : modes) {
      o.mode = md;
      int st = garbage_one(o, s, &tally);
      if (st != kExitOk) {
        std::printf("garbage seed=%" PRIu64 " mode=%s: stopping, exit status %d (%s)\n", s,
                    mode_name(md), st,
                    st == kExitUnsupported ? "the device cannot run guests (yet)" : "launcher error");
        return st;
      }
      runs++;
    }
  }
  std::string t;
  for (const auto &e : tally) t += " " + e.first + " " + std::to_string(e.second) + ",";
  if (!t.empty()) t.pop_back();
  std::printf("garbage: %u runs (seeds %" PRIu64 "..%" PRIu64 ", %s), vCPU outcomes:%s; the launcher survived every run\n",
              runs, seed0, seed0 + count - 1, all_modes ? "real, protected, long" : mode_name(modes[0]),
              t.c_str());
  return kExitOk;
}

}  // namespace

int main(int argc, char **argv) {
  Options o;
  bool do_probe = false, mem_given = false, timeout_given = false, all_modes = false;
  bool do_bench = false, do_garbage = false, do_bench_irq = false, do_tour = false, tour_given = false;
  TourCounts tour;
  uint64_t bench_n = 0, seed = 0, garbage_count = 1;
  std::string irq_kind;
  uint64_t timer_count = kDefaultTimerCount, irq_gsi = kDefaultIrqGsi;
  auto bad = [&](const std::string &why) {
    if (!why.empty()) std::fprintf(stderr, "minikvm-launch: %s\n", why.c_str());
    usage(argv[0]);
    return kExitUsage;
  };
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    bool has_val = i + 1 < argc;
    std::string val = has_val ? argv[i + 1] : "";
    uint64_t x = 0;
    if (a == "--dev" && has_val) {
      o.dev = val;
      o.dev_given = true;
      i++;
    } else if (a == "--probe") {
      do_probe = true;
    } else if (a == "--load" && has_val) {
      Image im;
      size_t at = val.rfind('@');
      im.path = val.substr(0, at);
      if (at != std::string::npos && !parse_u64(val.substr(at + 1), &im.addr))
        return bad("bad address in --load " + val);
      if (!read_file(im.path, &im.bytes)) return bad("cannot read " + im.path + ": " + std::strerror(errno));
      o.images.push_back(std::move(im));
      i++;
    } else if (a == "--entry" && has_val) {
      if (!parse_u64(val, &o.entry)) return bad("bad --entry " + val);
      o.entry_given = true;
      i++;
    } else if (a == "--mode" && has_val) {
      if (val == "real") o.mode = Mode::Real;
      else if (val == "protected") o.mode = Mode::Protected;
      else if (val == "long") o.mode = Mode::Long;
      else if (val == "all") all_modes = true;
      else return bad("bad --mode " + val);
      i++;
    } else if (a == "--mem" && has_val) {
      if (!parse_u64(val, &o.mem_mib) || o.mem_mib < kMinMemMiB || o.mem_mib > kMaxMemMiB)
        return bad("--mem wants 1..3072 (MiB)");
      mem_given = true;
      i++;
    } else if (a == "--vcpus" && has_val) {
      if (!parse_u64(val, &x) || x < 1 || x > kMaxVcpus) return bad("--vcpus wants 1..32");
      o.vcpus = static_cast<unsigned>(x);
      i++;
    } else if (a == "--timeout" && has_val) {
      if (!parse_seconds(val, &o.timeout_s)) return bad("bad --timeout " + val);
      timeout_given = true;
      i++;
    } else if (a == "--uart") {
      o.uart = true;
    } else if (a == "--quiet") {
      o.quiet = true;
    } else if (a == "--bench-io" && has_val) {
      if (!parse_u64(val, &bench_n)) return bad("bad --bench-io " + val);
      do_bench = true;
      i++;
    } else if (a == "--bench-irq" && i + 2 < argc) {
      irq_kind = argv[i + 1];
      if (!parse_u64(argv[i + 2], &bench_n)) return bad(std::string("bad --bench-irq N ") + argv[i + 2]);
      do_bench_irq = true;
      i += 2;
    } else if (a == "--timer-count" && has_val) {
      if (!parse_u64(val, &timer_count) || timer_count < 1 || timer_count > 0xffffffffULL)
        return bad("--timer-count wants 1..4294967295");
      i++;
    } else if (a == "--irq-gsi" && has_val) {
      if (!parse_u64(val, &irq_gsi) || irq_gsi < 16 || irq_gsi > 23) return bad("--irq-gsi wants 16..23");
      i++;
    } else if (a == "--irq-tour") {
      do_tour = true;
    } else if ((a == "--tour-io" || a == "--tour-ipi" || a == "--tour-timer" || a == "--tour-dev") && has_val) {
      if (!parse_u64(val, &x)) return bad("bad " + a + " " + val);
      (a == "--tour-io" ? tour.io : a == "--tour-ipi" ? tour.ipi : a == "--tour-timer" ? tour.timer : tour.dev) = x;
      tour_given = true;
      i++;
    } else if (a == "--garbage" && has_val) {
      if (!parse_u64(val, &seed)) return bad("bad --garbage " + val);
      do_garbage = true;
      i++;
    } else if (a == "--garbage-count" && has_val) {
      if (!parse_u64(val, &garbage_count) || garbage_count < 1) return bad("bad --garbage-count " + val);
      i++;
    } else if (a == "--help" || a == "-h") {
      usage(argv[0]);
      return kExitOk;
    } else {
      return bad("");
    }
  }
  int actions = do_probe + !o.images.empty() + do_bench + do_bench_irq + do_garbage + do_tour;
  if (actions != 1)
    return bad(actions ? "--probe, --load, --bench-io, --bench-irq, --garbage and --irq-tour exclude each other" : "");
  if (all_modes && !do_garbage) return bad("--mode all only goes with --garbage");
  if (o.uart && o.images.empty()) return bad("--uart goes with --load");
  if (tour_given && !do_tour) return bad("--tour-io, --tour-ipi, --tour-timer and --tour-dev go with --irq-tour");

  // The launcher's own device first; the kernel's KVM when minikvm is
  // not loaded (the same ABI, so the same guests run).
  if (!o.dev_given && access(o.dev.c_str(), F_OK) != 0 && access("/dev/kvm", F_OK) == 0) {
    std::fprintf(stderr, "minikvm-launch: %s is absent, using /dev/kvm\n", o.dev.c_str());
    o.dev = "/dev/kvm";
  }
  if (do_probe) return probe(o.dev);
  if (o.mem_mib << 20 < kStackBase + o.vcpus * kStackSize) return bad("--mem too small");
  if (do_bench) return bench_io(o, bench_n);
  if (do_bench_irq) return bench_irq(o, irq_kind, bench_n, timer_count, static_cast<int>(irq_gsi));
  if (do_tour) {
    if (!timeout_given) o.timeout_s = kTourDefaultTimeout;
    return irq_tour(o, tour);
  }
  if (do_garbage) {
    o.garbage = true;
    o.quiet = true;
    o.log_limit = 0;  // the one-line summary of each run counts the exits
    if (!mem_given) o.mem_mib = 2;
    if (!timeout_given) o.timeout_s = 0.25;
    return garbage(o, seed, garbage_count, all_modes);
  }
  return run_images(o);
}
