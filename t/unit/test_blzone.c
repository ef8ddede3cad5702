/*
 * test_blzone.c: the IP profiler's DNSBL zone (ipprofiler/blzone.c):
 * lookups, and answers to real query packets built with ldns: listed
 * (A, TXT, ANY), not listed, IPv6, the 127.0.0.2 test entry, names
 * outside the zone, malformed packets and responses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "blzone.h"
#include "test.h"
#include "util.h"

/* query: ask z about name/type; the parsed answer (caller frees), or NULL. */
static ldns_pkt *
query(struct blzone *z, const char *name, ldns_rr_type type, size_t *lenp)
{
	ldns_pkt	*q, *a = NULL;
	ldns_rdf	*dn;
	uint8_t		*wire, out[BLZONE_UDP_MAX];
	size_t		 wlen, len;

	dn = ldns_dname_new_frm_str(name);
	q = ldns_pkt_query_new(dn, type, LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_pkt_set_id(q, 4242);
	if (ldns_pkt2wire(&wire, q, &wlen) != LDNS_STATUS_OK)
		abort();
	len = blzone_answer(z, wire, wlen, out, sizeof(out));
	if (lenp != NULL)
		*lenp = len;
	if (len > 0 && ldns_wire2pkt(&a, out, len) != LDNS_STATUS_OK)
		a = NULL;
	free(wire);
	ldns_pkt_free(q);
	return a;
}

/* answer_text: the answer section's records, as "A 127.0.0.2|TXT ...". */
static void
answer_text(const ldns_pkt *p, char *buf, size_t len)
{
	const ldns_rr_list *l = ldns_pkt_answer(p);
	size_t	 i;
	char	*s;

	buf[0] = '\0';
	for (i = 0; i < ldns_rr_list_rr_count(l); i++) {
		s = ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(l, i), 0));
		str_lcat(buf, i ? "|" : "", len);
		str_lcat(buf, ldns_rr_get_type(ldns_rr_list_rr(l, i)) ==
		    LDNS_RR_TYPE_A ? "A " : "TXT ", len);
		str_lcat(buf, s, len);
		free(s);
	}
}

static void
t_lookup(void)
{
	struct blzone	*z = blzone_new("bl.example.");
	struct netaddr	 a;

	CHECK(blzone_new("") == NULL && blzone_new("a..b") == NULL &&
	    blzone_new("bad zone") == NULL);
	a = test_na("192.0.2.9");
	CHECK(blzone_add(z, &a, "spam run\r\nX: \"y\""));
	a = test_na("2001:db8::7");
	CHECK(blzone_add(z, &a, "virus outbreak"));
	a = test_na("198.51.100.0/24");
	CHECK(blzone_add(z, &a, "network"));
	a = test_na("192.0.2.9");
	CHECK_STREQ(blzone_lookup(z, &a), "spam run__X: _y_");
	a = test_na("198.51.100.77");
	CHECK_STREQ(blzone_lookup(z, &a), "network");
	a = test_na("192.0.2.10");
	CHECK(blzone_lookup(z, &a) == NULL);
	CHECK(blzone_count(z) == 3);
	blzone_free(z);
}

