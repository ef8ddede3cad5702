/*
 * privsep.c: the fixed privilege drop and the checks around chroot
 * directories (see privsep.h).
 *
 * Owns nothing but the "already warned" mark of development mode.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"
#include "util.h"

/* Sanitizer builds (tests) only: see privsep_drop. */
#if defined(__SANITIZE_ADDRESS__)
#define PRIVSEP_LSAN	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PRIVSEP_LSAN	1
#endif
#endif
#ifdef PRIVSEP_LSAN
#include <sanitizer/lsan_interface.h>
#endif

/* The process that already logged the development-mode warning. */
static pid_t	 privsep_warned_pid;

static char	 privsep_errbuf[PATH_MAX + 256];

/* privsep_err: format a message into the static error buffer. */
static const char * __attribute__((format(printf, 1, 2)))
privsep_err(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(privsep_errbuf, sizeof(privsep_errbuf), fmt, ap);
	va_end(ap);
	return privsep_errbuf;
}

/* privsep_no_core: no core file, and no ptrace or /proc peeking by the user. */
void
privsep_no_core(void)
{
	struct rlimit	 rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		fatal("privsep_no_core: setrlimit(RLIMIT_CORE)");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("privsep_no_core: prctl(PR_SET_DUMPABLE)");
}

/* privsep_no_new_privs: no setuid/file-capability gains across execve. */
static void
privsep_no_new_privs(const char *user)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		fatal("privsep_drop: user %s: prctl(PR_SET_NO_NEW_PRIVS)",
		    user);
}

/* privsep_devmode: not root; keep the ids, warn once per process. */
static void
privsep_devmode(const char *user, const char *chroot_dir)
{
	if (privsep_warned_pid != getpid()) {
		privsep_warned_pid = getpid();
		log_warnx("privsep_drop: NOT ROOT, DEVELOPMENT MODE: no "
		    "privilege drop: staying uid %u instead of user %s, "
		    "no chroot to %s", (unsigned)geteuid(), user,
		    chroot_dir != NULL ? chroot_dir : "(none)");
	}
	privsep_no_new_privs(user);
	privsep_no_core();
}

/* privsep_verify: all ids are the user's and root cannot be regained. */
static void
privsep_verify(const char *user, uid_t uid, gid_t gid)
{
	uid_t	 ru, eu, su;
	gid_t	 rg, eg, sg, groups[2];

	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1)
		fatal("privsep_drop: user %s: verify: getres[ug]id", user);
	if (ru != uid || eu != uid || su != uid ||
	    rg != gid || eg != gid || sg != gid)
		fatalx("privsep_drop: user %s: verify: ids are uid %u/%u/%u "
		    "gid %u/%u/%u", user, (unsigned)ru, (unsigned)eu,
		    (unsigned)su, (unsigned)rg, (unsigned)eg, (unsigned)sg);
	if (getgroups(nitems(groups), groups) != 1 || groups[0] != gid)
		fatalx("privsep_drop: user %s: verify: supplementary groups "
		    "are not exactly gid %u", user, (unsigned)gid);
	if (setuid(0) != -1 || setgid(0) != -1)
		fatalx("privsep_drop: user %s: verify: could regain root",
		    user);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		fatalx("privsep_drop: user %s: verify: NoNewPrivs not set",
		    user);
}

/* privsep_lookup: the user's uid and primary gid; never root. */
static void
privsep_lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		if (errno != 0)
			fatal("privsep_drop: user %s: getpwnam", user);
		fatalx("privsep_drop: user %s: getpwnam: no such user", user);
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (*uid == 0 || *gid == 0)
		fatalx("privsep_drop: user %s: getpwnam: uid %u gid %u: "
		    "refusing to run as root", user, (unsigned)*uid,
		    (unsigned)*gid);
}

/* privsep_chroot: chroot into dir and stand at its root. */
static void
privsep_chroot(const char *user, const char *dir)
{
#ifdef PRIVSEP_LSAN
	/*
	 * LeakSanitizer's check at exit reads /proc, which the chroot hides,
	 * and then fails the process: check now instead (this also turns
	 * the check at exit off).
	 */
	__lsan_do_leak_check();
#endif
	if (chroot(dir) == -1)
		fatal("privsep_drop: user %s: chroot(%s)", user, dir);
	if (chdir("/") == -1)
		fatal("privsep_drop: user %s: chdir(/) in %s", user, dir);
}

