/*
 * test_svc.c: the manager's service state machine (manager/svc.c) on a
 * fake clock with fake processes: start, death and restart with
 * exponential backoff (and its reset after a stable run), stop with
 * SIGTERM and SIGKILL of the process group at the stop timeout (seed
 * 34), restart, requests that are refused, enabling and disabling, the
 * manager's shutdown; and a service's log file with its size limit
 * (manager/svclog.c).
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "svc.h"
#include "svclog.h"
#include "test.h"
#include "util.h"

/* What the fake supervisor was asked to do. */
struct fake {
	pid_t	 next_pid;
	bool	 fail_spawn;
	int	 nspawn;
	int	 nsignal;
	pid_t	 sig_pid;	/* the last signal's target */
	int	 sig;
	bool	 sig_group;
};

static pid_t
fake_spawn(struct svc *s, void *arg)
{
	struct fake *f = arg;

	f->nspawn++;
	return f->fail_spawn ? -1 : ++f->next_pid;
}

static void
fake_signal(struct svc *s, int sig, bool group, void *arg)
{
	struct fake *f = arg;

	f->nsignal++;
	f->sig_pid = s->pid;
	f->sig = sig;
	f->sig_group = group;
}

static const struct svc_ops fake_ops = { fake_spawn, fake_signal };

/* setup: a set with the limits given, only "scanner" installed+enabled. */
static struct svc *
setup(struct svc_set *set, struct fake *f, long long stop_s,
    long long backoff_s)
{
	size_t	 i;

	memset(f, 0, sizeof(*f));
	f->next_pid = 100;
	svc_set_init(set, &fake_ops, f);
	svc_set_limits(set, stop_s, backoff_s);
	for (i = 0; i < set->n; i++)
		svc_configure(set, &set->v[i], strcmp(set->v[i].name, "euq")
		    != 0, strcmp(set->v[i].name, "scanner") == 0, 0);
	return svc_find(set, "scanner");
}

static int
exited(int code)
{
	return code << 8;		/* a wait status: exit code */
}

static int
killed(int sig)
{
	return sig;			/* a wait status: killed by sig */
}

static void
t_table(void)
{
	struct svc_set	 set;
	struct fake	 f;
	struct svc	*s = setup(&set, &f, 150, 60);

	CHECK_INTEQ(set.n, 4);
	CHECK_STREQ(set.v[0].prog, "sekisho-smtpd");
	CHECK_STREQ(set.v[3].prog, "sekisho-euq");
	CHECK(svc_find(&set, "nosuch") == NULL);
	/* Only the enabled one started. */
	CHECK_INTEQ(f.nspawn, 1);
	CHECK_INTEQ(s->state, SVC_RUNNING);
	CHECK_INTEQ(s->pid, 101);
	CHECK(svc_by_pid(&set, 101) == s);
	CHECK(svc_by_pid(&set, 0) == NULL);
	CHECK_INTEQ(svc_find(&set, "smtpd")->state, SVC_STOPPED);
	CHECK_STREQ(svc_state_name(SVC_BACKOFF), "restarting");
	CHECK_INTEQ(svc_next_deadline(&set), 0);
}

static void
t_status_text(void)
{
	char	 b[32];

	CHECK_STREQ(svc_status_text(b, sizeof(b), exited(0)), "exit 0");
	CHECK_STREQ(svc_status_text(b, sizeof(b), exited(3)), "exit 3");
	CHECK_STREQ(svc_status_text(b, sizeof(b), killed(9)), "signal 9");
	CHECK_STREQ(svc_status_text(b, sizeof(b), -1), "none");
}

/* A death waits 1 s, then 2, 4, 8, capped at the maximum (10 s here). */
static void
t_backoff_doubles_to_max(void)
{
	static const int64_t waits[] = { 1000, 2000, 4000, 8000, 10000,
	    10000 };
	struct svc_set	 set;
	struct fake	 f;
	struct svc	*s = setup(&set, &f, 150, 10);
	int64_t		 now = 0;
	size_t		 i;

	for (i = 0; i < nitems(waits); i++) {
		pid_t pid = s->pid;

		now += 500;		/* a short run */
		svc_exited(&set, s, killed(SIGKILL), now);
		CHECKF(s->state == SVC_BACKOFF, "death %zu", i);
		CHECKF(s->pid == 0, "death %zu", i);
		CHECKF(svc_next_deadline(&set) == now + waits[i],
		    "death %zu: deadline %lld", i,
		    (long long)(svc_next_deadline(&set) - now));
		svc_tick(&set, now + waits[i] - 1);
		CHECKF(s->state == SVC_BACKOFF, "death %zu: early", i);
		now += waits[i];
		svc_tick(&set, now);
		CHECKF(s->state == SVC_RUNNING, "death %zu: restarted", i);
		CHECKF(s->pid != pid && s->pid != 0, "death %zu: new pid", i);
		CHECKF(s->restarts == i + 1, "death %zu: restarts %u", i,
		    s->restarts);
	}
	CHECK_INTEQ(f.nsignal, 0);
	CHECK_INTEQ(s->last_status, killed(SIGKILL));
	CHECK(!s->last_expected);
}

