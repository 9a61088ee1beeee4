/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The uapi <linux/stddef.h>, made right for C++.
 *
 * __DECLARE_FLEX_ARRAY wraps a flexible array in an anonymous struct with an
 * empty struct member. An empty struct has size 0 in C but 1 in C++, so in
 * C++ struct kvm_cpuid2, kvm_msrs, kvm_msr_list... grow, and with them the
 * _IOWR() numbers of the ioctls that carry them (KVM_GET_SUPPORTED_CPUID
 * became 0xc00cae05 instead of 0xc008ae05): the core would answer ioctl
 * numbers no KVM user sends. A plain zero-length array has the C layout.
 */
#include_next <linux/stddef.h>

#ifdef __cplusplus
#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[0]
#endif
