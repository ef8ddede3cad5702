/*
 * mchild.h: the manager's own helper processes (the link of the push,
 * the console): forked, not exec'ed, each dropping to manager_user in the
 * empty DATA_DIR/empty with only the descriptors it is given.
 */
#ifndef SEKISHO_MCHILD_H
#define SEKISHO_MCHILD_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

#define MCHILD_BACKOFF_MAX	60	/* seconds between restarts */

struct event;

pid_t	 mchild_fork(const char *, const struct sekisho_conf *, const int *,
	    size_t, bool);
void	 mchild_died(const char *, struct event *, unsigned *, int);

#endif
