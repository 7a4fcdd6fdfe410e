/* The IPI round-trip floor: ping-pong between CPU 0 and each other CPU, and CPU 0 to all others
 * with acknowledgements. Targets wait as the scenarios' readers do (the first `targets` value):
 * halted, so each round trip includes a wake-up, or spinning with interrupts on. Context for the
 * shootdowns' ratios; each scenario's own floor is its null shootdowns (bench/change.c). */
#include "bench/ipibench.h"
#include "kernel/console.h"
#include "kernel/record.h"
#include "kernel/stats.h"
#include "kernel/time.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "smp/apic.h"
#include "smp/smp.h"

#define ANSWER_TIMEOUT_US 10000000 /* generous: 64 TCG vCPUs on 2 busy host cores */
#define MAX_ITERS 10000
/* Ping-pong round trips in all, shared among the targets (at least PINGPONG_MIN each): the
 * per-target table is context, and 200 round trips to each of 63 TCG vCPUs took minutes. The
 * broadcast, the figure records compare with, keeps every iteration asked for. */
#define PINGPONG_BUDGET 2000
#define PINGPONG_MIN 20

enum ping_mode { PING_PONG, PING_ACK, PING_STOP };

static struct {
	volatile int mode;
	volatile u32 initiator_apic_id;
	volatile u64 pong;
	volatile bool stop, halt;
} bench __attribute__((aligned(CACHE_LINE)));

static struct {
	volatile u64 seq;
} __attribute__((aligned(CACHE_LINE))) acks[MAX_CPUS];

static u64 samples[MAX_ITERS];
static struct summary floor_bcast; /* the last run's CPU 0 -> all round trip */
static struct summary per_target[MAX_CPUS];

static void ping_handler(struct trap_frame *f)
{
	(void)f;
	if (bench.mode == PING_PONG)
		apic_send_ipi(bench.initiator_apic_id, VEC_PONG);
	else if (bench.mode == PING_ACK)
		acks[smp_cpu()].seq++; /* PING_STOP: only a wake-up */
	apic_eoi();
}

static void pong_handler(struct trap_frame *f)
{
	(void)f;
	bench.pong++;
	apic_eoi();
}

/* A target's wait: spinning, or halted (STI's shadow makes "sti; hlt" atomic, so a ping that
 * comes after the test still wakes it). */
static void wait_until_stopped(void *arg)
{
	(void)arg;
	while (!bench.stop) {
		if (!bench.halt) {
			cpu_relax();
			continue;
		}
		cli();
		if (bench.stop)
			sti();
		else
			__asm__ volatile("sti; hlt" ::: "memory");
	}
}

/* End the targets' wait (halted ones need a ping to look again). */
static void stop_targets(const struct cpumask *others)
{
	bench.stop = true;
	if (bench.halt) {
		bench.mode = PING_STOP;
		smp_send_ipi_mask(others, VEC_PING);
	}
}

static bool wait_for(volatile u64 *p, u64 value)
{
	struct liveness l;

	liveness_start(&l, ANSWER_TIMEOUT_US);
	while (*p != value)
		if (liveness_expired(&l))
			return false;
	return true;
}

static int ping_pong(u32 cpu, u32 iters, struct summary *s)
{
	for (u32 i = 0; i < iters; i++) {
		u64 expect = bench.pong + 1, t0 = rdtsc_ordered();

		apic_send_ipi(cpu_to_apic_id(cpu), VEC_PING);
		if (!wait_for(&bench.pong, expect)) {
			kprintf("ipi: cpu %u (APIC ID %u) did not answer a ping\n", cpu, cpu_to_apic_id(cpu));
			return -1;
		}
		samples[i] = rdtsc_ordered() - t0;
	}
	stats_summarize(samples, iters, s);
	return 0;
}

static int broadcast(u32 iters, struct summary *s)
{
	for (u32 i = 0; i < iters; i++) {
		u64 t0 = rdtsc_ordered();

		for (u32 cpu = 1; cpu < nr_cpus; cpu++)
			apic_send_ipi(cpu_to_apic_id(cpu), VEC_PING);
		for (u32 cpu = 1; cpu < nr_cpus; cpu++) {
			if (!wait_for(&acks[cpu].seq, i + 1)) {
				kprintf("ipi: cpu %u (APIC ID %u) did not acknowledge\n", cpu, cpu_to_apic_id(cpu));
				return -1;
			}
		}
		samples[i] = rdtsc_ordered() - t0;
	}
	stats_summarize(samples, iters, s);
	return 0;
}

