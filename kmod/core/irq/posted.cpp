// SPDX-License-Identifier: GPL-2.0
// The posted-interrupt descriptor (posted.h; SDM vol. 3C 29.6).
#include "posted.h"

#include <minikvm/platform.h>

#include "rt/errno.h"

namespace mk::irq {

PostedIntr::~PostedIntr() {
  if (d_)
    mk_page_free(d_);
}

int PostedIntr::init() {
  unsigned long long pa;
  void *page = mk_page_alloc(&pa);
  if (!page)
    return -ENOMEM;
  d_ = static_cast<PiDesc *>(page);  // zeroed: PIR empty, ON/SN clear
  pa_ = pa;
  return 0;
}

// KVM's order (vmx_deliver_posted_interrupt): PIR first, then ON. The
// drainer clears ON before it reads PIR, so every bit is either drained or
// followed by a set of ON that notifies.
bool PostedIntr::post(u8 vector) {
  u64 bit = 1ull << (vector & 63);
  u64 old = __atomic_fetch_or(&d_->pir[vector >> 6], bit, __ATOMIC_SEQ_CST);
  if (old & bit)
    return false;  // already requested: its notification is (or was) under way
  u64 c = __atomic_load_n(&d_->control, __ATOMIC_SEQ_CST);
  for (;;) {
    if (c & (kOn | kSn))
      return false;  // notified already / notifications suppressed
    if (__atomic_compare_exchange_n(&d_->control, &c, c | kOn, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
      return true;
  }
}

bool PostedIntr::pending() const {
  if (control() & kOn)
    return true;
  for (int i = 0; i < 4; i++)
    if (__atomic_load_n(&d_->pir[i], __ATOMIC_ACQUIRE))
      return true;
  return false;
}

bool PostedIntr::drain_into(u8 *apic_page) {
  update_control(kOn, 0);
  bool moved = false;
  for (int i = 0; i < 4; i++) {
    if (!__atomic_load_n(&d_->pir[i], __ATOMIC_RELAXED))
      continue;
    u64 bits = __atomic_exchange_n(&d_->pir[i], 0ull, __ATOMIC_SEQ_CST);
    for (int half = 0; half < 2; half++) {
      u32 w = static_cast<u32>(bits >> (32 * half));
      if (!w)
        continue;
      u8 *irr = apic_page + 0x200 + (i * 2 + half) * 0x10;
      u32 v;
      __builtin_memcpy(&v, irr, 4);
      if ((v | w) != v)
        moved = true;
      v |= w;
      __builtin_memcpy(irr, &v, 4);
    }
  }
  return moved;
}

void PostedIntr::clear() {
  update_control(kOn, 0);
  for (int i = 0; i < 4; i++)
    __atomic_store_n(&d_->pir[i], 0ull, __ATOMIC_SEQ_CST);
}

void PostedIntr::update_control(u64 clear, u64 set) {
  u64 c = __atomic_load_n(&d_->control, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(&d_->control, &c, (c & ~clear) | set, false, __ATOMIC_SEQ_CST,
                                      __ATOMIC_RELAXED)) {
  }
}

void PostedIntr::set_nv(u8 nv) { update_control(0xffull << kNvShift, static_cast<u64>(nv) << kNvShift); }
void PostedIntr::set_ndst(u32 ndst) {
  update_control(0xffffffffull << kNdstShift, static_cast<u64>(ndst) << kNdstShift);
}
void PostedIntr::set_sn(bool on) { update_control(on ? 0 : kSn, on ? kSn : 0); }
u8 PostedIntr::nv() const { return static_cast<u8>(control() >> kNvShift); }
u32 PostedIntr::ndst() const { return static_cast<u32>(control() >> kNdstShift); }
bool PostedIntr::on() const { return control() & kOn; }
bool PostedIntr::sn() const { return control() & kSn; }
bool PostedIntr::pir_test(u8 vector) const {
  return (__atomic_load_n(&d_->pir[vector >> 6], __ATOMIC_ACQUIRE) >> (vector & 63)) & 1;
}

}  // namespace mk::irq
