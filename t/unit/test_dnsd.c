/*
 * test_dnsd.c: the DNSBL responder's sockets (ipprofiler/dnsd.c), over
 * real UDP and TCP sockets on loopback with the event loop driven here:
 * listed, not listed, IPv6, TXT and the test entry over both transports,
 * pipelined TCP queries, a truncated or garbage TCP stream, a burst of
 * malformed datagrams, the connection limit and idle timeout, zone swaps
 * (and SERVFAIL with no zone), wildcard and IPv6 listeners.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <ldns/ldns.h>

#include "blzone.h"
#include "conf.h"
#include "dnsd.h"
#include "log.h"
#include "test.h"
#include "util.h"

#define V6NAME	"7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0." \
		"1.0.0.2.bl.test."

static struct event_base *base;

/* now_ms: a monotonic clock in milliseconds. */
static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pump: run the server's loop for about ms milliseconds. */
static void
pump(int ms)
{
	long long	 end = now_ms() + ms;

	do {
		event_base_loop(base, EVLOOP_NONBLOCK);
		poll(NULL, 0, 1);
	} while (now_ms() < end);
}

/* wait_fd: run the loop until fd is readable; false after 3 s. */
static bool
wait_fd(int fd)
{
	struct pollfd	 p = { .fd = fd, .events = POLLIN };
	long long	 end = now_ms() + 3000;

	while (now_ms() < end) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 1) == 1)
			return true;
	}
	return false;
}

/* iplist: a conf_iplist of the comma-free addresses given (static). */
static struct conf_iplist *
iplist(const char *a, const char *b)
{
	static struct conf_ip	 v[2];
	static struct conf_iplist l;
	const char		*s[2] = { a, b };
	size_t			 i;

	memset(v, 0, sizeof(v));
	l.v = v;
	l.n = 0;
	for (i = 0; i < 2 && s[i] != NULL; i++, l.n++) {
		if (inet_pton(AF_INET, s[i], &v[i].addr.v4) == 1)
			v[i].family = AF_INET;
		else if (inet_pton(AF_INET6, s[i], &v[i].addr.v6) == 1)
			v[i].family = AF_INET6;
		else
			abort();
		str_lcpy(v[i].text, s[i], sizeof(v[i].text));
	}
	return &l;
}

/* zone: bl.test listing addr (reason "why <addr>") and two fixed entries. */
static struct blzone *
zone(const char *addr)
{
	static const char *fixed[] = { "2001:db8::7", "198.51.100.0/24" };
	struct blzone	*z = blzone_new("bl.test");
	struct netaddr	 a;
	char		 why[80];
	size_t		 i;

	if (z == NULL || netaddr_parse(&a, addr, strlen(addr)) != NETADDR_OK)
		abort();
	(void)str_printf(why, sizeof(why), "why %s", addr);
	blzone_add(z, &a, why);
	for (i = 0; i < nitems(fixed); i++) {
		if (netaddr_parse(&a, fixed[i], strlen(fixed[i])) != NETADDR_OK)
			abort();
		(void)str_printf(why, sizeof(why), "why %s", fixed[i]);
		blzone_add(z, &a, why);
	}
	return z;
}

/* wire: a query for name/type with id as wire bytes (caller frees). */
static uint8_t *
wire(const char *name, ldns_rr_type type, uint16_t id, size_t *len)
{
	ldns_pkt	*q;
	uint8_t		*w;

	q = ldns_pkt_query_new(ldns_dname_new_frm_str(name), type,
	    LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_pkt_set_id(q, id);
	if (ldns_pkt2wire(&w, q, len) != LDNS_STATUS_OK)
		abort();
	ldns_pkt_free(q);
	return w;
}

/*
 * verdict: an answer as text: "NXDOMAIN", "A 127.0.0.2", "TXT \"...\"",
 * "SERVFAIL", "FORMERR" (rcode names for the others), with "id!" in front
 * when the id is not id.
 */
static void
verdict(const uint8_t *a, size_t len, uint16_t id, char *buf, size_t size)
{
	ldns_pkt	*p = NULL;
	ldns_rr		*rr;
	char		*s;

	buf[0] = '\0';
	if (ldns_wire2pkt(&p, a, len) != LDNS_STATUS_OK) {
		if (len >= 12 && (a[3] & 0x0f) == LDNS_RCODE_FORMERR)
			str_lcpy(buf, "FORMERR", size);
		else
			str_lcpy(buf, "unparsable", size);
		ldns_pkt_free(p);
		return;
	}
	if (ldns_pkt_id(p) != id || !ldns_pkt_qr(p))
		str_lcat(buf, "id!", size);
	if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR) {
		s = ldns_pkt_rcode2str(ldns_pkt_get_rcode(p));
		str_lcat(buf, s, size);
		free(s);
	} else if (ldns_pkt_ancount(p) == 0)
		str_lcat(buf, "NODATA", size);
	else {
		rr = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
		str_lcat(buf, ldns_rr_get_type(rr) == LDNS_RR_TYPE_A ? "A " :
		    "TXT ", size);
		s = ldns_rdf2str(ldns_rr_rdf(rr, 0));
		str_lcat(buf, s, size);
		free(s);
	}
	ldns_pkt_free(p);
}

