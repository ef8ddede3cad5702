/*
 * test_track.c: the message-tracking log (common/track.c, track_sqlite.c):
 * text cleaning and case folding, time and filter parsing, every query
 * filter alone and combined on a known set of messages (seed 26), the
 * "Passed sekisho scan" verdict (seed 30), the per-recipient summary,
 * purge, reopen and schema versions, a timed batch of 10,000 events and a
 * reader in another process while the writer writes (WAL).
 */
#include <sys/wait.h>

#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "track.h"
#include "util.h"

#define S	1000000LL			/* µs per second */
#define T0	(1714550400LL * S)		/* 2024-05-01T08:00:00Z */

static char	 tdir[64];

/* tpath: a file name inside the test's temporary directory. */
static const char *
tpath(const char *name)
{
	static char	 p[128];

	snprintf(p, sizeof(p), "%s/%s", tdir, name);
	return p;
}

/* The known messages: qid a1000001 ... b1000005. */
static const struct track_event known[] = {
	/* 1: passes, two recipients, one deferred once. */
	{ T0, "a1000001", TRACK_RECEIVED, "alice@example.com", NULL,
	    "Quarterly report", NULL, NULL, NULL, NULL, "size=2048" },
	{ T0 + 1 * S, "a1000001", TRACK_SCANNED, NULL, NULL, NULL, NULL,
	    NULL, NULL, NULL, NULL },
	{ T0 + 2 * S, "a1000001", TRACK_DELIVERED, NULL, "bob@example.jp",
	    NULL, NULL, "deliver", "mx1.example.jp[192.0.2.1]:25", "2.0.0",
	    "250 ok" },
	{ T0 + 2 * S, "a1000001", TRACK_DEFERRED, NULL, "carol@example.jp",
	    NULL, NULL, "deliver", "mx1.example.jp[192.0.2.1]:25", "4.2.0",
	    "451 try later" },
	{ T0 + 60 * S, "a1000001", TRACK_DELIVERED, NULL, "carol@example.jp",
	    NULL, NULL, "deliver", "mx1.example.jp[192.0.2.1]:25", "2.0.0",
	    "250 ok" },
	/* 2: Japanese sender and subject, quarantined by a Japanese rule. */
	{ T0 + 10 * S, "a1000002", TRACK_RECEIVED, "山田@例え.jp", NULL,
	    "会議の議事録 ＡＢＣ", NULL, NULL, NULL, NULL, NULL },
	{ T0 + 11 * S, "a1000002", TRACK_RULE_MATCHED, NULL, NULL, NULL,
	    "スパム対策", "quarantine spam", NULL, NULL, "score=9.1" },
	{ T0 + 11 * S, "a1000002", TRACK_SCANNED, NULL, NULL, NULL,
	    "スパム対策", "quarantine spam", NULL, NULL, NULL },
	{ T0 + 11 * S, "a1000002", TRACK_QUARANTINED, NULL,
	    "Dave@Example.COM", NULL, NULL, "quarantine spam", NULL, NULL,
	    "area=spam" },
	/* 3: null sender, % and _ in the subject, bounced. */
	{ T0 + 20 * S, "a2000003", TRACK_RECEIVED, "", NULL,
	    "100% off_sale [50%_now]", NULL, NULL, NULL, NULL, NULL },
	{ T0 + 20 * S + 1, "a2000003", TRACK_SCANNED, NULL, NULL, NULL, NULL,
	    NULL, NULL, NULL, NULL },
	{ T0 + 21 * S, "a2000003", TRACK_BOUNCED, NULL, "eve@example.org",
	    NULL, NULL, "deliver", "mx.example.org[192.0.2.9]:25", "5.1.1",
	    "550 no such user" },
	{ T0 + 22 * S, "a2000003", TRACK_REMOVED, NULL, NULL, NULL, NULL,
	    NULL, NULL, NULL, NULL },
	/* 4: Latin-1 letters in sender and subject, deleted by a rule. */
	{ T0 + 30 * S, "a2000004", TRACK_RECEIVED, "Ünïcode@Example.de", NULL,
	    "Grüße aus MÜNCHEN", NULL, NULL, NULL, NULL, NULL },
	{ T0 + 31 * S, "a2000004", TRACK_RULE_MATCHED, NULL, NULL, NULL,
	    "Attachment *.exe", "delete", NULL, NULL, NULL },
	{ T0 + 31 * S, "a2000004", TRACK_SCANNED, NULL, NULL, NULL,
	    "Attachment *.exe", "delete", NULL, NULL, NULL },
	{ T0 + 31 * S, "a2000004", TRACK_DELETED, NULL, "frank@example.de",
	    NULL, "Attachment *.exe", "delete", NULL, NULL, NULL },
	/* 5: expires, NDR sent. */
	{ T0 + 100 * S, "b1000005", TRACK_RECEIVED, "mallory@evil.test",
	    NULL, "hello_world", NULL, NULL, NULL, NULL, NULL },
	{ T0 + 101 * S, "b1000005", TRACK_SCANNED, NULL, NULL, NULL, NULL,
	    NULL, NULL, NULL, NULL },
	{ T0 + 200 * S, "b1000005", TRACK_EXPIRED, NULL, "bob@example.jp",
	    NULL, NULL, "deliver", NULL, "4.4.7", "delivery time expired" },
	{ T0 + 200 * S, "b1000005", TRACK_NDR_SENT, NULL, NULL, NULL, NULL,
	    NULL, NULL, NULL, "ndr=2222222222222222" },
};