static void
t_answers(void)
{
	struct blzone	*z = blzone_new("BL.Example");
	struct netaddr	 a;
	ldns_pkt	*p;
	char		 got[600];
	size_t		 len;

	a = test_na("192.0.2.9");
	blzone_add(z, &a, "directory harvest");
	a = test_na("2001:db8::7");
	blzone_add(z, &a, "virus outbreak");

	p = query(z, "9.2.0.192.bl.example.", LDNS_RR_TYPE_A, NULL);
	CHECK(p != NULL && ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR &&
	    ldns_pkt_aa(p) && ldns_pkt_id(p) == 4242 && ldns_pkt_qr(p));
	if (p != NULL) {
		answer_text(p, got, sizeof(got));
		CHECK_STREQ(got, "A 127.0.0.2");
	}
	ldns_pkt_free(p);
	p = query(z, "9.2.0.192.BL.EXAMPLE.", LDNS_RR_TYPE_TXT, NULL);
	if (p != NULL) {
		answer_text(p, got, sizeof(got));
		CHECK_STREQ(got, "TXT \"directory harvest\"");
	}
	CHECK(p != NULL);
	ldns_pkt_free(p);
	p = query(z, "9.2.0.192.bl.example.", LDNS_RR_TYPE_ANY, NULL);
	if (p != NULL) {
		answer_text(p, got, sizeof(got));
		CHECK_STREQ(got, "A 127.0.0.2|TXT \"directory harvest\"");
	}
	ldns_pkt_free(p);
	/* Listed, another type: no data. */
	p = query(z, "9.2.0.192.bl.example.", LDNS_RR_TYPE_MX, NULL);
	CHECK(p != NULL && ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR &&
	    ldns_pkt_ancount(p) == 0);
	ldns_pkt_free(p);
	/* Not listed. */
	p = query(z, "10.2.0.192.bl.example.", LDNS_RR_TYPE_A, NULL);
	CHECK(p != NULL && ldns_pkt_get_rcode(p) == LDNS_RCODE_NXDOMAIN &&
	    ldns_pkt_ancount(p) == 0);
	ldns_pkt_free(p);
	/* IPv6, 32 nibbles. */
	p = query(z, "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0."
	    "1.0.0.2.bl.example.", LDNS_RR_TYPE_TXT, NULL);
	if (p != NULL) {
		answer_text(p, got, sizeof(got));
		CHECK_STREQ(got, "TXT \"virus outbreak\"");
	}
	CHECK(p != NULL);
	ldns_pkt_free(p);
	/* The RFC 5782 test entry. */
	p = query(z, "2.0.0.127.bl.example.", LDNS_RR_TYPE_A, NULL);
	if (p != NULL) {
		answer_text(p, got, sizeof(got));
		CHECK_STREQ(got, "A 127.0.0.2");
	}
	ldns_pkt_free(p);
	/* Outside the zone, or not an address: refused. */
	p = query(z, "9.2.0.192.other.example.", LDNS_RR_TYPE_A, NULL);
	CHECK(p != NULL && ldns_pkt_get_rcode(p) == LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
	p = query(z, "x.2.0.192.bl.example.", LDNS_RR_TYPE_A, NULL);
	CHECK(p != NULL && ldns_pkt_get_rcode(p) == LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
	p = query(z, "256.2.0.192.bl.example.", LDNS_RR_TYPE_A, NULL);
	CHECK(p != NULL && ldns_pkt_get_rcode(p) == LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
	/* The apex: ours, no data. */
	p = query(z, "bl.example.", LDNS_RR_TYPE_A, &len);
	CHECK(p != NULL && ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR &&
	    ldns_pkt_ancount(p) == 0);
	ldns_pkt_free(p);
	blzone_free(z);
}

static void
t_malformed(void)
{
	struct blzone	*z = blzone_new("bl.example");
	uint8_t		 out[BLZONE_UDP_MAX], q[64];
	size_t		 len;

	/* Too short for a header: no answer. */
	CHECK(blzone_answer(z, (const uint8_t *)"\x12\x34", 2, out,
	    sizeof(out)) == 0);
	/* A header promising a question that is not there: FORMERR. */
	memset(q, 0, sizeof(q));
	q[0] = 0xab;
	q[1] = 0xcd;
	q[2] = 0x01;	/* RD */
	q[5] = 1;	/* QDCOUNT 1 */
	len = blzone_answer(z, q, 12, out, sizeof(out));
	CHECK(len == 12 && out[0] == 0xab && out[1] == 0xcd &&
	    (out[2] & 0x80) && (out[3] & 0x0f) == LDNS_RCODE_FORMERR);
	/* A response is never answered (no loops between servers). */
	q[2] = 0x81;
	CHECK(blzone_answer(z, q, 12, out, sizeof(out)) == 0);
	/* No room for the answer: nothing is sent. */
	q[2] = 0x01;
	CHECK(blzone_answer(z, q, 12, out, 11) == 0);
	blzone_free(z);
}

TEST_MAIN(t_lookup, t_answers, t_malformed)
