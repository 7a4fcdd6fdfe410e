/* Pieces of the benchmark records shared by the kernel and the Linux peer: summaries and the
 * latency_hist records (docs/records.md). */
#include "kernel/benchrec.h"
#include "kernel/math.h"
#include "kernel/record.h"

void bench_put_summary(struct jw *w, const char *key, const struct summary *s, u64 tsc_khz)
{
	/* 128-bit intermediate: cycles * 1e6 overflows 64 bits after ~5 hours at 1 GHz. */
#define F(name) jw_u64(w, #name, tsc_khz ? mul_div_u64(s->name, 1000000, tsc_khz) : s->name)
#define G(name) jw_u64(w, NULL, tsc_khz ? mul_div_u64(s->name, 1000000, tsc_khz) : s->name)
	jw_obj_begin(w, key);
	jw_u64(w, "count", s->count);
	F(min);
	F(p50);
	F(p90);
	F(p99);
	F(p999);
	F(max);
	F(mean);
	jw_arr_begin(w, "p50_ci");
	G(p50_lo);
	G(p50_hi);
	jw_arr_end(w);
	jw_arr_begin(w, "p99_ci");
	G(p99_lo);
	G(p99_hi);
	jw_arr_end(w);
	jw_bool(w, "p99_low_confidence", s->count && !s->p99_bounded);
	jw_obj_end(w);
#undef F
#undef G
}

void bench_put_env(struct jw *w, const struct bench_env *e)
{
	jw_obj_begin(w, "env");
	jw_str(w, "version", e->version);
	jw_str(w, "hypervisor", e->hypervisor);
	jw_str(w, "hypervisor_vendor", e->hypervisor_vendor);
	jw_str(w, "cpu_brand", e->cpu_brand);
	jw_u64(w, "cpus", e->cpus);
	jw_u64(w, "tsc_khz", e->tsc_khz);
	jw_str(w, "tsc_source", e->tsc_source);
	jw_bool(w, "tsc_invariant", e->tsc_invariant);
	jw_str(w, "apic_mode", e->apic_mode);
	jw_bool(w, "pcid", e->pcid);
	jw_bool(w, "invpcid", e->invpcid);
	jw_u64(w, "flush_threshold", e->flush_threshold);
	if (e->put_more)
		e->put_more(w, e->ctx);
	jw_obj_end(w);
}

