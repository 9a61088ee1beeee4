// SPDX-License-Identifier: GPL-2.0
/*
 * Helpers to run tiny guests through the KVM ABI (see guest_util.h).
 * Everything here is plain ioctl()s on the documented structs of
 * linux/kvm.h, so it runs unchanged on KVM and on minikvm.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cpuid.h>

#include "guest_util.h"

GUEST_SYM(isr64_blob_start);
GUEST_SYM(isr64_blob_end);
GUEST_SYM(isr64_stubs);
GUEST_SYM(isr64_halt);

/* Bytes per stub in guest_isr.S (each is .balign'ed to this). */
#define ISR_STUB_SIZE 16

const char *kvm_dev_path(void)
{
	const char *p = getenv("MINIKVM_DEV");

	return p && *p ? p : "/dev/kvm";
}

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("# guest_util: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

long kvm_ioctl(int fd, unsigned long cmd, void *arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

bool host_is_intel(void)
{
	unsigned int a, b, c, d;

	__cpuid(0, a, b, c, d);
	/* "GenuineIntel" in EBX, EDX, ECX */
	return b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e;
}

const char *exit_reason_name(uint32_t reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "UNKNOWN",
		[KVM_EXIT_EXCEPTION] = "EXCEPTION",
		[KVM_EXIT_IO] = "IO",
		[KVM_EXIT_HYPERCALL] = "HYPERCALL",
		[KVM_EXIT_DEBUG] = "DEBUG",
		[KVM_EXIT_HLT] = "HLT",
		[KVM_EXIT_MMIO] = "MMIO",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
		[KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
		[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
		[KVM_EXIT_INTR] = "INTR",
		[KVM_EXIT_SET_TPR] = "SET_TPR",
		[KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS",
		[KVM_EXIT_S390_SIEIC] = "S390_SIEIC",
		[KVM_EXIT_S390_RESET] = "S390_RESET",
		[KVM_EXIT_DCR] = "DCR",
		[KVM_EXIT_NMI] = "NMI",
		[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
		[KVM_EXIT_OSI] = "OSI",
		[KVM_EXIT_PAPR_HCALL] = "PAPR_HCALL",
		[KVM_EXIT_S390_UCONTROL] = "S390_UCONTROL",
		[KVM_EXIT_WATCHDOG] = "WATCHDOG",
		[KVM_EXIT_S390_TSCH] = "S390_TSCH",
		[KVM_EXIT_EPR] = "EPR",
		[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT",
		[KVM_EXIT_S390_STSI] = "S390_STSI",
		[KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
		[KVM_EXIT_HYPERV] = "HYPERV",
	};

	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return "?";
}

/* ---- VM and memory ---------------------------------------------------- */

void vm_init(struct vm *vm)
{
	struct kvm_userspace_memory_region region;
	long r;

	memset(vm, 0, sizeof(*vm));
	vm->sys_fd = open(kvm_dev_path(), O_RDWR | O_CLOEXEC);
	if (vm->sys_fd < 0)
		die("open %s: %s", kvm_dev_path(), strerror(errno));
	r = kvm_ioctl(vm->sys_fd, KVM_GET_API_VERSION, NULL);
	if (r != KVM_API_VERSION)
		die("KVM_GET_API_VERSION: %ld", r);
	r = kvm_ioctl(vm->sys_fd, KVM_CREATE_VM, 0);
	if (r < 0)
		die("KVM_CREATE_VM: %s", strerror(-r));
	vm->fd = r;
	r = kvm_ioctl(vm->sys_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (r < (long)sizeof(struct kvm_run))
		die("KVM_GET_VCPU_MMAP_SIZE: %ld", r);
	vm->run_size = r;

	vm->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->mem == MAP_FAILED)
		die("mmap guest memory: %s", strerror(errno));
	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = MEM_SIZE,
		.userspace_addr = (uintptr_t)vm->mem,
	};
	r = kvm_ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region);
	if (r)
		die("KVM_SET_USER_MEMORY_REGION slot 0: %s", strerror(-r));
}

void vm_close(struct vm *vm)
{
	close(vm->fd);
	close(vm->sys_fd);
	munmap(vm->mem, MEM_SIZE);
}

void *vm_add_memory(struct vm *vm, uint32_t slot, uint64_t gpa,
		    uint64_t size, uint32_t flags)
{
	struct kvm_userspace_memory_region region;
	void *p;
	long r;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		die("mmap slot %u: %s", slot, strerror(errno));
	region = (struct kvm_userspace_memory_region){
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)p,
	};
	r = kvm_ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region);
	if (r)
		die("KVM_SET_USER_MEMORY_REGION slot %u gpa 0x%llx: %s", slot,
		    (unsigned long long)gpa, strerror(-r));
	return p;
}

void *gpa_ptr(struct vm *vm, uint64_t gpa)
{
	if (gpa >= MEM_SIZE)
		die("GPA 0x%llx is not in slot 0", (unsigned long long)gpa);
	return vm->mem + gpa;
}

void vm_load(struct vm *vm, uint64_t gpa, const void *start, const void *end)
{
	size_t n = (const uint8_t *)end - (const uint8_t *)start;

	if (gpa + n > MEM_SIZE)
		die("%zu bytes of code do not fit at GPA 0x%llx", n,
		    (unsigned long long)gpa);
	memcpy(vm->mem + gpa, start, n);
}

/* ---- descriptors and tables ------------------------------------------ */

/* A code/data or system descriptor (SDM Vol. 3 3.4.5) from a kvm_segment. */
static uint64_t seg_descriptor(const struct kvm_segment *s)
{
	uint64_t limit = s->g ? s->limit >> 12 : s->limit;

	return (limit & 0xffff) |
	       ((s->base & 0xffffffull) << 16) |
	       ((uint64_t)(s->type & 0xf) << 40) |
	       ((uint64_t)(s->s & 1) << 44) |
	       ((uint64_t)(s->dpl & 3) << 45) |
	       ((uint64_t)(s->present & 1) << 47) |
	       (((limit >> 16) & 0xf) << 48) |
	       ((uint64_t)(s->avl & 1) << 52) |
	       ((uint64_t)(s->l & 1) << 53) |
	       ((uint64_t)(s->db & 1) << 54) |
	       ((uint64_t)(s->g & 1) << 55) |
	       (((s->base >> 24) & 0xffull) << 56);
}

static struct kvm_segment seg_flat(uint16_t sel, uint8_t type, int l, int db)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = db, .s = 1, .l = l, .g = 1,
	};
}

static struct kvm_segment seg_16(uint16_t sel, uint8_t type)
{
	return (struct kvm_segment){
		.base = 0, .limit = 0xffff, .selector = sel, .type = type,
		.present = 1, .s = 1,
	};
}

static struct kvm_segment seg_tss64(void)
{
	/* 64-bit busy TSS (type 11): the only TR type VM entry accepts in
	 * IA-32e mode (SDM 26.3.1.2). */
	return (struct kvm_segment){
		.base = TSS_GPA, .limit = 0x67, .selector = SEL_TSS, .type = 11,
		.present = 1, .s = 0,
	};
}

void vm_build_tables(struct vm *vm)
{
	uint64_t *gdt = gpa_ptr(vm, GDT_GPA);
	uint64_t *pml4 = gpa_ptr(vm, PML4_GPA);
	uint64_t *pdpt = gpa_ptr(vm, PDPT_GPA);
	uint64_t *pd = gpa_ptr(vm, PD_GPA);
	struct kvm_segment s;
	int i;

	if (vm->tables_built)
		return;
	vm->tables_built = true;

	gdt[0] = 0;
	s = seg_flat(SEL_CODE32, 0xb, 0, 1);
	gdt[SEL_CODE32 / 8] = seg_descriptor(&s);
	s = seg_flat(SEL_DATA, 0x3, 0, 1);
	gdt[SEL_DATA / 8] = seg_descriptor(&s);
	s = seg_flat(SEL_CODE64, 0xb, 1, 0);
	gdt[SEL_CODE64 / 8] = seg_descriptor(&s);
	s = seg_16(SEL_CODE16, 0xb);
	gdt[SEL_CODE16 / 8] = seg_descriptor(&s);
	s = seg_16(SEL_DATA16, 0x3);
	gdt[SEL_DATA16 / 8] = seg_descriptor(&s);
	s = seg_tss64();
	gdt[SEL_TSS / 8] = seg_descriptor(&s);
	gdt[SEL_TSS / 8 + 1] = (uint64_t)TSS_GPA >> 32;

	/*
	 * 4-level identity map of the low 4 GiB with 2 MiB pages (PS in the
	 * PDEs; 1 GiB pages would need CPUID.80000001H:EDX.Page1GB in the
	 * guest's CPUID, which the tests do not all set).  PML4[1] maps the
	 * same PDPT again, so GVA HIGH_ALIAS + x is GPA x.
	 */
	pml4[0] = PDPT_GPA | 0x3;		/* present, writable */
	pml4[1] = PDPT_GPA | 0x3;
	for (i = 0; i < 4; i++)
		pdpt[i] = (PD_GPA + i * 0x1000) | 0x3;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;	/* present, writable, 2 MiB */
}

void vm_install_idt64(struct vm *vm, uint32_t present_mask)
{
	uint64_t *idt = gpa_ptr(vm, IDT_GPA);
	int v;

	vm_load(vm, ISR_GPA, isr64_blob_start, isr64_blob_end);
	memset(idt, 0, 256 * 16);
	for (v = 0; v < 32; v++) {
		uint64_t off = ISR_GPA + (isr64_stubs - isr64_blob_start) +
			       (uint64_t)v * ISR_STUB_SIZE;

		if (!(present_mask & (1u << v)))
			continue;
		/* 64-bit interrupt gate (type 14), DPL 0, present, IST 0. */
		idt[2 * v] = (off & 0xffff) | ((uint64_t)SEL_CODE64 << 16) |
			     (0x8eull << 40) | (((off >> 16) & 0xffff) << 48);
		idt[2 * v + 1] = off >> 32;
	}
}

void vm_set_idt_gate64(struct vm *vm, int vector, uint64_t handler)
{
	uint64_t *idt = gpa_ptr(vm, IDT_GPA);

	if (vector < 0 || vector > 255)
		die("IDT vector %d out of range", vector);
	idt[2 * vector] = (handler & 0xffff) | ((uint64_t)SEL_CODE64 << 16) |
			  (0x8eull << 40) | (((handler >> 16) & 0xffff) << 48);
	idt[2 * vector + 1] = handler >> 32;
}

uint64_t isr_halt_rip(void)
{
	/* KVM reports the RIP after the hlt. */
	return ISR_GPA + (isr64_halt - isr64_blob_start) + 1;
}

/* ---- vCPUs ------------------------------------------------------------ */

void vcpu_init(struct vm *vm, struct vcpu *v, int id)
{
	long r;

	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->id = id;
	r = kvm_ioctl(vm->fd, KVM_CREATE_VCPU, (void *)(long)id);
	if (r < 0)
		die("KVM_CREATE_VCPU %d: %s", id, strerror(-r));
	v->fd = r;
	v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED)
		die("mmap vCPU %d: %s", id, strerror(errno));
}

