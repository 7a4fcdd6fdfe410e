/* Unit tests for mm/pt.c: page tables live in a host array posing as physical memory, with
 * allocation that counts live tables (leaks, double frees, use after free) and can be told to
 * fail; then every rule of the API, and random operations checked against a reference model. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "kernel/errno.h"
#include "kernel/x86.h"
#include "mm/layout.h"
#include "mm/pt.h"

/* ---- simulated physical memory for tables ---- */

#define SIM_PAGES 512
/* high address bits set, so that sloppy masking of entries shows */
#define SIM_BASE 0x000ab00000000000ULL
#define POISON 0xa5 /* a freed table reads as present entries pointing nowhere */

static u8 sim_mem[SIM_PAGES][PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));
static bool sim_used[SIM_PAGES];
static int sim_live, sim_allocs, sim_fail_after; /* fail_after < 0: never fail */

static size_t sim_slot(paddr_t pa)
{
	if (pa < SIM_BASE || pa >= SIM_BASE + SIM_PAGES * PAGE_SIZE || pa % PAGE_SIZE)
		fail_msg("not a table address: %#llx", (unsigned long long)pa);
	return (pa - SIM_BASE) / PAGE_SIZE;
}

static paddr_t sim_alloc(void *ctx)
{
	(void)ctx;
	if (sim_fail_after == 0)
		return 0;
	if (sim_fail_after > 0)
		sim_fail_after--;
	for (size_t i = 0; i < SIM_PAGES; i++) {
		if (sim_used[i])
			continue;
		sim_used[i] = true;
		memset(sim_mem[i], 0, PAGE_SIZE);
		sim_live++;
		sim_allocs++;
		return SIM_BASE + i * PAGE_SIZE;
	}
	fail_msg("simulated memory exhausted");
	return 0;
}

static void sim_free(void *ctx, paddr_t pa)
{
	size_t i = sim_slot(pa);

	(void)ctx;
	if (!sim_used[i])
		fail_msg("double free of %#llx", (unsigned long long)pa);
	sim_used[i] = false;
	memset(sim_mem[i], POISON, PAGE_SIZE);
	sim_live--;
}

static void *sim_virt(void *ctx, paddr_t pa)
{
	size_t i = sim_slot(pa);

	(void)ctx;
	if (!sim_used[i])
		fail_msg("use of freed table %#llx", (unsigned long long)pa);
	return sim_mem[i];
}

static const struct pt_ops sim_ops = { sim_alloc, sim_free, sim_virt, NULL };

static u64 *sim_table(paddr_t pa)
{
	return sim_virt(NULL, pa);
}

static int setup(void **state)
{
	(void)state;
	memset(sim_used, 0, sizeof(sim_used));
	memset(sim_mem, POISON, sizeof(sim_mem));
	sim_live = 0;
	sim_allocs = 0;
	sim_fail_after = -1;
	return 0;
}

/* ---- helpers ---- */

#define P4K PAGE_SIZE
#define P2M LARGE_PAGE_SIZE
#define KVA(x) (0xffff800000000000ULL | (x)) /* PML4 slot 256 upwards */
#define IMAGE_VA 0xffffffff80000000ULL      /* PML4 slot 511 */

static struct pt new_pt(void)
{
	struct pt pt;

	assert_int_equal(pt_init(&pt, &sim_ops), 0);
	return pt;
}

static unsigned int idx(u64 va, int level)
{
	return (va >> (12 + 9 * (level - 1))) & 511;
}

/* The entry at `level` on the way to va, read straight from the simulated memory. */
static u64 *entry_at(const struct pt *pt, u64 va, int level)
{
	paddr_t table = pt->root;

	for (int l = 4; l > level; l--)
		table = sim_table(table)[idx(va, l)] & PT_ADDR_MASK;
	return &sim_table(table)[idx(va, level)];
}

static void expect_lookup(const struct pt *pt, u64 va, paddr_t want_pa, u64 want_pte, u64 want_size)
{
	paddr_t pa = 0;
	u64 pte = 0, size = 0;

	assert_int_equal(pt_lookup(pt, va, &pa, &pte, &size), 0);
	assert_int_equal(pa, want_pa);
	assert_int_equal(pte, want_pte);
	assert_int_equal(size, want_size);
}

static void expect_unmapped(const struct pt *pt, u64 va)
{
	assert_int_equal(pt_lookup(pt, va, NULL, NULL, NULL), -ENOENT);
}

static bool on_freelist(const struct pt_freelist *fl, paddr_t pa)
{
	for (u32 i = 0; i < fl->n; i++)
		if (fl->pages[i] == pa)
			return true;
	return false;
}

/* ---- tests ---- */

static void test_init_destroy(void **state)
{
	(void)state;
	struct pt pt = new_pt();

	assert_int_equal(sim_live, 1);
	for (int i = 0; i < PT_ENTRIES; i++)
		assert_int_equal(sim_table(pt.root)[i], 0);
	pt_destroy(&pt);
	assert_int_equal(sim_live, 0);

	sim_fail_after = 0;
	assert_int_equal(pt_init(&pt, &sim_ops), -ENOMEM);
	assert_int_equal(sim_live, 0);
}

