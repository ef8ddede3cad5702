/*
 * netc.c: stream connections with a deadline (netc.h).
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "netc.h"
#include "util.h"

/* netc_split: "host:port" or "[v6]:port" into host and port. */
static const char *
netc_split(const char *spec, char *host, size_t hostlen)
{
	const char	*port, *h;
	size_t		 hlen;

	if (spec[0] == '[') {
		h = spec + 1;
		if ((port = strstr(h, "]:")) == NULL)
			return NULL;
		hlen = (size_t)(port - h);
		port += 2;
	} else {
		h = spec;
		if ((port = strrchr(spec, ':')) == NULL)
			return NULL;
		hlen = (size_t)(port - h);
		port += 1;
		if (memchr(h, ':', hlen) != NULL)
			return NULL;	/* bare IPv6: needs brackets */
	}
	if (*port == '\0' || hlen == 0 || hlen >= hostlen)
		return NULL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	return port;
}

/*
 * netc_resolve: spec ("unix:/path", "host:port", "[v6]:port") into a;
 * a name is resolved here, once.  0, or -1 with the reason in err.
 */
int
netc_resolve(const char *spec, struct netc_addr *a, char *err,
    size_t errlen)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;
	struct addrinfo	 hints, *ai;
	char		 host[256];
	const char	*port;
	int		 rc;

	memset(a, 0, sizeof(*a));
	str_lcpy(a->text, spec, sizeof(a->text));
	if (strncmp(spec, "unix:", 5) == 0) {
		sun->sun_family = AF_UNIX;
		if (spec[5] != '/' ||
		    str_lcpy(sun->sun_path, spec + 5, sizeof(sun->sun_path)) >=
		    sizeof(sun->sun_path)) {
			str_printf(err, errlen, "bad socket path %s", spec);
			return -1;
		}
		a->len = sizeof(*sun);
		return 0;
	}
	if ((port = netc_split(spec, host, sizeof(host))) == NULL) {
		str_printf(err, errlen, "bad address %s (unix:/path, "
		    "host:port or [addr]:port)", spec);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		str_printf(err, errlen, "address %s: %s", spec,
		    gai_strerror(rc));
		return -1;
	}
	memcpy(&a->ss, ai->ai_addr, ai->ai_addrlen);
	a->len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* netc_is_unix: the address is a Unix socket. */
bool
netc_is_unix(const struct netc_addr *a)
{
	return a->ss.ss_family == AF_UNIX;
}

/* netc_now_ms: a monotonic clock in milliseconds. */
int64_t
netc_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* netc_deadline: socket timeouts for what is left (-1: none left). */
static int
netc_deadline(int fd, int64_t deadline)
{
	struct timeval	 tv;
	int64_t		 left = deadline - netc_now_ms();

	if (left <= 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1)
		return -1;
	return 0;
}

/* netc_connect: a connected socket, or -1 with errno. */
int
netc_connect(const struct netc_addr *a, int64_t deadline)
{
	int	 fd, saved;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	/* SO_SNDTIMEO bounds a blocking connect() on Linux too. */
	if (netc_deadline(fd, deadline) == -1 ||
	    connect(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		saved = errno == EINPROGRESS ? ETIMEDOUT : errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* netc_send: send everything before the deadline (-1 with errno). */
int
netc_send(int fd, const void *data, size_t len, int64_t deadline)
{
	const char	*p = data;
	ssize_t		 n;

	while (len > 0) {
		if (netc_deadline(fd, deadline) == -1)
			return -1;
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			errno = ETIMEDOUT;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* netc_recv: one receive before the deadline; 0 at EOF, -1 with errno. */
ssize_t
netc_recv(int fd, void *buf, size_t size, int64_t deadline)
{
	ssize_t	 n;

	for (;;) {
		if (netc_deadline(fd, deadline) == -1)
			return -1;
		n = recv(fd, buf, size, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			errno = ETIMEDOUT;
		return n;
	}
}
