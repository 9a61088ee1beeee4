/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Small helpers shared by the VM and vCPU ioctl tests (vm_ioctl_test.c,
 * vcpu_ioctl_test.c).  Included after kselftest_harness.h.
 *
 * Environment:
 *   MINIKVM_DEV     the KVM-ABI device to open (default /dev/kvm)
 *   MINIKVM_EXPECT  "kvm" (default): Linux's own KVM, the reference;
 *                   anything else ("minikvm", "vmx"): minikvm.  Only the
 *                   deliberate, documented differences (Documentation/abi.md)
 *                   and checks of KVM-only features may depend on it.
 */
#ifndef MINIKVM_KVM_TEST_UTIL_H
#define MINIKVM_KVM_TEST_UTIL_H

#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kvm.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PAGE 4096ul

/*
 * Addresses no ioctl may read or write: the kernel half of the address
 * space, a non-canonical address, and (see bad_user_ptrs()) NULL, 0x1 and a
 * page that was mapped and then unmapped.
 */
#define KERNEL_PTR 0xffffffff81000000ul
#define NONCANONICAL_PTR 0x8000000000000000ul

static inline const char *kvm_dev_path(void)
{
	const char *p = getenv("MINIKVM_DEV");

	return p && *p ? p : "/dev/kvm";
}

/* True when the device under test is Linux's own KVM (the reference). */
static inline bool expect_kvm(void)
{
	const char *e = getenv("MINIKVM_EXPECT");

	return !e || !*e || !strcmp(e, "kvm");
}

/*
 * The one documented deliberate difference that these tests meet: an ioctl
 * the system device does not know.  KVM's kvm_arch_dev_ioctl() answers
 * -EINVAL, minikvm the POSIX -ENOTTY (Documentation/abi.md).
 */
static inline long dev_unknown_ioctl_errno(void)
{
	return expect_kvm() ? -EINVAL : -ENOTTY;
}

/* ioctl() result as -errno, like the kernel returned it. */
static inline long kioctl(int fd, unsigned long cmd, unsigned long arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

static inline long kioctl_p(int fd, unsigned long cmd, const void *arg)
{
	return kioctl(fd, cmd, (unsigned long)arg);
}

static inline int open_kvm_dev(void)
{
	return open(kvm_dev_path(), O_RDWR | O_CLOEXEC);
}

/* The vendor of the CPU we run on: KVM's behaviour follows it (VMX/SVM). */
static inline bool host_cpu_is_intel(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(0, &a, &b, &c, &d))
		return false;
	/* "GenuineIntel" in EBX, EDX, ECX. */
	return b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e;
}

/*
 * A buffer of `size` bytes that ends exactly where a PROT_NONE page begins:
 * a struct placed there is readable only up to the guard, so an ioctl that
 * copies the whole struct faults half-way.  Returns the start of the
 * buffer; *map and *maplen describe the mapping to munmap.
 */
static inline void *buffer_before_guard(size_t size, void **map, size_t *maplen)
{
	size_t body = (size + PAGE - 1) & ~(PAGE - 1);
	char *p = mmap(NULL, body + PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + body, PAGE, PROT_NONE)) {
		munmap(p, body + PAGE);
		return NULL;
	}
	*map = p;
	*maplen = body + PAGE;
	return p + body - size;
}

/* An address that was mapped a moment ago and is not any more. */
static inline unsigned long unmapped_user_ptr(void)
{
	void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 0x10; /* still unmapped: the zero page is never mapped */
	munmap(p, PAGE);
	return (unsigned long)p;
}

/* Every kind of bad user pointer the struct-taking ioctls must survive. */
static inline int bad_user_ptrs(unsigned long out[5])
{
	out[0] = 0;
	out[1] = 1;
	out[2] = unmapped_user_ptr();
	out[3] = KERNEL_PTR;
	out[4] = NONCANONICAL_PTR;
	return 5;
}

/*
 * Does touching `addr` (read, or write when `write`) fault with SIGBUS or
 * SIGSEGV?  Returns the signal number, 0 if the access worked.
 */
static sigjmp_buf touch_env __attribute__((unused));
static volatile sig_atomic_t touch_sig __attribute__((unused));

static inline void touch_handler(int sig)
{
	touch_sig = sig;
	siglongjmp(touch_env, 1);
}

static inline int touch_faults(volatile char *addr, bool write)
{
	struct sigaction sa, old_bus, old_segv;
	int sig = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = touch_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	touch_sig = 0;
	if (sigsetjmp(touch_env, 1) == 0) {
		if (write)
			*addr = *addr;
		else
			(void)*addr;
	} else {
		sig = touch_sig;
	}
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	return sig;
}

/* Enough open files for `n` more fds (vCPUs), if the hard limit allows. */
static inline bool allow_open_files(unsigned long n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return false;
	if (rl.rlim_cur >= n + 64)
		return true;
	rl.rlim_cur = n + 64;
	if (rl.rlim_max < rl.rlim_cur)
		rl.rlim_max = rl.rlim_cur; /* root may raise the hard limit */
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/*
 * Run fn(fd) in a child process (another mm) and return what it returned
 * (an errno-style value in -128..127), or 1000 + signal if it died.
 */
static inline int in_child(long (*fn)(int fd), int fd)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return 2000;
	if (pid == 0)
		_exit((int)(fn(fd) & 0xff));
	if (waitpid(pid, &status, 0) != pid)
		return 2001;
	if (WIFSIGNALED(status))
		return 1000 + WTERMSIG(status);
	return (signed char)WEXITSTATUS(status);
}

#endif /* MINIKVM_KVM_TEST_UTIL_H */
