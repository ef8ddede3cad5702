/*
 * notifier.c: the system event notices of sekisho-manager (see
 * notifier.h and docs/manager.md, "Notifications").
 *
 * Owns the queue of notices that wait to be sent (at most NT_QUEUE_MAX,
 * each dropped, and logged, NT_EXPIRE_MS after it was made), the one SMTP
 * session that sends the head of it (smtpc.c) to the first BindAddress
 * and Port of tsmtpd.ini (0.0.0.0 and :: as loopback), the rate limiter
 * (mnotify.c) and the once-a-minute check of the disk of data_dir
 * (statvfs) and of the messages waiting in the spool (a bounded count of
 * the envelopes in spool/queue and spool/incoming).  A notice that cannot
 * be sent now (smtpd is down, as when it is the service that died, or it
 * answers 4xx) is tried again every NT_RETRY_MS; a 5xx drops it.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/statvfs.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "mnotify.h"
#include "notifier.h"
#include "scanq.h"
#include "smtpc.h"
#include "util.h"
#include "xmalloc.h"

#define NT_QUEUE_MAX	32
#define NT_RETRY_MS	(5 * 1000)
#define NT_EXPIRE_MS	(60 * 60 * 1000)
#define NT_SCANQ_MS	3000	/* the scanner's status */
#define NT_TEXT_MAX	4096

/* One notice waiting to be sent. */
struct notice {
	TAILQ_ENTRY(notice)	 entry;
	unsigned		 id;
	enum mnotify_kind	 kind;
	char			 svc[32];
	struct buf		 data;
	int64_t			 made_ms;
	unsigned		 tries;
};

static struct {
	struct event_base	*base;
	struct event		*ev_retry;
	struct event		*ev_check;
	TAILQ_HEAD(, notice)	 q;
	size_t			 nq;
	unsigned		 next_id;
	struct smtpc		*busy;
	struct mnotify_rl	 rl;
	bool			 ok;		/* addresses usable */
	char			 host[ADDR_DOMAIN_MAX + 1];
	char			 from[ADDR_STR_MAX];
	char			 to[ADDR_STR_MAX];
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 peer[INET6_ADDRSTRLEN + 8];
	int64_t			 interval_ms;
	long long		 disk_pct, queue_max, restart_count;
	char			 data_dir[4096];
	char			 scanner_sock[4200];
	unsigned		 streak[SVC_MAX];
	long long		 check_secs;
	struct scanq		*scanq;		/* asking the scanner */
	long long		 scan_pid;	/* what it said last */
	long long		 scan_failed;
	int64_t			 scan_ms;	/* when */
} nt;

static void	 nt_kick(int64_t);

/* nt_now: the monotonic clock, in ms. */
static int64_t
nt_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* nt_notice_free: forget a notice. */
static void
nt_notice_free(struct notice *n)
{
	TAILQ_REMOVE(&nt.q, n, entry);
	nt.nq--;
	buf_free(&n->data);
	free(n);
}

/* nt_drop: drop a notice, with the reason in the log. */
static void
nt_drop(struct notice *n, const char *why)
{
	char	 esc[LOG_ESC_MAX];

	log_kv(LOG_LVL_ERR, "event=notify-dropped id=%u kind=%s service=%s "
	    "tries=%u reason=%s", n->id, mnotify_kind_name(n->kind), n->svc,
	    n->tries, log_esc(esc, sizeof(esc), why));
	nt_notice_free(n);
}

/* nt_done: smtpc's answer about the head of the queue. */
static void
nt_done(enum smtpc_result r, const char *why, void *arg)
{
	struct notice	*n = TAILQ_FIRST(&nt.q);
	char		 esc[LOG_ESC_MAX];

	nt.busy = NULL;
	if (n == NULL || n->id != (unsigned)(uintptr_t)arg)
		fatalx("nt_done: notice %u is not the head",
		    (unsigned)(uintptr_t)arg);
	if (r == SMTPC_SENT) {
		log_kv(LOG_LVL_INFO, "event=notify-sent id=%u kind=%s "
		    "service=%s to=%s tries=%u reply=%s", n->id,
		    mnotify_kind_name(n->kind), n->svc, nt.to, n->tries,
		    log_esc(esc, sizeof(esc), why));
		nt_notice_free(n);
		nt_kick(0);
		return;
	}
	if (r == SMTPC_PERMFAIL) {
		nt_drop(n, why);
		nt_kick(0);
		return;
	}
	log_kv(LOG_LVL_WARN, "event=notify-deferred id=%u kind=%s service=%s "
	    "peer=%s tries=%u retry_in_ms=%d reason=%s", n->id,
	    mnotify_kind_name(n->kind), n->svc, nt.peer, n->tries, NT_RETRY_MS,
	    log_esc(esc, sizeof(esc), why));
	nt_kick(NT_RETRY_MS);
}

