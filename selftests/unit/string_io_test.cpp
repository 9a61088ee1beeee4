// SPDX-License-Identifier: GPL-2.0
// String port I/O (INS/OUTS with and without REP) from I/O-instruction VM
// exits: what userspace sees in kvm_run->io and the PIO page, what happens
// to RCX/RSI/RDI/RIP/RFLAGS and guest memory, compared with KVM 6.1's
// emulator (emulate.c, x86.c) including the scenario of the upstream
// tools/testing/selftests/kvm/x86_64/userspace_io_test.c.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <array>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "core/mmu/guest_phys_mem.h"
#include "core/rt/errno.h"
#include "core/x86/string_io.h"
#include "ia32/paging.h"

using mk::u16;
using mk::u32;
using mk::u64;
using mk::u8;
using mk::x86::CpuMode;
using mk::x86::Exception;
using mk::x86::IoExit;
using mk::x86::IoStep;
using mk::x86::PendingIn;
using mk::x86::Seg;
using mk::x86::StringIoEnv;
using mk::x86::StringIoRegs;
namespace pg = ia32::paging;
namespace q = mk::x86::io_qual;

namespace {

constexpr u64 kDf = 1ull << 10;
constexpr u64 kRf = 1ull << 16;
constexpr u64 kIf = 1ull << 9;

// Sparse guest RAM (4-KiB pages); the rest is MMIO.
class FakeMem : public mk::mmu::GuestPhysMem {
 public:
  void add_ram(u64 gpa, u64 len = 1) {
    for (u64 p = gpa & ~0xfffull; p < gpa + len; p += 4096)
      pages_[p];
  }
  void remove_ram(u64 gpa) { pages_.erase(gpa & ~0xfffull); }
  int read(u64 gpa, void *buf, size_t len) override {
    if (!covered(gpa, len))
      return -EFAULT;
    for (size_t i = 0; i < len; i++)
      static_cast<u8 *>(buf)[i] = at(gpa + i);
    return 0;
  }
  int write(u64 gpa, const void *buf, size_t len) override {
    if (!covered(gpa, len))
      return -EFAULT;
    for (size_t i = 0; i < len; i++)
      at(gpa + i) = static_cast<const u8 *>(buf)[i];
    data_writes++;
    return 0;
  }
  u8 &at(u64 gpa) { return pages_[gpa & ~0xfffull][gpa & 0xfff]; }
  void w64(u64 gpa, u64 v) {
    add_ram(gpa, 8);
    for (int i = 0; i < 8; i++)
      at(gpa + i) = u8(v >> (8 * i));
  }
  long data_writes = 0;

 private:
  bool covered(u64 gpa, size_t len) const {
    for (size_t i = 0; i < len; i++)
      if (!pages_.count((gpa + i) & ~0xfffull))
        return false;
    return true;
  }
  std::map<u64, std::array<u8, 4096>> pages_;
};

kvm_segment flat(u8 type, bool l = false) {
  kvm_segment s{};
  s.limit = 0xffffffff;
  s.type = type;
  s.present = 1;
  s.s = 1;
  s.db = !l;
  s.l = l;
  s.g = 1;
  return s;
}

// One vCPU: its environment, registers, kvm_run and PIO page.
struct Vcpu {
  FakeMem mem;
  StringIoEnv env{};
  StringIoRegs regs{};
  kvm_run run{};
  u8 pio[mk::x86::kPioPageSize];
  PendingIn pending{};
  Exception ex{0xee, false, 0, 0};

  Vcpu() {
    std::memset(pio, 0x5a, sizeof(pio));
    regs.rip = 0x1000;
    regs.rflags = 0x2 | kIf;
    env.guest_vendor_intel = true;
  }

  // 64-bit mode, paging identity-maps the first 4 GiB with 1-GByte user
  // pages (PML4 at 0x1000, PDPT at 0x2000; those are RAM, data pages are
  // added by the tests).
  void long_mode() {
    env.mode = CpuMode::kLong64;
    auto &p = env.paging;
    p.cr0 = pg::cr0::kPe | pg::cr0::kPg | pg::cr0::kWp;
    p.cr4 = pg::cr4::kPae;
    p.efer = pg::efer::kLme | pg::efer::kLma | pg::efer::kNxe;
    p.cr3 = 0x1000;
    p.maxphyaddr = 46;
    p.gbpages = true;
    mem.w64(0x1000, 0x2000 | 7);
    for (u64 i = 0; i < 4; i++)
      mem.w64(0x2000 + i * 8, (i << 30) | 7 | pg::entry::kPageSize);
    for (auto &s : env.seg)
      s = flat(3);
    env.seg[u8(Seg::kCs)] = flat(0xb, true);
  }
  // Protected mode, flat 4-GiB segments, no paging.
  void flat32() {
    env.mode = CpuMode::kProtected;
    env.paging = {};
    env.paging.cr0 = pg::cr0::kPe;
    for (auto &s : env.seg)
      s = flat(3);
    env.seg[u8(Seg::kCs)] = flat(0xb);
  }
  void real_mode(u16 es, u16 ds) {
    env.mode = CpuMode::kReal;
    env.paging = {};
    for (auto &s : env.seg) {
      s = flat(3);
      s.limit = 0xffff;
      s.db = 0;
      s.g = 0;
    }
    env.seg[u8(Seg::kEs)].base = u64(es) << 4;
    env.seg[u8(Seg::kDs)].base = u64(ds) << 4;
  }

