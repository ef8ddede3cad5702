/*
 * netc.h: blocking stream connections with a deadline, for the scan
 * workers' peers (clamd, rspamd): an address given as "unix:/path",
 * "host:port" or "[v6addr]:port", resolved once in the scanner parent,
 * and connect, send and receive that never wait past a deadline.
 */
#ifndef SEKISHO_NETC_H
#define SEKISHO_NETC_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct netc_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 text[300];	/* as configured */
};

int	 netc_resolve(const char *, struct netc_addr *, char *, size_t);
bool	 netc_is_unix(const struct netc_addr *);
int64_t	 netc_now_ms(void);
int	 netc_connect(const struct netc_addr *, int64_t);
int	 netc_send(int, const void *, size_t, int64_t);
ssize_t	 netc_recv(int, void *, size_t, int64_t);

#endif
