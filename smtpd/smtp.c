/*
 * smtp.c: the smtp process of sekisho-smtpd.
 *
 * Owns the event loop of the process, its channels to the parent and to
 * the queue, the listening sockets the parent sends, the connection
 * limits (total and per client address), the resolver of the reputation
 * check (NrsZones) and the table of live sessions, through which the
 * queue's replies (peerid = session id; the IP profiler's verdicts by
 * their reqid, the session id too) find their session.  A reply for a
 * session that has gone is cleaned up here: the spool descriptor is
 * closed and the message aborted.
 *
 * Descriptors: the process never runs out of them.  At start
 * MaxConnections is capped to what RLIMIT_NOFILE allows (a reserve, then
 * two per session: the connection and the spool file of its DATA); a
 * connection that still finds the table short (accept says EMFILE, or
 * the descriptor it got is within the reserve) is answered 421 4.3.2 and
 * closed, using a spare descriptor kept open for exactly that.  Should
 * a spool descriptor from the queue still be dropped by the kernel, only
 * that message fails (4xx), not the channel.
 *
 * Spool space: the queue says when the spool's file system falls below
 * QueueMinFreeMB (IMSG_QUEUE_SPOOL_SPACE); meanwhile MAIL and DATA get
 * 452 4.3.1.
 *
 * Signals: SIGTERM/SIGINT are ignored; the parent drives shutdown over
 * IMSG_SMTP_SHUTDOWN, and its death (EOF on the channel) ends the process.
 * A failing queue channel is fatal (the parent restarts the daemon).
 */
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "dns.h"
#include "envelope.h"
#include "ipc.h"
#include "ipp_proto.h"
#include "log.h"
#include "netaddr.h"
#include "smtp.h"
#include "smtp_session.h"
#include "util.h"
#include "xmalloc.h"

#define SMTP_CONN_BUCKETS	4096	/* session table, power of two */
#define SMTP_IPTAB_BUCKETS	4096	/* per-IP counts, power of two */
#define SMTP_ACCEPT_BURST	64	/* accepts per listener wakeup */
#define SMTP_ACCEPT_PAUSE	1	/* seconds, when out of descriptors */
#define SMTP_GRACE_SECONDS	60	/* graceful shutdown, then forced */
#define SMTP_EXIT_FLUSH_MS	2000	/* last queue messages at exit */
#define SMTP_FD_LOW		8	/* refuse when a new fd is this close
					   to RLIMIT_NOFILE */

struct smtp_listener {
	TAILQ_ENTRY(smtp_listener) entry;
	int			 fd;
	bool			 smtps;
	char			 addr[64];
	uint16_t		 port;
	struct event		*ev;
};

/* A live connection: what smtp.c knows of a session. */
struct smtp_conn {
	LIST_ENTRY(smtp_conn)	 entry;
	uint32_t		 id;
	struct netaddr		 peer;
	struct smtp_session	*session;
};

struct smtp_iptab_entry {
	LIST_ENTRY(smtp_iptab_entry) entry;
	struct netaddr		 addr;
	unsigned		 count;
};

struct smtp_iptab {
	LIST_HEAD(, smtp_iptab_entry) bucket[SMTP_IPTAB_BUCKETS];
	uint64_t		 seed;
	size_t			 n;
};

static struct {
	struct event_base	*base;
	struct smtpd		*env;
	struct ipc_chan		*parent;
	struct ipc_chan		*queue;
	TAILQ_HEAD(, smtp_listener) listeners;
	LIST_HEAD(, smtp_conn)	 conns[SMTP_CONN_BUCKETS];
	size_t			 nconns;
	struct smtp_iptab	*iptab;
	uint32_t		 next_id;
	bool			 stopping;
	bool			 exiting;
	struct event		*ev_grace;
	struct event		*ev_resume;
	struct event		*ev_exit;
	int			 exit_wait_ms;
	struct dns		*nrs_dns;	/* NULL: no NrsZones */
	unsigned long long	 max_conns;	/* MaxConnections, capped */
	unsigned long long	 nofile;	/* RLIMIT_NOFILE (soft) */
	int			 spare_fd;	/* to accept-and-refuse with */
	bool			 spool_low;	/* IMSG_QUEUE_SPOOL_SPACE */
	uint64_t		 spool_free;	/* bytes, as last reported */
	uint64_t		 spool_min;
} smtp;

static void	smtp_exit(void);

/*
 * ------------------------------------------------------------------------
 * Per-address connection counts.
 * ------------------------------------------------------------------------
 */

