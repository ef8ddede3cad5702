/*
 * fuzz_envelope.c: the spool envelope reader (envelope_parse).
 *
 * Property: whatever parses, formats to text that parses again to the
 * same envelope, and formatting that again gives the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int
str_same(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope	 a, b;
	struct buf	 t1, t2;
	char		 err[128];
	size_t		 i;

	if (envelope_parse(&a, (const char *)data, size, err,
	    sizeof(err)) == -1)
		return 0;
	buf_init(&t1, ENVELOPE_MAX_SIZE * 4);
	buf_init(&t2, ENVELOPE_MAX_SIZE * 4);
	if (!envelope_format(&a, &t1))
		abort();
	if (envelope_parse(&b, (const char *)t1.data, t1.len, err,
	    sizeof(err)) == -1)
		abort();
	if (strcmp(a.id, b.id) != 0 || a.received != b.received ||
	    !str_same(a.sender, b.sender) || !str_same(a.helo, b.helo) ||
	    !str_same(a.client_ip, b.client_ip) ||
	    !str_same(a.client_name, b.client_name) ||
	    !str_same(a.tls, b.tls) || !str_same(a.envid, b.envid) ||
	    !str_same(a.auth, b.auth) || a.size != b.size ||
	    a.smtputf8 != b.smtputf8 || a.body_8bit != b.body_8bit ||
	    a.ret_hdrs != b.ret_hdrs || a.nrcpt != b.nrcpt)
		abort();
	if (a.warned != b.warned)
		abort();
	for (i = 0; i < a.nrcpt; i++)
		if (!str_same(a.rcpt[i].addr, b.rcpt[i].addr) ||
		    !str_same(a.rcpt[i].orcpt, b.rcpt[i].orcpt) ||
		    a.rcpt[i].notify != b.rcpt[i].notify ||
		    a.rcpt[i].state != b.rcpt[i].state ||
		    a.rcpt[i].reported != b.rcpt[i].reported ||
		    a.rcpt[i].attempts != b.rcpt[i].attempts ||
		    a.rcpt[i].next != b.rcpt[i].next ||
		    strcmp(a.rcpt[i].dsn, b.rcpt[i].dsn) != 0 ||
		    !str_same(a.rcpt[i].remote, b.rcpt[i].remote) ||
		    !str_same(a.rcpt[i].reply, b.rcpt[i].reply))
			abort();
	if (!envelope_format(&b, &t2) || t1.len != t2.len ||
	    memcmp(t1.data, t2.data, t1.len) != 0)
		abort();
	envelope_clear(&a);
	envelope_clear(&b);
	buf_free(&t1);
	buf_free(&t2);
	return 0;
}
