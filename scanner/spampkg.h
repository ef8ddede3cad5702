/*
 * spampkg.h: the spam rule packages installed in [antispam] package_dir.
 *
 * The directory holds packages named VERSION.rules (VERSION as
 * MAJOR.MINOR, spam.h) and, once a package was installed or rolled back,
 * a symbolic link "active" naming one of them.  Without the link the
 * newest package is the active one (the one shipped with sekisho).  An
 * update installs a package only when its version is newer than the
 * active one, comparing MAJOR and MINOR as numbers (seed 41); a rollback
 * makes the newest package older than the active one active.  Every
 * change is a new file or link renamed into place (and the directory
 * synced), so a reader, such as the scanner reloading, never sees half
 * of one.
 */
#ifndef SEKISHO_SPAMPKG_H
#define SEKISHO_SPAMPKG_H

#include <stddef.h>

#include "spam.h"

#define SPAMPKG_ACTIVE		"active"
#define SPAMPKG_SUFFIX		".rules"
#define SPAMPKG_MAX		1000	/* packages looked at in a directory */

struct diag;

struct spampkg {
	struct spam_version	 v;
	char			 file[64];	/* "17000.002.rules" */
};

int	 spampkg_list(const char *, struct spampkg **, size_t *, char *,
	    size_t);
int	 spampkg_active(const char *, struct spampkg *, char *, size_t);
int	 spampkg_path(const char *, const struct spampkg *, char *, size_t);

/* spampkg_install and spampkg_rollback outcomes. */
#define SPAMPKG_CHANGED		0	/* the active package changed */
#define SPAMPKG_NOT_NEWER	1	/* update: nothing to do */
#define SPAMPKG_NONE_OLDER	1	/* rollback: nothing to go back to */

int	 spampkg_install(const char *, const char *, struct spam_version *,
	    struct spam_version *, struct diag *);
int	 spampkg_rollback(const char *, struct spam_version *,
	    struct spam_version *, char *, size_t);

#endif
