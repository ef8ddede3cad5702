/*
 * queue_track.c: the queue's message-tracking log (docs/tracking.md).
 *
 * The queue owns the tracking database (<data_dir>/db/track.db, the one
 * process that writes it; sekishoctl reads it).  Events are collected
 * during a turn of the event loop and written in one transaction at its
 * end, like the spool's group commit, so tracking costs one commit per
 * burst, not per event.  The log is an audit trail, not the record of
 * the mail (the spool is): if the database cannot be opened or written,
 * mail keeps flowing and the problem is logged.  Old events are purged
 * by age ([logging] tracking_retention_days), a slice at a time.
 *
 * The durability rule (DESIGN.md section 4, "the tracking log says
 * which"): a record is committed before the spool change that makes the
 * step it describes final, so a kill at any moment repeats a step (and
 * its record) rather than losing the record.  Two ways to honour it:
 *
 *	qtrack_remove	the common one: a message that is done leaves the
 *			spool only after the turn's batch is committed, so
 *			many messages share one commit
 *	qtrack_sync	commit the batch now, before a change that cannot
 *			wait (a scan's result published, an envelope
 *			rewritten, an administrator's action, a 250)
 *
 * The batch is also written when it is full or its oldest event has
 * waited QTRACK_DELAY_MS, so a long burst inside one callback does not
 * keep records in memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "log.h"
#include "queue.h"
#include "smtp.h"
#include "track.h"
#include "xmalloc.h"

#define QTRACK_BATCH_MAX	4096	/* events kept before a forced write */
#define QTRACK_DELAY_MS		100	/* longest an event waits in memory */
#define QTRACK_PURGE_EVERY	3600	/* seconds between purge passes */
#define QTRACK_PURGE_SLICE	20000	/* rows per purge pass */

/* An event whose strings the batch owns. */
struct qtrack_ev {
	struct track_event	 ev;
	char			*s[9];
};

/* A message to remove from the spool once its records are committed. */
struct qtrack_rm {
	enum spool_state	 st;
	char			 qid[SPOOL_ID_LEN + 1];
};

static struct {
	struct track		*db;
	struct qtrack_ev	*batch;
	size_t			 n;
	int64_t			 first;		/* ms: oldest event's arrival */
	struct qtrack_rm	*rm;		/* removals after the commit */
	size_t			 nrm, rmcap;
	struct event		*ev_flush;
	struct event		*ev_purge;
} qt;

static void	qtrack_flush(evutil_socket_t, short, void *);
static void	qtrack_purge(evutil_socket_t, short, void *);
static void	qtrack_write(void);

/* qtrack_ms: a monotonic clock in milliseconds. */
static int64_t
qtrack_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* qtrack_open: the database, and the flush and purge events. */
void
qtrack_open(const char *path)
{
	char		 err[256];
	struct timeval	 tv = { 60, 0 };

	qt.batch = xcalloc(QTRACK_BATCH_MAX, sizeof(*qt.batch));
	if ((qt.ev_flush = event_new(q.base, -1, 0, qtrack_flush,
	    NULL)) == NULL)
		fatalx("qtrack_open: event_new");
	if ((qt.db = track_open(path, err, sizeof(err))) == NULL) {
		log_kv(LOG_LVL_ERR, "event=track-open-failed path=%s err=\"%s\" "
		    "msg=\"mail flows, but is not tracked\"", path, err);
		return;
	}
	if ((qt.ev_purge = evtimer_new(q.base, qtrack_purge, NULL)) == NULL)
		fatalx("qtrack_open: evtimer_new");
	evtimer_add(qt.ev_purge, &tv);	/* first pass soon after start */
}

