/* The kernel command line: every option is described once, in a table, and
 * parsed here; the same table produces the usage listing for docs and the boot log. */
#ifndef KERNEL_CMDLINE_H
#define KERNEL_CMDLINE_H

#include "kernel/types.h"

enum opt_type { OPT_ENUM, OPT_UINT, OPT_STR, OPT_BOOL };

struct opt {
	const char *key;
	enum opt_type type;
	const char *help;		/* one short phrase, for the usage listing */
	const char *const *choices;	/* OPT_ENUM: NULL-terminated list of valid values */
	u64 min, max;			/* OPT_UINT: inclusive range */
	void *dst;			/* OPT_ENUM: int * (index into choices); OPT_UINT: u64 *;
					 * OPT_STR: const char ** (points into scratch);
					 * OPT_BOOL: bool *; NULL: validated but not stored */
};

/*
 * Parses "key=value" tokens separated by blanks.  A leading token without '='
 * that contains '/' is taken to be the image path and skipped.  The line is
 * validated completely before anything is stored, so on failure every
 * destination keeps its default.  Returns 0, or -1 with a one-line message
 * (no newline) in err.
 */
int cmdline_parse(const char *cmdline, const struct opt *opts, size_t nopts,
		  char *scratch, size_t scratch_len, char *err, size_t err_len);

/* One "  key=<values>  help" line per option; returns the length like snprintf. */
int cmdline_usage(char *buf, size_t len, const struct opt *opts, size_t nopts);

#endif
