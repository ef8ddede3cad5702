/*
 * test_spam.c: the spam scoring engine (scanner/spam.c): package
 * versions, every directive hitting and missing (Japanese patterns
 * included), header modifiers and "!~" on absent headers, attachments,
 * URIs and their hosts, meta precedence, cycles and arithmetic, scores
 * and the hit list, GTUBE, outside signals, every load error with its
 * line, pattern limits, and loading from a file.  Messages are built here
 * as struct scan_msg values (no MIME parsing).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "scan.h"
#include "spam.h"
#include "util.h"
#include "xmalloc.h"
#include "test.h"

#define S(x)	((char *)(x))
#define GTUBE	"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

/* load: a package from text; diagnostics in d (initialised here). */
static struct spam_rules *
load(const char *text, struct diag *d)
{
	diag_init(d);
	return spam_rules_parse(text, strlen(text), "t.rules", d);
}

/*
 * The standard message.  Parts:
 *   0 Japanese text/plain body with URIs, 1 text/html (source, then the
 *   visible text), 2 invoice.exe (x-dosexec, 100000), 3 archive.zip
 *   (3000), 4 inner/doc.scr in the zip (no true type, 2048).
 */
static struct scan_header std_headers[] = {
	{ S("From"), S("\"山田 太郎\" <Taro.Yamada@Example.JP>") },
	{ S("To"), S("bob@example.com, \"Carol, C.\" <carol@example.org>") },
	{ S("Cc"), S("undisclosed-recipients:;") },
	{ S("Subject"), S("今だけお得なキャンペーン") },
	{ S("X-Mailer"), S("BulkMailer 2.0") },
	{ S("Received"), S("from a") },
	{ S("Received"), S("from b") },
};
#define STD_TEXT	"未承諾広告※ こんにちは。Visit http://example.com/offer. " \
	"and www.Shop.example.net/x, or (https://a.example.org/p?q=1), " \
	"http://example.com/offer again\n"
#define STD_HTML	"<a href=\"http://Track.Example.COM/c?id=1&amp;u=2\">" \
	"click</a> <img src='https://img.example.org/i.png'>\nclick\n"
static struct scan_part std_parts[] = {
	{ -1, 0, false, true, false, false, NULL, S("text/plain"), S("utf-8"),
	  S("text/plain"), sizeof(STD_TEXT) - 1, S(STD_TEXT),
	  sizeof(STD_TEXT) - 1, 0, NULL, 0 },
	{ -1, 0, false, true, true, false, NULL, S("text/html"), S("utf-8"),
	  S("text/html"), sizeof(STD_HTML) - 1, S(STD_HTML),
	  sizeof(STD_HTML) - 1, 0, NULL, 0 },
	{ -1, 0, true, false, false, false, S("invoice.exe"),
	  S("application/octet-stream"), NULL, S("application/x-dosexec"),
	  100000, NULL, 0, 0, NULL, 0 },
	{ -1, 0, true, false, false, false, S("archive.zip"),
	  S("application/zip"), NULL, S("application/zip"), 3000, NULL, 0, 0,
	  NULL, 0 },
	{ 3, 1, true, false, false, true, S("inner/doc.scr"), NULL, NULL,
	  NULL, 2048, NULL, 0, 0, NULL, 0 },
};

static void
std_msg(struct scan_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->headers = std_headers;
	m->nheaders = nitems(std_headers);
	m->subject = S("今だけお得なキャンペーン");
	m->parts = std_parts;
	m->nparts = nitems(std_parts);
	m->size = 200000;
	m->nhdr_rcpts = 2;
}

/* text_msg: a message with one plain body part (and no headers). */
static void
text_msg(struct scan_msg *m, struct scan_part *p, const char *subject,
    const char *text)
{
	memset(m, 0, sizeof(*m));
	memset(p, 0, sizeof(*p));
	p->parent = -1;
	p->body_text = true;
	p->content_type = S("text/plain");
	p->text = S(text);
	p->textlen = strlen(text);
	p->size = p->textlen;
	m->subject = S(subject);
	m->parts = p;
	m->nparts = 1;
}

/*
 * hit: load "version 1.0\n" + rules, evaluate it over m; 1 when rule T
 * is among the hits, 0 when not, -1 when the package does not load.
 */
static int
hit(const char *rules, const struct scan_msg *m,
    const struct spam_signals *sig)
{
	struct spam_result res;
	struct spam_rules *r;
	struct diag	 d;
	char		*text;
	size_t		 i;
	int		 found = 0;

	text = xasprintf("version 1.0\n%s\n", rules);
	r = load(text, &d);
	free(text);
	if (r == NULL) {
		diag_print(&d, stderr);
		diag_free(&d);
		return -1;
	}
	spam_eval(r, m, sig, &res);
	for (i = 0; i < res.nhits; i++)
		if (strcmp(res.hits[i].name, "T") == 0)
			found = 1;
	spam_result_free(&res);
	spam_rules_free(r);
	diag_free(&d);
	return found;
}

static void
t_version(void)
{
	static const char *const bad[] = { "17000", "17000.", ".1", "1.2.3",
	    "a.b", " 1.2", "1.2 ", "1234567890.1", "1.1234567890", "", "+1.2",
	    "-1.2", "1,2", "1.2x", "0x1.2" };
	struct spam_version a, b;
	size_t	 i;

	CHECK(spam_version_parse("17000.002", &a));
	CHECK(spam_version_parse("17000.001", &b));
	CHECK(spam_version_cmp(&a, &b) > 0);
	CHECK(spam_version_cmp(&b, &a) < 0);
	CHECK_STREQ(a.text, "17000.002");
	CHECK_INTEQ(a.major, 17000);
	CHECK_INTEQ(a.minor, 2);
	CHECK(spam_version_parse("17000.010", &a));
	CHECK(spam_version_parse("17000.9", &b));
	CHECK(spam_version_cmp(&a, &b) > 0);
	CHECK(spam_version_parse("17001.000", &a));
	CHECK(spam_version_parse("17000.999", &b));
	CHECK(spam_version_cmp(&a, &b) > 0);
	CHECK(spam_version_parse("17000.01", &a));
	CHECK(spam_version_parse("17000.1", &b));
	CHECK(spam_version_cmp(&a, &b) == 0);
	CHECK(spam_version_parse("999999999.999999999", &a));
	CHECK_INTEQ(a.major, 999999999);
	for (i = 0; i < nitems(bad); i++)
		CHECKF(!spam_version_parse(bad[i], &a), "\"%s\"", bad[i]);
}

