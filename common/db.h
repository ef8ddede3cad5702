/*
 * db.h: what every sekisho SQLite database shares (DESIGN.md §4, §7).
 *
 * One owning process writes each database; others may read it.  Every
 * database is opened the same way: no symlinks, defensive mode, untrusted
 * schema, a busy timeout, and for writers WAL with synchronous=NORMAL.
 * Its schema carries a version table; db_schema() creates or migrates it
 * inside one transaction and refuses a version newer than the program.
 * Statements are prepared once and only ever get bound values.
 */
#ifndef SEKISHO_DB_H
#define SEKISHO_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define DB_BUSY_MS	5000

#define DB_READONLY	0x01	/* open for reading only */
#define DB_AUTOVACUUM	0x02	/* a new file gives space back on purge */

struct db {
	sqlite3		*h;
	char		*path;
	const char	*what;		/* "track", "quarantine": error prefix */
	bool		 readonly;
};

/* A database's schema: migrate[n] takes version n to n+1 (0: a new file). */
struct db_schema {
	const char		*table;		/* the version table */
	const char		*kind;		/* "sekisho tracking log" */
	const char *const	*migrate;
	int			 version;	/* the program's */
};

bool	 db_open(struct db *, const char *, const char *, unsigned, char *,
	    size_t);
bool	 db_schema(struct db *, const struct db_schema *, char *, size_t);
void	 db_close(struct db *);
void	 db_err(const struct db *, const char *, char *, size_t);
bool	 db_prep(struct db *, const char *, sqlite3_stmt **, char *, size_t);
bool	 db_run(struct db *, sqlite3_stmt *, const char *, char *, size_t);
void	 db_bind_text(sqlite3_stmt *, const char *, const char *);
void	 db_bind_int(sqlite3_stmt *, const char *, int64_t);

#endif
