/*
 * mta_session.c: one outbound SMTP connection (RFC 5321 client, RFC 3207
 * STARTTLS, RFC 2920 PIPELINING, RFC 3030 CHUNKING, RFC 1870 SIZE).
 *
 * Owns the socket, its bufferevent (plain, then OpenSSL after STARTTLS),
 * the timer, the state machine and, while it carries one, a delivery
 * request.  Every byte the peer sends is outside input: replies go through
 * mta_reply_line() (bounded lines, bounded replies, strict syntax; garbage
 * closes the connection with a temporary failure) and are logged escaped.
 *
 * Targets: tried in order until one greets and completes EHLO/HELO (and
 * STARTTLS when the policy requires it).  A refused or timed-out connect,
 * a 4xx or 5xx greeting, a refused EHLO and HELO, a missing STARTTLS or a
 * failed handshake under encrypt/verify all move on to the next target;
 * the last reason becomes the temporary failure of the waiting requests
 * when none is left (docs/delivery.md: "tried in order until one
 * greets").  Under "may", a failed handshake retries the same target once
 * without TLS (a peer with broken TLS still gets its mail).
 *
 * Content: streamed from the spool descriptor with pread in chunks, never
 * the whole message in memory; the output buffer is kept under
 * MTA_OUT_HIWAT and refilled when the write watermark fires.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf.h"
#include "log.h"
#include "mta.h"
#include "mta_session.h"
#include "tls.h"
#include "util.h"
#include "xmalloc.h"

#define MTA_READ_CHUNK		(16 * 1024)	/* pread size for DATA */
#define MTA_BDAT_CHUNK		(64 * 1024)	/* bytes per BDAT */
#define MTA_OUT_HIWAT		(256 * 1024)	/* stop filling above */
#define MTA_OUT_LOWAT		(64 * 1024)	/* refill below */
#define MTA_QUIT_SECONDS	5		/* wait for QUIT's reply */

enum mta_session_state {
	MTA_S_INIT = 0,		/* about to try the next target */
	MTA_S_CONNECT,		/* TCP connect in progress */
	MTA_S_GREETING,		/* waiting for 220 */
	MTA_S_EHLO,
	MTA_S_HELO,
	MTA_S_STARTTLS,		/* STARTTLS sent, waiting for 220 */
	MTA_S_TLS,		/* handshake */
	MTA_S_READY,		/* idle: the owner decides */
	MTA_S_PARKED,		/* idle in the connection cache */
	MTA_S_TX,		/* MAIL, RCPT, DATA replies pending */
	MTA_S_BODY,		/* content after 354 */
	MTA_S_BDAT,		/* one BDAT chunk out, its reply pending */
	MTA_S_DATA_DONE,	/* the end-of-data reply */
	MTA_S_RSET,
	MTA_S_QUIT,
	MTA_S_DEAD,		/* waiting to be freed */
};

static const char *const mta_session_state_names[] = {
	"init", "connect", "greeting", "ehlo", "helo", "starttls", "tls",
	"ready", "parked", "tx", "body", "bdat", "data-done", "rset", "quit",
	"dead",
};

struct mta_session {
	TAILQ_ENTRY(mta_session) entry;
	struct mta_session_conf	 conf;
	char			*helo;
	char			*dest;
	uint32_t		 id;
	struct mta_target	*targets;
	size_t			 ntargets, cur;
	bool			 no_tls;	/* "may": retry without TLS */

	int			 fd;
	bool			 fd_in_bev;
	struct bufferevent	*bev;
	SSL			*ssl;		/* owned by bev when set */
	bool			 tls;
	char			 tlsinfo[128];
	enum mta_session_state	 state;
	bool			 was_ready;
	bool			 attached;	/* the owner knows it */
	struct event		*timer;
	struct event		*ev_reap;
	struct mta_reply	 reply;
	struct mta_caps		 caps;
	char			 remote[MTA_REMOTE_MAX];
	char			 eremote[LOG_ESC_MAX];	/* escaped for logs */
	char			 edest[LOG_ESC_MAX];
	struct mta_fail		 last;		/* why the last target failed */
	unsigned		 nmessages;

	/* The transaction. */
	struct mta_req		*req;
	bool			 pipelining, chunking;
	size_t			 ncmds, cmd_sent, cmd_replied;
	size_t			 naccepted;
	bool			 mail_failed;
	bool			 discard;	/* 354 without recipients */
	bool			 last_chunk;
	uint64_t		 off;		/* content bytes sent */
	struct mta_stuff	 stuff;
	uint8_t			*rbuf;		/* MTA_BDAT_CHUNK */
	uint8_t			*sbuf;		/* 2 * MTA_READ_CHUNK */
};

static TAILQ_HEAD(, mta_session) mta_sessions =
    TAILQ_HEAD_INITIALIZER(mta_sessions);

static void	mta_session_read_cb(struct bufferevent *, void *);
static void	mta_session_write_cb(struct bufferevent *, void *);
static void	mta_session_event_cb(struct bufferevent *, short, void *);
static void	mta_session_close(struct mta_session *, const char *,
		    const struct mta_fail *);
static void	mta_session_connect_next(struct mta_session *);
static void	mta_session_detach_quit(struct mta_session *);
static void	mta_session_target_failed(struct mta_session *, const char *,
		    const char *, bool);

/*
 * ------------------------------------------------------------------------
 * Replies and capabilities (pure).
 * ------------------------------------------------------------------------
 */

void
mta_reply_init(struct mta_reply *r)
{
	memset(r, 0, sizeof(*r));
}

/* mta_reply_add: append sanitised text, cutting at MTA_REPLY_MAX. */
static void
mta_reply_add(struct mta_reply *r, const char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (r->len >= MTA_REPLY_MAX) {
			r->truncated = true;
			break;
		}
		r->text[r->len++] = (p[i] < 0x20 || p[i] >= 0x7f) ? '?' : p[i];
	}
	r->text[r->len] = '\0';
}

/* mta_reply_digits: 1..3 digits at p (len n); returns how many. */
static size_t
mta_reply_digits(const char *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n && i < 4 && p[i] >= '0' && p[i] <= '9'; i++)
		;
	return (i >= 1 && i <= 3) ? i : 0;
}

/*
 * mta_reply_enhanced: the RFC 3463 code at the start of p (class digit
 * must be the reply's class), followed by a space or the end, into dsn.
 */
