/*
 * test_ipp_proto.c: what sekisho-smtpd and sekisho-ipprofiler say to each
 * other (common/ipp_proto.c): events and verdicts round trip through a
 * real channel, and hostile payloads built byte by byte are refused.
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "ipp_proto.h"
#include "test.h"

static struct ipc_chan *tx, *rx;

/* channels: a blocking pair of channels. */
static void
channels(void)
{
	int	 sv[2];

	if (ipc_socketpair(sv) == -1)
		abort();
	tx = ipc_chan_new(NULL, sv[0], IPC_MAX_PAYLOAD, NULL, NULL, NULL);
	rx = ipc_chan_new(NULL, sv[1], IPC_MAX_PAYLOAD, NULL, NULL, NULL);
}

/* xfer: send m, receive it on the other side. */
static struct ipc_msg_in *
xfer(struct ipc_msg *m)
{
	if (!ipc_send_sync(tx, m, 1000))
		abort();
	return ipc_recv_sync(rx, 1000);
}

static void
t_names(void)
{
	CHECK_STREQ(ipp_counter_name(IPP_C_CONNS), "connections");
	CHECK_STREQ(ipp_counter_name(IPP_C_UNKNOWN), "unknown_recipients");
	CHECK_STREQ(ipp_counter_name(IPP_C_VIRUS), "virus");
	CHECK_STREQ(ipp_counter_name(IPP_C_MAX), "?");
	CHECK_STREQ(ipp_state_name(IPP_CLEAN), "clean");
	CHECK_STREQ(ipp_state_name(IPP_APPROVED), "approved");
	CHECK_STREQ(ipp_state_name(IPP_TEMP), "temporary");
	CHECK_STREQ(ipp_state_name(IPP_PERM), "permanent");
	CHECK_STREQ(ipp_state_name(IPP_NSTATES), "?");
}

static void
t_ip_parse(void)
{
	static const struct {
		const char	*s;
		bool		 ok;
	} cases[] = {
		{ "192.0.2.7", true }, { "2001:db8::1", true },
		{ "::ffff:192.0.2.7", true }, { "192.0.2.0/24", false },
		{ "192.0.2.7/32", true }, { "2001:db8::/32", false },
		{ "", false }, { "192.0.2", false }, { "192.0.2.256", false },
		{ "localhost", false }, { "192.0.2.7 ", false },
	};
	struct netaddr	 a;
	size_t		 i;

	for (i = 0; i < nitems(cases); i++)
		CHECKF(ipp_ip_parse(&a, cases[i].s) == cases[i].ok, "%s",
		    cases[i].s);
	CHECK(ipp_ip_parse(&a, "::ffff:192.0.2.7") && netaddr_is_v4(&a));
}

static void
t_event_roundtrip(void)
{
	static const char *const ips[] = { "192.0.2.7", "2001:db8::42" };
	struct ipp_event e, d;
	struct ipc_msg_in *in;
	struct ipc_msg	*m;
	size_t		 i, k;

	for (i = 0; i < nitems(ips); i++) {
		memset(&e, 0, sizeof(e));
		e.ip = test_na(ips[i]);
		for (k = 0; k < IPP_C_MAX; k++)
			e.c[k] = (uint32_t)(k * 7 + i);
		e.c[IPP_C_RCPTS] = IPP_COUNTER_MAX;
		m = ipc_msg_new(IMSG_IPP_EVENT, 0);
		ipp_event_encode(m, &e);
		CHECK((in = xfer(m)) != NULL);
		if (in == NULL)
			continue;
		CHECK_INTEQ(in->type, IMSG_IPP_EVENT);
		CHECKF(ipp_event_decode(in, &d), "%s", ips[i]);
		CHECK(memcmp(&d.ip, &e.ip, sizeof(d.ip)) == 0);
		CHECK(memcmp(d.c, e.c, sizeof(d.c)) == 0);
		CHECK(!ipp_event_empty(&d));
	}
	memset(&e, 0, sizeof(e));
	CHECK(ipp_event_empty(&e));
	e.c[IPP_C_VIRUS] = 1;
	CHECK(!ipp_event_empty(&e));
}

