/*
 * test_auth.c: sender authentication (scanner/auth.c): SPF results and
 * mechanisms, DKIM verification of messages signed here with a key made
 * at test time, DMARC alignment and policy with the public suffix list,
 * and the Authentication-Results header (exact text, hostile input).
 * All DNS is an in-memory zone behind a struct wdns.
 */
#include <sys/types.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <opendkim/dkim.h>

#include "auth.h"
#include "util.h"
#include "wdns.h"
#include "xmalloc.h"
#include "test.h"

#define KEY	"@KEY@"		/* replaced by the public key record */

struct zrec {
	enum dns_type	 type;
	const char	*name;
	enum dns_status	 status;
	const char	*rr[4];
};

static const struct zrec zone[] = {
	/* SPF */
	{ DNS_TXT, "pass.example.com", DNS_OK,
	    { "v=spf1 ip4:192.0.2.0/24 -all" } },
	{ DNS_TXT, "soft.example.com", DNS_OK,
	    { "v=spf1 ip4:192.0.2.1 ~all" } },
	{ DNS_TXT, "neutral.example.com", DNS_OK, { "v=spf1 ?all" } },
	{ DNS_TXT, "nospf.example.com", DNS_OK,
	    { "google-site-verification=abc" } },
	{ DNS_TXT, "syntax.example.com", DNS_OK,
	    { "v=spf1 ip4:192.0.2.300 -all" } },
	{ DNS_TXT, "two.example.com", DNS_OK,
	    { "v=spf1 -all", "v=spf1 +all" } },
	{ DNS_TXT, "tempfail.example.com", DNS_TEMPFAIL, { NULL } },
	{ DNS_TXT, "inc.example.com", DNS_OK,
	    { "v=spf1 include:pass.example.com -all" } },
	{ DNS_TXT, "a.example.com", DNS_OK, { "v=spf1 a -all" } },
	{ DNS_A, "a.example.com", DNS_OK, { "203.0.113.5" } },
	{ DNS_TXT, "mx.example.com", DNS_OK, { "v=spf1 mx -all" } },
	{ DNS_MX, "mx.example.com", DNS_OK, { "10 mail.mx.example.com" } },
	{ DNS_A, "mail.mx.example.com", DNS_OK, { "203.0.113.7" } },
	{ DNS_TXT, "helo.example.com", DNS_OK,
	    { "v=spf1 ip4:192.0.2.20 -all" } },
	{ DNS_TXT, "v6.example.com", DNS_OK,
	    { "v=spf1 ip6:2001:db8::/32 -all" } },

	/* DKIM keys */
	{ DNS_TXT, "sel._domainkey.example.org", DNS_OK, { KEY } },
	{ DNS_TXT, "sel._domainkey.example.com", DNS_OK, { KEY } },
	{ DNS_TXT, "tmp._domainkey.example.org", DNS_TEMPFAIL, { NULL } },

	/* DMARC */
	{ DNS_TXT, "example.org", DNS_OK,
	    { "v=spf1 ip4:192.0.2.0/24 -all" } },
	{ DNS_TXT, "_dmarc.example.org", DNS_OK,
	    { "v=DMARC1; p=reject; sp=quarantine" } },
	{ DNS_TXT, "other.example.net", DNS_OK,
	    { "v=spf1 ip4:192.0.2.0/24 -all" } },
	{ DNS_TXT, "_dmarc.quar.example.net", DNS_OK,
	    { "v=DMARC1; p=quarantine" } },
	{ DNS_TXT, "_dmarc.strict.example.com", DNS_OK,
	    { "v=DMARC1; p=reject; adkim=s; aspf=s" } },
	{ DNS_TXT, "_dmarc.relaxed.example.com", DNS_OK,
	    { "v=DMARC1; p=reject" } },
	{ DNS_TXT, "sub.strict.example.com", DNS_OK,
	    { "v=spf1 ip4:192.0.2.0/24 -all" } },
	{ DNS_TXT, "sub.relaxed.example.com", DNS_OK,
	    { "v=spf1 ip4:192.0.2.0/24 -all" } },
	{ DNS_TXT, "_dmarc.pct.example.net", DNS_OK,
	    { "v=DMARC1; p=reject; pct=0" } },
	{ DNS_TXT, "_dmarc.bad.example.net", DNS_OK,
	    { "v=DMARC1; p=bogus" } },
	{ DNS_TXT, "_dmarc.dtemp.example.net", DNS_TEMPFAIL, { NULL } },
};

