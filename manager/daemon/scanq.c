/*
 * scanq.c: one asynchronous status question to the scan server
 * (scanq.h).  The answer is one IMSG_QUEUE_CTL_ENTRY with the JSON
 * status, then IMSG_CTL_RESULT (scanner/daemon/scannerd.c status_send).
 */
#include <string.h>

#include <event2/event.h>

#include "ipc.h"
#include "log.h"
#include "scanq.h"
#include "util.h"
#include "xmalloc.h"

#define SCANQ_MAX_PAYLOAD	(64 * 1024)
#define SCANQ_REQID		1

struct scanq {
	struct ipc_chan	*chan;
	struct event	*timer;		/* the timeout, then the answer */
	json_t		*status;
	scanq_done_fn	*done;
	void		*arg;
	bool		 finished;
};

/* sq_fire: the answer (or none) to the caller, from the loop. */
static void
sq_fire(evutil_socket_t fd, short ev, void *arg)
{
	struct scanq	*q = arg;

	(void)fd;
	(void)ev;
	q->done(q->status, q->arg);
	scanq_cancel(q);
}

/* sq_finish: stop listening; the caller hears it at the next turn. */
static void
sq_finish(struct scanq *q)
{
	struct timeval	 now = { 0, 0 };

	if (q->finished)
		return;
	q->finished = true;
	if (q->chan != NULL) {
		ipc_chan_free(q->chan);
		q->chan = NULL;
	}
	evtimer_del(q->timer);
	evtimer_assign(q->timer, event_get_base(q->timer), sq_fire, q);
	evtimer_add(q->timer, &now);
}

static void
sq_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct scanq	*q = arg;

	(void)fd;
	(void)ev;
	log_kv(LOG_LVL_WARN, "event=scanner-status-timeout detail=\"the "
	    "scanner did not answer its status in time\"");
	sq_finish(q);
}

static void
sq_dispatch(struct ipc_chan *ch, struct ipc_msg_in *msg, void *arg)
{
	struct scanq	*q = arg;
	json_error_t	 je;
	uint64_t	 reqid;
	char		*text = NULL;
	json_t		*o;

	(void)ch;
	if (msg->type == IMSG_QUEUE_CTL_ENTRY && q->status == NULL &&
	    ipc_get_u64(msg, &reqid) && reqid == SCANQ_REQID &&
	    ipc_get_strdup(msg, SCANQ_MAX_PAYLOAD, &text) && ipc_end(msg)) {
		if ((o = json_loads(text, 0, &je)) != NULL &&
		    json_is_object(o))
			q->status = o;
		else
			json_decref(o);
		free(text);
		return;
	}
	free(text);
	sq_finish(q);	/* the result, or anything else: done */
}

static void
sq_closed(struct ipc_chan *ch, enum ipc_close why, void *arg)
{
	(void)ch;
	(void)why;
	sq_finish(arg);
}

struct scanq *
scanq_ask(struct event_base *base, const char *sock, int timeout_ms,
    scanq_done_fn *done, void *arg)
{
	struct scanq	*q = xcalloc(1, sizeof(*q));
	struct timeval	 tv = { timeout_ms / 1000, timeout_ms % 1000 * 1000 };
	struct ipc_msg	*m;
	int		 fd;

	q->done = done;
	q->arg = arg;
	if ((q->timer = evtimer_new(base, sq_timeout, q)) == NULL)
		fatalx("scanq_ask: evtimer_new");
	if ((fd = ipc_connect_unix(sock)) == -1) {
		sq_finish(q);
		return q;
	}
	q->chan = ipc_chan_new(base, fd, SCANQ_MAX_PAYLOAD, sq_dispatch,
	    sq_closed, q);
	ipc_chan_set_name(q->chan, "scanner");
	evtimer_add(q->timer, &tv);
	m = ipc_msg_new(IMSG_SCAN_STATUS, 0);
	ipc_add_u64(m, SCANQ_REQID);
	ipc_add_str(m, "");
	if (!ipc_chan_send(q->chan, m))
		sq_finish(q);
	return q;
}

void
scanq_cancel(struct scanq *q)
{
	if (q == NULL)
		return;
	if (q->chan != NULL)
		ipc_chan_free(q->chan);
	event_free(q->timer);
	json_decref(q->status);
	free(q);
}
