/* Unit tests for mm/frame.c: usable RAM from SeaBIOS- and OVMF-like memory maps, then the frame
 * pool over made-up physical addresses (it never touches the frames): exhaustion, uniqueness,
 * error reports, per-CPU caches, contiguous runs, and threads hammering it at once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "kernel/errno.h"
#include "mm/frame.h"
#include "mm/layout.h"

#define AVAIL 1
#define RESERVED 2
#define ACPI 3
#define NVS 4
/* A map entry as the boot log prints it: [start, end) type. */
#define E(start, end, type) { (start), (end) - (start), (type) }

static struct phys_range out[64];

static void expect_ranges(size_t got, const struct phys_range *want, size_t n)
{
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++) {
		if (out[i].start != want[i].start || out[i].end != want[i].end)
			fail_msg("range %zu: got [%#llx, %#llx), want [%#llx, %#llx)", i,
				 (unsigned long long)out[i].start, (unsigned long long)out[i].end,
				 (unsigned long long)want[i].start, (unsigned long long)want[i].end);
	}
}

static size_t usable(const struct bootinfo_mmap *map, size_t n, const struct phys_range *res,
		     size_t nres, u64 limit, bool *overflow)
{
	memset(out, 0xee, sizeof(out));
	return physmem_usable(map, n, res, nres, limit, out, ARRAY_SIZE(out), overflow);
}

/* ---- physmem_usable ---- */

/* QEMU pc, -m 512, SeaBIOS */
static const struct bootinfo_mmap seabios[] = {
	E(0x0, 0x9fc00, AVAIL),
	E(0x9fc00, 0xa0000, RESERVED),
	E(0xf0000, 0x100000, RESERVED),
	E(0x100000, 0x1ffdf000, AVAIL),
	E(0x1ffdf000, 0x20000000, RESERVED),
	E(0xfeffc000, 0xff000000, RESERVED),
	E(0xfffc0000, 0x100000000, RESERVED),
};

static void test_usable_seabios(void **state)
{
	(void)state;
	static const struct phys_range plain[] = { { 0, 0x9f000 }, { 0x100000, 0x1ffdf000 } };
	/* the kernel's reservations: low memory, the image, a module ending mid-page */
	static const struct phys_range res[] = {
		{ 0, 0x100000 }, { 0x200000, 0x5a3000 }, { 0x5a3000, 0x5a4234 } };
	static const struct phys_range want[] = { { 0x100000, 0x200000 }, { 0x5a5000, 0x1ffdf000 } };
	bool overflow = true;

	expect_ranges(usable(seabios, ARRAY_SIZE(seabios), NULL, 0, UINT64_MAX, &overflow), plain, 2);
	assert_false(overflow);
	expect_ranges(usable(seabios, ARRAY_SIZE(seabios), res, ARRAY_SIZE(res), UINT64_MAX, &overflow),
		      want, 2);
	assert_false(overflow);
}

/* QEMU pc, -m 8G: RAM above 4 GiB, cut by the limit (the end of the direct map) */
static void test_usable_high_memory_and_limit(void **state)
{
	(void)state;
	static const struct bootinfo_mmap map[] = {
		E(0x0, 0x9fc00, AVAIL),
		E(0x9fc00, 0xa0000, RESERVED),
		E(0xf0000, 0x100000, RESERVED),
		E(0x100000, 0xbffdf000, AVAIL),
		E(0xbffdf000, 0xc0000000, RESERVED),
		E(0xfeffc000, 0xff000000, RESERVED),
		E(0xfffc0000, 0x100000000, RESERVED),
		E(0x100000000, 0x240000000, AVAIL),
	};
	static const struct phys_range all[] = {
		{ 0, 0x9f000 }, { 0x100000, 0xbffdf000 }, { 0x100000000, 0x240000000 } };
	static const struct phys_range cut6g[] = {
		{ 0, 0x9f000 }, { 0x100000, 0xbffdf000 }, { 0x100000000, 0x180000000 } };
	static const struct phys_range cut4g[] = { { 0, 0x9f000 }, { 0x100000, 0xbffdf000 } };
	static const struct phys_range cut_mid[] = { { 0, 0x9f000 }, { 0x100000, 0x10000000 } };

	expect_ranges(usable(map, ARRAY_SIZE(map), NULL, 0, UINT64_MAX, NULL), all, 3);
	expect_ranges(usable(map, ARRAY_SIZE(map), NULL, 0, 0x180000000, NULL), cut6g, 3);
	expect_ranges(usable(map, ARRAY_SIZE(map), NULL, 0, 0x100000000, NULL), cut4g, 2);
	/* an unaligned limit rounds down */
	expect_ranges(usable(map, ARRAY_SIZE(map), NULL, 0, 0x10000800, NULL), cut_mid, 2);
	expect_ranges(usable(map, ARRAY_SIZE(map), NULL, 0, 0x9f001, NULL), all, 1);
	assert_int_equal(usable(map, ARRAY_SIZE(map), NULL, 0, 0, NULL), 0);
	assert_int_equal(usable(map, ARRAY_SIZE(map), NULL, 0, 0xfff, NULL), 0);
}

