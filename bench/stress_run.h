/* What the stress run's two halves share (bench/change.c: the run's state, one change, its
 * shootdown and the lockstep wait for readers; bench/stress.c: setup, parts and workers, which
 * call into it). Private to them. */
#ifndef BENCH_STRESS_RUN_H
#define BENCH_STRESS_RUN_H

#include "bench/oracle.h"
#include "bench/stress.h"
#include "mm/aspace.h"
#include "kernel/trap.h"
#include "smp/percpu.h"

#define STRESS_VA 0x0000008000000000ull /* PML4 slot 1: nothing else lives there */
#define NSETS 3
/* Per CPU: the initiator's latency, acknowledgements (uncorrected) and nulls; with one initiator
 * also the breakdown in CPU 0's time (entry, ack), the targets' handler time and the initiator's
 * view of the last ack; on readers the refill probe (cold sweep, warm sweep, their difference). */
enum {
	HIST_LATENCY, HIST_ACK, HIST_NULL, HIST_ENTRY, HIST_ACKED, HIST_HANDLER, HIST_SEEN,
	HIST_COLD, HIST_WARM, HIST_REFILL, HIST_PER_CPU
};
/* Per target (one initiator): corrected entry and ack, handler time, refill. */
enum { TH_ENTRY, TH_ACK, TH_HANDLER, TH_REFILL, TH_COUNT };
#define REFILL_ROUNDS 16
#define MAX_STRESS_ASPACES 8
#define SWITCH_STATES 4 /* published states seen between address-space switches (naspaces > 1) */
#define PRIME_ROUNDS 4  /* QEMU's TLB at most doubles at each flush after a busy period */
#define BARRIER_TIMEOUT_US 10000000
#define OBSERVE_TIMEOUT_US 10000000 /* a reader must show progress within this (lockstep) */
#define OBSERVE_MAX_FACTOR 10       /* and see a published state within this many of them */

struct cpu_counts {
	u64 elapsed, shootdowns, targets, skipped, raced, fallbacks, states;
	u64 untargeted, null_untargeted, acks_before_start, stolen;
	s64 last_ack; /* the latest corrected ack of the shootdown in progress (one initiator) */
	bool acked;   /* last_ack is set */
	bool rewoken; /* a halted reader's safety timer fired */
	u64 safety_wakes;
	u32 next_slice, cur_as;
} __attribute__((aligned(CACHE_LINE)));

/* One part of the run: who initiates on which slice, with which control and observation. */
struct part {
	u64 warmup, iters;
	u8 skip;
	bool lockstep, all_initiators;
};


struct stress_state {
	const struct scenario *c;
	struct stress_result *r;
	const struct part *part;  /* the one running */
	struct aspace as[MAX_STRESS_ASPACES];
	u32 nas, nslices;
	struct oracle o;
	struct slice slices[MAX_CPUS];
	struct cpu_counts counts[MAX_CPUS];
	struct oracle_counts ocounts[2][MAX_CPUS]; /* [0] canary, [1] measured */
	u64 epoch[MAX_CPUS];
	paddr_t *frames;          /* [set][slice][page] */
	struct histogram *hists;  /* [cpu][HIST_PER_CPU]: latency, ack, null */
	struct histogram *target_hists; /* [cpu][TH_COUNT] (one initiator), else NULL */
	u64 target_before[MAX_CPUS];
	struct slice_obs *obs;
	u64 frames_bytes, hists_bytes, obs_bytes, target_hists_bytes;
	u32 ready, reset_in, reset_out, done[2];
	bool stop[2], abort;
};

extern struct stress_state stress;

bool stress_aborted(void);
/* targets=halt (one initiator): readers halt between changes and are woken after each one. */
bool stress_halting(void);
void stress_wake_readers(void); /* no-op unless halting */
void stress_wake_handler(struct trap_frame *f);
void stress_rewake_handler(struct trap_frame *f); /* the safety timer: marks the reader */
void stress_abort(const char *why); /* stop every worker; the first reason is reported */

paddr_t *stress_frame_slot(u32 set, u32 slice, u64 k);
void stress_set_tag(paddr_t pa, u64 tag);
void stress_switch_to(u32 a);
void stress_sweep_next(u32 me);
/* One iteration on slice s by its initiator. */
void stress_initiate(u32 s, bool measure);
/* After the measured iterations (one initiator): the scenario's batch of null shootdowns. */
void stress_batch(u32 s);
/* After the measured part (one initiator, on a reader): what refilling the TLB costs it. */
void stress_refill(u32 me);

#endif
