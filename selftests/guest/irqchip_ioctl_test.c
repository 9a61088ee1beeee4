// SPDX-License-Identifier: GPL-2.0
/*
 * The irqchip ioctls with good and bad arguments, exactly as Linux 6.1's
 * KVM (x86) answers them: capabilities, KVM_CREATE_IRQCHIP, KVM_IRQ_LINE
 * (_STATUS), KVM_GET/SET_IRQCHIP, KVM_CREATE_PIT2, KVM_GET/SET_PIT2,
 * KVM_GET/SET_LAPIC, KVM_INTERRUPT (one small guest: the interrupt it
 * injects without an irqchip is taken), KVM_SET_BOOT_CPU_ID and the
 * vCPUs' initial KVM_GET_MP_STATE.
 *
 * KVM's answers (arch/x86/kvm/x86.c, virt/kvm/kvm_main.c):
 *
 * - KVM_CHECK_EXTENSION, on the device and the VM fd alike: KVM_CAP_IRQCHIP,
 *   KVM_CAP_SIGNAL_MSI, KVM_CAP_PIT2, KVM_CAP_PIT_STATE2,
 *   KVM_CAP_IRQ_INJECT_STATUS, KVM_CAP_SET_BOOT_CPU_ID: 1;
 *   KVM_CAP_IRQ_ROUTING: 4096, the number of GSIs a routing table may use.
 * - No irqchip: KVM_IRQ_LINE(_STATUS), KVM_GET/SET_IRQCHIP -ENXIO;
 *   KVM_SIGNAL_MSI, KVM_SET_GSI_ROUTING -EINVAL; KVM_GET/SET_LAPIC -EINVAL.
 * - KVM_CREATE_IRQCHIP: a second one -EEXIST (checked first), after a
 *   vCPU -EINVAL.  KVM_GET/SET_IRQCHIP with chip_id > 2: -EINVAL.
 * - KVM_CREATE_PIT2: no irqchip needed, flags not checked, also after
 *   vCPUs; a second PIT (KVM_CREATE_PIT2 or KVM_CREATE_PIT): -EEXIST;
 *   KVM_GET/SET_PIT2 without a PIT: -ENXIO.
 * - KVM_INTERRUPT: irq >= 256 -EINVAL (checked first); with the in-kernel
 *   irqchip -ENXIO; without, queued and taken at the next entry.
 * - KVM_SET_BOOT_CPU_ID: 0 (any id) before the first vCPU, -EBUSY after.
 * - With an in-kernel irqchip the BSP (vCPU 0, or the boot CPU id) starts
 *   KVM_MP_STATE_RUNNABLE and the others KVM_MP_STATE_UNINITIALIZED (wait
 *   for INIT/SIPI); without, all RUNNABLE.  IA32_APIC_BASE: 0xfee00900 on
 *   the BSP, 0xfee00800 on the others.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm); MINIKVM_EXPECT,
 * "kvm" (default) or "minikvm": logged; no documented difference yet, so
 * KVM's answers are expected from both.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "guest_util.h"

GUEST_SYM(ioctl_blob_start);
GUEST_SYM(ioctl_blob_end);
GUEST_ENTRY(ioctl_wait_irq);
GUEST_ENTRY(ioctl_irq_handler);

#define G(sym) GUEST_ADDR(ioctl_blob_start, sym)

static const char *expect_target(void)
{
	const char *e = getenv("MINIKVM_EXPECT");

	return e && *e ? e : "kvm";
}

static long vm_ioctl(struct vm *vm, unsigned long cmd, void *arg)
{
	return kvm_ioctl(vm->fd, cmd, arg);
}

static long irq_line(struct vm *vm, unsigned long cmd, uint32_t gsi, uint32_t level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = level };

	return kvm_ioctl(vm->fd, cmd, &l);
}

static long create_vcpu_fd(struct vm *vm, int id)
{
	return kvm_ioctl(vm->fd, KVM_CREATE_VCPU, (void *)(long)id);
}

FIXTURE(irqchip) {
	struct vm vm;
};

FIXTURE_SETUP(irqchip)
{
	vm_init(&self->vm);
}

FIXTURE_TEARDOWN(irqchip)
{
	vm_close(&self->vm);
}

TEST_F(irqchip, capabilities)
{
	static const struct { long cap; long want; const char *name; } caps[] = {
		{ KVM_CAP_IRQCHIP, 1, "KVM_CAP_IRQCHIP" },
		{ KVM_CAP_IRQ_ROUTING, 4096, "KVM_CAP_IRQ_ROUTING" },
		{ KVM_CAP_SIGNAL_MSI, 1, "KVM_CAP_SIGNAL_MSI" },
		{ KVM_CAP_PIT2, 1, "KVM_CAP_PIT2" },
		{ KVM_CAP_PIT_STATE2, 1, "KVM_CAP_PIT_STATE2" },
		{ KVM_CAP_IRQ_INJECT_STATUS, 1, "KVM_CAP_IRQ_INJECT_STATUS" },
		{ KVM_CAP_SET_BOOT_CPU_ID, 1, "KVM_CAP_SET_BOOT_CPU_ID" },
	};
	unsigned int i;

	TH_LOG("device %s, expecting %s", kvm_dev_path(), expect_target());
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		EXPECT_EQ(caps[i].want, kvm_ioctl(self->vm.sys_fd, KVM_CHECK_EXTENSION,
						  (void *)caps[i].cap)) TH_LOG("%s", caps[i].name);
		EXPECT_EQ(caps[i].want, kvm_ioctl(self->vm.fd, KVM_CHECK_EXTENSION,
						  (void *)caps[i].cap)) TH_LOG("%s (VM)", caps[i].name);
	}
}

TEST_F(irqchip, no_irqchip_answers)
{
	struct kvm_irqchip chip = { .chip_id = KVM_IRQCHIP_IOAPIC };
	struct kvm_msi msi = { .address_lo = 0xfee00000, .data = 0x40 };
	struct kvm_irq_routing routing = { .nr = 0 };
	struct kvm_lapic_state ls;
	struct vcpu v;

	EXPECT_EQ(-ENXIO, irq_line(&self->vm, KVM_IRQ_LINE, 4, 1));
	EXPECT_EQ(-ENXIO, irq_line(&self->vm, KVM_IRQ_LINE_STATUS, 4, 1));
	EXPECT_EQ(-ENXIO, vm_ioctl(&self->vm, KVM_GET_IRQCHIP, &chip));
	EXPECT_EQ(-ENXIO, vm_ioctl(&self->vm, KVM_SET_IRQCHIP, &chip));
	chip.chip_id = 7;
	EXPECT_EQ(-ENXIO, vm_ioctl(&self->vm, KVM_GET_IRQCHIP, &chip));
	EXPECT_EQ(-EINVAL, vm_ioctl(&self->vm, KVM_SIGNAL_MSI, &msi));
	EXPECT_EQ(-EINVAL, vm_ioctl(&self->vm, KVM_SET_GSI_ROUTING, &routing));

	vcpu_init(&self->vm, &v, 0);
	memset(&ls, 0, sizeof(ls));
	EXPECT_EQ(-EINVAL, kvm_ioctl(v.fd, KVM_GET_LAPIC, &ls));
	EXPECT_EQ(-EINVAL, kvm_ioctl(v.fd, KVM_SET_LAPIC, &ls));
	vcpu_close(&v);
}

TEST_F(irqchip, create_irqchip_once_and_before_vcpus)
{
	struct vm other;
	long fd;

	EXPECT_EQ(0, vm_ioctl(&self->vm, KVM_CREATE_IRQCHIP, NULL));
	EXPECT_EQ(-EEXIST, vm_ioctl(&self->vm, KVM_CREATE_IRQCHIP, NULL));
	fd = create_vcpu_fd(&self->vm, 0);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(-EEXIST, vm_ioctl(&self->vm, KVM_CREATE_IRQCHIP, NULL));
	close(fd);

	vm_init(&other);
	fd = create_vcpu_fd(&other, 0);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(-EINVAL, vm_ioctl(&other, KVM_CREATE_IRQCHIP, NULL));
	EXPECT_EQ(-ENXIO, irq_line(&other, KVM_IRQ_LINE, 4, 1));
	close(fd);
	vm_close(&other);
}

TEST_F(irqchip, get_set_irqchip_chip_ids)
{
	struct kvm_irqchip chip;
	uint32_t id;

	ASSERT_EQ(0, vm_ioctl(&self->vm, KVM_CREATE_IRQCHIP, NULL));
	for (id = 0; id < 3; id++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = id;
		EXPECT_EQ(0, vm_ioctl(&self->vm, KVM_GET_IRQCHIP, &chip)) TH_LOG("chip %u", id);
		EXPECT_EQ(0, vm_ioctl(&self->vm, KVM_SET_IRQCHIP, &chip)) TH_LOG("chip %u", id);
	}
	memset(&chip, 0, sizeof(chip));
	chip.chip_id = KVM_IRQCHIP_IOAPIC;
	ASSERT_EQ(0, vm_ioctl(&self->vm, KVM_GET_IRQCHIP, &chip));
	EXPECT_EQ(0xfec00000, chip.chip.ioapic.base_address);
	EXPECT_EQ(1ull << 16, chip.chip.ioapic.redirtbl[0].bits);

	chip.chip_id = 3;
	EXPECT_EQ(-EINVAL, vm_ioctl(&self->vm, KVM_GET_IRQCHIP, &chip));
	EXPECT_EQ(-EINVAL, vm_ioctl(&self->vm, KVM_SET_IRQCHIP, &chip));
	chip.chip_id = 0xffffffff;
	EXPECT_EQ(-EINVAL, vm_ioctl(&self->vm, KVM_GET_IRQCHIP, &chip));
	EXPECT_EQ(-EFAULT, kvm_ioctl(self->vm.fd, KVM_GET_IRQCHIP, (void *)8));
	EXPECT_EQ(-EFAULT, kvm_ioctl(self->vm.fd, KVM_IRQ_LINE, (void *)8));
}

TEST_F(irqchip, pit2_create_and_state)
{
	struct kvm_pit_config pc = { .flags = 0 };
	struct kvm_pit_state2 ps;
	struct vm other;
	long fd;

	EXPECT_EQ(-ENXIO, vm_ioctl(&self->vm, KVM_GET_PIT2, &ps));
	memset(&ps, 0, sizeof(ps));
	EXPECT_EQ(-ENXIO, vm_ioctl(&self->vm, KVM_SET_PIT2, &ps));
	/* No irqchip needed. */
	EXPECT_EQ(0, vm_ioctl(&self->vm, KVM_CREATE_PIT2, &pc));
	EXPECT_EQ(-EEXIST, vm_ioctl(&self->vm, KVM_CREATE_PIT2, &pc));
	EXPECT_EQ(-EEXIST, vm_ioctl(&self->vm, KVM_CREATE_PIT, NULL));
	EXPECT_EQ(0, vm_ioctl(&self->vm, KVM_GET_PIT2, &ps));
	EXPECT_EQ(0x10000, ps.channels[0].count);
	EXPECT_EQ(0, vm_ioctl(&self->vm, KVM_SET_PIT2, &ps));
	EXPECT_EQ(-EFAULT, kvm_ioctl(self->vm.fd, KVM_CREATE_PIT2, (void *)8));

	/* Flags are not checked; a vCPU does not prevent it. */
	vm_init(&other);
	ASSERT_EQ(0, vm_ioctl(&other, KVM_CREATE_IRQCHIP, NULL));
	fd = create_vcpu_fd(&other, 0);
	ASSERT_GE(fd, 0);
	pc.flags = 0xfffffff0;
	EXPECT_EQ(0, vm_ioctl(&other, KVM_CREATE_PIT2, &pc));
	close(fd);
	vm_close(&other);
}

