/*
 * rspamd.c: ask rspamd about a message (rspamd.h).
 *
 * One HTTP/1.0 request per message: "POST /checkv2" with rspamd's
 * request headers (IP, Helo, From, Rcpt, Queue-Id, MTA-Name) and the
 * message as the body; the answer is read to the end (at most
 * RSPAMD_MAX_REPLY bytes) and must be "200" with a JSON object holding a
 * numeric score.  Nothing waits past the deadline.  The answer is from a
 * peer we trust less than ourselves: every field is checked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "rspamd.h"
#include "util.h"
#include "xmalloc.h"

/* rspamd_hdr: one request header, when the value is safe to send. */
static void
rspamd_hdr(struct buf *b, const char *name, const char *v)
{
	if (v == NULL || v[0] == '\0' || strpbrk(v, "\r\n") != NULL ||
	    strlen(v) > 512)
		return;
	buf_printf(b, "%s: %s\r\n", name, v);
}

struct rspamd_sym {
	const char	*name;
	double		 score;
};

/* rspamd_sym_cmp: symbols by score, highest first. */
static int
rspamd_sym_cmp(const void *a, const void *b)
{
	const struct rspamd_sym *x = a, *y = b;

	return x->score < y->score ? 1 : x->score > y->score ? -1 : 0;
}

