/*
 * smtpc.c: a small asynchronous SMTP client (see smtpc.h): greeting,
 * EHLO, MAIL FROM, RCPT TO, DATA, the dot-stuffed message, QUIT.  One
 * message per connection; the notices are few.
 *
 * Owns its bufferevent.  The peer (the local sekisho-smtpd) is still
 * treated as hostile: a reply line longer than MNOTIFY_REPLY_LINE_MAX, a
 * reply of more than SMTPC_REPLY_LINES lines, a line that does not parse,
 * or a code that changes inside a multi-line reply ends the session
 * (temporary failure); every step has a timeout.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "log.h"
#include "mnotify.h"
#include "smtpc.h"
#include "xmalloc.h"

#define SMTPC_TIMEOUT_S		30
#define SMTPC_REPLY_LINES	64
#define SMTPC_TEXT_MAX		200	/* reply text kept for the log */

enum smtpc_state {
	SMTPC_GREETING = 0,
	SMTPC_EHLO,
	SMTPC_MAIL,
	SMTPC_RCPT,
	SMTPC_DATA,
	SMTPC_BODY,
	SMTPC_QUIT,
};

struct smtpc {
	struct bufferevent	*bev;
	enum smtpc_state	 state;
	char			*helo, *from, *to;
	const struct buf	*data;		/* the caller's, until done */
	smtpc_done_cb		 cb;
	void			*arg;
	int			 code;		/* of the reply being read */
	unsigned		 nlines;
	char			 text[SMTPC_TEXT_MAX];
};

/* smtpc_free: the connection and the client. */
static void
smtpc_free(struct smtpc *c)
{
	bufferevent_free(c->bev);
	free(c->helo);
	free(c->from);
	free(c->to);
	free(c);
}

/* smtpc_cancel: give up without calling back (the manager exits). */
void
smtpc_cancel(struct smtpc *c)
{
	smtpc_free(c);
}

/*
 * smtpc_finish: tell the caller (once).  A sent message ends with QUIT,
 * and the client is freed when that is written; anything else closes
 * now.
 */
static void
smtpc_finish(struct smtpc *c, enum smtpc_result r, const char *why)
{
	c->cb(r, why, c->arg);
	c->data = NULL;
	if (r != SMTPC_SENT) {
		smtpc_free(c);
		return;
	}
	c->state = SMTPC_QUIT;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_add_printf(bufferevent_get_output(c->bev),
	    "QUIT\r\n") == -1)
		smtpc_free(c);
}

/* smtpc_fail: a reply that ends the session: 5xx permanent, else not. */
static void
smtpc_fail(struct smtpc *c, int code, const char *step)
{
	char	 why[SMTPC_TEXT_MAX + 64];

	(void)str_printf(why, sizeof(why), "%s: %s", step, c->text);
	smtpc_finish(c, code >= 500 && code <= 599 ? SMTPC_PERMFAIL :
	    SMTPC_TEMPFAIL, why);
}

/* smtpc_body: the message, dot-stuffed, and the final dot. */
static bool
smtpc_body(struct smtpc *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	const uint8_t	*p = c->data->data, *end = p + c->data->len, *nl;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end - 1;
		if (*p == '.' && evbuffer_add(out, ".", 1) == -1)
			return false;
		if (evbuffer_add(out, p, (size_t)(nl - p) + 1) == -1)
			return false;
		p = nl + 1;
	}
	return evbuffer_add(out, ".\r\n", 3) == 0;
}

/*
 * smtpc_step: a complete reply with code: check it, send the next step.
 * false: the session is over (c may be gone).
 */
static bool
smtpc_step(struct smtpc *c, int code)
{
	static const struct {
		int		 ok, ok2;
		const char	*name;
	} want[] = {
		[SMTPC_GREETING] = { 220, 220, "greeting" },
		[SMTPC_EHLO] = { 250, 250, "EHLO" },
		[SMTPC_MAIL] = { 250, 250, "MAIL FROM" },
		[SMTPC_RCPT] = { 250, 251, "RCPT TO" },
		[SMTPC_DATA] = { 354, 354, "DATA" },
		[SMTPC_BODY] = { 250, 250, "end of data" },
	};
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	int		 rc = 0;

	if (c->state == SMTPC_QUIT)
		return false;
	if (code != want[c->state].ok && code != want[c->state].ok2) {
		smtpc_fail(c, code, want[c->state].name);
		return false;
	}
	switch (c->state) {
	case SMTPC_GREETING:
		rc = evbuffer_add_printf(out, "EHLO %s\r\n", c->helo);
		break;
	case SMTPC_EHLO:
		rc = evbuffer_add_printf(out, "MAIL FROM:<%s>\r\n", c->from);
		break;
	case SMTPC_MAIL:
		rc = evbuffer_add_printf(out, "RCPT TO:<%s>\r\n", c->to);
		break;
	case SMTPC_RCPT:
		rc = evbuffer_add_printf(out, "DATA\r\n");
		break;
	case SMTPC_DATA:
		rc = smtpc_body(c) ? 0 : -1;
		break;
	case SMTPC_BODY:
		smtpc_finish(c, SMTPC_SENT, c->text);
		return false;
	case SMTPC_QUIT:
		return false;
	}
	if (rc == -1) {
		smtpc_finish(c, SMTPC_TEMPFAIL, "out of memory");
		return false;
	}
	c->state++;
	return true;
}

