// SPDX-License-Identifier: GPL-2.0
/*
 * APIC virtualization seen from the KVM ABI (apicv_guest.S, one vCPU in
 * 64-bit mode with the full in-kernel irqchip): what the hardware features
 * remove, counted as VM exits through the vCPU's binary statistics
 * (KVM_GET_STATS_FD, "exits"), and that the APIC stays exact with them:
 *  (a) 1000 CR8 writes cost ~0 exits with the TPR shadow (always on VMX
 *      with an in-kernel LAPIC, and on SVM where V_TPR does it); 1000
 *      xAPIC TPR writes by MMIO cost ~0 with flexpriority (the APIC-access
 *      page; kvm_intel 6.1 maps that page only with APICv activated), one
 *      exit each without; the TPR reads back right after;
 *  (b) 1000 self IPIs by the ICR, each taken at once and EOIed by MMIO:
 *      with virtual-interrupt delivery (enable_apicv) the EOI costs no
 *      exit (at most ~1 per iteration: an ICR write that is not a
 *      virtualized self IPI (SDM 29.4.3.2) is an APIC-write exit; Bochs
 *      virtualizes this one: ~0), without it at least 2 (ICR and EOI);
 *  (c) a level-triggered IOAPIC pin (KVM_IRQ_LINE): delivered; the EOI
 *      reaches the IOAPIC (EOI-exit bitmap) so Remote IRR clears and a
 *      second assertion is delivered again;
 *  (d) KVM_GET_LAPIC with a vector in service and one pending, a
 *      KVM_SET_LAPIC adding one more pending: the guest then takes them
 *      in priority order;
 *  (e) x2APIC: 1000 self IPIs by the SELF IPI MSR with EOI by MSR cost ~0
 *      exits with APICv; 1000 TPR MSR writes ~0; TPR/CR8/PPR read back.
 *
 * Which of the "~0" assertions apply comes from the module parameters of
 * the device's module: /sys/module/{minikvm,kvm_intel}/parameters/
 * {flexpriority,enable_apicv} (kvm_intel reports enable_apicv=N on Bochs,
 * which lacks posted interrupts: (b)/(e) then SKIP their exit assertions
 * with that reason; kvm_amd has neither parameter: the counts are only
 * logged there, the functional checks stay).
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include "kselftest_harness.h"
#include "apic_util.h"

GUEST_SYM(apg_blob_start);
GUEST_SYM(apg_blob_end);
GUEST_SYM(apic_irq_stubs);
GUEST_SYM(apg_tpr);
GUEST_SYM(apg_eoi);
GUEST_SYM(apg_level);
GUEST_SYM(apg_state);
GUEST_SYM(apg_x2apic);

#define G(sym) GUEST_ADDR(apg_blob_start, sym)

#define RUN_MS 30000
#define LOOPS 1000
/* "~0 per operation": timer ticks, preemption-timer exits and the syncs
 * themselves add a few exits; 1000 operations that exited would add 1000. */
#define FEW_EXITS 100

/* ---- the device's module parameters ---- */

/* 1 (Y), 0 (N), or -1 when the module has no such parameter. */
static int module_param(const char *name)
{
	const char *mod = strstr(kvm_dev_path(), "minikvm") ? "minikvm" : "kvm_intel";
	char path[128], c = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/%s/parameters/%s", mod, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fread(&c, 1, 1, f) != 1)
		c = 0;
	fclose(f);
	return c == 'Y' || c == '1';
}

/* ---- the vCPU's "exits" statistic (KVM_GET_STATS_FD binary format) ---- */

/*
 * The statistic named name: its first value (*n = how many it has, up to
 * max, copied to out); -1 when the device has no such statistic.
 */
static int vcpu_stat(struct vcpu *v, const char *name, uint64_t *out, int max)
{
	struct kvm_stats_header h;
	char *descs;
	size_t dsz;
	int n = -1;
	uint32_t i;
	int fd = kvm_ioctl(v->fd, KVM_GET_STATS_FD, NULL);

	if (fd < 0)
		die("KVM_GET_STATS_FD: %s", strerror(-fd));
	if (pread(fd, &h, sizeof(h), 0) != sizeof(h))
		die("stats header: %s", strerror(errno));
	dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = calloc(h.num_desc, dsz);
	if (!descs || pread(fd, descs, h.num_desc * dsz, h.desc_offset) != (ssize_t)(h.num_desc * dsz))
		die("stats descriptors: %s", strerror(errno));
	for (i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *d = (struct kvm_stats_desc *)(descs + i * dsz);

		if (strcmp(d->name, name))
			continue;
		n = d->size < max ? d->size : max;
		if (pread(fd, out, n * sizeof(*out), h.data_offset + d->offset) != (ssize_t)(n * sizeof(*out)))
			die("stats data: %s", strerror(errno));
		break;
	}
	free(descs);
	close(fd);
	return n;
}

