/* Unit tests for kernel/stats.c: the heap sort against qsort() on many shapes and sizes,
 * nearest-rank percentiles against a reference that counts instead of computing a rank, and
 * summaries of known distributions (1..1000, 1..100, uniform, heavy-tailed, near 2^40).
 * Arrays are exactly-sized heap copies so AddressSanitizer catches any access outside them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/stats.h"

static u64 rng = 0x2545f4914f6cdd1dull;

static u64 next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static u64 below(u64 n)
{
	return next() % n;
}

static void *copy(const void *p, size_t bytes)
{
	void *c = malloc(bytes ? bytes : 1);

	assert_non_null(c);
	memcpy(c, p, bytes);
	return c;
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return (x > y) - (x < y);
}

static void shuffle(u64 *v, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = below(i);
		u64 t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* The smallest sample with at least per_mille/1000 of the samples at or below it, found by
 * counting (no rank arithmetic). Above 1000 per mille, the largest. */
static u64 ref_percentile(const u64 *sorted, size_t n, u32 per_mille)
{
	if (!n)
		return 0;
	if (per_mille > 1000)
		return sorted[n - 1];
	for (size_t i = 0; i < n; i++) {
		size_t at_or_below = i + 1;

		while (at_or_below < n && sorted[at_or_below] == sorted[i])
			at_or_below++;
		if ((u64)at_or_below * 1000 >= (u64)per_mille * n)
			return sorted[i];
	}
	fail_msg("no sample reaches %u per mille", per_mille);
	return 0;
}

/* stats_sort() on an exact copy of v, compared with qsort(). */
static void check_sort(const u64 *v, size_t n)
{
	u64 *got = copy(v, n * sizeof(u64)), *want = copy(v, n * sizeof(u64));

	stats_sort(got, n);
	qsort(want, n, sizeof(u64), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (got[i] != want[i])
			fail_msg("n %zu, [%zu]: %llu, want %llu", n, i, (unsigned long long)got[i],
				 (unsigned long long)want[i]);
	free(want);
	free(got);
}

/* stats_summarize() on an exact copy of v, compared field by field with the reference. */
static struct summary summarize(const u64 *v, size_t n)
{
	u64 *c = copy(v, n * sizeof(u64)), *want = copy(v, n * sizeof(u64));
	struct summary s;
	unsigned __int128 sum = 0;

	memset(&s, 0xa5, sizeof(s));
	stats_summarize(c, n, &s);
	qsort(want, n, sizeof(u64), cmp_u64);
	assert_memory_equal(c, want, n * sizeof(u64)); /* v is left sorted */
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	assert_int_equal(s.count, n);
	assert_int_equal(s.min, n ? want[0] : 0);
	assert_int_equal(s.max, n ? want[n - 1] : 0);
	assert_int_equal(s.mean, n ? (u64)(sum / n) : 0);
	assert_int_equal(s.p50, ref_percentile(want, n, 500));
	assert_int_equal(s.p90, ref_percentile(want, n, 900));
	assert_int_equal(s.p99, ref_percentile(want, n, 990));
	assert_int_equal(s.p999, ref_percentile(want, n, 999));
	free(want);
	free(c);
	return s;
}

/* ---- edge sizes ---- */

static void test_empty(void **state)
{
	(void)state;
	struct summary s;
	u64 *v = malloc(1);

	assert_non_null(v);
	stats_sort(v, 0);
	stats_sort(NULL, 0);
	assert_int_equal(stats_percentile(v, 0, 500), 0);
	assert_int_equal(stats_percentile(NULL, 0, 0), 0);
	assert_int_equal(stats_percentile(NULL, 0, 1000), 0);
	memset(&s, 0xa5, sizeof(s));
	stats_summarize(v, 0, &s);
	assert_int_equal(s.count, 0);
	assert_int_equal(s.min, 0);
	assert_int_equal(s.max, 0);
	assert_int_equal(s.mean, 0);
	assert_int_equal(s.p50, 0);
	assert_int_equal(s.p90, 0);
	assert_int_equal(s.p99, 0);
	assert_int_equal(s.p999, 0);
	free(v);
}

static void test_one(void **state)
{
	(void)state;
	static const u64 one[] = { 42 };
	static const u32 ps[] = { 0, 1, 500, 999, 1000, 1001, 0xffffffff };
	struct summary s;

	check_sort(one, 1);
	for (size_t i = 0; i < ARRAY_SIZE(ps); i++)
		assert_int_equal(stats_percentile(one, 1, ps[i]), 42);
	s = summarize(one, 1);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.min, 42);
	assert_int_equal(s.max, 42);
	assert_int_equal(s.mean, 42);
	assert_int_equal(s.p50, 42);
	assert_int_equal(s.p999, 42);
}

