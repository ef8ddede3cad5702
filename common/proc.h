/*
 * proc.h: the process table of a privilege-separated program.
 *
 * A program declares its processes and which pairs of them talk as data,
 * in one place (STYLE.md), and proc_start() does the rest:
 *
 *	static struct proc_def procs[] = {
 *		{ PROC_PARENT, "parent", NULL, NULL, NULL },
 *		{ PROC_SMTP, "smtp", "_sekisho-smtpd", "/var/empty", smtp_main },
 *		{ PROC_QUEUE, "queue", "_sekisho-queue", NULL, queue_main },
 *	};
 *	static const struct proc_pair pairs[] = {
 *		{ PROC_PARENT, PROC_SMTP }, { PROC_PARENT, PROC_QUEUE },
 *		{ PROC_SMTP, PROC_QUEUE },
 *	};
 *	struct proc_set ps = { "smtpd", procs, nitems(procs), pairs,
 *	    nitems(pairs), foreground };
 *
 *	procs[PROC_SMTP].user = conf->smtpd_user;	(users come from config)
 *	proc_start(&ps, conf);
 *
 * Each pair gets an AF_UNIX SOCK_STREAM socketpair (nonblocking,
 * close-on-exec).  Each child closes every descriptor but stdin/out/err and
 * its own ends, logs as "<prog>.<name>", drops to its user (chrooted into
 * its directory, which must be an empty root-owned one) with
 * privsep_drop(), and calls run() with its descriptors indexed by peer id
 * (-1 where there is no pair); what run() returns is its exit status.  The
 * parent keeps its ends in ps->fd[] and the child pids in ps->pid[], both
 * indexed by proc id.  Framing over the descriptors is ipc's business.
 *
 * Call proc_start() before creating an event base or installing signal
 * handlers: each child starts its own event loop.  proc_reap() never
 * blocks and waits only for the table's pids: call it until PROC_NONE from
 * the event loop's SIGCHLD callback (not from a raw signal handler).  What
 * to do about a dead child (restart, or shut down) is the caller's policy.
 */
#ifndef SEKISHO_PROC_H
#define SEKISHO_PROC_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

#define PROC_PARENT	0	/* the parent is always entry 0 */
#define PROC_MAX	16	/* entries in a table, parent included */
#define PROC_NONE	(-1)

struct proc_def;

/* A child's main function: fds[peer id] is its end towards that peer. */
typedef int (*proc_run_fn)(const struct proc_def *, const int *, void *);

struct proc_def {
	int		 id;		/* its index in the table */
	const char	*name;		/* "smtp" */
	const char	*user;		/* children: the user to drop to */
	const char	*chroot;	/* NULL: no chroot */
	proc_run_fn	 run;		/* children only */
};

struct proc_pair {
	int		 a, b;		/* proc ids, a != b */
};

struct proc_set {
	const char		*prog;		/* "smtpd": log names smtpd.smtp */
	const struct proc_def	*defs;
	size_t			 ndefs;
	const struct proc_pair	*pairs;
	size_t			 npairs;
	bool			 foreground;	/* children log to stderr */

	/* Filled by proc_start, indexed by proc id. */
	pid_t			 pid[PROC_MAX];	/* 0: not running */
	int			 fd[PROC_MAX];	/* parent's end, -1: none */
};

void	 proc_start(struct proc_set *, void *);
int	 proc_reap(struct proc_set *, int *);
void	 proc_signal_all(struct proc_set *, int);
void	 proc_close_others(const int *, size_t);
const char *proc_name(const struct proc_set *, int);

#endif
