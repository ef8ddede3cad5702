/*
 * bounce.c: builds delivery status notifications (RFC 3464 inside an
 * RFC 6522 multipart/report) for the queue: non-delivery reports and delay
 * warnings.  It owns nothing: the caller gives the envelope, the outcomes,
 * the texts and a descriptor of the original message, and spools what
 * comes back.
 *
 * Encoding (seed 7, with the helpers of common/mimeenc.c).  ASCII subject
 * and text go out as they are: a raw Subject: and a text/plain;
 * charset=us-ascii part in 7bit, never base64.
 * Non-ASCII (e.g. Japanese UTF-8): the subject as RFC 2047 "B"
 * encoded-words of at most 42 octets of UTF-8 each (68 characters, under
 * the 75 limit; a character is never split), one per folded line; the
 * text part as charset=UTF-8 in quoted-printable.  Quoted-printable and
 * not 8bit, so the report never depends on the next hop offering
 * 8BITMIME; and not base64, so the ASCII in the part (addresses, status
 * codes, the servers' replies) stays readable in the raw message.
 *
 * Hostile input.  The remote server's reply may hold any bytes at any
 * length: it is reduced to printable US-ASCII (controls and line breaks
 * become one space, each non-ASCII character one '?'), cut at
 * BOUNCE_REPLY_MAX and folded, so it can neither end a field nor start a
 * line of its own.  The original message is copied with CRLF line ends
 * and long lines cut.  The boundary is random and is checked against every
 * part before use (and drawn again if it occurs), so no content can end a
 * part early.  Every line of the output is at most 998 octets.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "bounce.h"
#include "log.h"
#include "mimeenc.h"
#include "xmalloc.h"

#define CRLF		"\r\n"
#define BOUNDARY_TRIES	8
#define RANDOM_OCTETS	16

struct bounce_ctx {
	const struct envelope	 *env;
	const struct bounce_rcpt *rcpt;
	size_t			  nrcpt;
	const struct bounce_params *p;
	const char		 *to;
	char			  from[ADDR_PATH_MAX + 1];
	char			  date[BOUNCE_DATE_MAX];
	char			  msgid[2 * RANDOM_OCTETS + ADDR_DOMAIN_MAX + 32];
	char			  boundary[2 * RANDOM_OCTETS + 16];
	bool			  any_failed;
	bool			  full;
	bool			  text_ascii;
	bool			  smtputf8;
	bool			  eightbit[3];
	struct buf		  part[3];
	struct buf		  orig;
};

static const char *const bounce_errs[BOUNCE_E_MAX] = {
	[BOUNCE_OK] = "ok",
	[BOUNCE_E_NULL_SENDER] = "report would go to the null sender",
	[BOUNCE_E_ADDR] = "bad address",
	[BOUNCE_E_HOSTNAME] = "bad reporting host name",
	[BOUNCE_E_NORCPT] = "no recipient to report",
	[BOUNCE_E_DATE] = "time cannot be formatted",
	[BOUNCE_E_READ] = "cannot read the original message",
	[BOUNCE_E_TOOBIG] = "report too large",
	[BOUNCE_E_BOUNDARY] = "no usable MIME boundary",
};

/* bounce_strerror: text for an error code. */
const char *
bounce_strerror(enum bounce_err e)
{
	if ((unsigned)e >= BOUNCE_E_MAX)
		return "unknown error";
	return bounce_errs[e];
}

/* bounce_params_init: defaults: no original, RET=FULL up to BOUNCE_FULL_MAX. */
void
bounce_params_init(struct bounce_params *p)
{
	memset(p, 0, sizeof(*p));
	p->origfd = -1;
	p->full_max = BOUNCE_FULL_MAX;
}

/* bounce_should_send: false when the message came from <> (seed 11). */
bool
bounce_should_send(const struct envelope *env)
{
	return env != NULL && env->sender != NULL && env->sender[0] != '\0';
}

/*
 * bounce_rcpt_wanted: whether the recipient's RFC 3461 NOTIFY asks for a
 * report of this kind.  Without NOTIFY the default is to report failures
 * (and, at our discretion, delays).
 */
