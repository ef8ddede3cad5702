/*
 * test_notify.c: policy notifications from templates (common/notify.c).
 *
 * Every message built here goes through check_msg(), a small checker of
 * the rules the output must keep: CRLF only, lines of at most 998
 * octets, exactly the nine generated header fields in order (so no token
 * value can add one), To: never empty or <>.  The shipped templates in
 * etc/templates/ are loaded and built too.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "notify.h"
#include "test.h"
#include "xmalloc.h"

#define T_NOW		1752539400	/* 2025-07-15 00:30:00 UTC */
#define OUT_LIMIT	(1024 * 1024)
#define FROM		"postmaster@gw.example.jp"
#define HOST		"gw.example.jp"

#define JA_SUBJECT	"\xe9\x85\x8d\xe4\xbf\xa1\xe3\x81\xa7\xe3\x81\x8d" \
	"\xe3\x81\xbe\xe3\x81\x9b\xe3\x82\x93\xe3\x81\xa7\xe3\x81\x97\xe3\x81\x9f"
			/* 配信できませんでした */
#define JA_TEXT		"\xe3\x83\xa1\xe3\x83\x83\xe3\x82\xbb\xe3\x83\xbc" \
	"\xe3\x82\xb8\xe3\x82\x92\xe4\xbf\x9d\xe7\x95\x99\xe3\x81\x97\xe3\x81" \
	"\xbe\xe3\x81\x97\xe3\x81\x9f\xe3\x80\x82"	/* メッセージを保留しました。 */

/* A built message, split. */
struct msg {
	struct buf	 out;
	const char	*hdr;		/* header block, up to the empty line */
	size_t		 hdrlen;
	const char	*body;
	size_t		 bodylen;
};

static const char *const fields[] = { "Date", "From", "To", "Subject",
    "Message-ID", "MIME-Version", "Content-Type",
    "Content-Transfer-Encoding", "Auto-Submitted" };

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

/* check_lines: CRLF only, no NUL, every line at most max octets. */
static const char *
check_lines(const char *m, size_t n, size_t max)
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
		else if (m[i] != '\n' && ++col > max)
			return "line too long";
	}
	return NULL;
}

/*
 * check_msg: the header block holds exactly the generated fields, in
 * order, with continuation lines only after them; fills m's pointers.
 */
static const char *
check_msg(struct msg *m)
{
	const char	*s = (const char *)m->out.data, *err;
	size_t		 n = m->out.len, i, e, f = 0, nl;

	if ((err = check_lines(s, n, 998)) != NULL)
		return err;
	for (i = 0; i < n; i = e + 2) {
		e = line_end(s, n, i);
		if (e == i)
			break;
		if (s[i] == ' ' || s[i] == '\t') {
			if (f == 0)
				return "continuation first";
			continue;
		}
		if (f == nitems(fields))
			return "an extra header field";
		nl = strlen(fields[f]);
		if (e - i <= nl || strncmp(s + i, fields[f], nl) != 0 ||
		    s[i + nl] != ':')
			return "a field missing or out of order";
		f++;
	}
	if (i >= n || f != nitems(fields))
		return "header block incomplete";
	m->hdr = s;
	m->hdrlen = i;
	m->body = s + i + 2;
	m->bodylen = n - i - 2;
	if (mem_8bit(m->body, m->bodylen))
		return "8-bit body";
	return NULL;
}

/* field: the unfolded value of the header field name (static buffer). */
static const char *
field(const struct msg *m, const char *name)
{
	static char	 v[8192];
	size_t		 i, e, o = 0, nl = strlen(name);
	bool		 in = false;

	v[0] = '\0';
	for (i = 0; i < m->hdrlen; i = e + 2) {
		e = line_end(m->hdr, m->hdrlen, i);
		if (m->hdr[i] != ' ' && m->hdr[i] != '\t')
			in = strncmp(m->hdr + i, name, nl) == 0 &&
			    m->hdr[i + nl] == ':';
		if (!in)
			continue;
		if (o == 0)
			i += nl + 1;
		if (o + (e - i) + 1 >= sizeof(v))
			break;
		memcpy(v + o, m->hdr + i, e - i);
		o += e - i;
		v[o] = '\0';
	}
	return v;
}

