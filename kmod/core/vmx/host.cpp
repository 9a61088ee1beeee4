// SPDX-License-Identifier: GPL-2.0
#include "host.h"

#include <minikvm/core.h>
#include <minikvm/platform.h>

#include "../../ia32/vmx_insn.h"
#include "../rt/errno.h"
#include "../rt/log.h"
#include "../rt/new.h"

namespace mk::vmx {

namespace insn = ia32::vmx::insn;
constexpr unsigned long kCr4Vmxe = 1ul << 13;

Host *Host::instance_;

int Host::init(const Capabilities &caps, const ControlSet &controls) {
  Host *h = new (nothrow) Host();
  if (!h)
    return -ENOMEM;
  h->caps_ = caps;
  h->controls_ = controls;
  h->nr_cpus_ = mk_nr_cpu_ids();
  h->percpu_ = new (nothrow) PerCpu[h->nr_cpus_];
  h->lock_ = mk_mutex_new();
  h->vpid_lock_ = mk_mutex_new();
  if (!h->percpu_ || !h->lock_ || !h->vpid_lock_) {
    delete[] h->percpu_;
    mk_mutex_free(h->lock_);
    mk_mutex_free(h->vpid_lock_);
    delete h;
    return -ENOMEM;
  }
  h->vpid_bitmap_[0] = 1;  // VPID 0 is the host's
  int r = mk_cpuhp_register();
  if (r) {
    delete[] h->percpu_;
    mk_mutex_free(h->lock_);
    mk_mutex_free(h->vpid_lock_);
    delete h;
    return r;
  }
  instance_ = h;
  return 0;
}

void Host::exit() {
  Host *h = instance_;
  if (!h)
    return;
  // Every VM is gone (their fds pin the module), so VMX is off already.
  mk_cpuhp_unregister();
  instance_ = nullptr;
  for (int i = 0; i < h->nr_cpus_; i++)
    mk_page_free(h->percpu_[i].vmxon_va);
  delete[] h->percpu_;
  mk_mutex_free(h->lock_);
  mk_mutex_free(h->vpid_lock_);
  delete h;
}

int Host::vmx_on_this_cpu(int cpu) {
  PerCpu &pc = percpu_[cpu];
  if (pc.on)
    return 0;
  // Another hypervisor (kvm_intel) in VMX operation here: not ours to use.
  if (mk_read_cr4() & kCr4Vmxe)
    return -EBUSY;
  if (!pc.vmxon_va)
    return -ENOMEM;
  // SDM 24.11.5: the VMXON region starts with the VMCS revision identifier.
  *static_cast<u32 *>(pc.vmxon_va) = caps_.basic.revision_id();
  mk_cr4_set_bits(kCr4Vmxe);
  if (!insn::vmxon(pc.vmxon_pa)) {
    mk_cr4_clear_bits(kCr4Vmxe);
    return -EIO;
  }
  pc.on = true;
  pc.current = nullptr;
  // Translations cached before (by an earlier VMX user of this CPU) must not
  // survive into our guests (SDM 28.3.3.4).
  if (caps_.ept_vpid & (1ull << 26))  // INVEPT all-context supported
    insn::invept(insn::InveptType::kGlobal, 0);
  if (caps_.ept_vpid & (1ull << 42))  // INVVPID all-context supported
    insn::invvpid(insn::InvvpidType::kAllContext, 0);
  return 0;
}

void Host::vmx_off_this_cpu(int cpu) {
  PerCpu &pc = percpu_[cpu];
  if (!pc.on)
    return;
  // SDM 24.11.1: clear every active VMCS before VMXOFF, so that their data
  // is written back to memory.
  while (pc.active)
    clear_on_this_cpu(pc.active);
  insn::vmxoff();
  mk_cr4_clear_bits(kCr4Vmxe);
  pc.on = false;
  pc.current = nullptr;
}

namespace {
struct OnOff {
  Host *host;
  int err;
};
void on_cpu_fn(void *arg) {
  auto *o = static_cast<OnOff *>(arg);
  int r = o->host->vmx_on_this_cpu(mk_this_cpu());
  if (r)
    __atomic_store_n(&o->err, r, __ATOMIC_RELAXED);
}
void off_cpu_fn(void *arg) {
  auto *o = static_cast<OnOff *>(arg);
  o->host->vmx_off_this_cpu(mk_this_cpu());
}
}  // namespace

int Host::acquire() {
  mk_mutex_lock(lock_);
  if (users_ > 0) {
    users_++;
    mk_mutex_unlock(lock_);
    return 0;
  }
  for (int i = 0; i < nr_cpus_; i++)
    if (!percpu_[i].vmxon_va && !(percpu_[i].vmxon_va = mk_page_alloc(&percpu_[i].vmxon_pa))) {
      mk_mutex_unlock(lock_);
      return -ENOMEM;
    }
  OnOff o{this, 0};
  mk_cpus_lock();
  mk_on_each_cpu(on_cpu_fn, &o);
  if (o.err)
    mk_on_each_cpu(off_cpu_fn, &o);
  else
    users_ = 1;
  mk_cpus_unlock();
  mk_mutex_unlock(lock_);
  if (o.err == -EBUSY)
    mk_log_once(MK_LOG_ERR, "VMXON: CR4.VMXE already set on a CPU (another hypervisor is in VMX operation)");
  else if (o.err)
    mk_log_once(MK_LOG_ERR, "VMXON failed on a CPU (error %d)", o.err);
  return o.err;
}

void Host::release() {
  mk_mutex_lock(lock_);
  if (--users_ == 0) {
    OnOff o{this, 0};
    mk_cpus_lock();
    mk_on_each_cpu(off_cpu_fn, &o);
    mk_cpus_unlock();
  }
  mk_mutex_unlock(lock_);
}

int Host::cpu_online(int cpu) {
  // Called by the hotplug machinery with CPUs locked; users_ cannot change
  // under us in a way that matters: acquire/release hold the CPUs lock too.
  if (__atomic_load_n(&users_, __ATOMIC_RELAXED) <= 0)
    return 0;
  if (!percpu_[cpu].vmxon_va && !(percpu_[cpu].vmxon_va = mk_page_alloc(&percpu_[cpu].vmxon_pa)))
    return -ENOMEM;
  return vmx_on_this_cpu(cpu);
}

int Host::cpu_offline(int cpu) {
  vmx_off_this_cpu(cpu);
  return 0;
}

void Host::clear_on_this_cpu(Vmcs *v) {
  unsigned long flags = mk_irq_save();
  PerCpu &pc = percpu_[v->cpu];
  insn::vmclear(v->pa);
  if (pc.current == v)
    pc.current = nullptr;
  if (v->prev)
    v->prev->next = v->next;
  else
    pc.active = v->next;
  if (v->next)
    v->next->prev = v->prev;
  v->next = v->prev = nullptr;
  v->cpu = -1;
  v->launched = false;
  mk_irq_restore(flags);
}

namespace {
struct ClearArg {
  Host *host;
  Vmcs *vmcs;
};
void clear_fn(void *arg) {
  auto *c = static_cast<ClearArg *>(arg);
  // It may have been cleared meanwhile (CPU offline path).
  if (c->vmcs->cpu == mk_this_cpu())
    c->host->clear_on_this_cpu(c->vmcs);
}
}  // namespace

bool Host::load(Vmcs *v, int cpu) {
  bool moved = false;
  if (v->cpu != cpu) {
    if (v->cpu >= 0) {
      ClearArg c{this, v};
      mk_run_on_cpu(v->cpu, clear_fn, &c);
    }
    unsigned long flags = mk_irq_save();
    PerCpu &pc = percpu_[cpu];
    v->cpu = cpu;
    v->launched = false;
    v->prev = nullptr;
    v->next = pc.active;
    if (pc.active)
      pc.active->prev = v;
    pc.active = v;
    mk_irq_restore(flags);
    moved = true;
  }
  PerCpu &pc = percpu_[cpu];
  if (pc.current != v) {
    insn::vmptrld(v->pa);
    pc.current = v;
  }
  return moved;
}

void Host::clear(Vmcs *v) {
  int cpu = __atomic_load_n(&v->cpu, __ATOMIC_RELAXED);
  if (cpu < 0)
    return;
  ClearArg c{this, v};
  mk_run_on_cpu(cpu, clear_fn, &c);
}

int Host::alloc_vmcs(Vmcs *v) {
  v->va = mk_page_alloc(&v->pa);
  if (!v->va)
    return -ENOMEM;
  // SDM 24.2: revision identifier in bits 30:0, bit 31 clear (not a shadow VMCS).
  *static_cast<u32 *>(v->va) = caps_.basic.revision_id() & 0x7fffffff;
  v->cpu = -1;
  v->launched = false;
  return 0;
}

void Host::free_vmcs(Vmcs *v) {
  if (!v->va)
    return;
  clear(v);
  mk_page_free(v->va);
  v->va = nullptr;
}

void Host::flush_vpid(u16 vpid) {
  if (!vpid)
    return;
  if (caps_.ept_vpid & (1ull << 41))  // single-context INVVPID
    insn::invvpid(insn::InvvpidType::kSingleContext, vpid);
  else
    insn::invvpid(insn::InvvpidType::kAllContext, 0);
}

void Host::flush_ept(u64 eptp) {
  if (caps_.ept_vpid & (1ull << 25))  // single-context INVEPT
    insn::invept(insn::InveptType::kSingleContext, eptp);
  else
    insn::invept(insn::InveptType::kGlobal, 0);
}

u16 Host::alloc_vpid() {
  if (!has_vpid())
    return 0;
  u16 found = 0;
  mk_mutex_lock(vpid_lock_);
  for (u32 w = 0; w < 65536 / 64 && !found; w++) {
    if (vpid_bitmap_[w] == ~0ull)
      continue;
    u32 b = __builtin_ctzll(~vpid_bitmap_[w]);
    vpid_bitmap_[w] |= 1ull << b;
    found = static_cast<u16>(w * 64 + b);
  }
  mk_mutex_unlock(vpid_lock_);
  return found;
}

void Host::free_vpid(u16 vpid) {
  if (!vpid)
    return;
  mk_mutex_lock(vpid_lock_);
  vpid_bitmap_[vpid / 64] &= ~(1ull << (vpid % 64));
  mk_mutex_unlock(vpid_lock_);
}

}  // namespace mk::vmx

extern "C" int mk_core_cpu_online(unsigned int cpu) {
  mk::vmx::Host *h = mk::vmx::Host::get();
  return h ? h->cpu_online(static_cast<int>(cpu)) : 0;
}

extern "C" int mk_core_cpu_offline(unsigned int cpu) {
  mk::vmx::Host *h = mk::vmx::Host::get();
  return h ? h->cpu_offline(static_cast<int>(cpu)) : 0;
}
