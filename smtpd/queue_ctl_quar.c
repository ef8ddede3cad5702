/*
 * queue_ctl_quar.c: the quarantine commands of the queue's control socket
 * (sekishoctl quarantine list, show, release, delete, export).
 *
 * The queue process owns the quarantine store (quarantine.c, q.quar);
 * clients see JSON entries and, for an export, a read-only descriptor on
 * the content, never a path.  A release puts the message back into the
 * queue as a new message (queue_inject) that is scanned again, except for
 * the rule that quarantined it (envelope skiprule); the quarantine drops
 * it only once the queue holds it durably, so a failure anywhere leaves
 * the message where it was.  Every field of a request is checked before
 * anything is touched: a bad request gets status 2 and changes nothing.
 * Listings are streamed newest first, a batch per turn of the event loop
 * and only while the client reads, like the queue's (queue_ctl.c).
 * docs/sekishoctl.md and docs/quarantine.md describe the commands.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "envelope.h"
#include "ini.h"
#include "ipc.h"
#include "log.h"
#include "quarantine.h"
#include "queue.h"
#include "queue_ctl.h"
#include "track.h"
#include "xmalloc.h"

#define QCTL_AREA_MAX	64	/* like the policy's area names */

/* A quarantine listing being streamed to one client. */
struct queue_ctl_qlist {
	uint64_t	 reqid;
	char		*area, *sender, *rcpt;	/* NULL: any */
	int64_t		 since, until;		/* µs; 0: open */
	uint64_t	 limit;			/* 0: all */
	uint64_t	 count;			/* entries sent */
	/* The cursor: the last entry sent (newest first: time, then id). */
	bool		 started;
	int64_t		 cur_t;
	char		 cur_id[QUAR_ID_LEN + 1];
	uint64_t	 cur_same;		/* entries sent with time cur_t */
	struct event	*ev;
};

/* One batch of a listing, as quar_list hands it to the callback. */
struct qctl_batch {
	struct queue_ctl_client	*cl;
	uint64_t		 rows;	/* rows seen: sent or skipped */
	bool			 gone;	/* the client's channel closed */
	bool			 full;	/* the listing's limit is reached */
};

static void	queue_ctl_qlist_step(evutil_socket_t, short, void *);

/*
 * queue_ctl_qentry_json: the JSON object of one quarantined message;
 * recipients beyond the size budget are left out ("truncated").
 */
static json_t *
queue_ctl_qentry_json(const struct quar_entry *e)
{
	json_t	*o = json_object(), *rs = json_array();
	size_t	 i, used = 0;
	bool	 cut = false;

	if (o == NULL || rs == NULL)
		fatalx("queue_ctl_qentry_json: id %s: json_object", e->id);
	queue_ctl_set(o, "id", json_string(e->id));
	queue_ctl_set(o, "qid", json_string(e->qid));
	queue_ctl_set(o, "time", json_integer((json_int_t)(e->time / 1000000)));
	queue_ctl_set(o, "area", queue_ctl_jstr(e->area));
	queue_ctl_set(o, "sender", queue_ctl_jstr(e->sender != NULL &&
	    e->sender[0] != '\0' ? e->sender : NULL));
	queue_ctl_set(o, "subject", queue_ctl_jstr(e->subject));
	queue_ctl_set(o, "rule", queue_ctl_jstr(e->rule != NULL &&
	    e->rule[0] != '\0' ? e->rule : NULL));
	queue_ctl_set(o, "reason", queue_ctl_jstr(e->reason));
	queue_ctl_set(o, "size", json_integer((json_int_t)e->size));
	queue_ctl_set(o, "nrcpt", json_integer((json_int_t)e->nrcpt));
	for (i = 0; i < e->nrcpt; i++) {
		used += 8 + queue_ctl_jlen(e->rcpt[i]);
		if (used > QUEUE_CTL_RCPT_BUDGET) {
			cut = true;
			break;
		}
		if (json_array_append_new(rs, queue_ctl_jstr(e->rcpt[i])) == -1)
			fatalx("queue_ctl_qentry_json: id %s: json_array_append",
			    e->id);
	}
	queue_ctl_set(o, "recipients", rs);
	queue_ctl_set(o, "truncated", json_boolean(cut));
	return o;
}

