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
/* Non-zero when [addr, addr + size) lies in the user address range (access_ok). */
int mk_access_ok(unsigned long addr, unsigned long size);

/* The CPU we run on. */
void mk_cpuid(unsigned int leaf, unsigned int subleaf, unsigned int out[4]);
/* 0 on success; -EIO when the MSR faults (absent on this CPU). */
int mk_rdmsr_safe(unsigned int msr, unsigned long long *value);
unsigned long mk_read_cr4(void);
/* Runs fn(arg) on every online CPU, this one included, and waits. */
void mk_on_each_cpu(void (*fn)(void *arg), void *arg);

/*
 * Pages for structures the CPU reads by physical address (VMXON region,
 * VMCS, EPT tables, MSR/IO bitmaps). A zeroed, 4 KiB-aligned 4 KiB page;
 * its host-physical address in *pa. NULL on failure.
 */
void *mk_page_alloc(unsigned long long *pa);
void mk_page_free(void *va);
/* The kernel virtual address of a host-physical address of RAM. */
void *mk_phys_to_virt(unsigned long long pa);

/*
 * Guest memory: pins the page of the current process at user address hva
 * (long-term, so it cannot move while the guest maps it) and returns its
 * host-physical address. writable asks for write access (the page is
 * faulted in writable, breaking COW). May sleep. Returns 0, -EFAULT (no
 * such mapping, or not writable when asked), -ENOMEM or -EINTR.
 */
int mk_pin_user_page(unsigned long hva, int writable, unsigned long long *pa);
/* Releases a pin taken by mk_pin_user_page; dirty marks the page dirty. */
void mk_unpin_page(unsigned long long pa, int dirty);

/* ---- Hypervisor support: what the VMX backend needs of the host ---- */

/* CPUs. mk_this_cpu() only with preemption disabled (or in a per-CPU call). */
int mk_this_cpu(void);
int mk_nr_cpu_ids(void);
/* Runs fn(arg) on cpu and waits; -ENXIO if that CPU is offline. */
int mk_run_on_cpu(int cpu, void (*fn)(void *arg), void *arg);
/* Keeps the set of online CPUs stable (cpus_read_lock). */
void mk_cpus_lock(void);
void mk_cpus_unlock(void);
/*
 * CPU hotplug: registers mk_core_cpu_online/mk_core_cpu_offline (core.h),
 * called on the CPU coming up / going down. Returns 0 or a negative errno.
 */
int mk_cpuhp_register(void);
void mk_cpuhp_unregister(void);
void mk_cr4_set_bits(unsigned long bits);
void mk_cr4_clear_bits(unsigned long bits);

/* Sleeping locks. */
void *mk_mutex_new(void);
void mk_mutex_free(void *m);
void mk_mutex_lock(void *m);
void mk_mutex_unlock(void *m);

/* Interrupts and preemption on this CPU. */
unsigned long mk_irq_save(void);
void mk_irq_restore(unsigned long flags);
void mk_preempt_disable(void);
void mk_preempt_enable(void);

/*
 * The vCPU thread. A vcpu context holds a preempt notifier: between
 * mk_vcpu_load() and mk_vcpu_put() the scheduler calls
 * mk_core_vcpu_sched_in(obj, cpu) / mk_core_vcpu_sched_out(obj) (core.h)
 * whenever the thread leaves or (re)enters a CPU, with preemption off.
 */
void *mk_vcpu_ctx_new(void *obj);
void mk_vcpu_ctx_free(void *ctx);
void mk_vcpu_load(void *ctx);
void mk_vcpu_put(void *ctx);
/* The current process's address space, as an identity to compare. */
const void *mk_current_mm(void);
/* Non-zero when a signal is pending for the current task. */
int mk_signal_pending(void);
void mk_cond_resched(void);

/*
 * Guest entry. mk_guest_enter_begin() claims the FPU for the guest
 * (kernel_fpu_begin: the user's FPU state is saved, preemption is off) and
 * disables interrupts; it returns non-zero, with nothing claimed, when the
 * thread must not enter now (signal pending or reschedule needed).
 * mk_guest_enter_end() undoes it, after the host state the CPU does not
 * restore at VM exit has been put back (mk_host_after_exit()).
 */
int mk_guest_enter_begin(void);
void mk_guest_enter_end(void);

/*
 * Host state for the VMCS host-state area (SDM 24.5), read on this CPU, and
 * what VM exit leaves wrong: DS/ES/FS/GS selectors whose RPL/TI the VMCS
 * cannot hold, the TSS limit (I/O bitmap), the GDT limit, the debug
 * registers (DR7 = 0x400 after exit).
 */