/* minikvm's per-reason histogram: log the reasons that grew since *before. */
#define NREASONS 70
static void log_reasons(struct __test_metadata *_metadata, struct vcpu *v, const uint64_t *before,
			const char *what)
{
	uint64_t now[NREASONS];
	char buf[512];
	int n = vcpu_stat(v, "exits_by_reason", now, NREASONS), i, len = 0;

	if (n < 0)
		return;
	buf[0] = 0;
	for (i = 0; i < n; i++)
		if (now[i] != before[i] && len < (int)sizeof(buf) - 32)
			len += snprintf(buf + len, sizeof(buf) - len, " %d:%llu", i,
					(unsigned long long)(now[i] - before[i]));
	TH_LOG("%s: exits by VMX reason:%s", what, buf[0] ? buf : " none");
}

static void mark_reasons(struct vcpu *v, uint64_t *before)
{
	memset(before, 0, NREASONS * sizeof(*before));
	vcpu_stat(v, "exits_by_reason", before, NREASONS);
}

static uint64_t vcpu_exits(struct vcpu *v)
{
	uint64_t val;

	if (vcpu_stat(v, "exits", &val, 1) != 1)
		die("no \"exits\" statistic");
	return val;
}

/* ---- fixture ---- */

FIXTURE(apicv) {
	struct apic_vm a;
	struct grun g;
	int flexpriority, apicv;
};

FIXTURE_SETUP(apicv)
{
	apic_vm_setup(&self->a, apg_blob_start, apg_blob_end, apic_irq_stubs, 1,
		      NULL, 1u << 21 /* x2APIC */);
	memset(&self->g, 0, sizeof(self->g));
	self->flexpriority = module_param("flexpriority");
	self->apicv = module_param("enable_apicv");
	TH_LOG("%s: flexpriority=%d enable_apicv=%d (-1: no such parameter)",
	       kvm_dev_path(), self->flexpriority, self->apicv);
}

FIXTURE_TEARDOWN(apicv)
{
	apic_vm_teardown(&self->a);
}

static uint64_t res(struct apic_vm *a, int i)
{
	return pc_res(a, 0, i);
}

/* Run to the next PORT_SYNC with this value; the exits since *mark. */
#define RUN_TO_SYNC(n)                                                  \
	do {                                                            \
		grun(&a->v[0], &self->g, RUN_MS);                       \
		ASSERT_STOP(&self->g, PORT_SYNC);                       \
		ASSERT_EQ((n), self->g.value);                          \
	} while (0)

TEST_F_TIMEOUT(apicv, tpr_writes_without_exits, 120)
{
	struct apic_vm *a = &self->a;
	uint64_t e0, cr8_exits, tpr_exits, r0[NREASONS];

	apic_vcpu_start(a, 0, G(apg_tpr));
	RUN_TO_SYNC(1);
	e0 = vcpu_exits(&a->v[0]);
	mark_reasons(&a->v[0], r0);
	RUN_TO_SYNC(2);
	cr8_exits = vcpu_exits(&a->v[0]) - e0;
	log_reasons(_metadata, &a->v[0], r0, "CR8 writes");
	RUN_TO_SYNC(3);
	e0 = vcpu_exits(&a->v[0]);
	mark_reasons(&a->v[0], r0);
	RUN_TO_SYNC(4);
	tpr_exits = vcpu_exits(&a->v[0]) - e0;
	log_reasons(_metadata, &a->v[0], r0, "TPR MMIO writes");
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	TH_LOG("%d CR8 writes: %llu exits; %d TPR MMIO writes: %llu exits", LOOPS,
	       (unsigned long long)cr8_exits, LOOPS, (unsigned long long)tpr_exits);
	EXPECT_EQ(7, res(a, 0));	/* CR8 */
	EXPECT_EQ(0x90, res(a, 1));	/* TPR */
	EXPECT_EQ(9, res(a, 2));	/* CR8 = TPR[7:4] */
	/* The TPR shadow (VMX) and V_TPR (SVM) make CR8 writes exitless. */
	EXPECT_LT(cr8_exits, FEW_EXITS);
	/*
	 * KVM 6.1 maps its APIC-access page only while APICv is activated
	 * (kvm_faultin_pfn: RET_PF_EMULATE for the private APIC-access slot
	 * otherwise), so kvm_intel with enable_apicv=N (Bochs) emulates every
	 * TPR write despite flexpriority=Y; minikvm maps it with flexpriority.
	 */
	if (self->flexpriority == 1 && (self->apicv == 1 || strstr(kvm_dev_path(), "minikvm"))) {
		EXPECT_LT(tpr_exits, FEW_EXITS);
	} else {
		EXPECT_GE(tpr_exits, LOOPS);	/* each MMIO write exits */
	}
}

