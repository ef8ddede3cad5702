/*
 * bundle.c: versioned, signed configuration bundles and their atomic
 * apply (central controller, docs/central.md).
 *
 * Owns the bundle format (bundle.h), the Ed25519 keys that sign it, and
 * the files bundle_apply keeps beside a configuration directory D:
 *
 *	D/.bundle-version	the version applied last
 *	D/.bundle-floor		the highest version ever applied (rollback)
 *	D/.bundle-journal	an apply that is committed but not finished
 *	D/.bundle-lock		serialises appliers (flock)
 *	P/.NAME.bundle-stage	the new files, before they move into D
 *	P/.NAME.bundle-prev	the files the last apply replaced (rollback)
 *
 * (P is D's parent and NAME its last component.)  An apply writes and
 * fsyncs every new file into the stage, validates the staged directory,
 * saves the old files into the rollback copy, then commits by renaming
 * the journal into place: before that rename D is untouched (the old
 * configuration, complete); after it, the stage plus D hold the new one
 * completely and bundle_recover finishes moving it in, however often it
 * is interrupted, since every step is a rename that is either done or
 * still to do.  A rollback (bundle_rollback) stages the rollback copy
 * the same way and commits it by the same journal, marked "rollback" so
 * the roll forward also removes the copy.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "bundle.h"
#include "conf.h"
#include "xmalloc.h"

#define BUNDLE_JOURNAL_MAGIC	"sekisho-bundle-journal 1"
#define BUNDLE_JOURNAL_MAX	(64 * 1024)

/* The top-level files a bundle carries when they exist. */
static const char *const bundle_ini_names[] = {
	"foxdns.ini", "imss.ini", "policy.ini", "tsmtpd.ini",
};

/* The directories whose regular files a bundle carries. */
static const struct {
	const char	*dir;
	const char	*suffix;	/* only names ending so; NULL: all */
} bundle_dirs[] = {
	{ "keywords", ".txt" },
	{ "templates", NULL },
};

/*
 * The keys of imss.ini that belong to the receiving host: apply drops
 * them from the bundle's imss.ini and puts back the host's own lines.
 */
static const struct {
	const char	*section;
	const char	*key;
} bundle_host_keys[] = {
	{ "general", "hostname" },
	{ "general", "data_dir" },
	{ "general", "run_dir" },
	{ "imss_manager", "scanner_ip_addr" },	/* seed 21 */
	{ "imss_manager", "agent_port" },	/* where the controller pushes */
	{ "logging", "log_dir" },
};

static const char *const bundle_host_sections[] = {
	"general", "imss_manager", "logging",
};

/* The paths of an apply, all absolute. */
struct bundle_paths {
	char	*dir;		/* D, resolved */
	char	*stage;		/* P/.NAME.bundle-stage */
	char	*prev;		/* P/.NAME.bundle-prev */
	char	*prevnew;	/* P/.NAME.bundle-prev.new */
	char	*parent;	/* P */
};

/*
 * ------------------------------------------------------------------------
 * Paths a bundle may carry.
 * ------------------------------------------------------------------------
 */

/* bundle_name_ok: one path component: [A-Za-z0-9._+-], no leading dot. */
static bool
bundle_name_ok(const char *s, size_t n)
{
	size_t	 i;

	if (n == 0 || n > BUNDLE_NAME_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && c != '.' && c != '_' &&
		    c != '-' && c != '+')
			return false;
	}
	return true;
}

/* bundle_suffix: whether s (n bytes) ends with suf, in any case. */
static bool
bundle_suffix(const char *s, size_t n, const char *suf)
{
	size_t	 k = strlen(suf);

	return n >= k && strncasecmp(s + n - k, suf, k) == 0;
}

/*
 * bundle_path_ok: a path a bundle may carry: relative, one or two safe
 * components (so never "..", never absolute, never hidden), and never
 * key material (tls/, *.key, *.pem).
 */
bool
bundle_path_ok(const char *p, size_t n)
{
	const char *slash;
	size_t	 first;

	if (n == 0 || n > BUNDLE_PATH_MAX)
		return false;
	slash = memchr(p, '/', n);
	first = slash != NULL ? (size_t)(slash - p) : n;
	if (!bundle_name_ok(p, first))
		return false;
	if (slash != NULL && !bundle_name_ok(slash + 1, n - first - 1))
		return false;
	if (slash != NULL && first == 3 && strncasecmp(p, "tls", 3) == 0)
		return false;
	return !bundle_suffix(p, n, ".key") && !bundle_suffix(p, n, ".pem");
}

/*
 * ------------------------------------------------------------------------
 * Parsing.
 * ------------------------------------------------------------------------
 */

struct bundle_cur {
	const uint8_t	*p;
	size_t		 left;
};

/* bundle_take: the next n bytes, or false when fewer are left. */
static bool
bundle_take(struct bundle_cur *c, size_t n, const uint8_t **out)
{
	if (n > c->left)
		return false;
	*out = c->p;
	c->p += n;
	c->left -= n;
	return true;
}

/* bundle_get: a big-endian unsigned integer of n (<= 8) bytes. */
static bool
bundle_get(struct bundle_cur *c, size_t n, uint64_t *v)
{
	const uint8_t *p;
	size_t	 i;

	if (!bundle_take(c, n, &p))
		return false;
	*v = 0;
	for (i = 0; i < n; i++)
		*v = *v << 8 | p[i];
	return true;
}

/* bundle_free: release a parsed bundle (NULL is fine). */
void
bundle_free(struct bundle *b)
{
	size_t	 i;

	if (b == NULL)
		return;
	for (i = 0; i < b->nfiles; i++) {
		free(b->files[i].path);
		free(b->files[i].data);
	}
	free(b->files);
	free(b);
}

/* bundle_parse_file: file number i of the bundle, appended to b. */
static int
bundle_parse_file(struct bundle_cur *c, struct bundle *b, char *err,
    size_t errlen)
{
	struct bundle_file *f = &b->files[b->nfiles];
	const uint8_t *p, *d;
	uint64_t plen, mode, flen;
	size_t	 i = b->nfiles;

	if (!bundle_get(c, 2, &plen) || !bundle_take(c, plen, &p))
		return str_fail(err, errlen, "malformed bundle: file %zu: "
		    "truncated path", i);
	if (!bundle_path_ok((const char *)p, plen))
		return str_fail(err, errlen, "malformed bundle: file %zu: "
		    "path not allowed (relative, at most two components of "
		    "A-Z a-z 0-9 . _ + -, no leading dot, no key files)", i);
	f->path = xstrndup((const char *)p, plen);
	if (i > 0 && strcmp(b->files[i - 1].path, f->path) >= 0) {
		free(f->path);
		return str_fail(err, errlen, "malformed bundle: file %zu: "
		    "path duplicate or out of order", i);
	}
	if (!bundle_get(c, 4, &mode) || !bundle_get(c, 4, &flen)) {
		free(f->path);
		return str_fail(err, errlen, "malformed bundle: %.*s: "
		    "truncated", (int)plen, (const char *)p);
	}
	if ((mode & ~(uint64_t)0666) != 0 || (mode & 0400) == 0 ||
	    flen > BUNDLE_MAX_FILE || !bundle_take(c, flen, &d)) {
		free(f->path);
		return str_fail(err, errlen, "malformed bundle: %.*s: bad "
		    "mode, too large or truncated", (int)plen, (const char *)p);
	}
	f->mode = (uint32_t)mode;
	f->len = flen;
	f->data = xmalloc(flen > 0 ? flen : 1);
	memcpy(f->data, d, flen);
	b->nfiles++;
	return 0;
}

/* bundle_conflicts: whether a top-level file is also a directory name. */
static bool
bundle_conflicts(const struct bundle *b)
{
	size_t	 i, j, n;

	for (i = 0; i < b->nfiles; i++) {
		if (strchr(b->files[i].path, '/') != NULL)
			continue;
		n = strlen(b->files[i].path);
		for (j = 0; j < b->nfiles; j++)
			if (strncmp(b->files[j].path, b->files[i].path, n) == 0 &&
			    b->files[j].path[n] == '/')
				return true;
	}
	return false;
}

