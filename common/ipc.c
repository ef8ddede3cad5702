/*
 * ipc.c: framing, descriptor passing, typed packing, the libevent channel,
 * the blocking client calls and the Unix socket helpers (see ipc.h).
 *
 * Owns: each channel's socket, its input buffer and the descriptors that
 * arrived with it, its output queue and the descriptors queued to go out.
 * One frame parser (ipc_rx_*) and one writer (chan_flush) serve both the
 * evented and the blocking use.
 *
 * Re-entrancy: the channel counts how deep we are in its own callbacks
 * (busy).  ipc_chan_free() while busy only stops the channel; the memory
 * goes when the outermost callback unwinds (chan_unbusy).  Public calls
 * never invoke the owner's callbacks synchronously: a failure found inside
 * ipc_chan_send is reported to closed_cb from the event loop (ev_defer).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/queue.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define IPC_READ_CHUNK	(16 * 1024)
#define IPC_RECV_FDS	4	/* cmsg room; more than one is an error */
#define IPC_IOV_MAX	32
#define IPC_BACKLOG	128

_Static_assert(sizeof(struct ipc_hdr) == IPC_HDR_LEN, "ipc_hdr size");
_Static_assert(IMSG_MAX < IPC_HDR_FD, "imsg types collide with IPC_HDR_FD");
_Static_assert(IPC_MAX_PAYLOAD_LIMIT < UINT32_MAX, "payload limit");

struct ipc_msg {
	struct buf	 b;		/* header room, then payload */
	uint32_t	 type;
	uint32_t	 peerid;
	int		 fd;
	bool		 err;		/* an ipc_add_* overflowed */
};

struct ipc_out {
	TAILQ_ENTRY(ipc_out) entry;
	uint8_t		*data;		/* header + payload */
	size_t		 len;
	size_t		 sent;
	int		 fd;		/* -1, or not yet sent (sent == 0) */
};

struct ipc_chan {
	struct event_base *base;	/* NULL: blocking client channel */
	int		 fd;
	char		 name[32];
	ipc_handler_cb	*handler;
	ipc_closed_cb	*closed_cb;
	void		*arg;
	struct event	*ev_read;
	struct event	*ev_write;
	struct event	*ev_defer;	/* closed_cb from the loop */
	bool		 write_armed;

	struct ipc_rx	 rx;
	TAILQ_HEAD(, ipc_out) outq;
	size_t		 outq_bytes;
	size_t		 outq_fds;
	size_t		 outq_limit;

	int		 busy;		/* depth inside our callbacks */
	bool		 freeing;	/* ipc_chan_free called while busy */
	bool		 closed;
	enum ipc_close	 why;
	char		 errstr[128];

	struct ipc_msg_in sync_msg;	/* last ipc_recv_sync result */
	bool		 sync_valid;
};

static const char *const ipc_type_names[IMSG_MAX] = {
	[IMSG_NONE] = "IMSG_NONE",
#define IPC_TYPE_NAME_(name)	[name] = #name,
	IMSG_TYPES(IPC_TYPE_NAME_)
#undef IPC_TYPE_NAME_
};

/* ipc_type_valid: a type that may appear on the wire. */
bool
ipc_type_valid(uint32_t type)
{
	return type > IMSG_NONE && type < IMSG_MAX;
}

/* ipc_type_name: the enum name of a message type, for log lines. */
const char *
ipc_type_name(uint32_t type)
{
	if (type >= IMSG_MAX || ipc_type_names[type] == NULL)
		return "IMSG_UNKNOWN";
	return ipc_type_names[type];
}

/* ipc_close_name: a short token for an ipc_close reason. */
const char *
ipc_close_name(enum ipc_close why)
{
	switch (why) {
	case IPC_CLOSE_EOF:
		return "eof";
	case IPC_CLOSE_TRUNCATED:
		return "truncated";
	case IPC_CLOSE_IO:
		return "io";
	case IPC_CLOSE_PROTO:
		return "protocol";
	case IPC_CLOSE_OUTQ:
		return "outq";
	}
	return "?";
}

/*
 * Building messages.
 */

/* ipc_msg_new: start a message; a type outside the enum is a bug. */
struct ipc_msg *
ipc_msg_new(uint32_t type, uint32_t peerid)
{
	static const uint8_t	 zero[IPC_HDR_LEN];
	struct ipc_msg		*m;

	if (!ipc_type_valid(type))
		fatalx("ipc_msg_new: invalid type %u", type);
	m = xcalloc(1, sizeof(*m));
	buf_init(&m->b, IPC_HDR_LEN + IPC_MAX_PAYLOAD_LIMIT);
	if (!buf_add(&m->b, zero, sizeof(zero)))
		fatalx("ipc_msg_new: header");
	m->type = type;
	m->peerid = peerid;
	m->fd = -1;
	return m;
}

/* ipc_msg_free: drop an unsent message and close its descriptor. */
void
ipc_msg_free(struct ipc_msg *m)
{
	if (m == NULL)
		return;
	if (m->fd != -1)
		close(m->fd);
	buf_free(&m->b);
	free(m);
}

/* msg_add: append raw bytes; an overflow marks the message bad. */
static void
msg_add(struct ipc_msg *m, const void *p, size_t len)
{
	if (m->err)
		return;
	if (!buf_add(&m->b, p, len))
		m->err = true;
}

void
ipc_add_u8(struct ipc_msg *m, uint8_t v)
{
	msg_add(m, &v, sizeof(v));
}

