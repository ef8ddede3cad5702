/*
 * console_users.h: the administrators of the manager's console and JSON
 * API (docs/manager.md "Console and JSON API").
 *
 * The file ([imss_manager] console_users_file, default
 * CONFDIR/console.users, mode 0600, replaced atomically by sekishoctl
 * console passwd|remove) holds one administrator per line,
 *
 *	NAME:HASH
 *
 * NAME: 1 to CONSOLE_NAME_MAX of [a-z0-9._-], starting with a letter or
 * a digit; HASH: a crypt(3) string (yescrypt "$y$", also "$6$", "$2b$",
 * "$7$"), at most CONSOLE_HASH_MAX printable bytes without ':'.  Lines
 * starting with '#' and empty lines are skipped; anything else that does
 * not parse fails the whole load with PATH:LINE.  At most
 * CONSOLE_USERS_MAX administrators, each name once.
 */
#ifndef SEKISHO_CONSOLE_USERS_H
#define SEKISHO_CONSOLE_USERS_H

#include <stdbool.h>
#include <stddef.h>

#define CONSOLE_USERS_MAX	256
#define CONSOLE_NAME_MAX	32
#define CONSOLE_HASH_MAX	256
#define CONSOLE_PASSWORD_MIN	12	/* sekishoctl console passwd */
#define CONSOLE_PASSWORD_MAX	256	/* what is ever hashed */

struct console_user {
	char	 name[CONSOLE_NAME_MAX + 1];
	char	 hash[CONSOLE_HASH_MAX + 1];
};

struct console_users {
	struct console_user *v;
	size_t	 n;
};

bool	 console_name_ok(const char *);
bool	 console_hash_ok(const char *);

/* 0, or -1 with "PATH:LINE: why" (users left empty). */
int	 console_users_parse(const char *, size_t, const char *,
	    struct console_users *, char *, size_t);
/* A missing file: no administrators. */
int	 console_users_load(const char *, struct console_users *, char *,
	    size_t);
int	 console_users_save(const char *, const struct console_users *, char *,
	    size_t);
/* Add NAME, or replace its hash. */
int	 console_users_set(struct console_users *, const char *, const char *,
	    char *, size_t);
bool	 console_users_remove(struct console_users *, const char *);
const struct console_user *console_users_find(const struct console_users *,
	    const char *);
void	 console_users_free(struct console_users *);

/* A new yescrypt hash of a password (default cost, random salt). */
int	 console_hash(const char *, char *, size_t, char *, size_t);
/* Whether name exists and password is its; as slow for unknown names. */
bool	 console_verify(const struct console_users *, const char *,
	    const char *);

#endif
