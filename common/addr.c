/*
 * addr.c: RFC 5321 path parsing, canonical formatting and domain matching.
 *
 * The grammar (RFC 5321 4.1.2, with RFC 6531 for SMTPUTF8):
 *
 *   Path       = "<" [ A-d-l ":" ] Mailbox ">"     (source route dropped)
 *   Mailbox    = Local-part "@" ( Domain / address-literal )
 *   Local-part = Dot-string / Quoted-string
 *
 * The parser walks the bytes once, left to right, with an explicit end
 * pointer; every byte is classified, nothing is copied before its length
 * is known to fit.  Follows the RFC on which characters are atext: "$",
 * "/", "|", "`", "'", "&", "{", "}" are valid unquoted, "(" ")" "," ";"
 * ":" "<" ">" "[" "]" "@" are not.  Validity is not safety: see addr.h.
 *
 * Deliberate departures: an empty quoted local part ("") is rejected (no
 * mailbox is called that, and it keeps "empty local" meaning "none");
 * general address literals ("[tag:...]" other than IPv6) are rejected;
 * U-labels are checked for well-formed UTF-8 only (no IDNA tables here).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "addr.h"
#include "util.h"

struct addr_scan {
	const uint8_t		*p;	/* next byte */
	const uint8_t		*end;
	const struct addr_opts	*o;
	enum addr_form		 form;
};

static const struct addr_opts addr_opts_default = ADDR_OPTS_INIT;

static const char *addr_errstr[ADDR_E_MAX] = {
	[ADDR_OK] = "ok",
	[ADDR_E_EMPTY] = "empty address",
	[ADDR_E_NULL_PATH] = "null address not allowed here",
	[ADDR_E_BRACKETS] = "missing or misplaced angle bracket",
	[ADDR_E_TRAILING] = "characters after closing angle bracket",
	[ADDR_E_NUL] = "NUL character",
	[ADDR_E_CTRL] = "control character",
	[ADDR_E_SPACE] = "white space outside quotes",
	[ADDR_E_BACKSLASH] = "backslash outside quotes",
	[ADDR_E_8BIT] = "8-bit character without SMTPUTF8",
	[ADDR_E_UTF8] = "malformed UTF-8",
	[ADDR_E_ROUTE] = "malformed source route",
	[ADDR_E_LOCAL_EMPTY] = "missing local part",
	[ADDR_E_LOCAL_CHAR] = "invalid character in local part",
	[ADDR_E_DOT_LEADING] = "local part starts with a dot",
	[ADDR_E_DOT_DOUBLE] = "two dots in a row",
	[ADDR_E_DOT_TRAILING] = "dot right before @",
	[ADDR_E_QUOTE] = "misplaced quote",
	[ADDR_E_QUOTE_OPEN] = "unterminated quoted string",
	[ADDR_E_NO_DOMAIN] = "missing domain",
	[ADDR_E_DOMAIN_EMPTY] = "missing domain after @",
	[ADDR_E_DOMAIN_CHAR] = "invalid character in domain",
	[ADDR_E_LABEL_EMPTY] = "empty label in domain",
	[ADDR_E_LABEL_LONG] = "domain label longer than 63 characters",
	[ADDR_E_LABEL_HYPHEN] = "domain label starts or ends with a hyphen",
	[ADDR_E_DOMAIN_DOT] = "trailing dot in domain",
	[ADDR_E_LITERAL] = "invalid address literal",
	[ADDR_E_LOCAL_LONG] = "local part longer than 64 characters",
	[ADDR_E_DOMAIN_LONG] = "domain longer than 255 characters",
	[ADDR_E_PATH_LONG] = "address longer than 256 characters",
};

/* addr_strerror: short text for a 501 reply ("... syntax: <text>"). */
const char *
addr_strerror(enum addr_err e)
{
	if ((unsigned)e >= ADDR_E_MAX || addr_errstr[e] == NULL)
		return "invalid address";
	return addr_errstr[e];
}

