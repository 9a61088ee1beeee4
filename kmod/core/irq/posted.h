// SPDX-License-Identifier: GPL-2.0
// The VT-x posted-interrupt descriptor of one vCPU (Intel SDM vol. 3C
// 29.6 "Posted-Interrupt Processing"; VT-d spec 9.12 for the IOMMU's view
// of the same 64 bytes). Senders set a bit in the posted-interrupt request
// bitmap (PIR) and, if the outstanding-notification bit (ON) was clear,
// notify the vCPU; the vCPU moves PIR into the virtual IRR of its APIC
// register page before it enters the guest (KVM's vmx_deliver_posted_interrupt
// / __kvm_apic_update_irr). With CPU posting (A1's side) the notification is
// the posted-interrupt vector and the CPU does the move itself in guest
// mode; without it (Bochs) the notification is a kick and the move happens at
// the next entry: the descriptor protocol is the same either way.
//
// Layout (SDM 29.6, table 29-... "Format of Posted-Interrupt Descriptor"):
// PIR bits 255:0; ON = bit 256, SN = bit 257, NV = bits 279:272,
// NDST = bits 319:288 (xAPIC: APIC ID in bits 15:8; x2APIC: all 32 bits).
//
// Concurrency: post() runs in any context on any CPU, lock-free (atomic RMWs
// only), as does the CPU or IOMMU posting into the same bits. drain_into()
// is the vCPU thread's, outside guest mode. NV/NDST/SN are the vCPU
// thread's (and the scheduler hooks') to write, atomically so that a
// concurrent post() never tears them.
#pragma once

#include "rt/types.h"

namespace mk::irq {

struct alignas(64) PiDesc {
  u64 pir[4];
  u64 control;  // bit 0 ON, bit 1 SN, 23:16 NV, 63:32 NDST
  u64 rsvd[3];
};
static_assert(sizeof(PiDesc) == 64, "SDM 29.6: 64 bytes");

class PostedIntr {
 public:
  static constexpr u64 kOn = 1ull << 0;
  static constexpr u64 kSn = 1ull << 1;
  static constexpr u32 kNvShift = 16;
  static constexpr u32 kNdstShift = 32;

  PostedIntr() = default;
  ~PostedIntr();
  PostedIntr(const PostedIntr &) = delete;
  PostedIntr &operator=(const PostedIntr &) = delete;

  // One zeroed page (mk_page_alloc) holding the descriptor at its start
  // (64-byte aligned as the SDM requires): 0 or -ENOMEM.
  int init();
  // Host-physical address of the descriptor (VMCS posted-interrupt
  // descriptor address, IRTE posted-descriptor address).
  u64 desc_pa() const { return pa_; }

  // Sets PIR[vector]. True when the sender must notify the vCPU: ON was
  // clear and SN is clear, and ON is set now. With SN set only the PIR bit
  // is set (VT-d 9.12: suppressed notifications leave ON clear); whoever
  // set SN owns checking PIR before the vCPU runs again. A vector already
  // in PIR needs no new notification (KVM: pi_test_and_set_pir).
  bool post(u8 vector);
  // ON set or any PIR bit set.
  bool pending() const;
  // PIR -> IRR of an APIC register page (IRR = eight u32 at page + 0x200,
  // 16 bytes apart): clears ON first, then exchanges each PIR word with 0
  // and ORs it into IRR, so that a post() racing with the drain either
  // lands in this drain or finds ON clear and notifies again. True when any
  // bit moved. vCPU thread, not in guest mode.
  bool drain_into(u8 *apic_page);
  // Discards PIR and ON (KVM's vmx_apicv_post_state_restore: KVM_SET_LAPIC,
  // RESET/INIT replace the IRR wholesale).
  void clear();

  void set_nv(u8 nv);
  void set_ndst(u32 ndst);
  void set_sn(bool on);
  u8 nv() const;
  u32 ndst() const;
  bool on() const;
  bool sn() const;
  bool pir_test(u8 vector) const;

  // The raw descriptor (tests; the CPU reads it by desc_pa()).
  PiDesc *desc() { return d_; }

 private:
  u64 control() const { return __atomic_load_n(&d_->control, __ATOMIC_ACQUIRE); }
  void update_control(u64 clear, u64 set);

  PiDesc *d_ = nullptr;
  u64 pa_ = 0;
};

}  // namespace mk::irq