struct mk_host_state {
	unsigned long long cr0, cr3, cr4, fs_base, gs_base, tr_base, gdtr_base, idtr_base;
	unsigned long long sysenter_cs, sysenter_esp, sysenter_eip, efer, pat;
	unsigned short cs, ss, ds, es, fs, gs, tr;
	/* Selectors the VMCS cannot restore (non-zero RPL or TI): reloaded after exit. */
	unsigned short fs_sel_reload, gs_sel_reload, ds_sel_reload, es_sel_reload;
	unsigned long long kernel_gs_base;
	unsigned short ldt;
};
void mk_host_state_read(struct mk_host_state *hs);
void mk_host_after_exit(const struct mk_host_state *hs);
/* Puts back what VM exit changed and the kernel needs only in user mode or
 * after a context switch (selectors, LDTR, TSS and GDT limits): once before
 * the thread leaves the vCPU (sched out, return to userspace). */
void mk_host_restore(const struct mk_host_state *hs);
/* An external interrupt a VM exit acknowledged: run the host's handler for
 * vector (interrupts off). */
void mk_host_irq(unsigned int vector);
/* An NMI that caused a VM exit: run the host's NMI handler (interrupts off). */
void mk_host_nmi(void);

/* ---- Interrupt controllers: locks, time, blocking and kicking vCPUs ---- */

/*
 * Spinlocks that interrupts cannot break into: device models take them from
 * the vCPU thread, from ioctls and from timer callbacks (hard-irq context).
 * Never sleep, allocate or call mk_timer_cancel/free on a timer whose
 * callback takes the same lock while holding one.
 */
void *mk_spin_new(void);
void mk_spin_free(void *l);
unsigned long mk_spin_lock_irqsave(void *l);
void mk_spin_unlock_irqrestore(void *l, unsigned long flags);

/* CLOCK_MONOTONIC in ns; the TSC; the TSC's frequency in kHz (0: unknown). */
unsigned long long mk_now_ns(void);
unsigned long long mk_rdtsc(void);
unsigned long mk_tsc_khz(void);

/*
 * High-resolution timers (hrtimer, CLOCK_MONOTONIC, absolute, hard-irq
 * callback). fn(arg) runs in interrupt context and returns 0 to stop or the
 * next absolute expiry in ns to re-arm (periodic timers). mk_timer_cancel()
 * waits for a running callback; mk_timer_free() cancels first.
 */
void *mk_timer_new(unsigned long long (*fn)(void *arg), void *arg);
void mk_timer_free(void *t);
void mk_timer_start(void *t, unsigned long long expires_ns);
void mk_timer_cancel(void *t);

/*
 * Blocking a vCPU thread (HLT, wait-for-SIPI): sleeps until cond(arg) is
 * non-zero (checked before sleeping and after every wake-up) or a signal is
 * pending. Returns 0, or -EINTR for a signal. mk_vcpu_wake() may be called
 * from any context, interrupts included.
 */
int mk_vcpu_wait(void *ctx, int (*cond)(void *arg), void *arg);
void mk_vcpu_wake(void *ctx);
/* Forces a VM exit on cpu if it runs a guest (a reschedule IPI); any context. */
void mk_kick_cpu(int cpu);

/*
 * APICv (kmod/core/vmx): kvm_intel's module parameters enable_apicv and
 * flexpriority (0/1), read when a vCPU is created. The VT-x posted-interrupt
 * notification: the host kernel's POSTED_INTR_VECTOR (its handler only
 * acknowledges), sent to cpu; the APIC ID of cpu as the posted-interrupt
 * descriptor's NDST wants it (x2APIC: the 32-bit ID; xAPIC: ID << 8,
 * SDM vol. 3C 29.6).
 */
int mk_param_enable_apicv(void);
int mk_param_flexpriority(void);
/* Testbed only (Bochs 2.7): vmx_vcpu.cpp handle_exit, module.c. */
int mk_param_stale_vectoring_quirk(void);
unsigned char mk_posted_intr_vector(void);
void mk_send_posted_intr_ipi(int cpu);
unsigned int mk_cpu_pi_ndst(int cpu);

/* MSRs of this CPU; 0 or -EIO. */
int mk_wrmsr_safe(unsigned int msr, unsigned long long value);

