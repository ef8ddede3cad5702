/*
 * test_dns.c: the c-ares resolver against a real DNS server.
 *
 * Starts dnsmasq on a free loopback port with a zone made of command-line
 * records (--local=/test/ makes unknown names NXDOMAIN, names outside
 * .test are REFUSED), plus two fake servers inside this process: a
 * socket that never answers (timeouts) and one that answers SERVFAIL.
 * Without dnsmasq (or with $SEKISHO_DNSMASQ naming no program) the test
 * exits 77 (skipped); scripts/install-deps.sh installs dnsmasq-base.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "dns.h"
#include "log.h"
#include "test.h"
#include "util.h"

static pid_t		 dnsmasq_pid = -1;
static int		 dnsmasq_port;
static char		 tmpdir[64];
static char		 servers[64];
static struct event_base *base;

/* The zone dnsmasq serves (the tests below rely on every line). */
static const char *const zone[] = {
	"--mx-host=example.test,mx1.example.test,10",
	"--mx-host=example.test,mx2.example.test,20",
	"--mx-host=example.test,mx3.example.test,20",
	"--mx-host=example.test,mx4.example.test,30",
	"--mx-host=example.test,mx5.example.test,40",
	"--host-record=mx1.example.test,127.0.1.1,fd00::1:1",
	"--host-record=mx2.example.test,127.0.1.2,fd00::1:2",
	"--host-record=mx3.example.test,127.0.1.3,fd00::1:3",
	"--host-record=mx4.example.test,127.0.1.4",
	"--host-record=mx5.example.test,127.0.1.5",
	"--mx-host=nullmx.test,.,0",
	"--host-record=nullmx.test,127.0.9.9",
	"--host-record=implicit.test,127.0.2.1,fd00::2:1",
	"--host-record=v4only.test,127.0.3.1",
	"--mx-host=deadmx.test,nohost.deadmx.test,10",
	"--mx-host=loop.test,gw.sekisho.test,10",
	"--mx-host=loop.test,backup.loop.test,20",
	"--mx-host=backup.test,primary.backup.test,10",
	"--mx-host=backup.test,gw.sekisho.test,20",
	"--mx-host=backup.test,other.backup.test,20",
	"--host-record=primary.backup.test,127.0.4.1",
	"--host-record=other.backup.test,127.0.4.2",
	"--host-record=gw.sekisho.test,127.0.4.9",
	"--txt-record=txt.test,v=spf1 -all",
	"--txt-record=multi.test,part1,part2",
	NULL
};

/* stop_dnsmasq: end the server we started (atexit too). */
static void
stop_dnsmasq(void)
{
	char	 p[128];

	if (dnsmasq_pid > 0) {
		kill(dnsmasq_pid, SIGTERM);
		waitpid(dnsmasq_pid, NULL, 0);
		dnsmasq_pid = -1;
	}
	if (tmpdir[0] != '\0') {
		str_printf(p, sizeof(p), "%s/dnsmasq.log", tmpdir);
		unlink(p);
		rmdir(tmpdir);
		tmpdir[0] = '\0';
	}
}

/* udp_bound: a UDP socket on 127.0.0.1 (port 0: any); its port in *port. */
static int
udp_bound(int *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd;

	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)*port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/* probe: does a DNS server answer on port? (one raw A query) */
static bool
probe(int port)
{
	static const unsigned char q[] = { 0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0,
	    0, 0, 0, 0, 5, 'p', 'r', 'o', 'b', 'e', 4, 't', 'e', 's', 't', 0,
	    0, 1, 0, 1 };
	struct sockaddr_in	 sin;
	struct timeval		 tv = { 0, 100000 };
	unsigned char		 r[512];
	int			 fd, any = 0;
	ssize_t			 n;

	if ((fd = udp_bound(&any)) == -1)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	sendto(fd, q, sizeof(q), 0, (struct sockaddr *)&sin, sizeof(sin));
	n = recv(fd, r, sizeof(r), 0);
	close(fd);
	return n >= 12 && r[0] == 0x42 && r[1] == 0x42;
}

