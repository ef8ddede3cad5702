/*
 * scannerd.c: sekisho-scanner, the scan server (DESIGN.md section 1,
 * docs/scanner.md).
 *
 * The parent loads the configuration, the policy and the MIME engines
 * once, listens on <run_dir>/scanner.sock for the queue, drops to
 * scanner_user and forks the workers (one per core by default), which
 * share what it loaded.  It hands each request to an idle worker and
 * relays the answer.  A worker scans one message at a time under a CPU
 * limit (RLIMIT_CPU, reset before each scan), an address-space limit
 * (RLIMIT_AS) and the parent's wall-clock timer; a worker that dies or is
 * killed yields SCAN_STATUS_FAILED with the reason, and a new worker
 * takes its place (seed 27).  Workers run with NoNewPrivs and a seccomp
 * filter: no exec, no network sockets, no ptrace, no mounts.
 */
#include <sys/prctl.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <seccomp.h>

#include "auth.h"
#include "av.h"
#include "dcache.h"
#include "dns.h"
#include "conf.h"
#include "daemon.h"
#include "diag.h"
#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "mime.h"
#include "netc.h"
#include "policy.h"
#include "privsep.h"
#include "scan_proto.h"
#include "scanjob.h"
#include "spampkg.h"
#include "util.h"
#include "wdns.h"
#include "xmalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define SCANNERD_ASAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SCANNERD_ASAN	1
#endif
#endif

#define SCANNERD_MAX_REQUEST	(ENVELOPE_MAX_SIZE + 1024)
#define SCANNERD_MAX_CLIENTS	16
#define SCANNERD_MAX_QUEUED	4096	/* requests waiting for a worker */
#define SCANNERD_AVCHECK_SECONDS 60	/* look for new signatures */
#define SCANNERD_DNS_INFLIGHT	256	/* DNS questions of one worker */
#define SCANNERD_DNS_CACHE	50000	/* answers kept for the workers */
#define SCANNERD_DNS_NEG_MAX	60	/* seconds a negative answer is kept */

#ifndef SEKISHO_VERSION
#define SEKISHO_VERSION	"unknown"
#endif

/* A request from the queue. */
struct sjob {
	TAILQ_ENTRY(sjob)	 entry;
	struct client		*client;	/* NULL: the client left */
	uint64_t		 reqid;		/* the client's */
	uint64_t		 id;		/* ours, towards the worker */
	int			 outfd, infd;
	void			*env;
	size_t			 envlen;
};
TAILQ_HEAD(sjob_list, sjob);

/* A connected queue. */
struct client {
	TAILQ_ENTRY(client)	 entry;
	struct ipc_chan		*chan;
	int			 fd;
	uint64_t		 out_reqid;	/* IMSG_SCAN_OUTPUT waiting */
	int			 out_fd;	/* for its request, or -1 */
};
TAILQ_HEAD(client_list, client);

/* A DNS question of a worker, being resolved by the parent. */
struct dnsq {
	TAILQ_ENTRY(dnsq)	 entry;
	struct worker		*w;
	uint64_t		 qid;		/* the worker's */
	uint64_t		 id;		/* dns_query()'s */
	enum dns_type		 type;
	char			 name[256];	/* as asked (the cache key) */
};
TAILQ_HEAD(dnsq_list, dnsq);

struct worker {
	pid_t			 pid;		/* 0: slot empty */
	struct dnsq_list	 dnsqs;		/* its questions in flight */
	size_t			 ndnsq;
	struct ipc_chan		*chan;
	int			 fd;
	struct sjob		*job;
	struct event		*ev_timeout;
	bool			 timed_out;
	bool			 retire;	/* reload: stop after this job */
	time_t			 started;
};

static struct {
	struct sekisho_conf	*conf;
	struct policy		*policy;
	struct av_engine	*av;		/* NULL: antivirus off */
	struct spam_rules	*spam;		/* NULL: antispam off */
	struct dns		*dns;		/* resolver for the workers */
	bool			 auth_ready;	/* auth_init done */
	struct dcache		*dcache;
	struct wdns		 wdns;		/* a worker's way to it */
	struct spampkg		 spam_pkg;	/* the package it came from */
	struct netc_addr	 rspamd;	/* [antispam] rspamd_address */
	bool			 rspamd_on;
	struct event		*ev_avcheck;	/* new signatures on disk */
	struct scanjob_ctx	 cx;
	struct event_base	*base;
	int			 listen_fd;
	struct event		*ev_listen;
	struct event		*ev_sig[4];
	struct event		*ev_respawn;
	struct client_list	 clients;
	size_t			 nclients;
	struct sjob_list	 pending;
	size_t			 npending;
	struct worker		*workers;
	size_t			 nworkers;
	uint64_t		 next_id;
	uint64_t		 nscanned;	/* answers relayed */
	uint64_t		 nfailed;	/* scans a worker died in */
	time_t			 started;
	time_t			 loaded;	/* policy and engine, last */
	uid_t			 queue_uid;
	int			 tmpl_fd;
	bool			 conf_heap;	/* s.conf from a reload */
	bool			 stopping;
} s;

static void	worker_spawn(struct worker *);
static void	worker_close_inet(void);
static void	dispatch(void);

/* job_free: a request and its descriptors. */
static void
job_free(struct sjob *j)
{
	if (j->outfd != -1)
		close(j->outfd);
	if (j->infd != -1)
		close(j->infd);
	free(j->env);
	free(j);
}

/* reply_failed: tell the client that its request failed, and why. */
static void
reply_failed(struct sjob *j, const char *why)
{
	struct scan_reply r;
	struct ipc_msg	*m;

	if (j->client == NULL)
		return;
	memset(&r, 0, sizeof(r));
	scan_reply_fail(&r, why);
	m = ipc_msg_new(IMSG_SCAN_RESULT, 0);
	ipc_add_u64(m, j->reqid);
	scan_reply_encode(m, &r);
	ipc_chan_send(j->client->chan, m);
	scan_reply_clear(&r);
}

/* client_free: a queue went away; its queued requests go with it. */
static void
client_free(struct client *c)
{
	struct sjob	*j, *next;
	size_t		 i;

	for (j = TAILQ_FIRST(&s.pending); j != NULL; j = next) {
		next = TAILQ_NEXT(j, entry);
		if (j->client == c) {
			TAILQ_REMOVE(&s.pending, j, entry);
			s.npending--;
			job_free(j);
		}
	}
	for (i = 0; i < s.nworkers; i++)
		if (s.workers[i].job != NULL && s.workers[i].job->client == c)
			s.workers[i].job->client = NULL;
	if (c->out_fd != -1)
		close(c->out_fd);
	TAILQ_REMOVE(&s.clients, c, entry);
	s.nclients--;
	ipc_chan_free(c->chan);
	free(c);
}

/* client_closed: ipc_closed_cb of a queue's connection. */
static void
client_closed(struct ipc_chan *ch, enum ipc_close why, void *arg)
{
	struct client *c = arg;

	log_kv(why == IPC_CLOSE_EOF ? LOG_LVL_INFO : LOG_LVL_WARN,
	    "event=client-closed why=%s", ipc_close_name(why));
	client_free(c);
}

