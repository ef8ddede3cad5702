/*
 * dcache.h: the scanner parent's cache of DNS answers for its workers
 * (wdns.h): by question (type and name, case-insensitive), for a fixed
 * time, at most a fixed number of entries (the least recently used go
 * first).
 */
#ifndef SEKISHO_DCACHE_H
#define SEKISHO_DCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "wdns.h"

struct dcache;

struct dcache	*dcache_new(size_t);
void		 dcache_free(struct dcache *);
bool		 dcache_get(struct dcache *, enum dns_type, const char *,
		    time_t, struct wdns_answer *);
void		 dcache_put(struct dcache *, enum dns_type, const char *,
		    const struct wdns_answer *, time_t);
size_t		 dcache_count(const struct dcache *);

#endif
