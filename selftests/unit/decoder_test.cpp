// SPDX-License-Identifier: GPL-2.0
// The MMIO MOV decoder (SDM vol. 2 chapter 2, MOV/MOVZX/MOVSX/MOVNTI).
//
// Byte sequences in the tables are real encodings produced by the GNU
// assembler (as --64, as --32 and .code16, then objdump -d) unless marked
// "hand-encoded", which are forms as never emits (ignored REX, repeated or
// conflicting prefixes, reserved /digit...). Every decode gets a heap copy
// of exactly `avail` bytes, so ASan reports any read past avail.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/rt/errno.h"
#include "core/x86/decoder.h"

using mk::u64;
using mk::u8;
using mk::x86::complete_load;
using mk::x86::decode;
using mk::x86::Gprs;
using mk::x86::Insn;
using mk::x86::Mode;
using mk::x86::Op;
using mk::x86::Seg;
using mk::x86::store_value;

namespace {

constexpr Mode kAllModes[] = {Mode::kReal, Mode::kProt16, Mode::kProt32, Mode::kLong64};

// A malloc'ed copy of exactly n bytes (nullptr for n = 0): ASan and a null
// dereference catch any read at or past n.
class Exact {
 public:
  Exact(const u8 *src, size_t n) : p_(n ? static_cast<u8 *>(malloc(n)) : nullptr) {
    if (n)
      memcpy(p_, src, n);
  }
  ~Exact() { free(p_); }
  Exact(const Exact &) = delete;
  Exact &operator=(const Exact &) = delete;
  const u8 *get() const { return p_; }

