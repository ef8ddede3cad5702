/*
 * mlink.c: the manager's link process, the network side of the central
 * controller's push (docs/central.md "The push").
 *
 * central.c forks it, hands it the TLS contexts it built as root and the
 * agent listening socket, and it drops to manager_user in an empty
 * chroot.  From then on it holds nothing but the network and its
 * channel to the parent, and touches no file.
 *
 * Scanner host (agent_ctx set): accepts the controller's connections on
 * scanner_ip_addr:agent_port.  The TLS handshake requires a client
 * certificate issued by the enrolled controller's authority for client
 * use (enrol.c); anything else is refused before a byte of the protocol
 * is read.  Each request frame (agent_proto.h) goes to the parent
 * (IMSG_LINK_INFO, IMSG_LINK_PUSH); its IMSG_LINK_REPLY becomes the
 * AGENT_REPLY frame.  One request per connection at a time: reading
 * stops until the answer is written.
 *
 * Controller (central_ctx set): for each IMSG_LINK_SYNC, connects to the
 * host, checks that it presents exactly the certificate registered for
 * it (fingerprint), asks AGENT_INFO, pushes the bundle when the host's
 * applied version is older, and reports what happened as one
 * IMSG_LINK_RESULT.  At most LINK_MAX_SYNCS hosts at once; the rest
 * wait in order.
 *
 * Every byte from the network is hostile: frames are bounded by
 * AGENT_FRAME_MAX before they are buffered whole, replies are parsed
 * strictly, every connection has read and write timeouts, and at most
 * LINK_MAX_CONNS controller connections are open.
 */
#include <sys/queue.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "agent_proto.h"
#include "bundle.h"
#include "enrol.h"
#include "ipc.h"
#include "log.h"
#include "mlink.h"
#include "tls.h"
#include "util.h"
#include "xmalloc.h"

#define LINK_MAX_CONNS		8	/* controller connections at once */
#define LINK_MAX_REQUESTS	16	/* requests on one connection */
#define LINK_MAX_SYNCS		16	/* hosts contacted at once */
#define LINK_TIMEOUT_SECS	30	/* read, write, connect */
#define LINK_PEER_MAX		(INET6_ADDRSTRLEN + 8)

/* A controller connected to this scanner host. */
struct lconn {
	TAILQ_ENTRY(lconn)	 entry;
	uint32_t		 id;
	struct bufferevent	*bev;
	char			 peer[LINK_PEER_MAX];
	bool			 ready;		/* handshake done */
	bool			 waiting;	/* for the parent's reply */
	unsigned		 nreq;
};

enum lsync_state { LS_QUEUED, LS_CONNECT, LS_INFO, LS_PUSH };

/* A registered host this controller contacts. */
struct lsync {
	TAILQ_ENTRY(lsync)	 entry;
	char			 host[ENROL_NAME_MAX + 1];
	char			 address[64];
	uint16_t		 port;
	char			 fpr[ENROL_FPR_LEN + 1];
	uint64_t		 version;	/* of the bundle; 0: none */
	uint8_t			*bundle;
	size_t			 blen;
	enum lsync_state	 st;
	struct bufferevent	*bev;
	struct agent_kv		 info;		/* the host's last reply */
};

static struct {
	struct event_base	*base;
	struct ipc_chan		*parent;
	SSL_CTX			*agent_ctx;
	SSL_CTX			*central_ctx;
	int			 listen_fd;
	struct event		*ev_listen;
	TAILQ_HEAD(, lconn)	 conns;
	size_t			 nconns;
	uint32_t		 next_id;
	TAILQ_HEAD(, lsync)	 syncs;		/* connecting ones first */
	size_t			 nactive;
	bool			 in_next;
} l;

static void	 conn_process(struct lconn *);
static void	 sync_next(void);

/*
 * link_frame: the next whole frame of in, pulled up: 1 (type, payload,
 * bytes used), 0 (more needed), -1 (invalid, err says why).  The length
 * is checked before the frame is gathered.
 */