static void
t_directives(void)
{
	static const struct {
		const char	*rule;
		int		 hit;
	} cases[] = {
		{ "header T Subject =~ /お得/", 1 },
		{ "header T Subject =~ /損/", 0 },
		{ "header T subject =~ /キャンペーン$/", 1 },
		{ "header T Subject =~ /^.{12}$/", 1 },	/* characters */
		{ "header T X-Mailer =~ /bulkmailer/i", 1 },
		{ "header T X-Mailer =~ /bulkmailer/", 0 },
		{ "header T Received =~ /from b/", 1 },
		{ "header T Received !~ /from c/", 1 },
		{ "header T Received !~ /from/", 0 },
		{ "header T X-Absent !~ /x/", 1 },
		{ "header T X-Absent =~ /^$/", 0 },
		{ "header T exists:X-Mailer", 1 },
		{ "header T exists:x-mailer", 1 },
		{ "header T exists:X-Absent", 0 },
		{ "header T From:addr =~ /^taro\\.yamada@example\\.jp$/", 1 },
		{ "header T From:name =~ /^山田 太郎$/", 1 },
		{ "header T From =~ /Taro\\.Yamada/", 1 },
		{ "header T From:addr =~ /山田/", 0 },
		{ "header T To:addr =~ /^carol@example\\.org$/", 1 },
		{ "header T To:addr =~ /^bob@example\\.com$/", 1 },
		{ "header T To:name =~ /^Carol, C\\.$/", 1 },
		{ "header T To:addr =~ /carol, c/i", 0 },
		{ "header T To:addr !~ /example\\.org$/", 0 },
		{ "header T Cc:addr =~ /./", 0 },
		{ "header T Cc:addr !~ /./", 1 },
		{ "header T ALL =~ /^X-Mailer: BulkMailer 2\\.0$/m", 1 },
		{ "header T ALL =~ /^X-Mailer: BulkMailer 2\\.0$/", 0 },
		{ "header T ALL =~ /Received: from a\\nReceived: from b/", 1 },
		{ "body T /未承諾広告/", 1 },
		{ "body T /^今だけ/", 1 },		/* the subject first */
		{ "body T /CLICK/i", 1 },
		{ "body T /CLICK/", 0 },
		{ "body T /こんにちは.Visit/", 1 },
		{ "body T /^click$/m", 1 },
		{ "body T /^click$/", 0 },
		{ "body T /Visit.*click/", 0 },
		{ "body T /Visit.*click/s", 1 },
		{ "body T /V i s i t # spaced/x", 1 },
		{ "body T /invoice/", 0 },
		{ "body T /href=\"http:\\/\\/Track/", 1 },	/* HTML source */
		{ "uri T /^http:\\/\\/track\\.example\\.com\\//i", 1 },
		{ "uri T /^http:\\/\\/www\\.shop\\.example\\.net\\/x$/i", 1 },
		{ "uri T /^https:\\/\\/img\\.example\\.org\\/i\\.png$/", 1 },
		{ "uri T /evil/", 0 },
		{ "attach T filename =~ /\\.exe$/i", 1 },
		{ "attach T filename =~ /\\.scr$/", 1 },
		{ "attach T filename =~ /\\.pdf$/", 0 },
		{ "attach T type =~ /^application\\/zip$/", 1 },
		{ "attach T type =~ /^text\\//", 0 },	/* body parts */
		{ "attach T truetype =~ /dosexec/", 1 },
		{ "attach T truetype =~ /html/", 0 },
		{ "attach T size > 99999", 1 },
		{ "attach T size > 100000", 0 },
		{ "attach T size >= 100000", 1 },
		{ "attach T size < 2K", 0 },
		{ "attach T size <= 2k", 1 },
		{ "attach T size > 1M", 0 },
		{ "eval T recipients(> 1)", 1 },
		{ "eval T recipients(>= 3)", 0 },
		{ "eval T recipients(==2)", 1 },
		{ "eval T recipients( < 2 )", 0 },
		{ "eval T no_text()", 0 },
		{ "eval T gtube()", 0 },
		{ "eval T spf(fail)", 0 },
		{ "eval T dnsbl(zen.spamhaus.org)", 0 },
	};
	struct scan_msg	 m;
	size_t		 i;

	std_msg(&m);
	for (i = 0; i < nitems(cases); i++)
		CHECKF(hit(cases[i].rule, &m, NULL) == cases[i].hit,
		    "%s", cases[i].rule);
}

