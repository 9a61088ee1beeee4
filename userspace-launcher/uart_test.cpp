// SPDX-License-Identifier: GPL-2.0
// Host test of the launcher's 16550A register model (uart16550.cpp), no
// KVM needed: `make -C userspace-launcher test`. The irqfd is not set up
// (start() is not called), so the interrupt output is read with
// irq_output() instead of through GSI 4.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "launch.h"
#include "host_check.h"

using mkl::Uart16550;

// The launcher's (minikvm-launch.cpp); start() is not called here.
int mkl::ioctl_failure(const char *, int) { return 70; }

namespace {

using mkl::host_check::failures;

constexpr uint16_t B = mkl::kUartCom1Base;

struct Rig {
  int pipefd[2];
  Uart16550 *u;
  Rig() {
    if (pipe2(pipefd, O_NONBLOCK) != 0) std::abort();
    u = new Uart16550(B, 4, -1, pipefd[1]);
  }
  ~Rig() {
    delete u;
    close(pipefd[0]);
    close(pipefd[1]);
  }
  uint8_t in(unsigned r) {
    uint8_t v = 0;
    u->io(B + r, false, &v);
    return v;
  }
  void out(unsigned r, uint8_t v) { u->io(B + r, true, &v); }
  std::string sent() {
    char buf[256];
    ssize_t n = read(pipefd[0], buf, sizeof buf);
    return n > 0 ? std::string(buf, n) : std::string();
  }
  void input(const char *s) { u->host_input(reinterpret_cast<const uint8_t *>(s), std::string(s).size()); }
};

void test_reset_and_dlab() {
  Rig r;
  CHECK_EQ(r.in(2), 0x01);  // IIR: nothing pending, FIFOs off
  CHECK_EQ(r.in(5), 0x60);  // LSR: THRE TEMT
  CHECK_EQ(r.in(6), 0xb0);  // MSR: CTS DSR DCD, no deltas
  r.out(3, 0x80);           // DLAB
  r.out(0, 0x01);
  r.out(1, 0x02);
  CHECK_EQ(r.in(0), 0x01);
  CHECK_EQ(r.in(1), 0x02);
  r.out(3, 0x03);
  CHECK_EQ(r.in(1), 0x00);  // IER untouched by the DLM write
  CHECK_EQ(r.sent().size(), 0);  // nothing transmitted
  r.out(7, 0x5a);
  CHECK_EQ(r.in(7), 0x5a);
}

void test_thre_interrupt() {
  Rig r;
  r.out(4, 0x0b);  // DTR RTS OUT2
  CHECK_EQ(r.u->irq_output(), false);
  r.out(1, 0x02);  // ETBEI with THR empty: interrupts at once
  CHECK_EQ(r.u->irq_output(), true);
  CHECK_EQ(r.in(2), 0x02);  // THRE ...
  CHECK_EQ(r.in(2), 0x01);  // ... cleared by reading it
  CHECK_EQ(r.u->irq_output(), false);
  r.out(0, 'x');  // a THR write: sent, THR empty again: THRE again
  CHECK_EQ(r.sent() == "x", true);
  CHECK_EQ(r.in(2), 0x02);
  r.out(4, 0x03);  // OUT2 off: the source stays, the IRQ is gated
  r.out(1, 0x00);
  r.out(1, 0x02);
  CHECK_EQ(r.u->irq_output(), false);
  CHECK_EQ(r.in(2), 0x02);
}

void test_rx_fifo_priority_and_flow_control() {
  Rig r;
  r.out(2, 0x07);  // FIFOs on, cleared, trigger 1... then trigger 4:
  r.out(2, 0x41);
  CHECK_EQ(r.in(2), 0xc1);  // FIFOs enabled bits, nothing pending
  r.input("abcdefghijklmnopqrstuvwxyz");
  CHECK_EQ(r.in(5) & 1, 0);  // RTS off: the terminal waits (flow control)
  r.out(4, 0x0b);            // RTS on: 16 bytes move into the FIFO
  r.out(1, 0x03);            // ERBFI + ETBEI
  CHECK_EQ(r.u->irq_output(), true);
  CHECK_EQ(r.in(2), 0xc4);   // received data (above the trigger) beats THRE
  for (char c = 'a'; c <= 'z'; c++) CHECK_EQ(r.in(0), c);  // refilled from the terminal as it drains
  CHECK_EQ(r.in(5) & 1, 0);
  CHECK_EQ(r.in(2), 0xc2);   // now THRE
  r.out(1, 0x01);
  r.input("z");              // 1 byte below the trigger level of 4: character timeout
  CHECK_EQ(r.in(2), 0xcc);
  CHECK_EQ(r.in(0), 'z');
  CHECK_EQ(r.in(2), 0xc1);
}

void test_loopback_overrun_line_and_modem_status() {
  Rig r;
  r.out(4, 0x1b);  // loopback, DTR RTS OUT2
  CHECK_EQ(r.in(6) & 0xf0, 0x80 | 0x20 | 0x10);  // DCD=OUT2, DSR=DTR, CTS=RTS
  r.out(1, 0x0f);
  CHECK_EQ(r.u->irq_output(), false);  // loopback: no IRQ leaves the chip
  r.out(0, 'A');                       // FIFOs off: a 1-byte receiver
  r.out(0, 'B');                       // overrun
  CHECK_EQ(r.sent().size(), 0);             // nothing on the line
  CHECK_EQ(r.in(2), 0x06);             // line status first
  CHECK_EQ(r.in(5) & 0x03, 0x03);      // DR + OE; OE clears on read
  CHECK_EQ(r.in(5) & 0x02, 0);
  CHECK_EQ(r.in(2), 0x04);
  CHECK_EQ(r.in(0), 'A');
  CHECK_EQ(r.in(2), 0x02);             // THRE (cleared by this read)
  r.out(4, 0x1f);                      // OUT1 -> RI on
  r.out(4, 0x1b);                      // RI off: trailing edge
  CHECK_EQ(r.in(2), 0x00);             // modem status
  CHECK_EQ(r.in(6) & 0x0f, 0x04 | 0x00);  // TERI (DSR/CTS/DCD did not change)
  CHECK_EQ(r.in(2), 0x01);
}

}  // namespace

int main() {
  test_reset_and_dlab();
  test_thre_interrupt();
  test_rx_fifo_priority_and_flow_control();
  test_loopback_overrun_line_and_modem_status();
  if (failures) {
    std::fprintf(stderr, "uart_test: %d check(s) failed\n", failures);
    return 1;
  }
  std::printf("uart_test: all checks passed\n");
  return 0;
}
