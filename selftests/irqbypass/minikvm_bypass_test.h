/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The ABI of the test-only module minikvm_bypass_test.ko: a misc device
 * /dev/minikvm_bypass_test through which a test program plays VFIO, i.e.
 * registers an irq-bypass producer (token = an eventfd's context) for a
 * test irq whose irq_chip records every irq_set_vcpu_affinity() call.
 * Shared by the module and posting_test.c.
 */
#ifndef MINIKVM_BYPASS_TEST_H
#define MINIKVM_BYPASS_TEST_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define MKBT_LOG_MAX 64

/* One irq_set_vcpu_affinity() call on the test irq. */
struct mkbt_call {
	__u32 irq;
	__u32 posted;        /* 0: vcpu_info == NULL (remapped mode) */
	__u64 pi_desc_addr;  /* vcpu_data.pi_desc_addr */
	__u32 vector;        /* vcpu_data.vector */
	__s32 ret;           /* what the chip answered */
};

struct mkbt_log {
	__u32 count;         /* calls since the last clear (may exceed MKBT_LOG_MAX) */
	__u32 pad;
	struct mkbt_call calls[MKBT_LOG_MAX];
};

#define MKBT_IOC 0xB7
/* Registers the producer: arg = eventfd fd. Returns the test irq (> 0),
 * -EBUSY if this open file already has one, -EBADF/-EINVAL for the fd, or
 * irq_bypass_register_producer()'s error. */
#define MKBT_REGISTER   _IO(MKBT_IOC, 1)
/* Unregisters it (the consumer, if any, gets del_producer). 0 or -ENOENT. */
#define MKBT_UNREGISTER _IO(MKBT_IOC, 2)
/* Copies the call log out. */
#define MKBT_GET_LOG    _IOR(MKBT_IOC, 3, struct mkbt_log)
#define MKBT_CLEAR_LOG  _IO(MKBT_IOC, 4)
/* From now on posted-mode calls (vcpu_info != NULL) fail with -arg
 * (0: succeed), as a refusing IOMMU driver would. */
#define MKBT_FAIL_POSTED _IO(MKBT_IOC, 5)

#endif
