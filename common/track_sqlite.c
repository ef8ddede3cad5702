/*
 * track_sqlite.c: the SQLite backend of the message-tracking log.
 *
 * One database file, owned (written) by one process, WAL mode so readers
 * (sekishoctl through the manager, tests) never block the writer nor the
 * writer them.  Two tables: track_msg holds what belongs to a message
 * (sender, subject, first time), track_event one row per event.  Matching
 * ignores case through stored folded copies (*_f columns, track_fold), so
 * it works beyond ASCII and exact matches can use an index; substrings are
 * found with instr(), which has no wildcard characters to escape.
 *
 * Every statement is prepared once: the fixed ones at open, each query
 * shape (which filters are set) the first time it is used, from constant
 * fragments only; values are always bound parameters.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "track.h"
#include "util.h"
#include "xmalloc.h"

#define TRACK_SQL_VERSION	1	/* the schema this code writes */
#define TRACK_SQL_CACHE		32	/* prepared query shapes kept */
#define TRACK_SQL_PURGE_BATCH	2000	/* rows per purge transaction */

/* Query shape bits: which fragments a query statement was built from. */
enum {
	TQ_SINCE = 1 << 0,
	TQ_UNTIL = 1 << 1,
	TQ_QID = 1 << 2,
	TQ_QID_LO = 1 << 3,
	TQ_QID_HI = 1 << 4,
	TQ_SENDER = 1 << 5,
	TQ_SENDER_EQ = 1 << 6,
	TQ_RCPT = 1 << 7,
	TQ_RCPT_EQ = 1 << 8,
	TQ_SUBJECT = 1 << 9,
	TQ_SUBJECT_EQ = 1 << 10,
	TQ_RULE = 1 << 11,
	TQ_RULE_EQ = 1 << 12,
	TQ_ACTION = 1 << 13,
	TQ_ACTION_EQ = 1 << 14,
	TQ_KINDS = 1 << 15,
	TQ_NEWEST = 1 << 16,
	TQ_MESSAGES = 1 << 17,
};

struct track_sql_shape {
	uint32_t	 key;
	sqlite3_stmt	*st;
};

struct track_sql {
	struct db		 db;
	sqlite3_stmt		*begin, *commit, *rollback;
	sqlite3_stmt		*ins_event, *ins_msg;
	sqlite3_stmt		*del_event, *del_msg;
	struct track_sql_shape	 cache[TRACK_SQL_CACHE];
	size_t			 cache_next;
};

/* Version 1: the first schema.  Later versions append a migration step. */
static const char track_sql_v1[] =
    "CREATE TABLE track_schema (version INTEGER NOT NULL);"
    "CREATE TABLE track_msg ("
    " qid TEXT PRIMARY KEY,"
    " first INTEGER NOT NULL,"		/* µs, first event that named it */
    " sender TEXT, sender_f TEXT,"
    " subject TEXT, subject_f TEXT);"
    "CREATE INDEX track_msg_sender ON track_msg (sender_f);"
    "CREATE INDEX track_msg_subject ON track_msg (subject_f);"
    "CREATE INDEX track_msg_first ON track_msg (first);"
    "CREATE TABLE track_event ("
    " id INTEGER PRIMARY KEY,"
    " t INTEGER NOT NULL,"		/* µs since the epoch */
    " qid TEXT NOT NULL,"
    " kind INTEGER NOT NULL,"		/* enum track_kind */
    " rcpt TEXT, rcpt_f TEXT,"
    " rule TEXT, rule_f TEXT,"
    " action TEXT, action_f TEXT,"
    " relay TEXT, dsn TEXT, detail TEXT);"
    "CREATE INDEX track_event_t ON track_event (t);"
    "CREATE INDEX track_event_qid ON track_event (qid, t);"
    "CREATE INDEX track_event_rcpt ON track_event (rcpt_f, t)"
    " WHERE rcpt_f IS NOT NULL;"
    "CREATE INDEX track_event_rule ON track_event (rule_f, t)"
    " WHERE rule_f IS NOT NULL;"
    "CREATE INDEX track_event_action ON track_event (action_f, t)"
    " WHERE action_f IS NOT NULL;"
    "INSERT INTO track_schema (version) VALUES (1);";

/*
 * Migrations: track_sql_migrate[n] takes a version-n database to n+1.
 * None yet; index 0 (an empty file) is the v1 schema itself.
 */