/*
 * bundle_parse: the structure of a bundle, without its signature (the
 * fuzz target's entry point; bundle_verify checks the signature).  On
 * success *bodylen is the length of the signed part.  NULL with the
 * reason in err for anything malformed.
 */
struct bundle *
bundle_parse(const uint8_t *data, size_t len, size_t *bodylen, char *err,
    size_t errlen)
{
	struct bundle_cur c = { data, len };
	struct bundle	*b;
	const uint8_t	*p;
	uint64_t	 n, i;
	size_t		 mlen = strlen(BUNDLE_MAGIC);

	if (len > BUNDLE_MAX_SIZE) {
		(void)str_fail(err, errlen, "bundle too large (%zu bytes, at "
		    "most %d)", len, BUNDLE_MAX_SIZE);
		return NULL;
	}
	if (len < mlen || memcmp(data, BUNDLE_MAGIC, mlen) != 0) {
		if (len >= strlen(BUNDLE_MAGIC_PREFIX) && memcmp(data,
		    BUNDLE_MAGIC_PREFIX, strlen(BUNDLE_MAGIC_PREFIX)) == 0)
			(void)str_fail(err, errlen, "unsupported bundle "
			    "format version");
		else
			(void)str_fail(err, errlen, "not a sekisho bundle "
			    "(bad magic line)");
		return NULL;
	}
	c.p += mlen;
	c.left -= mlen;
	b = xcalloc(1, sizeof(*b));
	if (!bundle_get(&c, 8, &b->version) || !bundle_get(&c, 8, &b->created) ||
	    !bundle_take(&c, BUNDLE_KEYID_LEN, &p) || !bundle_get(&c, 4, &n)) {
		(void)str_fail(err, errlen, "malformed bundle: truncated "
		    "header");
		goto fail;
	}
	memcpy(b->keyid, p, BUNDLE_KEYID_LEN);
	if (b->version == 0 || b->version > (uint64_t)INT64_MAX) {
		(void)str_fail(err, errlen, "malformed bundle: version "
		    "out of range");
		goto fail;
	}
	if (n > BUNDLE_MAX_FILES) {
		(void)str_fail(err, errlen, "malformed bundle: %llu files, "
		    "at most %d", (unsigned long long)n, BUNDLE_MAX_FILES);
		goto fail;
	}
	b->files = xcalloc(n > 0 ? n : 1, sizeof(*b->files));
	for (i = 0; i < n; i++)
		if (bundle_parse_file(&c, b, err, errlen) == -1)
			goto fail;
	if (bundle_conflicts(b)) {
		(void)str_fail(err, errlen, "malformed bundle: a file has "
		    "the name of a directory");
		goto fail;
	}
	*bodylen = len - c.left;
	if (c.left == 0) {
		(void)str_fail(err, errlen, "unsigned bundle (no signature)");
		goto fail;
	}
	if (c.left != 2 + BUNDLE_SIG_LEN || c.p[0] != 'S' ||
	    c.p[1] != BUNDLE_SIG_LEN) {
		(void)str_fail(err, errlen, "malformed bundle: bad signature "
		    "block or trailing bytes");
		goto fail;
	}
	return b;
fail:
	bundle_free(b);
	return NULL;
}

/*
 * ------------------------------------------------------------------------
 * Keys and signatures.
 * ------------------------------------------------------------------------
 */

/* bundle_keyid: the first bytes of SHA-256 over the raw public key. */
void
bundle_keyid(EVP_PKEY *key, uint8_t id[BUNDLE_KEYID_LEN])
{
	uint8_t	 raw[64], md[EVP_MAX_MD_SIZE];
	size_t	 rlen = sizeof(raw);
	unsigned mdlen = 0;

	memset(id, 0, BUNDLE_KEYID_LEN);
	if (EVP_PKEY_get_raw_public_key(key, raw, &rlen) != 1 ||
	    EVP_Digest(raw, rlen, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen < BUNDLE_KEYID_LEN)
		return;
	memcpy(id, md, BUNDLE_KEYID_LEN);
}

/* bundle_keyid_text: a key id as hex. */
void
bundle_keyid_text(const uint8_t id[BUNDLE_KEYID_LEN], char *buf, size_t len)
{
	size_t	 i;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < BUNDLE_KEYID_LEN && 2 * i + 2 < len; i++)
		(void)snprintf(buf + 2 * i, 3, "%02x", id[i]);
}

/* bundle_sign: the Ed25519 signature of tbs. */
static int
bundle_sign(EVP_PKEY *key, const uint8_t *tbs, size_t n,
    uint8_t sig[BUNDLE_SIG_LEN])
{
	EVP_MD_CTX *ctx;
	size_t	 slen = BUNDLE_SIG_LEN;
	int	 rc = -1;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
	    EVP_DigestSign(ctx, sig, &slen, tbs, n) == 1 &&
	    slen == BUNDLE_SIG_LEN)
		rc = 0;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

/* bundle_sig_ok: whether sig is key's signature of tbs. */
static bool
bundle_sig_ok(EVP_PKEY *key, const uint8_t *tbs, size_t n,
    const uint8_t *sig)
{
	EVP_MD_CTX *ctx;
	bool	 ok = false;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return false;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, sig, BUNDLE_SIG_LEN, tbs, n) == 1)
		ok = true;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok;
}

/* bundle_pem_write: one key as PEM into a new file of that mode. */
static int
bundle_pem_write(const char *path, EVP_PKEY *key, bool private, mode_t mode,
    char *err, size_t errlen)
{
	FILE	*f;
	int	 fd, ok;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode)) == -1)
		return str_fail(err, errlen, "%s: %s", path, strerror(errno));
	if (fchmod(fd, mode) == -1 || (f = fdopen(fd, "w")) == NULL) {
		(void)str_fail(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		(void)unlink(path);
		return -1;
	}
	ok = private ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL,
	    NULL) : PEM_write_PUBKEY(f, key);
	if (fflush(f) != 0 || fsync(fileno(f)) == -1)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	ERR_clear_error();
	if (ok != 1) {
		(void)unlink(path);
		return str_fail(err, errlen, "%s: cannot write the key",
		    path);
	}
	return 0;
}

/*
 * bundle_keygen: a new Ed25519 key pair in dir (created 0700 if need be):
 * bundle.key (private, 0600) and bundle.pub; never overwrites one.
 */
