/*
 * mta.c: the mta process of sekisho-smtpd (outbound delivery).
 *
 * Owns the event loop, the channels to the queue and the parent, the DNS
 * resolver ([SmtpClient] DnsServers), the TLS client context, the delivery
 * requests and the destinations.  The queue decides everything that
 * matters (docs/delivery.md); this process keeps no state that matters
 * after a crash: it routes one request, carries it over one connection
 * (or into Maildirs) and answers with exactly one IMSG_MTA_RESULT.
 *
 * A destination is one next hop: an SMTP route or the smart host
 * (host:port and TLS policy), an address-literal domain, or the MX hosts
 * of a domain.  It owns the requests waiting for it, its connections (at
 * most MaxConnectionsPerDestination), the targets last resolved for it
 * (kept MTA_TARGETS_TTL seconds) and lives while any of those exist.  An
 * idle connection is parked for ConnectionCacheSeconds and takes the next
 * request for the same destination (it said RSET after its last message);
 * after MaxMessagesPerConnection messages it says QUIT.  When a new
 * connection cannot be established and no other connection of the
 * destination is up, every request waiting for it fails (temporarily)
 * with the reason, and no new connection is tried for it while others are
 * up: a dead next hop is not hammered.
 *
 * With MaxMessagesPerMinutePerDestination (N > 0) a destination starts at
 * most N requests a minute, spread evenly: a token bucket filled at N/60
 * per second holding at most ceil(N/60) tokens (one second's worth, at
 * least one), kept as the GCRA "theoretical arrival time" on the
 * monotonic clock.  A request takes a token when a session accepts it;
 * without one it stays in the waiting list (no connection is opened for
 * it) and a timer starts it when the next token is due.  A destination
 * lives on until its bucket is full again, so the limit survives an idle
 * moment.  Maildir routes are not limited.
 *
 * The queue is a sibling: a malformed IMSG_MTA_DELIVER is fatal.  When
 * the queue or the parent channel closes, nothing is finished: every
 * connection and request is dropped and the process exits 0.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf.h"
#include "dns.h"
#include "ipc.h"
#include "log.h"
#include "maildir.h"
#include "mta.h"
#include "mta_session.h"
#include "smtp.h"
#include "tls.h"
#include "util.h"
#include "xmalloc.h"

#define MTA_DEST_BUCKETS	1024		/* power of two */
#define MTA_TARGETS_TTL		300		/* seconds */
#define MTA_MAX_TARGETS		64
#define MTA_SMTP_PORT		25
#define MTA_NSEC		1000000000ULL

enum mta_dest_kind {
	MTA_DEST_HOST = 0,	/* a route or the smart host: A/AAAA */
	MTA_DEST_LITERAL,	/* an address, no DNS */
	MTA_DEST_MX,		/* the MX hosts of a domain */
};

struct mta_dest;

/* A connection of a destination, as mta.c sees it. */
struct mta_conn {
	TAILQ_ENTRY(mta_conn)	 entry;
	struct mta_session	*s;
	struct mta_dest		*dest;
	bool			 connecting;	/* not ready yet */
	bool			 idle;		/* parked, takes requests */
};

struct mta_dest {
	LIST_ENTRY(mta_dest)	 entry;
	char			*key;
	enum mta_dest_kind	 kind;
	char			*name;		/* host or domain */
	uint16_t		 port;
	int			 tls;		/* enum conf_tls_policy */
	TAILQ_HEAD(, mta_req)	 waiting;
	size_t			 nwaiting;
	TAILQ_HEAD(, mta_conn)	 conns;
	size_t			 nconns;
	size_t			 nconnecting;
	bool			 spawn_block;	/* a connect failed */
	struct mta_target	*targets;
	size_t			 ntargets;
	time_t			 targets_until;
	bool			 resolving;
	uint64_t		 dns_ids[2];
	int			 dns_pending;
	struct mta_target	*rt;		/* being resolved */
	size_t			 nrt;
	struct mta_fail		 dns_fail;
	uint64_t		 rate_tat;	/* ns: GCRA arrival time */
	struct event		*rate_ev;	/* next token due */
	bool			 throttled;	/* requests held for tokens */
	size_t			 nthrottled;	/* started in this episode */
	uint64_t		 throttle_start; /* ns */
};

static struct {
	struct event_base	*base;
	struct smtpd		*env;
	const struct conf_tsmtpd *c;
	struct ipc_chan		*queue;
	struct ipc_chan		*parent;
	struct dns		*dns;
	SSL_CTX			*ssl_ctx;
	bool			 can_verify;
	const char		*helo;
	LIST_HEAD(, mta_dest)	 dests[MTA_DEST_BUCKETS];
	uint32_t		 next_sid;
	size_t			 nreqs;
	bool			 exiting;
} mta;

static void	mta_dest_run(struct mta_dest *);
static void	mta_conn_ready(struct mta_session *, void *);
static void	mta_conn_gone(struct mta_session *, const struct mta_fail *,
		    void *);

