/*
 * fuzz_smtp_data.c: the DATA-phase state machine, checked against the rules
 * rather than only for crashes.
 *
 * Input: a configuration byte (size limit on/off, chunk-size range), a
 * size-limit byte, then the bytes a client sends after DATA.  Checked:
 *  - one call and chunks of sizes taken from the input itself give the
 *    same output, status, end point and statistics;
 *  - the end is exactly the first "\r\n.\r\n" (or ".\r\n" at the very
 *    start), and nothing else;
 *  - the output equals a separate, simple reference implementation of the
 *    rules in smtp_data.h (split at CRLF, drop a leading dot, write bare CR
 *    and bare LF as CRLF), cut at the size limit;
 *  - a finished message within the limit has only CRLF line endings;
 *  - an unfinished message's output is a prefix of what it would be if
 *    "\r\n.\r\n" came next.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_data.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FZ_ASSERT(c)	do { if (!(c)) abort(); } while (0)

struct fz_out {
	uint8_t	*p;
	size_t	 len, cap;
};

static void
fz_collect(void *arg, const uint8_t *p, size_t n)
{
	struct fz_out	*o = arg;

	FZ_ASSERT(n > 0 && o->len + n <= o->cap);
	memcpy(o->p + o->len, p, n);
	o->len += n;
}

/* fz_end: the end of data by the definition, or 0 if there is none. */
static size_t
fz_end(const uint8_t *in, size_t len)
{
	size_t	 i;

	if (len >= 3 && memcmp(in, ".\r\n", 3) == 0)
		return 3;
	for (i = 0; i + 5 <= len; i++)
		if (memcmp(in + i, "\r\n.\r\n", 5) == 0)
			return i + 5;
	return 0;
}

/* fz_reference: the content of in[0..end) written the way the rules say. */
static size_t
fz_reference(const uint8_t *in, size_t end, uint8_t *out)
{
	size_t	 pos = 0, j, o = 0, clen = end - 3;

	while (pos < clen) {
		for (j = pos; j + 1 < clen; j++)
			if (in[j] == '\r' && in[j + 1] == '\n')
				break;
		if (in[pos] == '.')
			pos++;
		for (; pos < j; pos++) {
			if (in[pos] == '\r' || in[pos] == '\n') {
				out[o++] = '\r';
				out[o++] = '\n';
			} else
				out[o++] = in[pos];
		}
		out[o++] = '\r';
		out[o++] = '\n';
		pos = j + 2;
	}
	return o;
}

static bool
fz_only_crlf(const uint8_t *p, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return false;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return false;
	}
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_data	 d1, d2;
	struct fz_out		 o1, o2;
	enum smtp_data_status	 s1, s2 = SMTP_DATA_MORE;
	const uint8_t		*in;
	uint8_t			*ref, *ext;
	size_t			 len, c1, c2 = 0, used, n, k, end, rlen, want;
	uint64_t		 max;

	if (size < 2)
		return 0;
	max = (data[0] & 1) ? (uint64_t)data[1] : 0;
	k = 1 + (data[0] >> 1);		/* chunks of 1..k bytes */
	in = data + 2;
	len = size - 2;

	o1.cap = o2.cap = 2 * len + 16;
	o1.p = malloc(o1.cap);
	o2.p = malloc(o2.cap);
	ref = malloc(2 * len + 32);
	ext = malloc(len + 5);
	FZ_ASSERT(o1.p && o2.p && ref && ext);
	o1.len = o2.len = 0;

	smtp_data_init(&d1, max);
	s1 = smtp_data_feed(&d1, in, len, &c1, fz_collect, &o1);

	smtp_data_init(&d2, max);
	while (c2 < len) {
		n = 1 + in[c2] % k;
		if (n > len - c2)
			n = len - c2;
		s2 = smtp_data_feed(&d2, in + c2, n, &used, fz_collect, &o2);
		c2 += used;
		if (s2 == SMTP_DATA_DONE)
			break;
		FZ_ASSERT(used == n);
	}
	if (len == 0)
		s2 = smtp_data_feed(&d2, in, 0, &used, fz_collect, &o2);

	FZ_ASSERT(s1 == s2 && c1 == c2);
	FZ_ASSERT(o1.len == o2.len && memcmp(o1.p, o2.p, o1.len) == 0);
	FZ_ASSERT(d1.size == d2.size && d1.over_size == d2.over_size);
	FZ_ASSERT(d1.lines == d2.lines && d1.longest_line == d2.longest_line);
	FZ_ASSERT(d1.bare_cr == d2.bare_cr && d1.bare_lf == d2.bare_lf);
	FZ_ASSERT(d1.saw_8bit == d2.saw_8bit && d1.saw_nul == d2.saw_nul);
	FZ_ASSERT(max == 0 || o1.len <= max);

	end = fz_end(in, len);
	if (end == 0) {
		/* Not finished: a prefix of the output with "\r\n.\r\n" next. */
		FZ_ASSERT(s1 == SMTP_DATA_MORE && c1 == len);
		memcpy(ext, in, len);
		memcpy(ext + len, "\r\n.\r\n", 5);
		end = fz_end(ext, len + 5);
		FZ_ASSERT(end != 0);
		rlen = fz_reference(ext, end, ref);
		FZ_ASSERT(o1.len <= rlen && memcmp(o1.p, ref, o1.len) == 0);
	} else {
		FZ_ASSERT(s1 == SMTP_DATA_DONE && c1 == end);
		FZ_ASSERT(end == 3 || memcmp(in + end - 5, "\r\n.\r\n", 5) == 0);
		rlen = fz_reference(in, end, ref);
		want = (max != 0 && rlen > max) ? (size_t)max : rlen;
		FZ_ASSERT(d1.size == rlen);
		FZ_ASSERT(d1.over_size == (max != 0 && rlen > max));
		FZ_ASSERT(o1.len == want && memcmp(o1.p, ref, want) == 0);
		if (!d1.over_size)
			FZ_ASSERT(fz_only_crlf(o1.p, o1.len));
	}
	free(o1.p);
	free(o2.p);
	free(ref);
	free(ext);
	return 0;
}
