/*
 * test_mnotify.c: the manager's system event notices (manager/mnotify.c):
 * the message (every header, a Date: in local time with its numeric
 * offset: seed 23; never an empty To:: seed 35; 7-bit CRLF body), the
 * addresses, the rate limit per kind and service with its summary on a
 * driven clock, and the strict parse of SMTP reply lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mnotify.h"
#include "test.h"
#include "util.h"

#define MIN_MS	(60 * 1000)

/* header: the value of header name in msg (unfolded), or "". */
static const char *
header(const char *msg, const char *name, char *out, size_t len)
{
	char		 key[64];
	const char	*p, *e;
	size_t		 n = 0;

	(void)str_printf(key, sizeof(key), "\r\n%s: ", name);
	out[0] = '\0';
	if (strncmp(msg, key + 2, strlen(key + 2)) == 0)
		p = msg + strlen(key + 2);
	else if ((p = strstr(msg, key)) != NULL)
		p += strlen(key);
	else
		return out;
	/* A line break before a blank is folding: the blank stays. */
	while ((e = strstr(p, "\r\n")) != NULL) {
		if (n + (size_t)(e - p) >= len)
			break;
		memcpy(out + n, p, (size_t)(e - p));
		n += (size_t)(e - p);
		if (e[2] != ' ' && e[2] != '\t')
			break;
		p = e + 2;
	}
	out[n] = '\0';
	return out;
}

/* build: a notice at t in time zone tz into b; its text. */
static const char *
build(struct buf *b, const char *tz, time_t t, const char *to,
    const char *body)
{
	struct mnotify_text txt = { "sekisho on mx.test: service scanner "
	    "died (signal 9), restarting in 1 s", body };
	char		 err[200];

	setenv("TZ", tz, 1);
	tzset();
	buf_reset(b);
	if (mnotify_build(b, "postmaster@mx.test", to, "mx.test", t, &txt,
	    err, sizeof(err)) == -1)
		return NULL;
	return buf_cstr(b);
}

/* t_headers: every header, the Date: with the zone's numeric offset. */
static void
t_headers(void)
{
	struct buf	 b;
	const char	*msg, *p;
	char		 v[300];
	time_t		 t = 1700000000;	/* 2023-11-14 22:13:20 UTC */

	buf_init(&b, MNOTIFY_MSG_MAX);
	msg = build(&b, "Asia/Tokyo", t, "admin@example.com",
	    "Host: mx.test\nService: scanner\n");
	CHECK(msg != NULL);
	if (msg == NULL)
		return;
	CHECK_STREQ(header(msg, "Date", v, sizeof(v)),
	    "Wed, 15 Nov 2023 07:13:20 +0900");
	CHECK_STREQ(header(msg, "From", v, sizeof(v)), "postmaster@mx.test");
	CHECK_STREQ(header(msg, "To", v, sizeof(v)), "admin@example.com");
	CHECK_STREQ(header(msg, "Subject", v, sizeof(v)), "sekisho on "
	    "mx.test: service scanner died (signal 9), restarting in 1 s");
	header(msg, "Message-ID", v, sizeof(v));
	CHECK(v[0] == '<' && strstr(v, "@mx.test>") != NULL &&
	    strlen(v) == 1 + 32 + 9);
	CHECK_STREQ(header(msg, "MIME-Version", v, sizeof(v)), "1.0");
	CHECK_STREQ(header(msg, "Content-Transfer-Encoding", v, sizeof(v)),
	    "7bit");
	CHECK_STREQ(header(msg, "Auto-Submitted", v, sizeof(v)),
	    "auto-generated");
	CHECK((p = strstr(msg, "\r\n\r\n")) != NULL &&
	    strcmp(p + 4, "Host: mx.test\r\nService: scanner\r\n") == 0);

	/* West of Greenwich, and UTC itself. */
	msg = build(&b, "America/New_York", t, "admin@example.com", "x");
	CHECK_STREQ(header(msg, "Date", v, sizeof(v)),
	    "Tue, 14 Nov 2023 17:13:20 -0500");
	msg = build(&b, "UTC", t, "admin@example.com", "x");
	CHECK_STREQ(header(msg, "Date", v, sizeof(v)),
	    "Tue, 14 Nov 2023 22:13:20 +0000");
	/* A body without its last line break gets one. */
	CHECK((p = strstr(msg, "\r\n\r\n")) != NULL &&
	    strcmp(p + 4, "x\r\n") == 0);
	buf_free(&b);
}

