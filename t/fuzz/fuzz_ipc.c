/*
 * fuzz_ipc.c: arbitrary bytes (and descriptors) as the stream from an IPC
 * peer, through the frame parser directly or through a real channel over
 * a socketpair, with the ipc_get_* readers run on every payload.
 *
 * Input: one flag byte (bit 0: channel mode; bits 1-2: max payload), then
 * chunks of [ctl][len][len bytes]; ctl bit 0 sends a descriptor (a fresh
 * /dev/null) with the chunk.  Each input must leave no descriptor open.
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc.h"
#include "log.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static int	 devnull = -1;
static const size_t max_payloads[] = { 16, 64, 1024, 65536 };

#define FUZZ_ASSERT(x)	do { if (!(x)) __builtin_trap(); } while (0)

/* read_payload: run a reader program (from peerid) over a message. */
static void
read_payload(struct ipc_msg_in *m)
{
	uint32_t	 prog = m->peerid;
	uint8_t		 u8;
	uint16_t	 u16;
	uint32_t	 u32;
	uint64_t	 u64;
	char		 s[16], *d;
	const void	*p;
	size_t		 n, before;
	int		 i, fd;
	bool		 ok;

	for (i = 0; i < 10; i++, prog >>= 3) {
		before = m->pos;
		ok = true;
		switch (prog & 7) {
		case 0:
			ok = ipc_get_u8(m, &u8);
			break;
		case 1:
			ok = ipc_get_u16(m, &u16);
			break;
		case 2:
			ok = ipc_get_u32(m, &u32);
			break;
		case 3:
			ok = ipc_get_u64(m, &u64);
			break;
		case 4:
			if ((ok = ipc_get_str(m, s, sizeof(s))))
				FUZZ_ASSERT(m->pos - before == 4 + strlen(s));
			else
				FUZZ_ASSERT(s[0] == '\0');
			break;
		case 5:
			if ((ok = ipc_get_strdup(m, 64, &d))) {
				FUZZ_ASSERT(strlen(d) <= 64);
				free(d);
			} else
				FUZZ_ASSERT(d == NULL);
			break;
		case 6:
			if ((ok = ipc_get_data(m, &p, &n, 128)))
				FUZZ_ASSERT(n <= 128 &&
				    (const uint8_t *)p + n <= m->data + m->len);
			break;
		case 7:
			if ((fd = ipc_msg_take_fd(m)) != -1)
				close(fd);
			break;
		}
		/* A failed read moves nothing and sticks. */
		FUZZ_ASSERT(ok || (m->pos == before && m->err));
		FUZZ_ASSERT(m->pos <= m->len);
	}
	(void)ipc_end(m);
}

/* fresh_fd: a descriptor to send along with a chunk. */
static int
fresh_fd(void)
{
	return fcntl(devnull, F_DUPFD_CLOEXEC, 0);
}

/* run_parser: feed the chunks straight into an ipc_rx. */
static void
run_parser(const uint8_t *data, size_t size, size_t max)
{
	struct ipc_rx	 rx;
	struct ipc_msg_in m;
	const char	*err;
	size_t		 len, k;
	int		 fd, r;
	uint8_t		 ctl;

	ipc_rx_init(&rx, max);
	while (size >= 2) {
		ctl = data[0];
		len = data[1] < size - 2 ? data[1] : size - 2;
		data += 2;
		size -= 2;
		fd = (ctl & 1) && len > 0 ? fresh_fd() : -1;
		while (len > 0) {
			k = ipc_rx_space(&rx);
			k = k < len ? k : len;
			if (!ipc_rx_feed(&rx, data, k, fd, &err))
				goto done;
			fd = -1;
			data += k;
			size -= k;
			len -= k;
			while ((r = ipc_rx_next(&rx, &m, &err)) == 1) {
				FUZZ_ASSERT(m.len <= max);
				FUZZ_ASSERT(ipc_type_valid(m.type));
				read_payload(&m);
				if (m.fd != -1)
					close(m.fd);
			}
			if (r == -1)
				goto done;
			ipc_rx_compact(&rx);
		}
	}
done:
	ipc_rx_clear(&rx);
}

struct chstate {
	struct ipc_chan	*chan;
	bool		 closed;
};

static void
ch_handler(struct ipc_chan *c, struct ipc_msg_in *m, void *arg)
{
	struct chstate	*st = arg;

	read_payload(m);
	if (m->type == IMSG_CTL_SHUTDOWN) {
		ipc_chan_free(c);
		st->chan = NULL;
		st->closed = true;
	}
}

static void
ch_closed(struct ipc_chan *c, enum ipc_close why, void *arg)
{
	struct chstate	*st = arg;

	ipc_chan_free(c);
	st->chan = NULL;
	st->closed = true;
}

/* send_chunk: one sendmsg, with a descriptor if asked. */
static bool
send_chunk(int sock, const uint8_t *p, size_t len, bool withfd)
{
	union {
		struct cmsghdr	 h;
		uint8_t		 buf[CMSG_SPACE(sizeof(int))];
	}		 cm;
	struct msghdr	 mh;
	struct iovec	 iov = { (void *)p, len };
	struct cmsghdr	*c;
	int		 fd = -1;
	ssize_t		 n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (withfd && (fd = fresh_fd()) != -1) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (fd != -1)
		close(fd);
	return n == (ssize_t)len;
}

/* run_channel: the chunks through a socketpair into a real channel. */
static void
run_channel(const uint8_t *data, size_t size, size_t max)
{
	struct event_base *base;
	struct chstate	 st;
	size_t		 len;
	int		 fds[2], i;
	uint8_t		 ctl;

	if ((base = event_base_new()) == NULL)
		return;
	if (ipc_socketpair(fds) == -1) {
		event_base_free(base);
		return;
	}
	memset(&st, 0, sizeof(st));
	st.chan = ipc_chan_new(base, fds[1], max, ch_handler, ch_closed, &st);
	while (size >= 2) {
		ctl = data[0];
		len = data[1] < size - 2 ? data[1] : size - 2;
		if (len > 0 && !send_chunk(fds[0], data + 2, len, ctl & 1))
			break;
		data += 2 + len;
		size -= 2 + len;
		if (ctl & 2)	/* let the channel read a partial stream */
			event_base_loop(base, EVLOOP_NONBLOCK);
	}
	close(fds[0]);
	for (i = 0; i < 10000 && !st.closed; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	FUZZ_ASSERT(st.closed);
	ipc_chan_free(st.chan);
	event_base_free(base);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int		 lowest, probe;

	if (devnull == -1) {
		log_setlevel(LOG_LVL_ERR);
		if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
			abort();
	}
	/* The lowest free descriptor now; a leak would occupy it. */
	lowest = fresh_fd();
	close(lowest);
	if (size < 1)
		return 0;
	if (data[0] & 1)
		run_channel(data + 1, size - 1, max_payloads[(data[0] >> 1) & 3]);
	else
		run_parser(data + 1, size - 1, max_payloads[(data[0] >> 1) & 3]);
	/* Every descriptor that came in went out again. */
	probe = fresh_fd();
	close(probe);
	FUZZ_ASSERT(probe == lowest);
	return 0;
}
