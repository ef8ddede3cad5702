/*
 * blzone.c: a block list as a DNSBL zone (blzone.h).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "blzone.h"
#include "util.h"
#include "xmalloc.h"

struct blentry {
	struct netaddr	 addr;
	char		*reason;
};

struct blzone {
	char		*zone;		/* lower case, no trailing dot */
	struct blentry	*hosts;		/* plen 128, sorted when !dirty */
	size_t		 nhosts;
	struct blentry	*nets;		/* shorter prefixes */
	size_t		 nnets;
	bool		 dirty;
};

/* blzone_new: an empty zone named zone (a host name), or NULL. */
struct blzone *
blzone_new(const char *zone)
{
	struct blzone	*z;
	size_t		 n = strlen(zone), i;

	if (n > 0 && zone[n - 1] == '.')
		n--;
	if (n == 0 || n > 200 || strspn(zone, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") < n || zone[0] == '.' ||
	    memmem(zone, n, "..", 2) != NULL)
		return NULL;
	z = xcalloc(1, sizeof(*z));
	z->zone = xstrndup(zone, n);
	for (i = 0; i < n; i++)
		z->zone[i] = (char)tolower((unsigned char)z->zone[i]);
	return z;
}

static void
blzone_entries_free(struct blentry *v, size_t n)
{
	while (n > 0)
		free(v[--n].reason);
	free(v);
}

void
blzone_free(struct blzone *z)
{
	if (z == NULL)
		return;
	blzone_entries_free(z->hosts, z->nhosts);
	blzone_entries_free(z->nets, z->nnets);
	free(z->zone);
	free(z);
}

/* blzone_reason: reason as printable ASCII without quotes, cut short. */
static char *
blzone_reason(const char *reason)
{
	char	*r = xstrndup(reason != NULL ? reason : "", BLZONE_REASON_MAX);
	char	*p;

	for (p = r; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e ||
		    *p == '"' || *p == '\\' || *p == ';')
			*p = '_';
	return r;
}

/* blzone_add: list an address or a network with its reason. */
bool
blzone_add(struct blzone *z, const struct netaddr *a, const char *reason)
{
	struct blentry	**v;
	size_t		*n;

	if (z->nhosts + z->nnets >= NETADDR_LIST_MAX)
		return false;
	v = a->plen == 128 ? &z->hosts : &z->nets;
	n = a->plen == 128 ? &z->nhosts : &z->nnets;
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[*n].addr = *a;
	(*v)[*n].reason = blzone_reason(reason);
	(*n)++;
	z->dirty = z->dirty || a->plen == 128;
	return true;
}

static int
blzone_cmp(const void *a, const void *b)
{
	return memcmp(((const struct blentry *)a)->addr.a,
	    ((const struct blentry *)b)->addr.a, 16);
}

/* blzone_lookup: the reason a listed address is listed for, or NULL. */
const char *
blzone_lookup(struct blzone *z, const struct netaddr *a)
{
	struct blentry	 key, *e;
	size_t		 i;

	if (z->dirty) {
		qsort(z->hosts, z->nhosts, sizeof(*z->hosts), blzone_cmp);
		z->dirty = false;
	}
	key.addr = *a;
	if (z->nhosts > 0 && (e = bsearch(&key, z->hosts, z->nhosts,
	    sizeof(*z->hosts), blzone_cmp)) != NULL)
		return e->reason;
	for (i = 0; i < z->nnets; i++)
		if (netaddr_match(&z->nets[i].addr, a))
			return z->nets[i].reason;
	return NULL;
}

/* blzone_count: entries listed (addresses and networks). */
size_t
blzone_count(const struct blzone *z)
{
	return z->nhosts + z->nnets;
}

/* blzone_v4: the IPv4 address of 4 reversed decimal labels, or false. */
static bool
blzone_v4(const uint8_t *const lab[], struct netaddr *a)
{
	unsigned int	 v;
	size_t		 i, j;

	for (i = 0; i < 4; i++) {
		/* lab[i]: a length byte, then the label; no leading zero. */
		if (lab[i][0] > 3 || (lab[i][0] > 1 && lab[i][1] == '0'))
			return false;
		for (v = 0, j = 1; j <= lab[i][0]; j++) {
			if (lab[i][j] < '0' || lab[i][j] > '9')
				return false;
			v = v * 10 + (unsigned int)(lab[i][j] - '0');
		}
		if (v > 255)
			return false;
		a->a[15 - i] = (uint8_t)v;
	}
	a->a[10] = a->a[11] = 0xff;	/* ::ffff:a.b.c.d (netaddr.h) */
	return true;
}

/* blzone_v6: the IPv6 address of 32 reversed nibble labels, or false. */
static bool
blzone_v6(const uint8_t *const lab[], struct netaddr *a)
{
	size_t	 i;
	int	 v;

	for (i = 0; i < 32; i++) {
		if (lab[i][0] != 1 || (v = str_hexval((char)lab[i][1])) < 0)
			return false;
		a->a[15 - i / 2] |= (uint8_t)(i % 2 == 0 ? v : v << 4);
	}
	return true;
}

/*
 * blzone_name: the address a query name (dn, as ldns parsed it) under
 * the zone names: 4 decimal labels (IPv4, reversed) or 32 hex nibbles
 * (IPv6, reversed).  1: an address in *a; 0: the zone apex; -1: not an
 * address of the zone (a label with a byte that is neither a letter, a
 * digit nor '-' is in no zone of ours).
 */
static int
blzone_name(const struct blzone *z, const ldns_rdf *dn, struct netaddr *a)
{
	const uint8_t	*w = ldns_rdf_data(dn), *lab[33];
	size_t		 n = ldns_rdf_size(dn), zl = strlen(z->zone);
	size_t		 off = 0, t = 0, nl = 0, zlabs = 1, i, len;
	char		 buf[256];

	while (off < n && w[off] != 0) {
		len = w[off];
		if (len > 63 || off + 1 + len >= n ||
		    t + len + 1 >= sizeof(buf))
			return -1;
		if (nl < nitems(lab))
			lab[nl] = w + off;
		nl++;
		if (t > 0)
			buf[t++] = '.';
		for (i = 1; i <= len; i++) {
			if (!isalnum(w[off + i]) && w[off + i] != '-')
				return -1;
			buf[t++] = (char)tolower(w[off + i]);
		}
		off += 1 + len;
	}
	buf[t] = '\0';
	if (strcmp(buf, z->zone) == 0)
		return 0;
	if (t <= zl + 1 || buf[t - zl - 1] != '.' ||
	    strcmp(buf + t - zl, z->zone) != 0)
		return -1;
	for (i = 0; i < zl; i++)
		zlabs += z->zone[i] == '.';
	memset(a, 0, sizeof(*a));
	a->plen = 128;
	if (nl - zlabs == 4)
		return blzone_v4(lab, a) ? 1 : -1;
	if (nl - zlabs == 32)
		return blzone_v6(lab, a) ? 1 : -1;
	return -1;
}

/* blzone_rr: one answer record (owner, type, rdata rd), pushed on pkt. */
static void
blzone_rr(ldns_pkt *pkt, const ldns_rdf *owner, ldns_rr_type type,
    ldns_rdf *rd)
{
	ldns_rr	*rr;

	if (rd == NULL || (rr = ldns_rr_new()) == NULL) {
		ldns_rdf_deep_free(rd);
		return;
	}
	ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
	ldns_rr_set_ttl(rr, BLZONE_TTL);
	if (!ldns_rr_push_rdf(rr, rd) ||
	    !ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, rr))
		ldns_rr_free(rr);
}