void
ipc_add_u16(struct ipc_msg *m, uint16_t v)
{
	msg_add(m, &v, sizeof(v));
}

void
ipc_add_u32(struct ipc_msg *m, uint32_t v)
{
	msg_add(m, &v, sizeof(v));
}

void
ipc_add_u64(struct ipc_msg *m, uint64_t v)
{
	msg_add(m, &v, sizeof(v));
}

/* ipc_add_data: a length-prefixed blob (u32 length, bytes). */
void
ipc_add_data(struct ipc_msg *m, const void *p, size_t len)
{
	if (len > IPC_MAX_PAYLOAD_LIMIT) {
		m->err = true;
		return;
	}
	ipc_add_u32(m, (uint32_t)len);
	if (len > 0)
		msg_add(m, p, len);
}

/*
 * ipc_add_raw: bytes as they are, no length (a relay copies the rest of
 * a received payload with it).
 */
void
ipc_add_raw(struct ipc_msg *m, const void *p, size_t len)
{
	if (len > IPC_MAX_PAYLOAD_LIMIT) {
		m->err = true;
		return;
	}
	if (len > 0)
		msg_add(m, p, len);
}

/* ipc_add_str: a string, encoded as a blob without terminator. */
void
ipc_add_str(struct ipc_msg *m, const char *s)
{
	if (s == NULL)
		fatalx("ipc_add_str: NULL string in %s",
		    ipc_type_name(m->type));
	ipc_add_data(m, s, strlen(s));
}

/* ipc_add_fd: attach the message's one descriptor; the message owns it. */
void
ipc_add_fd(struct ipc_msg *m, int fd)
{
	if (fd < 0)
		fatalx("ipc_add_fd: bad fd %d in %s", fd,
		    ipc_type_name(m->type));
	if (m->fd != -1)
		fatalx("ipc_add_fd: second fd in %s", ipc_type_name(m->type));
	m->fd = fd;
}

/* ipc_msg_len: the payload length so far. */
size_t
ipc_msg_len(const struct ipc_msg *m)
{
	return m->b.len - IPC_HDR_LEN;
}

/*
 * Reading messages.  Every reader fails (and all later ones with it) on a
 * short payload, so a handler can chain them and check once.
 */

/* get_bytes: copy n payload bytes out, or fail without moving. */
static bool
get_bytes(struct ipc_msg_in *m, void *dst, size_t n)
{
	if (m->err || m->len - m->pos < n) {
		m->err = true;
		return false;
	}
	memcpy(dst, m->data + m->pos, n);
	m->pos += n;
	return true;
}

bool
ipc_get_u8(struct ipc_msg_in *m, uint8_t *v)
{
	return get_bytes(m, v, sizeof(*v));
}

bool
ipc_get_u16(struct ipc_msg_in *m, uint16_t *v)
{
	return get_bytes(m, v, sizeof(*v));
}

bool
ipc_get_u32(struct ipc_msg_in *m, uint32_t *v)
{
	return get_bytes(m, v, sizeof(*v));
}

bool
ipc_get_u64(struct ipc_msg_in *m, uint64_t *v)
{
	return get_bytes(m, v, sizeof(*v));
}

/* get_blob: a length-prefixed blob of at most max bytes, in place. */
static bool
get_blob(struct ipc_msg_in *m, const uint8_t **p, size_t *len, size_t max)
{
	size_t		 save = m->pos;
	uint32_t	 n;

	if (!ipc_get_u32(m, &n))
		return false;
	if (n > max || m->len - m->pos < n) {
		m->pos = save;
		m->err = true;
		return false;
	}
	*p = m->data + m->pos;
	*len = n;
	m->pos += n;
	return true;
}

/* get_strblob: a blob that is a valid string (no NUL) of at most max. */
static bool
get_strblob(struct ipc_msg_in *m, const uint8_t **p, size_t *len, size_t max)
{
	size_t	 save = m->pos;

	if (!get_blob(m, p, len, max))
		return false;
	if (*len > 0 && memchr(*p, '\0', *len) != NULL) {
		m->pos = save;
		m->err = true;
		return false;
	}
	return true;
}