/* find_dnsmasq: the dnsmasq binary ($SEKISHO_DNSMASQ first), or NULL. */
static const char *
find_dnsmasq(void)
{
	static const char *const paths[] = { "/usr/sbin/dnsmasq",
	    "/usr/bin/dnsmasq", "/sbin/dnsmasq", "/usr/local/sbin/dnsmasq" };
	const char	*env;
	size_t		 i;

	if ((env = getenv("SEKISHO_DNSMASQ")) != NULL && env[0] != '\0')
		return access(env, X_OK) == 0 ? env : NULL;

	for (i = 0; i < nitems(paths); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* spawn_dnsmasq: start dnsmasq on port; true once it answers. */
static bool
spawn_dnsmasq(const char *bin, int port)
{
	char		 a_port[32], logp[128];
	const char	*argv[64];
	size_t		 n = 0, i;
	int		 fd, tries;

	str_printf(a_port, sizeof(a_port), "--port=%d", port);
	str_printf(logp, sizeof(logp), "%s/dnsmasq.log", tmpdir);
	argv[n++] = bin;
	argv[n++] = "--keep-in-foreground";
	argv[n++] = "--conf-file=/dev/null";
	argv[n++] = "--no-resolv";
	argv[n++] = "--no-hosts";
	argv[n++] = "--no-poll";
	argv[n++] = "--pid-file=";
	argv[n++] = "--log-facility=-";
	argv[n++] = "--listen-address=127.0.0.1";
	argv[n++] = "--bind-interfaces";
	argv[n++] = "--local=/test/";
	argv[n++] = a_port;
	if (geteuid() == 0)
		argv[n++] = "--user=root";	/* no drop to nobody needed */
	for (i = 0; zone[i] != NULL; i++)
		argv[n++] = zone[i];
	argv[n] = NULL;

	if ((dnsmasq_pid = fork()) == -1)
		return false;
	if (dnsmasq_pid == 0) {
		if ((fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600)) != -1) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	for (tries = 0; tries < 50; tries++) {
		if (waitpid(dnsmasq_pid, NULL, WNOHANG) == dnsmasq_pid) {
			dnsmasq_pid = -1;
			return false;
		}
		if (probe(port))
			return true;
	}
	return false;
}

/* start_dnsmasq: dnsmasq on a free loopback port; exits 77 without it. */
static void
start_dnsmasq(void)
{
	const char	*bin;
	int		 attempt, port, fd;

	if ((bin = find_dnsmasq()) == NULL) {
		fprintf(stderr, "test_dns: dnsmasq not installed: skipped\n");
		exit(77);
	}
	str_lcpy(tmpdir, "/tmp/sekisho-dns.XXXXXX", sizeof(tmpdir));
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	atexit(stop_dnsmasq);
	for (attempt = 0; attempt < 5; attempt++) {
		port = 0;
		if ((fd = udp_bound(&port)) == -1)
			continue;
		close(fd);
		if (spawn_dnsmasq(bin, port)) {
			dnsmasq_port = port;
			str_printf(servers, sizeof(servers), "127.0.0.1:%d",
			    port);
			return;
		}
		stop_dnsmasq();
		str_lcpy(tmpdir, "/tmp/sekisho-dns.XXXXXX", sizeof(tmpdir));
		if (mkdtemp(tmpdir) == NULL)
			exit(1);
	}
	fprintf(stderr, "test_dns: cannot start dnsmasq\n");
	exit(1);
}

static int		 total_calls;	/* every on_result/on_targets */

/* What one callback saw. */
struct cap {
	int		 calls;
	uint64_t	 id;
	enum dns_status	 st;
	char		 error[128];
	char		 items[32][300];	/* MX "pref host", addrs, strs */
	size_t		 n;
	bool		 implicit;
	char		 dsn[16];
	char		 reason[1024];
};

static void
cap_item(struct cap *c, const char *s)
{
	if (c->n < nitems(c->items))
		str_lcpy(c->items[c->n++], s, sizeof(c->items[0]));
}

/* on_result: record a plain query's result. */
static void
on_result(const struct dns_result *r, void *arg)
{
	struct cap	*c = arg;
	char		 b[300];
	size_t		 i;

	c->calls++;
	total_calls++;
	c->id = r->id;
	c->st = r->status;
	str_lcpy(c->error, r->error ? r->error : "", sizeof(c->error));
	c->n = 0;
	for (i = 0; i < r->nmx; i++) {
		str_printf(b, sizeof(b), "%u %s", r->mx[i].pref, r->mx[i].host);
		cap_item(c, b);
	}
	for (i = 0; i < r->naddr; i++) {
		dns_addr_format(&r->addr[i], b, sizeof(b));
		cap_item(c, b);
	}
	for (i = 0; i < r->nstr; i++)
		cap_item(c, r->str[i]);
}

/* on_targets: record a dns_mx_targets outcome as "host addr" items. */
static void
on_targets(const struct dns_targets *t, void *arg)
{
	struct cap	*c = arg;
	char		 a[DNS_ADDRSTRLEN], b[300];
	size_t		 i;

	c->calls++;
	total_calls++;
	c->id = t->id;
	c->st = t->status;
	c->implicit = t->implicit_mx;
	str_lcpy(c->dsn, t->dsn ? t->dsn : "", sizeof(c->dsn));
	str_lcpy(c->reason, t->reason ? t->reason : "", sizeof(c->reason));
	c->n = 0;
	for (i = 0; i < t->n; i++) {
		dns_addr_format(&t->t[i].addr, a, sizeof(a));
		str_printf(b, sizeof(b), "%s %s", t->t[i].host, a);
		cap_item(c, b);
	}
}

/* run_until: run the loop until *counter reaches want; false after ms. */
static bool
run_until(int *counter, int want, int ms)
{
	struct timeval	 tv = { 0, 10000 };
	struct timespec	 t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (*counter < want) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000 > ms)
			return false;
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	return true;
}

/* run_for: run the loop for ms whatever happens. */
static void
run_for(int ms)
{
	int	 never = 0;

	run_until(&never, 1, ms);
}

/* has: the capture holds item s. */
static bool
has(const struct cap *c, const char *s)
{
	size_t	 i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->items[i], s) == 0)
			return true;
	return false;
}

