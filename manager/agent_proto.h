/*
 * agent_proto.h: what the central controller and a scanner host's
 * manager say over their TLS link (docs/central.md "The push").
 *
 * One connection, opened by the controller, carries requests and
 * answers in frames:
 *
 *	u32 length (big-endian)		of what follows, 1 .. AGENT_FRAME_MAX
 *	u8 type				enum agent_msg
 *	payload				length - 1 bytes
 *
 * AGENT_INFO (empty payload, or the controller's key=value lines) asks
 * for the host's state; AGENT_PUSH carries a bundle (bundle.h).  Each is
 * answered by one AGENT_REPLY whose payload is key=value lines:
 *
 *	key=value\n	key: [a-z0-9_], 1..AGENT_KEY_MAX; value: printable
 *			ASCII (0x20..0x7e), 0..AGENT_VAL_MAX; at most
 *			AGENT_KV_MAX lines; no key twice
 *
 * Unknown keys are kept and ignored by the reader, so either side may be
 * upgraded first (seed 31).
 */
#ifndef SEKISHO_AGENT_PROTO_H
#define SEKISHO_AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bundle.h"
#include "util.h"

#define AGENT_PROTO_VERSION	1
#define AGENT_FRAME_MAX		(BUNDLE_MAX_SIZE + 1)
#define AGENT_KEY_MAX		32
#define AGENT_VAL_MAX		256
#define AGENT_KV_MAX		32

enum agent_msg {
	AGENT_INFO = 1,
	AGENT_PUSH = 2,
	AGENT_REPLY = 0x81,
};

struct agent_kv {
	size_t	 n;
	struct {
		char	 k[AGENT_KEY_MAX + 1];
		char	 v[AGENT_VAL_MAX + 1];
	} e[AGENT_KV_MAX];
};

/* 1: a whole frame at the start of data (type, payload, bytes used);
 * 0: more bytes needed; -1: not a valid frame (err says why). */
int	 agent_frame_parse(const uint8_t *, size_t, uint8_t *,
	    const uint8_t **, size_t *, size_t *, char *, size_t);
bool	 agent_frame_add(struct buf *, uint8_t, const void *, size_t);

int	 agent_kv_parse(const uint8_t *, size_t, struct agent_kv *, char *,
	    size_t);
/* false when the key or value is not allowed or the set is full. */
bool	 agent_kv_set(struct agent_kv *, const char *, const char *);
bool	 agent_kv_setf(struct agent_kv *, const char *, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
const char *agent_kv_get(const struct agent_kv *, const char *);
bool	 agent_kv_encode(const struct agent_kv *, struct buf *);

#endif
