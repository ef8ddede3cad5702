/*
 * smtp_session.c: one SMTP server session (RFC 5321, RFC 3207, RFC 2920).
 *
 * Owns a client connection from greeting to close: the bufferevent (a
 * socket, or OpenSSL on the socket after STARTTLS or on an SMTPS port),
 * the command state machine (a check step and a proceed step per
 * command), the mail transaction and, during DATA, the spool descriptor
 * the queue handed over.  Every byte read is hostile: command lines go
 * through smtp_parse.c, addresses through common/addr.c, content through
 * smtp_data.c; nothing from the client is logged unescaped or copied
 * into a header unsanitised.
 *
 * Input discipline: all complete commands already buffered are handled in
 * order (pipelining), but never past a command whose outcome decides how
 * the next bytes are read (DATA waits for the queue, STARTTLS throws the
 * rest away).  While the session waits for the queue, reading stops and
 * what is buffered stays buffered.
 *
 * Timeouts: the bufferevent's read timeout restarts at every read, so on
 * its own it cannot stop a client that trickles bytes.  A session timer
 * therefore sets deadlines: CommandTimeout for a whole command line
 * (armed when we start waiting for one, cleared when it is complete),
 * and in DATA DataTimeout plus one second per SMTP_DATA_MIN_RATE bytes
 * received, from the 354.  The bufferevent still bounds each read
 * (DataTimeout between reads in DATA) and each write (CommandTimeout).
 *
 * Connect-time checks (DESIGN.md section 3 step 1): with [foxdns]
 * enabled the IP profiler is asked about the client (through the queue),
 * with NrsZones the reputation lists are (c-ares); the greeting waits for
 * both, each bounded by its own timeout after which the client is let in
 * (fail open), and reading does not start before it.  A blocked or
 * listed client gets the configured reply instead of the greeting and is
 * disconnected.  What every greeted client does is counted and reported
 * to the profiler (IMSG_IPP_EVENT) after each accepted message and when
 * the session closes.
 */
#include <sys/queue.h>
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
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

#include "addr.h"
#include "dns.h"
#include "dnsbl_ip.h"
#include "envelope.h"
#include "ipc.h"
#include "ipp_proto.h"
#include "log.h"
#include "smtp.h"
#include "smtp_data.h"
#include "smtp_parse.h"
#include "smtp_session.h"
#include "tls.h"
#include "util.h"
#include "xmalloc.h"

/* Command lines: RFC 5321 asks for 512; long parameter lists need more. */
#define SMTP_SESSION_LINE_MAX	2048
/* Stop handling pipelined commands while this much output is unsent. */
#define SMTP_SESSION_OUT_MAX	(64 * 1024)
/* Stop reading while this much input waits (only when paused). */
#define SMTP_SESSION_IN_MAX	(64 * 1024)
/* Spool bytes gathered before a write(). */
#define SMTP_SESSION_SPOOL_CHUNK (64 * 1024)
/* HELO/EHLO argument kept for the envelope. */
#define SMTP_SESSION_HELO_MAX	255
#define SMTP_SESSION_RECEIVED_MAX 4096
/* NrsZones asked per client (the configuration allows as many). */
#define SMTP_NRS_MAX_ZONES	16

enum smtp_session_state {
	SMTP_SESSION_TLS_ACCEPT = 0,	/* SMTPS: handshake before greeting */
	SMTP_SESSION_CONNECT_CHECK,	/* greeting waits for the checks */
	SMTP_SESSION_INIT,		/* greeting sent, no HELO/EHLO yet */
	SMTP_SESSION_HELO,		/* HELO/EHLO done, no transaction */
	SMTP_SESSION_MAIL,		/* MAIL accepted, no recipient yet */
	SMTP_SESSION_RCPT,		/* one or more recipients accepted */
	SMTP_SESSION_DATA_WAIT,		/* DATA: waiting for the spool file */
	SMTP_SESSION_DATA,		/* 354 sent: reading the content */
	SMTP_SESSION_COMMIT_WAIT,	/* content read: waiting for commit */
	SMTP_SESSION_STARTTLS,		/* 220 sent: flushing it before TLS */
	SMTP_SESSION_TLS_HANDSHAKE,	/* STARTTLS handshake running */
	SMTP_SESSION_CLOSING,		/* last reply being flushed */
	SMTP_SESSION_DEAD,		/* released; on the free list */
};

static const char *const smtp_session_state_names[] = {
	"tls-accept", "connect-check", "init", "helo", "mail", "rcpt",
	"data-wait", "data", "commit-wait", "starttls", "tls-handshake",
	"closing", "dead",
};

/* What the session timer (smtp_session.ev_deadline) bounds. */
enum smtp_deadline {
	SMTP_DEADLINE_NONE = 0,
	SMTP_DEADLINE_COMMAND,		/* CommandTimeout for one line */
	SMTP_DEADLINE_DATA,		/* the whole DATA transfer */
};

/* Connect-time checks still running (smtp_session.gate). */
#define SMTP_GATE_IPP	0x1		/* the IP profiler's verdict */
#define SMTP_GATE_NRS	0x2		/* the reputation lists */

/* One reputation (DNSBL) lookup of a session. */
struct smtp_nrs_q {
	struct smtp_session	*s;
	const char		*zone;		/* in the configuration */
	uint64_t		 id;		/* 0: answered or cancelled */
};

struct smtp_session {
	TAILQ_ENTRY(smtp_session) dead_entry;
	struct smtpd		*smtpd;
	struct event_base	*base;
	uint32_t		 id;
	int			 fd;
	bool			 fd_in_bev;	/* freed with the TLS bev */
	struct bufferevent	*bev;
	SSL			*ssl;		/* owned by bev when set */
	bool			 tls;
	bool			 smtps;
	struct netaddr		 peer;
	char			 ip[NETADDR_STRLEN];
	uint16_t		 port;
	bool			 relay;		/* peer in relay_networks */
	enum smtp_session_state	 state;
	bool			 ehlo;
	char			*helo;
	bool			 discarding;	/* over-long line */
	bool			 shutdown;	/* graceful stop requested */
	bool			 out_blocked;	/* waiting for output to drain */
	struct event		*ev_deadline;	/* command line / DATA */
	enum smtp_deadline	 deadline;	/* what ev_deadline runs for */
	unsigned		 nerrors;
	unsigned		 nmessages;
	struct timespec		 start;
	char			 tlsinfo[128];	/* "TLSv1.3 TLS_AES_..." */
	const char		*close_reason;

	/* Connect-time checks and the IP profiler's counters. */
	unsigned		 gate;		/* SMTP_GATE_* still running */
	struct event		*ev_ipp;	/* check_timeout_ms */
	struct event		*ev_nrs;	/* NrsTimeout */
	struct ipp_verdict	 verdict;	/* IPP_CLEAN until answered */
	struct smtp_nrs_q	 nrs[SMTP_NRS_MAX_ZONES];
	size_t			 nnrs;
	const char		*nrs_zone;	/* the zone that lists it */
	bool			 greeted;	/* 220 sent: counted */
	struct ipp_event	 counters;	/* since the last event */

	/* The transaction. */
	struct envelope		 env;
	bool			 tx_smtputf8;
	bool			 tx_8bit;

	/* DATA */
	char			 qid[SPOOL_ID_LEN + 1];
	int			 spool_fd;
	struct evbuffer		*spool_buf;
	uint64_t		 written;
	uint64_t		 received;	/* DATA bytes read, raw */
	struct timespec		 data_start;	/* the 354 */
	int			 write_errno;
	struct smtp_data	 data;
};

/* One parsed command at a time: the process is single-threaded. */
static struct smtp_cmd	 smtp_session_cmdbuf;
static uint8_t		 smtp_session_linebuf[SMTP_SESSION_LINE_MAX];

static TAILQ_HEAD(, smtp_session) smtp_session_dead =
    TAILQ_HEAD_INITIALIZER(smtp_session_dead);
static struct event	*smtp_session_reaper;

static void	smtp_session_read_cb(struct bufferevent *, void *);
static void	smtp_session_write_cb(struct bufferevent *, void *);
static void	smtp_session_event_cb(struct bufferevent *, short, void *);
static void	smtp_session_process(struct smtp_session *);
static void	smtp_session_close(struct smtp_session *, const char *);
static void	smtp_session_close_after(struct smtp_session *, const char *);
static void	smtp_session_count(struct smtp_session *, enum ipp_counter);
static void	smtp_session_greet(struct smtp_session *);
static void	smtp_session_checks_stop(struct smtp_session *);
static void	smtp_session_timeout(struct smtp_session *);

/* Check steps reply on failure and return false; proceed steps reply. */
typedef bool	smtp_session_check_fn(struct smtp_session *,
		    const struct smtp_cmd *);
typedef void	smtp_session_proceed_fn(struct smtp_session *,
		    const struct smtp_cmd *);

/*
 * ------------------------------------------------------------------------
 * Pure helpers: the Received: header field.
 * ------------------------------------------------------------------------
 */

/*
 * smtp_helo_sanitize: the client's HELO text made safe for a header: only
 * letters, digits and "-._:[]" are kept, every other byte becomes "?", and
 * the result is cut to fit dst.  "unknown" for an empty text.
 */
