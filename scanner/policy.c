/*
 * policy.c: the scanning policy (see policy.h and docs/policy.md).
 *
 * Owns struct policy: the rules of policy.ini in evaluation order, each
 * with its scope, conditions and actions, and the keyword lists the rules
 * name, every pattern compiled once with PCRE2 (UTF + UCP, JIT when the
 * platform has it).  Loading reports every problem as "file:line:
 * message" and refuses a policy with errors: a misspelt condition must
 * not silently let mail through, so unknown keys in a rule are errors.
 *
 * Evaluation is pure: it reads a struct scan_msg and the envelope, and
 * writes a struct policy_result.  Each rule's conditions are evaluated at
 * most once per message (lazily, only when the rule applies to some
 * recipient); recipients are then grouped by the list of rules that
 * matched for them.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "diag.h"
#include "ini.h"
#include "log.h"
#include "policy.h"
#include "rematch.h"
#include "scan.h"
#include "util.h"
#include "xmalloc.h"

#define POLICY_RULE_PREFIX	"rule"
#define POLICY_EXEMPT_PREFIX	"spam_exemption"
#define POLICY_SENDERS_SECTION	"spam_senders"
#define POLICY_NAME_MAX		64	/* list, area and template names */
#define POLICY_KW_MAX_FILE	(1024 * 1024)
#define POLICY_KW_MAX_LINE	4096
#define POLICY_KW_MAX_PATS	10000
#define POLICY_ORDER_MAX	1000000
#define POLICY_TAG_MAX		256
#define POLICY_STAMP_MAX	4096
#define POLICY_GLOBS_MAX	256

#define POLICY_ARCH_INCLUDE	0	/* attachment_in_archive values */
#define POLICY_ARCH_EXCLUDE	1
#define POLICY_ARCH_ONLY	2

/* One compiled pattern and where it is written. */
struct policy_pat {
	pcre2_code		*re;
	const char		*file;		/* owned by the policy */
	unsigned		 line;
};

/* A keyword list: keywords/NAME.txt, loaded once per policy. */
struct policy_kwlist {
	char			*name;
	char			*file;
	struct policy_pat	*pats;
	size_t			 npats;
	bool			 bad;		/* failed to load */
};

enum policy_ckind {
	PC_SUBJECT = 0,
	PC_BODY,
	PC_HEADERS,
	PC_ATT_TEXT,
	PC_CONTENT,
	PC_HEADER,
	PC_ATT_NAME,
	PC_ATT_TYPE,
	PC_ATT_SIZE,
	PC_ATT_COUNT,
	PC_RCPT_COUNT,
	PC_EMPTY_SUBJECT,
	PC_MSG_SIZE,
	PC_SCAN_LIMITS,
	PC_VIRUS,
	PC_SPAM,
	PC_SPF,
	PC_DKIM,
	PC_DMARC,
	PC_DMARC_POLICY,
};


struct policy_cond {
	enum policy_ckind	 kind;
	char			*key;		/* as written */
	unsigned		 line;
	bool			 per_part;	/* evaluated per attachment */
	bool			 text;		/* has a text spec */
	const struct policy_pat **pats;		/* text conditions */
	size_t			 npats;
	struct policy_pat	*own;		/* an inline pattern */
	char			*hname;		/* header */
	char			**globs;	/* name, true type */
	size_t			 nglobs;
	enum scan_cmp		 cmp;
	uint64_t		 num;
	bool			 envelope;	/* recipient_count */
	unsigned		 mask;		/* scan_limits; spam: a level */
	double			 min_score;	/* spam = NUMBER */
};

/* Address patterns of a scope ("*", "<>", "@dom", ".dom", globs). */
struct policy_addrs {
	char			**v;
	size_t			 n;
	bool			 set;
};

/* An action as written in the rule; the hit index is added at eval. */
struct policy_ract {
	enum policy_action_kind	 kind;
	char			*arg;
	bool			 template;
};

struct policy_rule {
	char			*name;
	unsigned		 line;
	size_t			 filepos;
	long long		 order;		/* 0: not set */
	unsigned		 order_line;
	bool			 enabled;
	bool			 final;
	bool			 all;
	unsigned		 dirs;		/* POLICY_INBOUND | _OUTBOUND */
	struct policy_addrs	 senders, except_senders;
	struct policy_addrs	 rcpts, except_rcpts;
	int			 archives;	/* POLICY_ARCH_* */
	struct policy_cond	*conds;
	size_t			 nconds;
	enum policy_intercept	 intercept;
	char			*intercept_arg;
	struct policy_ract	*acts;
	size_t			 nacts;
	bool			 has_strip;
	unsigned		 strip_line;
	bool			 exempt;	/* a [spam_exemption] */
};

struct policy {
	char			*file;
	struct policy_rule	*rules;
	size_t			 nrules;
	struct policy_rule	*exempts;	/* [spam_exemption "NAME"] */
	size_t			 nexempts;
	struct policy_addrs	 approved, blocked;	/* [spam_senders] */
	struct policy_kwlist	*lists;
	size_t			 nlists;
};

/* Loading state. */
struct policy_ld {
	struct policy		*p;
	const struct policy_src	*src;
	struct diag		*d;
	const char		*file;
	size_t			 nerrors;
};

/* policy_err: report an error at file:line and count it. */
static void __attribute__((format(printf, 4, 5)))
policy_err(struct policy_ld *ld, const char *file, unsigned line,
    const char *fmt, ...)
{
	va_list	 ap;

	ld->nerrors++;
	va_start(ap, fmt);
	diag_vadd(ld->d, DIAG_ERROR, file, line, fmt, ap);
	va_end(ap);
}

/* policy_warn: report a warning at file:line. */
static void __attribute__((format(printf, 4, 5)))
policy_warn(struct policy_ld *ld, const char *file, unsigned line,
    const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	diag_vadd(ld->d, DIAG_WARNING, file, line, fmt, ap);
	va_end(ap);
}

/* policy_lower: ASCII-only case folding, independent of the locale. */
static inline unsigned char
policy_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* policy_utf8_next: the start of the character after the one at s. */
static const char *
policy_utf8_next(const char *s)
{
	s++;
	while (((unsigned char)*s & 0xc0) == 0x80)
		s++;
	return s;
}

/*
 * policy_glob: s matches glob p ("*" any text, "?" one character, the
 * rest literally, ASCII case-insensitive).  Linear: one star is
 * remembered and retried, which is all "*" needs.
 */
static bool
policy_glob(const char *p, const char *s)
{
	const char *star = NULL, *retry = NULL;

	while (*s != '\0') {
		if (*p == '*') {
			star = ++p;
			retry = s;
		} else if (*p == '?') {
			p++;
			s = policy_utf8_next(s);
		} else if (*p != '\0' && policy_lower(*p) == policy_lower(*s)) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star;
			s = retry = policy_utf8_next(retry);
		} else
			return false;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* policy_name_valid: a list, area or template name: [A-Za-z0-9_.-]. */
static bool
policy_name_valid(const char *s, bool dots)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
	size_t	 n = strlen(s), i;

	if (n == 0 || n > POLICY_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (i = 0; i < n; i++)
		if (strchr(ok, s[i]) == NULL && !(dots && s[i] == '.'))
			return false;
	return true;
}

/* policy_bool: the INI bool spellings; -1 if s is none of them. */
static int
policy_bool(const char *s)
{
	static const char *const t[] = { "1", "yes", "true", "on" };
	static const char *const f[] = { "0", "no", "false", "off" };
	size_t	 i;

	for (i = 0; i < nitems(t); i++) {
		if (strcasecmp(s, t[i]) == 0)
			return 1;
		if (strcasecmp(s, f[i]) == 0)
			return 0;
	}
	return -1;
}

/* policy_list_split: comma-separated items, trimmed; NULL if one is empty. */
static char **
policy_list_split(const char *value, size_t max, size_t *np)
{
	char	*copy = xstrdup(value), *p = copy, *comma, *item, **v = NULL;
	size_t	 n = 0;

	for (;;) {
		if ((comma = strchr(p, ',')) != NULL)
			*comma = '\0';
		item = str_trim(p);
		if (*item == '\0' || n >= max)
			goto bad;
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = xstrdup(item);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	free(copy);
	*np = n;
	return v;
bad:
	while (n > 0)
		free(v[--n]);
	free(v);
	free(copy);
	return NULL;
}

/* policy_strv_free: a vector from policy_list_split. */
static void
policy_strv_free(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

/*
 * policy_size: a number with an optional K, M or G (powers of 1024) and
 * an optional trailing "B"; false on anything else or overflow.
 */
static bool
policy_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	p += strspn(p, " \t");
	switch (policy_lower(*p)) {
	case 'k':
		mul = 1024;
		p++;
		break;
	case 'm':
		mul = 1024 * 1024;
		p++;
		break;
	case 'g':
		mul = 1024ULL * 1024 * 1024;
		p++;
		break;
	}
	if (policy_lower(*p) == 'b')
		p++;
	if (*p != '\0' || (v != 0 && mul > UINT64_MAX / v))
		return false;
	*out = v * mul;
	return true;
}

/* policy_cmp_parse: "> N", ">= N", "< N", "<= N" or "= N". */
static bool
policy_cmp_parse(const char *s, bool sizes, enum scan_cmp *cmp,
    uint64_t *num)
{
	static const struct { const char *op; enum scan_cmp cmp; } ops[] = {
		{ ">=", CMP_GE }, { "<=", CMP_LE }, { ">", CMP_GT },
		{ "<", CMP_LT }, { "=", CMP_EQ },
	};
	size_t	 i, n;

	for (i = 0; i < nitems(ops); i++) {
		n = strlen(ops[i].op);
		if (strncmp(s, ops[i].op, n) != 0)
			continue;
		s += n;
		s += strspn(s, " \t");
		*cmp = ops[i].cmp;
		if (sizes)
			return policy_size(s, num);
		if (strspn(s, "0123456789") != strlen(s) || *s == '\0' ||
		    strlen(s) > 12)
			return false;
		*num = strtoull(s, NULL, 10);
		return true;
	}
	return false;
}

/* ---- patterns and keyword lists ---- */

/*
 * policy_compile: one pattern (UTF, UCP, multiline; caseless on request),
 * JIT-compiled when possible; NULL with the reason in err.
 */
static pcre2_code *
policy_compile(const char *pat, size_t len, bool caseless, char *err,
    size_t esz)
{
	pcre2_code	*re;
	PCRE2_UCHAR	 msg[256];
	PCRE2_SIZE	 off;
	uint32_t	 opts;
	int		 ec;

	opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE |
	    PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C;
	if (caseless)
		opts |= PCRE2_CASELESS;
	re = pcre2_compile((PCRE2_SPTR)pat, len, opts, &ec, &off, NULL);
	if (re == NULL) {
		if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
			str_lcpy((char *)msg, "unknown error", sizeof(msg));
		(void)str_printf(err, esz, "bad pattern: %s at offset %zu",
		    (char *)msg, (size_t)off);
		return NULL;
	}
	/* Without JIT (unsupported CPU) the interpreter runs, limited too. */
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	return re;
}

/* policy_kw_line: one line of a keyword list: comment, directive or pattern. */
static void
policy_kw_line(struct policy_ld *ld, struct policy_kwlist *kw, unsigned line,
    const char *s, size_t len, bool *caseless)
{
	char	 buf[POLICY_KW_MAX_LINE + 1], err[512], *t;
	size_t	 i;

	if (len > POLICY_KW_MAX_LINE) {
		policy_err(ld, kw->file, line, "line too long (%zu bytes, at "
		    "most %d)", len, POLICY_KW_MAX_LINE);
		return;
	}
	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] < ' ' && s[i] != '\t') ||
		    s[i] == 0x7f) {
			policy_err(ld, kw->file, line, "control character "
			    "0x%02x in line", (unsigned char)s[i]);
			return;
		}
	if (!ini_utf8_valid(s, len)) {
		policy_err(ld, kw->file, line, "invalid UTF-8");
		return;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	t = str_trim(buf);
	if (strcasecmp(t, "#!caseless") == 0) {
		*caseless = true;
		return;
	}
	if (strcasecmp(t, "#!case-sensitive") == 0) {
		*caseless = false;
		return;
	}
	if (strncmp(t, "#!", 2) == 0) {
		policy_err(ld, kw->file, line, "unknown directive \"%s\" "
		    "(#!caseless or #!case-sensitive)", t);
		return;
	}
	if (*t == '\0' || *t == '#')
		return;
	if (kw->npats >= POLICY_KW_MAX_PATS) {
		policy_err(ld, kw->file, line, "too many patterns (at most "
		    "%d)", POLICY_KW_MAX_PATS);
		return;
	}
	kw->pats = xreallocarray(kw->pats, kw->npats + 1, sizeof(*kw->pats));
	if ((kw->pats[kw->npats].re = policy_compile(t, strlen(t), *caseless,
	    err, sizeof(err))) == NULL) {
		policy_err(ld, kw->file, line, "%s", err);
		return;
	}
	kw->pats[kw->npats].file = kw->file;
	kw->pats[kw->npats].line = line;
	kw->npats++;
}

