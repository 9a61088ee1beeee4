// SPDX-License-Identifier: GPL-2.0
/*
 * irqfd and ioeventfd with the in-kernel irqchip.  Two vCPUs (APIC IDs 0
 * and 1) run the interrupt agent (irq_agent.inc); eventfds are signalled
 * from the host (write(2)) and the guest's interrupt stubs log what
 * arrives.
 *
 * KVM behaviour pinned down here (Linux 6.1, virt/kvm/eventfd.c,
 * arch/x86/kvm/irq.c kvm_arch_irqfd_allowed), which minikvm must match:
 *
 * - KVM_IRQFD: flags other than DEASSIGN/RESAMPLE -EINVAL; no in-kernel
 *   irqchip -EINVAL; a closed fd -EBADF; a file that is not an eventfd
 *   -EINVAL; an eventfd already bound (to any GSI) -EBUSY; deassign of a
 *   pair never assigned 0 (not -ENOENT); the GSI is not range-checked.
 * - A signal injects an edge through the GSI's current route (IOAPIC pin
 *   or MSI); with KVM_IRQFD_FLAG_RESAMPLE the line stays up until the
 *   guest's EOI, which lowers it and signals the resamplefd; a new signal
 *   delivers again.  Resample on a GSI with an MSI route is accepted and
 *   delivers an edge (no EOI ever comes back to the resamplefd).
 * - A routing change reaches assigned irqfds (vector and destination).
 * - Closing the eventfd detaches the irqfd (POLLHUP); closing the VM with
 *   irqfds assigned frees them; thousands of irqfds work.
 * - KVM_IOEVENTFD: a matching guest write (PIO or MMIO, exact address,
 *   length, optional datamatch; length 0 = any) signals the eventfd and
 *   completes without an exit; other writes exit as before; duplicates
 *   -EEXIST; deassign of one not assigned -ENOENT.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "irq_util.h"

#define V(i) (&self->x.v[i])
#define COUNT(i) (agent_mbox(V(i))->count)
#define LAST(i) (agent_mbox(V(i))->last)

struct routing {
	struct kvm_irq_routing hdr;
	struct kvm_irq_routing_entry e[8];
};

static long irqfd(int vm_fd, int fd, uint32_t gsi, uint32_t flags, int rfd)
{
	struct kvm_irqfd a = {
		.fd = fd, .gsi = gsi, .flags = flags, .resamplefd = rfd,
	};

	return kvm_ioctl(vm_fd, KVM_IRQFD, &a);
}

static long ioeventfd(int vm_fd, int fd, uint64_t addr, uint32_t len, uint32_t flags,
		      uint64_t datamatch)
{
	struct kvm_ioeventfd a = {
		.datamatch = datamatch, .addr = addr, .len = len, .fd = fd, .flags = flags,
	};

	return kvm_ioctl(vm_fd, KVM_IOEVENTFD, &a);
}

static int efd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (fd < 0)
		die("eventfd: %s", strerror(errno));
	return fd;
}

static void sig(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, 8) != 8)
		die("eventfd write: %s", strerror(errno));
}

/* The eventfd's counter, zeroed; 0 when nothing was signalled. */
static uint64_t drain(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, 8) != 8)
		return 0;
	return v;
}

/* Waits up to ms for fd to become readable; its counter, zeroed. */
static uint64_t wait_drain(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	poll(&p, 1, ms);
	return drain(fd);
}

FIXTURE(irqfd) {
	struct irq_vm x;
};

FIXTURE_SETUP(irqfd)
{
	int i;

	irq_vm_init(&self->x, 2, IRQ_VM_IRQCHIP);
	for (i = 0; i < 2; i++) {
		ASSERT_TRUE(lapic_write(V(i), APIC_LVT0, APIC_LVT_MASKED));
		ASSERT_TRUE(lapic_enable(V(i)));
	}
}

FIXTURE_TEARDOWN(irqfd)
{
	irq_vm_close(&self->x);
}

