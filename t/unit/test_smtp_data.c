/*
 * test_smtp_data.c: the DATA-phase state machine: end of data (only
 * <CRLF>.<CRLF>; every known SMTP-smuggling variant is content),
 * dot-unstuffing, bare CR/LF normalisation, pipelined commands after the
 * terminator, split invariance and the size limit.
 */
#include <stdbool.h>
#include <stdint.h>

#include "smtp_data.h"
#include "test.h"
#include "util.h"

#define S(lit)	(lit), sizeof(lit) - 1

struct run {
	struct smtp_data	 d;
	struct buf		 out;
	enum smtp_data_status	 st;
	size_t			 consumed;	/* over all calls */
	int			 dones;
	bool			 short_more;	/* MORE without eating a chunk */
};

static void
collect(void *arg, const uint8_t *p, size_t n)
{
	struct buf	*b = arg;

	if (n == 0 || !buf_add(b, p, n))
		abort();
}

/*
 * run_bounds: feed in[0..len) in chunks cut at bounds[] (increasing), the
 * way a session does: stop at DONE; the rest is the next command.
 */
static void
run_bounds(const uint8_t *in, size_t len, uint64_t max, const size_t *bounds,
    size_t nb, struct run *r)
{
	size_t	 start = 0, end, used, k;

	memset(r, 0, sizeof(*r));
	smtp_data_init(&r->d, max);
	buf_init(&r->out, 1 << 20);
	r->st = SMTP_DATA_MORE;
	for (k = 0; k <= nb && start <= len; k++) {
		end = k < nb ? bounds[k] : len;
		r->st = smtp_data_feed(&r->d, in + start, end - start, &used,
		    collect, &r->out);
		r->consumed += used;
		if (r->st == SMTP_DATA_DONE) {
			r->dones++;
			break;
		}
		if (used != end - start)
			r->short_more = true;
		start = end;
	}
}

static void
run_once(const uint8_t *in, size_t len, uint64_t max, struct run *r)
{
	run_bounds(in, len, max, NULL, 0, r);
}

static bool
same_run(const struct run *a, const struct run *b)
{
	return a->st == b->st && a->consumed == b->consumed &&
	    a->out.len == b->out.len &&
	    memcmp(buf_cstr((struct buf *)&a->out),
	    buf_cstr((struct buf *)&b->out), a->out.len) == 0 &&
	    a->d.over_size == b->d.over_size && a->d.size == b->d.size &&
	    a->d.lines == b->d.lines &&
	    a->d.longest_line == b->d.longest_line &&
	    a->d.bare_cr == b->d.bare_cr && a->d.bare_lf == b->d.bare_lf &&
	    a->d.saw_8bit == b->d.saw_8bit && a->d.saw_nul == b->d.saw_nul &&
	    !b->short_more && b->dones <= 1;
}

/* only_crlf: every CR in p is followed by LF and every LF preceded by CR. */
static bool
only_crlf(const uint8_t *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return false;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return false;
	}
	return true;
}

/*
 * check_splits: byte-by-byte, every 2-way split and (for short inputs)
 * every 3-way split give the one-shot result.
 */
static void
check_splits(const char *name, const uint8_t *in, size_t len, uint64_t max)
{
	static size_t	 bounds[4096];
	struct run	 one, r;
	size_t		 i, j;

	run_once(in, len, max, &one);
	if (len > nitems(bounds))
		abort();
	for (i = 1; i < len; i++)
		bounds[i - 1] = i;
	run_bounds(in, len, max, bounds, len > 0 ? len - 1 : 0, &r);
	CHECKF(same_run(&one, &r), "%s: byte-by-byte differs", name);
	buf_free(&r.out);
	for (i = 0; i <= len; i++) {
		bounds[0] = i;
		run_bounds(in, len, max, bounds, 1, &r);
		CHECKF(same_run(&one, &r), "%s: split at %zu differs", name, i);
		buf_free(&r.out);
	}
	for (i = 0; len <= 64 && i <= len; i++)
		for (j = i; j <= len; j++) {
			bounds[0] = i;
			bounds[1] = j;
			run_bounds(in, len, max, bounds, 2, &r);
			CHECKF(same_run(&one, &r), "%s: split at %zu,%zu differs",
			    name, i, j);
			buf_free(&r.out);
		}
	buf_free(&one.out);
}

