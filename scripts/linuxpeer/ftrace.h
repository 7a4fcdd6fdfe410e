/* Linux's own flush, timed inside the kernel with ftrace's function_graph tracer (docs/linux.md,
 * "Linux's flush, traced"): every flush_tlb_mm_range call made inside the timed system call on
 * the initiator's CPU during the measured iterations, with the remote-flush functions it called.
 * Used by tlbpeer.c; tracefs only, nothing else of the kernel is changed. */
#ifndef LINUXPEER_FTRACE_H
#define LINUXPEER_FTRACE_H

#include "kernel/histogram.h"
#include "kernel/json.h"
#include "kernel/types.h"

#define FTRACE_PATHS_MAX 4
#define FTRACE_WHY_LEN 200

struct ftrace_result {
	bool measured;                /* the trace was read; otherwise why says why not */
	char why[FTRACE_WHY_LEN];
	struct histogram h;           /* cycles: one sample per flush_tlb_mm_range call */
	u64 calls;                    /* the calls with a duration (h.count) */
	u64 roots;                    /* the system calls traced (the timed ones and any untimed) */
	u64 lost;                     /* events the ring buffer dropped or overwrote */
	u64 unparsed;                 /* flush exits without a readable duration */
	unsigned npaths;
	struct {
		const char *name;     /* a remote-flush function in available_filter_functions */
		u64 calls;            /* its calls inside flush_tlb_mm_range, in the warmup */
	} paths[FTRACE_PATHS_MAX];
};

/*
 * Arm the tracer for one scenario: tracing flush_tlb_mm_range called inside the system call
 * `call` (madvise, mprotect, munmap) on CPU `cpu`, the buffer sized for warmup + iters
 * iterations. With warmup iterations, tracing starts at once for them, with the remote-flush
 * functions too (their counts); else it is still off. False, with r->why, when it cannot (the
 * run goes on without it).
 */
bool ftrace_setup(struct ftrace_result *r, const char *call, int cpu, unsigned long iters,
		  unsigned long warmup);
/* Before the first measured iteration: end the warmup's tracing (its trace read, the
 * remote-flush functions unhooked), then trace. No-ops unless armed. */
void ftrace_on(void);
void ftrace_off(void);
/* Read and parse the trace after ftrace_off(), then disarm (tracer nop). */
void ftrace_collect(struct ftrace_result *r);
/* The record fields linux_flush_ns, linux_flush_cycles, linux_flush_calls, linux_flush_paths,
 * linux_flush_unavailable (docs/records.md). */
void ftrace_put(struct jw *w, const struct ftrace_result *r);

#endif
