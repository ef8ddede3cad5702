/*
 * queue.c: the queue process of sekisho-smtpd.
 *
 * It alone owns the spool (<data_dir>/spool, see docs/spool.md).  For the
 * smtp process it creates content files and hands over descriptors to
 * write into (IMSG_QUEUE_MSG_CREATE), and it commits a finished message
 * durably (IMSG_QUEUE_MSG_COMMIT): the envelope the smtp process sends is
 * parsed and checked here and the size is taken from the file itself.
 *
 * Commits are grouped: every commit that arrives in one turn of the event
 * loop is staged, then one flush makes all of them durable (one syncfs,
 * the renames, one directory fsync) and only then does each session hear
 * "ok" and tell its client 250.  Under load many sessions share one disk
 * flush; a lone message costs the same as before.  At start the queue
 * rebuilds its state from the spool.
 *
 * Where a committed message goes: with policy.ini [scan] enabled=1 into
 * incoming/ for the scan server; with enabled=0 straight into queue/ and
 * the delivery schedule (queue_sched.c).
 *
 * Spool space (QueueMinFreeMB): the queue measures the spool's file system
 * (fstatvfs: one cheap call, never blocking on the event loop) every few
 * seconds and at every message creation, refuses a creation below the
 * minimum (QUEUE_CREATE_NOSPACE: the client hears 452 4.3.1 before it
 * sends the content) and tells the smtp process when the state changes
 * (IMSG_QUEUE_SPOOL_SPACE), so that it refuses MAIL early.  What is
 * already accepted is untouched; the reserve is what lets accepted mail
 * be rewritten, scanned and delivered.
 *
 * The smtp process's questions to the IP profiler and its reports about
 * clients pass through here too (queue_ipp.c): the smtp process is
 * chrooted and cannot reach the profiler's socket.
 */
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "mta.h"
#include "quarantine.h"
#include "queue.h"
#include "smtp.h"
#include "spool.h"
#include "track.h"
#include "xmalloc.h"

/* A message being received: its content file, not yet committed. */
struct pending;
TAILQ_HEAD(pending_list, pending);
struct pending {
	TAILQ_ENTRY(pending)	 entry;
	char			 qid[SPOOL_ID_LEN + 1];
	uint32_t		 sid;		/* smtp session */
	int			 fd;		/* our descriptor of the file */
	struct envelope		 env;		/* staged: its envelope */
	bool			 published;	/* in place, not yet synced */
};

struct queue q;

/* The intake side: messages being received and commits to flush. */
static struct {
	struct pending_list	 pending;	/* being received */
	struct pending_list	 batch;		/* staged, to flush */
	struct event		*ev_flush;
	size_t			 npending;
} in;

/* Spool free space, as measured and as last told to the smtp process. */
#define QUEUE_SPACE_SECS_OK	5	/* between checks while it is fine */
#define QUEUE_SPACE_SECS_LOW	1	/* while low: see it come back soon */

static struct {
	struct event	*ev;
	bool		 told;		/* the smtp process heard something */
	bool		 low;
	uint64_t	 free_bytes;	/* last told */
	uint64_t	 min;
	bool		 stat_failed;	/* logged once */
} space;

static void	 queue_flush(evutil_socket_t, short, void *);

/* queue_target: where committed messages go (docs/delivery.md). */
enum spool_state
queue_target(void)
{
	return q.env->conf->policy.scan_enabled ? SPOOL_INCOMING :
	    SPOOL_QUEUE;
}

/* queue_pending_find: the pending message qid of session sid, or NULL. */
static struct pending *
queue_pending_find(const char *qid, uint32_t sid)
{
	struct pending	*p;

	TAILQ_FOREACH(p, &in.pending, entry)
		if (strcmp(p->qid, qid) == 0)
			return p->sid == sid ? p : NULL;
	return NULL;
}

/*
 * queue_pending_drop: forget a message of list l (pending or batch);
 * unless it was committed, remove its files wherever they are.
 */
static void
queue_pending_drop(struct pending *p, struct pending_list *l, bool committed)
{
	if (!committed) {
		if (p->published)
			spool_unpublish(&q.spool, queue_target(), p->qid);
		spool_abort(&q.spool, p->qid);
	}
	envelope_clear(&p->env);
	close(p->fd);
	TAILQ_REMOVE(l, p, entry);
	in.npending--;
	free(p);
}

