/*
 * actions.c: apply a group's modifications to the raw message.
 *
 * GMime parses the message again (as mime.c did) and writes it back with
 * CRLF line ends; what is not modified is written from the bytes GMime
 * kept (raw header values, encoded content), so an untouched part keeps
 * its content byte for byte (seed 4).  The modifications:
 *
 *  - tag_subject: the tags, in rule order, before the decoded subject;
 *    GMime encodes the new value with RFC 2047 only when it is not ASCII.
 *  - stamp_top, stamp_bottom: into the first text/plain and the first
 *    text/html body part of the message itself (not of an attached one).
 *    Plain text stays in its charset when that can represent the stamp,
 *    else the part becomes UTF-8; a part without a charset parameter gets
 *    us-ascii or UTF-8, never an empty one (seed 16).  HTML gets an escaped
 *    paragraph in ASCII (other characters as references), so its charset
 *    (which the HTML itself may declare) is left alone.  The transfer
 *    encoding stays valid: base64 and QP are re-encoded, 7bit becomes QP
 *    when the stamp brings 8-bit bytes or long lines.
 *  - strip_attachments: each listed part (an archive member: the part
 *    holding its archive) becomes a short text/plain note naming it.
 *
 * Part indices are matched to GMime objects by walking the tree in
 * mime_walk()'s order and checking each against the struct scan_msg the
 * policy saw (parent links); a message that does not agree is an error,
 * never a guess.  No Message-ID is added (seed 25).
 */
#include <errno.h>
#include <iconv.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "actions.h"
#include "util.h"
#include "xmalloc.h"

/* As in mime.c: multipart levels walked, header fallback charsets. */
#define ACT_MAX_NEST		32
/* Bytes a modified message may grow to, beyond the original. */
#define ACT_SLACK		(1024 * 1024)
/* Longest line SMTP carries (RFC 5321), without CRLF. */
#define ACT_MAX_LINE		998

static const char *act_hdr_fallback[] = {
	"UTF-8", "EUC-JP", "CP932", "ISO-8859-1", NULL,
};

/* Charsets tried for 8-bit text that declares none and is not UTF-8. */
static const char *const act_guess[] = {
	"EUC-JP", "CP932", "WINDOWS-1252",
};

/* One leaf or message/rfc822 part, in mime_walk() order. */
struct act_node {
	GMimeObject	*obj;
	GMimeMultipart	*mp;		/* its container, or NULL */
	int		 pos;		/* its index in mp */
	GMimeMessage	*owner;		/* mp == NULL: the message it is */
	int		 idx;		/* scan_msg index, -1 past the limit */
	bool		 strip;
};

struct act_walk {
	const struct scan_msg *msg;
	size_t		 next;		/* scan_msg index looked at next */
	struct act_node	*nodes;
	size_t		 n, cap;
	bool		 bad;		/* the message disagrees with msg */
};

/* act_peek: the next non-archive scan part, or -1. */
static int
act_peek(struct act_walk *w)
{
	while (w->next < w->msg->nparts && w->msg->parts[w->next].in_archive)
		w->next++;
	return w->next < w->msg->nparts ? (int)w->next : -1;
}

/* act_add: record one part; its scan index, or -1. */
static int
act_add(struct act_walk *w, GMimeObject *obj, GMimeMultipart *mp, int pos,
    GMimeMessage *owner, int parent)
{
	struct act_node	*nd;
	int		 idx;

	if ((idx = act_peek(w)) != -1) {
		if (w->msg->parts[idx].parent != parent)
			w->bad = true;
		w->next++;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->nodes = xreallocarray(w->nodes, w->cap, sizeof(*w->nodes));
	}
	nd = &w->nodes[w->n++];
	nd->obj = obj;
	nd->mp = mp;
	nd->pos = pos;
	nd->owner = owner;
	nd->idx = idx;
	nd->strip = false;
	return idx;
}

