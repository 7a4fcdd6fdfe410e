/* The one table of kernel command-line options. Adding an option is one entry here plus its
 * member in struct config, or in struct scenario for a benchmark setting (give it a record
 * field, and it reaches every "shootdown" record and, through the schema, the harness's CSV). */
#include "kernel/options.h"
#include "acpi/fwfault.h"
#include "bench/scenario.h"
#include "kernel/console.h"
#include "kernel/exit.h"
#include "kernel/json.h"
#include "kernel/string.h"
#include "mm/tlb.h"
#include "smp/cpumask.h"

struct config cfg = {
	.mode = MODE_BENCH,
	.tests = "all",
	.fault = FAULT_NONE,
	.cpus = MAX_CPUS,
	.ap_timeout_ms = 1000, .slow = 1,
	.ipi_iters = 200,
	.backends = { 1, { BACKEND_AUTO } },
	.workloads = { 1, { WL_REMAP } },
	.pages = { 2, { 1, 64 } },
	.acks = { 1, { TLB_ACK_EARLY } },
	.inflights = { 1, { INFLIGHT_SKIP } },
	.targets = { 1, { TARGETS_HALT } }, /* idle vCPUs halt; 64 spinning ones on 2 host CPUs crawl */
	.scenario = { .workload = WL_REMAP, .pages = 1, .iters = 1000, .warmup = 100, .aspaces = 1,
		      .ack = TLB_ACK_EARLY, .canary = 16 },
	.ack_timeout_ms = 2000,
	.flush_threshold = 33,
};

static const char *const modes[] = {
	[MODE_BENCH] = "bench", [MODE_INFO] = "info", [MODE_SELFTEST] = "selftest",
	[MODE_CONFORMANCE] = "conformance", NULL,
};
static const char *const pvs[] = { [PV_AUTO] = "auto", [PV_HYPERV] = "hyperv", [PV_KVM] = "kvm", NULL };
static const char *const faults[] = {
	[FAULT_NONE] = "none", [FAULT_UD] = "ud", [FAULT_GP] = "gp", [FAULT_PF] = "pf",
	[FAULT_DE] = "de",     [FAULT_DF] = "df", [FAULT_BP] = "bp", NULL,
};
/* "auto", "all", then the registered backends (filled before parsing) */
static const char *backend_choices[BACKEND_FIRST + TLB_MAX_BACKENDS + 1] = { "auto", "all" };

/* Where a scenario setting lives, checked against the option's type. */
#define MEMBER(m, type)                                                                         \
	.at = offsetof(struct scenario, m) +                                                     \
	      0 * sizeof(char[_Generic(((struct scenario *)0)->m, type: 1, default: -1)])
#define SCENARIO_ENUM(m) MEMBER(m, int)
#define SCENARIO_U64(m) MEMBER(m, u64)
#define SCENARIO_BOOL(m) MEMBER(m, bool)

