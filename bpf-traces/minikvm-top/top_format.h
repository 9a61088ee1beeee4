/* SPDX-License-Identifier: GPL-2.0 */
/*
 * minikvm-top's aggregation and output, apart from BPF so that the host
 * unit tests (top_test.c) run them on made-up counters: summing the
 * per-CPU elements per VM, naming every counter, the JSON document, the
 * rows of the live table and their order.
 */
#ifndef MINIKVM_TOP_FORMAT_H
#define MINIKVM_TOP_FORMAT_H

#include <stddef.h>
#include <stdio.h>

#include "minikvm_top.h"

/* One VM's totals over all CPUs. */
struct mkt_vm {
	__u32 vm;		/* minikvm's VM number; 0: the overflow slot (VMs beyond MKT_MAX_VMS) */
	__u32 pid;		/* tgid of its vCPU threads, 0 if no entry/exit seen */
	struct mkt_counters c;
};

/* Every VM seen, by VM number (the overflow slot last). */
struct mkt_snapshot {
	unsigned int n;
	struct mkt_vm vms[MKT_SLOTS];
	/*
	 * Runs of minikvm-top's programs the kernel skipped (the sum of their
	 * bpf_prog_info.recursion_misses): a tracepoint hit in interrupt context
	 * while a BPF program was running on that CPU (trace_call_bpf()'s
	 * bpf_prog_active guard) is counted nowhere else.  Kernel 6.1 does not
	 * count those skips for tracepoint programs (this stays 0 there).  Set
	 * by the caller after mkt_collect(), which leaves it 0.
	 */
	__u64 missed;
};

/*
 * Sums the counters the BPF programs left: percpu is the mmap()ed map,
 * ncpus * MKT_SLOTS elements, element cpu * MKT_SLOTS + slot; slot_vm and
 * slot_pid the programs' .bss arrays (MKT_MAX_VMS entries), nr_slots the
 * slots handed out so far (may exceed MKT_MAX_VMS).  Slots of the same VM
 * are merged, abandoned slots (VM 0) skipped.  vm_filter >= 0 keeps only
 * that VM (and drops the overflow slot, whose VMs are unknown).
 */
void mkt_collect(struct mkt_snapshot *out, const struct mkt_counters *percpu, unsigned int ncpus,
		 const __u32 *slot_vm, const __u32 *slot_pid, __u32 nr_slots, long long vm_filter);

/* The VM in `s` with number vm, or NULL. */
const struct mkt_vm *mkt_find(const struct mkt_snapshot *s, __u32 vm);

/* Counter i of c, seeing struct mkt_counters as __u64[MKT_NR_COUNTERS]. */
__u64 mkt_counter(const struct mkt_counters *c, size_t i);

/* Totals shown per VM: VM exits, KVM_RUN returns (exits + errors), interrupts accepted. */
__u64 mkt_exits_total(const struct mkt_counters *c);
__u64 mkt_userspace_total(const struct mkt_counters *c);
__u64 mkt_interrupts_total(const struct mkt_counters *c);

/* The names: SDM basic exit reason (MINIKVM_VMX_EXIT_REASONS), KVM_EXIT_* without prefix. NULL if unknown. */
const char *mkt_vmx_exit_name(unsigned int basic_reason);
const char *mkt_kvm_exit_name(unsigned int exit_reason);

/*
 * What counter i is: its JSON group ("exits", "interrupts"...) and key
 * within it ("" for a group that is a single number), and whether it is
 * always shown (a named key of a small fixed group) or only when non-zero
 * (exit reasons, numbers without a name, the out-of-range buckets).
 */
struct mkt_desc {
	const char *group;
	char key[32];
	int always;
};
void mkt_describe(size_t i, struct mkt_desc *d);

/* "group(key)", or "group" for a single number: a row's name in the table. */
void mkt_label(size_t i, char *buf, size_t len);

/* One row of the live table: a non-zero counter of one VM. */
struct mkt_row {
	__u32 vm;
	unsigned int counter;	/* index for mkt_counter/mkt_describe */
	__u64 total;		/* since minikvm-top started */
	__u64 delta;		/* since `prev` */
};

/*
 * The non-zero counters of every VM of cur, delta against prev (NULL:
 * delta = total), sorted by delta, then total (both descending), then VM
 * and counter index.  Returns the number of rows (0 with *rows NULL if
 * none); *rows is malloc()ed, the caller frees it; -1 if out of memory.
 */
long mkt_rows(const struct mkt_snapshot *prev, const struct mkt_snapshot *cur,
	      struct mkt_row **rows);

/*
 * The JSON document of `s` (README.md, "JSON"): one object, one line,
 * newline-terminated.  duration_s: how long the counting ran.
 */
void mkt_print_json(FILE *f, const struct mkt_snapshot *s, double duration_s);

/*
 * The table: one summary line per VM (exits, KVM_RUN returns, interrupts:
 * rate and total, busiest VM first), then the busiest max_rows events.
 * Rates are deltas against prev over interval_s; with prev NULL, totals
 * over interval_s (the --once report).
 */
void mkt_print_table(FILE *f, const struct mkt_snapshot *prev, const struct mkt_snapshot *cur,
		     double interval_s, unsigned int max_rows);

#endif /* MINIKVM_TOP_FORMAT_H */