  IoStep begin(const IoExit &x) {
    return mk::x86::begin(x, env, regs, mem, &run, pio, &pending, &ex);
  }
  IoStep complete() { return mk::x86::complete_in(env, regs, mem, pio, &pending, &ex); }
};

// An exit as the processor reports it: qualification + instruction info.
IoExit make_exit(bool in, u8 size, bool rep, u16 port, u8 addr_size, Seg seg = Seg::kDs, u8 len = 2) {
  const u64 size_enc = size == 1 ? 0 : size == 2 ? 1 : 3;
  const u64 qual = size_enc | (in ? q::kIn : 0) | q::kString | (rep ? q::kRep : 0) | (u64(port) << 16);
  const u32 asz = addr_size == 2 ? 0 : addr_size == 4 ? 1 : 2;
  const u32 info = (asz << 7) | (u32(seg) << 15);
  IoExit x{};
  EXPECT_EQ(0, mk::x86::decode_io_exit(qual, info, len, &x));
  return x;
}

void expect_io(const kvm_run &run, u8 dir, u8 size, u16 port, u32 count) {
  EXPECT_EQ(u32(KVM_EXIT_IO), run.exit_reason);
  EXPECT_EQ(dir, run.io.direction);
  EXPECT_EQ(size, run.io.size);
  EXPECT_EQ(port, run.io.port);
  EXPECT_EQ(count, run.io.count);
  EXPECT_EQ(4096u, run.io.data_offset) << "page 1 of the vCPU mmap (KVM_PIO_PAGE_OFFSET)";
}

// ------------------------------------------------------------ exit decode

TEST(StringIo, DecodeExitQualificationAndInfo) {
  IoExit x{};
  // rep insw (%dx),%es:(%rdi) at port 0x1f0, 64-bit address size; INS
  // ignores the segment field (undefined for INS).
  ASSERT_EQ(0, mk::x86::decode_io_exit(0x01f00039, (2u << 7) | (5u << 15), 3, &x));
  EXPECT_EQ(0x1f0, x.port);
  EXPECT_EQ(2, x.size);
  EXPECT_TRUE(x.in && x.string && x.rep);
  EXPECT_FALSE(x.immediate);
  EXPECT_EQ(8, x.addr_size);
  EXPECT_EQ(Seg::kEs, x.seg);
  EXPECT_EQ(3, x.insn_len);
  // outsl %fs:(%esi),(%dx): 32-bit addresses, FS.
  ASSERT_EQ(0, mk::x86::decode_io_exit(0x03f80013, (1u << 7) | (4u << 15), 2, &x));
  EXPECT_EQ(0x3f8, x.port);
  EXPECT_EQ(4, x.size);
  EXPECT_FALSE(x.in || x.rep);
  EXPECT_EQ(4, x.addr_size);
  EXPECT_EQ(Seg::kFs, x.seg);
  // out %al,$0x80: not a string instruction; the info field is not read.
  ASSERT_EQ(0, mk::x86::decode_io_exit(0x00800040, 0xffffffff, 2, &x));
  EXPECT_FALSE(x.string);
  EXPECT_TRUE(x.immediate);
  EXPECT_EQ(0, x.addr_size);
  EXPECT_EQ(Seg::kNone, x.seg);
  // Reserved bits 15:7 and 63:32 are ignored.
  ASSERT_EQ(0, mk::x86::decode_io_exit(0xffffffff0080ff80ull, 0, 1, &x));
  EXPECT_EQ(0x80, x.port);
  EXPECT_EQ(1, x.size);
}

TEST(StringIo, DecodeRejectsUnusedEncodings) {
  IoExit x{};
  x.port = 0x4242;
  for (u64 size_enc : {2, 4, 5, 6, 7})
    EXPECT_EQ(-EINVAL, mk::x86::decode_io_exit(size_enc, 0, 1, &x));
  for (u32 asz : {3, 4, 7})
    EXPECT_EQ(-EINVAL, mk::x86::decode_io_exit(q::kString, asz << 7, 1, &x));
  for (u32 seg : {6, 7})
    EXPECT_EQ(-EINVAL, mk::x86::decode_io_exit(q::kString, seg << 15, 1, &x));
  // The same segment values are ignored for INS.
  EXPECT_EQ(0, mk::x86::decode_io_exit(q::kString | q::kIn, 7u << 15, 1, &x));
  x.port = 0x4242;
  EXPECT_EQ(-EINVAL, mk::x86::decode_io_exit(0, 0, 0, &x));
  EXPECT_EQ(-EINVAL, mk::x86::decode_io_exit(0, 0, 16, &x));
  EXPECT_EQ(0x4242, x.port) << "nothing written on failure";
}

// ------------------------------------------------------------------ INS

TEST(StringIo, InsWithoutRep) {
  Vcpu v;
  v.flat32();
  v.mem.add_ram(0x3000);
  v.regs.rdi = 0x3010;
  v.regs.rcx = 77;
  v.regs.rflags |= kRf;
  const StringIoRegs before = v.regs;
  const IoExit x = make_exit(true, 2, false, 0x60, 4);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  expect_io(v.run, KVM_EXIT_IO_IN, 2, 0x60, 1);
  EXPECT_EQ(0, std::memcmp(&before, &v.regs, sizeof(before))) << "no register changes before the data is back";
  EXPECT_EQ(0, v.pio[0]);
  EXPECT_EQ(0, v.pio[1]);
  EXPECT_EQ(0x5a, v.pio[2]) << "only count * size bytes are zeroed";
  EXPECT_TRUE(v.pending.active);
  EXPECT_EQ(0, v.mem.data_writes);

  v.pio[0] = 0x34;
  v.pio[1] = 0x12;
  ASSERT_EQ(IoStep::kResume, v.complete());
  EXPECT_EQ(0x34, v.mem.at(0x3010));
  EXPECT_EQ(0x12, v.mem.at(0x3011));
  EXPECT_EQ(0x3012u, v.regs.rdi);
  EXPECT_EQ(77u, v.regs.rcx) << "RCX untouched without REP";
  EXPECT_EQ(0x1002u, v.regs.rip);
  EXPECT_FALSE(v.regs.rflags & kRf) << "RF cleared when the instruction completes";
  EXPECT_FALSE(v.pending.active);
  EXPECT_EQ(IoStep::kInvalid, v.complete()) << "nothing pending any more";
}

TEST(StringIo, RepInsBatchesToPageEndAndReadAhead) {
  Vcpu v;
  v.long_mode();
  v.mem.add_ram(0x10000, 0x3000);
  v.regs.rdi = 0x10f00;
  v.regs.rcx = 8192;
  const IoExit x = make_exit(true, 1, true, 0x80, 8, Seg::kEs, 2);
  std::vector<u32> counts;
  for (int guard = 0; guard < 100; guard++) {
    const u64 rip = v.regs.rip;
    const IoStep s = v.begin(x);
    if (s == IoStep::kResume) {
      EXPECT_EQ(rip + 2, v.regs.rip);
      break;
    }
    ASSERT_EQ(IoStep::kExitToUser, s);
    EXPECT_EQ(rip, v.regs.rip);
    counts.push_back(v.run.io.count);
    std::memset(v.pio, u8(counts.size()), v.run.io.count);
    ASSERT_EQ(IoStep::kResume, v.complete());
    EXPECT_EQ(rip, v.regs.rip) << "REP: RIP stays on the instruction";
    EXPECT_TRUE(v.regs.rflags & kRf) << "RF set while REP is in progress";
  }
  // 0x100 bytes to the page end, then KVM's 1024-byte read-ahead.
  const std::vector<u32> want = {256, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 768};
  EXPECT_EQ(want, counts);
  EXPECT_EQ(0u, v.regs.rcx);
  EXPECT_EQ(0x10f00u + 8192, v.regs.rdi);
  EXPECT_FALSE(v.regs.rflags & kRf);
  EXPECT_EQ(1, v.mem.at(0x10fff));
  EXPECT_EQ(2, v.mem.at(0x11000));
  EXPECT_EQ(9, v.mem.at(0x10f00 + 8191));
}

// tools/testing/selftests/kvm/x86_64/userspace_io_test.c, as the guest and
// its VMM do it: "rep insb" at port 0x80 into an 8-KiB stack buffer, the VMM
// stuffing RCX 2 -> 1 and 3 -> 8192 and filling the PIO page with 0xaa.
TEST(StringIo, UpstreamUserspaceIoTestScenario) {
  Vcpu v;
  v.long_mode();
  const u64 buffer = 0x7ffe3a48;  // some stack address
  v.mem.add_ram(buffer, 8192);
  const IoExit x = make_exit(true, 1, true, 0x80, 8, Seg::kEs, 2);

  auto guest_ins = [&](u32 count) {
    v.regs.rdi = buffer;
    v.regs.rcx = count;
    v.regs.rip = 0x401000;
    for (int guard = 0; guard < 100; guard++) {
      const IoStep s = v.begin(x);
      if (s == IoStep::kResume && v.regs.rip != 0x401000)
        return;
      ASSERT_EQ(IoStep::kExitToUser, s);
      // The VMM's loop body.
      EXPECT_EQ(0x80, v.run.io.port);
      if (v.regs.rcx == 2)
        v.regs.rcx = 1;
      if (v.regs.rcx == 3)
        v.regs.rcx = 8192;
      std::memset(v.pio + 0, 0xaa, 4096);
      ASSERT_EQ(IoStep::kResume, v.complete());
    }
    FAIL() << "the instruction never completed";
  };

  guest_ins(2);
  EXPECT_EQ(0u, v.regs.rcx);
  EXPECT_EQ(buffer + 1, v.regs.rdi);
  guest_ins(3);
  EXPECT_EQ(0u, v.regs.rcx);
  EXPECT_EQ(buffer + 8192, v.regs.rdi);
  for (u64 i = 0; i < 8192; i++)
    v.mem.at(buffer + i) = 0;
  guest_ins(8192);
  EXPECT_EQ(0u, v.regs.rcx);
  EXPECT_EQ(buffer + 8192, v.regs.rdi);
  for (u64 i = 0; i < 8192; i++)
    ASSERT_EQ(0xaa, v.mem.at(buffer + i)) << i;
}

TEST(StringIo, RepInsWithDfCountsDown) {
  Vcpu v;
  v.flat32();
  v.mem.add_ram(0x5000, 0x2000);
  v.regs.rflags |= kDf;
  v.regs.rdi = 0x6008;  // 8 bytes below RDI in this page
  v.regs.rcx = 100;
  const IoExit x = make_exit(true, 2, true, 0x1f0, 4, Seg::kEs);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  EXPECT_EQ(8u, v.run.io.count) << "KVM: offset_in_page(RDI) (bytes, compared with elements)";
  for (int i = 0; i < 16; i++)
    v.pio[i] = u8(0x10 + i);
  ASSERT_EQ(IoStep::kResume, v.complete());
  // Element i at RDI - 2i.
  EXPECT_EQ(0x10, v.mem.at(0x6008));
  EXPECT_EQ(0x11, v.mem.at(0x6009));
  EXPECT_EQ(0x12, v.mem.at(0x6006));
  EXPECT_EQ(0x1e, v.mem.at(0x5ffa));
  EXPECT_EQ(0x1f, v.mem.at(0x5ffb));
  EXPECT_EQ(0x6008u - 16, v.regs.rdi);
  EXPECT_EQ(92u, v.regs.rcx);
  // RDI at the bottom of a page with DF = 1: KVM's count is 0, made 1.
  v.regs.rdi = 0x6000;
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  EXPECT_EQ(1u, v.run.io.count);
  ASSERT_EQ(IoStep::kResume, v.complete());
  EXPECT_EQ(0x5ffeu, v.regs.rdi);
}

TEST(StringIo, InsDwordsCrossIntoTheNextPage) {
  // KVM compares bytes-to-page-end with an element count: 8 bytes left
  // gives 8 dwords, 24 of them on the next page, which here is on another
  // guest-physical page.
  Vcpu v;
  v.long_mode();
  v.env.paging.cr3 = 0x20000;
  v.mem.w64(0x20000, 0x21000 | 7);
  v.mem.w64(0x21000, 0x22000 | 7);
  v.mem.w64(0x22000, 0x23000 | 7);
  v.mem.w64(0x23000 + 8 * 8, 0x50000 | 7);  // la 0x8000 -> 0x50000
  v.mem.w64(0x23000 + 9 * 8, 0x70000 | 7);  // la 0x9000 -> 0x70000
  v.mem.add_ram(0x50000, 0x1000);
  v.mem.add_ram(0x70000, 0x1000);
  v.regs.rdi = 0x8ff8;
  v.regs.rcx = 1000;
  const IoExit x = make_exit(true, 4, true, 0xcfc, 8, Seg::kEs);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  EXPECT_EQ(8u, v.run.io.count);
  for (int i = 0; i < 32; i++)
    v.pio[i] = u8(i);
  ASSERT_EQ(IoStep::kResume, v.complete());
  EXPECT_EQ(0, v.mem.at(0x50ff8));
  EXPECT_EQ(7, v.mem.at(0x50fff));
  EXPECT_EQ(8, v.mem.at(0x70000));
  EXPECT_EQ(31, v.mem.at(0x70017));
  EXPECT_EQ(0x9018u, v.regs.rdi);
  EXPECT_EQ(992u, v.regs.rcx);
}

TEST(StringIo, InsElementStraddlingIntoAnAbsentPage) {
  Vcpu v;
  v.long_mode();
  v.env.paging.cr3 = 0x20000;
  v.mem.w64(0x20000, 0x21000 | 7);
  v.mem.w64(0x21000, 0x22000 | 7);
  v.mem.w64(0x22000, 0x23000 | 7);
  v.mem.w64(0x23000 + 8 * 8, 0x50000 | 7);  // la 0x9000 is not mapped
  v.mem.add_ram(0x50000, 0x1000);
  v.env.cpl = 3;
  v.regs.rdi = 0x8ffa;
  v.regs.rcx = 5;
  const IoExit x = make_exit(true, 4, true, 0xcfc, 8, Seg::kEs);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  EXPECT_EQ(5u, v.run.io.count);
  for (int i = 0; i < 20; i++)
    v.pio[i] = u8(0xc0 + i);
  ASSERT_EQ(IoStep::kInject, v.complete());
  // The first dword fits; the second straddles 0x9000: #PF on its second
  // page, user write to a not-present page, nothing of it written.
  EXPECT_EQ(mk::x86::kVectorPf, v.ex.vector);
  EXPECT_TRUE(v.ex.has_error_code);
  EXPECT_EQ(pg::pfec::kWrite | pg::pfec::kUser, v.ex.error_code);
  EXPECT_EQ(0x9000u, v.ex.cr2);
  EXPECT_EQ(0xc3, v.mem.at(0x50ffd));
  EXPECT_EQ(0, v.mem.at(0x50ffe)) << "no partial element";
  EXPECT_EQ(0x8ffeu, v.regs.rdi) << "RDI/RCX count the elements written";
  EXPECT_EQ(4u, v.regs.rcx);
  EXPECT_EQ(0x1000u, v.regs.rip);
  EXPECT_TRUE(v.regs.rflags & kRf);
  EXPECT_FALSE(v.pending.active);
}

TEST(StringIo, InsFaultsOnlyAfterUserspaceProducedTheData) {
  // As KVM: the destination is checked when the data is written, so the
  // port is read even if ES:RDI is bad.
  Vcpu v;
  v.flat32();
  v.env.seg[u8(Seg::kEs)].type = 1;  // read-only data
  v.mem.add_ram(0x3000);
  v.regs.rdi = 0x3000;
  const IoExit x = make_exit(true, 1, false, 0x71, 4, Seg::kEs);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  ASSERT_EQ(IoStep::kInject, v.complete());
  EXPECT_EQ(mk::x86::kVectorGp, v.ex.vector);
  EXPECT_TRUE(v.ex.has_error_code);
  EXPECT_EQ(0u, v.ex.error_code);
  EXPECT_EQ(0x3000u, v.regs.rdi);
  EXPECT_EQ(0x1000u, v.regs.rip) << "a fault: RIP stays";
  EXPECT_EQ(0, v.mem.data_writes);
}

TEST(StringIo, InsIntoMmioIsUnhandled) {
  Vcpu v;
  v.flat32();
  v.regs.rdi = 0xfee00000;  // no RAM there
  const IoExit x = make_exit(true, 4, false, 0x71, 4, Seg::kEs);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  EXPECT_EQ(IoStep::kUnhandled, v.complete());
  EXPECT_FALSE(v.pending.active);
}

TEST(StringIo, InsPageTableOutsideRamInjectsKvmsPageFault) {
  Vcpu v;
  v.long_mode();
  v.env.paging.cr3 = 0x900000;  // not RAM
  v.regs.rdi = 0x1234;
  const IoExit x = make_exit(true, 1, false, 0x71, 8, Seg::kEs);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  ASSERT_EQ(IoStep::kInject, v.complete());
  EXPECT_EQ(mk::x86::kVectorPf, v.ex.vector);
  EXPECT_EQ(pg::pfec::kWrite, v.ex.error_code);
  EXPECT_EQ(0x1234u, v.ex.cr2);
}

TEST(StringIo, InsNonCanonicalDestination) {
  Vcpu v;
  v.long_mode();
  v.regs.rdi = 0x0000800000000000ull;
  const IoExit x = make_exit(true, 1, true, 0x71, 8, Seg::kEs);
  v.regs.rcx = 4;
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  ASSERT_EQ(IoStep::kInject, v.complete());
  EXPECT_EQ(mk::x86::kVectorGp, v.ex.vector);
  EXPECT_EQ(4u, v.regs.rcx);
}

// -------------------------------------------------------------- REP, RCX

TEST(StringIo, RepWithZeroCountCompletesWithoutExit) {
  Vcpu v;
  v.long_mode();
  const u32 sentinel = 0x12345678;
  v.run.exit_reason = sentinel;
  v.regs.rcx = 0;
  v.regs.rflags |= kRf;
  IoExit x = make_exit(true, 1, true, 0x80, 8, Seg::kEs, 3);
  ASSERT_EQ(IoStep::kResume, v.begin(x));
  EXPECT_EQ(0x1003u, v.regs.rip);
  EXPECT_FALSE(v.regs.rflags & kRf);
  EXPECT_EQ(sentinel, v.run.exit_reason) << "nothing for userspace";
  EXPECT_FALSE(v.pending.active);

  // 32-bit address size, ECX = 0 with garbage above: an Intel guest ends
  // with RCX = 0 (KVM's string_registers_quirk), others keep it.
  x = make_exit(false, 1, true, 0x80, 4, Seg::kDs, 3);
  v.regs.rcx = 0xdead00000000ull;
  ASSERT_EQ(IoStep::kResume, v.begin(x));
  EXPECT_EQ(0u, v.regs.rcx);
  v.env.guest_vendor_intel = false;
  v.regs.rcx = 0xdead00000000ull;
  ASSERT_EQ(IoStep::kResume, v.begin(x));
  EXPECT_EQ(0xdead00000000ull, v.regs.rcx);
  // 16-bit address size: CX = 0 ends it, the rest of RCX stays.
  v.real_mode(0, 0);
  v.env.guest_vendor_intel = true;
  v.regs.rip = 0xfff0;
  x = make_exit(false, 1, true, 0x80, 2, Seg::kDs, 2);
  v.regs.rcx = 0xabcd0000;
  ASSERT_EQ(IoStep::kResume, v.begin(x));
  EXPECT_EQ(0xabcd0000u, v.regs.rcx);
  EXPECT_EQ(0xfff2u, v.regs.rip);
}

TEST(StringIo, HugeRcxIsTruncatedLikeKvm) {
  Vcpu v;
  v.long_mode();
  v.mem.add_ram(0x4000);
  v.regs.rdi = 0x4000;
  const IoExit x = make_exit(true, 1, true, 0x80, 8, Seg::kEs);
  // KVM keeps the count in an unsigned int: 2^32 counts as 0, made 1.
  v.regs.rcx = 0x100000000ull;
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  EXPECT_EQ(1u, v.run.io.count);
  ASSERT_EQ(IoStep::kResume, v.complete());
  EXPECT_EQ(0xffffffffull, v.regs.rcx);
  EXPECT_EQ(0x4001u, v.regs.rdi);
  // All ones: bounded by the read-ahead.
  v.regs.rcx = ~0ull;
  v.regs.rdi = 0x4000;
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  EXPECT_EQ(1024u, v.run.io.count);
  ASSERT_EQ(IoStep::kResume, v.complete());
  EXPECT_EQ(~0ull - 1024, v.regs.rcx);
  // 32-bit address size: only ECX counts.
  const IoExit x32 = make_exit(true, 1, true, 0x80, 4, Seg::kEs);
  v.regs.rcx = 0xffffffff00000003ull;
  v.regs.rdi = 0xffffffff00004000ull;
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x32));
  EXPECT_EQ(3u, v.run.io.count);
  ASSERT_EQ(IoStep::kResume, v.complete());
  EXPECT_EQ(0u, v.regs.rcx) << "32-bit writes zero-extend";
  EXPECT_EQ(0x4003u, v.regs.rdi);
}

