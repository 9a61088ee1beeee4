// SPDX-License-Identifier: GPL-2.0
// minikvm-launch: exit statistics, the userspace view (exit reasons seen
// at each KVM_RUN return) and the kernel's view (KVM_GET_STATS_FD).
//
// The binary stats format is KVM's (Documentation/virt/kvm/api.rst,
// "KVM_GET_STATS_FD"): a header, an id string, descriptors of
// 16 + name_size bytes each (StatsDescHeader: sizeof(kvm_stats_desc) is
// wrong in C++, see launch.h), and u64 data; every offset comes from the
// header.
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include "launch.h"

namespace mkl {

const char *exit_reason_name(uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_UNKNOWN: return "UNKNOWN";
    case KVM_EXIT_EXCEPTION: return "EXCEPTION";
    case KVM_EXIT_IO: return "IO";
    case KVM_EXIT_HYPERCALL: return "HYPERCALL";
    case KVM_EXIT_DEBUG: return "DEBUG";
    case KVM_EXIT_HLT: return "HLT";
    case KVM_EXIT_MMIO: return "MMIO";
    case KVM_EXIT_IRQ_WINDOW_OPEN: return "IRQ_WINDOW_OPEN";
    case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
    case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
    case KVM_EXIT_INTR: return "INTR";
    case KVM_EXIT_SET_TPR: return "SET_TPR";
    case KVM_EXIT_TPR_ACCESS: return "TPR_ACCESS";
    case KVM_EXIT_NMI: return "NMI";
    case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
    case KVM_EXIT_OSI: return "OSI";
    case KVM_EXIT_PAPR_HCALL: return "PAPR_HCALL";
    case KVM_EXIT_WATCHDOG: return "WATCHDOG";
    case KVM_EXIT_EPR: return "EPR";
    case KVM_EXIT_SYSTEM_EVENT: return "SYSTEM_EVENT";
    case KVM_EXIT_IOAPIC_EOI: return "IOAPIC_EOI";
    case KVM_EXIT_HYPERV: return "HYPERV";
#ifdef KVM_EXIT_X86_RDMSR
    case KVM_EXIT_X86_RDMSR: return "X86_RDMSR";
    case KVM_EXIT_X86_WRMSR: return "X86_WRMSR";
#endif
#ifdef KVM_EXIT_DIRTY_RING_FULL
    case KVM_EXIT_DIRTY_RING_FULL: return "DIRTY_RING_FULL";
#endif
#ifdef KVM_EXIT_AP_RESET_HOLD
    case KVM_EXIT_AP_RESET_HOLD: return "AP_RESET_HOLD";
#endif
#ifdef KVM_EXIT_X86_BUS_LOCK
    case KVM_EXIT_X86_BUS_LOCK: return "X86_BUS_LOCK";
#endif
#ifdef KVM_EXIT_XEN
    case KVM_EXIT_XEN: return "XEN";
#endif
#ifdef KVM_EXIT_NOTIFY
    case KVM_EXIT_NOTIFY: return "NOTIFY";
#endif
    default: return "?";
  }
}

namespace {

// The stats file, read at given offsets. KVM's stats fds take pread()
// (kvm_main.c sets FMODE_PREAD on them); a file without FMODE_PREAD
// answers -ESPIPE (minikvm's, made with anon_inode_getfd() alone, before
// it sets the flag). Then the whole file is read once from the start with
// read(): the fd is fresh, so its position is 0, and both KVM and
// minikvm build the file from the position read() passes.
class StatsFile {
 public:
  explicit StatsFile(int fd) : fd_(fd) {}
  bool get(uint64_t off, void *dst, size_t len) {
    if (!sequential_) {
      ssize_t r = pread(fd_, dst, len, static_cast<off_t>(off));
      if (r == static_cast<ssize_t>(len)) return true;
      if (!(r < 0 && errno == ESPIPE)) return false;
      sequential_ = true;
      if (!slurp()) return false;
    }
    if (off > all_.size() || len > all_.size() - off) return false;
    std::memcpy(dst, all_.data() + off, len);
    return true;
  }

