/*
 * fuzz_addr.c: libFuzzer target for the RFC 5321 path parser.
 *
 * Every input is parsed in both forms under every combination of options.
 * Whatever is accepted must satisfy the limits and must round-trip: the
 * canonical form (and the "<...>" form, and with the dot check off the
 * as-is form) parses back, under the same options, to the same address;
 * the strict canonical form also parses with the dot check on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

/* same: equal up to the source-route flag, which formatting drops. */
static int
same(const struct addr *a, const struct addr *b)
{
	return strcmp(a->local, b->local) == 0 &&
	    strcmp(a->domain, b->domain) == 0 &&
	    (a->flags & ~ADDR_F_ROUTE) == (b->flags & ~ADDR_F_ROUTE);
}

/* reparse: format with fl, parse back, abort unless identical. */
static void
reparse(const struct addr *a, unsigned fl, enum addr_form form,
    const struct addr_opts *o)
{
	struct addr	 b;
	char		 out[ADDR_STR_MAX];

	if (!addr_format(out, sizeof(out), a, fl))
		abort();
	if (strlen(out) + (fl & ADDR_FMT_ANGLE ? 0 : 2) > ADDR_PATH_MAX)
		abort();
	if (addr_parse(&b, out, strlen(out), form, o) != ADDR_OK ||
	    !same(a, &b))
		abort();
}

/* check: invariants of one successful parse. */
static void
check(const struct addr *a, const struct addr_opts *o)
{
	struct addr_opts strict = *o;
	char		 tiny[4];

	if (strlen(a->local) > ADDR_LOCAL_MAX ||
	    strlen(a->domain) > ADDR_DOMAIN_MAX)
		abort();
	if ((a->flags & ADDR_F_NULL) && (a->local[0] || a->domain[0]))
		abort();
	if (!(a->flags & ADDR_F_NULL) && a->local[0] == '\0')
		abort();
	if (a->domain[0] == '\0' && !o->allow_no_domain &&
	    !(a->flags & ADDR_F_NULL))
		abort();
	reparse(a, 0, ADDR_BARE, o);
	reparse(a, ADDR_FMT_ANGLE, ADDR_PATH, o);
	if (!o->check_dots) {
		reparse(a, ADDR_FMT_DOTS_ASIS, ADDR_BARE, o);
		strict.check_dots = true;
		reparse(a, 0, ADDR_BARE, &strict);
	}
	/* Truncation is all or nothing. */
	if (addr_format(tiny, sizeof(tiny), a, ADDR_FMT_ANGLE) ?
	    strlen(tiny) >= sizeof(tiny) : tiny[0] != '\0')
		abort();
	(void)addr_domain_match(".example.com", a->domain);
	(void)addr_domain_match(a->domain, "mx.example.com");
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr_opts o;
	struct addr	 a;
	char		*s;
	unsigned	 m;
	int		 form;

	for (m = 0; m < 16; m++) {
		o.check_dots = !(m & 1);
		o.allow_null = (m & 2) != 0;
		o.allow_no_domain = (m & 4) != 0;
		o.smtputf8 = (m & 8) != 0;
		for (form = 0; form < 2; form++) {
			if (addr_parse(&a, (const char *)data, size,
			    form ? ADDR_BARE : ADDR_PATH, &o) == ADDR_OK)
				check(&a, &o);
			else if (a.local[0] || a.domain[0] || a.flags)
				abort();
		}
	}
	/* The same bytes as a configured domain name or pattern. */
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (addr_is_domain(s, true, NULL) && strlen(s) > ADDR_DOMAIN_MAX)
		abort();
	(void)addr_domain_match(s, "mx.example.com");
	(void)addr_domain_eq(s, "example.com");
	o.check_dots = true;
	o.allow_null = false;
	o.allow_no_domain = true;
	o.smtputf8 = true;
	if (addr_parse(&a, "<alice>", 7, ADDR_PATH, &o) == ADDR_OK &&
	    addr_set_domain(&a, s, true) == ADDR_OK)
		check(&a, &o);
	free(s);
	return 0;
}
