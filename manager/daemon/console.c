/*
 * console.c: the administration console and JSON API of sekisho-manager
 * over HTTPS (console.h; docs/manager.md "Console and JSON API").
 *
 * The manager's side (console_configure and the rest of console.h):
 * when [imss_manager] console_address is set, the administrators' file
 * names at least one administrator and the certificate and key load, the
 * manager binds console_address:console_port, builds the TLS context
 * and reads the password hashes as root, then forks the console process
 * (mchild.c: manager_user, chroot DATA_DIR/empty) with only the
 * listening socket and its end of a socket pair, whose other end it
 * serves like a sekishoctl connection (mgr_console_client).  The console
 * is restarted when what it was started with (the administrators' file,
 * the certificate, the key, the address, the port, the user) changed at
 * a reload, and after it dies, with a backoff of 1 s doubling to 60 s.
 *
 * The console process: evhttp over TLS on the listening socket.
 * Everything under /api/ needs HTTP Basic authentication against the
 * hashes (a success is remembered for CONSOLE_CACHE_SECS so that
 * yescrypt does not run for every call); a client address with
 * CONSOLE_FAIL_MAX failures in CONSOLE_FAIL_WINDOW seconds is refused
 * (429) for CONSOLE_LOCK_SECS without a look at its password.  A POST
 * must carry "X-Sekisho-Request: 1", which a cross-site form cannot set,
 * and no body.  Each API call becomes one of the manager's control
 * requests, keyed by its request id; the manager's JSON entries are
 * parsed and emitted again, never copied through.  A client that leaves
 * before the answer only drops its pointer: the late answer is thrown
 * away.  GET / and /console.js serve the page, which uses the same API.
 * Every response carries a strict Content-Security-Policy and the other
 * security headers, and Cache-Control: no-store.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "conf.h"
#include "console.h"
#include "console_users.h"
#include "ipc.h"
#include "log.h"
#include "mchild.h"
#include "tls.h"
#include "util.h"
#include "xmalloc.h"

#ifndef SEKISHO_VERSION
#define SEKISHO_VERSION		"unknown"
#endif

#define CONSOLE_KILL_DELAY_MS	500	/* a restart: the last answers go */
#define CONSOLE_FILE_MAX	(1024 * 1024)	/* fingerprinted files */
#define CONSOLE_TIMEOUT_SECS	30
#define CONSOLE_MAX_HEADERS	8192
#define CONSOLE_MAX_BODY	4096
#define CONSOLE_MAX_PENDING	64	/* calls to the manager at once */
#define CONSOLE_MAX_ENTRIES	4096	/* entries of one answer */
#define CONSOLE_MAX_TEXT	8192	/* an entry or a result text */
#define CONSOLE_CACHE_SIZE	32	/* logins remembered */
#define CONSOLE_CACHE_SECS	300
#define CONSOLE_FAIL_SLOTS	64	/* client addresses with failures */
#define CONSOLE_FAIL_MAX	10
#define CONSOLE_FAIL_WINDOW	600
#define CONSOLE_LOCK_SECS	600
#define CONSOLE_PATH_MAX	200	/* longer paths are not ours */
#define CONSOLE_SVC_MAX		63
#define CONSOLE_PEER_MAX	(INET6_ADDRSTRLEN + 1)
/* The base64 of "name:password" at their longest. */
#define CONSOLE_CRED_MAX	(CONSOLE_NAME_MAX + 1 + CONSOLE_PASSWORD_MAX)
#define CONSOLE_B64_MAX		((CONSOLE_CRED_MAX + 2) / 3 * 4)

/* ---- the manager's side ------------------------------------------------- */

static struct {
	struct event_base	*base;
	const struct sekisho_conf *conf;
	bool			 foreground;
	pid_t			 pid;
	uint8_t			 started_with[32];
	uint8_t			 off_for[32];	/* console-off logged for */
	bool			 off_logged;
	bool			 killed;	/* ended for a new configuration */
	unsigned		 deaths;
	struct event		*ev_restart;
	struct event		*ev_kill;
	bool			 stopping;
} c;

static int	 console_main(int, int, SSL_CTX *, struct console_users *);

/* digest_file: the bytes of path (or nothing) and a separator. */
static void
digest_file(EVP_MD_CTX *md, const char *path)
{
	char	*data;
	size_t	 len;

	if ((data = file_read(path, CONSOLE_FILE_MAX, &len)) != NULL) {
		EVP_DigestUpdate(md, data, len);
		explicit_bzero(data, len);
		free(data);
	}
	EVP_DigestUpdate(md, "\n", 1);
}

/*
 * fingerprint: SHA-256 of what the console is started with: the
 * administrators, the certificate, the key, the address, the port and
 * the user.  A change restarts it.
 */
