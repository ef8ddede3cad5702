/*
 * test_dnsbl.c: DNS blocklist names and answers (scanner/dnsbl.c, and
 * common/dnsbl_ip.c shared with the smtp process's NRS check) and the
 * scanner parent's answer cache (scanner/dcache.c), over an in-memory
 * resolver.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcache.h"
#include "dnsbl.h"
#include "test.h"
#include "util.h"

/* The zone: name -> one A record; everything else NXDOMAIN. */
static const struct {
	const char	*name;
	const char	*a;
} zone[] = {
	{ "2.0.0.127.bl.test", "127.0.0.2" },
	{ "99.2.0.192.bl.test", "127.0.0.4" },
	{ "99.2.0.192.refused.test", "127.0.0.1" },
	{ "99.2.0.192.err.test", "127.255.255.254" },
	{ "99.2.0.192.odd.test", "192.0.2.1" },
	{ "evil.example.uribl.test", "127.0.0.2" },
	{ "x.y.deep.example.uribl.test", "127.0.0.2" },
	{ "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
	  "bl.test", "127.0.0.2" },
};

static char	 asked[64][300];
static size_t	 nasked;

static void
fake(void *arg, enum dns_type type, const char *name, struct wdns_answer *a)
{
	size_t	 i;

	(void)arg;
	if (nasked < 64)
		str_lcpy(asked[nasked++], name, sizeof(asked[0]));
	a->status = DNS_NXDOMAIN;
	if (type != DNS_A)
		return;
	for (i = 0; i < nitems(zone); i++)
		if (strcmp(zone[i].name, name) == 0) {
			a->status = DNS_OK;
			wdns_answer_add(a, zone[i].a);
		}
}

static bool
was_asked(const char *name)
{
	size_t	 i;

	for (i = 0; i < nasked; i++)
		if (strcmp(asked[i], name) == 0)
			return true;
	return false;
}

static void
t_reverse(void)
{
	char	 out[80];

	CHECK(dnsbl_reverse("192.0.2.99", out, sizeof(out)));
	CHECK_STREQ(out, "99.2.0.192");
	CHECK(dnsbl_reverse("2001:db8::1", out, sizeof(out)));
	CHECK_STREQ(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "8.b.d.0.1.0.0.2");
	CHECK(!dnsbl_reverse("192.0.2", out, sizeof(out)));
	CHECK(!dnsbl_reverse("example.org", out, sizeof(out)));
	CHECK(!dnsbl_reverse("2001:db8::1", out, 20));
	/* An IPv4-mapped address is asked as IPv4. */
	CHECK(dnsbl_reverse("::ffff:192.0.2.99", out, sizeof(out)));
	CHECK_STREQ(out, "99.2.0.192");
}

/* The shared parts (common/dnsbl_ip.c): question names, "listed". */
static void
t_ip_names_and_answers(void)
{
	char	 out[300], longzone[260];

	CHECK(dnsbl_ip_qname("127.0.0.25", "nrs.test", out, sizeof(out)));
	CHECK_STREQ(out, "25.0.0.127.nrs.test");
	CHECK(dnsbl_ip_qname("2001:db8::1", "bl.test", out, sizeof(out)));
	CHECK_STREQ(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "8.b.d.0.1.0.0.2.bl.test");
	CHECK(!dnsbl_ip_qname("not-an-ip", "bl.test", out, sizeof(out)));
	CHECK(!dnsbl_ip_qname("192.0.2.1", "", out, sizeof(out)));
	CHECK(!dnsbl_ip_qname("192.0.2.1", "bl.test", out, 10));
	/* No name longer than DNS allows, whatever the buffer. */
	memset(longzone, 'a', sizeof(longzone) - 1);
	longzone[sizeof(longzone) - 1] = '\0';
	longzone[240] = '\0';
	CHECK(!dnsbl_ip_qname("2001:db8::1", longzone, out, sizeof(out)));
	CHECK(dnsbl_a_listed(0x7f000002));
	CHECK(dnsbl_a_listed(0x7f00000a));
	CHECK(dnsbl_a_listed(0x7ffffe01));
	CHECK(!dnsbl_a_listed(0x7f000001));	/* query refused */
	CHECK(!dnsbl_a_listed(0x7fffff00));	/* Spamhaus errors */
	CHECK(!dnsbl_a_listed(0x7fffffff));
	CHECK(!dnsbl_a_listed(0xc0000201));	/* not in 127/8 */
	CHECK(dnsbl_a_text_listed("127.0.0.2"));
	CHECK(!dnsbl_a_text_listed("127.255.255.254"));
	CHECK(!dnsbl_a_text_listed("bogus"));
}

