/* SPDX-License-Identifier: GPL-2.0 */
/* See compiler_types.h beside this file: uapi headers include this one too. */
#include <linux/compiler_types.h>
