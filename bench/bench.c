/* The benchmark runner: runs every combination of the command line's axes (the backends, then
 * every list option that is a scenario setting: workloads, range sizes, acknowledgement modes)
 * through the stress workers, emits one "shootdown" record per scenario and prints a summary
 * table. Every record carries its configuration and environment (bench_env()). */
#include "bench/bench.h"
#include "bench/detection.h"
#include "bench/ipibench.h"
#include "bench/retention.h"
#include "bench/stress.h"
#include "hv/hv.h"
#include "kernel/benchrec.h"
#include "kernel/console.h"
#include "kernel/cpu.h"
#include "kernel/exit.h"
#include "kernel/hypervisor.h"
#include "kernel/math.h"
#include "kernel/options.h"
#include "kernel/printf.h"
#include "kernel/record.h"
#include "kernel/stats.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "kvm/kvm.h"
#include "mm/flush.h"
#include "mm/tlb.h"
#include "smp/apic.h"
#include "smp/smp.h"
#include "smp/tsc_sync.h"

#define MAX_BACKENDS 32 /* backends in one boot's resolved list (names may repeat) */
#define MAX_AXES 8
#define MAX_SCENARIOS 128

struct row {
	struct scenario s;
	struct summary lat, null;
	u64 per_s, violations, timeouts, skipped_targets, steal_ns;
	s64 ratio_milli;      /* p50 / IPI floor p50, x1000; -1 without a floor */
	s64 null_ratio_milli; /* p50 / null shootdowns' p50, x1000; -1 without them */
	u64 suspects;         /* samples above SUSPECT_FACTOR x the null p50 */
	const char *note;
	struct detection det;
};

static struct row rows[MAX_SCENARIOS];
static u32 nrows;
static struct stress_result result; /* large (histograms): not on the stack */
static struct retention retention;

/* The kernel's own env fields: the paravirtual interfaces it found. */
static void put_pv_env(struct jw *w, const void *ctx)
{
	(void)ctx;
	jw_hex(w, "hyperv_recommendations", hv.recommend_eax);
	jw_hex(w, "kvm_features", kvm.features);
	jw_str(w, "pv_interface", hv.hypercall_page ? "hyperv" : kvm.steal_time || kvm.pv_send_ipi ? "kvm" : "none");
}

const struct bench_env *bench_env(void)
{
	static struct bench_env e;
	const struct tsc_info *ti = tsc_info();

	e = (struct bench_env){
		.version = TLBSTORM_VERSION, .hypervisor = hypervisor_name(),
		.hypervisor_vendor = hypervisor.vendor, .cpu_brand = cpu_brand_string(), .cpus = nr_cpus,
		.tsc_khz = ti->khz, .tsc_source = ti->source, .tsc_invariant = ti->invariant,
		.apic_mode = apic_mode_name(), .pcid = flush_caps.pcid, .invpcid = flush_caps.invpcid,
		.flush_threshold = tlb_settings.flush_threshold, .put_more = put_pv_env,
	};
	return &e;
}

/* What the record callbacks need of one scenario. */
struct scenario_ctx {
	const struct row *row;
	const struct stress_result *r;
};

static void put_config(struct jw *w, const void *ctx)
{
	options_put_scenario(w, &((const struct scenario_ctx *)ctx)->row->s);
}

static void put_detection(struct jw *w, const void *ctx)
{
	const struct scenario_ctx *c = ctx;

	detection_put(w, &c->row->s, c->r, &c->row->det, &retention);
}

static void put_targets(struct jw *w, const void *ctx)
{
	stress_put_targets(w, ((const struct scenario_ctx *)ctx)->r);
}

/* The scenario's case id: shootdown.<backend>.<workload>.<pages>p, then .<field>-<value> for every
 * other list option given with more than one value (the ids of one boot differ). */
