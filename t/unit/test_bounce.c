/*
 * test_bounce.c: delivery status notifications (smtpd/bounce.c).
 *
 * Golden files in t/data/bounce/ hold the exact bytes of reports built
 * with a fixed time, time zone and random source; set
 * SEKISHO_UPDATE_GOLDEN=1 to rewrite them after a deliberate change (and
 * read the diff).  Every report built here also goes through
 * check_structure(), a small checker of the rules the output must keep
 * (not a MIME parser): CRLF only, lines of at most 998 octets, a header
 * block with the required fields once each, To: never <>, three parts
 * between boundary lines, the boundary nowhere else.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "bounce.h"
#include "envelope.h"
#include "test.h"
#include "xmalloc.h"

#ifndef SEKISHO_SOURCE_DIR
#error "SEKISHO_SOURCE_DIR must be defined"
#endif
#define GOLDEN_DIR	SEKISHO_SOURCE_DIR "/t/data/bounce/"

#define T_NOW		1752539400	/* 2025-07-15 00:30:00 UTC */
#define T_JANUARY	1736901000	/* 2025-01-15 00:30:00 UTC */
#define OUT_LIMIT	(4 * 1024 * 1024)

#define JA_SUBJECT	"\xe9\x85\x8d\xe4\xbf\xa1\xe3\x81\xa7\xe3\x81\x8d" \
	"\xe3\x81\xbe\xe3\x81\x9b\xe3\x82\x93\xe3\x81\xa7\xe3\x81\x97\xe3\x81\x9f"
			/* 配信できませんでした */
#define JA_TEXT		"\xe3\x83\xa1\xe3\x83\x83\xe3\x82\xbb\xe3\x83\xbc" \
	"\xe3\x82\xb8\xe3\x82\x92\xe9\x85\x8d\xe4\xbf\xa1\xe3\x81\xa7\xe3\x81" \
	"\x8d\xe3\x81\xbe\xe3\x81\x9b\xe3\x82\x93\xe3\x81\xa7\xe3\x81\x97\xe3" \
	"\x81\x9f\xe3\x80\x82"	/* メッセージを配信できませんでした。 */

static const char orig_msg[] =
    "Received: from client.example.org (client.example.org [192.0.2.7])\r\n"
    "\tby gw.example.jp with ESMTP id 0123456789abcdef\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: Bob <bob@example.net>, carol@example.com\r\n"
    "Subject: quarterly figures\r\n"
    "Date: Mon, 14 Jul 2025 09:30:00 +0900\r\n"
    "Message-ID: <figures.42@example.org>\r\n"
    "\r\n"
    "Hello Bob,\r\n"
    "the figures are attached.\r\n";

/* The parts the checker found. */
struct mime_check {
	char		 boundary[128];
	const char	*hdr;		/* the report's header block */
	size_t		 hdrlen;
	const char	*phdr[3];	/* each part's header block */
	size_t		 phdrlen[3];
	const char	*body[3];	/* each part's content */
	size_t		 bodylen[3];
};

/* test_random: a reproducible "random" source for golden output. */
static void
test_random(void *arg, void *dst, size_t n)
{
	unsigned	*ctr = arg;
	uint8_t		*p = dst;
	size_t		 i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(*ctr * 37 + i * 11 + 5);
	(*ctr)++;
}

/* set_tz: switch the process's time zone (POSIX rule if no tzdata). */
static void
set_tz(const char *name, const char *posix)
{
	char	 path[256];

	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
	setenv("TZ", access(path, R_OK) == 0 ? name : posix, 1);
	tzset();
}

/* line_end: offset of the next CRLF at or after i, or n. */
static size_t
line_end(const char *m, size_t n, size_t i)
{
	while (i + 1 < n && !(m[i] == '\r' && m[i + 1] == '\n'))
		i++;
	return i + 1 < n ? i : n;
}

/* get_field: the unfolded value of the first field called name in blk. */
static bool
get_field(const char *blk, size_t n, const char *name, char *out,
    size_t size, int *count)
{
	size_t	 i, e, nl = strlen(name), o = 0;
	bool	 found = false, in = false;

	*count = 0;
	out[0] = '\0';
	for (i = 0; i < n; i = e + 2) {
		e = line_end(blk, n, i);
		if (blk[i] == ' ' || blk[i] == '\t') {
			if (in && o + (e - i) < size) {
				memcpy(out + o, blk + i, e - i);
				o += e - i;
			}
			continue;
		}
		in = false;
		if (e - i > nl && strncasecmp(blk + i, name, nl) == 0 &&
		    blk[i + nl] == ':') {
			(*count)++;
			if (!found && e - i - nl - 1 < size) {
				o = e - i - nl - 1;
				memcpy(out, blk + i + nl + 1, o);
				found = in = true;
			}
		}
		if (e >= n)
			break;
	}
	out[o < size ? o : size - 1] = '\0';
	return found;
}

/* check_lines: CRLF only, no NUL, every line at most 998 octets. */
static const char *
check_lines(const char *m, size_t n)
{
	size_t	 i, col = 0;

	if (n < 2 || m[n - 2] != '\r' || m[n - 1] != '\n')
		return "does not end with CRLF";
	for (i = 0; i < n; i++) {
		if (m[i] == '\0')
			return "NUL octet";
		if (m[i] == '\r' && (i + 1 == n || m[i + 1] != '\n'))
			return "bare CR";
		if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r'))
			return "bare LF";
		if (m[i] == '\r')
			col = 0;
		else if (m[i] != '\n' && ++col > BOUNCE_LINE_MAX)
			return "line longer than 998 octets";
	}
	return NULL;
}

/* check_header_block: fields and continuations up to the empty line. */
static const char *
check_header_block(const char *m, size_t n, size_t *end)
{
	size_t	 i, e, k;

	for (i = 0; i < n; i = e + 2) {
		e = line_end(m, n, i);
		if (e == i) {
			*end = i;
			return NULL;
		}
		if (m[i] == ' ' || m[i] == '\t') {
			if (i == 0)
				return "continuation first";
			continue;
		}
		for (k = i; k < e && m[k] > ' ' && m[k] < 0x7f && m[k] != ':';
		    k++)
			;
		if (k == i || k == e || m[k] != ':')
			return "line in a header block is no field";
	}
	return "header block without an end";
}

