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
	bool other = false; /* the previous character was one of the others */

	for (; *id && n < sizeof(clean) - 1; id++) {
		char c = *id;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
			if (other)
				continue; /* a run of other characters is one '-' */
			other = true;
			c = '-';
		} else {
			other = false;
		}
		clean[n++] = c;
	}
	while (n && clean[n - 1] == '-')
		n--;
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
