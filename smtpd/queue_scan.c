/*
 * queue_scan.c: the messages in incoming/ and their scan by
 * sekisho-scanner (DESIGN.md section 3 steps 4 and 5, docs/scanner.md).
 *
 * The queue connects to <run_dir>/scanner.sock and sends each message as
 * its envelope and a descriptor on its content, with an anonymous output
 * file (O_TMPFILE in the spool's tmp/) for the modified copies and the
 * notifications.  It carries the answer out, per group of recipients:
 *
 *	deliver, change recipient	a message in queue/ with the group's
 *					recipients (or the new one) and the
 *					modified content if any; the first
 *					such message keeps the queue id
 *	delete				nothing
 *	quarantine			the original content into the store
 *	archive				a copy into the archive area (seed 9)
 *	Bcc				added to what is delivered
 *	notifications			new messages from <> in queue/
 *
 * Everything new is made durable (quarantine files, then one spool sync
 * and publish for the spool messages) before the message leaves
 * incoming/, so a crash at any point repeats the work (a duplicate at
 * worst) and never loses the message.  A failed scan (worker crashed or
 * hit a limit) is retried after scan_retry_seconds; after
 * max_scan_failures the message is held in the failure_area quarantine
 * and the administrator is notified (DESIGN.md section 4).
 */
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "addr.h"
#include "conf.h"
#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "notify.h"
#include "quarantine.h"
#include "queue.h"
#include "scan_proto.h"
#include "smtp.h"
#include "spool.h"
#include "track.h"
#include "xmalloc.h"

#define QSCAN_MAX_INFLIGHT	64	/* requests outstanding at once */
#define QSCAN_RECONNECT_MAX	10	/* seconds between connect tries */

/* A message in incoming/. */
struct smsg {
	TAILQ_ENTRY(smsg)	 entry;
	struct envelope		 env;
	uint64_t		 reqid;		/* 0: not in flight */
	int			 outfd;		/* while in flight */
	time_t			 not_before;	/* after a failure */
};
TAILQ_HEAD(smsg_list, smsg);

static struct {
	struct smsg_list	 wait;		/* to scan (now or later) */
	struct smsg_list	 busy;		/* at the scanner */
	size_t			 nwait, nbusy;
	struct ipc_chan		*chan;		/* NULL: not connected */
	struct event		*ev_timer;
	uint64_t		 reqid;
	int			 backoff;	/* seconds */
	bool			 down_logged;
} qs;

static void	qscan_timer(evutil_socket_t, short, void *);

/* qscan_conf: the [scan] settings. */
static const struct conf_policy *
qscan_conf(void)
{
	return &q.env->conf->policy;
}

/* qscan_arm: run the dispatcher again in secs seconds. */
static void
qscan_arm(time_t secs)
{
	struct timeval tv = { secs, 0 };

	evtimer_add(qs.ev_timer, &tv);
}

/* qscan_init: start with nothing to scan. */
void
qscan_init(void)
{
	TAILQ_INIT(&qs.wait);
	TAILQ_INIT(&qs.busy);
	if ((qs.ev_timer = evtimer_new(q.base, qscan_timer, NULL)) == NULL)
		fatalx("qscan_init: evtimer_new");
	qs.backoff = 1;
}

/* qscan_msg_free: one message's bookkeeping (not its files). */
static void
qscan_msg_free(struct smsg *m)
{
	if (m->outfd != -1)
		close(m->outfd);
	envelope_clear(&m->env);
	free(m);
}

/* qscan_free: release everything at exit. */
void
qscan_free(void)
{
	struct smsg *m;

	while ((m = TAILQ_FIRST(&qs.wait)) != NULL) {
		TAILQ_REMOVE(&qs.wait, m, entry);
		qscan_msg_free(m);
	}
	while ((m = TAILQ_FIRST(&qs.busy)) != NULL) {
		TAILQ_REMOVE(&qs.busy, m, entry);
		qscan_msg_free(m);
	}
	if (qs.chan != NULL)
		ipc_chan_free(qs.chan);
	if (qs.ev_timer != NULL)
		event_free(qs.ev_timer);
	memset(&qs, 0, sizeof(qs));
}

/* qscan_count: messages waiting for or in a scan. */
size_t
qscan_count(void)
{
	return qs.nwait + qs.nbusy;
}

/*
 * qscan_add: take a message of incoming/ (its envelope's contents move
 * here; env is left empty) and scan it as soon as possible.
 */
void
qscan_add(struct envelope *env)
{
	struct smsg *m;

	m = xcalloc(1, sizeof(*m));
	m->env = *env;
	envelope_init(env);
	m->outfd = -1;
	TAILQ_INSERT_TAIL(&qs.wait, m, entry);
	qs.nwait++;
	event_active(qs.ev_timer, EV_TIMEOUT, 0);
}

