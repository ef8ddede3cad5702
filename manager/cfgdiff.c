/*
 * cfgdiff.c: which parts of the configuration each service reads, their
 * fingerprints, and what a change of them needs: a SIGHUP or a restart
 * (see cfgdiff.h).
 *
 * The table below is the one place that says which daemon reads what;
 * it follows the code of the daemons (grep conf->imss, ->tsmtpd,
 * ->foxdns, ->policy in smtpd/, scanner/, ipprofiler/):
 *
 *  - sekisho-smtpd applies a configuration only at its start (its SIGHUP
 *    is only logged): every part it reads is RESTART.
 *  - sekisho-scanner and sekisho-ipprofiler reload their configuration on
 *    SIGHUP, except what they set up once at their start (sockets in
 *    run_dir, users, log level, host name, the resolver, the number of
 *    workers, the profiler's database): those parts are RESTART.
 *  - What only the manager reads ([imss_manager], log_dir,
 *    max_log_size_mb) concerns no service.
 *
 * Owns nothing beyond the snapshots the caller hands in.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cfgdiff.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define CFGDIFF_DIR_DEPTH	8		/* levels below a directory */
#define CFGDIFF_VALUE_MAX	(16 * 1024 * 1024)

enum cfgdiff_kind {
	CD_SECTION,	/* parsed values of an ini section (or some keys) */
	CD_FILE,	/* the bytes of a file */
	CD_DIR,		/* a directory tree: names, link targets, contents */
};

/*
 * One part one service reads.  SECTION: file, section and keys (NULL:
 * every key; a map section such as [Routes]: its entries).  FILE and DIR:
 * a path relative to the configuration directory (name), or the path a
 * key holds (file, section, key).
 */
struct cfgdiff_part {
	const char		*svc;
	enum cfgdiff_kind	 kind;
	const char		*file;
	const char		*section;
	const char *const	*keys;
	const char		*key;
	const char		*name;
	enum cfgdiff_action	 action;
};

#define K(...)	((const char *const[]){ __VA_ARGS__, NULL })
#define SEC(svc, f, s, keys, a)	{ svc, CD_SECTION, f, s, keys, NULL, NULL, a }
#define FKEY(svc, f, s, k, a)	{ svc, CD_FILE, f, s, NULL, k, NULL, a }
#define DKEY(svc, f, s, k, a)	{ svc, CD_DIR, f, s, NULL, k, NULL, a }
#define FNAME(svc, n, a)	{ svc, CD_FILE, NULL, NULL, NULL, NULL, n, a }
#define DNAME(svc, n, a)	{ svc, CD_DIR, NULL, NULL, NULL, NULL, n, a }
#define RST	CFGDIFF_RESTART
#define HUP	CFGDIFF_RELOAD

