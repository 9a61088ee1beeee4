// SPDX-License-Identifier: GPL-2.0
/*
 * INIT and STARTUP IPIs with the full in-kernel irqchip: vCPU 0 (the BSP,
 * run by the test's thread) sends them through the xAPIC ICR
 * (initsipi_guest.S) to vCPU 1, the AP, run by its own thread from the
 * start.  The AP thread records every return of KVM_RUN with the
 * KVM_GET_MP_STATE that follows it; the BSP stops at PORT_SYNC points
 * where the test waits for the AP to get somewhere, so the order of
 * events is fixed.  The AP runs real-mode code at vector << 12 that
 * reports how often it started and its CS.
 *
 * KVM behaviour pinned down (Linux 6.1, kvm_arch_vcpu_ioctl_run() and
 * kvm_apic_accept_events()):
 *  - with an in-kernel irqchip a vCPU other than the BSP starts in
 *    KVM_MP_STATE_UNINITIALIZED, the BSP in KVM_MP_STATE_RUNNABLE;
 *  - KVM_RUN of an UNINITIALIZED vCPU blocks until an INIT or SIPI is
 *    pending, processes it and returns -EAGAIN (no exit reason); an INIT
 *    leaves it in KVM_MP_STATE_INIT_RECEIVED, a SIPI without INIT is
 *    dropped (still UNINITIALIZED);
 *  - KVM_RUN of an INIT_RECEIVED vCPU waits in the kernel for the SIPI,
 *    then runs in real mode at CS = vector << 8 (base vector << 12),
 *    IP 0: KVM_MP_STATE_RUNNABLE; a later SIPI is ignored;
 *  - INIT de-assert (level-triggered, level 0) is ignored;
 *  - INIT to a running AP, then SIPI, restart it at the new vector
 *    without KVM_RUN returning to userspace in between.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <stdatomic.h>

#include "kselftest_harness.h"
#include "apic_util.h"

GUEST_SYM(isg_blob_start);
GUEST_SYM(isg_blob_end);
GUEST_SYM(apic_irq_stubs);
GUEST_SYM(isg_start);
GUEST_SYM(isg_stray_sipi);
GUEST_SYM(isg_restart);
GUEST_SYM(isg_tramp);
GUEST_SYM(isg_tramp_end);

#define G(sym) GUEST_ADDR(isg_blob_start, sym)

/* initsipi_guest.S */
#define AP_PORT_START	0x30
#define AP_PORT_CS	0x31
#define AP_PORT_DONE	0x3f

#define RUN_MS		20000
#define WAIT_MS		10000
#define MAX_REC		32

struct ap_rec {
	int r;			/* KVM_RUN: 0 or -errno */
	uint32_t reason;	/* exit_reason if r == 0 */
	uint16_t port;
	uint8_t size, dir;
	uint32_t value;
	uint32_t mp;		/* KVM_GET_MP_STATE after it */
};

struct ap_thread {
	struct vcpu *v;
	pthread_t t;
	atomic_int n;		/* records published so far */
	struct ap_rec rec[MAX_REC];
	char why[160];
};

static uint32_t mp_state(struct vcpu *v)
{
	struct kvm_mp_state mp = { .mp_state = ~0u };

	if (kvm_ioctl(v->fd, KVM_GET_MP_STATE, &mp))
		return ~0u;
	return mp.mp_state;
}

/* Run the AP, recording each KVM_RUN, until it reports AP_PORT_DONE. */
static void *ap_fn(void *arg)
{
	struct ap_thread *ap = arg;
	struct kvm_run *run = ap->v->run;
	struct sigevent sev;
	struct itimerspec its;
	timer_t t;

	snprintf(ap->why, sizeof(ap->why), "AP: still running");
	apic_watchdog_install();
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGUSR1;
	sev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, &t)) {
		snprintf(ap->why, sizeof(ap->why), "AP: timer_create failed");
		return NULL;
	}
	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = RUN_MS / 1000;
	timer_settime(t, 0, &its, NULL);

	for (;;) {
		int n = atomic_load(&ap->n);
		struct ap_rec *r = &ap->rec[n];

		if (n == MAX_REC) {
			snprintf(ap->why, sizeof(ap->why), "AP: too many exits");
			break;
		}
		if (timer_expired(t)) {
			snprintf(ap->why, sizeof(ap->why), "AP: not done within %d ms", RUN_MS);
			break;
		}
		memset(r, 0, sizeof(*r));
		r->r = vcpu_run(ap->v);
		if (!r->r) {
			r->reason = run->exit_reason;
			if (run->exit_reason == KVM_EXIT_IO) {
				r->port = run->io.port;
				r->size = run->io.size;
				r->dir = run->io.direction;
				memcpy(&r->value, io_data(ap->v),
				       run->io.size <= 4 ? run->io.size : 4);
			}
		}
		r->mp = mp_state(ap->v);
		atomic_store(&ap->n, n + 1);
		if (r->r == -EAGAIN)
			continue;
		if (r->r) {
			snprintf(ap->why, sizeof(ap->why), "AP: KVM_RUN: %s", strerror(-r->r));
			break;
		}
		if (run->exit_reason == KVM_EXIT_IO && r->dir == KVM_EXIT_IO_OUT &&
		    (r->port == AP_PORT_START || r->port == AP_PORT_CS))
			continue;
		if (run->exit_reason == KVM_EXIT_IO && r->port == AP_PORT_DONE) {
			snprintf(ap->why, sizeof(ap->why), "AP: done");
			break;
		}
		describe_exit(ap->v, "AP: unexpected exit");
		snprintf(ap->why, sizeof(ap->why), "AP: unexpected exit %u (%s)",
			 run->exit_reason, exit_reason_name(run->exit_reason));
		break;
	}
	timer_delete(t);
	return NULL;
}