/* nt_send: send the head of the queue (expired ones are dropped). */
static void
nt_send(evutil_socket_t fd, short ev, void *arg)
{
	struct notice	*n;
	int64_t		 now = nt_now();

	if (nt.busy != NULL)
		return;
	while ((n = TAILQ_FIRST(&nt.q)) != NULL &&
	    now - n->made_ms >= NT_EXPIRE_MS)
		nt_drop(n, "not sent within an hour");
	if (n == NULL || !nt.ok)
		return;
	n->tries++;
	nt.busy = smtpc_send(nt.base, (struct sockaddr *)&nt.ss, nt.sslen,
	    nt.host, nt.from, nt.to, &n->data, nt_done,
	    (void *)(uintptr_t)n->id);
}

/* nt_kick: try to send in ms milliseconds. */
static void
nt_kick(int64_t ms)
{
	struct timeval	 tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000 * 1000);
	if (nt.busy == NULL)
		evtimer_add(nt.ev_retry, &tv);
}

/*
 * nt_event: an event of kind about svc (idx: its index, or
 * MNOTIFY_HOST): rate-limited; mailed with subject and body (the summary
 * of what was held back added) or counted.
 */
static void
nt_event(enum mnotify_kind kind, unsigned idx, const char *svc,
    const char *subject, const char *body)
{
	struct mnotify_text t;
	struct notice	*n, *old;
	struct buf	 text;
	char		 err[200], since[64], esc[LOG_ESC_MAX];
	unsigned	 held;
	time_t		 first, now = time(NULL);

	if (!nt.ok || !mnotify_rl_event(&nt.rl, kind, idx, nt_now(), now,
	    nt.interval_ms, &held, &first)) {
		if (nt.ok && nt.interval_ms > 0)
			log_kv(LOG_LVL_INFO, "event=notify-held kind=%s "
			    "service=%s detail=\"within notify_interval_mins "
			    "of the last notice\"", mnotify_kind_name(kind),
			    svc);
		return;
	}
	buf_init(&text, NT_TEXT_MAX * 2);
	(void)buf_addstr(&text, body);
	if (held > 0 && date_rfc5322(since, sizeof(since), first))
		(void)buf_printf(&text, "\nAnd %u more event%s of this kind "
		    "since %s (not mailed: at most one notice per %lld "
		    "minutes, [imss_manager] notify_interval_mins).\n", held,
		    held == 1 ? "" : "s", since,
		    (long long)(nt.interval_ms / 60000));
	t.subject = subject;
	t.body = buf_cstr(&text);
	n = xcalloc(1, sizeof(*n));
	n->id = ++nt.next_id;
	n->kind = kind;
	(void)str_lcpy(n->svc, svc, sizeof(n->svc));
	n->made_ms = nt_now();
	buf_init(&n->data, MNOTIFY_MSG_MAX);
	if (mnotify_build(&n->data, nt.from, nt.to, nt.host, now, &t, err,
	    sizeof(err)) == -1) {
		log_kv(LOG_LVL_ERR, "event=notify-failed kind=%s service=%s "
		    "err=%s", mnotify_kind_name(kind), svc,
		    log_esc(esc, sizeof(esc), err));
		buf_free(&n->data);
		free(n);
		buf_free(&text);
		return;
	}
	buf_free(&text);
	TAILQ_INSERT_TAIL(&nt.q, n, entry);
	if (++nt.nq > NT_QUEUE_MAX) {
		/* The oldest goes, unless it is being sent right now. */
		old = TAILQ_FIRST(&nt.q);
		if (nt.busy != NULL)
			old = TAILQ_NEXT(old, entry);
		nt_drop(old, "the queue of notices is full");
	}
	log_kv(LOG_LVL_INFO, "event=notify-queued id=%u kind=%s service=%s "
	    "held=%u queued=%zu", n->id, mnotify_kind_name(kind), svc, held,
	    nt.nq);
	nt_kick(0);
}

/* nt_intro: the first lines of every body: host and time. */
static void
nt_intro(char *buf, size_t len)
{
	char	 date[64];

	if (!date_rfc5322(date, sizeof(date), time(NULL)))
		(void)str_lcpy(date, "(unknown)", sizeof(date));
	(void)str_printf(buf, len, "Host:    %s\nTime:    %s\n", nt.host,
	    date);
}

