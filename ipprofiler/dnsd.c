/*
 * dnsd.c: the DNSBL responder's sockets, UDP and TCP (dnsd.h).
 *
 * Owns its listening sockets, the open TCP connections and the zone;
 * every answer comes from blzone_answer().  Nothing here blocks: UDP
 * is read and written with recvmmsg/sendmmsg on nonblocking sockets,
 * TCP through libevent bufferevents.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <ldns/ldns.h>

#include "blzone.h"
#include "conf.h"
#include "dnsd.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define DNSD_BACKLOG		128
#define DNSD_UDP_QMAX		2048	/* bytes of a query datagram */
#define DNSD_TCP_AMAX		4096	/* bytes of an answer over TCP */
#define DNSD_BIND_TRIES		16	/* port 0: tries for one free port */
#define DNSD_ACCEPT_PAUSE_MS	1000	/* after accept failed (EMFILE) */

/* Room for the control message of either family (IP_PKTINFO). */
union dnsd_cmsg {
	struct cmsghdr	 align;
	char		 buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

enum dnsd_proto {
	DNSD_UDP,
	DNSD_TCP,
};

struct dnsd_sock {
	struct dnsd		*d;
	enum dnsd_proto		 proto;
	int			 fd;
	int			 family;
	bool			 wildcard;	/* needs IP_PKTINFO */
	char			 text[INET6_ADDRSTRLEN];
	struct event		*ev;		/* UDP */
	struct evconnlistener	*lev;		/* TCP */
};

struct dnsd_conn {
	TAILQ_ENTRY(dnsd_conn)	 entry;
	struct dnsd		*d;
	struct bufferevent	*bev;
	struct event		*idle;		/* closes it without queries */
	bool			 throttled;	/* reading off: output full */
	bool			 closing;	/* EOF: close once flushed */
};

/* Scratch space for one batch of datagrams (one per dnsd). */
struct dnsd_udpbuf {
	struct mmsghdr		 in[DNSD_UDP_BATCH];
	struct mmsghdr		 out[DNSD_UDP_BATCH];
	struct iovec		 iniov[DNSD_UDP_BATCH];
	struct iovec		 outiov[DNSD_UDP_BATCH];
	struct sockaddr_storage	 from[DNSD_UDP_BATCH];
	union dnsd_cmsg		 inctl[DNSD_UDP_BATCH];
	union dnsd_cmsg		 outctl[DNSD_UDP_BATCH];
	uint8_t			 q[DNSD_UDP_BATCH][DNSD_UDP_QMAX];
	uint8_t			 a[DNSD_UDP_BATCH][BLZONE_UDP_MAX];
};

struct dnsd {
	struct event_base	*base;
	struct dnsd_sock	*socks;
	size_t			 nsocks;
	struct blzone		*zone;		/* NULL: SERVFAIL */
	TAILQ_HEAD(, dnsd_conn)	 conns;
	struct dnsd_counters	 c;
	struct dnsd_udpbuf	*ub;
	struct event		*resume;	/* re-enables accepting */
	unsigned int		 idle_ms;
	size_t			 maxconns;
	int			 port;
};

static void	dnsd_tcp_process(struct dnsd_conn *);

/* dnsd_sockaddr: ip:port as a socket address; its length. */
static socklen_t
dnsd_sockaddr(const struct conf_ip *ip, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ip->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = ip->addr.v6;
		s6->sin6_port = htons((uint16_t)port);
		return sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_addr = ip->addr.v4;
		s4->sin_port = htons((uint16_t)port);
		return sizeof(*s4);
	}
}

/* dnsd_is_wildcard: whether ip is 0.0.0.0 or ::. */
static bool
dnsd_is_wildcard(const struct conf_ip *ip)
{
	if (ip->family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&ip->addr.v6);
	return ip->addr.v4.s_addr == htonl(INADDR_ANY);
}

