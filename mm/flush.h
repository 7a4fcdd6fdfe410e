/* Local TLB flush primitives (SDM 3A 4.10.4) and the one function that decides how to flush a
 * range on this CPU. */
#ifndef MM_FLUSH_H
#define MM_FLUSH_H

#include "kernel/types.h"

#define CR3_PCID_MASK 0xfffull
#define CR3_NOFLUSH (1ull << 63) /* with CR4.PCIDE: keep the new PCID's entries */
#define CPUID_1_ECX_PCID (1u << 17)
#define CPUID_7_EBX_INVPCID (1u << 10)

/* INVPCID types (SDM 2A INVPCID) */
#define INVPCID_ADDRESS 0
#define INVPCID_CONTEXT 1
#define INVPCID_ALL_GLOBAL 2
#define INVPCID_ALL_NONGLOBAL 3

struct flush_caps {
	bool pcid;    /* CR4.PCIDE in use */
	bool invpcid; /* INVPCID available */
	bool pge;     /* global pages in use */
};

extern struct flush_caps flush_caps;
void flush_set_threshold(u64 pages); /* up to this many pages a range is flushed page by page */

void flush_init_cpu(void); /* detect (first call) and enable PCIDs on this CPU */

static inline void invpcid(u32 type, u16 pcid, u64 va)
{
	struct {
		u64 pcid, va;
	} desc = { pcid, va };

	__asm__ volatile("invpcid %0, %1" ::"m"(desc), "r"((u64)type) : "memory");
}

void flush_page(u64 va);       /* INVLPG: this address, current PCID and globals */
void flush_context(u16 pcid);  /* every non-global entry of one PCID */
void flush_all_nonglobal(void);
void flush_all(void);          /* including global entries */

/* Flush [va, va + pages * 4 KiB) of the address space loaded on this CPU (PCID pcid): page by
 * page up to the threshold (flush_set_threshold()), the whole context above it, everything if `global`.
 * pages == 0 means the whole context. Returns true if it flushed the whole context. */
bool flush_range_local(u16 pcid, u64 va, u64 pages, bool global);

#endif
