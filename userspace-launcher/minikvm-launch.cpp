// SPDX-License-Identifier: GPL-2.0
// minikvm-launch: a small VMM for minikvm that also runs on /dev/kvm.
//
// This first version probes a KVM-ABI device: what it is, which
// capabilities it reports, and whether it can create a VM. Loading and
// running guests (flat binary, multiboot, bzImage) come with the vCPU ABI.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

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
  std::fprintf(stderr,
               "usage: %s [--dev PATH] --probe\n"
               "  --dev PATH   KVM-ABI device (default /dev/minikvm; /dev/kvm works too)\n"
               "  --probe      report API version, capabilities and VM creation\n",
               argv0);
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

}  // namespace

int main(int argc, char **argv) {
  std::string dev = "/dev/minikvm";
  bool do_probe = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--dev" && i + 1 < argc) {
      dev = argv[++i];
    } else if (a == "--probe") {
      do_probe = true;
    } else {
      usage(argv[0]);
      return 64;
    }
  }
  if (!do_probe) {
    usage(argv[0]);
    return 64;
  }
  return probe(dev);
}
