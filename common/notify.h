/*
 * notify.h: policy notifications (notify_sender, notify_recipients,
 * notify_admin) and the queue's scan-failure notice, built from the
 * templates in <confdir>/templates/ (format: docs/notifications.md).
 *
 * A pure module apart from notify_template_load() (one openat) and the
 * clock and RAND_bytes() of notify_build().  The result is a complete
 * RFC 5322 message with CRLF line ends for the queue to spool with the
 * null envelope sender.  Never to the null address (seed 35): a recipient
 * that is empty or "<>" is an error; not notifying a sender of <> at all
 * (seed 11) is the caller's decision.
 *
 * Token values come from hostile mail (subject, attachment names): they
 * are reduced to one line of well-formed UTF-8 before they go into the
 * subject or the body.  The message is 7-bit except for the From: and To:
 * addresses, which may be UTF-8 (then the queue needs SMTPUTF8).  Dates
 * are local time with the numeric offset (seed 2): a chrooted caller must
 * call tzset() before it chroots.
 */
#ifndef SEKISHO_NOTIFY_H
#define SEKISHO_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "util.h"

#define NOTIFY_NAME_MAX		64		/* template name, octets */
#define NOTIFY_TEMPLATE_MAX	(64 * 1024)	/* template file, octets */
#define NOTIFY_SUBJECT_MAX	900		/* expanded subject kept */
#define NOTIFY_VALUE_MAX	16384		/* one token value kept */

/* Token values; NULL (or a date of 0) expands to "". */
struct notify_tokens {
	const char	*sender;	/* %SENDER%: "" for <> shows as "<>" */
	const char	*recipients;	/* %RECIPIENTS%: comma-separated */
	const char	*subject;	/* %SUBJECT%: decoded UTF-8 */
	const char	*rule_name;	/* %RULE_NAME% */
	const char	*virus_name;	/* %VIRUS_NAME% */
	const char	*attachment;	/* %ATTACHMENT%: comma-separated */
	const char	*client_ip;	/* %CLIENT_IP% */
	const char	*qid;		/* %QUEUE_ID% */
	const char	*action;	/* %ACTION%: the final action text */
	const char	*area;		/* %QUARANTINE_AREA% */
	const char	*reason;	/* %REASON% */
	time_t		 date;		/* %DATE%: the original's arrival */
};

struct notify_template;

bool	 notify_name_valid(const char *);
const char *notify_addr_check(const char *, bool, char *, size_t);
bool	 notify_msgid_make(char *, size_t, const char *);
struct notify_template *notify_template_parse(const char *, const void *,
	    size_t, char *, size_t);
struct notify_template *notify_template_load(int, const char *, char *,
	    size_t);
void	 notify_template_free(struct notify_template *);
const char *notify_template_name(const struct notify_template *);
int	 notify_build(const struct notify_template *,
	    const struct notify_tokens *, const char *, const char *const *,
	    size_t, const char *, struct buf *, char *, size_t);

#endif