static const struct mta_session_cb mta_session_callbacks = {
	mta_conn_ready, mta_conn_gone,
};

/*
 * ------------------------------------------------------------------------
 * Requests and results.
 * ------------------------------------------------------------------------
 */

/*
 * mta_text_sanitize: src (n bytes) as a result text into dst: control
 * bytes and non-ASCII become '?', cut to fit.
 */
void
mta_text_sanitize(char *dst, size_t size, const char *src, size_t n)
{
	size_t	 i;

	if (size == 0)
		return;
	for (i = 0; i < n && i + 1 < size; i++)
		dst[i] = ((unsigned char)src[i] < 0x20 ||
		    (unsigned char)src[i] >= 0x7f) ? '?' : src[i];
	dst[i] = '\0';
}

/* mta_fail_set: fill a failure (reply text from fmt, sanitised). */
void
mta_fail_set(struct mta_fail *f, enum mta_class class, const char *dsn,
    const char *remote, const char *fmt, ...)
{
	char	 text[MTA_REPLY_MAX + 1];
	va_list	 ap;

	f->class = class;
	str_lcpy(f->dsn, dsn, sizeof(f->dsn));
	str_lcpy(f->remote, remote != NULL ? remote : "", sizeof(f->remote));
	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	mta_text_sanitize(f->reply, sizeof(f->reply), text, strlen(text));
}

/* mta_rcpt_set: a recipient's outcome (the first one set counts). */
void
mta_rcpt_set(struct mta_rcpt *rc, enum mta_class class, const char *dsn,
    const char *remote, const char *reply)
{
	char	 text[MTA_REPLY_MAX + 1];

	if (rc->done)
		return;
	rc->done = true;
	rc->class = (uint8_t)class;
	str_lcpy(rc->dsn, dsn, sizeof(rc->dsn));
	free(rc->remote);
	free(rc->reply);
	mta_text_sanitize(text, sizeof(text), remote, strlen(remote));
	rc->remote = xstrdup(text);
	mta_text_sanitize(text, sizeof(text), reply, strlen(reply));
	rc->reply = xstrdup(text);
}

/* mta_req_fail: every recipient without an outcome gets f. */
void
mta_req_fail(struct mta_req *req, const struct mta_fail *f)
{
	size_t	 i;

	for (i = 0; i < req->nrcpt; i++)
		mta_rcpt_set(&req->rcpt[i], f->class, f->dsn, f->remote,
		    f->reply);
}

/* mta_req_free: release a request and close its content. */
static void
mta_req_free(struct mta_req *req)
{
	size_t	 i;

	for (i = 0; i < req->nrcpt; i++) {
		free(req->rcpt[i].addr);
		free(req->rcpt[i].remote);
		free(req->rcpt[i].reply);
	}
	free(req->rcpt);
	free(req->sender);
	free(req->domain);
	if (req->fd != -1)
		(void)close(req->fd);
	free(req);
	mta.nreqs--;
}

/*
 * mta_req_done: the one IMSG_MTA_RESULT of a request (an undecided
 * recipient is a temporary failure), then the content is closed and the
 * request freed.  At exit nothing is sent.
 */
void
mta_req_done(struct mta_req *req)
{
	struct ipc_msg	*m;
	struct mta_fail	 f;
	char		 esc[LOG_ESC_MAX], eremote[LOG_ESC_MAX], edsn[64];
	size_t		 i;
	const struct mta_rcpt *rc;

	mta_fail_set(&f, MTA_TEMPFAIL, "4.3.0", "", "internal error: no "
	    "outcome");
	mta_req_fail(req, &f);
	if (!mta.exiting && mta.queue != NULL) {
		m = ipc_msg_new(IMSG_MTA_RESULT, 0);
		ipc_add_u64(m, req->reqid);
		ipc_add_u32(m, (uint32_t)req->nrcpt);
		for (i = 0; i < req->nrcpt; i++) {
			rc = &req->rcpt[i];
			ipc_add_u32(m, rc->index);
			ipc_add_u8(m, rc->class);
			ipc_add_str(m, rc->dsn);
			ipc_add_str(m, rc->remote);
			ipc_add_str(m, rc->reply);
			log_kv(LOG_LVL_INFO, "event=mta-result qid=%s "
			    "reqid=%llu index=%u class=%s dsn=%s remote=%s "
			    "reply=%s", req->qid,
			    (unsigned long long)req->reqid, rc->index,
			    rc->class == MTA_DELIVERED ? "delivered" :
			    rc->class == MTA_TEMPFAIL ? "deferred" : "failed",
			    log_esc(edsn, sizeof(edsn), rc->dsn),
			    log_esc(eremote, sizeof(eremote), rc->remote[0] !=
			    '\0' ? rc->remote : "-"),
			    log_esc(esc, sizeof(esc), rc->reply));
		}
		/* On failure the channel's closed callback follows. */
		(void)ipc_chan_send(mta.queue, m);
	}
	mta_req_free(req);
}