/* collect: query results as "N.kind" words (N: last qid character). */
struct collect {
	char	 s[2048];
	int	 n;
};

static bool
collect_row(const struct track_row *r, void *arg)
{
	struct collect	*c = arg;
	char		 w[64];

	snprintf(w, sizeof(w), "%s%c.%s", c->n ? " " : "",
	    r->qid[strlen(r->qid) - 1], track_kind_name(r->kind));
	str_lcat(c->s, w, sizeof(c->s));
	c->n++;
	return true;
}

/* query: run filter f and return the collected words. */
static const char *
query(struct track *t, const struct track_filter *f)
{
	static struct collect	 c;

	memset(&c, 0, sizeof(c));
	if (!track_query(t, f, collect_row, &c))
		snprintf(c.s, sizeof(c.s), "ERROR %s", track_error(t));
	return c.s;
}

/* open_known: a fresh database with the known messages. */
static struct track *
open_known(const char *name)
{
	struct track	*t;
	char		 err[256];

	unlink(tpath(name));
	t = track_open(tpath(name), err, sizeof(err));
	CHECKF(t != NULL, "%s", err);
	if (t == NULL)
		exit(1);
	CHECKF(track_add_batch(t, known, nitems(known)), "%s",
	    track_error(t));
	return t;
}