TEST_F(irqfd, msi_route)
{
	struct routing r = { .hdr.nr = 0 };
	int fd = efd(), i;

	irq_route_msi(&r.hdr, 40, MSI_ADDR(1), 0x81);
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_SET_GSI_ROUTING, &r));
	ASSERT_EQ(0, irqfd(self->x.vm.fd, fd, 40, 0, 0));
	for (i = 1; i <= 5; i++) {
		sig(fd);
		ASSERT_TRUE(agent_wait(V(1), i));
		EXPECT_EQ(0x81, LAST(1));
	}
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(0, COUNT(0));
	EXPECT_EQ(0, drain(fd)) TH_LOG("KVM consumes the count at the wake-up");
	close(fd);
}

TEST_F(irqfd, ioapic_edge)
{
	int fd = efd();

	ASSERT_TRUE(ioapic_set_redir(V(0), 17, 0x91, RTE_DEST(0)));
	ASSERT_EQ(0, irqfd(self->x.vm.fd, fd, 17, 0, 0));
	sig(fd);
	ASSERT_TRUE(agent_wait(V(0), 1));
	EXPECT_EQ(0x91, LAST(0));
	sig(fd);
	ASSERT_TRUE(agent_wait(V(0), 2)) TH_LOG("an edge each time: the line went low again");
	/* Deassigned: no more interrupts. */
	ASSERT_EQ(0, irqfd(self->x.vm.fd, fd, 17, KVM_IRQFD_FLAG_DEASSIGN, 0));
	sig(fd);
	usleep(20000);
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(2, COUNT(0));
	close(fd);
}

TEST_F(irqfd, level_with_resample)
{
	int fd = efd(), rfd = efd(), fd2 = efd(), rfd2 = efd();
	uint32_t lo, hi;

	ASSERT_TRUE(ioapic_set_redir(V(0), 18, RTE_LEVEL | 0x92, RTE_DEST(0)));
	ASSERT_EQ(0, irqfd(self->x.vm.fd, fd, 18, KVM_IRQFD_FLAG_RESAMPLE, rfd));
	ASSERT_EQ(0, irqfd(self->x.vm.fd, fd2, 18, KVM_IRQFD_FLAG_RESAMPLE, rfd2));
	EXPECT_EQ(0, drain(rfd));
	sig(fd);
	ASSERT_TRUE(agent_wait(V(0), 1));
	EXPECT_EQ(0x92, LAST(0));
	/* The stub's EOI: line lowered (no re-delivery), resamplefds told. */
	EXPECT_EQ(1, wait_drain(rfd, 1000));
	EXPECT_EQ(1, wait_drain(rfd2, 1000)) TH_LOG("one resampler per GSI: every irqfd hears the EOI");
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(1, COUNT(0)) TH_LOG("no re-delivery at EOI: the line was lowered");
	ASSERT_TRUE(ioapic_get_redir(V(0), 18, &lo, &hi));
	EXPECT_EQ(0, lo & RTE_REMOTE_IRR);
	/* Again. */
	sig(fd2);
	ASSERT_TRUE(agent_wait(V(0), 2));
	EXPECT_EQ(1, wait_drain(rfd, 1000));
	/* Without the EOI the line stays up: Remote IRR stays set. */
	agent_set_eoi(V(0), 0);
	sig(fd);
	ASSERT_TRUE(agent_wait(V(0), 3));
	ASSERT_TRUE(ioapic_get_redir(V(0), 18, &lo, &hi));
	EXPECT_NE(0, lo & RTE_REMOTE_IRR);
	EXPECT_EQ(0, drain(rfd));
	close(fd);
	close(fd2);
	close(rfd);
	close(rfd2);
}

TEST_F(irqfd, resample_on_an_msi_gsi)
{
	struct routing r = { .hdr.nr = 0 };
	int fd = efd(), rfd = efd();

	irq_route_msi(&r.hdr, 41, MSI_ADDR(0), 0x83);
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_SET_GSI_ROUTING, &r));
	ASSERT_EQ(0, irqfd(self->x.vm.fd, fd, 41, KVM_IRQFD_FLAG_RESAMPLE, rfd));
	sig(fd);
	ASSERT_TRUE(agent_wait(V(0), 1));
	EXPECT_EQ(0x83, LAST(0));
	sig(fd);
	ASSERT_TRUE(agent_wait(V(0), 2)) TH_LOG("an MSI is an edge: delivered again");
	EXPECT_EQ(0, wait_drain(rfd, 50)) TH_LOG("no pin, no ack: the resamplefd stays quiet");
	close(fd);
	close(rfd);
}

