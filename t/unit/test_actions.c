/*
 * test_actions.c: actions on the message (scanner/actions.c): strip
 * exactly the matched attachment (seed 4), stamps without an empty
 * charset (seed 16), subject tags (RFC 2047), no Message-ID added (25).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <glib.h>

#include "actions.h"
#include "mime.h"
#include "test.h"
#include "util.h"
#include "xmalloc.h"

static const char J_TAG[] = "[機密]";
static const char J_SUBJ[] = "請求書のお知らせ";
static const char J_STAMP[] = "このメールは検査済みです";

/* Three attachments' base64 bodies, each on its own line. */
#define B64_A	"JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDw+PgplbmRvYmoKdHJhaWxlcgo8PD4+CiUlRU9GCg=="
#define B64_B	"f0VMRgIBAQAAAAAAAAAAAAIAPgABAAAAeABAAAAAAABAAAAAAAAAAA=="
#define B64_C	"SGVsbG8sIHRoaXMgaXMgYSBwbGFpbiB0ZXh0IGZpbGUuCg=="

static const char MSG3[] =
    "From: a@example.com\r\n"
    "To: b@example.com\r\n"
    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    "Subject: three files\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "See the files.\r\n"
    "--XX\r\n"
    "Content-Type: application/pdf; name=\"a.pdf\"\r\n"
    "Content-Disposition: attachment; filename=\"a.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    B64_A "\r\n"
    "--XX\r\n"
    "Content-Type: application/octet-stream; name=\"b.exe\"\r\n"
    "Content-Disposition: attachment; filename=\"b.exe\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    B64_B "\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; name=\"c.txt\"\r\n"
    "Content-Disposition: attachment; filename=\"c.txt\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    B64_C "\r\n"
    "--XX--\r\n";

static const char MSG_NOCS[] =
    "From: a@example.com\r\n"
    "To: b@example.com\r\n"
    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    "Subject: Hello\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "Plain body.\r\n";

static struct scan_limits lim;

/* analyse: mime_analyse of a NUL-terminated message. */
static void
analyse(const char *m, size_t len, struct scan_msg *sm)
{
	char	 err[256];

	if (mime_analyse(m, len, &lim, sm, err, sizeof(err)) != 0) {
		fprintf(stderr, "mime_analyse: %s\n", err);
		exit(1);
	}
}

/* run: apply one group to m; the result NUL-terminated in out. */
static int
run(const char *m, const struct policy_group *g, struct buf *out)
{
	struct scan_msg	 sm;
	char		 err[256] = "";
	int		 rv;

	analyse(m, strlen(m), &sm);
	buf_init(out, 16 * 1024 * 1024);
	rv = actions_apply(m, strlen(m), &sm, g, NULL, NULL, out, err,
	    sizeof(err));
	if (rv != 0)
		fprintf(stderr, "actions_apply: %s\n", err);
	(void)buf_cstr(out);
	scan_msg_free(&sm);
	return rv;
}

/* no_msgid: the output has no Message-ID header; lines end in CRLF. */
static void
check_out(const struct buf *out, const char *what)
{
	const char	*s = (const char *)out->data;
	size_t		 i;
	bool		 lf = true;

	CHECKF(s != NULL && strcasestr(s, "\nMessage-ID:") == NULL &&
	    strncasecmp(s, "Message-ID:", 11) != 0, "%s: Message-ID added",
	    what);
	for (i = 0; s != NULL && i < out->len; i++)
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			lf = false;
	CHECKF(lf, "%s: bare LF", what);
	CHECKF(s != NULL && strstr(s, "Date: Mon, 1 Jan 2024") != NULL,
	    "%s: Date lost", what);
}

