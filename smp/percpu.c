/* Per-CPU areas. The boot CPU's is static so that traps can be reported from the first
 * instructions of kmain(); the others come with SMP bring-up. */
#include "smp/percpu.h"
#include "kernel/x86.h"

struct percpu percpu_bsp;
bool percpu_ready;

void percpu_load(struct percpu *p)
{
	p->self = p;
	wrmsr(MSR_GS_BASE, (u64)p);
}

void percpu_init_bsp(void)
{
	percpu_bsp.cpu = 0;
	percpu_load(&percpu_bsp);
	percpu_ready = true;
}