static void case_id(char *buf, size_t len, const struct scenario *s)
{
	const struct opt *o;
	int n = ksnprintf(buf, len, "shootdown.%s.%s.%lup", s->backend->name, workload_name(s->workload),
			  s->pages);

	for (u32 i = 0; (o = options_scenario(i)) && n > 0 && (size_t)n < len; i++) {
		const void *v = (const char *)s + o->at;

		if ((o->type != OPT_ENUM_LIST && o->type != OPT_UINT_LIST) ||
		    ((const struct opt_list *)o->dst)->n < 2 || !strcmp(o->field, "workload") ||
		    !strcmp(o->field, "pages"))
			continue;
		if (o->type == OPT_ENUM_LIST)
			n += ksnprintf(buf + n, len - (size_t)n, ".%s-%s", o->field, o->choices[*(const int *)v]);
		else
			n += ksnprintf(buf + n, len - (size_t)n, ".%s-%lu", o->field, *(const u64 *)v);
	}
}

/* The case line: passes when the scenario ran to its end with no stale translation seen. */
static void scenario_case(const struct row *row, const struct stress_result *r, int ret)
{
	char id[CASE_ID_MAX];
	bool bad = r->timeouts || ret || oracle_violations(&r->oracle);

	case_id(id, sizeof(id), &row->s);
	record_case(id, bad ? "fail" : "pass", tsc_to_ns(row->lat.p50), "ns");
}

static void scenario_record(u32 idx, const struct row *row, const struct stress_result *r, int ret)
{
	struct scenario_ctx ctx = { row, r };
	struct shootdown_rec rec = {
		.scenario = idx, .backend = row->s.backend->name, .put_config = put_config,
		.status = r->timeouts ? "watchdog" : ret ? "error" : "ok", .error = r->error,
		.shootdowns = r->shootdowns, .targets = r->targets, .skipped_targets = r->skipped,
		.requests_raced = r->raced, .safety_wakes = r->safety_wakes,
		.fallbacks = r->fallbacks, .steal_ns = row->steal_ns, .latency = row->lat,
		.tsc_khz = tsc_khz(), .per_s = row->per_s, .floor_p50_cycles = ipi_floor_p50_cycles(),
		.ratio_milli = row->ratio_milli, .oracle = &r->oracle, .put_detection = put_detection,
		.null = row->null, .null_ratio_milli = row->null_ratio_milli, .untargeted = r->untargeted,
		.null_untargeted = r->null_untargeted, .acks_before_start = r->acks_before_start,
		.suspected_preemptions = row->suspects, .steal_known = kvm.steal_time,
		.stolen_samples = r->stolen_samples, .batch_n = r->batch_n, .batch_cycles = r->batch_cycles,
		.watchdog_timeouts = r->timeouts, .deferred_flushes = r->deferred_flushes,
		.noflush_switches = r->noflush_switches, .put_extra = put_targets, .ctx = &ctx, .env = bench_env(),
	};

	hist_summary(&r->ack, &rec.ack);
	bench_shootdown_record(&rec);
	scenario_case(row, r, ret);
}

static void print_events(const struct oracle_tally *t)
{
	for (u32 i = 0; i < MIN(t->nevents, (u32)ORACLE_EVENTS_KEPT); i++)
		kprintf("  ORACLE: %s on cpu %u at %p: expected generation %lu, saw %#lx\n", t->events[i].kind,
			t->events[i].cpu, (void *)t->events[i].va, t->events[i].expected, t->events[i].seen);
}

static void announce(const struct scenario *c)
{
	bool all = scenario_all_initiators(c);

	kprintf("bench: %s %s, %lu page%s%s, %s initiator%s, %s ack, %lu iterations\n", c->backend->name,
		workload_name(c->workload), c->pages, c->pages == 1 ? "" : "s",
		c->full ? " (full flush)" : "", all ? "every CPU" : "one", all ? "s" : "",
		tlb_ack_names[c->ack], c->iters);
}