/* policy_kw_parse: every line of a keyword list's bytes. */
static void
policy_kw_parse(struct policy_ld *ld, struct policy_kwlist *kw,
    const char *s, size_t len)
{
	const char *end = s + len, *nl, *e;
	unsigned line = 0;
	bool	 caseless = false;
	size_t	 errs = ld->nerrors;

	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (s < end) {
		line++;
		nl = memchr(s, '\n', (size_t)(end - s));
		e = nl != NULL ? nl : end;
		if (e > s && e[-1] == '\r')
			e--;
		policy_kw_line(ld, kw, line, s, (size_t)(e - s), &caseless);
		s = nl != NULL ? nl + 1 : end;
	}
	if (ld->nerrors == errs && kw->npats == 0)
		policy_warn(ld, kw->file, 0, "no patterns: conditions using "
		    "this list never match");
}

/* policy_kw_read: a keyword list file into b; errors name the rule's line. */
static int
policy_kw_read(struct policy_ld *ld, const char *path, unsigned line,
    struct buf *b)
{
	struct stat	 st;
	char		 chunk[65536];
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
	    O_NOCTTY)) == -1) {
		policy_err(ld, ld->file, line, "keyword list %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		policy_err(ld, ld->file, line, "keyword list %s: not a "
		    "regular file", path);
		close(fd);
		return -1;
	}
	for (;;) {
		if ((n = read(fd, chunk, sizeof(chunk))) == -1) {
			if (errno == EINTR)
				continue;
			policy_err(ld, ld->file, line, "keyword list %s: %s",
			    path, strerror(errno));
			break;
		}
		if (n == 0) {
			close(fd);
			return 0;
		}
		if (!buf_add(b, chunk, (size_t)n)) {
			policy_err(ld, path, 0, "file too large (at most %d "
			    "bytes)", POLICY_KW_MAX_FILE);
			break;
		}
	}
	close(fd);
	return -1;
}

/*
 * policy_kw_get: the keyword list NAME, loaded on first use (in memory
 * first, then kwdir/NAME.txt); NULL if it could not be loaded.
 */
static struct policy_kwlist *
policy_kw_get(struct policy_ld *ld, const char *name, unsigned line)
{
	struct policy	*p = ld->p;
	struct policy_kwlist *kw;
	struct buf	 b;
	size_t		 i;

	for (i = 0; i < p->nlists; i++)
		if (strcmp(p->lists[i].name, name) == 0)
			return p->lists[i].bad ? NULL : &p->lists[i];
	p->lists = xreallocarray(p->lists, p->nlists + 1, sizeof(*p->lists));
	kw = &p->lists[p->nlists++];
	memset(kw, 0, sizeof(*kw));
	kw->name = xstrdup(name);
	for (i = 0; ld->src != NULL && i < ld->src->nkwfiles; i++)
		if (strcmp(ld->src->kwfiles[i].name, name) == 0)
			break;
	if (ld->src != NULL && i < ld->src->nkwfiles) {
		kw->file = xasprintf("keywords/%s.txt", name);
		if (ld->src->kwfiles[i].len > POLICY_KW_MAX_FILE) {
			policy_err(ld, kw->file, 0, "file too large (at most "
			    "%d bytes)", POLICY_KW_MAX_FILE);
			kw->bad = true;
		} else
			policy_kw_parse(ld, kw, ld->src->kwfiles[i].data,
			    ld->src->kwfiles[i].len);
	} else if (ld->src == NULL || ld->src->kwdir == NULL) {
		kw->file = xasprintf("keywords/%s.txt", name);
		policy_err(ld, ld->file, line, "keyword list \"%s\": no "
		    "keyword directory", name);
		kw->bad = true;
	} else {
		kw->file = xasprintf("%s/%s.txt", ld->src->kwdir, name);
		buf_init(&b, POLICY_KW_MAX_FILE);
		if (policy_kw_read(ld, kw->file, line, &b) == -1)
			kw->bad = true;
		else
			policy_kw_parse(ld, kw, (const char *)b.data, b.len);
		buf_free(&b);
	}
	return kw->bad ? NULL : kw;
}

/* ---- rule keys ---- */

/* policy_addrpat_valid: "*", "<>", "@domain", ".domain", an address, a glob. */
static bool
policy_addrpat_valid(const char *s)
{
	if (strcmp(s, "*") == 0 || strcmp(s, "<>") == 0)
		return true;
	if (s[0] == '@' || s[0] == '.')
		return s[1] != '\0' && strchr(s + 1, '@') == NULL &&
		    strchr(s, '*') == NULL;
	return strchr(s, '@') != NULL || strchr(s, '*') != NULL;
}

/* policy_set_addrs: senders, recipients and their exceptions. */
static int
policy_set_addrs(struct policy_ld *ld, struct policy_addrs *a,
    const struct ini_entry *e)
{
	char	**v;
	size_t	 i, n;

	if ((v = policy_list_split(e->value, 10000, &n)) == NULL) {
		policy_err(ld, ld->file, e->line, "%s: empty item in the "
		    "list", e->key);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (!policy_addrpat_valid(v[i])) {
			policy_err(ld, ld->file, e->line, "%s: \"%s\" is not an "
			    "address pattern (*, <>, user@example.com, "
			    "@example.com, .example.com, *@*.example.com)",
			    e->key, v[i]);
			policy_strv_free(v, n);
			return -1;
		}
	/* A repeated key ([spam_senders] approved.2) adds to the list. */
	a->v = xreallocarray(a->v, a->n + n + 1, sizeof(*a->v));
	memcpy(a->v + a->n, v, n * sizeof(*v));
	a->n += n;
	a->set = true;
	free(v);
	return 0;
}

/*
 * policy_textspec: "keywords: NAME, NAME" or "pattern: PCRE2" into the
 * condition's pattern list.
 */
static int
policy_textspec(struct policy_ld *ld, struct policy_cond *c, const char *v)
{
	struct policy_kwlist *kw;
	char	 err[512], **names;
	size_t	 n, i, j;
	int	 rc = 0;

	c->text = true;
	if (strncasecmp(v, "pattern:", 8) == 0) {
		v += 8;
		v += strspn(v, " \t");
		if (*v == '\0') {
			policy_err(ld, ld->file, c->line, "%s: empty pattern",
			    c->key);
			return -1;
		}
		c->own = xcalloc(1, sizeof(*c->own));
		if ((c->own->re = policy_compile(v, strlen(v), false, err,
		    sizeof(err))) == NULL) {
			policy_err(ld, ld->file, c->line, "%s: %s", c->key,
			    err);
			return -1;
		}
		c->own->file = ld->p->file;
		c->own->line = c->line;
		c->pats = xcalloc(1, sizeof(*c->pats));
		c->pats[c->npats++] = c->own;
		return 0;
	}
	if (strncasecmp(v, "keywords:", 9) != 0) {
		policy_err(ld, ld->file, c->line, "%s: expected \"keywords: "
		    "NAME[, NAME...]\" or \"pattern: REGEX\"", c->key);
		return -1;
	}
	if ((names = policy_list_split(v + 9, 100, &n)) == NULL) {
		policy_err(ld, ld->file, c->line, "%s: empty keyword list "
		    "name", c->key);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!policy_name_valid(names[i], false)) {
			policy_err(ld, ld->file, c->line, "%s: bad keyword "
			    "list name \"%s\" (letters, digits, \"_\", \"-\"; "
			    "the file is keywords/NAME.txt)", c->key,
			    names[i]);
			rc = -1;
			continue;
		}
		if ((kw = policy_kw_get(ld, names[i], c->line)) == NULL) {
			rc = -1;
			continue;
		}
		c->pats = xreallocarray(c->pats, c->npats + kw->npats + 1,
		    sizeof(*c->pats));
		for (j = 0; j < kw->npats; j++)
			c->pats[c->npats++] = &kw->pats[j];
	}
	policy_strv_free(names, n);
	return rc;
}

