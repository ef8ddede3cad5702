/*
 * test_addr.c: the RFC 5321 path parser (common/addr.c): valid and invalid
 * paths of every kind, CheckDotInMailAddress (seed 3), senders without a
 * domain (seed 18), SMTPUTF8, length limits, hostile inputs, formatting
 * round trips and the domain helpers.
 */
#include <string.h>

#include "addr.h"
#include "test.h"
#include "util.h"

/* Option bits for the table: which addr_opts a row runs with. */
#define O_NODOTS	0x01	/* CheckDotInMailAddress=0 */
#define O_NULL		0x02
#define O_NODOM		0x04
#define O_UTF8		0x08
#define O_BARE		0x10	/* input without angle brackets */

#define S(x)	x, sizeof(x) - 1	/* literal with its true length */

struct row {
	const char	*in;
	size_t		 len;
	int		 opt;
	enum addr_err	 err;
	const char	*local;		/* expected, when err == ADDR_OK */
	const char	*domain;
	unsigned	 flags;
	const char	*fmt;		/* addr_format(.., 0), NULL: skip */
};

static const struct row rows[] = {
	/* Plain mailboxes. */
	{ S("<alice@example.com>"), 0, ADDR_OK, "alice", "example.com", 0,
	    "alice@example.com" },
	{ S("<Alice@Example.COM>"), 0, ADDR_OK, "Alice", "example.com", 0,
	    "Alice@example.com" },
	{ S("alice@example.com"), O_BARE, ADDR_OK, "alice", "example.com", 0,
	    "alice@example.com" },
	{ S("<a.b.c@x.example>"), 0, ADDR_OK, "a.b.c", "x.example", 0, NULL },
	{ S("<a+tag@x.example>"), 0, ADDR_OK, "a+tag", "x.example", 0, NULL },
	{ S("<!#$%&'*+-/=?^_`{|}~@x.example>"), 0, ADDR_OK,
	    "!#$%&'*+-/=?^_`{|}~", "x.example", 0, NULL },
	{ S("<x@localhost>"), 0, ADDR_OK, "x", "localhost", 0, NULL },
	{ S("<x@a-b.example>"), 0, ADDR_OK, "x", "a-b.example", 0, NULL },
	{ S("<x@1.2.3.4>"), 0, ADDR_OK, "x", "1.2.3.4", 0, NULL },
	{ S("<x@a--b.xn--p1ai>"), 0, ADDR_OK, "x", "a--b.xn--p1ai", 0, NULL },

	/* RFC atext includes shell characters; "(" ")" are not atext. */
	{ S("<$USER@x.example>"), 0, ADDR_OK, "$USER", "x.example", 0, NULL },
	{ S("<a|b@x.example>"), 0, ADDR_OK, "a|b", "x.example", 0, NULL },
	{ S("<`id`@x.example>"), 0, ADDR_OK, "`id`", "x.example", 0, NULL },
	{ S("<$(id)@x>"), 0, ADDR_E_LOCAL_CHAR, NULL, NULL, 0, NULL },
	{ S("<\"$(id)\"@x.example>"), 0, ADDR_OK, "$(id)", "x.example",
	    ADDR_F_QUOTED, "\"$(id)\"@x.example" },
	{ S("<\"a;rm -rf /\"@x.example>"), 0, ADDR_OK, "a;rm -rf /",
	    "x.example", ADDR_F_QUOTED, "\"a;rm -rf /\"@x.example" },
	{ S("<a@b.example>;rm -rf /"), 0, ADDR_E_TRAILING, NULL, NULL, 0,
	    NULL },
	{ S("<a;rm@b.example>"), 0, ADDR_E_LOCAL_CHAR, NULL, NULL, 0, NULL },
	{ S("<a@b.example;rm>"), 0, ADDR_E_DOMAIN_CHAR, NULL, NULL, 0, NULL },

	/* Path traversal is a valid local part; never use it as a path. */
	{ S("<etc/passwd@x.example>"), 0, ADDR_OK, "etc/passwd", "x.example",
	    0, "etc/passwd@x.example" },
	{ S("<../../etc/passwd@x.example>"), 0, ADDR_E_DOT_LEADING, NULL,
	    NULL, 0, NULL },
	{ S("<../../etc/passwd@x.example>"), O_NODOTS, ADDR_OK,
	    "../../etc/passwd", "x.example", ADDR_F_QUOTED,
	    "\"../../etc/passwd\"@x.example" },
	{ S("<\"../../etc/passwd\"@x.example>"), 0, ADDR_OK,
	    "../../etc/passwd", "x.example", ADDR_F_QUOTED,
	    "\"../../etc/passwd\"@x.example" },

	/* Domains. */
	{ S("<x@-ab.example>"), 0, ADDR_E_LABEL_HYPHEN, NULL, NULL, 0, NULL },
	{ S("<x@ab-.example>"), 0, ADDR_E_LABEL_HYPHEN, NULL, NULL, 0, NULL },
	{ S("<x@a..example>"), 0, ADDR_E_LABEL_EMPTY, NULL, NULL, 0, NULL },
	{ S("<x@.example>"), 0, ADDR_E_LABEL_EMPTY, NULL, NULL, 0, NULL },
	{ S("<x@example.>"), 0, ADDR_E_DOMAIN_DOT, NULL, NULL, 0, NULL },
	{ S("<x@exa_mple.com>"), 0, ADDR_E_DOMAIN_CHAR, NULL, NULL, 0, NULL },
	{ S("<x@exa mple.com>"), 0, ADDR_E_SPACE, NULL, NULL, 0, NULL },
	{ S("<x@>"), 0, ADDR_E_DOMAIN_EMPTY, NULL, NULL, 0, NULL },
	{ S("x@"), O_BARE, ADDR_E_DOMAIN_EMPTY, NULL, NULL, 0, NULL },
	{ S("<@x.example>"), 0, ADDR_E_LOCAL_EMPTY, NULL, NULL, 0, NULL },
	{ S("@x.example"), O_BARE, ADDR_E_LOCAL_EMPTY, NULL, NULL, 0, NULL },
	{ S("<x@@y.example>"), 0, ADDR_E_DOMAIN_CHAR, NULL, NULL, 0, NULL },
	{ S("<x@y@z.example>"), 0, ADDR_E_DOMAIN_CHAR, NULL, NULL, 0, NULL },
	{ S("<x@y.example\\>"), 0, ADDR_E_BACKSLASH, NULL, NULL, 0, NULL },

	/* The null path and brackets. */
	{ S("<>"), O_NULL, ADDR_OK, "", "", ADDR_F_NULL, "" },
	{ S("<>"), 0, ADDR_E_NULL_PATH, NULL, NULL, 0, NULL },
	{ S(""), O_BARE | O_NULL, ADDR_OK, "", "", ADDR_F_NULL, "" },
	{ S(""), O_BARE, ADDR_E_EMPTY, NULL, NULL, 0, NULL },
	{ S(""), 0, ADDR_E_EMPTY, NULL, NULL, 0, NULL },
	{ S("<> "), O_NULL, ADDR_E_TRAILING, NULL, NULL, 0, NULL },
	{ S("<"), O_NULL, ADDR_E_BRACKETS, NULL, NULL, 0, NULL },
	{ S("<alice@x.example"), 0, ADDR_E_BRACKETS, NULL, NULL, 0, NULL },
	{ S("alice@x.example>"), 0, ADDR_E_BRACKETS, NULL, NULL, 0, NULL },
	{ S("alice@x.example"), 0, ADDR_E_BRACKETS, NULL, NULL, 0, NULL },
	{ S("<<alice@x.example>>"), 0, ADDR_E_BRACKETS, NULL, NULL, 0, NULL },
	{ S("alice@x.example>"), O_BARE, ADDR_E_BRACKETS, NULL, NULL, 0,
	    NULL },
	{ S("<alice@x.example>"), O_BARE, ADDR_E_BRACKETS, NULL, NULL, 0,
	    NULL },
	{ S("<a@b.example> "), 0, ADDR_E_TRAILING, NULL, NULL, 0, NULL },
	{ S(" <a@b.example>"), 0, ADDR_E_BRACKETS, NULL, NULL, 0, NULL },
	{ S("<a@b.example >"), 0, ADDR_E_SPACE, NULL, NULL, 0, NULL },
	{ S("<a@b.example> SIZE=100"), 0, ADDR_E_TRAILING, NULL, NULL, 0,
	    NULL },

	/* Seed 18: a sender without a domain. */
	{ S("<alice>"), 0, ADDR_E_NO_DOMAIN, NULL, NULL, 0, NULL },
	{ S("<alice>"), O_NODOM, ADDR_OK, "alice", "", 0, "alice" },
	{ S("alice"), O_BARE | O_NODOM, ADDR_OK, "alice", "", 0, "alice" },
	{ S("<\"alice smith\">"), O_NODOM, ADDR_OK, "alice smith", "",
	    ADDR_F_QUOTED, "\"alice smith\"" },
	{ S("<alice.>"), O_NODOM, ADDR_E_DOT_TRAILING, NULL, NULL, 0, NULL },
	{ S("<alice>x"), O_NODOM, ADDR_E_TRAILING, NULL, NULL, 0, NULL },

	/* Seed 3: CheckDotInMailAddress. */
	{ S("<a.@x.example>"), 0, ADDR_E_DOT_TRAILING, NULL, NULL, 0, NULL },
	{ S("<a..b@x.example>"), 0, ADDR_E_DOT_DOUBLE, NULL, NULL, 0, NULL },
	{ S("<.a@x.example>"), 0, ADDR_E_DOT_LEADING, NULL, NULL, 0, NULL },
	{ S("<a.@x.example>"), O_NODOTS, ADDR_OK, "a.", "x.example",
	    ADDR_F_QUOTED, "\"a.\"@x.example" },
	{ S("<a..b@x.example>"), O_NODOTS, ADDR_OK, "a..b", "x.example",
	    ADDR_F_QUOTED, "\"a..b\"@x.example" },
	{ S("<.a@x.example>"), O_NODOTS, ADDR_OK, ".a", "x.example",
	    ADDR_F_QUOTED, "\".a\"@x.example" },
	{ S("<...@x.example>"), O_NODOTS, ADDR_OK, "...", "x.example",
	    ADDR_F_QUOTED, NULL },
	{ S("<\"a..b\"@x.example>"), 0, ADDR_OK, "a..b", "x.example",
	    ADDR_F_QUOTED, "\"a..b\"@x.example" },
	{ S("<a..b@x..example>"), O_NODOTS, ADDR_E_LABEL_EMPTY, NULL, NULL, 0,
	    NULL },

	/* Source routes: accepted and dropped. */
	{ S("<@a.example,@b.example:user@c.example>"), 0, ADDR_OK, "user",
	    "c.example", ADDR_F_ROUTE, "user@c.example" },
	{ S("<@a.example:user@c.example>"), 0, ADDR_OK, "user", "c.example",
	    ADDR_F_ROUTE, NULL },
	{ S("@a.example:user@c.example"), O_BARE, ADDR_OK, "user",
	    "c.example", ADDR_F_ROUTE, NULL },
	{ S("<@a.example,b.example:user@c.example>"), 0, ADDR_E_ROUTE, NULL,
	    NULL, 0, NULL },
	{ S("<@a.example:>"), 0, ADDR_E_ROUTE, NULL, NULL, 0, NULL },
	{ S("<@a.example;user@c.example>"), 0, ADDR_E_ROUTE, NULL, NULL, 0,
	    NULL },
	{ S("<@:user@c.example>"), 0, ADDR_E_ROUTE, NULL, NULL, 0, NULL },
	{ S("<@[192.0.2.1]:user@c.example>"), 0, ADDR_E_ROUTE, NULL, NULL, 0,
	    NULL },
	{ S("<@a..example:user@c.example>"), 0, ADDR_E_LABEL_EMPTY, NULL,
	    NULL, 0, NULL },
	{ S("<@a.example,:user@c.example>"), 0, ADDR_E_ROUTE, NULL, NULL, 0,
	    NULL },
	{ S("<@a.example:@b.example:u@c.example>"), 0, ADDR_E_LOCAL_EMPTY,
	    NULL, NULL, 0, NULL },
	{ S("<@a.example:<>"), O_NULL, ADDR_E_BRACKETS, NULL, NULL, 0, NULL },

	/* Quoted local parts. */
	{ S("<\"john doe\"@x.example>"), 0, ADDR_OK, "john doe", "x.example",
	    ADDR_F_QUOTED, "\"john doe\"@x.example" },
	{ S("<\"a\\\"b\"@x>"), 0, ADDR_OK, "a\"b", "x", ADDR_F_QUOTED,
	    "\"a\\\"b\"@x" },
	{ S("<\"a\\\\b\"@x>"), 0, ADDR_OK, "a\\b", "x", ADDR_F_QUOTED,
	    "\"a\\\\b\"@x" },
	{ S("<\"abc\"@x.example>"), 0, ADDR_OK, "abc", "x.example", 0,
	    "abc@x.example" },
	{ S("<\"a\\bc\"@x.example>"), 0, ADDR_OK, "abc", "x.example", 0,
	    "abc@x.example" },
	{ S("<\"a@b\"@x.example>"), 0, ADDR_OK, "a@b", "x.example",
	    ADDR_F_QUOTED, "\"a@b\"@x.example" },
	{ S("<\"a>b\"@x.example>"), 0, ADDR_OK, "a>b", "x.example",
	    ADDR_F_QUOTED, "\"a>b\"@x.example" },
	{ S("<\"\"@x.example>"), 0, ADDR_E_LOCAL_EMPTY, NULL, NULL, 0, NULL },
	{ S("<\"abc@x.example>"), 0, ADDR_E_QUOTE_OPEN, NULL, NULL, 0, NULL },
	{ S("<\"abc\\"), 0, ADDR_E_QUOTE_OPEN, NULL, NULL, 0, NULL },
	{ S("<\"abc\"def@x.example>"), 0, ADDR_E_QUOTE, NULL, NULL, 0, NULL },
	{ S("<abc\"def\"@x.example>"), 0, ADDR_E_QUOTE, NULL, NULL, 0, NULL },
	{ S("<\"a\"\"b\"@x.example>"), 0, ADDR_E_QUOTE, NULL, NULL, 0, NULL },
	{ S("<\"a\tb\"@x.example>"), 0, ADDR_E_CTRL, NULL, NULL, 0, NULL },
	{ S("<\"a\\\x01\"@x.example>"), 0, ADDR_E_CTRL, NULL, NULL, 0, NULL },
	{ S("<\"a\x01\"@x.example>"), 0, ADDR_E_CTRL, NULL, NULL, 0, NULL },
	{ S("<\"a\r\nRSET\"@x.example>"), 0, ADDR_E_CTRL, NULL, NULL, 0,
	    NULL },

	/* Characters not allowed outside quotes. */
	{ S("<a\\b@x.example>"), 0, ADDR_E_BACKSLASH, NULL, NULL, 0, NULL },
	{ S("<a b@x.example>"), 0, ADDR_E_SPACE, NULL, NULL, 0, NULL },
	{ S("<a\tb@x.example>"), 0, ADDR_E_SPACE, NULL, NULL, 0, NULL },
	{ S("<a(b)@x.example>"), 0, ADDR_E_LOCAL_CHAR, NULL, NULL, 0, NULL },
	{ S("<a,b@x.example>"), 0, ADDR_E_LOCAL_CHAR, NULL, NULL, 0, NULL },
	{ S("<a:b@x.example>"), 0, ADDR_E_LOCAL_CHAR, NULL, NULL, 0, NULL },
	{ S("<a[b@x.example>"), 0, ADDR_E_LOCAL_CHAR, NULL, NULL, 0, NULL },
	{ S("<a\r\n@x.example>"), 0, ADDR_E_CTRL, NULL, NULL, 0, NULL },
	{ S("<a\x7f@x.example>"), 0, ADDR_E_CTRL, NULL, NULL, 0, NULL },
	{ S("<a\0b@x.example>"), 0, ADDR_E_NUL, NULL, NULL, 0, NULL },
	{ S("<ab@x.example\0>"), 0, ADDR_E_NUL, NULL, NULL, 0, NULL },
	{ S("<ab@x.example>\0"), 0, ADDR_E_TRAILING, NULL, NULL, 0, NULL },
	{ S("<\"a\0b\"@x.example>"), 0, ADDR_E_NUL, NULL, NULL, 0, NULL },

	/* Address literals. */
	{ S("<a@[192.0.2.1]>"), 0, ADDR_OK, "a", "[192.0.2.1]",
	    ADDR_F_LITERAL, "a@[192.0.2.1]" },
	{ S("<a@[IPv6:2001:db8::1]>"), 0, ADDR_OK, "a", "[IPv6:2001:db8::1]",
	    ADDR_F_LITERAL, NULL },
	{ S("<a@[ipv6:2001:DB8:0::1]>"), 0, ADDR_OK, "a",
	    "[IPv6:2001:db8::1]", ADDR_F_LITERAL, "a@[IPv6:2001:db8::1]" },
	{ S("<a@[IPv6:::ffff:192.0.2.1]>"), 0, ADDR_OK, "a",
	    "[IPv6:::ffff:192.0.2.1]", ADDR_F_LITERAL, NULL },
	{ S("<a@[300.1.1.1]>"), 0, ADDR_E_LITERAL, NULL, NULL, 0, NULL },
	{ S("<a@[IPv6:zz]>"), 0, ADDR_E_LITERAL, NULL, NULL, 0, NULL },
	{ S("<a@[IPv6:]>"), 0, ADDR_E_LITERAL, NULL, NULL, 0, NULL },
	{ S("<a@[]>"), 0, ADDR_E_LITERAL, NULL, NULL, 0, NULL },
	{ S("<a@[192.0.2.1>"), 0, ADDR_E_LITERAL, NULL, NULL, 0, NULL },
	{ S("<a@[192.0.2.1]x>"), 0, ADDR_E_LITERAL, NULL, NULL, 0, NULL },
	{ S("<a@[192.0.2]>"), 0, ADDR_E_LITERAL, NULL, NULL, 0, NULL },
	{ S("<a@[192.000.2.1]>"), 0, ADDR_E_LITERAL, NULL, NULL, 0, NULL },
	{ S("<a@[2001:db8::1]>"), 0, ADDR_E_LITERAL, NULL, NULL, 0, NULL },
	{ S("<a@[IPv6:1.2.3.4]>"), 0, ADDR_E_LITERAL, NULL, NULL, 0, NULL },
	{ S("<a@[IPv6:fe80::1%eth0]>"), 0, ADDR_E_LITERAL, NULL, NULL, 0,
	    NULL },
	{ S("<a@[x-tag:stuff]>"), 0, ADDR_E_LITERAL, NULL, NULL, 0, NULL },
	{ S("<a@[ 192.0.2.1]>"), 0, ADDR_E_SPACE, NULL, NULL, 0, NULL },
	{ S("<a@[192.0.2.1]"), 0, ADDR_E_BRACKETS, NULL, NULL, 0, NULL },

	/* SMTPUTF8. */
	{ S("<用户@例子.example>"), O_UTF8, ADDR_OK, "用户", "例子.example",
	    ADDR_F_UTF8, "用户@例子.example" },
	{ S("<用户@例子.example>"), 0, ADDR_E_8BIT, NULL, NULL, 0, NULL },
	{ S("<alice@例子.example>"), 0, ADDR_E_8BIT, NULL, NULL, 0, NULL },
	{ S("<a@Bücher.Example>"), O_UTF8, ADDR_OK, "a", "bücher.example",
	    ADDR_F_UTF8, NULL },
	{ S("<\"用户 名\"@x.example>"), O_UTF8, ADDR_OK, "用户 名",
	    "x.example", ADDR_F_UTF8 | ADDR_F_QUOTED, "\"用户 名\"@x.example" },
	{ S("<\"用户\"@x.example>"), 0, ADDR_E_8BIT, NULL, NULL, 0, NULL },
	{ S("<\xc0\xaf@x.example>"), O_UTF8, ADDR_E_UTF8, NULL, NULL, 0,
	    NULL },
	{ S("<\xe0\x80\xaf@x.example>"), O_UTF8, ADDR_E_UTF8, NULL, NULL, 0,
	    NULL },
	{ S("<\xf0\x80\x80\xaf@x.example>"), O_UTF8, ADDR_E_UTF8, NULL, NULL,
	    0, NULL },
	{ S("<\xed\xa0\x80@x.example>"), O_UTF8, ADDR_E_UTF8, NULL, NULL, 0,
	    NULL },
	{ S("<\xf4\x90\x80\x80@x.example>"), O_UTF8, ADDR_E_UTF8, NULL, NULL,
	    0, NULL },
	{ S("<a\x80@x.example>"), O_UTF8, ADDR_E_UTF8, NULL, NULL, 0, NULL },
	{ S("<a\xe4\xb8@x.example>"), O_UTF8, ADDR_E_UTF8, NULL, NULL, 0,
	    NULL },
	{ S("<a\xff@x.example>"), O_UTF8, ADDR_E_UTF8, NULL, NULL, 0, NULL },
	{ S("<a@\xe4\xb8.example>"), O_UTF8, ADDR_E_UTF8, NULL, NULL, 0,
	    NULL },
	{ S("<\xc2\x85@x.example>"), O_UTF8, ADDR_E_CTRL, NULL, NULL, 0,
	    NULL },
	{ S("<\"a\\\xc3\xa9\"@x.example>"), O_UTF8, ADDR_E_LOCAL_CHAR, NULL,
	    NULL, 0, NULL },
	{ S("<a@[IPv6:2001:db8::\xc3\xa9]>"), O_UTF8, ADDR_E_8BIT, NULL, NULL,
	    0, NULL },
	{ S("<\xf0\x9f\x93\xa7@x.example>"), O_UTF8, ADDR_OK,
	    "\xf0\x9f\x93\xa7", "x.example", ADDR_F_UTF8, NULL },
};