/* check_top: the report's header fields; fills mc->boundary. */
static const char *
check_top(struct mime_check *mc)
{
	static const char *const once[] = { "Date", "From", "To", "Subject",
	    "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type" };
	char	 v[4096], *b, *q;
	size_t	 i;
	int	 count;

	for (i = 0; i < nitems(once); i++)
		if (!get_field(mc->hdr, mc->hdrlen, once[i], v, sizeof(v),
		    &count) || count != 1)
			return "a required field missing or repeated";
	get_field(mc->hdr, mc->hdrlen, "To", v, sizeof(v), &count);
	if (strstr(v, "<>") != NULL || strchr(v, '@') == NULL)
		return "To: is empty or <>";
	get_field(mc->hdr, mc->hdrlen, "Auto-Submitted", v, sizeof(v), &count);
	if (strcmp(v, " auto-replied") != 0)
		return "Auto-Submitted is not auto-replied";
	get_field(mc->hdr, mc->hdrlen, "Content-Type", v, sizeof(v), &count);
	if (strstr(v, "multipart/report;") == NULL ||
	    strstr(v, "report-type=delivery-status") == NULL ||
	    (b = strstr(v, "boundary=\"")) == NULL)
		return "Content-Type is not multipart/report";
	b += strlen("boundary=\"");
	if ((q = strchr(b, '"')) == NULL || q == b || (size_t)(q - b) >= 71)
		return "bad boundary parameter";
	*q = '\0';
	str_lcpy(mc->boundary, b, sizeof(mc->boundary));
	return NULL;
}

/* count_in: occurrences of s in m[0..n). */
static size_t
count_in(const char *m, size_t n, const char *s)
{
	size_t		 c = 0, sl = strlen(s);
	const char	*p = m, *f;

	while ((f = memmem(p, n - (size_t)(p - m), s, sl)) != NULL) {
		c++;
		p = f + 1;
	}
	return c;
}

/* check_parts: three parts between delimiter lines, then the close. */
static const char *
check_parts(const char *m, size_t n, size_t start, struct mime_check *mc)
{
	char	 dl[140];
	size_t	 i, e, dlen, np = 0, pstart = 0, hend;
	bool	 closed = false;
	const char *err;

	snprintf(dl, sizeof(dl), "--%s", mc->boundary);
	dlen = strlen(dl);
	for (i = start; i < n; i = e + 2) {
		e = line_end(m, n, i);
		if (closed)
			return "text after the close delimiter";
		if (e - i < dlen || memcmp(m + i, dl, dlen) != 0)
			continue;
		if (np > 0 && np <= 3) {	/* the part before this line */
			mc->phdr[np - 1] = m + pstart;
			if ((err = check_header_block(m + pstart, i - pstart,
			    &hend)) != NULL)
				return err;
			mc->phdrlen[np - 1] = hend;
			mc->body[np - 1] = m + pstart + hend + 2;
			mc->bodylen[np - 1] = i - 2 - (pstart + hend + 2);
		}
		if (e - i == dlen + 2 && memcmp(m + i + dlen, "--", 2) == 0)
			closed = true;
		else if (e - i != dlen)
			return "a line starts like the boundary";
		np++;
		pstart = e + 2;
	}
	if (!closed || np != 4)
		return "not three parts and a close";
	if (count_in(m + start, n - start, mc->boundary) != 4)
		return "boundary inside a part";
	return NULL;
}

/* check_structure: NULL when the report keeps every rule, else which not. */
static const char *
check_structure(const char *m, size_t n, struct mime_check *mc)
{
	const char	*err;
	size_t		 hend;
	char		 v[256];
	int		 count, i;

	memset(mc, 0, sizeof(*mc));
	if ((err = check_lines(m, n)) != NULL ||
	    (err = check_header_block(m, n, &hend)) != NULL)
		return err;
	mc->hdr = m;
	mc->hdrlen = hend;
	if ((err = check_top(mc)) != NULL ||
	    (err = check_parts(m, n, hend + 2, mc)) != NULL)
		return err;
	if (!get_field(mc->phdr[0], mc->phdrlen[0], "Content-Type", v,
	    sizeof(v), &count) || strncmp(v, " text/plain;", 12) != 0)
		return "part 1 is not text/plain";
	if (!get_field(mc->phdr[1], mc->phdrlen[1], "Content-Type", v,
	    sizeof(v), &count) || strcmp(v, " message/delivery-status") != 0)
		return "part 2 is not message/delivery-status";
	if (!get_field(mc->phdr[2], mc->phdrlen[2], "Content-Type", v,
	    sizeof(v), &count) || (strcmp(v, " text/rfc822-headers") != 0 &&
	    strcmp(v, " message/rfc822") != 0))
		return "part 3 is not the original";
	for (i = 0; i < 3; i++)
		if (count_in(mc->phdr[i], mc->phdrlen[i], "base64") != 0)
			return "a part is base64";
	return NULL;
}

/* ctest_env: the original message's envelope. */
static void
ctest_env(struct envelope *env)
{
	envelope_init(env);
	memcpy(env->id, "0123456789abcdef", SPOOL_ID_LEN + 1);
	env->received = T_NOW - 86400;
	env->sender = xstrdup("alice@example.org");
	env->envid = xstrdup("QQ314159");
	env->size = sizeof(orig_msg) - 1;
	env->ret_hdrs = true;
	envelope_add_rcpt(env, "bob@example.net", "Bob@Example.NET", 0);
	envelope_add_rcpt(env, "carol@example.com", NULL, 0);
}

/* ctest_params: fixed time, host, texts and random source. */
static void
ctest_params(struct bounce_params *p, unsigned *ctr)
{
	bounce_params_init(p);
	*ctr = 0;
	p->subject = "Delivery Final Failure Notice";
	p->text = "Can not deliver the message you sent. Will not retry.";
	p->hostname = "gw.example.jp";
	p->now = T_NOW;
	p->orig = orig_msg;
	p->origlen = sizeof(orig_msg) - 1;
	p->random = test_random;
	p->random_arg = ctr;
}

