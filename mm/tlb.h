/* The shootdown engine: one call makes every CPU that may cache a changed translation drop it.
 * Remote work goes through a backend: a small table of operations that registers itself with
 * TLB_BACKEND() beside the interface it drives (smp/tlb_ipi.c, hv/tlb_hv.c, kvm/tlb_kvm.c). The
 * engine names none of them. */
#ifndef MM_TLB_H
#define MM_TLB_H

#include "kernel/types.h"
#include "mm/aspace.h"
#include "smp/cpumask.h"

#define TLB_MAX_RANGES 8
#define TLB_FULL 0 /* nranges == 0: flush the whole address space */

struct tlb_range {
	u64 va;
	u64 pages;
};

/* Negative controls: each leaves out one part of every flush, and the stale-TLB oracle must
 * catch it (bench/stress.c). Names in tlb_skip_names[]. */
enum tlb_skip {
	TLB_SKIP_NONE,
	TLB_SKIP_REMOTE,  /* no remote flush at all */
	TLB_SKIP_LOCAL,   /* no flush on the initiator */
	TLB_SKIP_LAST,    /* every range flushed but its last page (the range-encoding off-by-one),
			   * locally, on targets and in hypercall GVA lists */
	TLB_SKIP_HIGHEST, /* the highest target left out: the highest VP index of a hypercall's
			   * processor mask or set (hv-* flush backends), the highest target CPU
			   * elsewhere */
	TLB_SKIP_COUNT
};
extern const char *const tlb_skip_names[TLB_SKIP_COUNT + 1]; /* NULL-terminated */

/* When an interrupted target acknowledges: on reading the request, or after flushing. Requests
 * that freed page tables are always acknowledged late (smp/tlb_ipi.c says why). */
enum tlb_ack { TLB_ACK_EARLY, TLB_ACK_LATE, TLB_ACK_COUNT };
extern const char *const tlb_ack_names[TLB_ACK_COUNT + 1]; /* NULL-terminated */

/* One shootdown, as a target sees it. */
struct tlb_flush {
	struct aspace *as;
	u64 gen;           /* the change's own generation (aspace_change_end()); 0: nothing to flush */
	u64 t0;            /* the initiator's TSC when the shootdown started (0: in a batch) */
	u64 deadline;      /* the initiator's TSC at which the watchdog fires */
	u32 nranges;       /* TLB_FULL or 1..TLB_MAX_RANGES */
	bool global;       /* global mappings involved: flush them too */
	bool freed_tables; /* page tables were freed: targets acknowledge only after flushing */
	u8 ack;            /* enum tlb_ack asked for (freed_tables makes it late regardless) */
	u8 skip;           /* enum tlb_skip in force for this shootdown */
	struct tlb_range ranges[TLB_MAX_RANGES];
};

/* What to shoot down: a change to `as` already written to its page tables. */
struct tlb_request {
	struct aspace *as;
	u64 gen;                       /* the change's generation, from aspace_change_end() */
	const struct tlb_range *ranges; /* nranges of them, or nranges == TLB_FULL */
	u32 nranges;
	bool global;                   /* global mappings involved */
	bool freed_tables;             /* the change freed page tables (released after return) */
	u8 ack;                        /* enum tlb_ack: when interrupted targets acknowledge */
	u8 skip;                       /* negative control, enum tlb_skip (TLB_SKIP_NONE) */
	/* A null shootdown: the same targets, post, kick, handler and acknowledgement with no change
	 * behind it, so nothing is flushed where the backend has a choice (IPI-based backends). A
	 * flush hypercall still flushes `ranges` (the hypervisor cannot be told not to): its null
	 * costs the hypercall without a page-table change. gen is ignored; no local flush. */
	bool null;
	/* Nonzero: one of a batch the caller times as a whole (tlb_sample.cycles stays 0): the engine
	 * reads no clock, and the watchdog fires at this TSC. */
	u64 batch_deadline;
};

/* What one shootdown measured (filled by the engine and the backend). */
struct tlb_sample {
	u64 cycles;       /* initiator: its two TSC reads around start, local flush and finish */
	u32 targets;      /* CPUs interrupted or otherwise flushed remotely */
	u32 skipped;      /* targets a backend did not have to interrupt (counted, e.g. preempted) */
	u32 raced;        /* kvm-flush: targets seen preempted that ran again before the flag was set */
	u32 late;         /* targets that missed the watchdog */
	u32 fallbacks;    /* the backend failed and the IPI backend did the work */
	u32 acks_before_start; /* per-target stamps earlier than the initiator's start (TSC offset) */
};

