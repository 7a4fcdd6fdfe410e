/* Record output: the JSON is built in a buffer and printed in one locked write, so records from
 * different CPUs never interleave. */
#include "kernel/record.h"
#include "kernel/console.h"
#include "kernel/string.h"

void record_begin(struct jw *w, char *buf, size_t len, const char *kind)
{
	jw_init(w, buf, len);
	jw_obj_begin(w, NULL);
	jw_str(w, "record", kind);
}

void record_case(const char *id, const char *result, u64 measurement, const char *units)
{
	char clean[CASE_ID_MAX];
	size_t n = 0;

	for (; id[n] && n < sizeof(clean) - 1; n++) {
		char c = id[n];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		clean[n] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			   c == '-' ? c : '-';
	}
	clean[n] = 0;
	cprintf(CON_SERIAL, CASE_MARKER "%s %s %lu %s\n", clean, result, measurement, units);
}

void record_end(struct jw *w)
{
	const char *text;

	jw_obj_end(w);
	text = jw_finish(w);
	if (!text)
		text = "{\"record\":\"error\",\"detail\":\"record too large or malformed\"}";
	cprintf(CON_SERIAL, RECORD_MARKER "%s\n", text);
}
