// SPDX-License-Identifier: GPL-2.0
/*
 * minikvm's tracepoints (platform.h section "tracepoints"): the events of
 * minikvm_trace.h, the mk_trace_on[] switches their registration callbacks
 * keep, the mk_trace_*() functions the C++ core calls, and the build-time
 * proof that every record has the layout uapi/minikvm/trace.h promises.
 */
#include <linux/build_bug.h>
#include <linux/compiler.h>
#include <linux/stddef.h>

#include <minikvm/platform.h>

#define CREATE_TRACE_POINTS
#include "minikvm_trace.h"

/*
 * One byte per event, non-zero while any probe is attached. Written only
 * by the callbacks below, which kernel/tracepoint.c calls under
 * tracepoints_mutex (so they never race each other), read locklessly by
 * the core. A reader that sees the old value around a transition records
 * one event more or less, which an attach or detach cannot order anyway;
 * the tracepoint itself (trace_minikvm_*) is a no-op while nothing is
 * attached.
 */
unsigned char mk_trace_on[MK_TP_COUNT];

#define MK_TRACE_REG(ev, id) \
	int mk_trace_reg_##ev(void) \
	{ \
		WRITE_ONCE(mk_trace_on[id], 1); \
		return 0; \
	} \
	void mk_trace_unreg_##ev(void) \
	{ \
		WRITE_ONCE(mk_trace_on[id], 0); \
	}

MK_TRACE_REG(entry, MK_TP_ENTRY)
MK_TRACE_REG(exit, MK_TP_EXIT)
MK_TRACE_REG(userspace_exit, MK_TP_USERSPACE_EXIT)
MK_TRACE_REG(inject, MK_TP_INJECT)
MK_TRACE_REG(ipi, MK_TP_IPI)
MK_TRACE_REG(apic_accept, MK_TP_APIC_ACCEPT)
MK_TRACE_REG(eoi, MK_TP_EOI)
MK_TRACE_REG(pic_set_irq, MK_TP_PIC_SET_IRQ)
MK_TRACE_REG(ioapic_set_irq, MK_TP_IOAPIC_SET_IRQ)
MK_TRACE_REG(msi_set_irq, MK_TP_MSI_SET_IRQ)
MK_TRACE_REG(set_gsi, MK_TP_SET_GSI)
MK_TRACE_REG(irqfd_inject, MK_TP_IRQFD_INJECT)
MK_TRACE_REG(irqfd_resample, MK_TP_IRQFD_RESAMPLE)
MK_TRACE_REG(pi_irte_update, MK_TP_PI_IRTE_UPDATE)
MK_TRACE_REG(apicv, MK_TP_APICV)

/* ---- the functions the core calls (any context, never fail) ---- */

void mk_trace_entry(unsigned int vm, unsigned int vcpu, unsigned long long rip)
{
	trace_minikvm_entry(vm, vcpu, rip);
}

void mk_trace_exit(unsigned int vm, unsigned int vcpu, unsigned int reason,
		   unsigned int intr_info, unsigned long long qual, unsigned long long rip)
{
	trace_minikvm_exit(vm, vcpu, reason, intr_info, qual, rip);
}

void mk_trace_userspace_exit(unsigned int vm, unsigned int vcpu, unsigned int exit_reason, int err)
{
	trace_minikvm_userspace_exit(vm, vcpu, exit_reason, err);
}

void mk_trace_inject(unsigned int vm, unsigned int vcpu, unsigned char vector, unsigned char type,
		     unsigned char reinjected, unsigned char has_error, unsigned int error_code)
{
	trace_minikvm_inject(vm, vcpu, vector, type, reinjected, has_error, error_code);
}

void mk_trace_ipi(unsigned int vm, unsigned int vcpu, unsigned int icr_low, unsigned int dest)
{
	trace_minikvm_ipi(vm, vcpu, icr_low, dest);
}

void mk_trace_apic_accept(unsigned int vm, unsigned int vcpu, unsigned int apic_id,
			  unsigned char vector, unsigned char delivery_mode, unsigned char level,
			  unsigned char coalesced, unsigned int origin)
{
	trace_minikvm_apic_accept(vm, vcpu, apic_id, vector, delivery_mode, level, coalesced,
				  origin);
}

void mk_trace_eoi(unsigned int vm, unsigned int vcpu, unsigned char vector, unsigned char level)
{
	trace_minikvm_eoi(vm, vcpu, vector, level);
}