/* A run of SVC_STABLE_MS or more starts the backoff again from 1 s. */
static void
t_backoff_resets_after_stable_run(void)
{
	struct svc_set	 set;
	struct fake	 f;
	struct svc	*s = setup(&set, &f, 150, 60);
	int64_t		 now = 0;
	int		 i;

	for (i = 0; i < 4; i++) {	/* waits 1, 2, 4, 8 */
		now += 100;
		svc_exited(&set, s, exited(1), now);
		now = svc_next_deadline(&set);
		svc_tick(&set, now);
	}
	CHECK_INTEQ(s->delay_ms, 16000);
	/* Up just under a minute: still the long wait. */
	svc_exited(&set, s, exited(1), now + SVC_STABLE_MS - 1);
	CHECK_INTEQ(svc_next_deadline(&set) - (now + SVC_STABLE_MS - 1),
	    16000);
	now = svc_next_deadline(&set);
	svc_tick(&set, now);
	/* Up a minute: back to 1 s. */
	svc_exited(&set, s, exited(1), now + SVC_STABLE_MS);
	CHECK_INTEQ(svc_next_deadline(&set) - (now + SVC_STABLE_MS), 1000);
}

/* A stop: SIGTERM to the pid; it exits in time; it stays stopped. */
static void
t_stop_in_time(void)
{
	struct svc_set	 set;
	struct fake	 f;
	struct svc	*s = setup(&set, &f, 150, 60);
	const char	*why;
	pid_t		 pid = s->pid;

	CHECK_INTEQ(svc_stop(&set, s, 1000, &why), SVC_REQ_WAIT);
	CHECK_INTEQ(s->state, SVC_STOPPING);
	CHECK_INTEQ(f.sig, SIGTERM);
	CHECK_INTEQ(f.sig_pid, pid);
	CHECK(!f.sig_group);
	CHECK_INTEQ(svc_next_deadline(&set), 1000 + 150000);
	svc_tick(&set, 150999);
	CHECK_INTEQ(f.nsignal, 1);
	svc_exited(&set, s, exited(0), 3500);
	CHECK_INTEQ(s->state, SVC_STOPPED);
	CHECK(s->last_expected);
	CHECK(!s->last_killed);
	CHECK_INTEQ(s->last_stop_ms, 2500);
	CHECK_INTEQ(svc_next_deadline(&set), 0);
	/* Not restarted later, and not counted as a restart. */
	svc_tick(&set, 1000000);
	CHECK_INTEQ(s->state, SVC_STOPPED);
	CHECK_INTEQ(f.nspawn, 1);
	CHECK_INTEQ(s->restarts, 0);
	/* Stopping a stopped service is done at once. */
	CHECK_INTEQ(svc_stop(&set, s, 1000001, &why), SVC_REQ_DONE);
	CHECK_STREQ(why, "already stopped");
}

/* Seed 34: a service that ignores SIGTERM is killed at the timeout. */
static void
t_stop_timeout_kills_group(void)
{
	struct svc_set	 set;
	struct fake	 f;
	struct svc	*s = setup(&set, &f, 3, 60);
	const char	*why;
	pid_t		 pid = s->pid;

	CHECK_INTEQ(svc_stop(&set, s, 10000, &why), SVC_REQ_WAIT);
	svc_tick(&set, 12999);
	CHECK_INTEQ(f.nsignal, 1);
	svc_tick(&set, 13000);
	CHECK_INTEQ(f.nsignal, 2);
	CHECK_INTEQ(f.sig, SIGKILL);
	CHECK(f.sig_group);
	CHECK_INTEQ(f.sig_pid, pid);
	CHECK(s->killed);
	/* Killed once; nothing more is due until it is reaped. */
	CHECK_INTEQ(svc_next_deadline(&set), 0);
	svc_tick(&set, 20000);
	CHECK_INTEQ(f.nsignal, 2);
	svc_exited(&set, s, killed(SIGKILL), 13005);
	CHECK_INTEQ(s->state, SVC_STOPPED);
	CHECK(s->last_killed);
	CHECK(s->last_expected);
	CHECK_INTEQ(s->last_stop_ms, 3005);
}

