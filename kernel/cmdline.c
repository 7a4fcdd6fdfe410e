/* Kernel command line parsing driven by a table of struct opt, so that every
 * option, its valid values and its error messages are defined in one place. */
#include "kernel/cmdline.h"
#include "kernel/types.h"
#include "kernel/string.h"
#include "kernel/printf.h"

/* A piece of the command line; tokens are not NUL-terminated. */
struct cmdline_span {
	const char *s;
	size_t len;
};

/* An snprintf-like sink that can be appended to piece by piece. */
struct cmdline_out {
	char *buf;
	size_t len;
	size_t pos;
};

struct cmdline_ctx {
	const struct opt *opts;
	size_t nopts;
	char *scratch;
	size_t scratch_len;
	size_t used;
	struct cmdline_out err;
	bool apply;		/* false while validating, true when storing */
};

static const char *const cmdline_bool_words[] = {
	"0", "1", "yes", "no", "on", "off", "true", "false",
};
static const bool cmdline_bool_values[] = {
	false, true, true, false, true, false, true, false,
};

static void cmdline_out_init(struct cmdline_out *o, char *buf, size_t len)
{
	o->buf = buf;
	o->len = buf ? len : 0;
	o->pos = 0;
	if (o->len)
		buf[0] = '\0';
}

static void __attribute__((format(printf, 2, 3)))
cmdline_append(struct cmdline_out *o, const char *fmt, ...)
{
	size_t room = o->pos < o->len ? o->len - o->pos : 0;
	va_list ap;

	va_start(ap, fmt);
	o->pos += kvsnprintf(room ? o->buf + o->pos : NULL, room, fmt, ap);
	va_end(ap);
}

static bool cmdline_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool cmdline_next(const char **p, struct cmdline_span *tok)
{
	while (cmdline_blank(**p))
		(*p)++;
	tok->s = *p;
	while (**p && !cmdline_blank(**p))
		(*p)++;
	tok->len = *p - tok->s;
	return tok->len != 0;
}

/* Returns the index of c in the span, or its length when absent. */
static size_t cmdline_find(const struct cmdline_span *sp, char c)
{
	size_t i = 0;

	while (i < sp->len && sp->s[i] != c)
		i++;
	return i;
}

static bool cmdline_equal(const struct cmdline_span *sp, const char *word)
{
	return strnlen(word, sp->len + 1) == sp->len && !memcmp(sp->s, word, sp->len);
}

static const struct opt *cmdline_lookup(const struct cmdline_ctx *c,
					const struct cmdline_span *key)
{
	for (size_t i = 0; i < c->nopts; i++)
		if (cmdline_equal(key, c->opts[i].key))
			return &c->opts[i];
	return NULL;
}

static int cmdline_unknown(struct cmdline_ctx *c, const struct cmdline_span *key)
{
	cmdline_append(&c->err, "cmdline: unknown option '%.*s' (valid: ",
		       (int)key->len, key->s);
	for (size_t i = 0; i < c->nopts; i++)
		cmdline_append(&c->err, "%s%s", i ? ", " : "", c->opts[i].key);
	cmdline_append(&c->err, ")");
	return -1;
}

/* Starts a "bad value" message; the caller appends the valid values and ')'. */
static void cmdline_bad_value(struct cmdline_ctx *c, const struct opt *o,
			      const struct cmdline_span *val)
{
	cmdline_append(&c->err, "cmdline: bad value '%.*s' for %s (valid: ",
		       (int)val->len, val->s, o->key);
}

/* The index of val among o's choices, or -1 with the message. */
static int cmdline_enum_value(struct cmdline_ctx *c, const struct opt *o,
			      const struct cmdline_span *val)
{
	for (int i = 0; o->choices && o->choices[i]; i++)
		if (cmdline_equal(val, o->choices[i]))
			return i;
	cmdline_bad_value(c, o, val);
	for (int i = 0; o->choices && o->choices[i]; i++)
		cmdline_append(&c->err, "%s%s", i ? ", " : "", o->choices[i]);
	cmdline_append(&c->err, ")");
	return -1;
}

static int cmdline_set_enum(struct cmdline_ctx *c, const struct opt *o,
			    const struct cmdline_span *val)
{
	int i = cmdline_enum_value(c, o, val);

	if (i < 0)
		return -1;
	if (c->apply && o->dst)
		*(int *)o->dst = i;
	return 0;
}

