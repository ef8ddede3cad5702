/*
 * maildir.c: write one message into one recipient's Maildir, atomically.
 *
 * The file is written under tmp/ with a unique name
 * (<time>.M<usec>P<pid>Q<counter>.<host>), Return-Path: and Delivered-To:
 * first, then the content as spooled (CRLF line ends), fsynced, then
 * linked into new/ and the new/ directory fsynced: a reader sees nothing
 * in new/ until the message is complete and on disk.  Any failure removes
 * the temporary file and is a temporary failure for the caller.
 *
 * Paths are walked with *at() calls and O_NOFOLLOW from a descriptor of
 * the root, and the recipient's directory name comes from maildir_name(),
 * so neither the address nor a symbolic link planted inside a Maildir can
 * take a write outside the root.  Runs in the mta's event loop: these are
 * local-disk operations like the queue's own fsyncs.
 */
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "maildir.h"
#include "util.h"

#define MAILDIR_COPY_CHUNK	(64 * 1024)
#define MAILDIR_HASH_HEX	16	/* hex digits of the hash suffix */

static uint64_t	maildir_counter;

/*
 * maildir_name: the directory name of a recipient into dst (at least
 * MAILDIR_NAME_MAX + 1 bytes).  False only when dst is too small.
 */
bool
maildir_name(char *dst, size_t size, const char *rcpt)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			 full[3 * 1024 + 1];
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen;
	size_t			 i, o = 0, cut;
	unsigned char		 c;
	bool			 dots = true;

	if (size < MAILDIR_NAME_MAX + 1)
		return false;
	for (i = 0; rcpt[i] != '\0' && o + 3 < sizeof(full); i++) {
		c = (unsigned char)rcpt[i];
		if (c >= 'A' && c <= 'Z')
			c = c - 'A' + 'a';
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    strchr("._+=@-", c) != NULL)
			full[o++] = (char)c;
		else {
			full[o++] = '%';
			full[o++] = hex[c >> 4];
			full[o++] = hex[c & 15];
		}
		if (c != '.')
			dots = false;
	}
	full[o] = '\0';
	/* "", "." and "..": nothing but dots is not a name. */
	if (dots) {
		o = 0;
		for (i = 0; rcpt[i] != '\0' && o + 3 < sizeof(full); i++) {
			memcpy(full + o, "%2E", 3);
			o += 3;
		}
		if (o == 0) {
			memcpy(full, "%00", 3);
			o = 3;
		}
		full[o] = '\0';
	}
	if (o <= MAILDIR_NAME_MAX) {
		str_lcpy(dst, full, size);
		return true;
	}
	/* Too long: a prefix (not cutting a %XX) and a hash of the whole. */
	if (EVP_Digest(rcpt, strlen(rcpt), md, &mdlen, EVP_sha256(), NULL) != 1)
		memset(md, 0, sizeof(md));
	cut = MAILDIR_NAME_MAX - 1 - MAILDIR_HASH_HEX;
	if (full[cut - 1] == '%')
		cut -= 1;
	else if (cut >= 2 && full[cut - 2] == '%')
		cut -= 2;
	memcpy(dst, full, cut);
	dst[cut++] = '#';
	for (i = 0; i < MAILDIR_HASH_HEX / 2; i++) {
		dst[cut++] = hex[md[i] >> 4];
		dst[cut++] = hex[md[i] & 15];
	}
	dst[cut] = '\0';
	return true;
}

/* maildir_host: the host name as Maildir file names want it. */
static void
maildir_host(char *dst, size_t size, const char *host)
{
	size_t	 i, o = 0;
	char	 c;

	for (i = 0; host[i] != '\0' && o + 1 < size; i++) {
		c = host[i];
		dst[o++] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-') ? c : '_';
	}
	dst[o] = '\0';
	if (o == 0)
		str_lcpy(dst, "localhost", size);
}

/* maildir_subdir: mkdir (0700, may exist) then open a directory at dfd. */
static int
maildir_subdir(int dfd, const char *name, bool *created)
{
	if (mkdirat(dfd, name, 0700) == 0)
		*created = true;
	else if (errno != EEXIST)
		return -1;
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
}

/* maildir_write_all: n bytes to fd. */
static bool
maildir_write_all(int fd, const void *p, size_t n)
{
	const char	*c = p;
	ssize_t		 w;

	while (n > 0) {
		if ((w = write(fd, c, n)) == -1) {
			if (errno == EINTR)
				continue;
			return false;
		}
		c += w;
		n -= (size_t)w;
	}
	return true;
}

/* maildir_header_value: v with control bytes replaced (header safety). */
static void
maildir_header_value(char *dst, size_t size, const char *v)
{
	size_t	 i;

	str_lcpy(dst, v, size);
	for (i = 0; dst[i] != '\0'; i++)
		if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f)
			dst[i] = '?';
}