/* policy_cond_header: "NAME" or "NAME keywords: ..." / "NAME pattern: ...". */
static int
policy_cond_header(struct policy_ld *ld, struct policy_cond *c, const char *v)
{
	size_t	 n = 0;

	while (v[n] > ' ' && v[n] < 0x7f && v[n] != ':')
		n++;
	if (n == 0 || (v[n] != '\0' && v[n] != ' ' && v[n] != '\t')) {
		policy_err(ld, ld->file, c->line, "%s: expected a header "
		    "name, then optionally \"keywords: ...\" or \"pattern: "
		    "...\"", c->key);
		return -1;
	}
	c->hname = xstrndup(v, n);
	v += n;
	v += strspn(v, " \t");
	if (*v == '\0')
		return 0;
	return policy_textspec(ld, c, v);
}

/* policy_cond_globs: attachment_name and attachment_true_type lists. */
static int
policy_cond_globs(struct policy_ld *ld, struct policy_cond *c, const char *v)
{
	if ((c->globs = policy_list_split(v, POLICY_GLOBS_MAX,
	    &c->nglobs)) == NULL) {
		policy_err(ld, ld->file, c->line, "%s: expected a list of "
		    "patterns (e.g. *.exe, *.scr), at most %d, none empty",
		    c->key, POLICY_GLOBS_MAX);
		return -1;
	}
	return 0;
}

/* policy_cond_limits: scan_limits = any | depth, count, size, ... */
static int
policy_cond_limits(struct policy_ld *ld, struct policy_cond *c, const char *v)
{
	static const struct { const char *w; unsigned bit; } words[] = {
		{ "any", ~0U }, { "depth", SCAN_LIMIT_DEPTH },
		{ "count", SCAN_LIMIT_COUNT }, { "size", SCAN_LIMIT_SIZE },
		{ "ratio", SCAN_LIMIT_RATIO },
		{ "encrypted", SCAN_LIMIT_ENCRYPTED },
		{ "malformed", SCAN_LIMIT_MALFORMED },
		{ "time", SCAN_LIMIT_TIME },
	};
	char	**w;
	size_t	 n, i, j;
	int	 rc = 0;

	if ((w = policy_list_split(v, 16, &n)) == NULL) {
		policy_err(ld, ld->file, c->line, "%s: expected any, or a list "
		    "of depth, count, size, ratio, encrypted, malformed, time",
		    c->key);
		return -1;
	}
	for (i = 0; i < n; i++) {
		for (j = 0; j < nitems(words); j++)
			if (strcasecmp(w[i], words[j].w) == 0)
				break;
		if (j == nitems(words)) {
			policy_err(ld, ld->file, c->line, "%s: unknown limit "
			    "\"%s\" (any, depth, count, size, ratio, "
			    "encrypted, malformed, time)", c->key, w[i]);
			rc = -1;
		} else
			c->mask |= words[j].bit;
	}
	policy_strv_free(w, n);
	return rc;
}

/*
 * policy_cond_spam: "high", "medium" or "low" (the catch rates of
 * [antispam], SCAN_SPAM_*), or a score: spam at or above it.
 */
static int
policy_cond_spam(struct policy_ld *ld, struct policy_cond *c, const char *v)
{
	static const struct {
		const char	*word;
		unsigned	 bit;
	} levels[] = {
		{ "high", SCAN_SPAM_HIGH },
		{ "medium", SCAN_SPAM_MEDIUM },
		{ "low", SCAN_SPAM_LOW },
	};
	char	*end;
	size_t	 i;

	for (i = 0; i < nitems(levels); i++)
		if (strcasecmp(v, levels[i].word) == 0) {
			c->mask = levels[i].bit;
			return 0;
		}
	errno = 0;
	c->min_score = strtod(v, &end);
	if (*v != '\0' && end != v && *end == '\0' && errno == 0 &&
	    c->min_score >= 0.1 && c->min_score <= 1000)
		return 0;
	policy_err(ld, ld->file, c->line, "%s: expected high, medium or low "
	    "(the catch rates of [antispam]), or a score from 0.1 to 1000",
	    c->key);
	return -1;
}

/*
 * policy_cond_auth: the results of a sender authentication condition
 * that match (spf, dkim, dmarc: RFC 8601 words; dmarc_policy: the
 * published policy), comma-separated.
 */
static int
policy_cond_auth(struct policy_ld *ld, struct policy_cond *c, const char *v)
{
	static const char *const results[] = { "pass", "fail", "softfail",
	    "neutral", "none", "temperror", "permerror", NULL };
	static const char *const policies[] = { "reject", "quarantine",
	    "none", NULL };
	const char *const *ok = c->kind == PC_DMARC_POLICY ? policies :
	    results;
	size_t	 i, j;

	if ((c->globs = policy_list_split(v, 16, &c->nglobs)) == NULL)
		goto bad;
	for (i = 0; i < c->nglobs; i++) {
		for (j = 0; ok[j] != NULL && strcasecmp(c->globs[i], ok[j]) != 0;
		    j++)
			;
		if (ok[j] == NULL)
			goto bad;
	}
	return 0;
bad:
	policy_err(ld, ld->file, c->line, "%s: expected %s (comma-separated)",
	    c->key, c->kind == PC_DMARC_POLICY ? "reject, quarantine or none" :
	    c->kind == PC_SPF ? "pass, fail, softfail, neutral, none, "
	    "temperror or permerror" : "pass, fail, neutral, none, temperror "
	    "or permerror");
	return -1;
}

/* policy_cond_value: parse the value of condition c by its kind. */
static int
policy_cond_value(struct policy_ld *ld, struct policy_cond *c, const char *v)
{
	const char *what;

	switch (c->kind) {
	case PC_SUBJECT:
	case PC_BODY:
	case PC_HEADERS:
	case PC_ATT_TEXT:
	case PC_CONTENT:
		return policy_textspec(ld, c, v);
	case PC_HEADER:
		return policy_cond_header(ld, c, v);
	case PC_ATT_NAME:
	case PC_ATT_TYPE:
		return policy_cond_globs(ld, c, v);
	case PC_ATT_SIZE:
	case PC_MSG_SIZE:
		if (policy_cmp_parse(v, true, &c->cmp, &c->num))
			return 0;
		what = "\"> 10M\" (>, >=, <, <=, =; K, M, G)";
		break;
	case PC_ATT_COUNT:
		if (policy_cmp_parse(v, false, &c->cmp, &c->num))
			return 0;
		what = "\"> 5\" (>, >=, <, <=, =)";
		break;
	case PC_RCPT_COUNT:
		if (strncasecmp(v, "header", 6) == 0)
			v += 6;
		else if (strncasecmp(v, "envelope", 8) == 0) {
			v += 8;
			c->envelope = true;
		} else
			v = "";
		v += strspn(v, " \t");
		if (policy_cmp_parse(v, false, &c->cmp, &c->num))
			return 0;
		what = "\"header > 10\" or \"envelope > 10\" (To/Cc "
		    "addresses or envelope recipients)";
		break;
	case PC_EMPTY_SUBJECT:
		if (policy_bool(v) == 1)
			return 0;
		what = "yes (to test for a subject, remove the key)";
		break;
	case PC_SCAN_LIMITS:
		return policy_cond_limits(ld, c, v);
	case PC_SPAM:
		return policy_cond_spam(ld, c, v);
	case PC_SPF:
	case PC_DKIM:
	case PC_DMARC:
	case PC_DMARC_POLICY:
		return policy_cond_auth(ld, c, v);
	case PC_VIRUS:
		/* yes: any finding; otherwise globs on the signature name. */
		if (policy_bool(v) == 1)
			return 0;
		if (policy_bool(v) != 0)
			return policy_cond_globs(ld, c, v);
		what = "yes, or signature names (globs, e.g. Win.Trojan.*); "
		    "for clean mail remove the key";
		break;
	default:
		fatalx("policy_cond_value: condition kind %d", (int)c->kind);
	}
	policy_err(ld, ld->file, c->line, "%s: expected %s", c->key, what);
	return -1;
}

/* The condition keys; any of them may be repeated as KEY.LABEL. */
static const struct {
	const char		*name;
	enum policy_ckind	 kind;
	bool			 per_part;
} policy_ckeys[] = {
	{ "subject",		 PC_SUBJECT,	 false },
	{ "body",		 PC_BODY,	 false },
	{ "headers",		 PC_HEADERS,	 false },
	{ "attachment_text",	 PC_ATT_TEXT,	 true },
	{ "content",		 PC_CONTENT,	 false },
	{ "header",		 PC_HEADER,	 false },
	{ "attachment_name",	 PC_ATT_NAME,	 true },
	{ "attachment_true_type", PC_ATT_TYPE,	 true },
	{ "attachment_size",	 PC_ATT_SIZE,	 true },
	{ "attachment_count",	 PC_ATT_COUNT,	 false },
	{ "recipient_count",	 PC_RCPT_COUNT,	 false },
	{ "empty_subject",	 PC_EMPTY_SUBJECT, false },
	{ "message_size",	 PC_MSG_SIZE,	 false },
	{ "scan_limits",	 PC_SCAN_LIMITS, false },
	{ "virus",		 PC_VIRUS,	 false },
	{ "spam",		 PC_SPAM,	 false },
	{ "spf",		 PC_SPF,	 false },
	{ "dkim",		 PC_DKIM,	 false },
	{ "dmarc",		 PC_DMARC,	 false },
	{ "dmarc_policy",	 PC_DMARC_POLICY, false },
};

/* policy_add_cond: a condition key (base name already looked up). */
static int
policy_add_cond(struct policy_ld *ld, struct policy_rule *r, size_t ck,
    const struct ini_entry *e)
{
	struct policy_cond *c;

	r->conds = xreallocarray(r->conds, r->nconds + 1, sizeof(*r->conds));
	c = &r->conds[r->nconds++];
	memset(c, 0, sizeof(*c));
	c->kind = policy_ckeys[ck].kind;
	c->per_part = policy_ckeys[ck].per_part;
	c->key = xstrdup(e->key);
	c->line = e->line;
	return policy_cond_value(ld, c, e->value);
}

/* policy_add_act: one modification or notification of a rule. */
static void
policy_add_act(struct policy_rule *r, enum policy_action_kind kind,
    const char *arg, bool template)
{
	r->acts = xreallocarray(r->acts, r->nacts + 1, sizeof(*r->acts));
	r->acts[r->nacts].kind = kind;
	r->acts[r->nacts].arg = arg != NULL ? xstrdup(arg) : NULL;
	r->acts[r->nacts].template = template;
	r->nacts++;
}

/* policy_addr_valid: an address for bcc and change_recipient. */
static bool
policy_addr_valid(const char *s)
{
	struct addr_opts o = ADDR_OPTS_INIT;
	struct addr a;

	o.check_dots = false;
	o.smtputf8 = true;
	return addr_parse(&a, s, strlen(s), ADDR_BARE, &o) == ADDR_OK &&
	    a.domain[0] != '\0';
}

