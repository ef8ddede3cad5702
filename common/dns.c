/*
 * dns.c: c-ares glue for libevent, DNS queries for mail, MX routing.
 *
 * Owns one c-ares channel per struct dns.  c-ares tells us which sockets
 * it wants watched (ARES_OPT_SOCK_STATE_CB); each gets a persistent
 * libevent event that calls ares_process_fd, and one timer follows
 * ares_timeout.  Nothing here blocks: the only file c-ares reads is
 * /etc/resolv.conf, once, in dns_new.
 *
 * Request lifetime.  A struct dns_req is "live" while its callback is still
 * owed (it is then in the id hash, so dns_cancel finds it), "in_ares" while
 * c-ares holds a pointer to it, and "deferred" while a completion waits in
 * an event to be delivered (completions that c-ares reports from inside
 * ares_query, before the caller has its id).  It is freed when it is none
 * of these.  Cancelling only clears "live": the c-ares query runs on and
 * its completion frees the request without calling anyone.
 *
 * Re-entrancy.  Callbacks run inside ares_process_fd (or the deferred
 * event); they may start and cancel requests and call dns_free.  Every
 * entry point from the event loop counts its depth; dns_free inside a
 * callback cancels everything at once and leaves the actual destruction
 * (ares_destroy) to the outermost entry point, after c-ares has returned.
 *
 * dns_mx_targets is a job over the same machinery: an MX query, then A
 * and AAAA queries for the hosts mxsel_select chose (or for the domain
 * itself when there is no MX), then one ordered target list.
 */
#include <sys/queue.h>

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <event2/event.h>

#include "dns.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define DNS_BUCKETS		256
#define DNS_TIMEOUT_MS		2000
#define DNS_TRIES		2
#define DNS_ADDRS_PER_HOST	4
#define DNS_REASON_MAX		1024

struct dns_mxt;

struct dns_req {
	LIST_ENTRY(dns_req)	 hash;		/* while live */
	TAILQ_ENTRY(dns_req)	 all;		/* until freed */
	struct dns		*dns;
	uint64_t		 id;
	enum dns_type		 type;
	char			*name;
	dns_cb			 cb;
	void			*arg;
	struct dns_mxt		*mxt;		/* a dns_mx_targets job */
	bool			 live;
	bool			 in_ares;
	bool			 submitting;	/* inside ares_query */
	struct event		*defer;
	int			 dstatus;
	unsigned char		*dabuf;
	int			 dalen;
	int			 pfamily;	/* DNS_PTR: the address asked */
	union {
		struct in_addr	 v4;
		struct in6_addr	 v6;
	}			 paddr;
};

LIST_HEAD(dns_bucket, dns_req);
TAILQ_HEAD(dns_reqs, dns_req);

struct dns_sock {
	ares_socket_t		 fd;
	short			 what;
	struct event		*ev;
};

struct dns {
	struct event_base	*base;
	ares_channel		 ch;
	struct event		*timer;
	struct dns_sock		*socks;
	size_t			 nsocks;
	size_t			 capsocks;
	struct dns_bucket	 buckets[DNS_BUCKETS];
	struct dns_reqs		 all;
	uint64_t		 next_id;
	size_t			 npending;
	int			 depth;
	bool			 dying;
	char			**self;		/* NULL-terminated */
	size_t			 max_addrs;
	unsigned		 families;
	bool			 prefer_inet4;
	uint32_t		(*rand)(void *, uint32_t);
	void			*rand_arg;
};

struct dns_mxt_host {
	struct dns_mxt		*mxt;
	char			*name;
	uint16_t		 pref;
	uint64_t		 id[2];		/* [0] A, [1] AAAA; 0: done */
	bool			 asked[2];
	enum dns_status		 st[2];
	const char		*err[2];
	struct dns_addr		*addr[2];
	size_t			 naddr[2];
};

struct dns_mxt {
	struct dns		*dns;
	struct dns_req		*req;
	char			*domain;
	size_t			 max_mx;
	dns_targets_cb		 cb;
	void			*arg;
	uint64_t		 mx_id;
	bool			 implicit;
	struct dns_mxt_host	*hosts;
	size_t			 nhosts;
	size_t			 waiting;
};

static void	 dns_destroy(struct dns *);
static void	 dns_req_cancel(struct dns_req *);
static void	 dns_timer_update(struct dns *);
static void	 dns_mxt_free(struct dns_mxt *);
static void	 dns_mxt_fail(struct dns_mxt *, enum dns_status, const char *,
		    ...) __attribute__((format(printf, 3, 4)));

/* dns_status_permanent: the outcome will not change by asking again. */
bool
dns_status_permanent(enum dns_status st)
{
	return st != DNS_OK && st != DNS_TEMPFAIL;
}

/* dns_status_name: a short token for logs. */
const char *
dns_status_name(enum dns_status st)
{
	switch (st) {
	case DNS_OK:		return "ok";
	case DNS_NXDOMAIN:	return "nxdomain";
	case DNS_NODATA:	return "nodata";
	case DNS_TEMPFAIL:	return "tempfail";
	case DNS_BADNAME:	return "badname";
	case DNS_NULLMX:	return "nullmx";
	case DNS_LOOP:		return "loop";
	}
	return "unknown";
}

/* dns_type_name: the record type as written in zone files. */
const char *
dns_type_name(enum dns_type t)
{
	switch (t) {
	case DNS_MX:	return "MX";
	case DNS_A:	return "A";
	case DNS_AAAA:	return "AAAA";
	case DNS_PTR:	return "PTR";
	case DNS_TXT:	return "TXT";
	}
	return "?";
}

