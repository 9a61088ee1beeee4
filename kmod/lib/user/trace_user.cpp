// SPDX-License-Identifier: GPL-2.0
// Tracepoints of the userspace platform (see trace_user.h).
#include "trace_user.h"

#include <cstring>
#include <mutex>

unsigned char mk_trace_on[MK_TP_COUNT];

namespace mk::user {
namespace {

struct TraceLog {
  std::mutex lock;
  HostVector<TraceRecord> records;
};

TraceLog &log() {
  static TraceLog l;
  return l;
}

// A zeroed record of event id: the caller fills the uapi struct's fields.
template <class Fill> void record(mk_tp_id id, Fill fill) {
  TraceRecord r;
  std::memset(&r, 0, sizeof(r));
  r.id = id;
  fill(r);
  std::lock_guard<std::mutex> g(log().lock);
  log().records.push_back(r);
}

constexpr const char *kNames[MK_TP_COUNT] = {
    "entry", "exit", "userspace_exit", "inject", "ipi", "apic_accept", "eoi", "pic_set_irq",
    "ioapic_set_irq", "msi_set_irq", "set_gsi", "irqfd_inject", "irqfd_resample", "pi_irte_update",
    "apicv",
};

}  // namespace

HostVector<TraceRecord> trace_records() {
  std::lock_guard<std::mutex> g(log().lock);
  return log().records;
}

HostVector<TraceRecord> trace_records(mk_tp_id id) {
  HostVector<TraceRecord> out;
  std::lock_guard<std::mutex> g(log().lock);
  for (const TraceRecord &r : log().records)
    if (r.id == id)
      out.push_back(r);
  return out;
}

void trace_clear() {
  std::lock_guard<std::mutex> g(log().lock);
  log().records.clear();
}

void trace_enable_all(bool on) {
  for (unsigned i = 0; i < MK_TP_COUNT; i++)
    __atomic_store_n(&mk_trace_on[i], on ? 1 : 0, __ATOMIC_RELAXED);
}

void trace_enable(mk_tp_id id, bool on) { __atomic_store_n(&mk_trace_on[id], on ? 1 : 0, __ATOMIC_RELAXED); }

const char *trace_name(mk_tp_id id) { return id < MK_TP_COUNT ? kNames[id] : "?"; }

}  // namespace mk::user

using mk::user::TraceRecord;

