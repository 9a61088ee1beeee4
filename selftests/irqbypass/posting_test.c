// SPDX-License-Identifier: GPL-2.0
/*
 * VT-d posting of an assigned device's MSI, end to end through the
 * kernel's irq-bypass manager, without VFIO or a posting IOMMU: the
 * test-only module minikvm_bypass_test.ko plays both (its producer's irq
 * has an irq_chip that records every irq_set_vcpu_affinity() call).
 *
 * A VM with the in-kernel irqchip and 2 vCPUs, an eventfd bound by
 * KVM_IRQFD to GSI 40, routed as an MSI. When the producer registers with
 * the eventfd's context as its token, the irqfd (the consumer) must hand
 * the IRTE to the IOMMU: irq_set_vcpu_affinity(irq, &vcpu_data{pi_desc,
 * vector}) for a single-destination fixed/lowest-priority route to a vCPU
 * with a posted-interrupt descriptor, NULL (remapped) when a routing change
 * makes it unpostable, and NULL again when the irqfd or the producer goes.
 *
 * minikvm posts only when the vCPUs have descriptors (enable_apicv=1) and
 * either the CPU posts or the test-only knob irte_posting_test=1 is set
 * (the testbed's CPUs cannot post). The test sets the knob itself through
 * sysfs and puts it back. The kernel's KVM (reference) makes no call at
 * all here (vmx_pi_update_irte returns early without IRQ_POSTING_CAP): the
 * tests check that, and that attach/detach/teardown are clean, then SKIP
 * the posting assertions with the reason.
 *
 * Device: $MINIKVM_DEV (default /dev/kvm). minikvm is recognised by its
 * VM statistics (irte_posted), which the tests also check.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "kselftest_harness.h"
#include "minikvm_bypass_test.h"

#define GSI 40
#define KNOB "/sys/module/minikvm/parameters/irte_posting_test"
#define APICV "/sys/module/minikvm/parameters/enable_apicv"

static const char *dev_path(void)
{
	const char *p = getenv("MINIKVM_DEV");

	return p && *p ? p : "/dev/kvm";
}

/* "Y"/"N"/"1"/"0" of a module parameter; -1 when absent. */
static int read_param(const char *path)
{
	char c = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return -1;
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	return c == 'Y' || c == '1';
}

static int write_param(const char *path, int on)
{
	int fd = open(path, O_WRONLY);
	int r;

	if (fd < 0)
		return -errno;
	r = write(fd, on ? "1" : "0", 1) == 1 ? 0 : -errno;
	close(fd);
	return r;
}

/* A VM statistic by name (KVM_GET_STATS_FD); -1 when there is none. */
static long long vm_stat(int vmfd, const char *name)
{
	struct kvm_stats_header h;
	long long val = -1;
	char *descs = NULL;
	size_t dsz;
	int fd = ioctl(vmfd, KVM_GET_STATS_FD, NULL);

	if (fd < 0)
		return -1;
	if (pread(fd, &h, sizeof(h), 0) != sizeof(h))
		goto out;
	dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = calloc(h.num_desc, dsz);
	if (!descs || pread(fd, descs, h.num_desc * dsz, h.desc_offset) != (ssize_t)(h.num_desc * dsz))
		goto out;
	for (unsigned int i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *d = (void *)(descs + i * dsz);
		uint64_t v;

		if (strcmp(d->name, name))
			continue;
		if (pread(fd, &v, sizeof(v), h.data_offset + d->offset) == sizeof(v))
			val = (long long)v;
		break;
	}
out:
	free(descs);
	close(fd);
	return val;
}

static int set_msi_route(int vmfd, uint32_t address_lo, uint32_t data)
{
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[1];
	} t;

	memset(&t, 0, sizeof(t));
	t.r.nr = 1;
	t.e[0].gsi = GSI;
	t.e[0].type = KVM_IRQ_ROUTING_MSI;
	t.e[0].u.msi.address_lo = address_lo;
	t.e[0].u.msi.data = data;
	return ioctl(vmfd, KVM_SET_GSI_ROUTING, &t);
}

