/*
 * test_scan_proto.c: the scanner's answer to the queue (common/scan_proto.c):
 * a round trip through a real channel, and every check of the decoder.
 */
#include <sys/socket.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "scan_proto.h"
#include "test.h"
#include "xmalloc.h"

static struct ipc_chan *tx, *rx;

/* channels: a blocking pair of channels. */
static void
channels(void)
{
	int	 sv[2];

	if (ipc_socketpair(sv) == -1)
		abort();
	tx = ipc_chan_new(NULL, sv[0], SCAN_PROTO_MAX_PAYLOAD, NULL, NULL, NULL);
	rx = ipc_chan_new(NULL, sv[1], SCAN_PROTO_MAX_PAYLOAD, NULL, NULL, NULL);
}

/* sample: a reply with two groups and one notification. */
static void
sample(struct scan_reply *r)
{
	static uint32_t g0[] = { 0, 2 }, g1[] = { 1 };
	static char *bcc[] = { "archive@example.com" };
	static char *to[] = { "postmaster@example.com" };
	static struct scan_hit hits[] = { { "社外秘", "tag_subject, bcc",
	    "subject (policy.ini:12)" } };
	static struct scan_group groups[2];
	static struct scan_notif notif;

	memset(r, 0, sizeof(*r));
	memset(groups, 0, sizeof(groups));
	r->status = SCAN_STATUS_OK;
	r->reason = "";
	r->subject = "件名 subject";
	r->usec = 1234;
	r->verdict = SCAN_VERDICT_SPAM | SCAN_VERDICT_VIRUS;
	groups[0].rcpts = g0;
	groups[0].nrcpts = 2;
	groups[0].intercept = SCAN_DELIVER;
	groups[0].intercept_arg = "";
	groups[0].intercept_rule = "";
	groups[0].final_text = "Passed sekisho scan";
	groups[0].limits = "";
	groups[1].rcpts = g1;
	groups[1].nrcpts = 1;
	groups[1].intercept = SCAN_QUARANTINE;
	groups[1].intercept_arg = "spam";
	groups[1].intercept_rule = "社外秘";
	groups[1].final_text = "quarantine spam";
	groups[1].modified = true;
	groups[1].content.off = 10;
	groups[1].content.len = 20;
	groups[1].archive = true;
	groups[1].bcc = bcc;
	groups[1].nbcc = 1;
	groups[1].hits = hits;
	groups[1].nhits = 1;
	groups[1].limits = "limits=depth";
	r->groups = groups;
	r->ngroups = 2;
	memset(&notif, 0, sizeof(notif));
	notif.kind = SCAN_NOTIFY_ADMIN;
	notif.rule = "社外秘";
	notif.to = to;
	notif.nto = 1;
	notif.body.off = 30;
	notif.body.len = 70;
	r->notifs = &notif;
	r->nnotifs = 1;
}

/* roundtrip: send r (after reqid 7), decode it for nrcpt and outsize. */
static int
roundtrip(const struct scan_reply *r, size_t nrcpt, uint64_t outsize,
    struct scan_reply *out)
{
	struct ipc_msg		*m;
	struct ipc_msg_in	*in;
	uint64_t		 reqid;
	char			 err[128];

	m = ipc_msg_new(IMSG_SCAN_RESULT, 0);
	ipc_add_u64(m, 7);
	scan_reply_encode(m, r);
	CHECK(ipc_send_sync(tx, m, 1000));
	in = ipc_recv_sync(rx, 1000);
	CHECK(in != NULL);
	if (in == NULL)
		return -1;
	CHECK(ipc_get_u64(in, &reqid) && reqid == 7);
	return scan_reply_decode(in, nrcpt, outsize, out, err, sizeof(err));
}

