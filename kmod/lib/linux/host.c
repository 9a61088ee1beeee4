// SPDX-License-Identifier: GPL-2.0
/*
 * The hypervisor half of the platform ABI (include/minikvm/platform.h):
 * pages, pinning, CPUs and hotplug, locks, the vCPU thread's preempt
 * notifier, guest entry (FPU, interrupts, pending work) and the host state
 * a VM exit does not restore. Kernel facilities only; the decisions are the
 * core's.
 */
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/hw_breakpoint.h>
#include <linux/highmem.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <asm/debugreg.h>
#include <asm/io.h>
#include <asm/mmu_context.h>
#include <asm/apic.h>
#include <asm/desc.h>
#include <asm/irq_vectors.h>
#include <asm/fpu/api.h>
#include <asm/msr.h>
#include <asm/segment.h>
#include <asm/special_insns.h>
#include <asm/tlbflush.h>
#include <asm/tsc.h>

#include <minikvm/core.h>
#include <minikvm/platform.h>

/* ---- pages and guest memory ---- */

void *mk_page_alloc(unsigned long long *pa)
{
	struct page *pg = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO | __GFP_NOWARN);

	if (!pg)
		return NULL;
	*pa = page_to_phys(pg);
	return page_address(pg);
}

void mk_page_free(void *va)
{
	if (va)
		free_page((unsigned long)va);
}

void *mk_phys_to_virt(unsigned long long pa)
{
	return __va(pa);
}

int mk_access_ok(unsigned long addr, unsigned long size)
{
	return access_ok((void __user *)addr, size);
}

int mk_pin_user_page(unsigned long hva, int writable, unsigned long long *pa)
{
	struct page *pg;
	long n;

	/*
	 * FOLL_LONGTERM: the page stays where it is (not in a movable zone or
	 * CMA) for as long as the guest maps it; FOLL_WRITE breaks COW now, so
	 * the guest never writes a page shared with another mapping.
	 */
	n = pin_user_pages_fast(hva & PAGE_MASK, 1, FOLL_LONGTERM | (writable ? FOLL_WRITE : 0), &pg);
	if (n == 1) {
		*pa = page_to_phys(pg);
		return 0;
	}
	if (n == -ENOMEM || n == -EINTR)
		return n;
	return -EFAULT;
}

void mk_unpin_page(unsigned long long pa, int dirty)
{
	struct page *pg = pfn_to_page(pa >> PAGE_SHIFT);

	unpin_user_pages_dirty_lock(&pg, 1, dirty);
}

/* ---- CPUs ---- */

int mk_this_cpu(void)
{
	return smp_processor_id();
}

int mk_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}

int mk_run_on_cpu(int cpu, void (*fn)(void *arg), void *arg)
{
	return smp_call_function_single(cpu, fn, arg, 1);
}

void mk_cpus_lock(void)
{
	cpus_read_lock();
}

void mk_cpus_unlock(void)
{
	cpus_read_unlock();
}

static enum cpuhp_state mk_cpuhp_state;

static int mk_cpu_online(unsigned int cpu)
{
	return mk_core_cpu_online(cpu);
}

static int mk_cpu_offline(unsigned int cpu)
{
	return mk_core_cpu_offline(cpu);
}

int mk_cpuhp_register(void)
{
	/*
	 * A dynamic AP state: the callbacks run on the CPU itself, after it
	 * is up and before it goes down, so VMXON/VMXOFF act on the right one.
	 * _nocalls: no VM exists at load, nothing to do for the online CPUs.
	 */
	int r = cpuhp_setup_state_nocalls(CPUHP_AP_ONLINE_DYN, "minikvm:online",
					  mk_cpu_online, mk_cpu_offline);
	if (r < 0)
		return r;
	mk_cpuhp_state = r;
	return 0;
}

void mk_cpuhp_unregister(void)
{
	cpuhp_remove_state_nocalls(mk_cpuhp_state);
}

void mk_cr4_set_bits(unsigned long bits)
{
	cr4_set_bits(bits);
}

void mk_cr4_clear_bits(unsigned long bits)
{
	cr4_clear_bits(bits);
}

/* ---- locks, interrupts, preemption ---- */

void *mk_mutex_new(void)
{
	struct mutex *m = kmalloc(sizeof(*m), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);

	if (m)
		mutex_init(m);
	return m;
}

