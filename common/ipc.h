/*
 * ipc.h: the message framing every sekisho process speaks over Unix
 * sockets, with descriptor passing, a libevent-driven channel, typed
 * packing, a blocking client API and the socket helpers.
 *
 * Wire format (host byte order; AF_UNIX SOCK_STREAM only):
 *
 *	u32 type	enum imsg_type; bit 31 (IPC_HDR_FD) set when the
 *			frame carries a descriptor
 *	u32 len		payload length, <= the channel's max_payload
 *	u32 peerid	opaque to the framing (sender's session/slot id)
 *	u32 pid		sender's pid, self-declared: trust SO_PEERCRED
 *	payload		len bytes, written with ipc_add_*
 *
 * A descriptor travels as SCM_RIGHTS attached to the first byte of its
 * frame, at most one per frame.  The receiver remembers which stream
 * bytes arrived together with a descriptor and gives it to the frame
 * flagged IPC_HDR_FD that starts inside those bytes; any other received
 * descriptor is closed, and a flagged frame without one is a protocol
 * error.  A descriptor the kernel could not install (recvmsg sets
 * MSG_CTRUNC and drops it: the receiver is out of descriptors) is
 * remembered as lost for those bytes: by default the frame that claims it
 * is a protocol error; a channel set with ipc_chan_set_fd_loss() hands
 * that frame over with m->fd == -1 and m->fd_lost set, so the owner can
 * fail just the one request (the smtp process: one message gets a 4xx)
 * instead of losing the channel.  Stream sockets rather than
 * SEQPACKET: payloads up to the configuration push size must not depend
 * on socket buffer sizes, and the same code serves the blocking client.
 *
 * Payload encoding: u8/u16/u32/u64 as raw host-order integers; str and
 * data as u32 length then the bytes (no terminator).  A str must not
 * contain NUL and is never NULL (send a u8 flag for optional values).
 *
 * Ownership rules:
 *  - ipc_chan_new() takes the socket; ipc_chan_free() closes it.
 *  - ipc_add_fd() takes the descriptor; it is closed when the message is
 *    sent (after the kernel holds its own reference) or dropped.
 *  - ipc_chan_send()/ipc_send_sync() always consume the message, also
 *    when they fail.
 *  - A received descriptor (m->fd, -1 if none) belongs to the channel:
 *    it is closed when the handler returns (ipc_recv_sync: at the next
 *    ipc_recv_sync or ipc_chan_free) unless the handler takes it with
 *    ipc_msg_take_fd().  The payload is valid for the same time.
 *  - ipc_chan_free() may be called from anywhere, including the message
 *    handler and the closed callback of the same channel: the channel
 *    then stops at once (no further callbacks) and its memory is released
 *    when the callback returns into the channel code.
 *  - After closed_cb the channel is inert (no events, sends fail); the
 *    owner still calls ipc_chan_free(), usually from closed_cb.
 *  - Callbacks run only from the event loop, never from inside a public
 *    call: a send that hits the output queue limit returns false and
 *    closed_cb(IPC_CLOSE_OUTQ) follows from the loop.
 *  - closed_cb's reason lets the owner apply STYLE.md: IPC_CLOSE_PROTO
 *    or _TRUNCATED from a sibling daemon is fatal (fatalx), from a
 *    client it drops that client.
 */
#ifndef SEKISHO_IPC_H
#define SEKISHO_IPC_H

#include <sys/types.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc_types.h"
#include "util.h"

struct event_base;

#define IPC_HDR_LEN		16
#define IPC_HDR_FD		0x80000000u
#define IPC_MAX_PAYLOAD		(64 * 1024)		/* default */
#define IPC_MAX_PAYLOAD_LIMIT	(256 * 1024 * 1024)	/* any channel */
#define IPC_OUTQ_MIN		(4 * 1024 * 1024)
#define IPC_OUTQ_FDS		256

struct ipc_hdr {
	uint32_t	 type;
	uint32_t	 len;
	uint32_t	 peerid;
	uint32_t	 pid;
};

/* Why a channel stopped (closed_cb's argument). */
enum ipc_close {
	IPC_CLOSE_EOF = 1,	/* peer closed between frames */
	IPC_CLOSE_TRUNCATED,	/* peer closed in the middle of a frame */
	IPC_CLOSE_IO,		/* read or write error */
	IPC_CLOSE_PROTO,	/* bad bytes: oversized, unknown type, fds */
	IPC_CLOSE_OUTQ,		/* output queue limit: peer does not read */
};

/* A message being built; consumed by ipc_chan_send/ipc_send_sync. */
struct ipc_msg;

/*
 * A received message.  Fields are read-only for the handler; read the
 * payload with ipc_get_* and finish with ipc_end().
 */
struct ipc_msg_in {
	uint32_t	 type;		/* enum imsg_type, flag removed */
	uint32_t	 peerid;
	uint32_t	 pid;		/* self-declared by the sender */
	int		 fd;		/* -1 if none; see ipc_msg_take_fd */
	const uint8_t	*data;
	size_t		 len;
	size_t		 pos;		/* read cursor */
	bool		 err;		/* a ipc_get_* failed */
	bool		 fd_lost;	/* flagged, but the kernel dropped the
					   descriptor (ipc_chan_set_fd_loss) */
};

struct ipc_chan;

typedef void	ipc_handler_cb(struct ipc_chan *, struct ipc_msg_in *, void *);
typedef void	ipc_closed_cb(struct ipc_chan *, enum ipc_close, void *);

