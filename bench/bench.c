/* The benchmark runner: expands the option lists (backend, workload, pages) into scenarios, runs
 * each through the stress workers, emits one "shootdown" record per scenario and prints a
 * summary table. Every record carries its configuration and environment (bench_put_env()). */
#include "bench/bench.h"
#include "kernel/benchrec.h"
#include "hv/hv.h"
#include "kvm/kvm.h"
#include "kernel/console.h"
#include "kernel/cpu.h"
#include "bench/detection.h"
#include "kernel/printf.h"
#include "kernel/exit.h"
#include "kernel/hypervisor.h"
#include "kernel/math.h"
#include "kernel/options.h"
#include "kernel/record.h"
#include "bench/retention.h"
#include "kernel/stats.h"
#include "bench/stress.h"
#include "kernel/string.h"
#include "kernel/time.h"
#include "mm/flush.h"
#include "mm/tlb.h"
#include "smp/tlb_ipi.h"
#include "smp/apic.h"
#include "bench/ipibench.h"
#include "smp/smp.h"

#define MAX_LIST 16
#define MAX_SCENARIOS 128
#define MAX_PAGES 16384

struct row {
	const char *backend;
	int workload;
	u64 pages;
	struct summary lat;
	u64 per_s, violations, timeouts, skipped_targets, steal_ns;
	s64 ratio_milli; /* p50 / IPI floor p50, x1000; -1 without a floor */
	const char *note;
	struct detection det;
};

static struct row rows[MAX_SCENARIOS];
static u32 nrows;
static struct stress_result result; /* large (histograms): not on the stack */
static struct retention retention;

/* Split a comma list into at most MAX_LIST items (pointers into a copy). */
static u32 split(const char *list, char *buf, u32 len, const char **items)
{
	u32 n = 0;

	strncpy_safe(buf, list, len);
	for (char *p = buf; *p && n < MAX_LIST;) {
		char *comma = strchr(p, ',');

		items[n++] = p;
		if (!comma)
			break;
		*comma = 0;
		p = comma + 1;
	}
	return n;
}

static __attribute__((noreturn)) void bad_value(const char *key, const char *value, const char *valid)
{
	kprintf("cmdline: bad value '%s' for %s (valid: %s)\n", value, key, valid);
	kernel_exit(EXIT_USAGE);
}

static int workload_index(const char *name)
{
	for (int i = 0; workload_names[i]; i++)
		if (!strcmp(workload_names[i], name))
			return i;
	return -1;
}

static bool parse_pages(const char *s, u64 *out)
{
	u64 v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > MAX_PAGES)
			return false;
		v = v * 10 + (*s - '0');
	}
	*out = v;
	return v >= 1 && v <= MAX_PAGES;
}

static void backend_names(struct tlb_backend *b, void *ctx)
{
	char *buf = ctx;
	size_t n = strlen(buf);

	ksnprintf(buf + n, 256 - n, "%s%s", n ? ", " : "", b->name);
}

void bench_validate(void)
{
	char buf[256], names[256] = "auto, all";
	const char *items[MAX_LIST];
	u64 pages;
	u32 n;

	tlb_backend_list(backend_names, names + strlen(names)); /* appends ", ipi, ..." */
	n = split(cfg.backend, buf, sizeof(buf), items);
	for (u32 i = 0; i < n; i++)
		if (strcmp(items[i], "auto") && strcmp(items[i], "all") && !tlb_backend_find(items[i]))
			bad_value("backend", items[i], names);
	n = split(cfg.workload, buf, sizeof(buf), items);
	for (u32 i = 0; i < n; i++)
		if (workload_index(items[i]) < 0)
			bad_value("workload", items[i], "remap, protect, unmap");
	n = split(cfg.pages, buf, sizeof(buf), items);
	for (u32 i = 0; i < n; i++)
		if (!parse_pages(items[i], &pages))
			bad_value("pages", items[i], "1..16384, comma-separated");
	if (cfg.full && cfg.skip_flush == TLB_SKIP_LAST) {
		kprintf("cmdline: skip_flush=last needs ranges to shorten: it cannot be combined with full=1\n");
		kernel_exit(EXIT_USAGE);
	}
}

