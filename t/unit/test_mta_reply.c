/*
 * test_mta_reply.c: the pure parts of the SMTP client: reply parsing
 * (multi-line, continuation errors, enhanced codes, long and junk input),
 * EHLO keywords, dot-stuffing (table, and the property that smtpd's own
 * DATA state machine unstuffs it back to the original).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mta.h"
#include "mta_session.h"
#include "smtp_data.h"
#include "test.h"
#include "util.h"

/* feed: lines separated by "\n" into a fresh reply; the last status. */
static enum mta_reply_status
feed(struct mta_reply *r, const char *text, int *nstat)
{
	enum mta_reply_status	 st = MTA_REPLY_MORE;
	const char		*p = text, *nl, *err;

	mta_reply_init(r);
	*nstat = 0;
	for (;;) {
		nl = strchr(p, '\n');
		st = mta_reply_line(r, p, nl ? (size_t)(nl - p) : strlen(p),
		    &err);
		(*nstat)++;
		if (st != MTA_REPLY_MORE || nl == NULL)
			break;
		p = nl + 1;
	}
	return st;
}

static void
t_reply_table(void)
{
	static const struct {
		const char		*in;
		enum mta_reply_status	 st;
		int			 code;
		const char		*dsn;	/* mta_reply_dsn */
		const char		*text;
	} cases[] = {
		{ "250 ok", MTA_REPLY_DONE, 250, "2.0.0", "250 ok" },
		{ "250", MTA_REPLY_DONE, 250, "2.0.0", "250" },
		{ "550 5.1.1 <a@b>: unknown", MTA_REPLY_DONE, 550, "5.1.1",
		    "550 5.1.1 <a@b>: unknown" },
		{ "451 4.7.1", MTA_REPLY_DONE, 451, "4.7.1", "451 4.7.1" },
		{ "250-mx\n250-PIPELINING\n250 SIZE 10", MTA_REPLY_DONE, 250,
		    "2.0.0", "250-mx 250-PIPELINING 250 SIZE 10" },
		{ "550-5.7.1 first\n550 5.7.1 second", MTA_REPLY_DONE, 550,
		    "5.7.1", "550-5.7.1 first 550 5.7.1 second" },
		/* Enhanced code of another class: not taken. */
		{ "550 4.1.1 odd", MTA_REPLY_DONE, 550, "5.0.0",
		    "550 4.1.1 odd" },
		{ "250 2.0.0x", MTA_REPLY_DONE, 250, "2.0.0", "250 2.0.0x" },
		{ "250 2.1234.0 x", MTA_REPLY_DONE, 250, "2.0.0",
		    "250 2.1234.0 x" },
		{ "421 4.4.2 bye\r", MTA_REPLY_DONE, 421, "4.4.2",
		    "421 4.4.2 bye?" },
		{ "220 h\x01\x7f\xff", MTA_REPLY_DONE, 220, "2.0.0",
		    "220 h???" },
		{ "250-a\n251 b", MTA_REPLY_ERROR, 250, NULL, NULL },
		{ "2x0 ok", MTA_REPLY_ERROR, 0, NULL, NULL },
		{ "25", MTA_REPLY_ERROR, 0, NULL, NULL },
		{ "", MTA_REPLY_ERROR, 0, NULL, NULL },
		{ "250_ok", MTA_REPLY_ERROR, 0, NULL, NULL },
		{ "650 no", MTA_REPLY_ERROR, 0, NULL, NULL },
		{ "199 no", MTA_REPLY_ERROR, 0, NULL, NULL },
		{ "HTTP/1.1 400", MTA_REPLY_ERROR, 0, NULL, NULL },
		{ "250-more", MTA_REPLY_MORE, 250, "2.0.0", "250-more" },
	};
	struct mta_reply	 r;
	char			 dsn[MTA_DSN_MAX];
	size_t			 i;
	int			 n;

	for (i = 0; i < nitems(cases); i++) {
		CHECKF(feed(&r, cases[i].in, &n) == cases[i].st, "case %zu",
		    i);
		if (cases[i].st == MTA_REPLY_ERROR)
			continue;
		CHECKF(r.code == cases[i].code, "case %zu", i);
		mta_reply_dsn(&r, dsn, sizeof(dsn));
		CHECK_STREQ(dsn, cases[i].dsn);
		CHECK_STREQ(r.text, cases[i].text);
	}
}

static void
t_reply_limits(void)
{
	struct mta_reply	 r;
	const char		*err;
	char			*line;
	size_t			 i;
	enum mta_reply_status	 st = MTA_REPLY_MORE;

	/* A line over MTA_LINE_MAX is garbage. */
	line = malloc(MTA_LINE_MAX + 2);
	memset(line, 'a', MTA_LINE_MAX + 1);
	memcpy(line, "250 ", 4);
	mta_reply_init(&r);
	CHECK(mta_reply_line(&r, line, MTA_LINE_MAX + 1, &err) ==
	    MTA_REPLY_ERROR && err != NULL);
	/* Long lines within the limit: the text is cut at MTA_REPLY_MAX. */
	mta_reply_init(&r);
	memcpy(line, "250-", 4);
	for (i = 0; i < 5; i++)
		st = mta_reply_line(&r, line, MTA_LINE_MAX, &err);
	CHECK(st == MTA_REPLY_MORE);
	CHECK(r.truncated);
	CHECK_INTEQ(r.len, MTA_REPLY_MAX);
	CHECK_INTEQ(strlen(r.text), MTA_REPLY_MAX);
	/* Endless continuation lines: an error after MTA_REPLY_LINES_MAX. */
	mta_reply_init(&r);
	for (i = 0; i < MTA_REPLY_LINES_MAX + 5; i++)
		if ((st = mta_reply_line(&r, "250-x", 5, &err)) !=
		    MTA_REPLY_MORE)
			break;
	CHECK(st == MTA_REPLY_ERROR);
	CHECK_INTEQ(i, MTA_REPLY_LINES_MAX);
	free(line);
}

