/* SPDX-License-Identifier: GPL-2.0 */
/*
 * minikvm's tracepoints: trace system "minikvm", one event per struct of
 * uapi/minikvm/trace.h, the fields in the same order and of the same types
 * (kmod/lib/linux/trace.c checks the offsets at build time). The pad fields
 * of the uapi structs are not declared: the compiler's alignment puts the
 * next field where the uapi struct has it.
 *
 * Every event is a TRACE_EVENT_FN: the kernel calls its reg function when
 * the first probe of any kind attaches to the tracepoint (ftrace, perf, a
 * BPF program; kernel/tracepoint.c tracepoint_add_func(), under
 * tracepoints_mutex) and its unreg function when the last one goes
 * (tracepoint_remove_func()). They set and clear mk_trace_on[MK_TP_*], the
 * byte the C++ core tests before gathering an event's arguments, so a
 * disabled event costs the core one load and a branch.
 *
 * No %s of a pointer: names come from __print_symbolic/__print_flags
 * (tables in the event's print format, which user tools also parse).
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM minikvm

#if !defined(_MINIKVM_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _MINIKVM_TRACE_H

#include <linux/tracepoint.h>
#include <linux/kvm.h>		/* KVM_EXIT_* */
#include <minikvm/trace.h>	/* uapi: exit-reason names, MINIKVM_* values */

/* Registration callbacks (trace.c), one pair per event. */
#define MK_TRACE_REG_DECL(ev) \
	int mk_trace_reg_##ev(void); \
	void mk_trace_unreg_##ev(void);
#ifndef MK_TRACE_REG_DECLARED
#define MK_TRACE_REG_DECLARED
MK_TRACE_REG_DECL(entry)
MK_TRACE_REG_DECL(exit)
MK_TRACE_REG_DECL(userspace_exit)
MK_TRACE_REG_DECL(inject)
MK_TRACE_REG_DECL(ipi)
MK_TRACE_REG_DECL(apic_accept)
MK_TRACE_REG_DECL(eoi)
MK_TRACE_REG_DECL(pic_set_irq)
MK_TRACE_REG_DECL(ioapic_set_irq)
MK_TRACE_REG_DECL(msi_set_irq)
MK_TRACE_REG_DECL(set_gsi)
MK_TRACE_REG_DECL(irqfd_inject)
MK_TRACE_REG_DECL(irqfd_resample)
MK_TRACE_REG_DECL(pi_irte_update)
MK_TRACE_REG_DECL(apicv)
#endif

/*
 * __print_symbolic's table for the basic exit reason: the uapi's X-macro
 * list, each entry followed by a comma, closed by minikvm's one reason of
 * its own: 0xffff for a VMLAUNCH/VMRESUME that failed as an instruction
 * (VMfailValid, SDM 30.4: no exit reason exists; the core reports it as
 * 0x8000ffff with the VM-instruction error as qual, vmx_vcpu.cpp trace_exit).
 */
#define MK_EXIT_SYM(nr, name) { nr, #name },
#define MK_EXIT_REASON_SYMBOLS \
	MINIKVM_VMX_EXIT_REASONS(MK_EXIT_SYM) { 0xffff, "VMFAIL" }