static int
link_frame(struct evbuffer *in, uint8_t *type, const uint8_t **payload,
    size_t *plen, size_t *used, char *err, size_t errlen)
{
	uint8_t		 head[5];
	const uint8_t	*data;
	size_t		 avail = evbuffer_get_length(in), n, need;
	int		 rc;

	n = avail < sizeof(head) ? avail : sizeof(head);
	if (evbuffer_copyout(in, head, n) != (ev_ssize_t)n)
		return str_printf(err, errlen, "input buffer"), -1;
	if ((rc = agent_frame_parse(head, n, type, payload, plen, used, err,
	    errlen)) != 0 || n < 4)
		return rc;
	need = 4 + ((size_t)head[0] << 24 | (size_t)head[1] << 16 |
	    (size_t)head[2] << 8 | head[3]);
	if (avail < need)
		return 0;
	if ((data = evbuffer_pullup(in, (ev_ssize_t)need)) == NULL)
		return str_printf(err, errlen, "out of memory"), -1;
	return agent_frame_parse(data, need, type, payload, plen, used, err,
	    errlen);
}

/* link_send_frame: one frame to a connection; false when it cannot. */
static bool
link_send_frame(struct bufferevent *bev, uint8_t type, const void *p,
    size_t len)
{
	struct buf	 b;
	bool		 ok;

	buf_init(&b, AGENT_FRAME_MAX + 4);
	ok = agent_frame_add(&b, type, p, len) &&
	    bufferevent_write(bev, b.data, b.len) == 0;
	buf_free(&b);
	return ok;
}

/* link_error: why a connection ended, for the log. */
static void
link_error(struct bufferevent *bev, short what, char *buf, size_t len)
{
	int	 e = EVUTIL_SOCKET_ERROR();

	tls_bev_error_text(bev, buf, len);
	if (buf[0] != '\0')
		return;
	if (what & BEV_EVENT_TIMEOUT)
		str_lcpy(buf, "timed out", len);
	else if (what & BEV_EVENT_EOF)
		str_lcpy(buf, "connection closed", len);
	else if (e != 0)
		str_lcpy(buf, strerror(e), len);
	else
		str_lcpy(buf, "connection failed", len);
}

/* ---- scanner host: the controller's connections -------------------------- */

static void
conn_free(struct lconn *c)
{
	TAILQ_REMOVE(&l.conns, c, entry);
	l.nconns--;
	bufferevent_free(c->bev);
	free(c);
}

/* conn_peer_name: the subject CN of the peer's certificate, or "?". */
static void
conn_peer_name(struct bufferevent *bev, char *buf, size_t len)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(bev);
	X509	*x;

	str_lcpy(buf, "?", len);
	if (ssl == NULL || (x = SSL_get1_peer_certificate(ssl)) == NULL)
		return;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(x),
	    NID_commonName, buf, (int)len) < 0)
		str_lcpy(buf, "?", len);
	X509_free(x);
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process(arg);
}

