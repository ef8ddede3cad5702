/*
 * ipprofilerd.c: sekisho-ipprofiler, the IP profiler (DESIGN.md section 1,
 * docs/ipprofiler.md).
 *
 * One process, one event loop.  It loads foxdns.ini and its list files,
 * opens its SQLite store (ippstore.c) and loads the blocks in it, listens
 * on <run_dir>/ipprofiler.sock for the queue (IMSG_IPP_CHECK, _EVENT) and
 * for sekishoctl (IMSG_IPP_CTL_*, IMSG_CTL_RELOAD), binds the DNS
 * responder (dnsd.c) when dns_port is set, then drops to ipprofiler_user.
 * The rules (ipprules.c) decide; this file owns the clock: a timer at the
 * next expiry of a temporary block, a coalesced rebuild of the DNSBL zone
 * after changes, a minute tick that forgets idle addresses.
 *
 * SIGHUP (or IMSG_CTL_RELOAD) re-reads the configuration and the lists in
 * this process; an invalid one keeps the running one.  SIGTERM stops.
 * Every client is untrusted: malformed requests drop the connection,
 * wrong arguments get an error result.
 */
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "blzone.h"
#include "conf.h"
#include "daemon.h"
#include "diag.h"
#include "ini.h"
#include "ipc.h"
#include "ipp_proto.h"
#include "ippstore.h"
#include "ipprules.h"
#include "log.h"
#include "privsep.h"
#include "util.h"
#include "xmalloc.h"

#include "dnsd.h"

#define IPPD_MAX_CLIENTS	64
#define IPPD_MAX_REQUEST	(16 * 1024)	/* bytes of one request */
#define IPPD_LIST_OUTQ		(512 * 1024)	/* stream while below */
#define IPPD_LIST_RETRY_MS	10
#define IPPD_ZONE_MIN_MS	200		/* between zone rebuilds */
#define IPPD_PRUNE_SECONDS	60
#define IPPD_ARG_MAX		1024		/* bytes of a string argument */

enum ippd_status {
	IPPD_OK = 0,
	IPPD_REFUSED = 1,	/* not found, or not allowed */
	IPPD_BADREQ = 2,
};

/* A connected queue or sekishoctl. */
struct client {
	TAILQ_ENTRY(client)	 entry;
	struct ipc_chan		*chan;
	unsigned		 id;
	uid_t			 uid;
	/* A listing being streamed (IMSG_IPP_CTL_LIST). */
	struct ipp_ref		*refs;
	size_t			 nrefs, next, sent;
	uint64_t		 list_reqid;
	bool			 listing;
	struct event		*ev_list;
};
TAILQ_HEAD(client_list, client);

static struct {
	struct sekisho_conf	*conf;
	bool			 conf_heap;	/* conf from a reload */
	struct ipp_rules	*rules;
	struct ippstore		*store;
	struct event_base	*base;
	int			 listen_fd;
	struct event		*ev_listen;
	struct event		*ev_sig[3];
	struct event		*ev_expire;
	struct event		*ev_zone;
	struct event		*ev_prune;
	struct client_list	 clients;
	size_t			 nclients;
	unsigned		 next_client;
	uid_t			 queue_uid;
	bool			 zone_pending;
	int64_t			 zone_last_ms;
	struct dnsd		*dnsd;
	char			 sockpath[4096];
	char			 dbpath[4096];
} s;

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * ippd_nfds: our open descriptors, for the reload log line (seed 8: a
 * test reads it where /proc/PID/fd is closed to it); -1 if unknown.
 */
static int
ippd_nfds(void)
{
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;		/* not the directory's own */
}

/* ---- the clock: expiry, zone, prune ------------------------------------ */

/* expiry_arm: the timer at the next expiry of a temporary block. */
static void
expiry_arm(void)
{
	struct timeval	 now, tv;
	int64_t		 next, us;

	if (s.ev_expire == NULL)
		return;
	if ((next = ipp_rules_next_expiry(s.rules)) == 0) {
		evtimer_del(s.ev_expire);
		return;
	}
	gettimeofday(&now, NULL);
	us = next * 1000000 - ((int64_t)now.tv_sec * 1000000 + now.tv_usec);
	if (us < 0)
		us = 0;
	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	evtimer_add(s.ev_expire, &tv);
}

/* expire_cb: temporary blocks whose time came are removed. */
static void
expire_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)ipp_rules_expire(s.rules, (int64_t)time(NULL));
	expiry_arm();
}

/* dns_on: whether a DNS responder runs. */
static bool
dns_on(void)
{
	return s.dnsd != NULL;
}