TEST(StringIo, UserspaceZeroingRcxDropsTheData) {
  Vcpu v;
  v.flat32();
  v.mem.add_ram(0x3000);
  v.regs.rdi = 0x3000;
  v.regs.rcx = 4;
  const IoExit x = make_exit(true, 1, true, 0x80, 4, Seg::kEs);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  v.regs.rcx = 0;
  ASSERT_EQ(IoStep::kResume, v.complete());
  EXPECT_EQ(0, v.mem.data_writes);
  EXPECT_EQ(0x1002u, v.regs.rip);
  EXPECT_FALSE(v.pending.active);
}

TEST(StringIo, SixteenBitAddressesWrap) {
  Vcpu v;
  v.real_mode(0x1000, 0x2000);
  v.mem.add_ram(0x10000, 0x10000);
  v.regs.rdi = 0x123400000000ffffull;  // DI = 0xffff; upper bits are kept
  v.regs.rcx = 0x5555000000000003ull;  // CX = 3
  const IoExit x = make_exit(true, 1, true, 0x80, 2, Seg::kEs);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  EXPECT_EQ(1u, v.run.io.count);
  v.pio[0] = 0x77;
  ASSERT_EQ(IoStep::kResume, v.complete());
  EXPECT_EQ(0x77, v.mem.at(0x1ffff));
  EXPECT_EQ(0x1234000000000000ull, v.regs.rdi) << "DI wrapped to 0";
  EXPECT_EQ(0x5555000000000002ull, v.regs.rcx);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  EXPECT_EQ(2u, v.run.io.count);
  v.pio[0] = 0x88;
  v.pio[1] = 0x99;
  ASSERT_EQ(IoStep::kResume, v.complete());
  EXPECT_EQ(0x88, v.mem.at(0x10000));
  EXPECT_EQ(0x99, v.mem.at(0x10001));
  // A word at DI = 0xffff runs past the 64-KiB limit: #GP, no error code
  // in real mode.
  const IoExit xw = make_exit(true, 2, false, 0x80, 2, Seg::kEs);
  v.regs.rdi = 0xffff;
  ASSERT_EQ(IoStep::kExitToUser, v.begin(xw));
  ASSERT_EQ(IoStep::kInject, v.complete());
  EXPECT_EQ(mk::x86::kVectorGp, v.ex.vector);
  EXPECT_FALSE(v.ex.has_error_code);
}