/* kvm_run->exit_reason (linux/kvm.h KVM_EXIT_*): those an x86 VMM sees. */
#define MK_KVM_EXIT_SYMBOLS \
	{ KVM_EXIT_UNKNOWN, "UNKNOWN" }, { KVM_EXIT_EXCEPTION, "EXCEPTION" }, \
	{ KVM_EXIT_IO, "IO" }, { KVM_EXIT_HYPERCALL, "HYPERCALL" }, \
	{ KVM_EXIT_DEBUG, "DEBUG" }, { KVM_EXIT_HLT, "HLT" }, { KVM_EXIT_MMIO, "MMIO" }, \
	{ KVM_EXIT_IRQ_WINDOW_OPEN, "IRQ_WINDOW_OPEN" }, { KVM_EXIT_SHUTDOWN, "SHUTDOWN" }, \
	{ KVM_EXIT_FAIL_ENTRY, "FAIL_ENTRY" }, { KVM_EXIT_INTR, "INTR" }, \
	{ KVM_EXIT_SET_TPR, "SET_TPR" }, { KVM_EXIT_TPR_ACCESS, "TPR_ACCESS" }, \
	{ KVM_EXIT_NMI, "NMI" }, { KVM_EXIT_INTERNAL_ERROR, "INTERNAL_ERROR" }, \
	{ KVM_EXIT_SYSTEM_EVENT, "SYSTEM_EVENT" }, { KVM_EXIT_IOAPIC_EOI, "IOAPIC_EOI" }, \
	{ KVM_EXIT_HYPERV, "HYPERV" }, { KVM_EXIT_X86_RDMSR, "X86_RDMSR" }, \
	{ KVM_EXIT_X86_WRMSR, "X86_WRMSR" }, { KVM_EXIT_DIRTY_RING_FULL, "DIRTY_RING_FULL" }, \
	{ KVM_EXIT_AP_RESET_HOLD, "AP_RESET_HOLD" }, { KVM_EXIT_X86_BUS_LOCK, "X86_BUS_LOCK" }, \
	{ KVM_EXIT_XEN, "XEN" }, { KVM_EXIT_NOTIFY, "NOTIFY" }

#define MK_INJ_TYPE_SYMBOLS \
	{ MINIKVM_INJ_EXTINT, "EXTINT" }, { 1, "RESERVED" }, \
	{ MINIKVM_INJ_NMI, "NMI" }, { MINIKVM_INJ_HWEXC, "HWEXC" }, \
	{ MINIKVM_INJ_SWINT, "SWINT" }, { MINIKVM_INJ_PRIVSW, "PRIVSW" }, \
	{ MINIKVM_INJ_SWEXC, "SWEXC" }, { MINIKVM_INJ_VID, "VID" }

/* Delivery modes (SDM 10.6.1 ICR bits 10:8), as KVM's kvm_deliver_mode. */
#define MK_DELIVERY_SYMBOLS \
	{ 0, "Fixed" }, { 1, "LowPrio" }, { 2, "SMI" }, { 3, "Res3" }, \
	{ 4, "NMI" }, { 5, "INIT" }, { 6, "SIPI" }, { 7, "ExtINT" }

#define MK_ORIGIN_SYMBOLS \
	{ MINIKVM_ORIGIN_OTHER, "other" }, { MINIKVM_ORIGIN_IPI, "ipi" }, \
	{ MINIKVM_ORIGIN_MSI, "msi" }, { MINIKVM_ORIGIN_IOAPIC, "ioapic" }, \
	{ MINIKVM_ORIGIN_TIMER, "timer" }, { MINIKVM_ORIGIN_LVT, "lvt" }, \
	{ MINIKVM_ORIGIN_NMI_IOCTL, "nmi_ioctl" }

#define MK_SHORTHAND_SYMBOLS \
	{ 0, "none" }, { 1, "self" }, { 2, "all" }, { 3, "others" }

#define MK_GSI_SRC_SYMBOLS \
	{ MINIKVM_GSI_SRC_IRQ_LINE, "irq_line" }, { MINIKVM_GSI_SRC_IRQFD, "irqfd" }, \
	{ MINIKVM_GSI_SRC_RESAMPLE, "resample" }, { MINIKVM_GSI_SRC_KERNEL, "kernel" }

#define MK_ROUTE_FLAGS \
	{ MINIKVM_ROUTE_PIC_MASTER, "pic_master" }, { MINIKVM_ROUTE_PIC_SLAVE, "pic_slave" }, \
	{ MINIKVM_ROUTE_IOAPIC, "ioapic" }, { MINIKVM_ROUTE_MSI, "msi" }

#define MK_APICV_MODE_SYMBOLS \
	{ MINIKVM_APICV_OFF, "off" }, { MINIKVM_APICV_XAPIC, "xapic" }, \
	{ MINIKVM_APICV_X2APIC, "x2apic" }, { MINIKVM_APICV_TPR_ONLY, "tpr_only" }

