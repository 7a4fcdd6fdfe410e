/* Unit tests for kernel/psf.c: real Debian console fonts (PSF1 and PSF2), synthetic
 * fonts with and without Unicode tables, and malformed or truncated input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/psf.h"

#define FONT_DIR "/usr/share/consolefonts"
#define DEFAULT_PSF1 FONT_DIR "/Lat15-Terminus16.psf.gz"
#define DEFAULT_PSF2 FONT_DIR "/Lat15-Terminus32x16.psf.gz"

struct blob {
	u8 *data;
	size_t len;
};

static void blob_free(struct blob *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
}

static bool blob_read_stream(struct blob *b, FILE *fp)
{
	size_t cap = 0;
	size_t n;

	b->data = NULL;
	b->len = 0;
	do {
		if (b->len == cap) {
			cap = cap ? cap * 2 : 65536;
			b->data = realloc(b->data, cap);
			assert_non_null(b->data);
		}
		n = fread(b->data + b->len, 1, cap - b->len, fp);
		b->len += n;
	} while (n);
	return b->len > 0;
}

/* Reads a font, through zcat when it is compressed; false if that is not possible. */
static bool blob_load(struct blob *b, const char *path)
{
	size_t plen = strlen(path);
	bool gz = plen > 3 && !strcmp(path + plen - 3, ".gz");
	char cmd[1024];
	FILE *fp;
	bool ok;

	if (gz) {
		if (strchr(path, '\'') || snprintf(cmd, sizeof(cmd), "zcat -- '%s' 2>/dev/null",
						   path) >= (int)sizeof(cmd))
			return false;
		fp = popen(cmd, "r");
	} else {
		fp = fopen(path, "rb");
	}
	if (!fp)
		return false;
	ok = blob_read_stream(b, fp);
	if ((gz ? pclose(fp) : fclose(fp)) != 0)
		ok = false;
	if (!ok)
		blob_free(b);
	return ok;
}

/* An exact-size heap copy, so that ASan and valgrind catch any read past the end. */
static u8 *exact_copy(const void *src, size_t len)
{
	u8 *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, src, len);
	return p;
}

static int load_exact(struct psf_font *f, const void *data, size_t len)
{
	u8 *copy = exact_copy(data, len);
	int rc = psf_load(f, copy, len);

	if (rc == 0) {
		/* Touch every glyph the console could ask for while the copy is alive. */
		for (u32 cp = 0; cp < 300; cp++) {
			const u8 *g = psf_glyph(f, cp);
			volatile u8 sink = g[f->bytes_per_glyph - 1];
			(void)sink;
		}
	}
	free(copy);
	return rc;
}

static bool glyph_empty(const struct psf_font *f, const u8 *g)
{
	for (u32 i = 0; i < f->bytes_per_glyph; i++)
		if (g[i])
			return false;
	return true;
}

/* Pointer arithmetic only, so it also works after load_exact() freed the data. */
static u32 glyph_index(const struct psf_font *f, u32 cp)
{
	return (u32)((psf_glyph(f, cp) - f->glyphs) / f->bytes_per_glyph);
}

/* ---- synthetic fonts ---- */

struct builder {
	u8 buf[1 << 17];
	size_t len;
};

static void put8(struct builder *b, u8 v)
{
	assert_true(b->len < sizeof(b->buf));
	b->buf[b->len++] = v;
}

static void put16(struct builder *b, u16 v)
{
	put8(b, v & 0xff);
	put8(b, v >> 8);
}

static void put32(struct builder *b, u32 v)
{
	put16(b, v & 0xffff);
	put16(b, v >> 16);
}

static void put_bytes(struct builder *b, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		put8(b, ((const u8 *)p)[i]);
}

/* Glyph g is filled with the byte g + 1, so the tests can tell glyphs apart. */
static void put_glyphs(struct builder *b, u32 n, u32 bytes)
{
	for (u32 g = 0; g < n; g++)
		for (u32 i = 0; i < bytes; i++)
			put8(b, (u8)(g + 1));
}

static void psf1_build(struct builder *b, u8 mode, u8 height, const u16 *table, size_t n)
{
	b->len = 0;
	put8(b, 0x36);
	put8(b, 0x04);
	put8(b, mode);
	put8(b, height);
	put_glyphs(b, (mode & 1) ? 512 : 256, height);
	for (size_t i = 0; i < n; i++)
		put16(b, table[i]);
}

