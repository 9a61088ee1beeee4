// SPDX-License-Identifier: GPL-2.0
// minikvm-launch: a 16550A UART (COM1) whose interrupt reaches the guest
// through KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE (README.md, "--uart").
//
// Register model: the National Semiconductor PC16550D data sheet (and the
// 8250/16450 it extends): RBR/THR, IER, IIR/FCR, LCR (DLAB), MCR, LSR, MSR,
// SCR, DLL/DLM behind DLAB; 16-byte FIFOs. The transmitter is infinitely
// fast (a THR write goes to the output at once), so the serial line's
// timing (baud rate, the FIFO character timeout) is not modelled: the
// divisor latch only stores what the guest writes, and the receiver's
// "character timeout" interrupt is reported as soon as the RX FIFO holds
// fewer bytes than the trigger level (a real 16550 waits 4 character times).
// The terminal on stdin honours RTS/CTS flow control: input moves into
// the RX FIFO only while MCR.RTS is set, so nothing piped in early is lost
// to the guest's FIFO reset, and none is lost to an overrun either.
#ifndef MINIKVM_UART16550_H
#define MINIKVM_UART16550_H

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace mkl {

constexpr uint16_t kUartCom1Base = 0x3f8;  // COM1 on PCs
constexpr unsigned kUartCom1Gsi = 4;       // ISA IRQ 4 = GSI 4 (PIC pin 4, IOAPIC pin 4)

class Uart16550 {
 public:
  Uart16550(uint16_t base, unsigned gsi, int in_fd, int out_fd) : base_(base), gsi_(gsi), in_fd_(in_fd), out_fd_(out_fd) {}
  ~Uart16550();
  Uart16550(const Uart16550 &) = delete;
  Uart16550 &operator=(const Uart16550 &) = delete;

  // The level-triggered line: an irqfd with a resamplefd on gsi_ (the VM
  // has an in-kernel irqchip), and the thread that feeds input into the RX
  // FIFO and listens on the resamplefd. Returns a launcher exit status
  // (kExitUnsupported when the device lacks KVM_CAP_IRQFD_RESAMPLE).
  int start(int dev_fd, int vm_fd);
  // Stops the thread and deassigns the irqfd (before the VM fd closes).
  void stop();

  bool handles(uint16_t port) const { return port >= base_ && port < base_ + 8; }
  // One byte-wide access (KVM_EXIT_IO from a vCPU thread).
  void io(uint16_t port, bool out, uint8_t *data);

  // The interrupt output (a source pending, OUT2 set, not in loopback):
  // what the irqfd line follows. For tests and statistics.
  bool irq_output();
  // Input as if read from the terminal (the thread does this with stdin).
  void host_input(const uint8_t *p, size_t n);

  struct Stats {
    uint64_t tx_bytes = 0, rx_bytes = 0, irqfd_signals = 0, resamples = 0;
  };
  Stats stats();

 private:
  // ---- state (under mu_) ----
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, lsr_ = 0x60 /* THRE TEMT */, scr_ = 0;
  uint8_t msr_ = 0xb0;             // CTS DSR DCD: a terminal is attached
  uint8_t dll_ = 0x0c, dlm_ = 0;   // 9600 baud after a reset (115200 / 12)
  uint8_t fcr_ = 0;                // FIFO enable and RX trigger (bits 0, 7:6)
  bool thr_ipending_ = false;      // the THRE interrupt (cleared by reading it in IIR or a THR write)
  std::deque<uint8_t> rx_;         // the RX FIFO (1 byte deep with the FIFOs off)
  std::deque<uint8_t> host_in_;    // input waiting for room in the RX FIFO (flow control, as QEMU)
  bool asserted_ = false;          // irqfd signalled, the resamplefd has not yet reported the EOI
  Stats stats_;

  uint16_t base_;
  unsigned gsi_;
  int in_fd_, out_fd_;
  int irqfd_ = -1, resamplefd_ = -1, stopfd_ = -1, vm_fd_ = -1;
  bool in_eof_ = false;
  std::mutex mu_;
  std::thread thread_;

  unsigned rx_capacity() const { return (fcr_ & 1) ? 16 : 1; }
  unsigned rx_trigger() const;
  uint8_t iir_locked();  // the highest-priority pending interrupt (no side effects)
  void refill_rx_locked();
  void update_msr_loopback_locked(uint8_t old_mcr);
  bool irq_output_locked();
  void update_irq_locked();
  void receive_locked(uint8_t c);
  void transmit_locked(uint8_t c);
  void thread_main();
};

}  // namespace mkl

#endif
