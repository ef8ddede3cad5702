/*
 * test_smtp_parse.c: SMTP command parser, line splitter, xtext decoder.
 *
 * Each parser row gives a line and either the expected summary of the
 * parsed command (see summarize()) or the exact reply line it must be
 * rejected with.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>

#include "smtp_parse.h"
#include "test.h"
#include "util.h"

#define P_OK	NULL
/* Reply lines, spelled out so a changed text fails the tests. */
#define E_UNREC		"500 5.5.2 Syntax error, command unrecognized"
#define E_CHAR		"500 5.5.2 Syntax error, invalid character in command"
#define E_8BIT		"501 5.5.4 Syntax error, non-ASCII character in argument"
#define E_UTF8BAD	"501 5.5.4 Syntax error, malformed UTF-8"
#define E_UTF8REQ	"553 5.6.7 Non-ASCII address requires SMTPUTF8"
#define E_MAIL		"501 5.5.4 Syntax: MAIL FROM:<address>"
#define E_RCPT		"501 5.5.4 Syntax: RCPT TO:<address>"
#define E_HELO		"501 5.5.4 Syntax: HELO hostname"
#define E_EHLO		"501 5.5.4 Syntax: EHLO hostname"
#define E_VRFY		"501 5.5.4 Syntax: VRFY address"
#define E_EXPN		"501 5.5.4 Syntax: EXPN mailing-list"
#define E_AUTH		"501 5.5.4 Syntax: AUTH mechanism [initial-response]"
#define E_BDAT		"501 5.5.4 Syntax: BDAT chunk-size [LAST]"
#define E_NOARGS	"501 5.5.4 Syntax error, no parameters allowed"
#define E_PARAM		"501 5.5.4 Syntax error in parameters"
#define E_DUP		"501 5.5.4 Duplicate parameter"
#define E_UNSUP		"555 5.5.4 Unsupported parameter"
#define E_SIZE		"501 5.5.4 Invalid SIZE parameter"
#define E_BODY		"501 5.5.4 Invalid BODY parameter"
#define E_BODYUNSUP	"555 5.5.4 Unsupported BODY type"
#define E_SMTPUTF8	"501 5.5.4 SMTPUTF8 takes no value"
#define E_RET		"501 5.5.4 Invalid RET parameter"
#define E_ENVID		"501 5.5.4 Invalid ENVID parameter"
#define E_AUTHP		"501 5.5.4 Invalid AUTH parameter"
#define E_NOTIFY	"501 5.5.4 Invalid NOTIFY parameter"
#define E_ORCPT		"501 5.5.4 Invalid ORCPT parameter"
#define E_LONG		"500 5.5.2 Line too long"

#define U	SMTP_PARSE_SMTPUTF8

/* summarize: the parsed command as one comparable line of text. */
static void
summarize(const struct smtp_cmd *c, char *out, size_t outsz)
{
	struct buf	 b;

	buf_init(&b, 65536);
	buf_addstr(&b, smtp_verb_name(c->verb));
	if (c->verb == SMTP_VERB_MAIL || c->verb == SMTP_VERB_RCPT) {
		buf_printf(&b, " path=%s", c->path);
		if (c->has_size)
			buf_printf(&b, " size=%" PRIu64, c->size);
		if (c->body != SMTP_BODY_NONE)
			buf_printf(&b, " body=%s", c->body == SMTP_BODY_7BIT ?
			    "7bit" : "8bitmime");
		if (c->smtputf8)
			buf_addstr(&b, " smtputf8");
		if (c->ret != SMTP_RET_NONE)
			buf_printf(&b, " ret=%s", c->ret == SMTP_RET_FULL ?
			    "full" : "hdrs");
		if (c->has_envid)
			buf_printf(&b, " envid=%s", c->envid);
		if (c->has_auth)
			buf_printf(&b, " auth=%s", c->auth);
		if (c->notify != 0)
			buf_printf(&b, " notify=%s%s%s%s",
			    c->notify & SMTP_NOTIFY_NEVER ? "N" : "",
			    c->notify & SMTP_NOTIFY_SUCCESS ? "S" : "",
			    c->notify & SMTP_NOTIFY_FAILURE ? "F" : "",
			    c->notify & SMTP_NOTIFY_DELAY ? "D" : "");
		if (c->has_orcpt)
			buf_printf(&b, " orcpt=%s;%s", c->orcpt_type,
			    c->orcpt);
		if (c->utf8)
			buf_addstr(&b, " utf8");
		buf_printf(&b, " n=%zu", c->nparams);
	} else if (c->verb == SMTP_VERB_AUTH) {
		buf_printf(&b, " mech=%s", c->auth_mech);
		if (c->auth_initial != NULL)
			buf_printf(&b, " ir=%s", c->auth_initial);
	} else if (c->verb == SMTP_VERB_BDAT) {
		buf_printf(&b, " size=%" PRIu64 "%s", c->bdat_size,
		    c->bdat_last ? " last" : "");
	} else if (c->arg[0] != '\0')
		buf_printf(&b, " arg=[%s]", c->arg);
	str_lcpy(out, buf_cstr(&b), outsz);
	buf_free(&b);
}