/* smtp_iptab_hash: keyed FNV-1a over the 16 address bytes. */
static size_t
smtp_iptab_hash(const struct smtp_iptab *t, const struct netaddr *a)
{
	uint64_t	 h = 1469598103934665603ULL ^ t->seed;
	size_t		 i;

	for (i = 0; i < sizeof(a->a); i++) {
		h ^= a->a[i];
		h *= 1099511628211ULL;
	}
	h ^= h >> 29;
	return (size_t)(h & (SMTP_IPTAB_BUCKETS - 1));
}

/* smtp_iptab_new: an empty table with a random hash key. */
struct smtp_iptab *
smtp_iptab_new(void)
{
	struct smtp_iptab	*t;
	size_t			 i;

	t = xcalloc(1, sizeof(*t));
	for (i = 0; i < SMTP_IPTAB_BUCKETS; i++)
		LIST_INIT(&t->bucket[i]);
	if (getrandom(&t->seed, sizeof(t->seed), 0) != sizeof(t->seed))
		t->seed = (uint64_t)getpid() * 2654435761ULL;
	return t;
}

void
smtp_iptab_free(struct smtp_iptab *t)
{
	struct smtp_iptab_entry	*e;
	size_t			 i;

	if (t == NULL)
		return;
	for (i = 0; i < SMTP_IPTAB_BUCKETS; i++)
		while ((e = LIST_FIRST(&t->bucket[i])) != NULL) {
			LIST_REMOVE(e, entry);
			free(e);
		}
	free(t);
}

/* smtp_iptab_find: the entry of an address (host address, plen ignored). */
static struct smtp_iptab_entry *
smtp_iptab_find(const struct smtp_iptab *t, const struct netaddr *a)
{
	struct smtp_iptab_entry	*e;

	LIST_FOREACH(e, &t->bucket[smtp_iptab_hash(t, a)], entry)
		if (memcmp(e->addr.a, a->a, sizeof(a->a)) == 0)
			return e;
	return NULL;
}

/* smtp_iptab_count: current connections from an address. */
unsigned
smtp_iptab_count(const struct smtp_iptab *t, const struct netaddr *a)
{
	struct smtp_iptab_entry	*e = smtp_iptab_find(t, a);

	return e != NULL ? e->count : 0;
}

/* smtp_iptab_inc: one more connection from a; returns the new count. */
unsigned
smtp_iptab_inc(struct smtp_iptab *t, const struct netaddr *a)
{
	struct smtp_iptab_entry	*e;

	if ((e = smtp_iptab_find(t, a)) == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->addr = *a;
		LIST_INSERT_HEAD(&t->bucket[smtp_iptab_hash(t, a)], e, entry);
		t->n++;
	}
	return ++e->count;
}

/* smtp_iptab_dec: one connection less; the entry goes at zero. */
void
smtp_iptab_dec(struct smtp_iptab *t, const struct netaddr *a)
{
	struct smtp_iptab_entry	*e;

	if ((e = smtp_iptab_find(t, a)) == NULL || e->count == 0)
		fatalx("smtp_iptab_dec: address not counted");
	if (--e->count == 0) {
		LIST_REMOVE(e, entry);
		free(e);
		t->n--;
	}
}

/* smtp_iptab_size: addresses with connections. */
size_t
smtp_iptab_size(const struct smtp_iptab *t)
{
	return t->n;
}

/*
 * ------------------------------------------------------------------------
 * Resource limits: descriptors and spool space (pure helpers).
 * ------------------------------------------------------------------------
 */

/*
 * smtp_fd_max_sessions: the sessions RLIMIT_NOFILE nofile can carry:
 * SMTP_FD_PER_SESSION each after SMTP_FD_RESERVE (at least 1).
 */
unsigned long long
smtp_fd_max_sessions(unsigned long long nofile)
{
	if (nofile <= SMTP_FD_RESERVE + SMTP_FD_PER_SESSION)
		return 1;
	return (nofile - SMTP_FD_RESERVE) / SMTP_FD_PER_SESSION;
}

/*
 * smtp_spool_min_free: the free bytes QueueMinFreeMB asks for on a file
 * system of fs_bytes: min_mb MB, but never more than
 * SMTP_SPOOL_MIN_FREE_PCT percent of it (so a small spool is not refused
 * outright).
 */
uint64_t
smtp_spool_min_free(long long min_mb, uint64_t fs_bytes)
{
	uint64_t	 want, cap = fs_bytes / 100 * SMTP_SPOOL_MIN_FREE_PCT;

	if (min_mb <= 0)
		return 0;
	want = (uint64_t)min_mb * 1024 * 1024;
	return want < cap ? want : cap;
}