/* udp_client: a UDP socket connected to addr:port. */
static int
udp_client(const char *addr, int port)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &s4->sin_addr);
		len = sizeof(*s4);
	}
	if ((fd = socket(ss.ss_family, SOCK_DGRAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&ss, len) == -1)
		abort();
	return fd;
}

/* udp_ask: name/type over UDP from fd; the verdict in buf. */
static void
udp_ask(int fd, const char *name, ldns_rr_type type, char *buf, size_t size)
{
	static uint16_t	 id = 100;
	uint8_t		*q, a[1024];
	size_t		 qlen;
	ssize_t		 n;

	q = wire(name, type, ++id, &qlen);
	if (send(fd, q, qlen, 0) != (ssize_t)qlen)
		abort();
	free(q);
	if (!wait_fd(fd) || (n = recv(fd, a, sizeof(a), 0)) <= 0) {
		str_lcpy(buf, "no answer", size);
		return;
	}
	verdict(a, (size_t)n, id, buf, size);
}

/* tcp_client: a TCP connection to 127.0.0.1:port (connect completes
 * through the kernel backlog, before the server accepts). */
static int
tcp_client(int port)
{
	struct sockaddr_in	 s4;
	int			 fd;

	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = htons((uint16_t)port);
	s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&s4, sizeof(s4)) == -1)
		abort();
	return fd;
}

/* tcp_read: one length-prefixed message from fd; its length, -1: EOF. */
static ssize_t
tcp_read(int fd, uint8_t *a, size_t size)
{
	size_t	 got = 0, want = 2;
	ssize_t	 n;

	while (got < want) {
		if (!wait_fd(fd))
			return -2;
		if ((n = recv(fd, a + got, want - got, 0)) <= 0)
			return -1;
		got += (size_t)n;
		if (got == 2 && want == 2) {
			want = 2 + ((size_t)a[0] << 8 | a[1]);
			if (want > size)
				return -3;
		}
	}
	memmove(a, a + 2, want - 2);
	return (ssize_t)(want - 2);
}

/* tcp_send_query: name/type with id as one length-prefixed message. */
static void
tcp_send_query(int fd, const char *name, ldns_rr_type type, uint16_t id)
{
	uint8_t		*q, buf[600];
	size_t		 qlen;

	q = wire(name, type, id, &qlen);
	buf[0] = (uint8_t)(qlen >> 8);
	buf[1] = (uint8_t)qlen;
	memcpy(buf + 2, q, qlen);
	free(q);
	if (send(fd, buf, qlen + 2, 0) != (ssize_t)(qlen + 2))
		abort();
}

/* tcp_ask: name/type over the TCP connection fd; the verdict in buf. */
static void
tcp_ask(int fd, const char *name, ldns_rr_type type, char *buf, size_t size)
{
	static uint16_t	 id = 5000;
	uint8_t		 a[4096];
	ssize_t		 n;

	tcp_send_query(fd, name, type, ++id);
	if ((n = tcp_read(fd, a, sizeof(a))) < 0) {
		str_lcpy(buf, "no answer", size);
		return;
	}
	verdict(a, (size_t)n, id, buf, size);
}

/* closed: whether the server closed fd (EOF or reset within 3 s). */
static bool
closed(int fd)
{
	uint8_t	 b[4096];
	ssize_t	 n;

	for (;;) {
		if (!wait_fd(fd))
			return false;
		if ((n = recv(fd, b, sizeof(b), 0)) <= 0)
			return true;
	}
}

