/* Cross-CPU TSC offsets (smp/tsc_sync.c). */
#ifndef SMP_TSC_SYNC_H
#define SMP_TSC_SYNC_H

#include "kernel/types.h"

void tsc_sync_report(void); /* measure every online CPU's offset; text and a "tsc" record */
/* The measured offset of cpu's TSC from CPU 0's (its TSC minus CPU 0's at the same moment), and
 * its uncertainty (UINT64_MAX: not measured). 0 and 0 for CPU 0. */
s64 tsc_offset(u32 cpu);
u64 tsc_offset_uncertainty(u32 cpu);

#endif
