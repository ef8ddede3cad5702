/*
 * test_cfgdiff.c: what a configuration change means for each service
 * (manager/cfgdiff.c): a table of edits to a configuration directory,
 * each with the action smtpd, scanner, ipprofiler and euq get.  A touch
 * or a comment changes nothing; a file a service does not read never
 * concerns it; smtpd restarts, the scanner and the IP profiler reload
 * except for what they set up at their start.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgdiff.h"
#include "conf.h"
#include "diag.h"
#include "log.h"
#include "test.h"
#include "util.h"
#include "xmalloc.h"

#define N	CFGDIFF_NONE
#define H	CFGDIFF_RELOAD
#define R	CFGDIFF_RESTART

/* The base configuration every case starts from. */
static const struct {
	const char	*name;
	const char	*text;
} base[] = {
	{ "imss.ini", "[general]\nadmin_email = postmaster\n" },
	{ "tsmtpd.ini", "[SmtpServer]\nMaxRcptPerMsg = 100\n" },
	{ "foxdns.ini", "[foxdns]\nkeep_tempblocked_mins = 60\n"
	    "approved_list_file = approved.txt\n" },
	{ "policy.ini", "[scan]\nworkers = 2\n" },
	{ "approved.txt", "192.0.2.1\n" },
	{ "keywords/a.txt", "foo\n" },
	{ "templates/quarantined", "Subject: q\n\nquarantined\n" },
	{ "spamrules/1.001.rules", "# rules\n" },
};

/* One edit: the file it writes (whole), and what each service needs. */
static const struct {
	const char		*what;
	const char		*file;
	const char		*text;
	enum cfgdiff_action	 want[CONF_NSERVICES]; /* smtpd scanner ipp euq */
	const char		*why;	/* smtpd's, scanner's or ipp's reason */
} cases[] = {
	{ "touch, same content", "tsmtpd.ini",
	    "[SmtpServer]\nMaxRcptPerMsg = 100\n", { N, N, N, N }, NULL },
	{ "a comment", "tsmtpd.ini",
	    "; only a comment\n[SmtpServer]\nMaxRcptPerMsg=100\n",
	    { N, N, N, N }, NULL },
	{ "SmtpServer key only smtpd reads", "tsmtpd.ini",
	    "[SmtpServer]\nMaxRcptPerMsg = 50\n", { R, N, N, N },
	    "tsmtpd.ini [SmtpServer] changed" },
	{ "AcceptedDomains: scanner too", "tsmtpd.ini",
	    "[SmtpServer]\nMaxRcptPerMsg = 100\n"
	    "AcceptedDomains = example.com\n", { R, H, N, N }, NULL },
	{ "DnsServers: scanner's resolver", "tsmtpd.ini",
	    "[SmtpServer]\nMaxRcptPerMsg = 100\n[SmtpClient]\n"
	    "DnsServers = 127.0.0.1\n", { R, R, N, N },
	    "tsmtpd.ini [SmtpClient] changed" },
	{ "SmtpClient key only smtpd reads", "tsmtpd.ini",
	    "[SmtpServer]\nMaxRcptPerMsg = 100\n[SmtpClient]\n"
	    "RetryMinSeconds = 120\n", { R, N, N, N }, NULL },
	{ "a route", "tsmtpd.ini",
	    "[SmtpServer]\nMaxRcptPerMsg = 100\n[Routes]\n"
	    "example.org = 192.0.2.7:2525\n", { R, N, N, N },
	    "tsmtpd.ini [Routes] changed" },
	{ "keep_tempblocked_mins: ipprofiler only", "foxdns.ini",
	    "[foxdns]\nkeep_tempblocked_mins = 30\n"
	    "approved_list_file = approved.txt\n", { N, N, H, N },
	    "foxdns.ini [foxdns] changed" },
	{ "block reply: smtpd too", "foxdns.ini",
	    "[foxdns]\nkeep_tempblocked_mins = 60\n"
	    "approved_list_file = approved.txt\n"
	    "temp_block_reply = 451 4.7.1 go away\n", { R, N, H, N }, NULL },
	{ "database: ipprofiler restarts", "foxdns.ini",
	    "[foxdns]\nkeep_tempblocked_mins = 60\n"
	    "approved_list_file = approved.txt\ndatabase = /tmp/x.db\n",
	    { N, N, R, N }, NULL },
	{ "a rule section", "foxdns.ini",
	    "[foxdns]\nkeep_tempblocked_mins = 60\n"
	    "approved_list_file = approved.txt\n[dha]\nwindow_mins = 5\n",
	    { N, N, H, N }, "foxdns.ini [dha] changed" },
	{ "the approved list file", "approved.txt", "192.0.2.2\n",
	    { N, N, H, N },
	    "the file named by foxdns.ini [foxdns] approved_list_file "
	    "changed" },
	{ "policy.ini: scanner only", "policy.ini",
	    "[scan]\nworkers = 2\n[antivirus]\nenabled = 0\n",
	    { N, H, N, N }, "policy.ini changed" },
	{ "policy.ini comment: scanner reloads", "policy.ini",
	    "# new rule soon\n[scan]\nworkers = 2\n", { N, H, N, N }, NULL },
	{ "scan_retry_seconds: smtpd's queue too", "policy.ini",
	    "[scan]\nworkers = 2\nscan_retry_seconds = 5\n",
	    { R, H, N, N }, NULL },
	{ "workers: the scanner restarts", "policy.ini",
	    "[scan]\nworkers = 3\n", { N, R, N, N },
	    "policy.ini [scan] changed (and 1 more part)" },
	{ "the manager's own keys", "imss.ini",
	    "[general]\nadmin_email = postmaster\n[imss_manager]\n"
	    "service_stop_timeout = 10\n[logging]\nmax_log_size_mb = 200\n",
	    { N, N, N, N }, NULL },
	{ "log level: everyone restarts", "imss.ini",
	    "[general]\nadmin_email = postmaster\n[logging]\n"
	    "level = debug\n", { R, R, R, R }, NULL },
	{ "admin_email", "imss.ini", "[general]\nadmin_email = a@b.example\n",
	    { R, H, N, R }, "imss.ini [general] changed" },
	{ "a keyword list", "keywords/a.txt", "foo\nbar\n", { N, H, N, N },
	    "keywords/ changed" },
	{ "a new keyword list", "keywords/b.txt", "baz\n", { N, H, N, N },
	    NULL },
	{ "a template", "templates/quarantined", "Subject: Q\n\nq\n",
	    { N, H, N, N }, NULL },
	{ "a new spam rule package", "spamrules/1.002.rules", "# new\n",
	    { N, H, N, N },
	    "the directory named by policy.ini [antispam] package_dir "
	    "changed" },
};

