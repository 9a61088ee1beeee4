// SPDX-License-Identifier: GPL-2.0
/*
 * The VM fd ioctls: KVM_SET_USER_MEMORY_REGION, KVM_CREATE_VCPU and the
 * capabilities that bound them, with good and bad arguments, exactly as
 * Linux 6.1's KVM (x86) answers them.  Runs against the reference KVM and,
 * unchanged, against minikvm (see kvm_test_util.h for MINIKVM_DEV and
 * MINIKVM_EXPECT).
 *
 * The checks follow virt/kvm/kvm_main.c of Linux 6.1:
 * kvm_vm_ioctl_set_memory_region() / __kvm_set_memory_region() for memory
 * slots and kvm_vm_ioctl_create_vcpu() for vCPUs.  Host-dependent limits
 * (how many slots, vCPUs, address spaces) are read from KVM_CHECK_EXTENSION
 * and asserted as properties, never as constants.
 */
#include <stdio.h>
#include <termios.h>

#include "kselftest_harness.h"
#include "kvm_test_util.h"

/*
 * The harness compares with the types of its arguments: literal ints
 * against the __u64/__u32 fields of the KVM structs are fine here.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"

#define SLOT_MEM_PAGES 64

static long set_region(int vm, __u32 slot, __u32 flags, __u64 gpa, __u64 size,
		       __u64 uaddr)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = uaddr,
	};

	return kioctl_p(vm, KVM_SET_USER_MEMORY_REGION, &r);
}

/*
 * The top of the user address space (TASK_SIZE_MAX): 47 bits with 4-level
 * paging, 56 with 5-level.  KVM checks userspace_addr + memory_size with
 * access_ok(), i.e. against this.  A fixed mapping above 47 bits succeeds
 * only with 5-level paging.
 */
static unsigned long user_space_top(void)
{
	void *hint = (void *)(1ul << 50);
	void *p = mmap(hint, PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == hint) {
		munmap(p, PAGE);
		return (1ul << 56) - PAGE;
	}
	if (p != MAP_FAILED)
		munmap(p, PAGE);
	return (1ul << 47) - PAGE;
}

FIXTURE(vm) {
	int dev;
	int vm;
	char *mem;		/* SLOT_MEM_PAGES pages backing the slots */
	unsigned long uaddr;	/* (unsigned long)mem */
	long nr_slots;		/* KVM_CAP_NR_MEMSLOTS */
	long nr_as;		/* address spaces: KVM_CAP_MULTI_ADDRESS_SPACE, at least 1 */
};

FIXTURE_SETUP(vm)
{
	long vm;

	self->vm = -1;
	self->mem = MAP_FAILED;
	self->dev = open_kvm_dev();
	ASSERT_GE(self->dev, 0) TH_LOG("open %s: %s", kvm_dev_path(), strerror(errno));
	vm = kioctl(self->dev, KVM_CREATE_VM, 0);
	ASSERT_GE(vm, 0) TH_LOG("KVM_CREATE_VM: %s", strerror((int)-vm));
	self->vm = (int)vm;
	self->mem = mmap(NULL, SLOT_MEM_PAGES * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, self->mem);
	self->uaddr = (unsigned long)self->mem;
	self->nr_slots = kioctl(self->vm, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	ASSERT_GT(self->nr_slots, 0);
	self->nr_as = kioctl(self->vm, KVM_CHECK_EXTENSION, KVM_CAP_MULTI_ADDRESS_SPACE);
	if (self->nr_as < 1)
		self->nr_as = 1;
}

FIXTURE_TEARDOWN(vm)
{
	if (self->vm >= 0)
		close(self->vm);
	if (self->mem != MAP_FAILED)
		munmap(self->mem, SLOT_MEM_PAGES * PAGE);
	close(self->dev);
}

/* ---- capabilities ---- */

TEST_F(vm, limits_are_positive_consistent_and_equal_on_dev_and_vm)
{
	static const long caps[] = {
		KVM_CAP_NR_VCPUS, KVM_CAP_MAX_VCPUS, KVM_CAP_MAX_VCPU_ID,
		KVM_CAP_NR_MEMSLOTS, KVM_CAP_USER_MEMORY,
		KVM_CAP_MULTI_ADDRESS_SPACE, KVM_CAP_READONLY_MEM,
	};
	long nr_vcpus, max_vcpus, max_id, nr_slots;
	unsigned int i;

	/* The VM fd answers as the device does (no per-VM overrides yet). */
	for (i = 0; i < ARRAY_LEN(caps); i++) {
		EXPECT_EQ(kioctl(self->dev, KVM_CHECK_EXTENSION, caps[i]),
			  kioctl(self->vm, KVM_CHECK_EXTENSION, caps[i]))
			TH_LOG("capability %ld", caps[i]);
	}

	nr_vcpus = kioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	max_vcpus = kioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	max_id = kioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);
	nr_slots = kioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	TH_LOG("NR_VCPUS %ld MAX_VCPUS %ld MAX_VCPU_ID %ld NR_MEMSLOTS %ld",
	       nr_vcpus, max_vcpus, max_id, nr_slots);
	/* api.rst: NR_VCPUS is the recommended, MAX_VCPUS the hard maximum. */
	EXPECT_GE(nr_vcpus, 1);
	EXPECT_LE(nr_vcpus, max_vcpus);
	/* Every vCPU needs a distinct id below MAX_VCPU_ID. */
	EXPECT_GE(max_id, max_vcpus);
	EXPECT_GE(nr_slots, 1);
	/* The slot id is the low 16 bits of kvm_userspace_memory_region.slot. */
	EXPECT_LE(nr_slots, 0x10000);
	EXPECT_EQ(1, kioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY));
}