/* is_atext: RFC 5322 atext, ASCII part. */
static bool
is_atext(uint8_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* is_ldh: letter, digit or hyphen. */
static bool
is_ldh(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/*
 * utf8_len: length of the well-formed UTF-8 sequence at p (2..4), or 0
 * (ADDR_E_UTF8) for overlongs, surrogates, values past U+10FFFF, stray
 * continuation bytes and truncation.  *c1 is set for U+0080..U+009F.
 */
static size_t
utf8_len(const uint8_t *p, const uint8_t *end, bool *c1)
{
	uint32_t	 cp;
	size_t		 n, i;

	*c1 = false;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	*c1 = cp <= 0x9f;
	return n;
}

/*
 * utf8_step: check the non-ASCII character at p; on success *n is its
 * length.  Without SMTPUTF8 any 8-bit byte is an error.
 */
static enum addr_err
utf8_step(const uint8_t *p, const uint8_t *end, bool utf8, size_t *n)
{
	bool	 c1;

	if (!utf8)
		return ADDR_E_8BIT;
	if ((*n = utf8_len(p, end, &c1)) == 0)
		return ADDR_E_UTF8;
	return c1 ? ADDR_E_CTRL : ADDR_OK;
}

/* bad_char: the most telling error for byte c, else dflt. */
static enum addr_err
bad_char(uint8_t c, enum addr_err dflt)
{
	if (c == '\0')
		return ADDR_E_NUL;
	if (c < 0x20 || c == 0x7f)
		return c == '\t' ? ADDR_E_SPACE : ADDR_E_CTRL;
	if (c == ' ')
		return ADDR_E_SPACE;
	if (c == '\\')
		return ADDR_E_BACKSLASH;
	if (c == '<' || c == '>')
		return ADDR_E_BRACKETS;
	if (c == '"')
		return ADDR_E_QUOTE;
	if (c >= 0x80)
		return ADDR_E_8BIT;
	return dflt;
}

/* scan_at_term: true at the end of the path text ("" or ">"). */
static bool
scan_at_term(const struct addr_scan *sc)
{
	if (sc->p == sc->end)
		return true;
	return sc->form == ADDR_PATH && *sc->p == '>';
}

/*
 * domain_check: validate a hostname (LDH labels, U-labels with utf8),
 * 1..63 octets a label, at most 255 in all, no trailing dot.
 */
static enum addr_err
domain_check(const uint8_t *s, size_t n, bool utf8)
{
	const uint8_t	*p = s, *end = s + n, *label = s;
	enum addr_err	 e;
	size_t		 cn;

	if (n == 0)
		return ADDR_E_DOMAIN_EMPTY;
	if (n > ADDR_DOMAIN_MAX)
		return ADDR_E_DOMAIN_LONG;
	for (;;) {
		if (p == end || *p == '.') {
			if (p == label)
				return p == end ? ADDR_E_DOMAIN_DOT :
				    ADDR_E_LABEL_EMPTY;
			if (p - label > 63)
				return ADDR_E_LABEL_LONG;
			if (*label == '-' || p[-1] == '-')
				return ADDR_E_LABEL_HYPHEN;
			if (p == end)
				return ADDR_OK;
			label = ++p;
			continue;
		}
		if (*p >= 0x80) {
			if ((e = utf8_step(p, end, utf8, &cn)) != ADDR_OK)
				return e;
			p += cn;
		} else if (is_ldh(*p))
			p++;
		else
			return bad_char(*p, ADDR_E_DOMAIN_CHAR);
	}
}

/* domain_span: length of the run of bytes that may belong to a hostname. */
static size_t
domain_span(const uint8_t *p, const uint8_t *end)
{
	const uint8_t	*s = p;

	while (p < end && (is_ldh(*p) || *p == '.' || *p >= 0x80))
		p++;
	return p - s;
}

/* copy_lower: store a validated domain, ASCII lowercased. */
static void
copy_lower(char *dst, const uint8_t *s, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		dst[i] = (s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i];
	dst[n] = '\0';
}

/*
 * parse_literal: "[192.0.2.1]" or "[IPv6:...]", checked with inet_pton and
 * stored in inet_ntop's canonical spelling.
 */
static enum addr_err
parse_literal(struct addr_scan *sc, struct addr *a)
{
	const uint8_t	*s = ++sc->p;
	char		 txt[64], out[INET6_ADDRSTRLEN];
	unsigned char	 bin[16];
	size_t		 n;
	bool		 v6;

	while (sc->p < sc->end && *sc->p != ']') {
		if (*sc->p <= ' ' || *sc->p >= 0x7f || *sc->p == '[' ||
		    *sc->p == '\\')
			return bad_char(*sc->p, ADDR_E_LITERAL);
		sc->p++;
	}
	if (sc->p == sc->end)
		return ADDR_E_LITERAL;
	n = sc->p++ - s;
	if (n >= sizeof(txt))
		return ADDR_E_LITERAL;
	v6 = n >= 5 && strncasecmp((const char *)s, "IPv6:", 5) == 0;
	if (v6) {
		s += 5;
		n -= 5;
	}
	memcpy(txt, s, n);
	txt[n] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, txt, bin) != 1 ||
	    inet_ntop(v6 ? AF_INET6 : AF_INET, bin, out, sizeof(out)) == NULL)
		return ADDR_E_LITERAL;
	if (!str_printf(a->domain, sizeof(a->domain), "[%s%s]",
	    v6 ? "IPv6:" : "", out))
		return ADDR_E_LITERAL;
	a->flags |= ADDR_F_LITERAL;
	return ADDR_OK;
}

