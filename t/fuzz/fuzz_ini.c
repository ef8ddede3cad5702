/*
 * fuzz_ini.c: the INI reader and the typed configuration layer on
 * arbitrary bytes: parse the buffer, apply every file's schema to it
 * (imss.ini, tsmtpd.ini, foxdns.ini), free everything.
 */
#include <stdint.h>
#include <string.h>

#include "conf.h"
#include "diag.h"
#include "ini.h"
#include "xmalloc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sekisho_conf c;
	struct diag	 d;
	struct ini	 ini;
	size_t		 i;

	diag_init(&d);
	(void)ini_parse_buf(&ini, "fuzz.ini", data, size, &d);
	for (i = 0; i < conf_nfiles; i++) {
		memset(&c, 0, sizeof(c));
		c.confdir = xstrdup("/etc/sekisho");
		(void)conf_apply(&c, &conf_files[i], &ini, &d);
		conf_free(&c);
	}
	ini_free(&ini);
	diag_free(&d);
	return 0;
}
