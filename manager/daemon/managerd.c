/*
 * managerd.c: sekisho-manager, the per-host supervisor (DESIGN.md section
 * 1, docs/manager.md).
 *
 * It starts every enabled service whose program is in its bin directory
 * (the directory of its own executable, or -B DIR) as "PROG -f -c
 * CONFDIR", each in a session and process group of its own, with stdin
 * on /dev/null and stdout and stderr on a pipe that this process copies
 * into the service's log file (svclog.c).  The services drop their
 * privileges themselves; the manager stays root only to start and
 * signal them.  What happens to a service (restart with backoff, stop
 * with SIGTERM and SIGKILL at the stop timeout) is decided in svc.c; this
 * file owns the processes, the clock, the pipes and the control socket.
 * A service's death is mailed to the administrator by notifier.c (which
 * also watches the disk and the queue).
 *
 * Control socket <run_dir>/manager.sock (mode 0600, our own user; peers
 * checked with SO_PEERCRED: root or our uid): IMSG_MGR_STATUS,
 * IMSG_MGR_START, _STOP, _RESTART and IMSG_CTL_RELOAD from sekishoctl.
 * A start, stop or restart is answered when it is done: a stop when the
 * service has exited (at worst when it was killed at the stop timeout), a
 * start when the new process has lived MGR_SETTLE_MS, so a service that
 * exits at once (a bad configuration) fails the request.
 *
 * On a central controller or an enrolled scanner host, central.c runs
 * the link process (mlink.c) that holds the network side of the
 * configuration push; it is reaped here like a service but restarted by
 * central.c.
 *
 * Signals: SIGTERM and SIGINT stop every service in parallel (each
 * bounded by the stop timeout) and then the manager; SIGHUP re-reads the
 * configuration (an invalid one keeps the running one), starts services
 * that became enabled, stops those that became disabled, and gives each
 * running service what the change means for it (cfgdiff.c, against the
 * fingerprint of what it read when it started or last reloaded):
 * nothing, SIGHUP, or a restart (bounded by the stop timeout).  SIGCHLD
 * reaps through the event loop.  Nothing here blocks: the only waits are
 * the loop's.
 */
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "bundle.h"
#include "cfgdiff.h"
#include "conf.h"
#include "console.h"
#include "daemon.h"
#include "diag.h"
#include "ipc.h"
#include "log.h"
#include "mlink.h"
#include "notifier.h"
#include "svc.h"
#include "svclog.h"
#include "util.h"
#include "xmalloc.h"

#define MGR_MAX_CLIENTS		16
#define MGR_MAX_REQUEST		4096	/* bytes of one request */
#define MGR_SETTLE_MS		1000	/* a start succeeds then */
#define MGR_READ_MAX		65536	/* log bytes per read */
#define MGR_NAME_MAX		64

enum mgr_status {
	MGR_OK = 0,
	MGR_REFUSED = 1,
	MGR_BADREQ = 2,
};

/* A service's output: the pipe it writes to and its log file. */
struct mgr_io {
	int		 rfd, wfd;	/* -1: not open yet */
	struct event	*ev;
	struct svclog	 log;
};

/* A connected sekishoctl. */
struct mclient {
	TAILQ_ENTRY(mclient)	 entry;
	struct ipc_chan		*chan;
	unsigned		 id;
	uid_t			 uid;
};

/* A start, stop or restart request answered when it is done. */
struct mwaiter {
	TAILQ_ENTRY(mwaiter)	 entry;
	struct mclient		*client;
	uint64_t		 reqid;
	uint32_t		 type;		/* IMSG_MGR_START, ... */
	struct svc		*svc;
	unsigned		 runs;		/* svc->runs when asked */
	pid_t			 oldpid;
};

static struct {
	struct daemon_opts	 opts;
	struct sekisho_conf	*conf;
	bool			 conf_heap;	/* conf from a reload */
	char			 bindir[4096];
	char			 logdir[4096];
	char			 sockpath[4096];
	struct svc_set		 set;
	struct mgr_io		 io[SVC_MAX];
	/* What each service read: at its start, then at each reload. */
	struct cfgdiff_snap	 snap[SVC_MAX];
	struct event_base	*base;
	struct event		*ev_sig[4];
	struct event		*ev_timer;
	int			 listen_fd;
	struct event		*ev_listen;
	int			 devnull;
	TAILQ_HEAD(, mclient)	 clients;
	size_t			 nclients;
	unsigned		 next_client;
	TAILQ_HEAD(, mwaiter)	 waiters;
	bool			 stopping;
} m;

static void	 mgr_after(void);

/* now_ms: the monotonic clock svc.c runs on. */
static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* mgr_prog_path: where s's program is: <bindir>/sekisho-NAME. */
static bool
mgr_prog_path(const struct svc *s, char *buf, size_t len)
{
	return str_printf(buf, len, "%s/%s", m.bindir, s->prog);
}

/* ---- the services' output ---------------------------------------------- */

/* mgr_io_read: copy what a service wrote into its log file. */
static void
mgr_io_read(evutil_socket_t fd, short ev, void *arg)
{
	struct mgr_io	*io = arg;
	char		 buf[MGR_READ_MAX];
	ssize_t		 n;

	/* One read per event: other services' output gets its turn. */
	if ((n = read(io->rfd, buf, sizeof(buf))) > 0)
		svclog_write(&io->log, buf, (size_t)n);
	else if (n == -1 && errno != EAGAIN && errno != EINTR)
		log_warn("mgr_io_read: %s", io->log.path);
}

/* mgr_io_drain: everything still in a pipe (at exit). */
static void
mgr_io_drain(struct mgr_io *io)
{
	char	 buf[MGR_READ_MAX];
	ssize_t	 n;

	while (io->rfd != -1 && (n = read(io->rfd, buf, sizeof(buf))) > 0)
		svclog_write(&io->log, buf, (size_t)n);
}

/*
 * mgr_io_open: s's log file and its pipe, kept for the manager's life so
 * the log runs on across restarts.  Both ends are close-on-exec; the
 * child gets the write end as stdout and stderr (dup2 clears the flag).
 */
