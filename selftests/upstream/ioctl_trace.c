// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl_trace.so: an LD_PRELOAD library that prints every KVM ioctl a
 * program makes, with its result, to stderr ("kvmtrace: " lines).  Used
 * to record what the upstream KVM selftests really ask of /dev/kvm
 * (Documentation/upstream-selftests.md) and to compare minikvm's answers
 * with KVM's, run for run:
 *
 *   LD_PRELOAD=/payload/bin/upstream/lib/ioctl_trace.so sync_regs_test
 *
 * KVM_RUN lines also show the kvm_run fields the tests use (immediate_exit,
 * kvm_valid_regs/kvm_dirty_regs before the call; exit reason and the
 * KVM_EXIT_IO fields after it).  That needs the vCPU's kvm_run mapping, so
 * mmap is interposed too.  Not thread-safe beyond what fprintf gives:
 * good enough for tests with one thread per vCPU.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FDS 8192

struct ioctl_name {
	unsigned long req;
	const char *name;
};

#define N(x) { x, #x }
static const struct ioctl_name names[] = {
	N(KVM_GET_API_VERSION), N(KVM_CREATE_VM), N(KVM_CHECK_EXTENSION),
	N(KVM_GET_VCPU_MMAP_SIZE), N(KVM_GET_SUPPORTED_CPUID),
	N(KVM_GET_EMULATED_CPUID), N(KVM_GET_MSR_INDEX_LIST),
	N(KVM_GET_MSR_FEATURE_INDEX_LIST), N(KVM_CREATE_VCPU),
	N(KVM_SET_USER_MEMORY_REGION), N(KVM_CREATE_IRQCHIP),
	N(KVM_IRQ_LINE), N(KVM_IRQ_LINE_STATUS), N(KVM_SET_GSI_ROUTING),
	N(KVM_IRQFD), N(KVM_IOEVENTFD), N(KVM_ENABLE_CAP),
	N(KVM_SET_BOOT_CPU_ID), N(KVM_SET_TSS_ADDR),
	N(KVM_SET_IDENTITY_MAP_ADDR), N(KVM_GET_IRQCHIP), N(KVM_SET_IRQCHIP),
	N(KVM_CREATE_PIT2), N(KVM_GET_CLOCK), N(KVM_SET_CLOCK),
	N(KVM_GET_STATS_FD), N(KVM_CREATE_DEVICE), N(KVM_GET_DEVICE_ATTR),
	N(KVM_SET_DEVICE_ATTR), N(KVM_HAS_DEVICE_ATTR), N(KVM_RUN),
	N(KVM_GET_REGS), N(KVM_SET_REGS), N(KVM_GET_SREGS), N(KVM_SET_SREGS),
	N(KVM_GET_SREGS2), N(KVM_SET_SREGS2), N(KVM_TRANSLATE),
	N(KVM_INTERRUPT), N(KVM_NMI), N(KVM_GET_MSRS), N(KVM_SET_MSRS),
	N(KVM_SET_CPUID), N(KVM_SET_CPUID2), N(KVM_GET_CPUID2),
	N(KVM_SET_SIGNAL_MASK), N(KVM_GET_FPU), N(KVM_SET_FPU),
	N(KVM_GET_LAPIC), N(KVM_SET_LAPIC), N(KVM_GET_MP_STATE),
	N(KVM_SET_MP_STATE), N(KVM_GET_VCPU_EVENTS), N(KVM_SET_VCPU_EVENTS),
	N(KVM_GET_DEBUGREGS), N(KVM_SET_DEBUGREGS), N(KVM_GET_XSAVE),
	N(KVM_SET_XSAVE), N(KVM_GET_XSAVE2), N(KVM_GET_XCRS), N(KVM_SET_XCRS),
	N(KVM_SET_GUEST_DEBUG), N(KVM_GET_NESTED_STATE),
	N(KVM_SET_NESTED_STATE), N(KVM_KVMCLOCK_CTRL), N(KVM_GET_ONE_REG),
	N(KVM_SET_ONE_REG), N(KVM_GET_REG_LIST), N(KVM_SET_TSC_KHZ),
	N(KVM_GET_TSC_KHZ), N(KVM_X86_SETUP_MCE), N(KVM_X86_SET_MCE),
	N(KVM_GET_DIRTY_LOG), N(KVM_CLEAR_DIRTY_LOG), N(KVM_GET_SUPPORTED_HV_CPUID),
};
#undef N

static struct kvm_run *runs[MAX_FDS];
static int (*real_ioctl)(int, unsigned long, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);

static const char *ioctl_name(unsigned long req)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].req == req)
			return names[i].name;
	return NULL;
}

