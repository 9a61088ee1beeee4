// SPDX-License-Identifier: GPL-2.0
/*
 * The system device and VM fd ioctls, from userspace, with bad arguments.
 * Runs against minikvm and, as the reference, against real KVM.
 *
 * Environment:
 *   MINIKVM_DEV     device to open (default /dev/minikvm)
 *   MINIKVM_EXPECT  what the device is:
 *     vmx   minikvm on a CPU with usable VMX: KVM_CREATE_VM gives a VM fd
 *     novmx minikvm where VMX is unusable (no VMX, or another hypervisor
 *           holds it): KVM_CREATE_VM fails with EOPNOTSUPP
 *     kvm   the reference, Linux's own KVM: same ABI, its own answers where
 *           minikvm deliberately differs (Documentation/abi.md)
 *   MINIKVM_OTHER_DEV  another hypervisor's device (e.g. /dev/kvm while
 *           kvm_intel is loaded beside minikvm): enables the test that
 *           minikvm refuses VMs while that hypervisor is in VMX operation
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "kselftest_harness.h"

enum target { T_VMX, T_NOVMX, T_KVM };

static const char *dev_path(void)
{
	const char *p = getenv("MINIKVM_DEV");

	return p ? p : "/dev/minikvm";
}

static enum target target(void)
{
	const char *e = getenv("MINIKVM_EXPECT");

	if (e && !strcmp(e, "novmx"))
		return T_NOVMX;
	if (e && !strcmp(e, "kvm"))
		return T_KVM;
	return T_VMX;
}

/* ioctl() result as -errno, like the kernel returned it. */
static long kioctl(int fd, unsigned long cmd, unsigned long arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

FIXTURE(dev) {
	int fd;
};

FIXTURE_SETUP(dev)
{
	self->fd = open(dev_path(), O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", dev_path(), strerror(errno));
}

FIXTURE_TEARDOWN(dev)
{
	close(self->fd);
}

TEST_F(dev, node_is_root_only_misc_char_device)
{
	struct stat st;

	ASSERT_EQ(0, fstat(self->fd, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(10u, major(st.st_rdev)); /* MISC_MAJOR */
	EXPECT_EQ(0600u, st.st_mode & 07777);
	if (!strcmp(dev_path(), "/dev/kvm"))
		EXPECT_EQ(232u, minor(st.st_rdev)); /* KVM_MINOR */
}

TEST_F(dev, api_version_is_12)
{
	EXPECT_EQ(12, kioctl(self->fd, KVM_GET_API_VERSION, 0));
}

TEST_F(dev, api_version_rejects_nonzero_argument)
{
	EXPECT_EQ(-EINVAL, kioctl(self->fd, KVM_GET_API_VERSION, 1));
}

TEST_F(dev, unknown_ioctls_are_refused)
{
	/* minikvm: -ENOTTY, the POSIX answer. KVM: -EINVAL (kvm_arch_dev_ioctl). */
	long want = target() == T_KVM ? -EINVAL : -ENOTTY;

	EXPECT_EQ(want, kioctl(self->fd, _IO(KVMIO, 0xff), 0));
	EXPECT_EQ(want, kioctl(self->fd, TCGETS, 0));
	EXPECT_EQ(want, kioctl(self->fd, KVM_RUN, 0));
	EXPECT_EQ(want, kioctl(self->fd, 0xffffffffu, ~0ul));
}

TEST_F(dev, check_extension_reports_only_what_exists)
{
	/* Capabilities minikvm does not implement yet must answer 0. */
	static const long absent[] = {
		KVM_CAP_X2APIC_API, KVM_CAP_MULTI_ADDRESS_SPACE,
	};
	/* The in-kernel irqchip's, with KVM's values. */
	static const struct { long cap, value; } present[] = {
		{ KVM_CAP_IRQCHIP, 1 }, { KVM_CAP_PIT2, 1 },
		{ KVM_CAP_IRQ_ROUTING, 4096 }, { KVM_CAP_SIGNAL_MSI, 1 },
		{ KVM_CAP_IRQ_INJECT_STATUS, 1 }, { KVM_CAP_SET_BOOT_CPU_ID, 1 },
		/* ... and the fast path's (Documentation/fast-path.md). */
		{ KVM_CAP_IRQFD, 1 }, { KVM_CAP_IRQFD_RESAMPLE, 1 }, { KVM_CAP_IOEVENTFD, 1 },
		{ KVM_CAP_SPLIT_IRQCHIP, 1 },
	};
	unsigned int i;

	if (target() == T_KVM)
		SKIP(return, "KVM implements these; only minikvm's answers are checked");
	for (i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
		EXPECT_EQ(0, kioctl(self->fd, KVM_CHECK_EXTENSION, absent[i]))
			TH_LOG("capability %ld", absent[i]);
	for (i = 0; i < sizeof(present) / sizeof(present[0]); i++)
		EXPECT_EQ(present[i].value, kioctl(self->fd, KVM_CHECK_EXTENSION, present[i].cap))
			TH_LOG("capability %ld", present[i].cap);
}

TEST_F(dev, check_extension_garbage_is_zero)
{
	EXPECT_EQ(0, kioctl(self->fd, KVM_CHECK_EXTENSION, ~0ul));
	EXPECT_EQ(0, kioctl(self->fd, KVM_CHECK_EXTENSION, 1ul << 40));
	EXPECT_EQ(0, kioctl(self->fd, KVM_CHECK_EXTENSION, 100000));
}

TEST_F(dev, check_extension_vm_is_supported)
{
	EXPECT_EQ(1, kioctl(self->fd, KVM_CHECK_EXTENSION, KVM_CAP_CHECK_EXTENSION_VM));
}

TEST_F(dev, read_write_mmap_are_refused)
{
	char buf[8];
	void *p;

	EXPECT_EQ(-1, read(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, write(self->fd, buf, sizeof(buf)));
	EXPECT_EQ(EINVAL, errno);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, self->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENODEV, errno);
}

TEST_F(dev, create_vm_rejects_unknown_types)
{
	EXPECT_EQ(-EINVAL, kioctl(self->fd, KVM_CREATE_VM, 1));
	EXPECT_EQ(-EINVAL, kioctl(self->fd, KVM_CREATE_VM, ~0ul));
}

TEST_F(dev, create_vm)
{
	long vm = kioctl(self->fd, KVM_CREATE_VM, 0);

	if (target() == T_NOVMX) {
		EXPECT_EQ(-EOPNOTSUPP, vm);
		return;
	}
	ASSERT_GE(vm, 0) TH_LOG("KVM_CREATE_VM: %s", strerror((int)-vm));
	EXPECT_EQ(FD_CLOEXEC, fcntl(vm, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(1, kioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_CHECK_EXTENSION_VM));
	EXPECT_EQ(0, kioctl(vm, KVM_CHECK_EXTENSION, ~0ul));
	/* System ioctls are not VM ioctls; unknown ones neither (both: -ENOTTY). */
	EXPECT_EQ(-ENOTTY, kioctl(vm, KVM_GET_API_VERSION, 0));
	EXPECT_EQ(-ENOTTY, kioctl(vm, _IO(KVMIO, 0xfe), 0));
	EXPECT_EQ(0, close(vm));
	/* Calls after close. */
	EXPECT_EQ(-EBADF, kioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_CHECK_EXTENSION_VM));
}

TEST_F(dev, many_vms_at_once)
{
	enum { N = 64 };
	long vm[N];
	int i;

	for (i = 0; i < N; i++) {
		vm[i] = kioctl(self->fd, KVM_CREATE_VM, 0);
		if (target() == T_NOVMX) {
			ASSERT_EQ(-EOPNOTSUPP, vm[i]);
		} else {
			ASSERT_GE(vm[i], 0) TH_LOG("VM %d: %s", i, strerror((int)-vm[i]));
		}
	}
	for (i = 0; i < N; i++)
		if (vm[i] >= 0)
			EXPECT_EQ(0, close(vm[i]));
}

TEST_F(dev, vm_outlives_the_device_fd)
{
	/* A VM fd stays usable after the /dev fd that made it is closed. */
	long vm = kioctl(self->fd, KVM_CREATE_VM, 0);

	if (target() == T_NOVMX)
		SKIP(return, "no VMs without VMX");
	ASSERT_GE(vm, 0);
	close(self->fd);
	self->fd = open(dev_path(), O_RDWR);
	EXPECT_EQ(1, kioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_CHECK_EXTENSION_VM));
	EXPECT_EQ(0, close(vm));
}

TEST(refuses_vms_while_another_hypervisor_holds_vmx)
{
	const char *other = getenv("MINIKVM_OTHER_DEV");
	int mine, theirs;
	long their_vm, vm;

	if (!other || target() != T_VMX)
		SKIP(return, "needs MINIKVM_OTHER_DEV and VMX");
	mine = open(dev_path(), O_RDWR);
	theirs = open(other, O_RDWR);
	ASSERT_GE(mine, 0);
	ASSERT_GE(theirs, 0);

	/* Free VMX: minikvm can create a VM (and does not keep VMX on yet). */
	vm = kioctl(mine, KVM_CREATE_VM, 0);
	ASSERT_GE(vm, 0);
	close(vm);

	/* Linux 6.1 KVM executes VMXON when its first VM is created. */
	their_vm = kioctl(theirs, KVM_CREATE_VM, 0);
	ASSERT_GE(their_vm, 0) TH_LOG("%s KVM_CREATE_VM: %s", other, strerror((int)-their_vm));
	EXPECT_EQ(-EOPNOTSUPP, kioctl(mine, KVM_CREATE_VM, 0));

	/* ...and VMXOFF when its last VM is gone: minikvm works again. */
	close(their_vm);
	vm = kioctl(mine, KVM_CREATE_VM, 0);
	EXPECT_GE(vm, 0);
	if (vm >= 0)
		close(vm);
	close(theirs);
	close(mine);
}

TEST(open_readonly_works)
{
	/* KVM does not check the open mode; neither does minikvm. */
	int fd = open(dev_path(), O_RDONLY);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(12, kioctl(fd, KVM_GET_API_VERSION, 0));
	close(fd);
}

TEST_HARNESS_MAIN
