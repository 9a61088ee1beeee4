// SPDX-License-Identifier: GPL-2.0
// GuestMmu: memory slots + EPT + pins. Guest memory is ordinary test
// memory; the userspace platform's "pin" of a page records it and returns
// its address as the host-physical address, so EPT leaves can be compared
// with the slot's memory and every pin can be checked to be released
// exactly once, after the TLB flush and with the right dirty flag.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <minikvm/platform.h>

#include "core/mmu/guest_mmu.h"
#include "user_platform.h"

using mk::u64;
using mk::u8;
using mk::mmu::EptFault;
using mk::mmu::GuestMmu;
namespace ept = ia32::ept;
namespace viol = ia32::ept::violation;

namespace {

constexpr u64 kPage = 4096;

// Page-aligned test memory standing in for a VMM's guest RAM mapping.
class HostMem {
 public:
  explicit HostMem(size_t pages) : n_(pages * kPage), p_(static_cast<u8 *>(aligned_alloc(kPage, n_))) {
    for (size_t i = 0; i < n_; i++)
      p_[i] = static_cast<u8>(i * 7 + 3);
  }
  ~HostMem() { free(p_); }
  HostMem(const HostMem &) = delete;
  HostMem &operator=(const HostMem &) = delete;
  u64 hva(u64 off = 0) const { return reinterpret_cast<u64>(p_) + off; }
  u8 *data() { return p_; }
  size_t size() const { return n_; }

 private:
  size_t n_;
  u8 *p_;
};

struct FakeFlusher : mk::mmu::TlbFlusher {
  int flushes = 0;
  long pins_at_last_flush = -1;
  void flush_guest_mappings() override {
    flushes++;
    // Pages must still be pinned when the flush happens.
    pins_at_last_flush = mk::user::live_pins();
  }
};

kvm_userspace_memory_region region(unsigned slot, u64 gpa, u64 size, u64 hva, unsigned flags = 0) {
  kvm_userspace_memory_region r{};
  r.slot = slot;
  r.flags = flags;
  r.guest_phys_addr = gpa;
  r.memory_size = size;
  r.userspace_addr = hva;
  return r;
}

// The PTE slot for a mapped gpa (to play the CPU setting the dirty flag).
u64 *pte_slot(const mk::mmu::Ept &e, u64 gpa) {
  const u64 *table = reinterpret_cast<const u64 *>(e.eptp() & ept::kAddrMask);
  for (unsigned level = 4; level > 1; level--)
    table = reinterpret_cast<const u64 *>(table[(gpa >> (12 + 9 * (level - 1))) & 511] & ept::kAddrMask);
  return const_cast<u64 *>(&table[(gpa >> 12) & 511]);
}

class GuestMmuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mk::user::reset_pins();
    pages_ = mk::user::live_pages();
    live_ = mk_alloc_live();
  }
  void TearDown() override {
    mk::user::fail_alloc_after(-1);
    EXPECT_EQ(mk::user::live_pins(), 0) << "pins leaked";
    EXPECT_EQ(mk::user::bad_unpins(), 0) << "unpin without a pin";
    EXPECT_EQ(mk::user::live_pages(), pages_) << "EPT pages leaked";
    EXPECT_EQ(mk_alloc_live(), live_) << "allocations leaked";
    mk::user::reset_pins();
  }

  // Faults gpa in with the given access and expects it mapped.
  static void fault_in(GuestMmu &m, u64 gpa, u64 access) {
    EptFault f = EptFault::kMmio;
    ASSERT_EQ(m.handle_ept_violation(gpa, access, &f), 0) << std::hex << gpa;
    ASSERT_EQ(f, EptFault::kMapped) << std::hex << gpa;
  }
  static EptFault fault(GuestMmu &m, u64 gpa, u64 access) {
    EptFault f = EptFault::kMapped;
    EXPECT_EQ(m.handle_ept_violation(gpa, access, &f), 0) << std::hex << gpa;
    return f;
  }
  // (page, dirty) of every unpin in the log, in order.
  static std::vector<std::pair<u64, bool>> unpins() {
    std::vector<std::pair<u64, bool>> v;
    for (auto &e : mk::user::pin_log())
      if (!e.pin)
        v.emplace_back(e.page, e.flag);
    return v;
  }

  FakeFlusher flusher_;
  long pages_ = 0, live_ = 0;
};

