/*
 * envelope.c: build, write and read the envelope file of a spooled message.
 *
 * Format (docs/spool.md), one field per line, LF-terminated:
 *
 *	sekisho-envelope 1
 *	id 0000019ad3a5c1f2a7
 *	received 1764386000
 *	sender alice@example.com
 *	...
 *	rcpt bob@example.com 6 rfc822;bob@example.com
 *	end
 *
 * The first line carries the format version; the last line must be "end",
 * so a cut-short file is never mistaken for a whole one.  Values are escaped
 * as %XX for bytes <= 0x20, 0x7f and '%', so a value never contains a space
 * or line break; a null value is written as a lone "-" (and "-" itself as
 * "%2d").  The reader accepts exactly what the writer produces.
 *
 * "rstate INDEX STATE ATTEMPTS NEXT REPORTED DSN REMOTE REPLY" gives the
 * delivery state of recipient INDEX (0-based, after its rcpt line); it is
 * written only once a recipient was attempted, so a fresh envelope has
 * none.  "warned 1" says the delay warning was sent.  "scanfail N" counts
 * scan attempts that failed (a worker crashed or hit a limit);
 * "skiprule NAME" names the rule a message released from quarantine is
 * no longer subject to.  Both are written only when set.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "xmalloc.h"

/* envelope_init: an empty envelope. */
void
envelope_init(struct envelope *env)
{
	memset(env, 0, sizeof(*env));
}

/* envelope_clear: free everything the envelope owns; it is empty again. */
void
envelope_clear(struct envelope *env)
{
	size_t	 i;

	free(env->sender);
	free(env->helo);
	free(env->client_ip);
	free(env->client_name);
	free(env->tls);
	free(env->envid);
	free(env->auth);
	free(env->skiprule);
	for (i = 0; i < env->nrcpt; i++) {
		free(env->rcpt[i].addr);
		free(env->rcpt[i].orcpt);
		free(env->rcpt[i].remote);
		free(env->rcpt[i].reply);
	}
	free(env->rcpt);
	envelope_init(env);
}

/* envelope_add_rcpt: append a recipient (strings are copied). */
void
envelope_add_rcpt(struct envelope *env, const char *addr, const char *orcpt,
    uint8_t notify)
{
	struct envelope_rcpt *r;

	env->rcpt = xreallocarray(env->rcpt, env->nrcpt + 1, sizeof(*r));
	r = &env->rcpt[env->nrcpt++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->orcpt = orcpt ? xstrdup(orcpt) : NULL;
	r->notify = notify;
}

/* envelope_rcpt_result: remember the last answer about a recipient. */
void
envelope_rcpt_result(struct envelope_rcpt *r, const char *dsn,
    const char *remote, const char *reply)
{
	str_lcpy(r->dsn, dsn != NULL ? dsn : "", sizeof(r->dsn));
	free(r->remote);
	free(r->reply);
	r->remote = remote != NULL && *remote != '\0' ? xstrdup(remote) : NULL;
	r->reply = reply != NULL && *reply != '\0' ? xstrdup(reply) : NULL;
}

static const char *const rstate_names[] = { "pending", "delivered",
    "failed" };

/* envelope_rstate_name: "pending", "delivered" or "failed". */
const char *
envelope_rstate_name(int st)
{
	if (st < 0 || (size_t)st >= nitems(rstate_names))
		return "?";
	return rstate_names[st];
}


/* envelope_esc: append one escaped value ("-" for NULL). */
bool
envelope_esc(struct buf *b, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char	 e[3];

	if (v == NULL)
		return buf_addstr(b, "-");
	if (strcmp(v, "-") == 0)
		return buf_addstr(b, "%2D");
	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (*p <= 0x20 || *p == 0x7f || *p == '%') {
			e[0] = '%';
			e[1] = hex[*p >> 4];
			e[2] = hex[*p & 0xf];
			if (!buf_add(b, e, 3))
				return false;
		} else if (!buf_add(b, p, 1))
			return false;
	}
	return true;
}

/* field: append "key value\n" with the value escaped. */
static bool
field(struct buf *b, const char *key, const char *v)
{
	return buf_addstr(b, key) && buf_addstr(b, " ") && envelope_esc(b, v) &&
	    buf_addstr(b, "\n");
}

