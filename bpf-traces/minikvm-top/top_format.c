// SPDX-License-Identifier: GPL-2.0
/*
 * minikvm-top's aggregation and output (top_format.h): pure functions of
 * the counters, unit-tested on the host by top_test.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <minikvm/trace.h>
#include "top_format.h"

#define IDX(field) (offsetof(struct mkt_counters, field) / sizeof(__u64))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(sizeof(struct mkt_counters) % sizeof(__u64) == 0,
	       "struct mkt_counters must be only __u64 counters");

/* ---- names ---- */

/* The SDM's basic exit reasons, from the uapi table the tracepoints print with. */
static const char *const vmx_exit_names[MKT_EXIT_REASONS] = {
#define MKT_VMX_NAME(nr, name) [nr] = #name,
	MINIKVM_VMX_EXIT_REASONS(MKT_VMX_NAME)
#undef MKT_VMX_NAME
};

const char *mkt_vmx_exit_name(unsigned int basic_reason)
{
	return basic_reason < ARRAY_SIZE(vmx_exit_names) ? vmx_exit_names[basic_reason] : NULL;
}

/*
 * kvm_run->exit_reason, linux/kvm.h's KVM_EXIT_* without the prefix (the
 * launcher and kvm_stat print them so).  top_test.c checks each index
 * against the header's macro.
 */
static const char *const kvm_exit_names[] = {
	"UNKNOWN", "EXCEPTION", "IO", "HYPERCALL", "DEBUG", "HLT", "MMIO",
	"IRQ_WINDOW_OPEN", "SHUTDOWN", "FAIL_ENTRY", "INTR", "SET_TPR", "TPR_ACCESS",
	"S390_SIEIC", "S390_RESET", "DCR", "NMI", "INTERNAL_ERROR", "OSI", "PAPR_HCALL",
	"S390_UCONTROL", "WATCHDOG", "S390_TSCH", "EPR", "SYSTEM_EVENT", "S390_STSI",
	"IOAPIC_EOI", "HYPERV", "ARM_NISV", "X86_RDMSR", "X86_WRMSR", "DIRTY_RING_FULL",
	"AP_RESET_HOLD", "X86_BUS_LOCK", "XEN", "RISCV_SBI", "RISCV_CSR", "NOTIFY",
};

const char *mkt_kvm_exit_name(unsigned int exit_reason)
{
	return exit_reason < ARRAY_SIZE(kvm_exit_names) ? kvm_exit_names[exit_reason] : NULL;
}

/* minikvm_inject.type (uapi: MINIKVM_INJ_*); 1 and 7 are not injected by minikvm. */
static const char *const inject_names[MKT_INJ_TYPES] = {
	[MINIKVM_INJ_EXTINT] = "EXTINT", [MINIKVM_INJ_NMI] = "NMI",
	[MINIKVM_INJ_HWEXC] = "HWEXC", [MINIKVM_INJ_SWINT] = "SWINT",
	[MINIKVM_INJ_PRIVSW] = "PRIVSW", [MINIKVM_INJ_SWEXC] = "SWEXC",
	[MINIKVM_INJ_VID] = "VID",
};

/* minikvm_apic_accept.origin (uapi: MINIKVM_ORIGIN_*). */
static const char *const origin_names[MKT_ORIGINS] = {
	[MINIKVM_ORIGIN_OTHER] = "other", [MINIKVM_ORIGIN_IPI] = "ipi",
	[MINIKVM_ORIGIN_MSI] = "msi", [MINIKVM_ORIGIN_IOAPIC] = "ioapic",
	[MINIKVM_ORIGIN_TIMER] = "timer", [MINIKVM_ORIGIN_LVT] = "lvt",
	[MINIKVM_ORIGIN_NMI_IOCTL] = "nmi_ioctl",
};

/* minikvm_set_gsi.source (uapi: MINIKVM_GSI_SRC_*). */
static const char *const gsi_source_names[MKT_GSI_SOURCES] = {
	[MINIKVM_GSI_SRC_IRQ_LINE] = "irq_line", [MINIKVM_GSI_SRC_IRQFD] = "irqfd",
	[MINIKVM_GSI_SRC_RESAMPLE] = "resample", [MINIKVM_GSI_SRC_KERNEL] = "kernel",
};

/* minikvm_apicv.mode (uapi: MINIKVM_APICV_*). */
static const char *const apicv_mode_names[MKT_APICV_MODES] = {
	[MINIKVM_APICV_OFF] = "off", [MINIKVM_APICV_XAPIC] = "xapic",
	[MINIKVM_APICV_X2APIC] = "x2apic", [MINIKVM_APICV_TPR_ONLY] = "tpr_only",
};