/* ipc_get_str: a string into dst; fails if it does not fit or has NUL. */
bool
ipc_get_str(struct ipc_msg_in *m, char *dst, size_t size)
{
	const uint8_t	*p;
	size_t		 n;

	if (size > 0)
		dst[0] = '\0';
	if (size == 0 || !get_strblob(m, &p, &n, size - 1)) {
		m->err = true;
		return false;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
	return true;
}

/* ipc_get_strdup: a string of at most max bytes, allocated. */
bool
ipc_get_strdup(struct ipc_msg_in *m, size_t max, char **out)
{
	const uint8_t	*p;
	size_t		 n;
	char		*s;

	*out = NULL;
	if (!get_strblob(m, &p, &n, max))
		return false;
	s = xmalloc(n + 1);
	memcpy(s, p, n);
	s[n] = '\0';
	*out = s;
	return true;
}

/* ipc_get_data: a blob of at most max bytes, pointing into the payload. */
bool
ipc_get_data(struct ipc_msg_in *m, const void **p, size_t *len, size_t max)
{
	const uint8_t	*q;

	*p = NULL;
	*len = 0;
	if (!get_blob(m, &q, len, max))
		return false;
	*p = q;
	return true;
}

/* ipc_end: true only if every read succeeded and nothing is left over. */
bool
ipc_end(struct ipc_msg_in *m)
{
	if (m->pos != m->len)
		m->err = true;
	return !m->err;
}

/* ipc_msg_take_fd: take the received descriptor (-1 if none). */
int
ipc_msg_take_fd(struct ipc_msg_in *m)
{
	int	 fd = m->fd;

	m->fd = -1;
	return fd;
}

/*
 * The frame parser.  rx->fds remembers each received descriptor with the
 * stream bytes it came with: the kernel hands it out together with the
 * first byte of the frame it was sent with, so it belongs to the flagged
 * frame that starts inside that range, and to nothing else.
 */

/* ipc_rx_init: an empty parser for frames of at most max_payload. */
void
ipc_rx_init(struct ipc_rx *rx, size_t max_payload)
{
	memset(rx, 0, sizeof(*rx));
	rx->max_payload = max_payload;
	buf_init(&rx->in, IPC_HDR_LEN + max_payload);
}

/* ipc_rx_clear: release the buffer and close every pending descriptor. */
void
ipc_rx_clear(struct ipc_rx *rx)
{
	size_t	 i;

	for (i = 0; i < rx->nfds; i++)
		if (rx->fds[i].fd >= 0)
			close(rx->fds[i].fd);
	rx->nfds = 0;
	buf_free(&rx->in);
	rx->off += rx->pos;
	rx->pos = 0;
}

/* ipc_rx_space: how many bytes ipc_rx_feed accepts now. */
size_t
ipc_rx_space(const struct ipc_rx *rx)
{
	return rx->in.limit - rx->in.len;
}

/* ipc_rx_pending: bytes of an incomplete frame are buffered. */
bool
ipc_rx_pending(const struct ipc_rx *rx)
{
	return rx->in.len > rx->pos;
}

/* ipc_rx_feed: add stream bytes and the descriptor that came with them. */
bool
ipc_rx_feed(struct ipc_rx *rx, const void *p, size_t len, int fd,
    const char **err)
{
	uint64_t	 start = rx->off + rx->in.len;

	if (len > ipc_rx_space(rx))
		fatalx("ipc_rx_feed: %zu bytes, room for %zu", len,
		    ipc_rx_space(rx));
	if (fd < -1 && fd != IPC_FD_LOST)
		fatalx("ipc_rx_feed: bad descriptor %d", fd);
	if (fd != -1) {
		if (fd == IPC_FD_LOST)
			rx->lost++;
		if (len == 0 || rx->nfds == IPC_RX_FDS) {
			if (fd >= 0)
				close(fd);
			*err = len == 0 ? "descriptor without data" :
			    "too many pending descriptors";
			return false;
		}
		rx->fds[rx->nfds].fd = fd;
		rx->fds[rx->nfds].start = start;
		rx->fds[rx->nfds].end = start + len;
		rx->nfds++;
	}
	if (len > 0 && !buf_add(&rx->in, p, len))
		fatalx("ipc_rx_feed: buffer");
	return true;
}

/* rx_drop_fd: close pending descriptor i, which no frame can claim. */
static void
rx_drop_fd(struct ipc_rx *rx, size_t i)
{
	if (rx->fds[i].fd >= 0)
		close(rx->fds[i].fd);
	memmove(&rx->fds[i], &rx->fds[i + 1],
	    (rx->nfds - i - 1) * sizeof(rx->fds[0]));
	rx->nfds--;
	rx->orphans++;
}

/*
 * rx_sweep: drop descriptors that cannot belong to the frame at offset s
 * or a later one: those that came entirely before s and, when the frame
 * at s is incomplete (so no other frame starts in the buffered bytes),
 * those that came after s.
 */
static void
rx_sweep(struct ipc_rx *rx, uint64_t s, bool incomplete)
{
	size_t	 i = 0;

	while (i < rx->nfds) {
		if (rx->fds[i].end <= s ||
		    (incomplete && rx->fds[i].start > s))
			rx_drop_fd(rx, i);
		else
			i++;
	}
}

/* rx_error: format the parser's error text. */
static int __attribute__((format(printf, 3, 4)))
rx_error(struct ipc_rx *rx, const char **err, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(rx->errbuf, sizeof(rx->errbuf), fmt, ap);
	va_end(ap);
	*err = rx->errbuf;
	return -1;
}

/*
 * ipc_rx_next: the next complete frame (1), need more bytes (0), or a
 * protocol error (-1, *err says which).  Header checks happen as soon as
 * the header is in, so an oversized frame fails before its payload comes.
 */
int
ipc_rx_next(struct ipc_rx *rx, struct ipc_msg_in *m, const char **err)
{
	struct ipc_hdr	 h;
	size_t		 avail = rx->in.len - rx->pos;
	uint64_t	 s = rx->off + rx->pos;
	uint32_t	 type;

	rx_sweep(rx, s, false);
	if (avail < IPC_HDR_LEN) {
		rx_sweep(rx, s, true);
		return 0;
	}
	memcpy(&h, rx->in.data + rx->pos, sizeof(h));
	type = h.type & ~IPC_HDR_FD;
	if (!ipc_type_valid(type))
		return rx_error(rx, err, "unknown message type %u", type);
	if (h.len > rx->max_payload)
		return rx_error(rx, err, "oversized frame: %s len %u > %zu",
		    ipc_type_name(type), h.len, rx->max_payload);
	if (avail - IPC_HDR_LEN < h.len) {
		rx_sweep(rx, s, true);
		return 0;
	}
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->peerid = h.peerid;
	m->pid = h.pid;
	m->fd = -1;
	m->data = rx->in.data + rx->pos + IPC_HDR_LEN;
	m->len = h.len;
	if (h.type & IPC_HDR_FD) {
		if (rx->nfds == 0 || rx->fds[0].start > s)
			return rx_error(rx, err,
			    "%s announces a descriptor that did not come",
			    ipc_type_name(type));
		if (rx->fds[0].fd == IPC_FD_LOST && !rx->fd_loss_ok)
			return rx_error(rx, err, "%s: descriptor dropped "
			    "(control data truncated)", ipc_type_name(type));
		m->fd = rx->fds[0].fd;
		if (m->fd == IPC_FD_LOST) {
			m->fd = -1;
			m->fd_lost = true;
		}
		memmove(&rx->fds[0], &rx->fds[1],
		    (rx->nfds - 1) * sizeof(rx->fds[0]));
		rx->nfds--;
	}
	rx->pos += IPC_HDR_LEN + h.len;
	return 1;
}

/* ipc_rx_compact: drop consumed frames (invalidates payload pointers). */
void
ipc_rx_compact(struct ipc_rx *rx)
{
	if (rx->pos == 0)
		return;
	buf_consume(&rx->in, rx->pos);
	rx->off += rx->pos;
	rx->pos = 0;
	/* Give back the room a big frame (config push) needed. */
	if (rx->in.len == 0 && rx->in.cap > 4 * IPC_READ_CHUNK)
		buf_free(&rx->in);
}

/*
 * The channel.
 */

static void	chan_read_cb(evutil_socket_t, short, void *);
static void	chan_write_cb(evutil_socket_t, short, void *);
static void	chan_defer_cb(evutil_socket_t, short, void *);

/* ipc_chan_new: a channel over a connected socket, which it now owns. */
struct ipc_chan *
ipc_chan_new(struct event_base *base, int fd, size_t max_payload,
    ipc_handler_cb *handler, ipc_closed_cb *closed_cb, void *arg)
{
	struct ipc_chan	*c;
	int		 fl;

	if (max_payload == 0)
		max_payload = IPC_MAX_PAYLOAD;
	if (max_payload > IPC_MAX_PAYLOAD_LIMIT)
		fatalx("ipc_chan_new: max_payload %zu too large", max_payload);
	if (base != NULL && handler == NULL)
		fatalx("ipc_chan_new: fd %d: no handler", fd);
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		fatal("ipc_chan_new: fd %d: fcntl", fd);

	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->fd = fd;
	(void)str_printf(c->name, sizeof(c->name), "fd%d", fd);
	if (base != NULL) {
		c->handler = handler;
		c->closed_cb = closed_cb;
		c->arg = arg;
	}
	ipc_rx_init(&c->rx, max_payload);
	TAILQ_INIT(&c->outq);
	c->outq_limit = 4 * (IPC_HDR_LEN + max_payload);
	if (c->outq_limit < IPC_OUTQ_MIN)
		c->outq_limit = IPC_OUTQ_MIN;
	if (base == NULL)
		return c;

	c->ev_read = event_new(base, fd, EV_READ | EV_PERSIST, chan_read_cb, c);
	c->ev_write = event_new(base, fd, EV_WRITE | EV_PERSIST,
	    chan_write_cb, c);
	c->ev_defer = event_new(base, -1, 0, chan_defer_cb, c);
	if (c->ev_read == NULL || c->ev_write == NULL || c->ev_defer == NULL)
		fatalx("ipc_chan_new: event_new");
	if (event_add(c->ev_read, NULL) == -1)
		fatalx("ipc_chan_new: event_add");
	return c;
}

/* chan_events_off: stop reading and writing (the defer event stays). */
static void
chan_events_off(struct ipc_chan *c)
{
	if (c->ev_read != NULL)
		event_del(c->ev_read);
	if (c->ev_write != NULL)
		event_del(c->ev_write);
	c->write_armed = false;
}

/* chan_destroy: release everything the channel owns. */
static void
chan_destroy(struct ipc_chan *c)
{
	struct ipc_out	*o;

	if (c->ev_read != NULL)
		event_free(c->ev_read);
	if (c->ev_write != NULL)
		event_free(c->ev_write);
	if (c->ev_defer != NULL)
		event_free(c->ev_defer);
	while ((o = TAILQ_FIRST(&c->outq)) != NULL) {
		TAILQ_REMOVE(&c->outq, o, entry);
		if (o->fd != -1)
			close(o->fd);
		free(o->data);
		free(o);
	}
	if (c->sync_valid && c->sync_msg.fd != -1)
		close(c->sync_msg.fd);
	ipc_rx_clear(&c->rx);
	close(c->fd);
	free(c);
}

/* ipc_chan_free: free now, or stop now and free when our callback ends. */
void
ipc_chan_free(struct ipc_chan *c)
{
	if (c == NULL)
		return;
	if (c->busy > 0) {
		c->freeing = true;
		chan_events_off(c);
		if (c->ev_defer != NULL)
			event_del(c->ev_defer);
		return;
	}
	chan_destroy(c);
}

/* chan_unbusy: leave a callback; do a free that was asked for inside it. */
static void
chan_unbusy(struct ipc_chan *c)
{
	if (--c->busy == 0 && c->freeing)
		chan_destroy(c);
}

/*
 * chan_fail: stop the channel, log one line, tell the owner: at once when
 * we are inside our own event callback, else from the loop (defer).
 */
static void
chan_fail(struct ipc_chan *c, enum ipc_close why, const char *detail,
    bool defer)
{
	char	 ename[64], ereason[LOG_ESC_MAX];

	if (c->closed)
		return;
	c->closed = true;
	c->why = why;
	str_lcpy(c->errstr, detail, sizeof(c->errstr));
	chan_events_off(c);
	log_kv(why == IPC_CLOSE_EOF ? LOG_LVL_INFO : LOG_LVL_WARN,
	    "event=ipc_close chan=%s why=%s reason=%s",
	    log_esc(ename, sizeof(ename), c->name), ipc_close_name(why),
	    log_esc(ereason, sizeof(ereason), detail));
	if (c->base == NULL || c->closed_cb == NULL || c->freeing)
		return;
	if (defer) {
		event_active(c->ev_defer, EV_TIMEOUT, 1);
		return;
	}
	if (c->busy == 0)
		fatalx("chan_fail: %s: not inside a callback", c->name);
	c->closed_cb(c, why, c->arg);
}

/* chan_defer_cb: report a failure found outside our callbacks. */
static void
chan_defer_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_chan	*c = arg;

	c->busy++;
	if (!c->freeing && c->closed_cb != NULL)
		c->closed_cb(c, c->why, c->arg);
	chan_unbusy(c);
}