/* queue_ctl_qlist_free: end a quarantine listing. */
void
queue_ctl_qlist_free(struct queue_ctl_qlist *l)
{
	if (l == NULL)
		return;
	if (l->ev != NULL)
		event_free(l->ev);
	free(l->area);
	free(l->sender);
	free(l->rcpt);
	free(l);
}

/* queue_ctl_qlist_end: the result that ends a listing, and its end. */
static void
queue_ctl_qlist_end(struct queue_ctl_client *cl, enum queue_ctl_status st,
    const char *text)
{
	struct queue_ctl_qlist *l = cl->qlist;

	cl->qlist = NULL;
	queue_ctl_send_result(cl, l->reqid, st, text);
	queue_ctl_qlist_free(l);
}

/*
 * queue_ctl_qlist_visit: quar_list callback: send one entry unless an
 * earlier batch did (same time as the cursor and an id not below it).
 */
static bool
queue_ctl_qlist_visit(const struct quar_entry *e, void *arg)
{
	struct qctl_batch	*b = arg;
	struct queue_ctl_qlist	*l = b->cl->qlist;

	b->rows++;
	if (l->started && e->time == l->cur_t &&
	    strcmp(e->id, l->cur_id) >= 0)
		return true;
	if (!queue_ctl_send_obj(b->cl, l->reqid, queue_ctl_qentry_json(e))) {
		b->gone = true;
		return false;
	}
	l->count++;
	if (!l->started || e->time != l->cur_t) {
		l->cur_t = e->time;
		l->cur_same = 0;
	}
	l->cur_same++;
	memcpy(l->cur_id, e->id, sizeof(l->cur_id));
	l->started = true;
	if (l->limit > 0 && l->count >= l->limit) {
		b->full = true;
		return false;
	}
	return true;
}

/*
 * queue_ctl_qlist_step: one batch of a listing.  Each batch asks the index
 * again for entries up to the cursor's time (quar_list orders by time,
 * then id, both descending), so entries that come or go between batches
 * are listed at most once and no batch holds more than a few rows.
 */
static void
queue_ctl_qlist_step(evutil_socket_t fd, short ev, void *arg)
{
	struct queue_ctl_client	*cl = arg;
	struct queue_ctl_qlist	*l = cl->qlist;
	struct timeval		 tv = { 0, QUEUE_CTL_PAUSE_MS * 1000 };
	struct quar_filter	 f;
	struct qctl_batch	 b;
	char			 err[256], text[320];
	long long		 n;

	if (ipc_chan_outq_len(cl->chan) > QUEUE_CTL_OUTQ_WATER) {
		evtimer_add(l->ev, &tv);
		return;
	}
	memset(&f, 0, sizeof(f));
	f.area = l->area;
	f.sender = l->sender;
	f.rcpt = l->rcpt;
	f.since = l->since;
	f.until = l->until;
	f.limit = QUEUE_CTL_BATCH;
	if (l->started) {
		if (f.until == 0 || l->cur_t + 1 < f.until)
			f.until = l->cur_t + 1;
		f.limit += l->cur_same;		/* skipped, not sent again */
	}
	memset(&b, 0, sizeof(b));
	b.cl = cl;
	n = quar_list(q.quar, &f, queue_ctl_qlist_visit, &b, err, sizeof(err));
	if (b.gone)
		return;		/* the channel closed; closed_cb frees cl */
	if (n == -1) {
		log_kv(LOG_LVL_ERR, "event=quarantine-list-failed client=%u "
		    "reqid=%llu err=\"%s\"", cl->id,
		    (unsigned long long)l->reqid, err);
		(void)str_printf(text, sizeof(text), "cannot list the "
		    "quarantine: %s", err);
		queue_ctl_qlist_end(cl, QUEUE_CTL_REFUSED, text);
		return;
	}
	if (b.full || b.rows < f.limit) {
		(void)str_printf(text, sizeof(text), "%llu message%s",
		    (unsigned long long)l->count, l->count == 1 ? "" : "s");
		queue_ctl_qlist_end(cl, QUEUE_CTL_OK, text);
		return;
	}
	tv.tv_usec = 0;
	evtimer_add(l->ev, &tv);
}