static void
mta_reply_enhanced(struct mta_reply *r, const char *p, size_t n)
{
	size_t	 i = 0, d;

	if (n < 5 || p[0] != '0' + r->code / 100 || p[1] != '.')
		return;
	i = 2;
	if ((d = mta_reply_digits(p + i, n - i)) == 0 || i + d >= n ||
	    p[i + d] != '.')
		return;
	i += d + 1;
	if ((d = mta_reply_digits(p + i, n - i)) == 0)
		return;
	i += d;
	if (i < n && p[i] != ' ')
		return;
	if (i < sizeof(r->dsn)) {
		memcpy(r->dsn, p, i);
		r->dsn[i] = '\0';
	}
}

/*
 * mta_reply_line: one reply line (without its line end).  DONE when it
 * was the last line of the reply, MORE for a continuation line, ERROR
 * (with *err) when the line is not part of a valid reply.
 */
enum mta_reply_status
mta_reply_line(struct mta_reply *r, const char *line, size_t len,
    const char **err)
{
	int	 code;

	*err = NULL;
	if (len > MTA_LINE_MAX) {
		*err = "reply line too long";
		return MTA_REPLY_ERROR;
	}
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '9' || line[2] < '0' || line[2] > '9') {
		*err = "malformed reply code";
		return MTA_REPLY_ERROR;
	}
	if (len > 3 && line[3] != ' ' && line[3] != '-') {
		*err = "malformed reply separator";
		return MTA_REPLY_ERROR;
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (r->nlines == 0) {
		r->code = code;
		if (len > 4)
			mta_reply_enhanced(r, line + 4, len - 4);
	} else if (code != r->code) {
		*err = "reply code changed within a reply";
		return MTA_REPLY_ERROR;
	}
	if (++r->nlines > MTA_REPLY_LINES_MAX) {
		*err = "too many reply lines";
		return MTA_REPLY_ERROR;
	}
	if (r->len > 0)
		mta_reply_add(r, " ", 1);
	mta_reply_add(r, line, len);
	return (len > 3 && line[3] == '-') ? MTA_REPLY_MORE : MTA_REPLY_DONE;
}

/* mta_reply_dsn: the reply's enhanced code, or "X.0.0" from its class. */
void
mta_reply_dsn(const struct mta_reply *r, char *dst, size_t size)
{
	if (r->dsn[0] != '\0')
		str_lcpy(dst, r->dsn, size);
	else
		(void)str_printf(dst, size, "%d.0.0",
		    r->code >= 200 && r->code < 600 ? r->code / 100 : 4);
}

/* mta_caps_word: p (len n) starts with keyword w then ends or a space. */
static bool
mta_caps_word(const char *p, size_t n, const char *w, size_t *wl)
{
	size_t	 l = strlen(w);

	if (n < l || strncasecmp(p, w, l) != 0 || (n > l && p[l] != ' '))
		return false;
	*wl = l;
	return true;
}

/*
 * mta_caps_line: one EHLO keyword line (the text after "250-" or "250 ")
 * into caps.  Unknown keywords are ignored; "SIZE" without a usable number
 * means no announced limit.
 */
void
mta_caps_line(struct mta_caps *c, const char *p, size_t n)
{
	static const struct {
		const char	*word;
		unsigned	 flag;
	} words[] = {
		{ "PIPELINING", MTA_CAP_PIPELINING },
		{ "8BITMIME", MTA_CAP_8BITMIME },
		{ "SMTPUTF8", MTA_CAP_SMTPUTF8 },
		{ "STARTTLS", MTA_CAP_STARTTLS },
		{ "CHUNKING", MTA_CAP_CHUNKING },
		{ "ENHANCEDSTATUSCODES", MTA_CAP_ENHANCED },
	};
	uint64_t	 v = 0;
	size_t		 i, l;

	for (i = 0; i < nitems(words); i++)
		if (mta_caps_word(p, n, words[i].word, &l)) {
			c->flags |= words[i].flag;
			return;
		}
	if (!mta_caps_word(p, n, "SIZE", &l))
		return;
	c->flags |= MTA_CAP_SIZE;
	c->size = 0;
	for (i = l + 1; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return;		/* absurd: treat as no limit */
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (i == n)
		c->size = v;
}

/*
 * ------------------------------------------------------------------------
 * Dot-stuffing (pure).
 * ------------------------------------------------------------------------
 */

void
mta_stuff_init(struct mta_stuff *st)
{
	st->bol = true;
	st->cr = false;
	st->empty = true;
}

/*
 * mta_stuff_feed: n content bytes into out (room for 2 * n): a "." at the
 * start of a line (after CRLF) gets another one in front.
 */
size_t
mta_stuff_feed(struct mta_stuff *st, const uint8_t *in, size_t n,
    uint8_t *out)
{
	size_t	 i, o = 0;

	for (i = 0; i < n; i++) {
		if (st->bol && in[i] == '.')
			out[o++] = '.';
		out[o++] = in[i];
		st->bol = st->cr && in[i] == '\n';
		st->cr = in[i] == '\r';
	}
	if (n > 0)
		st->empty = false;
	return o;
}

/*
 * mta_stuff_end: the terminator into out (MTA_STUFF_END_MAX bytes): a CRLF
 * first unless the content is empty or already ends with one, then ".".
 */
size_t
mta_stuff_end(struct mta_stuff *st, uint8_t *out)
{
	size_t	 o = 0;

	if (!st->empty && !st->bol) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	out[o++] = '.';
	out[o++] = '\r';
	out[o++] = '\n';
	st->bol = true;
	st->cr = false;
	return o;
}

/*
 * ------------------------------------------------------------------------
 * Plumbing: timer, sending, closing.
 * ------------------------------------------------------------------------
 */

/* mta_session_arm: (re)start the one timer of the session. */
static void
mta_session_arm(struct mta_session *s, long long seconds)
{
	struct timeval	 tv;

	tv.tv_sec = seconds > 0 ? seconds : 0;
	tv.tv_usec = 0;
	evtimer_add(s->timer, &tv);
}

/* mta_session_send: one command line (without CRLF) to the peer. */
static void __attribute__((format(printf, 2, 3)))
mta_session_send(struct mta_session *s, const char *fmt, ...)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	va_list		 ap;

	va_start(ap, fmt);
	if (evbuffer_add_vprintf(out, fmt, ap) == -1 ||
	    evbuffer_add(out, "\r\n", 2) == -1)
		fatalx("mta_session_send: msid=%08x: evbuffer", s->id);
	va_end(ap);
}

