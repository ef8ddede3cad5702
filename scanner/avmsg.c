/*
 * avmsg.c: the MIME analysis of one message with its antivirus check.
 *
 * The engine sees the message twice.  First the raw message: libclamav
 * (or clamd) parses the MIME structure itself, decodes every part, opens
 * archives and embedded objects and runs its mail and phishing
 * signatures.  Then every MIME leaf as this scanner's own parser (GMime,
 * mime.c) decoded it, each handed to the engine as a file of its own.
 * Two parsers disagree on malformed MIME (a boundary, an encoding, a
 * header a client reads one way and a filter another): a part one of
 * them misses is still seen by the other, and the policy never acts on a
 * part the antivirus did not see.  Archive members are not handed over
 * separately: the engine opens the archive itself, deeper than mime.c.
 *
 * The verdicts are merged: a finding wins over everything (the first
 * one names the virus, and nothing more is scanned), otherwise the first
 * verdict that is not clean (error, encrypted, too large) stands, so a
 * part that could not be cleared is never passed over.
 */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "avmsg.h"
#include "mime.h"
#include "xmalloc.h"

struct avmsg {
	struct av_engine	*av;
	struct avmsg_result	*res;
};

static double
avmsg_cpu(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == -1)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* avmsg_scan: one av_scan(), its verdict folded into the message's. */
static void
avmsg_scan(struct avmsg *a, const void *data, size_t len)
{
	struct av_result	*res = &a->res->av, r;
	double			 t0 = avmsg_cpu();

	(void)av_scan(a->av, data, len, &r);
	a->res->cpu_s += avmsg_cpu() - t0;
	a->res->scans++;
	/* A finding wins; otherwise the first verdict that is not clean. */
	if (r.verdict == AV_CLEAN || res->verdict == AV_INFECTED)
		return;
	if (res->verdict == AV_CLEAN || r.verdict == AV_INFECTED)
		*res = r;
}

/* avmsg_leaf: mime.c decoded a leaf; scan it unless a virus was found. */
static void
avmsg_leaf(void *arg, const struct scan_part *p, const uint8_t *data,
    size_t len)
{
	struct avmsg	*a = arg;

	(void)p;
	if (a->res->av.verdict != AV_INFECTED)
		avmsg_scan(a, data, len);
}

/*
 * avmsg_analyse: mime_analyse() of raw into out, and, when av is not
 * NULL, its antivirus verdict in res (out->virus names a finding).
 * 0, or -1 with err as mime_analyse().
 */
int
avmsg_analyse(struct av_engine *av, const void *raw, size_t len,
    const struct scan_limits *lim, struct scan_msg *out,
    struct avmsg_result *res, char *err, size_t errlen)
{
	struct avmsg	 a;

	memset(res, 0, sizeof(*res));
	res->av.verdict = AV_CLEAN;
	if (av == NULL)
		return mime_analyse(raw, len, lim, out, err, errlen);
	a.av = av;
	a.res = res;
	avmsg_scan(&a, raw, len);
	if (mime_analyse_leaves(raw, len, lim, avmsg_leaf, &a, out, err,
	    errlen) == -1)
		return -1;
	if (res->av.verdict == AV_INFECTED)
		out->virus = xstrdup(res->av.name);
	return 0;
}