/*
 * queue_space_tell: send the spool's state to the smtp process when it
 * changed: low or not, or the free bytes by more than a sixteenth (the
 * smtp process weighs SIZE= against them).
 */
static void
queue_space_tell(bool low, uint64_t free_bytes, uint64_t min)
{
	struct ipc_msg	*m;
	uint64_t	 d;

	d = free_bytes > space.free_bytes ? free_bytes - space.free_bytes :
	    space.free_bytes - free_bytes;
	if (space.told && low == space.low && min == space.min &&
	    d <= space.free_bytes / 16)
		return;
	if (!space.told || low != space.low)
		log_kv(low ? LOG_LVL_WARN : LOG_LVL_INFO, "event=spool-space "
		    "state=%s free=%llu min=%llu", low ? "low" : "ok",
		    (unsigned long long)free_bytes, (unsigned long long)min);
	/* Low now: look again soon, so the smtp process hears of relief. */
	if (low && (!space.told || !space.low) && space.ev != NULL) {
		struct timeval	 tv = { QUEUE_SPACE_SECS_LOW, 0 };

		evtimer_add(space.ev, &tv);
	}
	space.told = true;
	space.low = low;
	space.free_bytes = free_bytes;
	space.min = min;
	if (q.smtp == NULL || ipc_chan_closed(q.smtp))
		return;
	m = ipc_msg_new(IMSG_QUEUE_SPOOL_SPACE, 0);
	ipc_add_u8(m, low);
	ipc_add_u64(m, free_bytes);
	ipc_add_u64(m, min);
	ipc_chan_send(q.smtp, m);
}

/*
 * queue_space_check: measure the spool's file system now; true when it
 * is below QueueMinFreeMB.  A failing fstatvfs counts as enough space
 * (the writes themselves still fail safely), logged once.
 */
static bool
queue_space_check(void)
{
	struct statvfs	 sv;
	uint64_t	 free_bytes, min;
	bool		 low;

	if (fstatvfs(q.spool.dirfd, &sv) == -1) {
		if (!space.stat_failed)
			log_kv(LOG_LVL_WARN, "event=spool-statvfs-failed "
			    "err=\"%s\"", strerror(errno));
		space.stat_failed = true;
		return false;
	}
	space.stat_failed = false;
	free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	min = smtp_spool_min_free(q.env->conf->tsmtpd.queue_min_free_mb,
	    (uint64_t)sv.f_blocks * sv.f_frsize);
	low = smtp_spool_low(free_bytes, min);
	queue_space_tell(low, free_bytes, min);
	return low;
}

/* queue_space_cb: the periodic check; more often while space is low. */
static void
queue_space_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	 tv = { QUEUE_SPACE_SECS_OK, 0 };

	if (queue_space_check())
		tv.tv_sec = QUEUE_SPACE_SECS_LOW;
	evtimer_add(space.ev, &tv);
}

/* queue_reply_created: answer IMSG_QUEUE_MSG_CREATE (QUEUE_CREATE_*). */
static void
queue_reply_created(uint32_t sid, uint8_t status, const char *text, int fd)
{
	struct ipc_msg	*m = ipc_msg_new(IMSG_QUEUE_MSG_CREATED, sid);

	ipc_add_u8(m, status);
	ipc_add_str(m, text);
	if (fd != -1)
		ipc_add_fd(m, fd);
	ipc_chan_send(q.smtp, m);
}

/*
 * queue_msg_create: a new content file for session sid, unless the spool
 * is below QueueMinFreeMB or full (the client then hears 452 4.3.1
 * before it sends anything).
 */