static const char *const track_sql_migrate[TRACK_SQL_VERSION] = {
	track_sql_v1,
};

static const char track_sql_ins_event[] =
    "INSERT INTO track_event (t, qid, kind, rcpt, rcpt_f, rule, rule_f,"
    " action, action_f, relay, dsn, detail) VALUES (:t, :qid, :kind,"
    " :rcpt, :rcpt_f, :rule, :rule_f, :action, :action_f, :relay, :dsn,"
    " :detail)";

/* The first sender and subject a message was logged with stay. */
static const char track_sql_ins_msg[] =
    "INSERT INTO track_msg (qid, first, sender, sender_f, subject,"
    " subject_f) VALUES (:qid, :t, :sender, :sender_f, :subject,"
    " :subject_f) ON CONFLICT (qid) DO UPDATE SET"
    " first = min(first, excluded.first),"
    " sender = coalesce(sender, excluded.sender),"
    " sender_f = coalesce(sender_f, excluded.sender_f),"
    " subject = coalesce(subject, excluded.subject),"
    " subject_f = coalesce(subject_f, excluded.subject_f)";

static const char track_sql_del_event[] =
    "DELETE FROM track_event WHERE id IN (SELECT id FROM track_event"
    " WHERE t < :before ORDER BY t LIMIT :n)";

static const char track_sql_del_msg[] =
    "DELETE FROM track_msg WHERE qid IN (SELECT m.qid FROM track_msg m"
    " WHERE m.first < :before AND NOT EXISTS (SELECT 1 FROM track_event e"
    " WHERE e.qid = m.qid) LIMIT :n)";

/* track_sql_close: finalize every statement and close the database. */
static void
track_sql_close(void *h)
{
	struct track_sql	*s = h;
	size_t			 i;

	if (s == NULL)
		return;
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_finalize(s->rollback);
	sqlite3_finalize(s->ins_event);
	sqlite3_finalize(s->ins_msg);
	sqlite3_finalize(s->del_event);
	sqlite3_finalize(s->del_msg);
	for (i = 0; i < TRACK_SQL_CACHE; i++)
		sqlite3_finalize(s->cache[i].st);
	db_close(&s->db);
	free(s);
}

/*
 * track_sql_open: open, configure and check (or create) the database.
 * synchronous=NORMAL (db.c): the spool, fsynced, is the record of what
 * happened to mail; the log is its audit trail, and one fsync per commit
 * would cost the queue more than the log is worth.
 */
static void *
track_sql_open(const char *path, bool readonly, char *err, size_t errlen)
{
	static const struct db_schema schema = { "track_schema",
	    "sekisho tracking log", track_sql_migrate, TRACK_SQL_VERSION };
	struct track_sql	*s;

	s = xcalloc(1, sizeof(*s));
	if (!db_open(&s->db, path, "track", readonly ? DB_READONLY :
	    DB_AUTOVACUUM, err, errlen) ||
	    !db_schema(&s->db, &schema, err, errlen))
		goto fail;
	if (readonly)
		return s;
	if (!db_prep(&s->db, "BEGIN IMMEDIATE", &s->begin, err, errlen) ||
	    !db_prep(&s->db, "COMMIT", &s->commit, err, errlen) ||
	    !db_prep(&s->db, "ROLLBACK", &s->rollback, err, errlen) ||
	    !db_prep(&s->db, track_sql_ins_event, &s->ins_event, err,
	    errlen) ||
	    !db_prep(&s->db, track_sql_ins_msg, &s->ins_msg, err, errlen) ||
	    !db_prep(&s->db, track_sql_del_event, &s->del_event, err,
	    errlen) ||
	    !db_prep(&s->db, track_sql_del_msg, &s->del_msg, err, errlen))
		goto fail;
	return s;
fail:
	track_sql_close(s);
	return NULL;
}