TEST(StringIo, ThirtyTwoBitAddressesWrap) {
  Vcpu v;
  v.flat32();
  v.mem.add_ram(0xfffff000);
  v.mem.add_ram(0);
  v.regs.rsi = 0xaaaa0000ffffffffull;
  v.regs.rcx = 2;
  v.mem.at(0xffffffff) = 0x11;
  v.mem.at(0) = 0x22;
  const IoExit x = make_exit(false, 1, true, 0x3f8, 4, Seg::kDs);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  EXPECT_EQ(0x11, v.pio[0]);
  EXPECT_EQ(0u, v.regs.rsi) << "ESI wrapped, upper half zeroed";
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  EXPECT_EQ(0x22, v.pio[0]);
  EXPECT_EQ(1u, v.regs.rsi);
  // A dword at linear 0xfffffffe: its last two bytes wrap to linear 0.
  v.env.seg[u8(Seg::kDs)].base = 0xfffffffe;
  v.env.seg[u8(Seg::kDs)].limit = 0xffff;
  v.regs.rsi = 0;
  v.mem.at(0xfffffffe) = 1;
  v.mem.at(0xffffffff) = 2;
  v.mem.at(0) = 3;
  v.mem.at(1) = 4;
  const IoExit xd = make_exit(false, 4, false, 0x3f8, 4, Seg::kDs);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(xd));
  EXPECT_EQ(0x01, v.pio[0]);
  EXPECT_EQ(0x04, v.pio[3]);
}