/* ---- routing swapped while the guest takes interrupts ----------------- */

#define ROUNDS 40

struct waiter {
	struct vcpu *v;
	uint64_t want;
	pthread_t thread;
	volatile bool ok, done;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	irq_thread_sigmask();
	w->ok = agent_wait(w->v, w->want);
	w->done = true;
	return NULL;
}

TEST_F_TIMEOUT(irqfd, routing_swapped_while_taking_interrupts, 120)
{
	struct waiter w[2] = {
		{ .v = V(0), .want = ROUNDS / 2 }, { .v = V(1), .want = ROUNDS / 2 },
	};
	struct routing r = { .hdr.nr = 0 };
	uint64_t deadline;
	int fd = efd(), i, j;

	/* First an IOAPIC route, then MSI routes alternating vCPU and vector. */
	ASSERT_TRUE(ioapic_set_redir(V(0), 19, 0x60, RTE_DEST(0)));
	r.hdr.nr = 0;
	irq_route_chip(&r.hdr, 60, KVM_IRQCHIP_IOAPIC, 19);
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_SET_GSI_ROUTING, &r));
	ASSERT_EQ(0, irqfd(self->x.vm.fd, fd, 60, 0, 0));
	sig(fd);
	ASSERT_TRUE(agent_wait(V(0), 1));
	EXPECT_EQ(0x60, LAST(0));
	w[0].want += 1;
	for (j = 0; j < 2; j++)
		ASSERT_EQ(0, pthread_create(&w[j].thread, NULL, wait_thread, &w[j]));
	for (i = 0; i < ROUNDS; i++) {
		int dest = i & 1;
		volatile struct agent_mbox *mb = agent_mbox(V(dest));
		uint64_t before = mb->count;

		r.hdr.nr = 0;
		irq_route_msi(&r.hdr, 60, MSI_ADDR(dest), 0x70 + (i % 16));
		ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_SET_GSI_ROUTING, &r));
		sig(fd);
		deadline = irq_now_ms() + AGENT_TIMEOUT_S * 1000;
		while (mb->count == before && irq_now_ms() < deadline)
			usleep(100);
		ASSERT_EQ(before + 1, mb->count) TH_LOG("round %d: vCPU %d", i, dest);
		EXPECT_EQ(0x70 + (i % 16), mb->last) TH_LOG("round %d", i);
	}
	for (j = 0; j < 2; j++) {
		deadline = irq_now_ms() + AGENT_TIMEOUT_S * 1000;
		while (!w[j].done && irq_now_ms() < deadline)
			usleep(1000);
		if (!w[j].done)
			irq_kick_thread(w[j].thread);
		ASSERT_EQ(0, pthread_join(w[j].thread, NULL));
		EXPECT_TRUE(w[j].ok);
	}
	EXPECT_EQ(ROUNDS / 2 + 1, COUNT(0));
	EXPECT_EQ(ROUNDS / 2, COUNT(1));
	close(fd);
}

/* A signalling thread races routing changes between two vectors: every
 * interrupt taken has one of them, none is lost for good (the last
 * route's interrupt arrives), coalescing aside. */
struct signaller {
	int fd, n;
	pthread_t thread;
};

static void *signal_thread(void *arg)
{
	struct signaller *s = arg;
	int i;

	for (i = 0; i < s->n; i++) {
		sig(s->fd);
		if (!(i % 8))
			usleep(50);
	}
	return NULL;
}

