/*
 * queue_sched.c: delivery scheduling in the queue process.
 *
 * Owns the messages of queue/ and hold/ in memory (struct qmsg, with the
 * whole envelope and its per-recipient delivery state).  A timer hands the
 * recipients that are due to the mta, one request per message and domain
 * (IMSG_MTA_DELIVER, the content as a read-only descriptor); each result
 * (IMSG_MTA_RESULT) updates the recipients: delivered, failed, or retried
 * later with exponential backoff until QueueLifetimeHours.  When a
 * message has nothing in flight any more, the recipients that failed
 * since the last report get one non-delivery report (to the sender, or to
 * the postmaster when the sender is null), a long-pending message gets
 * one delay warning, and the envelope is rewritten durably; a message
 * whose every recipient is done leaves the spool.  See docs/delivery.md.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bounce.h"
#include "log.h"
#include "queue.h"
#include "smtp.h"
#include "track.h"
#include "xmalloc.h"

#define SCHED_MAX_INFLIGHT	256	/* deliveries handed to the mta */
#define SCHED_MAX_PER_DOMAIN	32	/* of those, for one domain: a slow or
					   throttled domain cannot hold up
					   the others */
#define SCHED_MAX_RCPT		1000	/* recipients per delivery request */
#define SCHED_IDLE_WAKE		60	/* seconds between idle passes */
#define SCHED_REPLY_MAX		4000
#define SCHED_BOUNCE_MAX	(64 * 1024 * 1024)

/* One request handed to the mta. */
struct delivery {
	TAILQ_ENTRY(delivery)	 entry;
	uint64_t		 reqid;
	struct qmsg		*m;
	char			*domain;
	uint32_t		*idx;
	size_t			 n;
};

static struct {
	struct qmsg_list	 msgs;
	size_t			 nmsgs;
	TAILQ_HEAD(, delivery)	 deliveries;
	size_t			 ninflight;
	uint64_t		 next_reqid;
	struct event		*ev_timer;
} s;

static void	sched_pass_done(struct qmsg *, time_t);
static void	sched_timer(evutil_socket_t, short, void *);

/* sched_conf: the [SmtpClient] settings. */
static const struct conf_tsmtpd *
sched_conf(void)
{
	return &q.env->conf->tsmtpd;
}

/* sched_domain: the domain part of a canonical address ("" if none). */
static const char *
sched_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

/* sched_arm: wake the scheduler after secs seconds (0: at once). */
static void
sched_arm(time_t secs)
{
	struct timeval	 tv = { secs > 0 ? secs : 0, 0 };

	event_add(s.ev_timer, &tv);
}

/* sched_init: the scheduler's timer; the first pass runs at once. */
void
sched_init(void)
{
	TAILQ_INIT(&s.msgs);
	TAILQ_INIT(&s.deliveries);
	s.next_reqid = 1;
	if ((s.ev_timer = evtimer_new(q.base, sched_timer, NULL)) == NULL)
		fatalx("sched_init: evtimer_new");
	sched_arm(0);
}

/* sched_delivery_free: a finished or abandoned request. */
static void
sched_delivery_free(struct delivery *d)
{
	free(d->domain);
	free(d->idx);
	free(d);
}

/* sched_domain_busy: whether dom has its share of requests in flight. */
static bool
sched_domain_busy(const char *dom)
{
	const struct delivery *d;
	size_t	 n = 0;

	TAILQ_FOREACH(d, &s.deliveries, entry)
		if (strcasecmp(d->domain, dom) == 0 &&
		    ++n >= SCHED_MAX_PER_DOMAIN)
			return true;
	return false;
}

/* sched_free: forget every message (the process is ending). */
void
sched_free(void)
{
	struct delivery	*d;
	struct qmsg	*m;

	while ((d = TAILQ_FIRST(&s.deliveries)) != NULL) {
		TAILQ_REMOVE(&s.deliveries, d, entry);
		sched_delivery_free(d);
	}
	while ((m = TAILQ_FIRST(&s.msgs)) != NULL) {
		TAILQ_REMOVE(&s.msgs, m, entry);
		envelope_clear(&m->env);
		free(m->busy);
		free(m);
	}
	if (s.ev_timer != NULL)
		event_free(s.ev_timer);
	s.ev_timer = NULL;
}