static const struct {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	const char	*out;
	size_t		 outlen;
	bool		 done;
	size_t		 consumed;
} data_cases[] = {
	{ "plain", S("Subject: x\r\n\r\nbody\r\n.\r\n"),
	    S("Subject: x\r\n\r\nbody\r\n"), true, 23 },
	{ "empty", S(".\r\n"), S(""), true, 3 },
	{ "one empty line", S("\r\n.\r\n"), S("\r\n"), true, 5 },
	{ "stuffed dot line", S("..\r\n.\r\n"), S(".\r\n"), true, 7 },
	{ "stuffed text", S("a\r\n..b\r\n.\r\n"), S("a\r\n.b\r\n"), true, 11 },
	{ "stuffed two dots", S("a\r\n...\r\n.\r\n"), S("a\r\n..\r\n"), true,
	    11 },
	{ "unstuffed dot text", S("a\r\n.b\r\n.\r\n"), S("a\r\nb\r\n"), true,
	    10 },
	{ "dot mid-line", S("a.b\r\n.\r\n"), S("a.b\r\n"), true, 8 },
	{ "dot at end of line", S("a.\r\n.\r\n"), S("a.\r\n"), true, 7 },
	{ "bare CR", S("a\rb\r\n.\r\n"), S("a\r\nb\r\n"), true, 8 },
	{ "bare LF", S("a\nb\r\n.\r\n"), S("a\r\nb\r\n"), true, 8 },
	{ "CR CR LF", S("a\r\r\n.\r\n"), S("a\r\n\r\n"), true, 7 },
	{ "LF CR LF", S("a\n\r\n.\r\n"), S("a\r\n\r\n"), true, 7 },
	{ "bare CR at start", S("\rx\r\n.\r\n"), S("\r\nx\r\n"), true, 7 },
	{ "bare LF at start", S("\nx\r\n.\r\n"), S("\r\nx\r\n"), true, 7 },
	{ "CRs", S("\r\r\r\r\n.\r\n"), S("\r\n\r\n\r\n\r\n"), true, 8 },
	{ "LFs", S("\n\n\r\n.\r\n"), S("\r\n\r\n\r\n"), true, 7 },
	{ "8-bit and NUL", S("\0\x80\xff\r\n.\r\n"), S("\0\x80\xff\r\n"),
	    true, 8 },
	{ "bare LF dot bare LF", S("a\n.\nb\r\n.\r\n"),
	    S("a\r\n.\r\nb\r\n"), true, 10 },
	{ "pipelined QUIT", S("a\r\n.\r\nQUIT\r\n"), S("a\r\n"), true, 6 },
	{ "pipelined MAIL", S("a\r\n.\r\nMAIL FROM:<x@y>\r\nRCPT TO:<z@w>\r\n"),
	    S("a\r\n"), true, 6 },
	{ "empty + QUIT", S(".\r\nQUIT\r\n"), S(""), true, 3 },
	{ "junk after end", S("a\r\n.\r\n\x01\xff junk"), S("a\r\n"), true,
	    6 },
	{ "two terminators", S("a\r\n.\r\n.\r\n"), S("a\r\n"), true, 6 },
	{ "unterminated", S("a\r\n"), S("a\r\n"), false, 3 },
	{ "held dot", S("a\r\n."), S("a\r\n"), false, 4 },
	{ "held dot CR", S("a\r\n.\r"), S("a\r\n"), false, 5 },
	{ "held CR", S("a\r"), S("a"), false, 2 },
	{ "nothing", S(""), S(""), false, 0 },
	{ "dot CR dot", S(".\r.\r\n.\r\n"), S("\r\n.\r\n"), true, 8 },
	{ "dot NUL", S(".\0\r\n.\r\n"), S("\0\r\n"), true, 7 },
	{ "dot space", S(". \r\n.\r\n"), S(" \r\n"), true, 7 },
};