TEST_F_TIMEOUT(irqfd, signalling_thread_races_routing_changes, 120)
{
	struct signaller s = { .fd = efd(), .n = 400 };
	struct waiter w = { .v = V(0), .want = 1 };
	struct routing r = { .hdr.nr = 0 };
	volatile struct agent_mbox *mb = agent_mbox(V(0));
	uint64_t deadline, n;
	int i;

	r.hdr.nr = 0;
	irq_route_msi(&r.hdr, 61, MSI_ADDR(0), 0x70);
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_SET_GSI_ROUTING, &r));
	ASSERT_EQ(0, irqfd(self->x.vm.fd, s.fd, 61, 0, 0));
	ASSERT_EQ(0, pthread_create(&s.thread, NULL, signal_thread, &s));
	for (i = 0; i < 100; i++) {
		r.hdr.nr = 0;
		irq_route_msi(&r.hdr, 61, MSI_ADDR(0), 0x70 + (i & 1));
		ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_SET_GSI_ROUTING, &r));
		ASSERT_TRUE(agent_idle(V(0)));
	}
	ASSERT_EQ(0, pthread_join(s.thread, NULL));
	ASSERT_TRUE(agent_idle(V(0)));
	n = mb->count;
	EXPECT_LE(1, n);
	EXPECT_GE(s.n, n);
	for (i = 0; i < (int)n && i < MB_LOG_LEN; i++)
		EXPECT_TRUE(mb->log[i] == 0x70 || mb->log[i] == 0x71) TH_LOG("interrupt %d: %#x", i, mb->log[i]);
	/* The final route: one more signal, exactly one interrupt, its vector. */
	r.hdr.nr = 0;
	irq_route_msi(&r.hdr, 61, MSI_ADDR(0), 0x72);
	ASSERT_EQ(0, kvm_ioctl(self->x.vm.fd, KVM_SET_GSI_ROUTING, &r));
	w.want = n + 1;
	ASSERT_EQ(0, pthread_create(&w.thread, NULL, wait_thread, &w));
	sig(s.fd);
	deadline = irq_now_ms() + AGENT_TIMEOUT_S * 1000;
	while (!w.done && irq_now_ms() < deadline)
		usleep(1000);
	if (!w.done)
		irq_kick_thread(w.thread);
	ASSERT_EQ(0, pthread_join(w.thread, NULL));
	EXPECT_TRUE(w.ok);
	EXPECT_EQ(0x72, mb->last);
	TH_LOG("%d signals, %llu interrupts (the rest coalesced in IRR)", s.n, (unsigned long long)n);
	close(s.fd);
}

/* ---- hostile ------------------------------------------------------------ */

TEST_F(irqfd, argument_checks)
{
	int vm = self->x.vm.fd, fd = efd(), closed = efd(), rfd = efd();
	struct vm plain;

	close(closed);
	EXPECT_EQ(-EBADF, irqfd(vm, closed, 1, 0, 0)) TH_LOG("a closed eventfd");
	EXPECT_EQ(-EINVAL, irqfd(vm, vm, 1, 0, 0)) TH_LOG("the VM fd is no eventfd");
	EXPECT_EQ(-EINVAL, irqfd(vm, fd, 1, 4, 0));
	EXPECT_EQ(-EINVAL, irqfd(vm, fd, 1, 0xffffffff, 0));
	EXPECT_EQ(0, irqfd(vm, fd, 5, KVM_IRQFD_FLAG_DEASSIGN, 0)) TH_LOG("never assigned: 0");
	EXPECT_EQ(-EBADF, irqfd(vm, closed, 5, KVM_IRQFD_FLAG_DEASSIGN, 0));
	EXPECT_EQ(-EBADF, irqfd(vm, fd, 5, KVM_IRQFD_FLAG_RESAMPLE, closed));
	EXPECT_EQ(0, irqfd(vm, fd, 5, 0, 0));
	EXPECT_EQ(-EBUSY, irqfd(vm, fd, 5, 0, 0));
	EXPECT_EQ(-EBUSY, irqfd(vm, fd, 6, 0, 0)) TH_LOG("an eventfd drives one GSI");
	EXPECT_EQ(0, irqfd(vm, fd, 6, KVM_IRQFD_FLAG_DEASSIGN, 0)) TH_LOG("wrong GSI: nothing, 0");
	EXPECT_EQ(-EBUSY, irqfd(vm, fd, 6, 0, 0));
	EXPECT_EQ(0, irqfd(vm, fd, 5, KVM_IRQFD_FLAG_DEASSIGN, 0));
	EXPECT_EQ(0, irqfd(vm, fd, 6, 0, 0));
	EXPECT_EQ(0, irqfd(vm, rfd, 100000, 0, 0)) TH_LOG("GSI beyond the routing table: accepted");
	sig(rfd);

	vm_init(&plain);
	EXPECT_EQ(-EINVAL, irqfd(plain.fd, fd, 1, 0, 0)) TH_LOG("no irqchip");
	EXPECT_EQ(0, irqfd(plain.fd, fd, 1, KVM_IRQFD_FLAG_DEASSIGN, 0));
	vm_close(&plain);
	close(fd);
	close(rfd);
}