static void
t_attach_edges(void)
{
	struct scan_part p;
	struct scan_msg	 m;

	/* A member without a true type: no truetype rule matches it. */
	memset(&m, 0, sizeof(m));
	memset(&p, 0, sizeof(p));
	p.parent = -1;
	p.attachment = true;
	p.in_archive = true;
	p.size = 10;
	m.parts = &p;
	m.nparts = 1;
	CHECK(hit("attach T truetype =~ /^/", &m, NULL) == 0);
	CHECK(hit("attach T filename =~ /^/", &m, NULL) == 0);
	CHECK(hit("attach T type =~ /^/", &m, NULL) == 0);
	CHECK(hit("attach T size == 10", &m, NULL) == -1);
	CHECK(hit("attach T size < 11", &m, NULL) == 1);
	/* Not an attachment: attach rules do not look at it. */
	p.attachment = false;
	CHECK(hit("attach T size < 11", &m, NULL) == 0);
	/* No text at all; white space only is no text either. */
	CHECK(hit("eval T no_text()", &m, NULL) == 1);
	text_msg(&m, &p, "subject", " \r\n\t");
	CHECK(hit("eval T no_text()", &m, NULL) == 1);
	text_msg(&m, &p, "subject", " x ");
	CHECK(hit("eval T no_text()", &m, NULL) == 0);
	/* Without a subject the body text starts with an empty line. */
	text_msg(&m, &p, NULL, "hello");
	CHECK(hit("body T /\\Ahello/m", &m, NULL) == 0);
	CHECK(hit("body T /^hello/m", &m, NULL) == 1);
}

static void
t_uris(void)
{
	static const char *const want[] = {
		"http://example.com/offer",
		"http://www.Shop.example.net/x",
		"https://a.example.org/p?q=1",
		"http://Track.Example.COM/c?id=1&amp;u=2",
		"https://img.example.org/i.png",
	};
	struct scan_part p;
	struct scan_msg	 m;
	struct buf	 b;
	char		**v, *big;
	size_t		 n, i;

	std_msg(&m);
	n = spam_uris(&m, &v);
	CHECK_INTEQ(n, nitems(want));
	for (i = 0; i < n && i < nitems(want); i++)
		CHECK_STREQ(v[i], want[i]);
	spam_uris_free(v, n);

	/* Edges: case, no host, addresses, embedded "www.", punctuation. */
	text_msg(&m, &p, NULL, "HTTPS://UPPER.example/A and http:// and "
	    "mail user@www.example.com or foo.www.example.com; "
	    "[ftp://files.example.org/a.txt]!? <http://angle.example/>"
	    "\"http://q.example/x\" www.! www.ok.example.");
	n = spam_uris(&m, &v);
	CHECK_INTEQ(n, 5);
	if (n == 5) {
		CHECK_STREQ(v[0], "HTTPS://UPPER.example/A");
		CHECK_STREQ(v[1], "ftp://files.example.org/a.txt");
		CHECK_STREQ(v[2], "http://angle.example/");
		CHECK_STREQ(v[3], "http://q.example/x");
		CHECK_STREQ(v[4], "http://www.ok.example");
	}
	spam_uris_free(v, n);

	/* Only body text parts are scanned. */
	text_msg(&m, &p, NULL, "http://a.example/");
	p.body_text = false;
	p.attachment = true;
	n = spam_uris(&m, &v);
	CHECK_INTEQ(n, 0);
	spam_uris_free(v, n);

	/* A long URI is cut; more than SPAM_MAX_URIS are dropped. */
	buf_init(&b, 1 << 20);
	CHECK(buf_addstr(&b, "http://long.example/"));
	for (i = 0; i < 5000; i++)
		(void)buf_addstr(&b, "a");
	for (i = 0; i < SPAM_MAX_URIS + 200; i++)
		(void)buf_printf(&b, " http://h%zu.example/", i % 1100);
	big = buf_take_str(&b);
	text_msg(&m, &p, NULL, big);
	n = spam_uris(&m, &v);
	CHECK_INTEQ(n, SPAM_MAX_URIS);
	if (n > 2) {
		CHECK_INTEQ(strlen(v[0]), 2048);
		CHECK_STREQ(v[1], "http://h0.example/");
	}
	spam_uris_free(v, n);
	free(big);
	buf_free(&b);
}

static void
t_uri_host(void)
{
	static const struct {
		const char	*uri;
		const char	*host;	/* NULL: none */
	} cases[] = {
		{ "http://user:pw@Example.COM:8080/path", "example.com" },
		{ "https://[2001:DB8::1]:443/x", "2001:db8::1" },
		{ "http://example.com./", "example.com" },
		{ "http://example.com.:80/", "example.com" },
		{ "HTTP://WWW.EXAMPLE.ORG", "www.example.org" },
		{ "http://evil.example\\@good.example/", "evil.example" },
		{ "ftp://a@b@c.example/x", "c.example" },
		{ "http://example.com?x=@y", "example.com" },
		{ "http://example.com#@y", "example.com" },
		{ "http://日本.example/", "日本.example" },
		{ "mailto:x@y", NULL },
		{ "http:///path", NULL },
		{ "http://[::1", NULL },
		{ "http://./", NULL },
		{ "://x.example/", NULL },
		{ "1http://x.example/", NULL },
		{ "", NULL },
	};
	char	 host[256];
	size_t	 i;
	bool	 ok;

	for (i = 0; i < nitems(cases); i++) {
		ok = spam_uri_host(cases[i].uri, host, sizeof(host));
		CHECKF(ok == (cases[i].host != NULL), "%s", cases[i].uri);
		if (ok && cases[i].host != NULL)
			CHECK_STREQ(host, cases[i].host);
	}
	CHECK(!spam_uri_host("http://example.com/", host, 11));
	CHECK(spam_uri_host("http://example.com/", host, 12));
	CHECK_STREQ(host, "example.com");
}

/* meta_hits: which of names[] hit for text, as a string of 0 and 1. */
static void
meta_hits(const struct spam_rules *r, const char *text,
    const char *const *names, size_t n, char *out)
{
	struct spam_result res;
	struct scan_part p;
	struct scan_msg	 m;
	size_t		 i, j;

	text_msg(&m, &p, NULL, text);
	spam_eval(r, &m, NULL, &res);
	for (i = 0; i < n; i++) {
		out[i] = '0';
		for (j = 0; j < res.nhits; j++)
			if (strcmp(res.hits[j].name, names[i]) == 0)
				out[i] = '1';
	}
	out[n] = '\0';
	spam_result_free(&res);
}