/* qscan_track: one tracking record about m (rcpt may be NULL). */
static void
qscan_track(const struct envelope *env, enum track_kind kind,
    const char *rcpt, const char *subject, const char *rule,
    const char *action, const char *detail)
{
	struct track_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.qid = env->id;
	ev.kind = kind;
	ev.sender = env->sender;
	ev.rcpt = rcpt;
	ev.subject = subject != NULL && subject[0] != '\0' ? subject : NULL;
	ev.rule = rule != NULL && rule[0] != '\0' ? rule : NULL;
	ev.action = action;
	ev.detail = detail;
	qtrack_add(&ev);
}

/* qscan_closed: the scanner went away; what it had is scanned again. */
static void
qscan_closed(struct ipc_chan *c, enum ipc_close why, void *arg)
{
	struct smsg *m;

	log_kv(LOG_LVL_WARN, "event=scanner-lost why=%s inflight=%zu",
	    ipc_close_name(why), qs.nbusy);
	ipc_chan_free(c);
	qs.chan = NULL;
	while ((m = TAILQ_FIRST(&qs.busy)) != NULL) {
		TAILQ_REMOVE(&qs.busy, m, entry);
		qs.nbusy--;
		close(m->outfd);
		m->outfd = -1;
		m->reqid = 0;
		TAILQ_INSERT_HEAD(&qs.wait, m, entry);
		qs.nwait++;
	}
	qs.backoff = 1;
	qscan_arm(1);
}

static void	qscan_dispatch(struct ipc_chan *, struct ipc_msg_in *, void *);

/* qscan_connect: try the scanner's socket; true when connected. */
static bool
qscan_connect(void)
{
	char	 path[4096];
	uid_t	 uid;
	gid_t	 gid;
	pid_t	 pid;
	int	 fd;

	if (!str_printf(path, sizeof(path), "%s/scanner.sock",
	    q.env->conf->imss.run_dir))
		fatalx("qscan_connect: run_dir too long");
	if ((fd = ipc_connect_unix(path)) == -1) {
		if (!qs.down_logged)
			log_kv(LOG_LVL_WARN, "event=scanner-unavailable "
			    "socket=%s err=\"%s\" waiting=%zu", path,
			    strerror(errno), qscan_count());
		qs.down_logged = true;
		return false;
	}
	/* Only the scanner's user (or root) may answer for it. */
	if (ipc_peer_cred(fd, &uid, &gid, &pid) == -1 ||
	    (uid != 0 && uid != getuid() &&
	    uid != q.env->scanner_uid)) {
		log_kv(LOG_LVL_ERR, "event=scanner-refused socket=%s uid=%ld",
		    path, (long)uid);
		close(fd);
		return false;
	}
	qs.chan = ipc_chan_new(q.base, fd, SCAN_PROTO_MAX_PAYLOAD,
	    qscan_dispatch, qscan_closed, NULL);
	ipc_chan_set_name(qs.chan, "scanner");
	log_kv(LOG_LVL_INFO, "event=scanner-connected pid=%ld waiting=%zu",
	    (long)pid, qscan_count());
	qs.down_logged = false;
	qs.backoff = 1;
	return true;
}

