/*
 * ctl_ipp.c: sekishoctl ipprofiler: the IP profiler's blocks, through its
 * socket (run_dir/ipprofiler.sock, ipprofiler/daemon/ipprofilerd.c),
 * exchanged as the queue commands' are (ctl_req.c).
 *
 *	sekishoctl [-c DIR] [--json] ipprofiler list [FILTER]
 *	sekishoctl [-c DIR] [--json] ipprofiler block ADDR[/LEN] [--perm]
 *	    [--minutes N] [--reason TEXT]
 *	sekishoctl [-c DIR] [--json] ipprofiler unblock ADDR[/LEN]
 *	sekishoctl [-c DIR] [--json] ipprofiler explain ADDR
 *	sekishoctl [-c DIR] [--json] ipprofiler reload
 *
 * list shows every block (the lists of foxdns.ini and the stored ones),
 * or those overlapping FILTER (an address or a network).  block adds a
 * stored block (temporary for keep_tempblocked_mins, or --minutes, or
 * --perm), unblock removes one (the lists' entries are edited in
 * foxdns.ini), explain shows an address's verdict, its counters and each
 * rule's sums, reload re-reads foxdns.ini and the list files.  Addresses
 * are checked here first, so a typo gets its error without a daemon.
 * Exit codes: 0 success, 1 failure, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ipc.h"
#include "ipp_proto.h"
#include "netaddr.h"
#include "sekishoctl.h"
#include "util.h"

#define IP_MINUTES_MAX	5256000		/* ipprules.h IPP_MINUTES_MAX */

/* The profiler's part of a request (ctl_req.arg). */
struct ipcmd {
	const char	*filter;	/* list: "" all */
	const char	*reason;	/* block: "" the default */
	bool		 perm;
	uint32_t	 minutes;	/* block: 0 keep_tempblocked_mins */
};

/* ip_usage: the ipprofiler commands' usage; exit code 2. */
static int
ip_usage(void)
{
	fprintf(stderr, "usage: sekishoctl [-c confdir] [--json] ipprofiler "
	    "list [ADDR[/LEN]]\n"
	    "       sekishoctl [-c confdir] [--json] ipprofiler block "
	    "ADDR[/LEN] [--perm]\n"
	    "           [--minutes N] [--reason TEXT]\n"
	    "       sekishoctl [-c confdir] [--json] ipprofiler unblock "
	    "ADDR[/LEN]\n"
	    "       sekishoctl [-c confdir] [--json] ipprofiler explain ADDR\n"
	    "       sekishoctl [-c confdir] [--json] ipprofiler reload\n");
	return 2;
}

/* ip_jstr_in: o[key] is a string of set (NULL-terminated; NULL: any). */
static bool
ip_jstr_in(const json_t *o, const char *key, const char *const *set)
{
	const char	*v = ctl_jstr(o, key);
	size_t		 i;

	if (!ctl_jhas(o, key, JSON_STRING, false))
		return false;
	for (i = 0; set != NULL && set[i] != NULL; i++)
		if (strcmp(v, set[i]) == 0)
			return true;
	return set == NULL;
}

/* ip_block_check: a listing entry has every field, typed as documented. */
static const char *
ip_block_check(const json_t *o)
{
	static const char *const states[] = { "temporary", "permanent", NULL };
	static const char *const kinds[] = { "spam", "virus", "dha", "bounce",
	    "admin", "blocked_ips", "blocked_list_file", NULL };

	if (!json_is_object(o) || !ip_jstr_in(o, "address", NULL) ||
	    !ip_jstr_in(o, "state", states) || !ip_jstr_in(o, "kind", kinds) ||
	    !ctl_jhas(o, "reason", JSON_STRING, false) ||
	    !ctl_jhas(o, "created", JSON_STRING, true) ||
	    !ctl_jhas(o, "expires", JSON_STRING, true))
		return "entry lacks a field or has a wrong type";
	if (strcmp(ctl_jstr(o, "state"), "temporary") == 0 &&
	    ctl_jstr(o, "expires") == NULL)
		return "temporary block without an expiry";
	return NULL;
}

/* ip_jbool: whether o[key] is true or false. */
static bool
ip_jbool(const json_t *o, const char *key)
{
	return ctl_jhas(o, key, JSON_TRUE, false) ||
	    ctl_jhas(o, key, JSON_FALSE, false);
}

/* ip_rule_check: one rule object of an explanation. */
static bool
ip_rule_check(const json_t *r)
{
	static const char *const ints[] = { "window_mins", "total", "bad",
	    "min_total", "rate", "count" };
	static const char *const actions[] = { "log", "temp", "perm", NULL };
	size_t	 i;

	if (!json_is_object(r) || !ip_jstr_in(r, "kind", NULL) ||
	    !ip_jstr_in(r, "action", actions) || !ip_jbool(r, "enabled") ||
	    !ip_jbool(r, "matched"))
		return false;
	for (i = 0; i < nitems(ints); i++)
		if (!ctl_jhas(r, ints[i], JSON_INTEGER, false) ||
		    ctl_jint(r, ints[i]) < 0)
			return false;
	return true;
}

