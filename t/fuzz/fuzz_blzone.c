/*
 * fuzz_blzone.c: libFuzzer target for the IP profiler's DNS query handler
 * (ipprofiler/blzone.c): any packet is answered or dropped, an answer
 * fits the buffer and is a response to the query's id.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blzone.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct blzone *zone;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t	 out[BLZONE_UDP_MAX];
	size_t	 len;

	if (zone == NULL) {
		struct netaddr a;

		if ((zone = blzone_new("bl.example")) == NULL ||
		    netaddr_parse(&a, "192.0.2.9", 9) != NETADDR_OK ||
		    !blzone_add(zone, &a, "fuzz") ||
		    netaddr_parse(&a, "2001:db8::/32", 13) != NETADDR_OK ||
		    !blzone_add(zone, &a, "net"))
			abort();
	}
	len = blzone_answer(zone, data, size, out, sizeof(out));
	if (len > sizeof(out) || (len > 0 && (len < 12 || size < 2 ||
	    out[0] != data[0] || out[1] != data[1] || !(out[2] & 0x80))))
		abort();
	return 0;
}