void mk_trace_pic_set_irq(unsigned int vm, unsigned char chip, unsigned char pin, unsigned char level,
			  unsigned char coalesced, unsigned char elcr, unsigned char imr)
{
	trace_minikvm_pic_set_irq(vm, chip, pin, level, coalesced, elcr, imr);
}

void mk_trace_ioapic_set_irq(unsigned int vm, unsigned int pin, unsigned long long entry,
			     unsigned char level, unsigned char coalesced)
{
	trace_minikvm_ioapic_set_irq(vm, pin, entry, level, coalesced);
}

void mk_trace_msi_set_irq(unsigned int vm, unsigned int data, unsigned long long address)
{
	trace_minikvm_msi_set_irq(vm, data, address);
}

void mk_trace_set_gsi(unsigned int vm, unsigned int gsi, int level, unsigned int nr_routes,
		      unsigned int route_kinds, unsigned int source)
{
	trace_minikvm_set_gsi(vm, gsi, level, nr_routes, route_kinds, source);
}

void mk_trace_irqfd_inject(unsigned int vm, unsigned int gsi, unsigned char inatomic,
			   unsigned char resample)
{
	trace_minikvm_irqfd_inject(vm, gsi, inatomic, resample);
}

void mk_trace_irqfd_resample(unsigned int vm, unsigned int gsi)
{
	trace_minikvm_irqfd_resample(vm, gsi);
}

void mk_trace_pi_irte_update(unsigned int vm, unsigned int vcpu, unsigned int host_irq,
			     unsigned int gsi, unsigned char vector, unsigned char posted, int result,
			     unsigned long long pi_desc)
{
	trace_minikvm_pi_irte_update(vm, vcpu, host_irq, gsi, vector, posted, result, pi_desc);
}

void mk_trace_apicv(unsigned int vm, unsigned int vcpu, unsigned char active, unsigned char mode,
		    unsigned int inhibit)
{
	trace_minikvm_apicv(vm, vcpu, active, mode, inhibit);
}

/*
 * ---- the uapi layout is a build-time guarantee ----
 * struct trace_event_raw_minikvm_<ev> is what TRACE_EVENT made: the
 * common header (struct trace_entry), the fields, __data[]. Each named
 * field must sit at the offset, with the size, of the same field of
 * struct minikvm_trace_<ev>; the header must be the uapi's common part.
 */