/* opts_for: the addr_opts a row's option bits stand for. */
static struct addr_opts
opts_for(int opt)
{
	struct addr_opts o = ADDR_OPTS_INIT;

	o.check_dots = !(opt & O_NODOTS);
	o.allow_null = (opt & O_NULL) != 0;
	o.allow_no_domain = (opt & O_NODOM) != 0;
	o.smtputf8 = (opt & O_UTF8) != 0;
	return o;
}

/* same_addr: equal up to the source-route flag, which formatting drops. */
static bool
same_addr(const struct addr *a, const struct addr *b)
{
	return strcmp(a->local, b->local) == 0 &&
	    strcmp(a->domain, b->domain) == 0 &&
	    (a->flags & ~ADDR_F_ROUTE) == (b->flags & ~ADDR_F_ROUTE);
}

/* Every row: error code, parsed fields, format, and format round trip. */
static void
t_table(void)
{
	struct addr_opts o;
	struct addr	 a, b;
	char		 out[ADDR_STR_MAX];
	size_t		 i;
	enum addr_err	 e;

	CHECKF(nitems(rows) >= 80, "%zu rows", nitems(rows));
	for (i = 0; i < nitems(rows); i++) {
		const struct row *r = &rows[i];

		o = opts_for(r->opt);
		e = addr_parse(&a, r->in, r->len,
		    (r->opt & O_BARE) ? ADDR_BARE : ADDR_PATH, &o);
		CHECKF(e == r->err, "row %zu \"%s\": got %d (%s), want %d (%s)",
		    i, r->in, e, addr_strerror(e), r->err,
		    addr_strerror(r->err));
		if (e != ADDR_OK) {
			CHECKF(a.local[0] == '\0' && a.domain[0] == '\0' &&
			    a.flags == 0, "row %zu: not cleared", i);
			continue;
		}
		if (r->err != ADDR_OK)
			continue;
		CHECKF(strcmp(a.local, r->local) == 0, "row %zu: local \"%s\"",
		    i, a.local);
		CHECKF(strcmp(a.domain, r->domain) == 0,
		    "row %zu: domain \"%s\"", i, a.domain);
		CHECKF(a.flags == r->flags, "row %zu: flags %#x", i, a.flags);
		CHECKF(addr_format(out, sizeof(out), &a, 0), "row %zu", i);
		if (r->fmt != NULL)
			CHECKF(strcmp(out, r->fmt) == 0, "row %zu: \"%s\"",
			    i, out);
		/* The canonical form reads back as the same address. */
		e = addr_parse(&b, out, strlen(out), ADDR_BARE, &o);
		CHECKF(e == ADDR_OK && same_addr(&a, &b),
		    "row %zu: round trip \"%s\": %s", i, out, addr_strerror(e));
		CHECKF(addr_format(out, sizeof(out), &a, ADDR_FMT_ANGLE),
		    "row %zu", i);
		e = addr_parse(&b, out, strlen(out), ADDR_PATH, &o);
		CHECKF(e == ADDR_OK && same_addr(&a, &b),
		    "row %zu: round trip \"%s\": %s", i, out, addr_strerror(e));
	}
}

