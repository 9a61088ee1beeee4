// SPDX-License-Identifier: GPL-2.0
/*
 * Where interrupts land: 4 vCPUs with the in-kernel irqchip, halted with
 * IF = 1 (STI; HLT, each in its own thread), receive SPREAD_N messages per
 * row of a table, one at a time (the next is sent once the previous one
 * was taken and EOI'd), and count what each vCPU got:
 *
 *   a  physical destination 0, fixed (what Linux programs for an IRQ whose
 *      effective affinity is CPU 0: one target CPU per IRQ in x2apic_phys,
 *      and in x2apic_cluster too since the 4.15 vector-management rework)
 *   b  physical destination rotated 0,1,2,3 (what affinity changes /
 *      irqbalance do: a different single destination each time)
 *   c  logical destination naming all 4, fixed: every vCPU gets each one
 *   d  the same, lowest priority, equal TPRs: one vCPU per message
 *   e  d with TPR 0x30 on vCPUs 0 and 1 (vector class 4 still deliverable)
 *   f  d with 8 vectors in turn (0x40-0x47)
 *   g  d from an IOAPIC redirection entry (pin 20, edge) by KVM_IRQ_LINE
 *   h  d with vCPU 3's APIC software-disabled
 *   i  h with vector 0x43 (the one KVM's hash maps to vCPU 3)
 *   j  logical destination naming vCPU 0 alone, fixed: what Linux's
 *      x2apic_cluster (and flat) driver programs for an IRQ on CPU 0
 *      (calc_dest_apicid = that CPU's LDR; delivery_mode FIXED)
 *
 * Two variants: every APIC in x2APIC mode (logical destination = cluster 0,
 * bits 0-3 of the 8-bit MSI/RTE destination, LDR = 1 << id: SDM 10.12.10.2)
 * and every APIC in xAPIC flat logical mode (LDR = (1 << id) << 24).
 *
 * Assertions are only what the architecture fixes and both KVM and minikvm
 * must do: a physical destination reaches exactly the named vCPU, a fixed
 * logical one every vCPU of the mask, a lowest-priority one exactly one
 * vCPU of the mask (SDM 10.6.2.4) and never one whose APIC is
 * software-disabled (it does not accept fixed/lowest-priority interrupts,
 * SDM 10.4.7.2); KVM_SIGNAL_MSI / KVM_IRQ_LINE_STATUS return that count.
 * One exception, measured: KVM may *choose* a software-disabled APIC for
 * a lowest-priority message and then drop it (accepted by 0), so rows h
 * and i accept 0 or 1 and count the drops ("lost") unless
 * MINIKVM_EXPECT=minikvm.  Which vCPU a lowest-priority message picks is
 * the implementation's:
 *
 *  - KVM 6.1 (vector_hashing=1, kvm.ko's default): the (vector % n)-th set
 *    bit of the destination mask, n its popcount, TPR ignored
 *    (kvm_apic_map_get_dest_lapic -> kvm_vector_to_index, lapic.c).  n
 *    counts every bit of the mask, also a software-disabled APIC's (which
 *    the logical map leaves out, or, in x2APIC mode, keeps: the cluster is
 *    phys_map): when the hash lands on it the message is dropped (row i).
 *    With vector_hashing=0 it picks the lowest apic_arb_prio, a count of
 *    lowest-priority messages accepted, not the TPR either (and in x2APIC
 *    mode the software-disabled APIC takes its turn: dropped).
 *  - minikvm (LapicBus::deliver_slow, apic_bus.cpp): the lowest
 *    arbitration priority (APR: TPR, ISR and IRR classes), the scan
 *    starting after the last winner.
 *
 * The distributions are printed as a table ("# spread ..." lines) and
 * checked only with MINIKVM_EXPECT=minikvm, against minikvm's documented
 * rule: equal TPRs spread within +-1 over the candidates (d, f, g; e, h, i
 * over the vCPUs left); a raised TPR never wins (e).  MINIKVM_EXPECT=kvm
 * (or unset): printed only.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm); MINIKVM_EXPECT.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "irq_util.h"

GUEST_SYM(spread_halt);
GUEST_SYM(spread_stubs);

#define NV		4		/* vCPUs */
#define SPREAD_N	64		/* messages per row */
#define SPREAD_MB_X2APIC 0x80		/* irq_spread_guest.S */
#define SPREAD_MB_STOP	0x88
#define SPREAD_STUB_SIZE 16
#define VEC		0x41		/* KVM's hash: 0x41 % 4 = 1 */
#define TPR_RAISED	0x30
#define IOAPIC_PIN	20		/* GSI 20: IOAPIC only, no PIC */
#define ALL_MASK	0x0f		/* logical: vCPUs 0-3 */

