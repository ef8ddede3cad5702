/*
 * fuzz_scan.c: the whole scan of one message on arbitrary bytes: MIME
 * analysis (GMime, libmagic, libarchive) and the evaluation of the
 * shipped default policy (etc/policy.ini with its keyword lists).
 *
 * Checks what must hold for any input: every recipient ends in exactly
 * one group, every part index a group strips exists, every text the
 * analysis hands on is valid UTF-8 of the length it claims, and a group
 * that matched nothing reads "Passed sekisho scan" (seed 30).  The
 * modifications of each group (actions.c) are then carried out too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "diag.h"
#include "ini.h"
#include "mime.h"
#include "policy.h"
#include "scan.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct policy	*fz_policy;
static struct scan_limits fz_limits;

/* fz_init: GMime and libmagic once; the shipped policy once. */
static void
fz_init(void)
{
	struct diag	 d;
	char		 err[256];

	if (mime_init(err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz_scan: %s\n", err);
		abort();
	}
	mime_limits_default(&fz_limits);
	/* Small limits: the fuzzer should reach them, and quickly. */
	fz_limits.max_parts = 64;
	fz_limits.max_expanded = 4 * 1024 * 1024;
	fz_limits.max_text = 64 * 1024;
	diag_init(&d);
	if ((fz_policy = policy_load(SEKISHO_SOURCE_DIR "/etc", &d)) == NULL) {
		diag_print(&d, stderr);
		abort();
	}
	diag_free(&d);
}

/* fz_check_text: analysed text must be UTF-8 of its stated length. */
static void
fz_check_msg(const struct scan_msg *m)
{
	size_t	 i;

	for (i = 0; i < m->nheaders; i++)
		if (!ini_utf8_valid(m->headers[i].value,
		    strlen(m->headers[i].value)))
			abort();
	if (m->subject != NULL &&
	    !ini_utf8_valid(m->subject, strlen(m->subject)))
		abort();
	for (i = 0; i < m->nparts; i++) {
		const struct scan_part *p = &m->parts[i];

		if (p->parent >= (int)i || p->parent < -1)
			abort();
		if (p->text != NULL && !ini_utf8_valid(p->text, p->textlen))
			abort();
		if (p->filename != NULL &&
		    !ini_utf8_valid(p->filename, strlen(p->filename)))
			abort();
	}
}

/* fz_check_result: the grouping and decision invariants. */
static void
fz_check_result(const struct scan_msg *m, const struct policy_result *r,
    size_t nrcpts)
{
	size_t	 g, i, seen[4] = { 0 };

	for (g = 0; g < r->ngroups; g++) {
		const struct policy_group *gr = &r->groups[g];

		for (i = 0; i < gr->nrcpts; i++) {
			if (gr->rcpts[i] >= nrcpts)
				abort();
			seen[gr->rcpts[i]]++;
		}
		for (i = 0; i < gr->nstrip_parts; i++)
			if (gr->strip_parts[i] >= m->nparts)
				abort();
		if (gr->nhits == 0 &&
		    strcmp(gr->final_text, POLICY_PASSED_TEXT) != 0)
			abort();
	}
	for (i = 0; i < nrcpts; i++)
		if (seen[i] != 1)
			abort();
}

/* fz_stamp: stamp templates have no text here (actions_template_fn). */
static const char *
fz_stamp(const char *name, void *arg)
{
	(void)name;
	(void)arg;
	return NULL;
}

/*
 * fz_apply: carry out each group's modifications as a worker would; any
 * outcome but a crash is fine, and a copy is a message again.
 */
static void
fz_apply(const uint8_t *data, size_t size, const struct scan_msg *m,
    const struct policy_result *r)
{
	struct buf	 b;
	char		 err[256];
	size_t		 g;

	for (g = 0; g < r->ngroups; g++) {
		if (!actions_modifies(&r->groups[g]))
			continue;
		buf_init(&b, size * 2 + 1024 * 1024);
		if (actions_apply(data, size, m, &r->groups[g], fz_stamp, NULL,
		    &b, err, sizeof(err)) == 0 && b.len == 0 && size > 0)
			abort();
		buf_free(&b);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const rcpts[] = { "bob@example.com",
	    "carol@example.net", "dave@example.org" };
	static const enum policy_dir dirs[] = { POLICY_INBOUND,
	    POLICY_OUTBOUND, POLICY_INBOUND };
	struct policy_env	 env = { "alice@example.org", rcpts, dirs, 3,
	    NULL };
	struct policy_result	 r;
	struct scan_msg		 m;
	char			 err[256];

	if (fz_policy == NULL)
		fz_init();
	memset(&m, 0, sizeof(m));
	if (mime_analyse(data, size, &fz_limits, &m, err, sizeof(err)) == -1)
		abort();	/* only a caller error may fail */
	fz_check_msg(&m);
	memset(&r, 0, sizeof(r));
	if (policy_eval(fz_policy, &m, &env, &r) == -1)
		abort();
	fz_check_result(&m, &r, env.nrcpts);
	fz_apply(data, size, &m, &r);
	policy_result_free(&r);
	scan_msg_free(&m);
	return 0;
}
