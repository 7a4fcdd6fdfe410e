/* The TSC frequency's source and its cross-check (kernel/clocksel.h). */
#include "kernel/clocksel.h"
#include "kernel/math.h"

const char *const clock_source_names[CLOCK_NSOURCES] = {
	[CLOCK_HYPERV_MSR] = "hyperv-msr", [CLOCK_TIMING_LEAF] = "cpuid-0x40000010",
	[CLOCK_CPUID_15] = "cpuid-0x15",   [CLOCK_PIT] = "pit",
	[CLOCK_PM_TIMER] = "acpi-pm-timer", [CLOCK_CPUID_16] = "cpuid-0x16",
};

static bool measured(int s)
{
	return s == CLOCK_PIT || s == CLOCK_PM_TIMER;
}

void clock_choose(const u64 *khz, struct clock_choice *c)
{
	*c = (struct clock_choice){ .khz = CLOCK_GUESS_KHZ, .source = -1, .check = -1,
				    .wait_khz = CLOCK_WAIT_FLOOR_KHZ };
	for (int s = 0; s < CLOCK_NSOURCES; s++) {
		if (khz[s] && c->source < 0) {
			c->source = s;
			c->khz = khz[s];
		}
		c->wait_khz = MAX(c->wait_khz, khz[s]);
	}
	for (int s = 0; s < CLOCK_NSOURCES; s++) {
		if (measured(s) && khz[s] && s != c->source) {
			u64 diff = c->khz > khz[s] ? c->khz - khz[s] : khz[s] - c->khz;

			c->check = s;
			c->check_khz = khz[s];
			c->disagreement_ppm = mul_div_u64(diff, 1000000, khz[s]);
			c->disagrees = c->disagreement_ppm > CLOCK_DISAGREE_PPM;
			break;
		}
	}
}
