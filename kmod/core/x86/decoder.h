// SPDX-License-Identifier: GPL-2.0
// Decoder for the memory MOV forms a guest uses to reach MMIO.
//
// An EPT violation on guest-physical memory with no RAM behind it reports
// the address but neither the instruction length nor what the instruction
// does. The hypervisor fetches up to 15 bytes at the guest RIP and decodes
// them here (Intel SDM vol. 2, chapter 2 "Instruction Format", and the MOV,
// MOVZX, MOVSX and MOVNTI pages): direction, access size, register or
// immediate, how a load writes its register back, and the length by which
// to advance RIP.
//
// The bytes come from the guest and are hostile: every byte string, every
// avail and every mode gives a defined answer, and no byte at or beyond
// avail is ever read.
#pragma once

#include "../rt/types.h"

namespace mk::x86 {

// SDM vol. 2 2.3.11: an instruction longer than 15 bytes raises #GP.
inline constexpr size_t kMaxInsnLength = 15;

// What the decoder needs of the CPU mode: the default operand and address
// sizes (SDM vol. 1 3.6, CS.D) and whether REX exists (64-bit mode only).
enum class Mode : u8 {
  kReal,    // real or virtual-8086 mode: 16-bit defaults
  kProt16,  // protected or compatibility mode with CS.D = 0: 16-bit defaults
  kProt32,  // protected or compatibility mode with CS.D = 1: 32-bit defaults
  kLong64,  // 64-bit mode (CS.L = 1): REX, 64-bit addresses, 32-bit operands
};

enum class Op : u8 {
  kStore,           // MOV r/m, r; MOV moffs, AL/eAX/rAX; MOVNTI
  kStoreImm,        // MOV r/m, imm
  kLoad,            // MOV r, r/m; MOV AL/eAX/rAX, moffs
  kLoadZeroExtend,  // MOVZX
  kLoadSignExtend,  // MOVSX
};

// Segment override prefixes, numbered as the sreg field encodes segment
// registers (SDM vol. 2 appendix B): ES=0, CS=1, SS=2, DS=3, FS=4, GS=5.
enum class Seg : u8 { kEs, kCs, kSs, kDs, kFs, kGs, kNone };

struct Insn {
  u8 length;         // total bytes, prefixes included: 1..15
  Op op;
  u8 access_size;    // bytes read or written in memory: 1, 2, 4 or 8
  // The GPR a load writes or a store reads, 0..15 in the Gprs order. For
  // AH/CH/DH/BH it is the register that holds them (RAX..RBX = 0..3) and
  // high_byte is set. 0 and unused for kStoreImm.
  u8 reg;
  bool high_byte;    // bits 15:8 of reg: AH..BH (ModRM.reg 4..7, no REX)
  // Bytes of the register a load writes: MOV access_size, MOVZX/MOVSX the
  // operand size (2, 4 or 8). 0 for stores.
  u8 dest_size;
  // kStoreImm: the immediate as the CPU stores it, sign-extended to
  // access_size (imm32 to 64 bits with REX.W) and no wider. 0 otherwise.
  u64 imm;
  // The last segment override prefix, or kNone. In 64-bit mode ES, CS, SS
  // and DS overrides are ignored (their bases are 0, SDM vol. 1 3.4.2.1),
  // so only FS/GS show, and the last of those.
  Seg seg_override;
  u8 addr_size;      // effective address size in bytes: 2, 4 or 8
  bool rip_relative; // 64-bit mode RIP (EIP with 67h) + disp32 addressing
};

// Decodes the instruction in bytes[0..avail); bytes may be null when avail
// is 0, and avail above 15 is treated as 15. Returns 0 and fills *out, or
//  -EINVAL  not a supported memory MOV form: another opcode, a register
//           operand (ModRM.mod = 3), a reserved /digit, LOCK (#UD), a
//           66h/F2h/F3h prefix on MOVNTI (#UD), or an invalid mode;
//  -E2BIG   the instruction is longer than 15 bytes (the CPU raises #GP);
//  -ENODATA the bytes end before the instruction does: fetch more.
// Bytes are examined left to right and the first of these facts found is
// reported. *out is written only on success.
int decode(const u8 *bytes, size_t avail, Mode mode, Insn *out);

// The 16 GPRs in the KVM/VMX order RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI,
// R8..R15.
struct Gprs {
  u64 r[16];
};

// For kStore and kStoreImm: the value written to memory, little-endian in
// the low access_size bytes, the bytes above them zero. 0 for loads.
u64 store_value(const Insn &insn, const Gprs &gprs);

// For the load ops: writes the value read from memory (its low access_size
// bytes; the rest is ignored) into the destination register as the CPU
// does: MOVZX zero-extends and MOVSX sign-extends it to dest_size, then an
// 8-bit or 16-bit destination merges into the register (AH..BH being bits
// 15:8 of RAX..RBX), a 32-bit one zero-extends to 64 bits (SDM vol. 1
// 3.4.1.1) and a 64-bit one replaces it. Does nothing for stores.
void complete_load(const Insn &insn, Gprs &gprs, u64 mem_value);

}  // namespace mk::x86