TEST_F(GuestMmuTest, FaultPinsAndMapsTheSlotPageWbIpat) {
  HostMem mem(16);
  GuestMmu m(48, false, flusher_);
  ASSERT_EQ(m.init(), 0);
  EXPECT_EQ(m.eptp() & 0xfff, 0x1eu);
  ASSERT_EQ(m.set_memory_region(region(0, 0x100000, mem.size(), mem.hva())), 0);

  fault_in(m, 0x103123, viol::kDataRead | viol::kLinearAddressValid);
  // The leaf points at the slot's page 3: RWX, WB, ignore PAT.
  EXPECT_EQ(m.ept().leaf(0x103000), mem.hva(0x3000) | 0x77);
  EXPECT_EQ(mk::user::pin_count(mem.hva(0x3000)), 1);
  ASSERT_EQ(mk::user::pin_log().size(), 1u);
  EXPECT_TRUE(mk::user::pin_log()[0].flag);  // pinned for writing
  EXPECT_EQ(m.ept().mapped_pages(), 1u);

  // The same page again (another vCPU raced for it): no second pin.
  fault_in(m, 0x103ff8, viol::kDataWrite);
  fault_in(m, 0x103000, viol::kInstructionFetch);
  EXPECT_EQ(mk::user::pin_count(mem.hva(0x3000)), 1);
  EXPECT_EQ(mk::user::live_pins(), 1);

  // Every access kind maps.
  fault_in(m, 0x100000, viol::kDataWrite);
  fault_in(m, 0x10f000, viol::kInstructionFetch);
  fault_in(m, 0x10e000, 0);  // no access bit at all: treated as a read
  EXPECT_EQ(mk::user::live_pins(), 4);
  EXPECT_EQ(flusher_.flushes, 0);
}

TEST_F(GuestMmuTest, NoSlotIsMmio) {
  HostMem mem(2);
  GuestMmu m(40, false, flusher_);
  ASSERT_EQ(m.init(), 0);
  ASSERT_EQ(m.set_memory_region(region(0, 0x100000, mem.size(), mem.hva())), 0);
  for (u64 gpa : {0ull, 0xfffffull, 0x102000ull, 0xfee00000ull, 1ull << 40, 1ull << 47, 1ull << 52, ~0ull})
    for (u64 acc : {viol::kDataRead, viol::kDataWrite, viol::kInstructionFetch})
      EXPECT_EQ(fault(m, gpa, acc), EptFault::kMmio) << std::hex << gpa;
  EXPECT_TRUE(mk::user::pin_log().empty());
  EXPECT_EQ(m.ept().table_pages(), 1u);  // nothing walked or allocated
}

TEST_F(GuestMmuTest, ReadonlySlotMapsReadExecuteAndWritesAreMmio) {
  HostMem mem(4);
  GuestMmu m(48, false, flusher_);
  ASSERT_EQ(m.init(), 0);
  ASSERT_EQ(m.set_memory_region(region(1, 0xfffc0000, mem.size(), mem.hva(), KVM_MEM_READONLY)), 0);

  EXPECT_EQ(fault(m, 0xfffc1000, viol::kDataWrite), EptFault::kMmio);
  EXPECT_TRUE(mk::user::pin_log().empty());
  fault_in(m, 0xfffc1000, viol::kInstructionFetch);
  EXPECT_EQ(m.ept().leaf(0xfffc1000), mem.hva(0x1000) | 0x75);  // R+X, WB, IPAT
  ASSERT_EQ(mk::user::pin_log().size(), 1u);
  EXPECT_FALSE(mk::user::pin_log()[0].flag);  // pinned read-only
  // A write to the now-mapped read-only page is still MMIO, not a remap.
  EXPECT_EQ(fault(m, 0xfffc1000, viol::kDataWrite | viol::kWasReadable | viol::kWasExecutable), EptFault::kMmio);
  EXPECT_EQ(mk::user::live_pins(), 1);

  // Deleting it flushes, then unpins the page clean.
  bool flushed = false;
  ASSERT_EQ(m.set_memory_region(region(1, 0, 0, 0), &flushed), 0);
  EXPECT_TRUE(flushed);
  EXPECT_EQ(flusher_.pins_at_last_flush, 1);
  std::vector<std::pair<u64, bool>> want = {{mem.hva(0x1000), false}};
  EXPECT_EQ(unpins(), want);
}

