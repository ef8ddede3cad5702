/*
 * dnsbl_ip.h: the parts of an IP blocklist lookup (RFC 5782) that every
 * asker shares: the question name for a client address and what an A
 * answer means.  The scanner (scanner/dnsbl.c, the spam score) and the
 * smtp process (NRS, the reputation check at connect) ask the same way.
 */
#ifndef SEKISHO_DNSBL_IP_H
#define SEKISHO_DNSBL_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNSBL_IP_NAME_MAX	254	/* a question name, without NUL */

bool	 dnsbl_reverse(const char *, char *, size_t);
bool	 dnsbl_ip_qname(const char *, const char *, char *, size_t);
bool	 dnsbl_a_listed(uint32_t);
bool	 dnsbl_a_text_listed(const char *);

#endif
