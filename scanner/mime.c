/*
 * mime.c: analyse one raw message into a struct scan_msg.
 *
 * GMime 3 does all MIME parsing: header fields and RFC 2047 words, RFC 2231
 * parameters (filename*0*= continuations and charsets), multiparts,
 * message/rfc822 and the transfer encodings.  Each leaf is decoded in
 * memory; libmagic names its true type; text parts are converted from
 * their charset to UTF-8 with iconv (through GMime's charset name table),
 * guessing when the declared charset is missing or wrong (text/html parts
 * get their visible text appended, htmltext.c); attachments that
 * libarchive can read are opened in memory (never on disk, member names are
 * only ever reported) and their members become parts in turn.
 *
 * Limits never make the analysis fail: whatever was hit is recorded as
 * SCAN_LIMIT_* on the part, on every part containing it and on the
 * message.  The only unbounded amplification in a message is archive
 * decompression, so max_expanded and max_ratio count bytes coming out of
 * libarchive (transfer decoding only ever shrinks the raw message).
 *
 * This file owns the libmagic cookie and GMime's global state (mime_init);
 * the struct scan_msg it fills belongs to the caller (scan_msg_free).
 */
#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <archive.h>
#include <archive_entry.h>
#include <gmime/gmime.h>
#include <magic.h>

#include "htmltext.h"
#include "log.h"
#include "mime.h"
#include "util.h"
#include "xmalloc.h"

/* Multipart levels walked; GMime stops far deeper, our recursion here. */
#define MIME_MAX_NEST		32
/* Address group nesting followed when counting To/Cc mailboxes. */
#define MIME_MAX_GROUP		4
/* Expanded bytes an archive may produce before its ratio is judged. */
#define MIME_RATIO_GRACE	(1024 * 1024)
/*
 * Bytes libmagic looks at: every format it knows shows itself in the
 * head; more only feeds its text and regex tests (a third of the cost
 * of a 100 KB message at 1 MiB).
 */
#define MIME_MAGIC_BYTES	(64 * 1024)
/* A multi-byte charset with at most one bad byte in this many 8-bit ones
 * is the text's charset (mime_text). */
#define MIME_BAD_RATIO		20

/* Decompression filters we allow, only when built into libarchive. */
static const struct {
	const char	*name;
	int		(*fn)(struct archive *);
} mime_filters[] = {
	{ "gzip",	archive_read_support_filter_gzip },
	{ "bzip2",	archive_read_support_filter_bzip2 },
	{ "xz",		archive_read_support_filter_xz },
	{ "lzma",	archive_read_support_filter_lzma },
	{ "lzip",	archive_read_support_filter_lzip },
	{ "zstd",	archive_read_support_filter_zstd },
	{ "lz4",	archive_read_support_filter_lz4 },
	{ "compress",	archive_read_support_filter_compress },
};

/*
 * Archive formats read.  Not "all": mtree may open the files its entries
 * name, and raw accepts anything (it is used only for lone compressed
 * files, see mime_archive_open).
 */
static int (*const mime_formats[])(struct archive *) = {
	archive_read_support_format_7zip,
	archive_read_support_format_ar,
	archive_read_support_format_cab,
	archive_read_support_format_cpio,
	archive_read_support_format_iso9660,
	archive_read_support_format_lha,
	archive_read_support_format_rar,
	archive_read_support_format_rar5,
	archive_read_support_format_tar,
	archive_read_support_format_xar,
	archive_read_support_format_zip,
};

/* Charsets tried, in order, when the declared one is missing or wrong. */
static const char *const mime_guess[] = {
	"UTF-8", "EUC-JP", "CP932", "WINDOWS-1252", "ISO-8859-1",
};

/* For 8-bit header text GMime picks the charset that converts best. */
static const char *mime_hdr_fallback[] = {
	"UTF-8", "EUC-JP", "CP932", "ISO-8859-1", NULL,
};

static magic_t		 mime_cookie;
static unsigned		 mime_filter_ok;	/* bit i: mime_filters[i] */
static bool		 mime_ready;

/* One analysis in progress. */
struct mime_state {
	const struct scan_limits *lim;
	struct scan_msg	*msg;
	size_t		 cap;		/* parts allocated */
	size_t		 nseen;		/* parts + archive entries */
	uint64_t	 expanded;	/* bytes out of libarchive */
	bool		 full;		/* max_parts reached */
	bool		 spent;		/* max_expanded reached */
	mime_leaf_fn	 leaf;		/* told of each decoded leaf, or NULL */
	void		*leaf_arg;
};

/* One archive being read. */
struct mime_arc {
	uint64_t	 len;		/* compressed (input) size */
	uint64_t	 data;		/* member bytes read */
	uint64_t	 counted;	/* added to mime_state.expanded */
	bool		 stop;		/* a limit ended this archive */
};

/* One candidate conversion to UTF-8. */
struct mime_conv {
	char		*s;
	size_t		 len;
	size_t		 nerr;
};

static void	 mime_walk(struct mime_state *, GMimeObject *, int, int, int);
static void	 mime_archive(struct mime_state *, int, const uint8_t *, size_t,
		    int);

/* mime_init: GMime's global state and the libmagic database, once. */
int
mime_init(char *err, size_t errlen)
{
	struct archive	*a;
	size_t		 i, bytes = MIME_MAGIC_BYTES;

	if (mime_ready)
		return 0;
	if ((mime_cookie = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR)) == NULL) {
		str_printf(err, errlen, "magic_open: %s", strerror(errno));
		return -1;
	}
	if (magic_load(mime_cookie, NULL) == -1) {
		str_printf(err, errlen, "magic_load: %s",
		    magic_error(mime_cookie));
		magic_close(mime_cookie);
		mime_cookie = NULL;
		return -1;
	}
	(void)magic_setparam(mime_cookie, MAGIC_PARAM_BYTES_MAX, &bytes);
	/* ARCHIVE_WARN means an external program would run: never. */
	mime_filter_ok = 0;
	for (i = 0; i < nitems(mime_filters); i++) {
		if ((a = archive_read_new()) == NULL)
			fatalx("mime_init: archive_read_new");
		if (mime_filters[i].fn(a) == ARCHIVE_OK)
			mime_filter_ok |= 1U << i;
		else
			log_debug("mime_init: libarchive filter %s is not "
			    "built in", mime_filters[i].name);
		archive_read_free(a);
	}
	g_mime_init();
	mime_ready = true;
	return 0;
}