static const struct {
	const char	*name;
	ldns_rr_type	 type;
	const char	*want;
} cases[] = {
	{ "9.2.0.192.bl.test.", LDNS_RR_TYPE_A, "A 127.0.0.2" },
	{ "9.2.0.192.bl.test.", LDNS_RR_TYPE_TXT, "TXT \"why 192.0.2.9\"" },
	{ "10.2.0.192.bl.test.", LDNS_RR_TYPE_A, "NXDOMAIN" },
	{ "10.2.0.192.bl.test.", LDNS_RR_TYPE_TXT, "NXDOMAIN" },
	{ V6NAME, LDNS_RR_TYPE_A, "A 127.0.0.2" },
	{ V6NAME, LDNS_RR_TYPE_TXT, "TXT \"why 2001:db8::7\"" },
	{ "77.100.51.198.bl.test.", LDNS_RR_TYPE_TXT,
	    "TXT \"why 198.51.100.0/24\"" },
	{ "2.0.0.127.bl.test.", LDNS_RR_TYPE_A, "A 127.0.0.2" },
	{ "2.0.0.127.bl.test.", LDNS_RR_TYPE_TXT,
	    "TXT \"RFC 5782 test entry\"" },
	{ "9.2.0.192.other.test.", LDNS_RR_TYPE_A, "REFUSED" },
};