/* dns_log_stats: what the DNS responder did since it started. */
static void
dns_log_stats(void)
{
	struct dnsd_counters	 c;

	if (s.dnsd == NULL)
		return;
	dnsd_get_counters(s.dnsd, &c);
	log_kv(LOG_LVL_INFO, "event=dns-stats udp_queries=%llu "
	    "tcp_queries=%llu answered=%llu dropped=%llu tcp_accepted=%llu "
	    "tcp_refused=%llu tcp_errors=%llu",
	    (unsigned long long)c.udp_queries,
	    (unsigned long long)c.tcp_queries,
	    (unsigned long long)c.answered, (unsigned long long)c.dropped,
	    (unsigned long long)c.tcp_accepted,
	    (unsigned long long)c.tcp_refused,
	    (unsigned long long)c.tcp_errors);
}

/* zone_build: the DNSBL zone of what is blocked now, to the responder. */
static void
zone_build(void)
{
	struct blzone	*z;

	s.zone_pending = false;
	s.zone_last_ms = now_ms();
	if (s.dnsd == NULL)
		return;
	if ((z = ipp_rules_zone(s.rules, s.conf->foxdns.dns_zone,
	    (int64_t)time(NULL))) == NULL) {
		log_kv(LOG_LVL_ERR, "event=zone-failed zone=%s",
		    s.conf->foxdns.dns_zone);
		return;
	}
	log_kv(LOG_LVL_DEBUG, "event=zone-built entries=%zu",
	    blzone_count(z));
	dnsd_set_zone(s.dnsd, z);
}

static void
zone_cb(evutil_socket_t fd, short ev, void *arg)
{
	zone_build();
}

/*
 * zone_dirty: the blocks changed: rebuild the zone soon, at most once
 * per IPPD_ZONE_MIN_MS however many changes come.
 */
static void
zone_dirty(void)
{
	struct timeval	 tv = { 0, 0 };
	int64_t		 wait;

	if (!dns_on() || s.zone_pending || s.ev_zone == NULL)
		return;
	wait = s.zone_last_ms + IPPD_ZONE_MIN_MS - now_ms();
	if (wait > 0)
		tv.tv_usec = (suseconds_t)(wait * 1000);
	s.zone_pending = true;
	evtimer_add(s.ev_zone, &tv);
}

/* prune_cb: forget addresses whose behaviour left every window. */
static void
prune_cb(evutil_socket_t fd, short ev, void *arg)
{
	size_t	 n;

	if ((n = ipp_rules_prune(s.rules, (int64_t)time(NULL))) > 0)
		log_kv(LOG_LVL_DEBUG, "event=ipp-pruned addresses=%zu "
		    "tracked=%zu", n, ipp_rules_ntracked(s.rules));
}

/* ---- hooks: the store follows the blocks ------------------------------- */

static void
hook_blocked(void *arg, const struct ipp_block *b)
{
	char	 err[512], esc[LOG_ESC_MAX];

	if (s.store != NULL && !ippstore_put(s.store, b, err, sizeof(err)))
		log_kv(LOG_LVL_ERR, "event=ipp-store-failed err=%s",
		    log_esc(esc, sizeof(esc), err));
	expiry_arm();
	zone_dirty();
}

static void
hook_unblocked(void *arg, const struct ipp_block *b)
{
	char	 err[512], esc[LOG_ESC_MAX];

	if (s.store != NULL && !ippstore_del(s.store, &b->addr, err,
	    sizeof(err)))
		log_kv(LOG_LVL_ERR, "event=ipp-store-failed err=%s",
		    log_esc(esc, sizeof(esc), err));
	expiry_arm();
	zone_dirty();
}

/* ---- configuration ------------------------------------------------------ */

/*
 * ippd_rule_line: where foxdns.ini sets the later of [section] k1 and k2
 * (or where the section starts), for the diagnostic; 0 when the file does
 * not say.
 */
static unsigned
ippd_rule_line(const char *path, const char *section, const char *k1,
    const char *k2)
{
	const struct ini_entry	 *e;
	const struct ini_section *sec;
	struct ini		 ini;
	struct diag		 d;
	unsigned		 line = 0;

	diag_init(&d);
	memset(&ini, 0, sizeof(ini));
	if (ini_parse_file(&ini, path, &d) == 0) {
		if ((e = ini_find(&ini, section, k1)) != NULL)
			line = e->line;
		if (k2 != NULL && (e = ini_find(&ini, section, k2)) != NULL &&
		    e->line > line)
			line = e->line;
		if (line == 0 && (sec = ini_section_find(&ini, section)) !=
		    NULL)
			line = sec->line;
	}
	ini_free(&ini);
	diag_free(&d);
	return line;
}

/*
 * ippd_check_rules: what the schema cannot see: a rule that would match
 * everything, a zone name the responder cannot serve.  -1 with errors in d.
 */