static char	*pubkey_txt;
static char	*privkey_pem;
static int	 nqueries;

/* zone_query: the wdns resolver of the tests. */
static void
zone_query(void *arg, enum dns_type type, const char *name,
    struct wdns_answer *out)
{
	size_t	 i, j;
	bool	 exists = false;

	(void)arg;
	nqueries++;
	for (i = 0; i < nitems(zone); i++) {
		if (strcasecmp(zone[i].name, name) != 0)
			continue;
		exists = true;
		if (zone[i].type != type)
			continue;
		out->status = zone[i].status;
		for (j = 0; j < nitems(zone[i].rr) && zone[i].rr[j]; j++)
			wdns_answer_add(out, strcmp(zone[i].rr[j], KEY) == 0 ?
			    pubkey_txt : zone[i].rr[j]);
		return;
	}
	out->status = exists ? DNS_NODATA : DNS_NXDOMAIN;
}

static const struct wdns zone_dns = { .query = zone_query };

/* keygen: an RSA key: PEM private key and the DKIM key record. */
static void
keygen(void)
{
	EVP_PKEY	*pk = EVP_RSA_gen(2048);
	BIO		*b = BIO_new(BIO_s_mem());
	unsigned char	*der = NULL, *b64;
	char		*data;
	long		 n;
	int		 dl;

	if (pk == NULL || b == NULL ||
	    !PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL))
		abort();
	n = BIO_get_mem_data(b, &data);
	privkey_pem = xstrndup(data, (size_t)n);
	dl = i2d_PUBKEY(pk, &der);
	if (dl <= 0)
		abort();
	b64 = xmalloc(4 * ((size_t)dl + 2) / 3 + 1);
	EVP_EncodeBlock(b64, der, dl);
	pubkey_txt = xasprintf("v=DKIM1; k=rsa; p=%s", b64);
	free(b64);
	OPENSSL_free(der);
	BIO_free(b);
	EVP_PKEY_free(pk);
}

/* sign: msg (CRLF) with a DKIM-Signature of d=dom s=sel prepended. */
static char *
sign(const char *msg, const char *sel, const char *dom)
{
	static const char *hdrs[] = { "from", "to", "subject", "date",
	    "message-id", NULL };
	DKIM_LIB	*lib = dkim_init(NULL, NULL);
	DKIM		*dkim;
	DKIM_STAT	 st;
	const char	*p = msg, *eol, *body;
	unsigned char	*sig;
	size_t		 siglen;
	char		*out;

	if (lib == NULL || dkim_options(lib, DKIM_OP_SETOPT,
	    DKIM_OPTS_SIGNHDRS, hdrs, sizeof(char **)) != DKIM_STAT_OK)
		abort();
	dkim = dkim_sign(lib, (const unsigned char *)"t", NULL,
	    (dkim_sigkey_t)privkey_pem, (const unsigned char *)sel,
	    (const unsigned char *)dom, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256, -1, &st);
	if (dkim == NULL)
		abort();
	body = strstr(msg, "\r\n\r\n");
	if (body == NULL)
		abort();
	while (p < body + 2) {
		eol = strstr(p, "\r\n");
		while (eol[2] == ' ' || eol[2] == '\t')
			eol = strstr(eol + 2, "\r\n");
		dkim_header(dkim, (unsigned char *)(uintptr_t)p,
		    (size_t)(eol - p));
		p = eol + 2;
	}
	if (dkim_eoh(dkim) != DKIM_STAT_OK)
		abort();
	dkim_body(dkim, (unsigned char *)(uintptr_t)(body + 4),
	    strlen(body + 4));
	if (dkim_eom(dkim, NULL) != DKIM_STAT_OK ||
	    dkim_getsighdr_d(dkim, strlen(DKIM_SIGNHEADER) + 2, &sig,
	    &siglen) != DKIM_STAT_OK)
		abort();
	out = xasprintf("%s: %.*s\r\n%s", DKIM_SIGNHEADER, (int)siglen,
	    (char *)sig, msg);
	dkim_free(dkim);
	dkim_close(lib);
	return out;
}

