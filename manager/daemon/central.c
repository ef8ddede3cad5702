/*
 * central.c: the manager's side of the central controller's push
 * (docs/central.md "The push"): it runs the link process (mlink.c) and
 * decides everything the link only carries.
 *
 * Roles, from the configuration directory:
 *  - scanner host: agent/agent.crt exists (sekishoctl agent enrol) and
 *    [imss_manager] scanner_ip_addr is set.  The link listens on
 *    scanner_ip_addr:agent_port (seed 21).  A controller's AGENT_INFO is
 *    answered with this host's state: product version, the applied
 *    bundle version, and the scanner's engines as the running scanner
 *    reports them (asked over its socket, never blocking the loop).  An
 *    AGENT_PUSH is verified against agent/bundle.pub and the replay
 *    floor, applied atomically (bundle_apply, with the policy check), and
 *    followed by the same reload as SIGHUP, which restarts or signals
 *    exactly the services concerned; the answer says applied or refused
 *    and why.  A bad bundle changes nothing.
 *  - controller: central/controller.crt exists (sekishoctl central
 *    init).  Every central_sync_interval seconds, and at once for
 *    sekishoctl central sync, each host of central/hosts is contacted
 *    with the published bundle (DATA_DIR/central/bundle); what each host
 *    said is kept in DATA_DIR/central/hosts.json (hosts.h).
 *
 * The link is restarted when what it was started with changes
 * (certificates, keys, address, port, user), and after it dies, with a
 * backoff.  It runs as manager_user in DATA_DIR/empty.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "agent_proto.h"
#include "bundle.h"
#include "bundle_policy.h"
#include "conf.h"
#include "enrol.h"
#include "hosts.h"
#include "ipc.h"
#include "log.h"
#include "mchild.h"
#include "mlink.h"
#include "scanq.h"
#include "util.h"
#include "xmalloc.h"

#define CENTRAL_INFO_TIMEOUT_MS	3000	/* the scanner's status */
#define CENTRAL_STATE_MAX	(4 * 1024 * 1024)

/* A controller's AGENT_INFO (or a push's answer) being put together. */
struct info_req {
	TAILQ_ENTRY(info_req)	 entry;
	uint32_t		 conn;
	struct agent_kv		 kv;
	struct scanq		*scanner;	/* its status, being asked */
};

/* A sekishoctl central sync waiting for its round to end. */
struct sync_waiter {
	TAILQ_ENTRY(sync_waiter) entry;
	struct ipc_chan		*chan;
	uint64_t		 reqid;
};
TAILQ_HEAD(waiters, sync_waiter);

static struct {
	struct event_base	*base;
	central_reload_fn	 reload;
	const struct sekisho_conf *conf;
	bool			 foreground;
	/* The link process. */
	pid_t			 pid;
	struct ipc_chan		*chan;
	uint8_t			 started_with[32];
	bool			 agent, central;	/* its roles */
	unsigned		 deaths;
	struct event		*ev_restart;
	bool			 stopping;
	/* Scanner host. */
	TAILQ_HEAD(, info_req)	 infos;
	/* Controller. */
	struct event		*ev_round;
	bool			 round_active;
	size_t			 round_pending;
	struct waiters		 round_waiters;		/* this round's */
	struct waiters		 next_waiters;		/* the next one's */
	json_t			*state;			/* hosts.json */
	json_t			*round_results;		/* this round's */
} c;

static void	 link_start(void);
static void	 round_start(void);

/* ---- files --------------------------------------------------------------- */

/* cpath: CONFDIR/sub/name. */
static char *
cpath(const char *sub, const char *name)
{
	return xasprintf("%s/%s/%s", c.conf->confdir, sub, name);
}

static bool
cexists(const char *sub, const char *name)
{
	char	*p = cpath(sub, name);
	bool	 ok = access(p, F_OK) == 0;

	free(p);
	return ok;
}

/* dpath: DATA_DIR/central/name (the directory made when missing). */
static char *
dpath(const char *name)
{
	char	*d = xasprintf("%s/central", c.conf->imss.data_dir), *p;

	if (mkdir(d, 0700) == -1 && errno != EEXIST)
		log_warn("central: %s", d);
	p = xasprintf("%s/%s", d, name);
	free(d);
	return p;
}

