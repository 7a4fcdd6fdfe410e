/* Machine-readable records: one JSON object per line on the serial port, after the marker
 * "TLBSTORM ", so a harness can pick them out of everything else. Schema: docs/records.md. */
#ifndef KERNEL_RECORD_H
#define KERNEL_RECORD_H

#include "kernel/json.h"

#define RECORD_MARKER "TLBSTORM "
#define RECORD_MAX 4096
/* A case line: "TLBSTORM-CASE <id> <result> <measurement> <units>", one per scenario, self-test
 * and conformance check, for LAVA's monitors pattern (docs/records.md, "Case lines"). */
#define CASE_MARKER "TLBSTORM-CASE "
#define CASE_ID_MAX 96

/* Start a record of the given kind in buf: {"record":"<kind>", ... */
void record_begin(struct jw *w, char *buf, size_t len, const char *kind);
/* Close it and print it; an overflowing record is replaced by an error record, never lost silently. */
void record_end(struct jw *w);
/* Print a case line. The id is written lower-case, each run of characters outside [a-z0-9._-]
 * as one '-', no '-' at its end; result is pass, fail, skip or unknown. */
void record_case(const char *id, const char *result, u64 measurement, const char *units);

#endif
