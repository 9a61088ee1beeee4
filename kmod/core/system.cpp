// SPDX-License-Identifier: GPL-2.0
#include "system.h"

#include <linux/kvm.h>
#include <minikvm/core.h>
#include <minikvm/platform.h>

#include "caps.h"
#include "rt/errno.h"
#include "rt/log.h"
#include "vcpu.h"
#include "x86/cpuid.h"
#include "x86/msrs.h"
#include "vm.h"
#include "vmx/host.h"

namespace mk {

namespace {
// ": <feature>" when the verdict names a missing VMX feature, else "".
const char *feature_sep(const vmx::ProbeResult &r) { return r.missing_feature ? ": " : ""; }
const char *feature(const vmx::ProbeResult &r) { return r.missing_feature ? r.missing_feature : ""; }
}  // namespace

int System::init() {
  vmx::ProbeInput in = gather_();
  vmx::ProbeResult r = vmx::evaluate(in);
  // What guests may be offered, from this CPU's CPUID (KVM_GET_SUPPORTED_CPUID).
  int err = x86::init_supported_cpuid();
  if (err)
    return err;
  if (r.usable()) {
    err = vmx::Host::init(in.caps, in.controls);
    if (err)
      return err;
    mk_info("VMX usable on %u CPUs", in.online_cpus);
  } else
    mk_info("VMX unusable: %s%s%s; KVM_CREATE_VM will fail with -EOPNOTSUPP", r.reason, feature_sep(r),
            feature(r));
  return 0;
}

long System::create_vm(unsigned long type) {
  // x86 KVM knows only the default VM type here (KVM_X86_DEFAULT_VM = 0).
  if (type != 0)
    return -EINVAL;
  // Probe again: another hypervisor may have entered VMX operation since
  // load. (While minikvm's own VMs exist, CR4.VMXE is minikvm's.)
  vmx::Host *host = vmx::Host::get();
  if (!host || !host->enabled()) {
    vmx::ProbeResult r = vmx::evaluate(gather_());
    if (!r.usable() || !host) {
      unsigned int bit = 1u << static_cast<unsigned int>(r.support);
      if (!(__atomic_fetch_or(&logged_refusals_, bit, __ATOMIC_RELAXED) & bit))
        mk_err("KVM_CREATE_VM refused: %s%s%s", r.reason, feature_sep(r), feature(r));
      return -EOPNOTSUPP;
    }
  }
  Vm *vm;
  int r = Vm::create(&vm);
  if (r)
    return r;
  int fd = mk_fd_create("kvm-vm", static_cast<FdObject *>(vm));
  if (fd < 0)
    vm->release();
  return fd;
}

long System::ioctl(unsigned int cmd, unsigned long arg) {
  switch (cmd) {
    case KVM_GET_API_VERSION:
      // KVM refuses a non-zero argument; so do we.
      return arg ? -EINVAL : KVM_API_VERSION;
    case KVM_CHECK_EXTENSION:
      return caps::check(static_cast<long>(arg), caps::Scope::kSystem);
    case KVM_CREATE_VM:
      return create_vm(arg);
    case KVM_GET_SUPPORTED_CPUID:
      return x86::get_supported_cpuid(arg);
    case KVM_GET_MSR_INDEX_LIST:
      return x86::get_msr_index_list(arg);
    case KVM_GET_MSR_FEATURE_INDEX_LIST:
      return x86::get_msr_feature_index_list(arg);
    case KVM_GET_MSRS:
      return x86::get_feature_msrs(arg);
    case KVM_GET_VCPU_MMAP_SIZE:
      // kvm_run and the PIO data page (KVM_PIO_PAGE_OFFSET); no coalesced
      // MMIO ring. KVM refuses an argument.
      return arg ? -EINVAL : Vcpu::kMmapPages * 4096;
    default:
      return -ENOTTY;
  }
}

}  // namespace mk

// ---- entry points for the platform layer (core.h) ----

namespace {
mk::System *g_system;
// Allocations alive before the core made any: zero in the kernel; in the
// unit-test process, whatever the test harness holds.
long g_live_at_init;
}  // namespace

extern "C" int mk_core_init(void) {
  g_live_at_init = mk_alloc_live();
  g_system = new (mk::nothrow) mk::System(mk::vmx::gather);
  if (!g_system)
    return -ENOMEM;
  int err = g_system->init();
  if (err) {
    delete g_system;
    g_system = nullptr;
  }
  return err;
}

extern "C" void mk_core_exit(void) {
  mk::vmx::Host::exit();
  delete g_system;
  g_system = nullptr;
  long leaked = mk_alloc_live() - g_live_at_init;
  if (leaked)
    mk_err("BUG: %ld allocations leaked at unload", leaked);
}

extern "C" long mk_core_dev_ioctl(unsigned int cmd, unsigned long arg) {
  return g_system->ioctl(cmd, arg);
}

extern "C" long mk_core_fd_ioctl(void *obj, unsigned int cmd, unsigned long arg) {
  return static_cast<mk::FdObject *>(obj)->ioctl(cmd, arg);
}

extern "C" void mk_core_fd_release(void *obj) { static_cast<mk::FdObject *>(obj)->release(); }
