// SPDX-License-Identifier: GPL-2.0
/*
 * The local APIC timer through the xAPIC MMIO page, with the full
 * in-kernel irqchip (KVM_CREATE_IRQCHIP): reset state, software enable
 * (SVR), one-shot, masked, periodic and TSC-deadline modes, the divide
 * configuration, and HLT woken by the timer.  One vCPU in 64-bit mode;
 * the guest (lapic_timer_guest.S) stores what it reads in its per-CPU
 * results, the interrupt handlers of apic_guest.inc count, log and EOI
 * every delivery, and the test checks both afterwards.
 *
 * Times are guest TSC ticks converted with KVM_GET_TSC_KHZ; the APIC
 * timer runs at 1 GHz / divisor on KVM (APIC_BUS_CYCLE_NS = 1), so an
 * initial count of N at divide by 1 is N ns.  Checks allow 2% between the
 * TSC and the host clock the timer follows.
 *
 * KVM behaviour pinned down (Linux 6.1, arch/x86/kvm/lapic.c):
 *  - at reset: SVR 0xff (software-disabled), every LVT masked, LVR
 *    0x50014 (version 0x14, 6 LVT entries, no directed EOI with an
 *    in-kernel IOAPIC), DFR all ones, and LVT0 of the BSP = ExtINT (0x700,
 *    KVM_X86_QUIRK_LINT0_REENABLED);
 *  - while software-disabled, LVT writes keep the mask bit, and clearing
 *    SVR.8 sets the mask in every LVT;
 *  - TDCR keeps only bits 0, 1, 3 (0xf reads back as 0xb);
 *  - a masked one-shot counts down to 0 without an interrupt, but KVM
 *    keeps the expiry pending and delivers it once the LVT is unmasked
 *    (hardware drops it; the test accepts both); a masked periodic timer
 *    keeps counting; TMICT = 0 stops it;
 *  - periodic periods below 200 us are raised to 200 us (min_timer_period_us,
 *    with a log line), so this test uses 1 ms;
 *  - KVM_GET_SUPPORTED_CPUID (6.1) does not report TSC-deadline
 *    (CPUID.1:ECX.24); VMMs set it when KVM_CAP_TSC_DEADLINE_TIMER is
 *    there, as this test does.  In TSC-deadline mode TMICT writes are
 *    ignored and TMICT/TMCCT read 0; IA32_TSC_DEADLINE reads back while
 *    armed, reads 0 once it fired, after writing 0, and outside the mode;
 *    a deadline in the past fires at once; switching the LVT to one-shot
 *    disarms it; the interrupt never comes before the deadline.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include "kselftest_harness.h"
#include "apic_util.h"

GUEST_SYM(lt_blob_start);
GUEST_SYM(lt_blob_end);
GUEST_SYM(apic_irq_stubs);
GUEST_SYM(ltg_reset_state);
GUEST_SYM(ltg_oneshot);
GUEST_SYM(ltg_hlt);
GUEST_SYM(ltg_hlt_resume);
GUEST_SYM(ltg_masked);
GUEST_SYM(ltg_periodic);
GUEST_SYM(ltg_divide);
GUEST_SYM(ltg_tscdeadline);

#define G(sym) GUEST_ADDR(lt_blob_start, sym)

/* Must match lapic_timer_guest.S. */
#define ONESHOT_NS	2000000
#define HLT_NS		1000000
#define MASKED_NS	1000000
#define PERIOD_NS	1000000
#define DL_US		1000

#define RUN_MS		20000
#define TSC_DEADLINE_BIT (1u << 24)

FIXTURE(lt) {
	struct apic_vm a;
	bool has_tscdeadline;
	struct grun g;
};

FIXTURE_SETUP(lt)
{
	self->has_tscdeadline = dev_has_cap(KVM_CAP_TSC_DEADLINE_TIMER);
	apic_vm_setup(&self->a, lt_blob_start, lt_blob_end, apic_irq_stubs, 1,
		      NULL, self->has_tscdeadline ? TSC_DEADLINE_BIT : 0);
	memset(&self->g, 0, sizeof(self->g));
}

