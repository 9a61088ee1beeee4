/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * minikvm's tracepoints as a stable interface: trace system "minikvm",
 * one event per struct below.  Each struct is the exact layout of the
 * event's record as a BPF program sees it (the ctx of
 * SEC("tracepoint/minikvm/<event>")) and as the event's tracefs "format"
 * file describes it: the 8-byte common header, then the fields in order.
 * The module checks at build time that its TRACE_EVENT definitions match
 * these structs (kmod/lib/linux/trace.c); the testbed checks the format
 * files against them (selftests/testbed/trace.sh).  Fields are only ever
 * added at the end; none is removed or moved.
 *
 * Common fields:
 *   vm    minikvm's number for the VM, 1, 2, ... in creation order since
 *         the module was loaded (never reused while it stays loaded);
 *   vcpu  the vCPU's id (KVM_CREATE_VCPU's argument); MINIKVM_TRACE_NO_VCPU
 *         where no vCPU is involved.
 *
 * Documentation/tracepoints.md describes every event and when it fires.
 */
#ifndef _UAPI_MINIKVM_TRACE_H
#define _UAPI_MINIKVM_TRACE_H

#include <linux/types.h>

#define MINIKVM_TRACE_SYSTEM "minikvm"
#define MINIKVM_TRACE_NO_VCPU 0xffffffffu

/* struct trace_entry: the common header of every record. */
struct minikvm_trace_common {
	__u16 type;
	__u8 flags;
	__u8 preempt_count;
	__s32 pid;
};

/* minikvm_entry: right before VM entry (VMLAUNCH/VMRESUME). */
struct minikvm_trace_entry {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 vcpu;
	__u64 rip;		/* guest RIP about to run */
};

/*
 * minikvm_exit: a VM exit, right after it (before it is handled).  reason
 * is the full exit-reason field (SDM 24.9.1): basic reason in bits 15:0
 * (MINIKVM_VMX_EXIT_REASONS below), bit 31 for a failed entry.
 */
struct minikvm_trace_exit {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 vcpu;
	__u32 reason;
	__u32 intr_info;	/* VM-exit interruption information */
	__u64 qual;		/* exit qualification */
	__u64 rip;		/* guest RIP at the exit */
};

/* minikvm_userspace_exit: KVM_RUN returns to userspace. */
struct minikvm_trace_userspace_exit {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 vcpu;
	__u32 exit_reason;	/* kvm_run->exit_reason, KVM_EXIT_* */
	__s32 err;		/* 0, or KVM_RUN's negative errno (-EINTR...) */
};

/* Values of minikvm_inject.type: the VMX interruption types (SDM 24.8.3)... */
#define MINIKVM_INJ_EXTINT	0	/* external interrupt */
#define MINIKVM_INJ_NMI		2
#define MINIKVM_INJ_HWEXC	3	/* hardware exception */
#define MINIKVM_INJ_SWINT	4	/* software interrupt (INT n) */
#define MINIKVM_INJ_PRIVSW	5	/* privileged software exception (INT1) */
#define MINIKVM_INJ_SWEXC	6	/* software exception (INT3, INTO) */
/* ...and one of minikvm's: the vector handed to virtual-interrupt delivery (RVI). */
#define MINIKVM_INJ_VID		8

/*
 * minikvm_inject: an event injected at VM entry (VM-entry interruption
 * information), or a new highest vector given to virtual-interrupt
 * delivery (type MINIKVM_INJ_VID).  reinjected: an event whose delivery
 * an exit interrupted (IDT-vectoring information), injected again.
 */
struct minikvm_trace_inject {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 vcpu;
	__u8 vector;
	__u8 type;
	__u8 reinjected;
	__u8 has_error;
	__u32 error_code;
};

/* minikvm_ipi: a write of the ICR (xAPIC ICR low or the x2APIC ICR MSR). */
struct minikvm_trace_ipi {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 vcpu;		/* the sender */
	__u32 icr_low;		/* vector, delivery mode, dest mode, level, trigger, shorthand */
	__u32 dest;		/* destination: ICR[63:56] in xAPIC mode, ICR[63:32] in x2APIC */
};

/*
 * minikvm_apic_accept: a local APIC accepts an interrupt (SDM 10.8.3): a
 * fixed or lowest-priority vector set in IRR (or posted to the PIR), or an
 * NMI/SMI/INIT/SIPI/ExtINT latched.  coalesced: the vector was already
 * pending in IRR, so this one merged with it.
 */
struct minikvm_trace_apic_accept {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 vcpu;
	__u32 apic_id;
	__u8 vector;
	__u8 delivery_mode;	/* 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 6 SIPI, 7 ExtINT */
	__u8 level;		/* trigger mode: 1 level, 0 edge */
	__u8 coalesced;
	__u32 origin;		/* MINIKVM_ORIGIN_*: who sent it */
};

