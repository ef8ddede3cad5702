/*
 * track.h: the message-tracking log (DESIGN.md 3 step 7, seed 26 and 30).
 *
 * One record per event in a message's life (received, scanned, each rule
 * matched, delivered, deferred, bounced, quarantined, ...), queryable by
 * time, sender, recipient, subject, queue id, rule, action and event kind.
 * The storage sits behind struct track_backend (SQLite now, PostgreSQL
 * later); callers only see struct track.  The owning process (the queue)
 * writes; any process may read.  See docs/tracking.md.
 *
 * Strings are UTF-8.  On the way in every text field is made safe for a
 * terminal: invalid UTF-8 becomes U+FFFD, control characters become a
 * space, and each field is cut (on a character boundary) to its limit.
 */
#ifndef SEKISHO_TRACK_H
#define SEKISHO_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Event kinds.  The numbers are stored in the database: never renumber,
 * only append (below 63, they are also bits of track_filter.kinds).
 */
enum track_kind {
	TRACK_RECEIVED = 1,	/* accepted and spooled (message-level) */
	TRACK_SCANNED = 2,	/* scan finished: action is the final verdict */
	TRACK_RULE_MATCHED = 3,	/* one rule matched: rule + its action */
	TRACK_DELIVERED = 4,	/* per recipient: relay, dsn */
	TRACK_DEFERRED = 5,	/* per recipient: temporary failure */
	TRACK_BOUNCED = 6,	/* per recipient: permanent failure */
	TRACK_EXPIRED = 7,	/* per recipient: queue lifetime over */
	TRACK_QUARANTINED = 8,	/* action: the area */
	TRACK_DELETED = 9,	/* by a rule or by the administrator */
	TRACK_RELEASED = 10,	/* from hold or quarantine */
	TRACK_HELD = 11,	/* by the administrator */
	TRACK_NDR_SENT = 12,	/* detail: the report's queue id */
	TRACK_DELAY_WARNED = 13,
	TRACK_REDIRECTED = 14,	/* change recipient: detail the new one */
	TRACK_NOTIFIED = 15,	/* notification sent: detail to whom */
	TRACK_SCAN_FAILED = 16,	/* a scan worker crashed or timed out */
	TRACK_REMOVED = 17,	/* left the spool: nothing more will happen */
	TRACK_KIND_MAX
};
#define TRACK_KIND_BIT(k)	(1ULL << (k))

/* The final action of a message that matched no rule (seed 30). */
#define TRACK_ACTION_PASSED	"Passed sekisho scan"

/* Limits on stored fields (bytes, cut on a UTF-8 boundary). */
#define TRACK_QID_MAX		64
#define TRACK_ADDR_MAX		512
#define TRACK_TEXT_MAX		1024	/* subject, rule, action, relay, dsn */
#define TRACK_DETAIL_MAX	4000
#define TRACK_FILTER_STR_MAX	1024	/* a filter value longer than this is refused */

/* One event as the caller hands it in.  NULL: not known / not applicable. */
struct track_event {
	int64_t		 time;		/* microseconds since the epoch; 0: now */
	const char	*qid;		/* required */
	enum track_kind	 kind;
	const char	*sender;	/* envelope sender, "" for <> */
	const char	*rcpt;		/* NULL for a message-level event */
	const char	*subject;	/* decoded to UTF-8 */
	const char	*rule;
	const char	*action;	/* "deliver", "quarantine spam", ... */
	const char	*relay;		/* next hop that answered */
	const char	*dsn;		/* RFC 3463 status */
	const char	*detail;	/* reply text, NDR qid, error, ... */
};

/*
 * One row of a query.  sender and subject are the message's (from any of
 * its events that carried them), so every event of a message shows them.
 * The strings live until the callback returns.
 */
struct track_row {
	int64_t		 id;		/* insertion order */
	int64_t		 time;
	const char	*qid;
	enum track_kind	 kind;
	const char	*sender, *rcpt, *subject, *rule, *action;
	const char	*relay, *dsn, *detail;
};