/* One target's stamps, for backends that have them, reported after the timed window: the target's
 * TSC minus the initiator's at the start. Signed and uncorrected: the two TSCs may be offset
 * (smp/tsc_sync.h). `ack` is taken just after acknowledging; with tlb_settings.stamp_entry the
 * target also stamps its handler's entry (before acknowledging, so it delays the ack by one TSC
 * read) and its exit (after its flush). */
struct tlb_target_stamp {
	s64 ack;
	s64 entry, exit; /* valid when `entered` */
	bool entered;
};
typedef void (*tlb_ack_fn)(void *ctx, u32 cpu, const struct tlb_target_stamp *st);

struct tlb_backend {
	const char *name;
	const char *unavailable; /* NULL when usable here, else why not (set by probe) */
	bool recommended;        /* the platform recommends it: `auto` takes the first such one */
	u32 form;                /* backend-specific variant (hv/tlb_hv.c) */
	bool own_highest;        /* applies TLB_SKIP_HIGHEST itself (to VP indices) */
	void (*probe)(struct tlb_backend *b); /* decide `unavailable` */
	int (*init)(void);                    /* once, after SMP bring-up */
	/* Start flushing f on targets (never the caller); may do all the work itself. */
	int (*start)(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s);
	/* Wait until every target has flushed (or acknowledged, with early ack); -ETIMEDOUT. Only
	 * waits: nothing else may sit in the timed window. */
	int (*finish)(const struct tlb_flush *f, const struct cpumask *targets, struct tlb_sample *s);
	/* After the window (optional): the per-target acknowledgements of the shootdown just
	 * finished, to ack (NULL: none wanted; still called, to reset per-shootdown state). */
	void (*acks)(const struct tlb_flush *f, struct tlb_sample *s, tlb_ack_fn ack, void *ctx);
};

struct tlb_stats {
	u64 shootdowns, watchdog_timeouts, fallbacks; /* null shootdowns not counted */
};

extern struct tlb_stats tlb_stats;

/* A backend registers itself with one line in its own file. `order` (two digits) is its place in
 * `auto`'s preference among the backends the platform recommends, lowest first; the linker
 * gathers the entries into one table sorted by it (linker.ld: .tlb_backends). The last entry
 * must be usable everywhere: `auto` falls back to it. */
#define TLB_BACKEND(var, order)                                                                    \
	static struct tlb_backend *const tlb_backend_entry_##var                                  \
		__attribute__((used, section(".tlb_backends." #order))) = &(var)

/* At most this many backends may register (tlb_init() refuses more). */
#define TLB_MAX_BACKENDS 32

/* Every registered backend, in the order `auto` prefers them. */
struct tlb_backend *tlb_backend_find(const char *name); /* NULL if unknown */
struct tlb_backend *tlb_backend_auto(void);
struct tlb_backend *tlb_backend_nth(u32 i); /* NULL past the last */
u32 tlb_backend_count(void);
int tlb_use(struct tlb_backend *b); /* make b the active backend (init on first use) */
struct tlb_backend *tlb_active(void);

/* The engine's settings, given once at init (kernel/options.c fills them from the command line). */
struct tlb_settings {
	u64 ack_timeout_us;  /* watchdog: how long a shootdown may wait for its targets */
	u64 flush_threshold; /* pages flushed one by one before flushing the whole context */
	u32 deaf_cpu;        /* test hook: this CPU ignores flush requests (INVALID_CPU: off) */
	bool stamp_entry;    /* IPI targets stamp handler entry and exit too (struct tlb_target_stamp) */
};
/* In force; self-tests change the watchdog and the deaf CPU for a while. */
extern struct tlb_settings tlb_settings;

void tlb_init(const struct tlb_settings *s); /* probe every backend; prints one line each */

/* Shoot down rq's change on every CPU that may cache it. More than TLB_MAX_RANGES ranges
 * become a full flush. Returns 0, or -ETIMEDOUT when the watchdog fired (the CPUs that did not
 * answer are reported). When it returns, no CPU can use a translation the change removed. */
int tlb_shootdown(const struct tlb_request *rq, struct tlb_sample *s, tlb_ack_fn ack, void *ack_ctx);

/* Do the part of f that concerns this CPU (used by backends' handlers and by the engine): a range
 * flush only when it advances this CPU by exactly f's generation, else a full flush. */
void tlb_flush_local(const struct tlb_flush *f);

/* The control's effect on a range of `pages` pages: how many of them are really flushed. */
static inline u64 tlb_skip_pages(u8 skip, u64 pages)
{
	return skip == TLB_SKIP_LAST && pages ? pages - 1 : pages;
}

#endif
