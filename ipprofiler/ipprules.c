/*
 * ipprules.c: behaviour per address, the rules of foxdns.ini, the blocks
 * in force and the approved and blocked lists (see ipprules.h).
 *
 * Three tables keyed by address or network (struct htab): the lists
 * (approved, blocked; rebuilt at each reload), the stored blocks (rules
 * and administrator) and the tracked addresses.  An address is matched
 * against networks by looking it up once per prefix length present in
 * the table, so a check costs a few hash lookups however long the lists
 * are.  Temporary blocks also sit in a min-heap by expiry, so the owner
 * can arm one timer for the next expiry and removal is O(log n).
 * Tracked addresses are in least-recently-seen order for eviction.
 */
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blzone.h"
#include "ini.h"
#include "ipprules.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define HEAP_NONE	((size_t)-1)

/* ---- hash tables of addresses and networks --------------------------- */

struct hnode {
	struct hnode	*next;
	struct netaddr	 key;		/* host bits clear */
};

struct htab {
	struct hnode	**b;
	size_t		 nb;		/* buckets, a power of two (or 0) */
	size_t		 n;
	uint32_t	 nplen[129];	/* entries per prefix length */
};

static uint64_t	 hseed[2];
static bool	 hseeded;

/* hseed_init: the per-process key of the address hash. */
static void
hseed_init(void)
{
	if (hseeded)
		return;
	if (getrandom(hseed, sizeof(hseed), 0) != (ssize_t)sizeof(hseed)) {
		hseed[0] = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL;
		hseed[1] = (uint64_t)getpid() * 0xc2b2ae3d27d4eb4fULL;
	}
	hseeded = true;
}

static uint64_t
hmix(uint64_t a, uint64_t b)
{
	unsigned __int128 p = (unsigned __int128)a * b;

	return (uint64_t)p ^ (uint64_t)(p >> 64);
}

/* hkey: a keyed hash of an address or network. */
static uint64_t
hkey(const struct netaddr *k)
{
	uint64_t	 x, y;

	memcpy(&x, k->a, 8);
	memcpy(&y, k->a + 8, 8);
	x = hmix(x ^ hseed[0], y ^ hseed[1]);
	return hmix(x ^ k->plen, hseed[0] ^ 0x9e3779b97f4a7c15ULL);
}

static bool
key_eq(const struct netaddr *a, const struct netaddr *b)
{
	return a->plen == b->plen && memcmp(a->a, b->a, 16) == 0;
}

/* net_mask: a with only its first plen bits, as a network. */
static void
net_mask(struct netaddr *dst, const struct netaddr *a, unsigned plen)
{
	unsigned	 i;

	*dst = *a;
	dst->plen = (uint8_t)plen;
	for (i = plen / 8; i < 16; i++)
		dst->a[i] = i == plen / 8 ? (uint8_t)(a->a[i] &
		    (0xff00u >> (plen % 8))) : 0;
}

static struct hnode *
ht_get(const struct htab *t, const struct netaddr *k)
{
	struct hnode	*h;

	if (t->nb == 0)
		return NULL;
	for (h = t->b[hkey(k) & (t->nb - 1)]; h != NULL; h = h->next)
		if (key_eq(&h->key, k))
			return h;
	return NULL;
}

/* ht_grow: twice the buckets (64 to start with). */
static void
ht_grow(struct htab *t)
{
	struct hnode	**nb, *h, *next;
	size_t		 n = t->nb ? t->nb * 2 : 64, i, j;

	nb = xcalloc(n, sizeof(*nb));
	for (i = 0; i < t->nb; i++)
		for (h = t->b[i]; h != NULL; h = next) {
			next = h->next;
			j = hkey(&h->key) & (n - 1);
			h->next = nb[j];
			nb[j] = h;
		}
	free(t->b);
	t->b = nb;
	t->nb = n;
}

/* ht_put: add h (its key not in t yet). */
static void
ht_put(struct htab *t, struct hnode *h)
{
	size_t	 i;

	if (t->n >= t->nb)
		ht_grow(t);
	i = hkey(&h->key) & (t->nb - 1);
	h->next = t->b[i];
	t->b[i] = h;
	t->n++;
	t->nplen[h->key.plen]++;
}

/* ht_del: take h out of t. */
static void
ht_del(struct htab *t, struct hnode *h)
{
	struct hnode	**pp;

	for (pp = &t->b[hkey(&h->key) & (t->nb - 1)]; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == h) {
			*pp = h->next;
			t->n--;
			t->nplen[h->key.plen]--;
			return;
		}
	fatalx("ht_del: node not in its table");
}

/*
 * ht_match: the entries of t that contain address a, most specific
 * first, until fn returns true.
 */
static void
ht_match(const struct htab *t, const struct netaddr *a,
    bool (*fn)(struct hnode *, void *), void *arg)
{
	struct netaddr	 k;
	struct hnode	*h;
	int		 p;

	if (t->n == 0)
		return;
	for (p = 128; p >= 0; p--) {
		if (t->nplen[p] == 0)
			continue;
		net_mask(&k, a, (unsigned)p);
		if ((h = ht_get(t, &k)) != NULL && fn(h, arg))
			return;
	}
}

static bool
ht_first(struct hnode *h, void *arg)
{
	*(struct hnode **)arg = h;
	return true;
}

/* ht_find: the most specific entry of t that contains a, or NULL. */
static struct hnode *
ht_find(const struct htab *t, const struct netaddr *a)
{
	struct hnode	*h = NULL;

	ht_match(t, a, ht_first, &h);
	return h;
}

