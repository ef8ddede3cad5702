/*
 * auth.c: sender authentication of one message (auth.h).
 *
 * SPF with libspf2, DKIM verification with libopendkim and DMARC with
 * libopendmarc, combined into RFC 8601 result words and one
 * Authentication-Results header.  The libraries never touch the network:
 * libspf2 gets a DNS layer of ours, libopendkim a key-lookup callback and
 * libopendmarc the record we looked up ourselves; all three end in
 * wdns_query(), which the scan worker answers through the scanner parent.
 *
 * Owns the process-wide library handles (auth_init .. auth_shutdown).  A
 * worker is single-threaded and checks one message at a time, so the
 * resolver of the check in progress may live in the SPF DNS layer's hook.
 * Every byte of the message, the envelope and every DNS answer is hostile:
 * names are validated before they are looked up, stored or printed.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>

#include <ctype.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <opendkim/dkim.h>
#include <opendmarc/dmarc.h>
#include <spf2/spf.h>

#include "auth.h"
#include "log.h"
#include "util.h"
#include "wdns.h"
#include "xmalloc.h"

/*
 * Exported by libopendmarc but declared only in its internal header: the
 * organizational domain of a name by the loaded public suffix list.
 */
int	 opendmarc_get_tld(u_char *, u_char *, size_t);

#define AUTH_PSL_DEFAULT	"/usr/share/publicsuffix/public_suffix_list.dat"
#define AUTH_NAME_MAX		253	/* a DNS name, no trailing dot */
#define AUTH_LABEL_MAX		63
#define AUTH_LOCAL_MAX		64	/* RFC 5321 local-part */
#define AUTH_MAX_FIELDS		4096	/* header fields fed to DKIM */
#define AUTH_FIELD_MAX		(256 * 1024)	/* bytes of one field */
#define AUTH_MAX_SIGS		16	/* DKIM signatures handed to DMARC */
#define AUTH_DMARC_MAX		2048	/* bytes of a DMARC record we parse */
#define AUTH_ADDR_MAX		512	/* bytes of one From address */

/* DKIM outcomes, weakest first: the strongest over all signatures wins. */
enum auth_dkim {
	AUTH_DKIM_NONE = 0,
	AUTH_DKIM_NEUTRAL,
	AUTH_DKIM_PERMERROR,
	AUTH_DKIM_FAIL,
	AUTH_DKIM_TEMPERROR,
	AUTH_DKIM_PASS,
};

static const char *const auth_dkim_words[] = {
	"none", "neutral", "permerror", "fail", "temperror", "pass",
};

/* One verified (or not) DKIM signature, for DMARC. */
struct auth_sig {
	char		 domain[AUTH_DOMAIN_MAX];
	char		 selector[AUTH_DOMAIN_MAX];
	enum auth_dkim	 outcome;
};

/* State of one DKIM verification, reached from the key-lookup callback. */
struct auth_dkimctx {
	const struct wdns	*dns;
	const DKIM_SIGINFO	*tempfail[AUTH_MAX_SIGS];
	size_t			 ntempfail;
	bool			 any_tempfail;
};

static struct {
	bool			 ready;
	DKIM_LIB		*dkim;
	SPF_server_t		*spf;
	SPF_dns_server_t	*spf_dns;
	OPENDMARC_LIB_T		 dmarc;
	bool			 psl;
} auth;

/* auth_spf_error: libspf2's fatal handler; it must not return. */
static void __attribute__((noreturn))
auth_spf_error(const char *file, int line, const char *msg)
{
	fatalx("auth_spf_error: libspf2 %s:%d: %s", file ? file : "?", line,
	    msg ? msg : "?");
}

/* auth_spf_log: libspf2's warnings, info and debug, at debug level. */
static void
auth_spf_log(const char *file, int line, const char *msg)
{
	char	 esc[LOG_ESC_MAX];

	log_kv(LOG_LVL_DEBUG, "event=auth_spf_log src=%s:%d msg=%s",
	    file ? file : "?", line, log_esc(esc, sizeof(esc), msg ? msg : ""));
}

/*
 * auth_name_norm: copy the DNS name src (len bytes) into dst lower-cased
 * and without one trailing dot; true if it is a plausible host name:
 * labels of 1..63 of [A-Za-z0-9_-], at most 253 bytes.
 */
static bool
auth_name_norm(char *dst, size_t dstsz, const char *src, size_t len)
{
	size_t	 i, label = 0;

	if (dstsz == 0)
		return false;
	dst[0] = '\0';
	if (len > 0 && src[len - 1] == '.')
		len--;
	if (len == 0 || len > AUTH_NAME_MAX || len >= dstsz)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isascii(c) && (isalnum(c) || c == '-' || c == '_')) {
			if (++label > AUTH_LABEL_MAX)
				return false;
		} else
			return false;
		dst[i] = (char)tolower(c);
	}
	dst[len] = '\0';
	return label > 0;
}

/* auth_name_ok: the string is a valid name as auth_name_norm wants it. */
static bool
auth_name_ok(const char *s)
{
	char	 tmp[AUTH_DOMAIN_MAX];

	return s != NULL && auth_name_norm(tmp, sizeof(tmp), s, strlen(s)) &&
	    strcmp(tmp, s) == 0;
}

/* auth_multilabel: the (valid) name has at least two labels. */
static bool
auth_multilabel(const char *s)
{
	return strchr(s, '.') != NULL;
}

/* auth_word: store an RFC 8601 word in a result field. */
static void
auth_word(char *dst, const char *w)
{
	str_lcpy(dst, w, AUTH_RESULT_MAX);
}

/*
 * --- SPF -------------------------------------------------------------
 */

/* auth_arpa_nibble: one hex digit of an ip6.arpa name, or -1. */
static int
auth_arpa_nibble(const char *p)
{
	return str_hexval(*p);
}

/*
 * auth_arpa_to_ip: the address literal of a reverse name libspf2 built
 * ("4.3.2.1.in-addr.arpa", nibbles ".ip6.arpa"), for wdns (DNS_PTR).
 */