static int cmdline_digit(char ch, unsigned int base)
{
	int d = -1;

	if (ch >= '0' && ch <= '9')
		d = ch - '0';
	else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
		d = (ch | 0x20) - 'a' + 10;
	return d >= 0 && (unsigned int)d < base ? d : -1;
}

static int cmdline_suffix_shift(char ch)
{
	switch (ch | 0x20) {
	case 'k': return 10;
	case 'm': return 20;
	case 'g': return 30;
	default: return -1;
	}
}

/* Decimal or 0x-hex, then an optional binary k/m/g suffix; rejects any overflow. */
static bool cmdline_parse_u64(const struct cmdline_span *val, u64 *out)
{
	const char *s = val->s, *end = val->s + val->len;
	unsigned int base = 10;
	u64 v = 0;
	int d, shift;

	if (end - s > 2 && s[0] == '0' && (s[1] | 0x20) == 'x') {
		base = 16;
		s += 2;
	}
	if (s == end || cmdline_digit(*s, base) < 0)
		return false;
	for (; s < end && (d = cmdline_digit(*s, base)) >= 0; s++) {
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}
	if (s < end && (shift = cmdline_suffix_shift(*s)) > 0) {
		if (v > UINT64_MAX >> shift)
			return false;
		v <<= shift;
		s++;
	}
	*out = v;
	return s == end;
}

/* val as a number in o's range, or -1 with the message. */
static int cmdline_uint_value(struct cmdline_ctx *c, const struct opt *o,
			      const struct cmdline_span *val, u64 *v)
{
	if (cmdline_parse_u64(val, v) && *v >= o->min && *v <= o->max)
		return 0;
	cmdline_bad_value(c, o, val);
	cmdline_append(&c->err, "%llu..%llu)", (unsigned long long)o->min,
		       (unsigned long long)o->max);
	return -1;
}

static int cmdline_set_uint(struct cmdline_ctx *c, const struct opt *o,
			    const struct cmdline_span *val)
{
	u64 v;

	if (cmdline_uint_value(c, o, val, &v))
		return -1;
	if (c->apply && o->dst)
		*(u64 *)o->dst = v;
	return 0;
}

static int cmdline_set_bool(struct cmdline_ctx *c, const struct opt *o,
			    const struct cmdline_span *val)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmdline_bool_words); i++) {
		if (!cmdline_equal(val, cmdline_bool_words[i]))
			continue;
		if (c->apply && o->dst)
			*(bool *)o->dst = cmdline_bool_values[i];
		return 0;
	}
	cmdline_bad_value(c, o, val);
	for (size_t i = 0; i < ARRAY_SIZE(cmdline_bool_words); i++)
		cmdline_append(&c->err, "%s%s", i ? ", " : "", cmdline_bool_words[i]);
	cmdline_append(&c->err, ")");
	return -1;
}

/* Each value gets its own NUL-terminated copy, because tokens are not terminated. */
static int cmdline_set_str(struct cmdline_ctx *c, const struct opt *o,
			   const struct cmdline_span *val)
{
	char *copy;

	if (c->scratch_len - c->used < val->len + 1) {
		cmdline_append(&c->err, "cmdline: values too long (scratch full)");
		return -1;
	}
	copy = c->scratch + c->used;
	c->used += val->len + 1;
	if (!c->apply)
		return 0;
	memcpy(copy, val->s, val->len);
	copy[val->len] = '\0';
	if (o->dst)
		*(const char **)o->dst = copy;
	return 0;
}

/* One item of a list: checked as the scalar would be, stored as its index or number. */
static int cmdline_list_item(struct cmdline_ctx *c, const struct opt *o,
			     const struct cmdline_span *item, struct opt_list *out)
{
	u64 v;
	int i;

	if (!item->len) {
		cmdline_append(&c->err, "cmdline: empty value in the list for %s", o->key);
		return -1;
	}
	if (o->type == OPT_ENUM_LIST) {
		if ((i = cmdline_enum_value(c, o, item)) < 0)
			return -1;
		v = (u64)i;
	} else if (cmdline_uint_value(c, o, item, &v)) {
		return -1;
	}
	if (out->n == OPT_LIST_MAX) {
		cmdline_append(&c->err, "cmdline: too many values for %s (at most %u)", o->key,
			       OPT_LIST_MAX);
		return -1;
	}
	out->v[out->n++] = v;
	return 0;
}