static void
fingerprint(uint8_t out[32])
{
	const struct conf_imss *ic = &c.conf->imss;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char	 num[32];

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		fatalx("console: sha256");
	digest_file(md, ic->console_users_file);
	digest_file(md, ic->console_cert_file);
	digest_file(md, ic->console_key_file);
	(void)snprintf(num, sizeof(num), "%lld", ic->console_port);
	EVP_DigestUpdate(md, ic->console_address.text,
	    strlen(ic->console_address.text) + 1);
	EVP_DigestUpdate(md, num, strlen(num) + 1);
	EVP_DigestUpdate(md, ic->manager_user, strlen(ic->manager_user) + 1);
	if (EVP_DigestFinal_ex(md, out, NULL) != 1)
		fatalx("console: sha256");
	EVP_MD_CTX_free(md);
}

/* console_off: why the console does not run, once per configuration. */
static void
console_off(int level, const char *detail)
{
	char	 esc[LOG_ESC_MAX];

	if (c.off_logged && memcmp(c.off_for, c.started_with,
	    sizeof(c.off_for)) == 0)
		return;
	memcpy(c.off_for, c.started_with, sizeof(c.off_for));
	c.off_logged = true;
	log_kv(level, "event=console-off detail=%s", log_esc(esc, sizeof(esc),
	    detail));
}

/* console_listen: the socket on console_address:console_port. */
static int
console_listen(void)
{
	const struct conf_ip *ip = &c.conf->imss.console_address;
	uint16_t	 port = (uint16_t)c.conf->imss.console_port;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t	 sl;
	int		 fd, on = 1, e;

	memset(&ss, 0, sizeof(ss));
	if (ip->family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_addr = ip->addr.v4;
		sin->sin_port = htons(port);
		sl = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = ip->addr.v6;
		sin6->sin6_port = htons(port);
		sl = sizeof(*sin6);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, sl) == -1 || listen(fd, 64) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * console_prepare: as root, what the console runs with: the
 * administrators, the TLS context and the listening socket.  false
 * (console-off logged) when it cannot run.
 */
static bool
console_prepare(struct console_users *users, SSL_CTX **ctx, int *lfd)
{
	const struct conf_imss *ic = &c.conf->imss;
	char	 err[512], why[700];

	if (ic->console_address.family == AF_UNSPEC) {
		console_off(LOG_LVL_INFO, "console_address is empty");
		return false;
	}
	if (console_users_load(ic->console_users_file, users, err,
	    sizeof(err)) == -1) {
		console_off(LOG_LVL_ERR, err);
		return false;
	}
	if (users->n == 0) {
		console_off(LOG_LVL_INFO, "no administrators: sekishoctl "
		    "console passwd NAME");
		return false;
	}
	if ((*ctx = tls_server_ctx_new(ic->console_cert_file,
	    ic->console_key_file, err, sizeof(err))) == NULL) {
		console_users_free(users);
		console_off(LOG_LVL_ERR, err);
		return false;
	}
	if ((*lfd = console_listen()) == -1) {
		(void)str_printf(why, sizeof(why), "%s port %lld: %s",
		    ic->console_address.text, ic->console_port,
		    strerror(errno));
		console_users_free(users);
		SSL_CTX_free(*ctx);
		console_off(LOG_LVL_ERR, why);
		return false;
	}
	return true;
}

/* console_start: fork the console when it is configured and can run. */
static void
console_start(void)
{
	struct console_users users;
	SSL_CTX	*ctx;
	int	 sp[2], keep[2], lfd;
	pid_t	 pid;

	if (c.pid != 0 || c.stopping)
		return;
	fingerprint(c.started_with);
	c.killed = false;
	if (!console_prepare(&users, &ctx, &lfd))
		return;
	if (ipc_socketpair(sp) == -1)
		fatal("console: socketpair");
	keep[0] = sp[1];
	keep[1] = lfd;
	if ((pid = mchild_fork("manager.console", c.conf, keep, 2,
	    c.foreground)) == 0)
		_exit(console_main(sp[1], lfd, ctx, &users));
	close(sp[1]);
	close(lfd);
	SSL_CTX_free(ctx);
	c.pid = pid;
	c.off_logged = false;
	mgr_console_client(sp[0]);
	log_kv(LOG_LVL_INFO, "event=console-started pid=%ld administrators=%zu",
	    (long)pid, users.n);
	log_kv(LOG_LVL_INFO, "event=console-listening address=%s port=%lld",
	    c.conf->imss.console_address.text, c.conf->imss.console_port);
	console_users_free(&users);
}

static void
restart_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	console_start();
}

static void
kill_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	if (c.pid != 0)
		(void)kill(c.pid, SIGTERM);
}

/* console_reaped: pid was the console: true (and what follows is done). */
bool
console_reaped(pid_t pid, int status)
{
	uint8_t		 now[32];

	if (pid == 0 || pid != c.pid)
		return false;
	c.pid = 0;
	evtimer_del(c.ev_kill);
	if (c.stopping)
		return true;
	fingerprint(now);
	if (c.killed || memcmp(now, c.started_with, sizeof(now)) != 0) {
		c.deaths = 0;
		console_start();
		return true;
	}
	mchild_died("console", c.ev_restart, &c.deaths, status);
	return true;
}

/*
 * console_configure: the configuration (at start and after each
 * reload): the console restarted when what it runs with changed, started
 * when it can run now.  The restart waits a moment, so that the answer
 * to a reload the console itself asked for still reaches its client.
 */