/* resolver: one on the dnsmasq server, with the test's options. */
static struct dns *
resolver(const char *srv, int timeout_ms, int tries)
{
	struct dns_opts	 o;

	memset(&o, 0, sizeof(o));
	o.servers = srv;
	o.timeout_ms = timeout_ms;
	o.tries = tries;
	return dns_new(base, &o);
}

/* query1: one query, run to completion. */
static void
query1(struct dns *dns, enum dns_type t, const char *name, struct cap *c)
{
	memset(c, 0, sizeof(*c));
	CHECKF(dns_query(dns, t, name, on_result, c) != 0, "%s", name);
	CHECKF(run_until(&c->calls, 1, 5000), "%s: no answer", name);
	CHECKF(c->calls == 1, "%s: %d calls", name, c->calls);
}

static void
t_queries(void)
{
	static const struct {
		enum dns_type	 type;
		const char	*name;
		enum dns_status	 st;
		const char	*item;		/* one expected item, or NULL */
		size_t		 n;
	} cases[] = {
		{ DNS_MX, "example.test", DNS_OK, "10 mx1.example.test", 5 },
		{ DNS_MX, "example.test.", DNS_OK, "40 mx5.example.test", 5 },
		{ DNS_MX, "nullmx.test", DNS_OK, "0 ", 1 },
		{ DNS_MX, "implicit.test", DNS_NODATA, NULL, 0 },
		{ DNS_MX, "nothere.test", DNS_NXDOMAIN, NULL, 0 },
		{ DNS_A, "mx1.example.test", DNS_OK, "127.0.1.1", 1 },
		{ DNS_AAAA, "mx1.example.test", DNS_OK, "fd00::1:1", 1 },
		{ DNS_A, "v4only.test", DNS_OK, "127.0.3.1", 1 },
		{ DNS_AAAA, "v4only.test", DNS_NODATA, NULL, 0 },
		{ DNS_A, "nothere.test", DNS_NXDOMAIN, NULL, 0 },
		{ DNS_AAAA, "nothere.test", DNS_NXDOMAIN, NULL, 0 },
		{ DNS_PTR, "127.0.1.1", DNS_OK, "mx1.example.test", 1 },
		{ DNS_PTR, "fd00::1:2", DNS_OK, "mx2.example.test", 1 },
		/* Unknown reverse names are outside --local: REFUSED. */
		{ DNS_PTR, "127.0.77.77", DNS_TEMPFAIL, NULL, 0 },
		{ DNS_TXT, "txt.test", DNS_OK, "v=spf1 -all", 1 },
		{ DNS_TXT, "multi.test", DNS_OK, "part1part2", 1 },
		{ DNS_TXT, "v4only.test", DNS_NODATA, NULL, 0 },
		/* Outside the local zone dnsmasq says REFUSED: temporary. */
		{ DNS_A, "example.invalid", DNS_TEMPFAIL, NULL, 0 },
		{ DNS_PTR, "not-an-ip", DNS_BADNAME, NULL, 0 },
		{ DNS_A, "bad name.test", DNS_BADNAME, NULL, 0 },
		{ DNS_A, "", DNS_BADNAME, NULL, 0 },
	};
	struct dns	*dns;
	struct cap	 c;
	size_t		 i;

	dns = resolver(servers, 1000, 2);
	CHECK(dns != NULL);
	if (dns == NULL)
		return;
	for (i = 0; i < nitems(cases); i++) {
		query1(dns, cases[i].type, cases[i].name, &c);
		CHECKF(c.st == cases[i].st, "%s %s: %s (%s)",
		    dns_type_name(cases[i].type), cases[i].name,
		    dns_status_name(c.st), c.error);
		CHECKF(c.n == cases[i].n, "%s %s: %zu items",
		    dns_type_name(cases[i].type), cases[i].name, c.n);
		if (cases[i].item != NULL)
			CHECKF(has(&c, cases[i].item), "%s %s: no \"%s\"",
			    dns_type_name(cases[i].type), cases[i].name,
			    cases[i].item);
		CHECKF((c.st == DNS_OK) == (c.error[0] == '\0'), "%s: error %s",
		    cases[i].name, c.error);
	}
	query1(dns, DNS_A, "nothere.test", &c);
	CHECK_STREQ(c.error, "Host not found");
	query1(dns, DNS_AAAA, "v4only.test", &c);
	CHECK_STREQ(c.error, "No address associated with hostname");
	query1(dns, DNS_A, "example.invalid", &c);
	CHECK_STREQ(c.error, "Host not found, try again (server failure, refused or unreachable)");
	CHECK_INTEQ(dns_pending(dns), 0);
	dns_free(dns);
}

