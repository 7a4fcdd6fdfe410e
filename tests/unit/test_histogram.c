/* Unit tests for kernel/histogram.c: bucket geometry (exhaustive below 5000, every bucket edge,
 * random 64-bit values), percentiles against exact ones from kernel/stats.c on known
 * distributions, merging, saturation, the empty histogram, summaries and hist_foreach(). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/histogram.h"
#include "kernel/stats.h"

#define LAST (HIST_BUCKETS - 1)

static u64 lcg = 0x853c49e6748fea9bull;

/* Knuth's MMIX LCG; the high half is the usable part. */
static u64 next(void)
{
	lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
	return lcg;
}

static u64 below(u64 n)
{
	return (next() >> 16) % n;
}

/* A random value with a random number of significant bits, so every exponent is covered. */
static u64 any_magnitude(void)
{
	u64 v = next() ^ (next() >> 32);

	return v >> below(64);
}

static struct histogram *new_hist(void)
{
	struct histogram *h = malloc(sizeof(*h));

	assert_non_null(h);
	memset(h, 0x5a, sizeof(*h));
	hist_init(h);
	return h;
}

static u64 *new_array(size_t n)
{
	u64 *v = malloc(n * sizeof(u64));

	assert_non_null(v);
	return v;
}

/* Every property a single value's bucket must have. */
static void check_value(u64 v)
{
	u32 b = hist_bucket_of(v);
	u64 lo = hist_bucket_low(b), hi = hist_bucket_high(b);

	if (b >= HIST_BUCKETS || lo > v || v > hi)
		fail_msg("%llu: bucket %u [%llu, %llu]", (unsigned long long)v, b,
			 (unsigned long long)lo, (unsigned long long)hi);
	if (v < 64 && (b != v || lo != v || hi != v))
		fail_msg("%llu not exact: bucket %u", (unsigned long long)v, b);
}

/* ---- bucket geometry ---- */

static void test_bucket_count(void **state)
{
	(void)state;
	assert_int_equal(HIST_BUCKETS, (64 - 6) * 32 + 64);
	assert_true(sizeof(struct histogram) < 8192);
}

static void test_small_values_exact(void **state)
{
	(void)state;
	for (u64 v = 0; v <= 5000; v++) {
		check_value(v);
		if (v && hist_bucket_of(v) < hist_bucket_of(v - 1))
			fail_msg("bucket of %llu below bucket of %llu", (unsigned long long)v,
				 (unsigned long long)v - 1);
	}
	for (u32 b = 0; b < 64; b++) {
		assert_int_equal(hist_bucket_low(b), b);
		assert_int_equal(hist_bucket_high(b), b);
	}
	assert_int_equal(hist_bucket_of(64), 64);
	assert_int_equal(hist_bucket_of(65), 64);
	assert_int_equal(hist_bucket_of(66), 65);
	assert_int_equal(hist_bucket_high(64), 65);
}

static void test_bucket_edges(void **state)
{
	(void)state;
	assert_int_equal(hist_bucket_low(0), 0);
	assert_int_equal(hist_bucket_high(LAST), UINT64_MAX);
	assert_int_equal(hist_bucket_of(UINT64_MAX), LAST);
	assert_int_equal(hist_bucket_low(HIST_BUCKETS), UINT64_MAX);
	assert_int_equal(hist_bucket_high(UINT32_MAX), UINT64_MAX);
	for (u32 b = 0; b < HIST_BUCKETS; b++) {
		u64 lo = hist_bucket_low(b), hi = hist_bucket_high(b);

		assert_true(lo <= hi);
		assert_int_equal(hist_bucket_of(lo), b);
		assert_int_equal(hist_bucket_of(hi), b);
		assert_int_equal(hist_bucket_of(lo + (hi - lo) / 2), b);
		if (b < LAST)
			assert_int_equal(hi + 1, hist_bucket_low(b + 1));
		/* width / low <= 1/32 from 64 up */
		if (lo >= 64 && (hi - lo + 1) > lo / 32)
			fail_msg("bucket %u [%llu, %llu] too wide", b, (unsigned long long)lo,
				 (unsigned long long)hi);
	}
}

static void test_powers_of_two(void **state)
{
	(void)state;
	for (u32 e = 0; e < 64; e++) {
		u64 p = 1ull << e;

		check_value(p);
		check_value(p - 1);
		check_value(p + 1);
		check_value(p | (p - 1));
		assert_int_equal(hist_bucket_low(hist_bucket_of(p)), p);
		assert_int_equal(hist_bucket_high(hist_bucket_of(p - 1)), p - 1);
	}
}