/* Single counters: group name, key, always shown. */
static const struct {
	size_t idx;
	const char *group;
	const char *key;
} singles[] = {
	{ IDX(entries), "entries", "" },
	{ IDX(exits_high), "exits", ">=128" },
	{ IDX(failed_entries), "failed_entries", "" },
	{ IDX(uexits_high), "userspace_exits", ">=64" },
	{ IDX(uerrs_high), "userspace_errors", "other" },
	{ IDX(inject_high), "injections", "other" },
	{ IDX(reinjected), "reinjections", "" },
	{ IDX(accepted_high), "interrupts", "unknown" },
	{ IDX(coalesced_high), "interrupts_coalesced", "unknown" },
	{ IDX(eoi_edge), "eois", "edge" },
	{ IDX(eoi_level), "eois", "level" },
	{ IDX(eoi_spurious), "eois", "spurious" },
	{ IDX(ipis), "ipis_sent", "" },
	{ IDX(gsi_high), "gsi_sets", "unknown" },
	{ IDX(gsi_unrouted), "gsi_unrouted", "" },
	{ IDX(irqfd_inatomic), "irqfd_injections", "inatomic" },
	{ IDX(irqfd_work), "irqfd_injections", "work" },
	{ IDX(irqfd_resample), "irqfd_resamples", "" },
	{ IDX(pic), "irqchip", "pic_set_irq" },
	{ IDX(pic_coalesced), "irqchip", "pic_coalesced" },
	{ IDX(ioapic), "irqchip", "ioapic_set_irq" },
	{ IDX(ioapic_coalesced), "irqchip", "ioapic_coalesced" },
	{ IDX(msi), "irqchip", "msi_set_irq" },
	{ IDX(irte_posted), "irte_updates", "posted" },
	{ IDX(irte_remapped), "irte_updates", "remapped" },
	{ IDX(irte_failed), "irte_updates", "failed" },
	{ IDX(apicv_high), "apicv", "unknown" },
	{ IDX(apicv_active), "apicv", "active" },
};

/* The out-of-range buckets: shown only when something fell in them. */
static int is_overflow_bucket(size_t i)
{
	return i == IDX(exits_high) || i == IDX(uexits_high) || i == IDX(uerrs_high) ||
	       i == IDX(inject_high) || i == IDX(accepted_high) || i == IDX(coalesced_high) ||
	       i == IDX(gsi_high) || i == IDX(apicv_high);
}

/* The names of the arrays' elements by index; NULL: shown by number. */
static const char *vmx_name(size_t k) { return mkt_vmx_exit_name((unsigned int)k); }
static const char *kvm_name(size_t k) { return mkt_kvm_exit_name((unsigned int)k); }
static const char *errno_name(size_t k) { return k ? strerrorname_np((int)k) : NULL; }
static const char *inject_name(size_t k) { return k < MKT_INJ_TYPES ? inject_names[k] : NULL; }
static const char *origin_name(size_t k) { return k < MKT_ORIGINS ? origin_names[k] : NULL; }
static const char *gsi_name(size_t k) { return k < MKT_GSI_SOURCES ? gsi_source_names[k] : NULL; }
static const char *apicv_name(size_t k) { return k < MKT_APICV_MODES ? apicv_mode_names[k] : NULL; }

/*
 * Counter i if it is inside the array [first, first + n): its group, and
 * its element's name (always shown if named_always) or number (shown when
 * non-zero).
 */
static int describe_array(size_t i, size_t first, size_t n, const char *(*name)(size_t),
			  const char *group, int named_always, struct mkt_desc *d)
{
	const char *nm;

	if (i < first || i >= first + n)
		return 0;
	nm = name(i - first);
	d->group = group;
	if (nm) {
		snprintf(d->key, sizeof(d->key), "%s", nm);
		d->always = named_always;
	} else {
		snprintf(d->key, sizeof(d->key), "%zu", i - first);
		d->always = 0;
	}
	return 1;
}