static bool
auth_arpa_to_ip(const char *name, char *ip, size_t ipsz)
{
	static const char v4[] = ".in-addr.arpa", v6[] = ".ip6.arpa";
	size_t		 len = strlen(name), i;
	unsigned	 o[4];
	struct in6_addr	 a6;
	char		 tail;
	int		 hi, lo;

	if (len > sizeof(v4) - 1 &&
	    strcasecmp(name + len - (sizeof(v4) - 1), v4) == 0) {
		if (sscanf(name, "%3u.%3u.%3u.%3u.%c", &o[0], &o[1], &o[2],
		    &o[3], &tail) != 5 || o[0] > 255 || o[1] > 255 ||
		    o[2] > 255 || o[3] > 255)
			return false;
		return str_printf(ip, ipsz, "%u.%u.%u.%u", o[3], o[2], o[1],
		    o[0]);
	}
	if (len != 64 + sizeof(v6) - 1 ||
	    strcasecmp(name + 64, v6 + 1) != 0 || name[63] != '.')
		return false;
	/* 32 nibbles, least significant first, each followed by a dot */
	for (i = 0; i < 32; i++)
		if (name[2 * i + 1] != '.')
			return false;
	for (i = 0; i < 16; i++) {
		/* byte i: high nibble at 62 - 4i, low nibble at 60 - 4i */
		hi = auth_arpa_nibble(name + 62 - 4 * i);
		lo = auth_arpa_nibble(name + 60 - 4 * i);
		if (hi < 0 || lo < 0)
			return false;
		a6.s6_addr[i] = (uint8_t)(hi << 4 | lo);
	}
	return inet_ntop(AF_INET6, &a6, ip, ipsz) != NULL;
}

/* auth_spf_herrno: the resolver status libspf2 understands. */
static SPF_dns_stat_t
auth_spf_herrno(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return NETDB_SUCCESS;
	case DNS_NXDOMAIN:
	case DNS_BADNAME:
		return HOST_NOT_FOUND;
	case DNS_NODATA:
	case DNS_NULLMX:
		return NO_DATA;
	default:
		return TRY_AGAIN;
	}
}

/* auth_spf_rr_add: one record of answer a, converted for libspf2. */
static bool
auth_spf_rr_add(SPF_dns_rr_t *rr, int idx, ns_type type, const char *text)
{
	char		 host[AUTH_DOMAIN_MAX];
	const char	*p;

	switch (type) {
	case ns_t_a:
		if (SPF_dns_rr_buf_realloc(rr, idx, sizeof(struct in_addr)) !=
		    SPF_E_SUCCESS)
			fatalx("auth_spf_rr_add: out of memory");
		return inet_pton(AF_INET, text, &rr->rr[idx]->a) == 1;
	case ns_t_aaaa:
		if (SPF_dns_rr_buf_realloc(rr, idx, sizeof(struct in6_addr)) !=
		    SPF_E_SUCCESS)
			fatalx("auth_spf_rr_add: out of memory");
		return inet_pton(AF_INET6, text, &rr->rr[idx]->aaaa) == 1;
	case ns_t_mx:
	case ns_t_ptr:
		p = text;
		if (type == ns_t_mx) {	/* "PREF HOST" */
			while (isdigit((unsigned char)*p))
				p++;
			while (*p == ' ')
				p++;
		}
		if (!auth_name_norm(host, sizeof(host), p, strlen(p)))
			return false;
		if (SPF_dns_rr_buf_realloc(rr, idx, strlen(host) + 1) !=
		    SPF_E_SUCCESS)
			fatalx("auth_spf_rr_add: out of memory");
		memcpy(rr->rr[idx]->mx, host, strlen(host) + 1);
		return true;
	case ns_t_txt:
		if (SPF_dns_rr_buf_realloc(rr, idx, strlen(text) + 1) !=
		    SPF_E_SUCCESS)
			fatalx("auth_spf_rr_add: out of memory");
		memcpy(rr->rr[idx]->txt, text, strlen(text) + 1);
		return true;
	default:
		return false;
	}
}

/* auth_spf_type: the wdns type of a libspf2 query, or 0. */
static enum dns_type
auth_spf_type(ns_type type)
{
	switch (type) {
	case ns_t_a:
		return DNS_A;
	case ns_t_aaaa:
		return DNS_AAAA;
	case ns_t_mx:
		return DNS_MX;
	case ns_t_txt:
		return DNS_TXT;
	case ns_t_ptr:
		return DNS_PTR;
	default:
		return 0;	/* ns_t_spf (type 99) is obsolete: NODATA */
	}
}

/*
 * auth_spf_lookup: libspf2's DNS layer: ask wdns and convert the answer.
 * Must never return NULL (libspf2 treats that as fatal).
 */
static SPF_dns_rr_t *
auth_spf_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type,
    int should_cache)
{
	const struct wdns	*w = srv->hook;
	struct wdns_answer	 a;
	SPF_dns_rr_t		*rr;
	enum dns_type		 dt = auth_spf_type(type);
	char			 qname[AUTH_DOMAIN_MAX];
	size_t			 i;
	int			 n = 0;

	memset(&a, 0, sizeof(a));
	if (domain == NULL)
		domain = "";
	if (dt == 0)
		a.status = DNS_NODATA;
	else if (dt == DNS_PTR) {
		if (!auth_arpa_to_ip(domain, qname, sizeof(qname)))
			a.status = DNS_NXDOMAIN;
		else
			wdns_query(w, dt, qname, &a);
	} else if (!auth_name_norm(qname, sizeof(qname), domain,
	    strlen(domain)))
		a.status = DNS_NXDOMAIN;
	else
		wdns_query(w, dt, qname, &a);

	rr = SPF_dns_rr_new_init(srv, domain, type, 0,
	    auth_spf_herrno(a.status));
	if (rr == NULL)
		fatalx("auth_spf_lookup: out of memory");
	if (a.status == DNS_OK) {
		for (i = 0; i < a.nrr && n < WDNS_MAX_RR; i++)
			if (auth_spf_rr_add(rr, n, type, a.rr[i]))
				n++;
		rr->num_rr = n;
		if (n == 0)
			rr->herrno = NO_DATA;
	}
	wdns_answer_free(&a);
	return rr;
}