/* smtp_spool_low: free bytes are below min (or none are left at all). */
bool
smtp_spool_low(uint64_t free_bytes, uint64_t min)
{
	return free_bytes == 0 || free_bytes < min;
}

/*
 * smtp_spool_refuse: a new transaction of size bytes (0: unknown) must be
 * refused for lack of spool space (smtp_session.h): the spool is low, or
 * the announced size would take it below the minimum.
 */
bool
smtp_spool_refuse(uint64_t size)
{
	if (smtp.spool_low)
		return true;
	return size > 0 && smtp.spool_free != 0 &&
	    (smtp.spool_free < smtp.spool_min ||
	    size > smtp.spool_free - smtp.spool_min);
}

/*
 * smtp_fd_limits: cap MaxConnections to what RLIMIT_NOFILE allows, and
 * keep the spare descriptor.
 */
static void
smtp_fd_limits(void)
{
	const struct conf_tsmtpd *t = &smtp.env->conf->tsmtpd;
	struct rlimit	 rl;
	unsigned long long cap;

	smtp.max_conns = (unsigned long long)t->max_connections;
	smtp.nofile = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("smtp_fd_limits: getrlimit");
	else if (rl.rlim_cur != RLIM_INFINITY)
		smtp.nofile = (unsigned long long)rl.rlim_cur;
	if (smtp.nofile > 0 &&
	    (cap = smtp_fd_max_sessions(smtp.nofile)) < smtp.max_conns) {
		log_kv(LOG_LVL_WARN, "event=max-connections-capped "
		    "configured=%lld effective=%llu nofile=%llu reserve=%d "
		    "per_session=%d", t->max_connections, cap, smtp.nofile,
		    SMTP_FD_RESERVE, SMTP_FD_PER_SESSION);
		smtp.max_conns = cap;
	}
	/* "/" is the empty chroot: any descriptor does, this one is cheap. */
	if ((smtp.spare_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		log_warn("smtp_fd_limits: spare descriptor");
}

/*
 * ------------------------------------------------------------------------
 * The session table.
 * ------------------------------------------------------------------------
 */

static struct smtp_conn *
smtp_conn_find(uint32_t id)
{
	struct smtp_conn	*c;

	LIST_FOREACH(c, &smtp.conns[id & (SMTP_CONN_BUCKETS - 1)], entry)
		if (c->id == id)
			return c;
	return NULL;
}

/* smtp_conn_id: a fresh session id (never 0, never one in use). */
static uint32_t
smtp_conn_id(void)
{
	do
		smtp.next_id++;
	while (smtp.next_id == 0 || smtp_conn_find(smtp.next_id) != NULL);
	return smtp.next_id;
}

/* smtp_session_released: a session ended; forget it (smtp_session.h). */
void
smtp_session_released(uint32_t id)
{
	struct smtp_conn	*c;

	if ((c = smtp_conn_find(id)) == NULL)
		fatalx("smtp_session_released: sid=%08x: unknown", id);
	LIST_REMOVE(c, entry);
	smtp_iptab_dec(smtp.iptab, &c->peer);
	smtp.nconns--;
	free(c);
	if (smtp.stopping && smtp.nconns == 0)
		smtp_exit();
}

/* smtp_shutting_down: a shutdown is in progress (smtp_session.h). */
bool
smtp_shutting_down(void)
{
	return smtp.stopping;
}

/* smtp_nrs_dns: the resolver of the reputation check (smtp_session.h). */
struct dns *
smtp_nrs_dns(void)
{
	return smtp.nrs_dns;
}

/*
 * smtp_nrs_init: the resolver for NrsZones, on the name servers the
 * parent found for us (we cannot read resolv.conf in the chroot).  Each
 * try is bounded so that two fit into NrsTimeout; the session's own timer
 * cuts the rest.  Without one the check is skipped (fail open).
 */
static void
smtp_nrs_init(void)
{
	const struct conf_tsmtpd *t = &smtp.env->conf->tsmtpd;
	struct dns_opts	 o;
	long long	 ms;

	if (t->nrs_zones.n == 0)
		return;
	memset(&o, 0, sizeof(o));
	o.servers = smtp.env->nrs_servers;
	ms = t->nrs_timeout * 1000 / 2;
	o.timeout_ms = (int)(ms < 200 ? 200 : ms > 2000 ? 2000 : ms);
	o.tries = 2;
	if ((smtp.nrs_dns = dns_new(smtp.base, &o)) == NULL)
		log_kv(LOG_LVL_ERR, "event=nrs-unavailable servers=%s "
		    "action=fail-open", smtp.env->nrs_servers);
}

/* smtp_queue_send: send a message to the queue (smtp_session.h). */
void
smtp_queue_send(struct ipc_msg *m)
{
	if (smtp.queue == NULL) {
		ipc_msg_free(m);
		return;
	}
	/* On failure the channel's closed callback (fatal) follows. */
	(void)ipc_chan_send(smtp.queue, m);
}

/*
 * ------------------------------------------------------------------------
 * Listeners and accepting.
 * ------------------------------------------------------------------------
 */

/* smtp_listeners_enable: (re)arm or stop every listener. */
static void
smtp_listeners_enable(bool on)
{
	struct smtp_listener	*l;

	TAILQ_FOREACH(l, &smtp.listeners, entry) {
		if (on)
			event_add(l->ev, NULL);
		else
			event_del(l->ev);
	}
}

/* smtp_listeners_close: close every listening socket (shutdown). */
static void
smtp_listeners_close(void)
{
	struct smtp_listener	*l;

	while ((l = TAILQ_FIRST(&smtp.listeners)) != NULL) {
		TAILQ_REMOVE(&smtp.listeners, l, entry);
		event_free(l->ev);
		(void)close(l->fd);
		free(l);
	}
	if (smtp.ev_resume != NULL)
		event_del(smtp.ev_resume);
}

static void
smtp_resume_cb(evutil_socket_t fd, short ev, void *arg)
{
	if (!smtp.stopping)
		smtp_listeners_enable(true);
}

/*
 * smtp_refuse: answer a connection over a limit with 421 and close it,
 * without a session.  Best effort: the socket is new and its send buffer
 * empty, so the one line fits; on SMTPS a plaintext line is useless.
 * Out of descriptors (busy) the code is 4.3.2 (system not accepting
 * messages), over a configured limit 4.7.0.
 */
static void
smtp_refuse(const struct smtp_listener *l, int fd, const char *ip,
    const char *why, bool busy)
{
	char	 line[512];
	ssize_t	 n;

	log_kv(LOG_LVL_INFO, "event=reject ip=%s code=421 reason=%s", ip, why);
	if (!l->smtps && str_printf(line, sizeof(line),
	    "421 %s %s Too many connections, try again later\r\n",
	    busy ? "4.3.2" : "4.7.0", smtp.env->hostname)) {
		do
			n = send(fd, line, strlen(line), MSG_NOSIGNAL);
		while (n == -1 && errno == EINTR);
	}
	(void)close(fd);
}

/*
 * smtp_accept_spare: accept returned EMFILE/ENFILE: give up the spare
 * descriptor for one accept, refuse that connection, take the spare back.
 * False when there is no spare (the listeners pause instead).
 */
static bool
smtp_accept_spare(const struct smtp_listener *l)
{
	struct sockaddr_storage	 ss;
	struct netaddr		 peer;
	socklen_t		 len = sizeof(ss);
	char			 ip[NETADDR_STRLEN] = "unknown";
	int			 fd;

	if (smtp.spare_fd == -1)
		return false;
	(void)close(smtp.spare_fd);
	fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
	    SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd != -1) {
		if (netaddr_from_sockaddr(&peer, (struct sockaddr *)&ss, len))
			(void)netaddr_format(ip, sizeof(ip), &peer);
		smtp_refuse(l, fd, ip, "out-of-descriptors", true);
	}
	smtp.spare_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd != -1 && smtp.spare_fd != -1;
}

/* smtp_accept: limits, then a session for a new connection. */
static void
smtp_accept(const struct smtp_listener *l, int fd,
    const struct sockaddr_storage *ss, socklen_t len)
{
	const struct conf_tsmtpd *t = &smtp.env->conf->tsmtpd;
	struct smtp_conn	*c;
	struct netaddr		 peer;
	char			 ip[NETADDR_STRLEN];
	uint16_t		 port = 0;

	if (!netaddr_from_sockaddr(&peer, (const struct sockaddr *)ss, len)) {
		(void)close(fd);
		return;
	}
	if (ss->ss_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	else
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	(void)netaddr_format(ip, sizeof(ip), &peer);
	/* Lowest-free allocation: every descriptor below fd is in use. */
	if (smtp.nofile > 0 &&
	    (unsigned long long)fd + SMTP_FD_LOW >= smtp.nofile) {
		smtp_refuse(l, fd, ip, "out-of-descriptors", true);
		return;
	}
	if (smtp.max_conns > 0 && smtp.nconns >= smtp.max_conns) {
		smtp_refuse(l, fd, ip, "too-many-connections", false);
		return;
	}
	if (t->max_connections_per_ip > 0 &&
	    smtp_iptab_count(smtp.iptab, &peer) >=
	    (unsigned long long)t->max_connections_per_ip) {
		smtp_refuse(l, fd, ip, "too-many-connections-per-ip", false);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->id = smtp_conn_id();
	c->peer = peer;
	LIST_INSERT_HEAD(&smtp.conns[c->id & (SMTP_CONN_BUCKETS - 1)], c,
	    entry);
	smtp_iptab_inc(smtp.iptab, &peer);
	smtp.nconns++;
	c->session = smtp_session_new(smtp.env, smtp.base, c->id, fd, &peer,
	    port, l->smtps);
	if (c->session == NULL) {
		LIST_REMOVE(c, entry);
		smtp_iptab_dec(smtp.iptab, &peer);
		smtp.nconns--;
		free(c);
	}
}

/* smtp_accept_cb: accept what is pending on a listener. */
static void
smtp_accept_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct smtp_listener	*l = arg;
	struct sockaddr_storage	 ss;
	struct timeval		 tv = { SMTP_ACCEPT_PAUSE, 0 };
	socklen_t		 len;
	int			 i, cfd;

	for (i = 0; i < SMTP_ACCEPT_BURST && !smtp.stopping; i++) {
		len = sizeof(ss);
		cfd = accept4(l->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd != -1) {
			smtp_accept(l, cfd, &ss, len);
			continue;
		}
		switch (errno) {
		case EAGAIN:
#if EWOULDBLOCK != EAGAIN
		case EWOULDBLOCK:
#endif
			return;
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			continue;
		case EMFILE:
		case ENFILE:
			if (smtp_accept_spare(l))
				continue;
			/* FALLTHROUGH */
		case ENOBUFS:
		case ENOMEM:
			log_warn("smtp_accept_cb: %s port %u: accept, pausing "
			    "listeners", l->addr, l->port);
			smtp_listeners_enable(false);
			event_add(smtp.ev_resume, &tv);
			return;
		default:
			log_warn("smtp_accept_cb: %s port %u: accept", l->addr,
			    l->port);
			return;
		}
	}
}

/* smtp_listener_add: start accepting on a socket from the parent. */
static void
smtp_listener_add(uint8_t kind, const char *addr, uint16_t port, int fd)
{
	struct smtp_listener	*l;

	if (kind != SMTP_LISTENER_SMTP && kind != SMTP_LISTENER_SMTPS)
		fatalx("smtp_listener_add: bad kind %u", kind);
	if (kind == SMTP_LISTENER_SMTPS && smtp.env->ssl_ctx == NULL) {
		log_warnx("smtp_listener_add: %s port %u: SMTPS listener "
		    "without TLS, closed", addr, port);
		(void)close(fd);
		return;
	}
	if (smtp.stopping) {
		(void)close(fd);
		return;
	}
	l = xcalloc(1, sizeof(*l));
	l->fd = fd;
	l->smtps = kind == SMTP_LISTENER_SMTPS;
	str_lcpy(l->addr, addr, sizeof(l->addr));
	l->port = port;
	if ((l->ev = event_new(smtp.base, fd, EV_READ | EV_PERSIST,
	    smtp_accept_cb, l)) == NULL)
		fatalx("smtp_listener_add: event_new");
	TAILQ_INSERT_TAIL(&smtp.listeners, l, entry);
	if (event_add(l->ev, NULL) == -1)
		fatalx("smtp_listener_add: event_add");
	log_kv(LOG_LVL_INFO, "event=listener addr=%s port=%u kind=%s",
	    l->addr, port, l->smtps ? "smtps" : "smtp");
}

/*
 * ------------------------------------------------------------------------
 * Shutdown and exit.
 * ------------------------------------------------------------------------
 */

/* smtp_exit_cb: leave the loop once the queue has our last messages. */
static void
smtp_exit_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv = { 0, 20 * 1000 };

	smtp.exit_wait_ms += 20;
	if (smtp.queue == NULL || ipc_chan_closed(smtp.queue) ||
	    ipc_chan_outq_len(smtp.queue) == 0 ||
	    smtp.exit_wait_ms >= SMTP_EXIT_FLUSH_MS) {
		event_base_loopbreak(smtp.base);
		return;
	}
	event_add(smtp.ev_exit, &tv);
}

/* smtp_exit: no session is left: finish sending, then leave the loop. */
static void
smtp_exit(void)
{
	struct timeval	 tv = { 0, 0 };

	if (smtp.exiting)
		return;
	smtp.exiting = true;
	smtp_listeners_close();
	log_kv(LOG_LVL_INFO, "event=smtp-exit");
	event_add(smtp.ev_exit, &tv);
}

/*
 * smtp_shutdown: stop accepting; graceful: idle sessions get 421 and close
 * now, a session in a mail transaction may finish it (then gets 421), for
 * at most SMTP_GRACE_SECONDS; forced: every session closes now and its
 * open message is aborted.
 */
static void
smtp_shutdown(bool forced)
{
	struct smtp_conn	*c, *next;
	struct timeval		 tv = { SMTP_GRACE_SECONDS, 0 };
	size_t			 i;

	log_kv(LOG_LVL_INFO, "event=smtp-shutdown mode=%s sessions=%zu",
	    forced ? "forced" : "graceful", smtp.nconns);
	if (!smtp.stopping) {
		smtp.stopping = true;
		smtp_listeners_close();
		if (!forced)
			event_add(smtp.ev_grace, &tv);
	}
	for (i = 0; i < SMTP_CONN_BUCKETS; i++)
		for (c = LIST_FIRST(&smtp.conns[i]); c != NULL; c = next) {
			next = LIST_NEXT(c, entry);
			/* A close frees c (smtp_session_released). */
			smtp_session_shutdown(c->session, forced);
		}
	if (smtp.nconns == 0)
		smtp_exit();
}

static void
smtp_grace_cb(evutil_socket_t fd, short ev, void *arg)
{
	log_kv(LOG_LVL_INFO, "event=smtp-grace-expired sessions=%zu",
	    smtp.nconns);
	smtp_shutdown(true);
}

/*
 * ------------------------------------------------------------------------
 * Channels.
 * ------------------------------------------------------------------------
 */

/* smtp_parent_dispatch: listeners and shutdown orders from the parent. */
static void
smtp_parent_dispatch(struct ipc_chan *chan, struct ipc_msg_in *m, void *arg)
{
	char		 addr[64];
	uint8_t		 kind, mode;
	uint16_t	 port;

	switch (m->type) {
	case IMSG_SMTP_LISTENER:
		if (!ipc_get_u8(m, &kind) ||
		    !ipc_get_str(m, addr, sizeof(addr)) ||
		    !ipc_get_u16(m, &port) || !ipc_end(m) || m->fd == -1)
			fatalx("smtp_parent_dispatch: bad IMSG_SMTP_LISTENER");
		smtp_listener_add(kind, addr, port, ipc_msg_take_fd(m));
		break;
	case IMSG_SMTP_SHUTDOWN:
		if (!ipc_get_u8(m, &mode) || !ipc_end(m) || mode > 1)
			fatalx("smtp_parent_dispatch: bad IMSG_SMTP_SHUTDOWN");
		smtp_shutdown(mode == 1);
		break;
	default:
		fatalx("smtp_parent_dispatch: unexpected %s",
		    ipc_type_name(m->type));
	}
}

/* smtp_qid_valid: a queue id as docs/spool.md defines it. */
static bool
smtp_qid_valid(const char *qid)
{
	size_t	 i;

	for (i = 0; qid[i] != '\0'; i++)
		if (!((qid[i] >= '0' && qid[i] <= '9') ||
		    (qid[i] >= 'a' && qid[i] <= 'f')))
			return false;
	return i == SPOOL_ID_LEN;
}

/* smtp_queue_abort: tell the queue to drop a message nobody will write. */
static void
smtp_queue_abort(uint32_t sid, const char *qid, const char *why)
{
	struct ipc_msg	*abort;

	abort = ipc_msg_new(IMSG_QUEUE_MSG_ABORT, sid);
	ipc_add_str(abort, qid);
	smtp_queue_send(abort);
	log_kv(LOG_LVL_INFO, "event=abort sid=%08x qid=%s reason=%s", sid, qid,
	    why);
}

/*
 * smtp_queue_created: IMSG_QUEUE_MSG_CREATED, to its session.  A spool
 * descriptor the kernel dropped (we were out of descriptors, the channel
 * lets it through: ipc_chan_set_fd_loss) fails only this message.
 */
static void
smtp_queue_created(struct ipc_msg_in *m)
{
	struct smtp_conn	*c;
	enum smtp_created	 how;
	uint8_t			 st;
	char			*text;
	bool			 ok;

	if (!ipc_get_u8(m, &st) || st > QUEUE_CREATE_NOSPACE ||
	    !ipc_get_strdup(m, 4096, &text) || !ipc_end(m))
		fatalx("smtp_queue_created: sid=%08x: bad message", m->peerid);
	ok = st == QUEUE_CREATE_OK;
	if ((ok && !smtp_qid_valid(text)) || (ok && m->fd == -1 &&
	    !m->fd_lost) || (!ok && (m->fd != -1 || m->fd_lost)))
		fatalx("smtp_queue_created: sid=%08x: bad message", m->peerid);
	c = smtp_conn_find(m->peerid);
	if (ok && m->fd_lost) {
		log_kv(LOG_LVL_WARN, "event=spool-fd-lost sid=%08x qid=%s "
		    "sessions=%zu nofile=%llu", m->peerid, text, smtp.nconns,
		    smtp.nofile);
		smtp_queue_abort(m->peerid, text, "fd-lost");
		how = SMTP_CREATED_FD_LOST;
	} else if (ok)
		how = SMTP_CREATED_OK;
	else
		how = st == QUEUE_CREATE_NOSPACE ? SMTP_CREATED_NOSPACE :
		    SMTP_CREATED_FAILED;
	if (c == NULL) {
		/* The session went away meanwhile: the fd closes on return. */
		if (how == SMTP_CREATED_OK)
			smtp_queue_abort(m->peerid, text, "session-gone");
		free(text);
		return;
	}
	smtp_session_created(c->session, how, text,
	    how == SMTP_CREATED_OK ? ipc_msg_take_fd(m) : -1);
	free(text);
}

/* smtp_queue_space: IMSG_QUEUE_SPOOL_SPACE: the spool's free space. */
static void
smtp_queue_space(struct ipc_msg_in *m)
{
	uint8_t		 low;

	if (!ipc_get_u8(m, &low) || low > 1 ||
	    !ipc_get_u64(m, &smtp.spool_free) ||
	    !ipc_get_u64(m, &smtp.spool_min) || !ipc_end(m))
		fatalx("smtp_queue_space: bad message");
	if (smtp.spool_low != (low != 0))
		log_kv(low ? LOG_LVL_WARN : LOG_LVL_INFO, "event=spool-space "
		    "state=%s free=%llu min=%llu action=%s",
		    low ? "low" : "ok", (unsigned long long)smtp.spool_free,
		    (unsigned long long)smtp.spool_min,
		    low ? "refuse-mail" : "accept-mail");
	smtp.spool_low = low != 0;
}

/* smtp_queue_committed: IMSG_QUEUE_MSG_COMMITTED, to its session. */
static void
smtp_queue_committed(struct ipc_msg_in *m)
{
	struct smtp_conn	*c;
	char			 qid[SPOOL_ID_LEN + 1], *err;
	uint8_t			 ok;

	if (!ipc_get_str(m, qid, sizeof(qid)) || !ipc_get_u8(m, &ok) ||
	    !ipc_get_strdup(m, 4096, &err) || !ipc_end(m) ||
	    !smtp_qid_valid(qid))
		fatalx("smtp_queue_committed: sid=%08x: bad message",
		    m->peerid);
	if ((c = smtp_conn_find(m->peerid)) == NULL)
		log_kv(LOG_LVL_INFO, "event=committed-unclaimed sid=%08x "
		    "qid=%s ok=%u", m->peerid, qid, ok);
	else
		smtp_session_committed(c->session, qid, ok != 0, err);
	free(err);
}

/* smtp_queue_verdict: IMSG_IPP_VERDICT, to the session that asked. */
static void
smtp_queue_verdict(struct ipc_msg_in *m)
{
	struct smtp_conn	*c;
	struct ipp_verdict	 v;
	uint64_t		 sid;

	if (!ipc_get_u64(m, &sid) || sid == 0 || sid > UINT32_MAX ||
	    !ipp_verdict_decode(m, &v))
		fatalx("smtp_queue_verdict: sid=%08x: bad message", m->peerid);
	/* A session that went away meanwhile needs no answer. */
	if ((c = smtp_conn_find((uint32_t)sid)) != NULL)
		smtp_session_ipp_verdict(c->session, &v);
}

/* smtp_queue_dispatch: replies from the queue. */
static void
smtp_queue_dispatch(struct ipc_chan *chan, struct ipc_msg_in *m, void *arg)
{
	switch (m->type) {
	case IMSG_QUEUE_MSG_CREATED:
		smtp_queue_created(m);
		break;
	case IMSG_IPP_VERDICT:
		smtp_queue_verdict(m);
		break;
	case IMSG_QUEUE_MSG_COMMITTED:
		smtp_queue_committed(m);
		break;
	case IMSG_QUEUE_SPOOL_SPACE:
		smtp_queue_space(m);
		break;
	default:
		fatalx("smtp_queue_dispatch: unexpected %s",
		    ipc_type_name(m->type));
	}
}

/* smtp_parent_closed: the parent is gone: close everything and leave. */
static void
smtp_parent_closed(struct ipc_chan *chan, enum ipc_close why, void *arg)
{
	log_kv(LOG_LVL_INFO, "event=parent-closed reason=%s",
	    ipc_close_name(why));
	ipc_chan_free(smtp.parent);
	smtp.parent = NULL;
	smtp_shutdown(true);
	smtp_exit();
}

/* smtp_queue_closed: without the queue nothing can be accepted: fatal. */
static void
smtp_queue_closed(struct ipc_chan *chan, enum ipc_close why, void *arg)
{
	if (smtp.exiting) {
		ipc_chan_free(smtp.queue);
		smtp.queue = NULL;
		return;
	}
	fatalx("smtp_queue_closed: queue channel %s: %s", ipc_close_name(why),
	    ipc_chan_errstr(chan));
}

/* smtp_main: the smtp process (proc_run_fn). */
int
smtp_main(const struct proc_def *def, const int *fds, void *arg)
{
	size_t	 i;

	memset(&smtp, 0, sizeof(smtp));
	smtp.env = arg;
	smtp.spare_fd = -1;
	TAILQ_INIT(&smtp.listeners);
	for (i = 0; i < SMTP_CONN_BUCKETS; i++)
		LIST_INIT(&smtp.conns[i]);
	smtp.iptab = smtp_iptab_new();
	if (getrandom(&smtp.next_id, sizeof(smtp.next_id), 0) !=
	    sizeof(smtp.next_id))
		smtp.next_id = (uint32_t)getpid() << 16;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);

	if ((smtp.base = event_base_new()) == NULL)
		fatalx("smtp_main: event_base_new");
	if ((smtp.ev_grace = evtimer_new(smtp.base, smtp_grace_cb, NULL)) ==
	    NULL || (smtp.ev_resume = evtimer_new(smtp.base, smtp_resume_cb,
	    NULL)) == NULL || (smtp.ev_exit = evtimer_new(smtp.base,
	    smtp_exit_cb, NULL)) == NULL)
		fatalx("smtp_main: evtimer_new");
	if (fds[SMTPD_PROC_PARENT] == -1 || fds[SMTPD_PROC_QUEUE] == -1)
		fatalx("smtp_main: missing channel");
	smtp.parent = ipc_chan_new(smtp.base, fds[SMTPD_PROC_PARENT], 0,
	    smtp_parent_dispatch, smtp_parent_closed, NULL);
	ipc_chan_set_name(smtp.parent, "parent");
	smtp.queue = ipc_chan_new(smtp.base, fds[SMTPD_PROC_QUEUE], 0,
	    smtp_queue_dispatch, smtp_queue_closed, NULL);
	ipc_chan_set_name(smtp.queue, "queue");
	/* A spool fd we had no room for fails its message, not us. */
	ipc_chan_set_fd_loss(smtp.queue, true);
	smtp_fd_limits();
	smtp_nrs_init();
	log_kv(LOG_LVL_INFO, "event=smtp-ready tls=%d ipprofiler=%d nrs=%zu",
	    smtp.env->ssl_ctx != NULL, smtp.env->conf->foxdns.enabled,
	    smtp.nrs_dns != NULL ? smtp.env->conf->tsmtpd.nrs_zones.n : 0);

	event_base_dispatch(smtp.base);

	smtp_listeners_close();
	smtp_session_reap();
	dns_free(smtp.nrs_dns);
	if (smtp.parent != NULL)
		ipc_chan_free(smtp.parent);
	if (smtp.queue != NULL)
		ipc_chan_free(smtp.queue);
	event_free(smtp.ev_grace);
	event_free(smtp.ev_resume);
	event_free(smtp.ev_exit);
	smtp_iptab_free(smtp.iptab);
	if (smtp.spare_fd != -1)
		(void)close(smtp.spare_fd);
	event_base_free(smtp.base);
	return 0;
}
