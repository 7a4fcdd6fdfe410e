/* Unit tests for boot/bootinfo.c: Multiboot2 tag lists and Multiboot v1 information built in a
 * simulated physical memory, every field checked, each malformed structure rejected with a
 * one-line reason, the image path skipped from the command line, and usable bytes summed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "boot/bootinfo.h"
#include "boot/multiboot2.h"

/*
 * Simulated physical memory: MEM_SIZE bytes at physical address MEM_BASE. A Multiboot2 blob is
 * built at mem[0] and then moved so that it ends exactly at the end of mem, so that AddressSanitizer
 * reports any read past the information the parser was given.
 */
#define MEM_BASE 0x100000ull
#define MEM_SIZE 0x10000u
static u8 mem[MEM_SIZE] __attribute__((aligned(8)));

static struct bootinfo bi;
static char err[160];
static u32 mb2_len; /* bytes of the Multiboot2 blob built so far at mem[0] */
static u8 *info;     /* where the blob was parsed from, after the move */

static const void *map(u64 phys, u64 len)
{
	if (phys < MEM_BASE || phys - MEM_BASE > MEM_SIZE || len > MEM_SIZE - (phys - MEM_BASE))
		return NULL;
	return mem + (phys - MEM_BASE);
}

/* A loader that claims everything from MEM_BASE up is mapped (only the start is checked). */
static const void *map_any_len(u64 phys, u64 len)
{
	(void)len;
	if (phys < MEM_BASE || phys - MEM_BASE >= MEM_SIZE)
		return NULL;
	return mem + (phys - MEM_BASE);
}

static u64 phys_of(const void *p)
{
	return MEM_BASE + (u64)((const u8 *)p - mem);
}

static int setup(void **state)
{
	(void)state;
	memset(mem, 0, sizeof(mem));
	memset(&bi, 0xa5, sizeof(bi));
	memset(err, 'X', sizeof(err));
	mb2_len = sizeof(struct mb2_info_header);
	info = NULL;
	return 0;
}

/* ---- Multiboot2 blob builder ---- */

/* Append a tag of the given size (8-byte aligned start) and return it, zero-filled. */
static void *mb2_add(u32 type, u32 size)
{
	struct mb2_tag *t = (void *)(mem + mb2_len);

	assert_true(mb2_len + ALIGN_UP(size, 8u) + 8 <= MEM_SIZE / 2);
	memset(t, 0, ALIGN_UP(size, 8u));
	t->type = type;
	t->size = size;
	mb2_len += ALIGN_UP(size, 8u);
	return t;
}

static struct mb2_tag_string *mb2_string(u32 type, const char *s)
{
	struct mb2_tag_string *t = mb2_add(type, sizeof(struct mb2_tag) + strlen(s) + 1);

	memcpy(t->string, s, strlen(s) + 1);
	return t;
}

/* A memory map tag of n entries entry_size bytes apart; bytes past the standard 24 are junk. */
static struct mb2_tag_mmap *mb2_mmap(u32 entry_size, const struct mb2_mmap_entry *e, u32 n)
{
	struct mb2_tag_mmap *t = mb2_add(MB2_TAG_MMAP, sizeof(*t) + n * entry_size);
	u8 *p = (u8 *)(t + 1);

	t->entry_size = entry_size;
	t->entry_version = 0;
	for (u32 i = 0; i < n; i++, p += entry_size) {
		memset(p, 0xee, entry_size);
		memcpy(p, &e[i], MIN(entry_size, (u32)sizeof(*e)));
	}
	return t;
}

static struct mb2_tag_acpi *mb2_acpi(u32 type, u8 fill, u32 len)
{
	struct mb2_tag_acpi *t = mb2_add(type, sizeof(struct mb2_tag) + len);

	memset(t->rsdp, fill, len);
	memcpy(t->rsdp, "RSD PTR ", 8);
	return t;
}

static struct mb2_tag_module *mb2_module(u32 start, u32 end, const char *name)
{
	struct mb2_tag_module *t = mb2_add(MB2_TAG_MODULE, sizeof(*t) + strlen(name) + 1);

	t->mod_start = start;
	t->mod_end = end;
	memcpy(t->string, name, strlen(name) + 1);
	return t;
}

/* Append the end tag and set the header. */
static void mb2_finish(void)
{
	struct mb2_info_header *h = (void *)mem;

	mb2_add(MB2_TAG_END, sizeof(struct mb2_tag));
	h->total_size = mb2_len;
	h->reserved = 0;
}

static struct mb2_info_header *mb2_header(void)
{
	return (struct mb2_info_header *)mem;
}

/* The address in info of something built at p in mem[0..mb2_len). */
static const void *moved(const void *p)
{
	return info + ((const u8 *)p - mem);
}

/* Move the blob (mb2_len bytes, whatever total_size says) to the end of mem and parse it. */
static int parse2(void)
{
	u32 dst = MEM_SIZE - ALIGN_UP(mb2_len, 8u);

	memmove(mem + dst, mem, mb2_len);
	memset(mem, 0, dst);
	info = mem + dst;
	return bootinfo_parse(&bi, MB2_BOOTLOADER_MAGIC, phys_of(info), map, err, sizeof(err));
}

/* A non-empty, terminated, one-line reason. */
static void check_err(void)
{
	assert_true(strnlen(err, sizeof(err)) < sizeof(err));
	assert_true(strlen(err) > 0);
	assert_null(strchr(err, '\n'));
}

static void reject2(void)
{
	assert_int_equal(parse2(), -1);
	check_err();
}

/* A small valid list: command line, loader name, a memory map. */
static struct mb2_tag_mmap *mb2_basic(void)
{
	static const struct mb2_mmap_entry e[2] = {
		{ 0, 0x9fc00, MB_MEMORY_AVAILABLE, 0 },
		{ 0x100000, 0x7ee0000, MB_MEMORY_AVAILABLE, 0 },
	};

	mb2_string(MB2_TAG_CMDLINE, "/boot/k.elf mode=info");
	mb2_string(MB2_TAG_LOADER_NAME, "GRUB 2.12");
	return mb2_mmap(sizeof(e[0]), e, 2);
}