/* t_body_7bit: 8-bit and control bytes, bare LF, long lines. */
static void
t_body_7bit(void)
{
	struct buf	 b;
	char		 body[3000];
	const char	*msg, *p, *l;
	size_t		 i, n;

	buf_init(&b, MNOTIFY_MSG_MAX);
	memset(body, 'a', sizeof(body));
	body[0] = '\xc3';
	body[1] = '\x01';
	body[2] = '\n';
	body[sizeof(body) - 1] = '\0';
	msg = build(&b, "UTC", 1700000000, "admin@example.com", body);
	CHECK(msg != NULL);
	if (msg == NULL)
		return;
	p = strstr(msg, "\r\n\r\n") + 4;
	CHECK(strncmp(p, "??\r\naaa", 7) == 0);
	for (i = 0; msg[i] != '\0'; i++) {
		CHECK((unsigned char)msg[i] < 0x80);
		if (msg[i] == '\n')
			CHECK(i > 0 && msg[i - 1] == '\r');
	}
	for (l = msg; (p = strstr(l, "\r\n")) != NULL; l = p + 2) {
		n = (size_t)(p - l);
		CHECK(n <= 998);
	}
	buf_free(&b);
}

/* t_never_empty_to: no notice to "" or "<>" (seed 35). */
static void
t_never_empty_to(void)
{
	static const char *const bad[] = { "", "<>" };
	struct mnotify_text t = { "s", "b" };
	struct buf	 b;
	char		 err[200];
	size_t		 i;

	buf_init(&b, MNOTIFY_MSG_MAX);
	(void)buf_addstr(&b, "kept");
	for (i = 0; i < nitems(bad); i++) {
		CHECK(mnotify_build(&b, "postmaster@mx.test", bad[i],
		    "mx.test", 1700000000, &t, err, sizeof(err)) == -1);
		CHECK_INTEQ(b.len, 4);
	}
	CHECK(mnotify_build(&b, "", "admin@example.com", "mx.test",
	    1700000000, &t, err, sizeof(err)) == -1);
	CHECK_INTEQ(b.len, 4);
	buf_free(&b);
}

/* t_addr: admin_email and the From: as canonical addresses. */
static void
t_addr(void)
{
	static const struct {
		const char	*in;
		const char	*out;	/* NULL: refused */
	} tab[] = {
		{ "admin@example.com", "admin@example.com" },
		{ "postmaster", "postmaster@mx.test" },	/* the default */
		{ "", NULL },
		{ "<>", NULL },
		{ "a b@example.com", NULL },
		{ "admin@", NULL },
		{ "@example.com", NULL },
	};
	char	 dst[600];
	size_t	 i;

	for (i = 0; i < nitems(tab); i++) {
		const char *why = mnotify_addr(tab[i].in, "mx.test", dst,
		    sizeof(dst));

		if (tab[i].out == NULL)
			CHECKF(why != NULL, "%s accepted", tab[i].in);
		else {
			CHECKF(why == NULL, "%s: %s", tab[i].in, why);
			if (why == NULL)
				CHECK_STREQ(dst, tab[i].out);
		}
	}
}

