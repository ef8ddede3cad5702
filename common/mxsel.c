/*
 * mxsel.c: which MX hosts to try, and in which order (a pure function).
 *
 * Input: the MX records of one answer.  Output: pointers to the records to
 * try, best first.  The rules, in the order they apply:
 *
 *   1. RFC 7505 null MX: an answer whose only exchange is the root (".",
 *      "" once decoded) means "this domain accepts no mail".  RFC 7505 3
 *      defines the null MX as a single record and says a domain that
 *      publishes it MUST NOT publish others; it gives no rule for a mixed
 *      set.  Since "." can never be a host, in a mixed set it is dropped
 *      like any other unusable exchange and the real hosts are tried
 *      (this is what Postfix and Exim do too); an answer made only of root
 *      exchanges, whatever their preference, is a null MX.
 *   2. Unusable exchanges are dropped: IP literals (RFC 5321 5.1: the
 *      exchange is a domain name; "MX 10 192.0.2.1" is a misconfiguration
 *      we do not guess about) and names that are not host names.
 *   3. A host listed twice keeps its best preference.
 *   4. Sort by preference; hosts of equal preference in random order
 *      (RFC 5321 5.1), from the injectable random source.
 *   5. RFC 5321 5.1 loop rule: if one of our own names is listed, every
 *      host with a preference equal to or worse than ours is dropped; if
 *      nothing is left, the mail would loop (MXSEL_LOOP).
 *   6. At most max_mx hosts (MaxDNSMxToTry, seed 20).
 *
 * No MX records at all (NODATA) is the caller's case: RFC 5321 5.1 says
 * the domain itself is then the one host (implicit MX).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns.h"

/* mxsel_name_len: length of a name without one trailing dot. */
static size_t
mxsel_name_len(const char *s)
{
	size_t	 n = strlen(s);

	if (n > 0 && s[n - 1] == '.')
		n--;
	return n;
}

/* mxsel_name_eq: DNS names equal (ASCII case-insensitive, trailing dot). */
bool
mxsel_name_eq(const char *a, const char *b)
{
	size_t	 la = mxsel_name_len(a), lb = mxsel_name_len(b);

	return la == lb && strncasecmp(a, b, la) == 0;
}

/* mxsel_is_root: the name is the DNS root ("" or "."). */
bool
mxsel_is_root(const char *s)
{
	return s[0] == '\0' || (s[0] == '.' && s[1] == '\0');
}

/* mxsel_is_self: the name is one of ours (NULL-terminated list). */
bool
mxsel_is_self(const char *name, const char *const *self)
{
	size_t	 i;

	if (self == NULL)
		return false;
	for (i = 0; self[i] != NULL; i++)
		if (mxsel_name_eq(name, self[i]))
			return true;
	return false;
}

/* mxsel_is_literal: the exchange is an IP address, not a name. */
static bool
mxsel_is_literal(const char *s)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;

	if (s[0] == '[')
		return true;
	return inet_pton(AF_INET, s, &a4) == 1 ||
	    inet_pton(AF_INET6, s, &a6) == 1;
}

/* mxsel_is_hostname: letters, digits, '-', '_'; labels 1..63; <= 253. */
static bool
mxsel_is_hostname(const char *s)
{
	size_t	 n = mxsel_name_len(s), i, label = 0;
	char	 c;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		c = s[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* mxsel_rand: the caller's random source, or arc4random_uniform. */
static uint32_t
mxsel_rand(const struct mxsel_opts *o, uint32_t upper)
{
	uint32_t	 r;

	if (o == NULL || o->rand == NULL)
		return arc4random_uniform(upper);
	r = o->rand(o->rand_arg, upper);
	return r < upper ? r : r % upper;
}

/* mxsel_sort: stable insertion sort by preference (n is small). */
static void
mxsel_sort(const struct dns_mx **v, size_t n)
{
	const struct dns_mx	*x;
	size_t			 i, j;

	for (i = 1; i < n; i++) {
		x = v[i];
		for (j = i; j > 0 && v[j - 1]->pref > x->pref; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
}

/* mxsel_shuffle: Fisher-Yates within each run of equal preference. */
static void
mxsel_shuffle(const struct dns_mx **v, size_t n, const struct mxsel_opts *o)
{
	const struct dns_mx	*x;
	size_t			 start, end, k, r;

	for (start = 0; start < n; start = end) {
		for (end = start + 1; end < n && v[end]->pref ==
		    v[start]->pref; end++)
			;
		for (k = end - start; k > 1; k--) {
			r = mxsel_rand(o, (uint32_t)k);
			x = v[start + k - 1];
			v[start + k - 1] = v[start + r];
			v[start + r] = x;
		}
	}
}

/* mxsel_usable: copy the usable, de-duplicated records into out. */
static size_t
mxsel_usable(const struct dns_mx *mx, size_t nmx, const struct dns_mx **out)
{
	size_t	 i, j, n = 0;

	for (i = 0; i < nmx; i++) {
		if (mxsel_is_root(mx[i].host) || mxsel_is_literal(mx[i].host) ||
		    !mxsel_is_hostname(mx[i].host))
			continue;
		for (j = 0; j < n; j++)
			if (mxsel_name_eq(out[j]->host, mx[i].host))
				break;
		if (j == n)
			out[n++] = &mx[i];
		else if (mx[i].pref < out[j]->pref)
			out[j] = &mx[i];
	}
	return n;
}

/*
 * mxsel_select: the hosts to try, best first, into out (room for nmx).
 * On anything but MXSEL_OK, *nout is 0.
 */
enum mxsel_result
mxsel_select(const struct dns_mx *mx, size_t nmx, const struct mxsel_opts *o,
    const struct dns_mx **out, size_t *nout)
{
	size_t	 i, n, self;

	*nout = 0;
	if (nmx == 0)
		return MXSEL_EMPTY;
	for (i = 0; i < nmx && mxsel_is_root(mx[i].host); i++)
		;
	if (i == nmx)
		return MXSEL_NULLMX;
	if ((n = mxsel_usable(mx, nmx, out)) == 0)
		return MXSEL_EMPTY;
	mxsel_sort(out, n);
	for (self = 0; self < n; self++)
		if (o != NULL && mxsel_is_self(out[self]->host, o->self_names))
			break;
	if (self < n) {
		/* Sorted: drop ourselves and everything at our preference. */
		while (self > 0 && out[self - 1]->pref == out[self]->pref)
			self--;
		if ((n = self) == 0)
			return MXSEL_LOOP;
	}
	mxsel_shuffle(out, n, o);
	if (o != NULL && o->max_mx > 0 && n > o->max_mx)
		n = o->max_mx;
	*nout = n;
	return MXSEL_OK;
}