struct psf2_hdr {
	u32 version, headersize, flags, length, charsize, height, width;
};

static void psf2_build(struct builder *b, const struct psf2_hdr *h, const u8 *table, size_t n)
{
	b->len = 0;
	put32(b, 0x864ab572);
	put32(b, h->version);
	put32(b, h->headersize);
	put32(b, h->flags);
	put32(b, h->length);
	put32(b, h->charsize);
	put32(b, h->height);
	put32(b, h->width);
	while (b->len < h->headersize)
		put8(b, 0xee);
	put_glyphs(b, h->length, h->charsize);
	put_bytes(b, table, n);
}

static struct psf2_hdr psf2_default(u32 nglyphs, u32 width, u32 height, bool table)
{
	return (struct psf2_hdr){
		.version = 0, .headersize = 32, .flags = table, .length = nglyphs,
		.charsize = height * ((width + 7) / 8), .height = height, .width = width,
	};
}

/*
 * Every strict prefix of a font that ends with its last glyph or table entry
 * must be rejected.  Big fonts are sampled in the middle to keep the run short.
 */
static void expect_prefixes_rejected(const struct builder *b)
{
	struct psf_font f;

	for (size_t len = 0; len < b->len; len++) {
		if (len > 256 && len + 1024 < b->len && len % 97)
			continue;
		if (load_exact(&f, b->buf, len) != -1)
			fail_msg("prefix of %zu bytes (of %zu) accepted", len, b->len);
	}
}

static struct builder bld;

static void test_psf1_no_table(void **state)
{
	(void)state;
	struct psf_font f;

	psf1_build(&bld, 0, 14, NULL, 0);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
	assert_int_equal(f.nglyphs, 256);
	assert_int_equal(f.width, 8);
	assert_int_equal(f.height, 14);
	assert_int_equal(f.bytes_per_row, 1);
	assert_int_equal(f.bytes_per_glyph, 14);
	for (u32 cp = 0; cp < 256; cp++)
		assert_int_equal(glyph_index(&f, cp), cp);
	assert_int_equal(glyph_index(&f, 0x100), '?');
	assert_int_equal(glyph_index(&f, 0x20ac), '?');
	assert_int_equal(psf_load(&f, bld.buf, bld.len), 0);
	assert_int_equal(psf_glyph(&f, 'A')[0], 'A' + 1);

	psf1_build(&bld, 1, 8, NULL, 0);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
	assert_int_equal(f.nglyphs, 512);
	assert_int_equal(glyph_index(&f, 255), 255);
	assert_int_equal(glyph_index(&f, 256), '?');
	/* Trailing bytes after the glyphs are tolerated. */
	put8(&bld, 0xaa);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
}

static const u16 psf1_table[] = {
	/* glyph 0 */ 0x41, 0xffff,
	/* glyph 1 */ 0x42, 0x62, 0xffff,
	/* glyph 2: a code point, then two sequences that must not map anything */
	0xe9, 0xfffe, 0x43, 0x301, 0xfffe, 0x44, 0x301, 0xffff,
	/* glyph 3 claims 'A' again, too late */ 0x41, 0x2588, 0xffff,
	/* glyph 4: only a sequence */ 0xfffe, 0x45, 0x308, 0xffff,
	/* glyph 5 */ 0xffff,
	/* glyph 6 claims 'C' for real */ 0x43, 0xffff,
};

/* Builds a 256-glyph table: the entries above, then empty lists for the rest. */
static void psf1_build_table(struct builder *b, u8 mode, bool with_question)
{
	u16 table[sizeof(psf1_table) / 2 + 520];
	size_t n = sizeof(psf1_table) / 2, glyphs = 7;

	memcpy(table, psf1_table, sizeof(psf1_table));
	if (with_question) {
		table[n++] = '?';
		table[n++] = 0xffff;
		glyphs++;
	}
	while (glyphs++ < ((mode & 1) ? 512u : 256u))
		table[n++] = 0xffff;
	psf1_build(b, mode, 16, table, n);
}