/* A restart: stop, then start at once when it has exited (or was killed). */
static void
t_restart(void)
{
	struct svc_set	 set;
	struct fake	 f;
	struct svc	*s = setup(&set, &f, 5, 60);
	const char	*why;
	pid_t		 pid = s->pid;
	unsigned	 runs = s->runs;

	CHECK_INTEQ(svc_restart(&set, s, 0, &why), SVC_REQ_WAIT);
	CHECK_INTEQ(s->state, SVC_STOPPING);
	CHECK_INTEQ(f.sig, SIGTERM);
	svc_exited(&set, s, exited(0), 200);
	CHECK_INTEQ(s->state, SVC_RUNNING);
	CHECK(s->pid != pid);
	CHECK_INTEQ(s->runs, runs + 1);
	CHECK_INTEQ(s->restarts, 0);	/* asked for, not a death */

	/* The same with a service that does not stop: bounded. */
	pid = s->pid;
	CHECK_INTEQ(svc_restart(&set, s, 1000, &why), SVC_REQ_WAIT);
	svc_tick(&set, 6000);
	CHECK_INTEQ(f.sig, SIGKILL);
	svc_exited(&set, s, killed(SIGKILL), 6001);
	CHECK_INTEQ(s->state, SVC_RUNNING);
	CHECK(s->pid != pid);
	CHECK(s->last_killed);

	/* A restart of a service waiting to restart starts it now. */
	svc_exited(&set, s, exited(1), 7000);
	CHECK_INTEQ(s->state, SVC_BACKOFF);
	CHECK_INTEQ(svc_restart(&set, s, 7001, &why), SVC_REQ_WAIT);
	CHECK_INTEQ(s->state, SVC_RUNNING);
	CHECK_INTEQ(s->delay_ms, SVC_BACKOFF_MIN_MS);
}

/* Requests that cannot be done, and start of a running service. */
static void
t_refused(void)
{
	struct svc_set	 set;
	struct fake	 f;
	struct svc	*s = setup(&set, &f, 5, 60);
	const char	*why;

	CHECK_INTEQ(svc_start(&set, svc_find(&set, "euq"), 0, &why),
	    SVC_REQ_REFUSED);
	CHECK_STREQ(why, "its program is not installed");
	CHECK_INTEQ(svc_restart(&set, svc_find(&set, "smtpd"), 0, &why),
	    SVC_REQ_REFUSED);
	CHECK(strstr(why, "not enabled") != NULL);
	CHECK_INTEQ(svc_start(&set, s, 0, &why), SVC_REQ_DONE);
	CHECK_STREQ(why, "already running");
	CHECK_INTEQ(f.nspawn, 1);
	/* A start while it stops: it starts again when it has stopped. */
	CHECK_INTEQ(svc_stop(&set, s, 0, &why), SVC_REQ_WAIT);
	CHECK_INTEQ(svc_start(&set, s, 1, &why), SVC_REQ_WAIT);
	svc_exited(&set, s, exited(0), 2);
	CHECK_INTEQ(s->state, SVC_RUNNING);
	CHECK_INTEQ(f.nspawn, 2);
	/* A stop while it waits to restart: stopped at once. */
	svc_exited(&set, s, exited(1), 3);
	CHECK_INTEQ(svc_stop(&set, s, 4, &why), SVC_REQ_DONE);
	CHECK_INTEQ(s->state, SVC_STOPPED);
	svc_tick(&set, 100000);
	CHECK_INTEQ(s->state, SVC_STOPPED);
	/* And a start from there is fresh. */
	CHECK_INTEQ(svc_start(&set, s, 100001, &why), SVC_REQ_WAIT);
	CHECK_INTEQ(s->state, SVC_RUNNING);
}

/* A spawn that fails is a death: it is tried again after the backoff. */
static void
t_spawn_fails(void)
{
	struct svc_set	 set;
	struct fake	 f;
	struct svc	*s;

	memset(&f, 0, sizeof(f));
	f.fail_spawn = true;
	svc_set_init(&set, &fake_ops, &f);
	svc_set_limits(&set, 5, 60);
	s = svc_find(&set, "ipprofiler");
	svc_configure(&set, s, true, true, 0);
	CHECK_INTEQ(s->state, SVC_BACKOFF);
	CHECK_INTEQ(s->runs, 1);
	CHECK_INTEQ(svc_next_deadline(&set), 1000);
	f.fail_spawn = false;
	f.next_pid = 500;
	svc_tick(&set, 1000);
	CHECK_INTEQ(s->state, SVC_RUNNING);
	CHECK_INTEQ(s->pid, 501);
	CHECK_INTEQ(s->restarts, 1);
}

