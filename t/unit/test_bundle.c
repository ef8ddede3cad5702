/*
 * test_bundle.c: signed configuration bundles (manager/bundle.c,
 * docs/central.md): the round trip, every way a bundle is refused
 * (tampered, truncated, unsigned, unknown key, replayed, unsafe paths,
 * duplicates, oversize, a configuration that does not load), and the
 * apply: host-specific keys kept, stale files removed, a committed apply
 * finished after a crash; and the rollback: back to the previous files
 * and version, once, without lowering the replay floor, after a crash.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bundle.h"
#include "conf.h"
#include "test.h"
#include "util.h"
#include "xmalloc.h"

static char	 root[] = "/tmp/test_bundle.XXXXXX";
static EVP_PKEY	*key, *other;

/* put: write a file under root (directories made as needed). */
static void
put(const char *rel, const char *text)
{
	char	*path = xasprintf("%s/%s", root, rel), *slash;
	int	 fd;

	for (slash = strchr(path + strlen(root) + 1, '/'); slash != NULL;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		(void)mkdir(path, 0755);
		*slash = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd == -1 || fd_write_all(fd, text, strlen(text)) == -1)
		abort();
	close(fd);
	free(path);
}

/* get: a file under root as a string (NULL if absent); caller frees. */
static char *
get(const char *rel)
{
	char	*path = xasprintf("%s/%s", root, rel), *t;
	size_t	 len;

	t = file_read(path, 1 << 24, &len);
	free(path);
	return t;
}

/* exists: whether a path under root exists. */
static bool
exists(const char *rel)
{
	char	*path = xasprintf("%s/%s", root, rel);
	bool	 ok = access(path, F_OK) == 0;

	free(path);
	return ok;
}

/* mkconf: a small valid configuration directory root/name. */
static void
mkconf(const char *name, const char *ip)
{
	char	*p;

	p = xasprintf("%s/imss.ini", name);
	put(p, ip != NULL ? "[general]\ndata_dir=/var/tmp/x\n\n"
	    "[imss_manager]\nscanner_ip_addr=" : "[general]\n"
	    "data_dir=/var/tmp/x\n[imss_manager]\nservices=smtpd\n");
	if (ip != NULL) {
		char *t = get(p), *u = xasprintf("%s%s\nservices=smtpd\n", t,
		    ip);

		put(p, u);
		free(t);
		free(u);
	}
	free(p);
	p = xasprintf("%s/tsmtpd.ini", name);
	put(p, "[SmtpServer]\nPort=2525\n");
	free(p);
	p = xasprintf("%s/foxdns.ini", name);
	put(p, "[foxdns]\nblocked_list_file=lists/blocked.txt\n");
	free(p);
	p = xasprintf("%s/lists/blocked.txt", name);
	put(p, "192.0.2.1\n");
	free(p);
	p = xasprintf("%s/policy.ini", name);
	put(p, "[scan]\nworkers=1\n");
	free(p);
	p = xasprintf("%s/keywords/bad.txt", name);
	put(p, "viagra\n");
	free(p);
	p = xasprintf("%s/templates/quarantined", name);
	put(p, "Subject: held\n\n%SUBJECT%\n");
	free(p);
}

/* dir: root/name as a new string. */
static char *
dir(const char *name)
{
	return xasprintf("%s/%s", root, name);
}

/* create: a bundle of root/name; aborts on failure. */
static void
create(const char *name, uint64_t version, struct buf *out)
{
	char	 err[256], *d = dir(name);

	if (bundle_create(d, version, key, out, err, sizeof(err)) == -1) {
		fprintf(stderr, "bundle_create: %s\n", err);
		abort();
	}
	free(d);
}

/* verify: bundle_verify with the test key; the error text into err. */
static struct bundle *
verify(const void *data, size_t len, uint64_t min, char *err, size_t errlen)
{
	EVP_PKEY *keys[] = { other, key };

	return bundle_verify(data, len, keys, nitems(keys), min, err, errlen);
}

/* One file of a hand-made bundle. */
struct mkfile {
	const char	*path;
	uint32_t	 mode;
	const char	*text;
};

