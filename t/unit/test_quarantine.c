/*
 * test_quarantine.c: the quarantine store: store, list, get, export,
 * delete, release, and rebuilding the index from the files.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "quarantine.h"
#include "test.h"
#include "xmalloc.h"

static char	 dir[256], qdir[300];

static const char msg1[] = "Subject: =?UTF-8?B?5qSc5p+7?=\r\n"
    "From: a@example.com\r\n\r\nbody \xe6\x97\xa5\xe6\x9c\xac\r\n";

/* fill: an envelope with three recipients. */
static void
fill(struct envelope *env, const char *id, const char *sender)
{
	envelope_init(env);
	str_lcpy(env->id, id, sizeof(env->id));
	env->received = 1764386000;
	env->sender = xstrdup(sender);
	env->size = 1;
	envelope_add_rcpt(env, "bob@example.net", NULL, 0);
	envelope_add_rcpt(env, "Carol@Example.NET", "rfc822;carol@x", 6);
	envelope_add_rcpt(env, "dave@example.org", NULL, 0);
}

/* content_fd: a file holding the bytes, positioned at its end. */
static int
content_fd(const char *bytes, size_t len)
{
	char	 p[400];
	int	 fd;

	snprintf(p, sizeof(p), "%s/content", dir);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd != -1);
	CHECK(write(fd, bytes, len) == (ssize_t)len);
	unlink(p);
	return fd;
}

/* store1: quarantine bytes under area, returning the id. */
static void
store1(struct quar *q, const char *qid, const char *sender,
    const char *const *rcpts, size_t n, const char *bytes, const char *area,
    const char *subject, char *id)
{
	struct envelope	 env;
	struct quar_meta m = { area, subject, "ルール 1", "matched" };
	char		 err[256] = "";
	int		 fd;

	fill(&env, qid, sender);
	fd = content_fd(bytes, strlen(bytes));
	CHECKF(quar_store(q, &env, rcpts, n, fd, &m, id, err,
	    sizeof(err)) == 0, "%s", err);
	close(fd);
	envelope_clear(&env);
}

struct seen {
	int	 n;
	char	 ids[8][QUAR_ID_LEN + 1];
};

static bool
collect(const struct quar_entry *e, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8)
		str_lcpy(s->ids[s->n], e->id, sizeof(s->ids[0]));
	s->n++;
	return true;
}

/* count: entries the filter selects. */
static int
count(struct quar *q, const struct quar_filter *f)
{
	struct seen	 s;
	char		 err[256] = "";

	memset(&s, 0, sizeof(s));
	CHECKF(quar_list(q, f, collect, &s, err, sizeof(err)) == s.n, "%s",
	    err);
	return s.n;
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_quar.XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(qdir, sizeof(qdir), "%s/quarantine", dir);
}

