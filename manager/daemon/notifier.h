/*
 * notifier.h: sekisho-manager's system event notices to the administrator
 * (docs/manager.md, "Notifications"; seed 23): service deaths, a service
 * that keeps dying, the disk of data_dir nearly full, a growing queue,
 * failed scans (the scan server's count, asked with scanq.c).
 * Mailed through the local sekisho-smtpd without ever blocking the loop;
 * rate-limited per kind and service; kept and retried while smtpd is
 * down.
 */
#ifndef SEKISHO_NOTIFIER_H
#define SEKISHO_NOTIFIER_H

#include <stdint.h>

#include <event2/event.h>

#include "conf.h"
#include "svc.h"

void	 notifier_init(struct event_base *);
void	 notifier_configure(const struct sekisho_conf *);
void	 notifier_died(const struct svc *, int, int64_t, int64_t,
	    const char *);
void	 notifier_free(void);

#endif