static void test_random_values(void **state)
{
	(void)state;
	for (int i = 0; i < 1000000; i++) {
		u64 a = any_magnitude(), b = any_magnitude();

		check_value(a);
		if ((a < b && hist_bucket_of(a) > hist_bucket_of(b)) ||
		    (a > b && hist_bucket_of(a) < hist_bucket_of(b)))
			fail_msg("buckets not monotonic: %llu, %llu", (unsigned long long)a,
				 (unsigned long long)b);
	}
}

/* ---- percentiles against exact order statistics ---- */

/* The estimate must lie in the same bucket as the exact nearest-rank value: within 1/32 of
 * it (plus rounding), exact below 64, and exact at p0 and p1000. */
static void check_estimate(u64 got, u64 want, u32 per_mille)
{
	u64 err = got > want ? got - want : want - got;

	if (hist_bucket_of(got) != hist_bucket_of(want) || err > want / 32 + 1)
		fail_msg("p%u: %llu, exact %llu", per_mille, (unsigned long long)got,
			 (unsigned long long)want);
}

/* Histogram v (unsorted), sort it, and compare every per mille and the summary. */
static void check_distribution(u64 *v, size_t n)
{
	struct histogram *h = new_hist();
	struct summary s;
	unsigned __int128 sum = 0;

	for (size_t i = 0; i < n; i++) {
		hist_add(h, v[i]);
		sum += v[i];
	}
	stats_sort(v, n);
	assert_int_equal(h->count, n);
	assert_int_equal(h->min, v[0]);
	assert_int_equal(h->max, v[n - 1]);
	assert_int_equal(h->sum, sum > UINT64_MAX ? UINT64_MAX : (u64)sum);
	for (u32 p = 0; p <= 1000; p++)
		check_estimate(hist_percentile(h, p), stats_percentile(v, n, p), p);
	assert_int_equal(hist_percentile(h, 0), v[0]);
	assert_int_equal(hist_percentile(h, 1000), v[n - 1]);
	assert_int_equal(hist_percentile(h, 1001), v[n - 1]);
	assert_int_equal(hist_percentile(h, UINT32_MAX), v[n - 1]);

	memset(&s, 0xa5, sizeof(s));
	hist_summary(h, &s);
	assert_int_equal(s.count, n);
	assert_int_equal(s.min, v[0]);
	assert_int_equal(s.max, v[n - 1]);
	if (sum <= UINT64_MAX)
		assert_int_equal(s.mean, (u64)(sum / n));
	check_estimate(s.p50, stats_percentile(v, n, 500), 500);
	check_estimate(s.p90, stats_percentile(v, n, 900), 900);
	check_estimate(s.p99, stats_percentile(v, n, 990), 990);
	check_estimate(s.p999, stats_percentile(v, n, 999), 999);
	free(h);
}

static void test_uniform_1_1000(void **state)
{
	(void)state;
	u64 *v = new_array(1000);

	for (size_t i = 0; i < 1000; i++)
		v[i] = 1000 - i;
	check_distribution(v, 1000);
	free(v);
}

static void test_uniform_1_100000(void **state)
{
	(void)state;
	u64 *v = new_array(100000);

	for (size_t i = 0; i < 100000; i++)
		v[i] = (i * 7919) % 100000 + 1; /* a permutation of 1..100000 */
	check_distribution(v, 100000);
	free(v);
}

static void test_uniform_random(void **state)
{
	(void)state;
	u64 *v = new_array(50000);

	for (size_t i = 0; i < 50000; i++)
		v[i] = 1000 + below(1000000);
	check_distribution(v, 50000);
	free(v);
}

static void test_constant(void **state)
{
	(void)state;
	static const u64 values[] = { 0, 1, 63, 64, 65, 1234567, 123456789, UINT64_MAX };
	u64 *v = new_array(1000);

	for (size_t k = 0; k < ARRAY_SIZE(values); k++) {
		struct histogram *h = new_hist();

		for (size_t i = 0; i < 1000; i++)
			v[i] = values[k];
		check_distribution(v, 1000);
		for (size_t i = 0; i < 1000; i++)
			hist_add(h, values[k]);
		/* A single repeated value is exact at every percentile. */
		for (u32 p = 0; p <= 1000; p++)
			assert_int_equal(hist_percentile(h, p), values[k]);
		free(h);
	}
	free(v);
}