static void test_two(void **state)
{
	(void)state;
	static const u64 two[] = { 7, 3 }, sorted[] = { 3, 7 };
	struct summary s;

	check_sort(two, 2);
	check_sort(sorted, 2);
	assert_int_equal(stats_percentile(sorted, 2, 0), 3);
	assert_int_equal(stats_percentile(sorted, 2, 1), 3);
	assert_int_equal(stats_percentile(sorted, 2, 500), 3); /* ceil(1.0) = 1: the lower one */
	assert_int_equal(stats_percentile(sorted, 2, 501), 7);
	assert_int_equal(stats_percentile(sorted, 2, 1000), 7);
	assert_int_equal(stats_percentile(sorted, 2, 5000), 7);
	s = summarize(two, 2);
	assert_int_equal(s.min, 3);
	assert_int_equal(s.max, 7);
	assert_int_equal(s.mean, 5);
	assert_int_equal(s.p50, 3);
	assert_int_equal(s.p90, 7);
	assert_int_equal(s.p99, 7);
	assert_int_equal(s.p999, 7);

	static const u64 three[] = { 10, 30, 20 };

	s = summarize(three, 3);
	assert_int_equal(s.p50, 20);
	assert_int_equal(s.mean, 20);
	assert_int_equal(s.p90, 30);
}

/* ---- sorting ---- */

enum shape { RANDOM, SORTED, REVERSED, EQUAL, FEW, SAWTOOTH, ORGAN, ALMOST, EXTREMES, NSHAPES };

static void fill(u64 *v, size_t n, enum shape shape)
{
	for (size_t i = 0; i < n; i++) {
		switch (shape) {
		case RANDOM: v[i] = next(); break;
		case SORTED: v[i] = i * 3; break;
		case REVERSED: v[i] = (n - i) * 5; break;
		case EQUAL: v[i] = 0x123456789ull; break;
		case FEW: v[i] = below(3); break;
		case SAWTOOTH: v[i] = i % 7; break;
		case ORGAN: v[i] = i < n / 2 ? i : n - i; break;
		case ALMOST: v[i] = i; break;
		case EXTREMES: v[i] = below(2) ? UINT64_MAX : below(2) ? 0 : UINT64_MAX - 1; break;
		case NSHAPES: break;
		}
	}
	if (shape == ALMOST && n > 1)
		for (int k = 0; k < 3; k++) {
			size_t a = below(n), b = below(n);
			u64 t = v[a];

			v[a] = v[b];
			v[b] = t;
		}
}

static void test_sort_shapes(void **state)
{
	(void)state;
	static const size_t big[] = { 127, 128, 129, 255, 256, 1000, 1023, 1024, 1025, 4096, 10007 };

	for (int shape = 0; shape < NSHAPES; shape++) {
		for (size_t n = 0; n <= 70; n++) {
			u64 *v = malloc((n ? n : 1) * sizeof(u64));

			assert_non_null(v);
			fill(v, n, shape);
			check_sort(v, n);
			free(v);
		}
		for (size_t i = 0; i < ARRAY_SIZE(big); i++) {
			u64 *v = malloc(big[i] * sizeof(u64));

			assert_non_null(v);
			fill(v, big[i], shape);
			check_sort(v, big[i]);
			free(v);
		}
	}
}

/* Every permutation of small arrays, with and without ties. */
static void permute(u64 *v, size_t k, size_t n)
{
	if (k == n) {
		check_sort(v, n);
		return;
	}
	for (size_t i = k; i < n; i++) {
		u64 t = v[k];

		v[k] = v[i];
		v[i] = t;
		permute(v, k + 1, n);
		v[i] = v[k];
		v[k] = t;
	}
}

static void test_sort_permutations(void **state)
{
	(void)state;
	u64 v[7];

	for (size_t n = 1; n <= 7; n++) {
		for (size_t i = 0; i < n; i++)
			v[i] = i;
		permute(v, 0, n);
		for (size_t i = 0; i < n; i++)
			v[i] = i / 2;
		permute(v, 0, n);
	}
}