/* MSI to one destination: physical (dest = APIC ID) or logical (bits). */
static uint32_t msi_addr(uint8_t dest, int logical)
{
	return 0xfee00000u | ((uint32_t)dest << 12) | (logical ? 4u : 0u);
}

static int irqfd(int vmfd, int efd, int deassign)
{
	struct kvm_irqfd f;

	memset(&f, 0, sizeof(f));
	f.fd = efd;
	f.gsi = GSI;
	f.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0;
	return ioctl(vmfd, KVM_IRQFD, &f);
}

/*
 * Runs vCPU i until its first exit to userspace: an OUT to port 0xe9 at the
 * reset vector (0xfffffff0). Only vCPU 0 runs: vCPU 1, the route's first
 * destination, never has, so posting to it shows that a vCPU has its
 * posted-interrupt descriptor from creation on (as KVM's), not only after
 * its first KVM_RUN.
 */
static int run_once(int kvm, int vcpu, int is_ap)
{
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
	int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run;
	int r;

	/* With the in-kernel irqchip an AP waits for INIT/SIPI: start it. */
	if (is_ap && ioctl(vcpu, KVM_SET_MP_STATE, &mp))
		return -errno;
	if (sz <= 0)
		return -EINVAL;
	run = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return -errno;
	alarm(20);
	r = ioctl(vcpu, KVM_RUN, 0);
	alarm(0);
	if (r)
		r = -errno;
	else if (run->exit_reason != KVM_EXIT_IO || run->io.port != 0xe9)
		r = -EPROTO;
	munmap(run, sz);
	return r;
}

FIXTURE(posting) {
	int kvm, vm, vcpu[2], efd, bt;
	void *mem;
	int minikvm;        /* the device is minikvm (it has irte_* stats) */
	int knob_was;       /* irte_posting_test before the test (-1: absent) */
	int expect_posting; /* minikvm with descriptors and the knob on */
	int irq;            /* the test irq (after MKBT_REGISTER) */
	unsigned int seen;  /* log entries already checked */
	struct mkbt_log log;
};

FIXTURE_SETUP(posting)
{
	self->vm = self->efd = self->bt = self->kvm = -1;
	self->mem = MAP_FAILED;
	self->vcpu[0] = self->vcpu[1] = -1;
	self->knob_was = -1;
	self->bt = open("/dev/minikvm_bypass_test", O_RDWR);
	if (self->bt < 0)
		SKIP(return, "no /dev/minikvm_bypass_test (insmod selftests/irqbypass/minikvm_bypass_test.ko)");
	self->kvm = open(dev_path(), O_RDWR);
	ASSERT_GE(self->kvm, 0) TH_LOG("open %s: %s", dev_path(), strerror(errno));
	self->vm = ioctl(self->kvm, KVM_CREATE_VM, 0);
	ASSERT_GE(self->vm, 0);
	ASSERT_EQ(ioctl(self->vm, KVM_CREATE_IRQCHIP, 0), 0);
	/* One page at the top of the 4 GiB space: "out %al, $0xe9" at the
	 * reset vector. */
	self->mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(self->mem, MAP_FAILED);
	memcpy((char *)self->mem + 0xff0, "\xe6\xe9\xf4", 3);
	struct kvm_userspace_memory_region mr = {
		.slot = 0, .guest_phys_addr = 0xfffff000, .memory_size = 4096,
		.userspace_addr = (uintptr_t)self->mem,
	};
	ASSERT_EQ(ioctl(self->vm, KVM_SET_USER_MEMORY_REGION, &mr), 0);
	for (int i = 0; i < 2; i++) {
		self->vcpu[i] = ioctl(self->vm, KVM_CREATE_VCPU, i);
		ASSERT_GE(self->vcpu[i], 0);
		if (i == 0)
			ASSERT_EQ(run_once(self->kvm, self->vcpu[i], i), 0);
	}
	self->minikvm = vm_stat(self->vm, "irte_posted") >= 0;
	self->efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_GE(self->efd, 0);
	/* Single destination: vCPU 1 (APIC ID 1 after reset), vector 0x41. */
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(1, 0), 0x41), 0);
	ASSERT_EQ(ioctl(self->bt, MKBT_CLEAR_LOG, 0), 0);
	ASSERT_EQ(ioctl(self->bt, MKBT_FAIL_POSTED, 0), 0);
	if (self->minikvm) {
		/* Last: a failed setup skips the teardown that restores it. */
		self->knob_was = read_param(KNOB);
		ASSERT_GE(self->knob_was, 0) TH_LOG("minikvm without %s", KNOB);
		ASSERT_EQ(write_param(KNOB, 1), 0);
		/* Descriptors exist with APICv on (the testbed's CPU cannot
		 * post: the knob makes the software descriptor count). */
		self->expect_posting = read_param(APICV) == 1;
	}
}

