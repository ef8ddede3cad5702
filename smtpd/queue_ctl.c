/*
 * queue_ctl.c: the queue's control interface (run_dir/queue.sock), used
 * by sekishoctl and later by the manager.
 *
 * The parent creates the socket (owner the queue user, mode 0600) and
 * hands the listening descriptor over (IMSG_QUEUE_CTL_LISTENER); this
 * module accepts clients on it, checks their credentials (root and the
 * queue user only) and answers the IMSG_QUEUE_CTL_* requests: list, show,
 * hold, release, delete, flush; the quarantine requests (QLIST, QSHOW,
 * QRELEASE, QDELETE, QEXPORT) go to queue_ctl_quar.c.  Every request ends
 * with exactly one IMSG_CTL_RESULT carrying its request id.  The messages
 * of queue/ and hold/ come from the scheduler (queue_sched.c); those of
 * incoming/ are not in memory and are read from the spool directory.
 *
 * A listing is streamed: entries go out in batches, in queue-id order
 * (arrival order), only while the client's output queue is short, so a
 * queue of any size costs a bounded amount of memory per client.  Bad
 * bytes from a client drop that client only (STYLE.md).
 * docs/sekishoctl.md describes the protocol and the commands.
 */
#include <sys/socket.h>
#include <sys/queue.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "envelope.h"
#include "ini.h"
#include "ipc.h"
#include "log.h"
#include "queue.h"
#include "queue_ctl.h"
#include "spool.h"
#include "track.h"
#include "xmalloc.h"

#define QUEUE_CTL_MAX_CLIENTS	16
#define QUEUE_CTL_IDLE_SECS	300	/* a silent client is dropped */
#define QUEUE_CTL_LOADS		256	/* incoming/ envelopes read per turn */
#define QUEUE_CTL_MAX_INCOMING	1000000	/* names of incoming/ per listing */
#define QUEUE_CTL_MAX_LINGER	16	/* refused connections kept open */
#define QUEUE_CTL_LINGER_SECS	2
#define QUEUE_CTL_LINGER_BYTES	(64 * 1024)	/* discarded, at most */

/* What a listing selects. */
struct queue_ctl_filter {
	int		 state;		/* -1 any, else enum spool_state */
	char		*sender;	/* substring, "" any, "<>" null */
	char		*rcpt;		/* substring of any recipient */
	uint64_t	 min_age;	/* seconds */
	time_t		 now;
};

/* A listing being streamed to one client. */
struct queue_ctl_list {
	uint64_t	 reqid;
	struct queue_ctl_filter f;
	char		 cursor[SPOOL_ID_LEN + 1];	/* last done, "" none */
	char		(*inc)[SPOOL_ID_LEN + 1];	/* incoming/, sorted */
	size_t		 ninc, inc_pos;
	bool		 inc_truncated;
	uint64_t	 count;
	struct event	*ev;
};

/* A refused connection, open until its client has read why. */
struct queue_ctl_linger {
	TAILQ_ENTRY(queue_ctl_linger) entry;
	int		 fd;
	size_t		 discarded;
	struct event	*ev;
};

/* One message of the scheduler chosen for the next batch. */
struct queue_ctl_cand {
	const char	*qid;
	const struct qmsg *m;
};

static struct {
	int		 fd;
	struct event	*ev_accept;
	struct event	*ev_resume;	/* accept again after EMFILE */
	TAILQ_HEAD(, queue_ctl_client) clients;
	size_t		 nclients;
	TAILQ_HEAD(, queue_ctl_linger) lingering;
	size_t		 nlinger;
	uint32_t	 next_id;
} ctl = { .fd = -1 };

static void	queue_ctl_client_free(struct queue_ctl_client *);
static void	queue_ctl_list_step(evutil_socket_t, short, void *);

/* queue_ctl_jmalloc: jansson's allocator: never NULL, like xmalloc. */
static void *
queue_ctl_jmalloc(size_t n)
{
	return xmalloc(n > 0 ? n : 1);
}

/* queue_ctl_qid_valid: 16 lower-case hex digits. */
static bool
queue_ctl_qid_valid(const char *qid)
{
	return strlen(qid) == SPOOL_ID_LEN &&
	    strspn(qid, "0123456789abcdef") == SPOOL_ID_LEN;
}

/*
 * queue_ctl_utf8: s as valid UTF-8 (a new string): every byte that does
 * not start a valid sequence becomes U+FFFD.  Envelope fields and reply
 * texts come from outside and need not be UTF-8; JSON strings must be.
 */
static char *
queue_ctl_utf8(const char *s)
{
	size_t	 len = strlen(s), i = 0, o = 0, n;
	char	*out = xmalloc(len * 3 + 1);
	unsigned char c;

	while (i < len) {
		c = (unsigned char)s[i];
		n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 :
		    c >= 0xc0 ? 2 : 0;
		if (n > 0 && i + n <= len && ini_utf8_valid(s + i, n)) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
			continue;
		}
		memcpy(out + o, "\xef\xbf\xbd", 3);
		o += 3;
		i++;
	}
	out[o] = '\0';
	return out;
}

/* queue_ctl_jstr: a JSON string of s (any bytes), or null for NULL. */
json_t *
queue_ctl_jstr(const char *s)
{
	json_t	*j;
	char	*fixed;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	fixed = queue_ctl_utf8(s);
	j = json_string(fixed);
	free(fixed);
	if (j == NULL)
		fatalx("queue_ctl_jstr: sanitised string rejected");
	return j;
}