/* ---- KVM_SET_USER_MEMORY_REGION: what works ---- */

TEST_F(vm, memslot_add_several_and_repeat_is_a_noop)
{
	unsigned long u = self->uaddr;

	EXPECT_EQ(0, set_region(self->vm, 0, 0, 0, PAGE, u));
	EXPECT_EQ(0, set_region(self->vm, 1, 0, 0x100000, 2 * PAGE, u + PAGE));
	EXPECT_EQ(0, set_region(self->vm, 2, 0, 0x200000, 4 * PAGE, u + 4 * PAGE));
	/* The highest slot id, and a slot just under 4 GiB. */
	EXPECT_EQ(0, set_region(self->vm, self->nr_slots - 1, 0, 0xfffff000, PAGE,
				u + 8 * PAGE));
	/* Two slots may share the same host memory. */
	EXPECT_EQ(0, set_region(self->vm, 3, 0, 0x300000, PAGE, u));
	/* The same region again changes nothing and succeeds. */
	EXPECT_EQ(0, set_region(self->vm, 1, 0, 0x100000, 2 * PAGE, u + PAGE));
	EXPECT_EQ(0, set_region(self->vm, 0, 0, 0, PAGE, u));
}

TEST_F(vm, memslot_move_changes_guest_phys_addr_only)
{
	unsigned long u = self->uaddr;

	ASSERT_EQ(0, set_region(self->vm, 0, 0, 0x10000, 2 * PAGE, u));
	EXPECT_EQ(0, set_region(self->vm, 0, 0, 0x40000, 2 * PAGE, u));
	/* The old range is free, the new one taken. */
	EXPECT_EQ(0, set_region(self->vm, 1, 0, 0x10000, 2 * PAGE, u + 2 * PAGE));
	EXPECT_EQ(-EEXIST, set_region(self->vm, 2, 0, 0x41000, PAGE, u));
	/* Moving onto another slot is an overlap... */
	EXPECT_EQ(-EEXIST, set_region(self->vm, 0, 0, 0x11000, 2 * PAGE, u));
	/* ...overlapping the slot's own old range is not. */
	EXPECT_EQ(0, set_region(self->vm, 0, 0, 0x41000, 2 * PAGE, u));
	EXPECT_EQ(0, set_region(self->vm, 2, 0, 0x40000, PAGE, u));
}