/* qscan_send: hand m to the scanner; false leaves it waiting. */
static bool
qscan_send(struct smsg *m)
{
	struct ipc_msg	*msg;
	struct buf	 b;
	char		 err[160];
	int		 fd, out, out2;

	if ((fd = spool_body_open(&q.spool, SPOOL_INCOMING, m->env.id)) == -1) {
		log_kv(LOG_LVL_ERR, "event=scan-open-failed qid=%s err=\"%s\"",
		    m->env.id, strerror(errno));
		return false;
	}
	out = openat(q.spool.tmpfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (out == -1 || (out2 = dup(out)) == -1) {
		str_printf(err, sizeof(err), "output file: %s",
		    strerror(errno));
		log_kv(LOG_LVL_ERR, "event=scan-send-failed qid=%s err=\"%s\"",
		    m->env.id, err);
		if (out != -1)
			close(out);
		close(fd);
		return false;
	}
	buf_init(&b, ENVELOPE_MAX_SIZE);
	if (!envelope_format(&m->env, &b))
		fatalx("qscan_send: qid %s: envelope too large", m->env.id);
	m->reqid = ++qs.reqid;
	m->outfd = out;
	msg = ipc_msg_new(IMSG_SCAN_OUTPUT, 0);
	ipc_add_u64(msg, m->reqid);
	ipc_add_fd(msg, out2);
	ipc_chan_send(qs.chan, msg);
	msg = ipc_msg_new(IMSG_SCAN_REQUEST, 0);
	ipc_add_u64(msg, m->reqid);
	ipc_add_data(msg, b.data, b.len);
	ipc_add_fd(msg, fd);
	ipc_chan_send(qs.chan, msg);
	buf_free(&b);
	log_kv(LOG_LVL_DEBUG, "event=scan-sent qid=%s reqid=%llu", m->env.id,
	    (unsigned long long)m->reqid);
	return true;
}

/* qscan_timer: connect if needed and send what may go now. */
static void
qscan_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct smsg	*m, *next;
	time_t		 now = time(NULL), wake = 0;

	if (qs.nwait == 0)
		return;
	if (qs.chan == NULL && !qscan_connect()) {
		qscan_arm(qs.backoff);
		if (qs.backoff < QSCAN_RECONNECT_MAX)
			qs.backoff *= 2;
		return;
	}
	for (m = TAILQ_FIRST(&qs.wait); m != NULL; m = next) {
		next = TAILQ_NEXT(m, entry);
		if (qs.nbusy >= QSCAN_MAX_INFLIGHT)
			break;
		if (m->not_before > now) {
			if (wake == 0 || m->not_before < wake)
				wake = m->not_before;
			continue;
		}
		if (!qscan_send(m)) {
			m->not_before = now + qscan_conf()->scan_retry_seconds;
			continue;
		}
		TAILQ_REMOVE(&qs.wait, m, entry);
		qs.nwait--;
		TAILQ_INSERT_TAIL(&qs.busy, m, entry);
		qs.nbusy++;
	}
	if (wake != 0)
		qscan_arm(wake - now);
}

/* qscan_done: m left incoming/; forget it. */
static void
qscan_done(struct smsg *m)
{
	TAILQ_REMOVE(&qs.busy, m, entry);
	qs.nbusy--;
	qscan_msg_free(m);
	if (qs.nwait > 0)
		event_active(qs.ev_timer, EV_TIMEOUT, 0);
}

/* qscan_later: m goes back to waiting until not_before. */
static void
qscan_later(struct smsg *m, time_t not_before)
{
	TAILQ_REMOVE(&qs.busy, m, entry);
	qs.nbusy--;
	close(m->outfd);
	m->outfd = -1;
	m->reqid = 0;
	m->not_before = not_before;
	TAILQ_INSERT_TAIL(&qs.wait, m, entry);
	qs.nwait++;
	qscan_arm(not_before > time(NULL) ? not_before - time(NULL) : 0);
}

/*
 * The messages one scan result produces in queue/: staged one by one,
 * then synced and published together.
 */
struct outset {
	struct envelope	*envs;
	const struct scan_group **groups;	/* each one's, or NULL */
	size_t		 n, cap;
	bool		 qid_used;	/* the original id went to one */
};

/*
 * out_new: a new envelope in the set, a copy of orig's metadata, for the
 * recipients of group g (NULL: a notification).
 */
static struct envelope *
out_new(struct outset *os, const struct envelope *orig, const char *sender,
    const struct scan_group *g)
{
	struct envelope *e;

	if (os->n == os->cap) {
		os->cap = os->cap ? os->cap * 2 : 4;
		os->envs = xreallocarray(os->envs, os->cap, sizeof(*os->envs));
		os->groups = xreallocarray(os->groups, os->cap,
		    sizeof(*os->groups));
	}
	os->groups[os->n] = g;
	e = &os->envs[os->n++];
	envelope_init(e);
	e->received = orig->received;
	e->sender = xstrdup(sender);
	e->helo = orig->helo ? xstrdup(orig->helo) : NULL;
	/* A notification is ours, not the client's (the IP profiler counts
	   what a next hop does with mail from a client address). */
	e->client_ip = orig->client_ip && g != NULL ?
	    xstrdup(orig->client_ip) : NULL;
	e->client_name = orig->client_name ? xstrdup(orig->client_name) : NULL;
	e->tls = orig->tls ? xstrdup(orig->tls) : NULL;
	e->envid = orig->envid ? xstrdup(orig->envid) : NULL;
	e->auth = orig->auth ? xstrdup(orig->auth) : NULL;
	e->smtputf8 = orig->smtputf8;
	e->body_8bit = orig->body_8bit;
	e->ret_hdrs = orig->ret_hdrs;
	return e;
}

/* out_free: free the set; with abort, remove what was staged first. */
static void
out_free(struct outset *os, bool abort)
{
	size_t	 i;

	for (i = 0; i < os->n; i++) {
		if (abort && os->envs[i].id[0] != '\0')
			spool_abort(&q.spool, os->envs[i].id);
		envelope_clear(&os->envs[i]);
	}
	free(os->envs);
	free(os->groups);
	memset(os, 0, sizeof(*os));
}

