/*
 * test_proc.c: a proc table of parent + two children (pairs parent-a,
 * parent-b, a-b): data flows over every pair, each child holds only its
 * own descriptors, runs as its declared user (when root), and proc_reap
 * names the child that died.  A bad table is fatal.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "privsep.h"
#include "proc.h"
#include "test.h"
#include "util.h"

enum { T_PARENT = PROC_PARENT, T_A, T_B };

#define T_REC		32	/* every message is one fixed-size record */
#define T_USER_A	"_sekisho-smtpd"
#define T_USER_B	"_sekisho-queue"

/* t_io: move exactly T_REC bytes over a nonblocking fd within 10 s. */
static bool
t_io(int fd, char *rec, bool out)
{
	struct pollfd	 pfd = { fd, out ? POLLOUT : POLLIN, 0 };
	size_t		 off = 0;
	ssize_t		 n;

	while (off < T_REC) {
		if (poll(&pfd, 1, 10000) != 1)
			return false;
		n = out ? write(fd, rec + off, T_REC - off) :
		    read(fd, rec + off, T_REC - off);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

/* t_send: one record holding s. */
static bool
t_send(int fd, const char *s)
{
	char	 rec[T_REC] = { 0 };

	str_lcpy(rec, s, sizeof(rec));
	return t_io(fd, rec, true);
}

/* t_recv: one record into rec (T_REC + 1 bytes, terminated). */
static bool
t_recv(int fd, char *rec)
{
	rec[T_REC] = '\0';
	return t_io(fd, rec, false);
}

/* t_self_fds: descriptors open in this process, by probing (works chrooted). */
static int
t_self_fds(void)
{
	int	 fd, n = 0;

	for (fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

/*
 * t_child: greet the sibling, report the sibling's greeting and our count
 * of descriptors to the parent, then echo the parent's records back with
 * our name until it hangs up.
 */
static int
t_child(const struct proc_def *self, const int *fds, void *arg)
{
	char	 rec[T_REC + 1], out[T_REC + 1];
	int	 peer = self->id == T_A ? T_B : T_A;

	(void)arg;
	if (!str_printf(out, sizeof(out), "from-%s", self->name) ||
	    !t_send(fds[peer], out) || !t_recv(fds[peer], rec))
		return 2;
	if (!str_printf(out, sizeof(out), "%s got %s", self->name, rec) ||
	    !t_send(fds[T_PARENT], out))
		return 3;
	if (!str_printf(out, sizeof(out), "fds=%d", t_self_fds()) ||
	    !t_send(fds[T_PARENT], out))
		return 3;
	while (t_recv(fds[T_PARENT], rec))
		if (!str_printf(out, sizeof(out), "%s:%s", self->name, rec) ||
		    !t_send(fds[T_PARENT], out))
			return 4;
	return 0;
}

/* t_fd_count: entries in /proc/pid/fd, -1 if unreadable. */
static int
t_fd_count(pid_t pid)
{
	char		 path[64];
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* t_uid_line: the "Uid:" line of /proc/pid/status, trimmed. */
static bool
t_uid_line(pid_t pid, char *out, size_t outlen)
{
	char	 path[64], line[256];
	FILE	*f;
	bool	 found = false;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Uid:", 4) == 0) {
			str_lcpy(out, str_trim(line + 4), outlen);
			found = true;
		}
	fclose(f);
	return found;
}

/* t_check_user: pid runs as user, all four uids. */
static void
t_check_user(pid_t pid, const char *user)
{
	struct passwd	*pw;
	char		 want[64], got[256];
	unsigned	 u;

	if ((pw = getpwnam(user)) == NULL) {
		CHECKF(0, "no user %s", user);
		return;
	}
	u = (unsigned)pw->pw_uid;
	snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", u, u, u, u);
	CHECK(t_uid_line(pid, got, sizeof(got)));
	CHECK_STREQ(got, want);
}

/* t_reap_wait: proc_reap until a child shows up (5 s at most). */
static int
t_reap_wait(struct proc_set *ps, int *status)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	int		 id, i;

	for (i = 0; i < 500; i++) {
		if ((id = proc_reap(ps, status)) != PROC_NONE)
			return id;
		nanosleep(&ts, NULL);
	}
	return PROC_NONE;
}

/* t_std_open: how many of fds 0-2 this process has open. */
static int
t_std_open(void)
{
	int	 fd, n = 0;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

/* The whole life of a three-process table. */
static void
t_proc_table(void)
{
	char		 tmp[] = "/tmp/sekisho-proc.XXXXXX", dir[PATH_MAX];
	char		 rec[T_REC + 1];
	struct proc_def	 defs[] = {
		{ T_PARENT, "parent", NULL, NULL, NULL },
		{ T_A, "a", T_USER_A, dir, t_child },
		{ T_B, "b", T_USER_B, NULL, t_child },
	};
	static const struct proc_pair pairs[] = {
		{ T_PARENT, T_A }, { T_PARENT, T_B }, { T_A, T_B },
	};
	struct proc_set	 ps = { "test", defs, nitems(defs), pairs,
	    nitems(pairs), true, { 0 }, { 0 } };
	int		 junk[4], i, id, st, nstd = t_std_open();
	char		 fds_want[T_REC];

	CHECK(str_printf(fds_want, sizeof(fds_want), "fds=%d", nstd + 2));
	CHECK(mkdtemp(tmp) != NULL);
	CHECK(str_printf(dir, sizeof(dir), "%s/empty", tmp));
	CHECK(privsep_make_empty_dir(dir) == NULL);
	/* Inherited descriptors that no child may keep. */
	CHECK(pipe(junk) == 0);
	CHECK((junk[2] = open("/dev/null", O_RDONLY)) >= 0);
	CHECK((junk[3] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);

	proc_start(&ps, NULL);
	CHECK(ps.pid[T_A] > 0 && ps.pid[T_B] > 0 && ps.pid[T_PARENT] == 0);
	CHECK(ps.fd[T_A] >= 0 && ps.fd[T_B] >= 0 && ps.fd[T_PARENT] == -1);
	for (i = 3; i < PROC_MAX; i++)
		CHECK_INTEQ(ps.fd[i], -1);
	CHECK((fcntl(ps.fd[T_A], F_GETFL) & O_NONBLOCK) != 0);
	CHECK((fcntl(ps.fd[T_A], F_GETFD) & FD_CLOEXEC) != 0);

	/* Sibling to sibling, then parent to each child and back. */
	CHECK(t_recv(ps.fd[T_A], rec));
	CHECK_STREQ(rec, "a got from-b");
	CHECK(t_recv(ps.fd[T_A], rec));
	CHECK_STREQ(rec, fds_want);
	CHECK(t_recv(ps.fd[T_B], rec));
	CHECK_STREQ(rec, "b got from-a");
	CHECK(t_recv(ps.fd[T_B], rec));
	CHECK_STREQ(rec, fds_want);
	CHECK(t_send(ps.fd[T_A], "ping") && t_recv(ps.fd[T_A], rec));
	CHECK_STREQ(rec, "a:ping");
	CHECK(t_send(ps.fd[T_B], "pong") && t_recv(ps.fd[T_B], rec));
	CHECK_STREQ(rec, "b:pong");

	/*
	 * stdin/out/err plus one end per peer, nothing inherited: as the
	 * children counted, and as /proc says (root only: the children are
	 * not dumpable, so their /proc/<pid>/fd is root's).
	 */
	if (geteuid() == 0) {
		CHECK_INTEQ(t_fd_count(ps.pid[T_A]), nstd + 2);
		CHECK_INTEQ(t_fd_count(ps.pid[T_B]), nstd + 2);
		t_check_user(ps.pid[T_A], T_USER_A);
		t_check_user(ps.pid[T_B], T_USER_B);
	}

	/* A killed child is named by proc_reap; a hung-up one exits 0. */
	CHECK(kill(ps.pid[T_B], SIGKILL) == 0);
	id = t_reap_wait(&ps, &st);
	CHECK_INTEQ(id, T_B);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	CHECK_INTEQ(ps.pid[T_B], 0);
	close(ps.fd[T_A]);
	id = t_reap_wait(&ps, &st);
	CHECK_INTEQ(id, T_A);
	CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	CHECK_INTEQ(proc_reap(&ps, &st), PROC_NONE);
	CHECK_STREQ(proc_name(&ps, T_B), "b");
	CHECK_STREQ(proc_name(&ps, 7), "?");

	close(ps.fd[T_B]);
	for (i = 0; i < 4; i++)
		close(junk[i]);
	CHECK(rmdir(dir) == 0 && rmdir(tmp) == 0);
}

/* A table that breaks the rules (a pair with itself) is fatal. */
static void
t_proc_bad_table(void)
{
	struct proc_def	 defs[] = {
		{ T_PARENT, "parent", NULL, NULL, NULL },
		{ T_A, "a", T_USER_A, NULL, t_child },
	};
	static const struct proc_pair pairs[] = { { T_A, T_A } };
	struct proc_set	 ps = { "test", defs, nitems(defs), pairs,
	    nitems(pairs), true, { 0 }, { 0 } };
	pid_t		 pid;
	int		 st = -1, devnull;

	fflush(stderr);
	if ((pid = fork()) == 0) {
		/* Keep the expected fatal line out of the test output. */
		if ((devnull = open("/dev/null", O_WRONLY)) >= 0)
			dup2(devnull, STDERR_FILENO);
		proc_start(&ps, NULL);
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %#x", st);
}

TEST_MAIN(t_proc_table, t_proc_bad_table)
