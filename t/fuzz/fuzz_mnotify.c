/*
 * fuzz_mnotify.c: the manager's system event notices (manager/mnotify.c):
 * the parse of SMTP reply lines from the local smtpd, and the message
 * builder fed any body text, checked against their rules:
 *  - an accepted reply line is 3 to MNOTIFY_REPLY_LINE_MAX octets of
 *    printable ASCII (or tabs) with a code 200..599;
 *  - a built notice is 7-bit, every LF is part of a CRLF, no line is over
 *    998 octets, and it has a Date: header.
 * The first input byte chooses: even, reply lines; odd, a body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mnotify.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FZ_ASSERT(c)	do { if (!(c)) abort(); } while (0)

/* fz_lines: each LF-separated line through mnotify_reply_line. */
static void
fz_lines(const char *p, size_t left)
{
	const char	*nl;
	size_t		 len, i;
	int		 code;
	bool		 more;

	while (left > 0) {
		nl = memchr(p, '\n', left);
		len = nl != NULL ? (size_t)(nl - p) : left;
		if (mnotify_reply_line(p, len, &code, &more) == 0) {
			FZ_ASSERT(len >= 3 && len <= MNOTIFY_REPLY_LINE_MAX);
			FZ_ASSERT(code >= 200 && code <= 599);
			for (i = 0; i < len; i++)
				FZ_ASSERT(p[i] == '\t' ||
				    (p[i] >= 0x20 && p[i] <= 0x7e));
		}
		if (nl == NULL)
			break;
		left -= len + 1;
		p = nl + 1;
	}
}

/* fz_body: a notice with the input as its body. */
static void
fz_body(const uint8_t *data, size_t size)
{
	struct mnotify_text t = { "fuzz", NULL };
	struct buf	 b;
	char		*body, err[200];
	size_t		 i, col = 0, dates = 0;

	body = malloc(size + 1);
	FZ_ASSERT(body != NULL);
	memcpy(body, data, size);
	body[size] = '\0';
	t.body = body;
	buf_init(&b, MNOTIFY_MSG_MAX);
	if (mnotify_build(&b, "postmaster@mx.test", "admin@example.com",
	    "mx.test", 1700000000, &t, err, sizeof(err)) == 0) {
		for (i = 0; i < b.len; i++) {
			FZ_ASSERT(b.data[i] < 0x80 && b.data[i] != '\0');
			if (b.data[i] == '\n') {
				FZ_ASSERT(i > 0 && b.data[i - 1] == '\r');
				col = 0;
			} else if (b.data[i] != '\r')
				FZ_ASSERT(++col <= 998);
			if ((i == 0 || b.data[i - 1] == '\n') &&
			    b.len - i >= 6 && memcmp(b.data + i, "Date: ",
			    6) == 0)
				dates++;
		}
		FZ_ASSERT(dates >= 1);
	}
	buf_free(&b);
	free(body);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0)
		fz_lines((const char *)data + 1, size - 1);
	else
		fz_body(data + 1, size - 1);
	return 0;
}
