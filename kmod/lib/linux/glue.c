// SPDX-License-Identifier: GPL-2.0
/*
 * The platform ABI (include/minikvm/platform.h) over the Linux kernel.
 * Thin on purpose: no policy lives here, only the kernel facility each
 * function stands for.
 */
#include <linux/atomic.h>
#include <linux/cpu.h>
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/uaccess.h>
#include <asm/msr.h>
#include <asm/processor.h>
#include <asm/tlbflush.h>

#include <minikvm/core.h>
#include <minikvm/platform.h>

static atomic_long_t mk_live_allocs = ATOMIC_LONG_INIT(0);

void *mk_alloc(unsigned long size)
{
	/*
	 * Memory on behalf of a guest or a userspace request: charged to the
	 * caller's memcg, and a failure is the caller's -ENOMEM, not a splat.
	 */
	void *p = kzalloc(size, GFP_KERNEL_ACCOUNT | __GFP_NOWARN);

	if (p)
		atomic_long_inc(&mk_live_allocs);
	return p;
}

void mk_free(void *p)
{
	if (!p)
		return;
	atomic_long_dec(&mk_live_allocs);
	kfree(p);
}

long mk_alloc_live(void)
{
	return atomic_long_read(&mk_live_allocs);
}

void mk_log(int level, const char *fmt, ...)
{
	struct va_format vaf;
	va_list args;

	va_start(args, fmt);
	vaf.fmt = fmt;
	vaf.va = &args;
	switch (level) {
	case MK_LOG_ERR:
		pr_err("minikvm: %pV\n", &vaf);
		break;
	case MK_LOG_WARN:
		pr_warn("minikvm: %pV\n", &vaf);
		break;
	case MK_LOG_DEBUG:
		pr_debug("minikvm: %pV\n", &vaf);
		break;
	default:
		pr_info("minikvm: %pV\n", &vaf);
		break;
	}
	va_end(args);
}

long mk_copy_from_user(void *dst, unsigned long user_src, unsigned long n)
{
	return copy_from_user(dst, (const void __user *)user_src, n) ? -EFAULT : 0;
}

long mk_copy_to_user(unsigned long user_dst, const void *src, unsigned long n)
{
	return copy_to_user((void __user *)user_dst, src, n) ? -EFAULT : 0;
}

void mk_cpuid(unsigned int leaf, unsigned int subleaf, unsigned int out[4])
{
	cpuid_count(leaf, subleaf, &out[0], &out[1], &out[2], &out[3]);
}

int mk_rdmsr_safe(unsigned int msr, unsigned long long *value)
{
	u64 v;

	if (rdmsrl_safe(msr, &v))
		return -EIO;
	*value = v;
	return 0;
}

unsigned long mk_read_cr4(void)
{
	return __read_cr4();
}

void mk_on_each_cpu(void (*fn)(void *arg), void *arg)
{
	/* cpus_read_lock keeps the set of online CPUs stable while we count. */
	cpus_read_lock();
	on_each_cpu(fn, arg, 1);
	cpus_read_unlock();
}

static long mk_fd_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return mk_core_fd_ioctl(file->private_data, cmd, arg);
}

static int mk_fd_release(struct inode *inode, struct file *file)
{
	mk_core_fd_release(file->private_data);
	return 0;
}

static vm_fault_t mk_fd_fault(struct vm_fault *vmf)
{
	void *va = mk_core_fd_mmap_page(vmf->vma->vm_file->private_data, vmf->pgoff);
	struct page *pg;

	if (!va)
		return VM_FAULT_SIGBUS;
	pg = virt_to_page(va);
	get_page(pg);
	vmf->page = pg;
	return 0;
}

static const struct vm_operations_struct mk_fd_vm_ops = {
	.fault = mk_fd_fault,
};

static int mk_fd_mmap(struct file *file, struct vm_area_struct *vma)
{
	/* Only fds with pages (vCPUs) can be mapped; KVM: -ENODEV otherwise. */
	if (!mk_core_fd_mmap_page(file->private_data, 0))
		return -ENODEV;
	/* The pages are the fd's for as long as the file lives (the VMA holds it). */
	vma->vm_ops = &mk_fd_vm_ops;
	return 0;
}

static ssize_t mk_fd_read(struct file *file, char __user *buf, size_t size, loff_t *pos)
{
	long long p = *pos;
	long r = mk_core_fd_read(file->private_data, (unsigned long)buf, size, &p);

	if (r >= 0)
		*pos = p;
	return r;
}

static const struct file_operations mk_fd_fops = {
	.owner = THIS_MODULE,
	.read = mk_fd_read,
	.unlocked_ioctl = mk_fd_ioctl,
	.mmap = mk_fd_mmap,
	.compat_ioctl = compat_ptr_ioctl,
	.release = mk_fd_release,
	.llseek = noop_llseek,
};

int mk_fd_create(const char *name, void *obj)
{
	struct file *file;
	int fd = get_unused_fd_flags(O_CLOEXEC);

	if (fd < 0)
		return fd;
	/* anon_inode_getfile takes a module reference through fops->owner. */
	file = anon_inode_getfile(name, &mk_fd_fops, obj, O_RDWR);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		return PTR_ERR(file);
	}
	/*
	 * pread() at an offset, as on KVM's stats fds (kvm_vcpu_ioctl_get_stats_fd
	 * sets FMODE_PREAD too): anon inodes are not seekable by default.
	 */
	file->f_mode |= FMODE_PREAD;
	fd_install(fd, file);
	return fd;
}