static int cmdline_set_list(struct cmdline_ctx *c, const struct opt *o,
			    const struct cmdline_span *val)
{
	struct opt_list list = { 0 };
	struct cmdline_span rest = *val;

	for (;;) {
		size_t comma = cmdline_find(&rest, ',');
		struct cmdline_span item = { rest.s, comma };

		if (cmdline_list_item(c, o, &item, &list))
			return -1;
		if (comma == rest.len)
			break;
		rest.s += comma + 1;
		rest.len -= comma + 1;
	}
	if (c->apply && o->dst)
		*(struct opt_list *)o->dst = list;
	return 0;
}

static int cmdline_set(struct cmdline_ctx *c, const struct opt *o,
		       const struct cmdline_span *val)
{
	switch (o->type) {
	case OPT_ENUM: return cmdline_set_enum(c, o, val);
	case OPT_UINT: return cmdline_set_uint(c, o, val);
	case OPT_BOOL: return cmdline_set_bool(c, o, val);
	case OPT_STR: return cmdline_set_str(c, o, val);
	case OPT_ENUM_LIST:
	case OPT_UINT_LIST: return cmdline_set_list(c, o, val);
	default: return -1;
	}
}

static int cmdline_token(struct cmdline_ctx *c, const struct cmdline_span *tok, bool first)
{
	size_t eq = cmdline_find(tok, '=');
	struct cmdline_span key = { tok->s, eq };
	struct cmdline_span val = { tok->s + eq + 1, tok->len - eq - 1 };
	const struct opt *o;

	if (eq == tok->len) {
		if (first && cmdline_find(tok, '/') < tok->len)
			return 0;
		cmdline_append(&c->err, "cmdline: '%.*s' is not key=value",
			       (int)tok->len, tok->s);
		return -1;
	}
	o = cmdline_lookup(c, &key);
	if (!o)
		return cmdline_unknown(c, &key);
	return cmdline_set(c, o, &val);
}

static int cmdline_walk(struct cmdline_ctx *c, const char *p)
{
	struct cmdline_span tok;
	bool first = true;

	c->used = 0;
	while (cmdline_next(&p, &tok)) {
		if (cmdline_token(c, &tok, first) < 0)
			return -1;
		first = false;
	}
	return 0;
}

int cmdline_parse(const char *cmdline, const struct opt *opts, size_t nopts,
		  char *scratch, size_t scratch_len, char *err, size_t err_len)
{
	struct cmdline_ctx c = {
		.opts = opts, .nopts = nopts,
		.scratch = scratch, .scratch_len = scratch ? scratch_len : 0,
	};

	cmdline_out_init(&c.err, err, err_len);
	if (!cmdline)
		cmdline = "";
	/* A dry run first, so that a bad line leaves every default in place. */
	if (cmdline_walk(&c, cmdline) < 0)
		return -1;
	c.apply = true;
	return cmdline_walk(&c, cmdline);
}

static void cmdline_usage_values(struct cmdline_out *o, const struct opt *opt)
{
	switch (opt->type) {
	case OPT_ENUM:
	case OPT_ENUM_LIST:
		for (int i = 0; opt->choices && opt->choices[i]; i++)
			cmdline_append(o, "%s%s", i ? "|" : "", opt->choices[i]);
		break;
	case OPT_UINT:
	case OPT_UINT_LIST:
		cmdline_append(o, "%llu..%llu", (unsigned long long)opt->min,
			       (unsigned long long)opt->max);
		break;
	case OPT_BOOL:
		cmdline_append(o, "0|1");
		break;
	default:
		cmdline_append(o, "string");
		break;
	}
}

int cmdline_usage(char *buf, size_t len, const struct opt *opts, size_t nopts)
{
	struct cmdline_out o;

	cmdline_out_init(&o, buf, len);
	for (size_t i = 0; i < nopts; i++) {
		cmdline_append(&o, "  %s=<", opts[i].key);
		cmdline_usage_values(&o, &opts[i]);
		if (opts[i].type == OPT_ENUM_LIST || opts[i].type == OPT_UINT_LIST)
			cmdline_append(&o, ",...");
		cmdline_append(&o, ">%s%s\n", opts[i].help ? "  " : "",
			       opts[i].help ? opts[i].help : "");
	}
	return (int)o.pos;
}