#define MSI_LOGICAL	(1u << 2)
#define MSI_DM_LOWEST	(1u << 8)
#define MSI_DM_NMI	(4u << 8)

_Static_assert(SPREAD_MB_X2APIC >= 0x50 && SPREAD_MB_STOP + 8 <= MB_LOG,
	       "spread words must sit in the agent mailbox's unused part");

#define X2APIC_MSR(reg)	(0x800 + ((reg) >> 4))
#define APIC_BASE_EXTD	(1u << 10)

#define V(i) (&self->x.v[i])

FIXTURE(spread) {
	struct irq_vm x;
	bool x2apic;
};

FIXTURE_VARIANT(spread) {
	bool x2apic;
};

FIXTURE_VARIANT_ADD(spread, x2apic) {
	.x2apic = true,
};

FIXTURE_VARIANT_ADD(spread, xapic_flat) {
	.x2apic = false,
};

static volatile uint64_t *mb_word(struct vcpu *v, unsigned int off)
{
	return (volatile uint64_t *)((volatile uint8_t *)agent_mbox(v) + off);
}

/* A LAPIC register by MSR in x2APIC mode, by MMIO in xAPIC mode. */
static bool apic_set(bool x2apic, struct vcpu *v, uint32_t reg, uint32_t val)
{
	return x2apic ? agent_wrmsr(v, X2APIC_MSR(reg), val) : lapic_write(v, reg, val);
}

FIXTURE_SETUP(spread)
{
	uint64_t ldr;
	int i, vec;

	self->x2apic = variant->x2apic;
	irq_vm_init(&self->x, NV, IRQ_VM_IRQCHIP);
	/* Vectors 32-255 to the EOI-first stubs (irq_spread_guest.S). */
	for (vec = 32; vec < 256; vec++)
		vm_set_idt_gate64(&self->x.vm, vec,
				  IRQ_GA(spread_stubs) + vec * SPREAD_STUB_SIZE);
	for (i = 0; i < NV; i++) {
		agent_set_eoi(V(i), 0);
		*mb_word(V(i), SPREAD_MB_X2APIC) = self->x2apic;
		if (self->x2apic) {
			/* xAPIC -> x2APIC: EN stays set, EXTD added (10.12.5). */
			ASSERT_TRUE(agent_wrmsr(V(i), MSR_APIC_BASE, LAPIC_GPA | (1u << 11) |
						APIC_BASE_EXTD | (i ? 0 : 1u << 8)));
			/* LDR is read-only in x2APIC mode: cluster id >> 4,
			 * bit id & 15 (10.12.10.2). */
			ASSERT_TRUE(agent_rdmsr(V(i), X2APIC_MSR(APIC_LDR), &ldr));
			ASSERT_EQ(1u << i, ldr);
		} else {
			ASSERT_TRUE(lapic_write(V(i), APIC_DFR, 0xffffffff));	/* flat */
			ASSERT_TRUE(lapic_write(V(i), APIC_LDR, (1u << i) << 24));
		}
		ASSERT_TRUE(apic_set(self->x2apic, V(i), APIC_LVT0, APIC_LVT_MASKED));
		ASSERT_TRUE(apic_set(self->x2apic, V(i), APIC_SVR, 0x1ff));
	}
}

FIXTURE_TEARDOWN(spread)
{
	irq_vm_close(&self->x);
}

/* ---- one row: vCPUs halted in threads, messages one at a time -------- */

enum kind { PHYS, PHYS_ROTATE, LOGICAL_ONE, LOGICAL_FIXED, LOGICAL_LOWEST, IOAPIC_LOWEST };

struct row {
	char tag;
	const char *what;
	enum kind kind;
	int vec0, nvec;		/* vectors vec0 .. vec0 + nvec - 1 in turn */
	uint32_t disabled;	/* vCPUs whose APIC is software-disabled */
	/* results */
	unsigned int got[NV];
	unsigned int lost;	/* lowest priority accepted by nobody */
	uint32_t vecs[NV];	/* bit k: got vector vec0 + k */
};

