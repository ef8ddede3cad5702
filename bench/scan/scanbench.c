/*
 * scanbench.c: sekisho-scanbench, the scan throughput benchmark (issue 5
 * "Performance"; bench/README.md, step "scan").
 *
 * Loads a policy once (policy_load: policy.ini and keywords/), maps a
 * corpus of messages per size class, checks every message once (the
 * policy must load and the rules must fire), then for each class forks K
 * worker processes that each scan the class's messages round-robin for T
 * seconds: mime_analyse, policy_eval, and actions_apply for every group
 * that modifies the message and makes a copy of it, as the scan server
 * does (scanner/scanjob.c), minus its file and IPC work.  It prints
 * messages/s and MB/s per class, per process and per CPU second, and the
 * memory of each worker: peak RSS without the mapped corpus, and its
 * Rss/Pss/Private from /proc/PID/smaps while all K workers are alive.
 *
 * The corpus is mmap()ed read-only and pre-faulted in each worker before
 * its peak RSS is reset (clear_refs 5), so the corpus itself (tens of MB
 * for the 2 MB class) is not counted as worker memory; a real worker holds
 * one message at a time.  Owns nothing but its own child processes.
 *
 *   sekisho-scanbench [-nq] [-a dbdir] [-c confdir] [-S package]
 *       [-t seconds] [-j workers] [-o json] NAME=DIR ...
 *
 * -q skips the check pass (a repeated run of the same corpus).  -a loads
 * libclamav with the signature directory dbdir once (av_open, the scanner's
 * default limits) before the workers are forked, as the scanner parent
 * does, and each message is checked as scanner/scanjob.c does it
 * (avmsg_analyse: the raw message, then each decoded part; issue 6,
 * "antivirus on versus off").
 *
 * -S scores every message with the spam rule package `package` after the
 * analysis, as scanner/scanjob.c does before the policy runs (spam_eval,
 * no DNS lists, SPF, DKIM or DMARC: offline), with the catch rates and
 * MIME limits of confdir's configuration (conf_load: confdir must be a
 * whole configuration directory, such as etc/); the check pass and the
 * workers count the messages that are spam at each catch rate, and the
 * CPU split shows spam_eval's share (issue 7, bench/spam_bench.py).  -n
 * stops after the analysis and the scoring: no policy_eval, no
 * actions_apply (the spam benchmark's work per message).
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "actions.h"
#include "avmsg.h"
#include "conf.h"
#include "diag.h"
#include "log.h"
#include "mime.h"
#include "policy.h"
#include "scan.h"
#include "scanjob.h"
#include "spam.h"
#include "util.h"
#include "xmalloc.h"

#define SB_MAX_CLASSES	8
#define SB_MAX_WORKERS	64
#define SB_OUT_LIMIT	(64UL * 1024 * 1024)	/* one rewritten message */
#define SB_PAGE		4096

/* One message of the corpus, mapped read-only. */
struct sb_msg {
	const uint8_t	*data;
	size_t		 len;
};

/* One size class: a directory of messages. */
struct sb_class {
	char		*name;
	char		*dir;		/* realpath */
	struct sb_msg	*msgs;
	size_t		 nmsgs;
	uint64_t	 bytes;
	uint64_t	 mapped;	/* page-rounded bytes */
};

/* What one worker measured; sent over a pipe between two of our processes. */
struct sb_res {
	uint64_t	 msgs;
	uint64_t	 bytes;
	uint64_t	 groups;
	uint64_t	 applied;	/* actions_apply calls */
	uint64_t	 errors;	/* analyse/eval/apply failures */
	uint64_t	 av_found;	/* av_scan() verdicts other than clean */
	uint64_t	 spam[3];	/* -S: spam at high, medium, low */
	double		 phase[5];	/* CPU s in analyse, eval, apply, av,
					   spam_eval */
	double		 wall;		/* s */
	double		 cpu;		/* user + system s */
	long		 maxrss_kb;	/* getrusage ru_maxrss (with corpus) */
	long		 hwm_kb;	/* VmHWM since the reset */
	long		 rss_start_kb;	/* VmRSS at the start of the loop */
	long		 corpus_kb;	/* corpus pages mapped in this worker */
	int		 hwm_reset;	/* clear_refs 5 worked */
};

/* Memory of one live worker, from /proc/PID/smaps. */
struct sb_mem {
	long		 rss_kb, pss_kb, priv_kb;	/* corpus excluded */
	long		 corpus_rss_kb;
};

/* The per-class check pass: what the policy decided. */
struct sb_check {
	uint64_t	 msgs, parts, members, attachments, groups, modified;
	uint64_t	 intercept[4];
	uint64_t	 limits;		/* messages with scan limits */
	uint64_t	 errors;
	uint64_t	 av[AV_ERROR + 1];	/* av_scan() verdicts */
	uint64_t	 spam[3];		/* -S: high, medium, low */
	double		 spam_score_sum;
	uint64_t	*rule_hits;		/* per rule index */
	uint64_t	 out_bytes;
};

static struct policy	*sb_policy;
static struct scan_limits sb_limits;
static struct av_engine	*sb_av;		/* -a: libclamav, or NULL */
static struct spam_rules *sb_spam;	/* -S: the package, or NULL */
static double		 sb_spam_level[3];	/* high, medium, low */
static int		 sb_no_policy;		/* -n */
static const char *const sb_rcpts[] = { "user1@example.com",
    "partner@example.org" };