/* What the argument means for the ioctls the selftests use most. */
static void print_arg(FILE *f, unsigned long req, unsigned long arg)
{
	if (req == KVM_CHECK_EXTENSION || req == KVM_CREATE_VCPU ||
	    req == KVM_CREATE_VM) {
		fprintf(f, "(%lu)", arg);
	} else if (req == KVM_SET_USER_MEMORY_REGION && arg) {
		const struct kvm_userspace_memory_region *r = (const void *)arg;

		fprintf(f, "(slot %u flags %#x gpa %#llx size %#llx)", r->slot,
			r->flags, (unsigned long long)r->guest_phys_addr,
			(unsigned long long)r->memory_size);
	} else if ((req == KVM_GET_SUPPORTED_CPUID || req == KVM_SET_CPUID2 ||
		    req == KVM_GET_CPUID2) && arg) {
		fprintf(f, "(nent %u)", ((const struct kvm_cpuid2 *)arg)->nent);
	} else if (req == KVM_SET_MP_STATE && arg) {
		fprintf(f, "(%u)", ((const struct kvm_mp_state *)arg)->mp_state);
	} else if ((req == KVM_GET_MSRS || req == KVM_SET_MSRS) && arg) {
		const struct kvm_msrs *m = (const void *)arg;

		fprintf(f, "(nmsrs %u first %#x)", m->nmsrs,
			m->nmsrs ? m->entries[0].index : 0);
	} else if (req == KVM_ENABLE_CAP && arg) {
		const struct kvm_enable_cap *c = (const void *)arg;

		fprintf(f, "(cap %u arg0 %#llx)", c->cap,
			(unsigned long long)c->args[0]);
	} else if (req == KVM_SET_SREGS && arg) {
		const struct kvm_sregs *s = (const void *)arg;

		fprintf(f, "(cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx apic_base %#llx)",
			(unsigned long long)s->cr0, (unsigned long long)s->cr3,
			(unsigned long long)s->cr4, (unsigned long long)s->efer,
			(unsigned long long)s->apic_base);
	} else if (req == KVM_SET_REGS && arg) {
		const struct kvm_regs *r = (const void *)arg;

		fprintf(f, "(rip %#llx rsp %#llx rflags %#llx rcx %#llx rbx %#llx)",
			(unsigned long long)r->rip, (unsigned long long)r->rsp,
			(unsigned long long)r->rflags, (unsigned long long)r->rcx,
			(unsigned long long)r->rbx);
	}
}

static void print_result(FILE *f, unsigned long req, unsigned long arg,
			 int fd, int ret, int err)
{
	if (ret < 0)
		fprintf(f, " = -1 %s", strerrorname_np(err) ?: "?");
	else
		fprintf(f, " = %d", ret);
	if (ret < 0 && req != KVM_RUN)
		return;
	if ((req == KVM_GET_SUPPORTED_CPUID || req == KVM_GET_CPUID2) && arg)
		fprintf(f, " nent %u", ((const struct kvm_cpuid2 *)arg)->nent);
	if (req == KVM_GET_SREGS && arg) {
		const struct kvm_sregs *s = (const void *)arg;

		fprintf(f, " cr0 %#llx cr4 %#llx efer %#llx apic_base %#llx",
			(unsigned long long)s->cr0, (unsigned long long)s->cr4,
			(unsigned long long)s->efer,
			(unsigned long long)s->apic_base);
	}
	if (req == KVM_GET_REGS && arg) {
		const struct kvm_regs *r = (const void *)arg;

		fprintf(f, " rip %#llx rcx %#llx rdi %#llx rbx %#llx",
			(unsigned long long)r->rip, (unsigned long long)r->rcx,
			(unsigned long long)r->rdi, (unsigned long long)r->rbx);
	}
	if (req == KVM_RUN && fd >= 0 && fd < MAX_FDS && runs[fd]) {
		const struct kvm_run *run = runs[fd];

		fprintf(f, " exit_reason %u", run->exit_reason);
		if (run->exit_reason == KVM_EXIT_IO)
			fprintf(f, " io %s port %#x size %u count %u data_offset %#llx",
				run->io.direction == KVM_EXIT_IO_IN ? "in" : "out",
				run->io.port, run->io.size, run->io.count,
				(unsigned long long)run->io.data_offset);
		fprintf(f, " valid %#llx dirty %#llx",
			(unsigned long long)run->kvm_valid_regs,
			(unsigned long long)run->kvm_dirty_regs);
	}
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	unsigned long arg;
	const char *name;
	int ret, err;

	va_start(ap, req);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (!real_ioctl)
		real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	name = ioctl_name(req);
	if (!name)
		return real_ioctl(fd, req, arg);

	if (req == KVM_RUN && fd >= 0 && fd < MAX_FDS && runs[fd])
		fprintf(stderr, "kvmtrace: fd %d KVM_RUN(immediate_exit %u valid %#llx dirty %#llx)",
			fd, runs[fd]->immediate_exit,
			(unsigned long long)runs[fd]->kvm_valid_regs,
			(unsigned long long)runs[fd]->kvm_dirty_regs);
	else {
		fprintf(stderr, "kvmtrace: fd %d %s", fd, name);
		print_arg(stderr, req, arg);
	}
	ret = real_ioctl(fd, req, arg);
	err = errno;
	print_result(stderr, req, arg, fd, ret, err);
	fputc('\n', stderr);
	errno = err;
	return ret;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p;

	if (!real_mmap)
		real_mmap = (void *(*)(void *, size_t, int, int, int, off_t))
			dlsym(RTLD_NEXT, "mmap");
	p = real_mmap(addr, len, prot, flags, fd, off);
	/* Only shared file mappings at offset 0 can be a vCPU's kvm_run. */
	if (p != MAP_FAILED && fd >= 0 && fd < MAX_FDS && off == 0 &&
	    (flags & MAP_SHARED) && !(flags & MAP_ANONYMOUS)) {
		char link[64], target[64];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = 0;
			if (strstr(target, "vcpu")) {
				runs[fd] = p;
				fprintf(stderr, "kvmtrace: fd %d mmap(size %#zx) kvm_run\n",
					fd, len);
			}
		}
	}
	return p;
}