static void
t_meta(void)
{
	static const char rules[] =
	    "version 1.0\n"
	    "meta TOP MM || 0\n"		/* before what it names */
	    "body A /alpha/\n"
	    "body B /beta/\n"
	    "body C /gamma/\n"
	    "meta M2 A + B + C >= 2\n"
	    "meta M_OR A || B && C\n"
	    "meta M_NOT !A && B\n"
	    "meta MM M2 && !M_NOT\n"
	    "meta M_EQ A + B == 1\n"
	    "meta M_CMP A + B > 1 == 0\n"
	    "meta M_DEC 0.5 + A >= 1.5\n"
	    "meta M_PAR !(A || B)\n"
	    "meta M_SUB __X\n"
	    "meta __X (((A)))\n";
	static const char *const names[] = { "TOP", "M2", "M_OR", "M_NOT",
	    "MM", "M_EQ", "M_CMP", "M_DEC", "M_PAR", "M_SUB" };
	static const struct {
		const char	*text;
		const char	*want;
	} cases[] = {
		{ "alpha gamma",	"1110111101" },
		{ "beta",		"0001011000" },
		{ "beta gamma",		"0111011000" },
		{ "",			"0000001010" },
		{ "alpha beta gamma",	"1110100101" },
	};
	struct spam_rules *r;
	struct diag	 d;
	char		 got[16];
	size_t		 i;

	r = load(rules, &d);
	CHECK(r != NULL);
	diag_print(&d, stderr);
	diag_free(&d);
	if (r == NULL)
		return;
	CHECK_INTEQ(spam_rules_count(r), 14);
	for (i = 0; i < nitems(cases); i++) {
		meta_hits(r, cases[i].text, names, nitems(names), got);
		CHECKF(strcmp(got, cases[i].want) == 0, "\"%s\": %s, not %s",
		    cases[i].text, got, cases[i].want);
	}
	spam_rules_free(r);
}

/* nested: a package whose meta X is "!A" inside n parentheses. */
static char *
nested(size_t n)
{
	struct buf	 b;
	size_t		 i;
	char		*s;

	buf_init(&b, 4096);
	(void)buf_addstr(&b, "version 1.0\nbody A /a/\nmeta X ");
	for (i = 0; i < n; i++)
		(void)buf_addstr(&b, "(");
	(void)buf_addstr(&b, "!A");
	for (i = 0; i < n; i++)
		(void)buf_addstr(&b, ")");
	(void)buf_addstr(&b, "\n");
	s = buf_take_str(&b);
	buf_free(&b);
	return s;
}

static void
t_meta_errors(void)
{
	static const struct {
		const char	*text;
		const char	*needle;
	} cases[] = {
		{ "version 1.0\nmeta X Y\nmeta Y X\n",
		  "t.rules:2: meta X: part of a cycle" },
		{ "version 1.0\nmeta X Y\nmeta Y X\n",
		  "t.rules:3: meta Y: part of a cycle" },
		{ "version 1.0\nbody A /a/\nmeta Z A && Z\n",
		  "t.rules:3: meta Z: part of a cycle" },
		{ "version 1.0\nmeta X NOPE || 1\n",
		  "t.rules:2: meta X: unknown rule NOPE" },
		{ "version 1.0\nbody A /a/\nmeta X A &&\n",
		  "t.rules:3: meta: expected a rule name" },
		{ "version 1.0\nbody A /a/\nmeta X (A\n",
		  "t.rules:3: meta: expected )" },
		{ "version 1.0\nbody A /a/\nmeta X A & A\n",
		  "t.rules:3: meta: unexpected text at \"& A\"" },
		{ "version 1.0\nbody A /a/\nmeta X A != 1\n",
		  "t.rules:3: meta: unexpected text" },
		{ "version 1.0\nbody A /a/\nmeta X 1.2.3\n",
		  "t.rules:3: meta: unexpected text" },
		{ "version 1.0\nbody A /a/\nmeta X\n",
		  "t.rules:3: meta: missing expression" },
	};
	struct spam_rules *r;
	struct diag	 d;
	char		*text;
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		r = load(cases[i].text, &d);
		CHECKF(r == NULL, "case %zu", i);
		CHECKF(diag_find(&d, cases[i].needle) != NULL, "case %zu: %s",
		    i, d.nitems > 0 ? d.items[0].text : "no diagnostic");
		spam_rules_free(r);
		diag_free(&d);
	}
	/* A meta depending on a cycle: only the cycle is reported. */
	r = load("version 1.0\nmeta W X\nmeta X Y\nmeta Y X\n", &d);
	CHECK(r == NULL);
	CHECK_INTEQ(d.nerrors, 2);
	CHECK(diag_find(&d, "meta W") == NULL);
	diag_free(&d);

	/* Nesting: 63 parentheses and one "!" load, one more does not. */
	text = nested(63);
	r = load(text, &d);
	CHECK(r != NULL);
	spam_rules_free(r);
	diag_free(&d);
	free(text);
	text = nested(64);
	r = load(text, &d);
	CHECK(r == NULL);
	CHECK(diag_find(&d, "t.rules:3: meta: nested too deeply") != NULL);
	diag_free(&d);
	free(text);
}

