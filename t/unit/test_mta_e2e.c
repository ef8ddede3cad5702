/*
 * test_mta_e2e.c: the mta process end to end, without the queue.
 *
 * Each case starts t/mta_peer.py (a scripted SMTP server on loopback),
 * forks a child that runs mta_main() with a minimal struct smtpd whose
 * [Routes] point at the peer, plays the queue over a socketpair (sends
 * IMSG_MTA_DELIVER with a temporary file as the content descriptor, reads
 * IMSG_MTA_RESULT) and checks the results and what the peer logged: the
 * envelope and bytes it received, connections, PIPELINING, STARTTLS,
 * BDAT, and when requests start under a rate limit.  Without python3 or
 * openssl the test is skipped (77).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "mta.h"
#include "proc.h"
#include "smtp.h"
#include "test.h"
#include "util.h"

#ifndef SEKISHO_SOURCE_DIR
#define SEKISHO_SOURCE_DIR "."
#endif

static char		 tmpdir[256];
static char		 certfile[300], keyfile[300];
static int		 ncase;
static const char	*mta_logpath;	/* the mta's log (info) goes here */

struct peer {
	pid_t	 pid;
	int	 port;
	char	 dir[300];
};

struct res_rcpt {
	uint32_t index;
	uint8_t	 class;
	char	 dsn[MTA_DSN_MAX];
	char	 remote[MTA_REMOTE_MAX];
	char	 reply[MTA_REPLY_MAX + 1];
};

struct result {
	uint64_t	 reqid;
	uint32_t	 n;
	struct res_rcpt	 r[8];
};

struct mta_child {
	pid_t		 pid;
	struct ipc_chan	*chan;
	int		 parent_fd;
};