/* privsep_drop: become user (chrooted into chroot_dir unless NULL); see .h. */
void
privsep_drop(const char *user, const char *chroot_dir)
{
	uid_t	 uid;
	gid_t	 gid;

	if (geteuid() != 0) {
		privsep_devmode(user, chroot_dir);
		return;
	}
	privsep_lookup(user, &uid, &gid);
	if (chroot_dir != NULL)
		privsep_chroot(user, chroot_dir);
	if (setgroups(1, &gid) == -1)
		fatal("privsep_drop: user %s: setgroups(%u)", user,
		    (unsigned)gid);
	if (setresgid(gid, gid, gid) == -1)
		fatal("privsep_drop: user %s: setresgid(%u)", user,
		    (unsigned)gid);
	if (setresuid(uid, uid, uid) == -1)
		fatal("privsep_drop: user %s: setresuid(%u)", user,
		    (unsigned)uid);
	privsep_no_new_privs(user);
	/* After setresuid: changing ids resets the dumpable flag. */
	privsep_no_core();
	privsep_verify(user, uid, gid);
	log_debug("privsep_drop: now user %s uid %u gid %u chroot %s", user,
	    (unsigned)uid, (unsigned)gid,
	    chroot_dir != NULL ? chroot_dir : "(none)");
}

/*
 * privsep_component_check: one directory on a chroot path is root's, and
 * (unless it is the last component) only root can rename its entries.  A
 * world-writable ancestor is fine with the sticky bit (like /tmp): then only
 * root, the owner of the next component, can replace that component.
 */
static const char *
privsep_component_check(const char *dir, bool last)
{
	struct stat	 st;

	if (lstat(dir, &st) == -1)
		return privsep_err("%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return privsep_err("%s: not a directory", dir);
	if (st.st_uid != 0)
		return privsep_err("%s: owned by uid %u, not root", dir,
		    (unsigned)st.st_uid);
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
	    (last || (st.st_mode & S_ISVTX) == 0))
		return privsep_err("%s: mode %04o: writable by group or other",
		    dir, (unsigned)(st.st_mode & 07777));
	return NULL;
}

/* privsep_path_check: privsep_component_check on "/" and each prefix. */
static const char *
privsep_path_check(const char *path)
{
	char		 prefix[PATH_MAX];
	const char	*err;
	size_t		 i, len = strlen(path);

	if ((err = privsep_component_check("/", len == 1)) != NULL)
		return err;
	for (i = 2; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (!str_printf(prefix, sizeof(prefix), "%.*s", (int)i, path))
			return privsep_err("%s: path too long", path);
		if ((err = privsep_component_check(prefix, i == len)) != NULL)
			return err;
	}
	return NULL;
}

/* privsep_dir_empty_check: NULL when dir has no entry but . and .. */
static const char *
privsep_dir_empty_check(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	const char	*err = NULL;

	if ((d = opendir(dir)) == NULL)
		return privsep_err("%s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		err = privsep_err("%s: not empty (contains %s)", dir,
		    de->d_name);
		break;
	}
	closedir(d);
	return err;
}

/*
 * privsep_chroot_dir_check: dir is a safe chroot: a directory owned by root,
 * not writable by group or other, on a path only root can change, and
 * (when empty is true) with nothing in it.
 */
const char *
privsep_chroot_dir_check(const char *dir, bool empty)
{
	char		 real[PATH_MAX];
	const char	*err;

	if (realpath(dir, real) == NULL)
		return privsep_err("%s: %s", dir, strerror(errno));
	if (real[0] != '/')
		return privsep_err("%s: not an absolute path", dir);
	if ((err = privsep_path_check(real)) != NULL)
		return err;
	if (empty)
		return privsep_dir_empty_check(real);
	return NULL;
}

/*
 * privsep_make_empty_dir: create path as an empty chroot directory (root,
 * 0755) unless it exists; then check it.  Not root (development), the
 * directory is just created and owned by the caller.
 */
const char *
privsep_make_empty_dir(const char *path)
{
	struct stat	 st;
	bool		 created = true;
	int		 fd;

	if (mkdir(path, 0755) == -1) {
		if (errno != EEXIST)
			return privsep_err("%s: mkdir: %s", path,
			    strerror(errno));
		created = false;
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return privsep_err("%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		close(fd);
		return privsep_err("%s: fstat: %s", path, strerror(errno));
	}
	/* Fix only what we made: the umask and a set-group-id parent. */
	if (created && ((geteuid() == 0 && fchown(fd, 0, 0) == -1) ||
	    fchmod(fd, 0755) == -1)) {
		close(fd);
		return privsep_err("%s: fchown/fchmod: %s", path,
		    strerror(errno));
	}
	close(fd);
	if (geteuid() != 0)
		return NULL;
	return privsep_chroot_dir_check(path, true);
}
