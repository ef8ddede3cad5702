/*
 * test_smtp_session.c: the pure parts of the smtp process: the Received:
 * header field (golden texts, hostile HELO arguments, time zones), the
 * per-address connection table, and what a client gets after the
 * connect-time checks (IP profiler verdict, NRS listing; seed 22), and
 * the resource limits: the DATA deadline, the sessions RLIMIT_NOFILE
 * allows, the spool's free-space minimum (QueueMinFreeMB).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "ipp_proto.h"
#include "netaddr.h"
#include "smtp.h"
#include "smtp_session.h"
#include "test.h"
#include "util.h"

static void
set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static void
t_helo_sanitize(void)
{
	static const struct {
		const char	*in, *out;
	} cases[] = {
		{ "mx.example.org", "mx.example.org" },
		{ "[192.0.2.1]", "[192.0.2.1]" },
		{ "[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]" },
		{ "a_b-c", "a_b-c" },
		{ "", "unknown" },
		{ "evil\r\nX-Injected: yes", "evil??X-Injected:?yes" },
		{ "x; by fake", "x??by?fake" },
		{ "(comment) \"q\" \\", "?comment???q???" },
		{ "tab\there", "tab?here" },
		{ "\x7f\x01z", "??z" },
		{ "h\xc3\xa9llo", "h??llo" },
	};
	char	 out[SMTP_HELO_SHOW_MAX + 1];
	char	 big[600];
	size_t	 i;

	for (i = 0; i < nitems(cases); i++) {
		smtp_helo_sanitize(out, sizeof(out), cases[i].in);
		CHECK_STREQ(out, cases[i].out);
	}
	smtp_helo_sanitize(out, sizeof(out), NULL);
	CHECK_STREQ(out, "unknown");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	smtp_helo_sanitize(out, sizeof(out), big);
	CHECK_INTEQ(strlen(out), SMTP_HELO_SHOW_MAX);
	smtp_helo_sanitize(out, 4, "abcdef");
	CHECK_STREQ(out, "abc");
}

static void
t_date(void)
{
	static const struct {
		const char	*tz;
		time_t		 t;
		const char	*want;
	} cases[] = {
		{ "UTC0", 0, "Thu, 1 Jan 1970 00:00:00 +0000" },
		{ "JST-9", 0, "Thu, 1 Jan 1970 09:00:00 +0900" },
		{ "EST5", 0, "Wed, 31 Dec 1969 19:00:00 -0500" },
		{ "IST-5:30", 0, "Thu, 1 Jan 1970 05:30:00 +0530" },
		{ "NST3:30", 0, "Wed, 31 Dec 1969 20:30:00 -0330" },
		{ "UTC0", 1748959509, "Tue, 3 Jun 2025 14:05:09 +0000" },
		{ "JST-9", 1748959509, "Tue, 3 Jun 2025 23:05:09 +0900" },
		{ "UTC0", 1733011200, "Sun, 1 Dec 2024 00:00:00 +0000" },
	};
	char	 buf[64];
	size_t	 i;

	for (i = 0; i < nitems(cases); i++) {
		set_tz(cases[i].tz);
		CHECK(date_rfc5322(buf, sizeof(buf), cases[i].t));
		CHECK_STREQ(buf, cases[i].want);
	}
	CHECK(!date_rfc5322(buf, 10, 0));
	set_tz("UTC0");
}

static void
t_received_with(void)
{
	CHECK_STREQ(smtp_received_with(true, false, false), "ESMTP");
	CHECK_STREQ(smtp_received_with(true, true, false), "ESMTPS");
	CHECK_STREQ(smtp_received_with(false, false, false), "SMTP");
	CHECK_STREQ(smtp_received_with(false, true, false), "SMTPS");
	CHECK_STREQ(smtp_received_with(true, false, true), "UTF8SMTP");
	CHECK_STREQ(smtp_received_with(true, true, true), "UTF8SMTPS");
}

static void
t_received(void)
{
	static const struct {
		const char		*name;
		struct smtp_received	 r;
		const char		*want;
	} cases[] = {
		{ "plain, one rcpt", { "client.example", "192.0.2.7", false,
		    "mx.example.net", "ESMTP", "0123456789abcdef", NULL,
		    "bob@example.net", 1748959509 },
		    "Received: from client.example ([192.0.2.7])\r\n"
		    "\tby mx.example.net (sekisho) with ESMTP id "
		    "0123456789abcdef\r\n"
		    "\tfor <bob@example.net>; Tue, 3 Jun 2025 14:05:09 +0000\r\n" },
		{ "tls, v6, several rcpts", { "[IPv6:2001:db8::5]",
		    "2001:db8::5", true, "mx.example.net", "ESMTPS",
		    "0123456789abcdef", "TLSv1.3 TLS_AES_256_GCM_SHA384", NULL,
		    1748959509 },
		    "Received: from [IPv6:2001:db8::5] ([IPv6:2001:db8::5])\r\n"
		    "\tby mx.example.net (sekisho) with ESMTPS id "
		    "0123456789abcdef\r\n"
		    "\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384); "
		    "Tue, 3 Jun 2025 14:05:09 +0000\r\n" },
		{ "hostile helo", { "x\r\nBcc: all@example.org; (", "192.0.2.7",
		    false, "mx", "SMTP", "0123456789abcdef", NULL, NULL, 0 },
		    "Received: from x??Bcc:?all?example.org???"
		    " ([192.0.2.7])\r\n" "\tby mx (sekisho) with SMTP id "
		    "0123456789abcdef; Thu, 1 Jan 1970 00:00:00 +0000\r\n" },
		{ "tls, one rcpt", { "c", "192.0.2.7", false, "mx", "ESMTPS",
		    "0123456789abcdef", "TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384",
		    "\"a b\"@example.org", 0 },
		    "Received: from c ([192.0.2.7])\r\n"
		    "\tby mx (sekisho) with ESMTPS id 0123456789abcdef\r\n"
		    "\t(version=TLSv1.2 cipher=ECDHE-RSA-AES256-GCM-SHA384)\r\n"
		    "\tfor <\"a b\"@example.org>; "
		    "Thu, 1 Jan 1970 00:00:00 +0000\r\n" },
	};
	struct buf	 b;
	size_t		 i;

	set_tz("UTC0");
	for (i = 0; i < nitems(cases); i++) {
		buf_init(&b, 4096);
		CHECKF(smtp_received_format(&b, &cases[i].r), "%s",
		    cases[i].name);
		CHECKF(strcmp(buf_cstr(&b), cases[i].want) == 0,
		    "%s:\n%s\n!=\n%s", cases[i].name, buf_cstr(&b),
		    cases[i].want);
		buf_free(&b);
	}
}

/* The header never carries a bare CR or LF, whatever the HELO holds. */
static void
t_received_no_bare_eol(void)
{
	struct smtp_received	 r = { NULL, "192.0.2.7", false, "mx",
	    "ESMTP", "0123456789abcdef", NULL, NULL, 0 };
	struct buf		 b;
	char			 helo[64];
	const uint8_t		*p;
	size_t			 i, c, n;
	bool			 ok;

	for (c = 1; c < 256; c++) {
		memset(helo, (int)c, sizeof(helo) - 1);
		helo[sizeof(helo) - 1] = '\0';
		r.helo = helo;
		buf_init(&b, 4096);
		CHECK(smtp_received_format(&b, &r));
		p = b.data;
		n = b.len;
		ok = true;
		for (i = 0; i < n; i++) {
			/* CR only in CRLF, and CRLF only as a fold or the end. */
			if (p[i] == '\r' && (i + 1 >= n || p[i + 1] != '\n' ||
			    (i + 2 < n && p[i + 2] != '\t')))
				ok = false;
			if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
				ok = false;
			if (p[i] >= 0x80 || (p[i] < 0x20 && p[i] != '\r' &&
			    p[i] != '\n' && p[i] != '\t'))
				ok = false;
		}
		CHECKF(ok, "byte 0x%02zx", c);
		buf_free(&b);
	}
}