#define REPLY_BOB	"550 5.1.1 <bob@example.net>: Recipient address " \
	"rejected: User unknown in virtual mailbox table"
#define REPLY_CAROL	"554-5.7.1 Message rejected by policy\r\n" \
	"554 5.7.1 see https://example.com/policy"

static const struct bounce_rcpt two_failed[] = {
	{ "bob@example.net", "Bob@Example.NET", BOUNCE_FAILED, "5.1.1",
	    "mx1.example.net", REPLY_BOB, sizeof(REPLY_BOB) - 1, 0 },
	{ "carol@example.com", NULL, BOUNCE_FAILED, "5.7.1",
	    "mx.example.com", REPLY_CAROL, sizeof(REPLY_CAROL) - 1, 0 },
};

/* build: one report into a fresh buffer; checks its structure. */
static enum bounce_err
build(const struct envelope *env, const struct bounce_rcpt *r, size_t nr,
    const struct bounce_params *p, struct buf *out, struct mime_check *mc,
    struct bounce_result *res, const char *name)
{
	enum bounce_err	 e;
	const char	*err;

	buf_init(out, OUT_LIMIT);
	if ((e = bounce_build(env, r, nr, p, out, res)) != BOUNCE_OK)
		return e;
	err = check_structure((const char *)out->data, out->len, mc);
	CHECKF(err == NULL, "%s: %s", name, err ? err : "");
	return e;
}

