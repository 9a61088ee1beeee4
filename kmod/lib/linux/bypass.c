// SPDX-License-Identifier: GPL-2.0
/*
 * The platform ABI's "irq bypass" section (include/minikvm/platform.h) over
 * the kernel's irq-bypass manager (virt/lib/irqbypass.c, irqbypass.ko) and
 * irq_set_vcpu_affinity() (kernel/irq/manage.c). This is KVM's
 * kvm_irqfd_assign() consumer registration and the call vmx_pi_update_irte()
 * makes; the decision which call to make is the core's (irq/irq_posting.cpp).
 */
#include <linux/interrupt.h>
#include <linux/irq.h>
#include <linux/irqbypass.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>
#include <asm/irq_remapping.h>

#include <minikvm/core.h>
#include <minikvm/platform.h>

static bool irte_posting_test;
module_param(irte_posting_test, bool, 0644);
MODULE_PARM_DESC(irte_posting_test,
		 "TEST ONLY: treat vCPUs with a software-processed posted-interrupt descriptor as postable for VT-d posting, so irq_set_vcpu_affinity() sees posted-mode calls without hardware posting (default N; never set it with a real IOMMU)");

int mk_irte_posting_test(void)
{
	return READ_ONCE(irte_posting_test);
}

struct mk_bypass {
	struct irq_bypass_consumer consumer;
	void *client; /* irq::PostingClient of the irqfd */
};

static int mk_bypass_add_producer(struct irq_bypass_consumer *cons,
				  struct irq_bypass_producer *prod)
{
	struct mk_bypass *b = container_of(cons, struct mk_bypass, consumer);

	/*
	 * As kvm_arch_irq_bypass_add_producer(): the connection stands even
	 * when the IRTE cannot be posted (the core falls back to remapped
	 * mode and says so), so always 0.
	 */
	mk_core_bypass_add_producer(b->client, prod->irq);
	return 0;
}

static void mk_bypass_del_producer(struct irq_bypass_consumer *cons,
				   struct irq_bypass_producer *prod)
{
	struct mk_bypass *b = container_of(cons, struct mk_bypass, consumer);

	mk_core_bypass_del_producer(b->client, prod->irq);
}

/* stop/start: KVM's consumer has none on x86 (the irqfd keeps injecting
 * through the eventfd while the producer is connected). */

void *mk_bypass_consumer_new(void *token, void *client)
{
	struct mk_bypass *b;
	int r;

	if (!token || !client)
		return NULL;
	b = mk_alloc(sizeof(*b));
	if (!b)
		return NULL;
	b->client = client;
	b->consumer.token = token;
	b->consumer.add_producer = mk_bypass_add_producer;
	b->consumer.del_producer = mk_bypass_del_producer;
	r = irq_bypass_register_consumer(&b->consumer);
	if (r) {
		/* As KVM (kvm_irqfd_assign): a warning, the irqfd works anyway. */
		pr_info_once("minikvm: irq bypass consumer registration failed: %d\n", r);
		mk_free(b);
		return NULL;
	}
	return b;
}

void mk_bypass_consumer_free(void *h)
{
	struct mk_bypass *b = h;

	if (!b)
		return;
	irq_bypass_unregister_consumer(&b->consumer);
	mk_free(b);
}

int mk_irq_set_vcpu_affinity(unsigned int host_irq, unsigned long long pi_desc_pa,
			     unsigned int vector, int posted)
{
	struct vcpu_data vd = { .pi_desc_addr = pi_desc_pa, .vector = vector };

	return irq_set_vcpu_affinity(host_irq, posted ? &vd : NULL);
}
