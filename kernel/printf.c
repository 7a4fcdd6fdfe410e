/* printf-style formatting without libc: kvformat() does the work and hands each
 * character to a callback, so the console, the serial port and snprintf share it. */
#include "kernel/printf.h"
#include "kernel/types.h"
#include "kernel/string.h"

/* Widths and precisions are clamped so that absurd values cannot overflow the count. */
#define PRINTF_MAX_WIDTH (1 << 24)

#define F_LEFT	0x01	/* '-' */
#define F_ZERO	0x02	/* '0' */
#define F_PLUS	0x04	/* '+' */
#define F_SPACE	0x08	/* ' ' */
#define F_ALT	0x10	/* '#' */

enum printf_len { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_T, LEN_J };

struct printf_state {
	kputc_fn out;
	void *ctx;
	int count;
	va_list ap;
};

struct printf_spec {
	unsigned int flags;
	int width;
	int prec;		/* -1 when no precision was given */
	enum printf_len len;
};

static void printf_emit(struct printf_state *st, char c)
{
	st->out(st->ctx, c);
	st->count++;
}

static void printf_repeat(struct printf_state *st, char c, int n)
{
	while (n-- > 0)
		printf_emit(st, c);
}

static void printf_write(struct printf_state *st, const char *s, size_t n)
{
	while (n--)
		printf_emit(st, *s++);
}

static int printf_clamp(long long v)
{
	return v > PRINTF_MAX_WIDTH ? PRINTF_MAX_WIDTH : (int)v;
}

static int printf_parse_uint(const char **p)
{
	long long v = 0;

	while (**p >= '0' && **p <= '9') {
		if (v <= PRINTF_MAX_WIDTH)
			v = v * 10 + (**p - '0');
		(*p)++;
	}
	return printf_clamp(v);
}

static unsigned int printf_flag(char c)
{
	switch (c) {
	case '-': return F_LEFT;
	case '0': return F_ZERO;
	case '+': return F_PLUS;
	case ' ': return F_SPACE;
	case '#': return F_ALT;
	default: return 0;
	}
}

/* A '*' width takes an int argument; a negative one means left-justify. */
static void printf_parse_width(struct printf_state *st, struct printf_spec *sp,
			       const char **p)
{
	if (**p != '*') {
		sp->width = printf_parse_uint(p);
		return;
	}
	(*p)++;
	long long w = va_arg(st->ap, int);
	if (w < 0) {
		sp->flags |= F_LEFT;
		w = -w;
	}
	sp->width = printf_clamp(w);
}

/* A negative '*' precision counts as no precision at all, as in C. */
static void printf_parse_prec(struct printf_state *st, struct printf_spec *sp,
			      const char **p)
{
	sp->prec = -1;
	if (**p != '.')
		return;
	(*p)++;
	if (**p != '*') {
		sp->prec = printf_parse_uint(p);
		return;
	}
	(*p)++;
	int v = va_arg(st->ap, int);
	if (v >= 0)
		sp->prec = printf_clamp(v);
}

static enum printf_len printf_parse_len(const char **p)
{
	char c = **p;
	char next = c ? (*p)[1] : 0;

	switch (c) {
	case 'h':
		*p += (next == 'h') ? 2 : 1;
		return next == 'h' ? LEN_HH : LEN_H;
	case 'l':
		*p += (next == 'l') ? 2 : 1;
		return next == 'l' ? LEN_LL : LEN_L;
	case 'z': (*p)++; return LEN_Z;
	case 't': (*p)++; return LEN_T;
	case 'j': (*p)++; return LEN_J;
	default: return LEN_NONE;
	}
}

/* Parses everything between '%' and the conversion character. */
static void printf_parse_spec(struct printf_state *st, struct printf_spec *sp,
			      const char **p)
{
	unsigned int f;

	sp->flags = 0;
	while ((f = printf_flag(**p)) != 0) {
		sp->flags |= f;
		(*p)++;
	}
	printf_parse_width(st, sp, p);
	printf_parse_prec(st, sp, p);
	sp->len = printf_parse_len(p);
}