void vcpu_close(struct vcpu *v)
{
	munmap(v->run, v->vm->run_size);
	close(v->fd);
}

struct kvm_cpuid2 *cpuid_alloc(int nent)
{
	struct kvm_cpuid2 *c;

	c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
	if (!c)
		die("out of memory");
	c->nent = nent;
	return c;
}

struct kvm_cpuid2 *supported_cpuid(struct vm *vm)
{
	struct kvm_cpuid2 *c = cpuid_alloc(256);	/* KVM_MAX_CPUID_ENTRIES */
	long r;

	r = kvm_ioctl(vm->sys_fd, KVM_GET_SUPPORTED_CPUID, c);
	if (r)
		die("KVM_GET_SUPPORTED_CPUID: %s", strerror(-r));
	return c;
}

void vcpu_set_cpuid(struct vcpu *v, struct kvm_cpuid2 *cpuid)
{
	long r = kvm_ioctl(v->fd, KVM_SET_CPUID2, cpuid);

	if (r)
		die("KVM_SET_CPUID2 (%u entries): %s", cpuid->nent, strerror(-r));
}

void vcpu_init_cpuid(struct vm *vm, struct vcpu *v, int id)
{
	struct kvm_cpuid2 *c;

	vcpu_init(vm, v, id);
	c = supported_cpuid(vm);
	vcpu_set_cpuid(v, c);
	free(c);
}

