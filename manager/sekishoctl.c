/*
 * sekishoctl: the administrator's command-line client.
 *
 * This first part works offline, on the configuration files themselves:
 *
 *	sekishoctl [-c DIR] config check	every problem as file:line
 *	sekishoctl [-c DIR] config get FILE SECTION KEY
 *						the value in force (default
 *						applied, paths absolute)
 *	sekishoctl version
 *
 * Exit codes: 0 success, 1 invalid configuration or unknown key, 2 usage.
 * The commands that talk to a running manager over its control socket
 * come with the manager.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "util.h"

#ifndef SEKISHO_VERSION
#define SEKISHO_VERSION	"unknown"
#endif

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: sekishoctl [-c confdir] config check\n"
	    "       sekishoctl [-c confdir] config get FILE SECTION KEY\n"
	    "       sekishoctl version\n");
	exit(2);
}

/* load: the configuration, diagnostics to stderr; NULL conf if invalid. */
static int
load(const char *confdir, struct sekisho_conf *conf, bool quiet)
{
	struct diag	 d;
	int		 rv;

	diag_init(&d);
	rv = conf_load(confdir, conf, &d);
	if (!quiet || rv == -1)
		diag_print(&d, stderr);
	if (rv == -1)
		fprintf(stderr, "sekishoctl: %s: configuration invalid (%zu "
		    "error%s)\n", confdir, d.nerrors, d.nerrors == 1 ? "" : "s");
	diag_free(&d);
	return rv;
}

/* cmd_config_check: report every problem; 0 when there are no errors. */
static int
cmd_config_check(const char *confdir)
{
	struct sekisho_conf conf;

	if (load(confdir, &conf, false) == -1)
		return 1;
	printf("%s: configuration OK\n", confdir);
	conf_free(&conf);
	return 0;
}

/* cmd_config_get: print one key's value in force. */
static int
cmd_config_get(const char *confdir, const char *file, const char *section,
    const char *key)
{
	struct sekisho_conf	 conf;
	const struct conf_file	*f;
	const struct conf_key	*k;
	struct buf		 b;

	if ((f = conf_file_find(file)) == NULL) {
		fprintf(stderr, "sekishoctl: unknown configuration file %s\n",
		    file);
		return 1;
	}
	if ((k = conf_key_find(f, section, key)) == NULL) {
		fprintf(stderr, "sekishoctl: %s: no key %s in [%s]\n", file,
		    key, section);
		return 1;
	}
	if (load(confdir, &conf, true) == -1)
		return 1;
	buf_init(&b, 1 << 20);
	conf_value_text(&conf, k, &b);
	printf("%s\n", buf_cstr(&b));
	buf_free(&b);
	conf_free(&conf);
	return 0;
}

int
main(int argc, char **argv)
{
	const char	*confdir = SEKISHO_CONFDIR;
	int		 ch;

	log_init("sekishoctl", true, LOG_LVL_WARN);
	while ((ch = getopt(argc, argv, "c:h")) != -1) {
		switch (ch) {
		case 'c':
			confdir = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 1 && strcmp(argv[0], "version") == 0) {
		printf("sekisho %s\n", SEKISHO_VERSION);
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "config") == 0 &&
	    strcmp(argv[1], "check") == 0)
		return cmd_config_check(confdir);
	if (argc == 5 && strcmp(argv[0], "config") == 0 &&
	    strcmp(argv[1], "get") == 0)
		return cmd_config_get(confdir, argv[2], argv[3], argv[4]);
	usage();
}