/* mta_session_drop_conn: free the connection (bev, SSL, socket). */
static void
mta_session_drop_conn(struct mta_session *s)
{
	if (s->bev != NULL) {
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
		bufferevent_free(s->bev);
		s->bev = NULL;
	} else if (s->ssl != NULL)
		SSL_free(s->ssl);
	s->ssl = NULL;
	if (!s->fd_in_bev && s->fd != -1)
		(void)close(s->fd);
	s->fd = -1;
	s->fd_in_bev = false;
	s->tls = false;
}

/* mta_session_fail_req: the undecided recipients get why; send result. */
static void
mta_session_fail_req(struct mta_session *s, const struct mta_fail *why)
{
	struct mta_req	*req = s->req;

	if (req == NULL)
		return;
	s->req = NULL;
	mta_req_fail(req, why);
	mta_req_done(req);
}

static void
mta_session_reap_cb(evutil_socket_t fd, short ev, void *arg)
{
	mta_session_free(arg);
}

/*
 * mta_session_close: end the session now.  Its request (if any) fails
 * with why (or a generic temporary failure); the owner hears "gone" when
 * it still knew the session.  Freed later, from the loop.
 */
static void
mta_session_close(struct mta_session *s, const char *reason,
    const struct mta_fail *why)
{
	struct mta_fail	 f;
	bool		 attached = s->attached;
	char		 esc[LOG_ESC_MAX];

	if (s->state == MTA_S_DEAD)
		return;
	if (s->req != NULL) {
		if (why == NULL) {
			mta_fail_set(&f, MTA_TEMPFAIL, "4.4.2", s->remote,
			    "lost connection with %s in state %s", s->remote,
			    mta_session_state_names[s->state]);
			why = &f;
		}
		mta_session_fail_req(s, why);
	}
	log_kv(LOG_LVL_INFO, "event=mta-disconnect msid=%08x dest=%s "
	    "remote=%s reason=%s state=%s messages=%u", s->id, s->edest,
	    s->eremote, log_esc(esc, sizeof(esc), reason),
	    mta_session_state_names[s->state], s->nmessages);
	s->state = MTA_S_DEAD;
	s->attached = false;
	evtimer_del(s->timer);
	mta_session_drop_conn(s);
	event_active(s->ev_reap, EV_TIMEOUT, 0);
	if (attached)
		s->conf.cb->gone(s, s->was_ready ? NULL : &s->last,
		    s->conf.arg);
}

/* mta_session_protocol_error: the peer sent garbage: fail and close. */
static void
mta_session_protocol_error(struct mta_session *s, const char *what)
{
	struct mta_fail	 f;
	char		 esc[LOG_ESC_MAX];

	log_kv(LOG_LVL_INFO, "event=mta-protocol-error msid=%08x remote=%s "
	    "state=%s err=%s", s->id, s->eremote,
	    mta_session_state_names[s->state], log_esc(esc, sizeof(esc), what));
	mta_fail_set(&f, MTA_TEMPFAIL, "4.5.0", s->remote,
	    "protocol error from %s: %s", s->remote, what);
	if (!s->was_ready && s->state != MTA_S_DEAD) {
		mta_session_target_failed(s, "4.5.0", f.reply, false);
		return;
	}
	mta_session_close(s, "protocol-error", &f);
}

/*
 * mta_session_target_failed: the current target is no use (connect,
 * greeting, EHLO, TLS): remember why and try the next one from the loop.
 */
static void
mta_session_target_failed(struct mta_session *s, const char *dsn,
    const char *why, bool same_again)
{
	char	 esc[LOG_ESC_MAX];

	mta_fail_set(&s->last, MTA_TEMPFAIL, dsn, s->remote, "%s", why);
	log_kv(LOG_LVL_INFO, "event=mta-target-failed msid=%08x dest=%s "
	    "remote=%s state=%s reason=%s", s->id, s->edest, s->eremote,
	    mta_session_state_names[s->state], log_esc(esc, sizeof(esc), why));
	mta_session_drop_conn(s);
	if (!same_again)
		s->cur++;
	s->state = MTA_S_INIT;
	mta_session_arm(s, 0);
}

/* mta_session_tempdsn: a reply's code as a temporary one ("5.3.2"->"4.3.2"). */
static void
mta_session_tempdsn(const struct mta_reply *r, char *dsn, size_t size)
{
	mta_reply_dsn(r, dsn, size);
	dsn[0] = '4';
}

/*
 * ------------------------------------------------------------------------
 * Connecting, greeting, EHLO, STARTTLS.
 * ------------------------------------------------------------------------
 */

