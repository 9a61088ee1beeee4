// SPDX-License-Identifier: GPL-2.0
/*
 * minikvm-top's BPF programs: one per minikvm tracepoint (classic
 * tracepoints: the ctx is the event's record, laid out as the structs of
 * uapi/minikvm/trace.h), each adding 1 to a counter of the event's VM on
 * the current CPU (minikvm_top.h describes the layout and why).
 *
 * Nothing is sampled or streamed: every event the kernel hands to these
 * programs is counted.  The one way the kernel itself skips them is
 * trace_call_bpf()'s bpf_prog_active check (kernel/trace/bpf_trace.c): a
 * tracepoint that fires in a hard interrupt while another BPF tracing
 * program (or a bpf() map syscall) is running on the same CPU does not run
 * its programs, and 6.1 counts that nowhere.  These programs are a few
 * dozen instructions; the README states the limit.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include <minikvm/trace.h>
#include "minikvm_top.h"

char LICENSE[] SEC("license") = "GPL";

/* vm -> slot, for the VMs seen so far (minikvm_top.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MKT_MAX_VMS);
	__type(key, __u32);
	__type(value, __u32);
} vm_slot SEC(".maps");

/* [cpu][slot] counters; max_entries is set to nr_cpus * MKT_SLOTS before load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, MKT_SLOTS);
	__type(key, __u32);
	__type(value, struct mkt_counters);
} counters SEC(".maps");

/* Read by the userspace through the skeleton's mmap of .bss. */
__u32 nr_slots;			/* slots handed out (may exceed MKT_MAX_VMS by up to nr_cpus) */
__u32 slot_vm[MKT_MAX_VMS];	/* the VM in each slot, 0 if none */
__u32 slot_pid[MKT_MAX_VMS];	/* tgid of the VM's vCPU threads, last seen */

/*
 * The slot of VM `vm`, allocating one on its first event.  Two CPUs may
 * see a new VM at once: both take a slot, one wins the BPF_NOEXIST insert,
 * the other gives its slot back as abandoned (slot_vm 0) and uses the
 * winner's.  The userspace also merges slots by VM, so a reader that sees
 * the loser's slot before it is abandoned counts nothing twice (it holds
 * no counts).
 */
static __always_inline __u32 slot_of(__u32 vm)
{
	__u32 *found = bpf_map_lookup_elem(&vm_slot, &vm);
	__u32 slot, value;

	if (found)
		return *found;
	/*
	 * Once the slots are gone, every event of a further VM gets here:
	 * read first, so that nr_slots stops growing (a fetch-add per event
	 * would wrap it around after 2^32 events and hand out taken slots).
	 */
	if (nr_slots >= MKT_MAX_VMS)
		return MKT_OVERFLOW_SLOT;
	slot = __sync_fetch_and_add(&nr_slots, 1);
	if (slot >= MKT_MAX_VMS)
		return MKT_OVERFLOW_SLOT;
	slot_vm[slot] = vm;
	value = slot;
	if (bpf_map_update_elem(&vm_slot, &vm, &value, BPF_NOEXIST) == 0)
		return slot;
	/*
	 * The compiler may reload `slot` from the stack slot the helper saw,
	 * which the verifier then knows nothing about: bound it again.
	 */
	barrier_var(slot);
	if (slot < MKT_MAX_VMS)
		slot_vm[slot] = 0;
	found = bpf_map_lookup_elem(&vm_slot, &vm);
	return found ? *found : MKT_OVERFLOW_SLOT;
}

/* This CPU's counters for the VM in `slot`. */
static __always_inline struct mkt_counters *counters_at(__u32 slot)
{
	__u32 key = bpf_get_smp_processor_id() * MKT_SLOTS + slot;

	return bpf_map_lookup_elem(&counters, &key);
}

/* This CPU's counters for VM `vm`. */
static __always_inline struct mkt_counters *counters_of(__u32 vm)
{
	return counters_at(slot_of(vm));
}