/* golden: out equals t/data/bounce/NAME (or rewrites it on request). */
static void
golden(const struct buf *out, const char *name)
{
	char		 path[512];
	FILE		*f;
	struct buf	 want;
	uint8_t		 chunk[4096];
	size_t		 n;

	snprintf(path, sizeof(path), "%s%s", GOLDEN_DIR, name);
	if (getenv("SEKISHO_UPDATE_GOLDEN") != NULL) {
		CHECKF((f = fopen(path, "wb")) != NULL, "%s", path);
		if (f != NULL) {
			CHECK(fwrite(out->data, 1, out->len, f) == out->len);
			fclose(f);
		}
		return;
	}
	buf_init(&want, OUT_LIMIT);
	if ((f = fopen(path, "rb")) == NULL) {
		CHECKF(0, "golden file %s missing", path);
		return;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(&want, chunk, n);
	fclose(f);
	CHECKF(want.len == out->len && memcmp(want.data, out->data,
	    out->len) == 0, "output differs from %s (SEKISHO_UPDATE_GOLDEN=1 "
	    "rewrites it)", path);
	buf_free(&want);
}

/* field_of: the unfolded value of a header field of the report. */
static const char *
field_of(const struct mime_check *mc, const char *name)
{
	static char	 v[8192];
	int		 count;

	if (!get_field(mc->hdr, mc->hdrlen, name, v, sizeof(v), &count))
		return "";
	return v;
}

/* b64_val: value of a base64 digit, -1 if none. */
static int
b64_val(char c)
{
	const char	*tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/", *p;

	if (c == '\0' || (p = strchr(tab, c)) == NULL)
		return -1;
	return (int)(p - tab);
}

/* utf8_whole: the octets are whole UTF-8 characters (lengths only). */
static bool
utf8_whole(const uint8_t *w, size_t n)
{
	size_t	 i, k;

	for (i = 0; i < n; i += k) {
		k = w[i] < 0x80 ? 1 : w[i] >= 0xf0 ? 4 : w[i] >= 0xe0 ? 3 :
		    w[i] >= 0xc0 ? 2 : 0;
		if (k == 0 || i + k > n)
			return false;
	}
	return true;
}

/*
 * decode_subject: the text of a Subject: made of "=?UTF-8?B?...?="
 * words; each word must be at most 75 characters and decode to whole
 * UTF-8 characters.  Returns false on anything else.
 */
static bool
decode_subject(const char *v, struct buf *out)
{
	const char	*e;
	uint8_t		 w[128];
	size_t		 wn, i;
	uint32_t	 acc;
	int		 bits, d;

	while (*v == ' ')
		v++;
	while (*v != '\0' && strcmp(v, "\r\n") != 0) {
		if (strncmp(v, "=?UTF-8?B?", 10) != 0 ||
		    (e = strstr(v + 10, "?=")) == NULL || e + 2 - v > 75)
			return false;
		acc = 0;
		bits = 0;
		wn = 0;
		for (i = 10; v + i < e && v[i] != '='; i++) {
			if ((d = b64_val(v[i])) < 0)
				return false;
			acc = (acc << 6) | (uint32_t)d;
			if ((bits += 6) >= 8) {
				bits -= 8;
				w[wn++] = (uint8_t)(acc >> bits);
			}
		}
		if (!utf8_whole(w, wn))
			return false;	/* a character split across words */
		buf_add(out, w, wn);
		v = e + 2;
		while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
			v++;
	}
	return true;
}

/* qp_decode: quoted-printable text (soft breaks joined). */
static void
qp_decode(const char *s, size_t n, struct buf *out)
{
	size_t	 i;
	uint8_t	 c;

	for (i = 0; i < n; i++) {
		if (s[i] == '=' && i + 2 < n && s[i + 1] == '\r') {
			i += 2;
			continue;
		}
		if (s[i] == '=' && i + 2 < n && str_hexval(s[i + 1]) >= 0 &&
		    str_hexval(s[i + 2]) >= 0) {
			c = (uint8_t)(str_hexval(s[i + 1]) * 16 +
			    str_hexval(s[i + 2]));
			buf_add(out, &c, 1);
			i += 2;
			continue;
		}
		buf_add(out, s + i, 1);
	}
}

static void
t_seed07_ascii_ndr_golden(void)
{
	struct envelope		 env;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct mime_check	 mc;
	struct buf		 out;
	unsigned		 ctr;
	size_t			 i;

	set_tz("Asia/Tokyo", "JST-9");
	ctest_env(&env);
	ctest_params(&p, &ctr);
	CHECK(build(&env, two_failed, 2, &p, &out, &mc, &res, "ascii") ==
	    BOUNCE_OK);
	golden(&out, "ascii_ndr.eml");
	/* seed 7: ASCII subject and text go out unencoded, 7bit. */
	CHECK(count_in((char *)out.data, out.len, "base64") == 0);
	CHECK(count_in((char *)out.data, out.len, "BASE64") == 0);
	CHECK(count_in((char *)out.data, out.len, "=?") == 0);
	for (i = 0; i < out.len; i++)
		CHECKF(out.data[i] < 0x80, "8-bit octet at %zu", i);
	CHECK_STREQ(field_of(&mc, "Subject"), " Delivery Final Failure Notice");
	CHECK(memmem(mc.phdr[0], mc.phdrlen[0],
	    "charset=us-ascii\r\nContent-Transfer-Encoding: 7bit", 49) != NULL);
	CHECK(memmem(mc.body[0], mc.bodylen[0], "Can not deliver the message "
	    "you sent. Will not retry.\r\n", 55) != NULL);
	CHECK(!res.body_8bit && !res.smtputf8 && !res.full);
	/* seed 2: local time with the offset. */
	CHECK_STREQ(field_of(&mc, "Date"), " Tue, 15 Jul 2025 09:30:00 +0900");
	CHECK_STREQ(field_of(&mc, "To"), " <alice@example.org>");
	CHECK_STREQ(field_of(&mc, "From"),
	    " Mail Delivery System <MAILER-DAEMON@gw.example.jp>");
	/* RFC 3464 fields. */
	CHECK(memmem(mc.body[1], mc.bodylen[1],
	    "Reporting-MTA: dns; gw.example.jp\r\n", 35) != NULL);
	CHECK(memmem(mc.body[1], mc.bodylen[1],
	    "Original-Envelope-Id: QQ314159\r\n", 32) != NULL);
	CHECK(memmem(mc.body[1], mc.bodylen[1],
	    "Arrival-Date: Mon, 14 Jul 2025 09:30:00 +0900\r\n", 47) != NULL);
	CHECK(memmem(mc.body[1], mc.bodylen[1], "Original-Recipient: rfc822; "
	    "Bob@Example.NET\r\nFinal-Recipient: rfc822; bob@example.net\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; "
	    "mx1.example.net\r\nDiagnostic-Code: smtp; 550 5.1.1", 176) != NULL);
	CHECK(count_in(mc.body[1], mc.bodylen[1], "Original-Recipient:") == 1);
	CHECK(count_in(mc.body[1], mc.bodylen[1], "Final-Recipient:") == 2);
	CHECK(memmem(mc.body[1], mc.bodylen[1], "Diagnostic-Code: smtp; "
	    "554-5.7.1 Message rejected by policy 554 5.7.1 see", 73) != NULL);
	/* RET=HDRS: the header block only, without the body. */
	CHECK(memmem(mc.phdr[2], mc.phdrlen[2], "text/rfc822-headers", 19));
	CHECK(memmem(mc.body[2], mc.bodylen[2], "Subject: quarterly figures",
	    26) != NULL);
	CHECK(memmem(mc.body[2], mc.bodylen[2], "Hello Bob", 9) == NULL);
	buf_free(&out);
	envelope_clear(&env);
}

static void
t_seed07_japanese_ndr_golden(void)
{
	struct envelope		 env;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct mime_check	 mc;
	struct buf		 out, dec;
	unsigned		 ctr;

	set_tz("Asia/Tokyo", "JST-9");
	ctest_env(&env);
	ctest_params(&p, &ctr);
	p.subject = JA_SUBJECT;
	p.text = JA_TEXT "\n" "Will not retry.";
	CHECK(build(&env, two_failed, 2, &p, &out, &mc, &res, "japanese") ==
	    BOUNCE_OK);
	golden(&out, "japanese_ndr.eml");
	/* Subject: RFC 2047 words that decode to the text, 7-bit headers. */
	CHECK(strncmp(field_of(&mc, "Subject"), " =?UTF-8?B?", 11) == 0);
	buf_init(&dec, 4096);
	CHECK(decode_subject(field_of(&mc, "Subject"), &dec));
	CHECK_STREQ(buf_cstr(&dec), JA_SUBJECT);
	buf_free(&dec);
	/* Text part: declared UTF-8, quoted-printable, decodes to the text. */
	CHECK(memmem(mc.phdr[0], mc.phdrlen[0], "charset=UTF-8\r\nContent-"
	    "Transfer-Encoding: quoted-printable", 50) != NULL);
	buf_init(&dec, OUT_LIMIT);
	qp_decode(mc.body[0], mc.bodylen[0], &dec);
	CHECK(strstr(buf_cstr(&dec), JA_TEXT "\r\nWill not retry.\r\n") !=
	    NULL);
	CHECK(strstr(buf_cstr(&dec), "<bob@example.net> (originally "
	    "<Bob@Example.NET>)\r\n    delivery failed, status 5.1.1\r\n"
	    "    mx1.example.net said: 550 5.1.1") != NULL);
	buf_free(&dec);
	CHECK(!res.body_8bit && !res.smtputf8);
	buf_free(&out);
	envelope_clear(&env);
}

static void
t_seed07_long_subjects(void)
{
	static const char *const cases[] = {
		JA_SUBJECT JA_SUBJECT JA_SUBJECT JA_SUBJECT JA_SUBJECT,
		"a" JA_SUBJECT "b" JA_SUBJECT "\xf0\x9f\x93\xa7" JA_SUBJECT,
		"ASCII but =?looks?Q?encoded?= so it is encoded",
		"bad \xff\xfe utf-8 \xe3\x81 cut",
		"ctl\r\nBcc: evil@example.com\r\n\tmore\x01\x7f",
		"", "   ",
	};
	struct buf	 b, dec;
	const char	*line, *e, *v;
	size_t		 i;
	char		 longs[3000];

	for (i = 0; i < nitems(cases); i++) {
		buf_init(&b, 65536);
		CHECK(bounce_header_text(&b, "Subject", cases[i],
		    strlen(cases[i])));
		CHECKF(check_lines((char *)b.data, b.len) == NULL, "%zu", i);
		CHECKF(count_in((char *)b.data, b.len, "\r\n") ==
		    1 + count_in((char *)b.data, b.len, "\r\n "), "%zu", i);
		for (line = buf_cstr(&b); *line != '\0'; line = e + 2) {
			e = strstr(line, "\r\n");
			CHECKF(e - line <= 78, "case %zu line of %zu", i,
			    (size_t)(e - line));
		}
		v = buf_cstr(&b) + strlen("Subject:");
		if (strstr(v, "=?UTF-8?B?") != NULL) {
			buf_init(&dec, 65536);
			CHECKF(decode_subject(v, &dec), "case %zu", i);
			if (i < 2)
				CHECK_STREQ(buf_cstr(&dec), cases[i]);
			buf_free(&dec);
		}
		buf_free(&b);
	}
	/* A long ASCII subject folds at spaces and stays raw. */
	memset(longs, 0, sizeof(longs));
	for (i = 0; i + 6 < 880; i += 6)
		memcpy(longs + i, "word ", 5), longs[i + 5] = 'x';
	buf_init(&b, 65536);
	CHECK(bounce_header_text(&b, "Subject", longs, strlen(longs)));
	CHECK(count_in((char *)b.data, b.len, "=?") == 0);
	CHECK(count_in((char *)b.data, b.len, "\r\n ") > 5);
	CHECK(check_lines((char *)b.data, b.len) == NULL);
	buf_free(&b);
}

static void
t_delay_warning_golden(void)
{
	static const struct bounce_rcpt delayed[] = {
		{ "bob@example.net", NULL, BOUNCE_DELAYED, "4.4.1",
		    "mx1.example.net", "421 4.4.1 mx1.example.net: connection "
		    "timed out", 47, T_NOW + 4 * 86400 },
	};
	struct envelope		 env;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct mime_check	 mc;
	struct buf		 out;
	unsigned		 ctr;

	set_tz("Asia/Tokyo", "JST-9");
	ctest_env(&env);
	ctest_params(&p, &ctr);
	p.subject = "Delivery Status Notification (Delay)";
	p.text = "Your message has not been delivered yet.\n"
	    "The server keeps trying; you need not send it again.";
	CHECK(build(&env, delayed, 1, &p, &out, &mc, &res, "delay") ==
	    BOUNCE_OK);
	golden(&out, "delay.eml");
	CHECK_STREQ(field_of(&mc, "Subject"),
	    " Delivery Status Notification (Delay)");
	CHECK(memmem(mc.body[1], mc.bodylen[1], "Action: delayed\r\n"
	    "Status: 4.4.1\r\n", 32) != NULL);
	CHECK(memmem(mc.body[1], mc.bodylen[1], "Will-Retry-Until: Sat, 19 Jul "
	    "2025 09:30:00 +0900\r\n", 51) != NULL);
	CHECK(count_in((char *)out.data, out.len, "Action: failed") == 0);
	/* Defaults when the caller gives no texts. */
	buf_free(&out);
	p.subject = p.text = NULL;
	CHECK(build(&env, delayed, 1, &p, &out, &mc, &res, "delay-def") ==
	    BOUNCE_OK);
	CHECK_STREQ(field_of(&mc, "Subject"),
	    " Delivery Status Notification (Delay)");
	buf_free(&out);
	CHECK(build(&env, two_failed, 1, &p, &out, &mc, &res, "fail-def") ==
	    BOUNCE_OK);
	CHECK_STREQ(field_of(&mc, "Subject"),
	    " Delivery Status Notification (Failure)");
	buf_free(&out);
	envelope_clear(&env);
}

static void
t_ret_full_and_limit(void)
{
	struct envelope		 env;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct mime_check	 mc;
	struct buf		 out;
	unsigned		 ctr;

	set_tz("Asia/Tokyo", "JST-9");
	ctest_env(&env);
	env.ret_hdrs = false;			/* RET=FULL */
	ctest_params(&p, &ctr);
	p.full_max = sizeof(orig_msg) - 1;	/* exactly fits */
	CHECK(build(&env, two_failed, 1, &p, &out, &mc, &res, "full") ==
	    BOUNCE_OK);
	golden(&out, "ret_full.eml");
	CHECK(res.full);
	CHECK(memmem(mc.phdr[2], mc.phdrlen[2], "message/rfc822", 14));
	CHECK(mc.bodylen[2] == sizeof(orig_msg) - 1 &&
	    memcmp(mc.body[2], orig_msg, mc.bodylen[2]) == 0);
	buf_free(&out);

	p.full_max = sizeof(orig_msg) - 2;	/* one octet too small */
	ctr = 0;
	CHECK(build(&env, two_failed, 1, &p, &out, &mc, &res, "over") ==
	    BOUNCE_OK);
	golden(&out, "ret_full_over_limit.eml");
	CHECK(!res.full);
	CHECK(memmem(mc.phdr[2], mc.phdrlen[2], "text/rfc822-headers", 19));
	CHECK(memmem(mc.body[2], mc.bodylen[2], "Hello Bob", 9) == NULL);
	CHECK(memmem(mc.body[2], mc.bodylen[2], "Message-ID: <figures.42@"
	    "example.org>\r\n", 38) != NULL);
	buf_free(&out);

	p.full_max = 0;				/* whole messages never */
	CHECK(build(&env, two_failed, 1, &p, &out, &mc, &res, "never") ==
	    BOUNCE_OK);
	CHECK(!res.full);
	buf_free(&out);
	envelope_clear(&env);
}

static void
t_orig_from_fd(void)
{
	struct envelope		 env;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct mime_check	 mc;
	struct buf		 a, b;
	unsigned		 ctr;
	char			 path[] = "/tmp/test_bounce.XXXXXX";
	int			 fd;

	set_tz("Asia/Tokyo", "JST-9");
	ctest_env(&env);
	env.ret_hdrs = false;
	ctest_params(&p, &ctr);
	CHECK(build(&env, two_failed, 2, &p, &a, &mc, &res, "buf") ==
	    BOUNCE_OK);
	CHECK((fd = mkstemp(path)) != -1);
	unlink(path);
	CHECK(write(fd, orig_msg, sizeof(orig_msg) - 1) ==
	    (ssize_t)sizeof(orig_msg) - 1);
	p.orig = NULL;
	p.origlen = 0;
	p.origfd = fd;
	ctr = 0;
	CHECK(build(&env, two_failed, 2, &p, &b, &mc, &res, "fd") ==
	    BOUNCE_OK);
	CHECK(res.full);
	CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
	buf_free(&b);
	close(fd);
	p.origfd = fd;				/* closed: a read error */
	buf_init(&b, OUT_LIMIT);
	CHECK(bounce_build(&env, two_failed, 2, &p, &b, &res) ==
	    BOUNCE_E_READ);
	CHECK(b.len == 0);
	buf_free(&a);
	buf_free(&b);
	envelope_clear(&env);
}

static void
t_seed02_date_offsets(void)
{
	static const struct {
		const char	*zone, *posix;
		time_t		 t;
		const char	*want;
	} cases[] = {
		{ "Asia/Tokyo", "JST-9", T_NOW,
		    "Tue, 15 Jul 2025 09:30:00 +0900" },
		{ "America/New_York", "EST5EDT,M3.2.0,M11.1.0", T_NOW,
		    "Mon, 14 Jul 2025 20:30:00 -0400" },
		{ "America/New_York", "EST5EDT,M3.2.0,M11.1.0", T_JANUARY,
		    "Tue, 14 Jan 2025 19:30:00 -0500" },
		{ "Asia/Kolkata", "IST-5:30", T_NOW,
		    "Tue, 15 Jul 2025 06:00:00 +0530" },
		{ "America/St_Johns", "NST3:30NDT,M3.2.0,M11.1.0", T_JANUARY,
		    "Tue, 14 Jan 2025 21:00:00 -0330" },
		{ "UTC", "UTC0", T_NOW, "Tue, 15 Jul 2025 00:30:00 +0000" },
	};
	struct envelope		 env;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct mime_check	 mc;
	struct buf		 out;
	unsigned		 ctr;
	char			 d[BOUNCE_DATE_MAX], want[64];
	size_t			 i;

	ctest_env(&env);
	for (i = 0; i < nitems(cases); i++) {
		set_tz(cases[i].zone, cases[i].posix);
		CHECK(date_rfc5322(d, sizeof(d), cases[i].t));
		CHECK_STREQ(d, cases[i].want);
		ctest_params(&p, &ctr);
		p.now = cases[i].t;
		CHECK(build(&env, two_failed, 2, &p, &out, &mc, &res,
		    cases[i].zone) == BOUNCE_OK);
		snprintf(want, sizeof(want), " %s", cases[i].want);
		CHECK_STREQ(field_of(&mc, "Date"), want);
		buf_free(&out);
	}
	CHECK(!date_rfc5322(d, 10, T_NOW));	/* too small: refused */
	envelope_clear(&env);
	set_tz("Asia/Tokyo", "JST-9");
}

static void
t_seed11_seed35_null_sender(void)
{
	struct envelope		 env, benv;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct mime_check	 mc;
	struct buf		 out;
	unsigned		 ctr;

	set_tz("Asia/Tokyo", "JST-9");
	ctest_env(&env);
	CHECK(bounce_should_send(&env));
	free(env.sender);
	env.sender = xstrdup("");		/* MAIL FROM:<> */
	CHECK(!bounce_should_send(&env));
	ctest_params(&p, &ctr);
	buf_init(&out, OUT_LIMIT);
	CHECK(bounce_build(&env, two_failed, 2, &p, &out, &res) ==
	    BOUNCE_E_NULL_SENDER);
	CHECK(out.len == 0);
	CHECK(bounce_envelope(&env, &p, &res, 100, &benv) ==
	    BOUNCE_E_NULL_SENDER);
	p.to = "<>";
	CHECK(bounce_build(&env, two_failed, 2, &p, &out, &res) ==
	    BOUNCE_E_NULL_SENDER);
	p.to = "";
	CHECK(bounce_build(&env, two_failed, 2, &p, &out, &res) ==
	    BOUNCE_E_NULL_SENDER);
	CHECK(out.len == 0);
	buf_free(&out);
	/* A double bounce is the caller's explicit choice of recipient. */
	p.to = "postmaster@example.jp";
	CHECK(build(&env, two_failed, 2, &p, &out, &mc, &res, "double") ==
	    BOUNCE_OK);
	CHECK_STREQ(field_of(&mc, "To"), " <postmaster@example.jp>");
	buf_free(&out);
	free(env.sender);
	env.sender = NULL;
	CHECK(!bounce_should_send(&env));
	CHECK(!bounce_should_send(NULL));
	envelope_clear(&env);
}

static void
t_envelope_of_report(void)
{
	struct envelope		 env, benv, back;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct buf		 txt;
	unsigned		 ctr;
	char			 err[128];

	ctest_env(&env);
	ctest_params(&p, &ctr);
	memset(&res, 0, sizeof(res));
	res.body_8bit = true;
	CHECK(bounce_envelope(&env, &p, &res, 4321, &benv) == BOUNCE_OK);
	CHECK_STREQ(benv.sender, "");		/* null sender: no loops */
	CHECK(benv.nrcpt == 1);
	CHECK_STREQ(benv.rcpt[0].addr, "alice@example.org");
	CHECK(benv.size == 4321 && benv.body_8bit && !benv.smtputf8);
	CHECK(benv.received == T_NOW);
	memcpy(benv.id, "00000000000000ff", SPOOL_ID_LEN + 1);
	buf_init(&txt, ENVELOPE_MAX_SIZE);
	CHECK(envelope_format(&benv, &txt));
	CHECK(envelope_parse(&back, (char *)txt.data, txt.len, err,
	    sizeof(err)) == 0);
	CHECK_STREQ(back.sender, "");
	CHECK_STREQ(back.rcpt[0].addr, "alice@example.org");
	envelope_clear(&back);
	envelope_clear(&benv);
	buf_free(&txt);
	p.to = "bad\r\naddress@x";
	CHECK(bounce_envelope(&env, &p, &res, 1, &benv) == BOUNCE_E_ADDR);
	envelope_clear(&env);
}

static void
t_rcpt_wanted(void)
{
	static const struct {
		uint8_t			 notify;
		enum bounce_action	 a;
		bool			 want;
	} cases[] = {
		{ 0, BOUNCE_FAILED, true },
		{ 0, BOUNCE_DELAYED, true },
		{ ENV_NOTIFY_NEVER, BOUNCE_FAILED, false },
		{ ENV_NOTIFY_NEVER, BOUNCE_DELAYED, false },
		{ ENV_NOTIFY_FAILURE, BOUNCE_FAILED, true },
		{ ENV_NOTIFY_FAILURE, BOUNCE_DELAYED, false },
		{ ENV_NOTIFY_DELAY, BOUNCE_DELAYED, true },
		{ ENV_NOTIFY_DELAY, BOUNCE_FAILED, false },
		{ ENV_NOTIFY_SUCCESS, BOUNCE_FAILED, false },
		{ ENV_NOTIFY_FAILURE | ENV_NOTIFY_DELAY, BOUNCE_DELAYED, true },
	};
	struct envelope_rcpt	 r;
	size_t			 i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < nitems(cases); i++) {
		r.notify = cases[i].notify;
		CHECKF(bounce_rcpt_wanted(&r, cases[i].a) == cases[i].want,
		    "case %zu", i);
	}
}