static const struct cfgdiff_part cfgdiff_parts[] = {
	/* sekisho-smtpd: parent, smtp, queue and mta children. */
	SEC("smtpd", "imss.ini", "general", NULL, RST),
	SEC("smtpd", "imss.ini", "users", K("smtpd_user", "queue_user",
	    "scanner_user", "ipprofiler_user"), RST),
	SEC("smtpd", "imss.ini", "logging", K("level",
	    "tracking_retention_days"), RST),
	SEC("smtpd", "tsmtpd.ini", "SmtpServer", NULL, RST),
	SEC("smtpd", "tsmtpd.ini", "SmtpClient", NULL, RST),
	SEC("smtpd", "tsmtpd.ini", "Routes", NULL, RST),
	SEC("smtpd", "foxdns.ini", "foxdns", K("enabled",
	    "profile_relay_clients", "temp_block_reply", "perm_block_reply",
	    "check_cache_secs", "check_timeout_ms"), RST),
	SEC("smtpd", "policy.ini", "scan", K("enabled", "max_scan_failures",
	    "scan_retry_seconds", "failure_area", "archive_area"), RST),
	FKEY("smtpd", "tsmtpd.ini", "SmtpServer", "TlsCertFile", RST),
	FKEY("smtpd", "tsmtpd.ini", "SmtpServer", "TlsKeyFile", RST),
	FKEY("smtpd", "tsmtpd.ini", "SmtpClient", "TlsCaFile", RST),

	/* sekisho-scanner. */
	SEC("scanner", "imss.ini", "general", K("run_dir", "hostname"), RST),
	SEC("scanner", "imss.ini", "general", K("admin_email"), HUP),
	SEC("scanner", "imss.ini", "users", K("scanner_user", "queue_user"),
	    RST),
	SEC("scanner", "imss.ini", "logging", K("level"), RST),
	SEC("scanner", "tsmtpd.ini", "SmtpServer", K("AcceptedDomains",
	    "DefaultDomain"), HUP),
	SEC("scanner", "tsmtpd.ini", "SmtpClient", K("DnsServers"), RST),
	SEC("scanner", "policy.ini", "scan", K("workers"), RST),
	FNAME("scanner", "policy.ini", HUP),
	DNAME("scanner", "keywords", HUP),
	DNAME("scanner", "templates", HUP),
	DKEY("scanner", "policy.ini", "antispam", "package_dir", HUP),
	FKEY("scanner", "policy.ini", "antispam", "public_suffix_list", HUP),

	/* sekisho-ipprofiler. */
	SEC("ipprofiler", "imss.ini", "general", K("run_dir", "data_dir"),
	    RST),
	SEC("ipprofiler", "imss.ini", "users", K("ipprofiler_user",
	    "queue_user"), RST),
	SEC("ipprofiler", "imss.ini", "logging", K("level"), RST),
	SEC("ipprofiler", "foxdns.ini", "foxdns", NULL, HUP),
	SEC("ipprofiler", "foxdns.ini", "foxdns", K("database"), RST),
	SEC("ipprofiler", "foxdns.ini", "spam", NULL, HUP),
	SEC("ipprofiler", "foxdns.ini", "virus", NULL, HUP),
	SEC("ipprofiler", "foxdns.ini", "dha", NULL, HUP),
	SEC("ipprofiler", "foxdns.ini", "bounce", NULL, HUP),
	FKEY("ipprofiler", "foxdns.ini", "foxdns", "approved_list_file", HUP),
	FKEY("ipprofiler", "foxdns.ini", "foxdns", "blocked_list_file", HUP),

	/* sekisho-euq (not written yet): what every daemon reads. */
	SEC("euq", "imss.ini", "general", NULL, RST),
	SEC("euq", "imss.ini", "users", K("euq_user"), RST),
	SEC("euq", "imss.ini", "logging", K("level"), RST),
};

/* The hash of every part must fit a snapshot. */
_Static_assert(nitems(cfgdiff_parts) <= CFGDIFF_MAX_PARTS,
    "cfgdiff: raise CFGDIFF_MAX_PARTS");

/* cfgdiff_action_name: how the log shows an action. */
const char *
cfgdiff_action_name(enum cfgdiff_action a)
{
	switch (a) {
	case CFGDIFF_NONE:
		return "none";
	case CFGDIFF_RELOAD:
		return "reload";
	case CFGDIFF_RESTART:
		return "restart";
	}
	return "?";
}

/* cfgdiff_section: the schema of [section] of file; aborts if unknown. */
static const struct conf_section *
cfgdiff_section(const char *file, const char *section)
{
	const struct conf_file *f;
	size_t	 i;

	if ((f = conf_file_find(file)) != NULL)
		for (i = 0; i < f->nsections; i++)
			if (strcasecmp(f->sections[i].name, section) == 0)
				return &f->sections[i];
	fatalx("cfgdiff_section: %s [%s]: not in the schema", file, section);
}

/* cfgdiff_key: the schema row of a key; aborts if unknown. */
static const struct conf_key *
cfgdiff_key(const char *file, const char *section, const char *key)
{
	const struct conf_file *f;
	const struct conf_key *k;

	if ((f = conf_file_find(file)) == NULL ||
	    (k = conf_key_find(f, section, key)) == NULL)
		fatalx("cfgdiff_key: %s [%s] %s: not in the schema", file,
		    section, key);
	return k;
}

/* cfgdiff_add: bytes into the digest. */
static void
cfgdiff_add(EVP_MD_CTX *md, const void *p, size_t len)
{
	if (EVP_DigestUpdate(md, p, len) != 1)
		fatalx("cfgdiff_add: EVP_DigestUpdate");
}

/* cfgdiff_add_str: a string and its end into the digest. */
static void
cfgdiff_add_str(EVP_MD_CTX *md, const char *s)
{
	cfgdiff_add(md, s != NULL ? s : "", s != NULL ? strlen(s) + 1 : 1);
}