static void
t_clean_fold(void)
{
	char	*s;

	s = track_clean("a\x01" "b\r\nc\x7f\xc2\x85" "d", 100);
	CHECK_STREQ(s, "a b  c  d");
	free(s);
	s = track_clean("x\xff\xc3(\xe3\x81", 100);	/* bad, bad, cut */
	CHECK_STREQ(s, "x\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd");
	free(s);
	s = track_clean("\xed\xa0\x80", 100);		/* a surrogate */
	CHECK_STREQ(s, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
	free(s);
	s = track_clean("日本語", 7);		/* cut on a boundary */
	CHECK_STREQ(s, "日本");
	free(s);
	s = track_clean("\x1b[31mred", 100);	/* no terminal escapes */
	CHECK_STREQ(s, " [31mred");
	free(s);
	CHECK(track_clean(NULL, 10) == NULL);

	s = track_fold("ÄBC Ω Ж Ё ＡＢ ŸŁĲ ß İ 会議 MiXeD");
	CHECK_STREQ(s, "äbc ω ж ё ａｂ ÿłĳ ß İ 会議 mixed");
	free(s);
}

static void
t_time_parse(void)
{
	static const struct {
		const char	*in;
		bool		 ok;
		int64_t		 want;
	} cases[] = {
		{ "1714550400", true, T0 },
		{ "0", true, 0 },
		{ "2024-05-01T08:00:00Z", true, T0 },
		{ "2024-05-01t08:00z", true, T0 },
		{ "2024-05-01 17:00:00+09:00", true, T0 },
		{ "2024-05-01T03:30-04:30", true, T0 },
		{ "2024-05-01Z", true, T0 - 8 * 3600 * S },
		{ "2024-02-29Z", true, 1709164800LL * S },
		{ "now", true, T0 + 500 * S },
		{ "-500s", true, T0 },
		{ "-2m", true, T0 + 380 * S },
		{ "-1h", true, T0 + 500 * S - 3600 * S },
		{ "-1d", true, T0 + 500 * S - 86400 * S },
		{ "-1w", true, T0 + 500 * S - 7 * 86400 * S },
		{ "2023-02-29Z", false, 0 },
		{ "2024-13-01Z", false, 0 },
		{ "2024-05-01T24:00Z", false, 0 },
		{ "2024-05-01T08:60Z", false, 0 },
		{ "2024-05-01T08:00:60Z", false, 0 },
		{ "2024-5-1", false, 0 },
		{ "2024-05-01T08", false, 0 },
		{ "2024-05-01T08:00+9", false, 0 },
		{ "2024-05-01T08:00 ", false, 0 },
		{ "1969-12-31Z", false, 0 },
		{ "", false, 0 },
		{ "-", false, 0 },
		{ "-h", false, 0 },
		{ "-5x", false, 0 },
		{ "--5s", false, 0 },
		{ "-+5s", false, 0 },
		{ "- 5s", false, 0 },
		{ "-99999999999d", false, 0 },
		{ "9999999999999", false, 0 },
		{ "12ab", false, 0 },
	};
	size_t	 i;
	int64_t	 v;
	bool	 ok;

	for (i = 0; i < nitems(cases); i++) {
		v = -1;
		ok = track_time_parse(cases[i].in, T0 + 500 * S, &v);
		CHECKF(ok == cases[i].ok, "%s", cases[i].in);
		if (ok && cases[i].ok)
			CHECKF(v == cases[i].want, "%s: %lld != %lld",
			    cases[i].in, (long long)v,
			    (long long)cases[i].want);
	}
}

static void
t_filter_set(void)
{
	struct track_filter	 f;
	char			 err[256];
	char			 big[TRACK_FILTER_STR_MAX + 2];

	memset(&f, 0, sizeof(f));
	CHECK(track_filter_set(&f, "since", "-1h", T0, err, sizeof(err)));
	CHECK_INTEQ(f.since, T0 - 3600 * S);
	CHECK(track_filter_set(&f, "until", "2024-05-01T08:00Z", T0, err,
	    sizeof(err)));
	CHECK_INTEQ(f.until, T0);
	CHECK(track_filter_set(&f, "sender", "Alice", T0, err, sizeof(err)));
	CHECK_STREQ(f.sender, "Alice");
	CHECK_INTEQ(f.exact, 0);
	CHECK(track_filter_set(&f, "rcpt-is", "bob@x", T0, err, sizeof(err)));
	CHECK_INTEQ(f.exact, TRACK_EXACT_RCPT);
	CHECK(track_filter_set(&f, "rcpt", "bob", T0, err, sizeof(err)));
	CHECK_INTEQ(f.exact, 0);
	CHECK(track_filter_set(&f, "action-is", "deliver", T0, err,
	    sizeof(err)));
	CHECK_INTEQ(f.exact, TRACK_EXACT_ACTION);
	CHECK(track_filter_set(&f, "qid-prefix", "a1", T0, err, sizeof(err)));
	CHECK(f.qid_prefix && strcmp(f.qid, "a1") == 0);
	CHECK(track_filter_set(&f, "qid", "a1000001", T0, err, sizeof(err)));
	CHECK(!f.qid_prefix);
	CHECK(track_filter_set(&f, "event", "delivered,Bounced,ndr_sent", T0,
	    err, sizeof(err)));
	CHECK_INTEQ(f.kinds, TRACK_KIND_BIT(TRACK_DELIVERED) |
	    TRACK_KIND_BIT(TRACK_BOUNCED) | TRACK_KIND_BIT(TRACK_NDR_SENT));
	CHECK(track_filter_set(&f, "limit", "10", T0, err, sizeof(err)));
	CHECK(track_filter_set(&f, "offset", "5", T0, err, sizeof(err)));
	CHECK(f.limit == 10 && f.offset == 5);
	CHECK(track_filter_set(&f, "order", "newest", T0, err, sizeof(err)));
	CHECK(f.newest_first);

	CHECK(!track_filter_set(&f, "event", "delivered,,bounced", T0, err,
	    sizeof(err)));
	CHECK(!track_filter_set(&f, "event", "nope", T0, err, sizeof(err)));
	CHECK(strstr(err, "nope") != NULL);
	CHECK(!track_filter_set(&f, "event", "", T0, err, sizeof(err)));
	CHECK(!track_filter_set(&f, "limit", "-1", T0, err, sizeof(err)));
	CHECK(!track_filter_set(&f, "limit", "1x", T0, err, sizeof(err)));
	CHECK(!track_filter_set(&f, "order", "up", T0, err, sizeof(err)));
	CHECK(!track_filter_set(&f, "since", "yesterday", T0, err,
	    sizeof(err)));
	CHECK(strncmp(err, "since: bad time", 15) == 0);
	CHECK(!track_filter_set(&f, "qid", "", T0, err, sizeof(err)));
	CHECK(!track_filter_set(&f, "bogus", "1", T0, err, sizeof(err)));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(!track_filter_set(&f, "subject", big, T0, err, sizeof(err)));
}

/* seed 26: every filter alone and combined on the known messages. */
static void
t_seed26_queries(void)
{
	static const struct {
		const char		*name;
		struct track_filter	 f;
		const char		*want;
	} cases[] = {
		{ "all", { 0 }, "1.received 1.scanned 1.delivered 1.deferred "
		    "2.received 2.rule_matched 2.scanned 2.quarantined "
		    "3.received 3.scanned 3.bounced 3.removed 4.received "
		    "4.rule_matched 4.scanned 4.deleted 1.delivered "
		    "5.received 5.scanned 5.expired 5.ndr_sent" },
		{ "range", { .since = T0 + 10 * S, .until = T0 + 20 * S },
		    "2.received 2.rule_matched 2.scanned 2.quarantined" },
		{ "range edge µs", { .since = T0 + 20 * S,
		    .until = T0 + 20 * S + 1 }, "3.received" },
		{ "until first", { .until = T0 + 1 }, "1.received" },
		{ "since last", { .since = T0 + 200 * S },
		    "5.expired 5.ndr_sent" },
		{ "since after", { .since = T0 + 200 * S + 1 }, "" },
		{ "sender substr", { .sender = "ALICE" },
		    "1.received 1.scanned 1.delivered 1.deferred 1.delivered" },
		{ "sender ja", { .sender = "山田" },
		    "2.received 2.rule_matched 2.scanned 2.quarantined" },
		{ "sender ja domain", { .sender = "@例え.JP" },
		    "2.received 2.rule_matched 2.scanned 2.quarantined" },
		{ "sender exact latin1", { .sender = "üNÏCODE@example.DE",
		    .exact = TRACK_EXACT_SENDER },
		    "4.received 4.rule_matched 4.scanned 4.deleted" },
		{ "sender exact partial", { .sender = "Ünïcode",
		    .exact = TRACK_EXACT_SENDER }, "" },
		{ "null sender", { .sender = "", .exact = TRACK_EXACT_SENDER },
		    "3.received 3.scanned 3.bounced 3.removed" },
		{ "rcpt substr", { .rcpt = "EXAMPLE.jp" },
		    "1.delivered 1.deferred 1.delivered 5.expired" },
		{ "rcpt exact", { .rcpt = "dave@example.com",
		    .exact = TRACK_EXACT_RCPT }, "2.quarantined" },
		{ "subject %", { .subject = "%" },
		    "3.received 3.scanned 3.bounced 3.removed" },
		{ "subject 100%", { .subject = "100% OFF" },
		    "3.received 3.scanned 3.bounced 3.removed" },
		{ "subject _", { .subject = "_" }, "3.received 3.scanned "
		    "3.bounced 3.removed 5.received 5.scanned 5.expired "
		    "5.ndr_sent" },
		{ "subject _ not a wildcard", { .subject = "y_r" }, "" },
		{ "subject % not a wildcard", { .subject = "quarterly%" }, "" },
		{ "subject %_", { .subject = "[50%_now]" },
		    "3.received 3.scanned 3.bounced 3.removed" },
		{ "subject ja", { .subject = "議事録" },
		    "2.received 2.rule_matched 2.scanned 2.quarantined" },
		{ "subject fullwidth case", { .subject = "ａｂｃ" },
		    "2.received 2.rule_matched 2.scanned 2.quarantined" },
		{ "subject latin1 case", { .subject = "grüße aus münchen",
		    .exact = TRACK_EXACT_SUBJECT },
		    "4.received 4.rule_matched 4.scanned 4.deleted" },
		{ "subject quote", { .subject = "'; DROP TABLE track_event;--" },
		    "" },
		{ "qid exact", { .qid = "a1000002" },
		    "2.received 2.rule_matched 2.scanned 2.quarantined" },
		{ "qid exact is not prefix", { .qid = "a1" }, "" },
		{ "qid prefix", { .qid = "a2", .qid_prefix = true },
		    "3.received 3.scanned 3.bounced 3.removed 4.received "
		    "4.rule_matched 4.scanned 4.deleted" },
		{ "qid prefix whole", { .qid = "b1000005", .qid_prefix = true },
		    "5.received 5.scanned 5.expired 5.ndr_sent" },
		{ "qid prefix high byte", { .qid = "\xff", .qid_prefix = true },
		    "" },
		{ "rule ja", { .rule = "スパム" },
		    "2.rule_matched 2.scanned" },
		{ "rule exact", { .rule = "ATTACHMENT *.EXE",
		    .exact = TRACK_EXACT_RULE },
		    "4.rule_matched 4.scanned 4.deleted" },
		{ "rule * literal", { .rule = "*" },
		    "4.rule_matched 4.scanned 4.deleted" },
		{ "action passed", { .action = TRACK_ACTION_PASSED,
		    .exact = TRACK_EXACT_ACTION },
		    "1.scanned 3.scanned 5.scanned" },
		{ "action substr", { .action = "quarantine" },
		    "2.rule_matched 2.scanned 2.quarantined" },
		{ "kinds", { .kinds = TRACK_KIND_BIT(TRACK_DELIVERED) |
		    TRACK_KIND_BIT(TRACK_BOUNCED) },
		    "1.delivered 3.bounced 1.delivered" },
		{ "combined sender+kind", { .sender = "example",
		    .kinds = TRACK_KIND_BIT(TRACK_DELIVERED) |
		    TRACK_KIND_BIT(TRACK_DELETED) },
		    "1.delivered 4.deleted 1.delivered" },
		{ "combined rcpt+since", { .rcpt = "bob",
		    .since = T0 + 3 * S }, "5.expired" },
		{ "combined all", { .since = T0, .until = T0 + 300 * S,
		    .sender = "alice", .rcpt = "carol", .subject = "report",
		    .action = "deliver", .qid = "a1", .qid_prefix = true,
		    .kinds = TRACK_KIND_BIT(TRACK_DELIVERED) },
		    "1.delivered" },
		{ "combined excludes", { .sender = "alice", .rule = "スパム" },
		    "" },
		{ "limit", { .limit = 3 }, "1.received 1.scanned 1.delivered" },
		{ "limit offset", { .limit = 2, .offset = 2 },
		    "1.delivered 1.deferred" },
		{ "newest", { .limit = 3, .newest_first = true },
		    "5.ndr_sent 5.expired 5.scanned" },
		{ "newest offset", { .limit = 2, .offset = 3,
		    .newest_first = true, .qid = "b", .qid_prefix = true },
		    "5.received" },
		{ "offset past end", { .offset = 1000 }, "" },
	};
	struct track	*t = open_known("q.db");
	size_t		 i;
	const char	*got;

	for (i = 0; i < nitems(cases); i++) {
		got = query(t, &cases[i].f);
		CHECKF(strcmp(got, cases[i].want) == 0, "%s: got \"%s\"",
		    cases[i].name, got);
	}
	track_close(t);
}

/* first_row: the first row of a query, copied. */
struct first {
	int		 n;
	char		 sender[128], subject[128], action[128], rcpt[128];
	bool		 rcpt_null;
	int64_t		 time;
};

static bool
first_row(const struct track_row *r, void *arg)
{
	struct first	*f = arg;

	if (f->n++ > 0)
		return true;
	str_lcpy(f->sender, r->sender ? r->sender : "(null)",
	    sizeof(f->sender));
	str_lcpy(f->subject, r->subject ? r->subject : "(null)",
	    sizeof(f->subject));
	str_lcpy(f->action, r->action ? r->action : "(null)",
	    sizeof(f->action));
	str_lcpy(f->rcpt, r->rcpt ? r->rcpt : "(null)", sizeof(f->rcpt));
	f->rcpt_null = r->rcpt == NULL;
	f->time = r->time;
	return true;
}

/* Row contents: the message's sender and subject on every event. */
static void
t_row_fields(void)
{
	struct track		*t = open_known("f.db");
	struct track_filter	 f = { .qid = "a1000002",
	    .kinds = TRACK_KIND_BIT(TRACK_QUARANTINED) };
	struct first		 r = { 0 };
	struct track_event	 e = { 0, "c0000006", TRACK_RECEIVED,
	    "x@y", NULL, "bell\a and \x1b[2J clear", NULL, NULL, NULL, NULL,
	    NULL };
	int64_t			 before;

	CHECK(track_query(t, &f, first_row, &r));
	CHECK_INTEQ(r.n, 1);
	CHECK_STREQ(r.sender, "山田@例え.jp");
	CHECK_STREQ(r.subject, "会議の議事録 ＡＢＣ");
	CHECK_STREQ(r.rcpt, "Dave@Example.COM");
	CHECK_STREQ(r.action, "quarantine spam");

	before = track_now();
	CHECK(track_add(t, &e));
	memset(&f, 0, sizeof(f));
	f.qid = "c0000006";
	memset(&r, 0, sizeof(r));
	CHECK(track_query(t, &f, first_row, &r));
	CHECK_STREQ(r.subject, "bell  and  [2J clear");
	CHECK(r.rcpt_null);
	CHECK(r.time >= before && r.time <= track_now());
	track_close(t);
}

/* seed 30: a scan that matched no rule reads "Passed sekisho scan". */
static void
t_seed30_passed_sekisho_scan(void)
{
	struct track		*t = open_known("p.db");
	struct track_filter	 f = { .qid = "a2000003",
	    .kinds = TRACK_KIND_BIT(TRACK_SCANNED) };
	struct first		 r = { 0 };

	CHECK(track_query(t, &f, first_row, &r));
	CHECK_INTEQ(r.n, 1);
	CHECK_STREQ(r.action, "Passed sekisho scan");
	/* A scan with a rule keeps its action. */
	memset(&r, 0, sizeof(r));
	f.qid = "a2000004";
	CHECK(track_query(t, &f, first_row, &r));
	CHECK_STREQ(r.action, "delete");
	track_close(t);
}

/* collect_out: summary rows as "N:rcpt:kind:action:scan" words. */
static bool
collect_out(const struct track_outcome *o, void *arg)
{
	struct collect	*c = arg;
	char		 w[256];

	snprintf(w, sizeof(w), "%s%c:%s:%s:%s:%s", c->n ? " | " : "",
	    o->qid[strlen(o->qid) - 1], o->rcpt ? o->rcpt : "-",
	    track_kind_name(o->kind), o->action ? o->action : "-",
	    o->scan_action ? o->scan_action : "-");
	str_lcat(c->s, w, sizeof(c->s));
	c->n++;
	return true;
}

/* The message summary: last event per recipient, with the scan verdict. */
static void
t_query_messages(void)
{
	static const struct {
		const char		*name;
		struct track_filter	 f;
		const char		*want;
	} cases[] = {
		{ "one", { .qid = "a1000001" },
		    "1:-:scanned:Passed sekisho scan:Passed sekisho scan | "
		    "1:bob@example.jp:delivered:deliver:Passed sekisho scan | "
		    "1:carol@example.jp:delivered:deliver:Passed sekisho scan" },
		{ "quarantined", { .sender = "山田" },
		    "2:-:scanned:quarantine spam:quarantine spam | "
		    "2:Dave@Example.COM:quarantined:quarantine spam:"
		    "quarantine spam" },
		{ "by rcpt", { .rcpt = "bob" },
		    "1:-:scanned:Passed sekisho scan:Passed sekisho scan | "
		    "1:bob@example.jp:delivered:deliver:Passed sekisho scan | "
		    "1:carol@example.jp:delivered:deliver:Passed sekisho scan | "
		    "5:-:ndr_sent:-:Passed sekisho scan | "
		    "5:bob@example.jp:expired:deliver:Passed sekisho scan" },
		{ "limit counts messages", { .limit = 1, .offset = 2 },
		    "3:-:removed:-:Passed sekisho scan | "
		    "3:eve@example.org:bounced:deliver:Passed sekisho scan" },
		{ "newest", { .limit = 1, .newest_first = true },
		    "5:-:ndr_sent:-:Passed sekisho scan | "
		    "5:bob@example.jp:expired:deliver:Passed sekisho scan" },
		{ "none", { .subject = "no such subject" }, "" },
	};
	struct track	*t = open_known("m.db");
	struct collect	 c;
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		memset(&c, 0, sizeof(c));
		CHECKF(track_query_messages(t, &cases[i].f, collect_out, &c),
		    "%s: %s", cases[i].name, track_error(t));
		CHECKF(strcmp(c.s, cases[i].want) == 0, "%s: got \"%s\"",
		    cases[i].name, c.s);
	}
	track_close(t);
}