static const struct {
	const char	*line;
	size_t		 len;		/* 0: strlen(line) */
	int		 flags;
	const char	*err;		/* expected reply, or P_OK */
	const char	*want;		/* expected summary when P_OK */
} parse_cases[] = {
	/* HELO / EHLO */
	{ "HELO example.com", 0, 0, P_OK, "HELO arg=[example.com]" },
	{ "helo example.com", 0, 0, P_OK, "HELO arg=[example.com]" },
	{ "EHLO [192.0.2.1]", 0, 0, P_OK, "EHLO arg=[[192.0.2.1]]" },
	{ "EhLo mx.example.org  ", 0, 0, P_OK, "EHLO arg=[mx.example.org]" },
	{ "EHLO\tmx", 0, 0, P_OK, "EHLO arg=[mx]" },
	{ "HELO", 0, 0, E_HELO, NULL },
	{ "EHLO ", 0, 0, E_EHLO, NULL },
	{ "EHLO \t ", 0, 0, E_EHLO, NULL },
	{ "HELO h\xc3\xa9", 0, 0, E_8BIT, NULL },
	/* MAIL: path forms */
	{ "MAIL FROM:<a@b.example>", 0, 0, P_OK, "MAIL path=<a@b.example> n=0" },
	{ "mail from:<a@b>", 0, 0, P_OK, "MAIL path=<a@b> n=0" },
	{ "Mail From:<>", 0, 0, P_OK, "MAIL path=<> n=0" },
	{ "MAIL FROM: <a@b>", 0, 0, P_OK, "MAIL path=<a@b> n=0" },
	{ "MAIL FROM:   <a@b>", 0, 0, P_OK, "MAIL path=<a@b> n=0" },
	{ "MAIL FROM:\t<a@b>", 0, 0, P_OK, "MAIL path=<a@b> n=0" },
	{ "MAIL  FROM:<a@b>", 0, 0, P_OK, "MAIL path=<a@b> n=0" },
	{ "MAIL FROM:<a@b>   ", 0, 0, P_OK, "MAIL path=<a@b> n=0" },
	{ "MAIL FROM:<\"a b\"@x>", 0, 0, P_OK, "MAIL path=<\"a b\"@x> n=0" },
	{ "MAIL FROM:<\"a\\\"> b\"@x>", 0, 0, P_OK,
	    "MAIL path=<\"a\\\"> b\"@x> n=0" },
	{ "MAIL FROM:<@a,@b:u@c>", 0, 0, P_OK, "MAIL path=<@a,@b:u@c> n=0" },
	{ "MAIL FROM:<\"a b@x>", 0, 0, E_MAIL, NULL },
	{ "MAIL FROM:<\"a\\", 0, 0, E_MAIL, NULL },
	{ "MAIL FROM x@y", 0, 0, E_MAIL, NULL },
	{ "MAIL FROM <x@y>", 0, 0, E_MAIL, NULL },
	{ "MAIL FROM :<x@y>", 0, 0, E_MAIL, NULL },
	{ "MAIL FROM:x@y", 0, 0, E_MAIL, NULL },
	{ "MAIL FROM:<a@b", 0, 0, E_MAIL, NULL },
	{ "MAIL FROM:<a b@c>", 0, 0, E_MAIL, NULL },
	{ "MAIL FROM:<a@b>x", 0, 0, E_MAIL, NULL },
	{ "MAIL FROM:<<a@b>>", 0, 0, E_MAIL, NULL },
	{ "MAIL FROM:", 0, 0, E_MAIL, NULL },
	{ "MAIL", 0, 0, E_MAIL, NULL },
	{ "MAIL TO:<a@b>", 0, 0, E_MAIL, NULL },
	/* MAIL parameters */
	{ "MAIL FROM:<a@b> SIZE=1000", 0, 0, P_OK,
	    "MAIL path=<a@b> size=1000 n=1" },
	{ "MAIL FROM:<a@b> size=0", 0, 0, P_OK, "MAIL path=<a@b> size=0 n=1" },
	{ "MAIL FROM:<a@b>\tSIZE=5", 0, 0, P_OK, "MAIL path=<a@b> size=5 n=1" },
	{ "MAIL FROM:<a@b> SIZE=18446744073709551615", 0, 0, P_OK,
	    "MAIL path=<a@b> size=18446744073709551615 n=1" },
	{ "MAIL FROM:<a@b> SIZE=18446744073709551616", 0, 0, E_SIZE, NULL },
	{ "MAIL FROM:<a@b> SIZE=99999999999999999999", 0, 0, E_SIZE, NULL },
	{ "MAIL FROM:<a@b> SIZE=000000000000000000001", 0, 0, E_SIZE, NULL },
	{ "MAIL FROM:<a@b> SIZE=12a", 0, 0, E_SIZE, NULL },
	{ "MAIL FROM:<a@b> SIZE=-1", 0, 0, E_SIZE, NULL },
	{ "MAIL FROM:<a@b> SIZE=+1", 0, 0, E_SIZE, NULL },
	{ "MAIL FROM:<a@b> SIZE=", 0, 0, E_PARAM, NULL },
	{ "MAIL FROM:<a@b> SIZE", 0, 0, E_PARAM, NULL },
	{ "MAIL FROM:<a@b> SIZE==1", 0, 0, E_PARAM, NULL },
	{ "MAIL FROM:<a@b> BODY=8BITMIME", 0, 0, P_OK,
	    "MAIL path=<a@b> body=8bitmime n=1" },
	{ "MAIL FROM:<a@b> body=7bit", 0, 0, P_OK,
	    "MAIL path=<a@b> body=7bit n=1" },
	{ "MAIL FROM:<a@b> BODY=BINARYMIME", 0, 0, E_BODYUNSUP, NULL },
	{ "MAIL FROM:<a@b> BODY=9BIT", 0, 0, E_BODY, NULL },
	{ "MAIL FROM:<a@b> SMTPUTF8", 0, 0, P_OK,
	    "MAIL path=<a@b> smtputf8 n=1" },
	{ "MAIL FROM:<a@b> SMTPUTF8=yes", 0, 0, E_SMTPUTF8, NULL },
	{ "MAIL FROM:<a@b> RET=FULL", 0, 0, P_OK, "MAIL path=<a@b> ret=full n=1" },
	{ "MAIL FROM:<a@b> ret=hdrs", 0, 0, P_OK, "MAIL path=<a@b> ret=hdrs n=1" },
	{ "MAIL FROM:<a@b> RET=ALL", 0, 0, E_RET, NULL },
	{ "MAIL FROM:<a@b> ENVID=QQ+2Bx", 0, 0, P_OK,
	    "MAIL path=<a@b> envid=QQ+x n=1" },
	{ "MAIL FROM:<a@b> ENVID=a+2", 0, 0, E_ENVID, NULL },
	{ "MAIL FROM:<a@b> ENVID=a+00", 0, 0, E_ENVID, NULL },
	{ "MAIL FROM:<a@b> ENVID=+zz", 0, 0, E_ENVID, NULL },
	{ "MAIL FROM:<a@b> ENVID="
	    "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789"
	    "01234567890123456789", 0, 0, P_OK,
	    "MAIL path=<a@b> envid="
	    "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789"
	    "01234567890123456789 n=1" },
	{ "MAIL FROM:<a@b> ENVID="
	    "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789"
	    "012345678901234567890", 0, 0, E_ENVID, NULL },
	{ "MAIL FROM:<a@b> AUTH=<>", 0, 0, P_OK, "MAIL path=<a@b> auth=<> n=1" },
	{ "MAIL FROM:<a@b> AUTH=e+3Dmc2@example.com", 0, 0, P_OK,
	    "MAIL path=<a@b> auth=e=mc2@example.com n=1" },
	{ "MAIL FROM:<a@b> AUTH=a+0Ab", 0, 0, E_AUTHP, NULL },
	{ "MAIL FROM:<a@b> SIZE=10 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x "
	    "AUTH=<>", 0, 0, P_OK, "MAIL path=<a@b> size=10 body=8bitmime "
	    "smtputf8 ret=hdrs envid=x auth=<> n=6" },
	{ "MAIL FROM: <a@b>  SIZE=1   BODY=7BIT  ", 0, 0, P_OK,
	    "MAIL path=<a@b> size=1 body=7bit n=2" },
	{ "MAIL FROM:<a@b> SIZE=1 SIZE=1", 0, 0, E_DUP, NULL },
	{ "MAIL FROM:<a@b> SIZE=1 size=2", 0, 0, E_DUP, NULL },
	{ "MAIL FROM:<a@b> SMTPUTF8 smtputf8", 0, 0, E_DUP, NULL },
	{ "MAIL FROM:<a@b> FOO=bar", 0, 0, E_UNSUP, NULL },
	{ "MAIL FROM:<a@b> X-FOO", 0, 0, E_UNSUP, NULL },
	{ "MAIL FROM:<a@b> NOTIFY=NEVER", 0, 0, E_UNSUP, NULL },
	{ "MAIL FROM:<a@b> -X=1", 0, 0, E_PARAM, NULL },
	{ "MAIL FROM:<a@b> S_Z=1", 0, 0, E_PARAM, NULL },
	{ "MAIL FROM:<a@b> =1", 0, 0, E_PARAM, NULL },
	{ "MAIL FROM:<a@b> SIZE=1 FOO=\xc3\xa9", 0, U, E_UNSUP, NULL },
	/* SMTPUTF8 (RFC 6531) */
	{ "MAIL FROM:<\xce\xb4@\xce\xb4.example> SMTPUTF8", 0, 0, P_OK,
	    "MAIL path=<\xce\xb4@\xce\xb4.example> smtputf8 utf8 n=1" },
	{ "MAIL FROM:<\xce\xb4@\xce\xb4.example>", 0, 0, E_UTF8REQ, NULL },
	{ "MAIL FROM:<\xce\xb4@x> SMTPUTF8", 0, U, P_OK,
	    "MAIL path=<\xce\xb4@x> smtputf8 utf8 n=1" },
	{ "MAIL FROM:<\xc0\xaf@x> SMTPUTF8", 0, 0, E_UTF8BAD, NULL },
	{ "MAIL FROM:<\xed\xa0\x80@x> SMTPUTF8", 0, 0, E_UTF8BAD, NULL },
	{ "MAIL FROM:<\xf4\x90\x80\x80@x> SMTPUTF8", 0, 0, E_UTF8BAD, NULL },
	{ "MAIL FROM:<\xe4\xbd@x> SMTPUTF8", 0, 0, E_UTF8BAD, NULL },
	{ "RCPT TO:<\xe7\x94\xa8@\xe4\xbe\x8b.example>", 0, U, P_OK,
	    "RCPT path=<\xe7\x94\xa8@\xe4\xbe\x8b.example> utf8 n=0" },
	{ "RCPT TO:<\xe7\x94\xa8@\xe4\xbe\x8b.example>", 0, 0, E_UTF8REQ, NULL },
	/* RCPT */
	{ "RCPT TO:<b@c>", 0, 0, P_OK, "RCPT path=<b@c> n=0" },
	{ "rcpt to: <b@c>", 0, 0, P_OK, "RCPT path=<b@c> n=0" },
	{ "RCPT TO:<Postmaster>", 0, 0, P_OK, "RCPT path=<Postmaster> n=0" },
	{ "RCPT FROM:<b@c>", 0, 0, E_RCPT, NULL },
	{ "RCPT TO:", 0, 0, E_RCPT, NULL },
	{ "RCPT TO b@c", 0, 0, E_RCPT, NULL },
	{ "RCPT TO:<b@c> SIZE=1", 0, 0, E_UNSUP, NULL },
	{ "RCPT TO:<b@c> NOTIFY=NEVER", 0, 0, P_OK,
	    "RCPT path=<b@c> notify=N n=1" },
	{ "RCPT TO:<b@c> NOTIFY=SUCCESS,FAILURE,DELAY", 0, 0, P_OK,
	    "RCPT path=<b@c> notify=SFD n=1" },
	{ "RCPT TO:<b@c> notify=delay,Success", 0, 0, P_OK,
	    "RCPT path=<b@c> notify=SD n=1" },
	{ "RCPT TO:<b@c> NOTIFY=FAILURE", 0, 0, P_OK,
	    "RCPT path=<b@c> notify=F n=1" },
	{ "RCPT TO:<b@c> NOTIFY=NEVER,SUCCESS", 0, 0, E_NOTIFY, NULL },
	{ "RCPT TO:<b@c> NOTIFY=DELAY,NEVER", 0, 0, E_NOTIFY, NULL },
	{ "RCPT TO:<b@c> NOTIFY=SUCCESS,SUCCESS", 0, 0, E_NOTIFY, NULL },
	{ "RCPT TO:<b@c> NOTIFY=SUCCESS,", 0, 0, E_NOTIFY, NULL },
	{ "RCPT TO:<b@c> NOTIFY=,SUCCESS", 0, 0, E_NOTIFY, NULL },
	{ "RCPT TO:<b@c> NOTIFY=FOO", 0, 0, E_NOTIFY, NULL },
	{ "RCPT TO:<b@c> NOTIFY=", 0, 0, E_PARAM, NULL },
	{ "RCPT TO:<b@c> NOTIFY=NEVER NOTIFY=NEVER", 0, 0, E_DUP, NULL },
	{ "RCPT TO:<b@c> ORCPT=rfc822;b@c", 0, 0, P_OK,
	    "RCPT path=<b@c> orcpt=rfc822;b@c n=1" },
	{ "RCPT TO:<b@c> ORCPT=rfc822;a+2Bb@c NOTIFY=SUCCESS", 0, 0, P_OK,
	    "RCPT path=<b@c> notify=S orcpt=rfc822;a+b@c n=2" },
	{ "RCPT TO:<b@c> ORCPT=b@c", 0, 0, E_ORCPT, NULL },
	{ "RCPT TO:<b@c> ORCPT=;b@c", 0, 0, E_ORCPT, NULL },
	{ "RCPT TO:<b@c> ORCPT=rfc822;", 0, 0, E_ORCPT, NULL },
	{ "RCPT TO:<b@c> ORCPT=rfc_822;b@c", 0, 0, E_ORCPT, NULL },
	/* no-argument verbs */
	{ "DATA", 0, 0, P_OK, "DATA" },
	{ "data", 0, 0, P_OK, "DATA" },
	{ "DATA ", 0, 0, P_OK, "DATA" },
	{ "DATA x", 0, 0, E_NOARGS, NULL },
	{ "RSET", 0, 0, P_OK, "RSET" },
	{ "RSET now", 0, 0, E_NOARGS, NULL },
	{ "QUIT", 0, 0, P_OK, "QUIT" },
	{ "quit", 0, 0, P_OK, "QUIT" },
	{ "QUIT now", 0, 0, E_NOARGS, NULL },
	{ "STARTTLS", 0, 0, P_OK, "STARTTLS" },
	{ "starttls", 0, 0, P_OK, "STARTTLS" },
	{ "STARTTLS x", 0, 0, E_NOARGS, NULL },
	/* NOOP, HELP, VRFY, EXPN */
	{ "NOOP", 0, 0, P_OK, "NOOP" },
	{ "NOOP anything \xff goes", 0, 0, P_OK, "NOOP arg=[anything \xff goes]" },
	{ "HELP", 0, 0, P_OK, "HELP" },
	{ "help MAIL", 0, 0, P_OK, "HELP arg=[MAIL]" },
	{ "VRFY postmaster", 0, 0, P_OK, "VRFY arg=[postmaster]" },
	{ "VRFY", 0, 0, E_VRFY, NULL },
	{ "EXPN staff", 0, 0, P_OK, "EXPN arg=[staff]" },
	{ "EXPN ", 0, 0, E_EXPN, NULL },
	/* AUTH */
	{ "AUTH PLAIN", 0, 0, P_OK, "AUTH mech=PLAIN" },
	{ "auth plain dGVzdAB0ZXN0AHRlc3Q=", 0, 0, P_OK,
	    "AUTH mech=PLAIN ir=dGVzdAB0ZXN0AHRlc3Q=" },
	{ "AUTH LOGIN =", 0, 0, P_OK, "AUTH mech=LOGIN ir==" },
	{ "AUTH SCRAM-SHA-256", 0, 0, P_OK, "AUTH mech=SCRAM-SHA-256" },
	{ "AUTH", 0, 0, E_AUTH, NULL },
	{ "AUTH PL@IN", 0, 0, E_AUTH, NULL },
	{ "AUTH PLAIN a b", 0, 0, E_AUTH, NULL },
	{ "AUTH ABCDEFGHIJKLMNOPQRSTU", 0, 0, E_AUTH, NULL },
	/* BDAT */
	{ "BDAT 100", 0, 0, P_OK, "BDAT size=100" },
	{ "BDAT 0 LAST", 0, 0, P_OK, "BDAT size=0 last" },
	{ "bdat 5 last", 0, 0, P_OK, "BDAT size=5 last" },
	{ "BDAT", 0, 0, E_BDAT, NULL },
	{ "BDAT x", 0, 0, E_BDAT, NULL },
	{ "BDAT 5 FIRST", 0, 0, E_BDAT, NULL },
	{ "BDAT 5 LAST x", 0, 0, E_BDAT, NULL },
	{ "BDAT 99999999999999999999", 0, 0, E_BDAT, NULL },
	/* unknown verbs, bad bytes */
	{ "FOO", 0, 0, E_UNREC, NULL },
	{ "", 0, 0, E_UNREC, NULL },
	{ " MAIL FROM:<a@b>", 0, 0, E_UNREC, NULL },
	{ "MAILFROM:<a@b>", 0, 0, E_UNREC, NULL },
	{ "STARTTLSX", 0, 0, E_UNREC, NULL },
	{ "\xc3\xa9HLO x", 0, 0, E_UNREC, NULL },
	{ "HELO a\0b", 8, 0, E_CHAR, NULL },
	{ "\0", 1, 0, E_CHAR, NULL },
	{ "MAIL FROM:<a@b>\r", 0, 0, E_CHAR, NULL },
	{ "MAIL FROM:<a@b>\rRCPT TO:<c@d>", 0, 0, E_CHAR, NULL },
	{ "MAIL FROM:<a@b>\n", 0, 0, E_CHAR, NULL },
	{ "HELO a\x7f", 0, 0, E_CHAR, NULL },
	{ "HELO a\x1b[0m", 0, 0, E_CHAR, NULL },
};

