/* The clock every measurement is read from: the TSC, its frequency from the best source the
 * platform offers, and whether it can be trusted across CPUs. */
#ifndef KERNEL_TIME_H
#define KERNEL_TIME_H

#include "kernel/types.h"

struct tsc_info {
	u64 khz;            /* TSC frequency */
	const char *source; /* where khz came from */
	bool invariant;     /* CPUID.80000007H:EDX[8] */
	u64 pit_khz;        /* the PIT calibration, where a PIT answered, else 0 */
	u64 pm_timer_khz;   /* the ACPI PM timer calibration, where the FADT names one, else 0 */
	const char *check_source; /* the measured source khz was checked against (NULL: none) */
	u64 check_khz, disagreement_ppm;
	bool disagrees;     /* more than 1% apart: printed, and in the tsc record */
	bool measured;      /* false: no source at all, 1 GHz guessed (the run is an error) */
};

void time_init(void); /* find the TSC frequency; prints one line */
const struct tsc_info *tsc_info(void);
u64 tsc_khz(void);
u64 tsc_to_ns(u64 cycles);
u64 ns_to_tsc(u64 ns);
void tsc_delay_us(u64 us);
/* For waits a wrong calibration must not shorten (AP start-up, its SDM delays): computed with
 * the highest frequency any source gave and at least 6 GHz, so never early, at worst long. */
void tsc_delay_at_least_us(u64 us);
u64 deadline_after_at_least_us(u64 us);

/* A deadline in TSC cycles: `deadline_after_us(us)`, then `deadline_passed(d)`. */
static inline u64 rdtsc_ordered(void)
{
	u32 lo, hi;

	/* LFENCE keeps the read from being hoisted above earlier loads (SDM 2B RDTSC). */
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((u64)hi << 32) | lo;
}
u64 deadline_after_us(u64 us);
/* Liveness bounds (how long a CPU may take to answer, reach a barrier or show progress) are
 * nominal and multiplied by the host's slowness (`slow=`, set by the harness from a measurement
 * of the host): a busy or overcommitted host waits longer for a CPU that is only slow, and still
 * reports one that is stuck. Measurement windows and calibrations are never scaled. */
void time_set_slowness(u32 factor);
u32 time_slowness(void);
u64 liveness_us(u64 us);

/* A liveness wait whose clock does not run while this CPU itself is not running: a gap of more
 * than LIVENESS_GAP_US between two polls means the host did not run this vCPU (or the whole
 * VM) meanwhile, and it moves the deadline by the gap. So a host that stalls the guest for
 * seconds (seen on these shared machines) does not make a waiting CPU blame another; one that
 * is stuck while the waiter runs is still reported after the timeout of the waiter's own time.
 * Poll with liveness_expired(); `stalled` sums the gaps (for the report). */
#define LIVENESS_GAP_US 20000
struct liveness {
	u64 deadline, last, stalled;
};
void liveness_start(struct liveness *l, u64 us); /* us: nominal, x the slowness */
void liveness_start_at(struct liveness *l, u64 deadline_tsc); /* a deadline already in TSC */
bool liveness_expired(struct liveness *l);
bool deadline_passed(u64 deadline);

#endif