void
smtp_helo_sanitize(char *dst, size_t size, const char *helo)
{
	size_t		 i;
	unsigned char	 c;

	if (size == 0)
		return;
	if (helo == NULL || *helo == '\0') {
		str_lcpy(dst, "unknown", size);
		return;
	}
	for (i = 0; helo[i] != '\0' && i + 1 < size; i++) {
		c = (unsigned char)helo[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._:[]", c) != NULL)
			dst[i] = (char)c;
		else
			dst[i] = '?';
	}
	dst[i] = '\0';
}

/*
 * smtp_received_with: the RFC 3848 / RFC 6531 "with" keyword.  A HELO
 * session over TLS says "SMTPS" as Postfix does (no registered keyword).
 */
const char *
smtp_received_with(bool ehlo, bool tls, bool utf8)
{
	if (utf8)
		return tls ? "UTF8SMTPS" : "UTF8SMTP";
	if (ehlo)
		return tls ? "ESMTPS" : "ESMTP";
	return tls ? "SMTPS" : "SMTP";
}

/*
 * smtp_received_format: append the Received: field (RFC 5321 4.4) for one
 * message to b, folded, CRLF-terminated:
 *
 *	Received: from <helo> ([<ip>])
 *		by <host> (sekisho) with ESMTPS id <qid>
 *		(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384)
 *		for <rcpt>; <date>
 *
 * The TLS line only with TLS, "for" only with a single recipient.
 */
bool
smtp_received_format(struct buf *b, const struct smtp_received *r)
{
	char		 helo[SMTP_HELO_SHOW_MAX + 1], date[64], ver[64];
	const char	*cipher;
	size_t		 vlen;
	bool		 ok;

	smtp_helo_sanitize(helo, sizeof(helo), r->helo);
	if (!date_rfc5322(date, sizeof(date), r->when))
		return false;
	ok = buf_printf(b, "Received: from %s ([%s%s])\r\n"
	    "\tby %s (sekisho) with %s id %s", helo,
	    r->client_v6 ? "IPv6:" : "", r->client_ip, r->hostname, r->with,
	    r->qid);
	if (ok && r->tls != NULL && *r->tls != '\0') {
		if ((cipher = strchr(r->tls, ' ')) == NULL) {
			cipher = "unknown";
			vlen = strlen(r->tls);
		} else {
			vlen = (size_t)(cipher - r->tls);
			cipher++;
		}
		if (vlen >= sizeof(ver))
			vlen = sizeof(ver) - 1;
		memcpy(ver, r->tls, vlen);
		ver[vlen] = '\0';
		ok = buf_printf(b, "\r\n\t(version=%s cipher=%s)", ver, cipher);
	}
	if (ok && r->rcpt != NULL)
		ok = buf_printf(b, "\r\n\tfor <%s>", r->rcpt);
	return ok && buf_printf(b, "; %s\r\n", date);
}

/*
 * ------------------------------------------------------------------------
 * Replies, logging, lifecycle.
 * ------------------------------------------------------------------------
 */

/* smtp_session_vreply: queue one reply line (CRLF added). */
static void __attribute__((format(printf, 2, 0)))
smtp_session_vreply(struct smtp_session *s, const char *fmt, va_list ap)
{
	char	 line[1024];
	int	 n;

	if (s->state == SMTP_SESSION_DEAD)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		fatalx("smtp_session_vreply: sid=%08x: vsnprintf", s->id);
	if ((size_t)n >= sizeof(line) - 2)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	if (bufferevent_write(s->bev, line, (size_t)n) == -1)
		log_warnx("smtp_session_vreply: sid=%08x: bufferevent_write",
		    s->id);
}

/* smtp_session_reply: queue one reply line. */
static void __attribute__((format(printf, 2, 3)))
smtp_session_reply(struct smtp_session *s, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	smtp_session_vreply(s, fmt, ap);
	va_end(ap);
}

/*
 * smtp_session_error: queue a 4xx/5xx reply the client caused, count it
 * towards max_errors_per_session and log it as a rejection.
 */
static void __attribute__((format(printf, 2, 3)))
smtp_session_error(struct smtp_session *s, const char *fmt, ...)
{
	va_list	 ap;
	char	 text[512], esc[LOG_ESC_MAX];

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	smtp_session_reply(s, "%s", text);
	s->nerrors++;
	smtp_session_count(s, IPP_C_ERRORS);
	log_kv(LOG_LVL_INFO, "event=reject sid=%08x ip=%s code=%.3s reason=%s",
	    s->id, s->ip, text, log_esc(esc, sizeof(esc), text));
}

/*
 * ------------------------------------------------------------------------
 * The IP profiler's counters (docs/ipprofiler.md, "What smtpd counts").
 * ------------------------------------------------------------------------
 */

/*
 * smtp_session_ipp_on: the IP profiler judges this client.  Clients in
 * RelayNetworks (the organisation's own servers) only when
 * profile_relay_clients says so: their outbound mail bouncing or judged
 * spam must not block the organisation's own mail.
 */
static bool
smtp_session_ipp_on(const struct smtp_session *s)
{
	const struct conf_foxdns *f = &s->smtpd->conf->foxdns;

	return f->enabled && (!s->relay || f->profile_relay_clients);
}

/* smtp_session_count: one more of counter c (bounded, see ipp_proto.h). */
static void
smtp_session_count(struct smtp_session *s, enum ipp_counter c)
{
	if (s->counters.c[c] < IPP_COUNTER_MAX)
		s->counters.c[c]++;
}

/*
 * smtp_session_ipp_flush: report the counters gathered since the last
 * report to the profiler (through the queue) and start again.  Only
 * greeted clients are counted: one refused at connect, or lost before
 * its greeting, did nothing.
 */
static void
smtp_session_ipp_flush(struct smtp_session *s)
{
	struct ipc_msg	*m;

	if (!smtp_session_ipp_on(s) || !s->greeted ||
	    ipp_event_empty(&s->counters))
		return;
	s->counters.ip = s->peer;
	s->counters.ip.plen = 128;
	m = ipc_msg_new(IMSG_IPP_EVENT, s->id);
	ipp_event_encode(m, &s->counters);
	smtp_queue_send(m);
	memset(s->counters.c, 0, sizeof(s->counters.c));
}

/*
 * smtp_session_rcpt_unknown: a recipient this gateway does not receive
 * mail for, for directory-harvest detection.  Today that is a relay
 * denial; LDAP recipient verification (seed 24) counts here too,
 * including recipients of LdapLookupApprovedList domains that LDAP later
 * says do not exist.
 */
static void
smtp_session_rcpt_unknown(struct smtp_session *s)
{
	smtp_session_count(s, IPP_C_UNKNOWN);
}

/* smtp_session_timeouts: (re)arm the read and write timeouts. */
static void
smtp_session_timeouts(struct smtp_session *s, bool data)
{
	const struct conf_tsmtpd *c = &s->smtpd->conf->tsmtpd;
	struct timeval	 rd, wr;

	rd.tv_sec = data ? c->data_timeout : c->command_timeout;
	rd.tv_usec = 0;
	wr.tv_sec = c->command_timeout;
	wr.tv_usec = 0;
	bufferevent_set_timeouts(s->bev, rd.tv_sec > 0 ? &rd : NULL,
	    wr.tv_sec > 0 ? &wr : NULL);
}

/* smtp_session_bev_setup: callbacks, limits and timeouts of a new bev. */
static void
smtp_session_bev_setup(struct smtp_session *s)
{
	bufferevent_setcb(s->bev, smtp_session_read_cb, smtp_session_write_cb,
	    smtp_session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTP_SESSION_IN_MAX);
	smtp_session_timeouts(s, false);
}

/* smtp_session_waiting: the session is between reads of commands/data. */
static bool
smtp_session_reading(const struct smtp_session *s)
{
	switch (s->state) {
	case SMTP_SESSION_INIT:
	case SMTP_SESSION_HELO:
	case SMTP_SESSION_MAIL:
	case SMTP_SESSION_RCPT:
	case SMTP_SESSION_DATA:
		return true;
	default:
		return false;
	}
}

/*
 * smtp_data_deadline_ms: milliseconds from the 354 that a DATA transfer
 * may take once received bytes came: data_timeout seconds, plus one
 * second per SMTP_DATA_MIN_RATE bytes, counted up to max_size (0: no
 * limit) so that the whole is bounded.
 */
long long
smtp_data_deadline_ms(long long data_timeout, uint64_t received,
    uint64_t max_size)
{
	if (max_size > 0 && received > max_size)
		received = max_size;
	if (received > (uint64_t)INT64_MAX / 2000)
		received = (uint64_t)INT64_MAX / 2000;
	return data_timeout * 1000 +
	    (long long)(received * 1000 / SMTP_DATA_MIN_RATE);
}

/* smtp_session_deadline_cb: a command line or DATA took too long. */
static void
smtp_session_deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session	*s = arg;

	if (s->deadline == SMTP_DEADLINE_NONE || !smtp_session_reading(s))
		return;
	log_kv(LOG_LVL_INFO, "event=timeout sid=%08x ip=%s kind=%s "
	    "state=%s", s->id, s->ip, s->deadline == SMTP_DEADLINE_DATA ?
	    "data-total" : "command", smtp_session_state_names[s->state]);
	s->deadline = SMTP_DEADLINE_NONE;
	smtp_session_timeout(s);
}

