/*
 * track.c: the message-tracking log, backend-independent part.
 *
 * Owns what every backend must agree on: which events are valid, how text
 * is cleaned before it is stored (valid UTF-8, no control characters,
 * bounded length), how it is case-folded for matching, the seed-30 default
 * scan verdict, and the parsing of filter values that come from the
 * administrator (sekishoctl: times, event kinds, numbers).  The storage
 * itself is behind struct track_backend (track_sqlite.c).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "track.h"
#include "util.h"
#include "xmalloc.h"

struct track {
	const struct track_backend	*be;
	void				*h;
	char				 err[512];
};

static const char *track_kind_names[TRACK_KIND_MAX] = {
	[TRACK_RECEIVED] = "received",
	[TRACK_SCANNED] = "scanned",
	[TRACK_RULE_MATCHED] = "rule_matched",
	[TRACK_DELIVERED] = "delivered",
	[TRACK_DEFERRED] = "deferred",
	[TRACK_BOUNCED] = "bounced",
	[TRACK_EXPIRED] = "expired",
	[TRACK_QUARANTINED] = "quarantined",
	[TRACK_DELETED] = "deleted",
	[TRACK_RELEASED] = "released",
	[TRACK_HELD] = "held",
	[TRACK_NDR_SENT] = "ndr_sent",
	[TRACK_DELAY_WARNED] = "delay_warned",
	[TRACK_REDIRECTED] = "redirected",
	[TRACK_NOTIFIED] = "notified",
	[TRACK_SCAN_FAILED] = "scan_failed",
	[TRACK_REMOVED] = "removed",
};

/* track_kind_name: the stable lower-case name of an event kind. */
const char *
track_kind_name(enum track_kind k)
{
	if ((int)k <= 0 || k >= TRACK_KIND_MAX)
		return "unknown";
	return track_kind_names[k];
}

/* track_kind_parse: an event kind by name (case-insensitive). */
bool
track_kind_parse(const char *s, enum track_kind *out)
{
	int	 k;

	for (k = 1; k < TRACK_KIND_MAX; k++)
		if (strcasecmp(s, track_kind_names[k]) == 0) {
			*out = (enum track_kind)k;
			return true;
		}
	return false;
}

/* track_now: the wall clock in microseconds since the epoch. */
int64_t
track_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * track_utf8: decode one well-formed UTF-8 character at s (at most n
 * bytes); returns its length, or 0 when the bytes are not well-formed
 * (overlong, surrogate, above U+10FFFF, truncated).
 */