/* mime_shutdown: release what mime_init loaded. */
void
mime_shutdown(void)
{
	if (!mime_ready)
		return;
	g_mime_shutdown();
	magic_close(mime_cookie);
	mime_cookie = NULL;
	mime_ready = false;
}

/* mime_limits_default: the built-in limits. */
void
mime_limits_default(struct scan_limits *l)
{
	l->max_depth = MIME_DEF_DEPTH;
	l->max_parts = MIME_DEF_PARTS;
	l->max_expanded = MIME_DEF_EXPANDED;
	l->max_ratio = MIME_DEF_RATIO;
	l->max_text = MIME_DEF_TEXT;
}

/* mime_utf8: a malloc'd valid UTF-8 copy of s (bad bytes become U+FFFD). */
static char *
mime_utf8(const char *s)
{
	char	*v, *r;

	if (s == NULL)
		return NULL;
	if (g_utf8_validate(s, -1, NULL))
		return xstrdup(s);
	v = g_utf8_make_valid(s, -1);
	r = xstrdup(v);
	g_free(v);
	return r;
}

/* mime_utf8_take: mime_utf8 of a GLib string, which is freed. */
static char *
mime_utf8_take(char *s)
{
	char	*r = mime_utf8(s);

	g_free(s);
	return r;
}

/* mime_rtrim: drop trailing CR, LF, space and tab in place. */
static void
mime_rtrim(char *s)
{
	size_t	 n = strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
	    s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
}

