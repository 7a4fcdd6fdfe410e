/* Whether a scenario showed that it could have seen a broken flush (bench/detection.c,
 * docs/records.md "Detection"): its own negative control caught, or its canary caught; otherwise
 * not shown, with the most precise reason known. */
#ifndef BENCH_DETECTION_H
#define BENCH_DETECTION_H

#include "kernel/json.h"
#include "bench/retention.h"
#include "bench/stress.h"

struct detection {
	bool shown;
	const char *by;  /* shown: "canary" or "control" (the scenario's own negative control) */
	char reason[160]; /* not shown: why */
};

void detection_judge(const struct scenario *c, const struct stress_result *r,
		     const struct retention *ret, struct detection *d);
/* The record's "detection" object. */
void detection_put(struct jw *w, const struct scenario *c, const struct stress_result *r,
		   const struct detection *d, const struct retention *ret);

#endif