static void
t_caps(void)
{
	static const struct {
		const char	*line;
		unsigned	 flags;
		uint64_t	 size;
	} cases[] = {
		{ "PIPELINING", MTA_CAP_PIPELINING, 0 },
		{ "pipelining", MTA_CAP_PIPELINING, 0 },
		{ "PIPELININGX", 0, 0 },
		{ "SIZE 35882577", MTA_CAP_SIZE, 35882577 },
		{ "SIZE", MTA_CAP_SIZE, 0 },
		{ "SIZE 12x", MTA_CAP_SIZE, 0 },
		{ "SIZE 99999999999999999999999", MTA_CAP_SIZE, 0 },
		{ "8BITMIME", MTA_CAP_8BITMIME, 0 },
		{ "SMTPUTF8", MTA_CAP_SMTPUTF8, 0 },
		{ "STARTTLS", MTA_CAP_STARTTLS, 0 },
		{ "CHUNKING", MTA_CAP_CHUNKING, 0 },
		{ "ENHANCEDSTATUSCODES", MTA_CAP_ENHANCED, 0 },
		{ "AUTH PLAIN LOGIN", 0, 0 },
		{ "", 0, 0 },
	};
	struct mta_caps	 c;
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		memset(&c, 0, sizeof(c));
		mta_caps_line(&c, cases[i].line, strlen(cases[i].line));
		CHECKF(c.flags == cases[i].flags, "case %s", cases[i].line);
		CHECKF(c.size == cases[i].size, "case %s", cases[i].line);
	}
}

/* stuff: the whole wire form of content (terminator included). */
static size_t
stuff(const char *in, size_t n, uint8_t *out, size_t chunk)
{
	struct mta_stuff	 st;
	size_t			 o = 0, i, k;

	mta_stuff_init(&st);
	for (i = 0; i < n; i += k) {
		k = n - i < chunk ? n - i : chunk;
		o += mta_stuff_feed(&st, (const uint8_t *)in + i, k, out + o);
	}
	o += mta_stuff_end(&st, out + o);
	return o;
}

static void
t_stuff_table(void)
{
	static const struct {
		const char	*in, *out;
	} cases[] = {
		{ "", ".\r\n" },
		{ "a\r\n", "a\r\n.\r\n" },
		{ "a", "a\r\n.\r\n" },
		{ ".\r\n", "..\r\n.\r\n" },
		{ ".", "..\r\n.\r\n" },
		{ "a\r\n.b\r\n..c\r\n", "a\r\n..b\r\n...c\r\n.\r\n" },
		{ "a.b\r\n x.\r\n", "a.b\r\n x.\r\n.\r\n" },
		{ "\r\n.\r\n", "\r\n..\r\n.\r\n" },
		{ "a\r\n.", "a\r\n..\r\n.\r\n" },
		{ "a\r", "a\r\r\n.\r\n" },
	};
	uint8_t	 out[64];
	size_t	 i, n, chunk;

	for (i = 0; i < nitems(cases); i++)
		for (chunk = 1; chunk <= 3; chunk++) {
			n = stuff(cases[i].in, strlen(cases[i].in), out, chunk);
			CHECKF(n == strlen(cases[i].out) &&
			    memcmp(out, cases[i].out, n) == 0, "case %zu", i);
		}
}

struct collect {
	uint8_t	*p;
	size_t	 len;
};

static void
collect(void *arg, const uint8_t *p, size_t n)
{
	struct collect	*c = arg;

	memcpy(c->p + c->len, p, n);
	c->len += n;
}

/*
 * Property: for random CRLF-only content, smtp_data (the server's DATA
 * machine) reads the stuffed stream back to the content (plus the CRLF
 * a last line without one gets) and ends exactly at the terminator.
 */
static void
t_stuff_roundtrip(void)
{
	static const char *const atoms[] = { ".", "a", "\r\n", "..", " " };
	struct smtp_data	 d;
	struct collect		 c;
	char			*in;
	uint8_t			*wire;
	size_t			 n, w, used, i, k, want;
	unsigned		 seed = 12345;
	int			 round;

	in = malloc(4096);
	wire = malloc(8192 + 8);
	c.p = malloc(8192);
	for (round = 0; round < 2000; round++) {
		n = 0;
		k = (size_t)(rand_r(&seed) % 60);
		for (i = 0; i < k; i++) {
			const char *a = atoms[rand_r(&seed) % nitems(atoms)];

			memcpy(in + n, a, strlen(a));
			n += strlen(a);
		}
		w = stuff(in, n, wire, 1 + (size_t)(rand_r(&seed) % 7));
		smtp_data_init(&d, 0);
		c.len = 0;
		CHECK(smtp_data_feed(&d, wire, w, &used, collect, &c) ==
		    SMTP_DATA_DONE);
		CHECK_INTEQ(used, w);
		want = n;
		if (n > 0 && !(n >= 2 && in[n - 2] == '\r' && in[n - 1] == '\n'))
			want = n + 2;
		CHECKF(c.len == want && memcmp(c.p, in, n) == 0,
		    "round %d", round);
	}
	free(in);
	free(wire);
	free(c.p);
}

TEST_MAIN(t_reply_table, t_reply_limits, t_caps, t_stuff_table,
    t_stuff_roundtrip)