/* rstate_add: the "rstate" line of recipient i, if it was attempted. */
static bool
rstate_add(struct buf *b, const struct envelope_rcpt *r, size_t i)
{
	if (r->state == RSTATE_PENDING && r->attempts == 0 && r->next == 0 &&
	    r->dsn[0] == '\0' && r->remote == NULL && r->reply == NULL &&
	    !r->reported)
		return true;
	return buf_printf(b, "rstate %zu %s %u %lld %d ", i,
	    rstate_names[r->state], r->attempts, (long long)r->next,
	    r->reported) && envelope_esc(b, r->dsn[0] ? r->dsn : NULL) &&
	    buf_addstr(b, " ") && envelope_esc(b, r->remote) &&
	    buf_addstr(b, " ") && envelope_esc(b, r->reply) && buf_addstr(b, "\n");
}

/* envelope_format: the file's text; false if it would exceed the limit. */
bool
envelope_format(const struct envelope *env, struct buf *b)
{
	size_t	 i;
	bool	 ok;

	ok = buf_printf(b, "sekisho-envelope %d\n", ENVELOPE_VERSION) &&
	    field(b, "id", env->id) &&
	    buf_printf(b, "received %lld\n", (long long)env->received) &&
	    field(b, "sender", env->sender ? env->sender : "") &&
	    field(b, "helo", env->helo) &&
	    field(b, "client-ip", env->client_ip) &&
	    field(b, "client-name", env->client_name) &&
	    field(b, "tls", env->tls) &&
	    field(b, "envid", env->envid) &&
	    field(b, "auth", env->auth) &&
	    buf_printf(b, "size %llu\n", (unsigned long long)env->size) &&
	    buf_printf(b, "smtputf8 %d\n", env->smtputf8) &&
	    buf_printf(b, "body %s\n", env->body_8bit ? "8bitmime" : "7bit") &&
	    buf_printf(b, "ret %s\n", env->ret_hdrs ? "hdrs" : "full");
	if (ok && env->warned)
		ok = buf_addstr(b, "warned 1\n");
	if (ok && env->scanfail > 0)
		ok = buf_printf(b, "scanfail %u\n", env->scanfail);
	if (ok && env->skiprule != NULL)
		ok = field(b, "skiprule", env->skiprule);
	for (i = 0; ok && i < env->nrcpt; i++)
		ok = buf_addstr(b, "rcpt ") &&
		    envelope_esc(b, env->rcpt[i].addr) &&
		    buf_printf(b, " %u ", env->rcpt[i].notify) &&
		    envelope_esc(b, env->rcpt[i].orcpt) && buf_addstr(b, "\n");
	for (i = 0; ok && i < env->nrcpt; i++)
		ok = rstate_add(b, &env->rcpt[i], i);
	return ok && buf_addstr(b, "end\n");
}

/*
 * envelope_unesc: decode one escaped token of len bytes into a new string; *out is
 * NULL for "-".  Fails on a bad escape, an escaped NUL, or a raw byte the
 * writer would have escaped.
 */
bool
envelope_unesc(const char *s, size_t len, char **out)
{
	char	*d;
	size_t	 i, o = 0;
	int	 h, l;

	*out = NULL;
	if (len == 1 && s[0] == '-')
		return true;
	d = xmalloc(len + 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			if (i + 2 >= len)
				goto bad;
			if ((h = str_hexval(s[i + 1])) < 0 ||
			    (l = str_hexval(s[i + 2])) < 0 ||
			    (h == 0 && l == 0))
				goto bad;
			d[o++] = (char)(h << 4 | l);
			i += 2;
		} else if (c <= 0x20 || c == 0x7f)
			goto bad;
		else
			d[o++] = (char)c;
	}
	d[o] = '\0';
	*out = d;
	return true;
bad:
	free(d);
	return false;
}

