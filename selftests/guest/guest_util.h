/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small library to run tiny guests through the KVM ABI: one VM with RAM
 * in slot 0, guest code copied from the test binary, vCPUs put into real,
 * 32-bit protected or 64-bit long mode with KVM_SET_SREGS, and checks of
 * every exit.
 *
 * Setup functions (vm_*, vcpu_* that return void) print why and exit(1) on
 * failure: inside a kselftest_harness test that fails the test.  Exit checks
 * (run_*, exit_is_*) return true when the exit is the expected one and
 * otherwise print what KVM reported; use them as ASSERT_TRUE(run_...(...)).
 * They do not use the harness, so they may run in any thread.
 *
 * The device is $MINIKVM_DEV, /dev/kvm by default.
 */
#ifndef GUEST_UTIL_H
#define GUEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "guest_layout.h"

struct vm {
	int sys_fd;		/* the device */
	int fd;			/* KVM_CREATE_VM */
	uint8_t *mem;		/* slot 0, MEM_SIZE bytes at GPA 0 */
	int run_size;		/* KVM_GET_VCPU_MMAP_SIZE */
	bool tables_built;	/* GDT, TSS and page tables in slot 0 */
};

struct vcpu {
	struct vm *vm;
	int fd;
	int id;
	struct kvm_run *run;
};

/* A guest symbol's address when its blob is loaded at CODE_GPA. */
#define GUEST_ADDR(blob, sym) \
	((uint64_t)CODE_GPA + (uint64_t)((const uint8_t *)(sym) - (const uint8_t *)(blob)))
/* Its offset in the blob: the IP in real mode with CS base CODE_GPA. */
#define GUEST_OFF(blob, sym) \
	((uint64_t)((const uint8_t *)(sym) - (const uint8_t *)(blob)))

#define GUEST_SYM(name) extern const uint8_t name[]
#define GUEST_ENTRY(name) GUEST_SYM(name); GUEST_SYM(name##_end)

const char *kvm_dev_path(void);
const char *exit_reason_name(uint32_t reason);
bool host_is_intel(void);
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* ioctl() returning -errno on failure. */
long kvm_ioctl(int fd, unsigned long cmd, void *arg);

/* VM with MEM_SIZE bytes of zeroed RAM in slot 0 at GPA 0. */
void vm_init(struct vm *vm);
void vm_close(struct vm *vm);
/* Another memory slot: anonymous memory, returned zeroed. */
void *vm_add_memory(struct vm *vm, uint32_t slot, uint64_t gpa,
		    uint64_t size, uint32_t flags);
/* Host address of a GPA in slot 0. */
void *gpa_ptr(struct vm *vm, uint64_t gpa);
void vm_load(struct vm *vm, uint64_t gpa, const void *start, const void *end);
/* Flat GDT (selectors in guest_layout.h), TSS, identity page tables. */
void vm_build_tables(struct vm *vm);
/*
 * The exception stubs of guest_isr.S at ISR_GPA and an IDT at IDT_GPA with
 * a present 64-bit interrupt gate for each vector v < 32 whose bit is set
 * in present_mask (the others are not present).  A stub reports the vector,
 * the error code (0 if none) and the saved RIP by 4-byte OUTs to
 * PORT_EXC_VECTOR, PORT_EXC_ERROR, PORT_EXC_RIP, then resumes at the
 * address in FIXUP_GPA (which it clears) if that is not 0, else halts at
 * isr_halt_rip().
 */
void vm_install_idt64(struct vm *vm, uint32_t present_mask);
uint64_t isr_halt_rip(void);	/* RIP of KVM_EXIT_HLT in a stub */
/*
 * Interrupt suites: make IDT entry `vector` (any of 0-255) a present 64-bit
 * interrupt gate (type 14, DPL 0, IST 0, selector SEL_CODE64) to the guest
 * address `handler`; the other entries are left alone.  Call it after
 * vm_install_idt64(), which clears the whole IDT.
 */
void vm_set_idt_gate64(struct vm *vm, int vector, uint64_t handler);