static const enum policy_dir sb_dirs[] = { POLICY_INBOUND, POLICY_OUTBOUND };
static const struct policy_env sb_env = {
	.sender = "sender@example.net",
	.rcpts = sb_rcpts,
	.dirs = sb_dirs,
	.nrcpts = 2,
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: sekisho-scanbench [-nq] [-a dbdir] "
	    "[-c confdir] [-S package] [-t seconds] [-j workers] [-o json] "
	    "NAME=DIR ...\n");
	exit(2);
}

/* sb_now: monotonic seconds. */
static double
sb_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* sb_tcpu: CPU seconds of this thread (the split between the phases). */
static double
sb_tcpu(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* sb_cpu: user + system CPU seconds of this process. */
static double
sb_cpu(long *maxrss)
{
	struct rusage	 ru;

	getrusage(RUSAGE_SELF, &ru);
	if (maxrss != NULL)
		*maxrss = ru.ru_maxrss;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* sb_status_kb: a "Key:   N kB" line of /proc/self/status, or -1. */
static long
sb_status_kb(const char *key)
{
	FILE	*f;
	char	 line[256];
	size_t	 klen = strlen(key);
	long	 v = -1;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* sb_name_cmp: qsort order of file names. */
static int
sb_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* sb_class_load: map every regular file of c->dir, in name order. */
static void
sb_class_load(struct sb_class *c)
{
	DIR		*d;
	struct dirent	*e;
	char		**names = NULL, path[PATH_MAX];
	size_t		 n = 0, cap = 0, i;

	if ((d = opendir(c->dir)) == NULL) {
		fprintf(stderr, "scanbench: %s: %s\n", c->dir, strerror(errno));
		exit(2);
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			names = xreallocarray(names, cap, sizeof(*names));
		}
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), sb_name_cmp);
	c->msgs = xcalloc(n ? n : 1, sizeof(*c->msgs));
	for (i = 0; i < n; i++) {
		struct stat	 st;
		void		*p;
		int		 fd;

		if (!str_printf(path, sizeof(path), "%s/%s", c->dir,
		    names[i]) || (fd = open(path, O_RDONLY)) == -1 ||
		    fstat(fd, &st) == -1) {
			fprintf(stderr, "scanbench: %s: cannot open\n", path);
			exit(2);
		}
		if (!S_ISREG(st.st_mode) || st.st_size == 0) {
			close(fd);
			free(names[i]);
			continue;
		}
		p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			fprintf(stderr, "scanbench: mmap %s: %s\n", path,
			    strerror(errno));
			exit(2);
		}
		close(fd);
		c->msgs[c->nmsgs].data = p;
		c->msgs[c->nmsgs].len = st.st_size;
		c->nmsgs++;
		c->bytes += st.st_size;
		c->mapped += ((uint64_t)st.st_size + SB_PAGE - 1) &
		    ~(uint64_t)(SB_PAGE - 1);
		free(names[i]);
	}
	free(names);
	if (c->nmsgs == 0) {
		fprintf(stderr, "scanbench: %s: no messages\n", c->dir);
		exit(2);
	}
}

/* sb_copied: the group's decision makes a copy of the message. */
static int
sb_copied(const struct policy_group *gr)
{
	size_t	 i;

	if (gr->intercept == POLICY_DELIVER ||
	    gr->intercept == POLICY_CHANGE_RCPT)
		return 1;
	for (i = 0; i < gr->nactions; i++)
		if (gr->actions[i].kind == POLICY_A_ARCHIVE ||
		    gr->actions[i].kind == POLICY_A_BCC)
			return 1;
	return 0;
}

/*
 * sb_spam_score: -S: score the analysed message as scanner/scanjob.c
 * does (job_spam, without sender lists, exemptions or outside signals)
 * and set its verdict for the policy's spam condition; spam[] counts the
 * catch rates at which it is spam.
 */
static void
sb_spam_score(struct scan_msg *m, uint64_t *spam, struct sb_check *chk)
{
	static const unsigned	 lv[3] = { SCAN_SPAM_HIGH, SCAN_SPAM_MEDIUM,
	    SCAN_SPAM_LOW };
	struct spam_result	 r;
	int			 k;

	spam_eval(sb_spam, m, NULL, &r);
	m->spam = SCAN_SPAM_SCORED;
	m->spam_score = r.score;
	for (k = 0; k < 3; k++)
		if (r.score >= sb_spam_level[k]) {
			m->spam_levels |= lv[k];
			spam[k]++;
		}
	if (chk != NULL)
		chk->spam_score_sum += r.score;
	spam_result_free(&r);
}

/*
 * sb_scan: the scan server's work on one message.  Returns the number of
 * failures (0 normally); *groups and *applied count the decision, phase[]
 * adds the CPU seconds of analysis, evaluation, rewriting, (with -a) the
 * antivirus scan of the raw message and (with -S) spam scoring, *avfound
 * the messages whose antivirus verdict was not "clean", spam[] (-S) the
 * messages that are spam at each catch rate.
 */
