/*
 * hosts.c: the central controller's registry of scanner hosts,
 * CONFDIR/central/hosts (hosts.h, docs/central.md "Hosts").
 *
 * Owns the registry file's format: a strict parser (any line it does not
 * understand fails the whole load with file:line, so a typo never drops
 * a host silently), the writer, and the in-memory list that
 * sekishoctl central host add|remove edits.  Every entry, whether read
 * from the file or added, goes through the same checks (hosts_check).
 * Names are compared without regard to case, as host names are.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hosts.h"
#include "xmalloc.h"

#define HOSTS_FILE_MAX		(HOSTS_MAX * 256)
#define HOSTS_REGISTERED_MAX	((int64_t)1 << 62)
#define HOSTS_HEADER	"# sekisho central controller: registered " \
			"scanner hosts (sekishoctl central host " \
			"add|remove)\n"
#define HOSTS_NFIELDS		5

/*
 * hosts_decimal: the len bytes at s as a strict decimal number in
 * [0, max]: digits only, no sign, no leading zero (except "0" itself).
 */
static bool
hosts_decimal(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t	 i;

	if (len == 0 || (len > 1 && s[0] == '0'))
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (max - (uint64_t)(s[i] - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

/* hosts_addr_bin: the address in binary form (family, 16 bytes); false
 * if it is not a numeric IPv4 or IPv6 address. */
static bool
hosts_addr_bin(const char *a, int *af, uint8_t bin[16])
{
	memset(bin, 0, 16);
	if (inet_pton(AF_INET, a, bin) == 1) {
		*af = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, a, bin) == 1) {
		*af = AF_INET6;
		return true;
	}
	return false;
}

/* hosts_fpr_ok: whether s is exactly 64 lower-case hex digits. */
static bool
hosts_fpr_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len != ENROL_FPR_LEN)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * hosts_check: whether every field of e is allowed; -1 with the reason
 * (without location) otherwise.  The strings must be terminated inside
 * their arrays, since e may come from anywhere.
 */
static int
hosts_check(const struct host_entry *e, char *err, size_t errlen)
{
	uint8_t	 bin[16];
	int	 af;

	if (memchr(e->name, '\0', sizeof(e->name)) == NULL ||
	    !enrol_name_ok(e->name))
		return str_fail(err, errlen, "bad host name (1 to %d of "
		    "A-Z a-z 0-9 . -, not starting with . or -)",
		    ENROL_NAME_MAX);
	if (memchr(e->address, '\0', sizeof(e->address)) == NULL ||
	    !hosts_addr_bin(e->address, &af, bin))
		return str_fail(err, errlen, "host %s: bad address (not a "
		    "numeric IPv4 or IPv6 address)", e->name);
	if (e->port == 0)
		return str_fail(err, errlen, "host %s: bad port 0",
		    e->name);
	if (memchr(e->fpr, '\0', sizeof(e->fpr)) == NULL ||
	    !hosts_fpr_ok(e->fpr, strlen(e->fpr)))
		return str_fail(err, errlen, "host %s: bad fingerprint "
		    "(not %d lower-case hex digits)", e->name, ENROL_FPR_LEN);
	if (e->registered < 0 || e->registered > HOSTS_REGISTERED_MAX)
		return str_fail(err, errlen, "host %s: bad registration "
		    "time %lld", e->name, (long long)e->registered);
	return 0;
}

/* hosts_same_addr: whether a and b are the same address and port. */
static bool
hosts_same_addr(const struct host_entry *a, const struct host_entry *b)
{
	uint8_t	 ba[16], bb[16];
	int	 afa, afb;

	if (a->port != b->port)
		return false;
	if (!hosts_addr_bin(a->address, &afa, ba) ||
	    !hosts_addr_bin(b->address, &afb, bb))
		return strcmp(a->address, b->address) == 0;
	return afa == afb && memcmp(ba, bb, sizeof(ba)) == 0;
}

/* hosts_add: add a copy of e after the same checks as the parser's. */
int
hosts_add(struct host_reg *reg, const struct host_entry *e, char *err,
    size_t errlen)
{
	size_t	 i;

	if (hosts_check(e, err, errlen) == -1)
		return -1;
	for (i = 0; i < reg->n; i++) {
		if (strcasecmp(reg->v[i].name, e->name) == 0)
			return str_fail(err, errlen, "host %s is already "
			    "registered", reg->v[i].name);
		if (hosts_same_addr(&reg->v[i], e))
			return str_fail(err, errlen, "%s port %u is already "
			    "registered as %s", e->address, (unsigned)e->port,
			    reg->v[i].name);
	}
	if (reg->n >= HOSTS_MAX)
		return str_fail(err, errlen, "too many hosts (at most %d)",
		    HOSTS_MAX);
	reg->v = xreallocarray(reg->v, reg->n + 1, sizeof(*reg->v));
	reg->v[reg->n++] = *e;
	return 0;
}

/*
 * hosts_field: copy field f (len bytes) into dst of size dstlen; false
 * if it does not fit.
 */
static bool
hosts_field(char *dst, size_t dstlen, const char *f, size_t len)
{
	if (len >= dstlen)
		return false;
	memcpy(dst, f, len);
	dst[len] = '\0';
	return true;
}

/*
 * hosts_line: one line (without its newline) into e; -1 with the reason
 * (without location) otherwise.
 */
static int
hosts_line(const char *s, size_t len, struct host_entry *e, char *err,
    size_t errlen)
{
	const char	*f[HOSTS_NFIELDS], *sp;
	size_t		 fl[HOSTS_NFIELDS], nf = 0, off = 0;
	uint64_t	 v;

	for (;;) {
		sp = memchr(s + off, ' ', len - off);
		if ((sp == NULL ? len - off : (size_t)(sp - s) - off) == 0)
			return str_fail(err, errlen, "empty field (fields "
			    "are separated by single spaces)");
		if (nf == HOSTS_NFIELDS)
			return str_fail(err, errlen, "more than %d fields",
			    HOSTS_NFIELDS);
		f[nf] = s + off;
		fl[nf] = sp == NULL ? len - off : (size_t)(sp - s) - off;
		nf++;
		if (sp == NULL)
			break;
		off = (size_t)(sp - s) + 1;
	}
	if (nf != HOSTS_NFIELDS)
		return str_fail(err, errlen, "%zu fields, expected NAME "
		    "ADDRESS PORT FINGERPRINT REGISTERED", nf);
	memset(e, 0, sizeof(*e));
	if (!hosts_field(e->name, sizeof(e->name), f[0], fl[0]))
		return str_fail(err, errlen, "host name too long");
	if (!hosts_field(e->address, sizeof(e->address), f[1], fl[1]))
		return str_fail(err, errlen, "address too long");
	if (!hosts_decimal(f[2], fl[2], 65535, &v) || v == 0)
		return str_fail(err, errlen, "bad port %.*s (1 to 65535)",
		    (int)fl[2], f[2]);
	e->port = (uint16_t)v;
	if (!hosts_field(e->fpr, sizeof(e->fpr), f[3], fl[3]))
		return str_fail(err, errlen, "bad fingerprint (not %d "
		    "lower-case hex digits)", ENROL_FPR_LEN);
	if (!hosts_decimal(f[4], fl[4], (uint64_t)HOSTS_REGISTERED_MAX, &v))
		return str_fail(err, errlen, "bad registration time %.*s",
		    (int)fl[4], f[4]);
	e->registered = (int64_t)v;
	return 0;
}

/*
 * hosts_parse: the registry file's text into reg, which is set from
 * scratch (what it held before is not freed).  0, or -1 with reg empty
 * and "PATH:LINE: reason" in err.
 */
int
hosts_parse(const char *text, size_t len, const char *path,
    struct host_reg *reg, char *err, size_t errlen)
{
	struct host_reg	 r = { NULL, 0 };
	struct host_entry e;
	const char	*nl;
	char		 why[256];
	size_t		 off = 0, lineno = 0, ll;

	memset(reg, 0, sizeof(*reg));
	while (off < len) {
		lineno++;
		nl = memchr(text + off, '\n', len - off);
		ll = nl == NULL ? len - off : (size_t)(nl - text) - off;
		if (memchr(text + off, '\0', ll) != NULL)
			(void)str_fail(why, sizeof(why), "NUL byte");
		else if (memchr(text + off, '\r', ll) != NULL)
			(void)str_fail(why, sizeof(why), "carriage return "
			    "(the file must have Unix line ends)");
		else if (ll == 0 || text[off] == '#')
			why[0] = '\0';
		else if (hosts_line(text + off, ll, &e, why,
		    sizeof(why)) == 0 && hosts_add(&r, &e, why,
		    sizeof(why)) == 0)
			why[0] = '\0';
		if (why[0] != '\0') {
			hosts_free(&r);
			return str_fail(err, errlen, "%s:%zu: %s", path,
			    lineno, why);
		}
		off += ll + 1;
	}
	*reg = r;
	return 0;
}

/* hosts_path: CONFDIR/central/hosts into dst; false if too long. */
static bool
hosts_path(char *dst, size_t dstlen, const char *confdir)
{
	return str_printf(dst, dstlen, "%s/%s/%s", confdir,
	    ENROL_CENTRAL_DIR, HOSTS_FILE);
}

/* hosts_load: read the registry; a missing file is an empty registry. */
int
hosts_load(const char *confdir, struct host_reg *reg, char *err,
    size_t errlen)
{
	char	 path[4096], *text;
	size_t	 len;
	int	 rc;

	memset(reg, 0, sizeof(*reg));
	if (!hosts_path(path, sizeof(path), confdir))
		return str_fail(err, errlen, "hosts_load: %s: path too long",
		    confdir);
	if ((text = file_read(path, HOSTS_FILE_MAX, &len)) == NULL) {
		if (errno == ENOENT)
			return 0;
		if (errno == EFBIG)
			return str_fail(err, errlen, "%s: larger than %d "
			    "bytes", path, HOSTS_FILE_MAX);
		return str_fail(err, errlen, "%s: %s", path,
		    strerror(errno));
	}
	rc = hosts_parse(text, len, path, reg, err, errlen);
	free(text);
	return rc;
}

/* hosts_save: write the registry atomically (mode 0644). */
int
hosts_save(const char *confdir, const struct host_reg *reg, char *err,
    size_t errlen)
{
	struct buf	 b;
	char		 path[4096];
	size_t		 i;
	int		 rc = 0;

	if (!hosts_path(path, sizeof(path), confdir))
		return str_fail(err, errlen, "hosts_save: %s: path too long",
		    confdir);
	buf_init(&b, HOSTS_FILE_MAX);
	if (!buf_addstr(&b, HOSTS_HEADER))
		rc = -1;
	for (i = 0; rc == 0 && i < reg->n; i++)
		if (!buf_printf(&b, "%s %s %u %s %lld\n", reg->v[i].name,
		    reg->v[i].address, (unsigned)reg->v[i].port,
		    reg->v[i].fpr, (long long)reg->v[i].registered))
			rc = -1;
	if (rc == -1)
		(void)str_fail(err, errlen, "%s: registry larger than %d "
		    "bytes", path, HOSTS_FILE_MAX);
	else if (file_write_atomic(path, b.data, b.len, 0644) == -1)
		rc = str_fail(err, errlen, "%s: %s", path, strerror(errno));
	buf_free(&b);
	return rc;
}

/* hosts_index: the index of the host called name, or -1. */
static int
hosts_index(const struct host_reg *reg, const char *name)
{
	size_t	 i;

	for (i = 0; i < reg->n; i++)
		if (strcasecmp(reg->v[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* hosts_remove: drop the host called name; false if there is none. */
bool
hosts_remove(struct host_reg *reg, const char *name)
{
	int	 i;

	if ((i = hosts_index(reg, name)) == -1)
		return false;
	memmove(&reg->v[i], &reg->v[i + 1],
	    (reg->n - (size_t)i - 1) * sizeof(*reg->v));
	reg->n--;
	if (reg->n == 0) {
		free(reg->v);
		reg->v = NULL;
	}
	return true;
}

/* hosts_find: the host called name, NULL if there is none. */
const struct host_entry *
hosts_find(const struct host_reg *reg, const char *name)
{
	int	 i;

	if ((i = hosts_index(reg, name)) == -1)
		return NULL;
	return &reg->v[i];
}

/* hosts_free: release the registry; reg is left empty. */
void
hosts_free(struct host_reg *reg)
{
	free(reg->v);
	memset(reg, 0, sizeof(*reg));
}

/*
 * hosts_entry_json: host, address, port, fingerprint, registered, then
 * last_attempt, last_contact, result, error and info from st (the host's
 * entry of hosts.json) when it has them; info is {} when unknown.
 */
json_t *
hosts_entry_json(const struct host_entry *h, const json_t *st)
{
	static const char *const keys[] = { "last_attempt", "last_contact",
	    "result", "error", "info" };
	json_t	*o;
	size_t	 i;

	o = json_pack("{s:s, s:s, s:i, s:s, s:I}", "host", h->name,
	    "address", h->address, "port", (int)h->port, "fingerprint", h->fpr,
	    "registered", (json_int_t)h->registered);
	if (o == NULL)
		return NULL;
	for (i = 0; json_is_object(st) && i < nitems(keys); i++)
		if (json_object_get(st, keys[i]) != NULL)
			json_object_set(o, keys[i], json_object_get(st, keys[i]));
	if (!json_is_object(json_object_get(o, "info")))
		json_object_set_new(o, "info", json_object());
	return o;
}
