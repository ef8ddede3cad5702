/*
 * ini.h: the INI reader shared by every sekisho configuration file.
 *
 * Reads a file or a memory buffer into an ordered list of sections and
 * (section, key, value, line) entries.  The syntax:
 *
 *   [Section]             names are case-insensitive, stored as written;
 *                         a repeated header continues the same section
 *   Key = value           blanks around key and value are trimmed; key
 *                         characters are [A-Za-z0-9_.-]; empty values are
 *                         allowed; keys are case-insensitive and must be
 *                         unique within a section
 *   Key = "a \"quoted\" value"
 *                         \" and \\ are the only escapes; the quote must
 *                         close on the same line, followed only by blanks
 *   ; comment / # comment only as the first non-blank character: values
 *                         may contain ';' and '#' (URLs)
 *
 * Input must be UTF-8 (a leading BOM is skipped) with LF or CRLF line
 * ends; NUL bytes, other control characters (except TAB), overlong
 * forms, surrogates and code points above U+10FFFF are errors.  Every
 * problem is reported to a struct diag as "file:line: message"; the reader
 * keeps going and reports all it can, skipping only the broken lines.
 */
#ifndef SEKISHO_INI_H
#define SEKISHO_INI_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

#define INI_MAX_LINE		8192		/* bytes, without line end */
#define INI_MAX_FILE		(4 * 1024 * 1024)
#define INI_MAX_KEY		128		/* bytes in a key name */
#define INI_MAX_ENTRIES		100000
#define INI_MAX_SECTIONS	10000

struct ini_section {
	char		*name;		/* as first written */
	unsigned	 line;		/* of the first header */
};

struct ini_entry {
	size_t		 section;	/* index into ini.sections */
	char		*key;		/* as written */
	char		*value;		/* trimmed, unquoted */
	unsigned	 line;
};

struct ini_index {
	size_t		*slots;		/* item index + 1; 0 is empty */
	size_t		 cap;		/* power of two */
	size_t		 n;
};

struct ini {
	char			*file;	/* name used in diagnostics */
	struct ini_section	*sections;
	size_t			 nsections;
	struct ini_entry	*entries;
	size_t			 nentries;
	/* private: case-insensitive lookup */
	size_t			 seccap, entcap;
	struct ini_index	 secidx, entidx;
};

int	 ini_parse_buf(struct ini *, const char *, const void *, size_t,
	    struct diag *);
int	 ini_parse_file(struct ini *, const char *, struct diag *);
void	 ini_free(struct ini *);
const struct ini_section *ini_section_find(const struct ini *, const char *);
const struct ini_entry *ini_find(const struct ini *, const char *,
	    const char *);
const char *ini_get(const struct ini *, const char *, const char *);
bool	 ini_utf8_valid(const void *, size_t);
bool	 ini_key_valid(const char *);

#endif