static int
sb_scan(const struct sb_msg *msg, struct buf *out, uint64_t *groups,
    uint64_t *applied, uint64_t *avfound, uint64_t *spam, double *phase,
    struct sb_check *chk)
{
	struct scan_msg		 m;
	struct avmsg_result	 avr;
	struct policy_result	 r;
	char			 err[256];
	size_t			 g, h, i;
	int			 bad = 0;
	double			 t0, t1, ts, t2;

	memset(&m, 0, sizeof(m));
	memset(&r, 0, sizeof(r));
	/* As scanner/scanjob.c: the analysis with the antivirus check. */
	t0 = sb_tcpu();
	if (avmsg_analyse(sb_av, msg->data, msg->len, &sb_limits, &m, &avr,
	    err, sizeof(err)) == -1) {
		fprintf(stderr, "scanbench: mime_analyse: %s\n", err);
		return 1;
	}
	if (sb_av != NULL) {
		phase[3] += avr.cpu_s;
		*avfound += avr.av.verdict != AV_CLEAN;
		if (chk != NULL) {
			chk->av[avr.av.verdict]++;
			if (avr.av.verdict == AV_ERROR)
				fprintf(stderr, "scanbench: av_scan: %s\n",
				    avr.av.name);
		}
	}
	t1 = sb_tcpu();
	/* As scanner/scanjob.c: the spam verdict before the rules. */
	if (sb_spam != NULL)
		sb_spam_score(&m, spam, chk);
	ts = sb_tcpu();
	phase[0] += t1 - t0 - avr.cpu_s;
	phase[4] += ts - t1;
	if (sb_no_policy) {
		if (chk != NULL) {
			chk->msgs++;
			chk->parts += m.nparts;
			chk->limits += m.limits != 0;
		}
		scan_msg_free(&m);
		phase[2] += sb_tcpu() - ts;	/* freeing the analysis */
		return 0;
	}
	if (policy_eval(sb_policy, &m, &sb_env, &r) == -1) {
		scan_msg_free(&m);
		return 1;
	}
	t2 = sb_tcpu();
	phase[1] += t2 - ts;
	*groups += r.ngroups;
	for (g = 0; g < r.ngroups; g++) {
		const struct policy_group *gr = &r.groups[g];

		if (chk != NULL) {
			chk->intercept[gr->intercept]++;
			for (h = 0; h < gr->nhits; h++)
				chk->rule_hits[gr->hits[h].rule_index]++;
		}
		/* As scanner/scanjob.c: a copy is made only when it will be
		   delivered or archived (or sent to a Bcc). */
		if (!actions_modifies(gr) || !sb_copied(gr))
			continue;
		buf_reset(out);
		if (actions_apply(msg->data, msg->len, &m, gr, NULL, NULL, out,
		    err, sizeof(err)) == -1) {
			if (chk != NULL)
				fprintf(stderr, "scanbench: actions_apply: "
				    "%s\n", err);
			bad++;
			continue;
		}
		(*applied)++;
		if (chk != NULL) {
			chk->modified++;
			chk->out_bytes += out->len;
		}
	}
	if (chk != NULL) {
		chk->msgs++;
		chk->parts += m.nparts;
		for (i = 0; i < m.nparts; i++) {
			chk->members += m.parts[i].in_archive;
			chk->attachments += m.parts[i].attachment &&
			    !m.parts[i].in_archive;
		}
		chk->limits += m.limits != 0;
		chk->errors += bad;
	}
	policy_result_free(&r);
	scan_msg_free(&m);
	phase[2] += sb_tcpu() - t2;	/* apply, and freeing the result */
	return bad;
}

/* sb_check_class: scan every message once, counting what the policy did. */
static void
sb_check_class(const struct sb_class *c, struct sb_check *chk)
{
	struct buf	 out;
	uint64_t	 groups = 0, applied = 0, avfound = 0;
	double		 phase[5] = { 0, 0, 0, 0, 0 };
	size_t		 i;

	memset(chk, 0, sizeof(*chk));
	chk->rule_hits = xcalloc(policy_nrules(sb_policy) + 1,
	    sizeof(*chk->rule_hits));
	buf_init(&out, SB_OUT_LIMIT);
	for (i = 0; i < c->nmsgs; i++)
		if (sb_scan(&c->msgs[i], &out, &groups, &applied, &avfound,
		    chk->spam, phase, chk) != 0)
			chk->errors++;
	chk->groups = groups;
	buf_free(&out);
}

/* sb_prefault: touch every page of the class's messages in this process. */
static uint64_t
sb_prefault(const struct sb_class *c)
{
	volatile uint8_t	 sink = 0;
	size_t			 i, off;

	for (i = 0; i < c->nmsgs; i++)
		for (off = 0; off < c->msgs[i].len; off += SB_PAGE)
			sink ^= c->msgs[i].data[off];
	(void)sink;
	return c->mapped;
}

/*
 * sb_worker: one worker process: the loop for `secs` seconds (and at
 * least one pass over the class), then its figures to wfd; it stays alive
 * until rfd closes so that the parent can read its smaps.
 */