static void
t_ip_lists(void)
{
	struct wdns	 w = { fake, NULL, NULL };
	const char	*zones[] = { "bl.test", "refused.test", "err.test",
	    "odd.test", "none.test" };
	const char	*listed[8];
	size_t		 n;

	nasked = 0;
	n = dnsbl_check(&w, "192.0.2.99", zones, nitems(zones), listed);
	/* 127.0.0.1 (refused) and 127.255.255.x (errors) are no listing. */
	CHECK(n == 1 && strcmp(listed[0], "bl.test") == 0);
	CHECK(nasked == nitems(zones) && was_asked("99.2.0.192.none.test"));
	n = dnsbl_check(&w, "2001:db8::1", zones, 1, listed);
	CHECK(n == 1);
	CHECK(dnsbl_check(&w, "not-an-ip", zones, 1, listed) == 0);
	CHECK(dnsbl_check(&w, NULL, zones, 1, listed) == 0);
	CHECK(dnsbl_check(&w, "198.51.100.1", zones, 1, listed) == 0);
}

static void
t_host_lists(void)
{
	struct wdns	 w = { fake, NULL, NULL };
	const char	*zones[] = { "uribl.test", "other.test" };
	const char	*listed[4];
	char		*hosts[] = { "www.evil.example", "good.example",
	    "192.0.2.1", "a.b.x.y.deep.example", "localhost", "-bad.example",
	    "bad..example" };
	size_t		 n;

	nasked = 0;
	n = dnsbl_check_hosts(&w, hosts, nitems(hosts), zones, 2, listed);
	CHECK(n == 1 && strcmp(listed[0], "uribl.test") == 0);
	/* The host and its parents, at most three names, two labels. */
	CHECK(was_asked("www.evil.example.uribl.test"));
	CHECK(was_asked("evil.example.uribl.test"));
	CHECK(!was_asked("example.uribl.test"));
	CHECK(was_asked("a.b.x.y.deep.example.other.test"));
	CHECK(was_asked("x.y.deep.example.uribl.test"));
	CHECK(!was_asked("y.deep.example.uribl.test"));
	/* No addresses, no single labels, nothing malformed. */
	CHECK(!was_asked("192.0.2.1.uribl.test"));
	CHECK(!was_asked("localhost.uribl.test"));
	CHECK(!was_asked("-bad.example.uribl.test"));
	CHECK(!was_asked("bad..example.uribl.test"));
	/* Without a resolver nothing is listed. */
	CHECK(dnsbl_check_hosts(NULL, hosts, 1, zones, 1, listed) == 0);
}

static void
t_cache(void)
{
	struct dcache	*c = dcache_new(2);
	struct wdns_answer a, b;

	memset(&a, 0, sizeof(a));
	a.status = DNS_OK;
	wdns_answer_add(&a, "v=spf1 -all");
	dcache_put(c, DNS_TXT, "Example.ORG", &a, 100);
	CHECK(dcache_get(c, DNS_TXT, "example.org", 50, &b));
	CHECK(b.status == DNS_OK && b.nrr == 1 &&
	    strcmp(b.rr[0], "v=spf1 -all") == 0);
	wdns_answer_free(&b);
	CHECK(!dcache_get(c, DNS_A, "example.org", 50, &b));
	/* Expired: gone. */
	CHECK(!dcache_get(c, DNS_TXT, "example.org", 100, &b));
	CHECK(dcache_count(c) == 0);
	/* At most two entries: the least recently used goes. */
	dcache_put(c, DNS_A, "one.test", &a, 100);
	dcache_put(c, DNS_A, "two.test", &a, 100);
	CHECK(dcache_get(c, DNS_A, "one.test", 1, &b));
	wdns_answer_free(&b);
	dcache_put(c, DNS_A, "three.test", &a, 100);
	CHECK(dcache_count(c) == 2);
	CHECK(!dcache_get(c, DNS_A, "two.test", 1, &b));
	CHECK(dcache_get(c, DNS_A, "one.test", 1, &b));
	wdns_answer_free(&b);
	/* A replacement, not a second entry. */
	a.status = DNS_NXDOMAIN;
	dcache_put(c, DNS_A, "ONE.test", &a, 100);
	CHECK(dcache_count(c) == 2);
	CHECK(dcache_get(c, DNS_A, "one.test", 1, &b) &&
	    b.status == DNS_NXDOMAIN);
	wdns_answer_free(&b);
	wdns_answer_free(&a);
	dcache_free(c);
}

TEST_MAIN(t_ip_names_and_answers, t_reverse, t_ip_lists, t_host_lists,
    t_cache)