/* ---- Multiboot2: well-formed lists ---- */

static void test_mb2_well_formed(void **state)
{
	(void)state;
	static const struct mb2_mmap_entry e[3] = {
		{ 0, 0x9fc00, MB_MEMORY_AVAILABLE, 0 },
		{ 0xf0000, 0x10000, MB_MEMORY_RESERVED, 0 },
		{ 0x100000, 0x3fee0000, MB_MEMORY_AVAILABLE, 0 },
	};
	struct mb2_tag *unknown;
	struct mb2_tag_framebuffer *fb;
	struct mb2_tag_acpi *old, *acpi_new;
	struct mb2_tag_module *mod;
	struct mb2_tag_string *cmd, *ldr;

	cmd = mb2_string(MB2_TAG_CMDLINE, "/boot/k.elf mode=info quiet");
	unknown = mb2_add(0x7777, 13); /* odd size: the next tag starts at the next 8 bytes */
	memset(unknown + 1, 0xff, 5);
	ldr = mb2_string(MB2_TAG_LOADER_NAME, "GRUB 2.12");
	mb2_add(MB2_TAG_BASIC_MEMINFO, 16);
	mb2_mmap(sizeof(e[0]), e, 3);
	fb = mb2_add(MB2_TAG_FRAMEBUFFER, sizeof(*fb));
	fb->addr = 0xfd000000;
	fb->pitch = 4096;
	fb->width = 1024;
	fb->height = 768;
	fb->bpp = 32;
	fb->fb_type = MB_FB_TYPE_RGB;
	fb->red_pos = 16, fb->red_size = 8;
	fb->green_pos = 8, fb->green_size = 8;
	fb->blue_pos = 0, fb->blue_size = 8;
	old = mb2_acpi(MB2_TAG_ACPI_OLD, 0x11, 20);
	acpi_new = mb2_acpi(MB2_TAG_ACPI_NEW, 0x22, 36);
	mb2_add(MB2_TAG_EFI64, 16);
	mb2_add(MB2_TAG_EFI_MMAP, 16);
	mod = mb2_module(0x200000, 0x201234, "initrd.img");
	mb2_add(MB2_TAG_LOAD_BASE_ADDR, 12);
	mb2_finish();

	assert_int_equal(parse2(), 0);
	assert_int_equal(bi.protocol, 2);
	assert_ptr_equal(bi.cmdline, moved(cmd->string));
	assert_string_equal(bi.cmdline, "/boot/k.elf mode=info quiet");
	assert_string_equal(bi.args, "mode=info quiet");
	assert_ptr_equal(bi.loader, moved(ldr->string));
	assert_string_equal(bi.loader, "GRUB 2.12");

	assert_int_equal(bi.nmmap, 3);
	assert_false(bi.mmap_truncated);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(bi.mmap[i].addr, e[i].addr);
		assert_int_equal(bi.mmap[i].len, e[i].len);
		assert_int_equal(bi.mmap[i].type, e[i].type);
	}
	assert_int_equal(bootinfo_usable_bytes(&bi), 0x9fc00 + 0x3fee0000ull);

	assert_true(bi.has_fb);
	assert_int_equal(bi.fb.addr, 0xfd000000);
	assert_int_equal(bi.fb.pitch, 4096);
	assert_int_equal(bi.fb.width, 1024);
	assert_int_equal(bi.fb.height, 768);
	assert_int_equal(bi.fb.bpp, 32);
	assert_int_equal(bi.fb.type, MB_FB_TYPE_RGB);
	assert_int_equal(bi.fb.red_pos, 16);
	assert_int_equal(bi.fb.red_size, 8);
	assert_int_equal(bi.fb.green_pos, 8);
	assert_int_equal(bi.fb.green_size, 8);
	assert_int_equal(bi.fb.blue_pos, 0);
	assert_int_equal(bi.fb.blue_size, 8);

	(void)old;
	assert_ptr_equal(bi.rsdp, moved(acpi_new->rsdp));
	assert_int_equal(bi.rsdp_len, 36);
	assert_true(bi.efi);

	assert_int_equal(bi.nmodules, 1);
	assert_int_equal(bi.modules[0].start, 0x200000);
	assert_int_equal(bi.modules[0].end, 0x201234);
	assert_ptr_equal(bi.modules[0].name, moved(mod->string));
	assert_string_equal(bi.modules[0].name, "initrd.img");
}

/* Only the header and the end tag: every field at its default. */
static void test_mb2_minimal(void **state)
{
	(void)state;
	mb2_finish();
	assert_int_equal(parse2(), 0);
	assert_int_equal(bi.protocol, 2);
	assert_string_equal(bi.cmdline, "");
	assert_string_equal(bi.args, "");
	assert_string_equal(bi.loader, "");
	assert_int_equal(bi.nmmap, 0);
	assert_false(bi.mmap_truncated);
	assert_false(bi.has_fb);
	assert_null(bi.rsdp);
	assert_int_equal(bi.rsdp_len, 0);
	assert_false(bi.efi);
	assert_int_equal(bi.nmodules, 0);
	assert_int_equal(bootinfo_usable_bytes(&bi), 0);
}

/* A reused struct bootinfo keeps nothing from the previous parse. */
static void test_mb2_reparse_resets(void **state)
{
	(void)state;
	mb2_basic();
	mb2_acpi(MB2_TAG_ACPI_NEW, 0, 36);
	mb2_add(MB2_TAG_EFI64, 16);
	mb2_finish();
	assert_int_equal(parse2(), 0);
	assert_true(bi.efi);
	assert_int_equal(bi.nmmap, 2);

	setup(NULL);
	memset(mem, 0, sizeof(mem));
	mb2_finish();
	assert_int_equal(bootinfo_parse(&bi, MB2_BOOTLOADER_MAGIC, MEM_BASE, map, err, sizeof(err)), 0);
	assert_false(bi.efi);
	assert_null(bi.rsdp);
	assert_int_equal(bi.nmmap, 0);
	assert_string_equal(bi.cmdline, "");
}

