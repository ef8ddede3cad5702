/*
 * scan_proto.c: encode and check the scan server's answer (scan_proto.h).
 *
 * Layout after the u64 request id (ipc_add_* terms):
 *
 *	u8 status, str reason, str subject, u64 usec, u8 verdict,
 *	u32 ngroups, per group:
 *	    u32 n, n * u32 rcpt index,
 *	    u8 intercept, str intercept_arg, str intercept_rule,
 *	    str final_text, u8 modified, u64 off, u64 len, u8 archive,
 *	    u32 n, n * str bcc, u32 n, n * (str rule, str action, str conds),
 *	    str limits
 *	u32 nnotifs, per notification:
 *	    u8 kind, str rule, u32 n, n * str to, u64 off, u64 len
 */
#include <stdlib.h>
#include <string.h>

#include "ini.h"
#include "ipc.h"
#include "scan_proto.h"
#include "util.h"
#include "xmalloc.h"

/* add_strs: n strings. */
static void
add_strs(struct ipc_msg *m, char *const *v, size_t n)
{
	size_t	 i;

	ipc_add_u32(m, (uint32_t)n);
	for (i = 0; i < n; i++)
		ipc_add_str(m, v[i]);
}

/*
 * add_text: one string, cut to SCAN_PROTO_MAX_TEXT bytes at a UTF-8
 * character boundary: text that comes from the message (a subject of
 * 100 KB) must not make the whole answer one the queue refuses.
 */
static void
add_text(struct ipc_msg *m, const char *s)
{
	size_t	 n;
	char	*cut;

	if (s == NULL)
		s = "";
	if ((n = strlen(s)) <= SCAN_PROTO_MAX_TEXT) {
		ipc_add_str(m, s);
		return;
	}
	n = SCAN_PROTO_MAX_TEXT;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	cut = xstrndup(s, n);
	ipc_add_str(m, cut);
	free(cut);
}

/* scan_reply_encode: r into m, after the request id the caller added. */
void
scan_reply_encode(struct ipc_msg *m, const struct scan_reply *r)
{
	const struct scan_group	*g;
	const struct scan_notif	*n;
	size_t			 i, j;

	ipc_add_u8(m, r->status);
	add_text(m, r->reason);
	add_text(m, r->subject);
	ipc_add_u64(m, r->usec);
	ipc_add_u8(m, r->verdict);
	ipc_add_u32(m, (uint32_t)r->ngroups);
	for (i = 0; i < r->ngroups; i++) {
		g = &r->groups[i];
		ipc_add_u32(m, (uint32_t)g->nrcpts);
		for (j = 0; j < g->nrcpts; j++)
			ipc_add_u32(m, g->rcpts[j]);
		ipc_add_u8(m, g->intercept);
		add_text(m, g->intercept_arg);
		add_text(m, g->intercept_rule);
		add_text(m, g->final_text);
		ipc_add_u8(m, g->modified);
		ipc_add_u64(m, g->content.off);
		ipc_add_u64(m, g->content.len);
		ipc_add_u8(m, g->archive);
		add_strs(m, g->bcc, g->nbcc);
		ipc_add_u32(m, (uint32_t)g->nhits);
		for (j = 0; j < g->nhits; j++) {
			add_text(m, g->hits[j].rule);
			add_text(m, g->hits[j].action);
			add_text(m, g->hits[j].conds);
		}
		add_text(m, g->limits);
	}
	ipc_add_u32(m, (uint32_t)r->nnotifs);
	for (i = 0; i < r->nnotifs; i++) {
		n = &r->notifs[i];
		ipc_add_u8(m, n->kind);
		add_text(m, n->rule);
		add_strs(m, n->to, n->nto);
		ipc_add_u64(m, n->body.off);
		ipc_add_u64(m, n->body.len);
	}
}

/* get_text: one string, valid UTF-8 of at most SCAN_PROTO_MAX_TEXT. */
static bool
get_text(struct ipc_msg_in *m, char **out)
{
	if (!ipc_get_strdup(m, SCAN_PROTO_MAX_TEXT, out))
		return false;
	return ini_utf8_valid(*out, strlen(*out));
}

/* get_count: a u32 count no larger than max. */
static bool
get_count(struct ipc_msg_in *m, size_t max, size_t *n)
{
	uint32_t v;

	if (!ipc_get_u32(m, &v) || v > max)
		return false;
	*n = v;
	return true;
}

/* get_strs: a list of strings. */
static bool
get_strs(struct ipc_msg_in *m, char ***v, size_t *n)
{
	size_t	 i, cnt;

	if (!get_count(m, SCAN_PROTO_MAX_LIST, &cnt))
		return false;
	*v = xcalloc(cnt ? cnt : 1, sizeof(**v));
	for (i = 0; i < cnt; i++) {
		if (!get_text(m, &(*v)[i])) {
			*n = i + ((*v)[i] != NULL);
			return false;
		}
	}
	*n = cnt;
	return true;
}

/* get_slice: off and len, inside a file of size bytes. */
static bool
get_slice(struct ipc_msg_in *m, uint64_t size, struct scan_slice *s)
{
	return ipc_get_u64(m, &s->off) && ipc_get_u64(m, &s->len) &&
	    s->off <= size && s->len <= size - s->off;
}

/* get_group: one group; seen marks the recipients already placed. */
static bool
get_group(struct ipc_msg_in *m, size_t nrcpt, uint64_t size, uint8_t *seen,
    struct scan_group *g)
{
	size_t	 i, cnt;
	uint8_t	 mod, arch;

