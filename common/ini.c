/*
 * ini.c: the INI reader (see ini.h for the syntax).
 *
 * Owns struct ini: the sections and entries of one file in file order,
 * plus two small open-addressing hash indexes (sections by name, entries
 * by section and key, both ASCII case-insensitive) so duplicate detection
 * and lookups stay linear even for a file at the size limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "ini.h"
#include "util.h"
#include "xmalloc.h"

#define INI_SEC_NONE	SIZE_MAX	/* no header seen yet */
#define INI_SEC_BAD	(SIZE_MAX - 1)	/* last header was broken */

#define FNV_OFFSET	0xcbf29ce484222325ULL
#define FNV_PRIME	0x100000001b3ULL

struct ini_parser {
	struct ini	*ini;
	struct diag	*diag;
	size_t		 cursec;
	size_t		 nerrors;
	int		 stop;
};

typedef uint64_t (*ini_hashfn)(const struct ini *, size_t);

/* ini_lower: ASCII-only case folding, independent of the locale. */
static inline unsigned char
ini_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* ini_caseeq: ASCII case-insensitive string equality. */
static bool
ini_caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (ini_lower(*a) != ini_lower(*b))
			return false;
	return *a == *b;
}

/* ini_hash_str: continue an FNV-1a hash over the case-folded string. */
static uint64_t
ini_hash_str(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++) {
		h ^= ini_lower(*s);
		h *= FNV_PRIME;
	}
	return h;
}

static uint64_t
ini_sec_hash_name(const char *name)
{
	return ini_hash_str(FNV_OFFSET, name);
}

static uint64_t
ini_ent_hash_key(size_t sec, const char *key)
{
	uint64_t h = FNV_OFFSET;

	h ^= (uint64_t)sec;
	h *= FNV_PRIME;
	return ini_hash_str(h, key);
}

static uint64_t
ini_sec_hash(const struct ini *ini, size_t i)
{
	return ini_sec_hash_name(ini->sections[i].name);
}

static uint64_t
ini_ent_hash(const struct ini *ini, size_t i)
{
	return ini_ent_hash_key(ini->entries[i].section, ini->entries[i].key);
}

/* ini_index_put: place item idx into its slot (the table has room). */
static void
ini_index_put(const struct ini *ini, struct ini_index *x, ini_hashfn fn,
    size_t idx)
{
	size_t	 mask = x->cap - 1, i;

	for (i = fn(ini, idx) & mask; x->slots[i] != 0; i = (i + 1) & mask)
		;
	x->slots[i] = idx + 1;
}

/* ini_index_add: index item idx, growing the table to stay half empty. */
static void
ini_index_add(const struct ini *ini, struct ini_index *x, ini_hashfn fn,
    size_t idx)
{
	size_t	*old = x->slots, oldcap = x->cap, i;

	if ((x->n + 1) * 2 > x->cap) {
		x->cap = x->cap ? x->cap * 2 : 16;
		x->slots = xcalloc(x->cap, sizeof(*x->slots));
		for (i = 0; i < oldcap; i++)
			if (old[i] != 0)
				ini_index_put(ini, x, fn, old[i] - 1);
		free(old);
	}
	ini_index_put(ini, x, fn, idx);
	x->n++;
}

/* ini_sec_lookup: index of the section called name, or INI_SEC_NONE. */
static size_t
ini_sec_lookup(const struct ini *ini, const char *name)
{
	const struct ini_index *x = &ini->secidx;
	size_t	 mask, i;

	if (x->cap == 0)
		return INI_SEC_NONE;
	mask = x->cap - 1;
	for (i = ini_sec_hash_name(name) & mask; x->slots[i] != 0;
	    i = (i + 1) & mask)
		if (ini_caseeq(ini->sections[x->slots[i] - 1].name, name))
			return x->slots[i] - 1;
	return INI_SEC_NONE;
}

/* ini_ent_lookup: the entry for key in section sec, or NULL. */
static const struct ini_entry *
ini_ent_lookup(const struct ini *ini, size_t sec, const char *key)
{
	const struct ini_index *x = &ini->entidx;
	const struct ini_entry *e;
	size_t	 mask, i;

	if (x->cap == 0)
		return NULL;
	mask = x->cap - 1;
	for (i = ini_ent_hash_key(sec, key) & mask; x->slots[i] != 0;
	    i = (i + 1) & mask) {
		e = &ini->entries[x->slots[i] - 1];
		if (e->section == sec && ini_caseeq(e->key, key))
			return e;
	}
	return NULL;
}

