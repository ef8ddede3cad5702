/*
 * fuzz_notify.c: the notification template parser and builder against
 * hostile templates and token values, checked against the rules of the
 * output rather than only for crashes.
 *
 * Input: the template, then optionally "|||" and a hostile token value
 * for %SUBJECT% and %ATTACHMENT%, whose first byte also picks one to three
 * recipients.  Checked:
 *  - a parse error names the template and a line, or the size;
 *  - a built message has CRLF line ends only, no NUL, no 8-bit octet
 *    (the addresses are ASCII), lines of at most 998 octets;
 *  - its header block is exactly the nine generated fields in order, so
 *    no value made a field of its own; To: is never <>;
 *  - a quoted-printable body has lines of at most 76 octets;
 *  - the only build error is a message over the output limit, and out
 *    is then unchanged.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notify.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FZ_ASSERT(c)	do { if (!(c)) abort(); } while (0)
#define FZ_SEP		"|||"
#define FZ_LIMIT	(1024 * 1024)

static const char *const fz_fields[] = { "Date", "From", "To", "Subject",
    "Message-ID", "MIME-Version", "Content-Type",
    "Content-Transfer-Encoding", "Auto-Submitted" };

/* fz_lines: CRLF only, no NUL, no 8-bit, lines of at most max octets. */
static void
fz_lines(const uint8_t *m, size_t n, size_t max)
{
	size_t	 i, col = 0;

	FZ_ASSERT(n >= 2 && m[n - 2] == '\r' && m[n - 1] == '\n');
	for (i = 0; i < n; i++) {
		FZ_ASSERT(m[i] != '\0' && m[i] < 0x80);
		if (m[i] == '\r')
			FZ_ASSERT(i + 1 < n && m[i + 1] == '\n');
		if (m[i] == '\n')
			FZ_ASSERT(i > 0 && m[i - 1] == '\r');
		if (m[i] == '\r' || m[i] == '\n')
			col = 0;
		else
			FZ_ASSERT(++col <= max);
	}
}

/* fz_headers: the nine fields in order; returns the body's start. */
static size_t
fz_headers(const uint8_t *m, size_t n, bool *qp)
{
	const uint8_t	*e;
	size_t		 i, f = 0, nl;

	for (i = 0; ; i = (size_t)(e - m) + 2) {
		FZ_ASSERT(i < n);
		e = memmem(m + i, n - i, "\r\n", 2);
		FZ_ASSERT(e != NULL);
		if (e == m + i)
			break;
		if (m[i] == ' ' || m[i] == '\t') {
			FZ_ASSERT(f > 0);
			continue;
		}
		FZ_ASSERT(f < 9);
		nl = strlen(fz_fields[f]);
		FZ_ASSERT((size_t)(e - m) - i > nl &&
		    memcmp(m + i, fz_fields[f], nl) == 0 && m[i + nl] == ':');
		if (f == 2)
			FZ_ASSERT(memmem(m + i, (size_t)(e - m) - i, "<>", 2) ==
			    NULL);
		if (f == 7)
			*qp = memcmp(m + i + nl, ": quoted-printable", 18) == 0;
		f++;
	}
	FZ_ASSERT(f == 9);
	return i + 2;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static bool		 tz_set;
	static const char *const to[] = { "admin@example.jp",
	    "\"a b\"@example.net", "carol@example.com" };
	struct notify_template	*t;
	struct notify_tokens	 tok;
	const uint8_t		*sep;
	struct buf		 out;
	char			 err[256], *val;
	size_t			 tlen, body;
	bool			 qp = false;

	if (!tz_set) {
		setenv("TZ", "EST5EDT,M3.2.0,M11.1.0", 1);
		tzset();
		tz_set = true;
	}
	sep = memmem(data, len, FZ_SEP, 3);
	tlen = sep != NULL ? (size_t)(sep - data) : len;
	val = sep != NULL ? xstrndup((const char *)sep + 3, len - tlen - 3) :
	    xstrdup("");
	err[0] = '\0';
	if ((t = notify_template_parse("fz", data, tlen, err,
	    sizeof(err))) == NULL) {
		FZ_ASSERT(strncmp(err, "template fz: ", 13) == 0);
		free(val);
		return 0;
	}
	memset(&tok, 0, sizeof(tok));
	tok.sender = "";
	tok.subject = val;
	tok.attachment = val;
	tok.reason = "scan failed 3 times";
	tok.date = 1752539400;
	buf_init(&out, FZ_LIMIT);
	buf_addstr(&out, "x");
	if (notify_build(t, &tok, "postmaster@gw.example.jp", to,
	    1 + (val[0] & 1) + (val[0] & 2) / 2, "gw.example.jp", &out, err,
	    sizeof(err)) == 0) {
		fz_lines(out.data + 1, out.len - 1, 998);
		body = 1 + fz_headers(out.data + 1, out.len - 1, &qp);
		if (qp)
			fz_lines(out.data + body, out.len - body, 76);
	} else {
		FZ_ASSERT(out.len == 1 && strstr(err, "message over") != NULL);
	}
	buf_free(&out);
	notify_template_free(t);
	free(val);
	return 0;
}