/* The row's figures from the run's result. */
static void fill_row(struct row *row, const struct stress_result *r)
{
	u64 floor = ipi_floor_p50_cycles();

	hist_summary(&r->latency, &row->lat);
	hist_summary(&r->null, &row->null);
	if (row->null.p50 && row->lat.count)
		row->null_ratio_milli = mul_div_u64(row->lat.p50, 1000, row->null.p50);
	row->suspects = row->null.p50 ? hist_count_above(&r->latency, row->null.p50 * SUSPECT_FACTOR) : 0;
	row->per_s = r->elapsed_cycles ? mul_div_u64(r->shootdowns, tsc_khz() * 1000, r->elapsed_cycles) : 0;
	row->violations = stress_violations(r);
	row->timeouts = r->timeouts;
	row->skipped_targets = r->skipped;
	if (floor && row->lat.count)
		row->ratio_milli = mul_div_u64(row->lat.p50, 1000, floor);
	detection_judge(&row->s, r, &retention, &row->det);
}

static int run_scenario(const struct scenario *c)
{
	struct row *row = &rows[nrows];
	char id[CASE_ID_MAX];
	int ret;

	*row = (struct row){ .s = *c, .ratio_milli = -1, .null_ratio_milli = -1 };
	if (tlb_use(c->backend)) {
		kprintf("bench: backend %s cannot be used here: %s\n", c->backend->name,
			c->backend->unavailable ? c->backend->unavailable : "initialisation failed");
		case_id(id, sizeof(id), c);
		record_case(id, "skip", 0, "ns");
		row->note = "unavailable";
		nrows++;
		return EXIT_SKIP;
	}
	announce(c);
	row->steal_ns = kvm_steal_ns_total();
	ret = stress_run(c, &result);
	row->steal_ns = kvm_steal_ns_total() - row->steal_ns;
	fill_row(row, &result);
	print_events(&result.oracle);
	kprintf("  detection %s: %s\n", row->det.shown ? "shown" : "not shown",
		row->det.shown ? (!strcmp(row->det.by, "canary") ? "the canary's missing remote flush was caught"
								 : "the scenario's own negative control was caught")
			       : row->det.reason);
	scenario_record(nrows, row, &result, ret);
	bench_hist_records(nrows, "latency", &result.latency);
	if (result.null.count)
		bench_hist_records(nrows, "null", &result.null);
	stress_target_records(nrows, &result);
	nrows++;
	if (ret && !result.timeouts) {
		row->note = "error";
		return EXIT_ERROR;
	}
	return row->violations || row->timeouts ? EXIT_FAIL : EXIT_PASS;
}

/* The scenario's label in the summary: its backend, and its ack mode when the boot has several. */
static const char *row_label(const struct row *r, char *buf, u32 len)
{
	bool acks = cfg.acks.n > 1, inflights = cfg.inflights.n > 1, targets = cfg.targets.n > 1;

	if (!acks && !inflights && !targets)
		return r->s.backend->name;
	ksnprintf(buf, len, "%s%s%s%s%s%s%s", r->s.backend->name, acks ? "/" : "",
		  acks ? tlb_ack_names[r->s.ack] : "", inflights ? "/" : "",
		  inflights ? inflight_names[r->s.inflight] : "", targets ? "/" : "",
		  targets ? targets_names[r->s.targets] : "");
	return buf;
}

static const char *ratio_text(s64 milli, char *buf, u32 len)
{
	if (milli < 0)
		return "-";
	ksnprintf(buf, len, "%ld.%02ld", milli / 1000, milli % 1000 / 10);
	return buf;
}

static void summary_row(const struct row *r)
{
	char label[32];
	const char *name = row_label(r, label, sizeof(label));
	const char *wl = workload_name(r->s.workload);

	if (r->note && !r->lat.count) {
		kprintf("  %-12s %-8s %6lu  %s\n", name, wl, r->s.pages, r->note);
		return;
	}
	char null_x[16], floor_x[16];

	kprintf("  %-12s %-8s %6lu %9lu %9lu%c %9lu %7s %7s %9lu %6lu %7lu %-9s%s\n", name, wl,
		r->s.pages, tsc_to_ns(r->lat.p50), tsc_to_ns(r->lat.p99), r->lat.p99_bounded ? ' ' : '?',
		tsc_to_ns(r->null.p50), ratio_text(r->null_ratio_milli, null_x, sizeof(null_x)),
		ratio_text(r->ratio_milli, floor_x, sizeof(floor_x)), r->per_s, r->violations,
		r->skipped_targets, r->det.shown ? "shown" : "NOT SHOWN", r->timeouts ? "  WATCHDOG" : "");
}