/*
 * status_send: the scanner's state as one JSON object (IMSG_SCAN_STATUS,
 * for sekishoctl; docs/sekishoctl.md "scanner status").
 */
static void
status_send(struct client *c, uint64_t reqid)
{
	const struct conf_policy *p = &s.conf->policy;
	struct ipc_msg	*m;
	json_t		*o, *av = NULL, *spam = NULL;
	char		*text;
	size_t		 i, running = 0, busy = 0;

	for (i = 0; i < s.nworkers; i++) {
		running += s.workers[i].pid != 0;
		busy += s.workers[i].job != NULL;
	}
	if (s.av != NULL && (av = json_pack("{s:s, s:s, s:I, s:s, s:I}",
	    "engine", p->av_engine == CONF_AV_CLAMD ? "clamd" : "libclamav",
	    "version", av_version(s.av),
	    "signatures", (json_int_t)av_signatures(s.av),
	    "database", p->av_engine == CONF_AV_CLAMD ? p->av_clamd_address :
	    p->av_database_dir, "loaded", (json_int_t)s.loaded)) == NULL)
		fatalx("status_send: json_pack");
	if (s.spam != NULL && (spam = json_pack("{s:s, s:I, s:s, s:s}",
	    "version", s.spam_pkg.v.text,
	    "rules", (json_int_t)spam_rules_count(s.spam),
	    "package_dir", p->spam_package_dir,
	    "rspamd", p->spam_rspamd == CONF_RSPAMD_COMBINE ? "combine" :
	    p->spam_rspamd == CONF_RSPAMD_ONLY ? "only" : "off")) == NULL)
		fatalx("status_send: json_pack");
	if ((o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	    "s:I, s:I, s:o, s:o}", "version", SEKISHO_VERSION,
	    "pid", (json_int_t)getpid(),
	    "started", (json_int_t)s.started,
	    "loaded", (json_int_t)s.loaded,
	    "rules", (json_int_t)policy_nrules(s.policy),
	    "workers", (json_int_t)s.nworkers,
	    "running", (json_int_t)running,
	    "busy", (json_int_t)busy,
	    "waiting", (json_int_t)s.npending,
	    "scanned", (json_int_t)s.nscanned,
	    "failed", (json_int_t)s.nfailed,
	    "antivirus", av != NULL ? av : json_null(),
	    "antispam", spam != NULL ? spam : json_null())) == NULL ||
	    (text = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("status_send: json");
	json_decref(o);
	m = ipc_msg_new(IMSG_QUEUE_CTL_ENTRY, 0);
	ipc_add_u64(m, reqid);
	ipc_add_str(m, text);
	ipc_chan_send(c->chan, m);
	free(text);
	m = ipc_msg_new(IMSG_CTL_RESULT, 0);
	ipc_add_u64(m, reqid);
	ipc_add_u32(m, 0);
	ipc_add_str(m, "ok");
	ipc_chan_send(c->chan, m);
}

/*
 * client_dispatch: IMSG_SCAN_OUTPUT and IMSG_SCAN_REQUEST from a queue,
 * IMSG_SCAN_STATUS from sekishoctl.
 */
static void
client_dispatch(struct ipc_chan *ch, struct ipc_msg_in *m, void *arg)
{
	struct client	*c = arg;
	struct sjob	*j;
	const void	*env;
	uint64_t	 reqid;
	size_t		 envlen;
	char		 arg0[8];

	switch (m->type) {
	case IMSG_SCAN_OUTPUT:
		if (!ipc_get_u64(m, &reqid) || !ipc_end(m) || m->fd == -1 ||
		    c->out_fd != -1)
			break;
		c->out_reqid = reqid;
		c->out_fd = ipc_msg_take_fd(m);
		return;
	case IMSG_SCAN_REQUEST:
		if (!ipc_get_u64(m, &reqid) ||
		    !ipc_get_data(m, &env, &envlen, ENVELOPE_MAX_SIZE) ||
		    !ipc_end(m) || m->fd == -1 || c->out_fd == -1 ||
		    c->out_reqid != reqid)
			break;
		j = xcalloc(1, sizeof(*j));
		j->client = c;
		j->reqid = reqid;
		j->id = ++s.next_id;
		j->outfd = c->out_fd;
		c->out_fd = -1;
		j->infd = ipc_msg_take_fd(m);
		j->env = xmalloc(envlen ? envlen : 1);
		memcpy(j->env, env, envlen);
		j->envlen = envlen;
		if (s.npending >= SCANNERD_MAX_QUEUED) {
			reply_failed(j, "scanner overloaded");
			job_free(j);
			return;
		}
		TAILQ_INSERT_TAIL(&s.pending, j, entry);
		s.npending++;
		dispatch();
		return;
	case IMSG_SCAN_STATUS:
		if (!ipc_get_u64(m, &reqid) || !ipc_get_str(m, arg0,
		    sizeof(arg0)) || arg0[0] != '\0' || !ipc_end(m) ||
		    m->fd != -1)
			break;
		status_send(c, reqid);
		return;
	}
	log_kv(LOG_LVL_ERR, "event=client-protocol type=%s",
	    ipc_type_name(m->type));
	client_free(c);
}

/* listen_cb: a queue connects. */
static void
listen_cb(evutil_socket_t lfd, short ev, void *arg)
{
	struct client	*c;
	uid_t		 uid;
	pid_t		 pid;
	int		 fd;

	if ((fd = ipc_accept_peer(lfd, s.queue_uid, &uid, &pid)) == -1)
		return;
	if (s.nclients >= SCANNERD_MAX_CLIENTS) {
		log_kv(LOG_LVL_WARN, "event=client-refused uid=%ld pid=%ld "
		    "reason=too-many-clients", (long)uid, (long)pid);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->out_fd = -1;
	c->chan = ipc_chan_new(s.base, fd, SCANNERD_MAX_REQUEST,
	    client_dispatch, client_closed, c);
	ipc_chan_set_name(c->chan, "queue");
	TAILQ_INSERT_TAIL(&s.clients, c, entry);
	s.nclients++;
	log_kv(LOG_LVL_INFO, "event=client-connected uid=%ld pid=%ld",
	    (long)uid, (long)pid);
}

/* worker_timeout: a scan ran out of wall-clock time: kill its worker. */
static void
worker_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct worker *w = arg;

	if (w->pid == 0 || w->job == NULL)
		return;
	log_kv(LOG_LVL_WARN, "event=scan-timeout worker=%ld seconds=%lld",
	    (long)w->pid, s.conf->policy.scan_timeout);
	w->timed_out = true;
	kill(w->pid, SIGKILL);
}

/* worker_closed: a worker's channel ended; SIGCHLD tells why. */
static void
worker_closed(struct ipc_chan *ch, enum ipc_close why, void *arg)
{
	struct worker *w = arg;

	ipc_chan_free(w->chan);
	w->chan = NULL;
	/* A worker that speaks nonsense is not trusted to go on. */
	if (why != IPC_CLOSE_EOF && w->pid != 0)
		kill(w->pid, SIGKILL);
}

/* ---- DNS for the workers (wdns.h) ---------------------------------- */

/* dns_answer_send: an answer to a worker's question qid. */
static void
dns_answer_send(struct worker *w, uint64_t qid, const struct wdns_answer *a)
{
	struct ipc_msg	*m;
	size_t		 i;

	if (w->chan == NULL)
		return;
	m = ipc_msg_new(IMSG_SCAN_DNS_ANSWER, 0);
	ipc_add_u64(m, qid);
	ipc_add_u32(m, (uint32_t)a->status);
	ipc_add_u32(m, (uint32_t)a->nrr);
	for (i = 0; i < a->nrr; i++)
		ipc_add_str(m, a->rr[i]);
	ipc_chan_send(w->chan, m);
}

/* dns_result_answer: a c-ares result as a wdns answer (records as text). */
static void
dns_result_answer(const struct dns_result *r, struct wdns_answer *a)
{
	char	 buf[WDNS_RR_MAX];
	size_t	 i;

	memset(a, 0, sizeof(*a));
	a->status = r->status;
	for (i = 0; r->status == DNS_OK && i < r->naddr; i++)
		if (dns_addr_format(&r->addr[i], buf, sizeof(buf)))
			wdns_answer_add(a, buf);
	for (i = 0; r->status == DNS_OK && i < r->nmx; i++)
		if (str_printf(buf, sizeof(buf), "%u %s", r->mx[i].pref,
		    r->mx[i].host))
			wdns_answer_add(a, buf);
	for (i = 0; r->status == DNS_OK && i < r->nstr; i++)
		wdns_answer_add(a, r->str[i]);
}

/* dns_done: c-ares answered a worker's question: cache it, pass it on. */
static void
dns_done(const struct dns_result *r, void *arg)
{
	struct dnsq	*q = arg;
	struct worker	*w = q->w;
	struct wdns_answer a;
	long long	 keep = s.conf->policy.spam_dns_cache_seconds;

	dns_result_answer(r, &a);
	if (r->status != DNS_OK && keep > SCANNERD_DNS_NEG_MAX)
		keep = SCANNERD_DNS_NEG_MAX;
	if (keep > 0 && (r->status == DNS_OK || r->status == DNS_NXDOMAIN ||
	    r->status == DNS_NODATA))
		dcache_put(s.dcache, q->type, q->name, &a, time(NULL) + keep);
	dns_answer_send(w, q->qid, &a);
	wdns_answer_free(&a);
	TAILQ_REMOVE(&w->dnsqs, q, entry);
	w->ndnsq--;
	free(q);
}

/*
 * dns_ptr_name: a PTR question's reverse name (x.x.x.x.in-addr.arpa or
 * 32 nibbles .ip6.arpa) as the address literal dns_query() wants; other
 * names are copied.  false when a reverse name is malformed.
 */
static bool
dns_ptr_name(const char *name, char *out, size_t len)
{
	static const char v4[] = ".in-addr.arpa", v6[] = ".ip6.arpa";
	size_t	 n = strlen(name), i;
	unsigned o[4];
	char	 hex[33], tmp[64];

	if (n > sizeof(v4) - 1 && strcasecmp(name + n - (sizeof(v4) - 1),
	    v4) == 0) {
		if (sscanf(name, "%3u.%3u.%3u.%3u.", &o[0], &o[1], &o[2],
		    &o[3]) != 4 || o[0] > 255 || o[1] > 255 || o[2] > 255 ||
		    o[3] > 255)
			return false;
		return str_printf(out, len, "%u.%u.%u.%u", o[3], o[2], o[1],
		    o[0]);
	}
	if (n == 64 + sizeof(v6) - 1 - 1 && strcasecmp(name + 63, v6) == 0) {
		for (i = 0; i < 32; i++) {
			if (!isxdigit((unsigned char)name[i * 2]) ||
			    (i < 31 && name[i * 2 + 1] != '.'))
				return false;
			hex[31 - i] = name[i * 2];
		}
		hex[32] = '\0';
		for (i = 0, n = 0; i < 32; i++) {
			tmp[n++] = hex[i];
			if (i % 4 == 3 && i < 31)
				tmp[n++] = ':';
		}
		tmp[n] = '\0';
		return str_lcpy(out, tmp, len) < len;
	}
	return str_lcpy(out, name, len) < len;
}

/* dns_name_ok: a name a worker may ask about (LDH, '_', dots). */
static bool
dns_name_ok(const char *name)
{
	size_t	 n = strlen(name);

	return n > 0 && n <= 253 && name[0] != '.' && strstr(name, "..") ==
	    NULL && strspn(name, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") == n;
}

/*
 * dns_request: a worker's IMSG_SCAN_DNS: from the cache, or asked of
 * c-ares; a bad or excess question is answered DNS_BADNAME or
 * DNS_TEMPFAIL at once.  A worker that sends a malformed message is
 * killed.
 */
static void
dns_request(struct worker *w, struct ipc_msg_in *m)
{
	struct wdns_answer a;
	struct dnsq	*q;
	uint64_t	 qid;
	uint32_t	 type;
	char		 name[256], qname[256];

	if (!ipc_get_u64(m, &qid) || !ipc_get_u32(m, &type) ||
	    !ipc_get_str(m, name, sizeof(name)) || !ipc_end(m) ||
	    m->fd != -1 || type < DNS_MX || type > DNS_TXT) {
		log_kv(LOG_LVL_ERR, "event=worker-protocol worker=%ld "
		    "type=IMSG_SCAN_DNS", (long)w->pid);
		kill(w->pid, SIGKILL);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.status = DNS_BADNAME;
	if (!dns_name_ok(name) || (type == DNS_PTR ? !dns_ptr_name(name,
	    qname, sizeof(qname)) : str_lcpy(qname, name, sizeof(qname)) >=
	    sizeof(qname))) {
		dns_answer_send(w, qid, &a);
		return;
	}
	if (s.dcache != NULL && dcache_get(s.dcache, type, name, time(NULL),
	    &a)) {
		dns_answer_send(w, qid, &a);
		wdns_answer_free(&a);
		return;
	}
	if (s.dns == NULL || w->ndnsq >= SCANNERD_DNS_INFLIGHT) {
		a.status = DNS_TEMPFAIL;
		dns_answer_send(w, qid, &a);
		return;
	}
	q = xcalloc(1, sizeof(*q));
	q->w = w;
	q->qid = qid;
	q->type = (enum dns_type)type;
	str_lcpy(q->name, name, sizeof(q->name));
	TAILQ_INSERT_TAIL(&w->dnsqs, q, entry);
	w->ndnsq++;
	q->id = dns_query(s.dns, q->type, qname, dns_done, q);
}

/* dns_cancel_all: the worker's job ended: its questions are dropped. */
static void
dns_cancel_all(struct worker *w)
{
	struct dnsq	*q;

	while ((q = TAILQ_FIRST(&w->dnsqs)) != NULL) {
		(void)dns_cancel(s.dns, q->id);
		TAILQ_REMOVE(&w->dnsqs, q, entry);
		free(q);
	}
	w->ndnsq = 0;
}

/*
 * worker_dns_batch: wdns_batch_fn in a worker: every question to the
 * parent, then the answers as they come, until [antispam] dns_timeout;
 * what has not come by then is DNS_TEMPFAIL.
 */
static void
worker_dns_batch(void *arg, const struct wdns_q *qs, size_t n,
    struct wdns_answer *outs)
{
	static uint64_t		 next_qid = 1;
	struct ipc_chan		*ch = arg;
	struct ipc_msg_in	*m;
	struct ipc_msg		*out;
	struct timespec		 now;
	uint64_t		 base = next_qid, qid;
	uint32_t		 status, nrr, k;
	size_t			 i, got = 0;
	int64_t			 deadline, left;
	char			*rr;
	bool			*done;

	next_qid += n;
	done = xcalloc(n + 1, sizeof(*done));
	for (i = 0; i < n; i++) {
		out = ipc_msg_new(IMSG_SCAN_DNS, 0);
		ipc_add_u64(out, base + i);
		ipc_add_u32(out, (uint32_t)qs[i].type);
		ipc_add_str(out, qs[i].name);
		if (!ipc_send_sync(ch, out, -1))
			_exit(1);
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	deadline = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 +
	    s.conf->policy.spam_dns_timeout * 1000;
	while (got < n) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = deadline - ((int64_t)now.tv_sec * 1000 +
		    now.tv_nsec / 1000000);
		if (left <= 0 || (m = ipc_recv_sync(ch, (int)left)) == NULL) {
			if (errno != ETIMEDOUT)
				_exit(1);	/* the parent went away */
			break;
		}
		if (m->type != IMSG_SCAN_DNS_ANSWER || !ipc_get_u64(m, &qid) ||
		    !ipc_get_u32(m, &status) || !ipc_get_u32(m, &nrr) ||
		    status > DNS_LOOP || nrr > WDNS_MAX_RR)
			fatalx("worker: bad %s", ipc_type_name(m->type));
		if (qid < base || qid >= base + n || done[qid - base])
			continue;	/* a late answer to an earlier batch */
		i = qid - base;
		wdns_answer_free(&outs[i]);
		outs[i].status = (enum dns_status)status;
		for (k = 0; k < nrr; k++) {
			if (!ipc_get_strdup(m, WDNS_RR_MAX, &rr))
				fatalx("worker: bad IMSG_SCAN_DNS_ANSWER");
			wdns_answer_add(&outs[i], rr);
			free(rr);
		}
		if (!ipc_end(m))
			fatalx("worker: bad IMSG_SCAN_DNS_ANSWER");
		done[i] = true;
		got++;
	}
	free(done);
}

/* worker_dns_query: wdns_fn in a worker: a batch of one. */
static void
worker_dns_query(void *arg, enum dns_type type, const char *name,
    struct wdns_answer *out)
{
	struct wdns_q	 q = { type, name };

	worker_dns_batch(arg, &q, 1, out);
}

/* worker_dispatch: the answer of a worker, relayed to its client. */
static void
worker_dispatch(struct ipc_chan *ch, struct ipc_msg_in *m, void *arg)
{
	struct worker	*w = arg;
	struct sjob	*j = w->job;
	struct ipc_msg	*out;
	uint64_t	 id;

	if (m->type == IMSG_SCAN_DNS && j != NULL) {
		dns_request(w, m);
		return;
	}
	if (m->type != IMSG_SCAN_RESULT || !ipc_get_u64(m, &id) || j == NULL ||
	    id != j->id) {
		log_kv(LOG_LVL_ERR, "event=worker-protocol worker=%ld type=%s",
		    (long)w->pid, ipc_type_name(m->type));
		kill(w->pid, SIGKILL);
		return;
	}
	if (j->client != NULL) {
		out = ipc_msg_new(IMSG_SCAN_RESULT, 0);
		ipc_add_u64(out, j->reqid);
		ipc_add_raw(out, m->data + m->pos, m->len - m->pos);
		ipc_chan_send(j->client->chan, out);
	}
	evtimer_del(w->ev_timeout);
	w->job = NULL;
	job_free(j);
	dns_cancel_all(w);
	s.nscanned++;
	if (w->retire)
		kill(w->pid, SIGTERM);
	dispatch();
}

/* dispatch: give waiting requests to idle workers. */
static void
dispatch(void)
{
	struct timeval	 tv = { 0, 0 };
	struct worker	*w;
	struct ipc_msg	*m;
	struct sjob	*j;
	size_t		 i;

	for (i = 0; i < s.nworkers && !TAILQ_EMPTY(&s.pending); i++) {
		w = &s.workers[i];
		if (w->pid == 0 || w->chan == NULL || w->job != NULL ||
		    w->retire)
			continue;
		j = TAILQ_FIRST(&s.pending);
		TAILQ_REMOVE(&s.pending, j, entry);
		s.npending--;
		m = ipc_msg_new(IMSG_SCAN_OUTPUT, 0);
		ipc_add_u64(m, j->id);
		ipc_add_fd(m, j->outfd);
		j->outfd = -1;
		ipc_chan_send(w->chan, m);
		m = ipc_msg_new(IMSG_SCAN_REQUEST, 0);
		ipc_add_u64(m, j->id);
		ipc_add_data(m, j->env, j->envlen);
		ipc_add_fd(m, j->infd);
		j->infd = -1;
		ipc_chan_send(w->chan, m);
		w->job = j;
		w->timed_out = false;
		tv.tv_sec = s.conf->policy.scan_timeout;
		evtimer_add(w->ev_timeout, &tv);
	}
}

/* death_reason: why a worker ended, for the log and the queue. */
static void
death_reason(struct worker *w, int status, char *buf, size_t len)
{
	int	 sig;

	if (WIFEXITED(status)) {
		str_printf(buf, len, "scan worker exited with status %d",
		    WEXITSTATUS(status));
		return;
	}
	sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	if (sig == SIGKILL && w->timed_out)
		str_printf(buf, len, "scan took longer than scan_timeout "
		    "(%lld s)", s.conf->policy.scan_timeout);
	else if (sig == SIGXCPU)
		str_printf(buf, len, "scan used more than scan_cpu_seconds "
		    "(%lld s) of CPU", s.conf->policy.scan_cpu_seconds);
	else
		str_printf(buf, len, "scan worker killed by signal %d (%s)",
		    sig, strsignal(sig));
}

/* respawn_cb: refill the empty worker slots. */
static void
respawn_cb(evutil_socket_t fd, short ev, void *arg)
{
	size_t	 i;

	for (i = 0; i < s.nworkers && !s.stopping; i++)
		if (s.workers[i].pid == 0)
			worker_spawn(&s.workers[i]);
	dispatch();
}

/* reap: collect dead workers; their scans fail, new workers start. */
static void
reap(void)
{
	struct timeval	 tv = { 1, 0 };
	struct worker	*w;
	char		 why[256];
	pid_t		 pid;
	size_t		 i;
	int		 status;
	bool		 early = false;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < s.nworkers; i++)
			if (s.workers[i].pid == pid)
				break;
		if (i == s.nworkers)
			continue;
		w = &s.workers[i];
		death_reason(w, status, why, sizeof(why));
		if (w->job != NULL) {
			log_kv(LOG_LVL_WARN, "event=scan-failed worker=%ld "
			    "reason=\"%s\"", (long)pid, why);
			reply_failed(w->job, why);
			job_free(w->job);
			w->job = NULL;
			s.nfailed++;
		} else if (!s.stopping && !w->retire) {
			log_kv(LOG_LVL_WARN, "event=worker-died worker=%ld "
			    "reason=\"%s\"", (long)pid, why);
			if (time(NULL) - w->started < 2)
				early = true;
		}
		w->retire = false;
		dns_cancel_all(w);
		evtimer_del(w->ev_timeout);
		if (w->chan != NULL) {
			ipc_chan_free(w->chan);
			w->chan = NULL;
		}
		w->pid = 0;
	}
	if (s.stopping)
		return;
	/* A worker that cannot even start is not restarted in a loop. */
	if (early)
		evtimer_add(s.ev_respawn, &tv);
	else
		event_active(s.ev_respawn, EV_TIMEOUT, 0);
}

/*
 * scanner_av: the antivirus engine that conf asks for (libclamav: the
 * database loaded and compiled), in *avp (NULL when antivirus is off).
 * 0, or -1 with the reason in err.
 */
static int
scanner_av(const struct sekisho_conf *conf, struct av_engine **avp,
    char *err, size_t errlen)
{
	const struct conf_policy *c = &conf->policy;
	struct av_conf	 ac;
	char		 tmp[4096];

	*avp = NULL;
	if (!c->av_enabled)
		return 0;
	if (!str_printf(tmp, sizeof(tmp), "%s/scanner.tmp",
	    conf->imss.run_dir)) {
		str_lcpy(err, "run_dir too long", errlen);
		return -1;
	}
	memset(&ac, 0, sizeof(ac));
	ac.kind = c->av_engine == CONF_AV_CLAMD ? AV_CLAMD : AV_LIBCLAMAV;
	ac.dbdir = c->av_database_dir;
	ac.tmpdir = tmp;
	ac.clamd = c->av_clamd_address;
	ac.max_scan_size = (uint64_t)c->av_max_scan_mb * 1024 * 1024;
	ac.max_file_size = (uint64_t)c->av_max_file_mb * 1024 * 1024;
	ac.max_recursion = (unsigned)c->av_max_recursion;
	ac.max_files = (unsigned)c->av_max_files;
	ac.timeout_ms = (unsigned)c->av_timeout * 1000;
	ac.block_encrypted = c->av_block_encrypted;
	if ((*avp = av_open(&ac, err, errlen)) == NULL)
		return -1;
	log_kv(LOG_LVL_INFO, "event=antivirus engine=%s version=\"%s\" "
	    "signatures=%u", c->av_engine == CONF_AV_CLAMD ? "clamd" :
	    "libclamav", av_version(*avp), av_signatures(*avp));
	return 0;
}

/*
 * scanner_spam: the active spam rule package of conf's package_dir,
 * compiled, in *rp (NULL when antispam is off) and which one in pkg.
 * 0, or -1 with the reason in err.
 */
static int
scanner_spam(const struct sekisho_conf *conf, struct spam_rules **rp,
    struct spampkg *pkg, char *err, size_t errlen)
{
	const char	*dir = conf->policy.spam_package_dir;
	struct diag	 d;
	char		 path[4096];
	int		 rc;

	*rp = NULL;
	memset(pkg, 0, sizeof(*pkg));
	if (!conf->policy.spam_enabled)
		return 0;
	if ((rc = spampkg_active(dir, pkg, err, errlen)) == 1)
		str_printf(err, errlen, "%s: no spam rule package (install "
		    "one with sekishoctl rules update, or set [antispam] "
		    "enabled=0)", dir);
	if (rc != 0)
		return -1;
	if (!spampkg_path(dir, pkg, path, sizeof(path))) {
		str_lcpy(err, "package_dir too long", errlen);
		return -1;
	}
	diag_init(&d);
	if ((*rp = spam_rules_load(path, &d)) == NULL)
		str_printf(err, errlen, "%s", d.nitems > 0 ? d.items[0].text :
		    "the package does not load");
	diag_free(&d);
	if (*rp == NULL)
		return -1;
	log_kv(LOG_LVL_INFO, "event=antispam package=%s rules=%zu path=%s",
	    pkg->v.text, spam_rules_count(*rp), path);
	return 0;
}

/*
 * scanner_rspamd: rspamd's address, resolved (conf asks for rspamd);
 * into *a and *on.  0, or -1 with the reason in err.
 */
static int
scanner_rspamd(const struct sekisho_conf *conf, struct netc_addr *a,
    bool *on, char *err, size_t errlen)
{
	char	 e[400];

	*on = conf->policy.spam_enabled &&
	    conf->policy.spam_rspamd != CONF_RSPAMD_OFF;
	if (!*on)
		return 0;
	if (netc_resolve(conf->policy.spam_rspamd_address, a, e,
	    sizeof(e)) == -1) {
		str_printf(err, errlen, "rspamd_address: %s", e);
		return -1;
	}
	return 0;
}

/* scanner_ctx: the scan context of the configuration in force. */
static void
scanner_ctx(void)
{
	scanjob_ctx_init(&s.cx, s.conf, s.policy, s.av, s.spam, s.tmpl_fd);
	s.cx.rspamd = s.rspamd_on ? &s.rspamd : NULL;
}

/*
 * scanner_auth: the SPF, DKIM and DMARC libraries, once, when conf wants
 * sender authentication (the public suffix list is read then: a new
 * path takes a restart).  0, or -1 with the reason in err.
 */
static int
scanner_auth(const struct sekisho_conf *conf, char *err, size_t errlen)
{
	if (!conf->policy.spam_sender_auth || s.auth_ready)
		return 0;
	if (auth_init(conf->policy.spam_psl, err, errlen) == -1)
		return -1;
	s.auth_ready = true;
	return 0;
}

/*
 * reload: read the configuration and the policy again.  When both are
 * valid they replace the old ones and every worker is replaced: idle ones
 * at once, busy ones after their scan (a scan finishes under the policy
 * it started with).  An invalid configuration changes nothing.
 */
static void
reload(void)
{
	struct sekisho_conf	*nc;
	struct policy		*np = NULL;
	struct av_engine	*nav = NULL;
	struct spam_rules	*nspam = NULL;
	struct spampkg		 npkg;
	struct netc_addr	 nrspamd;
	bool			 nrspamd_on;
	struct diag		 d;
	char			 esc[LOG_ESC_MAX], err[512];
	size_t			 i;

	nc = xcalloc(1, sizeof(*nc));
	diag_init(&d);
	if (conf_load(s.conf->confdir, nc, &d) == -1 || d.nerrors > 0 ||
	    (np = policy_load(nc->confdir, &d)) == NULL || d.nerrors > 0) {
		for (i = 0; i < d.nitems; i++)
			if (d.items[i].sev == DIAG_ERROR)
				log_kv(LOG_LVL_ERR, "event=reload-error err=%s",
				    log_esc(esc, sizeof(esc), d.items[i].text));
		log_kv(LOG_LVL_ERR, "event=reload-failed errors=%zu "
		    "detail=\"the running policy stays\"", d.nerrors);
		if (np != NULL)
			policy_free(np);
		conf_free(nc);
		free(nc);
		diag_free(&d);
		return;
	}
	diag_free(&d);
	/*
	 * A new engine or new signatures, the active spam rule package:
	 * loaded before anything changes.
	 */
	if (scanner_auth(nc, err, sizeof(err)) == -1 ||
	    scanner_rspamd(nc, &nrspamd, &nrspamd_on, err, sizeof(err)) ==
	    -1 ||
	    scanner_spam(nc, &nspam, &npkg, err, sizeof(err)) == -1 ||
	    scanner_av(nc, &nav, err, sizeof(err)) == -1) {
		log_kv(LOG_LVL_ERR, "event=reload-failed err=%s detail=\"the "
		    "running policy, antivirus and antispam stay\"",
		    log_esc(esc, sizeof(esc), err));
		spam_rules_free(nspam);
		policy_free(np);
		conf_free(nc);
		free(nc);
		return;
	}
	if (nc->policy.workers != s.conf->policy.workers ||
	    strcmp(nc->imss.run_dir, s.conf->imss.run_dir) != 0 ||
	    strcmp(nc->imss.scanner_user, s.conf->imss.scanner_user) != 0)
		log_kv(LOG_LVL_WARN, "event=reload-partial detail=\"workers, "
		    "run_dir and scanner_user change at the next start\"");
	/* Workers hold their own copies: the old ones can go now. */
	policy_free(s.policy);
	if (s.av != NULL)
		av_close(s.av);
	s.av = nav;
	spam_rules_free(s.spam);
	s.spam = nspam;
	s.spam_pkg = npkg;
	s.rspamd = nrspamd;
	s.rspamd_on = nrspamd_on;
	conf_free(s.conf);
	if (s.conf_heap)
		free(s.conf);
	s.conf = nc;
	s.conf_heap = true;
	s.policy = np;
	s.loaded = time(NULL);
	scanner_ctx();
	for (i = 0; i < s.nworkers; i++) {
		if (s.workers[i].pid == 0)
			continue;
		s.workers[i].retire = true;
		if (s.workers[i].job == NULL)
			kill(s.workers[i].pid, SIGTERM);
	}
	log_kv(LOG_LVL_INFO, "event=reloaded rules=%zu", policy_nrules(np));
}

/* signal_cb: SIGCHLD reaps; SIGHUP reloads; SIGTERM/SIGINT stop. */
static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	size_t	 i;

	switch (sig) {
	case SIGCHLD:
		reap();
		break;
	case SIGHUP:
		reload();
		break;
	default:
		log_kv(LOG_LVL_INFO, "event=stopping signal=%d", (int)sig);
		s.stopping = true;
		for (i = 0; i < s.nworkers; i++)
			if (s.workers[i].pid != 0)
				kill(s.workers[i].pid, SIGTERM);
		event_base_loopexit(s.base, NULL);
		break;
	}
}