/* sched_count: messages in queue/ and hold/. */
size_t
sched_count(void)
{
	return s.nmsgs;
}

/*
 * sched_add: take a message of queue/ or hold/ into the schedule.  The
 * envelope's contents move into the scheduler (env is left empty).
 */
void
sched_add(struct envelope *env, enum spool_state st)
{
	struct qmsg	*m;

	m = xcalloc(1, sizeof(*m));
	m->env = *env;
	envelope_init(env);
	m->st = st;
	m->busy = xcalloc(m->env.nrcpt ? m->env.nrcpt : 1, 1);
	TAILQ_INSERT_TAIL(&s.msgs, m, entry);
	s.nmsgs++;
	if (st == SPOOL_QUEUE)
		sched_arm(0);
}

/* sched_backoff: the delay before attempt number attempts + 1. */
static time_t
sched_backoff(uint32_t attempts)
{
	const struct conf_tsmtpd *c = sched_conf();
	long long d = c->retry_min_seconds;
	uint32_t i;

	for (i = 1; i < attempts && d < c->retry_max_seconds; i++)
		d *= 2;
	return (time_t)(d < c->retry_max_seconds ? d : c->retry_max_seconds);
}

/* sched_send: one request for the due recipients of m in domain dom. */
static bool
sched_send(struct qmsg *m, const char *dom, time_t now)
{
	struct envelope	*e = &m->env;
	struct delivery	*d;
	struct ipc_msg	*msg;
	size_t		 i;
	int		 fd;

	if ((fd = spool_body_open(&q.spool, m->st, e->id)) == -1) {
		log_kv(LOG_LVL_ERR, "event=deliver-failed qid=%s err=\"open "
		    "content: %s\"", e->id, strerror(errno));
		return false;
	}
	d = xcalloc(1, sizeof(*d));
	d->reqid = s.next_reqid++;
	d->m = m;
	d->domain = xstrdup(dom);
	d->idx = xcalloc(e->nrcpt, sizeof(*d->idx));
	msg = ipc_msg_new(IMSG_MTA_DELIVER, 0);
	ipc_add_u64(msg, d->reqid);
	ipc_add_str(msg, e->id);
	ipc_add_str(msg, e->sender);
	ipc_add_u8(msg, (e->smtputf8 ? 1 : 0) | (e->body_8bit ? 2 : 0));
	ipc_add_u64(msg, e->size);
	ipc_add_str(msg, dom);
	for (i = 0; i < e->nrcpt && d->n < SCHED_MAX_RCPT; i++) {
		struct envelope_rcpt *r = &e->rcpt[i];

		if (r->state != RSTATE_PENDING || m->busy[i] || r->next > now ||
		    strcasecmp(sched_domain(r->addr), dom) != 0)
			continue;
		d->idx[d->n++] = (uint32_t)i;
		m->busy[i] = 1;
	}
	ipc_add_u32(msg, (uint32_t)d->n);
	for (i = 0; i < d->n; i++) {
		ipc_add_u32(msg, d->idx[i]);
		ipc_add_str(msg, e->rcpt[d->idx[i]].addr);
	}
	ipc_add_fd(msg, fd);
	if (!ipc_chan_send(q.mta, msg))
		fatalx("sched_send: qid %s: cannot reach the mta", e->id);
	TAILQ_INSERT_TAIL(&s.deliveries, d, entry);
	s.ninflight++;
	m->inflight++;
	log_kv(LOG_LVL_DEBUG, "event=deliver qid=%s reqid=%llu domain=%s "
	    "nrcpt=%zu", e->id, (unsigned long long)d->reqid, dom, d->n);
	return true;
}

/*
 * sched_message: hand every due recipient of m to the mta (one request
 * per domain); returns the earliest time something of m is due later.
 */
static time_t
sched_message(struct qmsg *m, time_t now, time_t wake)
{
	struct envelope_rcpt *r;
	size_t	 i;

	for (i = 0; i < m->env.nrcpt; i++) {
		r = &m->env.rcpt[i];
		if (r->state != RSTATE_PENDING || m->busy[i])
			continue;
		if (r->next > now) {
			if (r->next < wake)
				wake = r->next;
			continue;
		}
		if (s.ninflight >= SCHED_MAX_INFLIGHT)
			return now + 1;
		if (sched_domain_busy(sched_domain(r->addr)))
			continue;	/* a result will wake us */
		if (!sched_send(m, sched_domain(r->addr), now))
			return now + sched_backoff(1);
	}
	return wake;
}