static void test_map_lookup_4k(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	u64 va = 0x400000, pa = 0x12345000;

	assert_int_equal(pt_map(&pt, va, pa, P4K, PTE_W | PTE_NX), 0);
	assert_int_equal(sim_live, 4);
	expect_lookup(&pt, va, pa, pa | PTE_P | PTE_W | PTE_NX, P4K);
	expect_lookup(&pt, va + 0x123, pa + 0x123, pa | PTE_P | PTE_W | PTE_NX, P4K);
	expect_lookup(&pt, va + 0xfff, pa + 0xfff, pa | PTE_P | PTE_W | PTE_NX, P4K);
	expect_unmapped(&pt, va + P4K);
	expect_unmapped(&pt, va - 1);
	assert_int_equal(pt_lookup(&pt, va, NULL, NULL, NULL), 0);

	/* the highest physical address an entry can hold, and every allowed flag */
	pa = 0x000ffffffffff000ULL;
	assert_int_equal(pt_map(&pt, va + P4K, pa, P4K,
				PTE_W | PTE_U | PTE_PWT | PTE_PCD | PTE_A | PTE_D | PTE_G | PTE_NX), 0);
	expect_lookup(&pt, va + P4K + 0x800, pa + 0x800,
		      pa | PTE_P | PTE_W | PTE_U | PTE_PWT | PTE_PCD | PTE_A | PTE_D | PTE_G | PTE_NX,
		      P4K);
	/* PTE_P is implied, so asking for it is harmless */
	assert_int_equal(pt_map(&pt, va + 2 * P4K, 0x7000, P4K, PTE_P), 0);
	expect_lookup(&pt, va + 2 * P4K, 0x7000, 0x7000 | PTE_P, P4K);
	assert_int_equal(sim_live, 4);

	/* the last page of the lower half */
	assert_int_equal(pt_map(&pt, 0x00007ffffffff000ULL, 0x8000, P4K, PTE_U), 0);
	expect_lookup(&pt, 0x00007fffffffffffULL, 0x8fff, 0x8000 | PTE_P | PTE_U, P4K);
	assert_int_equal(sim_live, 7);

	/* kernel half: the direct map's slot, the image's slot and the very last page */
	assert_int_equal(pt_map(&pt, KVA(0x1000), 0x5000, P4K, PTE_W | PTE_G | PTE_NX), 0);
	expect_lookup(&pt, KVA(0x1abc), 0x5abc, 0x5000 | PTE_P | PTE_W | PTE_G | PTE_NX, P4K);
	assert_int_equal(pt_map(&pt, IMAGE_VA + 0x201000, 0x201000, P4K, PTE_G), 0);
	expect_lookup(&pt, IMAGE_VA + 0x201fff, 0x201fff, 0x201000 | PTE_P | PTE_G, P4K);
	assert_int_equal(pt_map(&pt, 0xfffffffffffff000ULL, 0x9000, P4K, 0), 0);
	expect_lookup(&pt, 0xffffffffffffffffULL, 0x9fff, 0x9000 | PTE_P, P4K);
	assert_int_equal(sim_live, 7 + 3 + 3 + 2); /* the last page shares the image's PDPT */

	pt_destroy(&pt);
	assert_int_equal(sim_live, 3 + 3 + 2); /* the kernel half is never freed */
}

static void test_map_lookup_2m(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	u64 pa = 0x000fffffffe00000ULL;

	assert_int_equal(pt_map(&pt, 0x200000, 0x40000000, P2M, PTE_W), 0);
	assert_int_equal(sim_live, 3); /* no PT */
	expect_lookup(&pt, 0x200000, 0x40000000, 0x40000000 | PTE_P | PTE_W | PTE_PS, P2M);
	expect_lookup(&pt, 0x3fffff, 0x401fffff, 0x40000000 | PTE_P | PTE_W | PTE_PS, P2M);
	expect_lookup(&pt, 0x212345, 0x40012345, 0x40000000 | PTE_P | PTE_W | PTE_PS, P2M);
	expect_unmapped(&pt, 0x1fffff);
	expect_unmapped(&pt, 0x400000);

	assert_int_equal(pt_map(&pt, 0x7fffffe00000ULL, pa, P2M, PTE_U | PTE_NX), 0);
	expect_lookup(&pt, 0x7fffffffffffULL, pa + 0x1fffff, pa | PTE_P | PTE_U | PTE_NX | PTE_PS, P2M);

	assert_int_equal(pt_map(&pt, KVA(0x200000), 0x200000, P2M, PTE_W | PTE_G), 0);
	expect_lookup(&pt, KVA(0x3ffff8), 0x3ffff8, 0x200000 | PTE_P | PTE_W | PTE_G | PTE_PS, P2M);
	assert_int_equal(pt_map(&pt, IMAGE_VA, 0, P2M, PTE_G), 0);
	expect_lookup(&pt, IMAGE_VA + 0x1234, 0x1234, PTE_P | PTE_G | PTE_PS, P2M);

	/* a PAT bit (bit 12) someone else set in a large page is not part of the address */
	*entry_at(&pt, 0x200000, 2) |= 1 << 12;
	expect_lookup(&pt, 0x200010, 0x40000010, 0x40001000 | PTE_P | PTE_W | PTE_PS, P2M);

	pt_destroy(&pt);
	assert_int_equal(sim_live, 2 + 2);
}

/* A 1 GiB page that something other than pt_map() installed. */
static void test_lookup_1g(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	u64 giant = 0x80000000, pte = 0x140000000ULL | PTE_P | PTE_W | PTE_PS;
	struct pt_freelist fl = { 0 };

	assert_int_equal(pt_map(&pt, 0x1000, 0x1000, P4K, 0), 0);
	*entry_at(&pt, giant, 3) = pte;
	expect_lookup(&pt, giant + 0x12345678, 0x152345678ULL, pte, PT_HUGE_PAGE_SIZE);
	assert_int_equal(pt_map(&pt, giant + 0x5000, 0x5000, P4K, 0), -EEXIST);
	assert_int_equal(pt_map(&pt, giant + P2M, 0, P2M, 0), -EEXIST);
	assert_int_equal(pt_unmap(&pt, giant, P4K, NULL, &fl), -EINVAL);
	assert_int_equal(pt_unmap(&pt, giant, P2M, NULL, &fl), -EINVAL);
	assert_int_equal(pt_protect(&pt, giant, P2M, PTE_NX, 0, NULL), -EINVAL);
	assert_int_equal(fl.n, 0);
	assert_int_equal(sim_live, 4);
	pt_destroy(&pt); /* a large page is a leaf, not a table to free */
	assert_int_equal(sim_live, 0);
}