static void test_psf1_table(void **state)
{
	(void)state;
	struct psf_font f;

	psf1_build_table(&bld, 0x02, false);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
	assert_int_equal(glyph_index(&f, 'A'), 0);
	assert_int_equal(glyph_index(&f, 'B'), 1);
	assert_int_equal(glyph_index(&f, 'b'), 1);
	assert_int_equal(glyph_index(&f, 0xe9), 2);
	assert_int_equal(glyph_index(&f, 'C'), 6);
	assert_int_equal(f.map['D'], PSF_UNMAPPED);
	assert_int_equal(f.map['E'], PSF_UNMAPPED);
	/* With no '?' in the font, unmapped code points fall back to glyph 0. */
	assert_int_equal(glyph_index(&f, 'D'), 0);
	assert_int_equal(glyph_index(&f, 0x2588), 0);
	assert_int_equal(glyph_index(&f, 0xffffffffu), 0);

	psf1_build_table(&bld, 0x06, true);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
	assert_int_equal(glyph_index(&f, '?'), 7);
	assert_int_equal(glyph_index(&f, 'D'), 7);
	assert_int_equal(glyph_index(&f, 0x263a), 7);
	assert_int_equal(glyph_index(&f, 'A'), 0);

	psf1_build_table(&bld, 0x04, true);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
	assert_int_equal(glyph_index(&f, 'b'), 1);

	psf1_build_table(&bld, 0x03, true);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
	assert_int_equal(f.nglyphs, 512);
	assert_int_equal(glyph_index(&f, 'C'), 6);
}

static void test_psf1_malformed(void **state)
{
	(void)state;
	struct psf_font f;

	psf1_build_table(&bld, 0x02, true);
	expect_prefixes_rejected(&bld);
	/* A table that stops short of the last glyph. */
	assert_int_equal(load_exact(&f, bld.buf, bld.len - 2), -1);
	/* Bytes after the last glyph's terminator are ignored. */
	put8(&bld, 0x41);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);

	psf1_build(&bld, 0, 0, NULL, 0);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), -1);
	psf1_build(&bld, 0, 65, NULL, 0);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), -1);
	psf1_build(&bld, 0, 64, NULL, 0);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
	psf1_build(&bld, 0x08, 16, NULL, 0);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), -1);
	psf1_build(&bld, 0, 16, NULL, 0);
	expect_prefixes_rejected(&bld);
	bld.buf[1] = 0x05;
	assert_int_equal(load_exact(&f, bld.buf, bld.len), -1);
	assert_null(f.glyphs);
	assert_int_equal(psf_load(&f, NULL, 100), -1);
}

static void test_psf2_no_table(void **state)
{
	(void)state;
	struct psf_font f;
	struct psf2_hdr h = psf2_default(128, 12, 20, false);

	psf2_build(&bld, &h, NULL, 0);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
	assert_int_equal(f.nglyphs, 128);
	assert_int_equal(f.width, 12);
	assert_int_equal(f.height, 20);
	assert_int_equal(f.bytes_per_row, 2);
	assert_int_equal(f.bytes_per_glyph, 40);
	for (u32 cp = 0; cp < 128; cp++)
		assert_int_equal(glyph_index(&f, cp), cp);
	/* Code points past the last glyph are unmapped. */
	assert_int_equal(f.map[128], PSF_UNMAPPED);
	assert_int_equal(glyph_index(&f, 200), '?');

	/* A header longer than 32 bytes moves the glyphs. */
	h = psf2_default(128, 64, 64, false);
	h.headersize = 40;
	psf2_build(&bld, &h, NULL, 0);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
	assert_int_equal(f.bytes_per_row, 8);
	assert_int_equal(f.bytes_per_glyph, 512);
	assert_int_equal(psf_load(&f, bld.buf, bld.len), 0);
	assert_int_equal(psf_glyph(&f, 'x')[0], 'x' + 1);
	expect_prefixes_rejected(&bld);
}