/*
 * fingerprint: SHA-256 of what the link is started with: the role
 * files, the address, the port and the user.  A change restarts it.
 */
static void
fingerprint(uint8_t out[32])
{
	static const char *const files[][2] = {
		{ ENROL_AGENT_DIR, "agent.crt" }, { ENROL_AGENT_DIR, "agent.key" },
		{ ENROL_AGENT_DIR, "ca.crt" },
		{ ENROL_CENTRAL_DIR, "controller.crt" },
		{ ENROL_CENTRAL_DIR, "controller.key" },
		{ ENROL_CENTRAL_DIR, "ca.crt" },
	};
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char	*p, *data, num[32];
	size_t	 i, len;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		fatalx("central: sha256");
	for (i = 0; i < nitems(files); i++) {
		p = cpath(files[i][0], files[i][1]);
		if ((data = file_read(p, ENROL_FILE_MAX, &len)) != NULL) {
			EVP_DigestUpdate(md, data, len);
			free(data);
		}
		EVP_DigestUpdate(md, "\n", 1);
		free(p);
	}
	(void)snprintf(num, sizeof(num), "%lld", c.conf->imss.agent_port);
	EVP_DigestUpdate(md, c.conf->imss.scanner_ip_addr.text,
	    strlen(c.conf->imss.scanner_ip_addr.text) + 1);
	EVP_DigestUpdate(md, num, strlen(num) + 1);
	EVP_DigestUpdate(md, c.conf->imss.manager_user,
	    strlen(c.conf->imss.manager_user) + 1);
	if (EVP_DigestFinal_ex(md, out, NULL) != 1)
		fatalx("central: sha256");
	EVP_MD_CTX_free(md);
}

/* ---- protocol helpers ---------------------------------------------------- */

/* to_link: a message to the link (consumed; dropped when it is gone). */
static void
to_link(struct ipc_msg *m)
{
	if (c.chan == NULL) {
		ipc_msg_free(m);
		return;
	}
	if (!ipc_chan_send(c.chan, m))
		log_kv(LOG_LVL_WARN, "event=mlink-send-failed");
}

/* ctl_result: IMSG_CTL_RESULT to a sekishoctl. */
static void
ctl_result(struct ipc_chan *ch, uint64_t reqid, uint32_t st, const char *t)
{
	struct ipc_msg	*m = ipc_msg_new(IMSG_CTL_RESULT, 0);

	ipc_add_u64(m, reqid);
	ipc_add_u32(m, st);
	ipc_add_str(m, t);
	(void)ipc_chan_send(ch, m);
}

/* ---- scanner host: the controller's requests ----------------------------- */

static void
info_free(struct info_req *r)
{
	TAILQ_REMOVE(&c.infos, r, entry);
	scanq_cancel(r->scanner);
	free(r);
}

/* info_send: the reply to the link, and the request is done. */
static void
info_send(struct info_req *r)
{
	struct ipc_msg	*m;
	struct buf	 b;

	buf_init(&b, AGENT_FRAME_MAX);
	if (!agent_kv_encode(&r->kv, &b))
		fatalx("central: agent_kv_encode");
	m = ipc_msg_new(IMSG_LINK_REPLY, 0);
	ipc_add_u32(m, r->conn);
	ipc_add_data(m, b.data, b.len);
	buf_free(&b);
	to_link(m);
	info_free(r);
}

/* info_scanner: what the scanner's status says of its engines. */
static void
info_scanner(struct info_req *r, const json_t *o)
{
	const json_t	*av, *as, *v;

	(void)agent_kv_set(&r->kv, "scanner", "running");
	if (json_is_string(v = json_object_get(o, "version")))
		(void)agent_kv_set(&r->kv, "scanner_version",
		    json_string_value(v));
	if (json_is_object(av = json_object_get(o, "antivirus"))) {
		if (json_is_string(v = json_object_get(av, "engine")))
			(void)agent_kv_set(&r->kv, "av_engine",
			    json_string_value(v));
		if (json_is_string(v = json_object_get(av, "version")))
			(void)agent_kv_set(&r->kv, "av_version",
			    json_string_value(v));
		if (json_is_integer(v = json_object_get(av, "signatures")))
			(void)agent_kv_setf(&r->kv, "av_signatures", "%lld",
			    (long long)json_integer_value(v));
	} else
		(void)agent_kv_set(&r->kv, "av_engine", "off");
	if (json_is_object(as = json_object_get(o, "antispam"))) {
		if (json_is_string(v = json_object_get(as, "version")))
			(void)agent_kv_set(&r->kv, "spam_rules_version",
			    json_string_value(v));
		if (json_is_integer(v = json_object_get(as, "rules")))
			(void)agent_kv_setf(&r->kv, "spam_rules", "%lld",
			    (long long)json_integer_value(v));
	} else
		(void)agent_kv_set(&r->kv, "spam_rules_version", "off");
	if (json_is_integer(v = json_object_get(o, "rules")))
		(void)agent_kv_setf(&r->kv, "policy_rules", "%lld",
		    (long long)json_integer_value(v));
}

