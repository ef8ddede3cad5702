/*
 * netaddr.c: parsing, matching and printing of IP addresses and networks.
 *
 * Accepted spellings: "192.0.2.1", "192.0.2.0/24", "2001:db8::1",
 * "2001:db8::/32", and the bracketed IPv6 form Postfix uses in mynetworks
 * ("[2001:db8::]/32").  IPv4 is strict dotted quad (inet_pton: no octal,
 * no short forms); no zone ids; the prefix is plain decimal without
 * leading zeros.  See netaddr.h for the 128-bit form and host bits.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"
#include "util.h"
#include "xmalloc.h"

static const uint8_t netaddr_v4pfx[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static const char *netaddr_errstr[NETADDR_E_MAX] = {
	[NETADDR_OK] = "ok",
	[NETADDR_E_EMPTY] = "empty address",
	[NETADDR_E_SYNTAX] = "not an IPv4 or IPv6 address",
	[NETADDR_E_PREFIX] = "bad prefix length",
	[NETADDR_E_HOSTBITS] = "host bits set after the prefix",
};

/* netaddr_strerror: short text for an error. */
const char *
netaddr_strerror(enum netaddr_err e)
{
	if ((unsigned)e >= NETADDR_E_MAX)
		return "invalid address";
	return netaddr_errstr[e];
}

/* netaddr_is_v4: whether the address or network lies in ::ffff:0:0/96. */
bool
netaddr_is_v4(const struct netaddr *n)
{
	return n->plen >= 96 && memcmp(n->a, netaddr_v4pfx, 12) == 0;
}

/* prefix_match: whether the first plen bits of a and b are equal. */
static bool
prefix_match(const uint8_t *a, const uint8_t *b, unsigned plen)
{
	unsigned	 full = plen / 8, rest = plen % 8;
	uint8_t		 mask;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return ((a[full] ^ b[full]) & mask) == 0;
}

/* mask_net: dst = src with every bit after the prefix cleared. */
static void
mask_net(struct netaddr *dst, const struct netaddr *src)
{
	unsigned	 plen = src->plen > 128 ? 128 : src->plen;

	memset(dst, 0, sizeof(*dst));
	memcpy(dst->a, src->a, plen / 8);
	if (plen % 8)
		dst->a[plen / 8] = src->a[plen / 8] &
		    (uint8_t)(0xff << (8 - plen % 8));
	dst->plen = plen;
}

/* host_bits: whether any bit after the prefix is set. */
static bool
host_bits(const struct netaddr *n)
{
	struct netaddr	 m;

	mask_net(&m, n);
	return memcmp(m.a, n->a, sizeof(m.a)) != 0;
}

/* parse_plen: a decimal prefix length in 0..max, no sign, no leading 0. */
static bool
parse_plen(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned	 v = 0;
	size_t		 i;

	if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* parse_host: the address part, IPv4 or IPv6 (optionally "[...]"). */
static enum netaddr_err
parse_host(struct netaddr *na, const char *s, size_t n, bool *v4)
{
	char	 txt[INET6_ADDRSTRLEN + 1];

	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
		if (memchr(s, ':', n) == NULL)
			return NETADDR_E_SYNTAX;	/* "[192.0.2.1]" */
	}
	if (n == 0 || n >= sizeof(txt) || memchr(s, '\0', n) != NULL)
		return NETADDR_E_SYNTAX;
	memcpy(txt, s, n);
	txt[n] = '\0';
	memset(na, 0, sizeof(*na));
	if (inet_pton(AF_INET, txt, na->a + 12) == 1) {
		memcpy(na->a, netaddr_v4pfx, 12);
		*v4 = true;
		return NETADDR_OK;
	}
	*v4 = false;
	if (inet_pton(AF_INET6, txt, na->a) == 1)
		return NETADDR_OK;
	return NETADDR_E_SYNTAX;
}

/*
 * netaddr_parse: an address or CIDR network from n bytes of s.  A bare
 * address is a /32 or /128.  IPv4-mapped IPv6 becomes IPv4.
 */
enum netaddr_err
netaddr_parse(struct netaddr *na, const char *s, size_t n)
{
	const char	*slash;
	enum netaddr_err e;
	unsigned	 plen, max;
	size_t		 hn;
	bool		 v4;

	memset(na, 0, sizeof(*na));
	if (n == 0)
		return NETADDR_E_EMPTY;
	slash = memchr(s, '/', n);
	hn = slash != NULL ? (size_t)(slash - s) : n;
	if ((e = parse_host(na, s, hn, &v4)) != NETADDR_OK)
		return e;
	max = v4 ? 32 : 128;
	plen = max;
	if (slash != NULL && !parse_plen(slash + 1, n - hn - 1, max, &plen)) {
		memset(na, 0, sizeof(*na));
		return NETADDR_E_PREFIX;
	}
	na->plen = v4 ? plen + 96 : plen;
	if (host_bits(na))
		return NETADDR_E_HOSTBITS;	/* *na holds what was given */
	return NETADDR_OK;
}