/* mta_session_bev_setup: callbacks of a new bufferevent; start reading. */
static void
mta_session_bev_setup(struct mta_session *s)
{
	bufferevent_setcb(s->bev, mta_session_read_cb, mta_session_write_cb,
	    mta_session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, MTA_LINE_MAX * 4);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* mta_session_connect_next: start connecting to the next target. */
static void
mta_session_connect_next(struct mta_session *s)
{
	const struct mta_target	*t;
	char			 why[256];

	for (; s->cur < s->ntargets; s->cur++) {
		t = &s->targets[s->cur];
		(void)str_printf(s->remote, sizeof(s->remote), "%s[%s]:%u",
		    t->host, t->addr, t->port);
		(void)log_esc(s->eremote, sizeof(s->eremote), s->remote);
		s->fd = socket(t->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (s->fd == -1) {
			(void)str_printf(why, sizeof(why), "socket: %s",
			    strerror(errno));
			mta_fail_set(&s->last, MTA_TEMPFAIL, "4.4.1", s->remote,
			    "connect to %s: %s", s->remote, why);
			continue;
		}
		if ((s->bev = bufferevent_socket_new(s->conf.base, s->fd,
		    0)) == NULL)
			fatalx("mta_session_connect_next: msid=%08x: "
			    "bufferevent_socket_new", s->id);
		mta_session_bev_setup(s);
		s->state = MTA_S_CONNECT;
		if (bufferevent_socket_connect(s->bev,
		    (const struct sockaddr *)&t->ss, (int)t->sslen) == -1) {
			(void)str_printf(why, sizeof(why), "connect to %s: %s",
			    s->remote, strerror(errno));
			mta_fail_set(&s->last, MTA_TEMPFAIL, "4.4.1", s->remote,
			    "%s", why);
			mta_session_drop_conn(s);
			continue;
		}
		mta_session_arm(s, s->conf.connect_timeout);
		log_kv(LOG_LVL_DEBUG, "event=mta-connect msid=%08x dest=%s "
		    "remote=%s", s->id, s->edest, s->eremote);
		return;
	}
	if (s->last.reply[0] == '\0')
		mta_fail_set(&s->last, MTA_TEMPFAIL, "4.4.1", "",
		    "no address to connect to for %s", s->dest);
	mta_session_close(s, "no-target-left", &s->last);
}

/* mta_session_ehlo: say EHLO (again after STARTTLS). */
static void
mta_session_ehlo(struct mta_session *s)
{
	memset(&s->caps, 0, sizeof(s->caps));
	mta_session_send(s, "EHLO %s", s->helo);
	s->state = MTA_S_EHLO;
	mta_session_arm(s, s->conf.reply_timeout);
}

/*
 * mta_session_ready: connected and idle.  Input already waiting means the
 * peer talks out of turn (or dropped us with a 421): close quietly.
 */
static void
mta_session_ready(struct mta_session *s)
{
	if (s->bev != NULL &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		mta_session_close(s, "unexpected-input", NULL);
		return;
	}
	if (!s->was_ready)
		log_kv(LOG_LVL_INFO, "event=mta-connected msid=%08x dest=%s "
		    "remote=%s tls=%s caps=0x%02x size=%llu", s->id, s->edest,
		    s->eremote, s->tls ? "yes" : "no", s->caps.flags,
		    (unsigned long long)s->caps.size);
	s->was_ready = true;
	s->state = MTA_S_READY;
	evtimer_del(s->timer);
	s->conf.cb->ready(s, s->conf.arg);
}

/* mta_session_tls_wanted: after EHLO: STARTTLS now, go on, or fail. */
static void
mta_session_after_ehlo(struct mta_session *s)
{
	int	 pol = s->no_tls ? CONF_TLS_NONE : s->conf.tls;
	bool	 offered = (s->caps.flags & MTA_CAP_STARTTLS) != 0;
	char	 why[MTA_REPLY_MAX];

	if (s->tls || pol == CONF_TLS_NONE ||
	    (pol == CONF_TLS_MAY && (!offered || s->conf.ssl_ctx == NULL))) {
		mta_session_ready(s);
		return;
	}
	if (!offered || s->conf.ssl_ctx == NULL) {
		(void)str_printf(why, sizeof(why), "TLS is required (policy "
		    "%s) but %s %s", conf_tls_policy_name(pol), s->remote,
		    s->conf.ssl_ctx == NULL ? "cannot be used: no TLS context" :
		    "does not offer STARTTLS");
		mta_session_target_failed(s, "4.7.4", why, false);
		return;
	}
	if (pol == CONF_TLS_VERIFY && !s->conf.can_verify) {
		(void)str_printf(why, sizeof(why), "TLS verification required "
		    "but no CA certificates are loaded (TlsCAFile)");
		mta_session_target_failed(s, "4.7.5", why, false);
		return;
	}
	mta_session_send(s, "STARTTLS");
	s->state = MTA_S_STARTTLS;
	mta_session_arm(s, s->conf.reply_timeout);
}

/* mta_session_tls_start: 220 to STARTTLS: the handshake on the socket. */
static void
mta_session_tls_start(struct mta_session *s)
{
	const struct mta_target	*t = &s->targets[s->cur];
	char			 err[512];
	SSL			*ssl;

	/* RFC 3207 5: anything after the 220 is an injection attempt. */
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		mta_session_protocol_error(s, "data after the STARTTLS reply");
		return;
	}
	ssl = tls_client_ssl_new(s->conf.ssl_ctx, t->host,
	    s->conf.tls == CONF_TLS_VERIFY, err, sizeof(err));
	if (ssl == NULL) {
		mta_session_target_failed(s, "4.7.5", err, false);
		return;
	}
	bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
	bufferevent_free(s->bev);
	s->bev = bufferevent_openssl_socket_new(s->conf.base, s->fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL)
		fatalx("mta_session_tls_start: msid=%08x: "
		    "bufferevent_openssl_socket_new", s->id);
	s->ssl = ssl;
	s->fd_in_bev = true;
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	mta_session_bev_setup(s);
	s->state = MTA_S_TLS;
	mta_session_arm(s, s->conf.reply_timeout);
}

/* mta_session_tls_done: handshake finished: check, then EHLO again. */
static void
mta_session_tls_done(struct mta_session *s)
{
	long	 v;
	char	 why[512];

	if (s->conf.tls == CONF_TLS_VERIFY &&
	    (v = SSL_get_verify_result(s->ssl)) != X509_V_OK) {
		(void)str_printf(why, sizeof(why), "TLS certificate of %s not "
		    "verified: %s", s->remote,
		    X509_verify_cert_error_string(v));
		mta_session_target_failed(s, "4.7.5", why, false);
		return;
	}
	s->tls = true;
	if (!tls_version_cipher(s->ssl, s->tlsinfo, sizeof(s->tlsinfo)))
		str_lcpy(s->tlsinfo, "unknown", sizeof(s->tlsinfo));
	log_kv(LOG_LVL_INFO, "event=mta-tls msid=%08x remote=%s verified=%s "
	    "tls=\"%s\"", s->id, s->eremote,
	    s->conf.tls == CONF_TLS_VERIFY ? "yes" : "no", s->tlsinfo);
	mta_session_ehlo(s);
}

/* mta_session_tls_failed: the handshake failed: log why, next target. */
static void
mta_session_tls_failed(struct mta_session *s)
{
	long		 v;
	char		 all[512], why[MTA_REPLY_MAX];

	tls_bev_error_text(s->bev, all, sizeof(all));
	if (s->ssl != NULL && (v = SSL_get_verify_result(s->ssl)) !=
	    X509_V_OK) {
		if (all[0] != '\0')
			str_lcat(all, "; ", sizeof(all));
		str_lcat(all, X509_verify_cert_error_string(v), sizeof(all));
	}
	if (all[0] == '\0')
		str_lcpy(all, "connection closed", sizeof(all));
	(void)str_printf(why, sizeof(why), "TLS handshake with %s failed: %s",
	    s->remote, all);
	/* "may": the same target once more, in plain text. */
	if (s->conf.tls == CONF_TLS_MAY && !s->no_tls) {
		s->no_tls = true;
		mta_session_target_failed(s, "4.7.5", why, true);
		return;
	}
	mta_session_target_failed(s, "4.7.5", why, false);
}

/* mta_session_greeting_reply: 220 (say EHLO) or give up on this target. */
static void
mta_session_setup_reply(struct mta_session *s, const struct mta_reply *r)
{
	char	 dsn[MTA_DSN_MAX];

	switch (s->state) {
	case MTA_S_GREETING:
		if (r->code / 100 == 2) {
			mta_session_ehlo(s);
			return;
		}
		break;
	case MTA_S_EHLO:
		if (r->code == 250) {
			mta_session_after_ehlo(s);
			return;
		}
		if (r->code / 100 == 5 && !s->tls) {
			memset(&s->caps, 0, sizeof(s->caps));
			mta_session_send(s, "HELO %s", s->helo);
			s->state = MTA_S_HELO;
			mta_session_arm(s, s->conf.reply_timeout);
			return;
		}
		break;
	case MTA_S_HELO:
		if (r->code == 250) {
			mta_session_after_ehlo(s);
			return;
		}
		break;
	case MTA_S_STARTTLS:
		if (r->code == 220) {
			mta_session_tls_start(s);
			return;
		}
		if (s->conf.tls == CONF_TLS_MAY) {
			mta_session_ready(s);
			return;
		}
		break;
	default:
		fatalx("mta_session_setup_reply: msid=%08x: state %s", s->id,
		    mta_session_state_names[s->state]);
	}
	mta_session_tempdsn(r, dsn, sizeof(dsn));
	mta_session_target_failed(s, dsn, r->text, false);
}

/*
 * ------------------------------------------------------------------------
 * The transaction.
 * ------------------------------------------------------------------------
 */

/* mta_session_rcpt_reply: record the reply as recipient i's outcome. */
static void
mta_session_rcpt_result(struct mta_session *s, struct mta_rcpt *rc,
    const struct mta_reply *r)
{
	char		 dsn[MTA_DSN_MAX];
	enum mta_class	 class;

	mta_reply_dsn(r, dsn, sizeof(dsn));
	switch (r->code / 100) {
	case 2:
		class = MTA_DELIVERED;
		break;
	case 5:
		class = MTA_PERMFAIL;
		break;
	default:
		class = MTA_TEMPFAIL;
		if (dsn[0] != '4')
			dsn[0] = '4';
		break;
	}
	mta_rcpt_set(rc, class, dsn, s->remote, r->text);
}

/* mta_session_accepted_result: every accepted recipient gets r. */
static void
mta_session_accepted_result(struct mta_session *s, const struct mta_reply *r)
{
	size_t	 i;

	for (i = 0; i < s->req->nrcpt; i++)
		if (s->req->rcpt[i].accepted && !s->req->rcpt[i].done)
			mta_session_rcpt_result(s, &s->req->rcpt[i], r);
}

/*
 * mta_session_tx_end: the message is over: RSET.  The result goes out
 * with RSET's reply, so the session counts as busy until it is idle again
 * and a request arriving meanwhile waits for it instead of opening a
 * second connection (one round trip of latency for the queue).
 */
static void
mta_session_tx_end(struct mta_session *s)
{
	s->nmessages++;
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	mta_session_send(s, "RSET");
	s->state = MTA_S_RSET;
	mta_session_arm(s, s->conf.reply_timeout);
}

/* mta_session_cmd: send transaction command i (MAIL, RCPT..., DATA). */
static void
mta_session_cmd(struct mta_session *s, size_t i)
{
	const struct mta_req	*req = s->req;
	char			 params[128];

	if (i == 0) {
		params[0] = '\0';
		if (s->caps.flags & MTA_CAP_SIZE)
			(void)str_printf(params, sizeof(params), " SIZE=%llu",
			    (unsigned long long)req->size);
		if ((req->flags & MTA_F_8BIT) &&
		    (s->caps.flags & MTA_CAP_8BITMIME))
			str_lcat(params, " BODY=8BITMIME", sizeof(params));
		if (req->flags & MTA_F_SMTPUTF8)
			str_lcat(params, " SMTPUTF8", sizeof(params));
		mta_session_send(s, "MAIL FROM:<%s>%s", req->sender, params);
	} else if (i <= req->nrcpt)
		mta_session_send(s, "RCPT TO:<%s>", req->rcpt[i - 1].addr);
	else
		mta_session_send(s, "DATA");
}

/* mta_session_cmds_send: what may go out now (all of it if pipelining). */
static void
mta_session_cmds_send(struct mta_session *s)
{
	while (s->cmd_sent < s->ncmds &&
	    (s->pipelining || s->cmd_sent == s->cmd_replied))
		mta_session_cmd(s, s->cmd_sent++);
	mta_session_arm(s, s->conf.reply_timeout);
}

/* mta_session_read_content: exactly n bytes at off into buf, or false. */
static bool
mta_session_read_content(struct mta_session *s, uint8_t *buf, size_t n,
    struct mta_fail *f)
{
	size_t	 got = 0;
	ssize_t	 r;

	while (got < n) {
		r = pread(s->req->fd, buf + got, n - got,
		    (off_t)(s->off + got));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			mta_fail_set(f, MTA_TEMPFAIL, "4.3.0", "", "cannot "
			    "read the message content: %s", r == 0 ?
			    "shorter than its size" : strerror(errno));
			log_kv(LOG_LVL_WARN, "event=mta-content-error "
			    "msid=%08x qid=%s reqid=%llu off=%llu", s->id,
			    s->req->qid, (unsigned long long)s->req->reqid,
			    (unsigned long long)(s->off + got));
			return false;
		}
		got += (size_t)r;
	}
	return true;
}