static void
t_scores(void)
{
	static const char rules[] =
	    "version 2.5\n"
	    "# scores and descriptions\n"
	    "body A /\\ba\\b/\n"
	    "body __S /\\bs\\b/\n"
	    "body N /\\bn\\b/\n"
	    "score N -2.5\n"
	    "body Z /\\bz\\b/\n"
	    "score Z 0\n"
	    "score B 3\n"
	    "  body B /\\bb\\b/  \n"
	    "describe B 未承諾広告を含む  \n"
	    "meta M __S && A\n"
	    "score M 0.5\n"
	    "describe A Free #1 offer\n";
	struct spam_result res;
	struct scan_part p;
	struct scan_msg	 m;
	struct spam_rules *r;
	struct diag	 d;

	r = load(rules, &d);
	CHECK(r != NULL);
	diag_free(&d);
	if (r == NULL)
		return;
	CHECK_STREQ(spam_rules_version(r)->text, "2.5");
	CHECK_INTEQ(spam_rules_count(r), 6);
	text_msg(&m, &p, NULL, "b a s n z");
	spam_eval(r, &m, NULL, &res);
	CHECK_INTEQ(res.nhits, 4);
	if (res.nhits == 4) {
		CHECK_STREQ(res.hits[0].name, "A");
		CHECK(res.hits[0].score == 1.0);
		CHECK_STREQ(res.hits[0].describe, "Free #1 offer");
		CHECK_STREQ(res.hits[1].name, "N");
		CHECK(res.hits[1].score == -2.5);
		CHECK_STREQ(res.hits[1].describe, "");
		CHECK_STREQ(res.hits[2].name, "B");
		CHECK(res.hits[2].score == 3.0);
		CHECK_STREQ(res.hits[2].describe, "未承諾広告を含む");
		CHECK_STREQ(res.hits[3].name, "M");
		CHECK(res.hits[3].score == 0.5);
	}
	CHECK(res.score == 2.0);
	CHECK(!res.gtube);
	spam_result_free(&res);
	/* Without "s" the sub-rule and the meta on it do not hit. */
	text_msg(&m, &p, NULL, "a n");
	spam_eval(r, &m, NULL, &res);
	CHECK_INTEQ(res.nhits, 2);
	CHECK(res.score == -1.5);
	spam_result_free(&res);
	/* Nothing hits: an empty result. */
	text_msg(&m, &p, NULL, "nothing");
	spam_eval(r, &m, NULL, &res);
	CHECK_INTEQ(res.nhits, 0);
	CHECK(res.hits == NULL);
	CHECK(res.score == 0);
	spam_result_free(&res);
	spam_rules_free(r);

	/* Extremes are allowed. */
	r = load("version 1.0\nbody A /a/\nscore A -1000\nbody B /b/\n"
	    "score B +1000.000\n", &d);
	CHECK(r != NULL);
	spam_rules_free(r);
	diag_free(&d);
}

static void
t_gtube(void)
{
	static const char rules[] = "version 1.0\neval GTUBE gtube()\n"
	    "score GTUBE 1000\ndescribe GTUBE The GTUBE test string\n";
	struct spam_result res;
	struct scan_part parts[2];
	struct scan_msg	 m;
	struct spam_rules *r;
	struct diag	 d;

	r = load(rules, &d);
	CHECK(r != NULL);
	diag_free(&d);
	if (r == NULL)
		return;
	text_msg(&m, &parts[0], "test", "This is the GTUBE:\r\n" GTUBE
	    "\r\nend\r\n");
	spam_eval(r, &m, NULL, &res);
	CHECK(res.gtube);
	CHECK(res.score == 1000);
	CHECK(res.nhits == 1 && strcmp(res.hits[0].describe,
	    "The GTUBE test string") == 0);
	spam_result_free(&res);

	/* Only in an attachment's extracted text. */
	text_msg(&m, &parts[0], "test", "see attachment");
	memset(&parts[1], 0, sizeof(parts[1]));
	parts[1].parent = -1;
	parts[1].attachment = true;
	parts[1].filename = S("gtube.txt");
	parts[1].text = S("x " GTUBE " y");
	parts[1].textlen = strlen(parts[1].text);
	m.nparts = 2;
	spam_eval(r, &m, NULL, &res);
	CHECK(res.gtube);
	CHECK(res.score == 1000);
	spam_result_free(&res);

	/* Cut short: not GTUBE. */
	parts[1].textlen = 20;
	spam_eval(r, &m, NULL, &res);
	CHECK(!res.gtube);
	CHECK_INTEQ(res.nhits, 0);
	spam_result_free(&res);
	spam_rules_free(r);

	/* result.gtube says what was found, with or without a rule. */
	r = load("version 1.0\nbody A /nothing/\n", &d);
	CHECK(r != NULL);
	diag_free(&d);
	text_msg(&m, &parts[0], "x", GTUBE);
	if (r != NULL) {
		spam_eval(r, &m, NULL, &res);
		CHECK(res.gtube);
		CHECK_INTEQ(res.nhits, 0);
		spam_result_free(&res);
	}
	spam_rules_free(r);
}