/* addr_ok: a recipient address the scanner named is usable. */
static bool
addr_ok(const char *a)
{
	struct addr	 ad;
	struct addr_opts o = { .check_dots = false, .smtputf8 = true };

	return addr_parse(&ad, a, strlen(a), ADDR_BARE, &o) == ADDR_OK &&
	    ad.domain[0] != '\0';
}

/*
 * out_stage: give e its content and stage it: the slice sl of src (a new
 * file), or with src -1 a link to the content of orig in incoming/.
 * keep_id: e takes orig's id unless another message did.
 */
static int
out_stage(struct outset *os, struct envelope *e, const struct envelope *orig,
    bool keep_id, int src, const struct scan_slice *sl, char *err,
    size_t errlen)
{
	const char *origid = orig->id;

	int	 fd = -1;

	if (keep_id && !os->qid_used) {
		memcpy(e->id, origid, sizeof(e->id));
		os->qid_used = true;
		if (src != -1)
			fd = spool_body_create_as(&q.spool, e->id);
	} else if (src != -1)
		fd = spool_body_create(&q.spool, e->id);
	else
		spool_id_new(&q.spool, e->id);
	if (src == -1) {
		if (spool_body_link(&q.spool, SPOOL_INCOMING, origid,
		    e->id) == -1) {
			str_printf(err, errlen, "link: %s", strerror(errno));
			e->id[0] = '\0';
			return -1;
		}
		e->size = orig->size;
	} else {
		if (fd == -1) {
			str_printf(err, errlen, "create: %s", strerror(errno));
			e->id[0] = '\0';
			return -1;
		}
		if (fd_copy_range(src, sl->off, sl->len, fd, &e->size) == -1) {
			str_printf(err, errlen, "copy: %s", strerror(errno));
			close(fd);
			return -1;
		}
		close(fd);
	}
	return spool_stage(&q.spool, e, err, errlen);
}

/* rcpt_has: whether e already has recipient a (case ignored). */
static bool
rcpt_has(const struct envelope *e, const char *a)
{
	size_t	 i;

	for (i = 0; i < e->nrcpt; i++)
		if (strcasecmp(e->rcpt[i].addr, a) == 0)
			return true;
	return false;
}

/* rcpt_copy: recipient r of orig into e (delivery state fresh). */
static void
rcpt_copy(struct envelope *e, const struct envelope_rcpt *r)
{
	envelope_add_rcpt(e, r->addr, r->orcpt, r->notify);
}

/* group_rule: the rule that decided a group, or its first match. */
static const char *
group_rule(const struct scan_group *g)
{
	if (g->intercept_rule[0] != '\0')
		return g->intercept_rule;
	return g->nhits > 0 ? g->hits[0].rule : NULL;
}

/*
 * qscan_group: carry out one group's decision.  Quarantine and archive
 * copies are stored at once; the message to deliver (if any) is staged
 * in os.
 */
