/*
 * spampkg.c: install, find and roll back spam rule packages (spampkg.h).
 *
 * Used by sekishoctl (rules update, rollback, status) and by the scanner
 * (which package to load).  A package is validated by compiling it
 * (spam_rules_parse) from the very bytes that are then installed.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "spampkg.h"
#include "util.h"
#include "xmalloc.h"

/* spampkg_name: "VERSION.rules" names a package; its version in v. */
static bool
spampkg_name(const char *name, struct spam_version *v)
{
	size_t	 n = strlen(name), s = strlen(SPAMPKG_SUFFIX);
	char	 ver[32];

	if (n <= s || n - s >= sizeof(ver) ||
	    strcmp(name + n - s, SPAMPKG_SUFFIX) != 0)
		return false;
	memcpy(ver, name, n - s);
	ver[n - s] = '\0';
	return spam_version_parse(ver, v);
}

static int
spampkg_cmp(const void *a, const void *b)
{
	return spam_version_cmp(&((const struct spampkg *)a)->v,
	    &((const struct spampkg *)b)->v);
}

/*
 * spampkg_list: the packages in dir, oldest first (*out is the caller's
 * to free).  A missing directory holds none.  0, or -1 with err.
 */
int
spampkg_list(const char *dir, struct spampkg **out, size_t *n, char *err,
    size_t errlen)
{
	struct dirent	*de;
	struct spampkg	*v = NULL, p;
	DIR		*d;

	*out = NULL;
	*n = 0;
	if ((d = opendir(dir)) == NULL) {
		if (errno == ENOENT)
			return 0;
		str_printf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL && *n < SPAMPKG_MAX) {
		if (!spampkg_name(de->d_name, &p.v))
			continue;
		str_lcpy(p.file, de->d_name, sizeof(p.file));
		v = xreallocarray(v, *n + 1, sizeof(*v));
		v[(*n)++] = p;
	}
	closedir(d);
	if (*n > 1)
		qsort(v, *n, sizeof(*v), spampkg_cmp);
	*out = v;
	return 0;
}

/*
 * spampkg_active: the active package of dir: the one "active" names, or
 * the newest.  0; 1 when there is none; -1 with err ("active" names no
 * package, or the directory cannot be read).
 */