static void
t_data_table(void)
{
	struct run	 r;
	size_t		 i;

	for (i = 0; i < nitems(data_cases); i++) {
		run_once((const uint8_t *)data_cases[i].in,
		    data_cases[i].inlen, 0, &r);
		CHECKF(r.st == (data_cases[i].done ? SMTP_DATA_DONE :
		    SMTP_DATA_MORE), "%s: status", data_cases[i].name);
		CHECKF(r.consumed == data_cases[i].consumed,
		    "%s: consumed %zu != %zu", data_cases[i].name, r.consumed,
		    data_cases[i].consumed);
		CHECKF(r.out.len == data_cases[i].outlen &&
		    memcmp(buf_cstr(&r.out), data_cases[i].out,
		    r.out.len) == 0, "%s: output \"%s\"", data_cases[i].name,
		    buf_cstr(&r.out));
		if (data_cases[i].done)
			CHECKF(only_crlf(r.out.data, r.out.len),
			    "%s: bare CR/LF in output", data_cases[i].name);
		check_splits(data_cases[i].name,
		    (const uint8_t *)data_cases[i].in, data_cases[i].inlen, 0);
		buf_free(&r.out);
	}
}

/* DATA.md: the end-of-data variants of the public SMTP-smuggling scanners. */
static const struct {
	const char	*v;
	size_t		 len;
} smuggle[] = {
	{ S("\n.\n") }, { S("\r.\r") }, { S("\r.\n") }, { S("\n.\r") },
	{ S("\n.\r\n") }, { S("\r\n.\n") }, { S("\r.\r\n") }, { S("\r\n.\r") },
	{ S("\r\n\0.\r\n") }, { S("\r\n.\r\r\n") }, { S("\r\r\n.\r\r\n") },
	{ S("\r\n.\0\r\n") }, { S("\n\n.\r\n") }, { S("\r\0\n.\r\n") },
};

#define EVIL	"MAIL FROM:<evil@x>\r\n"

/* smuggle_input: "line1" + variant + hidden command + "\r\n.\r\n". */
static size_t
smuggle_input(size_t i, const char *prefix, uint8_t *in, size_t insz)
{
	size_t	 n = 0, pl = strlen(prefix);

	if (pl + smuggle[i].len + strlen(EVIL) + 5 > insz)
		abort();
	memcpy(in, prefix, pl);
	n += pl;
	memcpy(in + n, smuggle[i].v, smuggle[i].len);
	n += smuggle[i].len;
	memcpy(in + n, EVIL "\r\n.\r\n", strlen(EVIL) + 5);
	return n + strlen(EVIL) + 5;
}

static bool
contains(const struct buf *b, const char *s)
{
	size_t	 n = strlen(s), i;

	for (i = 0; i + n <= b->len; i++)
		if (memcmp(b->data + i, s, n) == 0)
			return true;
	return false;
}

