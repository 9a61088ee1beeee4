// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit tests of minikvm-top's aggregation and output (top_format.c),
 * on made-up counters laid out as the BPF programs lay them out: names of
 * every counter, per-CPU sums and slot merging, totals, row order, the
 * exact JSON and table text.  No BPF, no root.
 *
 *   top_test               runs the tests; "N passed, N failed"; exit 1 on a failure
 *   top_test --print-json  prints the JSON of a snapshot with every group
 *                          non-zero, for check_json.py (the schema check)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>

#include <minikvm/trace.h>
#include "top_format.h"

static int passed, failed;
static const char *current;

#define CHECK(cond)                                                                   \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "FAIL %s: %s:%d: %s\n", current, __FILE__,    \
				__LINE__, #cond);                                     \
			failures++;                                                   \
		}                                                                     \
	} while (0)

#define CHECK_STR(got, want)                                                          \
	do {                                                                          \
		const char *g_ = (got), *w_ = (want);                                 \
		if (!g_ || strcmp(g_, w_) != 0) {                                     \
			fprintf(stderr, "FAIL %s: %s:%d: got\n  %s\nwant\n  %s\n",    \
				current, __FILE__, __LINE__, g_ ? g_ : "(null)", w_); \
			failures++;                                                   \
		}                                                                     \
	} while (0)