/* 1 GiB pages through pt_map() (for the direct map, where the CPU has them). */
static void test_map_1g(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	struct pt_freelist fl = { 0 };
	u64 va = 0x40000000, pa = 0x000fffffc0000000ULL, old = 0;

	assert_int_equal(pt_map(&pt, va, pa, PT_HUGE_PAGE_SIZE, PTE_W | PTE_NX), 0);
	assert_int_equal(sim_live, 2); /* the root and a PDPT */
	expect_lookup(&pt, va + 0x3fffffff, pa + 0x3fffffff, pa | PTE_P | PTE_W | PTE_NX | PTE_PS,
		      PT_HUGE_PAGE_SIZE);
	assert_int_equal(pt_map(&pt, va + P2M, 0, P2M, 0), -EEXIST);
	assert_int_equal(pt_map(&pt, va + P4K, 0, P4K, 0), -EEXIST);
	assert_int_equal(pt_map(&pt, va, 0, PT_HUGE_PAGE_SIZE, 0), -EEXIST);
	assert_int_equal(pt_unmap(&pt, va, P2M, NULL, &fl), -EINVAL);
	assert_int_equal(pt_map(&pt, va + P2M, 0, PT_HUGE_PAGE_SIZE, 0), -EINVAL);
	assert_int_equal(pt_map(&pt, 0x80000000, P2M, PT_HUGE_PAGE_SIZE, 0), -EINVAL);
	assert_int_equal(pt_protect(&pt, va, PT_HUGE_PAGE_SIZE, 0, PTE_W, &old), 0);
	assert_int_equal(old, pa | PTE_P | PTE_W | PTE_NX | PTE_PS);

	/* over a PD with an entry */
	assert_int_equal(pt_map(&pt, 0x80000000 + 0x7ff000, 0, P4K, 0), 0);
	assert_int_equal(pt_map(&pt, 0x80000000, 0, PT_HUGE_PAGE_SIZE, 0), -EEXIST);

	/* the last leaf of the PDPT goes: the PDPT with it */
	assert_int_equal(pt_unmap(&pt, 0x80000000 + 0x7ff000, P4K, NULL, &fl), 0);
	assert_int_equal(fl.n, 2);
	pt_release(&pt, &fl);
	assert_int_equal(pt_unmap(&pt, va, PT_HUGE_PAGE_SIZE, &old, &fl), 0);
	assert_int_equal(old, pa | PTE_P | PTE_NX | PTE_PS);
	assert_int_equal(fl.n, 1);
	pt_release(&pt, &fl);
	assert_int_equal(sim_live, 1);

	/* kernel half */
	assert_int_equal(pt_map(&pt, KVA(0), 0, PT_HUGE_PAGE_SIZE, PTE_W | PTE_G), 0);
	expect_lookup(&pt, KVA(0x12345678), 0x12345678, PTE_P | PTE_W | PTE_G | PTE_PS,
		      PT_HUGE_PAGE_SIZE);
	pt_destroy(&pt);
	assert_int_equal(sim_live, 1);
}

/* Remapping in one store keeps the flags and only moves the frame. */
static void test_replace(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	u64 old = 0;

	assert_int_equal(pt_map(&pt, 0x400000, 0x5000, P4K, PTE_W | PTE_NX | PTE_G), 0);
	assert_int_equal(pt_replace(&pt, 0x400000, P4K, 0x000ffffffffff000ULL, &old), 0);
	assert_int_equal(old, 0x5000 | PTE_P | PTE_W | PTE_NX | PTE_G);
	expect_lookup(&pt, 0x400abc, 0x000ffffffffffabcULL,
		      0x000ffffffffff000ULL | PTE_P | PTE_W | PTE_NX | PTE_G, P4K);
	assert_int_equal(pt_replace(&pt, 0x400000, P4K, 0x6000, NULL), 0);
	expect_lookup(&pt, 0x400000, 0x6000, 0x6000 | PTE_P | PTE_W | PTE_NX | PTE_G, P4K);

	assert_int_equal(pt_replace(&pt, 0x400000, P4K, 0x6800, NULL), -EINVAL);
	assert_int_equal(pt_replace(&pt, 0x400000, P4K, 1ULL << 52, NULL), -EINVAL);
	assert_int_equal(pt_replace(&pt, 0x400000, P2M, 0x200000, NULL), -EINVAL);
	assert_int_equal(pt_replace(&pt, 0x401000, P4K, 0x6000, NULL), -ENOENT);
	assert_int_equal(pt_replace(&pt, 0x400800, P4K, 0x6000, NULL), -EINVAL);

	assert_int_equal(pt_map(&pt, KVA(0x200000), 0x200000, P2M, PTE_W), 0);
	assert_int_equal(pt_replace(&pt, KVA(0x200000), P2M, 0x201000, NULL), -EINVAL);
	assert_int_equal(pt_replace(&pt, KVA(0x200000), P2M, 0x600000, &old), 0);
	assert_int_equal(old, 0x200000 | PTE_P | PTE_W | PTE_PS);
	expect_lookup(&pt, KVA(0x212345), 0x612345, 0x600000 | PTE_P | PTE_W | PTE_PS, P2M);
	expect_lookup(&pt, 0x400000, 0x6000, 0x6000 | PTE_P | PTE_W | PTE_NX | PTE_G, P4K);
	assert_int_equal(sim_live, 6);
	pt_destroy(&pt);
	assert_int_equal(sim_live, 2);
}

static void test_eexist(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	struct pt_freelist fl = { 0 };
	int live;

	/* 4 KiB inside a 2 MiB page */
	assert_int_equal(pt_map(&pt, 0x200000, 0x200000, P2M, 0), 0);
	live = sim_live;
	assert_int_equal(pt_map(&pt, 0x200000, 0x1000, P4K, 0), -EEXIST);
	assert_int_equal(pt_map(&pt, 0x3ff000, 0x1000, P4K, 0), -EEXIST);
	assert_int_equal(pt_map(&pt, 0x200000, 0x400000, P2M, 0), -EEXIST);

	/* 2 MiB over a page table with an entry, wherever that entry is */
	assert_int_equal(pt_map(&pt, 0x7ff000, 0x1000, P4K, 0), 0);
	live = sim_live;
	assert_int_equal(pt_map(&pt, 0x600000, 0x600000, P2M, 0), -EEXIST);
	assert_int_equal(pt_map(&pt, 0x7ff000, 0x2000, P4K, 0), -EEXIST);
	assert_int_equal(sim_live, live);
	expect_lookup(&pt, 0x7ff000, 0x1000, 0x1000 | PTE_P, P4K);
	expect_lookup(&pt, 0x200000, 0x200000, 0x200000 | PTE_P | PTE_PS, P2M);

	/* the neighbours are free */
	assert_int_equal(pt_map(&pt, 0x7fe000, 0x3000, P4K, 0), 0);
	assert_int_equal(pt_map(&pt, 0x800000, 0x800000, P2M, 0), 0);

	/* a kernel-half page table stays after its last page goes, and still occupies the slot */
	assert_int_equal(pt_map(&pt, KVA(0x400000), 0x1000, P4K, 0), 0);
	assert_int_equal(pt_unmap(&pt, KVA(0x400000), P4K, NULL, &fl), 0);
	assert_int_equal(fl.n, 0);
	assert_int_equal(pt_map(&pt, KVA(0x400000), 0x400000, P2M, 0), -EEXIST);
	assert_int_equal(pt_map(&pt, KVA(0x401000), 0x1000, P4K, 0), 0);
	pt_destroy(&pt);
}

