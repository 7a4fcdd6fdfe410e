/* Text console on the linear framebuffer GRUB sets up (the only screen a UEFI guest such as a
 * Hyper-V Gen2 VM has), drawn with the embedded PSF font and scrolled in place. */
#include "boot/multiboot2.h"
#include "kernel/screen.h"
#include "kernel/psf.h"
#include "kernel/string.h"
#include "mm/mm.h"

#define FG_RGB 0xc0c0c0
#define BG_RGB 0x000020
#define TAB_WIDTH 8

extern const u8 font_psf[], font_psf_end[];

static struct {
	u8 *base;
	u32 pitch, width, height, bytes_pp;
	u32 cols, rows, x, y;
	u32 fg, bg; /* in the framebuffer's pixel format */
	struct psf_font font;
} fb;

static u32 pack_channel(u32 value8, u8 pos, u8 size)
{
	return size ? (value8 >> (8 - MIN(size, 8))) << pos : 0;
}

static u32 pack_rgb(const struct bootinfo_fb *f, u32 rgb)
{
	return pack_channel((rgb >> 16) & 0xff, f->red_pos, f->red_size) |
	       pack_channel((rgb >> 8) & 0xff, f->green_pos, f->green_size) |
	       pack_channel(rgb & 0xff, f->blue_pos, f->blue_size);
}

static void put_pixel(u8 *p, u32 color)
{
	switch (fb.bytes_pp) {
	case 4:
		*(volatile u32 *)p = color;
		break;
	case 3:
		p[0] = color, p[1] = color >> 8, p[2] = color >> 16;
		break;
	default:
		*(volatile u16 *)p = color;
	}
}

static void draw_glyph(u32 col, u32 row, char c)
{
	const u8 *g = psf_glyph(&fb.font, (u8)c);
	u8 *line = fb.base + row * fb.font.height * fb.pitch + col * fb.font.width * fb.bytes_pp;

	for (u32 y = 0; y < fb.font.height; y++, line += fb.pitch, g += fb.font.bytes_per_row)
		for (u32 x = 0; x < fb.font.width; x++)
			put_pixel(line + x * fb.bytes_pp,
				  (g[x / 8] & (0x80 >> (x % 8))) ? fb.fg : fb.bg);
}

static void clear_rows(u32 first, u32 count)
{
	for (u32 y = first * fb.font.height; y < (first + count) * fb.font.height; y++)
		for (u32 x = 0; x < fb.width; x++)
			put_pixel(fb.base + y * fb.pitch + x * fb.bytes_pp, fb.bg);
}

static void newline(void)
{
	fb.x = 0;
	if (++fb.y < fb.rows)
		return;
	/* Scroll one text row; the framebuffer is plain memory to us. */
	memmove(fb.base, fb.base + fb.font.height * fb.pitch, (fb.rows - 1) * fb.font.height * fb.pitch);
	clear_rows(fb.rows - 1, 1);
	fb.y = fb.rows - 1;
}

static void fbcon_putc(char c)
{
	switch (c) {
	case '\n':
		newline();
		return;
	case '\r':
		fb.x = 0;
		return;
	case '\t':
		fb.x = MIN(ALIGN_UP(fb.x + 1, TAB_WIDTH), fb.cols - 1);
		return;
	case '\b':
		if (fb.x)
			fb.x--;
		return;
	}
	if (fb.x == fb.cols)
		newline();
	draw_glyph(fb.x++, fb.y, c);
}

static const struct screen_ops fbcon_ops = { "framebuffer", fbcon_putc };

const struct screen_ops *fbcon_init(const struct bootinfo *bi)
{
	const struct bootinfo_fb *f = &bi->fb;
	u64 size = (u64)f->pitch * f->height;

	if (!bi->has_fb || f->type != MB_FB_TYPE_RGB || (f->bpp != 32 && f->bpp != 24 && f->bpp != 16))
		return NULL;
	if (psf_load(&fb.font, font_psf, font_psf_end - font_psf))
		return NULL;
	fb.base = mm_map_wc(f->addr, size);
	if (!fb.base || f->width < fb.font.width || f->height < fb.font.height)
		return NULL;
	fb.pitch = f->pitch, fb.width = f->width, fb.height = f->height;
	fb.bytes_pp = f->bpp / 8;
	fb.cols = f->width / fb.font.width;
	fb.rows = f->height / fb.font.height;
	fb.fg = pack_rgb(f, FG_RGB);
	fb.bg = pack_rgb(f, BG_RGB);
	clear_rows(0, fb.rows);
	return &fbcon_ops;
}