/*
 * ------------------------------------------------------------------------
 * Maildir routes.
 * ------------------------------------------------------------------------
 */

/* mta_maildir: deliver every recipient of req into its Maildir now. */
static void
mta_maildir(struct mta_req *req, const struct conf_route *r)
{
	struct maildir_msg	 m;
	char			 where[512], err[512], remote[MTA_REMOTE_MAX];
	size_t			 i;

	(void)str_printf(remote, sizeof(remote), "maildir:%s", r->path);
	memset(&m, 0, sizeof(m));
	m.root = r->path;
	m.sender = req->sender;
	m.fd = req->fd;
	m.size = req->size;
	m.host = mta.env->hostname;
	for (i = 0; i < req->nrcpt; i++) {
		m.rcpt = req->rcpt[i].addr;
		if (maildir_deliver(&m, where, sizeof(where), err,
		    sizeof(err)) == 0)
			mta_rcpt_set(&req->rcpt[i], MTA_DELIVERED, "2.0.0",
			    remote, where);
		else {
			log_kv(LOG_LVL_WARN, "event=maildir-error qid=%s "
			    "reqid=%llu index=%u", req->qid,
			    (unsigned long long)req->reqid,
			    req->rcpt[i].index);
			mta_rcpt_set(&req->rcpt[i], MTA_TEMPFAIL, "4.3.0",
			    remote, err);
		}
	}
	mta_req_done(req);
}

/*
 * ------------------------------------------------------------------------
 * Destinations.
 * ------------------------------------------------------------------------
 */

/* mta_dest_hash: FNV-1a of the key. */
static size_t
mta_dest_hash(const char *key)
{
	uint64_t	 h = 1469598103934665603ULL;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ULL;
	}
	return (size_t)(h & (MTA_DEST_BUCKETS - 1));
}

/* mta_target_literal: a target from an address text; false if none. */
static bool
mta_target_literal(struct mta_target *t, const char *host, const char *addr,
    uint16_t port)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&t->ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&t->ss;

	memset(t, 0, sizeof(*t));
	str_lcpy(t->host, host, sizeof(t->host));
	str_lcpy(t->addr, addr, sizeof(t->addr));
	t->port = port;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		t->sslen = sizeof(*sin);
		return true;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		t->sslen = sizeof(*sin6);
		return true;
	}
	return false;
}

