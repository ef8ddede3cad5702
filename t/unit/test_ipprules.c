/*
 * test_ipprules.c: the IP profiler's rules engine (ipprofiler/ipprules.c):
 * thresholds exactly at their boundaries (min_total, rate, count), windows
 * sliding out, the log, temp and perm actions, counters cleared by a
 * block, approved over blocked, networks, expiry exactly on time, the
 * expiry heap, max_tracked_ips eviction, pruning, list files with their
 * errors, listings, explanations and the DNSBL zone.  Time is driven by
 * the test: nothing here sleeps.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blzone.h"
#include "ipprules.h"
#include "log.h"
#include "test.h"
#include "util.h"

#define T0	1900000020	/* 2030-03-17T17:47:00Z, a minute's start */

/* What the hooks saw. */
static struct {
	int			 blocked, unblocked;
	struct ipp_block	 last, last_un;
} seen;

static void
on_blocked(void *arg, const struct ipp_block *b)
{
	seen.blocked++;
	seen.last = *b;
}

static void
on_unblocked(void *arg, const struct ipp_block *b)
{
	seen.unblocked++;
	seen.last_un = *b;
}

static const struct ipp_hooks hooks = { on_blocked, on_unblocked, NULL };

/* conf: every rule off; keep 60 minutes, 1000 addresses. */
static void
conf(struct conf_foxdns *c)
{
	memset(c, 0, sizeof(*c));
	c->keep_tempblocked_mins = 60;
	c->max_tracked_ips = 1000;
	netaddr_list_init(&c->approved_ips);
	netaddr_list_init(&c->blocked_ips);
}

static void
conf_free_lists(struct conf_foxdns *c)
{
	netaddr_list_free(&c->approved_ips);
	netaddr_list_free(&c->blocked_ips);
}

static void
rule(struct conf_foxdns *c, enum conf_ipp_kind k, long long win,
    long long min_total, long long rate, long long count, int action)
{
	c->rule[k].enabled = true;
	c->rule[k].window_mins = win;
	c->rule[k].min_total = min_total;
	c->rule[k].rate = rate;
	c->rule[k].count = count;
	c->rule[k].action = action;
}

/* engine: rules of c, lists from c (must load). */
static struct ipp_rules *
engine(const struct conf_foxdns *c)
{
	struct ipp_rules *r = ipp_rules_new(&hooks);
	struct ipp_lists *l;
	struct diag	 d;

	diag_init(&d);
	l = ipp_lists_load(c, &d);
	CHECKF(l != NULL, "%s", d.nitems ? d.items[0].text : "");
	diag_free(&d);
	ipp_rules_configure(r, c, l);
	memset(&seen, 0, sizeof(seen));
	return r;
}

/* ev: one event of ip with counters (pairs counter, value; -1 ends). */
static void
ev(struct ipp_rules *r, const char *ip, int64_t now, ...)
{
	struct ipp_event e;
	va_list		 ap;
	int		 k;

	memset(&e, 0, sizeof(e));
	e.ip = test_na(ip);
	va_start(ap, now);
	while ((k = va_arg(ap, int)) != -1)
		e.c[k] = va_arg(ap, uint32_t);
	va_end(ap);
	ipp_rules_event(r, &e, now);
}

/* state: the verdict's state for ip at now (reason into why, if given). */
static enum ipp_state
state(struct ipp_rules *r, const char *ip, int64_t now, char *why)
{
	struct ipp_verdict v;
	struct netaddr	 a = test_na(ip);

	ipp_rules_verdict(r, &a, now, &v);
	if (why != NULL)
		str_lcpy(why, v.reason, IPP_REASON_MAX + 1);
	return v.state;
}

/* dha: one event of rcpts recipients, unknown of them unknown. */
static void
dha(struct ipp_rules *r, const char *ip, int64_t now, uint32_t rcpts,
    uint32_t unknown)
{
	ev(r, ip, now, IPP_C_RCPTS, rcpts, IPP_C_UNKNOWN, unknown, -1);
}