/* dns_classify: a c-ares status as our outcome and its text. */
static enum dns_status
dns_classify(int ast, enum dns_type type, const char **text)
{
	switch (ast) {
	case ARES_SUCCESS:
		*text = NULL;
		return DNS_OK;
	case ARES_ENOTFOUND:
		*text = "Host not found";
		return DNS_NXDOMAIN;
	case ARES_ENODATA:
		*text = (type == DNS_A || type == DNS_AAAA) ?
		    "No address associated with hostname" :
		    "No data of the requested type";
		return DNS_NODATA;
	case ARES_EBADNAME:
		*text = "Invalid domain name";
		return DNS_BADNAME;
	case ARES_ESERVFAIL:
		*text = "Host not found, try again (server failure)";
		break;
	case ARES_ETIMEOUT:
		*text = "Host not found, try again (timeout)";
		break;
	case ARES_EREFUSED:
		*text = "Host not found, try again (query refused)";
		break;
	case ARES_ECONNREFUSED:
		/*
		 * c-ares 1.18 retries a SERVFAIL or REFUSED answer on the
		 * next server and reports the end of that as ECONNREFUSED,
		 * the same as an ICMP port unreachable.
		 */
		*text = "Host not found, try again (server failure, refused "
		    "or unreachable)";
		break;
	case ARES_EFORMERR:
	case ARES_EBADRESP:
	case ARES_EOF:
		*text = "Host not found, try again (bad response)";
		break;
	default:
		*text = "Host not found, try again";
		break;
	}
	return DNS_TEMPFAIL;
}

/* dns_addr_format: the address as text. */
bool
dns_addr_format(const struct dns_addr *a, char *dst, size_t len)
{
	return inet_ntop(a->family, &a->a, dst, len) != NULL;
}

/* dns_addr_sockaddr: the address and port as a sockaddr; 0 if no family. */
socklen_t
dns_addr_sockaddr(const struct dns_addr *a, uint16_t port,
    struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr = a->a.v4;
		return sizeof(*sin);
	}
	if (a->family == AF_INET6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = a->a.v6;
		return sizeof(*sin6);
	}
	return 0;
}

/* dns_server_one: check one "ip", "ip:port", "[v6]" or "[v6]:port". */
static bool
dns_server_one(const char *s, size_t len, char *err, size_t errlen)
{
	char		 host[INET6_ADDRSTRLEN + 8], *port = NULL, *close;
	struct in6_addr	 a6;
	struct in_addr	 a4;
	long long	 p;

	if (len == 0 || len >= sizeof(host)) {
		str_printf(err, errlen, "DNS server %s: not an address",
		    len == 0 ? "(empty)" : "(too long)");
		return false;
	}
	memcpy(host, s, len);
	host[len] = '\0';
	if (host[0] == '[') {
		if ((close = strchr(host, ']')) == NULL)
			goto bad;
		*close = '\0';
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			goto bad;
		if (inet_pton(AF_INET6, host + 1, &a6) != 1)
			goto bad;
	} else if (inet_pton(AF_INET6, host, &a6) != 1) {
		if ((port = strchr(host, ':')) != NULL)
			*port++ = '\0';
		if (inet_pton(AF_INET, host, &a4) != 1)
			goto bad;
	}
	if (port != NULL && !str_to_ll(port, 1, 65535, &p))
		goto bad;
	return true;
 bad:
	str_printf(err, errlen, "DNS server \"%.*s\": not ip[:port]",
	    (int)len, s);
	return false;
}

/* dns_servers_check: validate a comma-separated "ip[:port]" list. */
bool
dns_servers_check(const char *list, char *err, size_t errlen)
{
	const char	*p = list, *e;
	size_t		 len;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strcspn(p, ",");
		len = (size_t)(e - p);
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (!dns_server_one(p, len, err, errlen))
			return false;
		if (*e == '\0')
			return true;
		p = e + 1;
	}
}

/*
 * dns_system_servers: the system's name servers (/etc/resolv.conf, as
 * c-ares reads it) as a dns_opts.servers list, for a process that will
 * not see that file (chrooted).  False with the reason in err.
 */
bool
dns_system_servers(char *out, size_t len, char *err, size_t errlen)
{
	struct ares_addr_port_node *head = NULL, *n;
	ares_channel	 ch;
	char		 ip[INET6_ADDRSTRLEN], one[INET6_ADDRSTRLEN + 16];
	size_t		 o = 0;
	int		 rc;

	if (len == 0)
		return false;
	out[0] = '\0';
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		str_printf(err, errlen, "ares_library_init: %s",
		    ares_strerror(rc));
		return false;
	}
	if ((rc = ares_init(&ch)) != ARES_SUCCESS) {
		str_printf(err, errlen, "ares_init: %s", ares_strerror(rc));
		ares_library_cleanup();
		return false;
	}
	if ((rc = ares_get_servers_ports(ch, &head)) != ARES_SUCCESS)
		str_printf(err, errlen, "ares_get_servers_ports: %s",
		    ares_strerror(rc));
	for (n = head; rc == ARES_SUCCESS && n != NULL; n = n->next) {
		if (inet_ntop(n->family, &n->addr, ip, sizeof(ip)) == NULL)
			continue;
		if (n->udp_port == 0 || n->udp_port == 53)
			str_lcpy(one, ip, sizeof(one));
		else if (!str_printf(one, sizeof(one), n->family == AF_INET6 ?
		    "[%s]:%d" : "%s:%d", ip, n->udp_port))
			continue;
		if (o + strlen(one) + 2 > len)
			break;
		o += (size_t)snprintf(out + o, len - o, "%s%s", o ? "," : "",
		    one);
	}
	if (head != NULL)
		ares_free_data(head);
	ares_destroy(ch);
	ares_library_cleanup();
	if (rc == ARES_SUCCESS && o == 0) {
		str_lcpy(err, "no name server configured", errlen);
		return false;
	}
	return rc == ARES_SUCCESS;
}