static u64 per_milli(u64 n, u64 per)
{
	return per ? mul_div_u64(n, 1000, per) : 0;
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

void bench_put_oracle(struct jw *w, const char *key, const struct oracle_tally *t, u64 shootdowns)
{
	jw_obj_begin(w, key);
	jw_u64(w, "checks", t->checks);
	jw_u64(w, "changes", t->changes);
	jw_u64(w, "opportunities", t->opportunities);
	jw_u64(w, "opportunities_per_shootdown_milli", per_milli(t->opportunities, shootdowns));
	jw_u64(w, "stale_reads", t->stale_reads);
	jw_u64(w, "writes_after_readonly", t->bad_writes);
	jw_u64(w, "reads_after_unmap", t->missed_faults);
	jw_u64(w, "unexpected_faults", t->unexpected_faults);
	jw_u64(w, "transition_faults", t->transition_faults);
	jw_u64(w, "violations", oracle_violations(t));
	put_events(w, t);
	jw_obj_end(w);
}

static void put_ratio(struct jw *w, const char *key, s64 milli)
{
	if (milli >= 0)
		jw_fixed(w, key, milli, 3);
	else
		jw_null(w, key);
}

/* The batched nulls' mean, free of per-sample clock reads (null when there was no batch). */
static void put_batch(struct jw *w, const struct shootdown_rec *r)
{
	u64 mean = r->batch_n ? r->batch_cycles / r->batch_n : 0;

	if (!r->batch_n) {
		jw_null(w, "null_batch");
		return;
	}
	jw_obj_begin(w, "null_batch");
	jw_u64(w, "shootdowns", r->batch_n);
	jw_u64(w, "cycles", r->batch_cycles);
	jw_u64(w, "mean_cycles", mean);
	jw_u64(w, "mean_ns", r->tsc_khz ? mul_div_u64(mean, 1000000, r->tsc_khz) : 0);
	jw_obj_end(w);
}

/* The in-scenario floor: null shootdowns and the ratio to them (null when there were none). */
static void put_null(struct jw *w, const struct shootdown_rec *r)
{
	if (r->null.count) {
		bench_put_summary(w, "null_latency_cycles", &r->null, 0);
		bench_put_summary(w, "null_latency_ns", &r->null, r->tsc_khz);
	} else {
		jw_null(w, "null_latency_cycles");
		jw_null(w, "null_latency_ns");
	}
	put_ratio(w, "ratio_to_null_p50", r->null.count ? r->null_ratio_milli : -1);
	if (r->null.count)
		jw_u64(w, "suspected_preemptions", r->suspected_preemptions);
	else
		jw_null(w, "suspected_preemptions");
	if (r->steal_known)
		jw_u64(w, "stolen_samples", r->stolen_samples);
	else
		jw_null(w, "stolen_samples");
	put_batch(w, r);
	jw_u64(w, "untargeted_shootdowns", r->untargeted);
	jw_u64(w, "null_untargeted", r->null_untargeted);
	jw_u64(w, "acks_before_start", r->acks_before_start);
}

/* The measurement: counts, latencies, throughput and the floors. */
static void put_measurement(struct jw *w, const struct shootdown_rec *r)
{
	jw_u64(w, "shootdowns", r->shootdowns);
	jw_u64(w, "targets_per_shootdown_milli", per_milli(r->targets, r->shootdowns));
	jw_u64(w, "skipped_targets", r->skipped_targets);
	jw_u64(w, "requests_raced", r->requests_raced);
	jw_u64(w, "safety_wakes", r->safety_wakes);
	jw_u64(w, "fallbacks", r->fallbacks);
	jw_u64(w, "steal_ns", r->steal_ns);
	bench_put_summary(w, "latency_cycles", &r->latency, 0);
	bench_put_summary(w, "latency_ns", &r->latency, r->tsc_khz);
	bench_put_summary(w, "ack_cycles", &r->ack, 0);
	jw_u64(w, "shootdowns_per_s", r->per_s);
	put_null(w, r);
	jw_u64(w, "ipi_floor_p50_cycles", r->floor_p50_cycles);
	put_ratio(w, "ratio_to_ipi_floor_p50", r->ratio_milli);
}

void bench_shootdown_record(const struct shootdown_rec *r)
{
	static char buf[RECORD_MAX * 2];
	struct jw w;

	record_begin(&w, buf, sizeof(buf), "shootdown");
	jw_u64(&w, "scenario", r->scenario);
	jw_str(&w, "backend", r->backend);
	r->put_config(&w, r->ctx);
	jw_str(&w, "status", r->status);
	if (r->error)
		jw_str(&w, "error", r->error);
	else
		jw_null(&w, "error");
	put_measurement(&w, r);
	bench_put_oracle(&w, "oracle", r->oracle, r->shootdowns);
	r->put_detection(&w, r->ctx);
	jw_u64(&w, "watchdog_timeouts", r->watchdog_timeouts);
	jw_u64(&w, "deferred_flushes", r->deferred_flushes);
	jw_u64(&w, "noflush_switches", r->noflush_switches);
	if (r->put_extra)
		r->put_extra(&w, r->ctx);
	bench_put_env(&w, r->env);
	record_end(&w);
}

/* latency_hist parts: HIST_RECORD_BUCKETS buckets each, the final one marked "last". */
struct hist_emit {
	u32 scenario, part, n, left; /* left: non-empty buckets not yet emitted */
	const char *of;
	char buf[RECORD_MAX * 2];
	struct jw w;
};

static void hist_part_begin(struct hist_emit *e)
{
	record_begin(&e->w, e->buf, sizeof(e->buf), "latency_hist");
	jw_u64(&e->w, "scenario", e->scenario);
	jw_str(&e->w, "of", e->of);
	jw_str(&e->w, "unit", "cycles");
	jw_u64(&e->w, "part", e->part);
	jw_bool(&e->w, "last", e->left <= HIST_RECORD_BUCKETS);
	jw_arr_begin(&e->w, "buckets");
	e->n = 0;
}

static void hist_part_end(struct hist_emit *e)
{
	jw_arr_end(&e->w);
	record_end(&e->w);
	e->part++;
}

static void hist_count_one(void *ctx, u64 low, u64 high, u64 count)
{
	(void)low, (void)high, (void)count;
	((struct hist_emit *)ctx)->left++;
}

static void hist_put_bucket(void *ctx, u64 low, u64 high, u64 count)
{
	struct hist_emit *e = ctx;

	if (e->n == HIST_RECORD_BUCKETS) {
		hist_part_end(e);
		hist_part_begin(e);
	}
	jw_arr_begin(&e->w, NULL);
	jw_u64(&e->w, NULL, low);
	jw_u64(&e->w, NULL, high);
	jw_u64(&e->w, NULL, count);
	jw_arr_end(&e->w);
	e->n++;
	e->left--;
}

void bench_hist_records(u32 scenario, const char *of, const struct histogram *h)
{
	static struct hist_emit e; /* the buffer is large: not on the stack */

	e = (struct hist_emit){ .scenario = scenario, .of = of };
	hist_foreach(h, hist_count_one, &e);
	hist_part_begin(&e);
	hist_foreach(h, hist_put_bucket, &e);
	hist_part_end(&e);
}