/*
 * One line of the message summary: the last event of one recipient of a
 * message (rcpt NULL: the last message-level event), plus the verdict of
 * the message's last scan that applies to this recipient.
 */
struct track_outcome {
	const char	*qid;
	int64_t		 first;		/* time of the message's first event */
	const char	*sender, *subject;
	const char	*rcpt;
	enum track_kind	 kind;		/* of the last event */
	int64_t		 time;
	const char	*rule, *action, *relay, *dsn, *detail;
	const char	*scan_action;	/* NULL: not scanned (yet) */
};

/* Text fields of a filter: substring by default, whole value with exact. */
#define TRACK_EXACT_SENDER	0x01
#define TRACK_EXACT_RCPT	0x02
#define TRACK_EXACT_SUBJECT	0x04
#define TRACK_EXACT_RULE	0x08
#define TRACK_EXACT_ACTION	0x10

/*
 * What to select.  Zero/NULL fields do not filter; all set fields must
 * hold (AND).  Text matches ignore case (docs/tracking.md says which
 * letters fold) and are literal: '%', '_', '*' are ordinary characters.
 */
struct track_filter {
	int64_t		 since;		/* µs, inclusive; 0: from the start */
	int64_t		 until;		/* µs, exclusive; 0: up to now and on */
	const char	*sender;
	const char	*rcpt;
	const char	*subject;
	const char	*rule;
	const char	*action;
	const char	*qid;		/* byte-exact, or a prefix */
	bool		 qid_prefix;
	unsigned	 exact;		/* TRACK_EXACT_* */
	uint64_t	 kinds;		/* TRACK_KIND_BIT() mask; 0: all */
	uint64_t	 limit;		/* rows (messages for the summary); 0: all */
	uint64_t	 offset;
	bool		 newest_first;
};

/* Return false to stop the query early (still a success). */
typedef bool (*track_row_cb)(const struct track_row *, void *);
typedef bool (*track_outcome_cb)(const struct track_outcome *, void *);

/*
 * A storage backend.  Every function reports failure as false with text
 * in err; none aborts on bad input.  Values reach it already checked and
 * cleaned by track.c; filter text arrives case-folded (track_fold).
 */
struct track_backend {
	const char	*name;
	void	*(*open)(const char *, bool, char *, size_t);
	bool	 (*add)(void *, const struct track_event *, size_t, char *,
		    size_t);
	bool	 (*query)(void *, const struct track_filter *, track_row_cb,
		    void *, char *, size_t);
	bool	 (*query_messages)(void *, const struct track_filter *,
		    track_outcome_cb, void *, char *, size_t);
	bool	 (*purge)(void *, int64_t, uint64_t, uint64_t *, char *,
		    size_t);
	void	 (*close)(void *);
};

extern const struct track_backend track_sqlite_backend;

struct track;

struct track	*track_open(const char *, char *, size_t);
struct track	*track_open_readonly(const char *, char *, size_t);
struct track	*track_open_backend(const struct track_backend *,
		    const char *, bool, char *, size_t);
bool		 track_add(struct track *, const struct track_event *);
bool		 track_add_batch(struct track *, const struct track_event *,
		    size_t);
bool		 track_query(struct track *, const struct track_filter *,
		    track_row_cb, void *);
bool		 track_query_messages(struct track *,
		    const struct track_filter *, track_outcome_cb, void *);
bool		 track_purge(struct track *, time_t, uint64_t, uint64_t *);
const char	*track_error(const struct track *);
void		 track_close(struct track *);

/* Helpers (also for backends, sekishoctl and tests). */
const char	*track_kind_name(enum track_kind);
bool		 track_kind_parse(const char *, enum track_kind *);
int64_t		 track_now(void);
char		*track_clean(const char *, size_t);
char		*track_fold(const char *);
bool		 track_time_parse(const char *, int64_t, int64_t *);
bool		 track_filter_set(struct track_filter *, const char *,
		    const char *, int64_t, char *, size_t);

#endif