static void
t_parse_table(void)
{
	static struct smtp_cmd	 cmd;
	const struct smtp_reply	*r;
	char			 got[1024];
	size_t			 i, len;

	for (i = 0; i < nitems(parse_cases); i++) {
		len = parse_cases[i].len ? parse_cases[i].len :
		    strlen(parse_cases[i].line);
		r = smtp_cmd_parse(&cmd, (const uint8_t *)parse_cases[i].line,
		    len, parse_cases[i].flags);
		if (parse_cases[i].err != NULL) {
			CHECKF(r != NULL && strcmp(r->line,
			    parse_cases[i].err) == 0, "row %zu \"%s\": got %s",
			    i, parse_cases[i].line, r ? r->line : "success");
			if (r != NULL) {
				CHECK_INTEQ(r->code, atoi(r->line));
				CHECK(strncmp(r->line + 4, r->status,
				    strlen(r->status)) == 0);
			}
			continue;
		}
		if (r != NULL) {
			CHECKF(0, "row %zu \"%s\": rejected: %s", i,
			    parse_cases[i].line, r->line);
			continue;
		}
		summarize(&cmd, got, sizeof(got));
		CHECKF(strcmp(got, parse_cases[i].want) == 0,
		    "row %zu: \"%s\" != \"%s\"", i, got, parse_cases[i].want);
	}
	CHECK(nitems(parse_cases) >= 80);
}

