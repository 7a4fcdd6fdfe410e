/* A tiny JSON writer into a caller-supplied buffer, for the machine-readable
 * records the kernel prints on the serial port.  Output is compact (no spaces). */
#ifndef KERNEL_JSON_H
#define KERNEL_JSON_H

#include "kernel/types.h"

#define JW_MAX_DEPTH 16

/*
 * depth counts the open objects/arrays; misuse (a key where none belongs or a
 * missing one, a close that does not match, a second top-level value, nesting
 * past JW_MAX_DEPTH, decimals out of range) sets it to -1 for good, so that
 * jw_finish() reports it instead of producing malformed JSON.
 */
struct jw {
	char *buf;
	size_t cap, len;
	int depth;
	bool need_comma[JW_MAX_DEPTH];	/* per open container: an element is already written */
	bool in_array[JW_MAX_DEPTH];	/* per open container: array, not object */
	bool overflow;
};

void jw_init(struct jw *w, char *buf, size_t cap);

/* key names the member inside an object; it must be NULL at top level and in arrays. */
void jw_obj_begin(struct jw *w, const char *key);
void jw_obj_end(struct jw *w);
void jw_arr_begin(struct jw *w, const char *key);
void jw_arr_end(struct jw *w);

/* A NULL val writes null; control characters are escaped, valid UTF-8 passes through and any
 * other byte >= 0x80 is written as \ufffd (JSON text is UTF-8). */
void jw_str(struct jw *w, const char *key, const char *val);
void jw_u64(struct jw *w, const char *key, u64 v);
void jw_s64(struct jw *w, const char *key, s64 v);
void jw_bool(struct jw *w, const char *key, bool v);
void jw_null(struct jw *w, const char *key);
/* The string "0x..." in lowercase without padding, since JSON numbers lose 64-bit precision. */
void jw_hex(struct jw *w, const char *key, u64 v);
/* v / 10^decimals as a number, e.g. (12345, 3) -> 12.345 and (-5, 2) -> -0.05; decimals 0..9. */
void jw_fixed(struct jw *w, const char *key, s64 v, int decimals);

/* The NUL-terminated text, or NULL after overflow, misuse, unclosed nesting or no value. */
const char *jw_finish(struct jw *w);

#endif
