/*
 * quarantine.c: the quarantine store (see quarantine.h, docs/quarantine.md).
 *
 * Files are written like the spool's: in tmp/, fsynced, renamed into msg/
 * (content, envelope, then the .info last: a message is quarantined
 * exactly when its .info is in msg/), and msg/ fsynced; only then is the
 * index row written.  The index follows the track_sqlite.c patterns: WAL,
 * defensive mode, NOFOLLOW open, a schema version table, statements
 * prepared once at open with every value bound.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "quarantine.h"
#include "spool.h"
#include "track.h"
#include "util.h"
#include "xmalloc.h"

/* File names are shared with the spool (spool_fname, spool_is_fname). */
_Static_assert(QUAR_ID_LEN == SPOOL_ID_LEN, "quarantine ids are spool-sized");

#define QUAR_SQL_VERSION	1

struct quar {
	struct db	 db;		/* index.db */
	char		*path;		/* the store's directory */
	int		 dirfd, msgfd, tmpfd, corruptfd;
	uint64_t	 last_id;
	sqlite3_stmt	*begin, *commit, *rollback;
	sqlite3_stmt	*ins, *ins_rcpt, *del, *del_rcpt, *sel, *sel_rcpt;
	sqlite3_stmt	*has, *ids, *list;
};

/* Version 1: entries, one row per message; entry_rcpt, one per recipient. */
static const char quar_sql_v1[] =
    "CREATE TABLE quar_schema (version INTEGER NOT NULL);"
    "CREATE TABLE entries ("
    " id TEXT PRIMARY KEY,"		/* quarantine id */
    " qid TEXT NOT NULL,"		/* queue id of origin */
    " t INTEGER NOT NULL,"		/* µs since the epoch */
    " area TEXT NOT NULL,"
    " sender TEXT NOT NULL, sender_f TEXT NOT NULL,"
    " subject TEXT, rule TEXT, reason TEXT,"
    " size INTEGER NOT NULL);"
    "CREATE INDEX entries_t ON entries (t);"
    "CREATE INDEX entries_area ON entries (area, t);"
    "CREATE TABLE entry_rcpt ("
    " id TEXT NOT NULL, n INTEGER NOT NULL,"
    " rcpt TEXT NOT NULL, rcpt_f TEXT NOT NULL,"
    " PRIMARY KEY (id, n));"
    "CREATE INDEX entry_rcpt_f ON entry_rcpt (rcpt_f);"
    "INSERT INTO quar_schema (version) VALUES (1);";

static const char *const quar_sql_migrate[QUAR_SQL_VERSION] = {
	quar_sql_v1,
};

static const char quar_sql_ins[] =
    "INSERT OR REPLACE INTO entries (id, qid, t, area, sender, sender_f,"
    " subject, rule, reason, size) VALUES (:id, :qid, :t, :area, :sender,"
    " :sender_f, :subject, :rule, :reason, :size)";
static const char quar_sql_ins_rcpt[] =
    "INSERT OR REPLACE INTO entry_rcpt (id, n, rcpt, rcpt_f) VALUES (:id,"
    " :n, :rcpt, :rcpt_f)";
static const char quar_sql_del[] = "DELETE FROM entries WHERE id = :id";
static const char quar_sql_del_rcpt[] =
    "DELETE FROM entry_rcpt WHERE id = :id";
static const char quar_sql_cols[] =
    "SELECT id, qid, t, area, sender, subject, rule, reason, size"
    " FROM entries e";
static const char quar_sql_sel_rcpt[] =
    "SELECT rcpt FROM entry_rcpt WHERE id = :id ORDER BY n";
static const char quar_sql_has[] = "SELECT 1 FROM entries WHERE id = :id";
static const char quar_sql_ids[] = "SELECT id FROM entries";
/* One statement for every filter: an unset parameter is NULL. */
static const char quar_sql_where[] =
    " WHERE (:area IS NULL OR area = :area)"
    " AND (:sender IS NULL OR instr(sender_f, :sender) > 0)"
    " AND (:rcpt IS NULL OR EXISTS (SELECT 1 FROM entry_rcpt r"
    " WHERE r.id = e.id AND instr(r.rcpt_f, :rcpt) > 0))"
    " AND (:rcpt_eq IS NULL OR id IN (SELECT id FROM entry_rcpt"
    " WHERE rcpt_f = :rcpt_eq))"
    " AND (:since IS NULL OR t >= :since)"
    " AND (:until IS NULL OR t < :until)"
    " ORDER BY t DESC, id DESC LIMIT :limit OFFSET :offset";

/* quar_col: a text column as a new string, or NULL. */
static char *
quar_col(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s == NULL ? NULL : xstrdup((const char *)s);
}

/* quar_id_valid: QUAR_ID_LEN lower-case hex digits (never a path). */
bool
quar_id_valid(const char *id)
{
	return id != NULL && strlen(id) == QUAR_ID_LEN &&
	    strspn(id, "0123456789abcdef") == QUAR_ID_LEN;
}