/* The argument stays intact for logs even though parsing cuts it up. */
static void
t_parse_arg_intact(void)
{
	static struct smtp_cmd	 cmd;
	const char		*l = "MAIL FROM:<a@b>  SIZE=5 BODY=7BIT";

	CHECK(smtp_cmd_parse(&cmd, (const uint8_t *)l, strlen(l), 0) == NULL);
	CHECK_STREQ(cmd.arg, "FROM:<a@b>  SIZE=5 BODY=7BIT");
	CHECK_STREQ(cmd.path, "<a@b>");
	CHECK_INTEQ(cmd.nparams, 2);
	CHECK_STREQ(cmd.params[0].keyword, "SIZE");
	CHECK_STREQ(cmd.params[0].value, "5");
	CHECK_INTEQ(cmd.params[0].id, SMTP_PARAM_SIZE);
	CHECK_STREQ(cmd.params[1].keyword, "BODY");
	CHECK_STREQ(cmd.params[1].value, "7BIT");

	/* A reused struct starts clean. */
	l = "RCPT TO:<c@d>";
	CHECK(smtp_cmd_parse(&cmd, (const uint8_t *)l, strlen(l), 0) == NULL);
	CHECK_INTEQ(cmd.nparams, 0);
	CHECK(!cmd.has_size);
	CHECK_INTEQ(cmd.body, SMTP_BODY_NONE);
}

