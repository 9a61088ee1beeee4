/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The platform ABI: the only way the C++ core reaches the host kernel.
 *
 * The core (kmod/core, kmod/ia32) never includes a kernel header; it calls
 * these C functions instead. kmod/lib/linux implements them over the Linux
 * kernel; kmod/lib/user implements them over libc so that the very same core
 * objects are unit-tested natively (selftests/unit).
 *
 * Keep this header valid C and C++, free of kernel and libc headers, and
 * narrow: every function here is a seam that both platforms must honour.
 */
#ifndef MINIKVM_PLATFORM_H
#define MINIKVM_PLATFORM_H

#ifdef __cplusplus
extern "C" {
#endif

/* Memory. Returns zeroed memory or NULL; never sleeps-forever, never WARNs. */
void *mk_alloc(unsigned long size);
void mk_free(void *p);
/* Live allocations made through mk_alloc and not yet freed (leak accounting). */
long mk_alloc_live(void);

/* Logging: one line, "minikvm: " prefixed, newline added. */
enum mk_log_level { MK_LOG_ERR = 3, MK_LOG_WARN = 4, MK_LOG_INFO = 6, MK_LOG_DEBUG = 7 };
void mk_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* User memory. Return 0, or -EFAULT when any byte cannot be copied. */
long mk_copy_from_user(void *dst, unsigned long user_src, unsigned long n);
long mk_copy_to_user(unsigned long user_dst, const void *src, unsigned long n);

/* The CPU we run on. */
void mk_cpuid(unsigned int leaf, unsigned int subleaf, unsigned int out[4]);
/* 0 on success; -EIO when the MSR faults (absent on this CPU). */
int mk_rdmsr_safe(unsigned int msr, unsigned long long *value);
unsigned long mk_read_cr4(void);
/* Runs fn(arg) on every online CPU, this one included, and waits. */
void mk_on_each_cpu(void (*fn)(void *arg), void *arg);

/*
 * File descriptors for core objects (VM, later vCPU). The platform creates an
 * anonymous-inode fd whose ioctl and release call mk_core_fd_ioctl and
 * mk_core_fd_release (core.h) with obj. Returns the fd or a negative errno;
 * on failure the platform never calls release, the caller still owns obj.
 */
int mk_fd_create(const char *name, void *obj);

#ifdef __cplusplus
}
#endif

#endif /* MINIKVM_PLATFORM_H */
