// SPDX-License-Identifier: GPL-2.0
/*
 * Host side of the interrupt-test agent (see irq_util.h, irq_agent.inc).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "irq_util.h"

_Static_assert(__builtin_offsetof(struct agent_mbox, seq) == MB_SEQ, "mailbox layout");
_Static_assert(__builtin_offsetof(struct agent_mbox, iflag) == MB_IF, "mailbox layout");
_Static_assert(__builtin_offsetof(struct agent_mbox, log) == MB_LOG, "mailbox layout");
_Static_assert(sizeof(struct agent_mbox) <= 0x400, "mailbox size");

static void noop_handler(int sig)
{
	(void)sig;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = noop_handler;	/* no SA_RESTART: KVM_RUN gives -EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
}

void irq_kick_thread(pthread_t t)
{
	pthread_kill(t, SIGUSR1);
}

void irq_thread_sigmask(void)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
}

uint64_t irq_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

volatile struct agent_mbox *agent_mbox(struct vcpu *v)
{
	return gpa_ptr(v->vm, MBOX_GPA(v->id));
}

void irq_vm_init_at(struct irq_vm *x, int nr, unsigned int flags, uint64_t rip)
{
	uint64_t stubs = IRQ_GA(agent_stubs);
	long r;
	int i, vec;

	if (nr < 1 || nr > IRQ_MAX_VCPUS)
		die("%d vCPUs", nr);
	memset(x, 0, sizeof(*x));
	install_signals();
	vm_init(&x->vm);
	if (flags & IRQ_VM_IRQCHIP) {
		r = kvm_ioctl(x->vm.fd, KVM_CREATE_IRQCHIP, NULL);
		if (r)
			die("KVM_CREATE_IRQCHIP: %s", strerror(-r));
	}
	if (flags & IRQ_VM_SPLIT) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_SPLIT_IRQCHIP, .args = { 24 },
		};

		r = kvm_ioctl(x->vm.fd, KVM_ENABLE_CAP, &cap);
		if (r)
			die("KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP): %s", strerror(-r));
	}
	if (flags & (IRQ_VM_PIT | IRQ_VM_PIT_SPEAKER)) {
		struct kvm_pit_config pc = {
			.flags = (flags & IRQ_VM_PIT_SPEAKER) ? KVM_PIT_SPEAKER_DUMMY : 0,
		};

		r = kvm_ioctl(x->vm.fd, KVM_CREATE_PIT2, &pc);
		if (r)
			die("KVM_CREATE_PIT2: %s", strerror(-r));
	}
	vm_load(&x->vm, CODE_GPA, irq_blob_start, irq_blob_end);
	vm_install_idt64(&x->vm, ~(1u << 2));
	vm_set_idt_gate64(&x->vm, 2, stubs + 2 * AGENT_STUB_SIZE);
	for (vec = 32; vec < 256; vec++)
		vm_set_idt_gate64(&x->vm, vec, stubs + vec * AGENT_STUB_SIZE);

	x->nr = nr;
	for (i = 0; i < nr; i++) {
		struct vcpu *v = &x->v[i];
		volatile struct agent_mbox *mb;
		struct kvm_regs regs;

		vcpu_init_cpuid(&x->vm, v, i);
		if (flags & (IRQ_VM_IRQCHIP | IRQ_VM_SPLIT)) {
			/* With an in-kernel LAPIC, KVM creates every vCPU
			 * but the BSP waiting for INIT/SIPI
			 * (KVM_MP_STATE_UNINITIALIZED): start them all. */
			struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };

			r = kvm_ioctl(v->fd, KVM_SET_MP_STATE, &mp);
			if (r)
				die("KVM_SET_MP_STATE vCPU %d: %s", i, strerror(-r));
		}
		mb = agent_mbox(v);
		memset((void *)mb, 0, sizeof(*mb));
		mb->iflag = 1;
		mb->eoi = EOI_LAPIC;
		vcpu_mode_long64(v, rip, IRQ_STACK_TOP(i));
		vcpu_get_regs(v, &regs);
		regs.r15 = MBOX_GPA(i);
		vcpu_set_regs(v, &regs);
	}
}

void irq_vm_init(struct irq_vm *x, int nr, unsigned int flags)
{
	int i;

	irq_vm_init_at(x, nr, flags, IRQ_GA(irq_agent));
	for (i = 0; i < nr; i++)
		if (!agent_run(&x->v[i]))
			die("vCPU %d: the agent did not start", i);
}

void irq_vm_close(struct irq_vm *x)
{
	int i;

	for (i = 0; i < x->nr; i++)
		vcpu_close(&x->v[i]);
	vm_close(&x->vm);
}

static bool is_main_thread(void)
{
	return syscall(SYS_gettid) == getpid();
}

bool agent_run(struct vcpu *v)
{
	bool main_thread = is_main_thread();
	int r;

	if (main_thread)
		alarm(AGENT_TIMEOUT_S);
	r = vcpu_run(v);
	if (main_thread)
		alarm(0);
	if (r == -EINTR) {
		fprintf(stderr, "# vCPU %d: no exit within %d s (KVM_RUN interrupted)\n",
			v->id, AGENT_TIMEOUT_S);
		return false;
	}
	if (r) {
		fprintf(stderr, "# vCPU %d: KVM_RUN: %s\n", v->id, strerror(-r));
		return false;
	}
	return exit_is_io(v, KVM_EXIT_IO_OUT, 4, AGENT_PORT, 1);
}