/* count_rows: how many rows a filter returns. */
static int
count_rows(struct track *t, const struct track_filter *f)
{
	struct collect	 c;

	memset(&c, 0, sizeof(c));
	if (!track_query(t, f, collect_row, &c))
		return -1;
	return c.n;
}

static bool
stop_after_two(const struct track_row *r, void *arg)
{
	return ++*(int *)arg < 2;
}

/* Bad input is an error with text, never an abort; batches are atomic. */
static void
t_bad_input(void)
{
	struct track		*t = open_known("b.db");
	struct track_filter	 f = { 0 };
	struct track_event	 ev[2] = {
		{ T0, "d0000007", TRACK_RECEIVED, "a@b", NULL, "s", NULL,
		    NULL, NULL, NULL, NULL },
		{ T0, "d0000007", (enum track_kind)99, NULL, NULL, NULL, NULL,
		    NULL, NULL, NULL, NULL },
	};
	char			 longq[TRACK_QID_MAX + 2];
	char			 big[TRACK_FILTER_STR_MAX + 2];
	int			 n = 0;

	CHECK(!track_add_batch(t, ev, 2));
	CHECK(strstr(track_error(t), "invalid event kind") != NULL);
	f.qid = "d0000007";
	CHECK_INTEQ(count_rows(t, &f), 0);	/* none of the batch */
	ev[1].kind = TRACK_SCANNED;
	ev[1].qid = NULL;
	CHECK(!track_add_batch(t, ev, 2));
	CHECK(strstr(track_error(t), "queue id") != NULL);
	memset(longq, 'a', sizeof(longq) - 1);
	longq[sizeof(longq) - 1] = '\0';
	ev[1].qid = longq;
	CHECK(!track_add(t, &ev[1]));
	ev[1].qid = "d0000007";
	ev[1].time = -5;
	CHECK(!track_add(t, &ev[1]));
	CHECK(track_add_batch(t, ev, 0));
	CHECK_INTEQ(count_rows(t, &f), 0);

	memset(&f, 0, sizeof(f));
	f.since = T0 + 5;
	f.until = T0 + 5;
	CHECK_INTEQ(count_rows(t, &f), -1);
	CHECK(strstr(track_error(t), "time range") != NULL);
	f.until = 0;
	f.since = -1;
	CHECK_INTEQ(count_rows(t, &f), -1);
	memset(&f, 0, sizeof(f));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	f.subject = big;
	CHECK_INTEQ(count_rows(t, &f), -1);
	CHECK(strstr(track_error(t), "longer") != NULL);
	f.subject = "\xff\xfe";		/* bad UTF-8: cleaned, no match */
	CHECK_INTEQ(count_rows(t, &f), 0);
	f.subject = NULL;
	f.limit = UINT64_MAX;
	CHECK_INTEQ(count_rows(t, &f), -1);

	/* The callback stops the query: still a success. */
	memset(&f, 0, sizeof(f));
	CHECK(track_query(t, &f, stop_after_two, &n));
	CHECK_INTEQ(n, 2);
	CHECK_INTEQ(count_rows(t, &f), (int)nitems(known));
	track_close(t);
}