/* smtp_session_deadline_arm: (re)start the session timer. */
static void
smtp_session_deadline_arm(struct smtp_session *s, enum smtp_deadline what,
    long long ms)
{
	struct timeval	 tv;

	if (s->ev_deadline == NULL && (s->ev_deadline = evtimer_new(s->base,
	    smtp_session_deadline_cb, s)) == NULL)
		fatalx("smtp_session_deadline_arm: sid=%08x: evtimer_new",
		    s->id);
	if (ms < 0)
		ms = 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (evtimer_add(s->ev_deadline, &tv) == -1)
		fatalx("smtp_session_deadline_arm: sid=%08x: evtimer_add",
		    s->id);
	s->deadline = what;
}

/* smtp_session_deadline_clear: nothing is awaited from the client. */
static void
smtp_session_deadline_clear(struct smtp_session *s)
{
	if (s->ev_deadline != NULL)
		evtimer_del(s->ev_deadline);
	s->deadline = SMTP_DEADLINE_NONE;
}

/*
 * smtp_session_deadline_update: reading goes on.  A command line gets
 * CommandTimeout from when we start waiting for it (a partial line does
 * not restart it); DATA's deadline moves with the bytes received.
 */
static void
smtp_session_deadline_update(struct smtp_session *s)
{
	const struct conf_tsmtpd *c = &s->smtpd->conf->tsmtpd;
	struct timespec	 now;
	long long	 ms;

	if (s->state != SMTP_SESSION_DATA) {
		if (s->deadline != SMTP_DEADLINE_COMMAND)
			smtp_session_deadline_arm(s, SMTP_DEADLINE_COMMAND,
			    c->command_timeout * 1000);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = smtp_data_deadline_ms(c->data_timeout, s->received,
	    c->max_msg_size > 0 ? (uint64_t)c->max_msg_size : 0) -
	    ((now.tv_sec - s->data_start.tv_sec) * 1000LL +
	    (now.tv_nsec - s->data_start.tv_nsec) / 1000000);
	smtp_session_deadline_arm(s, SMTP_DEADLINE_DATA, ms);
}

/* smtp_session_update_read: read when input is wanted, else pause. */
static void
smtp_session_update_read(struct smtp_session *s)
{
	if (s->state == SMTP_SESSION_DEAD)
		return;
	if (smtp_session_reading(s) && !s->out_blocked) {
		bufferevent_enable(s->bev, EV_READ);
		smtp_session_deadline_update(s);
	} else {
		smtp_session_deadline_clear(s);
		if (s->state != SMTP_SESSION_TLS_ACCEPT &&
		    s->state != SMTP_SESSION_TLS_HANDSHAKE)
			bufferevent_disable(s->bev, EV_READ);
	}
}

/* smtp_session_spool_close: close the spool fd and tell the queue. */
static void
smtp_session_abort(struct smtp_session *s)
{
	struct ipc_msg	*m;

	if (s->spool_fd != -1) {
		(void)close(s->spool_fd);
		s->spool_fd = -1;
	}
	if (s->spool_buf != NULL) {
		evbuffer_free(s->spool_buf);
		s->spool_buf = NULL;
	}
	if (s->qid[0] != '\0') {
		m = ipc_msg_new(IMSG_QUEUE_MSG_ABORT, s->id);
		ipc_add_str(m, s->qid);
		smtp_queue_send(m);
		log_kv(LOG_LVL_INFO, "event=abort sid=%08x qid=%s", s->id,
		    s->qid);
		s->qid[0] = '\0';
	}
}

/* smtp_session_tx_reset: forget the mail transaction (RSET, EHLO, end). */
static void
smtp_session_tx_reset(struct smtp_session *s)
{
	envelope_clear(&s->env);
	envelope_init(&s->env);
	s->tx_smtputf8 = false;
	s->tx_8bit = false;
	s->written = 0;
	s->write_errno = 0;
	s->qid[0] = '\0';
	if (s->spool_buf != NULL) {
		evbuffer_free(s->spool_buf);
		s->spool_buf = NULL;
	}
	if (s->spool_fd != -1)
		fatalx("smtp_session_tx_reset: sid=%08x: spool fd open", s->id);
	if (s->state == SMTP_SESSION_MAIL || s->state == SMTP_SESSION_RCPT ||
	    s->state == SMTP_SESSION_DATA_WAIT ||
	    s->state == SMTP_SESSION_DATA ||
	    s->state == SMTP_SESSION_COMMIT_WAIT)
		s->state = SMTP_SESSION_HELO;
}

/* smtp_session_reap_cb: free the sessions that ended (from the loop). */
static void
smtp_session_reap_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session	*s;

	while ((s = TAILQ_FIRST(&smtp_session_dead)) != NULL) {
		TAILQ_REMOVE(&smtp_session_dead, s, dead_entry);
		if (s->bev != NULL)
			bufferevent_free(s->bev);
		else if (s->ssl != NULL)
			SSL_free(s->ssl);
		if (!s->fd_in_bev && s->fd != -1)
			(void)close(s->fd);
		if (s->spool_fd != -1)
			(void)close(s->spool_fd);
		if (s->spool_buf != NULL)
			evbuffer_free(s->spool_buf);
		envelope_clear(&s->env);
		if (s->ev_ipp != NULL)
			event_free(s->ev_ipp);
		if (s->ev_nrs != NULL)
			event_free(s->ev_nrs);
		if (s->ev_deadline != NULL)
			event_free(s->ev_deadline);
		free(s->helo);
		free(s);
	}
}

/* smtp_session_reap: free every ended session now (process teardown). */
void
smtp_session_reap(void)
{
	smtp_session_reap_cb(-1, 0, NULL);
	if (smtp_session_reaper != NULL) {
		event_free(smtp_session_reaper);
		smtp_session_reaper = NULL;
	}
}

/*
 * smtp_session_close: end the session now.  Aborts an open message,
 * releases the session from smtp.c's tables and queues it for freeing:
 * the caller (often one of its callbacks) may still touch it until it
 * returns to the event loop.
 */
static void
smtp_session_close(struct smtp_session *s, const char *reason)
{
	struct timespec	 now;
	long long	 ms;

	if (s->state == SMTP_SESSION_DEAD)
		return;
	if (reason == NULL)
		reason = s->close_reason != NULL ? s->close_reason : "close";
	if (s->state == SMTP_SESSION_DATA)
		smtp_session_abort(s);
	smtp_session_checks_stop(s);
	if (s->greeted) {
		smtp_session_count(s, IPP_C_CONNS);
		smtp_session_ipp_flush(s);
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - s->start.tv_sec) * 1000LL +
	    (now.tv_nsec - s->start.tv_nsec) / 1000000;
	log_kv(LOG_LVL_INFO, "event=disconnect sid=%08x ip=%s reason=%s "
	    "duration=%lld.%03lld messages=%u errors=%u state=%s", s->id,
	    s->ip, reason, ms / 1000, ms % 1000, s->nmessages, s->nerrors,
	    smtp_session_state_names[s->state]);
	s->state = SMTP_SESSION_DEAD;
	smtp_session_deadline_clear(s);
	if (s->bev != NULL) {
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
	}
	smtp_session_released(s->id);
	TAILQ_INSERT_TAIL(&smtp_session_dead, s, dead_entry);
	if (smtp_session_reaper == NULL &&
	    (smtp_session_reaper = event_new(s->base, -1, 0,
	    smtp_session_reap_cb, NULL)) == NULL)
		fatalx("smtp_session_close: sid=%08x: event_new", s->id);
	event_active(smtp_session_reaper, EV_TIMEOUT, 0);
}

/* smtp_session_close_after: stop reading; close once replies are sent. */
static void
smtp_session_close_after(struct smtp_session *s, const char *reason)
{
	if (s->state == SMTP_SESSION_DEAD)
		return;
	if (s->state == SMTP_SESSION_DATA)
		smtp_session_abort(s);
	s->state = SMTP_SESSION_CLOSING;
	s->close_reason = reason;
	smtp_session_deadline_clear(s);
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		smtp_session_close(s, reason);
	else
		bufferevent_enable(s->bev, EV_WRITE);
}

/* smtp_session_shutdown_reply: tell the client we stop, then close. */
static void
smtp_session_shutdown_reply(struct smtp_session *s)
{
	smtp_session_reply(s, "421 4.3.2 Service shutting down");
	smtp_session_close_after(s, "shutdown");
}

/*
 * ------------------------------------------------------------------------
 * Commands: a check step and a proceed step each.
 * ------------------------------------------------------------------------
 */

/* smtp_session_in_tx: a mail transaction is open. */
static bool
smtp_session_in_tx(const struct smtp_session *s)
{
	return s->state == SMTP_SESSION_MAIL || s->state == SMTP_SESSION_RCPT;
}

/* smtp_session_check_helo_done: HELO/EHLO must come first. */
static bool
smtp_session_check_helo_done(struct smtp_session *s,
    const struct smtp_cmd *cmd)
{
	if (s->state == SMTP_SESSION_INIT) {
		smtp_session_error(s, "503 5.5.1 Bad sequence of commands: "
		    "send HELO/EHLO first");
		return false;
	}
	return true;
}

