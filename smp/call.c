/* Cross-CPU calls. Each CPU owns one outgoing request (struct call_request in its percpu) and
 * an inbox with one bit per sender, so there is no global mailbox and no lock: a sender fills
 * its request, sets its bit in each target's inbox and sends VEC_CALL; a target runs the
 * function in thread context (its call loop, or smp_call_poll()) and clears its bit in the
 * sender's pending mask. A sender serves its own inbox while it waits, so two CPUs calling each
 * other at once both finish. */
#include "kernel/console.h"
#include "kernel/errno.h"
#include "kernel/time.h"
#include "kernel/trap.h"
#include "kernel/x86.h"
#include "smp/apic.h"
#include "smp/call.h"

static void call_ipi(struct trap_frame *f)
{
	(void)f;
	apic_eoi(); /* the work happens in thread context; the IPI only wakes the target */
}

void smp_call_init(void)
{
	trap_set_handler(VEC_CALL, call_ipi);
}

static void run_request(u32 sender)
{
	struct call_request *req = &percpu_of(sender)->call_out;

	req->fn(req->arg);
	cpumask_test_and_clear_atomic(&req->pending, smp_cpu()); /* pairs with smp_call_wait() */
}

void smp_call_poll(void)
{
	struct percpu *me = this_cpu();

	if (__atomic_load_n(&me->call_deaf, __ATOMIC_ACQUIRE))
		return;
	for_each_cpu(sender, &me->call_inbox) {
		/* The acquire pairs with the sender's release when it set the bit: its request's
		 * fn and arg are visible. */
		if (cpumask_test_and_clear_atomic(&me->call_inbox, sender))
			run_request(sender);
	}
}

void smp_call_loop(void)
{
	struct percpu *me = this_cpu();

	for (;;) {
		cli();
		if (cpumask_empty(&me->call_inbox) || __atomic_load_n(&me->call_deaf, __ATOMIC_ACQUIRE)) {
			/* STI's one-instruction shadow makes "sti; hlt" atomic: a call IPI that
			 * arrives after the check still ends the HLT. */
			__asm__ volatile("sti; hlt" ::: "memory");
			continue;
		}
		sti();
		smp_call_poll();
	}
}

int smp_call_start(const struct cpumask *targets, smp_call_fn fn, void *arg)
{
	struct percpu *me = this_cpu();
	struct call_request *req = &me->call_out;

	if (!cpumask_empty(&req->pending))
		return -EBUSY;
	req->fn = fn;
	req->arg = arg;
	for_each_cpu(cpu, targets)
		if (cpu != me->cpu && cpumask_test(&cpu_online_mask, cpu))
			cpumask_set(&req->pending, cpu);
	for_each_cpu(cpu, &req->pending) {
		cpumask_set_atomic(&percpu_of(cpu)->call_inbox, me->cpu); /* release: req is visible */
		apic_send_ipi(percpu_of(cpu)->apic_id, VEC_CALL);
	}
	return 0;
}

/* Withdraw what the late CPUs have not started; wait briefly for those already running it. */
static void cancel_late(struct call_request *req, struct cpumask *late)
{
	struct percpu *me = this_cpu();

	if (late)
		cpumask_clear_all(late);
	kprintf("smp: cross-CPU call from cpu %u timed out; no answer from:", me->cpu);
	for_each_cpu(cpu, &req->pending) {
		kprintf(" cpu %u (APIC ID %u)", cpu, percpu_of(cpu)->apic_id);
		if (late)
			cpumask_set(late, cpu);
		if (cpumask_test_and_clear_atomic(&percpu_of(cpu)->call_inbox, me->cpu))
			cpumask_test_and_clear_atomic(&req->pending, cpu); /* never started: withdrawn */
	}
	kprintf("\n");
}

int smp_call_wait(u64 timeout_us, struct cpumask *late)
{
	struct call_request *req = &this_cpu()->call_out;
	struct liveness l;

	liveness_start(&l, timeout_us);
	while (!cpumask_empty(&req->pending)) {
		if (liveness_expired(&l)) {
			cancel_late(req, late);
			return -ETIMEDOUT;
		}
		smp_call_poll();
		cpu_relax();
	}
	return 0;
}

int smp_call(const struct cpumask *targets, smp_call_fn fn, void *arg, u64 timeout_us,
	     struct cpumask *late)
{
	int ret = smp_call_start(targets, fn, arg);

	if (ret)
		return ret;
	if (cpumask_test(targets, smp_cpu()))
		fn(arg);
	return smp_call_wait(timeout_us, late);
}