/* body_is: the message's body is exactly s. */
static bool
body_is(const struct msg *m, const char *s)
{
	return m->bodylen == strlen(s) && memcmp(m->body, s, m->bodylen) == 0;
}

/* build: parse text as a template and build a message; 0 or -1. */
static int
build(const char *text, const struct notify_tokens *tok,
    const char *const *to, size_t nto, struct msg *m, char *err,
    size_t errlen)
{
	struct notify_template *t;
	const char	*why;
	int		 rc;

	memset(m, 0, sizeof(*m));
	buf_init(&m->out, OUT_LIMIT);
	if ((t = notify_template_parse("test", text, strlen(text), err,
	    errlen)) == NULL)
		return -1;
	rc = notify_build(t, tok, FROM, to, nto, HOST, &m->out, err, errlen);
	notify_template_free(t);
	if (rc == 0 && (why = check_msg(m)) != NULL) {
		CHECKF(0, "%s: %.*s", why, (int)m->out.len,
		    (const char *)m->out.data);
		return -1;
	}
	return rc;
}

/* b64_val: the value of a base64 digit, -1 if none. */
static int
b64_val(char c)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char	*p;

	if (c == '\0' || (p = strchr(tab, c)) == NULL)
		return -1;
	return (int)(p - tab);
}

/*
 * decode_words: the text of an unfolded field value made of
 * "=?UTF-8?B?...?=" words; each at most 75 characters and holding whole
 * UTF-8 characters.  False on anything else.
 */
