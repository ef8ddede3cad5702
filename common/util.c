/*
 * util.c: bounded string helpers, strict integer parsing, struct buf.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "xmalloc.h"

/* str_lcpy: copy with truncation; returns strlen(src) (>= size: truncated). */
size_t
str_lcpy(char *dst, const char *src, size_t size)
{
	size_t	 n = strlen(src);

	if (size > 0) {
		size_t	 c = n < size - 1 ? n : size - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

/* str_lcat: append with truncation; returns the length it tried to make. */
size_t
str_lcat(char *dst, const char *src, size_t size)
{
	size_t	 d = strnlen(dst, size);

	if (d == size)
		return size + strlen(src);
	return d + str_lcpy(dst + d, src, size - d);
}

/* str_printf: snprintf that reports truncation or error as false. */
bool
str_printf(char *dst, size_t size, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < size;
}

/*
 * str_fail: the reason, formatted into err (err may be empty: errlen 0),
 * for functions that fail with -1 and a message; returns -1.
 */
int
str_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (errlen == 0)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * str_expand: tmpl into dst (size bytes) with every token replaced by its
 * value; pairs holds npairs (token, value) pairs, e.g. { "%CLIENT_IP%",
 * ip }.  Control characters in a value become '?', so a value from outside
 * cannot end an SMTP reply line.  False when dst was too small (it then
 * holds as much as fitted).
 */
bool
str_expand(char *dst, size_t size, const char *tmpl,
    const char *const *pairs, size_t npairs)
{
	const char	*v;
	size_t		 i, o = 0, tl;

	if (size == 0)
		return false;
	while (*tmpl != '\0') {
		for (i = 0; i < npairs; i++) {
			tl = strlen(pairs[2 * i]);
			if (tl > 0 && strncmp(tmpl, pairs[2 * i], tl) == 0)
				break;
		}
		if (i == npairs) {
			if (o + 1 >= size)
				goto full;
			dst[o++] = *tmpl++;
			continue;
		}
		tmpl += tl;
		for (v = pairs[2 * i + 1]; *v != '\0'; v++) {
			if (o + 1 >= size)
				goto full;
			dst[o++] = ((unsigned char)*v < 0x20 || *v == 0x7f) ?
			    '?' : *v;
		}
	}
	dst[o] = '\0';
	return true;
full:
	dst[o] = '\0';
	return false;
}

/* str_trim: strip leading and trailing ASCII white space in place. */
char *
str_trim(char *s)
{
	char	*e;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/*
 * str_to_ll: parse a whole decimal integer in [min, max].  No leading
 * white space, no trailing garbage, no empty string, no overflow.
 */
bool
str_to_ll(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;

	if (*s == '\0' || isspace((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* str_hexval: the value of one hex digit (either case), -1 if not one. */
int
str_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* fd_write_all: write the whole buffer, retrying short writes; 0 or -1. */
int
fd_write_all(int fd, const void *p, size_t len)
{
	const char *c = p;
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, c, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * file_write_atomic: replace path with data, mode bits given, so a crash
 * leaves the old file or the new one: write "path.tmpPID" (O_EXCL,
 * O_NOFOLLOW), fsync it, rename it over path, fsync the directory.
 * 0, or -1 with errno (the temporary file removed).
 */
int
file_write_atomic(const char *path, const void *data, size_t len,
    unsigned mode)
{
	char	 tmp[4096], dir[4096], *slash;
	int	 fd, dfd, saved;

	if (!str_printf(tmp, sizeof(tmp), "%s.tmp%ld", path, (long)getpid()) ||
	    str_lcpy(dir, path, sizeof(dir)) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((slash = strrchr(dir, '/')) == NULL)
		str_lcpy(dir, ".", sizeof(dir));
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, (mode_t)mode)) == -1)
		return -1;
	if (fchmod(fd, (mode_t)mode) == -1 || fd_write_all(fd, data, len) == -1 ||
	    fsync(fd) == -1) {
		saved = errno;
		close(fd);
		(void)unlink(tmp);
		errno = saved;
		return -1;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		saved = errno;
		(void)unlink(tmp);
		errno = saved;
		return -1;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (fsync(dfd) == -1) {
		saved = errno;
		close(dfd);
		errno = saved;
		return -1;
	}
	return close(dfd);
}

/*
 * fd_copy_range: copy up to len bytes of from, starting at offset off,
 * to the current position of to (len UINT64_MAX: to the end of from).
 * The bytes copied go to *copied when it is not NULL.  0, or -1 with
 * errno (EIO when from ends before len bytes).
 */
int
fd_copy_range(int from, uint64_t off, uint64_t len, int to,
    uint64_t *copied)
{
	char	 b[65536];
	ssize_t	 n;
	uint64_t done = 0;
	size_t	 want;

	while (done < len) {
		want = len - done < sizeof(b) ? (size_t)(len - done) :
		    sizeof(b);
		if ((n = pread(from, b, want, (off_t)(off + done))) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			if (len != UINT64_MAX) {
				errno = EIO;
				return -1;
			}
			break;
		}
		if (fd_write_all(to, b, (size_t)n) == -1)
			return -1;
		done += (uint64_t)n;
	}
	if (copied != NULL)
		*copied = done;
	return 0;
}

/*
 * fd_read_whole: the regular file open on fd (closed here), whole, NUL
 * terminated; NULL with errno set (EFBIG when over max, EINVAL when not a
 * regular file).
 */
static char *
fd_read_whole(int fd, size_t max, size_t *lenp)
{
	struct stat st;
	char	*p;
	ssize_t	 n;
	size_t	 off = 0;
	int	 err = 0;

	if (fstat(fd, &st) == -1)
		err = errno;
	else if (!S_ISREG(st.st_mode))
		err = EINVAL;
	else if ((size_t)st.st_size > max)
		err = EFBIG;
	if (err != 0) {
		close(fd);
		errno = err;
		return NULL;
	}
	p = xmalloc((size_t)st.st_size + 1);
	while (off < (size_t)st.st_size) {
		if ((n = read(fd, p + off, (size_t)st.st_size - off)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	p[off] = '\0';
	*lenp = off;
	return p;
}

/*
 * file_read_at: a whole small regular file relative to dirfd (no
 * symlinks), NUL terminated; NULL with errno set (EFBIG when over max,
 * EINVAL when not a regular file).
 */
char *
file_read_at(int dirfd, const char *name, size_t max, size_t *lenp)
{
	int	 fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1)
		return NULL;
	return fd_read_whole(fd, max, lenp);
}

/* file_read: as file_read_at, for a path (symlinks followed). */
char *
file_read(const char *path, size_t max, size_t *lenp)
{
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		return NULL;
	return fd_read_whole(fd, max, lenp);
}

/* dir_open_sub: create (if needed, mode 0700) and open a directory below dirfd. */
int
dir_open_sub(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0700) == -1 && errno != EEXIST)
		return -1;
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
}

/* mem_8bit: whether any of the len bytes has the high bit set. */
bool
mem_8bit(const void *p, size_t len)
{
	const uint8_t *c = p;
	size_t	 i;

	for (i = 0; i < len; i++)
		if (c[i] & 0x80)
			return true;
	return false;
}

/*
 * date_rfc5322: an RFC 5322 date-time in local time with its numeric
 * offset (never GMT for a local zone: seed 2); false if t does not fit.
 */
bool
date_rfc5322(char *dst, size_t size, time_t t)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
	    "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm	 tm;
	long		 off;
	char		 sign = '+';

	if (localtime_r(&t, &tm) == NULL || tm.tm_year < 0 ||
	    tm.tm_year > 9999 - 1900 || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11)
		return false;
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	return str_printf(dst, size, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
	    off / 60 % 100, off % 60);
}

/* buf_init: an empty buffer that will never hold more than limit bytes. */
void
buf_init(struct buf *b, size_t limit)
{
	memset(b, 0, sizeof(*b));
	b->limit = limit;
}

/* buf_free: release the storage; the buffer is empty and reusable. */
void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* buf_reset: forget the contents but keep the storage. */
void
buf_reset(struct buf *b)
{
	b->len = 0;
}

/* buf_add: append len bytes; false (and no change) past the limit. */
bool
buf_add(struct buf *b, const void *p, size_t len)
{
	size_t	 ncap;

	if (len > b->limit || b->len > b->limit - len)
		return false;
	/* Keep one spare byte so buf_cstr can always terminate. */
	if (b->len + len + 1 > b->cap) {
		ncap = b->cap ? b->cap : 64;
		while (ncap < b->len + len + 1)
			ncap *= 2;
		b->data = xreallocarray(b->data, ncap, 1);
		b->cap = ncap;
	}
	if (len > 0)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	return true;
}

/* buf_addstr: append a C string without its terminator. */
bool
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* buf_printf: append formatted text; false (and no change) past the limit. */
bool
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	bool	 ok;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	ok = buf_addstr(b, s);
	free(s);
	return ok;
}

/* buf_consume: drop n bytes from the front. */
void
buf_consume(struct buf *b, size_t n)
{
	if (n > b->len)
		fatalx("buf_consume: %zu > %zu", n, b->len);
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

/* buf_cstr: the contents as a NUL-terminated string (contents may hold NULs). */
const char *
buf_cstr(struct buf *b)
{
	if (b->data == NULL)
		return "";
	b->data[b->len] = '\0';
	return (const char *)b->data;
}

/*
 * buf_take_str: the contents as a malloc'd NUL-terminated string that
 * now belongs to the caller; the buffer is left empty.
 */
char *
buf_take_str(struct buf *b)
{
	char	*s;

	if (b->data == NULL)
		return xstrdup("");
	b->data[b->len] = '\0';
	s = (char *)b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return s;
}
