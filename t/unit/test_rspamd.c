/*
 * test_rspamd.c: rspamd's answers (scanner/rspamd.c, rspamd_parse): what
 * is read from a good one, and every malformed one refused.
 */
#include <stdio.h>
#include <string.h>

#include "rspamd.h"
#include "test.h"
#include "util.h"

#define OK_HDR	"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"

static void
t_good(void)
{
	static const char ans[] = OK_HDR
	    "{\"is_skipped\":false,\"score\":9.5,\"required_score\":15,"
	    "\"action\":\"add header\",\"symbols\":{"
	    "\"A\":{\"name\":\"A\",\"score\":2.5},"
	    "\"B\":{\"name\":\"B\",\"score\":7},"
	    "\"NEG\":{\"name\":\"NEG\",\"score\":-1},"
	    "\"BAD NAME\":{\"score\":3},"
	    "\"ZERO\":{\"score\":0}}}";
	struct rspamd_result r;
	char	 err[256];

	CHECK(rspamd_parse(ans, sizeof(ans) - 1, &r, err, sizeof(err)) == 0);
	CHECK(r.score == 9.5 && r.required == 15);
	CHECK_STREQ(r.action, "add header");
	/* Positive symbols with plain names, highest first. */
	CHECK(r.nsymbols == 2);
	if (r.nsymbols == 2) {
		CHECK_STREQ(r.symbols[0], "B(7)");
		CHECK_STREQ(r.symbols[1], "A(2.5)");
	}
	rspamd_result_free(&r);
	CHECK(r.nsymbols == 0 && r.symbols == NULL);
}

static void
t_bad(void)
{
	static const char *const bad[] = {
		"",
		"HTTP/1.0",
		"SPAMD/1.1 0 EX_OK\r\n\r\n{\"score\":1}",
		"HTTP/1.0 500 Internal Server Error\r\n\r\n{\"score\":1}",
		"HTTP/1.0 200 OK\r\n{\"score\":1}",
		OK_HDR,
		OK_HDR "not json",
		OK_HDR "{\"score\":\"9\"}",
		OK_HDR "{\"action\":\"reject\"}",
		OK_HDR "{\"score\":1e300}",
		OK_HDR "{\"score\":1,\"score\":2}",
		OK_HDR "[1,2,3]",
	};
	struct rspamd_result r;
	char	 err[256];
	size_t	 i;

	for (i = 0; i < nitems(bad); i++) {
		err[0] = '\0';
		CHECKF(rspamd_parse(bad[i], strlen(bad[i]), &r, err,
		    sizeof(err)) == -1 && err[0] != '\0', "case %zu", i);
		CHECK(r.nsymbols == 0 && r.symbols == NULL);
	}
	/* An action that is not rspamd's word is dropped, not copied. */
	{
		static const char odd[] = OK_HDR "{\"score\":1,\"action\":"
		    "\"x\\r\\nInjected: 1\"}";

		CHECK(rspamd_parse(odd, sizeof(odd) - 1, &r, err,
		    sizeof(err)) == 0 && r.action[0] == '\0');
		rspamd_result_free(&r);
	}
}

TEST_MAIN(t_good, t_bad)
