// SPDX-License-Identifier: GPL-2.0
// VT-d posting of assigned devices' MSIs (kmod/core/irq/irq_posting.cpp):
// the decision (KVM's vmx_pi_update_irte + kvm_intr_is_single_vcpu) on
// every route kind with real LAPICs as destinations, and the calls it makes
// to the IOMMU driver (recorded by the user platform's
// mk_irq_set_vcpu_affinity), with failures, fallbacks and counters.
#include <gtest/gtest.h>

#include <linux/kvm.h>
#include <minikvm/core.h>
#include <minikvm/platform.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "bypass_user.h"
#include "core/irq/irq_posting.h"
#include "core/irq/lapic.h"
#include "user_platform.h"

using mk::u32;
using mk::u64;
using mk::u8;
using mk::irq::ApicBus;
using mk::irq::ApicMessage;
using mk::irq::Lapic;
using mk::irq::LapicHost;
using mk::irq::PostingClient;
using mk::irq::PostingDecision;
using mk::irq::PostingState;
using mk::irq::PostingStats;
using mk::irq::PostingTarget;
using mk::irq::PostingTargets;
using mk::irq::RouteEntry;
namespace reg = mk::irq::apic_reg;
namespace bp = mk::user::bypass;

namespace {

constexpr u64 kBase = Lapic::kDefaultBase;
constexpr u64 kPa0 = 0x12340000;  // descriptor addresses: 64-byte aligned, distinct

// The LAPICs only need to be matched against: nothing is delivered.
#define NO_VPTR __attribute__((no_sanitize("vptr")))
struct NullBus : ApicBus {
  int deliver(const ApicMessage &, Lapic *) override { return -1; }
};
struct NullHost : LapicHost {
  void apic_kick() override {}
  void apic_nmi() override {}
  void apic_eoi_level(u8) override {}
  u64 apic_guest_tsc() override { return 0; }
};

// A fake VM: vCPU i has LAPIC i (vCPU id ids[i]) and descriptor kPa0 + 64 * i.
class Targets final : public PostingTargets {
 public:
  u32 count() const override { return static_cast<u32>(t_.size()); }
  PostingTarget at(u32 i) const override { return t_[i]; }
  std::vector<PostingTarget> t_;
};

class Posting : public ::testing::Test {
 protected:
  void SetUp() override {
    bp::reset();
    mk::user::log_lines().clear();
    live_ = mk_alloc_live();
  }
  void TearDown() override {
    // The vectors' storage comes from the core's counted allocator too.
    std::vector<std::unique_ptr<Lapic>>().swap(lapics_);
    std::vector<PostingTarget>().swap(targets_.t_);
    bp::reset();
    EXPECT_EQ(mk_alloc_live(), live_) << "allocations leaked";
  }

  // n xAPIC vCPUs (ids 0..n-1 unless given), hardware- and software-enabled,
  // flat logical model with LDR bit i, all with descriptors and hardware posting.
  NO_VPTR void make(u32 n, bool x2apic = false, std::vector<u32> ids = {}) {
    for (u32 i = 0; i < n; i++) {
      u32 id = ids.empty() ? i : ids[i];
      auto l = std::make_unique<Lapic>(id, host_, bus_);
      ASSERT_EQ(l->init(), 0);
      l->reset(i == 0);
      l->set_x2apic_supported(true);
      if (x2apic) {
        ASSERT_EQ(l->set_apic_base(kBase | Lapic::kBaseEnable | Lapic::kBaseExtd, false), 0);
        ASSERT_EQ(l->write_msr(0x80f, 0x1ff), 0);
      } else {
        w(l.get(), reg::kSvr, 0x1ff);
        w(l.get(), reg::kLdr, (1u << i) << 24);
      }
      PostingTarget t;
      t.lapic = l.get();
      t.pi_desc_pa = kPa0 + 64 * i;
      t.hw_posted = true;
      targets_.t_.push_back(t);
      lapics_.push_back(std::move(l));
    }
  }
  static void w(Lapic *l, u32 off, u32 v) { ASSERT_EQ(l->mmio_write(kBase + off, 4, &v), 0); }