/*
 * auth_spf_result_word: libspf2's result as the RFC 8601 word.  A record
 * that does not compile leaves the result SPF_RESULT_INVALID with only
 * error messages, which is a permerror (RFC 7208 4.6); an invalid result
 * after a DNS error is a temperror.
 */
static const char *
auth_spf_result_word(SPF_response_t *resp)
{
	int	 i, n;

	if (resp == NULL)
		return "temperror";
	switch (SPF_response_result(resp)) {
	case SPF_RESULT_PASS:
		return "pass";
	case SPF_RESULT_FAIL:
		return "fail";
	case SPF_RESULT_SOFTFAIL:
		return "softfail";
	case SPF_RESULT_NEUTRAL:
		return "neutral";
	case SPF_RESULT_NONE:
		return "none";
	case SPF_RESULT_PERMERROR:
		return "permerror";
	case SPF_RESULT_TEMPERROR:
		return "temperror";
	default:
		break;
	}
	n = SPF_response_messages(resp);
	for (i = 0; i < n; i++)
		if (SPF_error_code(SPF_response_message(resp, i)) ==
		    SPF_E_DNS_ERROR)
			return "temperror";
	return SPF_response_errors(resp) > 0 ? "permerror" : "temperror";
}

/*
 * auth_sender: split the envelope sender into a sanitised local part
 * (hostile or missing ones become "postmaster", RFC 7208 4.3) and a
 * normalised domain; false when the domain is unusable.
 */
static bool
auth_sender(const char *from, char *local, size_t localsz, char *domain,
    size_t domainsz)
{
	const char	*at = strrchr(from, '@');
	size_t		 llen, i;
	bool		 ok;

	if (at == NULL)
		return false;
	if (!auth_name_norm(domain, domainsz, at + 1, strlen(at + 1)))
		return false;
	llen = (size_t)(at - from);
	ok = llen > 0 && llen <= AUTH_LOCAL_MAX && llen < localsz;
	for (i = 0; ok && i < llen; i++)
		if (from[i] <= 0x20 || from[i] >= 0x7f)
			ok = false;
	if (ok) {
		memcpy(local, from, llen);
		local[llen] = '\0';
	} else
		str_lcpy(local, "postmaster", localsz);
	return true;
}

/* auth_spf: the SPF check of the MAIL FROM (or, for <>, HELO) identity. */
static void
auth_spf(const struct auth_input *in, struct auth_result *res, bool *helo)
{
	SPF_request_t	*req;
	SPF_response_t	*resp = NULL;
	char		 local[AUTH_LOCAL_MAX + 1], dom[AUTH_DOMAIN_MAX];
	char		 hdom[AUTH_DOMAIN_MAX], *from;
	bool		 hok, v6;
	int		 rc;

	auth_word(res->spf, "none");
	*helo = in->mail_from == NULL || in->mail_from[0] == '\0';
	hok = in->helo != NULL && auth_name_norm(hdom, sizeof(hdom), in->helo,
	    strlen(in->helo)) && auth_multilabel(hdom);
	if (*helo) {
		if (!hok)
			return;
		str_lcpy(local, "postmaster", sizeof(local));
		str_lcpy(dom, hdom, sizeof(dom));
	} else if (!auth_sender(in->mail_from, local, sizeof(local), dom,
	    sizeof(dom)))
		return;
	if (!auth_multilabel(dom))
		return;		/* RFC 7208 4.3: not a usable domain */
	str_lcpy(res->spf_domain, dom, sizeof(res->spf_domain));
	if (in->client_ip == NULL || in->client_ip[0] == '\0')
		return;
	if (!auth.ready) {
		auth_word(res->spf, "temperror");
		return;
	}

	auth.spf_dns->hook = (void *)(uintptr_t)in->dns;
	req = SPF_request_new(auth.spf);
	if (req == NULL)
		fatalx("auth_spf: out of memory");
	v6 = strchr(in->client_ip, ':') != NULL;
	if ((v6 ? SPF_request_set_ipv6_str(req, in->client_ip) :
	    SPF_request_set_ipv4_str(req, in->client_ip)) != SPF_E_SUCCESS) {
		SPF_request_free(req);
		auth.spf_dns->hook = NULL;
		return;
	}
	if (hok)
		(void)SPF_request_set_helo_dom(req, hdom);
	from = xasprintf("%s@%s", local, dom);
	rc = SPF_request_set_env_from(req, from);
	free(from);
	if (rc == 0) {
		(void)SPF_request_query_mailfrom(req, &resp);
		auth_word(res->spf, auth_spf_result_word(resp));
	}
	if (resp != NULL)
		SPF_response_free(resp);
	SPF_request_free(req);
	auth.spf_dns->hook = NULL;
}

/*
 * --- the message ------------------------------------------------------
 */

/* A walk over the header section, field by field. */
struct auth_hdrs {
	const char	*p;
	size_t		 len;
	size_t		 off;		/* next unread byte */
	struct buf	 field;		/* current field, folds as CRLF */
	bool		 overflow;
};

/* auth_line: the line at *off (without its LF or CRLF); advances *off. */
static size_t
auth_line(const char *p, size_t len, size_t *off, const char **line)
{
	const char	*nl;
	size_t		 n;

	*line = p + *off;
	nl = memchr(*line, '\n', len - *off);
	if (nl == NULL) {
		n = len - *off;
		*off = len;
		return n;
	}
	n = (size_t)(nl - *line);
	*off += n + 1;
	if (n > 0 && (*line)[n - 1] == '\r')
		n--;
	return n;
}

/*
 * auth_hdrs_next: the next header field into h->field (NUL-terminated,
 * continuation lines joined with CRLF); false at the end of the header.
 * After the end, h->off is the first byte of the body.
 */