/* Entries a loader spaces 32 bytes apart; a trailing partial entry is not an entry. */
static void test_mb2_mmap_entry_size_32(void **state)
{
	(void)state;
	static const struct mb2_mmap_entry e[3] = {
		{ 0x1000, 0x1000, MB_MEMORY_AVAILABLE, 0 },
		{ 0x10000000, 0x20000, MB_MEMORY_ACPI_RECLAIMABLE, 0 },
		{ 0x100000000ull, 0x80000000ull, MB_MEMORY_AVAILABLE, 0 },
	};
	struct mb2_tag_mmap *t;

	t = mb2_mmap(32, e, 3);
	t->size += 24; /* a partial fourth entry (24 of 32 bytes), zero-filled */
	mb2_len += 24;
	mb2_finish();
	assert_int_equal(parse2(), 0);
	assert_int_equal(bi.nmmap, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(bi.mmap[i].addr, e[i].addr);
		assert_int_equal(bi.mmap[i].len, e[i].len);
		assert_int_equal(bi.mmap[i].type, e[i].type);
	}
	assert_int_equal(bootinfo_usable_bytes(&bi), 0x1000 + 0x80000000ull);
}

/* The ACPI 2.0 copy wins over the 1.0 copy whichever comes first. */
static void test_mb2_acpi_new_wins(void **state)
{
	(void)state;
	struct mb2_tag_acpi *t;

	t = mb2_acpi(MB2_TAG_ACPI_NEW, 0x22, 36);
	mb2_acpi(MB2_TAG_ACPI_OLD, 0x11, 20);
	mb2_finish();
	assert_int_equal(parse2(), 0);
	assert_ptr_equal(bi.rsdp, moved(t->rsdp));
	assert_int_equal(bi.rsdp_len, 36);

	setup(NULL);
	mb2_acpi(MB2_TAG_ACPI_OLD, 0x11, 20);
	t = mb2_acpi(MB2_TAG_ACPI_NEW, 0x22, 36);
	mb2_finish();
	assert_int_equal(parse2(), 0);
	assert_ptr_equal(bi.rsdp, moved(t->rsdp));
	assert_int_equal(bi.rsdp_len, 36);
	assert_int_equal(((const u8 *)bi.rsdp)[20], 0x22);
}

static void test_mb2_acpi_old_only(void **state)
{
	(void)state;
	struct mb2_tag_acpi *t;

	mb2_basic();
	t = mb2_acpi(MB2_TAG_ACPI_OLD, 0x11, 20);
	mb2_finish();
	assert_int_equal(parse2(), 0);
	assert_ptr_equal(bi.rsdp, moved(t->rsdp));
	assert_int_equal(bi.rsdp_len, 20);
	assert_memory_equal(bi.rsdp, "RSD PTR ", 8);
	assert_false(bi.efi);
}

static void test_mb2_efi32(void **state)
{
	(void)state;
	mb2_add(MB2_TAG_EFI32, 12);
	mb2_finish();
	assert_int_equal(parse2(), 0);
	assert_true(bi.efi);
}

/* An indexed framebuffer (no RGB colour info) and an RGB tag too short for its colour info. */
static void test_mb2_framebuffer_without_colour(void **state)
{
	(void)state;
	struct mb2_tag_framebuffer *fb;

	fb = mb2_add(MB2_TAG_FRAMEBUFFER, offsetof(struct mb2_tag_framebuffer, red_pos));
	fb->addr = 0xb8000;
	fb->pitch = 160;
	fb->width = 80;
	fb->height = 25;
	fb->bpp = 16;
	fb->fb_type = MB_FB_TYPE_EGA_TEXT;
	mb2_finish();
	assert_int_equal(parse2(), 0);
	assert_true(bi.has_fb);
	assert_int_equal(bi.fb.addr, 0xb8000);
	assert_int_equal(bi.fb.pitch, 160);
	assert_int_equal(bi.fb.width, 80);
	assert_int_equal(bi.fb.height, 25);
	assert_int_equal(bi.fb.bpp, 16);
	assert_int_equal(bi.fb.type, MB_FB_TYPE_EGA_TEXT);
	assert_int_equal(bi.fb.red_size + bi.fb.green_size + bi.fb.blue_size, 0);

	setup(NULL);
	fb = mb2_add(MB2_TAG_FRAMEBUFFER, offsetof(struct mb2_tag_framebuffer, red_pos) + 3);
	fb->fb_type = MB_FB_TYPE_RGB;
	fb->bpp = 32;
	memset((u8 *)fb + offsetof(struct mb2_tag_framebuffer, red_pos), 9, 3);
	mb2_finish();
	assert_int_equal(parse2(), 0);
	assert_true(bi.has_fb);
	assert_int_equal(bi.fb.type, MB_FB_TYPE_RGB);
	assert_int_equal(bi.fb.red_pos + bi.fb.red_size + bi.fb.green_pos, 0);
}

/* More modules than BOOTINFO_MAX_MODULES: the first ones are kept. */
static void test_mb2_modules(void **state)
{
	(void)state;
	char name[16];

	for (u32 i = 0; i < BOOTINFO_MAX_MODULES + 2; i++) {
		snprintf(name, sizeof(name), "mod%u", i);
		mb2_module(0x400000 + i * 0x1000, 0x400800 + i * 0x1000, name);
	}
	mb2_module(0x900000, 0x900000, ""); /* an empty name is still terminated */
	mb2_finish();
	assert_int_equal(parse2(), 0);
	assert_int_equal(bi.nmodules, BOOTINFO_MAX_MODULES);
	for (u32 i = 0; i < BOOTINFO_MAX_MODULES; i++) {
		snprintf(name, sizeof(name), "mod%u", i);
		assert_string_equal(bi.modules[i].name, name);
		assert_int_equal(bi.modules[i].start, 0x400000 + i * 0x1000);
		assert_int_equal(bi.modules[i].end, 0x400800 + i * 0x1000);
	}
}