/* parse_domain: the part after "@", up to the end of the path. */
static enum addr_err
parse_domain(struct addr_scan *sc, struct addr *a)
{
	const uint8_t	*s = sc->p;
	enum addr_err	 e;
	size_t		 n;

	if (sc->p < sc->end && *sc->p == '[') {
		if ((e = parse_literal(sc, a)) != ADDR_OK)
			return e;
		return scan_at_term(sc) ? ADDR_OK :
		    bad_char(*sc->p, ADDR_E_LITERAL);
	}
	n = domain_span(sc->p, sc->end);
	sc->p += n;
	if (!scan_at_term(sc))
		return bad_char(*sc->p, ADDR_E_DOMAIN_CHAR);
	if ((e = domain_check(s, n, sc->o->smtputf8)) != ADDR_OK)
		return e;
	copy_lower(a->domain, s, n);
	return ADDR_OK;
}

/*
 * parse_route: "@a.example,@b.example:" before the mailbox; validated and
 * dropped (RFC 5321 4.1.2 and appendix C).
 */
static enum addr_err
parse_route(struct addr_scan *sc, struct addr *a)
{
	enum addr_err	 e;
	size_t		 n;
	bool		 first = true;

	while (sc->p < sc->end && *sc->p == '@') {
		sc->p++;
		n = domain_span(sc->p, sc->end);
		if (first && n > 0 && sc->p + n == sc->end)
			return ADDR_E_LOCAL_EMPTY;	/* "@x.example" */
		if ((e = domain_check(sc->p, n, sc->o->smtputf8)) != ADDR_OK)
			return n == 0 ? ADDR_E_ROUTE : e;
		sc->p += n;
		if (first && scan_at_term(sc))
			return ADDR_E_LOCAL_EMPTY;	/* "<@x.example>" */
		first = false;
		if (sc->p == sc->end)
			return ADDR_E_ROUTE;
		if (*sc->p == ':') {
			sc->p++;
			a->flags |= ADDR_F_ROUTE;
			return scan_at_term(sc) ? ADDR_E_ROUTE : ADDR_OK;
		}
		if (*sc->p != ',')
			return bad_char(*sc->p, ADDR_E_ROUTE);
		sc->p++;
		if (sc->p == sc->end || *sc->p != '@')
			return ADDR_E_ROUTE;
	}
	return ADDR_OK;
}