TEST_F(vm, memslot_delete)
{
	unsigned long u = self->uaddr;

	ASSERT_EQ(0, set_region(self->vm, 3, 0, 0x20000, 4 * PAGE, u));
	/* memory_size 0 deletes; gpa and userspace_addr need not match. */
	EXPECT_EQ(0, set_region(self->vm, 3, 0, 0x7000, 0, u + PAGE));
	/* Deleting an empty slot, or one never created: -EINVAL. */
	EXPECT_EQ(-EINVAL, set_region(self->vm, 3, 0, 0x20000, 0, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 4, 0, 0, 0, 0));
	EXPECT_EQ(-EINVAL, set_region(self->vm, self->nr_slots - 1, 0, 0, 0, u));
	/* The range is free again, and the id can be reused with any size. */
	EXPECT_EQ(0, set_region(self->vm, 5, 0, 0x20000, 4 * PAGE, u));
	EXPECT_EQ(0, set_region(self->vm, 3, 0, 0x80000, 8 * PAGE, u + 8 * PAGE));
	/* The general sanity checks still apply to a delete. */
	EXPECT_EQ(-EINVAL, set_region(self->vm, 3, 0, 0x80001, 0, u + 8 * PAGE));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 3, 0, 0x80000, 0, u + 1));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 3, 1u << 7, 0x80000, 0, u + 8 * PAGE));
	EXPECT_EQ(0, set_region(self->vm, 3, 0, 0x80000, 0, u + 8 * PAGE));
	EXPECT_EQ(0, set_region(self->vm, 5, 0, 0x20000, 0, u));
}

TEST_F(vm, memslot_many_slots)
{
	/* Every id below NR_MEMSLOTS works; 64 of them, plus the last one. */
	long n = self->nr_slots < 64 ? self->nr_slots : 64;
	long i;

	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, set_region(self->vm, i, 0, (__u64)i << 20, PAGE,
					self->uaddr + (i % SLOT_MEM_PAGES) * PAGE))
			TH_LOG("slot %ld", i);
	}
	if (self->nr_slots > n) {
		EXPECT_EQ(0, set_region(self->vm, self->nr_slots - 1, 0, 1ull << 32,
					PAGE, self->uaddr));
	}
	for (i = 0; i < n; i++) {
		EXPECT_EQ(0, set_region(self->vm, i, 0, (__u64)i << 20, 0,
					self->uaddr + (i % SLOT_MEM_PAGES) * PAGE))
			TH_LOG("slot %ld", i);
	}
}

TEST_F(vm, memslot_readonly_iff_capability)
{
	long ro = kioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM);
	unsigned long u = self->uaddr;

	if (ro <= 0) {
		EXPECT_EQ(-EINVAL, set_region(self->vm, 0, KVM_MEM_READONLY, 0, PAGE, u));
		return;
	}
	EXPECT_EQ(0, set_region(self->vm, 0, KVM_MEM_READONLY, 0xe0000, 2 * PAGE, u));
	EXPECT_EQ(0, set_region(self->vm, 1, 0, 0x100000, PAGE, u));
	/* READONLY cannot be flipped on an existing slot, either way. */
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0xe0000, 2 * PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 1, KVM_MEM_READONLY, 0x100000, PAGE, u));
	/* ...not even while moving it. */
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0xf0000, 2 * PAGE, u));
	/* A read-only slot moves and is deleted like any other. */
	EXPECT_EQ(0, set_region(self->vm, 0, KVM_MEM_READONLY, 0xf0000, 2 * PAGE, u));
	EXPECT_EQ(0, set_region(self->vm, 0, KVM_MEM_READONLY, 0xf0000, 0, u));
	/* Recreated without the flag after the delete: fine. */
	EXPECT_EQ(0, set_region(self->vm, 0, 0, 0xf0000, 2 * PAGE, u));
}

TEST_F(vm, memslot_dirty_logging_flag_kvm)
{
	unsigned long u = self->uaddr;

	/*
	 * KVM supports dirty logging on every slot; minikvm does not promise
	 * it (yet), so only the reference is held to this.
	 */
	if (!expect_kvm())
		SKIP(return, "KVM_MEM_LOG_DIRTY_PAGES: checked on KVM only");
	EXPECT_EQ(0, set_region(self->vm, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, 4 * PAGE, u));
	/* Flags-only changes of LOG_DIRTY_PAGES, both ways. */
	EXPECT_EQ(0, set_region(self->vm, 0, 0, 0, 4 * PAGE, u));
	EXPECT_EQ(0, set_region(self->vm, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, 4 * PAGE, u));
	/* Move and flag change at once. */
	EXPECT_EQ(0, set_region(self->vm, 0, 0, 0x10000, 4 * PAGE, u));
	EXPECT_EQ(0, set_region(self->vm, 0, 0, 0x10000, 0, u));
}