static void __attribute__((noreturn))
sb_worker(const struct sb_class *c, int k, int nworkers, double secs,
    int wfd, int rfd)
{
	struct sb_res	 res;
	struct buf	 out;
	double		 t0, cpu0;
	size_t		 i, done = 0;
	int		 fd;
	char		 ch;

	memset(&res, 0, sizeof(res));
	res.corpus_kb = (long)(sb_prefault(c) / 1024);
	buf_init(&out, SB_OUT_LIMIT);
	if ((fd = open("/proc/self/clear_refs", O_WRONLY)) != -1) {
		res.hwm_reset = write(fd, "5", 1) == 1;
		close(fd);
	}
	res.rss_start_kb = sb_status_kb("VmRSS");
	i = (c->nmsgs * (size_t)k) / (size_t)nworkers;
	t0 = sb_now();
	cpu0 = sb_cpu(NULL);
	for (;;) {
		res.errors += sb_scan(&c->msgs[i], &out, &res.groups,
		    &res.applied, &res.av_found, res.spam, res.phase, NULL);
		res.msgs++;
		res.bytes += c->msgs[i].len;
		done++;
		if (++i == c->nmsgs)
			i = 0;
		if (done >= c->nmsgs && sb_now() - t0 >= secs)
			break;
	}
	res.wall = sb_now() - t0;
	res.cpu = sb_cpu(&res.maxrss_kb) - cpu0;
	res.hwm_kb = sb_status_kb("VmHWM");
	buf_free(&out);
	if (write(wfd, &res, sizeof(res)) != (ssize_t)sizeof(res))
		_exit(1);
	close(wfd);
	while (read(rfd, &ch, 1) > 0)
		;
	_exit(0);
}

/* sb_smaps: Rss, Pss, Private of pid, the corpus mappings apart. */
static void
sb_smaps(pid_t pid, const char *corpus_prefix, struct sb_mem *mem)
{
	FILE	*f;
	char	 path[64], line[PATH_MAX + 128];
	int	 in_corpus = 0;
	size_t	 plen = strlen(corpus_prefix);

	memset(mem, 0, sizeof(*mem));
	(void)str_printf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		long	 v;
		char	*p;

		if (line[0] >= 'A' && line[0] <= 'Z' && strchr(line, ':') &&
		    strchr(line, ' ') > strchr(line, ':')) {
			p = strchr(line, ':') + 1;
			v = strtol(p, NULL, 10);
			if (strncmp(line, "Rss:", 4) == 0) {
				if (in_corpus)
					mem->corpus_rss_kb += v;
				else
					mem->rss_kb += v;
			} else if (in_corpus)
				continue;
			else if (strncmp(line, "Pss:", 4) == 0)
				mem->pss_kb += v;
			else if (strncmp(line, "Private_Clean:", 14) == 0 ||
			    strncmp(line, "Private_Dirty:", 14) == 0)
				mem->priv_kb += v;
			continue;
		}
		/* A mapping header: "start-end perms offset dev inode path". */
		p = strchr(line, '/');
		in_corpus = p != NULL && strncmp(p, corpus_prefix, plen) == 0;
	}
	fclose(f);
}

/* sb_run_class: K workers on one class; fills res[] and mem[]. */
static void
sb_run_class(const struct sb_class *c, int nworkers, double secs,
    struct sb_res *res, struct sb_mem *mem, struct sb_mem *parent)
{
	pid_t	 pids[SB_MAX_WORKERS];
	int	 rpipe[SB_MAX_WORKERS], release[2], p[2], k, st;
	char	 prefix[PATH_MAX + 2];

	(void)str_printf(prefix, sizeof(prefix), "%s/", c->dir);
	if (pipe(release) == -1)
		fatal("sb_run_class: pipe");
	fflush(NULL);
	for (k = 0; k < nworkers; k++) {
		if (pipe(p) == -1)
			fatal("sb_run_class: pipe");
		if ((pids[k] = fork()) == -1)
			fatal("sb_run_class: fork");
		if (pids[k] == 0) {
			close(p[0]);
			close(release[1]);
			sb_worker(c, k, nworkers, secs, p[1], release[0]);
		}
		close(p[1]);
		rpipe[k] = p[0];
	}
	close(release[0]);
	for (k = 0; k < nworkers; k++) {
		if (read(rpipe[k], &res[k], sizeof(res[k])) !=
		    (ssize_t)sizeof(res[k]))
			fatalx("sb_run_class: worker %d of class %s died",
			    (int)pids[k], c->name);
		close(rpipe[k]);
	}
	/* Every worker is alive and idle now: their Pss shares are fair. */
	for (k = 0; k < nworkers; k++)
		sb_smaps(pids[k], prefix, &mem[k]);
	/* The parent maps every class: leave out the corpus root (the
	   parent directory of the class directories). */
	if (strrchr(prefix, '/') != prefix) {
		*strrchr(prefix, '/') = '\0';
		if (strrchr(prefix, '/') != NULL && strrchr(prefix, '/') != prefix)
			strrchr(prefix, '/')[1] = '\0';
	}
	sb_smaps(getpid(), prefix, parent);
	close(release[1]);
	for (k = 0; k < nworkers; k++)
		while (waitpid(pids[k], &st, 0) == -1 && errno == EINTR)
			;
}