/* now_us: the time in microseconds since the epoch. */
static int64_t
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* quar_entry_clear: free what the entry owns; it is empty again. */
void
quar_entry_clear(struct quar_entry *e)
{
	size_t	 i;

	free(e->area);
	free(e->sender);
	free(e->subject);
	free(e->rule);
	free(e->reason);
	for (i = 0; i < e->nrcpt; i++)
		free(e->rcpt[i]);
	free(e->rcpt);
	memset(e, 0, sizeof(*e));
}

/* info_format: the .info file of an entry (sender and rcpt are in .env). */
static bool
info_format(const struct quar_entry *e, struct buf *b)
{
	return buf_printf(b, "sekisho-quarantine 1\nid %s\ntime %lld\n",
	    e->id, (long long)e->time) &&
	    buf_addstr(b, "area ") && envelope_esc(b, e->area) &&
	    buf_addstr(b, "\nsubject ") && envelope_esc(b, e->subject) &&
	    buf_addstr(b, "\nrule ") && envelope_esc(b, e->rule) &&
	    buf_addstr(b, "\nreason ") && envelope_esc(b, e->reason) &&
	    buf_printf(b, "\nsize %llu\nend\n", (unsigned long long)e->size);
}

/* info_parse: read an .info text into e (id, time, texts, size). */
static bool
info_parse(struct quar_entry *e, char *text, char *err, size_t errlen)
{
	char		*line, *next, *v, **dst;
	long long	 n;
	unsigned	 seen = 0, bit;
	bool		 end = false, first = true;

	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) == NULL) {
			snprintf(err, errlen, "info: unterminated line");
			return false;
		}
		*next++ = '\0';
		if (end) {
			snprintf(err, errlen, "info: text after end");
			return false;
		}
		if (first) {
			if (strcmp(line, "sekisho-quarantine 1") != 0) {
				snprintf(err, errlen, "info: bad first line");
				return false;
			}
			first = false;
			continue;
		}
		if (strcmp(line, "end") == 0) {
			end = true;
			continue;
		}
		if ((v = strchr(line, ' ')) == NULL)
			goto bad;
		*v++ = '\0';
		dst = NULL;
		if (strcmp(line, "id") == 0) {
			bit = 0x01;
			if (!quar_id_valid(v))
				goto bad;
			memcpy(e->id, v, QUAR_ID_LEN + 1);
		} else if (strcmp(line, "time") == 0) {
			bit = 0x02;
			if (!str_to_ll(v, 0, INT64_MAX, &n))
				goto bad;
			e->time = n;
		} else if (strcmp(line, "size") == 0) {
			bit = 0x04;
			if (!str_to_ll(v, 0, INT64_MAX, &n))
				goto bad;
			e->size = (uint64_t)n;
		} else if (strcmp(line, "area") == 0) {
			bit = 0x08;
			dst = &e->area;
		} else if (strcmp(line, "subject") == 0) {
			bit = 0x10;
			dst = &e->subject;
		} else if (strcmp(line, "rule") == 0) {
			bit = 0x20;
			dst = &e->rule;
		} else if (strcmp(line, "reason") == 0) {
			bit = 0x40;
			dst = &e->reason;
		} else
			goto bad;
		if (seen & bit)
			goto bad;
		seen |= bit;
		if (dst != NULL && !envelope_unesc(v, strlen(v), dst))
			goto bad;
	}
	if (!end || (seen & 0x0f) != 0x0f || e->area == NULL) {
		snprintf(err, errlen, "info: incomplete");
		return false;
	}
	return true;
bad:
	snprintf(err, errlen, "info: bad line \"%.40s\"", line);
	return false;
}

/*
 * load_files: the entry (and, when env is not NULL, the envelope) of id
 * from its files; the content must be there with the recorded size.
 */
static bool
load_files(struct quar *q, const char *id, struct quar_entry *e,
    struct envelope *env, char *err, size_t errlen)
{
	struct envelope	 tmp;
	struct stat	 sb;
	char		 name[64], *text;
	size_t		 len, i;
	bool		 ok;