/* The 6.1 harness runs the test body after a SKIP in the setup. */
#define NEED_DEVICE()                                                           \
	do {                                                                    \
		if (self->bt < 0)                                               \
			SKIP(return, "no /dev/minikvm_bypass_test");            \
	} while (0)

FIXTURE_TEARDOWN(posting)
{
	if (self->bt >= 0) {
		ioctl(self->bt, MKBT_FAIL_POSTED, 0);
		close(self->bt); /* unregisters a producer left behind */
	}
	if (self->efd >= 0)
		close(self->efd);
	for (int i = 0; i < 2; i++)
		if (self->vcpu[i] >= 0)
			close(self->vcpu[i]);
	if (self->vm >= 0)
		close(self->vm);
	if (self->kvm >= 0)
		close(self->kvm);
	if (self->mem != MAP_FAILED)
		munmap(self->mem, 4096);
	if (self->knob_was >= 0)
		write_param(KNOB, self->knob_was);
}

/* Waits (up to 2 s: teardown may run from a work item) until the log holds
 * at least n calls; returns how many it holds. */
static unsigned int calls_after(int bt, struct mkbt_log *log, unsigned int n)
{
	for (int i = 0; i < 200; i++) {
		if (ioctl(bt, MKBT_GET_LOG, log))
			return 0;
		if (log->count >= n)
			break;
		usleep(10000);
	}
	return log->count;
}

/* Expects exactly `more` new calls since the last check; with more == 0
 * it waits a little to see that none comes. */
#define EXPECT_NEW_CALLS(more)                                                  \
	do {                                                                    \
		unsigned int want_ = self->seen + (more);                       \
		if (!(more))                                                    \
			usleep(50000);                                          \
		ASSERT_EQ(calls_after(self->bt, &self->log, want_), want_);     \
	} while (0)

#define CALL(k) (self->log.calls[self->seen + (k)])

/* The next call is posted to vector v with a plausible descriptor. */
#define EXPECT_POSTED(k, v)                                                     \
	do {                                                                    \
		EXPECT_EQ(CALL(k).irq, (unsigned int)self->irq);                \
		EXPECT_EQ(CALL(k).posted, 1);                                   \
		EXPECT_EQ(CALL(k).vector, (v));                                 \
		EXPECT_NE(CALL(k).pi_desc_addr, 0);                             \
		EXPECT_EQ(CALL(k).pi_desc_addr & 63, 0);                        \
	} while (0)
#define EXPECT_REMAPPED(k)                                                      \
	do {                                                                    \
		EXPECT_EQ(CALL(k).irq, (unsigned int)self->irq);                \
		EXPECT_EQ(CALL(k).posted, 0);                                   \
	} while (0)