void
console_configure(const struct sekisho_conf *conf)
{
	struct timeval	 tv = { 0, CONSOLE_KILL_DELAY_MS * 1000 };
	uint8_t		 now[32];

	c.conf = conf;
	if (c.pid != 0) {
		fingerprint(now);
		if (!c.killed && memcmp(now, c.started_with,
		    sizeof(now)) != 0) {
			log_kv(LOG_LVL_INFO, "event=console-restart detail=\""
			    "its administrators, certificate, key, address, "
			    "port or user changed\"");
			c.killed = true;
			evtimer_add(c.ev_kill, &tv);
		}
		return;
	}
	if (evtimer_pending(c.ev_restart, NULL)) {
		fingerprint(now);
		if (memcmp(now, c.started_with, sizeof(now)) == 0)
			return;
		evtimer_del(c.ev_restart);
		c.deaths = 0;
	}
	console_start();
}

void
console_init(struct event_base *base, bool foreground)
{
	memset(&c, 0, sizeof(c));
	c.base = base;
	c.foreground = foreground;
	if ((c.ev_restart = evtimer_new(base, restart_cb, NULL)) == NULL ||
	    (c.ev_kill = evtimer_new(base, kill_cb, NULL)) == NULL)
		fatalx("console_init: evtimer_new");
}

/* console_stop: the manager is stopping: end the console. */
void
console_stop(void)
{
	c.stopping = true;
	evtimer_del(c.ev_restart);
	evtimer_del(c.ev_kill);
	if (c.pid != 0)
		(void)kill(c.pid, SIGTERM);
}

bool
console_stopped(void)
{
	return c.pid == 0;
}

void
console_free(void)
{
	if (c.pid != 0)
		(void)kill(c.pid, SIGTERM);
	if (c.ev_restart != NULL)
		event_free(c.ev_restart);
	if (c.ev_kill != NULL)
		event_free(c.ev_kill);
	c.ev_restart = c.ev_kill = NULL;
}

/* ---- the console process ------------------------------------------------- */

/* One HTTP request, for the answer and the log. */
struct rq {
	struct evhttp_request	*req;		/* NULL: the client left */
	const char		*method;
	char			 path[CONSOLE_PATH_MAX + 1];
	char			 user[CONSOLE_NAME_MAX + 1];	/* "" none */
	bool			 api;
};

/* An API call waiting for the manager's answer. */
struct pending {
	TAILQ_ENTRY(pending)	 entry;
	uint64_t		 reqid;
	struct rq		 q;
	json_t			*entries;
	bool			 bad;		/* an entry was not JSON */
};

/* A login that succeeded: SHA-256 of "user\0password". */
struct login {
	uint8_t			 key[32];
	time_t			 expires;	/* 0: free */
};

/* Failed logins from one client address. */
struct failures {
	char			 peer[CONSOLE_PEER_MAX];	/* "": free */
	time_t			 first, last, locked_until;
	unsigned		 count;
};

static struct {
	struct event_base	*base;
	struct ipc_chan		*parent;
	struct evhttp		*http;
	SSL_CTX			*ctx;
	struct console_users	 users;
	TAILQ_HEAD(, pending)	 pending;
	size_t			 npending;
	uint64_t		 next_reqid;
	struct login		 logins[CONSOLE_CACHE_SIZE];
	struct failures		 fails[CONSOLE_FAIL_SLOTS];
} h;