/* run: a program to completion, quietly; its exit status. */
static int
run(char *const argv[])
{
	pid_t	 pid;
	int	 st, fd;

	if ((pid = fork()) == 0) {
		fd = open("/dev/null", O_RDWR);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid == -1 || waitpid(pid, &st, 0) == -1)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* peer_start: mta_peer.py in a fresh directory with options. */
static bool
peer_start(struct peer *p, const char *const *opts)
{
	char	*argv[24], path[400], script[400];
	FILE	*f;
	int	 i = 0, tries;

	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "%s/peer%d", tmpdir, ++ncase);
	mkdir(p->dir, 0700);
	snprintf(script, sizeof(script), "%s/t/mta_peer.py", SEKISHO_SOURCE_DIR);
	argv[i++] = "python3";
	argv[i++] = script;
	argv[i++] = p->dir;
	for (; opts != NULL && *opts != NULL && i < 22; opts++)
		argv[i++] = (char *)*opts;
	argv[i] = NULL;
	if ((p->pid = fork()) == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	snprintf(path, sizeof(path), "%s/port", p->dir);
	for (tries = 0; tries < 500; tries++) {
		if ((f = fopen(path, "r")) != NULL) {
			if (fscanf(f, "%d", &p->port) != 1)
				p->port = 0;
			fclose(f);
			return p->port > 0;
		}
		usleep(10 * 1000);
	}
	return false;
}

static void
peer_stop(struct peer *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
}

/* peer_log: the peer's log as one string (caller frees). */
static char *
peer_log(const struct peer *p)
{
	char	 path[400], *s;
	FILE	*f;
	long	 n;

	snprintf(path, sizeof(path), "%s/log", p->dir);
	if ((f = fopen(path, "r")) == NULL)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = calloc(1, (size_t)n + 1);
	if (fread(s, 1, (size_t)n, f) != (size_t)n)
		s[0] = '\0';
	fclose(f);
	return s;
}

/* count: occurrences of needle in hay. */
static int
count(const char *hay, const char *needle)
{
	int	 n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* peer_msg: message k as received (caller frees); *len its size. */
static char *
peer_msg(const struct peer *p, int k, size_t *len)
{
	char	 path[400], *s;
	FILE	*f;
	long	 n;

	snprintf(path, sizeof(path), "%s/msg-%d", p->dir, k);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = calloc(1, (size_t)n + 1);
	*len = fread(s, 1, (size_t)n, f);
	fclose(f);
	return s;
}

/* base_conf: a configuration with sane small timeouts and no routes. */
static void
base_conf(struct sekisho_conf *c, struct smtpd *env)
{
	struct conf_tsmtpd	*t = &c->tsmtpd;

	memset(c, 0, sizeof(*c));
	memset(env, 0, sizeof(*env));
	env->conf = c;
	str_lcpy(env->hostname, "mta.test", sizeof(env->hostname));
	t->max_dns_mx_to_try = 5;
	t->helo_name = "client.test";
	t->dns_servers = "";
	t->tls_policy = CONF_TLS_MAY;
	t->tls_ca_file = "";
	t->connect_timeout = 3;
	t->reply_timeout = 5;
	t->data_done_timeout = 5;
	t->max_connections_per_destination = 2;
	t->max_messages_per_connection = 10;
	t->connection_cache_seconds = 3;
}

/* add_route: one [Routes] entry (domain -> host:port or maildir). */
static void
add_route(struct sekisho_conf *c, const char *domain, const char *host,
    int port, const char *path, int tls)
{
	struct conf_routes	*r = &c->tsmtpd.routes;
	struct conf_route	*e;

	r->v = realloc(r->v, (r->n + 1) * sizeof(*r->v));
	e = &r->v[r->n++];
	memset(e, 0, sizeof(*e));
	e->domain = strdup(domain);
	e->kind = path != NULL ? CONF_ROUTE_MAILDIR : CONF_ROUTE_SMTP;
	e->host = host != NULL ? strdup(host) : NULL;
	e->port = port;
	e->path = path != NULL ? strdup(path) : NULL;
	e->tls = tls;
}

static void
free_routes(struct sekisho_conf *c)
{
	size_t	 i;

	for (i = 0; i < c->tsmtpd.routes.n; i++) {
		free(c->tsmtpd.routes.v[i].domain);
		free(c->tsmtpd.routes.v[i].host);
		free(c->tsmtpd.routes.v[i].path);
	}
	free(c->tsmtpd.routes.v);
	c->tsmtpd.routes.v = NULL;
	c->tsmtpd.routes.n = 0;
}

/* mta_start: fork the mta process with env; we are its queue. */
static void
mta_start(struct mta_child *m, struct smtpd *env)
{
	static struct proc_def	 def = { SMTPD_PROC_MTA, "mta", NULL, NULL,
	    mta_main };
	int			 q[2], p[2], fds[SMTPD_PROC_MAX], i;

	if (ipc_socketpair(q) == -1 || ipc_socketpair(p) == -1)
		abort();
	if ((m->pid = fork()) == 0) {
		close(q[0]);
		close(p[0]);
		for (i = 0; i < SMTPD_PROC_MAX; i++)
			fds[i] = -1;
		fds[SMTPD_PROC_QUEUE] = q[1];
		fds[SMTPD_PROC_PARENT] = p[1];
		if (mta_logpath != NULL && (i = open(mta_logpath, O_WRONLY |
		    O_CREAT | O_APPEND, 0600)) != -1)
			dup2(i, 2);
		log_init("test.mta", true, getenv("MTA_DEBUG") != NULL ?
		    LOG_LVL_DEBUG : mta_logpath != NULL ? LOG_LVL_INFO :
		    LOG_LVL_WARN);
		exit(mta_main(&def, fds, env));
	}
	close(q[1]);
	close(p[1]);
	m->parent_fd = p[0];
	m->chan = ipc_chan_new(NULL, q[0], MTA_RESULT_MAX_PAYLOAD, NULL, NULL,
	    NULL);
}

/* mta_stop: close both channels; the child must exit 0. */
static void
mta_stop(struct mta_child *m)
{
	int	 st = -1;

	ipc_chan_free(m->chan);
	close(m->parent_fd);
	if (waitpid(m->pid, &st, 0) == -1)
		st = -1;
	CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "mta exit status %d",
	    st);
}

/* content_fd: a temporary file holding data (read-only descriptor). */
static int
content_fd(const char *data, size_t len)
{
	char	 path[300];
	int	 fd, rfd;

	snprintf(path, sizeof(path), "%s/content-XXXXXX", tmpdir);
	if ((fd = mkstemp(path)) == -1 || write(fd, data, len) != (ssize_t)len)
		abort();
	rfd = open(path, O_RDONLY);
	close(fd);
	unlink(path);
	return rfd;
}

/* deliver: send one IMSG_MTA_DELIVER. */
static void
deliver(struct mta_child *m, uint64_t reqid, const char *sender,
    uint8_t flags, const char *domain, const char *const *rcpts,
    const char *data, size_t len)
{
	struct ipc_msg	*msg;
	uint32_t	 n = 0, i;

	while (rcpts[n] != NULL)
		n++;
	msg = ipc_msg_new(IMSG_MTA_DELIVER, 0);
	ipc_add_u64(msg, reqid);
	ipc_add_str(msg, "0123456789abcdef");
	ipc_add_str(msg, sender);
	ipc_add_u8(msg, flags);
	ipc_add_u64(msg, len);
	ipc_add_str(msg, domain);
	ipc_add_u32(msg, n);
	for (i = 0; i < n; i++) {
		ipc_add_u32(msg, i + 10);
		ipc_add_str(msg, rcpts[i]);
	}
	ipc_add_fd(msg, content_fd(data, len));
	CHECK(ipc_send_sync(m->chan, msg, 5000));
}

/* result: read one IMSG_MTA_RESULT (false on timeout or bad frame). */
static bool
result(struct mta_child *m, struct result *r)
{
	struct ipc_msg_in	*in;
	uint32_t		 i;

	memset(r, 0, sizeof(*r));
	if ((in = ipc_recv_sync(m->chan, 15000)) == NULL)
		return false;
	if (in->type != IMSG_MTA_RESULT || !ipc_get_u64(in, &r->reqid) ||
	    !ipc_get_u32(in, &r->n) || r->n > nitems(r->r))
		return false;
	for (i = 0; i < r->n; i++)
		if (!ipc_get_u32(in, &r->r[i].index) ||
		    !ipc_get_u8(in, &r->r[i].class) ||
		    !ipc_get_str(in, r->r[i].dsn, sizeof(r->r[i].dsn)) ||
		    !ipc_get_str(in, r->r[i].remote, sizeof(r->r[i].remote)) ||
		    !ipc_get_str(in, r->r[i].reply, sizeof(r->r[i].reply)))
			return false;
	return ipc_end(in);
}

/* find: the result entry of a recipient index. */
static const struct res_rcpt *
find(const struct result *r, uint32_t index)
{
	uint32_t	 i;

	for (i = 0; i < r->n; i++)
		if (r->r[i].index == index)
			return &r->r[i];
	return NULL;
}

/* expect: recipient index got class and dsn. */
#define EXPECT(res, idx, cls, dsnv) do {				\
	const struct res_rcpt *e_ = find((res), (idx));			\
	CHECKF(e_ != NULL, "no result for index %d", (int)(idx));	\
	if (e_ != NULL) {						\
		CHECKF(e_->class == (cls), "index %d class %d (%s)",	\
		    (int)(idx), e_->class, e_->reply);			\
		CHECK_STREQ(e_->dsn, (dsnv));				\
	}								\
} while (0)