static const char kvm_skip[] =
	"KVM: no IOMMU posting capability (irq_remapping_cap(IRQ_POSTING_CAP) is false), so its pi_update_irte makes no call; attach/detach checked clean";

/* The whole life of one posted IRTE, with routing churn. */
TEST_F_TIMEOUT(posting, attach_update_detach, 120)
{
	NEED_DEVICE();
	ASSERT_EQ(irqfd(self->vm, self->efd, 0), 0);
	self->irq = ioctl(self->bt, MKBT_REGISTER, self->efd);
	ASSERT_GT(self->irq, 0) TH_LOG("MKBT_REGISTER: %s", strerror(errno));
	if (!self->expect_posting) {
		/* KVM, or minikvm without descriptors: never a call. */
		EXPECT_NEW_CALLS(0);
		ASSERT_EQ(set_msi_route(self->vm, msi_addr(1, 0), 0x42), 0);
		ASSERT_EQ(set_msi_route(self->vm, msi_addr(0xff, 0), 0x42), 0);
		ASSERT_EQ(irqfd(self->vm, self->efd, 1), 0);
		ASSERT_EQ(ioctl(self->bt, MKBT_UNREGISTER, 0), 0);
		EXPECT_NEW_CALLS(0);
		if (!self->minikvm)
			SKIP(return, "%s", kvm_skip);
		SKIP(return, "minikvm with enable_apicv=0: vCPUs have no posted-interrupt descriptor");
	}
	/* Attach: posted to vCPU 1's descriptor, the route's vector. */
	EXPECT_NEW_CALLS(1);
	EXPECT_POSTED(0, 0x41);
	uint64_t pi1 = CALL(0).pi_desc_addr;
	TH_LOG("attach: irq %u posted vector 0x%x pi_desc_addr 0x%llx", CALL(0).irq, CALL(0).vector,
	       (unsigned long long)pi1);
	self->seen += 1;
	EXPECT_EQ(vm_stat(self->vm, "irte_posted"), 1);

	/* Another vector: a new posted call, same descriptor. */
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(1, 0), 0x42), 0);
	EXPECT_NEW_CALLS(1);
	EXPECT_POSTED(0, 0x42);
	EXPECT_EQ(CALL(0).pi_desc_addr, pi1);
	self->seen += 1;

	/* The same route again: nothing to tell the IOMMU. */
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(1, 0), 0x42), 0);
	EXPECT_NEW_CALLS(0);

	/* vCPU 0: another descriptor. */
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(0, 0), 0x42), 0);
	EXPECT_NEW_CALLS(1);
	EXPECT_POSTED(0, 0x42);
	EXPECT_NE(CALL(0).pi_desc_addr, pi1);
	self->seen += 1;

	/* Broadcast (two destinations): back to remapped mode. */
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(0xff, 0), 0x43), 0);
	EXPECT_NEW_CALLS(1);
	EXPECT_REMAPPED(0);
	self->seen += 1;
	EXPECT_EQ(vm_stat(self->vm, "irte_remapped"), 1);

	/* NMI delivery is not postable either: still remapped, no call. */
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(1, 0), 0x400 | 0x43), 0);
	EXPECT_NEW_CALLS(0);

	/* Lowest priority with one candidate: posted again. */
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(1, 0), 0x100 | 0x44), 0);
	EXPECT_NEW_CALLS(1);
	EXPECT_POSTED(0, 0x44);
	EXPECT_EQ(CALL(0).pi_desc_addr, pi1);
	self->seen += 1;

	/* Deassigning the irqfd detaches: remapped. */
	ASSERT_EQ(irqfd(self->vm, self->efd, 1), 0);
	EXPECT_NEW_CALLS(1);
	EXPECT_REMAPPED(0);
	self->seen += 1;

	/* The producer goes: no consumer left, no call. */
	ASSERT_EQ(ioctl(self->bt, MKBT_UNREGISTER, 0), 0);
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(1, 0), 0x45), 0);
	EXPECT_NEW_CALLS(0);
	EXPECT_EQ(vm_stat(self->vm, "irte_posted"), 4);
	EXPECT_EQ(vm_stat(self->vm, "irte_remapped"), 2);
	EXPECT_EQ(vm_stat(self->vm, "irte_failures"), 0);
	TH_LOG("%u irq_set_vcpu_affinity calls; VM stats irte_posted %lld irte_remapped %lld irte_failures %lld",
	       self->log.count, vm_stat(self->vm, "irte_posted"), vm_stat(self->vm, "irte_remapped"),
	       vm_stat(self->vm, "irte_failures"));
}