static void test_einval(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	struct pt_freelist fl = { 0 };
	static const u64 bad_sizes[] = { 0, 1, 0x800, 0x2000, 0x100000, 0x400000, 0x80000000 };
	static const u64 bad_flags[] = { PTE_PS, 1 << 9, 1 << 11, 1 << 12, 1ULL << 51, 1ULL << 52,
					 1ULL << 62, ~0ULL };
	static const u64 non_canonical[] = { 0x0000800000000000ULL, 0x8000000000000000ULL,
					     0xffff7ffffffff000ULL, 0x00fffffffffff000ULL };

	for (size_t i = 0; i < ARRAY_SIZE(bad_sizes); i++)
		assert_int_equal(pt_map(&pt, 0, 0, bad_sizes[i], 0), -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(bad_flags); i++)
		assert_int_equal(pt_map(&pt, 0x1000, 0x1000, P4K, bad_flags[i]), -EINVAL);
	for (size_t i = 0; i < ARRAY_SIZE(non_canonical); i++) {
		assert_int_equal(pt_map(&pt, non_canonical[i], 0, P4K, 0), -EINVAL);
		assert_int_equal(pt_unmap(&pt, non_canonical[i], P4K, NULL, &fl), -EINVAL);
		assert_int_equal(pt_protect(&pt, non_canonical[i], P4K, PTE_W, 0, NULL), -EINVAL);
		assert_int_equal(pt_lookup(&pt, non_canonical[i], NULL, NULL, NULL), -EINVAL);
	}
	assert_int_equal(pt_map(&pt, 0x1001, 0x1000, P4K, 0), -EINVAL);	/* va */
	assert_int_equal(pt_map(&pt, 0x1000, 0x1800, P4K, 0), -EINVAL);	/* pa */
	assert_int_equal(pt_map(&pt, 0x201000, 0x200000, P2M, 0), -EINVAL);	/* va for 2 MiB */
	assert_int_equal(pt_map(&pt, 0x200000, 0x201000, P2M, 0), -EINVAL);	/* pa for 2 MiB */
	assert_int_equal(pt_map(&pt, 0x1000, 1ULL << 52, P4K, 0), -EINVAL);	/* beyond 52 bits */
	assert_int_equal(pt_map(&pt, 0x200000, 1ULL << 63, P2M, 0), -EINVAL);
	assert_int_equal(sim_live, 1); /* nothing was built on the way */

	/* unmap and protect of the wrong size */
	assert_int_equal(pt_map(&pt, 0x200000, 0x200000, P2M, PTE_W), 0);
	assert_int_equal(pt_map(&pt, 0x400000, 0x400000, P4K, PTE_W), 0);
	assert_int_equal(pt_unmap(&pt, 0x200000, P4K, NULL, &fl), -EINVAL);
	assert_int_equal(pt_unmap(&pt, 0x201000, P4K, NULL, &fl), -EINVAL);
	assert_int_equal(pt_unmap(&pt, 0x400000, P2M, NULL, &fl), -EINVAL);
	assert_int_equal(pt_unmap(&pt, 0x400000, 0x2000, NULL, &fl), -EINVAL);
	assert_int_equal(pt_unmap(&pt, 0x401000, P2M, NULL, &fl), -EINVAL);	/* misaligned */
	assert_int_equal(pt_protect(&pt, 0x200000, P4K, 0, PTE_W, NULL), -EINVAL);
	assert_int_equal(pt_protect(&pt, 0x400000, P2M, 0, PTE_W, NULL), -EINVAL);
	assert_int_equal(fl.n, 0);
	expect_lookup(&pt, 0x200000, 0x200000, 0x200000 | PTE_P | PTE_W | PTE_PS, P2M);
	expect_lookup(&pt, 0x400000, 0x400000, 0x400000 | PTE_P | PTE_W, P4K);
	pt_destroy(&pt);
	assert_int_equal(sim_live, 0);
}

static void test_enoent(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	struct pt_freelist fl = { 0 };
	u64 old = 0x1234;

	expect_unmapped(&pt, 0);
	expect_unmapped(&pt, KVA(0));
	assert_int_equal(pt_unmap(&pt, 0x1000, P4K, &old, &fl), -ENOENT);
	assert_int_equal(pt_unmap(&pt, 0x200000, P2M, &old, &fl), -ENOENT);
	assert_int_equal(pt_protect(&pt, 0x1000, P4K, PTE_W, 0, &old), -ENOENT);
	assert_int_equal(old, 0x1234);

	/* tables on the way, but nothing at va */
	assert_int_equal(pt_map(&pt, 0x401000, 0x1000, P4K, 0), 0);
	assert_int_equal(pt_unmap(&pt, 0x400000, P4K, NULL, &fl), -ENOENT);
	assert_int_equal(pt_unmap(&pt, 0x400000, P2M, NULL, &fl), -ENOENT);
	assert_int_equal(pt_unmap(&pt, 0x600000, P2M, NULL, &fl), -ENOENT);
	assert_int_equal(pt_protect(&pt, 0x402000, P4K, 0, 0, NULL), -ENOENT);
	expect_unmapped(&pt, 0x400fff);
	expect_unmapped(&pt, 0x402000);
	assert_int_equal(fl.n, 0);
	pt_destroy(&pt);
	assert_int_equal(sim_live, 0);
}