/*
 * One connection for two requests to the same destination (the second
 * reuses the parked connection), delivered bytes and envelope exactly
 * (dot-stuffing undone by the receiver, a last line without CRLF gets
 * one), PIPELINING (MAIL, both RCPTs and DATA in one write).
 */
static void
t_e2e_delivery_reuse(void)
{
	static const char *const opts[] = { "caps=PIPELINING,8BITMIME,"
	    "SIZE 10000000,ENHANCEDSTATUSCODES", NULL };
	static const char *const rcpts[] = { "a@reuse.test", "b@reuse.test",
	    NULL };
	static const char body[] = "Subject: dots\r\n\r\n.hidden\r\n..two\r\n"
	    ".\r\nmiddle\r\n.\r\nend-no-crlf";
	static const char body2[] = "Subject: two\r\n\r\nsecond\r\n";
	struct sekisho_conf	 c;
	struct smtpd		 env;
	struct mta_child	 m;
	struct result		 r;
	struct peer		 p;
	char			*log, *msg, want[256];
	size_t			 len;

	if (!peer_start(&p, opts)) {
		CHECKF(false, "peer did not start");
		return;
	}
	base_conf(&c, &env);
	add_route(&c, "reuse.test", "127.0.0.1", p.port, NULL, CONF_TLS_NONE);
	mta_start(&m, &env);
	deliver(&m, 1, "s@x.test", MTA_F_8BIT, "reuse.test", rcpts, body,
	    strlen(body));
	CHECK(result(&m, &r));
	CHECK_INTEQ(r.reqid, 1);
	CHECK_INTEQ(r.n, 2);
	EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	EXPECT(&r, 11, MTA_DELIVERED, "2.0.0");
	CHECK(strstr(r.r[0].remote, "127.0.0.1[127.0.0.1]:") != NULL);
	CHECK(strstr(r.r[0].reply, "250 2.0.0 Ok") != NULL);
	deliver(&m, 2, "", 0, "reuse.test", rcpts + 1, body2, strlen(body2));
	CHECK(result(&m, &r));
	CHECK_INTEQ(r.reqid, 2);
	EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	mta_stop(&m);

	log = peer_log(&p);
	CHECKF(count(log, "CONNECT ") == 1, "connections: %s", log);
	CHECK(strstr(log, "CMD 1 EHLO client.test") != NULL);
	CHECK(strstr(log, "CMD 1 MAIL FROM:<s@x.test> SIZE=") != NULL);
	CHECK(strstr(log, "BODY=8BITMIME") != NULL);
	CHECK(strstr(log, "CMD 1 MAIL FROM:<> SIZE=24") != NULL);
	CHECK(strstr(log, "ENV 1 s@x.test a@reuse.test,b@reuse.test") != NULL);
	CHECK(strstr(log, "ENV 2  b@reuse.test") != NULL);
	CHECK(strstr(log, "CMD 1 RSET") != NULL);
	/* MAIL, RCPT, RCPT, DATA in one write: 3 lines buffered after MAIL. */
	CHECKF(strstr(log, "PIPE 1 3") != NULL, "%s", log);
	free(log);
	msg = peer_msg(&p, 1, &len);
	snprintf(want, sizeof(want), "%s\r\n", body);
	CHECK(msg != NULL && len == strlen(want) && memcmp(msg, want, len) == 0);
	free(msg);
	msg = peer_msg(&p, 2, &len);
	CHECK(msg != NULL && len == strlen(body2) &&
	    memcmp(msg, body2, len) == 0);
	free(msg);
	peer_stop(&p);
	free_routes(&c);
}