/* Wait until the AP has a record from index `from` on matching the
 * arguments (r, and mp or port/value); its index, or -1. */
static int ap_wait(struct ap_thread *ap, int from, int r, uint32_t mp,
		   int port, uint32_t value)
{
	int waited, i;

	for (waited = 0; waited < WAIT_MS; waited++) {
		int n = atomic_load(&ap->n);

		for (i = from; i < n; i++) {
			const struct ap_rec *x = &ap->rec[i];

			if (r && x->r == r && x->mp == mp)
				return i;
			if (!r && !x->r && x->reason == KVM_EXIT_IO &&
			    x->port == port && x->value == value)
				return i;
		}
		usleep(1000);
	}
	return -1;
}

static void log_ap(struct __test_metadata *_metadata, struct ap_thread *ap)
{
	int i, n = atomic_load(&ap->n);

	TH_LOG("%s; %d KVM_RUN returns:", ap->why, n);
	for (i = 0; i < n; i++)
		TH_LOG("  r %d exit %u port 0x%x size %u value 0x%x mp_state %u",
		       ap->rec[i].r, ap->rec[i].reason, ap->rec[i].port,
		       ap->rec[i].size, ap->rec[i].value, ap->rec[i].mp);
}

FIXTURE(is) {
	struct apic_vm a;
	struct grun g;
	struct ap_thread ap;
	bool ap_started;
};

FIXTURE_SETUP(is)
{
	apic_vm_setup(&self->a, isg_blob_start, isg_blob_end, apic_irq_stubs, 2,
		      NULL, 0);
	vm_load(&self->a.vm, 0x50000, isg_tramp, isg_tramp_end);
	vm_load(&self->a.vm, 0x60000, isg_tramp, isg_tramp_end);
	memset(&self->g, 0, sizeof(self->g));
	memset(&self->ap, 0, sizeof(self->ap));
	self->ap.v = &self->a.v[1];
}

FIXTURE_TEARDOWN(is)
{
	if (self->ap_started)
		pthread_join(self->ap.t, NULL);
	apic_vm_teardown(&self->a);
}

static void start_both(struct __test_metadata *_metadata, FIXTURE_DATA(is) *self,
		       uint64_t bsp_rip)
{
	EXPECT_EQ(KVM_MP_STATE_RUNNABLE, mp_state(&self->a.v[0]));
	EXPECT_EQ(KVM_MP_STATE_UNINITIALIZED, mp_state(&self->a.v[1]));
	apic_vcpu_start(&self->a, 0, bsp_rip);
	ASSERT_EQ(0, pthread_create(&self->ap.t, NULL, ap_fn, &self->ap));
	self->ap_started = true;
}

/* Run the BSP to its sync n, then wait for the AP as given. */
#define BSP_TO_SYNC(n) do { \
	grun(&self->a.v[0], &self->g, RUN_MS); \
	ASSERT_STOP(&self->g, PORT_SYNC); \
	ASSERT_EQ((n), self->g.value); \
} while (0)

#define AP_WAIT(...) do { \
	int _i = ap_wait(&self->ap, 0, __VA_ARGS__); \
	if (_i < 0) \
		log_ap(_metadata, &self->ap); \
	ASSERT_LE(0, _i); \
} while (0)

static void expect_rec_mp(struct __test_metadata *_metadata, struct ap_thread *ap,
			  int i, int r, uint32_t mp)
{
	ASSERT_LT(i, atomic_load(&ap->n));
	EXPECT_EQ(r, ap->rec[i].r) TH_LOG("AP KVM_RUN #%d", i);
	EXPECT_EQ(mp, ap->rec[i].mp) TH_LOG("AP KVM_RUN #%d", i);
}

static void expect_rec_out(struct __test_metadata *_metadata, struct ap_thread *ap,
			   int i, uint16_t port, uint32_t value)
{
	ASSERT_LT(i, atomic_load(&ap->n));
	EXPECT_EQ(0, ap->rec[i].r) TH_LOG("AP KVM_RUN #%d", i);
	EXPECT_EQ(KVM_EXIT_IO, ap->rec[i].reason) TH_LOG("AP KVM_RUN #%d", i);
	EXPECT_EQ(KVM_EXIT_IO_OUT, ap->rec[i].dir) TH_LOG("AP KVM_RUN #%d", i);
	EXPECT_EQ(2, ap->rec[i].size) TH_LOG("AP KVM_RUN #%d", i);
	EXPECT_EQ(port, ap->rec[i].port) TH_LOG("AP KVM_RUN #%d", i);
	EXPECT_EQ(value, ap->rec[i].value) TH_LOG("AP KVM_RUN #%d", i);
	EXPECT_EQ(KVM_MP_STATE_RUNNABLE, ap->rec[i].mp) TH_LOG("AP KVM_RUN #%d", i);
}

