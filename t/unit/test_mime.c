/*
 * test_mime.c: MIME analysis (scanner/mime.c) into struct scan_msg.
 *
 * Messages with Japanese charsets, RFC 2047/2231, groups and malformed
 * MIME are kept in t/data/mime/; archives (zip, tar.gz, 7z, nested,
 * bombs, encrypted) are built here in memory with libarchive's writer and
 * attached with base64.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <archive.h>
#include <archive_entry.h>
#include <glib.h>

#include "mime.h"
#include "test.h"
#include "util.h"
#include "xmalloc.h"

#define DATA	SEKISHO_SOURCE_DIR "/t/data/mime/"

static const char J_SUBJ[] = "請求書のお知らせ";
static const char J_BODY[] =
    "本日は晴天なり。請求書を添付します。\n";

/* A tiny x86-64 ELF executable (exit(0)), enough for libmagic. */
static const uint8_t elf[] = {
	0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	2, 0, 0x3e, 0, 1, 0, 0, 0, 0x78, 0, 0x40, 0, 0, 0, 0, 0,
	0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0x40, 0, 0x38, 0, 1, 0, 0, 0, 0, 0, 0, 0,
	1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0,
	0x80, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0,
	0, 0x10, 0, 0, 0, 0, 0, 0, 0x31, 0xff, 0xb8, 0x3c, 0, 0, 0, 0x0f,
	0x05,
};

/* slurp: a file under t/data/mime/, NUL-terminated. */
static char *
slurp(const char *name, size_t *len)
{
	char	 path[1024];
	gchar	*data;
	gsize	 n;
	char	*r;

	if (!str_printf(path, sizeof(path), "%s%s", DATA, name) ||
	    !g_file_get_contents(path, &data, &n, NULL)) {
		fprintf(stderr, "slurp: %s\n", path);
		exit(1);
	}
	r = xmalloc(n + 1);
	memcpy(r, data, n);
	r[n] = '\0';
	g_free(data);
	*len = n;
	return r;
}

/* analyse: mime_analyse under lim (NULL: defaults); must succeed. */
static void
analyse(const void *raw, size_t len, const struct scan_limits *lim,
    struct scan_msg *m)
{
	struct scan_limits	 def;
	char			 err[256];

	mime_limits_default(&def);
	if (mime_analyse(raw, len, lim ? lim : &def, m, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "mime_analyse: %s\n", err);
		exit(1);
	}
}

/* analyse_file: analyse one file of t/data/mime/ with default limits. */
static void
analyse_file(const char *name, struct scan_msg *m)
{
	size_t	 len;
	char	*raw = slurp(name, &len);

	analyse(raw, len, NULL, m);
	free(raw);
}

/* find: the first part with this file name, or NULL. */
static struct scan_part *
find(struct scan_msg *m, const char *name)
{
	size_t	 i;

	for (i = 0; i < m->nparts; i++)
		if (m->parts[i].filename != NULL &&
		    strcmp(m->parts[i].filename, name) == 0)
			return &m->parts[i];
	return NULL;
}

/* valid_text: whether s[0..len) is valid UTF-8 (NULs allowed). */
static bool
valid_text(const char *s, size_t len)
{
	const char	*z;
	size_t		 n;

	while (len > 0) {
		z = memchr(s, '\0', len);
		n = z != NULL ? (size_t)(z - s) : len;
		if (!g_utf8_validate(s, (gssize)n, NULL))
			return false;
		n += z != NULL;
		s += n;
		len -= n;
	}
	return true;
}

/* with_attachment: a message with one base64 attachment. */
static char *
with_attachment(const char *name, const char *ctype, const void *data,
    size_t len, size_t *outlen)
{
	gchar	*b64 = g_base64_encode(data, len);
	char	*msg;

	msg = xasprintf("From: a@example.com\r\nTo: b@example.com\r\n"
	    "Subject: attachment\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n"
	    "--BB\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
	    "--BB\r\nContent-Type: %s\r\n"
	    "Content-Disposition: attachment; filename=\"%s\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--BB--\r\n",
	    ctype, name, b64);
	g_free(b64);
	*outlen = strlen(msg);
	return msg;
}

/* An archive being written into memory. */
struct warc {
	struct archive	*a;
	uint8_t		*buf;
	size_t		 cap;
	size_t		 used;
};