/* info_scanned: the scanner's status came (or not): the reply goes. */
static void
info_scanned(const json_t *status, void *arg)
{
	struct info_req	*r = arg;

	r->scanner = NULL;		/* scanq frees itself after this */
	if (status != NULL)
		info_scanner(r, status);
	info_send(r);
}

/*
 * info_start: answer conn with this host's state, after result and
 * error (a push's outcome; NULL for a plain AGENT_INFO).
 */
static void
info_start(uint32_t conn, const char *result, const char *error)
{
	struct info_req	*r = xcalloc(1, sizeof(*r));
	uint64_t	 applied = 0;
	char		 err[256], *sock;

	r->conn = conn;
	TAILQ_INSERT_TAIL(&c.infos, r, entry);
	if (bundle_applied_version(c.conf->confdir, &applied, err,
	    sizeof(err)) == -1)
		applied = 0;
	(void)agent_kv_setf(&r->kv, "proto", "%d", AGENT_PROTO_VERSION);
	(void)agent_kv_set(&r->kv, "name", c.conf->imss.hostname);
	(void)agent_kv_set(&r->kv, "product", SEKISHO_VERSION);
	(void)agent_kv_setf(&r->kv, "applied_version", "%llu",
	    (unsigned long long)applied);
	(void)agent_kv_setf(&r->kv, "time", "%lld", (long long)time(NULL));
	if (result != NULL) {
		(void)agent_kv_set(&r->kv, "result", result);
		/* An error text is ours or bundle.c's: keep it printable. */
		if (error != NULL && error[0] != '\0' &&
		    !agent_kv_set(&r->kv, "error", error))
			(void)agent_kv_set(&r->kv, "error", "(see the host's "
			    "manager log)");
	}
	(void)agent_kv_set(&r->kv, "scanner", "down");
	sock = xasprintf("%s/scanner.sock", c.conf->imss.run_dir);
	r->scanner = scanq_ask(c.base, sock, CENTRAL_INFO_TIMEOUT_MS,
	    info_scanned, r);
	free(sock);
}

/*
 * push_apply: a bundle the controller pushed: verified against the
 * enrolled controller's key and the replay floor, applied atomically,
 * then the services concerned reloaded.  The outcome in result/err.
 */
static bool
push_apply(const void *data, size_t len, char *err, size_t errlen)
{
	struct bundle	*b;
	EVP_PKEY	*pub;
	uint64_t	 floor = 0;
	char		*p = cpath(ENROL_AGENT_DIR, "bundle.pub"), msg[1024];

	pub = bundle_key_load(p, false, err, errlen);
	free(p);
	if (pub == NULL)
		return false;
	if (bundle_replay_floor(c.conf->confdir, &floor, err, errlen) == -1) {
		EVP_PKEY_free(pub);
		return false;
	}
	b = bundle_verify(data, len, &pub, 1, floor, err, errlen);
	EVP_PKEY_free(pub);
	if (b == NULL)
		return false;
	if (bundle_apply(b, c.conf->confdir, bundle_policy_check, err,
	    errlen) == -1) {
		bundle_free(b);
		return false;
	}
	log_kv(LOG_LVL_INFO, "event=bundle-applied version=%llu files=%zu "
	    "from=central", (unsigned long long)b->version, b->nfiles);
	bundle_free(b);
	if (!c.reload(msg, sizeof(msg))) {
		/* Checked before the commit: should not happen. */
		(void)str_printf(err, errlen, "applied, but the reload "
		    "failed: %s", msg);
		return false;
	}
	return true;
}

/* ---- controller: rounds and the hosts' state ------------------------------ */

