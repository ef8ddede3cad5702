/*
 * test_hosts.c: the central controller's registry of scanner hosts
 * (manager/hosts.c): a valid file with comments, every field refused at
 * its edge with file:line, duplicates (names without regard to case,
 * addresses in any spelling), the limit, save then load in a temporary
 * directory, and add/remove/find.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosts.h"
#include "test.h"
#include "util.h"
#include "xmalloc.h"

#define FPR_A	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FPR_63	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde"
#define NAME_63	"a23456789.123456789-123456789.123456789.123456789.123456789.123"
#define FPR_B	"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

/* parse: hosts_parse on a C string, path "hosts". */
static int
parse(const char *s, struct host_reg *reg, char *err, size_t errlen)
{
	return hosts_parse(s, strlen(s), "hosts", reg, err, errlen);
}

/* entry: a valid host entry. */
static struct host_entry
entry(const char *name, const char *addr, uint16_t port)
{
	struct host_entry e;

	memset(&e, 0, sizeof(e));
	str_lcpy(e.name, name, sizeof(e.name));
	str_lcpy(e.address, addr, sizeof(e.address));
	e.port = port;
	str_lcpy(e.fpr, FPR_A, sizeof(e.fpr));
	e.registered = 1700000000;
	return e;
}

/* t_parse_valid: comments, empty lines, v4 and v6, no final newline. */
static void
t_parse_valid(void)
{
	struct host_reg	 reg;
	char		 err[256];
	const char	*text =
	    "# registered scanner hosts\n"
	    "\n"
	    "scan1.example.com 192.0.2.10 7020 " FPR_A " 1700000000\n"
	    "#scan9 192.0.2.99 7020 " FPR_A " 0\n"
	    "Scan-2 2001:db8::2 65535 " FPR_B " 0\n"
	    "\n"
	    NAME_63 " 192.0.2.63 7020 " FPR_A " 1\n"
	    "s3 ::ffff:192.0.2.3 1 " FPR_A " 4611686018427387904";

	CHECK_INTEQ(parse(text, &reg, err, sizeof(err)), 0);
	CHECK_INTEQ(reg.n, 4);
	CHECK_STREQ(reg.v[0].name, "scan1.example.com");
	CHECK_STREQ(reg.v[0].address, "192.0.2.10");
	CHECK_INTEQ(reg.v[0].port, 7020);
	CHECK_STREQ(reg.v[0].fpr, FPR_A);
	CHECK_INTEQ(reg.v[0].registered, 1700000000);
	CHECK_STREQ(reg.v[1].address, "2001:db8::2");
	CHECK_INTEQ(reg.v[1].port, 65535);
	CHECK_STREQ(reg.v[1].fpr, FPR_B);
	CHECK_STREQ(reg.v[2].name, NAME_63);
	CHECK_INTEQ(reg.v[3].port, 1);
	CHECK_INTEQ(reg.v[3].registered, (int64_t)1 << 62);
	CHECK(hosts_find(&reg, "scan9") == NULL);
	hosts_free(&reg);
	CHECK(reg.v == NULL && reg.n == 0);

	CHECK_INTEQ(parse("", &reg, err, sizeof(err)), 0);
	CHECK_INTEQ(reg.n, 0);
	CHECK_INTEQ(parse("# only a comment", &reg, err, sizeof(err)), 0);
	CHECK_INTEQ(reg.n, 0);
	hosts_free(&reg);
}