/*
 * notifier_died: s died without being asked to, with wait status status,
 * after uptime_ms; it starts again in restart_in_ms (-1: not at all).
 * One notice says both; a service that died restart_count times in a row
 * (each run shorter than SVC_STABLE_MS) gets one of its own.
 */
void
notifier_died(const struct svc *s, int status, int64_t uptime_ms,
    int64_t restart_in_ms, const char *log)
{
	char	 st[32], subj[300], body[NT_TEXT_MAX], intro[200], then[100];

	svc_status_text(st, sizeof(st), status);
	nt.streak[s->idx] = uptime_ms >= SVC_STABLE_MS ? 1 :
	    nt.streak[s->idx] + 1;
	nt_intro(intro, sizeof(intro));
	if (restart_in_ms >= 0)
		(void)str_printf(then, sizeof(then), "restarting in %lld s",
		    (long long)(restart_in_ms + 999) / 1000);
	else
		(void)str_lcpy(then, "not restarted", sizeof(then));
	(void)str_printf(subj, sizeof(subj), "sekisho on %s: service %s died "
	    "(%s), %s", nt.host, s->name, st, then);
	(void)str_printf(body, sizeof(body), "%s"
	    "Service: %s (%s)\n"
	    "Event:   it ended without being asked to stop: %s, after "
	    "running %lld.%03lld s\n"
	    "Action:  sekisho-manager is %s (%u restarts after deaths since "
	    "it started)\n"
	    "Log:     %s\n", intro, s->name, s->prog, st,
	    (long long)(uptime_ms / 1000), (long long)(uptime_ms % 1000),
	    then, s->restarts, log);
	nt_event(MNOTIFY_DIED, s->idx, s->name, subj, body);
	if (nt.restart_count <= 0 ||
	    nt.streak[s->idx] != (unsigned)nt.restart_count)
		return;
	(void)str_printf(subj, sizeof(subj), "sekisho on %s: service %s died "
	    "%u times in a row", nt.host, s->name, nt.streak[s->idx]);
	(void)str_printf(body, sizeof(body), "%s"
	    "Service: %s (%s)\n"
	    "Event:   it died %u times in a row, each time within %d s of "
	    "its start; the last time: %s\n"
	    "Action:  sekisho-manager keeps restarting it, waiting longer "
	    "each time (up to [imss_manager] restart_backoff_max)\n"
	    "Log:     %s\n", intro, s->name, s->prog, nt.streak[s->idx],
	    SVC_STABLE_MS / 1000, st, log);
	nt_event(MNOTIFY_FLAPPING, s->idx, s->name, subj, body);
}

/*
 * nt_count_dir: envelopes (*.env) in dir, counting stops at cap; at most
 * 4 * cap + 64 names are read, so the work per check is bounded.
 */
static long long
nt_count_dir(const char *dir, long long cap)
{
	struct dirent	*de;
	DIR		*d;
	long long	 n = 0, seen = 0;
	size_t		 len;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while (n < cap && seen++ < 4 * cap + 64 && (de = readdir(d)) != NULL)
		if ((len = strlen(de->d_name)) > 4 &&
		    strcmp(de->d_name + len - 4, ".env") == 0)
			n++;
	closedir(d);
	return n;
}

/* nt_check_disk: the disk of data_dir at or over notify_disk_percent. */
static void
nt_check_disk(void)
{
	struct statvfs	 sv;
	unsigned long long used, avail, pct;
	char		 subj[300], body[NT_TEXT_MAX], intro[200];

	if (nt.disk_pct <= 0 || statvfs(nt.data_dir, &sv) == -1 ||
	    sv.f_blocks == 0)
		return;
	used = (unsigned long long)(sv.f_blocks - sv.f_bfree);
	avail = (unsigned long long)sv.f_bavail;
	if (used + avail == 0)
		return;
	/* As df shows it: of what a non-root user could use. */
	pct = (used * 100 + used + avail - 1) / (used + avail);
	if (pct < (unsigned long long)nt.disk_pct)
		return;
	nt_intro(intro, sizeof(intro));
	(void)str_printf(subj, sizeof(subj), "sekisho on %s: disk of %s %llu%% "
	    "full", nt.host, nt.data_dir, pct);
	(void)str_printf(body, sizeof(body), "%s"
	    "Event:   the file system of data_dir %s is %llu%% full (notify at "
	    "%lld%%, [imss_manager] notify_disk_percent); %llu MB free\n"
	    "Action:  make room: the spool, quarantine and logs live there, "
	    "and a full disk makes sekisho-smtpd refuse mail\n", intro,
	    nt.data_dir, pct, nt.disk_pct,
	    avail * (unsigned long long)sv.f_frsize / (1024 * 1024));
	nt_event(MNOTIFY_DISK, MNOTIFY_HOST, "-", subj, body);
}

