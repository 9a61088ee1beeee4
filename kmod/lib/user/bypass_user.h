// SPDX-License-Identifier: GPL-2.0
// Test controls of the userspace platform's "irq bypass" section
// (bypass_user.cpp): the consumers registered (by token), a test playing
// the producer (VFIO), and a log of irq_set_vcpu_affinity() calls with
// failure injection. Only host unit tests include this.
#pragma once

#include "user_platform.h"

namespace mk::user::bypass {

// One mk_irq_set_vcpu_affinity() call, in order.
struct AffinityCall {
  unsigned int irq;
  bool posted;  // false: irq_set_vcpu_affinity(irq, NULL)
  unsigned long long pi_desc_pa;
  unsigned int vector;
};
HostVector<AffinityCall> &calls();
// The next posted (posted = true) or remapped calls return err (0: succeed).
void fail_posted(int err);
void fail_remapped(int err);
// mk_bypass_consumer_new() fails with err (logged once, NULL returned).
void fail_register(int err);

// Like irq_bypass_register_producer / _unregister_producer: connects to the
// consumer with that token (mk_core_bypass_add_producer), if any, now or
// when it registers; unregistering disconnects (mk_core_bypass_del_producer).
// Returns 0, or -EBUSY for a second producer with the same token.
int register_producer(void *token, unsigned int irq);
void unregister_producer(void *token);
// Consumers registered now.
long consumers();
// The test knob irte_posting_test.
void set_posting_test(bool on);
// Forgets calls, failures, producers, the knob (consumers must be gone).
void reset();

}  // namespace mk::user::bypass
