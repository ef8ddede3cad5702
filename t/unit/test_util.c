/*
 * test_util.c: bounded string helpers, integer parsing, struct buf, log_esc.
 */
#include <limits.h>

#include "log.h"
#include "test.h"
#include "util.h"

static void
t_str_lcpy(void)
{
	char	 b[4];

	CHECK_INTEQ(str_lcpy(b, "ab", sizeof(b)), 2);
	CHECK_STREQ(b, "ab");
	CHECK_INTEQ(str_lcpy(b, "abcdef", sizeof(b)), 6);
	CHECK_STREQ(b, "abc");
	b[0] = 'x';
	str_lcpy(b, "", sizeof(b));
	CHECK_STREQ(b, "");
	str_lcpy(b, "ab", sizeof(b));
	CHECK(str_lcat(b, "cd", sizeof(b)) >= sizeof(b));
	CHECK_STREQ(b, "abc");
	CHECK(str_printf(b, sizeof(b), "%d", 123));
	CHECK(!str_printf(b, sizeof(b), "%d", 1234));
}

static void
t_str_to_ll(void)
{
	static const struct {
		const char	*in;
		long long	 min, max;
		int		 ok;
		long long	 want;
	} cases[] = {
		{ "0", 0, 10, 1, 0 },
		{ "10", 0, 10, 1, 10 },
		{ "11", 0, 10, 0, 0 },
		{ "-1", 0, 10, 0, 0 },
		{ "-1", -5, 10, 1, -1 },
		{ "", 0, 10, 0, 0 },
		{ " 1", 0, 10, 0, 0 },
		{ "1 ", 0, 10, 0, 0 },
		{ "1x", 0, 10, 0, 0 },
		{ "99999999999999999999999", 0, LLONG_MAX, 0, 0 },
		{ "0x10", 0, 100, 0, 0 },
	};
	size_t	 i;
	long long v;

	for (i = 0; i < nitems(cases); i++) {
		v = -999;
		CHECKF(str_to_ll(cases[i].in, cases[i].min, cases[i].max, &v) ==
		    cases[i].ok, "case \"%s\"", cases[i].in);
		if (cases[i].ok)
			CHECKF(v == cases[i].want, "case \"%s\"", cases[i].in);
	}
}

static void
t_buf_limit(void)
{
	struct buf	 b;

	buf_init(&b, 8);
	CHECK(buf_addstr(&b, "12345"));
	CHECK(!buf_addstr(&b, "6789"));	/* would make 9 > 8 */
	CHECK_INTEQ(b.len, 5);		/* unchanged on failure */
	CHECK(buf_addstr(&b, "678"));
	CHECK_STREQ(buf_cstr(&b), "12345678");
	buf_consume(&b, 3);
	CHECK_STREQ(buf_cstr(&b), "45678");
	CHECK(!buf_printf(&b, "%s", "abcd"));
	CHECK(buf_printf(&b, "%d", 12));
	CHECK_STREQ(buf_cstr(&b), "4567812");
	buf_free(&b);
	CHECK_STREQ(buf_cstr(&b), "");
}

static void
t_log_esc(void)
{
	char	 b[LOG_ESC_MAX], small[16];

	CHECK_STREQ(log_esc(b, sizeof(b), "plain.token-1"), "plain.token-1");
	CHECK_STREQ(log_esc(b, sizeof(b), ""), "\"\"");
	CHECK_STREQ(log_esc(b, sizeof(b), "a b"), "\"a b\"");
	CHECK_STREQ(log_esc(b, sizeof(b), "x=1\r\nlvl=err"),
	    "\"x=1\\x0d\\x0alvl=err\"");
	CHECK_STREQ(log_esc(b, sizeof(b), "q\"\\"), "\"q\\\"\\\\\"");
	CHECK_STREQ(log_esc(b, sizeof(b), "\xe6\x97\xa5"), "\"\\xe6\\x97\\xa5\"");
	log_esc(small, sizeof(small), "a very long value with spaces");
	CHECK(strlen(small) < sizeof(small));
	CHECK(strstr(small, "...") != NULL);
	log_esc(small, sizeof(small), "averylongvaluewithoutspaces");
	CHECK(strlen(small) < sizeof(small));
	CHECK(strstr(small, "...") != NULL);
}

TEST_MAIN(t_str_lcpy, t_str_to_ll, t_buf_limit, t_log_esc)