/* dns_sock_cb: a c-ares socket is ready. */
static void
dns_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns	*dns = arg;

	dns->depth++;
	ares_process_fd(dns->ch,
	    (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
	    (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
	if (--dns->depth == 0 && dns->dying)
		dns_destroy(dns);
	else
		dns_timer_update(dns);
}

/* dns_timer_cb: let c-ares retry or time out its queries. */
static void
dns_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns	*dns = arg;

	dns->depth++;
	ares_process_fd(dns->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	if (--dns->depth == 0 && dns->dying)
		dns_destroy(dns);
	else
		dns_timer_update(dns);
}

/* dns_timer_update: arm the timer for c-ares' next deadline. */
static void
dns_timer_update(struct dns *dns)
{
	struct timeval	 tv, *tvp;

	if (dns->dying)
		return;
	if ((tvp = ares_timeout(dns->ch, NULL, &tv)) == NULL)
		evtimer_del(dns->timer);
	else if (evtimer_add(dns->timer, tvp) == -1)
		fatalx("dns_timer_update: evtimer_add failed");
}

/* dns_sock_state_cb: c-ares wants a socket watched differently. */
static void
dns_sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns	*dns = data;
	struct dns_sock	*s = NULL;
	short		 what;
	size_t		 i;

	what = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
	for (i = 0; i < dns->nsocks; i++)
		if (dns->socks[i].fd == fd)
			s = &dns->socks[i];
	if (what == 0) {
		if (s != NULL) {
			event_free(s->ev);
			*s = dns->socks[--dns->nsocks];
		}
		return;
	}
	if (s == NULL) {
		if (dns->nsocks == dns->capsocks) {
			dns->capsocks = dns->capsocks ? dns->capsocks * 2 : 4;
			dns->socks = xreallocarray(dns->socks, dns->capsocks,
			    sizeof(*dns->socks));
		}
		s = &dns->socks[dns->nsocks++];
		s->fd = fd;
	} else if (s->what == what)
		return;
	else
		event_free(s->ev);
	s->what = what;
	if ((s->ev = event_new(dns->base, fd, what | EV_PERSIST, dns_sock_cb,
	    dns)) == NULL || event_add(s->ev, NULL) == -1)
		fatalx("dns_sock_state_cb: fd %d: cannot watch", (int)fd);
}

/* dns_self_copy: our own names, copied. */
static char **
dns_self_copy(const char *const *self)
{
	char	**v;
	size_t	  n = 0, i;

	while (self != NULL && self[n] != NULL)
		n++;
	v = xcalloc(n + 1, sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = xstrdup(self[i]);
	return v;
}

/* dns_new: a resolver on base; NULL (logged) on bad options. */
struct dns *
dns_new(struct event_base *base, const struct dns_opts *o)
{
	static const struct dns_opts	 defaults;
	struct ares_options		 ao;
	struct dns			*dns;
	char				 err[256];
	int				 rc;
	size_t				 i;

	if (o == NULL)
		o = &defaults;
	if (o->servers != NULL && o->servers[0] != '\0' &&
	    !dns_servers_check(o->servers, err, sizeof(err))) {
		log_warnx("dns_new: %s", err);
		return NULL;
	}
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		log_warnx("dns_new: ares_library_init: %s", ares_strerror(rc));
		return NULL;
	}
	dns = xcalloc(1, sizeof(*dns));
	dns->base = base;
	dns->next_id = 1;
	for (i = 0; i < DNS_BUCKETS; i++)
		LIST_INIT(&dns->buckets[i]);
	TAILQ_INIT(&dns->all);
	memset(&ao, 0, sizeof(ao));
	ao.sock_state_cb = dns_sock_state_cb;
	ao.sock_state_cb_data = dns;
	ao.timeout = o->timeout_ms > 0 ? o->timeout_ms : DNS_TIMEOUT_MS;
	ao.tries = o->tries > 0 ? o->tries : DNS_TRIES;
	rc = ares_init_options(&dns->ch, &ao,
	    ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		log_warnx("dns_new: ares_init_options: %s", ares_strerror(rc));
		free(dns);
		ares_library_cleanup();
		return NULL;
	}
	if (o->servers != NULL && o->servers[0] != '\0' &&
	    (rc = ares_set_servers_ports_csv(dns->ch, o->servers)) !=
	    ARES_SUCCESS) {
		log_warnx("dns_new: servers %s: %s", o->servers,
		    ares_strerror(rc));
		ares_destroy(dns->ch);
		free(dns);
		ares_library_cleanup();
		return NULL;
	}
	if ((dns->timer = evtimer_new(base, dns_timer_cb, dns)) == NULL)
		fatalx("dns_new: evtimer_new failed");
	dns->self = dns_self_copy(o->self_names);
	dns->max_addrs = o->max_addrs > 0 ? o->max_addrs : DNS_ADDRS_PER_HOST;
	dns->families = (o->families & (DNS_INET4 | DNS_INET6)) ?
	    (o->families & (DNS_INET4 | DNS_INET6)) : DNS_INET4 | DNS_INET6;
	dns->prefer_inet4 = o->prefer_inet4;
	dns->rand = o->rand;
	dns->rand_arg = o->rand_arg;
	return dns;
}

/* dns_cancel_all: cancel every live request; no callback will run. */
static void
dns_cancel_all(struct dns *dns)
{
	struct dns_req	*req;
	size_t		 i;

	for (i = 0; i < DNS_BUCKETS; i++)
		while ((req = LIST_FIRST(&dns->buckets[i])) != NULL)
			dns_req_cancel(req);
}

/* dns_destroy: tear the resolver down (no callback runs). */
static void
dns_destroy(struct dns *dns)
{
	struct dns_req	*req;
	size_t		 i;
	char		**p;

	dns->dying = true;
	dns->depth++;
	dns_cancel_all(dns);
	/* c-ares calls every query back with ARES_EDESTRUCTION: freed. */
	ares_destroy(dns->ch);
	while ((req = TAILQ_FIRST(&dns->all)) != NULL) {
		log_warnx("dns_destroy: request %llu still held",
		    (unsigned long long)req->id);
		TAILQ_REMOVE(&dns->all, req, all);
		if (req->defer != NULL)
			event_free(req->defer);
		free(req->dabuf);
		free(req->name);
		free(req);
	}
	for (i = 0; i < dns->nsocks; i++)
		event_free(dns->socks[i].ev);
	free(dns->socks);
	event_free(dns->timer);
	for (p = dns->self; *p != NULL; p++)
		free(*p);
	free(dns->self);
	free(dns);
	ares_library_cleanup();
}

/*
 * dns_free: cancel every request (no callback runs after this) and free
 * the resolver; inside a callback the destruction completes when the
 * callback returns to the event loop.
 */
void
dns_free(struct dns *dns)
{
	if (dns == NULL || dns->dying)
		return;
	if (dns->depth > 0) {
		dns->dying = true;
		dns_cancel_all(dns);
		evtimer_del(dns->timer);
		return;
	}
	dns_destroy(dns);
}

/* dns_pending: requests whose callback is still owed (jobs and parts). */
size_t
dns_pending(const struct dns *dns)
{
	return dns->npending;
}

/* dns_req_new: a live request with a fresh id. */
static struct dns_req *
dns_req_new(struct dns *dns, enum dns_type type, const char *name)
{
	struct dns_req	*req;

	req = xcalloc(1, sizeof(*req));
	req->dns = dns;
	req->id = dns->next_id++;
	req->type = type;
	req->name = xstrdup(name);
	req->live = true;
	LIST_INSERT_HEAD(&dns->buckets[req->id % DNS_BUCKETS], req, hash);
	TAILQ_INSERT_TAIL(&dns->all, req, all);
	dns->npending++;
	return req;
}

/* dns_req_release: free the request once nobody refers to it. */
static void
dns_req_release(struct dns_req *req)
{
	if (req->live || req->in_ares || req->defer != NULL)
		return;
	TAILQ_REMOVE(&req->dns->all, req, all);
	free(req->dabuf);
	free(req->name);
	free(req);
}

/* dns_req_unlink: the callback is no longer owed. */
static void
dns_req_unlink(struct dns_req *req)
{
	LIST_REMOVE(req, hash);
	req->live = false;
	req->dns->npending--;
}

/* dns_req_cancel: forget a live request; its callback will never run. */
static void
dns_req_cancel(struct dns_req *req)
{
	struct dns_mxt	*mxt;

	dns_req_unlink(req);
	if (req->defer != NULL) {
		event_free(req->defer);
		req->defer = NULL;
	}
	if ((mxt = req->mxt) != NULL) {
		req->mxt = NULL;
		dns_mxt_free(mxt);
	}
	dns_req_release(req);
}

/* dns_cancel: cancel request id; true if it was pending. */
bool
dns_cancel(struct dns *dns, uint64_t id)
{
	struct dns_req	*req;

	if (id == 0)
		return false;
	LIST_FOREACH(req, &dns->buckets[id % DNS_BUCKETS], hash)
		if (req->id == id) {
			dns_req_cancel(req);
			return true;
		}
	return false;
}

/* dns_result_clear: free what a parse put into a result. */
static void
dns_result_clear(struct dns_result *r)
{
	size_t	 i;

	for (i = 0; i < r->nmx; i++)
		free(r->mx[i].host);
	free(r->mx);
	free(r->addr);
	for (i = 0; i < r->nstr; i++)
		free(r->str[i]);
	free(r->str);
}

/* dns_parse_mx: MX records into r. */
static int
dns_parse_mx(const unsigned char *abuf, int alen, struct dns_result *r)
{
	struct ares_mx_reply	*head, *m;
	size_t			 n = 0;
	int			 rc;

	if ((rc = ares_parse_mx_reply(abuf, alen, &head)) != ARES_SUCCESS)
		return rc;
	for (m = head; m != NULL && n < DNS_MAX_MX; m = m->next)
		n++;
	if (n == 0) {
		ares_free_data(head);
		return ARES_ENODATA;
	}
	r->mx = xcalloc(n, sizeof(*r->mx));
	for (m = head; m != NULL && r->nmx < n; m = m->next) {
		r->mx[r->nmx].pref = m->priority;
		r->mx[r->nmx++].host = xstrdup(m->host);
	}
	ares_free_data(head);
	return ARES_SUCCESS;
}

/* dns_parse_addr: A or AAAA records into r. */
static int
dns_parse_addr(const unsigned char *abuf, int alen, struct dns_result *r)
{
	struct ares_addrttl	 a4[DNS_MAX_ADDRS];
	struct ares_addr6ttl	 a6[DNS_MAX_ADDRS];
	int			 n = DNS_MAX_ADDRS, rc, i;

	if (r->type == DNS_A)
		rc = ares_parse_a_reply(abuf, alen, NULL, a4, &n);
	else
		rc = ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n);
	if (rc != ARES_SUCCESS)
		return rc;
	if (n <= 0)
		return ARES_ENODATA;
	r->addr = xcalloc((size_t)n, sizeof(*r->addr));
	for (i = 0; i < n; i++) {
		if (r->type == DNS_A) {
			r->addr[i].family = AF_INET;
			r->addr[i].a.v4 = a4[i].ipaddr;
		} else {
			r->addr[i].family = AF_INET6;
			memcpy(&r->addr[i].a.v6, &a6[i].ip6addr,
			    sizeof(r->addr[i].a.v6));
		}
	}
	r->naddr = (size_t)n;
	return ARES_SUCCESS;
}

