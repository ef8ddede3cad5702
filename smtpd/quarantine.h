/*
 * quarantine.h: the quarantine store (owned by the queue process).
 *
 * A quarantined message is three files in <dir>/msg/ named by its own
 * quarantine id: <id>.msg (the content, byte for byte), <id>.env (the
 * envelope with the quarantined recipients only, envelope_format) and
 * <id>.info (area, time, subject, rule, reason, size).  The files are the
 * truth; <dir>/index.db (SQLite) is a cache of them for listing and
 * searching, rebuilt from the files by quar_open when rows are missing or
 * the database is lost.  Released and deleted messages leave no files and
 * no rows.  docs/quarantine.md has the layout and the crash rules.
 */
#ifndef SEKISHO_QUARANTINE_H
#define SEKISHO_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"

#define QUAR_ID_LEN	16		/* hex digits, like a queue id */
#define QUAR_TEXT_MAX	1024		/* area, subject, rule, reason (bytes) */
#define QUAR_INFO_MAX	(16 * 1024)	/* the .info file */

struct quar;

/* What quar_store files a message under; NULL texts are "not known". */
struct quar_meta {
	const char	*area;		/* required, e.g. "spam" */
	const char	*subject;	/* decoded to UTF-8 */
	const char	*rule;		/* the rule that quarantined it */
	const char	*reason;
};

/* One quarantined message.  Strings are owned (quar_entry_clear). */
struct quar_entry {
	char		 id[QUAR_ID_LEN + 1];
	char		 qid[SPOOL_ID_LEN + 1];	/* queue id of origin */
	int64_t		 time;		/* µs since the epoch, when stored */
	char		*area;
	char		*sender;	/* "" for <> */
	char		*subject;	/* NULL: none known */
	char		*rule;
	char		*reason;
	uint64_t	 size;		/* bytes of the content */
	char		**rcpt;		/* the quarantined recipients */
	size_t		 nrcpt;
};

/*
 * What quar_list selects; zero/NULL fields do not filter, all set ones
 * must hold.  sender and rcpt are substrings ignoring case (track_fold);
 * with rcpt_exact, rcpt is the whole address (uses the index).
 */
struct quar_filter {
	const char	*area;		/* byte-exact */
	const char	*sender;
	const char	*rcpt;
	bool		 rcpt_exact;
	int64_t		 since;		/* µs, inclusive */
	int64_t		 until;		/* µs, exclusive */
	uint64_t	 limit;		/* 0: all */
	uint64_t	 offset;
};

/* Return false to stop listing early (still a success). */
typedef bool (*quar_list_cb)(const struct quar_entry *, void *);

struct quar	*quar_open(const char *, char *, size_t);
void		 quar_close(struct quar *);
int		 quar_store(struct quar *, const struct envelope *,
		    const char *const *, size_t, int, const struct quar_meta *,
		    char *, char *, size_t);
int		 quar_store_range(struct quar *, const struct envelope *,
		    const char *const *, size_t, int, uint64_t, uint64_t,
		    const struct quar_meta *, char *, char *, size_t);
long long	 quar_list(struct quar *, const struct quar_filter *,
		    quar_list_cb, void *, char *, size_t);
int		 quar_get(struct quar *, const char *, struct quar_entry *,
		    char *, size_t);
int		 quar_open_content(struct quar *, const char *);
int		 quar_export(struct quar *, const char *, int, char *, size_t);
int		 quar_delete(struct quar *, const char *, char *, size_t);
int		 quar_release_begin(struct quar *, const char *,
		    struct envelope *, int *, struct quar_entry *, char *,
		    size_t);
int		 quar_release_done(struct quar *, const char *, char *,
		    size_t);
void		 quar_entry_clear(struct quar_entry *);
bool		 quar_id_valid(const char *);

#endif
