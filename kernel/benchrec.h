/* Pieces of the benchmark records shared by the kernel (bench/bench.c) and the Linux peer
 * (scripts/linuxpeer/tlbpeer.c), so that both print the same JSON (docs/records.md). Pure logic:
 * record_begin() and record_end() (kernel/record.h) come from whoever links this. */
#ifndef KERNEL_BENCHREC_H
#define KERNEL_BENCHREC_H

#include "kernel/histogram.h"
#include "kernel/json.h"
#include "kernel/stats.h"

/* A shootdown this many times slower than the scenario's null p50 is counted as suspected host
 * preemption (or other interference): a target vCPU descheduled, most likely. */
#define SUSPECT_FACTOR 50

/* At most this many [low, high, count] buckets in one latency_hist record. */
#define HIST_RECORD_BUCKETS 128

/* One oracle violation (bench/oracle.c). */
struct oracle_event {
	u32 cpu;
	const char *kind; /* "stale-read", "retired-read", "write-after-readonly", "read-after-unmap", "fault" */
	u64 va, expected, seen;
};

#define ORACLE_EVENTS_KEPT 8

/* What the oracle saw in one part of a run (the measured scenario, or the canary). */
struct oracle_tally {
	u64 checks;            /* pages checked */
	u64 opportunities;     /* checks after a change by a CPU that held the page's translation from
				* before it (same address space, no switch since): each would have
				* caught a missing flush that the TLB kept */
	u64 changes;           /* changes published (one per iteration, per address space not counted) */
	u64 stale_reads, bad_writes, missed_faults, unexpected_faults, transition_faults;
	u32 nevents;
	struct oracle_event events[ORACLE_EVENTS_KEPT];
};

/* The one violation total, as every record states it. */
static inline u64 oracle_violations(const struct oracle_tally *t)
{
	return t->stale_reads + t->bad_writes + t->missed_faults + t->unexpected_faults;
}

/* A part of a record that only one of the writers has: written by a callback. */
typedef void (*bench_put_fn)(struct jw *w, const void *ctx);

/* The "env" object every result record carries: where it was measured. */
struct bench_env {
	const char *version, *hypervisor, *hypervisor_vendor, *cpu_brand;
	u64 cpus, tsc_khz;
	const char *tsc_source;
	bool tsc_invariant;
	const char *apic_mode;
	bool pcid, invpcid;
	u64 flush_threshold;
	bench_put_fn put_more; /* the writer's own fields (kernel: PV interfaces; peer: Linux's) */
	const void *ctx;
};

/* One "shootdown" record (docs/records.md), from whichever guest measured it. */
struct shootdown_rec {
	u32 scenario;
	const char *backend;
	bench_put_fn put_config; /* the scenario's settings after "backend" */
	const char *status, *error; /* error: NULL when none */
	u64 shootdowns, targets, skipped_targets, requests_raced, safety_wakes, fallbacks, steal_ns;
	struct summary latency, ack; /* cycles */
	struct summary null;         /* cycles of the interleaved null shootdowns (count 0: none) */
	u64 untargeted, null_untargeted, acks_before_start;
	u64 suspected_preemptions; /* latency samples above SUSPECT_FACTOR x the null p50 */
	bool steal_known;          /* the platform reports steal time: stolen_samples is meaningful */
	u64 stolen_samples;        /* measured shootdowns during which a vCPU's steal time grew */
	u64 batch_n, batch_cycles; /* null shootdowns timed back to back as one (batch_n 0: none) */
	u64 tsc_khz, per_s, floor_p50_cycles;
	s64 ratio_milli;      /* p50 / floor x 1000; < 0: no floor */
	s64 null_ratio_milli; /* p50 / null p50 x 1000, the headline; ignored when null.count is 0 */
	const struct oracle_tally *oracle;
	bench_put_fn put_detection; /* the "detection" object */
	u64 watchdog_timeouts, deferred_flushes, noflush_switches;
	bench_put_fn put_extra; /* fields only this writer has (NULL: none) */
	const void *ctx;        /* for the callbacks */
	const struct bench_env *env;
};

void bench_put_env(struct jw *w, const struct bench_env *e);
void bench_put_oracle(struct jw *w, const char *key, const struct oracle_tally *t, u64 shootdowns);
void bench_shootdown_record(const struct shootdown_rec *r);

/* A summary object under key: in cycles when tsc_khz is 0, else converted to nanoseconds. */
void bench_put_summary(struct jw *w, const char *key, const struct summary *s, u64 tsc_khz);
/* The non-empty buckets of h as latency_hist records (of: "latency" or "reference"). */
void bench_hist_records(u32 scenario, const char *of, const struct histogram *h);

#endif
