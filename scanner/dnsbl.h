/*
 * dnsbl.h: DNS blocklists (RFC 5782): the client's address in IP lists,
 * the hosts of a message's URIs in domain lists.  Lookups go through a
 * struct wdns, all of one message's at once.
 */
#ifndef SEKISHO_DNSBL_H
#define SEKISHO_DNSBL_H

#include <stdbool.h>
#include <stddef.h>

#include "dnsbl_ip.h"
#include "wdns.h"

#define DNSBL_MAX_ZONES		32	/* zones of one kind looked up */
#define DNSBL_MAX_HOSTS		20	/* URI hosts of one message */
#define DNSBL_HOST_NAMES	3	/* names tried per host: it and its
					   parents, down to two labels */

bool	 dnsbl_listed(const struct wdns_answer *);
size_t	 dnsbl_check(const struct wdns *, const char *, const char *const *,
	    size_t, const char **);
size_t	 dnsbl_check_hosts(const struct wdns *, char *const *, size_t,
	    const char *const *, size_t, const char **);

#endif
