/*
 * fuzz_auth.c: sender authentication (scanner/auth.c) on arbitrary bytes.
 *
 * The input is the whole message; the envelope and the DNS zone are
 * fixed: SPF, a DKIM key at sel._domainkey.example.org (the seed corpus
 * t/fuzz/auth/ has messages signed with its private key, made with
 * t/dkimsign) and DMARC records, so the signature, From and DMARC paths
 * are all reachable.  The result must always be complete and the header
 * clean: printable ASCII, CRLF line ends, four lines.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "util.h"
#include "wdns.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct fz_rec {
	enum dns_type	 type;
	const char	*name;
	enum dns_status	 status;
	const char	*rr;
};

static const struct fz_rec fz_zone[] = {
	{ DNS_TXT, "example.org", DNS_OK, "v=spf1 ip4:192.0.2.0/24 mx "
	    "include:_spf.example.net ~all" },
	{ DNS_MX, "example.org", DNS_OK, "10 mx.example.org" },
	{ DNS_A, "mx.example.org", DNS_OK, "192.0.2.25" },
	{ DNS_TXT, "_spf.example.net", DNS_TEMPFAIL, NULL },
	{ DNS_TXT, "sel._domainkey.example.org", DNS_OK,
	    "v=DKIM1; k=rsa; p="
	    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtngeLX5Tr2pBkF3t"
	    "ErQsxIJR6sPvp3bhOmPTwfqs3uCLzwpIt117p4JY8qpJ0jAmTnnKGm6smVgo"
	    "Rq4cHezGEzXAdTNdHJck/FeimumTnvAtXYNU0ZeSr9Kk6NrB/SKH2SBg2XEF"
	    "j863559B78rt3lMtCwEB3Oq8ognO9kjaiykIHydjWYRGehEtjTcuIFCJh9SL"
	    "dXW7zYyAnOQ2CpaQWrZ4Y5YJ2Qm2FzOSPcF5adiAxDFz0cpv0Mb3C8+zgTCP"
	    "FwIrfT25v+varfJ0K/EBpIGJnFi5wbQxdvk4sjBjjW5BQqrJBPfuSa5bl69M"
	    "STDT5nFWJ3ELjXmjrhu3hYmn6wIDAQAB" },
	{ DNS_TXT, "tmp._domainkey.example.org", DNS_TEMPFAIL, NULL },
	{ DNS_TXT, "_dmarc.example.org", DNS_OK,
	    "v=DMARC1; p=reject; sp=quarantine; pct=50; rua=mailto:d@example.org" },
	{ DNS_TXT, "_dmarc.example.net", DNS_OK, "v=DMARC1; p=none; aspf=s" },
};

/* fz_query: the fixed zone. */
static void
fz_query(void *arg, enum dns_type type, const char *name,
    struct wdns_answer *out)
{
	size_t	 i;
	int	 exists = 0;

	(void)arg;
	for (i = 0; i < nitems(fz_zone); i++) {
		if (strcasecmp(fz_zone[i].name, name) != 0)
			continue;
		exists = 1;
		if (fz_zone[i].type != type)
			continue;
		out->status = fz_zone[i].status;
		if (fz_zone[i].rr != NULL)
			wdns_answer_add(out, fz_zone[i].rr);
		return;
	}
	out->status = exists ? DNS_NODATA : DNS_NXDOMAIN;
}

/* fz_clean: the header has the promised shape. */
static void
fz_clean(const char *h)
{
	const char	*p;
	int		 lines = 0;

	if (h == NULL || strncmp(h, "Authentication-Results: ", 24) != 0)
		abort();
	for (p = h; *p != '\0'; p++) {
		if (*p == '\r') {
			if (p[1] != '\n')
				abort();
			lines++;
			p++;
			if (p[1] != '\0' && p[1] != '\t')
				abort();
		} else if ((*p < 0x20 && *p != '\t') || *p >= 0x7f ||
		    *p == '\n')
			abort();
	}
	if (lines != 4)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct wdns dns = { .query = fz_query };
	static int		 ready;
	struct auth_input	 in;
	struct auth_result	 res;
	char			 err[256];

	if (!ready) {
		if (auth_init(NULL, err, sizeof(err)) == -1) {
			fprintf(stderr, "fuzz_auth: %s\n", err);
			abort();
		}
		ready = 1;
	}
	memset(&in, 0, sizeof(in));
	in.client_ip = (size > 0 && data[0] & 1) ? "2001:db8::1" :
	    "192.0.2.10";
	in.helo = "mx.example.org";
	in.mail_from = (size > 0 && data[0] & 2) ? "" : "bounce@example.org";
	in.raw = data;
	in.len = size;
	in.authserv_id = "fuzz.example";
	in.dns = &dns;
	auth_check(&in, &res);
	if (res.spf[0] == '\0' || res.dkim[0] == '\0' ||
	    res.dmarc[0] == '\0')
		abort();
	fz_clean(res.header);
	auth_result_free(&res);
	return 0;
}