#define TEST(name) static int name(void)
#define RUN(name)                                                                     \
	do {                                                                          \
		current = #name;                                                      \
		if (name()) {                                                         \
			failed++;                                                     \
		} else {                                                              \
			passed++;                                                     \
			printf("ok %s\n", #name);                                     \
		}                                                                     \
	} while (0)

/* The BPF side's memory: [cpu][slot] counters and the slot table. */
struct fake_bpf {
	unsigned int ncpus;
	struct mkt_counters *percpu;
	__u32 slot_vm[MKT_MAX_VMS];
	__u32 slot_pid[MKT_MAX_VMS];
	__u32 nr_slots;
};

static struct fake_bpf *fake_new(unsigned int ncpus)
{
	struct fake_bpf *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	f->ncpus = ncpus;
	f->percpu = calloc((size_t)ncpus * MKT_SLOTS, sizeof(struct mkt_counters));
	if (!f->percpu)
		abort();
	return f;
}

static void fake_free(struct fake_bpf *f)
{
	free(f->percpu);
	free(f);
}

static struct mkt_counters *at(struct fake_bpf *f, unsigned int cpu, unsigned int slot)
{
	return &f->percpu[(size_t)cpu * MKT_SLOTS + slot];
}

static void collect(struct fake_bpf *f, struct mkt_snapshot *s, long long filter)
{
	mkt_collect(s, f->percpu, f->ncpus, f->slot_vm, f->slot_pid, f->nr_slots, filter);
}

static struct mkt_snapshot *snap_new(void)
{
	struct mkt_snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		abort();
	return s;
}

/* Output of fn(...) into a string (malloc()ed). */
#define CAPTURE(buf, call)                                                            \
	do {                                                                          \
		size_t len_;                                                          \
		FILE *f_ = open_memstream(&(buf), &len_);                             \
		if (!f_)                                                              \
			abort();                                                      \
		call;                                                                 \
		fclose(f_);                                                           \
	} while (0)
#define OUTF f_

/* ---- names ---- */

TEST(vmx_exit_names_come_from_the_uapi_table)
{
	int failures = 0;

	CHECK_STR(mkt_vmx_exit_name(0), "EXCEPTION_NMI");
	CHECK_STR(mkt_vmx_exit_name(12), "HLT");
	CHECK_STR(mkt_vmx_exit_name(30), "IO_INSTRUCTION");
	CHECK_STR(mkt_vmx_exit_name(48), "EPT_VIOLATION");
	CHECK_STR(mkt_vmx_exit_name(69), "LOADIWKEY");
	/* holes of the SDM's numbering and numbers past the table: unknown */
	CHECK(mkt_vmx_exit_name(5) == NULL);
	CHECK(mkt_vmx_exit_name(35) == NULL);
	CHECK(mkt_vmx_exit_name(70) == NULL);
	CHECK(mkt_vmx_exit_name(MKT_EXIT_REASONS) == NULL);
	CHECK(mkt_vmx_exit_name(0xffff) == NULL);
	return failures;
}

TEST(kvm_exit_names_match_linux_kvm_h)
{
	static const struct {
		unsigned int nr;
		const char *name;
	} want[] = {
#define E(x) { KVM_EXIT_##x, #x }
		E(UNKNOWN), E(EXCEPTION), E(IO), E(HYPERCALL), E(DEBUG), E(HLT), E(MMIO),
		E(IRQ_WINDOW_OPEN), E(SHUTDOWN), E(FAIL_ENTRY), E(INTR), E(SET_TPR),
		E(TPR_ACCESS), E(S390_SIEIC), E(S390_RESET), E(DCR), E(NMI), E(INTERNAL_ERROR),
		E(OSI), E(PAPR_HCALL), E(S390_UCONTROL), E(WATCHDOG), E(S390_TSCH), E(EPR),
		E(SYSTEM_EVENT), E(S390_STSI), E(IOAPIC_EOI), E(HYPERV), E(ARM_NISV),
		E(X86_RDMSR), E(X86_WRMSR), E(DIRTY_RING_FULL), E(AP_RESET_HOLD),
		E(X86_BUS_LOCK), E(XEN), E(RISCV_SBI), E(RISCV_CSR), E(NOTIFY),
#undef E
	};
	int failures = 0;
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK_STR(mkt_kvm_exit_name(want[i].nr), want[i].name);
	CHECK(mkt_kvm_exit_name(KVM_EXIT_NOTIFY + 1) == NULL);
	return failures;
}

/* Every counter has a name, and no two the same: a new field without a name fails here. */
TEST(every_counter_has_a_unique_label)
{
	static char labels[MKT_NR_COUNTERS][80];
	struct mkt_desc d;
	int failures = 0;
	size_t i, j;

	for (i = 0; i < MKT_NR_COUNTERS; i++) {
		mkt_describe(i, &d);
		CHECK(d.group != NULL && strcmp(d.group, "unnamed") != 0);
		mkt_label(i, labels[i], sizeof(labels[i]));
		for (j = 0; j < i; j++)
			if (strcmp(labels[i], labels[j]) == 0) {
				fprintf(stderr, "  duplicate label %s (%zu, %zu)\n", labels[i], j, i);
				failures++;
			}
	}
	return failures;
}

TEST(labels_of_named_numbered_and_overflow_counters)
{
	struct mkt_counters c;
	char buf[80];
	struct mkt_desc d;
	int failures = 0;
	size_t base_exits = (size_t)((__u64 *)&c.exits[0] - (__u64 *)&c);
	size_t base_uexits = (size_t)((__u64 *)&c.uexits[0] - (__u64 *)&c);
	size_t base_uerrs = (size_t)((__u64 *)&c.uerrs[0] - (__u64 *)&c);
	size_t base_accepted = (size_t)((__u64 *)&c.accepted[0] - (__u64 *)&c);

	mkt_label(base_exits + 30, buf, sizeof(buf));
	CHECK_STR(buf, "exits(IO_INSTRUCTION)");
	mkt_label(base_exits + 5, buf, sizeof(buf));	/* no name: its number */
	CHECK_STR(buf, "exits(5)");
	mkt_label((size_t)((__u64 *)&c.exits_high - (__u64 *)&c), buf, sizeof(buf));
	CHECK_STR(buf, "exits(>=128)");
	mkt_label(base_uexits + KVM_EXIT_IO, buf, sizeof(buf));
	CHECK_STR(buf, "userspace_exits(IO)");
	mkt_label(base_uexits + 50, buf, sizeof(buf));
	CHECK_STR(buf, "userspace_exits(50)");
	mkt_label(base_uerrs + EINTR, buf, sizeof(buf));
	CHECK_STR(buf, "userspace_errors(EINTR)");
	mkt_label(base_accepted + MINIKVM_ORIGIN_TIMER, buf, sizeof(buf));
	CHECK_STR(buf, "interrupts(timer)");
	mkt_label((size_t)((__u64 *)&c.ipis - (__u64 *)&c), buf, sizeof(buf));
	CHECK_STR(buf, "ipis_sent");
	mkt_describe(base_accepted + MINIKVM_ORIGIN_IPI, &d);
	CHECK(d.always);	/* named key of a fixed group: shown even at 0 */
	mkt_describe(base_exits + 30, &d);
	CHECK(!d.always);	/* exit reasons: only non-zero ones */
	mkt_describe((size_t)((__u64 *)&c.accepted_high - (__u64 *)&c), &d);
	CHECK(!d.always);	/* an out-of-range bucket: only when hit */
	return failures;
}

/* ---- aggregation ---- */

TEST(collect_sums_cpus_and_merges_slots_of_one_vm)
{
	struct fake_bpf *f = fake_new(3);
	struct mkt_snapshot *s = snap_new();
	const struct mkt_vm *v;
	int failures = 0;

	f->nr_slots = 4;
	f->slot_vm[0] = 7;
	f->slot_pid[0] = 700;
	f->slot_vm[1] = 3;
	f->slot_vm[2] = 7;	/* a second slot of VM 7 (the allocation race) */
	f->slot_vm[3] = 0;	/* an abandoned slot */
	at(f, 0, 0)->exits[30] = 1;
	at(f, 1, 0)->exits[30] = 2;
	at(f, 2, 0)->exits[30] = 3;
	at(f, 1, 2)->exits[30] = 10;
	at(f, 2, 1)->accepted[MINIKVM_ORIGIN_TIMER] = 5;
	at(f, 0, 3)->ipis = 99;		/* abandoned: never shown */
	at(f, 1, 5)->ipis = 42;		/* beyond nr_slots: never shown */
	collect(f, s, -1);

	CHECK(s->n == 2);
	CHECK(s->vms[0].vm == 3 && s->vms[1].vm == 7);	/* by VM number */
	v = mkt_find(s, 7);
	CHECK(v && v->c.exits[30] == 16 && v->pid == 700);
	CHECK(v && v->c.ipis == 0);
	v = mkt_find(s, 3);
	CHECK(v && v->c.accepted[MINIKVM_ORIGIN_TIMER] == 5 && v->c.exits[30] == 0);
	CHECK(v && v->pid == 0);
	CHECK(mkt_find(s, 0) == NULL);	/* the overflow slot is empty */

	collect(f, s, 3);		/* --vm 3 */
	CHECK(s->n == 1 && s->vms[0].vm == 3);
	collect(f, s, 8);		/* a VM never seen */
	CHECK(s->n == 0);
	free(s);
	fake_free(f);
	return failures;
}

TEST(collect_reports_the_overflow_slot_last_and_only_unfiltered)
{
	struct fake_bpf *f = fake_new(2);
	struct mkt_snapshot *s = snap_new();
	int failures = 0;
	unsigned int i;

	/* more VMs than slots: nr_slots counts past MKT_MAX_VMS */
	f->nr_slots = MKT_MAX_VMS + 5;
	for (i = 0; i < MKT_MAX_VMS; i++) {
		f->slot_vm[i] = i + 1;
		at(f, i % 2, i)->entries = 1;
	}
	at(f, 0, MKT_OVERFLOW_SLOT)->entries = 4;
	at(f, 1, MKT_OVERFLOW_SLOT)->entries = 6;
	collect(f, s, -1);
	CHECK(s->n == MKT_MAX_VMS + 1);
	CHECK(s->vms[s->n - 1].vm == 0 && s->vms[s->n - 1].c.entries == 10);
	CHECK(s->vms[0].vm == 1 && s->vms[MKT_MAX_VMS - 1].vm == MKT_MAX_VMS);
	collect(f, s, 2);
	CHECK(s->n == 1 && s->vms[0].vm == 2);
	free(s);
	fake_free(f);
	return failures;
}

TEST(totals_count_each_event_once)
{
	struct mkt_counters c;
	int failures = 0;

	memset(&c, 0, sizeof(c));
	c.exits[30] = 1000;
	c.exits[12] = 2;
	c.exits[33] = 1;
	c.exits_high = 4;
	c.failed_entries = 1;	/* also in exits[33]: not added again */
	c.uexits[KVM_EXIT_IO] = 1000;
	c.uexits_high = 1;
	c.uerrs[EINTR] = 3;
	c.uerrs_high = 1;
	c.accepted[MINIKVM_ORIGIN_IPI] = 50;
	c.accepted[MINIKVM_ORIGIN_TIMER] = 7;
	c.accepted_high = 2;
	c.coalesced[MINIKVM_ORIGIN_TIMER] = 3;	/* also in accepted: not added again */
	CHECK(mkt_exits_total(&c) == 1007);
	CHECK(mkt_userspace_total(&c) == 1005);
	CHECK(mkt_interrupts_total(&c) == 59);
	return failures;
}

/* ---- rows ---- */

TEST(rows_sorted_by_rate_then_total_then_vm)
{
	struct fake_bpf *f = fake_new(1);
	struct mkt_snapshot *prev = snap_new(), *cur = snap_new();
	struct mkt_row *rows;
	long n;
	int failures = 0;
	char label[80];

	f->nr_slots = 2;
	f->slot_vm[0] = 2;
	f->slot_vm[1] = 1;
	at(f, 0, 0)->exits[30] = 100;
	at(f, 0, 0)->ipis = 10;
	at(f, 0, 1)->exits[12] = 50;
	at(f, 0, 1)->entries = 500;
	collect(f, prev, -1);
	/* in the interval: VM 2 IO +5, ipis +20; VM 1 HLT +20, entries +0 */
	at(f, 0, 0)->exits[30] = 105;
	at(f, 0, 0)->ipis = 30;
	at(f, 0, 1)->exits[12] = 70;
	collect(f, cur, -1);

	n = mkt_rows(prev, cur, &rows);
	CHECK(n == 4);
	if (n == 4) {
		/* delta 20 twice: the larger total first (HLT 70 > ipis 30) */
		CHECK(rows[0].vm == 1 && rows[0].delta == 20 && rows[0].total == 70);
		mkt_label(rows[0].counter, label, sizeof(label));
		CHECK_STR(label, "exits(HLT)");
		CHECK(rows[1].vm == 2 && rows[1].delta == 20 && rows[1].total == 30);
		mkt_label(rows[1].counter, label, sizeof(label));
		CHECK_STR(label, "ipis_sent");
		CHECK(rows[2].vm == 2 && rows[2].delta == 5 && rows[2].total == 105);
		/* no change: last, though its total is the largest */
		CHECK(rows[3].vm == 1 && rows[3].delta == 0 && rows[3].total == 500);
	}
	free(rows);

	/* no previous snapshot: delta = total */
	n = mkt_rows(NULL, cur, &rows);
	CHECK(n == 4 && rows[0].total == 500 && rows[0].delta == 500);
	free(rows);

	/* equal delta and total: by VM number, then counter order */
	memset(f->percpu, 0, sizeof(struct mkt_counters) * MKT_SLOTS);
	at(f, 0, 0)->ipis = 1;
	at(f, 0, 1)->ipis = 1;
	at(f, 0, 1)->entries = 1;
	collect(f, cur, -1);
	n = mkt_rows(NULL, cur, &rows);
	CHECK(n == 3);
	if (n == 3) {
		CHECK(rows[0].vm == 1 && rows[1].vm == 1 && rows[2].vm == 2);
		CHECK(rows[0].counter < rows[1].counter);
	}
	free(rows);

	memset(f->percpu, 0, sizeof(struct mkt_counters) * MKT_SLOTS);
	collect(f, cur, -1);
	n = mkt_rows(prev, cur, &rows);
	CHECK(n == 0 && rows == NULL);
	free(prev);
	free(cur);
	fake_free(f);
	return failures;
}

/* ---- JSON ---- */

TEST(json_of_no_vm)
{
	struct mkt_snapshot *s = snap_new();
	char *out = NULL;
	int failures = 0;

	CAPTURE(out, mkt_print_json(OUTF, s, 2.0));
	CHECK_STR(out, "{\"version\":1,\"duration_s\":2.000,\"missed\":0,\"vms\":[],\"unattributed\":null}\n");
	free(out);
	free(s);
	return failures;
}

/* The exact document for one VM: groups, zero keys shown or not, unknown reasons. */
TEST(json_of_one_vm_is_exact)
{
	struct fake_bpf *f = fake_new(2);
	struct mkt_snapshot *s = snap_new();
	struct mkt_counters *c0, *c1;
	char *out = NULL;
	int failures = 0;

	f->nr_slots = 1;
	f->slot_vm[0] = 1;
	f->slot_pid[0] = 123;
	c0 = at(f, 0, 0);
	c1 = at(f, 1, 0);
	c0->entries = 1001;
	c0->exits[30] = 600;
	c1->exits[30] = 400;	/* IO_INSTRUCTION: 1000 over two CPUs */
	c0->exits[12] = 1;	/* HLT */
	c1->exits[5] = 2;	/* a reason without a name */
	c0->exits_high = 1;	/* reason >= 128 */
	c0->uexits[KVM_EXIT_IO] = 1000;
	c0->uexits[KVM_EXIT_HLT] = 1;
	c1->uerrs[EINTR] = 2;
	c0->inject[MINIKVM_INJ_EXTINT] = 50;
	c0->inject[7] = 1;	/* a type without a name */
	c1->reinjected = 3;
	c0->accepted[MINIKVM_ORIGIN_TIMER] = 50;
	c1->accepted[MINIKVM_ORIGIN_IPI] = 100;
	c1->coalesced[MINIKVM_ORIGIN_IPI] = 4;
	c0->eoi_edge = 149;
	c0->ipis = 100;
	c0->gsi[MINIKVM_GSI_SRC_IRQFD] = 9;
	c0->gsi_unrouted = 1;
	c0->irqfd_inatomic = 9;
	c0->pic = 2;
	c0->ioapic = 3;
	c0->ioapic_coalesced = 1;
	c0->msi = 9;
	c0->irte_failed = 1;
	c0->apicv[MINIKVM_APICV_XAPIC] = 2;
	c0->apicv_active = 2;
	collect(f, s, -1);
	CAPTURE(out, mkt_print_json(OUTF, s, 1.5));
	CHECK_STR(out,
		  "{\"version\":1,\"duration_s\":1.500,\"missed\":0,\"vms\":[{\"vm\":1,\"pid\":123,"
		  "\"exits_total\":1004,\"userspace_total\":1003,\"interrupts_total\":150,"
		  "\"entries\":1001,"
		  "\"exits\":{\"5\":2,\"HLT\":1,\"IO_INSTRUCTION\":1000,\">=128\":1},"
		  "\"failed_entries\":0,"
		  "\"userspace_exits\":{\"IO\":1000,\"HLT\":1},"
		  "\"userspace_errors\":{\"EINTR\":2},"
		  "\"injections\":{\"EXTINT\":50,\"NMI\":0,\"HWEXC\":0,\"SWINT\":0,\"PRIVSW\":0,"
		  "\"SWEXC\":0,\"7\":1,\"VID\":0},"
		  "\"reinjections\":3,"
		  "\"interrupts\":{\"other\":0,\"ipi\":100,\"msi\":0,\"ioapic\":0,\"timer\":50,"
		  "\"lvt\":0,\"nmi_ioctl\":0},"
		  "\"interrupts_coalesced\":{\"other\":0,\"ipi\":4,\"msi\":0,\"ioapic\":0,"
		  "\"timer\":0,\"lvt\":0,\"nmi_ioctl\":0},"
		  "\"eois\":{\"edge\":149,\"level\":0,\"spurious\":0},"
		  "\"ipis_sent\":100,"
		  "\"gsi_sets\":{\"irq_line\":0,\"irqfd\":9,\"resample\":0,\"kernel\":0},"
		  "\"gsi_unrouted\":1,"
		  "\"irqfd_injections\":{\"inatomic\":9,\"work\":0},"
		  "\"irqfd_resamples\":0,"
		  "\"irqchip\":{\"pic_set_irq\":2,\"pic_coalesced\":0,\"ioapic_set_irq\":3,"
		  "\"ioapic_coalesced\":1,\"msi_set_irq\":9},"
		  "\"irte_updates\":{\"posted\":0,\"remapped\":0,\"failed\":1},"
		  "\"apicv\":{\"off\":0,\"xapic\":2,\"x2apic\":0,\"tpr_only\":0,\"active\":2}"
		  "}],\"unattributed\":null}\n");
	free(out);
	free(s);
	fake_free(f);
	return failures;
}

TEST(json_of_the_overflow_slot_is_unattributed)
{
	struct fake_bpf *f = fake_new(1);
	struct mkt_snapshot *s = snap_new();
	char *out = NULL;
	int failures = 0;

	f->nr_slots = MKT_MAX_VMS + 1;
	f->slot_vm[0] = 9;
	at(f, 0, 0)->ipis = 1;
	at(f, 0, MKT_OVERFLOW_SLOT)->ipis = 2;
	collect(f, s, -1);
	CAPTURE(out, mkt_print_json(OUTF, s, 1.0));
	CHECK(out && strstr(out, "\"vms\":[{\"vm\":9,\"pid\":0,") != NULL);
	CHECK(out && strstr(out, "],\"unattributed\":{\"exits_total\":0,") != NULL);
	/* the overflow slot's count is under "unattributed", after the VM's */
	CHECK(out && strstr(out, "\"ipis_sent\":1") && strstr(out, "\"ipis_sent\":2") &&
	      strstr(out, "\"ipis_sent\":1") < strstr(out, "\"ipis_sent\":2"));
	/* a JSON document has balanced braces and brackets, one line */
	if (out) {
		int depth = 0, min = 0;
		const char *p;

		for (p = out; *p; p++) {
			depth += (*p == '{' || *p == '[') - (*p == '}' || *p == ']');
			if (depth < min)
				min = depth;
		}
		CHECK(depth == 0 && min == 0);
		CHECK(strchr(out, '\n') == out + strlen(out) - 1);
	}
	free(out);
	free(s);
	fake_free(f);
	return failures;
}

/* ---- table ---- */

TEST(table_lists_vms_busiest_first_and_limits_rows)
{
	struct fake_bpf *f = fake_new(1);
	struct mkt_snapshot *prev = snap_new(), *cur = snap_new();
	char *out = NULL;
	int failures = 0;

	f->nr_slots = 2;
	f->slot_vm[0] = 1;
	f->slot_pid[0] = 11;
	f->slot_vm[1] = 2;
	f->slot_pid[1] = 22;
	collect(f, prev, -1);
	at(f, 0, 0)->exits[30] = 10;
	at(f, 0, 1)->exits[30] = 300;
	at(f, 0, 1)->exits[5] = 8;
	at(f, 0, 1)->accepted[MINIKVM_ORIGIN_TIMER] = 6;
	at(f, 0, 1)->uexits[KVM_EXIT_IO] = 300;
	collect(f, cur, -1);
	CAPTURE(out, mkt_print_table(OUTF, prev, cur, 2.0, 3));
	CHECK_STR(out,
		  "    VM      PID    exits/s        exits     user/s    userspace     intr/s   interrupts\n"
		  "     2       22        154          308        150          300          3            6\n"
		  "     1       11          5           10          0            0          0            0\n"
		  "\n"
		  "Event                                    VM          Total           /s\n"
		  "exits(IO_INSTRUCTION)                     2            300          150\n"
		  "userspace_exits(IO)                       2            300          150\n"
		  "exits(IO_INSTRUCTION)                     1             10            5\n"
		  "(2 more events)\n");
	free(out);

	/* nothing seen yet */
	memset(cur, 0, sizeof(*cur));
	CAPTURE(out, mkt_print_table(OUTF, NULL, cur, 1.0, 10));
	CHECK(out && strstr(out, "(no minikvm events yet)") != NULL);
	free(out);
	free(prev);
	free(cur);
	fake_free(f);
	return failures;
}

/* A snapshot with every group non-zero, two VMs and the overflow slot. */
static void print_rich_json(void)
{
	struct fake_bpf *f = fake_new(2);
	struct mkt_snapshot *s = snap_new();
	unsigned int slot, cpu;
	size_t i;

	f->nr_slots = MKT_MAX_VMS + 1;
	f->slot_vm[0] = 1;
	f->slot_pid[0] = 100;
	f->slot_vm[1] = 2;
	f->slot_pid[1] = 200;
	for (slot = 0; slot < MKT_SLOTS; slot++) {
		if (slot >= 2 && slot != MKT_OVERFLOW_SLOT)
			continue;
		for (cpu = 0; cpu < 2; cpu++) {
			struct mkt_counters *c = at(f, cpu, slot);

			for (i = 0; i < MKT_NR_COUNTERS; i++)
				((__u64 *)c)[i] = (i * 7 + slot + cpu) % 5;
			/* as the BPF side counts: a coalesced interrupt is also an accepted one */
			for (i = 0; i < MKT_ORIGINS; i++)
				c->coalesced[i] = c->accepted[i] / 2;
			c->coalesced_high = c->accepted_high / 2;
		}
	}
	collect(f, s, -1);
	mkt_print_json(stdout, s, 3.25);
	free(s);
	fake_free(f);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--print-json") == 0) {
		print_rich_json();
		return 0;
	}
	RUN(vmx_exit_names_come_from_the_uapi_table);
	RUN(kvm_exit_names_match_linux_kvm_h);
	RUN(every_counter_has_a_unique_label);
	RUN(labels_of_named_numbered_and_overflow_counters);
	RUN(collect_sums_cpus_and_merges_slots_of_one_vm);
	RUN(collect_reports_the_overflow_slot_last_and_only_unfiltered);
	RUN(totals_count_each_event_once);
	RUN(rows_sorted_by_rate_then_total_then_vm);
	RUN(json_of_no_vm);
	RUN(json_of_one_vm_is_exact);
	RUN(json_of_the_overflow_slot_is_unattributed);
	RUN(table_lists_vms_busiest_first_and_limits_rows);
	printf("minikvm-top unit tests: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
