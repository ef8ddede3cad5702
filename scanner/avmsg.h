/*
 * avmsg.h: the antivirus check of one whole message, in two views.
 */
#ifndef SEKISHO_AVMSG_H
#define SEKISHO_AVMSG_H

#include <stddef.h>

#include "av.h"
#include "scan.h"

/* The merged verdict, and what it cost. */
struct avmsg_result {
	struct av_result av;		/* the message's verdict */
	unsigned	 scans;		/* av_scan() calls */
	double		 cpu_s;		/* this thread's CPU in av_scan() (with
					   clamd, clamd's own is not counted) */
};

int	 avmsg_analyse(struct av_engine *, const void *, size_t,
	    const struct scan_limits *, struct scan_msg *,
	    struct avmsg_result *, char *, size_t);

#endif