/* sched_timer: one pass over the queue. */
static void
sched_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct qmsg	*m, *next;
	time_t		 now = time(NULL), wake = now + SCHED_IDLE_WAKE;

	for (m = TAILQ_FIRST(&s.msgs); m != NULL; m = next) {
		next = TAILQ_NEXT(m, entry);
		if (m->st != SPOOL_QUEUE)
			continue;
		if (q.mta != NULL)
			wake = sched_message(m, now, wake);
		if (m->inflight == 0)
			/* Expiry and delay warnings, also without attempts. */
			sched_pass_done(m, now);
	}
	sched_arm(wake - now);
}

/* sched_find: the delivery reqid, or NULL. */
static struct delivery *
sched_find(uint64_t reqid)
{
	struct delivery	*d;

	TAILQ_FOREACH(d, &s.deliveries, entry)
		if (d->reqid == reqid)
			return d;
	return NULL;
}

/* sched_in_request: whether recipient index idx belongs to request d. */
static bool
sched_in_request(const struct delivery *d, uint32_t idx)
{
	size_t	 i;

	for (i = 0; i < d->n; i++)
		if (d->idx[i] == idx)
			return true;
	return false;
}

/* sched_track: a tracking-log event about message m (rcpt may be NULL). */
static void
sched_track(const struct qmsg *m, enum track_kind kind,
    const struct envelope_rcpt *r, const char *action, const char *detail)
{
	struct track_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.qid = m->env.id;
	ev.kind = kind;
	ev.sender = m->env.sender;
	ev.action = action;
	ev.detail = detail;
	if (r != NULL) {
		ev.rcpt = r->addr;
		ev.relay = r->remote;
		ev.dsn = r->dsn[0] ? r->dsn : NULL;
		if (detail == NULL)
			ev.detail = r->reply;
	}
	qtrack_add(&ev);
}

/* sched_log_rcpt: the log line and tracking record of one outcome. */
static void
sched_log_rcpt(const struct qmsg *m, const struct envelope_rcpt *r,
    const char *what)
{
	static const struct {
		const char	*what;
		enum track_kind	 kind;
	} kinds[] = {
		{ "delivered", TRACK_DELIVERED }, { "deferred", TRACK_DEFERRED },
		{ "bounced", TRACK_BOUNCED }, { "expired", TRACK_EXPIRED },
	};
	char	 to[LOG_ESC_MAX], relay[LOG_ESC_MAX], reply[LOG_ESC_MAX];
	size_t	 i;

	for (i = 0; i < nitems(kinds); i++)
		if (strcmp(kinds[i].what, what) == 0)
			sched_track(m, kinds[i].kind, r, NULL, NULL);

	log_kv(LOG_LVL_INFO, "event=%s qid=%s to=%s relay=%s dsn=%s "
	    "attempts=%u reply=%s", what, m->env.id,
	    log_esc(to, sizeof(to), r->addr),
	    log_esc(relay, sizeof(relay), r->remote ? r->remote : ""),
	    r->dsn[0] ? r->dsn : "-", r->attempts,
	    log_esc(reply, sizeof(reply), r->reply ? r->reply : ""));
}

/* sched_expire_rcpt: r stayed undeliverable past the queue lifetime. */
static void
sched_expire_rcpt(struct qmsg *m, struct envelope_rcpt *r)
{
	char	*why;

	why = xasprintf("message expired after %lld hours in the queue%s%s",
	    sched_conf()->queue_lifetime_hours, r->reply ? "; last error: " :
	    "", r->reply ? r->reply : "");
	free(r->reply);
	r->reply = why;
	r->state = RSTATE_FAILED;
	str_lcpy(r->dsn, "4.4.7", sizeof(r->dsn));
	m->dirty = true;
	sched_log_rcpt(m, r, "expired");
}

