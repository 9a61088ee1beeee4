// SPDX-License-Identifier: GPL-2.0
// A virtual machine: what a KVM_CREATE_VM fd refers to. It owns the guest's
// memory map (memslots + EPT) and its vCPUs; the VM fd and every vCPU fd
// hold a reference, the last one to go destroys it.
#pragma once

#include "fd_object.h"
#include "mmu/guest_mmu.h"
#include "stats.h"
#include "rt/types.h"

namespace mk {

class Vcpu;

class Vm final : public FdObject, public mmu::TlbFlusher, public mmu::GuestPhysMem, public StatsSource {
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
  bool irqchip_requested() const { return irqchip_; }
  const void *mm() const { return mm_; }

 private:
  Vm() = default;
  ~Vm() override;
  int init();
  long create_vcpu(unsigned long arg);
  long set_memory_region(unsigned long arg);

  long refs_ = 1;
  const void *mm_ = nullptr;  // the creating process's address space
  mmu::GuestMmu *mmu_ = nullptr;
  void *lock_ = nullptr;      // vCPU creation
  void *mmu_lock_ = nullptr;  // memslots and EPT
  Vcpu *vcpus_[kMaxVcpus] = {};
  u32 nr_vcpus_ = 0;
  bool irqchip_ = false;
  bool vmx_acquired_ = false;
  u64 tlb_flushes_ = 0;
};

}  // namespace mk