/* rep: a string of n copies of c (n < size). */
static char *
rep(char *dst, size_t size, char c, size_t n)
{
	if (n >= size)
		n = size - 1;
	memset(dst, c, n);
	dst[n] = '\0';
	return dst;
}

/* domain_of: a hostname of exactly n octets made of 63-octet labels. */
static char *
domain_of(char *dst, size_t size, size_t n)
{
	size_t	 i;

	if (n >= size)
		n = size - 1;
	for (i = 0; i < n; i++)
		dst[i] = (i % 64 == 63) ? '.' : 'd';
	if (n > 0 && dst[n - 1] == '.')
		dst[n - 1] = 'e';
	dst[n] = '\0';
	return dst;
}

/* try: parse a NUL-terminated string with the default options. */
static enum addr_err
try(const char *s, enum addr_form form)
{
	struct addr	 a;

	return addr_parse(&a, s, strlen(s), form, NULL);
}

/* RFC 5321 4.5.3.1 limits, each at its edge. */
static void
t_limits(void)
{
	char	 l[200], d[400], p[800], q[100];
	struct addr a;
	enum addr_err e;

	/* Local part: 64 ok, 65 too long, quoted form counted. */
	rep(l, sizeof(l), 'a', 64);
	snprintf(p, sizeof(p), "<%s@x.example>", l);
	CHECK_INTEQ(try(p, ADDR_PATH), ADDR_OK);
	rep(l, sizeof(l), 'a', 65);
	snprintf(p, sizeof(p), "<%s@x.example>", l);
	CHECK_INTEQ(try(p, ADDR_PATH), ADDR_E_LOCAL_LONG);
	rep(q, sizeof(q), 'q', 62);
	snprintf(p, sizeof(p), "<\"%s\"@x.example>", q);
	CHECK_INTEQ(try(p, ADDR_PATH), ADDR_OK);
	rep(q, sizeof(q), 'q', 63);
	snprintf(p, sizeof(p), "<\"%s\"@x.example>", q);
	CHECK_INTEQ(try(p, ADDR_PATH), ADDR_E_LOCAL_LONG);
	rep(q, sizeof(q), 'q', 90);	/* unterminated and long */
	snprintf(p, sizeof(p), "<\"%s", q);
	CHECK_INTEQ(try(p, ADDR_PATH), ADDR_E_LOCAL_LONG);
	rep(q, sizeof(q), '"', 40);	/* "" then junk */
	snprintf(p, sizeof(p), "<\"%s", q);
	CHECK_INTEQ(try(p, ADDR_PATH), ADDR_E_LOCAL_EMPTY);

	/* With the dot check off, "a..b" is relayed as "\"a..b\"": the
	 * limits hold for that canonical form too. */
	{
		struct addr_opts off = ADDR_OPTS_INIT;

		off.check_dots = false;
		rep(l, sizeof(l), 'a', 62);
		l[1] = '.';
		l[2] = '.';
		snprintf(p, sizeof(p), "<%s@x.example>", l);
		CHECK_INTEQ(addr_parse(&a, p, strlen(p), ADDR_PATH, &off),
		    ADDR_OK);
		rep(l, sizeof(l), 'a', 63);
		l[1] = '.';
		l[2] = '.';
		snprintf(p, sizeof(p), "<%s@x.example>", l);
		CHECK_INTEQ(addr_parse(&a, p, strlen(p), ADDR_PATH, &off),
		    ADDR_E_LOCAL_LONG);
		rep(l, sizeof(l), 'a', 62);
		l[1] = '.';
		l[2] = '.';
		domain_of(d, sizeof(d), 256 - 2 - 64 - 1);
		snprintf(p, sizeof(p), "<%s@%s>", l, d);	/* 254 in */
		CHECK_INTEQ(addr_parse(&a, p, strlen(p), ADDR_PATH, &off),
		    ADDR_OK);
		domain_of(d, sizeof(d), 256 - 2 - 64);
		snprintf(p, sizeof(p), "<%s@%s>", l, d);	/* 255 in */
		CHECK_INTEQ(addr_parse(&a, p, strlen(p), ADDR_PATH, &off),
		    ADDR_E_PATH_LONG);
	}

	/* Labels: 63 ok, 64 too long. */
	rep(l, sizeof(l), 'b', 63);
	snprintf(p, sizeof(p), "<a@%s.example>", l);
	CHECK_INTEQ(try(p, ADDR_PATH), ADDR_OK);
	rep(l, sizeof(l), 'b', 64);
	snprintf(p, sizeof(p), "<a@%s.example>", l);
	CHECK_INTEQ(try(p, ADDR_PATH), ADDR_E_LABEL_LONG);

	/* Domain: 255 ok as a name, 256 too long; in a path the path limit
	 * comes first for 255, the domain limit is reported for 256. */
	domain_of(d, sizeof(d), 255);
	CHECK(addr_is_domain(d, false, NULL));
	snprintf(p, sizeof(p), "<a@%s>", d);
	CHECK_INTEQ(try(p, ADDR_PATH), ADDR_E_PATH_LONG);
	domain_of(d, sizeof(d), 256);
	CHECK(!addr_is_domain(d, false, &e));
	CHECK_INTEQ(e, ADDR_E_DOMAIN_LONG);
	snprintf(p, sizeof(p), "<a@%s>", d);
	CHECK_INTEQ(try(p, ADDR_PATH), ADDR_E_DOMAIN_LONG);

	/* Path: 256 ok, 257 too long; bare text counts the brackets. */
	rep(l, sizeof(l), 'a', 64);
	domain_of(d, sizeof(d), 256 - 2 - 64 - 1);
	snprintf(p, sizeof(p), "<%s@%s>", l, d);
	CHECK_INTEQ(strlen(p), 256);
	CHECK_INTEQ(try(p, ADDR_PATH), ADDR_OK);
	CHECK_INTEQ(try(p + 1, ADDR_BARE), ADDR_E_BRACKETS);
	snprintf(p, sizeof(p), "%s@%s", l, d);
	CHECK_INTEQ(try(p, ADDR_BARE), ADDR_OK);
	domain_of(d, sizeof(d), 256 - 2 - 64);
	snprintf(p, sizeof(p), "<%s@%s>", l, d);
	CHECK_INTEQ(strlen(p), 257);
	CHECK_INTEQ(try(p, ADDR_PATH), ADDR_E_PATH_LONG);
	snprintf(p, sizeof(p), "%s@%s", l, d);
	CHECK_INTEQ(try(p, ADDR_BARE), ADDR_E_PATH_LONG);

	/* A huge hostile input fails cleanly. */
	{
		static char big[100000];

		rep(big, sizeof(big), 'a', sizeof(big) - 1);
		CHECK_INTEQ(addr_parse(&a, big, sizeof(big) - 1, ADDR_BARE,
		    NULL), ADDR_E_LOCAL_LONG);
		big[0] = '<';
		big[1] = '"';
		CHECK_INTEQ(addr_parse(&a, big, sizeof(big) - 1, ADDR_PATH,
		    NULL), ADDR_E_LOCAL_LONG);
	}
}

