/*
 * fuzz_netaddr.c: libFuzzer target for IP address, network and list
 * parsing.  Whatever parses must format, parse back to the same bytes and
 * match itself; lists either parse whole or leave the list unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* one: invariants for a single parsed network. */
static void
one(const struct netaddr *na)
{
	struct netaddr	 back;
	char		 out[NETADDR_STRLEN];

	if (na->plen > 128)
		abort();
	if (!netaddr_format(out, sizeof(out), na))
		abort();
	if (netaddr_parse(&back, out, strlen(out)) != NETADDR_OK ||
	    memcmp(&back, na, sizeof(back)) != 0)
		abort();
	if (!netaddr_match(na, na))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netaddr_list l;
	struct netaddr	 na;
	char		*s, err[128];
	size_t		 i;

	if (netaddr_parse(&na, (const char *)data, size) == NETADDR_OK)
		one(&na);
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	netaddr_list_init(&l);
	if (netaddr_list_parse(&l, s, err, sizeof(err))) {
		for (i = 0; i < l.n; i++) {
			one(&l.v[i]);
			if (!netaddr_list_match(&l, &l.v[i]))
				abort();
		}
	} else if (l.n != 0 || strlen(err) >= sizeof(err))
		abort();
	netaddr_list_free(&l);
	free(s);
	return 0;
}
