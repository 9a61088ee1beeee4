// SPDX-License-Identifier: GPL-2.0
// Host test of the --irq-tour doorbell device (doorbell.cpp), no KVM
// needed: `make -C userspace-launcher test-doorbell`. Two plain eventfds
// stand in for the irqfd (read here: did the device raise its GSI?) and
// the resamplefd (written here: the kernel's EOI notification).
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "doorbell.h"
#include "host_check.h"

using mkl::DoorbellDevice;

// The launcher's (minikvm-launch.cpp); start() is not called here.
int mkl::ioctl_failure(const char *, int) { return 70; }

namespace {

using mkl::host_check::failures;

struct Rig {
  DoorbellDevice dev{10};
  int irqfd, resamplefd;  // our ends (duplicates: the device closes its own at stop)
  explicit Rig(bool thread) {
    int irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int res = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (irq < 0 || res < 0) std::abort();
    irqfd = dup(irq);
    resamplefd = dup(res);
    dev.attach_fds(irq, res);
    if (thread && dev.start_thread() != 0) std::abort();
  }
  ~Rig() {
    dev.stop();
    close(irqfd);
    close(resamplefd);
  }
  // Irqfd writes since the last call (0 if none).
  uint64_t signals() {
    uint64_t v = 0;
    if (read(irqfd, &v, sizeof v) != sizeof v) return 0;
    return v;
  }
  // Waits up to 5 s for an irqfd write (the resample thread's).
  uint64_t wait_signal() {
    pollfd p = {irqfd, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return 0;
    return signals();
  }
  void eoi() {
    uint64_t one = 1;
    if (write(resamplefd, &one, sizeof one) != sizeof one) std::abort();
  }
  void doorbell() {
    uint8_t b = 0;
    dev.io(mkl::kPortDoorbell, true, &b, 1);
  }
  uint32_t status() {
    uint32_t v = 0xdeadbeef;
    dev.io(mkl::kPortDoorbellStatus, false, reinterpret_cast<uint8_t *>(&v), 4);
    return v;
  }
};

// Which ports and directions the device claims from the vCPU loop.
void test_ports() {
  Rig r(false);
  CHECK_EQ(r.dev.handles(0x80, true), true);
  CHECK_EQ(r.dev.handles(0x80, false), false);
  CHECK_EQ(r.dev.handles(0x85, true), true);
  CHECK_EQ(r.dev.handles(0x85, false), false);
  CHECK_EQ(r.dev.handles(0x86, false), true);
  CHECK_EQ(r.dev.handles(0x86, true), false);
  CHECK_EQ(r.dev.handles(0x87, false), true);
  CHECK_EQ(r.dev.handles(0x84, true), false);
  CHECK_EQ(r.dev.handles(0xe9, true), false);
}

// Port 0x80 OUTs are counted; IN 0x87 reads the count, as wide as the access.
void test_io_count() {
  Rig r(false);
  uint8_t b = 0;
  for (int i = 0; i < 300; i++) r.dev.io(0x80, true, &b, 1);
  uint32_t v32 = 0;
  r.dev.io(0x87, false, reinterpret_cast<uint8_t *>(&v32), 4);
  CHECK_EQ(v32, 300);
  uint8_t v8 = 0;
  r.dev.io(0x87, false, &v8, 1);
  CHECK_EQ(v8, 300 & 0xff);
  CHECK_EQ(r.dev.stats().io_outs, 300);
  CHECK_EQ(r.signals(), 0);  // no interrupt from the io port
}

// One interrupt the way the tour guest takes it: doorbell -> one irqfd
// write; status read -> line down, reads 1; EOI -> resample, no new write.
void test_one_interrupt() {
  Rig r(false);
  CHECK_EQ(r.dev.line(), false);
  r.doorbell();
  CHECK_EQ(r.dev.line(), true);
  CHECK_EQ(r.signals(), 1);
  CHECK_EQ(r.status(), 1);
  CHECK_EQ(r.dev.line(), false);
  r.dev.resampled(1);
  CHECK_EQ(r.signals(), 0);
  r.doorbell();  // the next one: the GSI was lowered, so a new write
  CHECK_EQ(r.signals(), 1);
  CHECK_EQ(r.status(), 2);
  r.dev.resampled(1);
  CHECK_EQ(r.signals(), 0);
  mkl::DoorbellDevice::Stats s = r.dev.stats();
  CHECK_EQ(s.doorbells, 2);
  CHECK_EQ(s.irqfd_signals, 2);
  CHECK_EQ(s.acks, 2);
  CHECK_EQ(s.resamples, 2);
}

// A line still asserted at the EOI is raised again (level semantics);
// a second doorbell before the EOI writes nothing (the GSI is high).
void test_level_redelivery() {
  Rig r(false);
  r.doorbell();
  r.doorbell();
  CHECK_EQ(r.signals(), 1);
  r.dev.resampled(1);  // EOI without acknowledging: still asserted
  CHECK_EQ(r.signals(), 1);
  CHECK_EQ(r.status(), 2);
  r.dev.resampled(1);
  CHECK_EQ(r.signals(), 0);
  CHECK_EQ(r.dev.stats().irqfd_signals, 2);
}

// The race the tour exercises: the guest acknowledges and EOIs, vCPU 0
// rings again before the resample thread has read the EOI. The doorbell
// must not write the irqfd (its write would fall into the GSI the kernel
// already lowered only if the thread had run; it has not, so it is left
// to the thread), and the thread's resample must: one write either way.
void test_doorbell_before_resample() {
  Rig r(false);
  r.doorbell();
  CHECK_EQ(r.signals(), 1);
  CHECK_EQ(r.status(), 1);
  r.doorbell();  // EOI done in the kernel, resamplefd not read yet
  CHECK_EQ(r.signals(), 0);
  r.dev.resampled(1);
  CHECK_EQ(r.signals(), 1);
  CHECK_EQ(r.status(), 2);
  r.dev.resampled(1);
  CHECK_EQ(r.signals(), 0);
  CHECK_EQ(r.dev.stats().irqfd_signals, 2);
  CHECK_EQ(r.dev.stats().resamples, 2);
}

// With the thread: a resamplefd event while the line is asserted brings
// a new irqfd write.
void test_thread() {
  Rig r(true);
  r.doorbell();
  CHECK_EQ(r.signals(), 1);
  r.eoi();
  CHECK_EQ(r.wait_signal(), 1);
  CHECK_EQ(r.status(), 1);
  r.eoi();
  r.dev.stop();  // joins the thread; the event was read by it or by stop()
  CHECK_EQ(r.dev.stats().resamples, 2);
  CHECK_EQ(r.signals(), 0);
}

// stop() counts an EOI that the thread never read (the guest's last EOI
// just before it ended the run).
void test_stop_drains() {
  Rig r(false);
  r.doorbell();
  CHECK_EQ(r.status(), 1);
  r.eoi();
  CHECK_EQ(r.dev.stats().resamples, 0);
  r.dev.stop();
  CHECK_EQ(r.dev.stats().resamples, 1);
}

}  // namespace

int main() {
  test_ports();
  test_io_count();
  test_one_interrupt();
  test_level_redelivery();
  test_doorbell_before_resample();
  test_thread();
  test_stop_drains();
  if (failures) {
    std::fprintf(stderr, "doorbell_test: %d failure(s)\n", failures);
    return 1;
  }
  std::printf("doorbell_test: all checks passed\n");
  return 0;
}
