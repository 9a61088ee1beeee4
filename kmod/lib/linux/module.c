// SPDX-License-Identifier: GPL-2.0
/*
 * minikvm module: the misc device and module lifecycle. Everything the
 * device does is decided by the C++ core (kmod/core); this file only
 * connects it to the kernel.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#include <minikvm/core.h>
#include <minikvm/platform.h>

static bool as_kvm;
module_param(as_kvm, bool, 0444);
MODULE_PARM_DESC(as_kvm,
		 "Register as /dev/kvm (misc minor 232, where kvm.ko is not loaded) instead of /dev/minikvm, so unmodified KVM tools and selftests use minikvm");

/* APICv on VMX, as kvm_intel's parameters of the same names (read when a
 * vCPU is created): flexpriority = TPR shadow + virtualized APIC accesses;
 * enable_apicv = APIC-register virtualization + virtual-interrupt delivery
 * (+ x2APIC virtualization and posted interrupts where the CPU has them). */
static bool enable_apicv = true;
module_param(enable_apicv, bool, 0444);
MODULE_PARM_DESC(enable_apicv, "APIC virtualization: register virtualization, virtual-interrupt delivery, posted interrupts (where the CPU offers them)");
static bool flexpriority = true;
module_param(flexpriority, bool, 0444);
MODULE_PARM_DESC(flexpriority, "TPR shadow with virtualized APIC accesses (where the CPU offers them)");

/*
 * Bochs 2.7 reports stale IDT-vectoring information (the type and vector of
 * the last event some VM entry injected) when delivering a virtual
 * interrupt causes a VM exit. minikvm always corrects a reported external
 * interrupt from SVI (on hardware they agree); with this quirk it also
 * overrides a reported exception or NMI, which real CPUs report truthfully:
 * the testbed sets it, real hardware must not.
 */
static bool stale_vectoring_quirk;
module_param(stale_vectoring_quirk, bool, 0444);
MODULE_PARM_DESC(stale_vectoring_quirk, "Bochs 2.7 only: rebuild IDT-vectoring info of an interrupted virtual-interrupt delivery from SVI");

int mk_param_stale_vectoring_quirk(void)
{
	return stale_vectoring_quirk;
}

int mk_param_enable_apicv(void)
{
	return enable_apicv;
}

int mk_param_flexpriority(void)
{
	return flexpriority;
}

static long mk_dev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	return mk_core_dev_ioctl(cmd, arg);
}

static const struct file_operations mk_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = mk_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice mk_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "minikvm",
	.fops = &mk_dev_fops,
	.mode = 0600,
};

static int __init minikvm_init(void)
{
	int r;

	r = mk_core_init();
	if (r)
		return r;

	if (as_kvm) {
		mk_misc.minor = KVM_MINOR;
		mk_misc.name = "kvm";
	}
	r = misc_register(&mk_misc);
	if (r) {
		if (as_kvm && r == -EBUSY)
			pr_err("minikvm: misc minor %d (/dev/kvm) is taken: is kvm.ko loaded? Unload kvm_intel/kvm_amd and kvm, or load minikvm without as_kvm=1\n",
			       KVM_MINOR);
		else
			pr_err("minikvm: cannot register /dev/%s: error %d\n", mk_misc.name, r);
		mk_core_exit();
		return r;
	}
	pr_info("minikvm: loaded, /dev/%s (misc minor %d)\n", mk_misc.name, mk_misc.minor);
	return 0;
}

static void __exit minikvm_exit(void)
{
	misc_deregister(&mk_misc);
	mk_core_exit();
	pr_info("minikvm: unloaded\n");
}

module_init(minikvm_init);
module_exit(minikvm_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("minikvm developers");
MODULE_DESCRIPTION("minikvm: a small VMX hypervisor speaking the KVM ABI, for studying interrupt delivery");
