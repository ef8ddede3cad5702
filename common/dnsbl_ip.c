/*
 * dnsbl_ip.c: question names and answers of IP blocklists (dnsbl_ip.h).
 *
 * An IP list is asked for the client address with its octets (IPv4) or
 * nibbles (IPv6) reversed under the zone: 192.0.2.99 in zen.example is
 * 99.2.0.192.zen.example (RFC 5782).  An A answer in 127/8 means listed,
 * except 127.0.0.1 (URIBL's "query refused") and 127.255.255.0/24
 * (Spamhaus's error codes, e.g. for queries through a public resolver):
 * a list that refuses to answer must not list everybody.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <string.h>

#include "dnsbl_ip.h"
#include "util.h"

/*
 * dnsbl_reverse: the reversed form of an IPv4 or IPv6 address literal
 * ("99.2.0.192", or 32 nibbles for IPv6); false when ip is not one.
 */
bool
dnsbl_reverse(const char *ip, char *out, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	struct in_addr	 a4;
	struct in6_addr	 a6;
	const uint8_t	*b;
	size_t		 i, o = 0;

	if (inet_pton(AF_INET, ip, &a4) == 1) {
		b = (const uint8_t *)&a4;
		return str_printf(out, len, "%u.%u.%u.%u", b[3], b[2], b[1],
		    b[0]);
	}
	if (inet_pton(AF_INET6, ip, &a6) != 1 || len < 64)
		return false;
	/* An IPv4-mapped client is asked as IPv4. */
	if (IN6_IS_ADDR_V4MAPPED(&a6)) {
		b = a6.s6_addr + 12;
		return str_printf(out, len, "%u.%u.%u.%u", b[3], b[2], b[1],
		    b[0]);
	}
	b = a6.s6_addr;
	for (i = 16; i > 0; i--) {
		out[o++] = hex[b[i - 1] & 0xf];
		out[o++] = '.';
		out[o++] = hex[b[i - 1] >> 4];
		out[o++] = i > 1 ? '.' : '\0';
	}
	return true;
}

/*
 * dnsbl_ip_qname: the question for address ip in zone ("99.2.0.192.
 * zen.example"); false when ip is no address or the name is too long.
 */
bool
dnsbl_ip_qname(const char *ip, const char *zone, char *out, size_t len)
{
	char	 rev[80];

	if (!dnsbl_reverse(ip, rev, sizeof(rev)) || zone[0] == '\0')
		return false;
	if (len > DNSBL_IP_NAME_MAX + 1)
		len = DNSBL_IP_NAME_MAX + 1;
	return str_printf(out, len, "%s.%s", rev, zone);
}

/* dnsbl_a_listed: an A record (host byte order) that means "listed". */
bool
dnsbl_a_listed(uint32_t v)
{
	return (v >> 24) == 127 && v != 0x7f000001 &&
	    (v & 0xffffff00) != 0x7fffff00;
}

/* dnsbl_a_text_listed: the same for an A record as text. */
bool
dnsbl_a_text_listed(const char *a)
{
	struct in_addr	 in;

	return inet_pton(AF_INET, a, &in) == 1 &&
	    dnsbl_a_listed(ntohl(in.s_addr));
}