/* cfgdiff_add_value: "key=value" of one row of c. */
static void
cfgdiff_add_value(EVP_MD_CTX *md, const struct sekisho_conf *c,
    const struct conf_key *k)
{
	struct buf	 b;

	buf_init(&b, CFGDIFF_VALUE_MAX);
	(void)buf_printf(&b, "%s=", k->name);
	conf_value_text(c, k, &b);
	cfgdiff_add(md, b.data, b.len);
	cfgdiff_add(md, "\n", 1);
	buf_free(&b);
}

/* cfgdiff_add_routes: the entries of [Routes]. */
static void
cfgdiff_add_routes(EVP_MD_CTX *md, const struct conf_routes *rs)
{
	char	 num[64];
	size_t	 i;

	for (i = 0; i < rs->n; i++) {
		const struct conf_route *r = &rs->v[i];

		cfgdiff_add_str(md, r->domain);
		cfgdiff_add_str(md, r->host);
		cfgdiff_add_str(md, r->path);
		(void)str_printf(num, sizeof(num), "%d/%d/%d", r->kind,
		    r->port, r->tls);
		cfgdiff_add_str(md, num);
	}
}

/* cfgdiff_hash_section: the values of a section part. */
static void
cfgdiff_hash_section(EVP_MD_CTX *md, const struct sekisho_conf *c,
    const struct cfgdiff_part *p)
{
	const struct conf_section *sec = cfgdiff_section(p->file, p->section);
	size_t	 i;

	if (sec->map != NULL) {
		/* The only map section: tsmtpd.ini [Routes]. */
		if (strcasecmp(sec->name, "Routes") != 0)
			fatalx("cfgdiff_hash_section: [%s]: unknown map",
			    sec->name);
		cfgdiff_add_routes(md, &c->tsmtpd.routes);
		return;
	}
	if (p->keys == NULL) {
		for (i = 0; i < sec->nkeys; i++)
			cfgdiff_add_value(md, c, &sec->keys[i]);
		return;
	}
	for (i = 0; p->keys[i] != NULL; i++)
		cfgdiff_add_value(md, c, cfgdiff_key(p->file, p->section,
		    p->keys[i]));
}

/*
 * cfgdiff_hash_file: the bytes of the file at path; a file that cannot
 * be read hashes as its error, so its appearance counts as a change.
 */
static void
cfgdiff_hash_file(EVP_MD_CTX *md, const char *path)
{
	char	 buf[65536];
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		(void)str_printf(buf, sizeof(buf), "error %d", errno);
		cfgdiff_add_str(md, buf);
		return;
	}
	cfgdiff_add_str(md, "file");
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			(void)str_printf(buf, sizeof(buf), "error %d", errno);
			cfgdiff_add_str(md, buf);
			break;
		}
		cfgdiff_add(md, buf, (size_t)n);
	}
	close(fd);
}

/* cfgdiff_namecmp: scandir's order, independent of the locale. */
static int
cfgdiff_namecmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/*
 * cfgdiff_hash_dir: a directory tree in name order: each entry's name
 * and kind, a link's target, a file's bytes, a directory's entries.
 */
static void
cfgdiff_hash_dir(EVP_MD_CTX *md, const char *path, int depth)
{
	struct dirent	**ents;
	struct stat	 st;
	char		 sub[4096], target[4096];
	ssize_t		 len;
	int		 i, n;

	if ((n = scandir(path, &ents, NULL, cfgdiff_namecmp)) == -1) {
		(void)str_printf(sub, sizeof(sub), "error %d", errno);
		cfgdiff_add_str(md, sub);
		return;
	}
	cfgdiff_add_str(md, "dir");
	for (i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
		    !str_printf(sub, sizeof(sub), "%s/%s", path, name) ||
		    lstat(sub, &st) == -1)
			continue;
		cfgdiff_add_str(md, name);
		if (S_ISLNK(st.st_mode)) {
			if ((len = readlink(sub, target, sizeof(target) - 1))
			    < 0)
				len = 0;
			target[len] = '\0';
			cfgdiff_add_str(md, "link");
			cfgdiff_add_str(md, target);
		} else if (S_ISDIR(st.st_mode) && depth < CFGDIFF_DIR_DEPTH)
			cfgdiff_hash_dir(md, sub, depth + 1);
		else if (S_ISREG(st.st_mode))
			cfgdiff_hash_file(md, sub);
		else
			cfgdiff_add_str(md, "other");
	}
	for (i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
}

/* cfgdiff_path: where a FILE or DIR part is, for configuration c. */
static void
cfgdiff_path(const struct sekisho_conf *c, const struct cfgdiff_part *p,
    struct buf *b)
{
	if (p->name != NULL)
		(void)buf_printf(b, "%s/%s", c->confdir, p->name);
	else
		conf_value_text(c, cfgdiff_key(p->file, p->section, p->key), b);
}