/* mta_dest_find: the destination of key, created when new. */
static struct mta_dest *
mta_dest_get(enum mta_dest_kind kind, const char *name, uint16_t port,
    int tls)
{
	struct mta_dest	*d;
	char		 key[600];
	size_t		 h, i;

	if (!str_printf(key, sizeof(key), "%s:%s:%u:%s",
	    kind == MTA_DEST_MX ? "mx" : kind == MTA_DEST_HOST ? "host" :
	    "literal", name, port, conf_tls_policy_name(tls)))
		fatalx("mta_dest_get: key too long");
	for (i = 0; key[i] != '\0'; i++)
		if (key[i] >= 'A' && key[i] <= 'Z')
			key[i] = key[i] - 'A' + 'a';
	h = mta_dest_hash(key);
	LIST_FOREACH(d, &mta.dests[h], entry)
		if (strcmp(d->key, key) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->key = xstrdup(key);
	d->kind = kind;
	d->name = xstrdup(name);
	d->port = port;
	d->tls = tls;
	TAILQ_INIT(&d->waiting);
	TAILQ_INIT(&d->conns);
	LIST_INSERT_HEAD(&mta.dests[h], d, entry);
	if (kind == MTA_DEST_LITERAL) {
		d->targets = xcalloc(1, sizeof(*d->targets));
		if (mta_target_literal(d->targets, name, name, port))
			d->ntargets = 1;
		d->targets_until = (time_t)INT64_MAX;
	}
	return d;
}

/* mta_now: the monotonic clock in nanoseconds. */
static uint64_t
mta_now(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("mta_now: clock_gettime");
	return (uint64_t)ts.tv_sec * MTA_NSEC + (uint64_t)ts.tv_nsec;
}

/* mta_rate_interval: ns between two tokens; 0 when there is no limit. */
static uint64_t
mta_rate_interval(void)
{
	long long	 n = mta.c->max_messages_per_minute_per_destination;

	return n > 0 ? 60 * MTA_NSEC / (uint64_t)n : 0;
}

/* mta_rate_burst: the bucket's size, ceil(N/60), at least 1. */
static uint64_t
mta_rate_burst(void)
{
	long long	 n = mta.c->max_messages_per_minute_per_destination;

	return n > 60 ? ((uint64_t)n + 59) / 60 : 1;
}

/* mta_rate_avail: how many requests d may start at now (at most max). */
static size_t
mta_rate_avail(const struct mta_dest *d, uint64_t now, size_t max)
{
	uint64_t	 t = mta_rate_interval(), tau, tat, n;

	if (t == 0)
		return max;
	tau = (mta_rate_burst() - 1) * t;
	tat = d->rate_tat > now ? d->rate_tat : now;
	if (tat - now > tau)
		return 0;
	n = (tau - (tat - now)) / t + 1;
	return n < max ? (size_t)n : max;
}

/* mta_rate_take: one token of d is spent at now. */
static void
mta_rate_take(struct mta_dest *d, uint64_t now)
{
	uint64_t	 t = mta_rate_interval();

	if (t == 0)
		return;
	d->rate_tat = (d->rate_tat > now ? d->rate_tat : now) + t;
}

/* mta_rate_due: ns from now until d has a token again (0: it has). */
static uint64_t
mta_rate_due(const struct mta_dest *d, uint64_t now)
{
	uint64_t	 t = mta_rate_interval(), tau;

	if (t == 0)
		return 0;
	tau = (mta_rate_burst() - 1) * t;
	return d->rate_tat > now + tau ? d->rate_tat - now - tau : 0;
}

/* mta_rate_timer: a token is due: start what waits, or collect d. */
static void
mta_rate_timer(int fd, short ev, void *arg)
{
	mta_dest_run(arg);
}

/* mta_rate_arm: wake up in ns (rounded up to the millisecond). */
static void
mta_rate_arm(struct mta_dest *d, uint64_t ns)
{
	struct timeval	 tv;
	uint64_t	 ms = (ns + 999999) / 1000000;

	if (d->rate_ev == NULL &&
	    (d->rate_ev = evtimer_new(mta.base, mta_rate_timer, d)) == NULL)
		fatalx("mta_rate_arm: evtimer_new");
	if (ms == 0)
		ms = 1;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(d->rate_ev, &tv);
}

/*
 * mta_dest_throttle: requests of d wait for a token: the timer for the
 * next one, and one log line when a throttling episode begins.
 */
static void
mta_dest_throttle(struct mta_dest *d, uint64_t now)
{
	char	 esc[LOG_ESC_MAX];

	mta_rate_arm(d, mta_rate_due(d, now));
	if (d->throttled)
		return;
	d->throttled = true;
	d->nthrottled = 0;
	d->throttle_start = now;
	log_kv(LOG_LVL_INFO, "event=mta-throttled dest=%s limit=%lld/min "
	    "waiting=%zu", log_esc(esc, sizeof(esc), d->key),
	    mta.c->max_messages_per_minute_per_destination, d->nwaiting);
}

/* mta_dest_unthrottle: nothing of d waits for a token any more. */
static void
mta_dest_unthrottle(struct mta_dest *d, uint64_t now)
{
	char	 esc[LOG_ESC_MAX];

	if (!d->throttled)
		return;
	d->throttled = false;
	log_kv(LOG_LVL_INFO, "event=mta-unthrottled dest=%s delayed=%zu "
	    "ms=%llu", log_esc(esc, sizeof(esc), d->key), d->nthrottled,
	    (unsigned long long)((now - d->throttle_start) / 1000000));
}

/*
 * mta_dest_start: hand the first waiting request of d to session s if a
 * token allows; true when s took it (it is busy now).
 */
static bool
mta_dest_start(struct mta_dest *d, struct mta_session *s, uint64_t now)
{
	struct mta_req	*req;

	if ((req = TAILQ_FIRST(&d->waiting)) == NULL ||
	    mta_rate_avail(d, now, 1) == 0)
		return false;
	TAILQ_REMOVE(&d->waiting, req, entry);
	d->nwaiting--;
	if (!mta_session_deliver(s, req))
		return false;
	mta_rate_take(d, now);
	if (d->throttled)
		d->nthrottled++;
	return true;
}

/*
 * mta_dest_gc: free a destination nobody needs any more; one whose
 * bucket is not full yet stays until it is (its timer comes back).
 */
static void
mta_dest_gc(struct mta_dest *d)
{
	uint64_t	 now;

	if (d->nwaiting > 0 || d->nconns > 0 || d->resolving)
		return;
	now = mta_now();
	mta_dest_unthrottle(d, now);
	if (d->rate_tat > now) {
		mta_rate_arm(d, d->rate_tat - now);
		return;
	}
	LIST_REMOVE(d, entry);
	if (d->rate_ev != NULL)
		event_free(d->rate_ev);
	free(d->targets);
	free(d->rt);
	free(d->key);
	free(d->name);
	free(d);
}

/* mta_dest_fail_waiting: every waiting request fails with f. */
static void
mta_dest_fail_waiting(struct mta_dest *d, const struct mta_fail *f)
{
	struct mta_req	*req;

	while ((req = TAILQ_FIRST(&d->waiting)) != NULL) {
		TAILQ_REMOVE(&d->waiting, req, entry);
		d->nwaiting--;
		mta_req_fail(req, f);
		mta_req_done(req);
	}
}

/* mta_dest_resolved: the targets are known (or why not): go on. */
static void
mta_dest_resolved(struct mta_dest *d)
{
	d->resolving = false;
	free(d->targets);
	d->targets = d->rt;
	d->ntargets = d->nrt;
	d->rt = NULL;
	d->nrt = 0;
	if (d->ntargets == 0) {
		d->targets_until = 0;
		mta_dest_fail_waiting(d, &d->dns_fail);
	} else
		d->targets_until = time(NULL) + MTA_TARGETS_TTL;
	mta_dest_run(d);
}

/* mta_dest_add_rt: one resolved address as a target. */
static void
mta_dest_add_rt(struct mta_dest *d, const char *host,
    const struct dns_addr *a, uint16_t port)
{
	char	 text[DNS_ADDRSTRLEN];

	if (d->nrt >= MTA_MAX_TARGETS || !dns_addr_format(a, text,
	    sizeof(text)))
		return;
	if (d->rt == NULL)
		d->rt = xcalloc(MTA_MAX_TARGETS, sizeof(*d->rt));
	if (mta_target_literal(&d->rt[d->nrt], host, text, port))
		d->nrt++;
}

/* mta_dest_mx_cb: dns_mx_targets answered. */
static void
mta_dest_mx_cb(const struct dns_targets *t, void *arg)
{
	struct mta_dest	*d = arg;
	size_t		 i;

	d->dns_pending = 0;
	if (t->status != DNS_OK)
		mta_fail_set(&d->dns_fail, dns_status_permanent(t->status) ?
		    MTA_PERMFAIL : MTA_TEMPFAIL, t->dsn != NULL ? t->dsn :
		    "4.4.3", "", "%s", t->reason != NULL ? t->reason :
		    dns_status_name(t->status));
	else
		for (i = 0; i < t->n; i++)
			mta_dest_add_rt(d, t->t[i].host, &t->t[i].addr,
			    d->port);
	if (t->status == DNS_OK && d->nrt == 0)
		mta_fail_set(&d->dns_fail, MTA_TEMPFAIL, "4.4.3", "",
		    "no usable address for the MX hosts of %s", d->name);
	mta_dest_resolved(d);
}

/* mta_dest_addr_cb: one of the A/AAAA answers for a route host. */
static void
mta_dest_addr_cb(const struct dns_result *r, void *arg)
{
	struct mta_dest	*d = arg;
	size_t		 i;

	if (r->status == DNS_OK)
		for (i = 0; i < r->naddr; i++)
			mta_dest_add_rt(d, d->name, &r->addr[i], d->port);
	else if (r->status != DNS_NODATA || d->dns_fail.reply[0] == '\0')
		mta_fail_set(&d->dns_fail, MTA_TEMPFAIL, "4.4.3", "",
		    "cannot resolve next hop %s: %s", d->name,
		    r->error != NULL ? r->error : dns_status_name(r->status));
	if (--d->dns_pending > 0)
		return;
	mta_dest_resolved(d);
}

/* mta_dest_resolve: look up the destination's targets. */
static void
mta_dest_resolve(struct mta_dest *d)
{
	struct mta_target	 t;

	d->resolving = true;
	memset(&d->dns_fail, 0, sizeof(d->dns_fail));
	mta_fail_set(&d->dns_fail, MTA_TEMPFAIL, "4.4.3", "",
	    "no address for %s", d->name);
	if (d->kind == MTA_DEST_HOST && mta_target_literal(&t, d->name,
	    d->name, d->port)) {
		d->rt = xcalloc(1, sizeof(*d->rt));
		d->rt[0] = t;
		d->nrt = 1;
		mta_dest_resolved(d);
		return;
	}
	if (d->kind == MTA_DEST_MX) {
		d->dns_pending = 1;
		d->dns_ids[0] = dns_mx_targets(mta.dns, d->name,
		    (size_t)mta.c->max_dns_mx_to_try, mta_dest_mx_cb, d);
		return;
	}
	d->dns_pending = 2;
	d->dns_ids[0] = dns_query(mta.dns, DNS_A, d->name, mta_dest_addr_cb, d);
	d->dns_ids[1] = dns_query(mta.dns, DNS_AAAA, d->name, mta_dest_addr_cb,
	    d);
}

/* mta_dest_spawn: one more connection for the destination. */
static void
mta_dest_spawn(struct mta_dest *d)
{
	struct mta_session_conf	 sc;
	struct mta_conn		*c;

	memset(&sc, 0, sizeof(sc));
	sc.base = mta.base;
	sc.ssl_ctx = mta.ssl_ctx;
	sc.can_verify = mta.can_verify;
	sc.tls = d->tls;
	sc.helo = mta.helo;
	sc.connect_timeout = mta.c->connect_timeout;
	sc.reply_timeout = mta.c->reply_timeout;
	sc.data_done_timeout = mta.c->data_done_timeout;
	sc.dest = d->key;
	do
		sc.id = ++mta.next_sid;
	while (sc.id == 0);
	sc.cb = &mta_session_callbacks;
	c = xcalloc(1, sizeof(*c));
	c->dest = d;
	c->connecting = true;
	sc.arg = c;
	TAILQ_INSERT_TAIL(&d->conns, c, entry);
	d->nconns++;
	d->nconnecting++;
	c->s = mta_session_new(&sc, d->targets, d->ntargets);
}

/*
 * mta_dest_run: idle connections take waiting requests; new connections
 * (or a lookup first) for the requests left, within the limit.
 */
static void
mta_dest_run(struct mta_dest *d)
{
	struct mta_conn	*c;
	size_t		 max = (size_t)mta.c->max_connections_per_destination;
	uint64_t	 now = mta_now();

	TAILQ_FOREACH(c, &d->conns, entry) {
		while (c->idle && d->nwaiting > 0 &&
		    mta_rate_avail(d, now, 1) > 0)
			if (mta_dest_start(d, c->s, now))
				c->idle = false;
		if (d->nwaiting == 0 || mta_rate_avail(d, now, 1) == 0)
			break;
	}
	if (d->nwaiting > 0 && mta_rate_avail(d, now, 1) == 0)
		mta_dest_throttle(d, now);
	else if (d->nwaiting == 0)
		mta_dest_unthrottle(d, now);
	/* New connections only for requests that have a token now. */
	while (mta_rate_avail(d, now, d->nwaiting) > d->nconnecting &&
	    d->nconns < max && (!d->spawn_block || d->nconns == 0) &&
	    !d->resolving) {
		if (d->ntargets == 0 || time(NULL) >= d->targets_until) {
			mta_dest_resolve(d);
			return;
		}
		mta_dest_spawn(d);
	}
	mta_dest_gc(d);
}

/* mta_conn_remove: forget a connection of its destination. */
static void
mta_conn_remove(struct mta_conn *c)
{
	struct mta_dest	*d = c->dest;

	if (c->connecting)
		d->nconnecting--;
	TAILQ_REMOVE(&d->conns, c, entry);
	d->nconns--;
	free(c);
}

/* mta_conn_ready: a connection is idle: a request, park, or QUIT. */
static void
mta_conn_ready(struct mta_session *s, void *arg)
{
	struct mta_conn	*c = arg;
	struct mta_dest	*d = c->dest;
	uint64_t	 now = mta_now();

	if (c->connecting) {
		c->connecting = false;
		d->nconnecting--;
		d->spawn_block = false;
	}
	c->idle = false;
	while (mta_session_messages(s) <
	    (unsigned long long)mta.c->max_messages_per_connection &&
	    d->nwaiting > 0 && mta_rate_avail(d, now, 1) > 0)
		if (mta_dest_start(d, s, now))
			return;
	if (d->nwaiting > 0 && mta_rate_avail(d, now, 1) == 0)
		mta_dest_throttle(d, now);
	else if (d->nwaiting == 0)
		mta_dest_unthrottle(d, now);
	if (mta_session_messages(s) >=
	    (unsigned long long)mta.c->max_messages_per_connection ||
	    mta.c->connection_cache_seconds == 0) {
		mta_conn_remove(c);
		mta_session_quit(s);
		mta_dest_run(d);
		return;
	}
	c->idle = true;
	mta_session_park(s, mta.c->connection_cache_seconds);
}

/*
 * mta_conn_gone: a connection ended.  One that never came up (why set)
 * with no other connection up fails the waiting requests.
 */
static void
mta_conn_gone(struct mta_session *s, const struct mta_fail *why, void *arg)
{
	struct mta_conn	*c = arg;
	struct mta_dest	*d = c->dest;

	mta_conn_remove(c);
	if (why != NULL) {
		d->spawn_block = true;
		if (d->nconns == 0)
			mta_dest_fail_waiting(d, why);
	}
	mta_dest_run(d);
}

/*
 * ------------------------------------------------------------------------
 * Routing.
 * ------------------------------------------------------------------------
 */

/* mta_literal_addr: "[192.0.2.1]" / "[IPv6:2001:db8::1]" -> address. */
static bool
mta_literal_addr(const char *domain, char *dst, size_t size)
{
	size_t		 n = strlen(domain);
	const char	*p = domain + 1;
	unsigned char	 buf[16];

	if (n < 3 || domain[0] != '[' || domain[n - 1] != ']')
		return false;
	n -= 2;
	if (n > 5 && strncasecmp(p, "IPv6:", 5) == 0) {
		p += 5;
		n -= 5;
	}
	if (n + 1 > size)
		return false;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return inet_pton(AF_INET, dst, buf) == 1 ||
	    inet_pton(AF_INET6, dst, buf) == 1;
}

/* mta_route: where a new request goes (docs/delivery.md "Routing"). */
static void
mta_route(struct mta_req *req)
{
	const struct conf_route	*r;
	struct mta_dest		*d;
	struct mta_fail		 f;
	char			 addr[64], esc[LOG_ESC_MAX];
	int			 tls = mta.c->tls_policy;

	r = conf_route_find(&mta.c->routes, req->domain);
	if (r != NULL && r->kind == CONF_ROUTE_MAILDIR) {
		mta_maildir(req, r);
		return;
	}
	if (r != NULL)
		d = mta_dest_get(MTA_DEST_HOST, r->host, (uint16_t)r->port,
		    r->tls >= 0 ? r->tls : tls);
	else if (mta.c->smart_host.host != NULL &&
	    mta.c->smart_host.host[0] != '\0')
		d = mta_dest_get(MTA_DEST_HOST, mta.c->smart_host.host,
		    (uint16_t)mta.c->smart_host.port, tls);
	else if (req->domain[0] == '[') {
		if (!mta_literal_addr(req->domain, addr, sizeof(addr))) {
			mta_fail_set(&f, MTA_PERMFAIL, "5.1.2", "", "bad "
			    "address literal %s", req->domain);
			mta_req_fail(req, &f);
			mta_req_done(req);
			return;
		}
		d = mta_dest_get(MTA_DEST_LITERAL, addr, MTA_SMTP_PORT, tls);
	} else
		d = mta_dest_get(MTA_DEST_MX, req->domain, MTA_SMTP_PORT, tls);
	log_kv(LOG_LVL_DEBUG, "event=mta-route qid=%s reqid=%llu dest=%s",
	    req->qid, (unsigned long long)req->reqid,
	    log_esc(esc, sizeof(esc), d->key));
	TAILQ_INSERT_TAIL(&d->waiting, req, entry);
	d->nwaiting++;
	mta_dest_run(d);
}

/*
 * ------------------------------------------------------------------------
 * Channels.
 * ------------------------------------------------------------------------
 */

/* mta_text_ok: no control bytes (the queue sends clean addresses). */
static bool
mta_text_ok(const char *s, bool empty_ok)
{
	if (*s == '\0')
		return empty_ok;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || *s == 0x7f)
			return false;
	return true;
}