/*
 * dots_check: CheckDotInMailAddress on an unquoted local part: no leading
 * dot, no "..", no dot right before "@".
 */
static enum addr_err
dots_check(const char *s, size_t n)
{
	size_t	 i;

	if (n > 0 && s[0] == '.')
		return ADDR_E_DOT_LEADING;
	for (i = 1; i < n; i++)
		if (s[i] == '.' && s[i - 1] == '.')
			return ADDR_E_DOT_DOUBLE;
	if (n > 0 && s[n - 1] == '.')
		return ADDR_E_DOT_TRAILING;
	return ADDR_OK;
}

/* parse_dotstring: an unquoted local part (atext, dots, UTF-8). */
static enum addr_err
parse_dotstring(struct addr_scan *sc, struct addr *a)
{
	const uint8_t	*s = sc->p;
	enum addr_err	 e;
	size_t		 n, cn;

	while (sc->p < sc->end) {
		if (*sc->p >= 0x80) {
			e = utf8_step(sc->p, sc->end, sc->o->smtputf8, &cn);
			if (e != ADDR_OK)
				return e;
			sc->p += cn;
		} else if (is_atext(*sc->p) || *sc->p == '.')
			sc->p++;
		else
			break;
	}
	n = sc->p - s;
	if (n == 0)
		return scan_at_term(sc) || *sc->p == '@' ? ADDR_E_LOCAL_EMPTY :
		    bad_char(*sc->p, ADDR_E_LOCAL_CHAR);
	if (sc->p < sc->end && *sc->p != '@' && !scan_at_term(sc))
		return bad_char(*sc->p, ADDR_E_LOCAL_CHAR);
	if (n > ADDR_LOCAL_MAX)
		return ADDR_E_LOCAL_LONG;
	if (sc->o->check_dots &&
	    (e = dots_check((const char *)s, n)) != ADDR_OK)
		return e;
	memcpy(a->local, s, n);
	a->local[n] = '\0';
	return ADDR_OK;
}

/*
 * parse_quoted: a Quoted-string local part; stores the content with
 * quoted-pairs resolved.  The 64-octet limit counts the quoted form.
 */
static enum addr_err
parse_quoted(struct addr_scan *sc, struct addr *a)
{
	const uint8_t	*s = sc->p++;
	enum addr_err	 e;
	size_t		 len = 0, cn;

	for (;;) {
		if (sc->p - s > ADDR_LOCAL_MAX)
			return ADDR_E_LOCAL_LONG;
		if (sc->p == sc->end)
			return ADDR_E_QUOTE_OPEN;
		if (*sc->p == '"')
			break;
		if (*sc->p == '\\') {
			if (++sc->p == sc->end)
				return ADDR_E_QUOTE_OPEN;
			if (*sc->p < 0x20 || *sc->p > 0x7e)
				return *sc->p == '\0' ? ADDR_E_NUL :
				    *sc->p >= 0x80 ? ADDR_E_LOCAL_CHAR :
				    ADDR_E_CTRL;
			cn = 1;
		} else if (*sc->p >= 0x80) {
			e = utf8_step(sc->p, sc->end, sc->o->smtputf8, &cn);
			if (e != ADDR_OK)
				return e;
		} else if (*sc->p >= 0x20 && *sc->p <= 0x7e)
			cn = 1;
		else
			return *sc->p == '\0' ? ADDR_E_NUL : ADDR_E_CTRL;
		if (len + cn > ADDR_LOCAL_MAX)
			return ADDR_E_LOCAL_LONG;
		memcpy(a->local + len, sc->p, cn);
		len += cn;
		sc->p += cn;
	}
	sc->p++;
	if (sc->p - s > ADDR_LOCAL_MAX)
		return ADDR_E_LOCAL_LONG;
	a->local[len] = '\0';
	if (len == 0)
		return ADDR_E_LOCAL_EMPTY;
	if (sc->p < sc->end && *sc->p != '@' && !scan_at_term(sc))
		return ADDR_E_QUOTE;
	return ADDR_OK;
}