void mk_mutex_free(void *m)
{
	if (m) {
		mutex_destroy(m);
		kfree(m);
	}
}

void mk_mutex_lock(void *m)
{
	mutex_lock(m);
}

void mk_mutex_unlock(void *m)
{
	mutex_unlock(m);
}

unsigned long mk_irq_save(void)
{
	unsigned long flags;

	local_irq_save(flags);
	return flags;
}

void mk_irq_restore(unsigned long flags)
{
	local_irq_restore(flags);
}

void mk_preempt_disable(void)
{
	preempt_disable();
}

void mk_preempt_enable(void)
{
	preempt_enable();
}

/* ---- the vCPU thread ---- */

struct mk_vcpu_ctx {
	struct preempt_notifier pn;
	void *obj;
	wait_queue_head_t wq;	/* HLT and wait-for-SIPI sleep here */
};

static void mk_sched_in(struct preempt_notifier *pn, int cpu)
{
	mk_core_vcpu_sched_in(container_of(pn, struct mk_vcpu_ctx, pn)->obj, cpu);
}

static void mk_sched_out(struct preempt_notifier *pn, struct task_struct *next)
{
	mk_core_vcpu_sched_out(container_of(pn, struct mk_vcpu_ctx, pn)->obj);
}

static struct preempt_ops mk_preempt_ops = {
	.sched_in = mk_sched_in,
	.sched_out = mk_sched_out,
};

void *mk_vcpu_ctx_new(void *obj)
{
	struct mk_vcpu_ctx *c = kzalloc(sizeof(*c), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);

	if (!c)
		return NULL;
	c->obj = obj;
	init_waitqueue_head(&c->wq);
	preempt_notifier_init(&c->pn, &mk_preempt_ops);
	/* Turns the scheduler's notifier calls on (a static key, counted). */
	preempt_notifier_inc();
	return c;
}

void mk_vcpu_ctx_free(void *ctx)
{
	if (!ctx)
		return;
	preempt_notifier_dec();
	kfree(ctx);
}

void mk_vcpu_load(void *ctx)
{
	struct mk_vcpu_ctx *c = ctx;
	int cpu = get_cpu();

	preempt_notifier_register(&c->pn);
	mk_core_vcpu_sched_in(c->obj, cpu);
	put_cpu();
}

void mk_vcpu_put(void *ctx)
{
	struct mk_vcpu_ctx *c = ctx;

	preempt_disable();
	mk_core_vcpu_sched_out(c->obj);
	preempt_notifier_unregister(&c->pn);
	preempt_enable();
}

const void *mk_current_mm(void)
{
	return current->mm;
}

int mk_signal_pending(void)
{
	return signal_pending(current);
}

void mk_cond_resched(void)
{
	cond_resched();
}

int mk_guest_enter_begin(void)
{
	/*
	 * kernel_fpu_begin() saves the user's FPU registers (once: until the
	 * return to user mode they stay saved) and disables preemption; the
	 * core then loads the guest's FPU state and owns the registers until
	 * mk_guest_enter_end().
	 */
	kernel_fpu_begin();
	local_irq_disable();
	/*
	 * Checked with interrupts off: a signal or a reschedule request that
	 * arrives after this comes with an IPI, which stays pending and makes
	 * the guest exit right after entry (external-interrupt exiting).
	 */
	if (signal_pending(current)) {
		local_irq_enable();
		kernel_fpu_end();
		return -EINTR;
	}
	if (need_resched()) {
		local_irq_enable();
		kernel_fpu_end();
		cond_resched();
		return -EAGAIN;
	}
	return 0;
}

void mk_guest_enter_end(void)
{
	local_irq_enable();
	kernel_fpu_end();
}

/* ---- host state ---- */

static unsigned long mk_tss_base(unsigned short tr, unsigned long gdt)
{
	/* A 64-bit TSS descriptor is 16 bytes (SDM vol. 3A 7.2.3). */
	const u8 *d = (const u8 *)(gdt + (tr & ~7));
	unsigned long base = d[2] | (d[3] << 8) | ((unsigned long)d[4] << 16) |
			     ((unsigned long)d[7] << 24);

	return base | ((unsigned long)*(const u32 *)(d + 8) << 32);
}

