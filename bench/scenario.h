/* One benchmark scenario, typed: what the stress workers run (bench/stress.c) and what the
 * configuration part of its "shootdown" record says. Every field but the backend comes from one
 * command-line option, whose table entry (kernel/options.c) names the record field and points at
 * the member here: a list option is an axis the benchmark runs every value of, a scalar one is
 * the same for every scenario of the boot. Each enum's names are defined once, here or beside
 * the enum (mm/tlb.h), and shared by the parser and the record writer. */
#ifndef BENCH_SCENARIO_H
#define BENCH_SCENARIO_H

#include "kernel/types.h"

struct tlb_backend;

/* Pages one shootdown may change: the largest range size a scenario may ask for. */
#define SCENARIO_MAX_PAGES 16384

enum workload { WL_REMAP, WL_PROTECT, WL_UNMAP, WL_COUNT };
extern const char *const workload_names[WL_COUNT + 1]; /* NULL-terminated */

/* How readers keep up with changes. Lockstep: an initiator makes its next change only after every
 * other CPU has checked every page of its slice in the state it published (so each change has
 * every reader's translations loaded beforehand, and every reader looks after it). Free: no
 * waiting; detection opportunities are only counted. */
enum observe_mode { OBSERVE_LOCKSTEP, OBSERVE_FREE, OBSERVE_COUNT };
extern const char *const observe_names[OBSERVE_COUNT + 1]; /* NULL-terminated */

/* What readers do with a slice whose change is in flight (from the owner's first edit until it
 * publishes the result, and while protect and unmap give the rights back): skip it, so that the
 * shootdown's targets are sweeping, not faulting in handlers that run with interrupts off; or
 * read it anyway (faulting on purpose, the behaviour before skip existed). Detection does not
 * depend on it: stale entries are looked for after the publication. */
enum inflight_mode { INFLIGHT_SKIP, INFLIGHT_READ, INFLIGHT_COUNT };
extern const char *const inflight_names[INFLIGHT_COUNT + 1]; /* NULL-terminated */

/* What the CPUs that only read (every CPU but the initiator) do between changes: spin, sweeping
 * the slice, or halt until the next publication wakes them (idle vCPUs are in HLT on real
 * systems, and that is where paravirtual flushes gain under overcommit). With every CPU
 * initiating there are no such CPUs. */
enum targets_mode { TARGETS_SPIN, TARGETS_HALT, TARGETS_COUNT };
extern const char *const targets_names[TARGETS_COUNT + 1]; /* NULL-terminated */

/* Who changes mappings: CPU 0 alone, or every CPU on its own slice at once. */
enum initiators { INITIATORS_ONE, INITIATORS_ALL, INITIATORS_COUNT };
extern const char *const initiators_names[INITIATORS_COUNT + 1]; /* NULL-terminated */

struct scenario {
	struct tlb_backend *backend;
	int workload;        /* enum workload */
	u64 pages;           /* pages changed (and shot down) per iteration, per initiator */
	bool full;           /* shoot down the whole address space instead of the range */
	u64 iters, warmup;   /* measured iterations, and discarded ones before them */
	int initiators;      /* enum initiators */
	u64 aspaces;         /* address spaces the workers switch between */
	int ack;             /* enum tlb_ack: when interrupted targets acknowledge */
	int skip;            /* enum tlb_skip for the measured shootdowns (a negative control) */
	int observe;         /* enum observe_mode of the measured part (the canary is lockstep) */
	int inflight;        /* enum inflight_mode */
	int targets;         /* enum targets_mode */
	u64 canary;          /* iterations of the canary (skip_flush=remote, CPU 0's slice); 0: none */
	u64 batch;           /* null shootdowns timed back to back as one after the measured ones */
	bool breakdown;      /* IPI targets also stamp handler entry and exit (one initiator) */
};

static inline bool scenario_all_initiators(const struct scenario *s)
{
	return s->initiators == INITIATORS_ALL;
}

const char *workload_name(int w);

#endif