/* smtp_session_helo_proceed: HELO and EHLO: greet, reset the state. */
static void
smtp_session_helo_proceed(struct smtp_session *s, const struct smtp_cmd *cmd,
    bool ehlo)
{
	const struct smtpd *d = s->smtpd;
	char	 esc[LOG_ESC_MAX];

	smtp_session_tx_reset(s);
	free(s->helo);
	s->helo = xstrndup(cmd->arg, SMTP_SESSION_HELO_MAX);
	s->ehlo = ehlo;
	s->state = SMTP_SESSION_HELO;
	log_kv(LOG_LVL_INFO, "event=helo sid=%08x ip=%s verb=%s helo=%s",
	    s->id, s->ip, ehlo ? "EHLO" : "HELO",
	    log_esc(esc, sizeof(esc), s->helo));
	if (!ehlo) {
		smtp_session_reply(s, "250 %s", d->hostname);
		return;
	}
	smtp_session_reply(s, "250-%s", d->hostname);
	smtp_session_reply(s, "250-PIPELINING");
	smtp_session_reply(s, "250-SIZE %lld",
	    d->conf->tsmtpd.max_msg_size > 0 ? d->conf->tsmtpd.max_msg_size : 0);
	smtp_session_reply(s, "250-8BITMIME");
	smtp_session_reply(s, "250-ENHANCEDSTATUSCODES");
	if (d->ssl_ctx != NULL && !s->tls)
		smtp_session_reply(s, "250-STARTTLS");
	smtp_session_reply(s, "250 SMTPUTF8");
}

static void
smtp_session_helo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_session_helo_proceed(s, cmd, false);
}

static void
smtp_session_ehlo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_session_helo_proceed(s, cmd, true);
}

/*
 * smtp_session_no_storage: the spool is below QueueMinFreeMB: 452 (RFC
 * 5321 4.2.3, RFC 3463 4.3.1).  Not the client's error: not counted.
 */
static void
smtp_session_no_storage(struct smtp_session *s, const char *cmd)
{
	log_kv(LOG_LVL_INFO, "event=reject sid=%08x ip=%s cmd=%s code=452 "
	    "reason=spool-low", s->id, s->ip, cmd);
	smtp_session_reply(s, "452 4.3.1 Insufficient system storage");
}

/* smtp_session_mail_check: sequence, and parameters we do not offer. */
static bool
smtp_session_mail_check(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	long long	 max = s->smtpd->conf->tsmtpd.max_msg_size;

	if (!smtp_session_check_helo_done(s, cmd))
		return false;
	if (smtp_session_in_tx(s)) {
		smtp_session_error(s, "503 5.5.1 Bad sequence of commands: "
		    "nested MAIL command");
		return false;
	}
	if (cmd->ret != SMTP_RET_NONE || cmd->has_envid) {
		smtp_session_error(s, "555 5.5.4 DSN parameters not supported");
		return false;
	}
	if (cmd->has_auth) {
		smtp_session_error(s, "555 5.5.4 AUTH parameter not supported");
		return false;
	}
	if (cmd->has_size && max > 0 && cmd->size > (uint64_t)max) {
		smtp_session_error(s,
		    "552 5.3.4 Message size exceeds fixed limit");
		return false;
	}
	if (smtp_spool_refuse(cmd->has_size ? cmd->size : 0)) {
		smtp_session_no_storage(s, "mail");
		return false;
	}
	return true;
}

/* smtp_session_addr_opts: parser options from the configuration. */
static struct addr_opts
smtp_session_addr_opts(const struct smtp_session *s, bool null, bool utf8)
{
	struct addr_opts o = ADDR_OPTS_INIT;

	o.check_dots = s->smtpd->conf->tsmtpd.check_dot_in_mail_address;
	o.allow_null = null;
	o.allow_no_domain = true;
	o.smtputf8 = utf8;
	return o;
}

/* smtp_session_fmt_flags: keep "a..b" as sent when dots are allowed. */
static unsigned
smtp_session_fmt_flags(const struct smtp_session *s)
{
	return s->smtpd->conf->tsmtpd.check_dot_in_mail_address ? 0 :
	    ADDR_FMT_DOTS_ASIS;
}

/* smtp_session_mail: parse the sender, start the transaction. */
static void
smtp_session_mail(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	const struct conf_tsmtpd *c = &s->smtpd->conf->tsmtpd;
	struct addr_opts o = smtp_session_addr_opts(s, true, cmd->smtputf8);
	struct addr	 a;
	enum addr_err	 e;
	char		 sender[ADDR_STR_MAX], esc[LOG_ESC_MAX];

	if ((e = addr_parse(&a, cmd->path, strlen(cmd->path), ADDR_PATH,
	    &o)) != ADDR_OK) {
		smtp_session_error(s, "501 5.1.7 Bad sender address syntax: %s",
		    addr_strerror(e));
		return;
	}
	if ((a.flags & ADDR_F_NULL) == 0 && a.domain[0] == '\0' &&
	    !c->disable_add_default_domain_to_sender &&
	    (e = addr_set_domain(&a, s->smtpd->default_domain,
	    cmd->smtputf8)) != ADDR_OK) {
		smtp_session_error(s, "501 5.1.7 Bad sender address syntax: %s",
		    addr_strerror(e));
		return;
	}
	if (!addr_format(sender, sizeof(sender), &a,
	    smtp_session_fmt_flags(s))) {
		smtp_session_error(s, "501 5.1.7 Bad sender address syntax");
		return;
	}
	s->env.sender = xstrdup(sender);
	s->tx_smtputf8 = cmd->smtputf8;
	s->tx_8bit = cmd->body == SMTP_BODY_8BITMIME;
	s->state = SMTP_SESSION_MAIL;
	log_kv(LOG_LVL_INFO, "event=mail sid=%08x ip=%s from=%s size=%llu "
	    "smtputf8=%d body=%s", s->id, s->ip,
	    log_esc(esc, sizeof(esc), sender),
	    cmd->has_size ? (unsigned long long)cmd->size : 0ULL,
	    s->tx_smtputf8, s->tx_8bit ? "8bitmime" : "7bit");
	smtp_session_reply(s, "250 2.1.0 Ok");
}

/* smtp_session_rcpt_check: sequence, DSN parameters, recipient limit. */
static bool
smtp_session_rcpt_check(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	long long	 max = s->smtpd->conf->tsmtpd.max_rcpt_per_msg;

	if (!smtp_session_in_tx(s)) {
		smtp_session_error(s, "503 5.5.1 Bad sequence of commands: "
		    "need MAIL command");
		return false;
	}
	if (cmd->notify != 0 || cmd->has_orcpt) {
		smtp_session_error(s, "555 5.5.4 DSN parameters not supported");
		return false;
	}
	if (max > 0 && s->env.nrcpt >= (size_t)max) {
		smtp_session_error(s, "452 4.5.3 Too many recipients");
		return false;
	}
	return true;
}

/* smtp_session_accepted_domain: domain is one we receive mail for. */
static bool
smtp_session_accepted_domain(const struct smtp_session *s, const char *domain)
{
	const struct conf_strlist *l =
	    &s->smtpd->conf->tsmtpd.accepted_domains;
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (addr_domain_match(l->v[i], domain))
			return true;
	return false;
}