/* sched_apply: one recipient's result. */
static void
sched_apply(struct qmsg *m, uint32_t idx, uint8_t class, const char *dsn,
    const char *remote, const char *reply, time_t now)
{
	struct envelope_rcpt *r = &m->env.rcpt[idx];
	time_t	 life = (time_t)sched_conf()->queue_lifetime_hours * 3600;

	envelope_rcpt_result(r, dsn, remote, reply);
	m->dirty = true;
	switch (class) {
	case 0:
		r->state = RSTATE_DELIVERED;
		sched_log_rcpt(m, r, "delivered");
		break;
	case 2:
		r->state = RSTATE_FAILED;
		sched_log_rcpt(m, r, "bounced");
		break;
	default:
		r->attempts++;
		r->next = now + sched_backoff(r->attempts);
		if (now - m->env.received >= life)
			sched_expire_rcpt(m, r);
		else
			sched_log_rcpt(m, r, "deferred");
		break;
	}
}

/* sched_result_bad: a malformed result from the mta, a sibling: fatal. */
static void __attribute__((noreturn))
sched_result_bad(const char *what)
{
	fatalx("sched_mta_result: bad IMSG_MTA_RESULT from mta: %s", what);
}

/*
 * sched_rcpt_unknown: a permanent failure because the next hop does not
 * know the recipient (RFC 3463 X.1.0 other address status, X.1.1 bad
 * destination mailbox).
 */
static bool
sched_rcpt_unknown(uint8_t class, const char *dsn)
{
	return class == 2 && (strcmp(dsn, "5.1.0") == 0 ||
	    strcmp(dsn, "5.1.1") == 0);
}

/* sched_mta_result: the outcome of one request, per recipient. */
void
sched_mta_result(struct ipc_msg_in *msg)
{
	struct delivery	*d;
	uint64_t	 reqid;
	uint32_t	 n, i, idx, unknown = 0;
	uint8_t		 class;
	char		 dsn[16], remote[512], *reply;
	time_t		 now = time(NULL);

	if (!ipc_get_u64(msg, &reqid) || !ipc_get_u32(msg, &n))
		sched_result_bad("header");
	if ((d = sched_find(reqid)) == NULL || n != d->n)
		sched_result_bad("unknown request or count");
	for (i = 0; i < n; i++) {
		if (!ipc_get_u32(msg, &idx) || !ipc_get_u8(msg, &class) ||
		    class > 2 || !sched_in_request(d, idx) ||
		    !d->m->busy[idx] ||
		    !ipc_get_str(msg, dsn, sizeof(dsn)) ||
		    !ipc_get_str(msg, remote, sizeof(remote)) ||
		    !ipc_get_strdup(msg, SCHED_REPLY_MAX, &reply))
			sched_result_bad("recipient");
		d->m->busy[idx] = 0;
		if (sched_rcpt_unknown(class, dsn))
			unknown++;
		sched_apply(d->m, idx, class, dsn, remote, reply, now);
		free(reply);
	}
	if (!ipc_end(msg))
		sched_result_bad("trailing bytes");
	/* Directory harvest seen by the next hop (the IP profiler). */
	qipp_unknown_rcpts(&d->m->env, unknown);
	TAILQ_REMOVE(&s.deliveries, d, entry);
	s.ninflight--;
	if (--d->m->inflight == 0)
		sched_pass_done(d->m, now);
	sched_delivery_free(d);
	sched_arm(0);
}

/*
 * sched_mta_lost: the mta went away; its requests were not attempted as
 * far as we know (a duplicate is possible, a loss is not).
 */
void
sched_mta_lost(void)
{
	struct delivery	*d;
	size_t		 i;

	while ((d = TAILQ_FIRST(&s.deliveries)) != NULL) {
		for (i = 0; i < d->n; i++)
			d->m->busy[d->idx[i]] = 0;
		d->m->inflight--;
		TAILQ_REMOVE(&s.deliveries, d, entry);
		sched_delivery_free(d);
	}
	s.ninflight = 0;
}

/* sched_postmaster: the postmaster's full address, for double bounces. */
static void
sched_postmaster(char *buf, size_t len)
{
	const char *a = q.env->conf->imss.admin_email;

	if (strchr(a, '@') != NULL)
		str_lcpy(buf, a, len);
	else if (!str_printf(buf, len, "%s@%s", a, q.env->default_domain))
		str_lcpy(buf, "postmaster", len);
}

/*
 * sched_spool_report: put a generated report into queue/ (durably) and
 * into the schedule.
 */
