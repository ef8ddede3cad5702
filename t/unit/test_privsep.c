/*
 * test_privsep.c: privsep_drop as root (ids, groups, NoNewPrivs, chroot,
 * no core, as seen from /proc by the parent), its fatal failures, the chroot
 * directory checks, and development mode (a non-root caller).
 *
 * Most of it needs root; without root only development mode is tested and
 * the program exits 77 (ctest: skipped).
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"
#include "test.h"
#include "util.h"

#define T_USER	"_sekisho-smtpd"

/* What the dropped child sees from the inside. */
struct t_report {
	dev_t	 root_dev;
	ino_t	 root_ino;
	int	 passwd_errno;	/* access("/etc/passwd") */
	int	 setuid0;	/* setuid(0) result */
	int	 dumpable;
};

/* t_read_full: read exactly len bytes within 10 s; false on EOF/timeout. */
static bool
t_read_full(int fd, void *p, size_t len)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	size_t		 off = 0;
	ssize_t		 n;

	while (off < len) {
		if (poll(&pfd, 1, 10000) != 1)
			return false;
		if ((n = read(fd, (char *)p + off, len - off)) <= 0) {
			if (n == -1 && (errno == EINTR || errno == EAGAIN))
				continue;
			return false;
		}
		off += (size_t)n;
	}
	return true;
}

/* t_status_field: the trimmed value of "key:" in /proc/pid/status. */
static bool
t_status_field(pid_t pid, const char *key, char *out, size_t outlen)
{
	char	 path[64], line[512];
	size_t	 klen = strlen(key);
	FILE	*f;
	bool	 found = false;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, klen) != 0 || line[klen] != ':')
			continue;
		str_lcpy(out, str_trim(line + klen + 1), outlen);
		found = true;
		break;
	}
	fclose(f);
	return found;
}

/* t_core_limit: "soft hard" of "Max core file size" in /proc/pid/limits. */
static bool
t_core_limit(pid_t pid, char *out, size_t outlen)
{
	char	 path[64], line[512], soft[32], hard[32];
	FILE	*f;
	bool	 found = false;

	snprintf(path, sizeof(path), "/proc/%ld/limits", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Max core file size %31s %31s", soft,
		    hard) == 2) {
			snprintf(out, outlen, "%s %s", soft, hard);
			found = true;
		}
	fclose(f);
	return found;
}

/*
 * t_run_captured: run fn in a child with stderr into err; its wait status.
 */