void vcpu_get_regs(struct vcpu *v, struct kvm_regs *regs)
{
	long r = kvm_ioctl(v->fd, KVM_GET_REGS, regs);

	if (r)
		die("KVM_GET_REGS: %s", strerror(-r));
}

void vcpu_set_regs(struct vcpu *v, const struct kvm_regs *regs)
{
	long r = kvm_ioctl(v->fd, KVM_SET_REGS, (void *)regs);

	if (r)
		die("KVM_SET_REGS: %s", strerror(-r));
}

void vcpu_get_sregs(struct vcpu *v, struct kvm_sregs *sregs)
{
	long r = kvm_ioctl(v->fd, KVM_GET_SREGS, sregs);

	if (r)
		die("KVM_GET_SREGS: %s", strerror(-r));
}

void vcpu_set_sregs(struct vcpu *v, const struct kvm_sregs *sregs)
{
	long r = kvm_ioctl(v->fd, KVM_SET_SREGS, (void *)sregs);

	if (r)
		die("KVM_SET_SREGS: %s", strerror(-r));
}

int vcpu_set_msr(struct vcpu *v, uint32_t index, uint64_t value)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e = { .index = index, .data = value } };

	return kvm_ioctl(v->fd, KVM_SET_MSRS, &m);
}

int vcpu_get_msr(struct vcpu *v, uint32_t index, uint64_t *value)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e = { .index = index } };
	int r = kvm_ioctl(v->fd, KVM_GET_MSRS, &m);

	*value = m.e.data;
	return r;
}

