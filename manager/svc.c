/*
 * svc.c: the state machine of the services sekisho-manager supervises:
 * start, death and restart with exponential backoff, stop with SIGTERM
 * and SIGKILL at the stop timeout, restart, shutdown (see svc.h).
 *
 * Owns struct svc_set and nothing else: processes are started and
 * signalled through the caller's svc_ops, and the time comes in as an
 * argument, so every decision here can be driven by a unit test.
 */
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "svc.h"
#include "util.h"

/* svc_set_init: the known services, all stopped, none enabled yet. */
void
svc_set_init(struct svc_set *set, const struct svc_ops *ops, void *arg)
{
	size_t	 i;

	memset(set, 0, sizeof(*set));
	set->ops = ops;
	set->arg = arg;
	set->n = SVC_MAX;
	set->stop_timeout_ms = 150 * 1000;
	set->backoff_max_ms = 60 * 1000;
	for (i = 0; i < set->n; i++) {
		struct svc *s = &set->v[i];

		s->name = conf_service_names[i];
		if (!str_printf(s->prog, sizeof(s->prog), "sekisho-%s",
		    s->name))
			fatalx("svc_set_init: %s: name too long", s->name);
		s->idx = (unsigned)i;
		s->delay_ms = SVC_BACKOFF_MIN_MS;
		s->last_status = -1;
	}
}

/* svc_set_limits: stop timeout and longest backoff, in seconds. */
void
svc_set_limits(struct svc_set *set, long long stop_timeout,
    long long backoff_max)
{
	set->stop_timeout_ms = stop_timeout * 1000;
	set->backoff_max_ms = backoff_max * 1000;
	if (set->backoff_max_ms < SVC_BACKOFF_MIN_MS)
		set->backoff_max_ms = SVC_BACKOFF_MIN_MS;
}

/* svc_find: the service called name, or NULL. */
struct svc *
svc_find(struct svc_set *set, const char *name)
{
	size_t	 i;

	for (i = 0; i < set->n; i++)
		if (strcmp(set->v[i].name, name) == 0)
			return &set->v[i];
	return NULL;
}

/* svc_by_pid: the service whose process is pid, or NULL. */
struct svc *
svc_by_pid(struct svc_set *set, pid_t pid)
{
	size_t	 i;

	for (i = 0; i < set->n; i++)
		if (set->v[i].pid == pid && pid > 0)
			return &set->v[i];
	return NULL;
}

/* svc_state_name: how status shows a state. */
const char *
svc_state_name(enum svc_state st)
{
	switch (st) {
	case SVC_STOPPED:
		return "stopped";
	case SVC_RUNNING:
		return "running";
	case SVC_STOPPING:
		return "stopping";
	case SVC_BACKOFF:
		return "restarting";
	}
	return "?";
}

