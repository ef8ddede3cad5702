/*
 * dnsbl.c: DNS blocklist lookups (dnsbl.h).
 *
 * An IP list is asked for the client address with its octets (IPv4) or
 * nibbles (IPv6) reversed under the zone: 192.0.2.99 in zen.example is
 * 99.2.0.192.zen.example (RFC 5782).  A domain list is asked for a URI's
 * host and its parent domains (at most DNSBL_HOST_NAMES names, down to
 * two labels: www.evil.example, evil.example).  What an A answer means
 * is common/dnsbl_ip.c's rule, shared with the smtp process's reputation
 * check; anything else (NXDOMAIN, a failure, a timeout) is "not listed".
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dnsbl.h"
#include "util.h"
#include "xmalloc.h"

#define DNSBL_NAME_MAX	DNSBL_IP_NAME_MAX

/* dnsbl_listed: the answer says "listed" (common/dnsbl_ip.c). */
bool
dnsbl_listed(const struct wdns_answer *a)
{
	size_t	 i;

	if (a->status != DNS_OK)
		return false;
	for (i = 0; i < a->nrr; i++)
		if (dnsbl_a_text_listed(a->rr[i]))
			return true;
	return false;
}

/* dnsbl_host_ok: a host name worth asking a domain list about. */
static bool
dnsbl_host_ok(const char *h)
{
	struct in6_addr	 a6;
	size_t		 n = strlen(h);

	return n > 0 && n < DNSBL_NAME_MAX / 2 && strchr(h, '.') != NULL &&
	    strspn(h, "abcdefghijklmnopqrstuvwxyz0123456789-.") == n &&
	    h[0] != '.' && h[0] != '-' && strstr(h, "..") == NULL &&
	    inet_pton(AF_INET6, h, &a6) != 1 &&
	    strspn(h, "0123456789.") != n;	/* not an IPv4 literal */
}

/*
 * dnsbl_ask: ask every question, record in listed[] (NULL-free, at most
 * nzones) the zones any answer listed; their count.
 */
static size_t
dnsbl_ask(const struct wdns *w, struct wdns_q *qs, const char **qzone,
    size_t nq, const char **listed, size_t nzones)
{
	struct wdns_answer *ans;
	size_t	 i, j, n = 0;

	if (nq == 0)
		return 0;
	ans = xcalloc(nq, sizeof(*ans));
	wdns_query_batch(w, qs, nq, ans);
	for (i = 0; i < nq; i++) {
		if (dnsbl_listed(&ans[i])) {
			for (j = 0; j < n && listed[j] != qzone[i]; j++)
				;
			if (j == n && n < nzones)
				listed[n++] = qzone[i];
		}
		wdns_answer_free(&ans[i]);
	}
	free(ans);
	return n;
}

/* dnsbl_add: one question name under a zone (false: it does not fit). */
static bool
dnsbl_add(struct wdns_q *qs, char **names, const char **qzone, size_t *nq,
    const char *label, const char *zone)
{
	char	 name[DNSBL_NAME_MAX + 2];
	size_t	 i;

	if (!str_printf(name, sizeof(name), "%s.%s", label, zone))
		return false;
	for (i = 0; i < *nq; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	names[*nq] = xstrdup(name);
	qs[*nq].type = DNS_A;
	qs[*nq].name = names[*nq];
	qzone[*nq] = zone;
	(*nq)++;
	return true;
}

/*
 * dnsbl_check: the zones (of zones[0..nzones)) that list the address ip,
 * in listed[] (at most nzones entries, pointers into zones); their count.
 * 0 for anything that is not an address literal.
 */
size_t
dnsbl_check(const struct wdns *w, const char *ip, const char *const *zones,
    size_t nzones, const char **listed)
{
	struct wdns_q	 qs[DNSBL_MAX_ZONES];
	char		*names[DNSBL_MAX_ZONES], rev[80];
	const char	*qzone[DNSBL_MAX_ZONES];
	size_t		 i, nq = 0, n;

	if (ip == NULL || !dnsbl_reverse(ip, rev, sizeof(rev)))
		return 0;
	for (i = 0; i < nzones && i < DNSBL_MAX_ZONES; i++)
		(void)dnsbl_add(qs, names, qzone, &nq, rev, zones[i]);
	n = dnsbl_ask(w, qs, qzone, nq, listed, nzones);
	for (i = 0; i < nq; i++)
		free(names[i]);
	return n;
}

/*
 * dnsbl_check_hosts: the zones that list one of the hosts (lower case,
 * as spam_uri_host gives them; the first DNSBL_MAX_HOSTS usable ones) or
 * a parent domain of one, in listed[]; their count.
 */
size_t
dnsbl_check_hosts(const struct wdns *w, char *const *hosts, size_t nhosts,
    const char *const *zones, size_t nzones, const char **listed)
{
	struct wdns_q	*qs;
	const char	**qzone, *h;
	char		**names;
	size_t		 i, z, k, nq = 0, used = 0, max, n;

	if (nzones > DNSBL_MAX_ZONES)
		nzones = DNSBL_MAX_ZONES;
	max = DNSBL_MAX_HOSTS * DNSBL_HOST_NAMES * nzones + 1;
	qs = xcalloc(max, sizeof(*qs));
	qzone = xcalloc(max, sizeof(*qzone));
	names = xcalloc(max, sizeof(*names));
	for (i = 0; i < nhosts && used < DNSBL_MAX_HOSTS; i++) {
		if (!dnsbl_host_ok(hosts[i]))
			continue;
		used++;
		/* The host, then its parents while two labels remain. */
		for (h = hosts[i], k = 0; h != NULL &&
		    k < DNSBL_HOST_NAMES && strchr(h, '.') != NULL; k++) {
			for (z = 0; z < nzones; z++)
				(void)dnsbl_add(qs, names, qzone, &nq, h,
				    zones[z]);
			h = strchr(h, '.') + 1;
		}
	}
	n = dnsbl_ask(w, qs, qzone, nq, listed, nzones);
	for (i = 0; i < nq; i++)
		free(names[i]);
	free(names);
	free(qzone);
	free(qs);
	return n;
}
