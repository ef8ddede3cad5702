/*
 * privsep.h: dropping privileges, in the one fixed order of STYLE.md.
 *
 * privsep_drop() is the only way a sekisho process gives up root: look up
 * the user (and its primary group) -> chroot + chdir("/") -> setgroups ->
 * setresgid -> setresuid -> PR_SET_NO_NEW_PRIVS -> no core dumps -> verify.
 * Any failure is fatal and names the step and the user.
 *
 * Run as non-root (development), privsep_drop() changes no ids and does not
 * chroot, but still sets NoNewPrivs and disables core dumps, and logs one
 * loud warning per process.
 *
 * The two directory helpers return NULL when all is well, or a message
 * (in a static buffer, valid until the next call) for the caller to report.
 */
#ifndef SEKISHO_PRIVSEP_H
#define SEKISHO_PRIVSEP_H

#include <stdbool.h>

void		 privsep_drop(const char *, const char *);
void		 privsep_no_core(void);
const char	*privsep_chroot_dir_check(const char *, bool);
const char	*privsep_make_empty_dir(const char *);

#endif
