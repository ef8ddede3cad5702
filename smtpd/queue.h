/*
 * queue.h: the queue process of sekisho-smtpd, sole owner of the spool.
 */
#ifndef SEKISHO_QUEUE_H
#define SEKISHO_QUEUE_H

#include "proc.h"

int	 queue_main(const struct proc_def *, const int *, void *);

#endif
