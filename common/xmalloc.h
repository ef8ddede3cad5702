/*
 * xmalloc.h: allocation helpers for internal bookkeeping.
 *
 * These never return NULL: an allocation failure is fatal for the process
 * (the supervisor restarts it).  Use them for objects whose size we choose;
 * anything whose length comes from outside goes through a bounded buffer
 * (struct buf) that checks its limit before it grows.
 */
#ifndef SEKISHO_XMALLOC_H
#define SEKISHO_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
char	*xvasprintf(const char *, va_list) __attribute__((format(printf, 1, 0)));

#endif
