/*
 * cfgdiff.h: what a configuration change means for each service the
 * manager supervises: nothing, a reload (SIGHUP) or a restart
 * (docs/manager.md, "Reload").
 *
 * Every service reads its own part of the configuration directory.  The
 * parts are declared as data in cfgdiff.c, one row per service and part:
 * a section of an ini file as conf_load parsed it (all its keys, or only
 * the keys that service uses), a whole file (policy.ini with its rules,
 * the TLS key, the IP profiler's list files) or a directory tree
 * (keywords/, templates/, the spam rule packages).  A snapshot holds a
 * SHA-256 of each part: of the parsed values for a section (so every
 * daemon loading all three ini files does not make every edit concern
 * every daemon, and a comment or a touch changes nothing), of the bytes
 * for a file, of the names, link targets and contents for a directory.
 *
 * cfgdiff_snap_take reads the files; cfgdiff_decide only compares two
 * snapshots, so the decision table is tested without processes.
 */
#ifndef SEKISHO_CFGDIFF_H
#define SEKISHO_CFGDIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define CFGDIFF_HASH_LEN	32		/* SHA-256 */
#define CFGDIFF_MAX_PARTS	64

enum cfgdiff_action {
	CFGDIFF_NONE = 0,	/* nothing it reads changed */
	CFGDIFF_RELOAD,		/* SIGHUP: it applies the change itself */
	CFGDIFF_RESTART,	/* it applies the change only at its start */
};

/* The fingerprint of every part, taken from one configuration. */
struct cfgdiff_snap {
	bool		 valid;		/* taken (else: decide restarts) */
	uint8_t		 hash[CFGDIFF_MAX_PARTS][CFGDIFF_HASH_LEN];
};

void		 cfgdiff_snap_take(const struct sekisho_conf *,
		    struct cfgdiff_snap *);
enum cfgdiff_action cfgdiff_decide(unsigned, const struct cfgdiff_snap *,
		    const struct cfgdiff_snap *, char *, size_t);
const char	*cfgdiff_action_name(enum cfgdiff_action);

#endif
