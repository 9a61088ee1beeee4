/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The core's entry points: what the platform layer calls into. C ABI, so the
 * C glue in kmod/lib/linux can call C++ without knowing it is C++.
 */
#ifndef MINIKVM_CORE_H
#define MINIKVM_CORE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Module load: probes the CPU. Returns 0 or a negative errno. */
int mk_core_init(void);
/* Module unload: every fd is closed by then (the module is pinned by them). */
void mk_core_exit(void);

/* ioctl on the system device (/dev/minikvm or /dev/kvm). */
long mk_core_dev_ioctl(unsigned int cmd, unsigned long arg);

/* ioctl and last close of an fd made by mk_fd_create(). */
long mk_core_fd_ioctl(void *obj, unsigned int cmd, unsigned long arg);
void mk_core_fd_release(void *obj);

/* mmap of such an fd: the kernel page (from mk_page_alloc) at page offset
 * pgoff, or NULL (SIGBUS). */
void *mk_core_fd_mmap_page(void *obj, unsigned long pgoff);

/* read() of such an fd at *pos (advanced): bytes read or a negative errno. */
long mk_core_fd_read(void *obj, unsigned long user_buf, unsigned long size, long long *pos);

/* CPU hotplug (mk_cpuhp_register): run on that CPU. */
int mk_core_cpu_online(unsigned int cpu);
int mk_core_cpu_offline(unsigned int cpu);

/* The vCPU thread's preempt notifier (mk_vcpu_ctx_new). */
void mk_core_vcpu_sched_in(void *obj, int cpu);
void mk_core_vcpu_sched_out(void *obj);

/* irq bypass (mk_bypass_consumer_new): a producer (host_irq) connected to
 * / disconnected from the consumer whose client is client. Sleeping context. */
void mk_core_bypass_add_producer(void *client, unsigned int host_irq);
void mk_core_bypass_del_producer(void *client, unsigned int host_irq);

#ifdef __cplusplus
}
#endif

#endif /* MINIKVM_CORE_H */
