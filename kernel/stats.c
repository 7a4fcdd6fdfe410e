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
}
