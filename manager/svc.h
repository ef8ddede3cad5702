/*
 * svc.h: the services sekisho-manager supervises, and the state machine
 * of each (docs/manager.md).
 *
 * This module decides; it owns no process, descriptor or clock.  The
 * caller passes the time (milliseconds on a monotonic clock) into every
 * call and does the process work through struct svc_ops (spawn, signal),
 * so the unit tests drive it with a fake clock and fake processes.
 *
 *	STOPPED	  not running.  Started when it becomes wanted: enabled in
 *		  [imss_manager] services (at the start or a reload), or by
 *		  a start or restart request.
 *	RUNNING	  its pid is alive.
 *	STOPPING  SIGTERM went to its pid at stop_ms; at stop_ms +
 *		  stop_timeout SIGKILL goes to its process group (seed 34),
 *		  so a stop never hangs.  When it has exited: STOPPED, or
 *		  started again at once if a restart asked for it (want).
 *	BACKOFF	  it died without being asked to ("restarting"): started
 *		  again at deadline_ms.  The first wait is 1 s; each death
 *		  doubles it up to backoff_max; a run that lasted
 *		  SVC_STABLE_MS starts again from 1 s.
 *
 * A failed spawn counts as a death.  While the manager shuts down
 * (svc_shutdown) nothing starts any more.
 */
#ifndef SEKISHO_SVC_H
#define SEKISHO_SVC_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define SVC_MAX			CONF_NSERVICES
#define SVC_BACKOFF_MIN_MS	1000
#define SVC_STABLE_MS		(60 * 1000)	/* a run this long: reset */

enum svc_state {
	SVC_STOPPED = 0,
	SVC_RUNNING,
	SVC_STOPPING,
	SVC_BACKOFF,
};

/* What a start, stop or restart request came to. */
enum svc_req {
	SVC_REQ_DONE = 0,	/* nothing to wait for (already so) */
	SVC_REQ_WAIT,		/* under way: watch the state */
	SVC_REQ_REFUSED,	/* not possible; see the reason */
};

struct svc;

/* What the supervisor does to processes for the state machine. */
struct svc_ops {
	/* Start the service's program: its pid, or -1 (said why). */
	pid_t		(*spawn)(struct svc *, void *);
	/* Send sig to the service's pid, or to its process group. */
	void		(*signal)(struct svc *, int, bool, void *);
};

struct svc {
	const char	*name;		/* "smtpd" (conf_service_names) */
	char		 prog[32];	/* "sekisho-smtpd" */
	unsigned	 idx;		/* in the set, = conf service index */
	bool		 installed;	/* its program is in the bin dir */
	bool		 enabled;	/* [imss_manager] services names it */
	bool		 want;		/* should run: start again after a
					   stop or a death */
	enum svc_state	 state;
	pid_t		 pid;		/* RUNNING, STOPPING; else 0 */
	int64_t		 started_ms;	/* RUNNING, STOPPING: this run's */
	int64_t		 stop_ms;	/* STOPPING: when SIGTERM went */
	int64_t		 deadline_ms;	/* STOPPING: SIGKILL; BACKOFF: start */
	bool		 killed;	/* STOPPING: SIGKILL went */
	int64_t		 delay_ms;	/* the next backoff wait */
	unsigned	 restarts;	/* restarts after deaths */
	unsigned	 runs;		/* start attempts */
	/* The last exit: its wait status (-1: none yet), whether it was
	   asked for, how long the stop took and whether it was killed. */
	int		 last_status;
	bool		 last_expected;
	int64_t		 last_stop_ms;
	bool		 last_killed;
};

struct svc_set {
	struct svc		 v[SVC_MAX];
	size_t			 n;
	const struct svc_ops	*ops;
	void			*arg;
	int64_t			 stop_timeout_ms;
	int64_t			 backoff_max_ms;
	bool			 shutdown;	/* the manager is stopping */
};

void		 svc_set_init(struct svc_set *, const struct svc_ops *,
		    void *);
void		 svc_set_limits(struct svc_set *, long long, long long);
struct svc	*svc_find(struct svc_set *, const char *);
struct svc	*svc_by_pid(struct svc_set *, pid_t);
void		 svc_configure(struct svc_set *, struct svc *, bool, bool,
		    int64_t);
enum svc_req	 svc_start(struct svc_set *, struct svc *, int64_t,
		    const char **);
enum svc_req	 svc_stop(struct svc_set *, struct svc *, int64_t,
		    const char **);
enum svc_req	 svc_restart(struct svc_set *, struct svc *, int64_t,
		    const char **);
void		 svc_exited(struct svc_set *, struct svc *, int, int64_t);
void		 svc_tick(struct svc_set *, int64_t);
int64_t		 svc_next_deadline(const struct svc_set *);
void		 svc_shutdown(struct svc_set *, int64_t);
bool		 svc_all_stopped(const struct svc_set *);
const char	*svc_state_name(enum svc_state);
const char	*svc_status_text(char *, size_t, int);

#endif
