/* The early kernel mapping. boot/entry.S maps the first 4 GiB with writable, executable 2 MiB
 * pages at 0, at DIRECT_MAP_BASE and (the image's GiB) at -2 GiB. This replaces the image's
 * mapping with 4 KiB pages that carry each section's permissions (SDM 3A 4.6): text read-execute,
 * rodata read-only, data and bss read-write no-execute, guard pages not present. */
#include "kernel/string.h"
#include "kernel/x86.h"
#include "mm/early.h"

#define EARLY_PTS 8 /* page tables for the image: 16 MiB, as linker.ld asserts */
#define ENTRIES 512

extern u64 boot_pml4[ENTRIES], boot_pd[ENTRIES * BOOT_DIRECT_MAP_GIB];
extern const char __kernel_phys_start[], __text_start[], __text_end[], __rodata_start[],
	__rodata_end[], __kernel_end[];
extern const u64 guard_pages[], guard_pages_end[];

static u64 kernel_pd[ENTRIES] __attribute__((aligned(PAGE_SIZE), section(".bss.pagetables")));
static u64 kernel_pt[EARLY_PTS][ENTRIES] __attribute__((aligned(PAGE_SIZE), section(".bss.pagetables")));

u64 direct_map_end = (u64)BOOT_DIRECT_MAP_GIB << 30;
static bool nx_enabled;

bool mm_nx_enabled(void)
{
	return nx_enabled;
}

const void *phys_map_range(paddr_t pa, u64 len)
{
	if (pa >= direct_map_end || len > direct_map_end - pa)
		return NULL;
	return phys_to_virt(pa);
}

static bool is_guard(u64 va)
{
	for (const u64 *g = guard_pages; g < guard_pages_end; g++)
		if (*g == va)
			return true;
	return false;
}

static u64 image_pte(u64 va, u64 global)
{
	u64 nx = nx_enabled ? PTE_NX : 0, pa = va - KERNEL_VMA_BASE;

	if (is_guard(va))
		return 0;
	if (va >= (u64)__text_start && va < (u64)__text_end)
		return pa | PTE_P | global;
	if (va >= (u64)__rodata_start && va < (u64)__rodata_end)
		return pa | PTE_P | nx | global;
	/* the boot stub's alias below text, data and bss */
	return pa | PTE_P | (va >= (u64)__rodata_end ? PTE_W : 0) | nx | global;
}

void mm_early_init(void)
{
	u64 va = KERNEL_VMA_BASE + (u64)__kernel_phys_start, global = 0;
	u64 pd_first = (va >> 21) & (ENTRIES - 1);
	u64 *pdpt_kernel = phys_to_virt(boot_pml4[KERNEL_PML4_SLOT] & ~0xfffull);

	nx_enabled = rdmsr(MSR_EFER) & EFER_NXE;
	if (cpuid_edx(1) & CPUID_1_EDX_PGE)
		global = PTE_G;
	for (; va < (u64)__kernel_end; va += PAGE_SIZE) {
		u64 idx = (va - KERNEL_VMA_BASE) >> PAGE_SHIFT, pt = idx / ENTRIES - pd_first;

		kernel_pt[pt][idx % ENTRIES] = image_pte(va, global);
	}
	for (u64 i = 0; i < EARLY_PTS; i++)
		kernel_pd[pd_first + i] = kimg_to_phys(kernel_pt[i]) | PTE_P | PTE_W;
	pdpt_kernel[KERNEL_PDPT_SLOT] = kimg_to_phys(kernel_pd) | PTE_P | PTE_W;

	/* The direct map is data: never executable. */
	if (nx_enabled)
		for (u64 i = 0; i < ENTRIES * BOOT_DIRECT_MAP_GIB; i++)
			boot_pd[i] |= PTE_NX;
	boot_pml4[0] = 0; /* the identity map was only for the boot stub */
	write_cr3(read_cr3());
	if (global)
		write_cr4(read_cr4() | CR4_PGE);
}