/* ---- KVM_SET_USER_MEMORY_REGION: what is refused ---- */

TEST_F(vm, memslot_unknown_flags_rejected)
{
	unsigned long u = self->uaddr;
	unsigned int bit;

	ASSERT_EQ(0, set_region(self->vm, 1, 0, 0x100000, PAGE, u));
	/* Bits 0 (LOG_DIRTY_PAGES) and 1 (READONLY) are the only flags. */
	for (bit = 2; bit < 32; bit++) {
		EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 1u << bit, 0, PAGE, u))
			TH_LOG("create, flag bit %u", bit);
		EXPECT_EQ(-EINVAL, set_region(self->vm, 1, 1u << bit, 0x100000, PAGE, u))
			TH_LOG("modify, flag bit %u", bit);
	}
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, ~0u, 0, PAGE, u));
	/* Nothing was created by the refused calls: slot 0 is still empty. */
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, 0, u));
}

TEST_F(vm, memslot_misaligned_rejected)
{
	static const __u64 bad_gpa[] = { 1, 0x800, 0xfff, 0x10001 };
	static const __u64 bad_size[] = { 1, 0x800, 0xfff, PAGE + 1, 3 * PAGE - 8 };
	static const __u64 bad_uoff[] = { 1, 0x800, 0xfff };
	unsigned long u = self->uaddr;
	unsigned int i;

	for (i = 0; i < ARRAY_LEN(bad_gpa); i++) {
		EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, bad_gpa[i], PAGE, u))
			TH_LOG("gpa %#llx", (unsigned long long)bad_gpa[i]);
	}
	for (i = 0; i < ARRAY_LEN(bad_size); i++) {
		EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, bad_size[i], u))
			TH_LOG("size %#llx", (unsigned long long)bad_size[i]);
	}
	for (i = 0; i < ARRAY_LEN(bad_uoff); i++) {
		EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, PAGE, u + bad_uoff[i]))
			TH_LOG("userspace_addr offset %#llx", (unsigned long long)bad_uoff[i]);
	}
	/* Nor may an existing slot be moved to a misaligned address. */
	ASSERT_EQ(0, set_region(self->vm, 0, 0, 0x10000, PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0x10800, PAGE, u));
}

TEST_F(vm, memslot_overlap_is_eexist)
{
	static const struct { __u64 gpa, pages; } overlapping[] = {
		{ 0x10000, 4 },	/* the same range */
		{ 0x0f000, 2 },	/* over the start */
		{ 0x13000, 2 },	/* over the end */
		{ 0x11000, 1 },	/* inside */
		{ 0x0f000, 8 },	/* around */
		{ 0x13000, 1 },	/* the last page */
	};
	unsigned long u = self->uaddr;
	unsigned int i;

	ASSERT_EQ(0, set_region(self->vm, 0, 0, 0x10000, 4 * PAGE, u));
	for (i = 0; i < ARRAY_LEN(overlapping); i++) {
		EXPECT_EQ(-EEXIST, set_region(self->vm, 1, 0, overlapping[i].gpa,
					      overlapping[i].pages * PAGE, u))
			TH_LOG("gpa %#llx, %llu pages",
			       (unsigned long long)overlapping[i].gpa,
			       (unsigned long long)overlapping[i].pages);
	}
	/* Adjacent on both sides is not an overlap. */
	EXPECT_EQ(0, set_region(self->vm, 1, 0, 0xc000, 4 * PAGE, u));
	EXPECT_EQ(0, set_region(self->vm, 2, 0, 0x14000, PAGE, u));
}

TEST_F(vm, memslot_id_out_of_range)
{
	unsigned long u = self->uaddr;

	EXPECT_EQ(-EINVAL, set_region(self->vm, self->nr_slots, 0, 0, PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0xffff, 0, 0, PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, self->nr_slots, 0, 0, 0, u));
	EXPECT_EQ(0, set_region(self->vm, self->nr_slots - 1, 0, 0, PAGE, u));
}

