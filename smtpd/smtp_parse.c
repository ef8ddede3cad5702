/*
 * smtp_parse.c: SMTP command line splitter and command parser.
 *
 * Owns the syntax of the command phase: where a line ends, how long it may
 * be, which verbs exist, what their arguments look like, and the ESMTP
 * parameters of MAIL and RCPT (RFC 5321 4.1.2, RFC 1870, RFC 6152,
 * RFC 6531, RFC 3461, RFC 4954).  It does not own state (which command is
 * allowed when: smtp_session) nor addresses (common/addr.c).
 *
 * Every byte is hostile: the line is copied into a bounded buffer, control
 * characters are refused before anything else looks at it, and all
 * lengths are checked against fixed limits.
 */
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "smtp_parse.h"
#include "util.h"

#define R(name, c, st, text)						\
	static const struct smtp_reply name = { c, st, #c " " st " " text }

R(r_unrecognized, 500, "5.5.2", "Syntax error, command unrecognized");
R(r_badchar, 500, "5.5.2", "Syntax error, invalid character in command");
R(r_8bit, 501, "5.5.4", "Syntax error, non-ASCII character in argument");
R(r_badutf8, 501, "5.5.4", "Syntax error, malformed UTF-8");
R(r_mail, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
R(r_rcpt, 501, "5.5.4", "Syntax: RCPT TO:<address>");
R(r_helo, 501, "5.5.4", "Syntax: HELO hostname");
R(r_ehlo, 501, "5.5.4", "Syntax: EHLO hostname");
R(r_vrfy, 501, "5.5.4", "Syntax: VRFY address");
R(r_expn, 501, "5.5.4", "Syntax: EXPN mailing-list");
R(r_auth, 501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
R(r_bdat, 501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
R(r_noargs, 501, "5.5.4", "Syntax error, no parameters allowed");
R(r_param, 501, "5.5.4", "Syntax error in parameters");
R(r_param_dup, 501, "5.5.4", "Duplicate parameter");
R(r_param_many, 501, "5.5.4", "Too many parameters");
R(r_param_unknown, 555, "5.5.4", "Unsupported parameter");
R(r_size, 501, "5.5.4", "Invalid SIZE parameter");
R(r_body, 501, "5.5.4", "Invalid BODY parameter");
R(r_body_unsup, 555, "5.5.4", "Unsupported BODY type");
R(r_smtputf8, 501, "5.5.4", "SMTPUTF8 takes no value");
R(r_ret, 501, "5.5.4", "Invalid RET parameter");
R(r_envid, 501, "5.5.4", "Invalid ENVID parameter");
R(r_authp, 501, "5.5.4", "Invalid AUTH parameter");
R(r_notify, 501, "5.5.4", "Invalid NOTIFY parameter");
R(r_orcpt, 501, "5.5.4", "Invalid ORCPT parameter");
#undef R

/*
 * Not 5.5.6: that code is registered (RFC 4954) for an over-long AUTH
 * exchange line only; an over-long command is a syntax error (RFC 3463
 * X.5.2) with the RFC 5321 4.5.3.1.10 reply code and text.
 */
const struct smtp_reply smtp_reply_line_too_long = {
	500, "5.5.2", "500 5.5.2 Line too long"
};
/* RFC 6531 3.7.4.1 / 3.7.4.2 */
const struct smtp_reply smtp_reply_utf8_required = {
	553, "5.6.7", "553 5.6.7 Non-ASCII address requires SMTPUTF8"
};

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
} smtp_verbs[] = {
	{ "HELO", SMTP_VERB_HELO },
	{ "EHLO", SMTP_VERB_EHLO },
	{ "MAIL", SMTP_VERB_MAIL },
	{ "RCPT", SMTP_VERB_RCPT },
	{ "DATA", SMTP_VERB_DATA },
	{ "RSET", SMTP_VERB_RSET },
	{ "NOOP", SMTP_VERB_NOOP },
	{ "QUIT", SMTP_VERB_QUIT },
	{ "HELP", SMTP_VERB_HELP },
	{ "VRFY", SMTP_VERB_VRFY },
	{ "EXPN", SMTP_VERB_EXPN },
	{ "STARTTLS", SMTP_VERB_STARTTLS },
	{ "AUTH", SMTP_VERB_AUTH },
	{ "BDAT", SMTP_VERB_BDAT },
};

static const struct {
	const char		*name;
	enum smtp_param_id	 id;
	enum smtp_verb		 verb;
} smtp_params[] = {
	{ "SIZE", SMTP_PARAM_SIZE, SMTP_VERB_MAIL },
	{ "BODY", SMTP_PARAM_BODY, SMTP_VERB_MAIL },
	{ "SMTPUTF8", SMTP_PARAM_SMTPUTF8, SMTP_VERB_MAIL },
	{ "RET", SMTP_PARAM_RET, SMTP_VERB_MAIL },
	{ "ENVID", SMTP_PARAM_ENVID, SMTP_VERB_MAIL },
	{ "AUTH", SMTP_PARAM_AUTH, SMTP_VERB_MAIL },
	{ "NOTIFY", SMTP_PARAM_NOTIFY, SMTP_VERB_RCPT },
	{ "ORCPT", SMTP_PARAM_ORCPT, SMTP_VERB_RCPT },
};

/*
 * smtp_line_next: find the next command line in buf[0..len).
 *
 * A line ends at LF; one CR right before the LF is part of the terminator
 * (so CRLF and bare LF both end a command line; any other CR stays in the
 * line and smtp_cmd_parse refuses it).  max_line counts the line with a
 * two-octet terminator, as RFC 5321 4.5.3.1.4 does.
 *
 * *discarding is the caller's state across calls (start with false).  Once
 * a line is known to be too long, everything up to and including its LF is
 * consumed without being returned, and SMTP_LINE_TOO_LONG is returned once,
 * when that LF arrives, so the session answers exactly one 500 for it, in
 * order with pipelined commands.  Until then SMTP_LINE_MORE with
 * *consumed > 0 tells the caller to drop that many bytes.
 */
enum smtp_line_status
smtp_line_next(const uint8_t *buf, size_t len, size_t max_line,
    bool *discarding, const uint8_t **line, size_t *linelen, size_t *consumed)
{
	const uint8_t	*lf;
	size_t		 n, content;

	if (max_line < 3)
		fatalx("smtp_line_next: max_line %zu < 3", max_line);
	*line = NULL;
	*linelen = 0;
	*consumed = 0;
	if (*discarding) {
		if ((lf = memchr(buf, '\n', len)) == NULL) {
			*consumed = len;
			return SMTP_LINE_MORE;
		}
		*discarding = false;
		*consumed = (size_t)(lf - buf) + 1;
		return SMTP_LINE_TOO_LONG;
	}
	n = len < max_line ? len : max_line;
	if ((lf = memchr(buf, '\n', n)) == NULL) {
		if (len < max_line)
			return SMTP_LINE_MORE;
		*discarding = true;
		return smtp_line_next(buf, len, max_line, discarding, line,
		    linelen, consumed);
	}
	content = (size_t)(lf - buf);
	*consumed = content + 1;
	if (content > 0 && buf[content - 1] == '\r')
		content--;
	if (content > max_line - 2)
		return SMTP_LINE_TOO_LONG;
	*line = buf;
	*linelen = content;
	return SMTP_LINE_OK;
}

/* smtp_verb_name: the verb as text, for logs. */
const char *
smtp_verb_name(enum smtp_verb verb)
{
	size_t	 i;

	for (i = 0; i < nitems(smtp_verbs); i++)
		if (smtp_verbs[i].verb == verb)
			return smtp_verbs[i].name;
	return "UNKNOWN";
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_alnum(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* utf8_valid: s is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
static bool
utf8_valid(const char *str)
{
	const unsigned char	*s = (const unsigned char *)str;
	unsigned char		 lo, hi;
	size_t			 n, i;

	while (*s != '\0') {
		if (*s < 0x80) {
			s++;
			continue;
		}
		lo = 0x80;
		hi = 0xbf;
		if (*s >= 0xc2 && *s <= 0xdf)
			n = 1;
		else if (*s >= 0xe0 && *s <= 0xef) {
			n = 2;
			if (*s == 0xe0)
				lo = 0xa0;
			else if (*s == 0xed)
				hi = 0x9f;
		} else if (*s >= 0xf0 && *s <= 0xf4) {
			n = 3;
			if (*s == 0xf0)
				lo = 0x90;
			else if (*s == 0xf4)
				hi = 0x8f;
		} else
			return false;
		/* Only the first continuation byte has a narrowed range. */
		if (s[1] < lo || s[1] > hi)
			return false;
		for (i = 2; i <= n; i++)
			if (s[i] < 0x80 || s[i] > 0xbf)
				return false;
		s += n + 1;
	}
	return true;
}

/* parse_u64: 1 to 20 decimal digits, the whole string, no overflow. */
static bool
parse_u64(const char *s, uint64_t *out)
{
	uint64_t	 v = 0;
	size_t		 n = 0;

	for (; *s != '\0'; s++, n++) {
		if (!is_digit(*s) || n >= 20)
			return false;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (n == 0)
		return false;
	*out = v;
	return true;
}

/*
 * smtp_xtext_decode: RFC 3461 4 xtext into out (NUL-terminated).
 *
 * xchar is "!".."~" except "+" and "="; "+HH" is one octet (upper-case hex
 * per the RFC; lower case is accepted too).  The decoded octets must be
 * printable US-ASCII or space (RFC 3461 4.2, 4.4), which also keeps NUL out
 * of the C string.  Returns the decoded length, or -1 for bad syntax or
 * when out (outsize bytes, including the terminator) is too small.
 */
ssize_t
smtp_xtext_decode(const char *in, size_t inlen, char *out, size_t outsize)
{
	size_t	 i, o = 0;
	int	 h, l, c;

	if (outsize == 0)
		return -1;
	for (i = 0; i < inlen; i++) {
		c = (unsigned char)in[i];
		if (c < '!' || c > '~' || c == '=')
			return -1;
		if (c == '+') {
			if (inlen - i < 3 ||
			    (h = str_hexval(in[i + 1])) == -1 ||
			    (l = str_hexval(in[i + 2])) == -1)
				return -1;
			c = h * 16 + l;
			if (c < ' ' || c > '~')
				return -1;
			i += 2;
		}
		if (o + 1 >= outsize)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (ssize_t)o;
}

/* check_line: copy the line into cmd->buf; refuse NUL and control bytes. */
static const struct smtp_reply *
check_line(struct smtp_cmd *cmd, const uint8_t *line, size_t len)
{
	size_t	 i;

	if (len >= sizeof(cmd->buf))
		return &smtp_reply_line_too_long;
	for (i = 0; i < len; i++)
		if ((line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
			return &r_badchar;
	memcpy(cmd->buf, line, len);
	cmd->buf[len] = '\0';
	return NULL;
}

/*
 * scan_path: the end of the "<...>" path at p (just past its ">"), or NULL.
 * Only the shape is checked: a closing bracket, no white space or "<"
 * outside a quoted string, quoted strings closed (with \-escapes).
 */
static char *
scan_path(char *p)
{
	bool	 quoted = false;

	if (*p != '<')
		return NULL;
	for (p++; *p != '\0'; p++) {
		if (quoted) {
			if (*p == '\\') {
				if (p[1] == '\0')
					return NULL;
				p++;
			} else if (*p == '"')
				quoted = false;
			continue;
		}
		if (*p == '"')
			quoted = true;
		else if (*p == '>')
			return p + 1;
		else if (*p == '<' || is_ws(*p))
			return NULL;
	}
	return NULL;
}

/* check_notify: RFC 3461 4.1: NEVER, or a list of SUCCESS/FAILURE/DELAY. */
static bool
check_notify(struct smtp_cmd *cmd, const char *v)
{
	static const struct {
		const char	*name;
		unsigned int	 bit;
	} kw[] = {
		{ "NEVER", SMTP_NOTIFY_NEVER },
		{ "SUCCESS", SMTP_NOTIFY_SUCCESS },
		{ "FAILURE", SMTP_NOTIFY_FAILURE },
		{ "DELAY", SMTP_NOTIFY_DELAY },
	};
	const char	*e;
	size_t		 i, n;
	unsigned int	 bits = 0, bit;

	for (;;) {
		e = strchr(v, ',');
		n = e != NULL ? (size_t)(e - v) : strlen(v);
		bit = 0;
		for (i = 0; i < nitems(kw); i++)
			if (strlen(kw[i].name) == n &&
			    strncasecmp(v, kw[i].name, n) == 0)
				bit = kw[i].bit;
		if (bit == 0 || (bits & bit) != 0)
			return false;
		bits |= bit;
		if (e == NULL)
			break;
		v = e + 1;
	}
	if ((bits & SMTP_NOTIFY_NEVER) != 0 && bits != SMTP_NOTIFY_NEVER)
		return false;
	cmd->notify = bits;
	return true;
}

/* check_orcpt: RFC 3461 4.2: addr-type ";" xtext. */
static bool
check_orcpt(struct smtp_cmd *cmd, const char *v)
{
	const char	*semi;
	size_t		 i, tlen;

	if (strlen(v) > SMTP_ORCPT_MAX || (semi = strchr(v, ';')) == NULL)
		return false;
	tlen = (size_t)(semi - v);
	if (tlen == 0 || tlen > SMTP_ADDRTYPE_MAX)
		return false;
	for (i = 0; i < tlen; i++)
		if (!is_alnum(v[i]) && v[i] != '-')
			return false;
	memcpy(cmd->orcpt_type, v, tlen);
	cmd->orcpt_type[tlen] = '\0';
	if (smtp_xtext_decode(semi + 1, strlen(semi + 1), cmd->orcpt,
	    sizeof(cmd->orcpt)) <= 0)
		return false;
	cmd->has_orcpt = true;
	return true;
}

/* check_param: the value rules of one known parameter; NULL if fine. */
static const struct smtp_reply *
check_param(struct smtp_cmd *cmd, enum smtp_param_id id, const char *v)
{
	if (id != SMTP_PARAM_SMTPUTF8 && v == NULL)
		return &r_param;
	switch (id) {
	case SMTP_PARAM_SIZE:
		if (!parse_u64(v, &cmd->size))
			return &r_size;
		cmd->has_size = true;
		return NULL;
	case SMTP_PARAM_BODY:
		if (strcasecmp(v, "7BIT") == 0)
			cmd->body = SMTP_BODY_7BIT;
		else if (strcasecmp(v, "8BITMIME") == 0)
			cmd->body = SMTP_BODY_8BITMIME;
		else if (strcasecmp(v, "BINARYMIME") == 0)
			return &r_body_unsup;
		else
			return &r_body;
		return NULL;
	case SMTP_PARAM_SMTPUTF8:
		if (v != NULL)
			return &r_smtputf8;
		cmd->smtputf8 = true;
		return NULL;
	case SMTP_PARAM_RET:
		if (strcasecmp(v, "FULL") == 0)
			cmd->ret = SMTP_RET_FULL;
		else if (strcasecmp(v, "HDRS") == 0)
			cmd->ret = SMTP_RET_HDRS;
		else
			return &r_ret;
		return NULL;
	case SMTP_PARAM_ENVID:
		if (strlen(v) > SMTP_ENVID_MAX || smtp_xtext_decode(v,
		    strlen(v), cmd->envid, sizeof(cmd->envid)) <= 0)
			return &r_envid;
		cmd->has_envid = true;
		return NULL;
	case SMTP_PARAM_AUTH:
		if (strlen(v) > SMTP_AUTHPARAM_MAX || smtp_xtext_decode(v,
		    strlen(v), cmd->auth, sizeof(cmd->auth)) <= 0)
			return &r_authp;
		cmd->has_auth = true;
		return NULL;
	case SMTP_PARAM_NOTIFY:
		return check_notify(cmd, v) ? NULL : &r_notify;
	case SMTP_PARAM_ORCPT:
		return check_orcpt(cmd, v) ? NULL : &r_orcpt;
	}
	fatalx("check_param: bad id %d", (int)id);
}

/*
 * parse_one_param: one "keyword[=value]" token (RFC 5321 4.1.2 esmtp-param,
 * value extended by RFC 6531 3.3 with UTF-8): check its syntax, identify it
 * and check its value.
 */
static const struct smtp_reply *
parse_one_param(struct smtp_cmd *cmd, char *tok, unsigned int *seen)
{
	struct smtp_param	*p;
	char			*eq, *s;
	size_t			 i;

	if ((eq = strchr(tok, '=')) != NULL) {
		*eq = '\0';
		if (eq[1] == '\0')
			return &r_param;
		for (s = eq + 1; *s != '\0'; s++)
			if (*s == '=' || (unsigned char)*s < 33 ||
			    (unsigned char)*s == 127)
				return &r_param;
		if (mem_8bit(eq + 1, strlen(eq + 1))) {
			if (!utf8_valid(eq + 1))
				return &r_badutf8;
			cmd->utf8 = true;
		}
	}
	if (!is_alnum(tok[0]))
		return &r_param;
	for (s = tok + 1; *s != '\0'; s++)
		if (!is_alnum(*s) && *s != '-')
			return &r_param;
	for (i = 0; i < nitems(smtp_params); i++)
		if (smtp_params[i].verb == cmd->verb &&
		    strcasecmp(smtp_params[i].name, tok) == 0)
			break;
	if (i == nitems(smtp_params))
		return &r_param_unknown;
	if ((*seen & (1u << smtp_params[i].id)) != 0)
		return &r_param_dup;
	*seen |= 1u << smtp_params[i].id;
	if (cmd->nparams >= SMTP_PARAMS_MAX)
		return &r_param_many;
	p = &cmd->params[cmd->nparams++];
	p->id = smtp_params[i].id;
	p->keyword = tok;
	p->value = eq != NULL ? eq + 1 : NULL;
	return check_param(cmd, p->id, p->value);
}

/* parse_params: the white-space separated parameters after the path. */
static const struct smtp_reply *
parse_params(struct smtp_cmd *cmd, char *s)
{
	const struct smtp_reply	*r;
	unsigned int		 seen = 0;
	char			*tok;

	for (;;) {
		while (is_ws(*s))
			s++;
		if (*s == '\0')
			return NULL;
		tok = s;
		while (*s != '\0' && !is_ws(*s))
			s++;
		if (*s != '\0')
			*s++ = '\0';
		if ((r = parse_one_param(cmd, tok, &seen)) != NULL)
			return r;
	}
}

/*
 * parse_mailrcpt: "FROM:" / "TO:" (case-insensitive; white space after the
 * colon tolerated, as Postfix does), the path, then the parameters.
 */
static const struct smtp_reply *
parse_mailrcpt(struct smtp_cmd *cmd, char *arg, int flags)
{
	const struct smtp_reply	*syntax, *r;
	const char		*kw;
	char			*p, *end;
	size_t			 kwlen;

	if (cmd->verb == SMTP_VERB_MAIL) {
		kw = "FROM:";
		syntax = &r_mail;
	} else {
		kw = "TO:";
		syntax = &r_rcpt;
	}
	kwlen = strlen(kw);
	if (strncasecmp(arg, kw, kwlen) != 0)
		return syntax;
	p = arg + kwlen;
	while (is_ws(*p))
		p++;
	if ((end = scan_path(p)) == NULL || (*end != '\0' && !is_ws(*end)))
		return syntax;
	if (*end != '\0')
		*end++ = '\0';
	cmd->path = p;
	if (mem_8bit(p, strlen(p))) {
		if (!utf8_valid(p))
			return &r_badutf8;
		cmd->utf8 = true;
	}
	if ((r = parse_params(cmd, end)) != NULL)
		return r;
	if (cmd->utf8 && !cmd->smtputf8 && (cmd->verb == SMTP_VERB_MAIL ||
	    (flags & SMTP_PARSE_SMTPUTF8) == 0))
		return &smtp_reply_utf8_required;
	return NULL;
}

/* parse_auth: "AUTH mechanism [initial-response]" (RFC 4954 4). */
static const struct smtp_reply *
parse_auth(struct smtp_cmd *cmd, char *arg)
{
	char	*s = arg, *resp;
	size_t	 n = 0;

	for (; *s != '\0' && !is_ws(*s); s++, n++) {
		if (!is_alnum(*s) && *s != '-' && *s != '_')
			return &r_auth;
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
	}
	if (n == 0 || n > 20)
		return &r_auth;
	cmd->auth_mech = arg;
	if (*s == '\0')
		return NULL;
	*s++ = '\0';
	while (is_ws(*s))
		s++;
	resp = s;
	for (; *s != '\0'; s++)
		if (!is_alnum(*s) && *s != '+' && *s != '/' && *s != '=')
			return &r_auth;
	cmd->auth_initial = resp;
	return NULL;
}

/* parse_bdat: "BDAT chunk-size [LAST]" (RFC 3030 2). */
static const struct smtp_reply *
parse_bdat(struct smtp_cmd *cmd, char *arg)
{
	char	*s = arg;

	while (*s != '\0' && !is_ws(*s))
		s++;
	if (*s != '\0') {
		*s++ = '\0';
		while (is_ws(*s))
			s++;
		if (strcasecmp(s, "LAST") != 0)
			return &r_bdat;
		cmd->bdat_last = true;
	}
	if (!parse_u64(arg, &cmd->bdat_size))
		return &r_bdat;
	return NULL;
}

/* parse_verb: identify the verb at the start of buf; *rest is after it. */
static enum smtp_verb
parse_verb(char *buf, char **rest)
{
	char	*e = buf;
	size_t	 i, n;

	while (*e != '\0' && !is_ws(*e))
		e++;
	n = (size_t)(e - buf);
	*rest = e;
	for (i = 0; i < nitems(smtp_verbs); i++)
		if (strlen(smtp_verbs[i].name) == n &&
		    strncasecmp(buf, smtp_verbs[i].name, n) == 0)
			return smtp_verbs[i].verb;
	return SMTP_VERB_UNKNOWN;
}

/* parse_args: the argument rules of each verb. */
static const struct smtp_reply *
parse_args(struct smtp_cmd *cmd, char *arg, int flags)
{
	bool	 empty = arg[0] == '\0';

	switch (cmd->verb) {
	case SMTP_VERB_MAIL:
	case SMTP_VERB_RCPT:
		return parse_mailrcpt(cmd, arg, flags);
	case SMTP_VERB_NOOP:
	case SMTP_VERB_HELP:
		return NULL;
	case SMTP_VERB_DATA:
	case SMTP_VERB_RSET:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_STARTTLS:
		return empty ? NULL : &r_noargs;
	default:
		break;
	}
	if (mem_8bit(arg, strlen(arg)))
		return &r_8bit;
	switch (cmd->verb) {
	case SMTP_VERB_HELO:
		return empty ? &r_helo : NULL;
	case SMTP_VERB_EHLO:
		return empty ? &r_ehlo : NULL;
	case SMTP_VERB_VRFY:
		return empty ? &r_vrfy : NULL;
	case SMTP_VERB_EXPN:
		return empty ? &r_expn : NULL;
	case SMTP_VERB_AUTH:
		return parse_auth(cmd, arg);
	case SMTP_VERB_BDAT:
		return parse_bdat(cmd, arg);
	default:
		fatalx("parse_args: bad verb %d", (int)cmd->verb);
	}
}

/*
 * smtp_cmd_parse: parse one command line (without its terminator) into cmd.
 * Returns NULL on success, else the reply to send; cmd is then only good
 * for cmd->verb (SMTP_VERB_UNKNOWN if even the verb was bad).
 */
const struct smtp_reply *
smtp_cmd_parse(struct smtp_cmd *cmd, const uint8_t *line, size_t len,
    int flags)
{
	const struct smtp_reply	*r;
	char			*rest, *e;

	memset(cmd, 0, offsetof(struct smtp_cmd, buf));
	cmd->arg = "";
	if ((r = check_line(cmd, line, len)) != NULL)
		return r;
	if ((cmd->verb = parse_verb(cmd->buf, &rest)) == SMTP_VERB_UNKNOWN)
		return &r_unrecognized;
	if (*rest != '\0')
		*rest++ = '\0';
	while (is_ws(*rest))
		rest++;
	e = rest + strlen(rest);
	while (e > rest && is_ws(e[-1]))
		*--e = '\0';
	cmd->arg = rest;
	memcpy(cmd->work, rest, (size_t)(e - rest) + 1);
	return parse_args(cmd, cmd->work, flags);
}
