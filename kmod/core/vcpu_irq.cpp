// SPDX-License-Identifier: GPL-2.0
// How interrupts reach a vCPU: the decision at every VM entry (an NMI, an
// ExtINT from the PIC or the LAPIC's highest deliverable vector, else an
// interrupt-/NMI-window exit), kicks from other CPUs, HLT and
// wait-for-SIPI blocking, INIT/SIPI, and the LAPIC ioctls. KVM's
// kvm_check_and_inject_events(), kvm_vcpu_kick(), kvm_vcpu_block() and
// kvm_apic_accept_events() in one small file. See Documentation/interrupts.md.
#include <linux/kvm.h>
#include <minikvm/platform.h>

#include "rt/errno.h"
#include "rt/log.h"
#include "vcpu.h"
#include "vm.h"

namespace mk {

namespace {
constexpr u8 kTypeExtInt = 0, kTypeNmi = 2;
constexpr u32 kMaxPendingNmis = 2;  // one being handled, one latched (KVM's process_nmi)
}  // namespace

void Vcpu::kick() { wake_and_notify(false); }

void Vcpu::wake_and_notify(bool posted_ipi) {
  mk_vcpu_wake(ctx_);
  // Pairs with prepare_entry(): either the vCPU sees the new interrupt
  // before it enters, or we see it in guest mode and IPI its CPU. The
  // fence orders the device's (already released) state before this load.
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  mk_preempt_disable();
  int cpu = __atomic_load_n(&guest_cpu_, __ATOMIC_SEQ_CST);
  // On this CPU the interrupt that brought us here already made it exit.
  // Elsewhere: the posted-interrupt notification vector (the CPU moves PIR
  // into the virtual IRR without an exit), else a reschedule IPI (an exit).
  if (cpu >= 0 && cpu != mk_this_cpu()) {
    if (posted_ipi)
      mk_send_posted_intr_ipi(cpu);
    else
      mk_kick_cpu(cpu);
  }
  mk_preempt_enable();
}

void Vcpu::queue_nmi() {
  u32 n = __atomic_load_n(&nmi_pending_, __ATOMIC_RELAXED);
  while (n < kMaxPendingNmis && !__atomic_compare_exchange_n(&nmi_pending_, &n, n + 1, false, __ATOMIC_RELEASE,
                                                            __ATOMIC_RELAXED)) {
  }
  kick();
}

void Vcpu::apic_eoi_level(u8 vector) {
  if (vm_->irqchip_split()) {
    // kvm_ioapic_send_eoi(): a vector of the userspace IOAPIC's routes
    // (kvm_ioapic_handles_vector) leaves to userspace at the next entry.
    u64 v[4];
    vm_->eoi_exit_bitmap(v);
    if (v[vector >> 6] & (1ull << (vector & 63)))
      pending_ioapic_eoi_ = vector;
    return;
  }
  vm_->ioapic_eoi(vector);
}
void Vcpu::apic_eoi_edge(u8 vector) {
  if (vm_->irqchip_split()) {
    apic_eoi_level(vector);  // KVM checks the handled vectors, not the TMR
    return;
  }
  vm_->ioapic_eoi_edge(vector);
}

u64 Vcpu::apic_guest_tsc() { return mk_rdtsc() + __atomic_load_n(&tsc_offset_, __ATOMIC_RELAXED); }

int Vcpu::lapic_msr_get(u32 index, u64 *value) {
  if (!lapic_)
    return x86::kMsrNoLapic;
  count(kStatLapicMsr);
  return lapic_->read_msr(index, value) ? x86::kMsrFault : x86::kMsrOk;
}

int Vcpu::lapic_msr_set(u32 index, u64 value, bool host_initiated) {
  if (!lapic_)
    return x86::kMsrNoLapic;
  if (index == 0x1b)  // IA32_APIC_BASE
    return lapic_->set_apic_base(value, host_initiated) ? x86::kMsrFault : x86::kMsrOk;
  count(kStatLapicMsr);
  return lapic_->write_msr(index, value) ? x86::kMsrFault : x86::kMsrOk;
}

bool Vcpu::takes_pic_intr() const { return lapic_ && lapic_->accepts_pic_intr(); }

int Vcpu::next_interrupt(bool *from_pic, bool lapic_vectors) {
  // KVM's kvm_cpu_has_interrupt() / kvm_cpu_get_interrupt() order: an
  // ExtINT the PIC raises (when the LAPIC passes it), else the LAPIC's
  // highest vector above the processor priority. -1: none. The PIC's
  // vector is known only after its INTA cycle (0 stands for it here).
  *from_pic = false;
  if (!lapic_)
    return -1;
  irq::Pic *pic = vm_->pic();
  if (pic && lapic_->accepts_pic_intr() && pic->intr()) {
    *from_pic = true;
    return 0;
  }
  // Split irqchip: the userspace PIC's output is the vector KVM_INTERRUPT
  // left (KVM's pending_userspace_extint in kvm_cpu_has_extint).
  if (!pic && user_irq_ >= 0 && lapic_->accepts_pic_intr()) {
    *from_pic = true;
    return 0;
  }
  return lapic_vectors ? lapic_->pending_vector() : -1;
}

bool Vcpu::interrupt_pending() {
  bool from_pic;
  return next_interrupt(&from_pic) >= 0;
}

void Vcpu::prepare_entry(int cpu) {
  // Published first: a source that raises an interrupt after our checks
  // below sees the vCPU in guest mode and IPIs this CPU (the IPI waits
  // while interrupts are off and makes the entry exit at once).
  __atomic_store_n(&guest_cpu_, cpu, __ATOMIC_SEQ_CST);
  // The LAPIC timer's expiries (the hrtimer counted and kicked): delivered
  // here, after guest_cpu_ is published, so that a later expiry IPIs us.
  if (lapic_)
    lapic_->inject_pending_timer();
  bool nmi = __atomic_load_n(&nmi_pending_, __ATOMIC_ACQUIRE) != 0;
  if (!event_.valid && nmi && backend_->nmi_allowed()) {
    // NMIs before maskable interrupts (SDM vol. 3A 6.9). Delivery sets
    // NMI blocking until the handler's IRET.
    event_ = Event{true, 2, kTypeNmi};
    __atomic_fetch_sub(&nmi_pending_, 1, __ATOMIC_ACQ_REL);
    count(kStatInjectedNmis);
  }
  bool irq = false;
  if (lapic_) {
    bool from_pic;
    // Virtual-interrupt delivery (SDM 29.2): the CPU delivers the LAPIC's
    // vectors from RVI itself (vmx_vcpu.cpp writes it); only the PIC's
    // ExtINT is injected (KVM's kvm_cpu_has_injectable_intr).
    const bool lapic_vectors = !lapic_->apicv_active();
    int vector = next_interrupt(&from_pic, lapic_vectors);
    if (!event_.valid && vector >= 0 && backend_->interrupt_allowed()) {
      // The INTA cycle: the PIC's ExtINT, or the LAPIC's vector moving
      // from IRR to ISR (SDM 10.8.4).
      if (from_pic && vm_->pic()) {
        vector = vm_->pic()->acknowledge();
        // The PIC's INTR reaches the vCPU through LINT0 in ExtINT mode (or
        // a disabled APIC): its vector is known at this INTA cycle, so the
        // LAPIC "accepts" the ExtINT here (KVM has no event for it).
        if (mk_trace_on[MK_TP_APIC_ACCEPT])
          mk_trace_apic_accept(vm_->trace_id(), id_, lapic_->id(), static_cast<u8>(vector),
                               static_cast<u8>(irq::Delivery::kExtInt), 0, 0, MINIKVM_ORIGIN_LVT);
      } else if (from_pic) {
        vector = user_irq_;  // split irqchip: KVM_INTERRUPT's ExtINT
        user_irq_ = -1;
        if (mk_trace_on[MK_TP_APIC_ACCEPT])
          mk_trace_apic_accept(vm_->trace_id(), id_, lapic_->id(), static_cast<u8>(vector),
                               static_cast<u8>(irq::Delivery::kExtInt), 0, 0, MINIKVM_ORIGIN_LVT);
      } else {
        lapic_->acknowledge(static_cast<u8>(vector));
      }
      event_ = Event{true, static_cast<u8>(vector), kTypeExtInt};
      count(kStatInjectedIrqs);
      vector = next_interrupt(&from_pic, lapic_vectors);
    }
    // Split irqchip: userspace may ask for an interrupt window for its
    // PIC (KVM's dm_request_for_irq_injection without pic_in_kernel).
    irq = vector >= 0 || (vm_->irqchip_split() && run_->request_interrupt_window);
  } else {
    if (user_irq_ >= 0 && !event_.valid && backend_->interrupt_allowed()) {
      // KVM_INTERRUPT (userspace irqchip): held until the guest can take it.
      event_ = Event{true, static_cast<u8>(user_irq_), kTypeExtInt};
      user_irq_ = -1;
      count(kStatInjectedIrqs);
    }
    irq = user_irq_ >= 0 || run_->request_interrupt_window;
  }
  nmi = __atomic_load_n(&nmi_pending_, __ATOMIC_ACQUIRE) != 0;
  // What still waits makes the CPU exit as soon as the guest can take it
  // (SDM 25.3: after the injected event, when IF=1 / NMI unblocked).
  backend_->request_windows(irq, nmi);
}

void Vcpu::enter_halted() {
  // What may wake it is decided now, from the state it halted in.
  halt_if_ = backend_->interrupt_allowed();
  halt_nmi_ = !backend_->nmi_masked();
  mp_state_ = KVM_MP_STATE_HALTED;
}

void Vcpu::left_guest() { __atomic_store_n(&guest_cpu_, -1, __ATOMIC_RELEASE); }

void Vcpu::poll_init_sipi() {
  if (!lapic_ || !lapic_->has_init_or_sipi())
    return;
  if (lapic_->take_init())
    got_init_ = true;
  u8 v;
  if (lapic_->take_sipi(&v)) {
    got_sipi_ = true;
    sipi_vector_ = v;
  }
}

bool Vcpu::has_wake_event() {
  poll_init_sipi();
  if (got_init_)
    return true;
  switch (mp_state_) {
    case KVM_MP_STATE_RUNNABLE:
      return true;
    case KVM_MP_STATE_INIT_RECEIVED:
      return got_sipi_;
    case KVM_MP_STATE_HALTED:
      // KVM's kvm_vcpu_has_events(): an NMI it can take, or an interrupt
      // while IF was set.
      return (halt_nmi_ && __atomic_load_n(&nmi_pending_, __ATOMIC_ACQUIRE)) ||
             (halt_if_ && interrupt_pending());
    default:  // UNINITIALIZED, AP_RESET_HOLD: only INIT (above) or SIPI
      return got_sipi_;
  }
}

// A LAPIC timer expiry ends the wait too: wait_until_runnable() delivers
// it, then decides (KVM's kvm_vcpu_check_block: kvm_cpu_has_pending_timer).
int Vcpu::runnable_cond(void *self) {
  Vcpu *v = static_cast<Vcpu *>(self);
  return v->has_wake_event() || (v->lapic_ && v->lapic_->timer_pending());
}

void Vcpu::init_reset() {
  // INIT (SDM vol. 3A 9.1.1, table 9-1; KVM's kvm_vcpu_reset(init_event)):
  // the power-on register state without touching most MSRs, no pending
  // events, the LAPIC's INIT reset (ID and base stay).
  backend_->reset_registers();
  for (auto &g : gprs_)
    g = 0;
  gprs_[kRdx] = 0x600;
  event_ = Event{};
  user_irq_ = -1;
  __atomic_store_n(&nmi_pending_, 0u, __ATOMIC_RELAXED);
  pending_ = Pending::kNone;
  lapic_->init_signal();
}

void Vcpu::sipi_start(u8 vector) {
  // SDM vol. 3A 8.4.4.1: the AP starts in real mode at vector * 4096:
  // CS.selector = vector << 8, CS.base = vector << 12, IP = 0.
  kvm_sregs s;
  backend_->get_sregs(&s);
  s.cs.selector = static_cast<u16>(vector) << 8;
  s.cs.base = static_cast<u64>(vector) << 12;
  backend_->set_sregs(s);
  backend_->set_rip(0);
}

void Vcpu::accept_init_sipi() {
  poll_init_sipi();
  if (got_init_) {
    got_init_ = false;
    init_reset();
    mp_state_ = id_ == vm_->boot_cpu_id() ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_INIT_RECEIVED;
  }
  if (got_sipi_) {
    got_sipi_ = false;
    // A SIPI means something only to a processor waiting for one.
    if (mp_state_ == KVM_MP_STATE_INIT_RECEIVED) {
      sipi_start(sipi_vector_);
      mp_state_ = KVM_MP_STATE_RUNNABLE;
    }
  }
}

int Vcpu::wait_until_runnable() {
  for (;;) {
    lapic_->inject_pending_timer();  // KVM's vcpu_run: kvm_inject_pending_timer_irqs
    accept_init_sipi();
    if (mp_state_ == KVM_MP_STATE_RUNNABLE)
      return 1;
    if (mp_state_ == KVM_MP_STATE_HALTED && has_wake_event()) {
      mp_state_ = KVM_MP_STATE_RUNNABLE;
      count(kStatHaltWakeups);
      return 1;
    }
    if (mk_vcpu_wait(ctx_, runnable_cond, this)) {
      // A signal: back to userspace; the state stays HALTED (or waiting
      // for SIPI) for the next KVM_RUN.
      run_->exit_reason = KVM_EXIT_INTR;
      count(kStatSignalExits);
      return -EINTR;
    }
  }
}

long Vcpu::get_lapic(unsigned long arg) {
  if (!lapic_)
    return -EINVAL;
  auto *s = static_cast<kvm_lapic_state *>(mk_alloc(sizeof(kvm_lapic_state)));
  if (!s)
    return -ENOMEM;
  lapic_->get_state(s);
  long r = mk_copy_to_user(arg, s, sizeof(*s)) ? -EFAULT : 0;
  mk_free(s);
  return r;
}

long Vcpu::set_lapic(unsigned long arg) {
  if (!lapic_)
    return -EINVAL;
  auto *s = static_cast<kvm_lapic_state *>(mk_alloc(sizeof(kvm_lapic_state)));
  if (!s)
    return -ENOMEM;
  long r = -EFAULT;
  if (!mk_copy_from_user(s, arg, sizeof(*s)))
    r = lapic_->set_state(*s);
  mk_free(s);
  return r;
}

long Vcpu::interrupt(unsigned long arg) {
  kvm_interrupt irq;
  if (mk_copy_from_user(&irq, arg, sizeof(irq)))
    return -EFAULT;
  // KVM's kvm_vcpu_ioctl_interrupt(): for VMs whose irqchip is in userspace.
  if (irq.irq >= KVM_NR_INTERRUPTS)
    return -EINVAL;
  if (vm_->irqchip_in_kernel())
    return -ENXIO;
  if (vm_->irqchip_split()) {
    // LAPIC in the kernel: this is the userspace PIC's ExtINT, one at a
    // time (kvm_vcpu_ioctl_interrupt: pending_external_vector).
    if (user_irq_ >= 0)
      return -EEXIST;
    user_irq_ = static_cast<int>(irq.irq);
    return 0;
  }
  if (user_irq_ >= 0 || (event_.valid && event_.type == kTypeExtInt))
    return -ENXIO;
  user_irq_ = static_cast<int>(irq.irq);
  return 0;
}

}  // namespace mk
