/* Liveness waits (kernel/time.h): a gap between two polls longer than LIVENESS_GAP_US, as when
 * the host does not run this vCPU, moves the deadline instead of expiring it; time this CPU
 * spends polling still runs out. The gap is made here by not polling (a busy delay between two
 * polls looks the same to the wait as a host stall). */
#include "kernel/selftest.h"
#include "kernel/time.h"
#include "kernel/x86.h"

#define WAIT_US 50000
#define STALL_US (4 * LIVENESS_GAP_US + WAIT_US) /* longer than the whole wait */

static void test_liveness_discounts_stalls(struct test_ctx *t)
{
	struct liveness l;
	u64 start, polls = 0;
	bool early;

	liveness_start(&l, WAIT_US);
	CHECK(t, !liveness_expired(&l), "a fresh wait has not expired");
	tsc_delay_us(liveness_us(STALL_US));   /* no poll: a stall */
	early = liveness_expired(&l);
	CHECK(t, !early, "a stall longer than the whole wait does not expire it");
	CHECK(t, tsc_to_ns(l.stalled) / 1000 >= liveness_us(STALL_US),
	      "the stall is counted (%lu us)", tsc_to_ns(l.stalled) / 1000);
	start = rdtsc();
	while (!liveness_expired(&l))
		polls++;
	/* The wait had all its time left when the stall began: polling must use most of it. */
	CHECK(t, tsc_to_ns(rdtsc() - start) / 1000 >= liveness_us(WAIT_US) * 9 / 10 && polls > 0,
	      "polling afterwards still runs the wait out (%lu polls)", polls);
}
SELFTEST(liveness_stalls, "a liveness wait does not count a stall of the waiting CPU", test_liveness_discounts_stalls);

static void test_liveness_expires(struct test_ctx *t)
{
	struct liveness l;
	u64 start = rdtsc();

	liveness_start(&l, WAIT_US);
	while (!liveness_expired(&l))
		cpu_relax();
	/* At least its time (more if the host stalled us meanwhile, which is discounted). */
	CHECK(t, tsc_to_ns(rdtsc() - start) / 1000 >= liveness_us(WAIT_US),
	      "a wait polled throughout expires after its time");
}
SELFTEST(liveness_expires, "a liveness wait polled throughout expires on time", test_liveness_expires);
