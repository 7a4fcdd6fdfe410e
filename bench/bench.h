/* The benchmark: every combination of the backends, workloads and range sizes the command line
 * lists, each one scenario with its own record, then a summary table (bench/bench.c). */
#ifndef KERNEL_BENCH_H
#define KERNEL_BENCH_H

#include "kernel/json.h"

void bench_validate(void); /* check the list options; usage errors exit here */
int bench_run(void);       /* returns the verdict code */
void bench_put_env(struct jw *w); /* the "env" object every result record carries */

#endif
