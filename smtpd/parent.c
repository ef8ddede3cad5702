/*
 * parent.c: sekisho-smtpd's parent process and main().
 *
 * Runs as root only for what needs it: it reads the configuration, loads
 * the TLS key, prepares the spool and the smtp process's empty chroot,
 * finds the name servers the chrooted smtp process will ask the NRS
 * zones with, binds the listening sockets, starts the children from the
 * process table below, hands the listeners to the smtp process, and from
 * then on only supervises: signals, shutdown (ShutDownMode) and the
 * death of a child.
 * A child that dies unexpectedly stops the whole daemon with exit status
 * 1, so its supervisor (sekisho-manager, systemd) restarts it cleanly; no
 * accepted message is at risk, the spool is rebuilt at start.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon.h"
#include "dns.h"
#include "ipc.h"
#include "log.h"
#include "mta.h"
#include "privsep.h"
#include "proc.h"
#include "queue.h"
#include "smtp.h"
#include "tls.h"
#include "xmalloc.h"

#define LISTEN_BACKLOG	512
#define MAX_LISTENERS	(2 * 64)

/* The processes of sekisho-smtpd and which pairs talk (STYLE.md). */
static struct proc_def procs[] = {
	{ SMTPD_PROC_PARENT, "parent", NULL, NULL, NULL },
	{ SMTPD_PROC_SMTP, "smtp", NULL, NULL, smtp_main },
	{ SMTPD_PROC_QUEUE, "queue", NULL, NULL, queue_main },
	/* No chroot: it reads resolv.conf, CA files, writes Maildirs. */
	{ SMTPD_PROC_MTA, "mta", NULL, NULL, mta_main },
};
static const struct proc_pair pairs[] = {
	{ SMTPD_PROC_PARENT, SMTPD_PROC_SMTP },
	{ SMTPD_PROC_PARENT, SMTPD_PROC_QUEUE },
	{ SMTPD_PROC_SMTP, SMTPD_PROC_QUEUE },
	{ SMTPD_PROC_PARENT, SMTPD_PROC_MTA },
	{ SMTPD_PROC_QUEUE, SMTPD_PROC_MTA },
};

struct listener {
	int		 fd;
	int		 kind;		/* SMTP_LISTENER_* */
	char		 addr[INET6_ADDRSTRLEN];
	int		 port;
};

static struct {
	struct smtpd		 env;
	struct proc_set		 ps;
	struct event_base	*base;
	struct ipc_chan		*chan[SMTPD_PROC_MAX];
	struct listener		 listeners[MAX_LISTENERS];
	size_t			 nlisteners;
	bool			 stopping;
	int			 exit_status;
	struct event		*ev_sig[4];
} p;

/*
 * parent_foxdns_reply: a [foxdns] block reply must start with a reply
 * code of the class its block calls for (4 for temporary, 5 for
 * permanent), so the client retries or gives up as intended; -1 (one
 * error, pointing at the key's line) when it does not.
 */
static int
parent_foxdns_reply(const struct sekisho_conf *conf, struct diag *d,
    const char *key, const char *reply, char class)
{
	const struct ini_entry *e;
	struct ini	 ini;
	struct diag	 ignored;
	char		 path[4096], quoted[DIAG_QUOTE_MAX];

	if (reply[0] == class && reply[1] >= '0' && reply[1] <= '9' &&
	    reply[2] >= '0' && reply[2] <= '9' &&
	    (reply[3] == ' ' || reply[3] == '\0'))
		return 0;
	if (!str_printf(path, sizeof(path), "%s/foxdns.ini", conf->confdir))
		fatalx("parent_foxdns_reply: confdir too long");
	diag_init(&ignored);
	ini_parse_file(&ini, path, &ignored);
	e = ini_find(&ini, "foxdns", key);
	diag_add(d, DIAG_ERROR, path, e != NULL ? e->line : 0,
	    "%s: \"%s\" must start with a %cxx reply code and a space "
	    "(e.g. \"%s\")", key, diag_quote(quoted, sizeof(quoted), reply),
	    class, class == '4' ? "450 4.7.1 ..." : "554 5.7.1 ...");
	ini_free(&ini);
	diag_free(&ignored);
	return -1;
}