/* state_load: DATA_DIR/central/hosts.json, or an empty state. */
static void
state_load(void)
{
	json_error_t	 je;
	char		*p = dpath(HOSTS_STATE);
	char		 esc[LOG_ESC_MAX], esc2[LOG_ESC_MAX];
	json_t		*o;

	json_decref(c.state);
	if ((o = json_load_file(p, 0, &je)) == NULL || !json_is_object(o)) {
		if (access(p, F_OK) == 0)
			log_kv(LOG_LVL_WARN, "event=central-state-invalid "
			    "path=%s detail=%s", log_esc(esc, sizeof(esc), p),
			    log_esc(esc2, sizeof(esc2), je.text));
		json_decref(o);
		o = json_object();
	}
	c.state = o;
	free(p);
}

/* state_save: the state of the hosts registered now, atomically. */
static void
state_save(const struct host_reg *reg)
{
	json_t	*keep = json_object();
	char	*p = dpath(HOSTS_STATE), *text;
	size_t	 i;
	json_t	*v;

	for (i = 0; i < reg->n; i++)
		if ((v = json_object_get(c.state, reg->v[i].name)) != NULL)
			json_object_set(keep, reg->v[i].name, v);
	json_decref(c.state);
	c.state = keep;
	if ((text = json_dumps(c.state, JSON_INDENT(1) | JSON_SORT_KEYS)) ==
	    NULL || file_write_atomic(p, text, strlen(text), 0600) == -1)
		log_warn("central: %s", p);
	free(text);
	free(p);
}

/*
 * state_record: what one host said.  A contact replaces the host's
 * info whole (nothing a host stopped reporting survives, seed 31); a
 * failed one keeps the last info and last_contact.
 */
static json_t *
state_record(const char *host, const char *result, const char *error,
    const struct agent_kv *kv)
{
	json_t	*old = json_object_get(c.state, host), *e, *info;
	int64_t	 now = (int64_t)time(NULL);
	size_t	 i;
	bool	 contact = kv->n > 0;

	e = json_object();
	json_object_set_new(e, "last_attempt", json_integer(now));
	json_object_set_new(e, "result", json_string(result));
	json_object_set_new(e, "error", json_string(error));
	if (contact) {
		info = json_object();
		for (i = 0; i < kv->n; i++)
			json_object_set_new(info, kv->e[i].k,
			    json_string(kv->e[i].v));
		json_object_set_new(e, "last_contact", json_integer(now));
		json_object_set_new(e, "info", info);
	} else {
		json_t *lc = json_object_get(old, "last_contact");
		json_t *oi = json_object_get(old, "info");

		json_object_set_new(e, "last_contact", json_is_integer(lc) ?
		    json_incref(lc) : json_integer(0));
		json_object_set_new(e, "info", json_is_object(oi) ?
		    json_incref(oi) : json_object());
	}
	json_object_set_new(c.state, host, e);
	return e;
}

/* round_answer: each waiter of the finished round gets every host. */
static void
round_answer(size_t nok, size_t nfail)
{
	struct sync_waiter *w;
	struct ipc_msg	*m;
	const char	*name;
	json_t		*e;
	char		*text, msg[200];

	(void)str_printf(msg, sizeof(msg), "%zu host%s contacted, %zu "
	    "failed", nok + nfail, nok + nfail == 1 ? "" : "s", nfail);
	while ((w = TAILQ_FIRST(&c.round_waiters)) != NULL) {
		TAILQ_REMOVE(&c.round_waiters, w, entry);
		json_object_foreach(c.round_results, name, e) {
			if ((text = json_dumps(e, JSON_COMPACT)) == NULL)
				fatalx("central: json_dumps");
			m = ipc_msg_new(IMSG_QUEUE_CTL_ENTRY, 0);
			ipc_add_u64(m, w->reqid);
			ipc_add_str(m, text);
			(void)ipc_chan_send(w->chan, m);
			free(text);
		}
		ctl_result(w->chan, w->reqid, nfail > 0 ? 1 : 0, msg);
		free(w);
	}
}

