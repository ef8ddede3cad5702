/*
 * notify.c: builds policy notifications and the scan-failure notice from
 * templates.  It owns nothing but the parsed templates; the caller gives
 * the templates directory, the token values and the addresses, and spools
 * what comes back.
 *
 * Templates (docs/notifications.md) are UTF-8 text: an optional header
 * block that may hold only Subject:, an empty line, the body.  Parsing is
 * strict (invalid UTF-8, NUL, any other field is an error with its line
 * number) so that a typo shows when the configuration loads, not when a
 * notification is sent.  %NAME% tokens are replaced at build time; an
 * unknown %WORD% stays as it is and %% is one '%'.
 *
 * Encoding (seed 7, common/mimeenc.c): an ASCII subject goes out raw and
 * folded, any other as RFC 2047 encoded-words; an ASCII body as 7bit
 * us-ascii, any other as quoted-printable UTF-8.  Token values are made
 * one line of well-formed UTF-8 first, so a subject or file name from the
 * mail can add neither a header field nor a line of its own.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "addr.h"
#include "log.h"
#include "mimeenc.h"
#include "notify.h"
#include "xmalloc.h"

#define CRLF		"\r\n"
#define MSGID_OCTETS	16
#define DATE_MAX	40
#define TOKEN_DATE	SIZE_MAX	/* not a field of notify_tokens */
#define DEF_SUBJECT	"Message from the mail gateway"

struct notify_template {
	char	 name[NOTIFY_NAME_MAX + 1];
	char	*subject;		/* NULL: DEF_SUBJECT */
	char	*body;
};

/* The tokens and where their values are in struct notify_tokens. */
static const struct {
	const char	*name;
	size_t		 off;
} notify_toks[] = {
	{ "SENDER", offsetof(struct notify_tokens, sender) },
	{ "RECIPIENTS", offsetof(struct notify_tokens, recipients) },
	{ "SUBJECT", offsetof(struct notify_tokens, subject) },
	{ "RULE_NAME", offsetof(struct notify_tokens, rule_name) },
	{ "VIRUS_NAME", offsetof(struct notify_tokens, virus_name) },
	{ "ATTACHMENT", offsetof(struct notify_tokens, attachment) },
	{ "CLIENT_IP", offsetof(struct notify_tokens, client_ip) },
	{ "QUEUE_ID", offsetof(struct notify_tokens, qid) },
	{ "ACTION", offsetof(struct notify_tokens, action) },
	{ "QUARANTINE_AREA", offsetof(struct notify_tokens, area) },
	{ "REASON", offsetof(struct notify_tokens, reason) },
	{ "DATE", TOKEN_DATE },
};

/*
 * notify_name_valid: a template name, never a path: letters, digits, '_',
 * '-', '.', at most NOTIFY_NAME_MAX octets, not starting with '.' or '-'
 * (the rule of scanner/policy.c).
 */
bool
notify_name_valid(const char *s)
{
	size_t	 n;

	if (s == NULL || (n = strlen(s)) == 0 || n > NOTIFY_NAME_MAX ||
	    s[0] == '.' || s[0] == '-')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789_-.") == n;
}

/* notify_template_free: release a parsed template (NULL is fine). */
void
notify_template_free(struct notify_template *t)
{
	if (t == NULL)
		return;
	free(t->subject);
	free(t->body);
	free(t);
}

/* notify_template_name: the name the template was parsed under. */
const char *
notify_template_name(const struct notify_template *t)
{
	return t->name;
}

/* tmpl_eol: the end of the line starting at i; *next: the next line. */
static size_t
tmpl_eol(const char *s, size_t len, size_t i, size_t *next)
{
	size_t	 e;

	for (e = i; e < len && s[e] != '\r' && s[e] != '\n'; e++)
		;
	*next = e;
	if (e < len)
		*next += s[e] == '\r' && e + 1 < len && s[e + 1] == '\n' ?
		    2 : 1;
	return e;
}

/*
 * tmpl_field: the length of the field name when the line looks like a
 * header field ("Name:" then white space or the end), else 0.
 */
