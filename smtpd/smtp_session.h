/*
 * smtp_session.h: one SMTP server session (RFC 5321) of the smtp process.
 *
 * A session owns its connection (socket or TLS bufferevent), the command
 * state machine, the current mail transaction and, during DATA, the spool
 * descriptor the queue gave it.  The process (smtp.c) owns the session
 * table, the limits and the channels; the two talk only through the calls
 * below.
 *
 * Lifecycle: smtp.c creates a session per accepted connection.  When the
 * session ends (QUIT, error, timeout, shutdown) it first calls
 * smtp_session_released() so that smtp.c drops it from its tables and
 * never calls into it again, then it puts itself on a free list that the
 * event loop empties later: a session is never freed while one of its own
 * callbacks, or a caller that just called into it, is on the stack.
 */
#ifndef SEKISHO_SMTP_SESSION_H
#define SEKISHO_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "netaddr.h"
#include "smtp.h"
#include "util.h"

struct dns;
struct event_base;
struct ipc_msg;
struct ipp_verdict;
struct smtp_session;

/* smtp.c -> session */
struct smtp_session *smtp_session_new(struct smtpd *, struct event_base *,
	    uint32_t, int, const struct netaddr *, uint16_t, bool);
/* How the queue answered MSG_CREATE (smtp_session_created). */
enum smtp_created {
	SMTP_CREATED_OK = 0,		/* qid, and the spool descriptor */
	SMTP_CREATED_FAILED,		/* the queue failed: 451 4.3.0 */
	SMTP_CREATED_NOSPACE,		/* spool low or full: 452 4.3.1 */
	SMTP_CREATED_FD_LOST,		/* out of descriptors: 451 4.3.0 */
};

void	 smtp_session_created(struct smtp_session *, enum smtp_created,
	    const char *, int);
void	 smtp_session_committed(struct smtp_session *, const char *, bool,
	    const char *);
void	 smtp_session_shutdown(struct smtp_session *, bool);
void	 smtp_session_ipp_verdict(struct smtp_session *,
	    const struct ipp_verdict *);
void	 smtp_session_reap(void);

/* session -> smtp.c (implemented in smtp.c) */
void	 smtp_queue_send(struct ipc_msg *);
void	 smtp_session_released(uint32_t);
bool	 smtp_shutting_down(void);
struct dns *smtp_nrs_dns(void);
bool	 smtp_spool_refuse(uint64_t);

/*
 * Timeouts (docs/smtpd.md): CommandTimeout is a deadline for a whole
 * command line; DATA has DataTimeout between reads and, for the whole
 * transfer, DataTimeout plus one second per SMTP_DATA_MIN_RATE bytes
 * received (counted up to the size limit).
 */
#define SMTP_DATA_MIN_RATE	1024	/* bytes per second, on average */

long long smtp_data_deadline_ms(long long, uint64_t, uint64_t);

/* The decision after the connect-time checks, a pure function. */
enum smtp_connect_outcome {
	SMTP_CONNECT_GREET = 0,
	SMTP_CONNECT_REFUSE_IPP,	/* blocked by the IP profiler */
	SMTP_CONNECT_REFUSE_NRS,	/* listed in a NrsZones zone */
};

enum smtp_connect_outcome smtp_connect_decide(const struct sekisho_conf *,
	    const char *, const struct ipp_verdict *, const char *, char *,
	    size_t);

/* The Received: header field (RFC 5321 4.4), a pure function. */
struct smtp_received {
	const char	*helo;		/* the client's HELO/EHLO argument */
	const char	*client_ip;	/* "192.0.2.1" or "2001:db8::1" */
	bool		 client_v6;
	const char	*hostname;	/* ours */
	const char	*with;		/* RFC 3848 protocol keyword */
	const char	*qid;
	const char	*tls;		/* "TLSv1.3 TLS_AES_..." or NULL */
	const char	*rcpt;		/* the only recipient, or NULL */
	time_t		 when;
};

#define SMTP_HELO_SHOW_MAX	128	/* HELO bytes shown in the header */

bool	 smtp_received_format(struct buf *, const struct smtp_received *);
const char *smtp_received_with(bool, bool, bool);
void	 smtp_helo_sanitize(char *, size_t, const char *);

#endif