/*
 * mta_session_body_fill: dot-stuffed content into the output buffer up to
 * MTA_OUT_HIWAT; at the end the terminator and the wait for the reply.  A
 * read error closes the connection without the terminator, so the peer
 * cannot take a cut message.
 */
static void
mta_session_body_fill(struct mta_session *s)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	struct mta_fail	 f;
	uint8_t		 end[MTA_STUFF_END_MAX];
	size_t		 n, m;

	while (evbuffer_get_length(out) < MTA_OUT_HIWAT &&
	    s->off < s->req->size) {
		n = s->req->size - s->off < MTA_READ_CHUNK ?
		    (size_t)(s->req->size - s->off) : MTA_READ_CHUNK;
		if (!mta_session_read_content(s, s->rbuf, n, &f)) {
			mta_session_close(s, "content-error", &f);
			return;
		}
		m = mta_stuff_feed(&s->stuff, s->rbuf, n, s->sbuf);
		if (evbuffer_add(out, s->sbuf, m) == -1)
			fatalx("mta_session_body_fill: evbuffer_add");
		s->off += n;
	}
	if (s->off < s->req->size) {
		mta_session_arm(s, s->conf.reply_timeout);
		return;
	}
	m = mta_stuff_end(&s->stuff, end);
	if (evbuffer_add(out, end, m) == -1)
		fatalx("mta_session_body_fill: evbuffer_add");
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	s->state = MTA_S_DATA_DONE;
	mta_session_arm(s, s->conf.data_done_timeout);
}