/* ip_explain_check: an explanation has every field we show. */
static const char *
ip_explain_check(const json_t *o)
{
	static const char *const states[] = { "clean", "approved",
	    "temporary", "permanent", NULL };
	const json_t	*cs, *rs;
	size_t		 i;

	if (!json_is_object(o) || !ip_jstr_in(o, "address", NULL) ||
	    !ip_jstr_in(o, "state", states) ||
	    !ctl_jhas(o, "reason", JSON_STRING, true) ||
	    !ctl_jhas(o, "expires", JSON_STRING, true) ||
	    !ctl_jhas(o, "counters", JSON_OBJECT, false) ||
	    !ctl_jhas(o, "rules", JSON_ARRAY, false))
		return "explanation lacks a field or has a wrong type";
	cs = json_object_get(o, "counters");
	for (i = 0; i < IPP_C_MAX; i++)
		if (!ctl_jhas(cs, ipp_counter_name(i), JSON_INTEGER, false) ||
		    ctl_jint(cs, ipp_counter_name(i)) < 0)
			return "explanation has a malformed counter";
	rs = json_object_get(o, "rules");
	for (i = 0; i < json_array_size(rs); i++)
		if (!ip_rule_check(json_array_get(rs, i)))
			return "explanation has a malformed rule";
	return NULL;
}

static const char *
ip_check(const json_t *o, const struct ctl_req *r)
{
	return r->cmd->type == IMSG_IPP_CTL_EXPLAIN ? ip_explain_check(o) :
	    ip_block_check(o);
}

static void
ip_header(void)
{
	printf("%-32s  %-9s  %-17s  %-20s  %s\n", "ADDRESS", "STATE", "KIND",
	    "EXPIRES", "REASON");
}

static void
ip_row(const json_t *o)
{
	const char *exp = ctl_jstr(o, "expires");
	char	 a[128], e[64], why[512];

	printf("%-32s  %-9s  %-17s  %-20s  %s\n",
	    ctl_safe(a, sizeof(a), ctl_jstr(o, "address")),
	    ctl_jstr(o, "state"), ctl_jstr(o, "kind"),
	    exp != NULL ? ctl_safe(e, sizeof(e), exp) : "never",
	    ctl_safe(why, sizeof(why), ctl_jstr(o, "reason")));
}

/* ip_show_rule: one rule of an explanation as a line. */
static void
ip_show_rule(const json_t *r)
{
	char	 k[32];

	printf("  %-7s %-3s window %lld min: total %lld (min %lld), bad %lld "
	    "(rate %lld%%, count %lld) -> %s%s\n",
	    ctl_safe(k, sizeof(k), ctl_jstr(r, "kind")),
	    json_is_true(json_object_get(r, "enabled")) ? "on" : "off",
	    ctl_jint(r, "window_mins"), ctl_jint(r, "total"),
	    ctl_jint(r, "min_total"), ctl_jint(r, "bad"), ctl_jint(r, "rate"),
	    ctl_jint(r, "count"), ctl_jstr(r, "action"),
	    json_is_true(json_object_get(r, "matched")) ? ", MATCHES" : "");
}

/* ip_show: an explanation as a readable block. */
static void
ip_show(const json_t *o)
{
	const json_t	*cs = json_object_get(o, "counters");
	const json_t	*rs = json_object_get(o, "rules");
	const char	*exp = ctl_jstr(o, "expires");
	char		 buf[512];
	size_t		 i;

	printf("%-10s %s\n", "address", ctl_safe(buf, sizeof(buf),
	    ctl_jstr(o, "address")));
	printf("%-10s %s", "state", ctl_jstr(o, "state"));
	if (exp != NULL)
		printf(" until %s", ctl_safe(buf, sizeof(buf), exp));
	printf("\n");
	if (ctl_jstr(o, "reason") != NULL)
		printf("%-10s %s\n", "reason", ctl_safe(buf, sizeof(buf),
		    ctl_jstr(o, "reason")));
	printf("%-10s", "counters");
	for (i = 0; i < IPP_C_MAX; i++)
		printf("%s %s %lld", i == 0 ? "" : ",", ipp_counter_name(i),
		    ctl_jint(cs, ipp_counter_name(i)));
	printf("\nrules\n");
	for (i = 0; i < json_array_size(rs); i++)
		ip_show_rule(json_array_get(rs, i));
}

static void
ip_filters(struct ipc_msg *m, const struct ctl_req *r)
{
	const struct ipcmd *c = r->arg;

	ipc_add_str(m, c->filter);
}

/* ip_args: block: address, permanent, minutes, reason; reload: nothing. */
static void
ip_args(struct ipc_msg *m, const struct ctl_req *r)
{
	const struct ipcmd *c = r->arg;

	if (r->cmd->type == IMSG_CTL_RELOAD)
		return;
	ipc_add_str(m, r->id);
	if (r->cmd->type != IMSG_IPP_CTL_BLOCK)
		return;
	ipc_add_u8(m, c->perm ? 1 : 0);
	ipc_add_u32(m, c->minutes);
	ipc_add_str(m, c->reason);
}

