/*
 * smtp_parse.h: SMTP command lines, from bytes to a checked command.
 *
 * Pure code (no I/O, no allocation) so it can be fuzzed on its own.  Two
 * parts:
 *
 *   smtp_line_next	finds the next command line in the session's input
 *			buffer (CRLF or bare LF), enforces the line-length
 *			limit and, after an over-long line, discards up to the
 *			next LF without buffering it.
 *   smtp_cmd_parse	turns one line (terminator already stripped) into a
 *			struct smtp_cmd: verb, argument, and for MAIL/RCPT the
 *			raw reverse/forward path and the ESMTP parameters.
 *
 * Addresses are NOT parsed here: the path is handed on as raw text
 * ("<...>" with its brackets) for common/addr.c.  Every rejection comes
 * back as a complete reply (struct smtp_reply) that the session sends
 * verbatim.
 */
#ifndef SEKISHO_SMTP_PARSE_H
#define SEKISHO_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* RFC 5321 4.5.3.1.4: 512 octets including CRLF. */
#define SMTP_LINE_MAX_DEFAULT	512
/* The largest limit a session may configure (struct smtp_cmd holds a copy). */
#define SMTP_LINE_MAX_LIMIT	4096
#define SMTP_PARAMS_MAX		16
/* RFC 3461 4.4 and 4.2: limits of the (encoded) ENVID and ORCPT values. */
#define SMTP_ENVID_MAX		100
#define SMTP_ORCPT_MAX		500
/* RFC 4954 5: AUTH= carries an xtext mailbox, bounded like ORCPT. */
#define SMTP_AUTHPARAM_MAX	500
#define SMTP_ADDRTYPE_MAX	32

enum smtp_line_status {
	SMTP_LINE_MORE = 0,	/* no complete line yet; drop *consumed bytes */
	SMTP_LINE_OK,		/* a line in *line, *linelen; drop *consumed */
	SMTP_LINE_TOO_LONG,	/* an over-long line ended; drop *consumed */
};

enum smtp_line_status smtp_line_next(const uint8_t *, size_t, size_t, bool *,
	    const uint8_t **, size_t *, size_t *);

enum smtp_verb {
	SMTP_VERB_UNKNOWN = 0,
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_HELP,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_BDAT,
};

enum smtp_param_id {
	SMTP_PARAM_SIZE = 0,	/* MAIL, RFC 1870 */
	SMTP_PARAM_BODY,	/* MAIL, RFC 6152 */
	SMTP_PARAM_SMTPUTF8,	/* MAIL, RFC 6531 */
	SMTP_PARAM_RET,		/* MAIL, RFC 3461 */
	SMTP_PARAM_ENVID,	/* MAIL, RFC 3461 */
	SMTP_PARAM_AUTH,	/* MAIL, RFC 4954 */
	SMTP_PARAM_NOTIFY,	/* RCPT, RFC 3461 */
	SMTP_PARAM_ORCPT,	/* RCPT, RFC 3461 */
};

enum smtp_body { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };
enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

#define SMTP_NOTIFY_NEVER	0x01
#define SMTP_NOTIFY_SUCCESS	0x02
#define SMTP_NOTIFY_FAILURE	0x04
#define SMTP_NOTIFY_DELAY	0x08

/* A rejection: what to send, exactly. */
struct smtp_reply {
	int		 code;		/* 500, 501, 553, 555 */
	const char	*status;	/* enhanced status code, "5.5.4" */
	const char	*line;		/* whole reply line, without CRLF */
};

struct smtp_param {
	enum smtp_param_id	 id;
	const char		*keyword;	/* as sent */
	const char		*value;		/* NULL: no "=value" */
};

/*
 * One parsed command.  Every string points into this struct (buf: the
 * line; work: the argument cut into NUL-terminated pieces; the decoded
 * arrays), so it is self-contained but must not be copied with its
 * pointers; keep one per session and parse into it.
 */
struct smtp_cmd {
	enum smtp_verb	 verb;
	const char	*arg;		/* after the verb, trimmed; "" if none */

	/* MAIL / RCPT */
	const char	*path;		/* "<...>" including the brackets */
	bool		 utf8;		/* path or a value has non-ASCII bytes */
	size_t		 nparams;
	struct smtp_param params[SMTP_PARAMS_MAX];
	bool		 has_size;
	uint64_t	 size;		/* SIZE= */
	enum smtp_body	 body;		/* BODY= */
	bool		 smtputf8;	/* SMTPUTF8 */
	enum smtp_ret	 ret;		/* RET= */
	bool		 has_envid;
	char		 envid[SMTP_ENVID_MAX + 1];	/* ENVID=, xtext decoded */
	bool		 has_auth;
	char		 auth[SMTP_AUTHPARAM_MAX + 1];	/* AUTH=, decoded */
	unsigned int	 notify;	/* NOTIFY=, SMTP_NOTIFY_* bits */
	bool		 has_orcpt;
	char		 orcpt_type[SMTP_ADDRTYPE_MAX + 1];	/* "rfc822" */
	char		 orcpt[SMTP_ORCPT_MAX + 1];	/* ORCPT= address, decoded */

	/* AUTH */
	const char	*auth_mech;	/* upper-cased mechanism name */
	const char	*auth_initial;	/* initial response or NULL */

	/* BDAT */
	uint64_t	 bdat_size;
	bool		 bdat_last;

	char		 buf[SMTP_LINE_MAX_LIMIT];	/* the line, intact */
	char		 work[SMTP_LINE_MAX_LIMIT];	/* the argument, cut up */
};

/* Flags for smtp_cmd_parse. */
/* The transaction was started with SMTPUTF8: RCPT may carry UTF-8. */
#define SMTP_PARSE_SMTPUTF8	0x01

const struct smtp_reply *smtp_cmd_parse(struct smtp_cmd *, const uint8_t *,
	    size_t, int);
const char	*smtp_verb_name(enum smtp_verb);
ssize_t		 smtp_xtext_decode(const char *, size_t, char *, size_t);

/* Replies the session needs beyond those smtp_cmd_parse returns. */
extern const struct smtp_reply smtp_reply_line_too_long;
extern const struct smtp_reply smtp_reply_utf8_required;

#endif
