/* Exact order statistics: sort the samples, read percentiles by nearest rank (the smallest
 * sample with at least p% of the samples at or below it). */
#include "kernel/stats.h"
#include "kernel/string.h"

static void sift_down(u64 *v, size_t root, size_t n)
{
	for (size_t child; (child = 2 * root + 1) < n; root = child) {
		if (child + 1 < n && v[child + 1] > v[child])
			child++;
		if (v[root] >= v[child])
			return;
		u64 t = v[root];
		v[root] = v[child];
		v[child] = t;
	}
}

void stats_sort(u64 *v, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(v, i, n);
	for (size_t end = n; end-- > 1;) {
		u64 t = v[0];
		v[0] = v[end];
		v[end] = t;
		sift_down(v, 0, end);
	}
}

u64 stats_percentile(const u64 *v, size_t n, u32 per_mille)
{
	size_t rank;

	if (!n)
		return 0;
	/* rank = ceil(p * n), 1-based, clamped to [1, n] */
	rank = ((u64)per_mille * n + 999) / 1000;
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

void stats_summarize(u64 *v, size_t n, struct summary *s)
{
	u64 sum = 0; /* samples are cycle counts: no overflow below 2^64 / n */

	memset(s, 0, sizeof(*s));
	if (!n)
		return;
	stats_sort(v, n);
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	s->count = n;
	s->min = v[0];
	s->max = v[n - 1];
	s->mean = sum / n;
	s->p50 = stats_percentile(v, n, 500);
	s->p90 = stats_percentile(v, n, 900);
	s->p99 = stats_percentile(v, n, 990);
	s->p999 = stats_percentile(v, n, 999);
	stats_summary_ci(s, v, n, NULL);
}

void stats_summary_ci(struct summary *s, const void *src, u64 n, u64 (*at_rank)(const void *src, u64 rank))
{
	const u64 *sorted = src;
	struct rank_ci ci;

	stats_rank_ci(n, 500, &ci);
	s->p50_lo = at_rank ? at_rank(src, ci.lo) : sorted[ci.lo - 1];
	s->p50_hi = at_rank ? at_rank(src, ci.hi) : sorted[ci.hi - 1];
	stats_rank_ci(n, 990, &ci);
	s->p99_lo = at_rank ? at_rank(src, ci.lo) : sorted[ci.lo - 1];
	s->p99_hi = at_rank ? at_rank(src, ci.hi) : sorted[ci.hi - 1];
	s->p99_bounded = ci.bounded;
}

u64 stats_isqrt(u64 x)
{
	u64 r = 0;

	/* Bit by bit from the highest even power of two: r*r <= x throughout. */
	for (u64 bit = 1ull << 62; bit; bit >>= 2) {
		if (x >= r + bit) {
			x -= r + bit;
			r = (r >> 1) + bit;
		} else {
			r >>= 1;
		}
	}
	return r;
}

void stats_rank_ci(u64 n, u32 per_mille, struct rank_ci *ci)
{
	u64 centre = n * per_mille;                                       /* n q, in 1/1000 */
	u64 half = 196 * stats_isqrt(n * per_mille * (1000 - per_mille)) / 100; /* z sd, in 1/1000 */
	u64 lo = centre > half ? (centre - half) / 1000 : 0;
	u64 hi = (centre + half + 999) / 1000 + 1;

	ci->bounded = n && lo >= 1 && hi <= n;
	ci->lo = lo < 1 ? 1 : lo > n ? n : lo;
	ci->hi = hi > n ? n : hi;
}