struct halter {
	struct vcpu *v;
	pthread_t thread;
	volatile bool ok, done;
};

static void *halt_thread(void *arg)
{
	struct halter *h = arg;

	irq_thread_sigmask();
	h->ok = agent_call(h->v, IRQ_GA(spread_halt), 0, 0, NULL);
	h->done = true;
	return NULL;
}

static long signal_msi(struct irq_vm *x, uint32_t lo, uint32_t data)
{
	struct kvm_msi msi = { .address_lo = lo, .data = data };

	return kvm_ioctl(x->vm.fd, KVM_SIGNAL_MSI, &msi);
}

static uint64_t total(struct irq_vm *x)
{
	uint64_t t = 0;
	int i;

	for (i = 0; i < NV; i++)
		t += agent_mbox(&x->v[i])->count;
	return t;
}

/* Send message i of row r; the number of LAPICs that accepted it. */
static long send(struct irq_vm *x, const struct row *r, int i)
{
	uint32_t vec = r->vec0 + i % r->nvec;
	int32_t st;
	long ret;

	switch (r->kind) {
	case PHYS:
		return signal_msi(x, MSI_ADDR(0), vec);
	case PHYS_ROTATE:
		return signal_msi(x, MSI_ADDR(i % NV), vec);
	case LOGICAL_ONE:
		return signal_msi(x, MSI_ADDR(1u << 0) | MSI_LOGICAL, vec);
	case LOGICAL_FIXED:
		return signal_msi(x, MSI_ADDR(ALL_MASK) | MSI_LOGICAL, vec);
	case LOGICAL_LOWEST:
		return signal_msi(x, MSI_ADDR(ALL_MASK) | MSI_LOGICAL, MSI_DM_LOWEST | vec);
	case IOAPIC_LOWEST:
		/* Edge pin: each raise after a lower is a new interrupt. */
		ret = irq_line_status(x, IOAPIC_PIN, 1, &st);
		if (ret)
			return ret;
		ret = irq_line(x, IOAPIC_PIN, 0);
		return ret ? ret : st;
	}
	return -EINVAL;
}

/* Which vCPUs must get message i, by architecture; 0: exactly one
 * (lowest priority), of those not software-disabled. */
static uint32_t must_get(const struct row *r, int i)
{
	switch (r->kind) {
	case PHYS:
	case LOGICAL_ONE:
		return 1u << 0;
	case PHYS_ROTATE:
		return 1u << (i % NV);
	case LOGICAL_FIXED:
		return ALL_MASK & ~r->disabled;
	default:
		return 0;
	}
}

/*
 * Send the row's messages to the halted vCPUs and count.  False if the
 * row could not go on (a wrong count from the ioctl, an interrupt never
 * taken): failures are EXPECTs so that the halting threads are always
 * stopped and joined before the test ends.
 */