/* policy_set_intercept: deliver, delete, quarantine AREA, change_recipient. */
static int
policy_set_intercept(struct policy_ld *ld, struct policy_rule *r,
    const struct ini_entry *e)
{
	const char *v = e->value, *arg;
	size_t	 n = strcspn(v, " \t");

	arg = v + n + strspn(v + n, " \t");
	if (n == 7 && strncasecmp(v, "deliver", n) == 0 && *arg == '\0')
		r->intercept = POLICY_DELIVER;
	else if (n == 6 && strncasecmp(v, "delete", n) == 0 && *arg == '\0')
		r->intercept = POLICY_DELETE;
	else if (n == 10 && strncasecmp(v, "quarantine", n) == 0) {
		if (!policy_name_valid(arg, false)) {
			policy_err(ld, ld->file, e->line, "intercept: "
			    "quarantine needs an area name (letters, digits, "
			    "\"_\", \"-\"; at most %d)", POLICY_NAME_MAX);
			return -1;
		}
		r->intercept = POLICY_QUARANTINE;
	} else if (n == 16 && strncasecmp(v, "change_recipient", n) == 0) {
		if (!policy_addr_valid(arg)) {
			policy_err(ld, ld->file, e->line, "intercept: "
			    "change_recipient needs an address, not \"%s\"",
			    arg);
			return -1;
		}
		r->intercept = POLICY_CHANGE_RCPT;
	} else {
		policy_err(ld, ld->file, e->line, "intercept: expected deliver, "
		    "delete, quarantine AREA or change_recipient ADDRESS");
		return -1;
	}
	if (r->intercept == POLICY_QUARANTINE ||
	    r->intercept == POLICY_CHANGE_RCPT)
		r->intercept_arg = xstrdup(arg);
	return 0;
}

/* policy_set_stamp: "TEXT" or "template:NAME". */
static int
policy_set_stamp(struct policy_ld *ld, struct policy_rule *r,
    const struct ini_entry *e, enum policy_action_kind kind)
{
	const char *v = e->value;

	if (strncasecmp(v, "template:", 9) == 0) {
		v += 9;
		v += strspn(v, " \t");
		if (!policy_name_valid(v, true)) {
			policy_err(ld, ld->file, e->line, "%s: bad template "
			    "name \"%s\"", e->key, v);
			return -1;
		}
		policy_add_act(r, kind, v, true);
		return 0;
	}
	if (*v == '\0' || strlen(v) > POLICY_STAMP_MAX) {
		policy_err(ld, ld->file, e->line, "%s: expected text (at most "
		    "%d bytes) or template:NAME", e->key, POLICY_STAMP_MAX);
		return -1;
	}
	policy_add_act(r, kind, v, false);
	return 0;
}

/* policy_set_bool: a bool key into *b. */
static int
policy_set_bool(struct policy_ld *ld, const struct ini_entry *e, bool *b)
{
	int	 v = policy_bool(e->value);

	if (v == -1) {
		policy_err(ld, ld->file, e->line, "%s: expected yes or no",
		    e->key);
		return -1;
	}
	*b = v == 1;
	return 0;
}

/* policy_set_scope: enabled, order, direction, match, final, archives. */
static int
policy_set_scope(struct policy_ld *ld, struct policy_rule *r,
    const struct ini_entry *e)
{
	const char *k = e->key, *v = e->value;

	if (strcasecmp(k, "enabled") == 0)
		return policy_set_bool(ld, e, &r->enabled);
	if (strcasecmp(k, "final") == 0)
		return policy_set_bool(ld, e, &r->final);
	if (strcasecmp(k, "order") == 0) {
		if (!str_to_ll(v, 1, POLICY_ORDER_MAX, &r->order)) {
			policy_err(ld, ld->file, e->line, "order: expected "
			    "1..%d", POLICY_ORDER_MAX);
			return -1;
		}
		r->order_line = e->line;
		return 0;
	}
	if (strcasecmp(k, "direction") == 0) {
		if (strcasecmp(v, "inbound") == 0)
			r->dirs = POLICY_INBOUND;
		else if (strcasecmp(v, "outbound") == 0)
			r->dirs = POLICY_OUTBOUND;
		else if (strcasecmp(v, "both") == 0)
			r->dirs = POLICY_INBOUND | POLICY_OUTBOUND;
		else {
			policy_err(ld, ld->file, e->line, "direction: expected "
			    "inbound, outbound or both");
			return -1;
		}
		return 0;
	}
	if (strcasecmp(k, "match") == 0) {
		if (strcasecmp(v, "any") != 0 && strcasecmp(v, "all") != 0) {
			policy_err(ld, ld->file, e->line, "match: expected any "
			    "or all");
			return -1;
		}
		r->all = strcasecmp(v, "all") == 0;
		return 0;
	}
	/* attachment_in_archive */
	if (strcasecmp(v, "include") == 0)
		r->archives = POLICY_ARCH_INCLUDE;
	else if (strcasecmp(v, "exclude") == 0)
		r->archives = POLICY_ARCH_EXCLUDE;
	else if (strcasecmp(v, "only") == 0)
		r->archives = POLICY_ARCH_ONLY;
	else {
		policy_err(ld, ld->file, e->line, "%s: expected include, "
		    "exclude or only", k);
		return -1;
	}
	return 0;
}

/* policy_set_named: a template name (notify_sender, _recipients, _admin). */
static int
policy_set_named(struct policy_ld *ld, struct policy_rule *r,
    const struct ini_entry *e, enum policy_action_kind kind)
{
	if (!policy_name_valid(e->value, true)) {
		policy_err(ld, ld->file, e->line, "%s: expected a template name "
		    "(letters, digits, \"_\", \".\", \"-\"; at most %d)",
		    e->key, POLICY_NAME_MAX);
		return -1;
	}
	policy_add_act(r, kind, e->value, false);
	return 0;
}

/* policy_set_action: the modify and notify keys. */
static int
policy_set_action(struct policy_ld *ld, struct policy_rule *r,
    const struct ini_entry *e)
{
	const char *k = e->key, *v = e->value;
	char	**list;
	size_t	 n, i;
	bool	 b;

	if (strcasecmp(k, "tag_subject") == 0) {
		if (*v == '\0' || strlen(v) > POLICY_TAG_MAX) {
			policy_err(ld, ld->file, e->line, "tag_subject: expected "
			    "text of 1..%d bytes", POLICY_TAG_MAX);
			return -1;
		}
		policy_add_act(r, POLICY_A_TAG_SUBJECT, v, false);
	} else if (strcasecmp(k, "stamp_top") == 0)
		return policy_set_stamp(ld, r, e, POLICY_A_STAMP_TOP);
	else if (strcasecmp(k, "stamp_bottom") == 0)
		return policy_set_stamp(ld, r, e, POLICY_A_STAMP_BOTTOM);
	else if (strcasecmp(k, "strip_attachments") == 0) {
		if (policy_set_bool(ld, e, &b) == -1 || !b)
			return 0;
		r->has_strip = true;
		r->strip_line = e->line;
		policy_add_act(r, POLICY_A_STRIP, NULL, false);
	} else if (strcasecmp(k, "archive") == 0) {
		if (policy_set_bool(ld, e, &b) == -1 || !b)
			return 0;
		policy_add_act(r, POLICY_A_ARCHIVE, NULL, false);
	} else if (strcasecmp(k, "bcc") == 0) {
		if ((list = policy_list_split(v, 100, &n)) == NULL) {
			policy_err(ld, ld->file, e->line, "bcc: expected "
			    "addresses separated by commas");
			return -1;
		}
		for (i = 0; i < n; i++) {
			if (!policy_addr_valid(list[i]))
				policy_err(ld, ld->file, e->line, "bcc: \"%s\" "
				    "is not an address", list[i]);
			else
				policy_add_act(r, POLICY_A_BCC, list[i], false);
		}
		policy_strv_free(list, n);
	} else if (strcasecmp(k, "notify_sender") == 0)
		return policy_set_named(ld, r, e, POLICY_A_NOTIFY_SENDER);
	else if (strcasecmp(k, "notify_recipients") == 0)
		return policy_set_named(ld, r, e, POLICY_A_NOTIFY_RCPTS);
	else
		return policy_set_named(ld, r, e, POLICY_A_NOTIFY_ADMIN);
	return 0;
}

/* The other rule keys, by kind of handler. */
static const char *const policy_scope_keys[] = {
	"enabled", "order", "direction", "match", "final",
	"attachment_in_archive",
};
static const char *const policy_action_keys[] = {
	"tag_subject", "stamp_top", "stamp_bottom", "strip_attachments",
	"bcc", "archive", "notify_sender", "notify_recipients", "notify_admin",
};

/* policy_in: s is one of the n words (ASCII case-insensitive). */
static bool
policy_in(const char *s, const char *const *w, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (strcasecmp(s, w[i]) == 0)
			return true;
	return false;
}