/* Parsing stops at the end tag: what follows is not looked at, even inside total_size. */
static void test_mb2_stops_at_end_tag(void **state)
{
	(void)state;
	struct mb2_tag *junk;

	mb2_basic();
	mb2_add(MB2_TAG_END, 8);
	junk = mb2_add(MB2_TAG_CMDLINE, 4); /* malformed, but after the end */
	junk->size = 2;
	mb2_header()->total_size = mb2_len;
	assert_int_equal(parse2(), 0);
	assert_string_equal(bi.cmdline, "/boot/k.elf mode=info");
	assert_int_equal(bi.nmmap, 2);
}

/* ---- memory map limits and usable bytes ---- */

static void fill_entries(struct mb2_mmap_entry *e, u32 n)
{
	for (u32 i = 0; i < n; i++)
		e[i] = (struct mb2_mmap_entry){ (u64)i << 20, 0x1000 + i, i % 3 ? MB_MEMORY_AVAILABLE
									   : MB_MEMORY_RESERVED, 0 };
}

static void test_mb2_mmap_truncated(void **state)
{
	(void)state;
	static struct mb2_mmap_entry e[BOOTINFO_MAX_MMAP + 40];
	u64 usable = 0;

	fill_entries(e, ARRAY_SIZE(e));

	/* Exactly the maximum is not truncated. */
	mb2_mmap(24, e, BOOTINFO_MAX_MMAP);
	mb2_finish();
	assert_int_equal(parse2(), 0);
	assert_int_equal(bi.nmmap, BOOTINFO_MAX_MMAP);
	assert_false(bi.mmap_truncated);

	/* One more is. */
	setup(NULL);
	mb2_mmap(24, e, BOOTINFO_MAX_MMAP + 1);
	mb2_finish();
	assert_int_equal(parse2(), 0);
	assert_int_equal(bi.nmmap, BOOTINFO_MAX_MMAP);
	assert_true(bi.mmap_truncated);

	/* Split over two tags, 32-byte entries: the first BOOTINFO_MAX_MMAP are kept in order. */
	setup(NULL);
	mb2_mmap(32, e, 100);
	mb2_mmap(32, e + 100, ARRAY_SIZE(e) - 100);
	mb2_finish();
	assert_int_equal(parse2(), 0);
	assert_int_equal(bi.nmmap, BOOTINFO_MAX_MMAP);
	assert_true(bi.mmap_truncated);
	for (u32 i = 0; i < BOOTINFO_MAX_MMAP; i++) {
		assert_int_equal(bi.mmap[i].addr, e[i].addr);
		assert_int_equal(bi.mmap[i].len, e[i].len);
		assert_int_equal(bi.mmap[i].type, e[i].type);
		if (e[i].type == MB_MEMORY_AVAILABLE)
			usable += e[i].len;
	}
	assert_int_equal(bootinfo_usable_bytes(&bi), usable);
}

static void test_usable_bytes(void **state)
{
	(void)state;
	static const u32 types[] = { MB_MEMORY_AVAILABLE, MB_MEMORY_RESERVED, MB_MEMORY_ACPI_RECLAIMABLE,
				     MB_MEMORY_NVS, MB_MEMORY_BADRAM, 0, 7, MB_MEMORY_AVAILABLE };

	memset(&bi, 0, sizeof(bi));
	assert_int_equal(bootinfo_usable_bytes(&bi), 0);
	for (u32 i = 0; i < ARRAY_SIZE(types); i++)
		bi.mmap[bi.nmmap++] = (struct bootinfo_mmap){ 0, 0x100000000ull << i, types[i] };
	assert_int_equal(bootinfo_usable_bytes(&bi), 0x100000000ull + (0x100000000ull << 7));

	/* Entries past nmmap are not counted. */
	bi.nmmap = 1;
	bi.mmap[1].type = MB_MEMORY_AVAILABLE;
	assert_int_equal(bootinfo_usable_bytes(&bi), 0x100000000ull);
}

/* ---- Multiboot2: malformed lists ---- */

static void test_mb2_bad_total_size(void **state)
{
	(void)state;
	static const u32 bad[] = { 0, 8, 15, (1u << 20) + 8, 0x80000000u, 0xffffffffu };

	for (u32 i = 0; i < ARRAY_SIZE(bad); i++) {
		setup(NULL);
		mb2_basic();
		mb2_finish();
		mb2_header()->total_size = bad[i];
		reject2();
	}

	/* With a loader that maps everything, a huge size is still refused; 1 MiB is not huge. */
	static const u32 huge[] = { (1u << 20) + 8, 0x80000000u, 0xfffffff8u };

	setup(NULL);
	mb2_basic();
	mb2_finish();
	for (u32 i = 0; i < ARRAY_SIZE(huge); i++) {
		mb2_header()->total_size = huge[i];
		memset(err, 'X', sizeof(err));
		assert_int_equal(bootinfo_parse(&bi, MB2_BOOTLOADER_MAGIC, MEM_BASE, map_any_len, err,
						sizeof(err)),
				 -1);
		check_err();
	}
	mb2_header()->total_size = 1u << 20;
	assert_int_equal(bootinfo_parse(&bi, MB2_BOOTLOADER_MAGIC, MEM_BASE, map_any_len, err,
					sizeof(err)),
			 0);
	assert_int_equal(bi.nmmap, 2);
}

static void test_mb2_bad_tag_size(void **state)
{
	(void)state;
	static const u32 bad[] = { 0, 1, 4, 7 };

	for (u32 i = 0; i < ARRAY_SIZE(bad); i++) {
		struct mb2_tag *t;

		setup(NULL);
		mb2_basic();
		t = mb2_add(0x7777, 8);
		mb2_finish();
		assert_int_equal(parse2(), 0);

		setup(NULL);
		mb2_basic();
		t = mb2_add(0x7777, 8);
		mb2_finish();
		t->size = bad[i];
		reject2();
	}

	/* An end tag with a bad size is still a bad size. */
	setup(NULL);
	mb2_finish();
	((struct mb2_tag *)(mem + 8))->size = 4;
	reject2();
}