/*
 * worker_seccomp: what a worker may not do, whatever it parses.  Network
 * sockets only when it must reach clamd over TCP (inet).
 */
static void
worker_seccomp(bool inet)
{
	static const int deny[] = {
		SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(ptrace),
		SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
		SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(chroot),
		SCMP_SYS(pivot_root), SCMP_SYS(unshare), SCMP_SYS(setns),
		SCMP_SYS(bpf), SCMP_SYS(perf_event_open), SCMP_SYS(keyctl),
		SCMP_SYS(add_key), SCMP_SYS(request_key),
		SCMP_SYS(init_module), SCMP_SYS(finit_module),
		SCMP_SYS(delete_module), SCMP_SYS(kexec_load),
		SCMP_SYS(open_by_handle_at), SCMP_SYS(bind), SCMP_SYS(listen),
		SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(setuid),
		SCMP_SYS(setgid), SCMP_SYS(setreuid), SCMP_SYS(setregid),
		SCMP_SYS(setresuid), SCMP_SYS(setresgid), SCMP_SYS(setgroups),
	};
	struct scmp_arg_cmp unix_only = { .arg = 0, .op = SCMP_CMP_NE,
	    .datum_a = AF_UNIX, .datum_b = 0 };
	scmp_filter_ctx	 ctx;
	size_t		 i;
	int		 rc = 0;

	if ((ctx = seccomp_init(SCMP_ACT_ALLOW)) == NULL)
		fatalx("worker_seccomp: seccomp_init");
	for (i = 0; rc == 0 && i < nitems(deny); i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), deny[i], 0);
	/* Local sockets only (syslog, clamd's Unix socket). */
	if (rc == 0 && !inet)
		rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(EPERM),
		    SCMP_SYS(socket), 1, &unix_only);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc != 0)
		log_kv(LOG_LVL_WARN, "event=seccomp-unavailable err=\"%s\"",
		    strerror(-rc));
}

