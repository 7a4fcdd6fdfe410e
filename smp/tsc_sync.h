/* Cross-CPU TSC offsets (smp/tsc_sync.c). */
#ifndef SMP_TSC_SYNC_H
#define SMP_TSC_SYNC_H

void tsc_sync_report(void); /* measure every online CPU's offset; text and a "tsc" record */

#endif
