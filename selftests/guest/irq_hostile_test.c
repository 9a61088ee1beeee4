// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile guest against the in-kernel irqchip: 2-4 vCPUs (default 3),
 * each in its own thread, write random values to every LAPIC register
 * (xAPIC page), to the IOAPIC (IOREGSEL and IOWIN), to the PIC and ELCR
 * ports and to the PIT ports, read them back, and send bursts of IPIs to
 * all vCPUs (shorthand "all including self"), while the test raises random
 * GSIs and MSIs from the host.  Nothing is checked about the guest's
 * view: the test requires only that every KVM_RUN returns (0, or -EINTR
 * when the test kicks a vCPU that waits, e.g. halted with IF = 0 in a
 * fault stub), that the host ioctls keep working, and that the VM can be
 * torn down; afterwards a fresh VM must still run the agent.
 *
 * Values are random except where they would stop the machine rather than
 * the guest: delivery modes SMI, INIT, SIPI and the reserved ones (in ICR,
 * LVTs and redirection entries) become fixed, since SMM code or a
 * real-mode AP spinning in zeroed memory with IF = 0 never exits and
 * hangs Bochs 2.7 (selftests/guest/README.md); vectors below 32 get 32
 * added, and bytes written to 0x21/0xa1 get bit 5 (an ICW2 vector base
 * below 0x20 would send PIC interrupts to the exception stubs).  Faults end in guest_isr.S's stubs (report, then HLT with
 * IF = 0: the vCPU blocks in the kernel until the test kicks it); a
 * triple fault or an emulation failure is answered by resetting the vCPU
 * to the start of its list.
 *
 * Options (before the harness's own): --seed N, --iters N, --vcpus N;
 * or the environment: IRQ_HOSTILE_SEED, IRQ_HOSTILE_ITERS, IRQ_HOSTILE_VCPUS.
 * Defaults: seed 1, 2 iterations (a fresh VM each), 3 vCPUs.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "irq_util.h"

GUEST_SYM(hostile_main);

#define OP_W32		0
#define OP_R32		1
#define OP_OUT8		2
#define OP_IN8		3
#define OP_PAUSE	4

#define NR_OPS		300
#define ROUNDS		2
#define OPS_GPA(id)	(DATA_GPA + (id) * 0x8000)
#define RUN_DEADLINE_MS	20000

static uint64_t opt_seed = 1;
static int opt_iters = 2;
static int opt_vcpus = 3;

struct op {
	uint64_t type, addr, val;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Delivery mode (bits 10:8) fixed, lowest or NMI (or ExtINT if allowed);
 * vector >= 32. */
static uint32_t sanitize_irq(uint32_t val, bool extint_ok)
{
	uint32_t dm = (val >> 8) & 7;

	if (!(dm == 0 || dm == 1 || dm == 4 || (dm == 7 && extint_ok)))
		val &= ~(7u << 8);
	if ((val & 0xff) < 32)
		val += 32;
	return val;
}

static uint32_t lapic_value(uint32_t reg, uint32_t val)
{
	switch (reg) {
	case 0x300:				/* ICR low */
		return sanitize_irq(val, false);
	case 0x2f0: case 0x320: case 0x330: case 0x340:
	case 0x350: case 0x360: case 0x370:	/* LVTs */
		return sanitize_irq(val, reg == 0x350 || reg == 0x360);
	default:
		return val;
	}
}

static void gen_ops(struct op *ops, int n)
{
	static const uint16_t ports[] = {
		0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x40, 0x41, 0x42, 0x43, 0x61,
	};
	uint32_t ioregsel = 0;
	int i = 0, k;

	while (i < n) {
		uint64_t r = rnd();
		uint32_t val = (uint32_t)(rnd() >> 16);
		struct op *o = &ops[i];

		switch (r % 8) {
		case 0: case 1: {			/* LAPIC register */
			uint32_t reg = ((r >> 8) % 64) * 0x10;

			o->type = (r >> 20) & 1 ? OP_R32 : OP_W32;
			o->addr = LAPIC_GPA + reg;
			o->val = lapic_value(reg, val);
			i++;
			break;
		}
		case 2: case 3:				/* IOAPIC */
			if ((r >> 8) & 1) {
				ioregsel = (r >> 9) % 0x40;
				o->type = OP_W32;
				o->addr = IOAPIC_GPA;
				o->val = ioregsel;
			} else {
				o->type = (r >> 10) & 1 ? OP_R32 : OP_W32;
				o->addr = IOAPIC_GPA + 0x10;
				o->val = ioregsel >= 0x10 && !(ioregsel & 1) ?
					 sanitize_irq(val, false) : val;
			}
			i++;
			break;
		case 4: case 5:				/* PIC, ELCR, PIT, 0x61 */
			o->type = (r >> 8) & 1 ? OP_IN8 : OP_OUT8;
			o->addr = ports[(r >> 9) % (sizeof(ports) / sizeof(ports[0]))];
			o->val = val & 0xff;
			/* ICW2 (vector base) goes there too: keep it >= 0x20. */
			if (o->addr == 0x21 || o->addr == 0xa1)
				o->val |= 0x20;
			i++;
			break;
		case 6:					/* IPI burst to all */
			for (k = 0; k < 8 && i < n; k++, i++) {
				ops[i].type = OP_W32;
				ops[i].addr = LAPIC_GPA + 0x300;
				ops[i].val = (2u << 18) | (((r >> 8) & 1) << 14) |
					     (0x20 + (rnd() % 0xe0));
			}
			break;
		default:
			o->type = OP_PAUSE;
			i++;
			break;
		}
	}
}

struct hthread {
	struct irq_vm *x;
	struct vcpu *v;
	pthread_t thread;
	volatile bool stop, done, finished;
	int runs, resets, eintr, bad_errno, bad_exit;
	int last_errno;
	uint32_t last_exit;
	int fault;		/* vector a guest_isr.S stub reported, or -1 */
};

static void vcpu_start(struct vcpu *v)
{
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
	struct kvm_regs regs;

	kvm_ioctl(v->fd, KVM_SET_MP_STATE, &mp);
	vcpu_mode_long64(v, IRQ_GA(hostile_main), IRQ_STACK_TOP(v->id));
	vcpu_get_regs(v, &regs);
	regs.r15 = MBOX_GPA(v->id);
	regs.r14 = OPS_GPA(v->id);
	regs.r13 = NR_OPS;
	regs.r12 = ROUNDS;
	vcpu_set_regs(v, &regs);
}

static void *hthread_fn(void *arg)
{
	struct hthread *t = arg;
	struct kvm_run *run = t->v->run;

	irq_thread_sigmask();
	while (!t->stop) {
		int r = vcpu_run(t->v);

		t->runs++;
		if (r == -EINTR) {
			t->eintr++;
			continue;
		}
		if (r) {
			t->bad_errno++;
			t->last_errno = r;
			if (t->bad_errno > 10)
				break;
			continue;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (run->io.port == GUEST_DONE_PORT && run->io.size == 4 &&
			    *(uint32_t *)io_data(t->v) == 0)
				t->done = true;
			if (run->io.port == PORT_EXC_VECTOR && run->io.size == 4)
				t->fault = *(uint32_t *)io_data(t->v);
			break;
		case KVM_EXIT_MMIO:
		case KVM_EXIT_HLT:
			break;
		case KVM_EXIT_SHUTDOWN:
		case KVM_EXIT_INTERNAL_ERROR:
		case KVM_EXIT_FAIL_ENTRY:
			t->resets++;
			t->last_exit = run->exit_reason;
			if (t->resets > 20)
				t->done = true;
			else
				vcpu_start(t->v);
			break;
		default:
			t->bad_exit++;
			t->last_exit = run->exit_reason;
			vcpu_start(t->v);
			break;
		}
		if (t->done)
			break;
	}
	t->finished = true;
	return NULL;
}

static void one_round(struct __test_metadata *_metadata, uint64_t seed)
{
	struct irq_vm x;
	struct hthread t[IRQ_MAX_VCPUS];
	uint64_t deadline;
	int i, n = opt_vcpus, all;
	int msi_errors = 0;
	long msi_errno = 0;

	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	irq_vm_init_at(&x, n, IRQ_VM_IRQCHIP | IRQ_VM_PIT, IRQ_GA(hostile_main));
	memset(t, 0, sizeof(t));
	for (i = 0; i < n; i++) {
		gen_ops(gpa_ptr(&x.vm, OPS_GPA(i)), NR_OPS);
		t[i].x = &x;
		t[i].v = &x.v[i];
		t[i].fault = -1;
		vcpu_start(&x.v[i]);
	}
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, pthread_create(&t[i].thread, NULL, hthread_fn, &t[i]));

	/* Random lines and MSIs from the host meanwhile. */
	deadline = irq_now_ms() + RUN_DEADLINE_MS;
	do {
		struct kvm_msi msi = {
			.address_lo = 0xfee00000 | ((rnd() % 4) << 12) | (rnd() & 4),
			.data = sanitize_irq((uint32_t)rnd() & 0xc7ff, false),
		};
		long r;

		r = irq_line(&x, rnd() % 24, rnd() & 1);
		EXPECT_EQ(0, r);
		r = kvm_ioctl(x.vm.fd, KVM_SIGNAL_MSI, &msi);
		/* -EPERM: KVM's -1, "delivered to nobody" (msi_test). */
		if (r < 0 && r != -EPERM)
			msi_errors++, msi_errno = r;
		usleep(2000);
		for (all = 1, i = 0; i < n; i++)
			all &= t[i].finished;
	} while (!all && irq_now_ms() < deadline);

	EXPECT_EQ(0, msi_errors) TH_LOG("KVM_SIGNAL_MSI: %s", strerror(-msi_errno));

	/* Stop whoever is still in KVM_RUN (halted, waiting for SIPI...). */
	for (i = 0; i < n; i++)
		t[i].stop = true;
	deadline = irq_now_ms() + 10000;
	do {
		for (all = 1, i = 0; i < n; i++) {
			if (!t[i].finished) {
				irq_kick_thread(t[i].thread);
				all = 0;
			}
		}
		if (!all)
			usleep(5000);
	} while (!all && irq_now_ms() < deadline);
	ASSERT_TRUE(all) TH_LOG("a vCPU thread stayed in KVM_RUN despite kicks");
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, pthread_join(t[i].thread, NULL));
		TH_LOG("seed %llu vCPU %d: %s, %d runs, %d kicked, %d resets (last exit %u), fault vector %d",
		       (unsigned long long)seed, i, t[i].done ? "done" : "stopped",
		       t[i].runs, t[i].eintr, t[i].resets, t[i].last_exit, t[i].fault);
		EXPECT_EQ(0, t[i].bad_errno) TH_LOG("vCPU %d: KVM_RUN: %s", i,
						   strerror(-t[i].last_errno));
		EXPECT_EQ(0, t[i].bad_exit) TH_LOG("vCPU %d: exit %u", i, t[i].last_exit);
	}

	/* The host side still answers. */
	{
		struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
		struct kvm_pit_state2 ps;

		EXPECT_EQ(0, kvm_ioctl(x.vm.fd, KVM_GET_IRQCHIP, &chip));
		EXPECT_EQ(0, kvm_ioctl(x.vm.fd, KVM_GET_PIT2, &ps));
		for (i = 0; i < n; i++) {
			struct kvm_lapic_state ls;

			EXPECT_EQ(0, kvm_ioctl(x.v[i].fd, KVM_GET_LAPIC, &ls));
		}
	}
	irq_vm_close(&x);
}