/* ht_clear: every node to fn (which frees it), then the buckets. */
static void
ht_clear(struct htab *t, void (*fn)(struct hnode *))
{
	struct hnode	*h, *next;
	size_t		 i;

	for (i = 0; i < t->nb; i++)
		for (h = t->b[i]; h != NULL; h = next) {
			next = h->next;
			fn(h);
		}
	free(t->b);
	memset(t, 0, sizeof(*t));
}

/* ---- names, times, text ------------------------------------------------ */

static const char *const kind_names[IPP_NKINDS] = {
	"spam", "virus", "dha", "bounce", "admin", "blocked_ips",
	"blocked_list_file",
};

static const char *const action_names[] = { "log", "temp", "perm" };

/* What a rule of each kind counts: total and bad (docs/ipprofiler.md). */
static const struct {
	enum ipp_counter total, bad;
} kind_rule[CONF_IPP_NKINDS] = {
	[CONF_IPP_SPAM] = { IPP_C_SCANNED, IPP_C_SPAM },
	[CONF_IPP_VIRUS] = { IPP_C_SCANNED, IPP_C_VIRUS },
	[CONF_IPP_DHA] = { IPP_C_RCPTS, IPP_C_UNKNOWN },
	[CONF_IPP_BOUNCE] = { IPP_C_MSGS, IPP_C_NULLSENDER },
};

/* rule_reason: why a rule of kind k blocked, for the reply and the list. */
static void
rule_reason(char *buf, size_t len, int k, uint64_t bad, uint64_t total,
    long long win)
{
	unsigned long long b = bad, t = total;

	switch (k) {
	case CONF_IPP_SPAM:
		(void)str_printf(buf, len, "spam: %llu of %llu scanned "
		    "messages in %lld min", b, t, win);
		break;
	case CONF_IPP_VIRUS:
		(void)str_printf(buf, len, "virus: %llu of %llu scanned "
		    "messages carried a virus in %lld min", b, t, win);
		break;
	case CONF_IPP_DHA:
		(void)str_printf(buf, len, "directory harvest: %llu of %llu "
		    "recipients unknown in %lld min", b, t, win);
		break;
	default:
		(void)str_printf(buf, len, "bounces: %llu of %llu messages "
		    "from the null sender in %lld min", b, t, win);
		break;
	}
}

const char *
ipp_kind_name(enum ipp_kind k)
{
	return (unsigned)k < IPP_NKINDS ? kind_names[k] : "?";
}

/* ipp_kind_parse: a kind by its name. */
bool
ipp_kind_parse(const char *s, enum ipp_kind *k)
{
	size_t	 i;

	for (i = 0; i < IPP_NKINDS; i++)
		if (strcmp(s, kind_names[i]) == 0) {
			*k = (enum ipp_kind)i;
			return true;
		}
	return false;
}

/*
 * ipp_rule_problem: what is wrong with an enabled rule the schema cannot
 * see, or NULL.
 */
const char *
ipp_rule_problem(const struct conf_ipp_rule *r)
{
	if (r->enabled && r->rate == 0 && r->count == 0)
		return "rate and count are both 0: the rule would match every "
		    "address with min_total events (set rate or count, or "
		    "enabled=0)";
	return NULL;
}

/* ipp_reason_ok: a reason we accept: UTF-8, no control bytes, bounded. */
bool
ipp_reason_ok(const char *s)
{
	size_t	 i, n = strlen(s);

	if (n > IPP_REASON_MAX || !ini_utf8_valid(s, n))
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* ipp_time_iso: unix seconds as 2026-11-29T12:00:00Z. */
void
ipp_time_iso(char *buf, size_t len, int64_t t)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)str_printf(buf, len, "%lld", (long long)t);
}

/*
 * ipp_addr_parse: an address or a network as text; NULL when it parsed,
 * else the problem in err (returned), e.g. "host bits set (network is
 * 192.0.2.0/24)".
 */
const char *
ipp_addr_parse(struct netaddr *a, const char *s, char *err, size_t errlen)
{
	enum netaddr_err e;
	struct netaddr	 fix;
	char		 net[NETADDR_STRLEN];

	if (strlen(s) >= IPP_IP_MAX) {
		str_lcpy(err, "too long for an address", errlen);
		return err;
	}
	if ((e = netaddr_parse(a, s, strlen(s))) == NETADDR_OK)
		return NULL;
	if (e == NETADDR_E_HOSTBITS) {
		net_mask(&fix, a, a->plen);
		if (netaddr_format(net, sizeof(net), &fix)) {
			(void)str_printf(err, errlen, "%s (network is %s)",
			    netaddr_strerror(e), net);
			return err;
		}
	}
	str_lcpy(err, netaddr_strerror(e), errlen);
	return err;
}

/* ---- the lists --------------------------------------------------------- */

struct lentry {
	struct hnode	 h;
	enum ipp_kind	 kind;		/* BLOCKED_IPS or BLOCKED_FILE; for
					   approved entries: which list */
	char		*reason;	/* "listed in ..." or the file's */
};

struct ipp_lists {
	struct htab	 approved;
	struct htab	 blocked;
};

static void
lentry_free(struct hnode *h)
{
	struct lentry *e = (struct lentry *)h;

	free(e->reason);
	free(e);
}

void
ipp_lists_free(struct ipp_lists *l)
{
	if (l == NULL)
		return;
	ht_clear(&l->approved, lentry_free);
	ht_clear(&l->blocked, lentry_free);
	free(l);
}