TEST_F(GuestMmuTest, DeleteUnpinsExactlyTheSlotsPagesAfterTheFlush) {
  HostMem a(8), b(8);
  GuestMmu m(48, false, flusher_);
  ASSERT_EQ(m.init(), 0);
  ASSERT_EQ(m.set_memory_region(region(0, 0x0, a.size(), a.hva())), 0);
  ASSERT_EQ(m.set_memory_region(region(1, 0x8000, b.size(), b.hva(), KVM_MEM_READONLY)), 0);
  for (u64 gpa : {0x0ull, 0x3000ull, 0x7000ull})
    fault_in(m, gpa, viol::kDataRead);
  for (u64 gpa : {0x8000ull, 0xf000ull})
    fault_in(m, gpa, viol::kDataRead);
  ASSERT_EQ(mk::user::live_pins(), 5);
  mk::user::pin_log().clear();

  bool flushed = false;
  ASSERT_EQ(m.set_memory_region(region(0, 0, 0, a.hva()), &flushed), 0);
  EXPECT_TRUE(flushed);
  EXPECT_EQ(flusher_.flushes, 1);
  EXPECT_EQ(flusher_.pins_at_last_flush, 5) << "pages unpinned before the flush";
  // Slot 0's three pages, dirty (mapped writable, no A/D flags to tell).
  std::vector<std::pair<u64, bool>> want = {{a.hva(0x0), true}, {a.hva(0x3000), true}, {a.hva(0x7000), true}};
  EXPECT_EQ(unpins(), want);
  EXPECT_EQ(mk::user::live_pins(), 2);
  EXPECT_EQ(mk::user::pin_count(b.hva(0x0)), 1);
  EXPECT_EQ(mk::user::pin_count(b.hva(0x7000)), 1);
  EXPECT_EQ(m.ept().leaf(0x3000), 0u);
  EXPECT_EQ(m.ept().leaf(0x8000), b.hva() | 0x75);
  EXPECT_EQ(fault(m, 0x3000, viol::kDataRead), EptFault::kMmio);

  // Deleting a slot with nothing mapped needs no flush.
  ASSERT_EQ(m.set_memory_region(region(2, 0x100000, a.size(), a.hva())), 0);
  ASSERT_EQ(m.set_memory_region(region(2, 0, 0, 0), &flushed), 0);
  EXPECT_FALSE(flushed);
  EXPECT_EQ(flusher_.flushes, 1);
}

TEST_F(GuestMmuTest, WithAccessDirtyOnlyWrittenPagesUnpinDirty) {
  HostMem a(4);
  GuestMmu m(48, true, flusher_);
  ASSERT_EQ(m.init(), 0);
  EXPECT_EQ(m.eptp() & 0xfff, 0x5eu);
  ASSERT_EQ(m.set_memory_region(region(0, 0x10000, a.size(), a.hva())), 0);
  for (u64 gpa = 0x10000; gpa < 0x14000; gpa += kPage)
    fault_in(m, gpa, viol::kDataRead);
  // The CPU wrote to page 2 (and read the others).
  for (u64 gpa = 0x10000; gpa < 0x14000; gpa += kPage)
    *pte_slot(m.ept(), gpa) |= ept::kAccessed;
  *pte_slot(m.ept(), 0x12000) |= ept::kDirty;
  mk::user::pin_log().clear();
  ASSERT_EQ(m.set_memory_region(region(0, 0, 0, 0)), 0);
  std::vector<std::pair<u64, bool>> want = {
      {a.hva(0x0), false}, {a.hva(0x1000), false}, {a.hva(0x2000), true}, {a.hva(0x3000), false}};
  EXPECT_EQ(unpins(), want);
}

