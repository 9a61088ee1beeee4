// SPDX-License-Identifier: GPL-2.0
/*
 * Port I/O exits (KVM_EXIT_IO) in 16-, 32- and 64-bit code: IN/OUT of 1, 2
 * and 4 bytes, and OUTS/INS with and without REP, with DF clear and set.
 *
 * KVM gives one exit per OUT and per non-REP string element, and may cover
 * several elements of a REP string instruction with one exit (io.count > 1:
 * KVM's emulator batches REP INS up to the end of the page, REP OUTS one
 * element at a time), so for the string forms the tests accept any split
 * but check every exit's port, size and direction, the complete data
 * sequence, memory, and RCX/RSI/RDI/RIP after the instruction.
 *
 * Environment: MINIKVM_DEV, the device (default /dev/kvm).
 */
#include <stdio.h>
#include <string.h>

#include "kselftest_harness.h"
#include "guest_util.h"

#define PIO_PORT 0x5000		/* as in pio_guest.S */

GUEST_SYM(pio_blob_start);
GUEST_SYM(pio_blob_end);
GUEST_ENTRY(out_sizes16);
GUEST_ENTRY(out_sizes32);
GUEST_ENTRY(out_sizes64);
GUEST_ENTRY(in_sizes16);
GUEST_ENTRY(in_sizes32);
GUEST_ENTRY(in_sizes64);