/* round_end: every host answered. */
static void
round_end(void)
{
	struct host_reg	 reg = { NULL, 0 };
	const char	*name;
	json_t		*e;
	char		 err[512];
	size_t		 nok = 0, nfail = 0;

	json_object_foreach(c.round_results, name, e) {
		const char *r = json_string_value(json_object_get(e,
		    "result"));

		if (r != NULL && (strcmp(r, "ok") == 0 ||
		    strcmp(r, "applied") == 0))
			nok++;
		else
			nfail++;
	}
	if (hosts_load(c.conf->confdir, &reg, err, sizeof(err)) == 0) {
		state_save(&reg);
		hosts_free(&reg);
	}
	c.round_active = false;
	round_answer(nok, nfail);
	json_decref(c.round_results);
	c.round_results = NULL;
	if (!TAILQ_EMPTY(&c.next_waiters))
		round_start();
}

/* round_fail: a round that cannot run: its waiters hear why. */
static void
round_fail(const char *why)
{
	struct sync_waiter *w;

	char		 esc[LOG_ESC_MAX];

	log_kv(LOG_LVL_WARN, "event=central-round-failed detail=%s",
	    log_esc(esc, sizeof(esc), why));
	while ((w = TAILQ_FIRST(&c.next_waiters)) != NULL) {
		TAILQ_REMOVE(&c.next_waiters, w, entry);
		ctl_result(w->chan, w->reqid, 1, why);
		free(w);
	}
}

/*
 * round_bundle: the published bundle, checked with our own key, or
 * none (len 0).  false when it exists but is not valid.
 */
static bool
round_bundle(uint8_t **data, size_t *len, uint64_t *version, char *err,
    size_t errlen)
{
	struct bundle	*b;
	EVP_PKEY	*pub;
	char		*p = dpath("bundle"), *k;

	*data = NULL;
	*len = 0;
	*version = 0;
	if ((*data = (uint8_t *)file_read(p, BUNDLE_MAX_SIZE, len)) == NULL) {
		bool missing = errno == ENOENT;

		if (!missing)
			(void)str_printf(err, errlen, "%s: %s", p,
			    strerror(errno));
		free(p);
		return missing;
	}
	free(p);
	k = cpath(ENROL_CENTRAL_DIR, BUNDLE_PUBKEY_NAME);
	pub = bundle_key_load(k, false, err, errlen);
	free(k);
	if (pub == NULL || (b = bundle_verify(*data, *len, &pub, 1, 0, err,
	    errlen)) == NULL) {
		EVP_PKEY_free(pub);
		free(*data);
		*data = NULL;
		*len = 0;
		return false;
	}
	*version = b->version;
	bundle_free(b);
	EVP_PKEY_free(pub);
	return true;
}

/* round_start: contact every registered host. */
static void
round_start(void)
{
	struct host_reg	 reg = { NULL, 0 };
	struct ipc_msg	*m;
	uint8_t		*data;
	uint64_t	 version;
	size_t		 len, i;
	char		 err[512], why[600];

	if (c.round_active)
		return;
	if (!c.central || c.chan == NULL) {
		round_fail(c.central ? "the link process is not running "
		    "(see the manager's log)" : "this manager is not a "
		    "central controller (sekishoctl central init)");
		return;
	}
	if (hosts_load(c.conf->confdir, &reg, err, sizeof(err)) == -1) {
		round_fail(err);
		return;
	}
	if (!round_bundle(&data, &len, &version, err, sizeof(err))) {
		(void)str_printf(why, sizeof(why), "the published bundle is "
		    "not valid: %s", err);
		round_fail(why);
		hosts_free(&reg);
		return;
	}
	TAILQ_CONCAT(&c.round_waiters, &c.next_waiters, entry);
	c.round_active = true;
	c.round_pending = reg.n;
	c.round_results = json_object();
	for (i = 0; i < reg.n; i++) {
		m = ipc_msg_new(IMSG_LINK_SYNC, 0);
		ipc_add_str(m, reg.v[i].name);
		ipc_add_str(m, reg.v[i].address);
		ipc_add_u16(m, reg.v[i].port);
		ipc_add_str(m, reg.v[i].fpr);
		ipc_add_u64(m, version);
		ipc_add_data(m, data != NULL ? data : (const uint8_t *)"", len);
		to_link(m);
	}
	log_kv(LOG_LVL_INFO, "event=central-round hosts=%zu bundle=%llu",
	    reg.n, (unsigned long long)version);
	free(data);
	hosts_free(&reg);
	if (c.round_pending == 0)
		round_end();
}