TEST_F(GuestMmuTest, MoveUnpinsTheOldRangeAndMapsAtTheNewOne) {
  HostMem a(4);
  GuestMmu m(48, false, flusher_);
  ASSERT_EQ(m.init(), 0);
  ASSERT_EQ(m.set_memory_region(region(3, 0x10000, a.size(), a.hva())), 0);
  fault_in(m, 0x11000, viol::kDataWrite);
  bool flushed = false;
  ASSERT_EQ(m.set_memory_region(region(3, 0x40000, a.size(), a.hva()), &flushed), 0);
  EXPECT_TRUE(flushed);
  EXPECT_EQ(mk::user::live_pins(), 0);
  EXPECT_EQ(m.ept().leaf(0x11000), 0u);
  EXPECT_EQ(fault(m, 0x11000, viol::kDataRead), EptFault::kMmio);
  fault_in(m, 0x41000, viol::kDataRead);
  EXPECT_EQ(m.ept().leaf(0x41000), a.hva(0x1000) | 0x77);
  EXPECT_EQ(mk::user::pin_count(a.hva(0x1000)), 1);

  // Moving onto itself partly (KVM allows it) also unmaps the old range.
  ASSERT_EQ(m.set_memory_region(region(3, 0x41000, a.size(), a.hva()), &flushed), 0);
  EXPECT_TRUE(flushed);
  EXPECT_EQ(mk::user::live_pins(), 0);
  EXPECT_EQ(m.ept().leaf(0x41000), 0u);
  fault_in(m, 0x41000, viol::kDataRead);
  EXPECT_EQ(m.ept().leaf(0x41000), a.hva(0x0) | 0x77);

  // Unchanged: nothing happens.
  ASSERT_EQ(m.set_memory_region(region(3, 0x41000, a.size(), a.hva()), &flushed), 0);
  EXPECT_FALSE(flushed);
  EXPECT_EQ(mk::user::live_pins(), 1);
}

TEST_F(GuestMmuTest, InvalidRequestsChangeNothing) {
  HostMem a(4);
  GuestMmu m(48, false, flusher_);
  ASSERT_EQ(m.init(), 0);
  ASSERT_EQ(m.set_memory_region(region(0, 0x10000, a.size(), a.hva())), 0);
  fault_in(m, 0x10000, viol::kDataRead);
  bool flushed = true;
  EXPECT_EQ(m.set_memory_region(region(1, 0x12000, a.size(), a.hva()), &flushed), -EEXIST);
  EXPECT_FALSE(flushed);
  EXPECT_EQ(m.set_memory_region(region(0, 0x10000, 2 * a.size(), a.hva())), -EINVAL);
  EXPECT_EQ(m.set_memory_region(region(0, 0x10000, a.size(), a.hva(), KVM_MEM_READONLY)), -EINVAL);
  EXPECT_EQ(m.set_memory_region(region(0, 0x10000, 0, a.hva(), KVM_MEM_LOG_DIRTY_PAGES)), -EINVAL);
  EXPECT_EQ(m.set_memory_region(region(32, 0x10000, 0, a.hva())), -EINVAL);
  EXPECT_EQ(m.set_memory_region(region(0x10000, 0x10000, 0, a.hva())), -EINVAL);
  EXPECT_EQ(m.set_memory_region(region(0, 1ull << 48, a.size(), a.hva())), -EINVAL);  // beyond the width
  EXPECT_EQ(flusher_.flushes, 0);
  EXPECT_EQ(mk::user::live_pins(), 1);
  EXPECT_EQ(m.ept().leaf(0x10000), a.hva() | 0x77);
}

TEST_F(GuestMmuTest, PinFailuresAreReturnedAndLeaveNothing) {
  HostMem a(4);
  GuestMmu m(48, false, flusher_);
  ASSERT_EQ(m.init(), 0);
  ASSERT_EQ(m.set_memory_region(region(0, 0x10000, a.size(), a.hva())), 0);
  EptFault f;
  for (int err : {-EFAULT, -ENOMEM, -EINTR}) {
    mk::user::clear_pin_faults();
    mk::user::fail_pin(a.hva(0x1000), err);
    EXPECT_EQ(m.handle_ept_violation(0x11000, viol::kDataWrite, &f), err);
    EXPECT_EQ(m.handle_ept_violation(0x11800, viol::kDataRead, &f), err);
    EXPECT_EQ(m.ept().leaf(0x11000), 0u);
  }
  mk::user::clear_pin_faults();
  EXPECT_EQ(mk::user::live_pins(), 0);
  // Other pages are unaffected, and the page maps once pinning works.
  fault_in(m, 0x11000, viol::kDataWrite);
  fault_in(m, 0x12000, viol::kDataWrite);
  EXPECT_EQ(mk::user::live_pins(), 2);
}