void
ipc_chan_set_name(struct ipc_chan *c, const char *name)
{
	str_lcpy(c->name, name, sizeof(c->name));
}

const char *
ipc_chan_name(const struct ipc_chan *c)
{
	return c->name;
}

/*
 * ipc_chan_set_fd_loss: on (true), a frame whose descriptor the kernel
 * dropped is handed to the handler with fd -1 and fd_lost set; off (the
 * default), it closes the channel with IPC_CLOSE_PROTO.
 */
void
ipc_chan_set_fd_loss(struct ipc_chan *c, bool ok)
{
	c->rx.fd_loss_ok = ok;
}

/* ipc_chan_fds_lost: descriptors the kernel dropped on this channel. */
size_t
ipc_chan_fds_lost(const struct ipc_chan *c)
{
	return c->rx.lost;
}

/* ipc_chan_set_outq_limit: bytes we queue for a slow peer before failing. */
void
ipc_chan_set_outq_limit(struct ipc_chan *c, size_t limit)
{
	c->outq_limit = limit;
}

size_t
ipc_chan_outq_len(const struct ipc_chan *c)
{
	return c->outq_bytes;
}

bool
ipc_chan_closed(const struct ipc_chan *c)
{
	return c->closed;
}

/* ipc_chan_errstr: why the channel closed ("" while open). */
const char *
ipc_chan_errstr(const struct ipc_chan *c)
{
	return c->errstr;
}

