/*
 * mchild.c: fork one of the manager's helper processes (mchild.h).
 *
 * In the child: the manager's signal handlers are reset (SIGHUP
 * ignored: the manager restarts a helper whose configuration changed),
 * every descriptor but stdin/out/err and those kept is closed, logging
 * starts again under the helper's name, the helper dies with the manager
 * (PR_SET_PDEATHSIG), and it drops to [users] manager_user chrooted into
 * DATA_DIR/empty (privsep.c; as another user than root, development
 * mode: no chroot, no id change).
 */
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "mchild.h"
#include "privsep.h"
#include "proc.h"
#include "util.h"
#include "xmalloc.h"

/*
 * mchild_fork: the pid in the manager, 0 in the child (privileges
 * dropped); failures are fatal (the manager cannot go on without fork).
 */
pid_t
mchild_fork(const char *name, const struct sekisho_conf *conf,
    const int *keep, size_t nkeep, bool foreground)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGCHLD, SIGPIPE };
	const char	*e;
	char		*root;
	pid_t		 pid;
	size_t		 i;

	root = xasprintf("%s/empty", conf->imss.data_dir);
	if (geteuid() == 0 && (e = privsep_make_empty_dir(root)) != NULL)
		fatalx("mchild_fork: %s: %s", name, e);
	if ((pid = fork()) == -1)
		fatal("mchild_fork: %s: fork", name);
	if (pid != 0) {
		free(root);
		return pid;
	}
	for (i = 0; i < nitems(sigs); i++)
		(void)signal(sigs[i], SIG_DFL);
	(void)signal(SIGHUP, SIG_IGN);
	closelog();
	proc_close_others(keep, nkeep);
	log_init(name, foreground, log_getlevel());
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	privsep_drop(conf->imss.manager_user, geteuid() == 0 ? root : NULL);
	free(root);
	return 0;
}

/*
 * mchild_died: a helper ended on its own with wait status status: one
 * more death in a row, logged as "event=NAME-died", and its restart armed
 * on ev after 1 s doubling to MCHILD_BACKOFF_MAX.
 */
void
mchild_died(const char *name, struct event *ev, unsigned *deaths, int status)
{
	struct timeval	 tv = { 0, 0 };

	(*deaths)++;
	tv.tv_sec = *deaths >= 6 ? MCHILD_BACKOFF_MAX : 1 << (*deaths - 1);
	log_kv(LOG_LVL_WARN, "event=%s-died status=%d restart_in=%lds", name,
	    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
	    (long)tv.tv_sec);
	evtimer_add(ev, &tv);
}
