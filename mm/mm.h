/* Memory management: address translation helpers and the early kernel mapping. */
#ifndef MM_MM_H
#define MM_MM_H

#include "kernel/types.h"
#include "mm/layout.h"

/* The direct map covers [0, direct_map_end) of physical memory. */
extern u64 direct_map_end;

static inline void *phys_to_virt(paddr_t pa)
{
	return (void *)(DIRECT_MAP_BASE + pa);
}

/* Physical address of something inside the kernel image (text, data, bss). */
static inline paddr_t kimg_to_phys(const void *p)
{
	return (u64)p - KERNEL_VMA_BASE;
}

/* A pointer to [pa, pa + len) through the direct map, or NULL if it is not all mapped. */
const void *phys_map_range(paddr_t pa, u64 len);

/* Remap the image W^X with 4 KiB pages, unmap the stack guard pages, drop the boot identity
 * map, and make the kernel's mappings global where the CPU allows. */
void mm_early_init(void);

bool mm_nx_enabled(void);

#endif