/* Purge by age, in slices, and what stays. */
static void
t_purge(void)
{
	struct track		*t = open_known("g.db");
	struct track_filter	 f = { 0 };
	struct collect		 c;
	uint64_t		 n = 99;

	/* Everything before T0+25s except nothing newer. */
	CHECK(track_purge(t, (time_t)((T0 + 25 * S) / S), 0, &n));
	CHECK_INTEQ(n, 12);
	CHECK_STREQ(query(t, &f), "4.received 4.rule_matched 4.scanned "
	    "4.deleted 1.delivered 5.received 5.scanned 5.expired 5.ndr_sent");
	/* Message 1 keeps its sender (an event is left); 2 and 3 are gone. */
	f.sender = "alice";
	CHECK_STREQ(query(t, &f), "1.delivered");
	f.sender = "山田";
	CHECK_STREQ(query(t, &f), "");
	/* In slices of at most 2. */
	memset(&f, 0, sizeof(f));
	CHECK(track_purge(t, (time_t)((T0 + 150 * S) / S), 2, &n));
	CHECK_INTEQ(n, 2);
	CHECK(track_purge(t, (time_t)((T0 + 150 * S) / S), 2, &n));
	CHECK_INTEQ(n, 2);
	CHECK(track_purge(t, (time_t)((T0 + 150 * S) / S), 2, &n));
	CHECK_INTEQ(n, 2);
	CHECK(track_purge(t, (time_t)((T0 + 150 * S) / S), 2, &n));
	CHECK_INTEQ(n, 1);
	CHECK_STREQ(query(t, &f), "5.expired 5.ndr_sent");
	memset(&c, 0, sizeof(c));
	CHECK(track_query_messages(t, &f, collect_out, &c));
	CHECK_STREQ(c.s, "5:-:ndr_sent:-:- | "
	    "5:bob@example.jp:expired:deliver:-");
	CHECK(track_purge(t, 0, 0, &n));
	CHECK_INTEQ(n, 0);
	CHECK(!track_purge(t, -1, 0, &n));
	track_close(t);
}