/* queue_ctl_jlen: an upper bound of the JSON text of string s. */
size_t
queue_ctl_jlen(const char *s)
{
	size_t	 n = 2;

	for (; s != NULL && *s != '\0'; s++)
		n += (unsigned char)*s < 0x20 ? 6 : (*s == '"' ||
		    *s == '\\') ? 2 : (unsigned char)*s >= 0x80 ? 3 : 1;
	return n;
}

/* queue_ctl_set: obj[key] = v (which it takes). */
void
queue_ctl_set(json_t *obj, const char *key, json_t *v)
{
	if (v == NULL || json_object_set_new(obj, key, v) == -1)
		fatalx("queue_ctl_set: cannot set %s", key);
}

/* queue_ctl_rcpt_json: one recipient and its delivery state. */
static json_t *
queue_ctl_rcpt_json(const struct envelope_rcpt *r)
{
	json_t	*o = json_object();

	if (o == NULL)
		fatalx("queue_ctl_rcpt_json: json_object");
	queue_ctl_set(o, "address", queue_ctl_jstr(r->addr));
	queue_ctl_set(o, "state", json_string(envelope_rstate_name(r->state)));
	queue_ctl_set(o, "attempts", json_integer(r->attempts));
	queue_ctl_set(o, "next", json_integer((json_int_t)r->next));
	queue_ctl_set(o, "dsn", queue_ctl_jstr(r->dsn[0] ? r->dsn : NULL));
	queue_ctl_set(o, "remote", queue_ctl_jstr(r->remote));
	queue_ctl_set(o, "reply", queue_ctl_jstr(r->reply));
	return o;
}

/*
 * queue_ctl_entry_json: the JSON object of one message (docs/sekishoctl.md).
 * Recipients beyond the size budget are left out ("truncated").
 */
static json_t *
queue_ctl_entry_json(const struct envelope *e, enum spool_state st,
    time_t now)
{
	json_t	*o = json_object(), *rs = json_array();
	size_t	 i, used = 0;
	bool	 cut = false;

	if (o == NULL || rs == NULL)
		fatalx("queue_ctl_entry_json: json_object");
	queue_ctl_set(o, "qid", json_string(e->id));
	queue_ctl_set(o, "state", json_string(spool_state_name(st)));
	queue_ctl_set(o, "received", json_integer((json_int_t)e->received));
	queue_ctl_set(o, "age", json_integer(now > e->received ?
	    (json_int_t)(now - e->received) : 0));
	queue_ctl_set(o, "size", json_integer((json_int_t)e->size));
	queue_ctl_set(o, "sender", queue_ctl_jstr(e->sender[0] ? e->sender :
	    NULL));
	queue_ctl_set(o, "helo", queue_ctl_jstr(e->helo));
	queue_ctl_set(o, "client_ip", queue_ctl_jstr(e->client_ip));
	queue_ctl_set(o, "client_name", queue_ctl_jstr(e->client_name));
	queue_ctl_set(o, "tls", queue_ctl_jstr(e->tls));
	queue_ctl_set(o, "auth", queue_ctl_jstr(e->auth));
	queue_ctl_set(o, "nrcpt", json_integer((json_int_t)e->nrcpt));
	for (i = 0; i < e->nrcpt; i++) {
		const struct envelope_rcpt *r = &e->rcpt[i];

		used += 128 + queue_ctl_jlen(r->addr) +
		    queue_ctl_jlen(r->remote) + queue_ctl_jlen(r->reply);
		if (used > QUEUE_CTL_RCPT_BUDGET) {
			cut = true;
			break;
		}
		if (json_array_append_new(rs, queue_ctl_rcpt_json(r)) == -1)
			fatalx("queue_ctl_entry_json: json_array_append");
	}
	queue_ctl_set(o, "recipients", rs);
	queue_ctl_set(o, "truncated", json_boolean(cut));
	return o;
}

/* queue_ctl_send_result: the one IMSG_CTL_RESULT that ends a request. */
bool
queue_ctl_send_result(struct queue_ctl_client *cl, uint64_t reqid,
    enum queue_ctl_status status, const char *text)
{
	struct ipc_msg	*m = ipc_msg_new(IMSG_CTL_RESULT, 0);

	ipc_add_u64(m, reqid);
	ipc_add_u32(m, status);
	ipc_add_str(m, text);
	return ipc_chan_send(cl->chan, m);
}

/*
 * queue_ctl_send_json: one IMSG_QUEUE_CTL_ENTRY carrying the JSON text of
 * an object; false if the client is gone.
 */
static bool
queue_ctl_send_json(struct queue_ctl_client *cl, uint64_t reqid,
    const char *text)
{
	struct ipc_msg	*m;

	if (strlen(text) + 64 > QUEUE_CTL_MAX_PAYLOAD)
		fatalx("queue_ctl_send_json: reqid %llu: entry too large",
		    (unsigned long long)reqid);
	m = ipc_msg_new(IMSG_QUEUE_CTL_ENTRY, 0);
	ipc_add_u64(m, reqid);
	ipc_add_str(m, text);
	return ipc_chan_send(cl->chan, m);
}