/* worker_limits: the address-space limit of a worker (seed 27). */
static void
worker_limits(void)
{
#ifndef SCANNERD_ASAN
	struct rlimit	 rl;

	rl.rlim_cur = rl.rlim_max =
	    (rlim_t)s.conf->policy.worker_memory_mb * 1024 * 1024;
	if (setrlimit(RLIMIT_AS, &rl) == -1)
		fatal("worker_limits: RLIMIT_AS");
#endif
}

/* worker_cpu: allow the next scan scan_cpu_seconds more CPU time. */
static void
worker_cpu(void)
{
	struct rusage	 ru;
	struct rlimit	 rl;

	if (getrusage(RUSAGE_SELF, &ru) == -1 ||
	    getrlimit(RLIMIT_CPU, &rl) == -1)
		fatal("worker_cpu");
	rl.rlim_cur = (rlim_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1 +
	    s.conf->policy.scan_cpu_seconds);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
		rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_CPU, &rl) == -1)
		fatal("worker_cpu: RLIMIT_CPU");
}

/* worker_main: the worker's loop: one request, one answer. */
static void __attribute__((noreturn))
worker_main(int fd)
{
	struct ipc_chan		*ch;
	struct ipc_msg_in	*m;
	struct ipc_msg		*out;
	struct scan_reply	 r;
	const void		*env;
	uint64_t		 id, out_id = 0;
	size_t			 envlen;
	int			 outfd = -1, infd;

	prctl(PR_SET_NAME, "scanner.worker");
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	worker_close_inet();
	worker_limits();
	/* Network sockets only for a clamd or an rspamd on TCP. */
	worker_seccomp((s.conf->policy.av_enabled &&
	    s.conf->policy.av_engine == CONF_AV_CLAMD &&
	    strncmp(s.conf->policy.av_clamd_address, "unix:", 5) != 0) ||
	    (s.rspamd_on && !netc_is_unix(&s.rspamd)));
	ch = ipc_chan_new(NULL, fd, SCANNERD_MAX_REQUEST, NULL, NULL, NULL);
	/* DNS through the parent (scanjob: blocklists, SPF, DKIM, DMARC). */
	s.wdns.query = worker_dns_query;
	s.wdns.batch = worker_dns_batch;
	s.wdns.arg = ch;
	s.cx.dns = &s.wdns;
	for (;;) {
		if ((m = ipc_recv_sync(ch, -1)) == NULL)
			_exit(0);
		if (m->type == IMSG_SCAN_DNS_ANSWER)
			continue;	/* came after its batch gave up */
		if (m->type == IMSG_SCAN_OUTPUT) {
			if (!ipc_get_u64(m, &out_id) || !ipc_end(m) ||
			    m->fd == -1 || outfd != -1)
				fatalx("worker: bad IMSG_SCAN_OUTPUT");
			outfd = ipc_msg_take_fd(m);
			continue;
		}
		if (m->type != IMSG_SCAN_REQUEST || !ipc_get_u64(m, &id) ||
		    !ipc_get_data(m, &env, &envlen, ENVELOPE_MAX_SIZE) ||
		    !ipc_end(m) || m->fd == -1 || outfd == -1 || id != out_id)
			fatalx("worker: bad %s", ipc_type_name(m->type));
		infd = ipc_msg_take_fd(m);
		worker_cpu();
		scanjob_run(&s.cx, env, envlen, infd, outfd, &r);
		close(infd);
		close(outfd);
		outfd = -1;
		out = ipc_msg_new(IMSG_SCAN_RESULT, 0);
		ipc_add_u64(out, id);
		scan_reply_encode(out, &r);
		scan_reply_clear(&r);
		if (ipc_msg_len(out) > SCAN_PROTO_MAX_PAYLOAD) {
			ipc_msg_free(out);
			scan_reply_fail(&r, "scan result too large");
			out = ipc_msg_new(IMSG_SCAN_RESULT, 0);
			ipc_add_u64(out, id);
			scan_reply_encode(out, &r);
			scan_reply_clear(&r);
		}
		if (!ipc_send_sync(ch, out, -1))
			_exit(1);
	}
}