/* chan_arm_write: wait for EV_WRITE only while output is queued. */
static void
chan_arm_write(struct ipc_chan *c)
{
	bool	 want = !TAILQ_EMPTY(&c->outq) && !c->closed && !c->freeing;

	if (c->base == NULL || want == c->write_armed)
		return;
	if (want && event_add(c->ev_write, NULL) == -1)
		fatalx("chan_arm_write: %s: event_add", c->name);
	if (!want)
		event_del(c->ev_write);
	c->write_armed = want;
}

/*
 * ipc_chan_send: queue a message (always consumed).  False if the channel
 * is closed, the message is too large, or the peer has let the output
 * queue reach its limit (then the channel closes: IPC_CLOSE_OUTQ).
 */
bool
ipc_chan_send(struct ipc_chan *c, struct ipc_msg *m)
{
	struct ipc_hdr	 h;
	struct ipc_out	*o;
	char		 ename[64];
	size_t		 plen = ipc_msg_len(m);

	if (c->closed || c->freeing) {
		ipc_msg_free(m);
		return false;
	}
	if (m->err || plen > c->rx.max_payload) {
		log_kv(LOG_LVL_WARN, "event=ipc_send_fail chan=%s type=%s "
		    "len=%zu max=%zu reason=too_large",
		    log_esc(ename, sizeof(ename), c->name),
		    ipc_type_name(m->type), plen, c->rx.max_payload);
		ipc_msg_free(m);
		return false;
	}
	if (c->outq_bytes + m->b.len > c->outq_limit ||
	    (m->fd != -1 && c->outq_fds >= IPC_OUTQ_FDS)) {
		ipc_msg_free(m);
		chan_fail(c, IPC_CLOSE_OUTQ, "output queue full: peer does "
		    "not read", true);
		return false;
	}
	h.type = m->type | (m->fd != -1 ? IPC_HDR_FD : 0);
	h.len = (uint32_t)plen;
	h.peerid = m->peerid;
	h.pid = (uint32_t)getpid();
	memcpy(m->b.data, &h, sizeof(h));

	o = xcalloc(1, sizeof(*o));
	o->data = m->b.data;
	o->len = m->b.len;
	o->fd = m->fd;
	free(m);
	TAILQ_INSERT_TAIL(&c->outq, o, entry);
	c->outq_bytes += o->len;
	if (o->fd != -1)
		c->outq_fds++;
	chan_arm_write(c);
	return true;
}

/* chan_advance: account n written bytes, freeing finished frames. */
static void
chan_advance(struct ipc_chan *c, size_t n)
{
	struct ipc_out	*o;
	size_t		 k;

	while (n > 0 && (o = TAILQ_FIRST(&c->outq)) != NULL) {
		k = o->len - o->sent < n ? o->len - o->sent : n;
		o->sent += k;
		n -= k;
		if (o->sent < o->len)
			break;
		TAILQ_REMOVE(&c->outq, o, entry);
		c->outq_bytes -= o->len;
		free(o->data);
		free(o);
	}
	if (n != 0)
		fatalx("chan_advance: %s: %zu bytes beyond the queue", c->name,
		    n);
}