static void
t_iptab(void)
{
	struct smtp_iptab	*t = smtp_iptab_new();
	struct netaddr		 a = test_na("192.0.2.1"), m = test_na("::ffff:192.0.2.1");
	struct netaddr		 b = test_na("2001:db8::1"), c = test_na("192.0.2.2");
	int			 i;

	CHECK_INTEQ(smtp_iptab_count(t, &a), 0);
	CHECK_INTEQ(smtp_iptab_inc(t, &a), 1);
	CHECK_INTEQ(smtp_iptab_inc(t, &m), 2);	/* the same client */
	CHECK_INTEQ(smtp_iptab_inc(t, &b), 1);
	CHECK_INTEQ(smtp_iptab_count(t, &c), 0);
	CHECK_INTEQ(smtp_iptab_size(t), 2);
	smtp_iptab_dec(t, &a);
	CHECK_INTEQ(smtp_iptab_count(t, &a), 1);
	smtp_iptab_dec(t, &a);
	CHECK_INTEQ(smtp_iptab_count(t, &a), 0);
	CHECK_INTEQ(smtp_iptab_size(t), 1);
	for (i = 0; i < 1000; i++)
		smtp_iptab_inc(t, &c);
	CHECK_INTEQ(smtp_iptab_count(t, &c), 1000);
	for (i = 0; i < 1000; i++)
		smtp_iptab_dec(t, &c);
	CHECK_INTEQ(smtp_iptab_count(t, &c), 0);
	CHECK_INTEQ(smtp_iptab_size(t), 1);
	smtp_iptab_free(t);
}

