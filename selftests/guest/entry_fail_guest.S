/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest code for entry_fail_test.c: harmless code that would report on
 * port 0x10 if VM entry ever succeeded with the broken state.
 */
#include "guest_layout.h"
#define BLOB_START ef_blob_start

	.section .rodata.guest, "a"
	.globl ef_blob_start, ef_blob_end
ef_blob_start:
	.code32
ENTRY ef_code32
	mov $0x32, %al
	out %al, $0x10
	HLT_END ef_code32

	.code64
ENTRY ef_code64
	mov $0x64, %al
	out %al, $0x10
	HLT_END ef_code64
ef_blob_end:
