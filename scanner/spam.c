/*
 * spam.c: the spam scoring engine (see spam.h and docs/antispam-rules.md).
 *
 * Owns struct spam_rules: the rules of one package in package order, each
 * pattern compiled once with PCRE2 (UTF + UCP, JIT when the platform has
 * it), the meta expressions as postfix code over rule indices, and the
 * order in which the meta rules are evaluated (dependencies first).
 * Loading reports every problem as "file:line: message" and refuses a
 * package with any error: a half-loaded package would score mail with
 * rules the administrator did not write.
 *
 * Evaluation reads a struct scan_msg and the caller's signals and never
 * fails.  Each rule is evaluated once; the texts several rules share (the
 * body text, all headers, the URI list) are built once per evaluation and
 * only when some rule needs them.  The PCRE2 matching state is created per
 * evaluation, so one package may be used from several threads or, after
 * fork, several processes.  Every match runs under match, depth and heap
 * limits; a pattern that hits one does not match.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <fcntl.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "log.h"
#include "rematch.h"
#include "spam.h"
#include "util.h"
#include "xmalloc.h"

#define SPAM_LINE_MAX		(64 * 1024)	/* bytes of one line */
#define SPAM_META_DEPTH		64	/* nesting of ( and ! in a meta */
#define SPAM_META_TOKENS	4096	/* operands and operators of a meta */
#define SPAM_TEXT_MAX		(2 * 1024 * 1024)	/* body, ALL headers */
#define SPAM_URI_MAX		2048	/* bytes of one URI (longer: cut) */
#define SPAM_ADDR_MAX		1024	/* bytes of one address or name */
#define SPAM_SIZE_MAX		(1ULL << 50)	/* attach size N, bytes */
#define SPAM_RCPT_MAX		1000000000ULL	/* recipients(OP N) */


#define SPAM_GTUBE \
	"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

enum spam_kind {
	SK_HEADER = 0,
	SK_BODY,
	SK_URI,
	SK_ATTACH,
	SK_EVAL,
	SK_META,
};

/* What of a header a header rule reads. */
enum spam_hpart {
	SH_VALUE = 0,		/* the decoded value */
	SH_ADDR,		/* :addr, each addr-spec, lower case */
	SH_NAME,		/* :name, each display name */
	SH_ALL,			/* ALL: "Name: value\n" of every header */
};

enum spam_hop { SO_MATCH = 0, SO_NOMATCH, SO_EXISTS };

enum spam_akey { SA_FILENAME = 0, SA_TYPE, SA_TRUETYPE, SA_SIZE };

enum spam_func {
	SF_GTUBE = 0,
	SF_SPF,
	SF_DKIM,
	SF_DMARC,
	SF_DMARC_POLICY,
	SF_DNSBL,
	SF_URIBL,
	SF_RECIPIENTS,
	SF_NO_TEXT,
};


/* One instruction of a meta expression (postfix, on a stack of doubles). */
enum spam_opk {
	MO_NUM = 0,
	MO_REF,
	MO_NOT,
	MO_AND,
	MO_OR,
	MO_ADD,
	MO_GT,
	MO_GE,
	MO_LT,
	MO_LE,
	MO_EQ,
};

struct spam_op {
	enum spam_opk	 op;
	size_t		 ref;		/* MO_REF: the rule's index */
	double		 num;		/* MO_NUM */
	char		*name;		/* MO_REF until resolved */
};

struct spam_rule {
	char		*name;
	enum spam_kind	 kind;
	unsigned	 line;
	bool		 sub;		/* "__" prefix */
	double		 score;
	unsigned	 score_line;	/* 0: default score */
	char		*describe;	/* NULL: none */
	unsigned	 describe_line;
	pcre2_code	*re;
	char		*field;		/* header name, signal value, zone */
	enum spam_hpart	 hpart;
	enum spam_hop	 hop;
	enum spam_akey	 akey;
	enum spam_func	 func;
	enum scan_cmp	 cmp;
	uint64_t	 num;
	struct spam_op	*ops;		/* SK_META */
	size_t		 nops;
	size_t		 stack;		/* stack depth the ops need */
};

struct spam_rules {
	struct spam_version	 version;
	struct spam_rule	*rules;
	size_t			 nrules;
	size_t			 cap;
	size_t			*hash;		/* rule index + 1, 0: empty */
	size_t			 hashsz;	/* power of two */
	size_t			*metas;		/* evaluation order */
	size_t			 nmetas;
	size_t			 stack;		/* largest meta stack */
	bool			 need_body;
	bool			 need_all;
	bool			 need_uris;
};

/* A score or describe line, applied once every rule is known. */
struct spam_pend {
	char		*name;
	unsigned	 line;
	bool		 score;
	double		 value;
	char		*text;
};

/* Loading state. */
struct spam_ld {
	struct spam_rules	*r;
	struct diag		*d;
	const char		*file;
	size_t			 nerrors;
	unsigned		 version_line;	/* 0: not yet */
	bool			 early_reported;
	bool			 full_reported;
	struct spam_pend	*pend;
	size_t			 npend;
	size_t			 pendcap;
};

/* Evaluation state. */
struct spam_ctx {
	const struct spam_rules	*r;
	const struct scan_msg	*m;
	const struct spam_signals *sig;
	struct rematch		 rm;		/* bounded matching */
	char			*body;
	size_t			 bodylen;
	char			*all;
	size_t			 alllen;
	char			**uris;
	size_t			 nuris;
	uint8_t			*hit;
	double			*stack;
};

/* spam_err: report an error at the loader's file, line, and count it. */
static void __attribute__((format(printf, 3, 4)))
spam_err(struct spam_ld *ld, unsigned line, const char *fmt, ...)
{
	va_list	 ap;

	ld->nerrors++;
	va_start(ap, fmt);
	diag_vadd(ld->d, DIAG_ERROR, ld->file, line, fmt, ap);
	va_end(ap);
}

/* spam_lower: ASCII-only case folding, independent of the locale. */
static inline unsigned char
spam_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static inline bool
spam_isspace(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' ||
	    c == '\v';
}

static inline bool
spam_isdigit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline bool
spam_isalpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* spam_utf8_cut: n backed off so that s[0..n) ends on a character. */
static size_t
spam_utf8_cut(const char *s, size_t n)
{
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/*
 * spam_utf8_valid: s[0..n) is well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF).
 */
static bool
spam_utf8_valid(const unsigned char *s, size_t n)
{
	size_t	 i = 0, k, len;
	uint32_t cp;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			len = 2;
			cp = s[i] & 0x1f;
		} else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			len = 3;
			cp = s[i] & 0x0f;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			len = 4;
			cp = s[i] & 0x07;
		} else
			return false;
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += len;
	}
	return true;
}

/* ---- versions ---- */

/* spam_digits: 1 to 9 digits at s into *v; the count, 0 when none. */
static size_t
spam_digits(const char *s, uint32_t *v)
{
	size_t	 n = 0;

	*v = 0;
	while (spam_isdigit((unsigned char)s[n])) {
		if (n == 9)
			return 0;
		*v = *v * 10 + (uint32_t)(s[n] - '0');
		n++;
	}
	return n;
}

bool
spam_version_parse(const char *s, struct spam_version *v)
{
	size_t	 a, b;

	if ((a = spam_digits(s, &v->major)) == 0 || s[a] != '.')
		return false;
	if ((b = spam_digits(s + a + 1, &v->minor)) == 0 || s[a + 1 + b] != '\0')
		return false;
	(void)str_lcpy(v->text, s, sizeof(v->text));
	return true;
}

int
spam_version_cmp(const struct spam_version *a, const struct spam_version *b)
{
	if (a->major != b->major)
		return a->major < b->major ? -1 : 1;
	if (a->minor != b->minor)
		return a->minor < b->minor ? -1 : 1;
	return 0;
}

/* ---- the rule table ---- */

/* spam_hashstr: FNV-1a. */
static size_t
spam_hashstr(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t	 i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return (size_t)h;
}

/* spam_find: the index of rule name, or -1. */
static long
spam_find(const struct spam_rules *r, const char *name)
{
	size_t	 i, v;

	if (r->hashsz == 0)
		return -1;
	i = spam_hashstr(name, strlen(name)) & (r->hashsz - 1);
	while ((v = r->hash[i]) != 0) {
		if (strcmp(r->rules[v - 1].name, name) == 0)
			return (long)(v - 1);
		i = (i + 1) & (r->hashsz - 1);
	}
	return -1;
}

/* spam_hash_put: index idx under its name (the table has room). */
static void
spam_hash_put(struct spam_rules *r, size_t idx)
{
	const char *name = r->rules[idx].name;
	size_t	 i;

	i = spam_hashstr(name, strlen(name)) & (r->hashsz - 1);
	while (r->hash[i] != 0)
		i = (i + 1) & (r->hashsz - 1);
	r->hash[i] = idx + 1;
}

/* spam_add: a new rule, indexed; the table is kept at most half full. */
static struct spam_rule *
spam_add(struct spam_rules *r, const char *name, enum spam_kind kind,
    unsigned line)
{
	struct spam_rule *ru;
	size_t	 i;

	if (r->nrules == r->cap) {
		r->cap = r->cap == 0 ? 64 : r->cap * 2;
		r->rules = xreallocarray(r->rules, r->cap, sizeof(*r->rules));
	}
	if ((r->nrules + 1) * 2 > r->hashsz) {
		free(r->hash);
		r->hashsz = r->hashsz == 0 ? 128 : r->hashsz * 2;
		r->hash = xcalloc(r->hashsz, sizeof(*r->hash));
		for (i = 0; i < r->nrules; i++)
			spam_hash_put(r, i);
	}
	ru = &r->rules[r->nrules];
	memset(ru, 0, sizeof(*ru));
	ru->name = xstrdup(name);
	ru->kind = kind;
	ru->line = line;
	ru->sub = strncmp(name, "__", 2) == 0;
	ru->score = ru->sub ? 0.0 : 1.0;
	spam_hash_put(r, r->nrules++);
	return ru;
}

/* spam_rule_free: what one rule owns. */
static void
spam_rule_free(struct spam_rule *ru)
{
	size_t	 i;

	free(ru->name);
	free(ru->describe);
	free(ru->field);
	pcre2_code_free(ru->re);
	for (i = 0; i < ru->nops; i++)
		free(ru->ops[i].name);
	free(ru->ops);
}

void
spam_rules_free(struct spam_rules *r)
{
	size_t	 i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nrules; i++)
		spam_rule_free(&r->rules[i]);
	free(r->rules);
	free(r->hash);
	free(r->metas);
	free(r);
}

const struct spam_version *
spam_rules_version(const struct spam_rules *r)
{
	return &r->version;
}

size_t
spam_rules_count(const struct spam_rules *r)
{
	return r->nrules;
}

/* ---- lexing one line ---- */

static char *
spam_skipws(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* spam_word: the next blank-delimited word of *p (NUL-terminated in place). */
static char *
spam_word(char **p)
{
	char	*s = spam_skipws(*p), *w;

	if (*s == '\0')
		return NULL;
	w = s;
	while (*s != '\0' && *s != ' ' && *s != '\t')
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*p = s;
	return w;
}

/* spam_name_valid: [A-Za-z_][A-Za-z0-9_]*, shorter than SPAM_NAME_MAX. */
static bool
spam_name_valid(const char *s)
{
	size_t	 i;

	if (!spam_isalpha((unsigned char)s[0]) && s[0] != '_')
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if (!spam_isalpha((unsigned char)s[i]) &&
		    !spam_isdigit((unsigned char)s[i]) && s[i] != '_')
			return false;
	return i < SPAM_NAME_MAX;
}

/*
 * spam_decimal: a decimal number "[-]D[.D]" (up to 9 digits each side)
 * at *p, which is advanced; false when there is none.
 */
static bool
spam_decimal(const char **p, bool sign, double *v)
{
	const char *s = *p;
	double	 ip = 0, fp = 0, scale = 1;
	bool	 neg = false;
	size_t	 n;

	if (sign && (*s == '-' || *s == '+'))
		neg = *s++ == '-';
	for (n = 0; spam_isdigit((unsigned char)*s); n++, s++)
		ip = ip * 10 + (*s - '0');
	if (n == 0 || n > 9)
		return false;
	if (*s == '.') {
		s++;
		for (n = 0; spam_isdigit((unsigned char)*s); n++, s++) {
			fp = fp * 10 + (*s - '0');
			scale *= 10;
		}
		if (n == 0 || n > 9)
			return false;
	}
	*v = (ip + fp / scale) * (neg ? -1 : 1);
	*p = s;
	return true;
}

/* spam_uint: digits at *p (advanced), at most max; false when none. */
static bool
spam_uint(const char **p, uint64_t max, uint64_t *v)
{
	const char *s = *p;

	*v = 0;
	if (!spam_isdigit((unsigned char)*s))
		return false;
	for (; spam_isdigit((unsigned char)*s); s++) {
		*v = *v * 10 + (uint64_t)(*s - '0');
		if (*v > max)
			return false;
	}
	*p = s;
	return true;
}

/* spam_cmp_op: a comparison operator at *p (advanced). */
static bool
spam_cmp_op(const char **p, bool eq, enum scan_cmp *c)
{
	const char *s = *p;

	if (s[0] == '>' && s[1] == '=')
		*c = CMP_GE;
	else if (s[0] == '<' && s[1] == '=')
		*c = CMP_LE;
	else if (eq && s[0] == '=' && s[1] == '=')
		*c = CMP_EQ;
	else if (s[0] == '>' || s[0] == '<') {
		*c = s[0] == '>' ? CMP_GT : CMP_LT;
		*p = s + 1;
		return true;
	} else
		return false;
	*p = s + 2;
	return true;
}

/*
 * spam_regex: "/RE/FLAGS" at s, compiled into *re, with nothing but
 * blanks after it; false after reporting what is wrong.
 */
static bool
spam_regex(struct spam_ld *ld, unsigned line, char *s, pcre2_code **re)
{
	PCRE2_UCHAR	 msg[256];
	PCRE2_SIZE	 off;
	uint32_t	 opts;
	char		*pat, *o;
	int		 ec;

	s = spam_skipws(s);
	if (*s != '/') {
		spam_err(ld, line, "expected /pattern/");
		return false;
	}
	/* Unescape "\/" in place; every other escape is PCRE2's. */
	pat = o = ++s;
	for (; *s != '\0' && *s != '/'; s++) {
		if (s[0] == '\\' && s[1] == '/')
			s++;
		else if (s[0] == '\\' && s[1] != '\0')
			*o++ = *s++;
		*o++ = *s;
	}
	if (*s != '/') {
		spam_err(ld, line, "unterminated pattern (no closing /)");
		return false;
	}
	*o = '\0';
	opts = PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C;
#ifdef PCRE2_MATCH_INVALID_UTF
	opts |= PCRE2_MATCH_INVALID_UTF;
#endif
	for (s++; *s != '\0' && *s != ' ' && *s != '\t'; s++) {
		switch (*s) {
		case 'i':	opts |= PCRE2_CASELESS; break;
		case 'm':	opts |= PCRE2_MULTILINE; break;
		case 's':	opts |= PCRE2_DOTALL; break;
		case 'x':	opts |= PCRE2_EXTENDED; break;
		default:
			if ((unsigned char)*s < 0x80 &&
			    (unsigned char)*s > 0x20)
				spam_err(ld, line, "unknown pattern flag '%c' "
				    "(i, m, s, x)", *s);
			else
				spam_err(ld, line, "unknown pattern flag "
				    "(i, m, s, x)");
			return false;
		}
	}
	if (*spam_skipws(s) != '\0') {
		spam_err(ld, line, "text after the pattern");
		return false;
	}
	*re = pcre2_compile((PCRE2_SPTR)pat, (PCRE2_SIZE)(o - pat), opts, &ec,
	    &off, NULL);
	if (*re == NULL) {
		if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
			(void)str_lcpy((char *)msg, "unknown error",
			    sizeof(msg));
		spam_err(ld, line, "bad pattern: %s at offset %zu", (char *)msg,
		    (size_t)off);
		return false;
	}
	/* Without JIT (unsupported CPU) the interpreter runs, limited too. */
	(void)pcre2_jit_compile(*re, PCRE2_JIT_COMPLETE);
	return true;
}

/* ---- directives ---- */

/* spam_field_valid: a header field name (RFC 5322 ftext). */
static bool
spam_field_valid(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 32 || (unsigned char)*s >= 127 ||
		    *s == ':')
			return false;
	return true;
}

/* spam_header: "FIELD[:addr|:name] =~|!~ /RE/FLAGS" or "exists:FIELD". */
static bool
spam_header(struct spam_ld *ld, unsigned line, struct spam_rule *ru,
    char *rest)
{
	char	*field, *suffix, *e, q[DIAG_QUOTE_MAX];
	bool	 glued;

	/* The field ends at a blank or right at "=~" / "!~". */
	field = e = spam_skipws(rest);
	while (*e != '\0' && *e != ' ' && *e != '\t' &&
	    strncmp(e, "=~", 2) != 0 && strncmp(e, "!~", 2) != 0)
		e++;
	if (e == field) {
		spam_err(ld, line, "header: missing field name");
		return false;
	}
	/* An operator right after the field: "Subject=~/x/". */
	glued = *e == '=' || *e == '!';
	if (glued)
		ru->hop = *e == '=' ? SO_MATCH : SO_NOMATCH;
	rest = *e == '\0' ? e : glued ? e + 2 : e + 1;
	*e = '\0';
	if (strncmp(field, "exists:", 7) == 0) {
		if (glued) {
			spam_err(ld, line, "header: exists: takes no pattern");
			return false;
		}
		ru->hop = SO_EXISTS;
		if (!spam_field_valid(field + 7)) {
			spam_err(ld, line, "header: bad field name \"%s\"",
			    diag_quote(q, sizeof(q), field + 7));
			return false;
		}
		if (*spam_skipws(rest) != '\0') {
			spam_err(ld, line, "text after exists:%s",
			    diag_quote(q, sizeof(q), field + 7));
			return false;
		}
		ru->field = xstrdup(field + 7);
		return true;
	}
	if ((suffix = strchr(field, ':')) != NULL) {
		*suffix++ = '\0';
		if (strcmp(suffix, "addr") == 0)
			ru->hpart = SH_ADDR;
		else if (strcmp(suffix, "name") == 0)
			ru->hpart = SH_NAME;
		else {
			spam_err(ld, line, "header: unknown field modifier "
			    "\":%s\" (:addr, :name)",
			    diag_quote(q, sizeof(q), suffix));
			return false;
		}
	}
	if (strcmp(field, "ALL") == 0) {
		if (ru->hpart != SH_VALUE) {
			spam_err(ld, line, "header: ALL takes no modifier");
			return false;
		}
		ru->hpart = SH_ALL;
		ld->r->need_all = true;
	} else if (!spam_field_valid(field)) {
		spam_err(ld, line, "header: bad field name \"%s\"",
		    diag_quote(q, sizeof(q), field));
		return false;
	}
	ru->field = xstrdup(field);
	if (glued)
		return spam_regex(ld, line, rest, &ru->re);
	rest = spam_skipws(rest);
	if (strncmp(rest, "=~", 2) == 0)
		ru->hop = SO_MATCH;
	else if (strncmp(rest, "!~", 2) == 0)
		ru->hop = SO_NOMATCH;
	else {
		spam_err(ld, line, "header: expected =~ or !~ after the field");
		return false;
	}
	return spam_regex(ld, line, rest + 2, &ru->re);
}

/* spam_attach: "KEY =~ /RE/FLAGS" or "size OP N[K|M]". */
static bool
spam_attach(struct spam_ld *ld, unsigned line, struct spam_rule *ru,
    char *rest)
{
	const char *p;
	char	*key, q[DIAG_QUOTE_MAX];
	uint64_t mult;

	if ((key = spam_word(&rest)) == NULL) {
		spam_err(ld, line, "attach: missing key (filename, type, "
		    "truetype, size)");
		return false;
	}
	if (strcmp(key, "size") == 0) {
		ru->akey = SA_SIZE;
		p = spam_skipws(rest);
		if (!spam_cmp_op(&p, false, &ru->cmp)) {
			spam_err(ld, line, "attach size: expected >, >=, < "
			    "or <=");
			return false;
		}
		p = spam_skipws((char *)p);
		if (!spam_uint(&p, SPAM_SIZE_MAX, &ru->num)) {
			spam_err(ld, line, "attach size: bad number of bytes");
			return false;
		}
		if (strchr("KkMm", *p) != NULL && *p != '\0') {
			mult = spam_lower((unsigned char)*p++) == 'k' ? 1024 :
			    1024 * 1024;
			if (ru->num > SPAM_SIZE_MAX / mult) {
				spam_err(ld, line, "attach size: too large");
				return false;
			}
			ru->num *= mult;
		}
		if (*spam_skipws((char *)p) != '\0') {
			spam_err(ld, line, "attach size: text after the "
			    "number");
			return false;
		}
		return true;
	}
	if (strcmp(key, "filename") == 0)
		ru->akey = SA_FILENAME;
	else if (strcmp(key, "type") == 0)
		ru->akey = SA_TYPE;
	else if (strcmp(key, "truetype") == 0)
		ru->akey = SA_TRUETYPE;
	else {
		spam_err(ld, line, "attach: unknown key \"%s\" (filename, "
		    "type, truetype, size)", diag_quote(q, sizeof(q), key));
		return false;
	}
	rest = spam_skipws(rest);
	if (strncmp(rest, "=~", 2) != 0) {
		spam_err(ld, line, "attach: expected =~ after %s", key);
		return false;
	}
	return spam_regex(ld, line, rest + 2, &ru->re);
}

/* spam_in_list: s is one of the NULL-terminated words of l. */
static bool
spam_in_list(const char *s, const char *const *l)
{
	for (; *l != NULL; l++)
		if (strcmp(s, *l) == 0)
			return true;
	return false;
}

/* spam_eval_arg: the one argument of a signal function, lower case. */
static bool
spam_eval_arg(struct spam_ld *ld, unsigned line, struct spam_rule *ru,
    const char *fn, char *args)
{
	static const char *const spf[] = { "pass", "fail", "softfail",
	    "neutral", "none", "temperror", "permerror", NULL };
	static const char *const auth[] = { "pass", "fail", "none", "policy",
	    "neutral", "temperror", "permerror", NULL };
	static const char *const pol[] = { "reject", "quarantine", "none",
	    NULL };
	char	*a, *e, q[DIAG_QUOTE_MAX];
	size_t	 n;

	a = spam_skipws(args);
	n = strlen(a);
	while (n > 0 && (a[n - 1] == ' ' || a[n - 1] == '\t'))
		a[--n] = '\0';
	if (n >= 2 && (a[0] == '"' || a[0] == '\'') && a[n - 1] == a[0]) {
		a[n - 1] = '\0';
		a++;
	}
	for (e = a; *e != '\0'; e++) {
		if (!spam_isalpha((unsigned char)*e) &&
		    !spam_isdigit((unsigned char)*e) && *e != '-' &&
		    !(*e == '.' && (ru->func == SF_DNSBL ||
		    ru->func == SF_URIBL))) {
			spam_err(ld, line, "%s: bad argument \"%s\"", fn,
			    diag_quote(q, sizeof(q), a));
			return false;
		}
		*e = (char)spam_lower((unsigned char)*e);
	}
	if (*a == '\0' || strlen(a) > 253) {
		spam_err(ld, line, "%s: needs one argument", fn);
		return false;
	}
	if ((ru->func == SF_SPF && !spam_in_list(a, spf)) ||
	    ((ru->func == SF_DKIM || ru->func == SF_DMARC) &&
	    !spam_in_list(a, auth)) ||
	    (ru->func == SF_DMARC_POLICY && !spam_in_list(a, pol))) {
		spam_err(ld, line, "%s: unknown result \"%s\"", fn, a);
		return false;
	}
	ru->field = xstrdup(a);
	return true;
}

/* spam_eval_rule: "FUNC(ARGS)": one of the builtins. */
static bool
spam_eval_rule(struct spam_ld *ld, unsigned line, struct spam_rule *ru,
    char *rest)
{
	static const struct {
		const char	*name;
		enum spam_func	 func;
	} fns[] = {
		{ "gtube", SF_GTUBE }, { "spf", SF_SPF }, { "dkim", SF_DKIM },
		{ "dmarc", SF_DMARC }, { "dmarc_policy", SF_DMARC_POLICY },
		{ "dnsbl", SF_DNSBL }, { "uribl", SF_URIBL },
		{ "recipients", SF_RECIPIENTS }, { "no_text", SF_NO_TEXT },
	};
	const char *p;
	char	*fn, *args, *close, q[DIAG_QUOTE_MAX];
	size_t	 i;

	fn = spam_skipws(rest);
	if ((args = strchr(fn, '(')) == NULL ||
	    (close = strrchr(args, ')')) == NULL) {
		spam_err(ld, line, "eval: expected FUNCTION(ARGUMENTS)");
		return false;
	}
	if (*spam_skipws(close + 1) != '\0') {
		spam_err(ld, line, "eval: text after the closing )");
		return false;
	}
	*close = '\0';
	*args++ = '\0';
	for (i = strlen(fn); i > 0 && (fn[i - 1] == ' ' || fn[i - 1] == '\t');)
		fn[--i] = '\0';
	for (i = 0; i < nitems(fns); i++)
		if (strcmp(fn, fns[i].name) == 0)
			break;
	if (i == nitems(fns)) {
		spam_err(ld, line, "eval: unknown function \"%s\"",
		    diag_quote(q, sizeof(q), fn));
		return false;
	}
	ru->func = fns[i].func;
	switch (ru->func) {
	case SF_GTUBE:
	case SF_NO_TEXT:
		if (*spam_skipws(args) != '\0') {
			spam_err(ld, line, "%s() takes no arguments", fn);
			return false;
		}
		return true;
	case SF_RECIPIENTS:
		p = spam_skipws(args);
		if (!spam_cmp_op(&p, true, &ru->cmp)) {
			spam_err(ld, line, "recipients: expected >, >=, <, <= "
			    "or == and a number");
			return false;
		}
		p = spam_skipws((char *)p);
		if (!spam_uint(&p, SPAM_RCPT_MAX, &ru->num) ||
		    *spam_skipws((char *)p) != '\0') {
			spam_err(ld, line, "recipients: bad number");
			return false;
		}
		return true;
	default:
		return spam_eval_arg(ld, line, ru, fn, args);
	}
}

/* ---- meta expressions ---- */

/* Parsing state of one meta expression. */
struct spam_mp {
	struct spam_ld	*ld;
	unsigned	 line;
	const char	*s;
	struct spam_rule *ru;
	size_t		 cap;
	size_t		 depth;
	size_t		 sp;		/* stack depth of the code so far */
	bool		 bad;
};

static void	 spam_mp_or(struct spam_mp *);

/* spam_mp_emit: append one instruction, tracking the stack depth. */
static void
spam_mp_emit(struct spam_mp *mp, enum spam_opk op, double num, char *name)
{
	struct spam_rule *ru = mp->ru;
	struct spam_op *o;

	if (mp->bad) {
		free(name);
		return;
	}
	if (ru->nops == SPAM_META_TOKENS) {
		spam_err(mp->ld, mp->line, "meta: expression too long (at most "
		    "%d terms and operators)", SPAM_META_TOKENS);
		mp->bad = true;
		free(name);
		return;
	}
	if (ru->nops == mp->cap) {
		mp->cap = mp->cap == 0 ? 16 : mp->cap * 2;
		ru->ops = xreallocarray(ru->ops, mp->cap, sizeof(*ru->ops));
	}
	o = &ru->ops[ru->nops++];
	o->op = op;
	o->num = num;
	o->ref = 0;
	o->name = name;
	if (op == MO_NUM || op == MO_REF)
		mp->sp++;
	else if (op != MO_NOT)
		mp->sp--;
	if (mp->sp > ru->stack)
		ru->stack = mp->sp;
}

/* spam_mp_tok: skip blanks; whether the text continues with tok. */
static bool
spam_mp_tok(struct spam_mp *mp, const char *tok)
{
	size_t	 n = strlen(tok);

	while (*mp->s == ' ' || *mp->s == '\t')
		mp->s++;
	if (strncmp(mp->s, tok, n) != 0)
		return false;
	/* "<" and ">" must not take the first half of "<=" / ">=". */
	if (n == 1 && (*tok == '<' || *tok == '>') && mp->s[1] == '=')
		return false;
	mp->s += n;
	return true;
}

/* spam_mp_fail: report the first syntax error of the expression. */
static void
spam_mp_fail(struct spam_mp *mp, const char *what)
{
	char	 q[DIAG_QUOTE_MAX];

	if (mp->bad)
		return;
	mp->bad = true;
	if (*mp->s == '\0')
		spam_err(mp->ld, mp->line, "meta: %s at the end", what);
	else
		spam_err(mp->ld, mp->line, "meta: %s at \"%s\"", what,
		    diag_quote(q, sizeof(q), mp->s));
}

/*
 * spam_mp_primary: NAME, NUMBER, "(" EXPR ")" or "!" PRIMARY; the
 * nesting of "(" and "!" is bounded, which bounds the recursion.
 */
static void
spam_mp_primary(struct spam_mp *mp)
{
	const char *s;
	double	 v;
	size_t	 n;

	if (mp->bad)
		return;
	if (spam_mp_tok(mp, "!") || spam_mp_tok(mp, "(")) {
		if (++mp->depth > SPAM_META_DEPTH) {
			spam_mp_fail(mp, "nested too deeply (at most 64 "
			    "parentheses and ! together)");
			return;
		}
		if (mp->s[-1] == '!') {
			spam_mp_primary(mp);
			spam_mp_emit(mp, MO_NOT, 0, NULL);
		} else {
			spam_mp_or(mp);
			if (!mp->bad && !spam_mp_tok(mp, ")"))
				spam_mp_fail(mp, "expected )");
		}
		mp->depth--;
	} else if (spam_isdigit((unsigned char)*mp->s)) {
		s = mp->s;
		if (!spam_decimal(&s, false, &v) ||
		    spam_isalpha((unsigned char)*s) || *s == '_')
			spam_mp_fail(mp, "bad number");
		else {
			mp->s = s;
			spam_mp_emit(mp, MO_NUM, v, NULL);
		}
	} else if (spam_isalpha((unsigned char)*mp->s) || *mp->s == '_') {
		for (n = 0; spam_isalpha((unsigned char)mp->s[n]) ||
		    spam_isdigit((unsigned char)mp->s[n]) || mp->s[n] == '_';)
			n++;
		if (n >= SPAM_NAME_MAX)
			spam_mp_fail(mp, "rule name too long");
		else {
			spam_mp_emit(mp, MO_REF, 0, xstrndup(mp->s, n));
			mp->s += n;
		}
	} else
		spam_mp_fail(mp, "expected a rule name, a number, ( or !");
}

/* spam_mp_add: PRIMARY ("+" PRIMARY)*. */
static void
spam_mp_add(struct spam_mp *mp)
{
	spam_mp_primary(mp);
	while (!mp->bad && spam_mp_tok(mp, "+")) {
		spam_mp_primary(mp);
		spam_mp_emit(mp, MO_ADD, 0, NULL);
	}
}

/* spam_mp_rel: ADD (("<" | "<=" | ">" | ">=") ADD)*. */
static void
spam_mp_rel(struct spam_mp *mp)
{
	enum spam_opk op;

	spam_mp_add(mp);
	while (!mp->bad) {
		if (spam_mp_tok(mp, ">="))
			op = MO_GE;
		else if (spam_mp_tok(mp, "<="))
			op = MO_LE;
		else if (spam_mp_tok(mp, ">"))
			op = MO_GT;
		else if (spam_mp_tok(mp, "<"))
			op = MO_LT;
		else
			break;
		spam_mp_add(mp);
		spam_mp_emit(mp, op, 0, NULL);
	}
}

/* spam_mp_eq: REL ("==" REL)*. */
static void
spam_mp_eq(struct spam_mp *mp)
{
	spam_mp_rel(mp);
	while (!mp->bad && spam_mp_tok(mp, "==")) {
		spam_mp_rel(mp);
		spam_mp_emit(mp, MO_EQ, 0, NULL);
	}
}

/* spam_mp_and: EQ ("&&" EQ)*. */
static void
spam_mp_and(struct spam_mp *mp)
{
	spam_mp_eq(mp);
	while (!mp->bad && spam_mp_tok(mp, "&&")) {
		spam_mp_eq(mp);
		spam_mp_emit(mp, MO_AND, 0, NULL);
	}
}

/* spam_mp_or: AND ("||" AND)*. */
static void
spam_mp_or(struct spam_mp *mp)
{
	spam_mp_and(mp);
	while (!mp->bad && spam_mp_tok(mp, "||")) {
		spam_mp_and(mp);
		spam_mp_emit(mp, MO_OR, 0, NULL);
	}
}

/* spam_meta: compile EXPR; names are resolved once every rule is known. */
static bool
spam_meta(struct spam_ld *ld, unsigned line, struct spam_rule *ru,
    char *rest)
{
	struct spam_mp mp;

	memset(&mp, 0, sizeof(mp));
	mp.ld = ld;
	mp.line = line;
	mp.s = rest;
	mp.ru = ru;
	if (*spam_skipws(rest) == '\0') {
		spam_err(ld, line, "meta: missing expression");
		return false;
	}
	spam_mp_or(&mp);
	if (!mp.bad && *spam_skipws((char *)mp.s) != '\0')
		spam_mp_fail(&mp, "unexpected text");
	return !mp.bad;
}

/* ---- lines ---- */

/* spam_pend_add: a score or describe line, applied after the last line. */
static void
spam_pend_add(struct spam_ld *ld, unsigned line, const char *name,
    bool score, double value, const char *text)
{
	struct spam_pend *p;

	if (ld->npend == ld->pendcap) {
		ld->pendcap = ld->pendcap == 0 ? 64 : ld->pendcap * 2;
		ld->pend = xreallocarray(ld->pend, ld->pendcap,
		    sizeof(*ld->pend));
	}
	p = &ld->pend[ld->npend++];
	p->name = xstrdup(name);
	p->line = line;
	p->score = score;
	p->value = value;
	p->text = text != NULL ? xstrdup(text) : NULL;
}

/* spam_score_line: "score NAME N" and "describe NAME TEXT". */
static void
spam_score_line(struct spam_ld *ld, unsigned line, bool score, char *rest)
{
	const char *p;
	char	*name, q[DIAG_QUOTE_MAX];
	double	 v = 0;
	size_t	 n;

	if ((name = spam_word(&rest)) == NULL || !spam_name_valid(name)) {
		spam_err(ld, line, "%s: bad or missing rule name \"%s\"",
		    score ? "score" : "describe",
		    diag_quote(q, sizeof(q), name != NULL ? name : ""));
		return;
	}
	/* Each valid line names a distinct rule: more is an error anyway. */
	if (ld->npend >= 2 * (size_t)SPAM_MAX_RULES) {
		spam_err(ld, line, "too many score and describe lines");
		return;
	}
	if (!score) {
		rest = spam_skipws(rest);
		n = strlen(rest);
		while (n > 0 && (rest[n - 1] == ' ' || rest[n - 1] == '\t'))
			rest[--n] = '\0';
		spam_pend_add(ld, line, name, false, 0, rest);
		return;
	}
	p = spam_skipws(rest);
	if (!spam_decimal(&p, true, &v) || *spam_skipws((char *)p) != '\0') {
		spam_err(ld, line, "score %s: expected one decimal number",
		    name);
		return;
	}
	if (v > SPAM_SCORE_MAX || v < -SPAM_SCORE_MAX) {
		spam_err(ld, line, "score %s: out of range (-%g to %g)", name,
		    SPAM_SCORE_MAX, SPAM_SCORE_MAX);
		return;
	}
	spam_pend_add(ld, line, name, true, v, NULL);
}

/* spam_version_line: "version MAJOR.MINOR", once, first. */
static void
spam_version_line(struct spam_ld *ld, unsigned line, char *rest)
{
	char	*v, q[DIAG_QUOTE_MAX];

	if (ld->version_line != 0) {
		spam_err(ld, line, "version given twice (first at line %u)",
		    ld->version_line);
		return;
	}
	ld->version_line = line;
	if ((v = spam_word(&rest)) == NULL || *spam_skipws(rest) != '\0' ||
	    !spam_version_parse(v, &ld->r->version))
		spam_err(ld, line, "version: expected MAJOR.MINOR (1 to 9 "
		    "digits each), not \"%s\"", diag_quote(q, sizeof(q),
		    v != NULL ? v : ""));
}

/* spam_rule_line: a rule definition: header, body, uri, attach, eval, meta. */
static void
spam_rule_line(struct spam_ld *ld, unsigned line, enum spam_kind kind,
    const char *dir, char *rest)
{
	struct spam_rules *r = ld->r;
	struct spam_rule *ru;
	char	*name, q[DIAG_QUOTE_MAX];
	long	 prev;

	if ((name = spam_word(&rest)) == NULL) {
		spam_err(ld, line, "%s: missing rule name", dir);
		return;
	}
	if (!spam_name_valid(name)) {
		spam_err(ld, line, "%s: bad rule name \"%s\" (letters, digits "
		    "and _, not starting with a digit, at most %d)", dir,
		    diag_quote(q, sizeof(q), name), SPAM_NAME_MAX - 1);
		return;
	}
	if ((prev = spam_find(r, name)) != -1) {
		spam_err(ld, line, "rule %s defined twice (first at line %u)",
		    name, r->rules[prev].line);
		return;
	}
	if (r->nrules == SPAM_MAX_RULES) {
		if (!ld->full_reported)
			spam_err(ld, line, "too many rules (at most %d)",
			    SPAM_MAX_RULES);
		ld->full_reported = true;
		return;
	}
	/* A broken rule stays defined, so later lines naming it say no more. */
	ru = spam_add(r, name, kind, line);
	switch (kind) {
	case SK_HEADER:
		(void)spam_header(ld, line, ru, rest);
		break;
	case SK_BODY:
		r->need_body = true;
		(void)spam_regex(ld, line, rest, &ru->re);
		break;
	case SK_URI:
		r->need_uris = true;
		(void)spam_regex(ld, line, rest, &ru->re);
		break;
	case SK_ATTACH:
		(void)spam_attach(ld, line, ru, rest);
		break;
	case SK_EVAL:
		(void)spam_eval_rule(ld, line, ru, rest);
		break;
	case SK_META:
		(void)spam_meta(ld, line, ru, rest);
		break;
	}
}

/* spam_line: one line without its end of line, NUL-terminated. */
static void
spam_line(struct spam_ld *ld, unsigned line, char *s)
{
	static const struct {
		const char	*name;
		enum spam_kind	 kind;
	} kinds[] = {
		{ "header", SK_HEADER }, { "body", SK_BODY }, { "uri", SK_URI },
		{ "attach", SK_ATTACH }, { "eval", SK_EVAL },
		{ "meta", SK_META },
	};
	char	*dir, q[DIAG_QUOTE_MAX];
	size_t	 i;

	if ((dir = spam_word(&s)) == NULL || dir[0] == '#')
		return;
	if (strcmp(dir, "version") == 0) {
		spam_version_line(ld, line, s);
		return;
	}
	if (ld->version_line == 0 && !ld->early_reported) {
		spam_err(ld, line, "the version line must come before every "
		    "other directive");
		ld->early_reported = true;
	}
	if (strcmp(dir, "score") == 0 || strcmp(dir, "describe") == 0) {
		spam_score_line(ld, line, dir[0] == 's', s);
		return;
	}
	for (i = 0; i < nitems(kinds); i++)
		if (strcmp(dir, kinds[i].name) == 0) {
			spam_rule_line(ld, line, kinds[i].kind, dir, s);
			return;
		}
	spam_err(ld, line, "unknown directive \"%s\"",
	    diag_quote(q, sizeof(q), dir));
}

/* ---- after the last line ---- */

/* spam_apply_pend: scores and descriptions onto their rules. */
static void
spam_apply_pend(struct spam_ld *ld)
{
	struct spam_rules *r = ld->r;
	struct spam_pend *p;
	struct spam_rule *ru;
	size_t	 i;
	long	 k;

	for (i = 0; i < ld->npend; i++) {
		p = &ld->pend[i];
		if ((k = spam_find(r, p->name)) == -1) {
			spam_err(ld, p->line, "%s for unknown rule %s",
			    p->score ? "score" : "describe", p->name);
			continue;
		}
		ru = &r->rules[k];
		if (p->score && ru->sub)
			spam_err(ld, p->line, "score for sub-rule %s (rules "
			    "named __* are never scored)", p->name);
		else if (p->score && ru->score_line != 0)
			spam_err(ld, p->line, "score for %s given twice (first "
			    "at line %u)", p->name, ru->score_line);
		else if (p->score) {
			ru->score = p->value;
			ru->score_line = p->line;
		} else if (ru->describe != NULL)
			spam_err(ld, p->line, "describe for %s given twice "
			    "(first at line %u)", p->name, ru->describe_line);
		else {
			ru->describe = xstrdup(p->text);
			ru->describe_line = p->line;
		}
	}
}

/*
 * spam_resolve: meta rule names into indices.  An unknown name is
 * reported and becomes the constant 0, so cycles are still looked for.
 */
static void
spam_resolve(struct spam_ld *ld)
{
	struct spam_rules *r = ld->r;
	struct spam_rule *ru;
	size_t	 i, j;
	long	 k;

	for (i = 0; i < r->nrules; i++) {
		ru = &r->rules[i];
		for (j = 0; j < ru->nops; j++) {
			if (ru->ops[j].op != MO_REF)
				continue;
			if ((k = spam_find(r, ru->ops[j].name)) == -1) {
				spam_err(ld, ru->line, "meta %s: unknown rule "
				    "%s", ru->name, ru->ops[j].name);
				ru->ops[j].op = MO_NUM;
			} else
				ru->ops[j].ref = (size_t)k;
			free(ru->ops[j].name);
			ru->ops[j].name = NULL;
		}
		if (ru->stack > r->stack)
			r->stack = ru->stack;
	}
}

/* The meta dependency graph: adj[start[y]..start[y + 1]) name y. */
struct spam_graph {
	size_t	*indeg;		/* meta rules a meta rule names, left */
	size_t	*start;
	size_t	*adj;
	size_t	*fill;
	size_t	*queue;
};

/*
 * spam_cycles: report the metas of r that Kahn's algorithm left over
 * (indeg > 0) and that are in a cycle.  Those that only depend on a
 * cycle are peeled off first: no rule left over names them.
 */
static void
spam_cycles(struct spam_ld *ld, struct spam_graph *g)
{
	struct spam_rules *r = ld->r;
	struct spam_rule *ru;
	size_t	 i, j, x, y, qh = 0, qt = 0, n = r->nrules;

	memset(g->fill, 0, n * sizeof(*g->fill));
	for (y = 0; y < n; y++)
		if (g->indeg[y] > 0)
			for (j = g->start[y]; j < g->start[y + 1]; j++)
				if (g->indeg[g->adj[j]] > 0)
					g->fill[y]++;
	for (y = 0; y < n; y++)
		if (g->indeg[y] > 0 && g->fill[y] == 0)
			g->queue[qt++] = y;
	while (qh < qt) {
		x = g->queue[qh++];
		g->indeg[x] = 0;
		ru = &r->rules[x];
		for (j = 0; j < ru->nops; j++) {
			y = ru->ops[j].ref;
			if (ru->ops[j].op == MO_REF && g->indeg[y] > 0 &&
			    --g->fill[y] == 0)
				g->queue[qt++] = y;
		}
	}
	for (i = 0; i < n; i++)
		if (g->indeg[i] > 0)
			spam_err(ld, r->rules[i].line, "meta %s: part of a "
			    "cycle of meta rules", r->rules[i].name);
}

/*
 * spam_order: the meta rules in dependency order (Kahn's algorithm over
 * "X names Y": Y first); the ones left over are reported by spam_cycles.
 */
static void
spam_order(struct spam_ld *ld)
{
	struct spam_rules *r = ld->r;
	struct spam_graph g;
	size_t	*indeg, *start, *adj, *fill, *queue, n = r->nrules;
	size_t	 i, j, y, qh = 0, qt = 0, nedges = 0;

	indeg = xcalloc(n + 1, sizeof(*indeg));
	start = xcalloc(n + 1, sizeof(*start));
	for (i = 0; i < n; i++)
		for (j = 0; j < r->rules[i].nops; j++)
			if (r->rules[i].ops[j].op == MO_REF &&
			    r->rules[r->rules[i].ops[j].ref].kind == SK_META) {
				indeg[i]++;
				start[r->rules[i].ops[j].ref + 1]++;
				nedges++;
			}
	for (i = 0; i < n; i++)
		start[i + 1] += start[i];
	adj = xcalloc(nedges + 1, sizeof(*adj));
	fill = xcalloc(n + 1, sizeof(*fill));
	for (i = 0; i < n; i++)
		for (j = 0; j < r->rules[i].nops; j++)
			if (r->rules[i].ops[j].op == MO_REF &&
			    r->rules[r->rules[i].ops[j].ref].kind == SK_META) {
				y = r->rules[i].ops[j].ref;
				adj[start[y] + fill[y]++] = i;
			}
	queue = xcalloc(n + 1, sizeof(*queue));
	r->metas = xcalloc(n + 1, sizeof(*r->metas));
	for (i = 0; i < n; i++)
		if (r->rules[i].kind == SK_META && indeg[i] == 0)
			queue[qt++] = i;
	while (qh < qt) {
		y = queue[qh++];
		r->metas[r->nmetas++] = y;
		for (j = start[y]; j < start[y + 1]; j++)
			if (--indeg[adj[j]] == 0)
				queue[qt++] = adj[j];
	}
	g.indeg = indeg;
	g.start = start;
	g.adj = adj;
	g.fill = fill;
	g.queue = queue;
	spam_cycles(ld, &g);
	free(indeg);
	free(start);
	free(adj);
	free(fill);
	free(queue);
}

struct spam_rules *
spam_rules_parse(const char *data, size_t len, const char *fname,
    struct diag *d)
{
	struct spam_ld	 ld;
	const char	*p, *nl;
	char		*buf;
	size_t		 off = 0, n, i, first;
	unsigned	 line = 0;

	memset(&ld, 0, sizeof(ld));
	first = d->nitems;
	ld.r = xcalloc(1, sizeof(*ld.r));
	ld.d = d;
	ld.file = fname;
	buf = xmalloc(SPAM_LINE_MAX + 1);
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		off = 3;	/* a UTF-8 byte order mark */
	while (off < len) {
		line++;
		p = data + off;
		if ((nl = memchr(p, '\n', len - off)) != NULL) {
			n = (size_t)(nl - p);
			off += n + 1;
		} else {
			n = len - off;
			off = len;
		}
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > SPAM_LINE_MAX) {
			spam_err(&ld, line, "line too long (at most %d bytes)",
			    SPAM_LINE_MAX);
			continue;
		}
		if (memchr(p, '\0', n) != NULL) {
			spam_err(&ld, line, "NUL byte in the line");
			continue;
		}
		if (!spam_utf8_valid((const unsigned char *)p, n)) {
			spam_err(&ld, line, "invalid UTF-8");
			continue;
		}
		memcpy(buf, p, n);
		buf[n] = '\0';
		spam_line(&ld, line, buf);
	}
	free(buf);
	if (ld.version_line == 0)
		spam_err(&ld, 0, "no version line (version MAJOR.MINOR)");
	spam_apply_pend(&ld);
	spam_resolve(&ld);
	spam_order(&ld);
	/* Scores and metas are checked after the last line: merge by line. */
	diag_sort_lines(d, first);
	for (i = 0; i < ld.npend; i++) {
		free(ld.pend[i].name);
		free(ld.pend[i].text);
	}
	free(ld.pend);
	if (ld.nerrors > 0) {
		spam_rules_free(ld.r);
		return NULL;
	}
	return ld.r;
}

struct spam_rules *
spam_rules_load(const char *path, struct diag *d)
{
	struct spam_rules *r;
	char		*text;
	size_t		 len;

	if ((text = file_read_at(AT_FDCWD, path, SPAM_PACKAGE_MAX, &len)) ==
	    NULL) {
		if (errno == EFBIG)
			diag_add(d, DIAG_ERROR, path, 0, "file too large (at "
			    "most %d bytes)", SPAM_PACKAGE_MAX);
		else
			diag_add(d, DIAG_ERROR, path, 0, "cannot read: %s",
			    strerror(errno));
		return NULL;
	}
	r = spam_rules_parse(text, len, path, d);
	free(text);
	return r;
}

/* ---- URIs ---- */

/* spam_uri_end: whether c ends a URI in text. */
static inline bool
spam_uri_end(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' ||
	    c == '\'';
}

/* spam_uri_start: the length of a scheme ("http://" ...) or "www." at s. */
static size_t
spam_uri_start(const char *s, size_t n, bool *www)
{
	static const char *const schemes[] = { "http://", "https://",
	    "ftp://" };
	size_t	 i, k;

	*www = false;
	if (strchr("hHfFwW", *s) == NULL || *s == '\0')
		return 0;
	for (i = 0; i < nitems(schemes); i++) {
		k = strlen(schemes[i]);
		if (n >= k && strncasecmp(s, schemes[i], k) == 0)
			return k;
	}
	if (n >= 5 && strncasecmp(s, "www.", 4) == 0 &&
	    (spam_isalpha((unsigned char)s[4]) ||
	    spam_isdigit((unsigned char)s[4]))) {
		*www = true;
		return 4;
	}
	return 0;
}

/* The URIs found so far, with a hash set for the exact-string dedup. */
struct spam_uriset {
	char	**v;
	size_t	 n;
	size_t	 tab[2 * SPAM_MAX_URIS + 48];	/* index + 1, 0: empty */
};

/* spam_uri_add: one URI (prefix + s[0..n)), unless already there. */
static void
spam_uri_add(struct spam_uriset *u, const char *prefix, const char *s,
    size_t n)
{
	size_t	 plen = strlen(prefix), h, k, tsz = nitems(u->tab);
	char	*uri;

	uri = xmalloc(plen + n + 1);
	memcpy(uri, prefix, plen);
	memcpy(uri + plen, s, n);
	uri[plen + n] = '\0';
	h = spam_hashstr(uri, plen + n) % tsz;
	while ((k = u->tab[h]) != 0) {
		if (strcmp(u->v[k - 1], uri) == 0) {
			free(uri);
			return;
		}
		h = (h + 1) % tsz;
	}
	u->v[u->n++] = uri;
	u->tab[h] = u->n;
}

/* spam_uris_text: the URIs of one text into u, until u is full. */
static void
spam_uris_text(struct spam_uriset *u, const char *t, size_t len)
{
	size_t	 i = 0, k, e, n;
	bool	 www;

	while (i < len && u->n < SPAM_MAX_URIS) {
		/* Only at a word start: "www." inside a host or address. */
		if ((k = spam_uri_start(t + i, len - i, &www)) == 0 ||
		    (www && i > 0 && (spam_isalpha((unsigned char)t[i - 1]) ||
		    spam_isdigit((unsigned char)t[i - 1]) || (t[i - 1] != '\0' &&
		    strchr(".-_@/", t[i - 1]) != NULL)))) {
			i++;
			continue;
		}
		for (e = i + k; e < len && !spam_uri_end((unsigned char)t[e]);)
			e++;
		n = e - i;
		while (n > k && strchr(".,;:!?)]}", t[i + n - 1]) != NULL)
			n--;
		if (n > k) {
			if (n > SPAM_URI_MAX)
				n = spam_utf8_cut(t + i, SPAM_URI_MAX);
			spam_uri_add(u, www ? "http://" : "", t + i, n);
		}
		i = e;
	}
}

size_t
spam_uris(const struct scan_msg *m, char ***out)
{
	struct spam_uriset *u;
	size_t	 i, n;

	u = xcalloc(1, sizeof(*u));
	u->v = xcalloc(SPAM_MAX_URIS, sizeof(*u->v));
	for (i = 0; i < m->nparts && u->n < SPAM_MAX_URIS; i++)
		if (m->parts[i].body_text && m->parts[i].text != NULL)
			spam_uris_text(u, m->parts[i].text,
			    m->parts[i].textlen);
	*out = u->v;
	n = u->n;
	free(u);
	return n;
}

void
spam_uris_free(char **v, size_t n)
{
	size_t	 i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * spam_uri_host: the host of "scheme://[userinfo@]host[:port][/...]",
 * lower case, without brackets (IPv6) or a trailing dot.  The authority
 * ends at "/", "?", "#" or "\" (browsers read "\" as "/" in http URLs,
 * which "http://evil.example\@good.example" relies on).
 */
