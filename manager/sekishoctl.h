/*
 * sekishoctl.h: what the modules of sekishoctl share.
 */
#ifndef SEKISHO_SEKISHOCTL_H
#define SEKISHO_SEKISHOCTL_H

#include <stdbool.h>

#include "conf.h"

int	 ctl_load(const char *, struct sekisho_conf *, bool);
int	 cmd_log(const char *, int, char **, bool);

#endif
