// SPDX-License-Identifier: GPL-2.0
/*
 * minikvm-top: a live table of minikvm's events per VM, like kvm_stat for
 * KVM: VM exits by reason, KVM_RUN returns, injections, interrupts by
 * source... counted in the kernel by the BPF programs of minikvm_top.bpf.c
 * on minikvm's tracepoints (uapi/minikvm/trace.h).  bpf-traces/README.md,
 * section "minikvm-top", documents the options and the output.
 *
 * This file is the plumbing: options, the checks that give clear errors
 * (privileges, tracepoints), loading and attaching the skeleton, the
 * refresh loop.  What is printed comes from top_format.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "minikvm_top.skel.h"
#include "top_format.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

/* The events minikvm-top attaches to: every event of uapi/minikvm/trace.h. */
static const char *const events[] = {
	"minikvm_entry", "minikvm_exit", "minikvm_userspace_exit", "minikvm_inject",
	"minikvm_ipi", "minikvm_apic_accept", "minikvm_eoi", "minikvm_pic_set_irq",
	"minikvm_ioapic_set_irq", "minikvm_msi_set_irq", "minikvm_set_gsi",
	"minikvm_irqfd_inject", "minikvm_irqfd_resample", "minikvm_pi_irte_update",
	"minikvm_apicv",
};
#define NR_EVENTS (sizeof(events) / sizeof(events[0]))

struct options {
	double interval_s;
	double duration_s;	/* 0: until a signal */
	int once;
	int json;
	long long vm;		/* -1: every VM */
	unsigned int rows;	/* 0: fit the terminal */
	int per_cpu;
	int verbose;
};

static volatile sig_atomic_t stop;
/*
 * SIGINT and SIGTERM stay blocked except inside ppoll(), which unblocks
 * them atomically with going to sleep: a signal that arrives just before
 * the sleep still ends it (with pause() or nanosleep() it could be taken
 * between the check of `stop` and the sleep, which would then run out).
 */
static sigset_t sleep_mask;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: minikvm-top [--interval S] [--vm N] [--rows N]\n"
		"       minikvm-top --once [--json] [--duration S] [--vm N]\n"
		"\n"
		"Counts minikvm's events per VM in the kernel (BPF on the minikvm tracepoints)\n"
		"and shows them like kvm_stat: VM exits by reason, KVM_RUN returns to userspace,\n"
		"injections, interrupts accepted by source, EOIs, IPIs, GSI sets, irqfd...\n"
		"\n"
		"  -i, --interval S   refresh the live table every S seconds (default 1)\n"
		"  -1, --once         no live table: count until SIGINT/SIGTERM or --duration,\n"
		"                     then print the totals once and exit 0\n"
		"  -j, --json         print the totals as one JSON object (implies --once)\n"
		"  -d, --duration S   stop after S seconds\n"
		"      --vm N         only VM N (minikvm's VM number, 1, 2, ...)\n"
		"  -r, --rows N       event rows in the table (default: what fits the terminal)\n"
		"      --per-cpu      with --once: also print on stderr what each CPU counted\n"
		"  -v, --verbose      libbpf's messages\n"
		"  -h, --help         this text\n"
		"\n"
		"Needs root (or CAP_BPF and CAP_PERFMON) and the minikvm module loaded.\n"
		"Output and JSON schema: bpf-traces/README.md, section \"minikvm-top\".\n");
}