TEST_F(irqfd, closing_the_eventfd_detaches_it)
{
	int fd = efd(), fd2;

	ASSERT_TRUE(ioapic_set_redir(V(0), 17, 0x94, RTE_DEST(0)));
	ASSERT_EQ(0, irqfd(self->x.vm.fd, fd, 17, 0, 0));
	close(fd);	/* POLLHUP: KVM tears the irqfd down */
	usleep(20000);
	EXPECT_EQ(-EBADF, irqfd(self->x.vm.fd, fd, 17, KVM_IRQFD_FLAG_DEASSIGN, 0));
	fd2 = efd();
	ASSERT_EQ(0, irqfd(self->x.vm.fd, fd2, 17, 0, 0));
	sig(fd2);
	ASSERT_TRUE(agent_wait(V(0), 1));
	usleep(20000);
	ASSERT_TRUE(agent_idle(V(0)));
	EXPECT_EQ(1, COUNT(0)) TH_LOG("only the live irqfd injects");
	close(fd2);
}

TEST_F_TIMEOUT(irqfd, thousands_of_irqfds_and_vm_close, 120)
{
	struct rlimit rl;
	int *fds, n = 0, i, want = 5000;
	long r = 0;


	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	fds = calloc(want, sizeof(*fds));
	ASSERT_NE(NULL, fds);
	for (i = 0; i < want; i++) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

		if (fd < 0)
			break;	/* EMFILE: as many as the limit allows */
		fds[n++] = fd;
		r = irqfd(self->x.vm.fd, fd, 100 + (i % 2000), 0, 0);
		if (r)
			break;
	}
	TH_LOG("%d irqfds assigned (RLIMIT_NOFILE %llu)", n - (r ? 1 : 0),
	       (unsigned long long)rl.rlim_cur);
	EXPECT_EQ(0, r);
	EXPECT_LE(1000, n);
	for (i = 0; i < n; i++)
		sig(fds[i]);
	/* Half go by close (POLLHUP), half stay until the VM goes. */
	for (i = 0; i < n; i += 2)
		close(fds[i]);
	irq_vm_close(&self->x);
	for (i = 1; i < n; i += 2)
		close(fds[i]);
	free(fds);
	/* A fresh VM works. */
	irq_vm_init(&self->x, 2, IRQ_VM_IRQCHIP);
	ASSERT_TRUE(lapic_enable(V(0)));
	ASSERT_TRUE(ioapic_set_redir(V(0), 17, 0x95, RTE_DEST(0)));
	i = efd();
	ASSERT_EQ(0, irqfd(self->x.vm.fd, i, 17, 0, 0));
	sig(i);
	ASSERT_TRUE(agent_wait(V(0), 1));
	EXPECT_EQ(0x95, LAST(0));
	close(i);

}

/* ---- ioeventfd ---------------------------------------------------------- */

#define IOE_PORT	0x510
#define IOE_MMIO	0xd0000000ull