static size_t
track_utf8(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t	 c, min;
	size_t		 len, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2; c = s[0] & 0x1f; min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3; c = s[0] & 0x0f; min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4; c = s[0] & 0x07; min = 0x10000;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* track_put: append code point c as UTF-8 at d; returns the length. */
static size_t
track_put(char *d, uint32_t c)
{
	if (c < 0x80) {
		d[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		d[0] = (char)(0xc0 | (c >> 6));
		d[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		d[0] = (char)(0xe0 | (c >> 12));
		d[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		d[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | (c >> 18));
	d[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	d[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	d[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/*
 * track_clean: a copy of s that is valid UTF-8 without control characters
 * (C0, DEL, C1 become a space; malformed bytes U+FFFD), cut on a character
 * boundary to at most max bytes.  NULL stays NULL.
 */
char *
track_clean(const char *s, size_t max)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n, i, o, len, plen;
	uint32_t		 c;
	char			*d, tmp[4];

	if (s == NULL)
		return NULL;
	n = strlen(s);
	/* Each input byte yields at most 3 output bytes (U+FFFD). */
	d = xmalloc((n < max ? n : max) * 3 + 1);
	for (i = o = 0; i < n; i += len) {
		if ((len = track_utf8(p + i, n - i, &c)) == 0) {
			len = 1;
			c = 0xfffd;
		}
		if (c < 0x20 || (c >= 0x7f && c < 0xa0))
			c = ' ';
		plen = track_put(tmp, c);
		if (o + plen > max)
			break;
		memcpy(d + o, tmp, plen);
		o += plen;
	}
	d[o] = '\0';
	return d;
}

/*
 * track_fold1: the simple lower-case form of one code point, for the
 * scripts whose case mapping is one-to-one: ASCII, Latin-1, Latin
 * Extended-A, Greek, Cyrillic and fullwidth Latin (common in Japanese
 * text).  Japanese itself has no case.  Anything else is kept.
 */
static uint32_t
track_fold1(uint32_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 0x20;
	if (c < 0xc0)
		return c;
	if (c <= 0xde && c != 0xd7)
		return c + 0x20;
	if ((c >= 0x100 && c <= 0x137 && c != 0x130 && c != 0x131) ||
	    (c >= 0x14a && c <= 0x177))
		return (c & 1) == 0 ? c + 1 : c;
	if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
		return (c & 1) == 1 ? c + 1 : c;
	if (c == 0x178)
		return 0xff;
	if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2)
		return c + 0x20;
	if (c >= 0x400 && c <= 0x40f)
		return c + 0x50;
	if (c >= 0x410 && c <= 0x42f)
		return c + 0x20;
	if (c >= 0xff21 && c <= 0xff3a)
		return c + 0x20;
	return c;
}

/*
 * track_fold: the case-folded copy of s used for matching (s must be what
 * track_clean returns: valid UTF-8).  Every mapping keeps the byte length,
 * so the copy is as long as s.  NULL stays NULL.
 */
char *
track_fold(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 n, i, o, len;
	uint32_t		 c;
	char			*d;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	d = xmalloc(n * 3 + 1);
	for (i = o = 0; i < n; i += len) {
		if ((len = track_utf8(p + i, n - i, &c)) == 0) {
			len = 1;
			c = 0xfffd;
		}
		o += track_put(d + o, track_fold1(c));
	}
	d[o] = '\0';
	return d;
}

/* track_open_backend: open a tracking log through the given backend. */
struct track *
track_open_backend(const struct track_backend *be, const char *path,
    bool readonly, char *err, size_t errlen)
{
	struct track	*t;
	void		*h;

	if ((h = be->open(path, readonly, err, errlen)) == NULL)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->be = be;
	t->h = h;
	return t;
}

/* track_open: open (create, migrate) the tracking log at path for writing. */
struct track *
track_open(const char *path, char *err, size_t errlen)
{
	return track_open_backend(&track_sqlite_backend, path, false, err,
	    errlen);
}

/* track_open_readonly: open an existing tracking log for queries only. */
struct track *
track_open_readonly(const char *path, char *err, size_t errlen)
{
	return track_open_backend(&track_sqlite_backend, path, true, err,
	    errlen);
}

/* track_error: the text of the last failure on t. */
const char *
track_error(const struct track *t)
{
	return t->err;
}

/* track_close: close t (NULL is fine). */
void
track_close(struct track *t)
{
	if (t == NULL)
		return;
	t->be->close(t->h);
	free(t);
}

/* track_ev_free: free the cleaned copies made by track_ev_clean. */
static void
track_ev_free(struct track_event *e)
{
	free((char *)e->qid);
	free((char *)e->sender);
	free((char *)e->rcpt);
	free((char *)e->subject);
	free((char *)e->rule);
	free((char *)e->action);
	free((char *)e->relay);
	free((char *)e->dsn);
	free((char *)e->detail);
}

/*
 * track_ev_clean: check in and make the stored form of out: cleaned text,
 * the time filled in, and the seed-30 verdict for a scan without a rule.
 */
static bool
track_ev_clean(const struct track_event *in, struct track_event *out,
    int64_t now, char *err, size_t errlen)
{
	if ((int)in->kind <= 0 || in->kind >= TRACK_KIND_MAX) {
		snprintf(err, errlen, "track_add: invalid event kind %d",
		    (int)in->kind);
		return false;
	}
	if (in->qid == NULL || in->qid[0] == '\0' ||
	    strlen(in->qid) > TRACK_QID_MAX) {
		snprintf(err, errlen, "track_add: missing or too long queue id");
		return false;
	}
	if (in->time < 0) {
		snprintf(err, errlen, "track_add: qid %s: negative time",
		    in->qid);
		return false;
	}
	out->time = in->time != 0 ? in->time : now;
	out->kind = in->kind;
	out->qid = track_clean(in->qid, TRACK_QID_MAX);
	out->sender = track_clean(in->sender, TRACK_ADDR_MAX);
	out->rcpt = track_clean(in->rcpt, TRACK_ADDR_MAX);
	out->subject = track_clean(in->subject, TRACK_TEXT_MAX);
	out->rule = track_clean(in->rule, TRACK_TEXT_MAX);
	out->action = track_clean(in->action, TRACK_TEXT_MAX);
	if (in->kind == TRACK_SCANNED && in->rule == NULL &&
	    in->action == NULL)
		out->action = xstrdup(TRACK_ACTION_PASSED);
	out->relay = track_clean(in->relay, TRACK_TEXT_MAX);
	out->dsn = track_clean(in->dsn, TRACK_TEXT_MAX);
	out->detail = track_clean(in->detail, TRACK_DETAIL_MAX);
	return true;
}

/* track_add: record one event. */
bool
track_add(struct track *t, const struct track_event *e)
{
	return track_add_batch(t, e, 1);
}

/*
 * track_add_batch: record n events atomically, in one transaction (one
 * WAL commit for all of them): all are stored or none.
 */
bool
track_add_batch(struct track *t, const struct track_event *ev, size_t n)
{
	struct track_event	*c;
	int64_t			 now = track_now();
	size_t			 i, ok;
	bool			 rv = false;

	t->err[0] = '\0';
	if (n == 0)
		return true;
	c = xcalloc(n, sizeof(*c));
	for (ok = 0; ok < n; ok++)
		if (!track_ev_clean(&ev[ok], &c[ok], now, t->err,
		    sizeof(t->err)))
			break;
	if (ok == n)
		rv = t->be->add(t->h, c, n, t->err, sizeof(t->err));
	for (i = 0; i < ok; i++)
		track_ev_free(&c[i]);
	free(c);
	return rv;
}

/* track_fs_free: free the folded copies of a filter. */
static void
track_fs_free(struct track_filter *f)
{
	free((char *)f->sender);
	free((char *)f->rcpt);
	free((char *)f->subject);
	free((char *)f->rule);
	free((char *)f->action);
	free((char *)f->qid);
}

/* track_fs_one: the cleaned, folded form of one filter value. */
static bool
track_fs_one(const char *in, const char **out, bool fold, const char *what,
    char *err, size_t errlen)
{
	char	*c;

	*out = NULL;
	if (in == NULL)
		return true;
	if (strlen(in) > TRACK_FILTER_STR_MAX) {
		snprintf(err, errlen, "track_query: %s filter longer than %d "
		    "bytes", what, TRACK_FILTER_STR_MAX);
		return false;
	}
	c = track_clean(in, TRACK_FILTER_STR_MAX * 3);
	if (fold) {
		*out = track_fold(c);
		free(c);
	} else
		*out = c;
	return true;
}

/*
 * track_fs_prep: check a filter and make the form backends get: text
 * cleaned like stored text and case-folded (the queue id only cleaned).
 */
static bool
track_fs_prep(const struct track_filter *in, struct track_filter *out,
    char *err, size_t errlen)
{
	*out = *in;
	out->sender = out->rcpt = out->subject = out->rule = out->action =
	    out->qid = NULL;
	if (in->since < 0 || in->until < 0 ||
	    (in->until != 0 && in->until <= in->since)) {
		snprintf(err, errlen, "track_query: empty or negative time "
		    "range");
		return false;
	}
	if (in->limit > INT64_MAX || in->offset > INT64_MAX) {
		snprintf(err, errlen, "track_query: limit or offset too large");
		return false;
	}
	if (!track_fs_one(in->sender, &out->sender, true, "sender", err,
	    errlen) ||
	    !track_fs_one(in->rcpt, &out->rcpt, true, "recipient", err,
	    errlen) ||
	    !track_fs_one(in->subject, &out->subject, true, "subject", err,
	    errlen) ||
	    !track_fs_one(in->rule, &out->rule, true, "rule", err, errlen) ||
	    !track_fs_one(in->action, &out->action, true, "action", err,
	    errlen) ||
	    !track_fs_one(in->qid, &out->qid, false, "qid", err, errlen)) {
		track_fs_free(out);
		return false;
	}
	return true;
}

/* track_query: stream the events that match f to cb, in time order. */
bool
track_query(struct track *t, const struct track_filter *f, track_row_cb cb,
    void *arg)
{
	struct track_filter	 pf;
	bool			 rv;

	t->err[0] = '\0';
	if (!track_fs_prep(f, &pf, t->err, sizeof(t->err)))
		return false;
	rv = t->be->query(t->h, &pf, cb, arg, t->err, sizeof(t->err));
	track_fs_free(&pf);
	return rv;
}

/*
 * track_query_messages: the messages with at least one event matching f,
 * ordered by their first event, each as one line per recipient (its last
 * event) and one for its last message-level event.  limit and offset
 * count messages.
 */
bool
track_query_messages(struct track *t, const struct track_filter *f,
    track_outcome_cb cb, void *arg)
{
	struct track_filter	 pf;
	bool			 rv;

	t->err[0] = '\0';
	if (!track_fs_prep(f, &pf, t->err, sizeof(t->err)))
		return false;
	rv = t->be->query_messages(t->h, &pf, cb, arg, t->err,
	    sizeof(t->err));
	track_fs_free(&pf);
	return rv;
}

/*
 * track_purge: delete events older than older_than (seconds since the
 * epoch), at most max of them (0: all), in short transactions so the
 * writer is never blocked long; *removed (if not NULL) gets the count.
 * Call it again while it removes max to work through a backlog a slice
 * at a time from an event loop.
 */
bool
track_purge(struct track *t, time_t older_than, uint64_t max,
    uint64_t *removed)
{
	uint64_t	 n = 0;
	bool		 rv;

	t->err[0] = '\0';
	if (older_than < 0 || (int64_t)older_than > INT64_MAX / 1000000) {
		snprintf(t->err, sizeof(t->err), "track_purge: bad time");
		return false;
	}
	rv = t->be->purge(t->h, (int64_t)older_than * 1000000, max, &n,
	    t->err, sizeof(t->err));
	if (removed != NULL)
		*removed = n;
	return rv;
}

/* track_digits: parse exactly n decimal digits at s. */
static bool
track_digits(const char *s, int n, int *out)
{
	int	 i, v = 0;

	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/*
 * track_time_rel: "-N[smhd]" before now, or "now".  Bounded to 100 years
 * so nothing overflows.
 */
static bool
track_time_rel(const char *s, int64_t now, int64_t *out)
{
	long long	 v;
	int64_t		 unit;
	char		 num[24];
	size_t		 n;

	if (strcmp(s, "now") == 0) {
		*out = now;
		return true;
	}
	if (s[0] != '-' || (n = strlen(s)) < 3 || n - 2 >= sizeof(num))
		return false;
	switch (s[n - 1]) {
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	case 'w': unit = 7 * 86400; break;
	default: return false;
	}
	memcpy(num, s + 1, n - 2);
	num[n - 2] = '\0';
	if (!isdigit((unsigned char)num[0]) ||
	    !str_to_ll(num, 0, 100LL * 366 * 86400 / unit, &v))
		return false;
	*out = now - (int64_t)v * unit * 1000000;
	return *out >= 0;
}

/* track_mdays: days in month mon (1-12) of year y. */
static int
track_mdays(int y, int mon)
{
	static const int d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };

	if (mon == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[mon - 1];
}

/* track_time_zone: parse "", "Z" or "+HH:MM"/"-HH:MM" into seconds east. */
static bool
track_time_zone(const char *s, bool *local, long *off)
{
	int	 h, m;

	*local = false;
	*off = 0;
	if (*s == '\0') {
		*local = true;
		return true;
	}
	if (strcmp(s, "Z") == 0 || strcmp(s, "z") == 0)
		return true;
	if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':' ||
	    !track_digits(s + 1, 2, &h) || !track_digits(s + 4, 2, &m) ||
	    h > 23 || m > 59)
		return false;
	*off = (long)(h * 3600 + m * 60) * (s[0] == '-' ? -1 : 1);
	return true;
}

/*
 * track_time_abs: "YYYY-MM-DD[(T| )HH:MM[:SS]][Z|+HH:MM|-HH:MM]"; no
 * zone means local time.
 */
static bool
track_time_abs(const char *s, int64_t *out)
{
	struct tm	 tm;
	const char	*p;
	time_t		 t;
	long		 off;
	bool		 local;
	int		 y, mo, d, h = 0, mi = 0, se = 0;

	if (strlen(s) < 10 || !track_digits(s, 4, &y) || s[4] != '-' ||
	    !track_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !track_digits(s + 8, 2, &d))
		return false;
	p = s + 10;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		if (strlen(p) < 6 || !track_digits(p + 1, 2, &h) ||
		    p[3] != ':' || !track_digits(p + 4, 2, &mi))
			return false;
		p += 6;
		if (*p == ':') {
			if (!track_digits(p + 1, 2, &se))
				return false;
			p += 3;
		}
	}
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > track_mdays(y, mo) || h > 23 || mi > 59 || se > 59 ||
	    !track_time_zone(p, &local, &off))
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	if (local) {
		tm.tm_isdst = -1;
		t = mktime(&tm);
	} else
		t = timegm(&tm) - off;
	if (t < 0)
		return false;
	*out = (int64_t)t * 1000000;
	return true;
}

/*
 * track_time_parse: a time as the administrator writes it, in µs since
 * the epoch: seconds since the epoch ("1714550400"), an ISO 8601 date or
 * date-time (local time unless it ends in Z or an offset), "now", or a
 * span before now ("-30m", "-2h", "-7d").
 */
bool
track_time_parse(const char *s, int64_t now, int64_t *out)
{
	long long	 v;

	if (s[0] == '-' || strcmp(s, "now") == 0)
		return track_time_rel(s, now, out);
	if (strlen(s) <= 12 && strspn(s, "0123456789") == strlen(s) &&
	    s[0] != '\0') {
		if (!str_to_ll(s, 0, 253402300799LL, &v))
			return false;
		*out = (int64_t)v * 1000000;
		return true;
	}
	return track_time_abs(s, out);
}

/* track_kinds_parse: a comma-separated list of event kinds into a mask. */
static bool
track_kinds_parse(const char *s, uint64_t *mask, char *err, size_t errlen)
{
	enum track_kind	 k;
	const char	*p = s, *e;
	char		 name[32];
	size_t		 n;

	for (;;) {
		e = strchr(p, ',');
		n = e != NULL ? (size_t)(e - p) : strlen(p);
		if (n == 0 || n >= sizeof(name))
			goto bad;
		memcpy(name, p, n);
		name[n] = '\0';
		if (!track_kind_parse(name, &k))
			goto bad;
		*mask |= TRACK_KIND_BIT(k);
		if (e == NULL)
			return true;
		p = e + 1;
	}
bad:
	snprintf(err, errlen, "unknown event kind in \"%.64s\"", s);
	return false;
}

/* The text filters by key: where the value goes, its exact bit, mode. */
static const struct {
	const char	*key;
	size_t		 off;
	unsigned	 bit;
	bool		 exact;
} track_fkeys[] = {
	{ "sender", offsetof(struct track_filter, sender),
	    TRACK_EXACT_SENDER, false },
	{ "sender-is", offsetof(struct track_filter, sender),
	    TRACK_EXACT_SENDER, true },
	{ "rcpt", offsetof(struct track_filter, rcpt), TRACK_EXACT_RCPT,
	    false },
	{ "rcpt-is", offsetof(struct track_filter, rcpt), TRACK_EXACT_RCPT,
	    true },
	{ "subject", offsetof(struct track_filter, subject),
	    TRACK_EXACT_SUBJECT, false },
	{ "subject-is", offsetof(struct track_filter, subject),
	    TRACK_EXACT_SUBJECT, true },
	{ "rule", offsetof(struct track_filter, rule), TRACK_EXACT_RULE,
	    false },
	{ "rule-is", offsetof(struct track_filter, rule), TRACK_EXACT_RULE,
	    true },
	{ "action", offsetof(struct track_filter, action),
	    TRACK_EXACT_ACTION, false },
	{ "action-is", offsetof(struct track_filter, action),
	    TRACK_EXACT_ACTION, true },
};

/*
 * track_filter_text: set a text filter by key; false if key is not one.
 * "sender" and "sender-is" share a field: the last one given wins.
 */
static bool
track_filter_text(struct track_filter *f, const char *key, const char *value)
{
	size_t	 i;

	for (i = 0; i < nitems(track_fkeys); i++) {
		if (strcmp(key, track_fkeys[i].key) != 0)
			continue;
		*(const char **)(void *)((char *)f + track_fkeys[i].off) =
		    value;
		if (track_fkeys[i].exact)
			f->exact |= track_fkeys[i].bit;
		else
			f->exact &= ~track_fkeys[i].bit;
		return true;
	}
	return false;
}

/*
 * track_filter_set: apply one "key value" pair from the administrator to
 * f (sekishoctl's log query options).  Text values are kept by pointer,
 * not copied.  Keys: since, until (times, track_time_parse), sender,
 * rcpt, subject, rule, action (substrings) and the same with "-is" (whole
 * value), qid, qid-prefix, event (kinds, comma-separated), limit, offset,
 * order (newest|oldest).  Errors name the key.
 */
bool
track_filter_set(struct track_filter *f, const char *key, const char *value,
    int64_t now, char *err, size_t errlen)
{
	long long	 v;
	int64_t		 t;

	if (strlen(value) > TRACK_FILTER_STR_MAX) {
		snprintf(err, errlen, "%.32s: value too long", key);
		return false;
	}
	if (track_filter_text(f, key, value))
		return true;
	if (strcmp(key, "since") == 0 || strcmp(key, "until") == 0) {
		if (!track_time_parse(value, now, &t)) {
			snprintf(err, errlen, "%s: bad time \"%.64s\" (want "
			    "YYYY-MM-DD[THH:MM[:SS]][Z|+HH:MM], seconds, now "
			    "or -N[smhdw])", key, value);
			return false;
		}
		*(key[0] == 's' ? &f->since : &f->until) = t;
	} else if (strcmp(key, "qid") == 0 || strcmp(key, "qid-prefix") == 0) {
		if (value[0] == '\0' || strlen(value) > TRACK_QID_MAX) {
			snprintf(err, errlen, "%s: empty or too long", key);
			return false;
		}
		f->qid = value;
		f->qid_prefix = key[3] == '-';
	} else if (strcmp(key, "event") == 0) {
		f->kinds = 0;
		if (!track_kinds_parse(value, &f->kinds, err, errlen))
			return false;
	} else if (strcmp(key, "limit") == 0 || strcmp(key, "offset") == 0) {
		if (!str_to_ll(value, 0, 1000000000LL, &v)) {
			snprintf(err, errlen, "%s: want a number from 0 to "
			    "1000000000", key);
			return false;
		}
		*(key[0] == 'l' ? &f->limit : &f->offset) = (uint64_t)v;
	} else if (strcmp(key, "order") == 0) {
		if (strcmp(value, "newest") != 0 &&
		    strcmp(value, "oldest") != 0) {
			snprintf(err, errlen, "order: want newest or oldest");
			return false;
		}
		f->newest_first = value[0] == 'n';
	} else {
		snprintf(err, errlen, "unknown filter \"%.32s\"", key);
		return false;
	}
	return true;
}