static void test_sort_random(void **state)
{
	(void)state;

	for (int iter = 0; iter < 2000; iter++) {
		size_t n = below(300);
		u64 range = below(4) ? UINT64_MAX : below(50) + 1;
		u64 *v = malloc((n ? n : 1) * sizeof(u64));

		assert_non_null(v);
		for (size_t i = 0; i < n; i++)
			v[i] = range == UINT64_MAX ? next() : below(range);
		check_sort(v, n);
		free(v);
	}
}

/* ---- percentiles ---- */

static void test_percentile_exhaustive(void **state)
{
	(void)state;

	for (size_t n = 1; n <= 64; n++) {
		u64 *v = malloc(n * sizeof(u64));

		assert_non_null(v);
		for (int ties = 0; ties < 2; ties++) {
			for (size_t i = 0; i < n; i++)
				v[i] = ties ? (i / 3) * 10 : i + 1;
			for (u32 p = 0; p <= 1002; p++) {
				u64 got = stats_percentile(v, n, p), want = ref_percentile(v, n, p);

				if (got != want)
					fail_msg("n %zu, %u per mille: %llu, want %llu", n, p,
						 (unsigned long long)got, (unsigned long long)want);
			}
			assert_int_equal(stats_percentile(v, n, 0xffffffff), v[n - 1]);
		}
		free(v);
	}
}

/* The rank is computed without overflow for large n and large per_mille. */
static void test_percentile_large_n(void **state)
{
	(void)state;
	size_t n = 3000001;
	u64 *v = malloc(n * sizeof(u64));

	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = i;
	assert_int_equal(stats_percentile(v, n, 0), 0);
	assert_int_equal(stats_percentile(v, n, 500), 1500000);	/* ceil(1500000.5) - 1 */
	assert_int_equal(stats_percentile(v, n, 999), 2997000);	/* ceil(2997000.999) - 1 */
	assert_int_equal(stats_percentile(v, n, 1000), n - 1);
	assert_int_equal(stats_percentile(v, n, 0xffffffff), n - 1);
	free(v);
}

/* ---- summaries of known distributions ---- */

static void test_one_to_thousand(void **state)
{
	(void)state;
	u64 v[1000];
	struct summary s;

	for (int order = 0; order < 3; order++) {
		for (size_t i = 0; i < 1000; i++)
			v[i] = order == 1 ? 1000 - i : i + 1;
		if (order == 2)
			shuffle(v, 1000);
		s = summarize(v, 1000);
		assert_int_equal(s.count, 1000);
		assert_int_equal(s.min, 1);
		assert_int_equal(s.max, 1000);
		assert_int_equal(s.mean, 500); /* 500.5, rounded down */
		assert_int_equal(s.p50, 500);
		assert_int_equal(s.p90, 900);
		assert_int_equal(s.p99, 990);
		assert_int_equal(s.p999, 999);
	}
}

static void test_one_to_hundred(void **state)
{
	(void)state;
	u64 v[100];
	struct summary s;

	for (size_t i = 0; i < 100; i++)
		v[i] = 100 - i;
	s = summarize(v, 100);
	assert_int_equal(s.min, 1);
	assert_int_equal(s.max, 100);
	assert_int_equal(s.mean, 50);
	assert_int_equal(s.p50, 50);
	assert_int_equal(s.p90, 90);
	assert_int_equal(s.p99, 99);
	assert_int_equal(s.p999, 100); /* ceil(99.9) = 100 */

	/* Ten samples: p90 is the ninth, p99 and p999 the tenth. */
	for (size_t i = 0; i < 10; i++)
		v[i] = (i + 1) * 100;
	shuffle(v, 10);
	s = summarize(v, 10);
	assert_int_equal(s.p50, 500);
	assert_int_equal(s.p90, 900);
	assert_int_equal(s.p99, 1000);
	assert_int_equal(s.p999, 1000);
	assert_int_equal(s.mean, 550);
}

static void test_all_equal(void **state)
{
	(void)state;
	u64 v[333];
	struct summary s;

	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		v[i] = 777;
	s = summarize(v, ARRAY_SIZE(v));
	assert_int_equal(s.min, 777);
	assert_int_equal(s.max, 777);
	assert_int_equal(s.mean, 777);
	assert_int_equal(s.p50, 777);
	assert_int_equal(s.p999, 777);
}

