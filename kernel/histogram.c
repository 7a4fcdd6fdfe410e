/* Log-linear histogram: a value's bucket is its exponent plus the HIST_SUB_BITS bits after the
 * leading one, so recording costs one bsr and a few shifts, and percentiles come from a walk
 * over cumulative counts. No 128-bit arithmetic, no libgcc helpers. */
#include "kernel/histogram.h"
#include "kernel/string.h"

static u64 hist_sat_add(u64 a, u64 b)
{
	u64 s = a + b;

	return s < a ? UINT64_MAX : s;
}

void hist_init(struct histogram *h)
{
	memset(h, 0, sizeof(*h));
}

/*
 * Below HIST_SUB the bucket is the value itself. From HIST_SUB up, with e the index of the
 * leading one, group e - HIST_SUB_BITS + 1 holds [2^e, 2^(e+1)) split by the next
 * HIST_SUB_BITS bits; for e = HIST_SUB_BITS that is again one value per bucket, so values
 * below 2 * HIST_SUB are exact.
 */
u32 hist_bucket_of(u64 v)
{
	u32 e, shift;

	if (v < HIST_SUB)
		return (u32)v;
	e = 63 - (u32)__builtin_clzll(v);
	shift = e - HIST_SUB_BITS;
	return ((shift + 1) << HIST_SUB_BITS) + (u32)((v >> shift) & (HIST_SUB - 1));
}

u64 hist_bucket_low(u32 b)
{
	u32 group = b >> HIST_SUB_BITS;

	if (b >= HIST_BUCKETS)
		return UINT64_MAX;
	if (!group)
		return b;
	return (u64)(HIST_SUB + (b & (HIST_SUB - 1))) << (group - 1);
}

u64 hist_bucket_high(u32 b)
{
	u32 group = b >> HIST_SUB_BITS;

	if (b >= HIST_BUCKETS)
		return UINT64_MAX;
	if (!group)
		return b;
	/* The last bucket ends exactly at UINT64_MAX: low + (width - 1) cannot overflow. */
	return hist_bucket_low(b) + ((1ull << (group - 1)) - 1);
}

void hist_add(struct histogram *h, u64 v)
{
	u32 *c = &h->buckets[hist_bucket_of(v)];

	/* Testing count rather than presetting min keeps an all-zero struct a valid empty one. */
	if (!h->count || v < h->min)
		h->min = v;
	if (!h->count || v > h->max)
		h->max = v;
	h->count++;
	h->sum = hist_sat_add(h->sum, v);
	if (*c != UINT32_MAX)
		(*c)++;
}

void hist_merge(struct histogram *dst, const struct histogram *src)
{
	if (!src->count)
		return;
	if (!dst->count || src->min < dst->min)
		dst->min = src->min;
	if (!dst->count || src->max > dst->max)
		dst->max = src->max;
	dst->count = hist_sat_add(dst->count, src->count);
	dst->sum = hist_sat_add(dst->sum, src->sum);
	for (u32 b = 0; b < HIST_BUCKETS; b++) {
		u64 c = (u64)dst->buckets[b] + src->buckets[b];

		dst->buckets[b] = c > UINT32_MAX ? UINT32_MAX : (u32)c;
	}
}

/* ceil(per_mille * count / 1000) clamped to [1, count], split as count = 1000q + r so that
 * the product fits in 64 bits for any count. */
static u64 hist_rank(u64 count, u32 per_mille)
{
	u64 rank;

	if (per_mille > 1000)
		per_mille = 1000;
	rank = count / 1000 * per_mille + (count % 1000 * per_mille + 999) / 1000;
	return rank < 1 ? 1 : rank > count ? count : rank;
}

u64 hist_percentile(const struct histogram *h, u32 per_mille)
{
	return h->count ? hist_at_rank(h, hist_rank(h->count, per_mille)) : 0;
}

u64 hist_at_rank(const struct histogram *h, u64 rank)
{
	u64 seen = 0;

	if (!h->count)
		return 0;
	rank = rank < 1 ? 1 : rank > h->count ? h->count : rank;
	/* The extreme ranks are known exactly; no need to estimate them. */
	if (rank == 1)
		return h->min;
	if (rank == h->count)
		return h->max;
	for (u32 b = 0; b < HIST_BUCKETS; b++) {
		seen += h->buckets[b];
		if (seen >= rank) {
			/* The rank's value is in both the bucket and [min, max]: estimate the middle of
			 * their intersection, which is never further from it than the bucket midpoint. */
			u64 lo = MAX(hist_bucket_low(b), h->min);
			u64 hi = MIN(hist_bucket_high(b), h->max);

			return lo + (hi - lo) / 2;
		}
	}
	return h->max; /* only if bucket counts saturated */
}

u64 hist_count_above(const struct histogram *h, u64 v)
{
	u64 n = 0;

	for (u32 b = hist_bucket_of(v) + 1; b < HIST_BUCKETS; b++)
		n += h->buckets[b];
	return n;
}

static u64 at_rank(const void *h, u64 rank)
{
	return hist_at_rank(h, rank);
}

void hist_summary(const struct histogram *h, struct summary *s)
{
	memset(s, 0, sizeof(*s));
	if (!h->count)
		return;
	s->count = h->count;
	s->min = h->min;
	s->max = h->max;
	s->mean = h->sum / h->count;
	s->p50 = hist_percentile(h, 500);
	s->p90 = hist_percentile(h, 900);
	s->p99 = hist_percentile(h, 990);
	s->p999 = hist_percentile(h, 999);
	stats_summary_ci(s, h, h->count, at_rank);
}

void hist_foreach(const struct histogram *h, void (*fn)(void *ctx, u64 low, u64 high, u64 count),
		  void *ctx)
{
	for (u32 b = 0; b < HIST_BUCKETS; b++)
		if (h->buckets[b])
			fn(ctx, hist_bucket_low(b), hist_bucket_high(b), h->buckets[b]);
}
