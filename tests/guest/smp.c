/* SMP: every CPU is online under its own identity, cross-CPU calls reach all CPUs and time out
 * cleanly on one that does not answer, two CPUs calling each other do not deadlock, IPIs flow
 * between every pair of CPUs, and the APIC timer fires. */
#include "kernel/errno.h"
#include "kernel/selftest.h"
#include "kernel/time.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "smp/apic.h"
#include "smp/smp.h"

#define CALL_TIMEOUT_US 5000000
#define DEAF_TIMEOUT_US 50000

static struct {
	u32 cpu, apic_id;
	bool gs_ok;
} seen[MAX_CPUS];

static void who_am_i(void *arg)
{
	struct percpu *p = this_cpu();

	(void)arg;
	seen[p->cpu] = (typeof(seen[0])){ p->cpu, apic_read_id(), p->self == p && p == percpu_of(p->cpu) };
}

static void test_identities(struct test_ctx *t)
{
	u32 bad = 0;

	CHECK(t, smp_call(&cpu_online_mask, who_am_i, NULL, CALL_TIMEOUT_US, NULL) == 0,
	      "a call reaches all %u CPUs", nr_cpus);
	for (u32 cpu = 0; cpu < nr_cpus; cpu++) {
		u32 id = cpu_to_apic_id(cpu);

		if (seen[cpu].cpu != cpu || seen[cpu].apic_id != id || !seen[cpu].gs_ok ||
		    apic_id_to_cpu(id) != cpu)
			bad++;
		for (u32 other = 0; other < cpu; other++)
			if (cpu_to_apic_id(other) == id)
				bad++;
	}
	CHECK(t, bad == 0, "each CPU runs as itself: index, APIC ID and this_cpu() agree (%u bad)", bad);
	CHECK(t, cpu_to_apic_id(nr_cpus) == INVALID_APIC_ID && apic_id_to_cpu(0xfffffff0u) == INVALID_CPU,
	      "conversions of unknown identities give the invalid value");
}
SELFTEST(smp_identities, "CPU index, APIC ID and per-CPU area agree on every CPU", test_identities);

static u32 calls_ran;

static void count_call(void *arg)
{
	(void)arg;
	__atomic_fetch_add(&calls_ran, 1, __ATOMIC_RELAXED);
}

/* CPU 1 calls CPU 0 back from inside CPU 0's call to it: both wait at once. */
static void call_back(void *arg)
{
	struct cpumask boot;
	int *ret = arg;

	cpumask_clear_all(&boot);
	cpumask_set(&boot, 0);
	*ret = smp_call(&boot, count_call, NULL, CALL_TIMEOUT_US, NULL);
}

static void test_calls(struct test_ctx *t)
{
	struct cpumask one;
	int inner = -1;

	if (nr_cpus < 2) {
		selftest_skip(t, "needs 2 CPUs, %u online", nr_cpus);
		return;
	}
	calls_ran = 0;
	for (int round = 0; round < 10; round++)
		smp_call(&cpu_online_mask, count_call, NULL, CALL_TIMEOUT_US, NULL);
	CHECK(t, calls_ran == 10 * nr_cpus, "10 calls to all CPUs ran %u times (expected %u)", calls_ran,
	      10 * nr_cpus);
	cpumask_clear_all(&one);
	cpumask_set(&one, 1);
	calls_ran = 0;
	CHECK(t, smp_call(&one, call_back, &inner, CALL_TIMEOUT_US, NULL) == 0 && inner == 0 && calls_ran == 1,
	      "cpu 0 -> cpu 1 -> cpu 0 nested call completes (no deadlock)");
}
SELFTEST(smp_calls, "cross-CPU calls reach everyone, also when two CPUs call each other", test_calls);

static void go_deaf(void *arg)
{
	(void)arg;
	__atomic_store_n(&this_cpu()->call_deaf, true, __ATOMIC_RELEASE);
}

static void test_call_timeout(struct test_ctx *t)
{
	struct cpumask target, late;
	u32 victim = nr_cpus - 1;
	int ret;

	if (nr_cpus < 2) {
		selftest_skip(t, "needs 2 CPUs, %u online", nr_cpus);
		return;
	}
	cpumask_clear_all(&target);
	cpumask_set(&target, victim);
	smp_call(&target, go_deaf, NULL, CALL_TIMEOUT_US, NULL);
	ret = smp_call(&target, count_call, NULL, DEAF_TIMEOUT_US, &late);
	CHECK(t, ret == -ETIMEDOUT, "a call to deaf cpu %u times out (returned %d)", victim, ret);
	CHECK(t, cpumask_weight(&late) == 1 && cpumask_test(&late, victim),
	      "the timeout names exactly cpu %u", victim);
	/* Hear again, and prove it with a call that must now succeed. */
	__atomic_store_n(&percpu_of(victim)->call_deaf, false, __ATOMIC_RELEASE);
	apic_send_ipi(cpu_to_apic_id(victim), VEC_CALL);
	CHECK(t, smp_call(&target, count_call, NULL, CALL_TIMEOUT_US, NULL) == 0,
	      "cpu %u answers again once the hook is off", victim);
}
SELFTEST(smp_call_timeout, "a call to a CPU that never answers times out and names it", test_call_timeout);