static bool
mgr_io_open(struct svc *s)
{
	struct mgr_io	*io = &m.io[s->idx];
	char		 err[512], esc[LOG_ESC_MAX];
	int		 p[2];

	if (io->wfd != -1)
		return true;
	if (!svclog_open(&io->log, m.logdir, s->name,
	    (off_t)m.conf->imss.max_log_size_mb * 1024 * 1024, err,
	    sizeof(err))) {
		log_kv(LOG_LVL_ERR, "event=log-open-failed service=%s err=%s",
		    s->name, log_esc(esc, sizeof(esc), err));
		return false;
	}
	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("mgr_io_open: %s: pipe", s->name);
		svclog_close(&io->log);
		return false;
	}
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) == -1)
		fatal("mgr_io_open: %s: O_NONBLOCK", s->name);
	io->rfd = p[0];
	io->wfd = p[1];
	if ((io->ev = event_new(m.base, io->rfd, EV_READ | EV_PERSIST,
	    mgr_io_read, io)) == NULL || event_add(io->ev, NULL) == -1)
		fatalx("mgr_io_open: %s: event", s->name);
	return true;
}

/* ---- processes ---------------------------------------------------------- */

/*
 * mgr_child: the forked child: its own session (so the terminal's ^C and
 * the manager's own group signals do not reach it), stdio, no other
 * descriptor, default signal handling, then the program.  Only
 * async-signal-safe calls.
 */
static void __attribute__((noreturn))
mgr_child(const char *path, char *const argv[], int out,
    const sigset_t *mask)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD,
	    SIGPIPE };
	static const char msg[] = "sekisho-manager: cannot execute ";
	struct sigaction sa;
	size_t		 i;
	int		 fd;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (i = 0; i < nitems(sigs); i++)
		(void)sigaction(sigs[i], &sa, NULL);
	if (setsid() == -1 || dup2(m.devnull, STDIN_FILENO) == -1 ||
	    dup2(out, STDOUT_FILENO) == -1 || dup2(out, STDERR_FILENO) == -1)
		_exit(127);
	if (close_range(3, ~0U, 0) == -1)
		for (fd = 3; fd < 65536; fd++)
			(void)close(fd);
	(void)sigprocmask(SIG_SETMASK, mask, NULL);
	execv(path, argv);
	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)!write(STDERR_FILENO, path, strlen(path));
	(void)!write(STDERR_FILENO, "\n", 1);
	_exit(127);
}

/*
 * mgr_snap_start: the fingerprint of the configuration s is about to
 * read, from the files as they are now (they may have changed since the
 * last reload); the manager's configuration if they do not load (then s
 * fails to start anyway).  Taken before the fork: an edit in between
 * makes the next reload do too much, never too little.
 */
static void
mgr_snap_start(struct svc *s)
{
	struct sekisho_conf *c = xcalloc(1, sizeof(*c));
	struct diag	 d;

	diag_init(&d);
	if (conf_load(m.conf->confdir, c, &d) == 0 && d.nerrors == 0)
		cfgdiff_snap_take(c, &m.snap[s->idx]);
	else
		cfgdiff_snap_take(m.conf, &m.snap[s->idx]);
	diag_free(&d);
	conf_free(c);
	free(c);
}

/*
 * mgr_spawn: svc_ops.spawn: fork and execute s's program.  Signals are
 * blocked across the fork so that none reaches libevent's handler in the
 * child before it resets them.
 */
static pid_t
mgr_spawn(struct svc *s, void *arg)
{
	char	 path[4096];
	char	*argv[] = { s->prog, "-f", "-c", m.conf->confdir, NULL };
	sigset_t all, old;
	pid_t	 pid;
	int	 saved;

	if (!mgr_prog_path(s, path, sizeof(path)) || !mgr_io_open(s))
		return -1;
	mgr_snap_start(s);
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) == 0)
		mgr_child(path, argv, m.io[s->idx].wfd, &old);
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid == -1) {
		errno = saved;
		log_warn("mgr_spawn: %s: fork", s->name);
	}
	return pid;
}

/*
 * mgr_signal: svc_ops.signal: sig to s's pid, or to its process group
 * (the service and everything it forked).
 */
static void
mgr_signal(struct svc *s, int sig, bool group, void *arg)
{
	if (s->pid <= 0)
		fatalx("mgr_signal: %s: no process", s->name);
	if (kill(group ? -s->pid : s->pid, sig) == -1 && errno != ESRCH)
		log_warn("mgr_signal: %s: kill %s%ld signal %d", s->name,
		    group ? "-" : "", (long)s->pid, sig);
}

static const struct svc_ops mgr_ops = { mgr_spawn, mgr_signal };

/*
 * mgr_reap: every child that ended.  What a service left behind in its
 * process group (children of a parent that died) is killed, so the next
 * run starts clean (ports, pid file, sockets).
 */
static void
mgr_reap(void)
{
	struct svc	*s;
	pid_t		 pid;
	int		 status;
	int64_t		 now, uptime;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (central_reaped(pid, status))
			continue;
		if (console_reaped(pid, status))
			continue;
		if ((s = svc_by_pid(&m.set, pid)) == NULL) {
			log_kv(LOG_LVL_WARN, "event=unknown-child pid=%ld",
			    (long)pid);
			continue;
		}
		if (kill(-pid, SIGKILL) == 0)
			log_kv(LOG_LVL_WARN, "event=service-leftovers "
			    "service=%s pgid=%ld detail=\"killed what it "
			    "left running\"", s->name, (long)pid);
		now = now_ms();
		uptime = now - s->started_ms;
		svc_exited(&m.set, s, status, now);
		if (!s->last_expected && !m.stopping)
			notifier_died(s, status, uptime,
			    s->state == SVC_BACKOFF ? s->deadline_ms - now : -1,
			    m.io[s->idx].log.path);
	}
	if (pid == -1 && errno != ECHILD)
		log_warn("mgr_reap: waitpid");
}

