/*
 * test_ippstore.c: the IP profiler's store of blocks
 * (ipprofiler/ippstore.c): blocks survive a reopen, expired ones are
 * deleted at load and never come back, a block set again replaces the
 * row, a removed one is gone, bad rows are skipped (and dropped), and a
 * database of a newer schema is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ippstore.h"
#include "log.h"
#include "test.h"
#include "util.h"

#define T0	1900000000

static char	 dir[] = "/tmp/test_ippstore.XXXXXX";
static char	 path[128];

/* What a load handed over, as "addr:P|T:kind:reason:expires;" text. */
static char	 got[4096];

static void
collect(void *arg, const struct ipp_block *b)
{
	char	 ip[NETADDR_STRLEN], line[400];

	(void)netaddr_format(ip, sizeof(ip), &b->addr);
	(void)snprintf(line, sizeof(line), "%s:%s:%s:%s:%lld:%lld;", ip,
	    b->permanent ? "P" : "T", ipp_kind_name(b->kind), b->reason,
	    (long long)b->created, (long long)b->expires);
	str_lcat(got, line, sizeof(got));
	(*(int *)arg)++;
}

static struct ipp_block
blk(const char *addr, bool perm, enum ipp_kind kind, int64_t expires,
    const char *reason)
{
	struct ipp_block b;

	memset(&b, 0, sizeof(b));
	if (netaddr_parse(&b.addr, addr, strlen(addr)) != NETADDR_OK)
		abort();
	b.permanent = perm;
	b.kind = kind;
	b.created = T0 - 10;
	b.expires = perm ? 0 : expires;
	str_lcpy(b.reason, reason, sizeof(b.reason));
	return b;
}

/* load: open, load at now, close; how many came, and got[]. */
static int
load(int64_t now, size_t *purged)
{
	struct ippstore	*s;
	char		 err[512];
	size_t		 n, p;
	int		 calls = 0;

	got[0] = '\0';
	s = ippstore_open(path, err, sizeof(err));
	CHECKF(s != NULL, "%s", err);
	if (s == NULL)
		return -1;
	CHECKF(ippstore_load(s, now, collect, &calls, &n, &p, err,
	    sizeof(err)), "%s", err);
	CHECK_INTEQ(n, (size_t)calls);
	if (purged != NULL)
		*purged = p;
	ippstore_close(s);
	return calls;
}

static void
t_roundtrip(void)
{
	struct ippstore	*s;
	struct ipp_block b;
	char		 err[512];
	size_t		 purged;

	s = ippstore_open(path, err, sizeof(err));
	CHECKF(s != NULL, "%s", err);
	if (s == NULL)
		return;
	b = blk("192.0.2.7", false, IPP_K_DHA, T0 + 60,
	    "directory harvest: 5 of 10 recipients unknown in 60 min");
	CHECK(ippstore_put(s, &b, err, sizeof(err)));
	b = blk("198.51.100.0/24", true, IPP_K_ADMIN, 0, "悪い network");
	CHECK(ippstore_put(s, &b, err, sizeof(err)));
	b = blk("2001:db8::/32", false, IPP_K_ADMIN, T0 + 3600, "v6");
	CHECK(ippstore_put(s, &b, err, sizeof(err)));
	b = blk("2001:db8::1", true, IPP_K_SPAM, 0, "spam");
	CHECK(ippstore_put(s, &b, err, sizeof(err)));
	ippstore_close(s);

	CHECK_INTEQ(load(T0, &purged), 4);
	CHECK_INTEQ(purged, 0);
	CHECK(strstr(got, "192.0.2.7:T:dha:directory harvest: 5 of 10 "
	    "recipients unknown in 60 min:1899999990:1900000060;") != NULL);
	CHECK(strstr(got, "198.51.100.0/24:P:admin:悪い network:1899999990:0;")
	    != NULL);
	CHECK(strstr(got, "2001:db8::/32:T:admin:v6:1899999990:1900003600;") !=
	    NULL);
	CHECK(strstr(got, "2001:db8::1:P:spam:spam:1899999990:0;") != NULL);

	/* One second before the expiry it is still there... */
	CHECK_INTEQ(load(T0 + 59, &purged), 4);
	CHECK_INTEQ(purged, 0);
	/* ...at the expiry it is deleted... */
	CHECK_INTEQ(load(T0 + 60, &purged), 3);
	CHECK_INTEQ(purged, 1);
	CHECK(strstr(got, "192.0.2.7") == NULL);
	/* ...and does not come back, whatever the clock says later. */
	CHECK_INTEQ(load(T0, &purged), 3);
	CHECK(strstr(got, "192.0.2.7") == NULL);
	/* Far in the future only the permanent ones are left. */
	CHECK_INTEQ(load(T0 + 86400, &purged), 2);
	CHECK_INTEQ(purged, 1);
}