/*
 * One of two recipients refused with 5xx (no PIPELINING: one command at
 * a time): the other is delivered; a 4xx for a third is temporary.
 */
static void
t_e2e_rcpt_classes(void)
{
	static const char *const opts[] = { "caps=ENHANCEDSTATUSCODES",
	    "rcpt_fail=bad@cls.test:550 5.1.1 <bad@cls.test>: Recipient "
	    "address rejected;later@cls.test:451 4.7.1 greylisted", NULL };
	static const char *const rcpts[] = { "good@cls.test", "bad@cls.test",
	    "later@cls.test", NULL };
	static const char body[] = "Subject: x\r\n\r\nhello\r\n";
	struct sekisho_conf	 c;
	struct smtpd		 env;
	struct mta_child	 m;
	struct result		 r;
	struct peer		 p;
	const struct res_rcpt	*e;
	char			*log;

	if (!peer_start(&p, opts)) {
		CHECKF(false, "peer did not start");
		return;
	}
	base_conf(&c, &env);
	add_route(&c, "cls.test", "127.0.0.1", p.port, NULL, CONF_TLS_NONE);
	mta_start(&m, &env);
	deliver(&m, 7, "s@x.test", 0, "cls.test", rcpts, body, strlen(body));
	CHECK(result(&m, &r));
	CHECK_INTEQ(r.n, 3);
	EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	EXPECT(&r, 11, MTA_PERMFAIL, "5.1.1");
	EXPECT(&r, 12, MTA_TEMPFAIL, "4.7.1");
	if ((e = find(&r, 11)) != NULL)
		CHECK(strstr(e->reply, "Recipient address rejected") != NULL);
	mta_stop(&m);
	log = peer_log(&p);
	CHECK(strstr(log, "ENV 1 s@x.test good@cls.test\n") != NULL);
	CHECK(strstr(log, "PIPE") == NULL);
	free(log);
	peer_stop(&p);
	free_routes(&c);
}

/* A 4xx greeting, a 5xx at end of data: temporary / permanent. */
static void
t_e2e_greeting_and_eod(void)
{
	static const char *const o1[] = { "greeting=421 4.3.2 busy now", NULL };
	static const char *const o2[] = { "caps=PIPELINING",
	    "eod=554 5.7.1 content rejected", NULL };
	static const char *const rcpts[] = { "a@g.test", NULL };
	static const char body[] = "x\r\n";
	struct sekisho_conf	 c;
	struct smtpd		 env;
	struct mta_child	 m;
	struct result		 r;
	struct peer		 p1, p2;

	if (!peer_start(&p1, o1) || !peer_start(&p2, o2)) {
		CHECKF(false, "peer did not start");
		return;
	}
	base_conf(&c, &env);
	add_route(&c, "g.test", "127.0.0.1", p1.port, NULL, CONF_TLS_NONE);
	add_route(&c, "e.test", "127.0.0.1", p2.port, NULL, CONF_TLS_NONE);
	mta_start(&m, &env);
	deliver(&m, 1, "s@x.test", 0, "g.test", rcpts, body, strlen(body));
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_TEMPFAIL, "4.3.2");
	CHECK(strstr(r.r[0].reply, "busy now") != NULL);
	deliver(&m, 2, "s@x.test", 0, "e.test", rcpts, body, strlen(body));
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_PERMFAIL, "5.7.1");
	mta_stop(&m);
	peer_stop(&p1);
	peer_stop(&p2);
	free_routes(&c);
}

/*
 * SIZE too small: 5.3.4 and nothing sent; SMTPUTF8 needed and not
 * offered: 5.6.7; EHLO refused: HELO.
 */
static void
t_e2e_size_utf8_helo(void)
{
	static const char *const o1[] = { "caps=SIZE 100,PIPELINING", NULL };
	static const char *const o2[] = { "ehlo=502 5.5.2 no EHLO here", NULL };
	static const char *const rcpts[] = { "a@s.test", NULL };
	struct sekisho_conf	 c;
	struct smtpd		 env;
	struct mta_child	 m;
	struct result		 r;
	struct peer		 p1, p2;
	char			 big[500], *log;

	if (!peer_start(&p1, o1) || !peer_start(&p2, o2)) {
		CHECKF(false, "peer did not start");
		return;
	}
	memset(big, 'x', sizeof(big));
	base_conf(&c, &env);
	add_route(&c, "s.test", "127.0.0.1", p1.port, NULL, CONF_TLS_NONE);
	add_route(&c, "h.test", "127.0.0.1", p2.port, NULL, CONF_TLS_NONE);
	mta_start(&m, &env);
	deliver(&m, 1, "s@x.test", 0, "s.test", rcpts, big, sizeof(big));
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_PERMFAIL, "5.3.4");
	deliver(&m, 2, "s@x.test", MTA_F_SMTPUTF8, "s.test", rcpts, "a\r\n", 3);
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_PERMFAIL, "5.6.7");
	deliver(&m, 3, "s@x.test", 0, "s.test", rcpts, "ok\r\n", 4);
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	deliver(&m, 4, "s@x.test", 0, "h.test", rcpts, "ok\r\n", 4);
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	mta_stop(&m);
	log = peer_log(&p1);
	CHECK(count(log, "CMD 1 MAIL") == 1);
	CHECK(strstr(log, "SIZE=4") != NULL);
	free(log);
	log = peer_log(&p2);
	CHECK(strstr(log, "CMD 1 HELO client.test") != NULL);
	free(log);
	peer_stop(&p1);
	peer_stop(&p2);
	free_routes(&c);
}