/* Never called before the starting call returns, even for bad names. */
static void
t_no_sync_callback(void)
{
	struct dns	*dns;
	struct cap	 c;
	uint64_t	 id;

	dns = resolver(servers, 1000, 1);
	memset(&c, 0, sizeof(c));
	id = dns_query(dns, DNS_A, "bad name", on_result, &c);
	CHECK(id != 0);
	CHECK_INTEQ(c.calls, 0);
	CHECK(run_until(&c.calls, 1, 2000));
	CHECK_INTEQ(c.id, id);
	CHECK(c.st == DNS_BADNAME);
	dns_free(dns);
}

/* A server that never answers: timeout, temporary, quickly. */
static void
t_timeout(void)
{
	struct dns	*dns;
	struct cap	 c;
	char		 srv[64];
	struct timespec	 t0, t1;
	long		 ms;
	int		 port = 0, fd;

	fd = udp_bound(&port);
	CHECK(fd != -1);
	str_printf(srv, sizeof(srv), "127.0.0.1:%d", port);
	dns = resolver(srv, 200, 2);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	query1(dns, DNS_MX, "example.test", &c);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	CHECK(c.st == DNS_TEMPFAIL);
	CHECK_STREQ(c.error, "Host not found, try again (timeout)");
	CHECKF(ms >= 150 && ms < 3000, "timeout after %ld ms", ms);
	CHECK(!dns_status_permanent(c.st));
	dns_free(dns);
	close(fd);
}

/* Nothing listening on the port: temporary too. */
static void
t_refused_port(void)
{
	struct dns	*dns;
	struct cap	 c;
	char		 srv[64];
	int		 port = 0, fd;

	fd = udp_bound(&port);
	close(fd);
	str_printf(srv, sizeof(srv), "127.0.0.1:%d", port);
	dns = resolver(srv, 200, 1);
	query1(dns, DNS_A, "example.test", &c);
	CHECKF(c.st == DNS_TEMPFAIL, "%s %s", dns_status_name(c.st), c.error);
	dns_free(dns);
}

/* servfail_cb: answer every query with SERVFAIL (same id, question). */
static void
servfail_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	unsigned char		 b[512];
	ssize_t			 n;

	(*(int *)arg)++;
	if ((n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&ss,
	    &len)) < 12)
		return;
	b[2] |= 0x80;			/* QR */
	b[3] = (b[3] & 0xf0) | 0x80 | 2;	/* RA, RCODE=SERVFAIL */
	sendto(fd, b, (size_t)n, 0, (struct sockaddr *)&ss, len);
}