/* rspamd_symbols: the symbols that added to the score, as "NAME(s)". */
static void
rspamd_symbols(json_t *syms, struct rspamd_result *r)
{
	struct rspamd_sym *list;
	json_t		*v;
	const char	*k;
	size_t		 n = 0, i;
	double		 sc;
	char		 one[160];

	if (!json_is_object(syms))
		return;
	list = xcalloc(json_object_size(syms) + 1, sizeof(*list));
	json_object_foreach(syms, k, v) {
		sc = json_number_value(json_object_get(v, "score"));
		if (sc > 0 && strlen(k) < 100 && strspn(k,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789_") == strlen(k)) {
			list[n].name = k;
			list[n++].score = sc;
		}
	}
	qsort(list, n, sizeof(*list), rspamd_sym_cmp);
	r->symbols = xcalloc(RSPAMD_MAX_SYMBOLS + 1, sizeof(*r->symbols));
	for (i = 0; i < n && r->nsymbols < RSPAMD_MAX_SYMBOLS; i++)
		if (str_printf(one, sizeof(one), "%s(%.2g)", list[i].name,
		    list[i].score))
			r->symbols[r->nsymbols++] = xstrdup(one);
	free(list);
}

/*
 * rspamd_parse: an HTTP answer of rspamd into r.  0, or -1 with the
 * reason in err (r is then empty).
 */
int
rspamd_parse(const char *ans, size_t len, struct rspamd_result *r,
    char *err, size_t errlen)
{
	const char	*body, *eol;
	json_error_t	 je;
	json_t		*o, *score, *req, *act;

	memset(r, 0, sizeof(*r));
	if (len < 12 || strncmp(ans, "HTTP/1.", 7) != 0 ||
	    (eol = memchr(ans, '\n', len)) == NULL) {
		str_lcpy(err, "not an HTTP answer", errlen);
		return -1;
	}
	if (strncmp(ans + 8, " 200", 4) != 0) {
		str_printf(err, errlen, "answered %.*s", (int)(eol - ans > 60 ?
		    60 : eol - ans - (eol[-1] == '\r')), ans);
		return -1;
	}
	if ((body = memmem(ans, len, "\r\n\r\n", 4)) == NULL) {
		str_lcpy(err, "no end of the HTTP header", errlen);
		return -1;
	}
	body += 4;
	if ((o = json_loadb(body, len - (size_t)(body - ans),
	    JSON_REJECT_DUPLICATES, &je)) == NULL) {
		str_printf(err, errlen, "answer is not JSON: %s", je.text);
		return -1;
	}
	score = json_object_get(o, "score");
	req = json_object_get(o, "required_score");
	act = json_object_get(o, "action");
	if (!json_is_number(score) || json_number_value(score) < -1e6 ||
	    json_number_value(score) > 1e6) {
		json_decref(o);
		str_lcpy(err, "answer has no score", errlen);
		return -1;
	}
	r->score = json_number_value(score);
	r->required = json_is_number(req) ? json_number_value(req) : 0;
	if (json_is_string(act) && strlen(json_string_value(act)) <
	    sizeof(r->action) && strspn(json_string_value(act),
	    "abcdefghijklmnopqrstuvwxyz ") == strlen(json_string_value(act)))
		str_lcpy(r->action, json_string_value(act), sizeof(r->action));
	rspamd_symbols(json_object_get(o, "symbols"), r);
	json_decref(o);
	return 0;
}

/*
 * rspamd_check: ask rspamd at addr (within timeout_ms) about in.  0 with
 * the verdict in r, or -1 with the reason in err.
 */
int
rspamd_check(const struct netc_addr *addr, unsigned timeout_ms,
    const struct rspamd_input *in, struct rspamd_result *r, char *err,
    size_t errlen)
{
	struct buf	 req, ans;
	int64_t		 deadline = netc_now_ms() + timeout_ms;
	char		 chunk[16384];
	ssize_t		 n;
	size_t		 i;
	int		 fd = -1, rv = -1;

	memset(r, 0, sizeof(*r));
	buf_init(&req, 64 * 1024);
	buf_printf(&req, "POST /checkv2 HTTP/1.0\r\nContent-Length: %zu\r\n",
	    in->len);
	rspamd_hdr(&req, "IP", in->client_ip);
	rspamd_hdr(&req, "Helo", in->helo);
	rspamd_hdr(&req, "From", in->mail_from);
	for (i = 0; i < in->nrcpts && i < 100; i++)
		rspamd_hdr(&req, "Rcpt", in->rcpts[i]);
	rspamd_hdr(&req, "Queue-Id", in->qid);
	rspamd_hdr(&req, "MTA-Name", in->hostname);
	if (!buf_addstr(&req, "\r\n")) {
		buf_free(&req);
		str_lcpy(err, "request header too large", errlen);
		return -1;
	}
	buf_init(&ans, RSPAMD_MAX_REPLY);
	if ((fd = netc_connect(addr, deadline)) == -1) {
		str_printf(err, errlen, "rspamd %s: connect: %s", addr->text,
		    strerror(errno));
		goto done;
	}
	if (netc_send(fd, req.data, req.len, deadline) == -1 ||
	    netc_send(fd, in->raw, in->len, deadline) == -1) {
		str_printf(err, errlen, "rspamd %s: send: %s", addr->text,
		    strerror(errno));
		goto done;
	}
	while ((n = netc_recv(fd, chunk, sizeof(chunk), deadline)) > 0)
		if (!buf_add(&ans, chunk, (size_t)n)) {
			str_printf(err, errlen, "rspamd %s: answer over %d "
			    "bytes", addr->text, RSPAMD_MAX_REPLY);
			goto done;
		}
	if (n == -1) {
		str_printf(err, errlen, "rspamd %s: receive: %s", addr->text,
		    strerror(errno));
		goto done;
	}
	if (rspamd_parse((const char *)ans.data, ans.len, r, chunk,
	    sizeof(chunk)) == -1) {
		str_printf(err, errlen, "rspamd %s: %s", addr->text, chunk);
		goto done;
	}
	rv = 0;
done:
	if (fd != -1)
		close(fd);
	buf_free(&req);
	buf_free(&ans);
	return rv;
}

/* rspamd_result_free: what r owns; r is zeroed. */
void
rspamd_result_free(struct rspamd_result *r)
{
	size_t	 i;

	for (i = 0; i < r->nsymbols; i++)
		free(r->symbols[i]);
	free(r->symbols);
	memset(r, 0, sizeof(*r));
}