/*
 * STARTTLS: may (used when offered), verify against the right CA and
 * name (delivered over TLS), encrypt at a peer without STARTTLS and
 * verify against the wrong CA: temporary failures.
 */
static void
t_e2e_starttls(void)
{
	char			 c1[400], c2[400];
	const char		*o1[] = { "caps=STARTTLS,PIPELINING", c1, c2,
	    NULL };
	static const char *const o2[] = { "caps=PIPELINING", NULL };
	static const char *const rcpts[] = { "a@t.test", NULL };
	struct sekisho_conf	 c;
	struct smtpd		 env;
	struct mta_child	 m;
	struct result		 r;
	struct peer		 p1, p2;
	char			*log, *msg;
	size_t			 len;

	snprintf(c1, sizeof(c1), "cert=%s", certfile);
	snprintf(c2, sizeof(c2), "key=%s", keyfile);
	if (!peer_start(&p1, o1) || !peer_start(&p2, o2)) {
		CHECKF(false, "peer did not start");
		return;
	}
	/* The right CA: the self-signed certificate itself. */
	base_conf(&c, &env);
	c.tsmtpd.tls_ca_file = certfile;
	add_route(&c, "may.test", "127.0.0.1", p1.port, NULL, CONF_TLS_MAY);
	add_route(&c, "ver.test", "127.0.0.1", p1.port, NULL,
	    CONF_TLS_VERIFY);
	add_route(&c, "enc.test", "127.0.0.1", p2.port, NULL,
	    CONF_TLS_ENCRYPT);
	mta_start(&m, &env);
	deliver(&m, 1, "s@x.test", 0, "may.test", rcpts, "tls\r\n", 5);
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	deliver(&m, 2, "s@x.test", 0, "ver.test", rcpts, "tls\r\n", 5);
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	deliver(&m, 3, "s@x.test", 0, "enc.test", rcpts, "tls\r\n", 5);
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_TEMPFAIL, "4.7.4");
	CHECK(strstr(r.r[0].reply, "does not offer STARTTLS") != NULL);
	mta_stop(&m);
	free_routes(&c);

	/* The wrong CA (the system's): verification fails, deferred. */
	base_conf(&c, &env);
	c.tsmtpd.tls_ca_file = "/etc/ssl/certs/ca-certificates.crt";
	add_route(&c, "ver.test", "127.0.0.1", p1.port, NULL,
	    CONF_TLS_VERIFY);
	mta_start(&m, &env);
	deliver(&m, 4, "s@x.test", 0, "ver.test", rcpts, "tls\r\n", 5);
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_TEMPFAIL, "4.7.5");
	CHECKF(strstr(r.r[0].reply, "certificate") != NULL, "%s",
	    r.r[0].reply);
	mta_stop(&m);
	free_routes(&c);

	log = peer_log(&p1);
	CHECKF(count(log, "TLS ") >= 2, "%s", log);
	CHECK(count(log, "MSG ") == 2);
	free(log);
	msg = peer_msg(&p1, 1, &len);
	CHECK(msg != NULL && len == 5 && memcmp(msg, "tls\r\n", 5) == 0);
	free(msg);
	peer_stop(&p1);
	peer_stop(&p2);
}

