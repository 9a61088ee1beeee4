// SPDX-License-Identifier: GPL-2.0
// The system device's ioctls, driven through the same entry points the
// kernel glue calls (mk_core_*), on a simulated machine.
#include <gtest/gtest.h>
#include <linux/kvm.h>

#include <cerrno>

#include <minikvm/core.h>

#include "user_platform.h"

extern "C" long mk_alloc_live(void);

namespace {

class SystemDev : public ::testing::Test {
 protected:
  void SetUp() override {
    mk::user::reset_machine();
    mk::user::log_lines().clear();
    live_ = mk_alloc_live();
    ASSERT_EQ(mk_core_init(), 0);
  }
  void TearDown() override {
    mk::user::fail_alloc_after(-1);
    EXPECT_EQ(mk::user::open_fds(), 0);
    mk_core_exit();
    EXPECT_EQ(mk_alloc_live(), live_) << "allocations leaked";
    mk::user::reset_machine();
  }
  long live_ = 0;
  int count_log(const char *needle) {
    int n = 0;
    for (auto &l : mk::user::log_lines())
      n += l.find(needle) != mk::user::HostString::npos;
    return n;
  }
};

TEST_F(SystemDev, ApiVersionIs12) { EXPECT_EQ(mk_core_dev_ioctl(KVM_GET_API_VERSION, 0), 12); }

TEST_F(SystemDev, ApiVersionRejectsArgument) {
  EXPECT_EQ(mk_core_dev_ioctl(KVM_GET_API_VERSION, 1), -EINVAL);
}

TEST_F(SystemDev, UnknownIoctlsAreENOTTY) {
  EXPECT_EQ(mk_core_dev_ioctl(0x5401 /* TCGETS */, 0), -ENOTTY);
  EXPECT_EQ(mk_core_dev_ioctl(_IO(KVMIO, 0xff), 0), -ENOTTY);
  EXPECT_EQ(mk_core_dev_ioctl(KVM_RUN, 0), -ENOTTY);  // a vCPU ioctl on the device
  EXPECT_EQ(mk_core_dev_ioctl(0xffffffffu, ~0ul), -ENOTTY);
}

TEST_F(SystemDev, CheckExtensionIsTruthful) {
  // What minikvm does not offer (yet) must answer 0.
  for (long cap : std::initializer_list<long>{KVM_CAP_X2APIC_API, KVM_CAP_MULTI_ADDRESS_SPACE, -1L, 1L << 40})
    EXPECT_EQ(mk_core_dev_ioctl(KVM_CHECK_EXTENSION, static_cast<unsigned long>(cap)), 0) << cap;
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_CHECK_EXTENSION_VM), 1);
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1);
  // The in-kernel irqchip (issue 4).
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP), 1);
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING), 4096);
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI), 1);
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_PIT2), 1);
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT), 1);
  // irqfd, ioeventfd, split irqchip (issue 5).
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_IRQFD), 1);
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_SPLIT_IRQCHIP), 1);
  long max = mk_core_dev_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
  long nr = mk_core_dev_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
  EXPECT_GE(nr, 1);
  EXPECT_LE(nr, max);
  EXPECT_LE(max, mk_core_dev_ioctl(KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID));
}

TEST_F(SystemDev, CreateVmGivesAnFdThatAnswersItsIoctls) {
  long fd = mk_core_dev_ioctl(KVM_CREATE_VM, 0);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(mk::user::fd_ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_CHECK_EXTENSION_VM), 1);
  EXPECT_EQ(mk::user::fd_ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQCHIP), 1);
  EXPECT_EQ(mk::user::fd_ioctl(fd, KVM_GET_API_VERSION, 0), -ENOTTY);
  long vcpu = mk::user::fd_ioctl(fd, KVM_CREATE_VCPU, 0);
  EXPECT_GE(vcpu, 0);
  EXPECT_EQ(mk::user::fd_ioctl(fd, KVM_CREATE_VCPU, 0), -EEXIST);
  // The vCPU fd keeps the VM alive after the VM fd is closed.
  EXPECT_EQ(mk::user::fd_close(fd), 0);
  // As KVM: an ioctl the vCPU fd does not know is -EINVAL.
  EXPECT_EQ(mk::user::fd_ioctl(vcpu, KVM_GET_API_VERSION, 0), -EINVAL);
  EXPECT_EQ(mk::user::fd_close(vcpu), 0);
}

TEST_F(SystemDev, CreateVmRejectsUnknownType) {
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CREATE_VM, 1), -EINVAL);
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CREATE_VM, ~0ul), -EINVAL);
}

