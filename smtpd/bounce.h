/*
 * bounce.h: delivery status notifications (non-delivery reports and delay
 * warnings) as RFC 3464 / RFC 6522 multipart/report messages.
 *
 * A pure module: no I/O except reading the original message from a
 * descriptor the caller passes, no configuration lookups, no clock and no
 * global randomness unless the caller leaves those to the defaults.  The
 * queue hands in the original envelope, one struct bounce_rcpt per
 * recipient to report (with the remote server's reply, which is hostile:
 * any bytes, any length), the configured subject and text (seed 7,
 * FailNotifyMsgSubject / FailNotifMsg) and gets back the complete message
 * (CRLF line ends, every line at most 998 octets) and the envelope to
 * spool it under (null sender, one recipient).
 *
 * Never to the null sender (seeds 11 and 35): bounce_should_send() is
 * false for a message from <>, and bounce_build() refuses to address a
 * report to an empty address.  A double bounce is the caller's choice: it
 * passes the postmaster address in params.to.
 *
 * Dates are local time with the numeric offset (seed 2), from
 * localtime_r() in the process's time zone: a chrooted caller must call
 * tzset() before it chroots.
 */
#ifndef SEKISHO_BOUNCE_H
#define SEKISHO_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "envelope.h"
#include "util.h"

#define BOUNCE_LINE_MAX		998	/* RFC 5322 2.1.1, octets before CRLF */
#define BOUNCE_FULL_MAX		(50 * 1024)	/* default RET=FULL limit */
#define BOUNCE_HDRS_MAX		(128 * 1024)	/* original header block kept */
#define BOUNCE_REPLY_MAX	1024	/* reply text kept, after cleaning */
#define BOUNCE_SUBJECT_MAX	900	/* octets of subject text kept */
#define BOUNCE_TEXT_MAX		8192	/* octets of notification text kept */
#define BOUNCE_DATE_MAX		40	/* "Thu, 31 Dec 2099 23:59:59 +0000" */

enum bounce_action {
	BOUNCE_FAILED,		/* permanent failure or expiry: 5.x.x */
	BOUNCE_DELAYED,		/* delay warning: 4.x.x */
};

/* One recipient to report on. */
struct bounce_rcpt {
	const char	*addr;		/* the recipient, local@domain */
	const char	*orcpt;		/* ORCPT, "addr" or "type;addr", or NULL */
	enum bounce_action action;
	const char	*status;	/* RFC 3463 "5.1.1"; NULL or bad: x.0.0 */
	const char	*remote_mta;	/* host name of the peer, or NULL */
	const void	*reply;		/* the peer's reply (hostile), or NULL */
	size_t		 replylen;
	time_t		 retry_until;	/* delayed: Will-Retry-Until, 0: none */
};

/* Fills len bytes with random data (boundary, Message-ID). */
typedef void (*bounce_random_fn)(void *, void *, size_t);

struct bounce_params {
	const char	*subject;	/* UTF-8; NULL: a default by action */
	const char	*text;		/* UTF-8, may hold line breaks; NULL: default */
	const char	*hostname;	/* reporting MTA, Message-ID domain */
	const char	*from;		/* NULL: MAILER-DAEMON@hostname */
	const char	*to;		/* NULL: the envelope sender */
	time_t		 now;		/* Date: */
	size_t		 full_max;	/* whole message up to this, 0: never */
	const void	*orig;		/* the original message, or */
	size_t		 origlen;
	int		 origfd;	/* >= 0: read it from here (pread) */
	bounce_random_fn random;	/* NULL: arc4random_buf */
	void		*random_arg;
};

/* What the caller needs to know to spool the report. */
struct bounce_result {
	bool		 full;		/* the whole original message is attached */
	bool		 body_8bit;	/* 8-bit octets in the body: BODY=8BITMIME */
	bool		 smtputf8;	/* 8-bit octets in the headers (address) */
};

enum bounce_err {
	BOUNCE_OK = 0,
	BOUNCE_E_NULL_SENDER,	/* would be addressed to <> */
	BOUNCE_E_ADDR,		/* bad To:, From: or recipient address */
	BOUNCE_E_HOSTNAME,	/* bad reporting host name */
	BOUNCE_E_NORCPT,	/* no recipient to report */
	BOUNCE_E_DATE,		/* time not representable */
	BOUNCE_E_READ,		/* reading the original message failed */
	BOUNCE_E_TOOBIG,	/* output over the buffer's limit */
	BOUNCE_E_BOUNDARY,	/* no boundary absent from the parts */
	BOUNCE_E_MAX
};

void		 bounce_params_init(struct bounce_params *);
bool		 bounce_should_send(const struct envelope *);
bool		 bounce_rcpt_wanted(const struct envelope_rcpt *,
		    enum bounce_action);
enum bounce_err	 bounce_build(const struct envelope *,
		    const struct bounce_rcpt *, size_t,
		    const struct bounce_params *, struct buf *,
		    struct bounce_result *);
enum bounce_err	 bounce_envelope(const struct envelope *,
		    const struct bounce_params *, const struct bounce_result *,
		    uint64_t, struct envelope *);
const char	*bounce_strerror(enum bounce_err);

/* Shared with the other notifications (seeds 23, 39; dates: date_rfc5322). */
bool		 bounce_header_text(struct buf *, const char *, const char *,
		    size_t);

#endif
