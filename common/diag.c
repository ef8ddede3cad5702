/*
 * diag.c: the configuration diagnostics list (see diag.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "xmalloc.h"

/* diag_init: an empty list. */
void
diag_init(struct diag *d)
{
	memset(d, 0, sizeof(*d));
}

/* diag_free: release every text; the list is empty and reusable. */
void
diag_free(struct diag *d)
{
	size_t	 i;

	for (i = 0; i < d->nitems; i++)
		free(d->items[i].text);
	free(d->items);
	diag_init(d);
}

/* diag_vadd: record one diagnostic as "file:line: message". */
void
diag_vadd(struct diag *d, enum diag_severity sev, const char *file,
    unsigned line, const char *fmt, va_list ap)
{
	char	*msg;

	if (sev == DIAG_ERROR)
		d->nerrors++;
	else
		d->nwarnings++;
	if (d->nitems >= DIAG_MAX) {
		d->dropped++;
		return;
	}
	if (d->nitems == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->items = xreallocarray(d->items, d->cap, sizeof(*d->items));
	}
	msg = xvasprintf(fmt, ap);
	d->items[d->nitems].sev = sev;
	d->items[d->nitems].line = line;
	if (line > 0)
		d->items[d->nitems].text = xasprintf("%s:%u: %s", file, line,
		    msg);
	else
		d->items[d->nitems].text = xasprintf("%s: %s", file, msg);
	d->nitems++;
	free(msg);
}

/* diag_add: diag_vadd with variable arguments. */
void
diag_add(struct diag *d, enum diag_severity sev, const char *file,
    unsigned line, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_vadd(d, sev, file, line, fmt, ap);
	va_end(ap);
}

/* diag_print: one line per diagnostic, as stored, then the dropped count. */
void
diag_print(const struct diag *d, FILE *fp)
{
	size_t	 i;

	for (i = 0; i < d->nitems; i++)
		fprintf(fp, "%s\n", d->items[i].text);
	if (d->dropped > 0)
		fprintf(fp, "(%zu more diagnostics not shown)\n", d->dropped);
}

/*
 * diag_sort_lines: order the items from index first on by line number,
 * keeping the order of equal lines (the items of one file, which its
 * reader and checker reported in several passes).
 */
void
diag_sort_lines(struct diag *d, size_t first)
{
	struct diag_item tmp;
	size_t	 i, j;

	for (i = first + 1; i < d->nitems; i++) {
		tmp = d->items[i];
		for (j = i; j > first && d->items[j - 1].line > tmp.line; j--)
			d->items[j] = d->items[j - 1];
		d->items[j] = tmp;
	}
}

/* diag_find: the first stored text containing needle, or NULL (for tests). */
const char *
diag_find(const struct diag *d, const char *needle)
{
	size_t	 i;

	for (i = 0; i < d->nitems; i++)
		if (strstr(d->items[i].text, needle) != NULL)
			return d->items[i].text;
	return NULL;
}

const char *
diag_severity_name(enum diag_severity sev)
{
	return sev == DIAG_ERROR ? "error" : "warning";
}

/*
 * diag_quote: s cut to fit dst (at a UTF-8 character boundary, ending in
 * "...") so a long value from a file does not flood a diagnostic.
 */
const char *
diag_quote(char *dst, size_t size, const char *s)
{
	size_t	 n;

	if (size < 8) {
		if (size > 0)
			dst[0] = '\0';
		return dst;
	}
	if (strlen(s) < size) {
		memcpy(dst, s, strlen(s) + 1);
		return dst;
	}
	n = size - 4;
	/* Do not cut inside a multi-byte sequence. */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	memcpy(dst, s, n);
	memcpy(dst + n, "...", 4);
	return dst;
}