/* QEMU q35, -m 512, OVMF: many entries, neighbouring available ones of different UEFI types */
static void test_usable_ovmf(void **state)
{
	(void)state;
	static const struct bootinfo_mmap map[] = {
		E(0x0, 0xa0000, AVAIL),
		E(0x100000, 0x800000, AVAIL),
		E(0x800000, 0x808000, NVS),
		E(0x808000, 0x80b000, AVAIL),
		E(0x80b000, 0x80c000, NVS),
		E(0x80c000, 0x811000, AVAIL),
		E(0x811000, 0x900000, NVS),
		E(0x900000, 0x1000000, AVAIL),
		E(0x1000000, 0x1e8ef000, AVAIL),
		E(0x1e8ef000, 0x1e9ef000, RESERVED),
		E(0x1e9ef000, 0x1f6bf000, AVAIL),
		E(0x1f6bf000, 0x1f77f000, RESERVED),
		E(0x1f77f000, 0x1f7ff000, ACPI),
		E(0x1f7ff000, 0x1f8ff000, NVS),
		E(0x1f8ff000, 0x1fe9c000, AVAIL),
		E(0x1fe9c000, 0x1fea0000, RESERVED),
		E(0x1fea0000, 0x1fec0000, NVS),
		E(0x1fec0000, 0x1ff1e000, AVAIL),
		E(0x1ff1e000, 0x20000000, RESERVED),
		E(0xb0000000, 0xc0000000, RESERVED),
		E(0xffc00000, 0x100000000, RESERVED),
	};
	static const struct phys_range res[] = { { 0, 0x100000 }, { 0x200000, 0x400000 } };
	static const struct phys_range want[] = {
		{ 0x100000, 0x200000 },	    { 0x400000, 0x800000 },	{ 0x808000, 0x80b000 },
		{ 0x80c000, 0x811000 },	    { 0x900000, 0x1e8ef000 },	{ 0x1e9ef000, 0x1f6bf000 },
		{ 0x1f8ff000, 0x1fe9c000 }, { 0x1fec0000, 0x1ff1e000 },
	};
	bool overflow;

	expect_ranges(usable(map, ARRAY_SIZE(map), res, ARRAY_SIZE(res), UINT64_MAX, &overflow),
		      want, ARRAY_SIZE(want));
	assert_false(overflow);
}

static void test_usable_unaligned_entries(void **state)
{
	(void)state;
	static const struct bootinfo_mmap map[] = {
		E(0x1234, 0x5678, AVAIL),
		E(0x10800, 0x11800, AVAIL),  /* a page's worth, but no whole page */
		E(0x20000, 0x20800, AVAIL),  /* less than a page */
		E(0x30000, 0x30000, AVAIL),  /* empty */
		E(0x40001, 0x43fff, AVAIL),
	};
	static const struct phys_range want[] = { { 0x2000, 0x5000 }, { 0x41000, 0x43000 } };

	expect_ranges(usable(map, ARRAY_SIZE(map), NULL, 0, UINT64_MAX, NULL), want, 2);
}

static void test_usable_overlapping_reserved(void **state)
{
	(void)state;
	static const struct bootinfo_mmap map[] = { E(0x100000, 0x1000000, AVAIL) };
	static const struct phys_range res[] = {
		{ 0x300000, 0x500000 }, { 0x400000, 0x600000 }, { 0x350000, 0x360000 },
		{ 0x700800, 0x701100 }, /* claims both pages it touches */
		{ 0x0, 0x180000 },	{ 0xf00000, 0x2000000 }, { 0x5000000, 0x4000000 }, /* empty */
	};
	static const struct phys_range want[] = {
		{ 0x180000, 0x300000 }, { 0x600000, 0x700000 }, { 0x702000, 0xf00000 } };

	expect_ranges(usable(map, ARRAY_SIZE(map), res, ARRAY_SIZE(res), UINT64_MAX, NULL), want, 3);

	/* everything reserved */
	static const struct phys_range all[] = { { 0, UINT64_MAX } };
	assert_int_equal(usable(map, ARRAY_SIZE(map), all, 1, UINT64_MAX, NULL), 0);
}

/* Firmware maps can overlap: whatever a non-available entry claims is not RAM to use. */
static void test_usable_overlapping_entries(void **state)
{
	(void)state;
	static const struct bootinfo_mmap map[] = {
		E(0x100000, 0x400000, AVAIL),
		E(0x200000, 0x201000, RESERVED),
		E(0x3ff000, 0x500000, ACPI),
		E(0x380000, 0x390000, AVAIL),	/* inside the first */
		E(0x380000, 0x380000, RESERVED), /* empty: claims nothing */
	};
	static const struct phys_range want[] = { { 0x100000, 0x200000 }, { 0x201000, 0x3ff000 } };

	expect_ranges(usable(map, ARRAY_SIZE(map), NULL, 0, UINT64_MAX, NULL), want, 2);
}