/* hostile_reply: a reply made of the worst bytes we can think of. */
static void
hostile_reply(struct buf *r, unsigned kind, const char *boundary)
{
	static const char worst[] = "550\0 5.1.1 \xc0\xaf\xed\xa0\x80\xe3"
	    "\x81\n\r\x1b[31mred\x85\xc2\x85 user\t\t unknown\r\n\r\n";
	size_t	 i;
	uint8_t	 c;

	switch (kind) {
	case 0:		/* 100 KB without a space */
		for (i = 0; i < 100 * 1024; i++)
			buf_add(r, "A", 1);
		break;
	case 1:		/* every octet value, many times */
		for (i = 0; i < 100 * 1024; i++) {
			c = (uint8_t)(i * 7);
			buf_add(r, &c, 1);
		}
		break;
	case 2:		/* a forged boundary, part and header */
		buf_printf(r, "550 no\r\n--%s\r\nContent-Type: text/html\r\n"
		    "\r\n<b>x</b>\r\n--%s--\r\n", boundary, boundary);
		buf_addstr(r, "\nFrom: ceo@example.org\rTo: all\n\n.\r\n");
		break;
	default:	/* NUL, 8-bit, overlong UTF-8, line breaks */
		buf_add(r, worst, sizeof(worst) - 1);
		for (i = 0; i < 3000; i++)
			buf_addstr(r, "x\r\n");
		break;
	}
}