/* Seed 4: only the matched attachment is replaced, the others identical. */
static void
t_strip_only_matched(void)
{
	struct policy_action	 act = { POLICY_A_STRIP, NULL, false, 0 };
	struct policy_group	 g;
	struct scan_msg		 before, after;
	struct buf		 out;
	size_t			 strip[] = { 2 };
	size_t			 i;

	analyse(MSG3, strlen(MSG3), &before);
	CHECK_INTEQ(before.nparts, 4);
	CHECK_STREQ(before.parts[2].filename, "b.exe");
	memset(&g, 0, sizeof(g));
	g.actions = &act;
	g.nactions = 1;
	g.strip_parts = strip;
	g.nstrip_parts = 1;
	CHECK(actions_modifies(&g));
	CHECK_INTEQ(run(MSG3, &g, &out), 0);
	check_out(&out, "strip");
	CHECK(strstr(buf_cstr(&out), B64_A) != NULL);
	CHECK(strstr(buf_cstr(&out), B64_B) == NULL);
	CHECK(strstr(buf_cstr(&out), B64_C) != NULL);
	analyse((const char *)out.data, out.len, &after);
	CHECK_INTEQ(after.nparts, 4);
	CHECK_INTEQ(after.limits, 0);
	if (after.nparts == 4 && before.nparts == 4) {
		for (i = 0; i < 4; i++) {
			if (i == 2)
				continue;
			CHECKF(after.parts[i].size == before.parts[i].size,
			    "part %zu size", i);
			CHECKF(after.parts[i].filename == before.parts[i].filename ||
			    (after.parts[i].filename != NULL &&
			    before.parts[i].filename != NULL &&
			    strcmp(after.parts[i].filename,
			    before.parts[i].filename) == 0), "part %zu name", i);
			CHECKF(strcmp(after.parts[i].true_type,
			    before.parts[i].true_type) == 0, "part %zu type", i);
		}
		CHECK_STREQ(after.parts[3].text, before.parts[3].text);
		CHECK_STREQ(after.parts[2].content_type, "text/plain");
		CHECK(after.parts[2].filename == NULL);
		CHECK(after.parts[2].text != NULL &&
		    strstr(after.parts[2].text, "\"b.exe\"") != NULL);
	}
	scan_msg_free(&before);
	scan_msg_free(&after);
	buf_free(&out);

	/* A part the analysis does not have is an error, not a guess. */
	strip[0] = 9;
	CHECK_INTEQ(run(MSG3, &g, &out), -1);
	CHECK_INTEQ(out.len, 0);
	buf_free(&out);
}

/* stamp: one stamp action on m; re-analysed text of part 0 in *sm. */
static void
stamp(const char *m, enum policy_action_kind k, const char *text,
    struct buf *out, struct scan_msg *sm)
{
	struct policy_action	 act = { k, text, false, 0 };
	struct policy_group	 g;

	memset(&g, 0, sizeof(g));
	g.actions = &act;
	g.nactions = 1;
	CHECK_INTEQ(run(m, &g, out), 0);
	check_out(out, text);
	analyse((const char *)out->data, out->len, sm);
}

/* Seed 16: a part without charset never gets an empty charset=. */
static void
t_stamp_no_charset(void)
{
	struct scan_msg	 sm;
	struct buf	 out;
	const char	*s;

	stamp(MSG_NOCS, POLICY_A_STAMP_BOTTOM, "Scanned by sekisho.", &out,
	    &sm);
	s = buf_cstr(&out);
	CHECK(strstr(s, "charset=\"\"") == NULL);
	CHECK(strcasestr(s, "charset=us-ascii") != NULL);
	CHECK(strstr(s, "Subject: Hello\r\n") != NULL);
	CHECK_INTEQ(sm.nparts, 1);
	CHECK(sm.nparts == 1 && sm.parts[0].text != NULL &&
	    strstr(sm.parts[0].text, "Plain body.\n") != NULL &&
	    strstr(sm.parts[0].text, "Scanned by sekisho.") != NULL);
	scan_msg_free(&sm);
	buf_free(&out);

	stamp(MSG_NOCS, POLICY_A_STAMP_TOP, J_STAMP, &out, &sm);
	s = buf_cstr(&out);
	CHECK(strstr(s, "charset=\"\"") == NULL);
	CHECK(strcasestr(s, "charset=UTF-8") != NULL);
	CHECK(strcasestr(s, "Content-Transfer-Encoding: quoted-printable") !=
	    NULL);
	CHECK_INTEQ(sm.limits, 0);
	CHECK(sm.nparts == 1 && sm.parts[0].text != NULL &&
	    strncmp(sm.parts[0].text, J_STAMP, strlen(J_STAMP)) == 0 &&
	    strstr(sm.parts[0].text, "Plain body.") != NULL);
	CHECK(sm.nparts == 1 && sm.parts[0].charset != NULL &&
	    strcasecmp(sm.parts[0].charset, "utf-8") == 0);
	scan_msg_free(&sm);
	buf_free(&out);
}