/* queue_ctl_dump: the compact JSON text of an entry (a new string). */
static char *
queue_ctl_dump(const json_t *o, uint64_t reqid)
{
	char	*text;

	if ((text = json_dumps(o, JSON_COMPACT)) == NULL)
		fatalx("queue_ctl_dump: reqid %llu: json_dumps",
		    (unsigned long long)reqid);
	return text;
}

/*
 * queue_ctl_send_obj: one entry of a queue or quarantine request (o is
 * taken); false if the client is gone.  The recipients' budget keeps
 * entries small; should one be too large anyway, it goes without its
 * recipients ("truncated") rather than not at all.
 */
bool
queue_ctl_send_obj(struct queue_ctl_client *cl, uint64_t reqid, json_t *o)
{
	char	*text = queue_ctl_dump(o, reqid);
	bool	 ok;

	if (strlen(text) + 64 > QUEUE_CTL_MAX_PAYLOAD) {
		free(text);
		json_array_clear(json_object_get(o, "recipients"));
		queue_ctl_set(o, "truncated", json_boolean(json_integer_value(
		    json_object_get(o, "nrcpt")) > 0));
		text = queue_ctl_dump(o, reqid);
	}
	json_decref(o);
	ok = queue_ctl_send_json(cl, reqid, text);
	free(text);
	return ok;
}

/*
 * queue_ctl_send_show: the entry that answers a show, then its result;
 * o is taken.
 */
void
queue_ctl_send_show(struct queue_ctl_client *cl, uint64_t reqid, json_t *o)
{
	if (queue_ctl_send_obj(cl, reqid, o))
		queue_ctl_send_result(cl, reqid, QUEUE_CTL_OK, "1 message");
}

/*
 * queue_ctl_incoming_load: the envelope of qid in incoming/.  Returns 0,
 * or -1 with errno (ENOENT: not there, EINVAL: unreadable envelope).
 */
