// SPDX-License-Identifier: GPL-2.0
// minikvm-launch --irq-tour: the "doorbell device", a level-triggered
// interrupt source behind a resampling irqfd, the way VFIO delivers a PCI
// device's INTx (README.md, "--irq-tour").
//
// Ports (all KVM_EXIT_IO, served by the vCPU thread that made the access):
//   OUT 0x85  doorbell: the device asserts its interrupt line
//   IN  0x86  status: acknowledges (deasserts the line) and reads the
//             number of interrupts the device has raised so far
//   OUT 0x80  counted (the tour's "io" stage; POST-code port otherwise ignored)
//   IN  0x87  the number of OUTs to port 0x80 counted so far
//
// The line reaches the in-kernel irqchip through KVM_IRQFD with
// KVM_IRQFD_FLAG_RESAMPLE on a GSI (api.rst, KVM_IRQFD): a write to the
// irqfd raises the GSI and leaves it raised; the guest's EOI of the
// level-triggered vector lowers it and signals the resamplefd. Who does
// what:
//   - the vCPU thread serving the doorbell OUT sets the line and writes
//     the irqfd, unless an earlier write is still waiting for its resample
//     (then the GSI is still high in the kernel, or about to be re-raised
//     by the resample thread below: a second write would be lost in it);
//   - the vCPU thread serving the status IN clears the line;
//   - the device's own thread waits on the resamplefd; for each event it
//     writes the irqfd again only if the line is still asserted (a level
//     that outlived the EOI is delivered again, as VFIO re-checks INTx).
// So each interrupt the guest takes costs exactly one irqfd write and one
// resamplefd event, whatever order the threads run in.
#ifndef MINIKVM_DOORBELL_H
#define MINIKVM_DOORBELL_H

#include <cstdint>
#include <mutex>
#include <thread>

#include "launch.h"

namespace mkl {

constexpr uint16_t kPortTourIo = 0x80;           // = kPortNull, counted here
constexpr uint16_t kPortDoorbell = 0x85;         // OUT: assert the line
constexpr uint16_t kPortDoorbellStatus = 0x86;   // IN: acknowledge; interrupts raised so far
constexpr uint16_t kPortTourIoCount = 0x87;      // IN: OUTs to kPortTourIo so far
constexpr unsigned kDoorbellGsi = 10;            // ISA IRQ 10 = IOAPIC pin 10 (no ISA device there)

class DoorbellDevice : public PortDevice {
 public:
  explicit DoorbellDevice(unsigned gsi) : gsi_(gsi) {}
  ~DoorbellDevice() override;
  DoorbellDevice(const DoorbellDevice &) = delete;
  DoorbellDevice &operator=(const DoorbellDevice &) = delete;

  // KVM_IRQFD (resampling) on the GSI of a VM with an in-kernel irqchip,
  // and the resample thread. A launcher exit status (kExitUnsupported
  // when the device lacks KVM_CAP_IRQFD or KVM_CAP_IRQFD_RESAMPLE).
  int start(int dev_fd, int vm_fd);
  // Host tests: use these eventfds (the device takes them over) as the
  // irqfd and the resamplefd, without KVM; start_thread() optional.
  void attach_fds(int irqfd, int resamplefd);
  int start_thread();
  // Stops the thread, counts resamplefd events still unread (an EOI the
  // guest made just before the run ended), deassigns the irqfd.
  void stop();

  bool handles(uint16_t port, bool out) const override;
  void io(uint16_t port, bool out, uint8_t *data, unsigned size) override;

  // What the resample thread does with a resamplefd read of n events.
  void resampled(uint64_t n);

  struct Stats {
    uint64_t doorbells = 0;      // OUTs to kPortDoorbell (= interrupts raised)
    uint64_t irqfd_signals = 0;  // writes to the irqfd
    uint64_t resamples = 0;      // resamplefd events (EOIs that lowered the GSI)
    uint64_t acks = 0;           // INs from kPortDoorbellStatus
    uint64_t io_outs = 0;        // OUTs to kPortTourIo
  };
  Stats stats();
  bool line();  // the device's interrupt request

 private:
  std::mutex mu_;
  bool line_ = false;           // asserted by a doorbell, cleared by the status read
  bool irqfd_pending_ = false;  // irqfd written, its resamplefd event not yet read
  Stats stats_;

  unsigned gsi_;
  int irqfd_ = -1, resamplefd_ = -1, stopfd_ = -1, vm_fd_ = -1;
  std::thread thread_;

  void signal_locked();
  void drain_resamplefd();
  void thread_main();
};

}  // namespace mkl

#endif