/*
 * parent_tls_check: -n and start: the key pair must load (unless TLS is
 * off).  The error points at the line that set TlsCertFile, if any.
 */
static int
parent_tls_check(const struct sekisho_conf *conf, struct diag *d)
{
	const struct ini_entry *e;
	struct ini	 ini;
	struct diag	 ignored;
	SSL_CTX		*ctx;
	char		 err[512], path[4096];

	if (conf->tsmtpd.disable_svr_ssl_support)
		return 0;
	if ((ctx = tls_server_ctx_new(conf->tsmtpd.tls_cert_file,
	    conf->tsmtpd.tls_key_file, err, sizeof(err))) != NULL) {
		SSL_CTX_free(ctx);
		return 0;
	}
	if (!str_printf(path, sizeof(path), "%s/tsmtpd.ini", conf->confdir))
		fatalx("parent_tls_check: confdir too long");
	diag_init(&ignored);
	ini_parse_file(&ini, path, &ignored);
	if ((e = ini_find(&ini, "SmtpServer", "TlsCertFile")) == NULL)
		e = ini_find(&ini, "SmtpServer", "TlsKeyFile");
	diag_add(d, DIAG_ERROR, path, e != NULL ? e->line : 0,
	    "TlsCertFile %s, TlsKeyFile %s: %s (or set "
	    "DisableSvrSSLSupport=1)", conf->tsmtpd.tls_cert_file,
	    conf->tsmtpd.tls_key_file, err);
	ini_free(&ini);
	diag_free(&ignored);
	return -1;
}

/* parent_conf_check: what -n checks beyond the files' own syntax. */
static int
parent_conf_check(const struct sekisho_conf *conf, struct diag *d)
{
	int	 rv = 0;

	if (parent_tls_check(conf, d) == -1)
		rv = -1;
	if (parent_foxdns_reply(conf, d, "temp_block_reply",
	    conf->foxdns.temp_block_reply, '4') == -1)
		rv = -1;
	if (parent_foxdns_reply(conf, d, "perm_block_reply",
	    conf->foxdns.perm_block_reply, '5') == -1)
		rv = -1;
	return rv;
}

/* parent_names: the host name and the default sender domain. */
static void
parent_names(struct smtpd *env)
{
	const struct sekisho_conf *c = env->conf;
	struct passwd	*pw;

	if (c->imss.hostname[0] != '\0')
		str_lcpy(env->hostname, c->imss.hostname,
		    sizeof(env->hostname));
	else if (gethostname(env->hostname, sizeof(env->hostname)) == -1 ||
	    env->hostname[0] == '\0')
		str_lcpy(env->hostname, "localhost", sizeof(env->hostname));
	env->hostname[sizeof(env->hostname) - 1] = '\0';
	str_lcpy(env->default_domain, c->tsmtpd.default_domain[0] != '\0' ?
	    c->tsmtpd.default_domain : env->hostname,
	    sizeof(env->default_domain));
	pw = getpwnam(c->imss.scanner_user);
	env->scanner_uid = pw != NULL ? pw->pw_uid : (uid_t)-1;
	pw = getpwnam(c->imss.ipprofiler_user);
	env->ipprofiler_uid = pw != NULL ? pw->pw_uid : (uid_t)-1;
}

/*
 * parent_nrs_servers: the name servers the smtp process asks the NRS
 * zones with.  It is chrooted into an empty directory, where c-ares finds
 * no /etc/resolv.conf: without DnsServers, the system's are read here,
 * before the fork.  smtpd applies a new configuration by a restart only
 * (SIGHUP changes nothing), so the children never need them again.
 */
