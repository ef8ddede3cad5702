/*
 * mimeenc.c: encoding of generated messages (delivery reports, policy
 * notifications): UTF-8 text made safe for a header or a body, header
 * folding, RFC 2047 encoded-words and quoted-printable.  Pure functions
 * over struct buf; it owns nothing.
 *
 * Encoding (seed 7).  An ASCII header value goes out as it is, folded at
 * spaces; a non-ASCII one as RFC 2047 "B" encoded-words of at most 42
 * octets of UTF-8 each (68 characters, under the 75 limit; a character is
 * never split), one per folded line.  Text that is not ASCII goes into a
 * body as quoted-printable, so it never depends on the next hop offering
 * 8BITMIME, and its ASCII stays readable in the raw message.
 *
 * Hostile input.  Values may come from mail (subjects, file names, remote
 * replies): controls and line breaks in a header value become one space,
 * malformed UTF-8 becomes '?', so a value can neither end a field nor
 * start one of its own, and every line stays within 998 octets.
 */
#include <stdint.h>
#include <string.h>

#include "mimeenc.h"

#define CRLF		"\r\n"
#define EW_OCTETS	42	/* UTF-8 octets per encoded-word (56 base64) */
#define QP_WIDTH	75	/* quoted-printable line, before the soft "=" */