static void
t_roundtrip(void)
{
	struct scan_reply r, d;

	sample(&r);
	CHECK(roundtrip(&r, 3, 100, &d) == 0);
	CHECK(d.status == SCAN_STATUS_OK && d.usec == 1234);
	CHECK(d.verdict == (SCAN_VERDICT_SPAM | SCAN_VERDICT_VIRUS));
	CHECK_STREQ(d.subject, "件名 subject");
	CHECK(d.ngroups == 2 && d.nnotifs == 1);
	if (d.ngroups == 2 && d.nnotifs == 1) {
		CHECK(d.groups[0].nrcpts == 2 && d.groups[0].rcpts[1] == 2);
		CHECK(d.groups[1].intercept == SCAN_QUARANTINE);
		CHECK_STREQ(d.groups[1].intercept_arg, "spam");
		CHECK_STREQ(d.groups[1].intercept_rule, "社外秘");
		CHECK(d.groups[1].modified && d.groups[1].content.off == 10 &&
		    d.groups[1].content.len == 20 && d.groups[1].archive);
		CHECK(d.groups[1].nbcc == 1 &&
		    strcmp(d.groups[1].bcc[0], "archive@example.com") == 0);
		CHECK(d.groups[1].nhits == 1);
		CHECK_STREQ(d.groups[1].hits[0].action, "tag_subject, bcc");
		CHECK_STREQ(d.groups[1].hits[0].conds,
		    "subject (policy.ini:12)");
		CHECK_STREQ(d.groups[1].limits, "limits=depth");
		CHECK(d.notifs[0].kind == SCAN_NOTIFY_ADMIN &&
		    d.notifs[0].body.off == 30 && d.notifs[0].body.len == 70);
	}
	scan_reply_clear(&d);
	/* A failure carries no groups. */
	memset(&r, 0, sizeof(r));
	scan_reply_fail(&r, "scan worker killed by signal 9");
	CHECK(roundtrip(&r, 3, 0, &d) == 0);
	CHECK(d.status == SCAN_STATUS_FAILED && d.ngroups == 0 &&
	    d.verdict == 0);
	CHECK_STREQ(d.reason, "scan worker killed by signal 9");
	scan_reply_clear(&d);
	scan_reply_clear(&r);
}

/* Every recipient in exactly one group, slices inside the file (seed 9). */
/* Text from the message longer than the limit is cut at a character. */
static void
t_long_text(void)
{
	struct scan_reply r, d;
	char	*subject, *conds;
	size_t	 i, n = 3 * SCAN_PROTO_MAX_TEXT;

	sample(&r);
	/* "s" then 3-byte characters: the limit falls inside one. */
	subject = xmalloc(n + 1);
	subject[0] = 's';
	for (i = 1; i + 3 <= n; i += 3)
		memcpy(subject + i, "\xe4\xbb\xb6", 3);
	subject[i] = '\0';
	conds = xmalloc(n + 1);
	memset(conds, 'c', n);
	conds[n] = '\0';
	r.subject = subject;
	r.groups[1].hits[0].conds = conds;
	CHECK(roundtrip(&r, 3, 100, &d) == 0);
	CHECK(d.subject != NULL && strlen(d.subject) == SCAN_PROTO_MAX_TEXT - 
	    (SCAN_PROTO_MAX_TEXT - 1) % 3 &&
	    strncmp(d.subject, subject, strlen(d.subject)) == 0);
	if (d.ngroups == 2 && d.groups[1].nhits == 1)
		CHECK(strlen(d.groups[1].hits[0].conds) ==
		    SCAN_PROTO_MAX_TEXT);
	scan_reply_clear(&d);
	r.groups[1].hits[0].conds = "subject (policy.ini:12)";
	free(subject);
	free(conds);
}