  static RouteEntry msi(u32 dest, u8 vector, u32 delivery = 0, bool logical = false, bool rh = false,
                        bool level = false, u32 address_hi = 0) {
    RouteEntry e{};
    e.gsi = 40;
    e.type = KVM_IRQ_ROUTING_MSI;
    e.address_lo = 0xfee00000u | ((dest & 0xff) << 12) | (rh ? 8u : 0u) | (logical ? 4u : 0u);
    e.address_hi = address_hi;
    e.data = vector | (delivery << 8) | (level ? 0xc000u : 0u);
    return e;
  }
  PostingDecision decide(const RouteEntry &e, bool soft = false, bool x2apic_format = false) {
    return mk::irq::posting_decide(&e, 1, x2apic_format, targets_, soft);
  }
  void expect_post(const RouteEntry &e, u32 vcpu, bool soft = false, bool x2apic_format = false) {
    PostingDecision d = decide(e, soft, x2apic_format);
    EXPECT_TRUE(d.post);
    EXPECT_EQ(d.vcpu, vcpu);
    EXPECT_EQ(d.vector, e.data & 0xff);
    EXPECT_EQ(d.pi_desc_pa, kPa0 + 64 * vcpu);
  }
  void expect_remapped(const RouteEntry &e, bool soft = false, bool x2apic_format = false) {
    EXPECT_FALSE(decide(e, soft, x2apic_format).post);
  }

