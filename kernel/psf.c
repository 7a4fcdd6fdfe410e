/* PSF1/PSF2 font parsing.  Console fonts rarely store glyphs in ASCII order, so the
 * Unicode table is read to build a small map for the code points the console prints. */
#include "kernel/psf.h"
#include "kernel/types.h"
#include "kernel/string.h"

#define PSF1_MAGIC0	0x36
#define PSF1_MAGIC1	0x04
#define PSF1_MODE512	0x01
#define PSF1_MODEHASTAB	0x02
#define PSF1_MODESEQ	0x04
#define PSF1_HDR_SIZE	4
#define PSF1_SEPARATOR	0xffff
#define PSF1_STARTSEQ	0xfffe

#define PSF2_MAGIC	0x864ab572u
#define PSF2_HAS_TABLE	0x01
#define PSF2_HDR_SIZE	32
#define PSF2_SEPARATOR	0xff
#define PSF2_STARTSEQ	0xfe

/* Bigger glyphs than this are not a console font but a corrupt header. */
#define PSF_MAX_DIM	64

/* The Unicode table, consumed front to back. */
struct psf_cursor {
	const u8 *p, *end;
};

/* Font data need not be aligned, so multi-byte fields are read bytewise. */
static u16 psf_le16(const u8 *p)
{
	return (u16)(p[0] | p[1] << 8);
}

static u32 psf_le32(const u8 *p)
{
	return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

/* Only the first glyph that claims a code point gets it. */
static void psf_map(struct psf_font *f, u32 cp, u32 glyph)
{
	if (cp < ARRAY_SIZE(f->map) && f->map[cp] == PSF_UNMAPPED)
		f->map[cp] = (u16)glyph;
}

static void psf_map_clear(struct psf_font *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(f->map); i++)
		f->map[i] = PSF_UNMAPPED;
}

/* Without a Unicode table the font is indexed by code point directly. */
static void psf_map_identity(struct psf_font *f)
{
	psf_map_clear(f);
	for (u32 cp = 0; cp < ARRAY_SIZE(f->map) && cp < f->nglyphs; cp++)
		f->map[cp] = (u16)cp;
}

/* Checks the geometry and that the glyphs fit in the avail bytes after the header. */
static bool psf_sane(const struct psf_font *f, size_t avail)
{
	if (!f->width || !f->height || f->width > PSF_MAX_DIM || f->height > PSF_MAX_DIM)
		return false;
	/* Glyph indices must fit in map[] without colliding with PSF_UNMAPPED. */
	if (!f->nglyphs || f->nglyphs >= PSF_UNMAPPED)
		return false;
	if (f->bytes_per_glyph != f->height * f->bytes_per_row)
		return false;
	return (u64)f->nglyphs * f->bytes_per_glyph <= avail;
}

static int psf1_table(struct psf_font *f, struct psf_cursor *c)
{
	for (u32 g = 0; g < f->nglyphs; g++) {
		bool in_seq = false;
		u16 u;

		do {
			if (c->end - c->p < 2)
				return -1;
			u = psf_le16(c->p);
			c->p += 2;
			/* Sequences (combining characters) cannot be shown by one glyph. */
			if (u == PSF1_STARTSEQ)
				in_seq = true;
			else if (u != PSF1_SEPARATOR && !in_seq)
				psf_map(f, u, g);
		} while (u != PSF1_SEPARATOR);
	}
	return 0;
}

static int psf1_load(struct psf_font *f, const u8 *d, size_t len)
{
	struct psf_cursor c;
	u8 mode;

	if (len < PSF1_HDR_SIZE)
		return -1;
	mode = d[2];
	if (mode & ~(PSF1_MODE512 | PSF1_MODEHASTAB | PSF1_MODESEQ))
		return -1;
	f->nglyphs = (mode & PSF1_MODE512) ? 512 : 256;
	f->width = 8;
	f->height = d[3];
	f->bytes_per_row = 1;
	f->bytes_per_glyph = d[3];
	f->glyphs = d + PSF1_HDR_SIZE;
	if (!psf_sane(f, len - PSF1_HDR_SIZE))
		return -1;
	if (!(mode & (PSF1_MODEHASTAB | PSF1_MODESEQ))) {
		psf_map_identity(f);
		return 0;
	}
	c.p = f->glyphs + f->nglyphs * f->bytes_per_glyph;
	c.end = d + len;
	psf_map_clear(f);
	return psf1_table(f, &c);
}