static void summary_table(void)
{
	kprintf("\nbench: %u CPUs, TSC %lu MHz, IPI floor p50 %lu ns (cpu 0 -> all, acked)\n", nr_cpus,
		tsc_khz() / 1000, tsc_to_ns(ipi_floor_p50_cycles()));
	kprintf("  %-12s %-8s %6s %9s %9s  %9s %7s %7s %9s %6s %7s %-9s\n", "backend", "workload", "pages",
		"p50 ns", "p99 ns", "null ns", "null x", "floor x", "per s", "stale", "skipped", "detection");
	for (u32 i = 0; i < nrows; i++)
		summary_row(&rows[i]);
	kprintf("  null: p50 of the null shootdowns interleaved with the scenario's (same path, no change,\n"
		"  no flush); null x: p50 / that, the in-scenario ratio; ? after p99: too few samples to bound it\n");
	for (u32 i = 0; i < nrows; i++)
		if (!rows[i].note && !rows[i].det.shown)
			kprintf("  detection not shown for %s %s %lu: %s\n", rows[i].s.backend->name,
				workload_name(rows[i].s.workload), rows[i].s.pages, rows[i].det.reason);
}

/* The run's claim: detection shown only if every scenario that ran showed it. */
static const char *run_detection(void)
{
	u32 ran = 0;

	for (u32 i = 0; i < nrows; i++) {
		if (rows[i].note)
			continue;
		ran++;
		if (!rows[i].det.shown)
			return "not shown";
	}
	return ran ? "shown" : "not shown";
}

/* Append b unless the list has it already (a backend runs once per boot: one case id each). */
static void add_backend(struct tlb_backend **list, u32 *n, struct tlb_backend *b)
{
	for (u32 i = 0; i < *n; i++)
		if (list[i] == b)
			return;
	if (*n < MAX_BACKENDS)
		list[(*n)++] = b;
}

/* The backends the command line asks for, `auto` and `all` resolved on this platform, each once. */
static u32 resolve_backends(struct tlb_backend **list)
{
	u32 n = 0;

	for (u32 i = 0; i < cfg.backends.n; i++) {
		u64 choice = cfg.backends.v[i];

		if (choice == BACKEND_AUTO) {
			add_backend(list, &n, tlb_backend_auto());
		} else if (choice == BACKEND_ALL) {
			for (u32 k = 0; k < tlb_backend_count(); k++)
				if (!tlb_backend_nth(k)->unavailable)
					add_backend(list, &n, tlb_backend_nth(k));
		} else {
			add_backend(list, &n, tlb_backend_nth((u32)choice - BACKEND_FIRST));
		}
	}
	return n;
}

/* The scenario settings given as lists: the axes, in table order (the last varies fastest). */
static u32 scenario_axes(const struct opt **axes, u64 *combinations)
{
	const struct opt *o;
	u32 n = 0;

	*combinations = 1;
	for (u32 i = 0; (o = options_scenario(i)) && n < MAX_AXES; i++) {
		if (o->type != OPT_ENUM_LIST && o->type != OPT_UINT_LIST)
			continue;
		axes[n++] = o;
		*combinations *= ((const struct opt_list *)o->dst)->n;
	}
	return n;
}

/* Every combination of the axes' values, for one backend. */
static int run_backend(struct tlb_backend *b, const struct opt *const *axes, u32 naxes)
{
	struct scenario s = cfg.scenario;
	u32 at[MAX_AXES] = { 0 };
	int verdict = EXIT_PASS, a;

	s.backend = b;
	do {
		for (u32 k = 0; k < naxes; k++)
			options_set_member(&s, axes[k], at[k]);
		verdict = exit_worse(verdict, run_scenario(&s));
		for (a = (int)naxes - 1; a >= 0; a--) {
			if (++at[a] < ((const struct opt_list *)axes[a]->dst)->n)
				break;
			at[a] = 0;
		}
	} while (a >= 0);
	return verdict;
}