  NullBus bus_;
  NullHost host_;
  Targets targets_;
  std::vector<std::unique_ptr<Lapic>> lapics_;
  long live_ = 0;
};

// ---- the decision ----

TEST_F(Posting, FixedPhysicalToOneVcpuPosts) {
  make(2);
  expect_post(msi(1, 0x41), 1);
  expect_post(msi(0, 0x42), 0);
}

TEST_F(Posting, LevelTriggeredMsiPostsAsKvm) {
  make(2);
  expect_post(msi(1, 0x41, 0, false, false, true), 1);
}

TEST_F(Posting, PhysicalBroadcastIsNotSingle) {
  make(2);
  expect_remapped(msi(0xff, 0x41));
}

TEST_F(Posting, BroadcastInAOneVcpuVmIsSingleAsKvmSlowPath) {
  make(1);
  expect_post(msi(0xff, 0x41), 0);
}

TEST_F(Posting, NoSuchDestinationIsNotPosted) {
  make(2);
  expect_remapped(msi(5, 0x41));
}

TEST_F(Posting, LogicalFlatOneBitPostsTwoBitsDoNot) {
  make(3);
  expect_post(msi(0x4, 0x50, 0, true), 2);
  expect_remapped(msi(0x6, 0x50, 0, true));
  expect_remapped(msi(0x0, 0x50, 0, true));
}

TEST_F(Posting, LogicalClusterModel) {
  make(3);
  // Cluster model (DFR 0x0fffffff): LDR = cluster 1, member bits 1, 2, 4.
  for (u32 i = 0; i < 3; i++) {
    w(lapics_[i].get(), reg::kDfr, 0x0fffffff);
    w(lapics_[i].get(), reg::kLdr, (0x10u | (1u << i)) << 24);
  }
  expect_post(msi(0x12, 0x60, 0, true), 1);
  expect_remapped(msi(0x13, 0x60, 0, true));
  expect_remapped(msi(0x22, 0x60, 0, true));  // another cluster
}

TEST_F(Posting, LowestPriorityPostsOnlyWithOneCandidate) {
  make(2);
  expect_post(msi(0x2, 0x70, 1, true), 1);     // lowest priority, one candidate
  expect_remapped(msi(0x3, 0x70, 1, true));    // two candidates
  expect_post(msi(1, 0x70, 1), 1);             // physical lowest priority to one APIC
  expect_post(msi(0x1, 0x70, 0, true, true), 0);   // redirection hint, one candidate
  expect_remapped(msi(0x3, 0x70, 0, true, true));  // redirection hint, two
}

TEST_F(Posting, OnlyFixedAndLowestPriorityArePostable) {
  make(2);
  for (u32 mode : {2u, 3u, 4u, 5u, 6u, 7u})  // SMI, reserved, NMI, INIT, SIPI, ExtINT
    expect_remapped(msi(1, 0x41, mode));
}

TEST_F(Posting, X2apicDestinations) {
  // vCPU ids 0 and 300 in x2APIC mode: a 32-bit destination ID in the MSI
  // address_hi (KVM_X2APIC_API_USE_32BIT_IDS format).
  make(2, true, {0, 300});
  expect_post(msi(300 & 0xff, 0x41, 0, false, false, false, 300 & ~0xffu), 1, false, true);
  // Without the format, address_hi is ignored: destination 44 is nobody.
  expect_remapped(msi(300 & 0xff, 0x41, 0, false, false, false, 300 & ~0xffu), false, false);
  // Invalid in x2APIC format: address_hi bits 7:0 set (kvm_msi_route_invalid).
  expect_remapped(msi(0, 0x41, 0, false, false, false, 0x1), false, true);
  // x2APIC logical: cluster 0x12 (id 300 >> 4), bit 300 & 15.
  expect_post(msi(0, 0x42, 0, true, false, false, ((0x12u << 16) | (1u << (300 % 16))) & ~0xffu), 1, false, true);
  // The xAPIC broadcast 0xff reaches x2APIC LAPICs too (KVM's hotplug quirk).
  expect_remapped(msi(0xff, 0x41));
  // The x2APIC broadcast.
  expect_remapped(msi(0xff, 0x41, 0, false, false, false, 0xffffff00u), false, true);
}

TEST_F(Posting, HardwareDisabledLapicIsNoDestination) {
  make(2);
  ASSERT_EQ(lapics_[1]->set_apic_base(kBase, true), 0);  // EN clear
  expect_remapped(msi(1, 0x41));
  // The broadcast now has one destination left.
  expect_post(msi(0xff, 0x41), 0);
}

TEST_F(Posting, VcpuWithoutDescriptorOrLapic) {
  make(2);
  targets_.t_[1].pi_desc_pa = 0;
  expect_remapped(msi(1, 0x41));
  expect_remapped(msi(1, 0x41), true);
  expect_post(msi(0, 0x41), 0);
  targets_.t_[0].lapic = nullptr;
  expect_remapped(msi(0, 0x41));
}

TEST_F(Posting, SoftwareDescriptorOnlyUnderTheTestKnob) {
  make(2);
  for (auto &t : targets_.t_)
    t.hw_posted = false;
  expect_remapped(msi(1, 0x41), false);
  expect_post(msi(1, 0x41), 1, true);
}

TEST_F(Posting, OnlyASingleMsiRouteIsPosted) {
  make(2);
  RouteEntry r[2] = {msi(1, 0x41), msi(1, 0x41)};
  EXPECT_FALSE(mk::irq::posting_decide(r, 0, false, targets_, false).post);
  EXPECT_TRUE(mk::irq::posting_decide(r, 1, false, targets_, false).post);
  RouteEntry chip{};
  chip.type = KVM_IRQ_ROUTING_IRQCHIP;
  chip.chip = KVM_IRQCHIP_IOAPIC;
  chip.pin = 5;
  EXPECT_FALSE(mk::irq::posting_decide(&chip, 1, false, targets_, false).post);
  RouteEntry two[2] = {chip, chip};
  two[1].chip = KVM_IRQCHIP_PIC_MASTER;
  EXPECT_FALSE(mk::irq::posting_decide(two, 2, false, targets_, false).post);
  RouteEntry sint{};
  sint.type = KVM_IRQ_ROUTING_HV_SINT;
  EXPECT_FALSE(mk::irq::posting_decide(&sint, 1, false, targets_, false).post);
}

TEST_F(Posting, NoVcpusNoPosting) {
  expect_remapped(msi(0, 0x41));
}

// ---- the calls to the IOMMU driver ----

PostingDecision posted(u32 vcpu, u8 vector) {
  PostingDecision d;
  d.post = true;
  d.vcpu = vcpu;
  d.vector = vector;
  d.pi_desc_pa = kPa0 + 64 * vcpu;
  return d;
}

class PostingCalls : public Posting {
 protected:
  void SetUp() override {
    Posting::SetUp();
    st_.host_irq = 77;
    st_.attached = true;
  }
  void apply(const PostingDecision &d) { mk::irq::posting_apply(d, st_, stats_); }
  static bool is_posted_call(const bp::AffinityCall &c, u32 vcpu, u8 vector) {
    return c.irq == 77 && c.posted && c.pi_desc_pa == kPa0 + 64 * vcpu && c.vector == vector;
  }
  static bool is_remap_call(const bp::AffinityCall &c) { return c.irq == 77 && !c.posted; }
  long failure_lines() {
    long n = 0;
    for (auto &l : mk::user::log_lines())
      if (l.find("IOMMU refused") != std::string::npos)
        n++;
    return n;
  }
  PostingState st_;
  PostingStats stats_;
};

TEST_F(PostingCalls, ChurnCallsOnlyOnChange) {
  auto &c = bp::calls();
  apply(PostingDecision{});  // attach, unpostable: stays remapped, no call
  EXPECT_TRUE(c.empty());
  apply(posted(1, 0x41));
  ASSERT_EQ(c.size(), 1u);
  EXPECT_TRUE(is_posted_call(c[0], 1, 0x41));
  EXPECT_TRUE(st_.posted);
  apply(posted(1, 0x41));  // same decision: nothing to tell
  EXPECT_EQ(c.size(), 1u);
  apply(posted(1, 0x42));  // new vector
  ASSERT_EQ(c.size(), 2u);
  EXPECT_TRUE(is_posted_call(c[1], 1, 0x42));
  apply(posted(0, 0x42));  // other vCPU
  ASSERT_EQ(c.size(), 3u);
  EXPECT_TRUE(is_posted_call(c[2], 0, 0x42));
  apply(PostingDecision{});  // broadcast: back to remapped
  ASSERT_EQ(c.size(), 4u);
  EXPECT_TRUE(is_remap_call(c[3]));
  EXPECT_FALSE(st_.posted);
  apply(PostingDecision{});
  EXPECT_EQ(c.size(), 4u);
  apply(posted(1, 0x41));
  ASSERT_EQ(c.size(), 5u);
  EXPECT_TRUE(is_posted_call(c[4], 1, 0x41));
  EXPECT_EQ(stats_.posted, 4u);
  EXPECT_EQ(stats_.remapped, 1u);
  EXPECT_EQ(stats_.failures, 0u);
  EXPECT_EQ(failure_lines(), 0);
}

TEST_F(PostingCalls, PostedFailureFallsBackReportedOnce) {
  auto &c = bp::calls();
  bp::fail_posted(-EIO);
  apply(posted(1, 0x41));
  ASSERT_EQ(c.size(), 2u);
  EXPECT_TRUE(is_posted_call(c[0], 1, 0x41));
  EXPECT_TRUE(is_remap_call(c[1]));
  EXPECT_FALSE(st_.posted);
  EXPECT_EQ(stats_.failures, 1u);
  EXPECT_EQ(stats_.remapped, 1u);
  EXPECT_EQ(stats_.posted, 0u);
  EXPECT_EQ(failure_lines(), 1);
  // The next routing change tries again; still failing: counted, not logged.
  apply(posted(1, 0x42));
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(stats_.failures, 2u);
  EXPECT_EQ(failure_lines(), 1);
  // The driver recovers: posted.
  bp::fail_posted(0);
  apply(posted(1, 0x42));
  ASSERT_EQ(c.size(), 5u);
  EXPECT_TRUE(is_posted_call(c[4], 1, 0x42));
  EXPECT_TRUE(st_.posted);
  EXPECT_EQ(stats_.posted, 1u);
}

TEST_F(PostingCalls, FailureReportedOncePerState) {
  bp::fail_posted(-EINVAL);
  apply(posted(1, 0x41));
  PostingState other;
  other.host_irq = 78;
  other.attached = true;
  mk::irq::posting_apply(posted(0, 0x41), other, stats_);
  EXPECT_EQ(failure_lines(), 2);
  EXPECT_EQ(stats_.failures, 2u);
}

TEST_F(PostingCalls, RemappedFailureStillLeavesPostedState) {
  auto &c = bp::calls();
  apply(posted(1, 0x41));
  bp::fail_remapped(-EIO);
  apply(PostingDecision{});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_FALSE(st_.posted);  // nothing better to do: KVM ignores it too
  EXPECT_EQ(stats_.failures, 1u);
  EXPECT_EQ(failure_lines(), 1);
}

TEST_F(PostingCalls, DetachWhenNeverPostedMakesNoCall) {
  // posting_detach() needs a Vm only for its counters; a never-posted
  // state does not touch it. (A posted one is covered through apply.)
  apply(PostingDecision{});
  EXPECT_TRUE(bp::calls().empty());
  EXPECT_EQ(stats_.remapped, 0u);
}

// ---- the irq-bypass manager of the user platform, playing VFIO ----

struct Client final : PostingClient {
  std::vector<int> events;  // +irq added, -irq removed
  void producer_added(u32 irq) override { events.push_back(static_cast<int>(irq)); }
  void producer_removed(u32 irq) override { events.push_back(-static_cast<int>(irq)); }
};

TEST_F(Posting, BypassConsumerConnectsInEitherOrder) {
  Client a, b;
  int token_a = 0, token_b = 0;
  PostingClient *ca = &a, *cb = &b;
  void *ha = mk_bypass_consumer_new(&token_a, ca);
  ASSERT_NE(ha, nullptr);
  EXPECT_EQ(mk_bypass_consumer_new(&token_a, cb), nullptr);  // token taken: -EBUSY
  EXPECT_EQ(bp::register_producer(&token_a, 33), 0);
  EXPECT_EQ(a.events, std::vector<int>({33}));
  EXPECT_EQ(bp::register_producer(&token_b, 34), 0);  // producer first
  void *hb = mk_bypass_consumer_new(&token_b, cb);
  ASSERT_NE(hb, nullptr);
  EXPECT_EQ(b.events, std::vector<int>({34}));
  bp::unregister_producer(&token_a);
  EXPECT_EQ(a.events, std::vector<int>({33, -33}));
  mk_bypass_consumer_free(ha);
  EXPECT_EQ(a.events.size(), 2u);  // no second removal
  mk_bypass_consumer_free(hb);     // consumer goes with the producer attached
  EXPECT_EQ(b.events, std::vector<int>({34, -34}));
  bp::unregister_producer(&token_b);
  EXPECT_EQ(b.events.size(), 2u);
  EXPECT_EQ(bp::consumers(), 0);
  bp::fail_register(-ENOMEM);
  EXPECT_EQ(mk_bypass_consumer_new(&token_a, ca), nullptr);
}

}  // namespace