uint64_t *regs_field(struct kvm_regs *regs, int reg)
{
	return &((uint64_t *)regs)[reg];
}

static void set_entry_regs(struct vcpu *v, uint64_t rip, uint64_t rsp)
{
	struct kvm_regs regs;

	vcpu_get_regs(v, &regs);
	regs.rip = rip;
	regs.rsp = rsp;
	regs.rflags = X86_RFLAGS_FIXED;
	vcpu_set_regs(v, &regs);
}

void vcpu_mode_real(struct vcpu *v, uint16_t cs_sel, uint16_t ip, uint16_t ds_sel)
{
	struct kvm_sregs sregs;
	struct kvm_segment s;

	vcpu_get_sregs(v, &sregs);
	s = seg_16(cs_sel, 0xb);
	s.base = (uint64_t)cs_sel << 4;
	sregs.cs = s;
	s = seg_16(ds_sel, 0x3);
	s.base = (uint64_t)ds_sel << 4;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = s;
	sregs.ss = seg_16(0, 0x3);
	sregs.cr0 &= ~(uint64_t)(X86_CR0_PE | X86_CR0_PG);
	sregs.cr4 = 0;
	sregs.efer = 0;
	vcpu_set_sregs(v, &sregs);
	set_entry_regs(v, ip, RM_STACK_TOP);
}

void vcpu_mode_prot32(struct vcpu *v, uint32_t eip, uint32_t esp)
{
	struct kvm_sregs sregs;

	vm_build_tables(v->vm);
	vcpu_get_sregs(v, &sregs);
	sregs.cs = seg_flat(SEL_CODE32, 0xb, 0, 1);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss =
		seg_flat(SEL_DATA, 0x3, 0, 1);
	sregs.gdt.base = GDT_GPA;
	sregs.gdt.limit = 0x3f;
	sregs.idt.base = IDT_GPA;
	sregs.idt.limit = 0x7ff;	/* 256 8-byte gates (all not present) */
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs.cr4 = 0;
	sregs.efer = 0;
	vcpu_set_sregs(v, &sregs);
	set_entry_regs(v, eip, esp);
}

