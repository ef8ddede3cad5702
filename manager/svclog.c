/*
 * svclog.c: a service's log file with its size limit (see svclog.h).
 *
 * Owns the open log file.  The manager reads each service's output pipe
 * and hands the bytes here; a file that grew beyond the limit is rotated
 * before the next chunk, so a chunk never straddles two files.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "svclog.h"
#include "util.h"

/* svclog_reopen: open (create) the file at its path, append mode. */
static bool
svclog_reopen(struct svclog *l, char *err, size_t errlen)
{
	struct stat	 st;

	if ((l->fd = open(l->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0640)) == -1 || fstat(l->fd, &st) == -1) {
		(void)str_printf(err, errlen, "%s: %s", l->path,
		    strerror(errno));
		if (l->fd != -1)
			close(l->fd);
		l->fd = -1;
		return false;
	}
	l->size = st.st_size;
	return true;
}

/*
 * svclog_open: the log file dir/name.log, limited to max bytes (0: no
 * limit); false with the reason in err.
 */
bool
svclog_open(struct svclog *l, const char *dir, const char *name, off_t max,
    char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->max = max;
	if (!str_printf(l->path, sizeof(l->path), "%s/%s.log", dir, name)) {
		(void)str_printf(err, errlen, "%s: path too long", dir);
		return false;
	}
	return svclog_reopen(l, err, errlen);
}

/* svclog_rotate: name.log becomes name.log.1 and a new file starts. */
static void
svclog_rotate(struct svclog *l)
{
	char	 old[sizeof(l->path) + 2], err[256], esc[LOG_ESC_MAX];

	if (!str_printf(old, sizeof(old), "%s.1", l->path) ||
	    rename(l->path, old) == -1) {
		log_kv(LOG_LVL_WARN, "event=log-rotate-failed path=%s "
		    "err=\"%s\"", log_esc(esc, sizeof(esc), l->path),
		    strerror(errno));
		/* Keep writing the big file rather than lose lines. */
		l->size = 0;
		return;
	}
	close(l->fd);
	if (!svclog_reopen(l, err, sizeof(err)))
		log_kv(LOG_LVL_ERR, "event=log-open-failed err=%s",
		    log_esc(esc, sizeof(esc), err));
	else
		log_kv(LOG_LVL_INFO, "event=log-rotated path=%s",
		    log_esc(esc, sizeof(esc), l->path));
}

/* svclog_write: append n bytes, rotating first when they would not fit. */
void
svclog_write(struct svclog *l, const void *p, size_t n)
{
	char	 esc[LOG_ESC_MAX];

	if (l->fd == -1 || n == 0)
		return;
	if (l->max > 0 && l->size > 0 && l->size + (off_t)n > l->max)
		svclog_rotate(l);
	if (l->fd == -1)
		return;
	if (fd_write_all(l->fd, p, n) == -1) {
		if (!l->failed)
			log_kv(LOG_LVL_ERR, "event=log-write-failed path=%s "
			    "err=\"%s\"", log_esc(esc, sizeof(esc), l->path),
			    strerror(errno));
		l->failed = true;
		return;
	}
	l->failed = false;
	l->size += (off_t)n;
}

/* svclog_close: close the file (the structure may be opened again). */
void
svclog_close(struct svclog *l)
{
	if (l->fd != -1)
		close(l->fd);
	l->fd = -1;
}
