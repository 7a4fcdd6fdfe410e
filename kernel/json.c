/* JSON writer: commas, keys and escaping are handled here, so callers emit
 * records as a flat sequence of calls and always get valid JSON or NULL. */
#include "kernel/json.h"
#include "kernel/types.h"
#include "kernel/string.h"

static const char jw_hexdigits[] = "0123456789abcdef";

/* One byte is always kept back for the terminating NUL. */
static void jw_putc(struct jw *w, char c)
{
	if (w->len + 1 < w->cap)
		w->buf[w->len++] = c;
	else
		w->overflow = true;
}

static void jw_puts(struct jw *w, const char *s)
{
	while (*s)
		jw_putc(w, *s++);
}

static void jw_fail(struct jw *w)
{
	w->depth = -1;
}

static void jw_dec(struct jw *w, u64 v)
{
	char digits[20];
	int n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		jw_putc(w, digits[--n]);
}

static void jw_escape(struct jw *w, unsigned char c)
{
	jw_putc(w, '\\');
	switch (c) {
	case '\n': jw_putc(w, 'n'); break;
	case '\t': jw_putc(w, 't'); break;
	case '\r': jw_putc(w, 'r'); break;
	case '"':
	case '\\':
		jw_putc(w, (char)c);
		break;
	default:
		jw_puts(w, "u00");
		jw_putc(w, jw_hexdigits[c >> 4]);
		jw_putc(w, jw_hexdigits[c & 0xf]);
		break;
	}
}

/* The length of the UTF-8 sequence starting at s (RFC 3629 section 4: no overlong form, no
 * surrogate, nothing past U+10FFFF), or 0 when none does. Stops at the NUL like any mismatch. */
static size_t jw_utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* JSON text is UTF-8 (RFC 8259 8.1), and strings reach here from the loader and CPUID: a byte
 * that starts no valid sequence is written as U+FFFD, so the record stays readable JSON. */
static void jw_string(struct jw *w, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	jw_putc(w, '"');
	while (*s) {
		size_t n = *s < 0x80 ? 1 : jw_utf8_len(s);

		if (*s < 0x20 || *s == '"' || *s == '\\') {
			jw_escape(w, *s++);
		} else if (!n) {
			jw_puts(w, "\\ufffd");
			s++;
		} else {
			while (n--)
				jw_putc(w, (char)*s++);
		}
	}
	jw_putc(w, '"');
}

/* Only one value may stand at top level; anything else there is misuse. */
static bool jw_top_value(struct jw *w, const char *key)
{
	if (key || w->len || w->overflow) {
		jw_fail(w);
		return false;
	}
	return true;
}

/* Emits the comma and key that precede a value; false if the writer is unusable. */
static bool jw_value_start(struct jw *w, const char *key)
{
	int d = w->depth - 1;

	if (w->depth < 0)
		return false;
	if (w->depth == 0)
		return jw_top_value(w, key);
	if (w->in_array[d] != (key == NULL)) {
		jw_fail(w);
		return false;
	}
	if (w->need_comma[d])
		jw_putc(w, ',');
	w->need_comma[d] = true;
	if (key) {
		jw_string(w, key);
		jw_putc(w, ':');
	}
	return true;
}

static void jw_open(struct jw *w, const char *key, bool array)
{
	if (!jw_value_start(w, key))
		return;
	if (w->depth >= JW_MAX_DEPTH) {
		jw_fail(w);
		return;
	}
	jw_putc(w, array ? '[' : '{');
	w->need_comma[w->depth] = false;
	w->in_array[w->depth] = array;
	w->depth++;
}

static void jw_close(struct jw *w, bool array)
{
	if (w->depth < 0)
		return;
	if (w->depth == 0 || w->in_array[w->depth - 1] != array) {
		jw_fail(w);
		return;
	}
	jw_putc(w, array ? ']' : '}');
	w->depth--;
}

void jw_init(struct jw *w, char *buf, size_t cap)
{
	memset(w, 0, sizeof(*w));
	w->buf = buf;
	w->cap = buf ? cap : 0;
	if (w->cap)
		buf[0] = '\0';
}

void jw_obj_begin(struct jw *w, const char *key)
{
	jw_open(w, key, false);
}

void jw_obj_end(struct jw *w)
{
	jw_close(w, false);
}

void jw_arr_begin(struct jw *w, const char *key)
{
	jw_open(w, key, true);
}

void jw_arr_end(struct jw *w)
{
	jw_close(w, true);
}

void jw_str(struct jw *w, const char *key, const char *val)
{
	if (!jw_value_start(w, key))
		return;
	if (val)
		jw_string(w, val);
	else
		jw_puts(w, "null");
}

void jw_u64(struct jw *w, const char *key, u64 v)
{
	if (jw_value_start(w, key))
		jw_dec(w, v);
}

void jw_s64(struct jw *w, const char *key, s64 v)
{
	if (!jw_value_start(w, key))
		return;
	if (v < 0)
		jw_putc(w, '-');
	/* Negating as unsigned keeps INT64_MIN well defined. */
	jw_dec(w, v < 0 ? -(u64)v : (u64)v);
}

void jw_bool(struct jw *w, const char *key, bool v)
{
	if (jw_value_start(w, key))
		jw_puts(w, v ? "true" : "false");
}

void jw_null(struct jw *w, const char *key)
{
	if (jw_value_start(w, key))
		jw_puts(w, "null");
}

void jw_hex(struct jw *w, const char *key, u64 v)
{
	int shift = 60;

	if (!jw_value_start(w, key))
		return;
	while (shift > 0 && !(v >> shift))
		shift -= 4;
	jw_puts(w, "\"0x");
	for (; shift >= 0; shift -= 4)
		jw_putc(w, jw_hexdigits[(v >> shift) & 0xf]);
	jw_putc(w, '"');
}

/* The fraction keeps exactly `decimals` digits, zero-padded on the left. */
static void jw_fraction(struct jw *w, u64 frac, int decimals)
{
	char digits[9];

	for (int i = decimals - 1; i >= 0; i--) {
		digits[i] = (char)('0' + frac % 10);
		frac /= 10;
	}
	jw_putc(w, '.');
	for (int i = 0; i < decimals; i++)
		jw_putc(w, digits[i]);
}

void jw_fixed(struct jw *w, const char *key, s64 v, int decimals)
{
	static const u64 pow10[] = {
		1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
	};
	u64 mag = v < 0 ? -(u64)v : (u64)v;

	if (decimals < 0 || decimals >= (int)ARRAY_SIZE(pow10)) {
		jw_fail(w);
		return;
	}
	if (!jw_value_start(w, key))
		return;
	if (v < 0)
		jw_putc(w, '-');
	jw_dec(w, mag / pow10[decimals]);
	if (decimals)
		jw_fraction(w, mag % pow10[decimals], decimals);
}

const char *jw_finish(struct jw *w)
{
	if (w->overflow || w->depth != 0 || w->len == 0)
		return NULL;
	w->buf[w->len] = '\0';
	return w->buf;
}