 private:
  u8 *p_;
};

int decode_exact(const std::vector<u8> &bytes, size_t avail, Mode mode, Insn *out) {
  Exact buf(bytes.data(), avail);
  return decode(buf.get(), avail, mode, out);
}

int decode_exact(const std::vector<u8> &bytes, Mode mode, Insn *out) {
  return decode_exact(bytes, bytes.size(), mode, out);
}

bool same(const Insn &a, const Insn &b) {
  return a.length == b.length && a.op == b.op && a.access_size == b.access_size && a.reg == b.reg &&
         a.high_byte == b.high_byte && a.dest_size == b.dest_size && a.imm == b.imm &&
         a.seg_override == b.seg_override && a.addr_size == b.addr_size && a.rip_relative == b.rip_relative;
}

std::vector<u8> repeat(u8 byte, size_t n, std::vector<u8> tail) {
  std::vector<u8> v(n, byte);
  v.insert(v.end(), tail.begin(), tail.end());
  return v;
}

// One instruction; its length must be the whole of bytes.
struct Case {
  const char *text;
  std::vector<u8> bytes;
  Mode mode;
  Op op;
  u8 access_size;
  u8 reg;
  bool high_byte;
  u8 dest_size;
  u64 imm;
  Seg seg;
  u8 addr_size;
  bool rip_relative;
};

// clang-format off
const Case kCases[] = {
    // ---- 64-bit mode (as --64) ----
    {"mov %eax,0x10(%rbx)", {0x89, 0x43, 0x10}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 8, false},
    {"mov %al,(%rax)", {0x88, 0x00}, Mode::kLong64, Op::kStore, 1, 0, false, 0, 0, Seg::kNone, 8, false},
    {"mov %cl,(%rax)", {0x88, 0x08}, Mode::kLong64, Op::kStore, 1, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ah,(%rax)", {0x88, 0x20}, Mode::kLong64, Op::kStore, 1, 0, true, 0, 0, Seg::kNone, 8, false},
    {"mov %ch,(%rax)", {0x88, 0x28}, Mode::kLong64, Op::kStore, 1, 1, true, 0, 0, Seg::kNone, 8, false},
    {"mov %dh,(%rax)", {0x88, 0x30}, Mode::kLong64, Op::kStore, 1, 2, true, 0, 0, Seg::kNone, 8, false},
    {"mov %bh,(%rax)", {0x88, 0x38}, Mode::kLong64, Op::kStore, 1, 3, true, 0, 0, Seg::kNone, 8, false},
    {"mov %spl,(%rax)", {0x40, 0x88, 0x20}, Mode::kLong64, Op::kStore, 1, 4, false, 0, 0, Seg::kNone, 8, false},
    {"mov %bpl,(%rax)", {0x40, 0x88, 0x28}, Mode::kLong64, Op::kStore, 1, 5, false, 0, 0, Seg::kNone, 8, false},
    {"mov %sil,(%rax)", {0x40, 0x88, 0x30}, Mode::kLong64, Op::kStore, 1, 6, false, 0, 0, Seg::kNone, 8, false},
    {"mov %dil,(%rax)", {0x40, 0x88, 0x38}, Mode::kLong64, Op::kStore, 1, 7, false, 0, 0, Seg::kNone, 8, false},
    {"mov %r8b,(%rax)", {0x44, 0x88, 0x00}, Mode::kLong64, Op::kStore, 1, 8, false, 0, 0, Seg::kNone, 8, false},
    {"mov %r15b,(%rax)", {0x44, 0x88, 0x38}, Mode::kLong64, Op::kStore, 1, 15, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ax,(%rax)", {0x66, 0x89, 0x00}, Mode::kLong64, Op::kStore, 2, 0, false, 0, 0, Seg::kNone, 8, false},
    {"mov %eax,(%rax)", {0x89, 0x00}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 8, false},
    {"mov %rax,(%rax)", {0x48, 0x89, 0x00}, Mode::kLong64, Op::kStore, 8, 0, false, 0, 0, Seg::kNone, 8, false},
    {"mov %r9,(%r10)", {0x4d, 0x89, 0x0a}, Mode::kLong64, Op::kStore, 8, 9, false, 0, 0, Seg::kNone, 8, false},
    {"mov %r12d,(%r13)", {0x45, 0x89, 0x65, 0x00}, Mode::kLong64, Op::kStore, 4, 12, false, 0, 0, Seg::kNone, 8, false},
    {"mov %r15w,(%rax)", {0x66, 0x44, 0x89, 0x38}, Mode::kLong64, Op::kStore, 2, 15, false, 0, 0, Seg::kNone, 8, false},
    {"mov (%rax),%cl", {0x8a, 0x08}, Mode::kLong64, Op::kLoad, 1, 1, false, 1, 0, Seg::kNone, 8, false},
    {"mov (%rax),%bh", {0x8a, 0x38}, Mode::kLong64, Op::kLoad, 1, 3, true, 1, 0, Seg::kNone, 8, false},
    {"mov (%rax),%ah", {0x8a, 0x20}, Mode::kLong64, Op::kLoad, 1, 0, true, 1, 0, Seg::kNone, 8, false},
    {"mov (%rax),%dil", {0x40, 0x8a, 0x38}, Mode::kLong64, Op::kLoad, 1, 7, false, 1, 0, Seg::kNone, 8, false},
    {"mov (%rax),%r10b", {0x44, 0x8a, 0x10}, Mode::kLong64, Op::kLoad, 1, 10, false, 1, 0, Seg::kNone, 8, false},
    {"mov (%rax),%r11w", {0x66, 0x44, 0x8b, 0x18}, Mode::kLong64, Op::kLoad, 2, 11, false, 2, 0, Seg::kNone, 8, false},
    {"mov (%rax),%esi", {0x8b, 0x30}, Mode::kLong64, Op::kLoad, 4, 6, false, 4, 0, Seg::kNone, 8, false},
    {"mov (%rax),%r14", {0x4c, 0x8b, 0x30}, Mode::kLong64, Op::kLoad, 8, 14, false, 8, 0, Seg::kNone, 8, false},
    {"mov (%rax),%rsp", {0x48, 0x8b, 0x20}, Mode::kLong64, Op::kLoad, 8, 4, false, 8, 0, Seg::kNone, 8, false},
    {"movb $0x80,(%rax)", {0xc6, 0x00, 0x80}, Mode::kLong64, Op::kStoreImm, 1, 0, false, 0, 0x80, Seg::kNone, 8, false},
    {"movw $0x8001,(%rax)", {0x66, 0xc7, 0x00, 0x01, 0x80}, Mode::kLong64, Op::kStoreImm, 2, 0, false, 0, 0x8001, Seg::kNone, 8, false},
    {"movl $0x80000001,(%rax)", {0xc7, 0x00, 0x01, 0x00, 0x00, 0x80}, Mode::kLong64, Op::kStoreImm, 4, 0, false, 0, 0x80000001, Seg::kNone, 8, false},
    {"movq $-2,(%rax)", {0x48, 0xc7, 0x00, 0xfe, 0xff, 0xff, 0xff}, Mode::kLong64, Op::kStoreImm, 8, 0, false, 0, 0xfffffffffffffffe, Seg::kNone, 8, false},
    {"movq $0x7fffffff,(%rax)", {0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0x7f}, Mode::kLong64, Op::kStoreImm, 8, 0, false, 0, 0x7fffffff, Seg::kNone, 8, false},
    {"movq $-0x80000000,0x10(%r13,%r14,8)", {0x4b, 0xc7, 0x44, 0xf5, 0x10, 0x00, 0x00, 0x00, 0x80}, Mode::kLong64, Op::kStoreImm, 8, 0, false, 0, 0xffffffff80000000, Seg::kNone, 8, false},
    {"movabs 0x1122334455667788,%al", {0xa0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kLoad, 1, 0, false, 1, 0, Seg::kNone, 8, false},
    {"movabs 0x1122334455667788,%ax", {0x66, 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kLoad, 2, 0, false, 2, 0, Seg::kNone, 8, false},
    {"movabs 0x1122334455667788,%eax", {0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kLoad, 4, 0, false, 4, 0, Seg::kNone, 8, false},
    {"movabs 0x1122334455667788,%rax", {0x48, 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kLoad, 8, 0, false, 8, 0, Seg::kNone, 8, false},
    {"movabs %al,0x1122334455667788", {0xa2, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kStore, 1, 0, false, 0, 0, Seg::kNone, 8, false},
    {"movabs %ax,0x1122334455667788", {0x66, 0xa3, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kStore, 2, 0, false, 0, 0, Seg::kNone, 8, false},
    {"movabs %eax,0x1122334455667788", {0xa3, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 8, false},
    {"movabs %rax,0x1122334455667788", {0x48, 0xa3, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kStore, 8, 0, false, 0, 0, Seg::kNone, 8, false},
    {"addr32 mov 0x11223344,%eax", {0x67, 0xa1, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kLoad, 4, 0, false, 4, 0, Seg::kNone, 4, false},
    {"addr32 mov %al,0x11223344", {0x67, 0xa2, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kStore, 1, 0, false, 0, 0, Seg::kNone, 4, false},
    {"addr32 mov %rax,0x11223344", {0x67, 0x48, 0xa3, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kStore, 8, 0, false, 0, 0, Seg::kNone, 4, false},
    {"movzbl (%rax),%eax", {0x0f, 0xb6, 0x00}, Mode::kLong64, Op::kLoadZeroExtend, 1, 0, false, 4, 0, Seg::kNone, 8, false},
    {"movzbw (%rax),%ax", {0x66, 0x0f, 0xb6, 0x00}, Mode::kLong64, Op::kLoadZeroExtend, 1, 0, false, 2, 0, Seg::kNone, 8, false},
    {"movzbq (%rax),%rax", {0x48, 0x0f, 0xb6, 0x00}, Mode::kLong64, Op::kLoadZeroExtend, 1, 0, false, 8, 0, Seg::kNone, 8, false},
    {"movzwl (%rax),%eax", {0x0f, 0xb7, 0x00}, Mode::kLong64, Op::kLoadZeroExtend, 2, 0, false, 4, 0, Seg::kNone, 8, false},
    {"movzwq (%rax),%r8", {0x4c, 0x0f, 0xb7, 0x00}, Mode::kLong64, Op::kLoadZeroExtend, 2, 8, false, 8, 0, Seg::kNone, 8, false},
    {"data16 movzwl (%rax),%eax", {0x66, 0x0f, 0xb7, 0x00}, Mode::kLong64, Op::kLoadZeroExtend, 2, 0, false, 2, 0, Seg::kNone, 8, false},
    {"movzbl (%rax),%r9d", {0x44, 0x0f, 0xb6, 0x08}, Mode::kLong64, Op::kLoadZeroExtend, 1, 9, false, 4, 0, Seg::kNone, 8, false},
    {"movsbl (%rax),%ecx", {0x0f, 0xbe, 0x08}, Mode::kLong64, Op::kLoadSignExtend, 1, 1, false, 4, 0, Seg::kNone, 8, false},
    {"movsbw (%rax),%cx", {0x66, 0x0f, 0xbe, 0x08}, Mode::kLong64, Op::kLoadSignExtend, 1, 1, false, 2, 0, Seg::kNone, 8, false},
    {"movsbq (%rax),%rcx", {0x48, 0x0f, 0xbe, 0x08}, Mode::kLong64, Op::kLoadSignExtend, 1, 1, false, 8, 0, Seg::kNone, 8, false},
    {"movswl (%rax),%edx", {0x0f, 0xbf, 0x10}, Mode::kLong64, Op::kLoadSignExtend, 2, 2, false, 4, 0, Seg::kNone, 8, false},
    {"movswq (%rax),%r15", {0x4c, 0x0f, 0xbf, 0x38}, Mode::kLong64, Op::kLoadSignExtend, 2, 15, false, 8, 0, Seg::kNone, 8, false},
    {"data16 movswl (%rax),%edx", {0x66, 0x0f, 0xbf, 0x10}, Mode::kLong64, Op::kLoadSignExtend, 2, 2, false, 2, 0, Seg::kNone, 8, false},
    {"movnti %eax,(%rax)", {0x0f, 0xc3, 0x00}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 8, false},
    {"movnti %rax,(%rax)", {0x48, 0x0f, 0xc3, 0x00}, Mode::kLong64, Op::kStore, 8, 0, false, 0, 0, Seg::kNone, 8, false},
    {"movnti %r15,(%rax)", {0x4c, 0x0f, 0xc3, 0x38}, Mode::kLong64, Op::kStore, 8, 15, false, 0, 0, Seg::kNone, 8, false},
    {"movnti %r8d,0x12345678(%rip)", {0x44, 0x0f, 0xc3, 0x05, 0x78, 0x56, 0x34, 0x12}, Mode::kLong64, Op::kStore, 4, 8, false, 0, 0, Seg::kNone, 8, true},
    {"mov %ecx,(%rax)", {0x89, 0x08}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,(%rsp)", {0x89, 0x0c, 0x24}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,(%rbp)", {0x89, 0x4d, 0x00}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,(%r12)", {0x41, 0x89, 0x0c, 0x24}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,(%r13)", {0x41, 0x89, 0x4d, 0x00}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,0x12(%rax)", {0x89, 0x48, 0x12}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,0x12345678(%rax)", {0x89, 0x88, 0x78, 0x56, 0x34, 0x12}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,-0x80(%rax)", {0x89, 0x48, 0x80}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,(%rax,%rbx,4)", {0x89, 0x0c, 0x98}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,(%rax,%r12,8)", {0x42, 0x89, 0x0c, 0xe0}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,(%r8,%r9,2)", {0x43, 0x89, 0x0c, 0x48}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,0x10(%rsp)", {0x89, 0x4c, 0x24, 0x10}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,0x1000(%rsp,%rbx)", {0x89, 0x8c, 0x1c, 0x00, 0x10, 0x00, 0x00}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,0x12345678(,%rbx,8)", {0x89, 0x0c, 0xdd, 0x78, 0x56, 0x34, 0x12}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,0x12345678(,%r13,1)", {0x42, 0x89, 0x0c, 0x2d, 0x78, 0x56, 0x34, 0x12}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,0x0(%rip)", {0x89, 0x0d, 0x00, 0x00, 0x00, 0x00}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, true},
    {"mov %ecx,-0x10(%rip)", {0x89, 0x0d, 0xf0, 0xff, 0xff, 0xff}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, true},
    {"mov %ecx,0x12345678", {0x89, 0x0c, 0x25, 0x78, 0x56, 0x34, 0x12}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,(%rbp,%rax)", {0x89, 0x4c, 0x05, 0x00}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,(%r13,%rax)", {0x41, 0x89, 0x4c, 0x05, 0x00}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,0x7f(%r13,%rax,2)", {0x41, 0x89, 0x4c, 0x45, 0x7f}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,0x80(%r12)", {0x41, 0x89, 0x8c, 0x24, 0x80, 0x00, 0x00, 0x00}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"mov %ecx,(%eax)", {0x67, 0x89, 0x08}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %ecx,0x10(%eip)", {0x67, 0x89, 0x0d, 0x10, 0x00, 0x00, 0x00}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, true},
    {"mov %ecx,(%esp,%eax,4)", {0x67, 0x89, 0x0c, 0x84}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %ecx,(%r8d)", {0x67, 0x41, 0x89, 0x08}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %eax,%fs:(%rax)", {0x64, 0x89, 0x00}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kFs, 8, false},
    {"mov %eax,%gs:0x10(%rax)", {0x65, 0x89, 0x40, 0x10}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kGs, 8, false},
    {"mov %eax,%es:(%rax)", {0x26, 0x89, 0x00}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 8, false},
    {"mov %eax,%cs:(%rax)", {0x2e, 0x89, 0x00}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 8, false},
    {"mov %eax,%ss:(%rax)", {0x36, 0x89, 0x00}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 8, false},
    {"mov %rax,%fs:(%rax)", {0x64, 0x48, 0x89, 0x00}, Mode::kLong64, Op::kStore, 8, 0, false, 0, 0, Seg::kFs, 8, false},
    {"movq $1,%gs:0x28", {0x65, 0x48, 0xc7, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00}, Mode::kLong64, Op::kStoreImm, 8, 0, false, 0, 1, Seg::kGs, 8, false},
    {"mov %fs:0x1122334455667788,%rax", {0x64, 0x48, 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kLoad, 8, 0, false, 8, 0, Seg::kFs, 8, false},
    {"data16 mov %rax,(%rax)", {0x66, 0x48, 0x89, 0x00}, Mode::kLong64, Op::kStore, 8, 0, false, 0, 0, Seg::kNone, 8, false},
    {"xrelease mov %eax,(%rax)", {0xf3, 0x89, 0x00}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 8, false},
    {"xrelease movl $1,(%rax)", {0xf3, 0xc7, 0x00, 0x01, 0x00, 0x00, 0x00}, Mode::kLong64, Op::kStoreImm, 4, 0, false, 0, 1, Seg::kNone, 8, false},
    {"xrelease movb $1,(%rax)", {0xf3, 0xc6, 0x00, 0x01}, Mode::kLong64, Op::kStoreImm, 1, 0, false, 0, 1, Seg::kNone, 8, false},
    {"mov %fs:(%rax),%r8", {0x64, 0x4c, 0x8b, 0x00}, Mode::kLong64, Op::kLoad, 8, 8, false, 8, 0, Seg::kFs, 8, false},
    {"addr32 movzwl %fs:(%eax),%ecx", {0x64, 0x67, 0x0f, 0xb7, 0x08}, Mode::kLong64, Op::kLoadZeroExtend, 2, 1, false, 4, 0, Seg::kFs, 4, false},
    // ---- 32-bit protected mode (as --32) ----
    {"mov %ecx,(%eax)", {0x89, 0x08}, Mode::kProt32, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %ecx,0x12345678", {0x89, 0x0d, 0x78, 0x56, 0x34, 0x12}, Mode::kProt32, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %ecx,(%esp)", {0x89, 0x0c, 0x24}, Mode::kProt32, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %ecx,(%ebp)", {0x89, 0x4d, 0x00}, Mode::kProt32, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %ecx,0x10(%ebp,%esi,4)", {0x89, 0x4c, 0xb5, 0x10}, Mode::kProt32, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %ecx,0x12345678(,%esi,4)", {0x89, 0x0c, 0xb5, 0x78, 0x56, 0x34, 0x12}, Mode::kProt32, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %ecx,0x12345678(%ebx,%esi,4)", {0x89, 0x8c, 0xb3, 0x78, 0x56, 0x34, 0x12}, Mode::kProt32, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %cx,(%eax)", {0x66, 0x89, 0x08}, Mode::kProt32, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %cl,(%eax)", {0x88, 0x08}, Mode::kProt32, Op::kStore, 1, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %ah,(%eax)", {0x88, 0x20}, Mode::kProt32, Op::kStore, 1, 0, true, 0, 0, Seg::kNone, 4, false},
    {"mov %bh,(%eax)", {0x88, 0x38}, Mode::kProt32, Op::kStore, 1, 3, true, 0, 0, Seg::kNone, 4, false},
    {"mov (%eax),%dh", {0x8a, 0x30}, Mode::kProt32, Op::kLoad, 1, 2, true, 1, 0, Seg::kNone, 4, false},
    {"mov (%eax),%edi", {0x8b, 0x38}, Mode::kProt32, Op::kLoad, 4, 7, false, 4, 0, Seg::kNone, 4, false},
    {"mov (%eax),%sp", {0x66, 0x8b, 0x20}, Mode::kProt32, Op::kLoad, 2, 4, false, 2, 0, Seg::kNone, 4, false},
    {"addr16 mov %ecx,(%bx,%si)", {0x67, 0x89, 0x08}, Mode::kProt32, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 2, false},
    {"addr16 mov %ecx,0x1234", {0x67, 0x89, 0x0e, 0x34, 0x12}, Mode::kProt32, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 2, false},
    {"addr16 mov %ecx,0x12(%bp)", {0x67, 0x89, 0x4e, 0x12}, Mode::kProt32, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov 0x12345678,%eax", {0xa1, 0x78, 0x56, 0x34, 0x12}, Mode::kProt32, Op::kLoad, 4, 0, false, 4, 0, Seg::kNone, 4, false},
    {"mov 0x12345678,%al", {0xa0, 0x78, 0x56, 0x34, 0x12}, Mode::kProt32, Op::kLoad, 1, 0, false, 1, 0, Seg::kNone, 4, false},
    {"mov 0x12345678,%ax", {0x66, 0xa1, 0x78, 0x56, 0x34, 0x12}, Mode::kProt32, Op::kLoad, 2, 0, false, 2, 0, Seg::kNone, 4, false},
    {"mov %eax,0x12345678", {0xa3, 0x78, 0x56, 0x34, 0x12}, Mode::kProt32, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 4, false},
    {"mov %al,0x12345678", {0xa2, 0x78, 0x56, 0x34, 0x12}, Mode::kProt32, Op::kStore, 1, 0, false, 0, 0, Seg::kNone, 4, false},
    {"addr16 mov 0x1234,%al", {0x67, 0xa0, 0x34, 0x12}, Mode::kProt32, Op::kLoad, 1, 0, false, 1, 0, Seg::kNone, 2, false},
    {"addr16 mov %eax,0x1234", {0x67, 0xa3, 0x34, 0x12}, Mode::kProt32, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 2, false},
    {"mov %eax,%es:(%eax)", {0x26, 0x89, 0x00}, Mode::kProt32, Op::kStore, 4, 0, false, 0, 0, Seg::kEs, 4, false},
    {"mov %eax,%cs:(%eax)", {0x2e, 0x89, 0x00}, Mode::kProt32, Op::kStore, 4, 0, false, 0, 0, Seg::kCs, 4, false},
    {"mov %eax,%ss:(%eax)", {0x36, 0x89, 0x00}, Mode::kProt32, Op::kStore, 4, 0, false, 0, 0, Seg::kSs, 4, false},
    {"mov %eax,%ds:(%ebp)", {0x3e, 0x89, 0x45, 0x00}, Mode::kProt32, Op::kStore, 4, 0, false, 0, 0, Seg::kDs, 4, false},
    {"mov %eax,%fs:(%eax)", {0x64, 0x89, 0x00}, Mode::kProt32, Op::kStore, 4, 0, false, 0, 0, Seg::kFs, 4, false},
    {"mov %eax,%gs:(%eax)", {0x65, 0x89, 0x00}, Mode::kProt32, Op::kStore, 4, 0, false, 0, 0, Seg::kGs, 4, false},
    {"mov %fs:0x12345678,%eax", {0x64, 0xa1, 0x78, 0x56, 0x34, 0x12}, Mode::kProt32, Op::kLoad, 4, 0, false, 4, 0, Seg::kFs, 4, false},
    {"movb $1,(%eax)", {0xc6, 0x00, 0x01}, Mode::kProt32, Op::kStoreImm, 1, 0, false, 0, 1, Seg::kNone, 4, false},
    {"movw $0x1234,(%eax)", {0x66, 0xc7, 0x00, 0x34, 0x12}, Mode::kProt32, Op::kStoreImm, 2, 0, false, 0, 0x1234, Seg::kNone, 4, false},
    {"movw $-1,(%eax)", {0x66, 0xc7, 0x00, 0xff, 0xff}, Mode::kProt32, Op::kStoreImm, 2, 0, false, 0, 0xffff, Seg::kNone, 4, false},
    {"movl $-1,(%eax)", {0xc7, 0x00, 0xff, 0xff, 0xff, 0xff}, Mode::kProt32, Op::kStoreImm, 4, 0, false, 0, 0xffffffff, Seg::kNone, 4, false},
    {"movl $0x12345678,0x10(%esp)", {0xc7, 0x44, 0x24, 0x10, 0x78, 0x56, 0x34, 0x12}, Mode::kProt32, Op::kStoreImm, 4, 0, false, 0, 0x12345678, Seg::kNone, 4, false},
    {"movzbl (%eax),%eax", {0x0f, 0xb6, 0x00}, Mode::kProt32, Op::kLoadZeroExtend, 1, 0, false, 4, 0, Seg::kNone, 4, false},
    {"movzbw (%eax),%ax", {0x66, 0x0f, 0xb6, 0x00}, Mode::kProt32, Op::kLoadZeroExtend, 1, 0, false, 2, 0, Seg::kNone, 4, false},
    {"movzwl (%eax),%ebx", {0x0f, 0xb7, 0x18}, Mode::kProt32, Op::kLoadZeroExtend, 2, 3, false, 4, 0, Seg::kNone, 4, false},
    {"movsbl (%eax),%eax", {0x0f, 0xbe, 0x00}, Mode::kProt32, Op::kLoadSignExtend, 1, 0, false, 4, 0, Seg::kNone, 4, false},
    {"movsbw (%eax),%si", {0x66, 0x0f, 0xbe, 0x30}, Mode::kProt32, Op::kLoadSignExtend, 1, 6, false, 2, 0, Seg::kNone, 4, false},
    {"movswl (%eax),%ebp", {0x0f, 0xbf, 0x28}, Mode::kProt32, Op::kLoadSignExtend, 2, 5, false, 4, 0, Seg::kNone, 4, false},
    {"movnti %ecx,(%eax)", {0x0f, 0xc3, 0x08}, Mode::kProt32, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"movnti %edi,0x12345678(,%eax,2)", {0x0f, 0xc3, 0x3c, 0x45, 0x78, 0x56, 0x34, 0x12}, Mode::kProt32, Op::kStore, 4, 7, false, 0, 0, Seg::kNone, 4, false},
    {"xrelease mov %ecx,(%eax)", {0xf3, 0x89, 0x08}, Mode::kProt32, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    // ---- 16-bit code (.code16), in real mode and in 16-bit protected mode ----
    {"mov %cx,(%bx,%si)", {0x89, 0x08}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,(%bx,%si)", {0x89, 0x08}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,(%bx,%di)", {0x89, 0x09}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,(%bx,%di)", {0x89, 0x09}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,(%bp,%si)", {0x89, 0x0a}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,(%bp,%si)", {0x89, 0x0a}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,(%bp,%di)", {0x89, 0x0b}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,(%bp,%di)", {0x89, 0x0b}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,(%si)", {0x89, 0x0c}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,(%si)", {0x89, 0x0c}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,(%di)", {0x89, 0x0d}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,(%di)", {0x89, 0x0d}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,0x1234", {0x89, 0x0e, 0x34, 0x12}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,0x1234", {0x89, 0x0e, 0x34, 0x12}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,(%bx)", {0x89, 0x0f}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,(%bx)", {0x89, 0x0f}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,0x12(%bx,%si)", {0x89, 0x48, 0x12}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,0x12(%bx,%si)", {0x89, 0x48, 0x12}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,-0x12(%di)", {0x89, 0x4d, 0xee}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,-0x12(%di)", {0x89, 0x4d, 0xee}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,0x1234(%bp)", {0x89, 0x8e, 0x34, 0x12}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,0x1234(%bp)", {0x89, 0x8e, 0x34, 0x12}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,0x1234(%bx,%di)", {0x89, 0x89, 0x34, 0x12}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,0x1234(%bx,%di)", {0x89, 0x89, 0x34, 0x12}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,0x0(%bp)", {0x89, 0x4e, 0x00}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cx,0x0(%bp)", {0x89, 0x4e, 0x00}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %ecx,(%bx)", {0x66, 0x89, 0x0f}, Mode::kReal, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %ecx,(%bx)", {0x66, 0x89, 0x0f}, Mode::kProt16, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %ecx,(%eax)", {0x67, 0x66, 0x89, 0x08}, Mode::kReal, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %ecx,(%eax)", {0x67, 0x66, 0x89, 0x08}, Mode::kProt16, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %cx,(%esp)", {0x67, 0x89, 0x0c, 0x24}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %cx,(%esp)", {0x67, 0x89, 0x0c, 0x24}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %cx,(%ebp)", {0x67, 0x89, 0x4d, 0x00}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %cx,(%ebp)", {0x67, 0x89, 0x4d, 0x00}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 4, false},
    {"addr32 mov %cx,0x12345678", {0x67, 0x89, 0x0d, 0x78, 0x56, 0x34, 0x12}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 4, false},
    {"addr32 mov %cx,0x12345678", {0x67, 0x89, 0x0d, 0x78, 0x56, 0x34, 0x12}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %cx,0x12345678(%eax,%ebx,4)", {0x67, 0x89, 0x8c, 0x98, 0x78, 0x56, 0x34, 0x12}, Mode::kReal, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %cx,0x12345678(%eax,%ebx,4)", {0x67, 0x89, 0x8c, 0x98, 0x78, 0x56, 0x34, 0x12}, Mode::kProt16, Op::kStore, 2, 1, false, 0, 0, Seg::kNone, 4, false},
    {"mov %cl,(%bx)", {0x88, 0x0f}, Mode::kReal, Op::kStore, 1, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %cl,(%bx)", {0x88, 0x0f}, Mode::kProt16, Op::kStore, 1, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %ch,(%bx)", {0x88, 0x2f}, Mode::kReal, Op::kStore, 1, 1, true, 0, 0, Seg::kNone, 2, false},
    {"mov %ch,(%bx)", {0x88, 0x2f}, Mode::kProt16, Op::kStore, 1, 1, true, 0, 0, Seg::kNone, 2, false},
    {"mov %dh,(%bx)", {0x88, 0x37}, Mode::kReal, Op::kStore, 1, 2, true, 0, 0, Seg::kNone, 2, false},
    {"mov %dh,(%bx)", {0x88, 0x37}, Mode::kProt16, Op::kStore, 1, 2, true, 0, 0, Seg::kNone, 2, false},
    {"mov (%bx),%ah", {0x8a, 0x27}, Mode::kReal, Op::kLoad, 1, 0, true, 1, 0, Seg::kNone, 2, false},
    {"mov (%bx),%ah", {0x8a, 0x27}, Mode::kProt16, Op::kLoad, 1, 0, true, 1, 0, Seg::kNone, 2, false},
    {"mov (%bx),%bl", {0x8a, 0x1f}, Mode::kReal, Op::kLoad, 1, 3, false, 1, 0, Seg::kNone, 2, false},
    {"mov (%bx),%bl", {0x8a, 0x1f}, Mode::kProt16, Op::kLoad, 1, 3, false, 1, 0, Seg::kNone, 2, false},
    {"mov (%bx),%sp", {0x8b, 0x27}, Mode::kReal, Op::kLoad, 2, 4, false, 2, 0, Seg::kNone, 2, false},
    {"mov (%bx),%sp", {0x8b, 0x27}, Mode::kProt16, Op::kLoad, 2, 4, false, 2, 0, Seg::kNone, 2, false},
    {"mov (%bx),%edi", {0x66, 0x8b, 0x3f}, Mode::kReal, Op::kLoad, 4, 7, false, 4, 0, Seg::kNone, 2, false},
    {"mov (%bx),%edi", {0x66, 0x8b, 0x3f}, Mode::kProt16, Op::kLoad, 4, 7, false, 4, 0, Seg::kNone, 2, false},
    {"mov 0x1234,%ax", {0xa1, 0x34, 0x12}, Mode::kReal, Op::kLoad, 2, 0, false, 2, 0, Seg::kNone, 2, false},
    {"mov 0x1234,%ax", {0xa1, 0x34, 0x12}, Mode::kProt16, Op::kLoad, 2, 0, false, 2, 0, Seg::kNone, 2, false},
    {"mov 0x1234,%al", {0xa0, 0x34, 0x12}, Mode::kReal, Op::kLoad, 1, 0, false, 1, 0, Seg::kNone, 2, false},
    {"mov 0x1234,%al", {0xa0, 0x34, 0x12}, Mode::kProt16, Op::kLoad, 1, 0, false, 1, 0, Seg::kNone, 2, false},
    {"mov %ax,0x1234", {0xa3, 0x34, 0x12}, Mode::kReal, Op::kStore, 2, 0, false, 0, 0, Seg::kNone, 2, false},
    {"mov %ax,0x1234", {0xa3, 0x34, 0x12}, Mode::kProt16, Op::kStore, 2, 0, false, 0, 0, Seg::kNone, 2, false},
    {"mov %al,0x1234", {0xa2, 0x34, 0x12}, Mode::kReal, Op::kStore, 1, 0, false, 0, 0, Seg::kNone, 2, false},
    {"mov %al,0x1234", {0xa2, 0x34, 0x12}, Mode::kProt16, Op::kStore, 1, 0, false, 0, 0, Seg::kNone, 2, false},
    {"mov 0x1234,%eax", {0x66, 0xa1, 0x34, 0x12}, Mode::kReal, Op::kLoad, 4, 0, false, 4, 0, Seg::kNone, 2, false},
    {"mov 0x1234,%eax", {0x66, 0xa1, 0x34, 0x12}, Mode::kProt16, Op::kLoad, 4, 0, false, 4, 0, Seg::kNone, 2, false},
    {"addr32 mov %eax,0x12345678", {0x67, 0x66, 0xa3, 0x78, 0x56, 0x34, 0x12}, Mode::kReal, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 4, false},
    {"addr32 mov %eax,0x12345678", {0x67, 0x66, 0xa3, 0x78, 0x56, 0x34, 0x12}, Mode::kProt16, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 4, false},
    {"movb $5,(%bx)", {0xc6, 0x07, 0x05}, Mode::kReal, Op::kStoreImm, 1, 0, false, 0, 5, Seg::kNone, 2, false},
    {"movb $5,(%bx)", {0xc6, 0x07, 0x05}, Mode::kProt16, Op::kStoreImm, 1, 0, false, 0, 5, Seg::kNone, 2, false},
    {"movw $0x1234,(%bx)", {0xc7, 0x07, 0x34, 0x12}, Mode::kReal, Op::kStoreImm, 2, 0, false, 0, 0x1234, Seg::kNone, 2, false},
    {"movw $0x1234,(%bx)", {0xc7, 0x07, 0x34, 0x12}, Mode::kProt16, Op::kStoreImm, 2, 0, false, 0, 0x1234, Seg::kNone, 2, false},
    {"movw $-2,0x10(%bp)", {0xc7, 0x46, 0x10, 0xfe, 0xff}, Mode::kReal, Op::kStoreImm, 2, 0, false, 0, 0xfffe, Seg::kNone, 2, false},
    {"movw $-2,0x10(%bp)", {0xc7, 0x46, 0x10, 0xfe, 0xff}, Mode::kProt16, Op::kStoreImm, 2, 0, false, 0, 0xfffe, Seg::kNone, 2, false},
    {"movl $0x12345678,(%bx)", {0x66, 0xc7, 0x07, 0x78, 0x56, 0x34, 0x12}, Mode::kReal, Op::kStoreImm, 4, 0, false, 0, 0x12345678, Seg::kNone, 2, false},
    {"movl $0x12345678,(%bx)", {0x66, 0xc7, 0x07, 0x78, 0x56, 0x34, 0x12}, Mode::kProt16, Op::kStoreImm, 4, 0, false, 0, 0x12345678, Seg::kNone, 2, false},
    {"movl $0x80000000,0x1234", {0x66, 0xc7, 0x06, 0x34, 0x12, 0x00, 0x00, 0x00, 0x80}, Mode::kReal, Op::kStoreImm, 4, 0, false, 0, 0x80000000, Seg::kNone, 2, false},
    {"movl $0x80000000,0x1234", {0x66, 0xc7, 0x06, 0x34, 0x12, 0x00, 0x00, 0x00, 0x80}, Mode::kProt16, Op::kStoreImm, 4, 0, false, 0, 0x80000000, Seg::kNone, 2, false},
    {"movzbw (%bx),%ax", {0x0f, 0xb6, 0x07}, Mode::kReal, Op::kLoadZeroExtend, 1, 0, false, 2, 0, Seg::kNone, 2, false},
    {"movzbw (%bx),%ax", {0x0f, 0xb6, 0x07}, Mode::kProt16, Op::kLoadZeroExtend, 1, 0, false, 2, 0, Seg::kNone, 2, false},
    {"movzbl (%bx),%eax", {0x66, 0x0f, 0xb6, 0x07}, Mode::kReal, Op::kLoadZeroExtend, 1, 0, false, 4, 0, Seg::kNone, 2, false},
    {"movzbl (%bx),%eax", {0x66, 0x0f, 0xb6, 0x07}, Mode::kProt16, Op::kLoadZeroExtend, 1, 0, false, 4, 0, Seg::kNone, 2, false},
    {"movzwl (%bx),%edx", {0x66, 0x0f, 0xb7, 0x17}, Mode::kReal, Op::kLoadZeroExtend, 2, 2, false, 4, 0, Seg::kNone, 2, false},
    {"movzwl (%bx),%edx", {0x66, 0x0f, 0xb7, 0x17}, Mode::kProt16, Op::kLoadZeroExtend, 2, 2, false, 4, 0, Seg::kNone, 2, false},
    {"movsbw (%bx),%ax", {0x0f, 0xbe, 0x07}, Mode::kReal, Op::kLoadSignExtend, 1, 0, false, 2, 0, Seg::kNone, 2, false},
    {"movsbw (%bx),%ax", {0x0f, 0xbe, 0x07}, Mode::kProt16, Op::kLoadSignExtend, 1, 0, false, 2, 0, Seg::kNone, 2, false},
    {"movsbl (%bx),%ecx", {0x66, 0x0f, 0xbe, 0x0f}, Mode::kReal, Op::kLoadSignExtend, 1, 1, false, 4, 0, Seg::kNone, 2, false},
    {"movsbl (%bx),%ecx", {0x66, 0x0f, 0xbe, 0x0f}, Mode::kProt16, Op::kLoadSignExtend, 1, 1, false, 4, 0, Seg::kNone, 2, false},
    {"movswl (%bx),%edx", {0x66, 0x0f, 0xbf, 0x17}, Mode::kReal, Op::kLoadSignExtend, 2, 2, false, 4, 0, Seg::kNone, 2, false},
    {"movswl (%bx),%edx", {0x66, 0x0f, 0xbf, 0x17}, Mode::kProt16, Op::kLoadSignExtend, 2, 2, false, 4, 0, Seg::kNone, 2, false},
    {"movnti %ecx,(%bx)", {0x0f, 0xc3, 0x0f}, Mode::kReal, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 2, false},
    {"movnti %ecx,(%bx)", {0x0f, 0xc3, 0x0f}, Mode::kProt16, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 2, false},
    {"mov %es:(%bx),%ax", {0x26, 0x8b, 0x07}, Mode::kReal, Op::kLoad, 2, 0, false, 2, 0, Seg::kEs, 2, false},
    {"mov %es:(%bx),%ax", {0x26, 0x8b, 0x07}, Mode::kProt16, Op::kLoad, 2, 0, false, 2, 0, Seg::kEs, 2, false},
    {"mov %ax,%cs:(%bx)", {0x2e, 0x89, 0x07}, Mode::kReal, Op::kStore, 2, 0, false, 0, 0, Seg::kCs, 2, false},
    {"mov %ax,%cs:(%bx)", {0x2e, 0x89, 0x07}, Mode::kProt16, Op::kStore, 2, 0, false, 0, 0, Seg::kCs, 2, false},
    {"mov %ax,%ss:(%bx)", {0x36, 0x89, 0x07}, Mode::kReal, Op::kStore, 2, 0, false, 0, 0, Seg::kSs, 2, false},
    {"mov %ax,%ss:(%bx)", {0x36, 0x89, 0x07}, Mode::kProt16, Op::kStore, 2, 0, false, 0, 0, Seg::kSs, 2, false},
    {"mov %ax,%ds:(%bp)", {0x3e, 0x89, 0x46, 0x00}, Mode::kReal, Op::kStore, 2, 0, false, 0, 0, Seg::kDs, 2, false},
    {"mov %ax,%ds:(%bp)", {0x3e, 0x89, 0x46, 0x00}, Mode::kProt16, Op::kStore, 2, 0, false, 0, 0, Seg::kDs, 2, false},
    {"mov %ax,%fs:(%bx)", {0x64, 0x89, 0x07}, Mode::kReal, Op::kStore, 2, 0, false, 0, 0, Seg::kFs, 2, false},
    {"mov %ax,%fs:(%bx)", {0x64, 0x89, 0x07}, Mode::kProt16, Op::kStore, 2, 0, false, 0, 0, Seg::kFs, 2, false},
    {"mov %ax,%gs:0x1234", {0x65, 0xa3, 0x34, 0x12}, Mode::kReal, Op::kStore, 2, 0, false, 0, 0, Seg::kGs, 2, false},
    {"mov %ax,%gs:0x1234", {0x65, 0xa3, 0x34, 0x12}, Mode::kProt16, Op::kStore, 2, 0, false, 0, 0, Seg::kGs, 2, false},
    // ---- hand-encoded: prefix rules (SDM vol. 2 2.1.1, 2.2.1) ----
    // A REX followed by a legacy prefix is ignored (2.2.1): 66h applies, no W.
    {"rex.W data16 mov %ax,(%rax)", {0x48, 0x66, 0x89, 0x00}, Mode::kLong64, Op::kStore, 2, 0, false, 0, 0, Seg::kNone, 8, false},
    // ...and with no REX in effect, register 4 of a byte op is AH, not SPL.
    {"rex.B ds mov %ah,(%rax)", {0x41, 0x3e, 0x88, 0x20}, Mode::kLong64, Op::kStore, 1, 0, true, 0, 0, Seg::kNone, 8, false},
    {"rex data16 mov %ah,(%rax)", {0x40, 0x66, 0x88, 0x20}, Mode::kLong64, Op::kStore, 1, 0, true, 0, 0, Seg::kNone, 8, false},
    // Of two REX bytes only the one next to the opcode counts.
    {"rex.WR rex mov %ecx,(%rax)", {0x4c, 0x40, 0x89, 0x08}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 8, false},
    {"rex.R rex.W mov %rcx,(%rax)", {0x44, 0x48, 0x89, 0x08}, Mode::kLong64, Op::kStore, 8, 1, false, 0, 0, Seg::kNone, 8, false},
    // REX.R does not extend an opcode extension (/0) (2.2.1.2).
    {"rex.WR movq $-2,(%rax)", {0x4c, 0xc7, 0x00, 0xfe, 0xff, 0xff, 0xff}, Mode::kLong64, Op::kStoreImm, 8, 0, false, 0, 0xfffffffffffffffe, Seg::kNone, 8, false},
    // REX.W beats 66h; the byte forms ignore REX.W; REX.B/R do not move AL/rAX.
    {"data16 rex.W mov 0x1122334455667788,%rax", {0x66, 0x48, 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kLoad, 8, 0, false, 8, 0, Seg::kNone, 8, false},
    {"rex.W movabs 0x1122334455667788,%al", {0x48, 0xa0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kLoad, 1, 0, false, 1, 0, Seg::kNone, 8, false},
    {"rex.B movabs 0x1122334455667788,%eax", {0x41, 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kLoad, 4, 0, false, 4, 0, Seg::kNone, 8, false},
    {"rex.R movabs %eax,0x1122334455667788", {0x44, 0xa3, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 8, false},
    {"rex.W movb $0x80,(%rax)", {0x48, 0xc6, 0x00, 0x80}, Mode::kLong64, Op::kStoreImm, 1, 0, false, 0, 0x80, Seg::kNone, 8, false},
    // 64-bit mode: ES/CS/SS/DS overrides are ignored, FS/GS are not; they
    // neither cancel FS/GS nor are cancelled by them. Outside 64-bit mode
    // the last segment prefix wins.
    {"fs ds mov %eax,(%rax)", {0x64, 0x3e, 0x89, 0x00}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kFs, 8, false},
    {"ds fs mov %eax,(%rax)", {0x3e, 0x64, 0x89, 0x00}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kFs, 8, false},
    {"gs fs mov %eax,(%rax)", {0x65, 0x64, 0x89, 0x00}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kFs, 8, false},
    {"fs ds mov %eax,(%eax)", {0x64, 0x3e, 0x89, 0x00}, Mode::kProt32, Op::kStore, 4, 0, false, 0, 0, Seg::kDs, 4, false},
    {"ds fs mov %eax,(%eax)", {0x3e, 0x64, 0x89, 0x00}, Mode::kProt32, Op::kStore, 4, 0, false, 0, 0, Seg::kFs, 4, false},
    {"gs es mov %ax,(%bx,%si)", {0x65, 0x26, 0x89, 0x00}, Mode::kReal, Op::kStore, 2, 0, false, 0, 0, Seg::kEs, 2, false},
    {"gs es mov %ax,(%bx,%si)", {0x65, 0x26, 0x89, 0x00}, Mode::kProt16, Op::kStore, 2, 0, false, 0, 0, Seg::kEs, 2, false},
    {"cs movnti %eax,(%rax)", {0x2e, 0x0f, 0xc3, 0x00}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 8, false},
    // Repeated prefixes are legal and idempotent; F2/F3 are ignored on MOV.
    {"data16 data16 data16 mov %ax,(%rax)", {0x66, 0x66, 0x66, 0x89, 0x00}, Mode::kLong64, Op::kStore, 2, 0, false, 0, 0, Seg::kNone, 8, false},
    {"addr32 addr32 mov %ecx,(%eax)", {0x67, 0x67, 0x89, 0x08}, Mode::kLong64, Op::kStore, 4, 1, false, 0, 0, Seg::kNone, 4, false},
    {"data16 data16 mov %eax,(%bx,%si)", {0x66, 0x66, 0x89, 0x00}, Mode::kReal, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 2, false},
    {"repnz mov %eax,(%rax)", {0xf2, 0x89, 0x00}, Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 8, false},
    {"repnz repz repnz mov (%eax),%ecx", {0xf2, 0xf3, 0xf2, 0x8b, 0x08}, Mode::kProt32, Op::kLoad, 4, 1, false, 4, 0, Seg::kNone, 4, false},
    {"repz movzbl (%rax),%ecx", {0xf3, 0x0f, 0xb6, 0x08}, Mode::kLong64, Op::kLoadZeroExtend, 1, 1, false, 4, 0, Seg::kNone, 8, false},
    // 67h + REX.W + RIP-relative + imm32: EIP-relative, 12 bytes.
    {"data16 addr32 movq $-1,0x10(%eip)", {0x66, 0x67, 0x48, 0xc7, 0x05, 0x10, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff}, Mode::kLong64, Op::kStoreImm, 8, 0, false, 0, 0xffffffffffffffff, Seg::kNone, 4, true},
    // Exactly 15 bytes is legal (2.3.11).
    {"13 x ds mov %eax,(%rax)", repeat(0x3e, 13, {0x89, 0x00}), Mode::kLong64, Op::kStore, 4, 0, false, 0, 0, Seg::kNone, 8, false},
    {"6 x ds rex.W mov %rax,0x12345678(%rax,%rbx,1)", repeat(0x3e, 6, {0x48, 0x89, 0x84, 0x18, 0x78, 0x56, 0x34, 0x12}), Mode::kLong64, Op::kStore, 8, 0, false, 0, 0, Seg::kNone, 8, false},
    {"3 x es movq $-1,0x12345678(%rax,%rbx,1)", repeat(0x26, 3, {0x48, 0xc7, 0x84, 0x18, 0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0xff}), Mode::kLong64, Op::kStoreImm, 8, 0, false, 0, 0xffffffffffffffff, Seg::kNone, 8, false},
};

// Not a supported memory MOV: -EINVAL.
struct Invalid {
  const char *text;
  std::vector<u8> bytes;
  Mode mode;
};

const Invalid kInvalid[] = {
    // ---- as --64, as --32, .code16 ----
    {"mov %eax,%ebx", {0x89, 0xc3}, Mode::kLong64},
    {"mov %al,%bl", {0x88, 0xc3}, Mode::kLong64},
    {"mov %bl,%al", {0x88, 0xd8}, Mode::kLong64},
    {"mov %rax,%rbx", {0x48, 0x89, 0xc3}, Mode::kLong64},
    {"movb $1,%al", {0xb0, 0x01}, Mode::kLong64},
    {"movq $1,%rax", {0x48, 0xc7, 0xc0, 0x01, 0x00, 0x00, 0x00}, Mode::kLong64},
    {"movzbl %al,%eax", {0x0f, 0xb6, 0xc0}, Mode::kLong64},
    {"movzwl %ax,%eax", {0x0f, 0xb7, 0xc0}, Mode::kLong64},
    {"movsbq %al,%rax", {0x48, 0x0f, 0xbe, 0xc0}, Mode::kLong64},
    {"movswl %ax,%eax", {0x0f, 0xbf, 0xc0}, Mode::kLong64},
    {"mov %es,(%rax)", {0x8c, 0x00}, Mode::kLong64},
    {"mov (%rax),%es", {0x8e, 0x00}, Mode::kLong64},
    {"mov %rax,%cr0", {0x0f, 0x22, 0xc0}, Mode::kLong64},
    {"movabs $0x1122334455667788,%rax", {0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64},
    {"movsl", {0xa5}, Mode::kLong64},
    {"xchg %eax,(%rax)", {0x87, 0x00}, Mode::kLong64},
    {"add %eax,(%rax)", {0x01, 0x00}, Mode::kLong64},
    {"syscall", {0x0f, 0x05}, Mode::kLong64},
    {"nop", {0x90}, Mode::kLong64},
    {"mov %eax,%ebx", {0x89, 0xc3}, Mode::kProt32},
    {"inc %eax", {0x40}, Mode::kProt32},
    {"dec %eax", {0x48}, Mode::kProt32},
    {"mov %ax,%bx", {0x89, 0xc3}, Mode::kReal},
    {"mov %ax,%bx", {0x89, 0xc3}, Mode::kProt16},
    {"inc %ax", {0x40}, Mode::kReal},
    {"inc %ax", {0x40}, Mode::kProt16},
    // ---- hand-encoded ----
    // LOCK on MOV/MOVZX/MOVSX/MOVNTI is #UD (SDM vol. 2 "LOCK").
    {"lock mov %eax,(%rax)", {0xf0, 0x89, 0x00}, Mode::kLong64},
    {"lock mov %eax,(%eax)", {0xf0, 0x89, 0x00}, Mode::kProt32},
    {"lock mov %ax,(%bx,%si)", {0xf0, 0x89, 0x00}, Mode::kReal},
    {"ds lock mov %al,(%rax)", {0x3e, 0xf0, 0x88, 0x00}, Mode::kLong64},
    {"lock movl $1,(%rax)", {0xf0, 0xc7, 0x00, 0x01, 0x00, 0x00, 0x00}, Mode::kLong64},
    {"lock movzbl (%rax),%eax", {0xf0, 0x0f, 0xb6, 0x00}, Mode::kLong64},
    {"lock movnti %eax,(%rax)", {0xf0, 0x0f, 0xc3, 0x00}, Mode::kLong64},
    // MOVNTI is "NP 0F C3": 66h/F2h/F3h make it #UD.
    {"data16 movnti %eax,(%rax)", {0x66, 0x0f, 0xc3, 0x00}, Mode::kLong64},
    {"repz movnti %eax,(%rax)", {0xf3, 0x0f, 0xc3, 0x00}, Mode::kLong64},
    {"repnz movnti %eax,(%eax)", {0xf2, 0x0f, 0xc3, 0x00}, Mode::kProt32},
    {"data16 movnti %ecx,(%bx)", {0x66, 0x0f, 0xc3, 0x0f}, Mode::kReal},
    {"movnti %eax,%eax (mod=3)", {0x0f, 0xc3, 0xc0}, Mode::kLong64},
    // C6/C7 are /0 only; mod=3 reg=7 is XABORT/XBEGIN; mod=3 /0 has no memory.
    {"c7 /1", {0xc7, 0x08, 0x01, 0x00, 0x00, 0x00}, Mode::kLong64},
    {"c7 /7", {0xc7, 0x38, 0x01, 0x00, 0x00, 0x00}, Mode::kProt32},
    {"c6 /2", {0xc6, 0x10, 0x01}, Mode::kReal},
    {"rex.R c6 /5", {0x44, 0xc6, 0x28, 0x01}, Mode::kLong64},
    {"xabort $0", {0xc6, 0xf8, 0x00}, Mode::kLong64},
    {"xbegin", {0xc7, 0xf8, 0x00, 0x00, 0x00, 0x00}, Mode::kLong64},
    {"movb $1,%al (c6 /0 mod=3)", {0xc6, 0xc0, 0x01}, Mode::kLong64},
    {"movw $1,%ax (c7 /0 mod=3)", {0xc7, 0xc0, 0x01, 0x00}, Mode::kReal},
    {"mov %al,%ah (8a mod=3)", {0x8a, 0xe0}, Mode::kProt32},
    {"mov %ax,%cx (8b mod=3)", {0x8b, 0xc8}, Mode::kProt16},
    {"movsbl %al,%eax (0f be mod=3)", {0x0f, 0xbe, 0xc0}, Mode::kProt32},
    // 40h-4Fh are INC/DEC outside 64-bit mode, not REX.
    {"dec %eax; mov %eax,(%eax)", {0x48, 0x89, 0x00}, Mode::kProt32},
    {"inc %ecx; mov %eax,(%eax)", {0x41, 0x89, 0x00}, Mode::kProt16},
    {"dec %ax; mov %ax,(%bx,%si)", {0x48, 0x89, 0x00}, Mode::kReal},
    // Other opcodes: VEX, 3DNow!, POPCNT's 0F B8, MOVBE's 0F 38 F1.
    {"vex", {0xc5, 0xf9, 0x7f, 0x00}, Mode::kLong64},
    {"0f 0f", {0x0f, 0x0f, 0x00, 0x00}, Mode::kLong64},
    {"repz 0f b8", {0xf3, 0x0f, 0xb8, 0x00}, Mode::kLong64},
    {"movbe %eax,(%rax)", {0x0f, 0x38, 0xf1, 0x00}, Mode::kLong64},
};

// Lengths of 89 /r (MOV r/m, r) for every ModRM byte, as objdump decodes
// them (one 16-byte slot per ModRM/SIB, padded with NOPs), when the SIB
// base is anything but 101b and when it is 101b (objdump confirmed that
// no other SIB bit changes the length); one digit per ModRM byte, 00h
// first. mod=3 entries are objdump's register forms: the decoder must
// reject those. The 16-bit rows hold in real and 16-bit protected mode.
struct LengthOracle {
  Mode mode;
  std::vector<u8> prefixes;
  const char *base_other;
  const char *base_101;
};

const LengthOracle kOracle[] = {
    {Mode::kReal, {},
     "22222242222222422222224222222242222222422222224222222242222222423333333333333333333333333333333333333333333333333333333333333333"
     "44444444444444444444444444444444444444444444444444444444444444442222222222222222222222222222222222222222222222222222222222222222",
     "22222242222222422222224222222242222222422222224222222242222222423333333333333333333333333333333333333333333333333333333333333333"
     "44444444444444444444444444444444444444444444444444444444444444442222222222222222222222222222222222222222222222222222222222222222"},
    {Mode::kReal, {0x67},
     "33334733333347333333473333334733333347333333473333334733333347334444544444445444444454444444544444445444444454444444544444445444"
     "77778777777787777777877777778777777787777777877777778777777787773333333333333333333333333333333333333333333333333333333333333333",
     "33338733333387333333873333338733333387333333873333338733333387334444544444445444444454444444544444445444444454444444544444445444"
     "77778777777787777777877777778777777787777777877777778777777787773333333333333333333333333333333333333333333333333333333333333333"},
    {Mode::kProt32, {},
     "22223622222236222222362222223622222236222222362222223622222236223333433333334333333343333333433333334333333343333333433333334333"
     "66667666666676666666766666667666666676666666766666667666666676662222222222222222222222222222222222222222222222222222222222222222",
     "22227622222276222222762222227622222276222222762222227622222276223333433333334333333343333333433333334333333343333333433333334333"
     "66667666666676666666766666667666666676666666766666667666666676662222222222222222222222222222222222222222222222222222222222222222"},
    {Mode::kProt32, {0x67},
     "33333353333333533333335333333353333333533333335333333353333333534444444444444444444444444444444444444444444444444444444444444444"
     "55555555555555555555555555555555555555555555555555555555555555553333333333333333333333333333333333333333333333333333333333333333",
     "33333353333333533333335333333353333333533333335333333353333333534444444444444444444444444444444444444444444444444444444444444444"
     "55555555555555555555555555555555555555555555555555555555555555553333333333333333333333333333333333333333333333333333333333333333"},
    {Mode::kLong64, {},
     "22223622222236222222362222223622222236222222362222223622222236223333433333334333333343333333433333334333333343333333433333334333"
     "66667666666676666666766666667666666676666666766666667666666676662222222222222222222222222222222222222222222222222222222222222222",
     "22227622222276222222762222227622222276222222762222227622222276223333433333334333333343333333433333334333333343333333433333334333"
     "66667666666676666666766666667666666676666666766666667666666676662222222222222222222222222222222222222222222222222222222222222222"},
    {Mode::kLong64, {0x67},
     "33334733333347333333473333334733333347333333473333334733333347334444544444445444444454444444544444445444444454444444544444445444"
     "77778777777787777777877777778777777787777777877777778777777787773333333333333333333333333333333333333333333333333333333333333333",
     "33338733333387333333873333338733333387333333873333338733333387334444544444445444444454444444544444445444444454444444544444445444"
     "77778777777787777777877777778777777787777777877777778777777787773333333333333333333333333333333333333333333333333333333333333333"},
    {Mode::kLong64, {0x41},
     "33334733333347333333473333334733333347333333473333334733333347334444544444445444444454444444544444445444444454444444544444445444"
     "77778777777787777777877777778777777787777777877777778777777787773333333333333333333333333333333333333333333333333333333333333333",
     "33338733333387333333873333338733333387333333873333338733333387334444544444445444444454444444544444445444444454444444544444445444"
     "77778777777787777777877777778777777787777777877777778777777787773333333333333333333333333333333333333333333333333333333333333333"},
    {Mode::kLong64, {0x4b},
     "33334733333347333333473333334733333347333333473333334733333347334444544444445444444454444444544444445444444454444444544444445444"
     "77778777777787777777877777778777777787777777877777778777777787773333333333333333333333333333333333333333333333333333333333333333",
     "33338733333387333333873333338733333387333333873333338733333387334444544444445444444454444444544444445444444454444444544444445444"
     "77778777777787777777877777778777777787777777877777778777777787773333333333333333333333333333333333333333333333333333333333333333"},
};
// clang-format on

void expect_case(const Case &c, const Insn &insn) {
  EXPECT_EQ(insn.length, c.bytes.size());
  EXPECT_EQ(insn.op, c.op);
  EXPECT_EQ(insn.access_size, c.access_size);
  EXPECT_EQ(insn.reg, c.reg);
  EXPECT_EQ(insn.high_byte, c.high_byte);
  EXPECT_EQ(insn.dest_size, c.dest_size);
  EXPECT_EQ(insn.imm, c.imm);
  EXPECT_EQ(insn.seg_override, c.seg);
  EXPECT_EQ(insn.addr_size, c.addr_size);
  EXPECT_EQ(insn.rip_relative, c.rip_relative);
}

TEST(Decoder, AssemblerEncodings) {
  for (const Case &c : kCases) {
    SCOPED_TRACE(c.text);
    SCOPED_TRACE(int(c.mode));
    Insn insn{};
    ASSERT_EQ(decode_exact(c.bytes, c.mode, &insn), 0);
    expect_case(c, insn);
  }
}

// The caller fetches 15 bytes when it can: bytes after the instruction must
// not change anything.
TEST(Decoder, TrailingBytesAreNotPartOfTheInstruction) {
  for (const Case &c : kCases) {
    SCOPED_TRACE(c.text);
    for (u8 fill : {0x00, 0x66, 0xff}) {
      std::vector<u8> padded = c.bytes;
      padded.resize(mk::x86::kMaxInsnLength, fill);
      Insn insn{};
      ASSERT_EQ(decode_exact(padded, c.mode, &insn), 0);
      expect_case(c, insn);
    }
  }
}

TEST(Decoder, EveryShorterFetchNeedsMoreBytes) {
  for (const Case &c : kCases) {
    SCOPED_TRACE(c.text);
    for (size_t avail = 0; avail < c.bytes.size(); avail++) {
      Insn insn{};
      insn.length = 0xee;
      EXPECT_EQ(decode_exact(c.bytes, avail, c.mode, &insn), -ENODATA) << "avail " << avail;
      EXPECT_EQ(insn.length, 0xee) << "*out written on failure";
    }
  }
}

TEST(Decoder, UnsupportedFormsAreInvalid) {
  for (const Invalid &c : kInvalid) {
    SCOPED_TRACE(c.text);
    Insn insn{};
    EXPECT_EQ(decode_exact(c.bytes, c.mode, &insn), -EINVAL);
    // Truncated, they are either still invalid or need more bytes.
    for (size_t avail = 0; avail < c.bytes.size(); avail++) {
      int ret = decode_exact(c.bytes, avail, c.mode, &insn);
      EXPECT_TRUE(ret == -EINVAL || ret == -ENODATA) << "avail " << avail << " ret " << ret;
    }
  }
}

void check_lengths(const LengthOracle &o, Mode mode) {
  SCOPED_TRACE(int(mode));
  SCOPED_TRACE(o.prefixes.empty() ? -1 : o.prefixes[0]);
  for (int modrm = 0; modrm < 256; modrm++) {
    for (int sib = 0; sib < 256; sib++) {
      std::vector<u8> bytes = o.prefixes;
      bytes.push_back(0x89);
      bytes.push_back(u8(modrm));
      bytes.push_back(u8(sib));
      bytes.resize(mk::x86::kMaxInsnLength, 0x90);
      const char *table = (sib & 7) == 5 ? o.base_101 : o.base_other;
      const int expected = table[modrm] - '0';
      Insn insn{};
      int ret = decode_exact(bytes, mode, &insn);
      if (modrm >> 6 == 3) {
        EXPECT_EQ(ret, -EINVAL) << "modrm " << modrm;
        continue;
      }
      ASSERT_EQ(ret, 0) << "modrm " << modrm << " sib " << sib;
      EXPECT_EQ(insn.length, expected) << "modrm " << modrm << " sib " << sib;
      EXPECT_EQ(insn.reg, (modrm >> 3) & 7);
      // In 64-bit mode mod=00 rm=101 is RIP-relative, even with REX.B (r13).
      EXPECT_EQ(insn.rip_relative, mode == Mode::kLong64 && (modrm & 0xc7) == 0x05);
      // The same bytes cut one short are not enough.
      EXPECT_EQ(decode_exact(bytes, insn.length - 1, mode, &insn), -ENODATA);
    }
  }
}

TEST(Decoder, ModRmSibDisplacementLengths) {
  for (const LengthOracle &o : kOracle) {
    check_lengths(o, o.mode);
    if (o.mode == Mode::kReal)
      check_lengths(o, Mode::kProt16);
  }
}

TEST(Decoder, OperandAndAddressSizeAttributes) {
  // SDM vol. 1 tables 3-3 and 3-4: 89 00 under 66h, 67h and REX.W.
  struct {
    Mode mode;
    std::vector<u8> bytes;
    u8 access_size, addr_size;
  } rows[] = {
      {Mode::kReal, {0x89, 0x00}, 2, 2},
      {Mode::kReal, {0x66, 0x89, 0x00}, 4, 2},
      {Mode::kReal, {0x67, 0x89, 0x00}, 2, 4},
      {Mode::kProt16, {0x66, 0x67, 0x89, 0x00}, 4, 4},
      {Mode::kProt32, {0x89, 0x00}, 4, 4},
      {Mode::kProt32, {0x66, 0x89, 0x00}, 2, 4},
      {Mode::kProt32, {0x67, 0x89, 0x00}, 4, 2},
      {Mode::kLong64, {0x89, 0x00}, 4, 8},
      {Mode::kLong64, {0x66, 0x89, 0x00}, 2, 8},
      {Mode::kLong64, {0x67, 0x89, 0x00}, 4, 4},
      {Mode::kLong64, {0x48, 0x89, 0x00}, 8, 8},
      {Mode::kLong64, {0x66, 0x67, 0x48, 0x89, 0x00}, 8, 4},
  };
  for (const auto &r : rows) {
    Insn insn{};
    ASSERT_EQ(decode_exact(r.bytes, r.mode, &insn), 0);
    EXPECT_EQ(insn.length, r.bytes.size());
    EXPECT_EQ(insn.access_size, r.access_size);
    EXPECT_EQ(insn.addr_size, r.addr_size);
  }
}

TEST(Decoder, MoffsWidthFollowsAddressSize) {
  // A0-A3 carry an address-size offset: 2, 4 or 8 bytes.
  struct {
    Mode mode;
    std::vector<u8> prefixes;
    size_t moffs;
  } rows[] = {
      {Mode::kReal, {}, 2},         {Mode::kProt16, {0x67}, 4}, {Mode::kProt32, {}, 4},
      {Mode::kProt32, {0x67}, 2},   {Mode::kLong64, {}, 8},     {Mode::kLong64, {0x67}, 4},
      {Mode::kLong64, {0x48}, 8},   {Mode::kLong64, {0x66}, 8}, {Mode::kLong64, {0x67, 0x48}, 4},
  };
  for (const auto &r : rows) {
    for (u8 opcode = 0xa0; opcode <= 0xa3; opcode++) {
      std::vector<u8> bytes = r.prefixes;
      bytes.push_back(opcode);
      bytes.resize(bytes.size() + r.moffs, 0x5a);
      Insn insn{};
      ASSERT_EQ(decode_exact(bytes, r.mode, &insn), 0);
      EXPECT_EQ(insn.length, bytes.size());
      EXPECT_EQ(insn.op, opcode & 2 ? Op::kStore : Op::kLoad);
      EXPECT_EQ(insn.reg, 0);
      EXPECT_FALSE(insn.high_byte);
      EXPECT_EQ(decode_exact(bytes, bytes.size() - 1, r.mode, &insn), -ENODATA);
    }
  }
}

TEST(Decoder, FifteenByteLimit) {
  Insn insn{};
  // 15 prefixes: the opcode would be byte 16.
  EXPECT_EQ(decode_exact(repeat(0x66, 15, {}), Mode::kLong64, &insn), -E2BIG);
  EXPECT_EQ(decode_exact(repeat(0x2e, 15, {}), Mode::kReal, &insn), -E2BIG);
  // 14 prefixes + opcode: the ModRM would be byte 16.
  EXPECT_EQ(decode_exact(repeat(0x3e, 14, {0x89}), Mode::kLong64, &insn), -E2BIG);
  EXPECT_EQ(decode_exact(repeat(0x3e, 14, {0x89}), Mode::kProt32, &insn), -E2BIG);
  // 14 prefixes + 0F: the second opcode byte would be byte 16.
  EXPECT_EQ(decode_exact(repeat(0x66, 14, {0x0f}), Mode::kProt16, &insn), -E2BIG);
  // 13 prefixes + REX + opcode (15 bytes) with a ModRM to come.
  EXPECT_EQ(decode_exact(repeat(0x67, 13, {0x48, 0x8b}), Mode::kLong64, &insn), -E2BIG);
  // 5 x ds + REX.W C7 80 disp32 imm32 = 16 bytes: the first 15 show it.
  std::vector<u8> sixteen = repeat(0x3e, 5, {0x48, 0xc7, 0x80, 0x10, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x7f});
  ASSERT_EQ(sixteen.size(), 16u);
  EXPECT_EQ(decode_exact(sixteen, 15, Mode::kLong64, &insn), -E2BIG);
  // avail above 15 counts as 15: still too long.
  EXPECT_EQ(decode_exact(sixteen, 16, Mode::kLong64, &insn), -E2BIG);
  // ...while a 15-byte one with a 16th byte after it is fine.
  std::vector<u8> fifteen = repeat(0x3e, 13, {0x89, 0x00, 0x90});
  ASSERT_EQ(decode_exact(fifteen, 16, Mode::kLong64, &insn), 0);
  EXPECT_EQ(insn.length, 15);
  // The limit is known before all the bytes are: 9 x ds + REX.W C7 80 is
  // 12 bytes with disp32 and imm32 (8 more) to come.
  EXPECT_EQ(decode_exact(repeat(0x3e, 9, {0x48, 0xc7, 0x80}), Mode::kLong64, &insn), -E2BIG);
  // moffs64: 6 prefixes + REX.W A1 + 8 = 16 bytes; with 67h (moffs32) 12.
  EXPECT_EQ(decode_exact(repeat(0x3e, 6, {0x48, 0xa1}), Mode::kLong64, &insn), -E2BIG);
  ASSERT_EQ(decode_exact(repeat(0x3e, 5, {0x67, 0x48, 0xa1, 1, 2, 3, 4}), Mode::kLong64, &insn), 0);
  EXPECT_EQ(insn.length, 12);
  // 16-bit: 11 x es + C7 06 disp16 imm16 = 17 bytes.
  EXPECT_EQ(decode_exact(repeat(0x26, 11, {0xc7, 0x06, 0x34, 0x12}), Mode::kReal, &insn), -E2BIG);
}

TEST(Decoder, NeedsMoreBytes) {
  Insn insn{};
  EXPECT_EQ(decode(nullptr, 0, Mode::kLong64, &insn), -ENODATA);
  EXPECT_EQ(decode_exact({0x66}, Mode::kProt32, &insn), -ENODATA);
  EXPECT_EQ(decode_exact({0x48}, Mode::kLong64, &insn), -ENODATA);
  EXPECT_EQ(decode_exact({0x0f}, Mode::kLong64, &insn), -ENODATA);
  EXPECT_EQ(decode_exact({0x0f, 0xb6}, Mode::kReal, &insn), -ENODATA);
  EXPECT_EQ(decode_exact({0xc7, 0x00}, Mode::kLong64, &insn), -ENODATA);
  // Out-of-range modes are rejected, not guessed.
  EXPECT_EQ(decode_exact({0x89, 0x00}, static_cast<Mode>(4), &insn), -EINVAL);
  EXPECT_EQ(decode_exact({0x89, 0x00}, static_cast<Mode>(0xff), &insn), -EINVAL);
}

// ---- register write-back and store values ----

constexpr u64 kRax = 0x1122334455667788;
constexpr u64 kNeg = 0xfedcba98f654c280;  // byte, word and dword all negative
constexpr u64 kPos = 0x0123456770350a7f;  // byte, word and dword all positive

Gprs sample_gprs() {
  Gprs g;
  for (int i = 0; i < 16; i++)
    g.r[i] = 0x0101010101010101ull * u64(0x10 + i);
  g.r[0] = kRax;
  return g;
}

Insn load(Op op, u8 access_size, u8 dest_size, u8 reg = 0, bool high_byte = false) {
  Insn insn{};
  insn.op = op;
  insn.access_size = access_size;
  insn.dest_size = dest_size;
  insn.reg = reg;
  insn.high_byte = high_byte;
  return insn;
}

TEST(Decoder, CompleteLoadSemantics) {
  struct {
    const char *what;
    Insn insn;
    u64 mem, before, after;
  } rows[] = {
      // MOV: 8/16-bit merge, 32-bit zero-extends (SDM vol. 1 3.4.1.1), 64 replaces.
      {"mov m8,%al", load(Op::kLoad, 1, 1), kNeg, kRax, 0x1122334455667780},
      {"mov m8,%ah", load(Op::kLoad, 1, 1, 0, true), kNeg, kRax, 0x1122334455668088},
      {"mov m16,%ax", load(Op::kLoad, 2, 2), kNeg, kRax, 0x112233445566c280},
      {"mov m32,%eax", load(Op::kLoad, 4, 4), kNeg, kRax, 0x00000000f654c280},
      {"mov m64,%rax", load(Op::kLoad, 8, 8), kNeg, kRax, kNeg},
      // MOVZX
      {"movzbw", load(Op::kLoadZeroExtend, 1, 2), kNeg, kRax, 0x1122334455660080},
      {"movzbl", load(Op::kLoadZeroExtend, 1, 4), kNeg, kRax, 0x80},
      {"movzbq", load(Op::kLoadZeroExtend, 1, 8), kNeg, kRax, 0x80},
      {"movzww (66 0f b7)", load(Op::kLoadZeroExtend, 2, 2), kNeg, kRax, 0x112233445566c280},
      {"movzwl", load(Op::kLoadZeroExtend, 2, 4), kNeg, kRax, 0xc280},
      {"movzwq", load(Op::kLoadZeroExtend, 2, 8), kNeg, kRax, 0xc280},
      // MOVSX, negative sources
      {"movsbw -", load(Op::kLoadSignExtend, 1, 2), kNeg, kRax, 0x112233445566ff80},
      {"movsbl -", load(Op::kLoadSignExtend, 1, 4), kNeg, kRax, 0x00000000ffffff80},
      {"movsbq -", load(Op::kLoadSignExtend, 1, 8), kNeg, kRax, 0xffffffffffffff80},
      {"movsww - (66 0f bf)", load(Op::kLoadSignExtend, 2, 2), kNeg, kRax, 0x112233445566c280},
      {"movswl -", load(Op::kLoadSignExtend, 2, 4), kNeg, kRax, 0x00000000ffffc280},
      {"movswq -", load(Op::kLoadSignExtend, 2, 8), kNeg, kRax, 0xffffffffffffc280},
      // MOVSX, positive sources
      {"movsbw +", load(Op::kLoadSignExtend, 1, 2), kPos, kRax, 0x112233445566007f},
      {"movsbl +", load(Op::kLoadSignExtend, 1, 4), kPos, kRax, 0x7f},
      {"movsbq +", load(Op::kLoadSignExtend, 1, 8), kPos, kRax, 0x7f},
      {"movswl +", load(Op::kLoadSignExtend, 2, 4), kPos, kRax, 0x0a7f},
      {"movswq +", load(Op::kLoadSignExtend, 2, 8), kPos, kRax, 0x0a7f},
      // Stores leave registers alone.
      {"store", load(Op::kStore, 4, 0), kNeg, kRax, kRax},
      {"store imm", load(Op::kStoreImm, 8, 0), kNeg, kRax, kRax},
  };
  for (const auto &r : rows) {
    SCOPED_TRACE(r.what);
    Gprs g = sample_gprs();
    g.r[0] = r.before;
    complete_load(r.insn, g, r.mem);
    EXPECT_EQ(g.r[0], r.after) << std::hex << g.r[0] << " != " << r.after;
    Gprs untouched = sample_gprs();
    for (int i = 1; i < 16; i++)
      EXPECT_EQ(g.r[i], untouched.r[i]) << "register " << i;
  }
}

// Decoded from real encodings, then completed: the whole load path.
TEST(Decoder, DecodeThenCompleteLoad) {
  struct {
    const char *text;
    std::vector<u8> bytes;
    Mode mode;
    u64 mem;
    int reg;
    u64 after;
  } rows[] = {
      {"mov (%rax),%ah", {0x8a, 0x20}, Mode::kLong64, 0xab, 0, 0x112233445566ab88},
      {"mov (%rax),%bh", {0x8a, 0x38}, Mode::kLong64, 0xab, 3, 0x131313131313ab13},
      {"mov (%rax),%spl", {0x40, 0x8a, 0x20}, Mode::kLong64, 0xab, 4, 0x14141414141414ab},
      {"mov (%rax),%r10b", {0x44, 0x8a, 0x10}, Mode::kLong64, 0xab, 10, 0x1a1a1a1a1a1a1aab},
      {"mov (%rax),%r11w", {0x66, 0x44, 0x8b, 0x18}, Mode::kLong64, 0xabcd, 11, 0x1b1b1b1b1b1babcd},
      {"mov (%rax),%esi", {0x8b, 0x30}, Mode::kLong64, 0xffffffffabcdef01, 6, 0xabcdef01},
      {"mov (%rax),%r14", {0x4c, 0x8b, 0x30}, Mode::kLong64, 0xffffffffabcdef01, 14, 0xffffffffabcdef01},
      {"movsbq (%rax),%rcx", {0x48, 0x0f, 0xbe, 0x08}, Mode::kLong64, 0x80, 1, 0xffffffffffffff80},
      {"movswq (%rax),%r15", {0x4c, 0x0f, 0xbf, 0x38}, Mode::kLong64, 0x8000, 15, 0xffffffffffff8000},
      {"movsbw (%rax),%cx", {0x66, 0x0f, 0xbe, 0x08}, Mode::kLong64, 0xfe, 1, 0x111111111111fffe},
      {"movzwq (%rax),%r8", {0x4c, 0x0f, 0xb7, 0x00}, Mode::kLong64, 0xffff, 8, 0xffff},
      {"mov (%eax),%dh", {0x8a, 0x30}, Mode::kProt32, 0x5a, 2, 0x1212121212125a12},
      {"mov (%bx),%sp (16-bit)", {0x8b, 0x27}, Mode::kReal, 0x1234, 4, 0x1414141414141234},
      {"mov (%bx),%edi (16-bit)", {0x66, 0x8b, 0x3f}, Mode::kReal, 0x12345678, 7, 0x12345678},
      {"movsbl (%bx),%ecx (16-bit)", {0x66, 0x0f, 0xbe, 0x0f}, Mode::kProt16, 0x81, 1, 0xffffff81},
      {"movabs 0x1122334455667788,%al", {0xa0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, 0xcd, 0, 0x11223344556677cd},
      {"movabs 0x1122334455667788,%eax", {0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, 0x9abcdef0, 0, 0x9abcdef0},
  };
  for (const auto &r : rows) {
    SCOPED_TRACE(r.text);
    Insn insn{};
    ASSERT_EQ(decode_exact(r.bytes, r.mode, &insn), 0);
    Gprs g = sample_gprs();
    complete_load(insn, g, r.mem);
    Gprs untouched = sample_gprs();
    for (int i = 0; i < 16; i++)
      EXPECT_EQ(g.r[i], i == r.reg ? r.after : untouched.r[i]) << "register " << i << std::hex << " = " << g.r[i];
  }
}

TEST(Decoder, StoreValues) {
  struct {
    const char *text;
    std::vector<u8> bytes;
    Mode mode;
    u64 value;
  } rows[] = {
      {"mov %al,(%rax)", {0x88, 0x00}, Mode::kLong64, 0x88},
      {"mov %ah,(%rax)", {0x88, 0x20}, Mode::kLong64, 0x77},
      {"mov %bh,(%rax)", {0x88, 0x38}, Mode::kLong64, 0x13},
      {"mov %spl,(%rax)", {0x40, 0x88, 0x20}, Mode::kLong64, 0x14},
      {"mov %r15b,(%rax)", {0x44, 0x88, 0x38}, Mode::kLong64, 0x1f},
      {"mov %ax,(%rax)", {0x66, 0x89, 0x00}, Mode::kLong64, 0x7788},
      {"mov %eax,(%rax)", {0x89, 0x00}, Mode::kLong64, 0x55667788},
      {"mov %rax,(%rax)", {0x48, 0x89, 0x00}, Mode::kLong64, kRax},
      {"mov %r9,(%r10)", {0x4d, 0x89, 0x0a}, Mode::kLong64, 0x1919191919191919},
      {"mov %r15w,(%rax)", {0x66, 0x44, 0x89, 0x38}, Mode::kLong64, 0x1f1f},
      {"movnti %r15,(%rax)", {0x4c, 0x0f, 0xc3, 0x38}, Mode::kLong64, 0x1f1f1f1f1f1f1f1f},
      {"movnti %eax,(%rax)", {0x0f, 0xc3, 0x00}, Mode::kLong64, 0x55667788},
      {"movabs %rax,0x1122334455667788", {0x48, 0xa3, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, kRax},
      {"movabs %al,0x1122334455667788", {0xa2, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11}, Mode::kLong64, 0x88},
      {"mov %ch,(%bx) (16-bit)", {0x88, 0x2f}, Mode::kReal, 0x11},
      {"mov %cx,(%bx) (16-bit)", {0x89, 0x0f}, Mode::kReal, 0x1111},
      {"mov %ecx,(%bx) (16-bit)", {0x66, 0x89, 0x0f}, Mode::kReal, 0x11111111},
      // Immediates, sign-extended to the operand size and no further.
      {"movb $0x80,(%rax)", {0xc6, 0x00, 0x80}, Mode::kLong64, 0x80},
      {"movw $0x8001,(%rax)", {0x66, 0xc7, 0x00, 0x01, 0x80}, Mode::kLong64, 0x8001},
      {"movl $0x80000001,(%rax)", {0xc7, 0x00, 0x01, 0x00, 0x00, 0x80}, Mode::kLong64, 0x80000001},
      {"movq $-2,(%rax)", {0x48, 0xc7, 0x00, 0xfe, 0xff, 0xff, 0xff}, Mode::kLong64, 0xfffffffffffffffe},
      {"movq $0x7fffffff,(%rax)", {0x48, 0xc7, 0x00, 0xff, 0xff, 0xff, 0x7f}, Mode::kLong64, 0x7fffffff},
      {"movw $0xfffe,0x10(%bp) (16-bit)", {0xc7, 0x46, 0x10, 0xfe, 0xff}, Mode::kReal, 0xfffe},
      {"movl $0x80000000,0x1234 (16-bit)", {0x66, 0xc7, 0x06, 0x34, 0x12, 0x00, 0x00, 0x00, 0x80}, Mode::kProt16, 0x80000000},
      // Loads have no store value.
      {"mov (%rax),%eax", {0x8b, 0x00}, Mode::kLong64, 0},
  };
  for (const auto &r : rows) {
    SCOPED_TRACE(r.text);
    Insn insn{};
    ASSERT_EQ(decode_exact(r.bytes, r.mode, &insn), 0);
    EXPECT_EQ(store_value(insn, sample_gprs()), r.value) << std::hex << store_value(insn, sample_gprs());
  }
}

// ---- hostile input ----

void check_invariants(const u8 *bytes, size_t avail, Mode mode, int ret, const Insn &insn) {
  ASSERT_TRUE(ret == 0 || ret == -EINVAL || ret == -E2BIG || ret == -ENODATA) << ret;
  if (ret != 0)
    return;
  ASSERT_GE(insn.length, 1);
  ASSERT_LE(insn.length, avail);
  ASSERT_LE(insn.length, mk::x86::kMaxInsnLength);
  const u8 s = insn.access_size;
  ASSERT_TRUE(s == 1 || s == 2 || s == 4 || s == 8) << int(s);
  ASSERT_LT(insn.reg, 16);
  if (insn.high_byte) {
    ASSERT_LT(insn.reg, 4);
    ASSERT_EQ(s, 1);
  }
  ASSERT_TRUE(insn.addr_size == 2 || insn.addr_size == 4 || insn.addr_size == 8);
  ASSERT_LE(int(insn.seg_override), int(Seg::kNone));
  if (mode != Mode::kLong64) {
    ASSERT_FALSE(insn.rip_relative);
    ASSERT_NE(insn.addr_size, 8);
    ASSERT_NE(s, 8);
    ASSERT_LT(insn.reg, 8);
  }
  switch (insn.op) {
  case Op::kLoad:
    ASSERT_EQ(insn.dest_size, s);
    break;
  case Op::kLoadZeroExtend:
    ASSERT_TRUE(s == 1 || s == 2);
    ASSERT_TRUE(insn.dest_size == 2 || insn.dest_size == 4 || insn.dest_size == 8);
    break;
  case Op::kLoadSignExtend:
    // MOVSX reads 1 or 2 bytes; MOVSXD (64-bit mode) 2 or 4.
    ASSERT_TRUE(s == 1 || s == 2 || (s == 4 && mode == Mode::kLong64));
    ASSERT_TRUE(insn.dest_size == 2 || insn.dest_size == 4 || insn.dest_size == 8);
    break;
  case Op::kStore:
    ASSERT_EQ(insn.dest_size, 0);
    break;
  case Op::kStoreImm:
    ASSERT_EQ(insn.dest_size, 0);
    if (s < 8) {
      ASSERT_EQ(insn.imm >> (8 * s), 0u);
    }
    break;
  default:
    FAIL() << "op " << int(insn.op);
  }
  // Decoding is prefix-consistent: the instruction alone decodes the same,
  // and one byte less is not enough.
  Insn again{};
  ASSERT_EQ(decode(bytes, insn.length, mode, &again), 0);
  ASSERT_TRUE(same(insn, again));
  ASSERT_EQ(decode(bytes, insn.length - 1, mode, &again), -ENODATA);
}

TEST(Decoder, EveryTwoByteString) {
  for (Mode mode : kAllModes) {
    for (int i = 0; i < 65536; i++) {
      const u8 src[2] = {u8(i), u8(i >> 8)};
      for (size_t avail = 0; avail <= 2; avail++) {
        Exact buf(src, avail);
        Insn insn{};
        int ret = decode(buf.get(), avail, mode, &insn);
        check_invariants(buf.get(), avail, mode, ret, insn);
        if (HasFatalFailure())
          return;
      }
    }
  }
}

u64 xorshift64(u64 &s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

TEST(Decoder, FuzzNeverCrashesOrOverreads) {
  // Half the bytes come from the ones the decoder cares about, so that
  // many strings decode and every path is walked.
  static const u8 kInteresting[] = {
      0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x40, 0x41, 0x44, 0x48, 0x4c, 0x4f,
      0x88, 0x89, 0x8a, 0x8b, 0xc6, 0xc7, 0xa0, 0xa1, 0xa2, 0xa3, 0x0f, 0xb6, 0xb7, 0xbe, 0xbf, 0xc3,
      0x00, 0x04, 0x05, 0x06, 0x24, 0x25, 0x44, 0x45, 0x84, 0x85, 0xc0, 0xff,
  };
  u64 seed = 0x9e3779b97f4a7c15ull;
  int decoded = 0, counts[4] = {};
  for (int iter = 0; iter < 300000; iter++) {
    u8 src[mk::x86::kMaxInsnLength];
    for (u8 &b : src) {
      u64 x = xorshift64(seed);
      b = (x & 1) ? kInteresting[(x >> 8) % sizeof(kInteresting)] : u8(x >> 16);
    }
    const u64 x = xorshift64(seed);
    // One string in four starts with a run of 8 to 14 prefixes and has all
    // 15 bytes, to reach the 15-byte limit.
    const bool prefix_run = ((x >> 32) & 3) == 0;
    if (prefix_run) {
      static const u8 kPrefixes[] = {0x66, 0x67, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0x48};
      for (size_t i = 0, n = 8 + (x >> 40) % 7; i < n; i++)
        src[i] = kPrefixes[(x >> (i % 8)) % sizeof(kPrefixes)];
    }
    const Mode mode = kAllModes[x & 3];
    const size_t avail = prefix_run ? mk::x86::kMaxInsnLength : (x >> 8) % (mk::x86::kMaxInsnLength + 1);
    Exact buf(src, avail);
    Insn insn{};
    int ret = decode(buf.get(), avail, mode, &insn);
    check_invariants(buf.get(), avail, mode, ret, insn);
    if (HasFatalFailure())
      FAIL() << "iteration " << iter;
    decoded += ret == 0;
    counts[ret == 0 ? 0 : ret == -EINVAL ? 1 : ret == -E2BIG ? 2 : 3]++;
  }
  // Each outcome is reached often: the fuzz is not just bouncing off.
  for (int c : counts)
    EXPECT_GT(c, 1000);
  printf("decoded %d, -EINVAL %d, -E2BIG %d, -ENODATA %d\n", counts[0], counts[1], counts[2], counts[3]);
  EXPECT_GT(decoded, 10000);
}

}  // namespace

TEST(DecoderMovsxd, LongModeForms) {
  using namespace mk::x86;
  Insn insn{};
  // 48 63 07: movslq (%rdi), %rax
  const mk::u8 w[] = {0x48, 0x63, 0x07};
  ASSERT_EQ(decode(w, sizeof(w), Mode::kLong64, &insn), 0);
  EXPECT_EQ(insn.op, Op::kLoadSignExtend);
  EXPECT_EQ(insn.access_size, 4);
  EXPECT_EQ(insn.dest_size, 8);
  EXPECT_EQ(insn.length, 3);
  Gprs g{};
  g.r[0] = 0x1111111111111111ull;
  complete_load(insn, g, 0x80000000u);
  EXPECT_EQ(g.r[0], 0xffffffff80000000ull);
  // 63 07 without REX.W: a 32-bit move that zero-extends into RAX.
  const mk::u8 d[] = {0x63, 0x07};
  ASSERT_EQ(decode(d, sizeof(d), Mode::kLong64, &insn), 0);
  EXPECT_EQ(insn.access_size, 4);
  EXPECT_EQ(insn.dest_size, 4);
  // Outside 64-bit mode 63h is ARPL, not a MOV form.
  EXPECT_EQ(decode(d, sizeof(d), Mode::kProt32, &insn), -EINVAL);
}
