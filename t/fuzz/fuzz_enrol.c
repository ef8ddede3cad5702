/*
 * fuzz_enrol.c: the two enrolment text parsers (manager/enrol.c) on
 * arbitrary bytes: enrol_request_parse (a host's certificate request) and
 * enrol_file_parse (the controller's answer, every check that needs no
 * agent key).  The seeds in t/fuzz/enrol/ are a valid request and a valid
 * enrolment file made by enrol.c, and broken variants of them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enrol.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct enrol_request *r;
	struct enrol_file *f;
	char		 err[256];

	/* A refusal always says why. */
	r = enrol_request_parse(data, size, err, sizeof(err));
	if (r == NULL ? err[0] == '\0' : (!enrol_name_ok(r->name) ||
	    r->port == 0 || r->req == NULL || r->address[0] == '\0'))
		abort();
	enrol_request_free(r);
	f = enrol_file_parse(data, size, err, sizeof(err));
	if (f == NULL ? err[0] == '\0' : (!enrol_name_ok(f->name) ||
	    !enrol_name_ok(f->controller) || f->port == 0 || f->cert == NULL ||
	    f->ca == NULL || f->bundle == NULL))
		abort();
	enrol_file_free(f);
	return 0;
}