static void
t_dha_boundary(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	struct ipp_verdict v;
	struct netaddr	 a = test_na("192.0.2.7");
	char		 why[300];

	conf(&c);
	rule(&c, CONF_IPP_DHA, 60, 10, 0, 5, CONF_IPP_TEMP);
	r = engine(&c);
	/* 9 recipients, 5 unknown: below min_total. */
	dha(r, "192.0.2.7", T0, 9, 5);
	CHECK_INTEQ(state(r, "192.0.2.7", T0, NULL), IPP_CLEAN);
	CHECK_INTEQ(seen.blocked, 0);
	/* The tenth recipient (known): exactly at both thresholds. */
	dha(r, "192.0.2.7", T0 + 30, 1, 0);
	CHECK_INTEQ(seen.blocked, 1);
	ipp_rules_verdict(r, &a, T0 + 30, &v);
	CHECK_INTEQ(v.state, IPP_TEMP);
	CHECK_INTEQ(v.expires, T0 + 30 + 60 * 60);
	CHECK_STREQ(v.reason, "directory harvest: 5 of 10 recipients unknown "
	    "in 60 min");
	CHECK_INTEQ(seen.last.kind, IPP_K_DHA);
	CHECK(!seen.last.permanent);
	CHECK_INTEQ(seen.last.created, T0 + 30);
	/* Ten recipients, four unknown: one short of count. */
	dha(r, "192.0.2.8", T0, 10, 4);
	CHECK_INTEQ(state(r, "192.0.2.8", T0, NULL), IPP_CLEAN);
	dha(r, "192.0.2.8", T0, 0, 1);
	CHECK_INTEQ(state(r, "192.0.2.8", T0, why), IPP_TEMP);
	CHECK_STREQ(why, "directory harvest: 5 of 10 recipients unknown in "
	    "60 min");
	/* Other addresses stay clean. */
	CHECK_INTEQ(state(r, "192.0.2.9", T0, NULL), IPP_CLEAN);
	CHECK_INTEQ(state(r, "127.0.0.2", T0, NULL), IPP_CLEAN);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

static void
t_rate_and_count(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	char		 why[300];

	conf(&c);
	rule(&c, CONF_IPP_SPAM, 60, 20, 50, 0, CONF_IPP_TEMP);
	r = engine(&c);
	/* 9 of 20 is 45 %. */
	ev(r, "198.51.100.1", T0, IPP_C_SCANNED, 20u, IPP_C_SPAM, 9u, -1);
	CHECK_INTEQ(state(r, "198.51.100.1", T0, NULL), IPP_CLEAN);
	/* 11 of 22 is exactly 50 %. */
	ev(r, "198.51.100.1", T0, IPP_C_SCANNED, 2u, IPP_C_SPAM, 2u, -1);
	CHECK_INTEQ(state(r, "198.51.100.1", T0, why), IPP_TEMP);
	CHECK_STREQ(why, "spam: 11 of 22 scanned messages in 60 min");
	/* Half, but under min_total. */
	ev(r, "198.51.100.2", T0, IPP_C_SCANNED, 19u, IPP_C_SPAM, 19u, -1);
	CHECK_INTEQ(state(r, "198.51.100.2", T0, NULL), IPP_CLEAN);
	ipp_rules_free(r);

	/* Rate and count together: both must hold. */
	rule(&c, CONF_IPP_SPAM, 60, 20, 50, 12, CONF_IPP_TEMP);
	r = engine(&c);
	ev(r, "198.51.100.3", T0, IPP_C_SCANNED, 22u, IPP_C_SPAM, 11u, -1);
	CHECK_INTEQ(state(r, "198.51.100.3", T0, NULL), IPP_CLEAN);
	ev(r, "198.51.100.3", T0, IPP_C_SCANNED, 2u, IPP_C_SPAM, 1u, -1);
	CHECK_INTEQ(state(r, "198.51.100.3", T0, NULL), IPP_TEMP);
	/* 12 bad but 12 of 30 is 40 %. */
	ev(r, "198.51.100.4", T0, IPP_C_SCANNED, 30u, IPP_C_SPAM, 12u, -1);
	CHECK_INTEQ(state(r, "198.51.100.4", T0, NULL), IPP_CLEAN);
	ipp_rules_free(r);

	/* virus counts scanned/virus, bounce messages/null sender. */
	memset(c.rule, 0, sizeof(c.rule));
	rule(&c, CONF_IPP_VIRUS, 60, 5, 0, 5, CONF_IPP_TEMP);
	rule(&c, CONF_IPP_BOUNCE, 60, 50, 80, 0, CONF_IPP_TEMP);
	r = engine(&c);
	ev(r, "203.0.113.1", T0, IPP_C_SCANNED, 5u, IPP_C_VIRUS, 5u,
	    IPP_C_SPAM, 5u, -1);
	CHECK_INTEQ(state(r, "203.0.113.1", T0, why), IPP_TEMP);
	CHECK_STREQ(why, "virus: 5 of 5 scanned messages carried a virus in "
	    "60 min");
	ev(r, "203.0.113.2", T0, IPP_C_MSGS, 50u, IPP_C_NULLSENDER, 39u, -1);
	CHECK_INTEQ(state(r, "203.0.113.2", T0, NULL), IPP_CLEAN);
	ev(r, "203.0.113.2", T0, IPP_C_NULLSENDER, 1u, -1);
	CHECK_INTEQ(state(r, "203.0.113.2", T0, why), IPP_TEMP);
	CHECK_STREQ(why, "bounces: 40 of 50 messages from the null sender in "
	    "60 min");
	ipp_rules_free(r);
	conf_free_lists(&c);
}

static void
t_window_slides(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	int64_t		 m0 = T0 - T0 % 60;	/* a minute's start */

	conf(&c);
	rule(&c, CONF_IPP_DHA, 60, 10, 0, 5, CONF_IPP_TEMP);
	r = engine(&c);
	/* The first part at the end of minute m0. */
	dha(r, "192.0.2.1", m0 + 59, 9, 5);
	/* 60 minutes later its minute has left the window. */
	dha(r, "192.0.2.1", m0 + 60 * 60, 1, 0);
	CHECK_INTEQ(state(r, "192.0.2.1", m0 + 60 * 60, NULL), IPP_CLEAN);
	/* One second earlier it was still in. */
	dha(r, "192.0.2.2", m0, 9, 5);
	dha(r, "192.0.2.2", m0 + 60 * 60 - 1, 1, 0);
	CHECK_INTEQ(state(r, "192.0.2.2", m0 + 60 * 60 - 1, NULL), IPP_TEMP);
	/* Spread over the window, every part counts. */
	dha(r, "192.0.2.3", m0, 3, 3);
	dha(r, "192.0.2.3", m0 + 20 * 60, 3, 1);
	dha(r, "192.0.2.3", m0 + 40 * 60, 3, 0);
	CHECK_INTEQ(state(r, "192.0.2.3", m0 + 40 * 60, NULL), IPP_CLEAN);
	dha(r, "192.0.2.3", m0 + 59 * 60, 1, 1);
	CHECK_INTEQ(state(r, "192.0.2.3", m0 + 59 * 60, NULL), IPP_TEMP);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

/* explain_int: a number from an explanation: counters or a rule's field. */
static long long
explain_int(struct ipp_rules *r, const char *ip, int64_t now,
    const char *kind, const char *key)
{
	struct netaddr	 a = test_na(ip);
	json_t		*o = ipp_rules_explain(r, &a, now), *x, *rs;
	long long	 v = -1;
	size_t		 i;

	if (kind == NULL)
		x = json_object_get(json_object_get(o, "counters"), key);
	else {
		x = NULL;
		rs = json_object_get(o, "rules");
		for (i = 0; i < json_array_size(rs); i++)
			if (strcmp(json_string_value(json_object_get(
			    json_array_get(rs, i), "kind")), kind) == 0)
				x = json_object_get(json_array_get(rs, i),
				    key);
	}
	if (json_is_integer(x))
		v = json_integer_value(x);
	else if (json_is_boolean(x))
		v = json_is_true(x);
	json_decref(o);
	return v;
}

static void
t_counters_cleared(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	int64_t		 exp;

	conf(&c);
	c.keep_tempblocked_mins = 1;
	rule(&c, CONF_IPP_DHA, 60, 10, 0, 5, CONF_IPP_TEMP);
	r = engine(&c);
	dha(r, "192.0.2.7", T0, 10, 5);
	CHECK_INTEQ(seen.blocked, 1);
	CHECK_INTEQ(explain_int(r, "192.0.2.7", T0, NULL, "recipients"), 0);
	CHECK_INTEQ(explain_int(r, "192.0.2.7", T0, "dha", "total"), 0);
	exp = ipp_rules_next_expiry(r);
	CHECK_INTEQ(exp, T0 + 60);
	/* Blocked, more arrives (in flight): counted, no second block. */
	dha(r, "192.0.2.7", T0 + 1, 10, 5);
	CHECK_INTEQ(seen.blocked, 1);
	CHECK_INTEQ(ipp_rules_next_expiry(r), exp);
	/* After the expiry it starts fresh: 9/4 does not block again. */
	CHECK_INTEQ(ipp_rules_expire(r, exp), 1);
	dha(r, "192.0.2.7", exp + 1, 9, 4);
	CHECK_INTEQ(state(r, "192.0.2.7", exp + 1, NULL), IPP_CLEAN);
	CHECK_INTEQ(explain_int(r, "192.0.2.7", exp + 1, NULL, "recipients"),
	    9);
	CHECK_INTEQ(explain_int(r, "192.0.2.7", exp + 1, NULL,
	    "unknown_recipients"), 4);
	CHECK_INTEQ(explain_int(r, "192.0.2.7", exp + 1, "dha", "matched"),
	    0);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

/* count_in: how many lines of the file at path contain needle. */
static int
count_in(const char *path, const char *needle)
{
	FILE	*f = fopen(path, "r");
	char	 line[2048];
	int	 n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

static void
t_log_action(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	char		 path[] = "/tmp/test_ipprules.XXXXXX";
	int		 fd, saved;

	conf(&c);
	rule(&c, CONF_IPP_DHA, 60, 10, 0, 5, CONF_IPP_LOG);
	r = engine(&c);
	/* Capture the log (stderr) while the rule matches three times. */
	fflush(stderr);
	if ((fd = mkstemp(path)) == -1 || (saved = dup(2)) == -1)
		abort();
	dup2(fd, 2);
	dha(r, "192.0.2.7", T0, 10, 5);
	dha(r, "192.0.2.7", T0 + 60, 1, 1);
	dha(r, "192.0.2.7", T0 + 120, 1, 1);
	/* After the window, it logs again. */
	dha(r, "192.0.2.7", T0 + 60 * 60, 10, 5);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	CHECK_INTEQ(count_in(path, "event=ipp-rule-matched ip=192.0.2.7 "
	    "kind=dha action=log"), 2);
	CHECK_INTEQ(count_in(path, "event=ipp-blocked"), 0);
	unlink(path);
	CHECK_INTEQ(seen.blocked, 0);
	CHECK_INTEQ(state(r, "192.0.2.7", T0 + 3600, NULL), IPP_CLEAN);
	CHECK_INTEQ(explain_int(r, "192.0.2.7", T0 + 3600, "dha", "matched"),
	    1);
	/* The counters stay (only a block clears them). */
	CHECK_INTEQ(explain_int(r, "192.0.2.7", T0 + 3600, "dha", "total"),
	    12);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

static void
t_perm_action(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	struct ipp_verdict v;
	struct netaddr	 a = test_na("2001:db8::66");

	conf(&c);
	rule(&c, CONF_IPP_DHA, 60, 10, 0, 5, CONF_IPP_TEMP);
	rule(&c, CONF_IPP_VIRUS, 60, 1, 0, 1, CONF_IPP_PERM);
	r = engine(&c);
	/* Both match in one event: the permanent block wins. */
	ev(r, "2001:db8::66", T0, IPP_C_RCPTS, 10u, IPP_C_UNKNOWN, 10u,
	    IPP_C_SCANNED, 1u, IPP_C_VIRUS, 1u, -1);
	CHECK_INTEQ(seen.blocked, 1);
	ipp_rules_verdict(r, &a, T0, &v);
	CHECK_INTEQ(v.state, IPP_PERM);
	CHECK_INTEQ(v.expires, 0);
	CHECK_INTEQ(seen.last.kind, IPP_K_VIRUS);
	CHECK(seen.last.permanent && seen.last.expires == 0);
	CHECK_INTEQ(ipp_rules_next_expiry(r), 0);
	CHECK_INTEQ(ipp_rules_expire(r, T0 + 100LL * 365 * 86400), 0);
	CHECK_INTEQ(state(r, "2001:db8::66", T0 + 100LL * 365 * 86400, NULL),
	    IPP_PERM);
	/* A temporary block is made permanent by a perm rule later. */
	dha(r, "2001:db8::67", T0, 10, 10);
	CHECK_INTEQ(state(r, "2001:db8::67", T0, NULL), IPP_TEMP);
	ev(r, "2001:db8::67", T0 + 5, IPP_C_SCANNED, 1u, IPP_C_VIRUS, 1u, -1);
	CHECK_INTEQ(state(r, "2001:db8::67", T0 + 5, NULL), IPP_PERM);
	CHECK_INTEQ(ipp_rules_nblocks(r), 2);
	CHECK_INTEQ(ipp_rules_next_expiry(r), 0);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

static void
t_approved_wins(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	struct ipp_block b;
	char		 why[300];

	conf(&c);
	rule(&c, CONF_IPP_DHA, 60, 1, 0, 1, CONF_IPP_PERM);
	CHECK(netaddr_list_parse(&c.approved_ips, "192.0.2.0/24, 2001:db8::1",
	    NULL, 0));
	CHECK(netaddr_list_parse(&c.blocked_ips, "192.0.2.7, 192.0.2.0/23, "
	    "198.51.100.0/24", NULL, 0));
	r = engine(&c);
	CHECK_INTEQ(state(r, "192.0.2.7", T0, why), IPP_APPROVED);
	CHECK_STREQ(why, "listed in approved_ips");
	CHECK_INTEQ(state(r, "192.0.3.7", T0, why), IPP_PERM);
	CHECK_STREQ(why, "listed in blocked_ips");
	CHECK_INTEQ(state(r, "198.51.100.200", T0, NULL), IPP_PERM);
	/* Behaviour never blocks an approved address. */
	dha(r, "192.0.2.8", T0, 100, 100);
	dha(r, "2001:db8::1", T0, 100, 100);
	CHECK_INTEQ(seen.blocked, 0);
	/* Nor does the administrator (the block stays, approval wins). */
	memset(&b, 0, sizeof(b));
	b.addr = test_na("192.0.2.8");
	b.kind = IPP_K_ADMIN;
	b.permanent = true;
	b.created = T0;
	str_lcpy(b.reason, "test", sizeof(b.reason));
	ipp_rules_block(r, &b);
	CHECK_INTEQ(seen.blocked, 1);
	CHECK_INTEQ(state(r, "192.0.2.8", T0, NULL), IPP_APPROVED);
	CHECK(ipp_rules_approved(r, &b.addr));
	/* A listed address is not blocked again by its behaviour. */
	dha(r, "198.51.100.5", T0, 100, 100);
	CHECK_INTEQ(seen.blocked, 1);
	/* A stored block of a listed address cannot be unblocked away... */
	b.addr = test_na("198.51.100.0/24");
	CHECK_INTEQ(ipp_rules_unblock(r, &b.addr), IPP_UNBLOCK_LISTED);
	b.addr = test_na("203.0.113.9");
	CHECK_INTEQ(ipp_rules_unblock(r, &b.addr), IPP_UNBLOCK_NONE);
	/* ...but the administrator's own one can. */
	b.addr = test_na("192.0.2.8");
	CHECK_INTEQ(ipp_rules_unblock(r, &b.addr), IPP_UNBLOCK_OK);
	CHECK_INTEQ(seen.unblocked, 1);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

/* admin: an administrator's block of text (minutes 0: permanent). */
static void
admin(struct ipp_rules *r, const char *text, int64_t now, int minutes,
    const char *reason)
{
	struct ipp_block b;

	memset(&b, 0, sizeof(b));
	b.addr = test_na(text);
	b.kind = IPP_K_ADMIN;
	b.permanent = minutes == 0;
	b.created = now;
	b.expires = minutes == 0 ? 0 : now + 60 * minutes;
	str_lcpy(b.reason, reason, sizeof(b.reason));
	ipp_rules_block(r, &b);
}

static void
t_network_blocks(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	struct netaddr	 a;
	char		 why[300];

	conf(&c);
	r = engine(&c);
	admin(r, "198.51.100.0/24", T0, 10, "net");
	admin(r, "198.51.100.7", T0, 0, "host");
	admin(r, "2001:db8::/32", T0, 0, "v6 net");
	admin(r, "10.0.0.0/8", T0, 5, "short");
	admin(r, "10.1.0.0/16", T0, 20, "long");
	CHECK_INTEQ(state(r, "198.51.100.8", T0, why), IPP_TEMP);
	CHECK_STREQ(why, "net");
	CHECK_INTEQ(state(r, "198.51.100.7", T0, why), IPP_PERM);
	CHECK_STREQ(why, "host");
	CHECK_INTEQ(state(r, "198.51.101.7", T0, NULL), IPP_CLEAN);
	CHECK_INTEQ(state(r, "2001:db8:ffff::1", T0, why), IPP_PERM);
	CHECK_STREQ(why, "v6 net");
	CHECK_INTEQ(state(r, "2001:db9::1", T0, NULL), IPP_CLEAN);
	/* IPv4-mapped IPv6 is the IPv4 address. */
	CHECK_INTEQ(state(r, "::ffff:198.51.100.9", T0, NULL), IPP_TEMP);
	/* Two temporary networks: the one that lasts longer. */
	CHECK_INTEQ(state(r, "10.1.2.3", T0, why), IPP_TEMP);
	CHECK_STREQ(why, "long");
	CHECK_INTEQ(state(r, "10.2.2.3", T0, why), IPP_TEMP);
	CHECK_STREQ(why, "short");
	/* Unblock is by exact network. */
	a = test_na("198.51.100.8");
	CHECK_INTEQ(ipp_rules_unblock(r, &a), IPP_UNBLOCK_NONE);
	a = test_na("198.51.100.0/24");
	CHECK_INTEQ(ipp_rules_unblock(r, &a), IPP_UNBLOCK_OK);
	CHECK_INTEQ(state(r, "198.51.100.8", T0, NULL), IPP_CLEAN);
	CHECK_INTEQ(state(r, "198.51.100.7", T0, NULL), IPP_PERM);
	/* Setting a block again replaces it (reason, expiry). */
	admin(r, "198.51.100.7", T0, 3, "again");
	CHECK_INTEQ(state(r, "198.51.100.7", T0, why), IPP_TEMP);
	CHECK_STREQ(why, "again");
	CHECK_INTEQ(ipp_rules_nblocks(r), 4);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

static void
t_expiry_exact(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	char		 ip[NETADDR_STRLEN];

	conf(&c);
	c.keep_tempblocked_mins = 1;
	rule(&c, CONF_IPP_DHA, 60, 10, 0, 5, CONF_IPP_TEMP);
	r = engine(&c);
	dha(r, "192.0.2.7", T0, 10, 5);
	CHECK_INTEQ(ipp_rules_next_expiry(r), T0 + 60);
	CHECK_INTEQ(state(r, "192.0.2.7", T0 + 59, NULL), IPP_TEMP);
	/* At created + keep_tempblocked_mins it is gone, timer or not. */
	CHECK_INTEQ(state(r, "192.0.2.7", T0 + 60, NULL), IPP_CLEAN);
	CHECK_INTEQ(ipp_rules_expire(r, T0 + 59), 0);
	CHECK_INTEQ(seen.unblocked, 0);
	CHECK_INTEQ(ipp_rules_expire(r, T0 + 60), 1);
	CHECK_INTEQ(seen.unblocked, 1);
	CHECK(netaddr_format(ip, sizeof(ip), &seen.last_un.addr));
	CHECK_STREQ(ip, "192.0.2.7");
	CHECK_INTEQ(ipp_rules_nblocks(r), 0);
	CHECK_INTEQ(ipp_rules_next_expiry(r), 0);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

static void
t_expiry_order(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	struct netaddr	 a;
	char		 ip[32];
	int64_t		 prev, next;
	int		 i, n = 0;

	conf(&c);
	r = engine(&c);
	/* 500 blocks with scrambled expiries, some replaced, some removed. */
	for (i = 0; i < 500; i++) {
		(void)snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 256, i % 256);
		admin(r, ip, T0, 1 + (i * 7919) % 997, "x");
	}
	for (i = 0; i < 500; i += 5) {
		(void)snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 256, i % 256);
		admin(r, ip, T0, 1 + (i * 31) % 50, "again");
	}
	for (i = 3; i < 500; i += 10) {
		(void)snprintf(ip, sizeof(ip), "10.0.%d.%d", i / 256, i % 256);
		a = test_na(ip);
		CHECK_INTEQ(ipp_rules_unblock(r, &a), IPP_UNBLOCK_OK);
	}
	admin(r, "10.9.9.9", T0, 0, "perm");
	CHECK_INTEQ(ipp_rules_nblocks(r), 451);
	prev = 0;
	while ((next = ipp_rules_next_expiry(r)) != 0) {
		CHECKF(next >= prev, "%lld after %lld", (long long)next,
		    (long long)prev);
		n += (int)ipp_rules_expire(r, next);
		prev = next;
	}
	CHECK_INTEQ(n, 450);
	CHECK_INTEQ(ipp_rules_nblocks(r), 1);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

static void
t_max_tracked(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;

	conf(&c);
	c.max_tracked_ips = 3;
	rule(&c, CONF_IPP_DHA, 60, 10, 0, 5, CONF_IPP_TEMP);
	r = engine(&c);
	dha(r, "192.0.2.1", T0, 1, 1);
	dha(r, "192.0.2.2", T0 + 1, 1, 1);
	dha(r, "192.0.2.3", T0 + 2, 1, 1);
	CHECK_INTEQ(ipp_rules_ntracked(r), 3);
	/* .1 seen again: .2 is now the least recently seen. */
	dha(r, "192.0.2.1", T0 + 3, 1, 1);
	dha(r, "192.0.2.4", T0 + 4, 1, 1);
	CHECK_INTEQ(ipp_rules_ntracked(r), 3);
	CHECK_INTEQ(explain_int(r, "192.0.2.1", T0 + 5, NULL, "recipients"),
	    2);
	CHECK_INTEQ(explain_int(r, "192.0.2.2", T0 + 5, NULL, "recipients"),
	    0);
	CHECK_INTEQ(explain_int(r, "192.0.2.3", T0 + 5, NULL, "recipients"),
	    1);
	CHECK_INTEQ(explain_int(r, "192.0.2.4", T0 + 5, NULL, "recipients"),
	    1);
	/* A lower limit at a reload forgets at once. */
	c.max_tracked_ips = 1;
	ipp_rules_configure(r, &c, NULL);
	CHECK_INTEQ(ipp_rules_ntracked(r), 1);
	CHECK_INTEQ(explain_int(r, "192.0.2.4", T0 + 5, NULL, "recipients"),
	    1);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

static void
t_prune(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	char		 ip[32];
	int		 i;

	conf(&c);
	rule(&c, CONF_IPP_DHA, 60, 10, 0, 5, CONF_IPP_TEMP);
	rule(&c, CONF_IPP_SPAM, 30, 10, 50, 0, CONF_IPP_TEMP);
	r = engine(&c);
	/* Two addresses a minute for 50 minutes. */
	for (i = 0; i < 100; i++) {
		(void)snprintf(ip, sizeof(ip), "192.0.2.%d", i);
		dha(r, ip, T0 + i * 30, 1, 0);
	}
	CHECK_INTEQ(ipp_rules_ntracked(r), 100);
	/* The longest window is 60 minutes: minutes 0..40 are out by now. */
	CHECK_INTEQ(ipp_rules_prune(r, T0 + 100 * 60), 82);
	CHECK_INTEQ(ipp_rules_ntracked(r), 18);
	/* An event also forgets the idle ones. */
	dha(r, "198.51.100.1", T0 + 200 * 60, 1, 0);
	CHECK_INTEQ(ipp_rules_ntracked(r), 1);
	CHECK_INTEQ(ipp_rules_prune(r, T0 + 300 * 60), 1);
	CHECK_INTEQ(ipp_rules_ntracked(r), 0);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

static void
t_bucket_merge(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	int		 i;

	conf(&c);
	rule(&c, CONF_IPP_DHA, 1000, 1000000, 0, 1000000, CONF_IPP_TEMP);
	r = engine(&c);
	/* 300 distinct minutes: more than the buckets an address has. */
	for (i = 0; i < 300; i++)
		dha(r, "192.0.2.1", T0 + i * 60, 2, 1);
	CHECK_INTEQ(explain_int(r, "192.0.2.1", T0 + 299 * 60, NULL,
	    "recipients"), 600);
	CHECK_INTEQ(explain_int(r, "192.0.2.1", T0 + 299 * 60, "dha", "bad"),
	    300);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

static void
t_rule_problem(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;

	conf(&c);
	rule(&c, CONF_IPP_DHA, 60, 1, 0, 0, CONF_IPP_TEMP);
	CHECK(ipp_rule_problem(&c.rule[CONF_IPP_DHA]) != NULL);
	CHECK(ipp_rule_problem(&c.rule[CONF_IPP_SPAM]) == NULL);
	c.rule[CONF_IPP_DHA].enabled = false;
	CHECK(ipp_rule_problem(&c.rule[CONF_IPP_DHA]) == NULL);
	c.rule[CONF_IPP_DHA].enabled = true;
	/* Such a rule (a bad configuration) never matches. */
	r = engine(&c);
	dha(r, "192.0.2.1", T0, 100, 100);
	CHECK_INTEQ(seen.blocked, 0);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

/* write_file: text into a new temporary file; its path (static). */
static const char *
write_file(const char *text)
{
	static char	 path[64];
	FILE		*f;
	int		 fd;

	str_lcpy(path, "/tmp/test_ipprules.XXXXXX", sizeof(path));
	if ((fd = mkstemp(path)) == -1 || (f = fdopen(fd, "w")) == NULL)
		abort();
	fputs(text, f);
	fclose(f);
	return path;
}

static void
t_list_files(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	struct ipp_lists *l;
	struct diag	 d;
	char		 bpath[64], apath[64], why[300], want[300];

	conf(&c);
	str_lcpy(bpath, write_file("# blocked\n"
	    "192.0.2.7 spam run  # comment\r\n"
	    "\n"
	    "  198.51.100.0/24\n"
	    "2001:db8::/32\tIPv6 \xe6\x82\xaa\xe3\x81\x84 network\n"
	    "192.0.2.7 a second reason is ignored\n"), sizeof(bpath));
	str_lcpy(apath, write_file("198.51.100.77\n# nothing else\n"),
	    sizeof(apath));
	c.blocked_list_file = bpath;
	c.approved_list_file = apath;
	r = engine(&c);
	CHECK_INTEQ(state(r, "192.0.2.7", T0, why), IPP_PERM);
	CHECK_STREQ(why, "spam run");
	CHECK_INTEQ(state(r, "198.51.100.1", T0, why), IPP_PERM);
	(void)snprintf(want, sizeof(want), "listed in %s", bpath);
	CHECK_STREQ(why, want);
	CHECK_INTEQ(state(r, "2001:db8::5", T0, why), IPP_PERM);
	CHECK_STREQ(why, "IPv6 \xe6\x82\xaa\xe3\x81\x84 network");
	CHECK_INTEQ(state(r, "198.51.100.77", T0, why), IPP_APPROVED);
	(void)snprintf(want, sizeof(want), "listed in %s", apath);
	CHECK_STREQ(why, want);
	CHECK_INTEQ(state(r, "192.0.2.8", T0, NULL), IPP_CLEAN);
	ipp_rules_free(r);
	unlink(bpath);
	unlink(apath);

	/* Errors: file:line, with the network that was meant. */
	str_lcpy(bpath, write_file("192.0.2.7\n192.0.2.1/24 oops\n"
	    "not-an-address\n192.0.2.9/33\n"), sizeof(bpath));
	str_lcpy(apath, write_file("192.0.2.5 text\n"), sizeof(apath));
	c.blocked_list_file = bpath;
	c.approved_list_file = apath;
	diag_init(&d);
	CHECK((l = ipp_lists_load(&c, &d)) == NULL);
	CHECK_INTEQ(d.nerrors, 4);
	(void)snprintf(want, sizeof(want), "%s:2: \"192.0.2.1/24\": ", bpath);
	CHECKF(diag_find(&d, want) != NULL && diag_find(&d,
	    "(network is 192.0.2.0/24)") != NULL, "%s", d.nitems ?
	    d.items[0].text : "-");
	(void)snprintf(want, sizeof(want), "%s:3: \"not-an-address\"", bpath);
	CHECK(diag_find(&d, want) != NULL);
	(void)snprintf(want, sizeof(want), "%s:4: ", bpath);
	CHECK(diag_find(&d, want) != NULL);
	(void)snprintf(want, sizeof(want), "%s:1: text after the address",
	    apath);
	CHECK(diag_find(&d, want) != NULL);
	diag_free(&d);
	unlink(bpath);
	unlink(apath);

	/* A missing file, a file that is not UTF-8. */
	c.approved_list_file = "/nonexistent/approved.txt";
	c.blocked_list_file = NULL;
	diag_init(&d);
	CHECK(ipp_lists_load(&c, &d) == NULL);
	CHECK(diag_find(&d, "/nonexistent/approved.txt: No such file") !=
	    NULL);
	diag_free(&d);
	str_lcpy(bpath, write_file("192.0.2.7 \xff\xfe\n"), sizeof(bpath));
	c.approved_list_file = NULL;
	c.blocked_list_file = bpath;
	diag_init(&d);
	CHECK(ipp_lists_load(&c, &d) == NULL);
	CHECK(diag_find(&d, "not UTF-8") != NULL);
	diag_free(&d);
	unlink(bpath);
	/* A directory is not a list. */
	c.blocked_list_file = "/tmp";
	diag_init(&d);
	CHECK(ipp_lists_load(&c, &d) == NULL);
	CHECK(diag_find(&d, "not a regular file") != NULL);
	diag_free(&d);
	conf_free_lists(&c);
}

static void
t_long_reason(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	char		 text[1000], why[300], bpath[64];
	size_t		 i, n;

	/* 150 three-byte characters: cut to 66 whole ones (198 bytes). */
	n = (size_t)snprintf(text, sizeof(text), "192.0.2.7 ");
	for (i = 0; i < 150; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "\xe6\x82\xaa");
	str_lcat(text, "\n", sizeof(text));
	conf(&c);
	str_lcpy(bpath, write_file(text), sizeof(bpath));
	c.blocked_list_file = bpath;
	r = engine(&c);
	CHECK_INTEQ(state(r, "192.0.2.7", T0, why), IPP_PERM);
	CHECK_INTEQ(strlen(why), 198);
	CHECK(ipp_reason_ok(why));
	ipp_rules_free(r);
	unlink(bpath);
	conf_free_lists(&c);
}

static void
t_reason_and_addr(void)
{
	struct netaddr	 a;
	char		 err[160], big[300];

	CHECK(ipp_reason_ok("directory harvest: 7 of 12"));
	CHECK(ipp_reason_ok("迷惑メール"));
	CHECK(!ipp_reason_ok("a\nb"));
	CHECK(!ipp_reason_ok("\xff"));
	memset(big, 'x', 201);
	big[201] = '\0';
	CHECK(!ipp_reason_ok(big));
	big[200] = '\0';
	CHECK(ipp_reason_ok(big));
	CHECK(ipp_addr_parse(&a, "192.0.2.0/24", err, sizeof(err)) == NULL);
	CHECK(ipp_addr_parse(&a, "192.0.2.1/24", err, sizeof(err)) != NULL);
	CHECK(strstr(err, "(network is 192.0.2.0/24)") != NULL);
	CHECK(ipp_addr_parse(&a, "2001:db8::1/32", err, sizeof(err)) != NULL);
	CHECK(strstr(err, "(network is 2001:db8::/32)") != NULL);
	CHECK(ipp_addr_parse(&a, "192.0.2.300", err, sizeof(err)) != NULL);
	CHECK(ipp_addr_parse(&a, "", err, sizeof(err)) != NULL);
	CHECK(ipp_addr_parse(&a, "1111:2222:3333:4444:5555:6666:7777:8888:9999:"
	    "aaaa:bbbb", err, sizeof(err)) != NULL);
	ipp_time_iso(err, sizeof(err), 1900000000);
	CHECK_STREQ(err, "2030-03-17T17:46:40Z");
}

/* listed: the addresses of a listing (filter text or NULL), joined. */
static void
listed(struct ipp_rules *r, const char *filter, int64_t now, char *out,
    size_t len)
{
	struct ipp_ref	*refs;
	struct ipp_block b;
	struct netaddr	 f;
	char		 ip[NETADDR_STRLEN];
	size_t		 n, i;

	if (filter != NULL)
		f = test_na(filter);
	n = ipp_rules_snapshot(r, filter != NULL ? &f : NULL, &refs);
	out[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!ipp_rules_ref_get(r, &refs[i], now, &b))
			continue;
		(void)netaddr_format(ip, sizeof(ip), &b.addr);
		if (out[0] != '\0')
			str_lcat(out, " ", len);
		str_lcat(out, ip, len);
		str_lcat(out, b.permanent ? "=P" : "=T", len);
	}
	free(refs);
}

static void
t_listing(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	struct ipp_ref	*refs;
	struct ipp_block b;
	struct netaddr	 a;
	char		 out[1024];
	json_t		*o;
	size_t		 n;

	conf(&c);
	CHECK(netaddr_list_parse(&c.blocked_ips, "203.0.113.0/24", NULL, 0));
	r = engine(&c);
	admin(r, "192.0.2.7", T0, 1, "a");
	admin(r, "192.0.2.0/24", T0, 0, "b");
	admin(r, "192.0.2.128/25", T0, 5, "c");
	admin(r, "2001:db8::1", T0, 0, "d");
	listed(r, NULL, T0, out, sizeof(out));
	CHECK_STREQ(out, "192.0.2.0/24=P 192.0.2.7=T 192.0.2.128/25=T "
	    "203.0.113.0/24=P 2001:db8::1=P");
	/* An address: what contains it; a network: what overlaps it. */
	listed(r, "192.0.2.7", T0, out, sizeof(out));
	CHECK_STREQ(out, "192.0.2.0/24=P 192.0.2.7=T");
	listed(r, "192.0.2.128/26", T0, out, sizeof(out));
	CHECK_STREQ(out, "192.0.2.0/24=P 192.0.2.128/25=T");
	listed(r, "192.0.0.0/16", T0, out, sizeof(out));
	CHECK_STREQ(out, "192.0.2.0/24=P 192.0.2.7=T 192.0.2.128/25=T");
	listed(r, "2001:db8::/32", T0, out, sizeof(out));
	CHECK_STREQ(out, "2001:db8::1=P");
	/* An expired block is not listed, even before it was removed. */
	listed(r, "192.0.2.7", T0 + 60, out, sizeof(out));
	CHECK_STREQ(out, "192.0.2.0/24=P");
	/* A snapshot entry that went away meanwhile is skipped. */
	n = ipp_rules_snapshot(r, NULL, &refs);
	CHECK_INTEQ(n, 5);
	a = test_na("192.0.2.0/24");
	CHECK_INTEQ(ipp_rules_unblock(r, &a), IPP_UNBLOCK_OK);
	CHECK(!ipp_rules_ref_get(r, &refs[0], T0, &b));
	CHECK(ipp_rules_ref_get(r, &refs[3], T0, &b));
	CHECK_INTEQ(b.kind, IPP_K_BLOCKED_IPS);
	CHECK_STREQ(b.reason, "listed in blocked_ips");
	o = ipp_block_json(&b);
	CHECK_STREQ(json_string_value(json_object_get(o, "address")),
	    "203.0.113.0/24");
	CHECK_STREQ(json_string_value(json_object_get(o, "state")),
	    "permanent");
	CHECK_STREQ(json_string_value(json_object_get(o, "kind")),
	    "blocked_ips");
	CHECK(json_is_null(json_object_get(o, "created")));
	CHECK(json_is_null(json_object_get(o, "expires")));
	json_decref(o);
	CHECK(ipp_rules_ref_get(r, &refs[1], T0, &b));
	o = ipp_block_json(&b);
	CHECK_STREQ(json_string_value(json_object_get(o, "address")),
	    "192.0.2.7");
	CHECK_STREQ(json_string_value(json_object_get(o, "state")),
	    "temporary");
	CHECK_STREQ(json_string_value(json_object_get(o, "kind")), "admin");
	CHECK_STREQ(json_string_value(json_object_get(o, "created")),
	    "2030-03-17T17:47:00Z");
	CHECK_STREQ(json_string_value(json_object_get(o, "expires")),
	    "2030-03-17T17:48:00Z");
	json_decref(o);
	free(refs);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

static void
t_explain(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	struct netaddr	 a = test_na("192.0.2.7");
	json_t		*o, *rs;

	conf(&c);
	rule(&c, CONF_IPP_DHA, 60, 10, 0, 5, CONF_IPP_TEMP);
	rule(&c, CONF_IPP_SPAM, 120, 20, 50, 0, CONF_IPP_LOG);
	r = engine(&c);
	ev(r, "192.0.2.7", T0, IPP_C_CONNS, 3u, IPP_C_RCPTS, 12u,
	    IPP_C_UNKNOWN, 4u, IPP_C_SCANNED, 2u, -1);
	o = ipp_rules_explain(r, &a, T0);
	CHECK_STREQ(json_string_value(json_object_get(o, "address")),
	    "192.0.2.7");
	CHECK_STREQ(json_string_value(json_object_get(o, "state")), "clean");
	CHECK(json_is_null(json_object_get(o, "reason")));
	CHECK(json_is_null(json_object_get(o, "expires")));
	CHECK_INTEQ(json_integer_value(json_object_get(json_object_get(o,
	    "counters"), "connections")), 3);
	CHECK_INTEQ(json_object_size(json_object_get(o, "counters")),
	    IPP_C_MAX);
	rs = json_object_get(o, "rules");
	CHECK_INTEQ(json_array_size(rs), 4);
	CHECK_STREQ(json_string_value(json_object_get(json_array_get(rs, 2),
	    "kind")), "dha");
	CHECK_INTEQ(json_integer_value(json_object_get(json_array_get(rs, 2),
	    "bad")), 4);
	CHECK(json_is_false(json_object_get(json_array_get(rs, 2),
	    "matched")));
	CHECK(json_is_false(json_object_get(json_array_get(rs, 1),
	    "enabled")));
	CHECK_STREQ(json_string_value(json_object_get(json_array_get(rs, 0),
	    "action")), "log");
	json_decref(o);
	/* Counters span the longest enabled window (120 min). */
	CHECK_INTEQ(explain_int(r, "192.0.2.7", T0 + 90 * 60, NULL,
	    "scanned"), 2);
	CHECK_INTEQ(explain_int(r, "192.0.2.7", T0 + 90 * 60, "dha", "total"),
	    0);
	dha(r, "192.0.2.7", T0 + 60, 0, 1);
	o = ipp_rules_explain(r, &a, T0 + 60);
	CHECK_STREQ(json_string_value(json_object_get(o, "state")),
	    "temporary");
	CHECK_STREQ(json_string_value(json_object_get(o, "reason")),
	    "directory harvest: 5 of 12 recipients unknown in 60 min");
	CHECK_STREQ(json_string_value(json_object_get(o, "expires")),
	    "2030-03-17T18:48:00Z");
	json_decref(o);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

static void
t_zone(void)
{
	struct conf_foxdns c;
	struct ipp_rules *r;
	struct blzone	*z;
	struct netaddr	 a;

	conf(&c);
	CHECK(netaddr_list_parse(&c.blocked_ips, "203.0.113.0/24, 192.0.2.9",
	    NULL, 0));
	CHECK(netaddr_list_parse(&c.approved_ips, "192.0.2.9", NULL, 0));
	r = engine(&c);
	admin(r, "192.0.2.7", T0, 1, "temp reason");
	admin(r, "2001:db8::7", T0, 0, "v6 reason");
	CHECK(ipp_rules_zone(r, "bad..zone", T0) == NULL);
	z = ipp_rules_zone(r, "bl.example.org", T0);
	CHECK(z != NULL);
	if (z == NULL)
		return;
	CHECK_INTEQ(blzone_count(z), 3);
	a = test_na("192.0.2.7");
	CHECK_STREQ(blzone_lookup(z, &a), "temp reason");
	a = test_na("2001:db8::7");
	CHECK_STREQ(blzone_lookup(z, &a), "v6 reason");
	a = test_na("203.0.113.77");
	CHECK_STREQ(blzone_lookup(z, &a), "listed in blocked_ips");
	a = test_na("192.0.2.9");
	CHECK(blzone_lookup(z, &a) == NULL);
	blzone_free(z);
	/* Expired blocks are not in a zone built after their time. */
	z = ipp_rules_zone(r, "bl.example.org", T0 + 60);
	CHECK_INTEQ(blzone_count(z), 2);
	blzone_free(z);
	ipp_rules_free(r);
	conf_free_lists(&c);
}

static void
t_kinds(void)
{
	enum ipp_kind	 k;
	int		 i;

	for (i = 0; i < IPP_NKINDS; i++) {
		CHECK(ipp_kind_parse(ipp_kind_name((enum ipp_kind)i), &k) &&
		    (int)k == i);
	}
	CHECK(!ipp_kind_parse("nope", &k));
	CHECK_STREQ(ipp_kind_name(IPP_K_DHA), "dha");
	CHECK_STREQ(ipp_kind_name(IPP_K_BLOCKED_FILE), "blocked_list_file");
}

static void
t_setup(void)
{
	log_init("test", true, LOG_LVL_INFO);
}

TEST_MAIN(t_setup, t_kinds, t_dha_boundary, t_rate_and_count,
    t_window_slides, t_counters_cleared, t_log_action, t_perm_action,
    t_approved_wins, t_network_blocks, t_expiry_exact, t_expiry_order,
    t_max_tracked, t_prune, t_bucket_merge, t_rule_problem, t_list_files,
    t_long_reason, t_reason_and_addr, t_listing, t_explain, t_zone)