/* be: a big-endian integer of n bytes. */
static void
be(struct buf *b, uint64_t v, size_t n)
{
	uint8_t	 x[8];
	size_t	 i;

	for (i = 0; i < n; i++)
		x[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	(void)buf_add(b, x, n);
}

/* craft: a bundle made by hand (any paths, any order), signed by k. */
static void
craft(struct buf *b, uint64_t version, const struct mkfile *f, size_t n,
    EVP_PKEY *k)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t	 id[BUNDLE_KEYID_LEN], sig[BUNDLE_SIG_LEN];
	size_t	 i, slen = sizeof(sig);

	buf_init(b, BUNDLE_MAX_SIZE * 2);
	(void)buf_addstr(b, BUNDLE_MAGIC);
	be(b, version, 8);
	be(b, 1700000000, 8);
	bundle_keyid(k, id);
	(void)buf_add(b, id, sizeof(id));
	be(b, n, 4);
	for (i = 0; i < n; i++) {
		be(b, strlen(f[i].path), 2);
		(void)buf_addstr(b, f[i].path);
		be(b, f[i].mode, 4);
		be(b, strlen(f[i].text), 4);
		(void)buf_addstr(b, f[i].text);
	}
	if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(ctx, sig, &slen, b->data, b->len) != 1)
		abort();
	EVP_MD_CTX_free(ctx);
	(void)buf_add(b, "S", 1);
	be(b, BUNDLE_SIG_LEN, 1);
	(void)buf_add(b, sig, sizeof(sig));
}

static void
t_round_trip(void)
{
	struct bundle *b;
	struct buf out;
	char	 err[256];
	size_t	 i;

	mkconf("ctl", "127.0.0.1");
	create("ctl", 7, &out);
	b = verify(out.data, out.len, 0, err, sizeof(err));
	CHECKF(b != NULL, "%s", err);
	if (b != NULL) {
		static const char *const want[] = { "foxdns.ini",
		    "imss.ini", "keywords/bad.txt", "lists/blocked.txt",
		    "policy.ini", "templates/quarantined", "tsmtpd.ini" };

		CHECK_INTEQ(b->version, 7);
		CHECK_INTEQ(b->nfiles, nitems(want));
		for (i = 0; i < b->nfiles && i < nitems(want); i++)
			CHECK_STREQ(b->files[i].path, want[i]);
		CHECK(b->nfiles > 2 && b->files[2].len == 7 &&
		    memcmp(b->files[2].data, "viagra\n", 7) == 0);
		CHECK_INTEQ(b->files[0].mode, 0644);
	}
	bundle_free(b);
	buf_free(&out);
}

static void
t_tampered_truncated_unsigned(void)
{
	struct bundle *b;
	struct buf out;
	char	 err[256];
	size_t	 i, body, bad = 0;

	mkconf("ctl", "127.0.0.1");
	create("ctl", 3, &out);
	/* Every byte, flipped: refused. */
	for (i = 0; i < out.len; i++) {
		out.data[i] ^= 0x01;
		if ((b = verify(out.data, out.len, 0, err, sizeof(err))) !=
		    NULL) {
			bad++;
			bundle_free(b);
		}
		out.data[i] ^= 0x01;
	}
	CHECKF(bad == 0, "%zu tampered bundles accepted", bad);
	/* Every truncation: refused. */
	for (i = 0, bad = 0; i < out.len; i++)
		if ((b = verify(out.data, i, 0, err, sizeof(err))) != NULL) {
			bad++;
			bundle_free(b);
		}
	CHECKF(bad == 0, "%zu truncated bundles accepted", bad);
	/* Without its signature block: unsigned. */
	body = out.len - 2 - BUNDLE_SIG_LEN;
	CHECK(verify(out.data, body, 0, err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "unsigned") != NULL, "%s", err);
	/* A byte appended: refused. */
	(void)buf_add(&out, "x", 1);
	CHECK(verify(out.data, out.len, 0, err, sizeof(err)) == NULL);
	out.len--;
	/* The signature's last byte changed: bad signature. */
	out.data[out.len - 1] ^= 0x80;
	CHECK(verify(out.data, out.len, 0, err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "bad signature") != NULL, "%s", err);
	out.data[out.len - 1] ^= 0x80;
	/* Another format version, and no magic at all. */
	out.data[15] = '2';
	CHECK(verify(out.data, out.len, 0, err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "unsupported") != NULL, "%s", err);
	CHECK(verify("hello", 5, 0, err, sizeof(err)) == NULL);
	buf_free(&out);
}