extern "C" {

void mk_trace_entry(unsigned int vm, unsigned int vcpu, unsigned long long rip) {
  mk::user::record(MK_TP_ENTRY, [&](TraceRecord &r) {
    r.entry.vm = vm;
    r.entry.vcpu = vcpu;
    r.entry.rip = rip;
  });
}

void mk_trace_exit(unsigned int vm, unsigned int vcpu, unsigned int reason, unsigned int intr_info,
                   unsigned long long qual, unsigned long long rip) {
  mk::user::record(MK_TP_EXIT, [&](TraceRecord &r) {
    r.exit.vm = vm;
    r.exit.vcpu = vcpu;
    r.exit.reason = reason;
    r.exit.intr_info = intr_info;
    r.exit.qual = qual;
    r.exit.rip = rip;
  });
}

void mk_trace_userspace_exit(unsigned int vm, unsigned int vcpu, unsigned int exit_reason, int err) {
  mk::user::record(MK_TP_USERSPACE_EXIT, [&](TraceRecord &r) {
    r.userspace_exit.vm = vm;
    r.userspace_exit.vcpu = vcpu;
    r.userspace_exit.exit_reason = exit_reason;
    r.userspace_exit.err = err;
  });
}

void mk_trace_inject(unsigned int vm, unsigned int vcpu, unsigned char vector, unsigned char type,
                     unsigned char reinjected, unsigned char has_error, unsigned int error_code) {
  mk::user::record(MK_TP_INJECT, [&](TraceRecord &r) {
    r.inject.vm = vm;
    r.inject.vcpu = vcpu;
    r.inject.vector = vector;
    r.inject.type = type;
    r.inject.reinjected = reinjected;
    r.inject.has_error = has_error;
    r.inject.error_code = error_code;
  });
}

void mk_trace_ipi(unsigned int vm, unsigned int vcpu, unsigned int icr_low, unsigned int dest) {
  mk::user::record(MK_TP_IPI, [&](TraceRecord &r) {
    r.ipi.vm = vm;
    r.ipi.vcpu = vcpu;
    r.ipi.icr_low = icr_low;
    r.ipi.dest = dest;
  });
}

void mk_trace_apic_accept(unsigned int vm, unsigned int vcpu, unsigned int apic_id, unsigned char vector,
                          unsigned char delivery_mode, unsigned char level, unsigned char coalesced,
                          unsigned int origin) {
  mk::user::record(MK_TP_APIC_ACCEPT, [&](TraceRecord &r) {
    r.apic_accept.vm = vm;
    r.apic_accept.vcpu = vcpu;
    r.apic_accept.apic_id = apic_id;
    r.apic_accept.vector = vector;
    r.apic_accept.delivery_mode = delivery_mode;
    r.apic_accept.level = level;
    r.apic_accept.coalesced = coalesced;
    r.apic_accept.origin = origin;
  });
}

void mk_trace_eoi(unsigned int vm, unsigned int vcpu, unsigned char vector, unsigned char level) {
  mk::user::record(MK_TP_EOI, [&](TraceRecord &r) {
    r.eoi.vm = vm;
    r.eoi.vcpu = vcpu;
    r.eoi.vector = vector;
    r.eoi.level = level;
  });
}

void mk_trace_pic_set_irq(unsigned int vm, unsigned char chip, unsigned char pin, unsigned char level,
                          unsigned char coalesced, unsigned char elcr, unsigned char imr) {
  mk::user::record(MK_TP_PIC_SET_IRQ, [&](TraceRecord &r) {
    r.pic_set_irq.vm = vm;
    r.pic_set_irq.chip = chip;
    r.pic_set_irq.pin = pin;
    r.pic_set_irq.level = level;
    r.pic_set_irq.coalesced = coalesced;
    r.pic_set_irq.elcr = elcr;
    r.pic_set_irq.imr = imr;
  });
}

void mk_trace_ioapic_set_irq(unsigned int vm, unsigned int pin, unsigned long long entry, unsigned char level,
                             unsigned char coalesced) {
  mk::user::record(MK_TP_IOAPIC_SET_IRQ, [&](TraceRecord &r) {
    r.ioapic_set_irq.vm = vm;
    r.ioapic_set_irq.pin = pin;
    r.ioapic_set_irq.entry = entry;
    r.ioapic_set_irq.level = level;
    r.ioapic_set_irq.coalesced = coalesced;
  });
}

void mk_trace_msi_set_irq(unsigned int vm, unsigned int data, unsigned long long address) {
  mk::user::record(MK_TP_MSI_SET_IRQ, [&](TraceRecord &r) {
    r.msi_set_irq.vm = vm;
    r.msi_set_irq.data = data;
    r.msi_set_irq.address = address;
  });
}

void mk_trace_set_gsi(unsigned int vm, unsigned int gsi, int level, unsigned int nr_routes,
                      unsigned int route_kinds, unsigned int source) {
  mk::user::record(MK_TP_SET_GSI, [&](TraceRecord &r) {
    r.set_gsi.vm = vm;
    r.set_gsi.gsi = gsi;
    r.set_gsi.level = level;
    r.set_gsi.nr_routes = nr_routes;
    r.set_gsi.route_kinds = route_kinds;
    r.set_gsi.source = source;
  });
}

void mk_trace_irqfd_inject(unsigned int vm, unsigned int gsi, unsigned char inatomic, unsigned char resample) {
  mk::user::record(MK_TP_IRQFD_INJECT, [&](TraceRecord &r) {
    r.irqfd_inject.vm = vm;
    r.irqfd_inject.gsi = gsi;
    r.irqfd_inject.inatomic = inatomic;
    r.irqfd_inject.resample = resample;
  });
}

void mk_trace_irqfd_resample(unsigned int vm, unsigned int gsi) {
  mk::user::record(MK_TP_IRQFD_RESAMPLE, [&](TraceRecord &r) {
    r.irqfd_resample.vm = vm;
    r.irqfd_resample.gsi = gsi;
  });
}

void mk_trace_pi_irte_update(unsigned int vm, unsigned int vcpu, unsigned int host_irq, unsigned int gsi,
                             unsigned char vector, unsigned char posted, int result, unsigned long long pi_desc) {
  mk::user::record(MK_TP_PI_IRTE_UPDATE, [&](TraceRecord &r) {
    r.pi_irte_update.vm = vm;
    r.pi_irte_update.vcpu = vcpu;
    r.pi_irte_update.host_irq = host_irq;
    r.pi_irte_update.gsi = gsi;
    r.pi_irte_update.vector = vector;
    r.pi_irte_update.posted = posted;
    r.pi_irte_update.result = result;
    r.pi_irte_update.pi_desc = pi_desc;
  });
}

void mk_trace_apicv(unsigned int vm, unsigned int vcpu, unsigned char active, unsigned char mode,
                    unsigned int inhibit) {
  mk::user::record(MK_TP_APICV, [&](TraceRecord &r) {
    r.apicv.vm = vm;
    r.apicv.vcpu = vcpu;
    r.apicv.active = active;
    r.apicv.mode = mode;
    r.apicv.inhibit = inhibit;
  });
}

}  // extern "C"