static const char console_html[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>sekisho</title>\n"
    "<style>body{font-family:sans-serif;margin:2em}"
    "table{border-collapse:collapse;margin-bottom:1em}"
    "td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left}"
    "#msg{min-height:1.5em}</style>\n"
    "<script src=\"/console.js\" defer></script></head>\n"
    "<body><h1>sekisho</h1><p id=\"msg\"></p>\n"
    "<h2>Services</h2><p><button id=\"reload\">Reload the "
    "configuration</button></p>\n"
    "<table><thead><tr><th>Service</th><th>State</th><th>PID</th>"
    "<th>Uptime (s)</th><th>Restarts</th><th>Users</th><th></th></tr>"
    "</thead><tbody id=\"services\"></tbody></table>\n"
    "<h2>Scanner hosts</h2><p><button id=\"sync\">Push now</button></p>\n"
    "<table><thead><tr><th>Host</th><th>Address</th><th>Port</th>"
    "<th>Result</th><th>Last contact</th><th>Applied version</th></tr>"
    "</thead><tbody id=\"hosts\"></tbody></table>\n"
    "</body></html>\n";

static const char console_js[] =
    "\"use strict\";\n"
    "const $ = (id) => document.getElementById(id);\n"
    "const say = (t) => { $(\"msg\").textContent = t; };\n"
    "async function api(method, path) {\n"
    "  const r = await fetch(path, { method, credentials: \"same-origin\","
    "\n    headers: { \"X-Sekisho-Request\": \"1\" } });\n"
    "  const j = await r.json().catch(() => ({}));\n"
    "  if (!r.ok) throw new Error(j.message || j.error || r.statusText);\n"
    "  return j;\n"
    "}\n"
    "function cell(tr, v) {\n"
    "  const td = tr.insertCell();\n"
    "  td.textContent = v === null || v === undefined ? \"-\" : String(v);"
    "\n  return td;\n"
    "}\n"
    "async function act(path) {\n"
    "  say(\"...\");\n"
    "  try { say((await api(\"POST\", path)).message); }\n"
    "  catch (e) { say(e.message); }\n"
    "  load();\n"
    "}\n"
    "function service(tb, e) {\n"
    "  const tr = tb.insertRow();\n"
    "  for (const k of [\"service\", \"state\", \"pid\", \"uptime\", "
    "\"restarts\"])\n"
    "    cell(tr, e[k]);\n"
    "  cell(tr, (e.users || []).join(\", \"));\n"
    "  const td = cell(tr, \"\");\n"
    "  for (const a of [\"start\", \"stop\", \"restart\"]) {\n"
    "    const b = document.createElement(\"button\");\n"
    "    b.textContent = a;\n"
    "    b.addEventListener(\"click\", () => act(\"/api/v1/services/\" +\n"
    "      encodeURIComponent(e.service) + \"/\" + a));\n"
    "    td.appendChild(b);\n"
    "  }\n"
    "}\n"
    "function host(tb, e) {\n"
    "  const tr = tb.insertRow();\n"
    "  for (const k of [\"host\", \"address\", \"port\", \"result\"])\n"
    "    cell(tr, e[k]);\n"
    "  cell(tr, e.last_contact ? new Date(e.last_contact * 1000)"
    ".toISOString() : null);\n"
    "  cell(tr, (e.info || {}).applied_version);\n"
    "}\n"
    "async function load() {\n"
    "  try {\n"
    "    const s = await api(\"GET\", \"/api/v1/status\");\n"
    "    $(\"services\").replaceChildren();\n"
    "    s.entries.forEach((e) => service($(\"services\"), e));\n"
    "    const h = await api(\"GET\", \"/api/v1/hosts\");\n"
    "    $(\"hosts\").replaceChildren();\n"
    "    h.entries.forEach((e) => host($(\"hosts\"), e));\n"
    "  } catch (e) { say(e.message); }\n"
    "}\n"
    "$(\"reload\").addEventListener(\"click\", () => act(\"/api/v1/reload\"));"
    "\n$(\"sync\").addEventListener(\"click\", () => "
    "act(\"/api/v1/central/sync\"));\n"
    "load();\n";

/* mono: seconds of the monotonic clock. */
static time_t
mono(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		fatal("console: clock_gettime");
	return ts.tv_sec;
}

/* reason: the reason phrase of an HTTP status. */
static const char *
reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 429: return "Too Many Requests";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	}
	return "Error";
}