static void put_summary(struct jw *w, const struct summary *s)
{
	jw_u64(w, "p50_cycles", s->p50);
	jw_u64(w, "p99_cycles", s->p99);
	jw_u64(w, "max_cycles", s->max);
	jw_u64(w, "p50_ns", tsc_to_ns(s->p50));
	jw_u64(w, "p99_ns", tsc_to_ns(s->p99));
	jw_u64(w, "max_ns", tsc_to_ns(s->max));
}

static void report(u32 iters, u32 pp_iters, const struct summary *bcast)
{
	static char buf[RECORD_MAX * 4]; /* boot CPU only; too big for its stack */
	struct jw w;

	kprintf("ipi: round trip from cpu 0, %u iterations per target, %u to all (cycles / ns)\n", pp_iters,
		iters);
	kprintf("  %-14s %10s %10s %10s %10s %10s\n", "target", "p50", "p99", "max", "p50 ns", "p99 ns");
	for (u32 cpu = 1; cpu < nr_cpus; cpu++)
		kprintf("  cpu %-3u id %-4u %10lu %10lu %10lu %10lu %10lu\n", cpu, cpu_to_apic_id(cpu),
			per_target[cpu].p50, per_target[cpu].p99, per_target[cpu].max,
			tsc_to_ns(per_target[cpu].p50), tsc_to_ns(per_target[cpu].p99));
	kprintf("  %-14s %10lu %10lu %10lu %10lu %10lu\n", "all (acked)", bcast->p50, bcast->p99,
		bcast->max, tsc_to_ns(bcast->p50), tsc_to_ns(bcast->p99));

	record_begin(&w, buf, sizeof(buf), "ipi_floor");
	jw_u64(&w, "iterations", iters);
	jw_u64(&w, "pingpong_iterations", pp_iters);
	jw_str(&w, "targets", bench.halt ? "halt" : "spin");
	jw_u64(&w, "cpus", nr_cpus);
	jw_u64(&w, "tsc_khz", tsc_khz());
	jw_arr_begin(&w, "pingpong");
	for (u32 cpu = 1; cpu < nr_cpus; cpu++) {
		jw_obj_begin(&w, NULL);
		jw_u64(&w, "cpu", cpu);
		jw_u64(&w, "apic_id", cpu_to_apic_id(cpu));
		put_summary(&w, &per_target[cpu]);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_begin(&w, "broadcast");
	put_summary(&w, bcast);
	jw_obj_end(&w);
	record_end(&w);
}

int ipi_floor_run(u64 round_trips, bool halt)
{
	struct cpumask others = cpu_online_mask;
	struct summary bcast = { 0 };
	u32 iters = MIN(round_trips, MAX_ITERS), pp_iters;
	int ret = 0;

	if (nr_cpus < 2) {
		kprintf("ipi: one CPU online; no round trips to measure\n");
		return 0;
	}
	trap_set_handler(VEC_PING, ping_handler);
	trap_set_handler(VEC_PONG, pong_handler);
	bench.initiator_apic_id = cpu_to_apic_id(0);
	bench.stop = false;
	bench.halt = halt;
	cpumask_clear(&others, 0);
	if (smp_call_start(&others, wait_until_stopped, NULL))
		return -1;
	bench.mode = PING_PONG;
	pp_iters = MIN(iters, MAX(PINGPONG_MIN, PINGPONG_BUDGET / (nr_cpus - 1)));
	for (u32 cpu = 1; cpu < nr_cpus && !ret; cpu++)
		ret = ping_pong(cpu, pp_iters, &per_target[cpu]);
	for (u32 cpu = 1; cpu < nr_cpus; cpu++)
		acks[cpu].seq = 0;
	bench.mode = PING_ACK;
	if (!ret)
		ret = broadcast(iters, &bcast);
	stop_targets(&others);
	if (smp_call_wait(ANSWER_TIMEOUT_US, NULL))
		ret = -1;
	if (!ret) {
		report(iters, pp_iters, &bcast);
		floor_bcast = bcast;
	}
	return ret;
}

u64 ipi_floor_p50_cycles(void)
{
	return floor_bcast.p50;
}
