/*
 * ippstore.c: the blocks of sekisho-ipprofiler in SQLite (ippstore.h).
 *
 * One row per blocked address or network, keyed by its normalised text
 * (netaddr_format), so setting a block again replaces it.  synchronous=
 * NORMAL (db.c): a killed profiler loses nothing; an OS crash may lose
 * the last block or unblock, which the rules re-create from behaviour or
 * the administrator repeats.
 *
 * Rows are read back as hostile as any input: an address that does not
 * parse, an unknown kind or a reason with control bytes skips the row
 * (logged); it is deleted so it does not warn at every start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "ippstore.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define IPPSTORE_VERSION	1

struct ippstore {
	struct db	 db;
	sqlite3_stmt	*put, *del, *purge, *all;
};

static const char ippstore_v1[] =
    "CREATE TABLE ipp_schema (version INTEGER NOT NULL);"
    "CREATE TABLE ipp_block ("
    " address TEXT PRIMARY KEY,"	/* "192.0.2.7", "2001:db8::/32" */
    " permanent INTEGER NOT NULL,"
    " kind TEXT NOT NULL,"		/* dha, spam, virus, bounce, admin */
    " reason TEXT NOT NULL,"
    " created INTEGER NOT NULL,"	/* unix seconds */
    " expires INTEGER NOT NULL);"	/* unix seconds; 0: permanent */
    "INSERT INTO ipp_schema (version) VALUES (1);";

static const char *const ippstore_migrate[IPPSTORE_VERSION] = {
	ippstore_v1,
};

static const char ippstore_sql_put[] =
    "INSERT OR REPLACE INTO ipp_block (address, permanent, kind, reason,"
    " created, expires) VALUES (:address, :permanent, :kind, :reason,"
    " :created, :expires)";
static const char ippstore_sql_del[] =
    "DELETE FROM ipp_block WHERE address = :address";
static const char ippstore_sql_purge[] =
    "DELETE FROM ipp_block WHERE permanent = 0 AND expires <= :now";
static const char ippstore_sql_all[] =
    "SELECT address, permanent, kind, reason, created, expires"
    " FROM ipp_block";

/* ippstore_close: the statements, then the database. */
void
ippstore_close(struct ippstore *s)
{
	if (s == NULL)
		return;
	sqlite3_finalize(s->put);
	sqlite3_finalize(s->del);
	sqlite3_finalize(s->purge);
	sqlite3_finalize(s->all);
	db_close(&s->db);
	free(s);
}

/* ippstore_open: open (or create) the store at path; NULL with err. */
struct ippstore *
ippstore_open(const char *path, char *err, size_t errlen)
{
	static const struct db_schema schema = { "ipp_schema",
	    "sekisho IP profiler store", ippstore_migrate, IPPSTORE_VERSION };
	struct ippstore	*s;

	s = xcalloc(1, sizeof(*s));
	if (!db_open(&s->db, path, "ipprofiler", 0, err, errlen) ||
	    !db_schema(&s->db, &schema, err, errlen) ||
	    !db_prep(&s->db, ippstore_sql_put, &s->put, err, errlen) ||
	    !db_prep(&s->db, ippstore_sql_del, &s->del, err, errlen) ||
	    !db_prep(&s->db, ippstore_sql_purge, &s->purge, err, errlen) ||
	    !db_prep(&s->db, ippstore_sql_all, &s->all, err, errlen)) {
		ippstore_close(s);
		return NULL;
	}
	return s;
}

/* ippstore_put: store a block (replacing one for the same address). */
bool
ippstore_put(struct ippstore *s, const struct ipp_block *b, char *err,
    size_t errlen)
{
	char	 ip[NETADDR_STRLEN];

	if (!netaddr_format(ip, sizeof(ip), &b->addr)) {
		str_lcpy(err, "ippstore_put: bad address", errlen);
		return false;
	}
	db_bind_text(s->put, ":address", ip);
	db_bind_int(s->put, ":permanent", b->permanent);
	db_bind_text(s->put, ":kind", ipp_kind_name(b->kind));
	db_bind_text(s->put, ":reason", b->reason);
	db_bind_int(s->put, ":created", b->created);
	db_bind_int(s->put, ":expires", b->permanent ? 0 : b->expires);
	return db_run(&s->db, s->put, "ipprofiler put", err, errlen);
}