void vcpu_mode_long64(struct vcpu *v, uint64_t rip, uint64_t rsp)
{
	struct kvm_sregs sregs;

	vm_build_tables(v->vm);
	vcpu_get_sregs(v, &sregs);
	sregs.cs = seg_flat(SEL_CODE64, 0xb, 1, 0);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss =
		seg_flat(SEL_DATA, 0x3, 0, 1);
	sregs.tr = seg_tss64();
	sregs.gdt.base = GDT_GPA;
	sregs.gdt.limit = 0x3f;
	sregs.idt.base = IDT_GPA;
	sregs.idt.limit = 0xfff;	/* 256 16-byte gates */
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
	sregs.cr3 = PML4_GPA;
	sregs.cr4 = X86_CR4_PAE;
	sregs.efer = X86_EFER_LME | X86_EFER_LMA;
	vcpu_set_sregs(v, &sregs);
	set_entry_regs(v, rip, rsp);
}

/* ---- running and exits ------------------------------------------------ */

int vcpu_run(struct vcpu *v)
{
	return kvm_ioctl(v->fd, KVM_RUN, NULL);
}

void *io_data(struct vcpu *v)
{
	return (uint8_t *)v->run + v->run->io.data_offset;
}

void describe_exit(struct vcpu *v, const char *what)
{
	struct kvm_run *run = v->run;
	struct kvm_regs regs;
	char buf[256];
	int n;

	n = snprintf(buf, sizeof(buf), "exit %u (%s)", run->exit_reason,
		     exit_reason_name(run->exit_reason));
	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		uint64_t val = 0;

		if (run->io.data_offset + run->io.size <= (unsigned int)v->vm->run_size &&
		    run->io.size <= 8)
			memcpy(&val, io_data(v), run->io.size);
		snprintf(buf + n, sizeof(buf) - n,
			 ": %s port 0x%x size %u count %u data_offset %llu first 0x%llx",
			 run->io.direction == KVM_EXIT_IO_OUT ? "out" : "in",
			 run->io.port, run->io.size, run->io.count,
			 (unsigned long long)run->io.data_offset,
			 (unsigned long long)val);
		break;
	}
	case KVM_EXIT_MMIO: {
		uint64_t val;

		memcpy(&val, run->mmio.data, 8);
		snprintf(buf + n, sizeof(buf) - n,
			 ": %s gpa 0x%llx len %u data 0x%llx",
			 run->mmio.is_write ? "write" : "read",
			 (unsigned long long)run->mmio.phys_addr, run->mmio.len,
			 (unsigned long long)val);
		break;
	}
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(buf + n, sizeof(buf) - n,
			 ": hardware_entry_failure_reason 0x%llx cpu %u",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
			 run->fail_entry.cpu);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(buf + n, sizeof(buf) - n,
			 ": suberror %u ndata %u data 0x%llx 0x%llx 0x%llx",
			 run->internal.suberror, run->internal.ndata,
			 (unsigned long long)run->internal.data[0],
			 (unsigned long long)run->internal.data[1],
			 (unsigned long long)run->internal.data[2]);
		break;
	}
	if (kvm_ioctl(v->fd, KVM_GET_REGS, &regs) == 0)
		fprintf(stderr, "# %s: vCPU %d %s; rip 0x%llx\n", what, v->id,
			buf, (unsigned long long)regs.rip);
	else
		fprintf(stderr, "# %s: vCPU %d %s\n", what, v->id, buf);
}

static bool run_checked(struct vcpu *v, const char *what)
{
	int r = vcpu_run(v);

	if (r) {
		fprintf(stderr, "# %s: KVM_RUN failed: %s (exit_reason %u)\n",
			what, strerror(-r), v->run->exit_reason);
		return false;
	}
	return true;
}

bool exit_is(struct vcpu *v, uint32_t reason)
{
	char what[64];

	if (v->run->exit_reason == reason)
		return true;
	snprintf(what, sizeof(what), "expected exit %s", exit_reason_name(reason));
	describe_exit(v, what);
	return false;
}

bool exit_is_io(struct vcpu *v, uint8_t dir, uint8_t size, uint16_t port, uint32_t count)
{
	struct kvm_run *run = v->run;
	char what[96];

	/*
	 * KVM puts the data one page after the start of kvm_run
	 * (KVM_PIO_PAGE_OFFSET); userspace only follows data_offset, but the
	 * data must lie inside the mapping.
	 */
	if (run->exit_reason == KVM_EXIT_IO && run->io.direction == dir &&
	    run->io.size == size && run->io.port == port &&
	    run->io.count == count &&
	    run->io.data_offset >= sizeof(*run) &&
	    run->io.data_offset + (uint64_t)size * count <= (uint64_t)v->vm->run_size)
		return true;
	snprintf(what, sizeof(what), "expected IO %s port 0x%x size %u count %u",
		 dir == KVM_EXIT_IO_OUT ? "out" : "in", port, size, count);
	describe_exit(v, what);
	return false;
}