/*
 * local_dotstring: whether s would be read back unquoted as the same
 * local part: a Dot-string (strict: RFC 5321; loose: any dots).
 */
static bool
local_dotstring(const char *s, bool loose)
{
	const uint8_t	*p = (const uint8_t *)s, *end = p + strlen(s);
	size_t		 cn;

	if (p == end || (!loose && dots_check(s, end - p) != ADDR_OK))
		return false;
	while (p < end) {
		if (*p >= 0x80) {
			if (utf8_step(p, end, true, &cn) != ADDR_OK)
				return false;
			p += cn;
		} else if (is_atext(*p) || *p == '.')
			p++;
		else
			return false;
	}
	return true;
}

/* canon_len: octets of the local part as addr_format() writes it. */
static size_t
canon_len(const struct addr *a)
{
	const char	*p;
	size_t		 n = strlen(a->local);

	if (!(a->flags & ADDR_F_QUOTED))
		return n;
	for (p = a->local; *p != '\0'; p++)
		if (*p == '"' || *p == '\\')
			n++;
	return n + 2;
}

/*
 * parse_mailbox: Local-part ["@" Domain] after any source route.  The
 * limits hold for the canonical form too ("a..b" accepted with the dot
 * check off is written "\"a..b\""), so whatever we accept we can relay
 * within RFC 5321's limits.
 */
static enum addr_err
parse_mailbox(struct addr_scan *sc, struct addr *a)
{
	enum addr_err	 e;

	if (sc->p < sc->end && *sc->p == '"')
		e = parse_quoted(sc, a);
	else
		e = parse_dotstring(sc, a);
	if (e != ADDR_OK)
		return e;
	if (!local_dotstring(a->local, false))
		a->flags |= ADDR_F_QUOTED;
	if (canon_len(a) > ADDR_LOCAL_MAX)
		return ADDR_E_LOCAL_LONG;
	if (sc->p < sc->end && *sc->p == '@') {
		sc->p++;
		if (scan_at_term(sc))
			return ADDR_E_DOMAIN_EMPTY;
		if ((e = parse_domain(sc, a)) != ADDR_OK)
			return e;
	} else if (!sc->o->allow_no_domain)
		return ADDR_E_NO_DOMAIN;
	if (mem_8bit(a->local, strlen(a->local)) ||
	    mem_8bit(a->domain, strlen(a->domain)))
		a->flags |= ADDR_F_UTF8;
	if (2 + canon_len(a) + (a->domain[0] != '\0' ? 1 : 0) +
	    strlen(a->domain) > ADDR_PATH_MAX)
		return ADDR_E_PATH_LONG;
	return ADDR_OK;
}

/* parse_path: the whole text, brackets (ADDR_PATH) and route included. */
static enum addr_err
parse_path(struct addr_scan *sc, struct addr *a)
{
	enum addr_err	 e;

	if (sc->form == ADDR_PATH) {
		if (sc->p == sc->end)
			return ADDR_E_EMPTY;
		if (*sc->p != '<')
			return ADDR_E_BRACKETS;
		sc->p++;
	}
	if (scan_at_term(sc)) {
		if (sc->form == ADDR_PATH && sc->p == sc->end)
			return ADDR_E_BRACKETS;
		if (!sc->o->allow_null)
			return sc->form == ADDR_BARE ? ADDR_E_EMPTY :
			    ADDR_E_NULL_PATH;
		a->flags |= ADDR_F_NULL;
	} else {
		if ((e = parse_route(sc, a)) != ADDR_OK ||
		    (e = parse_mailbox(sc, a)) != ADDR_OK)
			return e;
	}
	if (sc->form == ADDR_PATH) {
		if (sc->p == sc->end || *sc->p != '>')
			return ADDR_E_BRACKETS;
		sc->p++;
	}
	if (sc->p != sc->end)
		return sc->form == ADDR_PATH ? ADDR_E_TRAILING :
		    bad_char(*sc->p, ADDR_E_DOMAIN_CHAR);
	return ADDR_OK;
}