/* svc_status_text: a wait status as "exit 1" or "signal 9". */
const char *
svc_status_text(char *buf, size_t len, int status)
{
	if (status == -1)
		(void)str_printf(buf, len, "none");
	else if (WIFEXITED(status))
		(void)str_printf(buf, len, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		(void)str_printf(buf, len, "signal %d", WTERMSIG(status));
	else
		(void)str_printf(buf, len, "status %d", status);
	return buf;
}

/*
 * svc_backoff: s died (or could not start) at now: wait before the next
 * start, and double the wait for the death after that.
 */
static void
svc_backoff(struct svc_set *set, struct svc *s, int64_t now)
{
	s->state = SVC_BACKOFF;
	s->pid = 0;
	s->deadline_ms = now + s->delay_ms;
	s->delay_ms *= 2;
	if (s->delay_ms > set->backoff_max_ms)
		s->delay_ms = set->backoff_max_ms;
}

/* svc_spawn: start s now; a failed spawn is a death (backoff). */
static void
svc_spawn(struct svc_set *set, struct svc *s, int64_t now)
{
	pid_t	 pid;

	s->runs++;
	s->killed = false;
	if ((pid = set->ops->spawn(s, set->arg)) <= 0) {
		svc_backoff(set, s, now);
		log_kv(LOG_LVL_ERR, "event=service-start-failed service=%s "
		    "restart_in=%lld", s->name,
		    (long long)(s->deadline_ms - now) / 1000);
		return;
	}
	s->state = SVC_RUNNING;
	s->pid = pid;
	s->started_ms = now;
	log_kv(LOG_LVL_INFO, "event=service-started service=%s pid=%ld "
	    "restarts=%u", s->name, (long)pid, s->restarts);
}

/* svc_term: ask s to stop (SIGTERM to its pid); SIGKILL at the deadline. */
static void
svc_term(struct svc_set *set, struct svc *s, int64_t now)
{
	s->state = SVC_STOPPING;
	s->stop_ms = now;
	s->deadline_ms = now + set->stop_timeout_ms;
	s->killed = false;
	log_kv(LOG_LVL_INFO, "event=service-stopping service=%s pid=%ld "
	    "timeout=%lld", s->name, (long)s->pid,
	    (long long)set->stop_timeout_ms / 1000);
	set->ops->signal(s, SIGTERM, false, set->arg);
}

/* svc_can_start: why s may not start on request now, or NULL. */
static const char *
svc_can_start(const struct svc_set *set, const struct svc *s)
{
	if (set->shutdown)
		return "sekisho-manager is shutting down";
	if (!s->installed)
		return "its program is not installed";
	if (!s->enabled)
		return "it is not enabled ([imss_manager] services)";
	return NULL;
}

/*
 * svc_configure: whether s's program is installed and whether the
 * configuration enables it (at the start and at each reload).  A service
 * that becomes enabled starts, one that becomes disabled stops; a
 * program that appears starts if it is wanted.
 */
void
svc_configure(struct svc_set *set, struct svc *s, bool installed,
    bool enabled, int64_t now)
{
	bool	 was_enabled = s->enabled;

	s->installed = installed;
	s->enabled = enabled;
	if (enabled && !was_enabled)
		s->want = true;
	else if (!enabled && was_enabled) {
		s->want = false;
		if (s->state == SVC_RUNNING)
			svc_term(set, s, now);
		else if (s->state == SVC_BACKOFF)
			s->state = SVC_STOPPED;
	}
	if (s->want && installed && s->state == SVC_STOPPED && !set->shutdown)
		svc_spawn(set, s, now);
}

/*
 * svc_start: a start request.  A running service stays as it is; one
 * waiting to restart starts now; one stopping starts again when it has
 * stopped.
 */
enum svc_req
svc_start(struct svc_set *set, struct svc *s, int64_t now, const char **why)
{
	if ((*why = svc_can_start(set, s)) != NULL)
		return SVC_REQ_REFUSED;
	s->want = true;
	switch (s->state) {
	case SVC_RUNNING:
		*why = "already running";
		return SVC_REQ_DONE;
	case SVC_STOPPING:
		return SVC_REQ_WAIT;
	case SVC_BACKOFF:
	case SVC_STOPPED:
		/* The administrator's start is a fresh start. */
		s->delay_ms = SVC_BACKOFF_MIN_MS;
		svc_spawn(set, s, now);
		return SVC_REQ_WAIT;
	}
	return SVC_REQ_WAIT;
}

/* svc_stop: a stop request; the service stays stopped until started. */
enum svc_req
svc_stop(struct svc_set *set, struct svc *s, int64_t now, const char **why)
{
	*why = NULL;
	s->want = false;
	switch (s->state) {
	case SVC_STOPPED:
		*why = "already stopped";
		return SVC_REQ_DONE;
	case SVC_BACKOFF:
		s->state = SVC_STOPPED;
		*why = "stopped (it was waiting to be restarted)";
		log_kv(LOG_LVL_INFO, "event=service-stopped service=%s "
		    "detail=\"was waiting to be restarted\"", s->name);
		return SVC_REQ_DONE;
	case SVC_RUNNING:
		svc_term(set, s, now);
		return SVC_REQ_WAIT;
	case SVC_STOPPING:
		return SVC_REQ_WAIT;
	}
	return SVC_REQ_WAIT;
}

/* svc_restart: a restart request: stop (bounded), then start. */
enum svc_req
svc_restart(struct svc_set *set, struct svc *s, int64_t now,
    const char **why)
{
	if ((*why = svc_can_start(set, s)) != NULL)
		return SVC_REQ_REFUSED;
	s->want = true;
	s->delay_ms = SVC_BACKOFF_MIN_MS;
	switch (s->state) {
	case SVC_RUNNING:
		svc_term(set, s, now);
		break;
	case SVC_STOPPING:
		break;
	case SVC_BACKOFF:
	case SVC_STOPPED:
		svc_spawn(set, s, now);
		break;
	}
	return SVC_REQ_WAIT;
}

/*
 * svc_exited: s's process was reaped with wait status status.  A stop
 * ends (and a restart starts at once); any other exit is a death, and
 * the service starts again after its backoff.
 */
void
svc_exited(struct svc_set *set, struct svc *s, int status, int64_t now)
{
	char	 st[32];
	pid_t	 pid = s->pid;

	svc_status_text(st, sizeof(st), status);
	s->last_status = status;
	s->pid = 0;
	if (s->state == SVC_STOPPING) {
		s->last_expected = true;
		s->last_stop_ms = now - s->stop_ms;
		s->last_killed = s->killed;
		s->state = SVC_STOPPED;
		log_kv(LOG_LVL_INFO, "event=service-stopped service=%s pid=%ld "
		    "status=\"%s\" after_ms=%lld killed=%d", s->name,
		    (long)pid, st, (long long)s->last_stop_ms, s->killed);
		if (s->want && !set->shutdown)
			svc_spawn(set, s, now);
		return;
	}
	s->last_expected = false;
	s->last_killed = false;
	if (set->shutdown || !s->want) {
		s->state = SVC_STOPPED;
		log_kv(LOG_LVL_WARN, "event=service-died service=%s pid=%ld "
		    "status=\"%s\" restart_in=none", s->name, (long)pid, st);
		return;
	}
	if (now - s->started_ms >= SVC_STABLE_MS)
		s->delay_ms = SVC_BACKOFF_MIN_MS;
	svc_backoff(set, s, now);
	log_kv(LOG_LVL_ERR, "event=service-died service=%s pid=%ld "
	    "status=\"%s\" uptime_ms=%lld restart_in=%lld", s->name,
	    (long)pid, st, (long long)(now - s->started_ms),
	    (long long)(s->deadline_ms - now) / 1000);
}

/*
 * svc_tick: what is due at now: SIGKILL to the process group of a
 * service that did not stop in time, the restart of a dead one.
 */
void
svc_tick(struct svc_set *set, int64_t now)
{
	size_t	 i;

	for (i = 0; i < set->n; i++) {
		struct svc *s = &set->v[i];

		if (s->state == SVC_STOPPING && !s->killed &&
		    now >= s->deadline_ms) {
			s->killed = true;
			log_kv(LOG_LVL_WARN, "event=service-kill service=%s "
			    "pid=%ld after_ms=%lld detail=\"did not stop "
			    "within service_stop_timeout\"", s->name,
			    (long)s->pid, (long long)(now - s->stop_ms));
			set->ops->signal(s, SIGKILL, true, set->arg);
		} else if (s->state == SVC_BACKOFF && now >= s->deadline_ms) {
			s->restarts++;
			svc_spawn(set, s, now);
		}
	}
}

/* svc_next_deadline: when svc_tick has something to do next; 0: never. */
int64_t
svc_next_deadline(const struct svc_set *set)
{
	int64_t	 next = 0;
	size_t	 i;

	for (i = 0; i < set->n; i++) {
		const struct svc *s = &set->v[i];

		if ((s->state == SVC_STOPPING && !s->killed) ||
		    s->state == SVC_BACKOFF)
			if (next == 0 || s->deadline_ms < next)
				next = s->deadline_ms;
	}
	return next;
}

/* svc_shutdown: stop every service, all at once; nothing starts again. */
void
svc_shutdown(struct svc_set *set, int64_t now)
{
	size_t	 i;

	set->shutdown = true;
	for (i = 0; i < set->n; i++) {
		struct svc *s = &set->v[i];

		s->want = false;
		if (s->state == SVC_RUNNING)
			svc_term(set, s, now);
		else if (s->state == SVC_BACKOFF)
			s->state = SVC_STOPPED;
	}
}

/* svc_all_stopped: no service has a process any more. */
bool
svc_all_stopped(const struct svc_set *set)
{
	size_t	 i;

	for (i = 0; i < set->n; i++)
		if (set->v[i].state == SVC_RUNNING ||
		    set->v[i].state == SVC_STOPPING)
			return false;
	return true;
}