/*
 * smtpc_line: the next complete line of input into line (NUL ended);
 * 1 a line, 0 none yet, -1 one that is too long.
 */
static int
smtpc_line(struct evbuffer *in, char *line, size_t size, size_t *len)
{
	struct evbuffer_ptr p;
	size_t		 eol;

	p = evbuffer_search_eol(in, NULL, &eol, EVBUFFER_EOL_CRLF_STRICT);
	if (p.pos == -1)
		return evbuffer_get_length(in) > size ? -1 : 0;
	if ((size_t)p.pos >= size)
		return -1;
	if (evbuffer_remove(in, line, (size_t)p.pos) != (int)p.pos ||
	    evbuffer_drain(in, eol) == -1)
		return -1;
	line[p.pos] = '\0';
	*len = (size_t)p.pos;
	return 1;
}

/* smtpc_read: reply lines; each complete reply moves the dialogue on. */
static void
smtpc_read(struct bufferevent *bev, void *arg)
{
	struct smtpc	*c = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		 line[MNOTIFY_REPLY_LINE_MAX + 1];
	size_t		 len;
	int		 code, r;
	bool		 more;

	while ((r = smtpc_line(in, line, sizeof(line), &len)) != 0) {
		if (r == -1 || mnotify_reply_line(line, len, &code,
		    &more) == -1 || (c->nlines > 0 && code != c->code) ||
		    ++c->nlines > SMTPC_REPLY_LINES) {
			(void)str_lcpy(c->text, "a reply that does not parse",
			    sizeof(c->text));
			smtpc_finish(c, SMTPC_TEMPFAIL, c->text);
			return;
		}
		c->code = code;
		(void)str_lcpy(c->text, line, sizeof(c->text));
		if (more)
			continue;
		c->nlines = 0;
		if (!smtpc_step(c, code))
			return;		/* c may be gone */
	}
}

/* smtpc_event: connected, or an error, end of file or timeout. */
static void
smtpc_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtpc	*c = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (c->state == SMTPC_QUIT) {
		smtpc_free(c);
		return;
	}
	smtpc_finish(c, SMTPC_TEMPFAIL, (what & BEV_EVENT_TIMEOUT) ?
	    "timeout" : (what & BEV_EVENT_EOF) ? "connection closed" :
	    "cannot connect");
}

/* smtpc_write: all written; after QUIT that is the end. */
static void
smtpc_write(struct bufferevent *bev, void *arg)
{
	struct smtpc	*c = arg;

	if (c->state == SMTPC_QUIT)
		smtpc_free(c);
}

/*
 * smtpc_send: start sending data (CRLF lines; the caller keeps it until
 * cb) from from to to, saying EHLO helo, to the server at sa.  cb is
 * called once, possibly from inside this call (a failed connect).
 */
struct smtpc *
smtpc_send(struct event_base *base, const struct sockaddr *sa,
    socklen_t salen, const char *helo, const char *from, const char *to,
    const struct buf *data, smtpc_done_cb cb, void *arg)
{
	struct timeval	 tv = { SMTPC_TIMEOUT_S, 0 };
	struct smtpc	*c = xcalloc(1, sizeof(*c));

	c->helo = xstrdup(helo);
	c->from = xstrdup(from);
	c->to = xstrdup(to);
	c->data = data;
	c->cb = cb;
	c->arg = arg;
	if ((c->bev = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("smtpc_send: bufferevent_socket_new");
	bufferevent_setcb(c->bev, smtpc_read, smtpc_write, smtpc_event, c);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(c->bev, sa, (int)salen) == -1) {
		cb(SMTPC_TEMPFAIL, "cannot connect", arg);
		smtpc_free(c);
		return NULL;
	}
	return c;
}
