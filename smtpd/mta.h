/*
 * mta.h: the mta process of sekisho-smtpd (outbound delivery) and the
 * delivery requests it carries out for the queue (docs/delivery.md).
 *
 * mta.c owns the process: the channels to the queue and the parent, the
 * resolver, the requests and the destinations (next hops) with their
 * waiting requests and connections.  mta_session.c speaks SMTP on one
 * connection; maildir.c writes local Maildirs.  A request belongs to
 * mta.c while it waits and to one session while that session carries it;
 * whoever holds it last calls mta_req_done(), which sends the one
 * IMSG_MTA_RESULT, closes the content descriptor and frees it.
 */
#ifndef SEKISHO_MTA_H
#define SEKISHO_MTA_H

#include <sys/queue.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proc.h"

/* Bounds on IMSG_MTA_DELIVER (a larger frame is a broken queue). */
#define MTA_RCPT_MAX		1000	/* recipients per request */
#define MTA_ADDR_MAX		512	/* bytes of one address */
#define MTA_QID_MAX		64	/* bytes of a queue id */
/* Bounds on IMSG_MTA_RESULT texts. */
#define MTA_REPLY_MAX		4000	/* reply text, no control characters */
#define MTA_REMOTE_MAX		320	/* "host[address]:port" */
#define MTA_DSN_MAX		16	/* "5.1.1" */

/*
 * The largest frames on the queue <-> mta channel: the queue's end must
 * be created with at least MTA_RESULT_MAX_PAYLOAD as its max_payload, the
 * mta's end accepts MTA_DELIVER_MAX_PAYLOAD.
 */
#define MTA_DELIVER_MAX_PAYLOAD						\
	(8 + 4 + MTA_QID_MAX + 4 + MTA_ADDR_MAX + 1 + 8 + 4 + 256 + 4 +	\
	MTA_RCPT_MAX * (4 + 4 + MTA_ADDR_MAX))
#define MTA_RESULT_MAX_PAYLOAD						\
	(8 + 4 + MTA_RCPT_MAX * (4 + 1 + 4 + MTA_DSN_MAX + 4 +		\
	MTA_REMOTE_MAX + 4 + MTA_REPLY_MAX))

/* IMSG_MTA_DELIVER flags. */
#define MTA_F_SMTPUTF8		0x01
#define MTA_F_8BIT		0x02

/* Outcome classes of IMSG_MTA_RESULT. */
enum mta_class {
	MTA_DELIVERED = 0,
	MTA_TEMPFAIL = 1,
	MTA_PERMFAIL = 2,
};

struct mta_rcpt {
	uint32_t	 index;		/* the queue's recipient index */
	char		*addr;
	bool		 done;		/* outcome known */
	bool		 accepted;	/* RCPT got 2xx in this transaction */
	uint8_t		 class;		/* enum mta_class */
	char		 dsn[MTA_DSN_MAX];
	char		*remote;
	char		*reply;
};

struct mta_req {
	uint64_t	 reqid;
	char		 qid[MTA_QID_MAX + 1];
	char		*sender;	/* "" for <> */
	uint8_t		 flags;		/* MTA_F_* */
	uint64_t	 size;		/* bytes of content */
	char		*domain;
	int		 fd;		/* content, read with pread */
	struct mta_rcpt	*rcpt;
	size_t		 nrcpt;
	TAILQ_ENTRY(mta_req) entry;	/* mta.c: a destination's waiting list */
};

/* A failure that applies to every recipient not yet decided. */
struct mta_fail {
	enum mta_class	 class;
	char		 dsn[MTA_DSN_MAX];
	char		 remote[MTA_REMOTE_MAX];
	char		 reply[MTA_REPLY_MAX + 1];
};

int	 mta_main(const struct proc_def *, const int *, void *);

void	 mta_rcpt_set(struct mta_rcpt *, enum mta_class, const char *,
	    const char *, const char *);
void	 mta_req_fail(struct mta_req *, const struct mta_fail *);
void	 mta_req_done(struct mta_req *);
void	 mta_fail_set(struct mta_fail *, enum mta_class, const char *,
	    const char *, const char *, ...)
	    __attribute__((format(printf, 5, 6)));
void	 mta_text_sanitize(char *, size_t, const char *, size_t);

#endif