/* Arguments narrower than int arrive promoted, so they are narrowed back here. */
static s64 printf_fetch_signed(struct printf_state *st, enum printf_len len)
{
	switch (len) {
	case LEN_HH: return (signed char)va_arg(st->ap, int);
	case LEN_H: return (short)va_arg(st->ap, int);
	case LEN_L: return va_arg(st->ap, long);
	case LEN_LL: return va_arg(st->ap, long long);
	case LEN_Z: return (s64)va_arg(st->ap, size_t);
	case LEN_T: return va_arg(st->ap, ptrdiff_t);
	case LEN_J: return va_arg(st->ap, intmax_t);
	default: return va_arg(st->ap, int);
	}
}

static u64 printf_fetch_unsigned(struct printf_state *st, enum printf_len len)
{
	switch (len) {
	case LEN_HH: return (unsigned char)va_arg(st->ap, unsigned int);
	case LEN_H: return (unsigned short)va_arg(st->ap, unsigned int);
	case LEN_L: return va_arg(st->ap, unsigned long);
	case LEN_LL: return va_arg(st->ap, unsigned long long);
	case LEN_Z: return va_arg(st->ap, size_t);
	case LEN_T: return (u64)va_arg(st->ap, ptrdiff_t);
	case LEN_J: return va_arg(st->ap, uintmax_t);
	default: return va_arg(st->ap, unsigned int);
	}
}

/*
 * Writes the digits of v at the end of buf (which must hold 22 chars, enough
 * for a 64-bit octal number) and returns a pointer to the first one.  Zero
 * yields no digits, because the precision decides whether "0" appears.
 */
static char *printf_digits(char *end, u64 v, unsigned int base, bool upper)
{
	const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	while (v) {
		*--end = set[v % base];
		v /= base;
	}
	return end;
}

/* The precision of an integer conversion is its minimum number of digits. */
static int printf_min_digits(const struct printf_spec *sp)
{
	return sp->prec < 0 ? 1 : sp->prec;
}

/* Lays out prefix, zero fill and nd digits, at least min of them, inside the width. */
static void printf_field(struct printf_state *st, const struct printf_spec *sp,
			 const char *prefix, const char *digits, int nd, int min)
{
	int plen = (int)strlen(prefix);
	int zeros = min - nd;
	int pad;

	if (zeros < 0)
		zeros = 0;
	pad = sp->width - plen - zeros - nd;
	if (pad > 0 && !(sp->flags & F_LEFT) && (sp->flags & F_ZERO) && sp->prec < 0) {
		zeros += pad;
		pad = 0;
	}
	if (!(sp->flags & F_LEFT))
		printf_repeat(st, ' ', pad);
	printf_write(st, prefix, plen);
	printf_repeat(st, '0', zeros);
	printf_write(st, digits, nd);
	if (sp->flags & F_LEFT)
		printf_repeat(st, ' ', pad);
}

static void printf_signed(struct printf_state *st, const struct printf_spec *sp)
{
	s64 v = printf_fetch_signed(st, sp->len);
	/* Negating in unsigned arithmetic keeps INT64_MIN well defined. */
	u64 mag = v < 0 ? -(u64)v : (u64)v;
	const char *prefix = "";
	char buf[24];
	char *d = printf_digits(buf + sizeof(buf), mag, 10, false);

	if (v < 0)
		prefix = "-";
	else if (sp->flags & F_PLUS)
		prefix = "+";
	else if (sp->flags & F_SPACE)
		prefix = " ";
	printf_field(st, sp, prefix, d, (int)(buf + sizeof(buf) - d),
		     printf_min_digits(sp));
}

