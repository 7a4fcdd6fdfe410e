/* Judging and recording a scenario's detection power (bench/detection.h). */
#include "bench/detection.h"
#include "kernel/printf.h"
#include "kvm/kvm.h"
#include "mm/tlb.h"
#include "smp/smp.h"

/* Why the canary was not caught, as precisely as we know. */
static void canary_reason(const struct scenario *c, const struct stress_result *r,
			  const struct retention *ret, char *buf, u32 len)
{
	if (nr_cpus < 2)
		ksnprintf(buf, len, "one CPU online: no remote translation to check");
	else if (!c->canary)
		ksnprintf(buf, len, "no canary (canary=0)");
	else if (ret->probed && !ret->largest_shown)
		ksnprintf(buf, len, "the platform keeps no stale translation (the host syncs page-table writes)");
	else if (ret->probed && c->pages > ret->largest_shown)
		ksnprintf(buf, len, "range beyond the largest size shown (%lu pages)", ret->largest_shown);
	else if (!r->canary.opportunities)
		ksnprintf(buf, len, "the canary had no detection opportunity");
	else
		ksnprintf(buf, len, "the canary's missing flush was not seen");
}

/* The scenario's own negative control, if any: skip_flush, or kvm_forget_flag on kvm-flush. */
static void control_name(const struct scenario *c, char *buf, u32 len)
{
	if (c->skip != TLB_SKIP_NONE)
		ksnprintf(buf, len, "skip_flush=%s", tlb_skip_names[c->skip]);
	else if (kvm_forgets(c->backend))
		ksnprintf(buf, len, "kvm_forget_flag");
	else
		buf[0] = 0;
}

void detection_judge(const struct scenario *c, const struct stress_result *r,
		     const struct retention *ret, struct detection *d)
{
	char why[80], control[24];
	bool canary = c->canary && oracle_violations(&r->canary);

	*d = (struct detection){ 0 };
	control_name(c, control, sizeof(control));
	if (!control[0]) {
		/* A clean scenario: its canary is the evidence that a broken flush would show. */
		d->shown = canary;
		d->by = canary ? "canary" : NULL;
		if (!canary)
			canary_reason(c, r, ret, d->reason, sizeof(d->reason));
		return;
	}
	/* A negative control: only catching it shows that this control can be seen here. */
	d->shown = stress_violations(r) || r->timeouts;
	d->by = d->shown ? "control" : NULL;
	if (d->shown)
		return;
	if (c->skip == TLB_SKIP_NONE && !r->skipped)
		ksnprintf(why, sizeof(why), "no target was seen preempted, so no flush request was left out");
	else if (canary)
		ksnprintf(why, sizeof(why), "the platform flushed what it left out (the canary was caught)");
	else
		canary_reason(c, r, ret, why, sizeof(why));
	ksnprintf(d->reason, sizeof(d->reason), "%s was not caught: %s", control, why);
}

static void put_canary(struct jw *w, const struct scenario *c, const struct stress_result *r)
{
	if (!c->canary) {
		jw_null(w, "canary");
		return;
	}
	jw_obj_begin(w, "canary");
	jw_str(w, "control", tlb_skip_names[TLB_SKIP_REMOTE]);
	jw_u64(w, "iterations", c->canary);
	jw_u64(w, "changes", r->canary.changes);
	jw_u64(w, "checks", r->canary.checks);
	jw_u64(w, "opportunities", r->canary.opportunities);
	jw_u64(w, "violations", oracle_violations(&r->canary));
	jw_obj_end(w);
}

void detection_put(struct jw *w, const struct scenario *c, const struct stress_result *r,
		   const struct detection *d, const struct retention *ret)
{
	jw_obj_begin(w, "detection");
	jw_str(w, "status", d->shown ? "shown" : "not shown");
	if (d->shown) {
		jw_str(w, "by", d->by);
		jw_null(w, "reason");
	} else {
		jw_null(w, "by");
		jw_str(w, "reason", d->reason);
	}
	jw_u64(w, "retention_largest_shown", ret->largest_shown);
	put_canary(w, c, r);
	jw_obj_end(w);
}