bool
spam_uri_host(const char *uri, char *host, size_t size)
{
	const char *s, *a, *e, *at, *h, *he;
	size_t	 i, n;

	if ((s = strstr(uri, "://")) == NULL || s == uri)
		return false;
	for (a = uri; a < s; a++)
		if (!spam_isalpha((unsigned char)*a) &&
		    !(a > uri && (spam_isdigit((unsigned char)*a) ||
		    *a == '+' || *a == '-' || *a == '.')))
			return false;
	a = s + 3;
	e = a + strcspn(a, "/?#\\");
	for (at = NULL, h = a; h < e; h++)
		if (*h == '@')
			at = h;
	h = at != NULL ? at + 1 : a;
	if (*h == '[') {
		if ((he = memchr(h, ']', (size_t)(e - h))) == NULL)
			return false;
		h++;
	} else {
		he = memchr(h, ':', (size_t)(e - h));
		if (he == NULL)
			he = e;
		if (he > h && he[-1] == '.')
			he--;
	}
	n = (size_t)(he - h);
	if (n == 0 || n >= size)
		return false;
	for (i = 0; i < n; i++)
		host[i] = (char)spam_lower((unsigned char)h[i]);
	host[n] = '\0';
	return true;
}

/* ---- evaluation ---- */

/* spam_match: whether re matches text; a limit or an error: no match. */
static bool
spam_match(struct spam_ctx *cx, const pcre2_code *re, const char *text,
    size_t len)
{
	if (text == NULL)
		return false;
	return pcre2_match(re, (PCRE2_SPTR)text, len, 0, 0, cx->rm.md,
	    cx->rm.mc) >= 0;
}

/* spam_text_add: append s[0..n) to a text capped at SPAM_TEXT_MAX. */
static void
spam_text_add(char *t, size_t *len, const char *s, size_t n)
{
	if (n > SPAM_TEXT_MAX - *len)
		n = spam_utf8_cut(s, SPAM_TEXT_MAX - *len);
	memcpy(t + *len, s, n);
	*len += n;
}

/*
 * spam_body: the subject, "\n", and the text of every body text part,
 * each followed by "\n"; at most SPAM_TEXT_MAX bytes.
 */
static void
spam_body(struct spam_ctx *cx)
{
	const struct scan_msg *m = cx->m;
	size_t	 i, need = 2;

	if (m->subject != NULL)
		need += strlen(m->subject);
	for (i = 0; i < m->nparts; i++)
		if (m->parts[i].body_text && m->parts[i].text != NULL)
			need += m->parts[i].textlen + 1;
	if (need > SPAM_TEXT_MAX + 1)
		need = SPAM_TEXT_MAX + 1;
	cx->body = xmalloc(need);
	if (m->subject != NULL)
		spam_text_add(cx->body, &cx->bodylen, m->subject,
		    strlen(m->subject));
	spam_text_add(cx->body, &cx->bodylen, "\n", 1);
	for (i = 0; i < m->nparts; i++)
		if (m->parts[i].body_text && m->parts[i].text != NULL) {
			spam_text_add(cx->body, &cx->bodylen, m->parts[i].text,
			    m->parts[i].textlen);
			spam_text_add(cx->body, &cx->bodylen, "\n", 1);
		}
	cx->body[cx->bodylen] = '\0';
}

/* spam_all: every header as "Name: value\n", at most SPAM_TEXT_MAX. */
static void
spam_all(struct spam_ctx *cx)
{
	const struct scan_msg *m = cx->m;
	size_t	 i, need = 1;

	for (i = 0; i < m->nheaders; i++)
		if (m->headers[i].name != NULL && m->headers[i].value != NULL)
			need += strlen(m->headers[i].name) +
			    strlen(m->headers[i].value) + 3;
	if (need > SPAM_TEXT_MAX + 1)
		need = SPAM_TEXT_MAX + 1;
	cx->all = xmalloc(need);
	for (i = 0; i < m->nheaders; i++) {
		if (m->headers[i].name == NULL || m->headers[i].value == NULL)
			continue;
		spam_text_add(cx->all, &cx->alllen, m->headers[i].name,
		    strlen(m->headers[i].name));
		spam_text_add(cx->all, &cx->alllen, ": ", 2);
		spam_text_add(cx->all, &cx->alllen, m->headers[i].value,
		    strlen(m->headers[i].value));
		spam_text_add(cx->all, &cx->alllen, "\n", 1);
	}
	cx->all[cx->alllen] = '\0';
}

/* A bounded output string for the address splitter. */
struct spam_sb {
	char	 s[SPAM_ADDR_MAX];
	size_t	 n;
};

static void
spam_sb_put(struct spam_sb *b, char c)
{
	if (b->n + 1 < sizeof(b->s))
		b->s[b->n++] = c;
}

/* spam_utf8_tail: n without an incomplete character at the end of s. */
static size_t
spam_utf8_tail(const char *s, size_t n)
{
	size_t	 i = n, cont = 0, need;
	unsigned char lead;

	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && cont < 3) {
		i--;
		cont++;
	}
	if (i == 0 || (lead = (unsigned char)s[i - 1]) < 0xc0)
		return n;
	need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : 1;
	return cont < need ? i - 1 : n;
}

/* spam_sb_done: NUL-terminate, trimmed, not cut inside a character. */
static const char *
spam_sb_done(struct spam_sb *b)
{
	size_t	 i = 0;

	if (b->n + 1 >= sizeof(b->s))
		b->n = spam_utf8_tail(b->s, b->n);
	while (b->n > 0 && spam_isspace((unsigned char)b->s[b->n - 1]))
		b->n--;
	b->s[b->n] = '\0';
	while (spam_isspace((unsigned char)b->s[i]))
		i++;
	return b->s + i;
}

/*
 * spam_mailbox: the next mailbox of an address list at *pp ("Name
 * <addr>", "addr (Name)", "\"Quoted\" <addr>", groups "g: a, b;"): its
 * addr-spec (lower case) and display name; false at the end.  Mailboxes
 * without an address (empty groups, stray commas) are skipped.
 */
static bool
spam_mailbox(const char **pp, struct spam_sb *addr, struct spam_sb *name)
{
	struct spam_sb	 phrase, comment, angle;
	const char	*s = *pp;
	const char	*a, *nm;
	bool		 quoted, inangle, seen_angle;
	int		 depth;
	size_t		 i;

	while (*s != '\0') {
		phrase.n = comment.n = angle.n = 0;
		quoted = inangle = seen_angle = false;
		depth = 0;
		for (; *s != '\0'; s++) {
			if (quoted) {
				if (*s == '\\' && s[1] != '\0')
					s++;
				else if (*s == '"') {
					quoted = false;
					continue;
				}
				spam_sb_put(inangle ? &angle : &phrase, *s);
			} else if (depth > 0) {
				if (*s == '\\' && s[1] != '\0')
					s++;
				else if (*s == '(')
					depth++;
				else if (*s == ')' && --depth == 0)
					continue;
				spam_sb_put(&comment, *s);
			} else if (*s == '"')
				quoted = true;
			else if (*s == '(')
				depth = 1;
			else if (inangle && *s == '>')
				inangle = false;
			else if (inangle)
				spam_sb_put(&angle, *s);
			else if (*s == '<') {
				inangle = seen_angle = true;
				angle.n = 0;
			} else if (*s == ',' || *s == ';')
				break;
			else if (*s == ':' && !seen_angle)
				phrase.n = 0;	/* a group's name */
			else
				spam_sb_put(&phrase, *s);
		}
		if (*s != '\0')
			s++;
		if (seen_angle) {
			a = spam_sb_done(&angle);
			nm = spam_sb_done(&phrase);
		} else {
			a = spam_sb_done(&phrase);
			nm = spam_sb_done(&comment);
		}
		if (*a == '\0')
			continue;
		for (i = 0; a[i] != '\0'; i++)
			addr->s[i] = (char)spam_lower((unsigned char)a[i]);
		addr->s[i] = '\0';
		addr->n = i;
		memmove(name->s, nm, strlen(nm) + 1);
		name->n = strlen(nm);
		*pp = s;
		return true;
	}
	*pp = s;
	return false;
}

/* spam_header_hit: a header rule; "!~" hits when nothing matches. */
static bool
spam_header_hit(struct spam_ctx *cx, const struct spam_rule *ru)
{
	const struct scan_msg *m = cx->m;
	struct spam_sb	 addr, name;
	const char	*v;
	size_t		 i;
	bool		 any = false;

	if (ru->hpart == SH_ALL)
		any = spam_match(cx, ru->re, cx->all, cx->alllen);
	for (i = 0; i < m->nheaders && !any && ru->hpart != SH_ALL; i++) {
		if (m->headers[i].name == NULL ||
		    strcasecmp(m->headers[i].name, ru->field) != 0)
			continue;
		if (ru->hop == SO_EXISTS)
			return true;
		if ((v = m->headers[i].value) == NULL)
			continue;
		if (ru->hpart == SH_VALUE) {
			any = spam_match(cx, ru->re, v, strlen(v));
			continue;
		}
		while (!any && spam_mailbox(&v, &addr, &name))
			any = ru->hpart == SH_ADDR ?
			    spam_match(cx, ru->re, addr.s, addr.n) :
			    spam_match(cx, ru->re, name.s, name.n);
	}
	if (ru->hop == SO_EXISTS)
		return false;
	return ru->hop == SO_NOMATCH ? !any : any;
}

