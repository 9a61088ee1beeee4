// SPDX-License-Identifier: GPL-2.0
// minikvm-launch: the x86 state a guest starts in (GDT, page tables,
// segment and control registers, stack, index register).
//
// The hidden parts of the segment registers come from KVM_SET_SREGS, not
// from the GDT: the GDT in guest memory only matters when the guest loads
// a selector itself (SDM Vol. 3A 3.4.3, "Segment Registers"), so both are
// written to describe the same flat segments.
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "launch.h"

namespace mkl {

namespace {

// SDM Vol. 3A 3.4.5: base 0, limit 0xfffff with G=1 (4 GiB), present,
// DPL 0, S=1. Code: type 0xb (execute/read, accessed); D=1 for 32-bit,
// L=1 (and D=0) for 64-bit. Data: type 0x3 (read/write, accessed), B=1.
constexpr uint64_t kGdtCode32 = 0x00cf9b000000ffffULL;
constexpr uint64_t kGdtData = 0x00cf93000000ffffULL;
constexpr uint64_t kGdtCode64 = 0x00af9b000000ffffULL;

// Page-table entry bits (SDM Vol. 3A 4.5, tables 4-15 to 4-18).
constexpr uint64_t kPtePresent = 1ULL << 0;
constexpr uint64_t kPteWrite = 1ULL << 1;
constexpr uint64_t kPtePageSize = 1ULL << 7;  // in a PDE: maps a 2 MiB page

// Control-register and EFER bits (SDM Vol. 3A 2.5, 2.2.1).
constexpr uint64_t kCr0Pe = 1ULL << 0;
constexpr uint64_t kCr0Et = 1ULL << 4;
constexpr uint64_t kCr0Ne = 1ULL << 5;
constexpr uint64_t kCr0Pg = 1ULL << 31;
constexpr uint64_t kCr4Pae = 1ULL << 5;
constexpr uint64_t kEferLme = 1ULL << 8;
constexpr uint64_t kEferLma = 1ULL << 10;

void put64(uint8_t *p, uint64_t v) { std::memcpy(p, &v, sizeof v); }

kvm_segment flat_segment(uint16_t selector, bool code, bool long_mode) {
  kvm_segment s{};
  s.base = 0;
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = code ? 0xb : 0x3;
  s.present = 1;
  s.dpl = 0;
  s.db = long_mode && code ? 0 : 1;  // SDM 3.4.5: L=1 requires D=0
  s.s = 1;
  s.l = long_mode && code ? 1 : 0;
  s.g = 1;
  return s;
}

// Real mode: base = selector * 16, limit 64 KiB (SDM Vol. 3A "Address
// Translation in Real-Address Mode").
void real_segment(kvm_segment *s, uint16_t selector) {
  s->selector = selector;
  s->base = static_cast<uint64_t>(selector) << 4;
  s->limit = 0xffff;
}

}  // namespace

const char *mode_name(Mode m) {
  switch (m) {
    case Mode::Real: return "real";
    case Mode::Protected: return "protected";
    case Mode::Long: return "long";
  }
  return "?";
}

void write_gdt(uint8_t *mem) {
  put64(mem + kGdtAddr + 0, 0);
  put64(mem + kGdtAddr + kSelCode32, kGdtCode32);
  put64(mem + kGdtAddr + kSelData, kGdtData);
  put64(mem + kGdtAddr + kSelCode64, kGdtCode64);
}

// Identity map of the first 4 GiB with 2 MiB pages: PML4[0] -> PDPT,
// PDPT[0..3] -> four page directories of 512 entries each. Addresses above
// the RAM size are mapped too, so that the guest reaches MMIO (answered by
// the launcher) instead of faulting.
void write_page_tables(uint8_t *mem) {
  std::memset(mem + kPml4Addr, 0, kPageTablesEnd - kPml4Addr);
  put64(mem + kPml4Addr, kPdptAddr | kPtePresent | kPteWrite);
  for (uint64_t i = 0; i < 4; i++) {
    uint64_t pd = kPdAddr + i * 0x1000;
    put64(mem + kPdptAddr + i * 8, pd | kPtePresent | kPteWrite);
    for (uint64_t j = 0; j < 512; j++) {
      uint64_t phys = (i << 30) | (j << 21);
      put64(mem + pd + j * 8, phys | kPtePresent | kPteWrite | kPtePageSize);
    }
  }
}

std::vector<std::pair<uint64_t, uint64_t>> reserved_ranges(Mode mode, unsigned vcpus,
                                                           bool with_stacks) {
  std::vector<std::pair<uint64_t, uint64_t>> r;
  if (mode != Mode::Real) r.push_back({kGdtAddr, kGdtAddr + kGdtSize});
  if (mode == Mode::Long) r.push_back({kPml4Addr, kPageTablesEnd});
  if (with_stacks) r.push_back({kStackBase, kStackBase + vcpus * kStackSize});
  return r;
}

int Machine::setup_cpu(unsigned index, Mode mode, uint64_t entry, const uint64_t *gprs) {
  int fd = vcpu_fds_[index];
  kvm_sregs sregs{};
  if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0) return ioctl_failure("KVM_GET_SREGS", errno);