static char	 dir[] = "/tmp/sekisho-cfgdiff.XXXXXX";

/* put: write dir/name (its directory created) with text. */
static void
put(const char *name, const char *text)
{
	char	*path = xasprintf("%s/%s", dir, name), *slash;
	FILE	*f;

	slash = strrchr(path, '/');
	*slash = '\0';
	(void)mkdir(path, 0755);
	*slash = '/';
	if ((f = fopen(path, "w")) == NULL)
		fatal("put: %s", path);
	fputs(text, f);
	fclose(f);
	free(path);
}

/* put_base: the base configuration again (a new file of a case goes). */
static void
put_base(void)
{
	char	*path;
	size_t	 i;

	path = xasprintf("%s/keywords/b.txt", dir);
	(void)unlink(path);
	free(path);
	path = xasprintf("%s/spamrules/1.002.rules", dir);
	(void)unlink(path);
	free(path);
	for (i = 0; i < nitems(base); i++)
		put(base[i].name, base[i].text);
}

/* snap: the snapshot of the directory as it is now. */
static void
snap(struct cfgdiff_snap *s)
{
	struct sekisho_conf c;
	struct diag	 d;

	memset(&c, 0, sizeof(c));
	diag_init(&d);
	if (conf_load(dir, &c, &d) == -1 || d.nerrors > 0) {
		fprintf(stderr, "snap: %s: %s\n", dir, d.nitems > 0 ?
		    d.items[0].text : "?");
		abort();
	}
	diag_free(&d);
	cfgdiff_snap_take(&c, s);
	conf_free(&c);
}

/* t_table: every case, from the base, against every service. */
static void
t_table(void)
{
	static struct cfgdiff_snap old, new;
	char		 why[300];
	size_t		 i;
	unsigned	 sv;

	for (i = 0; i < nitems(cases); i++) {
		bool	 whyseen = false;

		put_base();
		snap(&old);
		put(cases[i].file, cases[i].text);
		snap(&new);
		for (sv = 0; sv < CONF_NSERVICES; sv++) {
			enum cfgdiff_action a = cfgdiff_decide(sv, &old, &new,
			    why, sizeof(why));

			if (a != cases[i].want[sv])
				fprintf(stderr, "case \"%s\": %s: %s, want %s "
				    "(%s)\n", cases[i].what,
				    conf_service_names[sv],
				    cfgdiff_action_name(a),
				    cfgdiff_action_name(cases[i].want[sv]),
				    why);
			CHECK(a == cases[i].want[sv]);
			if (a == CFGDIFF_NONE)
				CHECK(strcmp(why, "nothing it reads changed")
				    == 0);
			if (cases[i].why != NULL && a != CFGDIFF_NONE &&
			    strcmp(why, cases[i].why) == 0)
				whyseen = true;
		}
		if (cases[i].why != NULL && !whyseen)
			fprintf(stderr, "case \"%s\": no service says \"%s\"\n",
			    cases[i].what, cases[i].why);
		CHECK(cases[i].why == NULL || whyseen);
	}
}

/* t_unknown_start: no snapshot of the start: everything changed. */
static void
t_unknown_start(void)
{
	static struct cfgdiff_snap none, now;
	char	 why[300];

	put_base();
	snap(&now);
	CHECK(cfgdiff_decide(0, &none, &now, why, sizeof(why)) ==
	    CFGDIFF_RESTART);
	CHECK(strstr(why, "no fingerprint") != NULL);
	CHECK(cfgdiff_decide(1, &none, &now, why, sizeof(why)) ==
	    CFGDIFF_RESTART);
	CHECK(cfgdiff_decide(1, &now, &now, why, sizeof(why)) ==
	    CFGDIFF_NONE);
	CHECK(strcmp(cfgdiff_action_name(CFGDIFF_RELOAD), "reload") == 0);
}

/* t_setup: the temporary configuration directory. */
static void
t_setup(void)
{
	log_init("test_cfgdiff", true, LOG_LVL_WARN);
	if (mkdtemp(dir) == NULL)
		fatal("t_setup: mkdtemp");
}

/* t_cleanup: remove it. */
static void
t_cleanup(void)
{
	CHECK(test_rmtree(dir) == 0);
}

TEST_MAIN(t_setup, t_table, t_unknown_start, t_cleanup)