/* sb_report: one class's figures, a line on stdout and an object in js. */
static void
sb_report(FILE *js, const struct sb_class *c, const struct sb_check *chk,
    int nworkers, const struct sb_res *res, const struct sb_mem *mem,
    const struct sb_mem *parent, int first)
{
	uint64_t	 msgs = 0, bytes = 0, errors = 0, applied = 0, avf = 0;
	uint64_t	 spam[3] = { 0, 0, 0 };
	double		 cpu = 0, rate = 0, mbs = 0, wall = 0, ph[5] = { 0 };
	long		 peak = 0, rss = 0, pss = 0, priv = 0, maxrss = 0;
	long		 pss_all = parent->pss_kb;
	int		 k;
	size_t		 r, nr = policy_nrules(sb_policy);

	for (k = 0; k < nworkers; k++) {
		long	 wpeak = res[k].hwm_kb - res[k].corpus_kb;

		msgs += res[k].msgs;
		bytes += res[k].bytes;
		errors += res[k].errors;
		applied += res[k].applied;
		cpu += res[k].cpu;
		ph[0] += res[k].phase[0];
		ph[1] += res[k].phase[1];
		ph[2] += res[k].phase[2];
		ph[3] += res[k].phase[3];
		ph[4] += res[k].phase[4];
		spam[0] += res[k].spam[0];
		spam[1] += res[k].spam[1];
		spam[2] += res[k].spam[2];
		avf += res[k].av_found;
		pss_all += mem[k].pss_kb;
		rate += res[k].msgs / res[k].wall;
		mbs += res[k].bytes / res[k].wall / 1e6;
		wall = res[k].wall > wall ? res[k].wall : wall;
		peak = wpeak > peak ? wpeak : peak;
		maxrss = res[k].maxrss_kb > maxrss ? res[k].maxrss_kb : maxrss;
		rss = mem[k].rss_kb > rss ? mem[k].rss_kb : rss;
		pss = mem[k].pss_kb > pss ? mem[k].pss_kb : pss;
		priv = mem[k].priv_kb > priv ? mem[k].priv_kb : priv;
	}
	printf("%-6s %5zu msgs, avg %8.1f KB | %d worker%s %6.2f s | "
	    "%9.1f msg/s %7.1f MB/s | %9.1f msg/s per CPU s | "
	    "peak RSS %6ld KB (Rss %ld, Pss %ld, Private %ld)%s\n",
	    c->name, c->nmsgs, c->bytes / 1024.0 / c->nmsgs, nworkers,
	    nworkers == 1 ? " " : "s", wall, rate, mbs, msgs / cpu, peak, rss,
	    pss, priv, errors ? " ERRORS" : "");
	printf("       CPU split: ");
	if (sb_av != NULL)
		printf("av %.0f%%, ", 100 * ph[3] / cpu);
	printf("mime_analyse %.0f%%, ", 100 * ph[0] / cpu);
	if (sb_spam != NULL)
		printf("spam_eval %.0f%%, ", 100 * ph[4] / cpu);
	if (sb_no_policy)
		printf("freeing %.0f%% (no policy: -n", 100 * ph[2] / cpu);
	else
		printf("policy_eval %.0f%%, actions_apply %.0f%% (%llu "
		    "rewrites", 100 * ph[1] / cpu, 100 * ph[2] / cpu,
		    (unsigned long long)applied);
	if (sb_av != NULL)
		printf(", %llu av findings", (unsigned long long)avf);
	if (sb_spam != NULL)
		printf(", spam at high/medium/low: %llu/%llu/%llu",
		    (unsigned long long)spam[0], (unsigned long long)spam[1],
		    (unsigned long long)spam[2]);
	printf(")\n       parent: Rss %ld KB, Pss %ld, Private %ld; "
	    "parent + %d worker%s: Pss %ld KB (shared pages once)\n",
	    parent->rss_kb, parent->pss_kb, parent->priv_kb, nworkers,
	    nworkers == 1 ? "" : "s", pss_all);
	if (js == NULL)
		return;
	fprintf(js, "%s\n  \"%s\": {\"dir\": \"%s\", \"messages\": %zu, "
	    "\"bytes\": %llu, \"workers\": %d, \"scanned\": %llu, "
	    "\"scanned_bytes\": %llu, \"wall_s\": %.3f, \"cpu_s\": %.3f, "
	    "\"msgs_per_s\": %.2f, \"mb_per_s\": %.3f, "
	    "\"msgs_per_cpu_s\": %.2f, \"mb_per_cpu_s\": %.3f, "
	    "\"rewrites\": %llu, \"errors\": %llu, "
	    "\"cpu_analyse_s\": %.3f, \"cpu_eval_s\": %.3f, "
	    "\"cpu_apply_s\": %.3f, \"cpu_av_s\": %.3f, "
	    "\"cpu_spam_s\": %.3f, \"spam_high\": %llu, "
	    "\"spam_medium\": %llu, \"spam_low\": %llu, "
	    "\"av_found\": %llu, \"parent_rss_kb\": %ld, "
	    "\"parent_pss_kb\": %ld, \"parent_private_kb\": %ld, "
	    "\"total_pss_kb\": %ld, "
	    "\"worker_peak_rss_kb\": %ld, \"worker_ru_maxrss_kb\": %ld, "
	    "\"worker_rss_kb\": %ld, \"worker_pss_kb\": %ld, "
	    "\"worker_private_kb\": %ld, \"corpus_mapped_kb\": %ld, "
	    "\"hwm_reset\": %s,\n   \"check\": {\"messages\": %llu, "
	    "\"parts\": %llu, \"attachments\": %llu, \"archive_members\": %llu, "
	    "\"groups\": %llu, \"rewritten_groups\": %llu, "
	    "\"deliver\": %llu, \"delete\": %llu, \"quarantine\": %llu, "
	    "\"change_rcpt\": %llu, \"with_scan_limits\": %llu, "
	    "\"errors\": %llu, \"av_clean\": %llu, \"av_infected\": %llu, "
	    "\"av_encrypted\": %llu, \"av_too_large\": %llu, "
	    "\"av_error\": %llu, \"spam_high\": %llu, "
	    "\"spam_medium\": %llu, \"spam_low\": %llu, "
	    "\"spam_score_mean\": %.3f, \"rule_hits\": {",
	    first ? "" : ",", c->name, c->dir, c->nmsgs,
	    (unsigned long long)c->bytes, nworkers, (unsigned long long)msgs,
	    (unsigned long long)bytes, wall, cpu, rate, mbs, msgs / cpu,
	    bytes / cpu / 1e6, (unsigned long long)applied,
	    (unsigned long long)errors, ph[0], ph[1], ph[2], ph[3], ph[4],
	    (unsigned long long)spam[0], (unsigned long long)spam[1],
	    (unsigned long long)spam[2], (unsigned long long)avf, parent->rss_kb, parent->pss_kb,
	    parent->priv_kb, pss_all, peak, maxrss, rss, pss, priv,
	    res[0].corpus_kb, res[0].hwm_reset ? "true" : "false",
	    (unsigned long long)chk->msgs, (unsigned long long)chk->parts,
	    (unsigned long long)chk->attachments,
	    (unsigned long long)chk->members, (unsigned long long)chk->groups,
	    (unsigned long long)chk->modified,
	    (unsigned long long)chk->intercept[POLICY_DELIVER],
	    (unsigned long long)chk->intercept[POLICY_DELETE],
	    (unsigned long long)chk->intercept[POLICY_QUARANTINE],
	    (unsigned long long)chk->intercept[POLICY_CHANGE_RCPT],
	    (unsigned long long)chk->limits, (unsigned long long)chk->errors,
	    (unsigned long long)chk->av[AV_CLEAN],
	    (unsigned long long)chk->av[AV_INFECTED],
	    (unsigned long long)chk->av[AV_ENCRYPTED],
	    (unsigned long long)chk->av[AV_TOO_LARGE],
	    (unsigned long long)chk->av[AV_ERROR],
	    (unsigned long long)chk->spam[0], (unsigned long long)chk->spam[1],
	    (unsigned long long)chk->spam[2],
	    chk->msgs ? chk->spam_score_sum / chk->msgs : 0.0);
	for (r = 0, k = 0; r < nr; r++) {
		char	 esc[256];
		size_t	 i, j;
		const char *name = policy_rule_name(sb_policy, r);

		if (chk->rule_hits[r] == 0)
			continue;
		for (i = j = 0; name[i] != '\0' && j + 3 < sizeof(esc); i++) {
			if (name[i] == '"' || name[i] == '\\')
				esc[j++] = '\\';
			esc[j++] = name[i];
		}
		esc[j] = '\0';
		fprintf(js, "%s\"%s\": %llu", k++ ? ", " : "", esc,
		    (unsigned long long)chk->rule_hits[r]);
	}
	fprintf(js, "}},\n   \"per_worker\": [");
	for (k = 0; k < nworkers; k++)
		fprintf(js, "%s{\"msgs\": %llu, \"wall_s\": %.3f, "
		    "\"cpu_s\": %.3f, \"peak_rss_kb\": %ld, \"rss_kb\": %ld, "
		    "\"pss_kb\": %ld, \"private_kb\": %ld, "
		    "\"rss_at_start_kb\": %ld}", k ? ", " : "",
		    (unsigned long long)res[k].msgs, res[k].wall, res[k].cpu,
		    res[k].hwm_kb - res[k].corpus_kb, mem[k].rss_kb,
		    mem[k].pss_kb, mem[k].priv_kb,
		    res[k].rss_start_kb - res[k].corpus_kb);
	fprintf(js, "]}");
}

