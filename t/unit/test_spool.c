/*
 * test_spool.c: envelope file format and the spool's commit and recovery.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envelope.h"
#include "spool.h"
#include "test.h"
#include "xmalloc.h"

static void
fill(struct envelope *env, const char *id)
{
	envelope_init(env);
	memcpy(env->id, id, SPOOL_ID_LEN + 1);
	env->received = 1764386000;
	env->sender = xstrdup("alice@example.com");
	env->helo = xstrdup("mx.example.org");
	env->client_ip = xstrdup("192.0.2.7");
	env->size = 1234;
	env->body_8bit = true;
	envelope_add_rcpt(env, "bob@example.net", NULL, 0);
}

static void
t_envelope_roundtrip(void)
{
	struct envelope	 a, b;
	struct buf	 txt;
	char		 err[128];

	fill(&a, "0123456789abcdef");
	free(a.sender);
	a.sender = xstrdup("");			/* null sender */
	free(a.helo);
	a.helo = xstrdup("evil\r\nrcpt x 0 -\nend %41 - \x01");
	a.tls = xstrdup("TLSv1.3 TLS_AES_256_GCM_SHA384");
	a.envid = xstrdup("-");
	a.smtputf8 = true;
	a.ret_hdrs = true;
	envelope_add_rcpt(&a, "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b.example",
	    "rfc822;x y@z", ENV_NOTIFY_FAILURE | ENV_NOTIFY_DELAY);
	envelope_add_rcpt(&a, "carol@example.org", NULL, 0);
	a.warned = true;
	a.rcpt[1].state = RSTATE_FAILED;
	a.rcpt[1].reported = true;
	a.rcpt[1].attempts = 3;
	a.rcpt[1].next = 1764389600;
	envelope_rcpt_result(&a.rcpt[1], "5.1.1", "mx.example[192.0.2.9]:25",
	    "550 5.1.1 <x>: no such\r\n user %41");
	a.rcpt[2].state = RSTATE_DELIVERED;
	envelope_rcpt_result(&a.rcpt[2], "2.0.0", NULL, "250 ok");
	buf_init(&txt, ENVELOPE_MAX_SIZE);
	CHECK(envelope_format(&a, &txt));
	CHECK(envelope_parse(&b, (char *)txt.data, txt.len, err,
	    sizeof(err)) == 0);
	CHECK_STREQ(b.id, a.id);
	CHECK_INTEQ(b.received, a.received);
	CHECK_STREQ(b.sender, "");
	CHECK_STREQ(b.helo, a.helo);
	CHECK_STREQ(b.client_ip, "192.0.2.7");
	CHECK(b.client_name == NULL);
	CHECK_STREQ(b.tls, a.tls);
	CHECK_STREQ(b.envid, "-");
	CHECK(b.auth == NULL);
	CHECK_INTEQ(b.size, 1234);
	CHECK(b.smtputf8 && b.body_8bit && b.ret_hdrs);
	CHECK_INTEQ(b.nrcpt, 3);
	CHECK(b.warned);
	if (b.nrcpt == 3) {
		CHECK_INTEQ(b.rcpt[0].state, RSTATE_PENDING);
		CHECK_INTEQ(b.rcpt[0].attempts, 0);
		CHECK_STREQ(b.rcpt[0].dsn, "");
		CHECK(b.rcpt[0].reply == NULL && b.rcpt[0].remote == NULL);
		CHECK_INTEQ(b.rcpt[1].state, RSTATE_FAILED);
		CHECK(b.rcpt[1].reported);
		CHECK_INTEQ(b.rcpt[1].attempts, 3);
		CHECK_INTEQ(b.rcpt[1].next, 1764389600);
		CHECK_STREQ(b.rcpt[1].dsn, "5.1.1");
		CHECK_STREQ(b.rcpt[1].remote, "mx.example[192.0.2.9]:25");
		CHECK_STREQ(b.rcpt[1].reply, a.rcpt[1].reply);
		CHECK_INTEQ(b.rcpt[2].state, RSTATE_DELIVERED);
		CHECK(b.rcpt[2].remote == NULL);
		CHECK_STREQ(b.rcpt[2].reply, "250 ok");
		CHECK_STREQ(b.rcpt[0].addr, "bob@example.net");
		CHECK(b.rcpt[0].orcpt == NULL);
		CHECK_STREQ(b.rcpt[1].addr, a.rcpt[1].addr);
		CHECK_STREQ(b.rcpt[1].orcpt, "rfc822;x y@z");
		CHECK_INTEQ(b.rcpt[1].notify, ENV_NOTIFY_FAILURE |
		    ENV_NOTIFY_DELAY);
	}
	/* Nothing the writer produces has a raw control byte in a value. */
	CHECK(memchr(txt.data, '\r', txt.len) == NULL);
	envelope_clear(&a);
	envelope_clear(&b);
	buf_free(&txt);
}