static int
queue_ctl_incoming_load(const char *qid, struct envelope *env)
{
	struct stat	 sb;
	char		 name[SPOOL_ID_LEN + 8], *text, err[160];
	size_t		 off = 0;
	ssize_t		 n;
	int		 fd, rv;

	if (!str_printf(name, sizeof(name), "%s.env", qid))
		fatalx("queue_ctl_incoming_load: qid %s too long", qid);
	if ((fd = openat(q.spool.statefd[SPOOL_INCOMING], name,
	    O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return -1;
	if (fstat(fd, &sb) == -1 || sb.st_size <= 0 ||
	    sb.st_size > ENVELOPE_MAX_SIZE) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	text = xmalloc((size_t)sb.st_size);
	while (off < (size_t)sb.st_size) {
		n = read(fd, text + off, (size_t)sb.st_size - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	rv = envelope_parse(env, text, off, err, sizeof(err));
	free(text);
	if (rv == 0 && strcmp(env->id, qid) != 0) {
		envelope_clear(env);
		rv = -1;
	}
	if (rv == -1)
		errno = EINVAL;
	return rv;
}

/* queue_ctl_incoming_has: whether incoming/ holds message qid. */
static bool
queue_ctl_incoming_has(const char *qid)
{
	struct stat	 sb;
	char		 name[SPOOL_ID_LEN + 8];

	return str_printf(name, sizeof(name), "%s.env", qid) &&
	    fstatat(q.spool.statefd[SPOOL_INCOMING], name, &sb,
	    AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode);
}

/* queue_ctl_match: whether a message passes the listing's filter. */
static bool
queue_ctl_match(const struct queue_ctl_filter *f, const struct envelope *e,
    enum spool_state st)
{
	size_t	 i;

	if (f->state != -1 && (int)st != f->state)
		return false;
	if (f->min_age > 0 && (f->now <= e->received ||
	    (uint64_t)(f->now - e->received) < f->min_age))
		return false;
	if (strcmp(f->sender, "<>") == 0) {
		if (e->sender[0] != '\0')
			return false;
	} else if (f->sender[0] != '\0' &&
	    strcasestr(e->sender, f->sender) == NULL)
		return false;
	if (f->rcpt[0] == '\0')
		return true;
	for (i = 0; i < e->nrcpt; i++)
		if (strcasestr(e->rcpt[i].addr, f->rcpt) != NULL)
			return true;
	return false;
}

/* queue_ctl_list_free: end a listing (its result was sent, or not). */
static void
queue_ctl_list_free(struct queue_ctl_list *l)
{
	if (l == NULL)
		return;
	if (l->ev != NULL)
		event_free(l->ev);
	free(l->f.sender);
	free(l->f.rcpt);
	free(l->inc);
	free(l);
}

/* queue_ctl_qid_cmp: qsort order of incoming/ names. */
static int
queue_ctl_qid_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * queue_ctl_incoming_snapshot: the queue ids of incoming/, sorted, at
 * most QUEUE_CTL_MAX_INCOMING of them (17 bytes each).
 */
static void
queue_ctl_incoming_snapshot(struct queue_ctl_list *l)
{
	struct dirent	*de;
	size_t		 cap = 0;
	DIR		*d;
	int		 fd;

	if ((fd = dup(q.spool.statefd[SPOOL_INCOMING])) == -1 ||
	    (d = fdopendir(fd)) == NULL) {
		log_kv(LOG_LVL_ERR, "event=queue-ctl-readdir-failed "
		    "err=\"%s\"", strerror(errno));
		if (fd != -1)
			close(fd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		size_t	 len = strlen(de->d_name);

		if (len != SPOOL_ID_LEN + 4 ||
		    strcmp(de->d_name + SPOOL_ID_LEN, ".env") != 0 ||
		    strspn(de->d_name, "0123456789abcdef") != SPOOL_ID_LEN)
			continue;
		if (l->ninc == QUEUE_CTL_MAX_INCOMING) {
			l->inc_truncated = true;
			break;
		}
		if (l->ninc == cap) {
			cap = cap ? cap * 2 : 256;
			l->inc = xreallocarray(l->inc, cap, sizeof(*l->inc));
		}
		memcpy(l->inc[l->ninc], de->d_name, SPOOL_ID_LEN);
		l->inc[l->ninc++][SPOOL_ID_LEN] = '\0';
	}
	closedir(d);
	if (l->ninc > 0)
		qsort(l->inc, l->ninc, sizeof(*l->inc), queue_ctl_qid_cmp);
}

/* Candidates of one batch: the smallest matching qids after the cursor. */
struct queue_ctl_pass {
	const struct queue_ctl_list *l;
	struct queue_ctl_cand	 cand[QUEUE_CTL_BATCH];
	size_t			 n;
};

/* queue_ctl_pass_visit: sched_foreach callback, keeps cand[] sorted. */
static void
queue_ctl_pass_visit(const struct qmsg *m, void *arg)
{
	struct queue_ctl_pass	*p = arg;
	const char		*qid = m->env.id;
	size_t			 i;

	if (strcmp(qid, p->l->cursor) <= 0 ||
	    (p->n == QUEUE_CTL_BATCH && strcmp(qid, p->cand[p->n - 1].qid) >= 0))
		return;
	if (!queue_ctl_match(&p->l->f, &m->env, m->st))
		return;
	if (p->n < QUEUE_CTL_BATCH)
		p->n++;
	for (i = p->n - 1; i > 0 && strcmp(p->cand[i - 1].qid, qid) > 0; i--)
		p->cand[i] = p->cand[i - 1];
	p->cand[i].qid = qid;
	p->cand[i].m = m;
}

/*
 * queue_ctl_list_incoming: entry for incoming/ name qid if it matches;
 * false if the client is gone.
 */
static bool
queue_ctl_list_incoming(struct queue_ctl_client *cl, const char *qid)
{
	struct queue_ctl_list *l = cl->list;
	struct envelope	 env;
	bool		 ok = true;

	if (queue_ctl_incoming_load(qid, &env) == -1)
		return true;	/* gone meanwhile (scanned, deleted) */
	if (queue_ctl_match(&l->f, &env, SPOOL_INCOMING)) {
		ok = queue_ctl_send_obj(cl, l->reqid, queue_ctl_entry_json(&env,
		    SPOOL_INCOMING, l->f.now));
		l->count++;
	}
	envelope_clear(&env);
	return ok;
}

/* queue_ctl_list_done: the result that ends a listing. */
static void
queue_ctl_list_done(struct queue_ctl_client *cl)
{
	struct queue_ctl_list *l = cl->list;
	char	 text[160];

	(void)str_printf(text, sizeof(text), "%llu message%s%s",
	    (unsigned long long)l->count, l->count == 1 ? "" : "s",
	    l->inc_truncated ? " (truncated: incoming/ holds more than "
	    "1000000 messages)" : "");
	cl->list = NULL;
	queue_ctl_send_result(cl, l->reqid, QUEUE_CTL_OK, text);
	queue_ctl_list_free(l);
}

/*
 * queue_ctl_list_step: one batch of a listing.  The scheduler's messages
 * and the incoming/ snapshot are merged in queue-id order after the
 * cursor, so messages that come, go or change state between batches are
 * listed at most once.
 */
static void
queue_ctl_list_step(evutil_socket_t fd, short ev, void *arg)
{
	struct queue_ctl_client	*cl = arg;
	struct queue_ctl_list	*l = cl->list;
	struct queue_ctl_pass	*p;
	struct timeval		 tv = { 0, QUEUE_CTL_PAUSE_MS * 1000 };
	size_t			 ci = 0, sent = 0, loads = 0;
	bool			 more_sched;

	if (ipc_chan_outq_len(cl->chan) > QUEUE_CTL_OUTQ_WATER) {
		log_kv(LOG_LVL_DEBUG, "event=queue-ctl-pause client=%u outq=%zu",
		    cl->id, ipc_chan_outq_len(cl->chan));
		evtimer_add(l->ev, &tv);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->l = l;
	if (l->f.state != SPOOL_INCOMING)
		sched_foreach(queue_ctl_pass_visit, p);
	more_sched = p->n == QUEUE_CTL_BATCH;
	while (sent < QUEUE_CTL_BATCH && loads < QUEUE_CTL_LOADS &&
	    ipc_chan_outq_len(cl->chan) <= QUEUE_CTL_OUTQ_WATER) {
		const char *inc = l->inc_pos < l->ninc ? l->inc[l->inc_pos] :
		    NULL;
		const struct qmsg *m = ci < p->n ? p->cand[ci].m : NULL;
		bool	 ok;

		if (inc != NULL && strcmp(inc, l->cursor) <= 0) {
			l->inc_pos++;
			continue;
		}
		if (m != NULL && (inc == NULL || strcmp(m->env.id, inc) <= 0)) {
			ok = queue_ctl_send_obj(cl, l->reqid,
			    queue_ctl_entry_json(&m->env, m->st, l->f.now));
			str_lcpy(l->cursor, m->env.id, sizeof(l->cursor));
			l->count++;
			ci++;
		} else if (inc != NULL && (m != NULL || !more_sched)) {
			/* inc comes first (or no scheduler message is left). */
			ok = queue_ctl_list_incoming(cl, inc);
			str_lcpy(l->cursor, inc, sizeof(l->cursor));
			l->inc_pos++;
			loads++;
		} else
			break;	/* this batch's candidates are used up */
		sent++;
		if (!ok) {
			/* The channel closed; closed_cb frees the client. */
			free(p);
			return;
		}
	}
	if (ci == p->n && !more_sched && l->inc_pos >= l->ninc)
		queue_ctl_list_done(cl);
	else {
		tv.tv_usec = 0;
		evtimer_add(l->ev, &tv);
	}
	free(p);
}

/*
 * queue_ctl_state_parse: "" (any), "queue", "hold" or "incoming"; -2 for
 * anything else.
 */
static int
queue_ctl_state_parse(const char *s)
{
	if (*s == '\0')
		return -1;
	if (strcmp(s, "queue") == 0)
		return SPOOL_QUEUE;
	if (strcmp(s, "hold") == 0)
		return SPOOL_HOLD;
	if (strcmp(s, "incoming") == 0)
		return SPOOL_INCOMING;
	return -2;
}

/* queue_ctl_busy: why cl may not start a listing now, or NULL. */
const char *
queue_ctl_busy(const struct queue_ctl_client *cl)
{
	if (cl->list != NULL || cl->qlist != NULL)
		return "a listing is already in progress on this connection";
	return NULL;
}

/*
 * queue_ctl_stream: run the first batch of the listing just set on cl
 * (queue or quarantine); *ev, the timer of the next ones, runs step.
 */
void
queue_ctl_stream(struct queue_ctl_client *cl, struct event **ev,
    event_callback_fn step)
{
	if ((*ev = evtimer_new(q.base, step, cl)) == NULL)
		fatalx("queue_ctl_stream: client %u: evtimer_new", cl->id);
	step(-1, 0, cl);
}

/* queue_ctl_list_start: begin streaming a listing; false: drop client. */
static bool
queue_ctl_list_start(struct queue_ctl_client *cl, struct ipc_msg_in *msg)
{
	struct queue_ctl_list *l;
	char	 state[16], esc[3][LOG_ESC_MAX];
	const char *busy;
	uint64_t reqid;

	l = xcalloc(1, sizeof(*l));
	if (!ipc_get_u64(msg, &reqid) ||
	    !ipc_get_str(msg, state, sizeof(state)) ||
	    !ipc_get_strdup(msg, QUEUE_CTL_STR_MAX, &l->f.sender) ||
	    !ipc_get_strdup(msg, QUEUE_CTL_STR_MAX, &l->f.rcpt) ||
	    !ipc_get_u64(msg, &l->f.min_age) || !ipc_end(msg)) {
		queue_ctl_list_free(l);
		return false;
	}
	l->reqid = reqid;
	log_kv(LOG_LVL_INFO, "event=queue-ctl-list client=%u uid=%u "
	    "reqid=%llu state=%s sender=%s rcpt=%s min_age=%llu", cl->id,
	    (unsigned)cl->uid, (unsigned long long)reqid,
	    log_esc(esc[0], sizeof(esc[0]), state),
	    log_esc(esc[1], sizeof(esc[1]), l->f.sender),
	    log_esc(esc[2], sizeof(esc[2]), l->f.rcpt),
	    (unsigned long long)l->f.min_age);
	busy = queue_ctl_busy(cl);
	if ((l->f.state = queue_ctl_state_parse(state)) == -2 ||
	    busy != NULL) {
		queue_ctl_list_free(l);
		(void)queue_ctl_send_result(cl, reqid, QUEUE_CTL_BADREQ,
		    busy != NULL ? busy : "unknown state (queue, hold, "
		    "incoming)");
		return true;
	}
	l->f.now = time(NULL);
	if (l->f.state == -1 || l->f.state == SPOOL_INCOMING)
		queue_ctl_incoming_snapshot(l);
	cl->list = l;
	queue_ctl_stream(cl, &l->ev, queue_ctl_list_step);
	return true;
}

/* queue_ctl_show: one message, wherever it is. */
static void
queue_ctl_show(struct queue_ctl_client *cl, uint64_t reqid, const char *qid)
{
	const struct qmsg *m;
	struct envelope	 env;
	char		 text[160];

	if ((m = sched_lookup(qid)) != NULL) {
		queue_ctl_send_show(cl, reqid, queue_ctl_entry_json(&m->env,
		    m->st, time(NULL)));
		return;
	}
	if (queue_ctl_incoming_load(qid, &env) == 0) {
		queue_ctl_send_show(cl, reqid, queue_ctl_entry_json(&env,
		    SPOOL_INCOMING, time(NULL)));
		envelope_clear(&env);
		return;
	}
	(void)str_printf(text, sizeof(text), "%s: %s", qid, errno == EINVAL ?
	    "unreadable envelope in incoming/" : "no such message");
	queue_ctl_send_result(cl, reqid, QUEUE_CTL_REFUSED, text);
}

/*
 * queue_ctl_delete_incoming: remove a message that waits for the scanner
 * (an administrative action; logged).
 */
static int
queue_ctl_delete_incoming(struct queue_ctl_client *cl, const char *qid,
    char *err, size_t errlen)
{
	struct track_event ev;
	struct envelope	 env;
	bool		 loaded;
	size_t		 i;

	/* The record first, committed: the removal is final. */
	envelope_init(&env);
	loaded = queue_ctl_incoming_load(qid, &env) == 0;
	memset(&ev, 0, sizeof(ev));
	ev.qid = qid;
	ev.kind = TRACK_DELETED;
	ev.sender = loaded ? env.sender : NULL;
	ev.action = "admin";
	ev.detail = "deleted by administrator from incoming";
	qtrack_add(&ev);
	for (i = 0; loaded && i < env.nrcpt; i++) {
		ev.rcpt = env.rcpt[i].addr;
		qtrack_add(&ev);
	}
	envelope_clear(&env);
	qtrack_sync();
	if (spool_remove(&q.spool, SPOOL_INCOMING, qid) == -1) {
		(void)str_printf(err, errlen, "%s: cannot remove: %s", qid,
		    strerror(errno));
		log_kv(LOG_LVL_ERR, "event=remove-failed qid=%s state=incoming "
		    "err=\"%s\"", qid, strerror(errno));
		return -1;
	}
	log_kv(LOG_LVL_INFO, "event=deleted qid=%s state=incoming by=admin "
	    "uid=%u", qid, (unsigned)cl->uid);
	return 0;
}

/* queue_ctl_action: hold, release, delete or flush one message (or all). */
static void
queue_ctl_action(struct queue_ctl_client *cl, uint32_t type, uint64_t reqid,
    const char *qid)
{
	const char *verb, *cmd;
	char	 err[256] = "", text[256];
	int	 rv;

	switch (type) {
	case IMSG_QUEUE_CTL_HOLD:
		cmd = "hold";
		verb = "held";
		rv = sched_hold(qid, err, sizeof(err));
		break;
	case IMSG_QUEUE_CTL_RELEASE:
		cmd = "release";
		verb = "released";
		rv = sched_release(qid, err, sizeof(err));
		break;
	case IMSG_QUEUE_CTL_DELETE:
		cmd = "delete";
		verb = "deleted";
		if (sched_lookup(qid) == NULL && queue_ctl_incoming_has(qid))
			rv = queue_ctl_delete_incoming(cl, qid, err,
			    sizeof(err));
		else
			rv = sched_delete(qid, err, sizeof(err));
		break;
	default:
		cmd = "flush";
		verb = "flushed";
		rv = sched_flush(qid, err, sizeof(err));
		break;
	}
	if (rv == -1 && type != IMSG_QUEUE_CTL_DELETE && *qid != '\0' &&
	    sched_lookup(qid) == NULL && queue_ctl_incoming_has(qid))
		(void)str_printf(err, sizeof(err), "%s: waits for the scanner "
		    "in incoming/ (only delete applies)", qid);
	if (rv == -1 && err[0] == '\0')
		str_lcpy(err, "failed", sizeof(err));
	(void)str_printf(text, sizeof(text), "%s: %s", *qid ? qid :
	    "every message", verb);
	log_kv(LOG_LVL_INFO, "event=queue-ctl-%s client=%u uid=%u reqid=%llu "
	    "qid=%s status=%d", cmd, cl->id, (unsigned)cl->uid, (unsigned long long)reqid,
	    *qid ? qid : "all", rv == 0 ? QUEUE_CTL_OK : QUEUE_CTL_REFUSED);
	queue_ctl_send_result(cl, reqid, rv == 0 ? QUEUE_CTL_OK :
	    QUEUE_CTL_REFUSED, rv == 0 ? text : err);
}

/*
 * queue_ctl_request: a request naming one message (SHOW, HOLD, RELEASE,
 * DELETE, FLUSH); false if it is malformed.
 */
static bool
queue_ctl_request(struct queue_ctl_client *cl, struct ipc_msg_in *msg)
{
	uint64_t reqid;
	char	 qid[64];

	if (!ipc_get_u64(msg, &reqid) || !ipc_get_str(msg, qid, sizeof(qid)) ||
	    !ipc_end(msg))
		return false;
	if (!queue_ctl_qid_valid(qid) && !(msg->type == IMSG_QUEUE_CTL_FLUSH &&
	    qid[0] == '\0')) {
		queue_ctl_send_result(cl, reqid, QUEUE_CTL_BADREQ,
		    "malformed queue id (16 hex digits)");
		return true;
	}
	if (msg->type == IMSG_QUEUE_CTL_SHOW)
		queue_ctl_show(cl, reqid, qid);
	else
		queue_ctl_action(cl, msg->type, reqid, qid);
	return true;
}

/* queue_ctl_drop: forget a client (bad bytes, idle, gone). */
static void
queue_ctl_drop(struct queue_ctl_client *cl, const char *why)
{
	char	 esc[LOG_ESC_MAX];

	log_kv(strcmp(why, ipc_close_name(IPC_CLOSE_EOF)) == 0 ?
	    LOG_LVL_DEBUG : LOG_LVL_INFO, "event=queue-ctl-drop client=%u uid=%u pid=%d "
	    "reason=%s", cl->id, (unsigned)cl->uid, (int)cl->pid,
	    log_esc(esc, sizeof(esc), why));
	queue_ctl_client_free(cl);
}

/* queue_ctl_dispatch: one request from a client. */
static void
queue_ctl_dispatch(struct ipc_chan *c, struct ipc_msg_in *msg, void *arg)
{
	struct queue_ctl_client	*cl = arg;
	struct timeval		 tv = { QUEUE_CTL_IDLE_SECS, 0 };
	const char		*bad = "malformed request";
	bool			 ok;

	evtimer_add(cl->ev_idle, &tv);
	switch (msg->type) {
	case IMSG_QUEUE_CTL_LIST:
		ok = queue_ctl_list_start(cl, msg);
		break;
	case IMSG_QUEUE_CTL_SHOW:
	case IMSG_QUEUE_CTL_HOLD:
	case IMSG_QUEUE_CTL_RELEASE:
	case IMSG_QUEUE_CTL_DELETE:
	case IMSG_QUEUE_CTL_FLUSH:
		ok = queue_ctl_request(cl, msg);
		break;
	case IMSG_QUEUE_CTL_QLIST:
	case IMSG_QUEUE_CTL_QSHOW:
	case IMSG_QUEUE_CTL_QRELEASE:
	case IMSG_QUEUE_CTL_QDELETE:
	case IMSG_QUEUE_CTL_QEXPORT:
		ok = queue_ctl_quar_request(cl, msg);
		break;
	default:
		bad = "unexpected message type";
		ok = false;
		break;
	}
	if (!ok)
		queue_ctl_drop(cl, bad);
}

/* queue_ctl_closed: the client went away or sent bad bytes. */
static void
queue_ctl_closed(struct ipc_chan *c, enum ipc_close why, void *arg)
{
	queue_ctl_drop(arg, ipc_close_name(why));
}

/* queue_ctl_idle: a client that said nothing for a long time. */
static void
queue_ctl_idle(evutil_socket_t fd, short ev, void *arg)
{
	struct queue_ctl_client	*cl = arg;

	if (cl->list != NULL || cl->qlist != NULL) {
		struct timeval	 tv = { QUEUE_CTL_IDLE_SECS, 0 };

		evtimer_add(cl->ev_idle, &tv);	/* still streaming */
		return;
	}
	queue_ctl_drop(cl, "idle");
}

/* queue_ctl_client_free: close a client and end what it had running. */
static void
queue_ctl_client_free(struct queue_ctl_client *cl)
{
	TAILQ_REMOVE(&ctl.clients, cl, entry);
	ctl.nclients--;
	queue_ctl_list_free(cl->list);
	queue_ctl_qlist_free(cl->qlist);
	event_free(cl->ev_idle);
	ipc_chan_free(cl->chan);
	free(cl);
}

/* queue_ctl_linger_free: close a refused connection for good. */
static void
queue_ctl_linger_free(struct queue_ctl_linger *lg)
{
	TAILQ_REMOVE(&ctl.lingering, lg, entry);
	ctl.nlinger--;
	event_free(lg->ev);
	close(lg->fd);
	free(lg);
}

/*
 * queue_ctl_linger_read: discard what a refused client still sends, until
 * it closes, goes quiet or sends too much.
 */
static void
queue_ctl_linger_read(evutil_socket_t fd, short ev, void *arg)
{
	struct queue_ctl_linger	*lg = arg;
	struct timeval		 tv = { QUEUE_CTL_LINGER_SECS, 0 };
	char			 junk[4096];
	ssize_t			 n;

	if (ev & EV_TIMEOUT) {
		queue_ctl_linger_free(lg);
		return;
	}
	n = recv(fd, junk, sizeof(junk), 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
		event_add(lg->ev, &tv);
		return;
	}
	if (n <= 0 || (lg->discarded += (size_t)n) > QUEUE_CTL_LINGER_BYTES) {
		queue_ctl_linger_free(lg);
		return;
	}
	event_add(lg->ev, &tv);
}

/*
 * queue_ctl_refuse: tell a connection it may not use the socket (one
 * RESULT with request id 0).  The socket is fresh, so the short frame
 * fits at once; nothing blocks.  Closing at once would make the client's
 * request fail with EPIPE before it reads the reason, so the connection
 * lingers a moment (half-closed) while its input is discarded.
 */
static void
queue_ctl_refuse(int fd, const char *text)
{
	struct queue_ctl_linger	*lg;
	struct timeval		 tv = { QUEUE_CTL_LINGER_SECS, 0 };
	struct ipc_chan		*c;
	struct ipc_msg		*m;
	int			 keep = -1;

	if (ctl.nlinger < QUEUE_CTL_MAX_LINGER)
		keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	c = ipc_chan_new(NULL, fd, 0, NULL, NULL, NULL);
	m = ipc_msg_new(IMSG_CTL_RESULT, 0);
	ipc_add_u64(m, 0);
	ipc_add_u32(m, QUEUE_CTL_REFUSED);
	ipc_add_str(m, text);
	(void)ipc_send_sync(c, m, 0);
	ipc_chan_free(c);
	if (keep == -1)
		return;
	(void)shutdown(keep, SHUT_WR);
	lg = xcalloc(1, sizeof(*lg));
	lg->fd = keep;
	if ((lg->ev = event_new(q.base, keep, EV_READ, queue_ctl_linger_read,
	    lg)) == NULL)
		fatalx("queue_ctl_refuse: event_new");
	event_add(lg->ev, &tv);
	TAILQ_INSERT_TAIL(&ctl.lingering, lg, entry);
	ctl.nlinger++;
}

/* queue_ctl_accept_one: check and take one new connection. */
static void
queue_ctl_accept_one(int fd)
{
	struct queue_ctl_client	*cl;
	struct timeval		 tv = { QUEUE_CTL_IDLE_SECS, 0 };
	char			 text[128], name[32];
	uid_t			 uid = (uid_t)-1;
	pid_t			 pid = -1;

	(void)ipc_peer_cred(fd, &uid, NULL, &pid);
	if (!ipc_peer_check(fd, geteuid())) {
		log_kv(LOG_LVL_WARN, "event=queue-ctl-refused uid=%u pid=%d "
		    "reason=credentials", (unsigned)uid, (int)pid);
		(void)str_printf(text, sizeof(text), "permission denied: uid "
		    "%u may not use the queue control socket (root or the "
		    "queue user only)", (unsigned)uid);
		queue_ctl_refuse(fd, text);
		return;
	}
	if (ctl.nclients >= QUEUE_CTL_MAX_CLIENTS) {
		log_kv(LOG_LVL_WARN, "event=queue-ctl-refused uid=%u pid=%d "
		    "reason=too-many-clients max=%d", (unsigned)uid, (int)pid,
		    QUEUE_CTL_MAX_CLIENTS);
		queue_ctl_refuse(fd, "too many control connections, try again "
		    "later");
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->id = ++ctl.next_id;
	cl->uid = uid;
	cl->pid = pid;
	cl->chan = ipc_chan_new(q.base, fd, QUEUE_CTL_MAX_PAYLOAD,
	    queue_ctl_dispatch, queue_ctl_closed, cl);
	(void)str_printf(name, sizeof(name), "ctl%u", cl->id);
	ipc_chan_set_name(cl->chan, name);
	if ((cl->ev_idle = evtimer_new(q.base, queue_ctl_idle, cl)) == NULL)
		fatalx("queue_ctl_accept_one: evtimer_new");
	evtimer_add(cl->ev_idle, &tv);
	TAILQ_INSERT_TAIL(&ctl.clients, cl, entry);
	ctl.nclients++;
	log_kv(LOG_LVL_DEBUG, "event=queue-ctl-connect client=%u uid=%u "
	    "pid=%d", cl->id, (unsigned)uid, (int)pid);
}

/* queue_ctl_resume: listen again after running out of descriptors. */
static void
queue_ctl_resume(evutil_socket_t fd, short ev, void *arg)
{
	event_add(ctl.ev_accept, NULL);
}

/* queue_ctl_accept: new connections on queue.sock. */
static void
queue_ctl_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct timeval	 tv = { 1, 0 };
	int		 fd, i;

	for (i = 0; i < QUEUE_CTL_MAX_CLIENTS; i++) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC |
		    SOCK_NONBLOCK)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_kv(LOG_LVL_WARN, "event=queue-ctl-accept-"
				    "failed err=\"%s\" action=pause",
				    strerror(errno));
				event_del(ctl.ev_accept);
				evtimer_add(ctl.ev_resume, &tv);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_kv(LOG_LVL_WARN, "event=queue-ctl-accept-"
				    "failed err=\"%s\"", strerror(errno));
			return;
		}
		queue_ctl_accept_one(fd);
	}
}

/* queue_ctl_listen: serve sekishoctl on the listening socket fd (taken). */
void
queue_ctl_listen(int fd)
{
	int	 fl;

	if (ctl.fd != -1)
		fatalx("queue_ctl_listen: a second listener");
	json_set_alloc_funcs(queue_ctl_jmalloc, free);
	TAILQ_INIT(&ctl.clients);
	TAILQ_INIT(&ctl.lingering);
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		fatal("queue_ctl_listen: fcntl");
	ctl.fd = fd;
	if ((ctl.ev_accept = event_new(q.base, fd, EV_READ | EV_PERSIST,
	    queue_ctl_accept, NULL)) == NULL ||
	    (ctl.ev_resume = evtimer_new(q.base, queue_ctl_resume,
	    NULL)) == NULL || event_add(ctl.ev_accept, NULL) == -1)
		fatalx("queue_ctl_listen: event_new");
	log_kv(LOG_LVL_INFO, "event=queue-ctl-ready");
}

/* queue_ctl_free: close every client and the listener (process exit). */
void
queue_ctl_free(void)
{
	struct queue_ctl_client	*cl;

	if (ctl.fd == -1)
		return;
	while ((cl = TAILQ_FIRST(&ctl.clients)) != NULL)
		queue_ctl_client_free(cl);
	while (!TAILQ_EMPTY(&ctl.lingering))
		queue_ctl_linger_free(TAILQ_FIRST(&ctl.lingering));
	event_free(ctl.ev_accept);
	event_free(ctl.ev_resume);
	close(ctl.fd);
	ctl.fd = -1;
}