/* raw: run one SQL statement on a file outside the tracking code. */
static void
raw(const char *path, const char *sql)
{
	sqlite3	*db;

	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECKF(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s",
	    sql, sqlite3_errmsg(db));
	sqlite3_close(db);
}

/* Reopen; schema versions; files that are not tracking logs. */
static void
t_reopen(void)
{
	struct track		*t, *ro;
	struct track_filter	 f = { 0 };
	char			 err[512];
	FILE			*fp;

	t = open_known("r.db");
	track_close(t);
	t = track_open(tpath("r.db"), err, sizeof(err));
	CHECKF(t != NULL, "%s", err);
	if (t != NULL) {
		CHECK_INTEQ(count_rows(t, &f), (int)nitems(known));
		ro = track_open_readonly(tpath("r.db"), err, sizeof(err));
		CHECKF(ro != NULL, "%s", err);
		if (ro != NULL) {
			CHECK_INTEQ(count_rows(ro, &f), (int)nitems(known));
			CHECK(!track_add(ro, &known[0]));
			CHECK(strstr(track_error(ro), "read-only") != NULL);
			CHECK(!track_purge(ro, 0, 0, NULL));
			track_close(ro);
		}
		track_close(t);
	}

	/* A newer schema is refused, for writing and for reading. */
	raw(tpath("r.db"), "UPDATE track_schema SET version = 2");
	CHECK(track_open(tpath("r.db"), err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "schema version 2 is newer than this program "
	    "supports (1)") != NULL, "%s", err);
	CHECK(track_open_readonly(tpath("r.db"), err, sizeof(err)) == NULL);
	CHECK(strstr(err, "newer") != NULL);
	raw(tpath("r.db"), "UPDATE track_schema SET version = 1");
	t = track_open(tpath("r.db"), err, sizeof(err));
	CHECKF(t != NULL, "%s", err);
	track_close(t);

	/* Another program's database. */
	raw(tpath("other.db"), "CREATE TABLE x (y)");
	CHECK(track_open(tpath("other.db"), err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "not a sekisho tracking log") != NULL, "%s", err);
	/* Not a database at all. */
	fp = fopen(tpath("junk.db"), "w");
	CHECK(fp != NULL);
	if (fp != NULL) {
		fputs("this is not an SQLite file, just some text......"
		    "................................................", fp);
		fclose(fp);
	}
	CHECK(track_open(tpath("junk.db"), err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "junk.db") != NULL, "%s", err);
	/* Read-only of nothing; a directory that does not exist. */
	CHECK(track_open_readonly(tpath("none.db"), err, sizeof(err)) == NULL);
	CHECK(track_open(tpath("no/such/dir.db"), err, sizeof(err)) == NULL);
	CHECK(strstr(err, "no/such/dir.db") != NULL);
	/* An empty file becomes a tracking log. */
	fp = fopen(tpath("empty.db"), "w");
	if (fp != NULL)
		fclose(fp);
	t = track_open(tpath("empty.db"), err, sizeof(err));
	CHECKF(t != NULL, "%s", err);
	track_close(t);
}