/* What reading the clock costs: back-to-back ordered TSC reads, the smallest and the median. */
static void timer_overhead(u64 *min, u64 *p50)
{
	static u64 v[1000];

	for (u32 i = 0; i < ARRAY_SIZE(v); i++) {
		u64 a = rdtsc_ordered();

		v[i] = rdtsc_ordered() - a;
	}
	stats_sort(v, ARRAY_SIZE(v));
	*min = v[0];
	*p50 = stats_percentile(v, ARRAY_SIZE(v), 500);
}

static void bench_record(u64 tmin, u64 tp50)
{
	char buf[RECORD_MAX];
	struct jw w;

	record_begin(&w, buf, sizeof(buf), "bench");
	options_put_list(&w, "backends", options_find("backend"));
	options_put_list(&w, "workloads", options_find("workload"));
	options_put_list(&w, "pages", options_find("pages"));
	options_put_list(&w, "acks", options_find("ack"));
	options_put_list(&w, "inflights", options_find("inflight"));
	options_put_list(&w, "targets", options_find("targets"));
	jw_u64(&w, "iterations", cfg.scenario.iters);
	jw_u64(&w, "warmup", cfg.scenario.warmup);
	jw_str(&w, "skip_flush", tlb_skip_names[cfg.scenario.skip]);
	jw_str(&w, "observe", observe_names[cfg.scenario.observe]);
	jw_u64(&w, "canary", cfg.scenario.canary);
	jw_u64(&w, "batch", cfg.scenario.batch);
	jw_bool(&w, "breakdown", cfg.scenario.breakdown);
	jw_u64(&w, "slow", cfg.slow);
	jw_u64(&w, "timer_overhead_min_cycles", tmin);
	jw_u64(&w, "timer_overhead_p50_cycles", tp50);
	jw_u64(&w, "ipi_floor_p50_cycles", ipi_floor_p50_cycles());
	bench_put_env(&w, bench_env());
	record_end(&w);
}

/* Before any scenario: the floor, the clock's cost and what the TLB retains. */
static int prologue(void)
{
	int verdict = EXIT_PASS;
	u64 tmin, tp50, max_pages = 0;

	if (nr_cpus < 2)
		kprintf("bench: one CPU online: shootdowns have no remote targets\n");
	if (ipi_floor_run(cfg.ipi_iters, cfg.targets.v[0] == TARGETS_HALT))
		verdict = EXIT_FAIL;
	timer_overhead(&tmin, &tp50);
	kprintf("bench: reading the clock costs %lu cycles (min), %lu (median); not subtracted\n", tmin, tp50);
	bench_record(tmin, tp50);
	for (u32 i = 0; i < cfg.pages.n; i++)
		max_pages = MAX(max_pages, cfg.pages.v[i]);
	retention_probe(cfg.pages.v, cfg.pages.n, max_pages, &retention);
	retention_record(&retention);
	return verdict;
}

int bench_run(void)
{
	static struct tlb_backend *bs[MAX_BACKENDS];
	const struct opt *axes[MAX_AXES];
	u64 combinations;
	u32 nb = resolve_backends(bs), naxes = scenario_axes(axes, &combinations);
	int verdict;

	if (nb * combinations > MAX_SCENARIOS) {
		kprintf("bench: %lu scenarios asked for (the product of the list options); at most %u per boot\n",
			nb * combinations, MAX_SCENARIOS);
		return EXIT_USAGE;
	}
	verdict = prologue();
	for (u32 b = 0; b < nb; b++)
		verdict = exit_worse(verdict, run_backend(bs[b], axes, naxes));
	summary_table();
	exit_set_detection(run_detection());
	return verdict;
}
