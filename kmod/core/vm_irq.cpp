// SPDX-License-Identifier: GPL-2.0
// The VM's in-kernel irqchip: the ioctls that create and drive it (KVM's
// KVM_CREATE_IRQCHIP, KVM_IRQ_LINE[_STATUS], KVM_SET_GSI_ROUTING,
// KVM_SIGNAL_MSI, KVM_GET/SET_IRQCHIP, KVM_CREATE_PIT2, KVM_GET/SET_PIT2,
// KVM_SET_BOOT_CPU_ID) and the glue between the device models: a GSI goes
// through the routing table to PIC and IOAPIC pins or becomes an MSI on
// the APIC bus; the PIC's output and the LAPICs' EOIs come back here.
// See Documentation/interrupts.md for the whole path.
#include <linux/kvm.h>
#include <minikvm/platform.h>

#include "irq/ioapic.h"
#include "irq/irqfd.h"
#include "irq/pit.h"
#include "irq/routing.h"
#include "rt/errno.h"
#include "rt/log.h"
#include "rt/new.h"
#include "vcpu.h"
#include "vm.h"

namespace mk {

namespace {
// KVM's i8259 and ELCR ports, the PIT and the port 0x61 "speaker" gate.
constexpr u64 kPicMaster = 0x20, kPicSlave = 0xa0, kElcr = 0x4d0;
constexpr u64 kPitPorts = 0x40, kPort61 = 0x61;
// Route entries one GSI can have: PIC, IOAPIC, MSI (KVM allows one per
// irqchip kind; MSI entries stand alone).
constexpr u32 kMaxRoutesPerGsi = irq::GsiRouting::kMaxPerGsi;
}  // namespace

long Vm::create_irqchip() {
  mk_mutex_lock(lock_);
  long r;
  if (irqchip_ || irqchip_split()) {
    r = -EEXIST;
  } else if (nr_vcpus_) {
    r = -EINVAL;  // as KVM: only before the first vCPU
  } else {
    r = -ENOMEM;
    pic_ = new (nothrow) irq::Pic(*this, trace_id_);
    ioapic_ = new (nothrow) irq::Ioapic(apic_bus_, trace_id_);
    routing_ = new (nothrow) irq::GsiRouting();
    if (pic_ && ioapic_ && routing_ && !pic_->init() && !ioapic_->init() && !routing_->init()) {
      r = routing_->set_default();
      if (!r)
        r = pio_bus_.register_range(kPicMaster, 2, pic_);
      if (!r)
        r = pio_bus_.register_range(kPicSlave, 2, pic_);
      if (!r)
        r = pio_bus_.register_range(kElcr, 2, pic_);
      if (!r)
        r = mmio_bus_.register_range(irq::Ioapic::kBase, irq::Ioapic::kSize, ioapic_);
    }
    if (r) {
      // No vCPU exists to have seen the devices: undo completely.
      pio_bus_.unregister_unpublished(pic_);
      mmio_bus_.unregister_unpublished(ioapic_);
      delete pic_;
      delete ioapic_;
      delete routing_;
      pic_ = nullptr;
      ioapic_ = nullptr;
      routing_ = nullptr;
    } else {
      // APICv: IOAPIC table changes recompute the EOI-exit bitmap
      // (vm_apicv.cpp); its first value (the RTC pin's vector) now.
      // irqfd resampling hangs off the IOAPIC's and PIC's acks.
      ioapic_->set_observer(irqfds_);
      irqfds_->set_irqchip(routing_, true);
      ioapic_->set_table_hook([](void *vm) { static_cast<Vm *>(vm)->eoi_exit_changed(); }, this);
      __atomic_store_n(&irqchip_, true, __ATOMIC_RELEASE);
      eoi_exit_changed();
    }
  }
  mk_mutex_unlock(lock_);
  return r;
}

void Vm::destroy_irqchip() {
  // Only timers still run when the last fd is gone. The PIT's raises GSI 0
  // into PIC, IOAPIC and LAPICs; the IOAPIC's (its storm guard) delivers to
  // LAPICs: both go before the vCPUs and their LAPICs. The LAPIC timers
  // touch only their own LAPIC and vCPU, and go with them.
  delete pit_;
  pit_ = nullptr;
  delete ioapic_;
  ioapic_ = nullptr;
}

int Vm::set_gsi(u32 gsi, u32 source, bool level) {
  // GsiSink callers are the in-kernel ones (KVM_IRQ_LINE comes through
  // irq_line()): the PIT with its own source id; irqfds, which raise an edge
  // with the userspace source id (as KVM) or, with a resampler, hold the
  // resample source's line up; the resampler, which lowers that line.
  u32 src = MINIKVM_GSI_SRC_IRQFD;
  if (source == irq::kSourcePit)
    src = MINIKVM_GSI_SRC_KERNEL;
  else if (source == irq::kSourceResample && !level)
    src = MINIKVM_GSI_SRC_RESAMPLE;
  return raise_gsi(gsi, source, level, false, src);
}

void Vm::trace_set_gsi(u32 gsi, bool level, const irq::RouteEntry *e, u32 n, u32 src) {
  u32 kinds = 0;
  for (u32 i = 0; i < n; i++) {
    if (e[i].type == KVM_IRQ_ROUTING_MSI)
      kinds |= MINIKVM_ROUTE_MSI;
    else if (e[i].chip == KVM_IRQCHIP_IOAPIC)
      kinds |= MINIKVM_ROUTE_IOAPIC;
    else if (e[i].chip == KVM_IRQCHIP_PIC_SLAVE)
      kinds |= MINIKVM_ROUTE_PIC_SLAVE;
    else
      kinds |= MINIKVM_ROUTE_PIC_MASTER;
  }
  mk_trace_set_gsi(trace_id_, gsi, level, n, kinds, src);
}

void Vm::trace_msi(u32 address_lo, u32 address_hi, u32 data) {
  mk_trace_msi_set_irq(trace_id_, data, static_cast<u64>(address_hi) << 32 | address_lo);
}

int Vm::raise_gsi(u32 gsi, u32 source, bool level, bool line_status, u32 trace_src) {
  // Split irqchip: the routing table has MSI routes only.
  if (!irqchip_in_kernel() && !irqchip_split())
    return -1;
  irq::RouteEntry e[kMaxRoutesPerGsi];
  u32 n = routing_->lookup(gsi, e, kMaxRoutesPerGsi);
  if (mk_trace_on[MK_TP_SET_GSI])
    trace_set_gsi(gsi, level, e, n, trace_src);
  // KVM's kvm_set_irq(): every route fires; the result is the sum of the
  // positive answers, 0 if one coalesced and none delivered, else -1.
  int ret = -1;
  for (u32 i = 0; i < n; i++) {
    int r = -1;
    if (e[i].type == KVM_IRQ_ROUTING_IRQCHIP) {
      if (e[i].chip == KVM_IRQCHIP_IOAPIC)
        r = ioapic_->set_irq(e[i].pin, source, level, line_status);
      else
        r = pic_->set_irq(e[i].pin, source, level);  // the combined 0-15 pin space
    } else if (e[i].type == KVM_IRQ_ROUTING_MSI) {
      // An MSI is an edge: only the assertion sends it (kvm_set_msi).
      if (level && mk_trace_on[MK_TP_MSI_SET_IRQ])
        trace_msi(e[i].address_lo, e[i].address_hi, e[i].data);
      if (level)
        r = apic_bus_.deliver(irq::msi_message(e[i].address_lo, e[i].address_hi, e[i].data), nullptr);
    }
    if (r < 0)
      continue;
    ret = r + (ret < 0 ? 0 : ret);
  }
  return ret;
}

void Vm::pic_intr_changed() {
  // Any vCPU whose LAPIC passes the PIC's INTR (LINT0 in ExtINT mode, or
  // the APIC disabled) may take it (KVM's kvm_apic_accept_pic_intr).
  u32 n = vcpu_count();
  for (u32 i = 0; i < n; i++) {
    if (vcpus_[i]->takes_pic_intr())
      vcpus_[i]->kick();
  }
}

bool Vm::pic_output_accepted() {
  u32 n = vcpu_count();
  for (u32 i = 0; i < n; i++)
    if (vcpus_[i]->takes_pic_intr())
      return true;
  return false;
}

void Vm::ioapic_eoi(u8 vector) {
  if (ioapic_)
    ioapic_->eoi(vector);
}

void Vm::ioapic_eoi_edge(u8 vector) {
  if (ioapic_ && ioapic_->rtc_tracks(vector))
    ioapic_->eoi(vector, false);
}

long Vm::irq_line(unsigned long arg, bool status) {
  kvm_irq_level ev;
  if (mk_copy_from_user(&ev, arg, sizeof(ev)))
    return -EFAULT;
  // irqchip_in_kernel() of KVM: full or split (MSI routes only).
  if (!irqchip_in_kernel() && !irqchip_split())
    return -ENXIO;
  // KVM_IRQ_LINE_STATUS turns on the RTC's EOI tracking (line_status).
  ev.status = raise_gsi(ev.irq, irq::kSourceUserspace, ev.level != 0, status, MINIKVM_GSI_SRC_IRQ_LINE);
  if (status && mk_copy_to_user(arg, &ev, sizeof(ev)))
    return -EFAULT;
  return 0;
}

long Vm::set_gsi_routing(unsigned long arg) {
  // KVM's order of checks (virt/kvm/kvm_main.c, KVM_SET_GSI_ROUTING).
  kvm_irq_routing head;
  if (mk_copy_from_user(&head, arg, sizeof(head)))
    return -EFAULT;
  if (!irqchip_in_kernel() && !irqchip_split())
    return -EINVAL;
  if (head.nr > irq::GsiRouting::kMaxRoutes || head.flags)
    return -EINVAL;
  kvm_irq_routing_entry *entries = nullptr;
  if (head.nr) {
    unsigned long bytes = head.nr * sizeof(kvm_irq_routing_entry);
    entries = static_cast<kvm_irq_routing_entry *>(mk_alloc(bytes));
    if (!entries)
      return -ENOMEM;
    if (mk_copy_from_user(entries, arg + sizeof(head), bytes)) {
      mk_free(entries);
      return -EFAULT;
    }
  }
  int r = 0;
  // kvm_set_routing_entry(): no irqchip routes with a split irqchip.
  if (irqchip_split())
    for (u32 i = 0; i < head.nr; i++)
      if (entries[i].type == KVM_IRQ_ROUTING_IRQCHIP)
        r = -EINVAL;
  if (!r)
    r = routing_->set(entries, head.nr);
  mk_free(entries);
  if (!r)
    irqfds_->routing_changed();  // kvm_irq_routing_update -> irqfd_update
  if (!r)
    eoi_exit_changed();  // split irqchip: level MSI routes (vm_apicv.cpp)
  return r;
}

long Vm::signal_msi(unsigned long arg) {
  kvm_msi msi;
  if (mk_copy_from_user(&msi, arg, sizeof(msi)))
    return -EFAULT;
  // kvm_send_userspace_msi(): x86 has no device ids, but accepts the flag.
  if ((!irqchip_in_kernel() && !irqchip_split()) || (msi.flags & ~KVM_MSI_VALID_DEVID))
    return -EINVAL;
  if (mk_trace_on[MK_TP_MSI_SET_IRQ])
    trace_msi(msi.address_lo, msi.address_hi, msi.data);
  return apic_bus_.deliver(irq::msi_message(msi.address_lo, msi.address_hi, msi.data), nullptr);
}

long Vm::get_irqchip(unsigned long arg) {
  kvm_irqchip *chip = static_cast<kvm_irqchip *>(mk_alloc(sizeof(kvm_irqchip)));
  if (!chip)
    return -ENOMEM;
  long r = -EFAULT;
  if (mk_copy_from_user(chip, arg, sizeof(*chip)))
    goto out;
  r = -ENXIO;
  if (!irqchip_in_kernel())
    goto out;
  r = 0;
  switch (chip->chip_id) {
    case KVM_IRQCHIP_PIC_MASTER:
    case KVM_IRQCHIP_PIC_SLAVE:
      pic_->get_state(chip->chip_id, &chip->chip.pic);
      break;
    case KVM_IRQCHIP_IOAPIC:
      ioapic_->get_state(&chip->chip.ioapic);
      break;
    default:
      r = -EINVAL;
      goto out;
  }
  if (mk_copy_to_user(arg, chip, sizeof(*chip)))
    r = -EFAULT;
out:
  mk_free(chip);
  return r;
}

long Vm::set_irqchip(unsigned long arg) {
  kvm_irqchip *chip = static_cast<kvm_irqchip *>(mk_alloc(sizeof(kvm_irqchip)));
  if (!chip)
    return -ENOMEM;
  long r = -EFAULT;
  if (mk_copy_from_user(chip, arg, sizeof(*chip)))
    goto out;
  r = -ENXIO;
  if (!irqchip_in_kernel())
    goto out;
  r = 0;
  switch (chip->chip_id) {
    case KVM_IRQCHIP_PIC_MASTER:
    case KVM_IRQCHIP_PIC_SLAVE:
      pic_->set_state(chip->chip_id, chip->chip.pic);
      break;
    case KVM_IRQCHIP_IOAPIC:
      ioapic_->set_state(chip->chip.ioapic);
      break;
    default:
      r = -EINVAL;
  }
out:
  mk_free(chip);
  return r;
}

long Vm::create_pit2(unsigned long arg, bool legacy) {
  kvm_pit_config cfg{};
  if (legacy)
    cfg.flags = KVM_PIT_SPEAKER_DUMMY;  // KVM_CREATE_PIT
  else if (mk_copy_from_user(&cfg, arg, sizeof(cfg)))
    return -EFAULT;
  mk_mutex_lock(lock_);
  long r;
  if (pit_) {
    r = -EEXIST;
  } else {
    r = -ENOMEM;
    irq::Pit *pit = new (nothrow) irq::Pit(*this);
    if (pit && !pit->init()) {
      r = pio_bus_.register_range(kPitPorts, 4, pit);
      // KVM claims 0x61-0x64 only for KVM_PIT_SPEAKER_DUMMY (QEMU asks
      // for it); the flags are otherwise not checked (kvm_create_pit).
      if (!r && (cfg.flags & KVM_PIT_SPEAKER_DUMMY))
        r = pio_bus_.register_range(kPort61, 4, pit);
    }
    if (r) {
      // Only a full or overlapping bus gets here, before any range of the
      // PIT could be found by a vCPU only if the first one succeeded: the
      // bus has room for every device minikvm makes (kMaxRanges), so this
      // is a bug, and the PIT is leaked rather than freed under a reader.
      if (pit && pio_bus_.find(kPitPorts, 1) == pit) {
        mk_log_once(MK_LOG_ERR, "KVM_CREATE_PIT2: port 0x61 already taken; PIT left half-registered");
        pit_ = pit;
        r = 0;
      } else {
        delete pit;
      }
    } else {
      pit_ = pit;
    }
  }
  mk_mutex_unlock(lock_);
  return r;
}

long Vm::get_pit2(unsigned long arg) {
  if (!pit_)
    return -ENXIO;
  kvm_pit_state2 s{};
  pit_->get_state(&s);
  return mk_copy_to_user(arg, &s, sizeof(s)) ? -EFAULT : 0;
}

long Vm::set_pit2(unsigned long arg) {
  kvm_pit_state2 s;
  if (mk_copy_from_user(&s, arg, sizeof(s)))
    return -EFAULT;
  if (!pit_)
    return -ENXIO;
  pit_->set_state(s);
  return 0;
}

long Vm::set_boot_cpu_id(unsigned long arg) {
  mk_mutex_lock(lock_);
  long r = 0;
  if (nr_vcpus_)
    r = -EBUSY;
  else
    boot_cpu_id_ = static_cast<u32>(arg);
  mk_mutex_unlock(lock_);
  return r;
}

}  // namespace mk