/* sb_print_check: what the policy did with the class, in one line. */
static void
sb_print_check(const struct sb_class *c, const struct sb_check *chk)
{
	size_t	 r, nr = policy_nrules(sb_policy), fired = 0;

	for (r = 0; r < nr; r++)
		fired += chk->rule_hits[r] != 0;
	printf("check %-6s %zu msgs: %llu parts (%llu attachments, %llu "
	    "archive members), %llu groups, %llu rewritten, %llu quarantined, "
	    "%llu with scan limits, %zu/%zu rules fired, %llu errors\n",
	    c->name, c->nmsgs, (unsigned long long)chk->parts,
	    (unsigned long long)chk->attachments,
	    (unsigned long long)chk->members, (unsigned long long)chk->groups,
	    (unsigned long long)chk->modified,
	    (unsigned long long)chk->intercept[POLICY_QUARANTINE],
	    (unsigned long long)chk->limits, fired, nr,
	    (unsigned long long)chk->errors);
	if (sb_av != NULL)
		printf("check %-6s antivirus: %llu clean, %llu infected, "
		    "%llu encrypted, %llu too large, %llu errors\n", c->name,
		    (unsigned long long)chk->av[AV_CLEAN],
		    (unsigned long long)chk->av[AV_INFECTED],
		    (unsigned long long)chk->av[AV_ENCRYPTED],
		    (unsigned long long)chk->av[AV_TOO_LARGE],
		    (unsigned long long)chk->av[AV_ERROR]);
	if (sb_spam != NULL)
		printf("check %-6s spam (score >= %g/%g/%g): %llu high, "
		    "%llu medium, %llu low of %llu; mean score %.2f\n", c->name,
		    sb_spam_level[0], sb_spam_level[1], sb_spam_level[2],
		    (unsigned long long)chk->spam[0],
		    (unsigned long long)chk->spam[1],
		    (unsigned long long)chk->spam[2],
		    (unsigned long long)chk->msgs,
		    chk->msgs ? chk->spam_score_sum / chk->msgs : 0.0);
}