/* mimeenc_utf8_len: octets of the well-formed UTF-8 character at p, 0: none. */
size_t
mimeenc_utf8_len(const uint8_t *p, size_t n)
{
	size_t		 len, i;
	uint32_t	 c;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (len == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return len;
}

/* mimeenc_is_ctl: the character (k octets at c) is a C0, DEL or C1 control. */
bool
mimeenc_is_ctl(const uint8_t *c, size_t k)
{
	if (k == 1)
		return c[0] < 0x20 || c[0] == 0x7f;
	return k == 2 && c[0] == 0xc2 && c[1] < 0xa0;
}

/*
 * mimeenc_clean_utf8: append at most max octets of s as well-formed UTF-8
 * (a byte that starts no valid character becomes '?').  MIMEENC_LINE:
 * controls and runs of white space become one space, none at either end.
 * MIMEENC_TEXT: CR, LF and CRLF become CRLF, tab stays, other controls go,
 * and a line is cut before it passes MIMEENC_LINE_MAX octets.
 */
bool
mimeenc_clean_utf8(struct buf *b, const uint8_t *s, size_t n, size_t max,
    enum mimeenc_clean m)
{
	static const uint8_t q = '?';
	const uint8_t	*c;
	size_t		 i, k, w, col = 0, start = b->len;
	bool		 sp = false, ok = true;

	for (i = 0; ok && i < n; i += k) {
		c = s + i;
		if ((k = w = mimeenc_utf8_len(c, n - i)) == 0) {
			k = w = 1;
			c = &q;
		}
		if (m == MIMEENC_TEXT && (*c == '\r' || *c == '\n')) {
			if (*c == '\r' && i + 1 < n && s[i + 1] == '\n')
				k = 2;
			if (b->len - start + 2 > max)
				break;
			ok = buf_addstr(b, CRLF);
			col = 0;
			continue;
		}
		if (m == MIMEENC_LINE && (*c == ' ' || mimeenc_is_ctl(c, w))) {
			sp = true;
			continue;
		}
		if (m == MIMEENC_TEXT && *c != '\t' && mimeenc_is_ctl(c, w))
			continue;
		if (b->len - start + w + (sp ? 1 : 0) > max)
			break;
		if (sp && b->len > start)
			ok = buf_addstr(b, " ");
		sp = false;
		if (m == MIMEENC_TEXT && col + w > MIMEENC_LINE_MAX) {
			ok = ok && buf_addstr(b, CRLF);
			col = 0;
		}
		ok = ok && buf_add(b, c, w);
		col += w;
	}
	return ok;
}

/*
 * mimeenc_fold_words: append s (words separated by single spaces) from
 * column col: a word that would pass MIMEENC_FOLD_WIDTH goes on a new line
 * (CRLF plus indent, in place of the space), a word that alone would pass
 * MIMEENC_LINE_MAX is cut between characters.  No CRLF at the end.
 */
bool
mimeenc_fold_words(struct buf *b, const char *s, size_t col,
    const char *indent)
{
	size_t	 ilen = strlen(indent), wlen, n;
	bool	 ok = true, first = true;

	while (ok && *s != '\0') {
		wlen = strcspn(s, " ");
		if (!first && col + 1 + wlen > MIMEENC_FOLD_WIDTH) {
			ok = buf_addstr(b, CRLF) && buf_addstr(b, indent);
			col = ilen;
		} else if (!first) {
			ok = buf_addstr(b, " ");
			col++;
		}
		first = false;
		while (ok && col + wlen > MIMEENC_LINE_MAX) {
			n = MIMEENC_LINE_MAX - col;
			while (n > 1 && ((uint8_t)s[n] & 0xc0) == 0x80)
				n--;
			ok = buf_add(b, s, n) && buf_addstr(b, CRLF) &&
			    buf_addstr(b, indent);
			col = ilen;
			s += n;
			wlen -= n;
		}
		ok = ok && buf_add(b, s, wlen);
		col += wlen;
		s += wlen;
		if (*s == ' ')
			s++;
	}
	return ok;
}

/* b64_add: append n octets in base64 (RFC 4648), padded. */
static bool
b64_add(struct buf *b, const uint8_t *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char		 q[4];
	uint32_t	 v;
	size_t		 i;

	for (i = 0; i < n; i += 3) {
		v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		if (!buf_add(b, q, sizeof(q)))
			return false;
	}
	return true;
}

/*
 * encode_words: append well-formed UTF-8 s as RFC 2047 encoded-words, one
 * per line (the first after a space, the others after CRLF SP), each of at
 * most EW_OCTETS octets and never splitting a character.
 */
static bool
encode_words(struct buf *b, const uint8_t *s, size_t n)
{
	size_t	 i, k, c;
	bool	 ok = true;

	for (i = 0; ok && i < n; i += k) {
		for (k = 0; i + k < n; k += c) {
			if ((c = mimeenc_utf8_len(s + i + k, n - i - k)) == 0)
				c = 1;
			if (k + c > EW_OCTETS)
				break;
		}
		ok = buf_addstr(b, i == 0 ? " " : CRLF " ") &&
		    buf_addstr(b, "=?UTF-8?B?") && b64_add(b, s + i, k) &&
		    buf_addstr(b, "?=");
	}
	return ok;
}

/* raw_ok: a cleaned header value may go out as it is (printable ASCII). */
static bool
raw_ok(const char *s, size_t namelen)
{
	size_t	 i, w = 0;

	for (i = 0; s[i] != '\0'; i++) {
		if ((uint8_t)s[i] < ' ' || (uint8_t)s[i] > '~')
			return false;
		if (s[i] == '=' && s[i + 1] == '?')
			return false;	/* would read as an encoded-word */
		w = s[i] == ' ' ? 0 : w + 1;
		if (namelen + 2 + w > MIMEENC_LINE_MAX)
			return false;
	}
	return true;
}

/*
 * mimeenc_header_text: append "Name: value" CRLF for an unstructured field
 * (Subject:) from UTF-8 text: cleaned to one line of at most max octets,
 * raw and folded when it is ASCII, RFC 2047 encoded-words otherwise.
 */
bool
mimeenc_header_text(struct buf *b, const char *name, const char *v, size_t n,
    size_t max)
{
	struct buf	 t;
	size_t		 nlen = strlen(name);
	bool		 ok;

	buf_init(&t, max + 1);
	ok = mimeenc_clean_utf8(&t, (const uint8_t *)v, n, max, MIMEENC_LINE) &&
	    buf_printf(b, "%s:", name);
	if (ok && t.len > 0 && raw_ok(buf_cstr(&t), nlen))
		ok = buf_addstr(b, " ") &&
		    mimeenc_fold_words(b, buf_cstr(&t), nlen + 2, " ");
	else if (ok && t.len > 0)
		ok = encode_words(b, t.data, t.len);
	buf_free(&t);
	return ok && buf_addstr(b, CRLF);
}

/*
 * mimeenc_qp: append CRLF-separated text as quoted-printable (RFC 2045
 * 6.7), soft line breaks only between characters, lines of at most 76.
 */
bool
mimeenc_qp(struct buf *b, const uint8_t *p, size_t n)
{
	size_t	 i, j, k, col = 0, w;
	bool	 lit, ok = true;

	for (i = 0; ok && i < n; i += k) {
		if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') {
			ok = buf_addstr(b, CRLF);
			col = 0;
			k = 2;
			continue;
		}
		if ((k = mimeenc_utf8_len(p + i, n - i)) == 0)
			k = 1;
		lit = k == 1 && ((p[i] >= '!' && p[i] <= '~' && p[i] != '=') ||
		    ((p[i] == ' ' || p[i] == '\t') && i + 1 < n &&
		    p[i + 1] != '\r'));
		w = lit ? 1 : 3 * k;
		if (col + w > QP_WIDTH) {
			ok = buf_addstr(b, "=" CRLF);
			col = 0;
		}
		if (lit)
			ok = ok && buf_add(b, p + i, 1);
		for (j = 0; !lit && ok && j < k; j++)
			ok = buf_printf(b, "=%02X", p[i + j]);
		col += w;
	}
	return ok;
}

