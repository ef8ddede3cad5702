/*
 * scan_proto.h: the answer of the scan server to the queue
 * (IMSG_SCAN_RESULT, docs/scanner.md).
 *
 * The queue sends a message as its envelope text and a descriptor on the
 * spooled content, with an empty output file before it (IMSG_SCAN_OUTPUT).
 * The scanner answers with one struct scan_reply: per group of recipients
 * the intercept, the modifications that concern the queue (Bcc, archive),
 * where the modified copy lies in the output file, and what the tracking
 * log needs; plus the notifications it built, also in the output file.
 *
 * The scanner is a less trusted peer than the queue (it parses hostile
 * MIME), so scan_reply_decode() checks everything: counts, lengths,
 * UTF-8, recipient indices (each recipient in exactly one group), and
 * slices inside the output file.  Addresses are checked by the queue when
 * it uses them.
 */
#ifndef SEKISHO_SCAN_PROTO_H
#define SEKISHO_SCAN_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ipc_msg;
struct ipc_msg_in;

/* scan_reply.status */
#define SCAN_STATUS_OK		0	/* scanned; groups are valid */
#define SCAN_STATUS_FAILED	1	/* worker crashed, hit a limit, or
					   could not read the message: retry */

/*
 * scan_reply.verdict: what the scan found in the message as a whole, for
 * the IP profiler's counters (the queue reports it per client address).
 */
#define SCAN_VERDICT_SPAM	0x01	/* score at [antispam] level_medium */
#define SCAN_VERDICT_VIRUS	0x02	/* the antivirus found a virus */
#define SCAN_VERDICT_ALL	(SCAN_VERDICT_SPAM | SCAN_VERDICT_VIRUS)

/* scan_group.intercept: the values of enum policy_intercept. */
#define SCAN_DELIVER		0
#define SCAN_DELETE		1
#define SCAN_QUARANTINE		2	/* intercept_arg: the area */
#define SCAN_CHANGE_RCPT	3	/* intercept_arg: the new recipient */

/* scan_notif.kind */
#define SCAN_NOTIFY_SENDER	0
#define SCAN_NOTIFY_RCPTS	1
#define SCAN_NOTIFY_ADMIN	2

/* Bounds the decoder enforces. */
#define SCAN_PROTO_MAX_GROUPS	10000	/* also at most one per recipient */
#define SCAN_PROTO_MAX_LIST	1000	/* Bcc, hits, notifications, to */
#define SCAN_PROTO_MAX_TEXT	4000	/* any string, bytes */
#define SCAN_PROTO_MAX_PAYLOAD	(8 * 1024 * 1024)

/* Bytes of the output file. */
struct scan_slice {
	uint64_t	 off;
	uint64_t	 len;
};

/* A rule that matched, for the tracking log. */
struct scan_hit {
	char		*rule;
	char		*action;	/* what it did: "quarantine spam", ... */
	char		*conds;		/* the conditions that matched, as
					   "body.fraud (keywords/fraud.txt:3)" */
};

struct scan_group {
	uint32_t	*rcpts;		/* envelope recipient indices */
	size_t		 nrcpts;
	uint8_t		 intercept;	/* SCAN_DELIVER, ... */
	char		*intercept_arg;	/* "" for deliver and delete */
	char		*intercept_rule; /* the deciding rule, "" if none */
	char		*final_text;	/* "Passed sekisho scan", ... */
	bool		 modified;	/* content is the copy to use */
	struct scan_slice content;
	bool		 archive;	/* save a copy (seed 9) */
	char		**bcc;
	size_t		 nbcc;
	struct scan_hit	*hits;
	size_t		 nhits;
	char		*limits;	/* what the analysis could not do, "" */
};

/* A generated notification: a whole message, sent from <>. */
struct scan_notif {
	uint8_t		 kind;		/* SCAN_NOTIFY_* */
	char		*rule;
	char		**to;
	size_t		 nto;
	struct scan_slice body;
};

struct scan_reply {
	uint8_t		 status;	/* SCAN_STATUS_* */
	char		*reason;	/* why it failed, "" when ok */
	char		*subject;	/* decoded, "" when there is none */
	uint64_t	 usec;		/* time the scan took */
	uint8_t		 verdict;	/* SCAN_VERDICT_*, 0 when failed */
	struct scan_group *groups;
	size_t		 ngroups;
	struct scan_notif *notifs;
	size_t		 nnotifs;
};

void	 scan_reply_encode(struct ipc_msg *, const struct scan_reply *);
int	 scan_reply_decode(struct ipc_msg_in *, size_t, uint64_t,
	    struct scan_reply *, char *, size_t);
void	 scan_reply_clear(struct scan_reply *);
void	 scan_reply_fail(struct scan_reply *, const char *);

#endif