/*
 * sb_spam_load: -S: the package, and the catch rates and MIME limits of
 * confdir's configuration (the scanner's: conf_load, scanjob_limits).
 */
static int
sb_spam_load(const char *confdir, const char *pkg)
{
	struct sekisho_conf	 conf;
	struct diag		 d;
	double			 t0 = sb_now();

	diag_init(&d);
	if (conf_load(confdir, &conf, &d) == -1) {
		fprintf(stderr, "scanbench: -S needs a whole configuration "
		    "directory; %s does not load:\n", confdir);
		diag_print(&d, stderr);
		diag_free(&d);
		return -1;
	}
	diag_free(&d);
	sb_spam_level[0] = conf.policy.spam_level_high;
	sb_spam_level[1] = conf.policy.spam_level_medium;
	sb_spam_level[2] = conf.policy.spam_level_low;
	scanjob_limits(&conf.policy, &sb_limits);
	conf_free(&conf);
	diag_init(&d);
	sb_spam = spam_rules_load(pkg, &d);
	diag_print(&d, stderr);
	diag_free(&d);
	if (sb_spam == NULL) {
		fprintf(stderr, "scanbench: %s: the package does not load\n",
		    pkg);
		return -1;
	}
	printf("spam package %s: version %s, %zu rules, loaded in %.3f s; "
	    "catch rates high %g, medium %g, low %g (%s/policy.ini)%s\n", pkg,
	    spam_rules_version(sb_spam)->text, spam_rules_count(sb_spam),
	    sb_now() - t0, sb_spam_level[0], sb_spam_level[1],
	    sb_spam_level[2], confdir, sb_no_policy ? "; -n: no policy_eval "
	    "or actions_apply" : "");
	return 0;
}

/* sb_parse_classes: NAME=DIR arguments. */
static size_t
sb_parse_classes(int argc, char **argv, struct sb_class *cls)
{
	char	 real[PATH_MAX], *eq;
	int	 i;

	if (argc == 0 || argc > SB_MAX_CLASSES)
		usage();
	for (i = 0; i < argc; i++) {
		if ((eq = strchr(argv[i], '=')) == NULL || eq == argv[i])
			usage();
		if (realpath(eq + 1, real) == NULL) {
			fprintf(stderr, "scanbench: %s: %s\n", eq + 1,
			    strerror(errno));
			exit(2);
		}
		cls[i].name = xstrndup(argv[i], eq - argv[i]);
		cls[i].dir = xstrdup(real);
	}
	return (size_t)argc;
}