static void
t_signals(void)
{
	static const char *const zones[] = { "zen.spamhaus.org",
	    "bl.spamcop.net", NULL };
	static const char *const uzones[] = { "multi.surbl.org", NULL };
	struct spam_signals none, fail, pass, lists;
	struct scan_part p;
	struct scan_msg	 m;

	memset(&none, 0, sizeof(none));
	memset(&fail, 0, sizeof(fail));
	fail.spf = "fail";
	fail.dkim = "fail";
	fail.dmarc = "fail";
	fail.dmarc_policy = "reject";
	memset(&pass, 0, sizeof(pass));
	pass.spf = "pass";
	pass.dkim = "pass";
	pass.dmarc = "pass";
	pass.dmarc_policy = "none";
	memset(&lists, 0, sizeof(lists));
	lists.dnsbl = zones;
	lists.uribl = uzones;
	text_msg(&m, &p, "s", "b");

	CHECK(hit("eval T spf(fail)", &m, &fail) == 1);
	CHECK(hit("eval T spf(FAIL)", &m, &fail) == 1);
	CHECK(hit("eval T spf(fail)", &m, &pass) == 0);
	CHECK(hit("eval T spf(fail)", &m, &none) == 0);
	CHECK(hit("eval T spf(fail)", &m, NULL) == 0);
	CHECK(hit("eval T spf(softfail)", &m, &fail) == 0);
	CHECK(hit("eval T spf('pass')", &m, &pass) == 1);
	CHECK(hit("eval T dkim(fail)", &m, &fail) == 1);
	CHECK(hit("eval T dkim(pass)", &m, &fail) == 0);
	CHECK(hit("eval T dmarc(pass)", &m, &pass) == 1);
	CHECK(hit("eval T dmarc( \"fail\" )", &m, &fail) == 1);
	CHECK(hit("eval T dmarc_policy(reject)", &m, &fail) == 1);
	CHECK(hit("eval T dmarc_policy(reject)", &m, &pass) == 0);
	CHECK(hit("eval T dnsbl(zen.spamhaus.org)", &m, &lists) == 1);
	CHECK(hit("eval T dnsbl(BL.SpamCop.net)", &m, &lists) == 1);
	CHECK(hit("eval T dnsbl(b.barracudacentral.org)", &m, &lists) == 0);
	CHECK(hit("eval T dnsbl(zen.spamhaus.org)", &m, &none) == 0);
	CHECK(hit("eval T dnsbl(zen.spamhaus.org)", &m, NULL) == 0);
	CHECK(hit("eval T uribl(multi.surbl.org)", &m, &lists) == 1);
	CHECK(hit("eval T uribl(zen.spamhaus.org)", &m, &lists) == 0);
	CHECK(hit("eval T dmarc_policy(strict)", &m, &fail) == -1);
	CHECK(hit("eval T dnsbl()", &m, &fail) == -1);
	CHECK(hit("eval T dnsbl(a b)", &m, &fail) == -1);
	CHECK(hit("eval T dnsbl(a,b)", &m, &fail) == -1);
	CHECK(hit("eval T recipients(>)", &m, &fail) == -1);
	CHECK(hit("eval T recipients(1)", &m, &fail) == -1);
	CHECK(hit("eval T spf", &m, &fail) == -1);
	CHECK(hit("eval T spf(fail) x", &m, &fail) == -1);
}

static void
t_errors(void)
{
	static const struct {
		const char	*text;
		const char	*needle;
	} cases[] = {
		{ "body A /x/\n", "t.rules: no version line" },
		{ "body A /x/\n",
		  "t.rules:1: the version line must come before" },
		{ "# c\nbody A /x/\nversion 1.0\n",
		  "t.rules:2: the version line must come before" },
		{ "version 1.0\nversion 1.1\n",
		  "t.rules:2: version given twice (first at line 1)" },
		{ "version 17000\n", "t.rules:1: version: expected MAJOR.MINOR" },
		{ "version 1.0 x\n", "t.rules:1: version: expected" },
		{ "version 1.0\nfrobnicate X\n",
		  "t.rules:2: unknown directive \"frobnicate\"" },
		{ "version 1.0\nBody A /x/\n",
		  "t.rules:2: unknown directive \"Body\"" },
		{ "version 1.0\n\nbody A /(/\n", "t.rules:3: bad pattern: " },
		{ "version 1.0\nbody A /x/g\n",
		  "t.rules:2: unknown pattern flag 'g'" },
		{ "version 1.0\nbody A /x\n",
		  "t.rules:2: unterminated pattern" },
		{ "version 1.0\nbody A /x\\/\n",
		  "t.rules:2: unterminated pattern" },
		{ "version 1.0\nbody A x\n", "t.rules:2: expected /pattern/" },
		{ "version 1.0\nbody A /x/ i\n",
		  "t.rules:2: text after the pattern" },
		{ "version 1.0\nbody A /x/\nuri A /y/\n",
		  "t.rules:3: rule A defined twice (first at line 2)" },
		{ "version 1.0\nscore NOPE 1\n",
		  "t.rules:2: score for unknown rule NOPE" },
		{ "version 1.0\ndescribe NOPE x\n",
		  "t.rules:2: describe for unknown rule NOPE" },
		{ "version 1.0\nbody A /x/\nscore A 1000.5\n",
		  "t.rules:3: score A: out of range" },
		{ "version 1.0\nbody A /x/\nscore A -1001\n",
		  "t.rules:3: score A: out of range" },
		{ "version 1.0\nbody A /x/\nscore A 1e3\n",
		  "t.rules:3: score A: expected one decimal number" },
		{ "version 1.0\nbody A /x/\nscore A 1 2 3 4\n",
		  "t.rules:3: score A: expected one decimal number" },
		{ "version 1.0\nbody A /x/\nscore A 1\nscore A 2\n",
		  "t.rules:4: score for A given twice (first at line 3)" },
		{ "version 1.0\nbody A /x/\ndescribe A a\ndescribe A b\n",
		  "t.rules:4: describe for A given twice" },
		{ "version 1.0\nscore __A 1\nbody __A /x/\n",
		  "t.rules:2: score for sub-rule __A" },
		{ "version 1.0\nbody A /\xff/\n", "t.rules:2: invalid UTF-8" },
		{ "version 1.0\nbody A /\xc0\xaf/\n",
		  "t.rules:2: invalid UTF-8" },
		{ "version 1.0\nbody A /\xed\xa0\x80/\n",
		  "t.rules:2: invalid UTF-8" },
		{ "version 1.0\nbody 1A /x/\n", "t.rules:2: body: bad rule name" },
		{ "version 1.0\nbody A-B /x/\n",
		  "t.rules:2: body: bad rule name" },
		{ "version 1.0\nbody 未承諾 /x/\n",
		  "t.rules:2: body: bad rule name" },
		{ "version 1.0\nbody\n", "t.rules:2: body: missing rule name" },
		{ "version 1.0\nbody "
		  "A234567890123456789012345678901234567890123456789012345678901234"
		  " /x/\n", "t.rules:2: body: bad rule name" },
		{ "version 1.0\nheader A Subject ~ /x/\n",
		  "t.rules:2: header: expected =~ or !~" },
		{ "version 1.0\nheader A From:foo =~ /x/\n",
		  "t.rules:2: header: unknown field modifier" },
		{ "version 1.0\nheader A ALL:addr =~ /x/\n",
		  "t.rules:2: header: ALL takes no modifier" },
		{ "version 1.0\nheader A exists:\n",
		  "t.rules:2: header: bad field name" },
		{ "version 1.0\nheader A exists:X y\n",
		  "t.rules:2: text after exists:X" },
		{ "version 1.0\nheader A Sub\xc3\xa9 =~ /x/\n",
		  "t.rules:2: header: bad field name" },
		{ "version 1.0\nattach A name =~ /x/\n",
		  "t.rules:2: attach: unknown key \"name\"" },
		{ "version 1.0\nattach A filename !~ /x/\n",
		  "t.rules:2: attach: expected =~ after filename" },
		{ "version 1.0\nattach A size = 5\n",
		  "t.rules:2: attach size: expected" },
		{ "version 1.0\nattach A size > 5G\n",
		  "t.rules:2: attach size: text after the number" },
		{ "version 1.0\nattach A size > 99999999999999999999999\n",
		  "t.rules:2: attach size: bad number" },
		{ "version 1.0\neval A nosuch()\n",
		  "t.rules:2: eval: unknown function \"nosuch\"" },
		{ "version 1.0\neval A spf(maybe)\n",
		  "t.rules:2: spf: unknown result \"maybe\"" },
		{ "version 1.0\neval A gtube(1)\n",
		  "t.rules:2: gtube() takes no arguments" },
		{ "version 1.0\neval A gtube\n",
		  "t.rules:2: eval: expected FUNCTION(ARGUMENTS)" },
		{ "version 1.0\nmeta A B\n", "t.rules:2: meta A: unknown rule B" },
	};
	struct spam_rules *r;
	struct diag	 d;
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		r = load(cases[i].text, &d);
		CHECKF(r == NULL, "case %zu", i);
		CHECKF(d.nerrors > 0, "case %zu", i);
		CHECKF(diag_find(&d, cases[i].needle) != NULL, "case %zu: "
		    "want \"%s\", got \"%s\"", i, cases[i].needle,
		    d.nitems > 0 ? d.items[0].text : "no diagnostic");
		spam_rules_free(r);
		diag_free(&d);
	}
}