static int
ippd_check_rules(const struct sekisho_conf *conf, struct diag *d)
{
	const struct conf_foxdns *f = &conf->foxdns;
	const char	*why;
	struct blzone	*z;
	char		 path[4096];
	size_t		 k;
	int		 rv = 0;

	if (!str_printf(path, sizeof(path), "%s/foxdns.ini", conf->confdir))
		fatalx("ippd_check_rules: confdir too long");
	for (k = 0; k < CONF_IPP_NKINDS; k++) {
		if ((why = ipp_rule_problem(&f->rule[k])) == NULL)
			continue;
		diag_add(d, DIAG_ERROR, path, ippd_rule_line(path,
		    ipp_kind_name((enum ipp_kind)k), "rate", "count"),
		    "[%s] %s",
		    ipp_kind_name((enum ipp_kind)k), why);
		rv = -1;
	}
	if (f->dns_port != 0) {
		if ((z = blzone_new(f->dns_zone)) == NULL) {
			diag_add(d, DIAG_ERROR, path, ippd_rule_line(path,
			    "foxdns", "dns_zone", NULL), "[foxdns] dns_zone: "
			    "\"%s\" cannot be served (letters, digits, '-' "
			    "and dots, at most 200 bytes)", f->dns_zone);
			rv = -1;
		}
		blzone_free(z);
	}
	return rv;
}

/*
 * ippd_check: daemon_check_fn (also -n): the rules, and the list files
 * must load (each problem as file:line).
 */
static int
ippd_check(const struct sekisho_conf *conf, struct diag *d)
{
	struct ipp_lists *l;
	int		 rv = ippd_check_rules(conf, d);

	if ((l = ipp_lists_load(&conf->foxdns, d)) == NULL)
		return -1;
	ipp_lists_free(l);
	return rv;
}

/* ippd_dns_changed: whether the responder's addresses or port differ. */
static bool
ippd_dns_changed(const struct conf_foxdns *a, const struct conf_foxdns *b)
{
	size_t	 i;

	if (a->dns_port != b->dns_port || a->dns_address.n != b->dns_address.n)
		return true;
	for (i = 0; i < a->dns_address.n; i++)
		if (strcmp(a->dns_address.v[i].text, b->dns_address.v[i].text))
			return true;
	return false;
}

/*
 * ippd_dns_reload: the responder of nc, when its addresses changed; true
 * when a new one runs (it has no zone yet).
 */
static bool
ippd_dns_reload(const struct sekisho_conf *nc)
{
	struct dnsd	*nd;
	char		 err[512], esc[LOG_ESC_MAX];

	if (!ippd_dns_changed(&s.conf->foxdns, &nc->foxdns))
		return false;
	if (nc->foxdns.dns_port == 0) {
		dnsd_free(s.dnsd);
		s.dnsd = NULL;
		log_kv(LOG_LVL_INFO, "event=dns-stopped");
		return false;
	}
	if ((nd = dnsd_bind(&nc->foxdns.dns_address, (int)nc->foxdns.dns_port,
	    err, sizeof(err))) == NULL) {
		log_kv(LOG_LVL_ERR, "event=dns-rebind-failed err=%s "
		    "detail=\"the responder keeps its old addresses; a "
		    "restart binds the new ones\"",
		    log_esc(esc, sizeof(esc), err));
		return false;
	}
	dns_log_stats();
	dnsd_free(s.dnsd);
	s.dnsd = nd;
	dnsd_start(s.dnsd, s.base);
	log_kv(LOG_LVL_INFO, "event=dns-rebound port=%lld",
	    nc->foxdns.dns_port);
	return true;
}

/*
 * reload: foxdns.ini (and the rest of the configuration) and the list
 * files again, in this process.  An invalid configuration changes
 * nothing; its first error in err.  true when the new one is in force.
 */
