/* The kernel command line: every option in one table (kernel/options.c), parsed once at boot
 * into `cfg`. Documented in README.md ("Kernel command line"). */
#ifndef KERNEL_OPTIONS_H
#define KERNEL_OPTIONS_H

#include "kernel/types.h"

enum run_mode { MODE_BENCH, MODE_INFO, MODE_SELFTEST };
enum pv_choice { PV_AUTO, PV_HYPERV, PV_KVM };
enum fault_kind { FAULT_NONE, FAULT_UD, FAULT_GP, FAULT_PF, FAULT_DE, FAULT_DF, FAULT_BP };

struct config {
	int mode;          /* enum run_mode */
	const char *tests; /* selftest selection: "all" or a comma-separated list */
	int fault;         /* enum fault_kind: a deliberate fault after boot */
	bool pause;        /* wait for a byte on COM1 before exiting */
	u64 cpus;          /* bring up at most this many CPUs */
	u64 ap_timeout_ms; /* how long an AP may take to check in */
	u64 lose_cpu;      /* test hook: the AP with this APIC ID is never started (0: off) */
	u64 ipi_iters;     /* round trips per target in the IPI floor benchmark */
	/* the benchmark (bench/bench.c): lists are comma-separated */
	const char *backend;  /* shootdown backends: auto, all, or names */
	const char *workload; /* remap, protect, unmap */
	const char *pages;    /* range sizes in pages */
	bool full;            /* shoot down whole address spaces instead of ranges */
	u64 iters, warmup;
	int initiators;       /* 0 one (CPU 0), 1 all */
	u64 aspaces;
	int ack;              /* 0 early, 1 late */
	int skip_flush;       /* enum tlb_skip: negative controls */
	int observe;          /* enum observe_mode: lockstep or free readers */
	u64 canary;           /* canary iterations per scenario (0: no canary) */
	u64 ack_timeout_ms;
	u64 flush_threshold;
	u64 deaf_cpu;         /* test hook: this CPU ignores shootdowns (0: off) */
	u64 hv_inject_status; /* test hook: Hyper-V hypercalls "return" this status (0: off) */
	int pv;               /* enum pv_choice: which paravirtual interface this boot uses */
	bool kvm_forget_flag; /* test hook: kvm-flush skips preempted targets without the flag */
};

extern struct config cfg;

/* Parse the command line into cfg; on a bad one, print one line and exit with EXIT_USAGE. */
void options_parse(const char *cmdline);
/* Print the option table (for the boot log). */
void options_print_usage(void);

#endif
