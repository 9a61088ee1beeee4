// SPDX-License-Identifier: GPL-2.0
// A virtual machine: what a KVM_CREATE_VM fd refers to. It owns the guest's
// memory map (memslots + EPT) and its vCPUs; the VM fd and every vCPU fd
// hold a reference, the last one to go destroys it.
#pragma once

#include "fd_object.h"
#include "io/bus.h"
#include "irq/apic_bus.h"
#include "irq/irq.h"
#include "irq/irq_posting.h"
#include "irq/pic.h"
#include "mmu/guest_mmu.h"
#include "stats.h"
#include "rt/types.h"

namespace mk {

class Vcpu;
namespace io {
class Ioeventfds;
}
namespace irq {
class Irqfds;
class Ioapic;
class GsiRouting;
class Pit;
}  // namespace irq

class Vm final : public FdObject,
                 public mmu::TlbFlusher,
                 public mmu::GuestPhysMem,
                 public StatsSource,
                 public irq::GsiSink,
                 public irq::PicHost {
 public:
  // KVM_CAP_MAX_VCPUS and KVM_CAP_MAX_VCPU_ID.
  static constexpr u32 kMaxVcpus = 64;
  static constexpr u32 kMaxVcpuId = 256;

  // Turns VMX on (first VM) and builds an empty guest-physical map.
  static int create(Vm **out);

  long ioctl(unsigned int cmd, unsigned long arg) override;
  void release() override;  // the VM fd is gone
  void get();
  void put();

  static long live_count();

  // minikvm's number for this VM in its tracepoints (uapi/minikvm/trace.h
  // "vm"): 1, 2, ... in creation order since the module was loaded, never
  // reused while it stays loaded (a pointer or fd could be).
  u32 trace_id() const { return trace_id_; }

  mmu::GuestMmu &mmu() { return *mmu_; }
  // EPT violation on gpa: maps guest RAM, or says it is MMIO.
  int handle_ept_violation(u64 gpa, u64 qual, mmu::EptFault *out);
  // Guest-physical memory access for emulation (serialised with slot changes).
  // (GuestPhysMem, for the walker and string I/O.)
  int read(u64 gpa, void *buf, size_t len) override;
  int write(u64 gpa, const void *buf, size_t len) override;

  void flush_guest_mappings() override;

  // StatsSource: KVM_GET_STATS_FD on the VM fd.
  const StatDesc *stat_descs(u32 *count) const override;
  void stat_values(u64 *out) override;
  void stats_id(char *buf, size_t len) const override;
  const void *mm() const { return mm_; }

  // ---- the in-kernel irqchip (vm_irq.cpp) ----
  // True once KVM_CREATE_IRQCHIP made the PIC, IOAPIC and routing (read
  // without a lock: set after they exist, never cleared).
  bool irqchip_in_kernel() const { return __atomic_load_n(&irqchip_, __ATOMIC_ACQUIRE); }
  irq::Pic *pic() { return pic_; }
  irq::LapicBus &apic_bus() { return apic_bus_; }
  const io::IoBus &pio_bus() const { return pio_bus_; }
  const io::IoBus &mmio_bus() const { return mmio_bus_; }
  u32 boot_cpu_id() const { return boot_cpu_id_; }
  // GsiSink: raises/lowers a GSI through the routing table (KVM's kvm_set_irq).
  int set_gsi(u32 gsi, u32 source, bool level) override;
  // PicHost: the PIC's INT output changed: kick the vCPUs that take it.
  void pic_intr_changed() override;
  bool pic_output_accepted() override;
  // A LAPIC's EOI of a level-triggered vector (KVM's kvm_ioapic_update_eoi).
  void ioapic_eoi(u8 vector);
  void ioapic_eoi_edge(u8 vector);  // only what the IOAPIC tracks (the RTC's vector)
  // vCPUs, lock-free (published with release ordering as they are created).
  u32 vcpu_count() const { return __atomic_load_n(&nr_vcpus_, __ATOMIC_ACQUIRE); }
  Vcpu *vcpu_at(u32 i) const { return vcpus_[i]; }

  // ---- split irqchip (KVM_CAP_SPLIT_IRQCHIP; vm_irq.cpp) ----
  // LAPICs in the kernel, PIC/IOAPIC in userspace; routes below
  // nr_reserved_ioapic_pins() stand for the userspace IOAPIC's pins.
  bool irqchip_split() const { return __atomic_load_n(&irqchip_split_, __ATOMIC_ACQUIRE); }
  u32 nr_reserved_ioapic_pins() const { return nr_reserved_ioapic_pins_; }

  // ---- APICv: the EOI-exit bitmap (vm_apicv.cpp) ----
  // Vectors whose EOI must leave the guest under virtual-interrupt delivery
  // (SDM 29.1.3): those an IOAPIC pin programs level-triggered (and the
  // RTC's while tracked); in split-irqchip mode every level-triggered MSI
  // route below the reserved IOAPIC pins. eoi_exit_changed() recomputes it
  // (after IOAPIC redirection writes, KVM_SET_IRQCHIP, routing changes),
  // bumps the generation and kicks every vCPU; a vCPU whose generation is
  // stale reloads the bitmap before its next entry. Any context but hard irq.
  u32 eoi_exit_generation() const { return __atomic_load_n(&eoi_exit_gen_, __ATOMIC_ACQUIRE); }
  void eoi_exit_bitmap(u64 out[4]);
  void eoi_exit_changed();

  // ---- irqfd and ioeventfd (irq/irqfd.cpp, io/ioeventfd.cpp) ----
  // A vCPU's guest write to a port (pio) or guest-physical address: 0 when
  // an ioeventfd took it (signalled, completes in the kernel), else
  // -EOPNOTSUPP.
  int ioeventfd_write(bool pio, u64 addr, u32 len, const void *val);
  // PicHost: the PIC's INTA/EOI of pin 0-15 (kvm_notify_acked_irq).
  void pic_irq_acked(u32 pin) override;

  // ---- VT-d posting of assigned devices' MSIs (irq/irq_posting.cpp) ----
  // gsi's routes (GsiRouting::lookup) and whether MSI routes use the
  // x2APIC 32-bit destination format; 0 routes without a routing table.
  u32 gsi_routes(u32 gsi, irq::RouteEntry *out, u32 max, bool *x2apic_format);
  // irte_posted / irte_remapped / irte_failures of the VM's stats.
  irq::PostingStats &posting_stats() { return posting_stats_; }

 private:
  Vm() = default;
  ~Vm() override;
  int init();
  long create_vcpu(unsigned long arg);
  long set_memory_region(unsigned long arg);
  long create_irqchip();
  long irq_line(unsigned long arg, bool status);
  long set_gsi_routing(unsigned long arg);
  long signal_msi(unsigned long arg);
  long get_irqchip(unsigned long arg);
  long set_irqchip(unsigned long arg);
  long create_pit2(unsigned long arg, bool legacy);
  long get_pit2(unsigned long arg);
  long set_pit2(unsigned long arg);
  long set_boot_cpu_id(unsigned long arg);
  long irqfd(unsigned long arg);
  long ioeventfd(unsigned long arg);
  long enable_cap(unsigned long arg);  // KVM_ENABLE_CAP on the VM (vm_irqfd.cpp)
  // trace_src: MINIKVM_GSI_SRC_* for the minikvm_set_gsi tracepoint.
  int raise_gsi(u32 gsi, u32 source, bool level, bool line_status, u32 trace_src);
  void trace_set_gsi(u32 gsi, bool level, const irq::RouteEntry *e, u32 n, u32 src);
  void trace_msi(u32 address_lo, u32 address_hi, u32 data);
  void destroy_irqchip();

  long refs_ = 1;
  u32 trace_id_ = 0;
  const void *mm_ = nullptr;  // the creating process's address space
  mmu::GuestMmu *mmu_ = nullptr;
  void *lock_ = nullptr;      // vCPU creation
  void *mmu_lock_ = nullptr;  // memslots and EPT
  Vcpu *vcpus_[kMaxVcpus] = {};
  u32 nr_vcpus_ = 0;
  bool irqchip_ = false;  // atomic: see irqchip_in_kernel()
  irq::Pic *pic_ = nullptr;
  irq::Ioapic *ioapic_ = nullptr;
  irq::GsiRouting *routing_ = nullptr;
  irq::Pit *pit_ = nullptr;
  irq::LapicBus apic_bus_;
  io::IoBus pio_bus_, mmio_bus_;
  u32 boot_cpu_id_ = 0;
  bool irqchip_split_ = false;          // atomic: see irqchip_split()
  u32 nr_reserved_ioapic_pins_ = 0;
  u32 eoi_exit_gen_ = 0;                // atomic
  u64 eoi_exit_[4] = {};                // under apicv_lock_
  void *apicv_lock_ = nullptr;          // spinlock, created with the irqchip
  irq::PostingStats posting_stats_;      // atomic counters (irq_posting.cpp)
  bool vmx_acquired_ = false;
  u64 tlb_flushes_ = 0;
  irq::Irqfds *irqfds_ = nullptr;         // KVM_IRQFD (created in init())
  io::Ioeventfds *ioeventfds_ = nullptr;  // KVM_IOEVENTFD (created in init())
};

}  // namespace mk
