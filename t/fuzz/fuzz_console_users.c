/*
 * fuzz_console_users.c: the console's administrators file parser
 * (manager/console_users.c) on arbitrary bytes.  A failed parse must
 * leave the list empty with a reason naming the file; for a list that
 * parses, every entry must pass the same checks again (set into a fresh
 * list succeeds and finds it), names must be unique, and removing every
 * entry empties the list.  No password is hashed here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "console_users.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct console_users u, fresh = { NULL, 0 };
	char		 err[512];
	size_t		 i;

	err[0] = '\0';
	if (console_users_parse((const char *)data, size, "fuzz", &u, err,
	    sizeof(err)) == -1) {
		if (u.n != 0 || u.v != NULL || strncmp(err, "fuzz:", 5) != 0)
			abort();
		return 0;
	}
	if (u.n > CONSOLE_USERS_MAX)
		abort();
	for (i = 0; i < u.n; i++) {
		if (!console_name_ok(u.v[i].name) ||
		    !console_hash_ok(u.v[i].hash) ||
		    console_users_find(&u, u.v[i].name) != &u.v[i])
			abort();
		if (console_users_set(&fresh, u.v[i].name, u.v[i].hash, err,
		    sizeof(err)) != 0 || fresh.n != i + 1 ||
		    strcmp(fresh.v[i].name, u.v[i].name) != 0 ||
		    strcmp(fresh.v[i].hash, u.v[i].hash) != 0)
			abort();
	}
	for (i = u.n; i > 0; i--)
		if (!console_users_remove(&fresh, u.v[i - 1].name))
			abort();
	if (fresh.n != 0)
		abort();
	console_users_free(&fresh);
	console_users_free(&u);
	return 0;
}