/* A line longer than the parser's own buffer is refused, not cut. */
static void
t_parse_too_long(void)
{
	static struct smtp_cmd	 cmd;
	static uint8_t		 big[SMTP_LINE_MAX_LIMIT + 10];
	const struct smtp_reply	*r;

	memset(big, 'a', sizeof(big));
	memcpy(big, "HELO ", 5);
	r = smtp_cmd_parse(&cmd, big, SMTP_LINE_MAX_LIMIT, 0);
	CHECK(r != NULL && strcmp(r->line, E_LONG) == 0);
	r = smtp_cmd_parse(&cmd, big, SMTP_LINE_MAX_LIMIT - 1, 0);
	CHECK(r == NULL);
	CHECK_INTEQ(strlen(cmd.arg), SMTP_LINE_MAX_LIMIT - 1 - 5);
	CHECK_STREQ(smtp_reply_line_too_long.line, E_LONG);
	CHECK_STREQ(smtp_reply_utf8_required.line, E_UTF8REQ);
}

/*
 * run_lines: split in[] as a session would, all at once; the events as text:
 * "[line]" for a line, "!" for an over-long line, then "+N" bytes left
 * buffered and "D" if still discarding.
 */
static void
run_lines(const char *in, size_t len, size_t max, char *ev, size_t evsz)
{
	const uint8_t		*line;
	size_t			 off = 0, ll, used;
	bool			 disc = false;
	enum smtp_line_status	 st;
	struct buf		 b;

	buf_init(&b, 1 << 20);
	for (;;) {
		st = smtp_line_next((const uint8_t *)in + off, len - off, max,
		    &disc, &line, &ll, &used);
		off += used;
		if (st == SMTP_LINE_OK) {
			buf_addstr(&b, "[");
			buf_add(&b, line, ll);
			buf_addstr(&b, "]");
		} else if (st == SMTP_LINE_TOO_LONG)
			buf_addstr(&b, "!");
		else if (used == 0 || off == len)
			break;
	}
	buf_printf(&b, "+%zu%s", len - off, disc ? "D" : "");
	str_lcpy(ev, buf_cstr(&b), evsz);
	buf_free(&b);
}

