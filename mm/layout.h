/* The kernel's virtual and physical memory layout, shared by C, assembly and linker.ld. */
#ifndef MM_LAYOUT_H
#define MM_LAYOUT_H

#define PAGE_SIZE 0x1000
#define PAGE_SHIFT 12
#define LARGE_PAGE_SIZE 0x200000 /* 2 MiB */

/* Physical address the image is loaded at: 2 MiB, above the BIOS area and 2 MiB aligned so
 * that the kernel's page tables cover it with whole page tables. */
#define KERNEL_LOAD_PHYS 0x200000

/* The image runs in the top 2 GiB (the -mcmodel=kernel window), VMA = KERNEL_VMA_BASE + LMA. */
#define KERNEL_VMA_BASE 0xffffffff80000000

/* All of physical memory is mapped at DIRECT_MAP_BASE (PML4 slot 256). */
#define DIRECT_MAP_BASE 0xffff800000000000
#define DIRECT_MAP_PML4_SLOT 256
#define KERNEL_PML4_SLOT 511
#define KERNEL_PDPT_SLOT 510

/* PML4 slot 511 also holds, below the image's GiB: uncached MMIO mappings and kernel stacks
 * (each above an unmapped guard page), both handed out by bump allocators in mm/mm.c. */
#define MMIO_BASE 0xffffff8000000000
#define MMIO_SIZE 0x40000000
#define KSTACK_BASE 0xffffff8040000000
#define KSTACK_AREA_SIZE 0x40000000

/* What the boot path maps before C runs: 4 GiB of 2 MiB pages, enough for the image, the boot
 * information, the framebuffer and the legacy areas. */
#define BOOT_DIRECT_MAP_GIB 4

/* Sizes of the stacks that live in the image; each sits above an unmapped guard page. */
#define BOOT_STACK_SIZE 0x8000
#define IST_STACK_SIZE 0x2000

#ifndef __ASSEMBLER__
#include "kernel/types.h"

static inline void *phys_to_virt(paddr_t pa)
{
	return (void *)(DIRECT_MAP_BASE + pa);
}

/* Physical address of something inside the kernel image (text, data, bss). */
static inline paddr_t kimg_to_phys(const void *p)
{
	return (u64)p - KERNEL_VMA_BASE;
}
#endif

#endif
