// SPDX-License-Identifier: GPL-2.0
// Linux errno values, from the uapi header (valid C and C++ in both builds).
#pragma once

#include <asm-generic/errno.h>