#define MK_APICV_INHIBIT_FLAGS \
	{ MINIKVM_APICV_INHIBIT_PARAM, "param" }, \
	{ MINIKVM_APICV_INHIBIT_NO_IRQCHIP, "no_irqchip" }, \
	{ MINIKVM_APICV_INHIBIT_DISABLED, "disabled" }, \
	{ MINIKVM_APICV_INHIBIT_RELOCATED, "relocated" }

TRACE_EVENT_FN(minikvm_entry,
	TP_PROTO(unsigned int vm, unsigned int vcpu, unsigned long long rip),
	TP_ARGS(vm, vcpu, rip),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, vcpu)
		__field(u64, rip)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->vcpu = vcpu;
		__entry->rip = rip;
	),
	TP_printk("vm %u vcpu %u rip 0x%llx", __entry->vm, __entry->vcpu, __entry->rip),
	mk_trace_reg_entry, mk_trace_unreg_entry
);

TRACE_EVENT_FN(minikvm_exit,
	TP_PROTO(unsigned int vm, unsigned int vcpu, unsigned int reason,
		 unsigned int intr_info, unsigned long long qual, unsigned long long rip),
	TP_ARGS(vm, vcpu, reason, intr_info, qual, rip),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, vcpu)
		__field(u32, reason)
		__field(u32, intr_info)
		__field(u64, qual)
		__field(u64, rip)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->vcpu = vcpu;
		__entry->reason = reason;
		__entry->intr_info = intr_info;
		__entry->qual = qual;
		__entry->rip = rip;
	),
	TP_printk("vm %u vcpu %u reason %s%s rip 0x%llx qual 0x%llx intr_info 0x%08x",
		  __entry->vm, __entry->vcpu,
		  __print_symbolic(__entry->reason & 0xffff, MK_EXIT_REASON_SYMBOLS),
		  __print_flags(__entry->reason & 0x80000000u, "",
				{ 0x80000000u, " FAILED_VMENTRY" }),
		  __entry->rip, __entry->qual, __entry->intr_info),
	mk_trace_reg_exit, mk_trace_unreg_exit
);

TRACE_EVENT_FN(minikvm_userspace_exit,
	TP_PROTO(unsigned int vm, unsigned int vcpu, unsigned int exit_reason, int err),
	TP_ARGS(vm, vcpu, exit_reason, err),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, vcpu)
		__field(u32, exit_reason)
		__field(s32, err)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->vcpu = vcpu;
		__entry->exit_reason = exit_reason;
		__entry->err = err;
	),
	/* The KVM_EXIT_* names of linux/kvm.h, as KVM's kvm_userspace_exit. */
	TP_printk("vm %u vcpu %u reason %s err %d", __entry->vm, __entry->vcpu,
		  __print_symbolic(__entry->exit_reason, MK_KVM_EXIT_SYMBOLS),
		  __entry->err),
	mk_trace_reg_userspace_exit, mk_trace_unreg_userspace_exit
);

TRACE_EVENT_FN(minikvm_inject,
	TP_PROTO(unsigned int vm, unsigned int vcpu, unsigned char vector, unsigned char type,
		 unsigned char reinjected, unsigned char has_error, unsigned int error_code),
	TP_ARGS(vm, vcpu, vector, type, reinjected, has_error, error_code),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, vcpu)
		__field(u8, vector)
		__field(u8, type)
		__field(u8, reinjected)
		__field(u8, has_error)
		__field(u32, error_code)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->vcpu = vcpu;
		__entry->vector = vector;
		__entry->type = type;
		__entry->reinjected = reinjected;
		__entry->has_error = has_error;
		__entry->error_code = error_code;
	),
	TP_printk("vm %u vcpu %u vector %u type %s reinjected %u has_error %u error_code 0x%x",
		  __entry->vm, __entry->vcpu, __entry->vector,
		  __print_symbolic(__entry->type, MK_INJ_TYPE_SYMBOLS),
		  __entry->reinjected, __entry->has_error, __entry->error_code),
	mk_trace_reg_inject, mk_trace_unreg_inject
);

