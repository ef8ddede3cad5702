/*
 * test_netaddr.c: IP addresses and CIDR networks (common/netaddr.c):
 * parsing, host bits, prefix edges, IPv4-mapped IPv6, sockaddr input,
 * matching, formatting and lists with their error texts.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "netaddr.h"
#include "test.h"
#include "util.h"

/* Parse table: input, expected error, canonical format when ok. */
static void
t_parse(void)
{
	static const struct {
		const char		*in;
		enum netaddr_err	 err;
		const char		*fmt;
		int			 v4;
	} c[] = {
		{ "192.0.2.1", NETADDR_OK, "192.0.2.1", 1 },
		{ "192.0.2.1/32", NETADDR_OK, "192.0.2.1", 1 },
		{ "192.0.2.0/24", NETADDR_OK, "192.0.2.0/24", 1 },
		{ "0.0.0.0/0", NETADDR_OK, "0.0.0.0/0", 1 },
		{ "10.0.0.0/8", NETADDR_OK, "10.0.0.0/8", 1 },
		{ "192.0.2.128/25", NETADDR_OK, "192.0.2.128/25", 1 },
		{ "192.0.2.1/24", NETADDR_E_HOSTBITS, NULL, 0 },
		{ "192.0.2.1/0", NETADDR_E_HOSTBITS, NULL, 0 },
		{ "192.0.2.0/33", NETADDR_E_PREFIX, NULL, 0 },
		{ "192.0.2.0/", NETADDR_E_PREFIX, NULL, 0 },
		{ "192.0.2.0/024", NETADDR_E_PREFIX, NULL, 0 },
		{ "192.0.2.0/+24", NETADDR_E_PREFIX, NULL, 0 },
		{ "192.0.2.0/-1", NETADDR_E_PREFIX, NULL, 0 },
		{ "192.0.2.0/24x", NETADDR_E_PREFIX, NULL, 0 },
		{ "192.0.2.0/24/24", NETADDR_E_PREFIX, NULL, 0 },
		{ "192.0.2.0/4294967320", NETADDR_E_PREFIX, NULL, 0 },
		{ "192.0.2", NETADDR_E_SYNTAX, NULL, 0 },
		{ "192.0.2.256", NETADDR_E_SYNTAX, NULL, 0 },
		{ "192.0.2.01", NETADDR_E_SYNTAX, NULL, 0 },
		{ "0x7f.0.0.1", NETADDR_E_SYNTAX, NULL, 0 },
		{ "127.1", NETADDR_E_SYNTAX, NULL, 0 },
		{ " 192.0.2.1", NETADDR_E_SYNTAX, NULL, 0 },
		{ "[192.0.2.1]", NETADDR_E_SYNTAX, NULL, 0 },
		{ "", NETADDR_E_EMPTY, NULL, 0 },
		{ "/24", NETADDR_E_SYNTAX, NULL, 0 },
		{ "example.com", NETADDR_E_SYNTAX, NULL, 0 },
		{ "2001:db8::1", NETADDR_OK, "2001:db8::1", 0 },
		{ "2001:DB8:0:0::1/128", NETADDR_OK, "2001:db8::1", 0 },
		{ "2001:db8::/32", NETADDR_OK, "2001:db8::/32", 0 },
		{ "[2001:db8::]/32", NETADDR_OK, "2001:db8::/32", 0 },
		{ "[2001:db8::1]", NETADDR_OK, "2001:db8::1", 0 },
		{ "[2001:db8::/32]", NETADDR_E_SYNTAX, NULL, 0 },
		{ "::/0", NETADDR_OK, "::/0", 0 },
		{ "::1", NETADDR_OK, "::1", 0 },
		{ "::", NETADDR_OK, "::", 0 },
		{ "2001:db8::1/32", NETADDR_E_HOSTBITS, NULL, 0 },
		{ "2001:db8::/129", NETADDR_E_PREFIX, NULL, 0 },
		{ "2001:db8::/1280", NETADDR_E_PREFIX, NULL, 0 },
		{ "2001:db8:::1", NETADDR_E_SYNTAX, NULL, 0 },
		{ "fe80::1%eth0", NETADDR_E_SYNTAX, NULL, 0 },
		{ "2001:db8::g", NETADDR_E_SYNTAX, NULL, 0 },
		{ "::ffff:192.0.2.1", NETADDR_OK, "192.0.2.1", 1 },
		{ "::ffff:192.0.2.0/120", NETADDR_OK, "192.0.2.0/24", 1 },
		{ "::ffff:0:0/96", NETADDR_OK, "0.0.0.0/0", 1 },
		{ "::ffff:c000:201", NETADDR_OK, "192.0.2.1", 1 },
		{ "::ffff:192.0.2.1/120", NETADDR_E_HOSTBITS, NULL, 0 },
		{ "::192.0.2.1", NETADDR_OK, "::192.0.2.1", 0 },
	};
	struct netaddr	 na;
	enum netaddr_err e;
	char		 out[NETADDR_STRLEN];
	size_t		 i;

	for (i = 0; i < nitems(c); i++) {
		e = netaddr_parse(&na, c[i].in, strlen(c[i].in));
		CHECKF(e == c[i].err, "\"%s\": %s", c[i].in,
		    netaddr_strerror(e));
		if (e != NETADDR_OK || c[i].err != NETADDR_OK)
			continue;
		CHECKF(netaddr_format(out, sizeof(out), &na) &&
		    strcmp(out, c[i].fmt) == 0, "\"%s\": \"%s\"", c[i].in, out);
		CHECKF(netaddr_is_v4(&na) == (c[i].v4 != 0), "\"%s\"", c[i].in);
		/* The formatted form parses back to the same network. */
		{
			struct netaddr back;

			CHECKF(netaddr_parse(&back, out, strlen(out)) ==
			    NETADDR_OK && memcmp(&back, &na, sizeof(na)) == 0,
			    "\"%s\"", out);
		}
	}
	/* Embedded NUL with an explicit length. */
	CHECK_INTEQ(netaddr_parse(&na, "192.0.2.1\0/8", 12), NETADDR_E_SYNTAX);
	CHECK_INTEQ(netaddr_parse(&na, "192.0.2.0/2\0", 12), NETADDR_E_PREFIX);
	CHECK_STREQ(netaddr_strerror(NETADDR_E_MAX), "invalid address");
}