/* act_walk: every part under obj, as mime_walk() numbers them. */
static void
act_walk(struct act_walk *w, GMimeObject *obj, GMimeMultipart *mp, int pos,
    GMimeMessage *owner, int parent, int nest)
{
	GMimeMultipart	*sub;
	GMimeMessage	*inner;
	int		 i, n, idx, nx;

	if (w->bad || nest > ACT_MAX_NEST)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		sub = GMIME_MULTIPART(obj);
		n = g_mime_multipart_get_count(sub);
		for (i = 0; i < n; i++)
			act_walk(w, g_mime_multipart_get_part(sub, i), sub, i,
			    owner, parent, nest + 1);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		idx = act_add(w, obj, mp, pos, owner, parent);
		inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		/* mime.c went inside unless its depth limit stopped it. */
		if (idx == -1 || inner == NULL ||
		    g_mime_message_get_mime_part(inner) == NULL ||
		    (nx = act_peek(w)) == -1 || w->msg->parts[nx].parent != idx)
			return;
		act_walk(w, g_mime_message_get_mime_part(inner), NULL, 0,
		    inner, idx, nest + 1);
	} else if (GMIME_IS_PART(obj))
		(void)act_add(w, obj, mp, pos, owner, parent);
}

/* act_long_line: whether a line is longer than SMTP allows. */
static bool
act_long_line(const uint8_t *p, size_t len)
{
	size_t	 i, run = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '\n' || p[i] == '\r')
			run = 0;
		else if (++run > ACT_MAX_LINE)
			return true;
	}
	return false;
}

/*
 * act_iconv: in converted from charset "from" to "to" into out; false when
 * iconv does not know a charset or a character does not convert.
 */
static bool
act_iconv(const char *to, const char *from, const uint8_t *in, size_t inlen,
    struct buf *out)
{
	iconv_t	 cd;
	char	 tmp[4096], *ip = (char *)(uintptr_t)in, *op;
	size_t	 ileft = inlen, oleft, r;
	bool	 ok = true, flush = false;

	if ((cd = g_mime_iconv_open(to, from)) == (iconv_t)-1)
		return false;
	for (;;) {
		op = tmp;
		oleft = sizeof(tmp);
		/* The final call puts a stateful charset back to ASCII. */
		r = flush ? iconv(cd, NULL, NULL, &op, &oleft) :
		    iconv(cd, &ip, &ileft, &op, &oleft);
		if (!buf_add(out, tmp, sizeof(tmp) - oleft)) {
			ok = false;
			break;
		}
		if (r == (size_t)-1 && errno == E2BIG)
			continue;
		if (r == (size_t)-1 || (r > 0 && !flush)) {
			/* r > 0: glibc substituted an irreversible character. */
			ok = false;
			break;
		}
		if (flush)
			break;
		flush = true;
	}
	g_mime_iconv_close(cd);
	return ok;
}

/* act_decode: the part's content, transfer encoding undone; NULL on error. */
static GByteArray *
act_decode(GMimePart *part)
{
	GMimeDataWrapper	*dw;
	GMimeStream		*ms;
	GByteArray		*ba;
	bool			 ok = true;

	ba = g_byte_array_new();
	if ((dw = g_mime_part_get_content(part)) == NULL)
		return ba;
	ms = g_mime_stream_mem_new_with_byte_array(ba);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(ms), FALSE);
	if (g_mime_data_wrapper_write_to_stream(dw, ms) == -1)
		ok = false;
	g_object_unref(ms);
	if (!ok) {
		g_byte_array_free(ba, TRUE);
		return NULL;
	}
	return ba;
}