static void
t_errors_collected(void)
{
	struct spam_rules *r;
	struct diag	 d;
	struct buf	 b;
	size_t		 i;
	char		*text;

	/* Every error is reported, not only the first. */
	r = load("version 1.0\nbody A /(/\nfoo\nbody B /x/q\nscore C 1\n"
	    "body D /ok/\n", &d);
	CHECK(r == NULL);
	CHECK_INTEQ(d.nerrors, 4);
	CHECK(diag_find(&d, "t.rules:2:") != NULL);
	CHECK(diag_find(&d, "t.rules:3:") != NULL);
	CHECK(diag_find(&d, "t.rules:4:") != NULL);
	CHECK(diag_find(&d, "t.rules:5:") != NULL);
	diag_free(&d);

	/* A line over 64 KiB. */
	buf_init(&b, 1 << 20);
	CHECK(buf_addstr(&b, "version 1.0\nbody A /"));
	for (i = 0; i < 70000; i++)
		(void)buf_addstr(&b, "a");
	CHECK(buf_addstr(&b, "/\nbody B /b/\n"));
	text = buf_take_str(&b);
	r = load(text, &d);
	CHECK(r == NULL);
	CHECK(diag_find(&d, "t.rules:2: line too long") != NULL);
	CHECK_INTEQ(d.nerrors, 1);
	diag_free(&d);
	free(text);
	buf_free(&b);

	/* A NUL byte. */
	diag_init(&d);
	r = spam_rules_parse("version 1.0\nbody A /a\0b/\n", 25, "t.rules",
	    &d);
	CHECK(r == NULL);
	CHECK(diag_find(&d, "t.rules:2: NUL byte") != NULL);
	diag_free(&d);

	/* Empty input. */
	r = load("", &d);
	CHECK(r == NULL);
	CHECK(diag_find(&d, "no version line") != NULL);
	diag_free(&d);
}

static void
t_syntax_ok(void)
{
	struct spam_rules *r;
	struct scan_part p;
	struct scan_msg	 m;
	struct diag	 d;

	/* CRLF, a BOM, comments, blank lines, blanks, "\/", "#" inside. */
	r = load("\xef\xbb\xbfversion 1.0\r\n"
	    "\r\n"
	    "   # a comment\r\n"
	    "\t# another\r\n"
	    "body\tA\t/a\\/b # not a comment/i\r\n"
	    "body B /\\\\/\r\n"
	    "header C Subject=~/^s$/\r\n"
	    "score A 1.25\r\n"
	    "describe A ends here  \r\n", &d);
	CHECK(r != NULL);
	diag_print(&d, stderr);
	diag_free(&d);
	spam_rules_free(r);

	text_msg(&m, &p, NULL, "A/B # NOT A COMMENT");
	CHECK(hit("body T /a\\/b # not a comment/i", &m, NULL) == 1);
	text_msg(&m, &p, NULL, "back\\slash");
	CHECK(hit("body T /\\\\/", &m, NULL) == 1);
	text_msg(&m, &p, NULL, "no slash");
	CHECK(hit("body T /\\\\/", &m, NULL) == 0);
	/* UCP: \w and \b know Japanese; caseless knows more than ASCII. */
	text_msg(&m, &p, NULL, "お得 ÉCOLE");
	CHECK(hit("body T /^\\w+ /m", &m, NULL) == 1);
	CHECK(hit("body T /école/i", &m, NULL) == 1);
	CHECK(hit("body T /école/", &m, NULL) == 0);
}

