/*
 * queue_ctl.h: what the two halves of the queue's control socket share.
 *
 * queue_ctl.c owns the socket and its clients and answers the queue
 * commands; queue_ctl_quar.c answers the quarantine commands on the same
 * connections.  What both answer with (an entry, a show, a streamed
 * listing) is queue_ctl.c's, written once.  Nothing outside these two
 * files includes this header (the rest of the queue sees
 * queue_ctl_listen/queue_ctl_free in queue.h).
 */
#ifndef SEKISHO_QUEUE_CTL_H
#define SEKISHO_QUEUE_CTL_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "ipc.h"
#include "queue.h"

#define QUEUE_CTL_STR_MAX	1024	/* any request string */
#define QUEUE_CTL_BATCH		256	/* entries per turn of the loop */
#define QUEUE_CTL_OUTQ_WATER	(512 * 1024)	/* pause the stream above */
#define QUEUE_CTL_PAUSE_MS	5
/* JSON bytes of recipients in one entry; the rest is well below 64 KiB. */
#define QUEUE_CTL_RCPT_BUDGET	(QUEUE_CTL_MAX_PAYLOAD - 128 * 1024)

enum queue_ctl_status {
	QUEUE_CTL_OK = 0,
	QUEUE_CTL_REFUSED = 1,		/* not found, or refused */
	QUEUE_CTL_BADREQ = 2,
};

struct queue_ctl_list;			/* queue_ctl.c */
struct queue_ctl_qlist;			/* queue_ctl_quar.c */

/* One connected sekishoctl (or manager). */
struct queue_ctl_client {
	TAILQ_ENTRY(queue_ctl_client) entry;
	uint32_t	 id;
	uid_t		 uid;
	pid_t		 pid;
	struct ipc_chan	*chan;
	struct event	*ev_idle;
	struct queue_ctl_list *list;	/* queue listing streaming, or NULL */
	struct queue_ctl_qlist *qlist;	/* quarantine listing, or NULL */
};

/* queue_ctl.c */
bool	 queue_ctl_send_result(struct queue_ctl_client *, uint64_t,
	    enum queue_ctl_status, const char *);
bool	 queue_ctl_send_obj(struct queue_ctl_client *, uint64_t, json_t *);
void	 queue_ctl_send_show(struct queue_ctl_client *, uint64_t, json_t *);
const char *queue_ctl_busy(const struct queue_ctl_client *);
void	 queue_ctl_stream(struct queue_ctl_client *, struct event **,
	    event_callback_fn);
json_t	*queue_ctl_jstr(const char *);
size_t	 queue_ctl_jlen(const char *);
void	 queue_ctl_set(json_t *, const char *, json_t *);

/* queue_ctl_quar.c */
bool	 queue_ctl_quar_request(struct queue_ctl_client *,
	    struct ipc_msg_in *);
void	 queue_ctl_qlist_free(struct queue_ctl_qlist *);

#endif