/* ---- configuration ------------------------------------------------------ */

/*
 * mgr_configure: apply m.conf to the services: limits, which are enabled,
 * which programs are installed, the log size.  initial: say which
 * enabled services have no program.
 */
static void
mgr_configure(bool initial)
{
	const struct conf_imss *c = &m.conf->imss;
	char		 path[4096], err[200], esc[LOG_ESC_MAX];
	unsigned	 mask;
	size_t		 i;
	bool		 inst;

	if (!conf_services_parse(c->services, &mask, err, sizeof(err)))
		fatalx("mgr_configure: services: %s", err);
	svc_set_limits(&m.set, c->service_stop_timeout,
	    c->restart_backoff_max);
	for (i = 0; i < m.set.n; i++) {
		struct svc *s = &m.set.v[i];

		m.io[i].log.max = (off_t)c->max_log_size_mb * 1024 * 1024;
		inst = mgr_prog_path(s, path, sizeof(path)) &&
		    access(path, X_OK) == 0;
		if (initial && !inst && (mask & (1u << i)))
			log_kv(LOG_LVL_INFO, "event=service-not-installed "
			    "service=%s path=%s", s->name,
			    log_esc(esc, sizeof(esc), path));
		svc_configure(&m.set, s, inst, (mask & (1u << i)) != 0,
		    now_ms());
	}
}

/* mgr_reload_error: log the errors of a failed reload; the first in err. */
static void
mgr_reload_error(const struct diag *d, char *err, size_t errlen)
{
	char	 esc[LOG_ESC_MAX];
	size_t	 i, first = d->nitems;

	for (i = 0; i < d->nitems; i++) {
		if (d->items[i].sev != DIAG_ERROR)
			continue;
		if (first == d->nitems)
			first = i;
		log_kv(LOG_LVL_ERR, "event=reload-error err=%s",
		    log_esc(esc, sizeof(esc), d->items[i].text));
	}
	log_kv(LOG_LVL_ERR, "event=reload-failed errors=%zu "
	    "detail=\"the running configuration stays\"", d->nerrors);
	(void)str_printf(err, errlen, "configuration invalid (%zu error%s; "
	    "the running configuration stays): %s", d->nerrors,
	    d->nerrors == 1 ? "" : "s", first < d->nitems ?
	    d->items[first].text : "see the log");
}

/*
 * mgr_proc_read: a /proc file (its size is not known in advance) into
 * buf, NUL terminated, cut at len - 1 bytes; false if it cannot be read.
 */