static int parse_seconds(const char *arg, const char *what, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v > 0) || v > 1e6) {
		fprintf(stderr, "minikvm-top: %s: expected seconds > 0, got '%s'\n", what, arg);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_uint(const char *arg, const char *what, unsigned long long max,
		      unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(arg, &end, 0);
	if (errno || end == arg || *end || arg[0] == '-' || v > max) {
		fprintf(stderr, "minikvm-top: %s: expected a number up to %llu, got '%s'\n", what,
			max, arg);
		return -1;
	}
	*out = v;
	return 0;
}

/* 0: run, 1: exit 0 (help), 2: usage error. */
static int parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "once", no_argument, NULL, '1' },
		{ "json", no_argument, NULL, 'j' },
		{ "duration", required_argument, NULL, 'd' },
		{ "vm", required_argument, NULL, 'V' },
		{ "rows", required_argument, NULL, 'r' },
		{ "per-cpu", no_argument, NULL, 'P' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long n;
	int c;

	memset(o, 0, sizeof(*o));
	o->interval_s = 1.0;
	o->vm = -1;
	while ((c = getopt_long(argc, argv, "i:1jd:r:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (parse_seconds(optarg, "--interval", &o->interval_s))
				return 2;
			break;
		case '1':
			o->once = 1;
			break;
		case 'j':
			o->json = 1;
			o->once = 1;
			break;
		case 'd':
			if (parse_seconds(optarg, "--duration", &o->duration_s))
				return 2;
			break;
		case 'V':
			if (parse_uint(optarg, "--vm", 0xffffffffull, &n))
				return 2;
			o->vm = (long long)n;
			break;
		case 'r':
			if (parse_uint(optarg, "--rows", 100000, &n))
				return 2;
			o->rows = (unsigned int)n;
			break;
		case 'P':
			o->per_cpu = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "minikvm-top: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return 0;
}

/*
 * Loading BPF and opening tracepoint perf events needs CAP_SYS_ADMIN, or
 * CAP_BPF + CAP_PERFMON (5.8+).  Checked first so that the answer is this
 * message, not an EPERM from deep inside libbpf.
 */
static int check_privileges(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (geteuid() == 0)
		return 0;
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) == 0) {
#define HAS(cap) (data[(cap) / 32].effective & (1u << ((cap) % 32)))
		if (HAS(CAP_SYS_ADMIN) || (HAS(CAP_BPF) && HAS(CAP_PERFMON)))
			return 0;
#undef HAS
	}
	fprintf(stderr, "minikvm-top: needs root (or the capabilities CAP_BPF and CAP_PERFMON)\n"
			"             to load BPF programs and attach them to tracepoints\n");
	return -1;
}

/*
 * The tracepoints must exist before libbpf looks them up, so that a missing
 * module is reported as such.  libbpf 1.1 resolves them under
 * /sys/kernel/debug/tracing when that path exists, else under
 * /sys/kernel/tracing; look where it will.
 */
static int check_tracepoints(void)
{
	const char *root = access("/sys/kernel/debug/tracing", F_OK) == 0 ?
				   "/sys/kernel/debug/tracing" : "/sys/kernel/tracing";
	char path[256];
	unsigned int i, missing = 0;

	snprintf(path, sizeof(path), "%s/events", root);
	if (access(path, F_OK) != 0) {
		fprintf(stderr,
			"minikvm-top: no tracefs at %s (%s)\n"
			"             mount it: mount -t tracefs nodev /sys/kernel/tracing\n",
			root, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/events/minikvm", root);
	if (access(path, F_OK) != 0) {
		fprintf(stderr,
			"minikvm-top: minikvm's tracepoints are not in this kernel (no %s):\n"
			"             is the minikvm module loaded? (lsmod | grep minikvm)\n",
			path);
		return -1;
	}
	for (i = 0; i < NR_EVENTS; i++) {
		snprintf(path, sizeof(path), "%s/events/minikvm/%s/id", root, events[i]);
		if (access(path, R_OK) != 0) {
			fprintf(stderr, "minikvm-top: tracepoint minikvm:%s missing (%s: %s)\n",
				events[i], path, strerror(errno));
			missing++;
		}
	}
	if (missing) {
		fprintf(stderr, "minikvm-top: the loaded minikvm lacks %u of the %zu events of "
				"uapi/minikvm/trace.h: an older module?\n", missing, NR_EVENTS);
		return -1;
	}
	return 0;
}

static int verbose_libbpf;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !verbose_libbpf)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps until `deadline` (CLOCK_MONOTONIC seconds; 0: none) or SIGINT/SIGTERM. */
static void sleep_until(double deadline)
{
	while (!stop) {
		double left = deadline ? deadline - now_s() : 3600;
		struct timespec ts;

		if (left <= 0)
			return;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		ppoll(NULL, 0, &ts, &sleep_mask);	/* EINTR after the handler set stop */
	}
}

static unsigned int table_rows(const struct options *o, unsigned int nvms)
{
	struct winsize ws;
	int lines = 24;

	if (o->rows)
		return o->rows;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0)
		lines = ws.ws_row;
	/* title, VM header, VM lines, blank, event header, "(N more)", prompt */
	lines -= 6 + (int)nvms;
	return lines > 3 ? (unsigned int)lines : 3;
}

struct reader {
	struct minikvm_top_bpf *skel;
	const struct mkt_counters *percpu;
	size_t map_bytes;
	unsigned int ncpus;
	long long vm_filter;
};

/* The runs the kernel skipped of every program (bpf_prog_info.recursion_misses). */
static __u64 prog_misses(const struct reader *r)
{
	struct bpf_program *prog;
	__u64 missed = 0;

	bpf_object__for_each_program(prog, r->skel->obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (!bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
			missed += info.recursion_misses;
	}
	return missed;
}

static void snapshot(const struct reader *r, struct mkt_snapshot *s)
{
	const struct minikvm_top_bpf__bss *bss = r->skel->bss;

	mkt_collect(s, r->percpu, r->ncpus, bss->slot_vm, bss->slot_pid, bss->nr_slots,
		    r->vm_filter);
	s->missed = prog_misses(r);
}

static int run_live(const struct options *o, const struct reader *r)
{
	struct mkt_snapshot *prev = malloc(sizeof(*prev)), *cur = malloc(sizeof(*cur));
	int tty = isatty(STDOUT_FILENO);
	double start = now_s(), last = start, next = start + o->interval_s;

	if (!prev || !cur) {
		fprintf(stderr, "minikvm-top: out of memory\n");
		free(prev);
		free(cur);
		return 1;
	}
	snapshot(r, prev);
	while (!stop) {
		double t, end = o->duration_s > 0 ? start + o->duration_s : 0;
		struct mkt_snapshot *tmp;
		char clock[32];
		time_t wall = time(NULL);

		sleep_until(end && end < next ? end : next);
		if (stop)
			break;
		t = now_s();
		snapshot(r, cur);
		strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&wall));
		if (tty)
			fputs("\033[H\033[2J", stdout);	/* home, clear screen */
		printf("minikvm-top %s  every %.1f s  %u VM%s%s  (Ctrl-C quits)\n\n", clock,
		       o->interval_s, cur->n, cur->n == 1 ? "" : "s",
		       o->vm >= 0 ? " (--vm)" : "");
		mkt_print_table(stdout, prev, cur, t - last, table_rows(o, cur->n));
		if (!tty)
			putchar('\n');
		fflush(stdout);
		tmp = prev;
		prev = cur;
		cur = tmp;
		last = t;
		next += o->interval_s;
		if (next < t)	/* a slow terminal: do not try to catch up */
			next = t + o->interval_s;
		if (end && t >= end)
			break;
	}
	free(prev);
	free(cur);
	return 0;
}

