/* Multiboot2 (GRUB's multiboot2 loader) and Multiboot v1 (QEMU's -kernel loader) constants
 * and layouts. Multiboot2 spec 2.0 (sections 3.1 header, 3.6 boot information);
 * Multiboot 0.6.96 (3.1 header, 3.3 boot information). Shared by assembly and C. */
#ifndef BOOT_MULTIBOOT2_H
#define BOOT_MULTIBOOT2_H

/* Multiboot2 header (spec 3.1.1) */
#define MB2_HEADER_MAGIC 0xe85250d6
#define MB2_ARCH_I386 0
#define MB2_HEADER_TAG_END 0
#define MB2_HEADER_TAG_FRAMEBUFFER 5
#define MB2_HEADER_TAG_OPTIONAL 1
#define MB2_BOOTLOADER_MAGIC 0x36d76289 /* in EAX at entry (spec 3.2) */

/* Multiboot2 boot information tag types (spec 3.6) */
#define MB2_TAG_END 0
#define MB2_TAG_CMDLINE 1
#define MB2_TAG_LOADER_NAME 2
#define MB2_TAG_MODULE 3
#define MB2_TAG_BASIC_MEMINFO 4
#define MB2_TAG_MMAP 6
#define MB2_TAG_FRAMEBUFFER 8
#define MB2_TAG_EFI32 11
#define MB2_TAG_EFI64 12
#define MB2_TAG_ACPI_OLD 14
#define MB2_TAG_ACPI_NEW 15
#define MB2_TAG_EFI_MMAP 17
#define MB2_TAG_EFI_BS 18
#define MB2_TAG_LOAD_BASE_ADDR 21

/* Memory map entry types (spec 3.6.8), shared with Multiboot v1 */
#define MB_MEMORY_AVAILABLE 1
#define MB_MEMORY_RESERVED 2
#define MB_MEMORY_ACPI_RECLAIMABLE 3
#define MB_MEMORY_NVS 4
#define MB_MEMORY_BADRAM 5

/* Framebuffer types (spec 3.6.12) */
#define MB_FB_TYPE_INDEXED 0
#define MB_FB_TYPE_RGB 1
#define MB_FB_TYPE_EGA_TEXT 2

/* Multiboot v1 header (0.6.96 section 3.1), used by QEMU's -kernel */
#define MB1_HEADER_MAGIC 0x1badb002
#define MB1_FLAG_PAGE_ALIGN (1 << 0)
#define MB1_FLAG_MEMINFO (1 << 1)
#define MB1_FLAG_AOUT_KLUDGE (1 << 16) /* load addresses come from the header, not the ELF */
#define MB1_BOOTLOADER_MAGIC 0x2badb002

/* Multiboot v1 information flags (0.6.96 section 3.3) */
#define MB1_INFO_MEMORY (1 << 0)
#define MB1_INFO_CMDLINE (1 << 2)
#define MB1_INFO_MODS (1 << 3)
#define MB1_INFO_MMAP (1 << 6)
#define MB1_INFO_LOADER_NAME (1 << 9)
#define MB1_INFO_FRAMEBUFFER (1 << 12)

#ifndef __ASSEMBLER__
#include "kernel/types.h"

struct mb2_info_header {
	u32 total_size;
	u32 reserved;
} __attribute__((packed));

struct mb2_tag {
	u32 type;
	u32 size;
} __attribute__((packed));

struct mb2_tag_string { /* cmdline, loader name */
	u32 type, size;
	char string[];
} __attribute__((packed));

struct mb2_mmap_entry {
	u64 addr;
	u64 len;
	u32 type;
	u32 reserved;
} __attribute__((packed));

struct mb2_tag_mmap {
	u32 type, size;
	u32 entry_size;
	u32 entry_version;
	/* entries follow, entry_size bytes apart */
} __attribute__((packed));

struct mb2_tag_framebuffer {
	u32 type, size;
	u64 addr;
	u32 pitch, width, height;
	u8 bpp, fb_type;
	u16 reserved;
	/* for MB_FB_TYPE_RGB: */
	u8 red_pos, red_size, green_pos, green_size, blue_pos, blue_size;
} __attribute__((packed));

struct mb2_tag_module {
	u32 type, size;
	u32 mod_start, mod_end;
	char string[];
} __attribute__((packed));

struct mb2_tag_acpi { /* old: RSDP v1 copy (20 bytes); new: RSDP v2 copy (36 bytes) */
	u32 type, size;
	u8 rsdp[];
} __attribute__((packed));

struct mb1_info {
	u32 flags;
	u32 mem_lower, mem_upper;
	u32 boot_device;
	u32 cmdline;
	u32 mods_count, mods_addr;
	u32 syms[4];
	u32 mmap_length, mmap_addr;
	u32 drives_length, drives_addr;
	u32 config_table;
	u32 boot_loader_name;
	u32 apm_table;
	u32 vbe_control_info, vbe_mode_info;
	u16 vbe_mode, vbe_interface_seg, vbe_interface_off, vbe_interface_len;
	u64 framebuffer_addr;
	u32 framebuffer_pitch, framebuffer_width, framebuffer_height;
	u8 framebuffer_bpp, framebuffer_type;
	u8 color_info[6];
} __attribute__((packed));

struct mb1_mmap_entry { /* 'size' does not count itself */
	u32 size;
	u64 addr;
	u64 len;
	u32 type;
} __attribute__((packed));

struct mb1_module {
	u32 mod_start, mod_end, string, reserved;
} __attribute__((packed));

_Static_assert(sizeof(struct mb2_mmap_entry) == 24, "MB2 mmap entry");
_Static_assert(sizeof(struct mb2_tag_framebuffer) == 38, "MB2 framebuffer tag");
_Static_assert(sizeof(struct mb1_info) == 116, "MB1 info");
_Static_assert(sizeof(struct mb1_mmap_entry) == 24, "MB1 mmap entry");
#endif

#endif