TEST_F(vm, memslot_address_space_id_out_of_range)
{
	unsigned long u = self->uaddr;

	/* slot >> 16 is the address space; KVM_CAP_MULTI_ADDRESS_SPACE of them. */
	EXPECT_EQ(-EINVAL, set_region(self->vm, (__u32)self->nr_as << 16, 0, 0, PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0xffff0000u, 0, 0, PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0x7fff0000u, 0, 0, PAGE, u));
	if (self->nr_as < 2)
		return;
	/* Address spaces are separate: the same range in each is no overlap. */
	ASSERT_EQ(0, set_region(self->vm, 0, 0, 0x10000, PAGE, u));
	EXPECT_EQ(0, set_region(self->vm, 1u << 16, 0, 0x10000, PAGE, u));
	EXPECT_EQ(-EEXIST, set_region(self->vm, (1u << 16) | 1, 0, 0x10000, PAGE, u));
	/* The slot id limit applies in every address space. */
	EXPECT_EQ(-EINVAL, set_region(self->vm, (1u << 16) | self->nr_slots, 0,
				      0x20000, PAGE, u));
	EXPECT_EQ(0, set_region(self->vm, 1u << 16, 0, 0x10000, 0, u));
	/* Deleting it left address space 0's slot 0 alone. */
	EXPECT_EQ(-EEXIST, set_region(self->vm, 1, 0, 0x10000, PAGE, u));
}

TEST_F(vm, memslot_size_or_userspace_addr_of_existing_slot_fixed)
{
	unsigned long u = self->uaddr;

	ASSERT_EQ(0, set_region(self->vm, 0, 0, 0x10000, 2 * PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0x10000, 4 * PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0x10000, PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0x10000, 2 * PAGE, u + PAGE));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0x80000, 4 * PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0x80000, 2 * PAGE, u + PAGE));
	/* Unchanged: the original parameters still describe it. */
	EXPECT_EQ(0, set_region(self->vm, 0, 0, 0x10000, 2 * PAGE, u));
	EXPECT_EQ(-EEXIST, set_region(self->vm, 1, 0, 0x11000, PAGE, u));
	EXPECT_EQ(0, set_region(self->vm, 1, 0, 0x12000, PAGE, u));
}

TEST_F(vm, memslot_guest_range_wraps_or_exceeds_physical_width)
{
	unsigned long u = self->uaddr;

	/* gpa + size wraps past 2^64. */
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0xfffffffffffff000ull, PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0xffffffffffffe000ull, 4 * PAGE, u));
	/* Beyond any x86 physical address width (at most 52 bits). */
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 1ull << 52, PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 1ull << 62, PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, (1ull << 52) - PAGE, 2 * PAGE, u));
	/* Nothing was created. */
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, 0, u));
	/* High but below 36 bits (every x86-64 CPU has at least 36). */
	EXPECT_EQ(0, set_region(self->vm, 0, 0, (1ull << 35) - PAGE, PAGE, u));
}

TEST_F(vm, memslot_size_huge_rejected)
{
	unsigned long u = self->uaddr;

	/* More than KVM_MEM_MAX_NR_PAGES (2^31 - 1) pages. */
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, (1ull << 31) * PAGE, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, 1ull << 63, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, ~0xfffull, u));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, 1ull << 48, u));
}

TEST_F(vm, memslot_userspace_addr_must_be_user_range)
{
	unsigned long top = user_space_top();
	unsigned long gone = unmapped_user_ptr();

	TH_LOG("user address space ends at %#lx", top);
	/* Kernel and non-canonical addresses (access_ok() fails). */
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, PAGE, 0xffff888000000000ull));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, PAGE, KERNEL_PTR));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, PAGE, NONCANONICAL_PTR));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, PAGE, 1ull << 56));
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, PAGE, top));
	/* A range that starts in user space and ends beyond it. */
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, 2 * PAGE, top - PAGE));
	/*
	 * Whether the range is mapped is not checked when the slot is made
	 * (only when the guest touches it): these are accepted.
	 */
	EXPECT_EQ(0, set_region(self->vm, 0, 0, 0, PAGE, top - PAGE));
	EXPECT_EQ(0, set_region(self->vm, 1, 0, 0x10000, PAGE, gone));
	EXPECT_EQ(0, set_region(self->vm, 2, 0, 0x20000, PAGE, 0));
}