bool
bounce_rcpt_wanted(const struct envelope_rcpt *r, enum bounce_action a)
{
	if (r->notify == 0)
		return true;
	if (r->notify & ENV_NOTIFY_NEVER)
		return false;
	return (r->notify & (a == BOUNCE_FAILED ? ENV_NOTIFY_FAILURE :
	    ENV_NOTIFY_DELAY)) != 0;
}

/*
 * clean_ascii: append s reduced to printable US-ASCII: controls and runs
 * of white space become one space (none at either end), each non-ASCII
 * character (or stray byte) one '?'; cut at max octets with "...".
 */
static bool
clean_ascii(struct buf *b, const uint8_t *s, size_t n, size_t max)
{
	size_t	 i, k, start = b->len;
	bool	 sp = false, ok = true;
	uint8_t	 c;

	for (i = 0; ok && i < n; i += k) {
		c = s[i];
		k = 1;
		if (c >= 0x80) {
			if ((k = mimeenc_utf8_len(s + i, n - i)) == 0)
				k = 1;
			c = '?';
		} else if (c <= ' ' || c == 0x7f) {
			sp = true;
			continue;
		}
		if (b->len - start + 2 > max)
			return buf_addstr(b, "...");
		if (sp && b->len > start)
			ok = buf_addstr(b, " ");
		sp = false;
		ok = ok && buf_add(b, &c, 1);
	}
	return ok;
}

/*
 * bounce_header_text: append "Name: value" CRLF for an unstructured field
 * from UTF-8 text of at most BOUNCE_SUBJECT_MAX octets (mimeenc.c).
 */
bool
bounce_header_text(struct buf *b, const char *name, const char *v, size_t n)
{
	return mimeenc_header_text(b, name, v, n, BOUNCE_SUBJECT_MAX);
}

/* host_ok: a host name (or address literal) safe to write into a field. */
static bool
host_ok(const char *h)
{
	size_t	 n;

	if (h == NULL || (n = strlen(h)) == 0 || n > ADDR_DOMAIN_MAX)
		return false;
	return strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-_:[]") == n;
}

/*
 * addr_ok: a formatted address (local@domain, as addr_format writes it)
 * safe to write between angle brackets: no controls, no '<' '>', valid
 * UTF-8; *utf8 is set when it holds non-ASCII.
 */
static bool
addr_ok(const char *s, bool *utf8)
{
	const uint8_t	*p = (const uint8_t *)s;
	size_t		 n, i, k;

	if (s == NULL || (n = strlen(s)) == 0 || n > ADDR_PATH_MAX)
		return false;
	for (i = 0; i < n; i += k) {
		if ((k = mimeenc_utf8_len(p + i, n - i)) == 0 ||
		    mimeenc_is_ctl(p + i, k) || p[i] == '<' || p[i] == '>')
			return false;
		if (k > 1 && utf8 != NULL)
			*utf8 = true;
	}
	return true;
}

/*
 * status_ok: an RFC 3463 code whose class fits the action: a delay is
 * 4.x.x; a failure is 5.x.x, or 4.x.x when a transient failure lasted
 * past the queue lifetime (4.4.7, delivery time expired).
 */
static bool
status_ok(const char *s, enum bounce_action a)
{
	size_t	 n;

	if (s == NULL || (s[0] != '4' && (a != BOUNCE_FAILED || s[0] != '5')) ||
	    s[1] != '.')
		return false;
	s += 2;
	n = strspn(s, "0123456789");
	if (n < 1 || n > 3 || s[n] != '.')
		return false;
	s += n + 1;
	n = strspn(s, "0123456789");
	return n >= 1 && n <= 3 && s[n] == '\0';
}

/*
 * orcpt_split: the ORCPT's address type ("rfc822" unless the value starts
 * with "type;", as RFC 3461 writes it) into type, and its address.
 */
