/*
 * spool.c: durable message store of the queue (see spool.h, docs/spool.md).
 *
 * All file operations are relative to directory descriptors opened once, so
 * the queue process can chroot into the spool (or anywhere) afterwards.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "log.h"
#include "spool.h"
#include "xmalloc.h"

static const char *const state_dirs[SPOOL_NSTATES] = {
	[SPOOL_INCOMING] = "incoming",
	[SPOOL_QUEUE] = "queue",
	[SPOOL_HOLD] = "hold",
	[SPOOL_CORRUPT] = "corrupt",
};

const char *
spool_state_name(enum spool_state st)
{
	return st < SPOOL_NSTATES ? state_dirs[st] : "?";
}

/* spool_open: open (creating) the spool at path and its subdirectories. */
int
spool_open(struct spool *sp, const char *path, char *err, size_t errlen)
{
	int	 i;

	memset(sp, 0, sizeof(*sp));
	sp->dirfd = sp->tmpfd = -1;
	for (i = 0; i < SPOOL_NSTATES; i++)
		sp->statefd[i] = -1;
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		goto fail;
	if ((sp->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto fail;
	if ((sp->tmpfd = dir_open_sub(sp->dirfd, "tmp")) == -1)
		goto fail;
	for (i = 0; i < SPOOL_NSTATES; i++)
		if ((sp->statefd[i] = dir_open_sub(sp->dirfd,
		    state_dirs[i])) == -1)
			goto fail;
	/* The new directories themselves must survive a crash. */
	if (fsync(sp->dirfd) == -1)
		goto fail;
	return 0;
fail:
	str_printf(err, errlen, "spool %s: %s", path, strerror(errno));
	spool_close(sp);
	return -1;
}

/* spool_close: release the directory descriptors. */
void
spool_close(struct spool *sp)
{
	int	 i;

	if (sp->dirfd >= 0)
		close(sp->dirfd);
	if (sp->tmpfd >= 0)
		close(sp->tmpfd);
	for (i = 0; i < SPOOL_NSTATES; i++)
		if (sp->statefd[i] >= 0)
			close(sp->statefd[i]);
	memset(sp, 0, sizeof(*sp));
	sp->dirfd = sp->tmpfd = -1;
	for (i = 0; i < SPOOL_NSTATES; i++)
		sp->statefd[i] = -1;
}

/*
 * spool_id_new: a queue id that sorts by arrival time: microseconds since
 * the epoch in the top 52 bits, a counter below, as 16 hex digits.  Ids
 * only increase within a process; across restarts the clock (and the
 * O_EXCL create in spool_body_create) keeps them unique.
 */
void
spool_id_new(struct spool *sp, char *id)
{
	struct timespec	 ts;
	uint64_t	 now, v;
	uint16_t	 r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
	if (sp->last_id == 0) {
		/* A random low part makes two processes unlikely to meet. */
		if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
			r = (uint16_t)getpid();
	}
	v = (now << 12) | (r & 0x7ff);
	if (v <= sp->last_id)
		v = sp->last_id + 1;
	sp->last_id = v;
	snprintf(id, SPOOL_ID_LEN + 1, "%016llx", (unsigned long long)v);
}

/* spool_fname: "<id><suffix>" into buf. */
const char *
spool_fname(char *buf, size_t len, const char *id, const char *suffix)
{
	if (!str_printf(buf, len, "%s%s", id, suffix))
		fatalx("spool_fname: id too long");
	return buf;
}

/*
 * spool_body_create: allocate a new id (written to id) and create its
 * content file in tmp/.  Returns a read-write descriptor or -1.
 */
int
spool_body_create(struct spool *sp, char *id)
{
	char	 name[64];
	int	 fd, tries;

	for (tries = 0; tries < 100; tries++) {
		spool_id_new(sp, id);
		fd = openat(sp->tmpfd, spool_fname(name, sizeof(name), id, ".msg"),
		    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd != -1 || errno != EEXIST)
			return fd;
	}
	errno = EEXIST;
	return -1;
}

/*
 * spool_body_create_as: create the content file of a known id in tmp/
 * (a message that keeps its queue id across a state change with new
 * content).  Returns a read-write descriptor or -1.
 */
int
spool_body_create_as(struct spool *sp, const char *id)
{
	char	 name[64];

	return openat(sp->tmpfd, spool_fname(name, sizeof(name), id, ".msg"),
	    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

/*
 * spool_body_link: give the content of id in state st a second name,
 * tmp/<newid>.msg, for a copy of the message with the same content (the
 * content of a spooled message never changes).  0 or -1 with errno.
 */
int
spool_body_link(struct spool *sp, enum spool_state st, const char *id,
    const char *newid)
{
	char	 from[64], to[64];

	return linkat(sp->statefd[st], spool_fname(from, sizeof(from), id,
	    ".msg"), sp->tmpfd, spool_fname(to, sizeof(to), newid, ".msg"), 0);
}

/* spool_exists: whether message id is in state st (its envelope is). */
bool
spool_exists(struct spool *sp, enum spool_state st, const char *id)
{
	char	 name[64];

	return faccessat(sp->statefd[st], spool_fname(name, sizeof(name), id,
	    ".env"), F_OK, 0) == 0;
}

/*
 * Committing a message is four steps, so that the queue can do the two
 * expensive ones once for a whole batch of messages (group commit):
 *
 *	spool_stage	write the envelope into tmp/ (per message)
 *	spool_sync	make every file of the spool durable (once: syncfs)
 *	spool_publish	rename content, then envelope, into the state's
 *			directory (per message)
 *	spool_sync_state fsync that directory so the renames are durable
 *			(once)
 *
 * Only after the last step may a client be told 250.  The data is durable
 * before any name appears in a state directory, so a crash never leaves a
 * message there whose content was not on disk; a crash after a publish but before
 * the client heard 250 can at worst cause a duplicate (at-least-once).
 */

/* spool_stage: write the envelope of a received message into tmp/. */
int
spool_stage(struct spool *sp, const struct envelope *env, char *err,
    size_t errlen)
{
	char	 ename[64];
	struct buf b;
	int	 fd = -1;
	const char *step;

	spool_fname(ename, sizeof(ename), env->id, ".env");
	buf_init(&b, ENVELOPE_MAX_SIZE);
	step = "envelope too large";
	if (!envelope_format(env, &b)) {
		errno = EFBIG;
		goto fail;
	}
	step = "create envelope";
	if ((fd = openat(sp->tmpfd, ename, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0600)) == -1)
		goto fail;
	step = "write envelope";
	if (fd_write_all(fd, b.data, b.len) == -1)
		goto fail;
	step = "close envelope";
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	buf_free(&b);
	return 0;
fail:
	str_printf(err, errlen, "%s: %s", step, strerror(errno));
	if (fd != -1)
		close(fd);
	unlinkat(sp->tmpfd, ename, 0);
	buf_free(&b);
	return -1;
}

/* spool_sync: every written file of the spool's file system on disk. */
int
spool_sync(struct spool *sp, char *err, size_t errlen)
{
	if (syncfs(sp->dirfd) == -1) {
		str_printf(err, errlen, "syncfs: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* spool_publish: move a staged message into state st, envelope last. */
int
spool_publish(struct spool *sp, enum spool_state st, const char *id,
    char *err, size_t errlen)
{
	char	 mname[64], ename[64];
	int	 dst = sp->statefd[st], saved;

	spool_fname(mname, sizeof(mname), id, ".msg");
	spool_fname(ename, sizeof(ename), id, ".env");
	if (renameat(sp->tmpfd, mname, dst, mname) == -1) {
		str_printf(err, errlen, "rename content: %s", strerror(errno));
		return -1;
	}
	if (renameat(sp->tmpfd, ename, dst, ename) == -1) {
		saved = errno;
		/* Put the content back: st holds no half message. */
		renameat(dst, mname, sp->tmpfd, mname);
		str_printf(err, errlen, "rename envelope: %s",
		    strerror(saved));
		return -1;
	}
	return 0;
}

/* spool_unpublish: take back a published message that was not acknowledged. */
void
spool_unpublish(struct spool *sp, enum spool_state st, const char *id)
{
	char	 name[64];
	int	 dst = sp->statefd[st];

	unlinkat(dst, spool_fname(name, sizeof(name), id, ".env"), 0);
	unlinkat(dst, spool_fname(name, sizeof(name), id, ".msg"), 0);
}

/* spool_sync_state: make the names in state st durable. */
int
spool_sync_state(struct spool *sp, enum spool_state st, char *err,
    size_t errlen)
{
	if (fsync(sp->statefd[st]) == -1) {
		str_printf(err, errlen, "fsync %s: %s", state_dirs[st],
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * spool_commit: all four steps for one message into state st.  Only after
 * a 0 return may the client be told 250.  On failure nothing is left in
 * st.
 */
int
spool_commit(struct spool *sp, enum spool_state st, const struct envelope *env,
    char *err, size_t errlen)
{
	if (spool_stage(sp, env, err, errlen) == -1)
		return -1;
	if (spool_sync(sp, err, errlen) == -1 ||
	    spool_publish(sp, st, env->id, err, errlen) == -1) {
		spool_abort(sp, env->id);
		return -1;
	}
	if (spool_sync_state(sp, st, err, errlen) == -1) {
		spool_unpublish(sp, st, env->id);
		return -1;
	}
	return 0;
}

/*
 * spool_rewrite: replace the envelope of a message in state st (its
 * delivery state changed): written to tmp/, fdatasynced, renamed over the
 * old one, directory fsynced.  A crash leaves the old or the new one.
 */
int
spool_rewrite(struct spool *sp, enum spool_state st, const struct envelope *env,
    char *err, size_t errlen)
{
	char	 ename[64];
	int	 fd;

	if (spool_stage(sp, env, err, errlen) == -1)
		return -1;
	spool_fname(ename, sizeof(ename), env->id, ".env");
	if ((fd = openat(sp->tmpfd, ename, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fdatasync(fd) == -1) {
		str_printf(err, errlen, "fsync envelope: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		unlinkat(sp->tmpfd, ename, 0);
		return -1;
	}
	close(fd);
	if (renameat(sp->tmpfd, ename, sp->statefd[st], ename) == -1) {
		str_printf(err, errlen, "rename envelope: %s", strerror(errno));
		unlinkat(sp->tmpfd, ename, 0);
		return -1;
	}
	return spool_sync_state(sp, st, err, errlen);
}

/*
 * spool_move: move a message between states.  The content is linked into
 * the new state first, then the envelope renamed (the atomic step), then
 * the old content removed; recovery removes content without an envelope,
 * so a crash at any point leaves the message whole in one of the states.
 */
int
spool_move(struct spool *sp, enum spool_state from, enum spool_state to,
    const char *id, char *err, size_t errlen)
{
	char	 mname[64], ename[64];
	int	 f = sp->statefd[from], t = sp->statefd[to];

	spool_fname(mname, sizeof(mname), id, ".msg");
	spool_fname(ename, sizeof(ename), id, ".env");
	unlinkat(t, mname, 0);		/* a leftover of an earlier crash */
	if (linkat(f, mname, t, mname, 0) == -1) {
		str_printf(err, errlen, "link content: %s", strerror(errno));
		return -1;
	}
	if (renameat(f, ename, t, ename) == -1) {
		str_printf(err, errlen, "rename envelope: %s", strerror(errno));
		unlinkat(t, mname, 0);
		return -1;
	}
	if (spool_sync_state(sp, to, err, errlen) == -1)
		return -1;
	unlinkat(f, mname, 0);
	return spool_sync_state(sp, from, err, errlen);
}

/* spool_abort: forget a message that was never committed. */
void
spool_abort(struct spool *sp, const char *id)
{
	char	 name[64];

	unlinkat(sp->tmpfd, spool_fname(name, sizeof(name), id, ".msg"), 0);
	unlinkat(sp->tmpfd, spool_fname(name, sizeof(name), id, ".env"), 0);
}

/* spool_body_open: open a committed message's content for reading. */
int
spool_body_open(struct spool *sp, enum spool_state st, const char *id)
{
	char	 name[64];

	return openat(sp->statefd[st], spool_fname(name, sizeof(name), id, ".msg"),
	    O_RDONLY | O_CLOEXEC);
}

/* spool_remove: delete a message from a state, envelope first. */
int
spool_remove(struct spool *sp, enum spool_state st, const char *id)
{
	char	 name[64];
	int	 fd = sp->statefd[st];

	if (unlinkat(fd, spool_fname(name, sizeof(name), id, ".env"), 0) == -1 &&
	    errno != ENOENT)
		return -1;
	if (unlinkat(fd, spool_fname(name, sizeof(name), id, ".msg"), 0) == -1 &&
	    errno != ENOENT)
		return -1;
	return fsync(fd);
}

/* quarantine_corrupt: move an unreadable message aside for the admin. */
static void
quarantine_corrupt(struct spool *sp, int fromfd, const char *id)
{
	char	 name[64];
	int	 to = sp->statefd[SPOOL_CORRUPT];

	renameat(fromfd, spool_fname(name, sizeof(name), id, ".msg"), to, name);
	renameat(fromfd, spool_fname(name, sizeof(name), id, ".env"), to, name);
	fsync(to);
}

/* spool_is_fname: "<16 hex>" followed by exactly suffix. */
bool
spool_is_fname(const char *name, const char *suffix)
{
	return strlen(name) == SPOOL_ID_LEN + strlen(suffix) &&
	    strspn(name, "0123456789abcdef") == SPOOL_ID_LEN &&
	    strcmp(name + SPOOL_ID_LEN, suffix) == 0;
}

/*
 * load_envelope: read and check the envelope of id in dirfd; its content
 * file must exist too.  Returns 0, or -1 with the reason in err.
 */
static int
load_envelope(int dirfd, const char *id, struct envelope *env, char *err,
    size_t errlen)
{
	char		 name[64], *text;
	size_t		 len;
	struct stat	 sb;
	int		 rv;

	text = file_read_at(dirfd, spool_fname(name, sizeof(name), id, ".env"),
	    ENVELOPE_MAX_SIZE, &len);
	if (text == NULL) {
		str_printf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	rv = envelope_parse(env, text, len, err, errlen);
	free(text);
	if (rv == -1)
		return -1;
	if (strcmp(env->id, id) != 0) {
		str_printf(err, errlen, "envelope names id %s", env->id);
		envelope_clear(env);
		return -1;
	}
	if (fstatat(dirfd, spool_fname(name, sizeof(name), id, ".msg"), &sb,
	    0) == -1) {
		str_printf(err, errlen, "content: %s", strerror(errno));
		envelope_clear(env);
		return -1;
	}
	return 0;
}

/* recover_state: report every whole message of one state directory. */
static int
recover_state(struct spool *sp, enum spool_state st, spool_recover_cb cb,
    void *arg)
{
	struct envelope	 env;
	struct dirent	*de;
	char		 id[SPOOL_ID_LEN + 1], name[64], err[160], esc[200];
	struct stat	 sb;
	int		 fd, dfd = sp->statefd[st], n = 0;
	DIR		*d;

	if ((fd = dup(dfd)) == -1 || (d = fdopendir(fd)) == NULL)
		return -1;
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		bool	 is_msg = spool_is_fname(de->d_name, ".msg");

		if (!is_msg && !spool_is_fname(de->d_name, ".env"))
			continue;
		memcpy(id, de->d_name, SPOOL_ID_LEN);
		id[SPOOL_ID_LEN] = '\0';
		if (is_msg) {
			/* Content without envelope: never acknowledged. */
			if (fstatat(dfd, spool_fname(name, sizeof(name), id,
			    ".env"), &sb, 0) == -1 && errno == ENOENT) {
				log_kv(LOG_LVL_WARN, "event=spool-orphan "
				    "qid=%s state=%s action=removed", id,
				    state_dirs[st]);
				unlinkat(dfd, de->d_name, 0);
			}
			continue;
		}
		if (load_envelope(dfd, id, &env, err, sizeof(err)) == -1) {
			log_kv(LOG_LVL_ERR, "event=spool-corrupt qid=%s "
			    "state=%s reason=%s action=moved-to-corrupt", id,
			    state_dirs[st], log_esc(esc, sizeof(esc), err));
			quarantine_corrupt(sp, dfd, id);
			continue;
		}
		n++;
		cb(st, &env, arg);
		envelope_clear(&env);
	}
	closedir(d);
	return n;
}

/*
 * spool_recover: at start, remove the leftovers of messages never
 * acknowledged (everything in tmp/, content without envelope) and hand
 * every whole message to cb.  Returns the number of messages, or -1.
 */
int
spool_recover(struct spool *sp, spool_recover_cb cb, void *arg)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd, st, n, total = 0;

	if ((fd = dup(sp->tmpfd)) == -1 || (d = fdopendir(fd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(sp->tmpfd, de->d_name, 0);
	closedir(d);
	for (st = 0; st < SPOOL_NSTATES; st++) {
		if (st == SPOOL_CORRUPT)
			continue;
		if ((n = recover_state(sp, st, cb, arg)) == -1)
			return -1;
		total += n;
	}
	return total;
}