/* The shipped defaults of the replies (foxdns.ini, tsmtpd.ini). */
static void
decide_conf(struct sekisho_conf *c)
{
	static char temp[] = "450 4.7.1 Client host %CLIENT_IP% is "
	    "temporarily blocked: %REASON%";
	static char perm[] = "554 5.7.1 Client host %CLIENT_IP% is blocked: "
	    "%REASON%";
	static char nrs[] = "Client host %CLIENT_IP% blocked using "
	    "%RBL_CHECK_DOMAIN%";
	static char rbl[] = "http://www.mail-abuse.com/cgi-bin/lookup?"
	    "ip_address=%CLIENT_IP%";

	memset(c, 0, sizeof(*c));
	c->foxdns.temp_block_reply = temp;
	c->foxdns.perm_block_reply = perm;
	c->tsmtpd.nrs_reject_msg = nrs;
	c->tsmtpd.rbl_check_domain = rbl;
}

static void
t_connect_decide(void)
{
	static const struct {
		enum ipp_state		 state;
		const char		*reason;
		const char		*zone;
		enum smtp_connect_outcome out;
		const char		*reply;
	} cases[] = {
		{ IPP_CLEAN, "", NULL, SMTP_CONNECT_GREET, "" },
		{ IPP_APPROVED, "", NULL, SMTP_CONNECT_GREET, "" },
		/* Approved: the lists are not asked about it. */
		{ IPP_APPROVED, "", "bl.test", SMTP_CONNECT_GREET, "" },
		{ IPP_TEMP, "directory harvest: 7 of 12 recipients unknown in "
		    "60 min", NULL, SMTP_CONNECT_REFUSE_IPP,
		    "450 4.7.1 Client host 192.0.2.7 is temporarily blocked: "
		    "directory harvest: 7 of 12 recipients unknown in 60 min" },
		{ IPP_PERM, "listed in blocked_ips", NULL,
		    SMTP_CONNECT_REFUSE_IPP, "554 5.7.1 Client host 192.0.2.7 "
		    "is blocked: listed in blocked_ips" },
		/* A block wins over a listing (its own reply). */
		{ IPP_TEMP, "spam", "bl.test", SMTP_CONNECT_REFUSE_IPP,
		    "450 4.7.1 Client host 192.0.2.7 is temporarily blocked: "
		    "spam" },
		/* Seed 22: the defaults. */
		{ IPP_CLEAN, "", "bl.test", SMTP_CONNECT_REFUSE_NRS,
		    "554 5.7.1 Client host 192.0.2.7 blocked using "
		    "http://www.mail-abuse.com/cgi-bin/lookup?"
		    "ip_address=192.0.2.7" },
		/* A reason never ends the reply line. */
		{ IPP_PERM, "evil\r\n250 ok", NULL, SMTP_CONNECT_REFUSE_IPP,
		    "554 5.7.1 Client host 192.0.2.7 is blocked: evil??250 ok" },
	};
	struct sekisho_conf	 c;
	struct ipp_verdict	 v;
	char			 reply[1000], msg[] = "Go away %CLIENT_IP%, see "
	    "%RBL_CHECK_DOMAIN% (%CLIENT_IP%)", url[] = "https://rbl.example/"
	    "?q=%CLIENT_IP%&r=%REASON%";
	size_t			 i;

	decide_conf(&c);
	for (i = 0; i < nitems(cases); i++) {
		memset(&v, 0, sizeof(v));
		v.state = cases[i].state;
		str_lcpy(v.reason, cases[i].reason, sizeof(v.reason));
		CHECKF(smtp_connect_decide(&c, "192.0.2.7", &v, cases[i].zone,
		    reply, sizeof(reply)) == cases[i].out, "case %zu", i);
		CHECKF(strcmp(reply, cases[i].reply) == 0, "case %zu: %s", i,
		    reply);
	}
	/* Seed 22: a custom text and URL; IPv6. */
	c.tsmtpd.nrs_reject_msg = msg;
	c.tsmtpd.rbl_check_domain = url;
	memset(&v, 0, sizeof(v));
	CHECK(smtp_connect_decide(&c, "2001:db8::1", &v, "bl.test", reply,
	    sizeof(reply)) == SMTP_CONNECT_REFUSE_NRS);
	CHECK_STREQ(reply, "554 5.7.1 Go away 2001:db8::1, see "
	    "https://rbl.example/?q=2001:db8::1&r=%REASON% (2001:db8::1)");
	/* A reply cut to fit, never overrun. */
	CHECK(smtp_connect_decide(&c, "2001:db8::1", &v, "bl.test", reply,
	    20) == SMTP_CONNECT_REFUSE_NRS);
	CHECK_INTEQ(strlen(reply), 19);
}