/* act_set_content: new decoded content for part, transfer encoding valid. */
static void
act_set_content(GMimePart *part, const uint8_t *data, size_t len)
{
	GMimeContentEncoding	 enc;
	GMimeDataWrapper	*dw;
	GMimeStream		*ms;
	bool			 hi = mem_8bit(data, len);
	bool			 lng = act_long_line(data, len);

	ms = g_mime_stream_mem_new_with_buffer((const char *)data, len);
	dw = g_mime_data_wrapper_new_with_stream(ms,
	    GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(part, dw);
	g_object_unref(dw);
	g_object_unref(ms);
	enc = g_mime_part_get_content_encoding(part);
	if (((enc == GMIME_CONTENT_ENCODING_DEFAULT ||
	    enc == GMIME_CONTENT_ENCODING_7BIT) && (hi || lng)) ||
	    (enc == GMIME_CONTENT_ENCODING_8BIT && lng))
		g_mime_part_set_content_encoding(part,
		    GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE);
}

/* act_add_text: UTF-8 text s with LF line ends, written with newline nl. */
static bool
act_add_text(struct buf *b, const char *s, const char *nl)
{
	const char	*e;

	for (; (e = strchr(s, '\n')) != NULL; s = e + 1)
		if (!buf_add(b, s, (size_t)(e - s)) || !buf_addstr(b, nl))
			return false;
	return buf_addstr(b, s);
}

/*
 * act_html: s as an HTML paragraph in ASCII (escapes, references, <br>).
 * A malformed UTF-8 sequence becomes U+FFFD, one byte at a time: never
 * g_utf8_next_char() over it, which would skip past the terminating NUL.
 */
static bool
act_html(struct buf *b, const char *s, const char *nl)
{
	const char	*p;
	gunichar	 c;
	size_t		 n;
	bool		 ok;

	ok = buf_addstr(b, "<p>");
	for (p = s; ok && *p != '\0'; p += n) {
		c = g_utf8_get_char_validated(p, -1);
		if (c == (gunichar)-1 || c == (gunichar)-2) {
			c = 0xfffd;
			n = 1;
		} else
			n = (size_t)(g_utf8_next_char(p) - p);
		if (c == '<')
			ok = buf_addstr(b, "&lt;");
		else if (c == '>')
			ok = buf_addstr(b, "&gt;");
		else if (c == '&')
			ok = buf_addstr(b, "&amp;");
		else if (c == '"')
			ok = buf_addstr(b, "&quot;");
		else if (c == '\n')
			ok = buf_addstr(b, "<br>") && buf_addstr(b, nl);
		else if (c == '\r')
			continue;
		else if (c >= 0x80)
			ok = buf_printf(b, "&#%u;", (unsigned)c);
		else
			ok = buf_add(b, p, 1);
	}
	return ok && buf_addstr(b, "</p>") && buf_addstr(b, nl);
}

/* act_find_ci: first (or last) case-insensitive occurrence of pat, or NULL. */
static const uint8_t *
act_find_ci(const uint8_t *p, size_t len, const char *pat, bool last)
{
	const uint8_t	*r = NULL;
	size_t		 i, n = strlen(pat);

	for (i = 0; n <= len && i <= len - n; i++)
		if (strncasecmp((const char *)p + i, pat, n) == 0) {
			r = p + i;
			if (!last)
				break;
		}
	return r;
}

/* act_stamp_html: the stamps as paragraphs inside <body>. */
static bool
act_stamp_html(GMimePart *part, const GByteArray *ba, const char *top,
    const char *bottom, const char *nl)
{
	const uint8_t	*d = ba->data, *at, *gt;
	struct buf	 b;
	size_t		 len = ba->len, head = 0, tail = len;
	bool		 ok = true;

	if ((at = act_find_ci(d, len, "<body", false)) != NULL &&
	    (gt = memchr(at, '>', len - (size_t)(at - d))) != NULL)
		head = (size_t)(gt - d) + 1;
	if ((at = act_find_ci(d, len, "</body", true)) != NULL &&
	    (size_t)(at - d) >= head)
		tail = (size_t)(at - d);
	buf_init(&b, len + ACT_SLACK);
	if (top != NULL)
		ok = buf_add(&b, d, head) && buf_addstr(&b, nl) &&
		    act_html(&b, top, nl) && buf_add(&b, d + head, tail - head);
	else
		ok = buf_add(&b, d, tail);
	if (ok && bottom != NULL)
		ok = buf_addstr(&b, nl) && act_html(&b, bottom, nl);
	if (ok)
		ok = buf_add(&b, d + tail, len - tail);
	if (ok)
		act_set_content(part, b.data != NULL ? b.data :
		    (const uint8_t *)"", b.len);
	buf_free(&b);
	return ok;
}

/* act_to_utf8: text in charset cs (NULL: guess) as UTF-8 into out. */
static void
act_to_utf8(const uint8_t *in, size_t len, const char *cs, struct buf *out)
{
	gchar	*v;
	size_t	 i;

	if (cs != NULL) {
		if (act_iconv("UTF-8", cs, in, len, out))
			return;
		buf_reset(out);
	}
	if (g_utf8_validate((const char *)in, (gssize)len, NULL)) {
		(void)buf_add(out, in, len);
		return;
	}
	for (i = 0; i < nitems(act_guess); i++) {
		if (act_iconv("UTF-8", act_guess[i], in, len, out))
			return;
		buf_reset(out);
	}
	v = g_utf8_make_valid((const char *)in, (gssize)len);
	(void)buf_addstr(out, v);
	g_free(v);
}

/* act_stamp_plain: the stamps in the part's charset, or the part in UTF-8. */
static bool
act_stamp_plain(GMimePart *part, const GByteArray *ba, const char *top,
    const char *bottom, const char *nl)
{
	GMimeObject	*obj = GMIME_OBJECT(part);
	struct buf	 st, sb, body, out;
	const char	*cs, *setcs = NULL;
	const uint8_t	*bd = ba->data;
	size_t		 blen = ba->len, lim = ba->len * 3 + ACT_SLACK;
	bool		 ok = false, stamp_hi, body_ascii;

	buf_init(&st, lim);
	buf_init(&sb, lim);
	buf_init(&body, lim);
	buf_init(&out, lim);
	if ((top != NULL && !act_add_text(&st, top, nl)) ||
	    (bottom != NULL && !act_add_text(&sb, bottom, nl)))
		goto done;
	stamp_hi = mem_8bit(st.data, st.len) || mem_8bit(sb.data, sb.len);
	body_ascii = !mem_8bit(bd, blen) && memchr(bd, 0x1b, blen) == NULL;
	if ((cs = g_mime_object_get_content_type_parameter(obj,
	    "charset")) != NULL && *cs == '\0')
		cs = NULL;
	if (cs == NULL) {
		/* Seed 16: never an empty charset=. */
		setcs = !stamp_hi && body_ascii ? "us-ascii" : "UTF-8";
		if (body_ascii || g_utf8_validate((const char *)bd,
		    (gssize)blen, NULL))
			ok = buf_add(&body, bd, blen);
		else {
			act_to_utf8(bd, blen, NULL, &body);
			ok = true;
		}
	} else if (!stamp_hi) {
		ok = buf_add(&body, bd, blen);
	} else {
		struct buf	 t1, t2;

		buf_init(&t1, lim);
		buf_init(&t2, lim);
		if (act_iconv(cs, "UTF-8", st.data, st.len, &t1) &&
		    act_iconv(cs, "UTF-8", sb.data, sb.len, &t2)) {
			buf_free(&st);
			buf_free(&sb);
			st = t1;
			sb = t2;
			ok = buf_add(&body, bd, blen);
		} else {
			buf_free(&t1);
			buf_free(&t2);
			act_to_utf8(bd, blen, cs, &body);
			setcs = "UTF-8";
			ok = true;
		}
	}
	if (!ok)
		goto done;
	ok = false;
	if (top != NULL && (!buf_add(&out, st.data, st.len) ||
	    !buf_addstr(&out, nl) || !buf_addstr(&out, nl)))
		goto done;
	if (!buf_add(&out, body.data, body.len))
		goto done;
	if (bottom != NULL) {
		if (body.len > 0 && body.data[body.len - 1] != '\n' &&
		    !buf_addstr(&out, nl))
			goto done;
		if (!buf_addstr(&out, nl) || !buf_add(&out, sb.data, sb.len) ||
		    !buf_addstr(&out, nl))
			goto done;
	}
	if (setcs != NULL)
		g_mime_object_set_content_type_parameter(obj, "charset", setcs);
	act_set_content(part, out.data != NULL ? out.data :
	    (const uint8_t *)"", out.len);
	ok = true;
done:
	buf_free(&st);
	buf_free(&sb);
	buf_free(&body);
	buf_free(&out);
	return ok;
}

/* act_stamp: insert the stamps into one body text part. */
static bool
act_stamp(GMimePart *part, bool html, const char *top, const char *bottom)
{
	GByteArray	*ba;
	const char	*nl;
	bool		 ok;

	if ((ba = act_decode(part)) == NULL)
		return false;
	nl = memmem(ba->data, ba->len, "\r\n", 2) != NULL ? "\r\n" : "\n";
	ok = html ? act_stamp_html(part, ba, top, bottom, nl) :
	    act_stamp_plain(part, ba, top, bottom, nl);
	g_byte_array_free(ba, TRUE);
	return ok;
}

/* act_note: the text/plain part that replaces a removed one. */
static GMimeObject *
act_note(const char *name)
{
	GMimePart	*np;
	struct buf	 b;
	bool		 hi;

	buf_init(&b, 64 * 1024);
	if (!buf_printf(&b, "The attachment \"%s\" was removed by sekisho.\r\n",
	    name != NULL && *name != '\0' ? name : "(no name)")) {
		buf_reset(&b);
		(void)buf_addstr(&b, "An attachment was removed by sekisho.\r\n");
	}
	hi = mem_8bit(b.data, b.len);
	np = g_mime_part_new_with_type("text", "plain");
	g_mime_object_set_content_type_parameter(GMIME_OBJECT(np), "charset",
	    hi ? "UTF-8" : "us-ascii");
	act_set_content(np, b.data, b.len);
	g_mime_part_set_content_encoding(np, hi ?
	    GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE :
	    GMIME_CONTENT_ENCODING_7BIT);
	buf_free(&b);
	return GMIME_OBJECT(np);
}

/* act_replace: put obj where node nd is (its container keeps the rest). */
static void
act_replace(struct act_node *nd, GMimeObject *obj)
{
	GMimeObject	*old;

	if (nd->mp != NULL) {
		old = g_mime_multipart_replace(nd->mp, nd->pos, obj);
		if (old != NULL)
			g_object_unref(old);
	} else if (nd->owner != NULL)
		g_mime_message_set_mime_part(nd->owner, obj);
	g_object_unref(obj);
}

/* act_join: the args of every action of kind k, joined by sep; or NULL. */
static char *
act_join(const struct policy_group *g, enum policy_action_kind k,
    const char *sep, actions_template_fn tf, void *arg, bool *bad)
{
	struct buf	 b;
	const char	*s;
	char		*r;
	size_t		 i;
	bool		 any = false;

	buf_init(&b, SIZE_MAX - 1);
	for (i = 0; i < g->nactions; i++) {
		if (g->actions[i].kind != k || g->actions[i].arg == NULL)
			continue;
		s = g->actions[i].arg;
		if (g->actions[i].template &&
		    (tf == NULL || (s = tf(s, arg)) == NULL)) {
			*bad = true;
			continue;
		}
		if (any)
			(void)buf_addstr(&b, sep);
		(void)buf_addstr(&b, s);
		any = true;
	}
	r = any ? xstrdup(buf_cstr(&b)) : NULL;
	buf_free(&b);
	return r;
}

/* act_valid_utf8: s (malloc'd, or NULL) as valid UTF-8 (bad bytes U+FFFD). */
static char *
act_valid_utf8(char *s)
{
	gchar	*v;
	char	*r;

	if (s == NULL || g_utf8_validate(s, -1, NULL))
		return s;
	v = g_utf8_make_valid(s, -1);
	r = xstrdup(v);
	g_free(v);
	free(s);
	return r;
}

/* actions_modifies: whether the group changes the message at all. */
int
actions_modifies(const struct policy_group *g)
{
	size_t	 i;

	for (i = 0; i < g->nactions; i++)
		switch (g->actions[i].kind) {
		case POLICY_A_TAG_SUBJECT:
		case POLICY_A_STAMP_TOP:
		case POLICY_A_STAMP_BOTTOM:
			return 1;
		case POLICY_A_STRIP:
			if (g->nstrip_parts > 0)
				return 1;
			break;
		default:
			break;
		}
	return 0;
}

/* act_tag: the tags before the subject, RFC 2047 only when needed. */
static void
act_tag(GMimeMessage *gm, const char *tags)
{
	const char	*subj = g_mime_message_get_subject(gm);
	struct buf	 b;
	size_t		 n = strlen(tags);

	buf_init(&b, SIZE_MAX - 1);
	(void)buf_addstr(&b, tags);
	if (subj != NULL && *subj != '\0') {
		if (n > 0 && tags[n - 1] != ' ')
			(void)buf_addstr(&b, " ");
		(void)buf_addstr(&b, subj);
	}
	g_mime_message_set_subject(gm, buf_cstr(&b),
	    mem_8bit(b.data, b.len) ? "UTF-8" : NULL);
	buf_free(&b);
}

/* act_strip_mark: mark the nodes of the parts to strip; false if unknown. */
static bool
act_strip_mark(struct act_walk *w, const struct policy_group *g)
{
	const struct scan_msg	*m = w->msg;
	size_t			 i, j, s, hops;

	for (i = 0; i < g->nstrip_parts; i++) {
		if ((s = g->strip_parts[i]) >= m->nparts)
			return false;
		/* A member goes with the attachment holding its archive. */
		for (hops = 0; m->parts[s].in_archive && hops <= m->nparts;
		    hops++) {
			if (m->parts[s].parent < 0 ||
			    (size_t)m->parts[s].parent >= m->nparts)
				return false;
			s = (size_t)m->parts[s].parent;
		}
		for (j = 0; j < w->n; j++)
			if (w->nodes[j].idx >= 0 && (size_t)w->nodes[j].idx == s)
				break;
		if (j == w->n)
			return false;
		w->nodes[j].strip = true;
	}
	return true;
}

/* act_strip_some: replace every marked node by a note, last first. */
static void
act_strip_some(struct act_walk *w)
{
	const char	*name;
	size_t		 j;

	for (j = w->n; j-- > 0;) {
		if (!w->nodes[j].strip)
			continue;
		name = w->msg->parts[w->nodes[j].idx].filename;
		act_replace(&w->nodes[j], act_note(name));
	}
}

/* act_stamp_all: stamps into the first plain and first HTML body part. */
static bool
act_stamp_all(struct act_walk *w, const char *top, const char *bottom)
{
	const struct scan_part	*p;
	size_t			 j;
	bool			 plain = false, html = false;

	for (j = 0; j < w->n && !(plain && html); j++) {
		if (w->nodes[j].idx < 0 || w->nodes[j].strip ||
		    !GMIME_IS_PART(w->nodes[j].obj))
			continue;
		p = &w->msg->parts[w->nodes[j].idx];
		if (!p->body_text || p->depth != 0 || (p->html ? html : plain))
			continue;
		if (!act_stamp(GMIME_PART(w->nodes[j].obj), p->html, top,
		    bottom))
			return false;
		if (p->html)
			html = true;
		else
			plain = true;
	}
	return true;
}

/* act_write: the message with CRLF line ends into out. */
static bool
act_write(GMimeMessage *gm, struct buf *out)
{
	GMimeFormatOptions	*fmt;
	GMimeStream		*ms;
	GByteArray		*ba;
	bool			 ok;

	fmt = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fmt, GMIME_NEWLINE_FORMAT_DOS);
	ba = g_byte_array_new();
	ms = g_mime_stream_mem_new_with_byte_array(ba);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(ms), FALSE);
	ok = g_mime_object_write_to_stream(GMIME_OBJECT(gm), fmt, ms) != -1 &&
	    buf_add(out, ba->data, ba->len);
	g_object_unref(ms);
	g_byte_array_free(ba, TRUE);
	g_mime_format_options_free(fmt);
	return ok;
}

