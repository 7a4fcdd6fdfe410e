/* Log-linear latency histogram over the full u64 range: exact below 2 * 2^HIST_SUB_BITS, then
 * 2^HIST_SUB_BITS equal sub-buckets per power of two (relative bucket width <= 1/32). O(1)
 * recording, fixed size, no allocation; pure logic, unit-tested on the host. */
#ifndef KERNEL_HISTOGRAM_H
#define KERNEL_HISTOGRAM_H

#include "kernel/types.h"
#include "kernel/stats.h"

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
/* One group of HIST_SUB exact buckets below HIST_SUB, then one group per exponent
 * HIST_SUB_BITS..63: (64 - HIST_SUB_BITS + 1) groups = 1920 buckets for 5 bits. */
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

/*
 * An all-zero struct is a valid empty histogram, so a static one needs no hist_init().
 * min and max are meaningful only when count != 0. Not thread-safe: keep one per CPU and
 * hist_merge() them afterwards.
 */
struct histogram {
	u64 count, sum, min, max;  /* exact; sum saturates at UINT64_MAX instead of wrapping */
	u32 buckets[HIST_BUCKETS]; /* saturating counts */
};

void hist_init(struct histogram *h);
void hist_add(struct histogram *h, u64 v); /* O(1) */
void hist_merge(struct histogram *dst, const struct histogram *src);
/*
 * Nearest rank like stats_percentile(): rank = ceil(per_mille * count / 1000) clamped to
 * [1, count]. Returns the midpoint of the part of that rank's bucket inside [min, max], so the
 * result lies in the same bucket as the exact answer, p0 and p1000 are exact (min and max),
 * and a single repeated value is exact. 0 when empty.
 */
u64 hist_percentile(const struct histogram *h, u32 per_mille);
/* The same estimate for the sample of 1-based rank `rank` (clamped to [1, count]). */
u64 hist_at_rank(const struct histogram *h, u64 rank);
/* Samples in buckets wholly above v (those in v's own bucket are not counted: at most 1/32
 * of v away from it). */
u64 hist_count_above(const struct histogram *h, u64 v);
/* count, min, max, mean (= sum / count, low if sum saturated), p50, p90, p99, p999; all 0
 * when empty. */
void hist_summary(const struct histogram *h, struct summary *s);

u32 hist_bucket_of(u64 v);
u64 hist_bucket_low(u32 b);  /* smallest value in bucket b; UINT64_MAX if b >= HIST_BUCKETS */
u64 hist_bucket_high(u32 b); /* largest value in bucket b; UINT64_MAX if b >= HIST_BUCKETS */

/* For CDF plots: fn(ctx, bucket low, bucket high, count) for each non-empty bucket, ascending. */
void hist_foreach(const struct histogram *h, void (*fn)(void *ctx, u64 low, u64 high, u64 count),
		  void *ctx);

#endif