TEST_F(irqchip, lapic_state_with_irqchip)
{
	struct kvm_lapic_state ls;
	struct vcpu v[2];
	uint32_t *reg;
	int i;

	ASSERT_EQ(0, vm_ioctl(&self->vm, KVM_CREATE_IRQCHIP, NULL));
	for (i = 0; i < 2; i++)
		vcpu_init_cpuid(&self->vm, &v[i], i);
	for (i = 0; i < 2; i++) {
		memset(&ls, 0, sizeof(ls));
		ASSERT_EQ(0, kvm_ioctl(v[i].fd, KVM_GET_LAPIC, &ls));
		reg = (uint32_t *)ls.regs;
		EXPECT_EQ((uint32_t)i << 24, reg[0x20 / 4]) TH_LOG("vCPU %d ID", i);
		EXPECT_EQ(0x14, reg[0x30 / 4] & 0xff) TH_LOG("vCPU %d version", i);
		EXPECT_LE(5, (reg[0x30 / 4] >> 16) & 0xff) TH_LOG("vCPU %d max LVT", i);
		EXPECT_EQ(0xff, reg[0xf0 / 4]) TH_LOG("vCPU %d SVR", i);
		EXPECT_EQ(0xffffffff, reg[0xe0 / 4]) TH_LOG("vCPU %d DFR", i);
		EXPECT_EQ(i ? 0x10000 : 0x700, reg[0x350 / 4]) TH_LOG("vCPU %d LVT0", i);
		EXPECT_EQ(0x10000, reg[0x360 / 4]) TH_LOG("vCPU %d LVT1", i);
	}
	/* SET then GET: the TPR and SVR as set. */
	reg = (uint32_t *)ls.regs;
	reg[0x80 / 4] = 0x30;
	reg[0xf0 / 4] = 0x1ff;
	ASSERT_EQ(0, kvm_ioctl(v[1].fd, KVM_SET_LAPIC, &ls));
	memset(&ls, 0, sizeof(ls));
	ASSERT_EQ(0, kvm_ioctl(v[1].fd, KVM_GET_LAPIC, &ls));
	EXPECT_EQ(0x30, reg[0x80 / 4]);
	EXPECT_EQ(0x1ff, reg[0xf0 / 4]);
	for (i = 0; i < 2; i++)
		vcpu_close(&v[i]);
}

