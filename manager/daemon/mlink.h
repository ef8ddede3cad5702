/*
 * mlink.h: the manager's link process and the parent's side of the
 * central controller's push (docs/central.md "The push").
 *
 * mlink.c is the unprivileged child that holds the network: on a scanner
 * host it accepts the controller's TLS connections on scanner_ip_addr:
 * agent_port, on a controller it connects to each registered host.  It
 * never touches a file: what a request means (the host's state, applying
 * a bundle, recording what a host said) is decided by the parent
 * (central.c), over the IMSG_LINK_* messages.
 */
#ifndef SEKISHO_MLINK_H
#define SEKISHO_MLINK_H

#include <sys/types.h>

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct event_base;
struct ipc_chan;
struct sekisho_conf;

#define LINK_MAX_PAYLOAD	(BUNDLE_MAX_SIZE + 4096)

/* The child: runs until the parent closes its channel; exit status. */
int	 mlink_main(int, int, SSL_CTX *, SSL_CTX *);

/* The parent (central.c), called from managerd.c. */
typedef bool	(*central_reload_fn)(char *, size_t);

void	 central_init(struct event_base *, central_reload_fn, bool);
void	 central_configure(const struct sekisho_conf *);
bool	 central_reaped(pid_t, int);
void	 central_sync(struct ipc_chan *, uint64_t);
void	 central_hosts(struct ipc_chan *, uint64_t);
void	 central_client_gone(struct ipc_chan *);
void	 central_stop(void);
bool	 central_stopped(void);
void	 central_free(void);

#endif
