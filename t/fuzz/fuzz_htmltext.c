/*
 * fuzz_htmltext.c: libFuzzer target for the HTML visible-text extractor
 * (scanner/htmltext.c).
 *
 * The first two bytes choose the output bound, the rest is the HTML.  The
 * text is extracted once without a bound and once with it, after a prefix
 * already in the buffer.  Promises checked: the prefix is untouched; the
 * output is valid UTF-8 (checked here, not with the extractor's decoder)
 * without NULs; it stays within the bound; the bounded text is a prefix
 * of the whole one, the same when the call says it fitted; white space is
 * collapsed (single ' ' or "\n" between text, none at either end).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htmltext.h"
#include "util.h"

#define PREFIX		"kept>"

/* fail: say which promise broke, then crash for libFuzzer. */
#define fail(what)	do {						\
	fprintf(stderr, "fuzz_htmltext: %s (line %d)\n", (what), __LINE__); \
	abort();							\
} while (0)

/* utf8_ok: whether s[0..n) is valid UTF-8 (RFC 3629) without NULs. */
static bool
utf8_ok(const uint8_t *s, size_t n)
{
	size_t	 i = 0, k, len;
	uint32_t c;

	while (i < n) {
		c = s[i];
		if (c == 0)
			return false;
		len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 :
		    (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		if (len == 0 || n - i < len)
			return false;
		if (len > 1)
			c &= 0x3f >> (len - 1);
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			c = c << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 2 && c < 0x80) || (len == 3 && c < 0x800) ||
		    (len == 4 && c < 0x10000) || c > 0x10ffff ||
		    (c >= 0xd800 && c <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* collapsed: no white space but single ' ' or '\n' inside the text. */
static bool
collapsed(const uint8_t *s, size_t n)
{
	size_t	 i;
	bool	 sep;

	if (n > 0 && (s[0] == ' ' || s[0] == '\n' || s[n - 1] == ' ' ||
	    s[n - 1] == '\n'))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '\t' || s[i] == '\r' || s[i] == '\f' ||
		    (s[i] == 0xc2 && i + 1 < n && s[i + 1] == 0xa0))
			return false;
		sep = s[i] == ' ' || s[i] == '\n';
		if (sep && i + 1 < n && (s[i + 1] == ' ' || s[i + 1] == '\n'))
			return false;
	}
	return true;
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf	 all, cut;
	const char	*html;
	size_t		 max, len, pre = strlen(PREFIX);
	bool		 fitted;

	if (size < 2)
		return 0;
	max = (size_t)(data[0] | data[1] << 8) % 4096;
	html = (const char *)data + 2;
	len = size - 2;

	buf_init(&all, SIZE_MAX);
	if (!htmltext_extract(html, len, SIZE_MAX, &all))
		fail("unbounded extraction cut");
	if (!utf8_ok(all.data, all.len))
		fail("invalid UTF-8 or NUL in the text");
	if (!collapsed(all.data, all.len))
		fail("white space not collapsed");

	/* Bounded, after a prefix, in a buffer limited a little above it. */
	buf_init(&cut, pre + max + (data[0] & 1 ? 0 : 100));
	if (!buf_add(&cut, PREFIX, pre))
		fail("prefix");
	fitted = htmltext_extract(html, len, max, &cut);
	if (cut.len < pre || memcmp(cut.data, PREFIX, pre) != 0)
		fail("prefix changed");
	if (cut.len - pre > max)
		fail("text over the bound");
	if (!utf8_ok(cut.data + pre, cut.len - pre))
		fail("bounded text invalid UTF-8");
	if (cut.len - pre > all.len ||
	    (cut.len > pre && memcmp(cut.data + pre, all.data,
	    cut.len - pre) != 0))
		fail("bounded text not a prefix of the whole");
	if (fitted != (cut.len - pre == all.len))
		fail("return value does not say whether it fitted");
	buf_free(&all);
	buf_free(&cut);
	return 0;
}
