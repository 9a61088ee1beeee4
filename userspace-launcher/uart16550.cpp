// SPDX-License-Identifier: GPL-2.0
// minikvm-launch: a 16550A UART (uart16550.h; README.md, "--uart").
//
// How its interrupt travels: the UART's interrupt output (an IIR source
// pending and MCR.OUT2 set, as PC boards gate IRQ 4 with OUT2) drives a
// level-triggered line. The launcher cannot hold a line high through an
// irqfd, so it uses KVM's resampling irqfd (api.rst, KVM_IRQFD,
// KVM_IRQFD_FLAG_RESAMPLE): writing the irqfd raises GSI 4 in the
// in-kernel irqchip and leaves it raised; the guest's EOI of the vector
// (the IOAPIC's EOI for a level-triggered pin, the PIC's ack) lowers it
// and signals the resamplefd; the launcher then looks at the UART again
// and, if its interrupt condition still holds, signals the irqfd once
// more. So the guest sees a level interrupt that is re-delivered after
// each EOI for as long as the UART wants service, and a condition that
// goes away before the EOI costs nothing (the handler's IIR read then
// says "no interrupt"). Transmit is a KVM_EXIT_IO per THR write: the
// launcher needs the byte.
#include "uart16550.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "launch.h"

namespace mkl {

namespace {

// Register offsets (PC16550D data sheet, table II).
enum : unsigned { kRbrThr = 0, kIer = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7 };
// IER
constexpr uint8_t kIerRx = 0x01, kIerThre = 0x02, kIerLine = 0x04, kIerModem = 0x08;
// IIR: bit 0 = no interrupt pending; bits 3:1 the source, by priority.
constexpr uint8_t kIirNone = 0x01, kIirLine = 0x06, kIirRx = 0x04, kIirTimeout = 0x0c, kIirThre = 0x02,
                  kIirModem = 0x00, kIirFifos = 0xc0;
// FCR
constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02, kFcrTrigger = 0xc0;
// LCR
constexpr uint8_t kLcrDlab = 0x80;
// MCR
constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08, kMcrLoop = 0x10;
// LSR
constexpr uint8_t kLsrDr = 0x01, kLsrOe = 0x02, kLsrErrors = 0x1e, kLsrThre = 0x20, kLsrTemt = 0x40,
                  kLsrFifoErr = 0x80;
// MSR: deltas in 3:0, lines in 7:4.
constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80, kMsrDeltas = 0x0f;
constexpr uint8_t kMsrTeri = 0x04;
// Not in loopback: a terminal is attached (CTS, DSR, DCD asserted).
constexpr uint8_t kMsrConnected = kMsrCts | kMsrDsr | kMsrDcd;

constexpr size_t kHostInMax = 4096;  // input read ahead of the guest

}  // namespace

Uart16550::~Uart16550() { stop(); }

unsigned Uart16550::rx_trigger() const {
  static constexpr unsigned kLevels[4] = {1, 4, 8, 14};
  return (fcr_ & kFcrEnable) ? kLevels[(fcr_ & kFcrTrigger) >> 6] : 1;
}

uint8_t Uart16550::iir_locked() {
  uint8_t fifo = (fcr_ & kFcrEnable) ? kIirFifos : 0;
  if ((ier_ & kIerLine) && (lsr_ & kLsrErrors)) return fifo | kIirLine;
  if ((ier_ & kIerRx) && !rx_.empty()) {
    // The FIFO's character timeout is not timed (uart16550.h): data below
    // the trigger level is reported as a timeout at once.
    if (rx_.size() >= rx_trigger()) return fifo | kIirRx;
    return fifo | kIirTimeout;
  }
  if ((ier_ & kIerThre) && thr_ipending_) return fifo | kIirThre;
  if ((ier_ & kIerModem) && (msr_ & kMsrDeltas)) return fifo | kIirModem;
  return fifo | kIirNone;
}

// The terminal on stdin honours RTS/CTS flow control: it sends only while
// the guest asserts RTS (MCR bit 1; the pin is inactive in loopback). So
// input piped in before the guest has set the UART up (and cleared its
// FIFOs) waits instead of being lost.
void Uart16550::refill_rx_locked() {
  if (!(mcr_ & kMcrRts) || (mcr_ & kMcrLoop)) return;
  while (!host_in_.empty() && rx_.size() < rx_capacity()) {
    rx_.push_back(host_in_.front());
    host_in_.pop_front();
    stats_.rx_bytes++;
  }
}

void Uart16550::receive_locked(uint8_t c) {
  if (rx_.size() >= rx_capacity()) {
    lsr_ |= kLsrOe;  // overrun: the new character is lost, the FIFO kept
    return;
  }
  rx_.push_back(c);
  stats_.rx_bytes++;
}

void Uart16550::transmit_locked(uint8_t c) {
  stats_.tx_bytes++;
  if (mcr_ & kMcrLoop) {
    receive_locked(c);  // loopback: the transmitter's output is the receiver's input
    return;
  }
  while (write(out_fd_, &c, 1) < 0 && errno == EINTR) {
  }
}

// Loopback connects DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD inside the
// chip; outside it the lines stay as the terminal drives them.
void Uart16550::update_msr_loopback_locked(uint8_t old_mcr) {
  uint8_t lines;
  if (mcr_ & kMcrLoop) {
    lines = ((mcr_ & kMcrDtr) ? kMsrDsr : 0) | ((mcr_ & kMcrRts) ? kMsrCts : 0) |
            ((mcr_ & kMcrOut1) ? kMsrRi : 0) | ((mcr_ & kMcrOut2) ? kMsrDcd : 0);
  } else {
    lines = kMsrConnected;
  }
  (void)old_mcr;
  uint8_t old = msr_ & 0xf0, changed = old ^ lines, deltas = msr_ & kMsrDeltas;
  if (changed & kMsrCts) deltas |= 0x01;
  if (changed & kMsrDsr) deltas |= 0x02;
  if ((old & kMsrRi) && !(lines & kMsrRi)) deltas |= kMsrTeri;  // trailing edge only
  if (changed & kMsrDcd) deltas |= 0x08;
  msr_ = lines | deltas;
}

// The interrupt output: a source pending, gated by OUT2 (PC wiring; in
// loopback the OUT2 pin is forced inactive, so no IRQ reaches the PIC).
bool Uart16550::irq_output_locked() {
  return !(iir_locked() & kIirNone) && (mcr_ & kMcrOut2) && !(mcr_ & kMcrLoop);
}

bool Uart16550::irq_output() {
  std::lock_guard<std::mutex> g(mu_);
  return irq_output_locked();
}

void Uart16550::host_input(const uint8_t *p, size_t n) {
  std::lock_guard<std::mutex> g(mu_);
  host_in_.insert(host_in_.end(), p, p + n);
  refill_rx_locked();
  update_irq_locked();
}

void Uart16550::update_irq_locked() {
  if (!irq_output_locked() || asserted_ || irqfd_ < 0) return;
  // Raise GSI 4; it stays raised until the guest's EOI (resamplefd).
  uint64_t one = 1;
  if (write(irqfd_, &one, sizeof one) == sizeof one) {
    asserted_ = true;
    stats_.irqfd_signals++;
  }
}

void Uart16550::io(uint16_t port, bool out, uint8_t *data) {
  std::lock_guard<std::mutex> g(mu_);
  unsigned reg = port - base_;
  bool dlab = lcr_ & kLcrDlab;
  if (out) {
    uint8_t v = *data;
    switch (reg) {
      case kRbrThr:
        if (dlab) {
          dll_ = v;
          break;
        }
        transmit_locked(v);
        // The byte left at once: THR (and the TX FIFO) is empty again,
        // which is the THRE interrupt's event.
        thr_ipending_ = true;
        break;
      case kIer: {
        if (dlab) {
          dlm_ = v;
          break;
        }
        uint8_t old = ier_;
        ier_ = v & 0x0f;
        // Enabling ETBEI while THR is empty interrupts at once (16550;
        // Linux's serial8250 relies on it to start transmitting).
        if ((ier_ & kIerThre) && !(old & kIerThre) && (lsr_ & kLsrThre)) thr_ipending_ = true;
        break;
      }
      case kIirFcr:
        // Changing FCR0 clears both FIFOs; bits 1 and 2 clear one each
        // (the TX FIFO is always empty here).
        if ((v & kFcrEnable) != (fcr_ & kFcrEnable) || (v & kFcrClearRx)) rx_.clear();
        fcr_ = v & (kFcrEnable | kFcrTrigger);
        if (!(fcr_ & kFcrEnable)) fcr_ = 0;
        refill_rx_locked();
        break;
      case kLcr:
        lcr_ = v;
        break;
      case kMcr: {
        uint8_t old = mcr_;
        mcr_ = v & 0x1f;
        update_msr_loopback_locked(old);
        refill_rx_locked();
        break;
      }
      case kLsr:  // factory test only
      case kMsr:
        break;
      case kScr:
        scr_ = v;
        break;
    }
  } else {
    uint8_t v = 0xff;
    switch (reg) {
      case kRbrThr:
        if (dlab) {
          v = dll_;
          break;
        }
        v = 0;
        if (!rx_.empty()) {
          v = rx_.front();
          rx_.pop_front();
          refill_rx_locked();
        }
        break;
      case kIer:
        v = dlab ? dlm_ : ier_;
        break;
      case kIirFcr:
        v = iir_locked();
        // Reading IIR while it reports THRE clears that interrupt.
        if ((v & 0x0f) == kIirThre) thr_ipending_ = false;
        break;
      case kLcr:
        v = lcr_;
        break;
      case kMcr:
        v = mcr_;
        break;
      case kLsr:
        v = lsr_ | (rx_.empty() ? 0 : kLsrDr);
        if ((fcr_ & kFcrEnable) && (lsr_ & kLsrErrors)) v |= kLsrFifoErr;
        lsr_ &= ~(kLsrErrors | kLsrFifoErr);  // error bits clear on read
        break;
      case kMsr:
        v = msr_;
        msr_ &= ~kMsrDeltas;
        break;
      case kScr:
        v = scr_;
        break;
    }
    *data = v;
  }
  lsr_ |= kLsrThre | kLsrTemt;  // the transmitter is always idle again
  update_irq_locked();
}

Uart16550::Stats Uart16550::stats() {
  std::lock_guard<std::mutex> g(mu_);
  return stats_;
}

int Uart16550::start(int dev_fd, int vm_fd) {
  auto cap = [&](long c) {
    int r = ioctl(vm_fd, KVM_CHECK_EXTENSION, c);
    if (r < 0) r = ioctl(dev_fd, KVM_CHECK_EXTENSION, c);
    return r > 0;
  };
  if (!cap(KVM_CAP_IRQFD) || !cap(KVM_CAP_IRQFD_RESAMPLE)) {
    std::fprintf(stderr,
                 "minikvm-launch: --uart: KVM_CAP_IRQFD or KVM_CAP_IRQFD_RESAMPLE is 0: the device cannot "
                 "run guests (yet) that need a resampling irqfd\n");
    return kExitUnsupported;
  }
  irqfd_ = eventfd(0, EFD_CLOEXEC);
  resamplefd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  stopfd_ = eventfd(0, EFD_CLOEXEC);
  if (irqfd_ < 0 || resamplefd_ < 0 || stopfd_ < 0) {
    std::fprintf(stderr, "minikvm-launch: eventfd: %s\n", std::strerror(errno));
    return kExitHost;
  }
  kvm_irqfd irqfd{};
  irqfd.fd = static_cast<uint32_t>(irqfd_);
  irqfd.gsi = gsi_;
  irqfd.flags = KVM_IRQFD_FLAG_RESAMPLE;
  irqfd.resamplefd = static_cast<uint32_t>(resamplefd_);
  if (ioctl(vm_fd, KVM_IRQFD, &irqfd) < 0) {
    int e = errno;
    close(irqfd_);
    irqfd_ = -1;
    return ioctl_failure("KVM_IRQFD (GSI 4, KVM_IRQFD_FLAG_RESAMPLE)", e);
  }
  vm_fd_ = vm_fd;
  thread_ = std::thread([this] { thread_main(); });
  return kExitOk;
}

void Uart16550::stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    if (write(stopfd_, &one, sizeof one) != sizeof one) std::fprintf(stderr, "minikvm-launch: uart: stop failed\n");
    thread_.join();
  }
  if (vm_fd_ >= 0 && irqfd_ >= 0) {
    kvm_irqfd d{};
    d.fd = static_cast<uint32_t>(irqfd_);
    d.gsi = gsi_;
    d.flags = KVM_IRQFD_FLAG_DEASSIGN;
    if (ioctl(vm_fd_, KVM_IRQFD, &d) < 0)
      std::fprintf(stderr, "minikvm-launch: KVM_IRQFD deassign: %s\n", std::strerror(errno));
  }
  vm_fd_ = -1;
  for (int *fd : {&irqfd_, &resamplefd_, &stopfd_})
    if (*fd >= 0) {
      close(*fd);
      *fd = -1;
    }
}