void mk_host_state_read(struct mk_host_state *hs)
{
	struct desc_ptr gdt, idt;
	unsigned short sel;

	hs->cr0 = read_cr0() & ~X86_CR0_TS;
	hs->cr3 = __get_current_cr3_fast();
	hs->cr4 = cr4_read_shadow();
	rdmsrl(MSR_FS_BASE, hs->fs_base);
	rdmsrl(MSR_GS_BASE, hs->gs_base);
	rdmsrl(MSR_KERNEL_GS_BASE, hs->kernel_gs_base);
	native_store_gdt(&gdt);
	store_idt(&idt);
	hs->gdtr_base = gdt.address;
	hs->idtr_base = idt.address;
	asm volatile("str %0" : "=r"(sel));
	hs->tr = sel;
	hs->tr_base = mk_tss_base(sel, gdt.address);
	rdmsrl(MSR_IA32_SYSENTER_CS, hs->sysenter_cs);
	rdmsrl(MSR_IA32_SYSENTER_ESP, hs->sysenter_esp);
	rdmsrl(MSR_IA32_SYSENTER_EIP, hs->sysenter_eip);
	rdmsrl(MSR_EFER, hs->efer);
	rdmsrl(MSR_IA32_CR_PAT, hs->pat);
	hs->cs = __KERNEL_CS;
	hs->ss = __KERNEL_DS;
	/*
	 * The host-state selector fields must have RPL = TI = 0 (SDM 26.2.3);
	 * a user selector there goes to 0 and is reloaded after exit.
	 */
	savesegment(ds, sel);
	hs->ds_sel_reload = sel;
	hs->ds = 0;
	savesegment(es, sel);
	hs->es_sel_reload = sel;
	hs->es = 0;
	savesegment(fs, sel);
	hs->fs = (sel & 7) ? 0 : sel;
	hs->fs_sel_reload = (sel & 7) ? sel : 0;
	savesegment(gs, sel);
	hs->gs = (sel & 7) ? 0 : sel;
	hs->gs_sel_reload = (sel & 7) ? sel : 0;
	asm volatile("sldt %0" : "=r"(sel));
	hs->ldt = sel;
}

void mk_host_after_exit(const struct mk_host_state *hs)
{
	/* VM exit leaves DR7 = 0x400 (SDM 27.5.1): re-arm the host's breakpoints. */
	if (hw_breakpoint_active())
		hw_breakpoint_restore();
}

void mk_host_restore(const struct mk_host_state *hs)
{
	/*
	 * What VM exit left different from the host and the kernel itself
	 * does not care about until user mode or a context switch: selectors
	 * the VMCS could not hold (reloading FS/GS resets their bases, so those
	 * come back after), LDTR (null after exit, SDM 27.5.2), the TSS limit
	 * (0x67 after exit: the I/O bitmap), the GDT limit (0xffff).
	 */
	if (hs->ldt)
		asm volatile("lldt %0" : : "rm"(hs->ldt));
	if (hs->gs_sel_reload) {
		load_gs_index(hs->gs_sel_reload);
		wrmsrl(MSR_KERNEL_GS_BASE, hs->kernel_gs_base);
	}
	if (hs->fs_sel_reload) {
		loadsegment(fs, hs->fs_sel_reload);
		wrmsrl(MSR_FS_BASE, hs->fs_base);
	}
	if (hs->ds_sel_reload | hs->es_sel_reload) {
		loadsegment(ds, hs->ds_sel_reload);
		loadsegment(es, hs->es_sel_reload);
	}
	invalidate_tss_limit();
	load_fixmap_gdt(raw_smp_processor_id());
}

void mk_vmx_do_interrupt_irqoff(unsigned long handler);

void mk_host_irq(unsigned int vector)
{
	/*
	 * The VM exit acknowledged the interrupt (the local APIC has it in
	 * service): run the host's handler for that vector as the CPU would
	 * have, through the IDT gate (KVM: handle_external_interrupt_irqoff).
	 */
	struct desc_ptr idt;
	gate_desc *desc;

	store_idt(&idt);
	desc = (gate_desc *)idt.address + (vector & 0xff);
	mk_vmx_do_interrupt_irqoff(gate_offset(desc));
}