/* spam_attach_hit: an attach rule over every attachment and member. */
static bool
spam_attach_hit(struct spam_ctx *cx, const struct spam_rule *ru)
{
	const struct scan_part *p;
	const char	*v;
	size_t		 i;

	for (i = 0; i < cx->m->nparts; i++) {
		p = &cx->m->parts[i];
		if (!p->attachment)
			continue;
		if (ru->akey == SA_SIZE) {
			if (scan_cmp_eval(ru->cmp, p->size, ru->num))
				return true;
			continue;
		}
		v = ru->akey == SA_FILENAME ? p->filename :
		    ru->akey == SA_TYPE ? p->content_type : p->true_type;
		if (v != NULL && spam_match(cx, ru->re, v, strlen(v)))
			return true;
	}
	return false;
}

/* spam_gtube: the GTUBE string in the subject or any part's text. */
static bool
spam_gtube(const struct scan_msg *m)
{
	static const char g[] = SPAM_GTUBE;
	size_t	 i;

	if (m->subject != NULL && strstr(m->subject, g) != NULL)
		return true;
	for (i = 0; i < m->nparts; i++)
		if (m->parts[i].text != NULL && memmem(m->parts[i].text,
		    m->parts[i].textlen, g, sizeof(g) - 1) != NULL)
			return true;
	return false;
}

/* spam_no_text: no body text part holds anything but white space. */
static bool
spam_no_text(const struct scan_msg *m)
{
	const struct scan_part *p;
	size_t	 i, k;

	for (i = 0; i < m->nparts; i++) {
		p = &m->parts[i];
		if (!p->body_text || p->text == NULL)
			continue;
		for (k = 0; k < p->textlen; k++)
			if (!spam_isspace((unsigned char)p->text[k]))
				return false;
	}
	return true;
}

/* spam_zone_listed: zone is one of the NULL-terminated list l. */
static bool
spam_zone_listed(const char *const *l, const char *zone)
{
	if (l == NULL)
		return false;
	for (; *l != NULL; l++)
		if (strcasecmp(*l, zone) == 0)
			return true;
	return false;
}

/* spam_eval_hit: a builtin function; a signal not given never hits. */
static bool
spam_eval_hit(struct spam_ctx *cx, const struct spam_rule *ru,
    bool gtube)
{
	const struct spam_signals *sig = cx->sig;
	const char *v = NULL;

	switch (ru->func) {
	case SF_GTUBE:
		return gtube;
	case SF_NO_TEXT:
		return spam_no_text(cx->m);
	case SF_RECIPIENTS:
		return scan_cmp_eval(ru->cmp, cx->m->nhdr_rcpts, ru->num);
	case SF_DNSBL:
		return sig != NULL && spam_zone_listed(sig->dnsbl, ru->field);
	case SF_URIBL:
		return sig != NULL && spam_zone_listed(sig->uribl, ru->field);
	case SF_SPF:
		v = sig != NULL ? sig->spf : NULL;
		break;
	case SF_DKIM:
		v = sig != NULL ? sig->dkim : NULL;
		break;
	case SF_DMARC:
		v = sig != NULL ? sig->dmarc : NULL;
		break;
	case SF_DMARC_POLICY:
		v = sig != NULL ? sig->dmarc_policy : NULL;
		break;
	}
	return v != NULL && strcasecmp(v, ru->field) == 0;
}

/* spam_meta_hit: run a meta rule's code over the values so far. */
static bool
spam_meta_hit(struct spam_ctx *cx, const struct spam_rule *ru)
{
	double	*st = cx->stack, a, b;
	size_t	 i, sp = 0;

	for (i = 0; i < ru->nops; i++) {
		switch (ru->ops[i].op) {
		case MO_NUM:
			st[sp++] = ru->ops[i].num;
			continue;
		case MO_REF:
			st[sp++] = cx->hit[ru->ops[i].ref] ? 1 : 0;
			continue;
		case MO_NOT:
			st[sp - 1] = st[sp - 1] == 0;
			continue;
		default:
			break;
		}
		b = st[--sp];
		a = st[sp - 1];
		switch (ru->ops[i].op) {
		case MO_AND:	a = a != 0 && b != 0; break;
		case MO_OR:	a = a != 0 || b != 0; break;
		case MO_ADD:	a = a + b; break;
		case MO_GT:	a = a > b; break;
		case MO_GE:	a = a >= b; break;
		case MO_LT:	a = a < b; break;
		case MO_LE:	a = a <= b; break;
		case MO_EQ:	a = a == b; break;
		default:
			fatalx("spam_meta_hit: %s: bad instruction", ru->name);
		}
		st[sp - 1] = a;
	}
	if (sp != 1)
		fatalx("spam_meta_hit: %s: stack depth %zu", ru->name, sp);
	return st[0] != 0;
}

/* spam_ctx_init: the per-evaluation matching state and shared texts. */
static void
spam_ctx_init(struct spam_ctx *cx, const struct spam_rules *r,
    const struct scan_msg *m, const struct spam_signals *sig)
{
	memset(cx, 0, sizeof(*cx));
	cx->r = r;
	cx->m = m;
	cx->sig = sig;
	rematch_init(&cx->rm);
	cx->hit = xcalloc(r->nrules + 1, sizeof(*cx->hit));
	cx->stack = xcalloc(r->stack + 1, sizeof(*cx->stack));
	if (r->need_body)
		spam_body(cx);
	if (r->need_all)
		spam_all(cx);
	if (r->need_uris)
		cx->nuris = spam_uris(m, &cx->uris);
}

static void
spam_ctx_free(struct spam_ctx *cx)
{
	rematch_free(&cx->rm);
	spam_uris_free(cx->uris, cx->nuris);
	free(cx->hit);
	free(cx->stack);
	free(cx->body);
	free(cx->all);
}

/* spam_rule_hit: one rule other than a meta rule. */
static bool
spam_rule_hit(struct spam_ctx *cx, const struct spam_rule *ru, bool gtube)
{
	size_t	 i;

	switch (ru->kind) {
	case SK_HEADER:
		return spam_header_hit(cx, ru);
	case SK_BODY:
		return spam_match(cx, ru->re, cx->body, cx->bodylen);
	case SK_URI:
		for (i = 0; i < cx->nuris; i++)
			if (spam_match(cx, ru->re, cx->uris[i],
			    strlen(cx->uris[i])))
				return true;
		return false;
	case SK_ATTACH:
		return spam_attach_hit(cx, ru);
	case SK_EVAL:
		return spam_eval_hit(cx, ru, gtube);
	case SK_META:
		break;
	}
	return false;
}

/*
 * spam_rules_zones: the distinct zones the package's dnsbl() (uribl
 * false) or uribl() (uribl true) rules name, in package order, at most
 * max; the strings point into the rules.  The lookups the scanner makes.
 */
size_t
spam_rules_zones(const struct spam_rules *r, bool uribl, const char **out,
    size_t max)
{
	const struct spam_rule *ru;
	size_t	 i, j, n = 0;

	for (i = 0; r != NULL && i < r->nrules && n < max; i++) {
		ru = &r->rules[i];
		if (ru->kind != SK_EVAL ||
		    ru->func != (uribl ? SF_URIBL : SF_DNSBL))
			continue;
		for (j = 0; j < n && strcasecmp(out[j], ru->field) != 0; j++)
			;
		if (j == n)
			out[n++] = ru->field;
	}
	return n;
}

void
spam_eval(const struct spam_rules *r, const struct scan_msg *m,
    const struct spam_signals *sig, struct spam_result *res)
{
	const struct spam_rule *ru;
	struct spam_ctx	 cx;
	size_t		 i, n = 0;

	memset(res, 0, sizeof(*res));
	res->gtube = spam_gtube(m);
	spam_ctx_init(&cx, r, m, sig);
	for (i = 0; i < r->nrules; i++) {
		ru = &r->rules[i];
		if (ru->kind != SK_META && spam_rule_hit(&cx, ru, res->gtube))
			cx.hit[i] = 1;
	}
	for (i = 0; i < r->nmetas; i++)
		if (spam_meta_hit(&cx, &r->rules[r->metas[i]]))
			cx.hit[r->metas[i]] = 1;
	for (i = 0; i < r->nrules; i++)
		if (cx.hit[i] && r->rules[i].score != 0)
			n++;
	if (n > 0)
		res->hits = xcalloc(n, sizeof(*res->hits));
	for (i = 0; i < r->nrules; i++) {
		ru = &r->rules[i];
		if (!cx.hit[i] || ru->score == 0)
			continue;
		res->hits[res->nhits].name = ru->name;
		res->hits[res->nhits].score = ru->score;
		res->hits[res->nhits].describe = ru->describe != NULL ?
		    ru->describe : "";
		res->nhits++;
		res->score += ru->score;
	}
	spam_ctx_free(&cx);
}

void
spam_result_free(struct spam_result *res)
{
	if (res == NULL)
		return;
	free(res->hits);
	memset(res, 0, sizeof(*res));
}