/* t_parse_invalid: each field, the separators, and the bytes refused. */
static void
t_parse_invalid(void)
{
	static const struct {
		const char	*name, *line, *err;
	} bad[] = {
		{ "4 fields", "h 192.0.2.1 7020 " FPR_A, "hosts:2: 4 fields" },
		{ "6 fields", "h 192.0.2.1 7020 " FPR_A " 0 x",
		    "hosts:2: more than 5" },
		{ "double space", "h  192.0.2.1 7020 " FPR_A " 0",
		    "hosts:2: empty field" },
		{ "leading space", " h 192.0.2.1 7020 " FPR_A " 0",
		    "hosts:2: empty field" },
		{ "trailing space", "h 192.0.2.1 7020 " FPR_A " 0 ",
		    "hosts:2: empty field" },
		{ "tab", "h\t192.0.2.1 7020 " FPR_A " 0", "hosts:2: " },
		{ "name dot", ".h 192.0.2.1 7020 " FPR_A " 0",
		    "hosts:2: bad host name" },
		{ "name dash", "-h 192.0.2.1 7020 " FPR_A " 0",
		    "hosts:2: bad host name" },
		{ "name underscore", "a_b 192.0.2.1 7020 " FPR_A " 0",
		    "hosts:2: bad host name" },
		{ "name 64", NAME_63 "4 192.0.2.1 7020 " FPR_A " 0",
		    "hosts:2: host name too long" },
		{ "address name", "h scan.example 7020 " FPR_A " 0",
		    "hosts:2: host h: bad address" },
		{ "address brackets", "h [2001:db8::1] 7020 " FPR_A " 0",
		    "hosts:2: host h: bad address" },
		{ "address short v4", "h 192.0.2 7020 " FPR_A " 0",
		    "hosts:2: host h: bad address" },
		{ "address scope", "h fe80::1%eth0 7020 " FPR_A " 0",
		    "hosts:2: host h: bad address" },
		{ "port 0", "h 192.0.2.1 0 " FPR_A " 0", "hosts:2: bad port" },
		{ "port 65536", "h 192.0.2.1 65536 " FPR_A " 0",
		    "hosts:2: bad port" },
		{ "port sign", "h 192.0.2.1 +7020 " FPR_A " 0",
		    "hosts:2: bad port" },
		{ "port leading 0", "h 192.0.2.1 07020 " FPR_A " 0",
		    "hosts:2: bad port" },
		{ "port hex", "h 192.0.2.1 0x10 " FPR_A " 0",
		    "hosts:2: bad port" },
		{ "port huge", "h 192.0.2.1 99999999999999999999999 " FPR_A
		    " 0", "hosts:2: bad port" },
		{ "fpr 63", "h 192.0.2.1 7020 " FPR_63 " 0",
		    "hosts:2: host h: bad fingerprint" },
		{ "fpr 65", "h 192.0.2.1 7020 " FPR_A "0 0",
		    "hosts:2: bad fingerprint" },
		{ "fpr upper", "h 192.0.2.1 7020 0123456789ABCDEF0123456789abcdef"
		    "0123456789abcdef0123456789abcdef 0",
		    "hosts:2: host h: bad fingerprint" },
		{ "fpr non-hex", "h 192.0.2.1 7020 g123456789abcdef0123456789abcdef"
		    "0123456789abcdef0123456789abcdef 0",
		    "hosts:2: host h: bad fingerprint" },
		{ "registered 2^62+1", "h 192.0.2.1 7020 " FPR_A
		    " 4611686018427387905", "hosts:2: bad registration time" },
		{ "registered negative", "h 192.0.2.1 7020 " FPR_A " -1",
		    "hosts:2: bad registration time" },
		{ "registered leading 0", "h 192.0.2.1 7020 " FPR_A " 01",
		    "hosts:2: bad registration time" },
		{ "registered letters", "h 192.0.2.1 7020 " FPR_A " 12x",
		    "hosts:2: bad registration time" },
		{ "CR", "h 192.0.2.1 7020 " FPR_A " 0\r", "hosts:2: carriage "
		    "return" },
		{ "CR in comment", "# x\r", "hosts:2: carriage return" },
		{ "indented comment", " # x", "hosts:2: empty field" },
	};
	struct host_reg	 reg;
	char		 err[512], *text;
	size_t		 i;

	for (i = 0; i < nitems(bad); i++) {
		text = xasprintf("# first\n%s\nok 192.0.2.200 1 %s 0\n",
		    bad[i].line, FPR_A);
		err[0] = '\0';
		reg.n = 99;
		CHECKF(parse(text, &reg, err, sizeof(err)) == -1, "%s",
		    bad[i].name);
		CHECKF(strncmp(err, bad[i].err, strlen(bad[i].err)) == 0,
		    "%s: %s", bad[i].name, err);
		CHECKF(reg.n == 0 && reg.v == NULL, "%s", bad[i].name);
		free(text);
	}

	/* A NUL byte anywhere, even in a comment. */
	CHECK_INTEQ(hosts_parse("# a\0b\n", 6, "/x/hosts", &reg, err,
	    sizeof(err)), -1);
	CHECK_STREQ(err, "/x/hosts:1: NUL byte");
	CHECK_INTEQ(hosts_parse("a 192.0.2.1 1 " FPR_A " 0\n\0", 82,
	    "hosts", &reg, err, sizeof(err)), -1);
	CHECK_STREQ(err, "hosts:2: NUL byte");
	CHECK(reg.n == 0 && reg.v == NULL);
}