static size_t
tmpl_field(const char *s, size_t n)
{
	size_t	 k;

	for (k = 0; k < n && ((s[k] >= 'a' && s[k] <= 'z') ||
	    (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= '0' && s[k] <= '9') ||
	    s[k] == '-'); k++)
		;
	if (k == 0 || k >= n || s[k] != ':')
		return 0;
	if (k + 1 < n && s[k + 1] != ' ' && s[k + 1] != '\t')
		return 0;
	return k;
}

/* tmpl_blank: the line holds only white space. */
static bool
tmpl_blank(const char *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

/* tmpl_check: well-formed UTF-8 without NUL; else an error with the line. */
static bool
tmpl_check(const char *name, const uint8_t *p, size_t len, char *err,
    size_t errlen)
{
	size_t	 i, k, line = 1;

	for (i = 0; i < len; i += k) {
		k = p[i] == '\0' ? 0 : mimeenc_utf8_len(p + i, len - i);
		if (k == 0) {
			str_printf(err, errlen, "template %s: line %zu: %s",
			    name, line, p[i] == '\0' ? "NUL byte" :
			    "invalid UTF-8");
			return false;
		}
		if (p[i] == '\n' || (p[i] == '\r' && (i + 1 == len ||
		    p[i + 1] != '\n')))
			line++;
	}
	return true;
}

/*
 * tmpl_hline: why a line of the header block is bad, or NULL and *voff:
 * where its value starts (0 for a continuation line).
 */
static const char *
tmpl_hline(const char *l, size_t n, bool seen, size_t *voff)
{
	size_t	 k;

	*voff = 0;
	if (l[0] == ' ' || l[0] == '\t')
		return NULL;
	if ((k = tmpl_field(l, n)) == 0)
		return "not a header line (end the header block with an empty "
		    "line)";
	if (k != 7 || strncasecmp(l, "Subject", 7) != 0)
		return "only Subject: is allowed in the header block";
	if (seen)
		return "Subject: given twice";
	*voff = k + 1;
	return NULL;
}

/*
 * tmpl_headers: the header block, present when the first line looks like
 * a field (Subject: and its continuation lines up to an empty line) or
 * is empty.  *body: where the body starts.  False with err on a bad line.
 */
static bool
tmpl_headers(struct notify_template *t, const char *s, size_t len,
    size_t *body, char *err, size_t errlen)
{
	struct buf	 subj;
	const char	*why = NULL;
	char		*v;
	size_t		 i, e, next, voff, line = 0;
	bool		 seen = false;

	*body = 0;
	e = tmpl_eol(s, len, 0, &next);
	if (len > 0 && tmpl_blank(s, e)) {
		*body = next;		/* an empty header block */
		return true;
	}
	if (tmpl_field(s, e) == 0)
		return true;
	buf_init(&subj, len + 1);
	for (i = 0; i < len && why == NULL; i = next) {
		e = tmpl_eol(s, len, i, &next);
		line++;
		if (tmpl_blank(s + i, e - i)) {
			i = next;
			break;
		}
		if ((why = tmpl_hline(s + i, e - i, seen, &voff)) != NULL)
			break;
		seen = seen || voff > 0;
		if (!buf_addstr(&subj, " ") ||
		    !buf_add(&subj, s + i + voff, e - i - voff))
			fatalx("tmpl_headers: %s: subject over its limit",
			    t->name);
	}
	if (why == NULL) {
		*body = i;
		v = xstrdup(buf_cstr(&subj));
		t->subject = xstrdup(str_trim(v));
		free(v);
	} else
		str_printf(err, errlen, "template %s: line %zu: %s", t->name,
		    line, why);
	buf_free(&subj);
	return why == NULL;
}

/* tmpl_bad_name: the error for a name notify_name_valid() refuses. */
static void
tmpl_bad_name(char *err, size_t errlen)
{
	str_printf(err, errlen, "template: bad name (letters, digits, '_', "
	    "'-', '.', at most %d octets)", NOTIFY_NAME_MAX);
}

/*
 * notify_template_parse: a template from len octets of text (the file's
 * contents), see docs/notifications.md.  NULL with err when it is bad.
 */
struct notify_template *
notify_template_parse(const char *name, const void *text, size_t len,
    char *err, size_t errlen)
{
	struct notify_template *t;
	const char	*s = text != NULL ? text : "";
	size_t		 body;

	if (!notify_name_valid(name)) {
		tmpl_bad_name(err, errlen);
		return NULL;
	}
	if (text == NULL)
		len = 0;
	if (len > NOTIFY_TEMPLATE_MAX) {
		str_printf(err, errlen, "template %s: larger than %d octets",
		    name, NOTIFY_TEMPLATE_MAX);
		return NULL;
	}
	if (!tmpl_check(name, (const uint8_t *)s, len, err, errlen))
		return NULL;
	if (len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;		/* a byte order mark some editors write */
		len -= 3;
	}
	t = xcalloc(1, sizeof(*t));
	str_lcpy(t->name, name, sizeof(t->name));
	if (!tmpl_headers(t, s, len, &body, err, errlen)) {
		notify_template_free(t);
		return NULL;
	}
	t->body = xstrndup(s + body, len - body);
	return t;
}

/* tmpl_read: the whole regular file fd into b; -1 with errno. */
static int
tmpl_read(int fd, struct buf *b)
{
	struct stat	 st;
	char		 chunk[8192];
	ssize_t		 r;

	if (fstat(fd, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	if (st.st_size > NOTIFY_TEMPLATE_MAX) {
		errno = EFBIG;
		return -1;
	}
	while ((r = read(fd, chunk, sizeof(chunk))) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (!buf_add(b, chunk, (size_t)r)) {
			errno = EFBIG;
			return -1;
		}
	}
	return 0;
}

/*
 * notify_template_load: the template NAME from the templates directory
 * dirfd: a regular file (a symbolic link is refused) of at most
 * NOTIFY_TEMPLATE_MAX octets.  NULL with err.
 */
struct notify_template *
notify_template_load(int dirfd, const char *name, char *err, size_t errlen)
{
	struct notify_template *t = NULL;
	struct buf	 b;
	int		 fd, rc, saved;

	if (!notify_name_valid(name)) {
		tmpl_bad_name(err, errlen);
		return NULL;
	}
	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		str_printf(err, errlen, "template %s: %s", name,
		    errno == ELOOP ? "a symbolic link, refused" :
		    strerror(errno));
		return NULL;
	}
	buf_init(&b, NOTIFY_TEMPLATE_MAX);
	rc = tmpl_read(fd, &b);
	saved = errno;
	close(fd);
	if (rc == 0)
		t = notify_template_parse(name, b.data, b.len, err, errlen);
	else if (saved == EFBIG)
		str_printf(err, errlen, "template %s: larger than %d octets",
		    name, NOTIFY_TEMPLATE_MAX);
	else
		str_printf(err, errlen, "template %s: %s", name,
		    saved == EINVAL ? "not a regular file" : strerror(saved));
	buf_free(&b);
	return t;
}

/* token_value: the value of the token named by n octets at w, or NULL. */
static const char *
token_value(const struct notify_tokens *tok, const char *w, size_t n,
    const char *date)
{
	const char	*v;
	size_t		 i;

	for (i = 0; i < nitems(notify_toks); i++) {
		if (strlen(notify_toks[i].name) != n ||
		    memcmp(notify_toks[i].name, w, n) != 0)
			continue;
		if (notify_toks[i].off == TOKEN_DATE)
			return date;
		memcpy(&v, (const char *)tok + notify_toks[i].off, sizeof(v));
		if (v == NULL)
			return "";
		if (notify_toks[i].off == offsetof(struct notify_tokens,
		    sender) && v[0] == '\0')
			return "<>";
		return v;
	}
	return NULL;
}

/*
 * notify_expand: append s with its tokens replaced by their values, each
 * made one line of well-formed UTF-8 of at most NOTIFY_VALUE_MAX octets.
 * An unknown %WORD% stays as it is; %% is one '%'.
 */
static bool
notify_expand(struct buf *b, const char *s, const struct notify_tokens *tok,
    const char *date)
{
	const char	*v;
	size_t		 n;
	bool		 ok = true;

	while (ok && *s != '\0') {
		n = strcspn(s, "%");
		ok = buf_add(b, s, n);
		if (s[n] == '\0')
			break;
		s += n;
		n = strspn(s + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
		if (s[1] == '%') {
			ok = ok && buf_addstr(b, "%");
			s += 2;
		} else if (n > 0 && s[n + 1] == '%' &&
		    (v = token_value(tok, s + 1, n, date)) != NULL) {
			ok = ok && mimeenc_clean_utf8(b, (const uint8_t *)v,
			    strlen(v), NOTIFY_VALUE_MAX, MIMEENC_LINE);
			s += n + 2;
		} else if (n > 0 && s[n + 1] == '%') {
			ok = ok && buf_add(b, s, n + 2);
			s += n + 2;
		} else {
			ok = ok && buf_addstr(b, "%");
			s++;
		}
	}
	return ok;
}

/* The pieces of one notification. */
struct notify_ctx {
	const struct notify_template *t;
	const struct notify_tokens *tok;
	char		 from[ADDR_STR_MAX];
	char		 date[DATE_MAX];	/* Date: */
	char		 odate[DATE_MAX];	/* %DATE% */
	char		 msgid[2 * MSGID_OCTETS + ADDR_DOMAIN_MAX + 4];
	struct buf	 subject;		/* expanded */
	struct buf	 body;			/* expanded, cleaned, CRLF */
	bool		 ascii;
};

/*
 * notify_addr_check: s checked (never empty or "<>": seed 35) and in
 * canonical form in dst; utf8 allows a non-ASCII address (SMTPUTF8).
 * NULL, or why not.
 */
const char *
notify_addr_check(const char *s, bool utf8, char *dst, size_t size)
{
	struct addr_opts o = ADDR_OPTS_INIT;
	struct addr	 a;
	enum addr_err	 e;

	if (s == NULL || s[0] == '\0' || strcmp(s, "<>") == 0)
		return "the null address, refused (seed 35)";
	o.check_dots = false;
	o.smtputf8 = utf8;
	if ((e = addr_parse(&a, s, strlen(s), ADDR_BARE, &o)) != ADDR_OK)
		return addr_strerror(e);
	if (!addr_format(dst, size, &a, 0))
		return "cannot be formatted";
	return NULL;
}

/* notify_addr: an address of a notification (any UTF-8). */
static const char *
notify_addr(const char *s, char *dst, size_t size)
{
	return notify_addr_check(s, true, dst, size);
}

/*
 * notify_msgid_make: a Message-ID "<random hex@host>" into dst; false
 * without randomness or room.
 */
bool
notify_msgid_make(char *dst, size_t size, const char *host)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t		 r[MSGID_OCTETS];
	char		 id[2 * MSGID_OCTETS + 1];
	size_t		 i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return false;
	for (i = 0; i < sizeof(r); i++) {
		id[2 * i] = hex[r[i] >> 4];
		id[2 * i + 1] = hex[r[i] & 15];
	}
	id[2 * sizeof(r)] = '\0';
	return str_printf(dst, size, "<%s@%s>", id, host);
}

/* notify_check: addresses, host name, dates and Message-ID, before work. */
static bool
notify_check(struct notify_ctx *c, const char *from, const char *const *to,
    size_t nto, const char *hostname, char *err, size_t errlen)
{
	char		 tmp[ADDR_STR_MAX];
	const char	*why;
	size_t		 i;

	if ((why = notify_addr(from, c->from, sizeof(c->from))) != NULL) {
		str_printf(err, errlen, "notify: From: %s", why);
		return false;
	}
	for (i = 0; i < nto; i++)
		if ((why = notify_addr(to[i], tmp, sizeof(tmp))) != NULL) {
			str_printf(err, errlen, "notify: To: recipient %zu: %s",
			    i + 1, why);
			return false;
		}
	if (nto == 0)
		why = "no recipient";
	else if (hostname == NULL || !addr_is_domain(hostname, false, NULL))
		why = "bad host name";
	else if (!date_rfc5322(c->date, sizeof(c->date), time(NULL)) ||
	    (c->tok->date != 0 &&
	    !date_rfc5322(c->odate, sizeof(c->odate), c->tok->date)))
		why = "date cannot be formatted";
	else if (!notify_msgid_make(c->msgid, sizeof(c->msgid), hostname))
		why = "no Message-ID (RAND_bytes or host name)";
	if (why != NULL)
		str_printf(err, errlen, "notify: %s", why);
	return why == NULL;
}

/*
 * notify_text: the subject and the body expanded; the body cleaned to
 * CRLF lines of at most 998 octets, ending in one CRLF.
 */
static bool
notify_text(struct notify_ctx *c)
{
	const struct notify_template *t = c->t;
	const char	*subj = t->subject;
	struct buf	 x;
	uint8_t		 last;
	bool		 ok;

	if (subj == NULL && c->tok->rule_name != NULL &&
	    c->tok->rule_name[0] != '\0')
		subj = DEF_SUBJECT ": %RULE_NAME%";
	else if (subj == NULL)
		subj = DEF_SUBJECT;
	buf_init(&x, c->body.limit);
	ok = notify_expand(&c->subject, subj, c->tok, c->odate) &&
	    notify_expand(&x, t->body, c->tok, c->odate) &&
	    mimeenc_clean_utf8(&c->body, x.data, x.len, c->body.limit,
	    MIMEENC_TEXT);
	buf_free(&x);
	while (c->body.len > 0 && ((last = c->body.data[c->body.len - 1]) ==
	    '\r' || last == '\n' || last == ' ' || last == '\t'))
		c->body.len--;
	c->ascii = !mem_8bit(c->body.data, c->body.len);
	return ok && buf_addstr(&c->body, CRLF);
}

/* notify_to: "To:" with every recipient, folded between addresses. */
static bool
notify_to(struct buf *b, const char *const *to, size_t nto)
{
	char	 a[ADDR_STR_MAX];
	size_t	 i, n, col = 3;
	bool	 ok;

	ok = buf_addstr(b, "To:");
	for (i = 0; ok && i < nto; i++) {
		if (notify_addr(to[i], a, sizeof(a)) != NULL)
			fatalx("notify_to: recipient %zu changed", i);
		n = strlen(a);
		if (i > 0 && col + 2 + n > MIMEENC_FOLD_WIDTH) {
			ok = buf_addstr(b, "," CRLF " ");
			col = 1;
		} else {
			ok = buf_addstr(b, i > 0 ? ", " : " ");
			col += i > 0 ? 2 : 1;
		}
		ok = ok && buf_addstr(b, a);
		col += n;
	}
	return ok && buf_addstr(b, CRLF);
}

/* notify_write: the header block and the encoded body. */
static bool
notify_write(struct notify_ctx *c, const char *const *to, size_t nto,
    struct buf *out)
{
	return buf_printf(out, "Date: %s" CRLF "From: %s" CRLF, c->date,
	    c->from) && notify_to(out, to, nto) &&
	    mimeenc_header_text(out, "Subject", (const char *)c->subject.data,
	    c->subject.len, NOTIFY_SUBJECT_MAX) &&
	    buf_printf(out, "Message-ID: %s" CRLF "MIME-Version: 1.0" CRLF,
	    c->msgid) &&
	    buf_addstr(out, c->ascii ?
	    "Content-Type: text/plain; charset=us-ascii" CRLF
	    "Content-Transfer-Encoding: 7bit" CRLF :
	    "Content-Type: text/plain; charset=utf-8" CRLF
	    "Content-Transfer-Encoding: quoted-printable" CRLF) &&
	    buf_addstr(out, "Auto-Submitted: auto-generated" CRLF CRLF) &&
	    (c->ascii ? buf_add(out, c->body.data, c->body.len) :
	    mimeenc_qp(out, c->body.data, c->body.len));
}

/*
 * notify_build: append to out the notification from template t with the
 * tokens tok (NULL: all empty), From: from, To: the nto addresses in to
 * (bare addresses; never empty or "<>"), a Message-ID in hostname.  0, or
 * -1 with err and out unchanged.
 */
int
notify_build(const struct notify_template *t, const struct notify_tokens *tok,
    const char *from, const char *const *to, size_t nto, const char *hostname,
    struct buf *out, char *err, size_t errlen)
{
	static const struct notify_tokens none;
	struct notify_ctx c;
	size_t		 start = out->len;
	int		 rc = -1;

	memset(&c, 0, sizeof(c));
	c.t = t;
	c.tok = tok != NULL ? tok : &none;
	buf_init(&c.subject, out->limit);
	buf_init(&c.body, out->limit);
	if (!notify_check(&c, from, to, nto, hostname, err, errlen))
		goto done;
	if (!notify_text(&c) || !notify_write(&c, to, nto, out)) {
		str_printf(err, errlen, "notify: template %s: message over %zu "
		    "octets", t->name, out->limit);
		out->len = start;
		goto done;
	}
	rc = 0;
done:
	buf_free(&c.subject);
	buf_free(&c.body);
	return rc;
}