void mkt_describe(size_t i, struct mkt_desc *d)
{
	size_t k;

	memset(d, 0, sizeof(*d));
	for (k = 0; k < ARRAY_SIZE(singles); k++) {
		if (singles[k].idx == i) {
			d->group = singles[k].group;
			snprintf(d->key, sizeof(d->key), "%s", singles[k].key);
			d->always = !is_overflow_bucket(i);
			return;
		}
	}
	if (describe_array(i, IDX(exits), MKT_EXIT_REASONS, vmx_name, "exits", 0, d) ||
	    describe_array(i, IDX(uexits), MKT_UEXIT_REASONS, kvm_name, "userspace_exits", 0, d) ||
	    describe_array(i, IDX(uerrs), MKT_ERRNOS, errno_name, "userspace_errors", 0, d) ||
	    describe_array(i, IDX(inject), MKT_INJ_TYPES, inject_name, "injections", 1, d) ||
	    describe_array(i, IDX(accepted), MKT_ORIGINS, origin_name, "interrupts", 1, d) ||
	    describe_array(i, IDX(coalesced), MKT_ORIGINS, origin_name, "interrupts_coalesced", 1, d) ||
	    describe_array(i, IDX(gsi), MKT_GSI_SOURCES, gsi_name, "gsi_sets", 1, d) ||
	    describe_array(i, IDX(apicv), MKT_APICV_MODES, apicv_name, "apicv", 1, d))
		return;
	/* A counter added to struct mkt_counters without a name here; top_test.c catches it. */
	d->group = "unnamed";
	snprintf(d->key, sizeof(d->key), "%zu", i);
}

void mkt_label(size_t i, char *buf, size_t len)
{
	struct mkt_desc d;

	mkt_describe(i, &d);
	if (d.key[0])
		snprintf(buf, len, "%s(%s)", d.group, d.key);
	else
		snprintf(buf, len, "%s", d.group);
}

/* ---- aggregation ---- */

__u64 mkt_counter(const struct mkt_counters *c, size_t i)
{
	__u64 v;

	memcpy(&v, (const char *)c + i * sizeof(__u64), sizeof(v));
	return v;
}

static void add_counters(struct mkt_counters *dst, const struct mkt_counters *src)
{
	__u64 *d = (__u64 *)dst;
	const __u64 *s = (const __u64 *)src;
	size_t i;

	for (i = 0; i < MKT_NR_COUNTERS; i++)
		d[i] += s[i];
}

static int all_zero(const struct mkt_counters *c)
{
	size_t i;

	for (i = 0; i < MKT_NR_COUNTERS; i++)
		if (mkt_counter(c, i))
			return 0;
	return 1;
}

static __u64 sum_range(const struct mkt_counters *c, size_t first, size_t n)
{
	__u64 sum = 0;
	size_t i;

	for (i = first; i < first + n; i++)
		sum += mkt_counter(c, i);
	return sum;
}

__u64 mkt_exits_total(const struct mkt_counters *c)
{
	/* failed_entries are also counted by their basic reason */
	return sum_range(c, IDX(exits), MKT_EXIT_REASONS) + c->exits_high;
}

__u64 mkt_userspace_total(const struct mkt_counters *c)
{
	return sum_range(c, IDX(uexits), MKT_UEXIT_REASONS) + c->uexits_high +
	       sum_range(c, IDX(uerrs), MKT_ERRNOS) + c->uerrs_high;
}

__u64 mkt_interrupts_total(const struct mkt_counters *c)
{
	/* coalesced ones are also counted as accepted */
	return sum_range(c, IDX(accepted), MKT_ORIGINS) + c->accepted_high;
}

static int cmp_vm(const void *a, const void *b)
{
	const struct mkt_vm *x = a, *y = b;

	/* the overflow slot (vm 0) last */
	if ((x->vm == 0) != (y->vm == 0))
		return x->vm == 0 ? 1 : -1;
	return x->vm < y->vm ? -1 : x->vm > y->vm;
}

void mkt_collect(struct mkt_snapshot *out, const struct mkt_counters *percpu, unsigned int ncpus,
		 const __u32 *slot_vm, const __u32 *slot_pid, __u32 nr_slots, long long vm_filter)
{
	unsigned int slots = nr_slots < MKT_MAX_VMS ? nr_slots : MKT_MAX_VMS;
	unsigned int slot, cpu, k;
	struct mkt_counters overflow;

	memset(out, 0, sizeof(*out));
	for (slot = 0; slot < slots; slot++) {
		__u32 vm = slot_vm[slot];
		struct mkt_vm *v = NULL;

		if (vm == 0 || (vm_filter >= 0 && vm != vm_filter))
			continue;
		for (k = 0; k < out->n; k++)
			if (out->vms[k].vm == vm)
				v = &out->vms[k];
		if (!v) {
			v = &out->vms[out->n++];
			v->vm = vm;
		}
		if (slot_pid[slot])
			v->pid = slot_pid[slot];
		for (cpu = 0; cpu < ncpus; cpu++)
			add_counters(&v->c, &percpu[(size_t)cpu * MKT_SLOTS + slot]);
	}
	if (vm_filter < 0) {
		memset(&overflow, 0, sizeof(overflow));
		for (cpu = 0; cpu < ncpus; cpu++)
			add_counters(&overflow, &percpu[(size_t)cpu * MKT_SLOTS + MKT_OVERFLOW_SLOT]);
		if (!all_zero(&overflow)) {
			out->vms[out->n].vm = 0;
			out->vms[out->n].pid = 0;
			out->vms[out->n].c = overflow;
			out->n++;
		}
	}
	qsort(out->vms, out->n, sizeof(out->vms[0]), cmp_vm);
}