/* start: a responder on 127.0.0.1 (and b, if not NULL), zone("192.0.2.9"). */
static struct dnsd *
start(const char *a, const char *b)
{
	struct dnsd	*d;
	char		 err[256];

	if ((d = dnsd_bind(iplist(a, b), 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "dnsd_bind: %s\n", err);
		abort();
	}
	dnsd_start(d, base);
	dnsd_set_zone(d, zone("192.0.2.9"));
	return d;
}

static void
t_udp(void)
{
	struct dnsd		*d = start("127.0.0.1", NULL);
	struct dnsd_counters	 c;
	char			 got[300];
	size_t			 i;
	int			 fd = udp_client("127.0.0.1", dnsd_port(d));

	CHECK(dnsd_port(d) > 0);
	for (i = 0; i < nitems(cases); i++) {
		udp_ask(fd, cases[i].name, cases[i].type, got, sizeof(got));
		CHECKF(strcmp(got, cases[i].want) == 0, "udp %s: %s",
		    cases[i].name, got);
	}
	dnsd_get_counters(d, &c);
	CHECK_INTEQ(c.udp_queries, nitems(cases));
	CHECK_INTEQ(c.answered, nitems(cases));
	CHECK_INTEQ(c.dropped, 0);
	close(fd);
	dnsd_free(d);
}

static void
t_tcp(void)
{
	struct dnsd		*d = start("127.0.0.1", NULL);
	struct dnsd_counters	 c;
	char			 got[300];
	size_t			 i;
	int			 fd = tcp_client(dnsd_port(d));

	/* Every case on one connection, one after the other. */
	for (i = 0; i < nitems(cases); i++) {
		tcp_ask(fd, cases[i].name, cases[i].type, got, sizeof(got));
		CHECKF(strcmp(got, cases[i].want) == 0, "tcp %s: %s",
		    cases[i].name, got);
	}
	dnsd_get_counters(d, &c);
	CHECK_INTEQ(c.tcp_queries, nitems(cases));
	CHECK_INTEQ(c.answered, nitems(cases));
	CHECK_INTEQ(c.tcp_accepted, 1);
	CHECK_INTEQ(c.tcp_open, 1);
	close(fd);
	pump(50);
	dnsd_get_counters(d, &c);
	CHECK_INTEQ(c.tcp_open, 0);
	CHECK_INTEQ(c.tcp_errors, 0);
	dnsd_free(d);
}

static void
t_tcp_pipelined(void)
{
	struct dnsd	*d = start("127.0.0.1", NULL);
	uint8_t		*q1, *q2, buf[1200], a[1024];
	size_t		 l1, l2;
	ssize_t		 n;
	char		 got[300];
	int		 fd = tcp_client(dnsd_port(d));

	/* Two queries in one segment; two answers, in order. */
	q1 = wire("9.2.0.192.bl.test.", LDNS_RR_TYPE_A, 1, &l1);
	q2 = wire("10.2.0.192.bl.test.", LDNS_RR_TYPE_A, 2, &l2);
	buf[0] = (uint8_t)(l1 >> 8);
	buf[1] = (uint8_t)l1;
	memcpy(buf + 2, q1, l1);
	buf[2 + l1] = (uint8_t)(l2 >> 8);
	buf[3 + l1] = (uint8_t)l2;
	memcpy(buf + 4 + l1, q2, l2);
	CHECK(send(fd, buf, l1 + l2 + 4, 0) == (ssize_t)(l1 + l2 + 4));
	n = tcp_read(fd, a, sizeof(a));
	CHECK(n > 0);
	if (n > 0) {
		verdict(a, (size_t)n, 1, got, sizeof(got));
		CHECK_STREQ(got, "A 127.0.0.2");
	}
	n = tcp_read(fd, a, sizeof(a));
	CHECK(n > 0);
	if (n > 0) {
		verdict(a, (size_t)n, 2, got, sizeof(got));
		CHECK_STREQ(got, "NXDOMAIN");
	}
	/* A query split across segments, byte by byte. */
	buf[0] = (uint8_t)(l1 >> 8);
	buf[1] = (uint8_t)l1;
	memcpy(buf + 2, q1, l1);
	for (size_t i = 0; i < l1 + 2; i++) {
		CHECK(send(fd, buf + i, 1, 0) == 1);
		pump(1);
	}
	n = tcp_read(fd, a, sizeof(a));
	CHECK(n > 0);
	if (n > 0) {
		verdict(a, (size_t)n, 1, got, sizeof(got));
		CHECK_STREQ(got, "A 127.0.0.2");
	}
	/* Half-closed after a query: the answer still comes. */
	tcp_send_query(fd, "2.0.0.127.bl.test.", LDNS_RR_TYPE_A, 3);
	shutdown(fd, SHUT_WR);
	n = tcp_read(fd, a, sizeof(a));
	CHECK(n > 0);
	if (n > 0) {
		verdict(a, (size_t)n, 3, got, sizeof(got));
		CHECK_STREQ(got, "A 127.0.0.2");
	}
	CHECK(closed(fd));
	free(q1);
	free(q2);
	close(fd);
	dnsd_free(d);
}

static void
t_tcp_broken(void)
{
	struct dnsd		*d = start("127.0.0.1", NULL);
	struct dnsd_counters	 c;
	uint8_t			 b[64], a[1024];
	char			 got[300];
	ssize_t			 n;
	int			 fd;

	/* A length prefix larger than what is sent, then close. */
	fd = tcp_client(dnsd_port(d));
	b[0] = 0;
	b[1] = 200;
	memset(b + 2, 0x41, 40);
	CHECK(send(fd, b, 42, 0) == 42);
	pump(20);
	dnsd_get_counters(d, &c);
	CHECK_INTEQ(c.tcp_open, 1);
	close(fd);
	pump(50);
	dnsd_get_counters(d, &c);
	CHECK_INTEQ(c.tcp_open, 0);
	/* Garbage (an HTTP request): closed. */
	fd = tcp_client(dnsd_port(d));
	CHECK(send(fd, "GET / HTTP/1.0\r\n\r\n", 18, 0) == 18);
	CHECK(closed(fd));
	close(fd);
	/* A length below a DNS header: closed. */
	fd = tcp_client(dnsd_port(d));
	CHECK(send(fd, "\0\5abcde", 7, 0) == 7);
	CHECK(closed(fd));
	close(fd);
	/* 12 bytes that are not a query: FORMERR, and the connection stays. */
	fd = tcp_client(dnsd_port(d));
	memset(b, 0, sizeof(b));
	b[1] = 12;
	b[2] = 0x77;
	b[3] = 0x88;
	b[7] = 1;	/* QDCOUNT 1, no question */
	CHECK(send(fd, b, 14, 0) == 14);
	n = tcp_read(fd, a, sizeof(a));
	CHECK(n == 12 && a[0] == 0x77 && a[1] == 0x88 &&
	    (a[3] & 0x0f) == LDNS_RCODE_FORMERR);
	tcp_ask(fd, "9.2.0.192.bl.test.", LDNS_RR_TYPE_A, got, sizeof(got));
	CHECK_STREQ(got, "A 127.0.0.2");
	/* A response (QR set) over TCP: no answer, closed. */
	b[4] = 0x80;
	CHECK(send(fd, b, 14, 0) == 14);
	CHECK(closed(fd));
	close(fd);
	pump(20);
	dnsd_get_counters(d, &c);
	CHECK_INTEQ(c.tcp_open, 0);
	CHECK_INTEQ(c.tcp_errors, 3);
	/* Still answering. */
	fd = tcp_client(dnsd_port(d));
	tcp_ask(fd, "9.2.0.192.bl.test.", LDNS_RR_TYPE_TXT, got, sizeof(got));
	CHECK_STREQ(got, "TXT \"why 192.0.2.9\"");
	close(fd);
	dnsd_free(d);
}

static void
t_tcp_many(void)
{
	struct dnsd		*d = start("127.0.0.1", NULL);
	struct dnsd_counters	 c;
	struct blzone		*z = blzone_new("bl.test");
	struct netaddr		 a;
	uint8_t			*q, *stream, in[1 << 16];
	size_t			 qlen, slen, sent = 0, have = 0;
	size_t			 off, alen;
	uint16_t		 want = 0;
	ssize_t			 n;
	int			 fd = tcp_client(dnsd_port(d));
	int			 i, stalled = 0;
	long long		 end = now_ms() + 10000;
	bool			 order = true;
	char			 why[BLZONE_REASON_MAX + 1];

	/*
	 * 20000 queries (200-byte TXT answers, 5 MB) written as fast as the
	 * server takes them by a client that reads only when it cannot
	 * write: the server stops reading when its output for the
	 * connection is full, and every answer still comes, in order.
	 */
	memset(why, 'x', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	netaddr_parse(&a, "192.0.2.9", 9);
	blzone_add(z, &a, why);
	dnsd_set_zone(d, z);
	q = wire("9.2.0.192.bl.test.", LDNS_RR_TYPE_TXT, 0, &qlen);
	slen = 20000 * (qlen + 2);
	stream = malloc(slen);
	for (i = 0; i < 20000; i++) {
		stream[i * (qlen + 2)] = (uint8_t)(qlen >> 8);
		stream[i * (qlen + 2) + 1] = (uint8_t)qlen;
		memcpy(stream + i * (qlen + 2) + 2, q, qlen);
		stream[i * (qlen + 2) + 2] = (uint8_t)(i >> 8);
		stream[i * (qlen + 2) + 3] = (uint8_t)i;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (want < 20000 && now_ms() < end) {
		if (sent < slen && (n = send(fd, stream + sent, slen - sent,
		    0)) > 0) {
			sent += (size_t)n;
			stalled = 0;
		} else
			stalled++;
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (stalled < 20 || (n = recv(fd, in + have,
		    sizeof(in) - have, 0)) <= 0)
			continue;
		have += (size_t)n;
		for (off = 0; off + 2 <= have; off += 2 + alen) {
			alen = (size_t)in[off] << 8 | in[off + 1];
			if (off + 2 + alen > have)
				break;
			order = order && alen > BLZONE_REASON_MAX &&
			    (in[off + 2] << 8 | in[off + 3]) == want;
			want++;
		}
		memmove(in, in + off, have - off);
		have -= off;
	}
	CHECKF(want == 20000, "%u answers", want);
	CHECK(order);
	dnsd_get_counters(d, &c);
	CHECK_INTEQ(c.answered, 20000);
	CHECK_INTEQ(c.tcp_errors, 0);
	free(stream);
	free(q);
	close(fd);
	dnsd_free(d);
}

static void
t_tcp_limits(void)
{
	struct dnsd		*d = start("127.0.0.1", NULL);
	struct dnsd_counters	 c;
	char			 got[300];
	long long		 t0;
	int			 fd[3], i;

	dnsd_set_tcp_limits(d, 300, 2);
	for (i = 0; i < 3; i++) {
		fd[i] = tcp_client(dnsd_port(d));
		pump(10);
	}
	/* The third is over the limit: closed at once. */
	CHECK(closed(fd[2]));
	dnsd_get_counters(d, &c);
	CHECK_INTEQ(c.tcp_refused, 1);
	CHECK_INTEQ(c.tcp_open, 2);
	/* The others answer, then are closed when idle. */
	tcp_ask(fd[0], "9.2.0.192.bl.test.", LDNS_RR_TYPE_A, got, sizeof(got));
	CHECK_STREQ(got, "A 127.0.0.2");
	t0 = now_ms();
	CHECK(closed(fd[0]));
	CHECK(now_ms() - t0 >= 250);
	CHECK(closed(fd[1]));
	dnsd_get_counters(d, &c);
	CHECK_INTEQ(c.tcp_open, 0);
	for (i = 0; i < 3; i++)
		close(fd[i]);
	dnsd_free(d);
}

static void
t_udp_malformed_burst(void)
{
	struct dnsd		*d = start("127.0.0.1", NULL);
	struct dnsd_counters	 c;
	uint8_t			 b[700];
	char			 got[300];
	size_t			 len, j;
	int			 fd = udp_client("127.0.0.1", dnsd_port(d));
	int			 i, sink = udp_client("127.0.0.1",
				    dnsd_port(d));

	srandom(8);
	for (i = 0; i < 3000; i++) {
		len = (size_t)(random() % (long)sizeof(b));
		for (j = 0; j < len; j++)
			b[j] = (uint8_t)random();
		if (i % 7 == 0 && len > 2)
			b[2] |= 0x80;	/* a response */
		(void)send(sink, b, len, 0);
		if (i % 50 == 49) {
			pump(1);
			/* Drain the FORMERRs so our buffer never fills. */
			while (recv(sink, b, sizeof(b), MSG_DONTWAIT) > 0)
				;
		}
	}
	pump(20);
	dnsd_get_counters(d, &c);
	CHECKF(c.udp_queries >= 2000, "%llu", (unsigned long long)
	    c.udp_queries);
	udp_ask(fd, "9.2.0.192.bl.test.", LDNS_RR_TYPE_A, got, sizeof(got));
	CHECK_STREQ(got, "A 127.0.0.2");
	/* A runt and a response: no answer; a bad header: FORMERR. */
	CHECK(send(fd, "\1\2\3", 3, 0) == 3);
	memset(b, 0, 12);
	b[2] = 0x80;
	b[5] = 1;
	CHECK(send(fd, b, 12, 0) == 12);
	b[2] = 0;
	b[0] = 0x42;
	CHECK(send(fd, b, 12, 0) == 12);
	CHECK(wait_fd(fd));
	CHECK(recv(fd, b, sizeof(b), 0) == 12 && b[0] == 0x42 &&
	    (b[3] & 0x0f) == LDNS_RCODE_FORMERR);
	close(fd);
	close(sink);
	dnsd_free(d);
}

static void
t_zone_swap(void)
{
	struct dnsd	*d = start("127.0.0.1", NULL);
	char		 got[300];
	int		 fd = udp_client("127.0.0.1", dnsd_port(d));
	int		 tfd = tcp_client(dnsd_port(d));

	udp_ask(fd, "9.2.0.192.bl.test.", LDNS_RR_TYPE_A, got, sizeof(got));
	CHECK_STREQ(got, "A 127.0.0.2");
	dnsd_set_zone(d, zone("192.0.2.10"));
	udp_ask(fd, "9.2.0.192.bl.test.", LDNS_RR_TYPE_A, got, sizeof(got));
	CHECK_STREQ(got, "NXDOMAIN");
	udp_ask(fd, "10.2.0.192.bl.test.", LDNS_RR_TYPE_TXT, got, sizeof(got));
	CHECK_STREQ(got, "TXT \"why 192.0.2.10\"");
	/* An open TCP connection sees the new zone too. */
	tcp_ask(tfd, "10.2.0.192.bl.test.", LDNS_RR_TYPE_A, got, sizeof(got));
	CHECK_STREQ(got, "A 127.0.0.2");
	/* No zone: SERVFAIL (temporary) to queries, over both transports. */
	dnsd_set_zone(d, NULL);
	udp_ask(fd, "10.2.0.192.bl.test.", LDNS_RR_TYPE_A, got, sizeof(got));
	CHECK_STREQ(got, "SERVFAIL");
	tcp_ask(tfd, "10.2.0.192.bl.test.", LDNS_RR_TYPE_A, got, sizeof(got));
	CHECK_STREQ(got, "SERVFAIL");
	dnsd_set_zone(d, zone("192.0.2.11"));
	tcp_ask(tfd, "11.2.0.192.bl.test.", LDNS_RR_TYPE_A, got, sizeof(got));
	CHECK_STREQ(got, "A 127.0.0.2");
	close(fd);
	close(tfd);
	dnsd_free(d);
}

static void
t_listeners(void)
{
	struct dnsd	*d, *busy;
	char		 got[300], err[256];
	int		 fd;

	/* 127.0.0.1 and ::1 share one port; both answer. */
	d = start("127.0.0.1", "::1");
	fd = udp_client("::1", dnsd_port(d));
	udp_ask(fd, V6NAME, LDNS_RR_TYPE_TXT, got, sizeof(got));
	CHECK_STREQ(got, "TXT \"why 2001:db8::7\"");
	close(fd);
	fd = udp_client("127.0.0.1", dnsd_port(d));
	udp_ask(fd, "9.2.0.192.bl.test.", LDNS_RR_TYPE_A, got, sizeof(got));
	CHECK_STREQ(got, "A 127.0.0.2");
	close(fd);
	/* The port is taken now: binding it again fails with a reason. */
	busy = dnsd_bind(iplist("127.0.0.1", NULL), dnsd_port(d), err,
	    sizeof(err));
	CHECK(busy == NULL && strstr(err, "127.0.0.1") != NULL &&
	    strstr(err, "in use") != NULL);
	dnsd_free(d);
	CHECK(dnsd_bind(iplist("127.0.0.1", NULL), 70000, err,
	    sizeof(err)) == NULL);
	/* A wildcard listener answers from the address asked. */
	d = start("0.0.0.0", "::");
	fd = udp_client("127.0.0.1", dnsd_port(d));
	udp_ask(fd, "2.0.0.127.bl.test.", LDNS_RR_TYPE_A, got, sizeof(got));
	CHECK_STREQ(got, "A 127.0.0.2");
	close(fd);
	fd = udp_client("::1", dnsd_port(d));
	udp_ask(fd, "2.0.0.127.bl.test.", LDNS_RR_TYPE_A, got, sizeof(got));
	CHECK_STREQ(got, "A 127.0.0.2");
	close(fd);
	dnsd_free(d);
	/* A bound but never started responder frees cleanly. */
	d = dnsd_bind(iplist("127.0.0.1", NULL), 0, err, sizeof(err));
	CHECK(d != NULL);
	dnsd_set_zone(d, zone("192.0.2.9"));
	dnsd_free(d);
}

static void
t_privileged_source(void)
{
	struct sockaddr_in	 s4;
	struct dnsd		*d;
	struct dnsd_counters	 c;
	uint8_t			*q;
	size_t			 qlen;
	int			 fd;

	/* Binding port 7 needs root; without it there is nothing to show. */
	if (geteuid() != 0)
		return;
	d = start("127.0.0.1", NULL);
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = htons(7);
	s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (bind(fd, (struct sockaddr *)&s4, sizeof(s4)) == -1) {
		close(fd);
		dnsd_free(d);
		return;		/* an echo service is running here */
	}
	s4.sin_port = htons((uint16_t)dnsd_port(d));
	q = wire("9.2.0.192.bl.test.", LDNS_RR_TYPE_A, 9, &qlen);
	CHECK(sendto(fd, q, qlen, 0, (struct sockaddr *)&s4, sizeof(s4)) ==
	    (ssize_t)qlen);
	free(q);
	pump(50);
	dnsd_get_counters(d, &c);
	CHECK_INTEQ(c.udp_queries, 1);
	CHECK_INTEQ(c.dropped, 1);
	CHECK(recv(fd, &qlen, 1, MSG_DONTWAIT) == -1 && errno == EAGAIN);
	close(fd);
	dnsd_free(d);
}

static void
t_setup(void)
{
	log_setlevel(LOG_LVL_WARN);
	if ((base = event_base_new()) == NULL)
		abort();
}

static void
t_teardown(void)
{
	event_base_free(base);
}

TEST_MAIN(t_setup, t_udp, t_tcp, t_tcp_pipelined, t_tcp_broken,
    t_tcp_many, t_tcp_limits, t_udp_malformed_burst, t_zone_swap, t_listeners,
    t_privileged_source, t_teardown)