/* round_result: IMSG_LINK_RESULT; false when malformed. */
static bool
round_result(struct ipc_msg_in *msg)
{
	char		 host[ENROL_NAME_MAX + 1], result[32], error[1024];
	struct agent_kv	 kv;
	const void	*p;
	size_t		 len;
	char		 err[256];
	json_t		*e;

	if (!ipc_get_str(msg, host, sizeof(host)) ||
	    !ipc_get_str(msg, result, sizeof(result)) ||
	    !ipc_get_str(msg, error, sizeof(error)) ||
	    !ipc_get_data(msg, &p, &len, AGENT_FRAME_MAX) || !ipc_end(msg) ||
	    agent_kv_parse(p, len, &kv, err, sizeof(err)) == -1 ||
	    !c.round_active || c.round_pending == 0)
		return false;
	e = state_record(host, result, error, &kv);
	json_object_set(c.round_results, host, e);
	json_object_set_new(e, "host", json_string(host));
	if (--c.round_pending == 0)
		round_end();
	return true;
}

static void
round_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv = { (time_t)c.conf->imss.central_sync_interval,
	    0 };

	(void)fd;
	(void)ev;
	(void)arg;
	if (!c.round_active)
		round_start();
	evtimer_add(c.ev_round, &tv);
}

/*
 * central_sync: sekishoctl central sync (IMSG_MGR_SYNC): a round starts
 * now, or after the one running (which may have begun before what the
 * administrator just published); answered when it ends.
 */
void
central_sync(struct ipc_chan *ch, uint64_t reqid)
{
	struct sync_waiter *w = xcalloc(1, sizeof(*w));

	w->chan = ch;
	w->reqid = reqid;
	TAILQ_INSERT_TAIL(&c.next_waiters, w, entry);
	if (!c.round_active)
		round_start();
}

/*
 * central_hosts: IMSG_MGR_HOSTS (the console): every registered host with
 * what it said last, as sekishoctl central hosts reads them from the
 * files; the result names the published version.
 */
void
central_hosts(struct ipc_chan *ch, uint64_t reqid)
{
	struct host_reg	 reg = { NULL, 0 };
	struct ipc_msg	*m;
	uint8_t		*data;
	uint64_t	 version;
	size_t		 len, i;
	char		 err[512], text[600], *js;
	json_t		*o;

	if (hosts_load(c.conf->confdir, &reg, err, sizeof(err)) == -1) {
		ctl_result(ch, reqid, 1, err);
		return;
	}
	if (!round_bundle(&data, &len, &version, err, sizeof(err)))
		version = 0;
	free(data);
	for (i = 0; i < reg.n; i++) {
		if ((o = hosts_entry_json(&reg.v[i], json_object_get(c.state,
		    reg.v[i].name))) == NULL ||
		    (js = json_dumps(o, JSON_COMPACT)) == NULL)
			fatalx("central_hosts: json");
		json_decref(o);
		m = ipc_msg_new(IMSG_QUEUE_CTL_ENTRY, 0);
		ipc_add_u64(m, reqid);
		ipc_add_str(m, js);
		(void)ipc_chan_send(ch, m);
		free(js);
	}
	(void)str_printf(text, sizeof(text), "%zu host%s registered; "
	    "published configuration version %llu", reg.n, reg.n == 1 ? "" :
	    "s", (unsigned long long)version);
	ctl_result(ch, reqid, 0, text);
	hosts_free(&reg);
}

/* central_client_gone: a sekishoctl left: forget its waits. */
void
central_client_gone(struct ipc_chan *ch)
{
	struct waiters	*lists[] = { &c.round_waiters, &c.next_waiters };
	struct sync_waiter *w, *next;
	size_t		 i;

	for (i = 0; i < nitems(lists); i++)
		for (w = TAILQ_FIRST(lists[i]); w != NULL; w = next) {
			next = TAILQ_NEXT(w, entry);
			if (w->chan == ch) {
				TAILQ_REMOVE(lists[i], w, entry);
				free(w);
			}
		}
}

/* ---- the link process ---------------------------------------------------- */

/* link_kill: end the link (it exits when its channel closes). */
static void
link_kill(void)
{
	struct info_req	*r;

	while ((r = TAILQ_FIRST(&c.infos)) != NULL)
		info_free(r);
	if (c.chan != NULL) {
		ipc_chan_free(c.chan);
		c.chan = NULL;
	}
	if (c.pid != 0)
		(void)kill(c.pid, SIGTERM);
}