size_t
ipp_lists_count(const struct ipp_lists *l)
{
	return l->approved.n + l->blocked.n;
}

/* lists_add: one entry; a repeated one keeps its first reason. */
static void
lists_add(struct htab *t, const struct netaddr *a, enum ipp_kind kind,
    const char *reason)
{
	struct lentry	*e;

	if (ht_get(t, a) != NULL)
		return;
	e = xcalloc(1, sizeof(*e));
	e->h.key = *a;
	e->kind = kind;
	e->reason = xstrdup(reason);
	ht_put(t, &e->h);
}

/*
 * lists_reason: the reason part of a blocked list line (valid UTF-8), cut
 * on a character boundary to fit len, tabs made spaces.
 */
static void
lists_reason(char *dst, size_t len, const char *s)
{
	size_t		 i = 0, n;
	unsigned char	 c;

	while (s[i] != '\0') {
		c = (unsigned char)s[i];
		n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		if (i + n >= len)
			break;
		memcpy(dst + i, s + i, n);
		i += n;
	}
	dst[i] = '\0';
	for (i = 0; dst[i] != '\0'; i++)
		if (dst[i] == '\t')
			dst[i] = ' ';
}

/*
 * lists_line: one line of a list file: "ADDRESS[/LEN] [reason]" (the
 * reason only in the blocked list), '#' starts a comment.  Errors go to d.
 */
static void
lists_line(struct ipp_lists *l, const char *path, unsigned lineno,
    char *line, bool blocked, const char *dflt, struct diag *d)
{
	struct netaddr	 a;
	char		*p, *rest, err[128], reason[IPP_REASON_MAX + 1];
	size_t		 i;

	if ((p = strchr(line, '#')) != NULL)
		*p = '\0';
	line = str_trim(line);
	if (*line == '\0')
		return;
	for (i = 0; line[i] != '\0'; i++)
		if ((unsigned char)line[i] < 0x20 && line[i] != '\t') {
			diag_add(d, DIAG_ERROR, path, lineno, "control "
			    "character in the line");
			return;
		}
	rest = line + strcspn(line, " \t");
	if (*rest != '\0')
		*rest++ = '\0';
	rest = str_trim(rest);
	if (ipp_addr_parse(&a, line, err, sizeof(err)) != NULL) {
		diag_add(d, DIAG_ERROR, path, lineno, "\"%.80s\": %s", line,
		    err);
		return;
	}
	if (!blocked && *rest != '\0') {
		diag_add(d, DIAG_ERROR, path, lineno, "text after the address "
		    "(an approved list has one address or network per line)");
		return;
	}
	lists_reason(reason, sizeof(reason), *rest != '\0' ? rest : dflt);
	lists_add(blocked ? &l->blocked : &l->approved, &a,
	    IPP_K_BLOCKED_FILE, reason);
}

/* lists_file: every entry of a list file; false when it is unreadable. */
static bool
lists_file(struct ipp_lists *l, const char *path, bool blocked,
    struct diag *d)
{
	char		*text, *line, *next, dflt[IPP_REASON_MAX + 1];
	size_t		 len;
	unsigned	 lineno = 0;

	if ((text = file_read(path, IPP_LIST_FILE_MAX, &len)) == NULL) {
		diag_add(d, DIAG_ERROR, path, 0, "%s",
		    errno == EFBIG ? "larger than 64 MB" : errno == EINVAL ?
		    "not a regular file" : strerror(errno));
		return false;
	}
	if (memchr(text, '\0', len) != NULL || !ini_utf8_valid(text, len)) {
		diag_add(d, DIAG_ERROR, path, 0, "not UTF-8 text");
		free(text);
		return false;
	}
	(void)str_printf(dflt, sizeof(dflt), "listed in %s", path);
	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		lineno++;
		lists_line(l, path, lineno, line, blocked, dflt, d);
	}
	free(text);
	return true;
}

/*
 * ipp_lists_load: approved_ips and approved_list_file, blocked_ips and
 * blocked_list_file.  NULL when a file does not load; every problem is
 * in d as "file:line: ...".
 */
struct ipp_lists *
ipp_lists_load(const struct conf_foxdns *c, struct diag *d)
{
	struct ipp_lists *l;
	size_t		 i, nerr = d->nerrors;

	hseed_init();
	l = xcalloc(1, sizeof(*l));
	for (i = 0; i < c->approved_ips.n; i++)
		lists_add(&l->approved, &c->approved_ips.v[i],
		    IPP_K_BLOCKED_IPS, "listed in approved_ips");
	for (i = 0; i < c->blocked_ips.n; i++)
		lists_add(&l->blocked, &c->blocked_ips.v[i],
		    IPP_K_BLOCKED_IPS, "listed in blocked_ips");
	if (c->approved_list_file != NULL && c->approved_list_file[0] != '\0')
		(void)lists_file(l, c->approved_list_file, false, d);
	if (c->blocked_list_file != NULL && c->blocked_list_file[0] != '\0')
		(void)lists_file(l, c->blocked_list_file, true, d);
	if (d->nerrors > nerr) {
		ipp_lists_free(l);
		return NULL;
	}
	return l;
}

/* ---- tracked addresses ------------------------------------------------- */

struct bucket {
	uint32_t	 min;		/* unix minute */
	uint32_t	 c[IPP_C_MAX];
};

struct track {
	struct hnode		 h;
	TAILQ_ENTRY(track)	 lru;
	uint32_t		 last;		/* minute of the last event */
	uint32_t		 quiet[CONF_IPP_NKINDS];	/* a log rule
						   logs again from here */
	uint16_t		 nb, cap;
	struct bucket		*b;		/* oldest first */
};
TAILQ_HEAD(track_list, track);