static void test_mb2_tag_past_total(void **state)
{
	(void)state;
	struct mb2_tag_string *t;

	/* The last tag before the end claims to run past total_size. */
	t = mb2_string(MB2_TAG_CMDLINE, "mode=info");
	mb2_finish();
	t->size = mb2_len; /* 8 (header) more than fits */
	reject2();

	/* total_size cuts a tag in half (and the end tag off). */
	setup(NULL);
	mb2_basic();
	mb2_finish();
	mb2_header()->total_size = 8 + 24;
	reject2();

	/* A tag size that would wrap a 32-bit offset. */
	setup(NULL);
	t = mb2_string(MB2_TAG_CMDLINE, "mode=info");
	mb2_finish();
	t->size = 0xfffffff8u;
	reject2();
}

static void test_mb2_missing_end_tag(void **state)
{
	(void)state;

	/* No end tag at all. */
	mb2_basic();
	mb2_header()->total_size = mb2_len;
	reject2();

	/* Only half of the end tag inside total_size. */
	setup(NULL);
	mb2_basic();
	mb2_finish();
	mb2_header()->total_size -= 4;
	reject2();

	/* Nothing but the header. */
	setup(NULL);
	mb2_header()->total_size = 16;
	mb2_add(0x7777, 8);
	reject2();
}

static void test_mb2_unterminated_strings(void **state)
{
	(void)state;
	static const u32 types[] = { MB2_TAG_CMDLINE, MB2_TAG_LOADER_NAME };

	for (u32 i = 0; i < ARRAY_SIZE(types); i++) {
		struct mb2_tag_string *t;

		/* The terminator just outside the tag (in the padding) does not count. */
		setup(NULL);
		t = mb2_string(types[i], "mode=info");
		t->size--;
		mb2_finish();
		reject2();

		/* No body at all. */
		setup(NULL);
		mb2_add(types[i], 8);
		mb2_finish();
		reject2();

		/* A full body with no NUL, and the next tag's bytes right behind it. */
		setup(NULL);
		t = mb2_add(types[i], 16);
		memset(t->string, 'a', 8);
		mb2_finish();
		reject2();
	}

	/* A module name that is not terminated, and a module tag too short for its fields. */
	setup(NULL);
	{
		struct mb2_tag_module *m = mb2_module(0x1000, 0x2000, "abc");

		m->size--;
	}
	mb2_finish();
	reject2();

	setup(NULL);
	mb2_add(MB2_TAG_MODULE, 16);
	mb2_finish();
	reject2();
}

static void test_mb2_bad_mmap(void **state)
{
	(void)state;
	static const u32 bad[] = { 0, 1, 20, 23 };
	static const struct mb2_mmap_entry e[2] = { { 0, 0x1000, 1, 0 }, { 0x1000, 0x1000, 1, 0 } };

	for (u32 i = 0; i < ARRAY_SIZE(bad); i++) {
		struct mb2_tag_mmap *t;

		setup(NULL);
		t = mb2_mmap(24, e, 2);
		mb2_finish();
		t->entry_size = bad[i];
		reject2();
	}

	/* A tag too short for entry_size and entry_version. */
	setup(NULL);
	mb2_add(MB2_TAG_MMAP, 12);
	mb2_finish();
	reject2();
}

/* Found by fuzzing (tests/fuzz/fuzz_mb2.c): a memory map tag too short to hold entry_size, as
 * the last bytes of the information, is rejected without reading entry_size past the end. */
static void test_mb2_short_mmap_tag_at_end(void **state)
{
	(void)state;

	for (u32 size = sizeof(struct mb2_tag); size < sizeof(struct mb2_tag_mmap); size++) {
		char want[64];

		setup(NULL);
		mb2_add(MB2_TAG_MMAP, size);
		mb2_header()->total_size = mb2_len; /* no end tag: the tag ends the mapping */
		reject2();
		snprintf(want, sizeof(want), "multiboot2: memory map tag of size %u", size);
		assert_string_equal(err, want);
	}
}

static void test_mb2_short_acpi(void **state)
{
	(void)state;
	static const u32 types[] = { MB2_TAG_ACPI_OLD, MB2_TAG_ACPI_NEW };
	static const u32 lens[] = { 0, 8, 19 };

	for (u32 i = 0; i < ARRAY_SIZE(types); i++)
		for (u32 j = 0; j < ARRAY_SIZE(lens); j++) {
			setup(NULL);
			mb2_basic();
			mb2_acpi(MB2_TAG_ACPI_OLD, 0, 20); /* a good one first does not help */
			mb2_add(types[i], 8 + lens[j]);
			mb2_finish();
			reject2();
		}
}

static void test_mb2_short_framebuffer(void **state)
{
	(void)state;
	mb2_add(MB2_TAG_FRAMEBUFFER, offsetof(struct mb2_tag_framebuffer, red_pos) - 1);
	mb2_finish();
	reject2();
}

static void test_mb2_bad_address(void **state)
{
	(void)state;
	static const u32 misalign[] = { 1, 2, 4, 7 };

	/* A well-formed list, copied to addresses that are not 8-byte aligned. */
	mb2_basic();
	mb2_finish();
	for (u32 i = 0; i < ARRAY_SIZE(misalign); i++) {
		u32 at = MEM_SIZE / 2 + misalign[i];

		memcpy(mem + at, mem, mb2_len);
		memset(err, 'X', sizeof(err));
		assert_int_equal(bootinfo_parse(&bi, MB2_BOOTLOADER_MAGIC, MEM_BASE + at, map, err,
						sizeof(err)),
				 -1);
		check_err();
	}
	assert_int_equal(bootinfo_parse(&bi, MB2_BOOTLOADER_MAGIC, MEM_BASE, map, err, sizeof(err)), 0);

	/* Header not mapped at all. */
	static const u64 unmapped[] = { 0, 0x1000, MEM_BASE - 8, MEM_BASE + MEM_SIZE,
					0xfffffffffffffff8ull };

	for (u32 i = 0; i < ARRAY_SIZE(unmapped); i++) {
		memset(err, 'X', sizeof(err));
		assert_int_equal(bootinfo_parse(&bi, MB2_BOOTLOADER_MAGIC, unmapped[i], map, err,
						sizeof(err)),
				 -1);
		check_err();
	}

	/* Header mapped, but total_size runs past the end of mapped memory. */
	assert_int_equal(parse2(), 0);
	((struct mb2_info_header *)info)->total_size += 8;
	memset(err, 'X', sizeof(err));
	assert_int_equal(bootinfo_parse(&bi, MB2_BOOTLOADER_MAGIC, phys_of(info), map, err, sizeof(err)),
			 -1);
	check_err();
}