/* ippstore_del: remove the block of exactly this address or network. */
bool
ippstore_del(struct ippstore *s, const struct netaddr *a, char *err,
    size_t errlen)
{
	char	 ip[NETADDR_STRLEN];

	if (!netaddr_format(ip, sizeof(ip), a)) {
		str_lcpy(err, "ippstore_del: bad address", errlen);
		return false;
	}
	db_bind_text(s->del, ":address", ip);
	return db_run(&s->db, s->del, "ipprofiler delete", err, errlen);
}

/* ippstore_row: the block of the current row of s->all; false if bad. */
static bool
ippstore_row(struct ippstore *s, struct ipp_block *b, const char **why)
{
	const char	*addr, *kind, *reason;
	char		 e[128];

	memset(b, 0, sizeof(*b));
	addr = (const char *)sqlite3_column_text(s->all, 0);
	kind = (const char *)sqlite3_column_text(s->all, 2);
	reason = (const char *)sqlite3_column_text(s->all, 3);
	if (addr == NULL || ipp_addr_parse(&b->addr, addr, e, sizeof(e)) !=
	    NULL) {
		*why = "bad address";
		return false;
	}
	if (kind == NULL || !ipp_kind_parse(kind, &b->kind) ||
	    b->kind > IPP_K_ADMIN) {
		*why = "bad kind";
		return false;
	}
	if (reason == NULL || !ipp_reason_ok(reason)) {
		*why = "bad reason";
		return false;
	}
	str_lcpy(b->reason, reason, sizeof(b->reason));
	b->permanent = sqlite3_column_int64(s->all, 1) != 0;
	b->created = sqlite3_column_int64(s->all, 4);
	b->expires = b->permanent ? 0 : sqlite3_column_int64(s->all, 5);
	if (!b->permanent && b->expires <= 0) {
		*why = "bad expiry";
		return false;
	}
	return true;
}

/*
 * ippstore_load: delete the blocks expired at now, then hand every other
 * one to fn; how many were loaded and purged.  false with err on a
 * database error.
 */
bool
ippstore_load(struct ippstore *s, int64_t now, ippstore_load_fn *fn,
    void *arg, size_t *nloaded, size_t *npurged, char *err, size_t errlen)
{
	struct ipp_block b;
	struct netaddr	 bad[16];
	const char	*why, *text;
	char		 esc[LOG_ESC_MAX];
	size_t		 nbad = 0, i;
	int		 rc;

	*nloaded = *npurged = 0;
	db_bind_int(s->purge, ":now", now);
	if (!db_run(&s->db, s->purge, "ipprofiler purge", err, errlen))
		return false;
	*npurged = (size_t)sqlite3_changes(s->db.h);
	while ((rc = sqlite3_step(s->all)) == SQLITE_ROW) {
		if (ippstore_row(s, &b, &why)) {
			fn(arg, &b);
			(*nloaded)++;
			continue;
		}
		text = (const char *)sqlite3_column_text(s->all, 0);
		log_kv(LOG_LVL_WARN, "event=ipp-store-bad-row address=%s "
		    "why=\"%s\"", log_esc(esc, sizeof(esc), text != NULL ?
		    text : ""), why);
		if (nbad < nitems(bad) && text != NULL &&
		    ipp_addr_parse(&bad[nbad], text, esc, sizeof(esc)) == NULL)
			nbad++;
	}
	if (rc != SQLITE_DONE)
		db_err(&s->db, "ipprofiler load", err, errlen);
	sqlite3_reset(s->all);
	if (rc != SQLITE_DONE)
		return false;
	/* Rows whose address parses but whose rest is bad: gone for good. */
	for (i = 0; i < nbad; i++)
		if (!ippstore_del(s, &bad[i], err, errlen))
			return false;
	return true;
}