/* A stored block. */
struct sblock {
	struct hnode		 h;
	size_t			 hidx;		/* in the heap, or HEAP_NONE */
	struct ipp_block	 b;
};

struct ipp_rules {
	struct ipp_hooks	 hooks;
	struct conf_ipp_rule	 rule[CONF_IPP_NKINDS];
	long long		 keep_mins;
	size_t			 max_tracked;
	uint32_t		 maxwin;	/* minutes kept per address */
	struct ipp_lists	*lists;
	struct htab		 tracked;
	struct track_list	 lru;		/* least recently seen first */
	struct htab		 blocks;
	struct sblock		**heap;		/* temporary, by expiry */
	size_t			 nheap, capheap;
};

static uint32_t
minute_of(int64_t now)
{
	return now <= 0 ? 0 : (uint32_t)(now / 60);
}

static void
track_free(struct ipp_rules *r, struct track *t)
{
	ht_del(&r->tracked, &t->h);
	TAILQ_REMOVE(&r->lru, t, lru);
	free(t->b);
	free(t);
}

/* track_get: the address's record, made the most recently seen. */
static struct track *
track_get(struct ipp_rules *r, const struct netaddr *a, uint32_t nm)
{
	struct track	*t;

	if ((t = (struct track *)ht_get(&r->tracked, a)) != NULL) {
		TAILQ_REMOVE(&r->lru, t, lru);
		TAILQ_INSERT_TAIL(&r->lru, t, lru);
		t->last = nm;
		return t;
	}
	while (r->tracked.n >= r->max_tracked && !TAILQ_EMPTY(&r->lru))
		track_free(r, TAILQ_FIRST(&r->lru));
	t = xcalloc(1, sizeof(*t));
	t->h.key = *a;
	t->last = nm;
	ht_put(&r->tracked, &t->h);
	TAILQ_INSERT_TAIL(&r->lru, t, lru);
	return t;
}

/* track_trim: drop the buckets that left the longest window. */
static void
track_trim(struct track *t, uint32_t nm, uint32_t maxwin)
{
	uint16_t i = 0;

	while (i < t->nb && (uint64_t)t->b[i].min + maxwin <= nm)
		i++;
	if (i > 0) {
		memmove(t->b, t->b + i, (t->nb - i) * sizeof(*t->b));
		t->nb -= i;
	}
}

static void
counters_add(uint32_t *dst, const uint32_t *src)
{
	size_t	 i;

	for (i = 0; i < IPP_C_MAX; i++)
		dst[i] = src[i] > UINT32_MAX - dst[i] ? UINT32_MAX :
		    dst[i] + src[i];
}

/*
 * track_add: counters into the bucket of minute nm.  Beyond
 * IPP_BUCKETS_MAX minutes the two oldest buckets become one under the
 * newer minute (counted a little longer rather than forgotten early).
 */
static void
track_add(struct track *t, uint32_t nm, const uint32_t *c, uint32_t maxwin)
{
	struct bucket	*b;

	track_trim(t, nm, maxwin);
	if (t->nb > 0 && t->b[t->nb - 1].min >= nm) {
		counters_add(t->b[t->nb - 1].c, c);
		return;
	}
	if (t->nb == IPP_BUCKETS_MAX) {
		counters_add(t->b[1].c, t->b[0].c);
		memmove(t->b, t->b + 1, (t->nb - 1) * sizeof(*t->b));
		t->nb--;
	}
	if (t->nb == t->cap) {
		t->cap = t->cap ? (uint16_t)(t->cap * 2) : 4;
		if (t->cap > IPP_BUCKETS_MAX)
			t->cap = IPP_BUCKETS_MAX;
		t->b = xreallocarray(t->b, t->cap, sizeof(*t->b));
	}
	b = &t->b[t->nb++];
	b->min = nm;
	memcpy(b->c, c, sizeof(b->c));
}

/* track_sum: the counters of the last win minutes (up to minute nm). */
static void
track_sum(const struct track *t, uint32_t nm, uint32_t win,
    uint64_t sum[IPP_C_MAX])
{
	size_t	 i, k;

	memset(sum, 0, IPP_C_MAX * sizeof(*sum));
	if (t == NULL)
		return;
	for (i = 0; i < t->nb; i++) {
		if ((uint64_t)t->b[i].min + win <= nm)
			continue;
		for (k = 0; k < IPP_C_MAX; k++)
			sum[k] += t->b[i].c[k];
	}
}

/* track_clear: forget what the address did (it was blocked). */
static void
track_clear(struct track *t)
{
	free(t->b);
	t->b = NULL;
	t->nb = t->cap = 0;
}

size_t
ipp_rules_ntracked(const struct ipp_rules *r)
{
	return r->tracked.n;
}

/*
 * ipp_rules_prune: forget the addresses that did nothing within the
 * longest window; how many.
 */
size_t
ipp_rules_prune(struct ipp_rules *r, int64_t now)
{
	struct track	*t;
	uint32_t	 nm = minute_of(now);
	size_t		 n = 0;

	while ((t = TAILQ_FIRST(&r->lru)) != NULL &&
	    (uint64_t)t->last + r->maxwin <= nm) {
		track_free(r, t);
		n++;
	}
	return n;
}

/* ---- stored blocks and their expiry heap ------------------------------ */

static void
heap_set(struct ipp_rules *r, size_t i, struct sblock *s)
{
	r->heap[i] = s;
	s->hidx = i;
}