TEST_F(vm, memslot_bad_struct_pointer_is_efault)
{
	struct kvm_userspace_memory_region *r;
	unsigned long bad[5];
	void *map;
	size_t maplen;
	int i, n = bad_user_ptrs(bad);

	for (i = 0; i < n; i++) {
		EXPECT_EQ(-EFAULT, kioctl(self->vm, KVM_SET_USER_MEMORY_REGION, bad[i]))
			TH_LOG("pointer %#lx", bad[i]);
	}
	/* A struct whose last bytes lie in an inaccessible page. */
	r = buffer_before_guard(sizeof(*r) - 8, &map, &maplen);
	ASSERT_NE(NULL, r);
	memset(r, 0, sizeof(*r) - 8);
	EXPECT_EQ(-EFAULT, kioctl_p(self->vm, KVM_SET_USER_MEMORY_REGION, r));
	munmap(map, maplen);
	/* A read-only struct is fine: the ioctl only reads it. */
	r = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, r);
	r->slot = 0;
	r->guest_phys_addr = 0;
	r->memory_size = PAGE;
	r->userspace_addr = self->uaddr;
	ASSERT_EQ(0, mprotect(r, PAGE, PROT_READ));
	EXPECT_EQ(0, kioctl_p(self->vm, KVM_SET_USER_MEMORY_REGION, r));
	munmap(r, PAGE);
}

/* ---- KVM_CREATE_VCPU ---- */

TEST_F(vm, create_vcpu_ids)
{
	long max_id = kioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);
	long fd[4], last;
	int i;

	ASSERT_GT(max_id, 4);
	for (i = 0; i < 4; i++) {
		fd[i] = kioctl(self->vm, KVM_CREATE_VCPU, i);
		ASSERT_GE(fd[i], 0) TH_LOG("vCPU %d: %s", i, strerror((int)-fd[i]));
	}
	/* Ids are unique per VM. */
	EXPECT_EQ(-EEXIST, kioctl(self->vm, KVM_CREATE_VCPU, 0));
	EXPECT_EQ(-EEXIST, kioctl(self->vm, KVM_CREATE_VCPU, 3));
	/* Ids below KVM_CAP_MAX_VCPU_ID, and only those. */
	EXPECT_EQ(-EINVAL, kioctl(self->vm, KVM_CREATE_VCPU, max_id));
	EXPECT_EQ(-EINVAL, kioctl(self->vm, KVM_CREATE_VCPU, 0xffffffffu));
	EXPECT_EQ(-EINVAL, kioctl(self->vm, KVM_CREATE_VCPU, 0x80000000u));
	last = kioctl(self->vm, KVM_CREATE_VCPU, max_id - 1);
	EXPECT_GE(last, 0) TH_LOG("vCPU %ld: %s", max_id - 1, strerror((int)-last));
	/* A refused id does not use up anything: a new id still works. */
	close(fd[0]);
	fd[0] = kioctl(self->vm, KVM_CREATE_VCPU, 7);
	EXPECT_GE(fd[0], 0);
	/* Closing a vCPU fd does not destroy the vCPU: its id stays taken. */
	EXPECT_EQ(-EEXIST, kioctl(self->vm, KVM_CREATE_VCPU, 0));
	for (i = 0; i < 4; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	if (last >= 0)
		close(last);
}

TEST_F(vm, create_vcpu_id_is_32_bits)
{
	/* KVM takes the id as a u32: the upper half of the argument is ignored. */
	long fd = kioctl(self->vm, KVM_CREATE_VCPU, (1ul << 32) | 5);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-EEXIST, kioctl(self->vm, KVM_CREATE_VCPU, 5));
	close(fd);
}

TEST_F(vm, vcpu_fd_is_cloexec_and_read_write)
{
	long fd = kioctl(self->vm, KVM_CREATE_VCPU, 0);

	ASSERT_GE(fd, 0);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(O_RDWR, fcntl(fd, F_GETFL) & O_ACCMODE);
	close(fd);
}