static const u8 psf2_table[] = {
	/* glyph 0: 'A' */ 'A', 0xff,
	/* glyph 1: 'B', 'b' and U+0392 (Greek Beta, two bytes) */ 'B', 'b', 0xce, 0x92, 0xff,
	/* glyph 2: U+00E9, then a sequence e + U+0301 */ 0xc3, 0xa9, 0xfe, 'e', 0xcc, 0x81, 0xff,
	/* glyph 3: U+20AC (three bytes), U+1F600 (four bytes), 'A' again */
	0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 'A', 0xff,
	/* glyph 4: only a sequence holding 'C' */ 0xfe, 'C', 0xcc, 0x88, 0xfe, 'D', 0xff,
	/* glyph 5: '?' */ '?', 0xff,
	/* glyph 6: 'C' */ 'C', 0xff,
	/* glyph 7: nothing */ 0xff,
};

static void psf2_build_table(struct builder *b, const u8 *extra, size_t n)
{
	struct psf2_hdr h = psf2_default(8, 10, 18, true);
	u8 table[sizeof(psf2_table) + 16];

	memcpy(table, psf2_table, sizeof(psf2_table));
	if (n)
		memcpy(table + sizeof(psf2_table), extra, n);
	psf2_build(b, &h, table, sizeof(psf2_table) + n);
}

static void test_psf2_table(void **state)
{
	(void)state;
	struct psf_font f;

	psf2_build_table(&bld, NULL, 0);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
	assert_int_equal(f.nglyphs, 8);
	assert_int_equal(f.bytes_per_glyph, 36);
	assert_int_equal(glyph_index(&f, 'A'), 0);
	assert_int_equal(glyph_index(&f, 'B'), 1);
	assert_int_equal(glyph_index(&f, 'b'), 1);
	assert_int_equal(glyph_index(&f, 0xe9), 2);
	assert_int_equal(glyph_index(&f, 'C'), 6);
	assert_int_equal(f.map['e'], PSF_UNMAPPED);
	assert_int_equal(f.map['D'], PSF_UNMAPPED);
	assert_int_equal(glyph_index(&f, 'D'), 5);
	assert_int_equal(glyph_index(&f, 0x20ac), 5);
	assert_int_equal(glyph_index(&f, 0x392), 5);
	assert_int_equal(psf_load(&f, bld.buf, bld.len), 0);
	assert_int_equal(psf_glyph(&f, 'C')[35], 7);
	expect_prefixes_rejected(&bld);
}

static void expect_psf2_bad_table(const u8 *tail, size_t n)
{
	struct psf_font f;

	psf2_build_table(&bld, tail, n);
	/* The tail replaces glyph 7's empty list, so drop that terminator first. */
	memmove(bld.buf + bld.len - n - 1, bld.buf + bld.len - n, n);
	bld.len--;
	if (load_exact(&f, bld.buf, bld.len) != -1)
		fail_msg("garbled table tail accepted (first byte %#x)", n ? tail[0] : 0);
}

static void test_psf2_garbled_table(void **state)
{
	(void)state;
	static const u8 cont[] = { 0x80, 0xff };
	static const u8 short2[] = { 0xc3, 0xff };
	static const u8 short3[] = { 0xe2, 0x82, 0xff };
	static const u8 overlong[] = { 0xc0, 0x81, 0xff };
	static const u8 overlong3[] = { 0xe0, 0x80, 0x80, 0xff };
	static const u8 toobig[] = { 0xf4, 0x90, 0x80, 0x80, 0xff };
	static const u8 f8[] = { 0xf8, 0x88, 0x80, 0x80, 0x80, 0xff };
	static const u8 unterminated_seq[] = { 0xfe, 'a', 'b' };
	static const u8 unterminated[] = { 'a', 'b' };
	static const u8 cut_utf8[] = { 0xe2, 0x82 };
	static const u8 good[] = { 0xf0, 0x9f, 0x98, 0x80, 0xff };
	struct psf_font f;

	expect_psf2_bad_table(cont, sizeof(cont));
	expect_psf2_bad_table(short2, sizeof(short2));
	expect_psf2_bad_table(short3, sizeof(short3));
	expect_psf2_bad_table(overlong, sizeof(overlong));
	expect_psf2_bad_table(overlong3, sizeof(overlong3));
	expect_psf2_bad_table(toobig, sizeof(toobig));
	expect_psf2_bad_table(f8, sizeof(f8));
	expect_psf2_bad_table(unterminated_seq, sizeof(unterminated_seq));
	expect_psf2_bad_table(unterminated, sizeof(unterminated));
	expect_psf2_bad_table(cut_utf8, sizeof(cut_utf8));
	/* The same splice with a valid entry loads, so the rejections above are genuine. */
	psf2_build_table(&bld, good, sizeof(good));
	memmove(bld.buf + bld.len - sizeof(good) - 1, bld.buf + bld.len - sizeof(good),
		sizeof(good));
	bld.len--;
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
}