/* mta_session_body_start: 354: stream the content. */
static void
mta_session_body_start(struct mta_session *s)
{
	mta_stuff_init(&s->stuff);
	s->off = 0;
	s->state = MTA_S_BODY;
	bufferevent_setwatermark(s->bev, EV_WRITE, MTA_OUT_LOWAT, 0);
	mta_session_body_fill(s);
}

/* mta_session_bdat_next: the next BDAT chunk (the last one says LAST). */
static void
mta_session_bdat_next(struct mta_session *s)
{
	struct evbuffer	*out = bufferevent_get_output(s->bev);
	struct mta_fail	 f;
	size_t		 n;

	n = s->req->size - s->off < MTA_BDAT_CHUNK ?
	    (size_t)(s->req->size - s->off) : MTA_BDAT_CHUNK;
	if (!mta_session_read_content(s, s->rbuf, n, &f)) {
		mta_session_close(s, "content-error", &f);
		return;
	}
	s->last_chunk = s->off + n == s->req->size;
	mta_session_send(s, "BDAT %zu%s", n, s->last_chunk ? " LAST" : "");
	if (n > 0 && evbuffer_add(out, s->rbuf, n) == -1)
		fatalx("mta_session_bdat_next: evbuffer_add");
	s->off += n;
	s->state = MTA_S_BDAT;
	mta_session_arm(s, s->last_chunk ? s->conf.data_done_timeout :
	    s->conf.reply_timeout);
}

/* mta_session_after_cmds: every MAIL/RCPT reply is in (no DATA sent). */
static void
mta_session_after_rcpts(struct mta_session *s)
{
	if (s->mail_failed || s->naccepted == 0) {
		mta_session_tx_end(s);
		return;
	}
	if (s->chunking) {
		s->off = 0;
		mta_session_bdat_next(s);
	}
}

/* mta_session_data_reply: the reply to DATA. */
static void
mta_session_data_reply(struct mta_session *s, const struct mta_reply *r)
{
	if (r->code == 354) {
		if (s->naccepted > 0 && !s->mail_failed) {
			mta_session_body_start(s);
			return;
		}
		/* RFC 2920 3.1: nobody to send to; end the empty message. */
		if (evbuffer_add(bufferevent_get_output(s->bev), ".\r\n",
		    3) == -1)
			fatalx("mta_session_data_reply: evbuffer_add");
		s->discard = true;
		s->state = MTA_S_DATA_DONE;
		mta_session_arm(s, s->conf.data_done_timeout);
		return;
	}
	if (r->code / 100 == 2) {
		mta_session_protocol_error(s, "2xx reply to DATA");
		return;
	}
	mta_session_accepted_result(s, r);
	mta_session_tx_end(s);
}

/* mta_session_tx_reply: the reply to transaction command cmd_replied. */
static void
mta_session_tx_reply(struct mta_session *s, const struct mta_reply *r)
{
	struct mta_req	*req = s->req;
	size_t		 i = s->cmd_replied++, k;

	if (i == 0) {
		if (r->code / 100 != 2) {
			s->mail_failed = true;
			for (k = 0; k < req->nrcpt; k++)
				mta_session_rcpt_result(s, &req->rcpt[k], r);
		}
	} else if (i <= req->nrcpt) {
		if (!s->mail_failed) {
			if (r->code / 100 == 2) {
				req->rcpt[i - 1].accepted = true;
				s->naccepted++;
			} else
				mta_session_rcpt_result(s, &req->rcpt[i - 1],
				    r);
		}
	} else {
		mta_session_data_reply(s, r);
		return;
	}
	if (!s->pipelining && (s->mail_failed ||
	    (i == req->nrcpt && s->naccepted == 0))) {
		mta_session_tx_end(s);
		return;
	}
	if (s->cmd_replied == 1 + req->nrcpt) {
		if (s->chunking || (!s->pipelining && s->naccepted == 0)) {
			mta_session_after_rcpts(s);
			return;
		}
	}
	mta_session_cmds_send(s);
}

/* mta_session_final_reply: the end-of-data (or last BDAT) reply. */
static void
mta_session_final_reply(struct mta_session *s, const struct mta_reply *r)
{
	char	 esc[LOG_ESC_MAX];

	if (!s->discard)
		mta_session_accepted_result(s, r);
	log_kv(LOG_LVL_INFO, "event=mta-sent msid=%08x qid=%s reqid=%llu "
	    "remote=%s accepted=%zu code=%d reply=%s", s->id, s->req->qid,
	    (unsigned long long)s->req->reqid, s->eremote, s->naccepted,
	    r->code, log_esc(esc, sizeof(esc), r->text));
	mta_session_tx_end(s);
}

/* mta_session_bdat_reply: a chunk's reply: next chunk, or the end. */
static void
mta_session_bdat_reply(struct mta_session *s, const struct mta_reply *r)
{
	if (r->code / 100 == 2 && !s->last_chunk) {
		mta_session_bdat_next(s);
		return;
	}
	mta_session_final_reply(s, r);
}