static const struct opt options[] = {
	{ .key = "mode", .type = OPT_ENUM, .choices = modes, .dst = &cfg.mode,
	  .help = "what to run: the benchmark, boot information and IPI floor, self-tests, or the TLFS conformance checks" },
	{ .key = "test", .type = OPT_STR, .dst = &cfg.tests,
	  .help = "self-tests to run: all, or a comma-separated list of names" },
	{ .key = "fault", .type = OPT_ENUM, .choices = faults, .dst = &cfg.fault,
	  .help = "trigger this exception on purpose after boot (tests the reporting)" },
	{ .key = "pause", .type = OPT_BOOL, .dst = &cfg.pause,
	  .help = "before exiting, wait for a byte on COM1 (lets the host grab the screen)" },
	{ .key = "cpus", .type = OPT_UINT, .min = 1, .max = MAX_CPUS, .dst = &cfg.cpus,
	  .help = "bring up at most this many CPUs" },
	{ .key = "ap_timeout_ms", .type = OPT_UINT, .min = 1, .max = 60000, .dst = &cfg.ap_timeout_ms,
	  .help = "how long an AP may take to check in" },
	{ .key = "lose_cpu", .type = OPT_UINT, .max = 0xfffffffe, .dst = &cfg.lose_cpu,
	  .help = "test hook: the AP with this APIC ID is never started (0: off)" },
	{ .key = "fw_fault", .type = OPT_ENUM, .choices = fw_fault_names, .dst = &cfg.fw_fault,
	  .help = "test hook: alter the firmware's tables on purpose (hostile firmware)" },
	{ .key = "tramp_reserved", .type = OPT_UINT, .max = 0xfffff, .dst = &cfg.tramp_reserved,
	  .help = "test hook: the AP start-up code may not use the page at this address (0: off)" },
	{ .key = "ipi_iters", .type = OPT_UINT, .min = 1, .max = 10000, .dst = &cfg.ipi_iters,
	  .help = "round trips per target in the IPI floor benchmark" },
	{ .key = "backend", .type = OPT_ENUM_LIST, .choices = backend_choices, .dst = &cfg.backends,
	  .help = "shootdown backends to compare: auto, all, or names (comma list)" },
	{ .key = "workload", .type = OPT_ENUM_LIST, .choices = workload_names, .dst = &cfg.workloads,
	  .field = "workload", SCENARIO_ENUM(workload),
	  .help = "stress workloads (comma list)" },
	{ .key = "pages", .type = OPT_UINT_LIST, .min = 1, .max = SCENARIO_MAX_PAGES,
	  .dst = &cfg.pages, .field = "pages", SCENARIO_U64(pages),
	  .help = "pages changed per shootdown (comma list)" },
	{ .key = "full", .type = OPT_BOOL, .dst = &cfg.scenario.full, .field = "full",
	  SCENARIO_BOOL(full), .help = "flush whole address spaces instead of the changed range" },
	{ .key = "iters", .type = OPT_UINT, .min = 1, .max = 10000000, .dst = &cfg.scenario.iters,
	  .field = "iterations", SCENARIO_U64(iters),
	  .help = "measured shootdowns per scenario (per initiator)" },
	{ .key = "warmup", .type = OPT_UINT, .max = 1000000, .dst = &cfg.scenario.warmup,
	  .field = "warmup", SCENARIO_U64(warmup), .help = "shootdowns discarded before measuring" },
	{ .key = "initiators", .type = OPT_ENUM, .choices = initiators_names,
	  .dst = &cfg.scenario.initiators, .field = "initiators", SCENARIO_ENUM(initiators),
	  .help = "who changes mappings: CPU 0, or every CPU at once" },
	{ .key = "aspaces", .type = OPT_UINT, .min = 1, .max = 8, .dst = &cfg.scenario.aspaces,
	  .field = "aspaces", SCENARIO_U64(aspaces),
	  .help = "address spaces the workers switch between" },
	{ .key = "ack", .type = OPT_ENUM_LIST, .choices = tlb_ack_names, .dst = &cfg.acks,
	  .field = "ack", SCENARIO_ENUM(ack),
	  .help = "IPI targets acknowledge on reading the request or after flushing (comma list)" },
	{ .key = "skip_flush", .type = OPT_ENUM, .choices = tlb_skip_names, .dst = &cfg.scenario.skip,
	  .field = "skip_flush", SCENARIO_ENUM(skip),
	  .help = "negative control: leave out the remote or local flush, each range's last page, or the highest target" },
	{ .key = "observe", .type = OPT_ENUM, .choices = observe_names, .dst = &cfg.scenario.observe,
	  .field = "observe", SCENARIO_ENUM(observe),
	  .help = "readers: in lockstep with each change (detection guaranteed), or free-running" },
	{ .key = "inflight", .type = OPT_ENUM_LIST, .choices = inflight_names, .dst = &cfg.inflights,
	  .field = "inflight", SCENARIO_ENUM(inflight),
	  .help = "readers skip a slice while its change is in flight, or read it and fault (comma list)" },
	{ .key = "targets", .type = OPT_ENUM_LIST, .choices = targets_names, .dst = &cfg.targets,
	  .field = "targets", SCENARIO_ENUM(targets),
	  .help = "CPUs that only read spin between changes, or halt until woken (comma list)" },
	{ .key = "batch", .type = OPT_UINT, .max = 100000, .dst = &cfg.scenario.batch,
	  .help = "null shootdowns timed back to back as one per scenario (one initiator; 0: none)" },
	{ .key = "breakdown", .type = OPT_BOOL, .dst = &cfg.scenario.breakdown,
	  .help = "IPI targets also stamp handler entry and exit, for the per-target breakdown (one initiator; delays each ack by a TSC read)" },
	{ .key = "canary", .type = OPT_UINT, .max = 1000, .dst = &cfg.scenario.canary,
	  .help = "most iterations of each scenario's canary, a negative control that must be caught (0: none)" },
	{ .key = "ack_timeout_ms", .type = OPT_UINT, .min = 1, .max = 600000, .dst = &cfg.ack_timeout_ms,
	  .help = "shootdown watchdog" },
	{ .key = "slow", .type = OPT_UINT, .min = 1, .max = 100, .dst = &cfg.slow,
	  .help = "host slowness: every liveness timeout (AP check-in, calls, watchdog, barriers, lockstep) x this; the harness measures it" },
	{ .key = "flush_threshold", .type = OPT_UINT, .max = 1000000, .dst = &cfg.flush_threshold,
	  .help = "pages flushed one by one before flushing the whole context" },
	{ .key = "pv", .type = OPT_ENUM, .choices = pvs, .dst = &cfg.pv,
	  .help = "paravirtual interface: Hyper-V's when offered, else KVM's; or one of them" },
	{ .key = "kvm_forget_flag", .type = OPT_BOOL, .dst = &cfg.kvm_forget_flag,
	  .help = "test hook: kvm-flush skips preempted targets without asking the host to flush" },
	{ .key = "hv_inject_status", .type = OPT_UINT, .max = 0xffff, .dst = &cfg.hv_inject_status,
	  .help = "test hook: Hyper-V flush and IPI hypercalls fail with this status" },
	{ .key = "deaf_cpu", .type = OPT_UINT, .max = MAX_CPUS - 1, .dst = &cfg.deaf_cpu,
	  .help = "test hook: this CPU never acknowledges shootdowns (0: off)" },
};