/*
 * worker_close_inet: close the network sockets inherited from the parent
 * (its resolver's): seccomp stops a worker from making one, and it must
 * not find one either.
 */
static void
worker_close_inet(void)
{
	struct sockaddr_storage ss;
	socklen_t	 len;
	struct dirent	*de;
	DIR		*d;
	long		 fd;
	char		*end;

	if ((d = opendir("/proc/self/fd")) == NULL)
		fatal("worker: /proc/self/fd");
	while ((de = readdir(d)) != NULL) {
		fd = strtol(de->d_name, &end, 10);
		if (*end != '\0' || end == de->d_name || fd == dirfd(d))
			continue;
		len = sizeof(ss);
		if (getsockname((int)fd, (struct sockaddr *)&ss, &len) == 0 &&
		    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6))
			close((int)fd);
	}
	closedir(d);
}

/* worker_spawn: start the worker of slot w. */
static void
worker_spawn(struct worker *w)
{
	struct client	*c;
	sigset_t	 all, old;
	size_t		 i;
	int		 sv[2];
	pid_t		 pid;

	if (ipc_socketpair(sv) == -1) {
		log_kv(LOG_LVL_ERR, "event=worker-spawn-failed err=\"%s\"",
		    strerror(errno));
		return;
	}
	/*
	 * No signal may reach the child before it drops libevent's
	 * handlers: one would be written into the parent's signal pipe (a
	 * SIGTERM meant for a new worker would stop the scanner).
	 */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == -1) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		log_kv(LOG_LVL_ERR, "event=worker-spawn-failed err=\"%s\"",
		    strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return;
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		/* Nothing of the parent's connections stays open here. */
		close(sv[0]);
		close(s.listen_fd);
		TAILQ_FOREACH(c, &s.clients, entry) {
			close(c->fd);
			if (c->out_fd != -1)
				close(c->out_fd);
		}
		for (i = 0; i < s.nworkers; i++)
			if (s.workers[i].chan != NULL)
				close(s.workers[i].fd);
		worker_main(sv[1]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	w->pid = pid;
	w->fd = sv[0];
	w->started = time(NULL);
	w->chan = ipc_chan_new(s.base, sv[0], SCAN_PROTO_MAX_PAYLOAD,
	    worker_dispatch, worker_closed, w);
	ipc_chan_set_name(w->chan, "worker");
	log_kv(LOG_LVL_DEBUG, "event=worker-started worker=%ld", (long)pid);
}

/*
 * scanner_check: daemon_check_fn: the policy and the active spam rule
 * package must load (-n too).
 */
static int
scanner_check(const struct sekisho_conf *conf, struct diag *d)
{
	struct policy	*p;
	struct spam_rules *r;
	struct spampkg	 pkg;
	char		 err[512];

	if ((p = policy_load(conf->confdir, d)) == NULL)
		return -1;
	policy_free(p);
	if (scanner_spam(conf, &r, &pkg, err, sizeof(err)) == -1) {
		diag_add(d, DIAG_ERROR, conf->policy.spam_package_dir, 0,
		    "%s", err);
		return -1;
	}
	spam_rules_free(r);
	return 0;
}

/*
 * scanner_tmpdir: <run_dir>/scanner.tmp, where libclamav writes the
 * temporary files of a scan, owned by scanner_user, mode 0700.
 */
static void
scanner_tmpdir(void)
{
	const struct sekisho_conf *c = s.conf;
	struct passwd	*pw;
	char		 path[4096];

	if (!c->policy.av_enabled)
		return;
	if (!str_printf(path, sizeof(path), "%s/scanner.tmp", c->imss.run_dir))
		fatalx("scanner_tmpdir: run_dir too long");
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		fatal("scanner_tmpdir: %s", path);
	if (geteuid() != 0)
		return;
	if ((pw = getpwnam(c->imss.scanner_user)) == NULL)
		fatalx("scanner_tmpdir: no user %s", c->imss.scanner_user);
	if (chown(path, pw->pw_uid, pw->pw_gid) == -1 ||
	    chmod(path, 0700) == -1)
		fatal("scanner_tmpdir: %s", path);
}

/*
 * avcheck_cb: new signatures in the database directory, or another
 * active spam rule package (sekishoctl rules update or rollback, whose
 * SIGHUP may not have reached us): reload.
 */
static void
avcheck_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct spampkg	 pkg;
	char		 err[512];

	if (s.av != NULL && av_db_changed(s.av) == 1) {
		log_kv(LOG_LVL_INFO, "event=antivirus-database-changed");
		reload();
		return;
	}
	if (s.spam != NULL && spampkg_active(s.conf->policy.spam_package_dir,
	    &pkg, err, sizeof(err)) == 0 &&
	    strcmp(pkg.file, s.spam_pkg.file) != 0) {
		log_kv(LOG_LVL_INFO, "event=antispam-package-changed "
		    "package=%s", pkg.v.text);
		reload();
	}
}