/* mta_session_reply: a complete reply, by state. */
static void
mta_session_reply(struct mta_session *s, const struct mta_reply *r)
{
	struct mta_fail	 f;
	char		 esc[LOG_ESC_MAX];

	log_kv(LOG_LVL_DEBUG, "event=mta-reply msid=%08x state=%s reply=%s",
	    s->id, mta_session_state_names[s->state],
	    log_esc(esc, sizeof(esc), r->text));
	switch (s->state) {
	case MTA_S_GREETING:
	case MTA_S_EHLO:
	case MTA_S_HELO:
	case MTA_S_STARTTLS:
		mta_session_setup_reply(s, r);
		break;
	case MTA_S_TX:
		mta_session_tx_reply(s, r);
		break;
	case MTA_S_BODY:
		/* A reply before the end of the content: it gave up. */
		if (r->code / 100 == 2)
			mta_session_protocol_error(s, "reply before the end "
			    "of the message");
		else {
			mta_session_accepted_result(s, r);
			mta_session_close(s, "early-reply", NULL);
		}
		break;
	case MTA_S_BDAT:
		mta_session_bdat_reply(s, r);
		break;
	case MTA_S_DATA_DONE:
		if (s->discard)
			mta_session_tx_end(s);
		else
			mta_session_final_reply(s, r);
		break;
	case MTA_S_RSET:
		mta_fail_set(&f, MTA_TEMPFAIL, "4.4.2", s->remote,
		    "transaction with %s ended without an outcome", s->remote);
		mta_session_fail_req(s, &f);
		if (r->code / 100 == 2)
			mta_session_ready(s);
		else
			mta_session_detach_quit(s);
		break;
	case MTA_S_QUIT:
		mta_session_close(s, "quit", NULL);
		break;
	case MTA_S_READY:
	case MTA_S_PARKED:
		/* Usually "421 timeout" while idle: leave quietly. */
		mta_session_close(s, "idle-reply", NULL);
		break;
	default:
		mta_session_protocol_error(s, "reply out of turn");
		break;
	}
}

/* mta_session_detach_quit: tell the owner it is gone, then QUIT. */
static void
mta_session_detach_quit(struct mta_session *s)
{
	if (s->attached) {
		s->attached = false;
		s->conf.cb->gone(s, NULL, s->conf.arg);
	}
	mta_session_quit(s);
}

/*
 * ------------------------------------------------------------------------
 * Callbacks.
 * ------------------------------------------------------------------------
 */

/* mta_session_read_cb: every complete reply line that has arrived. */
static void
mta_session_read_cb(struct bufferevent *bev, void *arg)
{
	struct mta_session	*s = arg;
	struct evbuffer		*in;
	struct evbuffer_ptr	 p;
	enum mta_reply_status	 st;
	const char		*err;
	char			 line[MTA_LINE_MAX + 1];
	size_t			 eol;

	while (s->state != MTA_S_DEAD && s->bev != NULL) {
		in = bufferevent_get_input(s->bev);
		if ((s->state == MTA_S_READY || s->state == MTA_S_PARKED) &&
		    evbuffer_get_length(in) > 0) {
			/* Usually "421 timeout" while idle: leave quietly. */
			mta_session_close(s, "idle-input", NULL);
			return;
		}
		p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_CRLF);
		if (p.pos == -1) {
			if (evbuffer_get_length(in) > MTA_LINE_MAX)
				mta_session_protocol_error(s,
				    "reply line too long");
			return;
		}
		if ((size_t)p.pos > MTA_LINE_MAX) {
			mta_session_protocol_error(s, "reply line too long");
			return;
		}
		if (evbuffer_remove(in, line, (size_t)p.pos) != p.pos ||
		    evbuffer_drain(in, eol) == -1)
			fatalx("mta_session_read_cb: evbuffer_remove");
		line[p.pos] = '\0';
		st = mta_reply_line(&s->reply, line, (size_t)p.pos, &err);
		if (st == MTA_REPLY_ERROR) {
			mta_session_protocol_error(s, err);
			return;
		}
		if (s->state == MTA_S_EHLO && s->reply.nlines > 1 &&
		    s->reply.code == 250 && p.pos > 4)
			mta_caps_line(&s->caps, line + 4, (size_t)p.pos - 4);
		if (st == MTA_REPLY_DONE) {
			struct mta_reply r = s->reply;

			mta_reply_init(&s->reply);
			mta_session_reply(s, &r);
		}
	}
}

static void
mta_session_write_cb(struct bufferevent *bev, void *arg)
{
	struct mta_session	*s = arg;

	if (s->state == MTA_S_BODY)
		mta_session_body_fill(s);
}

/* mta_session_lost: the connection broke or timed out, by state. */
static void
mta_session_lost(struct mta_session *s, const char *what)
{
	char	 why[MTA_REPLY_MAX];

	switch (s->state) {
	case MTA_S_CONNECT:
	case MTA_S_GREETING:
	case MTA_S_EHLO:
	case MTA_S_HELO:
	case MTA_S_STARTTLS:
		(void)str_printf(why, sizeof(why), "%s %s in state %s",
		    what, s->remote, mta_session_state_names[s->state]);
		mta_session_target_failed(s, "4.4.1", why, false);
		break;
	case MTA_S_TLS:
		mta_session_tls_failed(s);
		break;
	case MTA_S_READY:
	case MTA_S_PARKED:
	case MTA_S_RSET:
	case MTA_S_QUIT:
		mta_session_close(s, what, NULL);
		break;
	default:
		mta_session_close(s, what, NULL);
		break;
	}
}

static void
mta_session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct mta_session	*s = arg;
	char			 why[256];
	int			 e = errno;

	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == MTA_S_CONNECT) {
			s->state = MTA_S_GREETING;
			mta_session_arm(s, s->conf.reply_timeout);
		} else if (s->state == MTA_S_TLS)
			mta_session_tls_done(s);
		return;
	}
	if (s->state == MTA_S_TLS) {
		mta_session_tls_failed(s);
		return;
	}
	if (what & BEV_EVENT_EOF)
		str_lcpy(why, "connection closed by", sizeof(why));
	else
		(void)str_printf(why, sizeof(why), "%s with",
		    e != 0 ? strerror(e) : "connection error");
	mta_session_lost(s, why);
}

/* mta_session_timer_cb: the one timer, by state. */
static void
mta_session_timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct mta_session	*s = arg;
	struct mta_fail		 f;

	switch (s->state) {
	case MTA_S_INIT:
		mta_session_connect_next(s);
		break;
	case MTA_S_PARKED:
		mta_session_detach_quit(s);
		break;
	case MTA_S_QUIT:
	case MTA_S_RSET:
	case MTA_S_READY:
		mta_session_close(s, "timeout", NULL);
		break;
	case MTA_S_TX:
	case MTA_S_BODY:
	case MTA_S_BDAT:
	case MTA_S_DATA_DONE:
		mta_fail_set(&f, MTA_TEMPFAIL, "4.4.2", s->remote,
		    "timeout with %s in state %s", s->remote,
		    mta_session_state_names[s->state]);
		mta_session_close(s, "timeout", &f);
		break;
	case MTA_S_CONNECT:
		mta_session_lost(s, "connection timed out to");
		break;
	default:
		mta_session_lost(s, "timeout waiting for");
		break;
	}
}