#define MK_SAME_FIELD(ev, f) \
	static_assert(offsetof(struct trace_event_raw_minikvm_##ev, f) == \
		      offsetof(struct minikvm_trace_##ev, f) && \
		      sizeof(((struct trace_event_raw_minikvm_##ev *)0)->f) == \
		      sizeof(((struct minikvm_trace_##ev *)0)->f), \
		      "minikvm_" #ev "." #f " differs from uapi/minikvm/trace.h")

static_assert(sizeof(struct trace_entry) == sizeof(struct minikvm_trace_common));
static_assert(offsetof(struct trace_entry, type) == offsetof(struct minikvm_trace_common, type));
static_assert(offsetof(struct trace_entry, flags) == offsetof(struct minikvm_trace_common, flags));
static_assert(offsetof(struct trace_entry, preempt_count) ==
	      offsetof(struct minikvm_trace_common, preempt_count));
static_assert(offsetof(struct trace_entry, pid) == offsetof(struct minikvm_trace_common, pid));
/* The uapi structs name the header "common", TRACE_EVENT names it "ent". */
#define MK_SAME_HEADER(ev) \
	static_assert(offsetof(struct trace_event_raw_minikvm_##ev, ent) == \
		      offsetof(struct minikvm_trace_##ev, common))

MK_SAME_HEADER(entry);
MK_SAME_FIELD(entry, vm);
MK_SAME_FIELD(entry, vcpu);
MK_SAME_FIELD(entry, rip);

MK_SAME_HEADER(exit);
MK_SAME_FIELD(exit, vm);
MK_SAME_FIELD(exit, vcpu);
MK_SAME_FIELD(exit, reason);
MK_SAME_FIELD(exit, intr_info);
MK_SAME_FIELD(exit, qual);
MK_SAME_FIELD(exit, rip);

MK_SAME_HEADER(userspace_exit);
MK_SAME_FIELD(userspace_exit, vm);
MK_SAME_FIELD(userspace_exit, vcpu);
MK_SAME_FIELD(userspace_exit, exit_reason);
MK_SAME_FIELD(userspace_exit, err);

MK_SAME_HEADER(inject);
MK_SAME_FIELD(inject, vm);
MK_SAME_FIELD(inject, vcpu);
MK_SAME_FIELD(inject, vector);
MK_SAME_FIELD(inject, type);
MK_SAME_FIELD(inject, reinjected);
MK_SAME_FIELD(inject, has_error);
MK_SAME_FIELD(inject, error_code);

MK_SAME_HEADER(ipi);
MK_SAME_FIELD(ipi, vm);
MK_SAME_FIELD(ipi, vcpu);
MK_SAME_FIELD(ipi, icr_low);
MK_SAME_FIELD(ipi, dest);

MK_SAME_HEADER(apic_accept);
MK_SAME_FIELD(apic_accept, vm);
MK_SAME_FIELD(apic_accept, vcpu);
MK_SAME_FIELD(apic_accept, apic_id);
MK_SAME_FIELD(apic_accept, vector);
MK_SAME_FIELD(apic_accept, delivery_mode);
MK_SAME_FIELD(apic_accept, level);
MK_SAME_FIELD(apic_accept, coalesced);
MK_SAME_FIELD(apic_accept, origin);

MK_SAME_HEADER(eoi);
MK_SAME_FIELD(eoi, vm);
MK_SAME_FIELD(eoi, vcpu);
MK_SAME_FIELD(eoi, vector);
MK_SAME_FIELD(eoi, level);

MK_SAME_HEADER(pic_set_irq);
MK_SAME_FIELD(pic_set_irq, vm);
MK_SAME_FIELD(pic_set_irq, chip);
MK_SAME_FIELD(pic_set_irq, pin);
MK_SAME_FIELD(pic_set_irq, level);
MK_SAME_FIELD(pic_set_irq, coalesced);
MK_SAME_FIELD(pic_set_irq, elcr);
MK_SAME_FIELD(pic_set_irq, imr);

MK_SAME_HEADER(ioapic_set_irq);
MK_SAME_FIELD(ioapic_set_irq, vm);
MK_SAME_FIELD(ioapic_set_irq, pin);
MK_SAME_FIELD(ioapic_set_irq, entry);
MK_SAME_FIELD(ioapic_set_irq, level);
MK_SAME_FIELD(ioapic_set_irq, coalesced);

MK_SAME_HEADER(msi_set_irq);
MK_SAME_FIELD(msi_set_irq, vm);
MK_SAME_FIELD(msi_set_irq, data);
MK_SAME_FIELD(msi_set_irq, address);

MK_SAME_HEADER(set_gsi);
MK_SAME_FIELD(set_gsi, vm);
MK_SAME_FIELD(set_gsi, gsi);
MK_SAME_FIELD(set_gsi, level);
MK_SAME_FIELD(set_gsi, nr_routes);
MK_SAME_FIELD(set_gsi, route_kinds);
MK_SAME_FIELD(set_gsi, source);

MK_SAME_HEADER(irqfd_inject);
MK_SAME_FIELD(irqfd_inject, vm);
MK_SAME_FIELD(irqfd_inject, gsi);
MK_SAME_FIELD(irqfd_inject, inatomic);
MK_SAME_FIELD(irqfd_inject, resample);

MK_SAME_HEADER(irqfd_resample);
MK_SAME_FIELD(irqfd_resample, vm);
MK_SAME_FIELD(irqfd_resample, gsi);

MK_SAME_HEADER(pi_irte_update);
MK_SAME_FIELD(pi_irte_update, vm);
MK_SAME_FIELD(pi_irte_update, vcpu);
MK_SAME_FIELD(pi_irte_update, host_irq);
MK_SAME_FIELD(pi_irte_update, gsi);
MK_SAME_FIELD(pi_irte_update, vector);
MK_SAME_FIELD(pi_irte_update, posted);
MK_SAME_FIELD(pi_irte_update, result);
MK_SAME_FIELD(pi_irte_update, pi_desc);

MK_SAME_HEADER(apicv);
MK_SAME_FIELD(apicv, vm);
MK_SAME_FIELD(apicv, vcpu);
MK_SAME_FIELD(apicv, active);
MK_SAME_FIELD(apicv, mode);
MK_SAME_FIELD(apicv, inhibit);