static bool
mgr_proc_read(const char *path, char *buf, size_t len)
{
	size_t	 off = 0;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	while (off + 1 < len && (n = read(fd, buf + off, len - 1 - off)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			return false;
		}
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	return true;
}

/*
 * mgr_hup_ready: whether pid catches SIGHUP already.  A service that has
 * not set up its handlers yet would die of the signal (and has just read
 * the configuration anyway).
 */
static bool
mgr_hup_ready(pid_t pid)
{
	char		 path[64], text[4096], *p;
	unsigned long long mask;

	(void)str_printf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if (!mgr_proc_read(path, text, sizeof(text)) ||
	    (p = strstr(text, "\nSigCgt:")) == NULL)
		return false;
	mask = strtoull(p + 8, NULL, 16);
	return (mask & (1ULL << (SIGHUP - 1))) != 0;
}

/* The services a reload restarted, signalled, left alone. */
struct mgr_reload_names {
	struct buf	 restart, hup, none;
};

/* mgr_reload_add: name s in list b ("smtpd, scanner"). */
static void
mgr_reload_add(struct buf *b, const struct svc *s)
{
	(void)buf_printf(b, "%s%s", b->len > 0 ? ", " : "", s->name);
}

/*
 * mgr_reload_one: what the change from the snapshot s started (or last
 * reloaded) with to ns means for the running service s, done: nothing,
 * SIGHUP, or a restart (a stop bounded by the stop timeout, then a
 * start, which takes its own snapshot).
 */
static void
mgr_reload_one(struct svc *s, const struct cfgdiff_snap *ns,
    struct mgr_reload_names *n)
{
	enum cfgdiff_action a;
	const char	*refused;
	char		 why[300], esc[LOG_ESC_MAX];

	a = cfgdiff_decide(s->idx, &m.snap[s->idx], ns, why, sizeof(why));
	if (a == CFGDIFF_RELOAD && !mgr_hup_ready(s->pid)) {
		/* It has just read the configuration. */
		a = CFGDIFF_NONE;
		(void)str_lcpy(why, "still starting", sizeof(why));
	}
	log_kv(LOG_LVL_INFO, "event=reload-service service=%s pid=%ld "
	    "action=%s why=%s", s->name, (long)s->pid,
	    cfgdiff_action_name(a), log_esc(esc, sizeof(esc), why));
	switch (a) {
	case CFGDIFF_NONE:
		m.snap[s->idx] = *ns;
		mgr_reload_add(&n->none, s);
		break;
	case CFGDIFF_RELOAD:
		mgr_signal(s, SIGHUP, false, NULL);
		m.snap[s->idx] = *ns;
		mgr_reload_add(&n->hup, s);
		break;
	case CFGDIFF_RESTART:
		if (svc_restart(&m.set, s, now_ms(), &refused) ==
		    SVC_REQ_REFUSED) {
			/* Its program went away: it keeps running. */
			log_kv(LOG_LVL_WARN, "event=reload-restart-refused "
			    "service=%s why=%s", s->name, log_esc(esc,
			    sizeof(esc), refused));
			mgr_reload_add(&n->none, s);
			break;
		}
		mgr_reload_add(&n->restart, s);
		break;
	}
}

/*
 * mgr_reload: the configuration again, applied to the services: those
 * that became enabled start, those that became disabled stop, and each
 * running one gets what the change means for it.  false (and the
 * running configuration stays, nothing is touched) when it is invalid;
 * what happened in msg.
 */
static bool
mgr_reload(char *msg, size_t len)
{
	static struct cfgdiff_snap ns;
	struct sekisho_conf *nc = xcalloc(1, sizeof(*nc));
	struct mgr_reload_names n;
	struct diag	 d;
	size_t		 i;

	diag_init(&d);
	if (conf_load(m.conf->confdir, nc, &d) == -1 || d.nerrors > 0) {
		mgr_reload_error(&d, msg, len);
		diag_free(&d);
		conf_free(nc);
		free(nc);
		return false;
	}
	diag_free(&d);
	if (strcmp(nc->imss.run_dir, m.conf->imss.run_dir) != 0 ||
	    strcmp(nc->imss.data_dir, m.conf->imss.data_dir) != 0 ||
	    strcmp(nc->imss.log_dir, m.conf->imss.log_dir) != 0)
		log_kv(LOG_LVL_WARN, "event=reload-partial detail=\"run_dir, "
		    "data_dir and log_dir change at the next start of "
		    "sekisho-manager\"");
	conf_free(m.conf);
	if (m.conf_heap)
		free(m.conf);
	m.conf = nc;
	m.conf_heap = true;
	/* New limits first: a restart below is bounded by the new one. */
	mgr_configure(false);
	notifier_configure(m.conf);
	central_configure(m.conf);
	console_configure(m.conf);
	cfgdiff_snap_take(m.conf, &ns);
	buf_init(&n.restart, 4096);
	buf_init(&n.hup, 4096);
	buf_init(&n.none, 4096);
	for (i = 0; i < m.set.n; i++)
		if (m.set.v[i].state == SVC_RUNNING)
			mgr_reload_one(&m.set.v[i], &ns, &n);
	log_kv(LOG_LVL_INFO, "event=reloaded restart=%s hup=%s unchanged=%s",
	    n.restart.len > 0 ? buf_cstr(&n.restart) : "none",
	    n.hup.len > 0 ? buf_cstr(&n.hup) : "none",
	    n.none.len > 0 ? buf_cstr(&n.none) : "none");
	(void)str_printf(msg, len, "reloaded; restarted: %s; SIGHUP sent to: "
	    "%s; unchanged: %s",
	    n.restart.len > 0 ? buf_cstr(&n.restart) : "none",
	    n.hup.len > 0 ? buf_cstr(&n.hup) : "none",
	    n.none.len > 0 ? buf_cstr(&n.none) : "none");
	buf_free(&n.restart);
	buf_free(&n.hup);
	buf_free(&n.none);
	return true;
}

/* ---- status ------------------------------------------------------------- */

/* mgr_user_name: a uid as its user name (or the number). */
static json_t *
mgr_user_name(uid_t uid)
{
	struct passwd	*pw;
	char		 num[32];

	if ((pw = getpwuid(uid)) != NULL)
		return json_string(pw->pw_name);
	(void)str_printf(num, sizeof(num), "%u", (unsigned)uid);
	return json_string(num);
}

/* mgr_proc_ids: a process's group and effective uid from /proc. */
static bool
mgr_proc_ids(const char *pid, pid_t *pgrp, uid_t *euid)
{
	char		 path[64], text[4096], *p;
	long		 pg = -1;
	unsigned long	 ruid, eu;

	(void)str_printf(path, sizeof(path), "/proc/%s/stat", pid);
	if (!mgr_proc_read(path, text, sizeof(text)))
		return false;
	/* "pid (comm) state ppid pgrp ...": comm may hold anything. */
	if ((p = strrchr(text, ')')) != NULL)
		(void)sscanf(p + 1, " %*c %*d %ld", &pg);
	(void)str_printf(path, sizeof(path), "/proc/%s/status", pid);
	if (pg <= 0 || !mgr_proc_read(path, text, sizeof(text)) ||
	    (p = strstr(text, "\nUid:")) == NULL ||
	    sscanf(p + 5, "%lu %lu", &ruid, &eu) != 2)
		return false;
	*pgrp = (pid_t)pg;
	*euid = (uid_t)eu;
	return true;
}

/* mgr_users_add: uid into the users array of a service, once. */
static void
mgr_users_add(json_t *users, uid_t uid)
{
	json_t	*name = mgr_user_name(uid);
	size_t	 i;

	for (i = 0; i < json_array_size(users); i++)
		if (json_equal(json_array_get(users, i), name)) {
			json_decref(name);
			return;
		}
	json_array_append_new(users, name);
}

/*
 * mgr_users: the users each running service's processes run as (its
 * process group: the service's own process first), from /proc.
 */
static void
mgr_users(json_t *users[SVC_MAX])
{
	struct dirent	*de;
	struct svc	*s;
	DIR		*d;
	pid_t		 pg;
	uid_t		 uid;
	char		 pid[32];
	size_t		 i;

	for (i = 0; i < m.set.n; i++) {
		users[i] = json_array();
		if (m.set.v[i].pid <= 0)
			continue;
		(void)str_printf(pid, sizeof(pid), "%ld",
		    (long)m.set.v[i].pid);
		if (mgr_proc_ids(pid, &pg, &uid))
			mgr_users_add(users[i], uid);
	}
	if ((d = opendir("/proc")) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strspn(de->d_name, "0123456789") != strlen(de->d_name) ||
		    !mgr_proc_ids(de->d_name, &pg, &uid) ||
		    (s = svc_by_pid(&m.set, pg)) == NULL)
			continue;
		mgr_users_add(users[s->idx], uid);
	}
	closedir(d);
}