/* respond: the answer to q, with the headers every answer carries. */
static void
respond(struct rq *q, int code, const char *ctype, const void *body,
    size_t len)
{
	struct evkeyvalq *oh = evhttp_request_get_output_headers(q->req);
	struct evbuffer	*b;
	char		 esc[LOG_ESC_MAX];

	evhttp_add_header(oh, "Content-Type", ctype);
	evhttp_add_header(oh, "Cache-Control", "no-store");
	evhttp_add_header(oh, "Content-Security-Policy", "default-src 'none'; "
	    "script-src 'self'; connect-src 'self'; style-src 'self' "
	    "'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
	    "form-action 'none'");
	evhttp_add_header(oh, "X-Frame-Options", "DENY");
	evhttp_add_header(oh, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(oh, "Referrer-Policy", "no-referrer");
	evhttp_add_header(oh, "Strict-Transport-Security", "max-age=31536000");
	if (code == 401)
		evhttp_add_header(oh, "WWW-Authenticate",
		    "Basic realm=\"sekisho\", charset=\"UTF-8\"");
	if (code == 405)
		evhttp_add_header(oh, "Allow", "GET, POST");
	if ((b = evbuffer_new()) == NULL || evbuffer_add(b, body, len) == -1)
		fatalx("console: evbuffer");
	evhttp_send_reply(q->req, code, reason(code), b);
	evbuffer_free(b);
	q->req = NULL;
	if (q->api)
		log_kv(LOG_LVL_INFO, "event=console-request user=%s method=%s "
		    "path=%s status=%d", q->user[0] != '\0' ? q->user : "-",
		    q->method, log_esc(esc, sizeof(esc), q->path), code);
}

/* respond_json: o (released) as the answer. */
static void
respond_json(struct rq *q, int code, json_t *o)
{
	char	*text;

	if (o == NULL || (text = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("console: json");
	json_decref(o);
	respond(q, code, "application/json; charset=utf-8", text, strlen(text));
	free(text);
}

/* respond_error: {"error": why}. */
static void
respond_error(struct rq *q, int code, const char *why)
{
	respond_json(q, code, json_pack("{s:s}", "error", why));
}

/* ---- logins -------------------------------------------------------------- */

/* fail_slot: the failures of peer; a new slot (the oldest replaced). */
static struct failures *
fail_slot(const char *peer, bool create)
{
	struct failures	*f, *old = NULL;
	size_t		 i;

	for (i = 0; i < nitems(h.fails); i++) {
		f = &h.fails[i];
		if (f->peer[0] != '\0' && strcmp(f->peer, peer) == 0)
			return f;
		if (old == NULL || f->peer[0] == '\0' ||
		    (old->peer[0] != '\0' && f->last < old->last))
			old = f;
	}
	if (!create)
		return NULL;
	memset(old, 0, sizeof(*old));
	str_lcpy(old->peer, peer, sizeof(old->peer));
	return old;
}

/* locked: whether peer is refused for now. */
static bool
locked(const char *peer)
{
	struct failures	*f = fail_slot(peer, false);

	return f != NULL && f->locked_until > mono();
}

/* fail_record: one more failed login from peer. */
static void
fail_record(const char *peer)
{
	struct failures	*f = fail_slot(peer, true);
	time_t		 now = mono();

	if (f->count == 0 || now - f->first >= CONSOLE_FAIL_WINDOW) {
		f->first = now;
		f->count = 0;
	}
	f->last = now;
	if (++f->count >= CONSOLE_FAIL_MAX) {
		f->locked_until = now + CONSOLE_LOCK_SECS;
		f->count = 0;
		log_kv(LOG_LVL_WARN, "event=console-locked peer=%s failures=%d "
		    "seconds=%d", peer, CONSOLE_FAIL_MAX, CONSOLE_LOCK_SECS);
	}
}

/* fail_clear: a login from peer succeeded. */
static void
fail_clear(const char *peer)
{
	struct failures	*f = fail_slot(peer, false);

	if (f != NULL)
		memset(f, 0, sizeof(*f));
}

/* login_key: SHA-256 of "user\0password". */
static void
login_key(const char *user, const char *pw, uint8_t key[32])
{
	EVP_MD_CTX	*md = EVP_MD_CTX_new();

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, user, strlen(user) + 1) != 1 ||
	    EVP_DigestUpdate(md, pw, strlen(pw)) != 1 ||
	    EVP_DigestFinal_ex(md, key, NULL) != 1)
		fatalx("console: sha256");
	EVP_MD_CTX_free(md);
}

/*
 * login_ok: whether user and pw are an administrator's: a login
 * remembered less than CONSOLE_CACHE_SECS ago, or console_verify (then
 * remembered, in a free or the oldest place).
 */
static bool
login_ok(const char *user, const char *pw)
{
	struct login	*l, *old = &h.logins[0];
	uint8_t		 key[32];
	time_t		 now = mono();
	size_t		 i;

	login_key(user, pw, key);
	for (i = 0; i < nitems(h.logins); i++) {
		l = &h.logins[i];
		if (l->expires > now && CRYPTO_memcmp(l->key, key,
		    sizeof(key)) == 0)
			return true;
		if (l->expires < old->expires)
			old = l;
	}
	if (!console_verify(&h.users, user, pw))
		return false;
	memcpy(old->key, key, sizeof(key));
	old->expires = now + CONSOLE_CACHE_SECS;
	return true;
}

/* b64val: the value of a base64 digit, or -1. */
static int
b64val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/*
 * b64_decode: the len characters at s (padded base64) into out (at most
 * outlen - 1 bytes, NUL-terminated); false when they are not that.
 */
static bool
b64_decode(const char *s, size_t len, char *out, size_t outlen)
{
	uint32_t acc = 0;
	size_t	 i, n = 0, pad = 0;
	int	 v;

	if (len == 0 || len % 4 != 0)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] == '=' && i >= len - 2) {
			pad++;
			v = 0;
		} else if (pad > 0 || (v = b64val(s[i])) == -1)
			return false;
		acc = acc << 6 | (uint32_t)v;
		if (i % 4 != 3)
			continue;
		if (n + 3 - pad >= outlen)
			return false;
		out[n++] = (char)(acc >> 16);
		if (pad < 2)
			out[n++] = (char)(acc >> 8 & 0xff);
		if (pad < 1)
			out[n++] = (char)(acc & 0xff);
		acc = 0;
	}
	out[n] = '\0';
	return memchr(out, '\0', n) == NULL;
}

/*
 * credentials: the user and password of an Authorization: Basic header
 * (each bounded); 0 none, 1 found, -1 present but not valid.
 */
static int
credentials(struct evhttp_request *req, char user[CONSOLE_NAME_MAX + 1],
    char pw[CONSOLE_PASSWORD_MAX + 1])
{
	const char	*v, *tok, *colon;
	char		 dec[CONSOLE_CRED_MAX + 1];
	size_t		 len;

	v = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	if (v == NULL)
		return 0;
	if (strncasecmp(v, "Basic ", 6) != 0)
		return -1;
	for (tok = v + 6; *tok == ' '; tok++)
		;
	for (len = strlen(tok); len > 0 && tok[len - 1] == ' '; len--)
		;
	if (len > CONSOLE_B64_MAX || !b64_decode(tok, len, dec, sizeof(dec)))
		return -1;
	if ((colon = strchr(dec, ':')) == NULL ||
	    (size_t)(colon - dec) > CONSOLE_NAME_MAX ||
	    strlen(colon + 1) > CONSOLE_PASSWORD_MAX) {
		explicit_bzero(dec, sizeof(dec));
		return -1;
	}
	memcpy(user, dec, (size_t)(colon - dec));
	user[colon - dec] = '\0';
	str_lcpy(pw, colon + 1, CONSOLE_PASSWORD_MAX + 1);
	explicit_bzero(dec, sizeof(dec));
	return 1;
}

