/*
 * rematch.h: the PCRE2 matching state of one evaluation, with the bounds
 * every pattern of the policy and of the spam rules runs under, so a
 * pathological pattern cannot pin the CPU (seed 27): it stops at a limit
 * and counts as not matching.
 */
#ifndef SEKISHO_REMATCH_H
#define SEKISHO_REMATCH_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#define REMATCH_MATCH_LIMIT	1000000		/* pcre2_set_match_limit */
#define REMATCH_DEPTH_LIMIT	100000		/* pcre2_set_depth_limit */
#define REMATCH_HEAP_LIMIT	(32 * 1024)	/* KiB, pcre2_set_heap_limit */
#define REMATCH_JIT_STACK	(512 * 1024)	/* bytes, at most */

struct rematch {
	pcre2_match_data	*md;
	pcre2_match_context	*mc;
	pcre2_jit_stack		*js;		/* NULL without JIT support */
};

void	 rematch_init(struct rematch *);
void	 rematch_free(struct rematch *);

#endif
