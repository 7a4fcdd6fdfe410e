/* Page-table stress workers and the stale-TLB oracle (bench/stress.c, bench/oracle.c). One
 * scenario: a workload on a region of shared pages, one initiator (CPU 0) or every CPU initiating
 * on its own slice, every CPU checking that it never uses a translation older than what was
 * published after the last shootdown. A short canary before it (a negative control) shows whether
 * a missing flush can be seen at all in this configuration on this platform. */
#ifndef BENCH_STRESS_H
#define BENCH_STRESS_H

#include "bench/scenario.h"
#include "kernel/benchrec.h"
#include "kernel/histogram.h"
#include "kernel/types.h"
#include "smp/percpu.h"


/* One target's stamps (one initiator only: CPU 0), with its TSC offset from CPU 0 subtracted:
 * the target's stamp in CPU 0's time minus the start; negative ones count as 0. */
struct target_acks {
	struct summary ack;     /* corrected cycles */
	struct summary entry;   /* handler entry, corrected (count 0: no breakdown) */
	struct summary handler; /* handler entry to exit on the target's own TSC */
	struct summary refill;  /* the refill probe (bench/refill.c; count 0: none) */
	u64 before_start;       /* corrected acks still before the start (offset uncertainty) */
};

/* One initiator: the per-target path pooled over targets, in CPU 0's time (count 0: none). */
struct breakdown {
	struct summary entry, ack, handler; /* send to handler entry, to ack; entry to exit */
	struct summary seen;                /* the last ack to the end of the window */
	struct summary cold, warm, refill;  /* the refill probe's sweeps and their difference */
	u64 offset_uncertainty;             /* the largest of the targets' TSC offset uncertainties */
};

struct stress_result {
	struct histogram latency; /* shootdown cycles, initiator's view (shootdowns with targets) */
	struct histogram ack;     /* per-target acknowledgement cycles (backends that have them) */
	struct histogram null;    /* null shootdowns interleaved with the measured ones (mm/tlb.h) */
	u64 shootdowns, elapsed_cycles, targets, skipped, raced, timeouts, failed, fallbacks;
	u64 safety_wakes; /* halted readers woken by their own timer with work waiting */
	u64 untargeted;           /* measured shootdowns with no remote target: not in latency */
	u64 null_untargeted;      /* null shootdowns with no remote target: not in null */
	u64 acks_before_start;    /* per-target stamps earlier than the start (tlb_sample) */
	u64 stolen_samples;       /* measured shootdowns during which some vCPU's steal time grew */
	u64 batch_n, batch_cycles; /* null shootdowns timed as one (batch_n 0: none) */
	bool per_target;          /* targets[] filled (one initiator) */
	struct target_acks per_cpu[MAX_CPUS]; /* [cpu], CPU 0 unused */
	struct breakdown breakdown;           /* filled with per_target */
	u64 deferred_flushes, noflush_switches;
	struct oracle_tally oracle; /* the measured scenario */
	struct oracle_tally canary; /* the canary: violations are expected there */
	const char *error;          /* why the run stopped early (NULL: it did not) */
};

/* Run one scenario on every online CPU. Returns 0, or -E* when it could not be set up (out of
 * memory) or a worker did not start, keep up or stop in time (r->error says which). Oracle
 * violations are in r, not the return. */
int stress_run(const struct scenario *c, struct stress_result *r);

/* The record's "breakdown" and "refill" objects (null where there are none), and the run's
 * "target_acks" records (bench/targets.c). */
void stress_put_targets(struct jw *w, const struct stress_result *r);
void stress_target_records(u32 scenario, const struct stress_result *r);

static inline u64 stress_violations(const struct stress_result *r)
{
	return oracle_violations(&r->oracle);
}


#endif