/* Local shootdowns near 300 cycles, remote ones near 50000: the modes must not blur. */
static void test_bimodal(void **state)
{
	(void)state;
	u64 *v = new_array(20000);

	for (size_t i = 0; i < 20000; i++)
		v[i] = below(10) < 7 ? 280 + below(40) : 48000 + below(4000);
	check_distribution(v, 20000);
	free(v);
}

/* Exponential-ish: halve the chance per doubling, plus a rare huge tail (interrupts, SMIs). */
static void test_heavy_tail(void **state)
{
	(void)state;
	u64 *v = new_array(100000);

	for (size_t i = 0; i < 100000; i++) {
		u32 doublings = (u32)__builtin_ctzll(next() >> 24 | 1ull << 39);
		u64 base = 200ull << doublings;

		v[i] = base + below(base);
		if (below(1000) == 0)
			v[i] = 1ull << (40 + below(23));
	}
	check_distribution(v, 100000);
	free(v);
}

static void test_full_range(void **state)
{
	(void)state;
	u64 *v = new_array(30000);

	for (size_t i = 0; i < 30000; i++)
		v[i] = any_magnitude();
	v[0] = 0;
	v[1] = UINT64_MAX;
	v[2] = UINT64_MAX - 1;
	check_distribution(v, 30000); /* sum saturates here */
	free(v);
}

static void test_small_counts(void **state)
{
	(void)state;
	u64 *v = new_array(7);

	for (size_t n = 1; n <= 7; n++)
		for (int round = 0; round < 200; round++) {
			for (size_t i = 0; i < n; i++)
				v[i] = any_magnitude();
			check_distribution(v, n);
		}
	free(v);
}

/* ---- merge, saturation, empty ---- */

static void test_merge(void **state)
{
	(void)state;
	struct histogram *parts[4], *all = new_hist(), *merged = new_hist();

	for (int k = 0; k < 4; k++)
		parts[k] = new_hist();
	for (int i = 0; i < 40000; i++) {
		u64 v = below(3) ? 500 + below(2000) : any_magnitude() >> 8;

		hist_add(all, v);
		hist_add(parts[below(3)], v); /* parts[3] stays empty */
	}
	hist_merge(merged, parts[3]); /* empty into empty */
	assert_int_equal(merged->count, 0);
	for (int k = 0; k < 4; k++)
		hist_merge(merged, parts[k]);
	assert_memory_equal(merged, all, sizeof(*all));

	/* Merging into a non-empty one, in the other order. */
	hist_init(merged);
	hist_merge(merged, parts[2]);
	hist_merge(merged, parts[1]);
	hist_merge(merged, parts[3]);
	hist_merge(merged, parts[0]);
	assert_memory_equal(merged, all, sizeof(*all));
	for (int k = 0; k < 4; k++)
		free(parts[k]);
	free(merged);
	free(all);
}

static void test_merge_min_max(void **state)
{
	(void)state;
	struct histogram *a = new_hist(), *b = new_hist();

	hist_add(a, 100);
	hist_add(b, 5);
	hist_add(b, 7);
	hist_merge(a, b);
	assert_int_equal(a->min, 5);
	assert_int_equal(a->max, 100);
	assert_int_equal(a->count, 3);
	assert_int_equal(a->sum, 112);
	free(b);
	free(a);
}

static void test_sum_saturates(void **state)
{
	(void)state;
	struct histogram *h = new_hist(), *g = new_hist();

	hist_add(h, UINT64_MAX - 10);
	assert_int_equal(h->sum, UINT64_MAX - 10);
	hist_add(h, 10);
	assert_int_equal(h->sum, UINT64_MAX);
	hist_add(h, 11);
	assert_int_equal(h->sum, UINT64_MAX);
	hist_add(h, 0);
	assert_int_equal(h->sum, UINT64_MAX);
	assert_int_equal(h->count, 4);

	hist_add(g, 1ull << 63);
	hist_merge(g, h);
	assert_int_equal(g->sum, UINT64_MAX);
	assert_int_equal(g->count, 5);
	free(g);
	free(h);
}

