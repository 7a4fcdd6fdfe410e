/* The IPI round-trip floor (bench/ipibench.c). */
#ifndef SMP_IPIBENCH_H
#define SMP_IPIBENCH_H

#include "kernel/types.h"

/* Measure and report (text and an "ipi_floor" record); 0, or -1 if a CPU did not answer. */
int ipi_floor_run(void);
/* p50 of the last measured CPU 0 -> all others round trip with acknowledgements; 0 if none. */
u64 ipi_floor_p50_cycles(void);

#endif