const struct mkt_vm *mkt_find(const struct mkt_snapshot *s, __u32 vm)
{
	unsigned int k;

	for (k = 0; k < s->n; k++)
		if (s->vms[k].vm == vm)
			return &s->vms[k];
	return NULL;
}

/* ---- rows ---- */

static int cmp_row(const void *a, const void *b)
{
	const struct mkt_row *x = a, *y = b;

	if (x->delta != y->delta)
		return x->delta > y->delta ? -1 : 1;
	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	if (x->vm != y->vm) /* the overflow slot's rows after the VMs' */
		return (x->vm == 0 ? ~0u : x->vm) < (y->vm == 0 ? ~0u : y->vm) ? -1 : 1;
	return x->counter < y->counter ? -1 : x->counter > y->counter;
}

long mkt_rows(const struct mkt_snapshot *prev, const struct mkt_snapshot *cur,
	      struct mkt_row **rows)
{
	struct mkt_row *r;
	size_t n = 0, i;
	unsigned int k;

	*rows = NULL;
	for (k = 0; k < cur->n; k++)
		for (i = 0; i < MKT_NR_COUNTERS; i++)
			n += mkt_counter(&cur->vms[k].c, i) != 0;
	if (n == 0)
		return 0;
	r = calloc(n, sizeof(*r));
	if (!r)
		return -1;
	n = 0;
	for (k = 0; k < cur->n; k++) {
		const struct mkt_vm *v = &cur->vms[k];
		const struct mkt_vm *p = prev ? mkt_find(prev, v->vm) : NULL;

		for (i = 0; i < MKT_NR_COUNTERS; i++) {
			__u64 total = mkt_counter(&v->c, i);
			__u64 before = p ? mkt_counter(&p->c, i) : 0;

			if (!total)
				continue;
			r[n].vm = v->vm;
			r[n].counter = (unsigned int)i;
			r[n].total = total;
			/* counters only grow; a smaller one is a new VM in a reused number */
			r[n].delta = total >= before ? total - before : total;
			n++;
		}
	}
	qsort(r, n, sizeof(*r), cmp_row);
	*rows = r;
	return (long)n;
}

/* ---- JSON ---- */

/*
 * The counters of one VM as JSON members: the totals, then each group in
 * struct order (a group's counters are adjacent): a single number, or an
 * object with its always-shown keys and its non-zero ones ({} if none).
 */
static void json_counters(FILE *f, const struct mkt_counters *c)
{
	const char *open_group = NULL;	/* the object being written, if any */
	int keys_in_group = 0;
	struct mkt_desc d;
	size_t i;

	fprintf(f, "\"exits_total\":%llu,\"userspace_total\":%llu,\"interrupts_total\":%llu",
		(unsigned long long)mkt_exits_total(c), (unsigned long long)mkt_userspace_total(c),
		(unsigned long long)mkt_interrupts_total(c));
	for (i = 0; i < MKT_NR_COUNTERS; i++) {
		__u64 v = mkt_counter(c, i);

		mkt_describe(i, &d);
		if (open_group && strcmp(open_group, d.group) != 0) {
			fputc('}', f);
			open_group = NULL;
		}
		if (!d.key[0]) {
			fprintf(f, ",\"%s\":%llu", d.group, (unsigned long long)v);
			continue;
		}
		if (!open_group) {
			fprintf(f, ",\"%s\":{", d.group);
			open_group = d.group;
			keys_in_group = 0;
		}
		if (v || d.always)
			fprintf(f, "%s\"%s\":%llu", keys_in_group++ ? "," : "", d.key,
				(unsigned long long)v);
	}
	if (open_group)
		fputc('}', f);
}