bool agent_cmd(struct vcpu *v, uint64_t cmd, uint64_t a0, uint64_t a1, uint64_t a2)
{
	volatile struct agent_mbox *mb = agent_mbox(v);

	mb->cmd = cmd;
	mb->a0 = a0;
	mb->a1 = a1;
	mb->a2 = a2;
	return agent_run(v);
}

bool agent_w32(struct vcpu *v, uint64_t gpa, uint32_t val)
{
	return agent_cmd(v, CMD_W32, gpa, val, 0);
}

bool agent_r32(struct vcpu *v, uint64_t gpa, uint32_t *val)
{
	if (!agent_cmd(v, CMD_R32, gpa, 0, 0))
		return false;
	*val = (uint32_t)agent_mbox(v)->res;
	return true;
}

bool agent_out8(struct vcpu *v, uint16_t port, uint8_t val)
{
	return agent_cmd(v, CMD_OUT8, port, val, 0);
}

bool agent_in8(struct vcpu *v, uint16_t port, uint8_t *val)
{
	if (!agent_cmd(v, CMD_IN8, port, 0, 0))
		return false;
	*val = (uint8_t)agent_mbox(v)->res;
	return true;
}

bool agent_wait(struct vcpu *v, uint64_t count)
{
	if (agent_cmd(v, CMD_WAIT, count, 0, 0))
		return true;
	fprintf(stderr, "# vCPU %d: waited for %llu interrupts, got %llu\n", v->id,
		(unsigned long long)count,
		(unsigned long long)agent_mbox(v)->count);
	return false;
}

bool agent_idle(struct vcpu *v)
{
	return agent_cmd(v, CMD_IDLE, 200, 0, 0);
}

bool agent_wrmsr(struct vcpu *v, uint32_t msr, uint64_t val)
{
	return agent_cmd(v, CMD_WRMSR, msr, val, 0);
}

bool agent_rdmsr(struct vcpu *v, uint32_t msr, uint64_t *val)
{
	if (!agent_cmd(v, CMD_RDMSR, msr, 0, 0))
		return false;
	*val = agent_mbox(v)->res;
	return true;
}

bool agent_call(struct vcpu *v, uint64_t fn, uint64_t a1, uint64_t a2, uint64_t *res)
{
	if (!agent_cmd(v, CMD_CALL, fn, a1, a2))
		return false;
	if (res)
		*res = agent_mbox(v)->res;
	return true;
}

void agent_set_if(struct vcpu *v, bool on)
{
	agent_mbox(v)->iflag = on;
}

void agent_set_eoi(struct vcpu *v, unsigned int eoi_bits)
{
	agent_mbox(v)->eoi = eoi_bits;
}

bool lapic_write(struct vcpu *v, uint32_t reg, uint32_t val)
{
	return agent_w32(v, LAPIC_GPA + reg, val);
}

bool lapic_read(struct vcpu *v, uint32_t reg, uint32_t *val)
{
	return agent_r32(v, LAPIC_GPA + reg, val);
}

bool lapic_enable(struct vcpu *v)
{
	return lapic_write(v, APIC_SVR, 0x1ff);
}

bool lapic_vector_bit(struct vcpu *v, uint32_t reg, int vector, bool *set)
{
	uint32_t val;

	if (!lapic_read(v, reg + (vector / 32) * 0x10, &val))
		return false;
	*set = (val >> (vector % 32)) & 1;
	return true;
}

bool ioapic_write(struct vcpu *v, uint32_t reg, uint32_t val)
{
	return agent_w32(v, IOAPIC_GPA, reg) && agent_w32(v, IOAPIC_GPA + 0x10, val);
}

bool ioapic_read(struct vcpu *v, uint32_t reg, uint32_t *val)
{
	return agent_w32(v, IOAPIC_GPA, reg) && agent_r32(v, IOAPIC_GPA + 0x10, val);
}

bool ioapic_set_redir(struct vcpu *v, int pin, uint32_t lo, uint32_t hi)
{
	return ioapic_write(v, 0x11 + 2 * pin, hi) && ioapic_write(v, 0x10 + 2 * pin, lo);
}

bool ioapic_get_redir(struct vcpu *v, int pin, uint32_t *lo, uint32_t *hi)
{
	return ioapic_read(v, 0x10 + 2 * pin, lo) && ioapic_read(v, 0x11 + 2 * pin, hi);
}

long irq_line(struct irq_vm *x, uint32_t gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };

	return kvm_ioctl(x->vm.fd, KVM_IRQ_LINE, &l);
}

long irq_line_status(struct irq_vm *x, uint32_t gsi, int level, int32_t *status)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };
	long r;

	/* status shares its union with irq: KVM overwrites the GSI. */
	r = kvm_ioctl(x->vm.fd, KVM_IRQ_LINE_STATUS, &l);
	*status = l.status;
	return r;
}

static struct kvm_irq_routing_entry *route_append(struct kvm_irq_routing *r, uint32_t gsi, uint32_t type)
{
	struct kvm_irq_routing_entry *e = &r->entries[r->nr++];

	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = type;
	return e;
}

void irq_route_msi(struct kvm_irq_routing *r, uint32_t gsi, uint32_t lo, uint32_t data)
{
	struct kvm_irq_routing_entry *e = route_append(r, gsi, KVM_IRQ_ROUTING_MSI);

	e->u.msi.address_lo = lo;
	e->u.msi.data = data;
}

void irq_route_chip(struct kvm_irq_routing *r, uint32_t gsi, uint32_t chip, uint32_t pin)
{
	struct kvm_irq_routing_entry *e = route_append(r, gsi, KVM_IRQ_ROUTING_IRQCHIP);

	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}
