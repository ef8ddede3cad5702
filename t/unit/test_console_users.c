/*
 * test_console_users.c: the console's administrators file
 * (manager/console_users.c): a valid file with comments, each kind of
 * bad line refused with PATH:LINE, duplicates and the limit, the name and
 * hash rules at their edges, set/remove/find, save then load in a
 * temporary directory (mode 0600, a missing file is empty), and the
 * password checks: a new yescrypt hash verifies, a wrong password, an
 * unknown name and an over-long password do not.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console_users.h"
#include "test.h"
#include "util.h"
#include "xmalloc.h"

#define HASH_Y	"$y$j9T$CcNSyvL3IdjjeU2SaE9TA1$" \
		"foScFgwD7Y2nM2rGacz2nWdSvG9gzie6/UXSIyXaqT8"
#define HASH_6	"$6$salt$abcdefghijklmnop"
#define NAME_32	"a2345678901234567890123456789012"

/* parse: console_users_parse on a C string, path "users". */
static int
parse(const char *s, struct console_users *u, char *err, size_t errlen)
{
	return console_users_parse(s, strlen(s), "users", u, err, errlen);
}

/* t_parse_valid: comments, empty lines, every method, no final newline. */
static void
t_parse_valid(void)
{
	struct console_users u;
	char		 err[256];
	const char	*text =
	    "# administrators\n"
	    "\n"
	    "admin:" HASH_Y "\n"
	    "#old:" HASH_6 "\n"
	    "ops.team_1-x:" HASH_6 "\n"
	    "9lives:$2b$12$abcdefghijklmnopqrstuv\n"
	    NAME_32 ":$7$CU..../....abcdef";

	CHECK_INTEQ(parse(text, &u, err, sizeof(err)), 0);
	CHECK_INTEQ(u.n, 4);
	CHECK_STREQ(u.v[0].name, "admin");
	CHECK_STREQ(u.v[0].hash, HASH_Y);
	CHECK_STREQ(u.v[1].name, "ops.team_1-x");
	CHECK_STREQ(u.v[3].name, NAME_32);
	CHECK(console_users_find(&u, "old") == NULL);
	CHECK(console_users_find(&u, "9lives") == &u.v[2]);
	console_users_free(&u);
	CHECK(u.v == NULL && u.n == 0);
	CHECK_INTEQ(parse("", &u, err, sizeof(err)), 0);
	CHECK_INTEQ(u.n, 0);
}

/* t_parse_invalid: each bad line named with its line number. */
static void
t_parse_invalid(void)
{
	static const struct {
		const char	*text;
		const char	*err;
	} cases[] = {
		{ "admin\n", "users:1: not NAME:HASH" },
		{ "# c\nAdmin:" HASH_Y "\n", "users:2: bad name" },
		{ ".admin:" HASH_Y, "users:1: bad name" },
		{ "-admin:" HASH_Y, "users:1: bad name" },
		{ ":" HASH_Y, "users:1: bad name" },
		{ "ad min:" HASH_Y, "users:1: bad name" },
		{ NAME_32 "3:" HASH_Y, "users:1: name too long" },
		{ "admin:", "users:1: bad hash" },
		{ "admin:$1$abc$def", "users:1: bad hash" },
		{ "admin:$y$", "users:1: bad hash" },
		{ "admin:" HASH_Y ":x", "users:1: bad hash" },
		{ "admin:" HASH_Y " ", "users:1: bad hash" },
		{ "admin:" HASH_Y "\r\n", "users:1: bad hash" },
		{ " admin:" HASH_Y, "users:1: bad name" },
		{ "a:" HASH_Y "\n\nb:" HASH_6 "\na:" HASH_6 "\n",
		    "users:4: administrator a appears twice" },
	};
	struct console_users u;
	char		 err[256];
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		err[0] = '\0';
		CHECKF(parse(cases[i].text, &u, err, sizeof(err)) == -1,
		    "case %zu", i);
		CHECKF(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0,
		    "case %zu: %s", i, err);
		CHECK(u.n == 0 && u.v == NULL);
	}
	/* A NUL byte inside a line. */
	CHECK_INTEQ(console_users_parse("a:$6$x\0y\n", 9, "users", &u, err,
	    sizeof(err)), -1);
	CHECK_STREQ(err, "users:1: NUL byte");
}

/* t_limits: the name and hash lengths, and the number of users. */
static void
t_limits(void)
{
	struct console_users u = { NULL, 0 };
	struct buf	 b;
	char		 hash[CONSOLE_HASH_MAX + 2], name[40], err[256];
	size_t		 i;

	CHECK(console_name_ok(NAME_32));
	CHECK(!console_name_ok(NAME_32 "3"));
	CHECK(!console_name_ok(""));
	memset(hash, 'a', sizeof(hash));
	memcpy(hash, "$6$", 3);
	hash[CONSOLE_HASH_MAX] = '\0';
	CHECK(console_hash_ok(hash));
	hash[CONSOLE_HASH_MAX] = 'a';
	hash[CONSOLE_HASH_MAX + 1] = '\0';
	CHECK(!console_hash_ok(hash));

	buf_init(&b, 1024 * 1024);
	for (i = 0; i < CONSOLE_USERS_MAX; i++)
		CHECK(buf_printf(&b, "u%zu:" HASH_6 "\n", i));
	CHECK_INTEQ(console_users_parse((const char *)b.data, b.len, "users",
	    &u, err, sizeof(err)), 0);
	CHECK_INTEQ(u.n, CONSOLE_USERS_MAX);
	CHECK_INTEQ(console_users_set(&u, "one-more", HASH_6, err,
	    sizeof(err)), -1);
	CHECK_STREQ(err, "too many administrators (at most 256)");
	/* Replacing a hash is not adding. */
	CHECK_INTEQ(console_users_set(&u, "u7", HASH_Y, err, sizeof(err)), 0);
	CHECK_STREQ(console_users_find(&u, "u7")->hash, HASH_Y);
	console_users_free(&u);
	CHECK(buf_printf(&b, "u%d:" HASH_6 "\n", CONSOLE_USERS_MAX));
	CHECK_INTEQ(console_users_parse((const char *)b.data, b.len, "users",
	    &u, err, sizeof(err)), -1);
	(void)snprintf(name, sizeof(name), "users:%d: too many",
	    CONSOLE_USERS_MAX + 1);
	CHECK(strncmp(err, name, strlen(name)) == 0);
	buf_free(&b);
}