static void
t_hostile_reply_text(void)
{
	struct envelope		 env;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct mime_check	 mc, first;
	struct bounce_rcpt	 r[2];
	struct buf		 out, reply;
	unsigned		 ctr, kind;
	char			 name[32];

	set_tz("Asia/Tokyo", "JST-9");
	ctest_env(&env);
	ctest_params(&p, &ctr);
	/* The boundary the first build picks, to forge it in the reply. */
	CHECK(build(&env, two_failed, 2, &p, &out, &first, &res, "plain") ==
	    BOUNCE_OK);
	buf_free(&out);
	for (kind = 0; kind < 4; kind++) {
		snprintf(name, sizeof(name), "hostile %u", kind);
		buf_init(&reply, 1024 * 1024);
		hostile_reply(&reply, kind, first.boundary);
		memcpy(r, two_failed, sizeof(r));
		r[0].reply = r[1].reply = reply.data;
		r[0].replylen = r[1].replylen = reply.len;
		ctr = 0;
		CHECK(build(&env, r, 2, &p, &out, &mc, &res, name) ==
		    BOUNCE_OK);
		CHECKF(count_in(mc.body[1], mc.bodylen[1],
		    "Diagnostic-Code:") == 2, "%s", name);
		CHECKF(mc.bodylen[1] < 4 * BOUNCE_REPLY_MAX, "%s: %zu", name,
		    mc.bodylen[1]);
		CHECKF(count_in((char *)out.data, out.len, "\nContent-Type: "
		    "text/html") == 0, "%s", name);
		CHECKF(count_in((char *)out.data, out.len, "\nFrom: ceo") == 0,
		    "%s", name);
		CHECKF(!res.body_8bit, "%s", name);
		if (kind == 2)	/* the forged boundary forced another one */
			CHECK(strcmp(mc.boundary, first.boundary) != 0);
		buf_free(&out);
		buf_free(&reply);
	}
	envelope_clear(&env);
}