TEST_F(GuestMmuTest, ReadOnlyHostPageInAWritableSlot) {
  // KVM's hva_to_pfn(): a read of a page the host maps read-only is
  // mapped read-only; a write to it is -EFAULT for KVM_RUN.
  HostMem a(2);
  GuestMmu m(48, false, flusher_);
  ASSERT_EQ(m.init(), 0);
  ASSERT_EQ(m.set_memory_region(region(0, 0x10000, a.size(), a.hva())), 0);
  mk::user::fail_pin(a.hva(0x1000), -EFAULT, /*writable_only=*/true);

  fault_in(m, 0x11000, viol::kDataRead);
  EXPECT_EQ(m.ept().leaf(0x11000), a.hva(0x1000) | 0x75);
  ASSERT_EQ(mk::user::pin_log().size(), 2u);
  EXPECT_TRUE(mk::user::pin_log()[0].flag);   // tried writable: failed
  EXPECT_FALSE(mk::user::pin_log()[1].flag);  // then read-only
  EXPECT_EQ(mk::user::live_pins(), 1);

  // A write now: the read-only mapping is dropped (after a flush) and the
  // writable pin fails again.
  EptFault f;
  EXPECT_EQ(m.handle_ept_violation(0x11000, viol::kDataWrite | viol::kWasReadable, &f), -EFAULT);
  EXPECT_EQ(flusher_.flushes, 1);
  EXPECT_EQ(flusher_.pins_at_last_flush, 1);
  EXPECT_EQ(mk::user::live_pins(), 0);
  EXPECT_EQ(m.ept().leaf(0x11000), 0u);

  // While the host page stays read-only, reads keep mapping it read-only.
  fault_in(m, 0x11000, viol::kDataRead);
  EXPECT_EQ(m.ept().leaf(0x11000), a.hva(0x1000) | 0x75);
  // The host makes it writable (mprotect): the next write upgrades.
  mk::user::clear_pin_faults();
  mk::user::pin_log().clear();
  fault_in(m, 0x11000, viol::kDataWrite | viol::kWasReadable);
  EXPECT_EQ(m.ept().leaf(0x11000), a.hva(0x1000) | 0x77);
  EXPECT_EQ(flusher_.flushes, 2);
  EXPECT_EQ(mk::user::live_pins(), 1);
  // The read-only pin was released clean, then the writable pin taken.
  ASSERT_EQ(mk::user::pin_log().size(), 2u);
  EXPECT_FALSE(mk::user::pin_log()[0].pin);
  EXPECT_FALSE(mk::user::pin_log()[0].flag);
  EXPECT_TRUE(mk::user::pin_log()[1].pin);
  EXPECT_TRUE(mk::user::pin_log()[1].flag);
}

TEST_F(GuestMmuTest, UnmappedHostMemoryFaults) {
  // access_ok() accepts hva 0; the pin and the copies fail later, as in KVM.
  GuestMmu m(48, false, flusher_);
  ASSERT_EQ(m.init(), 0);
  ASSERT_EQ(m.set_memory_region(region(0, 0x10000, 0x4000, 0)), 0);
  EptFault f;
  EXPECT_EQ(m.handle_ept_violation(0x10000, viol::kDataRead, &f), -EFAULT);
  u8 buf[8];
  EXPECT_EQ(m.read(0x10000, buf, sizeof(buf)), -EFAULT);
  EXPECT_EQ(m.write(0x10000, buf, sizeof(buf)), -EFAULT);
}