	if (!get_count(m, nrcpt, &cnt) || cnt == 0)
		return false;
	g->rcpts = xcalloc(cnt, sizeof(*g->rcpts));
	for (i = 0; i < cnt; i++) {
		if (!ipc_get_u32(m, &g->rcpts[i]) || g->rcpts[i] >= nrcpt ||
		    seen[g->rcpts[i]])
			return false;
		seen[g->rcpts[i]] = 1;
		g->nrcpts++;
	}
	if (!ipc_get_u8(m, &g->intercept) || g->intercept > SCAN_CHANGE_RCPT ||
	    !get_text(m, &g->intercept_arg) ||
	    !get_text(m, &g->intercept_rule) || !get_text(m, &g->final_text) ||
	    !ipc_get_u8(m, &mod) || mod > 1 ||
	    !get_slice(m, size, &g->content) ||
	    !ipc_get_u8(m, &arch) || arch > 1)
		return false;
	g->modified = mod;
	g->archive = arch;
	if ((g->intercept == SCAN_QUARANTINE ||
	    g->intercept == SCAN_CHANGE_RCPT) && g->intercept_arg[0] == '\0')
		return false;
	if (!get_strs(m, &g->bcc, &g->nbcc) ||
	    !get_count(m, SCAN_PROTO_MAX_LIST, &cnt))
		return false;
	g->hits = xcalloc(cnt ? cnt : 1, sizeof(*g->hits));
	for (i = 0; i < cnt; i++) {
		g->nhits++;
		if (!get_text(m, &g->hits[i].rule) ||
		    !get_text(m, &g->hits[i].action) ||
		    !get_text(m, &g->hits[i].conds))
			return false;
	}
	return get_text(m, &g->limits);
}

/* get_notif: one notification. */
static bool
get_notif(struct ipc_msg_in *m, uint64_t size, struct scan_notif *n)
{
	return ipc_get_u8(m, &n->kind) && n->kind <= SCAN_NOTIFY_ADMIN &&
	    get_text(m, &n->rule) && get_strs(m, &n->to, &n->nto) &&
	    n->nto > 0 && get_slice(m, size, &n->body) && n->body.len > 0;
}

/*
 * scan_reply_decode: read the answer after its request id, for a message
 * of nrcpt recipients and an output file of outsize bytes.  0, or -1 with
 * the reason in err; r is always fit for scan_reply_clear.
 */
int
scan_reply_decode(struct ipc_msg_in *m, size_t nrcpt, uint64_t outsize,
    struct scan_reply *r, char *err, size_t errlen)
{
	uint8_t	*seen = NULL;
	size_t	 i, cnt;
	bool	 ok;

	memset(r, 0, sizeof(*r));
	ok = ipc_get_u8(m, &r->status) && r->status <= SCAN_STATUS_FAILED &&
	    get_text(m, &r->reason) && get_text(m, &r->subject) &&
	    ipc_get_u64(m, &r->usec) && ipc_get_u8(m, &r->verdict) &&
	    (r->verdict & ~SCAN_VERDICT_ALL) == 0 &&
	    (r->status == SCAN_STATUS_OK || r->verdict == 0) &&
	    get_count(m, SCAN_PROTO_MAX_GROUPS, &cnt) && cnt <= nrcpt &&
	    (r->status != SCAN_STATUS_OK || cnt > 0);
	if (ok) {
		seen = xcalloc(nrcpt ? nrcpt : 1, 1);
		r->groups = xcalloc(cnt ? cnt : 1, sizeof(*r->groups));
		for (i = 0; ok && i < cnt; i++) {
			r->ngroups++;
			ok = get_group(m, nrcpt, outsize, seen, &r->groups[i]);
		}
		/* Every recipient ends in exactly one group (seed 9). */
		for (i = 0; ok && r->status == SCAN_STATUS_OK && i < nrcpt; i++)
			ok = seen[i] != 0;
		free(seen);
	}
	ok = ok && get_count(m, SCAN_PROTO_MAX_LIST, &cnt);
	if (ok) {
		r->notifs = xcalloc(cnt ? cnt : 1, sizeof(*r->notifs));
		for (i = 0; ok && i < cnt; i++) {
			r->nnotifs++;
			ok = get_notif(m, outsize, &r->notifs[i]);
		}
	}
	if (ok && ipc_end(m))
		return 0;
	str_lcpy(err, "malformed scan result", errlen);
	scan_reply_clear(r);
	return -1;
}

/* free_strs: a list of strings. */
static void
free_strs(char **v, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* scan_reply_clear: free what r owns; it is zeroed. */
void
scan_reply_clear(struct scan_reply *r)
{
	struct scan_group *g;
	size_t	 i, j;

	for (i = 0; i < r->ngroups; i++) {
		g = &r->groups[i];
		free(g->rcpts);
		free(g->intercept_arg);
		free(g->intercept_rule);
		free(g->final_text);
		free_strs(g->bcc, g->nbcc);
		for (j = 0; j < g->nhits; j++) {
			free(g->hits[j].rule);
			free(g->hits[j].action);
			free(g->hits[j].conds);
		}
		free(g->hits);
		free(g->limits);
	}
	free(r->groups);
	for (i = 0; i < r->nnotifs; i++) {
		free(r->notifs[i].rule);
		free_strs(r->notifs[i].to, r->notifs[i].nto);
	}
	free(r->notifs);
	free(r->reason);
	free(r->subject);
	memset(r, 0, sizeof(*r));
}

/* scan_reply_fail: r becomes a failure with reason why. */
void
scan_reply_fail(struct scan_reply *r, const char *why)
{
	scan_reply_clear(r);
	r->status = SCAN_STATUS_FAILED;
	r->verdict = 0;
	r->reason = xstrdup(why);
}
