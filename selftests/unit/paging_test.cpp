// SPDX-License-Identifier: GPL-2.0
// The guest page walker (SDM vol. 3A chapter 4): every paging mode, access
// rights, reserved bits at every level, accessed/dirty write-back and the
// #PF error code, over a sparse fake guest-physical memory whose holes
// stand for MMIO.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include "core/mmu/guest_phys_mem.h"
#include "core/rt/errno.h"
#include "core/x86/paging.h"
#include "ia32/paging.h"

using mk::u32;
using mk::u64;
using mk::u8;
using mk::x86::Access;
using mk::x86::PageFault;
using mk::x86::PagingMode;
using mk::x86::PagingState;
using mk::x86::translate;
namespace pg = ia32::paging;
namespace pfec = ia32::paging::pfec;

namespace {

constexpr u64 kP = pg::entry::kPresent;
constexpr u64 kW = pg::entry::kWritable;
constexpr u64 kU = pg::entry::kUser;
constexpr u64 kA = pg::entry::kAccessed;
constexpr u64 kD = pg::entry::kDirty;
constexpr u64 kPs = pg::entry::kPageSize;
constexpr u64 kXd = pg::entry::kXd;
constexpr u64 kPWU = kP | kW | kU;

// Sparse guest RAM in 4-KiB pages; everything else is MMIO. Pages can be
// made read-only (a ROM slot: writes refused). Records every write.
class FakeMem : public mk::mmu::GuestPhysMem {
 public:
  void add_ram(u64 gpa, u64 len = 4096) {
    for (u64 p = gpa & ~0xfffull; p < gpa + len; p += 4096)
      pages_[p];
  }
  void remove_ram(u64 gpa) { pages_.erase(gpa & ~0xfffull); }
  void set_readonly(u64 gpa) { readonly_[gpa & ~0xfffull] = true; }
  // The page at gpa as RAM, for filling it in bulk.
  u8 *page(u64 gpa) { return pages_[gpa & ~0xfffull].data(); }

  int read(u64 gpa, void *buf, size_t len) override {
    reads++;
    if (!covered(gpa, len, false))
      return -EFAULT;
    for (size_t i = 0; i < len; i++)
      static_cast<u8 *>(buf)[i] = pages_[(gpa + i) & ~0xfffull][(gpa + i) & 0xfff];
    return 0;
  }
  int write(u64 gpa, const void *buf, size_t len) override {
    if (!covered(gpa, len, true))
      return -EFAULT;
    writes.emplace_back(gpa, len);
    for (size_t i = 0; i < len; i++)
      pages_[(gpa + i) & ~0xfffull][(gpa + i) & 0xfff] = static_cast<const u8 *>(buf)[i];
    return 0;
  }

  // Test-side access (no RAM check beyond the page existing).
  u64 r64(u64 gpa) {
    u64 v = 0;
    EXPECT_EQ(0, peek(gpa, &v, 8));
    return v;
  }
  u32 r32(u64 gpa) {
    u32 v = 0;
    EXPECT_EQ(0, peek(gpa, &v, 4));
    return v;
  }
  void w64(u64 gpa, u64 v) { poke(gpa, &v, 8); }
  void w32(u64 gpa, u32 v) { poke(gpa, &v, 4); }

  std::vector<std::pair<u64, size_t>> writes;
  long reads = 0;

 private:
  bool covered(u64 gpa, size_t len, bool for_write) const {
    if (len && gpa + len - 1 < gpa)
      return false;  // wraps
    for (u64 p = gpa & ~0xfffull; len && p <= gpa + len - 1; p += 4096) {
      if (!pages_.count(p))
        return false;
      if (for_write && readonly_.count(p))
        return false;
      if (p + 4096 == 0)
        break;
    }
    return true;
  }
  int peek(u64 gpa, void *buf, size_t len) {
    if (!covered(gpa, len, false))
      return -EFAULT;
    for (size_t i = 0; i < len; i++)
      static_cast<u8 *>(buf)[i] = pages_[(gpa + i) & ~0xfffull][(gpa + i) & 0xfff];
    return 0;
  }
  void poke(u64 gpa, const void *buf, size_t len) {
    add_ram(gpa, len);
    for (size_t i = 0; i < len; i++)
      pages_[(gpa + i) & ~0xfffull][(gpa + i) & 0xfff] = static_cast<const u8 *>(buf)[i];
  }

