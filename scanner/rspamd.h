/*
 * rspamd.h: rspamd as a spam scoring backend, over its HTTP protocol
 * (POST /checkv2 to a normal worker), from a scan worker: the message,
 * the envelope as rspamd's request headers, and its verdict back.
 */
#ifndef SEKISHO_RSPAMD_H
#define SEKISHO_RSPAMD_H

#include <stdbool.h>
#include <stddef.h>

#include "netc.h"

#define RSPAMD_MAX_REPLY	(1024 * 1024)	/* bytes of an answer */
#define RSPAMD_MAX_SYMBOLS	64		/* symbols kept */

struct rspamd_input {
	const char	*client_ip;	/* or NULL */
	const char	*helo;		/* or NULL */
	const char	*mail_from;	/* "" for <> */
	const char *const *rcpts;
	size_t		 nrcpts;
	const char	*qid;
	const char	*hostname;	/* ours (MTA-Name) */
	const void	*raw;
	size_t		 len;
};

struct rspamd_result {
	double		 score;
	double		 required;	/* rspamd's required_score */
	char		 action[32];	/* "no action", "add header", ... */
	char		**symbols;	/* with a positive score, highest first,
					   as "NAME(score)" */
	size_t		 nsymbols;
};

int	 rspamd_check(const struct netc_addr *, unsigned,
	    const struct rspamd_input *, struct rspamd_result *, char *,
	    size_t);
int	 rspamd_parse(const char *, size_t, struct rspamd_result *, char *,
	    size_t);
void	 rspamd_result_free(struct rspamd_result *);

#endif
