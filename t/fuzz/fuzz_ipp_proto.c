/*
 * fuzz_ipp_proto.c: arbitrary bytes as an IP profiler event or verdict
 * (ipp_event_decode, ipp_verdict_decode), the payloads sekisho-ipprofiler
 * and the queue take from each other.  Input: u8 selector (even: event,
 * odd: verdict), then the payload.
 *
 * Checks what the receivers rely on: a decoded event names one address
 * (not a network) with every counter within IPP_COUNTER_MAX; a decoded
 * verdict has a known state and a reason without control characters,
 * and encodes back to a payload of the same length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "ipp_proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_ASSERT(x)	do { if (!(x)) __builtin_trap(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_msg_in	 m;
	struct ipc_msg		*out;
	struct ipp_event	 e;
	struct ipp_verdict	 v;
	size_t			 i;

	if (size < 1)
		return 0;
	memset(&m, 0, sizeof(m));
	m.fd = -1;
	m.data = data + 1;
	m.len = size - 1;
	if (data[0] % 2 == 0) {
		m.type = IMSG_IPP_EVENT;
		if (!ipp_event_decode(&m, &e))
			return 0;
		FUZZ_ASSERT(e.ip.plen == 128);
		for (i = 0; i < IPP_C_MAX; i++)
			FUZZ_ASSERT(e.c[i] <= IPP_COUNTER_MAX);
		out = ipc_msg_new(IMSG_IPP_EVENT, 0);
		ipp_event_encode(out, &e);
		/* The address may come back in another spelling. */
		ipc_msg_free(out);
		return 0;
	}
	m.type = IMSG_IPP_VERDICT;
	if (!ipp_verdict_decode(&m, &v))
		return 0;
	FUZZ_ASSERT(v.state < IPP_NSTATES);
	for (i = 0; v.reason[i] != '\0'; i++)
		FUZZ_ASSERT((unsigned char)v.reason[i] >= 0x20 &&
		    v.reason[i] != 0x7f);
	out = ipc_msg_new(IMSG_IPP_VERDICT, 0);
	ipp_verdict_encode(out, &v);
	FUZZ_ASSERT(ipc_msg_len(out) == size - 1);
	ipc_msg_free(out);
	return 0;
}