static void expect_psf2_bad_header(const struct psf2_hdr *h, u32 glyph_bytes)
{
	struct psf_font f;
	struct psf2_hdr copy = *h;

	/* Build with a harmless glyph area, then patch the header as requested. */
	copy.length = glyph_bytes;
	copy.charsize = 1;
	if (copy.headersize < 32 || copy.headersize > 64)
		copy.headersize = 32;
	psf2_build(&bld, &copy, NULL, 0);
	memcpy(bld.buf + 4, &h->version, 4);
	memcpy(bld.buf + 8, &h->headersize, 4);
	memcpy(bld.buf + 16, &h->length, 4);
	memcpy(bld.buf + 20, &h->charsize, 4);
	if (load_exact(&f, bld.buf, bld.len) != -1)
		fail_msg("bad header accepted: v%u hs %u n %u cs %u h %u w %u", h->version,
			 h->headersize, h->length, h->charsize, h->height, h->width);
}

static void test_psf2_malformed_header(void **state)
{
	(void)state;
	struct psf2_hdr good = psf2_default(16, 8, 16, false), h;
	struct psf_font f;

	psf2_build(&bld, &good, NULL, 0);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
	expect_prefixes_rejected(&bld);
	bld.buf[3] = 0x87;
	assert_int_equal(load_exact(&f, bld.buf, bld.len), -1);

	h = good, h.version = 1;
	expect_psf2_bad_header(&h, 256);
	h = good, h.headersize = 31;
	expect_psf2_bad_header(&h, 256);
	h = good, h.headersize = 100000;
	expect_psf2_bad_header(&h, 256);
	h = good, h.charsize = 17;
	expect_psf2_bad_header(&h, 1000);
	h = good, h.charsize = 15;
	expect_psf2_bad_header(&h, 1000);
	h = good, h.length = 0;
	expect_psf2_bad_header(&h, 256);
	h = good, h.length = 0xffffffffu;
	expect_psf2_bad_header(&h, 256);
	h = good, h.length = 0x10000;
	expect_psf2_bad_header(&h, 256);
	h = psf2_default(16, 0, 16, false);
	expect_psf2_bad_header(&h, 256);
	h = psf2_default(16, 8, 0, false);
	expect_psf2_bad_header(&h, 256);
	h = psf2_default(16, 65, 16, false);
	expect_psf2_bad_header(&h, 2000);
	h = psf2_default(16, 8, 65, false);
	expect_psf2_bad_header(&h, 2000);
	/* Glyph indices must stay below PSF_UNMAPPED even when the data is all there. */
	h = psf2_default(0xffff, 8, 1, false);
	psf2_build(&bld, &h, NULL, 0);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), -1);
	h = psf2_default(0xfffe, 8, 1, false);
	psf2_build(&bld, &h, NULL, 0);
	assert_int_equal(load_exact(&f, bld.buf, bld.len), 0);
	assert_int_equal(f.nglyphs, 0xfffe);
}

/* ---- real fonts ---- */

static bool load_default_psf1(struct blob *b, bool *is_default)
{
	const char *env = getenv("TLBSTORM_PSF");

	*is_default = false;
	if (env && *env && blob_load(b, env))
		return true;
	*is_default = true;
	return blob_load(b, DEFAULT_PSF1);
}

static void check_real_font(const struct psf_font *f)
{
	const u8 *a = psf_glyph(f, 'A');
	const u8 *bg = psf_glyph(f, 'B');

	assert_false(glyph_empty(f, a));
	assert_memory_not_equal(a, bg, f->bytes_per_glyph);
	assert_true(glyph_empty(f, psf_glyph(f, ' ')));
	for (u32 cp = 0x21; cp < 0x7f; cp++)
		assert_int_not_equal(f->map[cp], PSF_UNMAPPED);
}

