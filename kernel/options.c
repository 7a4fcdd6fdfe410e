/* The one table of kernel command-line options. Adding an option is one entry here plus its
 * field in struct config. */
#include "kernel/options.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "hv/hv.h"
#include "bench/bench.h"
#include "kernel/exit.h"
#include "bench/stress.h"
#include "mm/flush.h"
#include "mm/tlb.h"
#include "smp/tlb_ipi.h"
#include "smp/cpumask.h"

struct config cfg = {
	.mode = MODE_BENCH,
	.tests = "all",
	.fault = FAULT_NONE,
	.cpus = MAX_CPUS,
	.ap_timeout_ms = 1000,
	.ipi_iters = 200,
	.backend = "auto",
	.workload = "remap",
	.pages = "1,64",
	.iters = 1000,
	.warmup = 100,
	.aspaces = 1,
	.ack_timeout_ms = 2000,
	.flush_threshold = 33,
	.canary = 16,
};

static const char *const modes[] = { "bench", "info", "selftest", NULL };
static const char *const initiators[] = { "one", "all", NULL };
static const char *const acks[] = { "early", "late", NULL };
static const char *const pvs[] = { "auto", "hyperv", "kvm", NULL };
static const char *const faults[] = { "none", "ud", "gp", "pf", "de", "df", "bp", NULL };

static const struct opt options[] = {
	{ "mode", OPT_ENUM, "what to run: the benchmark, boot information and IPI floor, or self-tests",
	  modes, 0, 0, &cfg.mode },
	{ "test", OPT_STR, "self-tests to run: all, or a comma-separated list of names",
	  NULL, 0, 0, &cfg.tests },
	{ "fault", OPT_ENUM, "trigger this exception on purpose after boot (tests the reporting)",
	  faults, 0, 0, &cfg.fault },
	{ "pause", OPT_BOOL, "before exiting, wait for a byte on COM1 (lets the host grab the screen)",
	  NULL, 0, 0, &cfg.pause },
	{ "cpus", OPT_UINT, "bring up at most this many CPUs", NULL, 1, MAX_CPUS, &cfg.cpus },
	{ "ap_timeout_ms", OPT_UINT, "how long an AP may take to check in", NULL, 1, 60000,
	  &cfg.ap_timeout_ms },
	{ "lose_cpu", OPT_UINT, "test hook: the AP with this APIC ID is never started (0: off)", NULL,
	  0, 0xfffffffe, &cfg.lose_cpu },
	{ "ipi_iters", OPT_UINT, "round trips per target in the IPI floor benchmark", NULL, 1, 10000,
	  &cfg.ipi_iters },
	{ "backend", OPT_STR, "shootdown backends to compare: auto, all, or names (comma list)", NULL, 0, 0,
	  &cfg.backend },
	{ "workload", OPT_STR, "stress workloads: remap, protect, unmap (comma list)", NULL, 0, 0,
	  &cfg.workload },
	{ "pages", OPT_STR, "pages changed per shootdown, 1..16384 (comma list)", NULL, 0, 0, &cfg.pages },
	{ "full", OPT_BOOL, "flush whole address spaces instead of the changed range", NULL, 0, 0,
	  &cfg.full },
	{ "iters", OPT_UINT, "measured shootdowns per scenario (per initiator)", NULL, 1, 10000000,
	  &cfg.iters },
	{ "warmup", OPT_UINT, "shootdowns discarded before measuring", NULL, 0, 1000000, &cfg.warmup },
	{ "initiators", OPT_ENUM, "who changes mappings: CPU 0, or every CPU at once", initiators, 0, 0,
	  &cfg.initiators },
	{ "aspaces", OPT_UINT, "address spaces the workers switch between", NULL, 1, 8, &cfg.aspaces },
	{ "ack", OPT_ENUM, "IPI targets acknowledge on reading the request or after flushing", acks, 0,
	  0, &cfg.ack },
	{ "skip_flush", OPT_ENUM, "negative control: leave out the remote or local flush, each range's last page, or the highest target",
	  tlb_skip_names, 0, 0, &cfg.skip_flush },
	{ "observe", OPT_ENUM, "readers: in lockstep with each change (detection guaranteed), or free-running",
	  observe_names, 0, 0, &cfg.observe },
	{ "canary", OPT_UINT, "most iterations of each scenario's canary, a negative control that must be caught (0: none)",
	  NULL, 0, 1000, &cfg.canary },
	{ "ack_timeout_ms", OPT_UINT, "shootdown watchdog", NULL, 1, 600000, &cfg.ack_timeout_ms },
	{ "flush_threshold", OPT_UINT, "pages flushed one by one before flushing the whole context",
	  NULL, 0, 1000000, &cfg.flush_threshold },
	{ "pv", OPT_ENUM, "paravirtual interface: Hyper-V's when offered, else KVM's; or one of them",
	  pvs, 0, 0, &cfg.pv },
	{ "kvm_forget_flag", OPT_BOOL, "test hook: kvm-flush skips preempted targets without asking the host to flush",
	  NULL, 0, 0, &cfg.kvm_forget_flag },
	{ "hv_inject_status", OPT_UINT, "test hook: Hyper-V flush and IPI hypercalls fail with this status",
	  NULL, 0, 0xffff, &cfg.hv_inject_status },
	{ "deaf_cpu", OPT_UINT, "test hook: this CPU never acknowledges shootdowns (0: off)", NULL, 0,
	  MAX_CPUS - 1, &cfg.deaf_cpu },
};

static char scratch[1024];

void options_parse(const char *cmdline)
{
	char err[1024]; /* the unknown-key message lists every key */

	if (cmdline_parse(cmdline, options, ARRAY_SIZE(options), scratch, sizeof(scratch), err,
			  sizeof(err))) {
		kprintf("%s\n", err);
		kernel_exit(EXIT_USAGE);
	}
	bench_validate();
	/* the settings other subsystems read directly */
	tlb_ack_timeout_us = cfg.ack_timeout_ms * 1000;
	tlb_ipi_early_ack = cfg.ack == 0;
	flush_threshold = cfg.flush_threshold;
	tlb_deaf_cpu = cfg.deaf_cpu ? cfg.deaf_cpu : 0xffffffffu;
	hv_inject_status = cfg.hv_inject_status;
	kvm_flush_forget_flag = cfg.kvm_forget_flag;
}

void options_print_usage(void)
{
	char buf[2048];

	cmdline_usage(buf, sizeof(buf), options, ARRAY_SIZE(options));
	kprintf("%s", buf);
}