static void
t_limits(void)
{
	struct scan_header bad = { S("Subject"), S("\xff ok \xc0") };
	struct spam_result res;
	struct spam_rules *r;
	struct scan_part p;
	struct scan_msg	 m;
	struct timespec	 t0, t1;
	struct diag	 d;
	char		*text;
	double		 secs;

	r = load("version 1.0\nbody EVIL /(a+)+$/\nbody NEST /^(\\w+\\s?)*$/\n"
	    "body OK /b$/m\n", &d);
	CHECK(r != NULL);
	diag_free(&d);
	if (r == NULL)
		return;
	text = xmalloc(20002);
	memset(text, 'a', 20000);
	text[20000] = 'b';
	text[20001] = '\0';
	text_msg(&m, &p, NULL, text);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	spam_eval(r, &m, NULL, &res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECKF(secs < 5.0, "%.2f s", secs);
	CHECK_INTEQ(res.nhits, 1);
	if (res.nhits == 1)
		CHECK_STREQ(res.hits[0].name, "OK");
	spam_result_free(&res);
	spam_rules_free(r);
	free(text);

	/* Invalid UTF-8 in the message: matched around, never an error. */
	r = load("version 1.0\nbody T /ok/\nheader U Subject =~ /ok/\n", &d);
	CHECK(r != NULL);
	diag_free(&d);
	text_msg(&m, &p, "\xff ok \xc0", "\xfe\xff ok");
	m.headers = &bad;
	m.nheaders = 1;
	if (r != NULL) {
		spam_eval(r, &m, NULL, &res);
		CHECK_INTEQ(res.nhits, 2);
		spam_result_free(&res);
	}
	spam_rules_free(r);
}

static void
t_load_file(void)
{
	char	 dir[] = "/tmp/test_spam.XXXXXX", path[512], big[512];
	struct spam_rules *r;
	struct diag	 d;
	FILE		*f;

	if (mkdtemp(dir) == NULL) {
		CHECKF(0, "mkdtemp failed");
		return;
	}
	CHECK(str_printf(path, sizeof(path), "%s/main.rules", dir));
	CHECK((f = fopen(path, "w")) != NULL);
	if (f != NULL) {
		fputs("version 17000.002\nbody A /a/\nscore A 2\n", f);
		fclose(f);
	}
	diag_init(&d);
	r = spam_rules_load(path, &d);
	CHECK(r != NULL);
	if (r != NULL) {
		CHECK_STREQ(spam_rules_version(r)->text, "17000.002");
		CHECK_INTEQ(spam_rules_version(r)->minor, 2);
		CHECK_INTEQ(spam_rules_count(r), 1);
	}
	spam_rules_free(r);
	diag_free(&d);

	/* Errors name the file. */
	CHECK((f = fopen(path, "w")) != NULL);
	if (f != NULL) {
		fputs("version 1.0\nbogus\n", f);
		fclose(f);
	}
	diag_init(&d);
	CHECK(spam_rules_load(path, &d) == NULL);
	CHECK(diag_find(&d, "main.rules:2: unknown directive") != NULL);
	diag_free(&d);

	/* One byte over the limit. */
	CHECK(str_printf(big, sizeof(big), "%s/big.rules", dir));
	CHECK((f = fopen(big, "w")) != NULL);
	if (f != NULL) {
		CHECK(ftruncate(fileno(f), SPAM_PACKAGE_MAX + 1) == 0);
		fclose(f);
	}
	diag_init(&d);
	CHECK(spam_rules_load(big, &d) == NULL);
	CHECK(diag_find(&d, "file too large") != NULL);
	diag_free(&d);

	/* Missing. */
	CHECK(str_printf(path, sizeof(path), "%s/none.rules", dir));
	diag_init(&d);
	CHECK(spam_rules_load(path, &d) == NULL);
	CHECK(diag_find(&d, "none.rules: cannot read") != NULL);
	diag_free(&d);
	test_rmtree(dir);
}

/* t_owned_msg: a heap-built message, freed by scan_msg_free. */
static void
t_owned_msg(void)
{
	struct spam_result res;
	struct spam_rules *r;
	struct scan_msg	 m;
	struct diag	 d;

	memset(&m, 0, sizeof(m));
	m.headers = xcalloc(1, sizeof(*m.headers));
	m.headers[0].name = xstrdup("Subject");
	m.headers[0].value = xstrdup("【未承諾広告】お得な情報");
	m.nheaders = 1;
	m.subject = xstrdup(m.headers[0].value);
	m.parts = xcalloc(1, sizeof(*m.parts));
	m.parts[0].parent = -1;
	m.parts[0].body_text = true;
	m.parts[0].content_type = xstrdup("text/plain");
	m.parts[0].text = xstrdup("詳しくは https://お得.example/今すぐ 。");
	m.parts[0].textlen = strlen(m.parts[0].text);
	m.nparts = 1;
	r = load("version 1.0\nheader SUBJ Subject =~ /^【未承諾広告】/\n"
	    "uri JP_URI /^https:\\/\\/お得\\./\ndescribe JP_URI 日本語の URI\n",
	    &d);
	CHECK(r != NULL);
	diag_free(&d);
	if (r != NULL) {
		spam_eval(r, &m, NULL, &res);
		CHECK_INTEQ(res.nhits, 2);
		CHECK(res.score == 2.0);
		if (res.nhits == 2)
			CHECK_STREQ(res.hits[1].describe, "日本語の URI");
		spam_result_free(&res);
	}
	spam_rules_free(r);
	scan_msg_free(&m);
}

TEST_MAIN(t_version, t_directives, t_attach_edges, t_uris, t_uri_host,
    t_meta, t_meta_errors, t_scores, t_gtube, t_signals, t_errors,
    t_errors_collected, t_syntax_ok, t_limits, t_load_file, t_owned_msg)