static void test_usable_unsorted_and_merged(void **state)
{
	(void)state;
	static const struct bootinfo_mmap map[] = {
		E(0x800000, 0x900000, AVAIL),
		E(0x200000, 0x400000, AVAIL),
		E(0x100000, 0x300000, AVAIL),
		E(0x400000, 0x500000, AVAIL),
		E(0x900800, 0xa00000, AVAIL), /* rounds to 0x901000: not adjacent */
	};
	static const struct phys_range want[] = {
		{ 0x100000, 0x500000 }, { 0x800000, 0x900000 }, { 0x901000, 0xa00000 } };

	expect_ranges(usable(map, ARRAY_SIZE(map), NULL, 0, UINT64_MAX, NULL), want, 3);
	assert_int_equal(usable(map, 0, NULL, 0, UINT64_MAX, NULL), 0);
}

static void test_usable_top_of_address_space(void **state)
{
	(void)state;
	/* lengths that run past 2^64, and a reservation ending at the very top */
	static const struct bootinfo_mmap map[] = {
		{ 0xffffffff00000000ULL, 0x100000000ULL, AVAIL },
		{ 0xfffffffffffff800ULL, 0x1000, AVAIL },
	};
	static const struct phys_range res[] = { { 0xfffffffff0000000ULL, UINT64_MAX } };
	static const struct phys_range want[] = { { 0xffffffff00000000ULL, 0xfffffffffffff000ULL } };
	static const struct phys_range want_res[] = {
		{ 0xffffffff00000000ULL, 0xfffffffff0000000ULL } };

	expect_ranges(usable(map, ARRAY_SIZE(map), NULL, 0, UINT64_MAX, NULL), want, 1);
	expect_ranges(usable(map, ARRAY_SIZE(map), res, 1, UINT64_MAX, NULL), want_res, 1);
}

static void test_usable_overflow(void **state)
{
	(void)state;
	static const struct phys_range three[] = {
		{ 0, 0x9f000 }, { 0x100000, 0x200000 }, { 0x5a5000, 0x1ffdf000 } };
	static const struct phys_range res[] = { { 0x200000, 0x5a4234 } };
	struct phys_range small[4];
	bool overflow = false;
	size_t n;

	memset(small, 0xee, sizeof(small));
	n = physmem_usable(seabios, ARRAY_SIZE(seabios), res, 1, UINT64_MAX, small, 2, &overflow);
	assert_int_equal(n, 2);
	assert_true(overflow);
	assert_memory_equal(small, three, 2 * sizeof(*small));
	assert_int_equal(small[2].start, 0xeeeeeeeeeeeeeeeeULL); /* nothing past max_out */

	n = physmem_usable(seabios, ARRAY_SIZE(seabios), res, 1, UINT64_MAX, small, 3, &overflow);
	assert_int_equal(n, 3);
	assert_false(overflow);
	assert_memory_equal(small, three, sizeof(three));

	n = physmem_usable(seabios, ARRAY_SIZE(seabios), res, 1, UINT64_MAX, small, 0, &overflow);
	assert_int_equal(n, 0);
	assert_true(overflow);
	n = physmem_usable(seabios, ARRAY_SIZE(seabios), res, 1, UINT64_MAX, small, 1, NULL);
	assert_int_equal(n, 1);
}

/* ---- the frame pool ---- */

#define MAX_PA 0x2000000ULL /* the small pools live below this */
#define MAX_FRAMES (MAX_PA / PAGE_SIZE)

static u64 bitmap_mem[16384 + 1];
static struct frame_pool pool;
static bool held[MAX_FRAMES];

/* Four ranges, frame 0 among them, the bitmap's memory over three frames of the second. */
static const struct phys_range pool_ranges[] = {
	{ 0, 0x9f000 }, { 0x100000, 0x200000 }, { 0x400000, 0x800000 }, { 0x1000000, 0x1200000 } };
#define POOL_FRAMES (0x9f + 0x100 + 0x400 + 0x200)
#define BITMAP_PHYS 0x100800ULL
#define BITMAP_BYTES 0x2000ULL /* frames 0x100000, 0x101000, 0x102000 */
#define POOL_TOTAL (POOL_FRAMES - 1 - 3)

static int setup(void **state)
{
	(void)state;
	memset(held, 0, sizeof(held));
	memset(&pool, 0, sizeof(pool));
	assert_int_equal(frame_pool_init(&pool, pool_ranges, ARRAY_SIZE(pool_ranges), bitmap_mem,
					 BITMAP_PHYS, BITMAP_BYTES), 0);
	return 0;
}

