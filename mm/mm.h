/* Memory management: address translation helpers and the early kernel mapping. */
#ifndef MM_MM_H
#define MM_MM_H

#include "kernel/types.h"
#include "mm/early.h"
#include "mm/layout.h"

struct bootinfo;
struct frame_pool;
struct pt;

/* Build the frame pool from the memory map, keeping out the image, low memory and the boot
 * information; adopt the boot PML4 as the kernel page table. Prints one line. */
void mm_init(const struct bootinfo *bi);
struct frame_pool *mm_frame_pool(void);
struct pt *mm_kernel_pt(void);
u64 mm_kernel_cr3(void);
bool mm_phys_in_use(paddr_t pa, u64 len);

void *mm_alloc_zeroed(u64 bytes);          /* contiguous zeroed pages in the direct map, NULL if none */
void mm_free_zeroed(void *p, u64 bytes);  /* give back what mm_alloc_zeroed(bytes) returned (NULL: nothing) */
u64 mm_alloc_kstack(u64 size);            /* a stack above a guard page; returns its top, 0 on failure */
void *mm_map_mmio(paddr_t pa, u64 len);   /* uncached mapping of device registers, NULL on failure */
void *mm_map_wc(paddr_t pa, u64 len);     /* write-combining mapping (framebuffer), NULL on failure */
void *mm_map_exec(paddr_t pa);            /* one read-execute page (hypercall page), NULL on failure */
u32 mm_trampoline_cr3(void);              /* page table for APs starting in low memory */
void mm_trampoline_done(void);
void mm_cpu_init(void);                   /* per-CPU paging setup: PAT, CR4.PGE, PCIDs */

#endif