	memset(e, 0, sizeof(*e));
	envelope_init(&tmp);
	if ((text = file_read_at(q->msgfd, spool_fname(name, sizeof(name), id,
	    ".info"), QUAR_INFO_MAX, &len)) == NULL) {
		snprintf(err, errlen, "info: %s", strerror(errno));
		return false;
	}
	ok = info_parse(e, text, err, errlen);
	free(text);
	if (ok && strcmp(e->id, id) != 0) {
		snprintf(err, errlen, "info names id %s", e->id);
		ok = false;
	}
	if (!ok)
		goto fail;
	if ((text = file_read_at(q->msgfd, spool_fname(name, sizeof(name), id,
	    ".env"), ENVELOPE_MAX_SIZE, &len)) == NULL) {
		snprintf(err, errlen, "envelope: %s", strerror(errno));
		goto fail;
	}
	ok = envelope_parse(&tmp, text, len, err, errlen) == 0;
	free(text);
	if (!ok)
		goto fail;
	if (fstatat(q->msgfd, spool_fname(name, sizeof(name), id, ".msg"), &sb,
	    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(sb.st_mode) ||
	    (uint64_t)sb.st_size != e->size) {
		snprintf(err, errlen, "content missing or not %llu bytes",
		    (unsigned long long)e->size);
		goto fail;
	}
	memcpy(e->qid, tmp.id, sizeof(e->qid));
	e->sender = xstrdup(tmp.sender != NULL ? tmp.sender : "");
	e->rcpt = xreallocarray(NULL, tmp.nrcpt, sizeof(*e->rcpt));
	for (i = 0; i < tmp.nrcpt; i++)
		e->rcpt[i] = xstrdup(tmp.rcpt[i].addr);
	e->nrcpt = tmp.nrcpt;
	if (env != NULL)
		*env = tmp;
	else
		envelope_clear(&tmp);
	return true;
fail:
	envelope_clear(&tmp);
	quar_entry_clear(e);
	return false;
}

/* index_add: insert an entry's rows (inside a transaction). */
static bool
index_add(struct quar *q, const struct quar_entry *e, char *err,
    size_t errlen)
{
	char	*f;
	size_t	 i;
	bool	 ok;

	f = track_fold(e->sender);
	db_bind_text(q->ins, ":id", e->id);
	db_bind_text(q->ins, ":qid", e->qid);
	db_bind_int(q->ins, ":t", e->time);
	db_bind_text(q->ins, ":area", e->area);
	db_bind_text(q->ins, ":sender", e->sender);
	db_bind_text(q->ins, ":sender_f", f);
	db_bind_text(q->ins, ":subject", e->subject);
	db_bind_text(q->ins, ":rule", e->rule);
	db_bind_text(q->ins, ":reason", e->reason);
	db_bind_int(q->ins, ":size", (int64_t)e->size);
	ok = db_run(&q->db, q->ins, "quarantine index", err, errlen);
	free(f);
	for (i = 0; ok && i < e->nrcpt; i++) {
		f = track_fold(e->rcpt[i]);
		db_bind_text(q->ins_rcpt, ":id", e->id);
		db_bind_int(q->ins_rcpt, ":n", (int64_t)i);
		db_bind_text(q->ins_rcpt, ":rcpt", e->rcpt[i]);
		db_bind_text(q->ins_rcpt, ":rcpt_f", f);
		ok = db_run(&q->db, q->ins_rcpt, "quarantine index", err, errlen);
		free(f);
	}
	return ok;
}

/* index_del: remove an entry's rows (inside a transaction). */
static bool
index_del(struct quar *q, const char *id, char *err, size_t errlen)
{
	db_bind_text(q->del, ":id", id);
	if (!db_run(&q->db, q->del, "quarantine index", err, errlen))
		return false;
	db_bind_text(q->del_rcpt, ":id", id);
	return db_run(&q->db, q->del_rcpt, "quarantine index", err, errlen);
}

/* index_has: 1 if the index has a row for id, 0 if not, -1 on error. */
static int
index_has(struct quar *q, const char *id, char *err, size_t errlen)
{
	int	 rc;

	db_bind_text(q->has, ":id", id);
	rc = sqlite3_step(q->has);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		db_err(&q->db, "quarantine index", err, errlen);
	sqlite3_reset(q->has);
	sqlite3_clear_bindings(q->has);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* tx: run BEGIN IMMEDIATE, COMMIT or ROLLBACK. */
static bool
tx(struct quar *q, sqlite3_stmt *st, char *err, size_t errlen)
{
	return db_run(&q->db, st, "quarantine transaction", err, errlen);
}

/* move_corrupt: move the files of an unreadable entry aside. */
static void
move_corrupt(struct quar *q, const char *id)
{
	static const char *const sfx[] = { ".info", ".env", ".msg" };
	char	 name[64];
	size_t	 i;

	for (i = 0; i < nitems(sfx); i++)
		renameat(q->msgfd, spool_fname(name, sizeof(name), id, sfx[i]),
		    q->corruptfd, name);
	fsync(q->corruptfd);
	fsync(q->msgfd);
}

/* clear_tmp: remove everything in tmp/ (never committed). */
static void
clear_tmp(struct quar *q)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd;

	if ((fd = dup(q->tmpfd)) == -1)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(q->tmpfd, de->d_name, 0);
	closedir(d);
}

/*
 * reconcile: make the index match the files.  An .info without a row is
 * loaded and indexed (or, unreadable, moved to corrupt/); content or
 * envelope without an .info was never committed and is removed; a row
 * without an .info is dropped.
 */
static bool
reconcile(struct quar *q, char *err, size_t errlen)
{
	struct quar_entry e;
	struct dirent	*de;
	struct stat	 sb;
	char		 id[QUAR_ID_LEN + 1], name[64], why[256], esc[300];
	char		**gone = NULL;
	size_t		 ngone = 0, i;
	int		 fd, rc, added = 0, removed = 0;
	bool		 ok = false;
	DIR		*d;

	if (!tx(q, q->begin, err, errlen))
		return false;
	if ((fd = dup(q->msgfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		snprintf(err, errlen, "quarantine %s/msg: %s", q->path,
		    strerror(errno));
		goto out;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (!spool_is_fname(de->d_name, ".info")) {
			if (!spool_is_fname(de->d_name, ".msg") &&
			    !spool_is_fname(de->d_name, ".env"))
				continue;
			memcpy(id, de->d_name, QUAR_ID_LEN);
			id[QUAR_ID_LEN] = '\0';
			if (fstatat(q->msgfd, spool_fname(name, sizeof(name), id,
			    ".info"), &sb, AT_SYMLINK_NOFOLLOW) == -1 &&
			    errno == ENOENT &&
			    unlinkat(q->msgfd, de->d_name, 0) == 0)
				log_kv(LOG_LVL_WARN, "event=quarantine-orphan "
				    "id=%s file=%s action=removed", id,
				    de->d_name);
			continue;
		}
		memcpy(id, de->d_name, QUAR_ID_LEN);
		id[QUAR_ID_LEN] = '\0';
		if ((rc = index_has(q, id, err, errlen)) == -1) {
			closedir(d);
			goto out;
		}
		if (rc == 1)
			continue;
		if (!load_files(q, id, &e, NULL, why, sizeof(why))) {
			log_kv(LOG_LVL_ERR, "event=quarantine-corrupt id=%s "
			    "reason=%s action=moved-to-corrupt", id,
			    log_esc(esc, sizeof(esc), why));
			move_corrupt(q, id);
			continue;
		}
		rc = index_add(q, &e, err, errlen);
		quar_entry_clear(&e);
		if (!rc) {
			closedir(d);
			goto out;
		}
		added++;
	}
	closedir(d);
	/* Rows whose files are gone (deleted before a crash). */
	while ((rc = sqlite3_step(q->ids)) == SQLITE_ROW) {
		const char *s = (const char *)sqlite3_column_text(q->ids, 0);

		if (s == NULL || !quar_id_valid(s) || (fstatat(q->msgfd,
		    spool_fname(name, sizeof(name), s, ".info"), &sb,
		    AT_SYMLINK_NOFOLLOW) == -1 && errno == ENOENT)) {
			gone = xreallocarray(gone, ngone + 1, sizeof(*gone));
			gone[ngone++] = xstrdup(s != NULL ? s : "");
		}
	}
	sqlite3_reset(q->ids);
	if (rc != SQLITE_DONE) {
		db_err(&q->db, "quarantine index", err, errlen);
		goto out;
	}
	for (i = 0; i < ngone; i++) {
		if (!index_del(q, gone[i], err, errlen))
			goto out;
		removed++;
	}
	if (!tx(q, q->commit, err, errlen))
		goto out;
	if (added > 0 || removed > 0)
		log_kv(LOG_LVL_INFO, "event=quarantine-reindex added=%d "
		    "dropped=%d", added, removed);
	ok = true;
out:
	if (!ok)
		tx(q, q->rollback, why, sizeof(why));
	for (i = 0; i < ngone; i++)
		free(gone[i]);
	free(gone);
	return ok;
}

/*
 * index_open: open the index.  synchronous=NORMAL (db.c): the index is a
 * cache of fsynced files, rebuilt from them at open, so a lost last
 * commit costs nothing.
 */
static bool
index_open(struct quar *q, const char *path, char *err, size_t errlen)
{
	static const struct db_schema schema = { "quar_schema",
	    "sekisho quarantine index", quar_sql_migrate, QUAR_SQL_VERSION };

	return db_open(&q->db, path, "quarantine", 0, err, errlen) &&
	    db_schema(&q->db, &schema, err, errlen) &&
	    db_prep(&q->db, "BEGIN IMMEDIATE", &q->begin, err, errlen) &&
	    db_prep(&q->db, "COMMIT", &q->commit, err, errlen) &&
	    db_prep(&q->db, "ROLLBACK", &q->rollback, err, errlen) &&
	    db_prep(&q->db, quar_sql_ins, &q->ins, err, errlen) &&
	    db_prep(&q->db, quar_sql_ins_rcpt, &q->ins_rcpt, err, errlen) &&
	    db_prep(&q->db, quar_sql_del, &q->del, err, errlen) &&
	    db_prep(&q->db, quar_sql_del_rcpt, &q->del_rcpt, err, errlen) &&
	    db_prep(&q->db, quar_sql_sel_rcpt, &q->sel_rcpt, err, errlen) &&
	    db_prep(&q->db, quar_sql_has, &q->has, err, errlen) &&
	    db_prep(&q->db, quar_sql_ids, &q->ids, err, errlen);
}

/* index_close: finalize every statement and close the index. */
static void
index_close(struct quar *q)
{
	sqlite3_stmt	**sts[] = { &q->begin, &q->commit, &q->rollback,
	    &q->ins, &q->ins_rcpt, &q->del, &q->del_rcpt, &q->sel,
	    &q->sel_rcpt, &q->has, &q->ids, &q->list };
	size_t		 i;

	for (i = 0; i < nitems(sts); i++) {
		sqlite3_finalize(*sts[i]);
		*sts[i] = NULL;
	}
	db_close(&q->db);
}

/* quar_close: close the index and the directories. */
void
quar_close(struct quar *q)
{
	if (q == NULL)
		return;
	index_close(q);
	if (q->dirfd >= 0)
		close(q->dirfd);
	if (q->msgfd >= 0)
		close(q->msgfd);
	if (q->tmpfd >= 0)
		close(q->tmpfd);
	if (q->corruptfd >= 0)
		close(q->corruptfd);
	free(q->path);
	free(q);
}

/*
 * quar_open: open (creating) the store at dir, clear tmp/ and bring the
 * index in line with the files.  An index SQLite cannot read is moved
 * aside (index.db.bad) and rebuilt from the files.
 */
struct quar *
quar_open(const char *dir, char *err, size_t errlen)
{
	struct quar	*q;
	char		 bad[4096], *dbpath;
	int		 code;

	q = xcalloc(1, sizeof(*q));
	q->dirfd = q->msgfd = q->tmpfd = q->corruptfd = -1;
	q->path = xstrdup(dir);
	dbpath = xasprintf("%s/index.db", dir);
	if ((mkdir(dir, 0700) == -1 && errno != EEXIST) ||
	    (q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    (q->msgfd = dir_open_sub(q->dirfd, "msg")) == -1 ||
	    (q->tmpfd = dir_open_sub(q->dirfd, "tmp")) == -1 ||
	    (q->corruptfd = dir_open_sub(q->dirfd, "corrupt")) == -1 ||
	    fsync(q->dirfd) == -1) {
		snprintf(err, errlen, "quarantine %s: %s", dir,
		    strerror(errno));
		goto fail;
	}
	clear_tmp(q);
	if (!index_open(q, dbpath, err, errlen)) {
		code = q->db.h != NULL ? sqlite3_errcode(q->db.h) & 0xff : 0;
		if (code != SQLITE_CORRUPT && code != SQLITE_NOTADB)
			goto fail;
		log_kv(LOG_LVL_ERR, "event=quarantine-index-bad action=rebuild");
		index_close(q);
		if (!str_printf(bad, sizeof(bad), "%s.bad", dbpath) ||
		    rename(dbpath, bad) == -1) {
			snprintf(err, errlen, "quarantine %s: cannot move the "
			    "bad index aside", dbpath);
			goto fail;
		}
		if (str_printf(bad, sizeof(bad), "%s-wal", dbpath))
			unlink(bad);
		if (str_printf(bad, sizeof(bad), "%s-shm", dbpath))
			unlink(bad);
		if (!index_open(q, dbpath, err, errlen))
			goto fail;
	}
	if (!reconcile(q, err, errlen))
		goto fail;
	free(dbpath);
	return q;
fail:
	free(dbpath);
	quar_close(q);
	return NULL;
}

/* new_id: a fresh quarantine id (time-ordered, like spool_id_new). */
static void
new_id(struct quar *q, char *id)
{
	uint64_t	 v;

	v = (uint64_t)now_us() << 12 | ((uint64_t)getpid() & 0x7ff);
	if (v <= q->last_id)
		v = q->last_id + 1;
	q->last_id = v;
	snprintf(id, QUAR_ID_LEN + 1, "%016llx", (unsigned long long)v);
}

/* write_tmp: write a small file into tmp/ durably. */
static int
write_tmp(struct quar *q, const char *name, const struct buf *b)
{
	int	 fd, serr;

	if ((fd = openat(q->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600)) == -1)
		return -1;
	if (fd_write_all(fd, b->data, b->len) == -1 || fsync(fd) == -1) {
		serr = errno;
		close(fd);
		errno = serr;
		return -1;
	}
	return close(fd);
}

/* unlink_all: remove the files of id from tmp/ and msg/ (failed store). */
static void
unlink_all(struct quar *q, const char *id)
{
	static const char *const sfx[] = { ".info", ".env", ".msg" };
	char	 name[64];
	size_t	 i;

	for (i = 0; i < nitems(sfx); i++) {
		spool_fname(name, sizeof(name), id, sfx[i]);
		unlinkat(q->tmpfd, name, 0);
		unlinkat(q->msgfd, name, 0);
	}
}

/*
 * quar_store: quarantine the message in content (read from offset 0)
 * for the recipients rcpts[0..nrcpt) of env (NULL: all of them); the new
 * id is written to id.  The files are durable before it returns 0; an
 * index failure after that is logged and repaired at the next open.
 */
int
quar_store(struct quar *q, const struct envelope *env,
    const char *const *rcpts, size_t nrcpt, int content,
    const struct quar_meta *m, char *id, char *err, size_t errlen)
{
	return quar_store_range(q, env, rcpts, nrcpt, content, 0, UINT64_MAX,
	    m, id, err, errlen);
}

/* quar_store_range: quar_store of len bytes of content from off. */
int
quar_store_range(struct quar *q, const struct envelope *env,
    const char *const *rcpts, size_t nrcpt, int content, uint64_t off,
    uint64_t len, const struct quar_meta *m, char *id, char *err,
    size_t errlen)
{
	struct envelope	 sub;
	struct quar_entry e;
	struct buf	 b;
	char		 name[64], name2[64];
	size_t		 i, j;
	int		 fd = -1, tries;
	bool		 renamed = false;
	static const char *const sfx[] = { ".msg", ".env", ".info" };

	memset(&e, 0, sizeof(e));
	buf_init(&b, ENVELOPE_MAX_SIZE);
	sub = *env;
	sub.rcpt = NULL;
	sub.nrcpt = 0;
	if (m == NULL || m->area == NULL || m->area[0] == '\0' ||
	    !quar_id_valid(env->id)) {
		snprintf(err, errlen, "quarantine store: no area or bad qid");
		return -1;
	}
	if (rcpts == NULL)
		nrcpt = env->nrcpt;
	if (nrcpt == 0) {
		snprintf(err, errlen, "quarantine store: no recipients");
		return -1;
	}
	sub.rcpt = xreallocarray(NULL, nrcpt, sizeof(*sub.rcpt));
	for (i = 0; i < nrcpt; i++) {
		for (j = 0; rcpts != NULL && j < env->nrcpt; j++)
			if (strcmp(env->rcpt[j].addr, rcpts[i]) == 0)
				break;
		if (rcpts == NULL)
			j = i;
		if (j == env->nrcpt) {
			snprintf(err, errlen, "quarantine store: %s is not a "
			    "recipient of %s", rcpts[i], env->id);
			free(sub.rcpt);
			return -1;
		}
		/* A fresh copy: the delivery state stays with the queue. */
		memset(&sub.rcpt[i], 0, sizeof(sub.rcpt[i]));
		sub.rcpt[i].addr = env->rcpt[j].addr;
		sub.rcpt[i].orcpt = env->rcpt[j].orcpt;
		sub.rcpt[i].notify = env->rcpt[j].notify;
	}
	sub.nrcpt = nrcpt;
	sub.warned = false;

	for (tries = 0; fd == -1 && tries < 100; tries++) {
		struct stat sb;

		new_id(q, id);
		if (fstatat(q->msgfd, spool_fname(name, sizeof(name), id,
		    ".info"), &sb, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		fd = openat(q->tmpfd, spool_fname(name, sizeof(name), id, ".msg"),
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd == -1 && errno != EEXIST)
			break;
	}
	if (fd == -1)
		goto syserr;
	memcpy(e.id, id, sizeof(e.id));
	if (fd_copy_range(content, off, len, fd, &e.size) == -1 || fsync(fd) == -1)
		goto syserr;
	close(fd);
	fd = -1;
	sub.size = e.size;
	if (!envelope_format(&sub, &b)) {
		snprintf(err, errlen, "quarantine store: envelope too large");
		goto fail;
	}
	if (write_tmp(q, spool_fname(name, sizeof(name), id, ".env"), &b) == -1)
		goto syserr;
	memcpy(e.qid, env->id, sizeof(e.qid));
	e.time = now_us();
	e.area = track_clean(m->area, QUAR_TEXT_MAX);
	e.subject = track_clean(m->subject, QUAR_TEXT_MAX);
	e.rule = track_clean(m->rule, QUAR_TEXT_MAX);
	e.reason = track_clean(m->reason, QUAR_TEXT_MAX);
	buf_reset(&b);
	if (!info_format(&e, &b)) {
		snprintf(err, errlen, "quarantine store: info too large");
		goto fail;
	}
	if (write_tmp(q, spool_fname(name, sizeof(name), id, ".info"), &b) == -1)
		goto syserr;
	/* Content, envelope, then the .info that makes it exist. */
	for (i = 0; i < nitems(sfx); i++) {
		renamed = true;
		spool_fname(name, sizeof(name), id, sfx[i]);
		spool_fname(name2, sizeof(name2), id, sfx[i]);
		if (renameat(q->tmpfd, name, q->msgfd, name2) == -1)
			goto syserr;
	}
	if (fsync(q->msgfd) == -1)
		goto syserr;
	/* Durable: from here on the message is quarantined. */
	e.sender = sub.sender != NULL ? sub.sender : (char *)"";
	e.rcpt = xreallocarray(NULL, nrcpt, sizeof(*e.rcpt));
	for (i = 0; i < nrcpt; i++)
		e.rcpt[i] = sub.rcpt[i].addr;
	e.nrcpt = nrcpt;
	if (!tx(q, q->begin, err, errlen) || !index_add(q, &e, err, errlen) ||
	    !tx(q, q->commit, err, errlen)) {
		char	 esc[300];

		tx(q, q->rollback, name, sizeof(name));
		log_kv(LOG_LVL_WARN, "event=quarantine-index-failed id=%s "
		    "reason=%s action=reindex-at-open", id,
		    log_esc(esc, sizeof(esc), err));
	}
	free(e.rcpt);
	e.rcpt = NULL;
	e.nrcpt = 0;
	e.sender = NULL;
	quar_entry_clear(&e);
	free(sub.rcpt);
	buf_free(&b);
	log_kv(LOG_LVL_INFO, "event=quarantined id=%s qid=%s size=%llu", id,
	    env->id, (unsigned long long)sub.size);
	return 0;
syserr:
	snprintf(err, errlen, "quarantine store: %s", strerror(errno));
fail:
	if (fd != -1)
		close(fd);
	if (id[0] != '\0')
		unlink_all(q, id);
	if (renamed)
		fsync(q->msgfd);
	quar_entry_clear(&e);
	free(sub.rcpt);
	buf_free(&b);
	return -1;
}

/* row_entry: an entry from a row of quar_sql_cols, with its recipients. */
static bool
row_entry(struct quar *q, sqlite3_stmt *st, struct quar_entry *e, char *err,
    size_t errlen)
{
	const char	*s;
	int		 rc;

	memset(e, 0, sizeof(*e));
	if ((s = (const char *)sqlite3_column_text(st, 0)) != NULL)
		str_lcpy(e->id, s, sizeof(e->id));
	if ((s = (const char *)sqlite3_column_text(st, 1)) != NULL)
		str_lcpy(e->qid, s, sizeof(e->qid));
	e->time = sqlite3_column_int64(st, 2);
	e->area = quar_col(st, 3);
	e->sender = quar_col(st, 4);
	e->subject = quar_col(st, 5);
	e->rule = quar_col(st, 6);
	e->reason = quar_col(st, 7);
	e->size = (uint64_t)sqlite3_column_int64(st, 8);
	db_bind_text(q->sel_rcpt, ":id", e->id);
	while ((rc = sqlite3_step(q->sel_rcpt)) == SQLITE_ROW) {
		e->rcpt = xreallocarray(e->rcpt, e->nrcpt + 1,
		    sizeof(*e->rcpt));
		e->rcpt[e->nrcpt] = quar_col(q->sel_rcpt, 0);
		if (e->rcpt[e->nrcpt] == NULL)
			e->rcpt[e->nrcpt] = xstrdup("");
		e->nrcpt++;
	}
	if (rc != SQLITE_DONE)
		db_err(&q->db, "quarantine index", err, errlen);
	sqlite3_reset(q->sel_rcpt);
	sqlite3_clear_bindings(q->sel_rcpt);
	if (rc != SQLITE_DONE) {
		quar_entry_clear(e);
		return false;
	}
	return true;
}

/* prep_select: prepare the list and get statements on first use. */
static bool
prep_select(struct quar *q, char *err, size_t errlen)
{
	char	*sql;
	bool	 ok;

	if (q->list != NULL && q->sel != NULL)
		return true;
	sql = xasprintf("%s%s", quar_sql_cols, quar_sql_where);
	ok = q->list != NULL || db_prep(&q->db, sql, &q->list, err, errlen);
	free(sql);
	if (!ok)
		return false;
	sql = xasprintf("%s WHERE id = :id", quar_sql_cols);
	ok = db_prep(&q->db, sql, &q->sel, err, errlen);
	free(sql);
	return ok;
}

/*
 * quar_list: call cb for each entry the filter selects, newest first.
 * Returns the number of entries handed to cb, or -1.
 */
long long
quar_list(struct quar *q, const struct quar_filter *f, quar_list_cb cb,
    void *arg, char *err, size_t errlen)
{
	struct quar_entry e;
	char		*sender_f, *rcpt_f;
	long long	 n = 0;
	int		 rc;

	if (!prep_select(q, err, errlen))
		return -1;
	sender_f = track_fold(f->sender);
	rcpt_f = track_fold(f->rcpt);
	db_bind_text(q->list, ":area", f->area);
	db_bind_text(q->list, ":sender", sender_f);
	db_bind_text(q->list, ":rcpt", f->rcpt_exact ? NULL : rcpt_f);
	db_bind_text(q->list, ":rcpt_eq", f->rcpt_exact ? rcpt_f : NULL);
	if (f->since != 0)
		db_bind_int(q->list, ":since", f->since);
	if (f->until != 0)
		db_bind_int(q->list, ":until", f->until);
	db_bind_int(q->list, ":limit", f->limit == 0 || f->limit > INT64_MAX ?
	    -1 : (int64_t)f->limit);
	db_bind_int(q->list, ":offset", f->offset > INT64_MAX ? INT64_MAX :
	    (int64_t)f->offset);
	while ((rc = sqlite3_step(q->list)) == SQLITE_ROW) {
		bool	 more;

		if (!row_entry(q, q->list, &e, err, errlen)) {
			n = -1;
			break;
		}
		n++;
		more = cb(&e, arg);
		quar_entry_clear(&e);
		if (!more) {
			rc = SQLITE_DONE;
			break;
		}
	}
	if (n != -1 && rc != SQLITE_DONE) {
		db_err(&q->db, "quarantine list", err, errlen);
		n = -1;
	}
	sqlite3_reset(q->list);
	sqlite3_clear_bindings(q->list);
	free(sender_f);
	free(rcpt_f);
	return n;
}

/* quar_get: the entry id into e; 1 found, 0 not there, -1 error. */
int
quar_get(struct quar *q, const char *id, struct quar_entry *e, char *err,
    size_t errlen)
{
	int	 rc, found = 0;

	memset(e, 0, sizeof(*e));
	if (!quar_id_valid(id))
		return 0;
	if (!prep_select(q, err, errlen))
		return -1;
	db_bind_text(q->sel, ":id", id);
	if ((rc = sqlite3_step(q->sel)) == SQLITE_ROW)
		found = row_entry(q, q->sel, e, err, errlen) ? 1 : -1;
	else if (rc != SQLITE_DONE) {
		db_err(&q->db, "quarantine get", err, errlen);
		found = -1;
	}
	sqlite3_reset(q->sel);
	sqlite3_clear_bindings(q->sel);
	return found;
}

/* quar_open_content: a read-only descriptor on the content, or -1. */
int
quar_open_content(struct quar *q, const char *id)
{
	char	 name[64];

	if (!quar_id_valid(id)) {
		errno = ENOENT;
		return -1;
	}
	return openat(q->msgfd, spool_fname(name, sizeof(name), id, ".msg"),
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
}

/* quar_export: write the message's bytes (the .eml) to out. */
int
quar_export(struct quar *q, const char *id, int out, char *err,
    size_t errlen)
{
	int	 fd, rv;

	if ((fd = quar_open_content(q, id)) == -1) {
		snprintf(err, errlen, "quarantine export %s: %s", id,
		    strerror(errno));
		return -1;
	}
	if ((rv = fd_copy_range(fd, 0, UINT64_MAX, out, NULL)) == -1)
		snprintf(err, errlen, "quarantine export %s: %s", id,
		    strerror(errno));
	close(fd);
	return rv;
}

/*
 * quar_delete: remove an entry: its .info first (it no longer exists),
 * then content and envelope, then its rows.  1 deleted, 0 not there, -1
 * error (the message is then still quarantined, or its leftovers are
 * cleared at the next open).
 */
int
quar_delete(struct quar *q, const char *id, char *err, size_t errlen)
{
	char	 name[64];

	if (!quar_id_valid(id))
		return 0;
	if (unlinkat(q->msgfd, spool_fname(name, sizeof(name), id, ".info"),
	    0) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "quarantine delete %s: %s", id,
		    strerror(errno));
		return -1;
	}
	if (fsync(q->msgfd) == -1) {
		snprintf(err, errlen, "quarantine delete %s: %s", id,
		    strerror(errno));
		return -1;
	}
	unlinkat(q->msgfd, spool_fname(name, sizeof(name), id, ".msg"), 0);
	unlinkat(q->msgfd, spool_fname(name, sizeof(name), id, ".env"), 0);
	if (!tx(q, q->begin, err, errlen) || !index_del(q, id, err, errlen) ||
	    !tx(q, q->commit, err, errlen)) {
		tx(q, q->rollback, name, sizeof(name));
		/* The files are gone: the row is dropped at the next open. */
		return -1;
	}
	return 1;
}

/*
 * quar_release_begin: what the queue needs to re-inject id: its envelope
 * (the quarantined recipients), a descriptor on its content and its
 * entry (e->rule: the rule to skip).  Read from the files, the truth.
 * 1 found, 0 not there, -1 error.  The message stays until
 * quar_release_done, so a crash in between delivers it at most twice,
 * never loses it.
 */
int
quar_release_begin(struct quar *q, const char *id, struct envelope *env,
    int *fd, struct quar_entry *e, char *err, size_t errlen)
{
	struct stat	 sb;
	char		 name[64];

	*fd = -1;
	envelope_init(env);
	memset(e, 0, sizeof(*e));
	if (!quar_id_valid(id) || (fstatat(q->msgfd, spool_fname(name,
	    sizeof(name), id, ".info"), &sb, AT_SYMLINK_NOFOLLOW) == -1 &&
	    errno == ENOENT))
		return 0;
	if (!load_files(q, id, e, env, err, errlen))
		return -1;
	if ((*fd = quar_open_content(q, id)) == -1) {
		snprintf(err, errlen, "quarantine release %s: %s", id,
		    strerror(errno));
		envelope_clear(env);
		quar_entry_clear(e);
		return -1;
	}
	return 1;
}

/* quar_release_done: the queue has the message again; drop it here. */
int
quar_release_done(struct quar *q, const char *id, char *err, size_t errlen)
{
	return quar_delete(q, id, err, errlen);
}
