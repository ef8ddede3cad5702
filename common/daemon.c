/*
 * daemon.c: command line, configuration check, logging, detaching and the
 * pid file, shared by every sekisho daemon (see daemon.h).
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

static char	 pidfile_path[4096];
static pid_t	 pidfile_owner;

/* usage: the command line of a daemon, to stderr, then exit 2. */
static void __attribute__((noreturn))
usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-fhnv] [-c confdir]\n"
	    "  -c DIR  configuration directory (default %s)\n"
	    "  -f      foreground, log to stderr\n"
	    "  -n      check the configuration and exit\n"
	    "  -v      verbose (debug) logging\n", prog, SEKISHO_CONFDIR);
	exit(2);
}

/* daemon_getopt: parse the common options; anything else is a usage error. */
void
daemon_getopt(int argc, char **argv, const char *prog, struct daemon_opts *o)
{
	int	 ch;

	memset(o, 0, sizeof(*o));
	o->prog = prog;
	o->confdir = SEKISHO_CONFDIR;
	while ((ch = getopt(argc, argv, "c:fhnv")) != -1) {
		switch (ch) {
		case 'c':
			o->confdir = optarg;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'n':
			o->check = true;
			break;
		case 'v':
			o->verbose++;
			break;
		default:
			usage(prog);
		}
	}
	if (optind != argc)
		usage(prog);
}

/*
 * daemon_config: load the configuration.  Every warning and error goes to
 * stderr as "file:line: message".  With -n, exit 0 (valid) or 1; without,
 * an invalid configuration stops the start (exit 1).
 */
void
daemon_config(const struct daemon_opts *o, struct sekisho_conf *conf,
    daemon_check_fn check)
{
	struct diag	 d;
	int		 rv;

	diag_init(&d);
	rv = conf_load(o->confdir, conf, &d);
	if (rv == 0 && check != NULL && check(conf, &d) == -1) {
		conf_free(conf);
		rv = -1;
	}
	diag_print(&d, stderr);
	if (rv == -1 || d.nerrors > 0) {
		fprintf(stderr, "%s: %s: configuration invalid (%zu error%s)\n",
		    o->prog, o->confdir, d.nerrors, d.nerrors == 1 ? "" : "s");
		diag_free(&d);
		exit(1);
	}
	if (o->check) {
		fprintf(stderr, "%s: %s: configuration OK%s\n", o->prog,
		    o->confdir, d.nwarnings ? " (with warnings)" : "");
		diag_free(&d);
		conf_free(conf);
		exit(0);
	}
	diag_free(&d);
}

/* pidfile_take: write our pid to run_dir/<prog>.pid, locked while we run. */
static void
pidfile_take(const char *run_dir, const char *prog)
{
	char	 buf[32];
	int	 fd, n;

	if (!str_printf(pidfile_path, sizeof(pidfile_path), "%s/%s.pid",
	    run_dir, prog))
		fatalx("daemon pidfile: path too long");
	if ((fd = open(pidfile_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) == -1)
		fatal("daemon pidfile: open %s", pidfile_path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1)
		fatalx("daemon pidfile: %s is locked: %s is already running",
		    pidfile_path, prog);
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || write(fd, buf, (size_t)n) != n)
		fatal("daemon pidfile: write %s", pidfile_path);
	/* The descriptor stays open (and locked) for the life of the process. */
	pidfile_owner = getpid();
}

/* daemon_pidfile_remove: remove the pid file (only the process that took it). */
void
daemon_pidfile_remove(void)
{
	if (pidfile_owner == getpid() && pidfile_path[0] != '\0')
		unlink(pidfile_path);
}

/* detach: the classic double step into the background, stdio to /dev/null. */
static void
detach(void)
{
	int	 fd;

	switch (fork()) {
	case -1:
		fatal("daemon detach: fork");
	case 0:
		break;
	default:
		_exit(0);
	}
	if (setsid() == -1)
		fatal("daemon detach: setsid");
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		fatal("daemon detach: /dev/null");
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/*
 * daemon_start: logging as configured (-v wins), into the background
 * unless -f, and the pid file in run_dir (created if missing).
 */
void
daemon_start(const struct daemon_opts *o, const struct sekisho_conf *conf)
{
	int	 level = conf->imss.log_level;
	char	 esc[LOG_ESC_MAX];

	if (o->verbose > 0)
		level = LOG_LVL_DEBUG;
	/* Short name for the log: "smtpd" from "sekisho-smtpd". */
	log_init(strncmp(o->prog, "sekisho-", 8) == 0 ? o->prog + 8 : o->prog,
	    o->foreground, level);
	if (mkdir(conf->imss.run_dir, 0755) == -1 && errno != EEXIST)
		fatal("daemon_start: run_dir %s", conf->imss.run_dir);
	if (!o->foreground)
		detach();
	signal(SIGPIPE, SIG_IGN);
	pidfile_take(conf->imss.run_dir, o->prog);
	log_kv(LOG_LVL_INFO, "event=start prog=%s pid=%ld confdir=%s "
	    "foreground=%d", o->prog, (long)getpid(),
	    log_esc(esc, sizeof(esc), conf->confdir), o->foreground);
}