/* mgr_svc_json: one service's status entry (docs/manager.md); users taken. */
static json_t *
mgr_svc_json(const struct svc *s, json_t *users, int64_t now)
{
	char		 path[4096], st[32];
	bool		 alive = s->state == SVC_RUNNING ||
	    s->state == SVC_STOPPING;
	long long	 up = alive ? (now - s->started_ms) / 1000 : 0;
	json_t		*o;

	(void)mgr_prog_path(s, path, sizeof(path));
	o = json_pack("{s:s, s:s, s:b, s:b, s:s, s:o, s:o, s:o, s:o, s:I, "
	    "s:o, s:o, s:s}", "service", s->name, "program", path,
	    "enabled", s->enabled, "installed", s->installed,
	    "state", svc_state_name(s->state),
	    "pid", alive ? json_integer(s->pid) : json_null(),
	    "users", users,
	    "started", alive ? json_integer((json_int_t)time(NULL) - up) :
	    json_null(),
	    "uptime", alive ? json_integer(up) : json_null(),
	    "restarts", (json_int_t)s->restarts,
	    "last_exit", s->last_status == -1 ? json_null() :
	    json_string(svc_status_text(st, sizeof(st), s->last_status)),
	    "restart_in", s->state == SVC_BACKOFF ?
	    json_integer((s->deadline_ms - now + 999) / 1000) : json_null(),
	    "log", m.io[s->idx].log.path[0] != '\0' ? m.io[s->idx].log.path :
	    "");
	if (o == NULL)
		fatalx("mgr_svc_json: %s: json_pack", s->name);
	return o;
}

/* ---- control clients ---------------------------------------------------- */

/* send_result: the IMSG_CTL_RESULT that ends a request. */
static void
send_result(struct mclient *c, uint64_t reqid, enum mgr_status st,
    const char *text)
{
	struct ipc_msg	*msg = ipc_msg_new(IMSG_CTL_RESULT, 0);

	ipc_add_u64(msg, reqid);
	ipc_add_u32(msg, (uint32_t)st);
	ipc_add_str(msg, text);
	(void)ipc_chan_send(c->chan, msg);
}