static void
t_wrong_key_and_replay(void)
{
	EVP_PKEY *only[1];
	struct bundle *b;
	struct buf out;
	char	 err[256];

	mkconf("ctl", "127.0.0.1");
	create("ctl", 5, &out);
	only[0] = other;
	CHECK(bundle_verify(out.data, out.len, only, 1, 0, err,
	    sizeof(err)) == NULL);
	CHECKF(strstr(err, "unknown key") != NULL, "%s", err);
	CHECK(bundle_verify(out.data, out.len, only, 0, 0, err,
	    sizeof(err)) == NULL);
	/* Replays: the applied version, or a newer one, is refused. */
	CHECK(verify(out.data, out.len, 5, err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "replay") != NULL, "%s", err);
	CHECK(verify(out.data, out.len, 9, err, sizeof(err)) == NULL);
	b = verify(out.data, out.len, 4, err, sizeof(err));
	CHECKF(b != NULL, "%s", err);
	bundle_free(b);
	buf_free(&out);
	/* Version 0 cannot be made. */
	{
		char *d = dir("ctl");

		CHECK(bundle_create(d, 0, key, &out, err, sizeof(err)) == -1);
		free(d);
	}
}

static void
t_paths_refused(void)
{
	static const char *const badpaths[] = {
		"../imss.ini", "/etc/passwd", "keywords/../../x", "a/b/c",
		".bundle-version", "keywords/.hidden", "", "a//b", "a/",
		"tls/server.crt", "server.key", "keywords/x.pem", "a b",
		"imss.ini\n", "-rf", "keywords/x\\y",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct mkfile f[2];
	struct buf b;
	char	 err[256];
	size_t	 i;

	for (i = 0; i < nitems(badpaths); i++) {
		f[0] = (struct mkfile){ badpaths[i], 0644, "x" };
		craft(&b, 2, f, 1, key);
		CHECKF(verify(b.data, b.len, 0, err, sizeof(err)) == NULL,
		    "%s accepted", badpaths[i]);
		CHECKF(strstr(err, "not allowed") != NULL, "%s: %s",
		    badpaths[i], err);
		buf_free(&b);
	}
	/* Duplicates and disorder. */
	f[0] = (struct mkfile){ "policy.ini", 0644, "" };
	f[1] = (struct mkfile){ "policy.ini", 0644, "" };
	craft(&b, 2, f, 2, key);
	CHECK(verify(b.data, b.len, 0, err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "duplicate") != NULL, "%s", err);
	buf_free(&b);
	f[0] = (struct mkfile){ "tsmtpd.ini", 0644, "" };
	f[1] = (struct mkfile){ "imss.ini", 0644, "" };
	craft(&b, 2, f, 2, key);
	CHECK(verify(b.data, b.len, 0, err, sizeof(err)) == NULL);
	buf_free(&b);
	/* A file named like a directory of another. */
	f[0] = (struct mkfile){ "keywords", 0644, "" };
	f[1] = (struct mkfile){ "keywords/a.txt", 0644, "" };
	craft(&b, 2, f, 2, key);
	CHECK(verify(b.data, b.len, 0, err, sizeof(err)) == NULL);
	buf_free(&b);
	/* Modes: set-uid, executable, unreadable. */
	f[0] = (struct mkfile){ "policy.ini", 04644, "" };
	craft(&b, 2, f, 1, key);
	CHECK(verify(b.data, b.len, 0, err, sizeof(err)) == NULL);
	buf_free(&b);
	f[0] = (struct mkfile){ "policy.ini", 0755, "" };
	craft(&b, 2, f, 1, key);
	CHECK(verify(b.data, b.len, 0, err, sizeof(err)) == NULL);
	buf_free(&b);
	f[0] = (struct mkfile){ "policy.ini", 0044, "" };
	craft(&b, 2, f, 1, key);
	CHECK(verify(b.data, b.len, 0, err, sizeof(err)) == NULL);
	buf_free(&b);
	/* A good hand-made one passes (the crafting itself is right). */
	f[0] = (struct mkfile){ "keywords/a.txt", 0600, "x\n" };
	craft(&b, 2, f, 1, key);
	{
		struct bundle *ok = verify(b.data, b.len, 0, err,
		    sizeof(err));

		CHECKF(ok != NULL, "%s", err);
		bundle_free(ok);
	}
	buf_free(&b);
}

static void
t_oversize(void)
{
	struct mkfile f[1];
	struct buf b;
	char	 err[256], *big;
	size_t	 body;

	/* A file over the limit (its bytes present). */
	big = xmalloc(BUNDLE_MAX_FILE + 2);
	memset(big, 'a', BUNDLE_MAX_FILE + 1);
	big[BUNDLE_MAX_FILE + 1] = '\0';
	f[0] = (struct mkfile){ "policy.ini", 0644, big };
	craft(&b, 2, f, 1, key);
	CHECK(verify(b.data, b.len, 0, err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "too large") != NULL, "%s", err);
	buf_free(&b);
	free(big);
	/* A length that claims more than is there. */
	f[0] = (struct mkfile){ "policy.ini", 0644, "abc" };
	craft(&b, 2, f, 1, key);
	body = strlen(BUNDLE_MAGIC) + 8 + 8 + BUNDLE_KEYID_LEN + 4 + 2 + 10 +
	    4;
	b.data[body] = 0x7f;		/* the file's length: huge */
	CHECK(verify(b.data, b.len, 0, err, sizeof(err)) == NULL);
	buf_free(&b);
	/* Too many files. */
	craft(&b, 2, f, 0, key);
	body = strlen(BUNDLE_MAGIC) + 8 + 8 + BUNDLE_KEYID_LEN;
	b.data[body + 2] = 0x10;	/* 4096 files */
	CHECK(verify(b.data, b.len, 0, err, sizeof(err)) == NULL);
	CHECKF(strstr(err, "files") != NULL, "%s", err);
	buf_free(&b);
	/* The whole bundle over the limit. */
	CHECK(bundle_parse((const uint8_t *)"", BUNDLE_MAX_SIZE + 1, &body,
	    err, sizeof(err)) == NULL);
}

/* apply: verify the bytes, then apply into root/name; 0 or -1. */
static int
apply(const struct buf *out, const char *name, char *err, size_t errlen)
{
	struct bundle *b;
	uint64_t v;
	char	*d = dir(name);
	int	 rc = -1;

	if (bundle_applied_version(d, &v, err, errlen) == 0 &&
	    (b = verify(out->data, out->len, v, err, errlen)) != NULL) {
		rc = bundle_apply(b, d, NULL, err, errlen);
		bundle_free(b);
	}
	free(d);
	return rc;
}

static void
t_apply(void)
{
	struct sekisho_conf conf;
	struct diag d;
	struct buf out;
	uint64_t v = 0;
	char	 err[512], *d2, *t;

	mkconf("ctl", "127.0.0.1");
	put("ctl/keywords/new.txt", "casino\n");
	put("ctl/tsmtpd.ini", "[SmtpServer]\nPort=2626\n");
	mkconf("host", "127.0.0.42");
	put("host/keywords/stale.txt", "old\n");
	put("host/tls/server.key", "host secret\n");
	create("ctl", 1, &out);
	CHECKF(apply(&out, "host", err, sizeof(err)) == 0, "%s", err);
	d2 = dir("host");
	CHECK(bundle_applied_version(d2, &v, err, sizeof(err)) == 0);
	CHECK_INTEQ(v, 1);
	diag_init(&d);
	CHECK(conf_load(d2, &conf, &d) == 0);
	CHECK_INTEQ(conf.tsmtpd.port, 2626);
	CHECK_STREQ(conf.imss.scanner_ip_addr.text, "127.0.0.42");
	conf_free(&conf);
	diag_free(&d);
	CHECK(exists("host/keywords/new.txt"));
	CHECK(!exists("host/keywords/stale.txt"));
	t = get("host/tls/server.key");
	CHECK(t != NULL && strcmp(t, "host secret\n") == 0);
	free(t);
	/* The previous files are kept for a rollback. */
	t = get(".host.bundle-prev/keywords/stale.txt");
	CHECK(t != NULL && strcmp(t, "old\n") == 0);
	free(t);
	CHECK(!exists(".host.bundle-stage"));
	CHECK(!exists("host/.bundle-journal"));
	/* The same bundle again: a replay. */
	CHECK(apply(&out, "host", err, sizeof(err)) == -1);
	{
		struct bundle *b = verify(out.data, out.len, 0, err,
		    sizeof(err));

		CHECK(b != NULL && bundle_apply(b, d2, NULL, err,
		    sizeof(err)) == -1);
		CHECKF(strstr(err, "replay") != NULL, "%s", err);
		bundle_free(b);
	}
	buf_free(&out);
	/* A host without the key gets none from the controller. */
	put("host/imss.ini", "[general]\ndata_dir=/var/tmp/x\n");
	create("ctl", 2, &out);
	CHECKF(apply(&out, "host", err, sizeof(err)) == 0, "%s", err);
	diag_init(&d);
	CHECK(conf_load(d2, &conf, &d) == 0);
	CHECK_STREQ(conf.imss.scanner_ip_addr.text, "");
	conf_free(&conf);
	diag_free(&d);
	buf_free(&out);
	free(d2);
}

/* snapshot: the host's files that an apply would touch, concatenated. */
static char *
snapshot(void)
{
	static const char *const files[] = { "host/imss.ini",
	    "host/tsmtpd.ini", "host/policy.ini", "host/keywords/bad.txt",
	    "host/.bundle-version" };
	struct buf b;
	size_t	 i;

	buf_init(&b, 1 << 20);
	for (i = 0; i < nitems(files); i++) {
		char *t = get(files[i]);

		(void)buf_printf(&b, "%s:%s;", files[i], t != NULL ? t : "-");
		free(t);
	}
	return buf_take_str(&b);
}

/* failcheck: an apply check that refuses everything. */
static int
failcheck(const char *stage, struct diag *d)
{
	diag_add(d, DIAG_ERROR, stage, 0, "refused by the check");
	return -1;
}

static void
t_bad_config_refused(void)
{
	static const struct mkfile badconf[] = {
		{ "foxdns.ini", 0644, "" },
		{ "imss.ini", 0644, "[imss_manager]\nservice_stop_timeout=x\n" },
		{ "tsmtpd.ini", 0644, "" },
	};
	static const struct mkfile noimss[] = {
		{ "foxdns.ini", 0644, "" },
		{ "tsmtpd.ini", 0644, "" },
	};
	static const struct mkfile extra[] = {
		{ "evil.sh", 0644, "rm -rf /\n" },
		{ "foxdns.ini", 0644, "" },
		{ "imss.ini", 0644, "" },
		{ "tsmtpd.ini", 0644, "" },
	};
	struct bundle *b;
	struct buf out;
	char	 err[512], *before, *after, *d = dir("host");

	mkconf("host", "127.0.0.42");
	before = snapshot();
	craft(&out, 10, badconf, nitems(badconf), key);
	CHECK(apply(&out, "host", err, sizeof(err)) == -1);
	CHECKF(strstr(err, "service_stop_timeout") != NULL, "%s", err);
	buf_free(&out);
	craft(&out, 10, noimss, nitems(noimss), key);
	CHECK(apply(&out, "host", err, sizeof(err)) == -1);
	buf_free(&out);
	craft(&out, 10, extra, nitems(extra), key);
	CHECK(apply(&out, "host", err, sizeof(err)) == -1);
	CHECKF(strstr(err, "evil.sh") != NULL, "%s", err);
	CHECK(!exists("host/evil.sh"));
	buf_free(&out);
	/* A valid configuration the extra check refuses. */
	mkconf("ctl", NULL);
	create("ctl", 11, &out);
	b = verify(out.data, out.len, 0, err, sizeof(err));
	CHECK(b != NULL && bundle_apply(b, d, failcheck, err,
	    sizeof(err)) == -1);
	CHECKF(strstr(err, "refused by the check") != NULL, "%s", err);
	bundle_free(b);
	buf_free(&out);
	after = snapshot();
	CHECK_STREQ(before, after);
	CHECK(!exists(".host.bundle-stage"));
	CHECK(!exists("host/.bundle-journal"));
	free(before);
	free(after);
	free(d);
}

static void
t_recover(void)
{
	char	 err[512], *d = dir("host"), *t;
	uint64_t v = 0;

	mkconf("host", "127.0.0.42");
	/* A crash after the commit: one file moved, one still staged. */
	put(".host.bundle-stage/tsmtpd.ini", "[SmtpServer]\nPort=2727\n");
	put("host/policy.ini", "[scan]\nworkers=2\n");
	put("host/.bundle-journal", "sekisho-bundle-journal 1\nversion 44\n"
	    "put policy.ini\nput tsmtpd.ini\ndel keywords/bad.txt\nend\n");
	CHECK(bundle_pending(d));
	CHECKF(bundle_recover(d, err, sizeof(err)) == 0, "%s", err);
	CHECK(!bundle_pending(d));
	t = get("host/tsmtpd.ini");
	CHECK(t != NULL && strstr(t, "2727") != NULL);
	free(t);
	CHECK(!exists("host/keywords/bad.txt"));
	CHECK(!exists("host/.bundle-journal"));
	CHECK(!exists(".host.bundle-stage"));
	CHECK(bundle_applied_version(d, &v, err, sizeof(err)) == 0);
	CHECK_INTEQ(v, 44);
	/* Again: nothing to do. */
	CHECK(bundle_recover(d, err, sizeof(err)) == 0);
	/* A crash before the commit: the stage is dropped, D untouched. */
	put(".host.bundle-stage/tsmtpd.ini", "[SmtpServer]\nPort=1\n");
	CHECK(bundle_recover(d, err, sizeof(err)) == 0);
	CHECK(!exists(".host.bundle-stage"));
	t = get("host/tsmtpd.ini");
	CHECK(t != NULL && strstr(t, "2727") != NULL);
	free(t);
	/*
	 * A journal that names a path outside, or has no end: left alone,
	 * an error, and not even its good lines are carried out.
	 */
	put(".host.bundle-stage/policy.ini", "[scan]\nworkers=3\n");
	put("host/.bundle-journal", "sekisho-bundle-journal 1\nversion 45\n"
	    "put policy.ini\nput ../x\nend\n");
	CHECK(bundle_recover(d, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "malformed") != NULL, "%s", err);
	CHECK(exists("host/.bundle-journal"));
	put("host/.bundle-journal", "sekisho-bundle-journal 1\nversion 45\n"
	    "put policy.ini\n");
	CHECK(bundle_recover(d, err, sizeof(err)) == -1);
	t = get("host/policy.ini");
	CHECK(t != NULL && strstr(t, "workers=2") != NULL);
	free(t);
	CHECK(bundle_applied_version(d, &v, err, sizeof(err)) == 0);
	CHECK_INTEQ(v, 44);
	free(d);
}

/* version: the version applied to root/name (aborts on error). */
static uint64_t
version(const char *name)
{
	char	 err[256], *d = dir(name);
	uint64_t v = 0;

	if (bundle_applied_version(d, &v, err, sizeof(err)) == -1)
		abort();
	free(d);
	return v;
}

static void
t_rollback(void)
{
	struct buf b1, b2;
	uint64_t f = 0;
	char	 err[512], *d, *t;

	(void)test_rmtree(root);
	CHECK(mkdir(root, 0700) == 0);
	d = dir("host");
	mkconf("host", "127.0.0.42");
	/* Nothing applied yet: nothing to roll back. */
	CHECK(bundle_rollback(d, NULL, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "nothing to roll back") != NULL, "%s", err);
	mkconf("ctl", "127.0.0.1");
	put("ctl/tsmtpd.ini", "[SmtpServer]\nPort=2601\n");
	create("ctl", 1, &b1);
	CHECKF(apply(&b1, "host", err, sizeof(err)) == 0, "%s", err);
	put("ctl/tsmtpd.ini", "[SmtpServer]\nPort=2602\n");
	put("ctl/keywords/v2.txt", "casino\n");
	create("ctl", 2, &b2);
	CHECKF(apply(&b2, "host", err, sizeof(err)) == 0, "%s", err);
	CHECK_INTEQ(version("host"), 2);
	CHECK(exists("host/keywords/v2.txt"));
	/* A check that refuses: nothing changes, the copy stays. */
	CHECK(bundle_rollback(d, failcheck, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "refused by the check") != NULL, "%s", err);
	CHECK_INTEQ(version("host"), 2);
	CHECK(exists(".host.bundle-prev/tsmtpd.ini"));
	CHECK(!exists(".host.bundle-stage"));
	/* The rollback: version 1's files and version, host keys kept. */
	CHECKF(bundle_rollback(d, NULL, err, sizeof(err)) == 0, "%s", err);
	CHECK_INTEQ(version("host"), 1);
	t = get("host/tsmtpd.ini");
	CHECK(t != NULL && strstr(t, "2601") != NULL);
	free(t);
	CHECK(!exists("host/keywords/v2.txt"));
	CHECK(exists("host/keywords/bad.txt"));
	t = get("host/imss.ini");
	CHECK(t != NULL && strstr(t, "127.0.0.42") != NULL);
	free(t);
	CHECK(!exists(".host.bundle-prev"));
	CHECK(!exists(".host.bundle-stage"));
	CHECK(!exists("host/.bundle-journal"));
	/* The replay floor stays at 2. */
	CHECK(bundle_replay_floor(d, &f, err, sizeof(err)) == 0);
	CHECK_INTEQ(f, 2);
	/* Once only. */
	CHECK(bundle_rollback(d, NULL, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "nothing to roll back") != NULL, "%s", err);
	/* Version 2 again (and 1) is a replay; 3 applies. */
	CHECK(apply(&b2, "host", err, sizeof(err)) == -1);
	CHECKF(strstr(err, "replay") != NULL, "%s", err);
	{
		struct bundle *b = verify(b2.data, b2.len, 0, err,
		    sizeof(err));

		CHECK(b != NULL && bundle_apply(b, d, NULL, err,
		    sizeof(err)) == -1);
		CHECKF(strstr(err, "replay") != NULL, "%s", err);
		bundle_free(b);
	}
	CHECK(apply(&b1, "host", err, sizeof(err)) == -1);
	buf_free(&b1);
	buf_free(&b2);
	create("ctl", 3, &b1);
	CHECKF(apply(&b1, "host", err, sizeof(err)) == 0, "%s", err);
	CHECK_INTEQ(version("host"), 3);
	/* Rolling back to v1's files records version 1; floor stays 3. */
	CHECKF(bundle_rollback(d, NULL, err, sizeof(err)) == 0, "%s", err);
	CHECK_INTEQ(version("host"), 1);
	CHECK(bundle_replay_floor(d, &f, err, sizeof(err)) == 0);
	CHECK_INTEQ(f, 3);
	buf_free(&b1);
	free(d);
}

static void
t_rollback_unversioned(void)
{
	struct buf b1;
	uint64_t f = 0;
	char	 err[512], *d, *t;

	(void)test_rmtree(root);
	CHECK(mkdir(root, 0700) == 0);
	d = dir("host");
	mkconf("host", "127.0.0.42");
	put("host/tsmtpd.ini", "[SmtpServer]\nPort=2500\n");
	mkconf("ctl", "127.0.0.1");
	create("ctl", 5, &b1);
	CHECKF(apply(&b1, "host", err, sizeof(err)) == 0, "%s", err);
	CHECK(!exists(".host.bundle-prev/.bundle-version"));
	/* Back to the files before any bundle: version 0, floor 5. */
	CHECKF(bundle_rollback(d, NULL, err, sizeof(err)) == 0, "%s", err);
	CHECK_INTEQ(version("host"), 0);
	t = get("host/.bundle-version");
	CHECK(t != NULL && strcmp(t, "0\n") == 0);
	free(t);
	t = get("host/tsmtpd.ini");
	CHECK(t != NULL && strstr(t, "2500") != NULL);
	free(t);
	CHECK(bundle_replay_floor(d, &f, err, sizeof(err)) == 0);
	CHECK_INTEQ(f, 5);
	CHECK(apply(&b1, "host", err, sizeof(err)) == -1);
	buf_free(&b1);
	free(d);
}

static void
t_rollback_crash(void)
{
	struct buf b1, b2;
	uint64_t f = 0;
	char	 err[512], *d, *t, *p1, *p2;

	(void)test_rmtree(root);
	CHECK(mkdir(root, 0700) == 0);
	d = dir("host");
	mkconf("host", "127.0.0.42");
	mkconf("ctl", "127.0.0.1");
	put("ctl/policy.ini", "[scan]\nworkers=1\n");
	create("ctl", 1, &b1);
	CHECKF(apply(&b1, "host", err, sizeof(err)) == 0, "%s", err);
	put("ctl/policy.ini", "[scan]\nworkers=2\n");
	put("ctl/tsmtpd.ini", "[SmtpServer]\nPort=2602\n");
	put("ctl/keywords/v2.txt", "casino\n");
	create("ctl", 2, &b2);
	CHECKF(apply(&b2, "host", err, sizeof(err)) == 0, "%s", err);
	/* A crash before the commit: a stage only; the rollback still works. */
	put(".host.bundle-stage/policy.ini", "[scan]\nworkers=9\n");
	CHECK(bundle_recover(d, err, sizeof(err)) == 0);
	CHECK(!exists(".host.bundle-stage"));
	CHECK_INTEQ(version("host"), 2);
	CHECK(exists(".host.bundle-prev/policy.ini"));
	/*
	 * A crash after the commit, as bundle_rollback leaves it: floor
	 * raised, the journal in place, policy.ini already moved in,
	 * tsmtpd.ini still staged, v2.txt not yet removed.
	 */
	put("host/.bundle-floor", "2\n");
	p1 = xasprintf("%s/.host.bundle-prev/policy.ini", root);
	p2 = xasprintf("%s/host/policy.ini", root);
	CHECK(rename(p1, p2) == 0);
	free(p1);
	free(p2);
	t = get(".host.bundle-prev/tsmtpd.ini");
	CHECK(t != NULL);
	put(".host.bundle-stage/tsmtpd.ini", t != NULL ? t : "");
	free(t);
	put("host/.bundle-journal", "sekisho-bundle-journal 1\nversion 1\n"
	    "put policy.ini\nput tsmtpd.ini\ndel keywords/v2.txt\n"
	    "rollback\nend\n");
	CHECK(bundle_pending(d));
	CHECKF(bundle_recover(d, err, sizeof(err)) == 0, "%s", err);
	CHECK(!bundle_pending(d));
	CHECK_INTEQ(version("host"), 1);
	t = get("host/policy.ini");
	CHECK(t != NULL && strstr(t, "workers=1") != NULL);
	free(t);
	t = get("host/tsmtpd.ini");
	CHECK(t != NULL && strstr(t, "2602") == NULL);
	free(t);
	CHECK(!exists("host/keywords/v2.txt"));
	CHECK(!exists(".host.bundle-prev"));
	CHECK(!exists(".host.bundle-stage"));
	CHECK(bundle_replay_floor(d, &f, err, sizeof(err)) == 0);
	CHECK_INTEQ(f, 2);
	CHECK(bundle_rollback(d, NULL, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "nothing to roll back") != NULL, "%s", err);
	/* Version 0 is only for a rollback journal. */
	put(".host.bundle-stage/policy.ini", "[scan]\nworkers=3\n");
	put("host/.bundle-journal", "sekisho-bundle-journal 1\nversion 0\n"
	    "put policy.ini\nend\n");
	CHECK(bundle_recover(d, err, sizeof(err)) == -1);
	CHECKF(strstr(err, "malformed") != NULL, "%s", err);
	t = get("host/policy.ini");
	CHECK(t != NULL && strstr(t, "workers=1") != NULL);
	free(t);
	buf_free(&b1);
	buf_free(&b2);
	free(d);
}

static void
t_keys(void)
{
	char	 err[256], *kd = dir("keys"), *p;
	EVP_PKEY *k;
	struct stat st;

	CHECKF(bundle_keygen(kd, err, sizeof(err)) == 0, "%s", err);
	p = xasprintf("%s/%s", kd, BUNDLE_PRIVKEY_NAME);
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600);
	k = bundle_key_load(p, true, err, sizeof(err));
	CHECKF(k != NULL, "%s", err);
	EVP_PKEY_free(k);
	/* A private key others can read is refused. */
	CHECK(chmod(p, 0644) == 0);
	CHECK(bundle_key_load(p, true, err, sizeof(err)) == NULL);
	free(p);
	p = xasprintf("%s/%s", kd, BUNDLE_PUBKEY_NAME);
	k = bundle_key_load(p, false, err, sizeof(err));
	CHECKF(k != NULL, "%s", err);
	EVP_PKEY_free(k);
	/* Not twice into one directory. */
	CHECK(bundle_keygen(kd, err, sizeof(err)) == -1);
	CHECK(bundle_key_load("/nonexistent", false, err, sizeof(err)) ==
	    NULL);
	free(p);
	free(kd);
}

/* setup: the temporary directory and two keys. */
static void
t_setup(void)
{
	CHECK(mkdtemp(root) != NULL);
	key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	CHECK(key != NULL && other != NULL);
}

static void
t_teardown(void)
{
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
	(void)test_rmtree(root);
}

TEST_MAIN(t_setup, t_round_trip, t_tampered_truncated_unsigned,
    t_wrong_key_and_replay, t_paths_refused, t_oversize, t_apply,
    t_bad_config_refused, t_recover, t_rollback, t_rollback_unversioned,
    t_rollback_crash, t_keys, t_teardown)
