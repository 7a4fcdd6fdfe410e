/* Page-table stress workers and the stale-TLB oracle (bench/stress.c, bench/oracle.c). One
 * scenario: a workload on a region of shared pages, one initiator (CPU 0) or every CPU initiating
 * on its own slice, every CPU checking that it never uses a translation older than what was
 * published after the last shootdown. A short canary before it (a negative control) shows whether
 * a missing flush can be seen at all in this configuration on this platform. */
#ifndef KERNEL_STRESS_H
#define KERNEL_STRESS_H

#include "kernel/histogram.h"
#include "kernel/types.h"

enum workload { WL_REMAP, WL_PROTECT, WL_UNMAP, WL_COUNT };
extern const char *const workload_names[WL_COUNT + 1]; /* NULL-terminated */

/* How readers keep up with changes. Lockstep: an initiator makes its next change only after every
 * other CPU has checked every page of its slice in the state it published (so each change has
 * every reader's translations loaded beforehand, and every reader looks after it). Free: no
 * waiting; detection opportunities are only counted. */
enum observe_mode { OBSERVE_LOCKSTEP, OBSERVE_FREE, OBSERVE_COUNT };
extern const char *const observe_names[OBSERVE_COUNT + 1]; /* NULL-terminated */

struct stress_config {
	int workload;        /* enum workload */
	u64 pages;           /* pages changed (and shot down) per iteration, per initiator */
	bool full;           /* shoot down the whole address space instead of the range */
	u64 iters, warmup;   /* measured iterations, and discarded ones before them */
	bool all_initiators; /* every CPU changes its own slice */
	u32 naspaces;        /* address spaces the workers switch between */
	u8 skip;             /* enum tlb_skip for the measured shootdowns (a negative control) */
	int observe;         /* enum observe_mode of the measured part (the canary is lockstep) */
	u64 canary_iters;    /* iterations of the canary (skip_flush=remote, CPU 0's slice); 0: none */
};

/* One oracle violation. */
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

static inline u64 oracle_violations(const struct oracle_tally *t)
{
	return t->stale_reads + t->bad_writes + t->missed_faults + t->unexpected_faults;
}

struct stress_result {
	struct histogram latency; /* shootdown cycles, initiator's view */
	struct histogram ack;     /* per-target acknowledgement cycles (backends that have them) */
	u64 shootdowns, elapsed_cycles, targets, skipped, timeouts, failed, fallbacks;
	u64 deferred_flushes, noflush_switches;
	struct oracle_tally oracle; /* the measured scenario */
	struct oracle_tally canary; /* the canary: violations are expected there */
	const char *error;          /* why the run stopped early (NULL: it did not) */
};

/* Run one scenario on every online CPU. Returns 0, or -E* when it could not be set up (out of
 * memory) or a worker did not start, keep up or stop in time (r->error says which). Oracle
 * violations are in r, not the return. */
int stress_run(const struct stress_config *c, struct stress_result *r);

static inline u64 stress_violations(const struct stress_result *r)
{
	return oracle_violations(&r->oracle);
}

const char *workload_name(int w);

#endif
