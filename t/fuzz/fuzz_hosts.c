/*
 * fuzz_hosts.c: the central controller's registry parser
 * (manager/hosts.c) on arbitrary bytes.  A failed parse must leave the
 * registry empty with a reason; for a registry that parses, every entry
 * must pass the same checks again (hosts_add of each into a fresh
 * registry succeeds, and finds it), and the lookups must agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hosts.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct host_reg	 reg, fresh = { NULL, 0 };
	char		 err[512];
	size_t		 i;

	err[0] = '\0';
	if (hosts_parse((const char *)data, size, "fuzz", &reg, err,
	    sizeof(err)) == -1) {
		if (reg.n != 0 || reg.v != NULL ||
		    strncmp(err, "fuzz:", 5) != 0)
			abort();
		return 0;
	}
	if (reg.n > HOSTS_MAX)
		abort();
	for (i = 0; i < reg.n; i++) {
		if (!enrol_name_ok(reg.v[i].name) || reg.v[i].port == 0 ||
		    strlen(reg.v[i].fpr) != ENROL_FPR_LEN ||
		    reg.v[i].registered < 0)
			abort();
		if (hosts_find(&reg, reg.v[i].name) != &reg.v[i])
			abort();
		if (hosts_add(&fresh, &reg.v[i], err, sizeof(err)) != 0 ||
		    hosts_find(&fresh, reg.v[i].name) != &fresh.v[i] ||
		    memcmp(&fresh.v[i], &reg.v[i], sizeof(reg.v[i])) != 0)
			abort();
		/* Adding it a second time is a duplicate. */
		if (hosts_add(&fresh, &reg.v[i], err, sizeof(err)) != -1)
			abort();
	}
	for (i = reg.n; i > 0; i--)
		if (!hosts_remove(&fresh, reg.v[i - 1].name))
			abort();
	if (fresh.n != 0)
		abort();
	hosts_free(&fresh);
	hosts_free(&reg);
	return 0;
}
