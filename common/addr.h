/*
 * addr.h: the one RFC 5321 mail address parser of sekisho.
 *
 * Parses a reverse-path or forward-path as it follows "MAIL FROM:" or
 * "RCPT TO:" (and, later, addresses in notifications and policy patterns)
 * into a struct addr with a canonical local part and a lowercased domain.
 * Everything here works on caller-given lengths, so embedded NULs and
 * 8-bit bytes are seen and judged, never silently cut.
 *
 * An address is data, never a name: a local part like "../../etc/passwd"
 * or "$(id)" can be perfectly valid, so no caller may use an address (or a
 * part of one) as a file name, a path or a shell word.
 */
#ifndef SEKISHO_ADDR_H
#define SEKISHO_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1, octets on the wire */
#define ADDR_DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define ADDR_PATH_MAX	256	/* RFC 5321 4.5.3.1.3, including "<" ">" */
/* A buffer this large always holds addr_format()'s output for any struct. */
#define ADDR_STR_MAX	(2 + 2 * ADDR_LOCAL_MAX + 2 + 1 + ADDR_DOMAIN_MAX + 1)

/* Which text the caller hands to addr_parse(). */
enum addr_form {
	ADDR_PATH,		/* "<...>" as after MAIL FROM: / RCPT TO: */
	ADDR_BARE,		/* the path text without the angle brackets */
};

/*
 * Parser options.  Pass NULL to addr_parse() for the defaults (dots
 * checked, nothing else allowed); when filling one in, start from
 * ADDR_OPTS_INIT so check_dots stays on unless switched off on purpose.
 */
struct addr_opts {
	bool	check_dots;	/* CheckDotInMailAddress: no ".a" "a..b" "a." */
	bool	allow_null;	/* "<>" is allowed (MAIL FROM, notifications) */
	bool	allow_no_domain; /* "<alice>" is allowed (seed 18) */
	bool	smtputf8;	/* the transaction used SMTPUTF8 (RFC 6531) */
};
#define ADDR_OPTS_INIT	{ .check_dots = true }

#define ADDR_F_NULL	0x01	/* the null path "<>": local and domain empty */
#define ADDR_F_QUOTED	0x02	/* the canonical local part needs quoting */
#define ADDR_F_UTF8	0x04	/* local part or domain holds non-ASCII */
#define ADDR_F_LITERAL	0x08	/* domain is an address literal "[...]" */
#define ADDR_F_ROUTE	0x10	/* a source route was given and dropped */

/*
 * A parsed address.  local is the canonical local part: quotes and
 * quoted-pairs removed, case kept; it may hold any printable ASCII
 * (space, '"', '\\', '(' ...) or UTF-8, which addr_format() re-quotes.
 * domain is lowercased for ASCII (U-labels kept byte for byte), an
 * address literal in the form "[192.0.2.1]" / "[IPv6:2001:db8::1]", or
 * the empty string: an address without a domain is a normal state that
 * every function here handles.  The null path has both parts empty.
 */
struct addr {
	char		local[ADDR_LOCAL_MAX + 1];
	char		domain[ADDR_DOMAIN_MAX + 1];
	unsigned	flags;		/* ADDR_F_* */
};

enum addr_err {
	ADDR_OK = 0,
	ADDR_E_EMPTY,		/* no address at all */
	ADDR_E_NULL_PATH,	/* "<>" where it is not allowed */
	ADDR_E_BRACKETS,	/* missing or misplaced "<" / ">" */
	ADDR_E_TRAILING,	/* text after the closing ">" */
	ADDR_E_NUL,		/* NUL byte */
	ADDR_E_CTRL,		/* control character (C0, DEL, C1) */
	ADDR_E_SPACE,		/* white space outside quotes */
	ADDR_E_BACKSLASH,	/* backslash outside quotes */
	ADDR_E_8BIT,		/* 8-bit byte without SMTPUTF8 */
	ADDR_E_UTF8,		/* malformed UTF-8 */
	ADDR_E_ROUTE,		/* malformed source route */
	ADDR_E_LOCAL_EMPTY,	/* "@domain" with no local part */
	ADDR_E_LOCAL_CHAR,	/* character not allowed in a local part */
	ADDR_E_DOT_LEADING,	/* local part starts with "." */
	ADDR_E_DOT_DOUBLE,	/* ".." in the local part */
	ADDR_E_DOT_TRAILING,	/* "." right before "@" */
	ADDR_E_QUOTE,		/* quote in the wrong place */
	ADDR_E_QUOTE_OPEN,	/* unterminated quoted string */
	ADDR_E_NO_DOMAIN,	/* no "@domain" and that is not allowed */
	ADDR_E_DOMAIN_EMPTY,	/* "@" with nothing after it */
	ADDR_E_DOMAIN_CHAR,	/* character not allowed in a domain */
	ADDR_E_LABEL_EMPTY,	/* empty label ("a..b", ".a") */
	ADDR_E_LABEL_LONG,	/* label longer than 63 octets */
	ADDR_E_LABEL_HYPHEN,	/* label starts or ends with "-" */
	ADDR_E_DOMAIN_DOT,	/* trailing dot in the domain */
	ADDR_E_LITERAL,		/* bad address literal */
	ADDR_E_LOCAL_LONG,	/* local part over 64 octets */
	ADDR_E_DOMAIN_LONG,	/* domain over 255 octets */
	ADDR_E_PATH_LONG,	/* path over 256 octets */
	ADDR_E_MAX
};

#define ADDR_FMT_ANGLE		0x01	/* wrap in "<" ">" */
#define ADDR_FMT_DOTS_ASIS	0x02	/* leave "a..b" / "a." unquoted */

enum addr_err	 addr_parse(struct addr *, const char *, size_t, enum addr_form,
		    const struct addr_opts *);
const char	*addr_strerror(enum addr_err);
bool		 addr_format(char *, size_t, const struct addr *, unsigned);
enum addr_err	 addr_set_domain(struct addr *, const char *, bool);
bool		 addr_is_domain(const char *, bool, enum addr_err *);
bool		 addr_domain_eq(const char *, const char *);
bool		 addr_domain_match(const char *, const char *);

#endif