/* conn_write_cb: the reply is out; a connection that ended goes now. */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	(void)arg;
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct lconn	*c = arg;
	char		 why[512], cn[ENROL_NAME_MAX + 32], esc[LOG_ESC_MAX];

	if (what & BEV_EVENT_CONNECTED) {
		c->ready = true;
		conn_peer_name(bev, cn, sizeof(cn));
		log_kv(LOG_LVL_INFO, "event=agent-connection peer=%s "
		    "controller=%s", c->peer, log_esc(esc, sizeof(esc), cn));
		return;
	}
	link_error(bev, what, why, sizeof(why));
	/* Between requests, an end without close_notify is still an end. */
	if (c->ready && !c->waiting && !(what & BEV_EVENT_TIMEOUT) &&
	    evbuffer_get_length(bufferevent_get_input(bev)) == 0)
		log_kv(LOG_LVL_DEBUG, "event=agent-closed peer=%s", c->peer);
	else if (!c->ready || (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
		log_kv(LOG_LVL_WARN, "event=agent-refused peer=%s "
		    "stage=%s reason=%s", c->peer, c->ready ? "request" :
		    "handshake", log_esc(esc, sizeof(esc), why));
	else
		log_kv(LOG_LVL_DEBUG, "event=agent-closed peer=%s", c->peer);
	conn_free(c);
}

/* conn_process: the next request of a connection, if whole. */
static void
conn_process(struct lconn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct ipc_msg	*m;
	const uint8_t	*p;
	size_t		 plen, used;
	uint8_t		 type;
	char		 err[256], esc[LOG_ESC_MAX];
	int		 rc;

	if (c->waiting)
		return;
	if ((rc = link_frame(in, &type, &p, &plen, &used, err,
	    sizeof(err))) == 0)
		return;
	if (rc == -1 || type == AGENT_REPLY ||
	    ++c->nreq > LINK_MAX_REQUESTS) {
		log_kv(LOG_LVL_WARN, "event=agent-refused peer=%s "
		    "stage=request reason=%s", c->peer, log_esc(esc,
		    sizeof(esc), rc == -1 ? err : type == AGENT_REPLY ?
		    "a reply where a request belongs" :
		    "too many requests on one connection"));
		conn_free(c);
		return;
	}
	m = ipc_msg_new(type == AGENT_PUSH ? IMSG_LINK_PUSH : IMSG_LINK_INFO,
	    0);
	ipc_add_u32(m, c->id);
	if (type == AGENT_PUSH)
		ipc_add_data(m, p, plen);
	evbuffer_drain(in, used);
	if (!ipc_chan_send(l.parent, m))
		fatalx("mlink: cannot reach the parent");
	log_kv(LOG_LVL_INFO, "event=agent-request peer=%s request=%s "
	    "bytes=%zu", c->peer, type == AGENT_PUSH ? "push" : "info", plen);
	c->waiting = true;
	bufferevent_disable(c->bev, EV_READ);
}

/* conn_reply: the parent's answer to a connection's request. */
static void
conn_reply(uint32_t id, const void *p, size_t len)
{
	struct lconn	*c;

	TAILQ_FOREACH(c, &l.conns, entry)
		if (c->id == id)
			break;
	if (c == NULL || !c->waiting)
		return;		/* it went away meanwhile */
	if (!link_send_frame(c->bev, AGENT_REPLY, p, len)) {
		conn_free(c);
		return;
	}
	c->waiting = false;
	bufferevent_enable(c->bev, EV_READ);
	conn_process(c);
}

/* accept_cb: a controller connects. */
static void
accept_cb(evutil_socket_t lfd, short ev, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t	 sl = sizeof(ss);
	struct timeval	 tv = { LINK_TIMEOUT_SECS, 0 };
	struct lconn	*c;
	SSL		*ssl;
	char		 peer[LINK_PEER_MAX];
	int		 fd;

	(void)ev;
	(void)arg;
	if ((fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("mlink: accept");
		return;
	}
	if (getnameinfo((struct sockaddr *)&ss, sl, peer, sizeof(peer), NULL,
	    0, NI_NUMERICHOST) != 0)
		str_lcpy(peer, "?", sizeof(peer));
	if (l.nconns >= LINK_MAX_CONNS) {
		log_kv(LOG_LVL_WARN, "event=agent-refused peer=%s "
		    "reason=\"too many connections\"", peer);
		close(fd);
		return;
	}
	if ((ssl = SSL_new(l.agent_ctx)) == NULL)
		fatalx("mlink: SSL_new");
	c = xcalloc(1, sizeof(*c));
	c->id = ++l.next_id;
	str_lcpy(c->peer, peer, sizeof(c->peer));
	if ((c->bev = bufferevent_openssl_socket_new(l.base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("mlink: bufferevent_openssl_socket_new");
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb,
	    c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 4 + AGENT_FRAME_MAX);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&l.conns, c, entry);
	l.nconns++;
}

/* ---- controller: contacting the hosts ------------------------------------ */

/* sync_finish: report what happened with one host and forget it. */
static void
sync_finish(struct lsync *s, const char *result, const char *error)
{
	struct ipc_msg	*m;
	struct buf	 b;
	char		 esc[LOG_ESC_MAX];

	buf_init(&b, AGENT_KV_MAX * (AGENT_KEY_MAX + AGENT_VAL_MAX + 2));
	if (!agent_kv_encode(&s->info, &b))
		fatalx("mlink: agent_kv_encode");
	m = ipc_msg_new(IMSG_LINK_RESULT, 0);
	ipc_add_str(m, s->host);
	ipc_add_str(m, result);
	ipc_add_str(m, error);
	ipc_add_data(m, b.data, b.len);
	buf_free(&b);
	if (!ipc_chan_send(l.parent, m))
		fatalx("mlink: cannot reach the parent");
	log_kv(strcmp(result, "ok") == 0 || strcmp(result, "applied") == 0 ?
	    LOG_LVL_INFO : LOG_LVL_WARN, "event=central-sync host=%s "
	    "address=%s port=%u result=%s error=%s", s->host, s->address,
	    s->port, result, log_esc(esc, sizeof(esc), error));
	if (s->st != LS_QUEUED)
		l.nactive--;
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	TAILQ_REMOVE(&l.syncs, s, entry);
	free(s->bundle);
	free(s);
	sync_next();
}

/* sync_peer_ok: the host presented the certificate registered for it. */
static bool
sync_peer_ok(struct lsync *s, char *err, size_t errlen)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(s->bev);
	X509	*x;
	char	 fpr[ENROL_FPR_LEN + 1];

	if (ssl == NULL || (x = SSL_get1_peer_certificate(ssl)) == NULL) {
		str_lcpy(err, "the host presented no certificate", errlen);
		return false;
	}
	enrol_fingerprint(x, fpr);
	X509_free(x);
	if (strcmp(fpr, s->fpr) != 0) {
		(void)str_printf(err, errlen, "the host's certificate is not "
		    "the one registered for it (fingerprint %.16s...)", fpr);
		return false;
	}
	return true;
}

/* sync_request: send one request frame; the state it waits in. */
static void
sync_request(struct lsync *s, uint8_t type, enum lsync_state st)
{
	struct agent_kv	 kv;
	struct buf	 b;
	bool		 ok;

	if (type == AGENT_PUSH)
		ok = link_send_frame(s->bev, AGENT_PUSH, s->bundle, s->blen);
	else {
		memset(&kv, 0, sizeof(kv));
		buf_init(&b, 4096);
		ok = agent_kv_setf(&kv, "proto", "%d", AGENT_PROTO_VERSION) &&
		    agent_kv_set(&kv, "product", SEKISHO_VERSION) &&
		    agent_kv_encode(&kv, &b) &&
		    link_send_frame(s->bev, AGENT_INFO, b.data, b.len);
		buf_free(&b);
	}
	if (!ok) {
		sync_finish(s, "error", "cannot send the request");
		return;
	}
	s->st = st;
}

/* sync_reply: the host answered the request of its state. */
static void
sync_reply(struct lsync *s, const uint8_t *p, size_t len)
{
	const char	*v;
	char		 err[300];
	long long	 applied = 0;

	memset(&s->info, 0, sizeof(s->info));
	if (agent_kv_parse(p, len, &s->info, err, sizeof(err)) == -1) {
		memset(&s->info, 0, sizeof(s->info));
		sync_finish(s, "error", err);
		return;
	}
	if ((v = agent_kv_get(&s->info, "applied_version")) != NULL &&
	    !str_to_ll(v, 0, INT64_MAX, &applied)) {
		sync_finish(s, "error", "the host's applied_version is not a "
		    "number");
		return;
	}
	if (s->st == LS_PUSH) {
		v = agent_kv_get(&s->info, "result");
		if (v != NULL && strcmp(v, "applied") == 0)
			sync_finish(s, "applied", "");
		else
			sync_finish(s, "refused", (v = agent_kv_get(&s->info,
			    "error")) != NULL ? v : "refused without a reason");
		return;
	}
	if (s->blen > 0 && s->version > (uint64_t)applied)
		sync_request(s, AGENT_PUSH, LS_PUSH);
	else
		sync_finish(s, "ok", "");
}

static void
sync_read_cb(struct bufferevent *bev, void *arg)
{
	struct lsync	*s = arg;
	const uint8_t	*p;
	size_t		 plen, used;
	uint8_t		 type;
	char		 err[256];
	int		 rc;

	uint8_t		*copy;

	if ((rc = link_frame(bufferevent_get_input(bev), &type, &p, &plen,
	    &used, err, sizeof(err))) == 0)
		return;
	if (rc == -1 || type != AGENT_REPLY || (s->st != LS_INFO &&
	    s->st != LS_PUSH)) {
		sync_finish(s, "error", rc == -1 ? err : "unexpected frame "
		    "from the host");
		return;
	}
	/* The reply leaves the buffer before it is acted upon. */
	copy = xmalloc(plen > 0 ? plen : 1);
	memcpy(copy, p, plen);
	evbuffer_drain(bufferevent_get_input(bev), used);
	sync_reply(s, copy, plen);	/* may free s: nothing after this */
	free(copy);
}

static void
sync_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct lsync	*s = arg;
	char		 why[512], err[300];
	int		 e = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		if (!sync_peer_ok(s, err, sizeof(err))) {
			sync_finish(s, "error", err);
			return;
		}
		sync_request(s, AGENT_INFO, LS_INFO);
		return;
	}
	/* No connection at all: the socket's error says why. */
	if (s->st == LS_CONNECT && (e == ECONNREFUSED || e == EHOSTUNREACH ||
	    e == ENETUNREACH || e == ETIMEDOUT || e == EADDRNOTAVAIL)) {
		(void)tls_bev_error_text(bev, why, sizeof(why));  /* cleared */
		sync_finish(s, "unreachable", strerror(e));
		return;
	}
	link_error(bev, what, why, sizeof(why));
	if (s->st == LS_CONNECT && (what & BEV_EVENT_TIMEOUT))
		sync_finish(s, "unreachable", "timed out");
	else
		sync_finish(s, "error", why);
}