/* cfgdiff_hash_part: the fingerprint of part p in configuration c. */
static void
cfgdiff_hash_part(const struct sekisho_conf *c, const struct cfgdiff_part *p,
    uint8_t out[CFGDIFF_HASH_LEN])
{
	EVP_MD_CTX	*md;
	struct buf	 path;
	unsigned	 len = 0;

	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		fatalx("cfgdiff_hash_part: EVP_DigestInit_ex");
	buf_init(&path, 4096);
	switch (p->kind) {
	case CD_SECTION:
		cfgdiff_hash_section(md, c, p);
		break;
	case CD_FILE:
	case CD_DIR:
		cfgdiff_path(c, p, &path);
		cfgdiff_add_str(md, buf_cstr(&path));
		if (path.len == 0)
			break;		/* not configured: no file */
		if (p->kind == CD_FILE)
			cfgdiff_hash_file(md, buf_cstr(&path));
		else
			cfgdiff_hash_dir(md, buf_cstr(&path), 0);
		break;
	}
	buf_free(&path);
	if (EVP_DigestFinal_ex(md, out, &len) != 1 || len != CFGDIFF_HASH_LEN)
		fatalx("cfgdiff_hash_part: EVP_DigestFinal_ex");
	EVP_MD_CTX_free(md);
}

/*
 * cfgdiff_snap_take: the fingerprint of every part as configuration c
 * names it, the files read now.
 */
void
cfgdiff_snap_take(const struct sekisho_conf *c, struct cfgdiff_snap *snap)
{
	size_t	 i;

	memset(snap, 0, sizeof(*snap));
	for (i = 0; i < nitems(cfgdiff_parts); i++)
		cfgdiff_hash_part(c, &cfgdiff_parts[i], snap->hash[i]);
	snap->valid = true;
}

/* cfgdiff_label: how the reason names a part ("tsmtpd.ini [SmtpServer]"). */
static void
cfgdiff_label(const struct cfgdiff_part *p, char *buf, size_t len)
{
	if (p->kind == CD_SECTION)
		(void)str_printf(buf, len, "%s [%s]", p->file, p->section);
	else if (p->name != NULL)
		(void)str_printf(buf, len, "%s%s", p->name,
		    p->kind == CD_DIR ? "/" : "");
	else
		(void)str_printf(buf, len, "the %s named by %s [%s] %s",
		    p->kind == CD_DIR ? "directory" : "file", p->file,
		    p->section, p->key);
}

/*
 * cfgdiff_decide: what service svc (a conf_service_names index) needs
 * when the configuration went from old (taken when it started or last
 * reloaded) to new: the strongest action of the parts it reads that
 * changed, and why in buf ("tsmtpd.ini [SmtpServer] changed").  An old
 * snapshot that was never taken counts as everything changed.
 */
enum cfgdiff_action
cfgdiff_decide(unsigned svc, const struct cfgdiff_snap *old,
    const struct cfgdiff_snap *new, char *buf, size_t len)
{
	enum cfgdiff_action best = CFGDIFF_NONE;
	const struct cfgdiff_part *first = NULL;
	char		 label[200];
	size_t		 i, nchanged = 0;

	if (svc >= CONF_NSERVICES)
		fatalx("cfgdiff_decide: service %u", svc);
	for (i = 0; i < nitems(cfgdiff_parts); i++) {
		const struct cfgdiff_part *p = &cfgdiff_parts[i];

		if (strcmp(p->svc, conf_service_names[svc]) != 0)
			continue;
		if (old->valid && new->valid && memcmp(old->hash[i],
		    new->hash[i], CFGDIFF_HASH_LEN) == 0)
			continue;
		nchanged++;
		if (p->action > best) {
			best = p->action;
			first = p;
		}
	}
	if (first == NULL) {
		(void)str_printf(buf, len, "nothing it reads changed");
		return CFGDIFF_NONE;
	}
	cfgdiff_label(first, label, sizeof(label));
	if (!old->valid)
		(void)str_printf(buf, len, "no fingerprint of what it read "
		    "at its start");
	else if (nchanged > 1)
		(void)str_printf(buf, len, "%s changed (and %zu more part%s)",
		    label, nchanged - 1, nchanged == 2 ? "" : "s");
	else
		(void)str_printf(buf, len, "%s changed", label);
	return best;
}