static bool run_row(struct __test_metadata *_metadata, struct irq_vm *x, struct row *r,
		    bool minikvm)
{
	struct halter h[NV];
	uint64_t before[NV], now[NV], want, deadline;
	uint32_t must, recv;
	int i, k, nrecv;
	bool ok = true;
	long acc;

	memset(h, 0, sizeof(h));
	for (k = 0; k < NV; k++) {
		*mb_word(&x->v[k], SPREAD_MB_STOP) = 0;
		h[k].v = &x->v[k];
		if (pthread_create(&h[k].thread, NULL, halt_thread, &h[k]))
			die("pthread_create");
	}
	for (k = 0; k < NV; k++)
		before[k] = agent_mbox(&x->v[k])->count;
	want = total(x);

	for (i = 0; i < SPREAD_N; i++) {
		uint32_t vec = r->vec0 + i % r->nvec;

		must = must_get(r, i);
		acc = send(x, r, i);
		if (must || !r->disabled || minikvm)
			ok = acc == (must ? __builtin_popcount(must) : 1);
		else	/* KVM 6.1 may pick a software-disabled APIC for a
			 * lowest-priority message and drop it (0): counted. */
			ok = acc == 0 || acc == 1;
		EXPECT_TRUE(ok) TH_LOG("row %c message %d: accepted by %ld LAPICs",
				       r->tag, i, acc);
		if (!ok)
			break;
		r->lost += !acc;
		want += acc;
		deadline = irq_now_ms() + AGENT_TIMEOUT_S * 1000;
		while (total(x) < want && irq_now_ms() < deadline)
			usleep(50);
		ok = total(x) == want;
		EXPECT_TRUE(ok) TH_LOG("row %c message %d: %llu interrupts taken, %llu sent",
				       r->tag, i, (unsigned long long)total(x),
				       (unsigned long long)want);
		if (!ok)
			break;
		recv = 0;
		nrecv = 0;
		for (k = 0; k < NV; k++) {
			volatile struct agent_mbox *mb = agent_mbox(&x->v[k]);

			now[k] = mb->count;
			if (now[k] == before[k])
				continue;
			EXPECT_EQ(1, now[k] - before[k])
				TH_LOG("row %c message %d: vCPU %d", r->tag, i, k);
			EXPECT_EQ(vec, mb->last)
				TH_LOG("row %c message %d: vCPU %d", r->tag, i, k);
			recv |= 1u << k;
			nrecv++;
			r->got[k]++;
			r->vecs[k] |= 1u << (vec - r->vec0);
			before[k] = now[k];
		}
		if (must) {
			EXPECT_EQ(must, recv) TH_LOG("row %c message %d", r->tag, i);
		} else {
			EXPECT_EQ(acc, nrecv) TH_LOG("row %c message %d", r->tag, i);
			EXPECT_EQ(0, recv & (r->disabled | ~ALL_MASK))
				TH_LOG("row %c message %d: to a software-disabled APIC", r->tag, i);
		}
	}

	/* Wake every halter with an NMI (accepted by a software-disabled
	 * APIC too) after setting its stop word. */
	for (k = 0; k < NV; k++) {
		*mb_word(&x->v[k], SPREAD_MB_STOP) = 1;
		EXPECT_EQ(1, signal_msi(x, MSI_ADDR(k), MSI_DM_NMI));
	}
	deadline = irq_now_ms() + AGENT_TIMEOUT_S * 1000;
	for (k = 0; k < NV; k++) {
		while (!h[k].done && irq_now_ms() < deadline)
			usleep(1000);
		if (!h[k].done)
			irq_kick_thread(h[k].thread);
		pthread_join(h[k].thread, NULL);
		EXPECT_TRUE(h[k].ok) TH_LOG("row %c: vCPU %d did not come back", r->tag, k);
		ok &= h[k].ok;
	}
	return ok;
}

static bool within_one(const struct row *r, uint32_t who)
{
	unsigned int lo = ~0u, hi = 0;
	int k;

	for (k = 0; k < NV; k++) {
		if (!(who & (1u << k)))
			continue;
		lo = r->got[k] < lo ? r->got[k] : lo;
		hi = r->got[k] > hi ? r->got[k] : hi;
	}
	return hi - lo <= 1;
}

static const char *expect_target(void)
{
	const char *e = getenv("MINIKVM_EXPECT");

	return e ? e : "kvm";
}

