// SPDX-License-Identifier: GPL-2.0
/*
 * MMIO exits (KVM_EXIT_MMIO): a guest access to a GPA that no memory slot
 * covers exits with mmio.phys_addr, len, is_write and, for writes, the
 * data; for reads the data userspace leaves in mmio.data is what the
 * instruction loads, with the instruction's own zero or sign extension
 * and partial-register rules.  Also: a store to a KVM_MEM_READONLY slot
 * exits the same way while loads from it read the memory.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <stdio.h>
#include <string.h>

#include "kselftest_harness.h"
#include "guest_util.h"

GUEST_SYM(mmio_blob_start);
GUEST_SYM(mmio_blob_end);
GUEST_ENTRY(w64_al); GUEST_ENTRY(w64_ax); GUEST_ENTRY(w64_eax);
GUEST_ENTRY(w64_rax); GUEST_ENTRY(w64_bh); GUEST_ENTRY(w64_r10w);
GUEST_ENTRY(w64_imm8); GUEST_ENTRY(w64_imm16); GUEST_ENTRY(w64_imm32);
GUEST_ENTRY(w64_imm64_neg); GUEST_ENTRY(w64_imm64_pos); GUEST_ENTRY(w64_moffs);
GUEST_ENTRY(r64_al); GUEST_ENTRY(r64_ax); GUEST_ENTRY(r64_eax);
GUEST_ENTRY(r64_rax); GUEST_ENTRY(r64_bh); GUEST_ENTRY(r64_r11d);
GUEST_ENTRY(r64_movzbw); GUEST_ENTRY(r64_movzbl); GUEST_ENTRY(r64_movzwl);
GUEST_ENTRY(r64_movzbq); GUEST_ENTRY(r64_movsbw); GUEST_ENTRY(r64_movsbl);
GUEST_ENTRY(r64_movswl); GUEST_ENTRY(r64_movsbq); GUEST_ENTRY(r64_movswq);
GUEST_ENTRY(r64_movslq); GUEST_ENTRY(r64_moffs);
GUEST_ENTRY(w32_al); GUEST_ENTRY(w32_ax); GUEST_ENTRY(w32_eax);
GUEST_ENTRY(w32_imm32); GUEST_ENTRY(w32_moffs);
GUEST_ENTRY(r32_al); GUEST_ENTRY(r32_ax); GUEST_ENTRY(r32_eax);
GUEST_ENTRY(r32_movzbl); GUEST_ENTRY(r32_movzwl); GUEST_ENTRY(r32_movsbl);
GUEST_ENTRY(r32_movswl); GUEST_ENTRY(r32_movsbw);
GUEST_ENTRY(ro_access);

#define G(sym) GUEST_ADDR(mmio_blob_start, sym)

/* Register values before every snippet. */
#define RAX0 0x0123456789abcdefull
#define RBX0 0xfedcba9876543210ull
#define R10_0 0x0f1e2d3c4b5a6978ull
#define R11_0 0x8877665544332211ull
#define ADDR (MMIO_GPA + 0x40)	/* RSI and RDI */

/* Data supplied to loads: every byte has its top bit set (sign extension
 * shows), and a second value whose bytes do not. */
#define NEG 0xf8e7d6c5b4a39281ull
#define POS 0x0807060504030201ull

struct mmio_case {
	const char *name;
	const uint8_t *start, *end;
	bool write;
	uint64_t gpa;
	uint32_t len;
	uint64_t data;		/* written by the guest, or supplied to it */
	int reg;		/* loads: the destination register */
	uint64_t result;	/* loads: its value afterwards */
};