/*
 * Tracepoint programs never nest on one CPU (trace_call_bpf), and this
 * CPU's elements are written by this CPU only, so a plain add would do;
 * the atomic add (BPF_ATOMIC, lock xadd on a line this CPU owns) keeps the
 * count exact even if a future kernel let them nest, for a few cycles.
 */
#define COUNT(field) __sync_fetch_and_add(&(field), 1)

/*
 * COUNT(arr[idx]) if idx < n, else COUNT(overflow).  The barrier keeps
 * clang from computing &arr[idx] before the comparison (it did, for
 * exits[]), which the verifier rejects as an unbounded map access.
 */
#define COUNT_IN(arr, idx, n, overflow)				\
	do {							\
		__u32 i_ = (idx);				\
		if (i_ < (n)) {					\
			barrier_var(i_);			\
			if (i_ < (n))				\
				COUNT((arr)[i_]);		\
		} else {					\
			COUNT(overflow);			\
		}						\
	} while (0)

/*
 * The VM's process: entry and exit run in its vCPU threads.  Written only
 * when it changes, so that vCPUs on several CPUs only share the line.
 */
static __always_inline void note_pid(__u32 slot)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (slot < MKT_MAX_VMS && slot_pid[slot] != tgid)
		slot_pid[slot] = tgid;
}

SEC("tracepoint/minikvm/minikvm_entry")
int tp_entry(struct minikvm_trace_entry *ctx)
{
	__u32 slot = slot_of(ctx->vm);
	struct mkt_counters *c = counters_at(slot);

	if (c)
		COUNT(c->entries);
	note_pid(slot);
	return 0;
}

SEC("tracepoint/minikvm/minikvm_exit")
int tp_exit(struct minikvm_trace_exit *ctx)
{
	__u32 slot = slot_of(ctx->vm);
	struct mkt_counters *c = counters_at(slot);
	__u32 reason = ctx->reason;
	__u32 basic = reason & 0xffff;	/* SDM 24.9.1: bits 15:0 basic reason */

	if (!c)
		return 0;
	COUNT_IN(c->exits, basic, MKT_EXIT_REASONS, c->exits_high);
	if (reason & (1u << 31))	/* VM-entry failure */
		COUNT(c->failed_entries);
	note_pid(slot);
	return 0;
}

SEC("tracepoint/minikvm/minikvm_userspace_exit")
int tp_userspace_exit(struct minikvm_trace_userspace_exit *ctx)
{
	struct mkt_counters *c = counters_of(ctx->vm);
	__u32 reason = ctx->exit_reason;
	__s32 err = ctx->err;

	if (!c)
		return 0;
	if (err == 0) {
		COUNT_IN(c->uexits, reason, MKT_UEXIT_REASONS, c->uexits_high);
	} else {
		/* -err of a positive err is huge: the overflow bucket */
		COUNT_IN(c->uerrs, 0u - (__u32)err, MKT_ERRNOS, c->uerrs_high);
	}
	return 0;
}

SEC("tracepoint/minikvm/minikvm_inject")
int tp_inject(struct minikvm_trace_inject *ctx)
{
	struct mkt_counters *c = counters_of(ctx->vm);
	__u32 type = ctx->type;

	if (!c)
		return 0;
	COUNT_IN(c->inject, type, MKT_INJ_TYPES, c->inject_high);
	if (ctx->reinjected)
		COUNT(c->reinjected);
	return 0;
}

SEC("tracepoint/minikvm/minikvm_ipi")
int tp_ipi(struct minikvm_trace_ipi *ctx)
{
	struct mkt_counters *c = counters_of(ctx->vm);

	if (c)
		COUNT(c->ipis);
	return 0;
}

