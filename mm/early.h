/* The kernel's first mappings (mm/early.c): the image W^X and the boot direct map, before the
 * frame allocator exists. Everything here depends on mm/layout.h alone. */
#ifndef MM_EARLY_H
#define MM_EARLY_H

#include "kernel/types.h"
#include "mm/layout.h"

/* The direct map covers [0, direct_map_end) of physical memory. */
extern u64 direct_map_end;

/* A pointer to [pa, pa + len) through the direct map, or NULL if it is not all mapped. */
const void *phys_map_range(paddr_t pa, u64 len);

/* Remap the image W^X with 4 KiB pages, unmap the stack guard pages, drop the boot identity
 * map, and make the kernel's mappings global where the CPU allows. */
void mm_early_init(void);

bool mm_nx_enabled(void);

#endif