/* dnsd_open: a bound (and for TCP listening) socket; -1 and errno. */
static int
dnsd_open(const struct conf_ip *ip, int port, enum dnsd_proto proto)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = dnsd_sockaddr(ip, port, &ss);
	int			 fd, on = 1, e;

	if ((fd = socket(ss.ss_family, (proto == DNSD_TCP ? SOCK_STREAM :
	    SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if ((proto == DNSD_TCP && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR,
	    &on, sizeof(on)) == -1) ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1) ||
	    (proto == DNSD_UDP && dnsd_is_wildcard(ip) &&
	    (ss.ss_family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6,
	    IPV6_RECVPKTINFO, &on, sizeof(on)) : setsockopt(fd, IPPROTO_IP,
	    IP_PKTINFO, &on, sizeof(on))) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    (proto == DNSD_TCP && listen(fd, DNSD_BACKLOG) == -1)) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* dnsd_bound_port: the local port of fd, or 0. */
static int
dnsd_bound_port(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * dnsd_bind_all: a UDP and a TCP socket on every address, all on one
 * port (the first one the kernel picks when port is 0); 0, or the errno
 * of the socket that failed with its description in err.
 */
static int
dnsd_bind_all(struct dnsd *d, const struct conf_iplist *addrs, int port,
    char *err, size_t errlen)
{
	const struct conf_ip	*ip;
	struct dnsd_sock	*s;
	size_t			 i;
	int			 k, fd, e;

	d->socks = xcalloc(addrs->n * 2, sizeof(*d->socks));
	d->port = port;
	for (i = 0; i < addrs->n; i++) {
		ip = &addrs->v[i];
		for (k = 0; k < 2; k++) {
			if ((fd = dnsd_open(ip, d->port, k == 0 ? DNSD_UDP :
			    DNSD_TCP)) == -1) {
				e = errno;
				(void)str_printf(err, errlen, "dnsd_bind: %s "
				    "%s port %d: %s", k == 0 ? "udp" : "tcp",
				    ip->text, d->port, strerror(e));
				return e;
			}
			s = &d->socks[d->nsocks++];
			s->d = d;
			s->fd = fd;
			s->proto = k == 0 ? DNSD_UDP : DNSD_TCP;
			s->family = ip->family;
			s->wildcard = dnsd_is_wildcard(ip);
			str_lcpy(s->text, ip->text, sizeof(s->text));
			if (d->port == 0 && (d->port = dnsd_bound_port(fd)) ==
			    0) {
				(void)str_printf(err, errlen, "dnsd_bind: no "
				    "port for %s", ip->text);
				return EADDRNOTAVAIL;
			}
		}
	}
	return 0;
}

/*
 * dnsd_bind: the responder's sockets on every address of addrs at port
 * (0: one free port for all, see dnsd_port), bound and listening but not
 * yet served (dnsd_start); NULL with the reason in err.
 */
struct dnsd *
dnsd_bind(const struct conf_iplist *addrs, int port, char *err,
    size_t errlen)
{
	struct dnsd	*d;
	size_t		 i;
	int		 tries, e;

	if (addrs == NULL || addrs->n == 0) {
		(void)str_printf(err, errlen, "dnsd_bind: no address");
		return NULL;
	}
	for (i = 0; i < addrs->n; i++)
		if (addrs->v[i].family != AF_INET &&
		    addrs->v[i].family != AF_INET6) {
			(void)str_printf(err, errlen, "dnsd_bind: empty "
			    "address");
			return NULL;
		}
	if (port < 0 || port > 65535) {
		(void)str_printf(err, errlen, "dnsd_bind: port %d", port);
		return NULL;
	}
	for (tries = 0; tries < DNSD_BIND_TRIES; tries++) {
		d = xcalloc(1, sizeof(*d));
		TAILQ_INIT(&d->conns);
		d->idle_ms = DNSD_TCP_IDLE_MS;
		d->maxconns = DNSD_TCP_MAXCONNS;
		if ((e = dnsd_bind_all(d, addrs, port, err, errlen)) == 0)
			return d;
		dnsd_free(d);
		/* Port 0: the port the kernel gave UDP may be taken on TCP. */
		if (port != 0 || e != EADDRINUSE)
			return NULL;
	}
	return NULL;
}

/* dnsd_header_only: a bare answer header with rcode to query q. */
static size_t
dnsd_header_only(const uint8_t *q, uint8_t *out, size_t outmax, int rcode)
{
	if (outmax < 12)
		return 0;
	memset(out, 0, 12);
	out[0] = q[0];
	out[1] = q[1];
	out[2] = 0x80 | (q[2] & 0x79);	/* QR, the opcode and RD back */
	out[3] = (uint8_t)rcode;
	return 12;
}

/*
 * dnsd_servfail: the answer while no zone is loaded: SERVFAIL with the
 * question to a query, a bare FORMERR to a packet that is not one,
 * nothing to a response or a runt.
 */
static size_t
dnsd_servfail(const uint8_t *q, size_t qlen, uint8_t *out, size_t outmax)
{
	ldns_pkt	*in = NULL, *ans;
	ldns_rr		*qrr;
	uint8_t		*wire = NULL;
	size_t		 len = 0;

	if (qlen < 12 || (q[2] & 0x80) != 0)
		return 0;
	if (ldns_wire2pkt(&in, q, qlen) != LDNS_STATUS_OK ||
	    ldns_pkt_get_opcode(in) != LDNS_PACKET_QUERY ||
	    ldns_pkt_qdcount(in) != 1 ||
	    (qrr = ldns_rr_list_rr(ldns_pkt_question(in), 0)) == NULL) {
		ldns_pkt_free(in);
		return dnsd_header_only(q, out, outmax, LDNS_RCODE_FORMERR);
	}
	ans = ldns_pkt_new();
	ldns_pkt_set_id(ans, ldns_pkt_id(in));
	ldns_pkt_set_qr(ans, true);
	ldns_pkt_set_rd(ans, ldns_pkt_rd(in));
	ldns_pkt_set_opcode(ans, LDNS_PACKET_QUERY);
	ldns_pkt_set_rcode(ans, LDNS_RCODE_SERVFAIL);
	(void)ldns_pkt_push_rr(ans, LDNS_SECTION_QUESTION, ldns_rr_clone(qrr));
	if (ldns_pkt2wire(&wire, ans, &len) != LDNS_STATUS_OK || len > outmax)
		len = dnsd_header_only(q, out, outmax, LDNS_RCODE_SERVFAIL);
	else
		memcpy(out, wire, len);
	free(wire);
	ldns_pkt_free(ans);
	ldns_pkt_free(in);
	return len;
}

/* dnsd_answer: the answer to one query in out; its length, 0: none. */
static size_t
dnsd_answer(struct dnsd *d, const uint8_t *q, size_t qlen, uint8_t *out,
    size_t outmax)
{
	if (d->zone == NULL)
		return dnsd_servfail(q, qlen, out, outmax);
	return blzone_answer(d->zone, q, qlen, out, outmax);
}

/*
 * dnsd_port_ok: whether a datagram from this source port may be
 * answered.  Resolvers ask from ephemeral ports (or from 53); an answer
 * to port 0 cannot arrive, and one to echo, chargen or another small
 * service could start a loop that costs both hosts.
 */
static bool
dnsd_port_ok(const struct sockaddr_storage *ss)
{
	in_port_t	 port;

	if (ss->ss_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	else if (ss->ss_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	else
		return false;
	return port == 53 || port >= 1024;
}

/* dnsd_udp_prepare: the receive side of the batch, ready for recvmmsg. */
static void
dnsd_udp_prepare(struct dnsd_udpbuf *ub, bool wildcard)
{
	struct msghdr	*h;
	int		 i;

	for (i = 0; i < DNSD_UDP_BATCH; i++) {
		ub->iniov[i].iov_base = ub->q[i];
		ub->iniov[i].iov_len = sizeof(ub->q[i]);
		h = &ub->in[i].msg_hdr;
		memset(h, 0, sizeof(*h));
		h->msg_name = &ub->from[i];
		h->msg_namelen = sizeof(ub->from[i]);
		h->msg_iov = &ub->iniov[i];
		h->msg_iovlen = 1;
		if (wildcard) {
			h->msg_control = ub->inctl[i].buf;
			h->msg_controllen = sizeof(ub->inctl[i].buf);
		}
	}
}

/*
 * dnsd_udp_source: on out (an answer to in, received on a wildcard
 * socket), the control message that sends it from the address the query
 * was sent to; false when in carries none.
 */
static bool
dnsd_udp_source(struct msghdr *in, struct msghdr *out, union dnsd_cmsg *ctl)
{
	struct cmsghdr		*cm, *oc;
	struct in_pktinfo	 pi;
	struct in6_pktinfo	 pi6;

	for (cm = CMSG_FIRSTHDR(in); cm != NULL; cm = CMSG_NXTHDR(in, cm)) {
		memset(ctl, 0, sizeof(*ctl));
		out->msg_control = ctl->buf;
		oc = (struct cmsghdr *)(void *)ctl->buf;
		if (cm->cmsg_level == IPPROTO_IP &&
		    cm->cmsg_type == IP_PKTINFO) {
			memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
			pi.ipi_spec_dst = pi.ipi_addr;
			pi.ipi_ifindex = 0;
			oc->cmsg_level = IPPROTO_IP;
			oc->cmsg_type = IP_PKTINFO;
			oc->cmsg_len = CMSG_LEN(sizeof(pi));
			memcpy(CMSG_DATA(oc), &pi, sizeof(pi));
			out->msg_controllen = CMSG_SPACE(sizeof(pi));
			return true;
		}
		if (cm->cmsg_level == IPPROTO_IPV6 &&
		    cm->cmsg_type == IPV6_PKTINFO) {
			memcpy(&pi6, CMSG_DATA(cm), sizeof(pi6));
			oc->cmsg_level = IPPROTO_IPV6;
			oc->cmsg_type = IPV6_PKTINFO;
			oc->cmsg_len = CMSG_LEN(sizeof(pi6));
			memcpy(CMSG_DATA(oc), &pi6, sizeof(pi6));
			out->msg_controllen = CMSG_SPACE(sizeof(pi6));
			return true;
		}
	}
	out->msg_control = NULL;
	out->msg_controllen = 0;
	return false;
}

/* dnsd_udp_one: the answer to datagram i as outgoing message m; false: none. */
static bool
dnsd_udp_one(struct dnsd *d, struct dnsd_sock *s, int i, int m)
{
	struct dnsd_udpbuf	*ub = d->ub;
	struct msghdr		*in = &ub->in[i].msg_hdr, *out;
	size_t			 len;

	if ((in->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
	    !dnsd_port_ok(&ub->from[i]))
		return false;
	if ((len = dnsd_answer(d, ub->q[i], ub->in[i].msg_len, ub->a[m],
	    sizeof(ub->a[m]))) == 0)
		return false;
	ub->outiov[m].iov_base = ub->a[m];
	ub->outiov[m].iov_len = len;
	out = &ub->out[m].msg_hdr;
	memset(out, 0, sizeof(*out));
	out->msg_name = &ub->from[i];
	out->msg_namelen = in->msg_namelen;
	out->msg_iov = &ub->outiov[m];
	out->msg_iovlen = 1;
	if (s->wildcard && !dnsd_udp_source(in, out, &ub->outctl[m]))
		return false;
	return true;
}

/*
 * dnsd_udp_send: the m answers of the batch.  A full socket buffer drops
 * the rest of the batch; an error about one peer drops only its answer.
 */
static void
dnsd_udp_send(struct dnsd *d, int fd, int m)
{
	int	 sent = 0, r;

	while (sent < m) {
		r = sendmmsg(fd, &d->ub->out[sent], (unsigned int)(m - sent),
		    MSG_DONTWAIT);
		if (r > 0) {
			sent += r;
			d->c.answered += (uint64_t)r;
		} else if (r == -1 && errno == EINTR)
			continue;
		else if (r == -1 && (errno == EAGAIN || errno == ENOBUFS)) {
			d->c.dropped += (uint64_t)(m - sent);
			return;
		} else {
			d->c.dropped++;
			sent++;
		}
	}
}

/*
 * dnsd_udp_read: the datagrams waiting on a UDP socket, at most
 * DNSD_UDP_ROUNDS batches, so other sockets get their turn.
 */
static void
dnsd_udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct dnsd_sock	*s = arg;
	struct dnsd		*d = s->d;
	int			 round, n, i, m;

	for (round = 0; round < DNSD_UDP_ROUNDS; round++) {
		dnsd_udp_prepare(d->ub, s->wildcard);
		n = recvmmsg(fd, d->ub->in, DNSD_UDP_BATCH, MSG_DONTWAIT,
		    NULL);
		if (n <= 0)
			return;		/* EAGAIN, or an error to ignore */
		for (i = m = 0; i < n; i++) {
			d->c.udp_queries++;
			if (dnsd_udp_one(d, s, i, m))
				m++;
			else
				d->c.dropped++;
		}
		dnsd_udp_send(d, fd, m);
		if (n < DNSD_UDP_BATCH)
			return;
	}
}

/* dnsd_conn_free: close a TCP connection. */
static void
dnsd_conn_free(struct dnsd_conn *c)
{
	struct dnsd	*d = c->d;

	TAILQ_REMOVE(&d->conns, c, entry);
	d->c.tcp_open--;
	event_free(c->idle);
	bufferevent_free(c->bev);
	free(c);
}

/* dnsd_conn_error: close a connection that misbehaved or idled. */
static void
dnsd_conn_error(struct dnsd_conn *c)
{
	c->d->c.tcp_errors++;
	dnsd_conn_free(c);
}

/* dnsd_conn_arm: (re)start the idle timer of c. */
static void
dnsd_conn_arm(struct dnsd_conn *c)
{
	struct timeval	 tv;

	tv.tv_sec = c->d->idle_ms / 1000;
	tv.tv_usec = (suseconds_t)(c->d->idle_ms % 1000) * 1000;
	evtimer_add(c->idle, &tv);
}

/*
 * dnsd_tcp_one: answer the complete message at the head of in (length
 * len after the prefix).  False: the connection is to be closed (an
 * answer that cannot be given).
 */
static bool
dnsd_tcp_one(struct dnsd_conn *c, struct evbuffer *in, size_t len)
{
	struct dnsd	*d = c->d;
	uint8_t		*q, a[2 + DNSD_TCP_AMAX];
	size_t		 n;

	d->c.tcp_queries++;
	if ((q = evbuffer_pullup(in, (ev_ssize_t)(2 + len))) == NULL)
		fatalx("dnsd_tcp_one: pullup of %zu bytes", 2 + len);
	n = dnsd_answer(d, q + 2, len, a + 2, sizeof(a) - 2);
	evbuffer_drain(in, 2 + len);
	if (n == 0) {
		d->c.dropped++;
		return false;
	}
	a[0] = (uint8_t)(n >> 8);
	a[1] = (uint8_t)n;
	if (bufferevent_write(c->bev, a, 2 + n) == -1) {
		d->c.dropped++;
		return false;
	}
	d->c.answered++;
	return true;
}

/*
 * dnsd_tcp_process: answer every complete query c has buffered, in
 * order, until its output is full (then reading stops until the client
 * has read the answers).  May free c.
 */
static void
dnsd_tcp_process(struct dnsd_conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	uint8_t		 pfx[2];
	size_t		 len;
	bool		 any = false;

	while (evbuffer_get_length(out) < DNSD_TCP_OUTMAX) {
		if (evbuffer_copyout(in, pfx, 2) < 2)
			break;
		len = (size_t)pfx[0] << 8 | pfx[1];
		if (len < 12 || len > DNSD_TCP_QMAX) {
			/* Not DNS (or a runt): nothing sane follows. */
			c->d->c.tcp_queries++;
			c->d->c.dropped++;
			dnsd_conn_error(c);
			return;
		}
		if (evbuffer_get_length(in) < 2 + len)
			break;
		if (!dnsd_tcp_one(c, in, len)) {
			dnsd_conn_error(c);
			return;
		}
		any = true;
	}
	if (any)
		dnsd_conn_arm(c);
	if (evbuffer_get_length(out) >= DNSD_TCP_OUTMAX && !c->throttled) {
		c->throttled = true;
		bufferevent_disable(c->bev, EV_READ);
	}
}

/* dnsd_tcp_read: bytes arrived on a connection. */
static void
dnsd_tcp_read(struct bufferevent *bev, void *arg)
{
	dnsd_tcp_process(arg);
}

/* dnsd_tcp_write: the output of a connection is flushed. */
static void
dnsd_tcp_write(struct bufferevent *bev, void *arg)
{
	struct dnsd_conn *c = arg;

	if (c->closing) {
		dnsd_conn_free(c);
		return;
	}
	if (c->throttled) {
		c->throttled = false;
		bufferevent_enable(c->bev, EV_READ);
		dnsd_tcp_process(c);
	}
}

/* dnsd_tcp_event: end of file or an error on a connection. */
static void
dnsd_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct dnsd_conn *c = arg;

	if ((what & BEV_EVENT_EOF) != 0 && (what & BEV_EVENT_ERROR) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		/* Half-closed: the answers still go out. */
		c->closing = true;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if ((what & BEV_EVENT_ERROR) != 0)
		dnsd_conn_error(c);
	else
		dnsd_conn_free(c);
}

/* dnsd_tcp_idle: a connection sent no complete query for idle_ms. */
static void
dnsd_tcp_idle(evutil_socket_t fd, short what, void *arg)
{
	dnsd_conn_error(arg);
}

/* dnsd_accept: a new TCP connection, closed at once beyond the limit. */
static void
dnsd_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct dnsd_sock	*s = arg;
	struct dnsd		*d = s->d;
	struct dnsd_conn	*c;

	if (d->c.tcp_open >= d->maxconns) {
		d->c.tcp_refused++;
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->d = d;
	if ((c->bev = bufferevent_socket_new(d->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL ||
	    (c->idle = evtimer_new(d->base, dnsd_tcp_idle, c)) == NULL)
		fatalx("dnsd_accept: out of memory");
	TAILQ_INSERT_TAIL(&d->conns, c, entry);
	d->c.tcp_open++;
	d->c.tcp_accepted++;
	bufferevent_setcb(c->bev, dnsd_tcp_read, dnsd_tcp_write,
	    dnsd_tcp_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	dnsd_conn_arm(c);
}

/* dnsd_resume: accept again after a pause (dnsd_accept_error). */
static void
dnsd_resume(evutil_socket_t fd, short what, void *arg)
{
	struct dnsd	*d = arg;
	size_t		 i;

	for (i = 0; i < d->nsocks; i++)
		if (d->socks[i].lev != NULL)
			evconnlistener_enable(d->socks[i].lev);
}

/*
 * dnsd_accept_error: accept failed for lack of descriptors or memory;
 * the listener would be ready again at once, so it pauses a second.
 */
static void
dnsd_accept_error(struct evconnlistener *lev, void *arg)
{
	struct dnsd_sock *s = arg;
	struct timeval	 tv = { DNSD_ACCEPT_PAUSE_MS / 1000,
	    (DNSD_ACCEPT_PAUSE_MS % 1000) * 1000 };
	int		 e = EVUTIL_SOCKET_ERROR();

	log_kv(LOG_LVL_WARN, "event=dns-accept-failed addr=%s port=%d "
	    "error=\"%s\"", s->text, s->d->port, strerror(e));
	evconnlistener_disable(lev);
	evtimer_add(s->d->resume, &tv);
}

/* dnsd_start: serve the sockets of d on base. */
void
dnsd_start(struct dnsd *d, struct event_base *base)
{
	struct dnsd_sock *s;
	size_t		 i;

	if (d->base != NULL)
		fatalx("dnsd_start: started twice");
	d->base = base;
	d->ub = xcalloc(1, sizeof(*d->ub));
	if ((d->resume = evtimer_new(base, dnsd_resume, d)) == NULL)
		fatalx("dnsd_start: out of memory");
	for (i = 0; i < d->nsocks; i++) {
		s = &d->socks[i];
		if (s->proto == DNSD_UDP) {
			if ((s->ev = event_new(base, s->fd, EV_READ |
			    EV_PERSIST, dnsd_udp_read, s)) == NULL ||
			    event_add(s->ev, NULL) == -1)
				fatalx("dnsd_start: udp event");
		} else {
			/* Backlog 0: the socket already listens. */
			if ((s->lev = evconnlistener_new(base, dnsd_accept, s,
			    LEV_OPT_CLOSE_ON_EXEC, 0, s->fd)) == NULL)
				fatalx("dnsd_start: tcp listener");
			evconnlistener_set_error_cb(s->lev, dnsd_accept_error);
		}
		log_kv(LOG_LVL_INFO, "event=dns-listen addr=%s port=%d "
		    "proto=%s", s->text, d->port, s->proto == DNSD_UDP ?
		    "udp" : "tcp");
	}
}

/* dnsd_set_zone: answer from z from now on (owned); NULL: SERVFAIL. */
void
dnsd_set_zone(struct dnsd *d, struct blzone *z)
{
	if (d->zone != z)
		blzone_free(d->zone);
	d->zone = z;
}

/* dnsd_get_counters: what d has done so far. */
void
dnsd_get_counters(const struct dnsd *d, struct dnsd_counters *c)
{
	*c = d->c;
}

/* dnsd_port: the port every socket of d is bound to. */
int
dnsd_port(const struct dnsd *d)
{
	return d->port;
}

/*
 * dnsd_set_tcp_limits: idle time (ms) and open connections; 0 keeps the
 * current value.  Applies to connections accepted (or re-armed) later.
 */
void
dnsd_set_tcp_limits(struct dnsd *d, unsigned int idle_ms, size_t maxconns)
{
	if (idle_ms != 0)
		d->idle_ms = idle_ms;
	if (maxconns != 0)
		d->maxconns = maxconns;
}

/* dnsd_free: close every socket and connection of d, free its zone. */
void
dnsd_free(struct dnsd *d)
{
	struct dnsd_sock *s;
	size_t		 i;

	if (d == NULL)
		return;
	while (!TAILQ_EMPTY(&d->conns))
		dnsd_conn_free(TAILQ_FIRST(&d->conns));
	for (i = 0; i < d->nsocks; i++) {
		s = &d->socks[i];
		if (s->ev != NULL)
			event_free(s->ev);
		if (s->lev != NULL)
			evconnlistener_free(s->lev);
		close(s->fd);
	}
	if (d->resume != NULL)
		event_free(d->resume);
	blzone_free(d->zone);
	free(d->ub);
	free(d->socks);
	free(d);
}
