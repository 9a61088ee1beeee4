// SPDX-License-Identifier: GPL-2.0
/*
 * minikvm_bypass_test: a test-only stand-in for VFIO and a posting IOMMU.
 *
 * The testbed has no IOMMU that can post interrupts, so nothing would ever
 * call a hypervisor's irq-bypass consumer. This module allocates one irq
 * whose irq_chip implements .irq_set_vcpu_affinity by recording the call
 * (irq, NULL or vcpu_data{pi_desc_addr, vector}), and lets a test program
 * register an irq-bypass producer for that irq with the token VFIO would
 * use: the eventfd context of an fd the program passes (VFIO's
 * vfio_msi_set_vector_signal does the same with its trigger eventfd). The
 * hypervisor's irqfd on the same eventfd is the consumer; the log shows
 * what it told the "IOMMU". Not for production kernels.
 */
#include <linux/eventfd.h>
#include <linux/fs.h>
#include <linux/irq.h>
#include <linux/irqbypass.h>
#include <linux/irqdesc.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <asm/irq_remapping.h>

#include "minikvm_bypass_test.h"

static int test_irq;
static int fail_posted_err;

static DEFINE_SPINLOCK(log_lock);
static struct mkbt_log call_log;

/* Called by irq_set_vcpu_affinity() with the descriptor lock held. */
static int mkbt_set_vcpu_affinity(struct irq_data *d, void *vcpu_info)
{
	struct vcpu_data *vd = vcpu_info;
	struct mkbt_call c = { .irq = d->irq, .posted = vd != NULL };
	unsigned long flags;

	if (vd) {
		c.pi_desc_addr = vd->pi_desc_addr;
		c.vector = vd->vector;
		c.ret = -READ_ONCE(fail_posted_err);
	}
	spin_lock_irqsave(&log_lock, flags);
	if (call_log.count < MKBT_LOG_MAX)
		call_log.calls[call_log.count] = c;
	call_log.count++;
	spin_unlock_irqrestore(&log_lock, flags);
	return c.ret;
}

static void mkbt_noop(struct irq_data *d)
{
}

static struct irq_chip mkbt_chip = {
	.name = "minikvm-bypass-test",
	.irq_mask = mkbt_noop,
	.irq_unmask = mkbt_noop,
	.irq_set_vcpu_affinity = mkbt_set_vcpu_affinity,
};

/* One producer per open file; the file's release unregisters it. */
struct mkbt_file {
	struct mutex lock;
	struct irq_bypass_producer prod;
	struct eventfd_ctx *ctx;
};

static int mkbt_open(struct inode *inode, struct file *file)
{
	struct mkbt_file *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return -ENOMEM;
	mutex_init(&f->lock);
	file->private_data = f;
	return 0;
}

static long mkbt_unregister(struct mkbt_file *f)
{
	if (!f->ctx)
		return -ENOENT;
	irq_bypass_unregister_producer(&f->prod);
	eventfd_ctx_put(f->ctx);
	f->ctx = NULL;
	return 0;
}

static long mkbt_register(struct mkbt_file *f, unsigned long fd)
{
	struct eventfd_ctx *ctx;
	int r;

	if (f->ctx)
		return -EBUSY;
	ctx = eventfd_ctx_fdget((int)fd);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);
	memset(&f->prod, 0, sizeof(f->prod));
	f->prod.token = ctx;
	f->prod.irq = test_irq;
	r = irq_bypass_register_producer(&f->prod);
	if (r) {
		eventfd_ctx_put(ctx);
		return r;
	}
	f->ctx = ctx;
	return test_irq;
}

static long mkbt_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct mkbt_file *f = file->private_data;
	unsigned long flags;
	struct mkbt_log *copy;
	long r;

	switch (cmd) {
	case MKBT_REGISTER:
		mutex_lock(&f->lock);
		r = mkbt_register(f, arg);
		mutex_unlock(&f->lock);
		return r;
	case MKBT_UNREGISTER:
		mutex_lock(&f->lock);
		r = mkbt_unregister(f);
		mutex_unlock(&f->lock);
		return r;
	case MKBT_GET_LOG:
		copy = kmalloc(sizeof(*copy), GFP_KERNEL);
		if (!copy)
			return -ENOMEM;
		spin_lock_irqsave(&log_lock, flags);
		*copy = call_log;
		spin_unlock_irqrestore(&log_lock, flags);
		r = copy_to_user((void __user *)arg, copy, sizeof(*copy)) ? -EFAULT : 0;
		kfree(copy);
		return r;
	case MKBT_CLEAR_LOG:
		spin_lock_irqsave(&log_lock, flags);
		call_log.count = 0;
		spin_unlock_irqrestore(&log_lock, flags);
		return 0;
	case MKBT_FAIL_POSTED:
		if (arg > 4095)
			return -EINVAL;
		WRITE_ONCE(fail_posted_err, (int)arg);
		return 0;
	}
	return -ENOTTY;
}

static int mkbt_release(struct inode *inode, struct file *file)
{
	struct mkbt_file *f = file->private_data;

	mkbt_unregister(f);
	kfree(f);
	return 0;
}

static const struct file_operations mkbt_fops = {
	.owner = THIS_MODULE,
	.open = mkbt_open,
	.release = mkbt_release,
	.unlocked_ioctl = mkbt_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice mkbt_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "minikvm_bypass_test",
	.fops = &mkbt_fops,
	.mode = 0600,
};

static int __init mkbt_init(void)
{
	int r;

	/* A bare irq descriptor: never requested, never raised; only its
	 * chip's irq_set_vcpu_affinity is ever reached. */
	test_irq = irq_alloc_descs(-1, 1, 1, NUMA_NO_NODE);
	if (test_irq < 0)
		return test_irq;
	irq_set_chip_and_handler(test_irq, &mkbt_chip, handle_simple_irq);
	r = misc_register(&mkbt_dev);
	if (r) {
		irq_set_chip_and_handler(test_irq, NULL, NULL);
		irq_free_descs(test_irq, 1);
	}
	return r;
}

static void __exit mkbt_exit(void)
{
	/* Every open file holds the module (fops.owner): no producer is left. */
	misc_deregister(&mkbt_dev);
	irq_set_chip_and_handler(test_irq, NULL, NULL);
	irq_free_descs(test_irq, 1);
}

module_init(mkbt_init);
module_exit(mkbt_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("minikvm_bypass_test: test-only irq-bypass producer on an irq whose chip records irq_set_vcpu_affinity() calls");