static void
t_envelope_reject(void)
{
	static const char good[] =
	    "sekisho-envelope 1\nid 0123456789abcdef\nreceived 1\n"
	    "sender a@b\nsize 3\nrcpt c@d 0 -\nend\n";
	static const struct {
		const char	*name, *text;
	} bad[] = {
		{ "empty", "" },
		{ "version 2", "sekisho-envelope 2\nid 0123456789abcdef\n"
		    "received 1\nsender a@b\nsize 3\nrcpt c@d 0 -\nend\n" },
		{ "no end", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsender a@b\nsize 3\nrcpt c@d 0 -\n" },
		{ "no final newline", "sekisho-envelope 1\nid 0123456789abcdef"
		    "\nreceived 1\nsender a@b\nsize 3\nrcpt c@d 0 -\nend" },
		{ "after end", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsender a@b\nsize 3\nrcpt c@d 0 -\nend\nx y\n" },
		{ "no rcpt", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsender a@b\nsize 3\nend\n" },
		{ "no sender", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsize 3\nrcpt c@d 0 -\nend\n" },
		{ "null sender value", "sekisho-envelope 1\nid 0123456789abcdef"
		    "\nreceived 1\nsender -\nsize 3\nrcpt c@d 0 -\nend\n" },
		{ "dup sender", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsender a@b\nsender a@c\nsize 3\n"
		    "rcpt c@d 0 -\nend\n" },
		{ "unknown key", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsender a@b\nsize 3\nrcpt c@d 0 -\nfoo 1\nend\n" },
		{ "short id", "sekisho-envelope 1\nid 0123\n"
		    "received 1\nsender a@b\nsize 3\nrcpt c@d 0 -\nend\n" },
		{ "bad escape", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsender a%4@b\nsize 3\nrcpt c@d 0 -\nend\n" },
		{ "escaped NUL", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsender a%00b\nsize 3\nrcpt c@d 0 -\nend\n" },
		{ "cut escape", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsender ab%2\nsize 3\nrcpt c@d 0 -\nend\n" },
		{ "raw CR", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsender a\r\nsize 3\nrcpt c@d 0 -\nend\n" },
		{ "rcpt fields", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsender a@b\nsize 3\nrcpt c@d 0\nend\n" },
		{ "rcpt notify", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsender a@b\nsize 3\nrcpt c@d 16 -\nend\n" },
		{ "size overflow", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsender a@b\nsize 18446744073709551616\n"
		    "rcpt c@d 0 -\nend\n" },
		{ "size sign", "sekisho-envelope 1\nid 0123456789abcdef\n"
		    "received 1\nsender a@b\nsize -3\nrcpt c@d 0 -\nend\n" },
#define ENV_HEAD "sekisho-envelope 1\nid 0123456789abcdef\nreceived 1\n" \
		    "sender a@b\nsize 3\nrcpt c@d 0 -\nrcpt e@f 0 -\n"
		{ "rstate index", ENV_HEAD "rstate 2 failed 0 0 0 - - -\nend\n" },
		{ "rstate twice", ENV_HEAD "rstate 1 failed 0 0 0 - - -\n"
		    "rstate 1 failed 0 0 0 - - -\nend\n" },
		{ "rstate order", ENV_HEAD "rstate 1 failed 0 0 0 - - -\n"
		    "rstate 0 failed 0 0 0 - - -\nend\n" },
		{ "rstate before rcpt", "sekisho-envelope 1\nid 0123456789abcdef"
		    "\nreceived 1\nsender a@b\nsize 3\nrcpt c@d 0 -\n"
		    "rstate 0 failed 0 0 0 - - -\nrcpt e@f 0 -\nend\n" },
		{ "rstate state", ENV_HEAD "rstate 0 bounced 0 0 0 - - -\nend\n" },
		{ "rstate fields", ENV_HEAD "rstate 0 failed 0 0 0 - -\nend\n" },
		{ "rstate extra", ENV_HEAD "rstate 0 failed 0 0 0 - - - -\nend\n" },
		{ "rstate reported", ENV_HEAD "rstate 0 failed 0 0 2 - - -\nend\n" },
		{ "rstate dsn", ENV_HEAD "rstate 0 failed 0 0 0 "
		    "5.1.1.1.1.1.1.1.1.1 - -\nend\n" },
		{ "rstate space", ENV_HEAD "rstate 0  failed 0 0 0 - - -\nend\n" },
		{ "warned 0", ENV_HEAD "warned 0\nend\n" },
	};
	struct envelope	 env;
	char		 err[128];
	size_t		 i;

	CHECK(envelope_parse(&env, good, strlen(good), err, sizeof(err)) == 0);
	envelope_clear(&env);
	for (i = 0; i < nitems(bad); i++) {
		err[0] = '\0';
		CHECKF(envelope_parse(&env, bad[i].text, strlen(bad[i].text),
		    err, sizeof(err)) == -1, "%s", bad[i].name);
		CHECKF(err[0] != '\0', "%s: no error text", bad[i].name);
		CHECKF(env.nrcpt == 0 && env.sender == NULL, "%s: not cleared",
		    bad[i].name);
	}
}

static int	 recovered;
static char	 recovered_id[SPOOL_ID_LEN + 1];

static void
count_cb(enum spool_state st, struct envelope *env, void *arg)
{
	(void)arg;
	CHECK(st == SPOOL_INCOMING);
	recovered++;
	memcpy(recovered_id, env->id, sizeof(recovered_id));
}

static int
count_dir(const char *dir, const char *sub)
{
	char		 p[512];
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	snprintf(p, sizeof(p), "%s/%s", dir, sub);
	if ((d = opendir(p)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
t_spool_commit_recover(void)
{
	char		 tmpl[] = "/tmp/sekisho-spool.XXXXXX", *dir, path[512];
	char		 id[SPOOL_ID_LEN + 1], id2[SPOOL_ID_LEN + 1], err[128];
	char		 orphan[SPOOL_ID_LEN + 1], rd[16];
	struct spool	 sp;
	struct envelope	 env;
	int		 fd, fd2;

	dir = mkdtemp(tmpl);
	CHECK(dir != NULL);
	snprintf(path, sizeof(path), "%s/spool", dir);
	CHECK(spool_open(&sp, path, err, sizeof(err)) == 0);

	fd = spool_body_create(&sp, id);
	CHECK(fd >= 0);
	CHECK(write(fd, "abc\r\n", 5) == 5);
	fill(&env, id);
	CHECK(spool_commit(&sp, SPOOL_INCOMING, &env, err, sizeof(err)) == 0);
	close(fd);
	envelope_clear(&env);
	CHECK_INTEQ(count_dir(path, "incoming"), 2);
	CHECK_INTEQ(count_dir(path, "tmp"), 0);

	/* A second message, never committed (crash before 250). */
	fd2 = spool_body_create(&sp, id2);
	CHECK(fd2 >= 0);
	CHECK(strcmp(id2, id) > 0);	/* ids sort by arrival */
	close(fd2);
	/* Content without envelope in incoming: also never acknowledged. */
	spool_id_new(&sp, orphan);
	snprintf(path, sizeof(path), "%s/spool/incoming/%s.msg", dir, orphan);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	/* A corrupt envelope. */
	snprintf(path, sizeof(path), "%s/spool/incoming/%s.env", dir,
	    "00000000000000ff");
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	CHECK(write(fd, "garbage\n", 8) == 8);
	close(fd);
	spool_close(&sp);

	snprintf(path, sizeof(path), "%s/spool", dir);
	CHECK(spool_open(&sp, path, err, sizeof(err)) == 0);
	recovered = 0;
	CHECK_INTEQ(spool_recover(&sp, count_cb, NULL), 1);
	CHECK_INTEQ(recovered, 1);
	CHECK_STREQ(recovered_id, id);
	CHECK_INTEQ(count_dir(path, "tmp"), 0);
	CHECK_INTEQ(count_dir(path, "incoming"), 2);
	CHECK_INTEQ(count_dir(path, "corrupt"), 1);

	fd = spool_body_open(&sp, SPOOL_INCOMING, id);
	CHECK(fd >= 0);
	CHECK(read(fd, rd, sizeof(rd)) == 5 && memcmp(rd, "abc\r\n", 5) == 0);
	close(fd);
	CHECK(spool_remove(&sp, SPOOL_INCOMING, id) == 0);
	CHECK_INTEQ(count_dir(path, "incoming"), 0);
	spool_close(&sp);

	CHECK(test_rmtree(dir) == 0);
}

static void
t_spool_ids(void)
{
	struct spool	 sp;
	char		 a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];
	int		 i;

	memset(&sp, 0, sizeof(sp));
	spool_id_new(&sp, a);
	for (i = 0; i < 10000; i++) {
		spool_id_new(&sp, b);
		CHECKF(strcmp(b, a) > 0, "%s <= %s", b, a);
		CHECK_INTEQ(strlen(b), SPOOL_ID_LEN);
		memcpy(a, b, sizeof(a));
	}
}

TEST_MAIN(t_envelope_roundtrip, t_envelope_reject, t_spool_commit_recover,
    t_spool_ids)
