/* The stale-TLB oracle (bench/oracle.c), as the stress workers (bench/stress.c) drive it.
 *
 * A slice is a run of pages one initiator owns. Every frame carries a tag in its first word: the
 * generation it became current at, or TAG_RETIRED once a change has moved its page elsewhere and
 * been shot down. The owner changes its slice, shoots the change down, and only then publishes
 * PUB(gen, state). Every CPU checks whole slices at a time ("sweeps"); a check that, after a
 * published state, reads a tag older than it or a retired frame (remap), writes while read-only
 * is published (protect) or reads while unmapped is published (unmap) has used a translation the
 * shootdown should have removed. */
#ifndef BENCH_ORACLE_H
#define BENCH_ORACLE_H

#include "bench/stress.h"
#include "kernel/types.h"
#include "smp/cpumask.h"
#include "smp/percpu.h"

#define STATE_MAPPED 0
#define STATE_READONLY 1
#define STATE_UNMAPPED 2
#define PUB(gen, state) ((gen) << 2 | (state))
#define PUB_GEN(p) ((p) >> 2)
#define PUB_STATE(p) ((p) & 3)
#define TAG_RETIRED 0x7e71bed000000000ull /* above any generation a run can reach */

struct slice {
	u64 published; /* PUB(gen, state), written by the owner after its shootdown */
	u64 changing;  /* non-zero from the owner's first edit of a change to its publication */
	u64 va;
	u64 gen;       /* owner-private from here on */
	u32 set;
} __attribute__((aligned(CACHE_LINE)));

/* What one CPU knows about one slice (row per CPU: only that CPU writes it). */
struct slice_obs {
	u64 seen;        /* PUB of this CPU's last sweep that was stable and fault-free (release) */
	u64 armed;       /* PUB of its last such sweep in the mapped state: translations loaded */
	u64 armed_epoch; /* the CPU's switch epoch then; a switch since dropped them */
	u64 sweeps;      /* sweeps so far: odd ones go backwards */
} __attribute__((aligned(32)));

/* Per-CPU counters of one part (canary or measured). */
struct oracle_counts {
	u64 checks, opportunities, transition;
};

struct oracle {
	int workload;
	u64 pages;
	u32 nslices, ncpus;
	struct slice *slices;
	struct slice_obs *obs;        /* [cpu * nslices + slice] */
	struct oracle_counts *counts; /* [cpu], the part now running */
	u64 *epoch;                   /* [cpu]: bumped at every address-space switch */
	struct oracle_tally *tally;   /* the part now running: violations land here */
	bool skip_inflight;           /* sweeps leave a slice alone while it is changing */
};

static inline u64 oracle_page_va(const struct oracle *o, u32 s, u64 k)
{
	return o->slices[s].va + k * 4096;
}

/* Check every page of slice s once from this CPU, and note what it now holds; with `tell`, also
 * let the owner know that this CPU has seen the published state (lockstep waits for that). A
 * sweep that overlapped a change in flight notes nothing: walks during it may already have
 * loaded the new translations. */
void oracle_sweep(struct oracle *o, u32 s, bool tell);

/* Has this CPU yet to note slice s's published state? */
bool oracle_unseen(const struct oracle *o, u32 s);

/* The owner's side: a change of slice s begins (before its first edit); publish a new state
 * (after its shootdown returned), which also ends the change. */
void oracle_begin_change(struct oracle *o, u32 s);
void oracle_publish(struct oracle *o, u32 s, u64 gen, u32 state);
/* Publish a state whose page tables are still being edited (protect and unmap give the rights
 * back after publishing the mapped state); oracle_end_change() when they are done. */
void oracle_publish_in_change(struct oracle *o, u32 s, u64 gen, u32 state);
void oracle_end_change(struct oracle *o, u32 s);

/* Have all CPUs in `who` swept slice s, stable and clean, in its current published state? The
 * first that has not is returned in *laggard. */
bool oracle_observed(const struct oracle *o, u32 s, const struct cpumask *who, u32 *laggard);

/* Add the per-CPU counters of a part to its tally. */
void oracle_sum(struct oracle_tally *t, const struct oracle_counts *c, u32 ncpus);

/* This CPU switched address space or flushed everything: its loaded translations are gone. */
static inline void oracle_forget(struct oracle *o, u32 cpu)
{
	o->epoch[cpu]++;
}

#endif