/* nt_check_queue: notify_queue_messages or more messages in the spool. */
static void
nt_check_queue(void)
{
	char		 dir[4200], subj[300], body[NT_TEXT_MAX], intro[200];
	long long	 n;

	if (nt.queue_max <= 0)
		return;
	(void)str_printf(dir, sizeof(dir), "%s/spool/queue", nt.data_dir);
	n = nt_count_dir(dir, nt.queue_max);
	(void)str_printf(dir, sizeof(dir), "%s/spool/incoming", nt.data_dir);
	if (n < nt.queue_max)
		n += nt_count_dir(dir, nt.queue_max - n);
	if (n < nt.queue_max)
		return;
	nt_intro(intro, sizeof(intro));
	(void)str_printf(subj, sizeof(subj), "sekisho on %s: %lld or more "
	    "messages waiting in the queue", nt.host, n);
	(void)str_printf(body, sizeof(body), "%s"
	    "Event:   at least %lld messages wait in %s/spool (queue/ and "
	    "incoming/; notify at [imss_manager] notify_queue_messages)\n"
	    "Action:  see sekishoctl queue list; check the scanner, the "
	    "delivery routes and the next hops\n", intro, n, nt.data_dir);
	nt_event(MNOTIFY_QUEUE, MNOTIFY_HOST, "-", subj, body);
}

/*
 * nt_scanned: the scanner's status: scans that failed since the last
 * check (a worker died or hit scan_timeout or worker_memory_mb) make one
 * notice.  A new scanner process counts from its start.
 */
static void
nt_scanned(const json_t *o, void *arg)
{
	char		 subj[300], body[NT_TEXT_MAX], intro[200];
	long long	 pid, failed, n;
	int64_t		 now = nt_now(), since;

	(void)arg;
	nt.scanq = NULL;		/* scanq frees itself after this */
	if (o == NULL || !json_is_integer(json_object_get(o, "pid")) ||
	    !json_is_integer(json_object_get(o, "failed")))
		return;
	pid = (long long)json_integer_value(json_object_get(o, "pid"));
	failed = (long long)json_integer_value(json_object_get(o, "failed"));
	n = pid == nt.scan_pid ? failed - nt.scan_failed : failed;
	since = nt.scan_ms != 0 && pid == nt.scan_pid ? now - nt.scan_ms : -1;
	nt.scan_pid = pid;
	nt.scan_failed = failed;
	nt.scan_ms = now;
	if (n <= 0)
		return;
	nt_intro(intro, sizeof(intro));
	(void)str_printf(subj, sizeof(subj), "sekisho on %s: %lld scan%s "
	    "failed", nt.host, n, n == 1 ? "" : "s");
	(void)str_printf(body, sizeof(body), "%s"
	    "Event:   %lld scan%s failed %s (a scan worker died, or a scan "
	    "took longer than [scan] scan_timeout or more memory than "
	    "worker_memory_mb); %lld since the scanner started\n"
	    "Effect:  each message is scanned again, up to "
	    "max_scan_failures times, then held in the scan-failure area "
	    "with a notice of its own\n"
	    "Action:  sekishoctl scanner status; sekishoctl log query "
	    "--event scan_failed; the scanner's log\n", intro, n,
	    n == 1 ? "" : "s", since >= 0 ? "since the last check" :
	    "since the scanner started", failed);
	nt_event(MNOTIFY_SCANFAIL, MNOTIFY_HOST, "scanner", subj, body);
}

/* nt_check: the checks every notify_check_interval seconds. */
static void
nt_check(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
	nt_check_disk();
	nt_check_queue();
	if (nt.scanq == NULL)
		nt.scanq = scanq_ask(nt.base, nt.scanner_sock, NT_SCANQ_MS,
		    nt_scanned, NULL);
}