/*
 * blzone_wire: pkt into out; its length, 0 when it does not fit.  Names
 * are compressed only when the answer would not fit otherwise: ldns's
 * compression table costs more than the rest of the answer.
 */
static size_t
blzone_wire(ldns_pkt *pkt, uint8_t *out, size_t outmax)
{
	ldns_buffer	*b = ldns_buffer_new(BLZONE_UDP_MAX);
	uint8_t		*wire = NULL;
	size_t		 len = 0;

	if (b != NULL &&
	    ldns_pkt2buffer_wire_compress(b, pkt, NULL) == LDNS_STATUS_OK &&
	    (len = ldns_buffer_position(b)) <= outmax) {
		memcpy(out, ldns_buffer_begin(b), len);
		ldns_buffer_free(b);
		return len;
	}
	ldns_buffer_free(b);
	if (ldns_pkt2wire(&wire, pkt, &len) != LDNS_STATUS_OK ||
	    len > outmax) {
		free(wire);
		return 0;
	}
	memcpy(out, wire, len);
	free(wire);
	return len;
}

/* blzone_formerr: a bare FORMERR for a query that did not parse. */
static size_t
blzone_formerr(const uint8_t *q, size_t qlen, uint8_t *out, size_t outmax)
{
	if (qlen < 12 || outmax < 12 || (q[2] & 0x80) != 0)
		return 0;	/* too short, or a response: no answer */
	memset(out, 0, 12);
	out[0] = q[0];
	out[1] = q[1];
	out[2] = 0x80 | (q[2] & 0x79);	/* QR, the opcode and RD back */
	out[3] = LDNS_RCODE_FORMERR;
	return 12;
}

