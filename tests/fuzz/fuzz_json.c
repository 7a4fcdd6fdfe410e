/* libFuzzer target: the JSON writer (kernel/json.c). The input is turned into a sequence of
 * jw_* calls with arbitrary keys and strings (control characters, quotes, backslashes, bytes
 * >= 0x80 that may or may not be UTF-8); the calls are recorded, then replayed into a writer.
 *
 * Input: a mode byte and a 16-bit buffer size, then the calls. Mode bit 0 clear: any calls in
 * any order, into a buffer of that size (misuse, overflow, bad decimals all happen). Set: only
 * well-formed sequences (a key exactly inside objects, nesting within JW_MAX_DEPTH, decimals
 * 0..9), into a large buffer.
 * Properties: whenever jw_finish() returns text, it is strict JSON (RFC 8259, UTF-8 included)
 * and decodes, value by value, to exactly the calls made: key and string bytes as given, except
 * that each byte that does not start a valid UTF-8 sequence reads back as U+FFFD; numbers as
 * given. A well-formed sequence always succeeds, again with a buffer of exactly its length plus
 * the NUL, and never with one byte less. */
#include "tests/fuzz/fuzz.h"

#include <inttypes.h>

#include "kernel/json.h"

#define MAX_EVENTS 256
#define MAX_KEY 24
#define MAX_STR 48

enum ev_type { EV_OBJ, EV_OBJ_END, EV_ARR, EV_ARR_END, EV_STR, EV_NULLSTR, EV_U64, EV_S64,
	       EV_BOOL, EV_NULL, EV_HEX, EV_FIXED, EV_TYPES };

struct ev {
	enum ev_type type;
	bool has_key;
	char key[MAX_KEY + 1], str[MAX_STR + 1];
	u64 u;
	int decimals;
};

static struct ev evs[MAX_EVENTS];
static int nevs;

/* ---- the calls ---- */

static void replay(struct jw *w)
{
	for (int i = 0; i < nevs; i++) {
		const struct ev *e = &evs[i];
		const char *k = e->has_key ? e->key : NULL;

		switch (e->type) {
		case EV_OBJ: jw_obj_begin(w, k); break;
		case EV_OBJ_END: jw_obj_end(w); break;
		case EV_ARR: jw_arr_begin(w, k); break;
		case EV_ARR_END: jw_arr_end(w); break;
		case EV_STR: jw_str(w, k, e->str); break;
		case EV_NULLSTR: jw_str(w, k, NULL); break;
		case EV_U64: jw_u64(w, k, e->u); break;
		case EV_S64: jw_s64(w, k, (s64)e->u); break;
		case EV_BOOL: jw_bool(w, k, e->u & 1); break;
		case EV_NULL: jw_null(w, k); break;
		case EV_HEX: jw_hex(w, k, e->u); break;
		case EV_FIXED: jw_fixed(w, k, (s64)e->u, e->decimals); break;
		default: break;
		}
	}
}

/* The value part of a call: its string or number, from the input. */
static void take_value(struct fz *f, struct ev *e, bool well_formed)
{
	u8 b;

	if (e->type == EV_STR)
		fz_str(f, e->str, MAX_STR);
	b = fz_u8(f);
	/* small numbers, boundaries and everything between */
	e->u = b & 0x80 ? fz_u64(f) : b & 0x40 ? (u64)(s64)(s8)b : b & 0x20 ? INT64_MIN : b;
	b = fz_u8(f);
	e->decimals = well_formed ? b % 10 : (s8)b % 12;
}

static void add_event(struct fz *f, enum ev_type type, bool has_key, bool well_formed)
{
	struct ev *e = &evs[nevs++];

	memset(e, 0, sizeof(*e));
	e->type = type;
	e->has_key = has_key;
	if (has_key)
		fz_str(f, e->key, MAX_KEY);
	if (type >= EV_STR)
		take_value(f, e, well_formed);
}

static void gen_any(struct fz *f)
{
	while (f->left && nevs < MAX_EVENTS) {
		u8 op = fz_u8(f);

		add_event(f, (enum ev_type)((op & 0x7f) % EV_TYPES), op & 0x80, false);
	}
}

/* One top-level value; containers nest as the input says, up to JW_MAX_DEPTH, and are all
 * closed when the input (or the room for events) runs out. */
static void gen_well_formed(struct fz *f)
{
	bool arr[JW_MAX_DEPTH];
	int depth = 0;

	do {
		enum ev_type t = (enum ev_type)(fz_u8(f) % EV_TYPES);
		bool key = depth && !arr[depth - 1];
		bool out = !f->left || nevs >= MAX_EVENTS - JW_MAX_DEPTH - 1;

		if ((t == EV_OBJ || t == EV_ARR) && depth < JW_MAX_DEPTH && !out) {
			add_event(f, t, key, true);
			arr[depth++] = t == EV_ARR;
		} else if ((t == EV_OBJ_END || t == EV_ARR_END || out) && depth) {
			depth--;
			add_event(f, arr[depth] ? EV_ARR_END : EV_OBJ_END, false, true);
		} else {
			/* an open too deep or a close at top level: a scalar instead */
			add_event(f, t < EV_STR ? EV_U64 : t, key, true);
		}
	} while (depth);
}