/* mk_events: n events, 5 per message (like the queue logs them). */
static struct track_event *
mk_events(size_t n, int64_t t0, char (*qids)[17])
{
	static const enum track_kind k[5] = { TRACK_RECEIVED, TRACK_SCANNED,
	    TRACK_DELIVERED, TRACK_DELIVERED, TRACK_REMOVED };
	struct track_event	*ev;
	size_t			 i;

	ev = calloc(n, sizeof(*ev));
	if (ev == NULL)
		abort();
	for (i = 0; i < n; i++) {
		snprintf(qids[i / 5], 17, "%016zx", (size_t)t0 + i / 5);
		ev[i].time = t0 + (int64_t)i;
		ev[i].qid = qids[i / 5];
		ev[i].kind = k[i % 5];
		if (ev[i].kind == TRACK_RECEIVED) {
			ev[i].sender = "bulk-sender@example.com";
			ev[i].subject = "定期レポート weekly report";
		}
		if (ev[i].kind == TRACK_DELIVERED) {
			ev[i].rcpt = i % 5 == 2 ? "one@example.jp" :
			    "two@example.jp";
			ev[i].action = "deliver";
			ev[i].relay = "mx.example.jp[192.0.2.7]:25";
			ev[i].dsn = "2.0.0";
			ev[i].detail = "250 2.0.0 ok queued as ABCDEF";
		}
	}
	return ev;
}