/* policy_cond_key: the condition table index for "KEY" or "KEY.LABEL". */
static int
policy_cond_key(const char *key)
{
	size_t	 n = strcspn(key, "."), i;
	const char *label = key + n;

	if (*label == '.' && (label[1] == '\0' || strspn(label + 1,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_-") != strlen(label + 1)))
		return -1;
	for (i = 0; i < nitems(policy_ckeys); i++)
		if (strlen(policy_ckeys[i].name) == n &&
		    strncasecmp(key, policy_ckeys[i].name, n) == 0)
			return (int)i;
	return -1;
}

/*
 * policy_exempt_key: one "key = value" of a [spam_exemption] section:
 * enabled, match, the sender scope and message conditions; a matching
 * message is not scored for spam (seed 12).
 */
static void
policy_exempt_key(struct policy_ld *ld, struct policy_rule *r,
    const struct ini_entry *e)
{
	const char *k = e->key;
	int	 ck;

	if (strcasecmp(k, "enabled") == 0 || strcasecmp(k, "match") == 0)
		(void)policy_set_scope(ld, r, e);
	else if (strcasecmp(k, "senders") == 0)
		(void)policy_set_addrs(ld, &r->senders, e);
	else if (strcasecmp(k, "except_senders") == 0)
		(void)policy_set_addrs(ld, &r->except_senders, e);
	else if ((ck = policy_cond_key(k)) >= 0 &&
	    policy_ckeys[ck].kind != PC_SPAM)
		(void)policy_add_cond(ld, r, (size_t)ck, e);
	else
		policy_err(ld, ld->file, e->line, "\"%s\" cannot be used in "
		    "spam exemption \"%s\" (enabled, match, senders, "
		    "except_senders and the message conditions can; see "
		    "docs/antispam.md)", k, r->name);
}

/* policy_rule_key: one "key = value" of a rule section. */
static void
policy_rule_key(struct policy_ld *ld, struct policy_rule *r,
    const struct ini_entry *e)
{
	const char *k = e->key;
	int	 ck;

	if (r->exempt) {
		policy_exempt_key(ld, r, e);
		return;
	}
	if (policy_in(k, policy_scope_keys, nitems(policy_scope_keys)))
		(void)policy_set_scope(ld, r, e);
	else if (strcasecmp(k, "senders") == 0)
		(void)policy_set_addrs(ld, &r->senders, e);
	else if (strcasecmp(k, "except_senders") == 0)
		(void)policy_set_addrs(ld, &r->except_senders, e);
	else if (strcasecmp(k, "recipients") == 0)
		(void)policy_set_addrs(ld, &r->rcpts, e);
	else if (strcasecmp(k, "except_recipients") == 0)
		(void)policy_set_addrs(ld, &r->except_rcpts, e);
	else if (strcasecmp(k, "intercept") == 0)
		(void)policy_set_intercept(ld, r, e);
	else if (policy_in(k, policy_action_keys, nitems(policy_action_keys)))
		(void)policy_set_action(ld, r, e);
	else if ((ck = policy_cond_key(k)) >= 0)
		(void)policy_add_cond(ld, r, (size_t)ck, e);
	else
		policy_err(ld, ld->file, e->line, "unknown key \"%s\" in rule "
		    "\"%s\" (see docs/policy.md)", k, r->name);
}

/*
 * policy_rule_header: the name of a [rule "NAME"] section into a new
 * rule; false (reported) when the header is not of that form.
 */
static bool
policy_rule_header(struct policy_ld *ld, const struct ini_section *s,
    size_t pos, bool exempt)
{
	const char *prefix = exempt ? POLICY_EXEMPT_PREFIX :
	    POLICY_RULE_PREFIX;
	const char *name = s->name + strlen(prefix), *close;
	struct policy_rule *r;
	struct policy *p = ld->p;

	name += strspn(name, " \t");
	close = strrchr(name, '"');
	if (name == s->name + strlen(prefix) || *name != '"' ||
	    close == name || close[1] != '\0' || close == name + 1 ||
	    memchr(name + 1, '"', (size_t)(close - name - 1)) != NULL) {
		policy_err(ld, ld->file, s->line, "bad %s header [%s]: "
		    "write [%s \"NAME\"] (any UTF-8 name without quotes)",
		    prefix, s->name, prefix);
		return false;
	}
	if (exempt) {
		p->exempts = xreallocarray(p->exempts, p->nexempts + 1,
		    sizeof(*p->exempts));
		r = &p->exempts[p->nexempts++];
	} else {
		p->rules = xreallocarray(p->rules, p->nrules + 1,
		    sizeof(*p->rules));
		r = &p->rules[p->nrules++];
	}
	memset(r, 0, sizeof(*r));
	r->exempt = exempt;
	r->name = xstrndup(name + 1, (size_t)(close - name - 1));
	r->line = s->line;
	r->filepos = pos;
	r->enabled = true;
	r->dirs = POLICY_INBOUND | POLICY_OUTBOUND;
	return true;
}

/* policy_rule_check: what only the whole rule can tell. */
static void
policy_rule_check(struct policy_ld *ld, const struct policy_rule *r)
{
	size_t	 i;
	bool	 parts = false;

	for (i = 0; i < r->nconds; i++)
		if (r->conds[i].per_part ||
		    r->conds[i].kind == PC_SCAN_LIMITS)
			parts = true;
	if (r->has_strip && !parts)
		policy_warn(ld, ld->file, r->strip_line, "strip_attachments: "
		    "rule \"%s\" has no attachment condition, so no "
		    "attachment is ever stripped", r->name);
}

/* policy_rule_cmp: evaluation order: order, then position in the file. */
static int
policy_rule_cmp(const void *a, const void *b)
{
	const struct policy_rule *x = a, *y = b;

	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return x->filepos < y->filepos ? -1 : x->filepos > y->filepos;
}

/* policy_order: all rules or none have "order"; no two share one. */
static void
policy_order(struct policy_ld *ld)
{
	struct policy *p = ld->p;
	size_t	 i, with = 0;

	for (i = 0; i < p->nrules; i++)
		if (p->rules[i].order != 0)
			with++;
	if (with != 0 && with != p->nrules) {
		for (i = 0; i < p->nrules; i++)
			if (p->rules[i].order == 0)
				policy_err(ld, ld->file, p->rules[i].line,
				    "rule \"%s\" has no order (set order on "
				    "every rule, or on none to use the file "
				    "order)", p->rules[i].name);
		return;
	}
	if (p->nrules > 1)
		qsort(p->rules, p->nrules, sizeof(*p->rules),
		    policy_rule_cmp);
	for (i = 1; with != 0 && i < p->nrules; i++)
		if (p->rules[i].order == p->rules[i - 1].order)
			policy_err(ld, ld->file, p->rules[i].order_line,
			    "order %lld is also the order of rule \"%s\"",
			    p->rules[i].order, p->rules[i - 1].name);
}

/*
 * policy_senders_key: [spam_senders] approved = PATTERNS or blocked =
 * PATTERNS (each may be repeated as KEY.LABEL to split a long list).
 */
static void
policy_senders_key(struct policy_ld *ld, const struct ini_entry *e)
{
	size_t	 n = strcspn(e->key, ".");

	if (n == 8 && strncasecmp(e->key, "approved", n) == 0)
		(void)policy_set_addrs(ld, &ld->p->approved, e);
	else if (n == 7 && strncasecmp(e->key, "blocked", n) == 0)
		(void)policy_set_addrs(ld, &ld->p->blocked, e);
	else
		policy_err(ld, ld->file, e->line, "unknown key \"%s\" in "
		    "[%s] (approved, blocked; see docs/antispam.md)", e->key,
		    POLICY_SENDERS_SECTION);
}

/*
 * policy_section_kind: 1 a rule, 2 a spam exemption, 3 [spam_senders],
 * 0 conf.c's.
 */
static int
policy_section_kind(const char *name)
{
	if (strcasecmp(name, POLICY_SENDERS_SECTION) == 0)
		return 3;
	if (strncasecmp(name, POLICY_RULE_PREFIX,
	    strlen(POLICY_RULE_PREFIX)) == 0)
		return 1;
	if (strncasecmp(name, POLICY_EXEMPT_PREFIX,
	    strlen(POLICY_EXEMPT_PREFIX)) == 0)
		return 2;
	return 0;
}

/* policy_parse: every rule and exemption section of the parsed file. */
static void
policy_parse(struct policy_ld *ld, const struct ini *ini)
{
	struct policy	*p = ld->p;
	size_t		*map, i, m;
	int		*kind;

	map = xcalloc(ini->nsections + 1, sizeof(*map));
	kind = xcalloc(ini->nsections + 1, sizeof(*kind));
	for (i = 0; i < ini->nsections; i++) {
		map[i] = SIZE_MAX;
		/* [scan], [antispam] and others are conf.c's. */
		if ((kind[i] = policy_section_kind(ini->sections[i].name)) ==
		    0 || (kind[i] != 3 && !policy_rule_header(ld,
		    &ini->sections[i], i, kind[i] == 2)))
			continue;
		map[i] = kind[i] == 3 ? 0 : kind[i] == 2 ? p->nexempts - 1 :
		    p->nrules - 1;
	}
	for (i = 0; i < ini->nentries; i++) {
		m = map[ini->entries[i].section];
		if (m == SIZE_MAX)
			continue;
		if (kind[ini->entries[i].section] == 3)
			policy_senders_key(ld, &ini->entries[i]);
		else
			policy_rule_key(ld, kind[ini->entries[i].section] ==
			    2 ? &p->exempts[m] : &p->rules[m],
			    &ini->entries[i]);
	}
	free(map);
	free(kind);
	for (i = 0; i < ld->p->nrules; i++)
		policy_rule_check(ld, &ld->p->rules[i]);
	policy_order(ld);
}

/*
 * policy_dup_rules: a rule header written twice is an error.  The INI
 * reader continues a repeated section, which would silently merge two
 * rules that happen to share a name; it keeps only the first header line,
 * so look at the raw lines.
 */
static void
policy_dup_rules(struct policy_ld *ld, const char *s, size_t len)
{
	const char *end = s + len, *nl, *e, *close;
	char	**names = NULL, *name, *t;
	unsigned *lines = NULL, line = 0;
	size_t	 n = 0, i;

	for (; s < end; s = nl != NULL ? nl + 1 : end) {
		line++;
		nl = memchr(s, '\n', (size_t)(end - s));
		e = nl != NULL ? nl : end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		if (s == e || *s != '[' ||
		    (close = memchr(s, ']', (size_t)(e - s))) == NULL)
			continue;
		name = xstrndup(s + 1, (size_t)(close - s - 1));
		t = str_trim(name);
		for (i = 0; i < n; i++)
			if (strcasecmp(names[i], t) == 0)
				break;
		if (policy_section_kind(t) == 0)
			;
		else if (i < n)
			policy_err(ld, ld->file, line, "[%s] is written twice "
			    "(first on line %u): rule names must differ", t,
			    lines[i]);
		else {
			names = xreallocarray(names, n + 1, sizeof(*names));
			lines = xreallocarray(lines, n + 1, sizeof(*lines));
			names[n] = xstrdup(t);
			lines[n++] = line;
		}
		free(name);
	}
	policy_strv_free(names, n);
	free(lines);
}

/*
 * policy_load_buf: a policy from the bytes of a policy.ini (file names it
 * in diagnostics), keyword lists from src.  NULL when there were errors,
 * all of them in d; warnings alone do not fail.
 */
struct policy *
policy_load_buf(const char *file, const void *buf, size_t len,
    const struct policy_src *src, struct diag *d)
{
	struct policy_ld ld;
	struct ini	 ini;

	memset(&ld, 0, sizeof(ld));
	ld.p = xcalloc(1, sizeof(*ld.p));
	ld.p->file = xstrdup(file);
	ld.src = src;
	ld.d = d;
	ld.file = ld.p->file;
	if (ini_parse_buf(&ini, file, buf, len, d) == -1)
		ld.nerrors++;
	else
		policy_dup_rules(&ld, buf, len);
	policy_parse(&ld, &ini);
	ini_free(&ini);
	if (ld.nerrors > 0) {
		policy_free(ld.p);
		return NULL;
	}
	return ld.p;
}

/*
 * policy_load: confdir/policy.ini with the lists of confdir/keywords/.  A
 * missing policy.ini is an empty policy (every message passes).
 */
struct policy *
policy_load(const char *confdir, struct diag *d)
{
	struct policy_src src;
	struct policy	*p = NULL;
	struct buf	 b;
	char		*path, *kwdir, chunk[65536];
	ssize_t		 n;
	int		 fd;

	path = xasprintf("%s/policy.ini", confdir);
	kwdir = xasprintf("%s/keywords", confdir);
	memset(&src, 0, sizeof(src));
	src.kwdir = kwdir;
	buf_init(&b, INI_MAX_FILE);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		if (errno == ENOENT)
			p = policy_load_buf(path, "", 0, &src, d);
		else
			diag_add(d, DIAG_ERROR, path, 0, "cannot open: %s",
			    strerror(errno));
		goto out;
	}
	for (;;) {
		if ((n = read(fd, chunk, sizeof(chunk))) == -1 &&
		    errno == EINTR)
			continue;
		if (n == -1) {
			diag_add(d, DIAG_ERROR, path, 0, "read error: %s",
			    strerror(errno));
			break;
		}
		if (n == 0) {
			p = policy_load_buf(path, b.data, b.len, &src, d);
			break;
		}
		if (!buf_add(&b, chunk, (size_t)n)) {
			diag_add(d, DIAG_ERROR, path, 0, "file too large (at "
			    "most %d bytes)", INI_MAX_FILE);
			break;
		}
	}
	close(fd);
out:
	buf_free(&b);
	free(path);
	free(kwdir);
	return p;
}

/* policy_cond_free: what a condition owns (list patterns are shared). */
static void
policy_cond_free(struct policy_cond *c)
{
	if (c->own != NULL)
		pcre2_code_free(c->own->re);
	free(c->own);
	free(c->pats);
	free(c->key);
	free(c->hname);
	policy_strv_free(c->globs, c->nglobs);
}

/* policy_rule_free: one rule. */
static void
policy_rule_free(struct policy_rule *r)
{
	size_t	 i;

	free(r->name);
	policy_strv_free(r->senders.v, r->senders.n);
	policy_strv_free(r->except_senders.v, r->except_senders.n);
	policy_strv_free(r->rcpts.v, r->rcpts.n);
	policy_strv_free(r->except_rcpts.v, r->except_rcpts.n);
	for (i = 0; i < r->nconds; i++)
		policy_cond_free(&r->conds[i]);
	free(r->conds);
	free(r->intercept_arg);
	for (i = 0; i < r->nacts; i++)
		free(r->acts[i].arg);
	free(r->acts);
}

/* policy_free: release a policy (NULL is fine). */
void
policy_free(struct policy *p)
{
	size_t	 i, j;

	if (p == NULL)
		return;
	for (i = 0; i < p->nrules; i++)
		policy_rule_free(&p->rules[i]);
	free(p->rules);
	for (i = 0; i < p->nexempts; i++)
		policy_rule_free(&p->exempts[i]);
	free(p->exempts);
	policy_strv_free(p->approved.v, p->approved.n);
	policy_strv_free(p->blocked.v, p->blocked.n);
	for (i = 0; i < p->nlists; i++) {
		for (j = 0; j < p->lists[i].npats; j++)
			pcre2_code_free(p->lists[i].pats[j].re);
		free(p->lists[i].pats);
		free(p->lists[i].name);
		free(p->lists[i].file);
	}
	free(p->lists);
	free(p->file);
	free(p);
}

/* policy_nrules: how many rules (enabled or not) the policy has. */
size_t
policy_nrules(const struct policy *p)
{
	return p->nrules;
}

/* policy_rule_name: the name of rule i in evaluation order. */
const char *
policy_rule_name(const struct policy *p, size_t i)
{
	return i < p->nrules ? p->rules[i].name : NULL;
}

/* ---- evaluation ---- */

/* The conditions of one rule, evaluated once per message. */
struct policy_reval {
	int			 state;		/* 0 not yet, 1 match, 2 not */
	struct policy_cond_hit	*conds;
	size_t			 nconds;
	size_t			*parts;
	size_t			 nparts;
	unsigned		 limits;
	struct policy_limit	 limit;
};

struct policy_ctx {
	const struct policy	*p;
	const struct scan_msg	*msg;
	const struct policy_env	*env;
	struct rematch		 rm;		/* bounded matching */
	char			*hdrtext;	/* "Name: value\n"..., lazily */
	size_t			 hdrlen;
	struct policy_reval	*rev;		/* per rule */
	struct policy_reval	*cur;		/* the rule being evaluated */
	const struct policy_cond *ccur;
	uint8_t			*acc, *tmp, *extra;	/* per part */
};

/*
 * policy_match: whether any pattern matches text; which one in *which.
 * A pattern that hits a limit does not match; the limit is recorded on
 * the rule being evaluated, and the remaining patterns are still tried.
 */
static bool
policy_match(struct policy_ctx *cx, const struct policy_pat *const *pats,
    size_t n, const char *text, size_t len, const struct policy_pat **which)
{
	struct policy_reval *rv = cx->cur;
	size_t	 i;
	int	 rc;

	if (text == NULL)
		return false;
	for (i = 0; i < n; i++) {
		rc = pcre2_match(pats[i]->re, (PCRE2_SPTR)text, len, 0, 0,
		    cx->rm.md, cx->rm.mc);
		if (rc >= 0) {
			*which = pats[i];
			return true;
		}
		if (rc == PCRE2_ERROR_NOMATCH || rc == PCRE2_ERROR_PARTIAL)
			continue;
		if (rv->limits == 0) {
			rv->limit.key = cx->ccur->key;
			rv->limit.file = pats[i]->file;
			rv->limit.line = pats[i]->line;
			rv->limit.code = rc;
		}
		if (rc == PCRE2_ERROR_MATCHLIMIT ||
		    rc == PCRE2_ERROR_DEPTHLIMIT ||
		    rc == PCRE2_ERROR_HEAPLIMIT ||
		    rc == PCRE2_ERROR_JIT_STACKLIMIT ||
		    rc == PCRE2_ERROR_NOMEMORY)
			rv->limits |= POLICY_LIMIT_MATCH;
		else
			rv->limits |= POLICY_LIMIT_ERROR;
	}
	return false;
}

/* policy_hdrtext: every header as "Name: value" lines, built once. */
static void
policy_hdrtext(struct policy_ctx *cx)
{
	const struct scan_msg *m = cx->msg;
	size_t	 i, len = 1, off = 0, n;

	if (cx->hdrtext != NULL)
		return;
	for (i = 0; i < m->nheaders; i++)
		len += strlen(m->headers[i].name) +
		    strlen(m->headers[i].value) + 3;
	cx->hdrtext = xmalloc(len);
	for (i = 0; i < m->nheaders; i++) {
		n = strlen(m->headers[i].name);
		memcpy(cx->hdrtext + off, m->headers[i].name, n);
		off += n;
		memcpy(cx->hdrtext + off, ": ", 2);
		off += 2;
		n = strlen(m->headers[i].value);
		memcpy(cx->hdrtext + off, m->headers[i].value, n);
		off += n;
		cx->hdrtext[off++] = '\n';
	}
	cx->hdrtext[off] = '\0';
	cx->hdrlen = off;
}

/* policy_is_body: a body text part of the message (not an attachment). */
static bool
policy_is_body(const struct scan_part *sp)
{
	return sp->body_text && !sp->attachment && !sp->in_archive;
}

/* policy_is_att: a part the rule's attachment conditions look at. */
static bool
policy_is_att(const struct policy_rule *r, const struct scan_part *sp)
{
	if (!sp->attachment && !sp->in_archive)
		return false;
	if (r->archives == POLICY_ARCH_EXCLUDE)
		return !sp->in_archive;
	if (r->archives == POLICY_ARCH_ONLY)
		return sp->in_archive;
	return true;
}

/* policy_blank: no subject, or one of only white space (seed 14). */
static bool
policy_blank(const char *s)
{
	if (s == NULL)
		return true;
	while (*s != '\0') {
		if (strchr(" \t\r\n\v\f", *s) != NULL)
			s++;
		else if (strncmp(s, "\xc2\xa0", 2) == 0)	/* NBSP */
			s += 2;
		else if (strncmp(s, "\xe3\x80\x80", 3) == 0)	/* U+3000 */
			s += 3;
		else
			return false;
	}
	return true;
}

/* policy_globs: s matches one of the condition's globs. */
static bool
policy_globs(const struct policy_cond *c, const char *s)
{
	size_t	 i;

	if (s == NULL)
		return false;
	for (i = 0; i < c->nglobs; i++)
		if (policy_glob(c->globs[i], s))
			return true;
	return false;
}

/* policy_text_msg: subject, body and (for content) attachment text. */
static bool
policy_text_msg(struct policy_ctx *cx, const struct policy_cond *c,
    const struct policy_pat **which)
{
	const struct scan_msg *m = cx->msg;
	const struct scan_part *sp;
	size_t	 i;

	if ((c->kind == PC_SUBJECT || c->kind == PC_CONTENT) &&
	    m->subject != NULL && policy_match(cx, c->pats, c->npats,
	    m->subject, strlen(m->subject), which))
		return true;
	if (c->kind == PC_SUBJECT)
		return false;
	for (i = 0; i < m->nparts; i++) {
		sp = &m->parts[i];
		if (!policy_is_body(sp) && (c->kind != PC_CONTENT ||
		    (!sp->attachment && !sp->in_archive)))
			continue;
		if (policy_match(cx, c->pats, c->npats, sp->text, sp->textlen,
		    which))
			return true;
	}
	return false;
}

/* policy_header_cond: a header present, or its value matching. */
static bool
policy_header_cond(struct policy_ctx *cx, const struct policy_cond *c,
    const struct policy_pat **which)
{
	const struct scan_msg *m = cx->msg;
	size_t	 i;

	for (i = 0; i < m->nheaders; i++) {
		if (strcasecmp(m->headers[i].name, c->hname) != 0)
			continue;
		if (!c->text)
			return true;
		if (policy_match(cx, c->pats, c->npats, m->headers[i].value,
		    strlen(m->headers[i].value), which))
			return true;
	}
	return false;
}

/* policy_att_count: top-level attachments (archive members not counted). */
static uint64_t
policy_att_count(const struct scan_msg *m)
{
	uint64_t n = 0;
	size_t	 i;

	for (i = 0; i < m->nparts; i++)
		if (m->parts[i].attachment && !m->parts[i].in_archive)
			n++;
	return n;
}

/* policy_words: s (not "") is one of the condition's words. */
static bool
policy_words(const struct policy_cond *c, const char *s)
{
	size_t	 i;

	for (i = 0; s[0] != '\0' && i < c->nglobs; i++)
		if (strcasecmp(c->globs[i], s) == 0)
			return true;
	return false;
}

/* policy_msg_cond: a message-level condition; *which for text matches. */
static bool
policy_msg_cond(struct policy_ctx *cx, const struct policy_cond *c,
    const struct policy_pat **which)
{
	const struct scan_msg *m = cx->msg;
	size_t	 i;

	switch (c->kind) {
	case PC_SUBJECT:
	case PC_BODY:
	case PC_CONTENT:
		return policy_text_msg(cx, c, which);
	case PC_HEADERS:
		policy_hdrtext(cx);
		return policy_match(cx, c->pats, c->npats, cx->hdrtext,
		    cx->hdrlen, which);
	case PC_HEADER:
		return policy_header_cond(cx, c, which);
	case PC_ATT_COUNT:
		return scan_cmp_eval(c->cmp, policy_att_count(m), c->num);
	case PC_RCPT_COUNT:	/* seed 42: what the rule says it counts */
		return scan_cmp_eval(c->cmp, c->envelope ?
		    cx->env->nrcpts : m->nhdr_rcpts, c->num);
	case PC_EMPTY_SUBJECT:
		return policy_blank(m->subject);
	case PC_VIRUS:		/* the antivirus engine's finding */
		return m->virus != NULL &&
		    (c->nglobs == 0 || policy_globs(c, m->virus));
	case PC_MSG_SIZE:
		return scan_cmp_eval(c->cmp, m->size, c->num);
	case PC_SPF:
		return policy_words(c, m->spf);
	case PC_DKIM:
		return policy_words(c, m->dkim);
	case PC_DMARC:
		return policy_words(c, m->dmarc);
	case PC_DMARC_POLICY:
		return policy_words(c, m->dmarc_policy);
	case PC_SPAM:		/* the verdict made before the rules */
		if (m->spam == SCAN_SPAM_BLOCKED)
			return true;
		if (m->spam != SCAN_SPAM_SCORED)
			return false;
		return c->mask != 0 ? (m->spam_levels & c->mask) != 0 :
		    m->spam_score >= c->min_score;
	case PC_SCAN_LIMITS:
		if ((m->limits & c->mask) == 0)
			return false;
		for (i = 0; i < m->nparts; i++)
			if (m->parts[i].limits & c->mask)
				cx->extra[i] = 1;
		return true;
	default:
		fatalx("policy_msg_cond: condition kind %d", (int)c->kind);
	}
}

/* policy_part_cond: a per-attachment condition into cx->tmp; any match. */
static bool
policy_part_cond(struct policy_ctx *cx, const struct policy_rule *r,
    const struct policy_cond *c, const struct policy_pat **which)
{
	const struct scan_part *sp;
	const struct policy_pat *w = NULL;
	size_t	 i, j;
	bool	 any = false, hit;

	for (i = 0; i < cx->msg->nparts; i++) {
		sp = &cx->msg->parts[i];
		hit = false;
		if (!policy_is_att(r, sp))
			;
		else if (c->kind == PC_ATT_NAME) {
			/* Any name the part is given: the one a mail
			 * client shows may be another (mime.c). */
			hit = policy_globs(c, sp->filename);
			for (j = 0; !hit && j < sp->nalt_names; j++)
				hit = policy_globs(c, sp->alt_names[j]);
		}
		else if (c->kind == PC_ATT_TYPE)
			hit = policy_globs(c, sp->true_type);
		else if (c->kind == PC_ATT_SIZE)
			hit = scan_cmp_eval(c->cmp, sp->size, c->num);
		else
			hit = policy_match(cx, c->pats, c->npats, sp->text,
			    sp->textlen, &w);
		cx->tmp[i] = hit;
		if (hit && !any) {
			any = true;
			*which = w;
		}
	}
	return any;
}

/* policy_cond_hit: record that condition c matched (w: the pattern). */
static void
policy_cond_hit(struct policy_ctx *cx, const struct policy_cond *c,
    const struct policy_pat *w)
{
	struct policy_reval *rv = cx->cur;
	struct policy_cond_hit *h;

	rv->conds = xreallocarray(rv->conds, rv->nconds + 1,
	    sizeof(*rv->conds));
	h = &rv->conds[rv->nconds++];
	h->key = c->key;
	h->file = w != NULL ? w->file : cx->p->file;
	h->line = w != NULL ? w->line : c->line;
}

/*
 * policy_rule_conds: evaluate every condition of r.  Attachment conditions
 * combine per part: with "all" one attachment must meet all of them, with
 * "any" each attachment meeting one of them counts (seed 4).
 */
static bool
policy_rule_conds(struct policy_ctx *cx, const struct policy_rule *r)
{
	const struct policy_cond *c;
	const struct policy_pat *w;
	size_t	 i, j, np = cx->msg->nparts;
	bool	 msgok = r->all, pp = false, m, acc = false;

	memset(cx->acc, r->all ? 1 : 0, np + 1);
	memset(cx->extra, 0, np + 1);
	for (i = 0; i < r->nconds; i++) {
		c = cx->ccur = &r->conds[i];
		w = NULL;
		if (c->per_part) {
			m = policy_part_cond(cx, r, c, &w);
			for (j = 0; j < np; j++)
				cx->acc[j] = r->all ? cx->acc[j] & cx->tmp[j] :
				    cx->acc[j] | cx->tmp[j];
			pp = true;
		} else {
			m = policy_msg_cond(cx, c, &w);
			msgok = r->all ? msgok && m : msgok || m;
		}
		if (m)
			policy_cond_hit(cx, c, w);
		else if (r->all)
			return false;
	}
	for (i = 0; pp && i < np; i++)
		acc = acc || cx->acc[i];
	if (!pp)
		memset(cx->acc, 0, np + 1);	/* no attachment matched */
	if (r->nconds == 0)
		return true;
	if (r->all)
		return msgok && (!pp || acc);
	return msgok || acc;
}

/* policy_rule_eval: r's outcome for this message, computed once in rv. */
static const struct policy_reval *
policy_rule_eval(struct policy_ctx *cx, const struct policy_rule *r,
    struct policy_reval *rv)
{
	size_t	 i, np = cx->msg->nparts;

	if (rv->state != 0)
		return rv;
	cx->cur = rv;
	rv->limit.rule = r->name;
	if (!policy_rule_conds(cx, r)) {
		rv->state = 2;
		free(rv->conds);
		rv->conds = NULL;
		rv->nconds = 0;
		return rv;
	}
	rv->state = 1;
	for (i = 0; i < np; i++) {
		if (!cx->acc[i] && !cx->extra[i])
			continue;
		rv->parts = xreallocarray(rv->parts, rv->nparts + 1,
		    sizeof(*rv->parts));
		rv->parts[rv->nparts++] = i;
	}
	return rv;
}

/* policy_addr_match: address a matches scope pattern pat. */
static bool
policy_addr_match(const char *pat, const char *a)
{
	const char *at = strrchr(a, '@');

	if (strcmp(pat, "*") == 0)
		return true;
	if (strcmp(pat, "<>") == 0)
		return *a == '\0';
	if (pat[0] == '@')
		return at != NULL && addr_domain_eq(pat + 1, at + 1);
	if (pat[0] == '.')
		return at != NULL && addr_domain_match(pat, at + 1);
	return policy_glob(pat, a);
}

/* policy_addrs_match: a matches one of the patterns (or none are set). */
static bool
policy_addrs_match(const struct policy_addrs *s, const char *a, bool dflt)
{
	size_t	 i;

	if (!s->set)
		return dflt;
	for (i = 0; i < s->n; i++)
		if (policy_addr_match(s->v[i], a))
			return true;
	return false;
}

/* policy_applies: rule r's scope covers recipient i of the envelope. */
static bool
policy_applies(const struct policy_rule *r, const struct policy_env *env,
    size_t i)
{
	const char *snd = env->sender != NULL ? env->sender : "";

	return r->enabled && (r->dirs & env->dirs[i]) != 0 &&
	    (env->skip_rule == NULL || strcmp(r->name, env->skip_rule) != 0) &&
	    policy_addrs_match(&r->senders, snd, true) &&
	    !policy_addrs_match(&r->except_senders, snd, false) &&
	    policy_addrs_match(&r->rcpts, env->rcpts[i], true) &&
	    !policy_addrs_match(&r->except_rcpts, env->rcpts[i], false);
}

/* What one recipient ended with: matched rules, rules that hit limits. */
struct policy_rcv {
	size_t			*hits, nhits;
	size_t			*lims, nlims;
	size_t			 group;
};

/* policy_rcpt: walk the rules in order for recipient i. */
static void
policy_rcpt(struct policy_ctx *cx, size_t i, struct policy_rcv *rc)
{
	const struct policy_reval *rv;
	size_t	 ri;

	for (ri = 0; ri < cx->p->nrules; ri++) {
		if (!policy_applies(&cx->p->rules[ri], cx->env, i))
			continue;
		rv = policy_rule_eval(cx, &cx->p->rules[ri], &cx->rev[ri]);
		if (rv->limits != 0) {
			rc->lims = xreallocarray(rc->lims, rc->nlims + 1,
			    sizeof(size_t));
			rc->lims[rc->nlims++] = ri;
		}
		if (rv->state != 1)
			continue;
		rc->hits = xreallocarray(rc->hits, rc->nhits + 1,
		    sizeof(size_t));
		rc->hits[rc->nhits++] = ri;
		if (cx->p->rules[ri].final)
			break;
	}
}

/* policy_same: two recipients ended with the same rules and limits. */
static bool
policy_same(const struct policy_rcv *a, const struct policy_rcv *b)
{
	return a->nhits == b->nhits && a->nlims == b->nlims &&
	    (a->nhits == 0 ||
	    memcmp(a->hits, b->hits, a->nhits * sizeof(size_t)) == 0) &&
	    (a->nlims == 0 ||
	    memcmp(a->lims, b->lims, a->nlims * sizeof(size_t)) == 0);
}

/* policy_act_dup: an equal action is already in the group. */
static bool
policy_act_dup(const struct policy_group *g, const struct policy_ract *a)
{
	size_t	 i;

	if (a->kind == POLICY_A_STRIP)
		return false;	/* each names its own parts */
	for (i = 0; i < g->nactions; i++) {
		if (g->actions[i].kind != a->kind)
			continue;
		if (a->arg == NULL || (g->actions[i].arg != NULL &&
		    (a->kind == POLICY_A_BCC ?
		    strcasecmp(g->actions[i].arg, a->arg) :
		    strcmp(g->actions[i].arg, a->arg)) == 0))
			return true;
	}
	return false;
}

/* policy_strip_add: the parts of one strip into the group's union. */
static void
policy_strip_add(struct policy_group *g, const struct policy_reval *rv)
{
	size_t	 i, j, k;

	for (i = 0; i < rv->nparts; i++) {
		for (j = 0; j < g->nstrip_parts &&
		    g->strip_parts[j] < rv->parts[i]; j++)
			;
		if (j < g->nstrip_parts && g->strip_parts[j] == rv->parts[i])
			continue;
		g->strip_parts = xreallocarray(g->strip_parts,
		    g->nstrip_parts + 1, sizeof(size_t));
		for (k = g->nstrip_parts; k > j; k--)
			g->strip_parts[k] = g->strip_parts[k - 1];
		g->strip_parts[j] = rv->parts[i];
		g->nstrip_parts++;
	}
}

/* policy_group_hit: add matched rule ri to group g. */
static void
policy_group_hit(struct policy_ctx *cx, struct policy_group *g, size_t ri)
{
	const struct policy_rule *r = &cx->p->rules[ri];
	const struct policy_reval *rv = &cx->rev[ri];
	struct policy_hit *h;
	size_t	 i, hi = g->nhits;

	g->hits = xreallocarray(g->hits, g->nhits + 1, sizeof(*g->hits));
	h = &g->hits[g->nhits++];
	h->rule = r->name;
	h->rule_index = ri;
	h->nconds = rv->nconds;
	h->conds = xreallocarray(NULL, rv->nconds + 1, sizeof(*h->conds));
	if (rv->nconds > 0)
		memcpy(h->conds, rv->conds, rv->nconds * sizeof(*h->conds));
	h->nparts = rv->nparts;
	h->parts = xreallocarray(NULL, rv->nparts + 1, sizeof(*h->parts));
	if (rv->nparts > 0)
		memcpy(h->parts, rv->parts, rv->nparts * sizeof(*h->parts));
	if (g->intercept_hit == SIZE_MAX && r->intercept != POLICY_DELIVER) {
		g->intercept = r->intercept;
		g->intercept_arg = r->intercept_arg;
		g->intercept_hit = hi;
	}
	for (i = 0; i < r->nacts; i++) {
		if (policy_act_dup(g, &r->acts[i]))
			continue;
		if (r->acts[i].kind == POLICY_A_STRIP)
			policy_strip_add(g, rv);
		g->actions = xreallocarray(g->actions, g->nactions + 1,
		    sizeof(*g->actions));
		g->actions[g->nactions].kind = r->acts[i].kind;
		g->actions[g->nactions].arg = r->acts[i].arg;
		g->actions[g->nactions].template = r->acts[i].template;
		g->actions[g->nactions].hit = hi;
		g->nactions++;
	}
}

/* policy_final_text: what the tracking log shows as the final action. */
static void
policy_final_text(struct policy_group *g)
{
	if (g->nhits == 0) {
		str_lcpy(g->final_text, POLICY_PASSED_TEXT,
		    sizeof(g->final_text));
		return;
	}
	switch (g->intercept) {
	case POLICY_DELIVER:
		str_lcpy(g->final_text, "Delivered", sizeof(g->final_text));
		break;
	case POLICY_DELETE:
		str_lcpy(g->final_text, "Deleted", sizeof(g->final_text));
		break;
	case POLICY_QUARANTINE:
		(void)str_printf(g->final_text, sizeof(g->final_text),
		    "Quarantined (%s)", g->intercept_arg);
		break;
	case POLICY_CHANGE_RCPT:
		(void)str_printf(g->final_text, sizeof(g->final_text),
		    "Recipient changed to %s", g->intercept_arg);
		break;
	}
}

/* policy_group_make: the decision for the recipients that share rc. */
static void
policy_group_make(struct policy_ctx *cx, struct policy_group *g,
    const struct policy_rcv *rc)
{
	const struct policy_reval *rv;
	size_t	 i;

	memset(g, 0, sizeof(*g));
	g->intercept = POLICY_DELIVER;
	g->intercept_hit = SIZE_MAX;
	for (i = 0; i < rc->nhits; i++)
		policy_group_hit(cx, g, rc->hits[i]);
	for (i = 0; i < rc->nlims; i++) {
		rv = &cx->rev[rc->lims[i]];
		if (g->limits == 0)
			g->limit = rv->limit;
		g->limits |= rv->limits;
	}
	policy_final_text(g);
}

/* policy_ctx_init: the per-evaluation matching state. */
static void
policy_ctx_init(struct policy_ctx *cx, const struct policy *p,
    const struct scan_msg *m, const struct policy_env *env)
{
	memset(cx, 0, sizeof(*cx));
	cx->p = p;
	cx->msg = m;
	cx->env = env;
	rematch_init(&cx->rm);
	cx->rev = xcalloc(p->nrules + 1, sizeof(*cx->rev));
	cx->acc = xcalloc(m->nparts + 1, 1);
	cx->tmp = xcalloc(m->nparts + 1, 1);
	cx->extra = xcalloc(m->nparts + 1, 1);
}

/* policy_ctx_free: release the per-evaluation state. */
static void
policy_ctx_free(struct policy_ctx *cx)
{
	size_t	 i;

	for (i = 0; i < cx->p->nrules; i++) {
		free(cx->rev[i].conds);
		free(cx->rev[i].parts);
	}
	free(cx->rev);
	free(cx->acc);
	free(cx->tmp);
	free(cx->extra);
	free(cx->hdrtext);
	rematch_free(&cx->rm);
}

/*
 * policy_eval: apply the policy to message m and envelope env.  Fills res
 * with one group per distinct outcome; every recipient is in exactly one
 * group.  Returns 0, or -1 (res empty) when env is inconsistent (a
 * recipient without an address or a direction): never a silent "pass".
 */
int
policy_eval(const struct policy *p, const struct scan_msg *m,
    const struct policy_env *env, struct policy_result *res)
{
	struct policy_ctx cx;
	struct policy_rcv *rc;
	struct policy_group *g;
	size_t	 i, j;

	memset(res, 0, sizeof(*res));
	if (env->nrcpts > 0 && (env->rcpts == NULL || env->dirs == NULL))
		return -1;
	for (i = 0; i < env->nrcpts; i++)
		if (env->rcpts[i] == NULL || (env->dirs[i] != POLICY_INBOUND &&
		    env->dirs[i] != POLICY_OUTBOUND))
			return -1;
	policy_ctx_init(&cx, p, m, env);
	rc = xcalloc(env->nrcpts + 1, sizeof(*rc));
	for (i = 0; i < env->nrcpts; i++) {
		policy_rcpt(&cx, i, &rc[i]);
		for (j = 0; j < i && !policy_same(&rc[j], &rc[i]); j++)
			;
		if (j < i) {
			rc[i].group = rc[j].group;
		} else {
			rc[i].group = res->ngroups;
			res->groups = xreallocarray(res->groups,
			    res->ngroups + 1, sizeof(*res->groups));
			policy_group_make(&cx, &res->groups[res->ngroups++],
			    &rc[i]);
		}
		g = &res->groups[rc[i].group];
		g->rcpts = xreallocarray(g->rcpts, g->nrcpts + 1,
		    sizeof(size_t));
		g->rcpts[g->nrcpts++] = i;
		res->limits |= g->limits;
	}
	for (i = 0; i < env->nrcpts; i++) {
		free(rc[i].hits);
		free(rc[i].lims);
	}
	free(rc);
	policy_ctx_free(&cx);
	return 0;
}

/*
 * policy_spam_exempt: the name of the first enabled [spam_exemption]
 * whose sender scope covers sender ("" for <>) and whose conditions m
 * meets, or NULL.  The name points into p.
 */
const char *
policy_spam_exempt(const struct policy *p, const struct scan_msg *m,
    const char *sender)
{
	struct policy_ctx	 cx;
	struct policy_env	 env;
	struct policy_reval	 rv;
	const struct policy_rule *r;
	const char		*name = NULL;
	size_t			 i;

	if (p->nexempts == 0)
		return NULL;
	memset(&env, 0, sizeof(env));
	env.sender = sender;
	policy_ctx_init(&cx, p, m, &env);
	for (i = 0; i < p->nexempts && name == NULL; i++) {
		r = &p->exempts[i];
		if (!r->enabled ||
		    !policy_addrs_match(&r->senders, sender, true) ||
		    policy_addrs_match(&r->except_senders, sender, false))
			continue;
		memset(&rv, 0, sizeof(rv));
		if (policy_rule_eval(&cx, r, &rv)->state == 1)
			name = r->name;
		free(rv.conds);
		free(rv.parts);
	}
	policy_ctx_free(&cx);
	return name;
}

/*
 * policy_spam_sender: whether sender ("" for <>) is on the approved
 * senders of [spam_senders] (POLICY_SPAM_APPROVED; it wins over blocked,
 * so one address of a blocked domain can be let through), on the blocked
 * ones (POLICY_SPAM_BLOCKED), or neither (0).
 */
int
policy_spam_sender(const struct policy *p, const char *sender)
{
	if (policy_addrs_match(&p->approved, sender, false))
		return POLICY_SPAM_APPROVED;
	if (policy_addrs_match(&p->blocked, sender, false))
		return POLICY_SPAM_BLOCKED;
	return 0;
}

/* policy_nexempts: how many spam exemptions the policy has. */
size_t
policy_nexempts(const struct policy *p)
{
	return p->nexempts;
}

/* policy_result_free: release a result; it is zeroed. */
void
policy_result_free(struct policy_result *res)
{
	struct policy_group *g;
	size_t	 i, j;

	for (i = 0; i < res->ngroups; i++) {
		g = &res->groups[i];
		for (j = 0; j < g->nhits; j++) {
			free(g->hits[j].conds);
			free(g->hits[j].parts);
		}
		free(g->hits);
		free(g->rcpts);
		free(g->actions);
		free(g->strip_parts);
	}
	free(res->groups);
	memset(res, 0, sizeof(*res));
}

/* policy_intercept_name: the policy.ini word for an intercept action. */
const char *
policy_intercept_name(enum policy_intercept i)
{
	switch (i) {
	case POLICY_DELIVER:		return "deliver";
	case POLICY_DELETE:		return "delete";
	case POLICY_QUARANTINE:		return "quarantine";
	case POLICY_CHANGE_RCPT:	return "change_recipient";
	}
	return "?";
}

/* policy_action_name: the policy.ini key of an action. */
const char *
policy_action_name(enum policy_action_kind k)
{
	switch (k) {
	case POLICY_A_TAG_SUBJECT:	return "tag_subject";
	case POLICY_A_STAMP_TOP:	return "stamp_top";
	case POLICY_A_STAMP_BOTTOM:	return "stamp_bottom";
	case POLICY_A_STRIP:		return "strip_attachments";
	case POLICY_A_BCC:		return "bcc";
	case POLICY_A_ARCHIVE:		return "archive";
	case POLICY_A_NOTIFY_SENDER:	return "notify_sender";
	case POLICY_A_NOTIFY_RCPTS:	return "notify_recipients";
	case POLICY_A_NOTIFY_ADMIN:	return "notify_admin";
	}
	return "?";
}