/*
 * addr_parse: parse len bytes of s as a path in the given form.  On error
 * *a is left empty (not half filled), so it is still safe to format.
 */
enum addr_err
addr_parse(struct addr *a, const char *s, size_t len, enum addr_form form,
    const struct addr_opts *o)
{
	struct addr_scan sc;
	enum addr_err	 e;

	memset(a, 0, sizeof(*a));
	sc.p = (const uint8_t *)s;
	sc.end = sc.p + len;
	sc.o = o != NULL ? o : &addr_opts_default;
	sc.form = form;
	e = parse_path(&sc, a);
	if (e == ADDR_OK &&
	    len + (form == ADDR_BARE ? 2 : 0) > ADDR_PATH_MAX)
		e = ADDR_E_PATH_LONG;
	if (e != ADDR_OK)
		memset(a, 0, sizeof(*a));
	return e;
}

/* domain_valid: whether a stored domain (hostname or literal) is sane. */
static bool
domain_valid(const char *d, size_t n)
{
	size_t	 i;

	if (n > 0 && d[0] == '[') {
		if (n < 3 || d[n - 1] != ']')
			return false;
		for (i = 1; i < n - 1; i++)
			if (d[i] <= ' ' || d[i] >= 0x7f || d[i] == '[' ||
			    d[i] == ']' || d[i] == '\\')
				return false;
		return true;
	}
	return domain_check((const uint8_t *)d, n, true) == ADDR_OK;
}

/* fmt_local: append the local part, quoted when it must be. */
static bool
fmt_local(struct buf *b, const char *l, unsigned fl)
{
	const uint8_t	*p, *end;
	size_t		 cn;

	if (local_dotstring(l, (fl & ADDR_FMT_DOTS_ASIS) != 0))
		return buf_addstr(b, l);
	if (!buf_addstr(b, "\""))
		return false;
	p = (const uint8_t *)l;
	end = p + strlen(l);
	while (p < end) {
		if (*p >= 0x80) {
			/* Refuse what no SMTP peer could read back. */
			if (utf8_step(p, end, true, &cn) != ADDR_OK ||
			    !buf_add(b, p, cn))
				return false;
			p += cn;
			continue;
		}
		if (*p < 0x20 || *p == 0x7f)
			return false;
		if ((*p == '"' || *p == '\\') && !buf_add(b, "\\", 1))
			return false;
		if (!buf_add(b, p++, 1))
			return false;
	}
	return buf_addstr(b, "\"");
}

/*
 * addr_format: canonical "local@domain" (or "local" without a domain, ""
 * for the null path), quoting the local part when needed, into dst.
 * Returns false, with dst set to "", if it does not fit or the struct
 * holds something no valid address has: never a truncated address.
 */
bool
addr_format(char *dst, size_t size, const struct addr *a, unsigned fl)
{
	struct buf	 b;
	size_t		 ln, dn;
	bool		 ok = true;

	if (size > 0)
		dst[0] = '\0';
	ln = strnlen(a->local, sizeof(a->local));
	dn = strnlen(a->domain, sizeof(a->domain));
	if (ln == sizeof(a->local) || dn == sizeof(a->domain) ||
	    (ln == 0 && dn > 0) || (dn > 0 && !domain_valid(a->domain, dn)))
		return false;
	buf_init(&b, ADDR_STR_MAX);
	if (fl & ADDR_FMT_ANGLE)
		ok = buf_addstr(&b, "<");
	if (ok && ln > 0)
		ok = fmt_local(&b, a->local, fl);
	if (ok && dn > 0)
		ok = buf_addstr(&b, "@") && buf_addstr(&b, a->domain);
	if (ok && (fl & ADDR_FMT_ANGLE))
		ok = buf_addstr(&b, ">");
	if (ok)
		ok = str_lcpy(dst, buf_cstr(&b), size) < size;
	if (!ok && size > 0)
		dst[0] = '\0';
	buf_free(&b);
	return ok;
}