static void
link_dispatch(struct ipc_chan *ch, struct ipc_msg_in *msg, void *arg)
{
	const void	*p;
	size_t		 len;
	uint32_t	 conn;
	char		 err[1024], esc[LOG_ESC_MAX];

	(void)ch;
	(void)arg;
	switch (msg->type) {
	case IMSG_LINK_INFO:
		if (!ipc_get_u32(msg, &conn) || !ipc_end(msg))
			break;
		info_start(conn, NULL, NULL);
		return;
	case IMSG_LINK_PUSH:
		if (!ipc_get_u32(msg, &conn) ||
		    !ipc_get_data(msg, &p, &len, BUNDLE_MAX_SIZE + 1) ||
		    !ipc_end(msg))
			break;
		if (push_apply(p, len, err, sizeof(err)))
			info_start(conn, "applied", NULL);
		else {
			log_kv(LOG_LVL_WARN, "event=bundle-refused from=central "
			    "reason=%s", log_esc(esc, sizeof(esc), err));
			info_start(conn, "refused", err);
		}
		return;
	case IMSG_LINK_RESULT:
		if (!round_result(msg))
			break;
		return;
	}
	/* Our own child, but the one facing the network: never trusted. */
	log_kv(LOG_LVL_WARN, "event=mlink-protocol type=%s detail=\"ended "
	    "the link process\"", ipc_type_name(msg->type));
	link_kill();
}

static void
link_closed(struct ipc_chan *ch, enum ipc_close why, void *arg)
{
	(void)ch;
	(void)arg;
	log_kv(LOG_LVL_DEBUG, "event=mlink-closed why=%s", ipc_close_name(why));
	link_kill();
}

/* link_listen: the agent's socket on scanner_ip_addr:agent_port. */
static int
link_listen(void)
{
	const struct conf_ip *ip = &c.conf->imss.scanner_ip_addr;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t	 sl;
	int		 fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	if (ip->family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_addr = ip->addr.v4;
		sin->sin_port = htons((uint16_t)c.conf->imss.agent_port);
		sl = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = ip->addr.v6;
		sin6->sin6_port = htons((uint16_t)c.conf->imss.agent_port);
		sl = sizeof(*sin6);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, sl) == -1 || listen(fd, 16) == -1) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* link_start: fork the link with the roles that are configured. */
static void
link_start(void)
{
	SSL_CTX	*actx = NULL, *cctx = NULL;
	char	 err[512], esc[LOG_ESC_MAX];
	int	 sp[2], keep[2], lfd = -1;
	pid_t	 pid;

	if (c.pid != 0 || c.stopping)
		return;
	fingerprint(c.started_with);
	c.agent = c.central = false;
	if (cexists(ENROL_AGENT_DIR, "agent.crt")) {
		if (c.conf->imss.scanner_ip_addr.family == AF_UNSPEC)
			log_kv(LOG_LVL_WARN, "event=agent-off detail=\"enrolled, "
			    "but [imss_manager] scanner_ip_addr is not set\"");
		else if ((actx = enrol_agent_ctx(c.conf->confdir, err,
		    sizeof(err))) == NULL)
			log_kv(LOG_LVL_ERR, "event=agent-off detail=%s",
			    log_esc(esc, sizeof(esc), err));
		else if ((lfd = link_listen()) == -1) {
			log_kv(LOG_LVL_ERR, "event=agent-off address=%s "
			    "port=%lld detail=%s",
			    c.conf->imss.scanner_ip_addr.text,
			    c.conf->imss.agent_port, log_esc(esc, sizeof(esc),
			    strerror(errno)));
			SSL_CTX_free(actx);
			actx = NULL;
		}
	}
	if (cexists(ENROL_CENTRAL_DIR, "controller.crt") &&
	    (cctx = enrol_central_ctx(c.conf->confdir, err,
	    sizeof(err))) == NULL)
		log_kv(LOG_LVL_ERR, "event=central-off detail=%s",
		    log_esc(esc, sizeof(esc), err));
	c.agent = actx != NULL;
	c.central = cctx != NULL;
	if (!c.agent && !c.central)
		return;
	if (ipc_socketpair(sp) == -1)
		fatal("central: socketpair");
	keep[0] = sp[1];
	keep[1] = lfd;
	if ((pid = mchild_fork("manager.link", c.conf, keep, lfd != -1 ? 2 : 1,
	    c.foreground)) == 0)
		_exit(mlink_main(sp[1], lfd, actx, cctx));
	close(sp[1]);
	if (lfd != -1)
		close(lfd);
	SSL_CTX_free(actx);
	SSL_CTX_free(cctx);
	c.pid = pid;
	c.chan = ipc_chan_new(c.base, sp[0], LINK_MAX_PAYLOAD, link_dispatch,
	    link_closed, NULL);
	ipc_chan_set_name(c.chan, "link");
	ipc_chan_set_outq_limit(c.chan, 64 * (size_t)LINK_MAX_PAYLOAD);
	log_kv(LOG_LVL_INFO, "event=link-started pid=%ld central=%s", (long)pid,
	    c.central ? "yes" : "no");
	if (c.agent)
		log_kv(LOG_LVL_INFO, "event=agent-listening address=%s port=%lld",
		    c.conf->imss.scanner_ip_addr.text, c.conf->imss.agent_port);
	if (c.central && !c.round_active)
		round_start();
}

