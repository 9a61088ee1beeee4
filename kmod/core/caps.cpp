// SPDX-License-Identifier: GPL-2.0
#include "caps.h"

#include <linux/kvm.h>
#include <minikvm/platform.h>

#include "irq/routing.h"
#include "mmu/memslots.h"
#include "vm.h"

namespace mk::caps {

namespace {
struct Cap {
  long id;
  long value;
};

// Every capability minikvm implements. Anything absent answers 0, which
// tells KVM users (QEMU, the selftests) to take their fallback path.
constexpr Cap kCaps[] = {
    // KVM_CHECK_EXTENSION is answered on VM fds as well as on the device.
    {KVM_CAP_CHECK_EXTENSION_VM, 1},
    {KVM_CAP_USER_MEMORY, 1},
    {KVM_CAP_DESTROY_MEMORY_REGION_WORKS, 1},
    {KVM_CAP_JOIN_MEMORY_REGIONS_WORKS, 1},
    {KVM_CAP_READONLY_MEM, 1},
    {KVM_CAP_NR_MEMSLOTS, mmu::MemslotTable::kMaxMemslots},
    {KVM_CAP_MAX_VCPUS, Vm::kMaxVcpus},
    {KVM_CAP_MAX_VCPU_ID, Vm::kMaxVcpuId},
    {KVM_CAP_EXT_CPUID, 1},
    {KVM_CAP_SET_TSS_ADDR, 1},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, 1},
    {KVM_CAP_IMMEDIATE_EXIT, 1},
    {KVM_CAP_SYNC_REGS, KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS},
    {KVM_CAP_VCPU_EVENTS, 1},
    {KVM_CAP_XCRS, 1},
    {KVM_CAP_MP_STATE, 1},
    {KVM_CAP_GET_MSR_FEATURES, 1},
    {KVM_CAP_BINARY_STATS_FD, 1},
    // The in-kernel irqchip (vm_irq.cpp, vcpu_irq.cpp, irq/).
    {KVM_CAP_IRQCHIP, 1},
    {KVM_CAP_HLT, 1},
    {KVM_CAP_USER_NMI, 1},
    {KVM_CAP_IRQ_ROUTING, irq::GsiRouting::kMaxRoutes},
    {KVM_CAP_IRQ_INJECT_STATUS, 1},
    {KVM_CAP_SIGNAL_MSI, 1},
    {KVM_CAP_PIT2, 1},
    {KVM_CAP_PIT_STATE2, 1},
    {KVM_CAP_SET_BOOT_CPU_ID, 1},
    {KVM_CAP_TSC_DEADLINE_TIMER, 1},
    {KVM_CAP_PIT, 1},
    {KVM_CAP_GET_TSC_KHZ, 1},
    // irqfd, ioeventfd, split irqchip (irq/irqfd.cpp, io/ioeventfd.cpp,
    // vm_irqfd.cpp): KVM's generic and x86 answers.
    {KVM_CAP_IRQFD, 1},
    {KVM_CAP_IRQFD_RESAMPLE, 1},
    {KVM_CAP_IOEVENTFD, 1},
    {KVM_CAP_IOEVENTFD_NO_LENGTH, 1},
    {KVM_CAP_IOEVENTFD_ANY_LENGTH, 1},
    {KVM_CAP_SPLIT_IRQCHIP, 1},
    {KVM_CAP_ENABLE_CAP_VM, 1},
};
}  // namespace

long check(long cap, Scope) {
  if (cap == KVM_CAP_NR_VCPUS) {
    // The recommended maximum: one vCPU per host CPU.
    long n = mk_nr_cpu_ids();
    return n < Vm::kMaxVcpus ? n : Vm::kMaxVcpus;
  }
  for (const Cap &c : kCaps)
    if (c.id == cap)
      return c.value;
  return 0;
}

}  // namespace mk::caps