FIXTURE_TEARDOWN(lt)
{
	apic_vm_teardown(&self->a);
}

static uint64_t res(struct apic_vm *a, int i)
{
	return pc_res(a, 0, i);
}

/* TSC ticks for ns nanoseconds, less the 2% allowance. */
static uint64_t ticks_min(struct apic_vm *a, uint64_t ns)
{
	return ns * tsc_per_us(a) / 1000 * 98 / 100;
}

/*
 * A TMCCT read after arming a one-shot of ns: non-zero while it runs; 0 is
 * right only once ns have passed (elapsed: TSC ticks from arming to just
 * after the read), as when a loaded host deschedules the vCPU.
 */
static void expect_zero_only_expired(struct __test_metadata *_metadata, struct apic_vm *a,
				     uint64_t count, uint64_t elapsed, uint64_t ns)
{
	if (!count)
		EXPECT_GE(elapsed, ticks_min(a, ns))
			TH_LOG("TMCCT read 0 only %llu ticks after arming a %llu ns one-shot",
			       (unsigned long long)elapsed, (unsigned long long)ns);
}

TEST_F_TIMEOUT(lt, reset_state_and_software_enable, 60)
{
	struct apic_vm *a = &self->a;

	apic_vcpu_start(a, 0, G(ltg_reset_state));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(0xff, res(a, 0));		/* SVR */
	EXPECT_EQ(LVT_MASKED, res(a, 1));	/* LVTT */
	EXPECT_EQ(0x50014, res(a, 2));		/* LVR */
	EXPECT_EQ(0x700, res(a, 3));		/* LVT0 of the BSP: ExtINT */
	EXPECT_EQ(0xffffffff, res(a, 4));	/* DFR */
	EXPECT_EQ(0, res(a, 5));		/* TPR */
	EXPECT_EQ(0, res(a, 6));		/* ID */
	EXPECT_EQ(LVT_MASKED | 0x45, res(a, 7));	/* disabled: stays masked */
	EXPECT_EQ(0x45, res(a, 8));		/* enabled: unmasked */
	EXPECT_EQ(LVT_MASKED | 0x45, res(a, 9));	/* disabling masks */
	EXPECT_EQ(LVT_MASKED | 0x700, res(a, 10));
	EXPECT_EQ(0xff, res(a, 11));
}

TEST_F_TIMEOUT(lt, oneshot, 60)
{
	struct apic_vm *a = &self->a;
	uint64_t c1, c2;

	apic_vcpu_start(a, 0, G(ltg_oneshot));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(0xb, res(a, 0));		/* TDCR */
	EXPECT_EQ(0x40, res(a, 1));		/* LVTT: one-shot, vector 0x40 */
	EXPECT_EQ(ONESHOT_NS, res(a, 3));	/* TMICT */
	c1 = res(a, 4);
	c2 = res(a, 5);
	EXPECT_LE(c1, ONESHOT_NS);
	/*
	 * The reads come right after arming and ~100 us later, unless the
	 * vCPU was descheduled (a loaded TCG host): then the count may rightly
	 * have reached 0, but only once the whole period has passed by the TSC.
	 */
	expect_zero_only_expired(_metadata, a, c1, res(a, 11) - res(a, 2), ONESHOT_NS);
	if (c1)
		EXPECT_LT(c2, c1) TH_LOG("current count did not decrease: %llu then %llu",
					 (unsigned long long)c1, (unsigned long long)c2);
	expect_zero_only_expired(_metadata, a, c2, res(a, 10) - res(a, 2), ONESHOT_NS);
	EXPECT_EQ(1, res(a, 6)) TH_LOG("one-shot delivered %llu times",
				       (unsigned long long)res(a, 6));
	EXPECT_EQ(0, res(a, 7));		/* TMCCT after expiry */
	EXPECT_EQ(0, res(a, 8) & 1);		/* ISR bit of 0x40 cleared by EOI */
	EXPECT_EQ(0, res(a, 9) & 1);		/* nothing left in IRR */
	EXPECT_EQ(1, pc_u32(a, 0, PC_LOGN));
	EXPECT_EQ(0x40, pc_log(a, 0, 0));
	EXPECT_GE(pc_tsclog(a, 0, 0) - res(a, 2), ticks_min(a, ONESHOT_NS))
		TH_LOG("interrupt %llu ticks after arming, before %u ns",
		       (unsigned long long)(pc_tsclog(a, 0, 0) - res(a, 2)),
		       ONESHOT_NS);
}

