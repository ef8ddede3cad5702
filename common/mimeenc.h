/*
 * mimeenc.h: encoding helpers for the messages sekisho generates itself
 * (delivery reports in smtpd/bounce.c, policy notifications in
 * common/notify.c): cleaning UTF-8 values, folding, RFC 2047 and
 * quoted-printable.  Output always has CRLF line ends and lines of at most
 * MIMEENC_LINE_MAX octets.
 */
#ifndef SEKISHO_MIMEENC_H
#define SEKISHO_MIMEENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define MIMEENC_LINE_MAX	998	/* RFC 5322 2.1.1, octets before CRLF */
#define MIMEENC_FOLD_WIDTH	76	/* preferred line length when folding */

enum mimeenc_clean {
	MIMEENC_LINE,		/* one header line: white space collapsed */
	MIMEENC_TEXT,		/* body text: line breaks kept as CRLF */
};

size_t	 mimeenc_utf8_len(const uint8_t *, size_t);
bool	 mimeenc_is_ctl(const uint8_t *, size_t);
bool	 mimeenc_clean_utf8(struct buf *, const uint8_t *, size_t, size_t,
	    enum mimeenc_clean);
bool	 mimeenc_fold_words(struct buf *, const char *, size_t, const char *);
bool	 mimeenc_header_text(struct buf *, const char *, const char *, size_t,
	    size_t);
bool	 mimeenc_qp(struct buf *, const uint8_t *, size_t);

#endif
