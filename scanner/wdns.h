/*
 * wdns.h: DNS for code that runs in a scan worker.
 *
 * A worker has no network (seccomp): it asks the scanner parent, which
 * resolves with c-ares (common/dns.c), caches answers for their TTL and
 * answers over the worker's channel (scannerd.c).  Code that needs DNS
 * (SPF, DKIM, DMARC, DNS blocklists) is given a struct wdns and calls
 * wdns_query(); tests give it a function over an in-memory zone instead.
 * A query blocks until the answer or the deadline; it never fails
 * silently: a timeout or a resolver error is DNS_TEMPFAIL.  A DNS_PTR
 * question names an address literal ("192.0.2.1") or its reverse name
 * ("1.2.0.192.in-addr.arpa", ip6.arpa); every other name is a domain
 * name (at most 253 bytes, no trailing dot).
 */
#ifndef SEKISHO_WDNS_H
#define SEKISHO_WDNS_H

#include <stddef.h>
#include <stdint.h>

#include "dns.h"

#define WDNS_MAX_RR		64	/* records kept from one answer */
#define WDNS_RR_MAX		4096	/* bytes of one record's text */

/*
 * One answer.  rr[] holds each record as text: A and AAAA as the address
 * ("192.0.2.1", "2001:db8::1"), MX as "PREF HOST", TXT as the record's
 * strings joined, PTR as the name (no trailing dot).
 */
struct wdns_answer {
	enum dns_status	 status;	/* DNS_OK, DNS_NXDOMAIN, DNS_NODATA,
					   DNS_TEMPFAIL, DNS_BADNAME */
	char		**rr;
	size_t		 nrr;
};

/* The resolver: fills out (always; out->status says how it went). */
typedef void	(*wdns_fn)(void *, enum dns_type, const char *,
		    struct wdns_answer *);

/* One question of a batch. */
struct wdns_q {
	enum dns_type	 type;
	const char	*name;
};

/* Many questions asked at once, answered in outs[i] (optional). */
typedef void	(*wdns_batch_fn)(void *, const struct wdns_q *, size_t,
		    struct wdns_answer *);

struct wdns {
	wdns_fn		 query;
	void		*arg;
	wdns_batch_fn	 batch;		/* NULL: one query after another */
};

void	 wdns_query(const struct wdns *, enum dns_type, const char *,
	    struct wdns_answer *);
void	 wdns_query_batch(const struct wdns *, const struct wdns_q *, size_t,
	    struct wdns_answer *);
void	 wdns_answer_add(struct wdns_answer *, const char *);
void	 wdns_answer_free(struct wdns_answer *);

#endif