static void
t_verdict_roundtrip(void)
{
	struct ipp_verdict v, d;
	struct ipc_msg_in *in;
	struct ipc_msg	*m;
	uint64_t	 reqid;
	int		 st;

	for (st = IPP_CLEAN; st < IPP_NSTATES; st++) {
		memset(&v, 0, sizeof(v));
		v.state = (enum ipp_state)st;
		v.expires = st == IPP_TEMP ? 1900000000u : 0;
		(void)snprintf(v.reason, sizeof(v.reason), "%s: 7 of 12 "
		    "recipients unknown 未知", ipp_state_name(v.state));
		m = ipc_msg_new(IMSG_IPP_VERDICT, 0);
		ipc_add_u64(m, 99);
		ipp_verdict_encode(m, &v);
		CHECK((in = xfer(m)) != NULL);
		if (in == NULL)
			continue;
		CHECK(ipc_get_u64(in, &reqid) && reqid == 99);
		CHECKF(ipp_verdict_decode(in, &d), "state %d", st);
		CHECK_INTEQ(d.state, v.state);
		CHECK_INTEQ(d.expires, v.expires);
		CHECK_STREQ(d.reason, v.reason);
	}
	/* The longest reason fits. */
	memset(v.reason, 'r', sizeof(v.reason) - 1);
	v.reason[IPP_REASON_MAX] = '\0';
	v.state = IPP_PERM;
	v.expires = 0;
	m = ipc_msg_new(IMSG_IPP_VERDICT, 0);
	ipp_verdict_encode(m, &v);
	CHECK((in = xfer(m)) != NULL && ipp_verdict_decode(in, &d) &&
	    strlen(d.reason) == IPP_REASON_MAX);
}

/* ---- hostile payloads, byte by byte ---------------------------------- */

struct raw {
	uint8_t	 b[4096];
	size_t	 n;
};

static void
raw_u8(struct raw *r, uint8_t v)
{
	r->b[r->n++] = v;
}

static void
raw_u32(struct raw *r, uint32_t v)
{
	memcpy(r->b + r->n, &v, 4);
	r->n += 4;
}

static void
raw_u64(struct raw *r, uint64_t v)
{
	memcpy(r->b + r->n, &v, 8);
	r->n += 8;
}

static void
raw_str(struct raw *r, const char *s, size_t n)
{
	raw_u32(r, (uint32_t)n);
	memcpy(r->b + r->n, s, n);
	r->n += n;
}

static struct ipc_msg_in
raw_in(const struct raw *r)
{
	struct ipc_msg_in in;

	memset(&in, 0, sizeof(in));
	in.type = IMSG_IPP_EVENT;
	in.fd = -1;
	in.data = r->b;
	in.len = r->n;
	return in;
}

/* raw_event: an event payload: ip, n, then n counters of value v. */
static void
raw_event(struct raw *r, const char *ip, size_t iplen, uint32_t n,
    uint32_t v)
{
	uint32_t i;

	memset(r, 0, sizeof(*r));
	raw_str(r, ip, iplen);
	raw_u32(r, n);
	for (i = 0; i < n && i < 64; i++)
		raw_u32(r, v);
}

