/*
 * smtp.h: the smtp process of sekisho-smtpd (the protocol engine facing
 * the network) and what the parent hands it.
 *
 * The parent fills struct smtpd before it forks (configuration, the TLS
 * context built while root, host names, parsed relay networks), then sends
 * the listening sockets with IMSG_SMTP_LISTENER.  smtp_main() runs the
 * process: listeners, connection limits, the session table and the two
 * channels (parent, queue).  The sessions themselves are smtp_session.c.
 */
#ifndef SEKISHO_SMTP_H
#define SEKISHO_SMTP_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "conf.h"
#include "envelope.h"
#include "netaddr.h"
#include "proc.h"

/* The process ids of sekisho-smtpd's process table (proc.h). */
enum smtpd_proc {
	SMTPD_PROC_PARENT = 0,
	SMTPD_PROC_SMTP,
	SMTPD_PROC_QUEUE,
	SMTPD_PROC_MTA,
	SMTPD_PROC_MAX
};

/*
 * The largest frame the smtp process sends to the queue (an
 * IMSG_QUEUE_MSG_COMMIT with the envelope): the queue's end of the
 * smtp <-> queue channel must accept at least this much payload.
 */
#define SMTPD_QUEUE_MAX_PAYLOAD	(ENVELOPE_MAX_SIZE + 4096)

/* Listener kinds in IMSG_SMTP_LISTENER. */
#define SMTP_LISTENER_SMTP	0	/* plain, STARTTLS offered */
#define SMTP_LISTENER_SMTPS	1	/* implicit TLS (RFC 8314) */

/* Shared by the smtpd processes, set up by the parent before fork. */
struct smtpd {
	struct sekisho_conf	*conf;
	SSL_CTX			*ssl_ctx;	/* NULL: DisableSvrSSLSupport=1 */
	char			 hostname[256];	/* imss hostname or the system's */
	char			 default_domain[256];	/* DefaultDomain or hostname */
	struct netaddr_list	 relay_networks;	/* parsed from conf */
	uid_t			 scanner_uid;	/* scanner_user, or -1 */
	uid_t			 ipprofiler_uid;	/* or -1 */
	/*
	 * Name servers of the reputation check (NRS): DnsServers, or the
	 * system's, read here because the smtp process is chrooted away
	 * from /etc/resolv.conf; "" when NrsZones is empty.  smtpd is
	 * restarted, never reloaded, so what the children inherit stays
	 * right.
	 */
	char			 nrs_servers[1024];
};

int	 smtp_main(const struct proc_def *, const int *, void *);

/*
 * Concurrent connections per client address (for max_connections_per_ip).
 * The table holds only addresses with at least one connection.
 */
struct smtp_iptab;

struct smtp_iptab *smtp_iptab_new(void);
void	 smtp_iptab_free(struct smtp_iptab *);
unsigned smtp_iptab_count(const struct smtp_iptab *, const struct netaddr *);
unsigned smtp_iptab_inc(struct smtp_iptab *, const struct netaddr *);
void	 smtp_iptab_dec(struct smtp_iptab *, const struct netaddr *);
size_t	 smtp_iptab_size(const struct smtp_iptab *);

/* IMSG_QUEUE_MSG_CREATED's status byte. */
#define QUEUE_CREATE_FAILED	0	/* the queue could not create it */
#define QUEUE_CREATE_OK		1	/* qid and the content file's fd */
#define QUEUE_CREATE_NOSPACE	2	/* spool below QueueMinFreeMB, or full */

/*
 * Spool free space (QueueMinFreeMB): the queue measures it, the smtp
 * process (chrooted, it cannot) refuses MAIL and DATA while it is low.
 */
#define SMTP_SPOOL_MIN_FREE_PCT	5	/* never ask more of the fs size */

uint64_t smtp_spool_min_free(long long, uint64_t);
bool	 smtp_spool_low(uint64_t, uint64_t);

/*
 * Descriptors of the smtp process: a reserve for the process itself
 * (channels, listeners, resolver, event loop, a spare to refuse with)
 * and two per session (its connection and, during DATA, the spool file
 * the queue passes), so a session never lacks the second one.
 */
#define SMTP_FD_RESERVE		32
#define SMTP_FD_PER_SESSION	2

unsigned long long smtp_fd_max_sessions(unsigned long long);

#endif