/* Message types. */
const char	*ipc_type_name(uint32_t);
bool		 ipc_type_valid(uint32_t);

/* Building and sending. */
struct ipc_msg	*ipc_msg_new(uint32_t, uint32_t);
void		 ipc_msg_free(struct ipc_msg *);
void		 ipc_add_u8(struct ipc_msg *, uint8_t);
void		 ipc_add_u16(struct ipc_msg *, uint16_t);
void		 ipc_add_u32(struct ipc_msg *, uint32_t);
void		 ipc_add_u64(struct ipc_msg *, uint64_t);
void		 ipc_add_str(struct ipc_msg *, const char *);
void		 ipc_add_data(struct ipc_msg *, const void *, size_t);
void		 ipc_add_raw(struct ipc_msg *, const void *, size_t);
void		 ipc_add_fd(struct ipc_msg *, int);
size_t		 ipc_msg_len(const struct ipc_msg *);

/* Reading a received message. */
bool		 ipc_get_u8(struct ipc_msg_in *, uint8_t *);
bool		 ipc_get_u16(struct ipc_msg_in *, uint16_t *);
bool		 ipc_get_u32(struct ipc_msg_in *, uint32_t *);
bool		 ipc_get_u64(struct ipc_msg_in *, uint64_t *);
bool		 ipc_get_str(struct ipc_msg_in *, char *, size_t);
bool		 ipc_get_strdup(struct ipc_msg_in *, size_t, char **);
bool		 ipc_get_data(struct ipc_msg_in *, const void **, size_t *,
		    size_t);
bool		 ipc_end(struct ipc_msg_in *);
int		 ipc_msg_take_fd(struct ipc_msg_in *);

/* The event-driven channel. */
struct ipc_chan	*ipc_chan_new(struct event_base *, int, size_t,
		    ipc_handler_cb *, ipc_closed_cb *, void *);
void		 ipc_chan_free(struct ipc_chan *);
void		 ipc_chan_set_name(struct ipc_chan *, const char *);
const char	*ipc_chan_name(const struct ipc_chan *);
void		 ipc_chan_set_outq_limit(struct ipc_chan *, size_t);
void		 ipc_chan_set_fd_loss(struct ipc_chan *, bool);
size_t		 ipc_chan_fds_lost(const struct ipc_chan *);
bool		 ipc_chan_send(struct ipc_chan *, struct ipc_msg *);
size_t		 ipc_chan_outq_len(const struct ipc_chan *);
bool		 ipc_chan_closed(const struct ipc_chan *);
const char	*ipc_chan_errstr(const struct ipc_chan *);
const char	*ipc_close_name(enum ipc_close);

/*
 * Blocking use for simple clients (sekishoctl): a channel created with a
 * NULL event base (handler, closed_cb and arg are then unused), same
 * framing code.  timeout_ms < 0 waits forever.
 * ipc_recv_sync returns NULL with errno ETIMEDOUT on timeout (the
 * channel stays usable) or NULL when the channel closed (see
 * ipc_chan_errstr).  ipc_send_sync also flushes an evented channel.
 */
bool		 ipc_send_sync(struct ipc_chan *, struct ipc_msg *, int);
struct ipc_msg_in *ipc_recv_sync(struct ipc_chan *, int);

/* Sockets.  Every descriptor is close-on-exec and non-blocking. */
int		 ipc_socketpair(int [2]);
int		 ipc_listen_unix(const char *, uid_t, gid_t, mode_t);
int		 ipc_connect_unix(const char *);
int		 ipc_peer_cred(int, uid_t *, gid_t *, pid_t *);
bool		 ipc_peer_check(int, uid_t);
int		 ipc_accept_peer(int, uid_t, uid_t *, pid_t *);
int		 ipc_listen_service(const char *, const char *, const char *,
		    uid_t *);

/*
 * The frame parser, exposed for the channel's tests and the fuzzer.
 * Feed it stream bytes (with the descriptor received alongside them, -1,
 * or IPC_FD_LOST when one came but the kernel could not install it) no
 * more than ipc_rx_space() at a time, then call ipc_rx_next() until it
 * returns 0; then ipc_rx_compact().  Payload pointers handed
 * out by ipc_rx_next stay valid until ipc_rx_compact or ipc_rx_feed.
 */
#define IPC_RX_FDS	4
#define IPC_FD_LOST	(-2)	/* ipc_rx_feed: a descriptor came, dropped */

struct ipc_rx {
	struct buf	 in;
	size_t		 pos;		/* start of the next frame in in */
	uint64_t	 off;		/* stream offset of in.data[0] */
	size_t		 max_payload;
	size_t		 nfds;
	struct {
		int	 fd;
		uint64_t start, end;	/* stream bytes it came with */
	}		 fds[IPC_RX_FDS];
	size_t		 orphans;	/* fds closed: no frame claimed them */
	bool		 fd_loss_ok;	/* lost fd: m->fd_lost, not an error */
	size_t		 lost;		/* IPC_FD_LOST markers fed */
	char		 errbuf[96];
};

void		 ipc_rx_init(struct ipc_rx *, size_t);
void		 ipc_rx_clear(struct ipc_rx *);
size_t		 ipc_rx_space(const struct ipc_rx *);
bool		 ipc_rx_feed(struct ipc_rx *, const void *, size_t, int,
		    const char **);
int		 ipc_rx_next(struct ipc_rx *, struct ipc_msg_in *,
		    const char **);
void		 ipc_rx_compact(struct ipc_rx *);
bool		 ipc_rx_pending(const struct ipc_rx *);

#endif