/* track_sql_add1: insert one (cleaned) event inside the open transaction. */
static bool
track_sql_add1(struct track_sql *s, const struct track_event *e, char *err,
    size_t errlen)
{
	char	*rcpt_f, *rule_f, *action_f, *sender_f, *subject_f;
	bool	 ok = true;

	rcpt_f = track_fold(e->rcpt);
	rule_f = track_fold(e->rule);
	action_f = track_fold(e->action);
	db_bind_int(s->ins_event, ":t", e->time);
	db_bind_text(s->ins_event, ":qid", e->qid);
	db_bind_int(s->ins_event, ":kind", e->kind);
	db_bind_text(s->ins_event, ":rcpt", e->rcpt);
	db_bind_text(s->ins_event, ":rcpt_f", rcpt_f);
	db_bind_text(s->ins_event, ":rule", e->rule);
	db_bind_text(s->ins_event, ":rule_f", rule_f);
	db_bind_text(s->ins_event, ":action", e->action);
	db_bind_text(s->ins_event, ":action_f", action_f);
	db_bind_text(s->ins_event, ":relay", e->relay);
	db_bind_text(s->ins_event, ":dsn", e->dsn);
	db_bind_text(s->ins_event, ":detail", e->detail);
	ok = db_run(&s->db, s->ins_event, "track add", err, errlen);
	free(rcpt_f);
	free(rule_f);
	free(action_f);
	if (!ok || (e->sender == NULL && e->subject == NULL))
		return ok;
	sender_f = track_fold(e->sender);
	subject_f = track_fold(e->subject);
	db_bind_text(s->ins_msg, ":qid", e->qid);
	db_bind_int(s->ins_msg, ":t", e->time);
	db_bind_text(s->ins_msg, ":sender", e->sender);
	db_bind_text(s->ins_msg, ":sender_f", sender_f);
	db_bind_text(s->ins_msg, ":subject", e->subject);
	db_bind_text(s->ins_msg, ":subject_f", subject_f);
	ok = db_run(&s->db, s->ins_msg, "track add", err, errlen);
	free(sender_f);
	free(subject_f);
	return ok;
}

/* track_sql_add: insert n events in one transaction, all or none. */
static bool
track_sql_add(void *h, const struct track_event *ev, size_t n, char *err,
    size_t errlen)
{
	struct track_sql	*s = h;
	char			 dummy[8];
	size_t			 i;

	if (s->db.readonly) {
		snprintf(err, errlen, "track add: %s: opened read-only",
		    s->db.path);
		return false;
	}
	if (!db_run(&s->db, s->begin, "track add: begin", err, errlen))
		return false;
	for (i = 0; i < n; i++)
		if (!track_sql_add1(s, &ev[i], err, errlen))
			goto fail;
	if (db_run(&s->db, s->commit, "track add: commit", err, errlen))
		return true;
fail:
	db_run(&s->db, s->rollback, "rollback", dummy, sizeof(dummy));
	return false;
}

/* track_sql_cat: append a constant fragment; overflow is a bug. */
static void
track_sql_cat(char *sql, size_t size, const char *frag)
{
	if (str_lcat(sql, frag, size) >= size)
		fatalx("track_sql_cat: query text longer than %zu", size);
}

/* track_sql_where: the WHERE fragments of shape key (no values). */
static void
track_sql_where(char *sql, size_t size, uint32_t key)
{
	static const struct {
		uint32_t	 bit;
		const char	*frag;
	} w[] = {
		{ TQ_SINCE, " AND e.t >= :since" },
		{ TQ_UNTIL, " AND e.t < :until" },
		{ TQ_QID, " AND e.qid = :qid" },
		{ TQ_QID_LO, " AND e.qid >= :qid" },
		{ TQ_QID_HI, " AND e.qid < :qid_hi" },
		{ TQ_SENDER, " AND instr(m.sender_f, :sender) > 0" },
		{ TQ_SENDER_EQ, " AND m.sender_f = :sender" },
		{ TQ_RCPT, " AND instr(e.rcpt_f, :rcpt) > 0" },
		{ TQ_RCPT_EQ, " AND e.rcpt_f = :rcpt" },
		{ TQ_SUBJECT, " AND instr(m.subject_f, :subject) > 0" },
		{ TQ_SUBJECT_EQ, " AND m.subject_f = :subject" },
		{ TQ_RULE, " AND instr(e.rule_f, :rule) > 0" },
		{ TQ_RULE_EQ, " AND e.rule_f = :rule" },
		{ TQ_ACTION, " AND instr(e.action_f, :action) > 0" },
		{ TQ_ACTION_EQ, " AND e.action_f = :action" },
		{ TQ_KINDS, " AND ((1 << e.kind) & :kinds) != 0" },
	};
	size_t	 i;

	track_sql_cat(sql, size, " FROM track_event e LEFT JOIN track_msg m"
	    " ON m.qid = e.qid WHERE 1");
	for (i = 0; i < nitems(w); i++)
		if (key & w[i].bit)
			track_sql_cat(sql, size, w[i].frag);
}