/* mta_qid_ok: a queue id: letters and digits. */
static bool
mta_qid_ok(const char *q)
{
	if (*q == '\0')
		return false;
	for (; *q != '\0'; q++)
		if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'z') ||
		    (*q >= 'A' && *q <= 'Z')))
			return false;
	return true;
}

/* mta_deliver_msg: IMSG_MTA_DELIVER; anything malformed is fatal. */
static void
mta_deliver_msg(struct ipc_msg_in *m)
{
	struct mta_req	*req;
	uint32_t	 n, i;
	bool		 ok;

	req = xcalloc(1, sizeof(*req));
	req->fd = -1;
	mta.nreqs++;
	ok = ipc_get_u64(m, &req->reqid) &&
	    ipc_get_str(m, req->qid, sizeof(req->qid)) &&
	    ipc_get_strdup(m, MTA_ADDR_MAX, &req->sender) &&
	    ipc_get_u8(m, &req->flags) && ipc_get_u64(m, &req->size) &&
	    ipc_get_strdup(m, 255, &req->domain) && ipc_get_u32(m, &n) &&
	    n >= 1 && n <= MTA_RCPT_MAX;
	if (ok) {
		req->rcpt = xcalloc(n, sizeof(*req->rcpt));
		req->nrcpt = n;
		for (i = 0; ok && i < n; i++)
			ok = ipc_get_u32(m, &req->rcpt[i].index) &&
			    ipc_get_strdup(m, MTA_ADDR_MAX,
			    &req->rcpt[i].addr) &&
			    mta_text_ok(req->rcpt[i].addr, false);
	}
	if (!ok || !ipc_end(m) || m->fd == -1 || !mta_qid_ok(req->qid) ||
	    !mta_text_ok(req->sender, true) ||
	    !mta_text_ok(req->domain, false) ||
	    (req->flags & ~(MTA_F_SMTPUTF8 | MTA_F_8BIT)) != 0 ||
	    req->size > (uint64_t)INT64_MAX / 2)
		fatalx("mta_deliver_msg: bad IMSG_MTA_DELIVER");
	req->fd = ipc_msg_take_fd(m);
	log_kv(LOG_LVL_INFO, "event=mta-request qid=%s reqid=%llu nrcpt=%zu "
	    "size=%llu", req->qid, (unsigned long long)req->reqid,
	    req->nrcpt, (unsigned long long)req->size);
	mta_route(req);
}