/* Connection refused: temporary 4.4.1 for every recipient. */
static void
t_e2e_refused(void)
{
	static const char *const rcpts[] = { "a@r.test", "b@r.test", NULL };
	struct sekisho_conf	 c;
	struct smtpd		 env;
	struct mta_child	 m;
	struct result		 r;
	int			 port, fd;
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);

	/* A port nobody listens on: bind, read it, close. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000001);
	bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	port = ntohs(sin.sin_port);
	close(fd);
	base_conf(&c, &env);
	add_route(&c, "r.test", "127.0.0.1", port, NULL, CONF_TLS_NONE);
	mta_start(&m, &env);
	deliver(&m, 1, "s@x.test", 0, "r.test", rcpts, "x\r\n", 3);
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_TEMPFAIL, "4.4.1");
	EXPECT(&r, 11, MTA_TEMPFAIL, "4.4.1");
	CHECKF(strstr(r.r[0].reply, "refused") != NULL, "%s", r.r[0].reply);
	mta_stop(&m);
	free_routes(&c);
}

/* CHUNKING: BDAT chunks, bytes unstuffed; a large DATA message too. */
static void
t_e2e_chunking_and_large(void)
{
	static const char *const o1[] = { "caps=CHUNKING,PIPELINING", NULL };
	static const char *const o2[] = { "caps=PIPELINING", NULL };
	static const char *const rcpts[] = { "a@c.test", NULL };
	struct sekisho_conf	 c;
	struct smtpd		 env;
	struct mta_child	 m;
	struct result		 r;
	struct peer		 p1, p2;
	char			*big, *log, *msg;
	size_t			 len, i, n = 400 * 1024;

	if (!peer_start(&p1, o1) || !peer_start(&p2, o2)) {
		CHECKF(false, "peer did not start");
		return;
	}
	big = malloc(n);
	for (i = 0; i < n; i++)
		big[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' :
		    (i % 78 == 0 && (i / 78) % 3 == 0) ? '.' : 'a' + i % 26;
	base_conf(&c, &env);
	add_route(&c, "c.test", "127.0.0.1", p1.port, NULL, CONF_TLS_NONE);
	add_route(&c, "d.test", "127.0.0.1", p2.port, NULL, CONF_TLS_NONE);
	mta_start(&m, &env);
	deliver(&m, 1, "s@x.test", 0, "c.test", rcpts, big, n);
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	deliver(&m, 2, "s@x.test", 0, "d.test", rcpts, big, n);
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	mta_stop(&m);
	log = peer_log(&p1);
	CHECK(strstr(log, "CMD 1 BDAT 65536\n") != NULL);
	CHECK(strstr(log, " LAST\n") != NULL);
	CHECK(strstr(log, "CMD 1 DATA") == NULL);
	free(log);
	msg = peer_msg(&p1, 1, &len);
	CHECK(msg != NULL && len == n && memcmp(msg, big, n) == 0);
	free(msg);
	/* DATA: the last line had no CRLF; it gets one. */
	msg = peer_msg(&p2, 1, &len);
	CHECK(msg != NULL && len == n + 2 && memcmp(msg, big, n) == 0 &&
	    memcmp(msg + n, "\r\n", 2) == 0);
	free(msg);
	free(big);
	peer_stop(&p1);
	peer_stop(&p2);
	free_routes(&c);
}

/* A maildir: route: no connection, one file per recipient in new/. */
static void
t_e2e_maildir(void)
{
	static const char *const rcpts[] = { "Alice@m.test", "../x@m.test",
	    NULL };
	static const char body[] = "Subject: md\r\n\r\nbody\r\n";
	struct sekisho_conf	 c;
	struct smtpd		 env;
	struct mta_child	 m;
	struct result		 r;
	char			 root[400], path[800], buf[256];
	const struct res_rcpt	*e;
	FILE			*f;
	size_t			 n;

	snprintf(root, sizeof(root), "%s/maildir", tmpdir);
	mkdir(root, 0700);
	base_conf(&c, &env);
	add_route(&c, "m.test", NULL, 0, root, -1);
	mta_start(&m, &env);
	deliver(&m, 1, "s@x.test", 0, "m.test", rcpts, body, strlen(body));
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	EXPECT(&r, 11, MTA_DELIVERED, "2.0.0");
	mta_stop(&m);
	e = find(&r, 10);
	if (e != NULL) {
		CHECK(strncmp(e->remote, "maildir:", 8) == 0);
		CHECK(strncmp(e->reply, "alice@m.test/new/", 17) == 0);
		CHECK(str_printf(path, sizeof(path), "%s/%s", root,
		    e->reply));
		if ((f = fopen(path, "r")) != NULL) {
			n = fread(buf, 1, sizeof(buf) - 1, f);
			buf[n] = '\0';
			fclose(f);
			CHECK_STREQ(buf, "Return-Path: <s@x.test>\r\n"
			    "Delivered-To: Alice@m.test\r\n"
			    "Subject: md\r\n\r\nbody\r\n");
		} else
			CHECKF(false, "no file %s", path);
	}
	e = find(&r, 11);
	if (e != NULL)
		CHECK(strncmp(e->reply, "..%2Fx@m.test/new/", 18) == 0);
	free_routes(&c);
}

/* A host route with A (nobody listens) and AAAA (the peer): next target. */
static void
t_e2e_next_target(void)
{
	static const char *const o[] = { "v6=1", NULL };
	static const char *const rcpts[] = { "a@n.test", NULL };
	struct sekisho_conf	 c;
	struct smtpd		 env;
	struct mta_child	 m;
	struct result		 r;
	struct peer		 p;
	char			 pidf[400], pidarg[420], port[32], rec[200];
	char			 servers[64];
	char			*argv[16];
	pid_t			 dpid = -1;
	FILE			*f;
	int			 dport = 0, i;

	if (!peer_start(&p, o)) {
		CHECKF(false, "peer did not start");
		return;
	}
	/* dnsmasq on a free-ish port: relay.test A 127.0.0.3, AAAA ::1. */
	snprintf(pidf, sizeof(pidf), "%s/dnsmasq.pid", tmpdir);
	snprintf(rec, sizeof(rec), "--host-record=relay.test,127.0.0.3,::1");
	for (i = 0; i < 5 && dpid == -1; i++) {
		dport = 20000 + (getpid() * 7 + i * 131) % 30000;
		snprintf(port, sizeof(port), "--port=%d", dport);
		argv[0] = "dnsmasq";
		argv[1] = "--no-resolv";
		argv[2] = "--no-hosts";
		argv[3] = "--listen-address=127.0.0.1";
		argv[4] = "--bind-interfaces";
		argv[5] = port;
		argv[6] = rec;
		argv[7] = "--user=root";
		snprintf(pidarg, sizeof(pidarg), "--pid-file=%s", pidf);
		argv[8] = pidarg;
		argv[9] = "--conf-file=/dev/null";
		argv[10] = NULL;
		unlink(pidf);
		if (run(argv) == 0 && (f = fopen(pidf, "r")) != NULL) {
			if (fscanf(f, "%d", &dpid) != 1)
				dpid = -1;
			fclose(f);
		}
	}
	if (dpid == -1) {
		fprintf(stderr, "t_e2e_next_target: no dnsmasq, skipped\n");
		peer_stop(&p);
		return;
	}
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", dport);
	base_conf(&c, &env);
	c.tsmtpd.dns_servers = servers;
	add_route(&c, "n.test", "relay.test", p.port, NULL, CONF_TLS_NONE);
	mta_start(&m, &env);
	deliver(&m, 1, "s@x.test", 0, "n.test", rcpts, "x\r\n", 3);
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	CHECKF(strstr(r.r[0].remote, "relay.test[::1]:") != NULL, "%s",
	    r.r[0].remote);
	mta_stop(&m);
	kill(dpid, SIGTERM);
	peer_stop(&p);
	free_routes(&c);
}

/*
 * A parked connection the peer dropped is discarded quietly (the next
 * request gets a new one); four requests at once use at most
 * MaxConnectionsPerDestination (2) connections.
 */
static void
t_e2e_parked_drop_and_limit(void)
{
	static const char *const o1[] = { "rset_close=1", NULL };
	static const char *const o2[] = { "caps=PIPELINING", NULL };
	static const char *const rcpts[] = { "a@p.test", NULL };
	struct sekisho_conf	 c;
	struct smtpd		 env;
	struct mta_child	 m;
	struct result		 r;
	struct peer		 p1, p2;
	char			*log;
	int			 i, seen = 0;

	if (!peer_start(&p1, o1) || !peer_start(&p2, o2)) {
		CHECKF(false, "peer did not start");
		return;
	}
	base_conf(&c, &env);
	add_route(&c, "p.test", "127.0.0.1", p1.port, NULL, CONF_TLS_NONE);
	add_route(&c, "q.test", "127.0.0.1", p2.port, NULL, CONF_TLS_NONE);
	mta_start(&m, &env);
	deliver(&m, 1, "s@x.test", 0, "p.test", rcpts, "x\r\n", 3);
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	usleep(200 * 1000);
	deliver(&m, 2, "s@x.test", 0, "p.test", rcpts, "x\r\n", 3);
	CHECK(result(&m, &r));
	EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	for (i = 0; i < 4; i++)
		deliver(&m, 10 + i, "s@x.test", 0, "q.test", rcpts, "y\r\n",
		    3);
	for (i = 0; i < 4; i++) {
		CHECK(result(&m, &r));
		EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
		if (r.reqid >= 10 && r.reqid < 14)
			seen |= 1 << (r.reqid - 10);
	}
	CHECK_INTEQ(seen, 15);
	mta_stop(&m);
	log = peer_log(&p1);
	CHECKF(count(log, "CONNECT ") == 2, "%s", log);
	free(log);
	log = peer_log(&p2);
	CHECKF(count(log, "CONNECT ") <= 2 && count(log, "MSG ") == 4, "%s",
	    log);
	free(log);
	peer_stop(&p1);
	peer_stop(&p2);
	free_routes(&c);
}

/* now_ms: the monotonic clock in milliseconds. */
static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* file_text: a whole file as a string (caller frees). */
static char *
file_text(const char *path)
{
	char	*s;
	FILE	*f;
	long	 n;

	if ((f = fopen(path, "r")) == NULL)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = calloc(1, (size_t)n + 1);
	if (fread(s, 1, (size_t)n, f) != (size_t)n)
		s[0] = '\0';
	fclose(f);
	return s;
}

/*
 * rate_batch: send n requests to domain at once (reqids from base), read
 * the n results; at[i] is when the i-th result came, ms after t0.
 */
static void
rate_batch(struct mta_child *m, const char *domain, uint64_t base, int n,
    long long t0, long long *at)
{
	static const char *const rcpts[] = { "a@rate.test", NULL };
	struct result	 r;
	int		 i;

	for (i = 0; i < n; i++)
		deliver(m, base + i, "s@x.test", 0, domain, rcpts, "r\r\n", 3);
	for (i = 0; i < n; i++) {
		at[i] = -1;
		if (!result(m, &r)) {
			CHECKF(false, "no result %d", i);
			return;
		}
		at[i] = now_ms() - t0;
		EXPECT(&r, 10, MTA_DELIVERED, "2.0.0");
	}
}

/*
 * MaxMessagesPerMinutePerDestination=240: 4 a second, bursts of 4.
 * Eight requests at once: four start at once, the others one every
 * 250 ms (each result no earlier than its token); one throttling episode
 * is logged once.  Then without connection reuse (a connection per
 * token, no reconnect storm) and a destination that went idle: its
 * bucket is remembered, the next request still waits for its token.
 */
static void
t_e2e_rate_limit(void)
{
	struct sekisho_conf	 c;
	struct smtpd		 env;
	struct mta_child	 m;
	struct peer		 p;
	char			 logpath[400], *log;
	long long		 t0, at[8];
	int			 i;

	if (!peer_start(&p, NULL)) {
		CHECKF(false, "peer did not start");
		return;
	}
	snprintf(logpath, sizeof(logpath), "%s/rate-mta.log", tmpdir);
	mta_logpath = logpath;
	base_conf(&c, &env);
	c.tsmtpd.max_messages_per_minute_per_destination = 240;
	add_route(&c, "rate.test", "127.0.0.1", p.port, NULL, CONF_TLS_NONE);
	mta_start(&m, &env);
	t0 = now_ms();
	rate_batch(&m, "rate.test", 1, 8, t0, at);
	mta_stop(&m);
	for (i = 4; i < 8; i++)
		CHECKF(at[i] >= (i - 3) * 250 - 5, "result %d after %lld ms",
		    i, at[i]);
	CHECKF(at[3] >= 0 && at[3] < 1000, "burst took %lld ms", at[3]);
	CHECKF(at[7] < 3000, "last after %lld ms", at[7]);
	log = peer_log(&p);
	CHECKF(count(log, "MSG ") == 8 && count(log, "CONNECT ") <= 2, "%s",
	    log);
	free(log);
	log = file_text(logpath);
	CHECKF(count(log, "event=mta-throttled ") == 1 &&
	    strstr(log, "limit=240/min") != NULL &&
	    count(log, "event=mta-unthrottled ") == 1, "%s", log);
	free(log);

	/* No reuse: 6 at once, then one more as soon as they are done. */
	c.tsmtpd.connection_cache_seconds = 0;
	unlink(logpath);
	mta_start(&m, &env);
	t0 = now_ms();
	rate_batch(&m, "rate.test", 20, 6, t0, at);
	CHECKF(at[4] >= 250 - 5 && at[5] >= 500 - 5, "results after %lld, "
	    "%lld ms", at[4], at[5]);
	rate_batch(&m, "rate.test", 30, 1, t0, at + 6);
	CHECKF(at[6] >= 750 - 5 && at[6] < 3000, "7th result after %lld ms",
	    at[6]);
	mta_stop(&m);
	mta_logpath = NULL;
	log = peer_log(&p);
	CHECKF(count(log, "MSG ") == 15 && count(log, "CONNECT ") <= 2 + 7,
	    "%s", log);
	free(log);
	peer_stop(&p);
	free_routes(&c);
}

static void
t_setup(void)
{
	char	*argv[20];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_mta_e2e.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		abort();
	snprintf(certfile, sizeof(certfile), "%s/peer.crt", tmpdir);
	snprintf(keyfile, sizeof(keyfile), "%s/peer.key", tmpdir);
	argv[0] = "openssl";
	argv[1] = "req";
	argv[2] = "-x509";
	argv[3] = "-newkey";
	argv[4] = "ec";
	argv[5] = "-pkeyopt";
	argv[6] = "ec_paramgen_curve:P-256";
	argv[7] = "-nodes";
	argv[8] = "-keyout";
	argv[9] = keyfile;
	argv[10] = "-out";
	argv[11] = certfile;
	argv[12] = "-days";
	argv[13] = "2";
	argv[14] = "-subj";
	argv[15] = "/CN=localhost";
	argv[16] = "-addext";
	argv[17] = "subjectAltName=IP:127.0.0.1,DNS:localhost";
	argv[18] = NULL;
	if (run(argv) != 0) {
		fprintf(stderr, "test_mta_e2e: openssl failed, skipped\n");
		exit(77);
	}
	argv[0] = "python3";
	argv[1] = "-c";
	argv[2] = "import ssl";
	argv[3] = NULL;
	if (run(argv) != 0) {
		fprintf(stderr, "test_mta_e2e: no python3, skipped\n");
		exit(77);
	}
}

static void
t_teardown(void)
{
	test_rmtree(tmpdir);
}

TEST_MAIN(t_setup, t_e2e_delivery_reuse, t_e2e_rcpt_classes,
    t_e2e_greeting_and_eod, t_e2e_size_utf8_helo, t_e2e_starttls,
    t_e2e_refused, t_e2e_chunking_and_large, t_e2e_maildir,
    t_e2e_next_target, t_e2e_parked_drop_and_limit, t_e2e_rate_limit,
    t_teardown)