/* vCPU without CPUID set. */
void vcpu_init(struct vm *vm, struct vcpu *v, int id);
/* vCPU with KVM_GET_SUPPORTED_CPUID set as its CPUID (what VMMs do). */
void vcpu_init_cpuid(struct vm *vm, struct vcpu *v, int id);
void vcpu_close(struct vcpu *v);
struct kvm_cpuid2 *cpuid_alloc(int nent);
struct kvm_cpuid2 *supported_cpuid(struct vm *vm);
void vcpu_set_cpuid(struct vcpu *v, struct kvm_cpuid2 *cpuid);

void vcpu_get_regs(struct vcpu *v, struct kvm_regs *regs);
void vcpu_set_regs(struct vcpu *v, const struct kvm_regs *regs);
void vcpu_get_sregs(struct vcpu *v, struct kvm_sregs *sregs);
void vcpu_set_sregs(struct vcpu *v, const struct kvm_sregs *sregs);
/* KVM_SET_MSRS / KVM_GET_MSRS of one MSR: return what the ioctl returned
 * (the number of MSRs processed, or -errno). */
int vcpu_set_msr(struct vcpu *v, uint32_t index, uint64_t value);
int vcpu_get_msr(struct vcpu *v, uint32_t index, uint64_t *value);

/*
 * Modes.  Each sets the segment registers and control registers with
 * KVM_SET_SREGS, then RIP, RSP (and RFLAGS = 2) with KVM_SET_REGS; other
 * registers are left as they are.
 *
 * Real mode: CS = cs_sel (base cs_sel << 4), IP = ip, DS = ES = FS = GS =
 * ds_sel, SS = 0, SP = RM_STACK_TOP.
 */
void vcpu_mode_real(struct vcpu *v, uint16_t cs_sel, uint16_t ip, uint16_t ds_sel);
/* 32-bit protected mode, paging off, flat 4 GiB segments. */
void vcpu_mode_prot32(struct vcpu *v, uint32_t eip, uint32_t esp);
/* 64-bit mode: EFER.LME|LMA, CR4.PAE, CR0.PG|PE, CR3 = PML4_GPA. */
void vcpu_mode_long64(struct vcpu *v, uint64_t rip, uint64_t rsp);

/* A struct kvm_regs field by number (R_*, in declaration order). */
enum { R_RAX, R_RBX, R_RCX, R_RDX, R_RSI, R_RDI, R_RSP, R_RBP,
       R_R8, R_R9, R_R10, R_R11, R_R12, R_R13, R_R14, R_R15, R_RIP, R_RFLAGS };
uint64_t *regs_field(struct kvm_regs *regs, int reg);

/* KVM_RUN: 0 or -errno. */
int vcpu_run(struct vcpu *v);
/* Print the exit KVM reported, prefixed by "# what: ". */
void describe_exit(struct vcpu *v, const char *what);

/* The current exit (no KVM_RUN). */
bool exit_is(struct vcpu *v, uint32_t reason);
bool exit_is_io(struct vcpu *v, uint8_t dir, uint8_t size, uint16_t port, uint32_t count);
bool exit_is_mmio(struct vcpu *v, uint64_t gpa, uint32_t len, bool is_write);
void *io_data(struct vcpu *v);

/* KVM_RUN, then check the exit. */
bool run_exit(struct vcpu *v, uint32_t reason);
/* KVM_EXIT_HLT with RIP == rip (the address after the hlt). */
bool run_hlt(struct vcpu *v, uint64_t rip);
/* One OUT (count 1): stores the value written in *value. */
bool run_out(struct vcpu *v, uint8_t size, uint16_t port, uint64_t *value);
/* OUT of exactly this value. */
bool run_out_val(struct vcpu *v, uint8_t size, uint16_t port, uint64_t value);
/* One IN (count 1): supplies value for the next KVM_RUN. */
bool run_in(struct vcpu *v, uint8_t size, uint16_t port, uint64_t value);
/* MMIO write of len bytes: stores the bytes (little endian) in *value. */
bool run_mmio_write(struct vcpu *v, uint64_t gpa, uint32_t len, uint64_t *value);
/* MMIO read of len bytes: supplies value (little endian). */
bool run_mmio_read(struct vcpu *v, uint64_t gpa, uint32_t len, uint64_t value);
/* The three OUTs of an exception stub; rip is not checked if ~0. */
bool run_exception(struct vcpu *v, uint32_t vector, uint32_t error, uint64_t rip);

#endif /* GUEST_UTIL_H */