static void
t_servfail(void)
{
	struct event	*ev;
	struct dns	*dns;
	struct cap	 c;
	char		 srv[64];
	int		 port = 0, fd, hits = 0;

	fd = udp_bound(&port);
	ev = event_new(base, fd, EV_READ | EV_PERSIST, servfail_cb, &hits);
	event_add(ev, NULL);
	str_printf(srv, sizeof(srv), "127.0.0.1:%d", port);
	dns = resolver(srv, 500, 2);
	query1(dns, DNS_MX, "example.test", &c);
	CHECKF(c.st == DNS_TEMPFAIL, "%s", dns_status_name(c.st));
	CHECK_STREQ(c.error, "Host not found, try again (server failure, "
	    "refused or unreachable)");
	CHECK(hits >= 1);
	dns_free(dns);
	event_free(ev);
	close(fd);
}

/* Many queries at once, each answered with its own data. */
static void
t_concurrent(void)
{
	enum { N = 500 };
	static struct cap	 c[N];
	static const char *const names[] = { "mx1.example.test",
	    "mx2.example.test", "mx3.example.test", "mx4.example.test",
	    "mx5.example.test" };
	struct dns		*dns;
	int			 done, i, good = 0, start = total_calls;
	char			 want[32];

	dns = resolver(servers, 1000, 3);
	memset(c, 0, sizeof(c));
	for (i = 0; i < N; i++)
		CHECK(dns_query(dns, DNS_A, names[i % 5], on_result, &c[i])
		    != 0);
	CHECK_INTEQ(dns_pending(dns), N);
	CHECK(run_until(&total_calls, start + N, 10000));
	for (done = 0, i = 0; i < N; i++)
		done += c[i].calls;
	CHECK_INTEQ(done, N);
	for (i = 0; i < N; i++) {
		str_printf(want, sizeof(want), "127.0.1.%d", i % 5 + 1);
		if (c[i].calls == 1 && c[i].st == DNS_OK && c[i].n == 1 &&
		    strcmp(c[i].items[0], want) == 0)
			good++;
	}
	CHECK_INTEQ(good, N);
	CHECK_INTEQ(dns_pending(dns), 0);
	dns_free(dns);
}

/* on_count: counts calls (arg: int). */
static void
on_count(const struct dns_result *r, void *arg)
{
	(*(int *)arg)++;
}

/* Cancelled requests never call back; the others do. */
static void
t_cancel(void)
{
	enum { N = 100 };
	struct dns	*dns;
	uint64_t	 id[N];
	int		 calls[N], i, total, port = 0, fd;
	char		 srv[64];

	dns = resolver(servers, 1000, 2);
	memset(calls, 0, sizeof(calls));
	for (i = 0; i < N; i++)
		id[i] = dns_query(dns, i % 3 ? DNS_A : DNS_MX, i % 2 ?
		    "mx1.example.test" : "example.test", on_count, &calls[i]);
	for (i = 0; i < N; i += 2)
		CHECK(dns_cancel(dns, id[i]));
	CHECK(!dns_cancel(dns, id[0]));		/* twice: no-op */
	CHECK(!dns_cancel(dns, 0));
	CHECK(!dns_cancel(dns, UINT64_MAX));
	CHECK_INTEQ(dns_pending(dns), N / 2);
	run_for(300);
	for (i = 0, total = 0; i < N; i++) {
		CHECKF(calls[i] == (i % 2), "request %d: %d calls", i,
		    calls[i]);
		total += calls[i];
	}
	CHECK_INTEQ(total, N / 2);
	CHECK(!dns_cancel(dns, id[1]));		/* done: not pending */
	dns_free(dns);

	/* In flight against a silent server, then cancelled: nothing. */
	fd = udp_bound(&port);
	str_printf(srv, sizeof(srv), "127.0.0.1:%d", port);
	dns = resolver(srv, 100, 1);
	memset(calls, 0, sizeof(calls));
	for (i = 0; i < 20; i++)
		id[i] = dns_query(dns, DNS_A, "x.test", on_count, &calls[0]);
	id[20] = dns_query(dns, DNS_A, "bad name", on_count, &calls[0]);
	id[21] = dns_mx_targets(dns, "example.test", 5, NULL, NULL);
	CHECK(dns_cancel(dns, id[20]));	/* a deferred completion */
	run_for(50);
	for (i = 0; i < 22; i++)
		CHECK(i == 20 || dns_cancel(dns, id[i]));
	CHECK_INTEQ(dns_pending(dns), 0);
	run_for(400);
	CHECK_INTEQ(calls[0], 0);
	/* dns_free with requests still in flight: no callback either. */
	for (i = 0; i < 10; i++)
		dns_query(dns, DNS_MX, "example.test", on_count, &calls[0]);
	dns_mx_targets(dns, "example.test", 5, NULL, NULL);
	run_for(30);
	dns_query(dns, DNS_A, "bad name", on_count, &calls[0]);
	CHECK_INTEQ(dns_pending(dns), 13);	/* 10 + job and its MX + 1 */
	dns_free(dns);
	run_for(300);
	CHECK_INTEQ(calls[0], 0);
	close(fd);
}

