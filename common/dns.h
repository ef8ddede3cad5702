/*
 * dns.h: asynchronous DNS over c-ares, driven by a libevent event_base.
 *
 * A resolver (struct dns) belongs to one event_base.  Each request gets a
 * 64-bit id and one callback.  The rules every caller may rely on:
 *
 *   - A callback is never called from inside the call that started the
 *     request (dns_query, dns_mx_targets): even an immediate failure such
 *     as a bad name is delivered later, from the event loop.  So a caller
 *     always has the id before its callback can run.
 *   - Each request's callback is called exactly once, unless the request is
 *     cancelled first.  After dns_cancel(id) returns, that callback is never
 *     called (no "cancelled" outcome is delivered: the caller that cancels
 *     is usually going away).  dns_free cancels every request the same way.
 *   - The result handed to a callback (and everything it points to) lives
 *     only until the callback returns; copy what you keep.
 *   - Inside a callback it is allowed to start requests, cancel any
 *     request, and call dns_free.
 *
 * Only DNS is asked: no /etc/hosts, no search list (mail routing and DNS
 * lists want the name exactly as given).  Outcomes are classified for
 * mail: NXDOMAIN and NODATA are different (no MX is not the same as no
 * domain) and permanent; everything that may change with time (SERVFAIL,
 * REFUSED, timeout, network errors) is DNS_TEMPFAIL.
 */
#ifndef SEKISHO_DNS_H
#define SEKISHO_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct dns;

enum dns_type {
	DNS_MX = 1,
	DNS_A,
	DNS_AAAA,
	DNS_PTR,	/* the name is an IPv4 or IPv6 address literal */
	DNS_TXT,
};

enum dns_status {
	DNS_OK = 0,	/* answer (at least one record) */
	DNS_NXDOMAIN,	/* permanent: the name does not exist */
	DNS_NODATA,	/* permanent: the name exists, no record of that type */
	DNS_TEMPFAIL,	/* SERVFAIL, REFUSED, timeout, network: try later */
	DNS_BADNAME,	/* permanent: not a name we can ask for */
	DNS_NULLMX,	/* targets: RFC 7505 null MX, domain accepts no mail */
	DNS_LOOP,	/* targets: best MX is ourselves (RFC 5321 5.1) */
};

/* Address families for dns_opts.families. */
#define DNS_INET4	0x1
#define DNS_INET6	0x2

/* Bounds on what one answer may hand us (the rest is ignored). */
#define DNS_MAX_MX	256	/* MX records kept from one answer */
#define DNS_MAX_ADDRS	64	/* A or AAAA records kept from one answer */
#define DNS_MAX_STRS	64	/* PTR names or TXT strings kept */
#define DNS_TXT_MAX	4096	/* bytes of one TXT record (chunks joined) */
#define DNS_ADDRSTRLEN	INET6_ADDRSTRLEN

struct dns_opts {
	/*
	 * Servers as "ip[:port]" separated by commas ("[v6]:port" with a
	 * port); NULL or "": the system's /etc/resolv.conf.
	 */
	const char		*servers;
	int			 timeout_ms;	/* first try; 0: 2000 */
	int			 tries;		/* per server; 0: 2 */
	/* dns_mx_targets only: */
	const char *const	*self_names;	/* our names, NULL-terminated */
	size_t			 max_addrs;	/* per host; 0: 4 */
	unsigned		 families;	/* DNS_INET4|6; 0: both */
	bool			 prefer_inet4;	/* default: IPv6 first */
	/* random in [0, upper) for equal-preference MX; NULL: arc4random */
	uint32_t		(*rand)(void *, uint32_t);
	void			*rand_arg;
};

struct dns_mx {
	uint16_t	 pref;
	char		*host;		/* "" for the root (null MX) */
};

struct dns_addr {
	int		 family;	/* AF_INET or AF_INET6 */
	union {
		struct in_addr	 v4;
		struct in6_addr	 v6;
	}		 a;
};

struct dns_result {
	uint64_t	 id;
	enum dns_type	 type;
	enum dns_status	 status;
	const char	*name;		/* as asked */
	const char	*error;		/* NULL on DNS_OK, else a short text */
	struct dns_mx	*mx;		/* DNS_MX, in answer order */
	size_t		 nmx;
	struct dns_addr	*addr;		/* DNS_A, DNS_AAAA */
	size_t		 naddr;
	char		**str;		/* DNS_PTR names, DNS_TXT records */
	size_t		 nstr;
};

typedef void (*dns_cb)(const struct dns_result *, void *);

/* One (host, address) to try, in order. */
struct dns_target {
	const char	*host;		/* MX host, or the domain (implicit MX) */
	uint16_t	 pref;
	struct dns_addr	 addr;
};

struct dns_targets {
	uint64_t		 id;
	const char		*domain;
	enum dns_status		 status;	/* DNS_OK or why not */
	bool			 implicit_mx;	/* no MX: the domain itself */
	/* Unless DNS_OK: enhanced status code and a text for an NDR. */
	const char		*dsn;
	const char		*reason;
	const struct dns_target	*t;
	size_t			 n;
};

typedef void (*dns_targets_cb)(const struct dns_targets *, void *);

struct dns	*dns_new(struct event_base *, const struct dns_opts *);
bool		 dns_servers_check(const char *, char *, size_t);
bool		 dns_system_servers(char *, size_t, char *, size_t);
void		 dns_free(struct dns *);
uint64_t	 dns_query(struct dns *, enum dns_type, const char *, dns_cb,
		    void *);
uint64_t	 dns_mx_targets(struct dns *, const char *, size_t,
		    dns_targets_cb, void *);
bool		 dns_cancel(struct dns *, uint64_t);
size_t		 dns_pending(const struct dns *);

bool		 dns_status_permanent(enum dns_status);
const char	*dns_status_name(enum dns_status);
const char	*dns_type_name(enum dns_type);
bool		 dns_addr_format(const struct dns_addr *, char *, size_t);
socklen_t	 dns_addr_sockaddr(const struct dns_addr *, uint16_t,
		    struct sockaddr_storage *);

/*
 * MX selection (mxsel.c), a pure function: from the MX records of one
 * answer, the hosts to try in order.
 */
enum mxsel_result {
	MXSEL_OK = 0,
	MXSEL_NULLMX,	/* RFC 7505: the domain accepts no mail */
	MXSEL_LOOP,	/* we are the best MX: nothing left to try */
	MXSEL_EMPTY,	/* no usable host (IP literals, bad names) */
};

struct mxsel_opts {
	size_t			 max_mx;	/* MaxDNSMxToTry; 0: no cut */
	const char *const	*self_names;	/* NULL-terminated, or NULL */
	uint32_t		(*rand)(void *, uint32_t);
	void			*rand_arg;
};

enum mxsel_result mxsel_select(const struct dns_mx *, size_t,
		    const struct mxsel_opts *, const struct dns_mx **, size_t *);
bool		 mxsel_name_eq(const char *, const char *);
bool		 mxsel_is_root(const char *);
bool		 mxsel_is_self(const char *, const char *const *);

#endif