/* Values of minikvm_apic_accept.origin: the interrupt's source. */
#define MINIKVM_ORIGIN_OTHER	0	/* none of the below */
#define MINIKVM_ORIGIN_IPI	1	/* a LAPIC's ICR (an IPI, self-IPIs included) */
#define MINIKVM_ORIGIN_MSI	2	/* an MSI: routing, KVM_SIGNAL_MSI, an irqfd */
#define MINIKVM_ORIGIN_IOAPIC	3	/* an IOAPIC redirection entry */
#define MINIKVM_ORIGIN_TIMER	4	/* the LAPIC timer (LVT timer) */
#define MINIKVM_ORIGIN_LVT	5	/* another local LVT source: LINT0/1 (the PIC's ExtINT), error... */
#define MINIKVM_ORIGIN_NMI_IOCTL 6	/* KVM_NMI */

/* minikvm_eoi: the guest ends an interrupt (EOI write, or a virtualized EOI exit). */
struct minikvm_trace_eoi {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 vcpu;
	__u8 vector;		/* the ISR vector the EOI cleared; 0 if ISR was empty */
	__u8 level;		/* it was level-triggered (TMR set): the IOAPIC is told */
	__u8 pad[2];
};

/* minikvm_pic_set_irq: an i8259 input changes (KVM_IRQ_LINE, routing, the PIT). */
struct minikvm_trace_pic_set_irq {
	struct minikvm_trace_common common;
	__u32 vm;
	__u8 chip;		/* 0 master, 1 slave */
	__u8 pin;		/* 0-7 on that chip */
	__u8 level;
	__u8 coalesced;		/* the edge was already pending in IRR */
	__u8 elcr;		/* the chip's ELCR (level-triggered pins) */
	__u8 imr;		/* the chip's IMR */
	__u8 pad[2];
};

/* minikvm_ioapic_set_irq: an IOAPIC input pin changes. */
struct minikvm_trace_ioapic_set_irq {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 pin;
	__u64 entry;		/* the pin's redirection entry (vector, mode, dest, mask...) */
	__u8 level;
	__u8 coalesced;		/* remote IRR still set, or the edge merged */
	__u8 pad[6];
};

/* minikvm_msi_set_irq: an MSI is delivered (routing, KVM_SIGNAL_MSI, irqfd). */
struct minikvm_trace_msi_set_irq {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 data;
	__u64 address;		/* address_hi << 32 | address_lo */
};

/* Bits of minikvm_set_gsi.route_kinds: what the GSI's routing entries are. */
#define MINIKVM_ROUTE_PIC_MASTER	(1u << 0)
#define MINIKVM_ROUTE_PIC_SLAVE		(1u << 1)
#define MINIKVM_ROUTE_IOAPIC		(1u << 2)
#define MINIKVM_ROUTE_MSI		(1u << 3)

/*
 * minikvm_set_gsi: a GSI is set (KVM_IRQ_LINE, an irqfd, a resample),
 * before it is delivered: the routing table's answer for it.
 */
struct minikvm_trace_set_gsi {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 gsi;
	__s32 level;
	__u32 nr_routes;	/* routing entries for this GSI (0: nothing happens) */
	__u32 route_kinds;	/* MINIKVM_ROUTE_* of those entries */
	__u32 source;		/* MINIKVM_GSI_SRC_* */
};

#define MINIKVM_GSI_SRC_IRQ_LINE	0	/* KVM_IRQ_LINE(_STATUS) */
#define MINIKVM_GSI_SRC_IRQFD		1	/* an irqfd */
#define MINIKVM_GSI_SRC_RESAMPLE	2	/* an irqfd resampler lowering the line */
#define MINIKVM_GSI_SRC_KERNEL		3	/* an in-kernel device (the PIT) */

/*
 * minikvm_irqfd_inject: an irqfd's eventfd was signalled (in its wake-up
 * callback, before the GSI is set).  inatomic: injected right there (MSI
 * routes); otherwise through a work item.
 */
struct minikvm_trace_irqfd_inject {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 gsi;
	__u8 inatomic;
	__u8 resample;		/* the irqfd has a resamplefd (level-triggered) */
	__u8 pad[2];
};

/* minikvm_irqfd_resample: a resampler saw the guest's EOI, lowers its GSI and signals. */
struct minikvm_trace_irqfd_resample {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 gsi;
};

/*
 * minikvm_pi_irte_update: an irq-bypass producer's IRTE is switched to
 * posted (posted = 1: irq_set_vcpu_affinity(irq, &{pi_desc, vector})) or
 * back to remapped (posted = 0); result is irq_set_vcpu_affinity's.
 */