// ---- end to end on the simulated machine: VM ioctls, an irqfd, a producer ----

#include "eventfd_user.h"

namespace {

unsigned long ptr(const void *p) { return reinterpret_cast<unsigned long>(p); }

class PostingVm : public ::testing::Test {
 protected:
  // Before the module "loads": the simulated CPU's capabilities.
  virtual void configure() {}
  void SetUp() override {
    mk::user::reset_machine();
    configure();
    mk::user::reset_time();
    bp::reset();
    live_ = mk_alloc_live();
    ASSERT_EQ(mk_core_init(), 0);
    vm_ = static_cast<int>(mk_core_dev_ioctl(KVM_CREATE_VM, 0));
    ASSERT_GE(vm_, 0);
    ASSERT_EQ(vm(KVM_CREATE_IRQCHIP), 0);
    for (int i = 0; i < 2; i++) {
      vcpu_[i] = static_cast<int>(vm(KVM_CREATE_VCPU, i));
      ASSERT_GE(vcpu_[i], 0);
      // The first KVM_RUN sets APICv up (the simulated entry then fails:
      // no exit reason queued); an AP is made runnable first.
      kvm_mp_state mp{KVM_MP_STATE_RUNNABLE};
      ASSERT_EQ(mk::user::fd_ioctl(vcpu_[i], KVM_SET_MP_STATE, ptr(&mp)), 0);
      mk::user::fd_ioctl(vcpu_[i], KVM_RUN, 0);
    }
    efd_ = mk::user::eventfd_new();
    ASSERT_GE(efd_, 0);
    int err = 0;
    token_ = mk_eventfd_ctx_get(efd_, &err);  // the token VFIO would use
    ASSERT_NE(token_, nullptr);
  }
  void TearDown() override {
    if (token_)
      mk_eventfd_ctx_put(token_);
    if (efd_ >= 0)
      mk::user::eventfd_close(efd_);
    for (int fd : vcpu_) {
      if (fd >= 0) {
        EXPECT_EQ(mk::user::fd_close(fd), 0);
      }
    }
    if (vm_ >= 0) {
      EXPECT_EQ(mk::user::fd_close(vm_), 0);
    }
    mk::user::run_work();
    EXPECT_EQ(mk::user::open_fds(), 0);
    EXPECT_EQ(bp::consumers(), 0) << "an irqfd's bypass consumer outlived the VM";
    mk_core_exit();
    bp::reset();
    EXPECT_EQ(mk_alloc_live(), live_) << "allocations leaked";
    mk::user::reset_machine();
  }
  long vm(unsigned int cmd, unsigned long arg = 0) { return mk::user::fd_ioctl(vm_, cmd, arg); }
  long route(u32 dest, u8 vector) {
    struct {
      kvm_irq_routing r;
      kvm_irq_routing_entry e[1];
    } t{};
    t.r.nr = 1;
    t.e[0].gsi = 40;
    t.e[0].type = KVM_IRQ_ROUTING_MSI;
    t.e[0].u.msi.address_lo = 0xfee00000u | (dest << 12);
    t.e[0].u.msi.data = vector;
    return vm(KVM_SET_GSI_ROUTING, ptr(&t));
  }
  long irqfd(bool deassign) {
    kvm_irqfd f{};
    f.fd = static_cast<u32>(efd_);
    f.gsi = 40;
    f.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0;
    return vm(KVM_IRQFD, ptr(&f));
  }