/*
 * authenticate: whether q's client is a logged-in administrator (its
 * name in q->user); false when it was answered (401, 429).
 */
static bool
authenticate(struct rq *q, const char *peer)
{
	char	 user[CONSOLE_NAME_MAX + 1], pw[CONSOLE_PASSWORD_MAX + 1];
	char	 esc[LOG_ESC_MAX];
	int	 rc;
	bool	 ok;

	if (locked(peer)) {
		respond_error(q, 429, "too many failed logins from this "
		    "address: try again later");
		return false;
	}
	user[0] = '\0';
	if ((rc = credentials(q->req, user, pw)) == 0) {
		respond_error(q, 401, "authentication required");
		return false;
	}
	ok = rc == 1 && login_ok(user, pw);
	explicit_bzero(pw, sizeof(pw));
	if (!ok) {
		log_kv(LOG_LVL_WARN, "event=console-login-failed user=%s "
		    "peer=%s", log_esc(esc, sizeof(esc), user), peer);
		fail_record(peer);
		respond_error(q, 401, "wrong name or password");
		return false;
	}
	fail_clear(peer);
	str_lcpy(q->user, user, sizeof(q->user));
	return true;
}

/* ---- calls to the manager ------------------------------------------------ */

static void
pending_free(struct pending *p)
{
	TAILQ_REMOVE(&h.pending, p, entry);
	h.npending--;
	json_decref(p->entries);
	free(p);
}

/* pending_find: the call with that request id, or NULL. */
static struct pending *
pending_find(uint64_t reqid)
{
	struct pending	*p;

	TAILQ_FOREACH(p, &h.pending, entry)
		if (p->reqid == reqid)
			return p;
	return NULL;
}

/*
 * conn_closed: the client of a pending call left.  A request evhttp
 * detached from its connection (the client closed, a timeout) is ours
 * to free; any other goes with the connection.
 */
static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct pending	*p = arg;

	(void)evcon;
	if (p->q.req != NULL && evhttp_request_get_connection(p->q.req) ==
	    NULL)
		evhttp_request_free(p->q.req);
	p->q.req = NULL;
}

/* pending_respond: answer p's client (when it is still there). */
static void
pending_respond(struct pending *p, int code, json_t *o)
{
	if (p->q.req == NULL) {
		json_decref(o);
		log_kv(LOG_LVL_DEBUG, "event=console-answer-dropped reqid=%llu "
		    "detail=\"the client left\"", (unsigned long long)p->reqid);
		return;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(p->q.req),
	    NULL, NULL);
	respond_json(&p->q, code, o);
}

