/*
 * fuzz_bounce.c: the delivery status notification builder against hostile
 * replies, texts, addresses and original messages, checked against the
 * rules of its output rather than only for crashes.
 *
 * Input: a flags byte, four time bytes, then fields separated by "|||":
 * subject, text, sender, recipient 1, reply 1, recipient 2, reply 2,
 * ORCPT, status, remote MTA, ENVID, original message.  Flags: bit 0
 * RET=HDRS, bits 1-2 recipients delayed, bit 3 a small RET=FULL limit,
 * bit 4 a second recipient, bit 5 no original at all.
 *
 * Checked on every success:
 *  - CRLF line ends only, no NUL, no line over 998 octets;
 *  - a header block of fields and continuations, To: present, not <>;
 *  - the boundary from Content-Type occurs in exactly three delimiter
 *    lines and one close delimiter (the last line), nowhere else;
 *  - no 8-bit octet when the result says 7-bit (headers: unless
 *    SMTPUTF8, body: unless 8BITMIME);
 * and on failure: only the errors the input can cause, out unchanged, and
 * a null sender always refused.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bounce.h"
#include "envelope.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FZ_ASSERT(c)	do { if (!(c)) abort(); } while (0)
#define FZ_NFIELDS	12
#define FZ_SEP		"|||"

struct fz_field {
	const uint8_t	*p;
	size_t		 n;
};

/* fz_random: a counter, so every draw gives a new boundary. */
static void
fz_random(void *arg, void *dst, size_t n)
{
	unsigned	*ctr = arg;
	uint8_t		*p = dst;
	size_t		 i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(*ctr * 131 + i * 17);
	(*ctr)++;
}

/* fz_split: the fields of the input (missing ones empty). */
static void
fz_split(const uint8_t *in, size_t len, struct fz_field *f)
{
	const uint8_t	*s;
	size_t		 i;

	memset(f, 0, FZ_NFIELDS * sizeof(*f));
	for (i = 0; i < FZ_NFIELDS && len > 0; i++) {
		s = memmem(in, len, FZ_SEP, 3);
		f[i].p = in;
		f[i].n = s != NULL ? (size_t)(s - in) : len;
		if (s == NULL)
			break;
		len -= f[i].n + 3;
		in = s + 3;
	}
}

/* fz_str: a field as a C string (cut at a NUL, as a C caller would). */
static char *
fz_str(const struct fz_field *f)
{
	return xstrndup((const char *)(f->p ? f->p : (const uint8_t *)""),
	    f->n);
}

/* fz_lines: CRLF only, no NUL, lines of at most 998 octets. */
static void
fz_lines(const uint8_t *m, size_t n)
{
	size_t	 i, col = 0;

	FZ_ASSERT(n >= 2 && m[n - 2] == '\r' && m[n - 1] == '\n');
	for (i = 0; i < n; i++) {
		FZ_ASSERT(m[i] != '\0');
		if (m[i] == '\r')
			FZ_ASSERT(i + 1 < n && m[i + 1] == '\n');
		if (m[i] == '\n')
			FZ_ASSERT(i > 0 && m[i - 1] == '\r');
		if (m[i] == '\r' || m[i] == '\n')
			col = 0;
		else
			FZ_ASSERT(++col <= BOUNCE_LINE_MAX);
	}
}

/* fz_next: start of the line after the one at i (lines end in CRLF). */
static size_t
fz_next(const uint8_t *m, size_t n, size_t i)
{
	const uint8_t	*e = memmem(m + i, n - i, "\r\n", 2);

	FZ_ASSERT(e != NULL);
	return (size_t)(e - m) + 2;
}

/* fz_headers: the header block; returns the body start, sets boundary. */
static size_t
fz_headers(const uint8_t *m, size_t n, char *bnd, size_t bsize, bool utf8)
{
	static const char key[] = "\tboundary=\"";
	size_t		 i, e, k;
	bool		 to = false;

	bnd[0] = '\0';
	for (i = 0; ; i = e) {
		FZ_ASSERT(i < n);
		e = fz_next(m, n, i);
		if (e - i == 2)
			return e;
		for (k = i; k < e - 2; k++)
			FZ_ASSERT(utf8 || m[k] < 0x80);
		if (m[i] == ' ' || m[i] == '\t') {
			if (e - i > sizeof(key) && memcmp(m + i, key,
			    sizeof(key) - 1) == 0) {
				k = e - 3 - (i + sizeof(key) - 1);
				FZ_ASSERT(k > 0 && k < bsize);
				memcpy(bnd, m + i + sizeof(key) - 1, k);
				bnd[k] = '\0';
			}
			continue;
		}
		for (k = i; m[k] != ':'; k++)
			FZ_ASSERT(m[k] > ' ' && m[k] < 0x7f);
		if (k - i == 2 && memcmp(m + i, "To", 2) == 0) {
			FZ_ASSERT(!to && e - k > 6 && m[k + 2] == '<');
			FZ_ASSERT(m[k + 3] != '>');
			to = true;
		}
	}
}