/* qtrack_dup: a copy for the batch, or NULL. */
static char *
qtrack_dup(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

/* qtrack_add: queue one event for the next write. */
void
qtrack_add(const struct track_event *ev)
{
	struct qtrack_ev *e;

	if (qt.db == NULL)
		return;
	/* Full, or waited long enough (a burst in one callback): write.
	   Early is always safe; only late breaks the rule. */
	if (qt.n == QTRACK_BATCH_MAX ||
	    (qt.n > 0 && qtrack_ms() - qt.first >= QTRACK_DELAY_MS))
		qtrack_write();
	if (qt.n == 0)
		qt.first = qtrack_ms();
	e = &qt.batch[qt.n++];
	e->ev = *ev;
	if (e->ev.time == 0)
		e->ev.time = track_now();
	e->ev.qid = e->s[0] = qtrack_dup(ev->qid);
	e->ev.sender = e->s[1] = qtrack_dup(ev->sender);
	e->ev.rcpt = e->s[2] = qtrack_dup(ev->rcpt);
	e->ev.subject = e->s[3] = qtrack_dup(ev->subject);
	e->ev.rule = e->s[4] = qtrack_dup(ev->rule);
	e->ev.action = e->s[5] = qtrack_dup(ev->action);
	e->ev.relay = e->s[6] = qtrack_dup(ev->relay);
	e->ev.dsn = e->s[7] = qtrack_dup(ev->dsn);
	e->ev.detail = e->s[8] = qtrack_dup(ev->detail);
	event_active(qt.ev_flush, EV_TIMEOUT, 0);
}

/* qtrack_write: write the batch in one transaction. */
static void
qtrack_write(void)
{
	struct track_event *evs;
	size_t		 i, j;

	if (qt.n == 0 || qt.db == NULL)
		return;
	evs = xcalloc(qt.n, sizeof(*evs));
	for (i = 0; i < qt.n; i++)
		evs[i] = qt.batch[i].ev;
	if (!track_add_batch(qt.db, evs, qt.n))
		log_kv(LOG_LVL_ERR, "event=track-write-failed n=%zu err=\"%s\"",
		    qt.n, track_error(qt.db));
	for (i = 0; i < qt.n; i++)
		for (j = 0; j < nitems(qt.batch[i].s); j++) {
			free(qt.batch[i].s[j]);
			qt.batch[i].s[j] = NULL;
		}
	qt.n = 0;
	free(evs);
}

/*
 * qtrack_sync: commit every record added so far, now.  Called right
 * before a spool change that makes those records' steps final and cannot
 * wait for the end of the turn.  A no-op when nothing is pending.
 */
void
qtrack_sync(void)
{
	qtrack_write();
}

/*
 * qtrack_remove: message qid is done in state st: remove it from the
 * spool once the records added so far are committed (at the end of this
 * turn).  The caller has added its records (`removed` among them) and
 * forgotten the message.  A kill before the removal leaves the message
 * in the spool: its steps, and their records, are repeated.
 */
void
qtrack_remove(enum spool_state st, const char *qid)
{
	struct qtrack_rm *r;

	if (strlen(qid) != SPOOL_ID_LEN)
		fatalx("qtrack_remove: bad queue id \"%s\"", qid);
	if (qt.nrm == qt.rmcap) {
		qt.rmcap = qt.rmcap ? qt.rmcap * 2 : 64;
		qt.rm = xreallocarray(qt.rm, qt.rmcap, sizeof(*qt.rm));
	}
	r = &qt.rm[qt.nrm++];
	r->st = st;
	memcpy(r->qid, qid, sizeof(r->qid));
	if (qt.ev_flush != NULL)
		event_active(qt.ev_flush, EV_TIMEOUT, 0);
	else
		qtrack_flush(-1, 0, NULL);	/* not open: nothing to wait for */
}

/* qtrack_removals: carry out the removals whose records are committed. */
static void
qtrack_removals(void)
{
	size_t	 i;

	for (i = 0; i < qt.nrm; i++) {
		if (spool_remove(&q.spool, qt.rm[i].st, qt.rm[i].qid) == -1)
			log_kv(LOG_LVL_ERR, "event=remove-failed qid=%s "
			    "state=%s err=\"%s\"", qt.rm[i].qid,
			    spool_state_name(qt.rm[i].st), strerror(errno));
		else
			log_kv(LOG_LVL_INFO, "event=removed qid=%s",
			    qt.rm[i].qid);
	}
	qt.nrm = 0;
}

/*
 * qtrack_flush: the end of a turn: commit the batch (the group commit of
 * the tracking log), then remove the messages it finished.
 */
static void
qtrack_flush(evutil_socket_t fd, short evf, void *arg)
{
	qtrack_write();
	qtrack_removals();
}

/* qtrack_purge: drop events older than the retention, one slice. */
static void
qtrack_purge(evutil_socket_t fd, short evf, void *arg)
{
	long long	 days = q.env->conf->imss.tracking_retention_days;
	uint64_t	 removed = 0;
	struct timeval	 tv = { QTRACK_PURGE_EVERY, 0 };

	if (!track_purge(qt.db, time(NULL) - (time_t)days * 86400,
	    QTRACK_PURGE_SLICE, &removed))
		log_kv(LOG_LVL_ERR, "event=track-purge-failed err=\"%s\"",
		    track_error(qt.db));
	else if (removed > 0)
		log_kv(LOG_LVL_INFO, "event=track-purged rows=%llu days=%lld",
		    (unsigned long long)removed, days);
	/* A full slice: more to do, come back soon. */
	if (removed == QTRACK_PURGE_SLICE)
		tv.tv_sec = 1;
	evtimer_add(qt.ev_purge, &tv);
}

/* qtrack_close: write what is left and close the database. */
void
qtrack_close(void)
{
	qtrack_flush(-1, 0, NULL);
	if (qt.ev_flush != NULL)
		event_free(qt.ev_flush);
	if (qt.ev_purge != NULL)
		event_free(qt.ev_purge);
	if (qt.db != NULL)
		track_close(qt.db);
	free(qt.batch);
	free(qt.rm);
	memset(&qt, 0, sizeof(qt));
}