/* drop_row: delete one entry's index rows behind the store's back. */
static void
drop_row(const char *where, const char *id)
{
	static const char *const sql[] = {
		"DELETE FROM entries WHERE id = ?1",
		"DELETE FROM entry_rcpt WHERE id = ?1",
	};
	sqlite3		*db;
	sqlite3_stmt	*st;
	char		 p[1024];
	size_t		 i;

	snprintf(p, sizeof(p), "%s/index.db", where);
	CHECK(sqlite3_open_v2(p, &db, SQLITE_OPEN_READWRITE, NULL) ==
	    SQLITE_OK);
	for (i = 0; i < nitems(sql); i++) {
		CHECK(sqlite3_prepare_v2(db, sql[i], -1, &st, NULL) ==
		    SQLITE_OK);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		CHECK(sqlite3_step(st) == SQLITE_DONE);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
}

static void
t_store_list_get_export_delete(void)
{
	struct quar	*q;
	struct quar_entry e;
	struct quar_filter f;
	const char	*only[] = { "Carol@Example.NET" };
	char		 err[256] = "", a[QUAR_ID_LEN + 1], b[QUAR_ID_LEN + 1];
	char		 c[QUAR_ID_LEN + 1], p[400], got[512];
	int		 fd;
	ssize_t		 n;

	setup();
	q = quar_open(qdir, err, sizeof(err));
	CHECKF(q != NULL, "%s", err);
	if (q == NULL)
		return;
	store1(q, "0000000000000001", "alice@example.com", NULL, 0, msg1,
	    "spam", "検査 テスト", a);
	store1(q, "0000000000000002", "", only, 1, "x\r\n", "virus", NULL, b);
	store1(q, "0000000000000003", "Eve@Evil.example", NULL, 0, "y\r\n",
	    "spam", "hello", c);
	CHECK(strcmp(a, b) != 0 && strcmp(b, c) != 0 && strcmp(a, c) != 0);
	CHECK(quar_id_valid(a));

	memset(&f, 0, sizeof(f));
	CHECK_INTEQ(count(q, &f), 3);
	f.area = "spam";
	CHECK_INTEQ(count(q, &f), 2);
	f.area = "nope";
	CHECK_INTEQ(count(q, &f), 0);
	memset(&f, 0, sizeof(f));
	f.sender = "EVIL";
	CHECK_INTEQ(count(q, &f), 1);
	memset(&f, 0, sizeof(f));
	f.rcpt = "carol@";
	CHECK_INTEQ(count(q, &f), 3);
	f.rcpt = "dave";
	CHECK_INTEQ(count(q, &f), 2);		/* b holds carol only */
	f.rcpt = "carol@example.net";
	f.rcpt_exact = true;
	CHECK_INTEQ(count(q, &f), 3);
	f.rcpt = "carol@example";
	CHECK_INTEQ(count(q, &f), 0);
	memset(&f, 0, sizeof(f));
	f.limit = 2;
	CHECK_INTEQ(count(q, &f), 2);
	f.offset = 2;
	CHECK_INTEQ(count(q, &f), 1);

	CHECK_INTEQ(quar_get(q, a, &e, err, sizeof(err)), 1);
	f.since = e.time;
	f.until = e.time + 1;
	f.limit = f.offset = 0;
	CHECK_INTEQ(count(q, &f), 1);
	CHECK_STREQ(e.id, a);
	CHECK_STREQ(e.qid, "0000000000000001");
	CHECK_STREQ(e.area, "spam");
	CHECK_STREQ(e.subject, "検査 テスト");
	CHECK_STREQ(e.rule, "ルール 1");
	CHECK_STREQ(e.reason, "matched");
	CHECK_STREQ(e.sender, "alice@example.com");
	CHECK_INTEQ(e.size, strlen(msg1));
	CHECK_INTEQ(e.nrcpt, 3);
	if (e.nrcpt == 3)
		CHECK_STREQ(e.rcpt[1], "Carol@Example.NET");
	quar_entry_clear(&e);
	CHECK_INTEQ(quar_get(q, b, &e, err, sizeof(err)), 1);
	CHECK(e.subject == NULL);
	CHECK_STREQ(e.sender, "");
	CHECK_INTEQ(e.nrcpt, 1);
	quar_entry_clear(&e);
	CHECK_INTEQ(quar_get(q, "../../etc/passwd", &e, err, sizeof(err)), 0);
	CHECK_INTEQ(quar_get(q, "ffffffffffffffff", &e, err, sizeof(err)), 0);

	/* Export: byte-identical. */
	snprintf(p, sizeof(p), "%s/out.eml", dir);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECKF(quar_export(q, a, fd, err, sizeof(err)) == 0, "%s", err);
	n = pread(fd, got, sizeof(got), 0);
	CHECK(n == (ssize_t)strlen(msg1) && memcmp(got, msg1, strlen(msg1)) ==
	    0);
	close(fd);
	unlink(p);
	CHECK(quar_export(q, "0123", 1, err, sizeof(err)) == -1);

	/* Delete: file and row. */
	CHECK_INTEQ(quar_delete(q, c, err, sizeof(err)), 1);
	CHECK_INTEQ(quar_delete(q, c, err, sizeof(err)), 0);
	CHECK(quar_open_content(q, c) == -1);
	memset(&f, 0, sizeof(f));
	CHECK_INTEQ(count(q, &f), 2);
	quar_close(q);

	/* Reopen: all still there. */
	q = quar_open(qdir, err, sizeof(err));
	CHECKF(q != NULL, "%s", err);
	if (q == NULL)
		return;
	CHECK_INTEQ(count(q, &f), 2);
	CHECK_INTEQ(quar_get(q, a, &e, err, sizeof(err)), 1);
	CHECK_STREQ(e.subject, "検査 テスト");
	quar_entry_clear(&e);
	quar_close(q);
	test_rmtree(dir);
}

static void
t_release(void)
{
	struct quar	*q;
	struct quar_entry e;
	struct envelope	 env;
	const char	*only[] = { "dave@example.org", "bob@example.net" };
	char		 err[256] = "", a[QUAR_ID_LEN + 1], got[64];
	int		 fd;

	setup();
	q = quar_open(qdir, err, sizeof(err));
	CHECKF(q != NULL, "%s", err);
	if (q == NULL)
		return;
	store1(q, "00000000000000aa", "alice@example.com", only, 2, "abc\r\n",
	    "spam", "s", a);
	CHECK_INTEQ(quar_release_begin(q, a, &env, &fd, &e, err,
	    sizeof(err)), 1);
	CHECK_STREQ(env.id, "00000000000000aa");
	CHECK_INTEQ(env.nrcpt, 2);
	if (env.nrcpt == 2) {
		CHECK_STREQ(env.rcpt[0].addr, "dave@example.org");
		CHECK_STREQ(env.rcpt[1].addr, "bob@example.net");
	}
	CHECK_INTEQ(env.size, 5);
	CHECK_STREQ(e.rule, "ルール 1");
	CHECK(pread(fd, got, sizeof(got), 0) == 5 &&
	    memcmp(got, "abc\r\n", 5) == 0);
	close(fd);
	envelope_clear(&env);
	quar_entry_clear(&e);
	CHECK_INTEQ(quar_release_done(q, a, err, sizeof(err)), 1);
	CHECK_INTEQ(quar_release_begin(q, a, &env, &fd, &e, err,
	    sizeof(err)), 0);
	/* Not a recipient of the message: refused. */
	{
		struct envelope	 x;
		struct quar_meta m = { "spam", NULL, NULL, NULL };
		const char	*bad[] = { "mallory@example.com" };
		char		 id[QUAR_ID_LEN + 1];

		fill(&x, "00000000000000ab", "a@b");
		fd = content_fd("z", 1);
		CHECK(quar_store(q, &x, bad, 1, fd, &m, id, err,
		    sizeof(err)) == -1);
		close(fd);
		envelope_clear(&x);
	}
	quar_close(q);
	test_rmtree(dir);
}

static void
t_crash_recovery(void)
{
	struct quar	*q;
	struct quar_filter f;
	struct quar_entry e;
	char		 err[256] = "", a[QUAR_ID_LEN + 1], b[QUAR_ID_LEN + 1];
	char		 p[400];
	int		 fd;

	setup();
	memset(&f, 0, sizeof(f));
	q = quar_open(qdir, err, sizeof(err));
	CHECKF(q != NULL, "%s", err);
	if (q == NULL)
		return;
	store1(q, "0000000000000010", "alice@example.com", NULL, 0, msg1,
	    "spam", "日本語の件名", a);
	store1(q, "0000000000000011", "bob@example.com", NULL, 0, "q\r\n",
	    "virus", "two", b);
	/* A crash after the files, before the row: drop the row. */
	CHECK_INTEQ(quar_delete(q, b, err, sizeof(err)), 1);
	quar_close(q);
	snprintf(p, sizeof(p), "%s/msg/%s.msg", qdir, a);
	q = quar_open(qdir, err, sizeof(err));
	CHECKF(q != NULL, "%s", err);
	if (q == NULL)
		return;
	store1(q, "0000000000000011", "bob@example.com", NULL, 0, "q\r\n",
	    "virus", "two", b);
	quar_close(q);
	/* Remove b's row only, as if the index commit was lost. */
	drop_row(qdir, b);
	/* Leftovers of an uncommitted store: tmp/ and an orphan .msg. */
	snprintf(p, sizeof(p), "%s/tmp/1111111111111111.msg", qdir);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	close(fd);
	snprintf(p, sizeof(p), "%s/msg/2222222222222222.msg", qdir);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	close(fd);
	q = quar_open(qdir, err, sizeof(err));
	CHECKF(q != NULL, "%s", err);
	if (q == NULL)
		return;
	CHECK_INTEQ(count(q, &f), 2);
	CHECK_INTEQ(quar_get(q, b, &e, err, sizeof(err)), 1);
	CHECK_STREQ(e.subject, "two");
	CHECK_INTEQ(e.nrcpt, 3);
	quar_entry_clear(&e);
	CHECK(access(p, F_OK) == -1);
	snprintf(p, sizeof(p), "%s/tmp/1111111111111111.msg", qdir);
	CHECK(access(p, F_OK) == -1);
	quar_close(q);

	/* The index lost entirely: rebuilt from the files. */
	snprintf(p, sizeof(p), "%s/index.db", qdir);
	CHECK(unlink(p) == 0);
	snprintf(p, sizeof(p), "%s/index.db-wal", qdir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/index.db-shm", qdir);
	unlink(p);
	q = quar_open(qdir, err, sizeof(err));
	CHECKF(q != NULL, "%s", err);
	if (q == NULL)
		return;
	CHECK_INTEQ(count(q, &f), 2);
	CHECK_INTEQ(quar_get(q, a, &e, err, sizeof(err)), 1);
	CHECK_STREQ(e.subject, "日本語の件名");
	CHECK_STREQ(e.area, "spam");
	CHECK_STREQ(e.rule, "ルール 1");
	CHECK_STREQ(e.qid, "0000000000000010");
	CHECK_INTEQ(e.nrcpt, 3);
	quar_entry_clear(&e);
	f.rcpt = "dave@example.org";
	f.rcpt_exact = true;
	CHECK_INTEQ(count(q, &f), 2);
	quar_close(q);

	/* A garbage index: moved aside and rebuilt. */
	snprintf(p, sizeof(p), "%s/index.db", qdir);
	unlink(p);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(write(fd, "this is not a database at all, not at all....", 46)
	    == 46);
	close(fd);
	q = quar_open(qdir, err, sizeof(err));
	CHECKF(q != NULL, "%s", err);
	if (q != NULL) {
		memset(&f, 0, sizeof(f));
		CHECK_INTEQ(count(q, &f), 2);
		quar_close(q);
	}
	/* An unreadable .info goes to corrupt/, the rest stays. */
	snprintf(p, sizeof(p), "%s/msg/%s.info", qdir, b);
	fd = open(p, O_WRONLY | O_TRUNC);
	CHECK(write(fd, "junk\n", 5) == 5);
	close(fd);
	snprintf(p, sizeof(p), "%s/index.db", qdir);
	unlink(p);
	q = quar_open(qdir, err, sizeof(err));
	CHECKF(q != NULL, "%s", err);
	if (q != NULL) {
		CHECK_INTEQ(count(q, &f), 1);
		quar_close(q);
	}
	snprintf(p, sizeof(p), "%s/corrupt/%s.msg", qdir, b);
	CHECK(access(p, F_OK) == 0);
	test_rmtree(dir);
}

static void
t_ids_unique(void)
{
	struct quar	*q;
	struct quar_filter f;
	char		 err[256] = "", ids[50][QUAR_ID_LEN + 1];
	int		 i, j, dup = 0;

	setup();
	q = quar_open(qdir, err, sizeof(err));
	CHECKF(q != NULL, "%s", err);
	if (q == NULL)
		return;
	for (i = 0; i < 50; i++)
		store1(q, "0000000000000100", "a@b", NULL, 0, "m\r\n", "spam",
		    "s", ids[i]);
	for (i = 0; i < 50; i++)
		for (j = i + 1; j < 50; j++)
			dup += strcmp(ids[i], ids[j]) == 0;
	CHECK_INTEQ(dup, 0);
	memset(&f, 0, sizeof(f));
	CHECK_INTEQ(count(q, &f), 50);
	quar_close(q);
	test_rmtree(dir);
}

TEST_MAIN(t_store_list_get_export_delete, t_release, t_crash_recovery,
    t_ids_unique)