/* t_set_remove: add, replace, remove, and the checks of set. */
static void
t_set_remove(void)
{
	struct console_users u = { NULL, 0 };
	char		 err[256];

	CHECK_INTEQ(console_users_set(&u, "alice", HASH_6, err,
	    sizeof(err)), 0);
	CHECK_INTEQ(console_users_set(&u, "bob", HASH_6, err, sizeof(err)), 0);
	CHECK_INTEQ(console_users_set(&u, "alice", HASH_Y, err,
	    sizeof(err)), 0);
	CHECK_INTEQ(u.n, 2);
	CHECK_STREQ(u.v[0].hash, HASH_Y);
	CHECK_INTEQ(console_users_set(&u, "Bob", HASH_6, err, sizeof(err)),
	    -1);
	CHECK(strncmp(err, "bad name", 8) == 0);
	CHECK_INTEQ(console_users_set(&u, "carol", "plain", err,
	    sizeof(err)), -1);
	CHECK(strncmp(err, "bad hash", 8) == 0);
	CHECK(console_users_remove(&u, "alice"));
	CHECK(!console_users_remove(&u, "alice"));
	CHECK_INTEQ(u.n, 1);
	CHECK_STREQ(u.v[0].name, "bob");
	CHECK(console_users_remove(&u, "bob"));
	CHECK_INTEQ(u.n, 0);
	console_users_free(&u);
}

/* t_save_load: round trip through a file; a missing one is empty. */
static void
t_save_load(void)
{
	struct console_users u = { NULL, 0 }, back;
	char		 dir[] = "/tmp/test_console_users.XXXXXX", err[512];
	char		*path, *want;
	struct stat	 st;

	CHECK(mkdtemp(dir) != NULL);
	path = xasprintf("%s/console.users", dir);
	CHECK_INTEQ(console_users_load(path, &back, err, sizeof(err)), 0);
	CHECK(back.n == 0 && back.v == NULL);
	CHECK_INTEQ(console_users_set(&u, "admin", HASH_Y, err, sizeof(err)),
	    0);
	CHECK_INTEQ(console_users_set(&u, "ops", HASH_6, err, sizeof(err)), 0);
	CHECK_INTEQ(console_users_save(path, &u, err, sizeof(err)), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_INTEQ(console_users_load(path, &back, err, sizeof(err)), 0);
	CHECK_INTEQ(back.n, 2);
	CHECK_STREQ(back.v[1].name, "ops");
	CHECK_STREQ(back.v[1].hash, HASH_6);
	console_users_free(&back);
	CHECK(file_write_atomic(path, "# x\nbroken\n", 11, 0600) == 0);
	CHECK_INTEQ(console_users_load(path, &back, err, sizeof(err)), -1);
	want = xasprintf("%s:2: not NAME:HASH", path);
	CHECK_STREQ(err, want);
	free(want);
	CHECK(unlink(path) == 0);
	free(path);
	path = xasprintf("%s/missing/console.users", dir);
	CHECK_INTEQ(console_users_save(path, &u, err, sizeof(err)), -1);
	CHECK(strstr(err, "No such file or directory") != NULL);
	free(path);
	console_users_free(&u);
	test_rmtree(dir);
}

/* t_hash_verify: a new hash verifies its password and nothing else. */
static void
t_hash_verify(void)
{
	struct console_users u = { NULL, 0 };
	char		 hash[CONSOLE_HASH_MAX + 1], other[CONSOLE_HASH_MAX + 1];
	char		 err[256], longpw[CONSOLE_PASSWORD_MAX + 2];

	CHECK_INTEQ(console_hash("correct horse battery", hash, sizeof(hash),
	    err, sizeof(err)), 0);
	CHECK(strncmp(hash, "$y$", 3) == 0);
	CHECK(console_hash_ok(hash));
	CHECK_INTEQ(console_hash("correct horse battery", other,
	    sizeof(other), err, sizeof(err)), 0);
	CHECK(strcmp(hash, other) != 0);		/* its own salt */
	CHECK_INTEQ(console_users_set(&u, "admin", hash, err, sizeof(err)),
	    0);
	CHECK(console_verify(&u, "admin", "correct horse battery"));
	CHECK(!console_verify(&u, "admin", "correct horse batterY"));
	CHECK(!console_verify(&u, "admin", ""));
	CHECK(!console_verify(&u, "nobody", "correct horse battery"));
	CHECK(!console_verify(&u, "Admin", "correct horse battery"));
	memset(longpw, 'p', sizeof(longpw));
	longpw[CONSOLE_PASSWORD_MAX + 1] = '\0';
	CHECK_INTEQ(console_hash(longpw, other, sizeof(other), err,
	    sizeof(err)), -1);
	CHECK(!console_verify(&u, "admin", longpw));
	/* Too small an output buffer. */
	CHECK_INTEQ(console_hash("correct horse battery", other, 10, err,
	    sizeof(err)), -1);
	console_users_free(&u);
}

TEST_MAIN(t_parse_valid, t_parse_invalid, t_limits, t_set_remove,
    t_save_load, t_hash_verify)
