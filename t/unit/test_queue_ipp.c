/*
 * test_queue_ipp.c: the queue's cache of the IP profiler's answers
 * (smtpd/queue_ipp.c): how long an answer is kept (check_cache_secs,
 * never past a temporary block's expiry), that an event drops it, and
 * that the cache stays within its size by forgetting the least recently
 * used address.
 */
#include <string.h>
#include <time.h>

#include "ipp_proto.h"
#include "netaddr.h"
#include "queue.h"
#include "test.h"
#include "util.h"

static struct ipp_verdict
verdict(enum ipp_state st, uint64_t expires, const char *reason)
{
	struct ipp_verdict v;

	memset(&v, 0, sizeof(v));
	v.state = st;
	v.expires = expires;
	str_lcpy(v.reason, reason, sizeof(v.reason));
	return v;
}

/* An answer is kept check_cache_secs, then asked again. */
static void
t_lifetime(void)
{
	struct qipp_cache	*c = qipp_cache_new(100);
	struct netaddr		 a = test_na("192.0.2.1"), b = test_na("2001:db8::1");
	struct netaddr		 m = test_na("::ffff:192.0.2.1");
	struct ipp_verdict	 v = verdict(IPP_CLEAN, 0, ""), got;
	time_t			 wall = 1800000000;

	CHECK(!qipp_cache_get(c, &a, 1000, &got));
	qipp_cache_put(c, &a, &v, 1000, wall, 30);
	CHECK(qipp_cache_get(c, &a, 1000, &got) && got.state == IPP_CLEAN);
	/* The same client written as IPv4-mapped IPv6. */
	CHECK(qipp_cache_get(c, &m, 1000, &got));
	CHECK(!qipp_cache_get(c, &b, 1000, &got));
	CHECK(qipp_cache_get(c, &a, 30999, &got));
	CHECK(!qipp_cache_get(c, &a, 31000, &got));
	/* The expired entry is gone, not only hidden. */
	CHECK_INTEQ(qipp_cache_size(c), 0);
	/* check_cache_secs=0: nothing is kept. */
	qipp_cache_put(c, &a, &v, 1000, wall, 0);
	CHECK(!qipp_cache_get(c, &a, 1000, &got));
	/* A permanent block and its reason. */
	v = verdict(IPP_PERM, 0, "listed in blocked_ips");
	qipp_cache_put(c, &b, &v, 1000, wall, 30);
	CHECK(qipp_cache_get(c, &b, 20000, &got) && got.state == IPP_PERM);
	CHECK_STREQ(got.reason, "listed in blocked_ips");
	/* A new answer replaces the old one. */
	v = verdict(IPP_APPROVED, 0, "");
	qipp_cache_put(c, &b, &v, 2000, wall, 30);
	CHECK(qipp_cache_get(c, &b, 2000, &got) && got.state == IPP_APPROVED);
	CHECK_INTEQ(qipp_cache_size(c), 1);
	qipp_cache_free(c);
}

/* A temporary block is never kept past its expiry (seed 1). */
static void
t_temp_expiry(void)
{
	struct qipp_cache	*c = qipp_cache_new(100);
	struct netaddr		 a = test_na("192.0.2.1");
	struct ipp_verdict	 v, got;
	time_t			 wall = 1800000000;

	/* Expires in 10 s; the cache would keep it 30. */
	v = verdict(IPP_TEMP, (uint64_t)wall + 10, "dha");
	qipp_cache_put(c, &a, &v, 5000, wall, 30);
	CHECK(qipp_cache_get(c, &a, 14999, &got) && got.state == IPP_TEMP);
	CHECK(!qipp_cache_get(c, &a, 15000, &got));
	/* Expires after the cache time: the cache time holds. */
	v = verdict(IPP_TEMP, (uint64_t)wall + 3600, "dha");
	qipp_cache_put(c, &a, &v, 5000, wall, 30);
	CHECK(qipp_cache_get(c, &a, 34999, &got));
	CHECK(!qipp_cache_get(c, &a, 35000, &got));
	/* Already expired (clocks): not kept at all. */
	v = verdict(IPP_TEMP, (uint64_t)wall, "dha");
	qipp_cache_put(c, &a, &v, 5000, wall, 30);
	CHECK(!qipp_cache_get(c, &a, 5000, &got));
	CHECK_INTEQ(qipp_cache_size(c), 0);
	qipp_cache_free(c);
}

/* An event about an address drops what was known about it. */
static void
t_drop(void)
{
	struct qipp_cache	*c = qipp_cache_new(100);
	struct netaddr		 a = test_na("192.0.2.1"), b = test_na("192.0.2.2");
	struct ipp_verdict	 v = verdict(IPP_CLEAN, 0, ""), got;

	qipp_cache_put(c, &a, &v, 0, 1, 30);
	qipp_cache_put(c, &b, &v, 0, 1, 30);
	qipp_cache_drop(c, &a);
	CHECK(!qipp_cache_get(c, &a, 0, &got));
	CHECK(qipp_cache_get(c, &b, 0, &got));
	qipp_cache_drop(c, &a);		/* not there: nothing happens */
	CHECK_INTEQ(qipp_cache_size(c), 1);
	qipp_cache_free(c);
}

/* Bounded: the least recently used address makes room. */
static void
t_bounded(void)
{
	struct qipp_cache	*c = qipp_cache_new(3);
	struct netaddr		 a[5];
	struct ipp_verdict	 v = verdict(IPP_CLEAN, 0, ""), got;
	char			 ip[32];
	size_t			 i;

	for (i = 0; i < nitems(a); i++) {
		snprintf(ip, sizeof(ip), "198.51.100.%zu", i + 1);
		a[i] = test_na(ip);
	}
	qipp_cache_put(c, &a[0], &v, 0, 1, 30);
	qipp_cache_put(c, &a[1], &v, 0, 1, 30);
	qipp_cache_put(c, &a[2], &v, 0, 1, 30);
	/* a[0] is used: a[1] is now the least recently used. */
	CHECK(qipp_cache_get(c, &a[0], 0, &got));
	qipp_cache_put(c, &a[3], &v, 0, 1, 30);
	CHECK_INTEQ(qipp_cache_size(c), 3);
	CHECK(!qipp_cache_get(c, &a[1], 0, &got));
	CHECK(qipp_cache_get(c, &a[0], 0, &got));
	CHECK(qipp_cache_get(c, &a[2], 0, &got));
	CHECK(qipp_cache_get(c, &a[3], 0, &got));
	/* Many more than fit. */
	for (i = 0; i < 10000; i++) {
		struct netaddr x = a[4];

		x.a[12] = (uint8_t)(i >> 8);
		x.a[13] = (uint8_t)i;
		qipp_cache_put(c, &x, &v, 0, 1, 30);
	}
	CHECK_INTEQ(qipp_cache_size(c), 3);
	qipp_cache_free(c);
}

TEST_MAIN(t_lifetime, t_temp_expiry, t_drop, t_bounded)