// ----------------------------------------------------------------- OUTS

TEST(StringIo, RepOutsOneElementPerExit) {
  Vcpu v;
  v.long_mode();
  v.mem.add_ram(0x6000);
  for (int i = 0; i < 8; i++)
    v.mem.at(0x6000 + i) = u8(0xa0 + i);
  v.regs.rsi = 0x6000;
  v.regs.rcx = 3;
  const IoExit x = make_exit(false, 2, true, 0x3f8, 8, Seg::kDs, 2);
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
    expect_io(v.run, KVM_EXIT_IO_OUT, 2, 0x3f8, 1);
    EXPECT_EQ(0xa0 + 2 * i, v.pio[0]);
    EXPECT_EQ(0xa1 + 2 * i, v.pio[1]);
    // Registers are final before userspace sees the exit.
    EXPECT_EQ(0x6002u + 2 * i, v.regs.rsi);
    EXPECT_EQ(2u - i, v.regs.rcx);
    EXPECT_EQ(0x1000u, v.regs.rip);
    EXPECT_TRUE(v.regs.rflags & kRf);
    EXPECT_FALSE(v.pending.active) << "OUT needs nothing on the next KVM_RUN";
  }
  ASSERT_EQ(IoStep::kResume, v.begin(x));
  EXPECT_EQ(0x1002u, v.regs.rip);
  EXPECT_FALSE(v.regs.rflags & kRf);
}