  std::map<u64, std::array<u8, 4096>> pages_;
  std::map<u64, bool> readonly_;
};

// Index of la at a 64-bit-format level (1 = PT .. 5 = PML5).
u64 idx(u64 la, int level) { return (la >> (12 + 9 * (level - 1))) & 511; }

PagingState long_mode(u64 cr3, u8 maxphy = 46) {
  PagingState st{};
  st.cr0 = pg::cr0::kPe | pg::cr0::kPg | pg::cr0::kWp;
  st.cr4 = pg::cr4::kPae;
  st.efer = pg::efer::kLme | pg::efer::kLma | pg::efer::kNxe;
  st.cr3 = cr3;
  st.maxphyaddr = maxphy;
  st.gbpages = true;
  return st;
}

PagingState pae_mode(u8 maxphy = 36) {
  PagingState st{};
  st.cr0 = pg::cr0::kPe | pg::cr0::kPg | pg::cr0::kWp;
  st.cr4 = pg::cr4::kPae;
  st.efer = pg::efer::kNxe;
  st.maxphyaddr = maxphy;
  return st;
}

PagingState legacy_mode(u64 cr3, bool pse = true) {
  PagingState st{};
  st.cr0 = pg::cr0::kPe | pg::cr0::kPg | pg::cr0::kWp;
  st.cr4 = pse ? pg::cr4::kPse : 0;
  st.cr3 = cr3;
  st.maxphyaddr = 36;
  return st;
}

constexpr Access kRead{false, false, false, false};
constexpr Access kWrite{true, false, false, false};
constexpr Access kFetch{false, false, true, false};
constexpr Access kUserRead{false, true, false, false};
constexpr Access kUserWrite{true, true, false, false};
constexpr Access kUserFetch{false, true, true, false};
constexpr Access kImplicitRead{false, false, false, true};

// A 4-level chain for one linear address: PML4 at 0x1000, PDPT 0x2000,
// PD 0x3000, PT 0x4000, page at 0x5000. Entry flags per level.
struct Chain4 {
  static constexpr u64 kPml4 = 0x1000, kPdpt = 0x2000, kPd = 0x3000, kPt = 0x4000, kPage = 0x5000;
  u64 la;
  u64 e4() const { return kPml4 + idx(la, 4) * 8; }
  u64 e3() const { return kPdpt + idx(la, 3) * 8; }
  u64 e2() const { return kPd + idx(la, 2) * 8; }
  u64 e1() const { return kPt + idx(la, 1) * 8; }
  void build(FakeMem &m, u64 f4 = kPWU, u64 f3 = kPWU, u64 f2 = kPWU, u64 f1 = kPWU) const {
    m.w64(e4(), kPdpt | f4);
    m.w64(e3(), kPd | f3);
    m.w64(e2(), kPt | f2);
    m.w64(e1(), kPage | f1);
    m.add_ram(kPage);
  }
};

struct Result {
  int err;
  u64 gpa;
  PageFault pf;
};

Result run(const PagingState &st, u64 la, Access acc, FakeMem &m) {
  Result r{0, ~0ull, {~0ull, ~0u}};
  r.err = translate(st, la, acc, m, &r.gpa, &r.pf);
  return r;
}

void expect_pf(const Result &r, u64 cr2, u32 code) {
  EXPECT_EQ(-EFAULT, r.err);
  EXPECT_EQ(cr2, r.pf.address);
  EXPECT_EQ(code, r.pf.error_code) << std::hex << r.pf.error_code;
  EXPECT_EQ(~0ull, r.gpa) << "gpa written on a fault";
}

// ---------------------------------------------------------------- modes

TEST(Paging, ModeSelection) {
  PagingState st{};
  EXPECT_EQ(PagingMode::kNone, mk::x86::paging_mode(st));
  st.cr0 = pg::cr0::kPe | pg::cr0::kPg;
  EXPECT_EQ(PagingMode::k32Bit, mk::x86::paging_mode(st));
  st.cr4 = pg::cr4::kPae;
  EXPECT_EQ(PagingMode::kPae, mk::x86::paging_mode(st));
  st.efer = pg::efer::kLma;
  EXPECT_EQ(PagingMode::k4Level, mk::x86::paging_mode(st));
  st.cr4 |= pg::cr4::kLa57;
  EXPECT_EQ(PagingMode::k5Level, mk::x86::paging_mode(st));
  // LA57 without LMA means nothing (PAE paging).
  st.efer = 0;
  EXPECT_EQ(PagingMode::kPae, mk::x86::paging_mode(st));
  // PG = 0 wins over everything.
  st.cr0 = pg::cr0::kPe;
  st.efer = pg::efer::kLma;
  EXPECT_EQ(PagingMode::kNone, mk::x86::paging_mode(st));
}

TEST(Paging, MaxPhyAddrClamped) {
  PagingState st{};
  st.maxphyaddr = 0;
  EXPECT_EQ(36, mk::x86::effective_maxphyaddr(st));
  st.maxphyaddr = 8;
  EXPECT_EQ(32, mk::x86::effective_maxphyaddr(st));
  st.maxphyaddr = 39;
  EXPECT_EQ(39, mk::x86::effective_maxphyaddr(st));
  st.maxphyaddr = 255;
  EXPECT_EQ(52, mk::x86::effective_maxphyaddr(st));
}

TEST(Paging, NoPagingIsIdentityOn32Bits) {
  FakeMem m;
  PagingState st{};
  st.cr0 = pg::cr0::kPe;
  Result r = run(st, 0x12345678, kWrite, m);
  EXPECT_EQ(0, r.err);
  EXPECT_EQ(0x12345678u, r.gpa);
  r = run(st, 0xdead00001234ull, kRead, m);
  EXPECT_EQ(0, r.err);
  EXPECT_EQ(0x00001234u, r.gpa);
  EXPECT_EQ(0, m.reads) << "no memory is read without paging";
}

TEST(Paging, FetchAndWriteTogetherIsInvalid) {
  FakeMem m;
  Result r = run(long_mode(0x1000), 0, Access{true, false, true, false}, m);
  EXPECT_EQ(-EINVAL, r.err);
}

// ------------------------------------------------------------- 4-level

TEST(Paging, FourLevel4KPage) {
  FakeMem m;
  Chain4 c{0x00007f12345678abull};
  c.build(m);
  Result r = run(long_mode(Chain4::kPml4), c.la, kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(Chain4::kPage | 0x8ab, r.gpa);
}

TEST(Paging, FourLevelUpperHalfAndCr3LowBits) {
  FakeMem m;
  Chain4 c{0xffff800000201234ull};
  c.build(m);
  // CR3 bits 11:0 (PCID or PWT/PCD) and bits at or above MAXPHYADDR are
  // not part of the table address.
  PagingState st = long_mode(Chain4::kPml4 | 0xfff | (1ull << 50), 46);
  st.cr4 |= pg::cr4::kPcide;
  Result r = run(st, c.la, kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(Chain4::kPage | 0x234, r.gpa);
}

TEST(Paging, FourLevel2MAnd1GPages) {
  FakeMem m;
  const u64 la = 0x0000004080654321ull;  // PML4 0, PDPT 258, PD 3
  m.w64(0x1000 + idx(la, 4) * 8, 0x2000 | kPWU);
  m.w64(0x2000 + idx(la, 3) * 8, 0x3000 | kPWU);
  m.w64(0x3000 + idx(la, 2) * 8, 0x40000000ull | kPWU | kPs | pg::entry::kPatLarge);
  Result r = run(long_mode(0x1000), la, kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0x40000000ull | (la & 0x1fffff), r.gpa) << "PAT bit 12 is not an address bit";

  // 1-GByte page with gbpages.
  m.w64(0x2000 + idx(la, 3) * 8, 0x1c0000000ull | kPWU | kPs | pg::entry::kPatLarge);
  r = run(long_mode(0x1000), la, kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0x1c0000000ull | (la & 0x3fffffff), r.gpa);

  // Without Page1GB in the guest CPUID, PDPTE.PS is a reserved bit.
  PagingState st = long_mode(0x1000);
  st.gbpages = false;
  r = run(st, la, kRead, m);
  expect_pf(r, la, pfec::kPresent | pfec::kRsvd);
}

TEST(Paging, NotPresentAtEachLevel) {
  for (int level = 4; level >= 1; level--) {
    FakeMem m;
    Chain4 c{0x0000123456789000ull};
    c.build(m);
    const u64 at[] = {0, c.e1(), c.e2(), c.e3(), c.e4()};
    m.w64(at[level], m.r64(at[level]) & ~kP);
    Result r = run(long_mode(Chain4::kPml4), c.la + 7, kUserWrite, m);
    SCOPED_TRACE(level);
    expect_pf(r, c.la + 7, pfec::kWrite | pfec::kUser);
    EXPECT_TRUE(m.writes.empty()) << "no A/D on a fault";
  }
}

TEST(Paging, NotPresentEntryIgnoresItsOtherBits) {
  FakeMem m;
  Chain4 c{0x1000};
  c.build(m);
  m.w64(c.e2(), ~kP);  // every bit but P, reserved ones included
  Result r = run(long_mode(Chain4::kPml4), c.la, kRead, m);
  expect_pf(r, c.la, 0);
}

TEST(Paging, ReservedBitsAtEveryLevel) {
  struct Case {
    const char *what;
    int level;
    u64 bits;
  };
  // MAXPHYADDR 40: bits 51:40 are reserved everywhere.
  const Case cases[] = {
      {"PML4E bit 40", 4, 1ull << 40},
      {"PML4E bit 51", 4, 1ull << 51},
      {"PML4E PS", 4, kPs},
      {"PDPTE bit 45", 3, 1ull << 45},
      {"PDE bit 51", 2, 1ull << 51},
      {"PTE bit 40", 1, 1ull << 40},
      {"PTE bit 47", 1, 1ull << 47},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.what);
    FakeMem m;
    Chain4 ch{0x00000000deadb000ull};
    ch.build(m);
    const u64 at[] = {0, ch.e1(), ch.e2(), ch.e3(), ch.e4()};
    m.w64(at[c.level], m.r64(at[c.level]) | c.bits);
    Result r = run(long_mode(Chain4::kPml4, 40), ch.la, kFetch, m);
    // I/D: fetch with EFER.NXE = 1 in 4-level paging.
    expect_pf(r, ch.la, pfec::kPresent | pfec::kRsvd | pfec::kFetch);
    EXPECT_TRUE(m.writes.empty());
  }
}

TEST(Paging, ReservedBitsOfLargePages) {
  FakeMem m;
  const u64 la = 0x40000000ull;  // PML4 0, PDPT 1, PD 0
  m.w64(0x1000, 0x2000 | kPWU);
  m.w64(0x2000 + 8, 0x80000000ull | kPWU | kPs | (1ull << 13));  // 1G: bits 29:13 reserved
  expect_pf(run(long_mode(0x1000), la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
  m.w64(0x2000 + 8, 0x80000000ull | kPWU | kPs | (1ull << 29));
  expect_pf(run(long_mode(0x1000), la, kRead, m), la, pfec::kPresent | pfec::kRsvd);

  m.w64(0x2000 + 8, 0x3000 | kPWU);
  m.w64(0x3000, 0x200000ull | kPWU | kPs | (1ull << 20));  // 2M: bits 20:13 reserved
  expect_pf(run(long_mode(0x1000), la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
  m.w64(0x3000, 0x200000ull | kPWU | kPs | (1ull << 13));
  expect_pf(run(long_mode(0x1000), la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
  m.w64(0x3000, 0x200000ull | kPWU | kPs | pg::entry::kPatLarge);
  EXPECT_EQ(0, run(long_mode(0x1000), la, kRead, m).err);
}

TEST(Paging, XdIsReservedWithoutNxe) {
  FakeMem m;
  Chain4 c{0x7000};
  c.build(m, kPWU, kPWU, kPWU, kPWU | kXd);
  PagingState st = long_mode(Chain4::kPml4);
  st.efer &= ~pg::efer::kNxe;
  // No NXE: a fetch sets I/D only with SMEP.
  expect_pf(run(st, c.la, kFetch, m), c.la, pfec::kPresent | pfec::kRsvd);
  st.cr4 |= pg::cr4::kSmep;
  expect_pf(run(st, c.la, kFetch, m), c.la, pfec::kPresent | pfec::kRsvd | pfec::kFetch);
}

TEST(Paging, IgnoredHighBitsAreNotReserved) {
  FakeMem m;
  Chain4 c{0x9000};
  // Bits 62:52 are ignored in 4-level entries (62:59 the protection key,
  // which minikvm does not enforce), bits 11:9 everywhere; G and D are
  // ignored in non-leaf entries.
  const u64 ignored = pg::bits(62, 52) | pg::bits(11, 9);
  c.build(m, kPWU | ignored | pg::entry::kGlobal, kPWU | ignored | kD, kPWU | ignored, kPWU | ignored);
  Result r = run(long_mode(Chain4::kPml4, 52), c.la, kUserWrite, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(Chain4::kPage, r.gpa);
}

TEST(Paging, MaxPhyAddrBoundsTheFrame) {
  FakeMem m;
  Chain4 c{0xa000};
  c.build(m);
  // A PTE frame using bit 45 is fine with MAXPHYADDR 46, reserved with 45.
  m.w64(c.e1(), (1ull << 45) | 0x5000 | kPWU);
  Result r = run(long_mode(Chain4::kPml4, 46), c.la, kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ((1ull << 45) | 0x5000, r.gpa);
  expect_pf(run(long_mode(Chain4::kPml4, 45), c.la, kRead, m), c.la, pfec::kPresent | pfec::kRsvd);
  // 52: nothing between 51 and 12 is reserved.
  m.w64(c.e1(), pg::bits(51, 12) | kPWU);
  r = run(long_mode(Chain4::kPml4, 52), c.la, kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(pg::bits(51, 12), r.gpa);
}

TEST(Paging, NonCanonicalIsRejected) {
  FakeMem m;
  for (u64 la : {0x0000800000000000ull, 0xffff7fffffffffffull, 0x8000000000000000ull, 0x00ff000000000000ull}) {
    Result r = run(long_mode(0x1000), la, kRead, m);
    EXPECT_EQ(-EINVAL, r.err) << std::hex << la;
    EXPECT_EQ(~0u, r.pf.error_code);
  }
  EXPECT_EQ(0, m.reads);
}

TEST(Paging, FiveLevel) {
  FakeMem m;
  const u64 la = 0xff5a000000001000ull | 0x123;  // canonical in 57 bits
  PagingState st = long_mode(0x6000);
  st.cr4 |= pg::cr4::kLa57;
  m.w64(0x6000 + ((la >> 48) & 511) * 8, 0x1000 | kPWU);
  m.w64(0x1000 + idx(la, 4) * 8, 0x2000 | kPWU);
  m.w64(0x2000 + idx(la, 3) * 8, 0x3000 | kPWU);
  m.w64(0x3000 + idx(la, 2) * 8, 0x4000 | kPWU);
  m.w64(0x4000 + idx(la, 1) * 8, 0x8000 | kPWU);
  Result r = run(st, la, kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0x8123u, r.gpa);
  // Not canonical in 4-level paging: 4-level refuses it.
  EXPECT_EQ(-EINVAL, run(long_mode(0x6000), la, kRead, m).err);
  // PML5E.PS is reserved.
  m.w64(0x6000 + ((la >> 48) & 511) * 8, 0x1000 | kPWU | kPs);
  expect_pf(run(st, la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
  // 57-bit non-canonical.
  EXPECT_EQ(-EINVAL, run(st, 0x0100000000000000ull, kRead, m).err);
}

// ------------------------------------------------------- access rights

TEST(Paging, UserSupervisorIsAndedAcrossLevels) {
  for (int level = 4; level >= 1; level--) {
    FakeMem m;
    Chain4 c{0x0000000012345000ull};
    c.build(m);
    const u64 at[] = {0, c.e1(), c.e2(), c.e3(), c.e4()};
    m.w64(at[level], m.r64(at[level]) & ~kU);
    SCOPED_TRACE(level);
    expect_pf(run(long_mode(Chain4::kPml4), c.la, kUserRead, m), c.la, pfec::kPresent | pfec::kUser);
    EXPECT_EQ(0, run(long_mode(Chain4::kPml4), c.la, kRead, m).err);
  }
}

TEST(Paging, ReadWriteIsAndedAcrossLevelsAndWpDecidesSupervisor) {
  for (int level = 4; level >= 1; level--) {
    FakeMem m;
    Chain4 c{0x0000000012345000ull};
    c.build(m);
    const u64 at[] = {0, c.e1(), c.e2(), c.e3(), c.e4()};
    m.w64(at[level], m.r64(at[level]) & ~kW);
    SCOPED_TRACE(level);
    PagingState st = long_mode(Chain4::kPml4);
    expect_pf(run(st, c.la, kUserWrite, m), c.la, pfec::kPresent | pfec::kWrite | pfec::kUser);
    expect_pf(run(st, c.la, kWrite, m), c.la, pfec::kPresent | pfec::kWrite);
    EXPECT_EQ(0, run(st, c.la, kUserRead, m).err);
    st.cr0 &= ~pg::cr0::kWp;
    EXPECT_EQ(0, run(st, c.la, kWrite, m).err) << "CR0.WP=0: supervisor writes ignore R/W";
    expect_pf(run(st, c.la, kUserWrite, m), c.la, pfec::kPresent | pfec::kWrite | pfec::kUser);
  }
}

TEST(Paging, XdIsOredAcrossLevels) {
  for (int level = 4; level >= 1; level--) {
    FakeMem m;
    Chain4 c{0x0000000012345000ull};
    c.build(m);
    const u64 at[] = {0, c.e1(), c.e2(), c.e3(), c.e4()};
    m.w64(at[level], m.r64(at[level]) | kXd);
    SCOPED_TRACE(level);
    PagingState st = long_mode(Chain4::kPml4);
    expect_pf(run(st, c.la, kFetch, m), c.la, pfec::kPresent | pfec::kFetch);
    expect_pf(run(st, c.la, kUserFetch, m), c.la, pfec::kPresent | pfec::kFetch | pfec::kUser);
    EXPECT_EQ(0, run(st, c.la, kRead, m).err) << "XD does not stop data reads";
  }
}

TEST(Paging, Smep) {
  FakeMem m;
  Chain4 c{0x400000};
  c.build(m);  // a user page
  PagingState st = long_mode(Chain4::kPml4);
  EXPECT_EQ(0, run(st, c.la, kFetch, m).err) << "no SMEP: supervisor may fetch from user pages";
  st.cr4 |= pg::cr4::kSmep;
  expect_pf(run(st, c.la, kFetch, m), c.la, pfec::kPresent | pfec::kFetch);
  EXPECT_EQ(0, run(st, c.la, kUserFetch, m).err);
  EXPECT_EQ(0, run(st, c.la, kRead, m).err) << "SMEP is about fetches only";
  // A supervisor page: SMEP has nothing to say.
  m.w64(c.e1(), m.r64(c.e1()) & ~kU);
  EXPECT_EQ(0, run(st, c.la, kFetch, m).err);
}

TEST(Paging, SmapWithAcAndImplicitAccesses) {
  FakeMem m;
  Chain4 c{0x400000};
  c.build(m);  // a user page
  PagingState st = long_mode(Chain4::kPml4);
  EXPECT_EQ(0, run(st, c.la, kRead, m).err);
  st.cr4 |= pg::cr4::kSmap;
  expect_pf(run(st, c.la, kRead, m), c.la, pfec::kPresent);
  expect_pf(run(st, c.la, kWrite, m), c.la, pfec::kPresent | pfec::kWrite);
  EXPECT_EQ(0, run(st, c.la, kFetch, m).err) << "SMAP is about data accesses only";
  EXPECT_EQ(0, run(st, c.la, kUserWrite, m).err) << "SMAP is about supervisor accesses only";
  st.rflags = pg::kRflagsAc;
  EXPECT_EQ(0, run(st, c.la, kRead, m).err) << "EFLAGS.AC lifts SMAP for explicit accesses";
  EXPECT_EQ(0, run(st, c.la, kWrite, m).err);
  {
    SCOPED_TRACE("but not for implicit ones");
    expect_pf(run(st, c.la, kImplicitRead, m), c.la, pfec::kPresent);
  }
  // With AC and SMAP, a supervisor write to a read-only user page is still
  // governed by WP.
  m.w64(c.e1(), m.r64(c.e1()) & ~kW);
  expect_pf(run(st, c.la, kWrite, m), c.la, pfec::kPresent | pfec::kWrite);
  // Supervisor pages: SMAP is irrelevant.
  m.w64(c.e1(), (m.r64(c.e1()) | kW) & ~kU);
  st.rflags = 0;
  EXPECT_EQ(0, run(st, c.la, kImplicitRead, m).err);
}

TEST(Paging, FetchErrorCodeNeedsSmepOrPaeWithNxe) {
  // SDM 4.7: I/D = 1 only with CR4.SMEP, or with PAE/4-level and NXE.
  FakeMem m;
  Chain4 c{0x3000000};
  c.build(m);
  m.w64(c.e1(), m.r64(c.e1()) & ~kP);
  PagingState st = long_mode(Chain4::kPml4);
  expect_pf(run(st, c.la, kFetch, m), c.la, pfec::kFetch);
  st.efer &= ~pg::efer::kNxe;
  expect_pf(run(st, c.la, kFetch, m), c.la, 0);
  st.cr4 |= pg::cr4::kSmep;
  expect_pf(run(st, c.la, kUserFetch, m), c.la, pfec::kFetch | pfec::kUser);
}

// ------------------------------------------------------ accessed/dirty

TEST(Paging, AccessedOnEveryLevelDirtyOnLeafWrite) {
  FakeMem m;
  Chain4 c{0x00007fffdeadb000ull};
  c.build(m);
  ASSERT_EQ(0, run(long_mode(Chain4::kPml4), c.la, kRead, m).err);
  EXPECT_EQ(0x2000 | kPWU | kA, m.r64(c.e4()));
  EXPECT_EQ(0x3000 | kPWU | kA, m.r64(c.e3()));
  EXPECT_EQ(0x4000 | kPWU | kA, m.r64(c.e2()));
  EXPECT_EQ(0x5000 | kPWU | kA, m.r64(c.e1())) << "a read does not set D";
  for (auto &w : m.writes)
    EXPECT_EQ(1u, w.second) << "only the low byte is written back";
  m.writes.clear();
  ASSERT_EQ(0, run(long_mode(Chain4::kPml4), c.la, kRead, m).err);
  EXPECT_TRUE(m.writes.empty()) << "nothing to write when A is already set";
  ASSERT_EQ(0, run(long_mode(Chain4::kPml4), c.la, kWrite, m).err);
  EXPECT_EQ(0x5000 | kPWU | kA | kD, m.r64(c.e1()));
  EXPECT_EQ(0x4000 | kPWU | kA, m.r64(c.e2())) << "D only in the leaf";
  EXPECT_EQ(1u, m.writes.size());
}

TEST(Paging, DirtyOnLargePageLeaf) {
  FakeMem m;
  const u64 la = 0x40201000ull;
  m.w64(0x1000, 0x2000 | kPWU);
  m.w64(0x2000 + 8, 0x3000 | kPWU);
  m.w64(0x3000 + 8, 0x600000 | kPWU | kPs);
  ASSERT_EQ(0, run(long_mode(0x1000), la, kWrite, m).err);
  EXPECT_EQ(0x600000 | kPWU | kPs | kA | kD, m.r64(0x3000 + 8));
  EXPECT_EQ(0x3000 | kPWU | kA, m.r64(0x2000 + 8));
}

TEST(Paging, NoAccessedDirtyOnPermissionFault) {
  FakeMem m;
  Chain4 c{0x5000};
  c.build(m, kPWU, kPWU, kPWU, kP | kU);  // read-only leaf
  expect_pf(run(long_mode(Chain4::kPml4), c.la, kWrite, m), c.la, pfec::kPresent | pfec::kWrite);
  EXPECT_TRUE(m.writes.empty());
  EXPECT_EQ(Chain4::kPdpt | kPWU, m.r64(c.e4()));
}

TEST(Paging, ReadOnlyPageTablesSkipTheWriteBack) {
  FakeMem m;
  Chain4 c{0x5000};
  c.build(m);
  m.set_readonly(Chain4::kPt);  // e.g. page tables in a ROM slot
  Result r = run(long_mode(Chain4::kPml4), c.la, kWrite, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(Chain4::kPage, r.gpa);
  EXPECT_EQ(Chain4::kPage | kPWU, m.r64(c.e1()));
  EXPECT_EQ(Chain4::kPt | kPWU | kA, m.r64(c.e2()));
}

TEST(Paging, SelfMappingTableEndsWithLeafValue) {
  // A PML4 entry pointing at the PML4 itself (recursive mapping): linear
  // 0xffff_ffff_ffff_f000 walks PML4[511] four times and lands on the PML4.
  FakeMem m;
  m.w64(0x1000 + 511 * 8, 0x1000 | kP | kW);
  const u64 la = 0xfffffffffffff000ull + 511 * 8;
  Result r = run(long_mode(0x1000), la, kWrite, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0x1000u + 511 * 8, r.gpa);
  EXPECT_EQ(0x1000 | kP | kW | kA | kD, m.r64(0x1000 + 511 * 8));
}

TEST(Paging, PageTableOutsideRamIsReportedDistinctly) {
  for (int level = 4; level >= 1; level--) {
    FakeMem m;
    Chain4 c{0x0000000012345000ull};
    c.build(m);
    const u64 tables[] = {0, Chain4::kPt, Chain4::kPd, Chain4::kPdpt, Chain4::kPml4};
    m.remove_ram(tables[level]);
    SCOPED_TRACE(level);
    Result r = run(long_mode(Chain4::kPml4), c.la + 3, kUserWrite, m);
    EXPECT_EQ(-ENXIO, r.err);
    // KVM injects #PF with P = 0 and the access's W/U/I bits.
    EXPECT_EQ(c.la + 3, r.pf.address);
    EXPECT_EQ(pfec::kWrite | pfec::kUser, r.pf.error_code);
    EXPECT_EQ(~0ull, r.gpa);
  }
}

TEST(Paging, DataPageNeedNotBeRam) {
  // The final GPA may be MMIO: translation does not touch the page.
  FakeMem m;
  Chain4 c{0x5000};
  c.build(m);
  m.w64(c.e1(), 0xfee00000ull | kPWU);
  Result r = run(long_mode(Chain4::kPml4), c.la + 0x30, kWrite, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0xfee00030ull, r.gpa);
}

// ---------------------------------------------------------------- PAE

TEST(Paging, PaeUsesPdpteRegistersNotMemory) {
  FakeMem m;
  PagingState st = pae_mode();
  st.cr3 = 0x7000;  // whatever is there is not read
  const u64 la = 0xc0201abcull;  // PDPTE 3, PD 1, PT 1
  st.pdpte[3] = 0x2000 | kP;
  m.w64(0x2000 + 1 * 8, 0x3000 | kPWU);
  m.w64(0x3000 + 1 * 8, 0x8000 | kPWU);
  Result r = run(st, la, kUserWrite, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0x8abcu, r.gpa);
  EXPECT_EQ(0x3000 | kPWU | kA, m.r64(0x2000 + 8));
  EXPECT_EQ(0x8000 | kPWU | kA | kD, m.r64(0x3000 + 8));
  // High linear bits beyond 32 are not part of a PAE linear address.
  r = run(st, la | (0xabcdull << 32), kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0x8abcu, r.gpa);
}

TEST(Paging, PaePdpteNotPresentAndReserved) {
  FakeMem m;
  PagingState st = pae_mode(36);
  const u64 la = 0x40000000ull;  // PDPTE 1
  expect_pf(run(st, la, kUserRead, m), la, pfec::kUser);
  st.pdpte[1] = 0x2000 | kP | kW;  // bit 1 is reserved in a PDPTE
  expect_pf(run(st, la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
  st.pdpte[1] = 0x2000 | kP | kA;  // bits 8:5 too
  expect_pf(run(st, la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
  st.pdpte[1] = 0x2000 | kP | kXd;  // no XD in a PDPTE, whatever NXE says
  expect_pf(run(st, la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
  st.pdpte[1] = 0x2000 | kP | (1ull << 36);  // MAXPHYADDR 36
  expect_pf(run(st, la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
}

TEST(Paging, PaeReservedAndLargePages) {
  FakeMem m;
  PagingState st = pae_mode(36);
  const u64 la = 0x00400123ull;  // PDPTE 0, PD 2
  st.pdpte[0] = 0x2000 | kP;
  m.w64(0x2000 + 2 * 8, 0x00600000ull | kPWU | kPs);
  Result r = run(st, la, kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0x00600123u, r.gpa);
  // PAE reserves bits 62:MAXPHYADDR (not only 51:M).
  m.w64(0x2000 + 2 * 8, 0x00600000ull | kPWU | kPs | (1ull << 62));
  expect_pf(run(st, la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
  m.w64(0x2000 + 2 * 8, 0x00600000ull | kPWU | kPs | (1ull << 40));
  expect_pf(run(st, la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
  m.w64(0x2000 + 2 * 8, 0x00600000ull | kPWU | kPs | (1ull << 14));  // 2M: 20:13
  expect_pf(run(st, la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
  // XD with NXE: fetch fault with I/D; XD without NXE: reserved.
  m.w64(0x2000 + 2 * 8, 0x00600000ull | kPWU | kPs | kXd);
  expect_pf(run(st, la, kFetch, m), la, pfec::kPresent | pfec::kFetch);
  st.efer = 0;
  expect_pf(run(st, la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
}

TEST(Paging, LoadPaePdptes) {
  FakeMem m;
  u64 out[4] = {1, 2, 3, 4};
  EXPECT_EQ(-EFAULT, mk::x86::load_pae_pdptes(0x7020, 36, m, out));
  m.w64(0x7020, 0x1000 | kP);
  m.w64(0x7028, 0);
  m.w64(0x7030, 0xdeadbeef000ull & ~kP);  // not present: other bits are free
  m.w64(0x7038, 0x3000 | kP | pg::entry::kPwt | pg::entry::kPcd);
  // CR3 bits 4:0 and above 31 are not part of the PDPT address.
  ASSERT_EQ(0, mk::x86::load_pae_pdptes(0xabc0000703full, 36, m, out));
  EXPECT_EQ(0x1000 | kP, out[0]);
  EXPECT_EQ(0u, out[1]);
  EXPECT_EQ(0x3000 | kP | pg::entry::kPwt | pg::entry::kPcd, out[3]);
  m.w64(0x7028, 0x2000 | kP | kU);
  u64 keep[4] = {9, 9, 9, 9};
  EXPECT_EQ(-EINVAL, mk::x86::load_pae_pdptes(0x7020, 36, m, keep));
  EXPECT_EQ(9u, keep[0]) << "nothing written on failure";
}

// --------------------------------------------------------- 32-bit paging

TEST(Paging, Legacy4KPage) {
  FakeMem m;
  const u64 la = 0x80403abcull;  // PDE 0x201, PTE 3
  m.w32(0x1000 + 0x201 * 4, 0x2000 | kPWU);
  m.w32(0x2000 + 3 * 4, 0x9000 | kPWU);
  m.add_ram(0x9000);
  Result r = run(legacy_mode(0x1000), la, kUserWrite, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0x9abcu, r.gpa);
  EXPECT_EQ(0x2000u | kPWU | kA, m.r32(0x1000 + 0x201 * 4));
  EXPECT_EQ(0x9000u | kPWU | kA | kD, m.r32(0x2000 + 3 * 4));
  // 32-bit entries: the write-back never touches the next entry.
  EXPECT_EQ(0u, m.r32(0x2000 + 4 * 4));
}

TEST(Paging, Legacy4MPageNeedsPse) {
  FakeMem m;
  const u64 la = 0x00c12345ull;  // PDE 3
  // PAT (bit 12) set: not an address bit.
  m.w32(0x1000 + 3 * 4, 0x01000000u | kPWU | kPs | pg::entry::kPatLarge);
  Result r = run(legacy_mode(0x1000, true), la, kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0x01012345u, r.gpa);
  // CR4.PSE = 0: PS is ignored, the PDE points at a page table at 0x01001000.
  m.w32(0x01001000 + 0x012 * 4, 0x7000 | kPWU);
  r = run(legacy_mode(0x1000, false), la, kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0x7345u, r.gpa);
}

TEST(Paging, LegacyPse36AndReservedBits) {
  FakeMem m;
  const u64 la = 0x00412345ull;  // PDE 1
  PagingState st = legacy_mode(0x1000);
  st.pse36 = true;
  st.maxphyaddr = 36;
  // Physical bits 35:32 in PDE bits 16:13.
  m.w32(0x1000 + 4, 0x00400000u | kPWU | kPs | (0xfu << 13));
  Result r = run(st, la, kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0xf00412345ull, r.gpa);
  // Bit 17 is reserved with MAXPHYADDR 36 ...
  m.w32(0x1000 + 4, 0x00400000u | kPWU | kPs | (1u << 17));
  expect_pf(run(st, la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
  // ... and an address bit with MAXPHYADDR 40 (bits 20:13 = physical 39:32).
  st.maxphyaddr = 46;
  r = run(st, la, kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0x1000412345ull, r.gpa);
  // Bit 21 is always reserved.
  m.w32(0x1000 + 4, 0x00400000u | kPWU | kPs | (1u << 21));
  expect_pf(run(st, la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
  // Without PSE-36 bits 21:13 are all reserved.
  st.pse36 = false;
  m.w32(0x1000 + 4, 0x00400000u | kPWU | kPs | (1u << 13));
  expect_pf(run(st, la, kRead, m), la, pfec::kPresent | pfec::kRsvd);
}

TEST(Paging, LegacyPteHasNoReservedBitsAndNoXd) {
  FakeMem m;
  const u64 la = 0x1000;
  m.w32(0x1000, 0x2000 | kPWU);
  m.w32(0x2000 + 4, 0xfffff000u | 0xfff);  // every bit set: PAT, G, AVL...
  PagingState st = legacy_mode(0x1000);
  st.efer = pg::efer::kNxe;  // no effect in 32-bit paging
  Result r = run(st, la, kUserFetch, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0xfffff000u, r.gpa);
  // A fault on a fetch: no I/D without SMEP, even with NXE (needs PAE).
  m.w32(0x2000 + 4, 0);
  expect_pf(run(st, la, kUserFetch, m), la, pfec::kUser);
}

TEST(Paging, LegacyLinearAddressIs32Bits) {
  FakeMem m;
  m.w32(0x1000 + 0x3ff * 4, 0x2000 | kPWU);
  m.w32(0x2000 + 0x3ff * 4, 0x3000 | kPWU);
  Result r = run(legacy_mode(0x1000), 0x5ffffffffull, kRead, m);
  ASSERT_EQ(0, r.err);
  EXPECT_EQ(0x3fffu, r.gpa);
  m.w32(0x2000 + 0x3ff * 4, 0);
  expect_pf(run(legacy_mode(0x1000), 0x5ffffffffull, kRead, m), 0xffffffffu, 0);
}

// ------------------------------------------------------------ hostile

// Random page tables and random states: every outcome must be one of the
// documented ones, with the outputs written exactly as promised, and ASan
// must see no stray access.
TEST(Paging, RandomTablesGiveDefinedAnswers) {
  std::mt19937_64 rng(20240601);
  for (int iter = 0; iter < 1500; iter++) {
    FakeMem m;
    // Tables live in the first 64 KiB, densely filled with random entries
    // whose frames mostly point back there.
    for (u64 gpa = 0; gpa < 0x10000; gpa += 4096) {
      u64 entries[512];
      for (u64 &e : entries) {
        e = rng();
        if (rng() % 4)
          e = (e & ~pg::bits(51, 16)) & (rng() % 2 ? ~0ull : ~kXd);
      }
      std::memcpy(m.page(gpa), entries, sizeof(entries));
    }
    if (rng() % 3 == 0)
      m.remove_ram((rng() % 16) << 12);
    PagingState st{};
    st.cr0 = rng() | pg::cr0::kPg;
    st.cr3 = rng() & (rng() % 2 ? 0xffffull : ~0ull);
    st.cr4 = rng();
    st.efer = rng();
    st.rflags = rng();
    for (u64 &p : st.pdpte)
      p = rng() & (rng() % 2 ? 0xffffull : ~0ull);
    st.maxphyaddr = u8(rng());
    st.pse36 = rng() % 2;
    st.gbpages = rng() % 2;
    const u64 la = rng() % 2 ? rng() : u64(mk::s64(rng()) >> 20);
    Access acc{bool(rng() % 2), bool(rng() % 2), bool(rng() % 2), bool(rng() % 2)};
    Result r = run(st, la, acc, m);
    switch (r.err) {
    case 0:
      EXPECT_EQ(~0u, r.pf.error_code);
      EXPECT_LT(r.gpa, 1ull << 52);
      break;
    case -EFAULT:
    case -ENXIO:
      EXPECT_EQ(~0ull, r.gpa);
      EXPECT_EQ(0u, r.pf.error_code & ~0x1fu);
      EXPECT_EQ(acc.write, bool(r.pf.error_code & pfec::kWrite));
      EXPECT_EQ(acc.user, bool(r.pf.error_code & pfec::kUser));
      if (r.pf.error_code & pfec::kRsvd) {
        EXPECT_TRUE(r.pf.error_code & pfec::kPresent);
      }
      if (r.err == -ENXIO) {
        EXPECT_EQ(0u, r.pf.error_code & (pfec::kPresent | pfec::kRsvd));
      }
      break;
    case -EINVAL:
      EXPECT_TRUE((acc.write && acc.fetch) || mk::x86::paging_mode(st) == PagingMode::k4Level ||
                  mk::x86::paging_mode(st) == PagingMode::k5Level);
      break;
    default:
      ADD_FAILURE() << "unexpected " << r.err;
    }
  }
}

}  // namespace
