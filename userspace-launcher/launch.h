// SPDX-License-Identifier: GPL-2.0
// minikvm-launch: declarations shared by the launcher's files.
//
// The launcher is a small VMM that speaks only the KVM ABI (linux/kvm.h),
// so that the same binary runs guests on minikvm and on the kernel's KVM
// and the two can be compared exit by exit (README.md in this directory).
#ifndef MINIKVM_LAUNCH_H
#define MINIKVM_LAUNCH_H

#include <linux/kvm.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "uart16550.h"

namespace mkl {

// ---- exit statuses (documented in README.md) ----
// 0..63 are meant for the guest (the value written to the exit port);
// the launcher's own outcomes use fixed values above them.
constexpr int kExitOk = 0;
constexpr int kExitUsage = 64;        // bad command line (as --probe always had)
constexpr int kExitHost = 70;         // the launcher failed (an ioctl or syscall)
constexpr int kExitGuestError = 71;   // SHUTDOWN, FAIL_ENTRY, INTERNAL_ERROR, KVM_RUN error...
constexpr int kExitTimeout = 72;      // --timeout expired
constexpr int kExitUnsupported = 77;  // the device lacks an ioctl needed to run guests

// ---- I/O ports the launcher serves ----
constexpr uint16_t kPortDebugcon = 0xE9;  // Bochs/QEMU debugcon: bytes -> stdout
constexpr uint16_t kPortExit = 0xF4;      // a write ends the run (QEMU isa-debug-exit's port)
constexpr uint16_t kPortNull = 0x80;      // POST-code port: writes accepted silently
// With Options::windows (--bench-irq): measured regions and the IRQ line.
constexpr uint16_t kPortWindowBegin = 0x81;  // OUT AL: window AL begins (stats, then clock)
constexpr uint16_t kPortWindowEnd = 0x82;    // OUT AL: window AL ends (clock, then stats)
constexpr uint16_t kPortIrqLine = 0x83;      // OUT: KVM_IRQ_LINE(irq_line_gsi, 1) then (.., 0)
constexpr unsigned kMaxWindows = 4;          // window numbers 1..kMaxWindows

// ---- guest-physical layout (README.md, "Guest memory layout") ----
constexpr uint64_t kGdtAddr = 0x500;          // GDT: null, code32, data, code64
constexpr uint64_t kGdtSize = 4 * 8;
constexpr uint64_t kSelCode32 = 0x08;
constexpr uint64_t kSelData = 0x10;
constexpr uint64_t kSelCode64 = 0x18;
constexpr uint64_t kPml4Addr = 0x1000;        // long mode: PML4, PDPT, 4 PDs
constexpr uint64_t kPdptAddr = 0x2000;
constexpr uint64_t kPdAddr = 0x3000;          // 4 pages: 4 GiB of 2 MiB pages
constexpr uint64_t kPageTablesEnd = 0x7000;
constexpr uint64_t kStackBase = 0x80000;      // vCPU i: [base + i*size, base + (i+1)*size)
constexpr uint64_t kStackSize = 0x1000;
constexpr unsigned kMaxVcpus = 32;            // stacks end at 0xA0000 (below the VGA hole)
constexpr uint64_t kDefaultLoad = 0x10000;
constexpr uint64_t kMinMemMiB = 1;
constexpr uint64_t kMaxMemMiB = 3072;         // stay below the TSS page at 0xfffbd000
constexpr uint64_t kTssAddr = 0xfffbd000;     // KVM_SET_TSS_ADDR (three pages, as QEMU)

// linux/kvm.h declares its flexible arrays with __DECLARE_FLEX_ARRAY, an
// anonymous struct holding an empty struct: 0 bytes in GNU C but 1 byte in
// C++. So in C++ sizeof(struct kvm_cpuid2) is 12 instead of 8, and the
// ioctl numbers built from it (KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2)
// are ones the kernel does not know (-EINVAL); sizeof(kvm_stats_desc) is
// 20 instead of 16. These are the C layouts and numbers.
struct CpuidHeader {  // struct kvm_cpuid2 without entries[]
  uint32_t nent;
  uint32_t padding;
};
struct StatsDescHeader {  // struct kvm_stats_desc without name[]
  uint32_t flags;
  int16_t exponent;
  uint16_t size;
  uint32_t offset;
  uint32_t bucket_size;
};
static_assert(sizeof(CpuidHeader) == 8 && sizeof(StatsDescHeader) == 16, "C layouts");
constexpr unsigned long kIoctlGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kIoctlSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
static_assert(kIoctlGetSupportedCpuid == 0xc008ae05 && kIoctlSetCpuid2 == 0x4008ae90,
              "KVM_GET_SUPPORTED_CPUID / KVM_SET_CPUID2 as the kernel numbers them");

// A device on I/O ports served in userspace (Machine::set_port_device):
// the vCPU threads call it, before the launcher's own ports, for every
// element of an I/O exit on a port it handles. io() may be called from
// several vCPU threads at once.
class PortDevice {
 public:
  virtual ~PortDevice() = default;
  virtual bool handles(uint16_t port, bool out) const = 0;
  // One element of `size` bytes (1, 2 or 4), little-endian at data.
  virtual void io(uint16_t port, bool out, uint8_t *data, unsigned size) = 0;
};

enum class Mode { Real, Protected, Long };
const char *mode_name(Mode m);

struct Image {
  std::string path;
  uint64_t addr = kDefaultLoad;
  std::vector<uint8_t> bytes;
};

struct Options {
  std::string dev = "/dev/minikvm";
  bool dev_given = false;
  Mode mode = Mode::Long;
  uint64_t mem_mib = 16;
  unsigned vcpus = 1;
  std::vector<Image> images;
  bool entry_given = false;
  uint64_t entry = kDefaultLoad;
  double timeout_s = 0;   // 0: none
  bool quiet = false;     // no statistics at the end
  // Garbage mode: the debug console is counted, not printed (random
  // bytes would garble the serial log), and no exit is logged on its own.
  bool garbage = false;
  unsigned log_limit = 16;  // distinct unhandled I/O ports / MMIO pages logged; 0: none
  // --bench-irq: serve the window ports (kPortWindowBegin/End) and, when
  // irq_line_gsi >= 0, kPortIrqLine.
  bool windows = false;
  int irq_line_gsi = -1;
  // --uart: a 16550A at COM1 (0x3F8, GSI 4 through a resampling irqfd) on
  // stdin/stdout, with an in-kernel irqchip (uart16550.h).
  bool uart = false;
};

// A measured region of one vCPU (Options::windows): CLOCK_MONOTONIC and
// the kernel's "exits" counter at its begin and end, and the KVM_RUN
// returns up to each (both counts include the exit of the marker OUT).
struct Window {
  bool begun = false, ended = false;
  uint64_t t0 = 0, t1 = 0;
  uint64_t returns0 = 0, returns1 = 0;
  bool kexits_valid = false;
  uint64_t kexits0 = 0, kexits1 = 0;
};

// One counter of KVM_GET_STATS_FD (a histogram keeps all its buckets).
struct KernelStat {
  std::string name;
  uint32_t flags = 0;
  int16_t exponent = 0;
  std::vector<uint64_t> values;
};

struct VcpuResult {
  unsigned index = 0;
  std::map<uint32_t, uint64_t> exits;     // KVM_EXIT_* -> count of KVM_RUN returns
  std::map<uint32_t, uint64_t> io_ports;  // (port | dir << 16) -> count of I/O exits
  uint64_t round_trips = 0;               // KVM_RUN calls that returned
  uint64_t run_ns = 0;                    // CLOCK_MONOTONIC around the run loop
  uint64_t console_bytes = 0;
  std::string end = "not started";        // how this vCPU stopped
  bool regs_valid = false;
  uint64_t rip = 0;
  bool kstats_valid = false;
  std::vector<KernelStat> kstats;
  Window windows[kMaxWindows + 1];  // [1..kMaxWindows]
};

struct RunResult {
  int status = kExitOk;
  std::string reason;
  std::vector<VcpuResult> vcpus;
};

// The VM: device fd, VM fd, guest RAM, vCPUs. Every failing setup step
// prints one line and returns an exit status (kExitUnsupported when the
// device does not implement the ioctl: minikvm grows its ABI ioctl by ioctl).
class Machine {
 public:
  Machine() = default;
  ~Machine();
  Machine(const Machine &) = delete;
  Machine &operator=(const Machine &) = delete;