/*
 * addr_is_domain: whether name is a valid hostname (no literal, no
 * trailing dot); U-labels only with utf8.  *why (if not NULL) says why not.
 */
bool
addr_is_domain(const char *name, bool utf8, enum addr_err *why)
{
	enum addr_err	 e;

	e = domain_check((const uint8_t *)name, strlen(name), utf8);
	if (why != NULL)
		*why = e;
	return e == ADDR_OK;
}

/*
 * addr_set_domain: give an address a domain (the default domain appended
 * to a domainless sender); checked, lowercased, and kept within the path
 * limit.  The address is unchanged on error.
 */
enum addr_err
addr_set_domain(struct addr *a, const char *domain, bool utf8)
{
	enum addr_err	 e;
	size_t		 ln, dn = strlen(domain);
	char		 tmp[ADDR_STR_MAX];

	if (a->flags & ADDR_F_NULL)
		return ADDR_E_NULL_PATH;
	if (!addr_is_domain(domain, utf8, &e))
		return e;
	ln = strnlen(a->local, sizeof(a->local));
	if (ln == 0 || ln == sizeof(a->local))
		return ADDR_E_LOCAL_EMPTY;
	if (!addr_format(tmp, sizeof(tmp), a, 0))
		return ADDR_E_LOCAL_CHAR;
	if (strlen(tmp) + 1 + dn + 2 > ADDR_PATH_MAX)
		return ADDR_E_PATH_LONG;
	copy_lower(a->domain, (const uint8_t *)domain, dn);
	a->flags &= ~(ADDR_F_LITERAL | ADDR_F_UTF8);
	if (mem_8bit(a->local, strlen(a->local)) ||
	    mem_8bit(a->domain, strlen(a->domain)))
		a->flags |= ADDR_F_UTF8;
	return ADDR_OK;
}

/* ascii_caseeq: n bytes equal, ASCII letters compared without case. */
static bool
ascii_caseeq(const char *a, const char *b, size_t n)
{
	size_t	 i;
	uint8_t	 x, y;

	for (i = 0; i < n; i++) {
		x = a[i];
		y = b[i];
		if (x >= 'A' && x <= 'Z')
			x += 32;
		if (y >= 'A' && y <= 'Z')
			y += 32;
		if (x != y)
			return false;
	}
	return true;
}

/* addr_domain_eq: domains equal, ASCII case-insensitive (bytes otherwise). */
bool
addr_domain_eq(const char *a, const char *b)
{
	size_t	 n = strlen(a);

	return n == strlen(b) && ascii_caseeq(a, b, n);
}

/*
 * addr_domain_match: "example.com" matches that domain only;
 * ".example.com" and "*.example.com" match its subdomains (not itself).
 * An empty domain or pattern never matches.
 */
bool
addr_domain_match(const char *pattern, const char *domain)
{
	size_t	 pn, dn = strlen(domain);

	if (*pattern == '*') {
		if (pattern[1] != '.')
			return false;
		pattern++;
	}
	pn = strlen(pattern);
	if (pn == 0 || dn == 0)
		return false;
	if (*pattern != '.')
		return addr_domain_eq(pattern, domain);
	if (pn == 1 || dn <= pn)
		return false;
	return domain[dn - pn - 1] != '.' &&
	    ascii_caseeq(domain + dn - pn, pattern, pn);
}