/* t_parse_dup: duplicate names and addresses, and the host limit. */
static void
t_parse_dup(void)
{
	struct host_reg	 reg;
	struct buf	 b;
	char		 err[256];
	size_t		 i;

	CHECK_INTEQ(parse("a 192.0.2.1 1 " FPR_A " 0\n"
	    "b 192.0.2.2 1 " FPR_A " 0\n"
	    "a 192.0.2.3 1 " FPR_A " 0\n", &reg, err, sizeof(err)), -1);
	CHECK_STREQ(err, "hosts:3: host a is already registered");
	CHECK(reg.n == 0 && reg.v == NULL);
	CHECK_INTEQ(parse("Scan 192.0.2.1 1 " FPR_A " 0\n"
	    "sCAN 192.0.2.2 1 " FPR_A " 0\n", &reg, err, sizeof(err)), -1);
	CHECK_STREQ(err, "hosts:2: host Scan is already registered");
	CHECK_INTEQ(parse("a 192.0.2.1 1 " FPR_A " 0\n"
	    "b 192.0.2.1 1 " FPR_B " 0\n", &reg, err, sizeof(err)), -1);
	CHECK_STREQ(err, "hosts:2: 192.0.2.1 port 1 is already registered "
	    "as a");
	/* The same IPv6 address spelt two ways. */
	CHECK_INTEQ(parse("a 2001:db8::1 1 " FPR_A " 0\n"
	    "b 2001:DB8:0:0::0:1 1 " FPR_B " 0\n", &reg, err, sizeof(err)),
	    -1);
	CHECK_STREQ(err, "hosts:2: 2001:DB8:0:0::0:1 port 1 is already "
	    "registered as a");
	/* Same address, other port; same port, other address: fine. */
	CHECK_INTEQ(parse("a 192.0.2.1 1 " FPR_A " 0\n"
	    "b 192.0.2.1 2 " FPR_A " 0\n"
	    "c 192.0.2.2 1 " FPR_A " 0\n", &reg, err, sizeof(err)), 0);
	CHECK_INTEQ(reg.n, 3);
	hosts_free(&reg);

	/* HOSTS_MAX hosts load; one more is refused at its line. */
	buf_init(&b, 1 << 20);
	for (i = 0; i < HOSTS_MAX; i++)
		CHECK(buf_printf(&b, "h%zu 10.0.%zu.%zu 7020 %s %zu\n", i,
		    i / 256, i % 256, FPR_A, i));
	CHECK_INTEQ(hosts_parse((const char *)b.data, b.len, "hosts", &reg,
	    err, sizeof(err)), 0);
	CHECK_INTEQ(reg.n, HOSTS_MAX);
	hosts_free(&reg);
	CHECK(buf_printf(&b, "extra 10.1.0.0 7020 %s 0\n", FPR_A));
	CHECK_INTEQ(hosts_parse((const char *)b.data, b.len, "hosts", &reg,
	    err, sizeof(err)), -1);
	CHECK_STREQ(err, "hosts:1025: too many hosts (at most 1024)");
	CHECK(reg.n == 0 && reg.v == NULL);
	buf_free(&b);
}

/* t_add_remove: add's checks and messages, find, remove. */
static void
t_add_remove(void)
{
	struct host_reg	 reg = { NULL, 0 };
	struct host_entry e;
	const struct host_entry *f;
	char		 err[256];

	e = entry("scan1", "192.0.2.1", 7020);
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), 0);
	e = entry("scan2", "2001:db8::2", 7020);
	e.registered = 5;
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), 0);
	CHECK_INTEQ(reg.n, 2);
	/* The registry holds a copy. */
	str_lcpy(e.name, "changed", sizeof(e.name));
	f = hosts_find(&reg, "scan2");
	CHECK(f != NULL && f->registered == 5);
	CHECK(hosts_find(&reg, "SCAN2") == f);
	CHECK(hosts_find(&reg, "scan3") == NULL);

	e = entry("SCAN1", "192.0.2.9", 7020);
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), -1);
	CHECK_STREQ(err, "host scan1 is already registered");
	e = entry("scan3", "192.0.2.1", 7020);
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), -1);
	CHECK_STREQ(err, "192.0.2.1 port 7020 is already registered as "
	    "scan1");
	e = entry("scan3", "scan3.example", 7020);
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), -1);
	e = entry("-scan3", "192.0.2.3", 7020);
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), -1);
	e = entry("scan3", "192.0.2.3", 0);
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), -1);
	e = entry("scan3", "192.0.2.3", 1);
	e.fpr[0] = 'A';
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), -1);
	e = entry("scan3", "192.0.2.3", 1);
	e.registered = -1;
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), -1);
	e.registered = ((int64_t)1 << 62) + 1;
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), -1);
	/* Strings not terminated inside their arrays. */
	e = entry("scan3", "192.0.2.3", 1);
	memset(e.name, 'a', sizeof(e.name));
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), -1);
	e = entry("scan3", "192.0.2.3", 1);
	memset(e.fpr, 'a', sizeof(e.fpr));
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), -1);
	CHECK_INTEQ(reg.n, 2);

	CHECK(hosts_remove(&reg, "scan1"));
	CHECK(!hosts_remove(&reg, "scan1"));
	CHECK_INTEQ(reg.n, 1);
	CHECK(hosts_find(&reg, "scan1") == NULL);
	CHECK_STREQ(hosts_find(&reg, "scan2")->address, "2001:db8::2");
	/* Its address is free again. */
	e = entry("scan4", "192.0.2.1", 7020);
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), 0);
	CHECK(hosts_remove(&reg, "scan2"));
	CHECK(hosts_remove(&reg, "scan4"));
	CHECK_INTEQ(reg.n, 0);
	hosts_free(&reg);
	CHECK(reg.v == NULL && reg.n == 0);
}