/* pending_entry: one IMSG_QUEUE_CTL_ENTRY of p. */
static void
pending_entry(struct pending *p, const char *text)
{
	json_error_t	 je;
	json_t		*o;

	if (p->bad)
		return;
	if (json_array_size(p->entries) >= CONSOLE_MAX_ENTRIES ||
	    (o = json_loads(text, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		p->bad = true;
		return;
	}
	json_array_append_new(p->entries, o);
}

/* text_json: a text of the manager as a JSON string (bytes that are not
 * UTF-8, such as a file name's, become '?'). */
static json_t *
text_json(const char *text)
{
	json_t	*o;
	char	*copy, *t;

	if ((o = json_string(text)) != NULL)
		return o;
	copy = xstrdup(text);
	for (t = copy; *t != '\0'; t++)
		if ((unsigned char)*t >= 0x80)
			*t = '?';
	if ((o = json_string(copy)) == NULL)
		fatalx("console: json_string");
	free(copy);
	return o;
}

/* pending_result: the IMSG_CTL_RESULT that ends p. */
static void
pending_result(struct pending *p, uint32_t status, const char *text)
{
	static const int codes[] = { 200, 409, 400 };
	json_t	*o;

	if (p->bad || status >= nitems(codes)) {
		pending_respond(p, 502, json_pack("{s:s}", "error", "the "
		    "manager's answer cannot be read"));
		return;
	}
	o = json_pack("{s:i, s:o, s:O}", "status", (int)status, "message",
	    text_json(text), "entries", p->entries);
	pending_respond(p, codes[status], o);
}

/* call: send one control request for q; answered when the result comes. */
static void
call(struct rq *q, uint32_t type, const char *name)
{
	struct ipc_msg	*m;
	struct pending	*p;

	if (h.parent == NULL || h.npending >= CONSOLE_MAX_PENDING) {
		respond_error(q, 503, h.parent == NULL ? "the manager does "
		    "not answer" : "too many requests at once");
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->reqid = ++h.next_reqid;
	p->q = *q;
	p->entries = json_array();
	m = ipc_msg_new(type, 0);
	ipc_add_u64(m, p->reqid);
	if (name != NULL)
		ipc_add_str(m, name);
	if (!ipc_chan_send(h.parent, m)) {
		json_decref(p->entries);
		free(p);
		respond_error(q, 503, "the manager does not answer");
		return;
	}
	TAILQ_INSERT_TAIL(&h.pending, p, entry);
	h.npending++;
	evhttp_connection_set_closecb(evhttp_request_get_connection(q->req),
	    conn_closed, p);
}

/* parent_message: one answer of the manager; false when malformed. */
static bool
parent_message(struct ipc_msg_in *msg)
{
	struct pending	*p;
	uint64_t	 reqid;
	uint32_t	 status;
	char		*text = NULL;

	if (msg->fd != -1 || !ipc_get_u64(msg, &reqid))
		return false;
	if (msg->type == IMSG_QUEUE_CTL_ENTRY) {
		if (!ipc_get_strdup(msg, CONSOLE_MAX_TEXT, &text) ||
		    !ipc_end(msg))
			return free(text), false;
		if ((p = pending_find(reqid)) != NULL)
			pending_entry(p, text);
	} else if (msg->type == IMSG_CTL_RESULT) {
		if (!ipc_get_u32(msg, &status) ||
		    !ipc_get_strdup(msg, CONSOLE_MAX_TEXT, &text) ||
		    !ipc_end(msg))
			return free(text), false;
		if ((p = pending_find(reqid)) != NULL) {
			pending_result(p, status, text);
			pending_free(p);
		}
	} else
		return false;
	free(text);
	return true;
}

static void
parent_dispatch(struct ipc_chan *ch, struct ipc_msg_in *msg, void *arg)
{
	(void)ch;
	(void)arg;
	if (!parent_message(msg))
		fatalx("console: malformed %s from the manager",
		    ipc_type_name(msg->type));
}

/* parent_closed: the manager is gone: answer what waits, then exit. */
static void
parent_closed(struct ipc_chan *ch, enum ipc_close why, void *arg)
{
	struct timeval	 tv = { 1, 0 };
	struct pending	*p;

	(void)arg;
	log_kv(LOG_LVL_DEBUG, "event=console-parent-closed why=%s",
	    ipc_close_name(why));
	ipc_chan_free(ch);
	h.parent = NULL;
	while ((p = TAILQ_FIRST(&h.pending)) != NULL) {
		pending_respond(p, 503, json_pack("{s:s}", "error", "the "
		    "manager does not answer"));
		pending_free(p);
	}
	event_base_loopexit(h.base, &tv);
}

/* ---- routes -------------------------------------------------------------- */

/* post_ok: a POST carries X-Sekisho-Request: 1 and no body (or {}). */
static bool
post_ok(struct rq *q)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(q->req);
	const char	*x = evhttp_find_header(
	    evhttp_request_get_input_headers(q->req), "X-Sekisho-Request");
	size_t		 len = evbuffer_get_length(in);
	json_error_t	 je;
	json_t		*o;
	bool		 empty;

	if (x == NULL || strcmp(x, "1") != 0) {
		respond_error(q, 403, "a POST needs the header "
		    "X-Sekisho-Request: 1");
		return false;
	}
	if (len == 0)
		return true;
	o = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &je);
	empty = json_is_object(o) && json_object_size(o) == 0;
	json_decref(o);
	if (!empty)
		respond_error(q, 400, "a POST takes no body (or {})");
	return empty;
}

/* service_path: NAME and the type of /api/v1/services/NAME/ACTION. */
static bool
service_path(const char *path, char name[CONSOLE_SVC_MAX + 1],
    uint32_t *type)
{
	static const struct {
		const char	*action;
		uint32_t	 type;
	} actions[] = {
		{ "start", IMSG_MGR_START }, { "stop", IMSG_MGR_STOP },
		{ "restart", IMSG_MGR_RESTART },
	};
	const char	*s = path + strlen("/api/v1/services/"), *slash;
	size_t		 i, len;

	if (strncmp(path, "/api/v1/services/", strlen("/api/v1/services/")) !=
	    0 || (slash = strchr(s, '/')) == NULL)
		return false;
	len = (size_t)(slash - s);
	if (len == 0 || len > CONSOLE_SVC_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '-' || s[i] == '_'))
			return false;
	for (i = 0; i < nitems(actions); i++)
		if (strcmp(slash + 1, actions[i].action) == 0) {
			memcpy(name, s, len);
			name[len] = '\0';
			*type = actions[i].type;
			return true;
		}
	return false;
}