/* A Japanese stamp into ISO-2022-JP text stays ISO-2022-JP; HTML escaped. */
static void
t_stamp_charsets(void)
{
	struct scan_msg	 sm;
	struct buf	 out, m;
	gchar		*jis;
	gsize		 n;
	const char	*s;

	jis = g_convert(J_SUBJ, -1, "ISO-2022-JP", "UTF-8", NULL, &n, NULL);
	CHECK(jis != NULL);
	buf_init(&m, 65536);
	CHECK(buf_addstr(&m, "From: a@example.com\r\n"
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=ISO-2022-JP\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n") &&
	    buf_add(&m, jis, n) && buf_addstr(&m, "\r\n"));
	g_free(jis);
	stamp(buf_cstr(&m), POLICY_A_STAMP_BOTTOM, J_STAMP, &out, &sm);
	s = buf_cstr(&out);
	CHECK(strcasestr(s, "charset=ISO-2022-JP") != NULL);
	CHECK(strcasestr(s, "quoted-printable") == NULL);
	CHECK(sm.nparts == 1 && sm.parts[0].text != NULL &&
	    strstr(sm.parts[0].text, J_SUBJ) != NULL &&
	    strstr(sm.parts[0].text, J_STAMP) != NULL);
	scan_msg_free(&sm);
	buf_free(&out);
	buf_free(&m);

	stamp("From: a@example.com\r\n"
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/alternative; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
	    "plain\r\n"
	    "--b\r\nContent-Type: text/html\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "PGh0bWw+PGJvZHk+aGk8L2JvZHk+PC9odG1sPgo=\r\n"
	    "--b--\r\n", POLICY_A_STAMP_TOP, "a<b> 検査", &out, &sm);
	CHECK_INTEQ(sm.nparts, 2);
	CHECK(sm.nparts == 2 && sm.parts[0].text != NULL &&
	    strncmp(sm.parts[0].text, "a<b> 検査\n", 12) == 0);
	CHECK(sm.nparts == 2 && sm.parts[0].charset != NULL &&
	    strcasecmp(sm.parts[0].charset, "utf-8") == 0);
	CHECK(sm.nparts == 2 && sm.parts[1].text != NULL &&
	    strstr(sm.parts[1].text, "<body>\n<p>a&lt;b&gt; &#26908;&#26619;"
	    "</p>\nhi</body>") != NULL);
	CHECK(sm.nparts == 2 && sm.parts[1].charset == NULL);
	scan_msg_free(&sm);
	buf_free(&out);
}

/* tag: the subject after tagging m with t, decoded by mime_analyse. */
static void
tag(const char *m, const char *t, struct buf *out, struct scan_msg *sm)
{
	struct policy_action	 act = { POLICY_A_TAG_SUBJECT, t, false, 0 };
	struct policy_group	 g;

	memset(&g, 0, sizeof(g));
	g.actions = &act;
	g.nactions = 1;
	CHECK_INTEQ(run(m, &g, out), 0);
	check_out(out, t);
	analyse((const char *)out->data, out->len, sm);
}

/* Tags: ASCII stays plain, Japanese is RFC 2047, ISO-2022-JP subjects. */
static void
t_tag_subject(void)
{
	struct scan_msg	 sm;
	struct buf	 out, m;
	gchar		*jis, *b64;
	gsize		 n;
	char		 want[256];

	tag(MSG_NOCS, "[SPAM]", &out, &sm);
	CHECK(strstr(buf_cstr(&out), "\r\nSubject: [SPAM] Hello\r\n") != NULL);
	CHECK(strstr(buf_cstr(&out), "\r\nContent-Type: text/plain\r\n") !=
	    NULL);
	CHECK_STREQ(sm.subject, "[SPAM] Hello");
	scan_msg_free(&sm);
	buf_free(&out);

	tag(MSG_NOCS, J_TAG, &out, &sm);
	CHECK(strstr(buf_cstr(&out), "Subject: =?") != NULL);
	CHECK(strstr(buf_cstr(&out), "Hello") != NULL);
	CHECK(str_printf(want, sizeof(want), "%s Hello", J_TAG));
	CHECK_STREQ(sm.subject, want);
	scan_msg_free(&sm);
	buf_free(&out);

	jis = g_convert(J_SUBJ, -1, "ISO-2022-JP", "UTF-8", NULL, &n, NULL);
	b64 = g_base64_encode((const guchar *)jis, n);
	buf_init(&m, 65536);
	CHECK(buf_printf(&m, "From: a@example.com\r\n"
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "Subject: =?ISO-2022-JP?B?%s?=\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\nbody\r\n", b64));
	g_free(jis);
	g_free(b64);
	tag(buf_cstr(&m), J_TAG, &out, &sm);
	CHECK(str_printf(want, sizeof(want), "%s %s", J_TAG, J_SUBJ));
	CHECK_STREQ(sm.subject, want);
	CHECK(strstr(buf_cstr(&out), "\r\nContent-Type: text/plain; "
	    "charset=us-ascii\r\n\r\nbody\r\n") != NULL);
	scan_msg_free(&sm);
	buf_free(&out);
	buf_free(&m);
}

/* Seed 25: every action at once; an existing Message-ID is kept once. */
static void
t_no_message_id(void)
{
	struct policy_action	 acts[] = {
		{ POLICY_A_TAG_SUBJECT, "[x]", false, 0 },
		{ POLICY_A_STAMP_TOP, "top", false, 0 },
		{ POLICY_A_STAMP_BOTTOM, "bottom", false, 0 },
		{ POLICY_A_STRIP, NULL, false, 0 },
		{ POLICY_A_BCC, "c@example.com", false, 0 },
	};
	struct policy_group	 g;
	struct buf		 out, m;
	struct scan_msg		 sm;
	size_t			 strip[] = { 1, 3 };
	const char		*s;

	memset(&g, 0, sizeof(g));
	g.actions = acts;
	g.nactions = nitems(acts);
	g.strip_parts = strip;
	g.nstrip_parts = nitems(strip);
	CHECK_INTEQ(run(MSG3, &g, &out), 0);
	check_out(&out, "all");
	analyse((const char *)out.data, out.len, &sm);
	CHECK_INTEQ(sm.nparts, 4);
	CHECK_STREQ(sm.subject, "[x] three files");
	CHECK(sm.nparts == 4 && sm.parts[0].text != NULL &&
	    strcmp(sm.parts[0].text, "top\n\nSee the files.\n\nbottom\n") == 0);
	CHECK(sm.nparts == 4 && sm.parts[2].filename != NULL &&
	    strcmp(sm.parts[2].filename, "b.exe") == 0);
	scan_msg_free(&sm);
	buf_free(&out);

	buf_init(&m, 65536);
	CHECK(buf_addstr(&m, "Message-ID: <1@example.com>\r\n") &&
	    buf_addstr(&m, MSG3));
	CHECK_INTEQ(run(buf_cstr(&m), &g, &out), 0);
	s = buf_cstr(&out);
	CHECK(strncmp(s, "Message-ID: <1@example.com>\r\n", 29) == 0);
	CHECK(strstr(s + 1, "Message-ID") == NULL);
	buf_free(&out);
	buf_free(&m);
}

/* A single-part message that is itself the attachment to strip. */
static void
t_strip_single(void)
{
	struct policy_action	 act = { POLICY_A_STRIP, NULL, false, 0 };
	struct policy_group	 g;
	struct buf		 out;
	struct scan_msg		 sm;
	size_t			 strip[] = { 0 };

	memset(&g, 0, sizeof(g));
	g.actions = &act;
	g.nactions = 1;
	g.strip_parts = strip;
	g.nstrip_parts = 1;
	CHECK_INTEQ(run("From: a@example.com\r\n"
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: application/octet-stream; name=\"評価.exe\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n" B64_B "\r\n",
	    &g, &out), 0);
	check_out(&out, "single");
	analyse((const char *)out.data, out.len, &sm);
	CHECK_INTEQ(sm.nparts, 1);
	CHECK(sm.nparts == 1 && sm.parts[0].text != NULL &&
	    strstr(sm.parts[0].text, "\"評価.exe\"") != NULL);
	CHECK(sm.nparts == 1 && sm.parts[0].content_type != NULL &&
	    strcmp(sm.parts[0].content_type, "text/plain") == 0);
	scan_msg_free(&sm);
	buf_free(&out);
}

/*
 * t_headers: actions_headers puts the verdict headers first and drops the
 * message's own (forged) ones, continuation lines included, in the top
 * header only; the body and every other byte stay as they were.
 */
static bool
drop_spam(const char *line, size_t len, void *arg)
{
	const char *prefix = arg;

	return len > strlen(prefix) && strncasecmp(line, prefix,
	    strlen(prefix)) == 0;
}

static void
t_headers(void)
{
	static const struct {
		const char	*in;
		const char	*want;
	} cases[] = {
		{ "Subject: a\r\nX-Sekisho-Spam-Score: -5\r\n\r\nbody\r\n"
		  "X-Sekisho-Spam-Score: in the body\r\n",
		  "X-Sekisho-Spam-Score: 1.0\r\nSubject: a\r\n\r\nbody\r\n"
		  "X-Sekisho-Spam-Score: in the body\r\n" },
		{ "x-sekisho-spam-rules: A,\r\n\tB\r\nTo: b\r\n\r\n",
		  "X-Sekisho-Spam-Score: 1.0\r\nTo: b\r\n\r\n" },
		{ "From: a\n X-Sekisho-Spam-Score: folded, kept\n\nbody",
		  "X-Sekisho-Spam-Score: 1.0\r\nFrom: a\n X-Sekisho-Spam-"
		  "Score: folded, kept\n\nbody" },
		{ "X-Sekisho-Spam-Score: 9", "X-Sekisho-Spam-Score: 1.0\r\n" },
		{ "", "X-Sekisho-Spam-Score: 1.0\r\n" },
		{ "X-Sekisho-Spam", "X-Sekisho-Spam-Score: 1.0\r\n"
		  "X-Sekisho-Spam" },
	};
	struct buf	 out;
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		buf_init(&out, 1 << 20);
		CHECK(actions_headers(cases[i].in, strlen(cases[i].in),
		    drop_spam, "X-Sekisho-Spam-", "X-Sekisho-Spam-Score: 1.0\r\n",
		    &out));
		CHECKF(out.len == strlen(cases[i].want) &&
		    memcmp(out.data, cases[i].want, out.len) == 0,
		    "case %zu: \"%.*s\"", i, (int)out.len, (char *)out.data);
		buf_free(&out);
	}
	/* A limit reached is reported. */
	buf_init(&out, 10);
	CHECK(!actions_headers("Subject: a\r\n\r\nbody", 17, drop_spam,
	    "X-Sekisho-Spam-", "X-Sekisho-Spam-Score: 1.0\r\n", &out));
	buf_free(&out);
}

int
main(void)
{
	char	 err[256];

	if (mime_init(err, sizeof(err)) == -1) {
		fprintf(stderr, "mime_init: %s\n", err);
		return 1;
	}
	mime_limits_default(&lim);
	t_strip_only_matched();
	t_stamp_no_charset();
	t_stamp_charsets();
	t_tag_subject();
	t_no_message_id();
	t_strip_single();
	t_headers();
	mime_shutdown();
	printf("test_actions: %d checks, %d failed\n", test_checks,
	    test_failures);
	return test_failures ? 1 : 0;
}
