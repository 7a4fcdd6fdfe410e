/* Order statistics over small sample arrays (exact percentiles by nearest rank). Pure logic,
 * unit-tested on the host. */
#ifndef KERNEL_STATS_H
#define KERNEL_STATS_H

#include "kernel/types.h"

struct summary {
	u64 count, min, max, mean;
	u64 p50, p90, p99, p999;
};

void stats_sort(u64 *v, size_t n); /* in place, ascending (heap sort: no recursion, no memory) */
/* Nearest-rank percentile of sorted v, per_mille in 0..1000 (500 = median). */
u64 stats_percentile(const u64 *v, size_t n, u32 per_mille);
/* Sort v and fill s. */
void stats_summarize(u64 *v, size_t n, struct summary *s);

#endif
