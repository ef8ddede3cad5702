/*
 * mnotify.h: the pure parts of sekisho-manager's system event
 * notifications (docs/manager.md, "Notifications"; seed 23, seed 35):
 * the message builder, the rate limiter and the parser of SMTP reply
 * lines.  No descriptor, no clock of its own: the caller passes the time,
 * so the unit tests (t/unit/test_mnotify.c) drive it.
 *
 * The sending side (the asynchronous SMTP client, the queue of notices
 * that wait for the local sekisho-smtpd, the disk and queue checks) is in
 * manager/daemon/notifier.c.
 */
#ifndef SEKISHO_MNOTIFY_H
#define SEKISHO_MNOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "svc.h"
#include "util.h"

#define MNOTIFY_MSG_MAX		(64 * 1024)	/* one notice, octets */
#define MNOTIFY_REPLY_LINE_MAX	512		/* RFC 5321 4.5.3.1.5 */
#define MNOTIFY_HOST		SVC_MAX		/* rate-limit key: no service */

/* What a notice is about; each kind is rate-limited on its own. */
enum mnotify_kind {
	MNOTIFY_DIED = 0,	/* a service died (and restarts in N s) */
	MNOTIFY_FLAPPING,	/* it died N times in a row */
	MNOTIFY_DISK,		/* the disk of data_dir nearly full */
	MNOTIFY_QUEUE,		/* many messages waiting in the spool */
	MNOTIFY_SCANFAIL,	/* scans failed (worker died, a limit) */
	MNOTIFY_NKINDS,
};

/* One (kind, service) pair of the rate limiter. */
struct mnotify_slot {
	bool		 sent;		/* a notice went out once */
	int64_t		 last_ms;	/* when (monotonic) */
	unsigned	 held;		/* events since, not mailed */
	time_t		 held_since;	/* wall time of the first of them */
};

struct mnotify_rl {
	struct mnotify_slot	 v[MNOTIFY_NKINDS][SVC_MAX + 1];
};

/* What a notice says: built by the caller, sent as it is. */
struct mnotify_text {
	const char	*subject;	/* ASCII, one line */
	const char	*body;		/* ASCII lines (LF or CRLF) */
};

const char	*mnotify_kind_name(enum mnotify_kind);
bool		 mnotify_rl_event(struct mnotify_rl *, enum mnotify_kind,
		    unsigned, int64_t, time_t, int64_t, unsigned *, time_t *);
const char	*mnotify_addr(const char *, const char *, char *, size_t);
int		 mnotify_build(struct buf *, const char *, const char *,
		    const char *, time_t, const struct mnotify_text *, char *,
		    size_t);
int		 mnotify_reply_line(const char *, size_t, int *, bool *);

#endif