/*
 * blzone_answer: the answer to the query packet q in out (at most outmax
 * bytes); its length, or 0 when nothing is to be sent (a response, a
 * packet too short to answer, or an answer that does not fit).
 */
size_t
blzone_answer(struct blzone *z, const uint8_t *q, size_t qlen, uint8_t *out,
    size_t outmax)
{
	ldns_pkt	*in = NULL, *ans;
	ldns_rr		*qrr;
	ldns_rr_type	 type;
	struct netaddr	 a;
	const char	*reason = NULL;
	size_t		 len;
	int		 kind;

	if (ldns_wire2pkt(&in, q, qlen) != LDNS_STATUS_OK) {
		ldns_pkt_free(in);
		return blzone_formerr(q, qlen, out, outmax);
	}
	if (ldns_pkt_qr(in)) {
		ldns_pkt_free(in);
		return 0;
	}
	if (ldns_pkt_get_opcode(in) != LDNS_PACKET_QUERY ||
	    ldns_pkt_qdcount(in) != 1 || ldns_pkt_ancount(in) != 0 ||
	    (qrr = ldns_rr_list_rr(ldns_pkt_question(in), 0)) == NULL) {
		ldns_pkt_free(in);
		return blzone_formerr(q, qlen, out, outmax);
	}
	ans = ldns_pkt_new();
	ldns_pkt_set_id(ans, ldns_pkt_id(in));
	ldns_pkt_set_qr(ans, true);
	ldns_pkt_set_rd(ans, ldns_pkt_rd(in));
	ldns_pkt_set_opcode(ans, LDNS_PACKET_QUERY);
	(void)ldns_pkt_push_rr(ans, LDNS_SECTION_QUESTION, ldns_rr_clone(qrr));
	type = ldns_rr_get_type(qrr);
	kind = ldns_rr_get_class(qrr) == LDNS_RR_CLASS_IN ?
	    blzone_name(z, ldns_rr_owner(qrr), &a) : -1;
	if (kind == 1) {
		/* 127.0.0.2, the test entry of RFC 5782, is always listed. */
		static const uint8_t test[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
		    0, 0xff, 0xff, 127, 0, 0, 2 };

		reason = memcmp(a.a, test, 16) == 0 ? "RFC 5782 test entry" :
		    blzone_lookup(z, &a);
	}
	ldns_pkt_set_aa(ans, kind >= 0);
	if (kind == -1)
		ldns_pkt_set_rcode(ans, LDNS_RCODE_REFUSED);
	else if (kind == 1 && reason == NULL)
		ldns_pkt_set_rcode(ans, LDNS_RCODE_NXDOMAIN);
	else if (kind == 1) {
		static const uint8_t a127[4] = { 127, 0, 0, 2 };
		const ldns_rdf	*owner = ldns_rr_owner(qrr);

		if (type == LDNS_RR_TYPE_A || type == LDNS_RR_TYPE_ANY)
			blzone_rr(ans, owner, LDNS_RR_TYPE_A,
			    ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, a127));
		if (type == LDNS_RR_TYPE_TXT || type == LDNS_RR_TYPE_ANY) {
			uint8_t	 txt[1 + BLZONE_REASON_MAX];
			size_t	 n = strlen(reason);

			txt[0] = (uint8_t)n;
			memcpy(txt + 1, reason, n);
			blzone_rr(ans, owner, LDNS_RR_TYPE_TXT,
			    ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, n + 1,
			    txt));
		}
	}
	ldns_pkt_set_ancount(ans, ldns_rr_list_rr_count(ldns_pkt_answer(ans)));
	len = blzone_wire(ans, out, outmax);
	ldns_pkt_free(ans);
	ldns_pkt_free(in);
	return len;
}