void mk_host_nmi(void)
{
	/*
	 * The NMI was taken by the VM exit (NMI exiting), so NMIs are blocked
	 * until the next IRET: run the host's handler through the IDT, whose
	 * IRET unblocks them.
	 */
	asm volatile("int $2");
}

int mk_wrmsr_safe(unsigned int msr, unsigned long long value)
{
	return wrmsrl_safe(msr, value) ? -EIO : 0;
}

/* ---- interrupt controllers: spinlocks, time, timers, blocking, kicks ---- */

void *mk_spin_new(void)
{
	spinlock_t *l = kmalloc(sizeof(*l), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);

	if (l)
		spin_lock_init(l);
	return l;
}

void mk_spin_free(void *l)
{
	kfree(l);
}

unsigned long mk_spin_lock_irqsave(void *l)
{
	unsigned long flags;

	spin_lock_irqsave((spinlock_t *)l, flags);
	return flags;
}

void mk_spin_unlock_irqrestore(void *l, unsigned long flags)
{
	spin_unlock_irqrestore((spinlock_t *)l, flags);
}

unsigned long long mk_now_ns(void)
{
	return ktime_get_ns();
}

unsigned long long mk_rdtsc(void)
{
	return rdtsc();
}

unsigned long mk_tsc_khz(void)
{
	return tsc_khz;
}

struct mk_timer {
	struct hrtimer t;
	unsigned long long (*fn)(void *arg);
	void *arg;
};

static enum hrtimer_restart mk_timer_fire(struct hrtimer *t)
{
	struct mk_timer *mt = container_of(t, struct mk_timer, t);
	unsigned long long next = mt->fn(mt->arg);

	if (!next)
		return HRTIMER_NORESTART;
	hrtimer_set_expires(t, ns_to_ktime(next));
	return HRTIMER_RESTART;
}

void *mk_timer_new(unsigned long long (*fn)(void *arg), void *arg)
{
	struct mk_timer *mt = kzalloc(sizeof(*mt), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);

	if (!mt)
		return NULL;
	/* Hard-irq expiry, as KVM's LAPIC timer: the callback only sets bits
	 * under spinlocks and kicks vCPUs. */
	hrtimer_init(&mt->t, CLOCK_MONOTONIC, HRTIMER_MODE_ABS_HARD);
	mt->t.function = mk_timer_fire;
	mt->fn = fn;
	mt->arg = arg;
	return mt;
}

void mk_timer_free(void *t)
{
	if (!t)
		return;
	hrtimer_cancel(&((struct mk_timer *)t)->t);
	kfree(t);
}

void mk_timer_start(void *t, unsigned long long expires_ns)
{
	hrtimer_start(&((struct mk_timer *)t)->t, ns_to_ktime(expires_ns), HRTIMER_MODE_ABS_HARD);
}

void mk_timer_cancel(void *t)
{
	hrtimer_cancel(&((struct mk_timer *)t)->t);
}

int mk_vcpu_wait(void *ctx, int (*cond)(void *arg), void *arg)
{
	struct mk_vcpu_ctx *c = ctx;

	return wait_event_interruptible(c->wq, cond(arg)) ? -EINTR : 0;
}

void mk_vcpu_wake(void *ctx)
{
	wake_up_interruptible(&((struct mk_vcpu_ctx *)ctx)->wq);
}

void mk_kick_cpu(int cpu)
{
	/* As kvm_vcpu_kick(): the reschedule IPI is the cheapest interrupt
	 * that makes a CPU in VMX non-root operation exit (external-interrupt
	 * exiting), and harmless anywhere else. */
	if (cpu >= 0 && cpu < nr_cpu_ids && cpu_online(cpu))
		smp_send_reschedule(cpu);
}

/* APICv: the VT-x posted-interrupt notification (KVM's
 * kvm_vcpu_trigger_posted_interrupt and vmx_vcpu_pi_load). */
unsigned char mk_posted_intr_vector(void)
{
	return POSTED_INTR_VECTOR;
}

void mk_send_posted_intr_ipi(int cpu)
{
	if (cpu >= 0 && cpu < nr_cpu_ids && cpu_online(cpu))
		apic->send_IPI(cpu, POSTED_INTR_VECTOR);
}

unsigned int mk_cpu_pi_ndst(int cpu)
{
	unsigned int dest = cpu_physical_id(cpu);

	return x2apic_mode ? dest : (dest << 8) & 0xff00;
}
