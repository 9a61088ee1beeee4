/* SPDX-License-Identifier: GPL-2.0 */
/*
 * minikvm-top: what its BPF programs (minikvm_top.bpf.c) and its userspace
 * (minikvm_top.c, top_format.c) share: the counters kept per VM and per
 * CPU, and where they live.
 *
 * Layout.  The BPF side counts into one BPF_ARRAY map "counters" made
 * mmap()able (BPF_F_MMAPABLE), of nr_cpus * MKT_SLOTS elements of struct
 * mkt_counters: element cpu * MKT_SLOTS + slot holds what CPU `cpu` counted
 * for the VM in `slot`.  The first event of a VM (numbered by minikvm:
 * uapi/minikvm/trace.h, "vm") gives it the next free slot; slot_vm[slot]
 * (in the programs' .bss, mmap()ed by the skeleton) says which VM a slot
 * is, 0 for a free or abandoned slot (minikvm's VM numbers start at 1).
 * Slot MKT_OVERFLOW_SLOT counts the events of VMs beyond the first
 * MKT_MAX_VMS: they are still counted, only not attributed to a VM.
 *
 * Why per-CPU elements read through mmap(): each CPU adds to its own
 * elements, so vCPUs running on different CPUs never contend for a cache
 * line, and the totals are exact (an add is atomic, see the .bpf.c).  The
 * reader needs no bpf() syscall: a syscall that reads a map runs with
 * bpf_prog_active raised on its CPU (bpf_disable_instrumentation(),
 * kernel/bpf/syscall.c), and a tracepoint firing in a hard interrupt
 * inside that window (an irqfd signalled from a host interrupt handler)
 * would have its program skipped by trace_call_bpf()
 * (kernel/trace/bpf_trace.c), silently.  Reading memory opens no window.
 *
 * Every field of struct mkt_counters is a __u64 counter, so the userspace
 * can sum and describe them as an array (top_format.c).
 */
#ifndef MINIKVM_TOP_H
#define MINIKVM_TOP_H

#include <linux/types.h>

#define MKT_MAX_VMS		64	/* VMs told apart; more go to the overflow slot */
#define MKT_OVERFLOW_SLOT	MKT_MAX_VMS
#define MKT_SLOTS		(MKT_MAX_VMS + 1)

/*
 * Basic VMX exit reasons counted one by one (SDM appendix C numbers them
 * below 80 so far); larger ones are counted together in exits_high.
 */
#define MKT_EXIT_REASONS	128
/* kvm_run->exit_reason values counted one by one (linux/kvm.h ends at 37). */
#define MKT_UEXIT_REASONS	64
/* KVM_RUN errors counted one by one, by errno (-err). */
#define MKT_ERRNOS		64
/* minikvm_inject.type values: the VMX interruption types 0-7 and MINIKVM_INJ_VID (8). */
#define MKT_INJ_TYPES		9
/* minikvm_apic_accept.origin values: MINIKVM_ORIGIN_OTHER (0) .. MINIKVM_ORIGIN_NMI_IOCTL (6). */
#define MKT_ORIGINS		7
/* minikvm_set_gsi.source values: MINIKVM_GSI_SRC_IRQ_LINE (0) .. MINIKVM_GSI_SRC_KERNEL (3). */
#define MKT_GSI_SOURCES		4
/* minikvm_apicv.mode values: MINIKVM_APICV_OFF (0) .. MINIKVM_APICV_TPR_ONLY (3). */
#define MKT_APICV_MODES		4

struct mkt_counters {
	/* minikvm_entry */
	__u64 entries;
	/* minikvm_exit: by basic reason (reason & 0xffff), and failed entries (bit 31) */
	__u64 exits[MKT_EXIT_REASONS];
	__u64 exits_high;			/* basic reason >= MKT_EXIT_REASONS */
	__u64 failed_entries;
	/* minikvm_userspace_exit: err == 0 by exit_reason, else by errno */
	__u64 uexits[MKT_UEXIT_REASONS];
	__u64 uexits_high;			/* exit_reason >= MKT_UEXIT_REASONS */
	__u64 uerrs[MKT_ERRNOS];
	__u64 uerrs_high;			/* errno >= MKT_ERRNOS, or err > 0 */
	/* minikvm_inject: by type; reinjected ones also counted apart */
	__u64 inject[MKT_INJ_TYPES];
	__u64 inject_high;			/* type >= MKT_INJ_TYPES */
	__u64 reinjected;
	/* minikvm_apic_accept: by origin, and the coalesced ones by origin */
	__u64 accepted[MKT_ORIGINS];
	__u64 accepted_high;			/* origin >= MKT_ORIGINS */
	__u64 coalesced[MKT_ORIGINS];
	__u64 coalesced_high;
	/* minikvm_eoi */
	__u64 eoi_edge;
	__u64 eoi_level;
	__u64 eoi_spurious;			/* vector 0: ISR was empty */
	/* minikvm_ipi */
	__u64 ipis;
	/* minikvm_set_gsi: by source; those with no routing entry also apart */
	__u64 gsi[MKT_GSI_SOURCES];
	__u64 gsi_high;				/* source >= MKT_GSI_SOURCES */
	__u64 gsi_unrouted;
	/* minikvm_irqfd_inject, minikvm_irqfd_resample */
	__u64 irqfd_inatomic;
	__u64 irqfd_work;
	__u64 irqfd_resample;
	/* minikvm_pic_set_irq, minikvm_ioapic_set_irq, minikvm_msi_set_irq */
	__u64 pic;
	__u64 pic_coalesced;
	__u64 ioapic;
	__u64 ioapic_coalesced;
	__u64 msi;
	/* minikvm_pi_irte_update: result 0 posted / remapped, else failed */
	__u64 irte_posted;
	__u64 irte_remapped;
	__u64 irte_failed;
	/* minikvm_apicv: decisions by mode, and how many turned VID on */
	__u64 apicv[MKT_APICV_MODES];
	__u64 apicv_high;			/* mode >= MKT_APICV_MODES */
	__u64 apicv_active;
};

#define MKT_NR_COUNTERS (sizeof(struct mkt_counters) / sizeof(__u64))

#endif /* MINIKVM_TOP_H */
