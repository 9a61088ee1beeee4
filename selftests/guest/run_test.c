// SPDX-License-Identifier: GPL-2.0
/*
 * Getting KVM_RUN back to userspace without a guest exit, and going on:
 *
 *  - kvm_run->immediate_exit: KVM_RUN returns -EINTR at once, after
 *    completing a pending IN (the register is written and RIP advanced,
 *    which is what userspace relies on before saving state); it does not
 *    touch exit_reason (KVM 6.1, kvm_arch_vcpu_ioctl_run());
 *  - a signal that userspace catches, sent to the vCPU thread while the
 *    guest spins (from another thread, or from a POSIX timer): KVM_RUN
 *    returns -EINTR with exit_reason KVM_EXIT_INTR, the guest state is where
 *    the guest was, and the next KVM_RUN continues it.  (A signal that is
 *    already pending when KVM_RUN starts also gives -EINTR, before the guest
 *    runs at all; the signals start 20 ms after KVM_RUN so that at least
 *    one of the rounds interrupts a spinning guest.)
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "guest_util.h"

GUEST_SYM(run_blob_start);
GUEST_SYM(run_blob_end);
GUEST_ENTRY(run_in_out);
GUEST_SYM(run_in_out_after_in);
GUEST_ENTRY(run_spin);
GUEST_SYM(run_spin_loop_end);

#define G(sym) GUEST_ADDR(run_blob_start, sym)
#define SPIN_FLAG (MAILBOX_GPA + 8)

FIXTURE(run) {
	struct vm vm;
	struct vcpu v;
};

FIXTURE_SETUP(run)
{
	vm_init(&self->vm);
	vcpu_init_cpuid(&self->vm, &self->v, 0);
	vm_load(&self->vm, CODE_GPA, run_blob_start, run_blob_end);
}

FIXTURE_TEARDOWN(run)
{
	vcpu_close(&self->v);
	vm_close(&self->vm);
}

TEST_F(run, immediate_exit_before_first_run)
{
	struct kvm_regs regs;

	vcpu_mode_long64(&self->v, G(run_in_out), STACK_TOP);
	self->v.run->immediate_exit = 1;
	ASSERT_EQ(-EINTR, vcpu_run(&self->v));
	EXPECT_EQ(KVM_EXIT_UNKNOWN, self->v.run->exit_reason);
	vcpu_get_regs(&self->v, &regs);
	EXPECT_EQ(G(run_in_out), regs.rip);

	self->v.run->immediate_exit = 0;
	ASSERT_TRUE(run_in(&self->v, 1, 0x20, 0xa1));
	ASSERT_TRUE(run_out_val(&self->v, 4, 0x21, 0x556677a1));
	ASSERT_TRUE(run_hlt(&self->v, G(run_in_out_end)));
}

TEST_F(run, immediate_exit_completes_pending_in)
{
	struct kvm_regs regs;

	vcpu_mode_long64(&self->v, G(run_in_out), STACK_TOP);
	ASSERT_TRUE(run_in(&self->v, 1, 0x20, 0xa1));
	self->v.run->immediate_exit = 1;
	ASSERT_EQ(-EINTR, vcpu_run(&self->v));
	EXPECT_EQ(KVM_EXIT_IO, self->v.run->exit_reason);
	vcpu_get_regs(&self->v, &regs);
	EXPECT_EQ(0x556677a1, regs.rax);
	EXPECT_EQ(G(run_in_out_after_in), regs.rip);

	/* still -EINTR while immediate_exit stays set, state unchanged */
	ASSERT_EQ(-EINTR, vcpu_run(&self->v));
	vcpu_get_regs(&self->v, &regs);
	EXPECT_EQ(G(run_in_out_after_in), regs.rip);

	self->v.run->immediate_exit = 0;
	ASSERT_TRUE(run_out_val(&self->v, 4, 0x21, 0x556677a1));
	ASSERT_TRUE(run_hlt(&self->v, G(run_in_out_end)));
}

static volatile sig_atomic_t signals_caught;

static void on_signal(int sig)
{
	signals_caught++;
}