/*
 * run_lines_bytewise: the same, one byte arriving at a time into a buffer
 * that never has to hold more than max bytes (the splitter's promise).
 */
static void
run_lines_bytewise(const char *in, size_t len, size_t max, char *ev,
    size_t evsz)
{
	const uint8_t		*line;
	size_t			 i, ll, used;
	bool			 disc = false;
	enum smtp_line_status	 st;
	struct buf		 b, rx;

	buf_init(&b, 1 << 20);
	buf_init(&rx, max);
	for (i = 0; i < len; i++) {
		if (!buf_add(&rx, in + i, 1)) {
			CHECKF(0, "buffered %zu >= max %zu", rx.len, max);
			break;
		}
		for (;;) {
			st = smtp_line_next(rx.data, rx.len, max, &disc, &line,
			    &ll, &used);
			if (st == SMTP_LINE_OK) {
				buf_addstr(&b, "[");
				buf_add(&b, line, ll);
				buf_addstr(&b, "]");
			} else if (st == SMTP_LINE_TOO_LONG)
				buf_addstr(&b, "!");
			buf_consume(&rx, used);
			if (st == SMTP_LINE_MORE)
				break;
		}
	}
	buf_printf(&b, "+%zu%s", rx.len, disc ? "D" : "");
	str_lcpy(ev, buf_cstr(&b), evsz);
	buf_free(&b);
	buf_free(&rx);
}

