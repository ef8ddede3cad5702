/*
 * auth.h: sender authentication of one message: SPF (libspf2), DKIM
 * verification (libopendkim) and DMARC alignment and policy
 * (libopendmarc), with their results as an Authentication-Results header
 * (RFC 8601).  All DNS goes through a struct wdns (wdns.h).
 */
#ifndef SEKISHO_AUTH_H
#define SEKISHO_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "wdns.h"

#define AUTH_RESULT_MAX		16
#define AUTH_DOMAIN_MAX		256

struct auth_input {
	const char	*client_ip;	/* "192.0.2.1", "2001:db8::1"; NULL or
					   "" when not known: SPF is "none" */
	const char	*helo;		/* EHLO/HELO name, or NULL */
	const char	*mail_from;	/* envelope sender, "" for <> */
	const void	*raw;		/* the whole message */
	size_t		 len;
	const char	*authserv_id;	/* this host's name, for the header */
	const struct wdns *dns;
};

struct auth_result {
	/* RFC 8601 result words, lower case */
	char	 spf[AUTH_RESULT_MAX];		/* pass, fail, softfail,
						   neutral, none, temperror,
						   permerror */
	char	 spf_domain[AUTH_DOMAIN_MAX];	/* MAIL FROM domain, or the
						   HELO name for <> */
	char	 dkim[AUTH_RESULT_MAX];		/* pass (a signature
						   verified), fail, neutral,
						   none, temperror,
						   permerror */
	char	 dkim_domain[AUTH_DOMAIN_MAX];	/* d= of the deciding
						   signature, or "" */
	char	 dmarc[AUTH_RESULT_MAX];	/* pass, fail, none,
						   temperror, permerror */
	char	 dmarc_policy[AUTH_RESULT_MAX];	/* reject, quarantine, none,
						   or "" without a record */
	char	 from_domain[AUTH_DOMAIN_MAX];	/* RFC5322.From domain */
	char	*header;	/* "Authentication-Results: ...\r\n", folded,
				   ASCII; the caller's (auth_result_free) */
};

int	 auth_init(const char *, char *, size_t);
void	 auth_shutdown(void);
void	 auth_check(const struct auth_input *, struct auth_result *);
void	 auth_result_free(struct auth_result *);

#endif