static void test_bucket_saturates(void **state)
{
	(void)state;
	struct histogram *h = new_hist(), *g = new_hist();

	hist_add(h, 1000);
	h->buckets[hist_bucket_of(1000)] = UINT32_MAX - 1;
	hist_add(h, 1000);
	assert_int_equal(h->buckets[hist_bucket_of(1000)], UINT32_MAX);
	hist_add(h, 1000);
	assert_int_equal(h->buckets[hist_bucket_of(1000)], UINT32_MAX);
	assert_int_equal(h->count, 3);

	g->buckets[hist_bucket_of(1000)] = 5;
	g->count = 5;
	g->min = g->max = 1000;
	hist_merge(g, h);
	assert_int_equal(g->buckets[hist_bucket_of(1000)], UINT32_MAX);
	assert_int_equal(g->count, 8);
	free(g);
	free(h);
}

static void count_calls(void *ctx, u64 low, u64 high, u64 count)
{
	(void)low;
	(void)high;
	(void)count;
	(*(int *)ctx)++;
}

static void test_empty(void **state)
{
	(void)state;
	static struct histogram zeroed; /* static storage: valid without hist_init() */
	struct histogram *h = new_hist();
	struct summary s;
	int calls = 0;

	assert_memory_equal(h, &zeroed, sizeof(zeroed));
	assert_int_equal(hist_percentile(h, 0), 0);
	assert_int_equal(hist_percentile(h, 500), 0);
	assert_int_equal(hist_percentile(h, 1000), 0);
	memset(&s, 0xa5, sizeof(s));
	hist_summary(h, &s);
	assert_int_equal(s.count, 0);
	assert_int_equal(s.min, 0);
	assert_int_equal(s.max, 0);
	assert_int_equal(s.mean, 0);
	assert_int_equal(s.p50, 0);
	assert_int_equal(s.p90, 0);
	assert_int_equal(s.p99, 0);
	assert_int_equal(s.p999, 0);
	hist_foreach(h, count_calls, &calls);
	assert_int_equal(calls, 0);

	/* The first value sets min and max even though both start at 0. */
	hist_add(&zeroed, 77);
	assert_int_equal(zeroed.min, 77);
	assert_int_equal(zeroed.max, 77);
	hist_add(&zeroed, 3);
	assert_int_equal(zeroed.min, 3);
	assert_int_equal(zeroed.max, 77);
	free(h);
}

/* The histogram's intervals are the exact ones read at bucket resolution: each end lies in the
 * bucket of the exact order statistic, the interval holds its percentile, and p99's
 * boundedness is the exact one. */
static void test_summary_intervals(void **state)
{
	(void)state;
	for (int round = 0; round < 200; round++) {
		size_t n = 1 + below(5000);
		struct histogram *h = new_hist();
		u64 *v = new_array(n);
		struct summary hs, es;

		for (size_t i = 0; i < n; i++) {
			v[i] = round & 1 ? any_magnitude() : 1000 + below(100000);
			hist_add(h, v[i]);
		}
		hist_summary(h, &hs);
		stats_summarize(v, n, &es);
		assert_true(hs.p50_lo <= hs.p50 && hs.p50 <= hs.p50_hi);
		assert_true(hs.p99_lo <= hs.p99 && hs.p99 <= hs.p99_hi);
		assert_true(es.p50_lo <= es.p50 && es.p50 <= es.p50_hi);
		assert_int_equal(hist_bucket_of(hs.p50_lo), hist_bucket_of(es.p50_lo));
		assert_int_equal(hist_bucket_of(hs.p50_hi), hist_bucket_of(es.p50_hi));
		assert_int_equal(hist_bucket_of(hs.p99_lo), hist_bucket_of(es.p99_lo));
		assert_int_equal(hist_bucket_of(hs.p99_hi), hist_bucket_of(es.p99_hi));
		assert_int_equal(hs.p99_bounded, es.p99_bounded);
		assert_int_equal(es.p99_bounded, n >= 1000 ? 1 : es.p99_bounded);
		free(v);
		free(h);
	}
}

/* Counting above a value: exact against the samples wherever v and the sample are in different
 * buckets, never counting v's own bucket. */
static void test_count_above(void **state)
{
	(void)state;
	for (int round = 0; round < 100; round++) {
		size_t n = 1 + below(3000);
		struct histogram *h = new_hist();
		u64 *v = new_array(n), cut = round & 1 ? any_magnitude() : below(200000);
		u64 above = 0;

		for (size_t i = 0; i < n; i++) {
			v[i] = round & 1 ? any_magnitude() : below(200000);
			hist_add(h, v[i]);
			above += hist_bucket_of(v[i]) > hist_bucket_of(cut);
		}
		assert_int_equal(hist_count_above(h, cut), above);
		free(v);
		free(h);
	}
	{
		struct histogram *h = new_hist();

		assert_int_equal(hist_count_above(h, 0), 0);
		hist_add(h, UINT64_MAX);
		assert_int_equal(hist_count_above(h, 0), 1);
		assert_int_equal(hist_count_above(h, UINT64_MAX), 0);
		free(h);
	}
}

