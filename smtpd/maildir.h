/*
 * maildir.h: local delivery into Maildirs (the "maildir:/path" route of
 * docs/delivery.md), one Maildir per recipient below the route's path.
 *
 * The recipient becomes a directory name only through maildir_name():
 * lower-cased, every byte outside [a-z0-9._+=@-] written as %XX, a name
 * made only of dots escaped, and a name longer than MAILDIR_NAME_MAX cut
 * and completed with a hash of the whole, so no address can name a path
 * outside the root (no "/", no "." or "..", no over-long component).
 */
#ifndef SEKISHO_MAILDIR_H
#define SEKISHO_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MAILDIR_NAME_MAX	200	/* bytes of a recipient directory */

struct maildir_msg {
	const char	*root;		/* the route's path, absolute */
	const char	*rcpt;
	const char	*sender;	/* "" for <> */
	int		 fd;		/* content, CRLF line ends, pread */
	uint64_t	 size;
	const char	*host;		/* our host name, for the file name */
	/* Tests: called with the file complete in tmp/, before new/. */
	void		(*before_link)(int, const char *, void *);
	void		*arg;
};

bool	 maildir_name(char *, size_t, const char *);
int	 maildir_deliver(const struct maildir_msg *, char *, size_t, char *,
	    size_t);

#endif
