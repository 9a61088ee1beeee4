/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host side of the interrupt suites (ioapic, pic, msi, pit, irq_hostile):
 * a VM with the in-kernel irqchip (KVM_CREATE_IRQCHIP before the vCPUs),
 * optionally a PIT, and vCPUs that run the agent of irq_agent.inc in
 * 64-bit mode.  The test drives each vCPU's agent command by command (the
 * guest does the real MMIO / port I/O / MSR accesses), raises lines from
 * the host between commands, and reads the interrupts the guest took from
 * the vCPU's mailbox.
 *
 * Like guest_util, setup (irq_vm_init) dies on failure; agent_* calls
 * return true on success and otherwise print what happened (the exit, or
 * a timeout), for ASSERT_TRUE().  Every KVM_RUN made here is bounded:
 * from the main thread by alarm(AGENT_TIMEOUT_S) (SIGALRM interrupts
 * KVM_RUN with -EINTR), from other threads by the caller's kick (SIGUSR1,
 * see irq_kick_thread()).
 */
#ifndef IRQ_UTIL_H
#define IRQ_UTIL_H

#include <pthread.h>
#include "guest_util.h"
#include "irq_layout.h"

#define AGENT_TIMEOUT_S 10

/* irq_vm_init() flags */
#define IRQ_VM_IRQCHIP		1	/* KVM_CREATE_IRQCHIP */
#define IRQ_VM_PIT		2	/* KVM_CREATE_PIT2, flags 0 */
#define IRQ_VM_PIT_SPEAKER	4	/* ... flags KVM_PIT_SPEAKER_DUMMY */
#define IRQ_VM_SPLIT		8	/* KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP, 24) */

struct agent_mbox {
	uint64_t cmd, a0, a1, a2, res, count, eoi, last, iflag, seq;
	uint8_t pad[MB_LOG - 0x50];
	uint8_t log[MB_LOG_LEN];
};

struct irq_vm {
	struct vm vm;
	struct vcpu v[IRQ_MAX_VCPUS];
	int nr;
};

GUEST_SYM(irq_blob_start);
GUEST_SYM(irq_blob_end);
GUEST_SYM(irq_agent);
GUEST_SYM(agent_stubs);

/* A symbol of the suite's blob (loaded at CODE_GPA). */
#define IRQ_GA(sym) GUEST_ADDR(irq_blob_start, sym)

/*
 * VM with nr vCPUs (ids 0..nr-1, supported CPUID), each at the agent's
 * first request, IF = 1, EOI mode EOI_LAPIC, its LAPIC as KVM resets it
 * (software-disabled).  IDT: guest_isr.S's reporting stubs for vectors
 * 0-31 except 2 (NMI), the agent's stubs for 2 and 32-255.
 */
void irq_vm_init(struct irq_vm *x, int nr, unsigned int flags);
void irq_vm_close(struct irq_vm *x);
/* The same without starting the agent: entry at rip instead. */
void irq_vm_init_at(struct irq_vm *x, int nr, unsigned int flags, uint64_t rip);

volatile struct agent_mbox *agent_mbox(struct vcpu *v);

/* KVM_RUN until the agent's next request (OUT to AGENT_PORT). */
bool agent_run(struct vcpu *v);
/* Run one command; true if the agent came back for the next one. */
bool agent_cmd(struct vcpu *v, uint64_t cmd, uint64_t a0, uint64_t a1, uint64_t a2);

bool agent_w32(struct vcpu *v, uint64_t gpa, uint32_t val);
bool agent_r32(struct vcpu *v, uint64_t gpa, uint32_t *val);
bool agent_out8(struct vcpu *v, uint16_t port, uint8_t val);
bool agent_in8(struct vcpu *v, uint16_t port, uint8_t *val);
bool agent_wait(struct vcpu *v, uint64_t count);	/* until count interrupts */
bool agent_idle(struct vcpu *v);			/* an interrupt window */
bool agent_wrmsr(struct vcpu *v, uint32_t msr, uint64_t val);
bool agent_rdmsr(struct vcpu *v, uint32_t msr, uint64_t *val);
bool agent_call(struct vcpu *v, uint64_t fn, uint64_t a1, uint64_t a2, uint64_t *res);
void agent_set_if(struct vcpu *v, bool on);	/* IF while waiting (next request on) */
void agent_set_eoi(struct vcpu *v, unsigned int eoi_bits);

