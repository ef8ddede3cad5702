/*
 * fuzz_smtp_parse.c: the SMTP command line splitter and command parser.
 *
 * Input: two bytes choosing the line limit, one flag byte, then session
 * input.  Properties checked beyond "no crash": the splitter never returns
 * a line over the limit or one holding an LF, always makes progress, and
 * gives the same lines whether the input arrives at once or byte by byte
 * into a buffer of max_line bytes; every parse either succeeds with a sane
 * command or returns a well-formed reply.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_parse.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct smtp_cmd	 fz_cmd;
static uint8_t		 fz_rx[SMTP_LINE_MAX_LIMIT];

#define FZ_ASSERT(c)	do { if (!(c)) abort(); } while (0)

/* fz_hash: fold bytes into a running FNV-1a hash. */
static uint64_t
fz_hash(uint64_t h, const void *p, size_t n)
{
	const uint8_t	*b = p;

	while (n-- > 0)
		h = (h ^ *b++) * 0x100000001b3ULL;
	return h;
}

/* fz_check_cmd: parse one line and check the result's invariants. */
static void
fz_check_cmd(const uint8_t *line, size_t len, int flags)
{
	const struct smtp_reply	*r;
	size_t			 i, pl;

	r = smtp_cmd_parse(&fz_cmd, line, len, flags);
	if (r != NULL) {
		FZ_ASSERT(r->code >= 500 && r->code <= 555);
		FZ_ASSERT(atoi(r->line) == r->code);
		FZ_ASSERT(strncmp(r->line + 4, r->status,
		    strlen(r->status)) == 0);
		return;
	}
	FZ_ASSERT(fz_cmd.verb != SMTP_VERB_UNKNOWN);
	FZ_ASSERT(strlen(fz_cmd.arg) <= len);
	if (fz_cmd.verb == SMTP_VERB_MAIL || fz_cmd.verb == SMTP_VERB_RCPT) {
		pl = strlen(fz_cmd.path);
		FZ_ASSERT(pl >= 2 && fz_cmd.path[0] == '<' &&
		    fz_cmd.path[pl - 1] == '>');
		FZ_ASSERT(strchr(fz_cmd.path, '\r') == NULL);
		FZ_ASSERT(fz_cmd.nparams <= SMTP_PARAMS_MAX);
		for (i = 0; i < fz_cmd.nparams; i++)
			FZ_ASSERT(fz_cmd.params[i].keyword[0] != '\0');
		FZ_ASSERT(strlen(fz_cmd.envid) <= SMTP_ENVID_MAX);
		FZ_ASSERT(strlen(fz_cmd.orcpt) <= SMTP_ORCPT_MAX);
		FZ_ASSERT(!fz_cmd.utf8 || fz_cmd.smtputf8 ||
		    (fz_cmd.verb == SMTP_VERB_RCPT &&
		    (flags & SMTP_PARSE_SMTPUTF8)));
	}
}

/* fz_split_all: split in[] given at once; returns a hash of the events. */
static uint64_t
fz_split_all(const uint8_t *in, size_t len, size_t max, int flags)
{
	const uint8_t		*line;
	size_t			 off = 0, ll, used;
	bool			 disc = false;
	enum smtp_line_status	 st;
	uint64_t		 h = 0xcbf29ce484222325ULL;

	for (;;) {
		st = smtp_line_next(in + off, len - off, max, &disc, &line,
		    &ll, &used);
		FZ_ASSERT(used <= len - off);
		off += used;
		if (st == SMTP_LINE_OK) {
			FZ_ASSERT(ll + 2 <= max && used >= ll + 1);
			FZ_ASSERT(memchr(line, '\n', ll) == NULL);
			h = fz_hash(fz_hash(h, "L", 1), line, ll);
			fz_check_cmd(line, ll, flags);
		} else if (st == SMTP_LINE_TOO_LONG) {
			FZ_ASSERT(used > 0);
			h = fz_hash(h, "!", 1);
		} else {
			FZ_ASSERT(disc ? off == len : used == 0);
			FZ_ASSERT(disc || len - off < max);
			break;
		}
	}
	return fz_hash(h, disc ? "D" : "M", 1);
}

/* fz_split_bytes: the same input one byte at a time into a max-byte buffer. */
static uint64_t
fz_split_bytes(const uint8_t *in, size_t len, size_t max)
{
	const uint8_t		*line;
	size_t			 i, n = 0, ll, used;
	bool			 disc = false;
	enum smtp_line_status	 st;
	uint64_t		 h = 0xcbf29ce484222325ULL;

	for (i = 0; i < len; i++) {
		FZ_ASSERT(n < max);
		fz_rx[n++] = in[i];
		do {
			st = smtp_line_next(fz_rx, n, max, &disc, &line, &ll,
			    &used);
			if (st == SMTP_LINE_OK)
				h = fz_hash(fz_hash(h, "L", 1), line, ll);
			else if (st == SMTP_LINE_TOO_LONG)
				h = fz_hash(h, "!", 1);
			memmove(fz_rx, fz_rx + used, n - used);
			n -= used;
		} while (st != SMTP_LINE_MORE);
	}
	return fz_hash(h, disc ? "D" : "M", 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 xt[64];
	size_t	 max;
	int	 flags;

	if (size < 3)
		return 0;
	max = 3 + (size_t)((data[0] | data[1] << 8) % (SMTP_LINE_MAX_LIMIT - 2));
	if (data[0] & 1)
		max = SMTP_LINE_MAX_DEFAULT;
	flags = data[2] & 1 ? SMTP_PARSE_SMTPUTF8 : 0;
	data += 3;
	size -= 3;
	FZ_ASSERT(fz_split_all(data, size, max, flags) ==
	    fz_split_bytes(data, size, max));
	/* The whole input as one line, too (the parser copes with any length). */
	fz_check_cmd(data, size, flags);
	if (smtp_xtext_decode((const char *)data, size, xt, sizeof(xt)) >= 0)
		FZ_ASSERT(strlen(xt) < sizeof(xt));
	return 0;
}