/* api: a request under /api/ from peer, method cmd. */
static void
api(struct rq *q, enum evhttp_cmd_type cmd, const char *peer)
{
	static const struct {
		const char		*path;
		enum evhttp_cmd_type	 cmd;
		uint32_t		 type;	/* 0: version */
	} routes[] = {
		{ "/api/v1/version", EVHTTP_REQ_GET, 0 },
		{ "/api/v1/status", EVHTTP_REQ_GET, IMSG_MGR_STATUS },
		{ "/api/v1/hosts", EVHTTP_REQ_GET, IMSG_MGR_HOSTS },
		{ "/api/v1/reload", EVHTTP_REQ_POST, IMSG_CTL_RELOAD },
		{ "/api/v1/central/sync", EVHTTP_REQ_POST, IMSG_MGR_SYNC },
	};
	char		 name[CONSOLE_SVC_MAX + 1];
	uint32_t	 type;
	size_t		 i;

	q->api = true;
	if (!authenticate(q, peer))
		return;
	for (i = 0; i < nitems(routes); i++)
		if (strcmp(q->path, routes[i].path) == 0)
			break;
	if (i < nitems(routes)) {
		if (cmd != routes[i].cmd)
			respond_error(q, 405, "method not allowed");
		else if (routes[i].type == 0)
			respond_json(q, 200, json_pack("{s:s}", "product",
			    SEKISHO_VERSION));
		else if (cmd != EVHTTP_REQ_POST || post_ok(q))
			call(q, routes[i].type, routes[i].type ==
			    IMSG_MGR_STATUS ? "" : NULL);
		return;
	}
	if (!service_path(q->path, name, &type))
		respond_error(q, 404, "no such resource");
	else if (cmd != EVHTTP_REQ_POST)
		respond_error(q, 405, "method not allowed");
	else if (post_ok(q))
		call(q, type, name);
}

/* method_name: for the log. */
static const char *
method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:	return "GET";
	case EVHTTP_REQ_POST:	return "POST";
	case EVHTTP_REQ_HEAD:	return "HEAD";
	case EVHTTP_REQ_PUT:	return "PUT";
	case EVHTTP_REQ_DELETE:	return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE:	return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH:	return "PATCH";
	}
	return "?";
}

/* request_cb: every request. */
static void
request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char	*path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	char		*peer = NULL;
	ev_uint16_t	 port;
	struct rq	 q;

	(void)arg;
	memset(&q, 0, sizeof(q));
	q.req = req;
	q.method = method_name(cmd);
	if (path == NULL || str_lcpy(q.path, path, sizeof(q.path)) >=
	    sizeof(q.path)) {
		respond_error(&q, 404, "no such resource");
		return;
	}
	q.api = strncmp(q.path, "/api/", 5) == 0;
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_POST) {
		respond_error(&q, 405, "method not allowed");
		return;
	}
	if (q.api) {
		evhttp_connection_get_peer(evhttp_request_get_connection(req),
		    &peer, &port);
		api(&q, cmd, peer != NULL ? peer : "?");
	} else if (strcmp(q.path, "/") != 0 &&
	    strcmp(q.path, "/console.js") != 0)
		respond_error(&q, 404, "no such resource");
	else if (cmd != EVHTTP_REQ_GET)
		respond_error(&q, 405, "method not allowed");
	else if (strcmp(q.path, "/") == 0)
		respond(&q, 200, "text/html; charset=utf-8", console_html,
		    sizeof(console_html) - 1);
	else
		respond(&q, 200, "text/javascript; charset=utf-8", console_js,
		    sizeof(console_js) - 1);
}

/*
 * con_bevcb: the TLS side of a new connection.  Never NULL: evhttp
 * would then speak plain HTTP on it.
 */
static struct bufferevent *
con_bevcb(struct event_base *base, void *arg)
{
	struct bufferevent *bev;
	SSL		*ssl;

	(void)arg;
	if ((ssl = SSL_new(h.ctx)) == NULL ||
	    (bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("console: a TLS connection cannot be set up");
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/*
 * console_main: the console process, after the drop: serves until the
 * manager closes its channel; the exit status.
 */
static int
console_main(int fd, int lfd, SSL_CTX *ctx, struct console_users *users)
{
	struct pending	*p;

	(void)signal(SIGPIPE, SIG_IGN);
	memset(&h, 0, sizeof(h));
	TAILQ_INIT(&h.pending);
	h.ctx = ctx;
	h.users = *users;
	if ((h.base = event_base_new()) == NULL ||
	    (h.http = evhttp_new(h.base)) == NULL)
		fatalx("console: event_base_new");
	h.parent = ipc_chan_new(h.base, fd, IPC_MAX_PAYLOAD, parent_dispatch,
	    parent_closed, NULL);
	ipc_chan_set_name(h.parent, "manager");
	evhttp_set_bevcb(h.http, con_bevcb, NULL);
	evhttp_set_max_headers_size(h.http, CONSOLE_MAX_HEADERS);
	evhttp_set_max_body_size(h.http, CONSOLE_MAX_BODY);
	evhttp_set_timeout(h.http, CONSOLE_TIMEOUT_SECS);
	/* Every method reaches request_cb, which answers 405 itself. */
	evhttp_set_allowed_methods(h.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_gencb(h.http, request_cb, NULL);
	if (evhttp_accept_socket_with_handle(h.http, lfd) == NULL)
		fatalx("console: evhttp_accept_socket");
	log_kv(LOG_LVL_DEBUG, "event=console-ready administrators=%zu",
	    h.users.n);
	event_base_dispatch(h.base);
	evhttp_free(h.http);
	while ((p = TAILQ_FIRST(&h.pending)) != NULL)
		pending_free(p);
	if (h.parent != NULL)
		ipc_chan_free(h.parent);
	event_base_free(h.base);
	SSL_CTX_free(h.ctx);
	console_users_free(&h.users);
	return 0;
}