/* dns_str_add: append a copy of s to r->str unless full or present. */
static void
dns_str_add(struct dns_result *r, const char *s)
{
	size_t	 i;

	if (r->nstr >= DNS_MAX_STRS)
		return;
	for (i = 0; i < r->nstr; i++)
		if (strcmp(r->str[i], s) == 0)
			return;
	if (r->str == NULL)
		r->str = xcalloc(DNS_MAX_STRS, sizeof(*r->str));
	r->str[r->nstr++] = xstrdup(s);
}

/* dns_parse_ptr: PTR names into r. */
static int
dns_parse_ptr(const struct dns_req *req, const unsigned char *abuf, int alen,
    struct dns_result *r)
{
	struct hostent	*he = NULL;
	int		 rc, len;
	size_t		 i;

	len = req->pfamily == AF_INET ? 4 : 16;
	rc = ares_parse_ptr_reply(abuf, alen, &req->paddr, len, req->pfamily,
	    &he);
	if (rc != ARES_SUCCESS)
		return rc;
	if (he->h_name != NULL && he->h_name[0] != '\0')
		dns_str_add(r, he->h_name);
	for (i = 0; he->h_aliases != NULL && he->h_aliases[i] != NULL; i++)
		dns_str_add(r, he->h_aliases[i]);
	ares_free_hostent(he);
	return r->nstr > 0 ? ARES_SUCCESS : ARES_ENODATA;
}