static void test_unknown_magic(void **state)
{
	(void)state;
	static const u32 magic[] = { 0, 0x12345678, MB2_HEADER_MAGIC, MB1_HEADER_MAGIC,
				     MB2_BOOTLOADER_MAGIC + 1 };

	mb2_basic();
	mb2_finish();
	for (u32 i = 0; i < ARRAY_SIZE(magic); i++) {
		memset(err, 'X', sizeof(err));
		assert_int_equal(bootinfo_parse(&bi, magic[i], MEM_BASE, map, err, sizeof(err)), -1);
		check_err();
	}
}

/* The reason is cut to the buffer and stays terminated; nothing past it is written. */
static void test_error_fits_buffer(void **state)
{
	(void)state;
	char small[12];

	memset(small, 'X', sizeof(small));
	assert_int_equal(bootinfo_parse(&bi, 0x12345678, MEM_BASE, map, small, 8), -1);
	assert_int_equal(strlen(small), 7);
	assert_int_equal(small[8], 'X');
	assert_int_equal(small[11], 'X');
}

/* ---- Multiboot v1 ---- */

#define MB1_INFO 0x100
#define MB1_CMDLINE 0x400
#define MB1_LOADER 0x500
#define MB1_MMAP 0x800

static struct mb1_info *mb1(void)
{
	return (struct mb1_info *)(mem + MB1_INFO);
}

static int parse1(void)
{
	return bootinfo_parse(&bi, MB1_BOOTLOADER_MAGIC, MEM_BASE + MB1_INFO, map, err, sizeof(err));
}

static void reject1(void)
{
	assert_int_equal(parse1(), -1);
	check_err();
}

/* Append a memory map entry whose 'size' field is size (not counting itself). */
static u32 mb1_entry(u32 off, u32 size, u64 addr, u64 len, u32 type)
{
	struct mb1_mmap_entry *e = (void *)(mem + MB1_MMAP + off);

	memset(e, 0xee, size + 4);
	e->size = size;
	e->addr = addr;
	e->len = len;
	e->type = type;
	return off + size + 4;
}

static void test_mb1_full(void **state)
{
	(void)state;
	struct mb1_info *mi = mb1();
	u32 off = 0;

	strcpy((char *)mem + MB1_CMDLINE, "build/tlbstorm.elf mode=info");
	strcpy((char *)mem + MB1_LOADER, "qemu");
	off = mb1_entry(off, 20, 0, 0x9fc00, MB_MEMORY_AVAILABLE);
	off = mb1_entry(off, 28, 0x9fc00, 0x400, MB_MEMORY_RESERVED); /* 8 extra bytes */
	off = mb1_entry(off, 20, 0x100000, 0x7ee0000, MB_MEMORY_AVAILABLE);
	off = mb1_entry(off, 20, 0xfffc0000, 0x40000, MB_MEMORY_RESERVED);
	mi->flags = MB1_INFO_MEMORY | MB1_INFO_CMDLINE | MB1_INFO_LOADER_NAME | MB1_INFO_MMAP |
		    MB1_INFO_FRAMEBUFFER;
	mi->mem_lower = 639;
	mi->mem_upper = 130048;
	mi->cmdline = MEM_BASE + MB1_CMDLINE;
	mi->boot_loader_name = MEM_BASE + MB1_LOADER;
	mi->mmap_addr = MEM_BASE + MB1_MMAP;
	mi->mmap_length = off;
	mi->framebuffer_addr = 0xfd000000;
	mi->framebuffer_pitch = 3200;
	mi->framebuffer_width = 800;
	mi->framebuffer_height = 600;
	mi->framebuffer_bpp = 32;
	mi->framebuffer_type = MB_FB_TYPE_RGB;
	memcpy(mi->color_info, (const u8[]){ 16, 8, 8, 8, 0, 8 }, 6);

	assert_int_equal(parse1(), 0);
	assert_int_equal(bi.protocol, 1);
	assert_ptr_equal(bi.cmdline, mem + MB1_CMDLINE);
	assert_string_equal(bi.cmdline, "build/tlbstorm.elf mode=info");
	assert_string_equal(bi.args, "mode=info");
	assert_ptr_equal(bi.loader, mem + MB1_LOADER);
	assert_string_equal(bi.loader, "qemu");

	assert_int_equal(bi.nmmap, 4);
	assert_false(bi.mmap_truncated);
	assert_int_equal(bi.mmap[0].addr, 0);
	assert_int_equal(bi.mmap[0].len, 0x9fc00);
	assert_int_equal(bi.mmap[0].type, MB_MEMORY_AVAILABLE);
	assert_int_equal(bi.mmap[1].addr, 0x9fc00);
	assert_int_equal(bi.mmap[1].len, 0x400);
	assert_int_equal(bi.mmap[1].type, MB_MEMORY_RESERVED);
	assert_int_equal(bi.mmap[2].addr, 0x100000);
	assert_int_equal(bi.mmap[2].len, 0x7ee0000);
	assert_int_equal(bi.mmap[2].type, MB_MEMORY_AVAILABLE);
	assert_int_equal(bi.mmap[3].addr, 0xfffc0000);
	assert_int_equal(bi.mmap[3].type, MB_MEMORY_RESERVED);
	assert_int_equal(bootinfo_usable_bytes(&bi), 0x9fc00 + 0x7ee0000);

	assert_true(bi.has_fb);
	assert_int_equal(bi.fb.addr, 0xfd000000);
	assert_int_equal(bi.fb.pitch, 3200);
	assert_int_equal(bi.fb.width, 800);
	assert_int_equal(bi.fb.height, 600);
	assert_int_equal(bi.fb.bpp, 32);
	assert_int_equal(bi.fb.type, MB_FB_TYPE_RGB);
	assert_int_equal(bi.fb.red_pos, 16);
	assert_int_equal(bi.fb.red_size, 8);
	assert_int_equal(bi.fb.green_pos, 8);
	assert_int_equal(bi.fb.green_size, 8);
	assert_int_equal(bi.fb.blue_pos, 0);
	assert_int_equal(bi.fb.blue_size, 8);

	assert_null(bi.rsdp);
	assert_false(bi.efi);
	assert_int_equal(bi.nmodules, 0);
}

