/*
 * fuzz_mime.c: libFuzzer target for the MIME analysis (scanner/mime.c).
 *
 * Arbitrary bytes go through mime_analyse with small limits; the result
 * must keep the limits and its promises (valid UTF-8 strings, parents
 * before children, text within max_text), every string is read, then it
 * is freed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "mime.h"

static const struct scan_limits lim = {
	.max_depth = 3,
	.max_parts = 64,
	.max_expanded = 1 << 20,
	.max_ratio = 50,
	.max_text = 4096,
};

/* fail: say which promise broke, then crash for libFuzzer. */
#define fail(what)	do {						\
	fprintf(stderr, "fuzz_mime: %s (line %d)\n", (what), __LINE__);	\
	abort();							\
} while (0)

/* utf8: abort unless s is NULL or a valid UTF-8 C string. */
static void
utf8(const char *s)
{
	if (s != NULL && !g_utf8_validate(s, -1, NULL))
		fail("invalid UTF-8 string");
}

/* utf8_nul: abort unless s[0..len) is valid UTF-8, NULs allowed. */
static void
utf8_nul(const char *s, size_t len)
{
	const char	*z;
	size_t		 n;

	while (len > 0) {
		z = memchr(s, '\0', len);
		n = z != NULL ? (size_t)(z - s) : len;
		if (!g_utf8_validate(s, (gssize)n, NULL))
			fail("invalid UTF-8 text");
		n += z != NULL;
		s += n;
		len -= n;
	}
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static volatile uint8_t leaf_sink;	/* every decoded byte is read */

/* leaf: a decoded leaf is a readable buffer and a real, non-archive part. */
static void
leaf(void *arg, const struct scan_part *p, const uint8_t *data, size_t len)
{
	size_t	*n = arg;
	uint8_t	 sum = 0;
	size_t	 i;

	if (p->in_archive || (len > 0 && data == NULL))
		fail("leaf");
	for (i = 0; i < len; i++)
		sum ^= data[i];
	leaf_sink = sum;
	(*n)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 ready;
	struct scan_msg		 m;
	struct scan_part	*p;
	char			 err[256];
	size_t			 i, nleaves = 0;

	if (!ready) {
		if (mime_init(err, sizeof(err)) != 0)
			fail(err);
		ready = 1;
	}
	if (mime_analyse_leaves(data, size, &lim, leaf, &nleaves, &m, err,
	    sizeof(err)) != 0)
		fail(err);
	if (m.size != size || m.nparts > lim.max_parts ||
	    nleaves > m.nparts)
		fail("size or part count");
	for (i = 0; i < m.nheaders; i++) {
		utf8(m.headers[i].name);
		utf8(m.headers[i].value);
	}
	utf8(m.subject);
	for (i = 0; i < m.nparts; i++) {
		p = &m.parts[i];
		if (p->parent >= (int)i || p->parent < -1 ||
		    p->depth < 0 || p->depth > lim.max_depth ||
		    (p->parent >= 0 && m.parts[p->parent].depth > p->depth) ||
		    (p->limits & ~m.limits) != 0)
			fail("part tree or limits");
		utf8(p->filename);
		utf8(p->content_type);
		utf8(p->charset);
		utf8(p->true_type);
		if (p->text != NULL && (p->textlen > lim.max_text ||
		    p->text[p->textlen] != '\0'))
			fail("text length");
		if (p->text != NULL)
			utf8_nul(p->text, p->textlen);
	}
	scan_msg_free(&m);
	return 0;
}
