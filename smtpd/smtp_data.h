/*
 * smtp_data.h: the DATA phase as an incremental, pure state machine.
 *
 * The session feeds whatever bytes arrived; the machine writes the message
 * content (unstuffed, line endings normalised to CRLF) through a callback
 * and says where the message ended.  No I/O, no allocation.
 *
 * The rules (the SMTP-smuggling fix; see smtp_data.c for the reasoning):
 *
 *  - A line ends only at CRLF: a CR immediately followed by LF.  A "real
 *    line start" is the start of DATA or the byte after such a CRLF.  A
 *    bare CR (not followed by LF) or bare LF (not preceded by CR) does NOT
 *    start a line: it is a content byte of the current line.
 *  - The only end of data is "." CRLF at a real line start, i.e.
 *    <CRLF>.<CRLF>, where the first CRLF may be the virtual one at the
 *    start of DATA (".\r\n" first: empty message).  Nothing else ends it.
 *  - Dot-unstuffing: a "." at a real line start is removed.  Either it is
 *    the terminator, or other bytes follow it on the line (RFC 5321
 *    4.5.2); bare CR, bare LF and NUL count as such bytes.
 *  - Output: a CRLF is written as CRLF, and so is every bare CR and every
 *    bare LF, so the output has only CRLF line endings.  All other bytes,
 *    NUL and 8-bit included, pass unchanged (and are counted in the
 *    stats).  The CRLF before the terminating dot belongs to the message.
 *  - Every split of the input into feed calls gives the same output bytes
 *    and the same end point.
 *  - max_size (0: no limit) bounds the output: past it the output is cut
 *    at exactly max_size bytes, scanning for the terminator goes on, and
 *    over_size is set; the session must then discard the message (552).
 */
#ifndef SEKISHO_SMTP_DATA_H
#define SEKISHO_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum smtp_data_state {
	SMTP_DATA_LINE_START = 0,	/* at a real line start */
	SMTP_DATA_DOT,			/* real line start, then "." (held) */
	SMTP_DATA_DOT_CR,		/* real line start, ".", CR (held) */
	SMTP_DATA_TEXT,			/* inside a line */
	SMTP_DATA_CR,			/* inside a line, CR held */
	SMTP_DATA_END,			/* terminator seen */
};

enum smtp_data_status {
	SMTP_DATA_MORE = 0,		/* all input consumed, not finished */
	SMTP_DATA_DONE,			/* terminator consumed: message ended */
};

typedef void (*smtp_data_out_fn)(void *, const uint8_t *, size_t);

struct smtp_data {
	enum smtp_data_state	 state;
	uint64_t		 max_size;	/* 0: no limit */
	bool			 over_size;	/* output was cut at max_size */

	/* statistics, over the whole content (also past max_size) */
	uint64_t		 size;		/* output bytes, uncut */
	uint64_t		 in_bytes;	/* input bytes consumed */
	uint64_t		 lines;		/* CRLFs written */
	uint64_t		 cur_line;	/* length of the current line */
	uint64_t		 longest_line;	/* without CRLF */
	uint64_t		 bare_cr;	/* bare CRs normalised */
	uint64_t		 bare_lf;	/* bare LFs normalised */
	bool			 saw_8bit;
	bool			 saw_nul;
};

void	smtp_data_init(struct smtp_data *, uint64_t);
enum smtp_data_status smtp_data_feed(struct smtp_data *, const uint8_t *,
	    size_t, size_t *, smtp_data_out_fn, void *);

#endif
