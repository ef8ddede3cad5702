/*
 * ctl_req.c: one request to a daemon's control socket and its answer:
 * the queue process's run_dir/queue.sock for the queue commands
 * (sekishoctl.c) and the quarantine commands (ctl_quar.c), the scanner's
 * run_dir/scanner.sock for its status (ctl_scanner.c), the IP profiler's
 * run_dir/ipprofiler.sock (ctl_ipp.c), the manager's run_dir/manager.sock
 * for the services (ctl_mgr.c).
 *
 * A request is one message carrying CTL_REQID; the answer is zero or
 * more IMSG_QUEUE_CTL_ENTRY (a list or show) and exactly one
 * IMSG_CTL_RESULT.  What differs between the two families (the list
 * filters, how an entry is checked and printed, an export's extra reply)
 * is a struct ctl_view; everything else, the reply loop, --json framing
 * and every "malformed reply" path, is here once.  A reply we cannot
 * trust fails the command (exit 1) and says why.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conf.h"
#include "ipc.h"
#include "log.h"
#include "sekishoctl.h"
#include "util.h"

#define CTL_ID_LEN	16

/* ctl_id_ok: a queue or quarantine id: 16 lower-case hex digits. */
bool
ctl_id_ok(const char *s)
{
	return strlen(s) == CTL_ID_LEN &&
	    strspn(s, "0123456789abcdef") == CTL_ID_LEN;
}

/* ctl_cmd_find: the row of a command table named name, or NULL. */
const struct ctl_cmd *
ctl_cmd_find(const struct ctl_cmd *cmds, size_t n, const char *name)
{
	size_t	 k;

	for (k = 0; k < n; k++)
		if (strcmp(name, cmds[k].name) == 0)
			return &cmds[k];
	return NULL;
}

/* ctl_list_close: end a --json list that was begun before a failure. */
static void
ctl_list_close(const struct ctl_req *r)
{
	if (r->json && r->cmd->kind == CTL_LIST && r->nentries > 0)
		printf("\n]\n");
}

/* ctl_malformed: a reply we cannot trust: say so and fail. */
int
ctl_malformed(const struct ctl_req *r, const char *what)
{
	ctl_list_close(r);
	fprintf(stderr, "sekishoctl: malformed reply from %s (%s): %s\n",
	    r->view->daemon, r->sockpath, what);
	return 1;
}

/* ctl_entry_print: one checked entry, as JSON or as the view shows it. */
static void
ctl_entry_print(const struct ctl_req *r, json_t *o)
{
	char	*text;

	if (r->json && r->cmd->kind == CTL_LIST) {
		if ((text = json_dumps(o, JSON_COMPACT)) == NULL)
			fatalx("ctl_entry_print: json_dumps");
		printf("%s  %s", r->nentries == 0 ? "[\n" : ",\n", text);
		free(text);
	} else if (r->json) {
		json_dumpf(o, stdout, JSON_INDENT(2));
		printf("\n");
	} else if (r->cmd->kind == CTL_LIST) {
		if (r->nentries == 0)
			r->view->header();
		r->view->row(o);
	} else
		r->view->show(o);
}

/* ctl_entry: one IMSG_QUEUE_CTL_ENTRY; 0, or 1 if it is malformed. */
static int
ctl_entry(struct ctl_req *r, struct ipc_msg_in *m)
{
	json_error_t	 jerr;
	const char	*bad;
	json_t		*o;
	uint64_t	 reqid;
	char		*text = NULL;

	if (!ipc_get_u64(m, &reqid) ||
	    !ipc_get_strdup(m, CTL_MAX_PAYLOAD, &text) || !ipc_end(m)) {
		free(text);
		return ctl_malformed(r, "bad entry message");
	}
	if (reqid != CTL_REQID || r->cmd->kind == CTL_ACTION ||
	    (r->cmd->kind == CTL_SHOW && r->nentries > 0)) {
		free(text);
		return ctl_malformed(r, "unexpected entry");
	}
	o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (o == NULL)
		return ctl_malformed(r, "entry is not JSON");
	if ((bad = r->view->check(o, r)) != NULL) {
		json_decref(o);
		return ctl_malformed(r, bad);
	}
	ctl_entry_print(r, o);
	r->nentries++;
	json_decref(o);
	return 0;
}

/* ctl_action_json: the --json result of an action (hold, release, ...). */
static void
ctl_action_json(const struct ctl_req *r, bool ok, const char *text)
{
	json_t	*o = json_pack("{s:b, s:s, s:s?, s:s}", "ok", ok, "command",
	    r->cmd->name, r->view->idkey, r->id[0] ? r->id : NULL, ok ?
	    "result" : "error", text);

	if (o == NULL)
		fatalx("ctl_action_json: json_pack");
	json_dumpf(o, stdout, JSON_INDENT(2));
	printf("\n");
	json_decref(o);
}

/*
 * ctl_result_ok: a successful result: a list's count must match its
 * entries, a show must have had its entry; the exit code.
 */
static int
ctl_result_ok(struct ctl_req *r, const char *text, const char *safe)
{
	unsigned long long n;
	char	*end;

	switch (r->cmd->kind) {
	case CTL_LIST:
		errno = 0;
		n = strtoull(text, &end, 10);
		if (errno != 0 || end == text || n != r->nentries)
			return ctl_malformed(r, "count does not match the "
			    "entries");
		if (r->json)
			printf("%s]\n", r->nentries == 0 ? "[" : "\n");
		else
			printf("%s\n", safe);
		return 0;
	case CTL_SHOW:
		return r->nentries == 1 ? 0 : ctl_malformed(r, "no entry");
	default:
		if (r->cmd->done != NULL)
			return r->cmd->done(r);
		if (r->json)
			ctl_action_json(r, true, text);
		else
			printf("%s\n", safe);
		return 0;
	}
}

