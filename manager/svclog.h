/*
 * svclog.h: a service's log file, <dir>/<name>.log, which sekisho-manager
 * writes from the service's stdout and stderr (docs/manager.md).
 *
 * Beyond max bytes (0: no limit) the file is renamed <name>.log.1
 * (replacing the previous one) and a new one starts, so a service keeps
 * at most about twice max on disk ([logging] max_log_size_mb, seed 36).
 * Writing never fails loudly: a log that cannot be written is reported
 * once and its bytes are dropped, the service runs on.
 */
#ifndef SEKISHO_SVCLOG_H
#define SEKISHO_SVCLOG_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>

struct svclog {
	char		 path[4096];
	int		 fd;		/* -1: not open */
	off_t		 size;
	off_t		 max;
	bool		 failed;	/* a write error was reported */
};

bool		 svclog_open(struct svclog *, const char *, const char *,
		    off_t, char *, size_t);
void		 svclog_write(struct svclog *, const void *, size_t);
void		 svclog_close(struct svclog *);

#endif
