/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host side of the local APIC suites: a VM with the full in-kernel
 * irqchip (KVM_CREATE_IRQCHIP before any vCPU), the guest library's
 * interrupt stubs in the IDT, per-CPU areas at GS base, and a runner that
 * follows a guest's reports (apic_layout.h ports, the exception stubs of
 * guest_isr.S) until it is done, fails, stops for a sync, or times out.
 *
 * With an in-kernel LAPIC, HLT does not exit to userspace, so guests
 * report by OUT and every KVM_RUN runs under a watchdog: a per-thread
 * POSIX timer sends SIGUSR1 (caught, no SA_RESTART) to the running
 * thread, KVM_RUN returns -EINTR and the run ends as timed out.
 *
 * Static functions: each suite includes this once.
 */
#ifndef APIC_UTIL_H
#define APIC_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "guest_util.h"
#include "apic_layout.h"

#define GRUN_MAX_EXC	32
#define GRUN_MAX_LOG	64

struct gexc {
	uint32_t vector, error;
	uint64_t rip;
};

/* What one vCPU did in a run (accumulates over continued runs). */
struct grun {
	int error;		/* 0, -errno of KVM_RUN, or -ETIMEDOUT */
	int port;		/* PORT_DONE/FAIL/SYNC that stopped it, or -1 */
	uint32_t value;		/* its value */
	int nexc;
	struct gexc exc[GRUN_MAX_EXC];
	int nlog;
	uint32_t log[GRUN_MAX_LOG];
	char why[256];		/* how the run ended, for TH_LOG */
};

static __attribute__((unused)) void apic_sig_nop(int sig)
{
	(void)sig;
}

static __attribute__((unused)) void apic_watchdog_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = apic_sig_nop;	/* no SA_RESTART: KVM_RUN gets -EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		die("sigaction: %s", strerror(errno));
}

static __attribute__((unused)) bool timer_expired(timer_t t)
{
	struct itimerspec its;

	if (timer_gettime(t, &its))
		return true;
	return its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0;
}

/*
 * Run the vCPU until it reports PORT_DONE, PORT_FAIL or PORT_SYNC (which
 * is returned), an exception it cannot resume from, another exit, an error
 * or timeout_ms of wall time; -1 for the latter.  PORT_LOG values and
 * exception reports are recorded and the run goes on.
 */
static __attribute__((unused)) int grun(struct vcpu *v, struct grun *g, int timeout_ms)
{
	struct kvm_run *run = v->run;
	struct sigevent sev;
	struct itimerspec its;
	timer_t t;
	int r;

	g->port = -1;
	g->error = 0;
	snprintf(g->why, sizeof(g->why), "vCPU %d: still running", v->id);
	apic_watchdog_install();
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGUSR1;
	sev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, &t))
		die("timer_create: %s", strerror(errno));
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = timeout_ms / 1000;
	its.it_value.tv_nsec = (timeout_ms % 1000) * 1000000L;
	timer_settime(t, 0, &its, NULL);

	for (;;) {
		uint32_t val = 0;

		if (timer_expired(t)) {
			g->error = -ETIMEDOUT;
			snprintf(g->why, sizeof(g->why),
				 "vCPU %d: no report within %d ms", v->id, timeout_ms);
			break;
		}
		r = vcpu_run(v);
		if (r == -EINTR && timer_expired(t)) {
			g->error = -ETIMEDOUT;
			snprintf(g->why, sizeof(g->why),
				 "vCPU %d: no report within %d ms (KVM_RUN interrupted)",
				 v->id, timeout_ms);
			break;
		}
		if (r) {
			g->error = r;
			snprintf(g->why, sizeof(g->why), "vCPU %d: KVM_RUN: %s",
				 v->id, strerror(-r));
			break;
		}
		if (run->exit_reason != KVM_EXIT_IO ||
		    run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 ||
		    run->io.count != 1) {
			describe_exit(v, "unexpected exit");
			snprintf(g->why, sizeof(g->why),
				 "vCPU %d: unexpected exit %u (%s)", v->id,
				 run->exit_reason, exit_reason_name(run->exit_reason));
			break;
		}
		memcpy(&val, io_data(v), 4);
		if (run->io.port == PORT_EXC_VECTOR) {
			if (g->nexc < GRUN_MAX_EXC)
				g->exc[g->nexc].vector = val;
			g->nexc++;
			continue;
		}
		if (run->io.port == PORT_EXC_ERROR) {
			if (g->nexc && g->nexc <= GRUN_MAX_EXC)
				g->exc[g->nexc - 1].error = val;
			continue;
		}
		if (run->io.port == PORT_EXC_RIP) {
			if (g->nexc && g->nexc <= GRUN_MAX_EXC)
				g->exc[g->nexc - 1].rip = val;
			if (*(uint64_t *)gpa_ptr(v->vm, FIXUP_GPA))
				continue;
			snprintf(g->why, sizeof(g->why),
				 "vCPU %d: unexpected exception %u error 0x%x at rip 0x%x",
				 v->id, g->exc[g->nexc - 1].vector,
				 g->exc[g->nexc - 1].error, val);
			break;
		}
		if (run->io.port == PORT_LOG) {
			if (g->nlog < GRUN_MAX_LOG)
				g->log[g->nlog] = val;
			g->nlog++;
			continue;
		}
		if (run->io.port == PORT_DONE || run->io.port == PORT_SYNC) {
			g->port = run->io.port;
			g->value = val;
			snprintf(g->why, sizeof(g->why), "vCPU %d: %s %u", v->id,
				 run->io.port == PORT_DONE ? "done" : "sync", val);
			break;
		}
		if (run->io.port == PORT_FAIL) {
			g->port = PORT_FAIL;
			g->value = val;
			snprintf(g->why, sizeof(g->why),
				 "vCPU %d: guest check failed at line %u of the suite's _guest.S",
				 v->id, val);
			break;
		}
		describe_exit(v, "unexpected OUT");
		snprintf(g->why, sizeof(g->why), "vCPU %d: unexpected OUT to port 0x%x",
			 v->id, run->io.port);
		break;
	}
	timer_delete(t);
	return g->port;
}