TEST(StringIo, OutsWithoutRepAdvancesRipBeforeTheExit) {
  Vcpu v;
  v.long_mode();
  v.mem.add_ram(0x6000);
  v.mem.at(0x6003) = 0x42;
  v.regs.rsi = 0x6003;
  v.regs.rcx = 9;
  v.regs.rflags |= kDf | kRf;
  const IoExit x = make_exit(false, 1, false, 0xe9, 8, Seg::kDs, 1);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  expect_io(v.run, KVM_EXIT_IO_OUT, 1, 0xe9, 1);
  EXPECT_EQ(0x42, v.pio[0]);
  EXPECT_EQ(0x6002u, v.regs.rsi) << "DF = 1: RSI moves down";
  EXPECT_EQ(9u, v.regs.rcx);
  EXPECT_EQ(0x1001u, v.regs.rip);
  EXPECT_FALSE(v.regs.rflags & kRf);
}

TEST(StringIo, OutsSegmentOverrideAndFsBase) {
  Vcpu v;
  v.long_mode();
  v.mem.add_ram(0x12345000);
  v.mem.at(0x12345678) = 0x5f;
  v.env.seg[u8(Seg::kFs)].base = 0x12340000;
  v.env.seg[u8(Seg::kDs)].base = 0x99990000;  // ignored in 64-bit mode
  v.regs.rsi = 0x5678;
  const IoExit x = make_exit(false, 1, false, 0x80, 8, Seg::kFs);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  EXPECT_EQ(0x5f, v.pio[0]);
}