/*
 * actions_apply: the raw message (len bytes) with the modifications of g
 * applied, appended to out.  msg is mime_analyse() of the same bytes; tf
 * (with arg) gives the text of template stamps.  0, or -1 with err (out
 * unchanged): the message disagrees with msg, a part to strip is unknown,
 * a template is missing, or out's limit was reached.
 */
int
actions_apply(const void *raw, size_t len, const struct scan_msg *msg,
    const struct policy_group *g, actions_template_fn tf, void *arg,
    struct buf *out, char *err, size_t errlen)
{
	GMimeParserOptions	*opts;
	GMimeStream		*stream;
	GMimeParser		*parser;
	GMimeMessage		*gm;
	GMimeHeaderList		*hl;
	struct act_walk		 w;
	char			*tags = NULL, *top = NULL, *bottom = NULL;
	size_t			 olen = out->len;
	bool			 bad = false, had_id;
	int			 rv = -1;

	if ((raw == NULL && len > 0) || msg == NULL || g == NULL) {
		str_printf(err, errlen, "actions_apply: bad arguments");
		return -1;
	}
	memset(&w, 0, sizeof(w));
	w.msg = msg;
	opts = g_mime_parser_options_new();
	g_mime_parser_options_set_fallback_charsets(opts, act_hdr_fallback);
	stream = g_mime_stream_mem_new_with_buffer(len ? (const char *)raw : "",
	    len);
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	gm = g_mime_parser_construct_message(parser, opts);
	g_object_unref(parser);
	g_object_unref(stream);
	g_mime_parser_options_free(opts);
	if (gm == NULL) {
		str_printf(err, errlen, "actions: the message does not parse");
		return -1;
	}
	hl = g_mime_object_get_header_list(GMIME_OBJECT(gm));
	had_id = g_mime_header_list_contains(hl, "Message-Id");

