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