/* Seed 3: CheckDotInMailAddress default on, "0" accepts, 501 text. */
static void
t_seed03_dot_in_address(void)
{
	struct addr_opts on = ADDR_OPTS_INIT, off = ADDR_OPTS_INIT;
	struct addr	 a;
	char		 out[ADDR_STR_MAX], reply[128];

	off.check_dots = false;
	CHECK(on.check_dots);
	CHECK_INTEQ(addr_parse(&a, S("<a.@x.example>"), ADDR_PATH, NULL),
	    ADDR_E_DOT_TRAILING);
	CHECK_INTEQ(addr_parse(&a, S("<a..b@x.example>"), ADDR_PATH, &on),
	    ADDR_E_DOT_DOUBLE);
	CHECK(str_printf(reply, sizeof(reply), "501 5.1.7 Bad sender address "
	    "syntax: %s", addr_strerror(ADDR_E_DOT_DOUBLE)));
	CHECK_STREQ(reply, "501 5.1.7 Bad sender address syntax: two dots in "
	    "a row");
	CHECK_STREQ(addr_strerror(ADDR_E_DOT_TRAILING), "dot right before @");

	/* Off: accepted; relayed as-is or, strictly, quoted. */
	CHECK_INTEQ(addr_parse(&a, S("<taro..yamada.@docomo.ne.jp>"),
	    ADDR_PATH, &off), ADDR_OK);
	CHECK_STREQ(a.local, "taro..yamada.");
	CHECK(addr_format(out, sizeof(out), &a, ADDR_FMT_DOTS_ASIS |
	    ADDR_FMT_ANGLE));
	CHECK_STREQ(out, "<taro..yamada.@docomo.ne.jp>");
	CHECK(addr_format(out, sizeof(out), &a, 0));
	CHECK_STREQ(out, "\"taro..yamada.\"@docomo.ne.jp");
	/* The strict form is acceptable even with the check on. */
	CHECK_INTEQ(addr_parse(&a, out, strlen(out), ADDR_BARE, &on), ADDR_OK);
	CHECK_STREQ(a.local, "taro..yamada.");

	/* "../../etc/passwd" round-trips unchanged: it is data, not a path. */
	CHECK_INTEQ(addr_parse(&a, S("<../../etc/passwd@x.example>"),
	    ADDR_PATH, &off), ADDR_OK);
	CHECK(addr_format(out, sizeof(out), &a, ADDR_FMT_DOTS_ASIS |
	    ADDR_FMT_ANGLE));
	CHECK_STREQ(out, "<../../etc/passwd@x.example>");
	CHECK_INTEQ(addr_parse(&a, S("../../etc/passwd@x.example"),
	    ADDR_BARE, &off), ADDR_OK);
	CHECK_STREQ(a.local, "../../etc/passwd");
}

