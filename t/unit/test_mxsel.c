/*
 * test_mxsel.c: MX selection (preference order, random ties, the
 * MaxDNSMxToTry cut of seed 20, RFC 7505 null MX, IP literals,
 * duplicates, the RFC 5321 5.1 loop rule).
 */
#include <stdint.h>
#include <string.h>

#include "dns.h"
#include "test.h"
#include "util.h"

#define MAXREC	8

struct rec {
	uint16_t	 pref;
	const char	*host;
};

/* xorshift32: a seeded random source for the tests. */
static uint32_t
t_rand(void *arg, uint32_t upper)
{
	uint32_t	*s = arg;

	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s % upper;
}

/* t_rand_count: counts calls, always 0. */
static uint32_t
t_rand_count(void *arg, uint32_t upper)
{
	(*(int *)arg)++;
	return 0;
}

/* to_mx: the table row as MX records. */
static size_t
to_mx(const struct rec *r, struct dns_mx *mx)
{
	size_t	 n;

	for (n = 0; n < MAXREC && r[n].host != NULL; n++) {
		mx[n].pref = r[n].pref;
		mx[n].host = (char *)r[n].host;
	}
	return n;
}

/*
 * group_check: out must walk the groups of want in order ("a b|c":
 * {a,b} in any order, then c); the last group reached may be partial
 * (the cut).  Returns the problem or NULL.
 */
static const char *
group_check(const char *want, const struct dns_mx **out, size_t n)
{
	char		 groups[256], *g[MAXREC], *tok, *save;
	char		 used[MAXREC][64];
	const char	*p;
	size_t		 ng = 0, cur = 0, nused = 0, i, j;
	bool		 found;

	str_lcpy(groups, want, sizeof(groups));
	for (tok = strtok_r(groups, "|", &save); tok != NULL && ng < MAXREC;
	    tok = strtok_r(NULL, "|", &save))
		g[ng++] = tok;
	for (i = 0; i < n; i++) {
		for (;;) {
			if (cur >= ng)
				return "more hosts than expected";
			/* Is out[i] in group cur and not used yet? */
			found = false;
			for (p = g[cur]; *p != '\0'; p += strcspn(p, " ")) {
				p += strspn(p, " ");
				if (strncmp(p, out[i]->host, strlen(out[i]->host))
				    == 0 && (p[strlen(out[i]->host)] == ' ' ||
				    p[strlen(out[i]->host)] == '\0'))
					found = true;
			}
			for (j = 0; j < nused; j++)
				if (strcmp(used[j], out[i]->host) == 0)
					return "host twice";
			if (found)
				break;
			/* Only move on when the group is complete. */
			for (p = g[cur], j = 0; *p != '\0';
			    p += strcspn(p, " ")) {
				p += strspn(p, " ");
				if (*p != '\0')
					j++;
			}
			if (j != nused)
				return "group left incomplete";
			cur++;
			nused = 0;
		}
		str_lcpy(used[nused++], out[i]->host, sizeof(used[0]));
	}
	return NULL;
}

