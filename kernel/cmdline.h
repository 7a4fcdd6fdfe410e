/* The kernel command line: every option is described once, in a table, and
 * parsed here; the same table produces the usage listing for docs and the boot log. */
#ifndef KERNEL_CMDLINE_H
#define KERNEL_CMDLINE_H

#include "kernel/types.h"

/* The _LIST types take comma-separated values, each checked as the scalar type would be. */
enum opt_type { OPT_ENUM, OPT_UINT, OPT_STR, OPT_BOOL, OPT_ENUM_LIST, OPT_UINT_LIST };

#define OPT_LIST_MAX 16

/* A list option's values in the order given: indices into choices, or numbers. */
struct opt_list {
	u32 n;
	u64 v[OPT_LIST_MAX];
};

struct opt {
	const char *key;
	enum opt_type type;
	const char *help;		/* one short phrase, for the usage listing */
	const char *const *choices;	/* OPT_ENUM(_LIST): NULL-terminated list of valid values */
	u64 min, max;			/* OPT_UINT(_LIST): inclusive range */
	void *dst;			/* OPT_ENUM: int * (index into choices); OPT_UINT: u64 *;
					 * OPT_STR: const char ** (points into scratch);
					 * OPT_BOOL: bool *; _LIST: struct opt_list *;
					 * NULL: validated but not stored */
	/* For the application: the name this setting has in its records (NULL: none) and where
	 * its one value sits in the application's per-run struct (offsetof). The parser ignores
	 * both. */
	const char *field;
	u32 at;
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
