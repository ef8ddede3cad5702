/*
 * test.h: the tiny unit-test harness.
 *
 * A test file defines functions "static void t_name(void)" and lists them in
 * TEST_MAIN(t_a, t_b, ...).  CHECK() records a failure with file:line and
 * goes on; the program exits non-zero when any check failed.  Tables of
 * cases are plain arrays looped over inside one test function; pass the
 * case's name to CHECKF so a failure says which row broke.
 */
#ifndef SEKISHO_TEST_H
#define SEKISHO_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECKF(cond, ...) do {						\
	test_checks++;							\
	if (!(cond)) {							\
		test_failures++;					\
		fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__,	\
		    __LINE__, #cond);					\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
	}								\
} while (0)

#define CHECK(cond)		CHECKF(cond, "%s", "")
#define CHECK_STREQ(a, b)	do {					\
	const char *check_a_ = (a), *check_b_ = (b);			\
	CHECKF(check_a_ != NULL && check_b_ != NULL &&			\
	    strcmp(check_a_, check_b_) == 0, "\"%s\" != \"%s\"",	\
	    check_a_ ? check_a_ : "(null)", check_b_ ? check_b_ : "(null)"); \
} while (0)
#define CHECK_INTEQ(a, b)	do {					\
	long long check_a_ = (long long)(a), check_b_ = (long long)(b);	\
	CHECKF(check_a_ == check_b_, "%lld != %lld", check_a_, check_b_); \
} while (0)

/* test_rmtree: remove a temporary directory tree (no shell). */
#include <ftw.h>
#include <stdio.h>
static inline int
test_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb; (void)flag; (void)f;
	return remove(p);
}
static inline int
test_rmtree(const char *dir)
{
	return nftw(dir, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* test_na: an address or network written in the test; aborts if bad. */
#include "netaddr.h"
static inline struct netaddr
test_na(const char *s)
{
	struct netaddr	 a;

	if (netaddr_parse(&a, s, strlen(s)) != NETADDR_OK)
		abort();
	return a;
}

typedef void (*test_fn)(void);

static inline int
test_run(const char *names, test_fn *fns, size_t n)
{
	size_t	 i;

	(void)names;
	for (i = 0; i < n; i++)
		fns[i]();
	fprintf(stderr, "%d checks, %d failed\n", test_checks, test_failures);
	return test_failures == 0 ? 0 : 1;
}

#define TEST_MAIN(...)							\
int									\
main(void)								\
{									\
	test_fn fns_[] = { __VA_ARGS__ };				\
	return test_run(#__VA_ARGS__, fns_, sizeof(fns_) / sizeof(fns_[0])); \
}

#endif