/*
 * ctl_result: the IMSG_CTL_RESULT that ends the request: print the
 * outcome; the exit code.
 */
static int
ctl_result(struct ctl_req *r, struct ipc_msg_in *m)
{
	char	 text[4096], buf[4096];
	uint64_t reqid;
	uint32_t status;

	if (!ipc_get_u64(m, &reqid) || !ipc_get_u32(m, &status) ||
	    !ipc_get_str(m, text, sizeof(text)) || !ipc_end(m) || status > 2)
		return ctl_malformed(r, "bad result message");
	ctl_safe(buf, sizeof(buf), text);
	if (reqid == 0 && status != 0) {
		/* Refused before any request was read. */
		fprintf(stderr, "sekishoctl: %s: %s\n", r->sockpath, buf);
		return 1;
	}
	if (reqid != CTL_REQID)
		return ctl_malformed(r, "result for another request");
	if (status == 0)
		return ctl_result_ok(r, text, buf);
	if (r->json && r->cmd->kind == CTL_ACTION)
		ctl_action_json(r, false, text);
	ctl_list_close(r);
	fprintf(stderr, "sekishoctl: %s%s\n", status == 2 ? "bad request: " :
	    "", buf);
	return 1;
}

/*
 * ctl_connect: a channel to the view's control socket, or NULL (said);
 * the reply timeout into r.
 */
static struct ipc_chan *
ctl_connect(const char *confdir, struct ctl_req *r, char *path, size_t len)
{
	const struct ctl_view *v = r->view;
	struct sekisho_conf conf;
	char	 who[128];
	int	 fd, saved;

	if (ctl_load(confdir, &conf, true) == -1)
		return NULL;
	r->timeout_ms = v->timeout_ms != NULL ? v->timeout_ms(&conf) :
	    CTL_TIMEOUT_MS;
	if (!str_printf(path, len, "%s/%s", conf.imss.run_dir, v->sock)) {
		fprintf(stderr, "sekishoctl: run_dir too long\n");
		conf_free(&conf);
		return NULL;
	}
	if ((fd = ipc_connect_unix(path)) == -1) {
		saved = errno;
		if (v->allowed == NULL)
			(void)str_printf(who, sizeof(who), "the queue user %s",
			    conf.imss.queue_user);
		else
			str_lcpy(who, v->allowed, sizeof(who));
		if (saved == EACCES || saved == EPERM)
			fprintf(stderr, "sekishoctl: cannot connect to %s: %s "
			    "(run as root or as %s)\n", path,
			    strerror(saved), who);
		else
			fprintf(stderr, "sekishoctl: cannot connect to %s: %s: "
			    "is %s running?\n", path, strerror(saved),
			    v->daemon);
		conf_free(&conf);
		return NULL;
	}
	conf_free(&conf);
	return ipc_chan_new(NULL, fd, CTL_MAX_PAYLOAD, NULL, NULL, NULL);
}

/* ctl_lost: the connection ended or timed out before the result. */
static int
ctl_lost(const struct ctl_req *r, struct ipc_chan *chan)
{
	ctl_list_close(r);
	if (errno == ETIMEDOUT)
		fprintf(stderr, "sekishoctl: %s: no answer from %s within %d "
		    "seconds\n", r->sockpath, r->view->daemon,
		    r->timeout_ms / 1000);
	else
		fprintf(stderr, "sekishoctl: %s: connection closed by %s "
		    "before the answer (%s)\n", r->sockpath, r->view->daemon,
		    ipc_chan_errstr(chan)[0] ? ipc_chan_errstr(chan) :
		    "no reason given");
	return 1;
}

/* ctl_reply: one reply message; -1 while the result is still to come. */
static int
ctl_reply(struct ctl_req *r, struct ipc_msg_in *in)
{
	if (in->type == IMSG_QUEUE_CTL_ENTRY)
		return ctl_entry(r, in) != 0 ? 1 : -1;
	if (in->type == IMSG_CTL_RESULT)
		return ctl_result(r, in);
	if (r->view->other != NULL)
		return r->view->other(r, in) != 0 ? 1 : -1;
	return ctl_malformed(r, ipc_type_name(in->type));
}

/* ctl_req_run: send one request and show its answer; the exit code. */
int
ctl_req_run(const char *confdir, struct ctl_req *r)
{
	struct ipc_chan	*chan;
	struct ipc_msg	*m;
	struct ipc_msg_in *in;
	char		 path[4096];
	int		 rv = -1;

	if ((chan = ctl_connect(confdir, r, path, sizeof(path))) == NULL)
		return 1;
	r->sockpath = path;
	m = ipc_msg_new(r->cmd->type, 0);
	ipc_add_u64(m, CTL_REQID);
	if (r->cmd->kind == CTL_LIST)
		r->view->filters(m, r);
	else if (r->view->args != NULL)
		r->view->args(m, r);
	else
		ipc_add_str(m, r->id);
	/* A refusal may close the socket early; read what it said. */
	(void)ipc_send_sync(chan, m, r->timeout_ms);
	while (rv == -1) {
		if ((in = ipc_recv_sync(chan, r->timeout_ms)) == NULL)
			rv = ctl_lost(r, chan);
		else
			rv = ctl_reply(r, in);
	}
	ipc_chan_free(chan);
	r->sockpath = NULL;
	return rv;
}