/* smtp_session_rcpt: parse the recipient, apply relay control, add it. */
static void
smtp_session_rcpt(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct addr_opts o = smtp_session_addr_opts(s, false, s->tx_smtputf8);
	struct addr	 a;
	enum addr_err	 e;
	bool		 postmaster = false, dup;
	size_t		 i;
	char		 rcpt[ADDR_STR_MAX], esc[LOG_ESC_MAX];

	if ((e = addr_parse(&a, cmd->path, strlen(cmd->path), ADDR_PATH,
	    &o)) != ADDR_OK) {
		smtp_session_error(s,
		    "501 5.1.3 Bad recipient address syntax: %s",
		    addr_strerror(e));
		return;
	}
	smtp_session_count(s, IPP_C_RCPTS);
	if (a.domain[0] == '\0') {
		/* RFC 5321 4.5.1: <Postmaster> without a domain, any case. */
		if (strcasecmp(a.local, "postmaster") != 0) {
			smtp_session_error(s, "501 5.1.3 Bad recipient address "
			    "syntax: %s", addr_strerror(ADDR_E_NO_DOMAIN));
			return;
		}
		str_lcpy(a.local, "postmaster", sizeof(a.local));
		if ((e = addr_set_domain(&a, s->smtpd->default_domain,
		    s->tx_smtputf8)) != ADDR_OK) {
			smtp_session_error(s, "451 4.3.0 Error: postmaster "
			    "domain: %s", addr_strerror(e));
			return;
		}
		postmaster = true;
	}
	if (!addr_format(rcpt, sizeof(rcpt), &a, smtp_session_fmt_flags(s))) {
		smtp_session_error(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	log_esc(esc, sizeof(esc), rcpt);
	if (!postmaster && !s->relay &&
	    !smtp_session_accepted_domain(s, a.domain)) {
		log_kv(LOG_LVL_INFO, "event=rcpt sid=%08x ip=%s to=%s "
		    "result=relay-denied", s->id, s->ip, esc);
		smtp_session_rcpt_unknown(s);
		smtp_session_error(s, "554 5.7.1 <%s>: Relay access denied",
		    rcpt);
		return;
	}
	for (i = 0; i < s->env.nrcpt; i++)
		if (strcmp(s->env.rcpt[i].addr, rcpt) == 0)
			break;
	if (!(dup = i < s->env.nrcpt))
		envelope_add_rcpt(&s->env, rcpt, NULL, 0);
	s->state = SMTP_SESSION_RCPT;
	log_kv(LOG_LVL_INFO, "event=rcpt sid=%08x ip=%s to=%s result=ok%s",
	    s->id, s->ip, esc, dup ? " duplicate=1" : "");
	smtp_session_reply(s, "250 2.1.5 Ok");
}

/* smtp_session_data_check: DATA needs a transaction with recipients. */
static bool
smtp_session_data_check(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	if (s->state == SMTP_SESSION_MAIL) {
		smtp_session_error(s, "554 5.5.1 No valid recipients");
		return false;
	}
	if (s->state != SMTP_SESSION_RCPT) {
		smtp_session_error(s, "503 5.5.1 Bad sequence of commands: "
		    "need RCPT command");
		return false;
	}
	if (smtp_spool_refuse(0)) {
		smtp_session_no_storage(s, "data");
		return false;
	}
	return true;
}

/* smtp_session_data: ask the queue for a spool file; reading pauses. */
static void
smtp_session_data(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	s->env.received = time(NULL);
	s->state = SMTP_SESSION_DATA_WAIT;
	smtp_queue_send(ipc_msg_new(IMSG_QUEUE_MSG_CREATE, s->id));
}

static void
smtp_session_rset(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_session_tx_reset(s);
	smtp_session_reply(s, "250 2.0.0 Ok");
}

static void
smtp_session_noop(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_session_reply(s, "250 2.0.0 Ok");
}

static void
smtp_session_quit(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_session_reply(s, "221 2.0.0 Bye");
	smtp_session_close_after(s, "quit");
}

static void
smtp_session_help(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_session_reply(s, "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA "
	    "RSET NOOP QUIT HELP VRFY%s", s->smtpd->ssl_ctx != NULL &&
	    !s->tls ? " STARTTLS" : "");
}

/* smtp_session_vrfy: RFC 5321 3.5.3: 252, and nothing is revealed. */
static void
smtp_session_vrfy(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_session_reply(s, "252 2.5.2 Cannot VRFY user, but will accept "
	    "message and attempt delivery");
}

/* smtp_session_not_offered: EXPN, AUTH, BDAT: not implemented/offered. */
static void
smtp_session_not_offered(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	smtp_session_error(s, "502 5.5.1 Command not implemented");
}

/* smtp_session_starttls_check: offered, not in TLS, no transaction. */
static bool
smtp_session_starttls_check(struct smtp_session *s,
    const struct smtp_cmd *cmd)
{
	if (s->smtpd->ssl_ctx == NULL) {
		smtp_session_error(s, "502 5.5.1 Command not implemented");
		return false;
	}
	if (s->tls) {
		smtp_session_error(s, "503 5.5.1 Bad sequence of commands: "
		    "TLS already active");
		return false;
	}
	if (smtp_session_in_tx(s)) {
		smtp_session_error(s, "503 5.5.1 Bad sequence of commands: "
		    "mail transaction in progress");
		return false;
	}
	return true;
}

/*
 * smtp_session_starttls: answer 220, and throw away every byte the client
 * sent after the command in plaintext (RFC 3207 5, CVE-2011-0411): it is
 * neither executed now nor after the handshake.  The handshake starts
 * when the 220 has left (smtp_session_write_cb).
 */
static void
smtp_session_starttls(struct smtp_session *s, const struct smtp_cmd *cmd)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	size_t		 n = evbuffer_get_length(in);

	smtp_session_reply(s, "220 2.0.0 Ready to start TLS");
	if (n > 0) {
		log_kv(LOG_LVL_WARN, "event=starttls-injection sid=%08x ip=%s "
		    "discarded=%zu", s->id, s->ip, n);
		evbuffer_drain(in, n);
	}
	s->discarding = false;
	s->state = SMTP_SESSION_STARTTLS;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_enable(s->bev, EV_WRITE);
}

static const struct {
	enum smtp_verb		 verb;
	smtp_session_check_fn	*check;		/* NULL: always allowed */
	smtp_session_proceed_fn	*proceed;
} smtp_session_cmds[] = {
	{ SMTP_VERB_HELO, NULL, smtp_session_helo },
	{ SMTP_VERB_EHLO, NULL, smtp_session_ehlo },
	{ SMTP_VERB_MAIL, smtp_session_mail_check, smtp_session_mail },
	{ SMTP_VERB_RCPT, smtp_session_rcpt_check, smtp_session_rcpt },
	{ SMTP_VERB_DATA, smtp_session_data_check, smtp_session_data },
	{ SMTP_VERB_RSET, NULL, smtp_session_rset },
	{ SMTP_VERB_NOOP, NULL, smtp_session_noop },
	{ SMTP_VERB_QUIT, NULL, smtp_session_quit },
	{ SMTP_VERB_HELP, NULL, smtp_session_help },
	{ SMTP_VERB_VRFY, NULL, smtp_session_vrfy },
	{ SMTP_VERB_EXPN, NULL, smtp_session_not_offered },
	{ SMTP_VERB_AUTH, NULL, smtp_session_not_offered },
	{ SMTP_VERB_BDAT, NULL, smtp_session_not_offered },
	{ SMTP_VERB_STARTTLS, smtp_session_starttls_check,
	    smtp_session_starttls },
};

/* smtp_session_command: parse one command line and run it. */
static void
smtp_session_command(struct smtp_session *s, const uint8_t *line, size_t len)
{
	struct smtp_cmd		*cmd = &smtp_session_cmdbuf;
	const struct smtp_reply	*r;
	size_t			 i;

	r = smtp_cmd_parse(cmd, line, len,
	    s->tx_smtputf8 ? SMTP_PARSE_SMTPUTF8 : 0);
	if (r != NULL) {
		smtp_session_error(s, "%s", r->line);
		return;
	}
	if (s->shutdown && !smtp_session_in_tx(s)) {
		smtp_session_shutdown_reply(s);
		return;
	}
	for (i = 0; i < nitems(smtp_session_cmds); i++)
		if (smtp_session_cmds[i].verb == cmd->verb)
			break;
	if (i == nitems(smtp_session_cmds))
		fatalx("smtp_session_command: sid=%08x: verb %d has no entry",
		    s->id, (int)cmd->verb);
	if (smtp_session_cmds[i].check != NULL &&
	    !smtp_session_cmds[i].check(s, cmd))
		return;
	smtp_session_cmds[i].proceed(s, cmd);
}

/*
 * ------------------------------------------------------------------------
 * Input: command lines and DATA content.
 * ------------------------------------------------------------------------
 */

/*
 * smtp_session_next_line: take the next command line from the input and
 * handle it.  False when no complete line is buffered.
 */
static bool
smtp_session_next_line(struct smtp_session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->bev);
	size_t			 len, n, linelen, consumed;
	const uint8_t		*p, *line;
	enum smtp_line_status	 st;

	if ((len = evbuffer_get_length(in)) == 0)
		return false;
	n = len < SMTP_SESSION_LINE_MAX ? len : SMTP_SESSION_LINE_MAX;
	if ((p = evbuffer_pullup(in, (ssize_t)n)) == NULL)
		fatalx("smtp_session_next_line: sid=%08x: pullup", s->id);
	st = smtp_line_next(p, n, SMTP_SESSION_LINE_MAX, &s->discarding,
	    &line, &linelen, &consumed);
	switch (st) {
	case SMTP_LINE_MORE:
		evbuffer_drain(in, consumed);
		return consumed > 0 && consumed < len;
	case SMTP_LINE_TOO_LONG:
		evbuffer_drain(in, consumed);
		smtp_session_deadline_clear(s);
		smtp_session_error(s, "%s", smtp_reply_line_too_long.line);
		return true;
	case SMTP_LINE_OK:
		break;
	}
	/* The line must outlive the input buffer: commands may drain it. */
	memcpy(smtp_session_linebuf, line, linelen);
	evbuffer_drain(in, consumed);
	/* The line is complete: the next one gets its own deadline. */
	smtp_session_deadline_clear(s);
	smtp_session_command(s, smtp_session_linebuf, linelen);
	return true;
}