void mkt_print_json(FILE *f, const struct mkt_snapshot *s, double duration_s)
{
	const struct mkt_vm *overflow = NULL;
	int first = 1;
	unsigned int k;

	fprintf(f, "{\"version\":1,\"duration_s\":%.3f,\"missed\":%llu,\"vms\":[", duration_s,
		(unsigned long long)s->missed);
	for (k = 0; k < s->n; k++) {
		const struct mkt_vm *v = &s->vms[k];

		if (v->vm == 0) {
			overflow = v;
			continue;
		}
		fprintf(f, "%s{\"vm\":%u,\"pid\":%u,", first ? "" : ",", v->vm, v->pid);
		json_counters(f, &v->c);
		fputc('}', f);
		first = 0;
	}
	fputs("],\"unattributed\":", f);
	if (overflow) {
		fputc('{', f);
		json_counters(f, &overflow->c);
		fputc('}', f);
	} else {
		fputs("null", f);
	}
	fputs("}\n", f);
}

/* ---- table ---- */

struct vm_line {
	const struct mkt_vm *v;
	__u64 exits_delta;
};

static int cmp_vm_line(const void *a, const void *b)
{
	const struct vm_line *x = a, *y = b;
	__u64 xt = mkt_exits_total(&x->v->c), yt = mkt_exits_total(&y->v->c);

	if (x->exits_delta != y->exits_delta)
		return x->exits_delta > y->exits_delta ? -1 : 1;
	if (xt != yt)
		return xt > yt ? -1 : 1;
	return cmp_vm(x->v, y->v);
}

static double rate(__u64 delta, double interval_s)
{
	return interval_s > 0 ? (double)delta / interval_s : 0.0;
}

static __u64 since(__u64 now, __u64 before)
{
	return now >= before ? now - before : now;
}

static void vm_name(char *buf, size_t len, __u32 vm)
{
	if (vm)
		snprintf(buf, len, "%u", vm);
	else
		snprintf(buf, len, "?");	/* the overflow slot */
}

void mkt_print_table(FILE *f, const struct mkt_snapshot *prev, const struct mkt_snapshot *cur,
		     double interval_s, unsigned int max_rows)
{
	struct vm_line lines[MKT_SLOTS];
	struct mkt_row *rows;
	long nrows, r;
	unsigned int k;
	char name[16], label[64];

	fprintf(f, "%6s %8s %10s %12s %10s %12s %10s %12s\n", "VM", "PID", "exits/s", "exits",
		"user/s", "userspace", "intr/s", "interrupts");
	for (k = 0; k < cur->n; k++) {
		const struct mkt_vm *p = prev ? mkt_find(prev, cur->vms[k].vm) : NULL;

		lines[k].v = &cur->vms[k];
		lines[k].exits_delta = since(mkt_exits_total(&cur->vms[k].c),
					     p ? mkt_exits_total(&p->c) : 0);
	}
	qsort(lines, cur->n, sizeof(lines[0]), cmp_vm_line);
	for (k = 0; k < cur->n; k++) {
		const struct mkt_vm *v = lines[k].v;
		const struct mkt_vm *p = prev ? mkt_find(prev, v->vm) : NULL;
		__u64 ut = mkt_userspace_total(&v->c), it = mkt_interrupts_total(&v->c);

		vm_name(name, sizeof(name), v->vm);
		fprintf(f, "%6s %8u %10.0f %12llu %10.0f %12llu %10.0f %12llu\n", name, v->pid,
			rate(lines[k].exits_delta, interval_s),
			(unsigned long long)mkt_exits_total(&v->c),
			rate(since(ut, p ? mkt_userspace_total(&p->c) : 0), interval_s),
			(unsigned long long)ut,
			rate(since(it, p ? mkt_interrupts_total(&p->c) : 0), interval_s),
			(unsigned long long)it);
	}
	if (cur->n == 0)
		fprintf(f, "%6s (no minikvm events yet)\n", "-");

	nrows = mkt_rows(prev, cur, &rows);
	fprintf(f, "\n%-36s %6s %14s %12s\n", "Event", "VM", "Total", "/s");
	if (nrows < 0) {
		fprintf(f, "(out of memory)\n");
		return;
	}
	for (r = 0; r < nrows && (unsigned long)r < max_rows; r++) {
		mkt_label(rows[r].counter, label, sizeof(label));
		vm_name(name, sizeof(name), rows[r].vm);
		fprintf(f, "%-36s %6s %14llu %12.0f\n", label, name,
			(unsigned long long)rows[r].total, rate(rows[r].delta, interval_s));
	}
	if (nrows > (long)max_rows)
		fprintf(f, "(%ld more events)\n", nrows - (long)max_rows);
	free(rows);
}