TRACE_EVENT_FN(minikvm_ipi,
	TP_PROTO(unsigned int vm, unsigned int vcpu, unsigned int icr_low, unsigned int dest),
	TP_ARGS(vm, vcpu, icr_low, dest),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, vcpu)
		__field(u32, icr_low)
		__field(u32, dest)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->vcpu = vcpu;
		__entry->icr_low = icr_low;
		__entry->dest = dest;
	),
	/* The ICR decoded as KVM's kvm_apic_ipi does (SDM 10.6.1). */
	TP_printk("vm %u vcpu %u icr_low 0x%08x dest 0x%x (vector %u %s %s %s %s shorthand %s)",
		  __entry->vm, __entry->vcpu, __entry->icr_low, __entry->dest,
		  __entry->icr_low & 0xff,
		  __print_symbolic((__entry->icr_low >> 8) & 7, MK_DELIVERY_SYMBOLS),
		  __print_symbolic((__entry->icr_low >> 11) & 1, { 0, "physical" }, { 1, "logical" }),
		  __print_symbolic((__entry->icr_low >> 14) & 1, { 0, "de-assert" }, { 1, "assert" }),
		  __print_symbolic((__entry->icr_low >> 15) & 1, { 0, "edge" }, { 1, "level" }),
		  __print_symbolic((__entry->icr_low >> 18) & 3, MK_SHORTHAND_SYMBOLS)),
	mk_trace_reg_ipi, mk_trace_unreg_ipi
);

TRACE_EVENT_FN(minikvm_apic_accept,
	TP_PROTO(unsigned int vm, unsigned int vcpu, unsigned int apic_id, unsigned char vector,
		 unsigned char delivery_mode, unsigned char level, unsigned char coalesced,
		 unsigned int origin),
	TP_ARGS(vm, vcpu, apic_id, vector, delivery_mode, level, coalesced, origin),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, vcpu)
		__field(u32, apic_id)
		__field(u8, vector)
		__field(u8, delivery_mode)
		__field(u8, level)
		__field(u8, coalesced)
		__field(u32, origin)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->vcpu = vcpu;
		__entry->apic_id = apic_id;
		__entry->vector = vector;
		__entry->delivery_mode = delivery_mode;
		__entry->level = level;
		__entry->coalesced = coalesced;
		__entry->origin = origin;
	),
	TP_printk("vm %u vcpu %u apic_id %u vector %u %s %s from %s%s",
		  __entry->vm, __entry->vcpu, __entry->apic_id, __entry->vector,
		  __print_symbolic(__entry->delivery_mode & 7, MK_DELIVERY_SYMBOLS),
		  __print_symbolic(__entry->level, { 0, "edge" }, { 1, "level" }),
		  __print_symbolic(__entry->origin, MK_ORIGIN_SYMBOLS),
		  __print_flags(__entry->coalesced, "", { 1, " (coalesced)" })),
	mk_trace_reg_apic_accept, mk_trace_unreg_apic_accept
);

TRACE_EVENT_FN(minikvm_eoi,
	TP_PROTO(unsigned int vm, unsigned int vcpu, unsigned char vector, unsigned char level),
	TP_ARGS(vm, vcpu, vector, level),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, vcpu)
		__field(u8, vector)
		__field(u8, level)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->vcpu = vcpu;
		__entry->vector = vector;
		__entry->level = level;
	),
	TP_printk("vm %u vcpu %u vector %u %s", __entry->vm, __entry->vcpu, __entry->vector,
		  __print_symbolic(__entry->level, { 0, "edge" }, { 1, "level" })),
	mk_trace_reg_eoi, mk_trace_unreg_eoi
);

