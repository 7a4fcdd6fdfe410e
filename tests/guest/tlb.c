/* The shootdown engine end to end on two CPUs: a remote CPU that holds a translation sees the
 * change after tlb_shootdown() returns, and the watchdog fires, names the CPU and fails the
 * shootdown when a target never acknowledges. */
#include "kernel/errno.h"
#include "kernel/selftest.h"
#include "kernel/time.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "mm/aspace.h"
#include "mm/frame.h"
#include "mm/mm.h"
#include "mm/tlb.h"
#include "smp/smp.h"
#include "tests/guest/guest.h"

#define TEST_VA 0x0000004000000000ull
#define HOLD_TIMEOUT_US 5000000

static struct {
	struct aspace as;
	volatile bool release, loaded;
	volatile u64 seen;
} h;

/* On the victim: load the address space, keep its translation hot, report what it reads. */
static void hold(void *arg)
{
	u64 deadline = deadline_after_us(liveness_us(HOLD_TIMEOUT_US)), v;

	(void)arg;
	cli();
	aspace_switch(&h.as);
	sti();
	h.loaded = true;
	while (!h.release && !deadline_passed(deadline)) {
		if (!read_safe((void *)TEST_VA, &v))
			h.seen = v;
		cpu_relax();
	}
	cli();
	aspace_switch(NULL);
	sti();
}

static bool start_victim(struct test_ctx *t, u32 victim, paddr_t frame)
{
	struct cpumask m;
	u64 deadline = deadline_after_us(liveness_us(HOLD_TIMEOUT_US));

	h.release = h.loaded = false;
	h.seen = 0;
	if (aspace_create(&h.as) || aspace_map(&h.as, TEST_VA, frame, PAGE_SIZE, PTE_NX)) {
		selftest_error(t, "out of memory");
		return false;
	}
	cpumask_clear_all(&m);
	cpumask_set(&m, victim);
	smp_call_start(&m, hold, NULL);
	while (!h.loaded && !deadline_passed(deadline))
		cpu_relax();
	return CHECK(t, h.loaded && cpumask_test(&h.as.active, victim), "cpu %u has the address space loaded", victim);
}

static void stop_victim(void)
{
	h.release = true;
	smp_call_wait(HOLD_TIMEOUT_US, NULL);
	aspace_destroy(&h.as);
}

static void test_remote_sees_change(struct test_ctx *t)
{
	struct tlb_range r = { TEST_VA, 1 };
	struct tlb_request rq = { .as = &h.as, .ranges = &r, .nranges = 1 };
	struct tlb_sample s;
	paddr_t f1 = guest_tagged_frame(1), f2 = guest_tagged_frame(2);
	u32 victim = nr_cpus - 1;
	u64 deadline;

	if (nr_cpus < 2) {
		selftest_skip(t, "needs 2 CPUs, %u online", nr_cpus);
		return;
	}
	if (!start_victim(t, victim, f1))
		goto out;
	deadline = deadline_after_us(liveness_us(HOLD_TIMEOUT_US));
	while (h.seen != 1 && !deadline_passed(deadline))
		cpu_relax();
	CHECK(t, h.seen == 1, "cpu %u reads the first frame", victim);
	aspace_replace(&h.as, TEST_VA, PAGE_SIZE, f2, &rq.gen);
	CHECK(t, tlb_shootdown(&rq, &s, NULL, NULL) == 0 && s.targets == 1,
	      "a shootdown through %s reaches the one target", tlb_active()->name);
	h.seen = 0;
	deadline = deadline_after_us(liveness_us(HOLD_TIMEOUT_US));
	while (h.seen == 0 && !deadline_passed(deadline))
		cpu_relax();
	CHECK(t, h.seen == 2, "after it returns, cpu %u reads the new frame (saw %lu)", victim, h.seen);
out:
	stop_victim();
	guest_free_frames((paddr_t[]){ f1, f2 }, 2);
}
SELFTEST(tlb_remote, "a shootdown makes a remote CPU drop its translation", test_remote_sees_change);

static void test_watchdog(struct test_ctx *t)
{
	struct tlb_range r = { TEST_VA, 1 };
	struct tlb_request rq = { .as = &h.as, .ranges = &r, .nranges = 1 };
	struct tlb_sample s;
	paddr_t f1 = guest_tagged_frame(1), f2 = guest_tagged_frame(2);
	u32 victim = nr_cpus - 1;
	u64 timeouts = tlb_stats.watchdog_timeouts, saved = tlb_settings.ack_timeout_us;
	struct tlb_backend *was = tlb_active();
	int ret;

	if (nr_cpus < 2) {
		selftest_skip(t, "needs 2 CPUs, %u online", nr_cpus);
		return;
	}
	if (!start_victim(t, victim, f1))
		goto out;
	/* The IPI backend waits for acknowledgements; a hypercall backend has none to miss. */
	if (tlb_use(&tlb_backend_ipi)) {
		selftest_error(t, "the IPI backend cannot be used");
		goto out;
	}
	tlb_settings.ack_timeout_us = 50000;
	__atomic_store_n(&tlb_settings.deaf_cpu, victim, __ATOMIC_RELEASE); /* its handler now ignores us */
	aspace_replace(&h.as, TEST_VA, PAGE_SIZE, f2, &rq.gen);
	ret = tlb_shootdown(&rq, &s, NULL, NULL);
	__atomic_store_n(&tlb_settings.deaf_cpu, INVALID_CPU, __ATOMIC_RELEASE);
	tlb_settings.ack_timeout_us = saved;
	CHECK(t, ret == -ETIMEDOUT, "a shootdown to a CPU that never acknowledges times out (%d)", ret);
	CHECK(t, s.late == 1 && tlb_stats.watchdog_timeouts == timeouts + 1,
	      "the watchdog counted it and named one late CPU");
	/* The hook is off again: the same CPU must now acknowledge. */
	CHECK(t, tlb_shootdown(&rq, &s, NULL, NULL) == 0,
	      "cpu %u acknowledges again once the hook is off", victim);
out:
	tlb_use(was);
	stop_victim();
	guest_free_frames((paddr_t[]){ f1, f2 }, 2);
}
SELFTEST(tlb_watchdog, "a target that never acknowledges trips the watchdog", test_watchdog);
