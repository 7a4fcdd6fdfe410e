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

void record_end(struct jw *w)
{
	const char *text;

	jw_obj_end(w);
	text = jw_finish(w);
	if (!text)
		text = "{\"record\":\"error\",\"detail\":\"record too large or malformed\"}";
	cprintf(CON_SERIAL, RECORD_MARKER "%s\n", text);
}
