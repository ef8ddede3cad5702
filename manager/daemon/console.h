/*
 * console.h: the administration console and JSON API of sekisho-manager
 * over HTTPS (DESIGN.md: port 8445; docs/manager.md "Console and JSON
 * API").
 *
 * console.c runs it in a helper process (mchild.c: manager_user, chroot
 * DATA_DIR/empty) that holds the listening socket, the TLS context and
 * the administrators' password hashes, all prepared by the manager as
 * root.  It authenticates each request and turns the API's calls into
 * the manager's control requests (IMSG_MGR_STATUS, _START, _STOP,
 * _RESTART, IMSG_CTL_RELOAD, IMSG_MGR_SYNC, IMSG_MGR_HOSTS) over a
 * socket pair, which the manager serves like a sekishoctl connection
 * (mgr_console_client).
 */
#ifndef SEKISHO_CONSOLE_H
#define SEKISHO_CONSOLE_H

#include <sys/types.h>

#include <stdbool.h>

struct event_base;
struct sekisho_conf;

/* managerd.c: the console's end of its socket pair, served as a client. */
void	 mgr_console_client(int);

/* console.c, called by managerd.c like central.c's functions. */
void	 console_init(struct event_base *, bool);
void	 console_configure(const struct sekisho_conf *);
bool	 console_reaped(pid_t, int);
void	 console_stop(void);
bool	 console_stopped(void);
void	 console_free(void);

#endif