TEST_F_TIMEOUT(vm, create_max_vcpus, 600)
{
	long max_vcpus = kioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	long max_id = kioctl(self->dev, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);
	long *fd, i, r;

	ASSERT_GT(max_vcpus, 0);
	if (max_vcpus > 8192)
		SKIP(return, "KVM_CAP_MAX_VCPUS %ld: too many to create here", max_vcpus);
	ASSERT_TRUE(allow_open_files(max_vcpus)) TH_LOG("cannot raise RLIMIT_NOFILE");
	fd = calloc(max_vcpus, sizeof(*fd));
	ASSERT_NE(NULL, fd);
	for (i = 0; i < max_vcpus; i++) {
		fd[i] = kioctl(self->vm, KVM_CREATE_VCPU, i);
		ASSERT_GE(fd[i], 0) TH_LOG("vCPU %ld of %ld: %s", i, max_vcpus,
					   strerror((int)-fd[i]));
	}
	/*
	 * The VM is full: every further KVM_CREATE_VCPU is -EINVAL, a new id
	 * as well as a taken one (the count is checked before the id).
	 */
	if (max_id > max_vcpus) {
		EXPECT_EQ(-EINVAL, kioctl(self->vm, KVM_CREATE_VCPU, max_vcpus));
	}
	EXPECT_EQ(-EINVAL, kioctl(self->vm, KVM_CREATE_VCPU, 0));
	EXPECT_EQ(-EINVAL, kioctl(self->vm, KVM_CREATE_VCPU, max_id - 1));
	/* All of them still answer. */
	for (i = 0; i < max_vcpus; i++) {
		struct kvm_regs regs;

		r = kioctl_p(fd[i], KVM_GET_REGS, &regs);
		if (r) {
			EXPECT_EQ(0, r) TH_LOG("vCPU %ld", i);
			break;
		}
	}
	for (i = 0; i < max_vcpus; i++)
		close(fd[i]);
	free(fd);
}

/* ---- ioctls on the wrong fd, unknown ioctls, other processes ---- */

TEST_F(vm, vm_ioctls_elsewhere_and_unknown_ioctls)
{
	struct kvm_userspace_memory_region r = {
		.slot = 0, .memory_size = PAGE, .userspace_addr = self->uaddr,
	};
	long vcpu = kioctl(self->vm, KVM_CREATE_VCPU, 0);

	ASSERT_GE(vcpu, 0);
	/* A vCPU fd refuses VM and system ioctls with -EINVAL (kvm_vcpu_ioctl). */
	EXPECT_EQ(-EINVAL, kioctl(vcpu, KVM_CREATE_VCPU, 1));
	EXPECT_EQ(-EINVAL, kioctl_p(vcpu, KVM_SET_USER_MEMORY_REGION, &r));
	EXPECT_EQ(-EINVAL, kioctl(vcpu, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY));
	EXPECT_EQ(-EINVAL, kioctl(vcpu, KVM_GET_API_VERSION, 0));
	EXPECT_EQ(-EINVAL, kioctl(vcpu, KVM_CREATE_VM, 0));
	EXPECT_EQ(-EINVAL, kioctl(vcpu, KVM_GET_VCPU_MMAP_SIZE, 0));
	/* The system device does not know VM ioctls. */
	EXPECT_EQ(dev_unknown_ioctl_errno(), kioctl(self->dev, KVM_CREATE_VCPU, 0));
	EXPECT_EQ(dev_unknown_ioctl_errno(),
		  kioctl_p(self->dev, KVM_SET_USER_MEMORY_REGION, &r));
	/* Nothing above created a slot or a second vCPU. */
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, 0, self->uaddr));
	close(vcpu);
	vcpu = kioctl(self->vm, KVM_CREATE_VCPU, 1);
	EXPECT_GE(vcpu, 0);
	close(vcpu);

	/* Unknown VM ioctls: -ENOTTY (kvm_arch_vm_ioctl). */
	EXPECT_EQ(-ENOTTY, kioctl(self->vm, _IO(KVMIO, 0xff), 0));
	EXPECT_EQ(-ENOTTY, kioctl(self->vm, TCGETS, 0));
	EXPECT_EQ(-ENOTTY, kioctl(self->vm, 0xffffffffu, ~0ul));
	EXPECT_EQ(-ENOTTY, kioctl(self->vm, _IO('Z', 0x46), 0));
	/* The right number with the wrong size is another ioctl. */
	EXPECT_EQ(-ENOTTY, kioctl_p(self->vm, _IOW(KVMIO, 0x46, __u64), &r));
	EXPECT_EQ(-ENOTTY, kioctl_p(self->vm, _IOR(KVMIO, 0x46,
						   struct kvm_userspace_memory_region), &r));
	EXPECT_EQ(-ENOTTY, kioctl(self->vm, _IOW(KVMIO, 0x41, int), 0));
	/* System ioctls are not VM ioctls. */
	EXPECT_EQ(-ENOTTY, kioctl(self->vm, KVM_GET_VCPU_MMAP_SIZE, 0));
	EXPECT_EQ(-ENOTTY, kioctl(self->vm, KVM_CREATE_VM, 0));
}

