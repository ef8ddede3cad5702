/*
 * fuzz_spam.c: the spam rule package loader, one evaluation, and the URI
 * extraction, on arbitrary bytes.
 *
 * The input is a rule package for spam_rules_parse.  When it loads, it
 * is evaluated over a small fixed message built here (headers, a plain
 * and an HTML body part, an attachment and an archive member) with a
 * fixed set of signals, and over a second message whose subject, header
 * and body text are the input itself; the result must be consistent
 * (every hit listed once, the sum of the scores).  The input, as the
 * text of an HTML part, also goes through spam_uris and spam_uri_host,
 * which parse message text from outside.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "scan.h"
#include "spam.h"
#include "util.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define S(x)	((char *)(x))
#define FZ_TEXT	"Hello, you have won!  http://192.0.2.7/claim www.example.com " \
	"未承諾広告 XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-" \
	"TEST-EMAIL*C.34X\n"
#define FZ_HTML	"<a href=\"https://user@Example.COM.:8080/x?a=1&amp;b=2\">" \
	"click</a> <a href='ftp://[2001:db8::1]/f'>f</a>\nclick f\n"

static const char *const fz_zones[] = { "zen.spamhaus.org", "a.example",
    NULL };

/* fuzz_check: evaluate r over m and check the result's invariants. */
static void
fuzz_check(const struct spam_rules *r, const struct scan_msg *m,
    const struct spam_signals *sig)
{
	struct spam_result res;
	double	 sum = 0;
	size_t	 i;

	spam_eval(r, m, sig, &res);
	if (res.nhits > spam_rules_count(r) || (res.nhits > 0) !=
	    (res.hits != NULL))
		abort();
	for (i = 0; i < res.nhits; i++) {
		if (res.hits[i].name == NULL || res.hits[i].describe == NULL ||
		    res.hits[i].score == 0 || strncmp(res.hits[i].name, "__",
		    2) == 0)
			abort();
		sum += res.hits[i].score;
	}
	if (sum != res.score)
		abort();
	spam_result_free(&res);
}

/* fuzz_fixed: the fixed message. */
static void
fuzz_fixed(const struct spam_rules *r)
{
	struct scan_header hdr[] = {
		{ S("From"), S("\"山田 太郎\" <Taro1234@Example.JP>") },
		{ S("To"), S("a@example.com, \"B, b\" <b@example.org>, "
		    "g: c@example.net;") },
		{ S("Subject"), S("今だけお得!!! FREE MONEY") },
		{ S("X-Mailer"), S("BulkMailer 2.0") },
		{ S("Received"), S("from a") },
		{ S("Received"), S("from b") },
	};
	struct scan_part parts[4];
	struct spam_signals sig;
	struct scan_msg	 m;

	memset(parts, 0, sizeof(parts));
	parts[0].parent = -1;
	parts[0].body_text = true;
	parts[0].content_type = S("text/plain");
	parts[0].text = S(FZ_TEXT);
	parts[0].textlen = sizeof(FZ_TEXT) - 1;
	parts[1].parent = -1;
	parts[1].body_text = true;
	parts[1].html = true;
	parts[1].content_type = S("text/html");
	parts[1].text = S(FZ_HTML);
	parts[1].textlen = sizeof(FZ_HTML) - 1;
	parts[2].parent = -1;
	parts[2].attachment = true;
	parts[2].filename = S("invoice.pdf.exe");
	parts[2].content_type = S("application/zip");
	parts[2].true_type = S("application/zip");
	parts[2].size = 4096;
	parts[2].text = S("archive text");
	parts[2].textlen = 12;
	parts[3].parent = 2;
	parts[3].depth = 1;
	parts[3].attachment = true;
	parts[3].in_archive = true;
	parts[3].filename = S("inner/doc.scr");
	parts[3].size = 100000;
	memset(&m, 0, sizeof(m));
	m.headers = hdr;
	m.nheaders = nitems(hdr);
	m.subject = hdr[2].value;
	m.parts = parts;
	m.nparts = nitems(parts);
	m.size = 110000;
	m.nhdr_rcpts = 3;
	memset(&sig, 0, sizeof(sig));
	sig.spf = "fail";
	sig.dkim = "none";
	sig.dmarc = "fail";
	sig.dmarc_policy = "reject";
	sig.dnsbl = fz_zones;
	sig.uribl = fz_zones;
	fuzz_check(r, &m, &sig);
	fuzz_check(r, &m, NULL);
}

/* fuzz_text_msg: a message whose subject, header and texts are text. */
static void
fuzz_text_msg(struct scan_msg *m, struct scan_header *h,
    struct scan_part *p, char *text, size_t len)
{
	memset(m, 0, sizeof(*m));
	memset(p, 0, 2 * sizeof(*p));
	h->name = S("To");
	h->value = text;
	p[0].parent = -1;
	p[0].body_text = true;
	p[0].html = true;
	p[0].text = text;
	p[0].textlen = len;
	p[1].parent = -1;
	p[1].attachment = true;
	p[1].filename = text;
	p[1].text = text;
	p[1].textlen = len;
	m->headers = h;
	m->nheaders = 1;
	m->subject = text;
	m->parts = p;
	m->nparts = 2;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scan_header h;
	struct scan_part p[2];
	struct spam_rules *r;
	struct scan_msg	 m;
	struct diag	 d;
	char		**uris, host[256];
	char		*text;
	size_t		 n, i;

	text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_text_msg(&m, &h, p, text, size);

	n = spam_uris(&m, &uris);
	if (n > SPAM_MAX_URIS)
		abort();
	for (i = 0; i < n; i++)
		if (spam_uri_host(uris[i], host, sizeof(host)) &&
		    strlen(host) >= sizeof(host))
			abort();
	spam_uris_free(uris, n);

	diag_init(&d);
	r = spam_rules_parse((const char *)data, size, "fuzz.rules", &d);
	if ((r == NULL) != (d.nerrors > 0))
		abort();
	if (r != NULL) {
		fuzz_fixed(r);
		fuzz_check(r, &m, NULL);
	}
	spam_rules_free(r);
	diag_free(&d);
	free(text);
	return 0;
}
