/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Stand-in for the kernel's C-only compiler_types.h when the C++ core reads
 * the in-tree uapi headers (linux/kvm.h and what it includes). It provides
 * what "make headers_install" would have rewritten away (see the kernel's
 * scripts/headers_install.sh): sparse annotations become nothing, __packed
 * becomes the GCC attribute. The core is built with -D__EXPORTED_HEADERS__
 * and without __KERNEL__, so the headers take their userspace shape.
 */
#ifndef MINIKVM_UAPI_SHIM_COMPILER_TYPES_H
#define MINIKVM_UAPI_SHIM_COMPILER_TYPES_H
#define __user
#define __force
#define __iomem
#define __attribute_const__
#ifndef __packed
#define __packed __attribute__((packed))
#endif
#endif
