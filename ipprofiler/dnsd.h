/*
 * dnsd.h: the network side of sekisho-ipprofiler's DNSBL responder.
 *
 * dnsd owns the UDP and TCP sockets of the responder and the zone they
 * serve; blzone (blzone.h) decides every answer.  Sockets are bound by
 * dnsd_bind() while the process may still be root (port 53), the event
 * loop is attached by dnsd_start() after the privilege drop, and the
 * daemon hands over each rebuilt zone with dnsd_set_zone().
 *
 * UDP: datagrams are read in batches (recvmmsg), a bounded number per
 * readiness so TCP clients are never starved, and each answer (at most
 * 512 bytes, blzone enforces it) goes back to the sender with sendmmsg.
 * Datagrams from port 0 or from a privileged port other than 53 (echo,
 * chargen...) are dropped, so no reflected loop with such a service can
 * start.  Wildcard addresses answer from the address that was asked
 * (IP_PKTINFO / IPV6_RECVPKTINFO).
 *
 * TCP (RFC 7766): each message has a 2-byte length prefix; a connection
 * carries any number of queries, answered in order; it is closed when
 * idle, when a length is below a DNS header (12) or above
 * DNSD_TCP_QMAX (garbage) and when a message gets no answer (a
 * response).  With DNSD_TCP_OUTMAX bytes of answers unread, reading
 * stops until the client catches up (or idles out).  Beyond
 * DNSD_TCP_MAXCONNS connections a new one is closed at once.
 *
 * With no zone (before the first dnsd_set_zone, or after setting NULL)
 * a well-formed query gets SERVFAIL: the server exists but cannot answer
 * yet, a temporary condition to a resolver, which retries (REFUSED would
 * read as "not served here", a lasting verdict).
 */
#ifndef SEKISHO_DNSD_H
#define SEKISHO_DNSD_H

#include <stddef.h>
#include <stdint.h>

struct blzone;
struct conf_iplist;
struct event_base;

#define DNSD_TCP_MAXCONNS	256		/* open connections */
#define DNSD_TCP_IDLE_MS	10000		/* without a complete query */
#define DNSD_TCP_QMAX		4096		/* bytes of one query */
#define DNSD_TCP_OUTMAX		(64 * 1024)	/* answers queued per conn */
#define DNSD_UDP_BATCH		32		/* datagrams per recvmmsg */
#define DNSD_UDP_ROUNDS		4		/* recvmmsg per readiness */

struct dnsd_counters {
	uint64_t	udp_queries;	/* datagrams received */
	uint64_t	tcp_queries;	/* messages received over TCP */
	uint64_t	answered;	/* answers sent, UDP and TCP */
	uint64_t	dropped;	/* received and not answered */
	uint64_t	tcp_accepted;	/* connections accepted */
	uint64_t	tcp_refused;	/* closed at once: too many open */
	uint64_t	tcp_errors;	/* closed: garbage, idle or error */
	uint64_t	tcp_open;	/* connections open now */
};

struct dnsd;

struct dnsd	*dnsd_bind(const struct conf_iplist *, int, char *, size_t);
void		 dnsd_start(struct dnsd *, struct event_base *);
void		 dnsd_set_zone(struct dnsd *, struct blzone *);
void		 dnsd_free(struct dnsd *);
void		 dnsd_get_counters(const struct dnsd *,
		    struct dnsd_counters *);
int		 dnsd_port(const struct dnsd *);
void		 dnsd_set_tcp_limits(struct dnsd *, unsigned int, size_t);

#endif