static void
restart_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	link_start();
}

/* central_reaped: pid was the link: true (and what follows is done). */
bool
central_reaped(pid_t pid, int status)
{
	uint8_t		 now[32];

	if (pid == 0 || pid != c.pid)
		return false;
	c.pid = 0;
	link_kill();
	if (c.round_active) {
		/* The hosts not heard from yet will not be. */
		c.round_pending = 0;
		round_end();
	}
	if (c.stopping)
		return true;
	fingerprint(now);
	if (memcmp(now, c.started_with, sizeof(now)) != 0) {
		c.deaths = 0;		/* ended for a new configuration */
		link_start();
		return true;
	}
	mchild_died("link", c.ev_restart, &c.deaths, status);
	return true;
}

/*
 * central_configure: the configuration (at start and after each reload):
 * the link restarted when what it runs with changed, started when a
 * role appeared.
 */
void
central_configure(const struct sekisho_conf *conf)
{
	struct timeval	 tv = { (time_t)conf->imss.central_sync_interval, 0 };
	uint8_t		 now[32];

	c.conf = conf;
	if (c.state == NULL)
		state_load();
	evtimer_add(c.ev_round, &tv);
	if (c.pid != 0) {
		fingerprint(now);
		if (memcmp(now, c.started_with, sizeof(now)) != 0) {
			log_kv(LOG_LVL_INFO, "event=link-restart detail=\"its "
			    "certificates, address or user changed\"");
			link_kill();	/* started again when reaped */
		}
		return;
	}
	if (!evtimer_pending(c.ev_restart, NULL))
		link_start();
}

void
central_init(struct event_base *base, central_reload_fn reload,
    bool foreground)
{
	memset(&c, 0, sizeof(c));
	c.base = base;
	c.reload = reload;
	c.foreground = foreground;
	TAILQ_INIT(&c.infos);
	TAILQ_INIT(&c.round_waiters);
	TAILQ_INIT(&c.next_waiters);
	if ((c.ev_restart = evtimer_new(base, restart_cb, NULL)) == NULL ||
	    (c.ev_round = evtimer_new(base, round_timer, NULL)) == NULL)
		fatalx("central_init: evtimer_new");
}

/* central_stop: the manager is stopping: end the link. */
void
central_stop(void)
{
	c.stopping = true;
	evtimer_del(c.ev_restart);
	evtimer_del(c.ev_round);
	link_kill();
}

bool
central_stopped(void)
{
	return c.pid == 0;
}

void
central_free(void)
{
	struct sync_waiter *w;

	link_kill();
	while ((w = TAILQ_FIRST(&c.round_waiters)) != NULL) {
		TAILQ_REMOVE(&c.round_waiters, w, entry);
		free(w);
	}
	while ((w = TAILQ_FIRST(&c.next_waiters)) != NULL) {
		TAILQ_REMOVE(&c.next_waiters, w, entry);
		free(w);
	}
	json_decref(c.state);
	json_decref(c.round_results);
	event_free(c.ev_restart);
	event_free(c.ev_round);
}