/* Seed 18: a sender without a domain never breaks anything. */
static void
t_seed18_sender_without_domain(void)
{
	struct addr_opts o = ADDR_OPTS_INIT;
	struct addr	 a, b;
	char		 out[ADDR_STR_MAX], l[80];

	o.allow_no_domain = true;
	o.allow_null = true;
	CHECK_INTEQ(addr_parse(&a, S("<alice>"), ADDR_PATH, &o), ADDR_OK);
	CHECK_STREQ(a.domain, "");

	/* DisableAddDefaultDomainToSender=1: it stays domainless. */
	CHECK(addr_format(out, sizeof(out), &a, ADDR_FMT_ANGLE));
	CHECK_STREQ(out, "<alice>");
	CHECK(!addr_domain_eq(a.domain, "example.com"));
	CHECK(addr_domain_eq(a.domain, ""));
	CHECK(!addr_domain_match("example.com", a.domain));
	CHECK(!addr_domain_match(".example.com", a.domain));
	CHECK(!addr_domain_match("*.example.com", a.domain));
	CHECK(!addr_domain_match("", a.domain));

	/* Default: the configured domain is appended. */
	b = a;
	CHECK_INTEQ(addr_set_domain(&b, "Example.COM", false), ADDR_OK);
	CHECK(addr_format(out, sizeof(out), &b, 0));
	CHECK_STREQ(out, "alice@example.com");
	CHECK_INTEQ(addr_set_domain(&b, "bad..example", false),
	    ADDR_E_LABEL_EMPTY);
	CHECK_STREQ(b.domain, "example.com");
	CHECK_INTEQ(addr_set_domain(&b, "例子.example", false), ADDR_E_8BIT);
	CHECK_INTEQ(addr_set_domain(&b, "例子.example", true), ADDR_OK);
	CHECK(b.flags & ADDR_F_UTF8);
	CHECK_INTEQ(addr_set_domain(&b, "example.org", true), ADDR_OK);
	CHECK(!(b.flags & ADDR_F_UTF8));

	/* Null path and a failed parse have no domain to give. */
	CHECK_INTEQ(addr_parse(&b, S("<>"), ADDR_PATH, &o), ADDR_OK);
	CHECK_INTEQ(addr_set_domain(&b, "example.com", false),
	    ADDR_E_NULL_PATH);
	CHECK(addr_parse(&b, S("<a b>"), ADDR_PATH, &o) != ADDR_OK);
	CHECK(addr_format(out, sizeof(out), &b, ADDR_FMT_ANGLE));
	CHECK_STREQ(out, "<>");
	CHECK_INTEQ(addr_set_domain(&b, "example.com", false),
	    ADDR_E_LOCAL_EMPTY);

	/* Appending must respect the path limit. */
	rep(l, sizeof(l), 'a', 64);
	CHECK_INTEQ(addr_parse(&b, l, 64, ADDR_BARE, &o), ADDR_OK);
	domain_of(out, sizeof(out), 190);
	CHECK_INTEQ(addr_set_domain(&b, out, false), ADDR_E_PATH_LONG);
	domain_of(out, sizeof(out), 189);
	CHECK_INTEQ(addr_set_domain(&b, out, false), ADDR_OK);
}