static bool psf_utf8_cont(const struct psf_cursor *c, size_t i)
{
	return (c->p[i] & 0xc0) == 0x80;
}

/* Decodes one UTF-8 character; rejects truncated, stray and overlong encodings. */
static int psf_utf8(struct psf_cursor *c, u32 *cp)
{
	static const u32 min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
	u8 b = c->p[0];
	size_t n = b < 0x80 ? 1 : b >= 0xc0 && b < 0xe0 ? 2 :
		   b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf8 ? 4 : 0;
	u32 v = n == 1 ? b : b & (0x7f >> n);

	if (!n || (size_t)(c->end - c->p) < n)
		return -1;
	for (size_t i = 1; i < n; i++) {
		if (!psf_utf8_cont(c, i))
			return -1;
		v = v << 6 | (c->p[i] & 0x3f);
	}
	if (v < min_cp[n] || v > 0x10ffff)
		return -1;
	c->p += n;
	*cp = v;
	return 0;
}

/* Sequences are skipped whole: everything up to the glyph's terminator. */
static int psf2_skip_seq(struct psf_cursor *c)
{
	while (c->p < c->end && *c->p != PSF2_SEPARATOR)
		c->p++;
	if (c->p == c->end)
		return -1;
	c->p++;
	return 0;
}

static int psf2_glyph_entries(struct psf_font *f, struct psf_cursor *c, u32 g)
{
	u32 cp;

	for (;;) {
		if (c->p == c->end)
			return -1;
		if (*c->p == PSF2_SEPARATOR) {
			c->p++;
			return 0;
		}
		if (*c->p == PSF2_STARTSEQ)
			return psf2_skip_seq(c);
		if (psf_utf8(c, &cp) < 0)
			return -1;
		psf_map(f, cp, g);
	}
}

static int psf2_load(struct psf_font *f, const u8 *d, size_t len)
{
	struct psf_cursor c;
	u32 hdr, flags;

	if (len < PSF2_HDR_SIZE || psf_le32(d + 4) != 0)
		return -1;
	hdr = psf_le32(d + 8);
	flags = psf_le32(d + 12);
	if (hdr < PSF2_HDR_SIZE || hdr > len)
		return -1;
	f->nglyphs = psf_le32(d + 16);
	f->bytes_per_glyph = psf_le32(d + 20);
	f->height = psf_le32(d + 24);
	f->width = psf_le32(d + 28);
	f->bytes_per_row = (f->width + 7) / 8;
	f->glyphs = d + hdr;
	if (!psf_sane(f, len - hdr))
		return -1;
	if (!(flags & PSF2_HAS_TABLE)) {
		psf_map_identity(f);
		return 0;
	}
	c.p = f->glyphs + f->nglyphs * f->bytes_per_glyph;
	c.end = d + len;
	psf_map_clear(f);
	for (u32 g = 0; g < f->nglyphs; g++)
		if (psf2_glyph_entries(f, &c, g) < 0)
			return -1;
	return 0;
}

static int psf_parse(struct psf_font *f, const u8 *d, size_t len)
{
	if (len >= 2 && d[0] == PSF1_MAGIC0 && d[1] == PSF1_MAGIC1)
		return psf1_load(f, d, len);
	if (len >= 4 && psf_le32(d) == PSF2_MAGIC)
		return psf2_load(f, d, len);
	return -1;
}

int psf_load(struct psf_font *f, const void *data, size_t len)
{
	int rc = data ? psf_parse(f, data, len) : -1;

	if (rc < 0)
		memset(f, 0, sizeof(*f));
	return rc;
}

const u8 *psf_glyph(const struct psf_font *f, u32 codepoint)
{
	u32 g = codepoint < ARRAY_SIZE(f->map) ? f->map[codepoint] : PSF_UNMAPPED;

	if (g == PSF_UNMAPPED)
		g = f->map['?'];
	if (g == PSF_UNMAPPED)
		g = 0;
	return f->glyphs + (size_t)g * f->bytes_per_glyph;
}
