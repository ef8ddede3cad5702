/*
 * bundle_policy.c: the check of a staged configuration that needs the
 * scan server's policy loader (bundle_check_fn, bundle.h), shared by
 * sekishoctl's config bundle apply|rollback and the manager's apply of
 * a pushed bundle.  Kept out of bundle.c so that the bundle code and its
 * tests do not depend on the scanner.
 */
#include "bundle.h"
#include "bundle_policy.h"
#include "policy.h"

/* bundle_policy_check: 0 when the rules and keyword lists of dir load. */
int
bundle_policy_check(const char *dir, struct diag *d)
{
	struct policy *p;

	if ((p = policy_load(dir, d)) == NULL)
		return -1;
	policy_free(p);
	return 0;
}