static void
heap_up(struct ipp_rules *r, size_t i)
{
	struct sblock	*s = r->heap[i];
	size_t		 p;

	while (i > 0) {
		p = (i - 1) / 2;
		if (r->heap[p]->b.expires <= s->b.expires)
			break;
		heap_set(r, i, r->heap[p]);
		i = p;
	}
	heap_set(r, i, s);
}

static void
heap_down(struct ipp_rules *r, size_t i)
{
	struct sblock	*s = r->heap[i];
	size_t		 c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= r->nheap)
			break;
		if (c + 1 < r->nheap &&
		    r->heap[c + 1]->b.expires < r->heap[c]->b.expires)
			c++;
		if (s->b.expires <= r->heap[c]->b.expires)
			break;
		heap_set(r, i, r->heap[c]);
		i = c;
	}
	heap_set(r, i, s);
}

static void
heap_push(struct ipp_rules *r, struct sblock *s)
{
	if (r->nheap == r->capheap) {
		r->capheap = r->capheap ? r->capheap * 2 : 64;
		r->heap = xreallocarray(r->heap, r->capheap, sizeof(*r->heap));
	}
	heap_set(r, r->nheap++, s);
	heap_up(r, s->hidx);
}

static void
heap_remove(struct ipp_rules *r, struct sblock *s)
{
	size_t		 i = s->hidx;
	struct sblock	*last;

	if (i == HEAP_NONE)
		return;
	s->hidx = HEAP_NONE;
	last = r->heap[--r->nheap];
	if (last == s)
		return;
	heap_set(r, i, last);
	heap_up(r, i);
	heap_down(r, last->hidx);
}

/* node_free: a table entry without parts of its own. */
static void
node_free(struct hnode *h)
{
	free(h);
}

/* block_live: whether a stored block still blocks at now. */
static bool
block_live(const struct ipp_block *b, int64_t now)
{
	return b->permanent || b->expires > now;
}

/* block_log: the ipp-blocked line. */
static void
block_log(const struct ipp_block *b)
{
	char	 ip[NETADDR_STRLEN], exp[32], esc[LOG_ESC_MAX];

	if (!netaddr_format(ip, sizeof(ip), &b->addr))
		str_lcpy(ip, "?", sizeof(ip));
	if (b->permanent)
		str_lcpy(exp, "never", sizeof(exp));
	else
		ipp_time_iso(exp, sizeof(exp), b->expires);
	log_kv(LOG_LVL_INFO, "event=ipp-blocked ip=%s kind=%s action=%s "
	    "expires=%s reason=%s", ip, ipp_kind_name(b->kind),
	    b->permanent ? "perm" : "temp", exp,
	    log_esc(esc, sizeof(esc), b->reason));
}

/* block_set: add or replace a stored block; the record. */
static struct sblock *
block_set(struct ipp_rules *r, const struct ipp_block *b)
{
	struct sblock	*s;

	if ((s = (struct sblock *)ht_get(&r->blocks, &b->addr)) == NULL) {
		s = xcalloc(1, sizeof(*s));
		s->h.key = b->addr;
		s->hidx = HEAP_NONE;
		ht_put(&r->blocks, &s->h);
	}
	s->b = *b;
	s->b.addr = s->h.key;
	if (s->b.permanent) {
		s->b.expires = 0;
		heap_remove(r, s);
	} else if (s->hidx == HEAP_NONE)
		heap_push(r, s);
	else {
		heap_up(r, s->hidx);
		heap_down(r, s->hidx);
	}
	return s;
}

/* ipp_rules_block: block (rule or administrator): logged, hooks told. */
void
ipp_rules_block(struct ipp_rules *r, const struct ipp_block *b)
{
	struct sblock	*s = block_set(r, b);

	block_log(&s->b);
	if (r->hooks.blocked != NULL)
		r->hooks.blocked(r->hooks.arg, &s->b);
}

/* ipp_rules_restore: a block from the store: neither logged nor told. */
void
ipp_rules_restore(struct ipp_rules *r, const struct ipp_block *b)
{
	(void)block_set(r, b);
}

/* block_drop: remove a stored block, logged with why, hooks told. */
static void
block_drop(struct ipp_rules *r, struct sblock *s, const char *why)
{
	char	 ip[NETADDR_STRLEN];

	heap_remove(r, s);
	ht_del(&r->blocks, &s->h);
	if (!netaddr_format(ip, sizeof(ip), &s->b.addr))
		str_lcpy(ip, "?", sizeof(ip));
	log_kv(LOG_LVL_INFO, "event=ipp-unblocked ip=%s why=%s kind=%s", ip,
	    why, ipp_kind_name(s->b.kind));
	if (r->hooks.unblocked != NULL)
		r->hooks.unblocked(r->hooks.arg, &s->b);
	free(s);
}

/*
 * ipp_rules_unblock: remove the stored block of exactly this address or
 * network (the administrator).
 */
enum ipp_unblock
ipp_rules_unblock(struct ipp_rules *r, const struct netaddr *a)
{
	struct hnode	*h;

	if ((h = ht_get(&r->blocks, a)) != NULL) {
		block_drop(r, (struct sblock *)h, "admin");
		return IPP_UNBLOCK_OK;
	}
	return ht_get(&r->lists->blocked, a) != NULL ? IPP_UNBLOCK_LISTED :
	    IPP_UNBLOCK_NONE;
}

