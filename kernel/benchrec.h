/* Pieces of the benchmark records shared by the kernel (bench/bench.c) and the Linux peer
 * (scripts/linuxpeer/tlbpeer.c), so that both print the same JSON (docs/records.md). Pure logic:
 * record_begin() and record_end() (kernel/record.h) come from whoever links this. */
#ifndef KERNEL_BENCHREC_H
#define KERNEL_BENCHREC_H

#include "kernel/histogram.h"
#include "kernel/json.h"
#include "kernel/stats.h"

/* At most this many [low, high, count] buckets in one latency_hist record. */
#define HIST_RECORD_BUCKETS 128

/* A summary object under key: in cycles when tsc_khz is 0, else converted to nanoseconds. */
void bench_put_summary(struct jw *w, const char *key, const struct summary *s, u64 tsc_khz);
/* The non-empty buckets of h as latency_hist records (of: "latency" or "reference"). */
void bench_hist_records(u32 scenario, const char *of, const struct histogram *h);

#endif