/* Fields whose flag is clear are not read, however bad they are. */
static void test_mb1_flags_respected(void **state)
{
	(void)state;
	struct mb1_info *mi = mb1();

	mi->flags = MB1_INFO_MEMORY;
	mi->cmdline = 0xdead0000;
	mi->boot_loader_name = 0xdead0000;
	mi->mmap_addr = 0xdead0000;
	mi->mmap_length = 0x1000;
	mi->framebuffer_addr = 0xfd000000;
	mi->framebuffer_type = MB_FB_TYPE_RGB;
	assert_int_equal(parse1(), 0);
	assert_int_equal(bi.protocol, 1);
	assert_string_equal(bi.cmdline, "");
	assert_string_equal(bi.args, "");
	assert_string_equal(bi.loader, "");
	assert_int_equal(bi.nmmap, 0);
	assert_false(bi.has_fb);
}

/* An EGA text framebuffer carries no colour info. */
static void test_mb1_text_framebuffer(void **state)
{
	(void)state;
	struct mb1_info *mi = mb1();

	mi->flags = MB1_INFO_FRAMEBUFFER;
	mi->framebuffer_addr = 0xb8000;
	mi->framebuffer_pitch = 160;
	mi->framebuffer_width = 80;
	mi->framebuffer_height = 25;
	mi->framebuffer_bpp = 16;
	mi->framebuffer_type = MB_FB_TYPE_EGA_TEXT;
	memset(mi->color_info, 7, 6);
	assert_int_equal(parse1(), 0);
	assert_true(bi.has_fb);
	assert_int_equal(bi.fb.addr, 0xb8000);
	assert_int_equal(bi.fb.type, MB_FB_TYPE_EGA_TEXT);
	assert_int_equal(bi.fb.width, 80);
	assert_int_equal(bi.fb.red_pos + bi.fb.red_size + bi.fb.blue_size, 0);
}

static void test_mb1_mmap(void **state)
{
	(void)state;
	struct mb1_info *mi = mb1();
	u32 off = 0;

	/* A trailing partial entry is ignored. */
	off = mb1_entry(off, 20, 0, 0x1000, MB_MEMORY_AVAILABLE);
	mi->flags = MB1_INFO_MMAP;
	mi->mmap_addr = MEM_BASE + MB1_MMAP;
	mi->mmap_length = off + 12;
	assert_int_equal(parse1(), 0);
	assert_int_equal(bi.nmmap, 1);

	/* More than BOOTINFO_MAX_MMAP entries. */
	off = 0;
	for (u32 i = 0; i < BOOTINFO_MAX_MMAP + 5; i++)
		off = mb1_entry(off, 20, (u64)i << 12, 0x1000, MB_MEMORY_AVAILABLE);
	mi->mmap_length = off;
	assert_int_equal(parse1(), 0);
	assert_int_equal(bi.nmmap, BOOTINFO_MAX_MMAP);
	assert_true(bi.mmap_truncated);
	assert_int_equal(bi.mmap[BOOTINFO_MAX_MMAP - 1].addr, (u64)(BOOTINFO_MAX_MMAP - 1) << 12);
	assert_int_equal(bootinfo_usable_bytes(&bi), BOOTINFO_MAX_MMAP * 0x1000ull);

	/* An entry whose size does not cover addr, len and type. */
	static const u32 bad[] = { 0, 16, 19 };

	for (u32 i = 0; i < ARRAY_SIZE(bad); i++) {
		off = mb1_entry(0, 20, 0, 0x1000, MB_MEMORY_AVAILABLE);
		off = mb1_entry(off, 20, 0x1000, 0x1000, MB_MEMORY_AVAILABLE);
		((struct mb1_mmap_entry *)(mem + MB1_MMAP + 24))->size = bad[i];
		mi->mmap_length = off;
		reject1();
	}

	/* The map itself not mapped. */
	mi->mmap_addr = MEM_BASE + MEM_SIZE - 16;
	mi->mmap_length = 48;
	reject1();
}

/* Found by fuzzing (tests/fuzz/fuzz_mb1.c): an entry size of 0xfffffffc made the step to the
 * next entry (size + 4) wrap to 0 in 32 bits, so the parser looped on that entry for ever. */
static void test_mb1_mmap_entry_size_wraps(void **state)
{
	(void)state;
	struct mb1_info *mi = mb1();
	struct mb1_mmap_entry huge = { 0xfffffffc, 0x1000, 0x1000, MB_MEMORY_AVAILABLE };
	u32 off = mb1_entry(0, 20, 0, 0x1000, MB_MEMORY_AVAILABLE);

	memcpy(mem + MB1_MMAP + off, &huge, sizeof(huge));
	mi->flags = MB1_INFO_MMAP;
	mi->mmap_addr = MEM_BASE + MB1_MMAP;
	mi->mmap_length = off + sizeof(huge);
	alarm(10); /* a hang fails the test instead of stalling `make unit-tests` */
	assert_int_equal(parse1(), 0);
	alarm(0);
	assert_int_equal(bi.nmmap, 2);
	assert_int_equal(bi.mmap[1].addr, 0x1000);
	assert_int_equal(bootinfo_usable_bytes(&bi), 0x2000);
}