/* ini_error: report one error at a line and count it for this file. */
static void __attribute__((format(printf, 3, 4)))
ini_error(struct ini_parser *p, unsigned line, const char *fmt, ...)
{
	va_list	 ap;

	p->nerrors++;
	va_start(ap, fmt);
	diag_vadd(p->diag, DIAG_ERROR, p->ini->file, line, fmt, ap);
	va_end(ap);
}

/*
 * ini_utf8_bad: offset of the first byte that is not part of a valid
 * UTF-8 sequence (no overlongs, no surrogates, nothing above U+10FFFF),
 * or len when all of it is valid.
 */
static size_t
ini_utf8_bad(const uint8_t *s, size_t len)
{
	size_t	 i = 0, n, k;
	uint8_t	 c, lo, hi;

	while (i < len) {
		c = s[i];
		lo = 0x80;
		hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;	/* overlong */
			else if (c == 0xed)
				hi = 0x9f;	/* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;	/* overlong */
			else if (c == 0xf4)
				hi = 0x8f;	/* above U+10FFFF */
		} else
			return i;
		if (len - i <= n)
			return i;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (k = 2; k <= n; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return i;
		i += n + 1;
	}
	return len;
}

/* ini_utf8_valid: true if the bytes are well-formed UTF-8. */
bool
ini_utf8_valid(const void *s, size_t len)
{
	return ini_utf8_bad(s, len) == len;
}

/* ini_key_valid: true if s is a non-empty key name of [A-Za-z0-9_.-]. */
bool
ini_key_valid(const char *s)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
	size_t	 n = strlen(s);

	return n > 0 && n <= INI_MAX_KEY && strspn(s, ok) == n;
}

/* ini_add_section: a new section (the caller checked it is new). */
static size_t
ini_add_section(struct ini *ini, const char *name, unsigned line)
{
	size_t	 i = ini->nsections;

	if (ini->nsections == ini->seccap) {
		ini->seccap = ini->seccap ? ini->seccap * 2 : 8;
		ini->sections = xreallocarray(ini->sections, ini->seccap,
		    sizeof(*ini->sections));
	}
	ini->sections[i].name = xstrdup(name);
	ini->sections[i].line = line;
	ini->nsections++;
	ini_index_add(ini, &ini->secidx, ini_sec_hash, i);
	return i;
}

/* ini_add_entry: a new entry in section sec (the caller checked it is new). */
static void
ini_add_entry(struct ini *ini, size_t sec, const char *key, const char *value,
    unsigned line)
{
	size_t	 i = ini->nentries;

	if (ini->nentries == ini->entcap) {
		ini->entcap = ini->entcap ? ini->entcap * 2 : 16;
		ini->entries = xreallocarray(ini->entries, ini->entcap,
		    sizeof(*ini->entries));
	}
	ini->entries[i].section = sec;
	ini->entries[i].key = xstrdup(key);
	ini->entries[i].value = xstrdup(value);
	ini->entries[i].line = line;
	ini->nentries++;
	ini_index_add(ini, &ini->entidx, ini_ent_hash, i);
}

/* ini_header: a "[Name]" line; opens (or reopens) that section. */
static void
ini_header(struct ini_parser *p, unsigned line, char *t)
{
	char	 q[DIAG_QUOTE_MAX], *close, *name;
	size_t	 idx;

	p->cursec = INI_SEC_BAD;
	if ((close = strchr(t, ']')) == NULL) {
		ini_error(p, line, "bad section header %s: missing \"]\"",
		    diag_quote(q, sizeof(q), t));
		return;
	}
	if (close[1 + strspn(close + 1, " \t")] != '\0') {
		ini_error(p, line, "bad section header %s: text after \"]\"",
		    diag_quote(q, sizeof(q), t));
		return;
	}
	*close = '\0';
	name = str_trim(t + 1);
	if (*name == '\0') {
		ini_error(p, line, "bad section header: empty section name");
		return;
	}
	if (strchr(name, '[') != NULL || strlen(name) > INI_MAX_KEY) {
		ini_error(p, line, "bad section header: invalid section name "
		    "\"%s\"", diag_quote(q, sizeof(q), name));
		return;
	}
	if ((idx = ini_sec_lookup(p->ini, name)) == INI_SEC_NONE) {
		if (p->ini->nsections >= INI_MAX_SECTIONS) {
			ini_error(p, line, "too many sections (at most %d)",
			    INI_MAX_SECTIONS);
			p->stop = 1;
			return;
		}
		idx = ini_add_section(p->ini, name, line);
	}
	p->cursec = idx;
}