/* Stopped at this port (PORT_DONE, PORT_SYNC), else log how it ended. */
#define ASSERT_STOP(g, p) ASSERT_EQ((p), (g)->port) TH_LOG("%s", (g)->why)
#define ASSERT_DONE(g) ASSERT_STOP(g, PORT_DONE)

struct apic_vm {
	struct vm vm;
	struct vcpu v[2];
	int n;
	const uint8_t *blob;
};

static __attribute__((unused)) void apic_vm_create(struct vm *vm)
{
	long r;

	vm_init(vm);
	r = kvm_ioctl(vm->fd, KVM_CREATE_IRQCHIP, NULL);
	if (r)
		die("KVM_CREATE_IRQCHIP: %s", strerror(-r));
}

static __attribute__((unused)) bool apic_has_cap(struct vm *vm, long cap)
{
	return kvm_ioctl(vm->sys_fd, KVM_CHECK_EXTENSION, (void *)cap) > 0;
}

static __attribute__((unused)) bool dev_has_cap(long cap)
{
	int fd = open(kvm_dev_path(), O_RDWR | O_CLOEXEC);
	bool r;

	if (fd < 0)
		die("open %s: %s", kvm_dev_path(), strerror(errno));
	r = kvm_ioctl(fd, KVM_CHECK_EXTENSION, (void *)cap) > 0;
	close(fd);
	return r;
}

static __attribute__((unused)) struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t fn,
					   uint32_t idx)
{
	uint32_t i;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn &&
		    (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		     c->entries[i].index == idx))
			return &c->entries[i];
	return NULL;
}

/*
 * VM with the in-kernel irqchip and n vCPUs with these ids (0, 1... if
 * ids is NULL), each with KVM_GET_SUPPORTED_CPUID plus ecx1_or in leaf 1
 * ECX; the blob at CODE_GPA; exception stubs for vectors 0..31 and the
 * blob's apic_irq_stubs for 2 and 32..255; TSC_PER_US_GPA from
 * KVM_GET_TSC_KHZ; per-CPU areas.  Guests start with apic_vcpu_start().
 */
static __attribute__((unused)) void apic_vm_setup(struct apic_vm *a, const uint8_t *blob,
			  const uint8_t *blob_end, const uint8_t *stubs, int n,
			  const int *ids, uint32_t ecx1_or)
{
	uint64_t stub0 = GUEST_ADDR(blob, stubs);
	struct kvm_cpuid2 *c;
	long khz;
	int i, vec;

	memset(a, 0, sizeof(*a));
	a->n = n;
	a->blob = blob;
	apic_vm_create(&a->vm);
	c = supported_cpuid(&a->vm);
	if (ecx1_or) {
		struct kvm_cpuid_entry2 *e = cpuid_find(c, 1, 0);

		if (!e)
			die("no CPUID leaf 1 in KVM_GET_SUPPORTED_CPUID");
		e->ecx |= ecx1_or;
	}
	for (i = 0; i < n; i++) {
		vcpu_init(&a->vm, &a->v[i], ids ? ids[i] : i);
		vcpu_set_cpuid(&a->v[i], c);
	}
	free(c);
	vm_load(&a->vm, CODE_GPA, blob, blob_end);
	vm_install_idt64(&a->vm, 0xffffffffu);
	vm_set_idt_gate64(&a->vm, 2, stub0 + 16 * 2);
	for (vec = 32; vec < 256; vec++)
		vm_set_idt_gate64(&a->vm, vec, stub0 + 16 * vec);
	khz = kvm_ioctl(a->v[0].fd, KVM_GET_TSC_KHZ, NULL);
	/* Without KVM_GET_TSC_KHZ, assume 3 GHz: waits only get longer. */
	*(uint64_t *)gpa_ptr(&a->vm, TSC_PER_US_GPA) = khz > 0 ? (khz + 999) / 1000 : 3000;
	for (i = 0; i < n; i++)
		*(uint64_t *)gpa_ptr(&a->vm, PERCPU(i) + PC_SELF) = PERCPU(i);
}