static int
qscan_group(struct smsg *m, const struct scan_reply *r,
    const struct scan_group *g, struct outset *os, char *err, size_t errlen)
{
	char			 esc[LOG_ESC_MAX];
	const struct conf_policy *c = qscan_conf();
	struct envelope		*e = NULL;
	struct quar_meta	 meta;
	const char		**addrs;
	const char		*rule;
	char			 qid[QUAR_ID_LEN + 1], aqid[QUAR_ID_LEN + 1];
	char			 action[600], detail[SCAN_PROTO_MAX_TEXT + 64];
	size_t			 i;
	int			 rv = 0, orig = -1;

	addrs = xcalloc(g->nrcpts, sizeof(*addrs));
	for (i = 0; i < g->nrcpts; i++)
		addrs[i] = m->env.rcpt[g->rcpts[i]].addr;
	rule = group_rule(g);
	memset(&meta, 0, sizeof(meta));
	meta.subject = r->subject[0] != '\0' ? r->subject : NULL;
	meta.rule = rule;
	if ((g->intercept == SCAN_QUARANTINE || g->archive) &&
	    (orig = spool_body_open(&q.spool, SPOOL_INCOMING,
	    m->env.id)) == -1) {
		str_printf(err, errlen, "open: %s", strerror(errno));
		rv = -1;
		goto done;
	}
	if (g->intercept == SCAN_QUARANTINE) {
		/* The original: a release scans it again without the rule. */
		meta.area = g->intercept_arg;
		meta.reason = g->final_text;
		if ((rv = quar_store(q.quar, &m->env, addrs, g->nrcpts, orig,
		    &meta, qid, err, errlen)) == -1)
			goto done;
	}
	if (g->archive) {
		/* The copy as delivered: "save a modified copy" (seed 9). */
		meta.area = c->archive_area;
		meta.reason = "archive";
		if (g->modified)
			rv = quar_store_range(q.quar, &m->env, addrs,
			    g->nrcpts, m->outfd, g->content.off,
			    g->content.len, &meta, aqid, err, errlen);
		else
			rv = quar_store(q.quar, &m->env, addrs, g->nrcpts, orig,
			    &meta, aqid, err, errlen);
		if (rv == -1)
			goto done;
	}
	if (g->intercept == SCAN_DELIVER || g->intercept == SCAN_CHANGE_RCPT ||
	    g->nbcc > 0) {
		e = out_new(os, &m->env, m->env.sender, g);
		if (g->intercept == SCAN_DELIVER)
			for (i = 0; i < g->nrcpts; i++)
				rcpt_copy(e, &m->env.rcpt[g->rcpts[i]]);
		else if (g->intercept == SCAN_CHANGE_RCPT) {
			if (!addr_ok(g->intercept_arg)) {
				str_printf(err, errlen, "bad new recipient "
				    "\"%s\"", g->intercept_arg);
				rv = -1;
				goto done;
			}
			envelope_add_rcpt(e, g->intercept_arg, NULL, 0);
		}
		for (i = 0; i < g->nbcc; i++) {
			if (rcpt_has(e, g->bcc[i]))
				continue;
			if (!addr_ok(g->bcc[i])) {
				log_kv(LOG_LVL_WARN, "event=bcc-skipped qid=%s "
				    "addr=%s", m->env.id, log_esc(esc, sizeof(esc),
				    g->bcc[i]));
				continue;
			}
			envelope_add_rcpt(e, g->bcc[i], NULL, ENV_NOTIFY_NEVER);
		}
		if (e->nrcpt == 0) {
			envelope_clear(e);
			os->n--;
			e = NULL;
		} else if (out_stage(os, e, &m->env,
		    g->intercept == SCAN_DELIVER ||
		    g->intercept == SCAN_CHANGE_RCPT,
		    g->modified ? m->outfd : -1, &g->content, err,
		    errlen) == -1) {
			rv = -1;
			goto done;
		}
	}
	/* The verdict, per recipient, and every rule that matched. */
	str_lcpy(action, g->final_text, sizeof(action));
	/* A copy under a new id: the scan record says where it went. */
	detail[0] = '\0';
	if (e != NULL && strcmp(e->id, m->env.id) != 0 &&
	    g->intercept != SCAN_DELETE && g->intercept != SCAN_QUARANTINE)
		str_printf(detail, sizeof(detail), "queued as %s%s%s", e->id,
		    g->limits[0] != '\0' ? "; " : "", g->limits);
	else
		str_lcpy(detail, g->limits, sizeof(detail));
	for (i = 0; i < g->nrcpts; i++) {
		size_t j;

		for (j = 0; j < g->nhits; j++)
			qscan_track(&m->env, TRACK_RULE_MATCHED, addrs[i],
			    r->subject, g->hits[j].rule, g->hits[j].action,
			    g->hits[j].conds[0] != '\0' ? g->hits[j].conds :
			    NULL);
		qscan_track(&m->env, TRACK_SCANNED, addrs[i], r->subject,
		    rule, action, detail[0] != '\0' ? detail : NULL);
		if (g->intercept == SCAN_QUARANTINE)
			qscan_track(&m->env, TRACK_QUARANTINED, addrs[i],
			    r->subject, rule, action, qid);
		else if (g->intercept == SCAN_DELETE)
			qscan_track(&m->env, TRACK_DELETED, addrs[i],
			    r->subject, rule, action, "deleted by policy");
		else if (g->intercept == SCAN_CHANGE_RCPT)
			qscan_track(&m->env, TRACK_REDIRECTED, addrs[i],
			    r->subject, rule, action, g->intercept_arg);
	}
	for (i = 0; e != NULL && i < g->nbcc; i++)
		qscan_track(&m->env, TRACK_RULE_MATCHED, g->bcc[i],
		    r->subject, rule, "bcc", e->id);
	if (g->archive)
		qscan_track(&m->env, TRACK_RULE_MATCHED, NULL, r->subject,
		    rule, "archive", aqid);
done:
	if (orig != -1)
		close(orig);
	free(addrs);
	return rv;
}