TEST_F(irqchip, mp_state_and_boot_cpu_id)
{
	struct kvm_mp_state mp;
	struct vcpu v[2];
	struct vm other;
	uint64_t base;
	int i;

	/* With the irqchip: BSP runnable, AP waiting for SIPI. */
	ASSERT_EQ(0, vm_ioctl(&self->vm, KVM_CREATE_IRQCHIP, NULL));
	for (i = 0; i < 2; i++)
		vcpu_init_cpuid(&self->vm, &v[i], i);
	EXPECT_EQ(-EBUSY, kvm_ioctl(self->vm.fd, KVM_SET_BOOT_CPU_ID, (void *)1));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, kvm_ioctl(v[i].fd, KVM_GET_MP_STATE, &mp));
		EXPECT_EQ(i ? KVM_MP_STATE_UNINITIALIZED : KVM_MP_STATE_RUNNABLE,
			  mp.mp_state) TH_LOG("vCPU %d", i);
		ASSERT_EQ(1, vcpu_get_msr(&v[i], 0x1b, &base));
		EXPECT_EQ(i ? 0xfee00800 : 0xfee00900, base) TH_LOG("vCPU %d", i);
	}
	for (i = 0; i < 2; i++)
		vcpu_close(&v[i]);

	/* Boot CPU 1: the roles swap. */
	vm_init(&other);
	EXPECT_EQ(0, kvm_ioctl(other.fd, KVM_SET_BOOT_CPU_ID, (void *)1));
	EXPECT_EQ(0, kvm_ioctl(other.fd, KVM_SET_BOOT_CPU_ID, (void *)5000));
	EXPECT_EQ(0, kvm_ioctl(other.fd, KVM_SET_BOOT_CPU_ID, (void *)1));
	ASSERT_EQ(0, vm_ioctl(&other, KVM_CREATE_IRQCHIP, NULL));
	for (i = 0; i < 2; i++)
		vcpu_init_cpuid(&other, &v[i], i);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, kvm_ioctl(v[i].fd, KVM_GET_MP_STATE, &mp));
		EXPECT_EQ(i ? KVM_MP_STATE_RUNNABLE : KVM_MP_STATE_UNINITIALIZED,
			  mp.mp_state) TH_LOG("boot CPU 1, vCPU %d", i);
		ASSERT_EQ(1, vcpu_get_msr(&v[i], 0x1b, &base));
		EXPECT_EQ(i ? 0xfee00900 : 0xfee00800, base) TH_LOG("boot CPU 1, vCPU %d", i);
	}
	for (i = 0; i < 2; i++)
		vcpu_close(&v[i]);
	vm_close(&other);

	/* Without the irqchip every vCPU is runnable. */
	vm_init(&other);
	for (i = 0; i < 2; i++) {
		vcpu_init_cpuid(&other, &v[i], i);
		ASSERT_EQ(0, kvm_ioctl(v[i].fd, KVM_GET_MP_STATE, &mp));
		EXPECT_EQ(KVM_MP_STATE_RUNNABLE, mp.mp_state) TH_LOG("no irqchip, vCPU %d", i);
	}
	for (i = 0; i < 2; i++)
		vcpu_close(&v[i]);
	vm_close(&other);
}