TRACE_EVENT_FN(minikvm_pic_set_irq,
	TP_PROTO(unsigned int vm, unsigned char chip, unsigned char pin, unsigned char level,
		 unsigned char coalesced, unsigned char elcr, unsigned char imr),
	TP_ARGS(vm, chip, pin, level, coalesced, elcr, imr),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u8, chip)
		__field(u8, pin)
		__field(u8, level)
		__field(u8, coalesced)
		__field(u8, elcr)
		__field(u8, imr)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->chip = chip;
		__entry->pin = pin;
		__entry->level = level;
		__entry->coalesced = coalesced;
		__entry->elcr = elcr;
		__entry->imr = imr;
	),
	TP_printk("vm %u chip %u pin %u (irq %u) level %u elcr 0x%02x imr 0x%02x%s",
		  __entry->vm, __entry->chip, __entry->pin, __entry->chip * 8 + __entry->pin,
		  __entry->level, __entry->elcr, __entry->imr,
		  __print_flags(__entry->coalesced, "", { 1, " (coalesced)" })),
	mk_trace_reg_pic_set_irq, mk_trace_unreg_pic_set_irq
);

TRACE_EVENT_FN(minikvm_ioapic_set_irq,
	TP_PROTO(unsigned int vm, unsigned int pin, unsigned long long redir,
		 unsigned char level, unsigned char coalesced),
	TP_ARGS(vm, pin, redir, level, coalesced),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, pin)
		__field(u64, entry)
		__field(u8, level)
		__field(u8, coalesced)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->pin = pin;
		__entry->entry = redir;
		__entry->level = level;
		__entry->coalesced = coalesced;
	),
	/* The redirection entry decoded (82093AA 3.2.4), as KVM's kvm_ioapic_set_irq. */
	TP_printk("vm %u pin %u level %u entry 0x%llx (vector %llu %s dest 0x%llx %s %s%s)%s",
		  __entry->vm, __entry->pin, __entry->level, __entry->entry,
		  __entry->entry & 0xff,
		  __print_symbolic((__entry->entry >> 8) & 7, MK_DELIVERY_SYMBOLS),
		  __entry->entry >> 56,
		  __print_symbolic((__entry->entry >> 11) & 1, { 0, "physical" }, { 1, "logical" }),
		  __print_symbolic((__entry->entry >> 15) & 1, { 0, "edge" }, { 1, "level" }),
		  __print_flags((__entry->entry >> 16) & 1, "", { 1, " masked" }),
		  __print_flags(__entry->coalesced, "", { 1, " (coalesced)" })),
	mk_trace_reg_ioapic_set_irq, mk_trace_unreg_ioapic_set_irq
);

TRACE_EVENT_FN(minikvm_msi_set_irq,
	TP_PROTO(unsigned int vm, unsigned int data, unsigned long long address),
	TP_ARGS(vm, data, address),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, data)
		__field(u64, address)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->data = data;
		__entry->address = address;
	),
	/* SDM 10.11.1/10.11.2: destination in address 19:12, vector in data 7:0. */
	TP_printk("vm %u address 0x%llx data 0x%x (dest 0x%llx vector %u %s %s %s)",
		  __entry->vm, __entry->address, __entry->data,
		  (__entry->address >> 12) & 0xff, __entry->data & 0xff,
		  __print_symbolic((__entry->data >> 8) & 7, MK_DELIVERY_SYMBOLS),
		  __print_symbolic((__entry->address >> 2) & 1, { 0, "physical" }, { 1, "logical" }),
		  __print_symbolic((__entry->data >> 15) & 1, { 0, "edge" }, { 1, "level" })),
	mk_trace_reg_msi_set_irq, mk_trace_unreg_msi_set_irq
);

TRACE_EVENT_FN(minikvm_set_gsi,
	TP_PROTO(unsigned int vm, unsigned int gsi, int level, unsigned int nr_routes,
		 unsigned int route_kinds, unsigned int source),
	TP_ARGS(vm, gsi, level, nr_routes, route_kinds, source),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, gsi)
		__field(s32, level)
		__field(u32, nr_routes)
		__field(u32, route_kinds)
		__field(u32, source)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->gsi = gsi;
		__entry->level = level;
		__entry->nr_routes = nr_routes;
		__entry->route_kinds = route_kinds;
		__entry->source = source;
	),
	TP_printk("vm %u gsi %u level %d from %s routes %u (%s)",
		  __entry->vm, __entry->gsi, __entry->level,
		  __print_symbolic(__entry->source, MK_GSI_SRC_SYMBOLS),
		  __entry->nr_routes, __print_flags(__entry->route_kinds, "|", MK_ROUTE_FLAGS)),
	mk_trace_reg_set_gsi, mk_trace_unreg_set_gsi
);