 private:
  bool slurp() {
    uint8_t buf[4096];
    for (;;) {
      ssize_t r = read(fd_, buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return false;
      if (r == 0) return true;
      all_.insert(all_.end(), buf, buf + r);
      if (all_.size() > (16u << 20)) return false;  // not a stats file
    }
  }
  int fd_;
  bool sequential_ = false;
  std::vector<uint8_t> all_;
};

}  // namespace

bool read_kernel_stats(int vcpu_fd, std::vector<KernelStat> *out, std::string *err) {
  out->clear();
  int sfd = ioctl(vcpu_fd, KVM_GET_STATS_FD, 0);
  if (sfd < 0) {
    *err = std::string("KVM_GET_STATS_FD: ") + std::strerror(errno);
    return false;
  }
  StatsFile f(sfd);
  bool ok = false;
  kvm_stats_header h{};
  if (!f.get(0, &h, sizeof h)) {
    *err = std::string("short read of the stats header (") + std::strerror(errno) + ")";
  } else {
    size_t desc_size = sizeof(StatsDescHeader) + h.name_size;
    std::vector<uint8_t> descs(desc_size * h.num_desc);
    if (!f.get(h.desc_offset, descs.data(), descs.size())) {
      *err = "short read of the stats descriptors";
    } else {
      ok = true;
      for (uint32_t i = 0; i < h.num_desc && ok; i++) {
        const uint8_t *p = descs.data() + i * desc_size;
        StatsDescHeader dh;
        std::memcpy(&dh, p, sizeof dh);
        const auto *d = &dh;
        const char *name = reinterpret_cast<const char *>(p + sizeof dh);
        KernelStat s;
        s.name.assign(name, strnlen(name, h.name_size));
        s.flags = d->flags;
        s.exponent = d->exponent;
        s.values.resize(d->size);
        size_t want = d->size * sizeof(uint64_t);
        if (want && !f.get(h.data_offset + d->offset, s.values.data(), want)) {
          *err = "short read of stats data for " + s.name;
          ok = false;
        }
        out->push_back(std::move(s));
      }
    }
  }
  close(sfd);
  return ok;
}

bool read_kernel_stat(int fd, const char *name, uint64_t *value) {
  std::vector<KernelStat> stats;
  std::string err;
  if (!read_kernel_stats(fd, &stats, &err)) return false;
  for (const KernelStat &s : stats)
    if (s.name == name && !s.values.empty()) {
      *value = s.values[0];
      return true;
    }
  return false;
}

std::string stat_unit(const KernelStat &s) {
  uint32_t unit = s.flags & KVM_STATS_UNIT_MASK;
  uint32_t base = s.flags & KVM_STATS_BASE_MASK;
  const char *name = unit == KVM_STATS_UNIT_BYTES     ? "B"
                     : unit == KVM_STATS_UNIT_SECONDS ? "s"
                     : unit == KVM_STATS_UNIT_CYCLES  ? "cycles"
                                                      : "";
  if (base == KVM_STATS_BASE_POW10 && unit == KVM_STATS_UNIT_SECONDS) {
    if (s.exponent == -9) return "ns";
    if (s.exponent == -6) return "us";
    if (s.exponent == 0) return "s";
  }
  if (s.exponent == 0) return name;
  char buf[48];
  std::snprintf(buf, sizeof buf, "x%s^%d%s%s", base == KVM_STATS_BASE_POW2 ? "2" : "10",
                s.exponent, *name ? " " : "", name);
  return buf;
}

namespace {

bool is_hist(uint32_t flags) {
  uint32_t t = flags & KVM_STATS_TYPE_MASK;
  return t == KVM_STATS_TYPE_LINEAR_HIST || t == KVM_STATS_TYPE_LOG_HIST;
}

}  // namespace

// Userspace exit reasons per vCPU and in total; then every kernel counter
// that is non-zero on at least one vCPU, one line each, with a total
// (the maximum for PEAK counters, the sum otherwise).
void print_statistics(const RunResult &r, bool kernel_stats_expected) {
  std::fprintf(stderr, "exit statistics (userspace: KVM_RUN returns by exit reason):\n");
  std::map<uint32_t, uint64_t> total;
  uint64_t total_rt = 0;
  for (const VcpuResult &v : r.vcpus) {
    std::fprintf(stderr, "  vcpu%-3u %8" PRIu64 " returns:", v.index, v.round_trips);
    for (const auto &e : v.exits) {
      std::fprintf(stderr, " %s %" PRIu64, exit_reason_name(e.first), e.second);
      total[e.first] += e.second;
    }
    std::fprintf(stderr, "  (ended: %s)\n", v.end.c_str());
    total_rt += v.round_trips;
  }
  if (r.vcpus.size() > 1) {
    std::fprintf(stderr, "  total   %8" PRIu64 " returns:", total_rt);
    for (const auto &e : total) std::fprintf(stderr, " %s %" PRIu64, exit_reason_name(e.first), e.second);
    std::fprintf(stderr, "\n");
  }

  bool any = false;
  for (const VcpuResult &v : r.vcpus) any = any || v.kstats_valid;
  if (!any) {
    std::fprintf(stderr, "kernel statistics: %s\n",
                 kernel_stats_expected ? "could not be read (see above)"
                                       : "none (the device does not report KVM_CAP_BINARY_STATS_FD)");
    return;
  }
  // Rows in descriptor order of the first vCPU that has stats; a
  // histogram gives one row per non-zero bucket.
  struct Row {
    std::string label;
    std::string unit;
    bool peak;
    std::vector<std::pair<bool, uint64_t>> per_vcpu;
  };
  std::vector<Row> rows;
  const VcpuResult *ref = nullptr;
  for (const VcpuResult &v : r.vcpus)
    if (v.kstats_valid) { ref = &v; break; }
  for (size_t i = 0; i < ref->kstats.size(); i++) {
    const KernelStat &s = ref->kstats[i];
    for (size_t b = 0; b < s.values.size(); b++) {
      Row row;
      row.label = is_hist(s.flags) ? s.name + "[" + std::to_string(b) + "]" : s.name;
      row.unit = stat_unit(s);
      row.peak = (s.flags & KVM_STATS_TYPE_MASK) == KVM_STATS_TYPE_PEAK;
      bool nonzero = false;
      for (const VcpuResult &v : r.vcpus) {
        bool have = v.kstats_valid && i < v.kstats.size() && v.kstats[i].name == s.name &&
                    b < v.kstats[i].values.size();
        uint64_t val = have ? v.kstats[i].values[b] : 0;
        nonzero = nonzero || val != 0;
        row.per_vcpu.push_back({have, val});
      }
      if (nonzero) rows.push_back(row);
    }
  }
  std::fprintf(stderr, "kernel statistics (KVM_GET_STATS_FD of each vCPU, non-zero counters):\n");
  std::fprintf(stderr, "  %-28s", "counter");
  for (const VcpuResult &v : r.vcpus) std::fprintf(stderr, " %12s", ("vcpu" + std::to_string(v.index)).c_str());
  if (r.vcpus.size() > 1) std::fprintf(stderr, " %12s", "total");
  std::fprintf(stderr, "\n");
  for (const Row &row : rows) {
    std::string label = row.label + (row.unit.empty() ? "" : " (" + row.unit + ")");
    std::fprintf(stderr, "  %-28s", label.c_str());
    uint64_t sum = 0;
    for (const auto &c : row.per_vcpu) {
      if (c.first)
        std::fprintf(stderr, " %12" PRIu64, c.second);
      else
        std::fprintf(stderr, " %12s", "-");
      sum = row.peak ? (c.second > sum ? c.second : sum) : sum + c.second;
    }
    if (r.vcpus.size() > 1) std::fprintf(stderr, " %12" PRIu64, sum);
    std::fprintf(stderr, "\n");
  }
  if (rows.empty()) std::fprintf(stderr, "  (all counters are zero)\n");
}

}  // namespace mkl
