/*
 * scanjob.h: one message through the whole scan, as a worker does it:
 * envelope and content in, struct scan_reply out (common/scan_proto.h),
 * the modified copies and the notifications written to the output file.
 *
 * Pure apart from its descriptors, so unit tests and the fuzz target run
 * exactly what the daemon's workers run.
 */
#ifndef SEKISHO_SCANJOB_H
#define SEKISHO_SCANJOB_H

#include <stddef.h>

#include "conf.h"
#include "policy.h"
#include "scan.h"
#include "scan_proto.h"

#define SCANJOB_MAX_MESSAGE	(1024ULL * 1024 * 1024)	/* bytes mapped */

/* What every scan of one worker shares (read-only during a scan). */
struct av_engine;
struct spam_rules;
struct wdns;
struct netc_addr;

struct scanjob_ctx {
	const struct sekisho_conf *conf;
	const struct policy	*policy;
	struct av_engine	*av;		/* NULL: no antivirus */
	const struct spam_rules	*spam;		/* NULL: no spam scoring */
	const struct wdns	*dns;		/* NULL: no DNS (set in the
						   worker) */
	const struct netc_addr	*rspamd;	/* NULL: [antispam] rspamd=off */
	struct scan_limits	 limits;
	int			 tmpl_fd;	/* templates/, or -1 */
	char			 hostname[256];
	char			 admin[512];	/* notify_admin's address */
};

void	 scanjob_ctx_init(struct scanjob_ctx *, const struct sekisho_conf *,
	    const struct policy *, struct av_engine *,
	    const struct spam_rules *, int);
void	 scanjob_limits(const struct conf_policy *, struct scan_limits *);
void	 scanjob_run(const struct scanjob_ctx *, const void *, size_t, int,
	    int, struct scan_reply *);

#endif