/* After the BSP's last sync: it finishes, the AP reports done. */
static void finish(struct __test_metadata *_metadata, FIXTURE_DATA(is) *self,
		   int nrec, uint16_t cs)
{
	struct kvm_sregs sregs;

	grun(&self->a.v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	pthread_join(self->ap.t, NULL);
	self->ap_started = false;
	if (atomic_load(&self->ap.n) != nrec)
		log_ap(_metadata, &self->ap);
	ASSERT_EQ(nrec, atomic_load(&self->ap.n));
	EXPECT_EQ(KVM_MP_STATE_RUNNABLE, mp_state(&self->a.v[1]));
	EXPECT_EQ(KVM_MP_STATE_RUNNABLE, mp_state(&self->a.v[0]));
	vcpu_get_sregs(&self->a.v[1], &sregs);
	EXPECT_EQ(cs, sregs.cs.selector);
	EXPECT_EQ((uint64_t)cs << 4, sregs.cs.base);
	EXPECT_EQ(0, sregs.cr0 & X86_CR0_PE);
	EXPECT_EQ(0, sregs.efer & X86_EFER_LMA);
}

TEST_F_TIMEOUT(is, init_sipi_starts_ap, 90)
{
	struct ap_thread *ap = &self->ap;

	start_both(_metadata, self, G(isg_start));
	BSP_TO_SYNC(1);				/* INIT assert + de-assert sent */
	AP_WAIT(-EAGAIN, KVM_MP_STATE_INIT_RECEIVED, 0, 0);
	BSP_TO_SYNC(2);				/* SIPI 0x50 sent */
	AP_WAIT(0, 0, AP_PORT_START, 1);
	finish(_metadata, self, 4, 0x5000);	/* second SIPI ignored */
	expect_rec_mp(_metadata, ap, 0, -EAGAIN, KVM_MP_STATE_INIT_RECEIVED);
	expect_rec_out(_metadata, ap, 1, AP_PORT_START, 1);
	expect_rec_out(_metadata, ap, 2, AP_PORT_CS, 0x5000);
	expect_rec_out(_metadata, ap, 3, AP_PORT_DONE, 1);
}

TEST_F_TIMEOUT(is, sipi_without_init_is_dropped, 90)
{
	struct ap_thread *ap = &self->ap;

	start_both(_metadata, self, G(isg_stray_sipi));
	BSP_TO_SYNC(1);				/* SIPI 0x60 sent */
	AP_WAIT(-EAGAIN, KVM_MP_STATE_UNINITIALIZED, 0, 0);
	BSP_TO_SYNC(2);				/* INIT sent */
	AP_WAIT(-EAGAIN, KVM_MP_STATE_INIT_RECEIVED, 0, 0);
	BSP_TO_SYNC(3);				/* SIPI 0x50 sent */
	AP_WAIT(0, 0, AP_PORT_START, 1);
	finish(_metadata, self, 5, 0x5000);
	expect_rec_mp(_metadata, ap, 0, -EAGAIN, KVM_MP_STATE_UNINITIALIZED);
	expect_rec_mp(_metadata, ap, 1, -EAGAIN, KVM_MP_STATE_INIT_RECEIVED);
	expect_rec_out(_metadata, ap, 2, AP_PORT_START, 1);
	expect_rec_out(_metadata, ap, 3, AP_PORT_CS, 0x5000);
	expect_rec_out(_metadata, ap, 4, AP_PORT_DONE, 1);
}

TEST_F_TIMEOUT(is, init_sipi_restarts_running_ap, 90)
{
	struct ap_thread *ap = &self->ap;

	start_both(_metadata, self, G(isg_restart));
	BSP_TO_SYNC(1);
	AP_WAIT(-EAGAIN, KVM_MP_STATE_INIT_RECEIVED, 0, 0);
	BSP_TO_SYNC(2);
	AP_WAIT(0, 0, AP_PORT_START, 1);
	BSP_TO_SYNC(3);				/* INIT + SIPI 0x60 sent */
	AP_WAIT(0, 0, AP_PORT_START, 2);
	finish(_metadata, self, 6, 0x6000);
	expect_rec_mp(_metadata, ap, 0, -EAGAIN, KVM_MP_STATE_INIT_RECEIVED);
	expect_rec_out(_metadata, ap, 1, AP_PORT_START, 1);
	expect_rec_out(_metadata, ap, 2, AP_PORT_CS, 0x5000);
	expect_rec_out(_metadata, ap, 3, AP_PORT_START, 2);
	expect_rec_out(_metadata, ap, 4, AP_PORT_CS, 0x6000);
	expect_rec_out(_metadata, ap, 5, AP_PORT_DONE, 2);
}

TEST_HARNESS_MAIN
