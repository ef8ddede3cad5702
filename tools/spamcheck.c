/*
 * spamcheck.c: sekisho-spamcheck, score messages with a spam rule
 * package, offline.
 *
 *	sekisho-spamcheck [-c confdir] [-p package] [-j] FILE|DIR ...
 *
 * Each message (a file, or every regular file of a directory, in name
 * order) is analysed as the scanner does (mime.c) and scored by the
 * package (spam.c): -p names a package file, otherwise the active one of
 * the configuration's [antispam] package_dir.  The catch rates are the
 * configuration's.  What needs the envelope or the network is not done:
 * no SPF, DKIM, DMARC or DNS lists (their rules do not hit), no sender
 * lists or exemptions.  A leading mbox "From " line is skipped.
 *
 * Output, one line per message: the score, the catch rates at which it
 * is spam (high, medium, low, or "-"), the file and the rules that hit;
 * with -j one JSON object per line.  Exit 0, or 1 when a message could
 * not be read or the package does not load, 2 for usage.  For rule
 * writers ("why is this spam?") and for the corpus evaluation
 * (bench/spam_eval.py).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "diag.h"
#include "log.h"
#include "mime.h"
#include "scanjob.h"
#include "spam.h"
#include "spampkg.h"
#include "util.h"
#include "xmalloc.h"

#define SPAMCHECK_MAX	(64 * 1024 * 1024)	/* bytes of one message */

struct sc {
	struct sekisho_conf	 conf;
	struct spam_rules	*rules;
	struct scan_limits	 lim;
	bool			 json;
	int			 rv;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: sekisho-spamcheck [-c confdir] [-p package] "
	    "[-j] FILE|DIR ...\n");
	exit(2);
}

/* sc_json_str: s as a JSON string (control and non-ASCII bytes escaped). */
static void
sc_json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

/* sc_print: one message's verdict. */
static void
sc_print(const struct sc *c, const char *file, const struct spam_result *r)
{
	const struct conf_policy *p = &c->conf.policy;
	bool	 high = r->score >= p->spam_level_high;
	bool	 medium = r->score >= p->spam_level_medium;
	bool	 low = r->score >= p->spam_level_low;
	size_t	 i;

	if (c->json) {
		printf("{\"file\": ");
		sc_json_str(file);
		printf(", \"score\": %.2f, \"high\": %s, \"medium\": %s, "
		    "\"low\": %s, \"rules\": [", r->score, high ? "true" :
		    "false", medium ? "true" : "false", low ? "true" : "false");
		for (i = 0; i < r->nhits; i++) {
			printf("%s", i > 0 ? ", " : "");
			sc_json_str(r->hits[i].name);
		}
		printf("]}\n");
		return;
	}
	printf("%7.2f %-6s %s", r->score, low ? "low" : medium ? "medium" :
	    high ? "high" : "-", file);
	for (i = 0; i < r->nhits; i++)
		printf("%s%s(%g)", i > 0 ? "," : " ", r->hits[i].name,
		    r->hits[i].score);
	printf("\n");
}

/* sc_file: score one message file. */
static void
sc_file(struct sc *c, const char *path)
{
	struct scan_msg	 m;
	struct spam_result r;
	const char	*p;
	char		*data, err[256];
	size_t		 len, skip = 0;

	if ((data = file_read_at(AT_FDCWD, path, SPAMCHECK_MAX, &len)) ==
	    NULL) {
		fprintf(stderr, "sekisho-spamcheck: %s: %s\n", path,
		    errno == EFBIG ? "too large" : strerror(errno));
		c->rv = 1;
		return;
	}
	if (len > 5 && memcmp(data, "From ", 5) == 0 &&
	    (p = memchr(data, '\n', len)) != NULL)
		skip = (size_t)(p + 1 - data);
	if (mime_analyse(data + skip, len - skip, &c->lim, &m, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "sekisho-spamcheck: %s: %s\n", path, err);
		c->rv = 1;
		free(data);
		return;
	}
	spam_eval(c->rules, &m, NULL, &r);
	sc_print(c, path, &r);
	spam_result_free(&r);
	scan_msg_free(&m);
	free(data);
}

static int
sc_namecmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* sc_path: a file, or every regular file of a directory in name order. */
static void
sc_path(struct sc *c, const char *path)
{
	struct dirent	*de;
	struct stat	 st;
	char		**names = NULL, full[PATH_MAX];
	size_t		 n = 0, i;
	DIR		*d;

	if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
		sc_file(c, path);
		return;
	}
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "sekisho-spamcheck: %s: %s\n", path,
		    strerror(errno));
		c->rv = 1;
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !str_printf(full, sizeof(full),
		    "%s/%s", path, de->d_name) || stat(full, &st) == -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(full);
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), sc_namecmp);
	for (i = 0; i < n; i++) {
		sc_file(c, names[i]);
		free(names[i]);
	}
	free(names);
}

/* sc_load: the package: -p, or the active one of package_dir. */
static struct spam_rules *
sc_load(struct sc *c, const char *pkgfile)
{
	struct spampkg	 pkg;
	struct spam_rules *r;
	struct diag	 d;
	char		 path[PATH_MAX], err[PATH_MAX + 128];
	int		 rc;

	if (pkgfile == NULL) {
		rc = spampkg_active(c->conf.policy.spam_package_dir, &pkg, err,
		    sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "sekisho-spamcheck: %s\n", rc == 1 ?
			    "no spam rule package installed" : err);
			return NULL;
		}
		if (!spampkg_path(c->conf.policy.spam_package_dir, &pkg, path,
		    sizeof(path)))
			return NULL;
		pkgfile = path;
	}
	diag_init(&d);
	r = spam_rules_load(pkgfile, &d);
	diag_print(&d, stderr);
	diag_free(&d);
	return r;
}

int
main(int argc, char **argv)
{
	struct sc	 c;
	struct diag	 d;
	const char	*confdir = SEKISHO_CONFDIR, *pkgfile = NULL;
	char		 err[256];
	int		 ch, i;

	memset(&c, 0, sizeof(c));
	log_init("sekisho-spamcheck", true, LOG_LVL_WARN);
	while ((ch = getopt(argc, argv, "c:jp:")) != -1) {
		switch (ch) {
		case 'c':
			confdir = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'p':
			pkgfile = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage();
	diag_init(&d);
	if (conf_load(confdir, &c.conf, &d) == -1) {
		diag_print(&d, stderr);
		diag_free(&d);
		return 1;
	}
	diag_free(&d);
	if ((c.rules = sc_load(&c, pkgfile)) == NULL ||
	    mime_init(err, sizeof(err)) == -1) {
		conf_free(&c.conf);
		spam_rules_free(c.rules);
		return 1;
	}
	scanjob_limits(&c.conf.policy, &c.lim);
	for (i = 0; i < argc; i++)
		sc_path(&c, argv[i]);
	spam_rules_free(c.rules);
	mime_shutdown();
	conf_free(&c.conf);
	return c.rv;
}