  kvm_regs regs{};
  if (gprs) {
    regs.rax = gprs[0]; regs.rbx = gprs[1]; regs.rcx = gprs[2]; regs.rdx = gprs[3];
    regs.rbp = gprs[5];
    regs.r8 = gprs[8]; regs.r9 = gprs[9]; regs.r10 = gprs[10]; regs.r11 = gprs[11];
    regs.r12 = gprs[12]; regs.r13 = gprs[13]; regs.r14 = gprs[14]; regs.r15 = gprs[15];
  }
  // Bit 1 of RFLAGS is reserved and reads as 1 (SDM Vol. 1 "EFLAGS
  // Register"). IF=1 changes nothing for the guest: there is no irqchip
  // and the launcher never calls KVM_INTERRUPT, so nothing is injected.
  // It is for the testbed: under Bochs 2.7 with kvm_intel, a guest loop
  // without exits run with IF=0 (`jmp .`) stopped the emulated machine's
  // own timer interrupts from reaching its kernel (external-interrupt
  // exiting must ignore guest IF, SDM Vol. 3C "Pin-Based VM-Execution
  // Controls"), so --timeout never fired and the boot hung; the same loop
  // after an STI was stopped after 1 s (measured, README.md). Entering
  // with IF=1 is meant to give every guest the second behaviour.
  regs.rflags = 0x202;
  regs.rdi = index;
  regs.rsi = vcpu_fds_.size();
  uint64_t stack_bottom = kStackBase + index * kStackSize;

  if (mode == Mode::Real) {
    // Keep the reset state (CR0.PE=0, real-mode segment attributes) and
    // point CS:IP at the entry: CS takes the 64 KiB-aligned part, so a
    // flat image linked at 0 and loaded at a 64 KiB boundary finds its
    // data through DS=ES=FS=GS=CS. SS:SP is this vCPU's own stack.
    uint16_t cs = static_cast<uint16_t>((entry & 0xf0000) >> 4);
    real_segment(&sregs.cs, cs);
    real_segment(&sregs.ds, cs);
    real_segment(&sregs.es, cs);
    real_segment(&sregs.fs, cs);
    real_segment(&sregs.gs, cs);
    real_segment(&sregs.ss, static_cast<uint16_t>(stack_bottom >> 4));
    regs.rip = entry & 0xffff;
    regs.rsp = kStackSize;
  } else {
    bool lm = mode == Mode::Long;
    sregs.cs = flat_segment(lm ? kSelCode64 : kSelCode32, true, lm);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(kSelData, false, lm);
    sregs.gdt.base = kGdtAddr;
    sregs.gdt.limit = kGdtSize - 1;
    // No IDT: an exception cannot be delivered, becomes a double fault
    // and then a triple fault, which KVM reports as KVM_EXIT_SHUTDOWN
    // (SDM Vol. 3A "Interrupt 8 - Double Fault Exception"). That is the
    // launcher's crash report.
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    // CD/NW (set at reset) off so that the guest runs cached; NE: native
    // x87 error reporting, as every modern OS sets it.
    sregs.cr0 = kCr0Pe | kCr0Et | kCr0Ne;
    if (lm) {
      // SDM Vol. 3A "Initializing IA-32e Mode": CR4.PAE, CR3 -> PML4,
      // EFER.LME, then CR0.PG. KVM_SET_SREGS takes the result, so EFER.LMA
      // is ours to set too (KVM's kvm_is_valid_sregs() checks LME+PG =>
      // PAE+LMA).
      sregs.cr3 = kPml4Addr;
      sregs.cr4 = kCr4Pae;
      sregs.efer = kEferLme | kEferLma;
      sregs.cr0 |= kCr0Pg;
    } else {
      sregs.cr3 = 0;
      sregs.cr4 = 0;
      sregs.efer = 0;
    }
    regs.rip = entry;
    regs.rsp = stack_bottom + kStackSize;
  }
  if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0) return ioctl_failure("KVM_SET_SREGS", errno);
  if (ioctl(fd, KVM_SET_REGS, &regs) < 0) return ioctl_failure("KVM_SET_REGS", errno);
  return kExitOk;
}

}  // namespace mkl