/* elapsed: seconds since a. */
static double
elapsed(const struct timespec *a)
{
	struct timespec	 b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) +
	    (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

/* A batch of 10,000 events, timed; then per-message and single commits. */
static void
t_batch_rate(void)
{
	enum { N = 10000 };
	struct track		*t;
	struct track_event	*ev;
	struct track_filter	 f = { 0 };
	struct timespec		 a;
	char			 err[256], (*qids)[17];
	double			 s1, s2, s3, sq;
	size_t			 i;

	qids = calloc(3 * N / 5, 17);
	if (qids == NULL)
		abort();
	unlink(tpath("rate.db"));
	t = track_open(tpath("rate.db"), err, sizeof(err));
	CHECKF(t != NULL, "%s", err);
	if (t == NULL)
		return;
	ev = mk_events(N, T0, qids);
	clock_gettime(CLOCK_MONOTONIC, &a);
	CHECKF(track_add_batch(t, ev, N), "%s", track_error(t));
	s1 = elapsed(&a);
	free(ev);

	/* One transaction per message (5 events), as the queue would. */
	ev = mk_events(N, T0 + N, qids + N / 5);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < N; i += 5)
		CHECK(track_add_batch(t, ev + i, 5));
	s2 = elapsed(&a);
	free(ev);

	/* One transaction per event. */
	ev = mk_events(N, T0 + 2 * N, qids + 2 * N / 5);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < N; i++)
		CHECK(track_add(t, &ev[i]));
	s3 = elapsed(&a);
	free(ev);

	clock_gettime(CLOCK_MONOTONIC, &a);
	f.rcpt = "two@example.jp";
	f.exact = TRACK_EXACT_RCPT;
	CHECK_INTEQ(count_rows(t, &f), 3 * N / 5);
	f.exact = 0;
	f.rcpt = NULL;
	f.subject = "レポート";
	f.since = T0 + N;
	f.until = T0 + 2 * N;
	CHECK_INTEQ(count_rows(t, &f), N);
	sq = elapsed(&a);
	fprintf(stderr, "track rate: one batch of %d: %.3f s (%.0f events/s); "
	    "per message (5/txn): %.3f s (%.0f events/s); one per txn: "
	    "%.3f s (%.0f events/s); 2 queries over %d rows: %.3f s\n", N, s1,
	    N / s1, s2, N / s2, s3, N / s3, 3 * N, sq);
	track_close(t);
	free(qids);
}

/*
 * A reader in another process while this one writes: every query sees a
 * whole number of batches (WAL snapshots), never an error or a block.
 */
static void
t_concurrent_reader(void)
{
	enum { BATCH = 200, NBATCH = 40 };
	struct track		*t;
	struct track_event	*ev;
	char			 err[256], (*qids)[17], c;
	int			 p[2], status, i;
	pid_t			 pid;

	unlink(tpath("wal.db"));
	t = track_open(tpath("wal.db"), err, sizeof(err));
	CHECKF(t != NULL, "%s", err);
	if (t == NULL || pipe(p) == -1)
		return;
	qids = calloc(BATCH * NBATCH / 5, 17);
	if (qids == NULL)
		abort();
	ev = mk_events(BATCH * NBATCH, T0, qids);
	if ((pid = fork()) == -1)
		abort();
	if (pid == 0) {
		struct track		*ro;
		struct track_filter	 f = { 0 };
		int			 n, last = 0, reads = 0, bad = 0;
		time_t			 deadline = time(NULL) + 30;

		close(p[1]);
		ro = track_open_readonly(tpath("wal.db"), err, sizeof(err));
		if (ro == NULL) {
			fprintf(stderr, "reader: %s\n", err);
			_exit(2);
		}
		(void)read(p[0], &c, 1);	/* the writer has started */
		do {
			n = count_rows(ro, &f);
			reads++;
			if (n < 0 || n % BATCH != 0 || n < last) {
				fprintf(stderr, "reader: %d rows (%s)\n", n,
				    track_error(ro));
				bad++;
			}
			last = n;
		} while (n < BATCH * NBATCH && bad == 0 &&
		    time(NULL) < deadline);
		fprintf(stderr, "track wal: reader made %d queries while the "
		    "writer wrote\n", reads);
		track_close(ro);
		_exit(bad == 0 && reads > 1 && n == BATCH * NBATCH ? 0 : 1);
	}
	close(p[0]);
	for (i = 0; i < NBATCH; i++) {
		CHECKF(track_add_batch(t, ev + i * BATCH, BATCH), "%s",
		    track_error(t));
		if (i == 0)
			(void)write(p[1], "x", 1);
		usleep(2000);
	}
	close(p[1]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECKF(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d",
	    status);
	free(ev);
	free(qids);
	track_close(t);
}

static void
t_setup(void)
{
	str_lcpy(tdir, "/tmp/test_track.XXXXXX", sizeof(tdir));
	if (mkdtemp(tdir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	setenv("TZ", "UTC", 1);
	tzset();
}

static void
t_teardown(void)
{
	test_rmtree(tdir);
}

TEST_MAIN(t_setup, t_clean_fold, t_time_parse, t_filter_set,
    t_seed26_queries, t_row_fields, t_seed30_passed_sekisho_scan,
    t_query_messages, t_bad_input, t_purge, t_reopen, t_batch_rate,
    t_concurrent_reader, t_teardown)
