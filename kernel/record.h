/* Machine-readable records: one JSON object per line on the serial port, after the marker
 * "TLBSTORM ", so a harness can pick them out of everything else. Schema: docs/records.md. */
#ifndef KERNEL_RECORD_H
#define KERNEL_RECORD_H

#include "kernel/json.h"

#define RECORD_MARKER "TLBSTORM "
#define RECORD_MAX 4096

/* Start a record of the given kind in buf: {"record":"<kind>", ... */
void record_begin(struct jw *w, char *buf, size_t len, const char *kind);
/* Close it and print it; an overflowing record is replaced by an error record, never lost silently. */
void record_end(struct jw *w);

#endif
