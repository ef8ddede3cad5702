/*
 * daemon.h: what every sekisho daemon does the same way at start.
 *
 * Command line (DESIGN.md section 5):
 *	-c DIR	configuration directory (default SEKISHO_CONFDIR)
 *	-f	stay in the foreground and log to stderr
 *	-n	check the configuration, print every problem, and exit
 *		(0 when it is valid, 1 when not)
 *	-v	more logging (debug), overrides [logging] level
 *	-h	usage
 * A daemon calls daemon_getopt(), then daemon_config() (which handles -n
 * and stops on invalid configuration; the daemon's own check function adds
 * what the files alone cannot show, e.g. that a TLS key loads), then
 * daemon_start() to set up logging, detach, and take its pid file.
 */
#ifndef SEKISHO_DAEMON_H
#define SEKISHO_DAEMON_H

#include <stdbool.h>

#include "conf.h"

#ifndef SEKISHO_CONFDIR
#define SEKISHO_CONFDIR	"/etc/sekisho"
#endif

struct daemon_opts {
	const char	*prog;		/* "sekisho-smtpd" */
	const char	*confdir;
	bool		 foreground;
	bool		 check;
	int		 verbose;
};

void	 daemon_getopt(int, char **, const char *, struct daemon_opts *);
typedef int (*daemon_check_fn)(const struct sekisho_conf *, struct diag *);

void	 daemon_config(const struct daemon_opts *, struct sekisho_conf *,
	    daemon_check_fn);
void	 daemon_start(const struct daemon_opts *, const struct sekisho_conf *);
void	 daemon_pidfile_remove(void);

#endif
