/* PC Screen Font (PSF1 and PSF2) parsing for the framebuffer console: finds the
 * glyph bitmaps and maps code points 0..255 to glyphs through the Unicode table. */
#ifndef KERNEL_PSF_H
#define KERNEL_PSF_H

#include "kernel/types.h"

/* A map[] entry for a code point that no glyph claims. */
#define PSF_UNMAPPED 0xffff

/*
 * Glyph rows are bytes_per_row bytes each, most significant bit leftmost;
 * a glyph is height rows (bytes_per_glyph bytes).  glyphs points into the
 * caller's font data, which must stay alive as long as the font is used.
 */
struct psf_font {
	const u8 *glyphs;
	u32 nglyphs, width, height, bytes_per_glyph, bytes_per_row;
	u16 map[256];	/* glyph index for code points 0..255, or PSF_UNMAPPED */
};

/* Returns 0, or -1 (and a zeroed *f) if the data is not a sane PSF1/PSF2 font. */
int psf_load(struct psf_font *f, const void *data, size_t len);

/* The glyph for a code point; unmapped ones get '?', or glyph 0 if '?' is missing. */
const u8 *psf_glyph(const struct psf_font *f, u32 codepoint);

#endif