static void
t_line_split(void)
{
	static char	 x600[700], x1000[1100];
	static const struct {
		const char	*in;
		size_t		 max;
		const char	*want;
	} cases[] = {
		{ "HELO a\r\n", 512, "[HELO a]+0" },
		{ "HELO a\n", 512, "[HELO a]+0" },
		{ "A\r\nB\nC\r\n", 512, "[A][B][C]+0" },
		{ "A\r\nB", 512, "[A]+1" },
		{ "A\r", 512, "+2" },
		{ "", 512, "+0" },
		{ "\r\n", 512, "[]+0" },
		{ "\n\n", 512, "[][]+0" },
		{ "A\r\r\n", 512, "[A\r]+0" },
		{ "A\rB\n", 512, "[A\rB]+0" },
		{ "12345678\r\n", 10, "[12345678]+0" },
		{ "12345678\n", 10, "[12345678]+0" },
		{ "123456789\r\n", 10, "!+0" },
		{ "123456789\n", 10, "!+0" },
		{ "123456789", 10, "+9" },
		{ "123456789\r", 10, "+0D" },
		{ "1234567890", 10, "+0D" },
		{ "1234567890123\r\nQUIT\r\n", 10, "![QUIT]+0" },
		{ "aaaaaaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbbbbbbbbbb\nQUIT\n", 10,
		    "!![QUIT]+0" },
		{ "aaaaaaaaaaaaaaaaaaaa\nQU", 10, "!+2" },
		{ "A\r\n1234567890123", 10, "[A]+0D" },
	};
	char	 a[4096], b[4096];
	size_t	 i;

	for (i = 0; i < nitems(cases); i++) {
		run_lines(cases[i].in, strlen(cases[i].in), cases[i].max, a,
		    sizeof(a));
		CHECKF(strcmp(a, cases[i].want) == 0, "row %zu: %s != %s", i,
		    a, cases[i].want);
		run_lines_bytewise(cases[i].in, strlen(cases[i].in),
		    cases[i].max, b, sizeof(b));
		CHECKF(strcmp(b, cases[i].want) == 0, "row %zu bytewise: %s != %s",
		    i, b, cases[i].want);
	}

	/* RFC 5321 default: 510 octets + CRLF fit, 511 do not. */
	memset(x600, 'x', 600);
	memcpy(x600 + 510, "\r\nQUIT\r\n", 9);
	run_lines(x600, strlen(x600), SMTP_LINE_MAX_DEFAULT, a, sizeof(a));
	CHECK(a[0] == '[' && strcmp(a + 512, "[QUIT]+0") == 0);
	memset(x600, 'x', 600);
	memcpy(x600 + 511, "\r\nQUIT\r\n", 9);
	run_lines(x600, strlen(x600), SMTP_LINE_MAX_DEFAULT, a, sizeof(a));
	CHECK_STREQ(a, "![QUIT]+0");
	run_lines_bytewise(x600, strlen(x600), SMTP_LINE_MAX_DEFAULT, a,
	    sizeof(a));
	CHECK_STREQ(a, "![QUIT]+0");

	/* A session that allows long ESMTP parameter lists. */
	memset(x1000, 'x', 1000);
	memcpy(x1000 + 1000, "\r\n", 3);
	run_lines(x1000, strlen(x1000), 2048, a, sizeof(a));
	CHECK_INTEQ(strlen(a), 1000 + 4);
	run_lines(x1000, strlen(x1000), SMTP_LINE_MAX_DEFAULT, a, sizeof(a));
	CHECK_STREQ(a, "!+0");
}