static bool
sched_spool_report(struct envelope *nenv, const struct buf *b)
{
	char	 err[160];
	int	 fd;

	if ((fd = spool_body_create(&q.spool, nenv->id)) == -1) {
		log_kv(LOG_LVL_ERR, "event=report-failed err=\"create: %s\"",
		    strerror(errno));
		return false;
	}
	if (write(fd, b->data, b->len) != (ssize_t)b->len) {
		log_kv(LOG_LVL_ERR, "event=report-failed qid=%s err=\"write: "
		    "%s\"", nenv->id, strerror(errno));
		close(fd);
		spool_abort(&q.spool, nenv->id);
		return false;
	}
	close(fd);
	if (spool_commit(&q.spool, SPOOL_QUEUE, nenv, err, sizeof(err)) == -1) {
		log_kv(LOG_LVL_ERR, "event=report-failed qid=%s err=\"%s\"",
		    nenv->id, err);
		return false;
	}
	return true;
}

/*
 * sched_report: one report about the recipients of m that need it:
 * failed and not yet reported (a non-delivery report), or still pending
 * (a delay warning).  Recipients whose NOTIFY excludes it are marked as
 * reported all the same.
 */
static void
sched_report(struct qmsg *m, enum bounce_action action, time_t now)
{
	const struct conf_tsmtpd *c = sched_conf();
	struct envelope		*e = &m->env, nenv;
	struct bounce_rcpt	*br;
	struct bounce_params	 p;
	struct bounce_result	 res;
	struct buf		 b;
	char			 pm[512];
	enum bounce_err		 be;
	size_t			 i, n = 0, *which;
	bool			 sent = false;

	br = xcalloc(e->nrcpt, sizeof(*br));
	which = xcalloc(e->nrcpt, sizeof(*which));
	for (i = 0; i < e->nrcpt; i++) {
		struct envelope_rcpt *r = &e->rcpt[i];

		if (action == BOUNCE_FAILED ? (r->state != RSTATE_FAILED ||
		    r->reported) : r->state != RSTATE_PENDING)
			continue;
		if (!bounce_rcpt_wanted(r, action)) {
			/* NOTIFY=NEVER (or no FAILURE/DELAY): done. */
			r->reported |= action == BOUNCE_FAILED;
			m->dirty = true;
			continue;
		}
		br[n].addr = r->addr;
		br[n].orcpt = r->orcpt;
		br[n].action = action;
		br[n].status = r->dsn;
		br[n].remote_mta = r->remote;
		br[n].reply = r->reply;
		br[n].replylen = r->reply ? strlen(r->reply) : 0;
		if (action == BOUNCE_DELAYED)
			br[n].retry_until = e->received +
			    (time_t)c->queue_lifetime_hours * 3600;
		which[n++] = i;
	}
	if (n == 0)
		sent = true;	/* nothing anybody asked to hear about */
	bounce_params_init(&p);
	p.hostname = q.env->hostname;
	p.now = now;
	p.full_max = (size_t)c->bounce_attach_limit;
	if (action == BOUNCE_FAILED) {
		p.subject = c->fail_notify_msg_subject;
		p.text = c->fail_notif_msg;
	}
	if (e->sender[0] == '\0') {
		/*
		 * Never to <> (seeds 11, 35).  A failed report goes to the
		 * postmaster once; one to the postmaster is dropped.
		 */
		sched_postmaster(pm, sizeof(pm));
		p.to = pm;
		if (action == BOUNCE_DELAYED || (e->nrcpt == 1 &&
		    strcasecmp(e->rcpt[0].addr, pm) == 0)) {
			log_kv(LOG_LVL_INFO, "event=report-dropped qid=%s "
			    "reason=null-sender", e->id);
			sent = true;
			n = 0;
		}
	}
	buf_init(&b, SCHED_BOUNCE_MAX);
	envelope_init(&nenv);
	p.origfd = n > 0 ? spool_body_open(&q.spool, m->st, e->id) : -1;
	if (n > 0 && p.origfd == -1)
		log_kv(LOG_LVL_ERR, "event=report-failed qid=%s err=\"open "
		    "content: %s\"", e->id, strerror(errno));
	else if (n > 0) {
		be = bounce_build(e, br, n, &p, &b, &res);
		if (be == BOUNCE_OK)
			be = bounce_envelope(e, &p, &res, b.len, &nenv);
		if (be != BOUNCE_OK)
			log_kv(LOG_LVL_ERR, "event=report-failed qid=%s "
			    "err=\"%s\"", e->id, bounce_strerror(be));
		else if ((sent = sched_spool_report(&nenv, &b))) {
			log_kv(LOG_LVL_INFO, "event=%s qid=%s report=%s "
			    "nrcpt=%zu", action == BOUNCE_FAILED ? "ndr" :
			    "delay-warning", e->id, nenv.id, n);
			sched_track(m, action == BOUNCE_FAILED ?
			    TRACK_NDR_SENT : TRACK_DELAY_WARNED, NULL, NULL,
			    nenv.id);
			sched_add(&nenv, SPOOL_QUEUE);
		}
	}
	if (sent) {
		/* Only a report safely spooled counts as sent. */
		for (i = 0; i < n; i++)
			e->rcpt[which[i]].reported |= action == BOUNCE_FAILED;
		if (action == BOUNCE_FAILED && n == 0)
			for (i = 0; i < e->nrcpt; i++)
				if (e->rcpt[i].state == RSTATE_FAILED)
					e->rcpt[i].reported = true;
		if (action == BOUNCE_DELAYED)
			e->warned = true;
		m->dirty = true;
	}
	if (p.origfd != -1)
		close(p.origfd);
	envelope_clear(&nenv);
	buf_free(&b);
	free(which);
	free(br);
}