	if (g_mime_message_get_mime_part(gm) != NULL)
		act_walk(&w, g_mime_message_get_mime_part(gm), NULL, 0, gm, -1,
		    0);
	if (w.bad) {
		str_printf(err, errlen, "actions: the message does not match "
		    "its analysis");
		goto done;
	}
	tags = act_join(g, POLICY_A_TAG_SUBJECT, " ", tf, arg, &bad);
	top = act_join(g, POLICY_A_STAMP_TOP, "\n", tf, arg, &bad);
	bottom = act_join(g, POLICY_A_STAMP_BOTTOM, "\n", tf, arg, &bad);
	if (bad) {
		str_printf(err, errlen, "actions: a stamp template is missing");
		goto done;
	}
	/* A template file may be in another charset: never put bytes that
	 * are not UTF-8 into a part declared UTF-8. */
	top = act_valid_utf8(top);
	bottom = act_valid_utf8(bottom);
	if (!act_strip_mark(&w, g)) {
		str_printf(err, errlen, "actions: a part to strip is unknown");
		goto done;
	}
	/* Stamps first: stripping frees the nodes' objects. */
	if ((top != NULL || bottom != NULL) && !act_stamp_all(&w, top,
	    bottom)) {
		str_printf(err, errlen, "actions: the stamp does not fit");
		goto done;
	}
	act_strip_some(&w);
	if (tags != NULL)
		act_tag(gm, tags);
	/* Seed 25: whatever GMime did, no Message-ID that was not there. */
	while (!had_id && g_mime_header_list_contains(hl, "Message-Id"))
		(void)g_mime_header_list_remove(hl, "Message-Id");
	if (!act_write(gm, out)) {
		out->len = olen;
		str_printf(err, errlen, "actions: the message is too large");
		goto done;
	}
	rv = 0;
done:
	free(tags);
	free(top);
	free(bottom);
	free(w.nodes);
	g_object_unref(gm);
	return rv;
}

