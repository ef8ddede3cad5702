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

struct envelope_rcpt {
	char	*addr;		/* canonical local@domain */
	char	*orcpt;		/* RFC 3461 ORCPT, decoded, or NULL */
	uint8_t	 notify;	/* RFC 3461 NOTIFY bits, 0 = not given */
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
	struct envelope_rcpt *rcpt;
	size_t		 nrcpt;
};

void	 envelope_init(struct envelope *);
void	 envelope_clear(struct envelope *);
void	 envelope_add_rcpt(struct envelope *, const char *, const char *,
	    uint8_t);
bool	 envelope_format(const struct envelope *, struct buf *);
int	 envelope_parse(struct envelope *, const char *, size_t, char *,
	    size_t);

#endif