static bool
reload(char *err, size_t errlen)
{
	struct sekisho_conf	*nc;
	struct ipp_lists	*nl = NULL;
	struct diag		 d;
	char			 esc[LOG_ESC_MAX];
	size_t			 i;
	bool			 new_dns;

	nc = xcalloc(1, sizeof(*nc));
	diag_init(&d);
	if (conf_load(s.conf->confdir, nc, &d) == -1 || d.nerrors > 0 ||
	    ippd_check_rules(nc, &d) == -1 ||
	    (nl = ipp_lists_load(&nc->foxdns, &d)) == NULL) {
		for (i = 0; i < d.nitems; i++)
			if (d.items[i].sev == DIAG_ERROR)
				log_kv(LOG_LVL_ERR, "event=reload-error err=%s",
				    log_esc(esc, sizeof(esc), d.items[i].text));
		log_kv(LOG_LVL_ERR, "event=reload-failed errors=%zu "
		    "detail=\"the running configuration stays\"", d.nerrors);
		for (i = 0; i < d.nitems && d.items[i].sev != DIAG_ERROR; i++)
			;
		(void)str_printf(err, errlen, "configuration invalid (%zu "
		    "error%s; the running configuration stays): %s",
		    d.nerrors, d.nerrors == 1 ? "" : "s", i < d.nitems ?
		    d.items[i].text : "see the log");
		ipp_lists_free(nl);
		conf_free(nc);
		free(nc);
		diag_free(&d);
		return false;
	}
	diag_free(&d);
	if (strcmp(nc->imss.run_dir, s.conf->imss.run_dir) != 0 ||
	    strcmp(nc->imss.ipprofiler_user, s.conf->imss.ipprofiler_user) !=
	    0 || strcmp(nc->foxdns.database, s.conf->foxdns.database) != 0 ||
	    strcmp(nc->imss.data_dir, s.conf->imss.data_dir) != 0)
		log_kv(LOG_LVL_WARN, "event=reload-partial detail=\"run_dir, "
		    "data_dir, database and ipprofiler_user change at the next "
		    "start\"");
	new_dns = ippd_dns_reload(nc);
	ipp_rules_configure(s.rules, &nc->foxdns, nl);
	conf_free(s.conf);
	if (s.conf_heap)
		free(s.conf);
	s.conf = nc;
	s.conf_heap = true;
	if (new_dns)
		zone_build();
	else
		zone_dirty();
	log_kv(LOG_LVL_INFO, "event=reloaded blocks=%zu tracked=%zu fds=%d",
	    ipp_rules_nblocks(s.rules), ipp_rules_ntracked(s.rules),
	    ippd_nfds());
	(void)str_printf(err, errlen, "reloaded");
	return true;
}

/* ---- clients ------------------------------------------------------------ */

static void
client_free(struct client *c)
{
	TAILQ_REMOVE(&s.clients, c, entry);
	s.nclients--;
	if (c->ev_list != NULL)
		event_free(c->ev_list);
	free(c->refs);
	ipc_chan_free(c->chan);
	free(c);
}

static void
client_closed(struct ipc_chan *ch, enum ipc_close why, void *arg)
{
	struct client	*c = arg;

	log_kv(why == IPC_CLOSE_EOF ? LOG_LVL_DEBUG : LOG_LVL_WARN,
	    "event=client-closed client=%u why=%s", c->id,
	    ipc_close_name(why));
	client_free(c);
}

/* send_result: the IMSG_CTL_RESULT that ends a control request. */
static void
send_result(struct client *c, uint64_t reqid, enum ippd_status st,
    const char *text)
{
	struct ipc_msg	*m = ipc_msg_new(IMSG_CTL_RESULT, 0);

	ipc_add_u64(m, reqid);
	ipc_add_u32(m, (uint32_t)st);
	ipc_add_str(m, text);
	(void)ipc_chan_send(c->chan, m);
}