/* LAPIC (xAPIC MMIO) and IOAPIC (IOREGSEL/IOWIN) accesses by the guest. */
bool lapic_write(struct vcpu *v, uint32_t reg, uint32_t val);
bool lapic_read(struct vcpu *v, uint32_t reg, uint32_t *val);
/* SVR = 0x1ff: software-enabled, spurious vector 0xff. */
bool lapic_enable(struct vcpu *v);
/* The bit for vector in the 256-bit ISR/IRR/TMR at reg (0x100/0x200/0x180). */
bool lapic_vector_bit(struct vcpu *v, uint32_t reg, int vector, bool *set);
bool ioapic_write(struct vcpu *v, uint32_t reg, uint32_t val);
bool ioapic_read(struct vcpu *v, uint32_t reg, uint32_t *val);
/* Redirection entry: high half first, then low. */
bool ioapic_set_redir(struct vcpu *v, int pin, uint32_t lo, uint32_t hi);
bool ioapic_get_redir(struct vcpu *v, int pin, uint32_t *lo, uint32_t *hi);

/* Redirection entry / MSI bits. */
#define RTE_MASKED	(1u << 16)
#define RTE_LEVEL	(1u << 15)
#define RTE_REMOTE_IRR	(1u << 14)
#define RTE_LOGICAL	(1u << 11)
#define RTE_DM_NMI	(4u << 8)
#define RTE_DEST(id)	((uint32_t)(id) << 24)	/* high half */

/* LAPIC registers. */
#define APIC_ID		0x20
#define APIC_TPR	0x80
#define APIC_EOI	0xb0
#define APIC_LDR	0xd0
#define APIC_DFR	0xe0
#define APIC_SVR	0xf0
#define APIC_ISR	0x100
#define APIC_TMR	0x180
#define APIC_IRR	0x200
#define APIC_ICR	0x300
#define APIC_ICR2	0x310
#define APIC_LVT0	0x350
#define APIC_LVT_MASKED	(1u << 16)
#define APIC_DM_EXTINT	0x700
#define MSR_APIC_BASE	0x1b

/* KVM_IRQ_LINE: the ioctl's result (0 or -errno). */
/*
 * KVM_SET_GSI_ROUTING tables: each appends one entry at r->entries[r->nr++]
 * (the caller's table must have room; a struct with the header followed by
 * an entry array, as KVM's selftests lay it out).
 */
#define MSI_ADDR(dest)	(0xfee00000u | ((uint32_t)(dest) << 12))
void irq_route_msi(struct kvm_irq_routing *r, uint32_t gsi, uint32_t lo, uint32_t data);
void irq_route_chip(struct kvm_irq_routing *r, uint32_t gsi, uint32_t chip, uint32_t pin);

long irq_line(struct irq_vm *x, uint32_t gsi, int level);
/* KVM_IRQ_LINE_STATUS: the ioctl's result; *status gets kvm_irq_level.status. */
long irq_line_status(struct irq_vm *x, uint32_t gsi, int level, int32_t *status);

/* Per-vCPU threads: SIGUSR1 (no-op handler, no SA_RESTART) ends a KVM_RUN
 * with -EINTR; such threads should block SIGALRM (irq_thread_sigmask()). */
void irq_kick_thread(pthread_t t);
void irq_thread_sigmask(void);

/* Monotonic milliseconds. */
uint64_t irq_now_ms(void);

#endif /* IRQ_UTIL_H */