// Input and EOIs: stdin (while the host-side queue has room) feeds the RX
// FIFO; each resamplefd event is an EOI that lowered the line.
void Uart16550::thread_main() {
  for (;;) {
    pollfd p[3] = {{stopfd_, POLLIN, 0}, {resamplefd_, POLLIN, 0}, {in_fd_, POLLIN, 0}};
    bool want_in;
    {
      std::lock_guard<std::mutex> g(mu_);
      want_in = !in_eof_ && in_fd_ >= 0 && host_in_.size() < kHostInMax;
    }
    // Without room for input, wake up now and then to look again (the
    // guest draining the FIFO does not signal this thread).
    int r = poll(p, want_in ? 3 : 2, want_in ? -1 : 10);
    if (r < 0 && errno != EINTR) return;
    if (p[0].revents) return;
    if (p[1].revents & POLLIN) {
      uint64_t n;
      if (read(resamplefd_, &n, sizeof n) == sizeof n) {
        std::lock_guard<std::mutex> g(mu_);
        asserted_ = false;  // the EOI lowered GSI 4
        stats_.resamples++;
        update_irq_locked();
      }
    }
    if (want_in && (p[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      uint8_t buf[256];
      ssize_t n = read(in_fd_, buf, sizeof buf);
      std::lock_guard<std::mutex> g(mu_);
      if (n <= 0) {
        if (n == 0 || (errno != EINTR && errno != EAGAIN)) in_eof_ = true;
      } else {
        host_in_.insert(host_in_.end(), buf, buf + n);
        refill_rx_locked();
        update_irq_locked();
      }
    } else if (!want_in) {
      std::lock_guard<std::mutex> g(mu_);
      refill_rx_locked();
      update_irq_locked();
    }
  }
}

}  // namespace mkl