/* smtp_session_spool_flush: write what is gathered into the spool file. */
static void
smtp_session_spool_flush(struct smtp_session *s)
{
	int	 n;

	while (s->write_errno == 0 && evbuffer_get_length(s->spool_buf) > 0) {
		if ((n = evbuffer_write(s->spool_buf, s->spool_fd)) > 0) {
			s->written += (uint64_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		s->write_errno = n == 0 ? EIO : errno;
		log_kv(LOG_LVL_WARN, "event=spool-write-error sid=%08x qid=%s "
		    "err=\"%s\"", s->id, s->qid, strerror(s->write_errno));
	}
	if (s->write_errno != 0)
		evbuffer_drain(s->spool_buf, evbuffer_get_length(s->spool_buf));
}

/* smtp_session_data_out: smtp_data's output: gather it for the spool. */
static void
smtp_session_data_out(void *arg, const uint8_t *p, size_t n)
{
	struct smtp_session	*s = arg;

	if (s->write_errno != 0)
		return;
	if (evbuffer_add(s->spool_buf, p, n) == -1)
		fatalx("smtp_session_data_out: sid=%08x: evbuffer_add", s->id);
	if (evbuffer_get_length(s->spool_buf) >= SMTP_SESSION_SPOOL_CHUNK)
		smtp_session_spool_flush(s);
}

/* smtp_session_env_fill: the session facts the envelope records. */
static void
smtp_session_env_fill(struct smtp_session *s)
{
	struct envelope	*e = &s->env;

	free(e->helo);
	free(e->client_ip);
	free(e->tls);
	e->helo = s->helo != NULL ? xstrdup(s->helo) : NULL;
	e->client_ip = xstrdup(s->ip);
	e->client_name = NULL;		/* no DNS yet */
	e->tls = s->tls ? xstrdup(s->tlsinfo) : NULL;
	e->size = s->written;
	e->smtputf8 = s->tx_smtputf8;
	e->body_8bit = s->tx_8bit;
	e->ret_hdrs = false;		/* DSN not offered */
}

/* smtp_session_data_done: the terminator was read: commit or refuse. */
static void
smtp_session_data_done(struct smtp_session *s)
{
	struct buf	 b;
	struct ipc_msg	*m;
	int		 fd = s->spool_fd;

	bufferevent_set_max_single_read(s->bev, 16384);
	smtp_session_timeouts(s, false);
	smtp_session_deadline_clear(s);
	if (s->data.over_size) {
		smtp_session_abort(s);
		smtp_session_tx_reset(s);
		smtp_session_error(s,
		    "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	s->spool_fd = -1;
	if (s->write_errno == 0 && close(fd) == -1)
		s->write_errno = errno;
	else if (s->write_errno != 0)
		(void)close(fd);
	smtp_session_env_fill(s);
	buf_init(&b, ENVELOPE_MAX_SIZE);
	if (s->write_errno != 0 || !envelope_format(&s->env, &b)) {
		buf_free(&b);
		smtp_session_abort(s);
		smtp_session_tx_reset(s);
		smtp_session_reply(s, "451 4.3.0 Error: queue file write "
		    "error");
		return;
	}
	m = ipc_msg_new(IMSG_QUEUE_MSG_COMMIT, s->id);
	ipc_add_str(m, s->qid);
	ipc_add_data(m, b.data, b.len);
	buf_free(&b);
	smtp_queue_send(m);
	s->state = SMTP_SESSION_COMMIT_WAIT;
}

/*
 * smtp_session_data_input: feed buffered content to the DATA machine, up
 * to the terminator at most.  False when nothing was buffered.
 */
static bool
smtp_session_data_input(struct smtp_session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec	 v[8];
	enum smtp_data_status	 st = SMTP_DATA_MORE;
	size_t			 used, total = 0;
	int			 i, n;

	if (evbuffer_get_length(in) == 0)
		return false;
	n = evbuffer_peek(in, -1, NULL, v, (int)nitems(v));
	if (n > (int)nitems(v))
		n = (int)nitems(v);
	for (i = 0; i < n && st == SMTP_DATA_MORE; i++) {
		st = smtp_data_feed(&s->data, v[i].iov_base, v[i].iov_len,
		    &used, smtp_session_data_out, s);
		total += used;
	}
	evbuffer_drain(in, total);
	s->received += total;
	smtp_session_spool_flush(s);
	if (st == SMTP_DATA_DONE)
		smtp_session_data_done(s);
	return true;
}

/* smtp_session_check_errors: close a session with too many errors. */
static void
smtp_session_check_errors(struct smtp_session *s)
{
	long long	 max = s->smtpd->conf->tsmtpd.max_errors_per_session;

	if (max <= 0 || s->nerrors <= (unsigned long long)max ||
	    s->state == SMTP_SESSION_CLOSING || s->state == SMTP_SESSION_DEAD)
		return;
	smtp_session_reply(s, "421 4.7.0 %s Too many errors",
	    s->smtpd->hostname);
	smtp_session_close_after(s, "too-many-errors");
}

/* smtp_session_process: handle everything buffered that may be handled. */
static void
smtp_session_process(struct smtp_session *s)
{
	struct evbuffer	*out;

	while (smtp_session_reading(s)) {
		out = bufferevent_get_output(s->bev);
		if (evbuffer_get_length(out) > SMTP_SESSION_OUT_MAX) {
			s->out_blocked = true;
			break;
		}
		if (s->state == SMTP_SESSION_DATA) {
			if (!smtp_session_data_input(s))
				break;
		} else if (!smtp_session_next_line(s))
			break;
		smtp_session_check_errors(s);
	}
	smtp_session_update_read(s);
}

/*
 * ------------------------------------------------------------------------
 * Connect-time checks: the IP profiler and the reputation lists (NRS).
 * ------------------------------------------------------------------------
 */

/*
 * smtp_connect_decide: what a client gets after the checks: the verdict
 * v of the IP profiler (IPP_CLEAN when it did not answer) and the NRS
 * zone that lists it (NULL: none).  A block wins; an approved address is
 * greeted whatever the lists say; a listed one is refused with
 * NrsRejectMsg (seed 22).  The refusal's reply line goes into reply.
 */
enum smtp_connect_outcome
smtp_connect_decide(const struct sekisho_conf *c, const char *ip,
    const struct ipp_verdict *v, const char *nrs_zone, char *reply,
    size_t len)
{
	const char	*tok[4];
	char		 url[512], msg[1024];

	tok[0] = "%CLIENT_IP%";
	tok[1] = ip;
	tok[2] = "%REASON%";
	tok[3] = v->reason;
	if (len > 0)
		reply[0] = '\0';
	switch (v->state) {
	case IPP_TEMP:
		(void)str_expand(reply, len, c->foxdns.temp_block_reply, tok,
		    2);
		return SMTP_CONNECT_REFUSE_IPP;
	case IPP_PERM:
		(void)str_expand(reply, len, c->foxdns.perm_block_reply, tok,
		    2);
		return SMTP_CONNECT_REFUSE_IPP;
	case IPP_APPROVED:
		return SMTP_CONNECT_GREET;
	default:
		break;
	}
	if (nrs_zone == NULL)
		return SMTP_CONNECT_GREET;
	/* The lookup URL has its own %CLIENT_IP%. */
	(void)str_expand(url, sizeof(url), c->tsmtpd.rbl_check_domain, tok, 1);
	tok[2] = "%RBL_CHECK_DOMAIN%";
	tok[3] = url;
	(void)str_expand(msg, sizeof(msg), c->tsmtpd.nrs_reject_msg, tok, 2);
	(void)str_printf(reply, len, "554 5.7.1 %s", msg);
	return SMTP_CONNECT_REFUSE_NRS;
}

/* smtp_nrs_zone: a NrsZones entry as a zone name ("*.x" and ".x": x). */
static const char *
smtp_nrs_zone(const char *z)
{
	if (z[0] == '*' && z[1] == '.')
		return z + 2;
	return z[0] == '.' ? z + 1 : z;
}

/* smtp_session_greet: the checks are done: greet, or refuse and close. */
static void
smtp_session_greet(struct smtp_session *s)
{
	char	 reply[1000], esc[LOG_ESC_MAX], why[300];

	switch (smtp_connect_decide(s->smtpd->conf, s->ip, &s->verdict,
	    s->nrs_zone, reply, sizeof(reply))) {
	case SMTP_CONNECT_REFUSE_IPP:
		log_kv(LOG_LVL_INFO, "event=connect-refused sid=%08x ip=%s "
		    "by=ipprofiler state=%s reason=%s", s->id, s->ip,
		    ipp_state_name(s->verdict.state),
		    log_esc(esc, sizeof(esc), s->verdict.reason));
		break;
	case SMTP_CONNECT_REFUSE_NRS:
		str_printf(why, sizeof(why), "listed in %s", s->nrs_zone);
		log_kv(LOG_LVL_INFO, "event=connect-refused sid=%08x ip=%s "
		    "by=nrs zone=%s reason=%s", s->id, s->ip, s->nrs_zone,
		    log_esc(esc, sizeof(esc), why));
		break;
	default:
		s->greeted = true;
		s->state = SMTP_SESSION_INIT;
		smtp_session_reply(s, "220 %s ESMTP sekisho",
		    s->smtpd->hostname);
		smtp_session_process(s);
		return;
	}
	smtp_session_reply(s, "%s", reply);
	smtp_session_close_after(s, "refused");
}

/* smtp_session_gate_done: a check ended; greet when all did. */
static void
smtp_session_gate_done(struct smtp_session *s)
{
	/* An SMTPS session greets once its handshake is done too. */
	if (s->gate == 0 && s->state == SMTP_SESSION_CONNECT_CHECK)
		smtp_session_greet(s);
}

/* smtp_session_nrs_stop: cancel the lookups still running. */
static void
smtp_session_nrs_stop(struct smtp_session *s)
{
	struct dns	*dns = smtp_nrs_dns();
	size_t		 i;

	for (i = 0; i < s->nnrs; i++)
		if (s->nrs[i].id != 0) {
			if (dns != NULL)
				(void)dns_cancel(dns, s->nrs[i].id);
			s->nrs[i].id = 0;
		}
	if (s->ev_nrs != NULL)
		evtimer_del(s->ev_nrs);
	s->gate &= ~SMTP_GATE_NRS;
}

/* smtp_session_checks_stop: the session ends: no callback may follow. */
static void
smtp_session_checks_stop(struct smtp_session *s)
{
	smtp_session_nrs_stop(s);
	if (s->ev_ipp != NULL)
		evtimer_del(s->ev_ipp);
	s->gate = 0;
}

/* smtp_session_nrs_cb: one zone's answer: listed, or one less to wait. */
static void
smtp_session_nrs_cb(const struct dns_result *r, void *arg)
{
	struct smtp_nrs_q	*q = arg;
	struct smtp_session	*s = q->s;
	size_t			 i;

	q->id = 0;
	if (r->status == DNS_OK && s->nrs_zone == NULL)
		for (i = 0; i < r->naddr; i++)
			if (r->addr[i].family == AF_INET &&
			    dnsbl_a_listed(ntohl(r->addr[i].a.v4.s_addr))) {
				s->nrs_zone = q->zone;
				break;
			}
	log_kv(LOG_LVL_DEBUG, "event=nrs-answer sid=%08x ip=%s zone=%s "
	    "status=%s listed=%d", s->id, s->ip, q->zone,
	    dns_status_name(r->status), s->nrs_zone == q->zone);
	if (s->nrs_zone == NULL)
		for (i = 0; i < s->nnrs; i++)
			if (s->nrs[i].id != 0)
				return;
	/* All answered, or one lists the client: the others do not matter. */
	smtp_session_nrs_stop(s);
	smtp_session_gate_done(s);
}

/* smtp_session_nrs_timeout: NrsTimeout passed: the client goes in. */
static void
smtp_session_nrs_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session	*s = arg;

	log_kv(LOG_LVL_WARN, "event=connect-check-timeout sid=%08x ip=%s "
	    "check=nrs secs=%lld action=fail-open", s->id, s->ip,
	    s->smtpd->conf->tsmtpd.nrs_timeout);
	smtp_session_nrs_stop(s);
	smtp_session_gate_done(s);
}

/* smtp_session_ipp_timeout: check_timeout_ms passed: the client goes in. */
static void
smtp_session_ipp_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_session	*s = arg;

	log_kv(LOG_LVL_WARN, "event=connect-check-timeout sid=%08x ip=%s "
	    "check=ipprofiler ms=%lld action=fail-open", s->id, s->ip,
	    s->smtpd->conf->foxdns.check_timeout_ms);
	s->gate &= ~SMTP_GATE_IPP;
	smtp_session_gate_done(s);
}

/* smtp_session_timer: a timer of the session, armed for ms. */
static struct event *
smtp_session_timer(struct smtp_session *s, event_callback_fn cb,
    long long ms)
{
	struct event	*ev;
	struct timeval	 tv;

	if ((ev = evtimer_new(s->base, cb, s)) == NULL)
		fatalx("smtp_session_timer: sid=%08x: evtimer_new", s->id);
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	if (evtimer_add(ev, &tv) == -1)
		fatalx("smtp_session_timer: sid=%08x: evtimer_add", s->id);
	return ev;
}

/* smtp_session_nrs_start: ask every NrsZones zone about the client. */
static void
smtp_session_nrs_start(struct smtp_session *s)
{
	const struct conf_tsmtpd *t = &s->smtpd->conf->tsmtpd;
	struct smtp_nrs_q	*q;
	struct dns		*dns;
	char			 name[DNSBL_IP_NAME_MAX + 1];
	size_t			 i;

	/* Relay clients are ours: no reputation check (docs/smtpd.md). */
	if (t->nrs_zones.n == 0 || s->relay || (dns = smtp_nrs_dns()) == NULL)
		return;
	for (i = 0; i < t->nrs_zones.n && s->nnrs < SMTP_NRS_MAX_ZONES; i++) {
		q = &s->nrs[s->nnrs];
		q->s = s;
		q->zone = smtp_nrs_zone(t->nrs_zones.v[i]);
		if (!dnsbl_ip_qname(s->ip, q->zone, name, sizeof(name)))
			continue;
		/* The callback comes later, from the loop (dns.h). */
		if ((q->id = dns_query(dns, DNS_A, name, smtp_session_nrs_cb,
		    q)) != 0)
			s->nnrs++;
	}
	if (s->nnrs == 0)
		return;
	s->gate |= SMTP_GATE_NRS;
	s->ev_nrs = smtp_session_timer(s, smtp_session_nrs_timeout,
	    t->nrs_timeout * 1000);
}

/*
 * smtp_session_checks_start: ask the IP profiler (through the queue) and
 * the reputation lists about the client; the greeting waits for them.
 */
static void
smtp_session_checks_start(struct smtp_session *s)
{
	const struct conf_foxdns *f = &s->smtpd->conf->foxdns;
	struct ipc_msg	*m;

	s->verdict.state = IPP_CLEAN;
	if (smtp_session_ipp_on(s)) {
		m = ipc_msg_new(IMSG_IPP_CHECK, s->id);
		ipc_add_u64(m, s->id);
		ipc_add_str(m, s->ip);
		smtp_queue_send(m);
		s->gate |= SMTP_GATE_IPP;
		s->ev_ipp = smtp_session_timer(s, smtp_session_ipp_timeout,
		    f->check_timeout_ms);
	}
	smtp_session_nrs_start(s);
}

/* smtp_session_ipp_verdict: the IP profiler's answer (smtp_session.h). */
void
smtp_session_ipp_verdict(struct smtp_session *s, const struct ipp_verdict *v)
{
	char	 esc[LOG_ESC_MAX];

	if ((s->gate & SMTP_GATE_IPP) == 0)
		return;		/* came after check_timeout_ms */
	s->verdict = *v;
	s->gate &= ~SMTP_GATE_IPP;
	evtimer_del(s->ev_ipp);
	log_kv(LOG_LVL_DEBUG, "event=ipp-verdict sid=%08x ip=%s state=%s "
	    "reason=%s", s->id, s->ip, ipp_state_name(v->state),
	    log_esc(esc, sizeof(esc), v->reason));
	/* Blocked or approved: the lists cannot change the outcome. */
	if (v->state != IPP_CLEAN)
		smtp_session_nrs_stop(s);
	smtp_session_gate_done(s);
}

/*
 * ------------------------------------------------------------------------
 * Callbacks: bufferevent and queue replies.
 * ------------------------------------------------------------------------
 */

static void
smtp_session_read_cb(struct bufferevent *bev, void *arg)
{
	smtp_session_process(arg);
}

/* smtp_session_tls_start: the 220 is out: switch the socket to TLS. */
static void
smtp_session_tls_start(struct smtp_session *s)
{
	char	 err[256];

	bufferevent_free(s->bev);
	s->bev = NULL;
	if ((s->ssl = SSL_new(s->smtpd->ssl_ctx)) == NULL) {
		log_kv(LOG_LVL_WARN, "event=tls-error sid=%08x ip=%s "
		    "err=\"SSL_new: %s\"", s->id, s->ip,
		    tls_error_text(err, sizeof(err)));
		smtp_session_close(s, "tls-error");
		return;
	}
	s->bev = bufferevent_openssl_socket_new(s->base, s->fd, s->ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		/* Who owns the SSL after this failure is murky: leak it. */
		s->ssl = NULL;
		log_warnx("smtp_session_tls_start: sid=%08x: "
		    "bufferevent_openssl_socket_new", s->id);
		smtp_session_close(s, "tls-error");
		return;
	}
	s->fd_in_bev = true;
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	s->state = SMTP_SESSION_TLS_HANDSHAKE;
	smtp_session_bev_setup(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* smtp_session_tls_done: handshake finished: greet (SMTPS) or reset. */
static void
smtp_session_tls_done(struct smtp_session *s)
{
	bool	 smtps = s->state == SMTP_SESSION_TLS_ACCEPT;

	s->tls = true;
	if (!tls_version_cipher(s->ssl, s->tlsinfo, sizeof(s->tlsinfo)))
		str_lcpy(s->tlsinfo, "unknown", sizeof(s->tlsinfo));
	log_kv(LOG_LVL_INFO, "event=tls sid=%08x ip=%s mode=%s tls=\"%s\"",
	    s->id, s->ip, smtps ? "smtps" : "starttls", s->tlsinfo);
	/* RFC 3207 4.2: forget everything learnt before the handshake. */
	smtp_session_tx_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->ehlo = false;
	s->discarding = false;
	if (smtps) {
		/* The greeting, once the connect-time checks are done. */
		s->state = SMTP_SESSION_CONNECT_CHECK;
		if (s->gate == 0)
			smtp_session_greet(s);
		else
			smtp_session_update_read(s);
		return;
	}
	s->state = SMTP_SESSION_INIT;
	smtp_session_process(s);
}

static void
smtp_session_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_session	*s = arg;

	switch (s->state) {
	case SMTP_SESSION_STARTTLS:
		smtp_session_tls_start(s);
		break;
	case SMTP_SESSION_CLOSING:
		smtp_session_close(s, NULL);
		break;
	default:
		if (s->out_blocked) {
			s->out_blocked = false;
			smtp_session_process(s);
		}
		break;
	}
}

/* smtp_session_tls_error: log why a TLS connection failed. */
static void
smtp_session_tls_error(struct smtp_session *s)
{
	char		 all[512], esc[LOG_ESC_MAX];

	tls_bev_error_text(s->bev, all, sizeof(all));
	if (all[0] == '\0')
		str_lcpy(all, errno != 0 ? strerror(errno) : "unknown",
		    sizeof(all));
	log_kv(LOG_LVL_INFO, "event=tls-error sid=%08x ip=%s state=%s err=%s",
	    s->id, s->ip, smtp_session_state_names[s->state],
	    log_esc(esc, sizeof(esc), all));
}

/* smtp_session_timeout: the client was too slow: 421, then close. */
static void
smtp_session_timeout(struct smtp_session *s)
{
	smtp_session_reply(s, "421 4.4.2 %s Error: timeout exceeded",
	    s->smtpd->hostname);
	smtp_session_close_after(s, "timeout");
}

static void
smtp_session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_session	*s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (s->state == SMTP_SESSION_TLS_ACCEPT ||
		    s->state == SMTP_SESSION_TLS_HANDSHAKE)
			smtp_session_tls_done(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->state == SMTP_SESSION_CLOSING ||
		    s->state == SMTP_SESSION_TLS_ACCEPT ||
		    s->state == SMTP_SESSION_TLS_HANDSHAKE ||
		    (what & BEV_EVENT_WRITING)) {
			smtp_session_close(s, "timeout");
			return;
		}
		smtp_session_timeout(s);
		return;
	}
	if ((what & BEV_EVENT_ERROR) && (s->state == SMTP_SESSION_TLS_ACCEPT ||
	    s->state == SMTP_SESSION_TLS_HANDSHAKE || s->tls)) {
		smtp_session_tls_error(s);
		smtp_session_close(s, "tls-error");
		return;
	}
	smtp_session_close(s, (what & BEV_EVENT_EOF) ? "eof" : "error");
}

/*
 * smtp_session_created: the queue's answer to MSG_CREATE.  Takes fd.  On
 * success the Received: field is written first, then 354 goes out and
 * the content is read; on failure the transaction ends with 451.
 */
void
smtp_session_created(struct smtp_session *s, enum smtp_created how,
    const char *text, int fd)
{
	const struct conf_tsmtpd *c = &s->smtpd->conf->tsmtpd;
	struct smtp_received	 r;
	struct buf		 b;
	char			 esc[LOG_ESC_MAX];

	if (s->state != SMTP_SESSION_DATA_WAIT)
		fatalx("smtp_session_created: sid=%08x: unexpected in state %s",
		    s->id, smtp_session_state_names[s->state]);
	if (how != SMTP_CREATED_OK) {
		log_kv(LOG_LVL_WARN, "event=queue-error sid=%08x op=create "
		    "err=%s", s->id, log_esc(esc, sizeof(esc), how ==
		    SMTP_CREATED_FD_LOST ? "spool descriptor dropped: out of "
		    "descriptors" : text));
		smtp_session_tx_reset(s);
		if (how == SMTP_CREATED_NOSPACE)
			smtp_session_reply(s, "452 4.3.1 Insufficient system "
			    "storage");
		else if (how == SMTP_CREATED_FD_LOST)
			smtp_session_reply(s, "451 4.3.0 Error: temporary "
			    "local problem, try again later");
		else
			smtp_session_reply(s, "451 4.3.0 Error: queue file "
			    "write error");
		if (s->shutdown) {
			smtp_session_shutdown_reply(s);
			return;
		}
		smtp_session_process(s);
		return;
	}
	str_lcpy(s->qid, text, sizeof(s->qid));
	str_lcpy(s->env.id, text, sizeof(s->env.id));
	s->spool_fd = fd;
	s->written = 0;
	s->write_errno = 0;
	if ((s->spool_buf = evbuffer_new()) == NULL)
		fatalx("smtp_session_created: sid=%08x: evbuffer_new", s->id);
	memset(&r, 0, sizeof(r));
	r.helo = s->helo;
	r.client_ip = s->ip;
	r.client_v6 = !netaddr_is_v4(&s->peer);
	r.hostname = s->smtpd->hostname;
	r.with = smtp_received_with(s->ehlo, s->tls, s->tx_smtputf8);
	r.qid = s->qid;
	r.tls = s->tls ? s->tlsinfo : NULL;
	r.rcpt = s->env.nrcpt == 1 ? s->env.rcpt[0].addr : NULL;
	r.when = s->env.received;
	buf_init(&b, SMTP_SESSION_RECEIVED_MAX);
	if (!smtp_received_format(&b, &r))
		fatalx("smtp_session_created: sid=%08x: Received: too long",
		    s->id);
	evbuffer_add(s->spool_buf, b.data, b.len);
	buf_free(&b);
	smtp_data_init(&s->data, c->max_msg_size > 0 ?
	    (uint64_t)c->max_msg_size : 0);
	s->state = SMTP_SESSION_DATA;
	s->received = 0;
	clock_gettime(CLOCK_MONOTONIC, &s->data_start);
	bufferevent_set_max_single_read(s->bev, (size_t)c->recv_buffer_size);
	smtp_session_timeouts(s, true);
	smtp_session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	smtp_session_process(s);
}

/* smtp_session_committed: the queue's answer to MSG_COMMIT. */
void
smtp_session_committed(struct smtp_session *s, const char *qid, bool ok,
    const char *err)
{
	if (s->state != SMTP_SESSION_COMMIT_WAIT || strcmp(qid, s->qid) != 0)
		fatalx("smtp_session_committed: sid=%08x: qid %s unexpected "
		    "in state %s", s->id, qid,
		    smtp_session_state_names[s->state]);
	if (ok) {
		s->nmessages++;
		log_kv(LOG_LVL_INFO, "event=queued sid=%08x ip=%s qid=%s "
		    "size=%llu nrcpt=%zu", s->id, s->ip, qid,
		    (unsigned long long)s->env.size, s->env.nrcpt);
		smtp_session_reply(s, "250 2.0.0 Ok: queued as %s", qid);
		smtp_session_count(s, IPP_C_MSGS);
		if (s->env.sender != NULL && s->env.sender[0] == '\0')
			smtp_session_count(s, IPP_C_NULLSENDER);
		smtp_session_ipp_flush(s);
	} else {
		log_kv(LOG_LVL_WARN, "event=queue-error sid=%08x op=commit "
		    "qid=%s err=\"%s\"", s->id, qid, err);
		smtp_session_reply(s, "451 4.3.0 Error: queue file write error");
	}
	s->qid[0] = '\0';
	smtp_session_tx_reset(s);
	if (s->shutdown) {
		/* The transaction that held the shutdown up is done. */
		smtp_session_shutdown_reply(s);
		return;
	}
	smtp_session_process(s);
}

/*
 * smtp_session_shutdown: graceful: the next command outside a transaction
 * gets 421 and the session closes; forced: close now, abort any message.
 */
void
smtp_session_shutdown(struct smtp_session *s, bool forced)
{
	if (s->state == SMTP_SESSION_DEAD)
		return;
	s->shutdown = true;
	switch (s->state) {
	case SMTP_SESSION_CONNECT_CHECK:
	case SMTP_SESSION_INIT:
	case SMTP_SESSION_HELO:
		/* Waiting for a command: nothing to finish, say goodbye. */
		if (!forced) {
			smtp_session_shutdown_reply(s);
			return;
		}
		break;
	case SMTP_SESSION_MAIL:
	case SMTP_SESSION_RCPT:
	case SMTP_SESSION_DATA_WAIT:
	case SMTP_SESSION_DATA:
	case SMTP_SESSION_COMMIT_WAIT:
		/* A transaction may finish (smtp_session_committed). */
		if (!forced)
			return;
		break;
	case SMTP_SESSION_CLOSING:
		if (!forced)
			return;
		break;
	default:
		/* TLS handshakes: no session to speak of yet. */
		break;
	}
	smtp_session_close(s, "shutdown");
}

/*
 * smtp_session_new: a session on an accepted socket (takes fd).  Plain
 * sessions are greeted once the connect-time checks are done; SMTPS
 * sessions once their handshake is done too.
 * NULL (fd closed) when the connection cannot be set up.
 */
struct smtp_session *
smtp_session_new(struct smtpd *d, struct event_base *base, uint32_t id,
    int fd, const struct netaddr *peer, uint16_t port, bool smtps)
{
	struct smtp_session	*s;
	bool			 ipok;

	s = xcalloc(1, sizeof(*s));
	s->smtpd = d;
	s->base = base;
	s->id = id;
	s->fd = fd;
	s->spool_fd = -1;
	s->peer = *peer;
	s->port = port;
	s->smtps = smtps;
	envelope_init(&s->env);
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	if (!(ipok = netaddr_format(s->ip, sizeof(s->ip), peer)))
		str_lcpy(s->ip, "unknown", sizeof(s->ip));
	s->relay = netaddr_list_match(&d->relay_networks, peer);
	if (smtps) {
		if (d->ssl_ctx == NULL || (s->ssl = SSL_new(d->ssl_ctx)) == NULL)
			goto fail;
		s->bev = bufferevent_openssl_socket_new(base, fd, s->ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (s->bev == NULL) {
			s->ssl = NULL;	/* as in smtp_session_tls_start */
			goto fail;
		}
		s->fd_in_bev = true;
		bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
		s->state = SMTP_SESSION_TLS_ACCEPT;
	} else {
		if ((s->bev = bufferevent_socket_new(base, fd, 0)) == NULL)
			goto fail;
		s->state = SMTP_SESSION_CONNECT_CHECK;
	}
	smtp_session_bev_setup(s);
	log_kv(LOG_LVL_INFO, "event=connect sid=%08x ip=%s port=%u tls=%d "
	    "relay=%d", id, s->ip, port, smtps, s->relay);
	if (ipok)
		smtp_session_checks_start(s);
	if (smtps)
		bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	else {
		/* No reading before the greeting (smtp_session_greet). */
		s->state = SMTP_SESSION_CONNECT_CHECK;
		smtp_session_gate_done(s);
	}
	return s;

fail:
	log_warnx("smtp_session_new: sid=%08x: cannot set up the connection",
	    id);
	if (s->ssl != NULL)
		SSL_free(s->ssl);
	(void)close(fd);
	envelope_clear(&s->env);
	free(s);
	return NULL;
}