static void
t_hostile_original(void)
{
	struct envelope		 env;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct mime_check	 mc;
	static const char mid[] = "\rX-Nul: a\0b\r\nX-8bit: \xe6\x97\xa5\r\n";
	struct buf		 orig, out;
	unsigned		 ctr, full;
	size_t			 i;

	set_tz("Asia/Tokyo", "JST-9");
	ctest_env(&env);
	buf_init(&orig, 1024 * 1024);
	buf_addstr(&orig, "Subject: bare\nX-Long: ");
	for (i = 0; i < 5000; i++)
		buf_addstr(&orig, "h");
	buf_add(&orig, mid, sizeof(mid) - 1);
	buf_addstr(&orig, "X-Boundary: --=_sekisho_\r\n\r\nbody\n\r.\r\n");
	for (i = 0; i < 5000; i++)
		buf_addstr(&orig, "b");
	buf_add(&orig, "\0\r\n", 3);
	for (full = 0; full < 2; full++) {
		env.ret_hdrs = full == 0;
		ctest_params(&p, &ctr);
		p.orig = orig.data;
		p.origlen = orig.len;
		CHECK(build(&env, two_failed, 2, &p, &out, &mc, &res,
		    full ? "hostile orig full" : "hostile orig hdrs") ==
		    BOUNCE_OK);
		CHECK(res.full == (full == 1));
		CHECK(res.body_8bit);
		CHECK(memmem(mc.phdr[2], mc.phdrlen[2],
		    "Content-Transfer-Encoding: 8bit", 31) != NULL);
		CHECK(memmem(mc.body[2], mc.bodylen[2], "X-Nul: ab\r\n", 11));
		CHECK((memmem(mc.body[2], mc.bodylen[2], "bbbb", 4) != NULL) ==
		    (full == 1));
		buf_free(&out);
	}
	buf_free(&orig);
	envelope_clear(&env);
}