static void catch_signal(int sig)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* no SA_RESTART: KVM_RUN returns -EINTR either way, but be plain */
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		die("sigaction: %s", strerror(errno));
}

struct kicker {
	pthread_t target;
	volatile int stop;
};

/* Signal the vCPU thread every 2 ms, from 20 ms on, until told to stop
 * (the first signal may still come before KVM_RUN enters the guest, or
 * even before KVM_RUN: then the handler runs in userspace and KVM_RUN does
 * not see that one). */
static void *kick(void *arg)
{
	struct kicker *k = arg;

	usleep(20000);
	while (!k->stop) {
		pthread_kill(k->target, SIGUSR1);
		usleep(2000);
	}
	return NULL;
}

/*
 * After -EINTR: KVM_EXIT_INTR, RIP at the start of or inside the loop,
 * RAX counted; the vCPU continues from there when run again, and finishes
 * once the flag is set.  rounds interruptions in a row, each leaving RAX
 * no smaller, at least one of them in the loop.
 */
static void interrupted_spin(struct __test_metadata *_metadata, struct vcpu *v,
			     struct vm *vm, int rounds, void (*start)(void *),
			     void (*stop)(void *), void *ctx)
{
	uint64_t last = 0;
	struct kvm_regs regs;
	uint64_t count;
	int i;

	*(uint32_t *)gpa_ptr(vm, SPIN_FLAG) = 0;
	vcpu_mode_long64(v, G(run_spin), STACK_TOP);
	for (i = 0; i < rounds; i++) {
		int r;

		start(ctx);
		r = vcpu_run(v);
		stop(ctx);
		ASSERT_EQ(-EINTR, r);
		ASSERT_EQ(KVM_EXIT_INTR, v->run->exit_reason);
		vcpu_get_regs(v, &regs);
		EXPECT_GE(regs.rip, G(run_spin));
		EXPECT_LT(regs.rip, G(run_spin_loop_end));
		EXPECT_GE(regs.rax, last);
		last = regs.rax;
	}
	ASSERT_GT(signals_caught, 0);
	EXPECT_GT(last, 0) TH_LOG("the guest never ran between signals");

	*(uint32_t *)gpa_ptr(vm, SPIN_FLAG) = 1;
	ASSERT_TRUE(run_out(v, 4, 0x10, &count));
	EXPECT_GE(count, (uint32_t)last);
	EXPECT_GT(count, 0);
	ASSERT_TRUE(run_hlt(v, G(run_spin_end)));
}

static pthread_t kicker_thread;

static void kicker_start(void *ctx)
{
	struct kicker *k = ctx;

	k->stop = 0;
	k->target = pthread_self();
	if (pthread_create(&kicker_thread, NULL, kick, k))
		die("pthread_create");
}

static void kicker_stop(void *ctx)
{
	struct kicker *k = ctx;

	k->stop = 1;
	pthread_join(kicker_thread, NULL);
}

TEST_F(run, signal_from_another_thread)
{
	struct kicker k;

	catch_signal(SIGUSR1);
	interrupted_spin(_metadata, &self->v, &self->vm, 3,
			 kicker_start, kicker_stop, &k);
}

static void timer_start(void *ctx)
{
	timer_t *t = ctx;
	struct sigevent sev = {
		.sigev_notify = SIGEV_THREAD_ID,
		.sigev_signo = SIGUSR2,
	};
	struct itimerspec its = {
		.it_value = { .tv_nsec = 20000000 },
		.it_interval = { .tv_nsec = 2000000 },
	};

	sev._sigev_un._tid = syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &sev, t))
		die("timer_create: %s", strerror(errno));
	if (timer_settime(*t, 0, &its, NULL))
		die("timer_settime: %s", strerror(errno));
}

static void timer_stop(void *ctx)
{
	timer_t *t = ctx;

	timer_delete(*t);
}

TEST_F(run, signal_from_timer)
{
	timer_t t;

	catch_signal(SIGUSR2);
	interrupted_spin(_metadata, &self->v, &self->vm, 3, timer_start,
			 timer_stop, &t);
}

TEST_HARNESS_MAIN