/* Producer first, irqfd second (the consumer connects at KVM_IRQFD); the
 * producer leaves while posted; then the irqfd is deassigned. */
TEST_F_TIMEOUT(posting, producer_first_then_unregister, 120)
{
	NEED_DEVICE();
	self->irq = ioctl(self->bt, MKBT_REGISTER, self->efd);
	ASSERT_GT(self->irq, 0);
	EXPECT_NEW_CALLS(0);
	ASSERT_EQ(irqfd(self->vm, self->efd, 0), 0);
	if (self->expect_posting) {
		EXPECT_NEW_CALLS(1);
		EXPECT_POSTED(0, 0x41);
		self->seen += 1;
	}
	ASSERT_EQ(ioctl(self->bt, MKBT_UNREGISTER, 0), 0);
	if (self->expect_posting) {
		EXPECT_NEW_CALLS(1);
		EXPECT_REMAPPED(0);
		self->seen += 1;
	}
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(1, 0), 0x46), 0);
	ASSERT_EQ(irqfd(self->vm, self->efd, 1), 0);
	EXPECT_NEW_CALLS(0);
	/* A second registration with the same eventfd works again. */
	self->irq = ioctl(self->bt, MKBT_REGISTER, self->efd);
	ASSERT_GT(self->irq, 0);
	EXPECT_NEW_CALLS(0);
	if (!self->expect_posting)
		SKIP(return, "%s", self->minikvm ? "minikvm with enable_apicv=0" : kvm_skip);
}

/* Without the test knob minikvm never posts on a CPU that cannot: the
 * IRTE stays in remapped mode, in which it already is: no call at all. */
TEST_F_TIMEOUT(posting, no_knob_no_posted_calls, 120)
{
	NEED_DEVICE();
	if (!self->minikvm)
		SKIP(return, "minikvm's test-only irte_posting_test knob");
	ASSERT_EQ(write_param(KNOB, 0), 0);
	ASSERT_EQ(irqfd(self->vm, self->efd, 0), 0);
	self->irq = ioctl(self->bt, MKBT_REGISTER, self->efd);
	ASSERT_GT(self->irq, 0);
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(0, 0), 0x47), 0);
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(0xff, 0), 0x47), 0);
	ASSERT_EQ(irqfd(self->vm, self->efd, 1), 0);
	ASSERT_EQ(ioctl(self->bt, MKBT_UNREGISTER, 0), 0);
	EXPECT_NEW_CALLS(0);
	EXPECT_EQ(vm_stat(self->vm, "irte_posted"), 0);
	EXPECT_EQ(vm_stat(self->vm, "irte_remapped"), 0);
}

/* The IOMMU refuses posted mode: minikvm falls back to remapped mode
 * (a NULL call right after), counts it, and keeps the connection. */