/* dns_txt_flush: end one TXT record (chunks joined, NULs replaced). */
static void
dns_txt_flush(struct dns_result *r, struct buf *b, bool *open)
{
	size_t	 i;

	if (!*open)
		return;
	for (i = 0; i < b->len; i++)
		if (b->data[i] == '\0')
			b->data[i] = '?';
	dns_str_add(r, buf_cstr(b));
	buf_reset(b);
	*open = false;
}

/* dns_parse_txt: TXT records into r, one string per record. */
static int
dns_parse_txt(const unsigned char *abuf, int alen, struct dns_result *r)
{
	struct ares_txt_ext	*head, *t;
	struct buf		 b;
	bool			 open = false;
	size_t			 room;
	int			 rc;

	if ((rc = ares_parse_txt_reply_ext(abuf, alen, &head)) != ARES_SUCCESS)
		return rc;
	buf_init(&b, DNS_TXT_MAX);
	for (t = head; t != NULL; t = t->next) {
		if (t->record_start)
			dns_txt_flush(r, &b, &open);
		open = true;
		room = DNS_TXT_MAX - b.len;	/* longer records are cut */
		buf_add(&b, t->txt, t->length < room ? t->length : room);
	}
	dns_txt_flush(r, &b, &open);
	buf_free(&b);
	ares_free_data(head);
	return r->nstr > 0 ? ARES_SUCCESS : ARES_ENODATA;
}

/* dns_parse: turn a c-ares completion into a result. */
static void
dns_parse(const struct dns_req *req, int ast, const unsigned char *abuf,
    int alen, struct dns_result *r)
{
	if (ast == ARES_SUCCESS && abuf == NULL)
		ast = ARES_EBADRESP;
	if (ast == ARES_SUCCESS) {
		switch (req->type) {
		case DNS_MX:
			ast = dns_parse_mx(abuf, alen, r);
			break;
		case DNS_A:
		case DNS_AAAA:
			ast = dns_parse_addr(abuf, alen, r);
			break;
		case DNS_PTR:
			ast = dns_parse_ptr(req, abuf, alen, r);
			break;
		case DNS_TXT:
			ast = dns_parse_txt(abuf, alen, r);
			break;
		}
		if (ast != ARES_SUCCESS) {
			dns_result_clear(r);
			r->mx = NULL;
			r->addr = NULL;
			r->str = NULL;
			r->nmx = r->naddr = r->nstr = 0;
		}
	}
	if (ast == ARES_EDESTRUCTION || ast == ARES_ECANCELLED)
		ast = ARES_ESERVFAIL;	/* cannot happen to a live request */
	r->status = dns_classify(ast, req->type, &r->error);
}

