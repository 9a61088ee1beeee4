// SPDX-License-Identifier: GPL-2.0
// minikvm-launch --irq-tour: the doorbell device (doorbell.h; README.md,
// "--irq-tour").
#include "doorbell.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mkl {

DoorbellDevice::~DoorbellDevice() { stop(); }

bool DoorbellDevice::handles(uint16_t port, bool out) const {
  if (out) return port == kPortTourIo || port == kPortDoorbell;
  return port == kPortDoorbellStatus || port == kPortTourIoCount;
}

// Caller holds mu_. The irqfd raises the GSI until the next EOI of its
// vector; a write while an earlier one awaits its resample would raise a
// line that is already high (or is about to be raised again by
// resampled()), so it is left to resampled().
void DoorbellDevice::signal_locked() {
  if (irqfd_pending_ || irqfd_ < 0) return;
  uint64_t one = 1;
  if (write(irqfd_, &one, sizeof one) == sizeof one) {
    irqfd_pending_ = true;
    stats_.irqfd_signals++;
  } else {
    std::fprintf(stderr, "minikvm-launch: doorbell: irqfd write: %s\n", std::strerror(errno));
  }
}

void DoorbellDevice::io(uint16_t port, bool out, uint8_t *data, unsigned size) {
  std::lock_guard<std::mutex> g(mu_);
  if (out) {
    if (port == kPortTourIo) {
      stats_.io_outs++;
    } else if (port == kPortDoorbell) {
      stats_.doorbells++;
      line_ = true;
      signal_locked();
    }
    return;
  }
  uint64_t v = 0;
  if (port == kPortDoorbellStatus) {
    stats_.acks++;
    line_ = false;  // acknowledged: the device stops requesting service
    v = stats_.doorbells;
  } else if (port == kPortTourIoCount) {
    v = stats_.io_outs;
  }
  std::memcpy(data, &v, size > sizeof v ? sizeof v : size);
}

void DoorbellDevice::resampled(uint64_t n) {
  if (n == 0) return;
  std::lock_guard<std::mutex> g(mu_);
  stats_.resamples += n;
  irqfd_pending_ = false;  // the EOI lowered the GSI
  if (line_) signal_locked();
}

DoorbellDevice::Stats DoorbellDevice::stats() {
  std::lock_guard<std::mutex> g(mu_);
  return stats_;
}

bool DoorbellDevice::line() {
  std::lock_guard<std::mutex> g(mu_);
  return line_;
}

int DoorbellDevice::start(int dev_fd, int vm_fd) {
  auto cap = [&](long c) {
    int r = ioctl(vm_fd, KVM_CHECK_EXTENSION, c);
    if (r < 0) r = ioctl(dev_fd, KVM_CHECK_EXTENSION, c);
    return r > 0;
  };
  if (!cap(KVM_CAP_IRQFD) || !cap(KVM_CAP_IRQFD_RESAMPLE)) {
    std::fprintf(stderr,
                 "minikvm-launch: --irq-tour: KVM_CAP_IRQFD or KVM_CAP_IRQFD_RESAMPLE is 0: the device cannot "
                 "run guests (yet) that need a resampling irqfd\n");
    return kExitUnsupported;
  }
  int irq = eventfd(0, EFD_CLOEXEC);
  int res = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (irq < 0 || res < 0) {
    std::fprintf(stderr, "minikvm-launch: eventfd: %s\n", std::strerror(errno));
    if (irq >= 0) close(irq);
    if (res >= 0) close(res);
    return kExitHost;
  }
  attach_fds(irq, res);
  kvm_irqfd f{};
  f.fd = static_cast<uint32_t>(irqfd_);
  f.gsi = gsi_;
  f.flags = KVM_IRQFD_FLAG_RESAMPLE;
  f.resamplefd = static_cast<uint32_t>(resamplefd_);
  if (ioctl(vm_fd, KVM_IRQFD, &f) < 0) {
    char what[64];
    std::snprintf(what, sizeof what, "KVM_IRQFD (GSI %u, KVM_IRQFD_FLAG_RESAMPLE)", gsi_);
    return ioctl_failure(what, errno);
  }
  vm_fd_ = vm_fd;
  return start_thread();
}

void DoorbellDevice::attach_fds(int irqfd, int resamplefd) {
  irqfd_ = irqfd;
  resamplefd_ = resamplefd;
  // The resamplefd is read without blocking (poll first, drain at stop).
  int fl = fcntl(resamplefd_, F_GETFL);
  if (fl >= 0) fcntl(resamplefd_, F_SETFL, fl | O_NONBLOCK);
}

int DoorbellDevice::start_thread() {
  stopfd_ = eventfd(0, EFD_CLOEXEC);
  if (stopfd_ < 0) {
    std::fprintf(stderr, "minikvm-launch: eventfd: %s\n", std::strerror(errno));
    return kExitHost;
  }
  thread_ = std::thread([this] { thread_main(); });
  return kExitOk;
}

void DoorbellDevice::drain_resamplefd() {
  uint64_t n;
  if (resamplefd_ >= 0 && read(resamplefd_, &n, sizeof n) == sizeof n) resampled(n);
}

void DoorbellDevice::thread_main() {
  for (;;) {
    pollfd p[2] = {{stopfd_, POLLIN, 0}, {resamplefd_, POLLIN, 0}};
    if (poll(p, 2, -1) < 0 && errno != EINTR) {
      std::fprintf(stderr, "minikvm-launch: doorbell: poll: %s\n", std::strerror(errno));
      return;
    }
    if (p[0].revents) return;
    if (p[1].revents & POLLIN) drain_resamplefd();
  }
}

void DoorbellDevice::stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (write(stopfd_, &one, sizeof one) != sizeof one)
      std::fprintf(stderr, "minikvm-launch: doorbell: stop: %s\n", std::strerror(errno));
    thread_.join();
  }
  // An EOI signals the resamplefd synchronously (KVM: the IOAPIC's ack
  // notifier, irqfd_resampler_ack()), but the thread may not have read the
  // last one before the guest ended the run: count it now.
  drain_resamplefd();
  if (vm_fd_ >= 0 && irqfd_ >= 0) {
    kvm_irqfd d{};
    d.fd = static_cast<uint32_t>(irqfd_);
    d.gsi = gsi_;
    d.flags = KVM_IRQFD_FLAG_DEASSIGN;
    if (ioctl(vm_fd_, KVM_IRQFD, &d) < 0)
      std::fprintf(stderr, "minikvm-launch: KVM_IRQFD deassign (GSI %u): %s\n", gsi_, std::strerror(errno));
  }
  vm_fd_ = -1;
  std::lock_guard<std::mutex> g(mu_);
  for (int *fd : {&irqfd_, &resamplefd_, &stopfd_})
    if (*fd >= 0) {
      close(*fd);
      *fd = -1;
    }
}

}  // namespace mkl