/* All pairs: every CPU pings every other CPU; pings carry no payload, so the target learns who
 * asked from its per-CPU inbox of requesters. */
static struct {
	struct cpumask from;
	volatile u64 pongs;
} pairs[MAX_CPUS] __attribute__((aligned(CACHE_LINE)));
static volatile bool pairs_go;
static u32 pair_failures;


static void pair_ping(struct trap_frame *f)
{
	u32 me = smp_cpu();

	(void)f;
	for_each_cpu(from, &pairs[me].from)
		if (cpumask_test_and_clear_atomic(&pairs[me].from, from))
			apic_send_ipi(cpu_to_apic_id(from), VEC_TEST_PONG);
	apic_eoi();
}

static void pair_pong(struct trap_frame *f)
{
	(void)f;
	pairs[smp_cpu()].pongs++;
	apic_eoi();
}

/* Wait for *p == want by halting between interrupts (with the APIC timer as a backstop), not
 * by spinning: with many more vCPUs than host CPUs a spinning waiter steals the time the CPU it
 * waits for needs to answer. */
static bool wait_halting(volatile u64 *p, u64 want, u64 deadline)
{
	u64 nap = apic_timer_ticks_per_ms() * 10;

	while (*p != want) {
		if (deadline_passed(deadline))
			return false;
		cli();
		if (*p != want) {
			if (nap)
				apic_timer_oneshot(nap, VEC_TIMER);
			__asm__ volatile("sti; hlt" ::: "memory");
		}
		sti();
	}
	return true;
}

static void ping_everyone(void *arg)
{
	u32 me = smp_cpu();

	(void)arg;
	while (!pairs_go)
		cpu_relax();
	for (u32 k = 1; k < nr_cpus; k++) {
		u32 to = (me + k) % nr_cpus;
		u64 want = pairs[me].pongs + 1, deadline = deadline_after_us(liveness_us(CALL_TIMEOUT_US));

		cpumask_set_atomic(&pairs[to].from, me);
		apic_send_ipi(cpu_to_apic_id(to), VEC_TEST_PING);
		if (!wait_halting(&pairs[me].pongs, want, deadline)) {
			__atomic_fetch_add(&pair_failures, 1, __ATOMIC_RELAXED);
			return;
		}
	}
}

static void test_all_pairs(struct test_ctx *t)
{
	if (nr_cpus < 2) {
		selftest_skip(t, "needs 2 CPUs, %u online", nr_cpus);
		return;
	}
	trap_set_handler(VEC_TEST_PING, pair_ping);
	trap_set_handler(VEC_TEST_PONG, pair_pong);
	pairs_go = false;
	pair_failures = 0;
	if (smp_call_start(&cpu_online_mask, ping_everyone, NULL)) {
		selftest_error(t, "could not start the calls");
		return;
	}
	pairs_go = true;
	ping_everyone(NULL);
	CHECK(t, smp_call_wait(CALL_TIMEOUT_US * nr_cpus, NULL) == 0, "every CPU finished its pings");
	CHECK(t, pair_failures == 0, "all %u ordered pairs exchanged ping and pong (%u missing)",
	      nr_cpus * (nr_cpus - 1), pair_failures);
}
SELFTEST(smp_ipi_pairs, "IPI ping-pong between every ordered pair of CPUs", test_all_pairs);

static void test_apic_timer(struct test_ctx *t)
{
	u64 per_ms = apic_timer_ticks_per_ms(), before = this_cpu()->timer_ticks, start, deadline;

	CHECK(t, per_ms > 0, "APIC timer calibrated: %lu ticks/ms (divide by 16)", per_ms);
	if (!per_ms)
		return;
	start = rdtsc_ordered();
	deadline = deadline_after_us(2000000);
	apic_timer_oneshot(2 * per_ms, VEC_TIMER);
	while (this_cpu()->timer_ticks == before && !deadline_passed(deadline))
		cpu_relax();
	CHECK(t, this_cpu()->timer_ticks == before + 1, "a 2 ms one-shot fired once");
	/* Not a timing assertion: only that it did not fire absurdly early. */
	CHECK(t, tsc_to_ns(rdtsc_ordered() - start) >= 1000000, "and not before 1 ms had passed");
	apic_timer_stop();
}
SELFTEST(apic_timer, "the APIC timer is calibrated from the TSC and fires", test_apic_timer);
