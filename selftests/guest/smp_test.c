// SPDX-License-Identifier: GPL-2.0
/*
 * Two vCPUs of one VM, each run by its own thread, with different code in
 * the same memory: they see each other's stores (a handshake through
 * guest memory) and each gets its own exits, in its own kvm_run.
 *
 * The vCPU threads only record what happens (the harness's ASSERTs must
 * stay in the test's own thread); the test checks the records after
 * joining them.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "kselftest_harness.h"
#include "guest_util.h"

GUEST_SYM(smp_blob_start);
GUEST_SYM(smp_blob_end);
GUEST_ENTRY(smp_cpu0);
GUEST_ENTRY(smp_cpu1);
GUEST_ENTRY(smp_count);

#define G(sym) GUEST_ADDR(smp_blob_start, sym)

#define MAX_EXITS 2048

struct exit_rec {
	uint32_t reason;
	uint16_t port;
	uint8_t size, dir;
	uint32_t count;
	uint32_t value;
};

struct vcpu_thread {
	struct vcpu v;
	pthread_t thread;
	int n;
	int error;		/* KVM_RUN's -errno, or 0 */
	uint64_t hlt_rip;
	struct exit_rec rec[MAX_EXITS];
};

/* Run to the first exit that is not IO (normally HLT), recording all. */
static void *vcpu_thread_fn(void *arg)
{
	struct vcpu_thread *t = arg;
	struct kvm_run *run = t->v.run;

	while (t->n < MAX_EXITS) {
		struct exit_rec *r = &t->rec[t->n++];
		int err = vcpu_run(&t->v);

		if (err) {
			t->error = err;
			break;
		}
		r->reason = run->exit_reason;
		if (run->exit_reason != KVM_EXIT_IO)
			break;
		r->port = run->io.port;
		r->size = run->io.size;
		r->dir = run->io.direction;
		r->count = run->io.count;
		memcpy(&r->value, io_data(&t->v), run->io.size <= 4 ? run->io.size : 4);
	}
	{
		struct kvm_regs regs;

		vcpu_get_regs(&t->v, &regs);
		t->hlt_rip = regs.rip;
	}
	return NULL;
}

FIXTURE(smp) {
	struct vm vm;
	struct vcpu_thread t[2];
};

FIXTURE_SETUP(smp)
{
	int i;

	vm_init(&self->vm);
	for (i = 0; i < 2; i++)
		vcpu_init_cpuid(&self->vm, &self->t[i].v, i);
	vm_load(&self->vm, CODE_GPA, smp_blob_start, smp_blob_end);
}

FIXTURE_TEARDOWN(smp)
{
	vcpu_close(&self->t[0].v);
	vcpu_close(&self->t[1].v);
	vm_close(&self->vm);
}

static void run_both(struct __test_metadata *_metadata, struct vcpu_thread *t)
{
	int i;

	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&t[i].thread, NULL, vcpu_thread_fn, &t[i]));
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_join(t[i].thread, NULL));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, t[i].error) TH_LOG("vCPU %d: KVM_RUN: %s", i,
						strerror(-t[i].error));
		ASSERT_EQ(KVM_EXIT_HLT, t[i].rec[t[i].n - 1].reason)
			TH_LOG("vCPU %d ended with exit %u (%s)", i,
			       t[i].rec[t[i].n - 1].reason,
			       exit_reason_name(t[i].rec[t[i].n - 1].reason));
	}
}

static void expect_out(struct __test_metadata *_metadata, const struct exit_rec *r,
		       uint16_t port, uint32_t value)
{
	EXPECT_EQ(KVM_EXIT_IO, r->reason);
	EXPECT_EQ(KVM_EXIT_IO_OUT, r->dir);
	EXPECT_EQ(4, r->size);
	EXPECT_EQ(1, r->count);
	EXPECT_EQ(port, r->port);
	EXPECT_EQ(value, r->value);
}

TEST_F(smp, handshake_through_memory)
{
	struct vcpu_thread *t = self->t;

	vcpu_mode_long64(&t[0].v, G(smp_cpu0), STACK_TOP);
	vcpu_mode_long64(&t[1].v, G(smp_cpu1), STACK1_TOP);
	run_both(_metadata, t);

	ASSERT_EQ(3, t[0].n);
	expect_out(_metadata, &t[0].rec[0], 0x10, 0xc0c0c0c0);
	expect_out(_metadata, &t[0].rec[1], 0x11, 0x22222222);
	EXPECT_EQ(G(smp_cpu0_end), t[0].hlt_rip);

	ASSERT_EQ(2, t[1].n);
	expect_out(_metadata, &t[1].rec[0], 0x20, 0x11111111);
	EXPECT_EQ(G(smp_cpu1_end), t[1].hlt_rip);

	EXPECT_EQ(0x11111111, *(uint32_t *)gpa_ptr(&self->vm, DATA_GPA));
	EXPECT_EQ(0x22222222, *(uint32_t *)gpa_ptr(&self->vm, DATA_GPA + 4));
}

/* Many exits on both vCPUs at once: each sees only its own, in order. */
TEST_F(smp, concurrent_exits)
{
	const uint32_t n = 500;
	struct vcpu_thread *t = self->t;
	struct kvm_regs regs;
	uint32_t i;
	int c;

	for (c = 0; c < 2; c++) {
		vcpu_mode_long64(&t[c].v, G(smp_count), c ? STACK1_TOP : STACK_TOP);
		vcpu_get_regs(&t[c].v, &regs);
		regs.rcx = n;
		regs.rdx = 0x100 + c;
		vcpu_set_regs(&t[c].v, &regs);
	}
	run_both(_metadata, t);
	for (c = 0; c < 2; c++) {
		ASSERT_EQ(n + 1, t[c].n);
		for (i = 0; i < n; i++)
			expect_out(_metadata, &t[c].rec[i], 0x100 + c, i);
		EXPECT_EQ(G(smp_count_end), t[c].hlt_rip);
	}
}

TEST_HARNESS_MAIN
