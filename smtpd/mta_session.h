/*
 * mta_session.h: one outbound SMTP connection of the mta process, and the
 * pure pieces it is built from (reply and EHLO parsing, dot-stuffing),
 * exposed for the unit tests and the fuzzer.
 *
 * A session is created with an ordered list of targets; it connects to
 * the first that answers and greets, says EHLO, does STARTTLS as its TLS
 * policy says, and then tells its owner (mta.c) it is ready.  The owner
 * hands it one request at a time (mta_session_deliver); after each
 * message the session sends RSET and is ready again, or the owner tells
 * it to park (keep the connection for a while) or to quit.  The owner
 * learns through cb->gone when the session is no longer usable; a session
 * that never became ready passes the reason (struct mta_fail), which the
 * owner applies to the requests that were waiting for it.  Callbacks come
 * only from the event loop, never from inside an mta_session_* call.
 */
#ifndef SEKISHO_MTA_SESSION_H
#define SEKISHO_MTA_SESSION_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "mta.h"

struct event_base;
struct mta_session;

/* A reply line longer than this is garbage (RFC 5321 says 512). */
#define MTA_LINE_MAX		2048
/* More lines than this in one reply is garbage. */
#define MTA_REPLY_LINES_MAX	200

/*
 * ------------------------------------------------------------------------
 * Replies (RFC 5321 4.2, RFC 2034 enhanced status codes).
 * ------------------------------------------------------------------------
 */
enum mta_reply_status {
	MTA_REPLY_MORE = 0,	/* a continuation line: more to come */
	MTA_REPLY_DONE,		/* the last line: the reply is complete */
	MTA_REPLY_ERROR,	/* not an SMTP reply: the peer is broken */
};

struct mta_reply {
	int		 code;		/* 200..599, 0 before the first line */
	unsigned	 nlines;
	bool		 truncated;	/* text was cut at MTA_REPLY_MAX */
	char		 dsn[MTA_DSN_MAX];	/* enhanced code, "" if none */
	size_t		 len;
	/* The lines as sent, joined by one space, control bytes as '?'. */
	char		 text[MTA_REPLY_MAX + 1];
};

void	 mta_reply_init(struct mta_reply *);
enum mta_reply_status mta_reply_line(struct mta_reply *, const char *,
	    size_t, const char **);
void	 mta_reply_dsn(const struct mta_reply *, char *, size_t);

/* EHLO keywords (RFC 5321 4.1.1.1 and the extensions' RFCs). */
#define MTA_CAP_PIPELINING	0x01	/* RFC 2920 */
#define MTA_CAP_SIZE		0x02	/* RFC 1870 */
#define MTA_CAP_8BITMIME	0x04	/* RFC 6152 */
#define MTA_CAP_SMTPUTF8	0x08	/* RFC 6531 */
#define MTA_CAP_STARTTLS	0x10	/* RFC 3207 */
#define MTA_CAP_CHUNKING	0x20	/* RFC 3030 */
#define MTA_CAP_ENHANCED	0x40	/* RFC 2034 ENHANCEDSTATUSCODES */

struct mta_caps {
	unsigned	 flags;
	uint64_t	 size;		/* SIZE limit; 0: none given */
};

void	 mta_caps_line(struct mta_caps *, const char *, size_t);

/*
 * ------------------------------------------------------------------------
 * Dot-stuffing (RFC 5321 4.5.2) of spool content (CRLF line ends).
 * ------------------------------------------------------------------------
 */
struct mta_stuff {
	bool		 bol;		/* at the start of a line */
	bool		 cr;		/* the last byte was CR */
	bool		 empty;		/* nothing fed yet */
};

void	 mta_stuff_init(struct mta_stuff *);
size_t	 mta_stuff_feed(struct mta_stuff *, const uint8_t *, size_t,
	    uint8_t *);
size_t	 mta_stuff_end(struct mta_stuff *, uint8_t *);
#define MTA_STUFF_END_MAX	5	/* mta_stuff_end writes at most this */

/*
 * ------------------------------------------------------------------------
 * Sessions.
 * ------------------------------------------------------------------------
 */

/* One (host, address, port) to try, in order. */
struct mta_target {
	char			 host[256];	/* name for TLS and logs */
	char			 addr[64];	/* the address as text */
	uint16_t		 port;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
};

struct mta_session_cb {
	/* Idle and connected: give it a request, park it or quit it. */
	void	(*ready)(struct mta_session *, void *);
	/* Not usable any more; why is non-NULL when it never was ready. */
	void	(*gone)(struct mta_session *, const struct mta_fail *, void *);
};

struct mta_session_conf {
	struct event_base	*base;
	SSL_CTX			*ssl_ctx;	/* NULL: no STARTTLS possible */
	bool			 can_verify;	/* ssl_ctx has CA certificates */
	int			 tls;		/* enum conf_tls_policy */
	const char		*helo;
	long long		 connect_timeout;	/* seconds */
	long long		 reply_timeout;
	long long		 data_done_timeout;
	const char		*dest;		/* destination, for logs */
	uint32_t		 id;
	const struct mta_session_cb *cb;
	void			*arg;
};

struct mta_session *mta_session_new(const struct mta_session_conf *,
	    const struct mta_target *, size_t);
bool	 mta_session_deliver(struct mta_session *, struct mta_req *);
void	 mta_session_park(struct mta_session *, long long);
void	 mta_session_quit(struct mta_session *);
void	 mta_session_free(struct mta_session *);
void	 mta_session_free_all(void);
unsigned mta_session_messages(const struct mta_session *);
uint32_t mta_session_id(const struct mta_session *);

#endif