/* sync_start: connect to one host. */
static void
sync_start(struct lsync *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct timeval	 tv = { LINK_TIMEOUT_SECS, 0 };
	socklen_t	 sl;
	SSL		*ssl;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s->address, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(s->port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, s->address, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(s->port);
		sl = sizeof(*sin6);
	} else {
		sync_finish(s, "error", "not a numeric address");
		return;
	}
	if ((ssl = SSL_new(l.central_ctx)) == NULL)
		fatalx("mlink: SSL_new");
	if ((s->bev = bufferevent_openssl_socket_new(l.base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("mlink: bufferevent_openssl_socket_new");
	s->st = LS_CONNECT;
	l.nactive++;
	bufferevent_setcb(s->bev, sync_read_cb, NULL, sync_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, 4 + AGENT_FRAME_MAX);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&ss,
	    (int)sl) == -1)
		sync_finish(s, "unreachable", strerror(errno));
}

/* sync_next: start waiting hosts while there is room. */
static void
sync_next(void)
{
	struct lsync	*s;

	if (l.in_next)
		return;		/* a start that failed at once: the loop goes on */
	l.in_next = true;
	while (l.nactive < LINK_MAX_SYNCS) {
		TAILQ_FOREACH(s, &l.syncs, entry)
			if (s->st == LS_QUEUED)
				break;
		if (s == NULL)
			break;
		sync_start(s);
	}
	l.in_next = false;
}

/* sync_add: IMSG_LINK_SYNC from the parent; false when malformed. */
static bool
sync_add(struct ipc_msg_in *msg)
{
	struct lsync	*s = xcalloc(1, sizeof(*s));
	const void	*p;
	size_t		 len;

	if (!ipc_get_str(msg, s->host, sizeof(s->host)) ||
	    !ipc_get_str(msg, s->address, sizeof(s->address)) ||
	    !ipc_get_u16(msg, &s->port) ||
	    !ipc_get_str(msg, s->fpr, sizeof(s->fpr)) ||
	    !ipc_get_u64(msg, &s->version) ||
	    !ipc_get_data(msg, &p, &len, BUNDLE_MAX_SIZE) || !ipc_end(msg)) {
		free(s);
		return false;
	}
	if (len > 0) {
		s->bundle = xmalloc(len);
		memcpy(s->bundle, p, len);
		s->blen = len;
	}
	s->st = LS_QUEUED;
	TAILQ_INSERT_TAIL(&l.syncs, s, entry);
	if (l.central_ctx == NULL)
		sync_finish(s, "error", "this manager is not a central "
		    "controller");
	else
		sync_next();
	return true;
}

/* ---- the parent ---------------------------------------------------------- */

static void
parent_dispatch(struct ipc_chan *ch, struct ipc_msg_in *msg, void *arg)
{
	const void	*p;
	size_t		 len;
	uint32_t	 id;

	(void)ch;
	(void)arg;
	switch (msg->type) {
	case IMSG_LINK_REPLY:
		if (!ipc_get_u32(msg, &id) ||
		    !ipc_get_data(msg, &p, &len, AGENT_FRAME_MAX - 1) ||
		    !ipc_end(msg))
			fatalx("mlink: malformed IMSG_LINK_REPLY");
		conn_reply(id, p, len);
		return;
	case IMSG_LINK_SYNC:
		if (!sync_add(msg))
			fatalx("mlink: malformed IMSG_LINK_SYNC");
		return;
	default:
		fatalx("mlink: unexpected %s from the parent",
		    ipc_type_name(msg->type));
	}
}

static void
parent_closed(struct ipc_chan *ch, enum ipc_close why, void *arg)
{
	(void)ch;
	(void)arg;
	if (why != IPC_CLOSE_EOF)
		log_kv(LOG_LVL_WARN, "event=mlink-parent-lost why=%s",
		    ipc_close_name(why));
	event_base_loopexit(l.base, NULL);
}

/*
 * mlink_main: the link process after the privilege drop: fd is its
 * channel to the parent, lfd the agent listener (-1: none), and the
 * contexts say which roles it has (NULL: not that one).
 */
int
mlink_main(int fd, int lfd, SSL_CTX *agent_ctx, SSL_CTX *central_ctx)
{
	struct lconn	*c;
	struct lsync	*s;

	(void)signal(SIGPIPE, SIG_IGN);
	memset(&l, 0, sizeof(l));
	TAILQ_INIT(&l.conns);
	TAILQ_INIT(&l.syncs);
	l.agent_ctx = agent_ctx;
	l.central_ctx = central_ctx;
	l.listen_fd = lfd;
	if ((l.base = event_base_new()) == NULL)
		fatalx("mlink: event_base_new");
	l.parent = ipc_chan_new(l.base, fd, LINK_MAX_PAYLOAD, parent_dispatch,
	    parent_closed, NULL);
	ipc_chan_set_name(l.parent, "parent");
	ipc_chan_set_outq_limit(l.parent, 4 * LINK_MAX_PAYLOAD);
	if (lfd != -1) {
		if ((l.ev_listen = event_new(l.base, lfd, EV_READ |
		    EV_PERSIST, accept_cb, NULL)) == NULL ||
		    event_add(l.ev_listen, NULL) == -1)
			fatalx("mlink: listener event");
	}
	log_kv(LOG_LVL_DEBUG, "event=mlink-ready agent=%s central=%s",
	    agent_ctx != NULL ? "yes" : "no",
	    central_ctx != NULL ? "yes" : "no");
	event_base_dispatch(l.base);
	while ((c = TAILQ_FIRST(&l.conns)) != NULL)
		conn_free(c);
	while ((s = TAILQ_FIRST(&l.syncs)) != NULL) {
		TAILQ_REMOVE(&l.syncs, s, entry);
		if (s->bev != NULL)
			bufferevent_free(s->bev);
		free(s->bundle);
		free(s);
	}
	if (l.ev_listen != NULL)
		event_free(l.ev_listen);
	if (lfd != -1)
		close(lfd);
	ipc_chan_free(l.parent);
	event_base_free(l.base);
	return 0;
}
