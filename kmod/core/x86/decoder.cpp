// SPDX-License-Identifier: GPL-2.0
// Memory MOV decoder for MMIO emulation (SDM vol. 2 chapter 2).
//
// Instruction format (SDM vol. 2 2.1, 2.2.1):
//   legacy prefixes*  REX?  opcode (1 or 2 bytes)  ModRM  SIB?  disp?  imm?
// Every decision below is made on bytes already read, left to right, so a
// short fetch yields -ENODATA and an overlong one -E2BIG no matter what
// the missing bytes would have been.
#include "decoder.h"

#include "../rt/errno.h"
#include "../rt/utility.h"

namespace mk::x86 {
namespace {

// REX bits (SDM vol. 2 2.2.1.2, table 2-4).
constexpr u8 kRexW = 0x8;  // 64-bit operand size
constexpr u8 kRexR = 0x4;  // extends ModRM.reg

// The bytes of one instruction, read front to back.
struct Reader {
  const u8 *bytes;
  size_t avail;  // at most kMaxInsnLength
  size_t pos;

  // Are bytes [pos, pos + n) part of a legal instruction and fetched? The
  // length limit is tested first: past it the answer is #GP whatever the
  // bytes would be.
  int need(size_t n) const {
    if (pos + n > kMaxInsnLength)
      return -E2BIG;
    if (pos + n > avail)
      return -ENODATA;
    return 0;
  }

