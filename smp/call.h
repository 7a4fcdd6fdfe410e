/* Cross-CPU calls (smp/call.c): run fn(arg) on every CPU in `targets` (the caller too, if it is
 * in the set) in thread context with interrupts on, and wait for all of them. */
#ifndef SMP_CALL_H
#define SMP_CALL_H

#include "kernel/types.h"
#include "smp/cpumask.h"
#include "smp/percpu.h"

/* Returns 0, or -ETIMEDOUT after timeout_us (nominal: x the host's slowness, kernel/time.h), naming the CPUs that did not answer (also left in
 * *late). */
int smp_call(const struct cpumask *targets, smp_call_fn fn, void *arg, u64 timeout_us,
	     struct cpumask *late);
/* Start without waiting (the caller must not be a target); smp_call_wait() finishes it. */
int smp_call_start(const struct cpumask *targets, smp_call_fn fn, void *arg);
int smp_call_wait(u64 timeout_us, struct cpumask *late);
void smp_call_init(void);
__attribute__((noreturn)) void smp_call_loop(void); /* what an idle AP runs */
void smp_call_poll(void);                           /* serve pending calls now */

#endif