/* send_entry: one JSON object as IMSG_QUEUE_CTL_ENTRY (o is released). */
static void
send_entry(struct mclient *c, uint64_t reqid, json_t *o)
{
	struct ipc_msg	*msg;
	char		*text;

	if ((text = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("send_entry: json_dumps");
	json_decref(o);
	msg = ipc_msg_new(IMSG_QUEUE_CTL_ENTRY, 0);
	ipc_add_u64(msg, reqid);
	ipc_add_str(msg, text);
	(void)ipc_chan_send(c->chan, msg);
	free(text);
}

/* mgr_unknown: the answer to a service name we do not know. */
static void
mgr_unknown(struct mclient *c, uint64_t reqid, const char *name)
{
	char	 text[200], q[DIAG_QUOTE_MAX];

	(void)str_printf(text, sizeof(text), "unknown service %s (one of "
	    "smtpd, scanner, ipprofiler, euq)", diag_quote(q, sizeof(q),
	    name));
	send_result(c, reqid, MGR_BADREQ, text);
}

/*
 * mgr_status: IMSG_MGR_STATUS: an entry per service that is installed or
 * has a process (or the one named), then the count.
 */
static void
mgr_status(struct mclient *c, uint64_t reqid, const char *name)
{
	json_t	*users[SVC_MAX];
	struct svc *one = NULL;
	int64_t	 now = now_ms();
	size_t	 i, n = 0;
	char	 text[64];

	if (name[0] != '\0' && (one = svc_find(&m.set, name)) == NULL) {
		mgr_unknown(c, reqid, name);
		return;
	}
	mgr_users(users);
	for (i = 0; i < m.set.n; i++) {
		struct svc *s = &m.set.v[i];

		if ((one != NULL && s != one) || (!s->installed &&
		    s->state == SVC_STOPPED && one == NULL)) {
			json_decref(users[i]);
			continue;
		}
		send_entry(c, reqid, mgr_svc_json(s, users[i], now));
		n++;
	}
	(void)str_printf(text, sizeof(text), "%zu service%s", n,
	    n == 1 ? "" : "s");
	send_result(c, reqid, MGR_OK, text);
}

/* mgr_waiter_free: forget a waiter. */
static void
mgr_waiter_free(struct mwaiter *w)
{
	TAILQ_REMOVE(&m.waiters, w, entry);
	free(w);
}

/* mgr_stop_text: how the last stop of s went, for the answer. */
static void
mgr_stop_text(const struct svc *s, char *buf, size_t len)
{
	char	 st[32];

	if (s->last_killed)
		(void)str_printf(buf, len, "killed after %.1f s (it did not "
		    "stop on SIGTERM within service_stop_timeout)",
		    s->last_stop_ms / 1000.0);
	else
		(void)str_printf(buf, len, "stopped in %.1f s (%s)",
		    s->last_stop_ms / 1000.0, svc_status_text(st, sizeof(st),
		    s->last_status));
}

/*
 * mgr_waiter_stop: whether a stop request is answered now; its answer.
 */
static bool
mgr_waiter_stop(const struct mwaiter *w, enum mgr_status *st, char *text,
    size_t len)
{
	const struct svc *s = w->svc;
	char	 how[160];

	if (s->state != SVC_STOPPED && s->runs == w->runs)
		return false;
	mgr_stop_text(s, how, sizeof(how));
	*st = MGR_OK;
	(void)str_printf(text, len, "%s %s%s", s->name, how,
	    s->runs != w->runs ? "; started again by another request" : "");
	return true;
}

/*
 * mgr_waiter_start: whether a start or restart request is answered now
 * (at now); its answer.
 */
static bool
mgr_waiter_start(const struct mwaiter *w, int64_t now, enum mgr_status *st,
    char *text, size_t len)
{
	const struct svc *s = w->svc;
	char	 how[200], ex[32];

	*st = MGR_REFUSED;
	if (s->runs == w->runs) {
		if (s->state != SVC_STOPPED || s->want)
			return false;
		(void)str_printf(text, len, "%s was stopped before it could "
		    "start again", s->name);
		return true;
	}
	if (s->state == SVC_RUNNING) {
		if (now - s->started_ms < MGR_SETTLE_MS)
			return false;
		*st = MGR_OK;
		how[0] = '\0';
		if (w->oldpid > 0)
			mgr_stop_text(s, how, sizeof(how));
		(void)str_printf(text, len, "%s %s: pid %ld%s%s", s->name,
		    w->oldpid > 0 ? "restarted" : "started", (long)s->pid,
		    w->oldpid > 0 ? "; the old one " : "", how);
	} else if (s->state == SVC_BACKOFF)
		(void)str_printf(text, len, "%s did not start: it ended at "
		    "once (%s); next try in %lld s (see %s)", s->name,
		    svc_status_text(ex, sizeof(ex), s->last_status),
		    (long long)(s->deadline_ms - now + 999) / 1000,
		    m.io[s->idx].log.path);
	else
		(void)str_printf(text, len, "%s was stopped by another "
		    "request", s->name);
	return true;
}

/* mgr_waiters_check: answer the requests that are done at now. */
static void
mgr_waiters_check(int64_t now)
{
	struct mwaiter	*w, *next;
	enum mgr_status	 st;
	char		 text[1024];
	bool		 done;

	for (w = TAILQ_FIRST(&m.waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->type == IMSG_MGR_STOP)
			done = mgr_waiter_stop(w, &st, text, sizeof(text));
		else
			done = mgr_waiter_start(w, now, &st, text,
			    sizeof(text));
		if (!done)
			continue;
		log_kv(LOG_LVL_INFO, "event=ctl-done client=%u service=%s "
		    "command=%s status=%d", w->client->id, w->svc->name,
		    ipc_type_name(w->type), (int)st);
		send_result(w->client, w->reqid, st, text);
		mgr_waiter_free(w);
	}
}

/* mgr_waiter_deadline: when a waiter may be answered without an event. */
static int64_t
mgr_waiter_deadline(const struct mwaiter *w)
{
	const struct svc *s = w->svc;

	if (w->type != IMSG_MGR_STOP && s->runs != w->runs &&
	    s->state == SVC_RUNNING)
		return s->started_ms + MGR_SETTLE_MS;
	return 0;
}

/* mgr_request: IMSG_MGR_START, _STOP or _RESTART of one service. */
static void
mgr_request(struct mclient *c, uint32_t type, uint64_t reqid,
    const char *name)
{
	struct mwaiter	*w;
	struct svc	*s;
	enum svc_req	 r;
	const char	*why;
	char		 text[300];
	unsigned	 runs;
	pid_t		 oldpid;

	if ((s = svc_find(&m.set, name)) == NULL) {
		mgr_unknown(c, reqid, name);
		return;
	}
	log_kv(LOG_LVL_INFO, "event=ctl-request client=%u uid=%u service=%s "
	    "command=%s", c->id, (unsigned)c->uid, s->name,
	    ipc_type_name(type));
	runs = s->runs;
	oldpid = s->pid;
	if (type == IMSG_MGR_START)
		r = svc_start(&m.set, s, now_ms(), &why);
	else if (type == IMSG_MGR_STOP)
		r = svc_stop(&m.set, s, now_ms(), &why);
	else
		r = svc_restart(&m.set, s, now_ms(), &why);
	if (r != SVC_REQ_WAIT) {
		(void)str_printf(text, sizeof(text), "%s%s %s", s->name,
		    r == SVC_REQ_REFUSED ? ": refused:" : ":", why);
		send_result(c, reqid, r == SVC_REQ_DONE ? MGR_OK : MGR_REFUSED,
		    text);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->client = c;
	w->reqid = reqid;
	w->type = type;
	w->svc = s;
	w->runs = runs;
	w->oldpid = type == IMSG_MGR_RESTART ? oldpid : 0;
	TAILQ_INSERT_TAIL(&m.waiters, w, entry);
}

/* client_free: drop a client and its pending requests. */
static void
client_free(struct mclient *c)
{
	struct mwaiter	*w, *next;

	for (w = TAILQ_FIRST(&m.waiters); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->client == c)
			mgr_waiter_free(w);
	}
	central_client_gone(c->chan);
	TAILQ_REMOVE(&m.clients, c, entry);
	m.nclients--;
	ipc_chan_free(c->chan);
	free(c);
}

/* client_closed: a client went away (its pending requests go on). */
static void
client_closed(struct ipc_chan *ch, enum ipc_close why, void *arg)
{
	struct mclient	*c = arg;

	log_kv(why == IPC_CLOSE_EOF ? LOG_LVL_DEBUG : LOG_LVL_WARN,
	    "event=client-closed client=%u why=%s", c->id,
	    ipc_close_name(why));
	client_free(c);
}

/* client_request: one request; false when it is malformed. */
static bool
client_request(struct mclient *c, struct ipc_msg_in *msg)
{
	char		 name[MGR_NAME_MAX], text[1024];
	uint64_t	 reqid;
	bool		 ok;

	if (msg->fd != -1 || !ipc_get_u64(msg, &reqid))
		return false;
	switch (msg->type) {
	case IMSG_MGR_STATUS:
	case IMSG_MGR_START:
	case IMSG_MGR_STOP:
	case IMSG_MGR_RESTART:
		if (!ipc_get_str(msg, name, sizeof(name)) || !ipc_end(msg))
			return false;
		if (msg->type == IMSG_MGR_STATUS)
			mgr_status(c, reqid, name);
		else
			mgr_request(c, msg->type, reqid, name);
		return true;
	case IMSG_CTL_RELOAD:
		if (!ipc_end(msg))
			return false;
		log_kv(LOG_LVL_INFO, "event=ctl-request client=%u uid=%u "
		    "command=reload", c->id, (unsigned)c->uid);
		ok = mgr_reload(text, sizeof(text));
		send_result(c, reqid, ok ? MGR_OK : MGR_REFUSED, text);
		return true;
	case IMSG_MGR_SYNC:
		if (!ipc_end(msg))
			return false;
		log_kv(LOG_LVL_INFO, "event=ctl-request client=%u uid=%u "
		    "command=central-sync", c->id, (unsigned)c->uid);
		central_sync(c->chan, reqid);
		return true;
	case IMSG_MGR_HOSTS:
		if (!ipc_end(msg))
			return false;
		central_hosts(c->chan, reqid);
		return true;
	}
	return false;
}

/* client_dispatch: a client's message; bad bytes drop only that client. */
static void
client_dispatch(struct ipc_chan *ch, struct ipc_msg_in *msg, void *arg)
{
	struct mclient	*c = arg;

	if (!client_request(c, msg)) {
		log_kv(LOG_LVL_WARN, "event=client-protocol client=%u uid=%u "
		    "type=%s", c->id, (unsigned)c->uid,
		    ipc_type_name(msg->type));
		client_free(c);
		return;
	}
	mgr_after();
}

/*
 * mgr_client_add: a control client on fd (taken): a sekishoctl that
 * passed the peer check, or the console process's end of its socket
 * pair (mgr_console_client), whose requests it made for a logged-in
 * administrator.
 */
static struct mclient *
mgr_client_add(int fd, uid_t uid, const char *name)
{
	struct mclient	*c = xcalloc(1, sizeof(*c));

	c->id = ++m.next_client;
	c->uid = uid;
	c->chan = ipc_chan_new(m.base, fd, MGR_MAX_REQUEST, client_dispatch,
	    client_closed, c);
	ipc_chan_set_name(c->chan, name);
	TAILQ_INSERT_TAIL(&m.clients, c, entry);
	m.nclients++;
	return c;
}

/* mgr_console_client: the console's channel, as a client (console.c). */
void
mgr_console_client(int fd)
{
	struct mclient	*c = mgr_client_add(fd, geteuid(), "console");

	log_kv(LOG_LVL_DEBUG, "event=client-connected client=%u "
	    "name=console", c->id);
}

/* listen_cb: a sekishoctl connects (root or our own user only). */
static void
listen_cb(evutil_socket_t lfd, short ev, void *arg)
{
	struct mclient	*c;
	uid_t		 uid;
	pid_t		 pid;
	int		 fd;

	if ((fd = ipc_accept_peer(lfd, geteuid(), &uid, &pid)) == -1)
		return;
	if (m.nclients >= MGR_MAX_CLIENTS) {
		log_kv(LOG_LVL_WARN, "event=client-refused uid=%ld pid=%ld "
		    "reason=too-many-clients", (long)uid, (long)pid);
		close(fd);
		return;
	}
	c = mgr_client_add(fd, uid, "client");
	log_kv(LOG_LVL_DEBUG, "event=client-connected client=%u uid=%ld "
	    "pid=%ld", c->id, (long)uid, (long)pid);
}

/* ---- the loop ----------------------------------------------------------- */

/* mgr_arm: the timer at the next deadline of a service or a request. */
static void
mgr_arm(void)
{
	struct mwaiter	*w;
	struct timeval	 tv;
	int64_t		 next = svc_next_deadline(&m.set), t, wait;

	TAILQ_FOREACH(w, &m.waiters, entry)
		if ((t = mgr_waiter_deadline(w)) != 0 && (next == 0 ||
		    t < next))
			next = t;
	if (next == 0) {
		evtimer_del(m.ev_timer);
		return;
	}
	if ((wait = next - now_ms()) < 0)
		wait = 0;
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000 * 1000);
	evtimer_add(m.ev_timer, &tv);
}

/*
 * mgr_after: after every event: answer the requests that are done, end
 * the loop when shutting down and every service has stopped, re-arm the
 * timer.
 */
static void
mgr_after(void)
{
	struct timeval	 flush = { 1, 0 };
	struct mclient	*c;
	bool		 pending = false;

	mgr_waiters_check(now_ms());
	if (m.stopping && svc_all_stopped(&m.set) && central_stopped() &&
	    console_stopped()) {
		/* The last answers reach their clients before we exit. */
		TAILQ_FOREACH(c, &m.clients, entry)
			pending |= ipc_chan_outq_len(c->chan) > 0;
		event_base_loopexit(m.base, pending ? &flush : NULL);
		return;
	}
	mgr_arm();
}

/* timer_cb: a deadline came: kill, restart, or answer. */
static void
timer_cb(evutil_socket_t fd, short ev, void *arg)
{
	svc_tick(&m.set, now_ms());
	mgr_after();
}

/* signal_cb: SIGCHLD reaps, SIGHUP reloads, SIGTERM and SIGINT stop. */
static void
signal_cb(evutil_socket_t sig, short ev, void *arg)
{
	char	 text[1024];

	switch (sig) {
	case SIGCHLD:
		mgr_reap();
		break;
	case SIGHUP:
		(void)mgr_reload(text, sizeof(text));
		break;
	default:
		if (!m.stopping)
			log_kv(LOG_LVL_INFO, "event=stopping signal=%d "
			    "timeout=%lld", (int)sig,
			    m.conf->imss.service_stop_timeout);
		m.stopping = true;
		svc_shutdown(&m.set, now_ms());
		central_stop();
		console_stop();
		break;
	}
	mgr_after();
}

/* ---- start and stop ----------------------------------------------------- */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: sekisho-manager [-fhnv] [-B bindir] "
	    "[-c confdir]\n"
	    "  -B DIR  where the service programs are (default: the "
	    "directory of sekisho-manager)\n"
	    "  -c DIR  configuration directory (default %s)\n"
	    "  -f      foreground, log to stderr\n"
	    "  -n      check the configuration and exit\n"
	    "  -v      verbose (debug) logging\n", SEKISHO_CONFDIR);
	exit(2);
}

