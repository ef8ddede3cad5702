/*
 * conf.c: the typed configuration layer (see conf.h).
 *
 * Owns struct sekisho_conf: turns the entries of a parsed INI file into
 * typed fields by walking the schema of conf_schema.c, applies defaults
 * by parsing each row's default text through the same value parser, warns
 * about keys and sections the schema does not know, and frees everything
 * the schema says a field owns.
 */
#include <sys/stat.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "conf.h"
#include "diag.h"
#include "ini.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define CONF_ERR_MAX	512		/* a value parser's error text */
#define CONF_PATH_MAX	4095
#define CONF_USER_MAX	32
#define CONF_DOMAIN_MAX	253

/* conf_field: where row k stores its value. */
static void *
conf_field(struct sekisho_conf *c, const struct conf_key *k)
{
	return (char *)c + k->off;
}

/* conf_is_int: an optional '-' and at least one digit, nothing else. */
static bool
conf_is_int(const char *s)
{
	if (*s == '-')
		s++;
	return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

/* conf_domain_valid: a DNS host or domain name (LDH labels, no IP). */
static bool
conf_domain_valid(const char *s)
{
	const char *label, *dot;
	size_t	 n, len = strlen(s);

	if (len == 0 || len > CONF_DOMAIN_MAX)
		return false;
	for (label = s;; label = dot + 1) {
		dot = strchr(label, '.');
		n = dot != NULL ? (size_t)(dot - label) : strlen(label);
		if (n == 0 || n > 63 || label[0] == '-' || label[n - 1] == '-')
			return false;
		if (strspn(label, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") < n)
			return false;
		if (dot == NULL)
			break;
	}
	/* An all-numeric last label is an IP address gone wrong. */
	return strspn(label, "0123456789") < n;
}

/* conf_user_valid: a portable system user name. */
static bool
conf_user_valid(const char *s)
{
	size_t	 n = strlen(s);

	return n > 0 && n <= CONF_USER_MAX && s[0] != '-' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* conf_ip_parse: an IPv4 or IPv6 address into ip; false if it is neither. */
static bool
conf_ip_parse(const char *s, struct conf_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (inet_pton(AF_INET, s, &ip->addr.v4) == 1)
		ip->family = AF_INET;
	else if (inet_pton(AF_INET6, s, &ip->addr.v6) == 1)
		ip->family = AF_INET6;
	else
		return false;
	if (inet_ntop(ip->family, &ip->addr, ip->text, sizeof(ip->text)) ==
	    NULL) {
		memset(ip, 0, sizeof(*ip));
		return false;
	}
	return true;
}

/* conf_type_name: the short type name shown in docs. */
const char *
conf_type_name(const struct conf_key *k)
{
	switch (k->type) {
	case CONF_T_BOOL:	return "bool";
	case CONF_T_INT:	return "integer";
	case CONF_T_STR:	return "string";
	case CONF_T_PATH:	return "path";
	case CONF_T_ENUM:	return "enum";
	case CONF_T_IP:		return "IP address";
	case CONF_T_IPLIST:	return "IP address list";
	case CONF_T_HOSTPORT:	return "host:port";
	case CONF_T_DOMAIN:	return "domain";
	case CONF_T_USER:	return "user";
	case CONF_T_LIST:	return "indexed list";
	case CONF_T_NETLIST:	return "network list";
	case CONF_T_DOMAINLIST:	return "domain list";
	case CONF_T_SCORE:	return "score";
	}
	return "?";
}

/* conf_enum_words: "a, b, c" for an enum row. */
static void
conf_enum_words(const struct conf_key *k, char *buf, size_t size)
{
	size_t	 i;

	buf[0] = '\0';
	for (i = 0; k->words[i] != NULL; i++) {
		if (i > 0)
			str_lcat(buf, ", ", size);
		str_lcat(buf, k->words[i], size);
	}
}

/*
 * conf_valid_text: what values row k accepts, in words, for error
 * messages and docs ("512..4096, or 0 for the default 8196").
 */
const char *
conf_valid_text(const struct conf_key *k, char *buf, size_t size)
{
	const char *empty = k->flags & CONF_F_EMPTY ? ", or empty" : "";
	char	 w[256];

	switch (k->type) {
	case CONF_T_BOOL:
		str_lcpy(buf, "0 or 1 (also no/yes, false/true, off/on)", size);
		break;
	case CONF_T_INT:
		if (k->flags & CONF_F_ZERO_DEFAULT)
			(void)str_printf(buf, size, "%lld..%lld, or 0 for the "
			    "default %lld", k->min, k->max, k->zero_means);
		else
			(void)str_printf(buf, size, "%lld..%lld", k->min,
			    k->max);
		break;
	case CONF_T_SCORE:
		(void)str_printf(buf, size, "%lld..%lld, up to two decimals",
		    k->min, k->max);
		break;
	case CONF_T_STR:
		(void)str_printf(buf, size, "text of at most %lld bytes%s",
		    k->max, k->flags & CONF_F_EMPTY ? ", may be empty" : "");
		break;
	case CONF_T_PATH:
		(void)str_printf(buf, size, "absolute, or relative to the "
		    "configuration directory%s", empty);
		break;
	case CONF_T_ENUM:
		conf_enum_words(k, w, sizeof(w));
		(void)str_printf(buf, size, "one of %s", w);
		break;
	case CONF_T_IP:
		(void)str_printf(buf, size, "an IPv4 or IPv6 address%s", empty);
		break;
	case CONF_T_IPLIST:
		(void)str_printf(buf, size, "comma-separated IPv4 or IPv6 "
		    "addresses (at most %lld)%s", k->max, empty);
		break;
	case CONF_T_HOSTPORT:
		(void)str_printf(buf, size, "host[:port] or [IPv6]:port, port "
		    "1..65535 (default %lld)%s", k->zero_means, empty);
		break;
	case CONF_T_DOMAIN:
		(void)str_printf(buf, size, "a host or domain name%s", empty);
		break;
	case CONF_T_USER:
		(void)str_printf(buf, size, "a user name (letters, digits, "
		    "\"_\", \".\", \"-\"; at most %d)", CONF_USER_MAX);
		break;
	case CONF_T_NETLIST:
		(void)str_printf(buf, size, "comma-separated IPv4/IPv6 "
		    "addresses and networks (CIDR, e.g. 192.0.2.0/24, "
		    "2001:db8::/32)%s", empty);
		break;
	case CONF_T_DOMAINLIST:
		(void)str_printf(buf, size, "comma-separated domains: "
		    "example.com (exactly), .example.com or *.example.com "
		    "(its subdomains); at most %lld%s", k->max, empty);
		break;
	case CONF_T_LIST:
		(void)str_printf(buf, size, "%sCount=N (%lld..%lld), then "
		    "%s0..%s(N-1), each %s", k->name, k->min, k->max, k->name,
		    k->name, k->elem == CONF_T_DOMAIN ?
		    "a host or domain name" : "a value");
		break;
	}
	return buf;
}

/* conf_parse_bool: the accepted spellings of true and false. */
static int
conf_parse_bool(const char *s, bool *out, char *err, size_t esz)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };
	char	 q[DIAG_QUOTE_MAX];
	size_t	 i;

	for (i = 0; i < nitems(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	(void)str_printf(err, esz, "\"%s\" is not a boolean (use 0 or 1)",
	    diag_quote(q, sizeof(q), s));
	return -1;
}

/* conf_parse_int: an integer in the row's range (0 may mean a default). */
static int
conf_parse_int(const struct conf_key *k, const char *s, long long *out,
    char *err, size_t esz)
{
	char	 q[DIAG_QUOTE_MAX], v[128];
	long long n;

	if (k->type == CONF_T_LIST)	/* the count of a list */
		(void)str_printf(v, sizeof(v), "%lld..%lld", k->min, k->max);
	else
		conf_valid_text(k, v, sizeof(v));
	if (!conf_is_int(s)) {
		(void)str_printf(err, esz, "\"%s\" is not an integer (%s)",
		    diag_quote(q, sizeof(q), s), v);
		return -1;
	}
	if ((k->flags & CONF_F_ZERO_DEFAULT) && str_to_ll(s, 0, 0, &n)) {
		*out = k->zero_means;
		return 0;
	}
	if (!str_to_ll(s, k->min, k->max, &n)) {
		(void)str_printf(err, esz, "%s is out of range (%s)",
		    diag_quote(q, sizeof(q), s), v);
		return -1;
	}
	*out = n;
	return 0;
}

/* conf_parse_score: "D[.D[D]]" within [min, max] into a double. */
static int
conf_parse_score(const struct conf_key *k, const char *s, double *out,
    char *err, size_t esz)
{
	char	 q[DIAG_QUOTE_MAX], v[128];
	size_t	 nint = strspn(s, "0123456789"), nfrac = 0;
	double	 d;

	conf_valid_text(k, v, sizeof(v));
	if (s[nint] == '.')
		nfrac = strspn(s + nint + 1, "0123456789");
	if (nint == 0 || nint > 6 || (s[nint] == '.' && (nfrac == 0 ||
	    nfrac > 2)) || s[nint + (s[nint] == '.' ? 1 + nfrac : 0)] !=
	    '\0') {
		(void)str_printf(err, esz, "\"%s\" is not a score (%s)",
		    diag_quote(q, sizeof(q), s), v);
		return -1;
	}
	d = strtod(s, NULL);
	if (d < (double)k->min || d > (double)k->max) {
		(void)str_printf(err, esz, "%s is out of range (%s)",
		    diag_quote(q, sizeof(q), s), v);
		return -1;
	}
	*out = d;
	return 0;
}

/* conf_parse_path: a path, made absolute against the configuration dir. */
static int
conf_parse_path(const struct sekisho_conf *c, const char *s, char **out,
    char *err, size_t esz)
{
	char	*p;

	if (*s == '/' || *s == '\0' || c->confdir == NULL)
		p = xstrdup(s);
	else if (strcmp(c->confdir, "/") == 0)
		p = xasprintf("/%s", s);
	else
		p = xasprintf("%s/%s", c->confdir, s);
	if (strlen(p) > CONF_PATH_MAX) {
		(void)str_printf(err, esz, "path too long (%zu bytes, at most "
		    "%d)", strlen(p), CONF_PATH_MAX);
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* conf_parse_iplist: comma-separated addresses, blanks around each. */
static int
conf_parse_iplist(const struct conf_key *k, const char *s,
    struct conf_iplist *out, char *err, size_t esz)
{
	char	 q[DIAG_QUOTE_MAX], *copy, *item, *next;
	struct conf_ip *v = NULL;
	size_t	 n = 0;
	int	 rc = 0;

	copy = xstrdup(s);
	for (item = copy; item != NULL && rc == 0; item = next) {
		if ((next = strchr(item, ',')) != NULL)
			*next++ = '\0';
		item = str_trim(item);
		if (*item == '\0') {
			(void)str_printf(err, esz, "empty item %zu in the list",
			    n + 1);
			rc = -1;
		} else if ((long long)n >= k->max) {
			(void)str_printf(err, esz, "more than %lld addresses",
			    k->max);
			rc = -1;
		} else {
			v = xreallocarray(v, n + 1, sizeof(*v));
			if (!conf_ip_parse(item, &v[n])) {
				(void)str_printf(err, esz, "\"%s\" is not an "
				    "IPv4 or IPv6 address",
				    diag_quote(q, sizeof(q), item));
				rc = -1;
			}
			n++;
		}
	}
	free(copy);
	if (rc == -1) {
		free(v);
		return -1;
	}
	out->v = v;
	out->n = n;
	return 0;
}

/* conf_parse_netlist: addresses and CIDR networks (netaddr.c). */
static int
conf_parse_netlist(const char *s, struct netaddr_list *out, char *err,
    size_t esz)
{
	netaddr_list_init(out);
	if (!netaddr_list_parse(out, s, err, esz)) {
		netaddr_list_free(out);
		return -1;
	}
	return 0;
}

/* conf_parse_domainlist: comma-separated domain patterns. */
static int
conf_parse_domainlist(const struct conf_key *k, const char *s,
    struct conf_strlist *out, char *err, size_t esz)
{
	char	 q[DIAG_QUOTE_MAX], *copy, *item, *next, *dom;
	struct conf_strlist l = { NULL, 0 };
	int	 rc = 0;

	copy = xstrdup(s);
	for (item = copy; item != NULL && rc == 0; item = next) {
		if ((next = strchr(item, ',')) != NULL)
			*next++ = '\0';
		item = str_trim(item);
		dom = item;
		if (strncmp(dom, "*.", 2) == 0)
			dom += 2;
		else if (*dom == '.')
			dom++;
		if (*item == '\0') {
			(void)str_printf(err, esz, "empty item %zu in the list",
			    l.n + 1);
			rc = -1;
		} else if ((long long)l.n >= k->max) {
			(void)str_printf(err, esz, "more than %lld domains",
			    k->max);
			rc = -1;
		} else if (!addr_is_domain(dom, true, NULL)) {
			(void)str_printf(err, esz, "\"%s\" is not a domain or "
			    "domain pattern", diag_quote(q, sizeof(q), item));
			rc = -1;
		} else {
			l.v = xreallocarray(l.v, l.n + 1, sizeof(char *));
			l.v[l.n++] = xstrdup(item);
		}
	}
	free(copy);
	if (rc == -1) {
		while (l.n > 0)
			free(l.v[--l.n]);
		free(l.v);
		return -1;
	}
	*out = l;
	return 0;
}

/* conf_parse_hostport: "host[:port]" or "[v6][:port]". */
static int
conf_parse_hostport(const struct conf_key *k, const char *s,
    struct conf_hostport *out, char *err, size_t esz)
{
	char	 q[DIAG_QUOTE_MAX], *copy, *host, *port = NULL, *close;
	struct in6_addr a6;
	struct in_addr a4;
	long long p = k->zero_means;
	int	 rc = -1;

	copy = xstrdup(s);
	host = copy;
	if (*host == '[') {
		host++;
		if ((close = strchr(host, ']')) == NULL ||
		    (close[1] != '\0' && close[1] != ':')) {
			(void)str_printf(err, esz, "\"%s\": expected "
			    "[IPv6]:port", diag_quote(q, sizeof(q), s));
			goto done;
		}
		*close = '\0';
		if (close[1] == ':')
			port = close + 2;
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			(void)str_printf(err, esz, "\"%s\" is not an IPv6 "
			    "address", diag_quote(q, sizeof(q), host));
			goto done;
		}
	} else {
		if ((port = strchr(host, ':')) != NULL) {
			*port++ = '\0';
			if (strchr(port, ':') != NULL) {
				(void)str_printf(err, esz, "\"%s\": write an "
				    "IPv6 address in brackets, [addr]:port",
				    diag_quote(q, sizeof(q), s));
				goto done;
			}
		}
		if (inet_pton(AF_INET, host, &a4) != 1 &&
		    !conf_domain_valid(host)) {
			(void)str_printf(err, esz, "\"%s\" is not a host name "
			    "or IP address", diag_quote(q, sizeof(q), host));
			goto done;
		}
	}
	if (port != NULL && !str_to_ll(port, 1, 65535, &p)) {
		(void)str_printf(err, esz, "port \"%s\" is not 1..65535",
		    diag_quote(q, sizeof(q), port));
		goto done;
	}
	out->host = xstrdup(host);
	out->port = (int)p;
	rc = 0;
done:
	free(copy);
	return rc;
}

/* conf_parse_enum: one of the row's words (any case) to its index. */
static int
conf_parse_enum(const struct conf_key *k, const char *s, int *out, char *err,
    size_t esz)
{
	char	 q[DIAG_QUOTE_MAX], w[256];
	int	 i;

	for (i = 0; k->words[i] != NULL; i++) {
		if (strcasecmp(s, k->words[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	conf_enum_words(k, w, sizeof(w));
	(void)str_printf(err, esz, "\"%s\" is not one of %s",
	    diag_quote(q, sizeof(q), s), w);
	return -1;
}

/* conf_parse_text: the string-valued types, checked, into a new string. */
static int
conf_parse_text(const struct sekisho_conf *c, const struct conf_key *k,
    enum conf_type type, const char *s, char **out, char *err, size_t esz)
{
	char	 q[DIAG_QUOTE_MAX], v[128];

	switch (type) {
	case CONF_T_STR:
		if (k->max > 0 && strlen(s) > (size_t)k->max) {
			(void)str_printf(err, esz, "too long (%zu bytes, at "
			    "most %lld)", strlen(s), k->max);
			return -1;
		}
		break;
	case CONF_T_PATH:
		return conf_parse_path(c, s, out, err, esz);
	case CONF_T_DOMAIN:
		if (!conf_domain_valid(s)) {
			(void)str_printf(err, esz, "\"%s\" is not a valid host "
			    "or domain name", diag_quote(q, sizeof(q), s));
			return -1;
		}
		break;
	case CONF_T_USER:
		if (!conf_user_valid(s)) {
			(void)str_printf(err, esz, "\"%s\" is not %s",
			    diag_quote(q, sizeof(q), s),
			    conf_valid_text(k, v, sizeof(v)));
			return -1;
		}
		break;
	default:
		fatalx("conf_parse_text: %s: type %d is not text", k->name,
		    (int)type);
	}
	*out = xstrdup(s);
	return 0;
}

/*
 * conf_parse_as: parse s as a value of type (the row's own type, or its
 * item type for list items) into dst; 0, or -1 with the reason in err.
 */
static int
conf_parse_as(const struct sekisho_conf *c, const struct conf_key *k,
    enum conf_type type, const char *s, void *dst, char *err, size_t esz)
{
	char	 q[DIAG_QUOTE_MAX];
	long long n;

	if (*s == '\0' && type != CONF_T_LIST) {
		if (!(k->flags & CONF_F_EMPTY) || type == CONF_T_BOOL ||
		    type == CONF_T_INT || type == CONF_T_ENUM ||
		    type == CONF_T_SCORE) {
			(void)str_printf(err, esz, "must not be empty");
			return -1;
		}
		if (type == CONF_T_IP || type == CONF_T_IPLIST ||
		    type == CONF_T_HOSTPORT || type == CONF_T_NETLIST ||
		    type == CONF_T_DOMAINLIST)
			return 0;	/* stays zero: "not set" */
		*(char **)dst = xstrdup("");
		return 0;
	}
	switch (type) {
	case CONF_T_BOOL:
		return conf_parse_bool(s, dst, err, esz);
	case CONF_T_INT:
		return conf_parse_int(k, s, dst, err, esz);
	case CONF_T_SCORE:
		return conf_parse_score(k, s, dst, err, esz);
	case CONF_T_ENUM:
		return conf_parse_enum(k, s, dst, err, esz);
	case CONF_T_IP:
		if (conf_ip_parse(s, dst))
			return 0;
		(void)str_printf(err, esz, "\"%s\" is not an IPv4 or IPv6 "
		    "address", diag_quote(q, sizeof(q), s));
		return -1;
	case CONF_T_IPLIST:
		return conf_parse_iplist(k, s, dst, err, esz);
	case CONF_T_HOSTPORT:
		return conf_parse_hostport(k, s, dst, err, esz);
	case CONF_T_NETLIST:
		return conf_parse_netlist(s, dst, err, esz);
	case CONF_T_DOMAINLIST:
		return conf_parse_domainlist(k, s, dst, err, esz);
	case CONF_T_LIST:
		/* The row's value is the count; the items come later. */
		if (conf_parse_int(k, s, &n, err, esz) == -1)
			return -1;
		((struct conf_strlist *)dst)->n = (size_t)n;
		if (n > 0)
			((struct conf_strlist *)dst)->v = xcalloc(n,
			    sizeof(char *));
		return 0;
	default:
		return conf_parse_text(c, k, type, s, dst, err, esz);
	}
}

/*
 * conf_value_text: row k's current value as text, appended to b: lists
 * comma-separated, paths absolute, an empty value as nothing (for
 * sekishoctl config get, and the tests).
 */
void
conf_value_text(const struct sekisho_conf *c, const struct conf_key *k,
    struct buf *b)
{
	const void *p = (const char *)c + k->off;
	const struct conf_iplist *il;
	const struct conf_hostport *hp;
	const struct conf_strlist *sl;
	const struct netaddr_list *nl;
	char	 net[INET6_ADDRSTRLEN + 8];
	size_t	 i;

	switch (k->type) {
	case CONF_T_BOOL:
		buf_addstr(b, *(const bool *)p ? "1" : "0");
		break;
	case CONF_T_INT:
		buf_printf(b, "%lld", *(const long long *)p);
		break;
	case CONF_T_SCORE:
		buf_printf(b, "%g", *(const double *)p);
		break;
	case CONF_T_ENUM:
		buf_addstr(b, k->words[*(const int *)p]);
		break;
	case CONF_T_IP:
		buf_addstr(b, ((const struct conf_ip *)p)->text);
		break;
	case CONF_T_IPLIST:
		il = p;
		for (i = 0; i < il->n; i++)
			buf_printf(b, "%s%s", i ? "," : "", il->v[i].text);
		break;
	case CONF_T_HOSTPORT:
		hp = p;
		if (hp->host != NULL)
			buf_printf(b, strchr(hp->host, ':') ? "[%s]:%d" :
			    "%s:%d", hp->host, hp->port);
		break;
	case CONF_T_NETLIST:
		nl = p;
		for (i = 0; i < nl->n; i++) {
			if (!netaddr_format(net, sizeof(net), &nl->v[i]))
				str_lcpy(net, "?", sizeof(net));
			buf_printf(b, "%s%s", i ? "," : "", net);
		}
		break;
	case CONF_T_LIST:
	case CONF_T_DOMAINLIST:
		sl = p;
		for (i = 0; i < sl->n; i++)
			buf_printf(b, "%s%s", i ? "," : "", sl->v[i]);
		break;
	default:
		if (*(char *const *)p != NULL)
			buf_addstr(b, *(char *const *)p);
		break;
	}
}

/* conf_free_value: release what row k's field owns and zero it. */
void
conf_free_value(struct sekisho_conf *c, const struct conf_key *k)
{
	void	*p = conf_field(c, k);
	struct conf_strlist *l;
	size_t	 i;

	switch (k->type) {
	case CONF_T_BOOL:
		*(bool *)p = false;
		break;
	case CONF_T_INT:
		*(long long *)p = 0;
		break;
	case CONF_T_SCORE:
		*(double *)p = 0;
		break;
	case CONF_T_ENUM:
		*(int *)p = 0;
		break;
	case CONF_T_IP:
		memset(p, 0, sizeof(struct conf_ip));
		break;
	case CONF_T_IPLIST:
		free(((struct conf_iplist *)p)->v);
		memset(p, 0, sizeof(struct conf_iplist));
		break;
	case CONF_T_HOSTPORT:
		free(((struct conf_hostport *)p)->host);
		memset(p, 0, sizeof(struct conf_hostport));
		break;
	case CONF_T_NETLIST:
		netaddr_list_free(p);
		memset(p, 0, sizeof(struct netaddr_list));
		break;
	case CONF_T_LIST:
	case CONF_T_DOMAINLIST:
		l = p;
		for (i = 0; i < l->n; i++)
			free(l->v[i]);
		free(l->v);
		memset(l, 0, sizeof(*l));
		break;
	default:
		free(*(char **)p);
		*(char **)p = NULL;
		break;
	}
}

/*
 * conf_parse_value: set row k's field from text (a list row takes its
 * count); 0, or -1 with the reason in err and the field left empty.
 */
int
conf_parse_value(struct sekisho_conf *c, const struct conf_key *k,
    const char *text, char *err, size_t esz)
{
	conf_free_value(c, k);
	return conf_parse_as(c, k, k->type, text, conf_field(c, k), err, esz);
}

/* conf_apply_key: one scalar row, from the file or from its default. */
static int
conf_apply_key(struct sekisho_conf *c, const struct conf_section *s,
    const struct conf_key *k, const struct ini *ini, struct diag *d)
{
	const struct ini_entry *e = ini_find(ini, s->name, k->name);
	char	 err[CONF_ERR_MAX];

	if (conf_parse_value(c, k, e != NULL ? e->value : k->def, err,
	    sizeof(err)) == 0)
		return 0;
	if (e != NULL)
		diag_add(d, DIAG_ERROR, ini->file, e->line, "%s: %s", k->name,
		    err);
	else
		diag_add(d, DIAG_ERROR, ini->file, 0, "%s: bad built-in "
		    "default \"%s\": %s", k->name, k->def, err);
	return 1;
}

/* conf_apply_list: an indexed list: NameCount=N, then Name0..Name(N-1). */
static int
conf_apply_list(struct sekisho_conf *c, const struct conf_section *s,
    const struct conf_key *k, const struct ini *ini, struct diag *d)
{
	struct conf_key count = *k;
	struct conf_strlist *l = conf_field(c, k);
	const struct ini_entry *e;
	char	 cname[INI_MAX_KEY + 8], iname[INI_MAX_KEY + 24];
	size_t	 i;
	int	 nerr = 0;

	(void)str_printf(cname, sizeof(cname), "%sCount", k->name);
	count.name = cname;
	if (conf_apply_key(c, s, &count, ini, d) != 0)
		return 1;
	e = ini_find(ini, s->name, cname);
	for (i = 0; i < l->n; i++) {
		const struct ini_entry *ie;
		char	 err[CONF_ERR_MAX];

		(void)str_printf(iname, sizeof(iname), "%s%zu", k->name, i);
		if ((ie = ini_find(ini, s->name, iname)) == NULL) {
			diag_add(d, DIAG_ERROR, ini->file,
			    e != NULL ? e->line : 0, "%s is missing (%s=%zu "
			    "needs %s0..%s%zu)", iname, cname, l->n, k->name,
			    k->name, l->n - 1);
			nerr++;
		} else if (conf_parse_as(c, k, k->elem, ie->value, &l->v[i],
		    err, sizeof(err)) == -1) {
			diag_add(d, DIAG_ERROR, ini->file, ie->line, "%s: %s",
			    iname, err);
			nerr++;
		}
	}
	return nerr;
}

/* conf_section_find: the schema section called name in file f, or NULL. */
static const struct conf_section *
conf_section_find(const struct conf_file *f, const char *name)
{
	size_t	 i;

	for (i = 0; i < f->nsections; i++)
		if (strcasecmp(f->sections[i].name, name) == 0)
			return &f->sections[i];
	return NULL;
}

/*
 * conf_list_index: if key is the list row's name followed by a canonical
 * decimal index, that index; else -1.
 */
static long long
conf_list_index(const struct conf_key *k, const char *key)
{
	size_t	 n = strlen(k->name);
	long long idx;

	if (strncasecmp(key, k->name, n) != 0)
		return -1;
	key += n;
	if (key[0] == '0' && key[1] != '\0')
		return -1;
	if (strspn(key, "0123456789") != strlen(key) ||
	    !str_to_ll(key, 0, INT_MAX, &idx))
		return -1;
	return idx;
}

/*
 * conf_key_known: whether key belongs to section s.  A list item past the
 * count is unknown; hint then says what the count is.
 */
static bool
conf_key_known(const struct conf_section *s, const struct ini *ini,
    const char *key, char *hint, size_t hsz)
{
	const struct conf_key *k;
	char	 cname[INI_MAX_KEY + 8];
	const char *cv;
	long long idx, n;
	size_t	 i;

	hint[0] = '\0';
	if (s->map != NULL)
		return true;
	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		if (k->type != CONF_T_LIST) {
			if (strcasecmp(k->name, key) == 0)
				return true;
			continue;
		}
		(void)str_printf(cname, sizeof(cname), "%sCount", k->name);
		if (strcasecmp(cname, key) == 0)
			return true;
		if ((idx = conf_list_index(k, key)) < 0)
			continue;
		if ((cv = ini_get(ini, s->name, cname)) == NULL)
			cv = k->def;
		/* A bad count was reported; do not pile warnings on it. */
		if (!str_to_ll(cv, k->min, k->max, &n) || idx < n)
			return true;
		(void)str_printf(hint, hsz, " (%s is %lld)", cname, n);
		return false;
	}
	return false;
}

/*
 * Sections another module reads from the same file, by name prefix: they
 * are neither applied nor warned about here.  policy.ini's rules
 * ([rule "NAME"]) belong to the scan server, which validates them
 * (scanner/policy.c, docs/policy.md).
 */
static const struct {
	const char	*file;
	const char	*prefix;
} conf_foreign[] = {
	{ "policy.ini", "rule" },
};

/* conf_section_foreign: section name of file f belongs to another reader. */
static bool
conf_section_foreign(const struct conf_file *f, const char *name)
{
	size_t	 i;

	for (i = 0; i < nitems(conf_foreign); i++)
		if (strcmp(f->name, conf_foreign[i].file) == 0 &&
		    strncasecmp(name, conf_foreign[i].prefix,
		    strlen(conf_foreign[i].prefix)) == 0)
			return true;
	return false;
}

/* conf_warn_unknown: a warning for every section and key not in f. */
static void
conf_warn_unknown(const struct conf_file *f, const struct ini *ini,
    struct diag *d)
{
	const struct conf_section *s;
	const struct ini_entry *e;
	char	 hint[128];
	size_t	 i;

	for (i = 0; i < ini->nsections; i++)
		if (conf_section_find(f, ini->sections[i].name) == NULL &&
		    !conf_section_foreign(f, ini->sections[i].name))
			diag_add(d, DIAG_WARNING, ini->file,
			    ini->sections[i].line, "unknown section [%s]",
			    ini->sections[i].name);
	for (i = 0; i < ini->nentries; i++) {
		e = &ini->entries[i];
		s = conf_section_find(f, ini->sections[e->section].name);
		if (s == NULL ||
		    conf_key_known(s, ini, e->key, hint, sizeof(hint)))
			continue;
		diag_add(d, DIAG_WARNING, ini->file, e->line,
		    "unknown key \"%s\" in [%s]%s", e->key,
		    ini->sections[e->section].name, hint);
	}
}

/* conf_apply_map: hand every entry of a map section to its parser. */
static int
conf_apply_map(struct sekisho_conf *c, const struct conf_section *s,
    const struct ini *ini, struct diag *d)
{
	const struct ini_entry *e;
	char	 err[CONF_ERR_MAX];
	size_t	 i;
	int	 nerr = 0;

	for (i = 0; i < ini->nentries; i++) {
		e = &ini->entries[i];
		if (strcasecmp(ini->sections[e->section].name, s->name) != 0)
			continue;
		if (s->map->parse(c, e->key, e->value, e->line, err,
		    sizeof(err)) == -1) {
			diag_add(d, DIAG_ERROR, ini->file, e->line, "%s: %s",
			    e->key, err);
			nerr++;
		}
	}
	return nerr;
}

/*
 * conf_apply: fill the fields of file f from a parsed INI (defaults for
 * absent keys), warn about unknown keys; -1 if any value was invalid.
 * Relative paths are resolved against c->confdir when it is set.
 */
int
conf_apply(struct sekisho_conf *c, const struct conf_file *f,
    const struct ini *ini, struct diag *d)
{
	const struct conf_section *s;
	size_t	 i, j;
	int	 nerr = 0;

	for (i = 0; i < f->nsections; i++) {
		s = &f->sections[i];
		if (s->map != NULL)
			nerr += conf_apply_map(c, s, ini, d);
		for (j = 0; j < s->nkeys; j++) {
			if (s->keys[j].type == CONF_T_LIST)
				nerr += conf_apply_list(c, s, &s->keys[j], ini,
				    d);
			else
				nerr += conf_apply_key(c, s, &s->keys[j], ini,
				    d);
		}
	}
	conf_warn_unknown(f, ini, d);
	if (nerr == 0 && f->check != NULL)
		nerr += f->check(c, ini, d);
	return nerr > 0 ? -1 : 0;
}

/* conf_file_find: the schema of the file called name, or NULL. */
const struct conf_file *
conf_file_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < conf_nfiles; i++)
		if (strcmp(conf_files[i].name, name) == 0)
			return &conf_files[i];
	return NULL;
}

static const char *const conf_tls_words[] = {
	"none", "may", "encrypt", "verify", NULL
};

/* conf_tls_policy_name: "none", "may", "encrypt" or "verify". */
const char *
conf_tls_policy_name(int p)
{
	if (p < 0 || p > CONF_TLS_VERIFY)
		return "default";
	return conf_tls_words[p];
}

/* conf_route_nexthop: the next-hop word of a route into r. */
static int
conf_route_nexthop(struct sekisho_conf *c, struct conf_route *r,
    const char *hop, char *err, size_t esz)
{
	static const struct conf_key hopkey = { .name = "route",
	    .type = CONF_T_HOSTPORT, .zero_means = 25 };
	struct conf_hostport hp = { NULL, 0 };

	if (strncmp(hop, "maildir:", 8) == 0) {
		r->kind = CONF_ROUTE_MAILDIR;
		if (hop[8] == '\0') {
			(void)str_printf(err, esz, "maildir: needs a directory");
			return -1;
		}
		return conf_parse_path(c, hop + 8, &r->path, err, esz);
	}
	r->kind = CONF_ROUTE_SMTP;
	if (conf_parse_hostport(&hopkey, hop, &hp, err, esz) == -1)
		return -1;
	r->host = hp.host;
	r->port = hp.port;
	return 0;
}

/*
 * conf_route_parse: one [Routes] entry, "domain = NEXTHOP [tls=POLICY]",
 * NEXTHOP being host, host:port, [IPv6]:port or maildir:/path.
 */
int
conf_route_parse(struct sekisho_conf *c, const char *domain,
    const char *value, unsigned line, char *err, size_t esz)
{
	struct conf_routes *rs = &c->tsmtpd.routes;
	struct conf_route r;
	char	 q[DIAG_QUOTE_MAX], *copy, *hop, *opt;
	const char *dom = domain[0] == '.' ? domain + 1 : domain;
	size_t	 i;
	int	 rc = -1;

	memset(&r, 0, sizeof(r));
	r.tls = -1;
	r.line = line;
	if (!addr_is_domain(dom, true, NULL)) {
		(void)str_printf(err, esz, "\"%s\" is not a domain (example.com "
		    "or .example.com)", diag_quote(q, sizeof(q), domain));
		return -1;
	}
	for (i = 0; i < rs->n; i++)
		if (strcasecmp(rs->v[i].domain, domain) == 0) {
			(void)str_printf(err, esz, "route already set at line "
			    "%u", rs->v[i].line);
			return -1;
		}
	copy = xstrdup(value);
	hop = strtok(copy, " \t");
	if (hop == NULL) {
		(void)str_printf(err, esz, "missing next hop");
		goto out;
	}
	if (conf_route_nexthop(c, &r, hop, err, esz) == -1)
		goto out;
	while ((opt = strtok(NULL, " \t")) != NULL) {
		if (strncasecmp(opt, "tls=", 4) != 0 || r.kind != CONF_ROUTE_SMTP) {
			(void)str_printf(err, esz, "unknown option \"%s\"",
			    diag_quote(q, sizeof(q), opt));
			goto out;
		}
		for (r.tls = 0; conf_tls_words[r.tls] != NULL; r.tls++)
			if (strcasecmp(opt + 4, conf_tls_words[r.tls]) == 0)
				break;
		if (conf_tls_words[r.tls] == NULL) {
			(void)str_printf(err, esz, "tls= takes none, may, "
			    "encrypt or verify");
			goto out;
		}
	}
	r.domain = xstrdup(domain);
	rs->v = xreallocarray(rs->v, rs->n + 1, sizeof(r));
	rs->v[rs->n++] = r;
	memset(&r, 0, sizeof(r));
	rc = 0;
out:
	free(r.host);
	free(r.path);
	free(copy);
	return rc;
}

/* conf_routes_free: release the [Routes] table. */
void
conf_routes_free(struct sekisho_conf *c)
{
	struct conf_routes *rs = &c->tsmtpd.routes;
	size_t	 i;

	for (i = 0; i < rs->n; i++) {
		free(rs->v[i].domain);
		free(rs->v[i].host);
		free(rs->v[i].path);
	}
	free(rs->v);
	rs->v = NULL;
	rs->n = 0;
}

/*
 * conf_route_find: the route for a recipient domain: an exact entry
 * first, then the closest ".parent" entry; NULL when none applies.
 */
const struct conf_route *
conf_route_find(const struct conf_routes *rs, const char *domain)
{
	const char *p;
	size_t	 i;

	for (i = 0; i < rs->n; i++)
		if (strcasecmp(rs->v[i].domain, domain) == 0)
			return &rs->v[i];
	for (p = strchr(domain, '.'); p != NULL; p = strchr(p + 1, '.'))
		for (i = 0; i < rs->n; i++)
			if (strcasecmp(rs->v[i].domain, p) == 0)
				return &rs->v[i];
	return NULL;
}

/* conf_key_find: the row of key in section of file f (case-insensitive). */
const struct conf_key *
conf_key_find(const struct conf_file *f, const char *section, const char *key)
{
	size_t	 i, j;

	for (i = 0; i < f->nsections; i++) {
		if (strcasecmp(f->sections[i].name, section) != 0)
			continue;
		for (j = 0; j < f->sections[i].nkeys; j++)
			if (strcasecmp(f->sections[i].keys[j].name, key) == 0)
				return &f->sections[i].keys[j];
	}
	return NULL;
}

/* conf_load_file: read one file of the directory and apply its schema. */
static int
conf_load_file(struct sekisho_conf *c, const struct conf_file *f,
    struct diag *d)
{
	struct ini	 ini;
	struct stat	 st;
	char		*path;
	size_t		 first = d->nitems;
	int		 rc = 0;

	if (strcmp(c->confdir, "/") == 0)
		path = xasprintf("/%s", f->name);
	else
		path = xasprintf("%s/%s", c->confdir, f->name);
	if (!f->required && stat(path, &st) == -1 && errno == ENOENT)
		(void)ini_parse_buf(&ini, path, "", 0, d);
	else if (ini_parse_file(&ini, path, d) == -1)
		rc = -1;
	/* Apply even after syntax errors: report every bad value too. */
	if (conf_apply(c, f, &ini, d) == -1)
		rc = -1;
	diag_sort_lines(d, first);
	ini_free(&ini);
	free(path);
	return rc;
}

/*
 * conf_load: read every file of the configuration directory confdir into
 * c.  Returns 0, or -1 when there was any error (then c is freed and all
 * diagnostics are in d).  Warnings alone do not fail the load.
 */
int
conf_load(const char *confdir, struct sekisho_conf *c, struct diag *d)
{
	char	 abs[PATH_MAX];
	size_t	 i;
	int	 rc = 0;

	memset(c, 0, sizeof(*c));
	if (realpath(confdir, abs) == NULL) {
		diag_add(d, DIAG_ERROR, confdir, 0, "cannot use configuration "
		    "directory: %s", strerror(errno));
		return -1;
	}
	c->confdir = xstrdup(abs);
	for (i = 0; i < conf_nfiles; i++)
		if (conf_load_file(c, &conf_files[i], d) == -1)
			rc = -1;
	if (rc == -1)
		conf_free(c);
	return rc;
}

/* conf_free: release every field the schema owns; c is zeroed. */
void
conf_free(struct sekisho_conf *c)
{
	const struct conf_section *s;
	size_t	 i, j, k;

	for (i = 0; i < conf_nfiles; i++)
		for (j = 0; j < conf_files[i].nsections; j++) {
			s = &conf_files[i].sections[j];
			for (k = 0; k < s->nkeys; k++)
				conf_free_value(c, &s->keys[k]);
			if (s->map != NULL)
				s->map->free(c);
		}
	free(c->confdir);
	memset(c, 0, sizeof(*c));
}
