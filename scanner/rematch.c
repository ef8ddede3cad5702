/*
 * rematch.c: the bounded PCRE2 matching state (rematch.h).
 */
#include <string.h>

#include "log.h"
#include "rematch.h"

/* rematch_init: match data and a limited match context (JIT stack too). */
void
rematch_init(struct rematch *rm)
{
	memset(rm, 0, sizeof(*rm));
	if ((rm->md = pcre2_match_data_create(1, NULL)) == NULL ||
	    (rm->mc = pcre2_match_context_create(NULL)) == NULL)
		fatalx("rematch_init: out of memory");
	(void)pcre2_set_match_limit(rm->mc, REMATCH_MATCH_LIMIT);
	(void)pcre2_set_depth_limit(rm->mc, REMATCH_DEPTH_LIMIT);
	(void)pcre2_set_heap_limit(rm->mc, REMATCH_HEAP_LIMIT);
	/* NULL without JIT support: the interpreter needs no JIT stack. */
	if ((rm->js = pcre2_jit_stack_create(32 * 1024, REMATCH_JIT_STACK,
	    NULL)) != NULL)
		pcre2_jit_stack_assign(rm->mc, NULL, rm->js);
}

/* rematch_free: release what rematch_init made. */
void
rematch_free(struct rematch *rm)
{
	pcre2_jit_stack_free(rm->js);
	pcre2_match_context_free(rm->mc);
	pcre2_match_data_free(rm->md);
	memset(rm, 0, sizeof(*rm));
}
