/*
 * ctl_rules.c: sekishoctl rules status|update|rollback: the spam rule
 * packages of [antispam] package_dir (scanner/spampkg.c).
 *
 *	rules status		the active package, its rule count, and
 *				every installed package
 *	rules update FROM	install FROM (a package file, or the newest
 *				valid package of a directory) when it is
 *				newer than the active one (seed 41)
 *	rules rollback		go back to the newest older package
 *
 * A change tells a running sekisho-scanner to reload (SIGHUP, through
 * its pid file); it also notices by itself within a minute.
 */
#include <sys/file.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "diag.h"
#include "log.h"
#include "sekishoctl.h"
#include "spampkg.h"
#include "util.h"
#include "xmalloc.h"

/* rl_usage: the rules commands' usage; exit code 2. */
static int
rl_usage(void)
{
	fprintf(stderr, "usage: sekishoctl [-c confdir] [--json] rules "
	    "status\n"
	    "       sekishoctl [-c confdir] [--json] rules update FROM\n"
	    "       sekishoctl [-c confdir] [--json] rules rollback\n");
	return 2;
}

/*
 * rl_reload: SIGHUP to a running sekisho-scanner (its pid file is locked
 * while it runs).  The text for the user, in msg.
 */
static void
rl_reload(const struct sekisho_conf *conf, char *msg, size_t len)
{
	char	 path[PATH_MAX], buf[32];
	ssize_t	 n;
	long	 pid;
	int	 fd;

	str_lcpy(msg, "sekisho-scanner is not running; it loads the active "
	    "package when it starts", len);
	if (!str_printf(path, sizeof(path), "%s/sekisho-scanner.pid",
	    conf->imss.run_dir) ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK) {
		close(fd);		/* not locked: nobody runs */
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, NULL, 10);
	if (pid <= 1 || kill((pid_t)pid, SIGHUP) == -1)
		(void)str_printf(msg, len, "could not signal sekisho-scanner "
		    "(pid %ld in %s): %s; it notices the change within a "
		    "minute", pid, path, strerror(errno));
	else
		(void)str_printf(msg, len, "sekisho-scanner (pid %ld) "
		    "reloads", pid);
}

