/*
 * smtpc.h: the manager's small asynchronous SMTP client: one message to
 * one recipient over a libevent bufferevent, for the system event notices
 * (notifier.c).  It never blocks the loop; every reply is parsed strictly
 * (mnotify_reply_line) and bounded.
 */
#ifndef SEKISHO_SMTPC_H
#define SEKISHO_SMTPC_H

#include <sys/socket.h>

#include <event2/event.h>

#include "util.h"

enum smtpc_result {
	SMTPC_SENT = 0,		/* 250 after the data */
	SMTPC_TEMPFAIL,		/* no connection, 4xx, a timeout, bad bytes */
	SMTPC_PERMFAIL,		/* 5xx */
};

/* Called once; the client goes away by itself afterwards. */
typedef void	(*smtpc_done_cb)(enum smtpc_result, const char *, void *);

struct smtpc;

struct smtpc	*smtpc_send(struct event_base *, const struct sockaddr *,
		    socklen_t, const char *, const char *, const char *,
		    const struct buf *, smtpc_done_cb, void *);
void		 smtpc_cancel(struct smtpc *);

#endif