#define STRING_SYMS(bits) \
	GUEST_ENTRY(s##bits##_outsb); GUEST_ENTRY(s##bits##_outsw); \
	GUEST_ENTRY(s##bits##_outsl); GUEST_ENTRY(s##bits##_insb); \
	GUEST_ENTRY(s##bits##_insw); GUEST_ENTRY(s##bits##_insl); \
	GUEST_ENTRY(s##bits##_rep_outsb); GUEST_ENTRY(s##bits##_rep_outsw); \
	GUEST_ENTRY(s##bits##_rep_outsl); GUEST_ENTRY(s##bits##_rep_insb); \
	GUEST_ENTRY(s##bits##_rep_insw); GUEST_ENTRY(s##bits##_rep_insl)
STRING_SYMS(16);
STRING_SYMS(32);
STRING_SYMS(64);

struct snippet {
	const uint8_t *start, *end;
};

#define SNIP(name) { name, name##_end }
/* [out=0/in=1][rep][log2 size] */
#define STRING_TABLE(bits) { \
	{ { SNIP(s##bits##_outsb), SNIP(s##bits##_outsw), SNIP(s##bits##_outsl) }, \
	  { SNIP(s##bits##_rep_outsb), SNIP(s##bits##_rep_outsw), SNIP(s##bits##_rep_outsl) } }, \
	{ { SNIP(s##bits##_insb), SNIP(s##bits##_insw), SNIP(s##bits##_insl) }, \
	  { SNIP(s##bits##_rep_insb), SNIP(s##bits##_rep_insw), SNIP(s##bits##_rep_insl) } } }

static const struct snippet strings16[2][2][3] = STRING_TABLE(16);
static const struct snippet strings32[2][2][3] = STRING_TABLE(32);
static const struct snippet strings64[2][2][3] = STRING_TABLE(64);

FIXTURE(pio) {
	struct vm vm;
	struct vcpu v;
};

FIXTURE_VARIANT(pio) {
	int bits;
	const struct snippet (*strings)[2][3];
	const uint8_t *out_sizes, *out_sizes_end, *in_sizes, *in_sizes_end;
};

FIXTURE_VARIANT_ADD(pio, real16) {
	.bits = 16, .strings = strings16,
	.out_sizes = out_sizes16, .out_sizes_end = out_sizes16_end,
	.in_sizes = in_sizes16, .in_sizes_end = in_sizes16_end,
};

FIXTURE_VARIANT_ADD(pio, prot32) {
	.bits = 32, .strings = strings32,
	.out_sizes = out_sizes32, .out_sizes_end = out_sizes32_end,
	.in_sizes = in_sizes32, .in_sizes_end = in_sizes32_end,
};

FIXTURE_VARIANT_ADD(pio, long64) {
	.bits = 64, .strings = strings64,
	.out_sizes = out_sizes64, .out_sizes_end = out_sizes64_end,
	.in_sizes = in_sizes64, .in_sizes_end = in_sizes64_end,
};

FIXTURE_SETUP(pio)
{
	vm_init(&self->vm);
	vcpu_init_cpuid(&self->vm, &self->v, 0);
	vm_load(&self->vm, CODE_GPA, pio_blob_start, pio_blob_end);
}

FIXTURE_TEARDOWN(pio)
{
	vcpu_close(&self->v);
	vm_close(&self->vm);
}

/*
 * Enter the variant's mode at sym.  In real mode CS is CODE_GPA >> 4 and
 * DS = ES = DATA_GPA >> 4, so data addresses are offsets from DATA_GPA;
 * in the other modes segments are flat.  Returns the RIP KVM reports at the
 * hlt that follows the code (end).
 */
static uint64_t enter(struct vcpu *v, int bits, const uint8_t *sym, const uint8_t *end)
{
	switch (bits) {
	case 16:
		vcpu_mode_real(v, CODE_GPA >> 4, GUEST_OFF(pio_blob_start, sym),
			       DATA_GPA >> 4);
		return GUEST_OFF(pio_blob_start, end);
	case 32:
		vcpu_mode_prot32(v, GUEST_ADDR(pio_blob_start, sym), STACK_TOP);
		break;
	default:
		vcpu_mode_long64(v, GUEST_ADDR(pio_blob_start, sym), STACK_TOP);
		break;
	}
	return GUEST_ADDR(pio_blob_start, end);
}

/* The register value that addresses DATA_GPA + off in this mode. */
static uint64_t data_reg(int bits, uint64_t off)
{
	return bits == 16 ? off : DATA_GPA + off;
}

TEST_F(pio, out_sizes)
{
	uint64_t hlt_rip = enter(&self->v, variant->bits, variant->out_sizes,
				 variant->out_sizes_end);

	ASSERT_TRUE(run_out_val(&self->v, 1, 0x10, 0x88));
	ASSERT_TRUE(run_out_val(&self->v, 2, 0x11, 0x7788));
	ASSERT_TRUE(run_out_val(&self->v, 4, 0x12, 0x55667788));
	ASSERT_TRUE(run_out_val(&self->v, 1, PIO_PORT, 0x88));
	ASSERT_TRUE(run_out_val(&self->v, 2, PIO_PORT, 0x7788));
	ASSERT_TRUE(run_out_val(&self->v, 4, PIO_PORT, 0x55667788));
	ASSERT_TRUE(run_hlt(&self->v, hlt_rip));
}

/*
 * The value userspace puts at io.data_offset before the next KVM_RUN is
 * what the IN instruction loads: AL and AX keep the rest of the register
 * (RAX bits 63:8 / 63:16), EAX is zero-extended into RAX in 64-bit mode.
 */
TEST_F(pio, in_sizes)
{
	uint64_t hlt_rip = enter(&self->v, variant->bits, variant->in_sizes,
				 variant->in_sizes_end);
	struct kvm_regs regs;

	ASSERT_TRUE(run_in(&self->v, 1, 0x20, 0xa1));
	ASSERT_TRUE(run_in(&self->v, 2, 0x21, 0xb2c3));
	ASSERT_TRUE(run_in(&self->v, 4, 0x22, 0xd4e5f607));
	ASSERT_TRUE(run_in(&self->v, 1, PIO_PORT, 0x18));
	ASSERT_TRUE(run_in(&self->v, 2, PIO_PORT, 0x2938));
	ASSERT_TRUE(run_in(&self->v, 4, PIO_PORT, 0x4a5b6c7d));
	ASSERT_TRUE(run_hlt(&self->v, hlt_rip));

	if (variant->bits == 64) {
		vcpu_get_regs(&self->v, &regs);
		EXPECT_EQ(0x11223344556677a1, regs.r8);
		EXPECT_EQ(0x112233445566b2c3, regs.r9);
		EXPECT_EQ(0x00000000d4e5f607, regs.r10);
		EXPECT_EQ(0x1122334455667718, regs.r11);
		EXPECT_EQ(0x1122334455662938, regs.r12);
		EXPECT_EQ(0x000000004a5b6c7d, regs.r13);
	} else {
		uint32_t *d = gpa_ptr(&self->vm, DATA_GPA);

		EXPECT_EQ(0x556677a1, d[0]);
		EXPECT_EQ(0x5566b2c3, d[1]);
		EXPECT_EQ(0xd4e5f607, d[2]);
		EXPECT_EQ(0x55667718, d[3]);
		EXPECT_EQ(0x55662938, d[4]);
		EXPECT_EQ(0x4a5b6c7d, d[5]);
	}
}

/* One string I/O case. */
struct string_case {
	bool in, rep, df;
	int size;		/* 1, 2, 4 */
	uint32_t count;		/* elements (RCX for REP) */
	uint32_t off;		/* RSI/RDI start, as an offset from DATA_GPA */
};

static uint8_t mem_pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + 3);
}

static uint8_t in_pattern(uint64_t k)
{
	return (uint8_t)(k * 13 + 0x51);
}

static void describe_case(const struct string_case *c, int bits, char *buf, size_t n)
{
	snprintf(buf, n, "%d-bit %s%s%c count %u DF=%d at DATA_GPA+0x%x",
		 bits, c->rep ? "rep " : "", c->in ? "ins" : "outs",
		 c->size == 1 ? 'b' : c->size == 2 ? 'w' : 'l', c->count,
		 c->df, c->off);
}

/*
 * Run one case to its hlt.  Checks each exit as it comes and the final
 * state; prints what differs and returns false on the first mismatch.
 */
static bool run_string_case(struct vm *vm, struct vcpu *v, int bits,
			    const struct snippet *snip, const struct string_case *c)
{
	/* Junk above the address/count size must survive (16-bit only: in
	 * 32-bit code the upper halves are undefined, in 64-bit they count). */
	uint64_t junk_c = bits == 16 ? 0xabcd0000 : 0;
	uint64_t junk_a = bits == 16 ? 0x5a5a0000 : 0;
	uint64_t rcx0 = c->rep ? junk_c | c->count : 0x1234567;
	uint32_t n = c->rep ? c->count : 1;	/* elements transferred */
	uint64_t mask = bits == 64 ? ~0ull : 0xffffffffull;
	uint64_t areg = c->in ? R_RDI : R_RSI;
	uint8_t *data = gpa_ptr(vm, DATA_GPA);
	uint8_t seen[4096];
	uint32_t got = 0, exits = 0, i;
	uint64_t hlt_rip, step, expect_areg;
	struct kvm_regs regs;
	char name[96];

	describe_case(c, bits, name, sizeof(name));
	memset(data, 0, 0x3000);
	for (i = 0; i < 0x3000; i++)
		data[i] = c->in ? 0xee : mem_pattern(i);

	hlt_rip = enter(v, bits, snip->start, snip->end);
	vcpu_get_regs(v, &regs);
	regs.rcx = rcx0;
	regs.rdx = PIO_PORT;
	regs.rsi = regs.rdi = 0;
	*regs_field(&regs, areg) = junk_a | data_reg(bits, c->off);
	regs.rflags = X86_RFLAGS_FIXED | (c->df ? X86_RFLAGS_DF : 0);
	vcpu_set_regs(v, &regs);

	for (;;) {
		struct kvm_run *run = v->run;
		uint32_t bytes;
		int r = vcpu_run(v);

		if (r) {
			fprintf(stderr, "# %s: KVM_RUN: %s\n", name, strerror(-r));
			return false;
		}
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		if (!exit_is_io(v, c->in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT,
				c->size, PIO_PORT, run->io.count) ||
		    run->io.count == 0 || got + run->io.count > n ||
		    ++exits > n) {
			fprintf(stderr, "# %s: exit %u with count %u after %u of %u elements\n",
				name, exits, run->exit_reason == KVM_EXIT_IO ? run->io.count : 0,
				got, n);
			return false;
		}
		bytes = run->io.count * c->size;
		if (c->in) {
			for (i = 0; i < bytes; i++)
				((uint8_t *)io_data(v))[i] = in_pattern(got * c->size + i);
		} else {
			memcpy(seen + got * c->size, io_data(v), bytes);
		}
		got += run->io.count;
	}
	if (got != n) {
		fprintf(stderr, "# %s: %u elements transferred, expected %u\n", name, got, n);
		return false;
	}
	vcpu_get_regs(v, &regs);
	if (regs.rip != hlt_rip) {
		fprintf(stderr, "# %s: hlt at 0x%llx, expected 0x%llx\n", name,
			(unsigned long long)regs.rip, (unsigned long long)hlt_rip);
		return false;
	}

	/* Element k is at off + k * size, or off - k * size with DF set. */
	step = c->df ? -(uint64_t)c->size : c->size;
	for (i = 0; i < n; i++) {
		uint64_t at = c->off + i * step;
		int b;

		for (b = 0; b < c->size; b++) {
			uint8_t want = c->in ? in_pattern(i * c->size + b) : mem_pattern(at + b);
			uint8_t have = c->in ? data[at + b] : seen[i * c->size + b];

			if (want != have) {
				fprintf(stderr, "# %s: element %u byte %d is 0x%02x, expected 0x%02x\n",
					name, i, b, have, want);
				return false;
			}
		}
	}
	if (c->in) {
		/* Nothing written outside the elements. */
		uint64_t lo = c->df ? c->off - (n - 1) * c->size : c->off;
		uint64_t hi = lo + (uint64_t)n * c->size;

		if (n == 0)
			lo = hi = c->off;
		for (i = 0; i < 0x3000; i++) {
			if ((i < lo || i >= hi) && data[i] != 0xee) {
				fprintf(stderr, "# %s: byte at DATA_GPA+0x%x written\n", name, i);
				return false;
			}
		}
	}

	/* RSI/RDI moved by n elements (16 bits wrap in real mode, the junk
	 * above stays); RCX counted down to 0 for REP and is untouched
	 * otherwise; the other index register and RDX are untouched. */
	expect_areg = data_reg(bits, c->off) + n * step;
	if (bits == 16)
		expect_areg = junk_a | (expect_areg & 0xffff);
	if ((*regs_field(&regs, areg) & mask) != (expect_areg & mask) ||
	    (regs.rcx & mask) != ((c->rep ? junk_c : rcx0) & mask) ||
	    (*regs_field(&regs, c->in ? R_RSI : R_RDI) & mask) != 0 ||
	    (regs.rdx & 0xffff) != PIO_PORT) {
		fprintf(stderr, "# %s: rcx 0x%llx rsi 0x%llx rdi 0x%llx rdx 0x%llx; expected %s 0x%llx rcx 0x%llx\n",
			name, (unsigned long long)regs.rcx, (unsigned long long)regs.rsi,
			(unsigned long long)regs.rdi, (unsigned long long)regs.rdx,
			c->in ? "rdi" : "rsi", (unsigned long long)expect_areg,
			(unsigned long long)((c->rep ? junk_c : rcx0) & mask));
		return false;
	}
	return true;
}

static void string_cases(struct __test_metadata *_metadata, struct vm *vm,
			 struct vcpu *v, int bits,
			 const struct snippet (*strings)[2][3], bool in)
{
	static const uint32_t rep_counts[] = { 0, 1, 3, 17 };
	int lsz, df, i;

	for (lsz = 0; lsz < 3; lsz++) {
		int size = 1 << lsz;

		for (df = 0; df < 2; df++) {
			struct string_case c = {
				.in = in, .df = df, .size = size, .count = 1,
				.off = 0x800,
			};

			/* no REP: one element, RCX ignored */
			ASSERT_TRUE(run_string_case(vm, v, bits, &strings[in][0][lsz], &c));

			c.rep = true;
			for (i = 0; i < 4; i++) {
				c.count = rep_counts[i];
				ASSERT_TRUE(run_string_case(vm, v, bits,
							    &strings[in][1][lsz], &c));
			}

			/* 12 elements across a page boundary (KVM ends a
			 * batch of REP INS at the page end) */
			c.count = 12;
			c.off = df ? 0x1000 + 4 * size : 0x1000 - 4 * size;
			ASSERT_TRUE(run_string_case(vm, v, bits, &strings[in][1][lsz], &c));
		}
	}
}

TEST_F(pio, outs)
{
	string_cases(_metadata, &self->vm, &self->v, variant->bits,
		     variant->strings, false);
}

TEST_F(pio, ins)
{
	string_cases(_metadata, &self->vm, &self->v, variant->bits,
		     variant->strings, true);
}

TEST_HARNESS_MAIN
