// SPDX-License-Identifier: GPL-2.0
// The hypervisor half of the platform ABI over libc, for the host unit
// tests: one simulated CPU that is always "this" CPU, plain mutexes, and a
// simulated VMX whose VMCSs are field->value maps. Nothing here enters a
// guest: mk_vmx_vcpu_run() reports a VM-entry failure unless a test
// programmed an exit (user_platform.h: mk::user::vmx()).
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>

#include <minikvm/core.h>
#include <minikvm/platform.h>

#include "user_platform.h"

namespace mk::user {

SimVmx &vmx() {
  static SimVmx v;
  return v;
}

}  // namespace mk::user

using mk::user::vmx;

extern "C" {

int mk_user_vmx_op(int op, unsigned long long a, unsigned long long) {
  auto &v = vmx();
  switch (op) {
    case 0: v.on = true; return 0;                 // VMXON
    case 1: v.on = false; v.current = 0; return 0; // VMXOFF
    case 2: if (v.current == a) v.current = 0; return 0;  // VMCLEAR
    case 3: v.current = a; return 0;               // VMPTRLD
    default: v.flushes++; return 0;                // INVEPT/INVVPID
  }
}

unsigned long long mk_user_vmread(unsigned long long field) {
  auto &v = vmx();
  auto it = v.vmcs[v.current].find(field);
  return it == v.vmcs[v.current].end() ? 0 : it->second;
}

int mk_user_vmwrite(unsigned long long field, unsigned long long value) {
  auto &v = vmx();
  v.vmcs[v.current][field] = value;
  return 0;
}

int mk_param_enable_apicv(void) { return vmx().enable_apicv; }
int mk_param_flexpriority(void) { return vmx().flexpriority; }
int mk_param_stale_vectoring_quirk(void) { return vmx().stale_vectoring_quirk; }
unsigned char mk_posted_intr_vector(void) { return 0xf2; }
void mk_send_posted_intr_ipi(int cpu) {
  vmx().pi_ipis++;
  vmx().last_pi_cpu = cpu;
}
unsigned int mk_cpu_pi_ndst(int cpu) { return static_cast<unsigned int>(cpu) << 8; }

int mk_this_cpu(void) { return 0; }
int mk_nr_cpu_ids(void) { return 1; }
int mk_run_on_cpu(int, void (*fn)(void *), void *arg) {
  fn(arg);
  return 0;
}
void mk_cpus_lock(void) {}
void mk_cpus_unlock(void) {}
int mk_cpuhp_register(void) { return 0; }
void mk_cpuhp_unregister(void) {}
void mk_cr4_set_bits(unsigned long) {}
void mk_cr4_clear_bits(unsigned long) {}

// Platform bookkeeping comes from malloc, not the core's counted new.
void *mk_mutex_new(void) {
  void *p = std::malloc(sizeof(std::mutex));
  return p ? new (p) std::mutex : nullptr;
}
void mk_mutex_free(void *m) {
  if (!m)
    return;
  static_cast<std::mutex *>(m)->~mutex();
  std::free(m);
}
void mk_mutex_lock(void *m) { static_cast<std::mutex *>(m)->lock(); }
void mk_mutex_unlock(void *m) { static_cast<std::mutex *>(m)->unlock(); }

unsigned long mk_irq_save(void) { return 0; }
void mk_irq_restore(unsigned long) {}
void mk_preempt_disable(void) {}
void mk_preempt_enable(void) {}

struct UserVcpuCtx {
  void *obj;
};
void *mk_vcpu_ctx_new(void *obj) {
  auto *c = static_cast<UserVcpuCtx *>(std::malloc(sizeof(UserVcpuCtx)));
  if (c)
    c->obj = obj;
  return c;
}
void mk_vcpu_ctx_free(void *ctx) { std::free(ctx); }
void mk_vcpu_load(void *ctx) { mk_core_vcpu_sched_in(static_cast<UserVcpuCtx *>(ctx)->obj, 0); }
void mk_vcpu_put(void *ctx) { mk_core_vcpu_sched_out(static_cast<UserVcpuCtx *>(ctx)->obj); }
const void *mk_current_mm(void) { return &vmx(); }
int mk_signal_pending(void) { return vmx().signal_pending; }
void mk_cond_resched(void) {}
int mk_guest_enter_begin(void) { return vmx().signal_pending ? -4 /* -EINTR */ : 0; }
void mk_guest_enter_end(void) {}

void mk_host_state_read(struct mk_host_state *hs) { *hs = mk_host_state{}; }
void mk_host_after_exit(const struct mk_host_state *) {}
void mk_host_restore(const struct mk_host_state *) {}
void mk_host_nmi(void) {}
void mk_host_irq(unsigned int) {}
int mk_wrmsr_safe(unsigned int, unsigned long long) { return 0; }

int mk_vmx_vcpu_run(unsigned long long *, int) {
  auto &v = vmx();
  if (!v.next_exit_reason)
    return 1;  // VMfail: the VM-instruction error field says why
  v.vmcs[v.current][0x4402] = v.next_exit_reason;
  v.next_exit_reason = 0;
  return 0;
}

}  // extern "C"