TEST_F_TIMEOUT(posting, refused_posting_falls_back, 120)
{
	NEED_DEVICE();
	if (!self->expect_posting)
		SKIP(return, "%s", self->minikvm ? "minikvm with enable_apicv=0" : kvm_skip);
	ASSERT_EQ(ioctl(self->bt, MKBT_FAIL_POSTED, EIO), 0);
	ASSERT_EQ(irqfd(self->vm, self->efd, 0), 0);
	self->irq = ioctl(self->bt, MKBT_REGISTER, self->efd);
	ASSERT_GT(self->irq, 0);
	EXPECT_NEW_CALLS(2);
	EXPECT_POSTED(0, 0x41);
	EXPECT_EQ(CALL(0).ret, -EIO);
	EXPECT_REMAPPED(1);
	self->seen += 2;
	EXPECT_EQ(vm_stat(self->vm, "irte_failures"), 1);
	EXPECT_EQ(vm_stat(self->vm, "irte_posted"), 0);
	/* Still refusing: tried again at the next routing change. */
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(1, 0), 0x48), 0);
	EXPECT_NEW_CALLS(2);
	self->seen += 2;
	EXPECT_EQ(vm_stat(self->vm, "irte_failures"), 2);
	/* The IOMMU recovers: the next change posts. */
	ASSERT_EQ(ioctl(self->bt, MKBT_FAIL_POSTED, 0), 0);
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(1, 0), 0x49), 0);
	EXPECT_NEW_CALLS(1);
	EXPECT_POSTED(0, 0x49);
	EXPECT_EQ(CALL(0).ret, 0);
	self->seen += 1;
	ASSERT_EQ(ioctl(self->bt, MKBT_UNREGISTER, 0), 0);
	EXPECT_NEW_CALLS(1);
	EXPECT_REMAPPED(0);
}

/* Closing the eventfd (POLLHUP tears the irqfd down) while the producer
 * is attached and posted: detached, then nothing more. */
TEST_F_TIMEOUT(posting, eventfd_close_detaches, 120)
{
	NEED_DEVICE();
	ASSERT_EQ(irqfd(self->vm, self->efd, 0), 0);
	self->irq = ioctl(self->bt, MKBT_REGISTER, self->efd);
	ASSERT_GT(self->irq, 0);
	if (self->expect_posting) {
		EXPECT_NEW_CALLS(1);
		EXPECT_POSTED(0, 0x41);
		self->seen += 1;
	}
	close(self->efd);
	self->efd = -1;
	if (self->expect_posting) {
		EXPECT_NEW_CALLS(1);
		EXPECT_REMAPPED(0);
		self->seen += 1;
	}
	ASSERT_EQ(set_msi_route(self->vm, msi_addr(1, 0), 0x4a), 0);
	ASSERT_EQ(ioctl(self->bt, MKBT_UNREGISTER, 0), 0);
	EXPECT_NEW_CALLS(0);
	if (!self->expect_posting)
		SKIP(return, "%s", self->minikvm ? "minikvm with enable_apicv=0" : kvm_skip);
}

/* Destroying the VM with the producer attached and posted: the irqfd goes
 * with the VM and detaches; the producer then leaves quietly. */
TEST_F_TIMEOUT(posting, vm_destroyed_with_producer, 120)
{
	NEED_DEVICE();
	ASSERT_EQ(irqfd(self->vm, self->efd, 0), 0);
	self->irq = ioctl(self->bt, MKBT_REGISTER, self->efd);
	ASSERT_GT(self->irq, 0);
	if (self->expect_posting) {
		EXPECT_NEW_CALLS(1);
		EXPECT_POSTED(0, 0x41);
		self->seen += 1;
	}
	for (int i = 0; i < 2; i++) {
		close(self->vcpu[i]);
		self->vcpu[i] = -1;
	}
	close(self->vm);
	self->vm = -1;
	if (self->expect_posting) {
		EXPECT_NEW_CALLS(1);
		EXPECT_REMAPPED(0);
		self->seen += 1;
	}
	ASSERT_EQ(ioctl(self->bt, MKBT_UNREGISTER, 0), 0);
	EXPECT_NEW_CALLS(0);
	if (!self->expect_posting)
		SKIP(return, "%s", self->minikvm ? "minikvm with enable_apicv=0" : kvm_skip);
}

TEST_HARNESS_MAIN