/* ---- what the text must say: strings as UTF-8, invalid bytes as U+FFFD ---- */

static bool cont(u8 c)
{
	return (c & 0xc0) == 0x80;
}

/* The length of the UTF-8 sequence at p (RFC 3629 section 4: no overlong forms, no
 * surrogates, nothing past U+10FFFF), or 0 when none starts there. */
static size_t utf8_len(const u8 *p, const u8 *end)
{
	size_t n = (size_t)(end - p);
	u8 lo = 0x80, hi = 0xbf;

	if (!n)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return n >= 2 && cont(p[1]) ? 2 : 0;
	if (p[0] == 0xe0 || p[0] == 0xf0)
		lo = p[0] == 0xe0 ? 0xa0 : 0x90;
	if (p[0] == 0xed || p[0] == 0xf4)
		hi = p[0] == 0xed ? 0x9f : 0x8f;
	if (p[0] >= 0xe0 && p[0] <= 0xef)
		return n >= 3 && p[1] >= lo && p[1] <= hi && cont(p[2]) ? 3 : 0;
	if (p[0] >= 0xf0 && p[0] <= 0xf4)
		return n >= 4 && p[1] >= lo && p[1] <= hi && cont(p[2]) && cont(p[3]) ? 4 : 0;
	return 0;
}

#define DECODED_MAX (3 * MAX_STR + 1)

static size_t expected_string(const char *s, u8 *out)
{
	const u8 *p = (const u8 *)s, *end = p + strlen(s);
	size_t n = 0, k;

	while (p < end) {
		if ((k = utf8_len(p, end))) {
			memcpy(out + n, p, k);
			p += k;
		} else {
			memcpy(out + n, "\xef\xbf\xbd", 3);
			p++;
			k = 3;
		}
		n += k;
	}
	return n;
}

/* ---- a strict JSON reader, checking each value against the next call ---- */

struct reader {
	const u8 *p, *end;
	int ev;
};

static bool eat(struct reader *r, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n))
		return false;
	r->p += n;
	return true;
}

static int hex4(struct reader *r)
{
	int v = 0;

	for (int i = 0; i < 4; i++, r->p++) {
		u8 c = r->p < r->end ? *r->p : 0;
		int d = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ?
			(c | 0x20) - 'a' + 10 : -1;

		FUZZ_CHECK(d >= 0);
		v = v * 16 + d;
	}
	return v;
}

static size_t put_utf8(u8 *out, u32 cp)
{
	if (cp < 0x80)
		return out[0] = (u8)cp, 1;
	if (cp < 0x800)
		return out[0] = (u8)(0xc0 | cp >> 6), out[1] = (u8)(0x80 | (cp & 0x3f)), 2;
	if (cp < 0x10000)
		return out[0] = (u8)(0xe0 | cp >> 12), out[1] = (u8)(0x80 | (cp >> 6 & 0x3f)),
		       out[2] = (u8)(0x80 | (cp & 0x3f)), 3;
	return out[0] = (u8)(0xf0 | cp >> 18), out[1] = (u8)(0x80 | (cp >> 12 & 0x3f)),
	       out[2] = (u8)(0x80 | (cp >> 6 & 0x3f)), out[3] = (u8)(0x80 | (cp & 0x3f)), 4;
}

/* \uXXXX, a surrogate pair only as a pair. */
static u32 unicode_escape(struct reader *r)
{
	u32 cp = (u32)hex4(r), lo;

	FUZZ_CHECK(cp < 0xdc00 || cp > 0xdfff);
	if (cp < 0xd800 || cp > 0xdbff)
		return cp;
	FUZZ_CHECK(eat(r, "\\u"));
	lo = (u32)hex4(r);
	FUZZ_CHECK(lo >= 0xdc00 && lo <= 0xdfff);
	return 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
}

static size_t read_string(struct reader *r, u8 *out)
{
	static const char esc[] = "\"\\/bfnrt", val[] = "\"\\/\b\f\n\r\t";
	size_t n = 0, k;

	FUZZ_CHECK(eat(r, "\""));
	while (!eat(r, "\"")) {
		FUZZ_CHECK(r->p < r->end && *r->p >= 0x20 && n + 4 <= DECODED_MAX);
		if (eat(r, "\\")) {
			const char *e = r->p < r->end && *r->p ? strchr(esc, *r->p) : NULL;

			if (e) {
				out[n++] = (u8)val[e - esc];
				r->p++;
			} else {
				FUZZ_CHECK(eat(r, "u"));
				n += put_utf8(out + n, unicode_escape(r));
			}
			continue;
		}
		k = utf8_len(r->p, r->end);
		FUZZ_CHECK(k != 0); /* RFC 8259 8.1: the text is UTF-8 */
		memcpy(out + n, r->p, k);
		r->p += k, n += k;
	}
	return n;
}

