/* The IPI round-trip floor (bench/ipibench.c). */
#ifndef BENCH_IPIBENCH_H
#define BENCH_IPIBENCH_H

#include "kernel/types.h"

/* Measure round_trips per target and report (text and an "ipi_floor" record); 0, or -1 if a
 * CPU did not answer. Targets spin with interrupts on, or with `halt` wait in HLT. */
int ipi_floor_run(u64 round_trips, bool halt);
/* p50 of the last measured CPU 0 -> all others round trip with acknowledgements; 0 if none. */
u64 ipi_floor_p50_cycles(void);

#endif