/* maildir_write: the added header fields, then the content. */
static bool
maildir_write(int fd, const struct maildir_msg *m, char *err, size_t errlen)
{
	char		 hdr[2200], s[1024], r[1024];
	static char	 buf[MAILDIR_COPY_CHUNK];
	uint64_t	 off = 0;
	ssize_t		 n;
	size_t		 want;

	maildir_header_value(s, sizeof(s), m->sender);
	maildir_header_value(r, sizeof(r), m->rcpt);
	if (!str_printf(hdr, sizeof(hdr), "Return-Path: <%s>\r\n"
	    "Delivered-To: %s\r\n", s, r) ||
	    !maildir_write_all(fd, hdr, strlen(hdr)))
		goto fail;
	while (off < m->size) {
		want = m->size - off < sizeof(buf) ? (size_t)(m->size - off) :
		    sizeof(buf);
		n = pread(m->fd, buf, want, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			(void)str_printf(err, errlen, "reading the content: %s",
			    n == 0 ? "shorter than its size" : strerror(errno));
			return false;
		}
		if (!maildir_write_all(fd, buf, (size_t)n))
			goto fail;
		off += (uint64_t)n;
	}
	if (fsync(fd) == -1)
		goto fail;
	return true;
fail:
	(void)str_printf(err, errlen, "writing the message: %s",
	    strerror(errno));
	return false;
}

/* maildir_unique: <time>.M<usec>P<pid>Q<counter>.<host> into dst. */
static bool
maildir_unique(char *dst, size_t size, const char *host)
{
	struct timeval	 tv;
	char		 h[256];

	gettimeofday(&tv, NULL);
	maildir_host(h, sizeof(h), host != NULL ? host : "");
	return str_printf(dst, size, "%lld.M%06ldP%ldQ%llu.%s",
	    (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
	    (unsigned long long)++maildir_counter, h);
}

/*
 * maildir_deliver: one copy of the message into the recipient's Maildir
 * below m->root.  0 on success (where: "<name>/new/<file>"), -1 with the
 * reason in err (always a temporary failure).
 */
int
maildir_deliver(const struct maildir_msg *m, char *where, size_t wlen,
    char *err, size_t errlen)
{
	char	 name[MAILDIR_NAME_MAX + 1], file[512];
	int	 root = -1, dir = -1, tmp = -1, new = -1, fd = -1, ret = -1;
	bool	 mkroot = false, mksub = false;
	const char *what = "";

	if (wlen > 0)
		where[0] = '\0';
	if (!maildir_name(name, sizeof(name), m->rcpt) ||
	    !maildir_unique(file, sizeof(file), m->host)) {
		(void)str_printf(err, errlen, "name too long");
		return -1;
	}
	what = m->root;
	if ((root = open(m->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto syserr;
	what = name;
	if ((dir = maildir_subdir(root, name, &mkroot)) == -1)
		goto syserr;
	what = "tmp/new/cur";
	if ((tmp = maildir_subdir(dir, "tmp", &mksub)) == -1 ||
	    (new = maildir_subdir(dir, "new", &mksub)) == -1 ||
	    (fd = maildir_subdir(dir, "cur", &mksub)) == -1)
		goto syserr;
	(void)close(fd);
	/* New directories must survive a crash as well as the file. */
	if ((mksub && fsync(dir) == -1) || (mkroot && fsync(root) == -1))
		goto syserr;
	what = file;
	if ((fd = openat(tmp, file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		goto syserr;
	if (!maildir_write(fd, m, err, errlen))
		goto unlink;
	if (close(fd) == -1) {
		fd = -1;
		(void)str_printf(err, errlen, "closing the message: %s",
		    strerror(errno));
		goto unlink;
	}
	fd = -1;
	if (m->before_link != NULL)
		m->before_link(dir, file, m->arg);
	if (linkat(tmp, file, new, file, 0) == -1 || fsync(new) == -1) {
		(void)str_printf(err, errlen, "publishing %s: %s", file,
		    strerror(errno));
		(void)unlinkat(new, file, 0);
		goto unlink;
	}
	(void)unlinkat(tmp, file, 0);
	(void)str_printf(where, wlen, "%s/new/%s", name, file);
	ret = 0;
	goto out;
syserr:
	(void)str_printf(err, errlen, "%s: %s", what, strerror(errno));
	goto out;
unlink:
	(void)unlinkat(tmp, file, 0);
out:
	if (fd != -1)
		(void)close(fd);
	if (new != -1)
		(void)close(new);
	if (tmp != -1)
		(void)close(tmp);
	if (dir != -1)
		(void)close(dir);
	if (root != -1)
		(void)close(root);
	return ret;
}