static void
mta_queue_dispatch(struct ipc_chan *chan, struct ipc_msg_in *m, void *arg)
{
	switch (m->type) {
	case IMSG_MTA_DELIVER:
		mta_deliver_msg(m);
		break;
	default:
		fatalx("mta_queue_dispatch: unexpected %s",
		    ipc_type_name(m->type));
	}
}

/* mta_parent_dispatch: the parent has nothing to say but "stop". */
static void
mta_parent_dispatch(struct ipc_chan *chan, struct ipc_msg_in *m, void *arg)
{
	uint64_t	 reqid;

	switch (m->type) {
	case IMSG_CTL_SHUTDOWN:
		if (!ipc_get_u64(m, &reqid) || !ipc_end(m))
			fatalx("mta_parent_dispatch: bad IMSG_CTL_SHUTDOWN");
		log_kv(LOG_LVL_INFO, "event=mta-shutdown");
		mta.exiting = true;
		event_base_loopbreak(mta.base);
		break;
	default:
		fatalx("mta_parent_dispatch: unexpected %s",
		    ipc_type_name(m->type));
	}
}

/* mta_closed: queue or parent gone: finish nothing, leave. */
static void
mta_closed(struct ipc_chan *chan, enum ipc_close why, void *arg)
{
	if (why == IPC_CLOSE_PROTO || why == IPC_CLOSE_TRUNCATED)
		fatalx("mta_closed: %s channel %s: %s", ipc_chan_name(chan),
		    ipc_close_name(why), ipc_chan_errstr(chan));
	log_kv(LOG_LVL_INFO, "event=mta-channel-closed chan=%s reason=%s",
	    ipc_chan_name(chan), ipc_close_name(why));
	mta.exiting = true;
	event_base_loopbreak(mta.base);
}

