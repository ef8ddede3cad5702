/*
 * db.c: opening, versioning and statement helpers shared by sekisho's
 * SQLite databases (the tracking log, the quarantine index; see db.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "xmalloc.h"

/* db_err: "what: path: sqlite's message" into err. */
void
db_err(const struct db *d, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s: %s", what, d->path,
	    d->h != NULL ? sqlite3_errmsg(d->h) : "out of memory");
}

/* db_prep: prepare one persistent statement. */
bool
db_prep(struct db *d, const char *sql, sqlite3_stmt **st, char *err,
    size_t errlen)
{
	char	 what[64];

	if (sqlite3_prepare_v3(d->h, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
	    NULL) == SQLITE_OK)
		return true;
	snprintf(what, sizeof(what), "%s prepare", d->what);
	db_err(d, what, err, errlen);
	return false;
}

/* db_run: step a statement without results, then reset it. */
bool
db_run(struct db *d, sqlite3_stmt *st, const char *what, char *err,
    size_t errlen)
{
	int	 rc;

	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		db_err(d, what, err, errlen);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW;
}

/* db_bind_text: bind text (or NULL) to a named parameter, if present. */
void
db_bind_text(sqlite3_stmt *st, const char *name, const char *v)
{
	int	 i;

	if ((i = sqlite3_bind_parameter_index(st, name)) == 0)
		return;
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* db_bind_int: bind an integer to a named parameter, if present. */
void
db_bind_int(sqlite3_stmt *st, const char *name, int64_t v)
{
	int	 i;

	if ((i = sqlite3_bind_parameter_index(st, name)) != 0)
		sqlite3_bind_int64(st, i, v);
}

/* db_exec: one statement without results; false with err set. */
static bool
db_exec(struct db *d, const char *sql, const char *what, char *err,
    size_t errlen)
{
	if (sqlite3_exec(d->h, sql, NULL, NULL, NULL) == SQLITE_OK)
		return true;
	db_err(d, what, err, errlen);
	return false;
}

/*
 * db_wal: a writer's settings.  WAL: readers and the writer do not block
 * each other.  synchronous=NORMAL: the file never corrupts and a killed
 * process loses nothing; only an OS crash may drop the last commits —
 * acceptable for sekisho's databases, which record or index what the
 * fsynced spool and quarantine files hold (each owner says why).
 */
static bool
db_wal(struct db *d, unsigned flags, char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	const char	*mode;
	char		 what[64];
	bool		 wal;

	snprintf(what, sizeof(what), "%s open", d->what);
	/* Only takes effect in a new file. */
	if ((flags & DB_AUTOVACUUM) && !db_exec(d,
	    "PRAGMA auto_vacuum = INCREMENTAL", what, err, errlen))
		return false;
	if (sqlite3_prepare_v2(d->h, "PRAGMA journal_mode = WAL", -1, &st,
	    NULL) != SQLITE_OK) {
		db_err(d, what, err, errlen);
		return false;
	}
	wal = sqlite3_step(st) == SQLITE_ROW &&
	    (mode = (const char *)sqlite3_column_text(st, 0)) != NULL &&
	    strcmp(mode, "wal") == 0;
	sqlite3_finalize(st);
	if (!wal) {
		snprintf(err, errlen, "%s: %s: cannot use WAL mode: %s", what,
		    d->path, sqlite3_errmsg(d->h));
		return false;
	}
	return db_exec(d, "PRAGMA synchronous = NORMAL", what, err, errlen);
}

/* db_open: open path (never through a symlink) and configure it. */
bool
db_open(struct db *d, const char *path, const char *what, unsigned flags,
    char *err, size_t errlen)
{
	char	 w[64];
	int	 oflags;

	memset(d, 0, sizeof(*d));
	d->path = xstrdup(path);
	d->what = what;
	d->readonly = (flags & DB_READONLY) != 0;
	oflags = d->readonly ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &d->h, oflags | SQLITE_OPEN_NOFOLLOW,
	    NULL) != SQLITE_OK) {
		snprintf(w, sizeof(w), "%s open", what);
		db_err(d, w, err, errlen);
		return false;
	}
	sqlite3_busy_timeout(d->h, DB_BUSY_MS);
	sqlite3_extended_result_codes(d->h, 1);
	sqlite3_db_config(d->h, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(d->h, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	return d->readonly || db_wal(d, flags, err, errlen);
}

/* db_close: close the handle (the caller finalized its statements). */
void
db_close(struct db *d)
{
	if (d->h != NULL && sqlite3_close(d->h) != SQLITE_OK)
		log_warnx("db_close: %s: %s", d->path, sqlite3_errmsg(d->h));
	free(d->path);
	memset(d, 0, sizeof(*d));
}

/* db_version: the schema version in the file; 0 for a new file. */
static bool
db_version(struct db *d, const struct db_schema *s, int *version,
    const char *what, char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	char		 sql[128];
	int		 rc, ntables = 0, have = 0;

	*version = 0;
	if (sqlite3_prepare_v2(d->h, "SELECT name FROM sqlite_schema WHERE "
	    "type = 'table'", -1, &st, NULL) != SQLITE_OK) {
		db_err(d, what, err, errlen);
		return false;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);

		ntables++;
		have |= n != NULL && strcmp(n, s->table) == 0;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		db_err(d, what, err, errlen);
		return false;
	}
	if (!have && ntables > 0) {
		snprintf(err, errlen, "%s: %s: not a %s (other tables, no %s)",
		    what, d->path, s->kind, s->table);
		return false;
	}
	if (!have)
		return true;
	/* The table name is the program's own constant, never input. */
	snprintf(sql, sizeof(sql), "SELECT max(version) FROM %s", s->table);
	if (sqlite3_prepare_v2(d->h, sql, -1, &st, NULL) != SQLITE_OK) {
		db_err(d, what, err, errlen);
		return false;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW || *version <= 0) {
		snprintf(err, errlen, "%s: %s: unreadable schema version", what,
		    d->path);
		return false;
	}
	return true;
}

/*
 * db_schema: check the schema version and bring the file up to the
 * program's inside one transaction; a newer version is refused (an older
 * program must not write a layout it does not know).  migrate[0] creates
 * the schema and its version row; later steps get the row updated here.
 */
bool
db_schema(struct db *d, const struct db_schema *s, char *err, size_t errlen)
{
	char	 what[64], sql[128];
	int	 v;

	snprintf(what, sizeof(what), "%s open", d->what);
	if (!db_exec(d, d->readonly ? "BEGIN" : "BEGIN IMMEDIATE", what, err,
	    errlen))
		return false;
	if (!db_version(d, s, &v, what, err, errlen))
		goto fail;
	if (v > s->version) {
		snprintf(err, errlen, "%s: %s: schema version %d is newer than "
		    "this program supports (%d); use a newer sekisho", what,
		    d->path, v, s->version);
		goto fail;
	}
	if (v < s->version && d->readonly) {
		snprintf(err, errlen, "%s: %s: %s (version %d, want %d); open "
		    "it for writing first", what, d->path, v == 0 ?
		    "no database here" : "old schema", v, s->version);
		goto fail;
	}
	for (; v < s->version; v++) {
		if (!db_exec(d, s->migrate[v], what, err, errlen))
			goto fail;
		snprintf(sql, sizeof(sql), "UPDATE %s SET version = %d",
		    s->table, v + 1);
		if (v > 0 && !db_exec(d, sql, what, err, errlen))
			goto fail;
	}
	if (db_exec(d, "COMMIT", what, err, errlen))
		return true;
fail:
	sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
	return false;
}
