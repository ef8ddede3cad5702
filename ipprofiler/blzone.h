/*
 * blzone.h: a block list served as a DNSBL zone (RFC 5782), the answering
 * core of sekisho-ipprofiler's DNS responder.
 *
 * The zone holds blocked addresses and networks (IPv4 and IPv6) with a
 * reason each.  A query for the reversed address under the zone name
 * (2.0.2.192.bl.example for 192.0.2.2; 32 nibbles for IPv6) is answered
 * A 127.0.0.2 and TXT "reason" when listed, NXDOMAIN when not; the test
 * entry 127.0.0.2 (RFC 5782 section 5) is always listed.  Every packet is
 * hostile: ldns parses it; a packet that is not a query gets no answer,
 * a malformed query FORMERR, a name outside the zone REFUSED.  Lookups
 * are a binary search over the addresses plus a scan of the networks.
 */
#ifndef SEKISHO_BLZONE_H
#define SEKISHO_BLZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

#define BLZONE_TTL		300	/* seconds, of every answer */
#define BLZONE_REASON_MAX	200	/* bytes of a TXT reason */
#define BLZONE_UDP_MAX		512	/* answer bytes without EDNS */

struct blzone;

struct blzone	*blzone_new(const char *);
void		 blzone_free(struct blzone *);
bool		 blzone_add(struct blzone *, const struct netaddr *,
		    const char *);
const char	*blzone_lookup(struct blzone *, const struct netaddr *);
size_t		 blzone_count(const struct blzone *);
size_t		 blzone_answer(struct blzone *, const uint8_t *, size_t,
		    uint8_t *, size_t);

#endif