/* actions_apply_fd: actions_apply, the result written to fd. */
int
actions_apply_fd(const void *raw, size_t len, const struct scan_msg *msg,
    const struct policy_group *g, actions_template_fn tf, void *arg, int fd,
    char *err, size_t errlen)
{
	struct buf	 b;
	size_t		 off = 0;
	ssize_t		 n;
	int		 rv = -1;

	buf_init(&b, len < SIZE_MAX / 4 ? len * 3 + ACT_SLACK : SIZE_MAX - 1);
	if (actions_apply(raw, len, msg, g, tf, arg, &b, err, errlen) == -1)
		goto done;
	while (off < b.len) {
		if ((n = write(fd, b.data + off, b.len - off)) == -1) {
			if (errno == EINTR)
				continue;
			str_printf(err, errlen, "actions: write: %s",
			    strerror(errno));
			goto done;
		}
		off += (size_t)n;
	}
	rv = 0;
done:
	buf_free(&b);
	return rv;
}

/*
 * actions_headers: msg (a whole message, CRLF or LF lines) with add (ready
 * "Name: value\r\n" lines) in front and every top-level header field that
 * drop(first line, its length, arg) selects removed with its continuation
 * lines: our own verdict headers replace any that came with the message,
 * which a sender could have forged.  The body is copied as it is.  false
 * when out's limit was reached.
 */
bool
actions_headers(const void *msg, size_t len, actions_drop_fn drop, void *arg,
    const char *add, struct buf *out)
{
	const char *p = msg, *end = p + len, *nl, *next;
	bool	 skip = false;

	if (!buf_addstr(out, add))
		return false;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		next = nl != NULL ? nl + 1 : end;
		/* The empty line ends the header: the rest is the body. */
		if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			break;
		if (*p != ' ' && *p != '\t')
			skip = drop(p, (size_t)(next - p), arg);
		if (!skip && !buf_add(out, p, (size_t)(next - p)))
			return false;
		p = next;
	}
	return buf_add(out, p, (size_t)(end - p));
}