struct reentry {
	struct dns	*dns;
	uint64_t	 other;
	int		 calls;
	bool		 free_it;
};

/* on_reenter: cancel the other request, or free the resolver. */
static void
on_reenter(const struct dns_result *r, void *arg)
{
	struct reentry	*re = arg;

	re->calls++;
	if (re->free_it)
		dns_free(re->dns);
	else
		dns_cancel(re->dns, re->other == r->id ? r->id + 1 :
		    re->other);
}

/* Cancelling and freeing from inside a callback. */
static void
t_cancel_reentrant(void)
{
	struct reentry	 re;
	uint64_t	 a, b;
	int		 i;

	memset(&re, 0, sizeof(re));
	re.dns = resolver(servers, 1000, 2);
	a = dns_query(re.dns, DNS_A, "mx1.example.test", on_reenter, &re);
	b = dns_query(re.dns, DNS_A, "mx2.example.test", on_reenter, &re);
	CHECK_INTEQ(b, a + 1);
	re.other = a;	/* whichever comes first cancels the other */
	run_for(300);
	CHECK_INTEQ(re.calls, 1);
	CHECK_INTEQ(dns_pending(re.dns), 0);
	dns_free(re.dns);

	/* dns_free in the first callback: no other callback, no leak. */
	memset(&re, 0, sizeof(re));
	re.dns = resolver(servers, 1000, 2);
	re.free_it = true;
	for (i = 0; i < 10; i++)
		dns_query(re.dns, DNS_A, "mx3.example.test", on_reenter, &re);
	dns_mx_targets(re.dns, "example.test", 5, NULL, NULL);
	run_for(300);
	CHECK_INTEQ(re.calls, 1);
}

/* on_targets_free: free the resolver from a dns_mx_targets callback. */
static void
on_targets_free(const struct dns_targets *t, void *arg)
{
	struct reentry	*re = arg;

	re->calls++;
	dns_free(re->dns);
}

/* The same from a dns_mx_targets callback, others still pending. */
static void
t_free_in_targets_cb(void)
{
	struct reentry	 re;
	int		 calls = 0, i;

	memset(&re, 0, sizeof(re));
	re.dns = resolver(servers, 1000, 2);
	for (i = 0; i < 3; i++)
		dns_mx_targets(re.dns, "example.test", 5, on_targets_free, &re);
	run_for(300);
	CHECK_INTEQ(re.calls, 1);
	/* A deferred completion first (it runs), then the job frees. */
	memset(&re, 0, sizeof(re));
	re.dns = resolver(servers, 1000, 2);
	dns_mx_targets(re.dns, "implicit.test", 5, on_targets_free, &re);
	dns_mx_targets(re.dns, "example.test", 5, on_targets_free, &re);
	dns_query(re.dns, DNS_A, "bad name", on_count, &calls);
	run_for(300);
	CHECK_INTEQ(calls, 1);
	CHECK_INTEQ(re.calls, 1);
}

/* seq_rand: 0 or upper-1, chosen by arg (tests tie order). */
static uint32_t
seq_rand(void *arg, uint32_t upper)
{
	return *(int *)arg ? upper - 1 : 0;
}

/* targets1: one dns_mx_targets, run to completion. */
static void
targets1(struct dns *dns, const char *domain, size_t max_mx, struct cap *c)
{
	memset(c, 0, sizeof(*c));
	CHECK(dns_mx_targets(dns, domain, max_mx, on_targets, c) != 0);
	CHECKF(run_until(&c->calls, 1, 5000), "%s: no outcome", domain);
	CHECKF(c->calls == 1, "%s: %d calls", domain, c->calls);
}

