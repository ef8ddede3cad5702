/*
 * spam.h: the spam scoring engine: versioned rule packages, compiled
 * once, and their evaluation over an analysed message.
 *
 * A rule package is one UTF-8 text file (docs/antispam-rules.md):
 *
 *	version 17000.001
 *	header   SUBJ_FREE    Subject =~ /\bfree\b/i
 *	body     LOTTERY_WIN  /you have won/i
 *	uri      URI_IP       /^https?:\/\/\d+\.\d+\.\d+\.\d+/
 *	attach   ATT_EXE      filename =~ /\.exe$/i
 *	eval     GTUBE        gtube()
 *	meta     COMBO        SUBJ_FREE && (LOTTERY_WIN || URI_IP)
 *	score    GTUBE        1000
 *	describe GTUBE        The GTUBE test string
 *
 * Loading checks everything (every error with file:line in the diag,
 * nothing half-loaded); evaluation never fails: a pattern that hits its
 * PCRE2 match limit counts as no match.  Nothing here does I/O after
 * loading, nor DNS: signals from outside the message (SPF, DKIM, DMARC,
 * DNS lists) come in struct spam_signals, filled by the caller.
 *
 * This file is linked by the scanner and by sekishoctl (rules update
 * checks a package before it installs it), so it depends on PCRE2 and
 * the common library only, and reads the message through struct
 * scan_msg (scan.h) alone.
 */
#ifndef SEKISHO_SPAM_H
#define SEKISHO_SPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scan.h"

struct diag;

/* Bounds the loader enforces. */
#define SPAM_MAX_RULES		20000
#define SPAM_NAME_MAX		64	/* [A-Za-z0-9_], not starting with a
					   digit; "__" prefix: a sub-rule
					   (never scored, never listed) */
#define SPAM_SCORE_MAX		1000.0	/* |score| */
#define SPAM_MAX_URIS		1000	/* URIs collected per message */
#define SPAM_PACKAGE_MAX	(16 * 1024 * 1024)	/* bytes of a file */

/* A package version: MAJOR.MINOR, both compared as numbers. */
struct spam_version {
	uint32_t	 major;
	uint32_t	 minor;
	char		 text[24];	/* as written, e.g. "17000.002" */
};

/*
 * spam_version_parse: "MAJOR.MINOR" (1 to 9 digits each, nothing else);
 * false when s is not one.  spam_version_cmp: <0, 0, >0 like strcmp,
 * comparing MAJOR then MINOR numerically ("17000.010" > "17000.9").
 */
bool	 spam_version_parse(const char *, struct spam_version *);
int	 spam_version_cmp(const struct spam_version *,
	    const struct spam_version *);

struct spam_rules;

/*
 * spam_rules_parse: compile a package from text (fname names it in
 * diagnostics).  NULL when anything is wrong (errors in d).
 * spam_rules_load: the same from a file, at most SPAM_PACKAGE_MAX bytes.
 */
struct spam_rules *spam_rules_parse(const char *, size_t, const char *,
	    struct diag *);
struct spam_rules *spam_rules_load(const char *, struct diag *);
void	 spam_rules_free(struct spam_rules *);
const struct spam_version *spam_rules_version(const struct spam_rules *);
size_t	 spam_rules_count(const struct spam_rules *);	/* rules, all kinds */
size_t	 spam_rules_zones(const struct spam_rules *, bool, const char **,
	    size_t);

/*
 * What the caller knows from outside the message.  A rule that needs a
 * signal the caller does not have (not asked, or the lookup failed) does
 * not hit.  Strings are lower case; NULL: unknown.
 */
struct spam_signals {
	const char	*spf;		/* "pass", "fail", "softfail",
					   "neutral", "none", "temperror",
					   "permerror" */
	const char	*dkim;		/* "pass", "fail", "none", ... */
	const char	*dmarc;		/* "pass", "fail", "none", ... */
	const char	*dmarc_policy;	/* "reject", "quarantine", "none" */
	const char *const *dnsbl;	/* zones that listed the client IP,
					   NULL-terminated, or NULL */
	const char *const *uribl;	/* zones that listed a URI host */
};

/* One scored rule that hit. */
struct spam_hit {
	const char	*name;		/* points into the rules */
	double		 score;
	const char	*describe;	/* "" when none */
};

struct spam_result {
	double		 score;		/* sum of the hits' scores */
	struct spam_hit	*hits;		/* in package order; sub-rules and
					   rules scored 0 are not listed */
	size_t		 nhits;
	bool		 gtube;		/* the GTUBE string was found */
};

/*
 * spam_eval: score msg.  The rules are only read (one package may serve
 * many evaluations, in several processes after fork).  sig may be NULL.
 * res is the caller's: spam_result_free.
 */
void	 spam_eval(const struct spam_rules *, const struct scan_msg *,
	    const struct spam_signals *, struct spam_result *);
void	 spam_result_free(struct spam_result *);

/*
 * spam_uris: the URIs found in msg's text parts (plain text and HTML
 * source, http/https/ftp and "www." forms), each at most once, at most
 * SPAM_MAX_URIS; spam_uri_host gives the host part, lower case.  For the
 * uri rules and, later, URI blocklists.  The array and strings are the
 * caller's (spam_uris_free).
 */
size_t	 spam_uris(const struct scan_msg *, char ***);
void	 spam_uris_free(char **, size_t);
bool	 spam_uri_host(const char *, char *, size_t);

#endif
