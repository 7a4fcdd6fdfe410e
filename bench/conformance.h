/* mode=conformance (bench/conformance.c): the Hyper-V flush and IPI hypercalls held to the TLFS
 * case by case, one "conformance" record per check (docs/records.md, docs/conformance.md). */
#ifndef BENCH_CONFORMANCE_H
#define BENCH_CONFORMANCE_H

#include "kernel/types.h"

enum conf_outcome { CONF_CONFORMS, CONF_DEVIATES, CONF_UNSUPPORTED };

/* `want` for inputs the TLFS rules out without naming the status it returns (IPI vectors outside
 * 0x10-0xff, NON_GLOBAL_MAPPINGS_ONLY on the List call, a VP beyond the partition): any error
 * status conforms, success deviates. */
#define CONF_ANY_ERROR 0xffffu
#define CONF_ANY_ERROR_EXP "refused with an error status (the TLFS names none)"
bool conf_status_ok(u16 status, u16 want);

struct conf_result {
	const char *check, *form;
	enum conf_outcome outcome;
	const char *expected;
	char observed[96], detail[160];
	const char *detection; /* "shown", "not shown" or "n/a" */
};

/* Report one finished check: its record and its line of the console table. */
void conf_report(struct conf_result *r);
/* One call of a status check: conforms when the status is `want`, else deviates. */
void conf_status(const char *check, const char *form, u64 result, u16 want, const char *expected,
		 const char *detail);
void conf_unsupported(const char *check, const char *form, const char *why);
/* The cases of bench/conformance_cases.c, run in order. */
void conf_cases_run(void);
/* Selective against full flushing (bench/conformance.c). */
void conf_selective_run(void);
int conformance_run(void); /* the verdict */

#endif
