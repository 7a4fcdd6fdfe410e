/* Boot information parsing: Multiboot2 tags (Multiboot2 spec 3.6) and the Multiboot v1 info
 * structure (Multiboot 0.6.96 3.3). Pure logic, also unit-tested on the host; every length
 * the loader gives is checked before it is trusted. */
#include "boot/bootinfo.h"
#include "boot/multiboot2.h"
#include "kernel/printf.h"
#include "kernel/string.h"

#include <stdarg.h>

#define MB2_MAX_TOTAL (1u << 20) /* far more than any loader passes; bounds a corrupt size */
#define MB1_MAX_STRING 4096

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	kvsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

static void add_used(struct bootinfo *bi, u64 addr, u64 len)
{
	if (bi->nused < BOOTINFO_MAX_USED && len)
		bi->used[bi->nused++] = (struct bootinfo_mmap){ addr, len, 0 };
}

static void add_mmap(struct bootinfo *bi, u64 addr, u64 len, u32 type)
{
	if (bi->nmmap == BOOTINFO_MAX_MMAP) {
		bi->mmap_truncated = true;
		return;
	}
	bi->mmap[bi->nmmap++] = (struct bootinfo_mmap){ addr, len, type };
}

/* A string field inside a tag must be NUL-terminated within the tag. */
static const char *tag_string(const char *s, u32 avail)
{
	return avail && strnlen(s, avail) < avail ? s : NULL;
}

static int mb2_mmap(struct bootinfo *bi, const struct mb2_tag_mmap *t, char *err, size_t elen)
{
	const u8 *p = (const u8 *)(t + 1), *end = (const u8 *)t + t->size;

	/* entry_size is only there when the tag holds it: a shorter tag may end the mapping */
	if (t->size < sizeof(*t))
		return fail(err, elen, "multiboot2: memory map tag of size %u", t->size);
	if (t->entry_size < sizeof(struct mb2_mmap_entry))
		return fail(err, elen, "multiboot2: memory map tag with entry size %u (size %u)",
			    t->entry_size, t->size);
	for (; (size_t)(end - p) >= t->entry_size; p += t->entry_size) {
		const struct mb2_mmap_entry *e = (const void *)p;

		add_mmap(bi, e->addr, e->len, e->type);
	}
	return 0;
}

static int mb2_framebuffer(struct bootinfo *bi, const struct mb2_tag_framebuffer *t, char *err,
			   size_t elen)
{
	if (t->size < offsetof(struct mb2_tag_framebuffer, red_pos))
		return fail(err, elen, "multiboot2: framebuffer tag of size %u", t->size);
	bi->has_fb = true;
	bi->fb = (struct bootinfo_fb){ .addr = t->addr, .pitch = t->pitch, .width = t->width,
				       .height = t->height, .bpp = t->bpp, .type = t->fb_type };
	if (t->fb_type == MB_FB_TYPE_RGB && t->size >= sizeof(*t)) {
		bi->fb.red_pos = t->red_pos, bi->fb.red_size = t->red_size;
		bi->fb.green_pos = t->green_pos, bi->fb.green_size = t->green_size;
		bi->fb.blue_pos = t->blue_pos, bi->fb.blue_size = t->blue_size;
	}
	return 0;
}