static void test_single(void **state)
{
	(void)state;
	static const u64 values[] = { 0, 42, 100, 1000001, 1ull << 50, UINT64_MAX };

	for (size_t k = 0; k < ARRAY_SIZE(values); k++) {
		struct histogram *h = new_hist();
		struct summary s;

		hist_add(h, values[k]);
		hist_summary(h, &s);
		assert_int_equal(s.count, 1);
		assert_int_equal(s.min, values[k]);
		assert_int_equal(s.max, values[k]);
		assert_int_equal(s.mean, values[k]);
		assert_int_equal(s.p50, values[k]);
		assert_int_equal(s.p90, values[k]);
		assert_int_equal(s.p99, values[k]);
		assert_int_equal(s.p999, values[k]);
		free(h);
	}
}

/* Two values in one wide bucket: the interior estimate is the middle of [min, max]. */
static void test_midpoint(void **state)
{
	(void)state;
	struct histogram *h = new_hist();

	for (int i = 0; i < 10; i++)
		hist_add(h, 1000000 + i * 100);
	assert_int_equal(hist_bucket_of(1000000), hist_bucket_of(1000900));
	assert_int_equal(hist_percentile(h, 0), 1000000);
	assert_int_equal(hist_percentile(h, 500), 1000450);
	assert_int_equal(hist_percentile(h, 1000), 1000900);

	hist_init(h);
	hist_add(h, 1);
	for (int i = 0; i < 3; i++)
		hist_add(h, 1ull << 40);
	hist_add(h, UINT64_MAX);
	/* 2^40 is the low edge of its bucket: the midpoint, not the value itself. */
	assert_int_equal(hist_percentile(h, 500),
			 (1ull << 40) + (hist_bucket_high(hist_bucket_of(1ull << 40)) - (1ull << 40)) / 2);
	free(h);
}

/* ---- hist_foreach ---- */

struct walk {
	u64 total, last_high;
	int calls;
};

static void check_step(void *ctx, u64 low, u64 high, u64 count)
{
	struct walk *w = ctx;
	u32 b = hist_bucket_of(low);

	assert_true(count > 0);
	assert_int_equal(hist_bucket_low(b), low);
	assert_int_equal(hist_bucket_high(b), high);
	if (w->calls)
		assert_true(low > w->last_high);
	w->last_high = high;
	w->total += count;
	w->calls++;
}

static void test_foreach(void **state)
{
	(void)state;
	struct histogram *h = new_hist();
	struct walk w = { 0 };
	int nonempty = 0;

	for (int i = 0; i < 10000; i++)
		hist_add(h, any_magnitude());
	hist_add(h, 0);
	hist_add(h, UINT64_MAX);
	hist_foreach(h, check_step, &w);
	for (u32 b = 0; b < HIST_BUCKETS; b++)
		nonempty += h->buckets[b] != 0;
	assert_int_equal(w.calls, nonempty);
	assert_int_equal(w.total, h->count);
	assert_int_equal(w.last_high, UINT64_MAX);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_count),
		cmocka_unit_test(test_small_values_exact),
		cmocka_unit_test(test_bucket_edges),
		cmocka_unit_test(test_powers_of_two),
		cmocka_unit_test(test_random_values),
		cmocka_unit_test(test_uniform_1_1000),
		cmocka_unit_test(test_uniform_1_100000),
		cmocka_unit_test(test_uniform_random),
		cmocka_unit_test(test_constant),
		cmocka_unit_test(test_bimodal),
		cmocka_unit_test(test_heavy_tail),
		cmocka_unit_test(test_full_range),
		cmocka_unit_test(test_small_counts),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_merge_min_max),
		cmocka_unit_test(test_sum_saturates),
		cmocka_unit_test(test_bucket_saturates),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_single),
		cmocka_unit_test(test_summary_intervals),
		cmocka_unit_test(test_count_above),
		cmocka_unit_test(test_midpoint),
		cmocka_unit_test(test_foreach),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