/* track_sql_build_events: the event query of shape key. */
static void
track_sql_build_events(char *sql, size_t size, uint32_t key)
{
	const char	*dir = (key & TQ_NEWEST) ? " DESC" : " ASC";

	track_sql_cat(sql, size, "SELECT e.id, e.t, e.qid, e.kind, m.sender,"
	    " e.rcpt, m.subject, e.rule, e.action, e.relay, e.dsn, e.detail");
	track_sql_where(sql, size, key);
	track_sql_cat(sql, size, " ORDER BY e.t");
	track_sql_cat(sql, size, dir);
	track_sql_cat(sql, size, ", e.id");
	track_sql_cat(sql, size, dir);
	track_sql_cat(sql, size, " LIMIT :limit OFFSET :offset");
}

/*
 * track_sql_build_messages: the summary query of shape key: the matching
 * messages (ordered by their first event, limit/offset on messages), then
 * per message the last event of each recipient (rcpt_f partition; NULL is
 * the message-level one) and the latest scan verdict that applies to it.
 */
static void
track_sql_build_messages(char *sql, size_t size, uint32_t key)
{
	const char	*dir = (key & TQ_NEWEST) ? " DESC" : " ASC";

	track_sql_cat(sql, size, "WITH sel AS (SELECT DISTINCT e.qid AS qid");
	track_sql_where(sql, size, key);
	track_sql_cat(sql, size, "), msgs AS (SELECT s.qid AS qid, (SELECT"
	    " min(x.t) FROM track_event x WHERE x.qid = s.qid) AS first"
	    " FROM sel s ORDER BY first");
	track_sql_cat(sql, size, dir);
	track_sql_cat(sql, size, ", s.qid");
	track_sql_cat(sql, size, dir);
	track_sql_cat(sql, size, " LIMIT :limit OFFSET :offset),"
	    " last AS (SELECT x.*, row_number() OVER (PARTITION BY x.qid,"
	    " x.rcpt_f ORDER BY x.t DESC, x.id DESC) AS rn FROM track_event x"
	    " WHERE x.qid IN (SELECT qid FROM msgs))"
	    " SELECT l.qid, g.first, m.sender, m.subject, l.rcpt, l.kind, l.t,"
	    " l.rule, l.action, l.relay, l.dsn, l.detail,"
	    " (SELECT sc.action FROM track_event sc WHERE sc.qid = l.qid AND"
	    " sc.kind = 2 AND (sc.rcpt_f IS NULL OR sc.rcpt_f = l.rcpt_f)"
	    " ORDER BY sc.t DESC, sc.id DESC LIMIT 1)"
	    " FROM msgs g JOIN last l ON l.qid = g.qid AND l.rn = 1"
	    " LEFT JOIN track_msg m ON m.qid = g.qid ORDER BY g.first");
	track_sql_cat(sql, size, dir);
	track_sql_cat(sql, size, ", g.qid");
	track_sql_cat(sql, size, dir);
	track_sql_cat(sql, size, ", l.rcpt_f IS NOT NULL, l.rcpt_f, l.rcpt");
}

/* track_sql_shape: the prepared statement for shape key (cached). */
static sqlite3_stmt *
track_sql_shape(struct track_sql *s, uint32_t key, char *err, size_t errlen)
{
	struct track_sql_shape	*c;
	char			 sql[4096];
	size_t			 i;

	for (i = 0; i < TRACK_SQL_CACHE; i++)
		if (s->cache[i].st != NULL && s->cache[i].key == key)
			return s->cache[i].st;
	sql[0] = '\0';
	if (key & TQ_MESSAGES)
		track_sql_build_messages(sql, sizeof(sql), key);
	else
		track_sql_build_events(sql, sizeof(sql), key);
	c = &s->cache[s->cache_next];
	s->cache_next = (s->cache_next + 1) % TRACK_SQL_CACHE;
	sqlite3_finalize(c->st);
	c->st = NULL;
	if (!db_prep(&s->db, sql, &c->st, err, errlen))
		return NULL;
	c->key = key;
	return c->st;
}

/*
 * track_sql_qid_hi: the smallest string above every string starting with
 * prefix p (p with its last byte below 0xff raised by one); NULL when
 * there is none (all 0xff), then only the lower bound applies.
 */