  int vm_ = -1, vcpu_[2] = {-1, -1}, efd_ = -1;
  void *token_ = nullptr;
  long live_ = 0;
};

TEST_F(PostingVm, IrqfdConsumerPostsFollowsRoutingAndDetaches) {
  auto &c = bp::calls();
  bp::set_posting_test(true);  // the simulated CPU may lack VT-x posting
  ASSERT_EQ(route(1, 0x41), 0);
  ASSERT_EQ(irqfd(false), 0);
  EXPECT_EQ(bp::consumers(), 1);
  ASSERT_EQ(bp::register_producer(token_, 77), 0);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_TRUE(c[0].posted);
  EXPECT_EQ(c[0].irq, 77u);
  EXPECT_EQ(c[0].vector, 0x41u);
  EXPECT_NE(c[0].pi_desc_pa, 0u);
  EXPECT_EQ(c[0].pi_desc_pa & 63, 0u);
  u64 pi1 = c[0].pi_desc_pa;
  ASSERT_EQ(route(0, 0x42), 0);  // routing change: re-decided
  ASSERT_EQ(c.size(), 2u);
  EXPECT_TRUE(c[1].posted);
  EXPECT_EQ(c[1].vector, 0x42u);
  EXPECT_NE(c[1].pi_desc_pa, pi1);
  ASSERT_EQ(route(0xff, 0x42), 0);  // broadcast: remapped
  ASSERT_EQ(c.size(), 3u);
  EXPECT_FALSE(c[2].posted);
  ASSERT_EQ(route(1, 0x43), 0);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_TRUE(c[3].posted);
  EXPECT_EQ(c[3].pi_desc_pa, pi1);
  ASSERT_EQ(irqfd(true), 0);  // deassign: detached, remapped
  mk::user::run_work();
  ASSERT_EQ(c.size(), 5u);
  EXPECT_FALSE(c[4].posted);
  EXPECT_EQ(bp::consumers(), 0);
  bp::unregister_producer(token_);
  ASSERT_EQ(route(1, 0x44), 0);
  EXPECT_EQ(c.size(), 5u);
}

TEST_F(PostingVm, WithoutTheKnobSoftwareDescriptorsAreNotPosted) {
  // The simulated Skylake's pin-based controls lack posted interrupts (bit
  // 7 of IA32_VMX_PINBASED_CTLS' allowed-1 half): without the knob its
  // vCPUs' descriptors are minikvm's software fallback: never posted to,
  // and the IRTE, in remapped mode already, is never touched.
  ASSERT_EQ(route(1, 0x41), 0);
  ASSERT_EQ(irqfd(false), 0);
  ASSERT_EQ(bp::register_producer(token_, 77), 0);
  ASSERT_EQ(route(0, 0x42), 0);
  ASSERT_EQ(route(0xff, 0x42), 0);
  bp::unregister_producer(token_);
  ASSERT_EQ(irqfd(true), 0);
  mk::user::run_work();
  EXPECT_TRUE(bp::calls().empty());
}

// A CPU with VT-x posted interrupts: posted without the knob.
class PostingVmHw : public PostingVm {
 protected:
  void configure() override {
    for (auto &m : mk::user::machine().msrs)
      if (m.first == 0x481 || m.first == 0x48d)
        m.second |= 0x80ull << 32;  // pin-based allowed-1: process posted interrupts
  }
};

TEST_F(PostingVmHw, HardwarePostingNeedsNoKnob) {
  ASSERT_EQ(route(1, 0x41), 0);
  ASSERT_EQ(irqfd(false), 0);
  ASSERT_EQ(bp::register_producer(token_, 77), 0);
  ASSERT_EQ(bp::calls().size(), 1u);
  EXPECT_TRUE(bp::calls()[0].posted);
  EXPECT_EQ(bp::calls()[0].vector, 0x41u);
  bp::unregister_producer(token_);
  ASSERT_EQ(bp::calls().size(), 2u);
  EXPECT_FALSE(bp::calls()[1].posted);
  ASSERT_EQ(irqfd(true), 0);
  mk::user::run_work();
}

TEST_F(PostingVm, VmDestroyedWithProducerAttached) {
  bp::set_posting_test(true);
  ASSERT_EQ(route(1, 0x41), 0);
  ASSERT_EQ(irqfd(false), 0);
  ASSERT_EQ(bp::register_producer(token_, 77), 0);
  ASSERT_EQ(bp::calls().size(), 1u);
  for (int &fd : vcpu_) {
    EXPECT_EQ(mk::user::fd_close(fd), 0);
    fd = -1;
  }
  EXPECT_EQ(mk::user::fd_close(vm_), 0);
  vm_ = -1;
  mk::user::run_work();
  ASSERT_EQ(bp::calls().size(), 2u);
  EXPECT_FALSE(bp::calls()[1].posted);
  EXPECT_EQ(bp::consumers(), 0);
  bp::unregister_producer(token_);
  EXPECT_EQ(bp::calls().size(), 2u);
}

}  // namespace
