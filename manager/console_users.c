/*
 * console_users.c: the console's administrators file (console_users.h,
 * docs/manager.md "Console and JSON API").
 *
 * Owns the file's format (a strict parser: a line it does not understand
 * fails the whole load with PATH:LINE, so a typo never locks an
 * administrator out silently, and the writer), the in-memory list that
 * sekishoctl console passwd|remove edits, and the password checks: the
 * hashes are made and checked with libcrypt (yescrypt by default), the
 * comparison is constant-time, and an unknown name costs one crypt
 * against a dummy hash like a known one, so the time of an answer does
 * not tell which names exist.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "console_users.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define CU_FILE_MAX	(1024 * 1024)
#define CU_HEADER	"# sekisho console administrators: NAME:HASH " \
			"(sekishoctl console passwd|remove)\n"

/* A yescrypt hash (default cost) of a password nobody knows. */
static const char cu_dummy[] = "$y$j9T$CcNSyvL3IdjjeU2SaE9TA1$"
    "foScFgwD7Y2nM2rGacz2nWdSvG9gzie6/UXSIyXaqT8";

/* console_name_ok: 1..32 of [a-z0-9._-], starting with a letter or digit. */
bool
console_name_ok(const char *s)
{
	size_t	 i;

	if (s[0] == '\0' || !((s[0] >= 'a' && s[0] <= 'z') ||
	    (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= CONSOLE_NAME_MAX)
			return false;
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	}
	return true;
}

/* console_hash_ok: a crypt string of a known method, printable, no ':'. */
bool
console_hash_ok(const char *s)
{
	static const char *const methods[] = { "$y$", "$6$", "$2b$", "$7$" };
	size_t	 i, len = strlen(s);
	bool	 known = false;

	if (len > CONSOLE_HASH_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ':')
			return false;
	for (i = 0; i < nitems(methods); i++)
		if (strncmp(s, methods[i], strlen(methods[i])) == 0 &&
		    len > strlen(methods[i]))
			known = true;
	return known;
}

/* console_users_find: the administrator called name, or NULL. */
const struct console_user *
console_users_find(const struct console_users *u, const char *name)
{
	size_t	 i;

	for (i = 0; i < u->n; i++)
		if (strcmp(u->v[i].name, name) == 0)
			return &u->v[i];
	return NULL;
}

/* console_users_set: add name with hash, or give it that hash. */
int
console_users_set(struct console_users *u, const char *name,
    const char *hash, char *err, size_t errlen)
{
	struct console_user *e;

	if (!console_name_ok(name))
		return str_fail(err, errlen, "bad name (1 to %d of a-z 0-9 . _ "
		    "-, starting with a letter or a digit)", CONSOLE_NAME_MAX);
	if (!console_hash_ok(hash))
		return str_fail(err, errlen, "bad hash (a crypt(3) string: "
		    "$y$, $6$, $2b$ or $7$, at most %d printable bytes "
		    "without ':')", CONSOLE_HASH_MAX);
	if ((e = (struct console_user *)console_users_find(u, name)) == NULL) {
		if (u->n >= CONSOLE_USERS_MAX)
			return str_fail(err, errlen, "too many administrators "
			    "(at most %d)", CONSOLE_USERS_MAX);
		u->v = xreallocarray(u->v, u->n + 1, sizeof(*u->v));
		e = &u->v[u->n++];
		memset(e, 0, sizeof(*e));
		str_lcpy(e->name, name, sizeof(e->name));
	}
	str_lcpy(e->hash, hash, sizeof(e->hash));
	return 0;
}

/* console_users_remove: false when there is no such administrator. */
bool
console_users_remove(struct console_users *u, const char *name)
{
	const struct console_user *e = console_users_find(u, name);
	size_t	 i;

	if (e == NULL)
		return false;
	i = (size_t)(e - u->v);
	memmove(&u->v[i], &u->v[i + 1], (u->n - i - 1) * sizeof(*u->v));
	u->n--;
	return true;
}

void
console_users_free(struct console_users *u)
{
	if (u->v != NULL)
		explicit_bzero(u->v, u->n * sizeof(*u->v));
	free(u->v);
	u->v = NULL;
	u->n = 0;
}

/* cu_line: one line (without its newline) added to u; -1 and why. */
static int
cu_line(struct console_users *u, const char *s, size_t len, char *err,
    size_t errlen)
{
	char		 name[CONSOLE_NAME_MAX + 1], hash[CONSOLE_HASH_MAX + 1];
	const char	*colon;
	size_t		 nl, hl;

	if (memchr(s, '\0', len) != NULL)
		return str_fail(err, errlen, "NUL byte");
	if ((colon = memchr(s, ':', len)) == NULL)
		return str_fail(err, errlen, "not NAME:HASH");
	nl = (size_t)(colon - s);
	hl = len - nl - 1;
	if (nl >= sizeof(name) || hl >= sizeof(hash))
		return str_fail(err, errlen, nl >= sizeof(name) ? "name too "
		    "long" : "hash too long");
	memcpy(name, s, nl);
	name[nl] = '\0';
	memcpy(hash, colon + 1, hl);
	hash[hl] = '\0';
	if (console_name_ok(name) && console_users_find(u, name) != NULL)
		return str_fail(err, errlen, "administrator %s appears twice",
		    name);
	return console_users_set(u, name, hash, err, errlen);
}

/* console_users_parse: the file's text (len bytes) from path. */
int
console_users_parse(const char *text, size_t len, const char *path,
    struct console_users *u, char *err, size_t errlen)
{
	char	 why[256];
	size_t	 off = 0, ll, lineno = 0;
	const char *nl;

	u->v = NULL;
	u->n = 0;
	while (off < len) {
		lineno++;
		nl = memchr(text + off, '\n', len - off);
		ll = nl == NULL ? len - off : (size_t)(nl - text) - off;
		if (ll > 0 && text[off] != '#' && cu_line(u, text + off, ll,
		    why, sizeof(why)) == -1) {
			console_users_free(u);
			return str_fail(err, errlen, "%s:%zu: %s", path, lineno,
			    why);
		}
		off += ll + 1;
	}
	return 0;
}

/* console_users_load: the file at path; a missing one holds nobody. */
int
console_users_load(const char *path, struct console_users *u, char *err,
    size_t errlen)
{
	char	*text;
	size_t	 len;
	int	 rv;

	u->v = NULL;
	u->n = 0;
	if ((text = file_read(path, CU_FILE_MAX, &len)) == NULL) {
		if (errno == ENOENT)
			return 0;
		return str_fail(err, errlen, "%s: %s", path, strerror(errno));
	}
	rv = console_users_parse(text, len, path, u, err, errlen);
	explicit_bzero(text, len);
	free(text);
	return rv;
}

/* console_users_save: the file at path, mode 0600, atomically. */
int
console_users_save(const char *path, const struct console_users *u,
    char *err, size_t errlen)
{
	struct buf	 b;
	size_t		 i;
	int		 rv = 0;

	buf_init(&b, CU_FILE_MAX);
	if (!buf_addstr(&b, CU_HEADER))
		fatalx("console_users_save: buffer");
	for (i = 0; i < u->n; i++)
		if (!buf_printf(&b, "%s:%s\n", u->v[i].name, u->v[i].hash))
			fatalx("console_users_save: buffer");
	if (file_write_atomic(path, b.data, b.len, 0600) == -1)
		rv = str_fail(err, errlen, "%s: %s", path, strerror(errno));
	buf_free(&b);
	return rv;
}

/* console_hash: a yescrypt hash of password into out. */
int
console_hash(const char *password, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char		 salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char	*h;
	int		 rv = 0;

	if (strlen(password) > CONSOLE_PASSWORD_MAX)
		return str_fail(err, errlen, "password too long (at most %d "
		    "bytes)", CONSOLE_PASSWORD_MAX);
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL)
		return str_fail(err, errlen, "crypt_gensalt: %s",
		    strerror(errno));
	cd = xcalloc(1, sizeof(*cd));
	if ((h = crypt_rn(password, salt, cd, sizeof(*cd))) == NULL ||
	    !console_hash_ok(h))
		rv = str_fail(err, errlen, "crypt: %s", h == NULL ?
		    strerror(errno) : "unexpected output");
	else if (str_lcpy(out, h, outlen) >= outlen)
		rv = str_fail(err, errlen, "crypt: hash too long");
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rv;
}

/*
 * console_verify: whether name is an administrator whose password is
 * password.  Always one crypt (against a dummy hash for an unknown name
 * or a password too long), then a constant-time comparison.
 */
bool
console_verify(const struct console_users *u, const char *name,
    const char *password)
{
	const struct console_user *e = NULL;
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	const char	*h, *pw = password;
	size_t		 len;
	bool		 ok = false;

	if (strlen(password) > CONSOLE_PASSWORD_MAX)
		pw = "x";
	else if (console_name_ok(name))
		e = console_users_find(u, name);
	h = crypt_rn(pw, e != NULL ? e->hash : cu_dummy, cd, sizeof(*cd));
	if (e != NULL && h != NULL && (len = strlen(h)) == strlen(e->hash))
		ok = CRYPTO_memcmp(h, e->hash, len) == 0;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}
