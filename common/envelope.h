/*
 * envelope.h: the envelope of a spooled message and its on-disk format.
 *
 * The envelope is everything about a message that is not its content: who
 * sent it from where, to whom, and how it arrived.  It is stored beside the
 * message body as a versioned text file (docs/spool.md), one "key value"
 * per line, values escaped so no field can contain a line break.
 */
#ifndef SEKISHO_ENVELOPE_H
#define SEKISHO_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

#define ENVELOPE_VERSION	1
#define ENVELOPE_MAX_RCPT	10000
#define ENVELOPE_MAX_SIZE	(4 * 1024 * 1024)
#define SPOOL_ID_LEN		16	/* hex digits */

/* Delivery state of one recipient (the queue's business). */
enum envelope_rstate {
	RSTATE_PENDING = 0,	/* to be delivered (again) */
	RSTATE_DELIVERED,	/* a next hop took it */
	RSTATE_FAILED,		/* permanently failed or expired */
};

struct envelope_rcpt {
	char	*addr;		/* canonical local@domain */
	char	*orcpt;		/* RFC 3461 ORCPT, decoded, or NULL */
	uint8_t	 notify;	/* RFC 3461 NOTIFY bits, 0 = not given */
	/* Delivery state; written as an "rstate" line once it changed. */
	uint8_t	 state;		/* enum envelope_rstate */
	bool	 reported;	/* failure told to the sender (NDR sent) */
	uint32_t attempts;	/* temporary failures so far */
	time_t	 next;		/* earliest next attempt, 0 = now */
	char	 dsn[16];	/* last RFC 3463 status, "" if none */
	char	*remote;	/* last next hop that answered, or NULL */
	char	*reply;		/* last reply text or reason, or NULL */
};

#define ENV_NOTIFY_NEVER	0x01
#define ENV_NOTIFY_SUCCESS	0x02
#define ENV_NOTIFY_FAILURE	0x04
#define ENV_NOTIFY_DELAY	0x08

struct envelope {
	char		 id[SPOOL_ID_LEN + 1];
	time_t		 received;
	char		*sender;	/* "" for the null sender <> */
	char		*helo;
	char		*client_ip;
	char		*client_name;	/* reverse DNS, or NULL */
	char		*tls;		/* "TLSv1.3 TLS_AES_256_GCM_SHA384" or NULL */
	char		*envid;		/* RFC 3461 ENVID, or NULL */
	char		*auth;		/* authenticated user, or NULL */
	uint64_t	 size;		/* bytes of the stored message */
	bool		 smtputf8;
	bool		 body_8bit;	/* BODY=8BITMIME */
	bool		 ret_hdrs;	/* RET=HDRS */
	bool		 warned;	/* delay warning sent */
	uint32_t	 scanfail;	/* failed scan attempts so far */
	char		*skiprule;	/* released from quarantine: the rule
					   that quarantined it is skipped */
	struct envelope_rcpt *rcpt;
	size_t		 nrcpt;
};

void	 envelope_init(struct envelope *);
void	 envelope_clear(struct envelope *);
void	 envelope_add_rcpt(struct envelope *, const char *, const char *,
	    uint8_t);
void	 envelope_rcpt_result(struct envelope_rcpt *, const char *,
	    const char *, const char *);
const char *envelope_rstate_name(int);
bool	 envelope_esc(struct buf *, const char *);
bool	 envelope_unesc(const char *, size_t, char **);
bool	 envelope_format(const struct envelope *, struct buf *);
int	 envelope_parse(struct envelope *, const char *, size_t, char *,
	    size_t);

#endif
