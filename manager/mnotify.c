/*
 * mnotify.c: the manager's system event notices (see mnotify.h): the
 * message (Date: in local time with its numeric offset, seed 23; never an
 * empty To:, seed 35), the rate limit per event kind and service, and the
 * strict parse of one SMTP reply line from the local sekisho-smtpd.
 *
 * Owns nothing but the caller's struct mnotify_rl.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "mimeenc.h"
#include "mnotify.h"
#include "notify.h"

#define CRLF		"\r\n"
#define LINE_MAX_OCT	998		/* RFC 5322 2.1.1 */

/* mnotify_kind_name: a kind as logs and subjects show it. */
const char *
mnotify_kind_name(enum mnotify_kind k)
{
	switch (k) {
	case MNOTIFY_DIED:
		return "service-died";
	case MNOTIFY_FLAPPING:
		return "service-flapping";
	case MNOTIFY_DISK:
		return "disk-full";
	case MNOTIFY_QUEUE:
		return "queue-growing";
	case MNOTIFY_SCANFAIL:
		return "scan-failures";
	case MNOTIFY_NKINDS:
		break;
	}
	return "?";
}

/*
 * mnotify_rl_event: an event of kind k about service key (MNOTIFY_HOST:
 * none) at now (monotonic ms) and wall time wall.  true: mail it now;
 * *held is the number of events held back since the last notice of the
 * pair (the first at *since).  false: held back, counted.  interval_ms 0
 * never mails.
 */
bool
mnotify_rl_event(struct mnotify_rl *rl, enum mnotify_kind k, unsigned key,
    int64_t now, time_t wall, int64_t interval_ms, unsigned *held,
    time_t *since)
{
	struct mnotify_slot *s;

	if ((unsigned)k >= MNOTIFY_NKINDS || key > MNOTIFY_HOST)
		fatalx("mnotify_rl_event: kind %d key %u", (int)k, key);
	s = &rl->v[k][key];
	*held = 0;
	*since = 0;
	if (interval_ms <= 0)
		return false;
	if (s->sent && now - s->last_ms < interval_ms) {
		if (s->held++ == 0)
			s->held_since = wall;
		return false;
	}
	*held = s->held;
	*since = s->held_since;
	s->sent = true;
	s->last_ms = now;
	s->held = 0;
	s->held_since = 0;
	return true;
}

/*
 * mnotify_addr: s as a canonical address in dst; a bare local part
 * ("postmaster", the default admin_email) gets @host.  NULL, or why not:
 * never the null address (seed 35).
 */
const char *
mnotify_addr(const char *s, const char *host, char *dst, size_t size)
{
	char		 full[ADDR_STR_MAX];

	if (s != NULL && s[0] != '\0' && strcmp(s, "<>") != 0 &&
	    strchr(s, '@') == NULL) {
		if (!str_printf(full, sizeof(full), "%s@%s", s, host))
			return "too long";
		s = full;
	}
	/* ASCII only: the notice is a 7-bit message. */
	return notify_addr_check(s, false, dst, size);
}

/*
 * mnotify_body: text as 7-bit CRLF lines of at most 998 octets, ending
 * in one CRLF; any byte that is not printable ASCII or a tab becomes '?'.
 */
static bool
mnotify_body(struct buf *out, const char *text)
{
	const unsigned char *p;
	size_t		 col = 0;
	bool		 ok = true;
	char		 c;

	for (p = (const unsigned char *)text; ok && *p != '\0'; p++) {
		if (*p == '\r' && p[1] == '\n')
			continue;
		if (*p == '\n') {
			ok = buf_addstr(out, CRLF);
			col = 0;
			continue;
		}
		if (col == LINE_MAX_OCT) {
			ok = buf_addstr(out, CRLF);
			col = 0;
		}
		c = (*p == '\t' || (*p >= 0x20 && *p < 0x7f)) ? (char)*p : '?';
		ok = ok && buf_add(out, &c, 1);
		col++;
	}
	/* col 0: empty, or the text ended with its line break. */
	return ok && (col == 0 || buf_addstr(out, CRLF));
}

/*
 * mnotify_build: append to out a complete notice (CRLF lines, 7-bit)
 * from from to to, Message-ID in host, dated now (local time with the
 * numeric offset, seed 23).  from and to must be checked addresses
 * (mnotify_addr).  0, or -1 with err and out unchanged.
 */
int
mnotify_build(struct buf *out, const char *from, const char *to,
    const char *host, time_t now, const struct mnotify_text *t, char *err,
    size_t errlen)
{
	char		 date[64], msgid[300];
	const char	*why = NULL;
	size_t		 start = out->len;

	if (from == NULL || from[0] == '\0' || to == NULL || to[0] == '\0' ||
	    strcmp(to, "<>") == 0)
		why = "no From: or To: address (seed 35)";
	else if (!date_rfc5322(date, sizeof(date), now))
		why = "the date cannot be formatted";
	else if (!notify_msgid_make(msgid, sizeof(msgid), host))
		why = "no Message-ID (RAND_bytes or host name)";
	else if (!buf_printf(out, "Date: %s" CRLF "From: %s" CRLF "To: %s"
	    CRLF, date, from, to) ||
	    !mimeenc_header_text(out, "Subject", t->subject,
	    strlen(t->subject), 900) ||
	    !buf_printf(out, "Message-ID: %s" CRLF "MIME-Version: 1.0" CRLF
	    "Content-Type: text/plain; charset=us-ascii" CRLF
	    "Content-Transfer-Encoding: 7bit" CRLF
	    "Auto-Submitted: auto-generated" CRLF CRLF, msgid) ||
	    !mnotify_body(out, t->body))
		why = "message too long";
	if (why == NULL)
		return 0;
	out->len = start;
	(void)str_printf(err, errlen, "mnotify_build: %s", why);
	return -1;
}

/*
 * mnotify_reply_line: one line of an SMTP reply (without its CRLF) from
 * a peer we do not trust: "DDD", "DDD text" or "DDD-text", the code 200
 * to 599, printable ASCII or tabs only, at most MNOTIFY_REPLY_LINE_MAX
 * octets.  0 with *code and *more (a "-" line: more follow), or -1.
 */
int
mnotify_reply_line(const char *l, size_t len, int *code, bool *more)
{
	size_t	 i;

	if (len < 3 || len > MNOTIFY_REPLY_LINE_MAX)
		return -1;
	for (i = 0; i < 3; i++)
		if (!isdigit((unsigned char)l[i]))
			return -1;
	if (l[0] < '2' || l[0] > '5')
		return -1;
	if (len > 3 && l[3] != ' ' && l[3] != '-')
		return -1;
	for (i = 3; i < len; i++)
		if (l[i] != '\t' && (l[i] < 0x20 || l[i] > 0x7e))
			return -1;
	*code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	*more = len > 3 && l[3] == '-';
	return 0;
}
