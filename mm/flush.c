/* Local TLB invalidation (SDM 3A 4.10.4.1): INVLPG, INVPCID (individual address, single
 * context, all contexts with or without globals), CR3 writes with and without the no-flush bit,
 * and toggling CR4.PGE for global entries. Which to use for a range is decided in one place,
 * flush_range_local(), with the page-count threshold settable from the command line. */
#include "mm/flush.h"
#include "kernel/x86.h"
#include "smp/percpu.h"

struct flush_caps flush_caps;
static u64 threshold = 33; /* the ceiling Linux uses for single-page flushes */

void flush_set_threshold(u64 pages)
{
	threshold = pages;
}

void flush_init_cpu(void)
{
	u32 a, b, c, d;
	static bool detected;

	if (!detected) {
		cpuid_count(1, 0, &a, &b, &c, &d);
		flush_caps.pcid = c & CPUID_1_ECX_PCID;
		flush_caps.pge = d & CPUID_1_EDX_PGE;
		if (cpuid_eax(0) >= 7) {
			cpuid_count(7, 0, &a, &b, &c, &d);
			flush_caps.invpcid = b & CPUID_7_EBX_INVPCID;
		}
		detected = true;
	}
	/* CR4.PCIDE may only be set while the current PCID is 0 (SDM 3A 4.10.1). */
	if (flush_caps.pcid && !(read_cr3() & CR3_PCID_MASK))
		write_cr4(read_cr4() | CR4_PCIDE);
}

void flush_page(u64 va)
{
	invlpg((void *)va);
}

void flush_context(u16 pcid)
{
	if (flush_caps.invpcid) {
		invpcid(INVPCID_CONTEXT, pcid, 0);
		return;
	}
	/* Without INVPCID only the loaded context can be flushed: by reloading CR3 without the
	 * no-flush bit. Callers only ask for the loaded one. */
	write_cr3(read_cr3() & ~CR3_NOFLUSH);
}

void flush_all_nonglobal(void)
{
	if (flush_caps.invpcid)
		invpcid(INVPCID_ALL_NONGLOBAL, 0, 0);
	else
		write_cr3(read_cr3() & ~CR3_NOFLUSH);
}

void flush_all(void)
{
	u64 cr4;

	if (flush_caps.invpcid) {
		invpcid(INVPCID_ALL_GLOBAL, 0, 0);
		return;
	}
	/* Clearing CR4.PGE flushes every entry, global ones included (SDM 3A 4.10.4.1); with
	 * PCIDs on, toggling PCIDE is not an option, but PGE still flushes all PCIDs. */
	cr4 = read_cr4();
	if (cr4 & CR4_PGE) {
		write_cr4(cr4 & ~CR4_PGE);
		write_cr4(cr4);
	} else {
		write_cr3(read_cr3() & ~CR3_NOFLUSH);
	}
}

bool flush_range_local(u16 pcid, u64 va, u64 pages, bool global)
{
	if (pages && pages <= threshold) {
		/* INVLPG also removes a global entry for the address. */
		for (u64 i = 0; i < pages; i++)
			flush_page(va + i * 4096);
		return false;
	}
	if (global)
		flush_all();
	else
		flush_context(pcid);
	return true;
}