static const struct ctl_view ip_view = {
	.sock = "ipprofiler.sock",
	.daemon = "sekisho-ipprofiler",
	.idkey = "address",
	.filters = ip_filters,
	.args = ip_args,
	.check = ip_check,
	.header = ip_header,
	.row = ip_row,
	.show = ip_show,
};

/*
 * ip_addr_ok: an address or network argument (host: an address only);
 * false after saying what is wrong, e.g. "host bits set (network is
 * 192.0.2.0/24)".
 */
static bool
ip_addr_ok(const char *s, bool host)
{
	struct netaddr	 a;
	enum netaddr_err e;
	char		 net[NETADDR_STRLEN], q[DIAG_QUOTE_MAX];
	unsigned	 i, p;

	e = strlen(s) >= NETADDR_STRLEN ? NETADDR_E_SYNTAX :
	    netaddr_parse(&a, s, strlen(s));
	if (e == NETADDR_OK && (!host || a.plen == 128))
		return true;
	diag_quote(q, sizeof(q), s);
	if (e == NETADDR_OK)
		fprintf(stderr, "sekishoctl: %s: an address, not a network\n",
		    q);
	else if (e == NETADDR_E_HOSTBITS) {
		p = a.plen;
		for (i = p / 8; i < 16; i++)
			a.a[i] = i == p / 8 ? (uint8_t)(a.a[i] &
			    (0xff00u >> (p % 8))) : 0;
		fprintf(stderr, "sekishoctl: %s: %s (network is %s)\n", q,
		    netaddr_strerror(e), netaddr_format(net, sizeof(net), &a) ?
		    net : "?");
	} else
		fprintf(stderr, "sekishoctl: %s: %s\n", q, netaddr_strerror(e));
	return false;
}

/* ip_opts: what follows the command word; 0, or the exit code. */
static int
ip_opts(struct ctl_req *r, struct ipcmd *c, int argc, char **argv)
{
	const char	*word = NULL;
	long long	 v;
	bool		 blk = r->cmd->type == IMSG_IPP_CTL_BLOCK;
	bool		 minutes = false;
	int		 i;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			r->json = true;
		else if (blk && strcmp(argv[i], "--perm") == 0)
			c->perm = true;
		else if (blk && strcmp(argv[i], "--minutes") == 0 &&
		    i + 1 < argc) {
			if (!str_to_ll(argv[++i], 1, IP_MINUTES_MAX, &v)) {
				fprintf(stderr, "sekishoctl: --minutes: a "
				    "number of minutes, 1..%d\n",
				    IP_MINUTES_MAX);
				return 2;
			}
			c->minutes = (uint32_t)v;
			minutes = true;
		} else if (blk && strcmp(argv[i], "--reason") == 0 &&
		    i + 1 < argc) {
			c->reason = argv[++i];
			if (strlen(c->reason) > IPP_REASON_MAX) {
				fprintf(stderr, "sekishoctl: --reason: at most "
				    "%d bytes\n", IPP_REASON_MAX);
				return 2;
			}
		} else if (argv[i][0] == '-' || word != NULL)
			return ip_usage();
		else
			word = argv[i];
	}
	if (c->perm && minutes) {
		fprintf(stderr, "sekishoctl: --perm and --minutes exclude each "
		    "other\n");
		return 2;
	}
	if (r->cmd->type == IMSG_CTL_RELOAD)
		return word == NULL ? 0 : ip_usage();
	if (r->cmd->kind == CTL_LIST) {
		c->filter = word != NULL ? word : "";
		return word == NULL || ip_addr_ok(word, false) ? 0 : 2;
	}
	if (word == NULL)
		return ip_usage();
	r->id = word;
	return ip_addr_ok(word, r->cmd->type == IMSG_IPP_CTL_EXPLAIN) ? 0 : 2;
}

/* cmd_ipprofiler: sekishoctl ipprofiler ...; argv starts after it. */
int
cmd_ipprofiler(const char *confdir, int argc, char **argv, bool json)
{
	static const struct ctl_cmd cmds[] = {
		{ "list", IMSG_IPP_CTL_LIST, CTL_LIST, NULL },
		{ "block", IMSG_IPP_CTL_BLOCK, CTL_ACTION, NULL },
		{ "unblock", IMSG_IPP_CTL_UNBLOCK, CTL_ACTION, NULL },
		{ "explain", IMSG_IPP_CTL_EXPLAIN, CTL_SHOW, NULL },
		{ "reload", IMSG_CTL_RELOAD, CTL_ACTION, NULL },
	};
	struct ipcmd	 c = { .filter = "", .reason = "" };
	struct ctl_req	 r = { .view = &ip_view, .id = "", .arg = &c,
	    .json = json };
	int		 rv;

	if (argc < 1 ||
	    (r.cmd = ctl_cmd_find(cmds, nitems(cmds), argv[0])) == NULL)
		return ip_usage();
	if ((rv = ip_opts(&r, &c, argc - 1, argv + 1)) != 0)
		return rv;
	return ctl_req_run(confdir, &r);
}