/* netaddr_from_sockaddr: the peer address of a socket (AF_INET/AF_INET6). */
bool
netaddr_from_sockaddr(struct netaddr *na, const struct sockaddr *sa,
    socklen_t len)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	memset(na, 0, sizeof(*na));
	if (sa == NULL || len < (socklen_t)sizeof(sa->sa_family))
		return false;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(*sin)) {
		sin = (const struct sockaddr_in *)sa;
		memcpy(na->a, netaddr_v4pfx, 12);
		memcpy(na->a + 12, &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6 &&
	    len >= (socklen_t)sizeof(*sin6)) {
		sin6 = (const struct sockaddr_in6 *)sa;
		memcpy(na->a, &sin6->sin6_addr, 16);
	} else
		return false;
	na->plen = 128;
	return true;
}

/* netaddr_match: whether addr lies inside net (addr's own prefix ignored). */
bool
netaddr_match(const struct netaddr *net, const struct netaddr *addr)
{
	if (net->plen > 128)
		return false;
	return prefix_match(net->a, addr->a, net->plen);
}

/*
 * netaddr_format: "192.0.2.1", "2001:db8::/32", "192.0.2.0/24"; the
 * prefix is left out for a single address.  False if dst is too small.
 */
bool
netaddr_format(char *dst, size_t size, const struct netaddr *na)
{
	char		 txt[INET6_ADDRSTRLEN];
	bool		 v4 = netaddr_is_v4(na);
	unsigned	 plen = v4 ? na->plen - 96u : na->plen;

	if (size > 0)
		dst[0] = '\0';
	if (na->plen > 128 || inet_ntop(v4 ? AF_INET : AF_INET6,
	    v4 ? na->a + 12 : na->a, txt, sizeof(txt)) == NULL)
		return false;
	if (na->plen == 128)
		return str_printf(dst, size, "%s", txt);
	return str_printf(dst, size, "%s/%u", txt, plen);
}

/* netaddr_list_init: an empty list. */
void
netaddr_list_init(struct netaddr_list *l)
{
	memset(l, 0, sizeof(*l));
}

/* netaddr_list_free: release the entries; the list is empty again. */
void
netaddr_list_free(struct netaddr_list *l)
{
	free(l->v);
	netaddr_list_init(l);
}

/* netaddr_list_add: append one entry; false when the list is full. */
bool
netaddr_list_add(struct netaddr_list *l, const struct netaddr *na)
{
	if (l->n >= NETADDR_LIST_MAX)
		return false;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = *na;
	return true;
}

/* list_error: "'tok': reason" for the caller to prefix with file:line. */
static void
list_error(char *err, size_t errsz, const char *tok, size_t n,
    enum netaddr_err e, const struct netaddr *na)
{
	struct netaddr	 fix;
	char		 want[NETADDR_STRLEN];
	int		 shown = n > 80 ? 80 : (int)n;

	if (err == NULL || errsz == 0)
		return;
	if (e == NETADDR_E_HOSTBITS) {
		mask_net(&fix, na);
		if (netaddr_format(want, sizeof(want), &fix)) {
			(void)snprintf(err, errsz, "\"%.*s%s\": %s (network is "
			    "%s)", shown, tok, n > 80 ? "..." : "",
			    netaddr_strerror(e), want);
			return;
		}
	}
	(void)snprintf(err, errsz, "\"%.*s%s\": %s", shown, tok,
	    n > 80 ? "..." : "", netaddr_strerror(e));
}

/* is_sep: list separators: comma and white space. */
static bool
is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * netaddr_list_parse: append every entry of a comma/space separated
 * string to l.  On error l is unchanged and err holds text such as
 * "\"192.0.2.1/33\": bad prefix length" for a "file:line: " prefix.
 */
bool
netaddr_list_parse(struct netaddr_list *l, const char *s, char *err,
    size_t errsz)
{
	struct netaddr	 na;
	enum netaddr_err e;
	const char	*tok;
	size_t		 n, start = l->n;

	for (;;) {
		while (is_sep(*s))
			s++;
		if (*s == '\0')
			return true;
		for (tok = s; *s != '\0' && !is_sep(*s); s++)
			;
		n = s - tok;
		if ((e = netaddr_parse(&na, tok, n)) != NETADDR_OK) {
			list_error(err, errsz, tok, n, e, &na);
			l->n = start;
			return false;
		}
		if (!netaddr_list_add(l, &na)) {
			if (err != NULL && errsz > 0)
				(void)snprintf(err, errsz, "more than %d "
				    "entries", NETADDR_LIST_MAX);
			l->n = start;
			return false;
		}
	}
}

/* netaddr_list_match: whether addr lies inside any network of the list. */
bool
netaddr_list_match(const struct netaddr_list *l, const struct netaddr *addr)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		if (netaddr_match(&l->v[i], addr))
			return true;
	return false;
}