static bool
auth_hdrs_next(struct auth_hdrs *h)
{
	const char	*line;
	size_t		 n;

	buf_reset(&h->field);
	h->overflow = false;
	if (h->off >= h->len)
		return false;
	n = auth_line(h->p, h->len, &h->off, &line);
	if (n == 0)
		return false;		/* the empty line */
	if (!buf_add(&h->field, line, n))
		h->overflow = true;
	while (h->off < h->len &&
	    (h->p[h->off] == ' ' || h->p[h->off] == '\t')) {
		n = auth_line(h->p, h->len, &h->off, &line);
		if (!h->overflow && (!buf_add(&h->field, "\r\n", 2) ||
		    !buf_add(&h->field, line, n)))
			h->overflow = true;
	}
	(void)buf_cstr(&h->field);
	return true;
}

/* auth_hdr_is: the field's name is name (case-insensitive). */
static bool
auth_hdr_is(const struct buf *f, const char *name)
{
	size_t	 n = strlen(name), i;

	if (f->len < n + 1 || strncasecmp((const char *)f->data, name, n) != 0)
		return false;
	for (i = n; i < f->len && (f->data[i] == ' ' || f->data[i] == '\t');
	    i++)
		;
	return i < f->len && f->data[i] == ':';
}

/* One mailbox being parsed out of a From field. */
struct auth_mbox {
	char	 bare[AUTH_ADDR_MAX];	/* text outside comments and <> */
	size_t	 nbare;
	char	 angle[AUTH_ADDR_MAX];	/* text inside <> */
	size_t	 nangle;
	bool	 in_angle, had_angle, overflow;
};

/* auth_mbox_put: one byte of address text. */
static void
auth_mbox_put(struct auth_mbox *m, char c)
{
	char	*b = m->in_angle ? m->angle : m->bare;
	size_t	*n = m->in_angle ? &m->nangle : &m->nbare;

	if (*n + 1 >= AUTH_ADDR_MAX) {
		m->overflow = true;
		return;
	}
	b[(*n)++] = c;
}

/*
 * auth_mbox_end: close one mailbox: count it and take its domain (the
 * first one's, normalised, or "" when unusable).
 */
static void
auth_mbox_end(struct auth_mbox *m, int *count, char *dom, size_t domsz)
{
	const char	*addr = m->had_angle ? m->angle : m->bare;
	size_t		 n = m->had_angle ? m->nangle : m->nbare;
	const char	*at;

	if (n > 0 || m->had_angle) {
		(*count)++;
		if (*count == 1) {
			at = memrchr(addr, '@', n);
			if (m->overflow || at == NULL ||
			    memchr(at, '"', n - (size_t)(at - addr)) != NULL ||
			    !auth_name_norm(dom, domsz, at + 1,
			    n - (size_t)(at - addr) - 1))
				dom[0] = '\0';
		}
	}
	memset(m, 0, sizeof(*m));
}

/*
 * auth_from_parse: count the mailboxes of a From field body (RFC 5322
 * address-list, with comments, quoted strings and groups) and take the
 * first one's domain.
 */