int
main(int argc, char **argv)
{
	struct sb_class	 cls[SB_MAX_CLASSES];
	struct sb_check	 chk[SB_MAX_CLASSES];
	struct sb_res	 res[SB_MAX_WORKERS];
	struct sb_mem	 mem[SB_MAX_WORKERS], parent;
	struct diag	 d;
	struct av_conf	 avc;
	const char	*confdir = "bench/scan", *jsonpath = NULL;
	const char	*avdb = NULL, *spampkg = NULL;
	char		 err[256], avtmp[PATH_MAX] = "";
	double		 secs = 5, t0, av_load_s = 0;
	int		 ch, nworkers = 1, check = 1;
	long		 rss_init, rss_av = 0;
	size_t		 ncls, i;
	FILE		*js = NULL;

	while ((ch = getopt(argc, argv, "a:c:j:no:qS:t:")) != -1) {
		switch (ch) {
		case 'a': avdb = optarg; break;
		case 'c': confdir = optarg; break;
		case 'n': sb_no_policy = 1; break;
		case 'S': spampkg = optarg; break;
		case 'q': check = 0; break;
		case 'j': nworkers = atoi(optarg); break;
		case 'o': jsonpath = optarg; break;
		case 't': secs = atof(optarg); break;
		default: usage();
		}
	}
	if (nworkers < 1 || nworkers > SB_MAX_WORKERS || secs <= 0 ||
	    (sb_no_policy && spampkg == NULL))
		usage();
	memset(cls, 0, sizeof(cls));
	ncls = sb_parse_classes(argc - optind, argv + optind, cls);
	log_init("scanbench", true, LOG_LVL_WARN);

	t0 = sb_now();
	if (mime_init(err, sizeof(err)) == -1) {
		fprintf(stderr, "scanbench: mime_init: %s\n", err);
		return 2;
	}
	mime_limits_default(&sb_limits);
	diag_init(&d);
	sb_policy = policy_load(confdir, &d);
	if (sb_policy == NULL || d.nerrors > 0) {
		fprintf(stderr, "scanbench: %s/policy.ini does not load:\n",
		    confdir);
		diag_print(&d, stderr);
		return 2;
	}
	diag_print(&d, stderr);		/* warnings, if any */
	diag_free(&d);
	if (spampkg != NULL && sb_spam_load(confdir, spampkg) == -1)
		return 2;
	rss_init = sb_status_kb("VmRSS");
	printf("policy %s/policy.ini: %zu rules, loaded with mime_init in "
	    "%.3f s; process RSS %ld KB\n", confdir, policy_nrules(sb_policy),
	    sb_now() - t0, rss_init);
	if (avdb != NULL) {
		const char *td = getenv("TMPDIR");

		/* The scanner's defaults (etc/sekisho.conf, [antivirus]). */
		memset(&avc, 0, sizeof(avc));
		avc.kind = AV_LIBCLAMAV;
		avc.dbdir = avdb;
		(void)str_printf(avtmp, sizeof(avtmp), "%s/sekisho-scanbench-av."
		    "XXXXXX", td != NULL && td[0] != '\0' ? td : "/tmp");
		if (mkdtemp(avtmp) == NULL) {
			fprintf(stderr, "scanbench: mkdtemp %s: %s\n", avtmp,
			    strerror(errno));
			return 2;
		}
		avc.tmpdir = avtmp;
		avc.max_scan_size = 100ULL * 1024 * 1024;
		avc.max_file_size = 25ULL * 1024 * 1024;
		avc.max_recursion = 18;
		avc.max_files = 10000;
		avc.timeout_ms = 60000;
		avc.block_encrypted = true;
		t0 = sb_now();
		if ((sb_av = av_open(&avc, err, sizeof(err))) == NULL) {
			fprintf(stderr, "scanbench: %s\n", err);
			(void)rmdir(avtmp);
			return 2;
		}
		av_load_s = sb_now() - t0;
		if (av_disable_cache(sb_av) == -1) {
			fprintf(stderr, "scanbench: cannot disable libclamav's "
			    "cache\n");
			return 2;
		}
		rss_av = sb_status_kb("VmRSS");
		printf("antivirus: %s, %u signatures from %s, loaded in %.3f s; "
		    "parent RSS %ld KB -> %ld KB (+%ld KB); clean-file cache "
		    "off\n", av_version(sb_av),
		    av_signatures(sb_av), avdb, av_load_s, rss_init, rss_av,
		    rss_av - rss_init);
	}
	if (policy_nrules(sb_policy) < 20 && !sb_no_policy)
		fprintf(stderr, "scanbench: warning: only %zu rules\n",
		    policy_nrules(sb_policy));

	for (i = 0; i < ncls; i++) {
		sb_class_load(&cls[i]);
		if (check) {
			sb_check_class(&cls[i], &chk[i]);
			sb_print_check(&cls[i], &chk[i]);
		} else {
			memset(&chk[i], 0, sizeof(chk[i]));
			chk[i].rule_hits = xcalloc(policy_nrules(sb_policy) + 1,
			    sizeof(*chk[i].rule_hits));
		}
	}
	if (jsonpath != NULL && (js = fopen(jsonpath, "w")) == NULL) {
		fprintf(stderr, "scanbench: %s: %s\n", jsonpath,
		    strerror(errno));
		return 2;
	}
	if (js != NULL)
		fprintf(js, "{\"tool\": \"sekisho-scanbench\", \"confdir\": "
		    "\"%s\", \"rules\": %zu, \"seconds\": %.3f, "
		    "\"workers\": %d, \"rss_after_load_kb\": %ld, "
		    "\"av\": %s%s%s, \"av_signatures\": %u, "
		    "\"av_load_s\": %.3f, \"rss_after_av_kb\": %ld, "
		    "\"spam_package\": %s%s%s, \"spam_version\": \"%s\", "
		    "\"spam_rules\": %zu, \"spam_levels\": [%g, %g, %g], "
		    "\"no_policy\": %s, "
		    "\"classes\": {", confdir, policy_nrules(sb_policy), secs,
		    nworkers, rss_init, sb_av ? "\"" : "",
		    sb_av ? av_version(sb_av) : "null", sb_av ? "\"" : "",
		    sb_av ? av_signatures(sb_av) : 0, av_load_s, rss_av,
		    spampkg ? "\"" : "", spampkg ? spampkg : "null",
		    spampkg ? "\"" : "",
		    sb_spam ? spam_rules_version(sb_spam)->text : "",
		    sb_spam ? spam_rules_count(sb_spam) : 0, sb_spam_level[0],
		    sb_spam_level[1], sb_spam_level[2],
		    sb_no_policy ? "true" : "false");
	for (i = 0; i < ncls; i++) {
		sb_run_class(&cls[i], nworkers, secs, res, mem, &parent);
		sb_report(js, &cls[i], &chk[i], nworkers, res, mem, &parent,
		    i == 0);
		fflush(stdout);
	}
	if (js != NULL) {
		fprintf(js, "}}\n");
		if (fclose(js) != 0) {
			fprintf(stderr, "scanbench: %s: write failed\n",
			    jsonpath);
			return 2;
		}
	}
	if (sb_av != NULL) {
		av_close(sb_av);
		(void)rmdir(avtmp);
	}
	spam_rules_free(sb_spam);
	for (i = 0; i < ncls; i++)
		if (chk[i].errors != 0 || chk[i].av[AV_ERROR] != 0)
			return 1;
	return 0;
}