/* Intermediate entries are P|W(|U) and never NX, so the leaf alone decides. */
static void test_intermediate_entries(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	u64 va = 0x8000400000ULL;

	assert_int_equal(pt_map(&pt, va, 0x1000, P4K, PTE_NX), 0);
	for (int level = 4; level > 1; level--)
		assert_int_equal(*entry_at(&pt, va, level) & ~PT_ADDR_MASK, PTE_P | PTE_W);
	/* a user page under the same tables makes them user-accessible */
	assert_int_equal(pt_map(&pt, va + P4K, 0x2000, P4K, PTE_U | PTE_NX), 0);
	for (int level = 4; level > 1; level--)
		assert_int_equal(*entry_at(&pt, va, level) & ~PT_ADDR_MASK, PTE_P | PTE_W | PTE_U);
	expect_lookup(&pt, va, 0x1000, 0x1000 | PTE_P | PTE_NX, P4K);

	assert_int_equal(pt_map(&pt, 0x40000000, 0, P2M, PTE_U), 0);
	for (int level = 4; level > 2; level--)
		assert_int_equal(*entry_at(&pt, 0x40000000, level) & ~PT_ADDR_MASK,
				 PTE_P | PTE_W | PTE_U);
	pt_destroy(&pt);
	assert_int_equal(sim_live, 0);
}

static void test_protect(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	u64 va = 0x400000, pa = 0x9000, old = 0;
	static const u64 fixed[] = { PTE_P, PTE_PS, 1 << 12, 1ULL << 51, PT_ADDR_MASK };

	assert_int_equal(pt_map(&pt, va, pa, P4K, PTE_W | PTE_NX), 0);
	assert_int_equal(pt_protect(&pt, va, P4K, 0, PTE_W, &old), 0);
	assert_int_equal(old, pa | PTE_P | PTE_W | PTE_NX);
	expect_lookup(&pt, va, pa, pa | PTE_P | PTE_NX, P4K);
	assert_int_equal(pt_protect(&pt, va, P4K, PTE_W, PTE_NX, &old), 0);
	assert_int_equal(old, pa | PTE_P | PTE_NX);
	expect_lookup(&pt, va, pa, pa | PTE_P | PTE_W, P4K);
	assert_int_equal(pt_protect(&pt, va, P4K, PTE_A | PTE_D | PTE_G, 0, NULL), 0);
	expect_lookup(&pt, va, pa, pa | PTE_P | PTE_W | PTE_A | PTE_D | PTE_G, P4K);
	/* clear wins over set */
	assert_int_equal(pt_protect(&pt, va, P4K, PTE_NX, PTE_NX | PTE_A | PTE_D, &old), 0);
	assert_int_equal(old, pa | PTE_P | PTE_W | PTE_A | PTE_D | PTE_G);
	expect_lookup(&pt, va, pa, pa | PTE_P | PTE_W | PTE_G, P4K);

	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++) {
		assert_int_equal(pt_protect(&pt, va, P4K, fixed[i], 0, NULL), -EINVAL);
		assert_int_equal(pt_protect(&pt, va, P4K, 0, fixed[i], NULL), -EINVAL);
	}
	expect_lookup(&pt, va, pa, pa | PTE_P | PTE_W | PTE_G, P4K);

	/* 2 MiB, kernel half */
	assert_int_equal(pt_map(&pt, KVA(0x200000), 0x200000, P2M, PTE_W), 0);
	assert_int_equal(pt_protect(&pt, KVA(0x200000), P2M, PTE_NX, PTE_W, &old), 0);
	assert_int_equal(old, 0x200000 | PTE_P | PTE_W | PTE_PS);
	expect_lookup(&pt, KVA(0x200000), 0x200000, 0x200000 | PTE_P | PTE_NX | PTE_PS, P2M);
	assert_int_equal(pt_protect(&pt, KVA(0x200000), P2M, 0, PTE_PS, NULL), -EINVAL);

	/* making a kernel-only page user-accessible opens the tables above it too */
	for (int level = 4; level > 1; level--)
		assert_int_equal(*entry_at(&pt, va, level) & PTE_U, 0);
	assert_int_equal(pt_protect(&pt, va, P4K, PTE_U, 0, NULL), 0);
	for (int level = 4; level > 1; level--)
		assert_int_equal(*entry_at(&pt, va, level) & PTE_U, PTE_U);
	expect_lookup(&pt, va, pa, pa | PTE_P | PTE_W | PTE_G | PTE_U, P4K);
	/* taking U away again leaves the tables alone: the leaf decides */
	assert_int_equal(pt_protect(&pt, va, P4K, 0, PTE_U, NULL), 0);
	assert_int_equal(*entry_at(&pt, va, 2) & PTE_U, PTE_U);
	pt_destroy(&pt);
	assert_int_equal(sim_live, 2);
}