static void expect_string(struct reader *r, const char *s)
{
	u8 got[DECODED_MAX], want[DECODED_MAX];
	size_t n = read_string(r, got);

	FUZZ_CHECK(n == expected_string(s, want) && !memcmp(got, want, n));
}

static bool digit(struct reader *r)
{
	return r->p < r->end && *r->p >= '0' && *r->p <= '9';
}

/* RFC 8259 6: -? int frac? exp?, compared as text with what the call should print. */
static void expect_number(struct reader *r, const char *want)
{
	const u8 *start = r->p;

	eat(r, "-");
	FUZZ_CHECK(digit(r));
	if (!eat(r, "0"))
		while (digit(r))
			r->p++;
	if (eat(r, ".")) {
		FUZZ_CHECK(digit(r));
		while (digit(r))
			r->p++;
	}
	FUZZ_CHECK((size_t)(r->p - start) == strlen(want) && !memcmp(start, want, strlen(want)));
}

static void fixed_text(char *buf, size_t len, s64 v, int decimals)
{
	u64 mag = v < 0 ? -(u64)v : (u64)v, p = 1;

	for (int i = 0; i < decimals; i++)
		p *= 10;
	if (decimals)
		snprintf(buf, len, "%s%" PRIu64 ".%0*" PRIu64, v < 0 ? "-" : "", mag / p, decimals,
			 mag % p);
	else
		snprintf(buf, len, "%" PRId64, v);
}

static void read_value(struct reader *r, bool member);

/* The members or elements up to the close, each the next call in turn. */
static void read_container(struct reader *r, bool object)
{
	const struct ev *e;

	if (!eat(r, object ? "}" : "]")) {
		do {
			FUZZ_CHECK(r->ev < nevs);
			e = &evs[r->ev];
			FUZZ_CHECK(e->has_key == object);
			if (object) {
				expect_string(r, e->key);
				FUZZ_CHECK(eat(r, ":"));
			}
			read_value(r, object);
		} while (eat(r, ","));
		FUZZ_CHECK(eat(r, object ? "}" : "]"));
	}
	FUZZ_CHECK(r->ev < nevs && evs[r->ev++].type == (object ? EV_OBJ_END : EV_ARR_END));
}

static void read_value(struct reader *r, bool member)
{
	const struct ev *e;
	char num[48];

	FUZZ_CHECK(r->ev < nevs);
	e = &evs[r->ev++];
	FUZZ_CHECK(e->has_key == member);
	switch (e->type) {
	case EV_OBJ: FUZZ_CHECK(eat(r, "{")); read_container(r, true); return;
	case EV_ARR: FUZZ_CHECK(eat(r, "[")); read_container(r, false); return;
	case EV_STR: expect_string(r, e->str); return;
	case EV_NULLSTR:
	case EV_NULL: FUZZ_CHECK(eat(r, "null")); return;
	case EV_BOOL: FUZZ_CHECK(eat(r, e->u & 1 ? "true" : "false")); return;
	case EV_HEX:
		snprintf(num, sizeof(num), "0x%" PRIx64, e->u);
		expect_string(r, num);
		return;
	case EV_U64: snprintf(num, sizeof(num), "%" PRIu64, e->u); break;
	case EV_S64: snprintf(num, sizeof(num), "%" PRId64, (s64)e->u); break;
	case EV_FIXED: fixed_text(num, sizeof(num), (s64)e->u, e->decimals); break;
	default: FUZZ_CHECK(!"a call that writes nothing"); return;
	}
	expect_number(r, num);
}

/* The whole text: one value that is every call made, and nothing after it. */
static void check_text(const char *text)
{
	struct reader r = { (const u8 *)text, (const u8 *)text + strlen(text), 0 };

	read_value(&r, false);
	FUZZ_CHECK(r.p == r.end && r.ev == nevs);
}

/* ---- the two modes ---- */

static const char *write_into(struct jw *w, char *buf, size_t cap)
{
	jw_init(w, buf, cap);
	replay(w);
	return jw_finish(w);
}

static void check_any(size_t cap, bool null_buf)
{
	char *buf = null_buf ? NULL : malloc(cap ? cap : 1);
	struct jw w;
	const char *out = write_into(&w, buf, cap);

	if (out) {
		FUZZ_CHECK(out == buf && strlen(out) == w.len && w.len < cap);
		check_text(out);
	}
	free(buf);
}

static void check_well_formed(void)
{
	static char big[1 << 18];
	struct jw w;
	const char *out = write_into(&w, big, sizeof(big));
	char *exact;
	size_t len;

	FUZZ_CHECK(out != NULL);
	check_text(out);
	len = strlen(out);
	exact = malloc(len + 1);
	FUZZ_CHECK(write_into(&w, exact, len + 1) == exact && !strcmp(exact, big));
	FUZZ_CHECK(write_into(&w, exact, len) == NULL);
	free(exact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = fz_init(data, size);
	u8 mode = fz_u8(&f);
	size_t cap = fz_u16(&f);

	nevs = 0;
	if (mode & 1) {
		gen_well_formed(&f);
		check_well_formed();
	} else {
		gen_any(&f);
		check_any(cap, (mode & 2) && !cap);
	}
	return 0;
}
