/*
 * test_maildir.c: local Maildir delivery: the recipient-to-directory
 * sanitising (no path traversal, bounded names) and atomicity (nothing in
 * new/ until the file is complete; nothing left behind on failure).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildir.h"
#include "test.h"
#include "util.h"

static char	 root[256];

static void
t_name_table(void)
{
	static const struct {
		const char	*rcpt, *name;
	} cases[] = {
		{ "alice@example.org", "alice@example.org" },
		{ "Alice@Example.ORG", "alice@example.org" },
		{ "a+tag=x_y-z@x", "a+tag=x_y-z@x" },
		{ "../../etc/passwd@x", "..%2F..%2Fetc%2Fpasswd@x" },
		{ "\"a/b\"@x", "%22a%2Fb%22@x" },
		{ ".@x", ".@x" },
		{ ".", "%2E" },
		{ "..", "%2E%2E" },
		{ "", "%00" },
		{ "a b\r\n@x", "a%20b%0D%0A@x" },
		{ "\xc3\xa9@x", "%C3%A9@x" },
		{ "a\\b@x", "a%5Cb@x" },
	};
	char	 out[MAILDIR_NAME_MAX + 1];
	size_t	 i;

	for (i = 0; i < nitems(cases); i++) {
		CHECK(maildir_name(out, sizeof(out), cases[i].rcpt));
		CHECK_STREQ(out, cases[i].name);
	}
	CHECK(!maildir_name(out, 10, "a@x"));
}

static void
t_name_long(void)
{
	char	 big[600], out[MAILDIR_NAME_MAX + 1], out2[MAILDIR_NAME_MAX + 1];
	size_t	 i;

	/* 300 slashes: 900 bytes escaped; cut with a hash, never "%X". */
	memset(big, '/', 300);
	big[300] = '\0';
	CHECK(maildir_name(out, sizeof(out), big));
	CHECK(strlen(out) <= MAILDIR_NAME_MAX);
	CHECK(strchr(out, '/') == NULL && strchr(out, '#') != NULL);
	for (i = 0; out[i] != '#'; i += 3)
		CHECK(out[i] == '%');
	/* Names that differ only past the cut get different names. */
	memset(big, 'a', 599);
	big[599] = '\0';
	CHECK(maildir_name(out, sizeof(out), big));
	big[598] = 'b';
	CHECK(maildir_name(out2, sizeof(out2), big));
	CHECK(strlen(out) <= MAILDIR_NAME_MAX && strlen(out) >= 180);
	CHECK(strcmp(out, out2) != 0);
}

/* count_dir: entries (not . and ..) in root/name/sub. */
static int
count_dir(const char *name, const char *sub)
{
	char		 p[512];
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	snprintf(p, sizeof(p), "%s/%s/%s", root, name, sub);
	if ((d = opendir(p)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int	hook_new, hook_tmp;

/* before_link: the file is complete in tmp/; new/ must still be empty. */
static void
before_link(int dirfd, const char *file, void *arg)
{
	hook_new = count_dir(arg, "new");
	hook_tmp = count_dir(arg, "tmp");
}

static int
content(const char *data)
{
	char	 p[300];
	int	 fd, rfd;

	snprintf(p, sizeof(p), "%s/c-XXXXXX", root);
	if ((fd = mkstemp(p)) == -1 ||
	    write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		abort();
	rfd = open(p, O_RDONLY);
	close(fd);
	unlink(p);
	return rfd;
}

static void
t_deliver_atomic(void)
{
	static const char	 body[] = "Subject: s\r\n\r\nhello\r\n";
	struct maildir_msg	 m;
	char			 where[512], err[256], p[800], buf[256];
	struct stat		 st;
	FILE			*f;
	size_t			 n;

	memset(&m, 0, sizeof(m));
	m.root = root;
	m.rcpt = "Bob@Example.org";
	m.sender = "";
	m.fd = content(body);
	m.size = strlen(body);
	m.host = "mx/1:x";
	m.before_link = before_link;
	m.arg = "bob@example.org";
	CHECK(maildir_deliver(&m, where, sizeof(where), err, sizeof(err)) == 0);
	CHECK_INTEQ(hook_new, 0);
	CHECK_INTEQ(hook_tmp, 1);
	CHECK_INTEQ(count_dir("bob@example.org", "new"), 1);
	CHECK_INTEQ(count_dir("bob@example.org", "tmp"), 0);
	CHECK_INTEQ(count_dir("bob@example.org", "cur"), 0);
	CHECK(strncmp(where, "bob@example.org/new/", 20) == 0);
	CHECK(strstr(where, ".mx_1_x") != NULL);
	snprintf(p, sizeof(p), "%s/bob@example.org", root);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0700);
	snprintf(p, sizeof(p), "%s/%s", root, where);
	if ((f = fopen(p, "r")) != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		CHECK_STREQ(buf, "Return-Path: <>\r\nDelivered-To: "
		    "Bob@Example.org\r\nSubject: s\r\n\r\nhello\r\n");
	} else
		CHECKF(false, "%s", p);
	/* A second delivery: a different unique name. */
	m.before_link = NULL;
	CHECK(maildir_deliver(&m, where, sizeof(where), err, sizeof(err)) == 0);
	CHECK_INTEQ(count_dir("bob@example.org", "new"), 2);
	/* Content shorter than announced: failure, nothing left anywhere. */
	m.size = 10000;
	CHECK(maildir_deliver(&m, where, sizeof(where), err, sizeof(err)) ==
	    -1);
	CHECK(strstr(err, "shorter") != NULL);
	CHECK_INTEQ(count_dir("bob@example.org", "new"), 2);
	CHECK_INTEQ(count_dir("bob@example.org", "tmp"), 0);
	close(m.fd);
}

static void
t_deliver_traversal(void)
{
	struct maildir_msg	 m;
	char			 where[512], err[256], p[512];
	struct stat		 st;

	memset(&m, 0, sizeof(m));
	m.root = root;
	m.sender = "s@x";
	m.fd = content("x\r\n");
	m.size = 3;
	m.host = "h";
	m.rcpt = "../../escape@x";
	CHECK(maildir_deliver(&m, where, sizeof(where), err, sizeof(err)) == 0);
	CHECK_INTEQ(count_dir("..%2F..%2Fescape@x", "new"), 1);
	snprintf(p, sizeof(p), "%s/../escape@x", root);
	CHECK(stat(p, &st) == -1);
	m.rcpt = "..";
	CHECK(maildir_deliver(&m, where, sizeof(where), err, sizeof(err)) == 0);
	CHECK_INTEQ(count_dir("%2E%2E", "new"), 1);
	/* A symbolic link planted as a Maildir is not followed. */
	snprintf(p, sizeof(p), "%s/link@x", root);
	CHECK(symlink("/tmp", p) == 0);
	m.rcpt = "link@x";
	CHECK(maildir_deliver(&m, where, sizeof(where), err, sizeof(err)) ==
	    -1);
	/* A missing root: a (temporary) failure, not a crash. */
	m.root = "/nonexistent/sekisho";
	m.rcpt = "a@x";
	CHECK(maildir_deliver(&m, where, sizeof(where), err, sizeof(err)) ==
	    -1);
	close(m.fd);
}

static void
t_setup(void)
{
	snprintf(root, sizeof(root), "/tmp/test_maildir.XXXXXX");
	if (mkdtemp(root) == NULL)
		abort();
}

static void
t_teardown(void)
{
	test_rmtree(root);
}

TEST_MAIN(t_setup, t_name_table, t_name_long, t_deliver_atomic,
    t_deliver_traversal, t_teardown)