/*
 * chan_flush: write queued frames: 1 when the queue is empty, 0 when the
 * socket is full, -1 on error (errno).  A frame with a descriptor starts
 * its own sendmsg so the descriptor rides on its first byte; once any
 * byte went, the kernel holds the descriptor and ours is closed, so it
 * is never sent twice.
 */
static int
chan_flush(struct ipc_chan *c)
{
	struct iovec	 iov[IPC_IOV_MAX];
	union {
		struct cmsghdr	 h;
		uint8_t		 buf[CMSG_SPACE(sizeof(int))];
	}		 cm;
	struct msghdr	 mh;
	struct cmsghdr	*cmsg;
	struct ipc_out	*o, *first;
	ssize_t		 n;
	int		 iovcnt;

	while ((first = TAILQ_FIRST(&c->outq)) != NULL) {
		if (first->fd != -1 && first->sent != 0)
			fatalx("chan_flush: %s: fd after first byte", c->name);
		iovcnt = 0;
		TAILQ_FOREACH(o, &c->outq, entry) {
			if (iovcnt == IPC_IOV_MAX || (o != first && o->fd != -1))
				break;
			iov[iovcnt].iov_base = o->data + o->sent;
			iov[iovcnt].iov_len = o->len - o->sent;
			iovcnt++;
		}
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = iovcnt;
		if (first->fd != -1) {
			memset(&cm, 0, sizeof(cm));
			mh.msg_control = cm.buf;
			mh.msg_controllen = sizeof(cm.buf);
			cmsg = CMSG_FIRSTHDR(&mh);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cmsg), &first->fd, sizeof(int));
		}
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS)
				return 0;
			return -1;
		}
		if (first->fd != -1) {
			close(first->fd);
			first->fd = -1;
			c->outq_fds--;
		}
		chan_advance(c, (size_t)n);
	}
	return 1;
}

/* chan_write_cb: the socket is writable and we have output. */
static void
chan_write_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_chan	*c = arg;
	char		 detail[96];
	int		 r;

	c->busy++;
	if ((r = chan_flush(c)) == -1) {
		(void)str_printf(detail, sizeof(detail), "write error: %s",
		    strerror(errno));
		chan_fail(c, IPC_CLOSE_IO, detail, false);
	} else
		chan_arm_write(c);
	chan_unbusy(c);
}

/* recv_fds: collect SCM_RIGHTS descriptors from a received message. */
static size_t
recv_fds(struct msghdr *mh, int *fds, size_t max)
{
	struct cmsghdr	*cmsg;
	size_t		 n = 0, i, k;

	for (cmsg = CMSG_FIRSTHDR(mh); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(mh, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k && n < max; i++)
			memcpy(&fds[n++], CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(int));
	}
	return n;
}

/*
 * chan_recv: one recvmsg into the parser.  1: bytes came; 0: nothing now;
 * -1: the channel failed (EOF, error or bad descriptors; logged and
 * reported through chan_fail).
 */
static int
chan_recv(struct ipc_chan *c)
{
	uint8_t		 data[IPC_READ_CHUNK];
	union {
		struct cmsghdr	 h;
		uint8_t		 buf[CMSG_SPACE(sizeof(int) * IPC_RECV_FDS)];
	}		 cm;
	struct msghdr	 mh;
	struct iovec	 iov;
	const char	*err;
	char		 detail[96];
	int		 fds[IPC_RECV_FDS];
	size_t		 nfds, i, want;
	ssize_t		 n;
	bool		 lost;

	want = ipc_rx_space(&c->rx);
	if (want == 0)
		fatalx("chan_recv: %s: no room", c->name);
	iov.iov_base = data;
	iov.iov_len = want < sizeof(data) ? want : sizeof(data);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cm.buf;
	mh.msg_controllen = sizeof(cm.buf);
	if ((n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC)) == -1) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		(void)str_printf(detail, sizeof(detail), "read error: %s",
		    strerror(errno));
		chan_fail(c, IPC_CLOSE_IO, detail, false);
		return -1;
	}
	nfds = recv_fds(&mh, fds, nitems(fds));
	err = NULL;
	lost = false;
	/*
	 * MSG_CTRUNC without any descriptor: the one that came could not be
	 * installed (EMFILE, or the peer sent more than fit); the bytes are
	 * intact, so the parser gets a lost marker for the frame that owns
	 * it.  With some descriptors installed, the peer sent more than one.
	 */
	if ((mh.msg_flags & MSG_CTRUNC) && nfds == 0 && n > 0)
		lost = true;
	else if (mh.msg_flags & MSG_CTRUNC)
		err = "control data truncated";
	else if (nfds > 1)
		err = "more than one descriptor in one read";
	if (err != NULL || n == 0) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		if (err != NULL)
			chan_fail(c, IPC_CLOSE_PROTO, err, false);
		else if (ipc_rx_pending(&c->rx))
			chan_fail(c, IPC_CLOSE_TRUNCATED,
			    "end of stream inside a frame", false);
		else
			chan_fail(c, IPC_CLOSE_EOF, "end of stream", false);
		return -1;
	}
	if (lost)
		log_kv(LOG_LVL_WARN, "event=ipc_fd_lost chan=%s bytes=%zd "
		    "reason=\"control data truncated\"",
		    log_esc(detail, sizeof(detail), c->name), n);
	if (!ipc_rx_feed(&c->rx, data, (size_t)n,
	    lost ? IPC_FD_LOST : nfds ? fds[0] : -1, &err)) {
		chan_fail(c, IPC_CLOSE_PROTO, err, false);
		return -1;
	}
	return 1;
}