/* fz_count: occurrences of s in m[0..n). */
static size_t
fz_count(const uint8_t *m, size_t n, const char *s)
{
	const uint8_t	*p = m, *f;
	size_t		 c = 0, sl = strlen(s);

	while ((f = memmem(p, n - (size_t)(p - m), s, sl)) != NULL) {
		c++;
		p = f + 1;
	}
	return c;
}

/* fz_check: the structural rules of a finished report. */
static void
fz_check(const uint8_t *m, size_t n, const struct bounce_result *res)
{
	char	 bnd[128], dl[140];
	size_t	 body, i, e, dlen, ndelim = 0;
	bool	 closed = false;

	fz_lines(m, n);
	body = fz_headers(m, n, bnd, sizeof(bnd), res->smtputf8);
	FZ_ASSERT(bnd[0] != '\0');
	snprintf(dl, sizeof(dl), "--%s", bnd);
	dlen = strlen(dl);
	for (i = body; i < n; i = e) {
		e = fz_next(m, n, i);
		FZ_ASSERT(!closed);
		if (e - i - 2 < dlen || memcmp(m + i, dl, dlen) != 0)
			continue;
		if (e - i - 2 == dlen + 2) {
			FZ_ASSERT(memcmp(m + i + dlen, "--", 2) == 0);
			closed = true;
		} else {
			FZ_ASSERT(e - i - 2 == dlen);
			ndelim++;
		}
	}
	FZ_ASSERT(closed && ndelim == 3);
	FZ_ASSERT(fz_count(m + body, n - body, bnd) == 4);
	if (!res->body_8bit)
		for (i = body; i < n; i++)
			FZ_ASSERT(m[i] < 0x80);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static bool		 tz_set;
	struct fz_field		 f[FZ_NFIELDS];
	struct envelope		 env;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct bounce_rcpt	 r[2];
	struct buf		 out;
	char			*s[FZ_NFIELDS];
	enum bounce_err		 e;
	unsigned		 ctr = 0, flags, i;
	uint32_t		 t;

	if (len < 5)
		return 0;
	if (!tz_set) {
		setenv("TZ", "EST5EDT,M3.2.0,M11.1.0", 1);
		tzset();
		tz_set = true;
	}
	flags = data[0];
	t = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 |
	    (uint32_t)data[3] << 8 | data[4];
	fz_split(data + 5, len - 5, f);
	for (i = 0; i < FZ_NFIELDS; i++)
		s[i] = fz_str(&f[i]);

	envelope_init(&env);
	env.sender = xstrdup(s[2]);
	env.envid = f[10].n > 0 ? xstrdup(s[10]) : NULL;
	env.received = (time_t)t / 2;
	env.ret_hdrs = flags & 1;
	memset(r, 0, sizeof(r));
	for (i = 0; i < 2; i++) {
		r[i].addr = s[3 + 2 * i];
		r[i].reply = f[4 + 2 * i].p;
		r[i].replylen = f[4 + 2 * i].n;
		r[i].action = flags & (2 << i) ? BOUNCE_DELAYED : BOUNCE_FAILED;
		r[i].retry_until = (time_t)t + 86400;
	}
	r[0].orcpt = f[7].n > 0 ? s[7] : NULL;
	r[0].status = s[8];
	r[1].status = "5.1.1";
	r[0].remote_mta = s[9];
	r[1].remote_mta = "mx.example.net";

	bounce_params_init(&p);
	p.subject = s[0];
	p.text = s[1];
	p.hostname = "gw.example.jp";
	p.now = (time_t)t;
	p.full_max = flags & 8 ? 64 : BOUNCE_FULL_MAX;
	if (!(flags & 32)) {
		p.orig = f[11].p;
		p.origlen = f[11].n;
	}
	p.random = fz_random;
	p.random_arg = &ctr;

	buf_init(&out, 8 * 1024 * 1024);
	e = bounce_build(&env, r, flags & 16 ? 2 : 1, &p, &out, &res);
	if (e == BOUNCE_OK) {
		FZ_ASSERT(s[2][0] != '\0');
		fz_check(out.data, out.len, &res);
	} else {
		FZ_ASSERT(out.len == 0);
		FZ_ASSERT(e == BOUNCE_E_NULL_SENDER || e == BOUNCE_E_ADDR);
		FZ_ASSERT((e == BOUNCE_E_NULL_SENDER) == (s[2][0] == '\0' ||
		    strcmp(s[2], "<>") == 0));
	}
	FZ_ASSERT(bounce_should_send(&env) == (s[2][0] != '\0'));

	buf_free(&out);
	envelope_clear(&env);
	for (i = 0; i < FZ_NFIELDS; i++)
		free(s[i]);
	return 0;
}
