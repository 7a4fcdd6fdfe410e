/* The benchmark: every combination of the backends and the other axes the command line lists,
 * each one scenario with its own record, then a summary table (bench/bench.c). */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include "kernel/benchrec.h"

int bench_run(void); /* returns the verdict code */
/* Where the kernel runs, as every result record's "env" object says it. */
const struct bench_env *bench_env(void);

#endif