static bool in_ranges(const struct phys_range *r, size_t n, paddr_t pa)
{
	for (size_t i = 0; i < n; i++)
		if (pa >= r[i].start && pa < r[i].end)
			return true;
	return false;
}

/* A frame just handed out: page-aligned, not 0, the pool's, not the bitmap's, not held. */
static void take(paddr_t pa)
{
	assert_int_not_equal(pa, 0);
	assert_int_equal(pa % PAGE_SIZE, 0);
	assert_true(in_ranges(pool_ranges, ARRAY_SIZE(pool_ranges), pa));
	assert_false(pa >= 0x100000 && pa < 0x103000);
	assert_false(held[pa / PAGE_SIZE]);
	held[pa / PAGE_SIZE] = true;
}

static void give(struct frame_cache *c, paddr_t pa)
{
	assert_true(held[pa / PAGE_SIZE]);
	held[pa / PAGE_SIZE] = false;
	assert_int_equal(frame_free(&pool, c, pa), 0);
}

static u64 alloc_all(struct frame_cache *c)
{
	u64 n = 0;
	paddr_t pa;

	while ((pa = frame_alloc(&pool, c))) {
		take(pa);
		n++;
	}
	return n;
}

static void free_all(struct frame_cache *c)
{
	for (u64 i = 0; i < MAX_FRAMES; i++)
		if (held[i])
			give(c, i * PAGE_SIZE);
}

static void test_bitmap_bytes(void **state)
{
	(void)state;
	static const struct phys_range one[] = { { 0x100000, 0x100000 + 64 * PAGE_SIZE } };
	static const struct phys_range odd[] = { { 0x100000, 0x100000 + 65 * PAGE_SIZE } };

	/* a copy of the ranges, then two bitmaps of 0x1200000 / 4 KiB / 64 words */
	assert_int_equal(frame_bitmap_bytes(pool_ranges, 4), 4 * 16 + 2 * 72 * 8);
	assert_int_equal(frame_bitmap_bytes(one, 1), 16 + 2 * 8);
	assert_int_equal(frame_bitmap_bytes(odd, 1), 16 + 2 * 16);
	assert_int_equal(frame_bitmap_bytes(one, 0), 0);
}

static void test_pool_init_rejects(void **state)
{
	(void)state;
	static const struct phys_range unsorted[] = { { 0x200000, 0x300000 }, { 0x100000, 0x200000 } };
	static const struct phys_range overlap[] = { { 0x100000, 0x300000 }, { 0x200000, 0x400000 } };
	static const struct phys_range unaligned_start[] = { { 0x100800, 0x200000 } };
	static const struct phys_range unaligned_end[] = { { 0x100000, 0x200800 } };
	static const struct phys_range empty[] = { { 0x100000, 0x100000 } };
	static const struct phys_range touching[] = { { 0x100000, 0x200000 }, { 0x200000, 0x300000 } };
	struct frame_pool p;
	u64 big = sizeof(bitmap_mem);

	assert_int_equal(frame_pool_init(&p, unsorted, 2, bitmap_mem, 0, big), -EINVAL);
	assert_int_equal(frame_pool_init(&p, overlap, 2, bitmap_mem, 0, big), -EINVAL);
	assert_int_equal(frame_pool_init(&p, unaligned_start, 1, bitmap_mem, 0, big), -EINVAL);
	assert_int_equal(frame_pool_init(&p, unaligned_end, 1, bitmap_mem, 0, big), -EINVAL);
	assert_int_equal(frame_pool_init(&p, empty, 1, bitmap_mem, 0, big), -EINVAL);
	assert_int_equal(frame_pool_init(&p, touching, 0, bitmap_mem, 0, big), -EINVAL);
	assert_int_equal(frame_pool_init(&p, touching, 2, (char *)bitmap_mem + 4, 0, big - 8),
			 -EINVAL);
	assert_int_equal(frame_pool_init(&p, touching, 2, bitmap_mem, 0,
					 frame_bitmap_bytes(touching, 2) - 1), -EINVAL);
	assert_int_equal(frame_pool_init(&p, touching, 2, bitmap_mem, UINT64_MAX - 8, big), -EINVAL);
	assert_int_equal(frame_pool_init(&p, touching, 2, bitmap_mem, 0x10000000,
					 frame_bitmap_bytes(touching, 2)), 0);
	assert_int_equal(frame_total(&p), 0x200);
}