/* Enabling starts, disabling stops, a program that appears starts. */
static void
t_configure(void)
{
	struct svc_set	 set;
	struct fake	 f;
	struct svc	*s = setup(&set, &f, 5, 60);
	struct svc	*e = svc_find(&set, "euq");

	svc_configure(&set, s, true, false, 100);
	CHECK_INTEQ(s->state, SVC_STOPPING);
	CHECK_INTEQ(f.sig, SIGTERM);
	svc_exited(&set, s, exited(0), 200);
	CHECK_INTEQ(s->state, SVC_STOPPED);
	svc_configure(&set, s, true, false, 300);	/* no change */
	CHECK_INTEQ(s->state, SVC_STOPPED);
	svc_configure(&set, s, true, true, 400);
	CHECK_INTEQ(s->state, SVC_RUNNING);
	/* Enabled but not installed: waits for its program. */
	svc_configure(&set, e, false, true, 500);
	CHECK_INTEQ(e->state, SVC_STOPPED);
	CHECK(e->want);
	svc_configure(&set, e, true, true, 600);
	CHECK_INTEQ(e->state, SVC_RUNNING);
	/* Disabled while waiting to restart: stays down. */
	svc_exited(&set, e, exited(1), 700);
	svc_configure(&set, e, true, false, 800);
	CHECK_INTEQ(e->state, SVC_STOPPED);
	svc_tick(&set, 100000);
	CHECK_INTEQ(e->state, SVC_STOPPED);
}

/* Shutdown: everything stops in parallel and nothing starts again. */
static void
t_shutdown(void)
{
	struct svc_set	 set;
	struct fake	 f;
	struct svc	*s = setup(&set, &f, 5, 60);
	struct svc	*p = svc_find(&set, "ipprofiler");
	struct svc	*t = svc_find(&set, "smtpd");
	const char	*why;

	svc_configure(&set, p, true, true, 0);
	svc_configure(&set, t, true, true, 0);
	svc_exited(&set, t, exited(1), 10);	/* t waits to restart */
	CHECK(!svc_all_stopped(&set));
	svc_shutdown(&set, 100);
	CHECK_INTEQ(s->state, SVC_STOPPING);
	CHECK_INTEQ(p->state, SVC_STOPPING);
	CHECK_INTEQ(t->state, SVC_STOPPED);
	CHECK_INTEQ(svc_next_deadline(&set), 5100);
	CHECK_INTEQ(svc_start(&set, t, 101, &why), SVC_REQ_REFUSED);
	svc_exited(&set, s, exited(0), 200);
	CHECK(!svc_all_stopped(&set));
	/* p dies of something else meanwhile: not restarted either. */
	svc_exited(&set, p, killed(SIGSEGV), 300);
	CHECK_INTEQ(p->state, SVC_STOPPED);
	CHECK(svc_all_stopped(&set));
	svc_tick(&set, 100000);
	CHECK(svc_all_stopped(&set));
}

/* A log file beyond its limit becomes .log.1 and a new one starts. */
static void
t_svclog_rotates(void)
{
	char		 dir[] = "/tmp/test_svc.XXXXXX";
	char		 path[256], err[256];
	struct svclog	 l;
	struct stat	 st;
	char		 line[40];

	if (mkdtemp(dir) == NULL) {
		CHECK(!"mkdtemp");
		return;
	}
	CHECK(!svclog_open(&l, "/nonexistent/dir", "x", 0, err, sizeof(err)));
	CHECK(strstr(err, "/nonexistent/dir/x.log") != NULL);
	CHECK(svclog_open(&l, dir, "scanner", 100, err, sizeof(err)));
	memset(line, 'a', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	svclog_write(&l, line, sizeof(line));		/* 40 */
	svclog_write(&l, line, sizeof(line));		/* 80 */
	CHECK_INTEQ(l.size, 80);
	svclog_write(&l, line, sizeof(line));		/* would be 120 */
	CHECK_INTEQ(l.size, 40);
	(void)str_printf(path, sizeof(path), "%s/scanner.log.1", dir);
	CHECK(stat(path, &st) == 0 && st.st_size == 80);
	(void)str_printf(path, sizeof(path), "%s/scanner.log", dir);
	CHECK(stat(path, &st) == 0 && st.st_size == 40);
	CHECK((st.st_mode & 0777) == 0640);
	svclog_close(&l);
	/* Reopened, it appends and knows the size. */
	CHECK(svclog_open(&l, dir, "scanner", 100, err, sizeof(err)));
	CHECK_INTEQ(l.size, 40);
	svclog_close(&l);
	test_rmtree(dir);
}

TEST_MAIN(t_table, t_status_text, t_backoff_doubles_to_max,
    t_backoff_resets_after_stable_run, t_stop_in_time,
    t_stop_timeout_kills_group, t_restart, t_refused, t_spawn_fails,
    t_configure, t_shutdown, t_svclog_rotates)
