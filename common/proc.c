/*
 * proc.c: start the processes of a proc table, connect the declared pairs,
 * and tell the parent which child died (see proc.h).
 *
 * Owns the socketpairs until they are handed out: each child gets its own
 * ends, the parent its ends in proc_set.fd[]; every other end is closed.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"
#include "proc.h"
#include "util.h"

/* proc_check_table: the table obeys the rules of proc.h, or fatalx. */
static void
proc_check_table(const struct proc_set *ps)
{
	bool	 seen[PROC_MAX][PROC_MAX] = { { false } };
	size_t	 i;
	int	 a, b;

	if (ps->ndefs < 1 || ps->ndefs > PROC_MAX)
		fatalx("proc_start: %s: %zu procs (1..%d)", ps->prog,
		    ps->ndefs, PROC_MAX);
	for (i = 0; i < ps->ndefs; i++) {
		if (ps->defs[i].id != (int)i || ps->defs[i].name == NULL)
			fatalx("proc_start: %s: entry %zu: id %d or no name",
			    ps->prog, i, ps->defs[i].id);
		if (i != PROC_PARENT && (ps->defs[i].user == NULL ||
		    ps->defs[i].run == NULL))
			fatalx("proc_start: %s: %s: no user or run function",
			    ps->prog, ps->defs[i].name);
	}
	for (i = 0; i < ps->npairs; i++) {
		a = ps->pairs[i].a;
		b = ps->pairs[i].b;
		if (a < 0 || b < 0 || (size_t)a >= ps->ndefs ||
		    (size_t)b >= ps->ndefs || a == b || seen[a][b])
			fatalx("proc_start: %s: pair %zu (%d, %d) is invalid "
			    "or repeated", ps->prog, i, a, b);
		seen[a][b] = seen[b][a] = true;
	}
}

/* proc_close_between: close every descriptor from lo to hi inclusive. */
static void
proc_close_between(unsigned lo, unsigned hi)
{
	long	 max;
	unsigned fd;

	if (lo > hi || close_range(lo, hi, 0) == 0)
		return;
	/* Kernels before 5.9: walk the table. */
	if ((max = sysconf(_SC_OPEN_MAX)) < 0 || (unsigned long)max > 65536)
		max = 65536;
	for (fd = lo; fd <= hi && fd < (unsigned)max; fd++)
		(void)close((int)fd);
}

/* proc_close_others: close all descriptors but 0-2 and the ones in keep. */
void
proc_close_others(const int *keep, size_t nkeep)
{
	int	 sorted[PROC_MAX], t;
	size_t	 n = 0, i, j;
	unsigned next = 3;

	for (i = 0; i < nkeep; i++)
		if (keep[i] > 2)
			sorted[n++] = keep[i];
	for (i = 1; i < n; i++)
		for (j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
			t = sorted[j];
			sorted[j] = sorted[j - 1];
			sorted[j - 1] = t;
		}
	for (i = 0; i < n; i++) {
		if ((unsigned)sorted[i] > next)
			proc_close_between(next, (unsigned)sorted[i] - 1);
		next = (unsigned)sorted[i] + 1;
	}
	proc_close_between(next, ~0U);
}

/* proc_child: the child side of proc_start; never returns. */
static void __attribute__((noreturn))
proc_child(const struct proc_set *ps, int id, const int *fds, void *arg)
{
	static char		 name[64];
	const struct proc_def	*def = &ps->defs[id];
	const char		*err;

	if (!str_printf(name, sizeof(name), "%s.%s", ps->prog, def->name))
		fatalx("proc_start: %s.%s: name too long", ps->prog, def->name);
	/* Reopen syslog after the purge but before any chroot. */
	closelog();
	proc_close_others(fds, PROC_MAX);
	log_init(name, ps->foreground, log_getlevel());
	/* "smtpd.queue" in ps(1), top(1) and /proc/PID/comm (15 bytes). */
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);

	if (def->chroot != NULL && geteuid() == 0 &&
	    (err = privsep_chroot_dir_check(def->chroot, true)) != NULL)
		fatalx("proc_start: %s: chroot directory: %s", name, err);
	privsep_drop(def->user, def->chroot);
	log_debug("proc_start: %s: started", name);
	exit(def->run(def, fds, arg));
}