static void test_real_psf1(void **state)
{
	(void)state;
	struct blob b;
	struct psf_font f;
	bool is_default;

	if (!load_default_psf1(&b, &is_default))
		skip();
	assert_int_equal(load_exact(&f, b.data, b.len), 0);
	assert_int_equal(psf_load(&f, b.data, b.len), 0);
	check_real_font(&f);
	if (is_default) {
		assert_int_equal(f.width, 8);
		assert_int_equal(f.height, 16);
		assert_int_equal(f.nglyphs, 256);
		/* Latin-1 is where this font departs from code point order. */
		assert_int_equal(glyph_index(&f, 0xe9), 130);
		assert_int_equal(glyph_index(&f, 0xa9), 0);
		assert_int_equal(glyph_index(&f, 0xa0), 32);
		/* Control characters have no glyph and show as '?'. */
		assert_int_equal(f.map[1], PSF_UNMAPPED);
		assert_ptr_equal(psf_glyph(&f, 1), psf_glyph(&f, '?'));
		for (size_t len = b.len - 64; len < b.len; len++)
			assert_int_equal(load_exact(&f, b.data, len), -1);
	}
	blob_free(&b);
}

static void test_real_psf2(void **state)
{
	(void)state;
	struct blob b;
	struct psf_font f;

	if (!blob_load(&b, DEFAULT_PSF2))
		skip();
	assert_int_equal(load_exact(&f, b.data, b.len), 0);
	assert_int_equal(psf_load(&f, b.data, b.len), 0);
	assert_int_equal(f.width, 16);
	assert_int_equal(f.height, 32);
	assert_int_equal(f.bytes_per_row, 2);
	assert_int_equal(f.bytes_per_glyph, 64);
	check_real_font(&f);
	assert_int_equal(glyph_index(&f, 0xe9), 130);
	blob_free(&b);
}

/* Every installed console font should load; a few are sampled to keep the run short. */
static void test_installed_fonts(void **state)
{
	(void)state;
	DIR *dir = opendir(FONT_DIR);
	struct dirent *de;
	unsigned int seen = 0, loaded = 0;
	char path[512];

	if (!dir)
		skip();
	while ((de = readdir(dir)) != NULL) {
		struct blob b;
		struct psf_font f;

		if (!strstr(de->d_name, ".psf") || seen++ % 7)
			continue;
		snprintf(path, sizeof(path), "%s/%s", FONT_DIR, de->d_name);
		if (!blob_load(&b, path))
			continue;
		if (load_exact(&f, b.data, b.len) != 0)
			fail_msg("%s rejected", path);
		loaded++;
		blob_free(&b);
	}
	closedir(dir);
	if (!loaded)
		skip();
	print_message("loaded %u installed fonts\n", loaded);
}

/* Random corruption must only ever produce -1 or a font whose glyphs are in bounds. */
static void test_corrupted_real_font(void **state)
{
	(void)state;
	struct blob b;
	struct psf_font f;
	bool is_default;
	u32 seed = 12345;

	if (!load_default_psf1(&b, &is_default))
		skip();
	for (int iter = 0; iter < 300; iter++) {
		u8 *copy = exact_copy(b.data, b.len);
		size_t len = b.len;

		for (int k = 0; k < 4; k++) {
			seed = seed * 1103515245u + 12345u;
			/* Hit the header and the table more often than the glyph bitmaps. */
			size_t pos = (k & 1) ? (seed >> 8) % 8 : len - 1 - (seed >> 8) % 1024;
			copy[pos] = (u8)(seed >> 3);
		}
		if (iter % 3 == 0)
			len -= (seed >> 4) % 64;
		(void)load_exact(&f, copy, len);
		free(copy);
	}
	blob_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_psf1_no_table),
		cmocka_unit_test(test_psf1_table),
		cmocka_unit_test(test_psf1_malformed),
		cmocka_unit_test(test_psf2_no_table),
		cmocka_unit_test(test_psf2_table),
		cmocka_unit_test(test_psf2_garbled_table),
		cmocka_unit_test(test_psf2_malformed_header),
		cmocka_unit_test(test_real_psf1),
		cmocka_unit_test(test_real_psf2),
		cmocka_unit_test(test_installed_fonts),
		cmocka_unit_test(test_corrupted_real_font),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