TEST_F(GuestMmuTest, OutOfMemoryForEveryAllocation) {
  // For every n, the n-th allocation fails somewhere in: init, four slots'
  // worth of faults spread over several tables, a delete, the destructor.
  // Each step either succeeds or fails with -ENOMEM leaving nothing pinned
  // for that page; nothing leaks.
  HostMem a(4), b(4);
  const u64 gpas[] = {0x10000, 0x13000, 0x40000000, 0x8000000000ull, 0x8000001000ull};
  bool clean_run = false;
  for (long n = 0; !clean_run; n++) {
    mk::user::reset_pins();
    int failures = 0;
    {
      GuestMmu m(48, false, flusher_);
      mk::user::fail_alloc_after(n);
      int err = m.init();
      if (err) {
        EXPECT_EQ(err, -ENOMEM);
        failures++;
        mk::user::fail_alloc_after(-1);
        ASSERT_EQ(m.init(), 0);
      }
      ASSERT_EQ(m.set_memory_region(region(0, 0x10000, a.size(), a.hva())), 0);
      ASSERT_EQ(m.set_memory_region(region(1, 0x40000000, b.size(), b.hva())), 0);
      ASSERT_EQ(m.set_memory_region(region(2, 0x8000000000ull, a.size(), a.hva(), KVM_MEM_READONLY)), 0);
      for (u64 gpa : gpas) {
        EptFault f = EptFault::kMmio;
        const long pins = mk::user::live_pins();
        err = m.handle_ept_violation(gpa, viol::kDataRead, &f);
        if (err) {
          EXPECT_EQ(err, -ENOMEM) << n;
          EXPECT_EQ(mk::user::live_pins(), pins) << "pin kept after a failed map";
          EXPECT_EQ(m.ept().leaf(gpa), 0u);
          failures++;
          mk::user::fail_alloc_after(-1);
          err = m.handle_ept_violation(gpa, viol::kDataRead, &f);
        }
        ASSERT_EQ(err, 0);
        ASSERT_EQ(f, EptFault::kMapped);
      }
      EXPECT_EQ(mk::user::live_pins(), 5);
      ASSERT_EQ(m.set_memory_region(region(1, 0, 0, 0)), 0);
      EXPECT_EQ(mk::user::live_pins(), 4);
      clean_run = failures == 0;
      EXPECT_LE(failures, 1);
      mk::user::fail_alloc_after(-1);
    }
    ASSERT_EQ(mk::user::live_pins(), 0) << n;
    ASSERT_EQ(mk::user::bad_unpins(), 0) << n;
    ASSERT_EQ(mk::user::live_pages(), pages_) << n;
    ASSERT_LT(n, 100);
  }
}

TEST_F(GuestMmuTest, DestructorUnpinsEverything) {
  HostMem a(8), b(8);
  {
    GuestMmu m(48, false, flusher_);
    ASSERT_EQ(m.init(), 0);
    ASSERT_EQ(m.set_memory_region(region(0, 0x0, a.size(), a.hva())), 0);
    ASSERT_EQ(m.set_memory_region(region(7, 0x100000000ull, b.size(), b.hva(), KVM_MEM_READONLY)), 0);
    // Two slots aliasing the same memory: two pins on the same page.
    ASSERT_EQ(m.set_memory_region(region(9, 0x200000, a.size(), a.hva())), 0);
    for (u64 off = 0; off < a.size(); off += kPage) {
      fault_in(m, off, viol::kDataWrite);
      fault_in(m, 0x100000000ull + off, viol::kDataRead);
    }
    fault_in(m, 0x200000, viol::kDataRead);
    EXPECT_EQ(mk::user::pin_count(a.hva()), 2);
    EXPECT_EQ(mk::user::live_pins(), 17);
    mk::user::pin_log().clear();
  }
  EXPECT_EQ(flusher_.flushes, 0);
  auto u = unpins();
  ASSERT_EQ(u.size(), 17u);
  for (auto &[page, dirty] : u) {
    bool in_b = page >= b.hva() && page < b.hva() + b.size();
    EXPECT_EQ(dirty, !in_b) << std::hex << page;  // the read-only slot's pages are clean
  }
}