TRACE_EVENT_FN(minikvm_irqfd_inject,
	TP_PROTO(unsigned int vm, unsigned int gsi, unsigned char inatomic, unsigned char resample),
	TP_ARGS(vm, gsi, inatomic, resample),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, gsi)
		__field(u8, inatomic)
		__field(u8, resample)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->gsi = gsi;
		__entry->inatomic = inatomic;
		__entry->resample = resample;
	),
	TP_printk("vm %u gsi %u %s%s", __entry->vm, __entry->gsi,
		  __print_symbolic(__entry->inatomic, { 0, "work" }, { 1, "inatomic" }),
		  __print_flags(__entry->resample, "", { 1, " resample" })),
	mk_trace_reg_irqfd_inject, mk_trace_unreg_irqfd_inject
);

TRACE_EVENT_FN(minikvm_irqfd_resample,
	TP_PROTO(unsigned int vm, unsigned int gsi),
	TP_ARGS(vm, gsi),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, gsi)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->gsi = gsi;
	),
	TP_printk("vm %u gsi %u", __entry->vm, __entry->gsi),
	mk_trace_reg_irqfd_resample, mk_trace_unreg_irqfd_resample
);

TRACE_EVENT_FN(minikvm_pi_irte_update,
	TP_PROTO(unsigned int vm, unsigned int vcpu, unsigned int host_irq, unsigned int gsi,
		 unsigned char vector, unsigned char posted, int result, unsigned long long pi_desc),
	TP_ARGS(vm, vcpu, host_irq, gsi, vector, posted, result, pi_desc),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, vcpu)
		__field(u32, host_irq)
		__field(u32, gsi)
		__field(u8, vector)
		__field(u8, posted)
		__field(s32, result)
		__field(u64, pi_desc)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->vcpu = vcpu;
		__entry->host_irq = host_irq;
		__entry->gsi = gsi;
		__entry->vector = vector;
		__entry->posted = posted;
		__entry->result = result;
		__entry->pi_desc = pi_desc;
	),
	/* vcpu printed signed: MINIKVM_TRACE_NO_VCPU shows as -1. */
	TP_printk("vm %u host_irq %u gsi %u %s vcpu %d vector %u pi_desc 0x%llx result %d",
		  __entry->vm, __entry->host_irq, __entry->gsi,
		  __print_symbolic(__entry->posted, { 0, "remapped" }, { 1, "posted" }),
		  (int)__entry->vcpu, __entry->vector, __entry->pi_desc, __entry->result),
	mk_trace_reg_pi_irte_update, mk_trace_unreg_pi_irte_update
);

TRACE_EVENT_FN(minikvm_apicv,
	TP_PROTO(unsigned int vm, unsigned int vcpu, unsigned char active, unsigned char mode,
		 unsigned int inhibit),
	TP_ARGS(vm, vcpu, active, mode, inhibit),
	TP_STRUCT__entry(
		__field(u32, vm)
		__field(u32, vcpu)
		__field(u8, active)
		__field(u8, mode)
		__field(u32, inhibit)
	),
	TP_fast_assign(
		__entry->vm = vm;
		__entry->vcpu = vcpu;
		__entry->active = active;
		__entry->mode = mode;
		__entry->inhibit = inhibit;
	),
	TP_printk("vm %u vcpu %u mode %s active %u inhibit 0x%x (%s)",
		  __entry->vm, __entry->vcpu,
		  __print_symbolic(__entry->mode, MK_APICV_MODE_SYMBOLS),
		  __entry->active, __entry->inhibit,
		  __print_flags(__entry->inhibit, "|", MK_APICV_INHIBIT_FLAGS)),
	mk_trace_reg_apicv, mk_trace_unreg_apicv
);

#endif /* _MINIKVM_TRACE_H */

/* This part must be outside the include guard (define_trace.h re-reads the file). */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE minikvm_trace
#include <trace/define_trace.h>
