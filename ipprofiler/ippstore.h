/*
 * ippstore.h: the IP profiler's SQLite store of blocks (rules and the
 * administrator; the lists live in foxdns.ini and their files).
 *
 * sekisho-ipprofiler alone owns the database (DESIGN.md section 4, WAL).
 * It loads every block at start, after deleting the expired ones (they
 * never come back), and then writes one short statement per change: an
 * insert or replace when a block is set, a delete when one is removed.
 */
#ifndef SEKISHO_IPPSTORE_H
#define SEKISHO_IPPSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipprules.h"

struct ippstore;

typedef void	ippstore_load_fn(void *, const struct ipp_block *);

struct ippstore	*ippstore_open(const char *, char *, size_t);
void		 ippstore_close(struct ippstore *);
bool		 ippstore_load(struct ippstore *, int64_t, ippstore_load_fn *,
		    void *, size_t *, size_t *, char *, size_t);
bool		 ippstore_put(struct ippstore *, const struct ipp_block *,
		    char *, size_t);
bool		 ippstore_del(struct ippstore *, const struct netaddr *, char *,
		    size_t);

#endif