/* warc_open: start an archive in format fmt with filter (or NULL). */
static void
warc_open(struct warc *w, const char *fmt, const char *filter,
    const char *options, size_t cap)
{
	w->a = archive_write_new();
	w->cap = cap;
	w->buf = xmalloc(cap);
	w->used = 0;
	if (archive_write_set_format_by_name(w->a, fmt) != ARCHIVE_OK ||
	    (filter != NULL &&
	    archive_write_add_filter_by_name(w->a, filter) != ARCHIVE_OK) ||
	    (options != NULL &&
	    (archive_write_set_options(w->a, options) != ARCHIVE_OK ||
	    archive_write_set_passphrase(w->a, "secret") != ARCHIVE_OK)) ||
	    archive_write_open_memory(w->a, w->buf, w->cap, &w->used) !=
	    ARCHIVE_OK) {
		fprintf(stderr, "warc_open %s: %s\n", fmt,
		    archive_error_string(w->a));
		exit(1);
	}
}

/* warc_add: one regular file member (data NULL: len zero bytes). */
static void
warc_add(struct warc *w, const char *name, const void *data, size_t len)
{
	struct archive_entry	*e = archive_entry_new();
	static const uint8_t	 zero[65536];
	size_t			 n, off;

	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)len);
	if (archive_write_header(w->a, e) != ARCHIVE_OK) {
		fprintf(stderr, "warc_add: %s\n", archive_error_string(w->a));
		exit(1);
	}
	for (off = 0; off < len; off += n) {
		n = len - off < sizeof(zero) ? len - off : sizeof(zero);
		if (archive_write_data(w->a, data ?
		    (const uint8_t *)data + off : zero, n) < 0) {
			fprintf(stderr, "warc_add: %s\n",
			    archive_error_string(w->a));
			exit(1);
		}
	}
	archive_entry_free(e);
}

/* warc_close: finish; the bytes are w->buf[0..w->used). */
static void
warc_close(struct warc *w)
{
	if (archive_write_close(w->a) != ARCHIVE_OK) {
		fprintf(stderr, "warc_close: %s\n", archive_error_string(w->a));
		exit(1);
	}
	archive_write_free(w->a);
}