TEST_F_TIMEOUT(lt, hlt_woken_by_timer, 60)
{
	struct apic_vm *a = &self->a;

	apic_vcpu_start(a, 0, G(ltg_hlt));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(1, res(a, 1));
	EXPECT_EQ(1, pc_u32(a, 0, PC_LOGN));
	EXPECT_EQ(0x46, pc_log(a, 0, 0));
	/* delivered while halted: the saved RIP is the one after the hlt */
	EXPECT_EQ(G(ltg_hlt_resume), pc_riplog(a, 0, 0));
	EXPECT_GE(pc_tsclog(a, 0, 0) - res(a, 0), ticks_min(a, HLT_NS));
}

TEST_F_TIMEOUT(lt, masked_oneshot_counts_without_interrupt, 60)
{
	struct apic_vm *a = &self->a;

	apic_vcpu_start(a, 0, G(ltg_masked));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_LE(res(a, 0), MASKED_NS);
	expect_zero_only_expired(_metadata, a, res(a, 0), res(a, 6) - res(a, 5), MASKED_NS);
	if (res(a, 0))
		EXPECT_LT(res(a, 1), res(a, 0));
	expect_zero_only_expired(_metadata, a, res(a, 1), res(a, 7) - res(a, 5), MASKED_NS);
	EXPECT_EQ(0, res(a, 2));		/* masked: no interrupt */
	EXPECT_EQ(0, res(a, 3));		/* but it expired */
	/*
	 * Hardware drops an expiry while masked.  KVM keeps it pending
	 * (apic_has_pending_timer() is 0 while LVTT is masked, so
	 * lapic_timer.pending stays set) and delivers it once on unmask.
	 * Accept either, never more than one.
	 */
	EXPECT_LE(res(a, 4), 1);
	EXPECT_EQ(res(a, 4), pc_u32(a, 0, PC_LOGN));
	TH_LOG("expiry while masked delivered on unmask: %llu",
	       (unsigned long long)res(a, 4));
}

TEST_F_TIMEOUT(lt, periodic, 60)
{
	struct apic_vm *a = &self->a;
	uint64_t t0;
	int k;

	apic_vcpu_start(a, 0, G(ltg_periodic));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(LVT_PERIODIC | 0x42, res(a, 0));
	t0 = res(a, 1);
	/* the k-th interrupt never comes before k periods */
	for (k = 0; k < 4; k++)
		EXPECT_GE(pc_tsclog(a, 0, k) - t0, ticks_min(a, (k + 1) * (uint64_t)PERIOD_NS))
			TH_LOG("interrupt %d came %llu ticks after arming", k,
			       (unsigned long long)(pc_tsclog(a, 0, k) - t0));
	/*
	 * TMCCT while running, and while masked (still counting).  KVM derives
	 * it from the hrtimer's remaining time and reads 0 while the expiry is
	 * overdue on a loaded host (seen once on QEMU TCG): 0 is logged, not
	 * failed; above one period is always wrong.
	 */
	EXPECT_LE(res(a, 2), PERIOD_NS);
	if (!res(a, 2))
		TH_LOG("TMCCT read 0 while running (timer overdue on the host?)");
	EXPECT_GE(res(a, 3), 4);
	EXPECT_EQ(res(a, 3), res(a, 4)) TH_LOG("interrupts while masked");
	EXPECT_LE(res(a, 5), PERIOD_NS);
	if (!res(a, 5))
		TH_LOG("TMCCT read 0 while masked (timer overdue on the host?)");
	EXPECT_EQ(0, res(a, 6));		/* TMICT = 0 stops it */
	EXPECT_EQ(res(a, 3), res(a, 7)) TH_LOG("interrupts after TMICT = 0");
	for (k = 0; k < 4; k++)
		EXPECT_EQ(0x42, pc_log(a, 0, k));
}