static void
t_data_smuggling(void)
{
	static const char *prefixes[] = { "line1", "", "line1\r\n" };
	uint8_t		 in[256];
	char		 name[64];
	struct run	 r;
	size_t		 i, p, len, k, used;
	struct smtp_data d;
	struct buf	 out;
	int		 dones;

	for (p = 0; p < nitems(prefixes); p++)
		for (i = 0; i < nitems(smuggle); i++) {
			len = smuggle_input(i, prefixes[p], in, sizeof(in));
			str_printf(name, sizeof(name), "variant %zu prefix %zu",
			    i, p);
			run_once(in, len, 0, &r);
			CHECKF(r.st == SMTP_DATA_DONE && r.consumed == len,
			    "%s: ended at %zu of %zu", name, r.consumed, len);
			CHECKF(contains(&r.out, "\r\n" EVIL),
			    "%s: hidden command not body text", name);
			CHECKF(only_crlf(r.out.data, r.out.len),
			    "%s: bare CR/LF in output", name);
			buf_free(&r.out);

			/* Byte by byte: exactly one DONE, on the last byte. */
			smtp_data_init(&d, 0);
			buf_init(&out, 1 << 20);
			dones = 0;
			for (k = 0; k < len; k++)
				if (smtp_data_feed(&d, in + k, 1, &used,
				    collect, &out) == SMTP_DATA_DONE) {
					dones++;
					CHECKF(k == len - 1, "%s: DONE at %zu",
					    name, k);
				} else
					CHECK_INTEQ(used, 1);
			CHECK_INTEQ(dones, 1);
			buf_free(&out);
			check_splits(name, in, len, 0);
		}

	/* Exact output for a few, so the rules stay what smtp_data.h says. */
	len = smuggle_input(0, "line1", in, sizeof(in));	/* \n.\n */
	run_once(in, len, 0, &r);
	CHECK(r.out.len == strlen("line1\r\n.\r\n" EVIL "\r\n") &&
	    memcmp(r.out.data, "line1\r\n.\r\n" EVIL "\r\n", r.out.len) == 0);
	CHECK_INTEQ(r.d.bare_lf, 2);
	buf_free(&r.out);
	len = smuggle_input(5, "line1", in, sizeof(in));	/* \r\n.\n */
	run_once(in, len, 0, &r);
	CHECK(r.out.len == strlen("line1\r\n\r\n" EVIL "\r\n") &&
	    memcmp(r.out.data, "line1\r\n\r\n" EVIL "\r\n", r.out.len) == 0);
	buf_free(&r.out);
	len = smuggle_input(9, "line1", in, sizeof(in));	/* \r\n.\r\r\n */
	run_once(in, len, 0, &r);
	CHECK(r.out.len == strlen("line1\r\n\r\n\r\n" EVIL "\r\n") &&
	    memcmp(r.out.data, "line1\r\n\r\n\r\n" EVIL "\r\n", r.out.len) == 0);
	CHECK_INTEQ(r.d.bare_cr, 1);
	buf_free(&r.out);
}

/* The terminator arriving in pieces, next command in the last piece. */
static void
t_data_pieces(void)
{
	static const char *pieces[] = { "a\r", "\n", ".", "\r", "\nQUIT\r\n" };
	struct smtp_data d;
	struct buf	 out;
	size_t		 i, used;
	enum smtp_data_status st = SMTP_DATA_MORE;

	smtp_data_init(&d, 0);
	buf_init(&out, 1024);
	for (i = 0; i < nitems(pieces); i++) {
		st = smtp_data_feed(&d, (const uint8_t *)pieces[i],
		    strlen(pieces[i]), &used, collect, &out);
		if (i + 1 < nitems(pieces)) {
			CHECK(st == SMTP_DATA_MORE);
			CHECK_INTEQ(used, strlen(pieces[i]));
		}
	}
	CHECK(st == SMTP_DATA_DONE);
	CHECK_INTEQ(used, 1);
	CHECK_STREQ(buf_cstr(&out), "a\r\n");
	CHECK_INTEQ(d.in_bytes, 6);
	/* After the end nothing more is taken. */
	CHECK(smtp_data_feed(&d, (const uint8_t *)"x", 1, &used, collect,
	    &out) == SMTP_DATA_DONE);
	CHECK_INTEQ(used, 0);
	CHECK_INTEQ(out.len, 3);
	buf_free(&out);
}