TEST_F_TIMEOUT(apicv, eoi_without_exits, 120)
{
	struct apic_vm *a = &self->a;
	uint64_t e0, exits, r0[NREASONS];

	apic_vcpu_start(a, 0, G(apg_eoi));
	RUN_TO_SYNC(1);
	e0 = vcpu_exits(&a->v[0]);
	mark_reasons(&a->v[0], r0);
	RUN_TO_SYNC(2);
	exits = vcpu_exits(&a->v[0]) - e0;
	log_reasons(_metadata, &a->v[0], r0, "self IPI + EOI");
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	TH_LOG("%d x (self IPI by ICR + EOI by MMIO): %llu exits", LOOPS,
	       (unsigned long long)exits);
	EXPECT_EQ(LOOPS, res(a, 0));
	EXPECT_EQ(0, res(a, 1));	/* nothing left in service */
	if (self->apicv == 1) {
		/* nothing for the EOI; at most the ICR write's APIC-write exit */
		EXPECT_LT(exits, LOOPS + FEW_EXITS);
	} else if (self->apicv == 0) {
		EXPECT_GE(exits, 2 * LOOPS);	/* ICR and EOI exit */
		if (!strstr(kvm_dev_path(), "minikvm"))
			SKIP(return, "kvm_intel: enable_apicv=N (this CPU has no posted interrupts): no EOI virtualization to check");
	}
}

TEST_F_TIMEOUT(apicv, level_eoi_reaches_ioapic, 120)
{
	struct apic_vm *a = &self->a;
	struct kvm_irq_level line = { .irq = 10 };
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	int round;

	apic_vcpu_start(a, 0, G(apg_level));
	RUN_TO_SYNC(1);		/* pin 10 programmed: level, vector 0x50 */
	for (round = 1; round <= 2; round++) {
		line.level = 1;
		ASSERT_EQ(0, kvm_ioctl(a->vm.fd, KVM_IRQ_LINE, &line));
		RUN_TO_SYNC(0x50);	/* in the handler, before its EOI */
		ASSERT_EQ(0, kvm_ioctl(a->vm.fd, KVM_GET_IRQCHIP, &chip));
		/* Remote IRR (bit 14) set while the vector is in service */
		EXPECT_NE(0, chip.chip.ioapic.redirtbl[10].bits & (1u << 14));
		line.level = 0;
		ASSERT_EQ(0, kvm_ioctl(a->vm.fd, KVM_IRQ_LINE, &line));
		RUN_TO_SYNC(round + 1);	/* EOI done, count reached */
		ASSERT_EQ(0, kvm_ioctl(a->vm.fd, KVM_GET_IRQCHIP, &chip));
		/* the EOI reached the IOAPIC: Remote IRR clear */
		EXPECT_EQ(0, chip.chip.ioapic.redirtbl[10].bits & (1u << 14))
			TH_LOG("round %d: redirection entry 0x%llx", round,
			       (unsigned long long)chip.chip.ioapic.redirtbl[10].bits);
	}
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(2, pc_count(a, 0, 0x50));
}

static uint32_t lapic_reg(const struct kvm_lapic_state *s, int off)
{
	return *(const uint32_t *)(s->regs + off);
}

static void lapic_set_vec(struct kvm_lapic_state *s, int base, int vec)
{
	*(uint32_t *)(s->regs + base + 0x10 * (vec / 32)) |= 1u << (vec % 32);
}