  // Reads n (<= 8) little-endian bytes; need(n) must have returned 0.
  u64 take(size_t n) {
    u64 v = 0;
    for (size_t i = 0; i < n; i++)
      v |= u64(bytes[pos + i]) << (8 * i);
    pos += n;
    return v;
  }
};

// Skips SIB and displacement after a memory ModRM (mod != 3). Only the raw
// 3-bit mod, rm and SIB.base fields decide the length: REX.B/X select other
// registers but do not change which forms need a SIB or a displacement
// (SDM vol. 2 2.2.1.2, table 2-5).
int skip_address(Reader &r, u8 modrm, u8 addr_size, bool long64, bool *rip_relative) {
  const u8 mod = modrm >> 6;
  const u8 rm = modrm & 7;
  size_t disp = 0;
  *rip_relative = false;

  if (addr_size == 2) {
    // SDM vol. 2 table 2-1: no SIB; mod=00 rm=110 is disp16 alone.
    if (mod == 1)
      disp = 1;
    else if (mod == 2 || rm == 6)
      disp = 2;
  } else {
    // SDM vol. 2 table 2-2: rm=100 means a SIB follows.
    if (rm == 4) {
      if (int err = r.need(1))
        return err;
      const u8 sib = u8(r.take(1));
      // Table 2-3: SIB.base=101 with mod=00 is disp32 with no base.
      if (mod == 0 && (sib & 7) == 5)
        disp = 4;
    } else if (mod == 0 && rm == 5) {
      // Table 2-2 disp32; in 64-bit mode RIP + disp32 (2.2.1.6), EIP with 67h.
      disp = 4;
      *rip_relative = long64;
    }
    if (mod == 1)
      disp = 1;
    else if (mod == 2)
      disp = 4;
  }
  if (int err = r.need(disp))
    return err;
  r.take(disp);
  return 0;
}

u64 mask(size_t size) {
  return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

u64 sign_extend(u64 v, size_t size) {
  if (size == 0 || size >= 8)
    return v;
  const u64 sign = 1ull << (8 * size - 1);
  v &= mask(size);
  return (v ^ sign) - sign;
}

}  // namespace

int decode(const u8 *bytes, size_t avail, Mode mode, Insn *out) {
  if (mode != Mode::kReal && mode != Mode::kProt16 && mode != Mode::kProt32 && mode != Mode::kLong64)
    return -EINVAL;
  Reader r{bytes, min(avail, kMaxInsnLength), 0};
  const bool long64 = mode == Mode::kLong64;

  // Legacy prefixes (SDM vol. 2 2.1.1), any number and order, and REX
  // (2.2.1). A REX counts only when it immediately precedes the opcode: a
  // legacy prefix after it makes it ignored, and of several REX bytes in a
  // row only the last one is next to the opcode.
  bool opsize_prefix = false, addrsize_prefix = false, lock = false, rep = false;
  Seg seg = Seg::kNone;
  u8 rex = 0;  // the REX byte in effect, 0 if none (a REX byte is never 0)
  u8 b;
  bool is_prefix = true;
  while (is_prefix) {
    if (int err = r.need(1))
      return err;
    b = u8(r.take(1));
    if (long64 && (b & 0xf0) == 0x40) {
      rex = b;
      continue;
    }
    switch (b) {
    case 0x66:
      opsize_prefix = true;
      break;
    case 0x67:
      addrsize_prefix = true;
      break;
    case 0xf0:
      lock = true;
      break;
    case 0xf2:
    case 0xf3:
      // REPNE/REP, meaningless on these opcodes; on MOV to memory F3 is
      // the XRELEASE hint (SDM vol. 2 "XACQUIRE/XRELEASE"), which changes
      // nothing for the emulator. MOVNTI rejects them below.
      rep = true;
      break;
    case 0x26:
    case 0x2e:
    case 0x36:
    case 0x3e:
      // In 64-bit mode the CS, DS, ES and SS bases are treated as 0 (SDM
      // vol. 1 3.4.2.1, 3.7.4.1), so these overrides are no-ops: they
      // neither select a segment nor cancel an FS/GS override.
      if (!long64)
        seg = Seg((b >> 3) & 3);
      break;
    case 0x64:
      seg = Seg::kFs;
      break;
    case 0x65:
      seg = Seg::kGs;
      break;
    default:
      is_prefix = false;  // b is the opcode
      continue;
    }
    rex = 0;  // a legacy prefix after REX: the REX is ignored (2.2.1)
  }

  // SDM vol. 2 "MOV", "MOVZX", "MOVSX", "MOVNTI": LOCK on any of them #UD
  // (vol. 2 "LOCK": only read-modify-write instructions accept it).
  if (lock)
    return -EINVAL;

  // Operand size (SDM vol. 1 3.6, tables 3-3, 3-4; vol. 2 2.2.1.2): 66h selects
  // the non-default of 16/32 bits, REX.W selects 64 bits and beats 66h.
  u8 opsize;
  if (rex & kRexW)
    opsize = 8;
  else if ((mode == Mode::kProt32 || long64) != opsize_prefix)
    opsize = 4;
  else
    opsize = 2;
  // Address size (same tables): 67h toggles 16/32; in 64-bit mode 64 -> 32.
  u8 addr_size;
  if (long64)
    addr_size = addrsize_prefix ? 4 : 8;
  else
    addr_size = (mode == Mode::kProt32) != addrsize_prefix ? 4 : 2;

  Insn insn{};
  insn.seg_override = seg;
  insn.addr_size = addr_size;

  // The opcode's form: modrm_form, a ModRM (with SIB/disp) follows, else a
  // moffs; reg_operand, ModRM.reg names the register, else it is /0;
  // byte_reg, that register is 8-bit; imm_size, the immediate's bytes.
  bool modrm_form = true, reg_operand = true, byte_reg = false;
  size_t imm_size = 0;
  switch (b) {
  case 0x88:  // MOV r/m8, r8
    insn.op = Op::kStore;
    insn.access_size = 1;
    byte_reg = true;
    break;
  case 0x89:  // MOV r/m16/32/64, r16/32/64
    insn.op = Op::kStore;
    insn.access_size = opsize;
    break;
  case 0x8a:  // MOV r8, r/m8
    insn.op = Op::kLoad;
    insn.access_size = 1;
    byte_reg = true;
    break;
  case 0x8b:  // MOV r16/32/64, r/m16/32/64
    insn.op = Op::kLoad;
    insn.access_size = opsize;
    break;
  case 0xc6:  // MOV r/m8, imm8 (/0)
    insn.op = Op::kStoreImm;
    insn.access_size = 1;
    reg_operand = false;
    imm_size = 1;
    break;
  case 0xc7:  // MOV r/m16/32, imm16/32; REX.W: r/m64, imm32 sign-extended (/0)
    insn.op = Op::kStoreImm;
    insn.access_size = opsize;
    reg_operand = false;
    imm_size = min<u8>(opsize, 4);
    break;
  case 0xa0:  // MOV AL, moffs8
  case 0xa1:  // MOV AX/EAX/RAX, moffs16/32/64
  case 0xa2:  // MOV moffs8, AL
  case 0xa3:  // MOV moffs16/32/64, AX/EAX/RAX
    insn.op = b & 2 ? Op::kStore : Op::kLoad;
    insn.access_size = b & 1 ? opsize : 1;
    modrm_form = false;
    break;
  case 0x63:
    // MOVSXD (64-bit mode only; elsewhere 63h is ARPL): REX.W r64 <- r/m32
    // sign-extended; without REX.W r32 <- r/m32, with 66h r16 <- r/m16.
    if (!long64)
      return -EINVAL;
    insn.op = Op::kLoadSignExtend;
    insn.access_size = opsize == 2 ? 2 : 4;
    insn.dest_size = opsize;
    break;
  case 0x0f: {
    // Two-byte opcodes (SDM vol. 2 2.1.2, table A-3).
    if (int err = r.need(1))
      return err;
    const u8 b2 = u8(r.take(1));
    switch (b2) {
    case 0xb6:  // MOVZX r16/32/64, r/m8
    case 0xb7:  // MOVZX r32/64, r/m16 (with 66h: r16, r/m16, a plain move)
      insn.op = Op::kLoadZeroExtend;
      break;
    case 0xbe:  // MOVSX r16/32/64, r/m8
    case 0xbf:  // MOVSX r32/64, r/m16 (with 66h: r16, r/m16)
      insn.op = Op::kLoadSignExtend;
      break;
    case 0xc3:  // MOVNTI m32, r32; REX.W: m64, r64
      // "NP 0F C3": a 66h, F2h or F3h prefix makes it #UD or another
      // instruction; the size is 32 bits unless REX.W, in every mode.
      if (opsize_prefix || rep)
        return -EINVAL;
      insn.op = Op::kStore;
      insn.access_size = rex & kRexW ? 8 : 4;
      break;
    default:
      return -EINVAL;
    }
    if (insn.op != Op::kStore) {
      insn.access_size = b2 & 1 ? 2 : 1;
      insn.dest_size = opsize;
    }
    break;
  }
  default:
    // Everything else, including 40h-4Fh (INC/DEC) outside 64-bit mode.
    return -EINVAL;
  }

  if (modrm_form) {
    if (int err = r.need(1))
      return err;
    const u8 modrm = u8(r.take(1));
    const u8 reg_field = (modrm >> 3) & 7;
    // mod = 11b names a register, not memory: nothing to emulate (and for
    // MOVNTI it is #UD).
    if ((modrm >> 6) == 3)
      return -EINVAL;
    if (reg_operand) {
      insn.reg = reg_field | (rex & kRexR ? 8 : 0);
      // SDM vol. 2 2.2.1.2 / table 3-1: without any REX, byte registers
      // 4..7 are AH, CH, DH, BH (bits 15:8 of RAX..RBX); with one they are
      // SPL, BPL, SIL, DIL.
      if (byte_reg && !rex && reg_field >= 4) {
        insn.reg = reg_field - 4;
        insn.high_byte = true;
      }
    } else if (reg_field != 0) {
      // C6/C7 are /0; the other /digit values are reserved (#UD) or, with
      // mod = 11b, XABORT/XBEGIN. REX.R does not extend an opcode
      // extension (2.2.1.2), so only the 3-bit field is checked.
      return -EINVAL;
    }
    if (int err = skip_address(r, modrm, addr_size, long64, &insn.rip_relative))
      return err;
  } else {
    // moffs: an offset of the address size, no ModRM (SDM vol. 2 "MOV"
    // note 3; in 64-bit mode 8 bytes, 4 with 67h).
    if (int err = r.need(addr_size))
      return err;
    r.take(addr_size);
  }

  if (imm_size) {
    if (int err = r.need(imm_size))
      return err;
    insn.imm = sign_extend(r.take(imm_size), imm_size) & mask(insn.access_size);
  }

  if (insn.op == Op::kLoad)
    insn.dest_size = insn.access_size;
  insn.length = u8(r.pos);
  *out = insn;
  return 0;
}

u64 store_value(const Insn &insn, const Gprs &gprs) {
  u64 v;
  if (insn.op == Op::kStore)
    v = gprs.r[insn.reg & 15] >> (insn.high_byte ? 8 : 0);
  else if (insn.op == Op::kStoreImm)
    v = insn.imm;
  else
    return 0;
  return v & mask(insn.access_size);
}

void complete_load(const Insn &insn, Gprs &gprs, u64 mem_value) {
  u64 v = mem_value & mask(insn.access_size);
  if (insn.op == Op::kLoadSignExtend)
    v = sign_extend(v, insn.access_size);
  else if (insn.op != Op::kLoad && insn.op != Op::kLoadZeroExtend)
    return;

  u64 &dst = gprs.r[insn.reg & 15];
  switch (insn.dest_size) {
  case 1: {
    const unsigned shift = insn.high_byte ? 8 : 0;
    dst = (dst & ~(0xffull << shift)) | ((v & 0xff) << shift);
    break;
  }
  case 2:
    dst = (dst & ~0xffffull) | (v & 0xffff);
    break;
  case 4:
    // SDM vol. 1 3.4.1.1: a 32-bit result is zero-extended to 64 bits.
    dst = v & 0xffffffffull;
    break;
  case 8:
    dst = v;
    break;
  default:
    break;
  }
}

}  // namespace mk::x86