static void
t_xtext(void)
{
	static const struct {
		const char	*in;
		size_t		 outsz;
		ssize_t		 want;
		const char	*out;
	} cases[] = {
		{ "", 8, 0, "" },
		{ "abc", 8, 3, "abc" },
		{ "a+2Bb", 8, 3, "a+b" },
		{ "a+3db", 8, 3, "a=b" },
		{ "+20", 8, 1, " " },
		{ "+7E", 8, 1, "~" },
		{ "+7F", 8, -1, NULL },
		{ "+00", 8, -1, NULL },
		{ "+0A", 8, -1, NULL },
		{ "+C3+A9", 8, -1, NULL },
		{ "+", 8, -1, NULL },
		{ "+2", 8, -1, NULL },
		{ "+G0", 8, -1, NULL },
		{ "a=b", 8, -1, NULL },
		{ "a b", 8, -1, NULL },
		{ "a\xc3\xa9", 8, -1, NULL },
		{ "abcdefg", 8, 7, "abcdefg" },
		{ "abcdefgh", 8, -1, NULL },
		{ "ab", 0, -1, NULL },
	};
	char	 out[16];
	ssize_t	 n;
	size_t	 i;

	for (i = 0; i < nitems(cases); i++) {
		n = smtp_xtext_decode(cases[i].in, strlen(cases[i].in), out,
		    cases[i].outsz);
		CHECKF(n == cases[i].want, "row %zu: %zd != %zd", i, n,
		    cases[i].want);
		if (n >= 0 && cases[i].out != NULL)
			CHECK_STREQ(out, cases[i].out);
	}
}

static void
t_verb_names(void)
{
	CHECK_STREQ(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
	CHECK_STREQ(smtp_verb_name(SMTP_VERB_BDAT), "BDAT");
	CHECK_STREQ(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
}

TEST_MAIN(t_parse_table, t_parse_arg_intact, t_parse_too_long, t_line_split,
    t_xtext, t_verb_names)
