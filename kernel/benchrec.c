/* Pieces of the benchmark records shared by the kernel and the Linux peer: summaries and the
 * latency_hist records (docs/records.md). */
#include "kernel/benchrec.h"
#include "kernel/math.h"
#include "kernel/record.h"

void bench_put_summary(struct jw *w, const char *key, const struct summary *s, u64 tsc_khz)
{
	/* 128-bit intermediate: cycles * 1e6 overflows 64 bits after ~5 hours at 1 GHz. */
#define F(name) jw_u64(w, #name, tsc_khz ? mul_div_u64(s->name, 1000000, tsc_khz) : s->name)
	jw_obj_begin(w, key);
	jw_u64(w, "count", s->count);
	F(min);
	F(p50);
	F(p90);
	F(p99);
	F(p999);
	F(max);
	F(mean);
	jw_obj_end(w);
#undef F
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