static __attribute__((unused)) void apic_vm_teardown(struct apic_vm *a)
{
	int i;

	for (i = 0; i < a->n; i++)
		vcpu_close(&a->v[i]);
	vm_close(&a->vm);
}

/*
 * vCPU i in 64-bit mode at rip, its own stack, GS base = PERCPU(i), and
 * KVM_MP_STATE_RUNNABLE: with an in-kernel irqchip every vCPU but the BSP
 * starts in KVM_MP_STATE_UNINITIALIZED, where KVM_RUN waits for INIT/SIPI
 * (the upstream selftests' library sets RUNNABLE the same way).
 */
static __attribute__((unused)) void apic_vcpu_start(struct apic_vm *a, int i, uint64_t rip)
{
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
	struct kvm_sregs sregs;
	long r;

	r = kvm_ioctl(a->v[i].fd, KVM_SET_MP_STATE, &mp);
	if (r)
		die("KVM_SET_MP_STATE vCPU %d: %s", a->v[i].id, strerror(-r));

	vcpu_mode_long64(&a->v[i], rip, i ? STACK1_TOP : STACK_TOP);
	vcpu_get_sregs(&a->v[i], &sregs);
	sregs.gs.base = PERCPU(i);
	vcpu_set_sregs(&a->v[i], &sregs);
}

static __attribute__((unused)) uint8_t *pc_area(struct apic_vm *a, int i)
{
	return gpa_ptr(&a->vm, PERCPU(i));
}

static __attribute__((unused)) uint32_t pc_count(struct apic_vm *a, int i, int vec)
{
	return ((uint32_t *)(pc_area(a, i) + PC_COUNT))[vec];
}

static __attribute__((unused)) uint64_t pc_res(struct apic_vm *a, int i, int idx)
{
	return ((uint64_t *)(pc_area(a, i) + PC_RES))[idx];
}

static __attribute__((unused)) uint32_t pc_u32(struct apic_vm *a, int i, int off)
{
	return *(uint32_t *)(pc_area(a, i) + off);
}

static __attribute__((unused)) uint64_t pc_u64(struct apic_vm *a, int i, int off)
{
	return *(uint64_t *)(pc_area(a, i) + off);
}

static __attribute__((unused)) void pc_set_u64(struct apic_vm *a, int i, int off, uint64_t val)
{
	*(uint64_t *)(pc_area(a, i) + off) = val;
}

static __attribute__((unused)) uint32_t pc_log(struct apic_vm *a, int i, int idx)
{
	return ((uint32_t *)(pc_area(a, i) + PC_LOG))[idx];
}

static __attribute__((unused)) uint64_t pc_riplog(struct apic_vm *a, int i, int idx)
{
	return ((uint64_t *)(pc_area(a, i) + PC_RIPLOG))[idx];
}

static __attribute__((unused)) uint64_t pc_tsclog(struct apic_vm *a, int i, int idx)
{
	return ((uint64_t *)(pc_area(a, i) + PC_TSCLOG))[idx];
}

static __attribute__((unused)) uint64_t tsc_per_us(struct apic_vm *a)
{
	return *(uint64_t *)gpa_ptr(&a->vm, TSC_PER_US_GPA);
}

/* Several vCPUs, each run by its own thread until it stops. */
struct vthread {
	struct vcpu *v;
	struct grun *g;
	int timeout_ms;
	pthread_t t;
};

static __attribute__((unused)) void *vthread_fn(void *arg)
{
	struct vthread *t = arg;

	grun(t->v, t->g, t->timeout_ms);
	return NULL;
}

/* Run vCPUs 0..n-1 of a concurrently, each into g[i]; 0 or an errno. */
static __attribute__((unused)) int apic_run_all(struct apic_vm *a, struct grun *g, int timeout_ms)
{
	struct vthread t[2];
	int i, r;

	for (i = 0; i < a->n; i++) {
		t[i] = (struct vthread){ .v = &a->v[i], .g = &g[i],
					 .timeout_ms = timeout_ms };
		r = pthread_create(&t[i].t, NULL, vthread_fn, &t[i]);
		if (r)
			return r;
	}
	for (i = 0; i < a->n; i++)
		pthread_join(t[i].t, NULL);
	return 0;
}

#endif /* APIC_UTIL_H */
