/*
 * sekishoctl.h: what the modules of sekishoctl share.
 */
#ifndef SEKISHO_SEKISHOCTL_H
#define SEKISHO_SEKISHOCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "conf.h"

/* Must be at least the queue's QUEUE_CTL_MAX_PAYLOAD (smtpd/queue.h). */
#define CTL_MAX_PAYLOAD		(1024 * 1024)
#define CTL_TIMEOUT_MS		30000	/* per reply message */
#define CTL_REQID		1	/* one request per connection */

struct ipc_chan;

int	 ctl_load(const char *, struct sekisho_conf *, bool);
struct ipc_chan *ctl_connect(const char *, char *, size_t);
const char *ctl_safe(char *, size_t, const char *);
const char *ctl_size(char *, size_t, long long);
const char *ctl_time(char *, size_t, time_t);
bool	 ctl_jhas(const json_t *, const char *, int, bool);
const char *ctl_jstr(const json_t *, const char *);
long long ctl_jint(const json_t *, const char *);

int	 cmd_log(const char *, int, char **, bool);
int	 cmd_quarantine(const char *, int, char **, bool);

#endif