/* queue_ctl_qarea_valid: "" (any) or an area name as the policy writes it. */
static bool
queue_ctl_qarea_valid(const char *s)
{
	size_t	 n = strlen(s);

	return n <= QCTL_AREA_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* queue_ctl_qtext_valid: UTF-8 without control characters. */
static bool
queue_ctl_qtext_valid(const char *s)
{
	const unsigned char *p;

	if (!ini_utf8_valid(s, strlen(s)))
		return false;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/*
 * queue_ctl_qlist_check: why a listing request is refused, or NULL.  The
 * times arrive as u64 and must fit the index's signed µs.
 */
static const char *
queue_ctl_qlist_check(struct queue_ctl_client *cl, const char *area,
    const char *sender, const char *rcpt, uint64_t since, uint64_t until)
{
	const char *busy = queue_ctl_busy(cl);

	if (busy != NULL)
		return busy;
	if (!queue_ctl_qarea_valid(area))
		return "malformed area name (letters, digits, '_', '.', '-'; "
		    "at most 64)";
	if (!queue_ctl_qtext_valid(sender))
		return "sender filter is not printable UTF-8";
	if (!queue_ctl_qtext_valid(rcpt))
		return "recipient filter is not printable UTF-8";
	if (since > INT64_MAX || until > INT64_MAX)
		return "time out of range";
	if (until != 0 && since >= until)
		return "the end of the time range (until) must be later than "
		    "its start (since)";
	return NULL;
}

/* queue_ctl_qany: an empty filter string selects all: NULL for quar_list. */
static void
queue_ctl_qany(char **s)
{
	if (**s == '\0') {
		free(*s);
		*s = NULL;
	}
}

/* queue_ctl_qlist_start: begin a quarantine listing; false: drop client. */
static bool
queue_ctl_qlist_start(struct queue_ctl_client *cl, struct ipc_msg_in *msg)
{
	struct queue_ctl_qlist *l;
	char		*area = NULL, *sender = NULL, *rcpt = NULL;
	char		 esc[3][LOG_ESC_MAX];
	const char	*bad;
	uint64_t	 reqid, since, until, limit;

	if (!ipc_get_u64(msg, &reqid) ||
	    !ipc_get_strdup(msg, QUEUE_CTL_STR_MAX, &area) ||
	    !ipc_get_strdup(msg, QUEUE_CTL_STR_MAX, &sender) ||
	    !ipc_get_strdup(msg, QUEUE_CTL_STR_MAX, &rcpt) ||
	    !ipc_get_u64(msg, &since) || !ipc_get_u64(msg, &until) ||
	    !ipc_get_u64(msg, &limit) || !ipc_end(msg)) {
		free(area);
		free(sender);
		free(rcpt);
		return false;
	}
	log_kv(LOG_LVL_INFO, "event=queue-ctl-quarantine-list client=%u "
	    "uid=%u reqid=%llu area=%s sender=%s rcpt=%s since=%llu "
	    "until=%llu limit=%llu", cl->id, (unsigned)cl->uid,
	    (unsigned long long)reqid, log_esc(esc[0], sizeof(esc[0]), area),
	    log_esc(esc[1], sizeof(esc[1]), sender),
	    log_esc(esc[2], sizeof(esc[2]), rcpt), (unsigned long long)since,
	    (unsigned long long)until, (unsigned long long)limit);
	l = xcalloc(1, sizeof(*l));
	l->reqid = reqid;
	l->area = area;
	l->sender = sender;
	l->rcpt = rcpt;
	if ((bad = queue_ctl_qlist_check(cl, area, sender, rcpt, since,
	    until)) != NULL || q.quar == NULL) {
		queue_ctl_qlist_free(l);
		queue_ctl_send_result(cl, reqid, bad != NULL ?
		    QUEUE_CTL_BADREQ : QUEUE_CTL_REFUSED, bad != NULL ? bad :
		    "the quarantine is not available");
		return true;
	}
	queue_ctl_qany(&l->area);
	queue_ctl_qany(&l->sender);
	queue_ctl_qany(&l->rcpt);
	l->since = (int64_t)since;
	l->until = (int64_t)until;
	l->limit = limit;
	cl->qlist = l;
	queue_ctl_stream(cl, &l->ev, queue_ctl_qlist_step);
	return true;
}

/*
 * queue_ctl_qtrack: tracking-log records of an administrator's action on
 * a quarantined message, under queue id qid: one for the message, one per
 * recipient (so a recipient query finds it).
 */
static void
queue_ctl_qtrack(const char *qid, enum track_kind kind,
    const struct quar_entry *e, const char *detail)
{
	struct track_event ev;
	size_t	 i;

	memset(&ev, 0, sizeof(ev));
	ev.qid = qid;
	ev.kind = kind;
	ev.sender = e->sender;
	ev.subject = e->subject;
	ev.rule = e->rule;
	ev.action = "admin";
	ev.detail = detail;
	qtrack_add(&ev);
	for (i = 0; i < e->nrcpt; i++) {
		ev.rcpt = e->rcpt[i];
		qtrack_add(&ev);
	}
}

/*
 * queue_ctl_qrefuse: the result of a request on quarantined message id
 * that found nothing (rv 0) or failed (rv -1, err; logged as
 * event=quarantine-<what>-failed).
 */
static void
queue_ctl_qrefuse(struct queue_ctl_client *cl, uint64_t reqid,
    const char *id, int rv, const char *what, const char *err)
{
	char	 text[320];

	if (rv == -1)
		log_kv(LOG_LVL_ERR, "event=quarantine-%s-failed id=%s "
		    "err=\"%s\"", what, id, err);
	(void)str_printf(text, sizeof(text), "%s: %s", id, rv == 0 ?
	    "no such message in the quarantine" : err);
	queue_ctl_send_result(cl, reqid, QUEUE_CTL_REFUSED, text);
}

/* queue_ctl_qshow: one quarantined message. */
static void
queue_ctl_qshow(struct queue_ctl_client *cl, uint64_t reqid, const char *id)
{
	struct quar_entry e;
	char	 err[256];
	int	 rv;

	if ((rv = quar_get(q.quar, id, &e, err, sizeof(err))) != 1) {
		queue_ctl_qrefuse(cl, reqid, id, rv, "get", err);
		return;
	}
	queue_ctl_send_show(cl, reqid, queue_ctl_qentry_json(&e));
	quar_entry_clear(&e);
}

/*
 * queue_ctl_qexport: a read-only descriptor on the content
 * (IMSG_QUEUE_CTL_QCONTENT), then the result.
 */
static void
queue_ctl_qexport(struct queue_ctl_client *cl, uint64_t reqid,
    const char *id)
{
	struct quar_entry e;
	struct ipc_msg	*m;
	struct stat	 sb;
	char		 err[256], text[320];
	int		 rv, fd = -1;

	memset(&sb, 0, sizeof(sb));
	if ((rv = quar_get(q.quar, id, &e, err, sizeof(err))) == 1) {
		quar_entry_clear(&e);
		if ((fd = quar_open_content(q.quar, id)) == -1 ||
		    fstat(fd, &sb) == -1) {
			(void)str_printf(err, sizeof(err), "cannot open its "
			    "content: %s", strerror(errno));
			rv = -1;
		} else if (!S_ISREG(sb.st_mode)) {
			str_lcpy(err, "its content is not a file", sizeof(err));
			rv = -1;
		}
		if (rv == -1 && fd != -1)
			close(fd);
	}
	if (rv != 1) {
		queue_ctl_qrefuse(cl, reqid, id, rv, "export", err);
		return;
	}
	log_kv(LOG_LVL_INFO, "event=quarantine-exported id=%s size=%llu "
	    "by=admin uid=%u", id, (unsigned long long)sb.st_size,
	    (unsigned)cl->uid);
	m = ipc_msg_new(IMSG_QUEUE_CTL_QCONTENT, 0);
	ipc_add_u64(m, reqid);
	ipc_add_u64(m, (uint64_t)sb.st_size);
	ipc_add_fd(m, fd);
	if (!ipc_chan_send(cl->chan, m))
		return;
	(void)str_printf(text, sizeof(text), "%s: %llu bytes", id,
	    (unsigned long long)sb.st_size);
	queue_ctl_send_result(cl, reqid, QUEUE_CTL_OK, text);
}

/* queue_ctl_qdelete: remove a quarantined message for good. */
static void
queue_ctl_qdelete(struct queue_ctl_client *cl, uint64_t reqid,
    const char *id)
{
	struct quar_entry e;
	char	 err[256], text[320], detail[96];
	int	 found, rv;

	/* The entry is for the tracking log; the files decide. */
	if ((found = quar_get(q.quar, id, &e, err, sizeof(err))) == -1) {
		log_kv(LOG_LVL_WARN, "event=quarantine-get-failed id=%s "
		    "err=\"%s\"", id, err);
		found = 0;
	}
	/* The record first, committed: the deletion is final. */
	(void)str_printf(detail, sizeof(detail), "quarantine %s deleted by "
	    "administrator", id);
	if (found) {
		queue_ctl_qtrack(e.qid, TRACK_DELETED, &e, detail);
		qtrack_sync();
	}
	rv = quar_delete(q.quar, id, err, sizeof(err));
	if (rv == 1)
		log_kv(LOG_LVL_INFO, "event=quarantine-deleted id=%s qid=%s "
		    "by=admin uid=%u", id, found ? e.qid : "-",
		    (unsigned)cl->uid);
	if (found)
		quar_entry_clear(&e);
	if (rv != 1) {
		queue_ctl_qrefuse(cl, reqid, id, rv, "delete", err);
		return;
	}
	(void)str_printf(text, sizeof(text), "%s: deleted", id);
	queue_ctl_send_result(cl, reqid, QUEUE_CTL_OK, text);
}

/*
 * queue_ctl_qrelease_env: the envelope of a released message: its rule is
 * skipped on the rescan, and it starts afresh (its queue lifetime and
 * scan failures count from the release).
 */
static void
queue_ctl_qrelease_env(struct envelope *env, const struct quar_entry *e)
{
	size_t	 i;

	free(env->skiprule);
	env->skiprule = e->rule != NULL && e->rule[0] != '\0' ?
	    xstrdup(e->rule) : NULL;
	env->received = time(NULL);
	env->scanfail = 0;
	env->warned = false;
	for (i = 0; i < env->nrcpt; i++) {
		struct envelope_rcpt *r = &env->rcpt[i];

		r->state = RSTATE_PENDING;
		r->reported = false;
		r->attempts = 0;
		r->next = 0;
		r->dsn[0] = '\0';
		free(r->remote);
		free(r->reply);
		r->remote = r->reply = NULL;
	}
}

/*
 * queue_ctl_qrelease: put a quarantined message back into the queue as a
 * new message, then drop it from the quarantine.  A crash in between can
 * deliver it twice, never lose it (docs/quarantine.md).
 */
static void
queue_ctl_qrelease(struct queue_ctl_client *cl, uint64_t reqid,
    const char *id)
{
	struct quar_entry e;
	struct envelope	 env;
	char		 err[256], text[512], detail[96];
	char		 newqid[SPOOL_ID_LEN + 1], esc[LOG_ESC_MAX];
	int		 fd, rv;

	if ((rv = quar_release_begin(q.quar, id, &env, &fd, &e, err,
	    sizeof(err))) != 1) {
		queue_ctl_qrefuse(cl, reqid, id, rv, "release", err);
		return;
	}
	queue_ctl_qrelease_env(&env, &e);
	rv = queue_inject(&env, fd, queue_target(), err, sizeof(err));
	close(fd);
	if (rv == -1) {
		envelope_clear(&env);
		log_kv(LOG_LVL_ERR, "event=quarantine-release-failed id=%s "
		    "qid=%s err=\"%s\" action=kept", id, e.qid, err);
		(void)str_printf(text, sizeof(text), "%s: cannot release (it "
		    "stays in the quarantine): %s", id, err);
		quar_entry_clear(&e);
		queue_ctl_send_result(cl, reqid, QUEUE_CTL_REFUSED, text);
		return;
	}
	/*
	 * queue_inject took the envelope; the new queue id is left in it
	 * (queue.h).  Without one the release still stands, only the
	 * records cannot name the new message.
	 */
	newqid[0] = '\0';
	if (strlen(env.id) == SPOOL_ID_LEN)
		memcpy(newqid, env.id, sizeof(newqid));
	log_kv(LOG_LVL_INFO, "event=quarantine-released id=%s qid=%s "
	    "newqid=%s skiprule=%s by=admin uid=%u", id, e.qid,
	    newqid[0] ? newqid : "-", log_esc(esc, sizeof(esc),
	    e.rule != NULL ? e.rule : ""), (unsigned)cl->uid);
	if (newqid[0] != '\0') {
		(void)str_printf(detail, sizeof(detail), "from quarantine %s",
		    id);
		queue_ctl_qtrack(newqid, TRACK_RELEASED, &e, detail);
	}
	(void)str_printf(detail, sizeof(detail), "quarantine %s released%s%s",
	    id, newqid[0] ? " as " : "", newqid);
	queue_ctl_qtrack(e.qid, TRACK_RELEASED, &e, detail);
	quar_entry_clear(&e);
	qtrack_sync();	/* before the entry leaves the quarantine */
	(void)str_printf(text, sizeof(text), "%s: released%s%s", id,
	    newqid[0] ? " as queue id " : "", newqid);
	if (quar_release_done(q.quar, id, err, sizeof(err)) == -1) {
		log_kv(LOG_LVL_ERR, "event=quarantine-release-done-failed "
		    "id=%s err=\"%s\"", id, err);
		str_lcat(text, ", but it is still in the quarantine (delete "
		    "it there): ", sizeof(text));
		str_lcat(text, err, sizeof(text));
	}
	queue_ctl_send_result(cl, reqid, QUEUE_CTL_OK, text);
}

/*
 * queue_ctl_quar_request: one quarantine request (QLIST, QSHOW, QRELEASE,
 * QDELETE, QEXPORT); false if it is malformed (the client is dropped).
 */
bool
queue_ctl_quar_request(struct queue_ctl_client *cl, struct ipc_msg_in *msg)
{
	static const char *const cmds[] = { "show", "release", "delete",
	    "export" };
	uint64_t	 reqid;
	char		*id = NULL, esc[LOG_ESC_MAX];
	const char	*cmd;

	if (msg->type == IMSG_QUEUE_CTL_QLIST)
		return queue_ctl_qlist_start(cl, msg);
	if (!ipc_get_u64(msg, &reqid) ||
	    !ipc_get_strdup(msg, QUEUE_CTL_STR_MAX, &id) || !ipc_end(msg)) {
		free(id);
		return false;
	}
	cmd = cmds[msg->type == IMSG_QUEUE_CTL_QSHOW ? 0 :
	    msg->type == IMSG_QUEUE_CTL_QRELEASE ? 1 :
	    msg->type == IMSG_QUEUE_CTL_QDELETE ? 2 : 3];
	log_kv(LOG_LVL_INFO, "event=queue-ctl-quarantine-%s client=%u uid=%u "
	    "reqid=%llu id=%s", cmd, cl->id, (unsigned)cl->uid,
	    (unsigned long long)reqid, log_esc(esc, sizeof(esc), id));
	if (!quar_id_valid(id))
		queue_ctl_send_result(cl, reqid, QUEUE_CTL_BADREQ, "malformed "
		    "quarantine id (16 lower-case hex digits)");
	else if (q.quar == NULL)
		queue_ctl_send_result(cl, reqid, QUEUE_CTL_REFUSED,
		    "the quarantine is not available");
	else if (msg->type == IMSG_QUEUE_CTL_QSHOW)
		queue_ctl_qshow(cl, reqid, id);
	else if (msg->type == IMSG_QUEUE_CTL_QRELEASE)
		queue_ctl_qrelease(cl, reqid, id);
	else if (msg->type == IMSG_QUEUE_CTL_QDELETE)
		queue_ctl_qdelete(cl, reqid, id);
	else
		queue_ctl_qexport(cl, reqid, id);
	free(id);
	return true;
}