TEST_F(SystemDev, CreateVmWithoutVmxIsEOPNOTSUPPAndLogsOnce) {
  mk::user::machine().cpuid1_ecx = 0;
  for (int i = 0; i < 5; i++)
    EXPECT_EQ(mk_core_dev_ioctl(KVM_CREATE_VM, 0), -EOPNOTSUPP);
  EXPECT_EQ(count_log("KVM_CREATE_VM refused"), 1);
  EXPECT_EQ(count_log("CPUID.1:ECX.VMX"), 1);
}

TEST_F(SystemDev, CreateVmWhileAnotherHypervisorHoldsVmx) {
  // kvm_intel with a VM open sets CR4.VMXE on its CPUs after minikvm loaded.
  mk::user::machine().cpus[1].cr4 = 1ul << 13;
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CREATE_VM, 0), -EOPNOTSUPP);
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CREATE_VM, 0), -EOPNOTSUPP);
  EXPECT_EQ(count_log("CR4.VMXE"), 1);
  // A different reason later gets its own line.
  mk::user::machine().feature_control = 0x1;
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CREATE_VM, 0), -EOPNOTSUPP);
  EXPECT_EQ(count_log("KVM_CREATE_VM refused"), 2);
  // And once the other hypervisor lets go, VMs can be created again.
  mk::user::reset_machine();
  long fd = mk_core_dev_ioctl(KVM_CREATE_VM, 0);
  ASSERT_GE(fd, 0);
  mk::user::fd_close(fd);
}

TEST_F(SystemDev, CreateVmWithoutEptNamesTheFeature) {
  for (auto &m : mk::user::machine().msrs)
    if (m.first == 0x48b)
      m.second &= ~(1ull << (32 + 1));
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CREATE_VM, 0), -EOPNOTSUPP);
  EXPECT_EQ(count_log("KVM_CREATE_VM refused: VMX lacks a feature minikvm requires: EPT"), 1);
}

TEST_F(SystemDev, InitLogsTheVerdict) {
  EXPECT_EQ(count_log("VMX usable on 2 CPUs"), 1);
  mk_core_exit();
  mk::user::machine().feature_control = 0x4;
  ASSERT_EQ(mk_core_init(), 0);
  EXPECT_EQ(count_log("VMX unusable: IA32_FEATURE_CONTROL is not locked"), 1);
}

TEST_F(SystemDev, CreateVmOutOfMemoryIsENOMEMWithoutLeak) {
  long live = mk_alloc_live();
  mk::user::fail_alloc_after(0);
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CREATE_VM, 0), -ENOMEM);
  EXPECT_EQ(mk_alloc_live(), live);
}

TEST_F(SystemDev, CreateVmFdFailureFreesTheVm) {
  long live = mk_alloc_live();
  mk::user::fail_next_fd_create(EMFILE);
  EXPECT_EQ(mk_core_dev_ioctl(KVM_CREATE_VM, 0), -EMFILE);
  EXPECT_EQ(mk_alloc_live(), live);
}

TEST_F(SystemDev, ManyVmsCreateAndCloseWithoutLeak) {
  long live = mk_alloc_live();
  long fds[200];
  for (long &fd : fds) {
    fd = mk_core_dev_ioctl(KVM_CREATE_VM, 0);
    ASSERT_GE(fd, 0);
  }
  for (long fd : fds)
    EXPECT_EQ(mk::user::fd_close(fd), 0);
  EXPECT_EQ(mk_alloc_live(), live);
}

TEST_F(SystemDev, CoreInitOutOfMemory) {
  mk_core_exit();
  mk::user::fail_alloc_after(0);
  EXPECT_EQ(mk_core_init(), -ENOMEM);
  mk::user::fail_alloc_after(-1);
  ASSERT_EQ(mk_core_init(), 0);
}

}  // namespace

TEST(SystemDevAbi, SupportedCpuidAndMsrListAnswer) {
  mk::user::reset_machine();
  ASSERT_EQ(mk_core_init(), 0);
  alignas(8) static unsigned char cbuf[sizeof(kvm_cpuid2) + 256 * sizeof(kvm_cpuid_entry2)];
  auto *c = reinterpret_cast<kvm_cpuid2 *>(cbuf);
  c->nent = 256;
  EXPECT_EQ(mk_core_dev_ioctl(KVM_GET_SUPPORTED_CPUID, reinterpret_cast<unsigned long>(c)), 0);
  EXPECT_GT(c->nent, 0u);
  alignas(8) static unsigned char lbuf[sizeof(kvm_msr_list) + 512 * 4];
  auto *l = reinterpret_cast<kvm_msr_list *>(lbuf);
  l->nmsrs = 512;
  EXPECT_EQ(mk_core_dev_ioctl(KVM_GET_MSR_INDEX_LIST, reinterpret_cast<unsigned long>(l)), 0);
  EXPECT_GT(l->nmsrs, 0u);
  mk_core_exit();
  mk::user::reset_machine();
}