TEST_F_TIMEOUT(lt, divide_configuration, 60)
{
	static const struct { uint32_t tdcr, div; } d[3] = {
		{ 0xb, 1 }, { 0x3, 16 }, { 0xa, 128 },
	};
	struct apic_vm *a = &self->a;
	int k;

	apic_vcpu_start(a, 0, G(ltg_divide));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	for (k = 0; k < 3; k++) {
		uint64_t drop = res(a, 3 * k + 1), ticks = res(a, 3 * k + 2);
		/* the two reads are at least 1 ms and at most `ticks` apart */
		uint64_t lo = 1000000 / d[k].div * 98 / 100;
		uint64_t hi = ticks * 1000 / tsc_per_us(a) / d[k].div * 102 / 100 + 1;

		EXPECT_EQ(d[k].tdcr, res(a, 3 * k));
		EXPECT_GE(drop, lo) TH_LOG("divide by %u: count dropped %llu in %llu ticks",
					   d[k].div, (unsigned long long)drop,
					   (unsigned long long)ticks);
		EXPECT_LE(drop, hi) TH_LOG("divide by %u: count dropped %llu in %llu ticks",
					   d[k].div, (unsigned long long)drop,
					   (unsigned long long)ticks);
	}
	EXPECT_EQ(0xb, res(a, 9));
	EXPECT_EQ(0, res(a, 10));
}

TEST_F_TIMEOUT(lt, tsc_deadline, 60)
{
	struct apic_vm *a = &self->a;
	struct kvm_cpuid2 *c;
	struct kvm_cpuid_entry2 *e;

	if (!self->has_tscdeadline)
		SKIP(return, "no KVM_CAP_TSC_DEADLINE_TIMER");
	c = supported_cpuid(&a->vm);
	e = cpuid_find(c, 1, 0);
	TH_LOG("KVM_GET_SUPPORTED_CPUID leaf 1 ECX.24 (TSC deadline): %d",
	       e ? !!(e->ecx & TSC_DEADLINE_BIT) : -1);
	free(c);

	apic_vcpu_start(a, 0, G(ltg_tscdeadline));
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_NE(0, res(a, 13) & TSC_DEADLINE_BIT);
	EXPECT_EQ(LVT_TSCDEADLINE | 0x44, res(a, 0));
	EXPECT_EQ(0, res(a, 1));		/* TMICT write ignored */
	EXPECT_EQ(0, res(a, 2));		/* TMCCT reads 0 */
	EXPECT_EQ(res(a, 3), res(a, 4));	/* the MSR reads back */
	EXPECT_GE(pc_tsclog(a, 0, 0), res(a, 3))
		TH_LOG("interrupt %llu ticks before the deadline",
		       (unsigned long long)(res(a, 3) - pc_tsclog(a, 0, 0)));
	EXPECT_EQ(0, res(a, 6));		/* cleared when it fired */
	EXPECT_EQ(1, res(a, 7));		/* once */
	EXPECT_EQ(0, res(a, 8));		/* written 0: disarmed */
	EXPECT_EQ(1, res(a, 9));
	EXPECT_EQ(2, res(a, 10));		/* past deadline: fired */
	EXPECT_EQ(2, res(a, 11));		/* mode switch disarmed it */
	EXPECT_EQ(0, res(a, 12));		/* not in TSC-deadline mode: 0 */
	EXPECT_EQ(0x44, pc_log(a, 0, 0));
	EXPECT_EQ(0x44, pc_log(a, 0, 1));
	EXPECT_EQ(2, pc_u32(a, 0, PC_LOGN));
}

TEST_HARNESS_MAIN