TEST_F_TIMEOUT(apicv, lapic_state_round_trip_pending, 120)
{
	static const uint32_t want[] = { 0x70, 0x61, 0x60 };
	struct apic_vm *a = &self->a;
	struct kvm_lapic_state s, s2;
	uint32_t i;

	apic_vcpu_start(a, 0, G(apg_state));
	RUN_TO_SYNC(0x70);	/* in the handler of 0x70, 0x60 pending */
	ASSERT_EQ(0, kvm_ioctl(a->v[0].fd, KVM_GET_LAPIC, &s));
	EXPECT_EQ(1u << (0x70 % 32), lapic_reg(&s, APIC_ISR + 0x10 * (0x70 / 32)));
	EXPECT_EQ(1u << (0x60 % 32), lapic_reg(&s, APIC_IRR + 0x10 * (0x60 / 32)));
	EXPECT_EQ(0x70, lapic_reg(&s, APIC_PPR));
	/* The same state back: nothing changes. */
	ASSERT_EQ(0, kvm_ioctl(a->v[0].fd, KVM_SET_LAPIC, &s));
	ASSERT_EQ(0, kvm_ioctl(a->v[0].fd, KVM_GET_LAPIC, &s2));
	for (i = 0; i < sizeof(s.regs); i += 16)
		if (i != APIC_TMCCT)
			EXPECT_EQ(lapic_reg(&s, i), lapic_reg(&s2, i))
				TH_LOG("register 0x%x after KVM_SET_LAPIC", i);
	/* One more pending, by KVM_SET_LAPIC. */
	lapic_set_vec(&s2, APIC_IRR, 0x61);
	ASSERT_EQ(0, kvm_ioctl(a->v[0].fd, KVM_SET_LAPIC, &s2));
	RUN_TO_SYNC(2);
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	EXPECT_EQ(3, pc_u32(a, 0, PC_LOGN));
	for (i = 0; i < 3; i++)
		EXPECT_EQ(want[i], pc_log(a, 0, i))
			TH_LOG("delivery %u: vector 0x%x", i, pc_log(a, 0, i));
	ASSERT_EQ(0, kvm_ioctl(a->v[0].fd, KVM_GET_LAPIC, &s));
	for (i = 0; i < 8; i++) {
		EXPECT_EQ(0, lapic_reg(&s, APIC_ISR + 0x10 * i));
		EXPECT_EQ(0, lapic_reg(&s, APIC_IRR + 0x10 * i));
	}
}

TEST_F_TIMEOUT(apicv, x2apic_passthrough, 120)
{
	struct apic_vm *a = &self->a;
	uint64_t e0, ipi_exits, tpr_exits, r0[NREASONS];

	apic_vcpu_start(a, 0, G(apg_x2apic));
	RUN_TO_SYNC(1);
	e0 = vcpu_exits(&a->v[0]);
	mark_reasons(&a->v[0], r0);
	RUN_TO_SYNC(2);
	ipi_exits = vcpu_exits(&a->v[0]) - e0;
	log_reasons(_metadata, &a->v[0], r0, "x2APIC SELF IPI + EOI");
	e0 = vcpu_exits(&a->v[0]);
	mark_reasons(&a->v[0], r0);
	RUN_TO_SYNC(3);
	tpr_exits = vcpu_exits(&a->v[0]) - e0;
	log_reasons(_metadata, &a->v[0], r0, "x2APIC TPR writes");
	grun(&a->v[0], &self->g, RUN_MS);
	ASSERT_DONE(&self->g);
	TH_LOG("x2APIC: %d x (SELF IPI + EOI by MSR): %llu exits; %d TPR MSR writes: %llu exits",
	       LOOPS, (unsigned long long)ipi_exits, LOOPS, (unsigned long long)tpr_exits);
	EXPECT_EQ(0x80, res(a, 0));	/* TPR */
	EXPECT_EQ(8, res(a, 1));	/* CR8 */
	EXPECT_EQ(LOOPS, res(a, 2));	/* deliveries of 0x41 */
	EXPECT_EQ(0x80, res(a, 3));	/* PPR = TPR, nothing in service */
	if (self->apicv == 1) {
		EXPECT_LT(ipi_exits, FEW_EXITS);
		EXPECT_LT(tpr_exits, FEW_EXITS);
	} else if (self->apicv == 0) {
		EXPECT_GE(ipi_exits, 2 * LOOPS);	/* WRMSR SELF IPI and EOI exit */
		if (!strstr(kvm_dev_path(), "minikvm"))
			SKIP(return, "kvm_intel: enable_apicv=N (this CPU has no posted interrupts): no x2APIC virtualization to check");
	}
}

TEST_HARNESS_MAIN
