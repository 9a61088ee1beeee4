// SPDX-License-Identifier: GPL-2.0
// INS/OUTS after an I/O-instruction VM exit, KVM-compatible. See
// string_io.h for the protocol and where it differs from KVM 6.1.
#include "string_io.h"

#include "../../ia32/paging.h"
#include "../rt/errno.h"
#include "../rt/utility.h"

namespace mk::x86 {
namespace {

// EFLAGS (SDM vol. 1 3.4.3).
constexpr u64 kRflagsDf = 1ull << 10;  // string instructions count down
constexpr u64 kRflagsRf = 1ull << 16;  // resume flag

constexpr u64 kLow32 = 0xffffffffull;

u64 addr_mask(u8 addr_size) { return addr_size == 8 ? ~0ull : (1ull << (8 * addr_size)) - 1; }

// Writes value into a register at the address size, as the processor
// updates RCX/RSI/RDI for a string instruction (SDM vol. 1 3.4.1.1): 16
// bits merge into the register, 32 bits zero-extend (KVM's
// insn_assign_reg does the same in every mode), 64 bits replace it.
void assign(u64 &reg, u64 value, u8 addr_size) {
  switch (addr_size) {
  case 2:
    reg = (reg & ~0xffffull) | (value & 0xffff);
    break;
  case 4:
    reg = value & kLow32;
    break;
  default:
    reg = value;
    break;
  }
}

// Moves RSI/RDI by one element in the direction EFLAGS.DF says.
void step_pointer(u64 &reg, const IoExit &x, u64 rflags) {
  const u64 delta = (rflags & kRflagsDf) ? u64(0) - x.size : u64(x.size);
  assign(reg, reg + delta, x.addr_size);
}

// RIP after the instruction: KVM's emulator keeps 32 bits outside 64-bit
// mode (emulate.c x86_emulate_insn: ctxt->eip = (u32)ctxt->_eip).
u64 next_rip(const IoExit &x, CpuMode mode, u64 rip) {
  const u64 next = rip + x.insn_len;
  return mode == CpuMode::kLong64 ? next : next & kLow32;
}

bool valid_string_exit(const IoExit &x, CpuMode mode) {
  if (!x.string || (x.size != 1 && x.size != 2 && x.size != 4))
    return false;
  if (x.insn_len < 1 || x.insn_len > kMaxInsnLength)
    return false;
  if (u8(x.seg) > u8(Seg::kGs) || (x.in && x.seg != Seg::kEs))
    return false;
  // 64-bit mode has 64- and 32-bit addresses, the others 16 and 32 (SDM
  // vol. 1 3.6, table 3-4).
  if (mode == CpuMode::kLong64)
    return x.addr_size == 4 || x.addr_size == 8;
  if (mode != CpuMode::kReal && mode != CpuMode::kVm86 && mode != CpuMode::kProtected)
    return false;
  return x.addr_size == 2 || x.addr_size == 4;
}

// REP with a zero count: the instruction completes at once (KVM's
// x86_emulate_insn "All REP prefixes have the same first termination
// condition"), including string_registers_quirk: Intel processors leave
// RCX = 0 in all 64 bits after a REP string instruction with a 32-bit
// address size and ECX = 0.
void finish_zero_count(const IoExit &x, const StringIoEnv &env, StringIoRegs &r) {
  if (x.addr_size == 4 && env.guest_vendor_intel)
    r.rcx = 0;
  r.rip = next_rip(x, env.mode, r.rip);
  r.rflags &= ~kRflagsRf;
}

// How many INS elements one exit asks userspace for (KVM's
// pio_in_emulated; see string_io.h).
u32 in_batch(const IoExit &x, const StringIoRegs &r) {
  const u32 count = x.rep ? u32(r.rcx & addr_mask(x.addr_size)) : 1;
  const u32 offset = u32(r.rdi & ia32::paging::kPageOffsetMask);
  const u32 bytes_left = (r.rflags & kRflagsDf) ? offset : kPioPageSize - offset;
  const u32 n = min(min(bytes_left, kPioReadAhead / x.size), count);
  return n ? n : 1;
}

void fill_run(kvm_run *run, const IoExit &x, u32 count) {
  run->exit_reason = KVM_EXIT_IO;
  run->io.direction = x.in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
  run->io.size = x.size;
  run->io.port = x.port;
  run->io.count = count;
  run->io.data_offset = kPioDataOffset;
}

// Turns a paging outcome into the exception to inject. -ENXIO (a page
// table outside RAM) becomes the #PF KVM injects for it (paging.h).
void page_fault(const PageFault &pf, Exception *ex) {
  *ex = Exception{kVectorPf, true, pf.error_code, pf.address};
}

// Moves one element of x.size bytes between buf and seg:[offset]: the
// segmentation check covers the whole element, then each page it touches
// is translated before any byte moves, so a fault leaves memory as it was.
// Returns 0, -EFAULT (*ex to inject) or -ENXIO (memory not RAM).
int move_element(const StringIoEnv &env, const StringIoRegs &r, Seg seg, u64 offset, const IoExit &x, u8 *buf,
                 bool to_guest, GuestPhysMem &mem, Exception *ex) {
  PagingState ps = env.paging;
  ps.rflags = r.rflags;
  const bool la57 = paging_mode(ps) == PagingMode::k5Level;

  const SegAccess sa{seg, offset, x.size, to_guest ? AccessType::kWrite : AccessType::kRead, x.addr_size};
  u64 la;
  int err = linearize(env.mode, env.seg[u8(seg)], sa, la57, &la, ex);
  if (err == -EFAULT)
    return -EFAULT;
  if (err)
    return -ENXIO;  // unreachable after valid_string_exit(); fail safe

  // At most two pages: an element is at most 4 bytes.
  const u64 wrap = env.mode == CpuMode::kLong64 ? ~0ull : kLow32;
  const u32 first = u32(min<u64>(x.size, ia32::paging::kPageSize - (la & ia32::paging::kPageOffsetMask)));
  const u64 piece_la[2] = {la, (la + first) & wrap};
  const u32 piece_len[2] = {first, x.size - first};
  u64 piece_gpa[2] = {0, 0};
  const Access acc{to_guest, env.cpl == 3, false, false};
  for (int i = 0; i < 2 && piece_len[i]; i++) {
    PageFault pf;
    err = translate(ps, piece_la[i], acc, mem, &piece_gpa[i], &pf);
    if (err == -EFAULT || err == -ENXIO) {
      page_fault(pf, ex);
      return -EFAULT;
    }
    if (err) {
      // Non-canonical: linearize() checked the first and the last byte,
      // so this cannot happen; answer as the segment check would.
      *ex = Exception{seg == Seg::kSs ? kVectorSs : kVectorGp, true, 0, 0};
      return -EFAULT;
    }
  }
  for (int i = 0, done = 0; i < 2 && piece_len[i]; done += piece_len[i], i++) {
    err = to_guest ? mem.write(piece_gpa[i], buf + done, piece_len[i])
                   : mem.read(piece_gpa[i], buf + done, piece_len[i]);
    if (err)
      return -ENXIO;
  }
  return 0;
}

IoStep begin_out(const IoExit &x, const StringIoEnv &env, StringIoRegs &r, GuestPhysMem &mem, kvm_run *run,
                 u8 *pio_page, Exception *ex) {
  u8 buf[4];
  const int err = move_element(env, r, x.seg, r.rsi, x, buf, false, mem, ex);
  if (err == -EFAULT)
    return IoStep::kInject;
  if (err)
    return IoStep::kUnhandled;
  for (u32 i = 0; i < x.size; i++)
    pio_page[i] = buf[i];
  fill_run(run, x, 1);
  step_pointer(r.rsi, x, r.rflags);
  if (x.rep) {
    assign(r.rcx, r.rcx - 1, x.addr_size);
    r.rflags |= kRflagsRf;  // KVM: RF set while a REP string instruction is in progress
  } else {
    r.rflags &= ~kRflagsRf;
    r.rip = next_rip(x, env.mode, r.rip);
  }
  return IoStep::kExitToUser;
}

}  // namespace

int decode_io_exit(u64 qualification, u32 instruction_info, u32 instruction_length, IoExit *out) {
  static constexpr u8 kSizes[8] = {1, 2, 0, 4, 0, 0, 0, 0};
  static constexpr u8 kAddrSizes[8] = {2, 4, 8, 0, 0, 0, 0, 0};

  IoExit x{};
  x.size = kSizes[qualification & io_qual::kSizeMask];
  if (!x.size)
    return -EINVAL;
  if (instruction_length < 1 || instruction_length > kMaxInsnLength)
    return -EINVAL;
  x.insn_len = u8(instruction_length);
  x.in = qualification & io_qual::kIn;
  x.string = qualification & io_qual::kString;
  x.rep = qualification & io_qual::kRep;
  x.immediate = qualification & io_qual::kImmediate;
  x.port = u16(qualification >> io_qual::kPortShift);
  x.seg = Seg::kNone;
  if (x.string) {
    x.addr_size = kAddrSizes[(instruction_info >> io_info::kAddrSizeShift) & 7];
    if (!x.addr_size)
      return -EINVAL;
    if (x.in) {
      x.seg = Seg::kEs;  // INS writes ES:[(E/R)DI], no override (SDM vol. 2 INS)
    } else {
      const u32 seg = (instruction_info >> io_info::kSegShift) & 7;
      if (seg > u32(Seg::kGs))
        return -EINVAL;
      x.seg = Seg(seg);
    }
  }
  *out = x;
  return 0;
}

IoStep begin(const IoExit &exit, const StringIoEnv &env, StringIoRegs &regs, GuestPhysMem &mem, kvm_run *run,
             u8 *pio_page, PendingIn *pending, Exception *ex) {
  if (!run || !pio_page || !pending || !ex || pending->active || !valid_string_exit(exit, env.mode))
    return IoStep::kInvalid;

  if (exit.rep && (regs.rcx & addr_mask(exit.addr_size)) == 0) {
    finish_zero_count(exit, env, regs);
    return IoStep::kResume;
  }
  if (!exit.in)
    return begin_out(exit, env, regs, mem, run, pio_page, ex);

  // INS: ask userspace first, touch guest memory when the data is back
  // (KVM: em_in returns X86EMUL_IO_NEEDED before the destination write,
  // and x86_emulate_instruction skips the register write-back).
  const u32 n = in_batch(exit, regs);
  for (u32 i = 0; i < n * exit.size; i++)
    pio_page[i] = 0;
  fill_run(run, exit, n);
  *pending = PendingIn{true, exit, n};
  return IoStep::kExitToUser;
}

IoStep complete_in(const StringIoEnv &env, StringIoRegs &regs, GuestPhysMem &mem, const u8 *pio_page,
                   PendingIn *pending, Exception *ex) {
  if (!pending || !pending->active || !pio_page || !ex)
    return IoStep::kInvalid;
  const IoExit x = pending->exit;
  const u32 provided = pending->count;
  *pending = PendingIn{};
  // Armed by begin(), so valid then; the mode may have changed since only
  // through a hostile KVM_SET_SREGS, which must not reach memory with an
  // address size the mode cannot have.
  if (!valid_string_exit(x, env.mode) || provided == 0 || provided * x.size > kPioPageSize)
    return IoStep::kInvalid;

  if (x.rep && (regs.rcx & addr_mask(x.addr_size)) == 0) {
    // Userspace zeroed the count: the data is dropped (KVM would repeat the
    // exit, see string_io.h).
    finish_zero_count(x, env, regs);
    return IoStep::kResume;
  }

  const u32 n = min(in_batch(x, regs), provided);
  if (x.rep)
    regs.rflags |= kRflagsRf;
  else
    regs.rflags &= ~kRflagsRf;
  for (u32 i = 0; i < n; i++) {
    u8 buf[4];
    for (u32 b = 0; b < x.size; b++)
      buf[b] = pio_page[i * x.size + b];
    const int err = move_element(env, regs, Seg::kEs, regs.rdi, x, buf, true, mem, ex);
    if (err == -EFAULT)
      return IoStep::kInject;
    if (err)
      return IoStep::kUnhandled;
    step_pointer(regs.rdi, x, regs.rflags);
    if (x.rep)
      assign(regs.rcx, regs.rcx - 1, x.addr_size);
  }
  // With REP, RIP stays on the instruction: the guest re-executes it for
  // the next batch, and a final exit with RCX = 0 completes it (KVM's
  // x86_emulate_insn "skip rip writeback").
  if (!x.rep)
    regs.rip = next_rip(x, env.mode, regs.rip);
  return IoStep::kResume;
}

}  // namespace mk::x86