static void test_unmap_frees_tables(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	struct pt_freelist fl = { 0 };
	u64 va = 0x7f0000201000ULL, old = 0;
	paddr_t pdpt, pd, ptab;

	assert_int_equal(pt_map(&pt, va, 0x5000, P4K, PTE_W), 0);
	assert_int_equal(sim_live, 4);
	pdpt = *entry_at(&pt, va, 4) & PT_ADDR_MASK;
	pd = *entry_at(&pt, va, 3) & PT_ADDR_MASK;
	ptab = *entry_at(&pt, va, 2) & PT_ADDR_MASK;
	assert_int_equal(pt_unmap(&pt, va, P4K, &old, &fl), 0);
	assert_int_equal(old, 0x5000 | PTE_P | PTE_W);
	assert_int_equal(fl.n, 3);
	assert_int_equal(fl.pages[0], ptab);
	assert_int_equal(fl.pages[1], pd);
	assert_int_equal(fl.pages[2], pdpt);
	/* unlinked at once, freed only on release */
	assert_int_equal(sim_table(pt.root)[idx(va, 4)], 0);
	assert_int_equal(sim_live, 4);
	expect_unmapped(&pt, va);
	pt_release(&pt, &fl);
	assert_int_equal(fl.n, 0);
	assert_int_equal(sim_live, 1);

	/* only the last page of a table empties it */
	assert_int_equal(pt_map(&pt, va, 0x5000, P4K, 0), 0);
	assert_int_equal(pt_map(&pt, va + P4K, 0x6000, P4K, 0), 0);
	assert_int_equal(pt_unmap(&pt, va, P4K, NULL, &fl), 0);
	assert_int_equal(fl.n, 0);
	assert_int_equal(pt_unmap(&pt, va + P4K, P4K, NULL, &fl), 0);
	assert_int_equal(fl.n, 3);
	pt_release(&pt, &fl);
	assert_int_equal(sim_live, 1);

	/* a PT with a sibling in the PD: just the PT */
	assert_int_equal(pt_map(&pt, va, 0x5000, P4K, 0), 0);
	assert_int_equal(pt_map(&pt, va + P2M, 0x6000, P4K, 0), 0);
	assert_int_equal(sim_live, 5);
	ptab = *entry_at(&pt, va, 2) & PT_ADDR_MASK;
	assert_int_equal(pt_unmap(&pt, va, P4K, NULL, &fl), 0);
	assert_int_equal(fl.n, 1);
	assert_true(on_freelist(&fl, ptab));
	pt_release(&pt, &fl);
	expect_lookup(&pt, va + P2M, 0x6000, 0x6000 | PTE_P, P4K);

	/* a PD with a sibling in the PDPT: the PT and the PD */
	assert_int_equal(pt_map(&pt, va + PT_HUGE_PAGE_SIZE, 0x7000, P4K, 0), 0);
	assert_int_equal(pt_unmap(&pt, va + P2M, P4K, NULL, &fl), 0);
	assert_int_equal(fl.n, 2);
	pt_release(&pt, &fl);
	assert_int_equal(sim_live, 4);

	/* a 2 MiB page: the PD and the PDPT */
	assert_int_equal(pt_unmap(&pt, va + PT_HUGE_PAGE_SIZE, P4K, NULL, &fl), 0);
	assert_int_equal(fl.n, 3);
	pt_release(&pt, &fl);
	assert_int_equal(pt_map(&pt, 0x40000000, 0, P2M, 0), 0);
	assert_int_equal(sim_live, 3);
	assert_int_equal(pt_unmap(&pt, 0x40000000, P2M, &old, &fl), 0);
	assert_int_equal(old, PTE_P | PTE_PS);
	assert_int_equal(fl.n, 2);
	assert_false(on_freelist(&fl, pt.root));
	pt_release(&pt, &fl);
	assert_int_equal(sim_live, 1);

	pt_destroy(&pt);
	assert_int_equal(sim_live, 0);
}

/* Without room on the freelist empty tables stay linked, and stay usable. */
static void test_unmap_without_freelist_room(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	struct pt_freelist fl = { 0 };

	assert_int_equal(pt_map(&pt, 0x1000, 0x1000, P4K, 0), 0);
	assert_int_equal(pt_unmap(&pt, 0x1000, P4K, NULL, NULL), 0);
	assert_int_equal(sim_live, 4);
	assert_int_equal(pt_map(&pt, 0x2000, 0x2000, P4K, 0), 0);
	assert_int_equal(sim_live, 4); /* reused */

	assert_int_equal(pt_map(&pt, 0x8000000000ULL, 0x3000, P4K, 0), 0);
	assert_int_equal(sim_live, 7);
	assert_int_equal(pt_unmap(&pt, 0x2000, P4K, NULL, &fl), 0);
	assert_int_equal(fl.n, 3);
	assert_int_equal(pt_unmap(&pt, 0x8000000000ULL, P4K, NULL, &fl), 0);
	assert_int_equal(fl.n, 3); /* full: those tables stay */
	expect_unmapped(&pt, 0x8000000000ULL);
	pt_release(&pt, &fl);
	assert_int_equal(sim_live, 4);
	assert_int_equal(pt_map(&pt, 0x8000001000ULL, 0x3000, P4K, 0), 0);
	assert_int_equal(sim_live, 4);
	pt_destroy(&pt);
	assert_int_equal(sim_live, 0);
}

static void test_unmap_kernel_half_keeps_tables(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	struct pt_freelist fl = { 0 };
	u64 old = 0;

	assert_int_equal(pt_map(&pt, KVA(0x5000), 0x5000, P4K, PTE_W | PTE_G), 0);
	assert_int_equal(pt_map(&pt, IMAGE_VA + P2M, 0x200000, P2M, PTE_G), 0);
	assert_int_equal(sim_live, 6);
	assert_int_equal(pt_unmap(&pt, KVA(0x5000), P4K, &old, &fl), 0);
	assert_int_equal(old, 0x5000 | PTE_P | PTE_W | PTE_G);
	assert_int_equal(pt_unmap(&pt, IMAGE_VA + P2M, P2M, &old, &fl), 0);
	assert_int_equal(old, 0x200000 | PTE_P | PTE_G | PTE_PS);
	assert_int_equal(fl.n, 0);
	assert_int_equal(sim_live, 6);
	expect_unmapped(&pt, KVA(0x5000));
	expect_unmapped(&pt, IMAGE_VA + P2M);
	assert_int_equal(pt_map(&pt, KVA(0x5000), 0x6000, P4K, 0), 0);
	assert_int_equal(sim_live, 6);
	pt_destroy(&pt);
	assert_int_equal(sim_live, 5);
}

static void test_destroy_frees_everything(void **state)
{
	(void)state;
	struct pt pt = new_pt();
	u64 va;

	for (int i = 0; i < 40; i++) {
		va = ((u64)(i % 5) << 39) | ((u64)(i % 7) << 30) | ((u64)i << 21);
		assert_int_equal(pt_map(&pt, va, 0, (i % 3) ? P4K : P2M, 0), 0);
		assert_int_equal(pt_map(&pt, va + 0x5000, 0x5000, P4K, PTE_U), i % 3 ? 0 : -EEXIST);
		assert_int_equal(pt_map(&pt, va + P2M + 0x5000, 0x5000, P4K, PTE_U), 0);
	}
	sim_fail_after = 1; /* an empty PDPT left by a failed map is freed as well */
	assert_int_equal(pt_map(&pt, 0x7f8000000000ULL, 0, P4K, 0), -ENOMEM);
	sim_fail_after = -1;
	assert_true(sim_live > 40);
	pt_destroy(&pt);
	assert_int_equal(sim_live, 0);
	assert_int_equal(pt.root, 0);
}