/* addr_format: bounded, never a cut address, refuses impossible structs. */
static void
t_format(void)
{
	struct addr	 a;
	char		 out[ADDR_STR_MAX], small[8];
	size_t		 i;

	CHECK_INTEQ(addr_parse(&a, S("<alice@example.com>"), ADDR_PATH, NULL),
	    ADDR_OK);
	small[0] = 'x';
	CHECK(!addr_format(small, sizeof(small), &a, 0));
	CHECK_STREQ(small, "");
	CHECK(!addr_format(out, 17, &a, 0));
	CHECK_STREQ(out, "");
	CHECK(addr_format(out, 18, &a, 0));
	CHECK_STREQ(out, "alice@example.com");
	CHECK(!addr_format(out, 0, &a, 0));

	/* Worst case for the buffer: 64 quotes, each escaped. */
	memset(&a, 0, sizeof(a));
	rep(a.local, sizeof(a.local), '"', 64);
	domain_of(a.domain, sizeof(a.domain), 255);
	CHECK(addr_format(out, sizeof(out), &a, ADDR_FMT_ANGLE));
	CHECK_INTEQ(strlen(out), 2 + 2 + 128 + 1 + 255);

	/* Structs no parse could produce. */
	memset(&a, 0, sizeof(a));
	str_lcpy(a.local, "a\r\nb", sizeof(a.local));
	CHECK(!addr_format(out, sizeof(out), &a, 0));
	str_lcpy(a.local, "a\xc0\xaf", sizeof(a.local));
	CHECK(!addr_format(out, sizeof(out), &a, 0));
	memset(&a, 0, sizeof(a));
	str_lcpy(a.domain, "x.example", sizeof(a.domain));
	CHECK(!addr_format(out, sizeof(out), &a, 0));	/* no local part */
	str_lcpy(a.local, "a", sizeof(a.local));
	str_lcpy(a.domain, "x.example>\r\nRCPT", sizeof(a.domain));
	CHECK(!addr_format(out, sizeof(out), &a, 0));
	str_lcpy(a.domain, "[1.2.3.4]", sizeof(a.domain));
	CHECK(addr_format(out, sizeof(out), &a, 0));
	memset(a.local, 'a', sizeof(a.local));	/* unterminated */
	CHECK(!addr_format(out, sizeof(out), &a, 0));

	/* Characters that could reach a shell are always re-quoted. */
	static const char *const shelly[] = {
		"a;b", "a b", "a(b)", "a<b>", "a\"b", "a\\b", "a,b", "a:b",
	};
	for (i = 0; i < nitems(shelly); i++) {
		memset(&a, 0, sizeof(a));
		str_lcpy(a.local, shelly[i], sizeof(a.local));
		str_lcpy(a.domain, "x", sizeof(a.domain));
		CHECKF(addr_format(out, sizeof(out), &a, ADDR_FMT_DOTS_ASIS) &&
		    out[0] == '"', "%s", shelly[i]);
	}
}