static void
t_replace_delete(void)
{
	struct ippstore	*s;
	struct ipp_block b;
	struct netaddr	 a;
	char		 err[512];

	s = ippstore_open(path, err, sizeof(err));
	CHECKF(s != NULL, "%s", err);
	if (s == NULL)
		return;
	/* Set again: one row, the new values. */
	b = blk("198.51.100.0/24", false, IPP_K_ADMIN, T0 + 600, "shorter");
	CHECK(ippstore_put(s, &b, err, sizeof(err)));
	/* Remove one; removing it twice is no error. */
	if (netaddr_parse(&a, "2001:db8::1", 11) != NETADDR_OK)
		abort();
	CHECK(ippstore_del(s, &a, err, sizeof(err)));
	CHECK(ippstore_del(s, &a, err, sizeof(err)));
	ippstore_close(s);
	CHECK_INTEQ(load(T0, NULL), 1);
	CHECK(strstr(got, "198.51.100.0/24:T:admin:shorter:1899999990:"
	    "1900000600;") != NULL);
}

/* exec: one SQL statement on the store's file. */
static void
exec(const char *sql)
{
	sqlite3	*h;

	CHECK(sqlite3_open(path, &h) == SQLITE_OK);
	CHECKF(sqlite3_exec(h, sql, NULL, NULL, NULL) == SQLITE_OK, "%s",
	    sqlite3_errmsg(h));
	sqlite3_close(h);
}

/* rows: how many rows the block table has. */
static int
rows(void)
{
	sqlite3_stmt	*st;
	sqlite3		*h;
	int		 n = -1;

	CHECK(sqlite3_open(path, &h) == SQLITE_OK);
	if (sqlite3_prepare_v2(h, "SELECT count(*) FROM ipp_block", -1, &st,
	    NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

static void
t_bad_rows(void)
{
	exec("INSERT INTO ipp_block VALUES ('192.0.2.1/24', 1, 'admin', 'x', "
	    "0, 0);"
	    "INSERT INTO ipp_block VALUES ('192.0.2.2', 1, 'blocked_ips', "
	    "'x', 0, 0);"
	    "INSERT INTO ipp_block VALUES ('192.0.2.3', 1, 'nope', 'x', 0, 0);"
	    "INSERT INTO ipp_block VALUES ('192.0.2.4', 1, 'admin', "
	    "'bad' || char(10) || 'reason', 0, 0);"
	    "INSERT INTO ipp_block VALUES ('192.0.2.5', 0, 'admin', 'x', 0, "
	    "0);"
	    "INSERT INTO ipp_block VALUES ('192.0.2.6', 0, 'admin', 'fine', "
	    "1, 9999999999);");
	CHECK_INTEQ(rows(), 7);
	CHECK_INTEQ(load(T0, NULL), 2);
	CHECK(strstr(got, "192.0.2.6:T:admin:fine") != NULL);
	CHECK(strstr(got, "198.51.100.0/24") != NULL);
	CHECK(strstr(got, "192.0.2.2") == NULL);
	/*
	 * The expired row was purged, those with a good address and a bad
	 * rest dropped; the one whose address does not parse stays.
	 */
	CHECK_INTEQ(rows(), 3);
	CHECK_INTEQ(load(T0, NULL), 2);
}

static void
t_newer_schema(void)
{
	struct ippstore	*s;
	char		 err[512];

	exec("UPDATE ipp_schema SET version = 99;");
	s = ippstore_open(path, err, sizeof(err));
	CHECK(s == NULL);
	CHECKF(strstr(err, "newer") != NULL, "%s", err);
	ippstore_close(s);
}

static void
t_not_a_store(void)
{
	struct ippstore	*s;
	char		 err[512], other[160];
	sqlite3		*h;

	(void)snprintf(other, sizeof(other), "%s/other.db", dir);
	CHECK(sqlite3_open(other, &h) == SQLITE_OK);
	CHECK(sqlite3_exec(h, "CREATE TABLE x (y);", NULL, NULL, NULL) ==
	    SQLITE_OK);
	sqlite3_close(h);
	s = ippstore_open(other, err, sizeof(err));
	CHECK(s == NULL);
	CHECKF(strstr(err, "not a sekisho IP profiler store") != NULL, "%s",
	    err);
	ippstore_close(s);
}

static void
t_setup(void)
{
	log_init("test", true, LOG_LVL_WARN);
	if (mkdtemp(dir) == NULL)
		abort();
	(void)snprintf(path, sizeof(path), "%s/ipprofiler.db", dir);
}

static void
t_teardown(void)
{
	test_rmtree(dir);
}

TEST_MAIN(t_setup, t_roundtrip, t_replace_delete, t_bad_rows,
    t_newer_schema, t_not_a_store, t_teardown)