/* ipp_rules_expire: remove the temporary blocks expired at now; count. */
size_t
ipp_rules_expire(struct ipp_rules *r, int64_t now)
{
	size_t	 n = 0;

	while (r->nheap > 0 && r->heap[0]->b.expires <= now) {
		block_drop(r, r->heap[0], "expired");
		n++;
	}
	return n;
}

/* ipp_rules_next_expiry: when the next temporary block expires; 0: none. */
int64_t
ipp_rules_next_expiry(const struct ipp_rules *r)
{
	return r->nheap > 0 ? r->heap[0]->b.expires : 0;
}

size_t
ipp_rules_nblocks(const struct ipp_rules *r)
{
	return r->blocks.n;
}

/* The strongest live stored block containing an address. */
struct best {
	int64_t			 now;
	const struct ipp_block	*b;
};

static bool
best_visit(struct hnode *h, void *arg)
{
	struct best		*x = arg;
	const struct ipp_block	*b = &((struct sblock *)h)->b;

	if (!block_live(b, x->now))
		return false;
	if (x->b == NULL || (b->permanent && !x->b->permanent) ||
	    (!b->permanent && !x->b->permanent && b->expires > x->b->expires))
		x->b = b;
	return x->b->permanent;
}

static const struct ipp_block *
block_best(const struct ipp_rules *r, const struct netaddr *a, int64_t now)
{
	struct best	 x = { now, NULL };

	ht_match(&r->blocks, a, best_visit, &x);
	return x.b;
}

/* ---- the rules engine ------------------------------------------------- */

struct ipp_rules *
ipp_rules_new(const struct ipp_hooks *hooks)
{
	struct ipp_rules *r;

	hseed_init();
	r = xcalloc(1, sizeof(*r));
	if (hooks != NULL)
		r->hooks = *hooks;
	r->keep_mins = 60;
	r->max_tracked = 100000;
	r->maxwin = 1;
	r->lists = xcalloc(1, sizeof(*r->lists));
	TAILQ_INIT(&r->lru);
	return r;
}

void
ipp_rules_free(struct ipp_rules *r)
{
	if (r == NULL)
		return;
	while (!TAILQ_EMPTY(&r->lru))
		track_free(r, TAILQ_FIRST(&r->lru));
	ht_clear(&r->tracked, node_free);	/* empty by now */
	ht_clear(&r->blocks, node_free);
	free(r->heap);
	ipp_lists_free(r->lists);
	free(r);
}

/*
 * ipp_rules_configure: the rules and limits of c, and the lists l (taken;
 * the previous ones are freed; NULL: empty).  Beyond the new
 * max_tracked_ips the least recently seen addresses are forgotten now.
 */
void
ipp_rules_configure(struct ipp_rules *r, const struct conf_foxdns *c,
    struct ipp_lists *l)
{
	size_t	 k;

	memcpy(r->rule, c->rule, sizeof(r->rule));
	r->keep_mins = c->keep_tempblocked_mins > 0 ?
	    c->keep_tempblocked_mins : 1;
	r->max_tracked = c->max_tracked_ips > 0 ?
	    (size_t)c->max_tracked_ips : 1;
	r->maxwin = 1;
	for (k = 0; k < CONF_IPP_NKINDS; k++)
		if (r->rule[k].enabled && r->rule[k].window_mins > r->maxwin)
			r->maxwin = (uint32_t)r->rule[k].window_mins;
	ipp_lists_free(r->lists);
	r->lists = l != NULL ? l : xcalloc(1, sizeof(*r->lists));
	while (r->tracked.n > r->max_tracked)
		track_free(r, TAILQ_FIRST(&r->lru));
}

/* rule_matches: a rule's condition over total and bad. */
static bool
rule_matches(const struct conf_ipp_rule *ru, uint64_t total, uint64_t bad)
{
	if (!ru->enabled || ipp_rule_problem(ru) != NULL)
		return false;
	return total >= (uint64_t)ru->min_total &&
	    (ru->rate == 0 || bad * 100 >= (uint64_t)ru->rate * total) &&
	    (ru->count == 0 || bad >= (uint64_t)ru->count);
}

/* rule_logged: the log action, once per address, rule and window. */
static void
rule_logged(struct track *t, enum ipp_kind k, const struct conf_ipp_rule *ru,
    uint32_t nm, uint64_t total, uint64_t bad)
{
	char	 ip[NETADDR_STRLEN];

	if (nm < t->quiet[k])
		return;
	t->quiet[k] = nm + (uint32_t)ru->window_mins;
	(void)netaddr_format(ip, sizeof(ip), &t->h.key);
	log_kv(LOG_LVL_INFO, "event=ipp-rule-matched ip=%s kind=%s action=log "
	    "total=%llu bad=%llu window_mins=%lld", ip, ipp_kind_name(k),
	    (unsigned long long)total, (unsigned long long)bad,
	    ru->window_mins);
}

/*
 * rules_apply: the rules over what t did: log actions logged, the
 * strongest block action (perm over temp, then kind order) taken.
 */
