/*
 * queue.h: the queue process of sekisho-smtpd, sole owner of the spool.
 *
 * queue.c runs the process and takes messages in from the smtp process;
 * queue_sched.c schedules their delivery through the mta process and
 * acts on the results (retries, expiry, reports, removal); queue_ipp.c
 * relays between the smtp process and sekisho-ipprofiler.
 */
#ifndef SEKISHO_QUEUE_H
#define SEKISHO_QUEUE_H

#include <sys/queue.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "envelope.h"
#include "ipc.h"
#include "proc.h"
#include "spool.h"

struct event_base;
struct quar;
struct smtpd;

/* A message in queue/ or hold/ and its delivery bookkeeping. */
struct qmsg {
	TAILQ_ENTRY(qmsg)	 entry;
	struct envelope		 env;
	enum spool_state	 st;		/* SPOOL_QUEUE or SPOOL_HOLD */
	uint8_t			*busy;		/* per recipient: in flight */
	unsigned		 inflight;	/* deliveries outstanding */
	bool			 dirty;		/* envelope to rewrite */
};
TAILQ_HEAD(qmsg_list, qmsg);

/* The queue process's state, shared by queue.c and queue_sched.c. */
struct queue {
	struct smtpd		*env;
	struct event_base	*base;
	struct spool		 spool;
	struct ipc_chan		*parent;
	struct ipc_chan		*smtp;
	struct ipc_chan		*mta;		/* NULL: no delivery */
	struct quar		*quar;		/* <data_dir>/quarantine */
};

extern struct queue q;

int	 queue_main(const struct proc_def *, const int *, void *);
enum spool_state queue_target(void);
int	 queue_inject(struct envelope *, int, enum spool_state, char *,
	    size_t);

void	 sched_init(void);
void	 sched_free(void);
void	 sched_add(struct envelope *, enum spool_state);
void	 sched_mta_result(struct ipc_msg_in *);
void	 sched_mta_lost(void);
size_t	 sched_count(void);

/* Messages in incoming/ and the scanner (queue_scan.c). */
void	 qscan_init(void);
void	 qscan_free(void);
void	 qscan_add(struct envelope *);
size_t	 qscan_count(void);

/*
 * The relay to sekisho-ipprofiler (queue_ipp.c): checks and events from
 * the smtp process, events the queue learns itself; the answer cache.
 */
struct ipc_msg_in;
struct ipp_verdict;
struct netaddr;
struct qipp_cache;
void	 qipp_init(void);
void	 qipp_free(void);
void	 qipp_smtp_check(struct ipc_msg_in *);
void	 qipp_smtp_event(struct ipc_msg_in *);
void	 qipp_scanned(const struct envelope *, bool, bool);
void	 qipp_unknown_rcpts(const struct envelope *, uint32_t);
struct qipp_cache *qipp_cache_new(size_t);
void	 qipp_cache_free(struct qipp_cache *);
bool	 qipp_cache_get(struct qipp_cache *, const struct netaddr *,
	    uint64_t, struct ipp_verdict *);
void	 qipp_cache_put(struct qipp_cache *, const struct netaddr *,
	    const struct ipp_verdict *, uint64_t, time_t, long long);
void	 qipp_cache_drop(struct qipp_cache *, const struct netaddr *);
size_t	 qipp_cache_size(const struct qipp_cache *);

/*
 * The tracking log (queue_track.c).  A record is committed before the
 * spool change that makes its step final: qtrack_remove defers a done
 * message's removal past the turn's commit; qtrack_sync commits now,
 * before a change that cannot wait (docs/tracking.md, durability).
 */
struct track_event;
void	 qtrack_open(const char *);
void	 qtrack_add(const struct track_event *);
void	 qtrack_sync(void);
void	 qtrack_remove(enum spool_state, const char *);
void	 qtrack_close(void);

/* Administration (queue_ctl.c): 0, or -1 with errno-like reason text. */
typedef void (*sched_visit_fn)(const struct qmsg *, void *);
void	 sched_foreach(sched_visit_fn, void *);
const struct qmsg *sched_lookup(const char *);
int	 sched_hold(const char *, char *, size_t);
int	 sched_release(const char *, char *, size_t);
int	 sched_delete(const char *, char *, size_t);
int	 sched_flush(const char *, char *, size_t);

/* The control socket for sekishoctl (queue_ctl.c, docs/sekishoctl.md). */
#define QUEUE_CTL_MAX_PAYLOAD	(1024 * 1024)	/* one entry or request */
void	 queue_ctl_listen(int);
void	 queue_ctl_free(void);

#endif