struct minikvm_trace_pi_irte_update {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 vcpu;		/* MINIKVM_TRACE_NO_VCPU when posted = 0 */
	__u32 host_irq;
	__u32 gsi;
	__u8 vector;
	__u8 posted;
	__u8 pad[2];
	__s32 result;
	__u64 pi_desc;		/* physical address of the posted-interrupt descriptor */
};

/* Values of minikvm_apicv.mode. */
#define MINIKVM_APICV_OFF	0	/* no APIC virtualization (inhibited or disabled) */
#define MINIKVM_APICV_XAPIC	1	/* APIC-access page, register virtualization, VID */
#define MINIKVM_APICV_X2APIC	2	/* x2APIC virtualization, VID */
#define MINIKVM_APICV_TPR_ONLY	3	/* TPR shadow only (enable_apicv=0, flexpriority) */

/* Bits of minikvm_apicv.inhibit: why APICv is off for this vCPU. */
#define MINIKVM_APICV_INHIBIT_PARAM	(1u << 0)	/* enable_apicv=0 or no CPU support */
#define MINIKVM_APICV_INHIBIT_NO_IRQCHIP (1u << 1)	/* no in-kernel LAPIC */
#define MINIKVM_APICV_INHIBIT_DISABLED	(1u << 2)	/* the guest disabled its APIC (IA32_APIC_BASE) */
#define MINIKVM_APICV_INHIBIT_RELOCATED	(1u << 3)	/* APIC base moved from 0xfee00000 */

/* minikvm_apicv: a vCPU's APIC virtualization mode is (re)decided. */
struct minikvm_trace_apicv {
	struct minikvm_trace_common common;
	__u32 vm;
	__u32 vcpu;
	__u8 active;		/* virtual-interrupt delivery on */
	__u8 mode;		/* MINIKVM_APICV_* */
	__u8 pad[2];
	__u32 inhibit;		/* MINIKVM_APICV_INHIBIT_* */
};

/*
 * The basic VMX exit reasons (SDM appendix C), as X(number, NAME): the
 * names minikvm_exit's text format prints and the tools show.  The same
 * names as KVM's kvm_exit.
 */
#define MINIKVM_VMX_EXIT_REASONS(X) \
	X(0, EXCEPTION_NMI) \
	X(1, EXTERNAL_INTERRUPT) \
	X(2, TRIPLE_FAULT) \
	X(3, INIT_SIGNAL) \
	X(4, SIPI_SIGNAL) \
	X(7, INTERRUPT_WINDOW) \
	X(8, NMI_WINDOW) \
	X(9, TASK_SWITCH) \
	X(10, CPUID) \
	X(12, HLT) \
	X(13, INVD) \
	X(14, INVLPG) \
	X(15, RDPMC) \
	X(16, RDTSC) \
	X(18, VMCALL) \
	X(19, VMCLEAR) \
	X(20, VMLAUNCH) \
	X(21, VMPTRLD) \
	X(22, VMPTRST) \
	X(23, VMREAD) \
	X(24, VMRESUME) \
	X(25, VMWRITE) \
	X(26, VMOFF) \
	X(27, VMON) \
	X(28, CR_ACCESS) \
	X(29, DR_ACCESS) \
	X(30, IO_INSTRUCTION) \
	X(31, MSR_READ) \
	X(32, MSR_WRITE) \
	X(33, INVALID_STATE) \
	X(34, MSR_LOAD_FAIL) \
	X(36, MWAIT_INSTRUCTION) \
	X(37, MONITOR_TRAP_FLAG) \
	X(39, MONITOR_INSTRUCTION) \
	X(40, PAUSE_INSTRUCTION) \
	X(41, MCE_DURING_VMENTRY) \
	X(43, TPR_BELOW_THRESHOLD) \
	X(44, APIC_ACCESS) \
	X(45, EOI_INDUCED) \
	X(46, GDTR_IDTR) \
	X(47, LDTR_TR) \
	X(48, EPT_VIOLATION) \
	X(49, EPT_MISCONFIG) \
	X(50, INVEPT) \
	X(51, RDTSCP) \
	X(52, PREEMPTION_TIMER) \
	X(53, INVVPID) \
	X(54, WBINVD) \
	X(55, XSETBV) \
	X(56, APIC_WRITE) \
	X(57, RDRAND) \
	X(58, INVPCID) \
	X(59, VMFUNC) \
	X(60, ENCLS) \
	X(61, RDSEED) \
	X(62, PML_FULL) \
	X(63, XSAVES) \
	X(64, XRSTORS) \
	X(67, UMWAIT) \
	X(68, TPAUSE) \
	X(69, LOADIWKEY)

#endif /* _UAPI_MINIKVM_TRACE_H */