static long child_vm_ioctls(int vm)
{
	struct kvm_userspace_memory_region r = { .memory_size = PAGE, .userspace_addr = PAGE };

	/*
	 * A VM belongs to the mm that created it: every VM ioctl from
	 * another process is -EIO, before the ioctl number is even looked at.
	 */
	if (kioctl(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) != -EIO)
		return 1;
	if (kioctl(vm, KVM_CREATE_VCPU, 0) != -EIO)
		return 2;
	if (kioctl_p(vm, KVM_SET_USER_MEMORY_REGION, &r) != -EIO)
		return 3;
	if (kioctl(vm, _IO(KVMIO, 0xff), 0) != -EIO)
		return 4;
	if (kioctl(vm, KVM_SET_USER_MEMORY_REGION, 0) != -EIO)
		return 5;
	return 0;
}

TEST_F(vm, other_process_gets_eio)
{
	long vcpu;

	EXPECT_EQ(0, in_child(child_vm_ioctls, self->vm));
	/* The child created nothing; the VM still works for its owner. */
	vcpu = kioctl(self->vm, KVM_CREATE_VCPU, 0);
	EXPECT_GE(vcpu, 0);
	EXPECT_EQ(-EINVAL, set_region(self->vm, 0, 0, 0, 0, PAGE));
	if (vcpu >= 0)
		close(vcpu);
}

/* ---- closing in odd orders ---- */

TEST_F(vm, vm_fd_closed_while_vcpus_and_slots_live)
{
	struct kvm_regs regs;
	long v0, v1;

	ASSERT_EQ(0, set_region(self->vm, 0, 0, 0, 4 * PAGE, self->uaddr));
	v0 = kioctl(self->vm, KVM_CREATE_VCPU, 0);
	v1 = kioctl(self->vm, KVM_CREATE_VCPU, 1);
	ASSERT_GE(v0, 0);
	ASSERT_GE(v1, 0);
	/* The vCPUs hold the VM: it outlives its fd and the device fd. */
	EXPECT_EQ(0, close(self->vm));
	self->vm = -1;
	EXPECT_EQ(0, close(self->dev));
	self->dev = -1;
	EXPECT_EQ(0, kioctl_p(v1, KVM_GET_REGS, &regs));
	EXPECT_EQ(0, close(v1));
	EXPECT_EQ(0, kioctl_p(v0, KVM_GET_REGS, &regs));
	/* The slot's memory may go away before the VM does. */
	EXPECT_EQ(0, munmap(self->mem, SLOT_MEM_PAGES * PAGE));
	self->mem = MAP_FAILED;
	EXPECT_EQ(0, close(v0));
	/* Closed fds are closed. */
	EXPECT_EQ(-EBADF, kioctl_p(v0, KVM_GET_REGS, &regs));
}

TEST(many_vms_with_vcpus_closed_in_mixed_order)
{
	enum { N = 8 };
	int dev = open_kvm_dev(), i;
	long vm[N], vcpu[N];

	ASSERT_GE(dev, 0);
	for (i = 0; i < N; i++) {
		vm[i] = kioctl(dev, KVM_CREATE_VM, 0);
		ASSERT_GE(vm[i], 0);
		vcpu[i] = kioctl(vm[i], KVM_CREATE_VCPU, i);
		ASSERT_GE(vcpu[i], 0);
	}
	/* vCPU ids are per VM: id 0 is free in every VM. */
	for (i = 1; i < N; i++) {
		long v = kioctl(vm[i], KVM_CREATE_VCPU, 0);

		EXPECT_GE(v, 0);
		if (v >= 0)
			close(v);
	}
	/* Even VMs: VM fd first; odd ones: vCPU fd first. */
	for (i = 0; i < N; i++) {
		if (i % 2 == 0) {
			EXPECT_EQ(0, close(vm[i]));
			EXPECT_EQ(0, close(vcpu[i]));
		} else {
			EXPECT_EQ(0, close(vcpu[i]));
			EXPECT_EQ(0, close(vm[i]));
		}
	}
	close(dev);
}

TEST_HARNESS_MAIN