int
spampkg_active(const char *dir, struct spampkg *out, char *err,
    size_t errlen)
{
	struct spampkg	*v;
	struct stat	 st;
	char		 link[PATH_MAX], target[128], path[PATH_MAX];
	ssize_t		 n;
	size_t		 nv;

	memset(out, 0, sizeof(*out));
	if (!str_printf(link, sizeof(link), "%s/%s", dir, SPAMPKG_ACTIVE)) {
		str_lcpy(err, "package_dir too long", errlen);
		return -1;
	}
	if ((n = readlink(link, target, sizeof(target) - 1)) >= 0) {
		target[n] = '\0';
		if (strchr(target, '/') != NULL ||
		    !spampkg_name(target, &out->v)) {
			str_printf(err, errlen, "%s points to \"%s\", not to "
			    "a package of the directory", link, target);
			return -1;
		}
		str_lcpy(out->file, target, sizeof(out->file));
		if (!spampkg_path(dir, out, path, sizeof(path)) ||
		    stat(path, &st) == -1 || !S_ISREG(st.st_mode)) {
			str_printf(err, errlen, "%s points to %s, which is "
			    "missing", link, target);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		str_printf(err, errlen, "%s: %s", link, strerror(errno));
		return -1;
	}
	if (spampkg_list(dir, &v, &nv, err, errlen) == -1)
		return -1;
	if (nv > 0)
		*out = v[nv - 1];
	free(v);
	return nv > 0 ? 0 : 1;
}

/* spampkg_path: dir/FILE of a package; false when it does not fit. */
int
spampkg_path(const char *dir, const struct spampkg *p, char *buf,
    size_t len)
{
	return str_printf(buf, len, "%s/%s", dir, p->file);
}

/* spampkg_sync_dir: fsync a directory; -1 with errno. */
static int
spampkg_sync_dir(const char *dir)
{
	int	 fd, rv;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	rv = fsync(fd);
	close(fd);
	return rv;
}

/* spampkg_activate: point dir/active at file (a new link renamed over). */
static int
spampkg_activate(const char *dir, const char *file, char *err,
    size_t errlen)
{
	char	 tmp[PATH_MAX], link[PATH_MAX];

	if (!str_printf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, SPAMPKG_ACTIVE) ||
	    !str_printf(link, sizeof(link), "%s/%s", dir, SPAMPKG_ACTIVE)) {
		str_lcpy(err, "package_dir too long", errlen);
		return -1;
	}
	(void)unlink(tmp);
	if (symlink(file, tmp) == -1 || rename(tmp, link) == -1 ||
	    spampkg_sync_dir(dir) == -1) {
		str_printf(err, errlen, "%s: %s", link, strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

/* spampkg_write: data as dir/file (written, synced, renamed into place). */
static int
spampkg_write(const char *dir, const char *file, const void *data,
    size_t len, char *err, size_t errlen)
{
	char	 tmp[PATH_MAX], path[PATH_MAX];
	int	 fd, saved;

	if (!str_printf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, file) ||
	    !str_printf(path, sizeof(path), "%s/%s", dir, file)) {
		str_lcpy(err, "package_dir too long", errlen);
		return -1;
	}
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		str_printf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
	    O_NOFOLLOW, 0644)) == -1) {
		str_printf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (fd_write_all(fd, data, len) == -1 || fsync(fd) == -1) {
		saved = errno;
		close(fd);
		(void)unlink(tmp);
		str_printf(err, errlen, "%s: %s", tmp, strerror(saved));
		return -1;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		saved = errno;
		(void)unlink(tmp);
		str_printf(err, errlen, "%s: %s", path, strerror(saved));
		return -1;
	}
	return 0;
}

/*
 * spampkg_read: the package file path, compiled to check it; its bytes
 * in *data (the caller's), its version in v.  -1 (reported in d).
 */
static int
spampkg_read(const char *path, char **data, size_t *len,
    struct spam_version *v, struct diag *d)
{
	struct spam_rules *r;

	if ((*data = file_read_at(AT_FDCWD, path, SPAM_PACKAGE_MAX, len)) ==
	    NULL) {
		diag_add(d, DIAG_ERROR, path, 0, "%s", errno == EFBIG ?
		    "not a regular file of at most 16 MiB" : strerror(errno));
		return -1;
	}
	if ((r = spam_rules_parse(*data, *len, path, d)) == NULL) {
		free(*data);
		*data = NULL;
		return -1;
	}
	*v = *spam_rules_version(r);
	spam_rules_free(r);
	return 0;
}

/*
 * spampkg_pick: from a directory, the newest package that compiles (its
 * path in out); the others are reported as warnings.  -1 when none does.
 */
static int
spampkg_pick(const char *from, char *out, size_t outlen, struct diag *d)
{
	struct spam_version best, v;
	struct dirent	*de;
	struct diag	 one;
	char		 path[PATH_MAX], *data;
	size_t		 len, n, s = strlen(SPAMPKG_SUFFIX), i;
	bool		 found = false;
	DIR		*dd;

	if ((dd = opendir(from)) == NULL) {
		diag_add(d, DIAG_ERROR, from, 0, "%s", strerror(errno));
		return -1;
	}
	while ((de = readdir(dd)) != NULL) {
		n = strlen(de->d_name);
		if (de->d_name[0] == '.' || n <= s ||
		    strcmp(de->d_name + n - s, SPAMPKG_SUFFIX) != 0 ||
		    !str_printf(path, sizeof(path), "%s/%s", from, de->d_name))
			continue;
		diag_init(&one);
		if (spampkg_read(path, &data, &len, &v, &one) == 0) {
			free(data);
			if (!found || spam_version_cmp(&v, &best) > 0) {
				best = v;
				str_lcpy(out, path, outlen);
				found = true;
			}
		} else
			for (i = 0; i < one.nitems; i++)
				diag_add(d, DIAG_WARNING, path, 0, "skipped: %s",
				    one.items[i].text);
		diag_free(&one);
	}
	closedir(dd);
	if (!found)
		diag_add(d, DIAG_ERROR, from, 0, "no valid package (*%s) in "
		    "this directory", SPAMPKG_SUFFIX);
	return found ? 0 : -1;
}