/* proc_socketpairs: one socketpair per declared pair, in ends[x][y]. */
static void
proc_socketpairs(const struct proc_set *ps, int ends[PROC_MAX][PROC_MAX])
{
	size_t	 i, j;
	int	 sv[2];

	for (i = 0; i < PROC_MAX; i++)
		for (j = 0; j < PROC_MAX; j++)
			ends[i][j] = -1;
	for (i = 0; i < ps->npairs; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0, sv) == -1)
			fatal("proc_start: %s: socketpair", ps->prog);
		ends[ps->pairs[i].a][ps->pairs[i].b] = sv[0];
		ends[ps->pairs[i].b][ps->pairs[i].a] = sv[1];
	}
}

/* proc_start: connect the pairs and fork every child (see proc.h). */
void
proc_start(struct proc_set *ps, void *arg)
{
	int	 ends[PROC_MAX][PROC_MAX];
	size_t	 i, j;
	pid_t	 pid;

	proc_check_table(ps);
	proc_socketpairs(ps, ends);
	for (i = 0; i < PROC_MAX; i++)
		ps->pid[i] = 0;

	/* Nothing buffered may be written twice. */
	fflush(stdout);
	fflush(stderr);
	for (i = 1; i < ps->ndefs; i++) {
		if ((pid = fork()) == -1)
			fatal("proc_start: %s: fork for %s", ps->prog,
			    ps->defs[i].name);
		if (pid == 0)
			proc_child(ps, (int)i, ends[i], arg);
		ps->pid[i] = pid;
		log_debug("proc_start: %s: started %s pid %ld", ps->prog,
		    ps->defs[i].name, (long)pid);
	}

	for (i = 1; i < PROC_MAX; i++)
		for (j = 0; j < PROC_MAX; j++)
			if (ends[i][j] != -1)
				close(ends[i][j]);
	for (j = 0; j < PROC_MAX; j++)
		ps->fd[j] = ends[PROC_PARENT][j];
}

/*
 * proc_reap: collect one dead child without blocking: its proc id (its pid
 * entry is cleared) and wait status, or PROC_NONE when no child of the table
 * has died.  Call it until PROC_NONE from the SIGCHLD event callback.  Only
 * the table's pids are waited for, so other children keep their status.
 */
int
proc_reap(struct proc_set *ps, int *status)
{
	size_t	 i;
	pid_t	 r;
	int	 st;

	for (i = 1; i < ps->ndefs; i++) {
		if (ps->pid[i] == 0)
			continue;
		while ((r = waitpid(ps->pid[i], &st, WNOHANG)) == -1 &&
		    errno == EINTR)
			;
		if (r == -1)
			fatal("proc_reap: %s: waitpid %s pid %ld", ps->prog,
			    ps->defs[i].name, (long)ps->pid[i]);
		if (r == 0)
			continue;
		ps->pid[i] = 0;
		if (status != NULL)
			*status = st;
		return (int)i;
	}
	return PROC_NONE;
}

/* proc_signal_all: send sig to every running child (shutdown). */
void
proc_signal_all(struct proc_set *ps, int sig)
{
	size_t	 i;

	for (i = 1; i < ps->ndefs; i++)
		if (ps->pid[i] != 0 && kill(ps->pid[i], sig) == -1 &&
		    errno != ESRCH)
			log_warn("proc_signal_all: %s: kill %s pid %ld",
			    ps->prog, ps->defs[i].name, (long)ps->pid[i]);
}

/* proc_name: the name of proc id, for log lines. */
const char *
proc_name(const struct proc_set *ps, int id)
{
	if (id < 0 || (size_t)id >= ps->ndefs)
		return "?";
	return ps->defs[id].name;
}
