/* The kernel command line: every option in one table (kernel/options.c), parsed and checked once
 * at boot into `cfg`: enum values, numbers and lists of them. Documented in README.md ("Kernel
 * command line"). */
#ifndef KERNEL_OPTIONS_H
#define KERNEL_OPTIONS_H

#include "bench/scenario.h"
#include "kernel/cmdline.h"
#include "kernel/types.h"

enum run_mode { MODE_BENCH, MODE_INFO, MODE_SELFTEST, MODE_CONFORMANCE };
enum pv_choice { PV_AUTO, PV_HYPERV, PV_KVM };
enum fault_kind { FAULT_NONE, FAULT_UD, FAULT_GP, FAULT_PF, FAULT_DE, FAULT_DF, FAULT_BP };

/* The backend option's first two choices; the others are the registered backends, in order. */
enum { BACKEND_AUTO, BACKEND_ALL, BACKEND_FIRST };

struct config {
	int mode;          /* enum run_mode */
	const char *tests; /* selftest selection: "all" or a comma-separated list */
	int fault;         /* enum fault_kind: a deliberate fault after boot */
	bool pause;        /* wait for a byte on COM1 before exiting */
	u64 cpus;          /* bring up at most this many CPUs */
	u64 ap_timeout_ms; /* how long an AP may take to check in */
	u64 lose_cpu;      /* test hook: the AP with this APIC ID is never started (0: off) */
	u64 tramp_reserved; /* test hook: the AP start-up code may not use this page (0: off) */
	int fw_fault;       /* test hook: enum fw_fault, firmware tables altered on purpose */
	u64 ipi_iters;     /* round trips per target in the IPI floor benchmark */
	/* The benchmark: its axes (every combination runs, bench/bench.c) and the settings every
	 * scenario shares, which are also the axes' members' defaults. */
	struct opt_list backends; /* BACKEND_AUTO, BACKEND_ALL or BACKEND_FIRST + registry index */
	struct opt_list workloads, pages, acks, inflights, targets;
	struct scenario scenario;
	u64 ack_timeout_ms;
	u64 slow;          /* liveness timeouts x this (kernel/time.h) */
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

/* The options that are scenario settings (those with a record field), in table order. */
const struct opt *options_scenario(u32 i); /* NULL past the last */
const struct opt *options_find(const char *key);
/* A scenario's configuration as record fields: every option with a field, by its type. */
struct jw;
void options_put_scenario(struct jw *w, const struct scenario *s);
/* A list option's values as a JSON array under name: names for enums, numbers otherwise. */
void options_put_list(struct jw *w, const char *name, const struct opt *o);
/* Set the member of s that list option o drives to o's value number i. */
void options_set_member(struct scenario *s, const struct opt *o, u32 i);

#endif