/* msg: a small message From the given address. */
static char *
msg(const char *from, const char *subject, const char *body)
{
	return xasprintf("From: %s\r\nTo: rcpt@example.net\r\n"
	    "Subject: %s\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "Message-ID: <1@example>\r\n\r\n%s", from, subject, body);
}

/* check: run auth_check over text (NULL: a plain message). */
static void
check(struct auth_result *r, const char *ip, const char *helo,
    const char *mfrom, const char *text)
{
	struct auth_input in;

	memset(&in, 0, sizeof(in));
	in.client_ip = ip;
	in.helo = helo;
	in.mail_from = mfrom;
	in.raw = text != NULL ? text :
	    "From: a@nodmarc.example.com\r\n\r\nhi\r\n";
	in.len = strlen(in.raw);
	in.authserv_id = "mx.test.example";
	in.dns = &zone_dns;
	auth_check(&in, r);
}

static void
t_spf(void)
{
	static const struct {
		const char *name, *ip, *helo, *from, *want, *dom;
	} c[] = {
		{ "pass", "192.0.2.10", "h.example", "u@pass.example.com",
		    "pass", "pass.example.com" },
		{ "fail", "198.51.100.1", "h.example", "u@pass.example.com",
		    "fail", "pass.example.com" },
		{ "softfail", "198.51.100.1", NULL, "u@soft.example.com",
		    "softfail", "soft.example.com" },
		{ "neutral", "198.51.100.1", NULL, "u@neutral.example.com",
		    "neutral", "neutral.example.com" },
		{ "no record", "198.51.100.1", NULL, "u@nospf.example.com",
		    "none", "nospf.example.com" },
		{ "nxdomain", "198.51.100.1", NULL, "u@nx.example.com",
		    "none", "nx.example.com" },
		{ "syntax", "198.51.100.1", NULL, "u@syntax.example.com",
		    "permerror", "syntax.example.com" },
		{ "two records", "198.51.100.1", NULL, "u@two.example.com",
		    "permerror", "two.example.com" },
		{ "tempfail", "198.51.100.1", NULL, "u@tempfail.example.com",
		    "temperror", "tempfail.example.com" },
		{ "include", "192.0.2.77", NULL, "u@inc.example.com",
		    "pass", "inc.example.com" },
		{ "include miss", "198.51.100.1", NULL, "u@inc.example.com",
		    "fail", "inc.example.com" },
		{ "a", "203.0.113.5", NULL, "u@a.example.com", "pass",
		    "a.example.com" },
		{ "a miss", "203.0.113.6", NULL, "u@a.example.com", "fail",
		    "a.example.com" },
		{ "mx", "203.0.113.7", NULL, "u@MX.Example.COM.", "pass",
		    "mx.example.com" },
		{ "mx miss", "203.0.113.5", NULL, "u@mx.example.com", "fail",
		    "mx.example.com" },
		{ "null sender", "192.0.2.20", "helo.example.com", "",
		    "pass", "helo.example.com" },
		{ "null sender fail", "192.0.2.21", "helo.example.com", NULL,
		    "fail", "helo.example.com" },
		{ "null sender no helo", "192.0.2.20", NULL, "", "none", "" },
		{ "null sender ip helo", "192.0.2.20", "[192.0.2.20]", "",
		    "none", "" },
		{ "ipv6", "2001:db8::25", NULL, "u@v6.example.com", "pass",
		    "v6.example.com" },
		{ "ipv6 miss", "2001:db9::25", NULL, "u@v6.example.com",
		    "fail", "v6.example.com" },
		{ "no client ip", NULL, NULL, "u@pass.example.com", "none",
		    "pass.example.com" },
		{ "bad domain", "192.0.2.10", NULL, "u@bad..example.com",
		    "none", "" },
		{ "single label", "192.0.2.10", NULL, "u@localhost", "none",
		    "" },
		{ "hostile local part", "192.0.2.10", NULL,
		    "\"a b\x01%{l}\"@pass.example.com", "pass",
		    "pass.example.com" },
	};
	struct auth_result r;
	size_t i;

	for (i = 0; i < nitems(c); i++) {
		check(&r, c[i].ip, c[i].helo, c[i].from, NULL);
		CHECKF(strcmp(r.spf, c[i].want) == 0, "%s: spf=%s", c[i].name,
		    r.spf);
		CHECKF(strcmp(r.spf_domain, c[i].dom) == 0, "%s: domain=%s",
		    c[i].name, r.spf_domain);
		CHECKF(r.header != NULL, "%s", c[i].name);
		auth_result_free(&r);
	}
}

static void
t_dkim(void)
{
	struct auth_result r;
	char *m, *s, *t, *p;

	m = msg("Alice <alice@example.org>", "hello", "Hi there.\r\n");
	s = sign(m, "sel", "example.org");

	check(&r, NULL, NULL, "", s);
	CHECK_STREQ(r.dkim, "pass");
	CHECK_STREQ(r.dkim_domain, "example.org");
	auth_result_free(&r);

	/* body altered */
	t = xstrdup(s);
	p = strstr(t, "Hi there.");
	p[0] = 'h';
	check(&r, NULL, NULL, "", t);
	CHECK_STREQ(r.dkim, "fail");
	CHECK_STREQ(r.dkim_domain, "example.org");
	auth_result_free(&r);
	free(t);

	/* signed header altered */
	t = xstrdup(s);
	p = strstr(t, "Subject: hello");
	p[9] = 'j';
	check(&r, NULL, NULL, "", t);
	CHECK_STREQ(r.dkim, "fail");
	auth_result_free(&r);
	free(t);

	/* From altered */
	t = xstrdup(s);
	p = strstr(t, "Alice <");
	p[0] = 'M';
	check(&r, NULL, NULL, "", t);
	CHECK_STREQ(r.dkim, "fail");
	auth_result_free(&r);
	free(t);

	/* unsigned */
	check(&r, NULL, NULL, "", m);
	CHECK_STREQ(r.dkim, "none");
	CHECK_STREQ(r.dkim_domain, "");
	auth_result_free(&r);
	free(s);

	/* no key in DNS: permerror */
	s = sign(m, "nokey", "example.org");
	check(&r, NULL, NULL, "", s);
	CHECK_STREQ(r.dkim, "permerror");
	CHECK_STREQ(r.dkim_domain, "example.org");
	auth_result_free(&r);
	free(s);

	/* key lookup tempfails: temperror */
	s = sign(m, "tmp", "example.org");
	check(&r, NULL, NULL, "", s);
	CHECK_STREQ(r.dkim, "temperror");
	auth_result_free(&r);
	free(s);

	/* LF-only line endings (as stored by some MTAs) */
	s = sign(m, "sel", "example.org");
	t = xcalloc(1, strlen(s) + 1);
	for (p = s; *p != '\0'; p++)
		if (*p != '\r')
			t[strlen(t)] = *p;
	check(&r, NULL, NULL, "", t);
	CHECK_STREQ(r.dkim, "pass");
	auth_result_free(&r);
	free(t);

	/* garbage signature: neutral */
	t = xasprintf("DKIM-Signature: v=1; this is not a signature\r\n%s",
	    m);
	check(&r, NULL, NULL, "", t);
	CHECK_STREQ(r.dkim, "neutral");
	auth_result_free(&r);
	free(t);

	/* a broken signature beside a good one: pass wins */
	t = xasprintf("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; "
	    "s=nokey; h=from; bh=AAAA; b=AAAA\r\n%s", s);
	check(&r, NULL, NULL, "", t);
	CHECK_STREQ(r.dkim, "pass");
	CHECK_STREQ(r.dkim_domain, "example.org");
	auth_result_free(&r);
	free(t);
	free(s);
	free(m);
}

static void
t_dmarc(void)
{
	struct auth_result r;
	char *m, *s;

	/* aligned SPF pass */
	m = msg("a@example.org", "x", "body\r\n");
	check(&r, "192.0.2.10", "h.example", "b@example.org", m);
	CHECK_STREQ(r.spf, "pass");
	CHECK_STREQ(r.dmarc, "pass");
	CHECK_STREQ(r.dmarc_policy, "reject");
	CHECK_STREQ(r.from_domain, "example.org");
	auth_result_free(&r);

	/* SPF passes for another domain, no DKIM: fail, reject */
	check(&r, "192.0.2.10", "h.example", "b@other.example.net", m);
	CHECK_STREQ(r.spf, "pass");
	CHECK_STREQ(r.dmarc, "fail");
	CHECK_STREQ(r.dmarc_policy, "reject");
	auth_result_free(&r);

	/* SPF fails, DKIM fails */
	s = sign(m, "sel", "example.org");
	s[strlen(s) - 3] = 'X';
	check(&r, "198.51.100.1", "h.example", "b@example.org", s);
	CHECK_STREQ(r.spf, "fail");
	CHECK_STREQ(r.dkim, "fail");
	CHECK_STREQ(r.dmarc, "fail");
	CHECK_STREQ(r.dmarc_policy, "reject");
	auth_result_free(&r);
	free(s);

	/* aligned DKIM pass rescues a failed SPF */
	s = sign(m, "sel", "example.org");
	check(&r, "198.51.100.1", "h.example", "b@example.org", s);
	CHECK_STREQ(r.spf, "fail");
	CHECK_STREQ(r.dkim, "pass");
	CHECK_STREQ(r.dmarc, "pass");
	auth_result_free(&r);
	free(s);
	free(m);

	/* p=quarantine */
	m = msg("a@quar.example.net", "x", "body\r\n");
	check(&r, "192.0.2.10", NULL, "b@pass.example.com", m);
	CHECK_STREQ(r.dmarc, "fail");
	CHECK_STREQ(r.dmarc_policy, "quarantine");
	auth_result_free(&r);
	free(m);

	/* no record anywhere */
	m = msg("a@nodmarc.example.net", "x", "body\r\n");
	check(&r, "192.0.2.10", NULL, "b@other.example.net", m);
	CHECK_STREQ(r.dmarc, "none");
	CHECK_STREQ(r.dmarc_policy, "");
	CHECK_STREQ(r.from_domain, "nodmarc.example.net");
	auth_result_free(&r);
	free(m);

	/* subdomain: the org domain's record, its sp= */
	m = msg("a@news.example.org", "x", "body\r\n");
	check(&r, "192.0.2.10", NULL, "b@other.example.net", m);
	CHECK_STREQ(r.dmarc, "fail");
	CHECK_STREQ(r.dmarc_policy, "quarantine");
	auth_result_free(&r);
	/* ... and relaxed SPF alignment with the parent */
	check(&r, "192.0.2.10", NULL, "b@example.org", m);
	CHECK_STREQ(r.dmarc, "pass");
	auth_result_free(&r);
	/* ... and relaxed DKIM alignment with the parent */
	s = sign(m, "sel", "example.org");
	check(&r, "198.51.100.1", NULL, "b@other.example.net", s);
	CHECK_STREQ(r.dkim, "pass");
	CHECK_STREQ(r.dmarc, "pass");
	auth_result_free(&r);
	free(s);
	free(m);

	/* strict alignment: a subdomain's SPF pass does not align */
	m = msg("a@strict.example.com", "x", "body\r\n");
	check(&r, "192.0.2.10", NULL, "b@sub.strict.example.com", m);
	CHECK_STREQ(r.spf, "pass");
	CHECK_STREQ(r.dmarc, "fail");
	CHECK_STREQ(r.dmarc_policy, "reject");
	auth_result_free(&r);
	/* nor the parent's DKIM signature */
	s = sign(m, "sel", "example.com");
	check(&r, "198.51.100.1", NULL, "b@other.example.net", s);
	CHECK_STREQ(r.dkim, "pass");
	CHECK_STREQ(r.dmarc, "fail");
	auth_result_free(&r);
	free(s);
	free(m);
	/* relaxed (the default): both align */
	m = msg("a@relaxed.example.com", "x", "body\r\n");
	check(&r, "192.0.2.10", NULL, "b@sub.relaxed.example.com", m);
	CHECK_STREQ(r.dmarc, "pass");
	auth_result_free(&r);
	s = sign(m, "sel", "example.com");
	check(&r, "198.51.100.1", NULL, "b@other.example.net", s);
	CHECK_STREQ(r.dmarc, "pass");
	auth_result_free(&r);
	free(s);
	free(m);

	/* pct=0: a failing message gets the next milder policy */
	m = msg("a@pct.example.net", "x", "body\r\n");
	check(&r, "192.0.2.10", NULL, "b@pass.example.com", m);
	CHECK_STREQ(r.dmarc, "fail");
	CHECK_STREQ(r.dmarc_policy, "quarantine");
	auth_result_free(&r);
	free(m);

	/* broken record: permerror; lookup tempfail: temperror */
	m = msg("a@bad.example.net", "x", "body\r\n");
	check(&r, "192.0.2.10", NULL, "b@pass.example.com", m);
	CHECK_STREQ(r.dmarc, "permerror");
	auth_result_free(&r);
	free(m);
	m = msg("a@dtemp.example.net", "x", "body\r\n");
	check(&r, "192.0.2.10", NULL, "b@pass.example.com", m);
	CHECK_STREQ(r.dmarc, "temperror");
	auth_result_free(&r);
	free(m);

	/* From with two addresses, or two From fields: permerror */
	m = msg("a@example.org, b@example.net", "x", "body\r\n");
	check(&r, "192.0.2.10", NULL, "b@example.org", m);
	CHECK_STREQ(r.dmarc, "permerror");
	CHECK_STREQ(r.from_domain, "");
	auth_result_free(&r);
	free(m);
	check(&r, "192.0.2.10", NULL, "b@example.org",
	    "From: a@example.org\r\nFrom: a@example.org\r\n\r\nx\r\n");
	CHECK_STREQ(r.dmarc, "permerror");
	auth_result_free(&r);
	check(&r, "192.0.2.10", NULL, "b@example.org", "Subject: x\r\n\r\n");
	CHECK_STREQ(r.dmarc, "permerror");
	auth_result_free(&r);
	/* display names, comments and quotes around one address */
	m = msg("\"Doe, J. <x@evil.example>\" (c@d.e) <j@Example.ORG>", "x",
	    "body\r\n");
	check(&r, "192.0.2.10", NULL, "b@example.org", m);
	CHECK_STREQ(r.from_domain, "example.org");
	CHECK_STREQ(r.dmarc, "pass");
	auth_result_free(&r);
	free(m);
}

/* header_clean: only printable ASCII, CRLF line ends, TAB folds. */
static bool
header_clean(const char *h, int *lines)
{
	const char *p;

	*lines = 0;
	for (p = h; *p != '\0'; p++) {
		if (*p == '\r') {
			if (p[1] != '\n')
				return false;
			(*lines)++;
			p++;
			if (p[1] != '\0' && p[1] != '\t')
				return false;
			continue;
		}
		if ((*p < 0x20 && *p != '\t') || *p >= 0x7f || *p == '\n')
			return false;
	}
	return true;
}

static void
t_header(void)
{
	struct auth_result r;
	char *m, *s;
	int lines = 0;

	m = msg("a@example.org", "x", "body\r\n");
	check(&r, "192.0.2.10", "h.example", "b@example.org", m);
	CHECK_STREQ(r.header, "Authentication-Results: mx.test.example;\r\n"
	    "\tspf=pass smtp.mailfrom=example.org;\r\n"
	    "\tdkim=none;\r\n"
	    "\tdmarc=pass header.from=example.org\r\n");
	auth_result_free(&r);
	CHECK(r.header == NULL);

	s = sign(m, "sel", "example.org");
	check(&r, "192.0.2.20", "helo.example.com", "", s);
	CHECK_STREQ(r.header, "Authentication-Results: mx.test.example;\r\n"
	    "\tspf=pass smtp.helo=helo.example.com;\r\n"
	    "\tdkim=pass header.d=example.org;\r\n"
	    "\tdmarc=pass header.from=example.org\r\n");
	auth_result_free(&r);
	free(s);
	free(m);

	/* hostile From, HELO, MAIL FROM and authserv-id */
	m = msg("a@example.org\r\n\tInjected: 1;\r\n\tdkim=pass", "x", "b\r\n");
	{
		struct auth_input in;

		memset(&in, 0, sizeof(in));
		in.client_ip = "192.0.2.10";
		in.helo = "evil;\r\nX-Injected: 1";
		in.mail_from = "x@evil.example;\r\nX-Injected: 2";
		in.raw = m;
		in.len = strlen(m);
		in.authserv_id = "mx\r\nX-Injected: 3";
		in.dns = &zone_dns;
		auth_check(&in, &r);
	}
	CHECK(r.header != NULL && strstr(r.header, "Injected") == NULL);
	CHECK(r.header != NULL && header_clean(r.header, &lines));
	CHECK_INTEQ(lines, 4);
	CHECK(strncmp(r.header, "Authentication-Results: localhost;\r\n",
	    36) == 0);
	CHECK_STREQ(r.spf, "none");
	CHECK_STREQ(r.dmarc, "permerror");
	auth_result_free(&r);
	free(m);

	/* 8-bit domains are not put in the header */
	check(&r, "192.0.2.10", NULL, "u@b\xc3\xbc" "cher.example",
	    "From: a@b\xc3\xbc" "cher.example\r\n\r\nx");
	CHECK(header_clean(r.header, &lines) && lines == 4);
	CHECK_STREQ(r.spf_domain, "");
	CHECK_STREQ(r.from_domain, "");
	auth_result_free(&r);
}

static void
t_hostile(void)
{
	static const char *const texts[] = {
		"",
		"\r\n",
		"no colon at all\r\n\r\n",
		"From:\r\n\r\n",
		"From: <>\r\n\r\n",
		"From: @\r\n\r\n",
		"From: a@\r\n\r\n",
		"From: ((((((((((\r\n\r\n",
		"From: \"unterminated@example.org\r\n\r\n",
		"From: a@[192.0.2.1]\r\n\r\n",
		"From: group: a@example.org, b@example.org;\r\n\r\n",
		"From: undisclosed:;\r\n\r\n",
		"\tcontinuation first\r\nFrom: a@example.org\r\n\r\n",
		"DKIM-Signature: v=1; a=rsa-sha256; d=; s=; b=; bh=;\r\n"
		    "From: a@example.org\r\n\r\n",
		"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; "
		    "h=from:from:from; bh=\xff\xfe; b=%%%%\r\n"
		    "From: a@example.org\r\n\r\nbody",
		"DKIM-Signature:\r\nFrom: a@example.org\r\n",
		"From: a@example.org\n\nbare lf body\nline\n",
		"From: a@example.org\r\rSubject: cr only\r\r\r\rbody",
	};
	struct auth_result r;
	size_t i;
	int lines = 0;

	for (i = 0; i < nitems(texts); i++) {
		check(&r, "192.0.2.10", "h.example", "b@example.org",
		    texts[i]);
		CHECKF(r.header != NULL && header_clean(r.header, &lines) &&
		    lines == 4, "text %zu", i);
		CHECKF(r.spf[0] != '\0' && r.dkim[0] != '\0' &&
		    r.dmarc[0] != '\0', "text %zu", i);
		auth_result_free(&r);
	}
	/* the group's first address counts; two mailboxes: permerror */
	check(&r, NULL, NULL, "", texts[10]);
	CHECK_STREQ(r.dmarc, "permerror");
	auth_result_free(&r);
}

static void
t_noinit(void)
{
	struct auth_result r;

	auth_shutdown();
	check(&r, "192.0.2.10", "h.example", "b@pass.example.com", NULL);
	CHECK_STREQ(r.spf, "temperror");
	CHECK_STREQ(r.dkim, "temperror");
	CHECK(r.header != NULL);
	auth_result_free(&r);
}

static void
t_init(void)
{
	char err[256];

	CHECK(auth_init("/nonexistent/psl.dat", err, sizeof(err)) == -1);
	CHECK(strstr(err, "/nonexistent/psl.dat") != NULL);
	CHECK(auth_init(NULL, err, sizeof(err)) == 0);
	CHECK(auth_init(NULL, err, sizeof(err)) == 0);
	keygen();
}

static void
t_cleanup(void)
{
	auth_shutdown();
	free(pubkey_txt);
	free(privkey_pem);
}

TEST_MAIN(t_init, t_spf, t_dkim, t_dmarc, t_header, t_hostile, t_noinit,
    t_cleanup)