/* p: parse or fail the test. */
static struct netaddr
p(const char *s)
{
	struct netaddr	 na;

	CHECKF(netaddr_parse(&na, s, strlen(s)) == NETADDR_OK, "%s", s);
	return na;
}

/* Matching, including the prefix edges and IPv4-mapped addresses. */
static void
t_match(void)
{
	static const struct {
		const char	*net, *addr;
		bool		 match;
	} c[] = {
		{ "192.0.2.0/24", "192.0.2.1", true },
		{ "192.0.2.0/24", "192.0.2.255", true },
		{ "192.0.2.0/24", "192.0.3.0", false },
		{ "192.0.2.0/24", "::ffff:192.0.2.7", true },
		{ "192.0.2.0/24", "::ffff:192.0.3.7", false },
		{ "192.0.2.0/24", "::192.0.2.7", false },
		{ "192.0.2.0/24", "2001:db8::1", false },
		{ "192.0.2.1", "192.0.2.1", true },
		{ "192.0.2.1/32", "192.0.2.2", false },
		{ "192.0.2.128/25", "192.0.2.127", false },
		{ "192.0.2.128/25", "192.0.2.128", true },
		{ "0.0.0.0/0", "203.0.113.9", true },
		{ "0.0.0.0/0", "::ffff:203.0.113.9", true },
		{ "0.0.0.0/0", "2001:db8::1", false },
		{ "128.0.0.0/1", "127.255.255.255", false },
		{ "128.0.0.0/1", "128.0.0.0", true },
		{ "2001:db8::/32", "2001:db8:ffff::1", true },
		{ "2001:db8::/32", "2001:db9::1", false },
		{ "2001:db8::1/128", "2001:db8::1", true },
		{ "2001:db8::1/128", "2001:db8::2", false },
		{ "2001:db8::/127", "2001:db8::1", true },
		{ "2001:db8::/127", "2001:db8::2", false },
		{ "::/0", "2001:db8::1", true },
		{ "::/0", "192.0.2.1", true },	/* documented: 128-bit form */
		{ "::ffff:192.0.2.0/120", "192.0.2.200", true },
		{ "::1", "127.0.0.1", false },
	};
	struct netaddr	 net, addr;
	size_t		 i;

	for (i = 0; i < nitems(c); i++) {
		net = p(c[i].net);
		addr = p(c[i].addr);
		CHECKF(netaddr_match(&net, &addr) == c[i].match, "%s in %s",
		    c[i].addr, c[i].net);
	}
	/* A network's own prefix does not matter on the address side. */
	net = p("192.0.2.0/24");
	addr = p("192.0.0.0/16");
	CHECK(!netaddr_match(&net, &addr));
	CHECK(netaddr_match(&addr, &net));
	/* A corrupt prefix length never matches. */
	net.plen = 200;
	CHECK(!netaddr_match(&net, &addr));
	{
		char	 out[NETADDR_STRLEN];

		CHECK(!netaddr_format(out, sizeof(out), &net));
		CHECK_STREQ(out, "");
	}
}

