// SPDX-License-Identifier: GPL-2.0
// The VM's eventfd ioctls and split irqchip: KVM_IRQFD (irq/irqfd.cpp),
// KVM_IOEVENTFD (io/ioeventfd.cpp), KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP)
// (x86.c kvm_vm_ioctl_enable_cap), and the acks that drive irqfd
// resampling (kvm_notify_acked_irq).
#include <linux/kvm.h>
#include <minikvm/platform.h>

#include "io/ioeventfd.h"
#include "irq/irqfd.h"
#include "irq/routing.h"
#include "rt/errno.h"
#include "rt/new.h"
#include "vm.h"

namespace mk {

long Vm::irqfd(unsigned long arg) {
  kvm_irqfd a;
  if (mk_copy_from_user(&a, arg, sizeof(a)))
    return -EFAULT;
  return irqfds_->ioctl(a);
}

long Vm::ioeventfd(unsigned long arg) {
  kvm_ioeventfd a;
  if (mk_copy_from_user(&a, arg, sizeof(a)))
    return -EFAULT;
  return ioeventfds_->ioctl(a);
}

int Vm::ioeventfd_write(bool pio, u64 addr, u32 len, const void *val) {
  return ioeventfds_->write(pio ? io::Ioeventfds::kPio : io::Ioeventfds::kMmio, addr, len, val);
}

void Vm::pic_irq_acked(u32 pin) {
  // i8259.c: kvm_notify_acked_irq(kvm, SELECT_PIC(irq), irq), irq 0-15.
  irqfds_->irq_acked(pin < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, pin);
}

long Vm::enable_cap(unsigned long arg) {
  kvm_enable_cap cap;
  if (mk_copy_from_user(&cap, arg, sizeof(cap)))
    return -EFAULT;
  // kvm_vm_ioctl_enable_cap(): flags must be 0; unknown caps -EINVAL.
  if (cap.flags)
    return -EINVAL;
  if (cap.cap != KVM_CAP_SPLIT_IRQCHIP)
    return -EINVAL;
  mk_mutex_lock(lock_);
  long r;
  // KVM: args[0] <= MAX_NR_RESERVED_IOAPIC_PINS (= KVM_MAX_IRQ_ROUTES in
  // 6.1), then -EEXIST for an irqchip (full or split) or any vCPU.
  if (cap.args[0] > irq::GsiRouting::kMaxRoutes) {
    r = -EINVAL;
  } else if (irqchip_ || irqchip_split_ || nr_vcpus_) {
    r = -EEXIST;
  } else {
    // kvm_setup_empty_irq_routing(): a table with no routes.
    r = -ENOMEM;
    irq::GsiRouting *routing = new (nothrow) irq::GsiRouting();
    if (routing && !routing->init())
      r = routing->set(nullptr, 0);
    if (r) {
      delete routing;
    } else {
      routing_ = routing;
      nr_reserved_ioapic_pins_ = static_cast<u32>(cap.args[0]);
      irqfds_->set_irqchip(routing_, false);
      __atomic_store_n(&irqchip_split_, true, __ATOMIC_RELEASE);
    }
  }
  mk_mutex_unlock(lock_);
  if (!r)
    eoi_exit_changed();
  return r;
}

}  // namespace mk
