/*
 * fuzz_agent_proto.c: the controller-to-host link's parsers
 * (manager/agent_proto.c) on arbitrary bytes: the input is read as a
 * stream of frames (agent_frame_parse until it wants more or refuses);
 * each frame must re-encode to the same bytes, and each payload, and the
 * whole input, go through agent_kv_parse.  Whatever parses as key=value
 * lines must encode back to exactly the bytes it came from and parse
 * again to the same set.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fuzz_kv: parse; for what parses, the encode-parse round trip. */
static void
fuzz_kv(const uint8_t *data, size_t len)
{
	struct agent_kv	 kv, back;
	struct buf	 b;
	char		 err[256];
	size_t		 i;

	if (agent_kv_parse(data, len, &kv, err, sizeof(err)) == -1) {
		if (kv.n != 0 || err[0] == '\0')
			abort();
		return;
	}
	if (kv.n > AGENT_KV_MAX)
		abort();
	for (i = 0; i < kv.n; i++)
		if (agent_kv_get(&kv, kv.e[i].k) != kv.e[i].v)
			abort();
	buf_init(&b, AGENT_FRAME_MAX);
	if (!agent_kv_encode(&kv, &b) || b.len != len ||
	    (len > 0 && memcmp(b.data, data, len) != 0))
		abort();
	if (agent_kv_parse(b.data, b.len, &back, err, sizeof(err)) != 0 ||
	    memcmp(&kv, &back, sizeof(kv)) != 0)
		abort();
	buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*p;
	struct buf	 b;
	uint8_t		 type;
	size_t		 off = 0, plen, used;
	char		 err[256];
	int		 rc;

	fuzz_kv(data, size);
	buf_init(&b, AGENT_FRAME_MAX + 4);
	while ((rc = agent_frame_parse(data + off, size - off, &type, &p,
	    &plen, &used, err, sizeof(err))) == 1) {
		if (used > size - off || used != plen + 5 ||
		    p != data + off + 5)
			abort();
		buf_reset(&b);
		if (!agent_frame_add(&b, type, p, plen) || b.len != used ||
		    memcmp(b.data, data + off, used) != 0)
			abort();
		fuzz_kv(p, plen);
		off += used;
	}
	buf_free(&b);
	return 0;
}