/* scanner_socket: <run_dir>/scanner.sock for the queue's user. */
static void
scanner_socket(void)
{
	const struct sekisho_conf *c = s.conf;
	char		 path[4096];

	if (!str_printf(path, sizeof(path), "%s/scanner.sock",
	    c->imss.run_dir))
		fatalx("scanner_socket: run_dir too long");
	s.listen_fd = ipc_listen_service(path, c->imss.scanner_user,
	    c->imss.queue_user, &s.queue_uid);
}

int
main(int argc, char **argv)
{
	static struct sekisho_conf conf;
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	struct timeval		 avcheck_tv = { SCANNERD_AVCHECK_SECONDS, 0 };
	struct daemon_opts	 opts;
	struct dns_opts		 dopts;
	struct diag		 d;
	char			 err[512], path[4096];
	size_t			 i;
	long			 n;

	daemon_getopt(argc, argv, "sekisho-scanner", &opts);
	daemon_config(&opts, &conf, scanner_check);
	s.conf = &conf;
	TAILQ_INIT(&s.clients);
	TAILQ_INIT(&s.pending);

	daemon_start(&opts, &conf);
	tzset();	/* notification dates in local time */
	if (mime_init(err, sizeof(err)) == -1)
		fatalx("main: %s", err);
	diag_init(&d);
	if ((s.policy = policy_load(conf.confdir, &d)) == NULL)
		fatalx("main: policy.ini does not load");
	diag_free(&d);
	if (!str_printf(path, sizeof(path), "%s/templates", conf.confdir))
		fatalx("main: confdir too long");
	if ((s.tmpl_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1)
		log_kv(LOG_LVL_WARN, "event=no-templates dir=%s err=\"%s\" "
		    "detail=\"notifications and template stamps will fail\"",
		    path, strerror(errno));
	scanner_tmpdir();
	if (scanner_av(&conf, &s.av, err, sizeof(err)) == -1)
		fatalx("main: antivirus: %s", err);
	if (scanner_spam(&conf, &s.spam, &s.spam_pkg, err, sizeof(err)) == -1)
		fatalx("main: antispam: %s", err);
	if (scanner_auth(&conf, err, sizeof(err)) == -1)
		fatalx("main: sender authentication: %s", err);
	if (scanner_rspamd(&conf, &s.rspamd, &s.rspamd_on, err, sizeof(err)) ==
	    -1)
		fatalx("main: antispam: %s", err);
	scanner_ctx();
	s.started = s.loaded = time(NULL);
	scanner_socket();
	privsep_drop(conf.imss.scanner_user, NULL);

	n = conf.policy.workers;
	if (n == 0 && (n = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		n = 1;
	s.nworkers = (size_t)n;
	s.workers = xcalloc(s.nworkers, sizeof(*s.workers));
	for (i = 0; i < s.nworkers; i++)
		TAILQ_INIT(&s.workers[i].dnsqs);
	signal(SIGPIPE, SIG_IGN);
	if ((s.base = event_base_new()) == NULL)
		fatalx("main: event_base_new");
	for (i = 0; i < nitems(sigs); i++) {
		s.ev_sig[i] = evsignal_new(s.base, sigs[i], signal_cb, NULL);
		if (s.ev_sig[i] == NULL || evsignal_add(s.ev_sig[i], NULL))
			fatalx("main: signal %d", sigs[i]);
	}
	s.dcache = dcache_new(SCANNERD_DNS_CACHE);
	memset(&dopts, 0, sizeof(dopts));
	dopts.servers = conf.tsmtpd.dns_servers;
	if ((s.dns = dns_new(s.base, &dopts)) == NULL)
		fatalx("main: the resolver (tsmtpd.ini DnsServers) does not "
		    "start");
	s.ev_respawn = evtimer_new(s.base, respawn_cb, NULL);
	s.ev_avcheck = event_new(s.base, -1, EV_PERSIST, avcheck_cb, NULL);
	if (s.ev_avcheck == NULL || event_add(s.ev_avcheck, &avcheck_tv) == -1)
		fatalx("main: antivirus timer");
	s.ev_listen = event_new(s.base, s.listen_fd, EV_READ | EV_PERSIST,
	    listen_cb, NULL);
	if (s.ev_respawn == NULL || s.ev_listen == NULL ||
	    event_add(s.ev_listen, NULL) == -1)
		fatalx("main: events");
	for (i = 0; i < s.nworkers; i++) {
		if ((s.workers[i].ev_timeout = evtimer_new(s.base,
		    worker_timeout, &s.workers[i])) == NULL)
			fatalx("main: evtimer_new");
		worker_spawn(&s.workers[i]);
	}
	log_kv(LOG_LVL_INFO, "event=scanner-ready workers=%zu rules=%zu",
	    s.nworkers, policy_nrules(s.policy));
	event_base_dispatch(s.base);

	/* Stopping: the queue scans what was in flight again. */
	while (!TAILQ_EMPTY(&s.clients))
		client_free(TAILQ_FIRST(&s.clients));
	for (i = 0; i < s.nworkers; i++) {
		if (s.workers[i].pid != 0)
			waitpid(s.workers[i].pid, NULL, 0);
		if (s.workers[i].chan != NULL)
			ipc_chan_free(s.workers[i].chan);
		if (s.workers[i].job != NULL)
			job_free(s.workers[i].job);
		event_free(s.workers[i].ev_timeout);
	}
	free(s.workers);
	for (i = 0; i < nitems(s.ev_sig); i++)
		event_free(s.ev_sig[i]);
	event_free(s.ev_listen);
	event_free(s.ev_respawn);
	event_free(s.ev_avcheck);
	if (s.av != NULL)
		av_close(s.av);
	spam_rules_free(s.spam);
	dns_free(s.dns);
	dcache_free(s.dcache);
	if (s.auth_ready)
		auth_shutdown();
	event_base_free(s.base);
	close(s.listen_fd);
	if (str_printf(path, sizeof(path), "%s/scanner.sock",
	    s.conf->imss.run_dir))
		unlink(path);
	conf_free(s.conf);
	if (s.conf_heap)
		free(s.conf);
	policy_free(s.policy);
	if (s.tmpl_fd != -1)
		close(s.tmpl_fd);
	mime_shutdown();
	log_kv(LOG_LVL_INFO, "event=exit status=0");
	daemon_pidfile_remove();
	return 0;
}