/* t_rate_limit: one notice per interval per pair; the rest summarised. */
static void
t_rate_limit(void)
{
	struct mnotify_rl rl;
	int64_t		 iv = 10 * MIN_MS;
	unsigned	 held;
	time_t		 since, wall = 1700000000;

	memset(&rl, 0, sizeof(rl));
	/* The first goes out at once. */
	CHECK(mnotify_rl_event(&rl, MNOTIFY_DIED, 1, 5000, wall, iv, &held,
	    &since));
	CHECK_INTEQ(held, 0);
	/* Within the interval: counted, the first one's time kept. */
	CHECK(!mnotify_rl_event(&rl, MNOTIFY_DIED, 1, 5000 + MIN_MS,
	    wall + 60, iv, &held, &since));
	CHECK(!mnotify_rl_event(&rl, MNOTIFY_DIED, 1, 5000 + 2 * MIN_MS,
	    wall + 120, iv, &held, &since));
	CHECK(!mnotify_rl_event(&rl, MNOTIFY_DIED, 1, 5000 + iv - 1,
	    wall + 599, iv, &held, &since));
	/* Another service, another kind, the host: each on its own. */
	CHECK(mnotify_rl_event(&rl, MNOTIFY_DIED, 2, 5000 + MIN_MS, wall, iv,
	    &held, &since));
	CHECK(mnotify_rl_event(&rl, MNOTIFY_FLAPPING, 1, 5000 + MIN_MS, wall,
	    iv, &held, &since));
	CHECK(mnotify_rl_event(&rl, MNOTIFY_DISK, MNOTIFY_HOST, 5000, wall,
	    iv, &held, &since));
	/* After the interval: mailed, with the three held back. */
	CHECK(mnotify_rl_event(&rl, MNOTIFY_DIED, 1, 5000 + iv, wall + 600,
	    iv, &held, &since));
	CHECK_INTEQ(held, 3);
	CHECK_INTEQ(since, wall + 60);
	/* And the count starts again. */
	CHECK(!mnotify_rl_event(&rl, MNOTIFY_DIED, 1, 5000 + iv + 1,
	    wall + 601, iv, &held, &since));
	CHECK(mnotify_rl_event(&rl, MNOTIFY_DIED, 1, 5000 + 2 * iv,
	    wall + 1200, iv, &held, &since));
	CHECK_INTEQ(held, 1);
	CHECK_INTEQ(since, wall + 601);
	/* Interval 0: notices off. */
	memset(&rl, 0, sizeof(rl));
	CHECK(!mnotify_rl_event(&rl, MNOTIFY_QUEUE, MNOTIFY_HOST, 5000, wall,
	    0, &held, &since));
}

/* t_reply_line: SMTP reply lines from a peer we do not trust. */
static void
t_reply_line(void)
{
	static const struct {
		const char	*line;
		int		 code;	/* -1: refused */
		bool		 more;
	} tab[] = {
		{ "220 mx.test ESMTP", 220, false },
		{ "250-PIPELINING", 250, true },
		{ "250", 250, false },
		{ "354 go ahead\tnow", 354, false },
		{ "451 4.3.0 try later", 451, false },
		{ "554 5.7.1 no", 554, false },
		{ "25", -1, false },
		{ "", -1, false },
		{ "2500 x", -1, false },
		{ "250x", -1, false },
		{ "650 x", -1, false },
		{ "150 x", -1, false },
		{ "abc def", -1, false },
		{ "250 \x01", -1, false },
		{ "250 caf\xc3\xa9", -1, false },
		{ "250 a\rb", -1, false },
	};
	char	 longl[MNOTIFY_REPLY_LINE_MAX + 2];
	size_t	 i;
	int	 code;
	bool	 more;

	for (i = 0; i < nitems(tab); i++) {
		int r = mnotify_reply_line(tab[i].line, strlen(tab[i].line),
		    &code, &more);

		if (tab[i].code == -1)
			CHECKF(r == -1, "\"%s\" accepted", tab[i].line);
		else {
			CHECKF(r == 0 && code == tab[i].code &&
			    more == tab[i].more, "\"%s\"", tab[i].line);
		}
	}
	memset(longl, 'x', sizeof(longl));
	memcpy(longl, "250 ", 4);
	CHECK(mnotify_reply_line(longl, MNOTIFY_REPLY_LINE_MAX, &code,
	    &more) == 0);
	CHECK(mnotify_reply_line(longl, MNOTIFY_REPLY_LINE_MAX + 1, &code,
	    &more) == -1);
	/* A NUL inside the line is not text. */
	CHECK(mnotify_reply_line("250 a\0b", 7, &code, &more) == -1);
}

TEST_MAIN(t_headers, t_body_7bit, t_never_empty_to, t_addr, t_rate_limit,
    t_reply_line)