static int mb2_tag(struct bootinfo *bi, const struct mb2_tag *tag, char *err, size_t elen)
{
	u32 body = tag->size - sizeof(*tag);
	const struct mb2_tag_module *mod;

	switch (tag->type) {
	case MB2_TAG_CMDLINE:
	case MB2_TAG_LOADER_NAME: {
		const char *s = tag_string(((const struct mb2_tag_string *)tag)->string, body);

		if (!s)
			return fail(err, elen, "multiboot2: string tag %u is not terminated",
				    tag->type);
		if (tag->type == MB2_TAG_CMDLINE)
			bi->cmdline = s;
		else
			bi->loader = s;
		return 0;
	}
	case MB2_TAG_MMAP:
		return mb2_mmap(bi, (const struct mb2_tag_mmap *)tag, err, elen);
	case MB2_TAG_FRAMEBUFFER:
		return mb2_framebuffer(bi, (const struct mb2_tag_framebuffer *)tag, err, elen);
	case MB2_TAG_ACPI_OLD:
	case MB2_TAG_ACPI_NEW:
		if (body < 20)
			return fail(err, elen, "multiboot2: ACPI tag %u of size %u", tag->type,
				    tag->size);
		/* Prefer the ACPI 2.0 copy (it can point at the XSDT) whichever comes first. */
		if (!bi->rsdp || tag->type == MB2_TAG_ACPI_NEW) {
			bi->rsdp = ((const struct mb2_tag_acpi *)tag)->rsdp;
			bi->rsdp_len = body;
		}
		return 0;
	case MB2_TAG_EFI32:
	case MB2_TAG_EFI64:
		bi->efi = true;
		return 0;
	case MB2_TAG_MODULE:
		mod = (const struct mb2_tag_module *)tag;
		if (body < 8 || !tag_string(mod->string, body - 8))
			return fail(err, elen, "multiboot2: module tag of size %u", tag->size);
		if (bi->nmodules < BOOTINFO_MAX_MODULES)
			bi->modules[bi->nmodules++] = (struct bootinfo_module){ mod->mod_start, mod->mod_end,
										 mod->string };
		if (mod->mod_end > mod->mod_start)
			add_used(bi, mod->mod_start, mod->mod_end - mod->mod_start);
		return 0;
	default:
		return 0; /* tags we do not use */
	}
}

static int parse_mb2(struct bootinfo *bi, u64 info_phys, bootinfo_map_fn map, char *err, size_t elen)
{
	const struct mb2_info_header *h;
	const u8 *base;
	u32 off, total;

	if (info_phys & 7)
		return fail(err, elen, "multiboot2: information at %#lx is not 8-byte aligned",
			    info_phys);
	h = map(info_phys, sizeof(*h));
	if (!h)
		return fail(err, elen, "multiboot2: information at %#lx is not mapped", info_phys);
	total = h->total_size;
	if (total < sizeof(*h) + sizeof(struct mb2_tag) || total > MB2_MAX_TOTAL)
		return fail(err, elen, "multiboot2: total size %u out of range (16..%u)", total,
			    MB2_MAX_TOTAL);
	base = map(info_phys, total);
	if (!base)
		return fail(err, elen, "multiboot2: information of %u bytes at %#lx is not mapped",
			    total, info_phys);
	add_used(bi, info_phys, total);
	for (off = sizeof(*h); off + sizeof(struct mb2_tag) <= total;) {
		const struct mb2_tag *tag = (const void *)(base + off);

		if (tag->size < sizeof(*tag) || tag->size > total - off)
			return fail(err, elen, "multiboot2: tag at offset %u has bad size %u", off,
				    tag->size);
		if (tag->type == MB2_TAG_END)
			return 0;
		if (mb2_tag(bi, tag, err, elen))
			return -1;
		off += ALIGN_UP(tag->size, 8u);
	}
	return fail(err, elen, "multiboot2: no end tag within %u bytes", total);
}

/* A NUL-terminated string of at most MB1_MAX_STRING bytes at phys, mapped byte by byte so
 * that a short string just below the end of mapped memory is still found. */
static const char *mb1_string(u32 phys, bootinfo_map_fn map)
{
	const char *s = map(phys, 1);

	if (!s)
		return NULL;
	for (u32 len = 1; len <= MB1_MAX_STRING; len++) {
		const char *c = map(phys, len);

		if (!c)
			return NULL;
		if (!c[len - 1])
			return c;
	}
	return NULL;
}

/* An optional string of the v1 information: point *dst at it and keep its bytes reserved. */
static int mb1_take_string(struct bootinfo *bi, u32 phys, bootinfo_map_fn map, const char **dst,
			   const char *what, char *err, size_t elen)
{
	const char *s = mb1_string(phys, map);

	if (!s)
		return fail(err, elen, "multiboot: %s at %#x unreadable or unterminated", what, phys);
	*dst = s;
	add_used(bi, phys, strlen(s) + 1);
	return 0;
}