static void
t_table(void)
{
	static const char *const self[] = { "gw.sekisho.test", NULL };
	static const struct {
		const char		*name;
		struct rec		 mx[MAXREC + 1];
		size_t			 max_mx;
		bool			 self;
		enum mxsel_result	 want;
		size_t			 nwant;
		const char		*order;
	} cases[] = {
		{ "order", { { 30, "c" }, { 10, "a" }, { 20, "b" } }, 0, false,
		    MXSEL_OK, 3, "a|b|c" },
		{ "ties", { { 20, "b1" }, { 10, "a" }, { 20, "b2" },
		    { 20, "b3" }, { 5, "z" } }, 0, false, MXSEL_OK, 5,
		    "z|a|b1 b2 b3" },
		{ "cut seed20", { { 10, "a" }, { 20, "b" }, { 30, "c" },
		    { 40, "d" }, { 50, "e" } }, 3, false, MXSEL_OK, 3,
		    "a|b|c" },
		{ "cut inside ties", { { 10, "a" }, { 20, "b1" },
		    { 20, "b2" }, { 20, "b3" } }, 2, false, MXSEL_OK, 2,
		    "a|b1 b2 b3" },
		{ "cut 1", { { 20, "b" }, { 10, "a" } }, 1, false, MXSEL_OK, 1,
		    "a" },
		{ "no cut when fewer", { { 10, "a" } }, 5, false, MXSEL_OK, 1,
		    "a" },
		{ "null mx", { { 0, "" } }, 0, false, MXSEL_NULLMX, 0, "" },
		{ "null mx dot", { { 0, "." } }, 0, false, MXSEL_NULLMX, 0,
		    "" },
		{ "null mx twice", { { 0, "" }, { 0, "." } }, 0, false,
		    MXSEL_NULLMX, 0, "" },
		{ "root pref 10 only", { { 10, "" } }, 0, false, MXSEL_NULLMX,
		    0, "" },
		{ "null mx mixed: real hosts used", { { 0, "" },
		    { 10, "mx.example.test" } }, 0, false, MXSEL_OK, 1,
		    "mx.example.test" },
		{ "ip literal only", { { 10, "192.0.2.1" } }, 0, false,
		    MXSEL_EMPTY, 0, "" },
		{ "ip6 literal", { { 10, "2001:db8::1" }, { 20, "[192.0.2.1]" } },
		    0, false, MXSEL_EMPTY, 0, "" },
		{ "literal skipped", { { 5, "192.0.2.1" }, { 20, "b" } }, 0,
		    false, MXSEL_OK, 1, "b" },
		{ "bad names", { { 1, "a b" }, { 2, "a..b" }, { 3, "x\\.y" },
		    { 4, "ok.test." } }, 0, false, MXSEL_OK, 1, "ok.test." },
		{ "duplicates keep best", { { 20, "mx1" }, { 10, "MX1." },
		    { 30, "mx1" }, { 15, "mx2" } }, 0, false, MXSEL_OK, 2,
		    "MX1.|mx2" },
		{ "self: drop ours and worse", { { 10, "a" },
		    { 20, "gw.sekisho.test" }, { 20, "b" }, { 30, "c" } }, 0,
		    true, MXSEL_OK, 1, "a" },
		{ "self: case and dot", { { 10, "a" }, { 10, "b" },
		    { 30, "GW.Sekisho.Test." } }, 0, true, MXSEL_OK, 2, "a b" },
		{ "self best: loop", { { 10, "gw.sekisho.test" },
		    { 20, "b" } }, 0, true, MXSEL_LOOP, 0, "" },
		{ "self tied best: loop", { { 10, "a" },
		    { 10, "gw.sekisho.test" } }, 0, true, MXSEL_LOOP, 0, "" },
		{ "self not listed", { { 10, "a" } }, 0, true, MXSEL_OK, 1,
		    "a" },
		{ "nothing", { { 0, NULL } }, 0, false, MXSEL_EMPTY, 0, "" },
	};
	struct dns_mx		 mx[MAXREC];
	const struct dns_mx	*out[MAXREC];
	struct mxsel_opts	 o;
	enum mxsel_result	 rc;
	const char		*why;
	size_t			 i, n, nout;
	uint32_t		 seed, s;

	for (i = 0; i < nitems(cases); i++) {
		n = to_mx(cases[i].mx, mx);
		for (seed = 1; seed <= 20; seed++) {
			s = seed * 2654435761u;
			memset(&o, 0, sizeof(o));
			o.max_mx = cases[i].max_mx;
			o.self_names = cases[i].self ? self : NULL;
			o.rand = t_rand;
			o.rand_arg = &s;
			nout = 99;
			rc = mxsel_select(mx, n, &o, out, &nout);
			CHECKF(rc == cases[i].want, "%s: result %d", cases[i].name,
			    (int)rc);
			CHECKF(nout == cases[i].nwant, "%s: %zu hosts",
			    cases[i].name, nout);
			if (rc != MXSEL_OK || nout != cases[i].nwant)
				break;
			why = group_check(cases[i].order, out, nout);
			CHECKF(why == NULL, "%s seed %u: %s", cases[i].name,
			    seed, why);
		}
	}
}