/* rl_print: the outcome, as text or JSON. */
static void
rl_print(bool json, const char *cmd, bool changed,
    const struct spam_version *now, const struct spam_version *was,
    const char *text)
{
	json_t	*o;

	if (!json) {
		printf("%s\n", text);
		return;
	}
	if ((o = json_pack("{s:s, s:b, s:s, s:s?, s:s}", "command", cmd,
	    "changed", changed, "active", now->text,
	    "previous", was->text[0] ? was->text : NULL, "result", text)) ==
	    NULL)
		fatalx("rl_print: json_pack");
	json_dumpf(o, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(o);
}

/* rl_update: rules update FROM. */
static int
rl_update(const struct sekisho_conf *conf, const char *from, bool json)
{
	const char	*dir = conf->policy.spam_package_dir;
	struct spam_version nv, was;
	struct diag	 d;
	char		 text[512], reload[PATH_MAX + 128];
	int		 rc;

	diag_init(&d);
	rc = spampkg_install(dir, from, &nv, &was, &d);
	diag_print(&d, stderr);
	diag_free(&d);
	if (rc == -1) {
		fprintf(stderr, "sekishoctl: %s: not installed; the active "
		    "package stays\n", from);
		return 1;
	}
	if (rc == SPAMPKG_NOT_NEWER) {
		(void)str_printf(text, sizeof(text), "%s is not newer than "
		    "the active package %s: nothing changed", nv.text,
		    was.text);
		rl_print(json, "update", false, &was, &was, text);
		return 0;
	}
	rl_reload(conf, reload, sizeof(reload));
	if (was.text[0] != '\0')
		(void)str_printf(text, sizeof(text), "installed %s (was %s); "
		    "%s", nv.text, was.text, reload);
	else
		(void)str_printf(text, sizeof(text), "installed %s; %s",
		    nv.text, reload);
	rl_print(json, "update", true, &nv, &was, text);
	return 0;
}

/* rl_rollback: rules rollback. */
static int
rl_rollback(const struct sekisho_conf *conf, bool json)
{
	struct spam_version now, was;
	char		 err[PATH_MAX + 128], text[512], reload[PATH_MAX + 128];
	int		 rc;

	rc = spampkg_rollback(conf->policy.spam_package_dir, &now, &was, err,
	    sizeof(err));
	if (rc == -1) {
		fprintf(stderr, "sekishoctl: %s\n", err);
		return 1;
	}
	if (rc == SPAMPKG_NONE_OLDER) {
		fprintf(stderr, "sekishoctl: no package older than the active "
		    "%s is installed in %s\n", was.text,
		    conf->policy.spam_package_dir);
		return 1;
	}
	rl_reload(conf, reload, sizeof(reload));
	(void)str_printf(text, sizeof(text), "active %s (was %s); %s",
	    now.text, was.text, reload);
	rl_print(json, "rollback", true, &now, &was, text);
	return 0;
}

/* rl_status: rules status. */
static int
rl_status(const struct sekisho_conf *conf, bool json)
{
	const char	*dir = conf->policy.spam_package_dir;
	struct spampkg	 cur, *v;
	struct spam_rules *r = NULL;
	struct diag	 d;
	json_t		*o, *arr;
	char		 err[PATH_MAX + 128], path[PATH_MAX];
	size_t		 n, i;
	int		 rc;

	if ((rc = spampkg_active(dir, &cur, err, sizeof(err))) == -1 ||
	    spampkg_list(dir, &v, &n, err, sizeof(err)) == -1) {
		fprintf(stderr, "sekishoctl: %s\n", err);
		return 1;
	}
	if (rc == 1) {
		fprintf(stderr, "sekishoctl: %s: no spam rule package "
		    "installed\n", dir);
		free(v);
		return 1;
	}
	diag_init(&d);
	if (spampkg_path(dir, &cur, path, sizeof(path)))
		r = spam_rules_load(path, &d);
	if (r == NULL) {
		diag_print(&d, stderr);
		fprintf(stderr, "sekishoctl: the active package %s does not "
		    "load\n", cur.v.text);
		diag_free(&d);
		free(v);
		return 1;
	}
	diag_free(&d);
	if (json) {
		if ((arr = json_array()) == NULL)
			fatalx("rl_status: json_array");
		for (i = 0; i < n; i++)
			json_array_append_new(arr, json_string(v[i].v.text));
		if ((o = json_pack("{s:s, s:s, s:I, s:o, s:s}", "active",
		    cur.v.text, "file", path, "rules",
		    (json_int_t)spam_rules_count(r), "installed", arr,
		    "package_dir", dir)) == NULL)
			fatalx("rl_status: json_pack");
		json_dumpf(o, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(o);
	} else {
		printf("active     %s (%zu rules, %s)\n", cur.v.text,
		    spam_rules_count(r), path);
		printf("installed ");
		for (i = 0; i < n; i++)
			printf(" %s%s", v[i].v.text,
			    spam_version_cmp(&v[i].v, &cur.v) == 0 ? "*" : "");
		printf("\n");
	}
	spam_rules_free(r);
	free(v);
	return 0;
}

/* cmd_rules: sekishoctl rules ...; argv starts after "rules". */
int
cmd_rules(const char *confdir, int argc, char **argv, bool json)
{
	struct sekisho_conf conf;
	int		 i, n = 0, rv;
	char		*args[3];

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (n < 3)
			args[n++] = argv[i];
		else
			return rl_usage();
	}
	if (n == 0 ||
	    !((n == 1 && strcmp(args[0], "status") == 0) ||
	    (n == 2 && strcmp(args[0], "update") == 0) ||
	    (n == 1 && strcmp(args[0], "rollback") == 0)))
		return rl_usage();
	if (ctl_load(confdir, &conf, true) == -1)
		return 1;
	if (strcmp(args[0], "status") == 0)
		rv = rl_status(&conf, json);
	else if (strcmp(args[0], "update") == 0)
		rv = rl_update(&conf, args[1], json);
	else
		rv = rl_rollback(&conf, json);
	conf_free(&conf);
	return rv;
}
