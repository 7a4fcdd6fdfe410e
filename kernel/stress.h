/* Page-table stress workers and the stale-TLB oracle (kernel/stress.c). One scenario: a
 * workload on a region of shared pages, one initiator (CPU 0) or every CPU initiating on its own
 * slice, every other CPU checking that it never uses a translation older than what was
 * published after the last shootdown. */
#ifndef KERNEL_STRESS_H
#define KERNEL_STRESS_H

#include "kernel/histogram.h"
#include "kernel/types.h"

enum workload { WL_REMAP, WL_PROTECT, WL_UNMAP };

struct stress_config {
	int workload;        /* enum workload */
	u64 pages;           /* pages changed (and shot down) per iteration, per initiator */
	bool full;           /* shoot down the whole address space instead of the range */
	u64 iters, warmup;   /* measured iterations, and discarded ones before them */
	bool all_initiators; /* every CPU changes its own slice */
	u32 naspaces;        /* address spaces the workers switch between */
};

/* One oracle violation. */
struct oracle_event {
	u32 cpu;
	const char *kind; /* "stale-read", "write-after-readonly", "read-after-unmap", "fault" */
	u64 va, expected, seen;
};

#define ORACLE_EVENTS_KEPT 8

struct stress_result {
	struct histogram latency; /* shootdown cycles, initiator's view */
	struct histogram ack;     /* per-target acknowledgement cycles (backends that have them) */
	u64 shootdowns, elapsed_cycles, targets, skipped, timeouts, failed, fallbacks;
	u64 checks, stale_reads, bad_writes, missed_faults, unexpected_faults, transition_faults;
	u64 deferred_flushes, noflush_switches;
	u32 nevents;
	struct oracle_event events[ORACLE_EVENTS_KEPT];
};

/* Run one scenario on every online CPU. Returns 0, or -E* when it could not be set up (out of
 * memory) or a worker did not start or stop in time. Oracle violations are in r, not the return. */
int stress_run(const struct stress_config *c, struct stress_result *r);

static inline u64 stress_violations(const struct stress_result *r)
{
	return r->stale_reads + r->bad_writes + r->missed_faults + r->unexpected_faults;
}

const char *workload_name(int w);

#endif