/* sched_expire: pending recipients past the queue lifetime fail. */
static void
sched_expire(struct qmsg *m, time_t now)
{
	time_t	 life = (time_t)sched_conf()->queue_lifetime_hours * 3600;
	size_t	 i;

	if (now - m->env.received < life)
		return;
	for (i = 0; i < m->env.nrcpt; i++)
		if (m->env.rcpt[i].state == RSTATE_PENDING)
			sched_expire_rcpt(m, &m->env.rcpt[i]);
}

/*
 * sched_remove: m is done: out of the schedule now, out of the spool
 * once its records (delivered, bounced, ndr_sent, removed, ...) are
 * committed at the end of the turn (qtrack_remove), so a kill in between
 * repeats the outcome instead of losing its record.
 */
static void
sched_remove(struct qmsg *m)
{
	sched_track(m, TRACK_REMOVED, NULL, NULL, NULL);
	qtrack_remove(m->st, m->env.id);
	TAILQ_REMOVE(&s.msgs, m, entry);
	s.nmsgs--;
	envelope_clear(&m->env);
	free(m->busy);
	free(m);
}

/*
 * sched_pass_done: nothing of m is in flight: expire, report, and either
 * remove it (every recipient done) or save its new state.
 */
static void
sched_pass_done(struct qmsg *m, time_t now)
{
	const struct conf_tsmtpd *c = sched_conf();
	bool	 pending = false, unreported = false;
	char	 err[160];
	size_t	 i;

	sched_expire(m, now);
	for (i = 0; i < m->env.nrcpt; i++) {
		pending |= m->env.rcpt[i].state == RSTATE_PENDING;
		unreported |= m->env.rcpt[i].state == RSTATE_FAILED &&
		    !m->env.rcpt[i].reported;
	}
	if (unreported)
		sched_report(m, BOUNCE_FAILED, now);
	if (pending && !m->env.warned && c->delay_warning_hours > 0 &&
	    now - m->env.received >= (time_t)c->delay_warning_hours * 3600)
		sched_report(m, BOUNCE_DELAYED, now);
	if (!pending) {
		sched_remove(m);
		return;
	}
	if (m->dirty) {
		/* The new state says which outcomes happened: their
		   records first. */
		qtrack_sync();
		if (spool_rewrite(&q.spool, m->st, &m->env, err,
		    sizeof(err)) == -1)
			log_kv(LOG_LVL_ERR, "event=rewrite-failed qid=%s "
			    "err=\"%s\"", m->env.id, err);
		else
			m->dirty = false;
	}
}

/*
 * ------------------------------------------------------------------------
 * Administration: the operations behind sekishoctl queue.
 * ------------------------------------------------------------------------
 */