/*
 * Runs the guest: loads the GPRs from regs[16] (RAX, RCX, RDX, RBX, RSP
 * (unused: the VMCS has RSP), RBP, RSI, RDI, R8..R15) and regs[16] = CR2,
 * executes VMRESUME (launched) or VMLAUNCH, and at VM exit stores them
 * back. Returns 0 after a VM exit, 1 when the VM instruction failed. The
 * VMCS host RSP/RIP are written by this function.
 */
int mk_vmx_vcpu_run(unsigned long long *regs, int launched);

/*
 * mmap of a core fd (the vCPU's kvm_run): the fd's pages are whatever
 * mk_core_fd_mmap_page() returns for a page offset (core.h).
 */

/*
 * File descriptors for core objects (VM, later vCPU). The platform creates an
 * anonymous-inode fd whose ioctl and release call mk_core_fd_ioctl and
 * mk_core_fd_release (core.h) with obj. Returns the fd or a negative errno;
 * on failure the platform never calls release, the caller still owns obj.
 */
int mk_fd_create(const char *name, void *obj);

/* ---- irq bypass (VT-d posted interrupts for assigned devices) ---- */

/*
 * An irq-bypass consumer (the kernel's irqbypass manager) for one irqfd:
 * token is the eventfd context the irqfd holds (what VFIO's producer uses
 * as its token). When a producer with the same token registers, the
 * manager calls mk_core_bypass_add_producer(client, host_irq) (core.h);
 * when it goes, or the consumer is freed, mk_core_bypass_del_producer().
 * Both from a sleeping context under the manager's mutex. Returns the
 * handle, or NULL when registration failed (logged once; the irqfd works
 * without bypass). mk_bypass_consumer_free() unregisters (sleeps; calls
 * del_producer first when one is connected): never call it holding a lock
 * the client's producer_removed() takes.
 */
void *mk_bypass_consumer_new(void *token, void *client);
void mk_bypass_consumer_free(void *h);
/*
 * irq_set_vcpu_affinity() for host_irq: posted != 0 hands the IRTE to the
 * guest (struct vcpu_data { pi_desc_pa, vector }: the IOMMU posts into the
 * descriptor), posted == 0 returns it to remapped mode (NULL). Sleeping
 * context, no spinlock held. 0 or the IOMMU driver's negative errno.
 */
int mk_irq_set_vcpu_affinity(unsigned int host_irq, unsigned long long pi_desc_pa,
			     unsigned int vector, int posted);
/*
 * Module parameter irte_posting_test (test only): non-zero when vCPUs
 * whose posted-interrupt descriptor is processed in software count as
 * postable, so a testbed without VT-d posting sees the posted calls.
 */
int mk_irte_posting_test(void);

/* ---- eventfds, work items (irqfd, ioeventfd) ---- */

/*
 * Eventfds (fs/eventfd.c). mk_eventfd_ctx_get() takes a reference on the
 * eventfd context behind fd (eventfd_ctx_fdget): NULL with *err = -EBADF
 * (no such fd) or -EINVAL (not an eventfd); mk_eventfd_ctx_put(NULL) does
 * nothing. mk_eventfd_signal() adds 1
 * (eventfd_signal); any context, wake-up callbacks included.
 */
void *mk_eventfd_ctx_get(int fd, int *err);
void mk_eventfd_ctx_put(void *ctx);
void mk_eventfd_signal(void *ctx);

/*
 * A watch: a wait-queue entry on an eventfd whose callback fn(arg, events)
 * runs on every wake-up of the eventfd (KVM's irqfd_wakeup), in any context:
 * with the eventfd's wait-queue spinlock held, interrupts possibly off.
 * events: MK_POLLIN (the counter was signalled: the watch has already read
 * and zeroed it, eventfd_ctx_do_read) and/or MK_POLLHUP (the eventfd's last
 * file reference is gone). fn must not sleep and must not free the watch.
 * mk_eventfd_watch_new() allocates it (sleeping; NULL on failure);
 * mk_eventfd_watch_add() hooks it onto the eventfd of fd, which must still
 * be ctx's (else -EBADF), and returns 0 with *events = the poll mask at
 * that moment (MK_POLLIN: a signal was pending before the hook) or a
 * negative errno (nothing hooked). mk_eventfd_watch_free() unhooks it under
 * the wait-queue lock (eventfd_ctx_remove_wait_queue: no callback runs
 * after it returns) and frees it. Sleeping context.
 */
#define MK_POLLIN 0x1u
#define MK_POLLHUP 0x10u
void *mk_eventfd_watch_new(void (*fn)(void *arg, unsigned int events), void *arg);
int mk_eventfd_watch_add(void *watch, int fd, void *ctx, unsigned int *events);
void mk_eventfd_watch_free(void *watch);