/* Running out of tables at each step of a map leaves a tree every call still understands. */
static void test_alloc_failure(void **state)
{
	(void)state;
	struct pt_freelist fl = { 0 };
	u64 va = 0x123456789000ULL;

	for (int n = 0; n < 3; n++) {
		struct pt pt = new_pt();

		sim_fail_after = n;
		assert_int_equal(pt_map(&pt, va, 0x1000, P4K, PTE_W), -ENOMEM);
		assert_int_equal(sim_live, 1 + n);
		expect_unmapped(&pt, va);
		assert_int_equal(pt_unmap(&pt, va, P4K, NULL, &fl), -ENOENT);
		assert_int_equal(pt_protect(&pt, va, P4K, PTE_NX, 0, NULL), -ENOENT);
		sim_fail_after = -1;
		assert_int_equal(pt_map(&pt, va, 0x1000, P4K, PTE_W), 0);
		assert_int_equal(sim_live, 4); /* what was built is reused */
		expect_lookup(&pt, va, 0x1000, 0x1000 | PTE_P | PTE_W, P4K);
		assert_int_equal(pt_unmap(&pt, va, P4K, NULL, &fl), 0);
		assert_int_equal(fl.n, 3);
		pt_release(&pt, &fl);
		assert_int_equal(sim_live, 1);
		pt_destroy(&pt);
		assert_int_equal(sim_live, 0);
	}

	/* a failure beside existing mappings disturbs nothing; the empty PD left behind can take a
	 * 2 MiB page */
	struct pt pt = new_pt();

	assert_int_equal(pt_map(&pt, 0x1000, 0x1000, P4K, 0), 0);
	sim_fail_after = 1;
	assert_int_equal(pt_map(&pt, 0x40001000, 0x2000, P4K, 0), -ENOMEM);
	assert_int_equal(sim_live, 5);
	sim_fail_after = 0;
	assert_int_equal(pt_map(&pt, 0x40200000, 0x2000, P4K, 0), -ENOMEM);
	assert_int_equal(pt_map(&pt, 0x80000000, 0x200000, P2M, 0), -ENOMEM);
	assert_int_equal(pt_map(&pt, KVA(0), 0x200000, P2M, 0), -ENOMEM);
	assert_int_equal(pt_init(&(struct pt){ 0 }, &sim_ops), -ENOMEM);
	assert_int_equal(pt_map(&pt, 0x40000000, 0x200000, P2M, 0), 0); /* needs no table */
	sim_fail_after = -1;
	expect_lookup(&pt, 0x1000, 0x1000, 0x1000 | PTE_P, P4K);
	expect_lookup(&pt, 0x40001000, 0x201000, 0x200000 | PTE_P | PTE_PS, P2M);
	assert_int_equal(sim_live, 5);
	pt_destroy(&pt);
	assert_int_equal(sim_live, 0);
}

static void test_share_kernel_half(void **state)
{
	(void)state;
	struct pt a = new_pt(), b;
	struct pt_freelist fl = { 0 };
	int live;

	assert_int_equal(pt_map(&a, KVA(0x200000), 0x200000, P2M, PTE_W | PTE_G), 0);
	assert_int_equal(pt_map(&a, IMAGE_VA + 0x1000, 0x1000, P4K, PTE_G), 0);
	assert_int_equal(pt_map(&a, 0x1000, 0xa000, P4K, PTE_U), 0);
	b = new_pt();
	pt_share_kernel_half(&b, &a);
	for (int i = 0; i < PT_ENTRIES; i++)
		assert_int_equal(sim_table(b.root)[i], i < PT_KERNEL_SLOT ? 0 : sim_table(a.root)[i]);
	expect_lookup(&b, KVA(0x200123), 0x200123, 0x200000 | PTE_P | PTE_W | PTE_G | PTE_PS, P2M);
	expect_lookup(&b, IMAGE_VA + 0x1fff, 0x1fff, 0x1000 | PTE_P | PTE_G, P4K);
	expect_unmapped(&b, 0x1000);

	/* below a shared PML4 slot, a change through either is seen by both */
	assert_int_equal(pt_map(&a, KVA(0x40000000), 0x3000, P4K, 0), 0);
	expect_lookup(&b, KVA(0x40000000), 0x3000, 0x3000 | PTE_P, P4K);
	assert_int_equal(pt_map(&b, IMAGE_VA + 0x2000, 0x2000, P4K, 0), 0);
	expect_lookup(&a, IMAGE_VA + 0x2000, 0x2000, 0x2000 | PTE_P, P4K);
	assert_int_equal(pt_unmap(&b, IMAGE_VA + 0x1000, P4K, NULL, &fl), 0);
	assert_int_equal(fl.n, 0);
	expect_unmapped(&a, IMAGE_VA + 0x1000);

	/* the lower halves are separate */
	assert_int_equal(pt_map(&b, 0x1000, 0xb000, P4K, 0), 0);
	expect_lookup(&a, 0x1000, 0xa000, 0xa000 | PTE_P | PTE_U, P4K);
	expect_lookup(&b, 0x1000, 0xb000, 0xb000 | PTE_P, P4K);
	live = sim_live;
	pt_destroy(&b);
	assert_int_equal(sim_live, live - 4);
	expect_lookup(&a, KVA(0x40000000), 0x3000, 0x3000 | PTE_P, P4K);
	expect_lookup(&a, IMAGE_VA + 0x2000, 0x2000, 0x2000 | PTE_P, P4K);
	pt_destroy(&a);
	assert_int_equal(sim_live, 4 + 3); /* slot 256: PDPT, 2 PDs, 1 PT; slot 511: 3 */
}

/* ---- random operations against a reference model ---- */

/* A small universe of pages that share tables in every possible way, in both halves. */
static const unsigned int u_pml4[] = { 0, 1, 255, 256, 511 };
static const unsigned int u_pdpt[] = { 0, 1, 511 };
static const unsigned int u_pd[] = { 0, 1, 2, 511 };
static const unsigned int u_pt[] = { 0, 1, 2, 511 };
#define NS ARRAY_SIZE(u_pml4)
#define NP ARRAY_SIZE(u_pdpt)
#define ND ARRAY_SIZE(u_pd)
#define NT ARRAY_SIZE(u_pt)

struct region {
	u64 large;     /* the 2 MiB entry, or 0 */
	u64 small[NT]; /* the 4 KiB entries, or 0 */
	bool kpt;      /* kernel half: a PT exists (it is never freed) */
};

static struct region model[NS][NP][ND];
static bool kpdpt[NS], kpd[NS][NP];
static u64 rng = 0x9e3779b97f4a7c15ULL;
static int outcomes[3][3]; /* [map, unmap, protect][0, -EEXIST or -EINVAL, -ENOENT] */