/* qscan_notifs: stage the notifications the scanner built. */
static int
qscan_notifs(struct smsg *m, const struct scan_reply *r, struct outset *os,
    char *err, size_t errlen)
{
	const struct scan_notif	*n;
	struct envelope		*e;
	size_t			 i, j;

	for (i = 0; i < r->nnotifs; i++) {
		n = &r->notifs[i];
		e = out_new(os, &m->env, "", NULL);
		for (j = 0; j < n->nto; j++)
			/* Never to the null sender (seed 11). */
			if (addr_ok(n->to[j]))
				envelope_add_rcpt(e, n->to[j], NULL,
				    ENV_NOTIFY_NEVER);
		if (e->nrcpt == 0) {
			envelope_clear(e);
			os->n--;
			continue;
		}
		if (out_stage(os, e, &m->env, false, m->outfd, &n->body,
		    err, errlen) == -1)
			return -1;
		for (j = 0; j < e->nrcpt; j++)
			qscan_track(&m->env, TRACK_NOTIFIED, e->rcpt[j].addr,
			    r->subject, n->rule, "notify", e->id);
	}
	return 0;
}

/*
 * qscan_publish_track: the records of the copies under new ids (where
 * from, and the verdict they carry) and of the original's leaving.
 */
static void
qscan_publish_track(struct smsg *m, const struct scan_reply *r,
    const struct outset *os)
{
	const struct scan_group *g;
	const struct envelope *e;
	size_t		 i, j;

	for (i = 0; i < os->n; i++) {
		e = &os->envs[i];
		g = os->groups[i];
		if (strcmp(e->id, m->env.id) == 0)
			continue;
		qscan_track(e, TRACK_RECEIVED, NULL, r->subject, NULL, NULL,
		    m->env.id);
		for (j = 0; g != NULL && j < e->nrcpt; j++)
			qscan_track(e, TRACK_SCANNED, e->rcpt[j].addr,
			    r->subject, group_rule(g), g->final_text,
			    m->env.id);
	}
	if (!os->qid_used)
		qscan_track(&m->env, TRACK_REMOVED, NULL, NULL, NULL, NULL,
		    "scan finished");
}

/*
 * qscan_publish: make the staged messages durable, move them into
 * queue/ and the schedule, then let the original go.  The scan's records
 * are committed first (qtrack_sync): once a copy keeping the queue id is
 * in queue/, or the original has left incoming/, the scan is never
 * repeated, so its records could not be written again.  A kill before
 * the publish repeats the scan and its records (a duplicate at worst).
 */
static int
qscan_publish(struct smsg *m, const struct scan_reply *r, struct outset *os,
    char *err, size_t errlen)
{
	size_t		 i;

	qscan_publish_track(m, r, os);
	qtrack_sync();
	if (os->n > 0) {
		if (spool_sync(&q.spool, err, errlen) == -1)
			return -1;
		for (i = 0; i < os->n; i++)
			if (spool_publish(&q.spool, SPOOL_QUEUE,
			    os->envs[i].id, err, errlen) == -1) {
				while (i-- > 0)
					spool_unpublish(&q.spool, SPOOL_QUEUE,
					    os->envs[i].id);
				return -1;
			}
		if (spool_sync_state(&q.spool, SPOOL_QUEUE, err, errlen) == -1)
			return -1;
	}
	if (spool_remove(&q.spool, SPOOL_INCOMING, m->env.id) == -1)
		log_kv(LOG_LVL_ERR, "event=incoming-remove-failed qid=%s "
		    "err=\"%s\"", m->env.id, strerror(errno));
	for (i = 0; i < os->n; i++)
		sched_add(&os->envs[i], SPOOL_QUEUE);
	return 0;
}

/* qscan_apply: carry out a successful scan of m. */
static void
qscan_apply(struct smsg *m, const struct scan_reply *r)
{
	char			 esc[LOG_ESC_MAX];
	struct outset	 os;
	char		 err[256];
	size_t		 i;

	memset(&os, 0, sizeof(os));
	for (i = 0; i < r->ngroups; i++)
		if (qscan_group(m, r, &r->groups[i], &os, err,
		    sizeof(err)) == -1)
			goto fail;
	if (qscan_notifs(m, r, &os, err, sizeof(err)) == -1 ||
	    qscan_publish(m, r, &os, err, sizeof(err)) == -1)
		goto fail;
	log_kv(LOG_LVL_INFO, "event=scanned qid=%s groups=%zu out=%zu "
	    "notifications=%zu usec=%llu spam=%d virus=%d", m->env.id,
	    r->ngroups, os.n, r->nnotifs, (unsigned long long)r->usec,
	    (r->verdict & SCAN_VERDICT_SPAM) != 0,
	    (r->verdict & SCAN_VERDICT_VIRUS) != 0);
	qipp_scanned(&m->env, (r->verdict & SCAN_VERDICT_SPAM) != 0,
	    (r->verdict & SCAN_VERDICT_VIRUS) != 0);
	out_free(&os, false);
	qscan_done(m);
	return;
fail:
	/* Not the message's fault: try the whole result again later. */
	log_kv(LOG_LVL_ERR, "event=scan-apply-failed qid=%s err=%s",
	    m->env.id, log_esc(esc, sizeof(esc), err));
	out_free(&os, true);
	qscan_later(m, time(NULL) + qscan_conf()->scan_retry_seconds);
}

