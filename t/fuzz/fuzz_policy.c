/*
 * fuzz_policy.c: the policy loader and one evaluation on arbitrary bytes.
 *
 * The input is up to three chunks separated by a line "%%": policy.ini,
 * the keyword list "fz" (keywords/fz.txt, usable as "keywords: fz"), and
 * a text that becomes the message's subject, body, header value,
 * attachment name and attachment text.  When the policy loads, it is
 * evaluated for three recipients of both directions; the result must
 * give every recipient exactly one group.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "policy.h"
#include "scan.h"
#include "util.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_chunk: the bytes up to the next "\n%%\n" (or the end). */
static size_t
fuzz_chunk(const uint8_t *p, size_t n, size_t *skip)
{
	size_t	 i;

	for (i = 0; i + 4 <= n; i++)
		if (memcmp(p + i, "\n%%\n", 4) == 0) {
			*skip = i + 4;
			return i + 1;
		}
	*skip = n;
	return n;
}

/* fuzz_eval: one message built from text through the policy. */
static void
fuzz_eval(const struct policy *p, const char *text)
{
	static const char *const rcpts[] = { "a@example.com", "b@example.org",
	    "a@example.com" };
	static const enum policy_dir dirs[] = { POLICY_INBOUND,
	    POLICY_OUTBOUND, POLICY_INBOUND };
	struct policy_env env = { "s@example.net", rcpts, dirs, 3, NULL };
	struct scan_header hdr[2];
	struct scan_part parts[3];
	struct policy_result res;
	struct scan_msg	 m;
	size_t		 i, j, seen[3] = { 0 };

	memset(&m, 0, sizeof(m));
	memset(parts, 0, sizeof(parts));
	hdr[0].name = (char *)"Subject";
	hdr[0].value = (char *)text;
	hdr[1].name = (char *)"X-Fuzz";
	hdr[1].value = (char *)text;
	parts[0].parent = -1;
	parts[0].body_text = true;
	parts[0].text = (char *)text;
	parts[0].textlen = strlen(text);
	parts[1].parent = -1;
	parts[1].attachment = true;
	parts[1].filename = (char *)text;
	parts[1].true_type = (char *)"application/x-dosexec";
	parts[1].text = (char *)text;
	parts[1].textlen = strlen(text);
	parts[1].size = strlen(text);
	parts[1].limits = SCAN_LIMIT_ENCRYPTED;
	parts[2] = parts[1];
	parts[2].parent = 1;
	parts[2].in_archive = true;
	parts[2].limits = 0;
	m.headers = hdr;
	m.nheaders = 2;
	m.subject = text[0] != '\0' ? (char *)text : NULL;
	m.parts = parts;
	m.nparts = 3;
	m.size = strlen(text);
	m.nhdr_rcpts = strlen(text) % 7;
	m.limits = SCAN_LIMIT_ENCRYPTED;
	if (policy_eval(p, &m, &env, &res) != 0)
		abort();
	for (i = 0; i < res.ngroups; i++)
		for (j = 0; j < res.groups[i].nrcpts; j++)
			seen[res.groups[i].rcpts[j]]++;
	for (i = 0; i < 3; i++)
		if (seen[i] != 1)
			abort();
	policy_result_free(&res);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy_kwfile kw;
	struct policy_src src;
	struct policy	*p;
	struct diag	 d;
	size_t		 ilen, klen, skip, off;
	char		*text;

	ilen = fuzz_chunk(data, size, &skip);
	off = skip;
	klen = fuzz_chunk(data + off, size - off, &skip);
	kw.name = "fz";
	kw.data = data + off;
	kw.len = klen;
	off += skip;
	text = xstrndup((const char *)data + off, size - off);
	memset(&src, 0, sizeof(src));
	src.kwfiles = &kw;
	src.nkwfiles = 1;
	diag_init(&d);
	if ((p = policy_load_buf("policy.ini", data, ilen, &src, &d)) != NULL)
		fuzz_eval(p, text);
	policy_free(p);
	diag_free(&d);
	free(text);
	return 0;
}
