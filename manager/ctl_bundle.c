/*
 * ctl_bundle.c: sekishoctl's configuration bundle commands (central
 * controller, docs/central.md):
 *
 *	sekishoctl config keygen DIR
 *	sekishoctl [-c DIR] config bundle create --key PRIV --version N
 *	    [-o FILE]
 *	sekishoctl config bundle verify --pubkey PUB [--pubkey PUB ...] FILE
 *	sekishoctl [-c DIR] config bundle apply --pubkey PUB [...] FILE
 *	sekishoctl [-c DIR] config bundle rollback
 *
 * The work is bundle.c's; this file reads the arguments and files and
 * says what happened.  Exit codes as everywhere in sekishoctl: 0 done,
 * 1 failed (with the reason), 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "bundle_policy.h"
#include "sekishoctl.h"
#include "util.h"
#include "xmalloc.h"

#define CTL_BUNDLE_MAXKEYS	16

/* The options of a bundle command. */
struct ctl_bundle_args {
	const char	*key;			/* --key */
	const char	*pub[CTL_BUNDLE_MAXKEYS];	/* --pubkey */
	size_t		 npub;
	const char	*out;			/* -o */
	long long	 version;		/* --version, 0: not given */
	const char	*file;			/* the one operand */
};

/* ctl_bundle_usage: the bundle commands' usage; exits 2. */
static void __attribute__((noreturn))
ctl_bundle_usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "sekishoctl: %s\n", why);
	fprintf(stderr, "usage: sekishoctl config keygen DIR\n"
	    "       sekishoctl [-c confdir] config bundle create --key PRIV "
	    "--version N [-o FILE]\n"
	    "       sekishoctl config bundle verify --pubkey PUB FILE\n"
	    "       sekishoctl [-c confdir] config bundle apply --pubkey PUB "
	    "FILE\n"
	    "       sekishoctl [-c confdir] config bundle rollback\n");
	exit(2);
}

/* ctl_bundle_opts: the options and the operand after the command word. */
static void
ctl_bundle_opts(struct ctl_bundle_args *a, int argc, char **argv)
{
	int	 i;

	for (i = 0; i < argc; i++) {
		const char *o = argv[i];

		if (o[0] != '-' || strcmp(o, "-") == 0) {
			if (a->file != NULL)
				ctl_bundle_usage("one bundle file only");
			a->file = o;
			continue;
		}
		if (i + 1 >= argc)
			ctl_bundle_usage("option without its value");
		if (strcmp(o, "--key") == 0)
			a->key = argv[++i];
		else if (strcmp(o, "--pubkey") == 0) {
			if (a->npub == CTL_BUNDLE_MAXKEYS)
				ctl_bundle_usage("too many --pubkey");
			a->pub[a->npub++] = argv[++i];
		} else if (strcmp(o, "-o") == 0)
			a->out = argv[++i];
		else if (strcmp(o, "--version") == 0) {
			if (!str_to_ll(argv[++i], 1, INT64_MAX, &a->version))
				ctl_bundle_usage("--version: a number from 1");
		} else
			ctl_bundle_usage(NULL);
	}
}

/* ctl_bundle_write: the bundle into path (via a temporary) or stdout. */
static int
ctl_bundle_write(const char *path, const struct buf *b)
{
	char	*tmp;
	int	 fd, rc = 0;

	if (path == NULL) {
		if (isatty(STDOUT_FILENO)) {
			fprintf(stderr, "sekishoctl: not writing a bundle to a "
			    "terminal: use -o FILE\n");
			return 1;
		}
		if (fd_write_all(STDOUT_FILENO, b->data, b->len) == -1) {
			fprintf(stderr, "sekishoctl: stdout: %s\n",
			    strerror(errno));
			return 1;
		}
		return 0;
	}
	tmp = xasprintf("%s.tmp%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0644)) == -1 || fd_write_all(fd, b->data, b->len) == -1 ||
	    fsync(fd) == -1 || close(fd) == -1 || rename(tmp, path) == -1) {
		fprintf(stderr, "sekishoctl: %s: %s\n", path, strerror(errno));
		if (fd != -1)
			(void)unlink(tmp);
		rc = 1;
	}
	free(tmp);
	return rc;
}