/*
 * ini_unquote: turn "..." (with \" and \\) into its contents in place;
 * NULL on success, else what is wrong.
 */
static const char *
ini_unquote(char *v)
{
	char	*r = v + 1, *w = v;

	for (;;) {
		if (*r == '\0')
			return "unterminated quoted value (the closing quote "
			    "must be on the same line)";
		if (*r == '"')
			break;
		if (*r == '\\') {
			if (r[1] != '"' && r[1] != '\\')
				return "bad escape in quoted value (only \\\" "
				    "and \\\\ are allowed)";
			r++;
		}
		*w++ = *r++;
	}
	r++;
	if (r[strspn(r, " \t")] != '\0')
		return "text after the closing quote";
	*w = '\0';
	return NULL;
}

/* ini_keyline: a "key = value" line in the current section. */
static void
ini_keyline(struct ini_parser *p, unsigned line, char *t)
{
	const struct ini_entry *e;
	const char *why;
	char	 q[DIAG_QUOTE_MAX], *eq, *key, *val;

	if ((eq = strchr(t, '=')) == NULL) {
		ini_error(p, line, "missing \"=\" in %s (expected "
		    "\"key = value\")", diag_quote(q, sizeof(q), t));
		return;
	}
	*eq = '\0';
	key = str_trim(t);
	val = str_trim(eq + 1);
	if (*key == '\0') {
		ini_error(p, line, "missing key name before \"=\"");
		return;
	}
	if (!ini_key_valid(key)) {
		ini_error(p, line, "invalid key name \"%s\" (at most %d of "
		    "letters, digits, \"_\", \".\", \"-\")",
		    diag_quote(q, sizeof(q), key), INI_MAX_KEY);
		return;
	}
	if (p->cursec == INI_SEC_BAD)
		return;		/* the header was already reported */
	if (p->cursec == INI_SEC_NONE) {
		ini_error(p, line, "key \"%s\" is outside of any section (a "
		    "[section] header must come first)", key);
		return;
	}
	if (*val == '"' && (why = ini_unquote(val)) != NULL) {
		ini_error(p, line, "%s: %s", key, why);
		return;
	}
	if ((e = ini_ent_lookup(p->ini, p->cursec, key)) != NULL) {
		ini_error(p, line, "duplicate key \"%s\" in [%s] (first set "
		    "on line %u)", key, p->ini->sections[p->cursec].name,
		    e->line);
		return;
	}
	if (p->ini->nentries >= INI_MAX_ENTRIES) {
		ini_error(p, line, "too many keys (at most %d)",
		    INI_MAX_ENTRIES);
		p->stop = 1;
		return;
	}
	ini_add_entry(p->ini, p->cursec, key, val, line);
}

/* ini_line: check one raw line (without its line end) and dispatch it. */
static void
ini_line(struct ini_parser *p, unsigned line, const char *s, size_t len)
{
	char	 buf[INI_MAX_LINE + 1], *t;
	size_t	 i;

	if (len > INI_MAX_LINE) {
		ini_error(p, line, "line too long (%zu bytes, at most %d)",
		    len, INI_MAX_LINE);
		return;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0') {
			ini_error(p, line, "NUL byte in line");
			return;
		}
		if (c == '\r') {
			ini_error(p, line, "carriage return inside a line "
			    "(line ends must be LF or CRLF)");
			return;
		}
		if ((c < ' ' && c != '\t') || c == 0x7f) {
			ini_error(p, line, "control character 0x%02x in line",
			    c);
			return;
		}
	}
	if ((i = ini_utf8_bad((const uint8_t *)s, len)) != len) {
		ini_error(p, line, "invalid UTF-8 (byte %zu of the line)",
		    i + 1);
		return;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	t = str_trim(buf);
	if (*t == '\0' || *t == ';' || *t == '#')
		return;
	if (*t == '[')
		ini_header(p, line, t);
	else
		ini_keyline(p, line, t);
}

/* ini_reset: an empty struct ini that reports as file. */
static void
ini_reset(struct ini *ini, const char *file)
{
	memset(ini, 0, sizeof(*ini));
	ini->file = xstrdup(file);
}