static void printf_unsigned(struct printf_state *st, const struct printf_spec *sp,
			    char conv)
{
	u64 v = printf_fetch_unsigned(st, sp->len);
	unsigned int base = conv == 'u' ? 10 : conv == 'o' ? 8 : 16;
	const char *prefix = "";
	char buf[24];
	char *d = printf_digits(buf + sizeof(buf), v, base, conv == 'X');
	int nd = (int)(buf + sizeof(buf) - d);
	int min = printf_min_digits(sp);

	if ((sp->flags & F_ALT) && base == 16 && v)
		prefix = conv == 'X' ? "0X" : "0x";
	/* '#' with %o only forces a leading zero when there is not one already. */
	if ((sp->flags & F_ALT) && base == 8 && min <= nd)
		min = nd + 1;
	printf_field(st, sp, prefix, d, nd, min);
}

/* Pointers always show all 16 digits so that addresses line up in logs. */
static void printf_pointer(struct printf_state *st, const struct printf_spec *sp)
{
	u64 v = (u64)(uintptr_t)va_arg(st->ap, void *);
	char buf[24];
	char *d = printf_digits(buf + sizeof(buf), v, 16, false);

	printf_field(st, sp, "0x", d, (int)(buf + sizeof(buf) - d), 16);
}

static void printf_text(struct printf_state *st, const struct printf_spec *sp,
			const char *s, size_t n)
{
	int pad = sp->width - (int)n;

	if (!(sp->flags & F_LEFT))
		printf_repeat(st, ' ', pad);
	printf_write(st, s, n);
	if (sp->flags & F_LEFT)
		printf_repeat(st, ' ', pad);
}

static void printf_string(struct printf_state *st, const struct printf_spec *sp)
{
	const char *s = va_arg(st->ap, const char *);

	if (!s)
		s = "(null)";
	/* strnlen() so that a precision can bound a string with no terminator. */
	printf_text(st, sp, s, sp->prec < 0 ? strlen(s) : strnlen(s, sp->prec));
}

static void printf_char(struct printf_state *st, const struct printf_spec *sp)
{
	char c = (char)va_arg(st->ap, int);

	printf_text(st, sp, &c, 1);
}

/* Returns false for an unknown conversion, which the caller echoes verbatim. */
static bool printf_convert(struct printf_state *st, const struct printf_spec *sp,
			   char conv)
{
	switch (conv) {
	case 'd':
	case 'i':
		printf_signed(st, sp);
		return true;
	case 'u':
	case 'x':
	case 'X':
	case 'o':
		printf_unsigned(st, sp, conv);
		return true;
	case 'p': printf_pointer(st, sp); return true;
	case 's': printf_string(st, sp); return true;
	case 'c': printf_char(st, sp); return true;
	case '%': printf_emit(st, '%'); return true;
	default: return false;
	}
}

int kvformat(kputc_fn out, void *ctx, const char *fmt, va_list ap)
{
	struct printf_state st = { .out = out, .ctx = ctx, .count = 0 };
	struct printf_spec sp;
	const char *p = fmt;

	va_copy(st.ap, ap);
	while (*p) {
		const char *start = p;

		if (*p++ != '%') {
			printf_emit(&st, *start);
			continue;
		}
		printf_parse_spec(&st, &sp, &p);
		if (!*p || !printf_convert(&st, &sp, *p))
			printf_write(&st, start, p - start + (*p != 0));
		if (*p)
			p++;
	}
	va_end(st.ap);
	return st.count;
}

struct printf_buf {
	char *buf;
	size_t size;
	size_t pos;
};

/* Keeps counting past the end so the caller learns the length it needed. */
static void printf_buf_putc(void *ctx, char c)
{
	struct printf_buf *b = ctx;

	if (b->pos + 1 < b->size)
		b->buf[b->pos] = c;
	b->pos++;
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct printf_buf b = { .buf = buf, .size = size, .pos = 0 };
	int n = kvformat(printf_buf_putc, &b, fmt, ap);

	if (size)
		buf[b.pos < size ? b.pos : size - 1] = '\0';
	return n;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