void bench_put_env(struct jw *w)
{
	const struct tsc_info *ti = tsc_info();

	jw_obj_begin(w, "env");
	jw_str(w, "version", TLBSTORM_VERSION);
	jw_str(w, "hypervisor", hypervisor_name());
	jw_str(w, "hypervisor_vendor", hypervisor.vendor);
	jw_str(w, "cpu_brand", cpu_brand_string());
	jw_u64(w, "cpus", nr_cpus);
	jw_u64(w, "tsc_khz", ti->khz);
	jw_str(w, "tsc_source", ti->source);
	jw_bool(w, "tsc_invariant", ti->invariant);
	jw_str(w, "apic_mode", apic_mode_name());
	jw_bool(w, "pcid", flush_caps.pcid);
	jw_bool(w, "invpcid", flush_caps.invpcid);
	jw_u64(w, "flush_threshold", flush_threshold);
	jw_hex(w, "hyperv_recommendations", hv.recommend_eax);
	jw_hex(w, "kvm_features", kvm.features);
	jw_str(w, "pv_interface", hv.hypercall_page ? "hyperv" : kvm.steal_time || kvm.pv_send_ipi ? "kvm" : "none");
	jw_obj_end(w);
}

static void put_events(struct jw *w, const struct oracle_tally *t)
{
	jw_arr_begin(w, "events");
	for (u32 i = 0; i < MIN(t->nevents, (u32)ORACLE_EVENTS_KEPT); i++) {
		const struct oracle_event *e = &t->events[i];

		jw_obj_begin(w, NULL);
		jw_str(w, "kind", e->kind);
		jw_u64(w, "cpu", e->cpu);
		jw_hex(w, "va", e->va);
		jw_u64(w, "expected", e->expected);
		jw_u64(w, "seen", e->seen);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static u64 per_milli(u64 n, u64 per)
{
	return per ? mul_div_u64(n, 1000, per) : 0;
}

static void put_oracle(struct jw *w, const struct stress_result *r)
{
	const struct oracle_tally *t = &r->oracle;

	jw_obj_begin(w, "oracle");
	jw_u64(w, "checks", t->checks);
	jw_u64(w, "changes", t->changes);
	jw_u64(w, "opportunities", t->opportunities);
	jw_u64(w, "opportunities_per_shootdown_milli", per_milli(t->opportunities, r->shootdowns));
	jw_u64(w, "stale_reads", t->stale_reads);
	jw_u64(w, "writes_after_readonly", t->bad_writes);
	jw_u64(w, "reads_after_unmap", t->missed_faults);
	jw_u64(w, "unexpected_faults", t->unexpected_faults);
	jw_u64(w, "transition_faults", t->transition_faults);
	jw_u64(w, "violations", oracle_violations(t));
	put_events(w, t);
	jw_obj_end(w);
}

static void scenario_record(u32 idx, const struct stress_config *c, const struct row *row,
			    const struct stress_result *r, struct summary *ack, int ret)
{
	static char buf[RECORD_MAX * 2];
	struct jw w;

	record_begin(&w, buf, sizeof(buf), "shootdown");
	jw_u64(&w, "scenario", idx);
	jw_str(&w, "backend", row->backend);
	jw_str(&w, "workload", workload_name(c->workload));
	jw_u64(&w, "pages", c->pages);
	jw_bool(&w, "full", c->full);
	jw_str(&w, "initiators", c->all_initiators ? "all" : "one");
	jw_u64(&w, "aspaces", c->naspaces);
	jw_str(&w, "ack", tlb_ipi_early_ack ? "early" : "late");
	jw_str(&w, "skip_flush", tlb_skip_names[c->skip]);
	jw_str(&w, "observe", observe_names[c->observe]);
	jw_u64(&w, "iterations", c->iters);
	jw_u64(&w, "warmup", c->warmup);
	jw_str(&w, "status", r->timeouts ? "watchdog" : ret ? "error" : "ok");
	if (r->error)
		jw_str(&w, "error", r->error);
	else
		jw_null(&w, "error");
	jw_u64(&w, "shootdowns", r->shootdowns);
	jw_u64(&w, "targets_per_shootdown_milli", per_milli(r->targets, r->shootdowns));
	jw_u64(&w, "skipped_targets", r->skipped);
	jw_u64(&w, "fallbacks", r->fallbacks);
	jw_u64(&w, "steal_ns", row->steal_ns);
	bench_put_summary(&w, "latency_cycles", &row->lat, 0);
	bench_put_summary(&w, "latency_ns", &row->lat, tsc_khz());
	bench_put_summary(&w, "ack_cycles", ack, 0);
	jw_u64(&w, "shootdowns_per_s", row->per_s);
	jw_u64(&w, "ipi_floor_p50_cycles", ipi_floor_p50_cycles());
	if (row->ratio_milli >= 0)
		jw_fixed(&w, "ratio_to_ipi_floor_p50", row->ratio_milli, 3);
	else
		jw_null(&w, "ratio_to_ipi_floor_p50");
	put_oracle(&w, r);
	detection_put(&w, c, r, &row->det, &retention);
	jw_u64(&w, "watchdog_timeouts", r->timeouts);
	jw_u64(&w, "deferred_flushes", r->deferred_flushes);
	jw_u64(&w, "noflush_switches", r->noflush_switches);
	bench_put_env(&w);
	record_end(&w);
}

static void print_events(const struct oracle_tally *t)
{
	for (u32 i = 0; i < MIN(t->nevents, (u32)ORACLE_EVENTS_KEPT); i++)
		kprintf("  ORACLE: %s on cpu %u at %p: expected generation %lu, saw %#lx\n", t->events[i].kind,
			t->events[i].cpu, (void *)t->events[i].va, t->events[i].expected, t->events[i].seen);
}

static int run_scenario(struct tlb_backend *b, int workload, u64 pages)
{
	struct stress_config c = {
		.workload = workload, .pages = pages, .full = cfg.full, .iters = cfg.iters,
		.warmup = cfg.warmup, .all_initiators = cfg.initiators == 1, .naspaces = cfg.aspaces,
		.skip = cfg.skip_flush, .observe = cfg.observe, .canary_iters = cfg.canary,
	};
	struct row *row = &rows[nrows];
	struct summary ack;
	u64 floor = ipi_floor_p50_cycles();
	int ret;

	*row = (struct row){ .backend = b->name, .workload = workload, .pages = pages, .ratio_milli = -1 };
	if (tlb_use(b)) {
		kprintf("bench: backend %s cannot be used here: %s\n", b->name,
			b->unavailable ? b->unavailable : "initialisation failed");
		row->note = "unavailable";
		nrows++;
		return EXIT_SKIP;
	}
	kprintf("bench: %s %s, %lu page%s%s, %s initiator%s, %lu iterations\n", b->name,
		workload_name(workload), pages, pages == 1 ? "" : "s", c.full ? " (full flush)" : "",
		c.all_initiators ? "every CPU" : "one", c.all_initiators ? "s" : "", c.iters);
	row->steal_ns = kvm_steal_ns_total();
	ret = stress_run(&c, &result);
	row->steal_ns = kvm_steal_ns_total() - row->steal_ns;
	hist_summary(&result.latency, &row->lat);
	hist_summary(&result.ack, &ack);
	row->per_s = result.elapsed_cycles ? mul_div_u64(result.shootdowns, tsc_khz() * 1000, result.elapsed_cycles) : 0;
	row->violations = stress_violations(&result);
	row->timeouts = result.timeouts;
	row->skipped_targets = result.skipped;
	if (floor && row->lat.count)
		row->ratio_milli = mul_div_u64(row->lat.p50, 1000, floor);
	detection_judge(&c, &result, &retention, &row->det);
	print_events(&result.oracle);
	kprintf("  detection %s: %s\n", row->det.shown ? "shown" : "not shown",
		row->det.shown ? (!strcmp(row->det.by, "canary") ? "the canary's missing remote flush was caught"
								 : "the scenario's own negative control was caught")
			       : row->det.reason);
	scenario_record(nrows, &c, row, &result, &ack, ret);
	bench_hist_records(nrows, "latency", &result.latency);
	nrows++;
	if (ret && !result.timeouts) {
		row->note = "error";
		return EXIT_ERROR;
	}
	return row->violations || row->timeouts ? EXIT_FAIL : EXIT_PASS;
}

static const char *detect_cell(const struct detection *d)
{
	return d->shown ? "shown" : "NOT SHOWN";
}

static void summary_table(void)
{
	kprintf("\nbench: %u CPUs, TSC %lu MHz, IPI floor p50 %lu ns (cpu 0 -> all, acked)\n", nr_cpus,
		tsc_khz() / 1000, tsc_to_ns(ipi_floor_p50_cycles()));
	kprintf("  %-12s %-8s %6s %9s %9s %9s %7s %9s %6s %7s %-9s\n", "backend", "workload", "pages",
		"p50 ns", "p99 ns", "max ns", "floor x", "per s", "stale", "skipped", "detection");
	for (u32 i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];

		if (r->note && !r->lat.count) {
			kprintf("  %-12s %-8s %6lu  %s\n", r->backend, workload_name(r->workload), r->pages,
				r->note);
			continue;
		}
		kprintf("  %-12s %-8s %6lu %9lu %9lu %9lu %3ld.%02ld %9lu %6lu %7lu %-9s%s\n", r->backend,
			workload_name(r->workload), r->pages, tsc_to_ns(r->lat.p50), tsc_to_ns(r->lat.p99),
			tsc_to_ns(r->lat.max), r->ratio_milli < 0 ? 0 : r->ratio_milli / 1000,
			r->ratio_milli < 0 ? 0 : r->ratio_milli % 1000 / 10, r->per_s, r->violations,
			r->skipped_targets, detect_cell(&r->det), r->timeouts ? "  WATCHDOG" : "");
	}
	for (u32 i = 0; i < nrows; i++)
		if (!rows[i].note && !rows[i].det.shown)
			kprintf("  detection not shown for %s %s %lu: %s\n", rows[i].backend,
				workload_name(rows[i].workload), rows[i].pages, rows[i].det.reason);
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

static void add_backends(const char *name, struct tlb_backend **list, u32 *n)
{
	if (!strcmp(name, "auto")) {
		list[(*n)++] = tlb_backend_auto();
	} else if (!strcmp(name, "all")) {
		/* every backend usable here */
		for (u32 i = 0; i < MAX_LIST; i++) {
			struct tlb_backend *b = tlb_backend_nth(i);

			if (!b)
				break;
			if (!b->unavailable && *n < MAX_LIST)
				list[(*n)++] = b;
		}
	} else if (*n < MAX_LIST) {
		list[(*n)++] = tlb_backend_find(name);
	}
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
	jw_str(&w, "backends", cfg.backend);
	jw_str(&w, "workloads", cfg.workload);
	jw_str(&w, "pages", cfg.pages);
	jw_u64(&w, "iterations", cfg.iters);
	jw_u64(&w, "warmup", cfg.warmup);
	jw_str(&w, "skip_flush", tlb_skip_names[cfg.skip_flush]);
	jw_str(&w, "observe", observe_names[cfg.observe]);
	jw_u64(&w, "canary", cfg.canary);
	jw_u64(&w, "timer_overhead_min_cycles", tmin);
	jw_u64(&w, "timer_overhead_p50_cycles", tp50);
	jw_u64(&w, "ipi_floor_p50_cycles", ipi_floor_p50_cycles());
	bench_put_env(&w);
	record_end(&w);
}

/* The range sizes asked for, as numbers (validated at boot). */
static u32 page_sizes(const char *const *names, u32 n, u64 *sizes, u64 *max)
{
	*max = 0;
	for (u32 i = 0; i < n; i++) {
		sizes[i] = 1;
		parse_pages(names[i], &sizes[i]);
		*max = MAX(*max, sizes[i]);
	}
	return n;
}

int bench_run(void)
{
	u64 tmin, tp50, sizes[MAX_LIST], max_pages;
	char bbuf[256], wbuf[256], pbuf[256];
	const char *bnames[MAX_LIST], *wnames[MAX_LIST], *pnames[MAX_LIST];
	struct tlb_backend *bs[MAX_LIST];
	u32 nb = 0, nw, np, nbn = split(cfg.backend, bbuf, sizeof(bbuf), bnames);
	int verdict = EXIT_PASS;

	nw = split(cfg.workload, wbuf, sizeof(wbuf), wnames);
	np = page_sizes(pnames, split(cfg.pages, pbuf, sizeof(pbuf), pnames), sizes, &max_pages);
	for (u32 i = 0; i < nbn; i++)
		add_backends(bnames[i], bs, &nb);
	if (nb * nw * np > MAX_SCENARIOS) {
		kprintf("bench: %u scenarios asked for (backends x workloads x pages); at most %u per boot\n",
			nb * nw * np, MAX_SCENARIOS);
		return EXIT_USAGE;
	}
	if (nr_cpus < 2)
		kprintf("bench: one CPU online: shootdowns have no remote targets\n");
	if (ipi_floor_run())
		verdict = EXIT_FAIL;
	timer_overhead(&tmin, &tp50);
	kprintf("bench: reading the clock costs %lu cycles (min), %lu (median); not subtracted\n", tmin, tp50);
	bench_record(tmin, tp50);
	retention_probe(sizes, np, max_pages, &retention);
	retention_record(&retention);
	for (u32 b = 0; b < nb; b++)
		for (u32 w = 0; w < nw; w++)
			for (u32 p = 0; p < np; p++)
				verdict = exit_worse(verdict, run_scenario(bs[b], workload_index(wnames[w]), sizes[p]));
	summary_table();
	exit_set_detection(run_detection());
	return verdict;
}