static void test_uniform(void **state)
{
	(void)state;
	size_t n = 10000;
	u64 *v = malloc(n * sizeof(u64));
	struct summary s;

	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = 1000 + below(1000);
	s = summarize(v, n);
	/* Roughly where a uniform [1000, 2000) puts them. */
	assert_in_range(s.p50, 1450, 1550);
	assert_in_range(s.p90, 1850, 1950);
	assert_in_range(s.p99, 1980, 1999);
	assert_in_range(s.mean, 1450, 1550);
	free(v);
}

/* IPI round trips: a tight body, a slower shoulder, rare huge outliers (SMIs, vCPU
 * preemption). The tail, not the mean, is what p99 and p999 must see. */
static void test_heavy_tail(void **state)
{
	(void)state;
	size_t n = 10000;
	u64 *v = malloc(n * sizeof(u64));
	struct summary s;

	assert_non_null(v);
	for (size_t i = 0; i < n; i++) {
		if (i < 9900)
			v[i] = 1000 + below(50);	  /* ranks 1..9900 */
		else if (i < 9990)
			v[i] = 10000 + below(10000); /* ranks 9901..9990 */
		else
			v[i] = 1000000 + below(1000000000);
	}
	shuffle(v, n);
	s = summarize(v, n);
	assert_in_range(s.p50, 1000, 1049);
	assert_in_range(s.p90, 1000, 1049);
	assert_in_range(s.p99, 1000, 1049);	/* rank 9900: the body's largest */
	assert_in_range(s.p999, 10000, 19999); /* rank 9990: the shoulder's largest */
	assert_true(s.max >= 1000000);
	assert_true(s.mean > s.p99);		/* the outliers drag the mean past p99 */

	/* A Pareto-like tail from integer arithmetic: x = 2^20 / u for u uniform in [1, 2^20]. */
	for (size_t i = 0; i < n; i++)
		v[i] = (1ull << 20) / (1 + below(1ull << 20));
	summarize(v, n);

	/* Random sizes and mixtures, every field against the reference. */
	for (int iter = 0; iter < 300; iter++) {
		size_t m = 1 + below(2000);

		for (size_t i = 0; i < m; i++)
			v[i] = below(100) ? 100 + below(20) : 100 + below(1ull << (10 + below(30)));
		summarize(v, m);
	}
	free(v);
}

static void test_near_2_40(void **state)
{
	(void)state;
	const u64 base = 1ull << 40;
	u64 v[1000];
	struct summary s;

	for (size_t i = 0; i < 1000; i++)
		v[i] = base + i;
	shuffle(v, 1000);
	s = summarize(v, 1000);
	assert_int_equal(s.min, base);
	assert_int_equal(s.max, base + 999);
	assert_int_equal(s.mean, base + 499); /* 2^40 + 499.5 */
	assert_int_equal(s.p50, base + 499);
	assert_int_equal(s.p90, base + 899);
	assert_int_equal(s.p99, base + 989);
	assert_int_equal(s.p999, base + 998);

	/* Straddling 2^40, with values that differ only in low bits. */
	for (size_t i = 0; i < 1000; i++)
		v[i] = base - 500 + i;
	shuffle(v, 1000);
	s = summarize(v, 1000);
	assert_int_equal(s.min, base - 500);
	assert_int_equal(s.max, base + 499);
	assert_int_equal(s.mean, base - 1); /* 2^40 - 0.5 */
	assert_int_equal(s.p50, base - 1);

	/* Random values up to 2^41 in arrays of up to 4096: the sum stays exact. */
	u64 *w = malloc(4096 * sizeof(u64));

	assert_non_null(w);
	for (int iter = 0; iter < 50; iter++) {
		size_t m = 1 + below(4096);

		for (size_t i = 0; i < m; i++)
			w[i] = below(2ull << 40);
		summarize(w, m);
	}
	free(w);
}