/* ctl_bundle_create: config bundle create. */
static int
ctl_bundle_create(const char *confdir, const struct ctl_bundle_args *a)
{
	EVP_PKEY *key;
	struct buf b;
	char	 err[512], id[2 * BUNDLE_KEYID_LEN + 1];
	uint8_t	 kid[BUNDLE_KEYID_LEN];
	int	 rc;

	if (a->key == NULL || a->version == 0 || a->npub > 0 ||
	    a->file != NULL)
		ctl_bundle_usage("create needs --key PRIV and --version N");
	if ((key = bundle_key_load(a->key, true, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sekishoctl: %s\n", err);
		return 1;
	}
	if (bundle_create(confdir, (uint64_t)a->version, key, &b, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: %s: cannot create the bundle: %s\n",
		    confdir, err);
		EVP_PKEY_free(key);
		return 1;
	}
	bundle_keyid(key, kid);
	bundle_keyid_text(kid, id, sizeof(id));
	EVP_PKEY_free(key);
	if ((rc = ctl_bundle_write(a->out, &b)) == 0 && a->out != NULL)
		printf("%s: bundle version %lld of %s, %zu bytes, key id %s\n",
		    a->out, a->version, confdir, b.len, id);
	buf_free(&b);
	return rc;
}

/* ctl_bundle_keys: the --pubkey keys; NULL after saying why. */
static EVP_PKEY **
ctl_bundle_keys(const struct ctl_bundle_args *a)
{
	EVP_PKEY **keys;
	char	 err[512];
	size_t	 i;

	keys = xcalloc(a->npub, sizeof(*keys));
	for (i = 0; i < a->npub; i++)
		if ((keys[i] = bundle_key_load(a->pub[i], false, err,
		    sizeof(err))) == NULL) {
			fprintf(stderr, "sekishoctl: %s\n", err);
			while (i-- > 0)
				EVP_PKEY_free(keys[i]);
			free(keys);
			return NULL;
		}
	return keys;
}

/* ctl_bundle_keys_free: release what ctl_bundle_keys returned. */
static void
ctl_bundle_keys_free(EVP_PKEY **keys, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		EVP_PKEY_free(keys[i]);
	free(keys);
}

/* ctl_bundle_show: what a verified bundle holds. */
static void
ctl_bundle_show(const char *file, const struct bundle *b)
{
	char	 id[2 * BUNDLE_KEYID_LEN + 1], when[64];
	size_t	 i;

	bundle_keyid_text(b->keyid, id, sizeof(id));
	printf("%s: valid bundle version %llu, created %s, key id %s, "
	    "%zu files\n", file, (unsigned long long)b->version,
	    ctl_time(when, sizeof(when), (time_t)b->created), id, b->nfiles);
	for (i = 0; i < b->nfiles; i++)
		printf("  %04o %9zu  %s\n", (unsigned)b->files[i].mode,
		    b->files[i].len, b->files[i].path);
}

/* ctl_bundle_check: config bundle verify and apply. */
static int
ctl_bundle_check(const char *confdir, const struct ctl_bundle_args *a,
    bool apply)
{
	struct bundle *b = NULL;
	EVP_PKEY **keys;
	uint64_t applied = 0;
	uint8_t	*data;
	size_t	 len;
	char	 err[1024];
	int	 rc = 1;

	if (a->npub == 0 || a->file == NULL || a->key != NULL ||
	    a->version != 0 || a->out != NULL)
		ctl_bundle_usage("needs --pubkey PUB and the bundle FILE");
	if ((keys = ctl_bundle_keys(a)) == NULL)
		return 1;
	if (apply && bundle_replay_floor(confdir, &applied, err,
	    sizeof(err)) == -1)
		fprintf(stderr, "sekishoctl: %s\n", err);
	else if ((data = (uint8_t *)file_read(a->file, BUNDLE_MAX_SIZE,
	    &len)) == NULL)
		fprintf(stderr, "sekishoctl: %s: %s\n", a->file,
		    errno == EFBIG ? "larger than a bundle may be" :
		    strerror(errno));
	else {
		if ((b = bundle_verify(data, len, keys, a->npub, applied, err,
		    sizeof(err))) == NULL)
			fprintf(stderr, "sekishoctl: %s: refused: %s\n", a->file,
			    err);
		else if (!apply) {
			ctl_bundle_show(a->file, b);
			rc = 0;
		} else if (bundle_apply(b, confdir, bundle_policy_check, err,
		    sizeof(err)) == -1)
			fprintf(stderr, "sekishoctl: %s: refused: %s\n", a->file,
			    err);
		else {
			printf("%s: applied bundle version %llu\n", confdir,
			    (unsigned long long)b->version);
			rc = 0;
		}
		free(data);
	}
	bundle_free(b);
	ctl_bundle_keys_free(keys, a->npub);
	return rc;
}

/* ctl_bundle_rollback: config bundle rollback. */
static int
ctl_bundle_rollback(const char *confdir, int argc)
{
	uint64_t v = 0;
	char	 err[1024];

	if (argc != 0)
		ctl_bundle_usage("rollback takes no arguments");
	if (bundle_rollback(confdir, bundle_policy_check, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: %s: rollback refused: %s\n",
		    confdir, err);
		return 1;
	}
	if (bundle_applied_version(confdir, &v, err, sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: %s\n", err);
		return 1;
	}
	printf("%s: rolled back to bundle version %llu\n", confdir,
	    (unsigned long long)v);
	return 0;
}

/*
 * cmd_config_bundle: sekishoctl config keygen|bundle ...; argv starts at
 * "keygen" or "bundle".
 */
int
cmd_config_bundle(const char *confdir, int argc, char **argv)
{
	struct ctl_bundle_args a;
	char	 err[512];

	memset(&a, 0, sizeof(a));
	if (argc >= 1 && strcmp(argv[0], "keygen") == 0) {
		if (argc != 2 || argv[1][0] == '-')
			ctl_bundle_usage("keygen needs the key directory");
		if (bundle_keygen(argv[1], err, sizeof(err)) == -1) {
			fprintf(stderr, "sekishoctl: %s\n", err);
			return 1;
		}
		printf("%s/%s (private, 0600) and %s/%s written\n", argv[1],
		    BUNDLE_PRIVKEY_NAME, argv[1], BUNDLE_PUBKEY_NAME);
		return 0;
	}
	if (argc < 2 || strcmp(argv[0], "bundle") != 0)
		ctl_bundle_usage(NULL);
	if (strcmp(argv[1], "rollback") == 0)
		return ctl_bundle_rollback(confdir, argc - 2);
	ctl_bundle_opts(&a, argc - 2, argv + 2);
	if (strcmp(argv[1], "create") == 0)
		return ctl_bundle_create(confdir, &a);
	if (strcmp(argv[1], "verify") == 0)
		return ctl_bundle_check(confdir, &a, false);
	if (strcmp(argv[1], "apply") == 0)
		return ctl_bundle_check(confdir, &a, true);
	ctl_bundle_usage(NULL);
}