/* netaddr_from_sockaddr: v4, v6, mapped v6, wrong family and length. */
static void
t_sockaddr(void)
{
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
	struct sockaddr		 sa;
	struct netaddr		 na, net;
	char			 out[NETADDR_STRLEN];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.9", &sin.sin_addr);
	CHECK(netaddr_from_sockaddr(&na, (struct sockaddr *)&sin, sizeof(sin)));
	CHECK(netaddr_format(out, sizeof(out), &na));
	CHECK_STREQ(out, "192.0.2.9");
	net = p("192.0.2.0/24");
	CHECK(netaddr_match(&net, &na));
	CHECK(!netaddr_from_sockaddr(&na, (struct sockaddr *)&sin,
	    sizeof(sin) - 1));

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::ffff:192.0.2.9", &sin6.sin6_addr);
	CHECK(netaddr_from_sockaddr(&na, (struct sockaddr *)&sin6,
	    sizeof(sin6)));
	CHECK(netaddr_is_v4(&na));
	CHECK(netaddr_match(&net, &na));
	CHECK(netaddr_format(out, sizeof(out), &na));
	CHECK_STREQ(out, "192.0.2.9");

	inet_pton(AF_INET6, "2001:db8::9", &sin6.sin6_addr);
	CHECK(netaddr_from_sockaddr(&na, (struct sockaddr *)&sin6,
	    sizeof(sin6)));
	CHECK(!netaddr_match(&net, &na));
	CHECK(netaddr_format(out, sizeof(out), &na));
	CHECK_STREQ(out, "2001:db8::9");

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	CHECK(!netaddr_from_sockaddr(&na, &sa, sizeof(sa)));
	CHECK(!netaddr_from_sockaddr(&na, NULL, 0));
	CHECK(!netaddr_from_sockaddr(&na, &sa, 1));
}

/* netaddr_format: truncation reported, nothing half written. */
static void
t_format(void)
{
	struct netaddr	 na;
	char		 out[NETADDR_STRLEN], small[6];

	na = p("2001:db8::/32");
	CHECK(!netaddr_format(small, sizeof(small), &na));
	na = p("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124");
	CHECK(netaddr_format(out, sizeof(out), &na));
	CHECK_STREQ(out, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124");
	na = p("::ffff:255.255.255.255");
	CHECK(netaddr_format(out, sizeof(out), &na));
	CHECK_STREQ(out, "255.255.255.255");
}

/* Lists: separators, error texts for "file:line: ", all-or-nothing. */
static void
t_list(void)
{
	struct netaddr_list l;
	struct netaddr	 a;
	char		 err[256];

	netaddr_list_init(&l);
	CHECK(netaddr_list_parse(&l, "127.0.0.0/8, ::1 ,192.0.2.0/24\t"
	    "2001:db8::/32,,\n10.1.2.3", err, sizeof(err)));
	CHECK_INTEQ(l.n, 5);
	a = p("10.1.2.3");
	CHECK(netaddr_list_match(&l, &a));
	a = p("::ffff:127.0.0.1");
	CHECK(netaddr_list_match(&l, &a));
	a = p("10.1.2.4");
	CHECK(!netaddr_list_match(&l, &a));

	CHECK(!netaddr_list_parse(&l, "198.51.100.0/24 192.0.2.1/33", err,
	    sizeof(err)));
	CHECK_STREQ(err, "\"192.0.2.1/33\": bad prefix length");
	CHECK_INTEQ(l.n, 5);	/* unchanged on error */
	CHECK(!netaddr_list_parse(&l, "192.168.1.10/16", err, sizeof(err)));
	CHECK_STREQ(err, "\"192.168.1.10/16\": host bits set after the prefix "
	    "(network is 192.168.0.0/16)");
	CHECK(!netaddr_list_parse(&l, "2001:db8::1/64", err, sizeof(err)));
	CHECK_STREQ(err, "\"2001:db8::1/64\": host bits set after the prefix "
	    "(network is 2001:db8::/64)");
	CHECK(!netaddr_list_parse(&l, "mx.example.com", err, sizeof(err)));
	CHECK_STREQ(err, "\"mx.example.com\": not an IPv4 or IPv6 address");
	CHECK(!netaddr_list_parse(&l, "x\"\n", NULL, 0));
	CHECK_INTEQ(l.n, 5);

	/* A very long token is cut in the message, never overflows. */
	{
		char	 big[300];

		memset(big, '1', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		CHECK(!netaddr_list_parse(&l, big, err, sizeof(err)));
		CHECK(strlen(err) < 120);
		CHECK(!netaddr_list_parse(&l, big, err, 10));
		CHECK_INTEQ(strlen(err), 9);
	}
	CHECK(netaddr_list_parse(&l, "", err, sizeof(err)));
	CHECK(netaddr_list_parse(&l, " , ", err, sizeof(err)));
	CHECK_INTEQ(l.n, 5);
	netaddr_list_free(&l);
	CHECK_INTEQ(l.n, 0);
	a = p("10.1.2.3");
	CHECK(!netaddr_list_match(&l, &a));
}

TEST_MAIN(t_parse, t_match, t_sockaddr, t_format, t_list)
