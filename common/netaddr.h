/*
 * netaddr.h: IPv4/IPv6 addresses and CIDR networks.
 *
 * Used for relay-network lists, IP profiler lists and client addresses.
 * Every address is held in one 128-bit form: IPv4 as the IPv4-mapped IPv6
 * address ::ffff:a.b.c.d with its prefix length counted in IPv6 bits, so
 * a client seen as ::ffff:192.0.2.1 on a dual-stack socket matches
 * 192.0.2.0/24 with no special case, and formatting prints it as IPv4.
 * The flip side, by the same arithmetic: "::/0" matches IPv4 clients too.
 *
 * Networks must be written with their host bits clear: "192.0.2.1/24" is
 * an error (it is usually a typo for /32 or for 192.0.2.0/24, and in an
 * access list the difference matters); the error text names the network
 * that was probably meant.
 */
#ifndef SEKISHO_NETADDR_H
#define SEKISHO_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128" + NUL. */
#define NETADDR_STRLEN	64
#define NETADDR_LIST_MAX (1 << 20)	/* entries in one list */

/* An address (plen 128) or a network; v4 is ::ffff:0:0/96 inside. */
struct netaddr {
	uint8_t		a[16];		/* network byte order */
	uint8_t		plen;		/* 0..128, in IPv6 bits */
};

enum netaddr_err {
	NETADDR_OK = 0,
	NETADDR_E_EMPTY,	/* nothing to parse */
	NETADDR_E_SYNTAX,	/* not an IPv4 or IPv6 address */
	NETADDR_E_PREFIX,	/* prefix length not a number in range */
	NETADDR_E_HOSTBITS,	/* bits set after the prefix */
	NETADDR_E_MAX
};

struct netaddr_list {
	struct netaddr	*v;
	size_t		 n;
	size_t		 cap;
};

enum netaddr_err netaddr_parse(struct netaddr *, const char *, size_t);
const char	*netaddr_strerror(enum netaddr_err);
bool		 netaddr_from_sockaddr(struct netaddr *,
		    const struct sockaddr *, socklen_t);
bool		 netaddr_is_v4(const struct netaddr *);
bool		 netaddr_match(const struct netaddr *, const struct netaddr *);
bool		 netaddr_format(char *, size_t, const struct netaddr *);

void		 netaddr_list_init(struct netaddr_list *);
void		 netaddr_list_free(struct netaddr_list *);
bool		 netaddr_list_add(struct netaddr_list *,
		    const struct netaddr *);
bool		 netaddr_list_parse(struct netaddr_list *, const char *, char *,
		    size_t);
bool		 netaddr_list_match(const struct netaddr_list *,
		    const struct netaddr *);

#endif
