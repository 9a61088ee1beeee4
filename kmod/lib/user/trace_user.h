// SPDX-License-Identifier: GPL-2.0
// Tracepoints of the userspace platform (trace_user.cpp, platform.h section
// "tracepoints"): each mk_trace_*() call the core makes is recorded, with
// its fields laid out as the kernel's record (the uapi struct of the event,
// uapi/minikvm/trace.h; the common header is left zero), so unit tests
// check what the module's tracepoints would carry. mk_trace_on[] starts all
// zero, as in the module before anything attaches: tests switch events on.
#pragma once

#include <minikvm/platform.h>
#include <minikvm/trace.h>

#include "user_platform.h"

namespace mk::user {

struct TraceRecord {
  mk_tp_id id;
  union {
    minikvm_trace_entry entry;
    minikvm_trace_exit exit;
    minikvm_trace_userspace_exit userspace_exit;
    minikvm_trace_inject inject;
    minikvm_trace_ipi ipi;
    minikvm_trace_apic_accept apic_accept;
    minikvm_trace_eoi eoi;
    minikvm_trace_pic_set_irq pic_set_irq;
    minikvm_trace_ioapic_set_irq ioapic_set_irq;
    minikvm_trace_msi_set_irq msi_set_irq;
    minikvm_trace_set_gsi set_gsi;
    minikvm_trace_irqfd_inject irqfd_inject;
    minikvm_trace_irqfd_resample irqfd_resample;
    minikvm_trace_pi_irte_update pi_irte_update;
    minikvm_trace_apicv apicv;
  };
};

// Everything recorded since the last trace_clear(), in call order (a copy:
// the core may record from other threads meanwhile).
HostVector<TraceRecord> trace_records();
// Only the records of one event.
HostVector<TraceRecord> trace_records(mk_tp_id id);
void trace_clear();
// mk_trace_on[] for every event / one event. A call the core makes while
// its event is off is still recorded (the core's guard is what is tested:
// the mk_trace_*() functions themselves never look at mk_trace_on).
void trace_enable_all(bool on);
void trace_enable(mk_tp_id id, bool on);
// The event's name without "minikvm_" (for test messages).
const char *trace_name(mk_tp_id id);

}  // namespace mk::user