/*
 * ------------------------------------------------------------------------
 * The owner's interface.
 * ------------------------------------------------------------------------
 */

/* mta_session_new: a session that will connect to targets, in order. */
struct mta_session *
mta_session_new(const struct mta_session_conf *conf,
    const struct mta_target *targets, size_t ntargets)
{
	struct mta_session	*s;

	s = xcalloc(1, sizeof(*s));
	s->conf = *conf;
	s->helo = xstrdup(conf->helo);
	s->dest = xstrdup(conf->dest);
	s->conf.helo = s->helo;
	s->conf.dest = s->dest;
	(void)log_esc(s->edest, sizeof(s->edest), s->dest);
	str_lcpy(s->eremote, "-", sizeof(s->eremote));
	s->id = conf->id;
	s->fd = -1;
	s->attached = true;
	if (ntargets > 0) {
		s->targets = xcalloc(ntargets, sizeof(*targets));
		memcpy(s->targets, targets, ntargets * sizeof(*targets));
	}
	s->ntargets = ntargets;
	mta_reply_init(&s->reply);
	s->state = MTA_S_INIT;
	if ((s->timer = evtimer_new(conf->base, mta_session_timer_cb, s)) ==
	    NULL || (s->ev_reap = event_new(conf->base, -1, 0,
	    mta_session_reap_cb, s)) == NULL)
		fatalx("mta_session_new: msid=%08x: event_new", s->id);
	TAILQ_INSERT_TAIL(&mta_sessions, s, entry);
	mta_session_arm(s, 0);
	return s;
}

/*
 * mta_session_deliver: carry req on this idle session.  False when req
 * was decided at once (too big for the peer's SIZE, SMTPUTF8 not offered):
 * its result is sent and the session is still idle.
 */
bool
mta_session_deliver(struct mta_session *s, struct mta_req *req)
{
	struct mta_fail	 f;

	if (s->state != MTA_S_READY && s->state != MTA_S_PARKED)
		fatalx("mta_session_deliver: msid=%08x: state %s", s->id,
		    mta_session_state_names[s->state]);
	/*
	 * A request refused before anything is sent leaves the session as
	 * it was (parked with its idle timer, or ready), for the next one.
	 */
	if ((s->caps.flags & MTA_CAP_SIZE) && s->caps.size > 0 &&
	    req->size > s->caps.size) {
		mta_fail_set(&f, MTA_PERMFAIL, "5.3.4", s->remote, "message "
		    "size %llu exceeds the limit %llu of %s",
		    (unsigned long long)req->size,
		    (unsigned long long)s->caps.size, s->remote);
		mta_req_fail(req, &f);
		mta_req_done(req);
		return false;
	}
	if ((req->flags & MTA_F_SMTPUTF8) &&
	    !(s->caps.flags & MTA_CAP_SMTPUTF8)) {
		mta_fail_set(&f, MTA_PERMFAIL, "5.6.7", s->remote, "the "
		    "message needs SMTPUTF8, which %s does not offer",
		    s->remote);
		mta_req_fail(req, &f);
		mta_req_done(req);
		return false;
	}
	s->state = MTA_S_READY;
	s->req = req;
	s->pipelining = (s->caps.flags & MTA_CAP_PIPELINING) != 0;
	s->chunking = (s->caps.flags & MTA_CAP_CHUNKING) != 0;
	s->ncmds = 1 + req->nrcpt + (s->chunking ? 0 : 1);
	s->cmd_sent = s->cmd_replied = 0;
	s->naccepted = 0;
	s->mail_failed = s->discard = s->last_chunk = false;
	s->off = 0;
	if (s->rbuf == NULL) {
		s->rbuf = xmalloc(MTA_BDAT_CHUNK);
		s->sbuf = xmalloc(2 * MTA_READ_CHUNK);
	}
	log_kv(LOG_LVL_DEBUG, "event=mta-deliver msid=%08x qid=%s reqid=%llu "
	    "remote=%s nrcpt=%zu", s->id, req->qid,
	    (unsigned long long)req->reqid, s->eremote, req->nrcpt);
	s->state = MTA_S_TX;
	mta_session_cmds_send(s);
	return true;
}

/* mta_session_park: keep the idle connection for seconds, reading. */
void
mta_session_park(struct mta_session *s, long long seconds)
{
	if (s->state != MTA_S_READY)
		fatalx("mta_session_park: msid=%08x: state %s", s->id,
		    mta_session_state_names[s->state]);
	s->state = MTA_S_PARKED;
	mta_session_arm(s, seconds);
}

/*
 * mta_session_quit: say QUIT and close after its reply (or a short
 * wait).  The owner forgets the session: no more callbacks.
 */
void
mta_session_quit(struct mta_session *s)
{
	if (s->state == MTA_S_DEAD)
		return;
	s->attached = false;
	if (s->bev == NULL) {
		mta_session_close(s, "quit", NULL);
		return;
	}
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	mta_session_send(s, "QUIT");
	s->state = MTA_S_QUIT;
	mta_session_arm(s, MTA_QUIT_SECONDS);
}

/* mta_session_free: release everything now (also at process exit). */
void
mta_session_free(struct mta_session *s)
{
	struct mta_fail	 f;

	if (s == NULL)
		return;
	if (s->req != NULL) {
		mta_fail_set(&f, MTA_TEMPFAIL, "4.3.0", s->remote,
		    "delivery stopped");
		mta_session_fail_req(s, &f);
	}
	TAILQ_REMOVE(&mta_sessions, s, entry);
	mta_session_drop_conn(s);
	event_free(s->timer);
	event_free(s->ev_reap);
	free(s->targets);
	free(s->rbuf);
	free(s->sbuf);
	free(s->helo);
	free(s->dest);
	free(s);
}

/* mta_session_free_all: every session, attached or not (process exit). */
void
mta_session_free_all(void)
{
	struct mta_session	*s;

	while ((s = TAILQ_FIRST(&mta_sessions)) != NULL)
		mta_session_free(s);
}

unsigned
mta_session_messages(const struct mta_session *s)
{
	return s->nmessages;
}

uint32_t
mta_session_id(const struct mta_session *s)
{
	return s->id;
}