TEST_F(irqchip, interrupt_ioctl_with_irqchip)
{
	struct kvm_interrupt irq = { .irq = 0x40 };
	struct vcpu v;

	ASSERT_EQ(0, vm_ioctl(&self->vm, KVM_CREATE_IRQCHIP, NULL));
	vcpu_init_cpuid(&self->vm, &v, 0);
	EXPECT_EQ(-ENXIO, kvm_ioctl(v.fd, KVM_INTERRUPT, &irq));
	irq.irq = 256;
	EXPECT_EQ(-EINVAL, kvm_ioctl(v.fd, KVM_INTERRUPT, &irq));
	vcpu_close(&v);
}

TEST_F(irqchip, interrupt_ioctl_without_irqchip_is_taken)
{
	struct kvm_interrupt irq = { .irq = 256 };
	struct vcpu v;

	vcpu_init_cpuid(&self->vm, &v, 0);
	vm_load(&self->vm, CODE_GPA, ioctl_blob_start, ioctl_blob_end);
	vm_install_idt64(&self->vm, 0xffffffff);
	vm_set_idt_gate64(&self->vm, 0x40, G(ioctl_irq_handler));
	vcpu_mode_long64(&v, G(ioctl_wait_irq), STACK_TOP);

	EXPECT_EQ(-EINVAL, kvm_ioctl(v.fd, KVM_INTERRUPT, &irq));
	irq.irq = 0xffffffff;
	EXPECT_EQ(-EINVAL, kvm_ioctl(v.fd, KVM_INTERRUPT, &irq));

	ASSERT_TRUE(run_out_val(&v, 4, 0x10, 1));
	EXPECT_EQ(1, v.run->ready_for_interrupt_injection);
	EXPECT_EQ(1, v.run->if_flag);
	irq.irq = 0x40;
	ASSERT_EQ(0, kvm_ioctl(v.fd, KVM_INTERRUPT, &irq));
	ASSERT_TRUE(run_out_val(&v, 4, 0x11, 0x40));
	ASSERT_TRUE(run_hlt(&v, G(ioctl_irq_handler_end)));
	vcpu_close(&v);
}

TEST_HARNESS_MAIN
