/* Order statistics over small sample arrays (exact percentiles by nearest rank). Pure logic,
 * unit-tested on the host. */
#ifndef KERNEL_STATS_H
#define KERNEL_STATS_H

#include "kernel/types.h"

struct summary {
	u64 count, min, max, mean;
	u64 p50, p90, p99, p999;
	/* About 95% confidence intervals of p50 and p99 (stats_rank_ci()); p99_bounded false: too
	 * few samples above p99 to bound it (the interval then reaches the maximum). */
	u64 p50_lo, p50_hi, p99_lo, p99_hi;
	bool p99_bounded;
};

/* A distribution-free confidence interval of a percentile: the ranks [lo, hi] (1-based) of the
 * order statistics that bracket the per_mille percentile of n samples with at least about 95%
 * confidence (normal approximation of the binomial count of samples below it: rank n*q -/+ 1.96
 * sqrt(n q (1-q)), rounded outwards, the upper one plus one; exact coverage 95-98%). bounded is false when the interval reaches past the extreme
 * sample (too few samples beyond the percentile to bound it): the estimate is low-confidence. */
struct rank_ci {
	u64 lo, hi;
	bool bounded;
};
void stats_rank_ci(u64 n, u32 per_mille, struct rank_ci *ci);
u64 stats_isqrt(u64 x); /* floor(sqrt(x)) */

void stats_sort(u64 *v, size_t n); /* in place, ascending (heap sort: no recursion, no memory) */
/* Nearest-rank percentile of sorted v, per_mille in 0..1000 (500 = median). */
u64 stats_percentile(const u64 *v, size_t n, u32 per_mille);
/* Sort v and fill s. */
void stats_summarize(u64 *v, size_t n, struct summary *s);
/* Fill s's intervals (n >= 1) from samples in order: src is a sorted u64 array when at_rank is
 * NULL, else at_rank(src, rank) reads the sample of that 1-based rank (a histogram, say). */
void stats_summary_ci(struct summary *s, const void *src, u64 n, u64 (*at_rank)(const void *src, u64 rank));

#endif