static void
queue_msg_create(uint32_t sid)
{
	struct pending	*p;
	char		 qid[SPOOL_ID_LEN + 1], err[128];
	int		 fd, dupfd;

	if (queue_space_check()) {
		log_kv(LOG_LVL_WARN, "event=queue-create-refused sid=%08x "
		    "reason=spool-low free=%llu min=%llu", sid,
		    (unsigned long long)space.free_bytes,
		    (unsigned long long)space.min);
		queue_reply_created(sid, QUEUE_CREATE_NOSPACE,
		    "spool file system below QueueMinFreeMB", -1);
		return;
	}
	if ((fd = spool_body_create(&q.spool, qid)) == -1) {
		str_printf(err, sizeof(err), "cannot create queue file: %s",
		    strerror(errno));
		log_kv(LOG_LVL_ERR, "event=queue-create-failed sid=%08x "
		    "err=\"%s\"", sid, strerror(errno));
		queue_reply_created(sid, errno == ENOSPC || errno == EDQUOT ?
		    QUEUE_CREATE_NOSPACE : QUEUE_CREATE_FAILED, err, -1);
		return;
	}
	if ((dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		log_kv(LOG_LVL_ERR, "event=queue-create-failed sid=%08x "
		    "qid=%s err=\"dup: %s\"", sid, qid, strerror(errno));
		close(fd);
		spool_abort(&q.spool, qid);
		queue_reply_created(sid, QUEUE_CREATE_FAILED,
		    "cannot create queue file", -1);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	memcpy(p->qid, qid, sizeof(p->qid));
	p->sid = sid;
	p->fd = fd;
	TAILQ_INSERT_TAIL(&in.pending, p, entry);
	in.npending++;
	log_kv(LOG_LVL_DEBUG, "event=queue-created sid=%08x qid=%s", sid, qid);
	queue_reply_created(sid, QUEUE_CREATE_OK, qid, dupfd);
}

/* queue_reply_committed: answer IMSG_QUEUE_MSG_COMMIT. */
static void
queue_reply_committed(uint32_t sid, const char *qid, const char *err)
{
	struct ipc_msg	*m = ipc_msg_new(IMSG_QUEUE_MSG_COMMITTED, sid);

	ipc_add_str(m, qid);
	ipc_add_u8(m, err == NULL);
	ipc_add_str(m, err ? err : "");
	ipc_chan_send(q.smtp, m);
}

/*
 * queue_msg_commit: check the envelope the smtp process built and stage
 * the message for the next flush.  The smtp process is a sibling: an
 * envelope that does not parse is a broken invariant, fatal for us (we
 * are restarted; nothing was acknowledged).
 */
static void
queue_msg_commit(uint32_t sid, const char *qid, const void *text, size_t len)
{
	struct envelope	 env;
	struct pending	*p;
	struct stat	 st;
	char		 err[160];

	if ((p = queue_pending_find(qid, sid)) == NULL)
		fatalx("queue_msg_commit: sid %08x commits unknown qid %s", sid,
		    qid);
	if (envelope_parse(&env, text, len, err, sizeof(err)) == -1)
		fatalx("queue_msg_commit: qid %s: bad envelope: %s", qid, err);
	if (strcmp(env.id, qid) != 0)
		fatalx("queue_msg_commit: qid %s: envelope names %s", qid,
		    env.id);
	/* The file is the authority on its own size. */
	if (fstat(p->fd, &st) == -1)
		str_printf(err, sizeof(err), "fstat: %s", strerror(errno));
	else {
		env.size = (uint64_t)st.st_size;
		if (spool_stage(&q.spool, &env, err, sizeof(err)) == 0) {
			p->env = env;
			envelope_init(&env);
			TAILQ_REMOVE(&in.pending, p, entry);
			TAILQ_INSERT_TAIL(&in.batch, p, entry);
			envelope_clear(&env);
			/* Group commit: at the end of this turn, with the
			 * others; without: now, this message alone. */
			if (q.env->conf->tsmtpd.group_commit)
				event_active(in.ev_flush, EV_TIMEOUT, 0);
			else
				queue_flush(-1, 0, NULL);
			return;
		}
	}
	log_kv(LOG_LVL_ERR, "event=queue-commit-failed qid=%s err=\"%s\"", qid,
	    err);
	queue_pending_drop(p, &in.pending, false);
	/* Perhaps the disk filled: let the smtp process know soon. */
	(void)queue_space_check();
	envelope_clear(&env);
	queue_reply_committed(sid, qid, err);
}

/* queue_track_received: the tracking record of an accepted message. */
static void
queue_track_received(const struct envelope *env)
{
	struct track_event ev;
	char	 detail[512];
	size_t	 i;

	str_printf(detail, sizeof(detail), "client=%s helo=%s size=%llu "
	    "nrcpt=%zu%s%s", env->client_ip ? env->client_ip : "-",
	    env->helo ? env->helo : "-", (unsigned long long)env->size,
	    env->nrcpt, env->tls ? " tls=" : "", env->tls ? env->tls : "");
	memset(&ev, 0, sizeof(ev));
	ev.qid = env->id;
	ev.kind = TRACK_RECEIVED;
	ev.sender = env->sender;
	ev.detail = detail;
	qtrack_add(&ev);
	/* One line per recipient, so a recipient query finds the message. */
	for (i = 0; i < env->nrcpt; i++) {
		ev.rcpt = env->rcpt[i].addr;
		ev.detail = NULL;
		qtrack_add(&ev);
	}
}

/*
 * queue_flush: make every staged message durable at once, then answer
 * each session.  A message is acknowledged only if its own publish and
 * both syncs succeeded.
 */
static void
queue_flush(evutil_socket_t fd, short ev, void *arg)
{
	struct pending	*p;
	enum spool_state st = queue_target();
	char		 err[160] = "", perr[160];
	size_t		 n = 0;
	bool		 ok;

	if (TAILQ_EMPTY(&in.batch))
		return;
	ok = spool_sync(&q.spool, err, sizeof(err)) == 0;
	TAILQ_FOREACH(p, &in.batch, entry) {
		n++;
		if (ok && spool_publish(&q.spool, st, p->qid, perr,
		    sizeof(perr)) == 0)
			p->published = true;
	}
	if (ok && spool_sync_state(&q.spool, st, err, sizeof(err)) == -1)
		ok = false;
	log_kv(LOG_LVL_DEBUG, "event=group-commit n=%zu ok=%d", n, ok);
	while ((p = TAILQ_FIRST(&in.batch)) != NULL) {
		bool	 acked = ok && p->published;
		const char *why = ok ? "cannot move into the queue" : err;

		if (acked) {
			log_kv(LOG_LVL_INFO, "event=queued qid=%s size=%llu "
			    "nrcpt=%zu state=%s", p->qid,
			    (unsigned long long)p->env.size, p->env.nrcpt,
			    spool_state_name(st));
			queue_track_received(&p->env);
			if (st == SPOOL_QUEUE)
				sched_add(&p->env, st);
			else
				qscan_add(&p->env);
		} else
			log_kv(LOG_LVL_ERR, "event=queue-commit-failed qid=%s "
			    "err=\"%s\"", p->qid, why);
		queue_reply_committed(p->sid, p->qid, acked ? NULL : why);
		queue_pending_drop(p, &in.batch, acked);
	}
	/* The received records, committed before any 250: the replies are
	   only queued (ipc_chan_send), written after this callback. */
	qtrack_sync();
}

/* queue_smtp_dispatch: one message from the smtp process. */
static void
queue_smtp_dispatch(struct ipc_chan *c, struct ipc_msg_in *m, void *arg)
{
	char		 qid[SPOOL_ID_LEN + 1];
	const void	*text;
	size_t		 len;
	struct pending	*p;

	switch (m->type) {
	case IMSG_QUEUE_MSG_CREATE:
		if (!ipc_end(m))
			break;
		queue_msg_create(m->peerid);
		return;
	case IMSG_QUEUE_MSG_COMMIT:
		if (!ipc_get_str(m, qid, sizeof(qid)) ||
		    !ipc_get_data(m, &text, &len, ENVELOPE_MAX_SIZE) ||
		    !ipc_end(m))
			break;
		queue_msg_commit(m->peerid, qid, text, len);
		return;
	case IMSG_IPP_CHECK:
		qipp_smtp_check(m);
		return;
	case IMSG_IPP_EVENT:
		qipp_smtp_event(m);
		return;
	case IMSG_QUEUE_MSG_ABORT:
		if (!ipc_get_str(m, qid, sizeof(qid)) || !ipc_end(m))
			break;
		if ((p = queue_pending_find(qid, m->peerid)) != NULL) {
			log_kv(LOG_LVL_DEBUG, "event=queue-aborted sid=%08x "
			    "qid=%s", m->peerid, qid);
			queue_pending_drop(p, &in.pending, false);
		}
		return;
	default:
		break;
	}
	fatalx("queue_smtp_dispatch: bad %s from smtp", ipc_type_name(m->type));
}

/*
 * queue_parent_dispatch: the parent hands over the control socket; else
 * it sends nothing but shutdown (EOF).
 */
static void
queue_parent_dispatch(struct ipc_chan *c, struct ipc_msg_in *m, void *arg)
{
	int	 fd;

	if (m->type != IMSG_QUEUE_CTL_LISTENER || !ipc_end(m) ||
	    (fd = ipc_msg_take_fd(m)) == -1)
		fatalx("queue_parent_dispatch: unexpected %s",
		    ipc_type_name(m->type));
	queue_ctl_listen(fd);
}

/*
 * queue_closed: a sibling went away.  Messages still being received were
 * never acknowledged: remove them, and leave (the parent decides what
 * happens next).
 */
static void
queue_closed(struct ipc_chan *c, enum ipc_close why, void *arg)
{
	struct pending	*p;

	log_kv(LOG_LVL_INFO, "event=queue-exit peer=%s why=%s pending=%zu "
	    "incoming=%zu", ipc_chan_name(c), ipc_close_name(why), in.npending,
	    qscan_count());
	if (c == q.mta)
		sched_mta_lost();
	while ((p = TAILQ_FIRST(&in.pending)) != NULL)
		queue_pending_drop(p, &in.pending, false);
	/* Staged but not flushed: nobody was told 250. */
	while ((p = TAILQ_FIRST(&in.batch)) != NULL)
		queue_pending_drop(p, &in.batch, false);
	event_base_loopexit(q.base, NULL);
}

/*
 * queue_recovered: one whole message found in the spool at start.  With
 * scanning off, what waited in incoming/ goes on to queue/.  A message in
 * incoming/ that is also in queue/ or hold/ was carried out after its
 * scan (it kept its id) and only its removal was lost: drop the copy.
 */
static void
queue_recovered(enum spool_state st, struct envelope *env, void *arg)
{
	char	 err[160];

	log_kv(LOG_LVL_DEBUG, "event=recovered qid=%s state=%s nrcpt=%zu",
	    env->id, spool_state_name(st), env->nrcpt);
	if (st == SPOOL_INCOMING && (spool_exists(&q.spool, SPOOL_QUEUE,
	    env->id) || spool_exists(&q.spool, SPOOL_HOLD, env->id))) {
		log_kv(LOG_LVL_INFO, "event=recovered-scanned qid=%s", env->id);
		if (spool_remove(&q.spool, st, env->id) == -1)
			log_kv(LOG_LVL_ERR, "event=incoming-remove-failed "
			    "qid=%s err=\"%s\"", env->id, strerror(errno));
		return;
	}
	if (st == SPOOL_INCOMING && queue_target() == SPOOL_QUEUE) {
		if (spool_move(&q.spool, st, SPOOL_QUEUE, env->id, err,
		    sizeof(err)) == -1) {
			log_kv(LOG_LVL_ERR, "event=move-failed qid=%s err=\"%s\"",
			    env->id, err);
			return;
		}
		st = SPOOL_QUEUE;
	}
	if (st == SPOOL_INCOMING)
		qscan_add(env);
	else
		sched_add(env, st);
}

/*
 * queue_inject: a new message from inside the gateway (a release from
 * the quarantine): a fresh queue id goes into env->id, the content is
 * copied from fd's current offset to its end, the message is durably
 * committed into state st and then scheduled or queued for scanning.
 * On success env's contents are taken (env is left empty but for its new
 * id); on failure the caller still owns them.  0, or -1 with the reason
 * in err.
 */
int
queue_inject(struct envelope *env, int fd, enum spool_state st, char *err,
    size_t errlen)
{
	char	 id[SPOOL_ID_LEN + 1];
	off_t	 off;
	int	 out;

	if ((off = lseek(fd, 0, SEEK_CUR)) == -1)
		off = 0;
	if ((out = spool_body_create(&q.spool, env->id)) == -1) {
		str_printf(err, errlen, "spool: %s", strerror(errno));
		return -1;
	}
	if (fd_copy_range(fd, (uint64_t)off, UINT64_MAX, out,
	    &env->size) == -1) {
		str_printf(err, errlen, "copy: %s", strerror(errno));
		close(out);
		spool_abort(&q.spool, env->id);
		return -1;
	}
	close(out);
	if (spool_commit(&q.spool, st, env, err, errlen) == -1)
		return -1;
	log_kv(LOG_LVL_INFO, "event=injected qid=%s size=%llu nrcpt=%zu "
	    "state=%s", env->id, (unsigned long long)env->size, env->nrcpt,
	    spool_state_name(st));
	memcpy(id, env->id, sizeof(id));
	if (st == SPOOL_INCOMING)
		qscan_add(env);
	else
		sched_add(env, st);
	memcpy(env->id, id, sizeof(id));
	return 0;
}

/* queue_mta_dispatch: the mta reports delivery results. */
static void
queue_mta_dispatch(struct ipc_chan *c, struct ipc_msg_in *m, void *arg)
{
	if (m->type != IMSG_MTA_RESULT)
		fatalx("queue_mta_dispatch: bad %s from mta",
		    ipc_type_name(m->type));
	sched_mta_result(m);
}

/* queue_main: the queue process (proc_run_fn). */
int
queue_main(const struct proc_def *pd, const int *fds, void *arg)
{
	char	 path[4096], err[256];
	int	 n;

	memset(&q, 0, sizeof(q));
	q.env = arg;
	TAILQ_INIT(&in.pending);
	TAILQ_INIT(&in.batch);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (!str_printf(path, sizeof(path), "%s/spool",
	    q.env->conf->imss.data_dir))
		fatalx("queue_main: spool path too long");
	if (spool_open(&q.spool, path, err, sizeof(err)) == -1)
		fatalx("queue_main: %s", err);
	if ((q.base = event_base_new()) == NULL ||
	    (in.ev_flush = event_new(q.base, -1, 0, queue_flush, NULL)) == NULL)
		fatalx("queue_main: event_base_new");
	sched_init();
	qscan_init();
	qipp_init();
	if (!str_printf(path, sizeof(path), "%s/quarantine",
	    q.env->conf->imss.data_dir))
		fatalx("queue_main: data_dir too long");
	if ((q.quar = quar_open(path, err, sizeof(err))) == NULL)
		fatalx("queue_main: quarantine: %s", err);
	if (!str_printf(path, sizeof(path), "%s/db/track.db",
	    q.env->conf->imss.data_dir))
		fatalx("queue_main: data_dir too long");
	qtrack_open(path);
	if (!str_printf(path, sizeof(path), "%s/spool",
	    q.env->conf->imss.data_dir))
		fatalx("queue_main: spool path too long");
	if ((n = spool_recover(&q.spool, queue_recovered, NULL)) == -1)
		fatal("queue_main: spool recovery");
	log_kv(LOG_LVL_INFO, "event=queue-ready spool=%s recovered=%d "
	    "incoming=%zu queue=%zu scan=%d", path, n, qscan_count(),
	    sched_count(), q.env->conf->policy.scan_enabled);

	q.parent = ipc_chan_new(q.base, fds[SMTPD_PROC_PARENT], 0,
	    queue_parent_dispatch, queue_closed, NULL);
	ipc_chan_set_name(q.parent, "parent");
	q.smtp = ipc_chan_new(q.base, fds[SMTPD_PROC_SMTP],
	    SMTPD_QUEUE_MAX_PAYLOAD, queue_smtp_dispatch, queue_closed, NULL);
	ipc_chan_set_name(q.smtp, "smtp");
	if (fds[SMTPD_PROC_MTA] != -1) {
		q.mta = ipc_chan_new(q.base, fds[SMTPD_PROC_MTA],
		    MTA_RESULT_MAX_PAYLOAD, queue_mta_dispatch, queue_closed,
		    NULL);
		ipc_chan_set_name(q.mta, "mta");
	}
	if ((space.ev = evtimer_new(q.base, queue_space_cb, NULL)) == NULL)
		fatalx("queue_main: evtimer_new");
	queue_space_cb(-1, 0, NULL);
	event_base_dispatch(q.base);
	event_free(space.ev);

	queue_ctl_free();
	qipp_free();
	qscan_free();
	sched_free();
	quar_close(q.quar);
	qtrack_close();
	ipc_chan_free(q.parent);
	ipc_chan_free(q.smtp);
	if (q.mta != NULL)
		ipc_chan_free(q.mta);
	event_free(in.ev_flush);
	spool_close(&q.spool);
	event_base_free(q.base);
	return 0;
}