/* mta_cleanup: drop every destination, request and connection. */
static void
mta_cleanup(void)
{
	struct mta_dest	*d;
	struct mta_conn	*c;
	struct mta_req	*req;
	size_t		 i;

	mta.exiting = true;
	mta_session_free_all();
	for (i = 0; i < MTA_DEST_BUCKETS; i++)
		while ((d = LIST_FIRST(&mta.dests[i])) != NULL) {
			while ((c = TAILQ_FIRST(&d->conns)) != NULL) {
				TAILQ_REMOVE(&d->conns, c, entry);
				free(c);
			}
			d->nconns = 0;
			while ((req = TAILQ_FIRST(&d->waiting)) != NULL) {
				TAILQ_REMOVE(&d->waiting, req, entry);
				mta_req_free(req);
			}
			d->nwaiting = 0;
			d->resolving = false;
			d->throttled = false;
			d->rate_tat = 0;
			mta_dest_gc(d);
		}
}

/* mta_tls_setup: the client context; verify only with CA certificates. */
static void
mta_tls_setup(void)
{
	char	 err[512], esc[LOG_ESC_MAX];

	mta.ssl_ctx = tls_client_ctx_new(mta.c->tls_ca_file, err, sizeof(err));
	if (mta.ssl_ctx != NULL) {
		mta.can_verify = mta.c->tls_ca_file != NULL &&
		    mta.c->tls_ca_file[0] != '\0';
		return;
	}
	log_kv(LOG_LVL_WARN, "event=mta-tls-ca-error err=%s",
	    log_esc(esc, sizeof(esc), err));
	if ((mta.ssl_ctx = tls_client_ctx_new(NULL, err, sizeof(err))) == NULL)
		log_kv(LOG_LVL_WARN, "event=mta-tls-error err=%s",
		    log_esc(esc, sizeof(esc), err));
}

