/*
 * fuzz_scan_proto.c: arbitrary bytes as the scanner's answer to the queue
 * (scan_reply_decode).  Input: u8 recipient count, u8 output file size
 * (in 64-byte units), then the payload after the request id.
 *
 * Checks what the queue relies on: a decoded answer has every recipient
 * in exactly one group, every slice inside the output file, a
 * quarantine or change of recipient names its argument, and the verdict
 * has only known flags (none for a failed scan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "scan_proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_ASSERT(x)	do { if (!(x)) __builtin_trap(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ipc_msg_in	 m;
	struct scan_reply	 r;
	const struct scan_group	*g;
	uint8_t			 seen[256];
	uint64_t		 outsize;
	size_t			 nrcpt, i, j;
	char			 err[128];

	if (size < 2)
		return 0;
	nrcpt = data[0];
	outsize = (uint64_t)data[1] * 64;
	memset(&m, 0, sizeof(m));
	m.type = IMSG_SCAN_RESULT;
	m.fd = -1;
	m.data = data + 2;
	m.len = size - 2;
	if (scan_reply_decode(&m, nrcpt, outsize, &r, err, sizeof(err)) == -1) {
		FUZZ_ASSERT(r.ngroups == 0 && r.nnotifs == 0);
		return 0;
	}
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < r.ngroups; i++) {
		g = &r.groups[i];
		for (j = 0; j < g->nrcpts; j++) {
			FUZZ_ASSERT(g->rcpts[j] < nrcpt && !seen[g->rcpts[j]]);
			seen[g->rcpts[j]] = 1;
		}
		FUZZ_ASSERT(g->content.off + g->content.len <= outsize);
		if (g->intercept == SCAN_QUARANTINE ||
		    g->intercept == SCAN_CHANGE_RCPT)
			FUZZ_ASSERT(g->intercept_arg[0] != '\0');
	}
	FUZZ_ASSERT((r.verdict & ~SCAN_VERDICT_ALL) == 0 &&
	    (r.status == SCAN_STATUS_OK || r.verdict == 0));
	if (r.status == SCAN_STATUS_OK)
		for (i = 0; i < nrcpt; i++)
			FUZZ_ASSERT(seen[i]);
	for (i = 0; i < r.nnotifs; i++)
		FUZZ_ASSERT(r.notifs[i].nto > 0 && r.notifs[i].body.off +
		    r.notifs[i].body.len <= outsize);
	scan_reply_clear(&r);
	return 0;
}