/* nt_peer: where sekisho-smtpd listens: its first bind address, Port. */
static void
nt_peer(const struct conf_tsmtpd *t)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&nt.ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&nt.ss;
	const struct conf_ip	*ip = t->bind_address.n > 0 ?
				    &t->bind_address.v[0] : NULL;

	memset(&nt.ss, 0, sizeof(nt.ss));
	if (ip != NULL && ip->family == AF_INET6) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)t->port);
		s6->sin6_addr = IN6_IS_ADDR_UNSPECIFIED(&ip->addr.v6) ?
		    in6addr_loopback : ip->addr.v6;
		nt.sslen = sizeof(*s6);
		inet_ntop(AF_INET6, &s6->sin6_addr, nt.peer, sizeof(nt.peer));
		return;
	}
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)t->port);
	s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ip != NULL && ip->family == AF_INET &&
	    ip->addr.v4.s_addr != htonl(INADDR_ANY))
		s4->sin_addr = ip->addr.v4;
	nt.sslen = sizeof(*s4);
	inet_ntop(AF_INET, &s4->sin_addr, nt.peer, sizeof(nt.peer));
}

/* notifier_init: the timers, on base. */
void
notifier_init(struct event_base *base)
{
	memset(&nt, 0, sizeof(nt));
	nt.base = base;
	TAILQ_INIT(&nt.q);
	if ((nt.ev_retry = evtimer_new(base, nt_send, NULL)) == NULL ||
	    (nt.ev_check = event_new(base, -1, EV_PERSIST, nt_check,
	    NULL)) == NULL)
		fatalx("notifier_init: events");
}

/*
 * notifier_configure: the addresses, the peer, the thresholds (at the
 * start and at each reload).  Addresses that do not parse switch the
 * notices off, loudly.
 */
void
notifier_configure(const struct sekisho_conf *conf)
{
	const struct conf_imss *c = &conf->imss;
	char		 from[ADDR_STR_MAX + 32], esc[LOG_ESC_MAX];
	const char	*why;

	if (c->hostname[0] != '\0')
		(void)str_lcpy(nt.host, c->hostname, sizeof(nt.host));
	else if (gethostname(nt.host, sizeof(nt.host)) == -1 ||
	    !addr_is_domain(nt.host, false, NULL))
		(void)str_lcpy(nt.host, "localhost", sizeof(nt.host));
	nt.interval_ms = c->notify_interval_mins * 60 * 1000;
	nt.disk_pct = c->notify_disk_percent;
	nt.queue_max = c->notify_queue_messages;
	nt.restart_count = c->notify_restart_count;
	(void)str_lcpy(nt.data_dir, c->data_dir, sizeof(nt.data_dir));
	(void)str_printf(nt.scanner_sock, sizeof(nt.scanner_sock),
	    "%s/scanner.sock", c->run_dir);
	if (nt.check_secs != c->notify_check_interval) {
		struct timeval tv = { (time_t)c->notify_check_interval, 0 };

		nt.check_secs = c->notify_check_interval;
		if (event_add(nt.ev_check, &tv) == -1)
			fatalx("notifier_configure: event_add");
	}
	nt_peer(&conf->tsmtpd);
	if (c->notify_from[0] != '\0')
		(void)str_lcpy(from, c->notify_from, sizeof(from));
	else
		(void)str_printf(from, sizeof(from), "postmaster@%s", nt.host);
	nt.ok = false;
	if ((why = mnotify_addr(from, nt.host, nt.from, sizeof(nt.from))) !=
	    NULL)
		log_kv(LOG_LVL_ERR, "event=notify-off reason=\"From: %s: "
		    "%s\"", log_esc(esc, sizeof(esc), from), why);
	else if ((why = mnotify_addr(c->admin_email, nt.host, nt.to,
	    sizeof(nt.to))) != NULL)
		log_kv(LOG_LVL_ERR, "event=notify-off reason=\"admin_email "
		    "%s: %s\"", log_esc(esc, sizeof(esc), c->admin_email), why);
	else
		nt.ok = true;
	log_kv(LOG_LVL_INFO, "event=notify-config enabled=%d from=%s to=%s "
	    "peer=%s port=%lld interval_mins=%lld", nt.ok &&
	    nt.interval_ms > 0, nt.from, nt.to, nt.peer, conf->tsmtpd.port,
	    c->notify_interval_mins);
	if (nt.ok)
		nt_kick(0);
}

/* notifier_free: drop what is queued (the manager exits). */
void
notifier_free(void)
{
	if (nt.busy != NULL)
		smtpc_cancel(nt.busy);
	nt.busy = NULL;
	while (!TAILQ_EMPTY(&nt.q))
		nt_notice_free(TAILQ_FIRST(&nt.q));
	scanq_cancel(nt.scanq);
	event_free(nt.ev_retry);
	event_free(nt.ev_check);
}