  int open_device(const std::string &dev);
  int create_vm(uint64_t mem_bytes);
  // KVM_CREATE_IRQCHIP (before the vCPUs): kExitUnsupported, with the
  // reason on stderr, when the device reports KVM_CAP_IRQCHIP 0 (minikvm
  // accepts the ioctl before it has an irqchip) or refuses the ioctl.
  int create_irqchip();
  int create_vcpus(unsigned n);
  // With an in-kernel irqchip KVM creates the APs (vCPU index > 0)
  // waiting for INIT/SIPI; KVM_SET_MP_STATE(RUNNABLE) starts them at the
  // entry directly, as QEMU does for its own start-up state.
  int make_runnable();
  uint8_t *mem() { return mem_; }
  uint64_t mem_size() const { return mem_size_; }
  // The CPU state for mode (README.md, "Registers at entry"); gprs, if
  // non-null, gives 16 values for the general registers RDI/RSI/RSP excepted.
  int setup_cpu(unsigned index, Mode mode, uint64_t entry, const uint64_t *gprs);
  int run(const Options &opt, RunResult *result);
  // --uart: the COM1 UART on stdin/stdout, its irqfd on GSI 4 (needs
  // create_irqchip() first). Stopped and its irqfd deassigned by
  // stop_uart() or the destructor, before the VM fd closes.
  int attach_uart();
  // --irq-tour: the same UART as a polled console: no input, no irqfd (so
  // it can never interrupt the guest), output on stdout.
  void attach_console_uart();
  void stop_uart();
  // A userspace device on I/O ports (not owned; must outlive run()).
  void set_port_device(PortDevice *d) { port_device_ = d; }
  Uart16550 *uart() { return uart_.get(); }
  int vm_fd() const { return vm_fd_; }
  int dev_fd() const { return dev_fd_; }