/* floor(sqrt(x)): every x below 2^20, squares and their neighbours up to 2^64, random ones. */
static void test_isqrt(void **state)
{
	(void)state;
	for (u64 x = 0; x < (1u << 20); x++) {
		u64 r = stats_isqrt(x);

		assert_true(r * r <= x && (r + 1) * (r + 1) > x);
	}
	for (u64 r = 1; r < (1ull << 32); r = r * 3 + 1) {
		assert_int_equal(stats_isqrt(r * r), r);
		assert_int_equal(stats_isqrt(r * r - 1), r - 1);
		if (r < (1ull << 32) - 1)
			assert_int_equal(stats_isqrt(r * r + 2 * r), r);
	}
	assert_int_equal(stats_isqrt(UINT64_MAX), 0xffffffffull);
	for (int i = 0; i < 100000; i++) {
		u64 x = next(), r = stats_isqrt(x);

		assert_true(r * r <= x && (r + 1 > 0xffffffffull || (r + 1) * (r + 1) > x));
	}
}

/* Known intervals, the bracket always holds the nearest rank, and boundedness. */
static void test_rank_ci_values(void **state)
{
	struct rank_ci ci;

	(void)state;
	stats_rank_ci(1000, 500, &ci); /* 500 -/+ 1.96 * 15.81, upper plus one */
	assert_int_equal(ci.lo, 469);
	assert_int_equal(ci.hi, 532);
	assert_true(ci.bounded);
	stats_rank_ci(1000, 990, &ci); /* 990 -/+ 6.17: bounded, barely */
	assert_int_equal(ci.lo, 983);
	assert_int_equal(ci.hi, 998);
	assert_true(ci.bounded);
	stats_rank_ci(200, 990, &ci); /* too few samples above p99 */
	assert_false(ci.bounded);
	assert_int_equal(ci.hi, 200);
	stats_rank_ci(0, 500, &ci);
	assert_false(ci.bounded);
	stats_rank_ci(1, 500, &ci);
	assert_false(ci.bounded);
	assert_true(ci.lo == 1 && ci.hi == 1);
	for (u64 n = 1; n < 5000; n += 1 + n / 50)
		for (u32 pm = 1; pm < 1000; pm += 7) {
			u64 rank = (n * pm + 999) / 1000;

			stats_rank_ci(n, pm, &ci);
			assert_true(1 <= ci.lo && ci.lo <= rank && rank <= ci.hi && ci.hi <= n);
		}
	/* Enough samples always bound p50 and p99; the interval narrows relative to n. */
	stats_rank_ci(2000, 990, &ci);
	assert_true(ci.bounded);
	stats_rank_ci(10000000, 500, &ci);
	assert_true(ci.bounded && ci.hi - ci.lo < 10000000 / 500);
}

/* Coverage: over many samples of a known distribution the interval holds the true percentile at
 * least about 95% of the time, for the median and p99. The exact binomial coverage of these
 * intervals is 95.4% (n 1000, p50), 98.4% (n 1000, p99) and 97.2% (n 101, p50): the rounding
 * outwards is conservative. 4000 trials add about +-0.4%. */
static void coverage(u64 n, u32 per_mille)
{
	u64 *v = malloc(n * sizeof(*v)), hits = 0, trials = 4000;
	u64 truth = (u64)per_mille << 20; /* uniform on [0, 1000 << 20) */
	struct rank_ci ci;

	assert_non_null(v);
	stats_rank_ci(n, per_mille, &ci);
	assert_true(ci.bounded);
	for (u64 t = 0; t < trials; t++) {
		for (u64 i = 0; i < n; i++)
			v[i] = below(1000ull << 20);
		stats_sort(v, n);
		hits += v[ci.lo - 1] <= truth && truth <= v[ci.hi - 1];
	}
	free(v);
	assert_in_range(hits * 1000 / trials, 940, 992);
}

static void test_rank_ci_coverage(void **state)
{
	(void)state;
	coverage(1000, 500);
	coverage(1000, 990);
	coverage(101, 500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_one),
		cmocka_unit_test(test_two),
		cmocka_unit_test(test_sort_shapes),
		cmocka_unit_test(test_sort_permutations),
		cmocka_unit_test(test_sort_random),
		cmocka_unit_test(test_percentile_exhaustive),
		cmocka_unit_test(test_percentile_large_n),
		cmocka_unit_test(test_one_to_thousand),
		cmocka_unit_test(test_one_to_hundred),
		cmocka_unit_test(test_all_equal),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_heavy_tail),
		cmocka_unit_test(test_near_2_40),
		cmocka_unit_test(test_isqrt),
		cmocka_unit_test(test_rank_ci_values),
		cmocka_unit_test(test_rank_ci_coverage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