SEC("tracepoint/minikvm/minikvm_apic_accept")
int tp_apic_accept(struct minikvm_trace_apic_accept *ctx)
{
	struct mkt_counters *c = counters_of(ctx->vm);
	__u32 origin = ctx->origin;

	if (!c)
		return 0;
	COUNT_IN(c->accepted, origin, MKT_ORIGINS, c->accepted_high);
	if (ctx->coalesced)
		COUNT_IN(c->coalesced, origin, MKT_ORIGINS, c->coalesced_high);
	return 0;
}

SEC("tracepoint/minikvm/minikvm_eoi")
int tp_eoi(struct minikvm_trace_eoi *ctx)
{
	struct mkt_counters *c = counters_of(ctx->vm);

	if (!c)
		return 0;
	if (ctx->vector == 0)
		COUNT(c->eoi_spurious);
	else if (ctx->level)
		COUNT(c->eoi_level);
	else
		COUNT(c->eoi_edge);
	return 0;
}

SEC("tracepoint/minikvm/minikvm_pic_set_irq")
int tp_pic_set_irq(struct minikvm_trace_pic_set_irq *ctx)
{
	struct mkt_counters *c = counters_of(ctx->vm);

	if (!c)
		return 0;
	COUNT(c->pic);
	if (ctx->coalesced)
		COUNT(c->pic_coalesced);
	return 0;
}

SEC("tracepoint/minikvm/minikvm_ioapic_set_irq")
int tp_ioapic_set_irq(struct minikvm_trace_ioapic_set_irq *ctx)
{
	struct mkt_counters *c = counters_of(ctx->vm);

	if (!c)
		return 0;
	COUNT(c->ioapic);
	if (ctx->coalesced)
		COUNT(c->ioapic_coalesced);
	return 0;
}

SEC("tracepoint/minikvm/minikvm_msi_set_irq")
int tp_msi_set_irq(struct minikvm_trace_msi_set_irq *ctx)
{
	struct mkt_counters *c = counters_of(ctx->vm);

	if (c)
		COUNT(c->msi);
	return 0;
}

SEC("tracepoint/minikvm/minikvm_set_gsi")
int tp_set_gsi(struct minikvm_trace_set_gsi *ctx)
{
	struct mkt_counters *c = counters_of(ctx->vm);
	__u32 source = ctx->source;

	if (!c)
		return 0;
	COUNT_IN(c->gsi, source, MKT_GSI_SOURCES, c->gsi_high);
	if (ctx->nr_routes == 0)
		COUNT(c->gsi_unrouted);
	return 0;
}

SEC("tracepoint/minikvm/minikvm_irqfd_inject")
int tp_irqfd_inject(struct minikvm_trace_irqfd_inject *ctx)
{
	struct mkt_counters *c = counters_of(ctx->vm);

	if (!c)
		return 0;
	if (ctx->inatomic)
		COUNT(c->irqfd_inatomic);
	else
		COUNT(c->irqfd_work);
	return 0;
}

SEC("tracepoint/minikvm/minikvm_irqfd_resample")
int tp_irqfd_resample(struct minikvm_trace_irqfd_resample *ctx)
{
	struct mkt_counters *c = counters_of(ctx->vm);

	if (c)
		COUNT(c->irqfd_resample);
	return 0;
}

SEC("tracepoint/minikvm/minikvm_pi_irte_update")
int tp_pi_irte_update(struct minikvm_trace_pi_irte_update *ctx)
{
	struct mkt_counters *c = counters_of(ctx->vm);

	if (!c)
		return 0;
	if (ctx->result != 0)
		COUNT(c->irte_failed);
	else if (ctx->posted)
		COUNT(c->irte_posted);
	else
		COUNT(c->irte_remapped);
	return 0;
}

SEC("tracepoint/minikvm/minikvm_apicv")
int tp_apicv(struct minikvm_trace_apicv *ctx)
{
	struct mkt_counters *c = counters_of(ctx->vm);
	__u32 mode = ctx->mode;

	if (!c)
		return 0;
	COUNT_IN(c->apicv, mode, MKT_APICV_MODES, c->apicv_high);
	if (ctx->active)
		COUNT(c->apicv_active);
	return 0;
}