TEST_F(irqfd, ioeventfd_pio_and_mmio)
{
	int vm = self->x.vm.fd, a = efd(), b = efd(), c = efd(), closed = efd();
	struct vcpu *v = V(0);

	close(closed);
	/* Argument checks. */
	EXPECT_EQ(-EINVAL, ioeventfd(vm, a, IOE_PORT, 3, KVM_IOEVENTFD_FLAG_PIO, 0));
	EXPECT_EQ(-EINVAL, ioeventfd(vm, a, IOE_PORT, 0,
				     KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH, 1));
	EXPECT_EQ(-EINVAL, ioeventfd(vm, a, IOE_PORT, 1, 1u << 7, 0));
	EXPECT_EQ(-EINVAL, ioeventfd(vm, a, ~0ull, 4, 0, 0));
	EXPECT_EQ(-EBADF, ioeventfd(vm, closed, IOE_PORT, 1, KVM_IOEVENTFD_FLAG_PIO, 0));
	EXPECT_EQ(-ENOENT, ioeventfd(vm, a, IOE_PORT, 1,
				     KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DEASSIGN, 0));

	/* PIO: a with datamatch 0x5a, b with 0xa5 on the same port. */
	ASSERT_EQ(0, ioeventfd(vm, a, IOE_PORT, 1,
			       KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH, 0x5a));
	ASSERT_EQ(0, ioeventfd(vm, b, IOE_PORT, 1,
			       KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH, 0xa5));
	EXPECT_EQ(-EEXIST, ioeventfd(vm, c, IOE_PORT, 1,
				     KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH, 0x5a));
	EXPECT_EQ(-EEXIST, ioeventfd(vm, c, IOE_PORT, 1, KVM_IOEVENTFD_FLAG_PIO, 0));
	/* Matching writes complete in the kernel: the agent's next request is
	 * the next exit (agent_run fails on any other). */
	ASSERT_TRUE(agent_out8(v, IOE_PORT, 0x5a));
	ASSERT_TRUE(agent_out8(v, IOE_PORT, 0x5a));
	ASSERT_TRUE(agent_out8(v, IOE_PORT, 0xa5));
	EXPECT_EQ(2, drain(a));
	EXPECT_EQ(1, drain(b));
	/* A value nobody matches goes to userspace. */
	agent_mbox(v)->cmd = CMD_OUT8;
	agent_mbox(v)->a0 = IOE_PORT;
	agent_mbox(v)->a1 = 0x11;
	ASSERT_EQ(0, vcpu_run(v));
	ASSERT_TRUE(exit_is_io(v, KVM_EXIT_IO_OUT, 1, IOE_PORT, 1));
	ASSERT_TRUE(agent_run(v));
	EXPECT_EQ(0, drain(a));
	EXPECT_EQ(0, drain(b));

	/* MMIO: c any value at IOE_MMIO (len 4), a any length at +0x100. */
	ASSERT_EQ(0, ioeventfd(vm, c, IOE_MMIO, 4, 0, 0));
	ASSERT_EQ(0, ioeventfd(vm, a, IOE_MMIO + 0x100, 0, 0, 0));
	EXPECT_EQ(-EEXIST, ioeventfd(vm, b, IOE_MMIO + 0x100, 4, 0, 0));
	ASSERT_TRUE(agent_w32(v, IOE_MMIO, 0x12345678));
	ASSERT_TRUE(agent_w32(v, IOE_MMIO + 0x100, 1));
	EXPECT_EQ(1, drain(c));
	EXPECT_EQ(1, drain(a));
	/* A read is not caught: KVM_EXIT_MMIO. */
	agent_mbox(v)->cmd = CMD_R32;
	agent_mbox(v)->a0 = IOE_MMIO;
	ASSERT_EQ(0, vcpu_run(v));
	ASSERT_TRUE(exit_is_mmio(v, IOE_MMIO, 4, false));
	ASSERT_TRUE(agent_run(v));
	/* Another address is not caught either. */
	agent_mbox(v)->cmd = CMD_W32;
	agent_mbox(v)->a0 = IOE_MMIO + 4;
	agent_mbox(v)->a1 = 7;
	ASSERT_EQ(0, vcpu_run(v));
	ASSERT_TRUE(exit_is_mmio(v, IOE_MMIO + 4, 4, true));
	ASSERT_TRUE(agent_run(v));
	EXPECT_EQ(0, drain(c));

	/* Deassign must name it exactly. */
	EXPECT_EQ(-ENOENT, ioeventfd(vm, a, IOE_PORT, 1,
				     KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DEASSIGN, 0));
	EXPECT_EQ(0, ioeventfd(vm, a, IOE_PORT, 1,
			       KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DEASSIGN |
			       KVM_IOEVENTFD_FLAG_DATAMATCH, 0x5a));
	agent_mbox(v)->cmd = CMD_OUT8;
	agent_mbox(v)->a0 = IOE_PORT;
	agent_mbox(v)->a1 = 0x5a;
	ASSERT_EQ(0, vcpu_run(v));
	ASSERT_TRUE(exit_is_io(v, KVM_EXIT_IO_OUT, 1, IOE_PORT, 1));
	ASSERT_TRUE(agent_run(v));
	/* An assigned ioeventfd whose eventfd is closed keeps working
	 * (KVM holds the context): the write still completes in the kernel. */
	close(b);
	ASSERT_TRUE(agent_out8(v, IOE_PORT, 0xa5));
	close(a);
	close(c);
}

TEST_HARNESS_MAIN