static void
t_bad_arguments(void)
{
	struct envelope		 env;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct mime_check	 mc;
	struct bounce_rcpt	 r[1];
	struct buf		 out;
	unsigned		 ctr;

	set_tz("Asia/Tokyo", "JST-9");
	ctest_env(&env);
	ctest_params(&p, &ctr);
	buf_init(&out, OUT_LIMIT);
	CHECK(bounce_build(&env, two_failed, 0, &p, &out, &res) ==
	    BOUNCE_E_NORCPT);
	memcpy(r, two_failed, sizeof(r));
	r[0].addr = "bob@example.net\r\nBcc: x@y";
	CHECK(bounce_build(&env, r, 1, &p, &out, &res) == BOUNCE_E_ADDR);
	r[0].addr = "";
	CHECK(bounce_build(&env, r, 1, &p, &out, &res) == BOUNCE_E_ADDR);
	p.hostname = "gw.example.jp\r\nX-Evil: 1";
	CHECK(bounce_build(&env, two_failed, 1, &p, &out, &res) ==
	    BOUNCE_E_HOSTNAME);
	p.hostname = NULL;
	CHECK(bounce_build(&env, two_failed, 1, &p, &out, &res) ==
	    BOUNCE_E_HOSTNAME);
	p.hostname = "gw.example.jp";
	p.from = "<evil>";
	CHECK(bounce_build(&env, two_failed, 1, &p, &out, &res) ==
	    BOUNCE_E_ADDR);
	p.from = "postmaster@example.jp";
	CHECK(out.len == 0);
	buf_free(&out);
	out.limit = 1000;			/* too small: nothing appended */
	CHECK(bounce_build(&env, two_failed, 1, &p, &out, &res) ==
	    BOUNCE_E_TOOBIG);
	CHECK(out.len == 0);
	buf_free(&out);
	CHECK(bounce_strerror(BOUNCE_E_NULL_SENDER) != NULL);
	CHECK_STREQ(bounce_strerror((enum bounce_err)99), "unknown error");
	/* A failure may be 4.x.x (expired); 2.x.x or junk is generic. */
	memcpy(r, two_failed, sizeof(r));
	r[0].status = "4.4.7";
	r[0].remote_mta = "mx\r\nX-Evil: 1";
	CHECK(build(&env, r, 1, &p, &out, &mc, &res, "status") == BOUNCE_OK);
	CHECK(memmem(mc.body[1], mc.bodylen[1], "Status: 4.4.7\r\n", 15));
	buf_free(&out);
	r[0].status = "2.0.0";
	CHECK(build(&env, r, 1, &p, &out, &mc, &res, "status") == BOUNCE_OK);
	CHECK(memmem(mc.body[1], mc.bodylen[1], "Status: 5.0.0\r\n", 15));
	CHECK(count_in(mc.body[1], mc.bodylen[1], "Remote-MTA") == 0);
	CHECK_STREQ(field_of(&mc, "From"),
	    " Mail Delivery System <postmaster@example.jp>");
	buf_free(&out);
	envelope_clear(&env);
}

static void
t_utf8_addresses(void)
{
	struct envelope		 env;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct mime_check	 mc;
	struct bounce_rcpt	 r[1];
	struct buf		 out;
	unsigned		 ctr;

	set_tz("Asia/Tokyo", "JST-9");
	ctest_env(&env);
	free(env.sender);
	env.sender = xstrdup("\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b.jp");
	ctest_params(&p, &ctr);
	memcpy(r, two_failed, sizeof(r));
	r[0].addr = "\xe5\xa4\xaa\xe9\x83\x8e@example.jp";
	CHECK(build(&env, r, 1, &p, &out, &mc, &res, "utf8") == BOUNCE_OK);
	CHECK(res.smtputf8 && res.body_8bit);
	CHECK(memmem(mc.phdr[0], mc.phdrlen[0], "quoted-printable", 16));
	CHECK(memmem(mc.phdr[1], mc.phdrlen[1], "8bit", 4));
	buf_free(&out);
	envelope_clear(&env);
}

static void
t_orcpt_forms(void)
{
	static const struct {
		const char	*orcpt, *want;
	} cases[] = {
		{ "Bob@Example.NET", "Original-Recipient: rfc822; Bob@Example.NET" },
		{ "rfc822;Bob@Example.NET",
		    "Original-Recipient: rfc822; Bob@Example.NET" },
		{ "x-local; bob", "Original-Recipient: x-local; bob" },
		{ "\"a;b\"@example.net",
		    "Original-Recipient: rfc822; \"a;b\"@example.net" },
		{ "evil\r\nX-Header: 1", NULL },
		{ "rfc822;<x@y>", NULL },
	};
	struct envelope		 env;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct mime_check	 mc;
	struct bounce_rcpt	 r[1];
	struct buf		 out;
	unsigned		 ctr;
	size_t			 i;

	ctest_env(&env);
	for (i = 0; i < nitems(cases); i++) {
		ctest_params(&p, &ctr);
		memcpy(r, two_failed, sizeof(r));
		r[0].orcpt = cases[i].orcpt;
		CHECK(build(&env, r, 1, &p, &out, &mc, &res, "orcpt") ==
		    BOUNCE_OK);
		if (cases[i].want != NULL)
			CHECKF(memmem(mc.body[1], mc.bodylen[1], cases[i].want,
			    strlen(cases[i].want)) != NULL, "case %zu", i);
		else
			CHECKF(count_in(mc.body[1], mc.bodylen[1],
			    "Original-Recipient") == 0, "case %zu", i);
		buf_free(&out);
	}
	envelope_clear(&env);
}

TEST_MAIN(t_orcpt_forms, t_seed07_ascii_ndr_golden, t_seed07_japanese_ndr_golden,
    t_seed07_long_subjects, t_delay_warning_golden, t_ret_full_and_limit,
    t_orig_from_fd, t_seed02_date_offsets, t_seed11_seed35_null_sender,
    t_envelope_of_report, t_rcpt_wanted, t_hostile_reply_text,
    t_hostile_original, t_bad_arguments, t_utf8_addresses)