static char *
track_sql_qid_hi(const char *p)
{
	char	*hi = xstrdup(p);
	size_t	 n = strlen(hi);

	while (n > 0 && (unsigned char)hi[n - 1] == 0xff)
		hi[--n] = '\0';
	if (n == 0) {
		free(hi);
		return NULL;
	}
	hi[n - 1] = (char)((unsigned char)hi[n - 1] + 1);
	return hi;
}

/* track_sql_key: the shape of filter f. */
static uint32_t
track_sql_key(const struct track_filter *f, const char *qid_hi)
{
	uint32_t	 k = 0;

	k |= f->since != 0 ? TQ_SINCE : 0;
	k |= f->until != 0 ? TQ_UNTIL : 0;
	if (f->qid != NULL && !f->qid_prefix)
		k |= TQ_QID;
	else if (f->qid != NULL)
		k |= TQ_QID_LO | (qid_hi != NULL ? TQ_QID_HI : 0);
	if (f->sender != NULL)
		k |= (f->exact & TRACK_EXACT_SENDER) ? TQ_SENDER_EQ : TQ_SENDER;
	if (f->rcpt != NULL)
		k |= (f->exact & TRACK_EXACT_RCPT) ? TQ_RCPT_EQ : TQ_RCPT;
	if (f->subject != NULL)
		k |= (f->exact & TRACK_EXACT_SUBJECT) ? TQ_SUBJECT_EQ :
		    TQ_SUBJECT;
	if (f->rule != NULL)
		k |= (f->exact & TRACK_EXACT_RULE) ? TQ_RULE_EQ : TQ_RULE;
	if (f->action != NULL)
		k |= (f->exact & TRACK_EXACT_ACTION) ? TQ_ACTION_EQ : TQ_ACTION;
	k |= f->kinds != 0 ? TQ_KINDS : 0;
	k |= f->newest_first ? TQ_NEWEST : 0;
	return k;
}

/* track_sql_bind: bind filter f's values to a query statement. */
static void
track_sql_bind(sqlite3_stmt *st, const struct track_filter *f,
    const char *qid_hi)
{
	db_bind_int(st, ":since", f->since);
	db_bind_int(st, ":until", f->until);
	db_bind_text(st, ":qid", f->qid);
	db_bind_text(st, ":qid_hi", qid_hi);
	db_bind_text(st, ":sender", f->sender);
	db_bind_text(st, ":rcpt", f->rcpt);
	db_bind_text(st, ":subject", f->subject);
	db_bind_text(st, ":rule", f->rule);
	db_bind_text(st, ":action", f->action);
	db_bind_int(st, ":kinds", (int64_t)f->kinds);
	db_bind_int(st, ":limit", f->limit != 0 ? (int64_t)f->limit : -1);
	db_bind_int(st, ":offset", (int64_t)f->offset);
}