/* send_entry: one JSON object as IMSG_QUEUE_CTL_ENTRY (o is released). */
static void
send_entry(struct client *c, uint64_t reqid, json_t *o)
{
	struct ipc_msg	*m;
	char		*text;

	if ((text = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("send_entry: json_dumps");
	json_decref(o);
	m = ipc_msg_new(IMSG_QUEUE_CTL_ENTRY, 0);
	ipc_add_u64(m, reqid);
	ipc_add_str(m, text);
	(void)ipc_chan_send(c->chan, m);
	free(text);
}

/*
 * ctl_addr: an address or network argument (host_only: an address) into
 * *a; false when it is not one, with the error result sent.
 */
static bool
ctl_addr(struct client *c, uint64_t reqid, const char *text,
    struct netaddr *a, bool host_only)
{
	char	 err[160], msg[400], esc[DIAG_QUOTE_MAX];

	if (ipp_addr_parse(a, text, err, sizeof(err)) == NULL) {
		if (!host_only || a->plen == 128)
			return true;
		str_lcpy(err, "an address, not a network", sizeof(err));
	}
	(void)str_printf(msg, sizeof(msg), "%s: %s", diag_quote(esc,
	    sizeof(esc), text), err);
	send_result(c, reqid, IPPD_BADREQ, msg);
	return false;
}

/* list_step: send the next entries of a listing while the peer reads. */
static void
list_step(evutil_socket_t fd, short ev, void *arg)
{
	struct client	*c = arg;
	struct timeval	 tv = { 0, IPPD_LIST_RETRY_MS * 1000 };
	struct ipp_block b;
	char		 text[64];
	int64_t		 now = (int64_t)time(NULL);

	while (c->next < c->nrefs) {
		if (ipc_chan_outq_len(c->chan) > IPPD_LIST_OUTQ) {
			evtimer_add(c->ev_list, &tv);
			return;
		}
		if (ipp_rules_ref_get(s.rules, &c->refs[c->next++], now, &b)) {
			send_entry(c, c->list_reqid, ipp_block_json(&b));
			c->sent++;
		}
	}
	free(c->refs);
	c->refs = NULL;
	c->nrefs = c->next = 0;
	c->listing = false;
	(void)str_printf(text, sizeof(text), "%zu block%s", c->sent,
	    c->sent == 1 ? "" : "s");
	send_result(c, c->list_reqid, IPPD_OK, text);
}

/* ctl_list: IMSG_IPP_CTL_LIST: the blocks, streamed; false: malformed. */
static bool
ctl_list(struct client *c, struct ipc_msg_in *m)
{
	struct netaddr	 filter;
	uint64_t	 reqid;
	char		 arg[IPPD_ARG_MAX];

	if (!ipc_get_u64(m, &reqid) || !ipc_get_str(m, arg, sizeof(arg)) ||
	    !ipc_end(m))
		return false;
	if (c->listing) {
		send_result(c, reqid, IPPD_BADREQ, "one listing at a time");
		return true;
	}
	if (arg[0] != '\0' && !ctl_addr(c, reqid, arg, &filter, false))
		return true;
	c->nrefs = ipp_rules_snapshot(s.rules, arg[0] != '\0' ? &filter :
	    NULL, &c->refs);
	c->next = c->sent = 0;
	c->list_reqid = reqid;
	c->listing = true;
	if (c->ev_list == NULL &&
	    (c->ev_list = evtimer_new(s.base, list_step, c)) == NULL)
		fatalx("ctl_list: evtimer_new");
	list_step(-1, 0, c);
	return true;
}

/* ctl_block_args: the arguments of a block; false when one is bad (sent). */
static bool
ctl_block_args(struct client *c, uint64_t reqid, const char *reason,
    uint8_t perm, uint32_t minutes)
{
	const char	*bad = NULL;
	char		 msg[200];

	if (perm > 1)
		bad = "bad permanent flag";
	else if (perm && minutes != 0)
		bad = "a permanent block has no minutes";
	else if (minutes > IPP_MINUTES_MAX) {
		(void)str_printf(msg, sizeof(msg), "minutes: at most %d "
		    "(10 years)", IPP_MINUTES_MAX);
		bad = msg;
	} else if (!ipp_reason_ok(reason)) {
		(void)str_printf(msg, sizeof(msg), "reason: UTF-8 text without "
		    "control characters, at most %d bytes", IPP_REASON_MAX);
		bad = msg;
	}
	if (bad != NULL)
		send_result(c, reqid, IPPD_BADREQ, bad);
	return bad == NULL;
}

/* ctl_block: IMSG_IPP_CTL_BLOCK; false: malformed. */
static bool
ctl_block(struct client *c, struct ipc_msg_in *m)
{
	struct ipp_block b;
	uint64_t	 reqid;
	uint32_t	 minutes;
	uint8_t		 perm;
	char		 addr[IPPD_ARG_MAX], reason[IPPD_ARG_MAX];
	char		 ip[NETADDR_STRLEN], exp[32], text[300];
	int64_t		 now = (int64_t)time(NULL);

	if (!ipc_get_u64(m, &reqid) || !ipc_get_str(m, addr, sizeof(addr)) ||
	    !ipc_get_u8(m, &perm) || !ipc_get_u32(m, &minutes) ||
	    !ipc_get_str(m, reason, sizeof(reason)) || !ipc_end(m))
		return false;
	memset(&b, 0, sizeof(b));
	if (!ctl_addr(c, reqid, addr, &b.addr, false) ||
	    !ctl_block_args(c, reqid, reason, perm, minutes))
		return true;
	b.permanent = perm != 0;
	b.kind = IPP_K_ADMIN;
	b.created = now;
	b.expires = b.permanent ? 0 : now + 60 * (int64_t)(minutes != 0 ?
	    minutes : (uint32_t)s.conf->foxdns.keep_tempblocked_mins);
	str_lcpy(b.reason, reason[0] != '\0' ? reason :
	    "blocked by the administrator", sizeof(b.reason));
	(void)netaddr_format(ip, sizeof(ip), &b.addr);
	log_kv(LOG_LVL_INFO, "event=ipp-ctl-block client=%u uid=%u ip=%s",
	    c->id, (unsigned)c->uid, ip);
	ipp_rules_block(s.rules, &b);
	ipp_time_iso(exp, sizeof(exp), b.expires);
	(void)str_printf(text, sizeof(text), "%s blocked %s%s%s", ip,
	    b.permanent ? "permanently" : "until ", b.permanent ? "" : exp,
	    ipp_rules_approved(s.rules, &b.addr) ? " (but approved_ips or "
	    "approved_list_file lists it, and approval wins)" : "");
	send_result(c, reqid, IPPD_OK, text);
	return true;
}

/* ctl_unblock: IMSG_IPP_CTL_UNBLOCK; false: malformed. */
static bool
ctl_unblock(struct client *c, struct ipc_msg_in *m)
{
	struct netaddr	 a;
	uint64_t	 reqid;
	char		 addr[IPPD_ARG_MAX], ip[NETADDR_STRLEN], text[300];

	if (!ipc_get_u64(m, &reqid) || !ipc_get_str(m, addr, sizeof(addr)) ||
	    !ipc_end(m))
		return false;
	if (!ctl_addr(c, reqid, addr, &a, false))
		return true;
	(void)netaddr_format(ip, sizeof(ip), &a);
	log_kv(LOG_LVL_INFO, "event=ipp-ctl-unblock client=%u uid=%u ip=%s",
	    c->id, (unsigned)c->uid, ip);
	switch (ipp_rules_unblock(s.rules, &a)) {
	case IPP_UNBLOCK_OK:
		(void)str_printf(text, sizeof(text), "%s unblocked", ip);
		send_result(c, reqid, IPPD_OK, text);
		break;
	case IPP_UNBLOCK_LISTED:
		(void)str_printf(text, sizeof(text), "%s is listed in "
		    "blocked_ips or blocked_list_file: edit foxdns.ini (or the "
		    "list file) and reload", ip);
		send_result(c, reqid, IPPD_REFUSED, text);
		break;
	default:
		(void)str_printf(text, sizeof(text), "%s: no such block "
		    "(sekishoctl ipprofiler list shows them)", ip);
		send_result(c, reqid, IPPD_REFUSED, text);
		break;
	}
	return true;
}

/* ctl_explain: IMSG_IPP_CTL_EXPLAIN; false: malformed. */
static bool
ctl_explain(struct client *c, struct ipc_msg_in *m)
{
	struct netaddr	 a;
	uint64_t	 reqid;
	char		 addr[IPPD_ARG_MAX];

	if (!ipc_get_u64(m, &reqid) || !ipc_get_str(m, addr, sizeof(addr)) ||
	    !ipc_end(m))
		return false;
	if (!ctl_addr(c, reqid, addr, &a, true))
		return true;
	send_entry(c, reqid, ipp_rules_explain(s.rules, &a,
	    (int64_t)time(NULL)));
	send_result(c, reqid, IPPD_OK, "ok");
	return true;
}

/* ipp_check: IMSG_IPP_CHECK from the queue; false: malformed. */
static bool
ipp_check(struct client *c, struct ipc_msg_in *m)
{
	struct ipp_verdict v;
	struct ipc_msg	*out;
	struct netaddr	 a;
	uint64_t	 reqid;
	char		 ip[IPP_IP_MAX];

	if (!ipc_get_u64(m, &reqid) || !ipc_get_str(m, ip, sizeof(ip)) ||
	    !ipc_end(m) || !ipp_ip_parse(&a, ip))
		return false;
	ipp_rules_verdict(s.rules, &a, (int64_t)time(NULL), &v);
	out = ipc_msg_new(IMSG_IPP_VERDICT, 0);
	ipc_add_u64(out, reqid);
	ipp_verdict_encode(out, &v);
	(void)ipc_chan_send(c->chan, out);
	return true;
}

/* client_dispatch: one request from a queue or sekishoctl. */
static void
client_dispatch(struct ipc_chan *ch, struct ipc_msg_in *m, void *arg)
{
	struct client	*c = arg;
	struct ipp_event e;
	uint64_t	 reqid;
	char		 text[1024];
	bool		 ok = false, done;

	if (m->fd == -1) {
		switch (m->type) {
		case IMSG_IPP_CHECK:
			ok = ipp_check(c, m);
			break;
		case IMSG_IPP_EVENT:
			if ((ok = ipp_event_decode(m, &e)))
				ipp_rules_event(s.rules, &e,
				    (int64_t)time(NULL));
			break;
		case IMSG_IPP_CTL_LIST:
			ok = ctl_list(c, m);
			break;
		case IMSG_IPP_CTL_BLOCK:
			ok = ctl_block(c, m);
			break;
		case IMSG_IPP_CTL_UNBLOCK:
			ok = ctl_unblock(c, m);
			break;
		case IMSG_IPP_CTL_EXPLAIN:
			ok = ctl_explain(c, m);
			break;
		case IMSG_CTL_RELOAD:
			if ((ok = ipc_get_u64(m, &reqid) && ipc_end(m))) {
				done = reload(text, sizeof(text));
				send_result(c, reqid, done ? IPPD_OK :
				    IPPD_REFUSED, text);
			}
			break;
		}
	}
	if (ok)
		return;
	log_kv(LOG_LVL_ERR, "event=client-protocol client=%u uid=%u type=%s",
	    c->id, (unsigned)c->uid, ipc_type_name(m->type));
	client_free(c);
}

/* listen_cb: a queue or sekishoctl connects. */
static void
listen_cb(evutil_socket_t lfd, short ev, void *arg)
{
	struct client	*c;
	uid_t		 uid;
	pid_t		 pid;
	int		 fd;

	if ((fd = ipc_accept_peer(lfd, s.queue_uid, &uid, &pid)) == -1)
		return;
	if (s.nclients >= IPPD_MAX_CLIENTS) {
		log_kv(LOG_LVL_WARN, "event=client-refused uid=%ld pid=%ld "
		    "reason=too-many-clients", (long)uid, (long)pid);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->id = ++s.next_client;
	c->uid = uid;
	c->chan = ipc_chan_new(s.base, fd, IPPD_MAX_REQUEST, client_dispatch,
	    client_closed, c);
	ipc_chan_set_name(c->chan, "client");
	TAILQ_INSERT_TAIL(&s.clients, c, entry);
	s.nclients++;
	log_kv(LOG_LVL_DEBUG, "event=client-connected client=%u uid=%ld "
	    "pid=%ld", c->id, (long)uid, (long)pid);
}

/* signal_cb: SIGHUP reloads; SIGTERM and SIGINT stop. */
static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	char	 text[1024];

	if (sig == SIGHUP) {
		(void)reload(text, sizeof(text));
		return;
	}
	log_kv(LOG_LVL_INFO, "event=stopping signal=%d", (int)sig);
	event_base_loopexit(s.base, NULL);
}

/* ---- start -------------------------------------------------------------- */

/* ippd_socket: <run_dir>/ipprofiler.sock for the queue's user. */
static void
ippd_socket(void)
{
	const struct sekisho_conf *c = s.conf;

	if (!str_printf(s.sockpath, sizeof(s.sockpath), "%s/ipprofiler.sock",
	    c->imss.run_dir))
		fatalx("ippd_socket: run_dir too long");
	s.listen_fd = ipc_listen_service(s.sockpath, c->imss.ipprofiler_user,
	    c->imss.queue_user, &s.queue_uid);
}

/* ippd_chown: path to the profiler's user (when we are root). */
static void
ippd_chown(const char *path, const struct passwd *pw, bool must)
{
	if (pw == NULL)
		return;
	if (chown(path, pw->pw_uid, pw->pw_gid) == -1 &&
	    (must || errno != ENOENT))
		fatal("ippd_store_dir: chown %s", path);
}

/*
 * ippd_store_dir: the database path; its default directory
 * <data_dir>/ipprofiler is created 0700 and, as root, given (with the
 * database files in it) to ipprofiler_user.
 */
static void
ippd_store_dir(void)
{
	const struct sekisho_conf *c = s.conf;
	struct passwd	*pw = NULL;
	char		 dir[4096], f[4200];

	if (geteuid() == 0 &&
	    (pw = getpwnam(c->imss.ipprofiler_user)) == NULL)
		fatalx("ippd_store_dir: no user %s", c->imss.ipprofiler_user);
	if (c->foxdns.database[0] != '\0') {
		str_lcpy(s.dbpath, c->foxdns.database, sizeof(s.dbpath));
	} else {
		if (!str_printf(dir, sizeof(dir), "%s/ipprofiler",
		    c->imss.data_dir) ||
		    !str_printf(s.dbpath, sizeof(s.dbpath),
		    "%s/ipprofiler.db", dir))
			fatalx("ippd_store_dir: data_dir too long");
		if (mkdir(c->imss.data_dir, 0755) == -1 && errno != EEXIST)
			fatal("ippd_store_dir: %s", c->imss.data_dir);
		if (mkdir(dir, 0700) == -1 && errno != EEXIST)
			fatal("ippd_store_dir: %s", dir);
		ippd_chown(dir, pw, true);
		if (chmod(dir, 0700) == -1)
			fatal("ippd_store_dir: chmod %s", dir);
	}
	ippd_chown(s.dbpath, pw, false);
	(void)str_printf(f, sizeof(f), "%s-wal", s.dbpath);
	ippd_chown(f, pw, false);
	(void)str_printf(f, sizeof(f), "%s-shm", s.dbpath);
	ippd_chown(f, pw, false);
}

static void
ippd_restore(void *arg, const struct ipp_block *b)
{
	ipp_rules_restore(s.rules, b);
}

/* ippd_load: the lists and the stored blocks (as the profiler's user). */
static void
ippd_load(void)
{
	struct ipp_lists *l;
	struct diag	 d;
	char		 err[1024];
	size_t		 nloaded, npurged;

	diag_init(&d);
	if ((l = ipp_lists_load(&s.conf->foxdns, &d)) == NULL) {
		diag_print(&d, stderr);
		fatalx("ippd_load: %s", d.nitems > 0 ? d.items[0].text :
		    "the list files do not load");
	}
	diag_free(&d);
	ipp_rules_configure(s.rules, &s.conf->foxdns, l);
	if ((s.store = ippstore_open(s.dbpath, err, sizeof(err))) == NULL)
		fatalx("ippd_load: %s", err);
	if (!ippstore_load(s.store, (int64_t)time(NULL), ippd_restore, NULL,
	    &nloaded, &npurged, err, sizeof(err)))
		fatalx("ippd_load: %s", err);
	log_kv(LOG_LVL_INFO, "event=ipp-store-loaded path=%s blocks=%zu "
	    "expired=%zu", s.dbpath, nloaded, npurged);
}

/* ippd_events: the loop's signals, timers and listener. */
static void
ippd_events(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	struct timeval	 prune_tv = { IPPD_PRUNE_SECONDS, 0 };
	size_t		 i;

	if ((s.base = event_base_new()) == NULL)
		fatalx("ippd_events: event_base_new");
	for (i = 0; i < nitems(sigs); i++) {
		s.ev_sig[i] = evsignal_new(s.base, sigs[i], signal_cb, NULL);
		if (s.ev_sig[i] == NULL || evsignal_add(s.ev_sig[i], NULL))
			fatalx("ippd_events: signal %d", sigs[i]);
	}
	s.ev_expire = evtimer_new(s.base, expire_cb, NULL);
	s.ev_zone = evtimer_new(s.base, zone_cb, NULL);
	s.ev_prune = event_new(s.base, -1, EV_PERSIST, prune_cb, NULL);
	s.ev_listen = event_new(s.base, s.listen_fd, EV_READ | EV_PERSIST,
	    listen_cb, NULL);
	if (s.ev_expire == NULL || s.ev_zone == NULL || s.ev_prune == NULL ||
	    s.ev_listen == NULL || event_add(s.ev_prune, &prune_tv) == -1 ||
	    event_add(s.ev_listen, NULL) == -1)
		fatalx("ippd_events: events");
}

/* ippd_stop: release everything (leak checkers see a clean exit). */
static void
ippd_stop(void)
{
	size_t	 i;

	while (!TAILQ_EMPTY(&s.clients))
		client_free(TAILQ_FIRST(&s.clients));
	dns_log_stats();
	dnsd_free(s.dnsd);
	for (i = 0; i < nitems(s.ev_sig); i++)
		event_free(s.ev_sig[i]);
	event_free(s.ev_listen);
	event_free(s.ev_expire);
	event_free(s.ev_zone);
	event_free(s.ev_prune);
	event_base_free(s.base);
	close(s.listen_fd);
	(void)unlink(s.sockpath);
	ippstore_close(s.store);
	ipp_rules_free(s.rules);
	conf_free(s.conf);
	if (s.conf_heap)
		free(s.conf);
}

int
main(int argc, char **argv)
{
	static struct sekisho_conf conf;
	static const struct ipp_hooks hooks = { hook_blocked, hook_unblocked,
	    NULL };
	struct daemon_opts	 opts;
	char			 err[512];

	daemon_getopt(argc, argv, "sekisho-ipprofiler", &opts);
	daemon_config(&opts, &conf, ippd_check);
	s.conf = &conf;
	TAILQ_INIT(&s.clients);
	daemon_start(&opts, &conf);
	s.rules = ipp_rules_new(&hooks);
	ippd_store_dir();
	ippd_socket();
	/* Port 53 needs root: bound before the drop. */
	if (conf.foxdns.dns_port != 0 && (s.dnsd = dnsd_bind(
	    &conf.foxdns.dns_address, (int)conf.foxdns.dns_port, err,
	    sizeof(err))) == NULL)
		fatalx("main: DNS responder: %s", err);
	privsep_drop(conf.imss.ipprofiler_user, NULL);
	ippd_load();
	ippd_events();
	if (s.dnsd != NULL)
		dnsd_start(s.dnsd, s.base);
	zone_build();
	(void)ipp_rules_expire(s.rules, (int64_t)time(NULL));
	expiry_arm();
	log_kv(LOG_LVL_INFO, "event=ipprofiler-ready socket=%s blocks=%zu "
	    "dns_port=%lld", s.sockpath, ipp_rules_nblocks(s.rules),
	    conf.foxdns.dns_port);
	event_base_dispatch(s.base);
	ippd_stop();
	log_kv(LOG_LVL_INFO, "event=exit status=0");
	daemon_pidfile_remove();
	return 0;
}