/* chan_dispatch: hand every complete frame to the handler. */
static void
chan_dispatch(struct ipc_chan *c)
{
	struct ipc_msg_in m;
	const char	*err;
	char		 ename[64];
	size_t		 orphans = c->rx.orphans;
	int		 r;

	while (!c->closed && !c->freeing) {
		if ((r = ipc_rx_next(&c->rx, &m, &err)) == 0)
			break;
		if (r == -1) {
			chan_fail(c, IPC_CLOSE_PROTO, err, false);
			break;
		}
		c->handler(c, &m, c->arg);
		if (m.fd != -1)
			close(m.fd);
	}
	if (c->rx.orphans != orphans)
		log_kv(LOG_LVL_WARN, "event=ipc_orphan_fd chan=%s count=%zu",
		    log_esc(ename, sizeof(ename), c->name),
		    c->rx.orphans - orphans);
	ipc_rx_compact(&c->rx);
}

/* chan_read_cb: the socket is readable. */
static void
chan_read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct ipc_chan	*c = arg;

	c->busy++;
	if (chan_recv(c) == 1)
		chan_dispatch(c);
	chan_unbusy(c);
}

/*
 * Blocking use.
 */

/* deadline_ms: milliseconds left until deadline, -1 for none. */
static int
deadline_ms(const struct timespec *deadline, bool forever)
{
	struct timespec	 now;
	long long	 ms;

	if (forever)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
	    (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > 3600000 ? 3600000 : (int)ms;
}

/* deadline_set: now + timeout_ms on the monotonic clock. */
static void
deadline_set(struct timespec *deadline, int timeout_ms)
{
	clock_gettime(CLOCK_MONOTONIC, deadline);
	if (timeout_ms < 0)
		return;
	deadline->tv_sec += timeout_ms / 1000;
	deadline->tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline->tv_nsec >= 1000000000) {
		deadline->tv_sec++;
		deadline->tv_nsec -= 1000000000;
	}
}

/* chan_wait: poll for events until deadline: 1 ready, 0 timeout, -1 error. */
static int
chan_wait(struct ipc_chan *c, short events, const struct timespec *deadline,
    bool forever)
{
	struct pollfd	 pfd;
	int		 r;

	for (;;) {
		pfd.fd = c->fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, deadline_ms(deadline, forever));
		if (r == -1 && errno == EINTR)
			continue;
		return r > 0 ? 1 : r;
	}
}

/* ipc_send_sync: queue a message and write the whole queue, blocking. */
bool
ipc_send_sync(struct ipc_chan *c, struct ipc_msg *m, int timeout_ms)
{
	struct timespec	 deadline;
	char		 detail[96];
	int		 r;

	if (!ipc_chan_send(c, m))
		return false;
	deadline_set(&deadline, timeout_ms);
	for (;;) {
		if ((r = chan_flush(c)) == 1) {
			chan_arm_write(c);
			return true;
		}
		if (r == 0)
			r = chan_wait(c, POLLOUT, &deadline, timeout_ms < 0);
		if (r == 0) {
			errno = ETIMEDOUT;
			return false;
		}
		if (r == -1) {
			(void)str_printf(detail, sizeof(detail),
			    "write error: %s", strerror(errno));
			chan_fail(c, IPC_CLOSE_IO, detail, true);
			return false;
		}
	}
}

/* sync_release: finish the previous ipc_recv_sync message. */
static void
sync_release(struct ipc_chan *c)
{
	if (c->sync_valid && c->sync_msg.fd != -1)
		close(c->sync_msg.fd);
	c->sync_valid = false;
	ipc_rx_compact(&c->rx);
}

/*
 * ipc_recv_sync: the next message, blocking up to timeout_ms.  The result
 * is valid until the next call or ipc_chan_free.
 */
struct ipc_msg_in *
ipc_recv_sync(struct ipc_chan *c, int timeout_ms)
{
	struct timespec	 deadline;
	const char	*err;
	int		 r;

	if (c->base != NULL)
		fatalx("ipc_recv_sync: %s: channel is event-driven", c->name);
	sync_release(c);
	deadline_set(&deadline, timeout_ms);
	for (;;) {
		if (c->closed) {
			errno = EPIPE;
			return NULL;
		}
		r = ipc_rx_next(&c->rx, &c->sync_msg, &err);
		if (r == 1) {
			c->sync_valid = true;
			return &c->sync_msg;
		}
		if (r == -1) {
			chan_fail(c, IPC_CLOSE_PROTO, err, true);
			continue;
		}
		ipc_rx_compact(&c->rx);
		r = chan_wait(c, POLLIN, &deadline, timeout_ms < 0);
		if (r == 0) {
			errno = ETIMEDOUT;
			return NULL;
		}
		if (r == -1)
			chan_fail(c, IPC_CLOSE_IO, "poll failed", true);
		else
			(void)chan_recv(c);
	}
}

/*
 * Sockets.
 */

/* ipc_socketpair: a connected AF_UNIX stream pair, non-blocking, cloexec. */
int
ipc_socketpair(int fds[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, fds);
}

/* unix_addr: fill a sockaddr_un; false if the path does not fit. */
static bool
unix_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	return path[0] != '\0' &&
	    str_lcpy(sa->sun_path, path, sizeof(sa->sun_path)) <
	    sizeof(sa->sun_path);
}

