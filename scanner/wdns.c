/*
 * wdns.c: the resolver-independent part of worker DNS (wdns.h).
 */
#include <stdlib.h>
#include <string.h>

#include "wdns.h"
#include "xmalloc.h"

/* wdns_query: ask w; without a resolver every answer is DNS_TEMPFAIL. */
void
wdns_query(const struct wdns *w, enum dns_type type, const char *name,
    struct wdns_answer *out)
{
	memset(out, 0, sizeof(*out));
	out->status = DNS_TEMPFAIL;
	if (w != NULL && w->query != NULL)
		w->query(w->arg, type, name, out);
}

/*
 * wdns_query_batch: the n questions of qs, answered in outs (all at
 * once when the resolver can, so their round trips overlap).
 */
void
wdns_query_batch(const struct wdns *w, const struct wdns_q *qs, size_t n,
    struct wdns_answer *outs)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		memset(&outs[i], 0, sizeof(outs[i]));
		outs[i].status = DNS_TEMPFAIL;
	}
	if (w != NULL && w->batch != NULL) {
		w->batch(w->arg, qs, n, outs);
		return;
	}
	for (i = 0; i < n; i++)
		wdns_query(w, qs[i].type, qs[i].name, &outs[i]);
}

/* wdns_answer_add: one more record (cut at WDNS_RR_MAX, WDNS_MAX_RR). */
void
wdns_answer_add(struct wdns_answer *a, const char *rr)
{
	if (a->nrr >= WDNS_MAX_RR)
		return;
	a->rr = xreallocarray(a->rr, a->nrr + 1, sizeof(*a->rr));
	a->rr[a->nrr++] = xstrndup(rr, WDNS_RR_MAX);
}

/* wdns_answer_free: release the records; the answer is zeroed. */
void
wdns_answer_free(struct wdns_answer *a)
{
	size_t	 i;

	for (i = 0; i < a->nrr; i++)
		free(a->rr[i]);
	free(a->rr);
	memset(a, 0, sizeof(*a));
}