/* Equal preferences come out in every order, other ranks never move. */
static void
t_shuffle(void)
{
	static const struct rec	 r[] = { { 10, "a" }, { 20, "b1" },
	    { 20, "b2" }, { 20, "b3" }, { 30, "c" }, { 0, NULL } };
	struct dns_mx		 mx[MAXREC];
	const struct dns_mx	*out[MAXREC];
	struct mxsel_opts	 o;
	int			 first[3] = { 0, 0, 0 }, calls = 0;
	size_t			 n, nout, k;
	uint32_t		 seed, s;
	char			 seen[8][16];
	size_t			 nseen = 0, j;
	char			 perm[16];

	n = to_mx(r, mx);
	for (seed = 1; seed <= 200; seed++) {
		s = seed * 2654435761u;
		memset(&o, 0, sizeof(o));
		o.rand = t_rand;
		o.rand_arg = &s;
		CHECK(mxsel_select(mx, n, &o, out, &nout) == MXSEL_OK);
		CHECK_INTEQ(nout, 5);
		CHECK_STREQ(out[0]->host, "a");
		CHECK_STREQ(out[4]->host, "c");
		for (k = 1; k < 4; k++)
			CHECK_INTEQ(out[k]->pref, 20);
		first[out[1]->host[1] - '1']++;
		snprintf(perm, sizeof(perm), "%s%s%s", out[1]->host,
		    out[2]->host, out[3]->host);
		for (j = 0; j < nseen; j++)
			if (strcmp(seen[j], perm) == 0)
				break;
		if (j == nseen && nseen < 8)
			str_lcpy(seen[nseen++], perm, sizeof(seen[0]));
	}
	for (k = 0; k < 3; k++)
		CHECKF(first[k] > 20, "b%zu first only %d times of 200", k + 1,
		    first[k]);
	CHECKF(nseen == 6, "%zu of 6 orders seen", nseen);

	/* Distinct preferences: the random source is not even asked. */
	{
		static const struct rec	 d[] = { { 30, "c" }, { 10, "a" },
		    { 20, "b" }, { 0, NULL } };

		n = to_mx(d, mx);
		memset(&o, 0, sizeof(o));
		o.rand = t_rand_count;
		o.rand_arg = &calls;
		CHECK(mxsel_select(mx, n, &o, out, &nout) == MXSEL_OK);
		CHECK_INTEQ(calls, 0);
	}
	/* The default source (arc4random) works too. */
	n = to_mx(r, mx);
	CHECK(mxsel_select(mx, n, NULL, out, &nout) == MXSEL_OK);
	CHECK_INTEQ(nout, 5);
}

static void
t_names(void)
{
	static const char *const self[] = { "a.test", "b.test.", NULL };

	CHECK(mxsel_name_eq("Mx.Example.TEST", "mx.example.test."));
	CHECK(mxsel_name_eq("a.", "a"));
	CHECK(!mxsel_name_eq("a.b", "a.bc"));
	CHECK(!mxsel_name_eq("a", ""));
	CHECK(mxsel_is_root(""));
	CHECK(mxsel_is_root("."));
	CHECK(!mxsel_is_root(".."));
	CHECK(!mxsel_is_root("a"));
	CHECK(mxsel_is_self("A.TEST.", self));
	CHECK(mxsel_is_self("b.test", self));
	CHECK(!mxsel_is_self("c.test", self));
	CHECK(!mxsel_is_self("a.test", NULL));
}

TEST_MAIN(t_table, t_shuffle, t_names)
