/* CPU identification strings (SDM 2A CPUID leaves 0 and 0x80000002-0x80000004). */
#include "kernel/cpu.h"
#include "kernel/types.h"
#include "kernel/x86.h"

static char vendor[13], brand[49];

const char *cpu_vendor_string(void)
{
	u32 a, *w = (u32 *)vendor;

	if (!vendor[0]) {
		cpuid_count(0, 0, &a, &w[0], &w[2], &w[1]);
		vendor[12] = 0;
	}
	return vendor;
}

const char *cpu_brand_string(void)
{
	u32 *w = (u32 *)brand;
	char *p = brand;

	if (brand[0] || cpuid_eax(0x80000000) < 0x80000004)
		return brand;
	for (u32 leaf = 0; leaf < 3; leaf++)
		cpuid_count(0x80000002 + leaf, 0, &w[4 * leaf], &w[4 * leaf + 1], &w[4 * leaf + 2],
			    &w[4 * leaf + 3]);
	brand[48] = 0;
	while (*p == ' ')
		p++;
	return p;
}
