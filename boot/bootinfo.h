/* What the boot loader told us, whichever protocol it spoke (Multiboot2 from GRUB, Multiboot v1
 * from QEMU's -kernel), in one loader-independent form. */
#ifndef BOOT_BOOTINFO_H
#define BOOT_BOOTINFO_H

#include "kernel/types.h"

#define BOOTINFO_MAX_MMAP 128
#define BOOTINFO_MAX_MODULES 8
#define BOOTINFO_MAX_USED 16

struct bootinfo_mmap {
	u64 addr, len;
	u32 type; /* MB_MEMORY_* */
};

struct bootinfo_fb {
	u64 addr; /* physical */
	u32 pitch, width, height;
	u8 bpp, type; /* MB_FB_TYPE_* */
	u8 red_pos, red_size, green_pos, green_size, blue_pos, blue_size;
};

struct bootinfo_module {
	u64 start, end; /* physical, end exclusive */
	const char *name;
};

struct bootinfo {
	int protocol;       /* 1 or 2 */
	const char *cmdline; /* never NULL ("" when absent) */
	const char *args;    /* cmdline without the image path some loaders put first */
	const char *loader;  /* never NULL ("" when absent) */
	u32 nmmap;
	bool mmap_truncated; /* more entries than BOOTINFO_MAX_MMAP */
	struct bootinfo_mmap mmap[BOOTINFO_MAX_MMAP];
	bool has_fb;
	struct bootinfo_fb fb;
	const void *rsdp; /* the loader's copy of the ACPI RSDP, or NULL */
	u32 rsdp_len;
	bool efi;         /* booted through UEFI (the loader passed an EFI system table) */
	u32 nmodules;
	struct bootinfo_module modules[BOOTINFO_MAX_MODULES];
	/* Physical ranges the boot information itself (and modules) occupy: memory the frame
	 * allocator must not hand out while bootinfo's pointers are in use. */
	u32 nused;
	struct bootinfo_mmap used[BOOTINFO_MAX_USED]; /* type unused (0) */
};

/* Translate a physical range to a pointer, or NULL if it is not accessible. */
typedef const void *(*bootinfo_map_fn)(u64 phys, u64 len);

/* Fill bi from the loader's magic and information address. Returns 0, or -1 with a one-line
 * reason in err for an unknown magic or a malformed structure. */
int bootinfo_parse(struct bootinfo *bi, u32 magic, u64 info_phys, bootinfo_map_fn map, char *err,
		   size_t err_len);

/* Bytes of memory the map calls available. */
u64 bootinfo_usable_bytes(const struct bootinfo *bi);

#endif
