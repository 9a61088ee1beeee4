// SPDX-License-Identifier: GPL-2.0
#include "vm.h"

#include <linux/kvm.h>
#include <minikvm/platform.h>

#include "../ia32/vmx_insn.h"
#include "caps.h"
#include "rt/errno.h"
#include "rt/log.h"
#include "rt/new.h"
#include "vcpu.h"
#include "io/ioeventfd.h"
#include "irq/ioapic.h"
#include "irq/irqfd.h"
#include "irq/pit.h"
#include "irq/routing.h"
#include "vmx/host.h"

namespace mk {

namespace {
long g_live_vms;
// The last trace id given out (Vm::trace_id); u32 wraps after 4 billion
// KVM_CREATE_VMs, which one module load does not reach.
u32 g_last_trace_id;

// Guest-physical address width: what the host's CPU can address and a
// 4-level EPT translates (SDM 28.2.2), whichever is smaller.
unsigned gpa_bits() {
  unsigned int r[4];
  mk_cpuid(0x80000000, 0, r);
  unsigned bits = 36;
  if (r[0] >= 0x80000008) {
    mk_cpuid(0x80000008, 0, r);
    bits = r[0] & 0xff;
  }
  return bits > 48 ? 48 : bits;
}
}  // namespace

long Vm::live_count() { return __atomic_load_n(&g_live_vms, __ATOMIC_RELAXED); }

int Vm::create(Vm **out) {
  Vm *vm = new (nothrow) Vm();
  if (!vm)
    return -ENOMEM;
  __atomic_fetch_add(&g_live_vms, 1, __ATOMIC_RELAXED);
  vm->trace_id_ = __atomic_add_fetch(&g_last_trace_id, 1, __ATOMIC_RELAXED);
  int r = vm->init();
  if (r) {
    delete vm;
    return r;
  }
  *out = vm;
  return 0;
}

int Vm::init() {
  mm_ = mk_current_mm();
  lock_ = mk_mutex_new();
  mmu_lock_ = mk_mutex_new();
  apicv_lock_ = mk_spin_new();  // the EOI-exit bitmap (vm_apicv.cpp)
  if (!lock_ || !mmu_lock_ || !apicv_lock_)
    return -ENOMEM;
  vmx::Host *host = vmx::Host::get();
  if (!host)
    return -EOPNOTSUPP;
  int r = host->acquire();
  if (r)
    return r;
  vmx_acquired_ = true;
  irqfds_ = new (nothrow) irq::Irqfds(*this, apic_bus_, this, trace_id_);
  ioeventfds_ = new (nothrow) io::Ioeventfds();
  if (!irqfds_ || !ioeventfds_ || irqfds_->init() || ioeventfds_->init())
    return -ENOMEM;
  mmu_ = new (nothrow) mmu::GuestMmu(gpa_bits(), false, *this);
  if (!mmu_)
    return -ENOMEM;
  return mmu_->init();
}

Vm::~Vm() {
  // irqfds first (kvm_irqfd_release): their wake-ups and work items raise
  // GSIs into every device below; after this none runs.
  delete irqfds_;
  delete ioeventfds_;
  // Timers first (PIT, IOAPIC, then each LAPIC's with its vCPU), so that
  // nothing raises an interrupt into a device being freed; then the PIC.
  destroy_irqchip();
  for (u32 i = 0; i < nr_vcpus_; i++)
    delete vcpus_[i];
  delete pic_;
  delete routing_;
  // Unpins every guest page; the EPT is no longer referenced by any VMCS.
  delete mmu_;
  if (vmx_acquired_)
    vmx::Host::get()->release();
  mk_mutex_free(lock_);
  mk_mutex_free(mmu_lock_);
  mk_spin_free(apicv_lock_);
  __atomic_fetch_sub(&g_live_vms, 1, __ATOMIC_RELAXED);
}

void Vm::get() { __atomic_fetch_add(&refs_, 1, __ATOMIC_RELAXED); }

void Vm::put() {
  if (__atomic_sub_fetch(&refs_, 1, __ATOMIC_ACQ_REL) == 0)
    delete this;
}

void Vm::release() { put(); }

namespace {
void invept_fn(void *arg) { vmx::Host::get()->flush_ept(*static_cast<u64 *>(arg)); }
}  // namespace

void Vm::flush_guest_mappings() {
  // Every CPU may cache this EPT's translations (SDM 28.3.3.4): INVEPT on
  // each. The IPI also makes any vCPU in guest mode exit first.
  u64 eptp = mmu_->eptp();
  __atomic_fetch_add(&tlb_flushes_, 1, __ATOMIC_RELAXED);
  mk_cpus_lock();
  mk_on_each_cpu(invept_fn, &eptp);
  mk_cpus_unlock();
}

int Vm::handle_ept_violation(u64 gpa, u64 qual, mmu::EptFault *out) {
  mk_mutex_lock(mmu_lock_);
  int r = mmu_->handle_ept_violation(gpa, qual, out);
  mk_mutex_unlock(mmu_lock_);
  return r;
}

int Vm::read(u64 gpa, void *buf, size_t len) {
  mk_mutex_lock(mmu_lock_);
  int r = mmu_->read(gpa, buf, len);
  mk_mutex_unlock(mmu_lock_);
  return r;
}

int Vm::write(u64 gpa, const void *buf, size_t len) {
  mk_mutex_lock(mmu_lock_);
  int r = mmu_->write(gpa, buf, len);
  mk_mutex_unlock(mmu_lock_);
  return r;
}

long Vm::set_memory_region(unsigned long arg) {
  kvm_userspace_memory_region region;
  if (mk_copy_from_user(&region, arg, sizeof(region)))
    return -EFAULT;
  mk_mutex_lock(mmu_lock_);
  int r = mmu_->set_memory_region(region);
  mk_mutex_unlock(mmu_lock_);
  return r;
}

long Vm::create_vcpu(unsigned long arg) {
  // KVM takes the id as a u32 (kvm_vm_ioctl_create_vcpu(kvm, u32 id)), then
  // checks, in this order: id range, count, duplicates.
  u32 id = static_cast<u32>(arg);
  if (id >= kMaxVcpuId)
    return -EINVAL;
  mk_mutex_lock(lock_);
  long r;
  if (nr_vcpus_ >= kMaxVcpus) {
    r = -EINVAL;
    goto out;
  }
  for (u32 i = 0; i < nr_vcpus_; i++)
    if (vcpus_[i]->id() == id) {
      r = -EEXIST;
      goto out;
    }
  {
    Vcpu *vcpu;
    r = Vcpu::create(this, static_cast<u32>(id), &vcpu);
    if (r)
      goto out;
    get();  // the vCPU fd's reference
    int fd = mk_fd_create("kvm-vcpu", static_cast<FdObject *>(vcpu));
    if (fd < 0) {
      refs_--;
      delete vcpu;
      r = fd;
      goto out;
    }
    if (vcpu->lapic())
      apic_bus_.add(vcpu->lapic());  // room for kMaxVcpus: cannot fail
    vcpus_[nr_vcpus_] = vcpu;
    // Published for lock-free readers (kicks, the APIC bus) after the slot.
    __atomic_store_n(&nr_vcpus_, nr_vcpus_ + 1, __ATOMIC_RELEASE);
    r = fd;
  }
out:
  mk_mutex_unlock(lock_);
  return r;
}

namespace {
constexpr StatDesc kVmStats[] = {
    {"vcpus", KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10, 1},
    {"memslots", KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10, 1},
    {"pages_4k", KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10, 1},
    {"remote_tlb_flush", KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10, 1},
    {"exits", KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10, 1},
    // VT-d posting of assigned devices' MSIs (irq/irq_posting.cpp).
    {"irte_posted", KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10, 1},
    {"irte_remapped", KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10, 1},
    {"irte_failures", KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10, 1},
};
}  // namespace

const StatDesc *Vm::stat_descs(u32 *count) const {
  *count = sizeof(kVmStats) / sizeof(kVmStats[0]);
  return kVmStats;
}

void Vm::stat_values(u64 *out) {
  mk_mutex_lock(lock_);
  out[0] = nr_vcpus_;
  u64 exits = 0;
  for (u32 i = 0; i < nr_vcpus_; i++)
    exits += vcpus_[i]->stat(kStatExits);
  mk_mutex_unlock(lock_);
  mk_mutex_lock(mmu_lock_);
  out[1] = mmu_->memslots().count();
  out[2] = mmu_->ept().mapped_pages();
  mk_mutex_unlock(mmu_lock_);
  out[3] = __atomic_load_n(&tlb_flushes_, __ATOMIC_RELAXED);
  out[4] = exits;
  out[5] = __atomic_load_n(&posting_stats_.posted, __ATOMIC_RELAXED);
  out[6] = __atomic_load_n(&posting_stats_.remapped, __ATOMIC_RELAXED);
  out[7] = __atomic_load_n(&posting_stats_.failures, __ATOMIC_RELAXED);
}

void Vm::stats_id(char *buf, size_t len) const {
  const char *s = "minikvm-vm";
  size_t i = 0;
  for (; s[i] && i + 1 < len; i++)
    buf[i] = s[i];
  buf[i] = 0;
}

long Vm::ioctl(unsigned int cmd, unsigned long arg) {
  // As KVM: a VM belongs to the address space that created it.
  if (mk_current_mm() != mm_)
    return -EIO;
  switch (cmd) {
    case KVM_GET_STATS_FD:
      return StatsFd::create(this, this);
    case KVM_CHECK_EXTENSION:
      return caps::check(static_cast<long>(arg), caps::Scope::kVm);
    case KVM_SET_USER_MEMORY_REGION:
      return set_memory_region(arg);
    case KVM_CREATE_VCPU:
      return create_vcpu(arg);
    case KVM_CREATE_IRQCHIP:
      return create_irqchip();
    case KVM_IRQ_LINE:
      return irq_line(arg, false);
    case KVM_IRQ_LINE_STATUS:
      return irq_line(arg, true);
    case KVM_SET_GSI_ROUTING:
      return set_gsi_routing(arg);
    case KVM_SIGNAL_MSI:
      return signal_msi(arg);
    case KVM_GET_IRQCHIP:
      return get_irqchip(arg);
    case KVM_SET_IRQCHIP:
      return set_irqchip(arg);
    case KVM_CREATE_PIT2:
      return create_pit2(arg, false);
    case KVM_CREATE_PIT:
      // The old form: KVM creates the same PIT with the speaker port.
      return create_pit2(0, true);
    case KVM_GET_PIT2:
      return get_pit2(arg);
    case KVM_SET_PIT2:
      return set_pit2(arg);
    case KVM_SET_BOOT_CPU_ID:
      return set_boot_cpu_id(arg);
    case KVM_IRQFD:
      return irqfd(arg);
    case KVM_IOEVENTFD:
      return ioeventfd(arg);
    case KVM_ENABLE_CAP:
      return enable_cap(arg);
    case KVM_SET_TSS_ADDR:
    case KVM_SET_IDENTITY_MAP_ADDR:
      // Real-mode helpers for CPUs without unrestricted guest; minikvm
      // requires it, so there is nothing to place (QEMU still calls these).
      return 0;
    default:
      return -ENOTTY;
  }
}

}  // namespace mk

extern "C" void *mk_core_fd_mmap_page(void *obj, unsigned long pgoff) {
  return static_cast<mk::FdObject *>(obj)->mmap_page(pgoff);
}