/*
 * ini_parse_buf: parse len bytes; file names them in diagnostics.  Always
 * initialises ini (free it with ini_free); returns -1 if there were errors,
 * in which case ini holds every line that was correct.
 */
int
ini_parse_buf(struct ini *ini, const char *file, const void *buf, size_t len,
    struct diag *d)
{
	struct ini_parser p;
	const char *s = buf, *end, *nl, *e;
	unsigned line = 0;

	ini_reset(ini, file);
	memset(&p, 0, sizeof(p));
	p.ini = ini;
	p.diag = d;
	p.cursec = INI_SEC_NONE;
	if (len > INI_MAX_FILE) {
		diag_add(d, DIAG_ERROR, file, 0, "file too large (%zu bytes, "
		    "at most %d)", len, INI_MAX_FILE);
		return -1;
	}
	if (len == 0)
		return 0;
	end = s + len;
	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (s < end && !p.stop) {
		line++;
		nl = memchr(s, '\n', end - s);
		e = nl != NULL ? nl : end;
		if (e > s && e[-1] == '\r')
			e--;
		ini_line(&p, line, s, e - s);
		s = nl != NULL ? nl + 1 : end;
	}
	return p.nerrors > 0 ? -1 : 0;
}

/* ini_read_fd: read a regular file of at most INI_MAX_FILE bytes. */
static int
ini_read_fd(int fd, const char *path, struct buf *b, struct diag *d)
{
	struct stat	 st;
	char		 chunk[65536];
	ssize_t		 n;

	if (fstat(fd, &st) == -1) {
		diag_add(d, DIAG_ERROR, path, 0, "cannot stat: %s",
		    strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		diag_add(d, DIAG_ERROR, path, 0, "not a regular file");
		return -1;
	}
	for (;;) {
		if ((n = read(fd, chunk, sizeof(chunk))) == -1) {
			if (errno == EINTR)
				continue;
			diag_add(d, DIAG_ERROR, path, 0, "read error: %s",
			    strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		if (!buf_add(b, chunk, (size_t)n)) {
			diag_add(d, DIAG_ERROR, path, 0, "file too large "
			    "(at most %d bytes)", INI_MAX_FILE);
			return -1;
		}
	}
}

/*
 * ini_parse_file: read and parse the file at path (named by its path in
 * diagnostics).  Same contract as ini_parse_buf.
 */
int
ini_parse_file(struct ini *ini, const char *path, struct diag *d)
{
	struct buf	 b;
	int		 fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
	    O_NOCTTY)) == -1) {
		ini_reset(ini, path);
		diag_add(d, DIAG_ERROR, path, 0, "cannot open: %s",
		    strerror(errno));
		return -1;
	}
	buf_init(&b, INI_MAX_FILE);
	if (ini_read_fd(fd, path, &b, d) == -1) {
		close(fd);
		buf_free(&b);
		ini_reset(ini, path);
		return -1;
	}
	close(fd);
	rc = ini_parse_buf(ini, path, b.data, b.len, d);
	buf_free(&b);
	return rc;
}

/* ini_free: release everything; the struct is zeroed. */
void
ini_free(struct ini *ini)
{
	size_t	 i;

	for (i = 0; i < ini->nsections; i++)
		free(ini->sections[i].name);
	for (i = 0; i < ini->nentries; i++) {
		free(ini->entries[i].key);
		free(ini->entries[i].value);
	}
	free(ini->sections);
	free(ini->entries);
	free(ini->secidx.slots);
	free(ini->entidx.slots);
	free(ini->file);
	memset(ini, 0, sizeof(*ini));
}

/* ini_section_find: the section called name (any case), or NULL. */
const struct ini_section *
ini_section_find(const struct ini *ini, const char *name)
{
	size_t	 i = ini_sec_lookup(ini, name);

	return i == INI_SEC_NONE ? NULL : &ini->sections[i];
}

/* ini_find: the entry for key in section (any case), or NULL. */
const struct ini_entry *
ini_find(const struct ini *ini, const char *section, const char *key)
{
	size_t	 i = ini_sec_lookup(ini, section);

	return i == INI_SEC_NONE ? NULL : ini_ent_lookup(ini, i, key);
}

/* ini_get: the value of key in section, or NULL when absent. */
const char *
ini_get(const struct ini *ini, const char *section, const char *key)
{
	const struct ini_entry *e = ini_find(ini, section, key);

	return e != NULL ? e->value : NULL;
}