/* mta_main: the mta process (proc_run_fn); arg is the struct smtpd. */
int
mta_main(const struct proc_def *def, const int *fds, void *arg)
{
	struct dns_opts	 opts;
	size_t		 i;

	memset(&mta, 0, sizeof(mta));
	mta.env = arg;
	mta.c = &mta.env->conf->tsmtpd;
	mta.helo = mta.c->helo_name != NULL && mta.c->helo_name[0] != '\0' ?
	    mta.c->helo_name : mta.env->hostname;
	for (i = 0; i < MTA_DEST_BUCKETS; i++)
		LIST_INIT(&mta.dests[i]);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (fds[SMTPD_PROC_PARENT] == -1 || fds[SMTPD_PROC_QUEUE] == -1)
		fatalx("mta_main: missing channel");
	if ((mta.base = event_base_new()) == NULL)
		fatalx("mta_main: event_base_new");
	memset(&opts, 0, sizeof(opts));
	opts.servers = mta.c->dns_servers;
	if ((mta.dns = dns_new(mta.base, &opts)) == NULL)
		fatalx("mta_main: dns_new");
	mta_tls_setup();
	mta.parent = ipc_chan_new(mta.base, fds[SMTPD_PROC_PARENT], 0,
	    mta_parent_dispatch, mta_closed, NULL);
	ipc_chan_set_name(mta.parent, "parent");
	mta.queue = ipc_chan_new(mta.base, fds[SMTPD_PROC_QUEUE],
	    MTA_DELIVER_MAX_PAYLOAD, mta_queue_dispatch, mta_closed, NULL);
	ipc_chan_set_name(mta.queue, "queue");
	ipc_chan_set_outq_limit(mta.queue, 4 * MTA_RESULT_MAX_PAYLOAD);
	log_kv(LOG_LVL_INFO, "event=mta-ready helo=%s tls=%s verify=%s",
	    mta.helo, mta.ssl_ctx != NULL ? "yes" : "no",
	    mta.can_verify ? "yes" : "no");

	event_base_dispatch(mta.base);

	mta_cleanup();
	dns_free(mta.dns);
	ipc_chan_free(mta.parent);
	ipc_chan_free(mta.queue);
	SSL_CTX_free(mta.ssl_ctx);
	event_base_free(mta.base);
	return 0;
}