TEST(StringIo, OutsFaultsBeforeTheExit) {
  Vcpu v;
  v.long_mode();
  const u32 sentinel = 0x12345678;
  v.run.exit_reason = sentinel;
  v.regs.rsi = 0xffff700000000000ull;  // not canonical
  v.regs.rcx = 5;
  const StringIoRegs before = v.regs;
  IoExit x = make_exit(false, 1, true, 0x80, 8, Seg::kSs);
  ASSERT_EQ(IoStep::kInject, v.begin(x));
  EXPECT_EQ(mk::x86::kVectorSs, v.ex.vector) << "SS override: #SS(0)";
  EXPECT_EQ(0, std::memcmp(&before, &v.regs, sizeof(before)));
  EXPECT_EQ(sentinel, v.run.exit_reason);
  // A not-present page: #PF, supervisor read.
  x = make_exit(false, 1, true, 0x80, 8, Seg::kDs);
  v.mem.w64(0x2000, 0);  // unmap the first GiB
  v.regs.rsi = 0x6000;
  ASSERT_EQ(IoStep::kInject, v.begin(x));
  EXPECT_EQ(mk::x86::kVectorPf, v.ex.vector);
  EXPECT_EQ(0u, v.ex.error_code);
  EXPECT_EQ(0x6000u, v.ex.cr2);
  EXPECT_EQ(sentinel, v.run.exit_reason);
  EXPECT_EQ(5u, v.regs.rcx);
}

TEST(StringIo, OutsFromMmioIsUnhandled) {
  Vcpu v;
  v.flat32();
  v.regs.rsi = 0xfec00000;
  const IoExit x = make_exit(false, 4, false, 0x80, 4, Seg::kDs);
  EXPECT_EQ(IoStep::kUnhandled, v.begin(x));
  EXPECT_EQ(0x1000u, v.regs.rip);
}

TEST(StringIo, OutsFromExecuteOnlyCodeSegment) {
  Vcpu v;
  v.flat32();
  v.mem.add_ram(0);
  v.env.seg[u8(Seg::kCs)].type = 9;  // execute-only
  const IoExit x = make_exit(false, 1, false, 0x80, 4, Seg::kCs);
  ASSERT_EQ(IoStep::kInject, v.begin(x));
  EXPECT_EQ(mk::x86::kVectorGp, v.ex.vector);
  v.env.seg[u8(Seg::kCs)].type = 0xb;  // execute/read
  EXPECT_EQ(IoStep::kExitToUser, v.begin(x));
}

TEST(StringIo, RipKeeps32BitsOutside64BitMode) {
  Vcpu v;
  v.flat32();
  v.mem.add_ram(0);
  v.regs.rip = 0xffffffff;
  const IoExit x = make_exit(false, 1, false, 0x80, 4, Seg::kDs, 2);
  ASSERT_EQ(IoStep::kExitToUser, v.begin(x));
  EXPECT_EQ(1u, v.regs.rip);
}

TEST(StringIo, OutsUserModeRespectsPagePermissions) {
  Vcpu v;
  v.long_mode();
  v.mem.add_ram(0x6000);
  v.env.cpl = 3;
  v.mem.w64(0x2000, 0 | 3 | pg::entry::kPageSize);  // first GiB: supervisor only
  v.regs.rsi = 0x6000;
  const IoExit x = make_exit(false, 1, false, 0x80, 8, Seg::kDs);
  ASSERT_EQ(IoStep::kInject, v.begin(x));
  EXPECT_EQ(mk::x86::kVectorPf, v.ex.vector);
  EXPECT_EQ(pg::pfec::kPresent | pg::pfec::kUser, v.ex.error_code);
  v.env.cpl = 0;
  EXPECT_EQ(IoStep::kExitToUser, v.begin(x));
}