static bool
decode_words(const char *v, struct buf *out)
{
	const char	*e;
	uint8_t		 w[128];
	size_t		 wn, i;
	uint32_t	 acc;
	int		 bits, d;

	while (*v == ' ')
		v++;
	while (*v != '\0') {
		if (strncasecmp(v, "=?UTF-8?B?", 10) != 0 ||
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
		if (wn > 0 && (w[wn - 1] & 0xc0) == 0xc0)
			return false;	/* a character split across words */
		if (wn > 0 && (w[0] & 0xc0) == 0x80)
			return false;
		buf_add(out, w, wn);
		for (v = e + 2; *v == ' ' || *v == '\t'; v++)
			;
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
t_name_valid(void)
{
	static const struct {
		const char	*name;
		bool		 ok;
	} cases[] = {
		{ "policy-violation", true }, { "virus_found.v2", true },
		{ "A", true }, { "../x", false }, { "", false },
		{ "a/b", false }, { ".", false }, { "..", false },
		{ ".hidden", false }, { "-x", false }, { "a b", false },
		{ "a\\b", false }, { "caf\xc3\xa9", false },
		{ "a\nb", false }, { "/etc/passwd", false },
	};
	char	 n[NOTIFY_NAME_MAX + 2];
	size_t	 i;

	for (i = 0; i < nitems(cases); i++)
		CHECKF(notify_name_valid(cases[i].name) == cases[i].ok, "%s",
		    cases[i].name);
	CHECK(!notify_name_valid(NULL));
	memset(n, 'a', sizeof(n) - 1);
	n[sizeof(n) - 1] = '\0';	/* 65 octets */
	CHECK(!notify_name_valid(n));
	n[NOTIFY_NAME_MAX] = '\0';	/* 64 octets */
	CHECK(notify_name_valid(n));
}

static void
t_tokens_expanded(void)
{
	static const char tmpl[] = "Subject: [%RULE_NAME%] %SUBJECT%\n"
	    "\n"
	    "From %SENDER% to %RECIPIENTS% via %CLIENT_IP%.\n"
	    "Rule %RULE_NAME%, virus %VIRUS_NAME%, files %ATTACHMENT%.\n"
	    "Queue %QUEUE_ID%: %ACTION% (%QUARANTINE_AREA%), %REASON%.\n"
	    "Arrived %DATE%.\n";
	static const char body[] =
	    "From alice@example.org to bob@example.net,carol@example.com "
	    "via 192.0.2.7.\r\n"
	    "Rule Block EXE, virus Eicar-Test, files a.exe,b.exe.\r\n"
	    "Queue 0123456789abcdef: Quarantined (virus), policy.\r\n"
	    "Arrived Tue, 15 Jul 2025 09:30:00 +0900.\r\n";
	struct notify_tokens tok = { "alice@example.org",
	    "bob@example.net,carol@example.com", "quarterly figures",
	    "Block EXE", "Eicar-Test", "a.exe,b.exe", "192.0.2.7",
	    "0123456789abcdef", "Quarantined", "virus", "policy", T_NOW };
	const char	*to[] = { "alice@example.org" };
	struct msg	 m;
	char		 err[256];

	set_tz("Asia/Tokyo", "JST-9");
	CHECK(build(tmpl, &tok, to, 1, &m, err, sizeof(err)) == 0);
	CHECK_STREQ(field(&m, "Subject"), " [Block EXE] quarterly figures");
	CHECK(body_is(&m, body));
	buf_free(&m.out);

	/* The null sender shows as <>; NULL values as nothing. */
	memset(&tok, 0, sizeof(tok));
	tok.sender = "";
	CHECK(build("Subject: s\n\nfrom %SENDER%, virus [%VIRUS_NAME%] "
	    "[%DATE%]\n", &tok, to, 1, &m, err, sizeof(err)) == 0);
	CHECK(body_is(&m, "from <>, virus [] []\r\n"));
	buf_free(&m.out);
	CHECK(build("\n%SENDER%x\n", NULL, to, 1, &m, err, sizeof(err)) == 0);
	CHECK(body_is(&m, "x\r\n"));
	buf_free(&m.out);
}

static void
t_unknown_token_and_percent(void)
{
	struct notify_tokens tok = { .rule_name = "r1" };
	const char	*to[] = { "admin@example.jp" };
	struct msg	 m;
	char		 err[256];

	CHECK(build("Subject: %UNKNOWN% 5%%\n\n%FOO% 100% 50%%% %sender% "
	    "%RULE_NAME %x%Y% %%RULE_NAME%% R%RULE_NAME%%%\n", &tok, to, 1, &m,
	    err, sizeof(err)) == 0);
	CHECK_STREQ(field(&m, "Subject"), " %UNKNOWN% 5%");
	CHECKF(body_is(&m, "%FOO% 100% 50%% %sender% %RULE_NAME %x%Y% "
	    "%RULE_NAME% Rr1%\r\n"), "%.*s", (int)m.bodylen, m.body);
	buf_free(&m.out);
}

static void
t_seed07_japanese_subject(void)
{
	struct notify_tokens tok = { .subject = JA_SUBJECT JA_SUBJECT
	    JA_SUBJECT JA_SUBJECT, .rule_name = "r" };
	const char	*to[] = { "alice@example.org" };
	const char	*s, *e;
	struct msg	 m;
	struct buf	 dec;
	char		 err[256];

	CHECK(build("Subject: [Held] %SUBJECT%\n\nHeld.\n", &tok, to, 1, &m,
	    err, sizeof(err)) == 0);
	s = field(&m, "Subject");
	CHECK(strncmp(s, " =?UTF-8?B?", 11) == 0);
	buf_init(&dec, 4096);
	CHECK(decode_words(s, &dec));
	CHECK_STREQ(buf_cstr(&dec), "[Held] " JA_SUBJECT JA_SUBJECT
	    JA_SUBJECT JA_SUBJECT);
	buf_free(&dec);
	/*
	 * Folded: several lines, one encoded-word each (at most 75, checked
	 * by decode_words), lines within RFC 5322's 78.
	 */
	s = strstr((const char *)m.out.data, "Subject:");
	CHECK(s != NULL);
	for (; s != NULL && (e = strstr(s, "\r\n")) != NULL; s = e + 2) {
		CHECKF(e - s <= 78, "line of %zu", (size_t)(e - s));
		if (e[2] != ' ')
			break;
	}
	CHECK(check_lines(m.hdr, m.hdrlen + 2, 78) == NULL);
	CHECK(!mem_8bit(m.out.data, m.out.len));
	buf_free(&m.out);
}

static void
t_seed07_ascii_is_7bit(void)
{
	struct notify_tokens tok = { .subject = "quarterly figures" };
	const char	*to[] = { "alice@example.org" };
	struct msg	 m;
	char		 err[256];

	CHECK(build("Subject: Re: %SUBJECT%\n\nPlain text.\n", &tok, to, 1,
	    &m, err, sizeof(err)) == 0);
	CHECK_STREQ(field(&m, "Subject"), " Re: quarterly figures");
	CHECK_STREQ(field(&m, "Content-Type"), " text/plain; charset=us-ascii");
	CHECK_STREQ(field(&m, "Content-Transfer-Encoding"), " 7bit");
	CHECK_STREQ(field(&m, "MIME-Version"), " 1.0");
	CHECK_STREQ(field(&m, "Auto-Submitted"), " auto-generated");
	CHECK_STREQ(field(&m, "From"), " " FROM);
	CHECK(body_is(&m, "Plain text.\r\n"));
	buf_free(&m.out);
}

static void
t_utf8_body_qp(void)
{
	struct notify_tokens tok = { .attachment = "\xe8\xa6\x8b\xe7\xa9\x8d"
	    ".xlsx" };	/* 見積.xlsx */
	const char	*to[] = { "alice@example.org" };
	struct msg	 m;
	struct buf	 dec;
	char		 err[256];

	CHECK(build("Subject: Attachment removed\n\n" JA_TEXT "\n"
	    "File: %ATTACHMENT% = removed \n", &tok, to, 1, &m, err,
	    sizeof(err)) == 0);
	CHECK_STREQ(field(&m, "Content-Type"), " text/plain; charset=utf-8");
	CHECK_STREQ(field(&m, "Content-Transfer-Encoding"),
	    " quoted-printable");
	CHECK(check_lines(m.body, m.bodylen, 76) == NULL);
	buf_init(&dec, 4096);
	qp_decode(m.body, m.bodylen, &dec);
	CHECK_STREQ(buf_cstr(&dec), JA_TEXT "\r\nFile: \xe8\xa6\x8b\xe7\xa9"
	    "\x8d.xlsx = removed\r\n");
	buf_free(&dec);
	buf_free(&m.out);
}

static void
t_long_body_lines(void)
{
	const char	*to[] = { "alice@example.org" };
	struct msg	 m;
	struct buf	 dec;
	char		 err[256], *t;
	size_t		 i;

	/* 7bit: a 3000-octet line is cut at 998 octets. */
	t = xmalloc(3100);
	memcpy(t, "\n", 1);
	for (i = 1; i < 3001; i++)
		t[i] = 'a' + i % 26;
	memcpy(t + 3001, "\n", 2);
	CHECK(build(t, NULL, to, 1, &m, err, sizeof(err)) == 0);
	CHECK_STREQ(field(&m, "Content-Transfer-Encoding"), " 7bit");
	CHECK(m.bodylen == 3000 + 4 * 2);
	buf_free(&m.out);
	/* quoted-printable: the same with a non-ASCII character. */
	memcpy(t + 1500, "\xc3\xa9", 2);
	CHECK(build(t, NULL, to, 1, &m, err, sizeof(err)) == 0);
	CHECK_STREQ(field(&m, "Content-Transfer-Encoding"),
	    " quoted-printable");
	CHECK(check_lines(m.body, m.bodylen, 76) == NULL);
	buf_init(&dec, 65536);
	qp_decode(m.body, m.bodylen, &dec);
	CHECK(dec.len == 3000 + 4 * 2 && memcmp(dec.data, t + 1, 998) == 0);
	buf_free(&dec);
	buf_free(&m.out);
	free(t);
}

static void
t_date_header(void)
{
	static const struct {
		const char	*tz, *posix, *off;
	} zones[] = {
		{ "Asia/Tokyo", "JST-9", "+0900" },
		{ "America/New_York", "EST5EDT,M3.2.0,M11.1.0", NULL },
		{ "UTC", "UTC0", "+0000" },
	};
	const char	*to[] = { "alice@example.org" }, *d, *p;
	struct msg	 m;
	char		 err[256];
	size_t		 i, k;

	for (i = 0; i < nitems(zones); i++) {
		set_tz(zones[i].tz, zones[i].posix);
		CHECK(build("\nx\n", NULL, to, 1, &m, err, sizeof(err)) == 0);
		d = field(&m, "Date");
		/* " Www, D Mon YYYY HH:MM:SS +HHMM" */
		CHECKF(strlen(d) >= 31 && strlen(d) <= 32 && d[0] == ' ' &&
		    d[4] == ',' && d[5] == ' ', "%s", d);
		p = strrchr(d, ' ');
		CHECKF(p != NULL && (p[1] == '+' || p[1] == '-') &&
		    strlen(p + 1) == 5 && strspn(p + 2, "0123456789") == 4,
		    "%s", d);
		k = strlen(d);
		CHECKF(k > 14 && d[k - 9] == ':' && d[k - 12] == ':', "%s", d);
		if (zones[i].off != NULL && p != NULL)
			CHECK_STREQ(p + 1, zones[i].off);
		CHECK(strstr(d, "GMT") == NULL && strstr(d, "UT ") == NULL);
		buf_free(&m.out);
	}
	set_tz("Asia/Tokyo", "JST-9");
}

static void
t_seed35_never_to_null(void)
{
	static const char *const bad[][2] = {
		{ "bob@example.net", "" }, { "<>", "bob@example.net" },
		{ "bob@example.net", NULL }, { "bob", "bob@example.net" },
		{ "a@b, c@d", "bob@example.net" }, { "<bob@x.org>", "a@b.c" },
		{ "bob@example.net\r\nBcc: x@y.z", "a@b.c" },
	};
	struct notify_template *t;
	const char	*to[] = { "bob@example.net", "carol@example.com" };
	struct buf	 out;
	char		 err[256];
	size_t		 i;

	t = notify_template_parse("t", "\nx\n", 3, err, sizeof(err));
	CHECK(t != NULL);
	buf_init(&out, OUT_LIMIT);
	buf_addstr(&out, "kept");
	for (i = 0; i < nitems(bad); i++) {
		CHECKF(notify_build(t, NULL, FROM, bad[i], 2, HOST, &out, err,
		    sizeof(err)) == -1, "case %zu", i);
		CHECKF(out.len == 4, "case %zu", i);
	}
	CHECK(notify_build(t, NULL, FROM, to, 0, HOST, &out, err,
	    sizeof(err)) == -1);
	CHECK(notify_build(t, NULL, "", to, 2, HOST, &out, err,
	    sizeof(err)) == -1);
	CHECK(notify_build(t, NULL, "<>", to, 2, HOST, &out, err,
	    sizeof(err)) == -1);
	CHECK(notify_build(t, NULL, FROM, to, 2, "bad host", &out, err,
	    sizeof(err)) == -1);
	CHECK(out.len == 4);
	/* To: holds every recipient, never <>. */
	CHECK(notify_build(t, NULL, FROM, to, 2, HOST, &out, err,
	    sizeof(err)) == 0);
	CHECK(memmem(out.data, out.len, "\r\nTo: bob@example.net, "
	    "carol@example.com\r\n", 42) != NULL);
	CHECK(memmem(out.data, out.len, "<>", 2) == NULL);
	buf_free(&out);
	notify_template_free(t);
}

static void
t_to_folded(void)
{
	const char	*to[40];
	char		 a[40][32];
	struct msg	 m;
	char		 err[256], *v;
	size_t		 i;

	for (i = 0; i < nitems(to); i++) {
		snprintf(a[i], sizeof(a[i]), "user%zu@example.net", i);
		to[i] = a[i];
	}
	CHECK(build("\nx\n", NULL, to, nitems(to), &m, err, sizeof(err)) == 0);
	CHECK(check_lines(m.hdr, m.hdrlen + 2, 78) == NULL);
	v = xstrdup(field(&m, "To"));
	for (i = 0; i < nitems(to); i++)
		CHECKF(strstr(v, a[i]) != NULL, "%s", a[i]);
	CHECK(strstr(v, "user39@example.net") != NULL);
	free(v);
	buf_free(&m.out);
}

static void
t_header_injection(void)
{
	struct notify_tokens tok = {
		.subject = "hi\r\nBcc: evil@example.com\r\n\r\nbody",
		.attachment = "x.exe\nContent-Type: text/html",
		.rule_name = "r\x01\x7f\xc2\x85",
		.virus_name = "\xff\xfe bad utf-8",
	};
	const char	*to[] = { "alice@example.org" };
	struct msg	 m;
	char		 err[256];

	CHECK(build("Subject: %SUBJECT% %ATTACHMENT% %RULE_NAME%\n\n"
	    "%SUBJECT%|%ATTACHMENT%|%VIRUS_NAME%\n", &tok, to, 1, &m, err,
	    sizeof(err)) == 0);
	CHECK_STREQ(field(&m, "Subject"), " hi Bcc: evil@example.com body "
	    "x.exe Content-Type: text/html r");
	CHECK(body_is(&m, "hi Bcc: evil@example.com body|x.exe "
	    "Content-Type: text/html|?? bad utf-8\r\n"));
	CHECK(memmem(m.out.data, m.out.len, "\r\nBcc", 5) == NULL);
	buf_free(&m.out);
	/* Non-ASCII with a line break: encoded, still one field. */
	tok.subject = JA_SUBJECT "\r\nBcc: evil@example.com";
	CHECK(build("Subject: %SUBJECT%\n\nx\n", &tok, to, 1, &m, err,
	    sizeof(err)) == 0);
	CHECK(memmem(m.out.data, m.out.len, "\r\nBcc", 5) == NULL);
	buf_free(&m.out);
}

static void
t_default_subject(void)
{
	struct notify_tokens tok = { .rule_name = "Block EXE" };
	const char	*to[] = { "alice@example.org" };
	struct msg	 m;
	char		 err[256];

	CHECK(build("Hello,\nSubject: not a header here\n", &tok, to, 1, &m,
	    err, sizeof(err)) == 0);
	CHECK_STREQ(field(&m, "Subject"),
	    " Message from the mail gateway: Block EXE");
	CHECK(body_is(&m, "Hello,\r\nSubject: not a header here\r\n"));
	buf_free(&m.out);
	CHECK(build("x\n", NULL, to, 1, &m, err, sizeof(err)) == 0);
	CHECK_STREQ(field(&m, "Subject"), " Message from the mail gateway");
	buf_free(&m.out);
	/* A continuation line joins the subject; CRLF files work too. */
	CHECK(build("\xef\xbb\xbfsubject: one\r\n  two\r\n\r\nb\r\n", NULL,
	    to, 1, &m, err, sizeof(err)) == 0);
	CHECK_STREQ(field(&m, "Subject"), " one two");
	CHECK(body_is(&m, "b\r\n"));
	buf_free(&m.out);
	/* Only a header block: empty body. */
	CHECK(build("Subject: only\n", NULL, to, 1, &m, err,
	    sizeof(err)) == 0);
	CHECK_STREQ(field(&m, "Subject"), " only");
	CHECK(body_is(&m, "\r\n"));
	buf_free(&m.out);
	/* A leading empty line: the body may start like a field. */
	CHECK(build("\nReason: %REASON%\n", NULL, to, 1, &m, err,
	    sizeof(err)) == 0);
	CHECK(body_is(&m, "Reason:\r\n"));
	buf_free(&m.out);
}

static void
t_parse_errors(void)
{
	static const struct {
		const char	*text;
		size_t		 len;
		const char	*err;
	} cases[] = {
		{ "From: x@y.z\n\nbody\n", 0, "line 1: only Subject:" },
		{ "Subject: a\nTo: b@c.d\n\nbody\n", 0,
		    "line 2: only Subject:" },
		{ "Subject: a\r\nSubject: b\r\n\r\n", 0, "line 2: Subject: "
		    "given twice" },
		{ "Subject: a\n  more\nbody text\n\n", 0,
		    "line 3: not a header line" },
		{ "Subject: ok\n\nline 3 \xff\n", 0, "line 3: invalid UTF-8" },
		{ "a\nb\nc\nd \xe3\x81\n", 0, "line 4: invalid UTF-8" },
		{ "a\n\xed\xa0\x80\n", 0, "line 2: invalid UTF-8" },
		{ "ab\n\ncd\0ef", 9, "line 3: NUL byte" },
		{ "X-Mailer: evil\n\n", 0, "line 1: only Subject:" },
	};
	struct notify_template *t;
	char		 err[256], *big;
	size_t		 i, n;

	for (i = 0; i < nitems(cases); i++) {
		n = cases[i].len != 0 ? cases[i].len : strlen(cases[i].text);
		err[0] = '\0';
		t = notify_template_parse("bad", cases[i].text, n, err,
		    sizeof(err));
		CHECKF(t == NULL, "case %zu", i);
		CHECKF(strstr(err, cases[i].err) != NULL &&
		    strncmp(err, "template bad: ", 14) == 0,
		    "case %zu: %s", i, err);
		notify_template_free(t);
	}
	CHECK(notify_template_parse("../x", "x", 1, err, sizeof(err)) == NULL);
	big = xmalloc(NOTIFY_TEMPLATE_MAX + 1);
	memset(big, 'a', NOTIFY_TEMPLATE_MAX + 1);
	CHECK(notify_template_parse("big", big, NOTIFY_TEMPLATE_MAX + 1, err,
	    sizeof(err)) == NULL);
	t = notify_template_parse("big", big, NOTIFY_TEMPLATE_MAX, err,
	    sizeof(err));
	CHECK(t != NULL);
	CHECK_STREQ(notify_template_name(t), "big");
	notify_template_free(t);
	free(big);
	/* Not headers: a URL, or a colon without a space. */
	t = notify_template_parse("ok", "http://example.com/\nSee:this\n", 29,
	    err, sizeof(err));
	CHECK(t != NULL);
	notify_template_free(t);
}

/* write_file: name in dir with the given contents. */
static void
write_file(int dirfd, const char *name, const char *s)
{
	int	 fd;

	fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd != -1 && fd_write_all(fd, s, strlen(s)) == 0);
	close(fd);
}

static void
t_load(void)
{
	struct notify_template *t;
	char		 dir[] = "/tmp/test_notify.XXXXXX", err[256], *big;
	int		 dfd;

	CHECK(mkdtemp(dir) != NULL);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd != -1);
	write_file(dfd, "good", "Subject: S %RULE_NAME%\n\nbody\n");
	t = notify_template_load(dfd, "good", err, sizeof(err));
	CHECKF(t != NULL, "%s", err);
	notify_template_free(t);
	CHECK(symlinkat("good", dfd, "link") == 0);
	CHECK(notify_template_load(dfd, "link", err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "symbolic link") != NULL, "%s", err);
	CHECK(mkdirat(dfd, "sub", 0700) == 0);
	CHECK(notify_template_load(dfd, "sub", err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "not a regular file") != NULL, "%s", err);
	CHECK(mkfifoat(dfd, "fifo", 0600) == 0);
	CHECK(notify_template_load(dfd, "fifo", err, sizeof(err)) == NULL);
	CHECK(notify_template_load(dfd, "missing", err, sizeof(err)) == NULL);
	CHECK(notify_template_load(dfd, "../good", err, sizeof(err)) == NULL);
	CHECK(notify_template_load(dfd, "sub/x", err, sizeof(err)) == NULL);
	write_file(dfd, "bad", "Subject: a\nFrom: b\n\n");
	CHECK(notify_template_load(dfd, "bad", err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "line 2") != NULL, "%s", err);
	big = xmalloc(NOTIFY_TEMPLATE_MAX + 2);
	memset(big, 'x', NOTIFY_TEMPLATE_MAX + 1);
	big[NOTIFY_TEMPLATE_MAX + 1] = '\0';
	write_file(dfd, "big", big);
	CHECK(notify_template_load(dfd, "big", err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "larger") != NULL, "%s", err);
	free(big);
	close(dfd);
	CHECK(test_rmtree(dir) == 0);
}

/* source_dir: the source tree (SEKISHO_SOURCE_DIR from CMake). */
static bool
source_dir(char *dst, size_t size)
{
	return str_lcpy(dst, SEKISHO_SOURCE_DIR, size) < size;
}

static void
t_shipped_templates(void)
{
	static const struct {
		const char	*name, *token;
	} shipped[] = {
		{ "policy-violation", "%RULE_NAME%" },
		{ "attachment-removed", "%ATTACHMENT%" },
		{ "quarantined", "%QUEUE_ID%" },
		{ "scan-failure", "%REASON%" },
		{ "virus-found", "%VIRUS_NAME%" },
	};
	struct notify_tokens tok = { "alice@example.org", "bob@example.net",
	    JA_SUBJECT, "Block EXE", "Eicar-Test", "a.exe", "192.0.2.7",
	    "0123456789abcdef", "Quarantined", "virus", "3 scan failures",
	    T_NOW };
	struct notify_template *t;
	const char	*to[] = { "admin@example.jp" };
	struct msg	 m;
	char		 src[1024], path[1100], err[256], *text;
	size_t		 i, len;
	int		 dfd;

	if (!source_dir(src, sizeof(src))) {
		fprintf(stderr, "t_shipped_templates: source dir unknown, "
		    "skipped\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/etc/templates", src);
	dfd = open(path, O_RDONLY | O_DIRECTORY);
	CHECKF(dfd != -1, "%s", path);
	for (i = 0; dfd != -1 && i < nitems(shipped); i++) {
		t = notify_template_load(dfd, shipped[i].name, err,
		    sizeof(err));
		CHECKF(t != NULL, "%s", err);
		text = file_read_at(dfd, shipped[i].name, NOTIFY_TEMPLATE_MAX,
		    &len);
		CHECKF(text != NULL && strstr(text, shipped[i].token) != NULL &&
		    strncmp(text, "Subject: ", 9) == 0, "%s", shipped[i].name);
		free(text);
		memset(&m, 0, sizeof(m));
		buf_init(&m.out, OUT_LIMIT);
		CHECKF(t != NULL && notify_build(t, &tok, FROM, to, 1, HOST,
		    &m.out, err, sizeof(err)) == 0, "%s", err);
		CHECKF(check_msg(&m) == NULL, "%s", shipped[i].name);
		CHECKF(memmem(m.out.data, m.out.len, "%", 1) == NULL,
		    "%s: token left", shipped[i].name);
		buf_free(&m.out);
		notify_template_free(t);
	}
	if (dfd != -1)
		close(dfd);
}

TEST_MAIN(t_name_valid, t_tokens_expanded, t_unknown_token_and_percent,
    t_seed07_japanese_subject, t_seed07_ascii_is_7bit, t_utf8_body_qp,
    t_long_body_lines, t_date_header, t_seed35_never_to_null, t_to_folded,
    t_header_injection, t_default_subject, t_parse_errors, t_load,
    t_shipped_templates)