static void
parent_nrs_servers(struct smtpd *env)
{
	const struct conf_tsmtpd *t = &env->conf->tsmtpd;
	char	 err[256];

	env->nrs_servers[0] = '\0';
	if (t->nrs_zones.n == 0)
		return;
	if (t->dns_servers[0] != '\0') {
		if (str_lcpy(env->nrs_servers, t->dns_servers,
		    sizeof(env->nrs_servers)) >= sizeof(env->nrs_servers))
			fatalx("parent_nrs_servers: DnsServers too long");
	} else if (!dns_system_servers(env->nrs_servers,
	    sizeof(env->nrs_servers), err, sizeof(err))) {
		/* c-ares' own default then: 127.0.0.1. */
		log_kv(LOG_LVL_WARN, "event=nrs-no-servers err=\"%s\" "
		    "using=127.0.0.1", err);
		str_lcpy(env->nrs_servers, "127.0.0.1",
		    sizeof(env->nrs_servers));
	}
	log_kv(LOG_LVL_INFO, "event=nrs-servers servers=%s zones=%zu",
	    env->nrs_servers, t->nrs_zones.n);
}

/*
 * parent_dirs: data_dir; the spool, owned by the queue user; the empty
 * directory the smtp process is chrooted into.
 */
static void
parent_dirs(struct smtpd *env)
{
	const struct sekisho_conf *c = env->conf;
	struct passwd	*pw;
	char		 path[4096];
	const char	*err;

	if (mkdir(c->imss.data_dir, 0755) == -1 && errno != EEXIST)
		fatal("parent_dirs: data_dir %s", c->imss.data_dir);
	if (!str_printf(path, sizeof(path), "%s/spool", c->imss.data_dir))
		fatalx("parent_dirs: data_dir too long");
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		fatal("parent_dirs: %s", path);
	if (geteuid() != 0) {
		if (!str_printf(path, sizeof(path), "%s/db", c->imss.data_dir) ||
		    (mkdir(path, 0700) == -1 && errno != EEXIST))
			fatal("parent_dirs: %s/db", c->imss.data_dir);
		return;
	}
	if ((pw = getpwnam(c->imss.queue_user)) == NULL)
		fatalx("parent_dirs: queue_user %s does not exist",
		    c->imss.queue_user);
	if (chown(path, pw->pw_uid, pw->pw_gid) == -1 ||
	    chmod(path, 0700) == -1)
		fatal("parent_dirs: %s", path);
	/* The tracking log's directory: the queue owns the database. */
	if (!str_printf(path, sizeof(path), "%s/db", c->imss.data_dir))
		fatalx("parent_dirs: data_dir too long");
	if ((mkdir(path, 0700) == -1 && errno != EEXIST) ||
	    chown(path, pw->pw_uid, pw->pw_gid) == -1 || chmod(path, 0700) == -1)
		fatal("parent_dirs: %s", path);
	/* The quarantine store: the queue owns it too. */
	if (!str_printf(path, sizeof(path), "%s/quarantine", c->imss.data_dir))
		fatalx("parent_dirs: data_dir too long");
	if ((mkdir(path, 0700) == -1 && errno != EEXIST) ||
	    chown(path, pw->pw_uid, pw->pw_gid) == -1 || chmod(path, 0700) == -1)
		fatal("parent_dirs: %s", path);
	if (!str_printf(path, sizeof(path), "%s/empty", c->imss.data_dir))
		fatalx("parent_dirs: data_dir too long");
	if ((err = privsep_make_empty_dir(path)) != NULL)
		fatalx("parent_dirs: %s", err);
	procs[SMTPD_PROC_SMTP].chroot = xstrdup(path);
}

/*
 * parent_maildirs: the root directory of every maildir: route, created
 * (with its parents) for the mta's user when missing.  An existing one is
 * left as the administrator made it.
 */
static void
parent_maildirs(const struct smtpd *env)
{
	const struct conf_routes *rs = &env->conf->tsmtpd.routes;
	struct passwd	*pw = NULL;
	char		 path[4096], *sl, esc[LOG_ESC_MAX];
	size_t		 i;

	if (geteuid() == 0 &&
	    (pw = getpwnam(env->conf->imss.smtpd_user)) == NULL)
		fatalx("parent_maildirs: no user %s", env->conf->imss.smtpd_user);
	for (i = 0; i < rs->n; i++) {
		if (rs->v[i].kind != CONF_ROUTE_MAILDIR ||
		    access(rs->v[i].path, F_OK) == 0)
			continue;
		if (str_lcpy(path, rs->v[i].path, sizeof(path)) >= sizeof(path))
			fatalx("parent_maildirs: path too long");
		for (sl = strchr(path + 1, '/'); sl != NULL;
		    sl = strchr(sl + 1, '/')) {
			*sl = '\0';
			if (mkdir(path, 0755) == -1 && errno != EEXIST)
				fatal("parent_maildirs: %s", path);
			*sl = '/';
		}
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			fatal("parent_maildirs: %s", path);
		if (pw != NULL && chown(path, pw->pw_uid, pw->pw_gid) == -1)
			fatal("parent_maildirs: chown %s", path);
		log_kv(LOG_LVL_INFO, "event=maildir-created path=%s domain=%s",
		    log_esc(esc, sizeof(esc), path), rs->v[i].domain);
	}
}

