/*
 * scanq.h: one asynchronous question to the scan server: its status
 * (IMSG_SCAN_STATUS over run_dir/scanner.sock, the JSON object of
 * sekishoctl scanner status).  Used by the push (central.c: the engines
 * a host reports) and the notices (notifier.c: failed scans).
 *
 * scanq_ask() calls done exactly once, from the event loop, with the
 * status object (borrowed: valid during the call) or NULL when the
 * scanner is not running, did not answer within the timeout or said
 * something that is not a status object; never from inside scanq_ask.
 * scanq_cancel() before that drops the question without a call.
 */
#ifndef SEKISHO_SCANQ_H
#define SEKISHO_SCANQ_H

#include <jansson.h>

struct event_base;
struct scanq;

typedef void	 scanq_done_fn(const json_t *, void *);

struct scanq	*scanq_ask(struct event_base *, const char *, int,
		    scanq_done_fn *, void *);
void		 scanq_cancel(struct scanq *);

#endif