/* dns_req_finish: deliver a completion to the caller, free the request. */
static void
dns_req_finish(struct dns_req *req, int ast, const unsigned char *abuf,
    int alen)
{
	struct dns_result	 r;

	memset(&r, 0, sizeof(r));
	r.id = req->id;
	r.type = req->type;
	r.name = req->name;
	dns_parse(req, ast, abuf, alen, &r);
	dns_req_unlink(req);
	req->cb(&r, req->arg);
	dns_result_clear(&r);
	dns_req_release(req);
}

/* dns_defer_cb: deliver a completion kept back from inside ares_query. */
static void
dns_defer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_req	*req = arg;
	struct dns	*dns = req->dns;

	event_free(req->defer);
	req->defer = NULL;
	dns->depth++;
	dns_req_finish(req, req->dstatus, req->dabuf, req->dalen);
	if (--dns->depth == 0 && dns->dying)
		dns_destroy(dns);
	else
		dns_timer_update(dns);
}

/* dns_req_defer: keep a completion to deliver from the event loop. */
static void
dns_req_defer(struct dns_req *req, int ast, const unsigned char *abuf,
    int alen)
{
	req->dstatus = ast;
	if (abuf != NULL && alen > 0) {
		req->dabuf = xmalloc((size_t)alen);
		memcpy(req->dabuf, abuf, (size_t)alen);
		req->dalen = alen;
	}
	if ((req->defer = event_new(req->dns->base, -1, 0, dns_defer_cb,
	    req)) == NULL)
		fatalx("dns_req_defer: event_new failed");
	event_active(req->defer, EV_TIMEOUT, 0);
}

/* dns_ares_cb: c-ares is done with a query. */
static void
dns_ares_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
	struct dns_req	*req = arg;

	req->in_ares = false;
	if (!req->live)
		dns_req_release(req);
	else if (req->submitting)
		dns_req_defer(req, status, abuf, alen);
	else
		dns_req_finish(req, status, abuf, alen);
}

/* dns_name_ok: a name we are willing to put in a query. */
static bool
dns_name_ok(const char *name)
{
	size_t	 n = strlen(name), i;

	if (n == 0 || n > 254 || (n == 254 && name[253] != '.'))
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)name[i] <= ' ' ||
		    (unsigned char)name[i] >= 0x7f || name[i] == '\\')
			return false;
	return true;
}

/* dns_ptr_name: the in-addr.arpa or ip6.arpa name of an address literal. */
static bool
dns_ptr_name(struct dns_req *req, char *dst, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	const uint8_t		*b;
	struct buf		 q;
	bool			 ok;
	int			 i;

	if (inet_pton(AF_INET, req->name, &req->paddr.v4) == 1) {
		req->pfamily = AF_INET;
		b = (const uint8_t *)&req->paddr.v4;
		return str_printf(dst, len, "%u.%u.%u.%u.in-addr.arpa",
		    b[3], b[2], b[1], b[0]);
	}
	if (inet_pton(AF_INET6, req->name, &req->paddr.v6) != 1)
		return false;
	req->pfamily = AF_INET6;
	b = req->paddr.v6.s6_addr;
	buf_init(&q, len - 1);
	ok = true;
	for (i = 15; i >= 0 && ok; i--)
		ok = buf_printf(&q, "%c.%c.", hex[b[i] & 0xf], hex[b[i] >> 4]);
	ok = ok && buf_addstr(&q, "ip6.arpa");
	if (ok)
		str_lcpy(dst, buf_cstr(&q), len);
	buf_free(&q);
	return ok;
}

/* dns_qtype: the wire type of a query. */
static int
dns_qtype(enum dns_type type)
{
	switch (type) {
	case DNS_MX:	return ns_t_mx;
	case DNS_A:	return ns_t_a;
	case DNS_AAAA:	return ns_t_aaaa;
	case DNS_PTR:	return ns_t_ptr;
	case DNS_TXT:	return ns_t_txt;
	}
	fatalx("dns_qtype: type %d", (int)type);
}

/*
 * dns_query: ask for records of one type; the id, or 0 when the resolver
 * is being freed (then cb never runs).  For DNS_PTR the name is an IPv4 or
 * IPv6 address.  Bad names come back as DNS_BADNAME through cb.
 */
uint64_t
dns_query(struct dns *dns, enum dns_type type, const char *name, dns_cb cb,
    void *arg)
{
	struct dns_req	*req;
	char		 qname[NS_MAXDNAME];
	uint64_t	 id;

	if (dns->dying)
		return 0;
	req = dns_req_new(dns, type, name);
	req->cb = cb;
	req->arg = arg;
	id = req->id;
	if (!dns_name_ok(name) || (type == DNS_PTR &&
	    !dns_ptr_name(req, qname, sizeof(qname)))) {
		dns_req_defer(req, ARES_EBADNAME, NULL, 0);
		return id;
	}
	if (type != DNS_PTR)
		str_lcpy(qname, name, sizeof(qname));
	dns->depth++;
	req->in_ares = req->submitting = true;
	ares_query(dns->ch, qname, ns_c_in, dns_qtype(type), dns_ares_cb, req);
	/* Still allocated: a completion from inside was deferred. */
	req->submitting = false;
	if (--dns->depth == 0 && dns->dying)
		dns_destroy(dns);
	else
		dns_timer_update(dns);
	return id;
}

