/*
 * fuzz_mta_reply.c: the SMTP client's parsers of peer input (reply lines,
 * EHLO keywords) and its dot-stuffing, checked against their rules:
 *  - a reply's text never holds control or non-ASCII bytes and never
 *    exceeds MTA_REPLY_MAX; its code stays the first line's; a DSN taken
 *    from the reply has the reply's class;
 *  - stuffed content, read by smtpd's DATA state machine, ends exactly at
 *    its terminator (no input can end the message early).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mta.h"
#include "mta_session.h"
#include "smtp_data.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FZ_ASSERT(c)	do { if (!(c)) abort(); } while (0)

static void
fz_discard(void *arg, const uint8_t *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
}

static void
fz_reply(const uint8_t *data, size_t size)
{
	struct mta_reply	 r;
	struct mta_caps		 caps;
	enum mta_reply_status	 st;
	const char		*line = (const char *)data, *nl, *err;
	char			 dsn[MTA_DSN_MAX];
	size_t			 len, i, left = size;
	int			 code = 0;

	mta_reply_init(&r);
	memset(&caps, 0, sizeof(caps));
	while (left > 0) {
		nl = memchr(line, '\n', left);
		len = nl != NULL ? (size_t)(nl - line) : left;
		st = mta_reply_line(&r, line, len, &err);
		if (st == MTA_REPLY_ERROR)
			FZ_ASSERT(err != NULL);
		else {
			if (code == 0)
				code = r.code;
			FZ_ASSERT(r.code == code && code >= 200 && code < 600);
			FZ_ASSERT(r.len <= MTA_REPLY_MAX &&
			    strlen(r.text) == r.len);
			for (i = 0; i < r.len; i++)
				FZ_ASSERT(r.text[i] >= 0x20 && r.text[i] < 0x7f);
			mta_reply_dsn(&r, dsn, sizeof(dsn));
			FZ_ASSERT(dsn[0] == '0' + code / 100 && dsn[1] == '.');
			if (len > 4)
				mta_caps_line(&caps, line + 4, len - 4);
		}
		if (st != MTA_REPLY_MORE) {
			mta_reply_init(&r);
			code = 0;
		}
		if (nl == NULL)
			break;
		left -= len + 1;
		line = nl + 1;
	}
}

static void
fz_stuff(const uint8_t *data, size_t size)
{
	struct mta_stuff	 st;
	struct smtp_data	 d;
	uint8_t			*out;
	size_t			 o, used;

	if ((out = malloc(2 * size + MTA_STUFF_END_MAX)) == NULL)
		return;
	mta_stuff_init(&st);
	o = mta_stuff_feed(&st, data, size, out);
	o += mta_stuff_end(&st, out + o);
	smtp_data_init(&d, 0);
	FZ_ASSERT(smtp_data_feed(&d, out, o, &used, fz_discard, NULL) ==
	    SMTP_DATA_DONE);
	FZ_ASSERT(used == o);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_reply(data, size);
	fz_stuff(data, size);
	return 0;
}