static void
rules_apply(struct ipp_rules *r, struct track *t, int64_t now)
{
	const struct conf_ipp_rule *ru;
	const struct ipp_block *cur;
	struct ipp_block b;
	uint64_t	 sum[IPP_C_MAX], total, bad, btotal = 0, bbad = 0;
	uint32_t	 nm = minute_of(now);
	int		 k, best = -1;

	for (k = 0; k < CONF_IPP_NKINDS; k++) {
		ru = &r->rule[k];
		if (!ru->enabled)
			continue;
		track_sum(t, nm, (uint32_t)ru->window_mins, sum);
		total = sum[kind_rule[k].total];
		bad = sum[kind_rule[k].bad];
		if (!rule_matches(ru, total, bad))
			continue;
		if (ru->action == CONF_IPP_LOG) {
			rule_logged(t, (enum ipp_kind)k, ru, nm, total, bad);
			continue;
		}
		if (best == -1 || (ru->action == CONF_IPP_PERM &&
		    r->rule[best].action != CONF_IPP_PERM)) {
			best = k;
			btotal = total;
			bbad = bad;
		}
	}
	if (best == -1)
		return;
	ru = &r->rule[best];
	track_clear(t);
	cur = block_best(r, &t->h.key, now);
	if (cur != NULL && (cur->permanent || ru->action != CONF_IPP_PERM))
		return;		/* already blocked at least as hard */
	memset(&b, 0, sizeof(b));
	b.addr = t->h.key;
	b.kind = (enum ipp_kind)best;
	b.permanent = ru->action == CONF_IPP_PERM;
	b.created = now;
	b.expires = b.permanent ? 0 : now + r->keep_mins * 60;
	rule_reason(b.reason, sizeof(b.reason), best, bbad, btotal,
	    ru->window_mins);
	ipp_rules_block(r, &b);
}

/*
 * ipp_rules_event: what an address did, added to its window, then the
 * rules (not for an approved address, nor one the lists block).
 */
void
ipp_rules_event(struct ipp_rules *r, const struct ipp_event *e, int64_t now)
{
	struct track	*t;
	uint32_t	 nm = minute_of(now);

	if (e->ip.plen != 128 || ipp_event_empty(e))
		return;
	(void)ipp_rules_prune(r, now);
	t = track_get(r, &e->ip, nm);
	track_add(t, nm, e->c, r->maxwin);
	if (ht_find(&r->lists->approved, &e->ip) != NULL ||
	    ht_find(&r->lists->blocked, &e->ip) != NULL)
		return;
	rules_apply(r, t, now);
}

bool
ipp_rules_approved(const struct ipp_rules *r, const struct netaddr *a)
{
	return ht_find(&r->lists->approved, a) != NULL;
}

/*
 * ipp_rules_verdict: approved lists, then blocked lists, then the
 * strongest live stored block containing the address.
 */
void
ipp_rules_verdict(struct ipp_rules *r, const struct netaddr *a, int64_t now,
    struct ipp_verdict *v)
{
	const struct lentry	*e;
	const struct ipp_block	*b;

	memset(v, 0, sizeof(*v));
	v->state = IPP_CLEAN;
	if ((e = (struct lentry *)ht_find(&r->lists->approved, a)) != NULL) {
		v->state = IPP_APPROVED;
		str_lcpy(v->reason, e->reason, sizeof(v->reason));
	} else if ((e = (struct lentry *)ht_find(&r->lists->blocked, a)) !=
	    NULL) {
		v->state = IPP_PERM;
		str_lcpy(v->reason, e->reason, sizeof(v->reason));
	} else if ((b = block_best(r, a, now)) != NULL) {
		v->state = b->permanent ? IPP_PERM : IPP_TEMP;
		v->expires = b->permanent ? 0 : (uint64_t)b->expires;
		str_lcpy(v->reason, b->reason, sizeof(v->reason));
	}
}

/* ---- JSON, listings, the zone ----------------------------------------- */

static json_t *
json_time(int64_t t)
{
	char	 buf[32];

	if (t <= 0)
		return json_null();
	ipp_time_iso(buf, sizeof(buf), t);
	return json_string(buf);
}

/* json_text: a string we hold, as JSON (never fails on bad UTF-8). */
static json_t *
json_text(const char *s)
{
	json_t	*j = json_string(s);

	return j != NULL ? j : json_string("?");
}

/* ipp_block_json: a block as a listing entry (docs/ipprofiler.md). */
json_t *
ipp_block_json(const struct ipp_block *b)
{
	char	 ip[NETADDR_STRLEN];
	json_t	*o;

	if (!netaddr_format(ip, sizeof(ip), &b->addr))
		str_lcpy(ip, "?", sizeof(ip));
	o = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "address", ip,
	    "state", b->permanent ? "permanent" : "temporary",
	    "kind", ipp_kind_name(b->kind), "reason", json_text(b->reason),
	    "created", json_time(b->created),
	    "expires", json_time(b->permanent ? 0 : b->expires));
	if (o == NULL)
		fatalx("ipp_block_json: json_pack");
	return o;
}