static char scratch[1024];

static void fill_backend_choices(void)
{
	u32 n = MIN(tlb_backend_count(), (u32)ARRAY_SIZE(backend_choices) - BACKEND_FIRST - 1);

	for (u32 i = 0; i < n; i++)
		backend_choices[BACKEND_FIRST + i] = tlb_backend_nth(i)->name;
	backend_choices[BACKEND_FIRST + n] = NULL;
}

/* Rules that join two options. */
static void check_combinations(void)
{
	if (cfg.scenario.full && cfg.scenario.skip == TLB_SKIP_LAST) {
		kprintf("cmdline: skip_flush=last needs ranges to shorten: it cannot be combined with full=1\n");
		kernel_exit(EXIT_USAGE);
	}
}

void options_parse(const char *cmdline)
{
	char err[1024]; /* the unknown-key message lists every key */

	fill_backend_choices();
	if (cmdline_parse(cmdline, options, ARRAY_SIZE(options), scratch, sizeof(scratch), err,
			  sizeof(err))) {
		kprintf("%s\n", err);
		kernel_exit(EXIT_USAGE);
	}
	check_combinations();
}

void options_print_usage(void)
{
	char buf[2048];

	cmdline_usage(buf, sizeof(buf), options, ARRAY_SIZE(options));
	kprintf("%s", buf);
}

const struct opt *options_scenario(u32 i)
{
	for (u32 k = 0; k < ARRAY_SIZE(options); k++)
		if (options[k].field && !i--)
			return &options[k];
	return NULL;
}

const struct opt *options_find(const char *key)
{
	for (u32 k = 0; k < ARRAY_SIZE(options); k++)
		if (!strcmp(options[k].key, key))
			return &options[k];
	return NULL;
}

void options_put_scenario(struct jw *w, const struct scenario *s)
{
	const struct opt *o;

	for (u32 i = 0; (o = options_scenario(i)); i++) {
		const void *v = (const char *)s + o->at;

		switch (o->type) {
		case OPT_ENUM:
		case OPT_ENUM_LIST:
			jw_str(w, o->field, o->choices[*(const int *)v]);
			break;
		case OPT_BOOL:
			jw_bool(w, o->field, *(const bool *)v);
			break;
		default:
			jw_u64(w, o->field, *(const u64 *)v);
			break;
		}
	}
}

void options_put_list(struct jw *w, const char *name, const struct opt *o)
{
	const struct opt_list *l = o->dst;

	jw_arr_begin(w, name);
	for (u32 i = 0; i < l->n; i++) {
		if (o->type == OPT_ENUM_LIST)
			jw_str(w, NULL, o->choices[l->v[i]]);
		else
			jw_u64(w, NULL, l->v[i]);
	}
	jw_arr_end(w);
}

void options_set_member(struct scenario *s, const struct opt *o, u32 i)
{
	const struct opt_list *l = o->dst;
	void *m = (char *)s + o->at;

	if (o->type == OPT_ENUM_LIST)
		*(int *)m = (int)l->v[i];
	else
		*(u64 *)m = l->v[i];
}