/* dns_mxt_free: cancel a job's queries and free it. */
static void
dns_mxt_free(struct dns_mxt *mxt)
{
	struct dns_mxt_host	*h;
	size_t			 i;

	dns_cancel(mxt->dns, mxt->mx_id);
	for (i = 0; i < mxt->nhosts; i++) {
		h = &mxt->hosts[i];
		dns_cancel(mxt->dns, h->id[0]);
		dns_cancel(mxt->dns, h->id[1]);
		free(h->addr[0]);
		free(h->addr[1]);
		free(h->name);
	}
	free(mxt->hosts);
	free(mxt->domain);
	free(mxt);
}

/* dns_mxt_finish: hand the outcome to the caller and end the job. */
static void
dns_mxt_finish(struct dns_mxt *mxt, struct dns_targets *t)
{
	struct dns_req	*req = mxt->req;

	t->id = req->id;
	t->domain = mxt->domain;
	t->implicit_mx = mxt->implicit;
	req->mxt = NULL;
	dns_req_unlink(req);
	mxt->cb(t, mxt->arg);
	dns_mxt_free(mxt);
	dns_req_release(req);
}

/* dns_mxt_fail: end the job with an error for an NDR or a deferral. */
static void
dns_mxt_fail(struct dns_mxt *mxt, enum dns_status st, const char *fmt, ...)
{
	struct dns_targets	 t;
	char			 reason[DNS_REASON_MAX], esc[LOG_ESC_MAX];
	va_list			 ap;

	va_start(ap, fmt);
	if (vsnprintf(reason, sizeof(reason), fmt, ap) < 0)
		str_lcpy(reason, "DNS lookup failed", sizeof(reason));
	va_end(ap);
	memset(&t, 0, sizeof(t));
	t.status = st;
	switch (st) {
	case DNS_TEMPFAIL:	t.dsn = "4.4.3"; break;
	case DNS_NULLMX:	t.dsn = "5.1.10"; break;
	case DNS_LOOP:		t.dsn = "5.4.6"; break;
	case DNS_BADNAME:	t.dsn = "5.1.2"; break;
	default:		t.dsn = "5.4.4"; break;
	}
	t.reason = reason;
	log_kv(LOG_LVL_INFO, "event=dns_mx_targets id=%llu domain=%s status=%s "
	    "dsn=%s", (unsigned long long)mxt->req->id,
	    log_esc(esc, sizeof(esc), mxt->domain), dns_status_name(st), t.dsn);
	dns_mxt_finish(mxt, &t);
}

/* dns_mxt_addr_seen: the address is already a target. */
static bool
dns_mxt_addr_seen(const struct dns_target *t, size_t n,
    const struct dns_addr *a)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (t[i].addr.family == a->family &&
		    memcmp(&t[i].addr.a, &a->a, a->family == AF_INET ?
		    sizeof(a->a.v4) : sizeof(a->a.v6)) == 0)
			return true;
	return false;
}

/* dns_mxt_host_targets: one host's addresses, families interleaved. */
static size_t
dns_mxt_host_targets(const struct dns_mxt *mxt, const struct dns_mxt_host *h,
    struct dns_target *t, size_t n)
{
	size_t	 k[2] = { 0, 0 }, added = 0, max = mxt->dns->max_addrs;
	int	 f, turn = mxt->dns->prefer_inet4 ? 0 : 1;

	while (added < max && (k[0] < h->naddr[0] || k[1] < h->naddr[1])) {
		f = turn;
		if (k[f] >= h->naddr[f])
			f = !f;
		turn = !f;
		if (dns_mxt_addr_seen(t, n + added, &h->addr[f][k[f]])) {
			k[f]++;
			continue;
		}
		t[n + added].host = h->name;
		t[n + added].pref = h->pref;
		t[n + added].addr = h->addr[f][k[f]++];
		added++;
	}
	return added;
}

/* dns_mxt_done: all address lookups are in: build the target list. */
static void
dns_mxt_done(struct dns_mxt *mxt)
{
	const struct dns_mxt_host	*h, *bad = NULL;
	struct dns_targets		 t;
	struct dns_target		*v;
	size_t				 i, n = 0;
	int				 f, badf = 0;

	v = xcalloc(mxt->nhosts * mxt->dns->max_addrs, sizeof(*v));
	for (i = 0; i < mxt->nhosts; i++)
		n += dns_mxt_host_targets(mxt, &mxt->hosts[i], v, n);
	if (n > 0) {
		memset(&t, 0, sizeof(t));
		t.status = DNS_OK;
		t.t = v;
		t.n = n;
		dns_mxt_finish(mxt, &t);
		free(v);
		return;
	}
	free(v);
	/* No address at all: temporary if any lookup may yet succeed. */
	for (i = 0; i < mxt->nhosts; i++)
		for (f = 1; f >= 0; f--) {
			h = &mxt->hosts[i];
			if (!h->asked[f] || h->st[f] == DNS_OK)
				continue;
			if (bad == NULL || (h->st[f] == DNS_TEMPFAIL &&
			    bad->st[badf] != DNS_TEMPFAIL)) {
				bad = h;
				badf = f;
			}
		}
	if (bad == NULL)
		fatalx("dns_mxt_done: job %llu: no address and no error",
		    (unsigned long long)mxt->req->id);
	dns_mxt_fail(mxt, bad->st[badf], "Host or domain name not found. "
	    "Name service error for name=%s type=%s: %s", bad->name,
	    badf ? "AAAA" : "A", bad->err[badf]);
}