TEST_F(GuestMmuTest, ReadAndWriteCrossPagesAndSlots) {
  // Two slots adjacent in guest-physical space, backed by unrelated memory.
  HostMem a(2), b(2);
  GuestMmu m(48, false, flusher_);
  ASSERT_EQ(m.init(), 0);
  ASSERT_EQ(m.set_memory_region(region(0, 0x10000, a.size(), a.hva())), 0);
  ASSERT_EQ(m.set_memory_region(region(1, 0x12000, b.size(), b.hva())), 0);
  // (Not through GuestPhysMem&: a virtual call from this RTTI-enabled test
  // into the RTTI-less core would trip UBSan's vptr check; guest_mmu.h.)
  GuestMmu &mem = m;

  u8 out[64], in[64];
  for (int i = 0; i < 64; i++)
    out[i] = static_cast<u8>(0xa0 + i);
  // Page boundary inside slot 0.
  ASSERT_EQ(mem.write(0x10ffe, out, 4), 0);
  EXPECT_EQ(memcmp(a.data() + 0xffe, out, 4), 0);
  // Slot boundary: 16 bytes at the end of a, 48 at the start of b.
  ASSERT_EQ(mem.write(0x11ff0, out, 64), 0);
  EXPECT_EQ(memcmp(a.data() + 0x1ff0, out, 16), 0);
  EXPECT_EQ(memcmp(b.data(), out + 16, 48), 0);
  memset(in, 0, sizeof(in));
  ASSERT_EQ(mem.read(0x11ff0, in, 64), 0);
  EXPECT_EQ(memcmp(in, out, 64), 0);
  // The whole of both slots in one read.
  std::vector<u8> all(0x4000);
  ASSERT_EQ(mem.read(0x10000, all.data(), all.size()), 0);
  EXPECT_EQ(memcmp(all.data(), a.data(), 0x2000), 0);
  EXPECT_EQ(memcmp(all.data() + 0x2000, b.data(), 0x2000), 0);
  // No pages were pinned or mapped for this: copies go through the hva.
  EXPECT_EQ(mk::user::live_pins(), 0);

  u64 hva = 0;
  ASSERT_EQ(m.gpa_to_hva(0x12345, true, &hva), 0);
  EXPECT_EQ(hva, b.hva(0x345));
  EXPECT_EQ(m.gpa_to_hva(0x14000, false, &hva), -EFAULT);
}

TEST_F(GuestMmuTest, ReadAndWriteRefuseHolesReadonlyAndWrapBeforeCopying) {
  HostMem a(2), r(1);
  GuestMmu m(48, false, flusher_);
  ASSERT_EQ(m.init(), 0);
  ASSERT_EQ(m.set_memory_region(region(0, 0x10000, a.size(), a.hva())), 0);
  ASSERT_EQ(m.set_memory_region(region(1, 0x13000, r.size(), r.hva(), KVM_MEM_READONLY)), 0);
  const std::vector<u8> before_a(a.data(), a.data() + a.size());
  u8 buf[32];
  memset(buf, 0x5a, sizeof(buf));

  // Running off slot 0 into the hole at 0x12000: nothing is written.
  EXPECT_EQ(m.write(0x11ff0, buf, 32), -EFAULT);
  EXPECT_EQ(m.read(0x11ff0, buf, 32), -EFAULT);
  EXPECT_EQ(std::vector<u8>(a.data(), a.data() + a.size()), before_a);
  for (int i = 0; i < 32; i++)
    ASSERT_EQ(buf[i], 0x5a);  // nor read
  EXPECT_EQ(m.write(0x12000, buf, 1), -EFAULT);
  EXPECT_EQ(m.read(0xfff, buf, 1), -EFAULT);
  // The read-only slot reads, but does not write.
  EXPECT_EQ(m.read(0x13000, buf, 32), 0);
  EXPECT_EQ(memcmp(buf, r.data(), 32), 0);
  EXPECT_EQ(m.write(0x13000, buf, 1), -EFAULT);
  u64 hva = 0;
  EXPECT_EQ(m.gpa_to_hva(0x13000, true, &hva), -EFAULT);
  EXPECT_EQ(m.gpa_to_hva(0x13000, false, &hva), 0);
  EXPECT_EQ(hva, r.hva());
  // Wrapping and hostile ranges.
  EXPECT_EQ(m.read(~0ull - 3, buf, 8), -EFAULT);
  EXPECT_EQ(m.read(0x10000, buf, ~size_t{0}), -EFAULT);
  EXPECT_EQ(m.write(1ull << 60, buf, 8), -EFAULT);
  // Empty accesses succeed anywhere.
  EXPECT_EQ(m.read(~0ull, buf, 0), 0);
  EXPECT_EQ(m.write(0, buf, 0), 0);
}

}  // namespace
