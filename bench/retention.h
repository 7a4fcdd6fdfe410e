/* How many stale translations this platform keeps (bench/retention.c): the ceiling of what any
 * negative control can show here. A page is "retained" when, after its entry was pointed at
 * another frame with no flush, a read still reaches the old frame. Under TCG and in the Hyper-V
 * lab the TLB keeps them; a host that shadows guest page tables (this build machine's KVM)
 * applies every PTE write at once and keeps none. */
#ifndef BENCH_RETENTION_H
#define BENCH_RETENTION_H

#include "kernel/types.h"

#define RETENTION_MAX_SIZES 32

struct retention {
	u32 cpu;          /* where it was measured */
	u32 nsizes;
	struct {
		u64 pages, retained;
	} size[RETENTION_MAX_SIZES]; /* ascending */
	u64 largest_shown; /* largest size of which every page was retained; 0: none */
	bool probed;
	const char *error; /* why it could not be measured (then largest_shown is 0) */
};

/* Measure on this CPU for powers of two up to max_pages and for each of sizes[0..n). */
void retention_probe(const u64 *sizes, u32 n, u64 max_pages, struct retention *r);
void retention_record(const struct retention *r);

#endif