// ------------------------------------------------------------- misuse

TEST(StringIo, InvalidUses) {
  Vcpu v;
  v.long_mode();
  v.mem.add_ram(0x3000);
  v.regs.rdi = 0x3000;
  IoExit in = make_exit(true, 1, false, 0x80, 8, Seg::kEs);
  // Not a string instruction.
  IoExit plain{};
  ASSERT_EQ(0, mk::x86::decode_io_exit(0x00800000 | q::kIn, 0, 2, &plain));
  EXPECT_EQ(IoStep::kInvalid, v.begin(plain));
  // A 16-bit address size in 64-bit mode, 64-bit outside it.
  IoExit bad = in;
  bad.addr_size = 2;
  EXPECT_EQ(IoStep::kInvalid, v.begin(bad));
  v.flat32();
  bad.addr_size = 8;
  EXPECT_EQ(IoStep::kInvalid, v.begin(bad));
  v.long_mode();
  // INS through anything but ES, a hand-made bad size or length.
  bad = in;
  bad.seg = Seg::kDs;
  EXPECT_EQ(IoStep::kInvalid, v.begin(bad));
  bad = in;
  bad.size = 3;
  EXPECT_EQ(IoStep::kInvalid, v.begin(bad));
  bad = in;
  bad.insn_len = 0;
  EXPECT_EQ(IoStep::kInvalid, v.begin(bad));
  // Null pointers.
  EXPECT_EQ(IoStep::kInvalid, mk::x86::begin(in, v.env, v.regs, v.mem, nullptr, v.pio, &v.pending, &v.ex));
  EXPECT_EQ(IoStep::kInvalid, mk::x86::begin(in, v.env, v.regs, v.mem, &v.run, nullptr, &v.pending, &v.ex));
  EXPECT_EQ(IoStep::kInvalid, mk::x86::complete_in(v.env, v.regs, v.mem, v.pio, nullptr, &v.ex));
  // An IN already pending.
  ASSERT_EQ(IoStep::kExitToUser, v.begin(in));
  const StringIoRegs before = v.regs;
  EXPECT_EQ(IoStep::kInvalid, v.begin(in));
  EXPECT_TRUE(v.pending.active);
  EXPECT_EQ(0, std::memcmp(&before, &v.regs, sizeof(before)));
  // A hostile mode change (KVM_SET_SREGS) between exit and completion.
  v.env.mode = CpuMode::kProtected;
  EXPECT_EQ(IoStep::kInvalid, v.complete()) << "64-bit addresses outside 64-bit mode";
}

TEST(StringIo, RandomExitsAndRegistersGiveDefinedAnswers) {
  std::mt19937_64 rng(99);
  for (int iter = 0; iter < 2500; iter++) {
    Vcpu v;
    switch (rng() % 3) {
    case 0:
      v.long_mode();
      break;
    case 1:
      v.flat32();
      break;
    default:
      v.real_mode(u16(rng()), u16(rng()));
      break;
    }
    v.mem.add_ram(rng() & 0xfffff000ull, 0x3000);
    v.mem.add_ram(0x10000, 0x10000);
    for (auto &s : v.env.seg)
      if (rng() % 4 == 0) {
        s.limit = u32(rng());
        s.type = rng() & 15;
        s.unusable = rng() % 8 == 0;
      }
    v.env.cpl = rng() % 2 ? 3 : 0;
    v.regs = StringIoRegs{rng() % 3 ? rng() % 3000 : rng(), rng() % 2 ? rng() % 0x20000 : rng(),
                          rng() % 2 ? rng() % 0x20000 : rng(), rng(), rng()};
    IoExit x{};
    if (mk::x86::decode_io_exit(rng() | q::kString, u32(rng()), 1 + rng() % 15, &x))
      continue;
    const StringIoRegs before = v.regs;
    const IoStep s = v.begin(x);
    switch (s) {
    case IoStep::kExitToUser:
      EXPECT_GE(v.run.io.count, 1u);
      EXPECT_LE(v.run.io.count * v.run.io.size, mk::x86::kPioReadAhead);
      EXPECT_EQ(x.in, v.pending.active);
      if (x.in) {
        EXPECT_EQ(0, std::memcmp(&before, &v.regs, sizeof(before)));
        const IoStep c = v.complete();
        EXPECT_TRUE(c == IoStep::kResume || c == IoStep::kInject || c == IoStep::kUnhandled);
        EXPECT_FALSE(v.pending.active);
      } else {
        EXPECT_EQ(1u, v.run.io.count);
      }
      break;
    case IoStep::kInject:
      EXPECT_TRUE(v.ex.vector == mk::x86::kVectorGp || v.ex.vector == mk::x86::kVectorSs ||
                  v.ex.vector == mk::x86::kVectorPf);
      EXPECT_EQ(0, std::memcmp(&before, &v.regs, sizeof(before)));
      break;
    case IoStep::kResume:
      EXPECT_TRUE(x.rep);
      break;
    case IoStep::kUnhandled:
      EXPECT_FALSE(x.in);
      break;
    case IoStep::kInvalid:
      break;
    }
  }
}

}  // namespace