/* targets_resolver: a resolver for dns_mx_targets tests. */
static struct dns *
targets_resolver(int *randsel, size_t max_addrs, unsigned fam, bool v4first)
{
	static const char *const self[] = { "gw.sekisho.test", NULL };
	struct dns_opts	 o;

	memset(&o, 0, sizeof(o));
	o.servers = servers;
	o.timeout_ms = 1000;
	o.tries = 2;
	o.self_names = self;
	o.max_addrs = max_addrs;
	o.families = fam;
	o.prefer_inet4 = v4first;
	o.rand = seq_rand;
	o.rand_arg = randsel;
	return dns_new(base, &o);
}

static void
t_targets(void)
{
	struct dns	*dns;
	struct cap	 c;
	char		 tie[300];
	int		 randsel = 0;

	/* Preference order, ties in the injected order, seed 20 cut at 3. */
	dns = targets_resolver(&randsel, 0, 0, false);
	targets1(dns, "example.test", 3, &c);
	CHECK(c.st == DNS_OK);
	CHECK(!c.implicit);
	CHECK_INTEQ(c.n, 6);
	CHECK_STREQ(c.items[0], "mx1.example.test fd00::1:1");
	CHECK_STREQ(c.items[1], "mx1.example.test 127.0.1.1");
	CHECK(strncmp(c.items[2], c.items[3], 4) == 0);	/* one host */
	CHECK(strncmp(c.items[2], "mx2.", 4) == 0 ||
	    strncmp(c.items[2], "mx3.", 4) == 0);
	CHECK(strncmp(c.items[4], "mx2.", 4) == 0 ||
	    strncmp(c.items[4], "mx3.", 4) == 0);
	CHECK(strncmp(c.items[2], c.items[4], 4) != 0);
	str_lcpy(tie, c.items[2], sizeof(tie));
	/* The other random choice swaps the tied pair (answer order aside). */
	randsel = 1;
	targets1(dns, "example.test", 3, &c);
	CHECK_INTEQ(c.n, 6);
	CHECK_STREQ(c.items[0], "mx1.example.test fd00::1:1");
	CHECK_STREQ(c.items[4], tie);
	CHECK(strncmp(c.items[2], tie, 4) != 0);
	/* No cut: all five; IPv4-only hosts contribute their one address. */
	targets1(dns, "example.test", 0, &c);
	CHECK_INTEQ(c.n, 8);
	CHECK_STREQ(c.items[6], "mx4.example.test 127.0.1.4");
	CHECK_STREQ(c.items[7], "mx5.example.test 127.0.1.5");
	targets1(dns, "example.test", 1, &c);
	CHECK_INTEQ(c.n, 2);
	CHECK_STREQ(c.items[0], "mx1.example.test fd00::1:1");

	/* No MX: the domain itself (implicit MX). */
	targets1(dns, "implicit.test", 3, &c);
	CHECK(c.st == DNS_OK);
	CHECK(c.implicit);
	CHECK_INTEQ(c.n, 2);
	CHECK_STREQ(c.items[0], "implicit.test fd00::2:1");
	CHECK_STREQ(c.items[1], "implicit.test 127.0.2.1");

	/* Null MX: permanent, even though the domain has an A record. */
	targets1(dns, "nullmx.test", 3, &c);
	CHECK(c.st == DNS_NULLMX);
	CHECK(dns_status_permanent(c.st));
	CHECK_STREQ(c.dsn, "5.1.10");
	CHECK_INTEQ(c.n, 0);
	CHECK_STREQ(c.reason, "Domain nullmx.test does not accept mail "
	    "(nullMX)");

	/* No such domain: permanent, with the NDR text. */
	targets1(dns, "example.invalid.test", 3, &c);
	CHECK(c.st == DNS_NXDOMAIN);
	CHECK_STREQ(c.dsn, "5.4.4");
	CHECK_STREQ(c.reason, "Host or domain name not found. Name service "
	    "error for name=example.invalid.test type=MX: Host not found");

	/* Outside the zone: REFUSED, temporary. */
	targets1(dns, "example.invalid", 3, &c);
	CHECK(c.st == DNS_TEMPFAIL);
	CHECK_STREQ(c.dsn, "4.4.3");
	CHECK_STREQ(c.reason, "Host or domain name not found. Name service "
	    "error for name=example.invalid type=MX: Host not found, try "
	    "again (server failure, refused or unreachable)");

	/* The MX host does not exist. */
	targets1(dns, "deadmx.test", 3, &c);
	CHECK(c.st == DNS_NXDOMAIN);
	CHECK_STREQ(c.reason, "Host or domain name not found. Name service "
	    "error for name=nohost.deadmx.test type=AAAA: Host not found");

	/* We are the best MX: loop.  We are a backup: only better ones. */
	targets1(dns, "loop.test", 3, &c);
	CHECK(c.st == DNS_LOOP);
	CHECK_STREQ(c.dsn, "5.4.6");
	CHECK_STREQ(c.reason, "mail for loop.test loops back to myself");
	targets1(dns, "backup.test", 3, &c);
	CHECK(c.st == DNS_OK);
	CHECK_INTEQ(c.n, 1);
	CHECK_STREQ(c.items[0], "primary.backup.test 127.0.4.1");
	targets1(dns, "gw.sekisho.test", 3, &c);	/* implicit, ourselves */
	CHECK(c.st == DNS_LOOP);
	targets1(dns, "bad name", 3, &c);
	CHECK(c.st == DNS_BADNAME);
	CHECK_INTEQ(dns_pending(dns), 0);
	dns_free(dns);

	/* Address cap, family choice and order. */
	dns = targets_resolver(&randsel, 1, 0, true);
	targets1(dns, "example.test", 2, &c);
	CHECK_INTEQ(c.n, 2);
	CHECK_STREQ(c.items[0], "mx1.example.test 127.0.1.1");
	dns_free(dns);
	dns = targets_resolver(&randsel, 0, DNS_INET6, false);
	targets1(dns, "example.test", 0, &c);
	CHECK(c.st == DNS_OK);
	CHECK_INTEQ(c.n, 3);		/* mx4 and mx5 have no AAAA */
	targets1(dns, "v4only.test", 0, &c);
	CHECK(c.st == DNS_NODATA);
	CHECK_STREQ(c.reason, "Host or domain name not found. Name service "
	    "error for name=v4only.test type=AAAA: No address associated "
	    "with hostname");
	dns_free(dns);
}