FIXTURE(hostile) {
	int unused;
};

FIXTURE_SETUP(hostile)
{
}

FIXTURE_TEARDOWN(hostile)
{
}

TEST_F_TIMEOUT(hostile, storm, 280)
{
	struct irq_vm fresh;
	int it;

	TH_LOG("seed %llu, %d iterations, %d vCPUs", (unsigned long long)opt_seed,
	       opt_iters, opt_vcpus);
	ASSERT_GE(opt_vcpus, 2);
	ASSERT_LE(opt_vcpus, IRQ_MAX_VCPUS);
	for (it = 0; it < opt_iters; it++)
		one_round(_metadata, opt_seed + it);

	/* A fresh VM after the storm still works. */
	irq_vm_init(&fresh, 1, IRQ_VM_IRQCHIP);
	ASSERT_TRUE(lapic_enable(&fresh.v[0]));
	EXPECT_EQ(1, kvm_ioctl(fresh.vm.fd, KVM_SIGNAL_MSI,
			       &(struct kvm_msi){ .address_lo = 0xfee00000, .data = 0x40 }));
	ASSERT_TRUE(agent_wait(&fresh.v[0], 1));
	irq_vm_close(&fresh);
}

static long env_or(const char *name, long def)
{
	const char *s = getenv(name);

	return s && *s ? strtol(s, NULL, 0) : def;
}

int main(int argc, char **argv)
{
	int i, out = 1;

	opt_seed = env_or("IRQ_HOSTILE_SEED", 1);
	opt_iters = env_or("IRQ_HOSTILE_ITERS", 2);
	opt_vcpus = env_or("IRQ_HOSTILE_VCPUS", 3);
	for (i = 1; i < argc; i++) {
		if (i + 1 < argc && !strcmp(argv[i], "--seed"))
			opt_seed = strtoull(argv[++i], NULL, 0);
		else if (i + 1 < argc && !strcmp(argv[i], "--iters"))
			opt_iters = strtol(argv[++i], NULL, 0);
		else if (i + 1 < argc && !strcmp(argv[i], "--vcpus"))
			opt_vcpus = strtol(argv[++i], NULL, 0);
		else
			argv[out++] = argv[i];
	}
	argv[out] = NULL;
	return test_harness_run(out, argv);
}
