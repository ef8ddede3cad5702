/*
 * queue_ipp.c: the queue's relay to sekisho-ipprofiler (DESIGN.md
 * section 3 step 1, docs/ipprofiler.md).
 *
 * The smtp process is chrooted and has no way to the profiler: it asks
 * the queue (IMSG_IPP_CHECK, reqid = its session id) and reports what
 * each client did (IMSG_IPP_EVENT).  The queue connects to
 * <run_dir>/ipprofiler.sock, forwards the checks under its own request
 * ids and the events as they are, and adds events of its own: the scan's
 * verdict per message (SCANNED, SPAM, VIRUS) and recipients a next hop
 * refused as unknown (5.1.0, 5.1.1).
 *
 * Answers are kept per address for check_cache_secs (never past a
 * temporary block's expiry); an address's entry is dropped whenever an
 * event about it passes, so a block the event causes is seen by the very
 * next connection.  An answer that was on its way while such an event
 * passed is not cached either.
 *
 * The profiler is optional to the mail flow: when it cannot be reached,
 * a check is answered IPP_CLEAN at once (fail open) and connecting is
 * tried again with a growing pause; a lost connection answers every
 * check it carried IPP_CLEAN; events meanwhile are dropped and counted.
 * Checks in flight, the cache and the pause are bounded.
 */
#include <sys/queue.h>
#include <sys/random.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "envelope.h"
#include "ipc.h"
#include "ipp_proto.h"
#include "log.h"
#include "queue.h"
#include "smtp.h"
#include "xmalloc.h"

#define QIPP_MAX_PENDING	4096	/* checks at the profiler at once */
#define QIPP_CACHE_MAX		16384	/* addresses whose answer is kept */
#define QIPP_CACHE_BUCKETS	4096	/* power of two */
#define QIPP_RECONNECT_MAX	30	/* seconds between connect tries */
#define QIPP_MAX_PAYLOAD	4096	/* a verdict is about 220 bytes */
#define QIPP_SLACK_MS		1000	/* a check unanswered this long after
					   check_timeout_ms is given up */
#define QIPP_DROP_LOG_SECS	60	/* dropped events: one line a minute */

/*
 * ------------------------------------------------------------------------
 * The answer cache.
 * ------------------------------------------------------------------------
 */

struct qipp_centry {
	LIST_ENTRY(qipp_centry)	 hash;
	TAILQ_ENTRY(qipp_centry) lru;		/* least recently used first */
	struct netaddr		 ip;
	uint64_t		 until_ms;	/* monotonic */
	struct ipp_verdict	 v;
};

struct qipp_cache {
	LIST_HEAD(, qipp_centry) bucket[QIPP_CACHE_BUCKETS];
	TAILQ_HEAD(, qipp_centry) lru;
	uint64_t		 seed;
	size_t			 n, max;
};

