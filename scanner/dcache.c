/*
 * dcache.c: cached DNS answers (dcache.h): a hash table of entries on an
 * LRU list.
 */
#include <sys/queue.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dcache.h"
#include "xmalloc.h"

struct dent {
	TAILQ_ENTRY(dent)	 lru;		/* most recent first */
	struct dent		*next;		/* bucket chain */
	uint32_t		 hash;
	enum dns_type		 type;
	char			*name;		/* lower case */
	struct wdns_answer	 ans;
	time_t			 expires;
};
TAILQ_HEAD(dent_list, dent);

struct dcache {
	struct dent		**buckets;
	size_t			 nbuckets;	/* power of two */
	size_t			 count, max;
	struct dent_list	 lru;
};

/* dcache_hash: FNV-1a of the type and the lower-case name. */
static uint32_t
dcache_hash(enum dns_type type, const char *name)
{
	uint32_t h = 2166136261u ^ (uint32_t)type;

	for (; *name != '\0'; name++)
		h = (h ^ (uint8_t)tolower((unsigned char)*name)) * 16777619u;
	return h;
}

/* dcache_new: an empty cache of at most max entries (at least 1). */
struct dcache *
dcache_new(size_t max)
{
	struct dcache	*c = xcalloc(1, sizeof(*c));

	c->max = max > 0 ? max : 1;
	for (c->nbuckets = 64; c->nbuckets < c->max; c->nbuckets *= 2)
		;
	c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
	TAILQ_INIT(&c->lru);
	return c;
}

/* dcache_find: the entry and the link that points to it, or NULL. */
static struct dent *
dcache_find(struct dcache *c, enum dns_type type, const char *name,
    uint32_t h, struct dent ***linkp)
{
	struct dent	**link = &c->buckets[h & (c->nbuckets - 1)], *e;

	for (; (e = *link) != NULL; link = &e->next)
		if (e->hash == h && e->type == type &&
		    strcasecmp(e->name, name) == 0) {
			*linkp = link;
			return e;
		}
	return NULL;
}

/* dcache_drop: unlink e (link points to it) and free it. */
static void
dcache_drop(struct dcache *c, struct dent *e, struct dent **link)
{
	*link = e->next;
	TAILQ_REMOVE(&c->lru, e, lru);
	c->count--;
	wdns_answer_free(&e->ans);
	free(e->name);
	free(e);
}

/* dcache_copy: a deep copy of an answer. */
static void
dcache_copy(struct wdns_answer *dst, const struct wdns_answer *src)
{
	size_t	 i;

	memset(dst, 0, sizeof(*dst));
	dst->status = src->status;
	for (i = 0; i < src->nrr; i++)
		wdns_answer_add(dst, src->rr[i]);
}

/* dcache_get: a copy of the cached answer in out, unless missing or old. */
bool
dcache_get(struct dcache *c, enum dns_type type, const char *name,
    time_t now, struct wdns_answer *out)
{
	struct dent	*e, **link;
	uint32_t	 h = dcache_hash(type, name);

	if ((e = dcache_find(c, type, name, h, &link)) == NULL)
		return false;
	if (e->expires <= now) {
		dcache_drop(c, e, link);
		return false;
	}
	TAILQ_REMOVE(&c->lru, e, lru);
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	dcache_copy(out, &e->ans);
	return true;
}

/* dcache_put: keep a copy of ans until expires (replacing an old one). */
void
dcache_put(struct dcache *c, enum dns_type type, const char *name,
    const struct wdns_answer *ans, time_t expires)
{
	struct dent	*e, **link;
	uint32_t	 h = dcache_hash(type, name);
	char		*p;

	if ((e = dcache_find(c, type, name, h, &link)) != NULL)
		dcache_drop(c, e, link);
	while (c->count >= c->max) {
		e = TAILQ_LAST(&c->lru, dent_list);
		(void)dcache_find(c, e->type, e->name, e->hash, &link);
		dcache_drop(c, e, link);
	}
	e = xcalloc(1, sizeof(*e));
	e->hash = h;
	e->type = type;
	e->name = xstrdup(name);
	for (p = e->name; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	dcache_copy(&e->ans, ans);
	e->expires = expires;
	link = &c->buckets[h & (c->nbuckets - 1)];
	e->next = *link;
	*link = e;
	TAILQ_INSERT_HEAD(&c->lru, e, lru);
	c->count++;
}

/* dcache_count: entries held (expired ones included until looked up). */
size_t
dcache_count(const struct dcache *c)
{
	return c->count;
}

/* dcache_free: the cache and every entry. */
void
dcache_free(struct dcache *c)
{
	struct dent	*e;

	if (c == NULL)
		return;
	while ((e = TAILQ_FIRST(&c->lru)) != NULL) {
		TAILQ_REMOVE(&c->lru, e, lru);
		wdns_answer_free(&e->ans);
		free(e->name);
		free(e);
	}
	free(c->buckets);
	free(c);
}