static u64 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static bool kernel_slot(size_t s)
{
	return u_pml4[s] >= PT_KERNEL_SLOT;
}

static u64 region_va(size_t s, size_t p, size_t d)
{
	u64 va = (u64)u_pml4[s] << 39 | (u64)u_pdpt[p] << 30 | (u64)u_pd[d] << 21;

	return kernel_slot(s) ? va | 0xffff000000000000ULL : va;
}

static bool has_small(const struct region *r)
{
	for (size_t t = 0; t < NT; t++)
		if (r->small[t])
			return true;
	return false;
}

/* Tables the model says exist: root, and per level either what mappings need (lower half) or
 * what was ever built (kernel half). */
static int model_tables(bool user)
{
	int n = user;

	for (size_t s = 0; s < NS; s++) {
		bool s_used = false, k = kernel_slot(s);

		if (!user && !k)
			continue;
		for (size_t p = 0; p < NP; p++) {
			bool p_used = false;

			for (size_t d = 0; d < ND; d++) {
				const struct region *r = &model[s][p][d];

				n += k ? r->kpt : has_small(r);
				p_used |= r->large || has_small(r);
			}
			n += k ? kpd[s][p] : p_used;
			s_used |= p_used;
		}
		n += k ? kpdpt[s] : s_used;
	}
	return n;
}

static void check_all(const struct pt *pt)
{
	for (size_t s = 0; s < NS; s++)
		for (size_t p = 0; p < NP; p++)
			for (size_t d = 0; d < ND; d++) {
				const struct region *r = &model[s][p][d];

				for (size_t t = 0; t <= NT; t++) {
					/* t == NT: a page of the region no 4 KiB map touches */
					u64 off = (t < NT ? u_pt[t] : 3) * P4K + rnd() % P4K;
					u64 va = region_va(s, p, d) + off;
					u64 pte = t < NT ? r->small[t] : 0;

					if (r->large)
						expect_lookup(pt, va, (r->large & PT_ADDR_MASK & ~(P2M - 1)) + off,
							      r->large, P2M);
					else if (pte)
						expect_lookup(pt, va, (pte & PT_ADDR_MASK) + off % P4K, pte, P4K);
					else
						expect_unmapped(pt, va);
				}
			}
	expect_unmapped(pt, 2ULL << 39);
}

static u64 random_flags(void)
{
	return rnd() & (PTE_W | PTE_U | PTE_PWT | PTE_PCD | PTE_A | PTE_D | PTE_G | PTE_NX);
}

static void random_op(struct pt *pt)
{
	size_t s = rnd() % NS, p = rnd() % NP, d = rnd() % ND, t = rnd() % NT;
	struct region *r = &model[s][p][d];
	bool big = rnd() % 3 == 0;
	u64 size = big ? P2M : P4K, va = region_va(s, p, d) + (big ? 0 : u_pt[t] * P4K);
	u64 *slot = big ? &r->large : &r->small[t], old = 0, set, clear;
	/* what covers va: the entry of this size, or -EINVAL/-ENOENT */
	int found = big ? (r->large ? 0 : r->small[0] ? -EINVAL : -ENOENT)
			: (r->large ? -EINVAL : r->small[t] ? 0 : -ENOENT);
	struct pt_freelist fl = { 0 };
	int before = model_tables(true), want;

	switch (rnd() % 3) {
	case 0: {
		paddr_t pa = rnd() & PT_ADDR_MASK & ~(size - 1);
		u64 flags = random_flags();

		want = (r->large || (big ? has_small(r) || r->kpt : r->small[t] != 0)) ? -EEXIST : 0;
		assert_int_equal(pt_map(pt, va, pa, size, flags), want);
		outcomes[0][!!want]++;
		if (want)
			break;
		*slot = pa | flags | PTE_P | (big ? PTE_PS : 0);
		if (kernel_slot(s)) {
			kpdpt[s] = kpd[s][p] = true;
			r->kpt |= !big;
		}
		assert_int_equal(sim_live, model_tables(true));
		break;
	}
	case 1:
		assert_int_equal(pt_unmap(pt, va, size, &old, &fl), found);
		outcomes[1][found == -EINVAL ? 1 : found ? 2 : 0]++;
		if (found)
			break;
		assert_int_equal(old, *slot);
		*slot = 0;
		assert_int_equal(fl.n, before - model_tables(true));
		assert_int_equal(sim_live, before);
		pt_release(pt, &fl);
		assert_int_equal(sim_live, model_tables(true));
		break;
	default:
		set = random_flags();
		clear = random_flags();
		assert_int_equal(pt_protect(pt, va, size, set, clear, &old), found);
		outcomes[2][found == -EINVAL ? 1 : found ? 2 : 0]++;
		if (found)
			break;
		assert_int_equal(old, *slot);
		*slot = (*slot | set) & ~clear;
		break;
	}
}

static void test_random_against_model(void **state)
{
	(void)state;
	struct pt pt = new_pt();

	memset(model, 0, sizeof(model));
	memset(kpdpt, 0, sizeof(kpdpt));
	memset(kpd, 0, sizeof(kpd));
	for (int i = 0; i < 20000; i++) {
		random_op(&pt);
		if (i % 8 == 0)
			check_all(&pt);
	}
	check_all(&pt);
	assert_int_equal(sim_live, model_tables(true));
	pt_destroy(&pt);
	assert_int_equal(sim_live, model_tables(false));
	/* the mix must have exercised every outcome, or the model proves little */
	for (int op = 0; op < 3; op++)
		for (int res = 0; res < 3 - !op; res++)
			if (outcomes[op][res] < 100)
				fail_msg("outcome %d of op %d seen %d times", res, op, outcomes[op][res]);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_init_destroy),
		T(test_map_lookup_4k),
		T(test_map_lookup_2m),
		T(test_lookup_1g),
		T(test_map_1g),
		T(test_replace),
		T(test_eexist),
		T(test_einval),
		T(test_enoent),
		T(test_intermediate_entries),
		T(test_protect),
		T(test_unmap_frees_tables),
		T(test_unmap_without_freelist_room),
		T(test_unmap_kernel_half_keeps_tables),
		T(test_destroy_frees_everything),
		T(test_alloc_failure),
		T(test_share_kernel_half),
		T(test_random_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