bool exit_is_mmio(struct vcpu *v, uint64_t gpa, uint32_t len, bool is_write)
{
	struct kvm_run *run = v->run;
	char what[96];

	if (run->exit_reason == KVM_EXIT_MMIO && run->mmio.phys_addr == gpa &&
	    run->mmio.len == len && !!run->mmio.is_write == is_write)
		return true;
	snprintf(what, sizeof(what), "expected MMIO %s gpa 0x%llx len %u",
		 is_write ? "write" : "read", (unsigned long long)gpa, len);
	describe_exit(v, what);
	return false;
}

bool run_exit(struct vcpu *v, uint32_t reason)
{
	return run_checked(v, exit_reason_name(reason)) && exit_is(v, reason);
}

bool run_hlt(struct vcpu *v, uint64_t rip)
{
	struct kvm_regs regs;

	if (!run_exit(v, KVM_EXIT_HLT))
		return false;
	vcpu_get_regs(v, &regs);
	if (regs.rip == rip)
		return true;
	fprintf(stderr, "# HLT exit at rip 0x%llx, expected 0x%llx\n",
		(unsigned long long)regs.rip, (unsigned long long)rip);
	return false;
}

bool run_out(struct vcpu *v, uint8_t size, uint16_t port, uint64_t *value)
{
	*value = 0;
	if (!run_checked(v, "OUT") ||
	    !exit_is_io(v, KVM_EXIT_IO_OUT, size, port, 1))
		return false;
	memcpy(value, io_data(v), size);
	return true;
}

bool run_out_val(struct vcpu *v, uint8_t size, uint16_t port, uint64_t value)
{
	uint64_t got;

	if (!run_out(v, size, port, &got))
		return false;
	if (got == value)
		return true;
	fprintf(stderr, "# OUT port 0x%x wrote 0x%llx, expected 0x%llx\n", port,
		(unsigned long long)got, (unsigned long long)value);
	return false;
}

bool run_in(struct vcpu *v, uint8_t size, uint16_t port, uint64_t value)
{
	if (!run_checked(v, "IN") ||
	    !exit_is_io(v, KVM_EXIT_IO_IN, size, port, 1))
		return false;
	memcpy(io_data(v), &value, size);
	return true;
}

bool run_mmio_write(struct vcpu *v, uint64_t gpa, uint32_t len, uint64_t *value)
{
	*value = 0;
	if (!run_checked(v, "MMIO write") || !exit_is_mmio(v, gpa, len, true))
		return false;
	memcpy(value, v->run->mmio.data, len);
	return true;
}

bool run_mmio_read(struct vcpu *v, uint64_t gpa, uint32_t len, uint64_t value)
{
	if (!run_checked(v, "MMIO read") || !exit_is_mmio(v, gpa, len, false))
		return false;
	memcpy(v->run->mmio.data, &value, len);
	return true;
}

bool run_exception(struct vcpu *v, uint32_t vector, uint32_t error, uint64_t rip)
{
	uint64_t got;

	if (!run_out(v, 4, PORT_EXC_VECTOR, &got))
		return false;
	if (got != vector) {
		fprintf(stderr, "# exception vector %llu, expected %u\n",
			(unsigned long long)got, vector);
		return false;
	}
	if (!run_out(v, 4, PORT_EXC_ERROR, &got))
		return false;
	if (got != error) {
		fprintf(stderr, "# exception %u error code 0x%llx, expected 0x%x\n",
			vector, (unsigned long long)got, error);
		return false;
	}
	if (!run_out(v, 4, PORT_EXC_RIP, &got))
		return false;
	if (rip != ~0ull && got != (uint32_t)rip) {
		fprintf(stderr, "# exception %u at rip 0x%llx, expected 0x%llx\n",
			vector, (unsigned long long)got, (unsigned long long)rip);
		return false;
	}
	return true;
}
