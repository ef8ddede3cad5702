/*
 * smtp_data.c: the DATA-phase state machine (end of data, dot-unstuffing,
 * CR/LF normalisation, size limit).  The rules are listed in smtp_data.h.
 *
 * Why only a real CRLF starts a line: SMTP smuggling works when two
 * servers on a path disagree about where a message ends; a sender hides
 * "\n.\n" + "MAIL FROM:..." in a message that one server passes through
 * while the next one takes it as end of data plus new commands.  RFC 5321
 * defines the line terminator as CRLF only, so we accept only
 * <CRLF>.<CRLF> as the end, and we never pass a bare CR or LF on raw
 * (SEED 29): each becomes CRLF in the output.  Treating the CRLF written
 * for a bare CR/LF as a line start would let "\n.\r\n" end the message
 * here and not in a strict peer (or the reverse), so neither the end of
 * data nor unstuffing ever looks at a line start made by a bare CR/LF.
 * The output may then contain lines that begin with "."; the client side
 * (mta) dot-stuffs every such line when it relays, as it must anyway.
 *
 * The machine keeps its whole state in struct smtp_data, one enum plus
 * counters, and looks at every byte exactly once, so any split of the input
 * across calls behaves like one call.
 */
#include <string.h>

#include "log.h"
#include "smtp_data.h"

/* The output side of one feed call. */
struct smtp_data_sink {
	struct smtp_data	*d;
	smtp_data_out_fn	 out;
	void			*arg;
};

/* smtp_data_init: ready for a new message of at most max_size (0: no limit). */
void
smtp_data_init(struct smtp_data *d, uint64_t max_size)
{
	memset(d, 0, sizeof(*d));
	d->state = SMTP_DATA_LINE_START;
	d->max_size = max_size;
}

/* data_emit: write output, cutting it at exactly max_size bytes. */
static void
data_emit(struct smtp_data_sink *k, const uint8_t *p, size_t n)
{
	struct smtp_data	*d = k->d;
	uint64_t		 room;

	if (n == 0)
		return;
	d->size += n;
	if (d->over_size)
		return;
	if (d->max_size != 0 && d->size > d->max_size) {
		/* Before this call we were within the limit. */
		room = d->max_size - (d->size - n);
		d->over_size = true;
		n = (size_t)room;
	}
	if (n > 0)
		k->out(k->arg, p, n);
}

/* data_crlf: end the current output line. */
static void
data_crlf(struct smtp_data_sink *k)
{
	struct smtp_data	*d = k->d;

	data_emit(k, (const uint8_t *)"\r\n", 2);
	d->lines++;
	if (d->cur_line > d->longest_line)
		d->longest_line = d->cur_line;
	d->cur_line = 0;
}

/*
 * data_text: write the run of content bytes at in[i..] up to the next CR
 * or LF; returns the index of that CR/LF (or inlen).
 */
static size_t
data_text(struct smtp_data_sink *k, const uint8_t *in, size_t i, size_t inlen)
{
	struct smtp_data	*d = k->d;
	size_t			 j;

	for (j = i; j < inlen; j++) {
		if (in[j] == '\r' || in[j] == '\n')
			break;
		if (in[j] == '\0')
			d->saw_nul = true;
		else if (in[j] >= 0x80)
			d->saw_8bit = true;
	}
	d->cur_line += j - i;
	data_emit(k, in + i, j - i);
	return j;
}

/*
 * smtp_data_feed: consume input until it is used up (SMTP_DATA_MORE,
 * *consumed == inlen) or the terminator has been consumed (SMTP_DATA_DONE,
 * *consumed = bytes up to and including its LF; the rest of in is the next
 * command(s)).  Content goes to out(arg, bytes, len), possibly in several
 * pieces per call.
 */
enum smtp_data_status
smtp_data_feed(struct smtp_data *d, const uint8_t *in, size_t inlen,
    size_t *consumed, smtp_data_out_fn out, void *arg)
{
	struct smtp_data_sink	 k = { d, out, arg };
	size_t			 i = 0;

	*consumed = 0;
	if (d->state == SMTP_DATA_END)
		return SMTP_DATA_DONE;
	while (i < inlen) {
		switch (d->state) {
		case SMTP_DATA_LINE_START:
			if (in[i] == '.') {
				/* Held: unstuffed, or the terminator. */
				d->state = SMTP_DATA_DOT;
				i++;
			} else
				d->state = SMTP_DATA_TEXT;
			break;
		case SMTP_DATA_DOT:
			if (in[i] == '\r') {
				d->state = SMTP_DATA_DOT_CR;
				i++;
			} else	/* more on the line: the dot was stuffing */
				d->state = SMTP_DATA_TEXT;
			break;
		case SMTP_DATA_DOT_CR:
			if (in[i] == '\n') {
				d->state = SMTP_DATA_END;
				i++;
				d->in_bytes += i;
				*consumed = i;
				return SMTP_DATA_DONE;
			}
			/* ".\r" + not LF: a bare CR on a stuffed line. */
			d->bare_cr++;
			data_crlf(&k);
			d->state = SMTP_DATA_TEXT;
			break;
		case SMTP_DATA_TEXT:
			i = data_text(&k, in, i, inlen);
			if (i == inlen)
				break;
			if (in[i] == '\r')
				d->state = SMTP_DATA_CR;
			else {
				d->bare_lf++;
				data_crlf(&k);
			}
			i++;
			break;
		case SMTP_DATA_CR:
			if (in[i] == '\n') {
				data_crlf(&k);
				d->state = SMTP_DATA_LINE_START;
				i++;
			} else {
				/* Bare CR; in[i] is looked at again as text. */
				d->bare_cr++;
				data_crlf(&k);
				d->state = SMTP_DATA_TEXT;
			}
			break;
		case SMTP_DATA_END:
			fatalx("smtp_data_feed: END inside the loop");
		}
	}
	d->in_bytes += i;
	*consumed = i;
	return SMTP_DATA_MORE;
}
