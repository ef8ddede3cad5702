/*
 * actions.h: carry out a group's modifications (struct policy_group) on
 * the raw message: tag the subject, insert stamps, strip the matched
 * attachments.  The result is the modified message with CRLF line ends.
 *
 * Part indices are those of the struct scan_msg that mime_analyse()
 * produced from the same raw message (the policy decided on it); the
 * walk here follows mime.c's order.  An archive member cannot be removed
 * by itself: stripping it strips the attachment that holds the archive.
 * Nothing here adds a Message-ID (seed 25) or touches another header.
 * Intercepts, Bcc, archive and notifications are not modifications of
 * the message and are ignored here.
 */
#ifndef SEKISHO_ACTIONS_H
#define SEKISHO_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"
#include "scan.h"
#include "util.h"

/* Text of a stamp template (stamp_top = template:NAME), or NULL. */
typedef const char *(*actions_template_fn)(const char *, void *);

int	 actions_apply(const void *, size_t, const struct scan_msg *,
	    const struct policy_group *, actions_template_fn, void *,
	    struct buf *, char *, size_t);
int	 actions_apply_fd(const void *, size_t, const struct scan_msg *,
	    const struct policy_group *, actions_template_fn, void *, int,
	    char *, size_t);
int	 actions_modifies(const struct policy_group *);
/* Whether a header field (its first line and length) is to be dropped. */
typedef bool	(*actions_drop_fn)(const char *, size_t, void *);
bool	 actions_headers(const void *, size_t, actions_drop_fn, void *,
	    const char *, struct buf *);

#endif
