/*
 * diag.h: a list of configuration diagnostics (errors and warnings).
 *
 * The INI reader and the typed configuration layer report every problem
 * they find into one struct diag instead of stopping at the first, so an
 * operator sees all of them at once.  Each text is formatted exactly
 * "file:line: message" ("file: message" for file-level problems, line 0).
 * The list keeps at most DIAG_MAX texts; later ones are only counted, so
 * a hostile or broken file cannot make us allocate without bound.
 */
#ifndef SEKISHO_DIAG_H
#define SEKISHO_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#define DIAG_MAX	100

enum diag_severity {
	DIAG_ERROR = 0,
	DIAG_WARNING,
};

struct diag_item {
	enum diag_severity	 sev;
	unsigned		 line;		/* 0: the whole file */
	char			*text;		/* "file:line: message" */
};

struct diag {
	struct diag_item	*items;
	size_t			 nitems;	/* stored, <= DIAG_MAX */
	size_t			 cap;
	size_t			 nerrors;	/* counted, stored or not */
	size_t			 nwarnings;
	size_t			 dropped;	/* not stored (over DIAG_MAX) */
};

void	 diag_init(struct diag *);
void	 diag_free(struct diag *);
void	 diag_add(struct diag *, enum diag_severity, const char *, unsigned,
	    const char *, ...) __attribute__((format(printf, 5, 6)));
void	 diag_vadd(struct diag *, enum diag_severity, const char *, unsigned,
	    const char *, va_list) __attribute__((format(printf, 5, 0)));
void	 diag_print(const struct diag *, FILE *);
void	 diag_sort_lines(struct diag *, size_t);
const char *diag_find(const struct diag *, const char *);
const char *diag_severity_name(enum diag_severity);
const char *diag_quote(char *, size_t, const char *);

#define DIAG_QUOTE_MAX	80		/* buffer size for diag_quote */

#endif