/* A silent server: the whole job is temporary, timely. */
static void
t_targets_timeout(void)
{
	struct dns_opts	 o;
	struct dns	*dns;
	struct cap	 c;
	char		 srv[64];
	int		 port = 0, fd;

	fd = udp_bound(&port);
	str_printf(srv, sizeof(srv), "127.0.0.1:%d", port);
	memset(&o, 0, sizeof(o));
	o.servers = srv;
	o.timeout_ms = 100;
	o.tries = 1;
	dns = dns_new(base, &o);
	targets1(dns, "example.test", 3, &c);
	CHECK(c.st == DNS_TEMPFAIL);
	CHECK_STREQ(c.reason, "Host or domain name not found. Name service "
	    "error for name=example.test type=MX: Host not found, try again "
	    "(timeout)");
	dns_free(dns);
	close(fd);
}

static void
t_options(void)
{
	static const struct {
		const char	*s;
		bool		 ok;
	} cases[] = {
		{ "127.0.0.1", true },
		{ "127.0.0.1:5353", true },
		{ "127.0.0.1:5353, 192.0.2.1", true },
		{ "::1", true },
		{ "[::1]:5353", true },
		{ "[::1]", true },
		{ "127.0.0.1:0", false },
		{ "127.0.0.1:65536", false },
		{ "localhost", false },
		{ "127.0.0.1,", false },
		{ "[::1", false },
		{ "[::1]x", false },
		{ "", false },
	};
	struct dns_opts	 o;
	char		 err[256];
	size_t		 i;

	for (i = 0; i < nitems(cases); i++)
		CHECKF(dns_servers_check(cases[i].s, err, sizeof(err)) ==
		    cases[i].ok, "%s: %s", cases[i].s, err);
	memset(&o, 0, sizeof(o));
	o.servers = "nonsense";
	CHECK(dns_new(base, &o) == NULL);
	/* Defaults: the system resolver configuration. */
	{
		struct dns	*dns = dns_new(base, NULL);

		CHECK(dns != NULL);
		dns_free(dns);
	}
}

int
main(void)
{
	test_fn	 fns[] = { t_options, t_queries, t_no_sync_callback,
	    t_timeout, t_refused_port, t_servfail, t_concurrent, t_cancel,
	    t_cancel_reentrant, t_free_in_targets_cb, t_targets, t_targets_timeout };
	int	 rc;

	signal(SIGPIPE, SIG_IGN);
	log_init("test_dns", true, LOG_LVL_WARN);
	start_dnsmasq();
	if ((base = event_base_new()) == NULL)
		return 1;
	rc = test_run("dns", fns, nitems(fns));
	event_base_free(base);
	stop_dnsmasq();
	return rc;
}
