/*
 * ipp_proto.h: what sekisho-smtpd and sekisho-ipprofiler say to each
 * other (IMSG_IPP_CHECK, IMSG_IPP_VERDICT, IMSG_IPP_EVENT;
 * docs/ipprofiler.md).
 *
 * An event is what one client address did: a set of counters (one
 * connection, its recipients, the unknown ones among them, ...).  The smtp
 * process reports each finished message and each closed session; the
 * queue adds what it learns later (the scan's verdict, a next hop that
 * refuses a recipient as unknown).  The profiler adds the counters to the
 * address's window and applies the rules of foxdns.ini.
 *
 * A verdict answers IMSG_IPP_CHECK: clean, approved (never blocked, and
 * the reputation check is skipped), or blocked temporarily or for good,
 * with a reason for the reply text.
 *
 * Every decoder treats its input as hostile: counts and lengths bounded,
 * strings UTF-8 without control characters, addresses parsed.
 */
#ifndef SEKISHO_IPP_PROTO_H
#define SEKISHO_IPP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

struct ipc_msg;
struct ipc_msg_in;

/* The counters of an event, in wire order. */
enum ipp_counter {
	IPP_C_CONNS = 0,	/* sessions (connections) closed */
	IPP_C_MSGS,		/* messages accepted (250 after DATA) */
	IPP_C_RCPTS,		/* recipients tried (accepted or refused) */
	IPP_C_UNKNOWN,		/* of them: refused or later found not to
				   exist (next hop: 5.1.0, 5.1.1) */
	IPP_C_NULLSENDER,	/* messages accepted from <> (bounces) */
	IPP_C_ERRORS,		/* protocol errors (bad commands, syntax) */
	IPP_C_SCANNED,		/* messages the scanner judged */
	IPP_C_SPAM,		/* of them: spam (at [antispam] level_medium) */
	IPP_C_VIRUS,		/* of them: carrying a virus */
	IPP_C_MAX
};

#define IPP_IP_MAX		64	/* bytes of an address as text */
#define IPP_REASON_MAX		200	/* bytes of a reason */
#define IPP_COUNTER_MAX		1000000	/* per event and counter */

struct ipp_event {
	struct netaddr	 ip;		/* an address: prefix length 128 */
	uint32_t	 c[IPP_C_MAX];
};

enum ipp_state {
	IPP_CLEAN = 0,
	IPP_APPROVED,		/* approved list: never blocked */
	IPP_TEMP,		/* blocked until expires */
	IPP_PERM,		/* blocked until removed */
	IPP_NSTATES
};

struct ipp_verdict {
	enum ipp_state	 state;
	uint64_t	 expires;	/* unix seconds; 0: none */
	char		 reason[IPP_REASON_MAX + 1];
};

const char	*ipp_counter_name(enum ipp_counter);
const char	*ipp_state_name(enum ipp_state);
bool		 ipp_event_empty(const struct ipp_event *);
void		 ipp_event_encode(struct ipc_msg *, const struct ipp_event *);
bool		 ipp_event_decode(struct ipc_msg_in *, struct ipp_event *);
void		 ipp_verdict_encode(struct ipc_msg *,
		    const struct ipp_verdict *);
bool		 ipp_verdict_decode(struct ipc_msg_in *, struct ipp_verdict *);
bool		 ipp_ip_parse(struct netaddr *, const char *);

#endif