 private:
  int dev_fd_ = -1;
  int vm_fd_ = -1;
  uint8_t *mem_ = nullptr;
  uint64_t mem_size_ = 0;
  long run_size_ = 0;
  bool has_immediate_exit_ = false;
  bool has_stats_ = false;
  bool has_cpuid_ = false;
  bool irqchip_ = false;
  std::vector<int> vcpu_fds_;
  std::vector<struct kvm_run *> runs_;
  std::vector<uint8_t> cpuid_buf_;  // KVM_GET_SUPPORTED_CPUID, fetched once
  std::unique_ptr<Uart16550> uart_;
  PortDevice *port_device_ = nullptr;

  int set_cpuid(unsigned index);
};

// x86_setup.cpp: what the launcher writes into guest memory.
void write_gdt(uint8_t *mem);
void write_page_tables(uint8_t *mem);
// The ranges [begin, end) of guest memory the launcher owns in this mode
// (images may not overlap them, the garbage fill leaves them alone).
std::vector<std::pair<uint64_t, uint64_t>> reserved_ranges(Mode mode, unsigned vcpus,
                                                           bool with_stacks);

// kvm_stats.cpp
bool read_kernel_stats(int vcpu_fd, std::vector<KernelStat> *out, std::string *err);
// The first value of one counter of the fd's KVM_GET_STATS_FD file.
bool read_kernel_stat(int fd, const char *name, uint64_t *value);
std::string stat_unit(const KernelStat &s);
void print_statistics(const RunResult &r, bool kernel_stats_expected);
const char *exit_reason_name(uint32_t reason);

// bench_irq.cpp: --bench-irq KIND N (README.md).
constexpr uint64_t kDefaultTimerCount = 500000;  // LAPIC TMICT: 500 us with KVM's 1 ns bus cycle
constexpr int kDefaultIrqGsi = 16;               // an IOAPIC-only GSI (no PIC pin behind it)
int bench_irq(Options o, const std::string &kind, uint64_t n, uint64_t timer_count, int gsi);
const char *bench_irq_kinds();

// irq_tour.cpp: --irq-tour (README.md): a built-in 2-vCPU guest whose
// interrupts (port-0x80 exits, IPIs, LAPIC timer, an irqfd device) are
// counted exactly.
struct TourCounts {
  uint64_t io = 1000, ipi = 100, timer = 50, dev = 20;
};
constexpr double kTourDefaultTimeout = 60;  // seconds, when --timeout is not given
int irq_tour(Options o, const TourCounts &n);

// Error helpers (minikvm-launch.cpp).
int ioctl_failure(const char *what, int err);
uint64_t monotonic_ns();

}  // namespace mkl

#endif