/* ipp_rules_explain: an address's verdict, counters and every rule. */
json_t *
ipp_rules_explain(struct ipp_rules *r, const struct netaddr *a, int64_t now)
{
	const struct conf_ipp_rule *ru;
	const struct track *t;
	struct ipp_verdict v;
	uint64_t	 sum[IPP_C_MAX];
	uint32_t	 nm = minute_of(now);
	json_t		*o, *cs, *rs, *ro;
	char		 ip[NETADDR_STRLEN];
	size_t		 k;

	ipp_rules_verdict(r, a, now, &v);
	t = (const struct track *)ht_get(&r->tracked, a);
	track_sum(t, nm, r->maxwin, sum);
	if ((cs = json_object()) == NULL || (rs = json_array()) == NULL)
		fatalx("ipp_rules_explain: json");
	for (k = 0; k < IPP_C_MAX; k++)
		json_object_set_new(cs, ipp_counter_name((enum ipp_counter)k),
		    json_integer((json_int_t)sum[k]));
	for (k = 0; k < CONF_IPP_NKINDS; k++) {
		uint64_t total, bad;

		ru = &r->rule[k];
		track_sum(t, nm, (uint32_t)ru->window_mins, sum);
		total = sum[kind_rule[k].total];
		bad = sum[kind_rule[k].bad];
		ro = json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:s, "
		    "s:b}", "kind", ipp_kind_name((enum ipp_kind)k),
		    "enabled", ru->enabled,
		    "window_mins", (json_int_t)ru->window_mins,
		    "total", (json_int_t)total, "bad", (json_int_t)bad,
		    "min_total", (json_int_t)ru->min_total,
		    "rate", (json_int_t)ru->rate,
		    "count", (json_int_t)ru->count,
		    "action", action_names[ru->action < 0 || ru->action > 2 ?
		    0 : ru->action], "matched", rule_matches(ru, total, bad));
		if (ro == NULL || json_array_append_new(rs, ro) == -1)
			fatalx("ipp_rules_explain: json_pack");
	}
	if (!netaddr_format(ip, sizeof(ip), a))
		str_lcpy(ip, "?", sizeof(ip));
	o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "address", ip,
	    "state", ipp_state_name(v.state),
	    "reason", v.state == IPP_CLEAN ? json_null() : json_text(v.reason),
	    "expires", json_time((int64_t)v.expires),
	    "counters", cs, "rules", rs);
	if (o == NULL)
		fatalx("ipp_rules_explain: json_pack");
	return o;
}

static int
ref_cmp(const void *x, const void *y)
{
	const struct ipp_ref *a = x, *b = y;
	int	 c;

	if ((c = memcmp(a->addr.a, b->addr.a, 16)) != 0)
		return c;
	if (a->addr.plen != b->addr.plen)
		return a->addr.plen < b->addr.plen ? -1 : 1;
	return (int)b->listed - (int)a->listed;
}

/* overlap: whether two networks share an address. */
static bool
overlap(const struct netaddr *a, const struct netaddr *b)
{
	return netaddr_match(a, b) || netaddr_match(b, a);
}

/* snap_add: the entries of one table that overlap filter (NULL: all). */
static void
snap_add(const struct htab *t, const struct netaddr *filter, bool listed,
    struct ipp_ref **v, size_t *n, size_t *cap)
{
	struct hnode	*h;
	size_t		 i;

	for (i = 0; i < t->nb; i++)
		for (h = t->b[i]; h != NULL; h = h->next) {
			if (filter != NULL && !overlap(filter, &h->key))
				continue;
			if (*n == *cap) {
				*cap = *cap ? *cap * 2 : 64;
				*v = xreallocarray(*v, *cap, sizeof(**v));
			}
			(*v)[*n].addr = h->key;
			(*v)[(*n)++].listed = listed;
		}
}

/*
 * ipp_rules_snapshot: the blocks (listed and stored) that overlap filter
 * (NULL: all), in address order, as references into *out (caller frees);
 * their count.  Read each with ipp_rules_ref_get(): it may have gone.
 */
size_t
ipp_rules_snapshot(const struct ipp_rules *r, const struct netaddr *filter,
    struct ipp_ref **out)
{
	size_t	 n = 0, cap = 0;

	*out = NULL;
	snap_add(&r->lists->blocked, filter, true, out, &n, &cap);
	snap_add(&r->blocks, filter, false, out, &n, &cap);
	if (n > 1)
		qsort(*out, n, sizeof(**out), ref_cmp);
	return n;
}

/* ipp_rules_ref_get: the block a reference names, if it still blocks. */
bool
ipp_rules_ref_get(const struct ipp_rules *r, const struct ipp_ref *ref,
    int64_t now, struct ipp_block *out)
{
	const struct lentry *e;
	const struct sblock *s;

	memset(out, 0, sizeof(*out));
	if (ref->listed) {
		if ((e = (struct lentry *)ht_get(&r->lists->blocked,
		    &ref->addr)) == NULL)
			return false;
		out->addr = e->h.key;
		out->permanent = true;
		out->kind = e->kind;
		str_lcpy(out->reason, e->reason, sizeof(out->reason));
		return true;
	}
	if ((s = (struct sblock *)ht_get(&r->blocks, &ref->addr)) == NULL ||
	    !block_live(&s->b, now))
		return false;
	*out = s->b;
	return true;
}

/* zone_add: the entries of one table into z (not approved addresses). */
static void
zone_add(const struct ipp_rules *r, struct blzone *z, const struct htab *t,
    bool stored, int64_t now)
{
	const struct hnode *h;
	const char	*reason;
	size_t		 i;

	for (i = 0; i < t->nb; i++)
		for (h = t->b[i]; h != NULL; h = h->next) {
			if (stored) {
				if (!block_live(&((struct sblock *)h)->b, now))
					continue;
				reason = ((struct sblock *)h)->b.reason;
			} else
				reason = ((struct lentry *)h)->reason;
			if (h->key.plen == 128 &&
			    ht_find(&r->lists->approved, &h->key) != NULL)
				continue;
			if (!blzone_add(z, &h->key, reason))
				return;
		}
}

/*
 * ipp_rules_zone: the DNSBL zone named zone of everything blocked at now
 * (lists and live stored blocks, approved addresses left out); NULL when
 * the name is not a zone name.
 */
struct blzone *
ipp_rules_zone(const struct ipp_rules *r, const char *zone, int64_t now)
{
	struct blzone	*z;

	if ((z = blzone_new(zone)) == NULL)
		return NULL;
	zone_add(r, z, &r->lists->blocked, false, now);
	zone_add(r, z, &r->blocks, true, now);
	return z;
}