static void
t_event_hostile(void)
{
	struct ipp_event e;
	struct ipc_msg_in in;
	struct raw	 r;
	char		 big[200];

	raw_event(&r, "192.0.2.7", 9, IPP_C_MAX, 1);
	in = raw_in(&r);
	CHECK(ipp_event_decode(&in, &e));
	/* Fewer or more counters than this build has. */
	raw_event(&r, "192.0.2.7", 9, IPP_C_MAX - 1, 1);
	in = raw_in(&r);
	CHECK(!ipp_event_decode(&in, &e));
	raw_event(&r, "192.0.2.7", 9, IPP_C_MAX + 1, 1);
	in = raw_in(&r);
	CHECK(!ipp_event_decode(&in, &e));
	raw_event(&r, "192.0.2.7", 9, 0xffffffffu, 1);
	in = raw_in(&r);
	CHECK(!ipp_event_decode(&in, &e));
	/* A counter above the bound. */
	raw_event(&r, "192.0.2.7", 9, IPP_C_MAX, IPP_COUNTER_MAX + 1);
	in = raw_in(&r);
	CHECK(!ipp_event_decode(&in, &e));
	raw_event(&r, "192.0.2.7", 9, IPP_C_MAX, IPP_COUNTER_MAX);
	in = raw_in(&r);
	CHECK(ipp_event_decode(&in, &e) && e.c[0] == IPP_COUNTER_MAX);
	/* Not an address: a network, garbage, NUL inside, empty, too long. */
	raw_event(&r, "192.0.2.0/24", 12, IPP_C_MAX, 1);
	in = raw_in(&r);
	CHECK(!ipp_event_decode(&in, &e));
	raw_event(&r, "example.org", 11, IPP_C_MAX, 1);
	in = raw_in(&r);
	CHECK(!ipp_event_decode(&in, &e));
	raw_event(&r, "192.0.2.7\0x", 11, IPP_C_MAX, 1);
	in = raw_in(&r);
	CHECK(!ipp_event_decode(&in, &e));
	raw_event(&r, "", 0, IPP_C_MAX, 1);
	in = raw_in(&r);
	CHECK(!ipp_event_decode(&in, &e));
	memset(big, '1', sizeof(big));
	raw_event(&r, big, sizeof(big), IPP_C_MAX, 1);
	in = raw_in(&r);
	CHECK(!ipp_event_decode(&in, &e));
	/* A string length beyond the payload. */
	memset(&r, 0, sizeof(r));
	raw_u32(&r, 0x7fffffff);
	in = raw_in(&r);
	CHECK(!ipp_event_decode(&in, &e));
	/* Truncated, and a byte left over. */
	raw_event(&r, "192.0.2.7", 9, IPP_C_MAX, 1);
	r.n -= 2;
	in = raw_in(&r);
	CHECK(!ipp_event_decode(&in, &e));
	raw_event(&r, "192.0.2.7", 9, IPP_C_MAX, 1);
	raw_u8(&r, 0);
	in = raw_in(&r);
	CHECK(!ipp_event_decode(&in, &e));
	/* Nothing at all. */
	memset(&r, 0, sizeof(r));
	in = raw_in(&r);
	CHECK(!ipp_event_decode(&in, &e));
}

static void
t_verdict_hostile(void)
{
	struct ipp_verdict v;
	struct ipc_msg_in in;
	struct raw	 r;
	char		 big[IPP_REASON_MAX + 2];

#define VERDICT(st, exp, s, n) do {					\
	memset(&r, 0, sizeof(r));					\
	raw_u8(&r, (st));						\
	raw_u64(&r, (exp));						\
	raw_str(&r, (s), (n));						\
	in = raw_in(&r);						\
} while (0)
	VERDICT(IPP_TEMP, 5, "ok", 2);
	CHECK(ipp_verdict_decode(&in, &v) && v.state == IPP_TEMP &&
	    v.expires == 5);
	VERDICT(IPP_NSTATES, 0, "x", 1);
	CHECK(!ipp_verdict_decode(&in, &v));
	VERDICT(0xff, 0, "x", 1);
	CHECK(!ipp_verdict_decode(&in, &v));
	VERDICT(IPP_PERM, 0, "line\r\nInjected: yes", 19);
	CHECK(!ipp_verdict_decode(&in, &v));
	VERDICT(IPP_PERM, 0, "tab\there", 8);
	CHECK(!ipp_verdict_decode(&in, &v));
	VERDICT(IPP_PERM, 0, "del\x7f", 4);
	CHECK(!ipp_verdict_decode(&in, &v));
	VERDICT(IPP_PERM, 0, "nul\0inside", 10);
	CHECK(!ipp_verdict_decode(&in, &v));
	memset(big, 'a', sizeof(big));
	VERDICT(IPP_PERM, 0, big, IPP_REASON_MAX + 1);
	CHECK(!ipp_verdict_decode(&in, &v));
	VERDICT(IPP_PERM, 0, big, IPP_REASON_MAX);
	CHECK(ipp_verdict_decode(&in, &v));
	VERDICT(IPP_PERM, 0, "x", 1);
	raw_u8(&r, 1);
	in = raw_in(&r);
	CHECK(!ipp_verdict_decode(&in, &v));
	VERDICT(IPP_PERM, 0, "xyz", 3);
	r.n--;
	in = raw_in(&r);
	CHECK(!ipp_verdict_decode(&in, &v));
	/* A failed decode leaves no state behind. */
	CHECK(v.state == IPP_CLEAN && v.reason[0] == '\0');
#undef VERDICT
}

static void
t_cleanup(void)
{
	ipc_chan_free(tx);
	ipc_chan_free(rx);
}

static void
t_setup(void)
{
	channels();
}

TEST_MAIN(t_setup, t_names, t_ip_parse, t_event_roundtrip,
    t_verdict_roundtrip, t_event_hostile, t_verdict_hostile, t_cleanup)