/* elapsed: seconds since t0. */
static double
elapsed(const struct timespec *t0)
{
	struct timespec	 t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Japanese subjects and bodies in every charset decode to the same UTF-8. */
static void
t_japanese(void)
{
	static const char *files[] = {
		"jp-iso2022.eml", "jp-sjis.eml", "jp-eucjp.eml", "jp-utf8.eml",
	};
	static const char *guessed[] = {
		"jp-nocharset.eml", "jp-wrongcharset.eml",
	};
	struct scan_msg	 m;
	size_t		 i;

	for (i = 0; i < nitems(files); i++) {
		analyse_file(files[i], &m);
		CHECKF(m.subject != NULL && strcmp(m.subject, J_SUBJ) == 0,
		    "%s: subject %s", files[i], m.subject);
		CHECKF(m.nparts == 1 && m.parts[0].body_text &&
		    m.parts[0].text != NULL &&
		    strcmp(m.parts[0].text, J_BODY) == 0 &&
		    m.parts[0].textlen == strlen(J_BODY),
		    "%s: body %s", files[i],
		    m.nparts ? m.parts[0].text : "-");
		CHECKF(m.limits == 0, "%s: limits %#x", files[i], m.limits);
		scan_msg_free(&m);
	}
	/* No charset, or a wrong one: guessed. */
	for (i = 0; i < nitems(guessed); i++) {
		analyse_file(guessed[i], &m);
		CHECKF(m.nparts == 1 && m.parts[0].text != NULL &&
		    strcmp(m.parts[0].text, J_BODY) == 0,
		    "%s: body %s", guessed[i],
		    m.nparts ? m.parts[0].text : "-");
		scan_msg_free(&m);
	}
}

/* Raw 8-bit header text (Shift_JIS, EUC-JP) is decoded by GMime's fallback. */
static void
t_raw_8bit_header(void)
{
	static const char *cs[] = { "SHIFT_JIS", "EUC-JP", "UTF-8" };
	struct scan_msg	 m;
	gchar		*subj;
	char		*raw;
	size_t		 i;

	for (i = 0; i < nitems(cs); i++) {
		subj = g_convert(J_SUBJ, -1, cs[i], "UTF-8", NULL, NULL, NULL);
		raw = xasprintf("From: a@example.com\r\nSubject: %s\r\n"
		    "\r\nx\r\n", subj);
		analyse(raw, strlen(raw), NULL, &m);
		CHECKF(m.subject != NULL && strcmp(m.subject, J_SUBJ) == 0,
		    "%s: %s", cs[i], m.subject);
		scan_msg_free(&m);
		free(raw);
		g_free(subj);
	}
}

/* Seed 14: a missing subject is NULL; blank and folded ones are present. */
static void
t_seed14_subjects(void)
{
	struct scan_msg	 m;
	size_t		 i;
	int		 n = 0;

	analyse_file("subj-none.eml", &m);
	CHECK(m.subject == NULL);
	scan_msg_free(&m);

	analyse_file("subj-blank.eml", &m);
	CHECK_STREQ(m.subject, "");
	for (i = 0; i < m.nheaders; i++)
		if (strcmp(m.headers[i].name, "X-After") == 0)
			n++;
	CHECK_INTEQ(n, 1);
	scan_msg_free(&m);

	analyse_file("subj-crlf.eml", &m);
	CHECK_STREQ(m.subject, "hello");
	scan_msg_free(&m);
}

/* Seed 42: To and Cc mailboxes, inside groups too, headers decoded. */
static void
t_seed42_header_rcpts(void)
{
	struct scan_msg	 m;
	size_t		 i;
	bool		 seen = false;

	analyse_file("groups.eml", &m);
	CHECK_INTEQ(m.nhdr_rcpts, 5);
	for (i = 0; i < m.nheaders; i++)
		if (strcmp(m.headers[i].name, "Cc") == 0)
			seen = strstr(m.headers[i].value, "山田") != NULL;
	CHECK(seen);
	scan_msg_free(&m);
}

/* RFC 2231 continuations hiding ".exe"; an RFC 2231 UTF-8 name. */
static void
t_rfc2231_filename(void)
{
	struct scan_msg		 m;
	struct scan_part	*p;

	analyse_file("rfc2231.eml", &m);
	CHECK_INTEQ(m.nparts, 3);
	CHECK(m.nparts > 0 && m.parts[0].body_text && !m.parts[0].attachment);
	CHECK((p = find(&m, "invoice.exe")) != NULL && p->attachment &&
	    p->size == 32 && p->text == NULL);
	CHECK((p = find(&m, "請求書.txt")) != NULL && p->attachment &&
	    !p->body_text && p->text != NULL && strcmp(p->text, "hello") == 0);
	scan_msg_free(&m);
}

/*
 * Every name a part is given counts: a plain filename beside an RFC 2231
 * one that differs (clients show the RFC 2231 one), a Content-Type name,
 * and an RFC 2231 name whose end hides behind %00.
 */
static void
t_alt_names(void)
{
	static const char msg[] =
	    "From: a@example.com\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=B\r\n\r\n"
	    "--B\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Disposition: attachment; filename=\"harmless.txt\"; "
	    "filename*=utf-8''evil.exe\r\n\r\nx\r\n"
	    "--B\r\nContent-Type: application/octet-stream; name=\"b.scr\""
	    "\r\nContent-Disposition: attachment; filename=\"b.txt\"\r\n"
	    "\r\nx\r\n"
	    "--B\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Disposition: attachment; "
	    "filename*=utf-8''evil%00.txt%00.exe\r\n\r\nx\r\n"
	    "--B--\r\n";
	struct scan_msg	 m;
	size_t		 i, j;
	bool		 evil = false, scr = false, nul = false;

	analyse(msg, sizeof(msg) - 1, NULL, &m);
	CHECK_INTEQ(m.nparts, 3);
	for (i = 0; i < m.nparts; i++)
		for (j = 0; j < m.parts[i].nalt_names; j++) {
			evil |= strcmp(m.parts[i].alt_names[j], "evil.exe") == 0 ||
			    (m.parts[i].filename != NULL &&
			    strcmp(m.parts[i].filename, "evil.exe") == 0);
			scr |= strcmp(m.parts[i].alt_names[j], "b.scr") == 0;
			nul |= strcmp(m.parts[i].alt_names[j],
			    "evil_.txt_.exe") == 0;
		}
	CHECK(evil);
	CHECK(scr);
	CHECK(nul);
	scan_msg_free(&m);
}

/* A multipart whose boundary never comes: its text is still scanned. */
static void
t_unplaced_multipart(void)
{
	struct buf	 b;
	struct scan_msg	 m;
	size_t		 i;
	bool		 seen = false;

	buf_init(&b, 64 * 1024);
	buf_addstr(&b, "From: a@example.com\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"");
	for (i = 0; i < 5000; i++)
		buf_addstr(&b, "b");
	buf_addstr(&b, "\"\r\n\r\n--");
	for (i = 0; i < 5000; i++)
		buf_addstr(&b, "b");
	buf_addstr(&b, "\r\nContent-Type: text/plain\r\n\r\n"
	    "the SECRET-WORD is here\r\n--");
	for (i = 0; i < 5000; i++)
		buf_addstr(&b, "b");
	buf_addstr(&b, "--\r\n");
	analyse(b.data, b.len, NULL, &m);
	CHECK(m.nparts >= 1);
	for (i = 0; i < m.nparts; i++)
		seen |= m.parts[i].body_text && m.parts[i].text != NULL &&
		    strstr(m.parts[i].text, "SECRET-WORD") != NULL;
	CHECK(seen);
	CHECK((m.limits & SCAN_LIMIT_MALFORMED) != 0);
	scan_msg_free(&m);
	buf_free(&b);
}

/* An executable named .txt and declared text/plain: libmagic tells. */
static void
t_exe_as_txt(void)
{
	struct scan_msg		 m;
	struct scan_part	*p;
	char			*raw;
	size_t			 len;

	raw = with_attachment("readme.txt", "text/plain", elf, sizeof(elf),
	    &len);
	analyse(raw, len, NULL, &m);
	CHECK((p = find(&m, "readme.txt")) != NULL);
	if (p != NULL) {
		CHECK_STREQ(p->content_type, "text/plain");
		CHECKF(p->true_type != NULL &&
		    (strcmp(p->true_type, "application/x-executable") == 0 ||
		    strcmp(p->true_type, "application/x-pie-executable") == 0 ||
		    strcmp(p->true_type, "application/x-sharedlib") == 0),
		    "true type %s", p->true_type);
		CHECK(p->attachment && !p->body_text && p->text == NULL);
		CHECK_INTEQ(p->size, sizeof(elf));
	}
	scan_msg_free(&m);
	free(raw);
}

/*
 * HTML is kept as text with its tags, its visible text after a "\n";
 * Latin-1 QP; x-uuencode decoded.
 */
static void
t_html_latin1_uuencode(void)
{
	struct scan_msg		 m;
	struct scan_part	*p;

	analyse_file("latin1-uu.eml", &m);
	CHECK_STREQ(m.subject, "café");
	CHECK(m.nparts == 2);
	if (m.nparts == 2) {
		CHECK(m.parts[0].html && m.parts[0].body_text);
		CHECK_STREQ(m.parts[0].text, "<p>Café crème</p>\nCafé crème");
		CHECK_INTEQ(m.parts[0].textlen, strlen(m.parts[0].text));
	}
	CHECK((p = find(&m, "hello.txt")) != NULL && p->text != NULL &&
	    strcmp(p->text, "hello uuencoded world\n") == 0);
	scan_msg_free(&m);
}

/* message/rfc822: the embedded message's parts at depth 1 under it. */
static void
t_rfc822(void)
{
	struct scan_msg		 m;
	struct scan_part	*p;
	struct scan_limits	 lim;

	analyse_file("rfc822.eml", &m);
	CHECK_STREQ(m.subject, "Fwd: report");
	CHECK((p = find(&m, "orig.eml")) != NULL && p->depth == 0 &&
	    p->attachment && p->size > 0 &&
	    strcmp(p->content_type, "message/rfc822") == 0);
	CHECK(m.nparts == 3 && m.parts[2].parent == 1 &&
	    m.parts[2].depth == 1 && m.parts[2].html && m.parts[2].body_text &&
	    strstr(m.parts[2].text, "inner secret") != NULL);
	scan_msg_free(&m);

	/* depth 0: the embedded message is not entered. */
	mime_limits_default(&lim);
	lim.max_depth = 0;
	{
		size_t	 len;
		char	*raw = slurp("rfc822.eml", &len);

		analyse(raw, len, &lim, &m);
		free(raw);
	}
	CHECK(m.nparts == 2 && (m.limits & SCAN_LIMIT_DEPTH) &&
	    (m.parts[1].limits & SCAN_LIMIT_DEPTH));
	scan_msg_free(&m);
}

/* Malformed MIME: what parsed is kept, the flag is set, no crash. */
static void
t_malformed(void)
{
#define B(s)	{ s, sizeof(s) - 1 }
	static const struct {
		const char	*s;
		size_t		 len;
	} bad[] = {
		B(""), B("\r\n"), B("garbage"), B("\x00\x01\x02\xff"),
		B("Content-Type: multipart/mixed\r\n\r\nno boundary\r\n"),
		B("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n"
		    "Content-Type: message/rfc822\r\n\r\n--x--\r\n"),
		/* glibc's iconv lets these past U+10FFFF through; we must not. */
		B("Content-Type: text/plain; charset=utf-8\r\n\r\n"
		    "a\xf6\xbc\x90\x93" "b\r\n"),
		B("Content-Type: text/plain; charset=ucs-4\r\n\r\n"
		    "\x7f\xff\xff\xff\x00\x00\x00\x41"),
		B("Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
		    "\xff\xfe hello\r\n"),
	};
#undef B
	struct scan_msg		 m;
	struct scan_part	*p;
	size_t			 i, j;

	analyse_file("malformed.eml", &m);
	CHECK(m.limits & SCAN_LIMIT_MALFORMED);
	CHECK_STREQ(m.subject, "broken");
	CHECK(m.nparts == 3);
	CHECK(m.nparts > 0 && m.parts[0].text != NULL &&
	    strcmp(m.parts[0].text, "first part survives") == 0);
	CHECK((p = find(&m, "x.bin")) != NULL &&
	    (p->limits & SCAN_LIMIT_MALFORMED));
	CHECK(m.nparts == 3 && m.parts[2].text != NULL &&
	    strstr(m.parts[2].text, "no closing boundary") != NULL);
	scan_msg_free(&m);

	for (i = 0; i < nitems(bad); i++) {
		analyse(bad[i].s, bad[i].len, NULL, &m);
		CHECKF(m.size == bad[i].len, "case %zu", i);
		for (j = 0; j < m.nparts; j++)
			CHECKF(m.parts[j].text == NULL ||
			    valid_text(m.parts[j].text, m.parts[j].textlen),
			    "case %zu part %zu: invalid UTF-8", i, j);
		if (i == nitems(bad) - 1)
			CHECKF(m.nparts == 1 && m.parts[0].text != NULL &&
			    strstr(m.parts[0].text, "hello") != NULL,
			    "unknown charset");
		scan_msg_free(&m);
	}
}

/* zip and tar.gz: members with names, sizes, true types, text. */
static void
t_seed15_archives(void)
{
	static const struct {
		const char	*fmt, *filter, *name, *ctype;
	} cases[] = {
		{ "zip", NULL, "docs.zip", "application/zip" },
		{ "ustar", "gzip", "docs.tar.gz", "application/x-gzip" },
		{ "pax", NULL, "docs.tar", "application/x-tar" },
		{ "7zip", NULL, "docs.7z", "application/octet-stream" },
	};
	static const char text[] = "hello from the archive\n";
	struct scan_msg		 m;
	struct scan_part	*p, *arc;
	struct warc		 w;
	char			*raw;
	size_t			 i, len;

	for (i = 0; i < nitems(cases); i++) {
		warc_open(&w, cases[i].fmt, cases[i].filter, NULL, 1 << 20);
		warc_add(&w, "dir/readme.txt", text, strlen(text));
		warc_add(&w, "../../etc/evil.exe", elf, sizeof(elf));
		warc_close(&w);
		raw = with_attachment(cases[i].name, cases[i].ctype, w.buf,
		    w.used, &len);
		analyse(raw, len, NULL, &m);
		arc = find(&m, cases[i].name);
		CHECKF(arc != NULL && arc->limits == 0 && !arc->in_archive,
		    "%s", cases[i].name);
		CHECKF(m.nparts == 4, "%s: %zu parts", cases[i].name, m.nparts);
		p = find(&m, "dir/readme.txt");
		CHECKF(p != NULL && p->in_archive && p->attachment &&
		    p->parent == (int)(arc - m.parts) && p->depth == 1 &&
		    p->size == strlen(text) && p->text != NULL &&
		    strcmp(p->text, text) == 0 &&
		    strcmp(p->true_type, "text/plain") == 0,
		    "%s: text member", cases[i].name);
		/* The name is reported, never used as a path. */
		p = find(&m, "../../etc/evil.exe");
		CHECKF(p != NULL && p->size == sizeof(elf) &&
		    p->true_type != NULL &&
		    strstr(p->true_type, "executable") != NULL &&
		    p->text == NULL, "%s: exe member %s", cases[i].name,
		    p ? p->true_type : "-");
		CHECKF(m.limits == 0, "%s: limits %#x", cases[i].name,
		    m.limits);
		scan_msg_free(&m);
		free(raw);
		free(w.buf);
	}
}

/* A lone .gz opens with libarchive's raw format; a corrupt one is malformed. */
static void
t_gzip_single(void)
{
	static const char text[] = "plain text, gzip'd alone\n";
	struct scan_msg		 m;
	struct warc		 w;
	char			*raw;
	size_t			 len;

	warc_open(&w, "raw", "gzip", NULL, 1 << 16);
	warc_add(&w, "data", text, strlen(text));
	warc_close(&w);
	raw = with_attachment("notes.txt.gz", "application/gzip", w.buf,
	    w.used, &len);
	analyse(raw, len, NULL, &m);
	CHECK(m.nparts == 3 && m.parts[2].in_archive &&
	    m.parts[2].text != NULL && strcmp(m.parts[2].text, text) == 0);
	scan_msg_free(&m);
	free(raw);

	/* Corrupt after the header: libmagic says gzip, nothing opens. */
	memset(w.buf + 12, 0xff, w.used - 12);
	raw = with_attachment("notes.txt.gz", "application/gzip", w.buf,
	    w.used, &len);
	analyse(raw, len, NULL, &m);
	CHECK(m.nparts == 2 && (m.limits & SCAN_LIMIT_MALFORMED) &&
	    (m.parts[1].limits & SCAN_LIMIT_MALFORMED));
	scan_msg_free(&m);
	free(raw);
	free(w.buf);
}

/* zip in zip in zip: nesting followed up to max_depth, then DEPTH. */
static void
t_nested_and_depth(void)
{
	struct scan_msg		 m;
	struct scan_limits	 lim;
	struct scan_part	*p;
	struct warc		 w1, w2, w3;
	char			*raw;
	size_t			 len, i;

	warc_open(&w1, "zip", NULL, NULL, 1 << 16);
	warc_add(&w1, "deep.txt", "deepest\n", 8);
	warc_close(&w1);
	warc_open(&w2, "zip", NULL, NULL, 1 << 16);
	warc_add(&w2, "inner.zip", w1.buf, w1.used);
	warc_close(&w2);
	warc_open(&w3, "zip", NULL, NULL, 1 << 16);
	warc_add(&w3, "middle.zip", w2.buf, w2.used);
	warc_close(&w3);
	raw = with_attachment("outer.zip", "application/zip", w3.buf, w3.used,
	    &len);

	analyse(raw, len, NULL, &m);
	CHECK((p = find(&m, "deep.txt")) != NULL && p->depth == 3 &&
	    p->text != NULL && strcmp(p->text, "deepest\n") == 0);
	CHECK((p = find(&m, "inner.zip")) != NULL && p->depth == 2 &&
	    strcmp(p->true_type, "application/zip") == 0);
	CHECK(m.limits == 0);
	scan_msg_free(&m);

	mime_limits_default(&lim);
	lim.max_depth = 2;
	analyse(raw, len, &lim, &m);
	CHECK(find(&m, "deep.txt") == NULL);
	CHECK((p = find(&m, "inner.zip")) != NULL &&
	    (p->limits & SCAN_LIMIT_DEPTH));
	CHECK((p = find(&m, "outer.zip")) != NULL &&
	    (p->limits & SCAN_LIMIT_DEPTH));
	CHECK(m.limits == SCAN_LIMIT_DEPTH);
	for (i = 0; i < m.nparts; i++)
		CHECK(m.parts[i].depth <= lim.max_depth);
	scan_msg_free(&m);
	free(raw);
	free(w1.buf);
	free(w2.buf);
	free(w3.buf);
}

/* Too many members: max_parts, COUNT. */
static void
t_count_limit(void)
{
	struct scan_msg		 m;
	struct scan_limits	 lim;
	struct warc		 w;
	char			 name[32], *raw;
	size_t			 len, i;

	warc_open(&w, "zip", NULL, NULL, 1 << 20);
	for (i = 0; i < 200; i++) {
		(void)str_printf(name, sizeof(name), "f%03zu.txt", i);
		warc_add(&w, name, "x\n", 2);
	}
	warc_close(&w);
	raw = with_attachment("many.zip", "application/zip", w.buf, w.used,
	    &len);
	mime_limits_default(&lim);
	lim.max_parts = 10;
	analyse(raw, len, &lim, &m);
	CHECK_INTEQ(m.nparts, 10);
	CHECK(m.limits & SCAN_LIMIT_COUNT);
	CHECK(find(&m, "many.zip") != NULL &&
	    (find(&m, "many.zip")->limits & SCAN_LIMIT_COUNT));
	scan_msg_free(&m);
	free(raw);
	free(w.buf);
}

/* Decompression bombs stop at the limit, early, in zip and tar.gz. */
static void
t_seed15_bombs(void)
{
	static const struct {
		const char	*fmt, *filter, *name;
		uint64_t	 ratio;
		unsigned	 expect;
	} cases[] = {
		{ "zip", NULL, "bomb.zip", 100, SCAN_LIMIT_RATIO },
		{ "ustar", "gzip", "bomb.tar.gz", 100, SCAN_LIMIT_RATIO },
		{ "zip", NULL, "bomb.zip", 0, SCAN_LIMIT_SIZE },
		{ "ustar", "gzip", "bomb.tar.gz", 0, SCAN_LIMIT_SIZE },
	};
	struct scan_msg		 m;
	struct scan_limits	 lim;
	struct timespec		 t0;
	struct warc		 w;
	char			*raw;
	size_t			 len, i;
	double			 secs;

	for (i = 0; i < nitems(cases); i++) {
		warc_open(&w, cases[i].fmt, cases[i].filter, NULL, 1 << 20);
		warc_add(&w, "zeros.bin", NULL, 50 << 20);
		warc_add(&w, "after.txt", "after\n", 6);
		warc_close(&w);
		raw = with_attachment(cases[i].name, "application/octet-stream",
		    w.buf, w.used, &len);
		mime_limits_default(&lim);
		lim.max_ratio = cases[i].ratio;
		lim.max_expanded = 10 << 20;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		analyse(raw, len, &lim, &m);
		secs = elapsed(&t0);
		fprintf(stderr, "bomb %s (%zu bytes, 50 MiB inside, "
		    "ratio %llu): limits %#x in %.3f s\n", cases[i].name,
		    w.used,
		    (unsigned long long)cases[i].ratio, m.limits, secs);
		CHECKF(m.limits & cases[i].expect, "case %zu: %#x", i,
		    m.limits);
		CHECKF(secs < 0.5, "case %zu: %.3f s", i, secs);
		CHECK(find(&m, cases[i].name) != NULL &&
		    (find(&m, cases[i].name)->limits & cases[i].expect));
		CHECK(find(&m, "zeros.bin") != NULL &&
		    find(&m, "zeros.bin")->size <= lim.max_expanded);
		scan_msg_free(&m);
		free(raw);
		free(w.buf);
	}
}

/* An encrypted zip: ENCRYPTED on the member, the archive, the message. */
static void
t_encrypted_zip(void)
{
	static const char *enc[] = {
		"zip:encryption=zipcrypt", "zip:encryption=aes256",
	};
	struct scan_msg		 m;
	struct scan_part	*p;
	struct warc		 w;
	char			*raw;
	size_t			 len, i;

	for (i = 0; i < nitems(enc); i++) {
		warc_open(&w, "zip", NULL, enc[i], 1 << 16);
		warc_add(&w, "secret.exe", elf, sizeof(elf));
		warc_close(&w);
		raw = with_attachment("locked.zip", "application/zip", w.buf,
		    w.used, &len);
		analyse(raw, len, NULL, &m);
		CHECKF(m.limits & SCAN_LIMIT_ENCRYPTED, "%s", enc[i]);
		CHECKF((p = find(&m, "secret.exe")) != NULL &&
		    (p->limits & SCAN_LIMIT_ENCRYPTED) && p->text == NULL,
		    "%s", enc[i]);
		CHECKF((p = find(&m, "locked.zip")) != NULL &&
		    (p->limits & SCAN_LIMIT_ENCRYPTED), "%s", enc[i]);
		scan_msg_free(&m);
		free(raw);
		free(w.buf);
	}
}

/* max_text bounds the text kept, on a UTF-8 character boundary. */
static void
t_max_text(void)
{
	struct scan_msg		 m;
	struct scan_limits	 lim;
	size_t			 len;
	char			*raw = slurp("jp-sjis.eml", &len);

	mime_limits_default(&lim);
	lim.max_text = 10;
	analyse(raw, len, &lim, &m);
	CHECK(m.nparts == 1 && m.parts[0].textlen <= 10 &&
	    m.parts[0].text != NULL &&
	    strlen(m.parts[0].text) == m.parts[0].textlen &&
	    g_utf8_validate(m.parts[0].text, -1, NULL) &&
	    strncmp(m.parts[0].text, J_BODY, m.parts[0].textlen) == 0);
	scan_msg_free(&m);
	lim.max_text = 0;
	analyse(raw, len, &lim, &m);
	CHECK(m.nparts == 1 && m.parts[0].text == NULL);
	scan_msg_free(&m);
	free(raw);
}

/* unix_lines: CRLF to LF in place, as mime.c converts text; new length. */
static size_t
unix_lines(char *s, size_t len)
{
	size_t	 i, o;

	for (i = o = 0; i < len; i++)
		if (s[i] != '\r' || i + 1 >= len || s[i + 1] != '\n')
			s[o++] = s[i];
	s[o] = '\0';
	return o;
}

/* html_msg: a message whose body is one text/html part (UTF-8, 8bit). */
static char *
html_msg(const char *html, size_t *outlen)
{
	char	*msg;

	msg = xasprintf("From: a@example.com\r\nTo: b@example.com\r\n"
	    "Subject: html\r\nMIME-Version: 1.0\r\n"
	    "Content-Type: text/html; charset=UTF-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n%s", html);
	*outlen = strlen(msg);
	return msg;
}

/* HTML parts: source, "\n", visible text; references decoded, tags gone. */
static void
t_html_visible(void)
{
	static const struct {
		const char	*html;
		const char	*visible;
	} cases[] = {
		{ "<html><body><p>&#x81F3;&#x6025;&#36865;&#37329;</p></body>"
		  "</html>\r\n", "至急送金" },
		{ "<p>please <b>wire</b> <i>transfer</i> now</p>",
		  "please wire transfer now" },
		{ "<p>wire&nbsp;transfer</p>", "wire transfer" },
		{ "<p>wire<br>\r\ntransfer</p>", "wire\ntransfer" },
		{ "<style>p{}</style><!-- x --><script>y</script>z", "z" },
	};
	struct scan_msg	 m;
	size_t		 i, len, hlen;
	char		*raw, *want;

	for (i = 0; i < nitems(cases); i++) {
		raw = html_msg(cases[i].html, &len);
		analyse(raw, len, NULL, &m);
		/* The source as converted: CRLF is LF, the last one kept. */
		hlen = strlen(cases[i].html);
		want = xasprintf("%.*s\n%s", (int)hlen, cases[i].html,
		    cases[i].visible);
		(void)unix_lines(want, strlen(want));
		CHECKF(m.nparts == 1 && m.parts[0].html &&
		    m.parts[0].text != NULL &&
		    m.parts[0].textlen == strlen(m.parts[0].text) &&
		    strcmp(m.parts[0].text, want) == 0, "case %zu: \"%s\"", i,
		    m.nparts == 1 && m.parts[0].text ? m.parts[0].text : "-");
		free(want);
		scan_msg_free(&m);
		free(raw);
	}

	/* Markup only: no visible text, nothing appended. */
	raw = html_msg("<p><br></p>", &len);
	analyse(raw, len, NULL, &m);
	CHECK(m.nparts == 1 && m.parts[0].text != NULL &&
	    strcmp(m.parts[0].text, "<p><br></p>") == 0);
	scan_msg_free(&m);
	free(raw);

	/* text/plain is left alone. */
	raw = xasprintf("From: a@example.com\r\nSubject: plain\r\n\r\n"
	    "<b>wire</b>&amp;");
	analyse(raw, strlen(raw), NULL, &m);
	CHECK(m.nparts == 1 && m.parts[0].text != NULL &&
	    strcmp(m.parts[0].text, "<b>wire</b>&amp;") == 0);
	scan_msg_free(&m);
	free(raw);
}

/*
 * max_text is shared: when source and visible text do not fit, each keeps
 * at least half of max_text - 1 (visible text the larger half), a part
 * needing less leaves the rest to the other; cuts on characters.
 */
static void
t_html_budget(void)
{
	static const struct {
		size_t		 max;
		const char	*html;
		const char	*want;
	} cases[] = {
		/* fits: source 14, "\n", visible 7 */
		{ 22, "<b>abcd</b>xyz", "<b>abcd</b>xyz\nabcdxyz" },
		{ 100, "<i>a</i>", "<i>a</i>\na" },
		/* visible needs less than half: the source gets the rest */
		{ 20, "<b>abcd</b>xyz", "<b>abcd</b>x\nabcdxyz" },
		{ 12, "<b>ab</b><i></i>", "<b>ab</b>\nab" },
		/* both need more: 6 + "\n" + 6 */
		{ 13, "<b>abcd</b>xyz", "<b>abc\nabcdxy" },
		/* on characters: visible "至急送金" (12 bytes) */
		{ 14, "<p>至急送金</p>", "<p>至\n至急" },
		{ 2, "x<b>y</b>", "\nx" },
		{ 1, "<b>x</b>", "<" },
	};
	struct scan_limits	 lim;
	struct scan_msg		 m;
	size_t			 i, len;
	char			*raw;

	mime_limits_default(&lim);
	for (i = 0; i < nitems(cases); i++) {
		lim.max_text = cases[i].max;
		raw = html_msg(cases[i].html, &len);
		analyse(raw, len, &lim, &m);
		CHECKF(m.nparts == 1 && m.parts[0].text != NULL &&
		    m.parts[0].textlen <= cases[i].max &&
		    m.parts[0].textlen == strlen(m.parts[0].text) &&
		    g_utf8_validate(m.parts[0].text, -1, NULL) &&
		    strcmp(m.parts[0].text, cases[i].want) == 0,
		    "max %zu: \"%s\"", cases[i].max,
		    m.nparts == 1 && m.parts[0].text ? m.parts[0].text : "-");
		scan_msg_free(&m);
		free(raw);
	}
}

/* Called wrongly: -1 with a reason, out still safe to free. */
static void
t_bad_calls(void)
{
	struct scan_msg	 m;
	char		 err[128] = "";

	CHECK(mime_analyse(NULL, 10, NULL, &m, err, sizeof(err)) == -1);
	CHECK(err[0] != '\0');
	scan_msg_free(&m);
	scan_msg_free(NULL);
}

/* init: mime_init once for the whole program. */
static void
t_init(void)
{
	char	 err[256];

	CHECK(mime_init(err, sizeof(err)) == 0);
}

/* fini: mime_shutdown, so leak checkers see GMime's state released. */
static void
t_fini(void)
{
	mime_shutdown();
}

TEST_MAIN(t_init, t_japanese, t_raw_8bit_header, t_seed14_subjects,
    t_seed42_header_rcpts, t_rfc2231_filename, t_alt_names, t_unplaced_multipart, t_exe_as_txt,
    t_html_latin1_uuencode, t_rfc822, t_malformed, t_seed15_archives,
    t_gzip_single, t_nested_and_depth, t_count_limit, t_seed15_bombs,
    t_encrypted_zip, t_max_text, t_html_visible, t_html_budget, t_bad_calls,
    t_fini)