/*
 * Work items (the kernel's system workqueue): fn(arg) runs later in a
 * sleeping kernel-thread context. mk_work_schedule() queues it unless
 * already queued (any context); mk_work_flush() waits until a queued or
 * running instance has finished; mk_work_free() cancels a queued one,
 * waits for a running one (cancel_work_sync) and frees it. NULL on
 * allocation failure.
 */
void *mk_work_new(void (*fn)(void *arg), void *arg);
void mk_work_free(void *work);
void mk_work_schedule(void *work);
void mk_work_flush(void *work);

/* ---- tracepoints (trace system "minikvm", uapi/minikvm/trace.h) ---- */

/*
 * One id per tracepoint. mk_trace_on[id] is non-zero while something is
 * attached to that tracepoint (ftrace, perf, BPF): the glue's
 * TRACE_EVENT_FN registration callbacks keep it, so a disabled tracepoint
 * costs the core one byte load and a not-taken branch, and arguments that
 * cost something to gather (a VMREAD) are gathered only when it is on:
 *
 *   if (mk_trace_on[MK_TP_EXIT]) mk_trace_exit(...);
 *
 * The mk_trace_*() functions may be called in any context (wake-up
 * callbacks, interrupts off, spinlocks held) and never fail. Their
 * arguments are the fields of the event's record, in the same order
 * (uapi/minikvm/trace.h).
 */
enum mk_tp_id {
	MK_TP_ENTRY,
	MK_TP_EXIT,
	MK_TP_USERSPACE_EXIT,
	MK_TP_INJECT,
	MK_TP_IPI,
	MK_TP_APIC_ACCEPT,
	MK_TP_EOI,
	MK_TP_PIC_SET_IRQ,
	MK_TP_IOAPIC_SET_IRQ,
	MK_TP_MSI_SET_IRQ,
	MK_TP_SET_GSI,
	MK_TP_IRQFD_INJECT,
	MK_TP_IRQFD_RESAMPLE,
	MK_TP_PI_IRTE_UPDATE,
	MK_TP_APICV,
	MK_TP_COUNT
};
extern unsigned char mk_trace_on[MK_TP_COUNT];

void mk_trace_entry(unsigned int vm, unsigned int vcpu, unsigned long long rip);
void mk_trace_exit(unsigned int vm, unsigned int vcpu, unsigned int reason,
		   unsigned int intr_info, unsigned long long qual, unsigned long long rip);
void mk_trace_userspace_exit(unsigned int vm, unsigned int vcpu, unsigned int exit_reason, int err);
void mk_trace_inject(unsigned int vm, unsigned int vcpu, unsigned char vector, unsigned char type,
		     unsigned char reinjected, unsigned char has_error, unsigned int error_code);
void mk_trace_ipi(unsigned int vm, unsigned int vcpu, unsigned int icr_low, unsigned int dest);
void mk_trace_apic_accept(unsigned int vm, unsigned int vcpu, unsigned int apic_id,
			  unsigned char vector, unsigned char delivery_mode, unsigned char level,
			  unsigned char coalesced, unsigned int origin);
void mk_trace_eoi(unsigned int vm, unsigned int vcpu, unsigned char vector, unsigned char level);
void mk_trace_pic_set_irq(unsigned int vm, unsigned char chip, unsigned char pin, unsigned char level,
			  unsigned char coalesced, unsigned char elcr, unsigned char imr);
void mk_trace_ioapic_set_irq(unsigned int vm, unsigned int pin, unsigned long long entry,
			     unsigned char level, unsigned char coalesced);
void mk_trace_msi_set_irq(unsigned int vm, unsigned int data, unsigned long long address);
void mk_trace_set_gsi(unsigned int vm, unsigned int gsi, int level, unsigned int nr_routes,
		      unsigned int route_kinds, unsigned int source);
void mk_trace_irqfd_inject(unsigned int vm, unsigned int gsi, unsigned char inatomic,
			   unsigned char resample);
void mk_trace_irqfd_resample(unsigned int vm, unsigned int gsi);
void mk_trace_pi_irte_update(unsigned int vm, unsigned int vcpu, unsigned int host_irq,
			     unsigned int gsi, unsigned char vector, unsigned char posted, int result,
			     unsigned long long pi_desc);
void mk_trace_apicv(unsigned int vm, unsigned int vcpu, unsigned char active, unsigned char mode,
		    unsigned int inhibit);

#ifdef __cplusplus
}
#endif

#endif /* MINIKVM_PLATFORM_H */