TEST_F_TIMEOUT(spread, distribution, 600)
{
	struct row rows[] = {
#define ROW(t, w, k, v0, nv, dis) \
	{ .tag = t, .what = w, .kind = k, .vec0 = v0, .nvec = nv, .disabled = dis }
		ROW('a', "physical dest 0, fixed", PHYS, VEC, 1, 0),
		ROW('b', "physical dest rotated 0-3, fixed", PHYS_ROTATE, VEC, 1, 0),
		ROW('c', "logical all 4, fixed", LOGICAL_FIXED, VEC, 1, 0),
		ROW('d', "logical all 4, lowest prio, equal TPR", LOGICAL_LOWEST, VEC, 1, 0),
		ROW('e', "d, TPR 0x30 on vCPUs 0+1", LOGICAL_LOWEST, VEC, 1, 0),
		ROW('f', "d, vectors 0x40-0x47 in turn", LOGICAL_LOWEST, 0x40, 8, 0),
		ROW('g', "d from IOAPIC pin 20 (KVM_IRQ_LINE)", IOAPIC_LOWEST, VEC, 1, 0),
		ROW('h', "d, vCPU 3 APIC software-disabled", LOGICAL_LOWEST, VEC, 1, 1u << 3),
		ROW('i', "h with vector 0x43", LOGICAL_LOWEST, 0x43, 1, 1u << 3),
		ROW('j', "logical vCPU 0 only (Linux's LDR), fixed", LOGICAL_ONE, VEC, 1, 0),
#undef ROW
	};
	const char *dev = getenv("MINIKVM_DEV");
	bool minikvm = !strcmp(expect_target(), "minikvm");
	bool x2 = self->x2apic;
	unsigned int nrows = sizeof(rows) / sizeof(rows[0]), rows_done = nrows;
	unsigned int n, k, j;

	for (n = 0; n < nrows; n++) {
		struct row *r = &rows[n];

		if (r->tag == 'e')
			for (k = 0; k < 2; k++)
				ASSERT_TRUE(apic_set(x2, V(k), APIC_TPR, TPR_RAISED));
		if (r->kind == IOAPIC_LOWEST)
			ASSERT_TRUE(ioapic_set_redir(V(0), IOAPIC_PIN,
						     r->vec0 | MSI_DM_LOWEST | RTE_LOGICAL,
						     RTE_DEST(ALL_MASK)));
		for (k = 0; k < NV; k++)
			if (r->disabled & (1u << k))
				ASSERT_TRUE(apic_set(x2, V(k), APIC_SVR, 0xff));

		if (!run_row(_metadata, &self->x, r, minikvm)) {
			rows_done = n;	/* the rows before it */
			break;
		}

		for (k = 0; k < NV; k++) {
			if (r->disabled & (1u << k))
				ASSERT_TRUE(apic_set(x2, V(k), APIC_SVR, 0x1ff));
			ASSERT_TRUE(apic_set(x2, V(k), APIC_TPR, 0));
		}
		if (r->kind == IOAPIC_LOWEST)
			ASSERT_TRUE(ioapic_set_redir(V(0), IOAPIC_PIN, RTE_MASKED, 0));
	}

	/* The table: diagnostic lines, one per row. */
	printf("# spread %s (MINIKVM_DEV=%s, MINIKVM_EXPECT=%s): %d messages per row,"
	       " interrupts taken by each vCPU\n", x2 ? "x2APIC" : "xAPIC flat",
	       dev ? dev : "/dev/kvm", expect_target(), SPREAD_N);
	printf("# spread   row                                       vCPU0 vCPU1 vCPU2 vCPU3  lost\n");
	for (n = 0; n < rows_done; n++) {
		struct row *r = &rows[n];

		printf("# spread   %c %-40s %5u %5u %5u %5u %5u", r->tag, r->what,
		       r->got[0], r->got[1], r->got[2], r->got[3], r->lost);
		if (r->nvec > 1) {
			/* which vectors each vCPU saw: KVM's hash keeps a vector on one vCPU */
			printf("  vectors:");
			for (k = 0; k < NV; k++) {
				printf(" %u={", k);
				for (j = 0; j < (unsigned int)r->nvec; j++)
					if (r->vecs[k] & (1u << j))
						printf("%s%x", (r->vecs[k] & ((1u << j) - 1)) ? "," : "",
						       r->vec0 + j);
				printf("}");
			}
		}
		printf("\n");
	}
	fflush(stdout);

	if (!minikvm || rows_done < nrows)
		return;
	/* minikvm's documented rule (apic_bus.cpp): lowest APR wins, equal
	 * APRs take turns. */
	for (n = 0; n < nrows; n++) {
		struct row *r = &rows[n];

		if (r->tag == 'd' || r->tag == 'f' || r->tag == 'g')
			EXPECT_TRUE(within_one(r, ALL_MASK)) TH_LOG("row %c: not within +-1", r->tag);
		if (r->tag == 'e') {
			EXPECT_EQ(0, r->got[0] + r->got[1])
				TH_LOG("row e: a vCPU with a raised TPR won the arbitration");
			EXPECT_TRUE(within_one(r, 0xc)) TH_LOG("row e: vCPUs 2 and 3 not within +-1");
		}
		if (r->tag == 'h' || r->tag == 'i')
			EXPECT_TRUE(within_one(r, ALL_MASK & ~r->disabled))
				TH_LOG("row %c: the enabled vCPUs not within +-1", r->tag);
	}
}

TEST_HARNESS_MAIN