/* parse_u64: a decimal number of a whole token. */
static bool
parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t	 i;

	if (len == 0 || len > 20)
		return false;
	for (i = 0; i < len; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

/* Parser state across the lines of one envelope. */
struct env_parse {
	uint32_t	 seen;		/* single-valued keys already read */
	size_t		 nrstate;	/* next rstate index expected at least */
};

/*
 * split: exactly n space-separated tokens of v (escaped values hold no
 * spaces); false for any other count or an empty token.
 */
static bool
split(const char *v, size_t len, const char **tok, size_t *toklen, size_t n)
{
	const char *end = v + len, *sp;
	size_t	 i;

	for (i = 0; i < n; i++) {
		sp = memchr(v, ' ', end - v);
		if (sp == NULL)
			sp = end;
		if (sp == v || (i + 1 < n) != (sp < end))
			return false;
		tok[i] = v;
		toklen[i] = sp - v;
		v = sp + 1;
	}
	return true;
}

/* parse_rcpt: "ADDR NOTIFY ORCPT" */
static bool
parse_rcpt(struct envelope *env, const char *v, size_t len)
{
	const char *t[3];
	size_t	 tl[3];
	char	*addr, *orcpt;
	uint64_t notify;

	if (!split(v, len, t, tl, 3) || !parse_u64(t[1], tl[1], 0x0f, &notify))
		return false;
	if (env->nrcpt >= ENVELOPE_MAX_RCPT)
		return false;
	if (!envelope_unesc(t[0], tl[0], &addr) || addr == NULL) {
		free(addr);
		return false;
	}
	if (!envelope_unesc(t[2], tl[2], &orcpt)) {
		free(addr);
		return false;
	}
	envelope_add_rcpt(env, addr, orcpt, (uint8_t)notify);
	free(addr);
	free(orcpt);
	return true;
}

/*
 * parse_rstate: "INDEX STATE ATTEMPTS NEXT REPORTED DSN REMOTE REPLY",
 * indices increasing, each naming a recipient listed before.
 */
static bool
parse_rstate(struct envelope *env, struct env_parse *ps, const char *v,
    size_t len)
{
	struct envelope_rcpt *r;
	const char *t[8];
	size_t	 tl[8], st;
	uint64_t idx, attempts, next, reported;
	char	*dsn;

	if (!split(v, len, t, tl, 8) ||
	    !parse_u64(t[0], tl[0], ENVELOPE_MAX_RCPT, &idx) ||
	    idx >= env->nrcpt || idx < ps->nrstate ||
	    !parse_u64(t[2], tl[2], UINT32_MAX, &attempts) ||
	    !parse_u64(t[3], tl[3], INT64_MAX, &next) ||
	    !parse_u64(t[4], tl[4], 1, &reported))
		return false;
	for (st = 0; st < nitems(rstate_names); st++)
		if (strlen(rstate_names[st]) == tl[1] &&
		    memcmp(rstate_names[st], t[1], tl[1]) == 0)
			break;
	if (st == nitems(rstate_names))
		return false;
	r = &env->rcpt[idx];
	ps->nrstate = idx + 1;
	r->state = (uint8_t)st;
	r->attempts = (uint32_t)attempts;
	r->next = (time_t)next;
	r->reported = reported != 0;
	if (!envelope_unesc(t[5], tl[5], &dsn))
		return false;
	if (dsn != NULL && strlen(dsn) >= sizeof(r->dsn)) {
		free(dsn);
		return false;
	}
	str_lcpy(r->dsn, dsn != NULL ? dsn : "", sizeof(r->dsn));
	free(dsn);
	return envelope_unesc(t[6], tl[6], &r->remote) && envelope_unesc(t[7], tl[7], &r->reply);
}

/* parse_field: one "key value" line into the envelope. */
static bool
parse_field(struct envelope *env, const char *k, size_t klen, const char *v,
    size_t vlen, struct env_parse *ps)
{
	static const char *const keys[] = { "id", "received", "sender", "helo",
	    "client-ip", "client-name", "tls", "envid", "auth", "size",
	    "smtputf8", "body", "ret", "rcpt", "warned", "rstate", "scanfail",
	    "skiprule" };
	char	**strs[] = { NULL, NULL, &env->sender, &env->helo,
	    &env->client_ip, &env->client_name, &env->tls, &env->envid,
	    &env->auth };
	uint64_t n;
	char	*id;
	size_t	 i;
	bool	 dup;

	for (i = 0; i < nitems(keys); i++)
		if (strlen(keys[i]) == klen && memcmp(keys[i], k, klen) == 0)
			break;
	if (i == nitems(keys))
		return false;
	if (i == 13)
		/* Recipients come before any delivery state. */
		return ps->nrstate == 0 && parse_rcpt(env, v, vlen);
	if (i == 15)
		return parse_rstate(env, ps, v, vlen);
	dup = (ps->seen & (1u << i)) != 0;
	ps->seen |= 1u << i;
	if (dup)
		return false;
	if (i >= 2 && i <= 8)	/* the sender may be "" but not null */
		return envelope_unesc(v, vlen, strs[i]) && (i != 2 || *strs[i] != NULL);
	switch (i) {
	case 0:
		if (!envelope_unesc(v, vlen, &id) || id == NULL ||
		    strlen(id) != SPOOL_ID_LEN ||
		    strspn(id, "0123456789abcdef") != SPOOL_ID_LEN) {
			free(id);
			return false;
		}
		memcpy(env->id, id, SPOOL_ID_LEN + 1);
		free(id);
		return true;
	case 1:
		if (!parse_u64(v, vlen, INT64_MAX, &n))
			return false;
		env->received = (time_t)n;
		return true;
	case 9:
		return parse_u64(v, vlen, UINT64_MAX, &env->size);
	case 10:
		if (vlen != 1 || (v[0] != '0' && v[0] != '1'))
			return false;
		env->smtputf8 = v[0] == '1';
		return true;
	case 11:
		if (vlen == 8 && memcmp(v, "8bitmime", 8) == 0)
			env->body_8bit = true;
		else if (!(vlen == 4 && memcmp(v, "7bit", 4) == 0))
			return false;
		return true;
	case 12:
		if (vlen == 4 && memcmp(v, "hdrs", 4) == 0)
			env->ret_hdrs = true;
		else if (!(vlen == 4 && memcmp(v, "full", 4) == 0))
			return false;
		return true;
	case 14:
		if (vlen != 1 || v[0] != '1')
			return false;
		env->warned = true;
		return true;
	case 16:
		if (!parse_u64(v, vlen, UINT32_MAX, &n) || n == 0)
			return false;
		env->scanfail = (uint32_t)n;
		return true;
	case 17:
		return envelope_unesc(v, vlen, &env->skiprule) &&
		    env->skiprule != NULL && env->skiprule[0] != '\0';
	}
	return false;
}

/*
 * envelope_parse: read an envelope file's text.  Returns 0, or -1 with a
 * message "line N: what" in err.  On failure the envelope is left empty.
 */
int
envelope_parse(struct envelope *env, const char *text, size_t len, char *err,
    size_t errlen)
{
	const char *p = text, *end = text + len, *nl, *sp;
	struct env_parse ps = { 0, 0 };
	int	 line = 0;
	bool	 ended = false;
	static const char hdr[] = "sekisho-envelope 1";

	envelope_init(env);
	if (len > ENVELOPE_MAX_SIZE) {
		str_printf(err, errlen, "envelope larger than %d bytes",
		    ENVELOPE_MAX_SIZE);
		return -1;
	}
	while (p < end) {
		line++;
		if ((nl = memchr(p, '\n', end - p)) == NULL) {
			str_printf(err, errlen, "line %d: no line end", line);
			goto fail;
		}
		if (ended) {
			str_printf(err, errlen, "line %d: data after end",
			    line);
			goto fail;
		}
		if (line == 1) {
			if ((size_t)(nl - p) != sizeof(hdr) - 1 ||
			    memcmp(p, hdr, sizeof(hdr) - 1) != 0) {
				str_printf(err, errlen, "line 1: not a version"
				    " %d sekisho envelope", ENVELOPE_VERSION);
				goto fail;
			}
		} else if (nl - p == 3 && memcmp(p, "end", 3) == 0)
			ended = true;
		else if ((sp = memchr(p, ' ', nl - p)) == NULL ||
		    !parse_field(env, p, sp - p, sp + 1, nl - sp - 1, &ps)) {
			str_printf(err, errlen, "line %d: invalid field", line);
			goto fail;
		}
		p = nl + 1;
	}
	if (!ended) {
		str_printf(err, errlen, "cut short: no end line");
		goto fail;
	}
	/* id, received, sender and size are required; so is a recipient. */
	if ((ps.seen & 0x207) != 0x207 || env->nrcpt == 0) {
		str_printf(err, errlen, "a required field is missing");
		goto fail;
	}
	return 0;
fail:
	envelope_clear(env);
	return -1;
}