/*
 * --per-cpu: the exits and counter increments each CPU's elements hold, over every
 * slot: where the counting happened (a diagnostic: the totals are their sums).
 */
static void print_per_cpu(const struct reader *r)
{
	unsigned int cpu, slot;
	size_t i;

	fprintf(stderr, "minikvm-top: per CPU (exits/counter increments):");
	for (cpu = 0; cpu < r->ncpus; cpu++) {
		unsigned long long exits = 0, adds = 0;

		for (slot = 0; slot < MKT_SLOTS; slot++) {
			const struct mkt_counters *c = &r->percpu[(size_t)cpu * MKT_SLOTS + slot];

			exits += mkt_exits_total(c);
			for (i = 0; i < MKT_NR_COUNTERS; i++)
				adds += mkt_counter(c, i);
		}
		fprintf(stderr, " cpu%u %llu/%llu", cpu, exits, adds);
	}
	fputc('\n', stderr);
}

static int run_once(const struct options *o, const struct reader *r)
{
	struct mkt_snapshot *s = malloc(sizeof(*s));
	double start = now_s();

	if (!s) {
		fprintf(stderr, "minikvm-top: out of memory\n");
		return 1;
	}
	sleep_until(o->duration_s > 0 ? start + o->duration_s : 0);
	snapshot(r, s);
	if (o->per_cpu)
		print_per_cpu(r);
	if (o->json) {
		mkt_print_json(stdout, s, now_s() - start);
	} else {
		printf("minikvm-top: totals over %.1f s%s\n\n", now_s() - start,
		       o->vm >= 0 ? " (--vm)" : "");
		mkt_print_table(stdout, NULL, s, now_s() - start, o->rows ? o->rows : ~0u);
		if (s->missed)
			printf("\n%llu tracepoint hit(s) in interrupt context not counted: a BPF program was\n"
			       "already running on that CPU (the kernel's bpf_prog_active guard)\n",
			       (unsigned long long)s->missed);
	}
	fflush(stdout);
	free(s);
	return ferror(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct options o;
	struct reader r = { 0 };
	struct sigaction sa;
	sigset_t block;
	int err, ncpus, ret = 1;
	void *mem;

	err = parse_options(argc, argv, &o);
	if (err)
		return err == 1 ? 0 : 2;
	if (check_privileges() || check_tracepoints())
		return 1;

	verbose_libbpf = o.verbose;
	libbpf_set_print(libbpf_print);
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0) {
		fprintf(stderr, "minikvm-top: cannot count the possible CPUs: %s\n", strerror(-ncpus));
		return 1;
	}
	r.ncpus = (unsigned int)ncpus;
	r.vm_filter = o.vm;

	r.skel = minikvm_top_bpf__open();
	if (!r.skel) {
		fprintf(stderr, "minikvm-top: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	/* one element per CPU and slot (minikvm_top.h) */
	err = bpf_map__set_max_entries(r.skel->maps.counters, r.ncpus * MKT_SLOTS);
	if (!err)
		err = minikvm_top_bpf__load(r.skel);
	if (err) {
		fprintf(stderr, "minikvm-top: loading the BPF programs failed: %s\n"
				"             (kernel with BPF and tracepoints? -v shows libbpf's log)\n",
			strerror(-err));
		goto out;
	}
	r.map_bytes = (size_t)bpf_map__value_size(r.skel->maps.counters) * r.ncpus * MKT_SLOTS;
	mem = mmap(NULL, r.map_bytes, PROT_READ, MAP_SHARED, bpf_map__fd(r.skel->maps.counters), 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "minikvm-top: mmap of the counters failed: %s\n", strerror(errno));
		goto out;
	}
	r.percpu = mem;
	err = minikvm_top_bpf__attach(r.skel);
	if (err) {
		fprintf(stderr, "minikvm-top: attaching to the minikvm tracepoints failed: %s\n",
			strerror(-err));
		goto out_unmap;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &sleep_mask);
	/* On stderr, so that scripts know when counting has started (stdout may be JSON). */
	fprintf(stderr, "minikvm-top: counting %zu minikvm tracepoints on %u CPU%s%s\n", NR_EVENTS,
		r.ncpus, r.ncpus == 1 ? "" : "s",
		o.once ? " (SIGINT or SIGTERM prints the totals)" : "");

	ret = o.once ? run_once(&o, &r) : run_live(&o, &r);
out_unmap:
	munmap(mem, r.map_bytes);
out:
	minikvm_top_bpf__destroy(r.skel);
	return ret;
}
