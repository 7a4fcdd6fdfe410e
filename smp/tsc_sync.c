/* Cross-CPU TSC offsets: CPU 0 asks each other CPU for its TSC and brackets the answer with its
 * own reads; the offset estimate is the AP's value minus the midpoint, from the exchange with the
 * shortest round trip (its half is the uncertainty). Measurements later read only the initiating
 * CPU's TSC, so this is reported, not corrected. */
#include "smp/tsc_sync.h"
#include "kernel/console.h"
#include "kernel/record.h"
#include "kernel/time.h"
#include "kernel/x86.h"
#include "smp/smp.h"

#define ROUNDS 64
#define ANSWER_TIMEOUT_US 1000000

static struct {
	volatile u64 request; /* round number CPU 0 asks for */
	volatile u64 answer;  /* round number answered */
	volatile u64 tsc;     /* the AP's TSC at its answer */
} xchg __attribute__((aligned(CACHE_LINE)));

static s64 offsets[MAX_CPUS];
static u64 uncertainty[MAX_CPUS];

static void answer_rounds(void *arg)
{
	(void)arg;
	for (u64 round = 1; round <= ROUNDS; round++) {
		struct liveness l;

		liveness_start(&l, ANSWER_TIMEOUT_US);
		while (xchg.request != round)
			if (liveness_expired(&l))
				return;
		xchg.tsc = rdtsc_ordered();
		__atomic_store_n(&xchg.answer, round, __ATOMIC_RELEASE); /* pairs with measure_cpu() */
	}
}

static int measure_cpu(u32 cpu)
{
	struct cpumask target;
	u64 best_rtt = ~0ull;

	cpumask_clear_all(&target);
	cpumask_set(&target, cpu);
	xchg.request = xchg.answer = 0;
	if (smp_call_start(&target, answer_rounds, NULL))
		return -1;
	for (u64 round = 1; round <= ROUNDS; round++) {
		u64 t0 = rdtsc_ordered(), t1;
		struct liveness l;

		liveness_start(&l, ANSWER_TIMEOUT_US);
		xchg.request = round;
		while (__atomic_load_n(&xchg.answer, __ATOMIC_ACQUIRE) != round) {
			if (liveness_expired(&l)) {
				smp_call_wait(0, NULL); /* withdraw the request */
				return -1;
			}
		}
		t1 = rdtsc_ordered();
		if (t1 - t0 < best_rtt) {
			best_rtt = t1 - t0;
			offsets[cpu] = (s64)(xchg.tsc - (t0 + (t1 - t0) / 2));
			uncertainty[cpu] = best_rtt / 2;
		}
	}
	return smp_call_wait(ANSWER_TIMEOUT_US, NULL);
}

s64 tsc_offset(u32 cpu)
{
	return cpu < MAX_CPUS ? offsets[cpu] : 0;
}

u64 tsc_offset_uncertainty(u32 cpu)
{
	return cpu < MAX_CPUS ? uncertainty[cpu] : ~0ull;
}

void tsc_sync_report(void)
{
	const struct tsc_info *ti = tsc_info();
	static char buf[RECORD_MAX * 2]; /* boot CPU only; too big for its stack */
	s64 worst = 0;
	struct jw w;

	for (u32 cpu = 1; cpu < nr_cpus; cpu++) {
		if (measure_cpu(cpu)) {
			kprintf("time: cpu %u did not answer the TSC exchange\n", cpu);
			offsets[cpu] = 0;
			uncertainty[cpu] = ~0ull;
			continue;
		}
		if ((offsets[cpu] < 0 ? -offsets[cpu] : offsets[cpu]) > (worst < 0 ? -worst : worst))
			worst = offsets[cpu];
	}
	kprintf("time: largest TSC offset from cpu 0: %ld cycles (%ld ns) across %u CPUs\n", worst,
		worst < 0 ? -(s64)tsc_to_ns(-worst) : (s64)tsc_to_ns(worst), nr_cpus);
	record_begin(&w, buf, sizeof(buf), "tsc");
	jw_u64(&w, "khz", ti->khz);
	jw_str(&w, "source", ti->source);
	jw_u64(&w, "pit_khz", ti->pit_khz);
	jw_u64(&w, "pm_timer_khz", ti->pm_timer_khz);
	if (ti->check_source) {
		jw_obj_begin(&w, "cross_check");
		jw_str(&w, "source", ti->check_source);
		jw_u64(&w, "khz", ti->check_khz);
		jw_u64(&w, "disagreement_ppm", ti->disagreement_ppm);
		jw_bool(&w, "disagrees", ti->disagrees);
		jw_obj_end(&w);
	} else {
		jw_null(&w, "cross_check");
	}
	jw_bool(&w, "invariant", ti->invariant);
	jw_s64(&w, "max_offset_cycles", worst);
	jw_arr_begin(&w, "offsets");
	for (u32 cpu = 1; cpu < nr_cpus; cpu++) {
		jw_obj_begin(&w, NULL);
		jw_u64(&w, "cpu", cpu);
		jw_s64(&w, "offset_cycles", offsets[cpu]);
		jw_u64(&w, "uncertainty_cycles", uncertainty[cpu]);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	record_end(&w);
}