static void
t_data_size_limit(void)
{
	static const struct {
		const char	*in;
		uint64_t	 max;
		const char	*out;
		bool		 over;
		uint64_t	 size;
	} cases[] = {
		{ "0123456789abc\r\n.\r\n", 10, "0123456789", true, 15 },
		{ "01234567\r\n.\r\n", 10, "01234567\r\n", false, 10 },
		{ "01234567\r\n.\r\n", 9, "01234567\r", true, 10 },
		{ "01234567\r\n.\r\n", 0, "01234567\r\n", false, 10 },
		{ "a\nb\nc\r\n.\r\n", 4, "a\r\nb", true, 9 },
		{ "..\r\n..\r\n.\r\n", 3, ".\r\n", true, 6 },
		{ ".\r\n", 1, "", false, 0 },
		{ "x\r\n.\r\nQUIT\r\n", 1, "x", true, 3 },
	};
	struct run	 r;
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		run_once((const uint8_t *)cases[i].in, strlen(cases[i].in),
		    cases[i].max, &r);
		CHECKF(r.st == SMTP_DATA_DONE, "row %zu: not done", i);
		CHECKF(r.consumed >= 3 && strncmp(cases[i].in + r.consumed - 3,
		    ".\r\n", 3) == 0, "row %zu: end", i);
		CHECKF(r.out.len == strlen(cases[i].out) &&
		    memcmp(buf_cstr(&r.out), cases[i].out, r.out.len) == 0,
		    "row %zu: output \"%s\"", i, buf_cstr(&r.out));
		CHECKF(r.d.over_size == cases[i].over, "row %zu: over_size", i);
		CHECK_INTEQ(r.d.size, cases[i].size);
		buf_free(&r.out);
		check_splits("size limit", (const uint8_t *)cases[i].in,
		    strlen(cases[i].in), cases[i].max);
	}
}

static void
t_data_stats(void)
{
	struct run	 r;

	run_once((const uint8_t *)S("ab\r\nabcd\nx\rhello\r\n\0\r\n.\r\n"), 0,
	    &r);
	CHECK(r.st == SMTP_DATA_DONE);
	CHECK_INTEQ(r.d.lines, 5);
	CHECK_INTEQ(r.d.longest_line, 5);
	CHECK_INTEQ(r.d.bare_lf, 1);
	CHECK_INTEQ(r.d.bare_cr, 1);
	CHECK(r.d.saw_nul);
	CHECK(!r.d.saw_8bit);
	CHECK_INTEQ(r.d.size, r.out.len);
	CHECK_INTEQ(r.d.in_bytes, r.consumed);
	buf_free(&r.out);

	run_once((const uint8_t *)S("caf\xc3\xa9\r\n.\r\n"), 0, &r);
	CHECK(r.d.saw_8bit);
	CHECK(!r.d.saw_nul);
	CHECK_INTEQ(r.d.longest_line, 5);
	buf_free(&r.out);
}

/* A large body in odd-sized chunks, as the session's receive buffer has it. */
static void
t_data_large(void)
{
	struct smtp_data d;
	struct buf	 out;
	uint8_t		*in;
	size_t		 len = 3 * 1024 * 1024, off = 0, used, n, i;
	enum smtp_data_status st = SMTP_DATA_MORE;

	in = malloc(len);
	if (in == NULL)
		abort();
	for (i = 0; i < len; i++)
		in[i] = (i % 77 == 76) ? '\n' : (i % 77 == 75) ? '\r' :
		    (uint8_t)('a' + i % 26);
	memcpy(in + len - 5, "\r\n.\r\n", 5);
	smtp_data_init(&d, 0);
	buf_init(&out, 4 * 1024 * 1024);
	while (off < len && st == SMTP_DATA_MORE) {
		n = len - off < 8196 ? len - off : 8196 - off % 13;
		st = smtp_data_feed(&d, in + off, n, &used, collect, &out);
		off += used;
	}
	CHECK(st == SMTP_DATA_DONE);
	CHECK_INTEQ(off, len);
	CHECK(only_crlf(out.data, out.len));
	CHECK_INTEQ(d.longest_line, 75);
	buf_free(&out);
	free(in);
}

TEST_MAIN(t_data_table, t_data_smuggling, t_data_pieces, t_data_size_limit,
    t_data_stats, t_data_large)