/* mime_lower: ASCII lower case in place. */
static char *
mime_lower(char *s)
{
	char	*p;

	for (p = s; p != NULL && *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = *p - 'A' + 'a';
	return s;
}

/* mime_flag: record limits on a part, every part containing it, the message. */
static void
mime_flag(struct mime_state *st, int idx, unsigned bits)
{
	int	 hops = 0;

	st->msg->limits |= bits;
	while (idx >= 0 && (size_t)idx < st->msg->nparts &&
	    hops++ <= (int)st->msg->nparts) {
		st->msg->parts[idx].limits |= bits;
		idx = st->msg->parts[idx].parent;
	}
}

/* mime_warning: GMime's parser found something wrong with the message. */
static void
mime_warning(gint64 offset, GMimeParserWarning code, const gchar *item,
    gpointer arg)
{
	struct mime_state	*st = arg;

	/* Raw 8-bit headers are common and decoded by the fallback charsets. */
	if (code == GMIME_WARN_UNENCODED_8BIT_HEADER)
		return;
	st->msg->limits |= SCAN_LIMIT_MALFORMED;
}

/* mime_count: one more part or archive entry; false at max_parts. */
static bool
mime_count(struct mime_state *st, int parent)
{
	if (st->full)
		return false;
	if (st->nseen >= st->lim->max_parts) {
		st->full = true;
		mime_flag(st, parent, SCAN_LIMIT_COUNT);
		return false;
	}
	st->nseen++;
	return true;
}

/* mime_part_new: append a zeroed part; its index, or -1 at max_parts. */
static int
mime_part_new(struct mime_state *st, int parent, int depth)
{
	struct scan_msg		*m = st->msg;
	struct scan_part	*p;

	if (!mime_count(st, parent))
		return -1;
	if (m->nparts == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 8;
		m->parts = xreallocarray(m->parts, st->cap, sizeof(*m->parts));
	}
	p = &m->parts[m->nparts];
	memset(p, 0, sizeof(*p));
	p->parent = parent;
	p->depth = depth;
	return (int)m->nparts++;
}

/*
 * mime_iconv: in (charset cs) as UTF-8, at most max bytes; false when iconv
 * does not know cs.  Bad input bytes become U+FFFD and are counted.
 */
static bool
mime_iconv(const char *cs, const uint8_t *in, size_t inlen, size_t max,
    struct mime_conv *c)
{
	iconv_t	 cd;
	char	*ip = (char *)(uintptr_t)in, *op;
	size_t	 ileft = inlen, oleft, cap;

	if ((cd = g_mime_iconv_open("UTF-8", cs)) == (iconv_t)-1)
		return false;
	/* Three output bytes per input byte cover every case (U+FFFD). */
	cap = inlen < (SIZE_MAX - 8) / 3 ? inlen * 3 + 4 : SIZE_MAX - 1;
	if (cap > max)
		cap = max;
	c->s = op = xmalloc(cap + 1);
	oleft = cap;
	c->nerr = 0;
	while (ileft > 0) {
		if (iconv(cd, &ip, &ileft, &op, &oleft) != (size_t)-1)
			break;
		if (errno == E2BIG)
			break;
		c->nerr++;
		if (errno == EINVAL || oleft < 3)
			break;
		memcpy(op, "\xef\xbf\xbd", 3);
		op += 3;
		oleft -= 3;
		ip++;
		ileft--;
	}
	g_mime_iconv_close(cd);
	*op = '\0';
	c->len = (size_t)(op - c->s);
	return true;
}

/* mime_valid: whether s[0..len) is valid UTF-8, NULs allowed. */
static bool
mime_valid(const char *s, size_t len)
{
	const gchar	*end, *e = s + len;

	while (s < e) {
		if (g_utf8_validate(s, e - s, &end))
			return true;
		if (end == e || *end != '\0')
			return false;
		s = end + 1;
	}
	return true;
}

/*
 * mime_repair: make c->s valid UTF-8 within max bytes, NULs kept.  iconv
 * is not enough: glibc passes UTF-8 (and UCS-4) code points past U+10FFFF.
 */
static void
mime_repair(struct mime_conv *c, size_t max)
{
	const gchar	*p = c->s, *e = c->s + c->len, *end;
	struct buf	 b;
	size_t		 n;

	if (mime_valid(c->s, c->len))
		return;
	buf_init(&b, max);
	while (p < e) {
		(void)g_utf8_validate(p, e - p, &end);
		n = (size_t)(end - p);
		if (!buf_add(&b, p, n)) {
			/* Cut the valid run on a character boundary. */
			n = max - b.len;
			while (n > 0 && ((unsigned char)p[n] & 0xc0) == 0x80)
				n--;
			(void)buf_add(&b, p, n);
			break;
		}
		if ((p = end) == e)
			break;
		if (*p != '\0')
			c->nerr++;
		if (!buf_add(&b, *p == '\0' ? "" : "\xef\xbf\xbd",
		    *p == '\0' ? 1 : 3))
			break;
		p++;
	}
	free(c->s);
	c->len = b.len;
	if (b.data == NULL)
		c->s = xstrdup("");
	else {
		b.data[b.len] = '\0';	/* buf keeps a spare byte */
		c->s = (char *)b.data;
	}
}

/*
 * mime_cs_family: the iconv names to try for a declared charset, in order:
 * the usual superset first where the declared name is often a lie (mail
 * labelled Shift_JIS is written in CP932), "" meaning the name as declared.
 */
static size_t
mime_cs_family(const char *cs, const char **out, size_t nout)
{
	static const struct {
		const char	*names[9];
		const char	*try[3];
	} fam[] = {
	    { { "shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji",
		"windows-31j", "cp932", "csshiftjis" },
	      { "CP932", "SHIFT_JIS" } },
	    { { "euc-jp", "x-euc-jp", "eucjp", "euc_jp",
		"cseucpkdfmtjapanese" },
	      { "EUC-JP", "EUC-JP-MS" } },
	    { { "iso-2022-jp", "csiso2022jp", "iso-2022-jp-1", "iso-2022-jp-2",
		"iso-2022-jp-3" },
	      { "ISO-2022-JP", "ISO-2022-JP-3", "ISO-2022-JP-2" } },
	    { { "iso-8859-1", "latin1", "l1", "iso_8859-1", "cp819",
		"iso8859-1" },
	      { "", "WINDOWS-1252" } },
	};
	size_t	 f, i, j, n = 0;

	for (f = 0; f < nitems(fam); f++)
		for (i = 0; i < nitems(fam[f].names); i++) {
			if (fam[f].names[i] == NULL ||
			    strcasecmp(cs, fam[f].names[i]) != 0)
				continue;
			for (j = 0; j < nitems(fam[f].try) && n < nout; j++)
				if (fam[f].try[j] != NULL)
					out[n++] = *fam[f].try[j] != '\0' ?
					    fam[f].try[j] : cs;
			return n;
		}
	if (nout > 0)
		out[n++] = cs;
	return n;
}

/* mime_single_byte: a charset where any byte sequence converts. */
static bool
mime_single_byte(const char *cs)
{
	static const char *const pre[] = {
		"iso-8859", "iso8859", "iso_8859", "windows-125", "cp125",
		"us-ascii", "ascii", "latin", "ansi_x3.4",
	};
	size_t	 i;

	for (i = 0; i < nitems(pre); i++)
		if (strncasecmp(cs, pre[i], strlen(pre[i])) == 0)
			return true;
	return false;
}

/* mime_unix: CRLF to LF in place, so text is the same whatever the encoding. */
static size_t
mime_unix(char *s, size_t len)
{
	size_t	 i, o;

	for (i = o = 0; i < len; i++)
		if (s[i] != '\r' || i + 1 >= len || s[i + 1] != '\n')
			s[o++] = s[i];
	s[o] = '\0';
	return o;
}

/*
 * mime_text: text in (declared charset cs or NULL) as UTF-8, at most max
 * bytes.  Candidates in order: ISO-2022-JP when the bytes are 7-bit with
 * its escapes; UTF-8 when cs is single-byte but the bytes are valid UTF-8;
 * the declared charset (and its usual superset); then UTF-8, EUC-JP, CP932,
 * Windows-1252, Latin-1.  The first clean conversion wins, else the one
 * with the fewest bad bytes.  A multi-byte candidate that reads all but a
 * few of the 8-bit bytes (at most one in MIME_BAD_RATIO) also wins: a
 * single-byte charset converts any bytes "cleanly", and one stray byte
 * must not turn a Japanese text into mojibake that no keyword matches.
 * Line ends become LF.  Never fails.
 */
static char *
mime_text(const uint8_t *in, size_t inlen, const char *cs, size_t max,
    size_t *outlen)
{
	const char		*cand[16];
	struct mime_conv	 best = { NULL, 0, SIZE_MAX }, c;
	size_t			 n = 0, i, nhi = 0;
	bool			 hi = mem_8bit(in, inlen), good;

	if (!hi && (memmem(in, inlen, "\x1b$", 2) != NULL ||
	    memmem(in, inlen, "\x1b(", 2) != NULL)) {
		cand[n++] = "ISO-2022-JP";
		cand[n++] = "ISO-2022-JP-3";
		cand[n++] = "ISO-2022-JP-2";
	}
	if (cs != NULL && *cs != '\0') {
		if (hi && mime_single_byte(cs) &&
		    g_utf8_validate((const char *)in, (gssize)inlen, NULL))
			cand[n++] = "UTF-8";
		n += mime_cs_family(cs, cand + n, 3);
	}
	for (i = 0; i < nitems(mime_guess); i++)
		cand[n++] = mime_guess[i];

	for (i = 0; i < inlen; i++)
		if (in[i] >= 0x80 || in[i] == 0x1b)
			nhi++;
	for (i = 0; i < n; i++) {
		if (!mime_iconv(cand[i], in, inlen, max, &c))
			continue;
		mime_repair(&c, max);
		good = c.nerr == 0 || (!mime_single_byte(cand[i]) &&
		    c.nerr <= nhi / MIME_BAD_RATIO);
		if (good || c.nerr < best.nerr) {
			free(best.s);
			best = c;
		} else
			free(c.s);
		if (good)
			break;
	}
	if (best.s == NULL) {
		/* Not even Latin-1 opened: keep the valid UTF-8 there is. */
		best.len = inlen < max ? inlen : max;
		best.s = xmalloc(best.len + 1);
		memcpy(best.s, in, best.len);
		best.s[best.len] = '\0';
		mime_repair(&best, max);
	}
	*outlen = mime_unix(best.s, best.len);
	return best.s;
}

/* mime_u8cut: n, or less so that s[0..n) ends on a character boundary. */
static size_t
mime_u8cut(const char *s, size_t len, size_t n)
{
	if (n >= len)
		return len;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/*
 * mime_html: an HTML part's text becomes its source, "\n", and its visible
 * text (htmltext_extract), so rules match what a reader sees as well as
 * the markup.  The visible text is that of the source as converted (at
 * most max bytes of it).  Together they stay within max: when both do not
 * fit, each gets at least half of max - 1 (the visible text the larger
 * half) and one that needs less leaves the rest to the other; each loses
 * its tail, cut on a character boundary.
 */
static void
mime_html(struct scan_part *p, size_t max)
{
	struct buf	 vis;
	size_t		 avail, vkeep, rkeep;
	char		*s;

	if (max < 2 || p->text == NULL || p->textlen == 0)
		return;
	avail = max - 1;
	buf_init(&vis, avail);
	(void)htmltext_extract(p->text, p->textlen, avail, &vis);
	if (vis.len == 0) {
		buf_free(&vis);
		return;
	}
	vkeep = avail - avail / 2;
	if (p->textlen < avail - vkeep)
		vkeep = avail - p->textlen;
	vkeep = mime_u8cut((const char *)vis.data, vis.len, vkeep);
	rkeep = mime_u8cut(p->text, p->textlen, avail - vkeep);
	s = xmalloc(rkeep + 1 + vkeep + 1);
	memcpy(s, p->text, rkeep);
	s[rkeep] = '\n';
	memcpy(s + rkeep + 1, vis.data, vkeep);
	s[rkeep + 1 + vkeep] = '\0';
	buf_free(&vis);
	free(p->text);
	p->text = s;
	p->textlen = rkeep + 1 + vkeep;
}

/* mime_texty: whether a MIME type names text worth extracting. */
static bool
mime_texty(const char *t)
{
	return t != NULL && (strncmp(t, "text/", 5) == 0 ||
	    strcmp(t, "application/json") == 0 ||
	    strcmp(t, "application/xml") == 0);
}

/* mime_compressed: a lone compressed stream (libarchive's raw format). */
static bool
mime_compressed(const char *t)
{
	static const char *const types[] = {
		"application/gzip", "application/x-gzip", "application/x-bzip2",
		"application/x-xz", "application/x-lzma", "application/x-lzip",
		"application/zstd", "application/x-zstd", "application/x-lz4",
		"application/x-compress",
	};
	size_t	 i;

	for (i = 0; t != NULL && i < nitems(types); i++)
		if (strcmp(t, types[i]) == 0)
			return true;
	return false;
}

/* mime_archive_type: a type libarchive should open (else: malformed). */
static bool
mime_archive_type(const char *t)
{
	static const char *const types[] = {
		"application/zip", "application/x-tar",
		"application/x-7z-compressed", "application/x-rar", "application/vnd.rar", "application/x-cpio",
		"application/vnd.ms-cab-compressed", "application/x-lha",
		"application/x-lzh-compressed", "application/x-iso9660-image",
		"application/x-xar", "application/x-archive",
	};
	size_t	 i;

	if (mime_compressed(t))
		return true;
	for (i = 0; t != NULL && i < nitems(types); i++)
		if (strcmp(t, types[i]) == 0)
			return true;
	return false;
}

/* mime_magic: the libmagic MIME type of data, or NULL. */
static char *
mime_magic(const uint8_t *data, size_t len)
{
	const char	*t;

	if (mime_cookie == NULL)
		return NULL;
	if (len > MIME_MAGIC_BYTES)
		len = MIME_MAGIC_BYTES;
	if ((t = magic_buffer(mime_cookie, len ? data : (const void *)"",
	    len)) == NULL)
		return NULL;
	return mime_utf8(t);
}

/*
 * mime_examine: true type, text and archive contents of one part's decoded
 * bytes.  want_text: convert even when the type does not look like text.
 */
static void
mime_examine(struct mime_state *st, int idx, const uint8_t *data, size_t len,
    bool want_text)
{
	struct scan_part	*p = &st->msg->parts[idx];
	bool			 texty;
	int			 depth = p->depth;

	if (data == NULL)
		data = (const uint8_t *)"";
	p->size = len;
	/*
	 * A body text part (declared text/plain or text/html, no name)
	 * without NUL bytes is what it says: libmagic, most of the cost of
	 * a small message, is kept for attachments and for body parts that
	 * hold binary data.
	 */
	if (p->body_text && p->content_type != NULL &&
	    memchr(data, '\0', len) == NULL)
		p->true_type = xstrdup(p->content_type);
	else
		p->true_type = mime_magic(data, len);
	texty = p->true_type != NULL ? mime_texty(p->true_type) :
	    mime_texty(p->content_type);
	if ((want_text || texty) && st->lim->max_text > 0) {
		p->text = mime_text(data, len, p->charset, st->lim->max_text,
		    &p->textlen);
		if (p->html)
			mime_html(p, st->lim->max_text);
	}
	/* p is not valid past this point: mime_archive adds parts. */
	if (!texty && len > 0)
		mime_archive(st, idx, data, len, depth);
}

/* mime_archive_open: a libarchive reader over data, or NULL. */
static struct archive *
mime_archive_open(const uint8_t *data, size_t len, bool raw)
{
	struct archive	*a;
	size_t		 i;

	if ((a = archive_read_new()) == NULL)
		fatalx("mime_archive_open: archive_read_new");
	for (i = 0; i < nitems(mime_filters); i++)
		if (mime_filter_ok & (1U << i))
			(void)mime_filters[i].fn(a);
	if (raw)
		(void)archive_read_support_format_raw(a);
	else
		for (i = 0; i < nitems(mime_formats); i++)
			(void)mime_formats[i](a);
	/* Raw without a decompression filter would be the input again. */
	if (archive_read_open_memory(a, data, len) != ARCHIVE_OK ||
	    (raw && archive_filter_code(a, 0) == ARCHIVE_FILTER_NONE)) {
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* mime_arc_account: n more member bytes; false once a limit ends it. */
static bool
mime_arc_account(struct mime_state *st, struct archive *a,
    struct mime_arc *arc, size_t n, int m)
{
	const struct scan_limits	*lim = st->lim;
	la_int64_t			 fb;
	uint64_t			 cur;

	arc->data += n;
	/* Bytes a filter (gzip under tar) produced, skipped ones included. */
	fb = archive_filter_bytes(a, 0);
	cur = fb > 0 && (uint64_t)fb > arc->data ? (uint64_t)fb : arc->data;
	if (cur > arc->counted) {
		st->expanded += cur - arc->counted;
		arc->counted = cur;
	}
	if (st->expanded > lim->max_expanded) {
		mime_flag(st, m, SCAN_LIMIT_SIZE);
		st->spent = true;
		arc->stop = true;
		return false;
	}
	if (lim->max_ratio > 0 && cur > MIME_RATIO_GRACE &&
	    cur / (arc->len ? arc->len : 1) >= lim->max_ratio) {
		mime_flag(st, m, SCAN_LIMIT_RATIO);
		arc->stop = true;
		return false;
	}
	return true;
}

/* mime_encrypted: whether a failure of a is for want of a passphrase. */
static bool
mime_encrypted(struct archive *a, struct archive_entry *e)
{
	return archive_read_has_encrypted_entries(a) > 0 ||
	    (e != NULL && archive_entry_is_encrypted(e));
}

/* mime_member_data: read the current entry's data into b, counting it. */
static void
mime_member_data(struct mime_state *st, struct archive *a,
    struct archive_entry *e, struct mime_arc *arc, int m, int arcidx,
    struct buf *b)
{
	const void	*blk;
	size_t		 sz;
	la_int64_t	 off;
	int		 r;

	while ((r = archive_read_data_block(a, &blk, &sz, &off)) ==
	    ARCHIVE_OK) {
		if (!mime_arc_account(st, a, arc, sz, m >= 0 ? m : arcidx))
			return;
		if (m >= 0 && !buf_add(b, blk, sz)) {
			mime_flag(st, m, SCAN_LIMIT_SIZE);
			arc->stop = true;
			return;
		}
	}
	if (r == ARCHIVE_EOF)
		return;
	mime_flag(st, m >= 0 ? m : arcidx, mime_encrypted(a, e) ?
	    SCAN_LIMIT_ENCRYPTED : SCAN_LIMIT_MALFORMED);
	if (r == ARCHIVE_FATAL)
		arc->stop = true;
}

/* mime_member: the archive's current entry as a part (directories: counted). */
static void
mime_member(struct mime_state *st, struct archive *a, struct archive_entry *e,
    int arcidx, int depth, struct mime_arc *arc)
{
	struct scan_part	*p;
	struct buf		 b;
	const char		*name;
	int			 m = -1;

	if (archive_entry_filetype(e) == AE_IFDIR) {
		if (!mime_count(st, arcidx))
			arc->stop = true;
		else
			mime_member_data(st, a, e, arc, -1, arcidx, NULL);
		return;
	}
	if ((m = mime_part_new(st, arcidx, depth)) == -1) {
		arc->stop = true;
		return;
	}
	p = &st->msg->parts[m];
	p->in_archive = true;
	p->attachment = true;
	if ((name = archive_entry_pathname_utf8(e)) == NULL)
		name = archive_entry_pathname(e);
	p->filename = mime_utf8(name);
	if (archive_entry_is_encrypted(e)) {
		if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0)
			p->size = (uint64_t)archive_entry_size(e);
		mime_flag(st, m, SCAN_LIMIT_ENCRYPTED);
		return;
	}
	buf_init(&b, st->lim->max_expanded < SIZE_MAX ?
	    (size_t)st->lim->max_expanded : SIZE_MAX);
	mime_member_data(st, a, e, arc, m, arcidx, &b);
	mime_examine(st, m, b.data, b.len, false);
	buf_free(&b);
}

/* mime_archive: the members of part idx (depth) when libarchive reads it. */
static void
mime_archive(struct mime_state *st, int idx, const uint8_t *data, size_t len,
    int depth)
{
	struct archive		*a;
	struct archive_entry	*e;
	struct mime_arc		 arc;
	const char		*tt;
	int			 r;

	if (st->spent || st->full)
		return;
	tt = st->msg->parts[idx].true_type;
	if ((a = mime_archive_open(data, len, false)) == NULL &&
	    (!mime_compressed(tt) ||
	    (a = mime_archive_open(data, len, true)) == NULL)) {
		/* libmagic says archive, libarchive cannot: corrupt. */
		if (mime_archive_type(tt))
			mime_flag(st, idx, SCAN_LIMIT_MALFORMED);
		return;
	}
	if (depth + 1 > st->lim->max_depth) {
		mime_flag(st, idx, SCAN_LIMIT_DEPTH);
		archive_read_free(a);
		return;
	}
	memset(&arc, 0, sizeof(arc));
	arc.len = len;
	while (!arc.stop && !st->spent && !st->full) {
		r = archive_read_next_header(a, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			mime_flag(st, idx, mime_encrypted(a, NULL) ?
			    SCAN_LIMIT_ENCRYPTED : SCAN_LIMIT_MALFORMED);
			break;
		}
		mime_member(st, a, e, idx, depth + 1, &arc);
	}
	archive_read_free(a);
}

/* mime_b64_bad: whether a base64 body holds bytes outside the alphabet. */
static bool
mime_b64_bad(GMimeStream *s)
{
	char		 buf[4096];
	ssize_t		 n, i;
	uint64_t	 nb = 0;
	bool		 bad = false;
	unsigned char	 c;

	if (g_mime_stream_reset(s) == -1)
		return false;
	while (!bad && (n = g_mime_stream_read(s, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			c = (unsigned char)buf[i];
			if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '+' || c == '/' ||
			    c == '=')
				nb++;
			else if (c != ' ' && c != '\t' && c != '\r' &&
			    c != '\n') {
				bad = true;
				break;
			}
		}
	}
	(void)g_mime_stream_reset(s);
	return bad || nb % 4 != 0;
}

/* mime_decode: the part's content, transfer encoding undone. */
static GByteArray *
mime_decode(struct mime_state *st, int idx, GMimePart *part)
{
	GMimeDataWrapper	*dw;
	GMimeStream		*ms, *enc;
	GByteArray		*ba;

	ba = g_byte_array_new();
	if ((dw = g_mime_part_get_content(part)) == NULL)
		return ba;
	enc = g_mime_data_wrapper_get_stream(dw);
	if (g_mime_data_wrapper_get_encoding(dw) ==
	    GMIME_CONTENT_ENCODING_BASE64 && enc != NULL && mime_b64_bad(enc))
		mime_flag(st, idx, SCAN_LIMIT_MALFORMED);
	ms = g_mime_stream_mem_new_with_byte_array(ba);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(ms), FALSE);
	if (g_mime_data_wrapper_write_to_stream(dw, ms) == -1)
		mime_flag(st, idx, SCAN_LIMIT_MALFORMED);
	g_object_unref(ms);
	return ba;
}

/* mime_type_of: the declared MIME type, lower case, no parameters. */
static char *
mime_type_of(GMimeObject *obj)
{
	GMimeContentType	*ct;

	if ((ct = g_mime_object_get_content_type(obj)) == NULL)
		return NULL;
	return mime_lower(mime_utf8_take(
	    g_mime_content_type_get_mime_type(ct)));
}

#define MIME_ALT_NAMES_MAX	8	/* other names kept per part */
#define MIME_ALT_NAME_MAX	1024	/* bytes of one */

/* mime_alt_add: name as another name of p, unless known or too many. */
static void
mime_alt_add(struct scan_part *p, const char *name)
{
	size_t	 i;

	if (name == NULL || name[0] == '\0' ||
	    p->nalt_names >= MIME_ALT_NAMES_MAX ||
	    (p->filename != NULL && strcmp(p->filename, name) == 0))
		return;
	for (i = 0; i < p->nalt_names; i++)
		if (strcmp(p->alt_names[i], name) == 0)
			return;
	p->alt_names = xreallocarray(p->alt_names, p->nalt_names + 1,
	    sizeof(*p->alt_names));
	p->alt_names[p->nalt_names++] = mime_utf8(name);
}

/* mime_alt_params: every filename and name parameter of a list. */
static void
mime_alt_params(struct scan_part *p, GMimeParamList *l)
{
	GMimeParam	*pa;
	const char	*n;
	int		 i, len;

	if (l == NULL)
		return;
	len = g_mime_param_list_length(l);
	for (i = 0; i < len; i++) {
		if ((pa = g_mime_param_list_get_parameter_at(l, i)) == NULL ||
		    (n = g_mime_param_get_name(pa)) == NULL)
			continue;
		if (g_ascii_strcasecmp(n, "filename") == 0 ||
		    g_ascii_strcasecmp(n, "name") == 0)
			mime_alt_add(p, g_mime_param_get_value(pa));
	}
}

/*
 * mime_alt_raw: RFC 2231 values of a raw header (filename*= and name*=,
 * their continuations joined in the order written), percent-decoded with
 * %00 made "_": the decoded value GMime gives ends at a NUL byte, so
 * "evil%00.txt%00.exe" would otherwise be known as "evil" only.  Only
 * when the header has a %00 at all.
 */
static void
mime_alt_raw(struct scan_part *p, const char *raw)
{
	char	 out[MIME_ALT_NAME_MAX + 1];
	const char *c, *v, *end;
	size_t	 n = 0;
	int	 hi, lo;

	if (raw == NULL || strstr(raw, "%00") == NULL)
		return;
	for (c = raw; *c != '\0'; c = *end == ';' ? end + 1 : end) {
		while (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\n')
			c++;
		if ((end = strchr(c, ';')) == NULL)
			end = c + strlen(c);
		if ((g_ascii_strncasecmp(c, "filename*", 9) != 0 &&
		    g_ascii_strncasecmp(c, "name*", 5) != 0) ||
		    (v = memchr(c, '=', (size_t)(end - c))) == NULL)
			continue;
		v++;
		if (*v == '"')
			v++;
		/* charset'language' on the first section only */
		if (n == 0 && memchr(v, '\'', (size_t)(end - v)) != NULL) {
			const char *q = memchr(v, '\'', (size_t)(end - v));
			const char *q2 = memchr(q + 1, '\'', (size_t)(end - q -
			    1));

			if (q2 != NULL)
				v = q2 + 1;
		}
		for (; v < end && *v != '"' && *v != ' ' && *v != '\t' &&
		    *v != '\r' && *v != '\n' && n < MIME_ALT_NAME_MAX; v++) {
			if (*v == '%' && end - v >= 3 &&
			    (hi = str_hexval(v[1])) != -1 &&
			    (lo = str_hexval(v[2])) != -1) {
				out[n++] = (char)(hi * 16 + lo) != '\0' ?
				    (char)(hi * 16 + lo) : '_';
				v += 2;
			} else
				out[n++] = *v;
		}
	}
	out[n] = '\0';
	mime_alt_add(p, out);
}

/*
 * mime_alt_names: the names of a part besides the one GMime picks: a
 * sender may give a plain and an RFC 2231 name that differ (a mail client
 * shows the RFC 2231 one), a Content-Type name beside a Content-
 * Disposition filename, or hide a name's end behind %00.  The attachment
 * name rules check every one.
 */
static void
mime_alt_names(struct scan_part *p, GMimeObject *obj)
{
	GMimeContentDisposition *cd;
	GMimeContentType *ct;
	GMimeHeaderList	*hl;
	GMimeHeader	*h;
	const char	*name;
	int		 i, len;

	if ((cd = g_mime_object_get_content_disposition(obj)) != NULL)
		mime_alt_params(p, g_mime_content_disposition_get_parameters(
		    cd));
	if ((ct = g_mime_object_get_content_type(obj)) != NULL)
		mime_alt_params(p, g_mime_content_type_get_parameters(ct));
	if ((hl = g_mime_object_get_header_list(obj)) == NULL)
		return;
	len = g_mime_header_list_get_count(hl);
	for (i = 0; i < len; i++) {
		if ((h = g_mime_header_list_get_header_at(hl, i)) == NULL ||
		    (name = g_mime_header_get_name(h)) == NULL)
			continue;
		if (g_ascii_strcasecmp(name, "Content-Disposition") == 0 ||
		    g_ascii_strcasecmp(name, "Content-Type") == 0)
			mime_alt_raw(p, g_mime_header_get_raw_value(h));
	}
}

/* mime_leaf: one GMimePart as a part of the message. */
static void
mime_leaf(struct mime_state *st, GMimePart *part, int parent, int depth)
{
	struct scan_part	*p;
	GMimeObject		*obj = GMIME_OBJECT(part);
	GByteArray		*ba;
	const char		*cs;
	bool			 text;
	int			 idx;

	if ((idx = mime_part_new(st, parent, depth)) == -1)
		return;
	p = &st->msg->parts[idx];
	p->content_type = mime_type_of(obj);
	if ((cs = g_mime_object_get_content_type_parameter(obj, "charset")))
		p->charset = mime_utf8(cs);
	p->filename = mime_utf8(g_mime_part_get_filename(part));
	mime_alt_names(p, obj);
	text = p->content_type != NULL &&
	    strncmp(p->content_type, "text/", 5) == 0;
	p->attachment = p->filename != NULL || !text ||
	    g_mime_part_is_attachment(part);
	p->html = p->content_type != NULL &&
	    strcmp(p->content_type, "text/html") == 0;
	p->body_text = !p->attachment && (p->html ||
	    strcmp(p->content_type, "text/plain") == 0);
	ba = mime_decode(st, idx, part);
	mime_examine(st, idx, ba->data, ba->len, text && !p->attachment);
	/* mime_examine may have grown the parts array: index again. */
	if (st->leaf != NULL)
		st->leaf(st->leaf_arg, &st->msg->parts[idx], ba->data,
		    ba->len);
	g_byte_array_free(ba, TRUE);
}

/* mime_msgpart: a message/rfc822 part, and the message inside (depth+1). */
static void
mime_msgpart(struct mime_state *st, GMimeMessagePart *mp, int parent,
    int depth, int nest)
{
	struct scan_part	*p;
	GMimeObject		*obj = GMIME_OBJECT(mp);
	GMimeMessage		*inner;
	GMimeStream		*ns;
	const char		*name;
	int			 idx;

	if ((idx = mime_part_new(st, parent, depth)) == -1)
		return;
	p = &st->msg->parts[idx];
	p->content_type = mime_type_of(obj);
	p->attachment = true;
	if ((name = g_mime_object_get_content_disposition_parameter(obj,
	    "filename")) == NULL)
		name = g_mime_object_get_content_type_parameter(obj, "name");
	p->filename = mime_utf8(name);
	mime_alt_names(p, obj);
	if ((inner = g_mime_message_part_get_message(mp)) == NULL) {
		mime_flag(st, idx, SCAN_LIMIT_MALFORMED);
		return;
	}
	ns = g_mime_stream_null_new();
	if (g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, ns) > 0)
		p->size = GMIME_STREAM_NULL(ns)->written;
	g_object_unref(ns);
	if (depth + 1 > st->lim->max_depth) {
		mime_flag(st, idx, SCAN_LIMIT_DEPTH);
		return;
	}
	if (g_mime_message_get_mime_part(inner) != NULL)
		mime_walk(st, g_mime_message_get_mime_part(inner), idx,
		    depth + 1, nest + 1);
}

/*
 * mime_unplaced: a multipart in which no part was found (its boundary
 * never occurs, or is longer than GMime looks for): everything it holds
 * is its prologue.  That text is scanned as a body part, so content
 * behind a broken structure does not escape the content rules.
 */
static void
mime_unplaced(struct mime_state *st, GMimeMultipart *mp, int parent,
    int depth)
{
	const char	*pro = g_mime_multipart_get_prologue(mp);
	int		 idx;

	if ((idx = mime_part_new(st, parent, depth)) == -1)
		return;
	mime_flag(st, idx, SCAN_LIMIT_MALFORMED);
	st->msg->parts[idx].content_type = xstrdup("text/plain");
	st->msg->parts[idx].body_text = true;
	if (pro == NULL)
		pro = "";
	mime_examine(st, idx, (const uint8_t *)pro, strlen(pro), true);
}

/* mime_walk: every leaf under obj, in document order. */
static void
mime_walk(struct mime_state *st, GMimeObject *obj, int parent, int depth,
    int nest)
{
	GMimeMultipart	*mp;
	int		 i, n;

	if (st->full)
		return;
	if (nest > MIME_MAX_NEST) {
		mime_flag(st, parent, SCAN_LIMIT_DEPTH);
		return;
	}
	if (GMIME_IS_MULTIPART(obj)) {
		mp = GMIME_MULTIPART(obj);
		n = g_mime_multipart_get_count(mp);
		for (i = 0; i < n && !st->full; i++)
			mime_walk(st, g_mime_multipart_get_part(mp, i), parent,
			    depth, nest + 1);
		if (n == 0)
			mime_unplaced(st, mp, parent, depth);
	} else if (GMIME_IS_MESSAGE_PART(obj))
		mime_msgpart(st, GMIME_MESSAGE_PART(obj), parent, depth, nest);
	else if (GMIME_IS_PART(obj))
		mime_leaf(st, GMIME_PART(obj), parent, depth);
}

/* mime_headers: every top-level header field, decoded; and the subject. */
static void
mime_headers(struct mime_state *st, GMimeMessage *gm)
{
	struct scan_msg	*m = st->msg;
	GMimeHeaderList	*hl;
	GMimeHeader	*h;
	const char	*v;
	int		 i, n;

	hl = g_mime_object_get_header_list(GMIME_OBJECT(gm));
	n = hl != NULL ? g_mime_header_list_get_count(hl) : 0;
	if (n <= 0)
		return;
	m->headers = xcalloc((size_t)n, sizeof(*m->headers));
	for (i = 0; i < n; i++) {
		if ((h = g_mime_header_list_get_header_at(hl, i)) == NULL)
			continue;
		m->headers[m->nheaders].name =
		    mime_utf8(g_mime_header_get_name(h));
		if (m->headers[m->nheaders].name == NULL)
			m->headers[m->nheaders].name = xstrdup("");
		v = g_mime_header_get_value(h);
		m->headers[m->nheaders].value = mime_utf8(v != NULL ? v : "");
		mime_rtrim(m->headers[m->nheaders].value);
		if (m->subject == NULL &&
		    strcasecmp(m->headers[m->nheaders].name, "Subject") == 0)
			m->subject = xstrdup(m->headers[m->nheaders].value);
		m->nheaders++;
	}
}

/* mime_mailboxes: mailboxes in an address list, inside groups too. */
static size_t
mime_mailboxes(InternetAddressList *l, int nest)
{
	InternetAddress	*ia;
	size_t		 n = 0;
	int		 i, len;

	if (l == NULL || nest > MIME_MAX_GROUP)
		return 0;
	len = internet_address_list_length(l);
	for (i = 0; i < len; i++) {
		ia = internet_address_list_get_address(l, i);
		if (INTERNET_ADDRESS_IS_GROUP(ia))
			n += mime_mailboxes(internet_address_group_get_members(
			    INTERNET_ADDRESS_GROUP(ia)), nest + 1);
		else if (INTERNET_ADDRESS_IS_MAILBOX(ia))
			n++;
	}
	return n;
}

/* mime_unparsed: GMime built no message; scan the raw bytes as one part. */
static void
mime_unparsed(struct mime_state *st, const void *raw, size_t len)
{
	int	 idx;

	st->msg->limits |= SCAN_LIMIT_MALFORMED;
	if ((idx = mime_part_new(st, -1, 0)) == -1)
		return;
	st->msg->parts[idx].content_type = xstrdup("text/plain");
	st->msg->parts[idx].body_text = true;
	mime_examine(st, idx, len ? raw : (const void *)"", len, true);
}

/*
 * mime_analyse: fill out from the raw message.  0 on success, including
 * malformed input and limits hit (recorded in out->limits); -1 (with err)
 * only when called wrongly.  out is owned by the caller: scan_msg_free.
 */
int
mime_analyse(const void *raw, size_t len, const struct scan_limits *lim,
    struct scan_msg *out, char *err, size_t errlen)
{
	return mime_analyse_leaves(raw, len, lim, NULL, NULL, out, err,
	    errlen);
}

/*
 * mime_analyse_leaves: mime_analyse, and leaf(arg, part, data, len) for
 * every MIME leaf once its content is decoded (transfer encoding undone;
 * not for archive members, which are never extracted whole, nor for
 * message/rfc822 parts, whose leaves are told instead).  data is valid
 * only during the call.
 */
int
mime_analyse_leaves(const void *raw, size_t len,
    const struct scan_limits *lim, mime_leaf_fn leaf, void *arg,
    struct scan_msg *out, char *err, size_t errlen)
{
	struct mime_state	 st;
	GMimeParserOptions	*opts;
	GMimeStream		*stream;
	GMimeParser		*parser;
	GMimeMessage		*gm;

	memset(out, 0, sizeof(*out));
	if (!mime_ready || lim == NULL || (raw == NULL && len > 0)) {
		str_printf(err, errlen, "mime_analyse: %s", !mime_ready ?
		    "mime_init not called" : "bad arguments");
		return -1;
	}
	memset(&st, 0, sizeof(st));
	st.lim = lim;
	st.msg = out;
	st.leaf = leaf;
	st.leaf_arg = arg;
	out->size = len;

	opts = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(opts, mime_warning, &st);
	g_mime_parser_options_set_fallback_charsets(opts, mime_hdr_fallback);
	stream = g_mime_stream_mem_new_with_buffer(len ? (const char *)raw : "",
	    len);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	gm = g_mime_parser_construct_message(parser, opts);
	g_object_unref(parser);

	if (gm == NULL)
		mime_unparsed(&st, raw, len);
	else {
		mime_headers(&st, gm);
		out->nhdr_rcpts = mime_mailboxes(g_mime_message_get_addresses(
		    gm, GMIME_ADDRESS_TYPE_TO), 0) + mime_mailboxes(
		    g_mime_message_get_addresses(gm, GMIME_ADDRESS_TYPE_CC), 0);
		if (g_mime_message_get_mime_part(gm) != NULL)
			mime_walk(&st, g_mime_message_get_mime_part(gm), -1, 0,
			    0);
		g_object_unref(gm);
	}
	g_object_unref(stream);
	g_mime_parser_options_free(opts);
	return 0;
}