/* dns_mxt_on_addr: one A or AAAA answer for one host. */
static void
dns_mxt_on_addr(const struct dns_result *r, void *arg)
{
	struct dns_mxt_host	*h = arg;
	int			 f = r->type == DNS_AAAA;

	h->id[f] = 0;
	h->st[f] = r->status;
	h->err[f] = r->error;
	if (r->status == DNS_OK) {
		h->addr[f] = xcalloc(r->naddr, sizeof(*h->addr[f]));
		memcpy(h->addr[f], r->addr, r->naddr * sizeof(*r->addr));
		h->naddr[f] = r->naddr;
	}
	if (--h->mxt->waiting == 0)
		dns_mxt_done(h->mxt);
}

/* dns_mxt_resolve: ask A and AAAA for every chosen host. */
static void
dns_mxt_resolve(struct dns_mxt *mxt)
{
	struct dns_mxt_host	*h;
	size_t			 i;
	int			 f;

	for (i = 0; i < mxt->nhosts; i++) {
		h = &mxt->hosts[i];
		for (f = 0; f < 2; f++) {
			if (!(mxt->dns->families & (f ? DNS_INET6 : DNS_INET4)))
				continue;
			h->asked[f] = true;
			mxt->waiting++;
			h->id[f] = dns_query(mxt->dns, f ? DNS_AAAA : DNS_A,
			    h->name, dns_mxt_on_addr, h);
		}
	}
}

/* dns_mxt_hosts: the job's host list from selected MX records. */
static void
dns_mxt_hosts(struct dns_mxt *mxt, const struct dns_mx **sel, size_t n)
{
	size_t	 i;

	mxt->hosts = xcalloc(n, sizeof(*mxt->hosts));
	mxt->nhosts = n;
	for (i = 0; i < n; i++) {
		mxt->hosts[i].mxt = mxt;
		mxt->hosts[i].name = xstrdup(sel[i]->host);
		mxt->hosts[i].pref = sel[i]->pref;
	}
}

/* dns_mxt_on_mx: the MX answer: choose hosts, or fall back, or fail. */
static void
dns_mxt_on_mx(const struct dns_result *r, void *arg)
{
	struct dns_mxt		*mxt = arg;
	struct mxsel_opts	 o;
	struct dns_mx		 self;
	const struct dns_mx	**sel, *one;
	size_t			 nsel;
	enum mxsel_result	 rc;

	mxt->mx_id = 0;
	if (r->status == DNS_NODATA) {
		/* RFC 5321 5.1: no MX, the domain itself (implicit MX). */
		if (mxsel_is_self(mxt->domain, (const char *const *)
		    mxt->dns->self)) {
			dns_mxt_fail(mxt, DNS_LOOP, "mail for %s loops back to "
			    "myself", mxt->domain);
			return;
		}
		mxt->implicit = true;
		self.pref = 0;
		self.host = mxt->domain;
		one = &self;
		dns_mxt_hosts(mxt, &one, 1);
		dns_mxt_resolve(mxt);
		return;
	}
	if (r->status != DNS_OK) {
		dns_mxt_fail(mxt, r->status, "Host or domain name not found. "
		    "Name service error for name=%s type=MX: %s", mxt->domain,
		    r->error);
		return;
	}
	memset(&o, 0, sizeof(o));
	o.max_mx = mxt->max_mx;
	o.self_names = (const char *const *)mxt->dns->self;
	o.rand = mxt->dns->rand;
	o.rand_arg = mxt->dns->rand_arg;
	sel = xcalloc(r->nmx, sizeof(*sel));
	rc = mxsel_select(r->mx, r->nmx, &o, sel, &nsel);
	if (rc == MXSEL_OK) {
		dns_mxt_hosts(mxt, sel, nsel);
		free(sel);
		dns_mxt_resolve(mxt);
		return;
	}
	free(sel);
	if (rc == MXSEL_NULLMX)
		dns_mxt_fail(mxt, DNS_NULLMX, "Domain %s does not accept mail "
		    "(nullMX)", mxt->domain);
	else if (rc == MXSEL_LOOP)
		dns_mxt_fail(mxt, DNS_LOOP, "mail for %s loops back to myself",
		    mxt->domain);
	else
		dns_mxt_fail(mxt, DNS_NODATA, "Host or domain name not found. "
		    "Name service error for name=%s type=MX: No usable mail "
		    "exchanger", mxt->domain);
}

/*
 * dns_mx_targets: the ordered (host, address) list for mail to domain:
 * MX (at most max_mx hosts, 0: no cut) or the domain itself, then A and
 * AAAA.  The id, or 0 when the resolver is being freed.  Cancel with
 * dns_cancel like any request.
 */
uint64_t
dns_mx_targets(struct dns *dns, const char *domain, size_t max_mx,
    dns_targets_cb cb, void *arg)
{
	struct dns_mxt	*mxt;
	struct dns_req	*req;

	if (dns->dying)
		return 0;
	req = dns_req_new(dns, DNS_MX, domain);
	mxt = xcalloc(1, sizeof(*mxt));
	mxt->dns = dns;
	mxt->req = req;
	mxt->domain = xstrdup(domain);
	mxt->max_mx = max_mx;
	mxt->cb = cb;
	mxt->arg = arg;
	req->mxt = mxt;
	mxt->mx_id = dns_query(dns, DNS_MX, domain, dns_mxt_on_mx, mxt);
	return req->id;
}
