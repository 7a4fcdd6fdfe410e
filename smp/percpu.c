/* Per-CPU areas, statically allocated and cache-line aligned so that no two CPUs' hot fields
 * share a line. Area 0 is the boot CPU's, usable from the first instructions of kmain(). */
#include "smp/percpu.h"
#include "kernel/x86.h"

struct percpu percpu_areas[MAX_CPUS];
bool percpu_ready;
u32 nr_cpus = 1;
struct cpumask cpu_online_mask;

void percpu_load(struct percpu *p)
{
	p->self = p;
	wrmsr(MSR_GS_BASE, (u64)p);
}

void percpu_init_bsp(void)
{
	percpu_bsp.cpu = 0;
	percpu_bsp.online = 1;
	percpu_load(&percpu_bsp);
	percpu_ready = true;
}