/*
 * spampkg_install: install the package from (a file, or the newest valid
 * package of a directory) into dir and make it active, when its version
 * is newer than the active one's.  *nv is its version, *was the one that
 * was active (major 0, text "" when none).  SPAMPKG_CHANGED,
 * SPAMPKG_NOT_NEWER (nothing changed), or -1 (reported in d; nothing
 * changed).
 */
int
spampkg_install(const char *dir, const char *from, struct spam_version *nv,
    struct spam_version *was, struct diag *d)
{
	struct spampkg	 cur;
	struct stat	 st;
	char		 path[PATH_MAX], file[64], err[PATH_MAX + 128];
	char		*data;
	size_t		 len;
	int		 rc;

	memset(was, 0, sizeof(*was));
	memset(nv, 0, sizeof(*nv));
	if (stat(from, &st) == -1) {
		diag_add(d, DIAG_ERROR, from, 0, "%s", strerror(errno));
		return -1;
	}
	str_lcpy(path, from, sizeof(path));
	if (S_ISDIR(st.st_mode) &&
	    spampkg_pick(from, path, sizeof(path), d) == -1)
		return -1;
	if (spampkg_read(path, &data, &len, nv, d) == -1)
		return -1;
	if ((rc = spampkg_active(dir, &cur, err, sizeof(err))) == -1) {
		diag_add(d, DIAG_ERROR, dir, 0, "%s", err);
		free(data);
		return -1;
	}
	if (rc == 0) {
		*was = cur.v;
		if (spam_version_cmp(nv, &cur.v) <= 0) {
			free(data);
			return SPAMPKG_NOT_NEWER;
		}
	}
	(void)str_printf(file, sizeof(file), "%s%s", nv->text,
	    SPAMPKG_SUFFIX);
	if (spampkg_write(dir, file, data, len, err, sizeof(err)) == -1 ||
	    spampkg_activate(dir, file, err, sizeof(err)) == -1) {
		diag_add(d, DIAG_ERROR, dir, 0, "%s", err);
		free(data);
		return -1;
	}
	free(data);
	return SPAMPKG_CHANGED;
}

/*
 * spampkg_rollback: make the newest package older than the active one
 * active.  *now is the version active afterwards, *was the one before.
 * SPAMPKG_CHANGED, SPAMPKG_NONE_OLDER (nothing changed), or -1 with err.
 */
int
spampkg_rollback(const char *dir, struct spam_version *now,
    struct spam_version *was, char *err, size_t errlen)
{
	struct spampkg	 cur, *v;
	size_t		 n, i;
	int		 rc;

	memset(now, 0, sizeof(*now));
	memset(was, 0, sizeof(*was));
	if ((rc = spampkg_active(dir, &cur, err, errlen)) != 0) {
		if (rc == 1)
			str_printf(err, errlen, "%s: no package installed",
			    dir);
		return -1;
	}
	*was = *now = cur.v;
	if (spampkg_list(dir, &v, &n, err, errlen) == -1)
		return -1;
	for (i = n; i > 0; i--)
		if (spam_version_cmp(&v[i - 1].v, &cur.v) < 0)
			break;
	if (i == 0) {
		free(v);
		return SPAMPKG_NONE_OLDER;
	}
	rc = spampkg_activate(dir, v[i - 1].file, err, errlen);
	if (rc == 0)
		*now = v[i - 1].v;
	free(v);
	return rc == 0 ? SPAMPKG_CHANGED : -1;
}