/* qipp_cache_hash: keyed FNV-1a over the address bytes. */
static size_t
qipp_cache_hash(const struct qipp_cache *c, const struct netaddr *a)
{
	uint64_t	 h = 1469598103934665603ULL ^ c->seed;
	size_t		 i;

	for (i = 0; i < sizeof(a->a); i++) {
		h ^= a->a[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 29;
	return (size_t)(h & (QIPP_CACHE_BUCKETS - 1));
}

/* qipp_cache_new: an empty cache of at most max addresses. */
struct qipp_cache *
qipp_cache_new(size_t max)
{
	struct qipp_cache	*c;
	size_t			 i;

	c = xcalloc(1, sizeof(*c));
	for (i = 0; i < QIPP_CACHE_BUCKETS; i++)
		LIST_INIT(&c->bucket[i]);
	TAILQ_INIT(&c->lru);
	c->max = max > 0 ? max : 1;
	if (getrandom(&c->seed, sizeof(c->seed), 0) != sizeof(c->seed))
		c->seed = (uint64_t)getpid() * 2654435761ULL;
	return c;
}

/* qipp_cache_remove: forget one entry. */
static void
qipp_cache_remove(struct qipp_cache *c, struct qipp_centry *e)
{
	LIST_REMOVE(e, hash);
	TAILQ_REMOVE(&c->lru, e, lru);
	c->n--;
	free(e);
}

void
qipp_cache_free(struct qipp_cache *c)
{
	struct qipp_centry	*e;

	if (c == NULL)
		return;
	while ((e = TAILQ_FIRST(&c->lru)) != NULL)
		qipp_cache_remove(c, e);
	free(c);
}

/* qipp_cache_find: the entry of an address, expired or not. */
static struct qipp_centry *
qipp_cache_find(const struct qipp_cache *c, const struct netaddr *a)
{
	struct qipp_centry	*e;

	LIST_FOREACH(e, &c->bucket[qipp_cache_hash(c, a)], hash)
		if (memcmp(e->ip.a, a->a, sizeof(a->a)) == 0)
			return e;
	return NULL;
}

/* qipp_cache_get: the kept answer about a, if still valid at now_ms. */
bool
qipp_cache_get(struct qipp_cache *c, const struct netaddr *a,
    uint64_t now_ms, struct ipp_verdict *v)
{
	struct qipp_centry	*e;

	if ((e = qipp_cache_find(c, a)) == NULL)
		return false;
	if (e->until_ms <= now_ms) {
		qipp_cache_remove(c, e);
		return false;
	}
	TAILQ_REMOVE(&c->lru, e, lru);
	TAILQ_INSERT_TAIL(&c->lru, e, lru);
	*v = e->v;
	return true;
}

/*
 * qipp_cache_put: keep the answer v about a for secs seconds from now_ms
 * (monotonic), but a temporary block only until its expiry (v->expires,
 * unix seconds, against now_wall).  The least recently used entry makes
 * room when the cache is full.
 */
void
qipp_cache_put(struct qipp_cache *c, const struct netaddr *a,
    const struct ipp_verdict *v, uint64_t now_ms, time_t now_wall,
    long long secs)
{
	struct qipp_centry	*e;
	uint64_t		 until;

	qipp_cache_drop(c, a);
	if (secs <= 0)
		return;
	until = now_ms + (uint64_t)secs * 1000;
	if (v->state == IPP_TEMP && v->expires != 0) {
		if (v->expires <= (uint64_t)now_wall)
			return;
		if (now_ms + (v->expires - (uint64_t)now_wall) * 1000 < until)
			until = now_ms + (v->expires - (uint64_t)now_wall) *
			    1000;
	}
	if (c->n >= c->max)
		qipp_cache_remove(c, TAILQ_FIRST(&c->lru));
	e = xcalloc(1, sizeof(*e));
	e->ip = *a;
	e->until_ms = until;
	e->v = *v;
	LIST_INSERT_HEAD(&c->bucket[qipp_cache_hash(c, a)], e, hash);
	TAILQ_INSERT_TAIL(&c->lru, e, lru);
	c->n++;
}

/* qipp_cache_drop: forget the answer about a (something happened). */
void
qipp_cache_drop(struct qipp_cache *c, const struct netaddr *a)
{
	struct qipp_centry	*e;

	if ((e = qipp_cache_find(c, a)) != NULL)
		qipp_cache_remove(c, e);
}

/* qipp_cache_size: addresses kept. */
size_t
qipp_cache_size(const struct qipp_cache *c)
{
	return c->n;
}

/*
 * ------------------------------------------------------------------------
 * The relay.
 * ------------------------------------------------------------------------
 */

/* A check forwarded to the profiler, waiting for its verdict. */
struct qipp_pending {
	TAILQ_ENTRY(qipp_pending) entry;
	uint64_t		 reqid;		/* ours, towards the profiler */
	uint64_t		 sid;		/* the smtp session's */
	struct netaddr		 ip;
	uint64_t		 sent_ms;	/* monotonic */
	bool			 nocache;	/* an event passed meanwhile */
};
TAILQ_HEAD(qipp_pending_list, qipp_pending);

static struct {
	struct ipc_chan		*chan;		/* NULL: not connected */
	struct qipp_cache	*cache;
	struct qipp_pending_list pending;	/* in the order sent */
	size_t			 npending;
	uint64_t		 reqid;
	struct event		*ev_sweep;
	uint64_t		 next_try_ms;	/* no connect try before */
	int			 backoff;	/* seconds */
	bool			 down_logged;
	uint64_t		 dropped;	/* events since the last line */
	uint64_t		 dropped_logged_ms;
	bool			 full_logged;
} qi;

static void	qipp_dispatch(struct ipc_chan *, struct ipc_msg_in *, void *);
static void	qipp_closed(struct ipc_chan *, enum ipc_close, void *);

/* qipp_conf: the [foxdns] settings. */
static const struct conf_foxdns *
qipp_conf(void)
{
	return &q.env->conf->foxdns;
}

/* qipp_now_ms: the monotonic clock in milliseconds. */
static uint64_t
qipp_now_ms(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("qipp_now_ms: clock_gettime");
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* qipp_answer: a verdict to the smtp session sid. */
static void
qipp_answer(uint64_t sid, const struct ipp_verdict *v)
{
	struct ipc_msg	*m = ipc_msg_new(IMSG_IPP_VERDICT, (uint32_t)sid);

	ipc_add_u64(m, sid);
	ipp_verdict_encode(m, v);
	ipc_chan_send(q.smtp, m);
}

/* qipp_answer_clean: let the session in (fail open). */
static void
qipp_answer_clean(uint64_t sid)
{
	struct ipp_verdict v;

	memset(&v, 0, sizeof(v));
	v.state = IPP_CLEAN;
	qipp_answer(sid, &v);
}

/* qipp_log_dropped: the line about events dropped while down. */
static void
qipp_log_dropped(uint64_t now_ms)
{
	if (qi.dropped == 0)
		return;
	log_kv(LOG_LVL_WARN, "event=ipprofiler-events-dropped n=%llu",
	    (unsigned long long)qi.dropped);
	qi.dropped = 0;
	qi.dropped_logged_ms = now_ms;
}

/* qipp_pending_free: forget a forwarded check. */
static void
qipp_pending_free(struct qipp_pending *p)
{
	TAILQ_REMOVE(&qi.pending, p, entry);
	qi.npending--;
	free(p);
}

/* qipp_fail_pending: answer every check in flight IPP_CLEAN. */
static void
qipp_fail_pending(void)
{
	struct qipp_pending	*p;

	while ((p = TAILQ_FIRST(&qi.pending)) != NULL) {
		qipp_answer_clean(p->sid);
		qipp_pending_free(p);
	}
}

/* qipp_disconnect: drop the connection; the pending checks pass. */
static void
qipp_disconnect(uint64_t now_ms)
{
	if (qi.chan != NULL) {
		ipc_chan_free(qi.chan);
		qi.chan = NULL;
	}
	qipp_fail_pending();
	qi.backoff = 1;
	qi.next_try_ms = now_ms + 1000;
	qi.down_logged = false;
}

/* qipp_closed: the profiler went away. */
static void
qipp_closed(struct ipc_chan *c, enum ipc_close why, void *arg)
{
	log_kv(LOG_LVL_WARN, "event=ipprofiler-lost why=%s inflight=%zu",
	    ipc_close_name(why), qi.npending);
	qipp_disconnect(qipp_now_ms());
}

/*
 * qipp_connect: try the profiler's socket unless a pause after a failed
 * try is still running; true when connected.
 */
static bool
qipp_connect(uint64_t now_ms)
{
	char	 path[4096];
	uid_t	 uid = (uid_t)-1;
	gid_t	 gid;
	pid_t	 pid = 0;
	int	 fd;

	if (qi.chan != NULL)
		return true;
	if (now_ms < qi.next_try_ms)
		return false;
	if (!str_printf(path, sizeof(path), "%s/ipprofiler.sock",
	    q.env->conf->imss.run_dir))
		fatalx("qipp_connect: run_dir too long");
	if ((fd = ipc_connect_unix(path)) != -1 &&
	    (ipc_peer_cred(fd, &uid, &gid, &pid) == -1 || (uid != 0 &&
	    uid != getuid() && uid != q.env->ipprofiler_uid))) {
		/* Only the profiler's user (or root) may answer for it. */
		log_kv(LOG_LVL_ERR, "event=ipprofiler-refused socket=%s "
		    "uid=%ld", path, (long)uid);
		close(fd);
		fd = -1;
		errno = EPERM;
	}
	if (fd == -1) {
		if (!qi.down_logged)
			log_kv(LOG_LVL_WARN, "event=ipprofiler-unavailable "
			    "socket=%s err=\"%s\" action=fail-open", path,
			    strerror(errno));
		qi.down_logged = true;
		qi.next_try_ms = now_ms + (uint64_t)qi.backoff * 1000;
		if (qi.backoff < QIPP_RECONNECT_MAX)
			qi.backoff = qi.backoff * 2 > QIPP_RECONNECT_MAX ?
			    QIPP_RECONNECT_MAX : qi.backoff * 2;
		return false;
	}
	qi.chan = ipc_chan_new(q.base, fd, QIPP_MAX_PAYLOAD, qipp_dispatch,
	    qipp_closed, NULL);
	ipc_chan_set_name(qi.chan, "ipprofiler");
	log_kv(LOG_LVL_INFO, "event=ipprofiler-connected pid=%ld", (long)pid);
	qipp_log_dropped(now_ms);
	qi.down_logged = false;
	qi.full_logged = false;
	qi.backoff = 1;
	return true;
}

/* qipp_sweep_arm: look at the oldest check again when it is due. */
static void
qipp_sweep_arm(uint64_t now_ms)
{
	struct qipp_pending	*p;
	struct timeval		 tv;
	uint64_t		 due, wait;

	if ((p = TAILQ_FIRST(&qi.pending)) == NULL) {
		evtimer_del(qi.ev_sweep);
		return;
	}
	due = p->sent_ms + (uint64_t)qipp_conf()->check_timeout_ms +
	    QIPP_SLACK_MS;
	wait = due > now_ms ? due - now_ms : 0;
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	evtimer_add(qi.ev_sweep, &tv);
}

/*
 * qipp_sweep: checks the profiler left unanswered past the session's own
 * deadline are given up (the session has let its client in already).
 */
static void
qipp_sweep(evutil_socket_t fd, short ev, void *arg)
{
	struct qipp_pending	*p;
	uint64_t		 now = qipp_now_ms(), limit;
	size_t			 n = 0;

	limit = (uint64_t)qipp_conf()->check_timeout_ms + QIPP_SLACK_MS;
	while ((p = TAILQ_FIRST(&qi.pending)) != NULL &&
	    p->sent_ms + limit <= now) {
		qipp_answer_clean(p->sid);
		qipp_pending_free(p);
		n++;
	}
	if (n > 0)
		log_kv(LOG_LVL_WARN, "event=ipprofiler-slow expired=%zu "
		    "inflight=%zu", n, qi.npending);
	qipp_sweep_arm(now);
}

/* qipp_check: a check from the smtp session sid about ip. */
static void
qipp_check(uint64_t sid, const struct netaddr *ip, const char *text)
{
	struct qipp_pending	*p;
	struct ipp_verdict	 v;
	struct ipc_msg		*m;
	uint64_t		 now = qipp_now_ms();

	if (!qipp_conf()->enabled) {
		qipp_answer_clean(sid);
		return;
	}
	if (qipp_cache_get(qi.cache, ip, now, &v)) {
		qipp_answer(sid, &v);
		return;
	}
	if (!qipp_connect(now)) {
		qipp_answer_clean(sid);
		return;
	}
	if (qi.npending >= QIPP_MAX_PENDING) {
		if (!qi.full_logged)
			log_kv(LOG_LVL_WARN, "event=ipprofiler-busy "
			    "inflight=%zu action=fail-open", qi.npending);
		qi.full_logged = true;
		qipp_answer_clean(sid);
		return;
	}
	qi.full_logged = false;
	p = xcalloc(1, sizeof(*p));
	p->reqid = ++qi.reqid;
	p->sid = sid;
	p->ip = *ip;
	p->sent_ms = now;
	TAILQ_INSERT_TAIL(&qi.pending, p, entry);
	qi.npending++;
	m = ipc_msg_new(IMSG_IPP_CHECK, 0);
	ipc_add_u64(m, p->reqid);
	ipc_add_str(m, text);
	/* On failure qipp_closed follows from the loop: answered there. */
	(void)ipc_chan_send(qi.chan, m);
	if (qi.npending == 1)
		qipp_sweep_arm(now);
}

/*
 * qipp_event: what one client address did passes towards the profiler:
 * what is known about that address is stale from now on.
 */
static void
qipp_event(const struct ipp_event *e)
{
	struct qipp_pending	*p;
	struct ipc_msg		*m;
	uint64_t		 now;

	if (!qipp_conf()->enabled || ipp_event_empty(e))
		return;
	now = qipp_now_ms();
	qipp_cache_drop(qi.cache, &e->ip);
	TAILQ_FOREACH(p, &qi.pending, entry)
		if (memcmp(p->ip.a, e->ip.a, sizeof(e->ip.a)) == 0)
			p->nocache = true;
	if (!qipp_connect(now)) {
		qi.dropped++;
		if (now >= qi.dropped_logged_ms + QIPP_DROP_LOG_SECS * 1000)
			qipp_log_dropped(now);
		return;
	}
	m = ipc_msg_new(IMSG_IPP_EVENT, 0);
	ipp_event_encode(m, e);
	(void)ipc_chan_send(qi.chan, m);
}

/* qipp_dispatch: a verdict from the profiler. */
static void
qipp_dispatch(struct ipc_chan *c, struct ipc_msg_in *msg, void *arg)
{
	struct qipp_pending	*p;
	struct ipp_verdict	 v;
	uint64_t		 reqid;

	if (msg->type != IMSG_IPP_VERDICT || !ipc_get_u64(msg, &reqid) ||
	    !ipp_verdict_decode(msg, &v)) {
		log_kv(LOG_LVL_ERR, "event=ipprofiler-protocol type=%s",
		    ipc_type_name(msg->type));
		qipp_disconnect(qipp_now_ms());
		return;
	}
	/* Answers come in order: the match is almost always the first. */
	TAILQ_FOREACH(p, &qi.pending, entry)
		if (p->reqid == reqid)
			break;
	if (p == NULL) {
		/* Given up on already (qipp_sweep), or never asked. */
		if (reqid == 0 || reqid > qi.reqid) {
			log_kv(LOG_LVL_ERR, "event=ipprofiler-protocol "
			    "err=\"unknown request %llu\"",
			    (unsigned long long)reqid);
			qipp_disconnect(qipp_now_ms());
		}
		return;
	}
	if (!p->nocache)
		qipp_cache_put(qi.cache, &p->ip, &v, qipp_now_ms(), time(NULL),
		    qipp_conf()->check_cache_secs);
	qipp_answer(p->sid, &v);
	qipp_pending_free(p);
}

/*
 * ------------------------------------------------------------------------
 * What the queue process calls.
 * ------------------------------------------------------------------------
 */

/* qipp_init: not connected; the first check or event connects. */
void
qipp_init(void)
{
	TAILQ_INIT(&qi.pending);
	qi.cache = qipp_cache_new(QIPP_CACHE_MAX);
	if ((qi.ev_sweep = evtimer_new(q.base, qipp_sweep, NULL)) == NULL)
		fatalx("qipp_init: evtimer_new");
	qi.backoff = 1;
}

/* qipp_free: release everything at exit. */
void
qipp_free(void)
{
	struct qipp_pending	*p;

	qipp_log_dropped(0);
	while ((p = TAILQ_FIRST(&qi.pending)) != NULL)
		qipp_pending_free(p);
	if (qi.chan != NULL)
		ipc_chan_free(qi.chan);
	if (qi.ev_sweep != NULL)
		event_free(qi.ev_sweep);
	qipp_cache_free(qi.cache);
	memset(&qi, 0, sizeof(qi));
}

/*
 * qipp_smtp_check: IMSG_IPP_CHECK from the smtp process (u64 reqid = the
 * session id, str ip).  The smtp process is a sibling: bad bytes are a
 * broken invariant, fatal for us.
 */
void
qipp_smtp_check(struct ipc_msg_in *m)
{
	struct netaddr	 ip;
	uint64_t	 sid;
	char		 text[IPP_IP_MAX];

	if (!ipc_get_u64(m, &sid) || sid == 0 || sid > UINT32_MAX ||
	    !ipc_get_str(m, text, sizeof(text)) || !ipc_end(m) ||
	    !ipp_ip_parse(&ip, text))
		fatalx("qipp_smtp_check: bad IMSG_IPP_CHECK from smtp");
	qipp_check(sid, &ip, text);
}

/* qipp_smtp_event: IMSG_IPP_EVENT from the smtp process. */
void
qipp_smtp_event(struct ipc_msg_in *m)
{
	struct ipp_event	 e;

	if (!ipp_event_decode(m, &e))
		fatalx("qipp_smtp_event: bad IMSG_IPP_EVENT from smtp");
	qipp_event(&e);
}

/*
 * qipp_envelope_event: an event about the client of a message, when it
 * has one: messages generated here (reports, notifications) have none,
 * a message released from the quarantine was counted at its first scan,
 * and a client in RelayNetworks is judged only with profile_relay_clients
 * (as the smtp process does).
 */
static bool
qipp_envelope_event(const struct envelope *env, struct ipp_event *e)
{
	const struct conf_foxdns *f = qipp_conf();

	memset(e, 0, sizeof(*e));
	return f->enabled && env->client_ip != NULL && env->skiprule == NULL &&
	    ipp_ip_parse(&e->ip, env->client_ip) &&
	    (f->profile_relay_clients ||
	    !netaddr_list_match(&q.env->relay_networks, &e->ip));
}

/* qipp_scanned: a successful scan of env and what it found. */
void
qipp_scanned(const struct envelope *env, bool spam, bool virus)
{
	struct ipp_event	 e;

	if (!qipp_envelope_event(env, &e))
		return;
	e.c[IPP_C_SCANNED] = 1;
	e.c[IPP_C_SPAM] = spam;
	e.c[IPP_C_VIRUS] = virus;
	qipp_event(&e);
}

/* qipp_unknown_rcpts: n recipients of env a next hop does not know. */
void
qipp_unknown_rcpts(const struct envelope *env, uint32_t n)
{
	struct ipp_event	 e;

	if (n == 0 || !qipp_envelope_event(env, &e))
		return;
	e.c[IPP_C_UNKNOWN] = n > IPP_COUNTER_MAX ? IPP_COUNTER_MAX : n;
	qipp_event(&e);
}