/* addr_strerror: a text for every code, nothing for garbage. */
static void
t_strerror(void)
{
	int	 e;

	for (e = 0; e < ADDR_E_MAX; e++)
		CHECKF(addr_strerror(e) != NULL && *addr_strerror(e) != '\0' &&
		    strcmp(addr_strerror(e), "invalid address") != 0, "%d", e);
	CHECK_STREQ(addr_strerror(ADDR_E_MAX), "invalid address");
	CHECK_STREQ(addr_strerror((enum addr_err)-1), "invalid address");
}

/* addr_is_domain, addr_domain_eq and addr_domain_match. */
static void
t_domains(void)
{
	static const struct {
		const char	*name;
		bool		 utf8;
		enum addr_err	 err;
	} dom[] = {
		{ "example.com", false, ADDR_OK },
		{ "EXAMPLE.com", false, ADDR_OK },
		{ "localhost", false, ADDR_OK },
		{ "", false, ADDR_E_DOMAIN_EMPTY },
		{ "example.com.", false, ADDR_E_DOMAIN_DOT },
		{ ".example.com", false, ADDR_E_LABEL_EMPTY },
		{ "*.example.com", false, ADDR_E_DOMAIN_CHAR },
		{ "ex ample.com", false, ADDR_E_SPACE },
		{ "[192.0.2.1]", false, ADDR_E_DOMAIN_CHAR },
		{ "例子.example", false, ADDR_E_8BIT },
		{ "例子.example", true, ADDR_OK },
		{ "a_b.example", false, ADDR_E_DOMAIN_CHAR },
		{ "-a.example", false, ADDR_E_LABEL_HYPHEN },
	};
	static const struct {
		const char	*pat, *dom;
		bool		 match;
	} m[] = {
		{ "example.com", "example.com", true },
		{ "example.com", "EXAMPLE.COM", true },
		{ "Example.Com", "example.com", true },
		{ "example.com", "mx.example.com", false },
		{ "example.com", "badexample.com", false },
		{ ".example.com", "mx.example.com", true },
		{ ".example.com", "a.b.Example.Com", true },
		{ ".example.com", "example.com", false },
		{ ".example.com", "badexample.com", false },
		{ "*.example.com", "mx.example.com", true },
		{ "*.example.com", "example.com", false },
		{ "*.example.com", "xexample.com", false },
		{ "*", "example.com", false },
		{ "*example.com", "example.com", false },
		{ ".", "example.com", false },
		{ "", "", false },
		{ "example.com", "", false },
		{ "[192.0.2.1]", "[192.0.2.1]", true },
		{ "例子.example", "例子.EXAMPLE", true },
	};
	enum addr_err	 e;
	size_t		 i;

	for (i = 0; i < nitems(dom); i++) {
		CHECKF(addr_is_domain(dom[i].name, dom[i].utf8, &e) ==
		    (dom[i].err == ADDR_OK) && e == dom[i].err,
		    "\"%s\": %s", dom[i].name, addr_strerror(e));
	}
	CHECK(addr_is_domain("example.com", false, NULL));
	for (i = 0; i < nitems(m); i++)
		CHECKF(addr_domain_match(m[i].pat, m[i].dom) == m[i].match,
		    "\"%s\" vs \"%s\"", m[i].pat, m[i].dom);
	CHECK(addr_domain_eq("Example.COM", "example.com"));
	CHECK(!addr_domain_eq("example.com", "example.co"));
	CHECK(!addr_domain_eq("Ä.example", "ä.example"));	/* bytes */
}

TEST_MAIN(t_table, t_limits, t_seed03_dot_in_address,
    t_seed18_sender_without_domain, t_format, t_strerror, t_domains)