/* mgr_getopt: daemon_getopt's options plus -B DIR. */
static void
mgr_getopt(int argc, char **argv)
{
	char	 self[4096];
	ssize_t	 n;
	int	 ch;

	memset(&m.opts, 0, sizeof(m.opts));
	m.opts.prog = "sekisho-manager";
	m.opts.confdir = SEKISHO_CONFDIR;
	while ((ch = getopt(argc, argv, "B:c:fhnv")) != -1) {
		switch (ch) {
		case 'B':
			if (str_lcpy(m.bindir, optarg, sizeof(m.bindir)) >=
			    sizeof(m.bindir))
				fatalx("mgr_getopt: -B: path too long");
			break;
		case 'c':
			m.opts.confdir = optarg;
			break;
		case 'f':
			m.opts.foreground = true;
			break;
		case 'n':
			m.opts.check = true;
			break;
		case 'v':
			m.opts.verbose++;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (m.bindir[0] != '\0')
		return;
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		fatal("mgr_getopt: /proc/self/exe (give -B)");
	self[n] = '\0';
	str_lcpy(m.bindir, dirname(self), sizeof(m.bindir));
}

/* mgr_dirs: the log directory (<data_dir>/log unless configured). */
static void
mgr_dirs(void)
{
	const struct conf_imss *c = &m.conf->imss;

	if (c->log_dir[0] != '\0')
		str_lcpy(m.logdir, c->log_dir, sizeof(m.logdir));
	else {
		if (mkdir(c->data_dir, 0755) == -1 && errno != EEXIST)
			fatal("mgr_dirs: data_dir %s", c->data_dir);
		if (!str_printf(m.logdir, sizeof(m.logdir), "%s/log",
		    c->data_dir))
			fatalx("mgr_dirs: data_dir too long");
	}
	if (mkdir(m.logdir, 0750) == -1 && errno != EEXIST)
		fatal("mgr_dirs: log directory %s", m.logdir);
	if ((m.devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		fatal("mgr_dirs: /dev/null");
}

/* mgr_socket: <run_dir>/manager.sock, 0600, our own user. */
static void
mgr_socket(void)
{
	if (!str_printf(m.sockpath, sizeof(m.sockpath), "%s/manager.sock",
	    m.conf->imss.run_dir))
		fatalx("mgr_socket: run_dir too long");
	if ((m.listen_fd = ipc_listen_unix(m.sockpath, geteuid(), getegid(),
	    0600)) == -1)
		fatal("mgr_socket: %s", m.sockpath);
}

/* mgr_events: the loop, its signals, the timer and the listener. */
static void
mgr_events(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	size_t	 i;

	if ((m.base = event_base_new()) == NULL)
		fatalx("mgr_events: event_base_new");
	for (i = 0; i < nitems(sigs); i++) {
		m.ev_sig[i] = evsignal_new(m.base, sigs[i], signal_cb, NULL);
		if (m.ev_sig[i] == NULL || evsignal_add(m.ev_sig[i], NULL))
			fatalx("mgr_events: signal %d", sigs[i]);
	}
	m.ev_timer = evtimer_new(m.base, timer_cb, NULL);
	m.ev_listen = event_new(m.base, m.listen_fd, EV_READ | EV_PERSIST,
	    listen_cb, NULL);
	if (m.ev_timer == NULL || m.ev_listen == NULL ||
	    event_add(m.ev_listen, NULL) == -1)
		fatalx("mgr_events: events");
}

/* mgr_stop: release everything (leak checkers see a clean exit). */
static void
mgr_stop(void)
{
	size_t	 i;

	while (!TAILQ_EMPTY(&m.clients))
		client_free(TAILQ_FIRST(&m.clients));
	for (i = 0; i < SVC_MAX; i++) {
		mgr_io_drain(&m.io[i]);
		if (m.io[i].ev != NULL)
			event_free(m.io[i].ev);
		if (m.io[i].rfd != -1)
			close(m.io[i].rfd);
		if (m.io[i].wfd != -1)
			close(m.io[i].wfd);
		svclog_close(&m.io[i].log);
	}
	notifier_free();
	central_free();
	console_free();
	for (i = 0; i < nitems(m.ev_sig); i++)
		event_free(m.ev_sig[i]);
	event_free(m.ev_listen);
	event_free(m.ev_timer);
	event_base_free(m.base);
	close(m.listen_fd);
	close(m.devnull);
	(void)unlink(m.sockpath);
	conf_free(m.conf);
	if (m.conf_heap)
		free(m.conf);
}

int
main(int argc, char **argv)
{
	static struct sekisho_conf conf;
	char	 e1[LOG_ESC_MAX], e2[LOG_ESC_MAX], e3[LOG_ESC_MAX];
	char	 e4[LOG_ESC_MAX], err[512];
	size_t	 i;

	mgr_getopt(argc, argv);
	/* A configuration bundle applied up to its commit: finish it first. */
	if (bundle_pending(m.opts.confdir) &&
	    bundle_recover(m.opts.confdir, err, sizeof(err)) == -1) {
		fprintf(stderr, "sekisho-manager: %s: an interrupted "
		    "configuration bundle cannot be finished: %s\n",
		    m.opts.confdir, err);
		return 1;
	}
	daemon_config(&m.opts, &conf, NULL);
	m.conf = &conf;
	TAILQ_INIT(&m.clients);
	TAILQ_INIT(&m.waiters);
	for (i = 0; i < SVC_MAX; i++) {
		m.io[i].rfd = m.io[i].wfd = -1;
		m.io[i].log.fd = -1;
	}
	daemon_start(&m.opts, &conf);
	if (geteuid() != 0)
		log_kv(LOG_LVL_WARN, "event=development-mode uid=%ld "
		    "detail=\"not root: the services run as this user, "
		    "without privilege separation\"", (long)geteuid());
	mgr_dirs();
	mgr_socket();
	mgr_events();
	notifier_init(m.base);
	notifier_configure(m.conf);
	svc_set_init(&m.set, &mgr_ops, NULL);
	mgr_configure(true);
	central_init(m.base, mgr_reload, m.opts.foreground);
	central_configure(m.conf);
	console_init(m.base, m.opts.foreground);
	console_configure(m.conf);
	log_kv(LOG_LVL_INFO, "event=manager-ready socket=%s bindir=%s "
	    "services=%s logdir=%s", log_esc(e1, sizeof(e1), m.sockpath),
	    log_esc(e2, sizeof(e2), m.bindir), log_esc(e3, sizeof(e3),
	    conf.imss.services), log_esc(e4, sizeof(e4), m.logdir));
	/* A child that ended before the SIGCHLD event existed. */
	mgr_reap();
	mgr_after();
	event_base_dispatch(m.base);
	mgr_stop();
	log_kv(LOG_LVL_INFO, "event=exit status=0");
	daemon_pidfile_remove();
	return 0;
}