static void
t_rejects(void)
{
	struct scan_reply r, d;
	static uint32_t dup[] = { 0, 0 }, big[] = { 5 };
	uint32_t *save;

	sample(&r);
	/* A recipient left out. */
	CHECK(roundtrip(&r, 4, 100, &d) == -1 && d.ngroups == 0);
	/* An index past the envelope. */
	CHECK(roundtrip(&r, 2, 100, &d) == -1);
	/* A slice past the output file. */
	CHECK(roundtrip(&r, 3, 99, &d) == -1);
	/* A recipient in two groups. */
	save = r.groups[0].rcpts;
	r.groups[0].rcpts = dup;
	CHECK(roundtrip(&r, 3, 100, &d) == -1);
	r.groups[0].rcpts = big;
	r.groups[0].nrcpts = 1;
	CHECK(roundtrip(&r, 3, 100, &d) == -1);
	r.groups[0].rcpts = save;
	r.groups[0].nrcpts = 2;
	/* Quarantine without an area. */
	r.groups[1].intercept_arg = "";
	CHECK(roundtrip(&r, 3, 100, &d) == -1);
	r.groups[1].intercept_arg = "spam";
	/* Invalid UTF-8 in a text. */
	r.groups[1].final_text = "bad \xff";
	CHECK(roundtrip(&r, 3, 100, &d) == -1);
	r.groups[1].final_text = "quarantine spam";
	/* A notification without recipients. */
	r.notifs[0].nto = 0;
	CHECK(roundtrip(&r, 3, 100, &d) == -1);
	r.notifs[0].nto = 1;
	/* An intercept out of range. */
	r.groups[0].intercept = 9;
	CHECK(roundtrip(&r, 3, 100, &d) == -1);
	r.groups[0].intercept = SCAN_DELIVER;
	/* A verdict flag nobody defined. */
	r.verdict = 0x80;
	CHECK(roundtrip(&r, 3, 100, &d) == -1);
	r.verdict = SCAN_VERDICT_VIRUS;
	CHECK(roundtrip(&r, 3, 100, &d) == 0 &&
	    d.verdict == SCAN_VERDICT_VIRUS);
	scan_reply_clear(&d);
	/* A failed scan found nothing. */
	memset(&r, 0, sizeof(r));
	scan_reply_fail(&r, "worker crashed");
	r.verdict = SCAN_VERDICT_SPAM;
	CHECK(roundtrip(&r, 3, 0, &d) == -1);
	scan_reply_clear(&r);
}

/* Trailing bytes or a cut payload are refused. */
static void
t_truncated(void)
{
	struct ipc_msg		*m;
	struct ipc_msg_in	*in;
	struct scan_reply	 r, d;
	uint64_t		 reqid;
	char			 err[128];

	sample(&r);
	m = ipc_msg_new(IMSG_SCAN_RESULT, 0);
	ipc_add_u64(m, 1);
	scan_reply_encode(m, &r);
	ipc_add_u8(m, 0);
	CHECK(ipc_send_sync(tx, m, 1000));
	in = ipc_recv_sync(rx, 1000);
	CHECK(in != NULL && ipc_get_u64(in, &reqid));
	if (in != NULL) {
		CHECK(scan_reply_decode(in, 3, 100, &d, err, sizeof(err)) ==
		    -1);
		CHECK_STREQ(err, "malformed scan result");
	}
	m = ipc_msg_new(IMSG_SCAN_RESULT, 0);
	ipc_add_u64(m, 1);
	ipc_add_u8(m, SCAN_STATUS_OK);
	ipc_add_str(m, "");
	CHECK(ipc_send_sync(tx, m, 1000));
	in = ipc_recv_sync(rx, 1000);
	CHECK(in != NULL && ipc_get_u64(in, &reqid));
	if (in != NULL)
		CHECK(scan_reply_decode(in, 3, 100, &d, err, sizeof(err)) ==
		    -1);
}

static void
t_setup(void)
{
	channels();
}

static void
t_teardown(void)
{
	ipc_chan_free(tx);
	ipc_chan_free(rx);
}

TEST_MAIN(t_setup, t_roundtrip, t_long_text, t_rejects, t_truncated, t_teardown)