int
bundle_keygen(const char *dir, char *err, size_t errlen)
{
	EVP_PKEY *key;
	char	*priv, *pub;
	int	 rc = -1;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return str_fail(err, errlen, "%s: %s", dir, strerror(errno));
	if ((key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL) {
		ERR_clear_error();
		return str_fail(err, errlen, "cannot generate an Ed25519 "
		    "key");
	}
	priv = xasprintf("%s/%s", dir, BUNDLE_PRIVKEY_NAME);
	pub = xasprintf("%s/%s", dir, BUNDLE_PUBKEY_NAME);
	if (access(pub, F_OK) == 0)
		(void)str_fail(err, errlen, "%s: %s", pub, strerror(EEXIST));
	else if (bundle_pem_write(priv, key, true, 0600, err, errlen) == 0) {
		if (bundle_pem_write(pub, key, false, 0644, err, errlen) == 0)
			rc = 0;
		else
			(void)unlink(priv);
	}
	free(priv);
	free(pub);
	EVP_PKEY_free(key);
	return rc;
}

/*
 * bundle_key_load: an Ed25519 key from a PEM file; a private key file
 * must not be readable by group or others.
 */
EVP_PKEY *
bundle_key_load(const char *path, bool private, char *err, size_t errlen)
{
	EVP_PKEY *key;
	struct stat st;
	FILE	*f;

	if ((f = fopen(path, "re")) == NULL) {
		(void)str_fail(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (private && (fstat(fileno(f), &st) == -1 ||
	    (st.st_mode & 077) != 0)) {
		(void)str_fail(err, errlen, "%s: private key readable by "
		    "group or others (chmod 600)", path);
		fclose(f);
		return NULL;
	}
	key = private ? PEM_read_PrivateKey(f, NULL, NULL, NULL) :
	    PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (key == NULL || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(key);
		(void)str_fail(err, errlen, "%s: not an Ed25519 %s key in "
		    "PEM", path, private ? "private" : "public");
		return NULL;
	}
	return key;
}

/*
 * bundle_verify: parse a bundle and check it: signed by one of keys,
 * version newer than min_version (the applied one: an older or equal
 * version is a replay).  NULL with the reason in err.
 */
struct bundle *
bundle_verify(const uint8_t *data, size_t len, EVP_PKEY *const *keys,
    size_t nkeys, uint64_t min_version, char *err, size_t errlen)
{
	struct bundle	*b;
	uint8_t		 id[BUNDLE_KEYID_LEN];
	char		 idtext[2 * BUNDLE_KEYID_LEN + 1];
	size_t		 body, i;

	if ((b = bundle_parse(data, len, &body, err, errlen)) == NULL)
		return NULL;
	for (i = 0; i < nkeys; i++) {
		bundle_keyid(keys[i], id);
		if (memcmp(id, b->keyid, sizeof(id)) == 0)
			break;
	}
	bundle_keyid_text(b->keyid, idtext, sizeof(idtext));
	if (i == nkeys)
		(void)str_fail(err, errlen, "signed by an unknown key (key "
		    "id %s)", idtext);
	else if (!bundle_sig_ok(keys[i], data, body, data + body + 2))
		(void)str_fail(err, errlen, "bad signature (key id %s)",
		    idtext);
	else if (b->version <= min_version)
		(void)str_fail(err, errlen, "version %llu is not newer than "
		    "the applied version %llu (replay refused)",
		    (unsigned long long)b->version,
		    (unsigned long long)min_version);
	else
		return b;
	bundle_free(b);
	return NULL;
}

/*
 * ------------------------------------------------------------------------
 * Creating: which files of a configuration directory travel.
 * ------------------------------------------------------------------------
 */

/* bundle_add: one file of confdir (path rel) to b; data only if read. */
static int
bundle_add(struct bundle *b, const char *confdir, const char *rel, bool read,
    char *err, size_t errlen)
{
	struct bundle_file *f;
	struct stat st;
	char	*path;
	size_t	 i;
	int	 rc = -1;

	for (i = 0; i < b->nfiles; i++)
		if (strcmp(b->files[i].path, rel) == 0)
			return 0;
	if (!bundle_path_ok(rel, strlen(rel)))
		return str_fail(err, errlen, "%s: a bundle cannot carry this "
		    "name", rel);
	if (b->nfiles >= BUNDLE_MAX_FILES)
		return str_fail(err, errlen, "more than %d files",
		    BUNDLE_MAX_FILES);
	path = xasprintf("%s/%s", confdir, rel);
	if (lstat(path, &st) == -1)
		(void)str_fail(err, errlen, "%s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		(void)str_fail(err, errlen, "%s: not a regular file "
		    "(bundles carry regular files only)", path);
	else {
		b->files = xreallocarray(b->files, b->nfiles + 1,
		    sizeof(*b->files));
		f = &b->files[b->nfiles];
		memset(f, 0, sizeof(*f));
		if (read && (f->data = (uint8_t *)file_read(path,
		    BUNDLE_MAX_FILE, &f->len)) == NULL)
			(void)str_fail(err, errlen, "%s: %s", path,
			    errno == 0 ? "too large" : strerror(errno));
		else {
			f->path = xstrdup(rel);
			f->mode = (uint32_t)((st.st_mode & 0666) | 0400);
			b->nfiles++;
			rc = 0;
		}
	}
	free(path);
	return rc;
}

/* bundle_add_dir: the regular files of one bundled directory. */
static int
bundle_add_dir(struct bundle *b, const char *confdir, size_t k, bool read,
    bool strict, char *err, size_t errlen)
{
	struct dirent *de;
	DIR	*dp;
	char	*path, *rel;
	int	 rc = 0;

	path = xasprintf("%s/%s", confdir, bundle_dirs[k].dir);
	dp = opendir(path);
	free(path);
	if (dp == NULL)
		return errno == ENOENT ? 0 : str_fail(err, errlen, "%s/%s: %s",
		    confdir, bundle_dirs[k].dir, strerror(errno));
	while (rc == 0 && (de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.' || (bundle_dirs[k].suffix != NULL &&
		    !bundle_suffix(de->d_name, strlen(de->d_name),
		    bundle_dirs[k].suffix)))
			continue;
		rel = xasprintf("%s/%s", bundle_dirs[k].dir, de->d_name);
		rc = bundle_add(b, confdir, rel, read, err, errlen);
		if (!strict)
			rc = 0;		/* the host's odd files: not ours */
		free(rel);
	}
	closedir(dp);
	return rc;
}

/* bundle_add_list: a foxdns list file, if it lies inside confdir. */
static int
bundle_add_list(struct bundle *b, const char *absdir, const char *file,
    bool read, char *err, size_t errlen)
{
	size_t	 n = strlen(absdir);

	if (file == NULL || file[0] == '\0' || strncmp(file, absdir, n) != 0 ||
	    file[n] != '/')
		return 0;		/* none, or host-local: not carried */
	return bundle_add(b, absdir, file + n + 1, read, err, errlen);
}

/* bundle_cmp: order of files by path. */
static int
bundle_cmp(const void *a, const void *b)
{
	return strcmp(((const struct bundle_file *)a)->path,
	    ((const struct bundle_file *)b)->path);
}

/*
 * bundle_collect: the files of confdir a bundle carries (docs/central.md):
 * the four .ini files, keywords/ *.txt, templates/ *, and the foxdns.ini
 * list files inside confdir.  With strict, the configuration must load
 * (what the controller bundles); without, a configuration that does not
 * load contributes no list files (the host's files an apply replaces).
 */
static int
bundle_collect(const char *confdir, struct bundle *b, bool read, bool strict,
    char *err, size_t errlen)
{
	struct sekisho_conf conf;
	struct diag	 d;
	size_t		 i;
	int		 rc = 0;

	diag_init(&d);
	if (conf_load(confdir, &conf, &d) == -1) {
		if (strict)
			rc = str_fail(err, errlen, "configuration invalid: "
			    "%s", d.nitems > 0 ? d.items[0].text : confdir);
		memset(&conf, 0, sizeof(conf));
	}
	diag_free(&d);
	for (i = 0; rc == 0 && i < nitems(bundle_ini_names); i++) {
		char *p = xasprintf("%s/%s", confdir, bundle_ini_names[i]);
		struct stat st;

		if ((lstat(p, &st) == 0 || errno != ENOENT) &&
		    bundle_add(b, confdir, bundle_ini_names[i], read, err,
		    errlen) == -1 && strict)
			rc = -1;
		free(p);
	}
	for (i = 0; rc == 0 && i < nitems(bundle_dirs); i++)
		rc = bundle_add_dir(b, confdir, i, read, strict, err, errlen);
	if (rc == 0 && conf.confdir != NULL &&
	    (bundle_add_list(b, conf.confdir, conf.foxdns.approved_list_file,
	    read, err, errlen) == -1 || bundle_add_list(b, conf.confdir,
	    conf.foxdns.blocked_list_file, read, err, errlen) == -1) && strict)
		rc = -1;
	if (conf.confdir != NULL)
		conf_free(&conf);
	if (b->nfiles > 1)
		qsort(b->files, b->nfiles, sizeof(*b->files), bundle_cmp);
	return rc;
}

/* bundle_put: a big-endian integer of n bytes. */
static bool
bundle_put(struct buf *out, uint64_t v, size_t n)
{
	uint8_t	 b[8];
	size_t	 i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return buf_add(out, b, n);
}

/* bundle_encode: the signed part of b. */
static bool
bundle_encode(const struct bundle *b, struct buf *out)
{
	const struct bundle_file *f;
	bool	 ok;
	size_t	 i;

	ok = buf_addstr(out, BUNDLE_MAGIC) && bundle_put(out, b->version, 8) &&
	    bundle_put(out, b->created, 8) &&
	    buf_add(out, b->keyid, BUNDLE_KEYID_LEN) &&
	    bundle_put(out, b->nfiles, 4);
	for (i = 0; ok && i < b->nfiles; i++) {
		f = &b->files[i];
		ok = bundle_put(out, strlen(f->path), 2) &&
		    buf_addstr(out, f->path) && bundle_put(out, f->mode, 4) &&
		    bundle_put(out, f->len, 4) && buf_add(out, f->data, f->len);
	}
	return ok;
}

/*
 * bundle_create: a bundle of confdir's shared configuration with this
 * version, signed with key, into out (initialised here; freed on
 * failure).  The configuration must load.
 */
int
bundle_create(const char *confdir, uint64_t version, EVP_PKEY *key,
    struct buf *out, char *err, size_t errlen)
{
	struct bundle	 b;
	uint8_t		 sig[BUNDLE_SIG_LEN];
	size_t		 i;
	int		 rc = -1;

	buf_init(out, BUNDLE_MAX_SIZE);
	memset(&b, 0, sizeof(b));
	b.version = version;
	b.created = (uint64_t)time(NULL);
	bundle_keyid(key, b.keyid);
	if (version == 0 || version > (uint64_t)INT64_MAX)
		(void)str_fail(err, errlen, "version out of range (1..%lld)",
		    (long long)INT64_MAX);
	else if (bundle_collect(confdir, &b, true, true, err, errlen) == -1)
		rc = -1;
	else if (!bundle_encode(&b, out))
		(void)str_fail(err, errlen, "bundle larger than %d bytes",
		    BUNDLE_MAX_SIZE);
	else if (bundle_sign(key, out->data, out->len, sig) == -1)
		(void)str_fail(err, errlen, "cannot sign (not an Ed25519 "
		    "private key?)");
	else if (!buf_add(out, "S", 1) || !bundle_put(out, BUNDLE_SIG_LEN, 1) ||
	    !buf_add(out, sig, sizeof(sig)))
		(void)str_fail(err, errlen, "bundle larger than %d bytes",
		    BUNDLE_MAX_SIZE);
	else
		rc = 0;
	for (i = 0; i < b.nfiles; i++) {
		free(b.files[i].path);
		free(b.files[i].data);
	}
	free(b.files);
	if (rc == -1)
		buf_free(out);
	return rc;
}

/*
 * ------------------------------------------------------------------------
 * Host-specific keys of imss.ini.
 * ------------------------------------------------------------------------
 */

/* One line of an INI text, classified for the merge. */
struct bundle_line {
	const char	*p;
	size_t		 len;		/* without the newline */
	bool		 header;	/* a [section] line */
	int		 host;		/* index into bundle_host_keys, or -1 */
};

/* bundle_span: s (n bytes) without blanks around it. */
static void
bundle_span(const char **s, size_t *n)
{
	while (*n > 0 && isspace((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/* bundle_classify: what line l is, updating the current section. */
static void
bundle_classify(struct bundle_line *l, char *sect, size_t sectlen)
{
	const char *s = l->p, *e;
	size_t	 n = l->len, i;

	l->header = false;
	l->host = -1;
	bundle_span(&s, &n);
	if (n > 0 && s[0] == '[' && (e = memchr(s, ']', n)) != NULL) {
		s++;
		n = (size_t)(e - s);
		bundle_span(&s, &n);
		(void)snprintf(sect, sectlen, "%.*s", (int)n, s);
		l->header = true;
		return;
	}
	if (n == 0 || s[0] == ';' || s[0] == '#' ||
	    (e = memchr(s, '=', n)) == NULL)
		return;
	n = (size_t)(e - s);
	bundle_span(&s, &n);
	for (i = 0; i < nitems(bundle_host_keys); i++)
		if (strcasecmp(sect, bundle_host_keys[i].section) == 0 &&
		    strlen(bundle_host_keys[i].key) == n &&
		    strncasecmp(s, bundle_host_keys[i].key, n) == 0)
			l->host = (int)i;
}

/* bundle_next_line: the line at *pos of text, or false at the end. */
static bool
bundle_next_line(const uint8_t *text, size_t len, size_t *pos,
    struct bundle_line *l)
{
	const uint8_t *nl;

	if (*pos >= len)
		return false;
	l->p = (const char *)text + *pos;
	nl = memchr(text + *pos, '\n', len - *pos);
	l->len = nl != NULL ? (size_t)(nl - (text + *pos)) : len - *pos;
	*pos += l->len + 1;
	return true;
}

/* bundle_host_lines: the host's own lines of one section, to out. */
static bool
bundle_host_lines(const uint8_t *host, size_t hlen, const char *section,
    struct buf *out)
{
	struct bundle_line l;
	char	 sect[128] = "";
	size_t	 pos = 0;
	bool	 ok = true;

	while (ok && bundle_next_line(host, hlen, &pos, &l)) {
		bundle_classify(&l, sect, sizeof(sect));
		if (l.host >= 0 && strcasecmp(bundle_host_keys[l.host].section,
		    section) == 0)
			ok = buf_add(out, l.p, l.len) && buf_addstr(out, "\n");
	}
	return ok;
}

/* bundle_host_section: index of a section that holds host keys, or -1. */
static int
bundle_host_section(const char *sect)
{
	size_t	 i;

	for (i = 0; i < nitems(bundle_host_sections); i++)
		if (strcasecmp(sect, bundle_host_sections[i]) == 0)
			return (int)i;
	return -1;
}

/*
 * bundle_merge_imss: the bundle's imss.ini without its host-specific
 * keys, with the host's own lines of those keys (from host, its current
 * imss.ini, or none) right after their section headers.
 */
static bool
bundle_merge_imss(const uint8_t *text, size_t len, const uint8_t *host,
    size_t hlen, struct buf *out)
{
	struct bundle_line l;
	bool	 done[nitems(bundle_host_sections)] = { false };
	char	 sect[128] = "";
	size_t	 pos = 0, i;
	int	 s;
	bool	 ok = true;

	while (ok && bundle_next_line(text, len, &pos, &l)) {
		bundle_classify(&l, sect, sizeof(sect));
		if (l.host >= 0)
			continue;	/* the controller's value: dropped */
		ok = buf_add(out, l.p, l.len) && buf_addstr(out, "\n");
		if (ok && l.header && (s = bundle_host_section(sect)) >= 0 &&
		    !done[s]) {
			done[s] = true;
			ok = bundle_host_lines(host, hlen, sect, out);
		}
	}
	for (i = 0; ok && i < nitems(bundle_host_sections); i++) {
		size_t before = out->len;

		if (done[i])
			continue;
		ok = buf_printf(out, "\n[%s]\n", bundle_host_sections[i]);
		if (ok && (ok = bundle_host_lines(host, hlen,
		    bundle_host_sections[i], out)) &&
		    out->len == before + strlen(bundle_host_sections[i]) + 4)
			out->len = before;	/* no host lines: no section */
	}
	return ok;
}

/*
 * ------------------------------------------------------------------------
 * Applying.
 * ------------------------------------------------------------------------
 */

/* bundle_rm_one: nftw callback of bundle_rmtree. */
static int
bundle_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(p) == -1 && errno != ENOENT ? -1 : 0;
}

/* bundle_rmtree: remove a directory tree we own; absent is fine. */
static int
bundle_rmtree(const char *dir)
{
	struct stat st;

	if (lstat(dir, &st) == -1)
		return errno == ENOENT ? 0 : -1;
	return nftw(dir, bundle_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* bundle_fsync_path: fsync a file or directory by name. */
static int
bundle_fsync_path(const char *path)
{
	int	 fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* bundle_fsync_parent: fsync the directory that holds path. */
static int
bundle_fsync_parent(const char *path)
{
	char	*dir = xstrdup(path), *slash;
	int	 rc = 0;

	if ((slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		rc = bundle_fsync_path(dir[0] != '\0' ? dir : "/");
	}
	free(dir);
	return rc;
}

/* bundle_write: a new file with data, mode, fsynced. */
static int
bundle_write(const char *path, const void *data, size_t len, mode_t mode,
    char *err, size_t errlen)
{
	int	 fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, mode)) == -1)
		return str_fail(err, errlen, "%s: %s", path, strerror(errno));
	if (fchmod(fd, mode) == -1 || fd_write_all(fd, data, len) == -1 ||
	    fsync(fd) == -1) {
		(void)str_fail(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) == -1)
		return str_fail(err, errlen, "%s: %s", path, strerror(errno));
	return 0;
}

/* bundle_mkparent: the directory of rel inside root (one level). */
static int
bundle_mkparent(const char *root, const char *rel, char *err, size_t errlen)
{
	const char *slash = strchr(rel, '/');
	char	*d;
	int	 rc = 0;

	if (slash == NULL)
		return 0;
	d = xasprintf("%s/%.*s", root, (int)(slash - rel), rel);
	if (mkdir(d, 0755) == -1 && errno != EEXIST)
		rc = str_fail(err, errlen, "%s: %s", d, strerror(errno));
	free(d);
	return rc;
}

/* bundle_paths_init: D resolved and the names beside it. */
static int
bundle_paths_init(struct bundle_paths *bp, const char *confdir, char *err,
    size_t errlen)
{
	char	 abs[PATH_MAX], *slash;

	memset(bp, 0, sizeof(*bp));
	if (realpath(confdir, abs) == NULL)
		return str_fail(err, errlen, "%s: %s", confdir,
		    strerror(errno));
	if ((slash = strrchr(abs, '/')) == NULL || slash[1] == '\0')
		return str_fail(err, errlen, "%s: cannot apply to the root "
		    "directory", confdir);
	bp->dir = xstrdup(abs);
	*slash = '\0';
	bp->parent = xstrdup(abs[0] != '\0' ? abs : "/");
	bp->stage = xasprintf("%s/.%s.bundle-stage", abs, slash + 1);
	bp->prev = xasprintf("%s/.%s.bundle-prev", abs, slash + 1);
	bp->prevnew = xasprintf("%s/.%s.bundle-prev.new", abs, slash + 1);
	return 0;
}

/* bundle_paths_free: release what bundle_paths_init made. */
static void
bundle_paths_free(struct bundle_paths *bp)
{
	free(bp->dir);
	free(bp->parent);
	free(bp->stage);
	free(bp->prev);
	free(bp->prevnew);
	memset(bp, 0, sizeof(*bp));
}

/* bundle_number_read: the number in D/name; 0 if none. */
static int
bundle_number_read(const char *dir, const char *name, uint64_t *v, char *err,
    size_t errlen)
{
	char	*path, *text;
	size_t	 len, i;
	int	 rc = 0;

	*v = 0;
	path = xasprintf("%s/%s", dir, name);
	if ((text = file_read(path, 64, &len)) == NULL) {
		if (errno != ENOENT)
			rc = str_fail(err, errlen, "%s: %s", path,
			    strerror(errno));
		free(path);
		return rc;
	}
	for (i = 0; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
		if (*v > (UINT64_MAX - 9) / 10)
			break;
		*v = *v * 10 + (uint64_t)(text[i] - '0');
	}
	if (i == 0 || i + 1 != len || text[i] != '\n')
		rc = str_fail(err, errlen, "%s: malformed", path);
	free(text);
	free(path);
	return rc;
}

/* bundle_version_read: the version in D/.bundle-version; 0 if none. */
static int
bundle_version_read(const char *dir, uint64_t *v, char *err, size_t errlen)
{
	return bundle_number_read(dir, BUNDLE_VERSION_FILE, v, err, errlen);
}

/* bundle_applied_version: the version applied to confdir last; 0: none. */
int
bundle_applied_version(const char *confdir, uint64_t *v, char *err,
    size_t errlen)
{
	return bundle_version_read(confdir, v, err, errlen);
}

/*
 * bundle_floor_read: the replay floor of D: the higher of the applied
 * version and D/.bundle-floor (the highest version ever applied, which
 * a rollback keeps), so a rollback never lets a superseded bundle in.
 */
static int
bundle_floor_read(const char *dir, uint64_t *v, char *err, size_t errlen)
{
	uint64_t f;

	if (bundle_version_read(dir, v, err, errlen) == -1 ||
	    bundle_number_read(dir, BUNDLE_FLOOR_FILE, &f, err, errlen) == -1)
		return -1;
	if (f > *v)
		*v = f;
	return 0;
}

/*
 * bundle_replay_floor: the version a new bundle must exceed in confdir
 * (bundle_verify's min_version): the highest version ever applied, even
 * if a rollback returned to an older one since; 0 if none.
 */
int
bundle_replay_floor(const char *confdir, uint64_t *v, char *err,
    size_t errlen)
{
	return bundle_floor_read(confdir, v, err, errlen);
}

/* bundle_number_write: record a number in D/name durably. */
static int
bundle_number_write(const char *dir, const char *name, uint64_t v, char *err,
    size_t errlen)
{
	char	 text[32], *tmp, *path;
	int	 rc;

	(void)snprintf(text, sizeof(text), "%llu\n", (unsigned long long)v);
	tmp = xasprintf("%s/%s.tmp", dir, name);
	path = xasprintf("%s/%s", dir, name);
	rc = bundle_write(tmp, text, strlen(text), 0644, err, errlen);
	if (rc == 0 && rename(tmp, path) == -1)
		rc = str_fail(err, errlen, "%s: %s", path, strerror(errno));
	free(tmp);
	free(path);
	return rc;
}

/* bundle_version_write: record the applied version durably. */
static int
bundle_version_write(const char *dir, uint64_t v, char *err, size_t errlen)
{
	return bundle_number_write(dir, BUNDLE_VERSION_FILE, v, err, errlen);
}

/* bundle_journal_step: one put or del line of the journal, done. */
static int
bundle_journal_step(const struct bundle_paths *bp, char op, const char *rel,
    char *err, size_t errlen)
{
	char	*src, *dst;
	int	 rc = 0;

	src = xasprintf("%s/%s", bp->stage, rel);
	dst = xasprintf("%s/%s", bp->dir, rel);
	if (op == 'd') {
		if (unlink(dst) == -1 && errno != ENOENT)
			rc = str_fail(err, errlen, "%s: %s", dst,
			    strerror(errno));
	} else if (bundle_mkparent(bp->dir, rel, err, errlen) == -1)
		rc = -1;
	else if (rename(src, dst) == -1 && (errno != ENOENT ||
	    access(dst, F_OK) == -1))
		rc = str_fail(err, errlen, "%s: %s", dst, strerror(errno));
	if (rc == 0 && bundle_fsync_parent(dst) == -1)
		rc = str_fail(err, errlen, "%s: fsync: %s", dst,
		    strerror(errno));
	free(src);
	free(dst);
	return rc;
}

/*
 * bundle_journal_walk: read the journal; with act, carry out each put
 * and del line.  Without, only check that the whole journal is well
 * formed (magic, version, allowed paths, "end"), so a bad one moves
 * nothing.  The version into *v.
 */
static int
bundle_journal_walk(const struct bundle_paths *bp, const char *journal,
    size_t jlen, bool act, uint64_t *v, bool *rollback, char *err,
    size_t errlen)
{
	struct bundle_line l;
	char	 rel[BUNDLE_PATH_MAX + 1], num[24];
	long long ll;
	size_t	 pos = 0, nl = 0;
	bool	 end = false, bad = false, seen = false;

	*v = 0;
	*rollback = false;
	while (!bad && !end && bundle_next_line((const uint8_t *)journal,
	    jlen, &pos, &l)) {
		if (++nl == 1)
			bad = l.len != strlen(BUNDLE_JOURNAL_MAGIC) ||
			    memcmp(l.p, BUNDLE_JOURNAL_MAGIC, l.len) != 0;
		else if (l.len == 3 && memcmp(l.p, "end", 3) == 0)
			end = true;
		else if (l.len == 8 && memcmp(l.p, "rollback", 8) == 0)
			*rollback = true;
		else if (l.len > 8 && l.len < 8 + sizeof(num) &&
		    memcmp(l.p, "version ", 8) == 0) {
			/* 0 only in a rollback to an unversioned copy. */
			(void)snprintf(num, sizeof(num), "%.*s",
			    (int)(l.len - 8), l.p + 8);
			if (!(bad = seen || !str_to_ll(num, 0, INT64_MAX, &ll)))
				*v = (uint64_t)ll;
			seen = true;
		} else if (l.len < 5 || l.len - 4 > BUNDLE_PATH_MAX ||
		    (memcmp(l.p, "put ", 4) != 0 &&
		    memcmp(l.p, "del ", 4) != 0) ||
		    !bundle_path_ok(l.p + 4, l.len - 4))
			bad = true;
		else if (act) {
			memcpy(rel, l.p + 4, l.len - 4);
			rel[l.len - 4] = '\0';
			if (bundle_journal_step(bp, l.p[0], rel, err,
			    errlen) == -1)
				return -1;
		}
	}
	if (bad || !end || !seen || (*v == 0 && !*rollback))
		return str_fail(err, errlen, "%s/%s: malformed or incomplete "
		    "journal, left for inspection", bp->dir,
		    BUNDLE_JOURNAL_FILE);
	return 0;
}

/*
 * bundle_journal_run: finish a committed apply from its journal: move
 * every staged file into D, remove the files the new version dropped,
 * record the version (a rollback: and remove the rollback copy it
 * restored), then remove the journal and the stage.  Each step is done
 * or still to do, so running it again after a crash is safe.
 */
static int
bundle_journal_run(const struct bundle_paths *bp, const char *journal,
    size_t jlen, char *err, size_t errlen)
{
	uint64_t v;
	char	*jpath;
	bool	 rollback;
	int	 rc;

	if (bundle_journal_walk(bp, journal, jlen, false, &v, &rollback, err,
	    errlen) == -1 || bundle_journal_walk(bp, journal, jlen, true, &v,
	    &rollback, err, errlen) == -1)
		return -1;
	rc = bundle_version_write(bp->dir, v, err, errlen);
	if (rc == 0 && rollback && (bundle_rmtree(bp->prev) == -1 ||
	    bundle_fsync_path(bp->parent) == -1))
		rc = str_fail(err, errlen, "%s: %s", bp->prev,
		    strerror(errno));
	if (rc == 0 && bundle_fsync_path(bp->dir) == -1)
		rc = str_fail(err, errlen, "%s: fsync: %s", bp->dir,
		    strerror(errno));
	if (rc == 0) {
		jpath = xasprintf("%s/%s", bp->dir, BUNDLE_JOURNAL_FILE);
		if (unlink(jpath) == -1 || bundle_fsync_path(bp->dir) == -1)
			rc = str_fail(err, errlen, "%s: %s", jpath,
			    strerror(errno));
		free(jpath);
	}
	if (rc == 0)
		(void)bundle_rmtree(bp->stage);
	return rc;
}

/* bundle_recover_locked: finish or clean up what an apply left. */
static int
bundle_recover_locked(const struct bundle_paths *bp, char *err,
    size_t errlen)
{
	char	*jpath, *text;
	size_t	 len;
	int	 rc;

	jpath = xasprintf("%s/%s", bp->dir, BUNDLE_JOURNAL_FILE);
	text = file_read(jpath, BUNDLE_JOURNAL_MAX, &len);
	if (text == NULL && errno != ENOENT) {
		rc = str_fail(err, errlen, "%s: %s", jpath, strerror(errno));
		free(jpath);
		return rc;
	}
	free(jpath);
	if (text == NULL) {
		/* Not committed: the old configuration stands. */
		(void)bundle_rmtree(bp->stage);
		(void)bundle_rmtree(bp->prevnew);
		return 0;
	}
	rc = bundle_journal_run(bp, text, len, err, errlen);
	free(text);
	return rc;
}

/* bundle_lock: the apply lock of D; -1 when another apply holds it. */
static int
bundle_lock(const struct bundle_paths *bp, char *err, size_t errlen)
{
	char	*path;
	int	 fd;

	path = xasprintf("%s/%s", bp->dir, BUNDLE_LOCK_FILE);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	free(path);
	if (fd == -1)
		return str_fail(err, errlen, "%s/%s: %s", bp->dir,
		    BUNDLE_LOCK_FILE, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return str_fail(err, errlen, "%s: another apply is running",
		    bp->dir);
	}
	return fd;
}

/*
 * bundle_recover: finish an apply that a crash interrupted after it
 * committed, or remove what one left before; the manager calls this
 * before it starts the services.
 */
int
bundle_recover(const char *confdir, char *err, size_t errlen)
{
	struct bundle_paths bp;
	int	 fd, rc;

	if (errlen > 0)
		err[0] = '\0';
	if (bundle_paths_init(&bp, confdir, err, errlen) == -1) {
		bundle_paths_free(&bp);
		return -1;
	}
	if ((rc = fd = bundle_lock(&bp, err, errlen)) != -1) {
		rc = bundle_recover_locked(&bp, err, errlen);
		close(fd);
	}
	bundle_paths_free(&bp);
	return rc;
}

/*
 * bundle_pending: whether an apply in confdir was committed and not
 * finished (a crash): then bundle_recover() must run before anything
 * reads the configuration.
 */
bool
bundle_pending(const char *confdir)
{
	char	*p = xasprintf("%s/%s", confdir, BUNDLE_JOURNAL_FILE);
	bool	 yes = access(p, F_OK) == 0;

	free(p);
	return yes;
}

/* bundle_stage_file: one file of the bundle into the stage. */
static int
bundle_stage_file(const struct bundle_paths *bp, const struct bundle_file *f,
    char *err, size_t errlen)
{
	struct buf m;
	char	*path, *host;
	uint8_t	*hold;
	size_t	 hlen = 0;
	int	 rc;

	if (bundle_mkparent(bp->stage, f->path, err, errlen) == -1)
		return -1;
	path = xasprintf("%s/%s", bp->stage, f->path);
	if (strcmp(f->path, "imss.ini") != 0) {
		rc = bundle_write(path, f->data, f->len, f->mode, err, errlen);
		free(path);
		return rc;
	}
	host = xasprintf("%s/imss.ini", bp->dir);
	hold = (uint8_t *)file_read(host, INI_MAX_FILE, &hlen);
	if (hold == NULL && errno != ENOENT)
		rc = str_fail(err, errlen, "%s: %s", host, strerror(errno));
	else {
		buf_init(&m, INI_MAX_FILE);
		if (!bundle_merge_imss(f->data, f->len, hold, hold ? hlen : 0,
		    &m))
			rc = str_fail(err, errlen, "imss.ini: too large "
			    "with this host's own keys");
		else
			rc = bundle_write(path, m.data, m.len, f->mode, err,
			    errlen);
		buf_free(&m);
	}
	free(hold);
	free(host);
	free(path);
	return rc;
}

/* bundle_stage: every file of b into a new stage, fsynced. */
static int
bundle_stage(const struct bundle_paths *bp, const struct bundle *b,
    char *err, size_t errlen)
{
	size_t	 i;

	if (bundle_rmtree(bp->stage) == -1 || mkdir(bp->stage, 0700) == -1)
		return str_fail(err, errlen, "%s: %s", bp->stage,
		    strerror(errno));
	for (i = 0; i < b->nfiles; i++) {
		char *p = xasprintf("%s/%s", bp->stage, b->files[i].path);
		int rc = 0;

		if (bundle_stage_file(bp, &b->files[i], err, errlen) == -1)
			rc = -1;
		else if (strchr(b->files[i].path, '/') != NULL &&
		    bundle_fsync_parent(p) == -1)
			rc = str_fail(err, errlen, "%s: fsync: %s", p,
			    strerror(errno));
		free(p);
		if (rc == -1)
			return -1;
	}
	if (bundle_fsync_path(bp->stage) == -1)
		return str_fail(err, errlen, "%s: fsync: %s", bp->stage,
		    strerror(errno));
	return 0;
}

/* bundle_is_list: whether rel is one of the staged foxdns list files. */
static bool
bundle_is_list(const struct sekisho_conf *c, const char *rel)
{
	const char *files[2] = { c->foxdns.approved_list_file,
	    c->foxdns.blocked_list_file };
	size_t	 i, n = strlen(c->confdir);

	for (i = 0; i < nitems(files); i++)
		if (files[i] != NULL && strncmp(files[i], c->confdir, n) == 0 &&
		    files[i][n] == '/' && strcmp(files[i] + n + 1, rel) == 0)
			return true;
	return false;
}

/*
 * bundle_expected: every file of b is one a bundle carries: a known .ini,
 * keywords/ *.txt, templates/ *, or a list file the staged foxdns.ini
 * names (so a bundle cannot drop other files into the directory).
 */
static int
bundle_expected(const struct bundle *b, const struct sekisho_conf *c,
    char *err, size_t errlen)
{
	const char *p;
	size_t	 i, j;
	bool	 ok;

	for (i = 0; i < b->nfiles; i++) {
		p = b->files[i].path;
		ok = bundle_is_list(c, p);
		for (j = 0; !ok && j < nitems(bundle_ini_names); j++)
			ok = strcmp(p, bundle_ini_names[j]) == 0;
		for (j = 0; !ok && j < nitems(bundle_dirs); j++) {
			size_t n = strlen(bundle_dirs[j].dir);

			ok = strncmp(p, bundle_dirs[j].dir, n) == 0 &&
			    p[n] == '/' && (bundle_dirs[j].suffix == NULL ||
			    bundle_suffix(p, strlen(p), bundle_dirs[j].suffix));
		}
		if (!ok)
			return str_fail(err, errlen, "%s: not a file a "
			    "bundle carries (docs/central.md)", p);
	}
	return 0;
}

/* bundle_validate: the staged configuration loads (and passes check). */
static int
bundle_validate(const struct bundle_paths *bp, const struct bundle *b,
    bundle_check_fn check, char *err, size_t errlen)
{
	struct sekisho_conf conf;
	struct diag	 d;
	size_t		 i;
	int		 rc = 0;

	diag_init(&d);
	if (conf_load(bp->stage, &conf, &d) == -1)
		rc = -1;
	else {
		rc = bundle_expected(b, &conf, err, errlen);
		conf_free(&conf);
		if (rc == -1) {
			diag_free(&d);
			return -1;
		}
		if (check != NULL && check(bp->stage, &d) == -1)
			rc = -1;
	}
	if (rc == -1) {
		const char *t = "check failed";
		size_t n = strlen(bp->stage);

		for (i = 0; i < d.nitems && d.items[i].sev != DIAG_ERROR; i++)
			;
		if (i < d.nitems)
			t = d.items[i].text;
		/* Name the file as the bundle does, not by the stage. */
		if (strncmp(t, bp->stage, n) == 0 && t[n] == '/')
			t += n + 1;
		(void)str_fail(err, errlen, "the bundle's configuration "
		    "is invalid: %s", t);
	}
	diag_free(&d);
	return rc;
}

/* bundle_has: whether b carries path. */
static bool
bundle_has(const struct bundle *b, const char *path)
{
	struct bundle_file key = { .path = (char *)(uintptr_t)path };

	return b->nfiles > 0 && bsearch(&key, b->files, b->nfiles,
	    sizeof(*b->files), bundle_cmp) != NULL;
}

/* bundle_save_prev: copy D's current shared files for a rollback. */
static int
bundle_save_prev(const struct bundle_paths *bp, const struct bundle *cur,
    char *err, size_t errlen)
{
	size_t	 i, len;
	char	*src, *dst, *data;
	int	 rc = 0;

	if (bundle_rmtree(bp->prevnew) == -1 || mkdir(bp->prevnew, 0700) == -1)
		return str_fail(err, errlen, "%s: %s", bp->prevnew,
		    strerror(errno));
	for (i = 0; rc == 0 && i <= cur->nfiles; i++) {
		const char *rel = i < cur->nfiles ? cur->files[i].path :
		    BUNDLE_VERSION_FILE;

		src = xasprintf("%s/%s", bp->dir, rel);
		dst = xasprintf("%s/%s", bp->prevnew, rel);
		if ((data = file_read(src, BUNDLE_MAX_FILE, &len)) == NULL) {
			if (errno != ENOENT)
				rc = str_fail(err, errlen, "%s: %s", src,
				    strerror(errno));
		} else if (bundle_mkparent(bp->prevnew, rel, err, errlen) == 0)
			rc = bundle_write(dst, data, len, i < cur->nfiles ?
			    cur->files[i].mode : 0644, err, errlen);
		else
			rc = -1;
		free(data);
		free(src);
		free(dst);
	}
	if (rc == 0 && (bundle_fsync_path(bp->prevnew) == -1 ||
	    bundle_rmtree(bp->prev) == -1 || rename(bp->prevnew, bp->prev) == -1))
		rc = str_fail(err, errlen, "%s: %s", bp->prev,
		    strerror(errno));
	return rc;
}

/* bundle_commit: the journal of this apply, renamed into place. */
static int
bundle_commit(const struct bundle_paths *bp, const struct bundle *b,
    const struct bundle *cur, bool rollback, char *err, size_t errlen)
{
	struct buf j;
	char	*tmp, *path;
	size_t	 i;
	bool	 ok;
	int	 rc = -1;

	buf_init(&j, BUNDLE_JOURNAL_MAX);
	ok = buf_printf(&j, "%s\nversion %llu\n", BUNDLE_JOURNAL_MAGIC,
	    (unsigned long long)b->version);
	for (i = 0; ok && i < b->nfiles; i++)
		ok = buf_printf(&j, "put %s\n", b->files[i].path);
	for (i = 0; ok && i < cur->nfiles; i++)
		if (!bundle_has(b, cur->files[i].path))
			ok = buf_printf(&j, "del %s\n", cur->files[i].path);
	if (ok && rollback)
		ok = buf_addstr(&j, "rollback\n");
	ok = ok && buf_addstr(&j, "end\n");
	tmp = xasprintf("%s/%s.tmp", bp->dir, BUNDLE_JOURNAL_FILE);
	path = xasprintf("%s/%s", bp->dir, BUNDLE_JOURNAL_FILE);
	if (!ok)
		(void)str_fail(err, errlen, "journal too large");
	else if (bundle_write(tmp, j.data, j.len, 0600, err, errlen) == 0) {
		/*
		 * Once renamed the apply is committed, even if the fsync
		 * fails: the stage must stay for the roll forward (which
		 * fsyncs D again).
		 */
		if (rename(tmp, path) == -1) {
			(void)str_fail(err, errlen, "%s: %s", path,
			    strerror(errno));
			(void)unlink(tmp);
		} else {
			(void)bundle_fsync_path(bp->dir);
			rc = 0;
		}
	}
	buf_free(&j);
	free(tmp);
	free(path);
	return rc;
}

/* bundle_same_fs: whether D and its parent are one file system. */
static int
bundle_same_fs(const struct bundle_paths *bp, char *err, size_t errlen)
{
	struct stat a, b;

	if (stat(bp->dir, &a) == -1 || stat(bp->parent, &b) == -1)
		return str_fail(err, errlen, "%s: %s", bp->dir,
		    strerror(errno));
	if (a.st_dev != b.st_dev)
		return str_fail(err, errlen, "%s: a mount point; the "
		    "configuration directory must be on its parent's file "
		    "system", bp->dir);
	return 0;
}

/* bundle_apply_locked: bundle_apply with the lock held. */
static int
bundle_apply_locked(const struct bundle_paths *bp, const struct bundle *b,
    bundle_check_fn check, char *err, size_t errlen)
{
	struct bundle	 cur;
	uint64_t	 applied;
	size_t		 i;
	int		 rc = -1;

	if (bundle_recover_locked(bp, err, errlen) == -1 ||
	    bundle_floor_read(bp->dir, &applied, err, errlen) == -1 ||
	    bundle_same_fs(bp, err, errlen) == -1)
		return -1;
	if (b->version <= applied)
		return str_fail(err, errlen, "version %llu is not newer than "
		    "the applied version %llu (replay refused)",
		    (unsigned long long)b->version,
		    (unsigned long long)applied);
	memset(&cur, 0, sizeof(cur));
	if (bundle_stage(bp, b, err, errlen) == -1 ||
	    bundle_validate(bp, b, check, err, errlen) == -1 ||
	    bundle_collect(bp->dir, &cur, false, false, err, errlen) == -1 ||
	    bundle_save_prev(bp, &cur, err, errlen) == -1 ||
	    bundle_commit(bp, b, &cur, false, err, errlen) == -1)
		(void)bundle_rmtree(bp->stage);
	else
		rc = bundle_recover_locked(bp, err, errlen);
	for (i = 0; i < cur.nfiles; i++)
		free(cur.files[i].path);
	free(cur.files);
	return rc;
}

/*
 * bundle_apply: install a verified bundle into confdir atomically (see
 * the top of this file), keeping this host's own imss.ini keys; check,
 * if not NULL, validates the staged directory beyond conf_load.  A
 * bundle that is refused changes nothing.
 */
int
bundle_apply(const struct bundle *b, const char *confdir,
    bundle_check_fn check, char *err, size_t errlen)
{
	struct bundle_paths bp;
	int	 fd, rc = -1;

	if (errlen > 0)
		err[0] = '\0';
	if (bundle_paths_init(&bp, confdir, err, errlen) == 0 &&
	    (fd = bundle_lock(&bp, err, errlen)) != -1) {
		rc = bundle_apply_locked(&bp, b, check, err, errlen);
		close(fd);
	}
	bundle_paths_free(&bp);
	return rc;
}

/* bundle_prev_files: every file of the rollback copy, read, sorted. */
static int
bundle_prev_files(const struct bundle_paths *bp, struct bundle *b,
    char *err, size_t errlen)
{
	struct dirent *de, *de2;
	struct stat st;
	DIR	*dp, *dp2;
	char	*p, *rel;
	int	 rc = 0;

	if ((dp = opendir(bp->prev)) == NULL)
		return str_fail(err, errlen, "%s: %s", bp->prev,
		    strerror(errno));
	while (rc == 0 && (de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;	/* ., .. and .bundle-version */
		p = xasprintf("%s/%s", bp->prev, de->d_name);
		if (lstat(p, &st) == -1)
			rc = str_fail(err, errlen, "%s: %s", p,
			    strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			rc = bundle_add(b, bp->prev, de->d_name, true, err,
			    errlen);
		else if ((dp2 = opendir(p)) == NULL)
			rc = str_fail(err, errlen, "%s: %s", p,
			    strerror(errno));
		else {
			while (rc == 0 && (de2 = readdir(dp2)) != NULL) {
				if (strcmp(de2->d_name, ".") == 0 ||
				    strcmp(de2->d_name, "..") == 0)
					continue;
				rel = xasprintf("%s/%s", de->d_name,
				    de2->d_name);
				rc = bundle_add(b, bp->prev, rel, true, err,
				    errlen);
				free(rel);
			}
			closedir(dp2);
		}
		free(p);
	}
	closedir(dp);
	if (b->nfiles > 1)
		qsort(b->files, b->nfiles, sizeof(*b->files), bundle_cmp);
	return rc;
}

/*
 * bundle_keep_floor: D/.bundle-floor at least the applied version,
 * durable before a rollback's commit lowers .bundle-version.
 */
static int
bundle_keep_floor(const struct bundle_paths *bp, uint64_t floor,
    uint64_t applied, char *err, size_t errlen)
{
	if (floor > applied)
		return 0;	/* .bundle-floor already holds it */
	if (bundle_number_write(bp->dir, BUNDLE_FLOOR_FILE, floor, err,
	    errlen) == -1)
		return -1;
	if (bundle_fsync_path(bp->dir) == -1)
		return str_fail(err, errlen, "%s: fsync: %s", bp->dir,
		    strerror(errno));
	return 0;
}

/* bundle_rollback_locked: bundle_rollback with the lock held. */
static int
bundle_rollback_locked(const struct bundle_paths *bp, bundle_check_fn check,
    char *err, size_t errlen)
{
	struct bundle	 prev, cur;
	struct stat	 st;
	uint64_t	 applied, floor;
	size_t		 i;
	int		 rc = -1;

	if (bundle_recover_locked(bp, err, errlen) == -1 ||
	    bundle_same_fs(bp, err, errlen) == -1)
		return -1;
	if (lstat(bp->prev, &st) == -1 || !S_ISDIR(st.st_mode))
		return str_fail(err, errlen, "nothing to roll back (no "
		    "previous configuration kept in %s)", bp->prev);
	memset(&prev, 0, sizeof(prev));
	memset(&cur, 0, sizeof(cur));
	if (bundle_version_read(bp->prev, &prev.version, err, errlen) == -1 ||
	    bundle_version_read(bp->dir, &applied, err, errlen) == -1 ||
	    bundle_floor_read(bp->dir, &floor, err, errlen) == -1 ||
	    bundle_prev_files(bp, &prev, err, errlen) == -1)
		goto out;
	if (prev.nfiles == 0) {
		(void)str_fail(err, errlen, "nothing to roll back (%s is "
		    "empty)", bp->prev);
		goto out;
	}
	/* The replay floor never goes down (docs/central.md, Versions). */
	if (bundle_stage(bp, &prev, err, errlen) == -1 ||
	    bundle_validate(bp, &prev, check, err, errlen) == -1 ||
	    bundle_collect(bp->dir, &cur, false, false, err, errlen) == -1 ||
	    bundle_keep_floor(bp, floor, applied, err, errlen) == -1 ||
	    bundle_commit(bp, &prev, &cur, true, err, errlen) == -1)
		(void)bundle_rmtree(bp->stage);
	else
		rc = bundle_recover_locked(bp, err, errlen);
out:
	for (i = 0; i < prev.nfiles; i++) {
		free(prev.files[i].path);
		free(prev.files[i].data);
	}
	free(prev.files);
	for (i = 0; i < cur.nfiles; i++)
		free(cur.files[i].path);
	free(cur.files);
	return rc;
}

/*
 * bundle_rollback: put back in confdir the configuration the last apply
 * replaced (its rollback copy), with the apply's validation (conf_load,
 * then check if not NULL) and crash safety, and record its version in
 * .bundle-version (0 if the copy had none; bundle_applied_version reads
 * it).  The replay floor stays at the highest version ever applied, and
 * the copy is removed: a second rollback fails with "nothing to roll
 * back".  A refused rollback changes no configuration file.
 */
int
bundle_rollback(const char *confdir, bundle_check_fn check, char *err,
    size_t errlen)
{
	struct bundle_paths bp;
	int	 fd, rc = -1;

	if (errlen > 0)
		err[0] = '\0';
	if (bundle_paths_init(&bp, confdir, err, errlen) == 0 &&
	    (fd = bundle_lock(&bp, err, errlen)) != -1) {
		rc = bundle_rollback_locked(&bp, check, err, errlen);
		close(fd);
	}
	bundle_paths_free(&bp);
	return rc;
}