/* unix_alive: someone is listening on the socket at sa. */
static bool
unix_alive(const struct sockaddr_un *sa)
{
	int	 fd, r;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return false;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	r = r == 0 || errno == EAGAIN;
	close(fd);
	return r;
}

/*
 * ipc_listen_unix: listen at path with owner uid:gid ((uid_t)-1 /
 * (gid_t)-1: leave as is) and mode.  The node is created 0600 under a
 * tight umask and only widened after the chown, so nobody else can
 * connect in between; the directory must not be writable by others.
 * A stale socket is replaced; a live one or a non-socket is not.
 */
int
ipc_listen_unix(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
	struct sockaddr_un	 sa;
	struct stat		 st;
	mode_t			 old;
	int			 fd, r, saved;

	if (!unix_addr(&sa, path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_warnx("ipc_listen_unix: %s: not a socket", path);
			errno = EEXIST;
			return -1;
		}
		if (unix_alive(&sa)) {
			log_warnx("ipc_listen_unix: %s: in use", path);
			errno = EADDRINUSE;
			return -1;
		}
		if (unlink(path) == -1 && errno != ENOENT)
			return -1;
	} else if (errno != ENOENT)
		return -1;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	old = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    lchown(path, uid, gid) == -1) ||
	    chmod(path, mode & 0777) == -1 ||
	    listen(fd, IPC_BACKLOG) == -1) {
		saved = errno;
		close(fd);
		unlink(path);
		errno = saved;
		return -1;
	}
	return fd;
}

/* ipc_connect_unix: connect to path; never blocks (EAGAIN: backlog full). */
int
ipc_connect_unix(const char *path)
{
	struct sockaddr_un	 sa;
	int			 fd, saved;

	if (!unix_addr(&sa, path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* ipc_peer_cred: the peer's credentials at connect time (any may be NULL). */
int
ipc_peer_cred(int fd, uid_t *uid, gid_t *gid, pid_t *pid)
{
	struct ucred	 uc;
	socklen_t	 len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return -1;
	if (len != sizeof(uc)) {
		errno = EINVAL;
		return -1;
	}
	if (uid != NULL)
		*uid = uc.uid;
	if (gid != NULL)
		*gid = uc.gid;
	if (pid != NULL)
		*pid = uc.pid;
	return 0;
}

/* ipc_peer_check: the peer is root or allowed_uid; otherwise log, false. */
bool
ipc_peer_check(int fd, uid_t allowed_uid)
{
	uid_t	 uid;
	gid_t	 gid;
	pid_t	 pid;

	if (ipc_peer_cred(fd, &uid, &gid, &pid) == -1) {
		log_warn("ipc_peer_check: fd %d: SO_PEERCRED", fd);
		return false;
	}
	if (uid == 0 || uid == allowed_uid)
		return true;
	log_kv(LOG_LVL_WARN, "event=ipc_peer_reject fd=%d uid=%u gid=%u "
	    "pid=%d allowed_uid=%u", fd, (unsigned)uid, (unsigned)gid,
	    (int)pid, (unsigned)allowed_uid);
	return false;
}

/*
 * ipc_accept_peer: accept one connection on a service's listening Unix
 * socket (nonblocking, close-on-exec) and keep it only when SO_PEERCRED
 * says root, our own user or peer_uid.  The peer's uid and pid go to
 * uidp and pidp.  -1 when there was nothing to accept or the peer was
 * refused (logged as event=client-refused).
 */
int
ipc_accept_peer(int lfd, uid_t peer_uid, uid_t *uidp, pid_t *pidp)
{
	uid_t	 uid = (uid_t)-1;
	pid_t	 pid = 0;
	int	 fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) ==
	    -1) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_kv(LOG_LVL_WARN, "event=accept-failed err=\"%s\"",
			    strerror(errno));
		return -1;
	}
	if (ipc_peer_cred(fd, &uid, NULL, &pid) == -1 ||
	    (uid != 0 && uid != geteuid() && uid != peer_uid)) {
		log_kv(LOG_LVL_WARN, "event=client-refused uid=%ld pid=%ld",
		    (long)uid, (long)pid);
		close(fd);
		return -1;
	}
	*uidp = uid;
	*pidp = pid;
	return fd;
}

/*
 * ipc_listen_service: the listening socket at path of a service the
 * queue talks to: owner the service's user, group the primary group of
 * the peer user (the queue's), mode 0660, so only those two and root
 * get in.  Run as non-root (development) the socket keeps our own ids.
 * The peer user's uid, or -1 when there is no such user, goes to
 * peer_uid (for ipc_accept_peer).  Fatal when, as root, a user is
 * missing, or when the socket cannot be made.
 */
int
ipc_listen_service(const char *path, const char *owner, const char *peer,
    uid_t *peer_uid)
{
	struct passwd	*pw;
	uid_t		 uid = geteuid();
	gid_t		 gid = getegid();
	int		 fd;

	*peer_uid = (uid_t)-1;
	if ((pw = getpwnam(peer)) != NULL) {
		*peer_uid = pw->pw_uid;
		if (uid == 0)
			gid = pw->pw_gid;
	} else if (uid == 0)
		fatalx("ipc_listen_service: %s: no user %s", path, peer);
	if (uid == 0) {
		if ((pw = getpwnam(owner)) == NULL)
			fatalx("ipc_listen_service: %s: no user %s", path,
			    owner);
		uid = pw->pw_uid;
	}
	if ((fd = ipc_listen_unix(path, uid, gid, 0660)) == -1)
		fatal("ipc_listen_service: %s", path);
	return fd;
}