static int
t_run_captured(void (*fn)(const void *), const void *arg, char *err,
    size_t errlen)
{
	int	 p[2], st = -1;
	size_t	 off = 0;
	ssize_t	 n;
	pid_t	 pid;

	if (pipe(p) == -1 || (pid = fork()) == -1) {
		perror("pipe/fork");
		exit(1);
	}
	if (pid == 0) {
		close(p[0]);
		if (dup2(p[1], STDERR_FILENO) == -1)
			_exit(99);
		fn(arg);
		_exit(0);
	}
	close(p[1]);
	while (off + 1 < errlen &&
	    (n = read(p[0], err + off, errlen - off - 1)) > 0)
		off += (size_t)n;
	err[off] = '\0';
	close(p[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	return st;
}

/* t_rm_one: nftw callback of t_rmtree. */
static int
t_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb;
	(void)flag;
	(void)f;
	return remove(p);
}

/* t_rmtree: remove a temporary tree, without a shell. */
static int
t_rmtree(const char *dir)
{
	return nftw(dir, t_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* t_count: how many times needle occurs in hay. */
static int
t_count(const char *hay, const char *needle)
{
	int	 n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* t_devmode_child: become nobody by hand, then call privsep_drop twice. */
static void
t_devmode_child(const void *arg)
{
	struct rlimit	 rl;
	gid_t		 nogid = 65534;
	uid_t		 nouid = 65534;

	(void)arg;
	if (geteuid() == 0 && (setgroups(1, &nogid) == -1 ||
	    setresgid(nogid, nogid, nogid) == -1 ||
	    setresuid(nouid, nouid, nouid) == -1))
		_exit(10);
	nouid = getuid();
	privsep_drop(T_USER, "/nonexistent/sekisho-chroot");
	privsep_drop(T_USER, NULL);
	if (getuid() != nouid || geteuid() != nouid)
		_exit(11);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		_exit(12);
	if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		_exit(13);
	if (getrlimit(RLIMIT_CORE, &rl) == -1 || rl.rlim_cur != 0 ||
	    rl.rlim_max != 0)
		_exit(14);
	_exit(0);
}

/* Development mode: not root, no failure, one warning, NNP and no core. */
static void
t_devmode(void)
{
	char	 err[8192];
	int	 st;

	st = t_run_captured(t_devmode_child, NULL, err, sizeof(err));
	CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x: %s", st,
	    err);
	CHECKF(t_count(err, "DEVELOPMENT MODE") == 1, "want one warning: %s",
	    err);
	CHECKF(strstr(err, T_USER) != NULL, "user not named: %s", err);
	CHECKF(strstr(err, "lvl=warn") != NULL, "not a warning: %s", err);
}

/* t_drop_child: drop into chroot, report what it sees, wait to be killed. */
static void __attribute__((noreturn))
t_drop_child(int wfd, const char *chroot_dir)
{
	struct t_report	 r;
	struct stat	 st;

	memset(&r, 0, sizeof(r));
	privsep_drop(T_USER, chroot_dir);
	if (stat("/", &st) == 0) {
		r.root_dev = st.st_dev;
		r.root_ino = st.st_ino;
	}
	r.passwd_errno = access("/etc/passwd", F_OK) == -1 ? errno : 0;
	r.setuid0 = setuid(0);
	r.dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (write(wfd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(2);
	for (;;)
		pause();
}

/* t_check_dropped: what /proc says about the dropped child pid. */
static void
t_check_dropped(pid_t pid, const char *chroot_dir, const struct t_report *r)
{
	struct passwd	*pw;
	struct stat	 st;
	char		 want[128], got[256], path[64], real[PATH_MAX];
	ssize_t		 n;

	if ((pw = getpwnam(T_USER)) == NULL) {
		CHECKF(0, "no user %s", T_USER);
		return;
	}
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)pw->pw_uid,
	    (unsigned)pw->pw_uid, (unsigned)pw->pw_uid, (unsigned)pw->pw_uid);
	CHECK(t_status_field(pid, "Uid", got, sizeof(got)));
	CHECK_STREQ(got, want);
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)pw->pw_gid,
	    (unsigned)pw->pw_gid, (unsigned)pw->pw_gid, (unsigned)pw->pw_gid);
	CHECK(t_status_field(pid, "Gid", got, sizeof(got)));
	CHECK_STREQ(got, want);
	snprintf(want, sizeof(want), "%u", (unsigned)pw->pw_gid);
	CHECK(t_status_field(pid, "Groups", got, sizeof(got)));
	CHECK_STREQ(got, want);
	CHECK(t_status_field(pid, "NoNewPrivs", got, sizeof(got)));
	CHECK_STREQ(got, "1");
	CHECK(t_core_limit(pid, got, sizeof(got)));
	CHECK_STREQ(got, "0 0");

	/* Not dumpable: the files in /proc/<pid> belong to root. */
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	CHECK(stat(path, &st) == 0 && st.st_uid == 0);
	CHECK_INTEQ(r->dumpable, 0);
	CHECK_INTEQ(r->setuid0, -1);
	CHECK_INTEQ(r->passwd_errno, ENOENT);

	/* Chrooted: its "/" is the directory, by inode and by /proc. */
	CHECK(realpath(chroot_dir, real) != NULL);
	CHECK(stat(chroot_dir, &st) == 0 && st.st_dev == r->root_dev &&
	    st.st_ino == r->root_ino);
	snprintf(path, sizeof(path), "/proc/%ld/root", (long)pid);
	if ((n = readlink(path, got, sizeof(got) - 1)) == -1 &&
	    errno == EACCES)
		fprintf(stderr, "t_drop_root: %s unreadable (no "
		    "CAP_SYS_PTRACE?), checked by inode only\n", path);
	else {
		CHECK(n > 0);
		got[n > 0 ? n : 0] = '\0';
		CHECK_STREQ(got, real);
	}
}

/* As root: the dropped child, seen from outside. */
static void
t_drop_root(void)
{
	char		 tmp[] = "/tmp/sekisho-privsep.XXXXXX", dir[PATH_MAX];
	struct t_report	 r;
	struct stat	 st;
	int		 p[2], status;
	pid_t		 pid;

	if (geteuid() != 0)
		return;
	CHECK(mkdtemp(tmp) != NULL);
	snprintf(dir, sizeof(dir), "%s/empty", tmp);
	CHECK(privsep_make_empty_dir(dir) == NULL);
	CHECK(privsep_make_empty_dir(dir) == NULL);	/* idempotent */
	CHECK(stat(dir, &st) == 0 && st.st_uid == 0 && st.st_gid == 0 &&
	    (st.st_mode & 07777) == 0755);

	CHECK(pipe(p) == 0);
	fflush(stderr);
	if ((pid = fork()) == 0) {
		close(p[0]);
		t_drop_child(p[1], dir);
	}
	CHECK(pid > 0);
	close(p[1]);
	CHECK(t_read_full(p[0], &r, sizeof(r)));
	t_check_dropped(pid, dir, &r);
	close(p[0]);
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK(rmdir(dir) == 0);
	CHECK(rmdir(tmp) == 0);
}

struct t_fail {
	const char	*user;
	const char	*chroot;
	const char	*want;	/* in the fatal message */
};

/* t_fail_child: a privsep_drop that must not come back. */
static void
t_fail_child(const void *arg)
{
	const struct t_fail *c = arg;

	privsep_drop(c->user, c->chroot);
	_exit(0);
}

/* As root: an unknown user, a missing chroot, root itself are fatal. */
static void
t_drop_failures(void)
{
	static const struct t_fail cases[] = {
		{ "_sekisho-nosuchuser", NULL, "no such user" },
		{ T_USER, "/nonexistent/sekisho-chroot", "chroot(" },
		{ "root", NULL, "refusing" },
	};
	char	 err[4096];
	size_t	 i;
	int	 st;

	if (geteuid() != 0)
		return;
	for (i = 0; i < nitems(cases); i++) {
		st = t_run_captured(t_fail_child, &cases[i], err, sizeof(err));
		CHECKF(WIFEXITED(st) && WEXITSTATUS(st) != 0,
		    "case %s: status %#x", cases[i].user, st);
		CHECKF(strstr(err, cases[i].want) != NULL &&
		    strstr(err, cases[i].user) != NULL &&
		    strstr(err, "lvl=err") != NULL,
		    "case %s: message: %s", cases[i].user, err);
	}
}

struct t_dircase {
	const char	*name;
	const char	*sub;		/* made under name, if not NULL */
	mode_t		 mode;		/* of name */
	uid_t		 owner;		/* of name */
	bool		 file;		/* put a file into the checked dir */
	bool		 empty;		/* check argument */
	const char	*want;		/* NULL: accepted; else in the error */
};

/* As root: privsep_chroot_dir_check accepts and rejects. */
static void
t_chroot_check(void)
{
	static const struct t_dircase cases[] = {
		{ "good", NULL, 0755, 0, false, true, NULL },
		{ "good-0711", NULL, 0711, 0, false, true, NULL },
		{ "grpw", NULL, 0775, 0, false, true, "writable" },
		{ "othw", NULL, 0757, 0, false, false, "writable" },
		{ "sticky-self", NULL, 01777, 0, false, false, "writable" },
		{ "nonempty", NULL, 0755, 0, true, true, "not empty" },
		{ "nonempty-ok", NULL, 0755, 0, true, false, NULL },
		{ "notroot", NULL, 0755, 995, false, true, "not root" },
		{ "open-parent", "in", 0777, 0, false, true, "open-parent" },
		{ "sticky-parent", "in", 01777, 0, false, true, NULL },
		{ "user-parent", "in", 0755, 995, false, true, "not root" },
	};
	char		 tmp[] = "/tmp/sekisho-chroot.XXXXXX";
	char		 dir[PATH_MAX], path[PATH_MAX];
	const char	*err;
	size_t		 i;
	int		 fd;

	if (geteuid() != 0)
		return;
	CHECK(mkdtemp(tmp) != NULL);
	for (i = 0; i < nitems(cases); i++) {
		const struct t_dircase *c = &cases[i];

		CHECK(str_printf(dir, sizeof(dir), "%s/%s", tmp, c->name));
		CHECK(mkdir(dir, 0700) == 0 && chmod(dir, c->mode) == 0 &&
		    chown(dir, c->owner, 0) == 0);
		if (c->sub != NULL) {
			CHECK(str_printf(path, sizeof(path), "%s/%s", dir,
			    c->sub));
			CHECK(mkdir(path, 0755) == 0);
			str_lcpy(dir, path, sizeof(dir));
		}
		if (c->file) {
			CHECK(str_printf(path, sizeof(path), "%s/x", dir));
			CHECK((fd = open(path, O_CREAT | O_WRONLY, 0600)) >= 0);
			close(fd);
		}
		err = privsep_chroot_dir_check(dir, c->empty);
		if (c->want == NULL)
			CHECKF(err == NULL, "case %s: %s", c->name, err);
		else
			CHECKF(err != NULL && strstr(err, c->want) != NULL,
			    "case %s: %s", c->name, err ? err : "accepted");
	}

	/* Not directories, or not there. */
	snprintf(path, sizeof(path), "%s/good/file", tmp);
	CHECK((fd = open(path, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	CHECK((err = privsep_chroot_dir_check(path, false)) != NULL &&
	    strstr(err, "not a directory") != NULL);
	CHECK(privsep_make_empty_dir(path) != NULL);
	snprintf(path, sizeof(path), "%s/missing", tmp);
	CHECK((err = privsep_chroot_dir_check(path, false)) != NULL &&
	    strstr(err, "missing") != NULL);
	/* An existing directory with something in it is not made "empty". */
	snprintf(path, sizeof(path), "%s/nonempty", tmp);
	CHECK((err = privsep_make_empty_dir(path)) != NULL &&
	    strstr(err, "not empty") != NULL);

	CHECK(t_rmtree(tmp) == 0);
}

/* Without root, only development mode ran: report "skipped" to ctest. */
static void
t_finish(void)
{
	if (geteuid() == 0)
		return;
	fprintf(stderr, "%d checks, %d failed; not root: drop tests "
	    "skipped\n", test_checks, test_failures);
	exit(test_failures == 0 ? 77 : 1);
}

TEST_MAIN(t_devmode, t_drop_root, t_drop_failures, t_chroot_check, t_finish)