/* track_sql_str: column i as text, NULL for SQL NULL. */
static const char *
track_sql_str(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* track_sql_row_event: one result row to the caller; false: stop. */
static bool
track_sql_row_event(sqlite3_stmt *st, void *cb, void *arg)
{
	struct track_row	 r;

	r.id = sqlite3_column_int64(st, 0);
	r.time = sqlite3_column_int64(st, 1);
	r.qid = track_sql_str(st, 2);
	r.kind = (enum track_kind)sqlite3_column_int(st, 3);
	r.sender = track_sql_str(st, 4);
	r.rcpt = track_sql_str(st, 5);
	r.subject = track_sql_str(st, 6);
	r.rule = track_sql_str(st, 7);
	r.action = track_sql_str(st, 8);
	r.relay = track_sql_str(st, 9);
	r.dsn = track_sql_str(st, 10);
	r.detail = track_sql_str(st, 11);
	return ((track_row_cb)cb)(&r, arg);
}

/* track_sql_row_outcome: one summary row to the caller; false: stop. */
static bool
track_sql_row_outcome(sqlite3_stmt *st, void *cb, void *arg)
{
	struct track_outcome	 o;

	o.qid = track_sql_str(st, 0);
	o.first = sqlite3_column_int64(st, 1);
	o.sender = track_sql_str(st, 2);
	o.subject = track_sql_str(st, 3);
	o.rcpt = track_sql_str(st, 4);
	o.kind = (enum track_kind)sqlite3_column_int(st, 5);
	o.time = sqlite3_column_int64(st, 6);
	o.rule = track_sql_str(st, 7);
	o.action = track_sql_str(st, 8);
	o.relay = track_sql_str(st, 9);
	o.dsn = track_sql_str(st, 10);
	o.detail = track_sql_str(st, 11);
	o.scan_action = track_sql_str(st, 12);
	return ((track_outcome_cb)cb)(&o, arg);
}

/*
 * track_sql_select: run the query of filter f (event rows or summary) and
 * hand each row to emit.  Reads see one snapshot (one statement).
 */
static bool
track_sql_select(struct track_sql *s, const struct track_filter *f,
    uint32_t extra, bool (*emit)(sqlite3_stmt *, void *, void *), void *cb,
    void *arg, char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	char		*qid_hi = NULL;
	int		 rc;

	if (f->qid != NULL && f->qid_prefix)
		qid_hi = track_sql_qid_hi(f->qid);
	if ((st = track_sql_shape(s, track_sql_key(f, qid_hi) | extra, err,
	    errlen)) == NULL) {
		free(qid_hi);
		return false;
	}
	track_sql_bind(st, f, qid_hi);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (!emit(st, cb, arg)) {
			rc = SQLITE_DONE;
			break;
		}
	if (rc != SQLITE_DONE)
		db_err(&s->db, "track query", err, errlen);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	free(qid_hi);
	return rc == SQLITE_DONE;
}

/* track_sql_query: stream matching events. */
static bool
track_sql_query(void *h, const struct track_filter *f, track_row_cb cb,
    void *arg, char *err, size_t errlen)
{
	return track_sql_select(h, f, 0, track_sql_row_event, (void *)cb,
	    arg, err, errlen);
}

/* track_sql_query_messages: stream the per-recipient summary. */
static bool
track_sql_query_messages(void *h, const struct track_filter *f,
    track_outcome_cb cb, void *arg, char *err, size_t errlen)
{
	return track_sql_select(h, f, TQ_MESSAGES, track_sql_row_outcome,
	    (void *)cb, arg, err, errlen);
}

/* track_sql_purge_one: one transaction deleting at most n rows by st. */
static bool
track_sql_purge_one(struct track_sql *s, sqlite3_stmt *st, int64_t before,
    int64_t n, uint64_t *done, char *err, size_t errlen)
{
	char	 dummy[8];

	if (!db_run(&s->db, s->begin, "track purge: begin", err, errlen))
		return false;
	db_bind_int(st, ":before", before);
	db_bind_int(st, ":n", n);
	if (!db_run(&s->db, st, "track purge", err, errlen)) {
		db_run(&s->db, s->rollback, "rollback", dummy,
		    sizeof(dummy));
		return false;
	}
	*done = (uint64_t)sqlite3_changes(s->db.h);
	if (!db_run(&s->db, s->commit, "track purge: commit", err,
	    errlen)) {
		db_run(&s->db, s->rollback, "rollback", dummy,
		    sizeof(dummy));
		return false;
	}
	return true;
}

/*
 * track_sql_purge: delete events before `before` (µs), at most max (0:
 * all), in batches of TRACK_SQL_PURGE_BATCH rows per transaction; then
 * the messages left without events, then give free pages back.
 */
static bool
track_sql_purge(void *h, int64_t before, uint64_t max, uint64_t *removed,
    char *err, size_t errlen)
{
	struct track_sql	*s = h;
	uint64_t		 n, want;

	*removed = 0;
	if (s->db.readonly) {
		snprintf(err, errlen, "track purge: %s: opened read-only",
		    s->db.path);
		return false;
	}
	do {
		want = TRACK_SQL_PURGE_BATCH;
		if (max != 0 && max - *removed < want)
			want = max - *removed;
		if (!track_sql_purge_one(s, s->del_event, before,
		    (int64_t)want, &n, err, errlen))
			return false;
		*removed += n;
	} while (n == want && (max == 0 || *removed < max));
	do {
		if (!track_sql_purge_one(s, s->del_msg, before,
		    TRACK_SQL_PURGE_BATCH, &n, err, errlen))
			return false;
	} while (n == TRACK_SQL_PURGE_BATCH);
	if (sqlite3_exec(s->db.h, "PRAGMA incremental_vacuum(1000)", NULL, NULL,
	    NULL) != SQLITE_OK) {
		db_err(&s->db, "track purge: vacuum", err, errlen);
		return false;
	}
	return true;
}

const struct track_backend track_sqlite_backend = {
	.name = "sqlite",
	.open = track_sql_open,
	.add = track_sql_add,
	.query = track_sql_query,
	.query_messages = track_sql_query_messages,
	.purge = track_sql_purge,
	.close = track_sql_close,
};