static const char *
orcpt_split(const char *o, char *type, size_t size)
{
	size_t	 n;

	str_lcpy(type, "rfc822", size);
	if (o == NULL)
		return NULL;
	n = strspn(o, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789-");
	if (n == 0 || n >= size || o[n] != ';')
		return o;
	memcpy(type, o, n);
	type[n] = '\0';
	for (o += n + 1; *o == ' '; o++)
		;
	return o;
}

/* rcpt_status: the recipient's status code, or the generic one. */
static const char *
rcpt_status(const struct bounce_rcpt *r)
{
	if (status_ok(r->status, r->action))
		return r->status;
	return r->action == BOUNCE_FAILED ? "5.0.0" : "4.0.0";
}

/* get_random: n random octets from the caller's source or the system. */
static void
get_random(const struct bounce_params *p, uint8_t *dst, size_t n)
{
	if (p->random != NULL)
		p->random(p->random_arg, dst, n);
	else
		arc4random_buf(dst, n);
}

/* random_hex: 2 * RANDOM_OCTETS hex digits into dst. */
static void
random_hex(const struct bounce_params *p, char *dst, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t		 r[RANDOM_OCTETS];
	size_t		 i;

	if (size < 2 * sizeof(r) + 1)
		fatalx("random_hex: buffer of %zu too small", size);
	get_random(p, r, sizeof(r));
	for (i = 0; i < sizeof(r); i++) {
		dst[2 * i] = hex[r[i] >> 4];
		dst[2 * i + 1] = hex[r[i] & 15];
	}
	dst[2 * sizeof(r)] = '\0';
}

/* reply_text: the cleaned reply (and the peer's name) for the text part. */
static bool
reply_text(struct buf *t, const struct bounce_rcpt *r)
{
	bool	 mta = host_ok(r->remote_mta), ok = true;

	if (mta)
		ok = buf_printf(t, "%s said:", r->remote_mta);
	if (ok && r->reply != NULL && r->replylen > 0) {
		if (!mta)
			ok = buf_addstr(t, "The remote server said:");
		ok = ok && buf_addstr(t, " ") &&
		    clean_ascii(t, r->reply, r->replylen, BOUNCE_REPLY_MAX);
	}
	return ok;
}

/* text_rcpt: one recipient's paragraph of the human-readable part. */
static bool
text_rcpt(struct buf *b, const struct bounce_rcpt *r)
{
	struct buf	 t;
	char		 date[BOUNCE_DATE_MAX], type[32];
	const char	*orcpt = orcpt_split(r->orcpt, type, sizeof(type));
	bool		 ok;

	ok = buf_printf(b, "<%s>", r->addr);
	if (ok && addr_ok(orcpt, NULL) && strcmp(orcpt, r->addr) != 0)
		ok = buf_printf(b, " (originally <%s>)", orcpt);
	buf_init(&t, BOUNCE_REPLY_MAX + 4 * ADDR_PATH_MAX);
	ok = ok && buf_printf(&t, "delivery %s, status %s",
	    r->action == BOUNCE_FAILED ? "failed" : "delayed", rcpt_status(r));
	if (ok && r->action == BOUNCE_DELAYED && r->retry_until != 0 &&
	    date_rfc5322(date, sizeof(date), r->retry_until))
		ok = buf_printf(&t, "; will retry until %s", date);
	ok = ok && buf_addstr(b, CRLF "    ") &&
	    mimeenc_fold_words(b, buf_cstr(&t), 4, "      ") &&
	    buf_addstr(b, CRLF);
	buf_reset(&t);
	if (ok && reply_text(&t, r) && t.len > 0)
		ok = buf_addstr(b, "    ") &&
		    mimeenc_fold_words(b, buf_cstr(&t), 4, "      ") &&
		    buf_addstr(b, CRLF);
	buf_free(&t);
	return ok;
}

/* text_part: the notification text and one paragraph per recipient. */
static bool
text_part(struct bounce_ctx *c)
{
	static const char deffail[] = "Your message could not be delivered "
	    "to one or more recipients.  It will not be retried.";
	static const char defdelay[] = "Your message has not been delivered "
	    "yet.  Delivery is still being tried; you need not send it again.";
	struct buf	*b = &c->part[0];
	const char	*text = c->p->text;
	size_t		 i;
	bool		 ok;

	if (text == NULL)
		text = c->any_failed ? deffail : defdelay;
	ok = mimeenc_clean_utf8(b, (const uint8_t *)text, strlen(text),
	    BOUNCE_TEXT_MAX, MIMEENC_TEXT);
	while (b->len > 0 && (b->data[b->len - 1] == '\n' ||
	    b->data[b->len - 1] == '\r' || b->data[b->len - 1] == ' ' ||
	    b->data[b->len - 1] == '\t'))
		b->len--;
	ok = ok && buf_addstr(b, CRLF);
	for (i = 0; ok && i < c->nrcpt; i++)
		ok = buf_addstr(b, CRLF) && text_rcpt(b, &c->rcpt[i]);
	return ok;
}

/* text_encode: 7bit when the part is ASCII, else quoted-printable. */
static bool
text_encode(struct bounce_ctx *c)
{
	struct buf	 q;
	size_t		 i;

	c->text_ascii = true;
	for (i = 0; i < c->part[0].len; i++)
		if (c->part[0].data[i] >= 0x80)
			c->text_ascii = false;
	if (c->text_ascii)
		return true;
	buf_init(&q, c->part[0].limit);
	if (!mimeenc_qp(&q, c->part[0].data, c->part[0].len)) {
		buf_free(&q);
		return false;
	}
	buf_free(&c->part[0]);
	c->part[0] = q;
	return true;
}

/* dsn_field: "Name: type; " and a cleaned, folded value, CRLF. */
static bool
dsn_field(struct buf *b, const char *name, const char *type, const void *v,
    size_t n)
{
	struct buf	 t;
	bool		 ok;

	buf_init(&t, BOUNCE_REPLY_MAX + 4);
	ok = clean_ascii(&t, v, n, BOUNCE_REPLY_MAX);
	if (ok && t.len > 0)
		ok = buf_printf(b, "%s: %s", name, type) &&
		    mimeenc_fold_words(b, buf_cstr(&t),
		    strlen(name) + 2 + strlen(type), " ") &&
		    buf_addstr(b, CRLF);
	buf_free(&t);
	return ok;
}

/* dsn_rcpt: the per-recipient fields of RFC 3464 2.3. */
static bool
dsn_rcpt(struct buf *b, const struct bounce_rcpt *r)
{
	char		 date[BOUNCE_DATE_MAX], type[32];
	const char	*orcpt = orcpt_split(r->orcpt, type, sizeof(type));
	bool		 ok = true;

	if (addr_ok(orcpt, NULL))
		ok = buf_printf(b, "Original-Recipient: %s; %s" CRLF, type,
		    orcpt);
	ok = ok && buf_printf(b, "Final-Recipient: rfc822; %s" CRLF
	    "Action: %s" CRLF "Status: %s" CRLF, r->addr,
	    r->action == BOUNCE_FAILED ? "failed" : "delayed", rcpt_status(r));
	if (ok && host_ok(r->remote_mta))
		ok = buf_printf(b, "Remote-MTA: dns; %s" CRLF, r->remote_mta);
	if (ok && r->reply != NULL)
		ok = dsn_field(b, "Diagnostic-Code", "smtp; ", r->reply,
		    r->replylen);
	if (ok && r->action == BOUNCE_DELAYED && r->retry_until != 0 &&
	    date_rfc5322(date, sizeof(date), r->retry_until))
		ok = buf_printf(b, "Will-Retry-Until: %s" CRLF, date);
	return ok;
}

/* dsn_part: the message/delivery-status content (RFC 3464 2.2, 2.3). */
static bool
dsn_part(struct bounce_ctx *c)
{
	const struct envelope *env = c->env;
	struct buf	*b = &c->part[1];
	char		 date[BOUNCE_DATE_MAX];
	size_t		 i;
	bool		 ok;

	ok = buf_printf(b, "Reporting-MTA: dns; %s" CRLF, c->p->hostname);
	if (ok && env->id[0] != '\0' &&
	    strspn(env->id, "0123456789abcdef") == strlen(env->id))
		ok = buf_printf(b, "X-Sekisho-Queue-ID: %s" CRLF, env->id);
	if (ok && env->envid != NULL)
		ok = dsn_field(b, "Original-Envelope-Id", "", env->envid,
		    strlen(env->envid));
	if (ok && env->received > 0 &&
	    date_rfc5322(date, sizeof(date), env->received))
		ok = buf_printf(b, "Arrival-Date: %s" CRLF, date);
	for (i = 0; ok && i < c->nrcpt; i++)
		ok = buf_addstr(b, CRLF) && dsn_rcpt(b, &c->rcpt[i]);
	return ok;
}

/* read_fd: up to max octets from the start of fd into b. */
static bool
read_fd(int fd, size_t max, struct buf *b)
{
	uint8_t	 chunk[16384];
	ssize_t	 r;
	size_t	 want;

	while (b->len < max) {
		want = max - b->len < sizeof(chunk) ? max - b->len :
		    sizeof(chunk);
		r = pread(fd, chunk, want, (off_t)b->len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return false;
		if (r == 0)
			break;
		if (!buf_add(b, chunk, (size_t)r))
			return false;
	}
	return true;
}

/*
 * load_orig: the original message, whole when RET allows it (RET=HDRS not
 * given: RFC 3461 leaves RET absent to us, and like Postfix we return the
 * message) and it fits full_max; otherwise its first BOUNCE_HDRS_MAX
 * octets, of which only the header block is used.
 */
static bool
load_orig(struct bounce_ctx *c, const uint8_t **data, size_t *len)
{
	const struct bounce_params *p = c->p;
	struct stat	 st;
	size_t		 size, max;

	*data = NULL;
	*len = 0;
	if (p->origfd >= 0) {
		if (fstat(p->origfd, &st) == -1 || st.st_size < 0)
			return false;
		size = (size_t)st.st_size;
	} else if (p->orig != NULL)
		size = p->origlen;
	else
		return true;
	c->full = !c->env->ret_hdrs && size > 0 && size <= p->full_max;
	max = c->full || size < BOUNCE_HDRS_MAX ? size : BOUNCE_HDRS_MAX;
	if (p->origfd < 0) {
		*data = p->orig;
		*len = max;
		return true;
	}
	buf_init(&c->orig, max);
	if (!read_fd(p->origfd, max, &c->orig))
		return false;
	*data = c->orig.data;
	*len = c->orig.len;
	return true;
}

/*
 * add_line: one line of the original, without NULs, cut into pieces of
 * BOUNCE_LINE_MAX octets (header lines folded with CRLF SP), then CRLF.
 */
static bool
add_line(struct buf *b, const uint8_t *p, size_t n, bool fold, bool *eight)
{
	size_t	 i, j, col = 0, room;
	bool	 ok = true;

	for (i = 0; ok && i < n; i = j) {
		if (p[i] == '\0') {
			j = i + 1;
			continue;
		}
		if (col == BOUNCE_LINE_MAX) {
			ok = buf_addstr(b, fold ? CRLF " " : CRLF);
			col = fold ? 1 : 0;
		}
		room = BOUNCE_LINE_MAX - col;
		for (j = i; j < n && j - i < room && p[j] != '\0'; j++)
			if (p[j] >= 0x80)
				*eight = true;
		ok = ok && buf_add(b, p + i, j - i);
		col += j - i;
	}
	return ok && buf_addstr(b, CRLF);
}

/* orig_part: the original's header block, or the whole of it, as lines. */
static bool
orig_part(struct bounce_ctx *c, const uint8_t *p, size_t n)
{
	size_t	 i, e, next;
	bool	 inhdr = true, ok = true;

	for (i = 0; ok && i < n; i = next) {
		for (e = i; e < n && p[e] != '\r' && p[e] != '\n'; e++)
			;
		next = e;
		if (e < n)
			next += p[e] == '\r' && e + 1 < n && p[e + 1] == '\n' ?
			    2 : 1;
		if (inhdr && e == i) {
			if (!c->full)
				break;
			inhdr = false;
		}
		ok = add_line(&c->part[2], p + i, e - i, inhdr, &c->eightbit[2]);
	}
	return ok;
}

/* choose_boundary: a random boundary that occurs in none of the parts. */
static bool
choose_boundary(struct bounce_ctx *c)
{
	char	 hex[2 * RANDOM_OCTETS + 1];
	size_t	 i, t, blen;
	bool	 clash;

	for (t = 0; t < BOUNDARY_TRIES; t++) {
		random_hex(c->p, hex, sizeof(hex));
		if (!str_printf(c->boundary, sizeof(c->boundary),
		    "=_sekisho_%s", hex))
			fatalx("choose_boundary: boundary too long");
		blen = strlen(c->boundary);
		clash = false;
		for (i = 0; i < nitems(c->part); i++)
			if (c->part[i].len > 0 && memmem(c->part[i].data,
			    c->part[i].len, c->boundary, blen) != NULL)
				clash = true;
		if (!clash)
			return true;
	}
	return false;
}

/* top_headers: the report's own header block, ending with the empty line. */
static bool
top_headers(struct bounce_ctx *c, struct buf *b)
{
	const char	*subject = c->p->subject;

	if (subject == NULL)
		subject = c->any_failed ?
		    "Delivery Status Notification (Failure)" :
		    "Delivery Status Notification (Delay)";
	return buf_printf(b, "Date: %s" CRLF, c->date) &&
	    buf_printf(b, "From: Mail Delivery System <%s>" CRLF, c->from) &&
	    buf_printf(b, "To: <%s>" CRLF, c->to) &&
	    bounce_header_text(b, "Subject", subject, strlen(subject)) &&
	    buf_printf(b, "Message-ID: %s" CRLF, c->msgid) &&
	    buf_addstr(b, "Auto-Submitted: auto-replied" CRLF
	    "MIME-Version: 1.0" CRLF
	    "Content-Type: multipart/report; report-type=delivery-status;"
	    CRLF) &&
	    buf_printf(b, "\tboundary=\"%s\"" CRLF CRLF, c->boundary);
}

/* part_headers: the header block of part i, ending with the empty line. */
static bool
part_headers(struct bounce_ctx *c, struct buf *b, size_t i)
{
	bool	 ok;

	switch (i) {
	case 0:
		ok = buf_addstr(b, c->text_ascii ?
		    "Content-Type: text/plain; charset=us-ascii" CRLF
		    "Content-Transfer-Encoding: 7bit" CRLF :
		    "Content-Type: text/plain; charset=UTF-8" CRLF
		    "Content-Transfer-Encoding: quoted-printable" CRLF) &&
		    buf_addstr(b, "Content-Description: Notification" CRLF);
		break;
	case 1:
		ok = buf_addstr(b, "Content-Type: message/delivery-status" CRLF
		    "Content-Description: Delivery report" CRLF);
		break;
	default:
		ok = buf_addstr(b, c->full ?
		    "Content-Type: message/rfc822" CRLF
		    "Content-Description: Undelivered message" CRLF :
		    "Content-Type: text/rfc822-headers" CRLF
		    "Content-Description: Undelivered message headers" CRLF);
		break;
	}
	if (ok && c->eightbit[i])
		ok = buf_addstr(b, "Content-Transfer-Encoding: 8bit" CRLF);
	return ok && buf_addstr(b, CRLF);
}

/* assemble: headers, the three parts between boundaries, the close. */
static bool
assemble(struct bounce_ctx *c, struct buf *out)
{
	size_t	 i;
	bool	 ok;

	ok = top_headers(c, out) && buf_addstr(out, "This is a delivery "
	    "status notification (RFC 3464) in MIME format." CRLF);
	for (i = 0; ok && i < nitems(c->part); i++)
		ok = buf_printf(out, CRLF "--%s" CRLF, c->boundary) &&
		    part_headers(c, out, i) &&
		    buf_add(out, c->part[i].data, c->part[i].len);
	return ok && buf_printf(out, CRLF "--%s--" CRLF, c->boundary);
}

/* check_args: addresses, host name and date, before any work. */
static enum bounce_err
check_args(struct bounce_ctx *c)
{
	const struct bounce_params *p = c->p;
	size_t	 i;
	bool	 utf8 = false;

	c->to = p->to != NULL ? p->to : c->env->sender;
	if (c->to == NULL || c->to[0] == '\0' || strcmp(c->to, "<>") == 0)
		return BOUNCE_E_NULL_SENDER;
	if (!addr_ok(c->to, &c->smtputf8))
		return BOUNCE_E_ADDR;
	if (!host_ok(p->hostname))
		return BOUNCE_E_HOSTNAME;
	if (p->from != NULL ? str_lcpy(c->from, p->from, sizeof(c->from)) >=
	    sizeof(c->from) : !str_printf(c->from, sizeof(c->from),
	    "MAILER-DAEMON@%s", p->hostname))
		return BOUNCE_E_ADDR;
	if (!addr_ok(c->from, &utf8) || utf8)
		return BOUNCE_E_ADDR;
	if (c->nrcpt == 0)
		return BOUNCE_E_NORCPT;
	for (i = 0; i < c->nrcpt; i++) {
		if (!addr_ok(c->rcpt[i].addr, NULL))
			return BOUNCE_E_ADDR;
		if (c->rcpt[i].action == BOUNCE_FAILED)
			c->any_failed = true;
	}
	if (!date_rfc5322(c->date, sizeof(c->date), p->now))
		return BOUNCE_E_DATE;
	return BOUNCE_OK;
}

/* make_parts: the three parts' contents and the boundary. */
static enum bounce_err
make_parts(struct bounce_ctx *c, size_t limit)
{
	const uint8_t	*orig;
	size_t		 i, origlen;
	char		 hex[2 * RANDOM_OCTETS + 1];

	for (i = 0; i < nitems(c->part); i++)
		buf_init(&c->part[i], limit);
	if (!load_orig(c, &orig, &origlen))
		return BOUNCE_E_READ;
	if (!text_part(c) || !text_encode(c) || !dsn_part(c) ||
	    !orig_part(c, orig, origlen))
		return BOUNCE_E_TOOBIG;
	c->eightbit[1] = mem_8bit(c->part[1].data, c->part[1].len);
	random_hex(c->p, hex, sizeof(hex));
	if (!str_printf(c->msgid, sizeof(c->msgid), "<%lld.%.16s@%s>",
	    (long long)c->p->now, hex, c->p->hostname))
		fatalx("make_parts: Message-ID too long");
	if (!choose_boundary(c))
		return BOUNCE_E_BOUNDARY;
	return BOUNCE_OK;
}

/*
 * bounce_build: append the complete report to out (whose limit bounds
 * it): RFC 3464 delivery-status notification for the recipients in r,
 * about the message with envelope env.  On error out is unchanged.
 */
enum bounce_err
bounce_build(const struct envelope *env, const struct bounce_rcpt *r,
    size_t nr, const struct bounce_params *p, struct buf *out,
    struct bounce_result *res)
{
	struct bounce_ctx c;
	enum bounce_err	 e;
	size_t		 i, start = out->len;

	memset(&c, 0, sizeof(c));
	memset(res, 0, sizeof(*res));
	c.env = env;
	c.rcpt = r;
	c.nrcpt = nr;
	c.p = p;
	if ((e = check_args(&c)) == BOUNCE_OK)
		e = make_parts(&c, out->limit);
	if (e == BOUNCE_OK && !assemble(&c, out))
		e = BOUNCE_E_TOOBIG;
	if (e == BOUNCE_OK) {
		res->full = c.full;
		res->smtputf8 = c.smtputf8;
		res->body_8bit = c.eightbit[1] || c.eightbit[2];
	} else
		out->len = start;
	for (i = 0; i < nitems(c.part); i++)
		buf_free(&c.part[i]);
	buf_free(&c.orig);
	return e;
}

/*
 * bounce_envelope: the envelope to spool the report under: null sender
 * <>, one recipient (params.to or the original sender), size octets.
 * Never addressed to <> (seed 35).  The queue assigns the id.
 */
enum bounce_err
bounce_envelope(const struct envelope *orig, const struct bounce_params *p,
    const struct bounce_result *res, uint64_t size, struct envelope *out)
{
	const char	*to = p->to != NULL ? p->to : orig->sender;

	if (to == NULL || to[0] == '\0' || strcmp(to, "<>") == 0)
		return BOUNCE_E_NULL_SENDER;
	if (!addr_ok(to, NULL))
		return BOUNCE_E_ADDR;
	envelope_init(out);
	out->received = p->now;
	out->sender = xstrdup("");
	out->size = size;
	out->smtputf8 = res->smtputf8;
	out->body_8bit = res->body_8bit;
	out->ret_hdrs = true;
	envelope_add_rcpt(out, to, NULL, 0);
	return BOUNCE_OK;
}