static void test_alloc_all(void **state)
{
	(void)state;
	assert_int_equal(frame_total(&pool), POOL_TOTAL);
	assert_int_equal(frame_free_count(&pool), POOL_TOTAL);
	assert_int_equal(alloc_all(NULL), POOL_TOTAL);
	assert_int_equal(frame_free_count(&pool), 0);
	assert_int_equal(frame_alloc(&pool, NULL), 0);
	assert_int_equal(frame_alloc_contig(&pool, 1, PAGE_SIZE), 0);

	free_all(NULL);
	assert_int_equal(frame_free_count(&pool), POOL_TOTAL);
	assert_int_equal(alloc_all(NULL), POOL_TOTAL);

	/* free and re-allocate a scattered few: they come back */
	static const paddr_t some[] = { 0x1000, 0x9e000, 0x103000, 0x7ff000, 0x1100000 };
	for (size_t i = 0; i < ARRAY_SIZE(some); i++)
		give(NULL, some[i]);
	assert_int_equal(frame_free_count(&pool), ARRAY_SIZE(some));
	assert_int_equal(alloc_all(NULL), ARRAY_SIZE(some));
	for (size_t i = 0; i < ARRAY_SIZE(some); i++)
		assert_true(held[some[i] / PAGE_SIZE]);
	free_all(NULL);
	assert_int_equal(frame_free_count(&pool), frame_total(&pool));
}