/* sched_foreach: call fn for every message of queue/ and hold/. */
void
sched_foreach(sched_visit_fn fn, void *arg)
{
	const struct qmsg *m;

	TAILQ_FOREACH(m, &s.msgs, entry)
		fn(m, arg);
}

/* sched_lookup_rw: the message qid, or NULL. */
static struct qmsg *
sched_lookup_rw(const char *qid)
{
	struct qmsg	*m;

	TAILQ_FOREACH(m, &s.msgs, entry)
		if (strcmp(m->env.id, qid) == 0)
			return m;
	return NULL;
}

const struct qmsg *
sched_lookup(const char *qid)
{
	return sched_lookup_rw(qid);
}

/* sched_idle: the message qid with nothing in flight, or NULL and why. */
static struct qmsg *
sched_idle(const char *qid, char *err, size_t errlen)
{
	struct qmsg	*m;

	if ((m = sched_lookup_rw(qid)) == NULL) {
		str_printf(err, errlen, "%s: no such message in the queue",
		    qid);
		return NULL;
	}
	if (m->inflight > 0) {
		str_printf(err, errlen, "%s: a delivery is in progress, try "
		    "again in a moment", qid);
		return NULL;
	}
	return m;
}

/* sched_hold: keep a message from being delivered (queue/ -> hold/). */
int
sched_hold(const char *qid, char *err, size_t errlen)
{
	struct qmsg	*m;

	if ((m = sched_idle(qid, err, errlen)) == NULL)
		return -1;
	if (m->st == SPOOL_HOLD)
		return 0;
	if (spool_move(&q.spool, m->st, SPOOL_HOLD, qid, err, errlen) == -1)
		return -1;
	m->st = SPOOL_HOLD;
	log_kv(LOG_LVL_INFO, "event=held qid=%s by=admin", qid);
	sched_track(m, TRACK_HELD, NULL, "admin", NULL);
	qtrack_sync();
	return 0;
}

/* sched_due_now: every pending recipient of m is due at once. */
static void
sched_due_now(struct qmsg *m)
{
	size_t	 i;

	for (i = 0; i < m->env.nrcpt; i++)
		if (m->env.rcpt[i].state == RSTATE_PENDING &&
		    m->env.rcpt[i].next != 0) {
			m->env.rcpt[i].next = 0;
			m->dirty = true;
		}
}

/* sched_release: deliver a held message again, at once. */
int
sched_release(const char *qid, char *err, size_t errlen)
{
	struct qmsg	*m;

	if ((m = sched_idle(qid, err, errlen)) == NULL)
		return -1;
	if (m->st != SPOOL_HOLD) {
		str_printf(err, errlen, "%s: not held", qid);
		return -1;
	}
	if (spool_move(&q.spool, SPOOL_HOLD, SPOOL_QUEUE, qid, err,
	    errlen) == -1)
		return -1;
	m->st = SPOOL_QUEUE;
	sched_due_now(m);
	log_kv(LOG_LVL_INFO, "event=released qid=%s by=admin", qid);
	sched_track(m, TRACK_RELEASED, NULL, "admin", NULL);
	qtrack_sync();
	sched_arm(0);
	return 0;
}

/* sched_delete: remove a message without delivering or bouncing it. */
int
sched_delete(const char *qid, char *err, size_t errlen)
{
	struct qmsg	*m;

	if ((m = sched_idle(qid, err, errlen)) == NULL)
		return -1;
	log_kv(LOG_LVL_INFO, "event=deleted qid=%s by=admin", qid);
	sched_track(m, TRACK_DELETED, NULL, "admin", NULL);
	sched_remove(m);
	return 0;
}

/* sched_flush: retry now: one message, or every message for "". */
int
sched_flush(const char *qid, char *err, size_t errlen)
{
	struct qmsg	*m;

	if (*qid != '\0') {
		if ((m = sched_lookup_rw(qid)) == NULL) {
			str_printf(err, errlen, "%s: no such message in the "
			    "queue", qid);
			return -1;
		}
		sched_due_now(m);
	} else
		TAILQ_FOREACH(m, &s.msgs, entry)
			sched_due_now(m);
	log_kv(LOG_LVL_INFO, "event=flush qid=%s by=admin",
	    *qid ? qid : "all");
	sched_arm(0);
	return 0;
}