/* parent_bind: one listening socket. */
static void
parent_bind(const struct conf_ip *ip, int port, int kind)
{
	struct listener		*l;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 fd, on = 1;

	if (p.nlisteners == MAX_LISTENERS)
		fatalx("parent_bind: too many listeners");
	memset(&ss, 0, sizeof(ss));
	if (ip->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_addr = ip->addr.v6;
		s6->sin6_port = htons(port);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_addr = ip->addr.v4;
		s4->sin_port = htons(port);
		len = sizeof(*s4);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		fatal("parent_bind: socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		fatal("parent_bind: SO_REUSEADDR");
	if (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)
		fatal("parent_bind: IPV6_V6ONLY");
	if (bind(fd, (struct sockaddr *)&ss, len) == -1)
		fatal("parent_bind: bind %s port %d", ip->text, port);
	if (listen(fd, LISTEN_BACKLOG) == -1)
		fatal("parent_bind: listen %s port %d", ip->text, port);
	l = &p.listeners[p.nlisteners++];
	l->fd = fd;
	l->kind = kind;
	l->port = port;
	str_lcpy(l->addr, ip->text, sizeof(l->addr));
	log_kv(LOG_LVL_INFO, "event=listen addr=%s port=%d kind=%s", ip->text,
	    port, kind == SMTP_LISTENER_SMTPS ? "smtps" : "smtp");
}

/* parent_listen: every BindAddress on Port, and on SmtpsPort if TLS is on. */
static void
parent_listen(const struct smtpd *env)
{
	const struct conf_tsmtpd *t = &env->conf->tsmtpd;
	size_t	 i;

	for (i = 0; i < t->bind_address.n; i++) {
		parent_bind(&t->bind_address.v[i], (int)t->port,
		    SMTP_LISTENER_SMTP);
		if (env->ssl_ctx != NULL && t->smtps_port != 0)
			parent_bind(&t->bind_address.v[i], (int)t->smtps_port,
			    SMTP_LISTENER_SMTPS);
	}
}

/*
 * parent_ctl_socket: run_dir/queue.sock for sekishoctl, created while we
 * are root with its final owner (the queue user) and mode 0600, handed to
 * the queue process.
 */
static void
parent_ctl_socket(void)
{
	const struct sekisho_conf *c = p.env.conf;
	struct passwd	*pw;
	struct ipc_msg	*m;
	char		 path[4096];
	uid_t		 uid = geteuid();
	gid_t		 gid = getegid();
	int		 fd;

	if (!str_printf(path, sizeof(path), "%s/queue.sock", c->imss.run_dir))
		fatalx("parent_ctl_socket: run_dir too long");
	if (uid == 0) {
		if ((pw = getpwnam(c->imss.queue_user)) == NULL)
			fatalx("parent_ctl_socket: no user %s",
			    c->imss.queue_user);
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if ((fd = ipc_listen_unix(path, uid, gid, 0600)) == -1)
		fatal("parent_ctl_socket: %s", path);
	m = ipc_msg_new(IMSG_QUEUE_CTL_LISTENER, 0);
	ipc_add_fd(m, fd);
	if (!ipc_chan_send(p.chan[SMTPD_PROC_QUEUE], m))
		fatalx("parent_ctl_socket: cannot send");
}

/* parent_send_listeners: hand a copy of each listener to the smtp process. */
static void
parent_send_listeners(void)
{
	struct ipc_msg	*m;
	size_t		 i;
	int		 fd;

	for (i = 0; i < p.nlisteners; i++) {
		if ((fd = fcntl(p.listeners[i].fd, F_DUPFD_CLOEXEC, 0)) == -1)
			fatal("parent_send_listeners: dup");
		m = ipc_msg_new(IMSG_SMTP_LISTENER, 0);
		ipc_add_u8(m, (uint8_t)p.listeners[i].kind);
		ipc_add_str(m, p.listeners[i].addr);
		ipc_add_u16(m, (uint16_t)p.listeners[i].port);
		ipc_add_fd(m, fd);
		if (!ipc_chan_send(p.chan[SMTPD_PROC_SMTP], m))
			fatalx("parent_send_listeners: cannot send");
	}
}

/* parent_close_chan: close our end towards a child (it sees EOF). */
static void
parent_close_chan(int id)
{
	if (p.chan[id] != NULL) {
		ipc_chan_free(p.chan[id]);
		p.chan[id] = NULL;
	}
}

/*
 * parent_shutdown: stop the daemon.  The smtp process is told how (mode
 * 0: finish sessions, 1: close them now); the queue follows when the smtp
 * process is gone (see parent_child_exit).
 */
static void
parent_shutdown(int mode, int status)
{
	struct ipc_msg	*m;
	size_t		 i;

	if (p.stopping)
		return;
	p.stopping = true;
	p.exit_status = status;
	/* New clients are refused now rather than reset when we exit. */
	for (i = 0; i < p.nlisteners; i++) {
		close(p.listeners[i].fd);
		p.listeners[i].fd = -1;
	}
	log_kv(LOG_LVL_INFO, "event=shutdown mode=%s",
	    mode ? "forced" : "graceful");
	if (p.ps.pid[SMTPD_PROC_SMTP] != 0 && p.chan[SMTPD_PROC_SMTP] != NULL &&
	    !ipc_chan_closed(p.chan[SMTPD_PROC_SMTP])) {
		m = ipc_msg_new(IMSG_SMTP_SHUTDOWN, 0);
		ipc_add_u8(m, (uint8_t)mode);
		ipc_chan_send(p.chan[SMTPD_PROC_SMTP], m);
	} else
		/* No smtp process: the queue may go at once (EOF). */
		parent_close_chan(SMTPD_PROC_QUEUE);
}

/* parent_child_exit: a child ended; decide what follows. */
static void
parent_child_exit(int id, int status)
{
	bool	 clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;

	log_kv(clean && p.stopping ? LOG_LVL_INFO : LOG_LVL_ERR,
	    "event=child-exit proc=%s %s=%d", proc_name(&p.ps, id),
	    WIFSIGNALED(status) ? "signal" : "status",
	    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	parent_close_chan(id);
	if (!p.stopping)
		parent_shutdown(1, 1);
	/*
	 * Stop in order: smtp (no more commits), then the queue (no more
	 * deliveries), then the mta.  Each sees EOF on its channel.
	 */
	if (id == SMTPD_PROC_SMTP)
		parent_close_chan(SMTPD_PROC_QUEUE);
	if (id == SMTPD_PROC_QUEUE)
		parent_close_chan(SMTPD_PROC_MTA);
	if (p.ps.pid[SMTPD_PROC_SMTP] == 0 && p.ps.pid[SMTPD_PROC_QUEUE] == 0 &&
	    p.ps.pid[SMTPD_PROC_MTA] == 0)
		event_base_loopexit(p.base, NULL);
}

/* parent_signal: SIGTERM/SIGINT stop, SIGCHLD reaps, SIGHUP is logged. */
static void
parent_signal(evutil_socket_t sig, short ev, void *arg)
{
	int	 id, status;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		parent_shutdown((int)p.env.conf->tsmtpd.shut_down_mode, 0);
		break;
	case SIGHUP:
		log_kv(LOG_LVL_WARN, "event=sighup action=none msg=\"restart "
		    "sekisho-smtpd to apply a new configuration\"");
		break;
	case SIGCHLD:
		while ((id = proc_reap(&p.ps, &status)) != PROC_NONE)
			parent_child_exit(id, status);
		break;
	}
}

/* parent_dispatch: children send nothing to the parent yet. */
static void
parent_dispatch(struct ipc_chan *c, struct ipc_msg_in *m, void *arg)
{
	fatalx("parent_dispatch: unexpected %s from %s",
	    ipc_type_name(m->type), ipc_chan_name(c));
}

/* parent_chan_closed: a child's channel closed; its exit follows. */
static void
parent_chan_closed(struct ipc_chan *c, enum ipc_close why, void *arg)
{
	log_kv(LOG_LVL_DEBUG, "event=chan-closed peer=%s why=%s",
	    ipc_chan_name(c), ipc_close_name(why));
}

/* parent_events: the parent's channels and signal events. */
static void
parent_events(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	size_t	 i;
	int	 id;

	if ((p.base = event_base_new()) == NULL)
		fatalx("parent_events: event_base_new");
	for (id = SMTPD_PROC_SMTP; id < (int)p.ps.ndefs; id++) {
		p.chan[id] = ipc_chan_new(p.base, p.ps.fd[id], 0,
		    parent_dispatch, parent_chan_closed, NULL);
		ipc_chan_set_name(p.chan[id], proc_name(&p.ps, id));
	}
	for (i = 0; i < nitems(sigs); i++) {
		p.ev_sig[i] = evsignal_new(p.base, sigs[i], parent_signal,
		    NULL);
		if (p.ev_sig[i] == NULL || evsignal_add(p.ev_sig[i], NULL))
			fatalx("parent_events: signal %d", sigs[i]);
	}
}

int
main(int argc, char **argv)
{
	static struct sekisho_conf conf;
	struct daemon_opts	 opts;
	char			 err[512];
	size_t			 i;

	daemon_getopt(argc, argv, "sekisho-smtpd", &opts);
	daemon_config(&opts, &conf, parent_conf_check);

	p.env.conf = &conf;
	p.env.relay_networks = conf.tsmtpd.relay_networks;
	parent_names(&p.env);
	if (!conf.tsmtpd.disable_svr_ssl_support &&
	    (p.env.ssl_ctx = tls_server_ctx_new(conf.tsmtpd.tls_cert_file,
	    conf.tsmtpd.tls_key_file, err, sizeof(err))) == NULL)
		fatalx("main: TLS: %s", err);

	daemon_start(&opts, &conf);
	parent_nrs_servers(&p.env);
	parent_dirs(&p.env);
	parent_maildirs(&p.env);
	parent_listen(&p.env);

	procs[SMTPD_PROC_SMTP].user = conf.imss.smtpd_user;
	procs[SMTPD_PROC_QUEUE].user = conf.imss.queue_user;
	procs[SMTPD_PROC_MTA].user = conf.imss.smtpd_user;
	p.ps.prog = "smtpd";
	p.ps.defs = procs;
	p.ps.ndefs = nitems(procs);
	p.ps.pairs = pairs;
	p.ps.npairs = nitems(pairs);
	p.ps.foreground = opts.foreground;
	/* Signals that arrive while we fork are handled by the loop later. */
	signal(SIGPIPE, SIG_IGN);
	proc_start(&p.ps, &p.env);

	parent_events();
	parent_send_listeners();
	parent_ctl_socket();
	/* A child that died before the SIGCHLD event existed. */
	parent_signal(SIGCHLD, 0, NULL);
	event_base_dispatch(p.base);

	for (i = 0; i < p.nlisteners; i++)
		if (p.listeners[i].fd != -1)
			close(p.listeners[i].fd);
	for (i = 0; i < nitems(p.ev_sig); i++)
		if (p.ev_sig[i] != NULL)
			event_free(p.ev_sig[i]);
	for (i = 0; i < SMTPD_PROC_MAX; i++)
		parent_close_chan((int)i);
	event_base_free(p.base);
	log_kv(LOG_LVL_INFO, "event=exit status=%d", p.exit_status);
	if (str_printf(err, sizeof(err), "%s/queue.sock", conf.imss.run_dir))
		unlink(err);
	daemon_pidfile_remove();
	return p.exit_status;
}
