/* The IPI round-trip floor (smp/ipibench.c). */
#ifndef SMP_IPIBENCH_H
#define SMP_IPIBENCH_H

/* Measure and report (text and an "ipi_floor" record); 0, or -1 if a CPU did not answer. */
int ipi_floor_run(void);

#endif