/* qscan_admin: the administrator's address. */
static void
qscan_admin(char *buf, size_t len)
{
	const char *a = q.env->conf->imss.admin_email;

	if (strchr(a, '@') != NULL)
		str_lcpy(buf, a, len);
	else if (!str_printf(buf, len, "%s@%s", a, q.env->default_domain))
		str_lcpy(buf, "postmaster", len);
}

/* qscan_rcpt_list: the recipients of env, comma-separated. */
static char *
qscan_rcpt_list(const struct envelope *env)
{
	struct buf	 b;
	size_t		 i;

	buf_init(&b, NOTIFY_VALUE_MAX);
	for (i = 0; i < env->nrcpt; i++)
		if (!buf_printf(&b, "%s%s", i ? ", " : "", env->rcpt[i].addr))
			break;
	return buf_take_str(&b);
}

/* qscan_templates: the notification templates' directory, or -1. */
static int
qscan_templates(void)
{
	char	 path[4096];

	if (!str_printf(path, sizeof(path), "%s/templates",
	    q.env->conf->confdir))
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/*
 * qscan_fail_notice: tell the administrator that m was held in area as
 * quarantine id qid.  A failure is logged; the message itself is safe.
 */
static void
qscan_fail_notice(struct smsg *m, const char *reason, const char *area,
    const char *qid)
{
	char			 esc[LOG_ESC_MAX];
	struct notify_template	*t = NULL;
	struct notify_tokens	 tok;
	struct envelope		 e;
	struct buf		 b;
	char			 admin[512], err[256], count[64], *rcpts;
	const char		*to[1];
	int			 dfd, fd = -1;

	envelope_init(&e);
	buf_init(&b, 1024 * 1024);
	qscan_admin(admin, sizeof(admin));
	to[0] = admin;
	memset(&tok, 0, sizeof(tok));
	tok.sender = m->env.sender;
	tok.qid = m->env.id;
	tok.reason = reason;
	tok.area = area;
	tok.client_ip = m->env.client_ip;
	tok.date = m->env.received;
	str_printf(count, sizeof(count), "%s (after %u failed scans)", qid,
	    m->env.scanfail);
	tok.action = count;
	rcpts = qscan_rcpt_list(&m->env);
	tok.recipients = rcpts;
	if ((dfd = qscan_templates()) == -1) {
		str_printf(err, sizeof(err), "templates: %s", strerror(errno));
		goto fail;
	}
	t = notify_template_load(dfd, "scan-failure", err, sizeof(err));
	close(dfd);
	if (t == NULL || notify_build(t, &tok, admin, to, 1,
	    q.env->hostname, &b, err, sizeof(err)) == -1)
		goto fail;
	e.sender = xstrdup("");
	e.received = time(NULL);
	envelope_add_rcpt(&e, admin, NULL, ENV_NOTIFY_NEVER);
	if ((fd = spool_body_create(&q.spool, e.id)) == -1 ||
	    fd_write_all(fd, b.data, b.len) == -1) {
		str_printf(err, sizeof(err), "spool: %s", strerror(errno));
		goto fail;
	}
	e.size = b.len;
	if (spool_commit(&q.spool, SPOOL_QUEUE, &e, err, sizeof(err)) == -1)
		goto fail;
	qscan_track(&m->env, TRACK_NOTIFIED, admin, NULL, NULL, "notify",
	    e.id);
	sched_add(&e, SPOOL_QUEUE);
	goto done;
fail:
	log_kv(LOG_LVL_ERR, "event=scan-failure-notice-failed qid=%s "
	    "err=%s", m->env.id, log_esc(esc, sizeof(esc), err));
	if (fd != -1)
		spool_abort(&q.spool, e.id);
done:
	if (fd != -1)
		close(fd);
	notify_template_free(t);
	envelope_clear(&e);
	buf_free(&b);
	free(rcpts);
}

/*
 * qscan_failed: the scan of m failed.  Count it; retry later, or hold
 * the message in the failure area and tell the administrator.
 */
static void
qscan_failed(struct smsg *m, const char *reason)
{
	char			 esc[LOG_ESC_MAX];
	const struct conf_policy *c = qscan_conf();
	struct quar_meta meta;
	char		 err[256], qid[QUAR_ID_LEN + 1], detail[600];
	int		 fd;

	m->env.scanfail++;
	str_printf(detail, sizeof(detail), "attempt %u of %lld: %s",
	    m->env.scanfail, c->max_scan_failures, reason);
	qscan_track(&m->env, TRACK_SCAN_FAILED, NULL, NULL, NULL, NULL,
	    detail);
	log_kv(LOG_LVL_WARN, "event=scan-failed qid=%s attempt=%u max=%lld "
	    "reason=%s", m->env.id, m->env.scanfail, c->max_scan_failures,
	    log_esc(esc, sizeof(esc), reason));
	if (m->env.scanfail < (uint32_t)c->max_scan_failures) {
		qtrack_sync();	/* the attempt's record, then its count */
		if (spool_rewrite(&q.spool, SPOOL_INCOMING, &m->env, err,
		    sizeof(err)) == -1)
			log_kv(LOG_LVL_ERR, "event=envelope-rewrite-failed "
			    "qid=%s err=\"%s\"", m->env.id, err);
		qscan_later(m, time(NULL) + c->scan_retry_seconds);
		return;
	}
	/* Never delivered unscanned: held for the administrator. */
	memset(&meta, 0, sizeof(meta));
	meta.area = c->failure_area;
	meta.reason = detail;
	if ((fd = spool_body_open(&q.spool, SPOOL_INCOMING, m->env.id)) == -1 ||
	    quar_store(q.quar, &m->env, NULL, 0, fd, &meta, qid, err,
	    sizeof(err)) == -1) {
		if (fd == -1)
			str_printf(err, sizeof(err), "open: %s",
			    strerror(errno));
		if (fd != -1)
			close(fd);
		log_kv(LOG_LVL_ERR, "event=scan-failure-hold-failed qid=%s "
		    "err=%s", m->env.id, log_esc(esc, sizeof(esc), err));
		qscan_later(m, time(NULL) + c->scan_retry_seconds);
		return;
	}
	close(fd);
	for (size_t i = 0; i < m->env.nrcpt; i++)
		qscan_track(&m->env, TRACK_QUARANTINED, m->env.rcpt[i].addr,
		    NULL, NULL, "quarantine", qid);
	log_kv(LOG_LVL_WARN, "event=scan-failure-held qid=%s area=%s "
	    "quarantine-id=%s", m->env.id, c->failure_area, qid);
	qscan_fail_notice(m, reason, c->failure_area, qid);
	/* The records (quarantined) before the message leaves incoming/. */
	qscan_track(&m->env, TRACK_REMOVED, NULL, NULL, NULL, NULL,
	    "held after failed scans");
	qtrack_sync();
	if (spool_remove(&q.spool, SPOOL_INCOMING, m->env.id) == -1)
		log_kv(LOG_LVL_ERR, "event=incoming-remove-failed qid=%s "
		    "err=\"%s\"", m->env.id, strerror(errno));
	qscan_done(m);
}

/* qscan_dispatch: an answer from the scanner. */
static void
qscan_dispatch(struct ipc_chan *c, struct ipc_msg_in *msg, void *arg)
{
	struct scan_reply r;
	struct smsg	*m;
	struct stat	 st;
	uint64_t	 reqid;
	char		 err[160];

	if (msg->type != IMSG_SCAN_RESULT || !ipc_get_u64(msg, &reqid)) {
		log_kv(LOG_LVL_ERR, "event=scanner-protocol type=%s",
		    ipc_type_name(msg->type));
		qscan_closed(c, IPC_CLOSE_PROTO, NULL);
		return;
	}
	TAILQ_FOREACH(m, &qs.busy, entry)
		if (m->reqid == reqid)
			break;
	if (m == NULL) {
		log_kv(LOG_LVL_ERR, "event=scanner-protocol err=\"unknown "
		    "request %llu\"", (unsigned long long)reqid);
		qscan_closed(c, IPC_CLOSE_PROTO, NULL);
		return;
	}
	if (fstat(m->outfd, &st) == -1)
		fatal("qscan_dispatch: fstat");
	if (scan_reply_decode(msg, m->env.nrcpt, (uint64_t)st.st_size, &r,
	    err, sizeof(err)) == -1) {
		log_kv(LOG_LVL_ERR, "event=scanner-protocol qid=%s err=\"%s\"",
		    m->env.id, err);
		qscan_failed(m, err);
		return;
	}
	if (r.status == SCAN_STATUS_OK)
		qscan_apply(m, &r);
	else
		qscan_failed(m, r.reason);
	scan_reply_clear(&r);
}
