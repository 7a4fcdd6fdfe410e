/* Choosing the TSC frequency from the sources a platform offers, and checking it against a
 * second one (pure: kernel/clocksel.c, unit-tested on the host; kernel/time.c reads the sources). */
#ifndef KERNEL_CLOCKSEL_H
#define KERNEL_CLOCKSEL_H

#include "kernel/types.h"

/* Each source's TSC frequency in kHz, 0 where it is absent or failed. Reported ones first (the
 * platform states the frequency), then measured ones (the TSC counted against a timer), then
 * the nominal processor frequency; the first nonzero in this order is used. */
enum clock_source {
	CLOCK_HYPERV_MSR,   /* HV_X64_MSR_TSC_FREQUENCY */
	CLOCK_TIMING_LEAF,  /* CPUID 0x40000010 EAX */
	CLOCK_CPUID_15,     /* CPUID 0x15 crystal ratio */
	CLOCK_PIT,          /* calibrated against PIT channel 2 (only where a PIT answers) */
	CLOCK_PM_TIMER,     /* calibrated against the ACPI PM timer */
	CLOCK_CPUID_16,     /* CPUID 0x16 base frequency: nominal */
	CLOCK_NSOURCES
};
extern const char *const clock_source_names[CLOCK_NSOURCES];

#define CLOCK_DISAGREE_PPM 10000       /* a cross-check more than 1% off is reported */
#define CLOCK_WAIT_FLOOR_KHZ 6000000ull /* waits assume at least this: no TSC runs faster */
#define CLOCK_GUESS_KHZ 1000000ull

struct clock_choice {
	u64 khz;                  /* the frequency used (CLOCK_GUESS_KHZ when nothing offered one) */
	int source;               /* enum clock_source, or -1: guessed */
	int check;                /* the measured source it was checked against, -1: none */
	u64 check_khz;
	u64 disagreement_ppm;     /* |khz - check_khz| / check_khz, in parts per million */
	bool disagrees;           /* above CLOCK_DISAGREE_PPM */
	/* For waits a wrong clock must not shorten (AP start-up): the highest frequency any source
	 * gave, and at least CLOCK_WAIT_FLOOR_KHZ, so a deadline computed with it is never early. */
	u64 wait_khz;
};

/* khz[CLOCK_NSOURCES] in; the choice out. The cross-check is the first measured source (PIT,
 * then PM timer) other than the one used. */
void clock_choose(const u64 *khz, struct clock_choice *c);

#endif