/* t_save_load: save then load in a temporary configuration directory. */
static void
t_save_load(void)
{
	char		 dir[] = "/tmp/test_hosts.XXXXXX", err[512], *path, *t;
	struct host_reg	 reg = { NULL, 0 }, back;
	struct host_entry e;
	struct stat	 st;
	size_t		 len;

	if (mkdtemp(dir) == NULL)
		abort();
	/* No central/ and no file: an empty registry. */
	back.n = 7;
	CHECK_INTEQ(hosts_load(dir, &back, err, sizeof(err)), 0);
	CHECK(back.n == 0 && back.v == NULL);
	path = xasprintf("%s/central", dir);
	CHECK(mkdir(path, 0700) == 0);
	free(path);
	CHECK_INTEQ(hosts_load(dir, &back, err, sizeof(err)), 0);
	CHECK_INTEQ(back.n, 0);

	/* An empty registry saves as the header alone. */
	CHECK_INTEQ(hosts_save(dir, &reg, err, sizeof(err)), 0);
	path = xasprintf("%s/central/hosts", dir);
	t = file_read(path, 4096, &len);
	CHECK_STREQ(t, "# sekisho central controller: registered scanner "
	    "hosts (sekishoctl central host add|remove)\n");
	free(t);

	e = entry("scan1.example.com", "192.0.2.1", 7020);
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), 0);
	e = entry("scan2", "2001:db8::2", 65535);
	str_lcpy(e.fpr, FPR_B, sizeof(e.fpr));
	e.registered = 0;
	CHECK_INTEQ(hosts_add(&reg, &e, err, sizeof(err)), 0);
	CHECK_INTEQ(hosts_save(dir, &reg, err, sizeof(err)), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);
	t = file_read(path, 4096, &len);
	CHECK_STREQ(t, "# sekisho central controller: registered scanner "
	    "hosts (sekishoctl central host add|remove)\n"
	    "scan1.example.com 192.0.2.1 7020 " FPR_A " 1700000000\n"
	    "scan2 2001:db8::2 65535 " FPR_B " 0\n");
	free(t);
	CHECK_INTEQ(hosts_load(dir, &back, err, sizeof(err)), 0);
	CHECK_INTEQ(back.n, 2);
	CHECK(back.n == 2 && memcmp(back.v, reg.v, 2 * sizeof(*reg.v)) == 0);
	hosts_free(&back);

	/* A broken file names itself and the line. */
	CHECK(file_write_atomic(path, "# x\nbroken\n", 11, 0644) == 0);
	CHECK_INTEQ(hosts_load(dir, &back, err, sizeof(err)), -1);
	t = xasprintf("%s:2: 1 fields, expected NAME ADDRESS PORT "
	    "FINGERPRINT REGISTERED", path);
	CHECK_STREQ(err, t);
	free(t);
	CHECK(back.n == 0 && back.v == NULL);

	/* Not a regular file; and no central/ to save into. */
	CHECK(unlink(path) == 0);
	CHECK(mkdir(path, 0700) == 0);
	CHECK_INTEQ(hosts_load(dir, &back, err, sizeof(err)), -1);
	CHECK(strncmp(err, path, strlen(path)) == 0);
	CHECK(rmdir(path) == 0);
	free(path);
	path = xasprintf("%s/central", dir);
	CHECK(rmdir(path) == 0);
	free(path);
	CHECK_INTEQ(hosts_save(dir, &reg, err, sizeof(err)), -1);
	CHECK(strstr(err, "No such file or directory") != NULL);

	hosts_free(&reg);
	test_rmtree(dir);
}

TEST_MAIN(t_parse_valid, t_parse_invalid, t_parse_dup, t_add_remove,
    t_save_load)