static int
auth_from_parse(const char *v, size_t len, char *dom, size_t domsz)
{
	struct auth_mbox	 m;
	int			 count = 0, depth = 0;
	bool			 quoted = false;
	size_t			 i;

	memset(&m, 0, sizeof(m));
	dom[0] = '\0';
	for (i = 0; i < len; i++) {
		char c = v[i];

		if (c == '\\' && (quoted || depth > 0) && i + 1 < len) {
			if (quoted)
				auth_mbox_put(&m, v[++i]);
			else
				i++;
			continue;
		}
		if (depth > 0) {
			if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (quoted) {
			if (c == '"')
				quoted = false;
			auth_mbox_put(&m, c);
			continue;
		}
		switch (c) {
		case '(':
			depth++;
			break;
		case '"':
			quoted = true;
			auth_mbox_put(&m, c);
			break;
		case '<':
			m.in_angle = m.had_angle = true;
			m.nangle = 0;
			break;
		case '>':
			m.in_angle = false;
			break;
		case ',':
		case ';':
			if (!m.in_angle)
				auth_mbox_end(&m, &count, dom, domsz);
			break;
		case ':':		/* group display name: drop it */
			if (!m.in_angle && !m.had_angle) {
				m.nbare = 0;
				break;
			}
			auth_mbox_put(&m, c);
			break;
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			break;
		default:
			auth_mbox_put(&m, c);
			break;
		}
	}
	auth_mbox_end(&m, &count, dom, domsz);
	return count;
}

/*
 * auth_from: the RFC5322.From domain; returns the number of From
 * mailboxes (fields with several count as 2), 0 without a From field.
 * Also notes whether the message carries DKIM-Signature fields.
 */
static int
auth_from(const struct auth_input *in, char *dom, size_t domsz,
    bool *signed_msg)
{
	struct auth_hdrs	 h;
	int			 fields = 0, n = 0;
	const char		*colon;

	memset(&h, 0, sizeof(h));
	h.p = in->raw;
	h.len = in->raw == NULL ? 0 : in->len;
	buf_init(&h.field, AUTH_FIELD_MAX);
	dom[0] = '\0';
	*signed_msg = false;
	while (auth_hdrs_next(&h)) {
		if (auth_hdr_is(&h.field, "DKIM-Signature"))
			*signed_msg = true;
		if (!auth_hdr_is(&h.field, "From"))
			continue;
		if (++fields > 1 || h.overflow) {
			n = 2;
			continue;
		}
		colon = memchr(h.field.data, ':', h.field.len);
		n = auth_from_parse(colon + 1, h.field.len -
		    (size_t)(colon + 1 - (const char *)h.field.data), dom,
		    domsz);
	}
	buf_free(&h.field);
	if (n != 1)
		dom[0] = '\0';
	return n;
}

/*
 * --- DKIM ------------------------------------------------------------
 */

/* auth_dkim_key: libopendkim's key lookup: the TXT record through wdns. */
static DKIM_CBSTAT
auth_dkim_key(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	struct auth_dkimctx	*ctx = dkim_get_user_context(dkim);
	const char		*sel, *dom;
	char			 s[AUTH_DOMAIN_MAX], d[AUTH_DOMAIN_MAX];
	char			 qname[AUTH_DOMAIN_MAX];
	struct wdns_answer	 a;
	DKIM_CBSTAT		 rc;
	size_t			 n;

	sel = (const char *)dkim_sig_getselector(sig);
	dom = (const char *)dkim_sig_getdomain(sig);
	if (ctx == NULL || sel == NULL || dom == NULL ||
	    !auth_name_norm(s, sizeof(s), sel, strlen(sel)) ||
	    !auth_name_norm(d, sizeof(d), dom, strlen(dom)) ||
	    !str_printf(qname, sizeof(qname), "%s._domainkey.%s", s, d) ||
	    strlen(qname) > AUTH_NAME_MAX)
		return DKIM_CBSTAT_NOTFOUND;
	wdns_query(ctx->dns, DNS_TXT, qname, &a);
	switch (a.status) {
	case DNS_OK:
		/* several records: undefined (RFC 6376 3.6.2.2); use one */
		n = a.nrr > 0 ? strlen(a.rr[0]) : 0;
		if (n == 0 || n >= buflen)
			rc = DKIM_CBSTAT_ERROR;
		else {
			memcpy(buf, a.rr[0], n + 1);
			rc = DKIM_CBSTAT_CONTINUE;
		}
		break;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
	case DNS_BADNAME:
		rc = DKIM_CBSTAT_NOTFOUND;
		break;
	default:
		rc = DKIM_CBSTAT_TRYAGAIN;
		ctx->any_tempfail = true;
		if (ctx->ntempfail < AUTH_MAX_SIGS)
			ctx->tempfail[ctx->ntempfail++] = sig;
		break;
	}
	wdns_answer_free(&a);
	return rc;
}

/* auth_dkim_sig: the outcome of one signature after verification. */
static enum auth_dkim
auth_dkim_sig(const struct auth_dkimctx *ctx, DKIM_SIGINFO *sig)
{
	unsigned int	 flags = dkim_sig_getflags(sig);
	int		 bh = dkim_sig_getbh(sig);
	size_t		 i;

	for (i = 0; i < ctx->ntempfail; i++)
		if (ctx->tempfail[i] == sig)
			return AUTH_DKIM_TEMPERROR;
	if (flags & DKIM_SIGFLAG_IGNORE)
		return AUTH_DKIM_NEUTRAL;
	if ((flags & DKIM_SIGFLAG_PASSED) && bh == DKIM_SIGBH_MATCH)
		return AUTH_DKIM_PASS;
	switch (dkim_sig_geterror(sig)) {
	case DKIM_SIGERROR_KEYFAIL:
		return AUTH_DKIM_TEMPERROR;
	case DKIM_SIGERROR_NOKEY:
	case DKIM_SIGERROR_DNSSYNTAX:
	case DKIM_SIGERROR_MULTIREPLY:
	case DKIM_SIGERROR_KEYVERSION:
	case DKIM_SIGERROR_KEYUNKNOWNHASH:
	case DKIM_SIGERROR_KEYHASHMISMATCH:
	case DKIM_SIGERROR_NOTEMAILKEY:
	case DKIM_SIGERROR_KEYTYPEMISSING:
	case DKIM_SIGERROR_KEYTYPEUNKNOWN:
	case DKIM_SIGERROR_KEYREVOKED:
	case DKIM_SIGERROR_KEYDECODE:
	case DKIM_SIGERROR_KEYTOOSMALL:
		return AUTH_DKIM_PERMERROR;
	case DKIM_SIGERROR_BADSIG:
		return AUTH_DKIM_FAIL;
	case DKIM_SIGERROR_OK:
	case DKIM_SIGERROR_UNKNOWN:
		/* processed but not passed, or the body hash differs */
		if ((flags & DKIM_SIGFLAG_PROCESSED) ||
		    bh == DKIM_SIGBH_MISMATCH)
			return AUTH_DKIM_FAIL;
		return AUTH_DKIM_PERMERROR;
	default:
		/* the signature itself is unusable (RFC 8601 2.7.1) */
		return AUTH_DKIM_NEUTRAL;
	}
}

/* auth_dkim_body: feed the body, bare LF made CRLF. */
static void
auth_dkim_body(DKIM *dkim, const char *p, size_t len)
{
	u_char	 chunk[8192];
	size_t	 i, n = 0;
	char	 prev = '\0';

	for (i = 0; i < len; i++) {
		if (n + 2 > sizeof(chunk)) {
			(void)dkim_body(dkim, chunk, n);
			n = 0;
		}
		if (p[i] == '\n' && prev != '\r')
			chunk[n++] = '\r';
		chunk[n++] = (u_char)p[i];
		prev = p[i];
	}
	if (n > 0)
		(void)dkim_body(dkim, chunk, n);
}

/* auth_dkim_feed: header fields, end of header, body, end of message. */
static DKIM_STAT
auth_dkim_feed(DKIM *dkim, const struct auth_input *in)
{
	struct auth_hdrs	 h;
	DKIM_STAT		 st;
	int			 nf = 0;

	memset(&h, 0, sizeof(h));
	h.p = in->raw;
	h.len = in->raw == NULL ? 0 : in->len;
	buf_init(&h.field, AUTH_FIELD_MAX);
	while (auth_hdrs_next(&h)) {
		if (h.overflow || ++nf > AUTH_MAX_FIELDS ||
		    memchr(h.field.data, ':', h.field.len) == NULL)
			continue;	/* not a field we can hand over */
		(void)dkim_header(dkim, h.field.data, h.field.len);
	}
	buf_free(&h.field);
	st = dkim_eoh(dkim);
	if (st != DKIM_STAT_OK)
		return st;
	auth_dkim_body(dkim, h.p + h.off, h.len - h.off);
	return dkim_eom(dkim, NULL);
}

/*
 * auth_dkim: verify every DKIM signature; the deciding one's domain goes
 * to the result, each signature's outcome to sigs[] for DMARC.
 */
static size_t
auth_dkim(const struct auth_input *in, struct auth_result *res,
    bool signed_msg, struct auth_sig *sigs)
{
	struct auth_dkimctx	 ctx;
	DKIM			*dkim;
	DKIM_SIGINFO		**list = NULL;
	DKIM_STAT		 st;
	enum auth_dkim		 best = AUTH_DKIM_NONE, o;
	const char		*d, *s;
	int			 nlist = 0, i;
	size_t			 nsigs = 0;

	auth_word(res->dkim, signed_msg ? "neutral" : "none");
	if (!auth.ready) {
		auth_word(res->dkim, "temperror");
		return 0;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.dns = in->dns;
	dkim = dkim_verify(auth.dkim, (const u_char *)"auth", NULL, &st);
	if (dkim == NULL) {
		auth_word(res->dkim, "temperror");
		return 0;
	}
	(void)dkim_set_user_context(dkim, &ctx);
	st = auth_dkim_feed(dkim, in);
	if (st == DKIM_STAT_NOSIG) {
		dkim_free(dkim);
		return 0;	/* none, or neutral: no parseable signature */
	}
	if (dkim_getsiglist(dkim, &list, &nlist) != DKIM_STAT_OK)
		nlist = 0;
	for (i = 0; i < nlist && list != NULL; i++) {
		o = auth_dkim_sig(&ctx, list[i]);
		d = (const char *)dkim_sig_getdomain(list[i]);
		s = (const char *)dkim_sig_getselector(list[i]);
		if (nsigs < AUTH_MAX_SIGS && d != NULL &&
		    auth_name_norm(sigs[nsigs].domain,
		    sizeof(sigs[nsigs].domain), d, strlen(d))) {
			if (s == NULL || !auth_name_norm(sigs[nsigs].selector,
			    sizeof(sigs[nsigs].selector), s, strlen(s)))
				str_lcpy(sigs[nsigs].selector, "unknown",
				    sizeof(sigs[nsigs].selector));
			sigs[nsigs].outcome = o;
			if (o > best)
				str_lcpy(res->dkim_domain, sigs[nsigs].domain,
				    sizeof(res->dkim_domain));
			nsigs++;
		}
		if (o > best)
			best = o;
	}
	if (nlist == 0)	/* the library gave up before the signatures */
		best = ctx.any_tempfail ? AUTH_DKIM_TEMPERROR :
		    AUTH_DKIM_PERMERROR;
	auth_word(res->dkim, auth_dkim_words[best]);
	log_kv(LOG_LVL_DEBUG, "event=auth_dkim status=%d sigs=%d result=%s",
	    (int)st, nlist, res->dkim);
	dkim_free(dkim);
	return nsigs;
}

/*
 * --- DMARC -----------------------------------------------------------
 */

/* auth_dmarc_ascii: a record we are willing to hand to libopendmarc. */
static bool
auth_dmarc_ascii(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++, n++)
		if (*s < 0x20 || *s >= 0x7f || n >= AUTH_DMARC_MAX)
			return false;
	return true;
}

/*
 * auth_dmarc_fetch: the DMARC record of domain: 1 found (*rec set, the
 * caller frees), 0 none, -1 temporary error, -2 unusable record.
 */
static int
auth_dmarc_fetch(const struct wdns *w, const char *domain, char **rec)
{
	struct wdns_answer	 a;
	char			 qname[AUTH_DOMAIN_MAX + 8];
	size_t			 i, n = 0, idx = 0;
	int			 rc;

	*rec = NULL;
	if (!str_printf(qname, sizeof(qname), "_dmarc.%s", domain) ||
	    strlen(qname) > AUTH_NAME_MAX)
		return 0;
	wdns_query(w, DNS_TXT, qname, &a);
	if (a.status == DNS_TEMPFAIL) {
		wdns_answer_free(&a);
		return -1;
	}
	for (i = 0; a.status == DNS_OK && i < a.nrr; i++) {
		/* RFC 7489 6.6.3: only records starting "v=DMARC1" count */
		if (strncmp(a.rr[i], "v=DMARC1", 8) == 0 &&
		    (a.rr[i][8] == '\0' || a.rr[i][8] == ';' ||
		    a.rr[i][8] == ' ' || a.rr[i][8] == '\t')) {
			n++;
			idx = i;
		}
	}
	if (n == 1) {
		if (auth_dmarc_ascii(a.rr[idx])) {
			*rec = xstrdup(a.rr[idx]);
			rc = 1;
		} else
			rc = -2;
	} else
		rc = 0;		/* none, or several: no policy (6.6.3) */
	wdns_answer_free(&a);
	return rc;
}

/* auth_orgdomain: the organizational domain of dom by the PSL, or "". */
static void
auth_orgdomain(const char *dom, char *org, size_t orgsz)
{
	u_char	 tld[AUTH_DOMAIN_MAX + 1];
	char	 copy[AUTH_DOMAIN_MAX];
	size_t	 dl, ol;

	org[0] = '\0';
	if (!auth.psl)
		return;
	memset(tld, 0, sizeof(tld));
	str_lcpy(copy, dom, sizeof(copy));
	if (opendmarc_get_tld((u_char *)copy, tld, sizeof(tld) - 1) != 0)
		return;
	/* trust the answer only if it is dom or a parent of it */
	dl = strlen(dom);
	ol = strlen((char *)tld);
	if (!auth_name_norm(org, orgsz, (char *)tld, ol)) {
		org[0] = '\0';
		return;
	}
	ol = strlen(org);
	if (ol > dl || strcmp(dom + dl - ol, org) != 0 ||
	    (ol < dl && dom[dl - ol - 1] != '.'))
		org[0] = '\0';
}

/* auth_spf_outcome: an SPF word as libopendmarc's outcome. */
static int
auth_spf_outcome(const char *w)
{
	if (strcmp(w, "pass") == 0)
		return DMARC_POLICY_SPF_OUTCOME_PASS;
	if (strcmp(w, "fail") == 0 || strcmp(w, "softfail") == 0)
		return DMARC_POLICY_SPF_OUTCOME_FAIL;
	if (strcmp(w, "temperror") == 0)
		return DMARC_POLICY_SPF_OUTCOME_TMPFAIL;
	return DMARC_POLICY_SPF_OUTCOME_NONE;
}

/* auth_dkim_outcome: a signature's outcome as libopendmarc's. */
static int
auth_dkim_outcome(enum auth_dkim o)
{
	switch (o) {
	case AUTH_DKIM_PASS:
		return DMARC_POLICY_DKIM_OUTCOME_PASS;
	case AUTH_DKIM_TEMPERROR:
		return DMARC_POLICY_DKIM_OUTCOME_TMPFAIL;
	case AUTH_DKIM_FAIL:
		return DMARC_POLICY_DKIM_OUTCOME_FAIL;
	default:
		return DMARC_POLICY_DKIM_OUTCOME_NONE;
	}
}

/* auth_policy_word: a p=/sp= letter as our word. */
static const char *
auth_policy_word(int p)
{
	switch (p) {
	case DMARC_RECORD_P_REJECT:
		return "reject";
	case DMARC_RECORD_P_QUARANTINE:
		return "quarantine";
	default:
		return "none";
	}
}

/*
 * auth_tempfail_aligned: a temporary SPF or DKIM error on an identifier
 * aligned with From, which a retry might turn into a DMARC pass.
 */
static bool
auth_tempfail_aligned(DMARC_POLICY_T *pctx, const struct auth_result *res,
    const struct auth_sig *sigs, size_t nsigs)
{
	char	 from[AUTH_DOMAIN_MAX], other[AUTH_DOMAIN_MAX];
	int	 aspf = 0, adkim = 0;
	size_t	 i;

	(void)opendmarc_policy_fetch_aspf(pctx, &aspf);
	(void)opendmarc_policy_fetch_adkim(pctx, &adkim);
	str_lcpy(from, res->from_domain, sizeof(from));
	if (strcmp(res->spf, "temperror") == 0 && res->spf_domain[0] != '\0') {
		str_lcpy(other, res->spf_domain, sizeof(other));
		if (opendmarc_policy_check_alignment((u_char *)from,
		    (u_char *)other, aspf) == 0)
			return true;
	}
	for (i = 0; i < nsigs; i++) {
		if (sigs[i].outcome != AUTH_DKIM_TEMPERROR)
			continue;
		str_lcpy(other, sigs[i].domain, sizeof(other));
		if (opendmarc_policy_check_alignment((u_char *)from,
		    (u_char *)other, adkim) == 0)
			return true;
	}
	return false;
}

/* auth_dmarc_apply: the verdict of libopendmarc, with sp= and pct=. */
static void
auth_dmarc_apply(DMARC_POLICY_T *pctx, struct auth_result *res,
    const struct auth_sig *sigs, size_t nsigs)
{
	int	 p = 0, pct = 100, verdict;
	bool	 sub;

	verdict = opendmarc_get_policy_to_enforce(pctx);
	sub = opendmarc_get_policy_token_used(pctx) == DMARC_USED_POLICY_IS_SP;
	if (sub)
		(void)opendmarc_policy_fetch_sp(pctx, &p);
	else
		(void)opendmarc_policy_fetch_p(pctx, &p);
	auth_word(res->dmarc_policy, auth_policy_word(p));
	switch (verdict) {
	case DMARC_POLICY_PASS:
		auth_word(res->dmarc, "pass");
		return;
	case DMARC_POLICY_REJECT:
	case DMARC_POLICY_QUARANTINE:
	case DMARC_POLICY_NONE:
		break;
	default:
		auth_word(res->dmarc, "none");
		res->dmarc_policy[0] = '\0';
		return;
	}
	auth_word(res->dmarc, auth_tempfail_aligned(pctx, res, sigs, nsigs) ?
	    "temperror" : "fail");
	/* pct= (RFC 7489 6.6.4): outside the sample, one step milder */
	(void)opendmarc_policy_fetch_pct(pctx, &pct);
	if (pct >= 0 && pct < 100 &&
	    (pct == 0 || (int)arc4random_uniform(100) >= pct)) {
		if (strcmp(res->dmarc_policy, "reject") == 0)
			auth_word(res->dmarc_policy, "quarantine");
		else
			auth_word(res->dmarc_policy, "none");
	}
}

/* auth_dmarc: DMARC for the From domain, from the SPF and DKIM results. */
static void
auth_dmarc(const struct auth_input *in, struct auth_result *res, bool helo,
    const struct auth_sig *sigs, size_t nsigs)
{
	DMARC_POLICY_T	*pctx;
	char		*rec = NULL, org[AUTH_DOMAIN_MAX];
	char		 from[AUTH_DOMAIN_MAX], tmp[AUTH_DOMAIN_MAX];
	char		 sel[AUTH_DOMAIN_MAX];
	const char	*ip;
	bool		 at_org = false;
	size_t		 i;
	int		 rc;

	rc = auth_dmarc_fetch(in->dns, res->from_domain, &rec);
	if (rc == 0) {
		auth_orgdomain(res->from_domain, org, sizeof(org));
		if (org[0] != '\0' && strcmp(org, res->from_domain) != 0) {
			rc = auth_dmarc_fetch(in->dns, org, &rec);
			at_org = true;
		}
	}
	if (rc == -1) {
		auth_word(res->dmarc, "temperror");
		return;
	}
	if (rc == -2) {
		auth_word(res->dmarc, "permerror");
		return;
	}
	if (rc == 0)
		return;		/* none */

	ip = in->client_ip != NULL && in->client_ip[0] != '\0' ?
	    in->client_ip : "0.0.0.0";
	str_lcpy(tmp, ip, sizeof(tmp));
	pctx = opendmarc_policy_connect_init((u_char *)tmp,
	    strchr(ip, ':') != NULL);
	if (pctx == NULL)
		fatalx("auth_dmarc: out of memory");
	str_lcpy(from, res->from_domain, sizeof(from));
	if (opendmarc_policy_store_from_domain(pctx, (u_char *)from) !=
	    DMARC_PARSE_OKAY ||
	    opendmarc_policy_store_dmarc(pctx, (u_char *)rec, (u_char *)from,
	    at_org ? (u_char *)org : NULL) != DMARC_PARSE_OKAY) {
		auth_word(res->dmarc, "permerror");
		goto done;
	}
	if (res->spf_domain[0] != '\0') {
		str_lcpy(tmp, res->spf_domain, sizeof(tmp));
		(void)opendmarc_policy_store_spf(pctx, (u_char *)tmp,
		    auth_spf_outcome(res->spf), helo ?
		    DMARC_POLICY_SPF_ORIGIN_HELO :
		    DMARC_POLICY_SPF_ORIGIN_MAILFROM, NULL);
	}
	for (i = 0; i < nsigs; i++) {
		str_lcpy(tmp, sigs[i].domain, sizeof(tmp));
		str_lcpy(sel, sigs[i].selector, sizeof(sel));
		(void)opendmarc_policy_store_dkim(pctx, (u_char *)tmp,
		    (u_char *)sel, auth_dkim_outcome(sigs[i].outcome), NULL);
	}
	auth_dmarc_apply(pctx, res, sigs, nsigs);
done:
	opendmarc_policy_connect_shutdown(pctx);
	free(rec);
}

/*
 * --- the header ------------------------------------------------------
 */

/* auth_header: the Authentication-Results field, folded, ASCII only. */
static char *
auth_header(const struct auth_input *in, const struct auth_result *res,
    bool helo)
{
	const char	*id = in->authserv_id;

	if (id == NULL || !auth_name_ok(id))
		id = "localhost";
	return xasprintf("Authentication-Results: %s;\r\n"
	    "\tspf=%s%s%s;\r\n"
	    "\tdkim=%s%s%s;\r\n"
	    "\tdmarc=%s%s%s\r\n",
	    id,
	    res->spf, auth_name_ok(res->spf_domain) ?
	    (helo ? " smtp.helo=" : " smtp.mailfrom=") : "",
	    auth_name_ok(res->spf_domain) ? res->spf_domain : "",
	    res->dkim, auth_name_ok(res->dkim_domain) ? " header.d=" : "",
	    auth_name_ok(res->dkim_domain) ? res->dkim_domain : "",
	    res->dmarc, auth_name_ok(res->from_domain) ? " header.from=" : "",
	    auth_name_ok(res->from_domain) ? res->from_domain : "");
}

/*
 * --- the API ---------------------------------------------------------
 */

/*
 * auth_init: load the libraries once per process; psl is the public
 * suffix list (NULL: the Debian path).  -1 with a message in err.
 */
int
auth_init(const char *psl, char *err, size_t errlen)
{
	SPF_dns_server_t	*d;
	unsigned int		 minbits = 1024;

	if (auth.ready)
		return 0;
	SPF_error_handler = auth_spf_error;
	SPF_warning_handler = auth_spf_log;
	SPF_info_handler = auth_spf_log;
	SPF_debug_handler = auth_spf_log;

	d = xcalloc(1, sizeof(*d));
	d->destroy = NULL;		/* ours: freed in auth_shutdown */
	d->lookup = auth_spf_lookup;
	d->name = "sekisho-wdns";
	auth.spf_dns = d;
	auth.spf = SPF_server_new_dns(d, 0);
	if (auth.spf == NULL) {
		str_printf(err, errlen, "libspf2: cannot create a server");
		goto fail;
	}

	auth.dkim = dkim_init(NULL, NULL);
	if (auth.dkim == NULL) {
		str_printf(err, errlen, "libopendkim: dkim_init failed");
		goto fail;
	}
	if (dkim_set_key_lookup(auth.dkim, auth_dkim_key) != DKIM_STAT_OK ||
	    dkim_options(auth.dkim, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS,
	    &minbits, sizeof(minbits)) != DKIM_STAT_OK) {
		str_printf(err, errlen, "libopendkim: cannot set options");
		goto fail;
	}

	memset(&auth.dmarc, 0, sizeof(auth.dmarc));
	auth.dmarc.tld_type = OPENDMARC_TLD_TYPE_NONE;
	if (opendmarc_policy_library_init(&auth.dmarc) != DMARC_PARSE_OKAY) {
		str_printf(err, errlen, "libopendmarc: init failed");
		goto fail;
	}
	if (psl == NULL)
		psl = AUTH_PSL_DEFAULT;
	if (opendmarc_tld_read_file((char *)(uintptr_t)psl, "//", "*.",
	    "!") != 0) {
		str_printf(err, errlen, "%s: cannot read the public suffix "
		    "list", psl);
		(void)opendmarc_policy_library_shutdown(&auth.dmarc);
		goto fail;
	}
	auth.psl = true;
	auth.ready = true;
	return 0;
fail:
	if (auth.dkim != NULL)
		dkim_close(auth.dkim);
	auth.dkim = NULL;
	if (auth.spf != NULL)
		SPF_server_free(auth.spf);
	auth.spf = NULL;
	free(auth.spf_dns);
	auth.spf_dns = NULL;
	return -1;
}

/* auth_shutdown: release the libraries (auth_init may be called again). */
void
auth_shutdown(void)
{
	if (!auth.ready)
		return;
	SPF_server_free(auth.spf);
	free(auth.spf_dns);
	dkim_close(auth.dkim);
	(void)opendmarc_policy_library_shutdown(&auth.dmarc);
	memset(&auth, 0, sizeof(auth));
}

/* auth_check: SPF, DKIM and DMARC of one message; res is always filled. */
void
auth_check(const struct auth_input *in, struct auth_result *res)
{
	struct auth_sig	*sigs;
	size_t		 nsigs;
	bool		 helo = false, signed_msg;
	int		 nfrom;

	memset(res, 0, sizeof(*res));
	auth_word(res->spf, "none");
	auth_word(res->dkim, "none");
	auth_word(res->dmarc, "none");

	auth_spf(in, res, &helo);
	nfrom = auth_from(in, res->from_domain, sizeof(res->from_domain),
	    &signed_msg);
	sigs = xcalloc(AUTH_MAX_SIGS, sizeof(*sigs));
	nsigs = auth_dkim(in, res, signed_msg, sigs);
	if (nfrom != 1 || res->from_domain[0] == '\0')
		auth_word(res->dmarc, "permerror");	/* RFC 7489 6.6.1 */
	else if (!auth.ready)
		auth_word(res->dmarc, "temperror");
	else
		auth_dmarc(in, res, helo, sigs, nsigs);
	free(sigs);
	res->header = auth_header(in, res, helo);
}

/* auth_result_free: release what auth_check allocated. */
void
auth_result_free(struct auth_result *res)
{
	free(res->header);
	res->header = NULL;
}
