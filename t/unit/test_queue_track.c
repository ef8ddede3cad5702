/*
 * test_queue_track.c: the queue's tracking log (smtpd/queue_track.c) and
 * its durability rule (docs/tracking.md): a finished message leaves the
 * spool only after its records are committed (qtrack_remove), a
 * synchronous commit writes at once (qtrack_sync), and the batch is
 * written when its oldest record has waited long enough, even inside one
 * long callback.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "envelope.h"
#include "queue.h"
#include "spool.h"
#include "test.h"
#include "track.h"
#include "xmalloc.h"

static char	 dbpath[512];

/* count_cb: count the rows of a query. */
static bool
count_cb(const struct track_row *r, void *arg)
{
	(void)r;
	(*(size_t *)arg)++;
	return true;
}

/* committed: the events of qid another reader sees (what survived). */
static size_t
committed(const char *qid)
{
	struct track_filter f;
	struct track	*t;
	char		 err[256];
	size_t		 n = 0;

	if ((t = track_open_readonly(dbpath, err, sizeof(err))) == NULL) {
		CHECKF(false, "%s", err);
		return 0;
	}
	memset(&f, 0, sizeof(f));
	f.qid = qid;
	CHECK(track_query(t, &f, count_cb, &n));
	track_close(t);
	return n;
}

/* event: one record about qid. */
static void
event(const char *qid, enum track_kind kind)
{
	struct track_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.qid = qid;
	ev.kind = kind;
	ev.sender = "alice@example.com";
	ev.rcpt = kind == TRACK_REMOVED ? NULL : "bob@example.net";
	qtrack_add(&ev);
}

/* message: a committed message in queue/; its id in id. */
static void
message(char *id)
{
	struct envelope	 env;
	char		 err[128];
	int		 fd;

	fd = spool_body_create(&q.spool, id);
	CHECK(fd >= 0);
	CHECK(write(fd, "abc\r\n", 5) == 5);
	close(fd);
	envelope_init(&env);
	memcpy(env.id, id, SPOOL_ID_LEN + 1);
	env.received = time(NULL);
	env.sender = xstrdup("alice@example.com");
	env.size = 5;
	envelope_add_rcpt(&env, "bob@example.net", NULL, 0);
	CHECKF(spool_commit(&q.spool, SPOOL_QUEUE, &env, err,
	    sizeof(err)) == 0, "%s", err);
	envelope_clear(&env);
}

/* turn: let the event loop run what is active (the end of a turn). */
static void
turn(void)
{
	event_base_loop(q.base, EVLOOP_NONBLOCK);
}

/*
 * A delivered message: its records and its removal wait for the end of
 * the turn, and then the records are committed and the files gone.
 * Before that, both the message and (for a reader) no record: a kill
 * there repeats the delivery, it does not lose its record.
 */
static void
t_remove_after_commit(void)
{
	char	 id[SPOOL_ID_LEN + 1], id2[SPOOL_ID_LEN + 1];

	message(id);
	message(id2);
	event(id, TRACK_DELIVERED);
	event(id, TRACK_REMOVED);
	qtrack_remove(SPOOL_QUEUE, id);
	event(id2, TRACK_BOUNCED);
	event(id2, TRACK_NDR_SENT);
	event(id2, TRACK_REMOVED);
	qtrack_remove(SPOOL_QUEUE, id2);
	CHECK(spool_exists(&q.spool, SPOOL_QUEUE, id));
	CHECK(spool_exists(&q.spool, SPOOL_QUEUE, id2));
	CHECK_INTEQ(committed(id), 0);
	turn();
	/* One commit for both, then both removals. */
	CHECK_INTEQ(committed(id), 2);
	CHECK_INTEQ(committed(id2), 3);
	CHECK(!spool_exists(&q.spool, SPOOL_QUEUE, id));
	CHECK(!spool_exists(&q.spool, SPOOL_QUEUE, id2));
}

/* qtrack_sync commits at once, without waiting for the turn. */
static void
t_sync(void)
{
	const char *qid = "00000000000000a1";

	event(qid, TRACK_SCANNED);
	event(qid, TRACK_QUARANTINED);
	CHECK_INTEQ(committed(qid), 0);
	qtrack_sync();
	CHECK_INTEQ(committed(qid), 2);
	qtrack_sync();			/* nothing pending: no-op */
	CHECK_INTEQ(committed(qid), 2);
	turn();
	CHECK_INTEQ(committed(qid), 2);
}

/*
 * A long burst inside one callback: a record that waited 100 ms is
 * written when the next one comes, not only at the end of the turn.
 */
static void
t_time_bound(void)
{
	const char *a = "00000000000000b1", *b = "00000000000000b2";
	struct timespec ts = { 0, 150 * 1000 * 1000 };

	event(a, TRACK_SCANNED);
	CHECK_INTEQ(committed(a), 0);
	nanosleep(&ts, NULL);
	event(b, TRACK_SCANNED);
	CHECK_INTEQ(committed(a), 1);
	CHECK_INTEQ(committed(b), 0);
	turn();
	CHECK_INTEQ(committed(b), 1);
}

/* Closing writes what is pending and carries out the removals. */
static void
t_close(void)
{
	char	 id[SPOOL_ID_LEN + 1];

	message(id);
	event(id, TRACK_DELETED);
	qtrack_remove(SPOOL_QUEUE, id);
	qtrack_close();
	CHECK_INTEQ(committed(id), 1);
	CHECK(!spool_exists(&q.spool, SPOOL_QUEUE, id));
}

static char	 tmpl[] = "/tmp/sekisho-qtrack.XXXXXX";

static void
setup(void)
{
	char	 path[512], err[128], *dir;

	if ((dir = mkdtemp(tmpl)) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	memset(&q, 0, sizeof(q));
	if ((q.base = event_base_new()) == NULL)
		exit(1);
	snprintf(path, sizeof(path), "%s/spool", dir);
	if (spool_open(&q.spool, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	snprintf(dbpath, sizeof(dbpath), "%s/track.db", dir);
	qtrack_open(dbpath);
}

static void
t_all(void)
{
	setup();
	t_remove_after_commit();
	t_sync();
	t_time_bound();
	t_close();
	spool_close(&q.spool);
	event_base_free(q.base);
	test_rmtree(tmpl);
}

TEST_MAIN(t_all)