static void test_free_errors(void **state)
{
	(void)state;
	static const paddr_t foreign[] = {
		0,	  /* frame 0 */
		0x9f000,  /* the hole after the first range */
		0xff000,  0x200000, 0x3ff000, 0x800000, 0xfff000,
		0x1200000, /* past the end */
		0x100000, 0x101000, 0x102000, /* the bitmap's own frames */
		0x40000000, UINT64_MAX & ~0xfffULL,
	};
	struct frame_cache c = { 0 };
	paddr_t pa = frame_alloc(&pool, NULL);
	u64 nfree;

	take(pa);
	give(NULL, pa);
	nfree = frame_free_count(&pool);
	assert_int_equal(frame_free(&pool, NULL, pa), -EINVAL); /* double */
	assert_int_equal(frame_free(&pool, &c, pa), -EINVAL);
	assert_int_equal(frame_free(&pool, NULL, 0x5000), -EINVAL); /* never allocated */
	assert_int_equal(frame_free(&pool, &c, 0x5000), -EINVAL);
	pa = frame_alloc(&pool, NULL);
	take(pa);
	for (u64 off = 1; off < PAGE_SIZE; off <<= 1) {
		assert_int_equal(frame_free(&pool, NULL, pa + off), -EINVAL);
		assert_int_equal(frame_free(&pool, &c, pa + off), -EINVAL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(foreign); i++) {
		assert_int_equal(frame_free(&pool, NULL, foreign[i]), -EINVAL);
		assert_int_equal(frame_free(&pool, &c, foreign[i]), -EINVAL);
	}
	assert_int_equal(c.n, 0);
	assert_int_equal(frame_free_count(&pool), nfree - 1);
	give(NULL, pa);
	assert_int_equal(frame_free_count(&pool), nfree);
}

/* free_count + cached + held == total, whatever the caches do. */
static void expect_accounted(const struct frame_cache *a, const struct frame_cache *b, u64 out_n)
{
	assert_int_equal(frame_free_count(&pool) + a->n + b->n + out_n, frame_total(&pool));
	assert_true(a->n <= FRAME_CACHE_SIZE && b->n <= FRAME_CACHE_SIZE);
}

static void test_caches(void **state)
{
	(void)state;
	struct frame_cache c1 = { 0 }, c2 = { 0 };
	paddr_t pa, list[200];

	/* a miss refills half a cache */
	pa = frame_alloc(&pool, &c1);
	take(pa);
	assert_int_equal(c1.n, FRAME_CACHE_BATCH - 1);
	assert_int_equal(frame_free_count(&pool), POOL_TOTAL - FRAME_CACHE_BATCH);
	give(&c1, pa);
	assert_int_equal(c1.n, FRAME_CACHE_BATCH);
	expect_accounted(&c1, &c2, 0);

	/* allocate through one cache, free through the other: it spills half when full */
	for (int i = 0; i < 200; i++) {
		list[i] = frame_alloc(&pool, &c1);
		take(list[i]);
		expect_accounted(&c1, &c2, i + 1);
	}
	for (int i = 0; i < 200; i++) {
		give(&c2, list[i]);
		expect_accounted(&c1, &c2, 199 - i);
		assert_true(c2.n > 0);
	}
	frame_cache_drain(&pool, &c1);
	frame_cache_drain(&pool, &c2);
	assert_int_equal(c1.n + c2.n, 0);
	assert_int_equal(frame_free_count(&pool), POOL_TOTAL);
	frame_cache_drain(&pool, &c1); /* an empty cache drains to nothing */

	/* the whole pool through a cache, back through the other */
	assert_int_equal(alloc_all(&c1), POOL_TOTAL);
	assert_int_equal(c1.n, 0);
	expect_accounted(&c1, &c2, POOL_TOTAL);
	free_all(&c2);
	frame_cache_drain(&pool, &c2);
	assert_int_equal(frame_free_count(&pool), POOL_TOTAL);

	/* interleaved */
	for (int i = 0; i < 200; i++) {
		list[i] = frame_alloc(&pool, i % 3 ? &c1 : &c2);
		take(list[i]);
	}
	for (int i = 0; i < 200; i += 2)
		give(i % 4 ? NULL : &c1, list[i]);
	for (int i = 0; i < 100; i++) {
		pa = frame_alloc(&pool, i % 2 ? &c1 : NULL);
		take(pa);
	}
	expect_accounted(&c1, &c2, 200);
	free_all(&c2);
	frame_cache_drain(&pool, &c1);
	frame_cache_drain(&pool, &c2);
	assert_int_equal(frame_free_count(&pool), POOL_TOTAL);
}

/* A frame sitting in any cache is free: freeing it again is caught wherever it sits. */
static void test_cache_double_free(void **state)
{
	(void)state;
	struct frame_cache c1 = { 0 }, c2 = { 0 };
	paddr_t pa = frame_alloc(&pool, NULL);

	take(pa);
	give(&c1, pa);
	assert_int_equal(frame_free(&pool, &c1, pa), -EINVAL);
	assert_int_equal(frame_free(&pool, &c2, pa), -EINVAL);
	assert_int_equal(frame_free(&pool, NULL, pa), -EINVAL);
	assert_int_equal(c1.n, 1);
	assert_int_equal(c2.n, 0);

	/* handed out again from the cache, it can be freed once more */
	assert_int_equal(frame_alloc(&pool, &c1), pa);
	take(pa);
	give(&c2, pa);
	assert_int_equal(frame_free(&pool, &c1, pa), -EINVAL);
	frame_cache_drain(&pool, &c2);
	assert_int_equal(frame_free(&pool, &c1, pa), -EINVAL);
	assert_int_equal(frame_free(&pool, NULL, pa), -EINVAL);

	/* frames a refill put into a cache are free too */
	pa = frame_alloc(&pool, &c1);
	take(pa);
	for (u32 i = 0; i < c1.n; i++) {
		assert_int_equal(frame_free(&pool, NULL, c1.frames[i]), -EINVAL);
		assert_int_equal(frame_free(&pool, &c2, c1.frames[i]), -EINVAL);
	}
	give(NULL, pa);
	frame_cache_drain(&pool, &c1);
	assert_int_equal(frame_free_count(&pool), POOL_TOTAL);
}

static bool run_free(paddr_t pa, u64 count)
{
	for (u64 i = 0; i < count; i++)
		if (held[pa / PAGE_SIZE + i])
			return false;
	return true;
}

static void take_run(paddr_t pa, u64 count, u64 align)
{
	assert_int_not_equal(pa, 0);
	assert_int_equal(pa % align, 0);
	/* one range holds the whole run */
	assert_true(in_ranges(pool_ranges, ARRAY_SIZE(pool_ranges), pa));
	assert_true(in_ranges(pool_ranges, ARRAY_SIZE(pool_ranges), pa + (count - 1) * PAGE_SIZE));
	assert_true(run_free(pa, count));
	for (u64 i = 0; i < count; i++)
		take(pa + i * PAGE_SIZE);
}

static void test_contig(void **state)
{
	(void)state;
	paddr_t pa;

	/* first fit, skipping frame 0 and the bitmap */
	pa = frame_alloc_contig(&pool, 16, PAGE_SIZE);
	assert_int_equal(pa, 0x1000);
	take_run(pa, 16, PAGE_SIZE);
	pa = frame_alloc_contig(&pool, 1, 0x10000);
	assert_int_equal(pa, 0x20000);
	take_run(pa, 1, 0x10000);
	pa = frame_alloc_contig(&pool, 0x9f, PAGE_SIZE); /* too long for the first range */
	assert_int_equal(pa, 0x103000);
	take_run(pa, 0x9f, PAGE_SIZE);

	/* 2 MiB aligned: only [0x400000, 0x600000), [0x600000, 0x800000), [0x1000000, 0x1200000) */
	pa = frame_alloc_contig(&pool, 512, LARGE_PAGE_SIZE);
	assert_int_equal(pa, 0x400000);
	take_run(pa, 512, LARGE_PAGE_SIZE);
	pa = frame_alloc_contig(&pool, 300, LARGE_PAGE_SIZE);
	assert_int_equal(pa, 0x600000);
	take_run(pa, 300, LARGE_PAGE_SIZE);
	pa = frame_alloc_contig(&pool, 512, LARGE_PAGE_SIZE);
	assert_int_equal(pa, 0x1000000);
	take_run(pa, 512, LARGE_PAGE_SIZE);
	assert_int_equal(frame_alloc_contig(&pool, 1, LARGE_PAGE_SIZE), 0);
	assert_int_equal(frame_alloc_contig(&pool, 1, 0x2000000), 0);

	/* nothing spans a hole, nothing is longer than the pool */
	assert_int_equal(frame_alloc_contig(&pool, 0x200, PAGE_SIZE), 0);
	assert_int_equal(frame_alloc_contig(&pool, POOL_FRAMES + 1, PAGE_SIZE), 0);
	assert_int_equal(frame_alloc_contig(&pool, UINT64_MAX, PAGE_SIZE), 0);

	/* bad arguments */
	assert_int_equal(frame_alloc_contig(&pool, 0, PAGE_SIZE), 0);
	assert_int_equal(frame_alloc_contig(&pool, 1, 0), 0);
	assert_int_equal(frame_alloc_contig(&pool, 1, 0x800), 0);
	assert_int_equal(frame_alloc_contig(&pool, 1, 0x3000), 0);
	assert_int_equal(frame_alloc_contig(&pool, 1, 1ULL << 63), 0);

	/* runs are really taken: the rest of the pool is everything else */
	u64 taken = 16 + 1 + 0x9f + 512 + 300 + 512;
	assert_int_equal(frame_free_count(&pool), POOL_TOTAL - taken);
	assert_int_equal(alloc_all(NULL), POOL_TOTAL - taken);
	free_all(NULL);
	assert_int_equal(frame_free_count(&pool), POOL_TOTAL);
}

static void test_contig_fragmented(void **state)
{
	(void)state;
	u64 n = alloc_all(NULL);
	paddr_t pa;

	assert_int_equal(n, POOL_TOTAL);
	/* free every other frame: single frames fit, pairs do not */
	for (u64 i = 0; i < MAX_FRAMES; i += 2)
		if (held[i])
			give(NULL, i * PAGE_SIZE);
	assert_int_equal(frame_alloc_contig(&pool, 2, PAGE_SIZE), 0);
	assert_int_equal(frame_alloc_contig(&pool, 2, LARGE_PAGE_SIZE), 0);
	pa = frame_alloc_contig(&pool, 1, LARGE_PAGE_SIZE);
	assert_int_equal(pa, 0x400000);
	take_run(pa, 1, LARGE_PAGE_SIZE);
	pa = frame_alloc_contig(&pool, 1, PAGE_SIZE);
	assert_int_equal(pa, 0x2000);
	take_run(pa, 1, PAGE_SIZE);
	/* frame by frame, a run can be given back */
	give(NULL, 0x5000);
	pa = frame_alloc_contig(&pool, 3, PAGE_SIZE);
	assert_int_equal(pa, 0x4000);
	take_run(pa, 3, PAGE_SIZE);
	free_all(NULL);
	assert_int_equal(frame_free_count(&pool), POOL_TOTAL);
	pa = frame_alloc_contig(&pool, 0x9e, PAGE_SIZE);
	assert_int_equal(pa, 0x1000);
}

/* mm_init()'s recipe: usable ranges from the map, the bitmap at the start of one of them. */
static void test_pool_over_boot_map(void **state)
{
	(void)state;
	static const struct phys_range res[] = { { 0, 0x100000 }, { 0x200000, 0x5a4234 } };
	struct phys_range r[8];
	size_t n = physmem_usable(seabios, ARRAY_SIZE(seabios), res, 2, UINT64_MAX, r, 8, NULL);
	u64 bytes = ALIGN_UP(frame_bitmap_bytes(r, n), (u64)PAGE_SIZE), frames = 0;
	struct frame_cache c = { 0 };
	paddr_t pa, last = 0;

	assert_int_equal(n, 2);
	assert_true(bytes <= sizeof(bitmap_mem));
	assert_int_equal(frame_pool_init(&pool, r, n, bitmap_mem, r[1].start, bytes), 0);
	for (size_t i = 0; i < n; i++)
		frames += (r[i].end - r[i].start) / PAGE_SIZE;
	assert_int_equal(frame_total(&pool), frames - bytes / PAGE_SIZE);
	while ((pa = frame_alloc(&pool, &c))) {
		assert_true(in_ranges(r, n, pa));
		assert_false(pa >= r[1].start && pa < r[1].start + bytes);
		last = MAX(last, pa);
		frames--;
	}
	assert_int_equal(frames, bytes / PAGE_SIZE);
	assert_int_equal(last, 0x1ffde000);
}

/* ---- many CPUs at once ---- */

#define THREADS 4
#define HOLD 256
#define ITERATIONS 100000

struct worker {
	pthread_t thread;
	int id;
	struct frame_cache cache;
	paddr_t held[HOLD];
	int n;
	u64 rng;
	int errors; /* cmocka is not thread-safe: report back */
	u64 allocs, fails; /* fails: the pool was empty (expected when scarce) */
};

static int owner[MAX_FRAMES]; /* which worker holds a frame, 0 for none */
static pthread_barrier_t start_line; /* all start together, for as much overlap as possible */

static u64 worker_rnd(struct worker *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static void worker_take(struct worker *w, paddr_t pa)
{
	int none = 0;

	if (pa % PAGE_SIZE || !in_ranges(pool_ranges, ARRAY_SIZE(pool_ranges), pa) ||
	    !__atomic_compare_exchange_n(&owner[pa / PAGE_SIZE], &none, w->id, false,
					 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		w->errors++;
	w->held[w->n++] = pa;
	w->allocs++;
}

static void worker_give(struct worker *w, int k, struct frame_cache *c)
{
	paddr_t pa = w->held[k];

	w->held[k] = w->held[--w->n];
	/* released before the free: once freed, another worker may get it at once */
	if (__atomic_exchange_n(&owner[pa / PAGE_SIZE], 0, __ATOMIC_RELAXED) != w->id)
		w->errors++;
	if (frame_free(&pool, c, pa))
		w->errors++;
	/* a double free of a frame in our own cache is caught, and nobody else can take it */
	if (c == &w->cache && c->n && c->frames[c->n - 1] == pa &&
	    frame_free(&pool, (worker_rnd(w) & 1) ? c : NULL, pa) != -EINVAL)
		w->errors++;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	pthread_barrier_wait(&start_line);
	for (int i = 0; i < ITERATIONS; i++) {
		u64 r = worker_rnd(w);
		struct frame_cache *c = r & 0x30 ? &w->cache : NULL;

		/* Host threads, unlike CPUs in the kernel, get preempted: queueing on the ticket lock
		 * behind a descheduled thread would cost a time slice per hand-over (a lock convoy
		 * that can take minutes on a loaded machine), so let the holder run instead. */
		while (spin_is_locked(&pool.lock))
			sched_yield();
		if (r % 997 == 0) {
			frame_cache_drain(&pool, &w->cache);
		} else if (r % 89 == 0 && w->n + 4 <= HOLD) {
			paddr_t pa = frame_alloc_contig(&pool, 4, 0x4000);

			if (pa % 0x4000)
				w->errors++;
			for (int k = 0; pa && k < 4; k++)
				worker_take(w, pa + k * PAGE_SIZE);
		} else if ((r & 0x300) && w->n < HOLD) {
			paddr_t pa = frame_alloc(&pool, c);

			if (pa) {
				worker_take(w, pa);
			} else {
				w->fails++;
				sched_yield(); /* let the others free some */
			}
		} else if (w->n) {
			worker_give(w, (r >> 20) % w->n, c);
		}
	}
	while (w->n)
		worker_give(w, 0, &w->cache);
	frame_cache_drain(&pool, &w->cache);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	static struct worker workers[THREADS];
	u64 allocs = 0;

	memset(owner, 0, sizeof(owner));
	memset(workers, 0, sizeof(workers));
	assert_int_equal(pthread_barrier_init(&start_line, NULL, THREADS), 0);
	for (int i = 0; i < THREADS; i++) {
		workers[i].id = i + 1;
		workers[i].rng = 0x9e3779b97f4a7c15ULL * (i + 1);
		assert_int_equal(pthread_create(&workers[i].thread, NULL, worker_run, &workers[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(workers[i].thread, NULL), 0);
		assert_int_equal(workers[i].errors, 0);
		assert_int_equal(workers[i].n, 0);
		assert_int_equal(workers[i].cache.n, 0);
		allocs += workers[i].allocs;
	}
	pthread_barrier_destroy(&start_line);
	assert_true(allocs > THREADS * ITERATIONS / 8);
	assert_false(spin_is_locked(&pool.lock));
	assert_int_equal(frame_free_count(&pool), frame_total(&pool));
	assert_int_equal(alloc_all(NULL), frame_total(&pool));
}

/* The same with memory tight enough that allocations fail and caches fight over the rest. */
static void test_threads_scarce(void **state)
{
	static const struct phys_range scarce[] = { { 0x400000, 0x400000 + 600 * PAGE_SIZE } };

	memset(&pool, 0, sizeof(pool));
	assert_int_equal(frame_pool_init(&pool, scarce, 1, bitmap_mem, 0x10000000,
					 frame_bitmap_bytes(scarce, 1)), 0);
	assert_int_equal(frame_total(&pool), 600);
	/* in_ranges() checks against pool_ranges, which contain the scarce range too */
	test_threads(state);
	assert_int_equal(frame_free_count(&pool), 0);
	free_all(NULL);
	assert_int_equal(frame_free_count(&pool), 600);
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_usable_seabios),
		T(test_usable_high_memory_and_limit),
		T(test_usable_ovmf),
		T(test_usable_unaligned_entries),
		T(test_usable_overlapping_reserved),
		T(test_usable_overlapping_entries),
		T(test_usable_unsorted_and_merged),
		T(test_usable_top_of_address_space),
		T(test_usable_overflow),
		T(test_bitmap_bytes),
		T(test_pool_init_rejects),
		T(test_alloc_all),
		T(test_free_errors),
		T(test_caches),
		T(test_cache_double_free),
		T(test_contig),
		T(test_contig_fragmented),
		T(test_pool_over_boot_map),
		T(test_threads),
		T(test_threads_scarce),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
