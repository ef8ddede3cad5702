/*
 * fuzz_ipp_lists.c: arbitrary bytes as an IP profiler list file
 * (foxdns.ini approved_list_file or blocked_list_file, read by
 * ipp_lists_load), then the lists in use: a verdict and the DNSBL zone.
 * Input: u8 selector (even: the blocked list, odd: the approved list),
 * then the file.  The file is a memfd, reached by its /proc path.
 *
 * Checks: a list that loads reports no error, one that does not reports
 * at least one; the verdict of an address is a known state.
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blzone.h"
#include "conf.h"
#include "diag.h"
#include "ipprules.h"
#include "util.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_ASSERT(x)	do { if (!(x)) __builtin_trap(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf_foxdns	 c;
	struct ipp_lists	*l;
	struct ipp_rules	*r;
	struct ipp_verdict	 v;
	struct blzone		*z;
	struct netaddr		 a;
	struct diag		 d;
	char			 path[64];
	int			 fd;

	if (size < 1 || (fd = memfd_create("list", MFD_CLOEXEC)) == -1)
		return 0;
	if (fd_write_all(fd, data + 1, size - 1) == -1 ||
	    !str_printf(path, sizeof(path), "/proc/self/fd/%d", fd)) {
		close(fd);
		return 0;
	}
	memset(&c, 0, sizeof(c));
	c.approved_list_file = data[0] % 2 == 1 ? path : "";
	c.blocked_list_file = data[0] % 2 == 0 ? path : "";
	c.keep_tempblocked_mins = 60;
	c.max_tracked_ips = 100;
	diag_init(&d);
	l = ipp_lists_load(&c, &d);
	close(fd);
	FUZZ_ASSERT((l == NULL) == (d.nerrors > 0));
	diag_free(&d);
	if (l == NULL)
		return 0;
	r = ipp_rules_new(NULL);
	ipp_rules_configure(r, &c, l);
	if (netaddr_parse(&a, "192.0.2.1", 9) == NETADDR_OK) {
		ipp_rules_verdict(r, &a, 1000, &v);
		FUZZ_ASSERT(v.state < IPP_NSTATES);
	}
	if ((z = ipp_rules_zone(r, "bl.test", 1000)) != NULL)
		blzone_free(z);
	ipp_rules_free(r);
	return 0;
}