static void test_mb1_bad_strings(void **state)
{
	(void)state;
	struct mb1_info *mi = mb1();

	strcpy((char *)mem + MB1_CMDLINE, "mode=info");
	strcpy((char *)mem + MB1_LOADER, "qemu");
	mi->flags = MB1_INFO_CMDLINE | MB1_INFO_LOADER_NAME;
	mi->cmdline = MEM_BASE + MB1_CMDLINE;
	mi->boot_loader_name = MEM_BASE + MB1_LOADER;
	assert_int_equal(parse1(), 0);
	assert_string_equal(bi.args, "mode=info");
	assert_string_equal(bi.loader, "qemu");

	/* Loader name not mapped. */
	mi->boot_loader_name = 0x2000;
	reject1();
	mi->boot_loader_name = MEM_BASE + MEM_SIZE;
	reject1();
	mi->boot_loader_name = 0xfffffff0u;
	reject1();

	/* No terminator before the end of memory. */
	memset(mem + 0x2000, 'a', MEM_SIZE - 0x2000);
	mi->boot_loader_name = MEM_BASE + 0x2000;
	reject1();

	/* Longest accepted: 4095 characters; one more is too long. */
	mem[0x2000 + 4095] = '\0';
	assert_int_equal(parse1(), 0);
	assert_int_equal(strlen(bi.loader), 4095);
	mem[0x2000 + 4095] = 'a';
	mem[0x2000 + 4096] = '\0';
	reject1();

	/* A short string in the last 16 bytes of memory is still found. */
	memcpy(mem + MEM_SIZE - 16, "GNU GRUB 0.97", 14);
	mi->boot_loader_name = MEM_BASE + MEM_SIZE - 16;
	assert_int_equal(parse1(), 0);
	assert_string_equal(bi.loader, "GNU GRUB 0.97");
	assert_string_equal(bi.cmdline, "mode=info");
}

/* Regression: an unmapped or unterminated Multiboot v1 command line is rejected and leaves
 * cmdline and args non-NULL (they were once left NULL and dereferenced). */
static void test_mb1_bad_cmdline(void **state)
{
	(void)state;
	struct mb1_info *mi = mb1();

	mi->flags = MB1_INFO_CMDLINE;
	mi->cmdline = 0x2000; /* not mapped */
	reject1();
	assert_non_null(bi.cmdline);
	mi->cmdline = MEM_BASE + MEM_SIZE;
	reject1();

	memset(mem + 0x2000, 'a', MEM_SIZE - 0x2000); /* not terminated */
	mi->cmdline = MEM_BASE + 0x2000;
	reject1();
	assert_non_null(bi.cmdline);
	assert_non_null(bi.args);
}

static void test_mb1_unmapped_info(void **state)
{
	(void)state;
	static const u64 bad[] = { 0, MEM_BASE - 4, MEM_BASE + MEM_SIZE - sizeof(struct mb1_info) + 1,
				   MEM_BASE + MEM_SIZE, ~0ull };

	for (u32 i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(err, 'X', sizeof(err));
		assert_int_equal(bootinfo_parse(&bi, MB1_BOOTLOADER_MAGIC, bad[i], map, err, sizeof(err)),
				 -1);
		check_err();
	}

	/* The info structure ending exactly at the end of memory is fine. */
	assert_int_equal(bootinfo_parse(&bi, MB1_BOOTLOADER_MAGIC,
					MEM_BASE + MEM_SIZE - sizeof(struct mb1_info), map, err,
					sizeof(err)),
			 0);
}

/* ---- the arguments after the image path ---- */

static void test_args(void **state)
{
	(void)state;
	static const struct {
		const char *cmdline, *args;
	} cases[] = {
		{ "/boot/x.elf mode=info", "mode=info" },
		{ "/boot/k.elf", "" },
		{ "build/tlbstorm.elf mode=selftest test=pf", "mode=selftest test=pf" },
		{ "mode=info", "mode=info" },
		{ "mode=info /boot/x.elf", "mode=info /boot/x.elf" },
		{ "", "" },
		{ "kernel mode=x", "kernel mode=x" },
		{ "path=/boot/x mode=x", "path=/boot/x mode=x" },
		{ "  /boot/x.elf   mode=info  pause", "mode=info  pause" },
		{ "   mode=info", "mode=info" },
		{ "   ", "" },
	};

	for (u32 i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *c = cases[i].cmdline;

		/* Multiboot2 */
		setup(NULL);
		mb2_string(MB2_TAG_CMDLINE, c);
		mb2_finish();
		assert_int_equal(parse2(), 0);
		assert_string_equal(bi.cmdline, c);
		assert_string_equal(bi.args, cases[i].args);
		assert_true(bi.args >= bi.cmdline && bi.args <= bi.cmdline + strlen(c));

		/* Multiboot v1 */
		setup(NULL);
		strcpy((char *)mem + MB1_CMDLINE, c);
		mb1()->flags = MB1_INFO_CMDLINE;
		mb1()->cmdline = MEM_BASE + MB1_CMDLINE;
		assert_int_equal(parse1(), 0);
		assert_string_equal(bi.cmdline, c);
		assert_string_equal(bi.args, cases[i].args);
	}
}

#define T(f) cmocka_unit_test_setup(f, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_mb2_well_formed),
		T(test_mb2_minimal),
		T(test_mb2_reparse_resets),
		T(test_mb2_mmap_entry_size_32),
		T(test_mb2_acpi_new_wins),
		T(test_mb2_acpi_old_only),
		T(test_mb2_efi32),
		T(test_mb2_framebuffer_without_colour),
		T(test_mb2_modules),
		T(test_mb2_stops_at_end_tag),
		T(test_mb2_mmap_truncated),
		T(test_usable_bytes),
		T(test_mb2_bad_total_size),
		T(test_mb2_bad_tag_size),
		T(test_mb2_tag_past_total),
		T(test_mb2_missing_end_tag),
		T(test_mb2_unterminated_strings),
		T(test_mb2_bad_mmap),
		T(test_mb2_short_mmap_tag_at_end),
		T(test_mb2_short_acpi),
		T(test_mb2_short_framebuffer),
		T(test_mb2_bad_address),
		T(test_unknown_magic),
		T(test_error_fits_buffer),
		T(test_mb1_full),
		T(test_mb1_flags_respected),
		T(test_mb1_text_framebuffer),
		T(test_mb1_mmap),
		T(test_mb1_mmap_entry_size_wraps),
		T(test_mb1_bad_strings),
		T(test_mb1_bad_cmdline),
		T(test_mb1_unmapped_info),
		T(test_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