#define W(sym, gpa, len, data) { #sym, sym, sym##_end, true, gpa, len, data, 0, 0 }
#define R(sym, gpa, len, data, reg, result) \
	{ #sym, sym, sym##_end, false, gpa, len, data, reg, result }

static const struct mmio_case cases64[] = {
	W(w64_al, ADDR, 1, 0xef),
	W(w64_ax, ADDR, 2, 0xcdef),
	W(w64_eax, ADDR, 4, 0x89abcdef),
	W(w64_rax, ADDR, 8, RAX0),
	W(w64_bh, ADDR, 1, 0x32),
	W(w64_r10w, ADDR + 8, 2, 0x6978),
	W(w64_imm8, ADDR, 1, 0x5a),
	W(w64_imm16, ADDR, 2, 0xa55a),
	W(w64_imm32, ADDR, 4, 0xdeadbeef),
	W(w64_imm64_neg, ADDR, 8, 0xffffffffdeadbeefull),
	W(w64_imm64_pos, ADDR, 8, 0x12345678),
	W(w64_moffs, MMIO_GPA + 0x20, 8, RAX0),
	R(r64_al, ADDR, 1, NEG, R_RAX, 0x0123456789abcd81ull),
	R(r64_ax, ADDR, 2, NEG, R_RAX, 0x0123456789ab9281ull),
	R(r64_eax, ADDR, 4, NEG, R_RAX, 0x00000000b4a39281ull),
	R(r64_rax, ADDR, 8, NEG, R_RAX, NEG),
	R(r64_bh, ADDR, 1, NEG, R_RBX, 0xfedcba9876548110ull),
	R(r64_r11d, ADDR + 8, 4, NEG, R_R11, 0x00000000b4a39281ull),
	R(r64_movzbw, ADDR, 1, NEG, R_RAX, 0x0123456789ab0081ull),
	R(r64_movzbl, ADDR, 1, NEG, R_RAX, 0x81),
	R(r64_movzwl, ADDR, 2, NEG, R_RAX, 0x9281),
	R(r64_movzbq, ADDR, 1, NEG, R_RAX, 0x81),
	R(r64_movsbw, ADDR, 1, NEG, R_RAX, 0x0123456789abff81ull),
	R(r64_movsbl, ADDR, 1, NEG, R_RAX, 0x00000000ffffff81ull),
	R(r64_movswl, ADDR, 2, NEG, R_RAX, 0x00000000ffff9281ull),
	R(r64_movsbq, ADDR, 1, NEG, R_RAX, 0xffffffffffffff81ull),
	R(r64_movswq, ADDR, 2, NEG, R_RAX, 0xffffffffffff9281ull),
	R(r64_movslq, ADDR, 4, NEG, R_RAX, 0xffffffffb4a39281ull),
	R(r64_movsbq, ADDR, 1, POS, R_RAX, 0x01),
	R(r64_movswq, ADDR, 2, POS, R_RAX, 0x0201),
	R(r64_movslq, ADDR, 4, POS, R_RAX, 0x04030201),
	R(r64_movsbw, ADDR, 1, POS, R_RAX, 0x0123456789ab0001ull),
	R(r64_moffs, MMIO_GPA + 0x20, 4, NEG, R_RAX, 0xb4a39281),
};

/* 32-bit code: only the low halves are architectural, compared as such. */
static const struct mmio_case cases32[] = {
	W(w32_al, ADDR, 1, 0xef),
	W(w32_ax, ADDR, 2, 0xcdef),
	W(w32_eax, ADDR, 4, 0x89abcdef),
	W(w32_imm32, ADDR, 4, 0xdeadbeef),
	W(w32_moffs, MMIO_GPA + 0x20, 4, 0x89abcdef),
	R(r32_al, ADDR, 1, NEG, R_RAX, 0x89abcd81),
	R(r32_ax, ADDR, 2, NEG, R_RAX, 0x89ab9281),
	R(r32_eax, ADDR, 4, NEG, R_RAX, 0xb4a39281),
	R(r32_movzbl, ADDR, 1, NEG, R_RAX, 0x81),
	R(r32_movzwl, ADDR, 2, NEG, R_RAX, 0x9281),
	R(r32_movsbl, ADDR, 1, NEG, R_RAX, 0xffffff81),
	R(r32_movswl, ADDR, 2, NEG, R_RAX, 0xffff9281),
	R(r32_movsbw, ADDR, 1, NEG, R_RAX, 0x89abff81),
	R(r32_movsbl, ADDR, 1, POS, R_RAX, 0x01),
};

FIXTURE(mmio) {
	struct vm vm;
	struct vcpu v;
};

FIXTURE_SETUP(mmio)
{
	vm_init(&self->vm);
	vcpu_init_cpuid(&self->vm, &self->v, 0);
	vm_load(&self->vm, CODE_GPA, mmio_blob_start, mmio_blob_end);
}

FIXTURE_TEARDOWN(mmio)
{
	vcpu_close(&self->v);
	vm_close(&self->vm);
}

static bool run_case(struct vcpu *v, int bits, const struct mmio_case *c)
{
	uint64_t mask = bits == 64 ? ~0ull : 0xffffffffull;
	struct kvm_regs regs, want;
	uint64_t got;
	int i;

	if (bits == 64)
		vcpu_mode_long64(v, G(c->start), STACK_TOP);
	else
		vcpu_mode_prot32(v, G(c->start), STACK_TOP);
	vcpu_get_regs(v, &regs);
	regs.rax = RAX0;
	regs.rbx = RBX0;
	regs.rcx = regs.rdx = regs.rbp = 0;
	regs.rsi = regs.rdi = ADDR;
	regs.r8 = regs.r9 = regs.r12 = regs.r13 = regs.r14 = regs.r15 = 0;
	regs.r10 = R10_0;
	regs.r11 = R11_0;
	vcpu_set_regs(v, &regs);
	want = regs;

	if (c->write) {
		if (!run_mmio_write(v, c->gpa, c->len, &got)) {
			fprintf(stderr, "# %s: no MMIO write exit\n", c->name);
			return false;
		}
		if (got != c->data) {
			fprintf(stderr, "# %s: wrote 0x%llx, expected 0x%llx\n", c->name,
				(unsigned long long)got, (unsigned long long)c->data);
			return false;
		}
	} else {
		if (!run_mmio_read(v, c->gpa, c->len, c->data)) {
			fprintf(stderr, "# %s: no MMIO read exit\n", c->name);
			return false;
		}
		*regs_field(&want, c->reg) = c->result;
	}
	if (!run_hlt(v, G(c->end))) {
		fprintf(stderr, "# %s: no hlt after the access\n", c->name);
		return false;
	}

	/* Only the destination register changed. */
	vcpu_get_regs(v, &regs);
	for (i = R_RAX; i <= R_R15; i++) {
		if ((*regs_field(&regs, i) & mask) != (*regs_field(&want, i) & mask)) {
			fprintf(stderr, "# %s: register %d is 0x%llx, expected 0x%llx\n",
				c->name, i, (unsigned long long)*regs_field(&regs, i),
				(unsigned long long)*regs_field(&want, i));
			return false;
		}
	}
	return true;
}

TEST_F(mmio, long64)
{
	unsigned int i;

	for (i = 0; i < sizeof(cases64) / sizeof(cases64[0]); i++)
		ASSERT_TRUE(run_case(&self->v, 64, &cases64[i]));
}

TEST_F(mmio, prot32)
{
	unsigned int i;

	for (i = 0; i < sizeof(cases32) / sizeof(cases32[0]); i++)
		ASSERT_TRUE(run_case(&self->v, 32, &cases32[i]));
}

/*
 * KVM_MEM_READONLY (KVM_CAP_READONLY_MEM): the guest reads the slot's
 * memory without exits; a store exits as an MMIO write of the address and
 * data, and the memory stays as it was.
 */
TEST_F(mmio, readonly_slot)
{
	const uint64_t ro_gpa = 0x80000000, pattern = 0x1122334455667788;
	struct kvm_regs regs;
	uint64_t *ro, got;

	if (kvm_ioctl(self->vm.sys_fd, KVM_CHECK_EXTENSION,
		      (void *)(long)KVM_CAP_READONLY_MEM) <= 0)
		SKIP(return, "KVM_CAP_READONLY_MEM not supported");

	ro = vm_add_memory(&self->vm, 1, ro_gpa, 0x1000, KVM_MEM_READONLY);
	ro[1] = pattern;
	ro[2] = pattern;

	vcpu_mode_long64(&self->v, G(ro_access), STACK_TOP);
	vcpu_get_regs(&self->v, &regs);
	regs.rsi = ro_gpa + 8;
	regs.rbx = 0xdeadbeefcafef00d;
	regs.rax = regs.rcx = 0;
	vcpu_set_regs(&self->v, &regs);

	ASSERT_TRUE(run_mmio_write(&self->v, ro_gpa + 8, 8, &got));
	EXPECT_EQ(0xdeadbeefcafef00d, got);
	ASSERT_TRUE(run_mmio_write(&self->v, ro_gpa + 8 + 9, 1, &got));
	EXPECT_EQ(0x77, got);
	ASSERT_TRUE(run_hlt(&self->v, G(ro_access_end)));

	vcpu_get_regs(&self->v, &regs);
	EXPECT_EQ(pattern, regs.rax);
	EXPECT_EQ(pattern, regs.rcx);
	EXPECT_EQ(pattern, ro[1]);
	EXPECT_EQ(pattern, ro[2]);
}

TEST_HARNESS_MAIN