/* The whole-DATA deadline: DataTimeout plus 1 s per KB, up to the limit. */
static void
t_data_deadline(void)
{
	static const struct {
		long long	 timeout;
		uint64_t	 received, max;
		long long	 ms;
	} rows[] = {
		{ 180, 0, 20971520, 180000 },
		{ 2, 0, 0, 2000 },
		{ 2, 1, 1024, 2000 },			/* under 1 ms */
		{ 2, 1024, 0, 3000 },
		{ 2, 10240, 20971520, 12000 },
		{ 180, 20971520, 20971520, 180000 + 20480000 },
		/* Past the size limit the deadline stops growing. */
		{ 180, 1ULL << 40, 20971520, 180000 + 20480000 },
		{ 1, UINT64_MAX, 0, -1 },		/* no overflow */
	};
	size_t	 i;
	long long ms;

	for (i = 0; i < nitems(rows); i++) {
		ms = smtp_data_deadline_ms(rows[i].timeout, rows[i].received,
		    rows[i].max);
		if (rows[i].ms == -1)
			CHECKF(ms > 0, "row %zu: %lld", i, ms);
		else
			CHECKF(ms == rows[i].ms, "row %zu: %lld != %lld", i,
			    ms, rows[i].ms);
	}
	/* The dribbler: one byte a second never catches up. */
	CHECK(smtp_data_deadline_ms(180, 600, 20971520) < 600 * 1000);
}

/* Sessions per RLIMIT_NOFILE: a reserve, then two descriptors each. */
static void
t_fd_max_sessions(void)
{
	CHECK_INTEQ(smtp_fd_max_sessions(64), (64 - SMTP_FD_RESERVE) / 2);
	CHECK_INTEQ(smtp_fd_max_sessions(1024), (1024 - SMTP_FD_RESERVE) / 2);
	CHECK_INTEQ(smtp_fd_max_sessions(SMTP_FD_RESERVE + 3), 1);
	CHECK_INTEQ(smtp_fd_max_sessions(SMTP_FD_RESERVE), 1);
	CHECK_INTEQ(smtp_fd_max_sessions(0), 1);
	/* A session with its spool fd never needs more than nofile has. */
	CHECK(smtp_fd_max_sessions(64) * SMTP_FD_PER_SESSION +
	    SMTP_FD_RESERVE <= 64);
}

/* QueueMinFreeMB: MB, capped at a share of the file system; low below. */
static void
t_spool_min_free(void)
{
	const uint64_t	 MB = 1024 * 1024, GB = 1024 * MB;

	CHECK_INTEQ(smtp_spool_min_free(100, 100 * GB), 100 * MB);
	CHECK_INTEQ(smtp_spool_min_free(100, 1 * GB),
	    GB / 100 * SMTP_SPOOL_MIN_FREE_PCT);
	CHECK_INTEQ(smtp_spool_min_free(100, 8 * MB),
	    8 * MB / 100 * SMTP_SPOOL_MIN_FREE_PCT);
	CHECK_INTEQ(smtp_spool_min_free(0, 100 * GB), 0);
	CHECK_INTEQ(smtp_spool_min_free(1048576, 0), 0);
	CHECK(smtp_spool_low(0, 0));		/* full is always low */
	CHECK(!smtp_spool_low(1, 0));
	CHECK(smtp_spool_low(99 * MB, 100 * MB));
	CHECK(!smtp_spool_low(100 * MB, 100 * MB));
}

TEST_MAIN(t_helo_sanitize, t_date, t_received_with, t_received,
    t_received_no_bare_eol, t_iptab, t_connect_decide, t_data_deadline,
    t_fd_max_sessions, t_spool_min_free)
