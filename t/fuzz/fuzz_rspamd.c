/*
 * fuzz_rspamd.c: libFuzzer target for rspamd's answers (scanner/rspamd.c,
 * rspamd_parse): any bytes, parsed or refused, every string read, freed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rspamd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rspamd_result r;
	char	 err[256];
	size_t	 i, n = 0;

	if (rspamd_parse((const char *)data, size, &r, err, sizeof(err)) == 0) {
		n += strlen(r.action);
		for (i = 0; i < r.nsymbols; i++)
			n += strlen(r.symbols[i]);
		if (r.nsymbols > RSPAMD_MAX_SYMBOLS || n > (size_t)1 << 30)
			abort();
		rspamd_result_free(&r);
	}
	return 0;
}