static int parse_mb1(struct bootinfo *bi, u64 info_phys, bootinfo_map_fn map, char *err, size_t elen)
{
	const struct mb1_info *mi = map(info_phys, sizeof(*mi));

	if (!mi)
		return fail(err, elen, "multiboot: information at %#lx is not mapped", info_phys);
	add_used(bi, info_phys, sizeof(*mi));
	if ((mi->flags & MB1_INFO_CMDLINE) &&
	    mb1_take_string(bi, mi->cmdline, map, &bi->cmdline, "command line", err, elen))
		return -1;
	if ((mi->flags & MB1_INFO_LOADER_NAME) &&
	    mb1_take_string(bi, mi->boot_loader_name, map, &bi->loader, "loader name", err, elen))
		return -1;
	if (mi->flags & MB1_INFO_MMAP) {
		const u8 *p = map(mi->mmap_addr, mi->mmap_length);
		u64 off = 0; /* 64-bit: a corrupt entry size must not wrap it back */

		if (!p)
			return fail(err, elen, "multiboot: memory map at %#x (%u bytes) not mapped",
				    mi->mmap_addr, mi->mmap_length);
		while (off + sizeof(struct mb1_mmap_entry) <= mi->mmap_length) {
			const struct mb1_mmap_entry *e = (const void *)(p + off);

			if (e->size < 20)
				return fail(err, elen, "multiboot: memory map entry at offset %lu has size %u",
					    off, e->size);
			add_mmap(bi, e->addr, e->len, e->type);
			off += (u64)e->size + 4; /* not in 32 bits, where 0xfffffffc + 4 is 0 */
		}
	}
	if (mi->flags & MB1_INFO_FRAMEBUFFER) {
		bi->has_fb = true;
		bi->fb = (struct bootinfo_fb){ .addr = mi->framebuffer_addr,
					       .pitch = mi->framebuffer_pitch,
					       .width = mi->framebuffer_width,
					       .height = mi->framebuffer_height,
					       .bpp = mi->framebuffer_bpp,
					       .type = mi->framebuffer_type };
		if (mi->framebuffer_type == MB_FB_TYPE_RGB) {
			bi->fb.red_pos = mi->color_info[0], bi->fb.red_size = mi->color_info[1];
			bi->fb.green_pos = mi->color_info[2], bi->fb.green_size = mi->color_info[3];
			bi->fb.blue_pos = mi->color_info[4], bi->fb.blue_size = mi->color_info[5];
		}
	}
	return 0;
}

/* QEMU's -kernel (and GRUB's Multiboot v1 loader) put the image path before the arguments. */
static const char *skip_image_path(const char *s)
{
	const char *end = s;

	while (*end == ' ')
		end++;
	s = end;
	while (*end && *end != ' ')
		end++;
	for (const char *p = s; p < end; p++)
		if (*p == '=')
			return s;
	if (!memchr(s, '/', end - s))
		return s;
	while (*end == ' ')
		end++;
	return end;
}

int bootinfo_parse(struct bootinfo *bi, u32 magic, u64 info_phys, bootinfo_map_fn map, char *err,
		   size_t err_len)
{
	int ret;

	memset(bi, 0, sizeof(*bi));
	bi->cmdline = "";
	bi->loader = "";
	if (magic == MB2_BOOTLOADER_MAGIC) {
		bi->protocol = 2;
		ret = parse_mb2(bi, info_phys, map, err, err_len);
	} else if (magic == MB1_BOOTLOADER_MAGIC) {
		bi->protocol = 1;
		ret = parse_mb1(bi, info_phys, map, err, err_len);
	} else {
		return fail(err, err_len, "boot: unknown loader magic %#x (not Multiboot or Multiboot2)",
			    magic);
	}
	bi->args = skip_image_path(bi->cmdline);
	return ret;
}

u64 bootinfo_usable_bytes(const struct bootinfo *bi)
{
	u64 total = 0;

	for (u32 i = 0; i < bi->nmmap; i++)
		if (bi->mmap[i].type == MB_MEMORY_AVAILABLE)
			total += bi->mmap[i].len;
	return total;
}
